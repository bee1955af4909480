"""Adding deltas to the rollup tables with upserts that lose nothing under concurrency.

``bulk_create(update_conflicts=True)`` sets ``count = EXCLUDED.count`` (it overwrites), so the
upserts here are raw SQL: ``INSERT ... ON CONFLICT (key) DO UPDATE SET count = table.count +
excluded.count``. PostgreSQL (>= 9.5) and SQLite (>= 3.24) accept the same statement. Each row's
update is atomic in both: PostgreSQL locks the conflicting row, SQLite has one writer at a time
(the project opens every transaction with BEGIN IMMEDIATE). Rows are sent sorted by key so two
concurrent batches lock shared rows in the same order and cannot deadlock on PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db import connection

from monitoring.models import Rollup, RollupBucket

RollupKey = tuple[int, str, str, datetime, str]  # channel_id, version, metric, minute, device
BucketKey = tuple[int, str, str, datetime, str, int]  # ... plus bucket


class Deltas:
    """Changes to apply to the rollup tables, accumulated for one ingest batch."""

    def __init__(self) -> None:
        self.counters: dict[RollupKey, list] = defaultdict(lambda: [0, 0.0, 0])
        self.buckets: dict[BucketKey, int] = defaultdict(int)

    def add(
        self,
        key: RollupKey,
        *,
        count: int = 1,
        total: float = 0.0,
        errors: int = 0,
        bucket: int | None = None,
    ) -> None:
        row = self.counters[key]
        row[0] += count
        row[1] += total
        row[2] += errors
        if bucket is not None:
            self.buckets[(*key, bucket)] += count

    def apply(self) -> None:
        """Upsert every non-zero delta; call inside the ingest transaction."""
        adapt = connection.ops.adapt_datetimefield_value
        counters = [
            (k[0], k[1], k[2], adapt(k[3]), k[4], v[0], v[1], v[2])
            for k, v in sorted(self.counters.items())
            if v[0] or v[1] or v[2]
        ]
        buckets = [
            (k[0], k[1], k[2], adapt(k[3]), k[4], k[5], v)
            for k, v in sorted(self.buckets.items())
            if v
        ]
        _upsert(
            Rollup._meta.db_table,
            ["channel_id", "version", "metric", "minute", "device", "count", "total", "errors"],
            5,
            ["count", "total", "errors"],
            counters,
        )
        _upsert(
            RollupBucket._meta.db_table,
            ["channel_id", "version", "metric", "minute", "device", "bucket", "count"],
            6,
            ["count"],
            buckets,
        )


# PostgreSQL array types of the columns written here, for the unnest() form of the upsert.
PG_TYPES = {
    "channel_id": "bigint",
    "version": "text",
    "metric": "text",
    "minute": "timestamptz",
    "device": "text",
    "count": "bigint",
    "total": "double precision",
    "errors": "bigint",
    "bucket": "integer",
    "install_id": "text",
    "name": "text",
    "metric_id": "text",
    "value": "double precision",
    "first_seen": "timestamptz",
    "last_seen": "timestamptz",
    "crashed_at": "timestamptz",
}


def upsert(table: str, columns: list[str], key_width: int, action: str, rows: list[tuple]) -> None:
    """``INSERT rows ... ON CONFLICT (first key_width columns) <action>`` in one round trip.

    PostgreSQL: one statement over ``unnest()`` of one array per column (a multi-row VALUES list
    would cost more to build and parse than the work it does). SQLite: ``executemany`` of a
    one-row statement (a loop in C, in process). Rows are taken in the order given; callers
    sort them by key so concurrent writers lock shared rows in the same order.
    """
    if not rows:
        return
    qn = connection.ops.quote_name
    cols = ", ".join(qn(c) for c in columns)
    key = ", ".join(qn(c) for c in columns[:key_width])
    # Only identifiers of our own models and %s placeholders are formatted into the SQL.
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{PG_TYPES[c]}[]" for c in columns)
            sql = f"INSERT INTO {qn(table)} ({cols}) SELECT * FROM unnest({arrays}) "  # noqa: S608
            cursor.execute(
                f"{sql} ON CONFLICT ({key}) {action}", [list(c) for c in zip(*rows, strict=True)]
            )
        else:
            marks = ", ".join(["%s"] * len(columns))
            sql = f"INSERT INTO {qn(table)} ({cols}) VALUES ({marks}) "  # noqa: S608
            cursor.executemany(f"{sql} ON CONFLICT ({key}) {action}", rows)


def _upsert(
    table: str, columns: list[str], key_width: int, added: list[str], rows: list[tuple]
) -> None:
    """Add the ``added`` columns of each row to the stored row with the same key (or insert)."""
    qn = connection.ops.quote_name
    sets = ", ".join(f"{qn(c)} = {qn(table)}.{qn(c)} + excluded.{qn(c)}" for c in added)
    upsert(table, columns, key_width, f"DO UPDATE SET {sets}", rows)
