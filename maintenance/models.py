"""Jobs, their occurrences and runs, maintenance windows, plans and checklists.

django-q2 only executes; these rows are the truth. A job's schedule is materialised into one
``Occurrence`` per (job, scheduled time) under a unique constraint, each occurrence gets one or
more ``Run`` rows (attempts), and a run's state moves only through ``maintenance.runs``
(compare-and-set plus an audit row).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils.timezone import now as utcnow

from audit.models import AuditedQuerySet

MANUAL = "manual"


class MissedPolicy(models.TextChoices):
    SKIP = "skip", "Skip missed runs"
    ONCE = "once", "Run once for all missed times"
    ALL = "all", "Run every missed time"


class JobQuerySet(models.QuerySet):
    def due(self, now):
        """Enabled scheduled jobs whose next due time is at or before ``now`` (uses job_due)."""
        return self.filter(enabled=True, next_due_at__isnull=False, next_due_at__lte=now)


class Job(models.Model):
    """A unit of maintenance work with a type, validated params and a schedule.

    ``schedule`` is a cron expression evaluated with cronsim in ``timezone``, or ``"manual"``.
    ``next_due_at`` is the first scheduled time not yet materialised (NULL: manual or disabled);
    dispatchers advance it with a conditional UPDATE, which is how they split the work.
    """

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    job_type = models.CharField(max_length=50)
    params = models.JSONField(default=dict, blank=True)
    schedule = models.CharField(max_length=200, default=MANUAL)
    timezone = models.CharField(max_length=64, default="UTC")
    priority = models.SmallIntegerField(default=5, help_text="Higher starts first.")
    max_duration = models.DurationField(default=timedelta(minutes=30))
    retry_attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Retries after the first attempt fails, times out or is lost."
    )
    retry_backoff = models.DurationField(
        default=timedelta(minutes=1), help_text="Wait before retry n: backoff x 2^(n-1)."
    )
    missed_policy = models.CharField(
        max_length=10, choices=MissedPolicy.choices, default=MissedPolicy.ONCE
    )
    depends_on = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="dependents"
    )
    app = models.ForeignKey(
        "releases.App", on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs"
    )
    notify_started = models.BooleanField(default=False)
    notify_succeeded = models.BooleanField(default=False)
    slow_factor = models.FloatField(
        default=2.0, help_text="Notify when a run takes longer than this x the median (0 = off)."
    )
    enabled = models.BooleanField(default=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="maintenance_jobs",
    )
    next_due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=utcnow)
    updated_at = models.DateTimeField(default=utcnow)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [
            # The materialiser's query: Job.objects.due(now).
            models.Index(fields=["enabled", "next_due_at"], name="job_due"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_manual(self) -> bool:
        return self.schedule.strip() == MANUAL


class Occurrence(models.Model):
    """One scheduled (or manually requested) time of one job. Unique: exactly-once dispatch."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Run now"
        UPSTREAM = "upstream", "After its parents"
        PLAN = "plan", "Plan"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="occurrences")
    scheduled_for = models.DateTimeField()
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    plan = models.ForeignKey(
        "MaintenancePlan",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="occurrences",
    )
    created_at = models.DateTimeField(default=utcnow)

    class Meta:
        ordering = ["-scheduled_for"]
        constraints = [
            models.UniqueConstraint(fields=["job", "scheduled_for"], name="occurrence_once"),
        ]

    def __str__(self) -> str:
        return f"{self.job} @ {self.scheduled_for:%Y-%m-%d %H:%M:%S}"


class RunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    DEFERRED = "deferred", "Deferred"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    TIMED_OUT = "timed_out", "Timed out"
    LOST = "lost", "Lost"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"


WAITING_STATES = (RunState.QUEUED, RunState.DEFERRED)
FINAL_STATES = (
    RunState.SUCCEEDED,
    RunState.FAILED,
    RunState.TIMED_OUT,
    RunState.LOST,
    RunState.SKIPPED,
    RunState.CANCELLED,
)
FAILURE_STATES = (RunState.FAILED, RunState.TIMED_OUT, RunState.LOST)


class RunQuerySet(AuditedQuerySet):
    def waiting(self, now):
        """Queued or deferred runs not yet handed to a worker whose ``not_before`` has passed
        (NULL = at once)."""
        return self.filter(state__in=WAITING_STATES, dispatched_at__isnull=True).filter(
            models.Q(not_before__isnull=True) | models.Q(not_before__lte=now)
        )

    def occupying_slots(self):
        """Runs holding a worker: running, or handed to the broker and not yet claimed."""
        return self.filter(
            models.Q(state=RunState.RUNNING)
            | models.Q(state=RunState.QUEUED, dispatched_at__isnull=False)
        )

    def overdue(self, now):
        """Running runs past their deadline (started_at + max_duration)."""
        return self.filter(state=RunState.RUNNING, deadline__lt=now)

    def silent(self, now):
        """Running runs whose lease (renewed by the heartbeat) has run out."""
        return self.filter(state=RunState.RUNNING, lease_until__lt=now)


