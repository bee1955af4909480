"""Feature flags: a release ships a feature dark; a flag turns it on for a growing share of the
channel's installs, evaluated in the update answer (see flags/README.md).

A ``Flag`` carries its definition (key, variants, minimum release version, tester allowlist), its
kill switch and its ramp (phases with percent and hold, like a canary rollout) in one row, so one
compare-and-set on ``row_version`` (``flags.ramp``) orders every change. ``FlagEvent`` rows are
the append-only transitions, ``FlagMeasurement`` the analysis looks, ``FlagApproval`` the
per-phase decisions.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.models import AuditedQuerySet
from monitoring.stored import StoredMeasurement
from releases.models import App, Channel


class FlagState(models.TextChoices):
    DRAFT = "draft", "Dark (testers only)"
    RUNNING = "running", "Ramping"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Fully on"


RAMPING_STATES = (FlagState.RUNNING, FlagState.AWAITING_APPROVAL, FlagState.PAUSED)


class Flag(models.Model):
    class Step(models.TextChoices):
        HOLD = "hold", "Hold"
        ANALYZING = "analyzing", "Analyzing"

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="flags")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="flags")
    key = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    # The release that ships the feature dark: clients running an older version never get it.
    min_version = models.CharField(max_length=100)
    # [{"name": "on", "weight": 100}] or A/B/C; weights are integers summing to 100. A variant
    # named "off" is the in-cohort control group: it evaluates to off.
    variants = models.JSONField()
    # {install_id: variant} forced on (before the cohort, never past the kill switch).
    testers = models.JSONField(default=dict, blank=True)
    salt = models.CharField(max_length=64)  # the cohort hash (releases.bucketing, seed 0)
    variant_salt = models.CharField(
        max_length=64
    )  # the variant hash (second seed, flags.evaluation)
    killed = models.BooleanField(default=False)
    killed_reason = models.TextField(blank=True)
    state = models.CharField(max_length=20, choices=FlagState.choices, default=FlagState.DRAFT)
    step = models.CharField(max_length=10, choices=Step.choices, default=Step.HOLD)
    percent = models.FloatField(default=0.0)  # what clients get now
    phases = models.JSONField(default=list)  # [{"percent", "hold_seconds", "requires_approval"}]
    metrics = models.JSONField(default=list)  # monitoring.analysis.MetricSpec dicts
    phase = models.PositiveSmallIntegerField(default=0)
    ramp_started_at = models.DateTimeField(null=True, blank=True)
    ramp_started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    phase_started_at = models.DateTimeField(null=True, blank=True)
    hold_accumulated = models.FloatField(default=0.0)
    clock_started_at = models.DateTimeField(null=True, blank=True)
    hold_extension = models.PositiveIntegerField(default=0)
    analysis_due_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)  # a controller's claim, no state
    attempt = models.PositiveIntegerField(default=0)  # ramp runs (approvals count per run)
    reason = models.TextField(blank=True)  # of the last transition
    row_version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["app__slug", "channel__name", "key"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "key"], name="flag_unique_key_per_channel")
        ]

    def __str__(self) -> str:
        return f"{self.app.slug}/{self.channel.name} flag {self.key}"

    @property
    def is_ramping(self) -> bool:
        return self.state in RAMPING_STATES

    @property
    def current_phase(self) -> dict:
        return self.phases[self.phase] if self.phases else {}

    def held_seconds(self, now) -> float:
        running = (now - self.clock_started_at).total_seconds() if self.clock_started_at else 0
        return self.hold_accumulated + max(0.0, running)

    def hold_target(self) -> int:
        return int(self.current_phase.get("hold_seconds", 0)) + self.hold_extension


class FlagEvent(models.Model):
    """Append-only: one row per transition (actor, reason, before, after, request id)."""

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=60)
    actor_label = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    request_id = models.CharField(max_length=64, blank=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.action} on flag #{self.flag_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("flag events are append-only")
        super().save(*args, **kwargs)


class FlagMeasurement(StoredMeasurement):
    """One look at one metric: the ramp window against the window before the ramp started."""

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="measurements")
    attempt = models.PositiveIntegerField()
    phase = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["flag", "attempt", "phase"])]

    def __str__(self) -> str:
        return f"{self.metric} {self.outcome} (flag #{self.flag_id}, phase {self.phase})"


class FlagApproval(models.Model):
    """A person's decision on ramping a flag out of ``phase`` in ramp run ``attempt``."""

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="approvals")
    attempt = models.PositiveIntegerField()
    phase = models.PositiveSmallIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    decision = models.CharField(max_length=10)  # "approve" | "reject"
    reason = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["flag", "attempt", "phase", "user"],
                name="flag_one_decision_per_person_and_run",
            )
        ]

    def __str__(self) -> str:
        return f"{self.decision} of flag #{self.flag_id} phase {self.phase}"
