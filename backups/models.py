"""Sources, backups, restores, verification runs and the per-source lease.

Every state change goes through ``audit.trail.transition`` (compare-and-set plus an audit row),
from ``backups/actions.py`` and ``backups/jobs.py``; the managers refuse bulk updates.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.models import AuditedQuerySet


class SourceQuerySet(AuditedQuerySet):
    def with_latest(self) -> SourceQuerySet:
        return self.select_related("app")


class Source(models.Model):
    class Kind(models.TextChoices):
        SQLITE = "sqlite", "SQLite database file"
        POSTGRES = "postgres", "PostgreSQL database"
        DIRECTORY = "directory", "Directory tree"

    name = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # A path, or for PostgreSQL the DSN with its password masked; the full DSN is only in
    # ``dsn_sealed`` (ChaCha20-Poly1305 with a key from the environment), never shown again.
    location = models.CharField(max_length=500)
    dsn_sealed = models.BinaryField(null=True, blank=True, editable=False)
    # Null: the source belongs to the console itself.
    app = models.ForeignKey(
        "releases.App",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="backup_sources",
    )
    production = models.BooleanField(
        default=False, help_text="Restores onto this source need a second person's approval."
    )
    # Where this source's repository lives; empty = DATA_DIR/backups/repos/<name>.
    repository = models.CharField(max_length=500, blank=True)

    # Retention (GFS). Zero means "this rule keeps nothing"; all zero keeps everything.
    keep_last = models.PositiveIntegerField(default=3)
    keep_hourly = models.PositiveIntegerField(default=0)
    keep_daily = models.PositiveIntegerField(default=7)
    keep_weekly = models.PositiveIntegerField(default=4)
    keep_monthly = models.PositiveIntegerField(default=6)
    keep_yearly = models.PositiveIntegerField(default=0)
    keep_within = models.DurationField(null=True, blank=True)
    min_backups = models.PositiveIntegerField(default=1, help_text="Never fewer than this.")
    retention_tz = models.CharField(max_length=64, default="UTC")

    # A simple schedule until maintenance automation drives it: every N hours, this type.
    schedule_hours = models.PositiveIntegerField(null=True, blank=True)
    schedule_type = models.CharField(max_length=12, default="incremental")
    next_run_at = models.DateTimeField(null=True, blank=True)

    # Restore drills every N hours (empty: only by hand or by maintenance automation).
    drill_hours = models.PositiveIntegerField(null=True, blank=True)
    next_drill_at = models.DateTimeField(null=True, blank=True)
    last_drill_at = models.DateTimeField(null=True, blank=True)
    last_drill_ok = models.BooleanField(null=True)
    last_drill_detail = models.TextField(blank=True)
    proven_restorable_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = SourceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def repository_path(self):
        from pathlib import Path

        if self.repository:
            return Path(self.repository)
        return Path(settings.DATA_DIR) / "backups" / "repos" / self.name

    def retention_policy(self):
        from backups.retention import Policy

        return Policy(
            last=self.keep_last,
            hourly=self.keep_hourly,
            daily=self.keep_daily,
            weekly=self.keep_weekly,
            monthly=self.keep_monthly,
            yearly=self.keep_yearly,
            within=self.keep_within,
            floor=self.min_backups,
            tz=self.retention_tz,
        )


class BackupQuerySet(AuditedQuerySet):
    def complete(self) -> BackupQuerySet:
        return self.filter(status=Backup.Status.COMPLETE)

    def latest_complete(self, source) -> Backup | None:
        """The newest complete backup of ``source`` (by finish time), or None."""
        return self.complete().filter(source=source).order_by("-finished_at", "-pk").first()


class Backup(models.Model):
    class Type(models.TextChoices):
        FULL = "full", "Full"
        DIFFERENTIAL = "differential", "Differential"
        INCREMENTAL = "incremental", "Incremental"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        DELETED = "deleted", "Deleted by retention"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "By hand"
        SCHEDULE = "schedule", "Schedule"
        PRE_RESTORE = "pre_restore", "Before a restore"
        COMMAND = "command", "Command line"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="backups")
    type = models.CharField(max_length=12, choices=Type.choices, default=Type.FULL)
    requested_type = models.CharField(max_length=12, choices=Type.choices, default=Type.FULL)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=12, choices=Trigger.choices, default=Trigger.MANUAL)
    # For a pre-restore backup of a target other than the source's own location.
    location = models.CharField(max_length=500, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    fence = models.BigIntegerField(default=0)  # lease token of the worker that owns the run
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    pinned = models.BooleanField(default=False)

    # Statistics (set when complete).
    source_bytes = models.BigIntegerField(default=0)
    new_bytes = models.BigIntegerField(default=0)
    files = models.PositiveIntegerField(default=0)
    objects_total = models.PositiveIntegerField(default=0)
    objects_new = models.PositiveIntegerField(default=0)
    duration_seconds = models.FloatField(null=True, blank=True)

    # Progress (updated about twice a second while running).
    bytes_read = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    files_done = models.PositiveIntegerField(default=0)
    rate_bps = models.FloatField(default=0)
    eta_seconds = models.FloatField(null=True, blank=True)

    # Verification: each level has its own time; a structural check never sets data_verified_at.
    structure_verified_at = models.DateTimeField(null=True, blank=True)
    data_verified_at = models.DateTimeField(null=True, blank=True)
    verify_problem = models.TextField(blank=True)

    objects = BackupQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # latest_complete(source) and the retention scan
            models.Index(fields=["source", "status", "finished_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.source.name} #{self.pk} ({self.type})"

    @property
    def manifest_name(self) -> str:
        return str(self.uuid)

    @property
    def dedup_ratio(self) -> float | None:
        if not self.source_bytes:
            return None
        return self.source_bytes / max(self.new_bytes, 1)

    @property
    def throughput(self) -> float | None:
        if not self.duration_seconds:
            return None
        return self.source_bytes / self.duration_seconds

    @property
    def percent(self) -> int:
        if self.status == self.Status.COMPLETE:
            return 100
        if not self.bytes_total:
            return 0
        return min(99, int(100 * self.bytes_read / self.bytes_total))

    @property
    def is_done(self) -> bool:
        return self.status not in (self.Status.QUEUED, self.Status.RUNNING)


class Restore(models.Model):
    class Status(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        ROLLED_BACK = "rolled_back", "Rolled back (target untouched)"
        DENIED = "denied", "Denied"

    backup = models.ForeignKey(Backup, on_delete=models.PROTECT, related_name="restores")
    target = models.CharField(max_length=500, help_text="Path, or PostgreSQL DSN/database")
    target_is_source = models.BooleanField(default=False)
    drill = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    pre_restore_backup = models.ForeignKey(
        Backup, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    change_request = models.ForeignKey(
        "audit.ChangeRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    fence = models.BigIntegerField(default=0)
    step = models.CharField(max_length=80, blank=True)
    fraction = models.FloatField(default=0)
    error = models.TextField(blank=True)
    checks = models.JSONField(default=dict, blank=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"restore #{self.pk} of backup #{self.backup_id}"

    @property
    def is_done(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.ROLLED_BACK, self.Status.DENIED)

    @property
    def percent(self) -> int:
        return 100 if self.status == self.Status.SUCCEEDED else int(self.fraction * 100)


class VerifyRun(models.Model):
    """One verification pass over a source's repository: structural, or data in slice k/t.

    A data run records the packs it has finished in ``packs_done`` as it goes, so a run that was
    interrupted resumes where it stopped instead of starting over.
    """

    class Level(models.TextChoices):
        STRUCTURE = "structure", "Structure"
        DATA = "data", "Data"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Problems found"
        ERROR = "error", "Could not run"

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="verify_runs")
    backup = models.ForeignKey(
        Backup, null=True, blank=True, on_delete=models.SET_NULL, related_name="verify_runs"
    )
    level = models.CharField(max_length=10, choices=Level.choices)
    slice_k = models.PositiveIntegerField(default=1)
    slice_t = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    packs_total = models.PositiveIntegerField(default=0)
    packs_done = models.JSONField(default=list, blank=True)
    objects_checked = models.PositiveIntegerField(default=0)
    problems = models.JSONField(
        default=list, blank=True
    )  # [{object, problem, pack, backups, paths}]
    error = models.TextField(blank=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        part = f" {self.slice_k}/{self.slice_t}" if self.slice_t > 1 else ""
        return f"{self.level} verification{part} of {self.source}"


class Lease(models.Model):
    """One job per source at a time. ``token`` grows with every grant (a fencing token): a worker
    whose token is no longer current lost the lease and may not commit anything."""

    source = models.OneToOneField(
        Source, on_delete=models.CASCADE, primary_key=True, related_name="lease"
    )
    token = models.BigIntegerField(default=0)
    holder = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    TTL = timedelta(seconds=60)

    def __str__(self) -> str:
        return f"lease on {self.source_id}: {self.holder or 'free'}"


class RetentionRun(models.Model):
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="retention_runs")
    at = models.DateTimeField(default=timezone.now)
    dry_run = models.BooleanField(default=False)
    decisions = models.JSONField(default=list)  # [{backup, keep, reasons}]
    removed = models.PositiveIntegerField(default=0)
    bytes_freed = models.BigIntegerField(default=0)
    packs_removed = models.PositiveIntegerField(default=0)
    packs_rewritten = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"retention of {self.source} at {self.at:%Y-%m-%d %H:%M}"
