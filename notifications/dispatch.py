"""Creating notifications and delivering them exactly once, with retries and back-off.

``notify`` runs inside the caller's transaction: the notification, its deliveries and the queued
tasks exist only if the caller's change commits. ``send_delivery`` claims a delivery with a
conditional UPDATE; the claim's row count decides which worker sends, so two workers (or a
worker and the controller) racing on one delivery send it once.

One honest limit: a worker that dies after the receiver accepted a delivery but before the
outcome was written leaves the row in ``sending``; once its lease runs out it is sent again.
Receivers deduplicate on ``X-Upkeep-Delivery`` (webhooks) if that matters to them.
"""

from __future__ import annotations

import json
import logging
import smtplib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from audit.trail import record, to_json_value
from console.tasks import enqueue
from notifications import webhooks
from notifications.events import get_event
from notifications.models import Delivery, Notification, WebhookEndpoint
from notifications.preferences import recipients

log = logging.getLogger("upkeep.notifications")

TASK = "notifications.tasks.send_delivery"
# Added to the transport timeout for the lease: a worker past it is presumed dead.
LEASE_MARGIN = timedelta(seconds=60)
# A pending delivery whose task has not run by then is queued again (the broker lost it).
REQUEUE_AFTER = timedelta(minutes=2)
# Deliveries retry_due handles per tick; the rest wait for the next tick.
RETRY_BATCH = 200
ERROR_LIMIT = 1000

Status = Delivery.Status


def notify(
    event: str,
    *,
    subject: str,
    body: str,
    payload: dict[str, Any] | None = None,
    dedup_key: str,
    link: str = "",
) -> Notification | None:
    """Record a notification and queue its deliveries; None if ``dedup_key`` was already used.

    Call it inside the transaction that makes the change being announced. Email goes to every
    active console user with an address who gets ``event`` (see ``preferences.recipients``),
    a POST to every enabled webhook endpoint subscribed to it. Raises ``UnknownEventError`` for
    an event that was never registered.
    """
    get_event(event)
    if not dedup_key:
        raise ValueError("notify() needs a dedup_key")
    now = timezone.now()
    with transaction.atomic():
        if Notification.objects.filter(dedup_key=dedup_key).exists():
            return None
        try:
            with transaction.atomic():
                notification = Notification.objects.create(
                    event=event,
                    subject=" ".join(subject.split())[:300],
                    body=body,
                    payload=to_json_value(payload or {}),
                    link=link[:500],
                    dedup_key=dedup_key[:200],
                    created_at=now,
                )
        except IntegrityError:
            # Another transaction stored the same key between our check and our insert.
            return None
        deliveries = []
        seen: set[str] = set()
        for user in recipients(event).only("pk", "email").order_by("pk"):
            address = user.email.strip()
            if address.lower() in seen:
                continue
            seen.add(address.lower())
            deliveries.append(
                Delivery(channel=Delivery.Channel.EMAIL, address=address, user_id=user.pk)
            )
        for endpoint in WebhookEndpoint.objects.filter(enabled=True).order_by("pk"):
            if endpoint.wants(event):
                deliveries.append(
                    Delivery(
                        channel=Delivery.Channel.WEBHOOK,
                        endpoint=endpoint,
                        endpoint_url=endpoint.url,
                    )
                )
        for delivery in deliveries:
            delivery.notification = notification
            delivery.next_attempt_at = delivery.queued_at = delivery.created_at = now
            delivery.save(force_insert=True)
            enqueue(TASK, delivery.pk, group="notifications")
    return notification


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str = ""
    duration_ms: int | None = None
    permanent: bool = False  # retrying cannot help (endpoint deleted or disabled)


def _lease(now: datetime) -> datetime:
    longest = max(settings.WEBHOOK_TIMEOUT_SECONDS, getattr(settings, "EMAIL_TIMEOUT", None) or 0)
    return now + timedelta(seconds=longest) + LEASE_MARGIN


def backoff(attempts: int) -> timedelta:
    """Wait after failed attempt number ``attempts`` (1-based): base, 2 * base, 4 * base..."""
    return timedelta(seconds=settings.NOTIFY_BACKOFF_SECONDS * 2 ** (attempts - 1))


def send_delivery(pk: int, now: datetime | None = None) -> str:
    """Send one delivery if it is due and nobody else holds it; returns what happened.

    ``"skipped"`` when the claim found nothing to do (already sent, not due yet, or another
    worker holds the lease); otherwise ``"sent"``, ``"failed"`` (will retry), ``"dead"``, or
    ``"lease lost"`` when this attempt outlived its lease and another worker took over.
    """
    now = now or timezone.now()
    claimed = (
        Delivery.objects.claimable(now)
        .filter(pk=pk, attempts__lt=settings.NOTIFY_MAX_ATTEMPTS)
        .update(
            status=Status.SENDING,
            lease_until=_lease(now),
            attempts=F("attempts") + 1,
            queued_at=None,
        )
    )
    if claimed != 1:
        return "skipped"
    delivery = Delivery.objects.select_related("notification", "endpoint").get(pk=pk)
    try:
        if delivery.channel == Delivery.Channel.EMAIL:
            outcome = _send_email(delivery)
        else:
            outcome = _send_webhook(delivery, now)
    except Exception as exc:  # a delivery must never stay in "sending" because of a bug
        log.exception("delivery %s: unexpected error", pk)
        outcome = Outcome(False, error=f"{type(exc).__name__}: {exc}")
    return _finish(delivery, outcome, now)


