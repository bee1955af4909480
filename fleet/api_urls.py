from django.urls import path

from fleet import api

app_name = "api_fleet"

urlpatterns = [
    path("fleets/<slug:name>/deployments", api.start, name="deployment_start"),
    path("fleet-deployments/<int:pk>", api.detail, name="deployment"),
]
