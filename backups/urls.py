from django.urls import path  # noqa: F401

app_name = "backups"

# Pages arrive with the issue that builds this area (see README.md).
urlpatterns: list = []
