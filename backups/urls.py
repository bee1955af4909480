from django.urls import path

from backups import views

app_name = "backups"

urlpatterns = [
    path("", views.sources, name="sources"),
    path("sources/add/", views.source_add, name="source_add"),
    path("sources/<int:pk>/", views.source, name="source"),
    path("sources/<int:pk>/backup/", views.source_backup, name="source_backup"),
    path("sources/<int:pk>/verify/", views.source_verify, name="source_verify"),
    path("sources/<int:pk>/drill/", views.source_drill, name="source_drill"),
    path("sources/<int:pk>/retention/", views.retention, name="retention"),
    path("sources/<int:pk>/retention/apply/", views.retention_apply, name="retention_apply"),
    path("backups/<int:pk>/", views.backup, name="backup"),
    path("backups/<int:pk>/pin/", views.backup_pin, name="backup_pin"),
    path("backups/<int:pk>/restore/", views.restore_new, name="restore_new"),
    path("restores/<int:pk>/", views.restore, name="restore"),
]
