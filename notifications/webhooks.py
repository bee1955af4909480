"""Webhook endpoints: signing, the HTTP POST, and the audited changes made from the console.

Signature (what a receiver checks): ``X-Upkeep-Signature: sha256=<hex>`` where ``<hex>`` is
HMAC-SHA256, keyed with the endpoint's secret, of ``f"{X-Upkeep-Timestamp}.{raw body}"``.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from audit.trail import record, snapshot
from console.outbound import no_redirect_opener
from console.tasks import enqueue
from notifications.events import TEST_EVENT
from notifications.models import Delivery, Notification, WebhookEndpoint, generate_secret

SIGNATURE_HEADER = "X-Upkeep-Signature"
TIMESTAMP_HEADER = "X-Upkeep-Timestamp"
# How old a timestamp ``verify`` accepts by default (replay window).
DEFAULT_TOLERANCE_SECONDS = 300
# Bytes of a failed response's body kept as the error text.
ERROR_BODY_LIMIT = 500
AUDITED_FIELDS = ("name", "url", "events", "enabled")


def signature(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """The header value: ``sha256=`` + hex HMAC-SHA256 of ``"{timestamp}.{body}"``."""
    raw = body if isinstance(body, bytes) else body.encode()
    message = str(timestamp).encode() + b"." + raw
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    timestamp: int | str,
    body: bytes | str,
    header: str,
    *,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: constant-time compare, and refuse stale or future timestamps."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, sent, body), header or "")


@dataclass(frozen=True)
class PostResult:
    ok: bool
    status_code: int | None
    error: str
    duration_ms: int


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> PostResult:
    """POST ``body``; 2xx is success, anything else (3xx included) or no answer is a failure."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    started = time.monotonic()
    code: int | None = None
    error = ""
    try:
        with no_redirect_opener.open(request, timeout=timeout) as response:
            code = response.status
            response.read(ERROR_BODY_LIMIT)
    except urllib.error.HTTPError as exc:
        code = exc.code
        try:
            detail = exc.read(ERROR_BODY_LIMIT).decode("utf-8", "replace").strip()
        except (OSError, http.client.HTTPException):
            detail = ""
        error = f"HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else "")
    except urllib.error.URLError as exc:
        error = f"{type(exc.reason).__name__}: {exc.reason}"
    except (OSError, http.client.HTTPException, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = int((time.monotonic() - started) * 1000)
    ok = code is not None and 200 <= code < 300 and not error
    return PostResult(ok, code, error, duration_ms)


# Console actions (views call these; each writes its audit row in the same transaction).


def create_endpoint(*, name: str, url: str, events: list[str], enabled: bool = True):
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            name=name, url=url, events=list(events), enabled=enabled
        )
        record("notifications.webhook_created", endpoint, after=snapshot(endpoint, AUDITED_FIELDS))
    return endpoint


def set_enabled(endpoint: WebhookEndpoint, enabled: bool) -> bool:
    """Returns False (and records nothing) when the endpoint was already in that state."""
    with transaction.atomic():
        changed = WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=not enabled).update(
            enabled=enabled
        )
        if not changed:
            return False
        endpoint.enabled = enabled
        record(
            "notifications.webhook_enabled" if enabled else "notifications.webhook_disabled",
            endpoint,
            before={"enabled": not enabled},
            after={"enabled": enabled},
        )
    return True


def delete_endpoint(endpoint: WebhookEndpoint) -> None:
    """Deliveries keep their log rows (endpoint set to NULL); pending ones will go dead."""
    with transaction.atomic():
        before = snapshot(endpoint, AUDITED_FIELDS)
        record("notifications.webhook_deleted", endpoint, before=before)
        endpoint.delete()


def rotate_secret(endpoint: WebhookEndpoint) -> str:
    """A new secret, in effect for the next delivery; returned so the page can show it once."""
    secret = generate_secret()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret=secret)
        endpoint.secret = secret
        record("notifications.webhook_secret_rotated", endpoint, after={"secret": "(new)"})
    return secret


def send_test(endpoint: WebhookEndpoint, *, by=None, now: datetime | None = None) -> Delivery:
    """Queue a test notification for this endpoint only (whatever events it subscribes to)."""
    now = now or timezone.now()
    who = by.get_username() if by is not None else "the console"
    with transaction.atomic():
        notification = Notification.objects.create(
            event=TEST_EVENT,
            subject=f"Test delivery to {endpoint.name}",
            body=f"{who} sent this test from the webhooks page.",
            payload={"test": True, "endpoint": endpoint.name},
            link="/notifications/webhooks/",
            dedup_key=f"{TEST_EVENT}:{endpoint.pk}:{uuid.uuid4().hex}",
            created_at=now,
        )
        delivery = Delivery.objects.create(
            notification=notification,
            channel=Delivery.Channel.WEBHOOK,
            endpoint=endpoint,
            endpoint_url=endpoint.url,
            next_attempt_at=now,
            queued_at=now,
            created_at=now,
        )
        enqueue("notifications.tasks.send_delivery", delivery.pk, group="notifications")
    return delivery
