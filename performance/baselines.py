"""Baselines: a release's field data on a channel frozen at a moment, and regressions against
the previous release's baseline on the same channel.

``take(channel, version, ...)`` is the one writer of ``Baseline`` rows (audited); the
``performance_analysis`` maintenance job and the "Take a baseline now" button both call it.

Regression rule (README "Regressions"), each side needing enough data:
* a web vital on one device class: both p75s rated (>= ``min_samples()`` values each), the new
  p75 worse by more than ``VITAL_WORSE_PCT`` % **and** its rating worse (good → needs
  improvement, good/needs improvement → poor);
* API latency p75: >= ``min_samples()`` calls each, worse by more than ``API_WORSE_PCT`` %;
* API error rate: >= ``min_samples()`` calls each, up by more than ``API_ERROR_PP`` points;
* crash-free sessions: >= ``CRASH_MIN_LAUNCHES`` launches each, down by more than
  ``CRASH_FREE_PP`` percentage points.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.trail import record
from performance import fielddata
from performance.models import Baseline
from releases.models import Release
from releases.versioning import VersionError, parse

VITAL_WORSE_PCT = 10.0
API_WORSE_PCT = 20.0
API_ERROR_PP = 1.0
CRASH_FREE_PP = 0.5
CRASH_MIN_LAUNCHES = 200
DEFAULT_DAYS = 7


def window(now: datetime, days: int) -> tuple[datetime, datetime]:
    """[start, end) covering the last ``days`` days up to and including the current minute."""
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return end - timedelta(days=days), end


def version_key(version: str):
    try:
        return parse(version)
    except VersionError:
        return None


def previous_baseline(channel, version: str) -> Baseline | None:
    """The newest baseline of the highest version below ``version`` on ``channel``."""
    current = version_key(version)
    if current is None:
        return None
    best = None
    for other, baseline in Baseline.objects.latest_per_version(channel).items():
        key = version_key(other)
        if key is None or not key < current:
            continue
        if best is None or key > best[0]:
            best = (key, baseline)
    return best[1] if best else None


def _pct_worse(before: float, after: float) -> float | None:
    if before is None or after is None:
        return None
    if before <= 0:
        return None if after <= 0 else float("inf")
    return 100 * (after - before) / before


def compare(before: dict, after: dict) -> list[dict[str, Any]]:
    """Regressions of ``after`` against ``before`` (two ``FieldData.as_dict()`` documents)."""
    found: list[dict[str, Any]] = []
    for device, _ in fielddata.DEVICES:
        for name in fielddata.VITALS:
            b = before.get("vitals", {}).get(device, {}).get(name)
            a = after.get("vitals", {}).get(device, {}).get(name)
            if not a or not b or fielddata.NOT_ENOUGH in (a["rating"], b["rating"]):
                continue
            worse = _pct_worse(b["p75"], a["p75"])
            if (
                worse is not None
                and worse > VITAL_WORSE_PCT
                and fielddata.RANK[a["rating"]] > fielddata.RANK[b["rating"]]
            ):
                found.append(
                    {
                        "metric": name,
                        "device": device,
                        "before": b["p75"],
                        "after": a["p75"],
                        "change_pct": round(worse, 1) if worse != float("inf") else None,
                        "detail": f"p75 {b['rating']} → {a['rating']}",
                    }
                )
    b_api, a_api = before.get("api", {}), after.get("api", {})
    if b_api.get("enough") and a_api.get("enough"):
        worse = _pct_worse(b_api.get("p75"), a_api.get("p75"))
        if worse is not None and worse > API_WORSE_PCT:
            found.append(
                {
                    "metric": "API latency p75",
                    "device": "",
                    "before": b_api["p75"],
                    "after": a_api["p75"],
                    "change_pct": round(worse, 1) if worse != float("inf") else None,
                    "detail": f"more than {API_WORSE_PCT:g} % slower",
                }
            )
        b_rate, a_rate = b_api.get("error_rate"), a_api.get("error_rate")
        if b_rate is not None and a_rate is not None and 100 * (a_rate - b_rate) > API_ERROR_PP:
            found.append(
                {
                    "metric": "API error rate",
                    "device": "",
                    "before": b_rate,
                    "after": a_rate,
                    "change_pct": None,
                    "detail": f"up by more than {API_ERROR_PP:g} percentage points",
                }
            )
    b_h, a_h = before.get("health", {}), after.get("health", {})
    if (
        b_h.get("launches", 0) >= CRASH_MIN_LAUNCHES
        and a_h.get("launches", 0) >= CRASH_MIN_LAUNCHES
        and b_h.get("crash_free") is not None
        and a_h.get("crash_free") is not None
        and 100 * (b_h["crash_free"] - a_h["crash_free"]) > CRASH_FREE_PP
    ):
        found.append(
            {
                "metric": "Crash-free sessions",
                "device": "",
                "before": b_h["crash_free"],
                "after": a_h["crash_free"],
                "change_pct": None,
                "detail": f"down by more than {CRASH_FREE_PP:g} percentage points",
            }
        )
    return found


def comparable(before: dict, after: dict) -> list[str]:
    """What ``compare`` could judge: the metrics with enough data on both sides."""
    names = []
    for device, _ in fielddata.DEVICES:
        for name in fielddata.VITALS:
            b = before.get("vitals", {}).get(device, {}).get(name)
            a = after.get("vitals", {}).get(device, {}).get(name)
            if a and b and fielddata.NOT_ENOUGH not in (a["rating"], b["rating"]):
                names.append(f"{name} ({device})")
    if before.get("api", {}).get("enough") and after.get("api", {}).get("enough"):
        names += ["API latency p75", "API error rate"]
    if (
        before.get("health", {}).get("launches", 0) >= CRASH_MIN_LAUNCHES
        and after.get("health", {}).get("launches", 0) >= CRASH_MIN_LAUNCHES
    ):
        names.append("Crash-free sessions")
    return names


def take(
    channel,
    version: str,
    *,
    source: str,
    days: int = DEFAULT_DAYS,
    user=None,
    run_id: int | None = None,
    now: datetime | None = None,
) -> Baseline:
    """Snapshot ``version`` on ``channel`` over the last ``days`` days and compare it."""
    now = now or timezone.now()
    start, end = window(now, days)
    data = fielddata.release_field_data(channel, version, start, end).as_dict()
    previous = previous_baseline(channel, version)
    regressions = compare(previous.data, data) if previous else []
    release = Release.objects.filter(app_id=channel.app_id, version=version).first()
    with transaction.atomic():
        baseline = Baseline.objects.create(
            channel=channel,
            version=version,
            release=release,
            taken_at=now,
            window_start=start,
            window_end=end,
            source=source,
            taken_by=user,
            run_id=run_id,
            data=data,
            previous=previous,
            regressions=regressions,
        )
        record(
            "performance.baseline_taken",
            baseline,
            after={
                "channel": str(channel),
                "version": version,
                "days": days,
                "source": source,
                "previous": previous.version if previous else None,
                "regressions": [f"{r['metric']} {r['device']}".strip() for r in regressions],
            },
        )
        if regressions:
            _announce(baseline)
    return baseline


REGRESSION_EVENT = "performance.regression"


def register_events() -> None:
    from notifications.events import register_event

    register_event(
        REGRESSION_EVENT,
        "Performance regression",
        "A release's baseline is worse than the previous release's by the regression rule.",
        default_email=True,
    )


def _announce(baseline: Baseline) -> None:
    """One notification per baseline with regressions, inside the baseline's transaction."""
    from notifications.dispatch import notify

    channel = baseline.channel
    link = settings.SITE_URL + reverse(
        "performance:release", args=[channel.app.slug, channel.name, baseline.version]
    )
    lines = [
        f"- {r['metric']}{' (' + r['device'] + ')' if r['device'] else ''}: {r['detail']}"
        for r in baseline.regressions
    ]
    notify(
        REGRESSION_EVENT,
        subject=f"{channel}: {baseline.version} regressed against {baseline.previous.version}",
        body="\n".join(lines) + f"\n\n{link}",
        payload={
            "channel": str(channel),
            "version": baseline.version,
            "previous": baseline.previous.version,
            "baseline": baseline.pk,
            "regressions": baseline.regressions,
        },
        dedup_key=f"performance.regression.{baseline.pk}",
        link=link,
    )
