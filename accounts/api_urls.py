from django.urls import path

from accounts import api_views

app_name = "api"

urlpatterns = [
    path("me", api_views.me, name="me"),
]
