"""One job per source at a time: a database lease with heartbeat and a fencing token.

``acquire`` claims the row with a conditional UPDATE (free or expired → ours, token + 1) and
checks the row count; ``heartbeat`` extends it only while the token is still ours and the lease
has not expired; a job that finds its token replaced (or its lease run out) has lost the lease
and must not commit (``LeaseLost``). ``Keeper`` renews the lease from a background thread for
the whole job, so long steps that report no progress keep it. A crashed worker's lease simply
expires; the reaper then bumps the token (``fence_off``) before it touches the job's scratch,
so a worker that was only slow can no longer renew or commit.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from backups.models import Lease

logger = logging.getLogger(__name__)


class LeaseLost(RuntimeError):
    pass


def ttl() -> timedelta:
    """How long a lease lasts without a heartbeat (``BACKUP_LEASE_SECONDS``, default 60)."""
    return timedelta(seconds=float(getattr(settings, "BACKUP_LEASE_SECONDS", 60)))


@dataclass
class Held:
    source_id: int
    token: int
    holder: str
    # Jobs may run on injected time (``now=``); later lease times keep the same offset.
    skew: timedelta = field(default=timedelta(0))

    def now(self) -> datetime:
        return timezone.now() + self.skew


def acquire(source_id: int, holder: str, *, now: datetime | None = None) -> Held | None:
    real = timezone.now()
    now = now or real
    Lease.objects.get_or_create(source_id=source_id)
    claimed = (
        Lease.objects.filter(source_id=source_id)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__lt=now))
        .update(token=F("token") + 1, holder=holder[:200], expires_at=now + ttl(), heartbeat_at=now)
    )
    if claimed != 1:
        return None
    token = Lease.objects.values_list("token", flat=True).get(source_id=source_id)
    return Held(source_id, token, holder, now - real)


def _renew(held: Held, now: datetime) -> None:
    """Compare-and-set: extend the lease only if the token is ours and it has not expired."""
    kept = Lease.objects.filter(
        source_id=held.source_id, token=held.token, expires_at__gte=now
    ).update(expires_at=now + ttl(), heartbeat_at=now)
    if kept != 1:
        raise LeaseLost(f"lease on source {held.source_id} was taken over or expired")


def heartbeat(held: Held, *, now: datetime | None = None) -> None:
    _renew(held, now or held.now())


def check_in_transaction(held: Held) -> None:
    """Inside the committing transaction: prove the lease is still ours and unexpired with a
    conditional UPDATE, which also locks the row until the commit (the reaper's ``fence_off``
    waits for it)."""
    _renew(held, held.now())


def fence_off(source_id: int, token: int, *, now: datetime | None = None) -> bool:
    """The reaper's step before it touches a job's work: if the lease with ``token`` has
    expired, bump the token so its holder can neither renew nor commit. True if the holder of
    ``token`` is now fenced off; False if its lease is still alive."""
    now = now or timezone.now()
    Lease.objects.filter(source_id=source_id, token=token).filter(
        Q(expires_at__isnull=True) | Q(expires_at__lt=now)
    ).update(token=F("token") + 1, holder="", expires_at=None)
    current = Lease.objects.filter(source_id=source_id).values_list("token", flat=True).first()
    return current != token


def beat_interval() -> float:
    return max(0.05, min(10.0, ttl().total_seconds() / 4))


class Keeper:
    """Renews ``held`` every few seconds from a background thread while a job runs (also
    through long steps that report no progress). A failed write is logged and retried; a lost
    lease stops it and sets ``lost`` (the job's own beats and final check then fail too)."""

    def __init__(self, held: Held):
        self.held = held
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-{held.source_id}-{held.token}", daemon=True
        )

    def _run(self) -> None:
        try:
            while not self._stop.wait(beat_interval()):
                try:
                    heartbeat(self.held)
                except LeaseLost:
                    self.lost = True
                    return
                except Exception:
                    logger.exception("lease heartbeat for source %s failed", self.held.source_id)
                    connection.close()
        finally:
            connection.close()

    def __enter__(self) -> Keeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def release(held: Held) -> None:
    with transaction.atomic():
        Lease.objects.filter(source_id=held.source_id, token=held.token).update(
            holder="", expires_at=None
        )


def holder_of(source_id: int, *, now: datetime | None = None) -> str:
    now = now or timezone.now()
    lease = Lease.objects.filter(source_id=source_id, expires_at__gte=now).first()
    return lease.holder if lease else ""
