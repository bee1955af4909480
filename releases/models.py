from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

# WeChat's limits, the defaults of every app's size budget.
DEFAULT_MAIN_BUDGET_KIB = 2048
DEFAULT_SUBPACKAGE_BUDGET_KIB = 2048
DEFAULT_TOTAL_BUDGET_KIB = 20 * 1024
DEFAULT_GROWTH_BUDGET_PCT = 5


def new_client_key() -> str:
    return "ck_" + secrets.token_urlsafe(24)


class App(models.Model):
    """A mini program: what releases, channels, backups and maintenance windows belong to."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="apps")
    main_budget_kib = models.PositiveIntegerField(default=DEFAULT_MAIN_BUDGET_KIB)
    subpackage_budget_kib = models.PositiveIntegerField(default=DEFAULT_SUBPACKAGE_BUDGET_KIB)
    total_budget_kib = models.PositiveIntegerField(default=DEFAULT_TOTAL_BUDGET_KIB)
    growth_budget_pct = models.PositiveSmallIntegerField(default=DEFAULT_GROWTH_BUDGET_PCT)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Channel(models.Model):
    """A stream of releases clients subscribe to (``production``, ``beta``) via its client key."""

    class UploadPolicy(models.TextChoices):
        REJECT = "reject", "Reject new uploads while a rollout runs"
        SUPERSEDE = "supersede", "A new upload supersedes the running rollout"

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="channels")
    name = models.SlugField(max_length=60)
    client_key = models.CharField(max_length=64, unique=True, default=new_client_key)
    # After a rotation the old key keeps working until this moment (clients update lazily).
    previous_client_key = models.CharField(max_length=64, blank=True, db_index=True)
    previous_key_expires_at = models.DateTimeField(null=True, blank=True)
    tester_install_ids = models.JSONField(default=list, blank=True)
    upload_policy = models.CharField(
        max_length=20, choices=UploadPolicy.choices, default=UploadPolicy.REJECT
    )
    approvals_required = models.PositiveSmallIntegerField(default=1)
    is_production = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["app__slug", "name"]
        constraints = [
            models.UniqueConstraint(fields=["app", "name"], name="channel_unique_name_per_app")
        ]

    def __str__(self) -> str:
        return f"{self.app.slug}/{self.name}"
