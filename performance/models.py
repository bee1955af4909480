"""Stored results of the performance and resource optimisers.

``Baseline`` is a snapshot of one release's field data and health on one channel (taken by the
``performance_analysis`` maintenance job or on demand), compared with the previous release's
baseline when it is taken. ``BundleReport`` holds the measured savings for one bundle (keyed by
its SHA-256: a rollback release serving the same bundle shares the report). ``Candidate`` links
an optimised candidate release to the release it was built from. All three are written only by
``performance.baselines`` / ``performance.resources``, each with an audit row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.models import AuditedQuerySet
from releases.models import Channel, Release


class BaselineQuerySet(AuditedQuerySet):
    def for_channel(self, channel: Channel) -> BaselineQuerySet:
        """Every baseline of ``channel``, newest snapshot first."""
        return self.filter(channel=channel).order_by("-taken_at", "-pk")

    def latest_per_version(self, channel: Channel) -> dict[str, Baseline]:
        """version -> its newest baseline on ``channel`` (versions without one are absent)."""
        latest: dict[str, Baseline] = {}
        for baseline in self.for_channel(channel).select_related("previous"):
            latest.setdefault(baseline.version, baseline)
        return latest


class Baseline(models.Model):
    class Source(models.TextChoices):
        JOB = "job", "Maintenance job"
        MANUAL = "manual", "On demand"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    # Telemetry is keyed by the version string; the release row is kept when it exists.
    version = models.CharField(max_length=100)
    release = models.ForeignKey(
        Release, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    taken_at = models.DateTimeField(default=timezone.now)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    source = models.CharField(max_length=10, choices=Source.choices)
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    run_id = models.PositiveBigIntegerField(null=True, blank=True)  # maintenance.Run pk
    # performance.fielddata.FieldData.as_dict(): vitals per device, API, health.
    data = models.JSONField(default=dict)
    # The baseline this one was compared with (the previous release's, same channel) or NULL.
    previous = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # performance.baselines.compare(): [{"metric", "device", "before", "after", ...}]
    regressions = models.JSONField(default=list, blank=True)

    objects = BaselineQuerySet.as_manager()

    class Meta:
        indexes = [
            # for_channel / latest_per_version: "channel = ? ORDER BY taken_at DESC".
            models.Index(fields=["channel", "taken_at"], name="performance_baseline_time"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.version} baseline {self.taken_at:%Y-%m-%d %H:%M}"


class BundleReport(models.Model):
    """Measured savings for one bundle: ``recommendations`` as performance.resources builds them."""

    bundle_sha256 = models.CharField(max_length=64, unique=True)
    measured_at = models.DateTimeField(default=timezone.now)
    recommendations = models.JSONField(default=list)
    totals = models.JSONField(default=dict)  # {"auto_raw", "auto_gzip", "all_raw", "files"}

    objects = AuditedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"bundle {self.bundle_sha256[:12]} measured {self.measured_at:%Y-%m-%d %H:%M}"


class Candidate(models.Model):
    """An optimised bundle published as a new (unrolled) release built from ``source``."""

    source = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="+")
    release = models.OneToOneField(Release, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    applied = models.JSONField(default=list)  # [{"path", "action", "before", "after"}]

    objects = AuditedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.release.version} (optimised {self.source.version})"
