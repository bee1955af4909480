from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("console.urls")),
    path("accounts/", include("accounts.urls")),
    path("audit/", include("audit.urls")),
    path("notifications/", include("notifications.urls")),
    path("releases/", include("releases.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("backups/", include("backups.urls")),
    path("maintenance/", include("maintenance.urls")),
    path("security/", include("security.urls")),
    path("performance/", include("performance.urls")),
    path("dbhealth/", include("dbhealth.urls")),
    path("fleet/", include("fleet.urls")),
    path("flags/", include("flags.urls")),
    path("api/v1/", include("accounts.api_urls")),
    path("api/v1/", include("releases.api_urls")),
    path("api/v1/", include("monitoring.api_urls")),
    path("api/v1/", include("fleet.api_urls")),
    path("api/v1/", include("flags.api_urls")),
    path("admin/", admin.site.urls),
]

handler403 = "console.views.handler403"
handler404 = "console.views.handler404"
handler500 = "console.views.handler500"
