"""Helpers for the rollout tests: update answers through the real resolution, real telemetry."""

from __future__ import annotations

import json
from datetime import datetime

from releases import rollouts, update


def resolve(channel, install_id: str, current: str = "1.0.0") -> dict:
    """The update answer the endpoint would give (the same function, without HTTP)."""
    return update.answer(
        key=channel.client_key, runtime="2.0.0", current=current, install_id=install_id
    )


def send(client, channel, install_id: str, version: str, events: list[dict]):
    response = client.post(
        f"/api/v1/telemetry?key={channel.client_key}",
        data=json.dumps({"install_id": install_id, "version": version, "events": events}),
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    return response


def sessions(
    client,
    channel,
    version: str,
    *,
    at: datetime,
    installs: int,
    launches: int,
    crashes_every: int = 0,
    prefix: str = "i",
):
    """``installs`` installs each reporting ``launches`` launches at ``at``; every
    ``crashes_every``-th launch also crashes."""
    stamp = at.isoformat()
    for i in range(installs):
        events = []
        for n in range(launches):
            events.append({"type": "launch", "at": stamp})
            if crashes_every and n % crashes_every == 0:
                events.append({"type": "crash", "at": stamp})
        send(client, channel, f"{prefix}-{version}-{i}", version, events)


def rolled_out(channel, release, *, now: datetime | None = None):
    """``release`` fully rolled out on ``channel`` (a one-phase rollout, completed): how a release
    reaches everyone on a ``rollout``-gated channel."""
    rollout = rollouts.start(channel, release, phases=[{"percent": 100}], now=now)
    rollouts.advance(rollout, now=now or rollout.started_at, reason="fully rolled out")
    return release
