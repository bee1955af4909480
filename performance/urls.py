from django.urls import path

from performance import views

app_name = "performance"

urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:app_slug>/<slug:channel>/", views.channel, name="channel"),
    path("<slug:app_slug>/<slug:channel>/v/<str:version>/", views.release, name="release"),
    path(
        "<slug:app_slug>/<slug:channel>/v/<str:version>/baseline/",
        views.take_baseline,
        name="baseline",
    ),
    path(
        "<slug:app_slug>/<slug:channel>/v/<str:version>/measure/",
        views.measure_bundle,
        name="measure",
    ),
    path(
        "<slug:app_slug>/<slug:channel>/v/<str:version>/optimise/",
        views.create_candidate,
        name="optimise",
    ),
]
