"""The registry of event types that ``notify`` accepts.

Apps register their events once, from ``AppConfig.ready``; the preferences page and the webhook
form offer exactly what is registered. Keys are ``area.name`` (``approvals.requested``).

Email default: a person receives an event unless they opted out when the event is
``default_email=True``; otherwise only after opting in. When not given, ``approvals.*`` and
``system.*`` default to on (those need a human) and everything else to off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_ON_PREFIXES = ("approvals.", "system.")
_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


class UnknownEventError(LookupError):
    """``notify`` was called with an event nobody registered (a programming error)."""


@dataclass(frozen=True)
class EventType:
    key: str
    title: str
    description: str
    default_email: bool
    # False for internal events (the webhook test) that people cannot subscribe to.
    selectable: bool = True

    @property
    def area(self) -> str:
        return self.key.split(".", 1)[0]


_events: dict[str, EventType] = {}


def register_event(
    key: str,
    title: str,
    description: str = "",
    *,
    default_email: bool | None = None,
    selectable: bool = True,
) -> EventType:
    """Register (or re-register, e.g. on autoreload) an event type and return it."""
    if not _KEY.match(key):
        raise ValueError(f"event key {key!r} must look like 'area.name' (lowercase, dots)")
    if default_email is None:
        default_email = key.startswith(DEFAULT_ON_PREFIXES)
    event = EventType(key, title, description, default_email, selectable)
    _events[key] = event
    return event


def get_event(key: str) -> EventType:
    try:
        return _events[key]
    except KeyError:
        raise UnknownEventError(
            f"notification event {key!r} is not registered; call "
            "notifications.events.register_event() from your AppConfig.ready()"
        ) from None


def all_events(*, selectable_only: bool = False) -> list[EventType]:
    """Registered events sorted by key (the order of the preferences page)."""
    return sorted(
        (e for e in _events.values() if e.selectable or not selectable_only),
        key=lambda e: e.key,
    )


def choices(*, selectable_only: bool = True) -> list[tuple[str, str]]:
    return [(e.key, f"{e.title} ({e.key})") for e in all_events(selectable_only=selectable_only)]


TEST_EVENT = "notifications.test"


def register_foundation_events() -> None:
    register_event(
        "approvals.requested",
        "Approval requested",
        "A change request is waiting for someone to approve or deny it.",
    )
    register_event(
        "approvals.decided",
        "Approval decided",
        "A change request was approved or denied.",
    )
    register_event(
        "system.liveness",
        "Worker or controller not seen",
        "The background worker or the controller stopped sending heartbeats.",
    )
    register_event(
        TEST_EVENT,
        "Webhook test",
        "Sent to one endpoint by the webhooks page's “Send test” button.",
        default_email=False,
        selectable=False,
    )
