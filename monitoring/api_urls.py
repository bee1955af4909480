from django.urls import path  # noqa: F401

app_name = "api_monitoring"

urlpatterns: list = []
