from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.models import AuditedQuerySet
from monitoring.stored import StoredMeasurement

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

    class ReleaseGate(models.TextChoices):
        # Part of the public contract (releases/API.md, README.md "Release gate").
        ROLLOUT = (
            "rollout",
            "New releases reach clients only through a rollout; until one starts they are "
            "served to testers only",
        )
        IMMEDIATE = "immediate", "A published release is available to everyone at once"

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
    # How a newly published release reaches this channel's clients (the safe default: rollout).
    release_gate = models.CharField(
        max_length=20, choices=ReleaseGate.choices, default=ReleaseGate.ROLLOUT
    )
    is_production = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["app__slug", "name"]
        constraints = [
            models.UniqueConstraint(fields=["app", "name"], name="channel_unique_name_per_app")
        ]

    def __str__(self) -> str:
        return f"{self.app.slug}/{self.name}"


class ChangeType(models.TextChoices):
    FEATURE = "feature", "Feature"
    FIX = "fix", "Fix"
    SECURITY = "security", "Security"
    BREAKING = "breaking", "Breaking change"
    DEPRECATION = "deprecation", "Deprecation"


class Compatibility(models.TextChoices):
    BACKWARD_COMPATIBLE = "backward_compatible", "Backward compatible"
    MIGRATION_REQUIRED = "migration_required", "Migration required"


class BudgetVerdict(models.TextChoices):
    OK = "ok", "Within budget"
    OVER = "over", "Over budget"


class ReleaseQuerySet(AuditedQuerySet):
    def for_app(self, app: App) -> ReleaseQuerySet:
        """Every release of ``app``, disabled ones included, unordered (use ``newest_first``)."""
        return self.filter(app=app)

    def enabled(self) -> ReleaseQuerySet:
        """Releases not disabled (``disabled_at`` is NULL)."""
        return self.filter(disabled_at__isnull=True)

    def for_channel(self, channel: Channel) -> ReleaseQuerySet:
        """Releases a channel's clients may be offered: those published to every channel of the
        app (``channel`` NULL) and those published to this channel alone."""
        return self.filter(app_id=channel.app_id).filter(
            models.Q(channel__isnull=True) | models.Q(channel=channel)
        )


class Release(models.Model):
    """One published version of an app and its bundle.

    Immutable once published, except ``disabled_*`` (a disabled release is never offered) and the
    budget override (set by an approved four-eyes change). The version order is semver order,
    computed in Python (``releases.versioning.newest_first``): SQL cannot order pre-releases.
    """

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="releases")
    # NULL: published to every channel of the app; otherwise to this channel only.
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, null=True, blank=True, related_name="releases"
    )
    version = models.CharField(max_length=100)
    major = models.PositiveIntegerField()
    minor = models.PositiveIntegerField()
    patch = models.PositiveIntegerField()
    prerelease = models.CharField(max_length=100, blank=True)
    build = models.CharField(max_length=100, blank=True)

    changes = models.JSONField(default=list, blank=True)  # [{"type": ChangeType, "text": str}]
    notes = models.TextField(blank=True)
    released_at = models.DateTimeField(default=timezone.now)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    previous = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    compatibility = models.CharField(max_length=30, choices=Compatibility.choices)
    # Deprecations announced by this or an earlier release and not yet removed.
    deprecated = models.JSONField(default=list, blank=True)
    # A semver range of the host / base library the bundle needs ("" = any), e.g. ">=2.1.0 <3".
    runtime_range = models.CharField(max_length=200, blank=True)
    mandatory = models.BooleanField(default=False)
    rollback_target = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # A rollback release (issue 4): a new record serving the bundle of an older release; clients
    # on ``rollback_of`` or newer are told ROLLED_BACK.
    rollback_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    # Not unique per app: a rollback (issue 4) is a new release pointing at an old bundle. Uploads
    # of a byte-identical bundle are refused by releases.publishing under the app's row lock.
    bundle_sha256 = models.CharField(max_length=64, db_index=True)
    bundle_size = models.PositiveBigIntegerField()
    analysis = models.JSONField(default=dict, blank=True)
    budget_verdict = models.CharField(max_length=10, choices=BudgetVerdict.choices)
    budget_findings = models.JSONField(default=list, blank=True)
    # Set when an approved four-eyes change lets an over-budget release go beyond testers.
    budget_override_at = models.DateTimeField(null=True, blank=True)
    budget_override_request = models.PositiveBigIntegerField(null=True, blank=True)

    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    disabled_reason = models.TextField(blank=True)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "version"], name="release_unique_version"),
        ]

    def __str__(self) -> str:
        return f"{self.app.slug} {self.version}"

    @property
    def is_disabled(self) -> bool:
        return self.disabled_at is not None

    @property
    def bundle_filename(self) -> str:
        return f"{self.bundle_sha256}.zip"


