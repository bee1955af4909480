from django.urls import path

from security import views

app_name = "security"

urlpatterns = [
    path("", views.finding_list, name="findings"),
    path("findings/<int:pk>/", views.finding_detail, name="finding"),
    path("findings/<int:pk>/acknowledge/", views.finding_acknowledge, name="acknowledge"),
    path("findings/<int:pk>/suppress/", views.finding_suppress, name="suppress"),
    path("scans/", views.scan_list, name="scans"),
    path("scans/<int:pk>/", views.scan_detail, name="scan"),
    path("scans/upload/", views.report_upload, name="report_upload"),
    path("advisories/", views.advisories, name="advisories"),
    path("patches/", views.patch_list, name="patches"),
    path("patches/new/<slug:slug>/", views.patch_new, name="patch_new"),
    path("patches/<int:pk>/", views.patch_detail, name="patch"),
    path("patches/<int:pk>/cancel/", views.patch_cancel, name="patch_cancel"),
]
