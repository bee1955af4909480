"""Telemetry ingestion: validate a client's batch whole, then store and roll it up in one go.

``validate(payload, now=)`` returns a ``Batch`` or raises ``InvalidBatch`` naming the first bad
event (its index and why); nothing is written for a bad batch. ``store(channel, batch, now=)``
writes the raw events, the exposure row, the last-value table for web vitals and the rollup
deltas in one transaction.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import semver
from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from monitoring import histogram
from monitoring.models import Device, Event, EventType, Install, VitalLast
from monitoring.rollups import Deltas, upsert
from releases.models import Channel

MAX_BODY_BYTES = 256 * 1024
MAX_EVENTS = 1000
MAX_AGE = timedelta(days=7)
MAX_SKEW = timedelta(minutes=5)
VITALS = ("LCP", "INP", "CLS", "FCP", "TTFB")
INSTALL_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
METRIC_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
MAX_VERSION = 100
MAX_NAME = 100
MAX_ROUTE = 200
# Events whose value is a latency-like number kept in a histogram.
HISTOGRAM_TYPES = {EventType.VITAL, EventType.API}
# Computed once: TextChoices.values builds a new list on every access.
TYPES = frozenset(EventType.values)
DEVICES = frozenset(Device.values)


class InvalidBatch(Exception):
    def __init__(self, code: str, detail: str, index: int | None = None):
        super().__init__(detail)
        self.code, self.detail, self.index = code, detail, index


@dataclass(frozen=True)
class ParsedEvent:
    type: str
    at: datetime
    name: str = ""
    value: float | None = None
    status: int | None = None
    device: str = ""
    route: str = ""
    metric_id: str = ""

    @property
    def minute(self) -> datetime:
        return self.at.replace(second=0, microsecond=0)

    @property
    def metric(self) -> str:
        """The rollup metric: the vital's name for a vital, the event type otherwise."""
        return self.name if self.type == EventType.VITAL else self.type


@dataclass(frozen=True)
class Batch:
    install_id: str
    version: str
    events: list[ParsedEvent]


def find_channel(key: str, *, now: datetime) -> Channel | None:
    """The channel whose client key is ``key``, or whose previous key it is and still valid."""
    if not key:
        return None
    channel = Channel.objects.filter(client_key=key).first()
    if channel is None:
        channel = Channel.objects.filter(
            previous_client_key=key, previous_key_expires_at__gt=now
        ).first()
    return channel


def validate(payload: object, *, now: datetime) -> Batch:
    if not isinstance(payload, dict):
        raise InvalidBatch("invalid_json", "the body must be a JSON object")
    install_id = payload.get("install_id")
    if not isinstance(install_id, str) or not INSTALL_ID.match(install_id):
        raise InvalidBatch(
            "invalid_install_id",
            "install_id must be a string of 1-64 letters, digits or . _ : -",
        )
    version = payload.get("version")
    if not isinstance(version, str) or len(version) > MAX_VERSION:
        raise InvalidBatch("invalid_version", "version must be a semver string (e.g. 1.4.0)")
    try:
        semver.Version.parse(version)
    except ValueError:
        raise InvalidBatch(
            "invalid_version", f"version {version!r} is not a semantic version (e.g. 1.4.0)"
        ) from None
    events = payload.get("events")
    if not isinstance(events, list) or not events:
        raise InvalidBatch("invalid_batch", "events must be a non-empty list")
    if len(events) > MAX_EVENTS:
        raise InvalidBatch(
            "too_many_events", f"a batch holds at most {MAX_EVENTS} events, got {len(events)}"
        )
    parsed = []
    for index, raw in enumerate(events):
        try:
            parsed.append(_event(raw, now=now))
        except ValueError as exc:
            raise InvalidBatch("invalid_event", str(exc), index) from None
    return Batch(install_id=install_id, version=version, events=parsed)


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number")
    if value < 0:
        raise ValueError(f"{what} must not be negative")
    return float(value)


def _text(raw: dict, field: str, limit: int) -> str:
    value = raw.get(field, "")
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{field} must be a string of at most {limit} characters")
    return value


