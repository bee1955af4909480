"""Every state-changing action in the foundation leaves an audit row naming its actor."""

from audit import approvals
from audit.models import AuditEvent
from tests.conftest import PASSWORD


def _actions(**filters) -> list[str]:
    return list(AuditEvent.objects.filter(**filters).values_list("action", flat=True))


def test_sign_in_and_sign_out_are_audited(client, bob):
    client.post("/accounts/login/", {"username": "bob", "password": PASSWORD})
    client.post("/accounts/logout/")
    assert {"auth.login", "auth.logout"} <= set(_actions(actor_label="bob"))


def test_token_creation_and_revocation_are_audited(login, bob):
    client = login(bob)
    client.post("/accounts/me/", {"name": "ci"})
    token_id = bob.api_tokens.get().pk
    client.post(f"/accounts/me/tokens/{token_id}/revoke/")
    assert _actions(object_type="accounts.apitoken") == ["token.revoked", "token.created"]


def test_people_management_is_audited(login, alice):
    client = login(alice)
    client.post(
        "/accounts/users/",
        {"username": "newbie", "role": "viewer", "password": "a long enough password"},
    )
    from django.contrib.auth import get_user_model

    newbie = get_user_model().objects.get(username="newbie")
    client.post(f"/accounts/users/{newbie.pk}/role/", {"role": "operator"})
    client.post(f"/accounts/users/{newbie.pk}/active/", {"active": "0"})
    assert _actions(object_id=str(newbie.pk), actor_label="alice") == [
        "user.deactivated",
        "user.role_changed",
        "user.created",
    ]


def test_password_changes_are_audited(login, bob):
    login(bob).post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a much longer new phrase",
            "new_password2": "a much longer new phrase",
        },
    )
    assert "user.password_changed" in _actions(actor_label="bob")


def test_approval_decisions_carry_the_deciders_name(login, alice, alex, dave):
    cr = approvals.request_change(
        "accounts.grant_admin",
        requested_by=alice,
        target=dave,
        payload={"user_id": dave.pk},
        title="Make dave an Admin",
    )
    login(alex).post(f"/audit/approvals/{cr.pk}/approve/", {"version": 1})
    event = AuditEvent.objects.get(action="change.approved_by")
    assert (event.actor_label, event.actor_kind) == ("alex", "user")


def test_api_calls_record_the_token_as_actor(rf, bob):
    from django.db import transaction
    from django.http import JsonResponse

    from accounts.api import api_view
    from accounts.tokens import create_token
    from audit.trail import record

    @api_view(methods=("POST",), permission="accounts.view_console")
    def touch(request):
        with transaction.atomic():
            record("test.api_touch", object_type="test.thing", object_id=1)
        return JsonResponse({})

    token, raw = create_token(bob, "pipeline")
    touch(rf.post("/api/v1/touch", HTTP_AUTHORIZATION=f"Bearer {raw}"))
    event = AuditEvent.objects.get(action="test.api_touch")
    assert (event.actor_kind, event.token_id, event.actor_id) == ("token", token.pk, bob.pk)
