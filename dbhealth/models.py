"""Reports of database analysis, daily index-usage snapshots and the upkeep actions taken.

A *target* is a key: ``console`` for the console's own database (the default connection), or
the name of a PostgreSQL / SQLite backup source registered in the backups app.
Reports and actions change only through ``dbhealth.analysis`` and ``dbhealth.actions``, which
write their audit rows in the same transaction; the managers refuse bulk updates.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.models import AuditedQuerySet


class ReportQuerySet(AuditedQuerySet):
    def for_target(self, target: str) -> ReportQuerySet:
        """Newest first."""
        return self.filter(target=target).order_by("-started_at", "-pk")


class Report(models.Model):
    class Status(models.TextChoices):
        COMPLETE = "complete", "Complete"
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"

    target = models.CharField(max_length=80)
    target_label = models.CharField(max_length=200)
    vendor = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # [{"check": "bloat", "reason": "..."}]: what this report did not look at, and why.
    skipped = models.JSONField(default=list, blank=True)
    # The findings as the analysis produced them (indexes, tables, hints, integrity, space).
    findings = models.JSONField(default=dict, blank=True)
    # {"unused": n, "duplicate": n, "invalid": n, "bloated": n, "stale": n, "hints": n, ...}
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    run_ref = models.CharField(max_length=100, blank=True)

    objects = ReportQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-pk"]
        # The target page and the dashboard read the newest report per target.
        indexes = [models.Index(fields=["target", "-started_at"], name="dbhealth_report_latest")]

    def __str__(self) -> str:
        return f"{self.target_label} {self.started_at:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def problems(self) -> int:
        c = self.counts or {}
        keys = ("unused", "duplicate", "invalid", "bloated", "stale", "integrity_errors")
        return sum(int(c.get(k, 0)) for k in keys)


class IndexSnapshot(models.Model):
    """``idx_scan`` of one PostgreSQL index, the first reading of a UTC day.

    Usage over a window is today's reading minus the one ``window_days`` ago; a reading lower
    than an older one means the statistics were reset in between (the window restarts there).
    """

    target = models.CharField(max_length=80)
    taken_on = models.DateField()
    schema = models.CharField(max_length=128)
    table = models.CharField(max_length=128)
    index = models.CharField(max_length=128)
    idx_scan = models.BigIntegerField()
    taken_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["target", "schema", "index", "taken_on"], name="dbhealth_snapshot_daily"
            )
        ]

    def __str__(self) -> str:
        return f"{self.target} {self.schema}.{self.index} {self.taken_on}: {self.idx_scan}"


class ActionQuerySet(AuditedQuerySet):
    def for_target(self, target: str) -> ActionQuerySet:
        return self.filter(target=target).order_by("-created_at", "-pk")

    def open(self) -> ActionQuerySet:
        return self.filter(status__in=[Action.Status.QUEUED, Action.Status.RUNNING])


class Action(models.Model):
    class Kind(models.TextChoices):
        ANALYSE = "analyse", "Analyse"
        REINDEX = "reindex", "REINDEX CONCURRENTLY"
        ANALYZE_TABLE = "analyze_table", "ANALYZE table"
        DROP_INDEX = "drop_index", "DROP INDEX CONCURRENTLY"
        RECREATE_INDEX = "recreate_index", "Recreate index"
        CLEAN_LEFTOVER = "clean_leftover", "Drop REINDEX leftover"
        OPTIMIZE = "optimize", "PRAGMA optimize"
        VACUUM = "vacuum", "VACUUM"

    class Status(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        DENIED = "denied", "Not approved"
        LOST = "lost", "Lost (its worker stopped)"

    target = models.CharField(max_length=80)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    schema = models.CharField(max_length=128, blank=True)
    table = models.CharField(max_length=128, blank=True)
    index = models.CharField(max_length=128, blank=True)
    # pg_get_indexdef (or sqlite_master.sql) as it was when the action was asked for: a dropped
    # index is recreated from exactly this text.
    definition = models.TextField(blank=True)
    reason = models.TextField(blank=True)
    detail = models.TextField(blank=True)
    old_oid = models.BigIntegerField(null=True, blank=True)
    new_oid = models.BigIntegerField(null=True, blank=True)
    size_before = models.BigIntegerField(null=True, blank=True)
    size_after = models.BigIntegerField(null=True, blank=True)
    recreates = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="recreated_by"
    )
    change_request = models.ForeignKey(
        "audit.ChangeRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    report = models.ForeignKey(
        Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # Renewed by the running worker; a running action whose heartbeat is older than the lease is
    # recorded lost by dbhealth.actions.reap_lost (a killed worker must not leave "running").
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ActionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        what = f" {self.schema}.{self.index or self.table}" if (self.index or self.table) else ""
        return f"{self.get_kind_display()}{what} on {self.target}"

    @property
    def qualified(self) -> str:
        name = self.index or self.table
        return f"{self.schema}.{name}" if self.schema else name
