"""Restores with a safety net, and restore drills.

The pipeline (fractions are the progress shown, and the points the failure tests inject at):
  0.00-0.05  structural check of the backup to restore
  0.05-0.30  pre-restore backup of the existing target (kept, structurally verified)
  0.30-0.85  rebuild the backup at a scratch location beside the target (every object
             authenticated and re-hashed as it is read)
  0.85-0.95  checks: SQLite integrity_check, row counts and content hash; PostgreSQL row counts
             per table and a pg_dump hash; directory tree hash — all against the manifest
  0.95-1.00  atomic swap: rename(2) for a file, renameat2(RENAME_EXCHANGE) for a directory, one
             transaction of ALTER DATABASE … RENAME for PostgreSQL
Anything that fails before the swap leaves the target as it was; the scratch is removed and the
restore is recorded ``rolled_back`` with its pre-restore backup linked.
"""

from __future__ import annotations

import os
import traceback
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.trail import record, transition
from backups import engine, leases, sources
from backups.jobs import (
    _Heart,
    _link,
    _notify,
    execute_backup,
    repository_for,
    scratch_root,
    spec_for,
    verify_backup_structure,
)
from backups.models import Backup, Restore, Source

APPROVAL_KIND = "backups.production_restore"


class RestoreRefused(ValueError):
    pass


def default_target(source: Source) -> str:
    if source.kind == Source.Kind.POSTGRES:
        return sources.dsn_database(spec_for(source).location)
    return source.location


def _is_console_database(source: Source) -> bool:
    from backups.registry import console_source_spec

    kind, location = console_source_spec()
    if source.kind != kind:
        return False
    if kind == Source.Kind.POSTGRES:
        return _pg_place(location) == _pg_place(source.location)
    return Path(location).resolve() == Path(source.location).resolve()


def real_path(path: str) -> str:
    """One spelling per file: ``.``, ``..``, repeated slashes and symlinks (of every existing
    parent) resolved, so two spellings of the same place compare equal."""
    return os.path.realpath("/" + str(path).lstrip("/"))


def _pg_host(host: str | None) -> str:
    """One spelling per server: no host (the local socket), ``localhost``, ``127.0.0.1`` and
    ``::1`` are all this machine; other names are resolved to their sorted addresses, so a name
    and its IP address compare equal. A name that does not resolve stays as written."""
    import ipaddress
    import socket

    host = (host or "").strip().lower()
    if not host or host.startswith("/") or host == "localhost":
        return "local"
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return host
    if all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        return "local"
    return ",".join(sorted(addresses))


def _pg_place(dsn: str) -> tuple[str, int, str]:
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(dsn)
    # libpq also takes the host from ?host=/run/postgresql (a socket directory).
    host = parts.hostname or parse_qs(parts.query).get("host", [""])[0]
    return (_pg_host(host), parts.port or 5432, parts.path.lstrip("/"))


def _refuse_other_places(source: Source, target: str) -> None:
    """A target that is another registered source, or the console's own database, is refused:
    replacing a source goes through that source's own restore (and its approval rules)."""
    from backups.registry import console_source_spec

    console_kind, console_location = console_source_spec()
    if source.kind == Source.Kind.POSTGRES:
        place = (*_pg_place(spec_for(source).location)[:2], target)
        others = Source.objects.filter(kind=Source.Kind.POSTGRES).exclude(pk=source.pk)
        taken = [o for o in others if _pg_place(o.location) == place]
        is_console = console_kind == Source.Kind.POSTGRES and _pg_place(console_location) == place
    else:
        others = Source.objects.exclude(kind=Source.Kind.POSTGRES).exclude(pk=source.pk)
        taken = [o for o in others if real_path(o.location) == target]
        is_console = console_kind != Source.Kind.POSTGRES and real_path(console_location) == target
    if is_console:
        raise RestoreRefused(
            "the target is the console's own database, which cannot be replaced while it runs"
        )
    if taken:
        raise RestoreRefused(
            f"the target is the location of source {taken[0].name!r}; "
            "restore one of that source's backups to replace it"
        )


def describe(backup: Backup, target: str) -> dict:
    """What a restore of ``backup`` onto ``target`` will do (the wizard's preview)."""
    source = backup.source
    target = target or default_target(source)
    if source.kind == Source.Kind.POSTGRES:
        sources.check_database_name(target)
        onto_source = target == default_target(source)
    else:
        if not target.startswith("/"):
            raise sources.SourceError("the target must be an absolute path")
        target = real_path(target)
        onto_source = target == real_path(source.location)
    if not onto_source:
        _refuse_other_places(source, target)
    exists = _target_exists(source, target)
    return {
        "target": target,
        "onto_source": onto_source,
        "exists": exists,
        "needs_approval": onto_source and source.production,
        "pre_restore_backup": exists,
        "steps": [
            "check the backup's structure",
            *(["take a pre-restore backup of the current target"] if exists else []),
            "rebuild the backup in a scratch location and check it against the manifest",
            "swap it in atomically" if exists else "move it into place",
        ],
    }


