"""Login rate limit: too many recent failures for a username or from an address locks it out.

Failures live in the database so that every web process sees the same count.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.models import LoginFailure


def _since():
    return timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)


def is_locked(username: str, ip: str) -> bool:
    recent = LoginFailure.objects.filter(at__gte=_since())
    limit = settings.LOGIN_FAILURE_LIMIT
    by_user = recent.filter(username__iexact=username).count() if username else 0
    by_ip = recent.filter(ip=ip).count() if ip else 0
    # An address gets more room than a single name: several people may share a NAT.
    return by_user >= limit or by_ip >= limit * 4


def note_failure(username: str, ip: str) -> None:
    LoginFailure.objects.create(username=username[:150], ip=ip[:64])


def clear(username: str) -> None:
    LoginFailure.objects.filter(Q(username__iexact=username)).delete()


def prune() -> int:
    deleted, _ = LoginFailure.objects.filter(at__lt=_since()).delete()
    return deleted
