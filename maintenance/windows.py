"""Maintenance windows: may a run start at t, and if not, when can it?

A run may start at t only if an allow window that applies to its job contains
[t, t + max_duration + SAFETY_MARGIN] and no blackout that applies overlaps that interval. A job
with no allow window in scope may start at any time outside blackouts (windows are opt-in).
The same function answers at dispatch and again in the worker right before the task body.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from maintenance import schedule
from maintenance.models import Job, Window

SAFETY_MARGIN = timedelta(minutes=1)
# How far ahead next_start looks before answering "no opening".
HORIZON = timedelta(days=62)


@dataclass(frozen=True)
class Interval:
    window: Window
    start: datetime
    end: datetime

    def contains(self, a: datetime, b: datetime) -> bool:
        return self.start <= a and b <= self.end

    def overlaps(self, a: datetime, b: datetime) -> bool:
        return self.start < b and a < self.end


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    next_start: datetime | None = None


def intervals(window: Window, start: datetime, end: datetime) -> list[Interval]:
    """The window's openings that overlap [start, end], in order (UTC)."""
    look_from = start - window.duration
    out: list[Interval] = []
    if window.schedule:
        for opens in schedule.times_between(window.schedule, window.timezone, look_from, end):
            out.append(Interval(window, opens, opens + window.duration))
    elif window.weekdays and window.start_time is not None:
        tz = schedule.zone(window.timezone)
        day = look_from.astimezone(tz).date()
        last = end.astimezone(tz).date()
        while day <= last:
            if day.weekday() in window.weekdays:
                # Local wall time; a start inside a DST gap moves forward like cron does.
                local = datetime.combine(day, window.start_time, tzinfo=tz)
                opens = local.astimezone(UTC)
                if opens.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
                    opens = (local + timedelta(hours=1)).astimezone(UTC)
                out.append(Interval(window, opens, opens + window.duration))
            day += timedelta(days=1)
    return [i for i in out if i.end > start and i.start <= end]


def windows_for(job: Job, windows: Iterable[Window] | None = None) -> list[Window]:
    if windows is None:
        windows = Window.objects.filter(enabled=True)
    return [w for w in windows if w.enabled and w.applies_to(job)]


def needed(job: Job) -> timedelta:
    return job.max_duration + SAFETY_MARGIN


def check(job: Job, t: datetime, windows: Iterable[Window] | None = None) -> Verdict:
    """May a run of ``job`` start at ``t``? If not, why, and the next possible start."""
    relevant = windows_for(job, windows)
    verdict = _check_at(job, t, relevant)
    if verdict.ok:
        return verdict
    return Verdict(False, verdict.reason, next_start(job, t, relevant))


def _check_at(job: Job, t: datetime, relevant: list[Window]) -> Verdict:
    end = t + needed(job)
    for w in relevant:
        if w.kind == Window.Kind.BLACKOUT:
            for i in intervals(w, t, end):
                if i.overlaps(t, end):
                    return Verdict(
                        False,
                        f"blackout {w.name} ({i.start:%Y-%m-%d %H:%M}-{i.end:%H:%M} UTC) overlaps "
                        f"the run's {schedule.format_duration(needed(job))} incl. margin",
                    )
    allows = [w for w in relevant if w.kind == Window.Kind.ALLOW]
    if not allows:
        return Verdict(True)
    for w in allows:
        for i in intervals(w, t, t):
            if i.contains(t, end):
                return Verdict(True)
    open_now = [i for w in allows for i in intervals(w, t, t) if i.start <= t < i.end]
    if open_now:
        closes = max(i.end for i in open_now)
        return Verdict(
            False,
            f"window {open_now[0].window.name} closes at {closes:%H:%M} UTC, too soon for "
            f"max duration {schedule.format_duration(job.max_duration)} plus "
            f"{schedule.format_duration(SAFETY_MARGIN)} margin",
        )
    return Verdict(False, "outside every allowed window")


def next_start(job: Job, t: datetime, windows: Iterable[Window] | None = None) -> datetime | None:
    """The earliest time >= t at which a run could start, or None within HORIZON.

    Feasibility can only begin at t, at an allow window's opening or at a blackout's end, so
    those are the only candidates to test.
    """
    relevant = windows_for(job, windows)
    horizon = t + HORIZON
    candidates = {t}
    for w in relevant:
        for i in intervals(w, t, horizon):
            point = i.start if w.kind == Window.Kind.ALLOW else i.end
            if t <= point <= horizon:
                candidates.add(point)
    for candidate in sorted(candidates):
        if _check_at(job, candidate, relevant).ok:
            return candidate
    return None


def longest_allow(job: Job, windows: Iterable[Window] | None = None) -> timedelta | None:
    """The longest allow window in scope (None when no allow window applies)."""
    allows = [w for w in windows_for(job, windows) if w.kind == Window.Kind.ALLOW]
    return max((w.duration for w in allows), default=None)