# --- rollouts (issue 4) ------------------------------------------------------------------------


class RolloutState(models.TextChoices):
    RUNNING = "running", "Running"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    ABORTED = "aborted", "Aborted"
    ROLLED_BACK = "rolled_back", "Rolled back"
    SUPERSEDED = "superseded", "Superseded"


ACTIVE_ROLLOUT_STATES = (
    RolloutState.RUNNING,
    RolloutState.AWAITING_APPROVAL,
    RolloutState.PAUSED,
)


class Strategy(models.TextChoices):
    CANARY = "canary", "Canary"
    BLUE_GREEN = "blue_green", "Blue-green"


class Rollout(models.Model):
    """A rollout of one release on one channel, moving through ``phases``: a canary, or a
    blue-green (``releases.bluegreen``: phase 0 = the idle slot, testers only, behind health
    checks; phase 1 = all traffic for the monitoring window).

    Every change goes through ``releases.rollouts`` (compare-and-set on ``row_version``, an
    append-only ``RolloutEvent`` row, an audit row and a generation bump). The hold clock is
    persisted: ``hold_accumulated`` seconds counted before ``clock_started_at`` (NULL while the
    clock is stopped: paused, awaiting approval, ended).
    """

    class Step(models.TextChoices):
        HOLD = "hold", "Hold"
        ANALYZING = "analyzing", "Analyzing"
        # Blue-green before its switch (phase 0): the new release sits in the idle slot.
        STAGED = "staged", "Staged (testers only)"
        CHECKING = "checking", "Health checks running"
        CHECK_FAILED = "check_failed", "Health check failed"

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="rollouts")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="rollouts")
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="rollouts")
    strategy = models.CharField(max_length=20, choices=Strategy.choices, default=Strategy.CANARY)
    state = models.CharField(max_length=20, choices=RolloutState.choices)
    step = models.CharField(max_length=20, choices=Step.choices, default=Step.HOLD)
    phase = models.PositiveSmallIntegerField(default=0)
    phases = models.JSONField()  # [{"percent", "hold_seconds", "requires_approval"}]
    metrics = models.JSONField()  # monitoring.analysis.MetricSpec dicts
    salt = models.CharField(max_length=64)
    stable_version = models.CharField(max_length=100, blank=True)
    phase_started_at = models.DateTimeField()
    hold_accumulated = models.FloatField(default=0.0)
    clock_started_at = models.DateTimeField(null=True, blank=True)
    hold_extension = models.PositiveIntegerField(default=0)  # seconds added for lack of data
    analysis_due_at = models.DateTimeField(null=True, blank=True)
    # Claimed by a controller when it queues analysis (not a state: no event row).
    claimed_until = models.DateTimeField(null=True, blank=True)
    row_version = models.PositiveIntegerField(default=1)
    # Which run of the rollout this is: a restart starts the next one (approvals count per run).
    attempt = models.PositiveIntegerField(default=1)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)  # of the last transition
    skip_analysis_phase = models.SmallIntegerField(null=True, blank=True)  # break-glass
    restarted_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Blue-green only (empty / defaults for a canary): the pre-switch HTTP probes of the mini
    # program's backend (URLs, each must answer 2xx within ``probe_timeout`` seconds, no
    # redirects) and how long after completion the flip back stays available.
    probes = models.JSONField(default=list, blank=True)
    probe_timeout = models.FloatField(default=5.0)
    restore_seconds = models.PositiveIntegerField(default=86400)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel"],
                condition=models.Q(state__in=["running", "awaiting_approval", "paused"]),
                name="rollout_one_active_per_channel",
            )
        ]

    def __str__(self) -> str:
        return f"{self.app.slug}/{self.channel.name} {self.release.version} rollout #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_ROLLOUT_STATES

    @property
    def is_blue_green(self) -> bool:
        return self.strategy == Strategy.BLUE_GREEN

    @property
    def percent(self) -> float:
        if self.state == RolloutState.COMPLETED:
            return 100.0
        if self.state in (RolloutState.ABORTED, RolloutState.ROLLED_BACK, RolloutState.SUPERSEDED):
            return 0.0
        return float(self.phases[self.phase]["percent"])

    @property
    def current_phase(self) -> dict:
        return self.phases[self.phase]

    def held_seconds(self, now) -> float:
        running = (now - self.clock_started_at).total_seconds() if self.clock_started_at else 0
        return self.hold_accumulated + max(0.0, running)

    def hold_target(self) -> int:
        return int(self.current_phase.get("hold_seconds", 0)) + self.hold_extension