def _finish(delivery: Delivery, outcome: Outcome, now: datetime) -> str:
    mine = Delivery.objects.filter(
        pk=delivery.pk, status=Status.SENDING, attempts=delivery.attempts
    )
    fields = {
        "lease_until": None,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error[:ERROR_LIMIT],
        "duration_ms": outcome.duration_ms,
    }
    if outcome.ok:
        result, updated = "sent", mine.update(status=Status.SENT, sent_at=now, **fields)
    elif outcome.permanent or delivery.attempts >= settings.NOTIFY_MAX_ATTEMPTS:
        result, updated = "dead", _bury(mine, delivery, fields)
    else:
        result = "failed"
        updated = mine.update(
            status=Status.FAILED, next_attempt_at=now + backoff(delivery.attempts), **fields
        )
    if not updated:
        log.warning("delivery %s: attempt %s outlived its lease", delivery.pk, delivery.attempts)
        return "lease lost"
    return result


def _bury(rows, delivery: Delivery, fields: dict[str, Any]) -> int:
    """Mark dead and audit it, in one transaction (someone should look at a dead delivery)."""
    with transaction.atomic():
        updated = rows.update(status=Status.DEAD, **fields)
        if updated:
            record(
                "notifications.delivery_dead",
                delivery,
                after={
                    "channel": delivery.channel,
                    "target": delivery.target,
                    "event": delivery.notification.event,
                    "attempts": delivery.attempts,
                    "status_code": fields.get("last_status_code", delivery.last_status_code),
                    "error": fields.get("last_error", delivery.last_error)[:300],
                },
            )
    return updated


def _email_body(notification: Notification) -> str:
    parts = [notification.body.rstrip()]
    if notification.link:
        parts.append(f"Open: {notification.absolute_link}")
    parts.append(
        "-- \nYou get this email because of your notification preferences: "
        f"{settings.SITE_URL}{reverse('notifications:preferences')}"
    )
    return "\n\n".join(p for p in parts if p)


def _send_email(delivery: Delivery) -> Outcome:
    notification = delivery.notification
    message = EmailMessage(
        subject=notification.subject,
        body=_email_body(notification),
        to=[delivery.address],
        headers={"X-Upkeep-Event": notification.event, "X-Upkeep-Delivery": str(delivery.pk)},
    )
    started = time.monotonic()
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPResponseException as exc:
        error = exc.smtp_error
        text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        return Outcome(False, exc.smtp_code, f"SMTP {exc.smtp_code}: {text}", _ms(started))
    except smtplib.SMTPRecipientsRefused as exc:
        code, error = next(iter(exc.recipients.values()), (None, b""))
        text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        return Outcome(False, code, f"recipient refused: {code} {text}", _ms(started))
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}", _ms(started))
    return Outcome(True, None, "", _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def webhook_body(delivery: Delivery, now: datetime) -> bytes:
    notification = delivery.notification
    data = {
        "event": notification.event,
        "subject": notification.subject,
        "body": notification.body,
        "payload": notification.payload,
        "link": notification.absolute_link,
        "notification_id": notification.pk,
        "delivery_id": delivery.pk,
        "sent_at": now.isoformat(),
    }
    return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True).encode()


def _send_webhook(delivery: Delivery, now: datetime) -> Outcome:
    endpoint = delivery.endpoint
    if endpoint is None:
        return Outcome(False, error="the webhook endpoint was deleted", permanent=True)
    if not endpoint.enabled:
        return Outcome(False, error="the webhook endpoint is disabled", permanent=True)
    body = webhook_body(delivery, now)
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Upkeep-Webhook/1",
        "X-Upkeep-Event": delivery.notification.event,
        "X-Upkeep-Delivery": str(delivery.pk),
        "X-Upkeep-Attempt": str(delivery.attempts),
        webhooks.TIMESTAMP_HEADER: str(timestamp),
        webhooks.SIGNATURE_HEADER: webhooks.signature(endpoint.secret, timestamp, body),
    }
    result = webhooks.post(endpoint.url, body, headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    return Outcome(result.ok, result.status_code, result.error, result.duration_ms)


def retry_due(now: datetime | None = None) -> int:
    """Controller hook: queue deliveries that are due again; give up on exhausted ones.

    Due: failed ones whose back-off has passed, ones stuck in ``sending`` past their lease, and
    pending ones whose task was queued more than ``REQUEUE_AFTER`` ago without running. Each is
    queued once per ``REQUEUE_AFTER`` (claimed through ``queued_at``), so two controllers do not
    flood the queue. Returns how many tasks were queued.
    """
    now = now or timezone.now()
    max_attempts = settings.NOTIFY_MAX_ATTEMPTS
    exhausted = Delivery.objects.claimable(now).filter(attempts__gte=max_attempts)
    for delivery in exhausted.select_related("notification", "endpoint")[:RETRY_BATCH]:
        error = delivery.last_error
        if delivery.status == Status.SENDING:
            error = f"attempt {delivery.attempts} never reported back (lease expired)"
        rows = Delivery.objects.claimable(now).filter(pk=delivery.pk, attempts__gte=max_attempts)
        _bury(rows, delivery, {"lease_until": None, "last_error": error[:ERROR_LIMIT]})
    due = list(
        Delivery.objects.claimable(now)
        .filter(attempts__lt=max_attempts)
        .unqueued(now, REQUEUE_AFTER)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:RETRY_BATCH]
    )
    queued = 0
    with transaction.atomic():
        for pk in due:
            claimed = (
                Delivery.objects.claimable(now)
                .unqueued(now, REQUEUE_AFTER)
                .filter(pk=pk)
                .update(queued_at=now)
            )
            if claimed:
                enqueue(TASK, pk, group="notifications")
                queued += 1
    return queued
