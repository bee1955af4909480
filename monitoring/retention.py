"""Pruning raw events: rollups keep the numbers, raw rows are only for recent drill-down.

``prune_events(now)`` runs from the controller (hook ``monitoring.prune``, every 60 s). It
deletes in batches of primary keys so a large backlog never holds a long lock, and is safe with
two controllers: deleting rows the other one already deleted deletes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from monitoring.ingest import MAX_AGE
from monitoring.models import Event, VitalLast

# Days raw events are kept after they were received. Rollups are kept forever (they are small).
RAW_EVENT_RETENTION_DAYS = 14
BATCH_SIZE = 5000
# A run stops after this many batches; the next tick goes on (keeps each tick short).
MAX_BATCHES = 20


def prune_events(
    now: datetime,
    *,
    days: int = RAW_EVENT_RETENTION_DAYS,
    batch_size: int = BATCH_SIZE,
    max_batches: int = MAX_BATCHES,
) -> int:
    """Delete raw events received more than ``days`` ago; returns how many were deleted.

    Also drops last-value entries of web vitals older than the accepted timestamp window (a
    report with such an old id can no longer arrive).
    """
    deleted = 0
    for cutoff_model, cutoff, field in (
        (Event, now - timedelta(days=days), "received_at"),
        (VitalLast, now - MAX_AGE - timedelta(days=1), "minute"),
    ):
        for _ in range(max_batches):
            pks = list(
                cutoff_model.objects.filter(**{f"{field}__lt": cutoff})
                .order_by(field)
                .values_list("pk", flat=True)[:batch_size]
            )
            if not pks:
                break
            n, _ = cutoff_model.objects.filter(pk__in=pks).delete()
            if cutoff_model is Event:
                deleted += n
    return deleted