def _target_exists(source: Source, target: str) -> bool:
    if source.kind == Source.Kind.POSTGRES:
        return sources.pg_database_exists(spec_for(source).location, target)
    return Path(target).exists()


def request_restore(
    backup: Backup, *, target: str = "", user=None, enqueue: bool = True
) -> Restore:
    """Record a restore; production targets wait for a second person's approval."""
    from audit import approvals

    if backup.status != Backup.Status.COMPLETE:
        raise RestoreRefused("only a complete backup can be restored")
    source = backup.source
    plan = describe(backup, target)
    if plan["onto_source"] and _is_console_database(source):
        raise RestoreRefused(
            "the console's own database cannot be replaced while it runs; "
            "restore it to another target"
        )
    if plan["needs_approval"] and user is None:
        raise RestoreRefused(
            "a production restore needs a named requester and a second person's approval: "
            "request it in the restore wizard"
        )
    with transaction.atomic():
        restore = Restore.objects.create(
            backup=backup,
            target=plan["target"],
            target_is_source=plan["onto_source"],
            requested_by=user,
            status=Restore.Status.AWAITING_APPROVAL
            if plan["needs_approval"]
            else Restore.Status.QUEUED,
        )
        record(
            "backups.restore.requested",
            restore,
            after={"target": restore.target, "status": restore.status},
        )
        if plan["needs_approval"]:
            cr = approvals.request_change(
                APPROVAL_KIND,
                requested_by=user,
                payload={"restore": restore.pk},
                title=f"Restore {backup} onto production source {source.name}",
                target=restore,
            )
            transition(
                restore,
                action="backups.restore.approval_requested",
                expect={"status": Restore.Status.AWAITING_APPROVAL},
                changes={"change_request_id": cr.pk},
            )
        elif enqueue:
            from console.tasks import enqueue as queue

            queue("backups.tasks.run_restore", restore.pk)
    return restore


def apply_approved(cr) -> dict:
    """The approvals apply function: the approved restore is queued."""
    from console.tasks import enqueue as queue

    restore = Restore.objects.get(pk=cr.payload["restore"])
    if transition(
        restore,
        action="backups.restore.approved",
        expect={"status": Restore.Status.AWAITING_APPROVAL},
        changes={"status": Restore.Status.QUEUED},
    ):
        queue("backups.tasks.run_restore", restore.pk)
    return {"restore": restore.pk}


def close_unapproved(cr) -> None:
    """The approvals close hook: a denied, cancelled or expired request ends its restore."""
    restore = Restore.objects.filter(pk=cr.payload.get("restore")).first()
    if restore is not None:
        transition(
            restore,
            action="backups.restore.denied",
            expect={"status": Restore.Status.AWAITING_APPROVAL},
            changes={"status": Restore.Status.DENIED},
            reason=f"change request #{cr.pk} {cr.status}",
        )


def validate_payload(payload: dict) -> None:
    from audit.approvals import ApprovalError

    if not Restore.objects.filter(pk=payload.get("restore")).exists():
        raise ApprovalError("no such restore")


def register_approval_kind() -> None:
    from audit.approvals import Kind, register

    register(
        Kind(
            name=APPROVAL_KIND,
            title="Production restore",
            approve_permission="accounts.request_production_restore",
            apply=apply_approved,
            validate=validate_payload,
            on_close=close_unapproved,
        )
    )


def scratch_for(restore: Restore) -> str:
    source = restore.backup.source
    if source.kind == Source.Kind.POSTGRES:
        return f"{restore.target}_restore_{restore.pk}"[:63]
    target = Path(restore.target)
    return str(target.parent / f".{target.name}.restore-{restore.pk}")


def discard_scratch(restore: Restore) -> None:
    source = restore.backup.source
    scratch = scratch_for(restore)
    if source.kind == Source.Kind.POSTGRES:
        admin = sources.dsn_with_database(spec_for(source).location, "postgres")
        engine.drop_database(admin, scratch)
    else:
        for suffix in ("", "-wal", "-shm", "-journal"):
            engine.remove_path(Path(scratch + suffix))


