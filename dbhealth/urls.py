from django.urls import path

from dbhealth import views

app_name = "dbhealth"

urlpatterns = [
    path("", views.index, name="index"),
    path("reports/<int:pk>/", views.report_detail, name="report"),
    path("<slug:key>/", views.target_detail, name="target"),
    path("<slug:key>/analyse/", views.analyse, name="analyse"),
    path("<slug:key>/reindex/", views.reindex, name="reindex"),
    path("<slug:key>/analyze-table/", views.analyze_table, name="analyze_table"),
    path("<slug:key>/drop/", views.drop, name="drop"),
    path("<slug:key>/actions/<int:pk>/recreate/", views.recreate, name="recreate"),
    path("<slug:key>/optimize/", views.optimize, name="optimize"),
    path("<slug:key>/vacuum/", views.vacuum, name="vacuum"),
]
