"""GFS retention: which backups to keep, each with its reasons. A pure function of the list.

Buckets are taken in the policy's explicit time zone. Hourly buckets carry the UTC offset, so the
hour repeated when clocks go back counts as two hours, and the skipped hour simply has no backup.
Rules (as restic's ``forget``): keep the newest N; for each of hourly/daily/weekly/monthly/yearly
keep the newest backup of each of the newest N buckets that have one; keep everything finished
within a duration of ``now``. Then the guarantees, whatever the rules say: the newest verified
backup, pinned backups, and (transitively) the parent of every kept backup stay, and the newest
backups are kept until the floor is met. Fewer backups than the rules ask for is not an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Policy:
    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: timedelta | None = None
    floor: int = 1
    tz: str = "UTC"

    def is_empty(self) -> bool:
        return not (
            self.last
            or self.hourly
            or self.daily
            or self.weekly
            or self.monthly
            or self.yearly
            or self.within
        )


@dataclass
class Item:
    id: int
    at: datetime  # when the backup finished (aware)
    parent_id: int | None = None
    pinned: bool = False
    verified: bool = False


@dataclass
class Decision:
    id: int
    keep: bool = False
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"backup": self.id, "keep": self.keep, "reasons": self.reasons}


def _buckets(tz: ZoneInfo):
    def hourly(at: datetime) -> str:
        local = at.astimezone(tz)
        return local.strftime("%Y-%m-%d %H:00 %z")

    def weekly(at: datetime) -> str:
        year, week, _ = at.astimezone(tz).isocalendar()
        return f"{year}-W{week:02d}"

    return [
        ("hourly", hourly),
        ("daily", lambda at: at.astimezone(tz).strftime("%Y-%m-%d")),
        ("weekly", weekly),
        ("monthly", lambda at: at.astimezone(tz).strftime("%Y-%m")),
        ("yearly", lambda at: at.astimezone(tz).strftime("%Y")),
    ]


def plan(items: list[Item], policy: Policy, now: datetime) -> list[Decision]:
    """Decisions for ``items`` (complete backups), newest first."""
    ordered = sorted(items, key=lambda i: (i.at, i.id), reverse=True)
    decisions = {i.id: Decision(i.id) for i in ordered}

    def keep(item: Item, reason: str) -> None:
        d = decisions[item.id]
        d.keep = True
        if reason not in d.reasons:
            d.reasons.append(reason)

    if policy.is_empty():
        for item in ordered:
            keep(item, "no retention rules: everything is kept")
    for n, item in enumerate(ordered[: policy.last]):
        keep(item, f"last {policy.last}" if n else f"last {policy.last} (newest)")
    tz = ZoneInfo(policy.tz)
    for rule, bucket_of in _buckets(tz):
        count = getattr(policy, rule)
        seen: list[str] = []
        for item in ordered:
            if len(seen) >= count:
                break
            bucket = bucket_of(item.at)
            if bucket in seen:
                continue
            seen.append(bucket)
            keep(item, f"{rule} {bucket}")
    if policy.within:
        for item in ordered:
            if item.at >= now - policy.within:
                keep(item, f"within {policy.within}")
    newest_verified = next((i for i in ordered if i.verified), None)
    if newest_verified is not None:
        keep(newest_verified, "newest verified backup")
    for item in ordered:
        if item.pinned:
            keep(item, "pinned")
    kept = sum(1 for d in decisions.values() if d.keep)
    for item in ordered:
        if kept >= policy.floor:
            break
        if not decisions[item.id].keep:
            keep(item, f"minimum of {policy.floor} backups")
            kept += 1
    by_id = {i.id: i for i in ordered}
    for item in ordered:  # newest first, so a chain is walked from its newest kept member
        if not decisions[item.id].keep:
            continue
        child = item
        while child.parent_id is not None and child.parent_id in by_id:
            parent = by_id[child.parent_id]
            keep(parent, f"parent of kept backup #{child.id}")
            child = parent
    for d in decisions.values():
        if not d.keep:
            d.reasons.append("no rule keeps it")
    return [decisions[i.id] for i in ordered]
