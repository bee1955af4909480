"""Is a worker and a controller running? Heartbeats, the worker probe and the banner's verdict."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from console.models import Heartbeat, WorkerProbe
from console.tasks import enqueue

# A probe not answered within this time is considered lost and is sent again.
PROBE_LOST_AFTER = timedelta(seconds=30)
# How often a healthy worker is asked to prove itself.
PROBE_EVERY = timedelta(seconds=10)


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(kind: str, name: str | None = None, *, now: datetime | None = None, **info) -> None:
    now = now or timezone.now()
    name = name or process_name()
    updated = Heartbeat.objects.filter(kind=kind, name=name).update(seen_at=now, info=info)
    if not updated:
        Heartbeat.objects.get_or_create(
            kind=kind, name=name, defaults={"seen_at": now, "started_at": now, "info": info}
        )


def probe_worker(now: datetime | None = None) -> bool:
    """Queue a heartbeat task for the workers unless one is already on its way.

    Returns True when this call queued the probe. Safe with several controllers: the right to
    send is claimed with a conditional UPDATE on the single probe row.
    """
    now = now or timezone.now()
    WorkerProbe.objects.get_or_create(pk=1)
    due = Q(sent_at__isnull=True) | Q(sent_at__lte=now - PROBE_LOST_AFTER)
    answered = Q(answered_at__gte=F("sent_at")) & Q(answered_at__lte=now - PROBE_EVERY)
    with transaction.atomic():
        claimed = WorkerProbe.objects.filter(Q(pk=1) & (due | answered)).update(sent_at=now)
        if claimed:
            enqueue("console.tasks.worker_heartbeat")
    return bool(claimed)


@dataclass(frozen=True)
class ProcessStatus:
    kind: str
    state: str  # "alive", "down" or "unknown"
    last_seen: datetime | None
    detail: str

    @property
    def alive(self) -> bool:
        return self.state == "alive"


def status(now: datetime | None = None) -> dict[str, ProcessStatus]:
    """The banner's verdict for the controller and the workers.

    A worker is only probed by the controller, so when no controller runs, a worker that has
    gone quiet is "unknown", not "down": nothing asked it to prove itself.
    """
    now = now or timezone.now()
    stale = timedelta(seconds=settings.LIVENESS_STALE_SECONDS)
    newest = {
        kind: Heartbeat.objects.filter(kind=kind)
        .order_by("-seen_at")
        .values_list("seen_at", flat=True)
        .first()
        for kind in (Heartbeat.Kind.CONTROLLER, Heartbeat.Kind.WORKER)
    }

    def verdict(kind: str) -> tuple[str, str]:
        seen = newest[kind]
        if seen is None:
            return "down", "never seen"
        age = int((now - seen).total_seconds())
        if now - seen <= stale:
            return "alive", f"seen {age}s ago"
        return "down", f"last seen {age}s ago"

    c_state, c_detail = verdict(Heartbeat.Kind.CONTROLLER)
    w_state, w_detail = verdict(Heartbeat.Kind.WORKER)
    if w_state == "down" and c_state != "alive":
        w_state, w_detail = "unknown", f"{w_detail}; no controller is probing the workers"
    return {
        "controller": ProcessStatus("controller", c_state, newest["controller"], c_detail),
        "worker": ProcessStatus("worker", w_state, newest["worker"], w_detail),
    }


def alert_if_down(now: datetime | None = None) -> bool:
    """Controller hook: tell people once per outage when the workers stop answering.

    Deduplicated on the last heartbeat seen, so one outage sends one notification however many
    controllers run and however often they tick. (A dead controller cannot report itself:
    monitor ``/healthz`` from outside for that.)
    """
    from notifications.dispatch import notify

    verdict = status(now)["worker"]
    if verdict.state != "down":
        return False
    since = verdict.last_seen.isoformat() if verdict.last_seen else "never"
    with transaction.atomic():
        sent = notify(
            "system.liveness",
            subject="No worker is running tasks",
            body=f"The workers have not answered a heartbeat task ({verdict.detail}). Queued "
            "backups, maintenance runs and analyses are not running.",
            payload={"process": "worker", "state": verdict.state, "last_seen": since},
            dedup_key=f"system.liveness:worker-down:{since}",
            link="/",
        )
    return sent is not None
