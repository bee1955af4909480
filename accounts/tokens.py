"""Personal API tokens: create (shown once), authenticate, revoke."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, hash_token
from audit.trail import record

# last_used_at is refreshed at most this often, so a busy pipeline does not write on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def create_token(user, name: str) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns the row and the raw token (never stored)."""
    raw = ApiToken.generate()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, prefix=raw[: len("upk_") + 6], digest=hash_token(raw)
        )
        record(
            "token.created",
            token,
            after={"name": name, "owner": user.get_username(), "prefix": token.prefix},
        )
    return token, raw


def authenticate_token(raw: str, *, ip: str = "") -> ApiToken | None:
    """The active token matching ``raw`` (with its user), or None."""
    if not raw or not raw.startswith("upk_") or len(raw) > 200:
        return None
    token = ApiToken.objects.active().select_related("user").filter(digest=hash_token(raw)).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip[:64])
        token.last_used_at = now
    return token


def revoke_token(token: ApiToken) -> bool:
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if updated:
            record("token.revoked", token, before={"revoked": False}, after={"revoked": True})
    return bool(updated)
