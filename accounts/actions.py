"""Changes to people and roles, shared by views and commands."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.roles import ADMIN, ROLES, Role, assign_role, role_of
from audit import approvals
from audit.trail import record


def create_user(username: str, *, role: Role, password: str, email: str = ""):
    User = get_user_model()
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, password=password)
        assign_role(user, role)
        record(
            "user.created", user, after={"username": username, "role": role.slug, "email": email}
        )
    return user


def change_role(user, role: Role, *, by, reason: str = ""):
    """Change ``user``'s role. Granting Admin needs a second admin's approval (four-eyes).

    Returns the change request when one was needed, else None.
    """
    old = role_of(user)
    if role == ADMIN and old != ADMIN:
        return approvals.request_change(
            "accounts.grant_admin",
            requested_by=by,
            payload={"user_id": user.pk, "username": user.get_username()},
            title=f"Make {user.get_username()} an Admin",
            target=user,
            reason=reason,
        )
    with transaction.atomic():
        assign_role(user, role)
        record(
            "user.role_changed",
            user,
            before={"role": old.slug if old else None},
            after={"role": role.slug},
            reason=reason,
        )
    return None


def set_active(user, active: bool, *, reason: str = "") -> None:
    """Activate or deactivate a person; deactivating also revokes their API tokens."""
    from accounts.tokens import revoke_token

    with transaction.atomic():
        before = user.is_active
        user.is_active = active
        user.save(update_fields=["is_active"])
        record(
            "user.activated" if active else "user.deactivated",
            user,
            before={"is_active": before},
            after={"is_active": active},
            reason=reason,
        )
        if not active:
            for token in user.api_tokens.filter(revoked_at__isnull=True):
                revoke_token(token)


def _apply_grant_admin(cr) -> dict:
    user = get_user_model().objects.get(pk=cr.payload["user_id"])
    old = role_of(user)
    assign_role(user, ADMIN)
    record(
        "user.role_changed",
        user,
        before={"role": old.slug if old else None},
        after={"role": ADMIN.slug},
        reason=f"change request #{cr.pk}",
    )
    return {"user": user.get_username(), "role": ADMIN.slug}


def _validate_grant_admin(payload: dict) -> None:
    if not get_user_model().objects.filter(pk=payload.get("user_id")).exists():
        raise approvals.ApprovalError("the user to promote does not exist")


approvals.register(
    approvals.Kind(
        name="accounts.grant_admin",
        title="Grant the Admin role",
        approve_permission="accounts.approve_admin_changes",
        apply=_apply_grant_admin,
        validate=_validate_grant_admin,
    )
)

__all__ = ["ROLES", "change_role", "create_user", "set_active"]
