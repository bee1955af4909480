from django.urls import path

from releases import rollout_views as rv
from releases import views

app_name = "releases"

urlpatterns = [
    path("", views.apps, name="apps"),
    path("rollouts/", rv.rollout_list, name="rollouts"),
    path("rollouts/<int:pk>/", rv.rollout_detail, name="rollout"),
    path("rollouts/<int:pk>/pause/", rv.rollout_pause, name="rollout_pause"),
    path("rollouts/<int:pk>/resume/", rv.rollout_resume, name="rollout_resume"),
    path("rollouts/<int:pk>/abort/", rv.rollout_abort, name="rollout_abort"),
    path("rollouts/<int:pk>/restart/", rv.rollout_restart, name="rollout_restart"),
    path("rollouts/<int:pk>/rollback/", rv.rollout_rollback, name="rollout_rollback"),
    path("rollouts/<int:pk>/promote/", rv.rollout_promote, name="rollout_promote"),
    path("rollouts/<int:pk>/skip/", rv.rollout_skip, name="rollout_skip"),
    path("rollouts/<int:pk>/decide/", rv.rollout_decide, name="rollout_decide"),
    path("rollouts/<int:pk>/switch/", rv.rollout_switch, name="rollout_switch"),
    path("rollouts/<int:pk>/flip-back/", rv.rollout_flip_back, name="rollout_flip_back"),
    path("create/", views.app_create, name="app_create"),
    path("<slug:slug>/", views.app_detail, name="app"),
    path("<slug:slug>/channels/", views.channel_create, name="channel_create"),
    path("<slug:slug>/channels/<slug:name>/rotate/", views.channel_rotate, name="channel_rotate"),
    path(
        "<slug:slug>/channels/<slug:name>/testers/", views.channel_testers, name="channel_testers"
    ),
    path("<slug:slug>/channels/<slug:name>/gate/", views.channel_gate, name="channel_gate"),
    path("<slug:slug>/budgets/", views.budgets, name="budgets"),
    path("<slug:slug>/publish/", views.publish, name="publish"),
    path("<slug:slug>/v/<str:version>/", views.release_detail, name="release"),
    path("<slug:slug>/v/<str:version>/disable/", views.release_disable, name="release_disable"),
    path("<slug:slug>/v/<str:version>/override/", views.release_override, name="release_override"),
    path("<slug:slug>/v/<str:version>/rollout/", rv.rollout_start, name="rollout_start"),
]
