"""Field data per release and channel: p75 web vitals per device class, API latency, health.

Reads monitoring's rollups and histogram buckets (never raw events), so it covers any span the
rollups hold. Percentiles come from ``monitoring.histogram`` and carry its 2 % error; ratings
use MAINTENANCE.md's thresholds (``monitoring.health.VITAL_THRESHOLDS``). Fewer than
``min_samples()`` values give "not enough data", never a rating.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Sum

from monitoring import health, histogram
from monitoring.models import Rollup, RollupBucket

VITALS = health.VITALS
THRESHOLDS = health.VITAL_THRESHOLDS
DEVICES = (("mobile", "Mobile"), ("desktop", "Desktop"))
GOOD, NEEDS_IMPROVEMENT, POOR = health.GOOD, health.NEEDS_IMPROVEMENT, health.POOR
NOT_ENOUGH = "not enough data"
RANK = {GOOD: 0, NEEDS_IMPROVEMENT: 1, POOR: 2}
TONES = {GOOD: "ok", NEEDS_IMPROVEMENT: "warn", POOR: "bad", NOT_ENOUGH: "unknown"}
DEFAULT_MIN_SAMPLES = 30


def min_samples() -> int:
    """Values needed before a p75 is rated (setting ``PERFORMANCE_MIN_SAMPLES``, default 30)."""
    return int(getattr(settings, "PERFORMANCE_MIN_SAMPLES", DEFAULT_MIN_SAMPLES))


def rate(name: str, value: float) -> str:
    """The rating of an exact value: good ≤ first threshold < needs improvement ≤ second < poor."""
    good, poor = THRESHOLDS[name]
    if value <= good:
        return GOOD
    if value <= poor:
        return NEEDS_IMPROVEMENT
    return POOR


def rate_bucket(name: str, bucket: int) -> str:
    """The rating of a p75 known only as a histogram bucket ``(low, high]``.

    When a threshold falls inside the bucket the true p75 may lie on either side of it; it is
    then indistinguishable from the boundary at the histogram's resolution and, as a value on
    the boundary does, gets the better rating. Otherwise this equals ``rate`` of any value in
    the bucket.
    """
    if bucket == histogram.ZERO_BUCKET:
        return GOOD
    low = histogram.GAMMA ** (bucket - 1)
    good, poor = THRESHOLDS[name]
    if low < good:
        return GOOD
    if low < poor:
        return NEEDS_IMPROVEMENT
    return POOR


@dataclass
class Vital:
    name: str
    samples: int = 0
    p75: float | None = None
    rating: str = NOT_ENOUGH

    @property
    def tone(self) -> str:
        return TONES[self.rating]

    @property
    def unit(self) -> str:
        return "" if self.name == "CLS" else "ms"

    def as_dict(self) -> dict:
        return {"samples": self.samples, "p75": self.p75, "rating": self.rating}


def vital_from_histogram(name: str, hist: dict[int, int], needed: int) -> Vital:
    samples = sum(c for c in hist.values() if c > 0)
    if samples < needed:
        # The p75 of a handful of values says little; show it, never rate it.
        return Vital(name, samples, histogram.percentile(hist.items(), 0.75), NOT_ENOUGH)
    p75 = histogram.percentile(hist.items(), 0.75)
    return Vital(name, samples, p75, rate_bucket(name, histogram.bucket_of(p75)))


@dataclass
class FieldData:
    """One version on one channel over [start, end)."""

    version: str
    start: datetime
    end: datetime
    vitals: dict[str, dict[str, Vital]] = field(default_factory=dict)  # device -> name -> Vital
    api_calls: int = 0
    api_errors: int = 0
    api_p75: float | None = None
    api_p95: float | None = None
    enough_api: bool = False
    launches: int = 0
    crashes: int = 0
    crash_free: float | None = None
    crash_free_users: float | None = None
    installs: int = 0
    active: int = 0
    adoption: float | None = None

    @property
    def api_error_rate(self) -> float | None:
        return self.api_errors / self.api_calls if self.api_calls else None

    @property
    def has_data(self) -> bool:
        return bool(
            self.launches
            or self.api_calls
            or any(v.samples for d in self.vitals.values() for v in d.values())
        )

    def rows(self) -> list[dict]:
        """Table rows for the templates: one per device class, cells in VITALS order."""
        return [
            {"device": label, "key": key, "cells": [self.vitals[key][n] for n in VITALS]}
            for key, label in DEVICES
        ]

    def as_dict(self) -> dict:
        return {
            "version": self.version,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "vitals": {
                device: {name: v.as_dict() for name, v in by_name.items()}
                for device, by_name in self.vitals.items()
            },
            "api": {
                "calls": self.api_calls,
                "errors": self.api_errors,
                "error_rate": self.api_error_rate,
                "p75": self.api_p75,
                "p95": self.api_p95,
                "enough": self.enough_api,
            },
            "health": {
                "launches": self.launches,
                "crashes": self.crashes,
                "crash_free": self.crash_free,
                "crash_free_users": self.crash_free_users,
                "installs": self.installs,
                "active": self.active,
                "adoption": self.adoption,
            },
        }


def channel_field_data(
    channel, start: datetime, end: datetime, versions: list[str] | None = None
) -> dict[str, FieldData]:
    """version -> FieldData for every version with telemetry on ``channel`` in [start, end)
    (or only ``versions``). Three grouped queries plus monitoring's health query."""
    needed = min_samples()
    where = {"channel": channel, "minute__gte": start, "minute__lt": end}
    if versions is not None:
        where["version__in"] = list(versions)
    vitals: dict[tuple[str, str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    api: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for version, metric, device, bucket, n in (
        RollupBucket.objects.filter(metric__in=[*VITALS, "api"], **where)
        .values_list("version", "metric", "device", "bucket")
        .annotate(n=Sum("count"))
        .order_by()
    ):
        if not n:
            continue
        if metric == "api":
            api[version][bucket] += n  # every device together: latency is the backend's
        elif device in ("mobile", "desktop"):
            vitals[(version, metric, device)][bucket] += n
    counters: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for version, metric, n, errors in (
        Rollup.objects.filter(metric__in=["launch", "crash", "api"], **where)
        .values_list("version", "metric")
        .annotate(n=Sum("count"), e=Sum("errors"))
        .order_by()
    ):
        counters[version][metric][0] += n or 0
        counters[version][metric][1] += errors or 0
    seen = {v for v, _, _ in vitals} | set(api) | set(counters)
    if versions is not None:
        seen |= set(versions)
    result: dict[str, FieldData] = {}
    for version in seen:
        data = FieldData(version, start, end)
        for device, _ in DEVICES:
            data.vitals[device] = {
                name: vital_from_histogram(name, vitals.get((version, name, device), {}), needed)
                for name in VITALS
            }
        hist = api.get(version, {})
        data.api_calls, data.api_errors = counters[version]["api"]
        if sum(hist.values()):
            data.api_p75 = histogram.percentile(hist.items(), 0.75)
            data.api_p95 = histogram.percentile(hist.items(), 0.95)
        data.enough_api = sum(hist.values()) >= needed
        data.launches = counters[version]["launch"][0]
        data.crashes = counters[version]["crash"][0]
        result[version] = data
    # Crash-free sessions and users and adoption exactly as the health pages compute them.
    for vh in health.channel_versions(channel, start, end):
        data = result.get(vh.version)
        if data is None:
            continue
        data.crash_free = vh.crash_free
        data.crash_free_users = vh.crash_free_users
        data.installs, data.active, data.adoption = vh.installs, vh.active, vh.adoption
    return result


def release_field_data(channel, version: str, start: datetime, end: datetime) -> FieldData:
    return channel_field_data(channel, start, end, [version])[version]


def daily_trends(
    channel, start: datetime, end: datetime, device: str, versions: list[str]
) -> dict[str, dict[str, dict[datetime, float | None]]]:
    """name -> version -> day -> p75 (None below the minimum samples: a gap, never a value)."""
    from django.db.models.functions import TruncDay

    needed = min_samples()
    cells: dict[tuple[str, str, datetime], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for version, metric, day, bucket, n in (
        RollupBucket.objects.filter(
            channel=channel,
            version__in=versions,
            metric__in=VITALS,
            device=device,
            minute__gte=start,
            minute__lt=end,
        )
        .annotate(day=TruncDay("minute"))
        .values_list("version", "metric", "day", "bucket")
        .annotate(n=Sum("count"))
        .order_by()
    ):
        if n:
            cells[(metric, version, day)][bucket] += n
    result: dict[str, dict[str, dict[datetime, float | None]]] = {
        name: {v: {} for v in versions} for name in VITALS
    }
    for (metric, version, day), hist in cells.items():
        if sum(hist.values()) >= needed:
            result[metric][version][day] = histogram.percentile(hist.items(), 0.75)
    return result
