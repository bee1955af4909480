"""A source's health as the pages show it: computed from what was checked, never assumed."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from backups.models import Backup, Source

STALE_AFTER = timedelta(days=2)


def for_source(source: Source, backups: list[Backup], now=None) -> dict:
    """``backups`` newest first (any status). Tone: bad if the last run failed or a verification
    found problems; warn if nothing complete is recent or nothing was ever verified."""
    now = now or timezone.now()
    complete = [b for b in backups if b.status == Backup.Status.COMPLETE]
    last = backups[0] if backups else None
    last_ok = complete[0] if complete else None
    structure = max(
        (b.structure_verified_at for b in complete if b.structure_verified_at), default=None
    )
    data = max((b.data_verified_at for b in complete if b.data_verified_at), default=None)
    problems = [b for b in complete if b.verify_problem]
    if last is None:
        tone, label = "unknown", "no backups yet"
    elif problems:
        tone, label = "bad", "verification found problems"
    elif last.status == Backup.Status.FAILED:
        tone, label = "bad", "last backup failed"
    elif last_ok is None:
        tone, label = "warn", "no complete backup"
    elif now - last_ok.finished_at > STALE_AFTER:
        tone, label = "warn", "last complete backup is old"
    elif structure is None:
        tone, label = "warn", "not verified"
    elif source.last_drill_ok is False:
        tone, label = "warn", "last drill failed"
    else:
        tone, label = "ok", "backed up and verified"
    return {
        "source": source,
        "tone": tone,
        "label": label,
        "last": last,
        "last_ok": last_ok,
        "age": now - last_ok.finished_at if last_ok else None,
        "structure_verified_at": structure,
        "data_verified_at": data,
        "count": len(complete),
        "sizes": [b.source_bytes for b in reversed(complete[:20])],
    }


def size_chart(backups: list[Backup], width: int = 320, height: int = 60) -> dict | None:
    """Bars of source size (and new bytes) of the last 20 complete backups, oldest left."""
    complete = [b for b in backups if b.status == Backup.Status.COMPLETE][:20][::-1]
    if len(complete) < 2:
        return None
    top = max(b.source_bytes for b in complete) or 1
    step = width / len(complete)
    bars = []
    for i, b in enumerate(complete):
        h = max(1, int(height * b.source_bytes / top))
        nh = max(0, int(height * b.new_bytes / top))
        bars.append(
            {
                "x": round(i * step, 1),
                "w": round(step * 0.8, 1),
                "y": height - h,
                "h": h,
                "ny": height - nh,
                "nh": nh,
                "backup": b,
            }
        )
    return {"width": width, "height": height, "bars": bars, "top": top}
