"""One job per source at a time: a database lease with heartbeat and a fencing token.

``acquire`` claims the row with a conditional UPDATE (free or expired → ours, token + 1) and
checks the row count; ``heartbeat`` extends it only while the token is still ours; a job that
finds its token replaced has lost the lease and must not commit (``LeaseLost``). A crashed
worker's lease simply expires: nobody has to unlock anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from backups.models import Lease


class LeaseLost(RuntimeError):
    pass


@dataclass
class Held:
    source_id: int
    token: int
    holder: str


def acquire(source_id: int, holder: str, *, now: datetime | None = None) -> Held | None:
    now = now or timezone.now()
    Lease.objects.get_or_create(source_id=source_id)
    claimed = (
        Lease.objects.filter(source_id=source_id)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__lt=now))
        .update(
            token=F("token") + 1, holder=holder[:200], expires_at=now + Lease.TTL, heartbeat_at=now
        )
    )
    if claimed != 1:
        return None
    token = Lease.objects.values_list("token", flat=True).get(source_id=source_id)
    return Held(source_id, token, holder)


def heartbeat(held: Held, *, now: datetime | None = None) -> None:
    now = now or timezone.now()
    kept = Lease.objects.filter(source_id=held.source_id, token=held.token).update(
        expires_at=now + Lease.TTL, heartbeat_at=now
    )
    if kept != 1:
        raise LeaseLost(f"lease on source {held.source_id} was taken over")


def check_in_transaction(held: Held) -> None:
    """Inside the committing transaction: lock the lease row and prove it is still ours."""
    token = (
        Lease.objects.select_for_update()
        .filter(source_id=held.source_id)
        .values_list("token", flat=True)
        .first()
    )
    if token != held.token:
        raise LeaseLost(f"lease on source {held.source_id} was taken over")


def release(held: Held) -> None:
    with transaction.atomic():
        Lease.objects.filter(source_id=held.source_id, token=held.token).update(
            holder="", expires_at=None
        )


def holder_of(source_id: int, *, now: datetime | None = None) -> str:
    now = now or timezone.now()
    lease = Lease.objects.filter(source_id=source_id, expires_at__gte=now).first()
    return lease.holder if lease else ""
