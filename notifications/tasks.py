"""Worker entry points. They take primary keys and are idempotent: the claim in
``dispatch.send_delivery`` decides whether anything is sent, so a task the broker delivers
twice, or one queued again by ``retry_due``, sends nothing extra."""

from __future__ import annotations

from audit.context import Actor, acting_as


def send_delivery(delivery_pk: int) -> str:
    from notifications import dispatch

    with acting_as(Actor.system("notifications", run_ref=f"delivery:{delivery_pk}")):
        return dispatch.send_delivery(delivery_pk)
