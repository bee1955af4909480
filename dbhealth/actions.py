"""Upkeep actions on a target: ask for one (audited, queued after commit), run it in a worker.

``REINDEX/DROP INDEX/CREATE INDEX CONCURRENTLY`` and ``VACUUM`` cannot run inside a transaction
block, so every action runs from ``execute`` (a worker task, or a maintenance job runner),
never inside the request or the approval's transaction. Dropping an index needs four-eyes
approval (``dbhealth.drop_index``); the change request, its audit row and the action keep the
full ``pg_get_indexdef`` so "Recreate" can restore exactly that index.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit.trail import record, transition
from dbhealth.models import Action
from dbhealth.targets import (
    POSTGRESQL,
    SQLITE,
    Db,
    Target,
    TargetError,
    console_source_id,
    get_target,
    open_db,
    quote,
)

APPROVAL_KIND = "dbhealth.drop_index"
# PgHero's values for ANALYZE; REINDEX / DROP wait at most this long for their locks.
ANALYZE_LOCK_TIMEOUT_S, ANALYZE_STATEMENT_TIMEOUT_S = 5, 120
DDL_LOCK_TIMEOUT_S = 5
REINDEX_STATEMENT_TIMEOUT_S = 3600
CREATE_INDEX = re.compile(r"^CREATE (UNIQUE )?INDEX ", re.IGNORECASE)

Status = Action.Status
Kind = Action.Kind


class ActionRefused(ValueError):
    """The action cannot be asked for (no such index, wrong database kind); nothing changed."""


# ---------------------------------------------------------------- lookups


def find_index(db: Db, schema: str, name: str) -> dict | None:
    """The index as the catalog has it now, with what a drop needs to know."""
    if db.vendor == POSTGRESQL:
        rows = db.dicts(
            "SELECT i.oid, t.relname AS table, pg_get_indexdef(i.oid) AS definition, "
            "pg_relation_size(i.oid) AS size, ix.indisunique AS unique, "
            "ix.indisprimary AS primary, ix.indisvalid AS valid, "
            "EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid) AS constraint "
            "FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid "
            "JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace n ON n.oid = i.relnamespace "
            "WHERE n.nspname = %s AND i.relname = %s",
            [schema, name],
        )
        return rows[0] if rows else None
    rows = db.rows(
        "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'index' AND name = ?", [name]
    )
    if not rows:
        return None
    table, sql = rows[0]
    # No SQL text: the index was made by a UNIQUE or PRIMARY KEY constraint.
    return {
        "oid": None,
        "table": table,
        "definition": sql or "",
        "size": None,
        "unique": False,
        "primary": False,
        "valid": True,
        "constraint": sql is None,
    }


def find_table(db: Db, schema: str, table: str) -> bool:
    if db.vendor == POSTGRESQL:
        return bool(
            db.one(
                "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = %s",
                [schema, table],
            )
        )
    return bool(db.one("SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?", [table]))


# ---------------------------------------------------------------- asking


def _create(target: Target, kind: str, user, *, status=Status.QUEUED, **fields) -> Action:
    action = Action.objects.create(
        target=target.key, kind=kind, status=status, requested_by=user, **fields
    )
    record(
        "dbhealth.action.requested",
        action,
        after={
            "kind": kind,
            "target": target.key,
            "schema": action.schema,
            "table": action.table,
            "index": action.index,
            "definition": action.definition,
            "status": status,
        },
        reason=action.reason,
    )
    return action


def _queue(action: Action) -> None:
    from console.tasks import enqueue

    enqueue("dbhealth.tasks.run_action", action.pk)


def request(
    target: Target,
    kind: str,
    user,
    *,
    schema: str = "",
    table: str = "",
    index: str = "",
    reason: str = "",
    queue: bool = True,
) -> Action:
    """Ask for an action that needs no second person (analyse, reindex, ANALYZE, optimize,
    VACUUM); it is checked against the database now and queued after commit."""
    allowed = {
        POSTGRESQL: {Kind.ANALYSE, Kind.REINDEX, Kind.ANALYZE_TABLE},
        SQLITE: {Kind.ANALYSE, Kind.OPTIMIZE, Kind.VACUUM},
    }[target.vendor]
    if kind not in allowed:
        raise ActionRefused(f"{Kind(kind).label} is not available on {target.vendor}")
    definition = ""
    if kind in {Kind.REINDEX, Kind.ANALYZE_TABLE}:
        with open_db(target) as db:
            if kind == Kind.REINDEX:
                found = find_index(db, schema, index)
                if found is None:
                    raise ActionRefused(f"no index {schema}.{index} in {target.label}")
                table, definition = found["table"], found["definition"]
            elif not find_table(db, schema, table):
                raise ActionRefused(f"no table {schema}.{table} in {target.label}")
    with transaction.atomic():
        action = _create(
            target,
            kind,
            user,
            schema=schema,
            table=table,
            index=index,
            definition=definition,
            reason=reason,
        )
        if queue:
            _queue(action)
    return action


def request_drop(target: Target, user, *, schema: str, index: str, reason: str) -> Action:
    """Four-eyes: the drop waits for someone other than ``user`` to approve it."""
    from audit import approvals

    if target.vendor != POSTGRESQL:
        raise ActionRefused("dropping indexes is offered on PostgreSQL targets")
    if not reason.strip():
        raise ActionRefused("say why this index should go")
    with open_db(target) as db:
        found = find_index(db, schema, index)
    if found is None:
        raise ActionRefused(f"no index {schema}.{index} in {target.label}")
    if found["constraint"] or found["primary"]:
        raise ActionRefused(
            f"{schema}.{index} backs a constraint: drop the constraint, not the index"
        )
    with transaction.atomic():
        action = _create(
            target,
            Kind.DROP_INDEX,
            user,
            status=Status.AWAITING_APPROVAL,
            schema=schema,
            table=found["table"],
            index=index,
            definition=found["definition"],
            reason=reason,
            old_oid=found["oid"],
            size_before=found["size"],
        )
        cr = approvals.request_change(
            APPROVAL_KIND,
            requested_by=user,
            payload={
                "action": action.pk,
                "target": target.key,
                "index": f"{schema}.{index}",
                "table": found["table"],
                "definition": found["definition"],
            },
            title=f"Drop index {schema}.{index} on {target.label}",
            target=action,
            reason=reason,
        )
        transition(
            action,
            action="dbhealth.action.approval_requested",
            expect={"status": Status.AWAITING_APPROVAL},
            changes={"change_request_id": cr.pk},
        )
    return action


def request_recreate(dropped: Action, user) -> Action:
    """Recreate a dropped index from the definition stored when it was dropped."""
    if dropped.kind != Kind.DROP_INDEX or dropped.status != Status.SUCCEEDED:
        raise ActionRefused("only an index this console dropped can be recreated")
    target = get_target(dropped.target)
    with open_db(target) as db:
        if find_index(db, dropped.schema, dropped.index) is not None:
            raise ActionRefused(f"{dropped.qualified} exists again; nothing to recreate")
    with transaction.atomic():
        action = _create(
            target,
            Kind.RECREATE_INDEX,
            user,
            schema=dropped.schema,
            table=dropped.table,
            index=dropped.index,
            definition=dropped.definition,
            reason=f"recreate what action #{dropped.pk} dropped",
            recreates=dropped,
        )
        _queue(action)
    return action


def apply_approved(cr) -> dict:
    """The approvals apply function: the approved drop is queued (it runs in a worker, outside
    this transaction, because DROP INDEX CONCURRENTLY cannot run inside one)."""
    action = Action.objects.get(pk=cr.payload["action"])
    if transition(
        action,
        action="dbhealth.action.approved",
        expect={"status": Status.AWAITING_APPROVAL},
        changes={"status": Status.QUEUED},
    ):
        _queue(action)
    return {"action": action.pk, "definition": action.definition}


def close_unapproved(cr) -> None:
    action = Action.objects.filter(pk=cr.payload.get("action")).first()
    if action is not None:
        transition(
            action,
            action="dbhealth.action.not_approved",
            expect={"status": Status.AWAITING_APPROVAL},
            changes={"status": Status.DENIED, "finished_at": timezone.now()},
            reason=f"change request #{cr.pk} {cr.status}",
        )


def validate_payload(payload: dict) -> None:
    from audit.approvals import ApprovalError

    if not Action.objects.filter(pk=payload.get("action"), kind=Kind.DROP_INDEX).exists():
        raise ApprovalError("no such drop-index action")
    if not payload.get("definition"):
        raise ApprovalError("the index definition must be kept with the request")


def register_approval_kind() -> None:
    from audit.approvals import Kind as ApprovalKind
    from audit.approvals import register

    register(
        ApprovalKind(
            name=APPROVAL_KIND,
            title="Drop a database index",
            approve_permission="accounts.run_maintenance",
            apply=apply_approved,
            validate=validate_payload,
            on_close=close_unapproved,
        )
    )


# ---------------------------------------------------------------- running


def _timeouts(db: Db, lock_s: int, statement_s: int) -> None:
    db.run(f"SET lock_timeout = '{int(lock_s)}s'")
    db.run(f"SET statement_timeout = '{int(statement_s)}s'")


def _reset(db: Db) -> None:
    db.run("RESET lock_timeout")
    db.run("RESET statement_timeout")


def _building_on(db: Db, schema: str, index: str) -> bool:
    return bool(
        db.one(
            "SELECT count(*) FROM pg_stat_progress_create_index p "
            "JOIN pg_index ix ON ix.indrelid = p.relid JOIN pg_class i ON i.oid = ix.indexrelid "
            "JOIN pg_namespace n ON n.oid = i.relnamespace WHERE n.nspname = %s AND i.relname = %s",
            [schema, index],
        )
    )


def _oid_size(db: Db, schema: str, index: str) -> tuple[int | None, int | None]:
    found = find_index(db, schema, index)
    return (found["oid"], found["size"]) if found else (None, None)


def clean_leftovers(target: Target, user=None, log=lambda line: None) -> list[Action]:
    """Drop invalid ``_ccnew`` / ``_ccold`` indexes a failed REINDEX CONCURRENTLY left."""
    from dbhealth import pg

    if target.vendor != POSTGRESQL:
        return []
    with open_db(target) as db:
        found = pg.leftovers(db)
    done = []
    for index in found:
        with transaction.atomic():
            action = _create(
                target,
                Kind.CLEAN_LEFTOVER,
                user,
                schema=index.schema,
                table=index.table,
                index=index.name,
                definition=index.definition,
                reason="invalid leftover of a failed REINDEX CONCURRENTLY",
                old_oid=index.oid,
            )
        execute(action.pk)
        action.refresh_from_db()
        log(f"leftover {index.qualified}: {action.status} {action.detail}")
        done.append(action)
    return done


def _run_postgres(db: Db, action: Action) -> dict:
    name = f"{quote(action.schema)}.{quote(action.index or action.table)}"
    if action.kind == Kind.ANALYZE_TABLE:
        _timeouts(db, ANALYZE_LOCK_TIMEOUT_S, ANALYZE_STATEMENT_TIMEOUT_S)
        db.ddl(f"ANALYZE {name}")
        return {"detail": f"ANALYZE {action.qualified} done"}
    if action.kind == Kind.REINDEX:
        old_oid, size_before = _oid_size(db, action.schema, action.index)
        if old_oid is None:
            raise TargetError(f"{action.qualified} no longer exists")
        if _building_on(db, action.schema, action.index):
            raise TargetError("an index build is in progress on this table; try again later")
        _timeouts(db, DDL_LOCK_TIMEOUT_S, REINDEX_STATEMENT_TIMEOUT_S)
        db.ddl(f"REINDEX INDEX CONCURRENTLY {name}")
        new_oid, size_after = _oid_size(db, action.schema, action.index)
        return {
            "old_oid": old_oid,
            "new_oid": new_oid,
            "size_before": size_before,
            "size_after": size_after,
            "detail": f"rebuilt: {size_before or 0} → {size_after or 0} bytes",
        }
    if action.kind in {Kind.DROP_INDEX, Kind.CLEAN_LEFTOVER}:
        found = find_index(db, action.schema, action.index)
        if found is None:
            raise TargetError(f"{action.qualified} no longer exists")
        if found["definition"] != action.definition:
            raise TargetError(
                f"{action.qualified} changed since it was asked for: now "
                f"{found['definition']!r}; nothing dropped"
            )
        _timeouts(db, DDL_LOCK_TIMEOUT_S, REINDEX_STATEMENT_TIMEOUT_S)
        db.ddl(f"DROP INDEX CONCURRENTLY {name}")
        return {
            "old_oid": found["oid"],
            "detail": f"dropped; definition kept: {found['definition']}",
        }
    if action.kind == Kind.RECREATE_INDEX:
        if not CREATE_INDEX.match(action.definition):
            raise TargetError("the stored definition is not a CREATE INDEX statement")
        statement = CREATE_INDEX.sub(
            lambda m: f"CREATE {m.group(1) or ''}INDEX CONCURRENTLY ", action.definition, count=1
        )
        _timeouts(db, DDL_LOCK_TIMEOUT_S, REINDEX_STATEMENT_TIMEOUT_S)
        db.ddl(statement)
        found = find_index(db, action.schema, action.index)
        if found is None or not found["valid"]:
            raise TargetError(f"{action.qualified} was created INVALID; drop it and retry")
        return {"new_oid": found["oid"], "size_after": found["size"], "detail": "recreated"}
    raise TargetError(f"{action.get_kind_display()} is not defined for PostgreSQL")


def _run_sqlite(db: Db, target: Target, action: Action) -> dict:
    if action.kind == Kind.OPTIMIZE:
        db.run("PRAGMA optimize")
        return {"detail": "PRAGMA optimize done"}
    if action.kind == Kind.VACUUM:
        from backups import leases

        source_id = target.source_id if not target.is_console else console_source_id()
        held = None
        if source_id is not None:
            held = leases.acquire(source_id, f"dbhealth VACUUM #{action.pk}")
            if held is None:
                raise TargetError("refused: a backup or restore holds this source's lease")
        try:
            before = db.one("PRAGMA page_count") * db.one("PRAGMA page_size")
            free = db.one("PRAGMA freelist_count")
            db.ddl("VACUUM")
            after = db.one("PRAGMA page_count") * db.one("PRAGMA page_size")
        finally:
            if held is not None:
                leases.release(held)
        return {
            "size_before": before,
            "size_after": after,
            "detail": f"VACUUM: {free} free pages returned; {before} → {after} bytes",
        }
    raise TargetError(f"{action.get_kind_display()} is not defined for SQLite")


def heartbeat_seconds() -> float:
    return float(getattr(settings, "DBHEALTH_HEARTBEAT_SECONDS", 10))


def lease_seconds() -> float:
    """A running action whose heartbeat is older than this is presumed lost."""
    return float(getattr(settings, "DBHEALTH_LEASE_SECONDS", 120))


def _beat(action_pk: int, stop: threading.Event) -> None:
    """Renew the action's heartbeat until ``stop``; one failed write (a busy database) is
    retried on the next beat rather than ending the heartbeat."""
    try:
        while not stop.wait(heartbeat_seconds()):
            try:
                Action.objects.filter(pk=action_pk, status=Status.RUNNING)._audited_update(
                    heartbeat_at=timezone.now()
                )
            except DatabaseError:
                continue
    finally:
        connection.close()


def reap_lost(now=None) -> int:
    """Controller hook: running actions whose worker stopped beating are recorded ``lost``."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=lease_seconds())
    stale = Action.objects.filter(status=Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    lost = 0
    for action in stale:
        seen = action.heartbeat_at or action.started_at
        detail = f"no heartbeat since {seen:%Y-%m-%d %H:%M:%S} UTC: its worker stopped"
        if action.kind == Kind.REINDEX:
            detail += " (an invalid _ccnew leftover is dropped on the next run)"
        if transition(
            action,
            action="dbhealth.action.lost",
            expect={"status": Status.RUNNING, "heartbeat_at": action.heartbeat_at},
            changes={"status": Status.LOST, "finished_at": now, "detail": detail},
        ):
            lost += 1
            from dbhealth.alerts import on_action_failed

            on_action_failed(action)
    return lost


def execute(action_pk: int) -> Action:
    """Worker entry: claim the queued action, run it, record the outcome. Idempotent."""
    action = Action.objects.get(pk=action_pk)
    now = timezone.now()
    if not transition(
        action,
        action="dbhealth.action.started",
        expect={"status": Status.QUEUED},
        changes={"status": Status.RUNNING, "started_at": now, "heartbeat_at": now},
    ):
        return action
    stop = threading.Event()
    beat = threading.Thread(
        target=_beat, args=(action.pk, stop), name=f"heartbeat-dbhealth-{action.pk}", daemon=True
    )
    beat.start()
    try:
        return _execute(action)
    finally:
        stop.set()
        beat.join()


def _execute(action: Action) -> Action:
    outcome: dict = {}
    status = Status.SUCCEEDED
    try:
        target = get_target(action.target)
        if action.kind == Kind.ANALYSE:
            from dbhealth.analysis import analyse

            report = analyse(target, user=action.requested_by)
            outcome = {"report_id": report.pk, "detail": f"report #{report.pk}: {report.status}"}
        else:
            write = action.kind in {Kind.VACUUM, Kind.OPTIMIZE}
            with open_db(target, write=write) as db:
                try:
                    if db.vendor == POSTGRESQL:
                        outcome = _run_postgres(db, action)
                    else:
                        outcome = _run_sqlite(db, target, action)
                finally:
                    if db.vendor == POSTGRESQL and not db.in_transaction():
                        _reset(db)
    except Exception as exc:  # the action records why it failed
        status = Status.FAILED
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        outcome = {"detail": f"{type(exc).__name__}: {text}"[:2000]}
        if action.kind == Kind.REINDEX:
            outcome["detail"] += " (an invalid _ccnew leftover is dropped on the next run)"
    changes = {"status": status, "finished_at": timezone.now(), **outcome}
    with transaction.atomic():
        if (
            transition(
                action,
                action=f"dbhealth.action.{status}",
                expect={"status": Status.RUNNING},
                changes=changes,
            )
            and status == Status.FAILED
        ):
            from dbhealth.alerts import on_action_failed

            on_action_failed(action)
    return action