def _time(value: object, *, now: datetime) -> datetime:
    if value is None:
        return now
    if isinstance(value, bool):
        raise ValueError("at must be an ISO 8601 timestamp or epoch milliseconds")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("at must be a finite number of epoch milliseconds")
        try:
            at = datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("at is out of range") from None
    elif isinstance(value, str):
        try:
            at = parse_datetime(value)
        except ValueError:
            at = None
        if at is None or at.tzinfo is None:
            raise ValueError("at must be an ISO 8601 timestamp with a time zone (or epoch ms)")
        at = at.astimezone(UTC)
    else:
        raise ValueError("at must be an ISO 8601 timestamp or epoch milliseconds")
    if at < now - MAX_AGE:
        raise ValueError(f"at {at.isoformat()} is more than 7 days old")
    if at > now + MAX_SKEW:
        raise ValueError(f"at {at.isoformat()} is more than 5 minutes in the future")
    return at


def _event(raw: object, *, now: datetime) -> ParsedEvent:
    if not isinstance(raw, dict):
        raise ValueError("an event must be a JSON object")
    kind = raw.get("type")
    if kind not in TYPES:
        raise ValueError(f"type must be one of {', '.join(EventType.values)}")
    device = raw.get("device") or ""
    if device not in DEVICES:
        raise ValueError("device must be mobile or desktop when given")
    fields = {
        "type": kind,
        "at": _time(raw.get("at"), now=now),
        "device": device,
        "route": _text(raw, "route", MAX_ROUTE),
    }
    if kind == EventType.VITAL:
        name = raw.get("name")
        if name not in VITALS:
            raise ValueError(f"a vital's name must be one of {', '.join(VITALS)}")
        metric_id = raw.get("id") or ""
        if metric_id and (not isinstance(metric_id, str) or not METRIC_ID.match(metric_id)):
            raise ValueError("id must be a string of 1-64 letters, digits or . _ : -")
        return ParsedEvent(
            **fields,
            name=name,
            value=_number(raw.get("value"), "a vital's value"),
            metric_id=metric_id,
        )
    if kind == EventType.API:
        status = raw.get("status")
        if isinstance(status, bool) or not isinstance(status, int) or not 0 <= status <= 599:
            raise ValueError("an api event needs status: an HTTP status code 0-599 (0: no answer)")
        return ParsedEvent(
            **fields,
            name=_text(raw, "name", MAX_NAME),
            value=_number(raw.get("value"), "an api event's value (latency in ms)"),
            status=status,
        )
    value = raw.get("value")
    return ParsedEvent(
        **fields,
        name=_text(raw, "name", MAX_NAME),
        value=None if value is None else _number(value, "value"),
    )


def is_api_error(status: int | None) -> bool:
    return status is not None and (status >= 500 or status == 0)


def store(channel: Channel, batch: Batch, *, now: datetime) -> int:
    """Write the batch and its rollup deltas atomically; returns the number of events stored."""
    deltas = Deltas()
    cid = channel.pk
    version = batch.version
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Telemetry is statistical: acknowledging before the WAL reaches disk saves a flush
            # wait per batch. A database crash can lose the last ~0.6 s of accepted batches
            # (wal_writer_delay x 3), never corrupt or half-apply one. See README.md.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        _seen(cid, batch, now)
        lasts = _lock_vital_ids(channel, batch)
        for event in batch.events:
            key = (cid, version, event.metric, event.minute, event.device)
            if event.type not in HISTOGRAM_TYPES:
                deltas.add(key, total=event.value or 0.0)
                continue
            bucket = histogram.bucket_of(event.value)
            if event.metric_id:
                ident = (event.name, event.metric_id)
                previous = lasts.get(ident)
                if previous is not None:
                    # The same metric id again: take the old value out where it was counted.
                    deltas.add(
                        (cid, previous.version, previous.name, previous.minute, previous.device),
                        count=-1,
                        total=-previous.value,
                        bucket=previous.bucket,
                    )
                lasts[ident] = _Last(
                    event.name, event.value, version, event.minute, event.device, bucket
                )
            errors = int(is_api_error(event.status))
            deltas.add(key, total=event.value, errors=errors, bucket=bucket)
        if lasts:
            _save_vital_ids(cid, batch.install_id, lasts)
        _insert_events(cid, batch, now)
        deltas.apply()
    return len(batch.events)


