"""The controller: a small loop that advances everything driven by the clock.

Apps register their tick functions here (from ``AppConfig.ready``) by name. Each function must be
safe to call from two controllers at once: claim work with a conditional UPDATE, never assume
you are alone. The loop records its own heartbeat every tick.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import close_old_connections
from django.utils import timezone

log = logging.getLogger("upkeep.controller")


@dataclass
class TickHook:
    name: str
    func: Callable[..., object]
    every_seconds: float
    last_run: float = field(default=0.0)


_hooks: dict[str, TickHook] = {}


def register(name: str, func: Callable[..., object], *, every_seconds: float = 1.0) -> None:
    """Run ``func(now)`` at most every ``every_seconds`` from the controller loop."""
    _hooks[name] = TickHook(name, func, every_seconds)


def hooks() -> list[TickHook]:
    return list(_hooks.values())


def tick(now: datetime | None = None, *, force: bool = False) -> dict[str, str]:
    """One pass: heartbeat, then every hook that is due. Returns each hook's outcome."""
    from console.liveness import beat

    now = now or timezone.now()
    beat("controller", now=now)
    outcomes: dict[str, str] = {}
    monotonic = time.monotonic()
    for hook in hooks():
        if not force and monotonic - hook.last_run < hook.every_seconds:
            continue
        hook.last_run = monotonic
        try:
            hook.func(now)
            outcomes[hook.name] = "ok"
        except Exception as exc:  # one broken hook must not stop the others
            log.exception("controller hook %s failed", hook.name)
            outcomes[hook.name] = f"error: {exc}"
    return outcomes


def run_forever(*, interval: float, max_ticks: int | None = None, stop=None) -> int:
    ticks = 0
    while max_ticks is None or ticks < max_ticks:
        started = time.monotonic()
        close_old_connections()  # a long-lived process must not keep a broken connection
        tick()
        ticks += 1
        if stop is not None and stop():
            break
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return ticks