def run_restore(
    restore_pk: int, *, fail_at: float | None = None, hook=None, now: datetime | None = None
) -> Restore:
    """Worker entry. ``fail_at`` (a fraction) injects a failure; only tests pass it."""
    restore = Restore.objects.select_related("backup__source").get(pk=restore_pk)
    if restore.status != Restore.Status.QUEUED:
        return restore
    source = restore.backup.source
    held = leases.acquire(source.pk, f"restore #{restore.pk}", now=now)
    if held is None:
        transition(
            restore,
            action="backups.restore.rolled_back",
            expect={"status": "queued"},
            changes={
                "status": Restore.Status.ROLLED_BACK,
                "finished_at": timezone.now(),
                "error": "skipped: another job holds this source; target untouched",
            },
        )
        return restore
    with leases.Keeper(held):
        _restore(restore, held, fail_at, hook)
    leases.release(held)
    restore.refresh_from_db()
    return restore


def _restore(restore: Restore, held: leases.Held, fail_at, hook) -> None:
    backup = restore.backup
    source = backup.source
    heart = _Heart(held)
    if not transition(
        restore,
        action="backups.restore.started",
        expect={"status": "queued"},
        changes={
            "status": Restore.Status.RUNNING,
            "started_at": timezone.now(),
            "fence": held.token,
        },
    ):
        return

    def report(fraction: float, step: str) -> None:
        heart.beat()
        if step != restore.step or fraction - restore.fraction >= 0.01:
            restore.fraction, restore.step = fraction, step
            restore.save(update_fields=["fraction", "step"])

    steps = engine.Steps(report, fail_at)
    checks: dict = {}
    try:
        repo = repository_for(source)
        manifest = repo.read_manifest(backup.manifest_name)
        problems = engine.verify_structure(repo, manifest)
        if problems:
            raise engine.RestoreFailed(f"the backup is damaged: {problems[0].problem}")
        checks["structure"] = "ok"
        steps.at(0.05, "pre-restore backup")
        if _target_exists(source, restore.target) and not restore.drill:
            pre = _pre_restore_backup(restore, held, hook)
            if pre.status != Backup.Status.COMPLETE:
                raise engine.RestoreFailed(f"the pre-restore backup failed: {pre.error}")
            checks["pre_restore_backup"] = pre.pk
        steps.at(0.30, "rebuilding in scratch")
        scratch = scratch_for(restore)
        if source.kind != Source.Kind.POSTGRES:
            Path(scratch).parent.mkdir(parents=True, exist_ok=True)
        if source.kind == Source.Kind.SQLITE:
            engine.remove_path(Path(scratch))
            engine.restore_sqlite(
                repo, manifest, Path(restore.target), Path(scratch), steps, 0.30, 0.85
            )
            checks.update(
                integrity_check="ok",
                content_sha256=manifest["database"]["sha256"],
                row_counts="match",
            )
        elif source.kind == Source.Kind.DIRECTORY:
            engine.remove_path(Path(scratch))
            engine.restore_tree(repo, manifest, Path(scratch), steps, 0.30, 0.85)
            checks["tree_hash"] = manifest["tree_hash"]
        else:
            admin = sources.dsn_with_database(spec_for(source).location, "postgres")
            engine.drop_database(admin, scratch)
            engine.restore_postgres(
                repo, manifest, admin, scratch, steps, 0.30, 0.85, scratch_root()
            )
            checks.update(row_counts="match", dump_sha256=manifest["database"]["sha256"])
        steps.at(0.95, "checked")
        steps.at(0.99, "swapping")
        if hook:
            hook("before-swap")
        with transaction.atomic():
            leases.check_in_transaction(held)
            _swap(restore, scratch)
            transition(
                restore,
                action="backups.restore.succeeded",
                expect={"status": "running", "fence": held.token},
                changes={
                    "status": Restore.Status.SUCCEEDED,
                    "fraction": 1.0,
                    "step": "done",
                    "finished_at": timezone.now(),
                    "checks": checks,
                },
            )
    except leases.LeaseLost:
        discard_scratch(restore)
    except Exception as exc:
        discard_scratch(restore)
        detail = (
            str(exc)
            if isinstance(exc, (engine.RestoreFailed, sources.SourceError, engine.RepositoryError))
            else f"{exc.__class__.__name__}: {exc}\n{traceback.format_exc(limit=3)}"
        )
        restore.refresh_from_db(fields=["pre_restore_backup"])
        won = transition(
            restore,
            action="backups.restore.rolled_back",
            expect={"status": "running", "fence": held.token},
            changes={
                "status": Restore.Status.ROLLED_BACK,
                "finished_at": timezone.now(),
                "checks": checks,
                "error": f"{detail[:3000]} — target left untouched",
            },
        )
        if won and not restore.drill:
            _notify(
                "backups.restore_rolled_back",
                f"Restore of {backup} onto {restore.target} was rolled back",
                detail[:2000],
                f"backups.restore_rolled_back:{restore.pk}",
                _link("restore", restore.pk),
            )