_EVENT_COLUMNS = [
    "channel_id", "version", "install_id", "type", "name", "value", "status", "device", "route",
    "at", "received_at",
]  # fmt: skip
_LAST_COLUMNS = [
    "channel_id", "install_id", "name", "metric_id", "value", "version", "minute", "device",
    "bucket",
]  # fmt: skip


def _seen(channel_id: int, batch: Batch, now: datetime) -> None:
    """Record the install on its version: first and last seen, and when it first crashed."""
    adapt = connection.ops.adapt_datetimefield_value
    crashed = adapt(now) if any(e.type == EventType.CRASH for e in batch.events) else None
    table = connection.ops.quote_name(Install._meta.db_table)
    upsert(
        Install._meta.db_table,
        ["channel_id", "version", "install_id", "first_seen", "last_seen", "crashed_at"],
        3,
        "DO UPDATE SET last_seen = excluded.last_seen, "
        f"crashed_at = COALESCE({table}.crashed_at, excluded.crashed_at)",
        [(channel_id, batch.version, batch.install_id, adapt(now), adapt(now), crashed)],
    )


def _insert_events(channel_id: int, batch: Batch, now: datetime) -> None:
    """Insert the raw events without model instances (they cost more than the insert)."""
    adapt = connection.ops.adapt_datetimefield_value
    received = adapt(now)
    rows = [
        (
            channel_id, batch.version, batch.install_id, e.type, e.name, e.value, e.status,
            e.device, e.route, adapt(e.at), received,
        )
        for e in batch.events
    ]  # fmt: skip
    qn = connection.ops.quote_name
    table, columns = qn(Event._meta.db_table), ", ".join(map(qn, _EVENT_COLUMNS))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: several times faster than INSERT for hundreds of rows (psycopg 3's API).
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join(["%s"] * len(_EVENT_COLUMNS))
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608


@dataclass
class _Last:
    """A vital id's last value and where it was counted (a VitalLast row in memory)."""

    name: str
    value: float
    version: str
    minute: datetime
    device: str
    bucket: int


def _lock_vital_ids(channel: Channel, batch: Batch) -> dict[tuple[str, str], _Last]:
    """Lock the batch's vital ids and return those with a stored last value.

    Placeholders (value NULL) are inserted first, ignoring conflicts, so that every id has a row
    to lock: two concurrent batches of one install reporting the same id then serialise on that
    row (PostgreSQL: SELECT ... FOR UPDATE; SQLite: one writer at a time) instead of both seeing
    a new id and counting it twice. ``_save_vital_ids`` fills the placeholders in.
    """
    ids = {(e.name, e.metric_id) for e in batch.events if e.type == EventType.VITAL and e.metric_id}
    if not ids:
        return {}
    placeholder = connection.ops.adapt_datetimefield_value(datetime(2000, 1, 1, tzinfo=UTC))
    upsert(
        VitalLast._meta.db_table,
        _LAST_COLUMNS,
        4,
        "DO NOTHING",
        [
            (channel.pk, batch.install_id, name, metric_id, None, "", placeholder, "", 0)
            for name, metric_id in sorted(ids)
        ],
    )
    rows = VitalLast.objects.filter(
        channel=channel, install_id=batch.install_id, metric_id__in={m for _, m in ids}
    ).order_by("pk")
    if connection.features.has_select_for_update:
        rows = rows.select_for_update()
    stored = {}
    for name, metric_id, *rest in rows.values_list(
        "name", "metric_id", "value", "version", "minute", "device", "bucket"
    ):
        if (name, metric_id) in ids and rest[0] is not None:
            stored[(name, metric_id)] = _Last(name, *rest)
    return stored


def _save_vital_ids(channel_id: int, install_id: str, lasts: dict[tuple[str, str], _Last]):
    """Overwrite the locked rows with the batch's final values."""
    adapt = connection.ops.adapt_datetimefield_value
    sets = ", ".join(f"{c} = excluded.{c}" for c in _LAST_COLUMNS[4:])
    rows = [
        (channel_id, install_id, name, metric_id, last.value, last.version, adapt(last.minute),
         last.device, last.bucket)
        for (name, metric_id), last in sorted(lasts.items())
    ]  # fmt: skip
    upsert(VitalLast._meta.db_table, _LAST_COLUMNS, 4, f"DO UPDATE SET {sets}", rows)
