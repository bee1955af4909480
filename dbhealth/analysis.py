"""Analyse a target and record the report (and, on PostgreSQL, today's idx_scan snapshot).

Each check runs on its own: one that fails (a timeout, a permission, a catalog the role cannot
read) is listed in ``Report.skipped`` with its error and the report is ``partial``; a target
that cannot be reached at all gives a ``failed`` report. Nothing is called clean unless it was
checked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from audit.trail import record
from dbhealth import alerts, pg, sqlitecheck
from dbhealth.models import IndexSnapshot, Report
from dbhealth.targets import POSTGRESQL, Db, DjangoDb, Target, TargetError, open_db

logger = logging.getLogger(__name__)


@contextmanager
def _check_scope(db: Db, timeout_s: int):
    """One check: its own transaction (so a failed statement does not poison the rest) with a
    statement timeout."""
    if isinstance(db, DjangoDb):
        with transaction.atomic():
            if db.vendor == POSTGRESQL:
                db.run(f"SET LOCAL statement_timeout = '{int(timeout_s)}s'")
            yield
    else:
        if db.vendor == POSTGRESQL:
            db.run(f"SET statement_timeout = '{int(timeout_s)}s'")
        yield


class _Checks:
    def __init__(self, db: Db, timeout_s: int, log: Callable[[str], None]):
        self.db, self.timeout_s, self.log = db, timeout_s, log
        self.skipped: list[dict] = []

    def run(self, name: str, func: Callable, *args, default=None):
        try:
            with _check_scope(self.db, self.timeout_s):
                return func(*args)
        except Exception as exc:  # any failure of one check is reported as such
            reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
            logger.warning("dbhealth check %s failed: %s", name, reason)
            self.log(f"skipped {name}: {reason}")
            self.skipped.append({"check": name, "reason": reason})
            return default


def _window(target: Target, options: pg.Options, now, reset) -> pg.UsageWindow:
    cutoff = now.date() - timedelta(days=options.window_days)
    snaps = IndexSnapshot.objects.filter(target=target.key)
    oldest = snaps.order_by("taken_on").values_list("taken_on", flat=True).first()
    baseline_on = (
        snaps.filter(taken_on__lte=cutoff)
        .order_by("-taken_on")
        .values_list("taken_on", flat=True)
        .first()
    )
    baseline = {}
    if baseline_on is not None:
        baseline = {
            (schema, index): scans
            for schema, index, scans in snaps.filter(taken_on=baseline_on).values_list(
                "schema", "index", "idx_scan"
            )
        }
    return pg.UsageWindow(reset, oldest, baseline, baseline_on)


def snapshot(target: Target, indexes: list[pg.Index], now) -> int:
    """Today's first reading of every index's idx_scan (later readings today are not kept)."""
    rows = [
        IndexSnapshot(
            target=target.key,
            taken_on=now.date(),
            schema=i.schema,
            table=i.table,
            index=i.name,
            idx_scan=i.idx_scan or 0,
            taken_at=now,
        )
        for i in indexes
        if i.idx_scan is not None
    ]
    created = IndexSnapshot.objects.bulk_create(rows, ignore_conflicts=True)
    return len(created)


def analyse_postgres(db: Db, target: Target, options: pg.Options, checks: _Checks, now) -> dict:
    indexes = checks.run("indexes", pg.load_indexes, db, default=None)
    findings: dict = {"indexes": [], "stale": [], "hints": [], "options": vars(options)}
    counts = dict.fromkeys(
        ("indexes", "unused", "duplicate", "invalid", "bloated", "insufficient", "stale", "hints"),
        0,
    )
    if indexes is not None:
        counts["invalid"] = pg.mark_invalid(indexes)
        counts["duplicate"] = pg.mark_duplicates(indexes)
        fks = checks.run("foreign keys", pg.foreign_keys, db, default=None)
        reset = checks.run("statistics age", pg.stats_reset, db, default=None)
        if fks is None:
            checks.skipped.append(
                {"check": "unused indexes", "reason": "foreign keys could not be read"}
            )
        else:
            pg.mark_fk_backing(indexes, fks)
            window = _window(target, options, now, reset)
            counts["unused"] = pg.mark_unused(indexes, window, options, now)
            findings["stats_reset"] = reset.isoformat() if reset else None
            findings["window_start"] = (
                window.baseline_on.isoformat() if window.baseline_on else None
            )
            findings["snapshots_since"] = (
                window.oldest_snapshot.isoformat() if window.oldest_snapshot else None
            )
        bloat = checks.run("bloat", pg.mark_bloat, db, indexes, options, default=None)
        if bloat is not None:
            counts["bloated"], findings["bloat_method"] = bloat
        counts["indexes"] = len(indexes)
        counts["insufficient"] = sum(
            1 for i in indexes if any(v.startswith("insufficient") for v in i.verdicts)
        )
        findings["indexes"] = [i.as_dict() for i in indexes]
        findings["snapshot_rows"] = snapshot(target, indexes, now)
    tables = checks.run("tables", pg.table_findings, db, options, default=None)
    if tables is not None:
        findings["stale"], findings["hints"] = tables
        counts["stale"], counts["hints"] = len(tables[0]), len(tables[1])
    findings["statement_suggestions"] = (
        "not made: suggestions from pg_stat_statements are not implemented; "
        "hints come from table scan counters"
    )
    return {"findings": findings, "counts": counts}


def analyse_sqlite(db: Db, checks: _Checks, full_integrity: bool) -> dict:
    findings: dict = {
        "integrity_mode": "integrity_check" if full_integrity else "quick_check",
        "notes": [
            "SQLite keeps no index usage counters: unused indexes cannot be found here.",
            "Statistics: PRAGMA optimize decides itself which tables need ANALYZE.",
        ],
    }
    counts: dict = {"indexes": 0, "duplicate": 0, "integrity_errors": 0}
    result = checks.run(
        "integrity", lambda: sqlitecheck.integrity(db, full=full_integrity), default=None
    )
    if result is not None:
        findings["integrity"] = result
        counts["integrity_errors"] = 0 if result == ["ok"] else len(result)
    space = checks.run("space", sqlitecheck.space, db, default=None)
    if space is not None:
        findings["space"] = space
        counts["reclaimable_percent"] = space["reclaimable_percent"]
    found = checks.run("indexes", sqlitecheck.indexes, db, default=None)
    if found is not None:
        findings["indexes"], findings["sizes_known"] = found
        counts["indexes"] = len(found[0])
        counts["duplicate"] = sqlitecheck.problems(found[0])
    return {"findings": findings, "counts": counts}


def analyse(
    target: Target,
    *,
    options: pg.Options | None = None,
    full_integrity: bool = False,
    user=None,
    run_ref: str = "",
    log: Callable[[str], None] = lambda line: None,
    now=None,
) -> Report:
    options = options or pg.Options()
    started = now or timezone.now()
    error, result, skipped, vendor = "", {"findings": {}, "counts": {}}, [], target.vendor
    try:
        with open_db(target) as db:
            vendor = db.vendor
            checks = _Checks(db, options.statement_timeout_s, log)
            if db.vendor == POSTGRESQL:
                result = analyse_postgres(db, target, options, checks, started)
            else:
                result = analyse_sqlite(db, checks, full_integrity)
            skipped = checks.skipped
    except TargetError as exc:
        error = str(exc)
        log(f"failed: {error}")
    status = (
        Report.Status.FAILED
        if error
        else (Report.Status.PARTIAL if skipped else Report.Status.COMPLETE)
    )
    with transaction.atomic():
        report = Report.objects.create(
            target=target.key,
            target_label=target.label,
            vendor=vendor,
            status=status,
            started_at=started,
            finished_at=timezone.now(),
            skipped=skipped,
            findings=result["findings"],
            counts=result["counts"],
            error=error,
            requested_by=user,
            run_ref=run_ref,
        )
        record(
            "dbhealth.report.recorded",
            report,
            after={"status": status, "counts": report.counts, "skipped": skipped},
        )
        alerts.on_report(report)
    return report


def latest(target_key: str) -> Report | None:
    return Report.objects.for_target(target_key).first()


def snapshot_due(now=None) -> str:
    """Controller hook: today's idx_scan reading of every PostgreSQL target that has none yet,
    so usage windows fill without anyone scheduling a job. A target that cannot be read is
    logged and tried again at the next tick."""
    from dbhealth.targets import all_targets

    now = now or timezone.now()
    taken, failed = [], []
    for target in all_targets():
        if target.vendor != POSTGRESQL:
            continue
        if IndexSnapshot.objects.filter(target=target.key, taken_on=now.date()).exists():
            continue
        try:
            # A savepoint: a failed read must not poison a caller's transaction.
            with transaction.atomic(), open_db(target) as db:
                indexes = pg.load_indexes(db)
                taken.append(f"{target.key}: {snapshot(target, indexes, now)}")
        except Exception as exc:  # one unreachable source must not stop the others
            logger.warning("dbhealth snapshot of %s failed: %s", target.key, exc)
            failed.append(target.key)
    if not taken and not failed:
        return "nothing due"
    return "snapshots " + ", ".join(taken) + (f"; failed: {', '.join(failed)}" if failed else "")