class Run(models.Model):
    """One attempt at one occurrence. State changes only through ``maintenance.runs``."""

    occurrence = models.ForeignKey(Occurrence, on_delete=models.CASCADE, related_name="runs")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    state = models.CharField(max_length=12, choices=RunState.choices, default=RunState.QUEUED)
    attempt = models.PositiveSmallIntegerField(default=1)
    retry_of = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retry"
    )
    priority = models.SmallIntegerField(default=5)
    not_before = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    fencing_token = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    summary = models.TextField(blank=True)
    log = models.TextField(blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # Runner's resumable state (e.g. data cleanup's frozen cutoff); copied into retries.
    checkpoint = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    worker = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=utcnow)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # Dispatcher: Run.objects.waiting(now) by priority; slot count.
            models.Index(fields=["state", "priority", "created_at"], name="run_state_priority"),
            # Reaper: overdue(now) and silent(now).
            models.Index(fields=["state", "deadline"], name="run_deadline"),
            models.Index(fields=["state", "lease_until"], name="run_lease"),
            # Job page history and the list's last run.
            models.Index(fields=["job", "-created_at"], name="run_job_recent"),
        ]

    def __str__(self) -> str:
        return f"run #{self.pk} of {self.job_id} ({self.state})"

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def actor_label(self) -> str:
        if self.requested_by_id:
            return self.requested_by.get_username()
        return "scheduler"

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


class DispatchLock(models.Model):
    """One row: dispatchers lock it so slot counting and hand-out are serialised.

    ``held_by`` / ``at``: the process that last handed runs to workers, and when.
    """

    held_by = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return "maintenance dispatch lock"


class Window(models.Model):
    """A maintenance window: when work may (allow) or must not (blackout) happen.

    Recurrence is a cron expression for when it opens, or weekdays + a local start time; both
    last ``duration`` and are evaluated in ``timezone``.
    """

    class Kind(models.TextChoices):
        ALLOW = "allow", "Allow"
        BLACKOUT = "blackout", "Blackout"

    class Scope(models.TextChoices):
        ALL = "all", "All jobs"
        JOB_TYPE = "job_type", "One job type"
        APP = "app", "One app"

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ALLOW)
    schedule = models.CharField(
        max_length=200, blank=True, help_text="Cron expression for when it opens."
    )
    weekdays = models.JSONField(
        default=list, blank=True, help_text="0 = Monday … 6 = Sunday (used without a cron)."
    )
    start_time = models.TimeField(null=True, blank=True)
    duration = models.DurationField(default=timedelta(hours=2))
    timezone = models.CharField(max_length=64, default="UTC")
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.ALL)
    job_type = models.CharField(max_length=50, blank=True)
    app = models.ForeignKey(
        "releases.App", on_delete=models.CASCADE, null=True, blank=True, related_name="windows"
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=utcnow)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def applies_to(self, job: Job) -> bool:
        if self.scope == self.Scope.ALL:
            return True
        if self.scope == self.Scope.JOB_TYPE:
            return self.job_type == job.job_type
        return self.app_id is not None and self.app_id == job.app_id


class MaintenancePlan(models.Model):
    """A graph of jobs run together in dependency order, at most ``max_parallel`` at once."""

    name = models.SlugField(max_length=100, unique=True)
    jobs = models.ManyToManyField(Job, related_name="plans")
    max_parallel = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(default=utcnow)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Cadence(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    NONE = "none", "On demand"


class ChecklistTemplate(models.Model):
    """A list of things people check by hand, recurring on its cadence."""

    name = models.CharField(max_length=200, unique=True)
    cadence = models.CharField(max_length=10, choices=Cadence.choices, default=Cadence.WEEKLY)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    items = models.JSONField(default=list, help_text="The lines of the list, in order.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=utcnow)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Checklist(models.Model):
    """One instance of a template for one period (unique: the recurrence creates it once)."""

    template = models.ForeignKey(
        ChecklistTemplate, on_delete=models.CASCADE, related_name="instances"
    )
    title = models.CharField(max_length=250)
    period_start = models.DateField()
    due_on = models.DateField()
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="maintenance_checklists",
    )
    created_at = models.DateTimeField(default=utcnow)

    class Meta:
        ordering = ["-period_start", "title"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "period_start"], name="checklist_once_per_period"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ChecklistItem(models.Model):
    checklist = models.ForeignKey(Checklist, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    text = models.CharField(max_length=300)
    ticked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    ticked_at = models.DateTimeField(null=True, blank=True)
    evidence = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.text