class RolloutEvent(models.Model):
    """Append-only: one row per transition (actor, reason, before, after, request id)."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=60)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    request_id = models.CharField(max_length=64, blank=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.action} on rollout #{self.rollout_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("rollout events are append-only")
        super().save(*args, **kwargs)


class RolloutMeasurement(StoredMeasurement):
    """One measurement of one metric (a guardrail every interval, the verdict at hold end)."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="measurements")
    phase = models.PositiveSmallIntegerField()
    z = models.FloatField(null=True, blank=True)
    p_value = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["rollout", "phase", "metric"])]

    def __str__(self) -> str:
        return f"{self.metric} {self.outcome} (rollout #{self.rollout_id}, phase {self.phase})"


class RolloutApproval(models.Model):
    """A person's decision on advancing a rollout out of ``phase`` in run ``attempt``."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="approvals")
    attempt = models.PositiveIntegerField(default=1)
    phase = models.PositiveSmallIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    decision = models.CharField(max_length=10)  # "approve" | "reject"
    reason = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rollout", "attempt", "phase", "user"],
                name="rollout_one_decision_per_person_and_run",
            )
        ]

    def __str__(self) -> str:
        return f"{self.decision} of rollout #{self.rollout_id} phase {self.phase}"


class SwitchCheck(models.Model):
    """One run of a blue-green rollout's pre-switch health checks (its probes and the bundle
    integrity check). ``passed`` is NULL while it runs and when it was abandoned (the process
    running it died: ``finished_at`` set, ``summary`` says so); never True unless every probe
    answered 2xx in time and the stored bundle re-hashed to the release's SHA-256."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="switch_checks")
    attempt = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    passed = models.BooleanField(null=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Bundle integrity: NULL until checked; the digest found on disk ("" when unreadable).
    bundle_ok = models.BooleanField(null=True)
    bundle_sha256 = models.CharField(max_length=64, blank=True)
    bundle_detail = models.TextField(blank=True)
    summary = models.TextField(blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"switch check #{self.pk} of rollout #{self.rollout_id}"


class SwitchProbe(models.Model):
    """One HTTP probe of a switch check: what it asked, what came back and how fast."""

    check_run = models.ForeignKey(SwitchCheck, on_delete=models.CASCADE, related_name="probes")
    url = models.CharField(max_length=2000)
    ok = models.BooleanField()
    status = models.PositiveSmallIntegerField(null=True, blank=True)  # NULL: no HTTP answer
    latency_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.url}: {self.status or self.error}"
