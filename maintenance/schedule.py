"""Cron schedules in a job's own time zone, evaluated with cronsim.

cronsim (what healthchecks uses) treats a daily ``30 2 * * *`` the way Debian cron does: on the
spring-forward day the skipped 02:30 runs once at 03:00, on the fall-back day the repeated 02:30
runs once (the first one). Times go in and out as aware datetimes; storage is UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

MANUAL = "manual"
_DURATION = re.compile(r"(\d+)\s*([dhms])")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


class ScheduleError(ValueError):
    """A cron expression, zone or duration that cannot be used; the message says why."""


def zone(name: str) -> ZoneInfo:
    if not name or name not in _zone_names():
        raise ScheduleError(f"unknown time zone {name!r}: use an IANA name like Europe/Berlin")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {name!r}") from exc


_ZONES: set[str] | None = None


def _zone_names() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones() | {"UTC"}
    return _ZONES


def validate_cron(expr: str) -> str:
    """Return the normalised expression or raise ScheduleError (5 fields, as in crontab)."""
    expr = " ".join((expr or "").split())
    if len(expr.split()) != 5:
        raise ScheduleError(
            f"{expr!r} is not a cron expression: it needs 5 fields (minute hour day month weekday)"
        )
    try:
        it = CronSim(expr, datetime(2000, 1, 1, tzinfo=UTC))
        next(it)
    except (CronSimError, StopIteration, ValueError) as exc:
        raise ScheduleError(f"{expr!r} is not a valid cron expression: {exc}") from exc
    return expr


def describe(expr: str) -> str:
    """A human reading of a cron expression ("At 02:30 every day")."""
    if expr.strip() == MANUAL:
        return "Manual only"
    expr = validate_cron(expr)
    return CronSim(expr, datetime(2000, 1, 1, tzinfo=UTC)).explain()


def iter_times(expr: str, tz_name: str, after: datetime) -> Iterator[datetime]:
    """Scheduled times strictly after ``after``, as aware UTC datetimes, in order.

    Exactly once per wall-clock time: in a fall-back hour the local clock repeats, and cronsim
    fires interval expressions (``*/30 * * * *``) in both passes; we keep the first pass only,
    so every local time of the day fires once. Starting inside the repeated hour, the times
    the first pass already had are not fired again.
    """
    tz = zone(tz_name)
    expr = validate_cron(expr)
    last_wall = _wall_reached(after, tz)
    for local in CronSim(expr, after.astimezone(tz)):
        at = local.astimezone(UTC)
        wall = at.astimezone(tz).replace(tzinfo=None)
        if at <= after or (last_wall is not None and wall <= last_wall):
            continue
        last_wall = wall
        yield at


def _wall_reached(after: datetime, tz: ZoneInfo) -> datetime | None:
    """Inside a repeated (fall-back) hour: the latest wall time the first pass reached."""
    local = after.astimezone(tz)
    if not local.fold:
        return None
    probe = after.replace(second=0, microsecond=0)
    offset = local.utcoffset()
    for _ in range(24 * 60):  # transitions are at most a few hours wide
        earlier = probe - timedelta(minutes=1)
        if earlier.astimezone(tz).utcoffset() != offset:
            return earlier.astimezone(tz).replace(tzinfo=None) + timedelta(seconds=59)
        probe = earlier
    return None


def next_times(expr: str, tz_name: str, after: datetime, count: int) -> list[datetime]:
    out: list[datetime] = []
    for at in iter_times(expr, tz_name, after):
        out.append(at)
        if len(out) >= count:
            break
    return out


def times_between(expr: str, tz_name: str, start: datetime, end: datetime, limit: int = 10000):
    """Scheduled times t with start <= t <= end (at most ``limit``)."""
    out: list[datetime] = []
    for at in iter_times(expr, tz_name, start - timedelta(microseconds=1)):
        if at > end or len(out) >= limit:
            break
        out.append(at)
    return out


def parse_duration(text: str | int | float) -> timedelta:
    """ "45m", "2h", "1h30m", "90s", "1d" or a number of seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text <= 0:
            raise ScheduleError("a duration must be positive")
        return timedelta(seconds=text)
    raw = str(text).strip().lower()
    if raw.isdigit():
        return parse_duration(int(raw))
    parts = _DURATION.findall(raw)
    if not parts or _DURATION.sub("", raw).strip():
        raise ScheduleError(f"{text!r} is not a duration: write e.g. 45m, 2h, 1h30m, 90s or 1d")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ScheduleError("a duration must be positive")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta | None) -> str:
    """The inverse of parse_duration ("1h30m"); "" for None."""
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    out = ""
    for unit, size in _UNITS.items():
        n, seconds = divmod(seconds, size)
        if n:
            out += f"{n}{unit}"
    return out
