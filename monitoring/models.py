"""Telemetry storage: raw events, per-minute rollups, histogram buckets, exposure.

Everything is keyed by ``releases.Channel`` and the version string clients report (not by a
``Release`` row): telemetry may arrive for versions the console never published (a sideloaded
build) and must still be counted. Rollups and buckets are only ever changed by adding deltas in
``monitoring.rollups`` (one upsert statement per table per batch), never by read-modify-write.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from releases.models import Channel


class EventType(models.TextChoices):
    LAUNCH = "launch", "Launch (a session start)"
    CRASH = "crash", "Crash"
    ERROR = "error", "Error"
    INSTALL_OK = "install_ok", "Install succeeded"
    INSTALL_FAILED = "install_failed", "Install failed"
    ROLLED_BACK = "rolled_back", "Rolled back"
    VITAL = "vital", "Web vital"
    API = "api", "API call"


class Device(models.TextChoices):
    UNKNOWN = "", "Unknown"
    MOBILE = "mobile", "Mobile"
    DESKTOP = "desktop", "Desktop"


class Event(models.Model):
    """One raw client event, kept for ``retention.RAW_EVENT_RETENTION_DAYS`` days.

    Minimal columns and no foreign-key index beyond what pruning and drill-down need: the ingest
    path inserts hundreds of these per request.
    """

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    version = models.CharField(max_length=100)
    install_id = models.CharField(max_length=64)
    type = models.CharField(max_length=16, choices=EventType.choices)
    name = models.CharField(max_length=100, blank=True)
    value = models.FloatField(null=True)
    status = models.SmallIntegerField(null=True)  # HTTP status of an ``api`` event
    device = models.CharField(max_length=8, choices=Device.choices, blank=True)
    route = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField()  # client time (received time when the client sent none)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # retention.prune_events: "received_at < cutoff ORDER BY received_at LIMIT n".
            models.Index(fields=["received_at"], name="monitoring_event_received"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.version} {self.install_id}"


class Rollup(models.Model):
    """Counters for one (channel, version, minute, metric, device).

    ``metric`` is an event type (``launch``, ``crash``, ``error``, ``install_ok``,
    ``install_failed``, ``rolled_back``, ``api``) or a vital name (``LCP``, ``INP``, ``CLS``,
    ``FCP``, ``TTFB``). ``count`` is the number of events (for a vital: of distinct metric ids, the
    last value of each), ``total`` the sum of their values, ``errors`` the API calls answered with
    status >= 500 or 0 (network failure); zero for every other metric.
    """

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    version = models.CharField(max_length=100)
    metric = models.CharField(max_length=16)
    minute = models.DateTimeField()
    device = models.CharField(max_length=8, blank=True)
    count = models.BigIntegerField(default=0)
    total = models.FloatField(default=0.0)
    errors = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # The upsert's conflict target, and the index of every analysis read:
            # "channel = ? AND version IN (?, ?) AND metric IN (...) AND minute >= ? AND < ?".
            models.UniqueConstraint(
                fields=["channel", "version", "metric", "minute", "device"],
                name="monitoring_rollup_key",
            )
        ]
        indexes = [
            # The health pages: every version of a channel over a time range.
            models.Index(fields=["channel", "minute"], name="monitoring_rollup_time"),
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.version} {self.minute:%Y-%m-%d %H:%M}"


class RollupBucket(models.Model):
    """How many values of a latency-like metric fell into one histogram bucket in one minute.

    The bucket scheme is in ``monitoring.histogram``. One row per non-empty bucket keeps upserts
    simple counters (correct under concurrency) and lets SQL sum a window's histogram.
    """

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    version = models.CharField(max_length=100)
    metric = models.CharField(max_length=16)
    minute = models.DateTimeField()
    device = models.CharField(max_length=8, blank=True)
    bucket = models.SmallIntegerField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # Conflict target and the index of "histogram of metric M for version V in a window".
            models.UniqueConstraint(
                fields=["channel", "version", "metric", "minute", "device", "bucket"],
                name="monitoring_bucket_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.version} {self.minute:%Y-%m-%d %H:%M} #{self.bucket}"


class VitalLast(models.Model):
    """The last value seen for one web-vitals metric id of one install.

    CLS and INP are updated during a page's life and reported again with the same id: a later
    report replaces the earlier one in the rollups (its old contribution is subtracted).
    """

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    install_id = models.CharField(max_length=64)
    name = models.CharField(max_length=8)
    metric_id = models.CharField(max_length=64)
    # NULL only between the placeholder insert and the update in the same ingest transaction.
    value = models.FloatField(null=True)
    version = models.CharField(max_length=100)
    minute = models.DateTimeField()
    device = models.CharField(max_length=8, blank=True)
    bucket = models.SmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "install_id", "name", "metric_id"],
                name="monitoring_vital_last_key",
            )
        ]
        indexes = [
            # retention.prune_events drops entries older than the accepted timestamp window.
            models.Index(fields=["minute"], name="monitoring_vital_last_minute"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.metric_id} = {self.value}"


class Install(models.Model):
    """An install seen running a version on a channel: realised exposure counts these rows.

    ``last_seen`` is the latest batch received from it on that version (adoption: installs
    active in a window), ``crashed_at`` the first batch that reported a crash on it (crash-free
    users: installs on the version that never reported one).
    """

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    version = models.CharField(max_length=100)
    install_id = models.CharField(max_length=64)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    crashed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "version", "install_id"], name="monitoring_install_key"
            )
        ]
        indexes = [
            # health.channel_versions: installs active on a channel since a moment, per version.
            models.Index(fields=["channel", "last_seen"], name="monitoring_install_active"),
        ]

    def __str__(self) -> str:
        return f"{self.install_id} on {self.version}"
