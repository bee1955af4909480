from django.urls import path

from monitoring import api

app_name = "api_monitoring"

urlpatterns = [
    path("telemetry", api.telemetry, name="telemetry"),
]
