"""Release health for the pages: per-version figures, vitals ratings and chart series.

Reads rollups only (never raw events), so a page costs the same with a thousand events or
millions. Rates with no denominator are None and shown as "no data", never as 0 % or 100 %.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import TruncHour

from monitoring import histogram
from monitoring.models import Install, Rollup, RollupBucket
from releases.versioning import newest_first

# MAINTENANCE.md: (good <=, poor >) per vital; a value on a boundary gets the better rating.
VITAL_THRESHOLDS: dict[str, tuple[float, float]] = {
    "LCP": (2500, 4000),
    "INP": (200, 500),
    "CLS": (0.1, 0.25),
    "FCP": (1800, 3000),
    "TTFB": (800, 1800),
}
VITALS = tuple(VITAL_THRESHOLDS)
DEVICES = (("mobile", "Mobile"), ("desktop", "Desktop"), ("", "Unknown device"))
GOOD, NEEDS_IMPROVEMENT, POOR = "good", "needs improvement", "poor"
RATING_TONES = {GOOD: "ok", NEEDS_IMPROVEMENT: "warn", POOR: "bad"}

# Window (hours) -> chart step. Steps of an hour or more are summed by SQL per hour.
WINDOWS: dict[int, timedelta] = {
    1: timedelta(minutes=5),
    6: timedelta(minutes=15),
    24: timedelta(hours=1),
    168: timedelta(hours=6),
}
DEFAULT_WINDOW = 24
CHART_VERSIONS = 4  # the versions with the most launches get a line each


def rate(name: str, value: float | None) -> str | None:
    """good / needs improvement / poor for a p75 value; None without a value."""
    if value is None:
        return None
    good, poor = VITAL_THRESHOLDS[name]
    if value <= good:
        return GOOD
    if value <= poor:
        return NEEDS_IMPROVEMENT
    return POOR


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator > 0 else None


@dataclass
class VersionHealth:
    version: str
    installs: int = 0  # ever seen on this version (exposure)
    active: int = 0  # sent a batch on this version within the window
    crashed: int = 0  # ever reported a crash on this version
    adoption: float | None = None  # share of the channel's active installs
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    api_errors: int = 0
    vitals: dict[tuple[str, str], dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )

    @property
    def launches(self) -> int:
        return self.counts["launch"]

    @property
    def crash_free(self) -> float | None:
        crashes = min(self.counts["crash"], self.launches)
        share = ratio(crashes, self.launches)
        return None if share is None else 1 - share

    @property
    def crash_free_users(self) -> float | None:
        share = ratio(self.crashed, self.installs)
        return None if share is None else 1 - share

    @property
    def error_rate(self) -> float | None:
        return ratio(self.counts["error"], self.launches)

    @property
    def install_failures(self) -> int:
        return self.counts["install_failed"]

    @property
    def install_failure_rate(self) -> float | None:
        return ratio(self.install_failures, self.counts["install_ok"] + self.install_failures)

    @property
    def api_error_rate(self) -> float | None:
        return ratio(self.api_errors, self.counts["api"])

    def vital_cells(self) -> list[dict]:
        """Per device (mobile, desktop, unknown) and vital: p75, samples and rating."""
        rows = []
        for device, label in DEVICES:
            cells = []
            for name in VITALS:
                hist = self.vitals.get((name, device), {})
                p75 = histogram.percentile(hist.items(), 0.75)
                rating = rate(name, p75)
                cells.append(
                    {
                        "name": name,
                        "p75": p75,
                        "samples": sum(c for c in hist.values() if c > 0),
                        "rating": rating,
                        "tone": RATING_TONES.get(rating, "unknown"),
                        "unit": "" if name == "CLS" else "ms",
                    }
                )
            if any(c["samples"] for c in cells):
                rows.append({"device": label, "cells": cells})
        return rows


def channel_versions(channel, start: datetime, end: datetime) -> list[VersionHealth]:
    """Every version with telemetry on ``channel`` in [start, end), newest version first.

    ``installs`` and crash-free users count every install ever seen on the version (Sentry's
    "users"); ``active`` and ``adoption`` only those that sent a batch within the window.
    """
    versions: dict[str, VersionHealth] = {}

    def get(v: str) -> VersionHealth:
        if v not in versions:
            versions[v] = VersionHealth(v)
        return versions[v]

    where = {"channel": channel, "minute__gte": start, "minute__lt": end}
    for version, metric, n, errors in (
        Rollup.objects.filter(**where)
        .values_list("version", "metric")
        .annotate(n=Sum("count"), e=Sum("errors"))
        .order_by()
    ):
        health = get(version)
        health.counts[metric] += n or 0
        if metric == "api":
            health.api_errors += errors or 0
    for version, metric, device, bucket, n in (
        RollupBucket.objects.filter(metric__in=VITALS, **where)
        .values_list("version", "metric", "device", "bucket")
        .annotate(n=Sum("count"))
        .order_by()
    ):
        if n:
            get(version).vitals[(metric, device)][bucket] += n
    for version, n, active, crashed in (
        Install.objects.filter(channel=channel, version__in=list(versions))
        .values_list("version")
        .annotate(
            n=Count("pk"),
            active=Count("pk", filter=Q(last_seen__gte=start, last_seen__lt=end)),
            crashed=Count("pk", filter=Q(crashed_at__isnull=False)),
        )
        .order_by()
    ):
        health = versions[version]
        health.installs, health.active, health.crashed = n, active, crashed
    total_active = sum(v.active for v in versions.values())
    for health in versions.values():
        health.adoption = ratio(health.active, total_active)
    return newest_first(versions.values())


def _steps(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    points, t = [], start
    while t < end:
        points.append(t)
        t += step
    return points


def chart_series(
    channel, versions: list[VersionHealth], start: datetime, end: datetime, step: timedelta
) -> dict[str, list]:
    """Time series per charted version: launches, crash-free rate, API error rate, p75 LCP.

    Returns {chart key: [(version, [(t, value or None), ...]), ...]}. Points without data are
    None (a gap in the line), never 0.
    """
    charted = [v.version for v in sorted(versions, key=lambda v: -v.launches)[:CHART_VERSIONS]]
    steps = _steps(start, end, step)
    if not charted:
        return {}
    hourly = step >= timedelta(hours=1)
    where = {"channel": channel, "version__in": charted, "minute__gte": start, "minute__lt": end}
    time_field = TruncHour("minute") if hourly else None

    def slot(moment: datetime) -> datetime:
        index = int((moment - start) / step)
        return steps[min(max(index, 0), len(steps) - 1)]

    counters: dict[tuple[str, datetime, str], list[int]] = defaultdict(lambda: [0, 0])
    rollups = Rollup.objects.filter(metric__in=["launch", "crash", "api"], **where)
    rows = (
        rollups.annotate(t=time_field).values_list("version", "t", "metric")
        if hourly
        else rollups.values_list("version", "minute", "metric")
    )
    for version, t, metric, n, errors in rows.annotate(n=Sum("count"), e=Sum("errors")).order_by():
        cell = counters[(version, slot(t), metric)]
        cell[0] += n or 0
        cell[1] += errors or 0
    lcp: dict[tuple[str, datetime], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    buckets = RollupBucket.objects.filter(metric="LCP", **where)
    bucket_rows = (
        buckets.annotate(t=time_field).values_list("version", "t", "bucket")
        if hourly
        else buckets.values_list("version", "minute", "bucket")
    )
    for version, t, bucket, n in bucket_rows.annotate(n=Sum("count")).order_by():
        if n:
            lcp[(version, slot(t))][bucket] += n

    def series(value_of) -> list:
        return [(v, [(t, value_of(v, t)) for t in steps]) for v in charted]

    def crash_free(v, t):
        launches = counters[(v, t, "launch")][0]
        if not launches:
            return None
        return 100 * (1 - min(counters[(v, t, "crash")][0], launches) / launches)

    def api_errors(v, t):
        calls, errors = counters[(v, t, "api")]
        return 100 * errors / calls if calls else None

    return {
        "launches": series(lambda v, t: counters[(v, t, "launch")][0]),
        "crash_free": series(crash_free),
        "api_error_rate": series(api_errors),
        "lcp_p75": series(lambda v, t: histogram.percentile(lcp[(v, t)].items(), 0.75)),
    }


@dataclass
class ChannelSummary:
    channel: object
    versions: int
    installs: int
    launches: int
    crashes: int
    last_minute: datetime | None

    @property
    def crash_free(self) -> float | None:
        share = ratio(min(self.crashes, self.launches), self.launches)
        return None if share is None else 1 - share


def channels_with_data(since: datetime) -> list[ChannelSummary]:
    """Channels with any install seen, with their launches and crashes since ``since``."""
    from releases.models import Channel

    installs = {
        cid: (n, versions)
        for cid, n, versions in Install.objects.values_list("channel")
        .annotate(n=Count("pk"), versions=Count("version", distinct=True))
        .order_by()
    }
    if not installs:
        return []
    recent: dict[int, dict] = defaultdict(lambda: {"launch": 0, "crash": 0, "last": None})
    for cid, metric, n, last in (
        Rollup.objects.filter(minute__gte=since, metric__in=["launch", "crash"])
        .values_list("channel", "metric")
        .annotate(n=Sum("count"), last=Max("minute"))
        .order_by()
    ):
        recent[cid][metric] = n or 0
        if recent[cid]["last"] is None or (last and last > recent[cid]["last"]):
            recent[cid]["last"] = last
    channels = Channel.objects.filter(pk__in=list(installs)).select_related("app")
    return [
        ChannelSummary(
            channel=c,
            versions=installs[c.pk][1],
            installs=installs[c.pk][0],
            launches=recent[c.pk]["launch"],
            crashes=recent[c.pk]["crash"],
            last_minute=recent[c.pk]["last"],
        )
        for c in channels
    ]
