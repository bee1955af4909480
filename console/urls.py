from django.urls import path

from console import views

app_name = "console"

urlpatterns = [
    path("", views.home, name="dashboard"),
    path("liveness/", views.liveness_banner, name="liveness"),
    path("healthz", views.healthz, name="healthz"),
]
