from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from console.dashboard import Card
from monitoring import health


def card(request) -> Card:
    """Release health over the last 24 hours across every channel with telemetry."""
    rows = health.channels_with_data(timezone.now() - timedelta(hours=24))
    url = reverse("monitoring:index")
    if not rows:
        return Card(
            title="Release health",
            url=url,
            empty="No telemetry yet: clients report to /api/v1/telemetry?key=<channel key>.",
        )
    launches = sum(r.launches for r in rows)
    crashes = sum(min(r.crashes, r.launches) for r in rows)
    reporting = sum(1 for r in rows if r.last_minute is not None)
    worst = min((r for r in rows if r.launches), key=lambda r: r.crash_free, default=None)
    stats = [
        ("Channels reporting, 24 h", f"{reporting} of {len(rows)}"),
        ("Launches, 24 h", launches),
        (
            "Crash-free sessions, 24 h",
            f"{100 * (1 - crashes / launches):.2f} %" if launches else "no data",
        ),
    ]
    if worst is not None:
        stats.append((f"Lowest: {worst.channel}", f"{100 * worst.crash_free:.2f} %"))
    return Card(title="Release health", url=url, stats=stats)
