from django.urls import path, re_path

from releases import api, rollout_api

app_name = "api_releases"

# Every pattern here must be in the OpenAPI document (releases/openapi.py); a test checks both
# directions.
urlpatterns = [
    path("apps", api.apps, name="apps"),
    path("apps/<slug:slug>", api.app_detail, name="app"),
    path("apps/<slug:slug>/channels", api.channels, name="channels"),
    path("apps/<slug:slug>/channels/<slug:name>", api.channel_settings, name="channel"),
    path("apps/<slug:slug>/releases", api.releases, name="releases"),
    path(
        "apps/<slug:slug>/channels/<slug:name>/rollouts",
        rollout_api.start,
        name="rollout_start",
    ),
    path("rollouts/<int:pk>", rollout_api.detail, name="rollout"),
    path("rollouts/<int:pk>/abort", rollout_api.abort, name="rollout_abort"),
    path("rollouts/<int:pk>/switch", rollout_api.switch, name="rollout_switch"),
    path("rollouts/<int:pk>/flip-back", rollout_api.flip_back, name="rollout_flip_back"),
    path("update", api.update_check, name="update"),
    re_path(r"^bundles/(?P<sha256>[0-9a-f]{64})\.zip$", api.bundle, name="bundle"),
    path("openapi.json", api.openapi, name="openapi"),
]
