from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("log/", views.log, name="log"),
    path("history/<str:object_type>/<str:object_id>/", views.history, name="history"),
    path("approvals/", views.approval_list, name="approvals"),
    path("approvals/<int:pk>/", views.approval_detail, name="approval"),
    path(
        "approvals/<int:pk>/approve/",
        views.approval_decide,
        {"decision": "approve"},
        name="approve",
    ),
    path("approvals/<int:pk>/deny/", views.approval_decide, {"decision": "deny"}, name="deny"),
    path("approvals/<int:pk>/apply/", views.approval_apply, name="apply"),
    path("approvals/<int:pk>/cancel/", views.approval_cancel, name="cancel"),
    path("approvals/<int:pk>/edit/", views.approval_edit, name="edit"),
]
