from django.urls import path

from maintenance import views

app_name = "maintenance"

urlpatterns = [
    path("", views.job_list, name="jobs"),
    path("jobs/new/", views.job_new, name="job_new"),
    path("jobs/preview/", views.job_preview, name="job_preview"),
    path("jobs/<slug:name>/", views.job_detail, name="job"),
    path("jobs/<slug:name>/edit/", views.job_edit, name="job_edit"),
    path("jobs/<slug:name>/run/", views.job_run_now, name="job_run_now"),
    path("jobs/<slug:name>/delete/", views.job_delete, name="job_delete"),
    path("plans/<int:pk>/run/", views.plan_run, name="plan_run"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("windows/", views.window_list, name="windows"),
    path("windows/new/", views.window_new, name="window_new"),
    path("windows/<int:pk>/edit/", views.window_edit, name="window_edit"),
    path("windows/<int:pk>/delete/", views.window_delete, name="window_delete"),
    path("calendar/", views.calendar_view, name="calendar"),
    path("cadence/", views.cadence_list, name="cadence"),
    path("cadence/<slug:key>/adopt/", views.cadence_adopt, name="cadence_adopt"),
    path("checklists/", views.checklist_list, name="checklists"),
    path("checklists/templates/<int:pk>/open/", views.checklist_open, name="checklist_open"),
    path("checklists/<int:pk>/", views.checklist_detail, name="checklist"),
    path("checklists/<int:pk>/assign/", views.checklist_assign, name="checklist_assign"),
    path("checklists/items/<int:pk>/tick/", views.checklist_tick, name="checklist_tick"),
]