def _pre_restore_backup(restore: Restore, held: leases.Held, hook) -> Backup:
    source = restore.backup.source
    onto_source = restore.target_is_source
    with transaction.atomic():
        pre = Backup.objects.create(
            source=source,
            type=Backup.Type.FULL,
            requested_type=Backup.Type.FULL,
            trigger=Backup.Trigger.PRE_RESTORE,
            requested_by=restore.requested_by,
            location="" if onto_source else restore.target,
        )
        record(
            "backups.backup.requested", pre, after={"trigger": "pre_restore", "restore": restore.pk}
        )
        transition(
            restore,
            action="backups.restore.pre_restore_backup",
            expect={"status": "running"},
            changes={"pre_restore_backup_id": pre.pk},
        )
    execute_backup(pre, held, hook=hook, verify_after=False)
    pre.refresh_from_db()
    if pre.status == Backup.Status.COMPLETE:
        verify_backup_structure(pre)
        pre.refresh_from_db()
        if pre.verify_problem:
            raise engine.RestoreFailed(
                f"the pre-restore backup does not verify: {pre.verify_problem}"
            )
    return pre


def _swap(restore: Restore, scratch: str) -> None:
    source = restore.backup.source
    target = restore.target
    if source.kind == Source.Kind.POSTGRES:
        admin = sources.dsn_with_database(spec_for(source).location, "postgres")
        exists = sources.pg_database_exists(admin, target)
        old = f"{target}_old_{restore.pk}"[:63] if exists else None
        engine.swap_postgres(admin, target, scratch, old)
        if old:
            engine.drop_database(admin, old)
        return
    target_path, scratch_path = Path(target), Path(scratch)
    if source.kind == Source.Kind.SQLITE:
        sources.sqlite_release_wal(target_path)
        scratch_path.replace(target_path)
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
    elif target_path.exists():
        sources.exchange_paths(scratch_path, target_path)
        engine.remove_path(scratch_path)  # now holds the old tree (kept in the pre-restore backup)
    else:
        target_path.parent.mkdir(parents=True, exist_ok=True)
        scratch_path.rename(target_path)
    from backups.repository import fsync_dir

    fsync_dir(target_path.parent)


# ----- drills ---------------------------------------------------------------------------------
def drill_target(source: Source, restore_pk: int) -> str:
    if source.kind == Source.Kind.POSTGRES:
        return f"upkeep_drill_{source.pk}_{restore_pk}"
    path = Path(settings.DATA_DIR) / "backups" / "drills" / f"{source.name}-{restore_pk}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def run_drill(source_pk: int, *, now: datetime | None = None) -> Restore | None:
    """Restore the newest complete backup into a scratch target, check it, record, discard."""
    source = Source.objects.get(pk=source_pk)
    backup = Backup.objects.latest_complete(source)
    if backup is None:
        with transaction.atomic():
            transition(
                source,
                action="backups.drill.failed",
                expect={"last_drill_at": source.last_drill_at},
                changes={
                    "last_drill_at": timezone.now(),
                    "last_drill_ok": False,
                    "last_drill_detail": "no complete backup to restore",
                },
            )
        return None
    with transaction.atomic():
        restore = Restore.objects.create(backup=backup, target="pending", drill=True)
        transition(
            restore,
            action="backups.drill.started",
            expect={"status": "queued"},
            changes={"target": drill_target(source, restore.pk)},
        )
    restore = run_restore(restore.pk, now=now)
    ok = restore.status == Restore.Status.SUCCEEDED
    try:
        if ok:
            _discard_target(restore)
    finally:
        changes = {
            "last_drill_at": timezone.now(),
            "last_drill_ok": ok,
            "last_drill_detail": f"restore #{restore.pk} of backup #{backup.pk}: "
            + ("checks passed" if ok else restore.error)[:1500],
        }
        if ok:
            changes["proven_restorable_at"] = restore.finished_at
        transition(
            source,
            action="backups.drill." + ("passed" if ok else "failed"),
            expect={"last_drill_at": source.last_drill_at},
            changes=changes,
        )
        if not ok:
            _notify(
                "backups.drill_failed",
                f"Restore drill of {source.name} failed",
                restore.error[:2000],
                f"backups.drill_failed:{restore.pk}",
                _link("source", source.pk),
            )
    return restore


def _discard_target(restore: Restore) -> None:
    source = restore.backup.source
    if source.kind == Source.Kind.POSTGRES:
        admin = sources.dsn_with_database(spec_for(source).location, "postgres")
        engine.drop_database(admin, restore.target)
    else:
        for suffix in ("", "-wal", "-shm", "-journal"):
            engine.remove_path(Path(restore.target + suffix))
