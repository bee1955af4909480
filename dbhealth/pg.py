"""PostgreSQL analysis: indexes (unused, duplicate, prefix-redundant, invalid, bloated), stale
statistics and missing-index hints, from the catalogs and the statistics views.

Every rule and its source is listed in dbhealth/README.md. Each check is its own function so a
failing one (a timeout, a permission) is reported as skipped and the others still run.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from dbhealth.targets import Db

LEFTOVER = re.compile(r"_cc(new|old)\d*$")
BLOCK_OVERHEAD = 24 + 16  # page header + btree special space
INDEX_TUPLE_HEADER = 8
LINE_POINTER = 4
MAXALIGN = 8


@dataclass
class Options:
    # An index smaller than this is never called unused or bloated: dropping or rebuilding it
    # saves nothing worth a lock (pg-index-health and PgHero skip small ones too).
    min_index_bytes: int = 1024 * 1024
    # Usage is judged over this many days of statistics (our snapshots or since stats_reset).
    window_days: int = 7
    bloat_percent: float = 30.0
    # Missing-index hints: tables with at least this many rows, at least this many sequential
    # scans, and more sequential than index scans.
    hint_min_rows: int = 10_000
    hint_min_seq_scans: int = 50
    statement_timeout_s: int = 60


@dataclass
class Index:
    oid: int
    schema: str
    table: str
    table_oid: int
    name: str
    method: str
    unique: bool
    primary: bool
    exclusion: bool
    valid: bool
    backs_constraint: bool
    nkey: int
    keys: list[int]
    opclasses: list[str]
    collations: list[str]
    options: list[str]
    columns: list[str]
    exprs: str
    pred: str
    size: int
    relpages: int
    reltuples: float
    idx_scan: int | None
    definition: str
    fillfactor: int
    verdicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bloat_percent: float | None = None
    bloat_method: str = ""
    fk_backing: bool = False
    scans_in_window: int | None = None

    @property
    def key_signature(self) -> tuple:
        return tuple(
            zip(
                self.keys[: self.nkey],
                self.opclasses[: self.nkey],
                self.collations[: self.nkey],
                self.options[: self.nkey],
                strict=False,
            )
        )

    @property
    def leftover(self) -> bool:
        return bool(LEFTOVER.search(self.name))

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def as_dict(self) -> dict:
        return {
            "oid": self.oid,
            "schema": self.schema,
            "table": self.table,
            "name": self.name,
            "method": self.method,
            "columns": self.columns,
            "unique": self.unique,
            "primary": self.primary,
            "valid": self.valid,
            "size": self.size,
            "idx_scan": self.idx_scan,
            "scans_in_window": self.scans_in_window,
            "bloat_percent": None if self.bloat_percent is None else round(self.bloat_percent),
            "bloat_method": self.bloat_method,
            "definition": self.definition,
            "verdicts": self.verdicts or ["ok"],
            "notes": self.notes,
            "droppable": any(
                v.startswith(("unused", "duplicate of", "redundant")) for v in self.verdicts
            ),
            "rebuildable": any(v.startswith(("invalid", "bloated")) for v in self.verdicts)
            and not self.leftover,
        }


INDEX_SQL = """
SELECT i.oid, n.nspname, t.relname, t.oid, i.relname, am.amname,
       ix.indisunique, ix.indisprimary, ix.indisexclusion, ix.indisvalid AND ix.indisready,
       EXISTS (SELECT 1 FROM pg_constraint c
               WHERE c.conindid = i.oid AND c.contype IN ('p', 'u', 'x')),
       ix.indnkeyatts, ix.indkey::text, ix.indclass::text, ix.indcollation::text,
       ix.indoption::text,
       ARRAY(SELECT coalesce(a.attname::text, '(expression)')
             FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
             LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
             ORDER BY k.ord),
       coalesce(pg_get_expr(ix.indexprs, ix.indrelid), ''),
       coalesce(pg_get_expr(ix.indpred, ix.indrelid), ''),
       pg_relation_size(i.oid), i.relpages, i.reltuples, s.idx_scan, pg_get_indexdef(i.oid),
       coalesce((SELECT split_part(o, '=', 2)::int FROM unnest(i.reloptions) o
                 WHERE o LIKE 'fillfactor=%%'), 90)
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = i.relam
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.oid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND t.relpersistence <> 't' AND %s
ORDER BY n.nspname, t.relname, i.relname
"""


def _split(text: str) -> list[str]:
    return [part for part in (text or "").split() if part]


def load_indexes(db: Db) -> list[Index]:
    found = []
    for row in db.rows(INDEX_SQL, [True]):
        (oid, schema, table, table_oid, name, method, unique, primary, exclusion, valid, backs,
         nkey, keys, opclasses, collations, options, columns, exprs, pred, size, relpages,
         reltuples, idx_scan, definition, fillfactor) = row  # fmt: skip
        found.append(
            Index(
                oid=int(oid),
                schema=schema,
                table=table,
                table_oid=int(table_oid),
                name=name,
                method=method,
                unique=unique,
                primary=primary,
                exclusion=exclusion,
                valid=valid,
                backs_constraint=backs,
                nkey=nkey,
                keys=[int(k) for k in _split(keys)],
                opclasses=_split(opclasses),
                collations=_split(collations),
                options=_split(options),
                columns=list(columns),
                exprs=exprs,
                pred=pred,
                size=int(size),
                relpages=int(relpages),
                reltuples=float(reltuples),
                idx_scan=None if idx_scan is None else int(idx_scan),
                definition=definition,
                fillfactor=int(fillfactor),
            )
        )
    return found


# ---------------------------------------------------------------- invalid


def mark_invalid(indexes: list[Index]) -> int:
    count = 0
    for index in indexes:
        if index.leftover:
            index.verdicts.append(
                "invalid: leftover of a failed REINDEX CONCURRENTLY"
                if not index.valid
                else "leftover name of REINDEX CONCURRENTLY (valid)"
            )
            count += 1
        elif not index.valid:
            index.verdicts.append("invalid")
            count += 1
    return count


# ---------------------------------------------------------------- duplicates and prefixes


def _keeper_rank(index: Index) -> tuple:
    """Which of two identical indexes to keep: constraint-backing, unique, then the older."""
    return (not index.backs_constraint, not index.unique, index.oid)


def mark_duplicates(indexes: list[Index]) -> int:
    """Exact duplicates (same table, method, columns, opclasses, collations, options,
    expressions and predicate) and btree indexes whose key columns are a strict prefix of
    another's with everything else equal. A unique or constraint index is never the redundant
    one of a prefix pair: its uniqueness is a rule, not an access path."""
    flagged: set[int] = set()
    by_table: dict[int, list[Index]] = {}
    for index in indexes:
        if index.valid and not index.leftover:
            by_table.setdefault(index.table_oid, []).append(index)
    for group in by_table.values():
        for a in group:
            for b in group:
                if a is b or a.oid in flagged:
                    continue
                same_shape = a.method == b.method and a.exprs == b.exprs and a.pred == b.pred
                if not same_shape:
                    continue
                identical = a.key_signature == b.key_signature and a.keys == b.keys
                if identical:
                    if _keeper_rank(a) > _keeper_rank(b) and not a.backs_constraint:
                        a.verdicts.append(f"duplicate of {b.name}")
                        flagged.add(a.oid)
                    continue
                prefix = (
                    a.method == "btree"
                    and not a.exprs
                    and not a.unique
                    and not a.backs_constraint
                    and a.nkey < b.nkey
                    and a.key_signature == b.key_signature[: a.nkey]
                    and set(a.keys[a.nkey :]) <= set(b.keys)
                )
                if prefix:
                    a.verdicts.append(f"redundant: prefix of {b.name}")
                    flagged.add(a.oid)
    return len(flagged)


# ---------------------------------------------------------------- unused


def foreign_keys(db: Db) -> dict[int, list[set[int]]]:
    """table oid → the column sets of its foreign keys."""
    found: dict[int, list[set[int]]] = {}
    for conrelid, conkey in db.rows(
        "SELECT conrelid, conkey::text FROM pg_constraint WHERE contype = %s", ["f"]
    ):
        cols = {int(c) for c in conkey.strip("{}").split(",") if c}
        found.setdefault(int(conrelid), []).append(cols)
    return found


def mark_fk_backing(indexes: list[Index], fks: dict[int, list[set[int]]]) -> None:
    """An index backs a foreign key when its leading key columns are exactly the FK's columns
    (in any order): deleting from the referenced table searches by them."""
    for index in indexes:
        for cols in fks.get(index.table_oid, []):
            lead = index.keys[: len(cols)]
            if not index.exprs and len(lead) == len(cols) and set(lead) == cols:
                index.fk_backing = True


@dataclass
class UsageWindow:
    stats_reset: datetime | None
    oldest_snapshot: date | None
    baseline: dict[tuple[str, str], int]  # (schema, index) → idx_scan at the window start
    baseline_on: date | None


def stats_reset(db: Db) -> datetime | None:
    return db.one("SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()")


def mark_unused(indexes: list[Index], window: UsageWindow, options: Options, now: datetime) -> int:
    count = 0
    stats_age = (now - window.stats_reset) if window.stats_reset else None
    enough_stats = stats_age is not None and stats_age >= timedelta(days=options.window_days)
    for index in indexes:
        if index.verdicts:  # invalid or duplicate already says what to do
            continue
        excluded = [
            label
            for flag, label in (
                (index.primary, "primary key"),
                (index.unique and not index.primary, "unique"),
                (index.exclusion, "exclusion constraint"),
                (index.backs_constraint and not index.unique, "backs a constraint"),
                (index.fk_backing, "backs a foreign key"),
                (index.size < options.min_index_bytes, "small"),
            )
            if flag
        ]
        if excluded:
            index.notes.append("not judged for use: " + ", ".join(excluded))
            continue
        scans = index.idx_scan or 0
        start = window.baseline.get((index.schema, index.name))
        if start is not None and window.baseline_on is not None:
            # A reading lower than the window start means a reset in between: all scans since
            # the reset fall inside the window.
            in_window = scans - start if scans >= start else scans
            index.scans_in_window = in_window
            if in_window == 0:
                index.verdicts.append(f"unused: 0 scans since {window.baseline_on:%Y-%m-%d}")
                count += 1
            continue
        if window.baseline_on is not None:
            # We have snapshots that old but none of this index: it is newer than the window.
            index.verdicts.append(
                f"insufficient data: index newer than the {options.window_days}-day window"
            )
            continue
        if enough_stats and window.oldest_snapshot is None:
            index.scans_in_window = scans
            if scans == 0:
                index.verdicts.append(
                    f"unused: 0 scans since statistics reset {window.stats_reset:%Y-%m-%d}"
                )
                count += 1
            continue
        if window.oldest_snapshot is not None:
            days = (now.date() - window.oldest_snapshot).days
            seen = f"snapshots cover {days} of {options.window_days} days"
        elif stats_age is not None:
            seen = f"statistics are {stats_age.days} of {options.window_days} days old"
        else:
            seen = "statistics were never reset and no snapshots exist yet"
        index.verdicts.append(f"insufficient data: {seen}")
    return count


# ---------------------------------------------------------------- bloat


def has_extension(db: Db, name: str) -> bool:
    return bool(db.one("SELECT count(*) FROM pg_extension WHERE extname = %s", [name]))


def _align(n: float) -> float:
    return math.ceil(n / MAXALIGN) * MAXALIGN


def estimate_btree_pages(index: Index, widths: dict[str, tuple[float, float]]) -> float | None:
    """Pages a freshly built btree of this index would need, from ``pg_stats``.

    Leaf tuple = MAXALIGN(8-byte header + the key and INCLUDE columns' average widths, nulls
    discounted) + a 4-byte line pointer; a leaf page holds (8192 - 40) * fillfactor bytes of
    them; internal pages add one downlink per leaf; plus the metapage. ``None`` when a column
    has no statistics (never analysed) or the index has expressions.
    """
    if index.exprs or index.reltuples < 0:
        return None
    data = 0.0
    for name in index.columns:
        if name not in widths:
            return None
        avg_width, null_frac = widths[name]
        data += avg_width * (1 - null_frac)
    tuple_bytes = _align(INDEX_TUPLE_HEADER + data) + LINE_POINTER
    usable = (8192 - BLOCK_OVERHEAD) * index.fillfactor / 100
    leaf = math.ceil(index.reltuples * tuple_bytes / usable) if index.reltuples else 1
    internal = math.ceil(leaf * tuple_bytes / (8192 - BLOCK_OVERHEAD)) if leaf > 1 else 0
    return 1 + max(leaf, 1) + internal


def column_widths(db: Db, schema: str, table: str) -> dict[str, tuple[float, float]]:
    rows = db.rows(
        "SELECT attname, avg_width, null_frac FROM pg_stats "
        "WHERE schemaname = %s AND tablename = %s AND NOT inherited",
        [schema, table],
    )
    return {name: (float(width), float(nulls)) for name, width, nulls in rows}


def mark_bloat(db: Db, indexes: list[Index], options: Options) -> tuple[int, str]:
    measured = has_extension(db, "pgstattuple")
    widths_cache: dict[tuple[str, str], dict] = {}
    count = 0
    for index in indexes:
        # Partitioned parents have no storage of their own (size 0): nothing to measure.
        if index.method != "btree" or not index.valid or index.leftover or not index.size:
            continue
        if measured:
            density = db.one("SELECT avg_leaf_density FROM pgstatindex(%s)", [index.oid])
            if density is None or math.isnan(float(density)):
                continue
            index.bloat_percent = max(0.0, 100 - float(density) / index.fillfactor * 100)
            index.bloat_method = "pgstattuple"
        else:
            key = (index.schema, index.table)
            if key not in widths_cache:
                widths_cache[key] = column_widths(db, *key)
            expected = estimate_btree_pages(index, widths_cache[key])
            if expected is None or index.relpages <= 0:
                continue
            index.bloat_percent = max(0.0, (index.relpages - expected) / index.relpages * 100)
            index.bloat_method = "estimate"
        if (
            index.bloat_percent >= options.bloat_percent
            and index.size >= options.min_index_bytes
            and not any(v.startswith(("duplicate", "redundant")) for v in index.verdicts)
        ):
            index.verdicts.append(f"bloated ~{index.bloat_percent:.0f}%")
            count += 1
    return count, "pgstattuple" if measured else "estimate"


# ---------------------------------------------------------------- tables


TABLE_SQL = """
SELECT s.schemaname, s.relname, s.seq_scan, s.seq_tup_read, coalesce(s.idx_scan, 0),
       s.n_live_tup, s.n_mod_since_analyze, greatest(s.last_analyze, s.last_autoanalyze),
       c.reltuples, pg_table_size(c.oid),
       coalesce((SELECT split_part(o, '=', 2)::float8 FROM unnest(c.reloptions) o
                 WHERE o LIKE 'autovacuum\\_analyze\\_threshold=%%'),
                current_setting('autovacuum_analyze_threshold')::float8),
       coalesce((SELECT split_part(o, '=', 2)::float8 FROM unnest(c.reloptions) o
                 WHERE o LIKE 'autovacuum\\_analyze\\_scale\\_factor=%%'),
                current_setting('autovacuum_analyze_scale_factor')::float8)
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE %s
ORDER BY s.schemaname, s.relname
"""


def table_findings(db: Db, options: Options) -> tuple[list[dict], list[dict]]:
    """(stale statistics, missing-index hints)."""
    stale, hints = [], []
    for row in db.rows(TABLE_SQL, [True]):
        (schema, table, seq_scan, seq_read, idx_scan, live, mods, analyzed, reltuples, size,
         base, scale) = row  # fmt: skip
        threshold = base + scale * max(float(reltuples), 0.0)
        if mods > threshold:
            stale.append(
                {
                    "schema": schema,
                    "table": table,
                    "changes": int(mods),
                    "threshold": int(threshold),
                    "last_analyzed": analyzed.isoformat() if analyzed else None,
                    "rows": int(live),
                }
            )
        seq_scan = int(seq_scan or 0)
        if (
            live >= options.hint_min_rows
            and seq_scan >= options.hint_min_seq_scans
            and seq_scan > idx_scan
        ):
            hints.append(
                {
                    "schema": schema,
                    "table": table,
                    "rows": int(live),
                    "seq_scan": seq_scan,
                    "idx_scan": int(idx_scan),
                    "avg_rows_read": int(seq_read / seq_scan) if seq_scan else 0,
                    "size": int(size),
                    "hint": (
                        f"{seq_scan} sequential vs {idx_scan} index scans over {live} rows: "
                        "look at the queries filtering this table for a column to index"
                    ),
                }
            )
    return stale, hints


def building(db: Db) -> set[int]:
    """Tables with a CREATE INDEX / REINDEX in progress right now: their invalid indexes may be
    the build itself, not a leftover."""
    return {int(r[0]) for r in db.rows("SELECT relid FROM pg_stat_progress_create_index")}


def leftovers(db: Db) -> list[Index]:
    busy = building(db)
    return [i for i in load_indexes(db) if i.leftover and not i.valid and i.table_oid not in busy]
