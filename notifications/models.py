from __future__ import annotations

import secrets
from datetime import datetime

from django.conf import settings
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


def generate_secret() -> str:
    return secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """Where webhook deliveries go. ``events`` empty means every event.

    The secret is stored in clear because signing needs it; the console shows it once, after
    creation or rotation, and never puts it in the audit trail.
    """

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500, validators=[URLValidator(schemes=["http", "https"])])
    secret = models.CharField(max_length=100, default=generate_secret)
    # Event keys, or "area.*" for a whole area; [] = all events.
    events = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def wants(self, event: str) -> bool:
        if not self.events:
            return True
        area = event.split(".", 1)[0]
        return event in self.events or f"{area}.*" in self.events


class EmailPreference(models.Model):
    """One person's explicit choice for one event; no row means the event's default applies."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_preferences"
    )
    event = models.CharField(max_length=100)
    enabled = models.BooleanField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "event"], name="email_pref_unique_user_event")
        ]
        # notify() asks "who opted in/out of this event": preferences.recipients(event).
        indexes = [models.Index(fields=["event", "enabled"], name="email_pref_event")]

    def __str__(self) -> str:
        return f"{self.user} {'gets' if self.enabled else 'skips'} {self.event}"


class Notification(models.Model):
    """Something happened that people or systems should hear about. Created by ``notify``."""

    event = models.CharField(max_length=100)
    subject = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    link = models.CharField(max_length=500, blank=True)
    # The caller's idempotency key: notify() with a key already stored creates nothing.
    dedup_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event}: {self.subject}"

    @property
    def absolute_link(self) -> str:
        if self.link.startswith("/"):
            return settings.SITE_URL + self.link
        return self.link


class DeliveryQuerySet(models.QuerySet):
    def claimable(self, now: datetime) -> DeliveryQuerySet:
        """Deliveries a worker may claim at ``now``.

        Pending or failed ones whose ``next_attempt_at`` has come, and ones left in ``sending``
        whose lease ran out (the worker died or hung). ``lease_until`` is NULL except while
        sending, so a NULL never makes a row claimable through the second branch.
        """
        waiting = [Delivery.Status.PENDING, Delivery.Status.FAILED]
        return self.filter(
            Q(status__in=waiting, next_attempt_at__lte=now)
            | Q(status=Delivery.Status.SENDING, lease_until__lte=now)
        )

    def unqueued(self, now: datetime, requeue_after) -> DeliveryQuerySet:
        """Not handed to a worker since ``now - requeue_after`` (NULL queued_at: never)."""
        return self.filter(Q(queued_at__isnull=True) | Q(queued_at__lte=now - requeue_after))

    def for_log(self) -> DeliveryQuerySet:
        """The delivery log: newest first, with what each row displays."""
        return self.select_related("notification", "endpoint", "user").order_by(
            "-created_at", "-id"
        )


class Delivery(models.Model):
    """One attempt-tracked send of a notification to one address or one webhook endpoint.

    Status moves only through ``notifications.dispatch`` with conditional UPDATEs:
    pending → sending → sent | failed (→ sending again when due) | dead (gave up).
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (will retry)"
        DEAD = "dead", "Dead (gave up)"

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # Email: the address it went to (kept as sent) and whose preference chose it.
    address = models.EmailField(blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Webhook: the endpoint; NULL once the endpoint is deleted (the log keeps ``address``-less
    # rows, and a pending delivery to a deleted endpoint goes dead).
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    endpoint_url = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    # When a task for this delivery was last queued (by notify or by retry_due).
    queued_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            # One email per address and one POST per endpoint for each notification, even if
            # two users share an address.
            models.UniqueConstraint(
                fields=["notification", "address"],
                condition=Q(channel="email"),
                name="delivery_once_per_address",
            ),
            models.UniqueConstraint(
                fields=["notification", "endpoint"],
                condition=Q(channel="webhook"),
                name="delivery_once_per_endpoint",
            ),
        ]
        indexes = [
            # retry_due() and send_delivery's claim: claimable(now), pending/failed by due time.
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            # claimable(now), second branch: sending rows whose lease ran out.
            models.Index(fields=["status", "lease_until"], name="delivery_lease"),
            # The delivery log filtered by status or channel, newest first.
            models.Index(fields=["status", "-created_at"], name="delivery_log_status"),
            models.Index(fields=["channel", "-created_at"], name="delivery_log_channel"),
            models.Index(fields=["-created_at"], name="delivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.target} ({self.status})"

    @property
    def target(self) -> str:
        if self.channel == self.Channel.EMAIL:
            return self.address
        if self.endpoint_id is not None and self.endpoint is not None:
            return self.endpoint.name
        return self.endpoint_url or "(deleted endpoint)"
