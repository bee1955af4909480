from django.urls import path

from flags import api

app_name = "api_flags"

urlpatterns = [
    path("apps/<slug:slug>/channels/<slug:name>/flags", api.create, name="create"),
    path("flags/<int:pk>", api.detail, name="detail"),
    path("flags/<int:pk>/kill", api.kill, name="kill"),
]
