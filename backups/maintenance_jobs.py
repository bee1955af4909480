"""Backups as maintenance job types: ``backup``, ``verify_backups`` and ``restore_drill``.

Registered from ``BackupsConfig.ready`` with ``maintenance.jobtypes.register``. Each runner works
in the maintenance run's own process (``maintenance.tasks.execute_run`` already claimed the run,
beats its heart and acts as ``Actor.for_run("maintenance.run:<pk>", requested_by)``, so every
audit row the backup, verification or drill writes names the run), logs through the run's
context, and stops cooperatively: ``check()`` is called from the backup's progress reports and
crash-point hooks and after each verified pack, so a timed-out or cancelled run stops there.

Outcomes are honest: a backup that was skipped (another job holds the source), failed, or whose
structural check found problems fails the run; verification problems fail the run; a drill that
did not prove the backup restorable fails the run.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from django.utils import timezone

from audit.models import AuditEvent
from audit.trail import transition
from backups import leases
from backups.models import Backup, Lease, Restore, Source, VerifyRun
from maintenance.jobtypes import ParamsError, no_extra_params, register
from maintenance.models import Occurrence, Run
from maintenance.runcontext import RunContext, context

BACKUP_TYPES = ("full", "differential", "incremental")
VERIFY_LEVELS = ("structure", "data")
_SLICE = re.compile(r"^(\d+)/(\d+)$")


class BackupNotTaken(RuntimeError):
    """The backup the run asked for did not complete (skipped, failed or not verifiable)."""


class VerificationFailed(RuntimeError):
    """Verification found problems, or could not run for a source."""


class DrillFailed(RuntimeError):
    """The restore drill did not prove the newest backup restorable."""


# ---------------------------------------------------------------- params


def _source(params: dict, *, required: bool = True) -> str | None:
    name = params.get("source")
    if name is None and not required:
        return None
    if not isinstance(name, str) or not name.strip():
        raise ParamsError("source must name a backup source")
    if not Source.objects.filter(name=name).exists():
        known = ", ".join(Source.objects.order_by("name").values_list("name", flat=True)[:20])
        raise ParamsError(
            f"no backup source named {name!r}" + (f"; sources: {known}" if known else "")
        )
    return name


def validate_backup(params: dict[str, Any]) -> dict[str, Any]:
    no_extra_params(params, {"source", "type"})
    backup_type = params.get("type", "incremental")
    if backup_type not in BACKUP_TYPES:
        raise ParamsError(f"type must be one of: {', '.join(BACKUP_TYPES)} (got {backup_type!r})")
    return {"source": _source(params), "type": backup_type}


def validate_verify(params: dict[str, Any]) -> dict[str, Any]:
    no_extra_params(params, {"source", "level", "slice"})
    level = params.get("level", "structure")
    if level not in VERIFY_LEVELS:
        raise ParamsError(f"level must be one of: {', '.join(VERIFY_LEVELS)} (got {level!r})")
    cleaned: dict[str, Any] = {"level": level}
    source = _source(params, required=False)
    if source is not None:
        cleaned["source"] = source
    if "slice" in params:
        text = params["slice"]
        match = _SLICE.match(text) if isinstance(text, str) else None
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise ParamsError(f"slice must look like K/T with 1 <= K <= T, e.g. 2/7 (got {text!r})")
        if level != "data":
            raise ParamsError("slice applies only to level data (structure checks are cheap)")
        cleaned["slice"] = f"{int(match[1])}/{int(match[2])}"
    return cleaned


def validate_drill(params: dict[str, Any]) -> dict[str, Any]:
    no_extra_params(params, {"source"})
    return {"source": _source(params)}


# ---------------------------------------------------------------- helpers


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _run(run_pk: int) -> Run:
    return Run.objects.select_related("job", "occurrence", "requested_by").get(pk=run_pk)


def _stopped_hook(ctx: RunContext):
    """A crash-point hook that only asks whether the run should stop."""

    def hook(_step: str) -> None:
        ctx.check()

    return hook


# ---------------------------------------------------------------- backup


def run_backup(run_pk: int) -> str:
    """Take one backup of the source in this process (not a second queued task)."""
    from backups.jobs import request_backup
    from backups.jobs import run_backup as take

    ctx = context(run_pk)
    run = _run(run_pk)
    params = validate_backup(run.job.params)
    source = Source.objects.get(name=params["source"])
    trigger = (
        Backup.Trigger.MANUAL
        if run.occurrence.trigger == Occurrence.Trigger.MANUAL
        else Backup.Trigger.SCHEDULE
    )
    backup = request_backup(
        source,
        backup_type=params["type"],
        trigger=trigger,
        user=run.requested_by,
        enqueue=False,
    )
    ctx.save_checkpoint(backup=backup.pk)
    ctx.log(f"{params['type']} backup #{backup.pk} of {source.name} requested")
    reported = {"at": 0}

    def on_progress(p) -> None:
        ctx.progress(p.bytes_read, p.bytes_total or p.bytes_read)
        if p.bytes_read - reported["at"] >= 64 << 20 or not reported["at"]:
            reported["at"] = max(p.bytes_read, 1)
            total = f" of {_size(p.bytes_total)}" if p.bytes_total else ""
            ctx.log(f"read {_size(p.bytes_read)}{total}, {_size(p.bytes_new)} new")
        ctx.check()

    backup = take(backup.pk, hook=_stopped_hook(ctx), on_progress=on_progress)
    backup.refresh_from_db()
    if backup.status == Backup.Status.SKIPPED:
        ctx.log(backup.error)
        raise BackupNotTaken(f"backup #{backup.pk} of {source.name} was not taken: {backup.error}")
    if backup.status != Backup.Status.COMPLETE:
        # A stop requested by the run surfaces as the run's own outcome (timed out / cancelled).
        ctx.check()
        first = backup.error.splitlines()[0] if backup.error else backup.status
        raise BackupNotTaken(f"backup #{backup.pk} of {source.name} {backup.status}: {first}")
    ctx.progress(backup.source_bytes, backup.source_bytes)
    if backup.verify_problem:
        raise BackupNotTaken(
            f"backup #{backup.pk} of {source.name} was written but its structural check "
            f"found problems: {backup.verify_problem}"
        )
    if backup.structure_verified_at:
        verified = "verified (structural)"
    else:
        verified = "not verified (BACKUP_VERIFY_AFTER is off)"
    promoted = (
        f" ({backup.requested_type} requested, no parent yet)"
        if backup.type != backup.requested_type
        else ""
    )
    summary = (
        f"{backup.type} backup #{backup.pk} of {source.name}{promoted}: "
        f"{_size(backup.bytes_read)} read, {_size(backup.new_bytes)} new, {verified}"
    )
    # A full backup that found damaged stored objects says so in its completion audit row.
    repaired = (
        AuditEvent.objects.for_object(backup._meta.label_lower, backup.pk)
        .filter(action="backups.backup.completed")
        .values_list("reason", flat=True)
        .first()
    )
    if repaired:
        summary = f"{summary}; {repaired}"
    ctx.log(summary)
    return summary


# ---------------------------------------------------------------- verification


def _release_after_stop(source_id: int, holder: str) -> None:
    """The run stopped inside a verification that holds the source's lease: give it back now
    instead of leaving it to expire (only if it is still the one this verification took)."""
    lease = Lease.objects.filter(source_id=source_id, holder=holder).first()
    if lease is not None:
        leases.release(leases.Held(source_id, lease.token, holder))


def _stop_verify_run(verify: VerifyRun, reason: str, run_pk: int) -> None:
    verify.refresh_from_db()
    transition(
        verify,
        action="backups.verify.error",
        expect={"status": VerifyRun.Status.RUNNING},
        changes={
            "status": VerifyRun.Status.ERROR,
            "finished_at": timezone.now(),
            "error": f"stopped by maintenance run #{run_pk}: {reason}; "
            f"{len(verify.packs_done)} of {verify.packs_total} packs checked",
        },
    )
    _release_after_stop(verify.source_id, f"verify #{verify.pk}")


def _carry_over(verify: VerifyRun, previous_pk: int | None) -> None:
    """A retry continues where a stopped data verification of the same slice left off."""
    if previous_pk is None:
        return
    before = VerifyRun.objects.filter(pk=previous_pk, source=verify.source).first()
    if before is None or (before.level, before.slice_k, before.slice_t) != (
        verify.level,
        verify.slice_k,
        verify.slice_t,
    ):
        return
    if before.status != VerifyRun.Status.ERROR or not before.packs_done:
        return
    verify.packs_done = list(before.packs_done)
    verify.problems = list(before.problems)
    verify.objects_checked = before.objects_checked
    verify.save(update_fields=["packs_done", "problems", "objects_checked"])


def _describe(problem: dict) -> str:
    where = ", ".join(problem.get("paths", [])[:3])
    backups = ", ".join(f"#{b}" for b in problem.get("backups", [])[:5])
    parts = [problem.get("problem", "problem")]
    if backups:
        parts.append(f"backups {backups}")
    if where:
        parts.append(where)
    return " — ".join(parts)


def run_verify(run_pk: int) -> str:
    """Verify one source, or every source in name order; any problem fails the run."""
    from backups.jobs import request_verify
    from backups.jobs import run_verify as verify_now

    ctx = context(run_pk)
    params = validate_verify(_run(run_pk).job.params)
    level = params["level"]
    k, t = (int(x) for x in params.get("slice", "1/1").split("/"))
    names = (
        [params["source"]]
        if "source" in params
        else list(Source.objects.order_by("name").values_list("name", flat=True))
    )
    if not names:
        raise VerificationFailed("nothing to verify: there are no backup sources")
    started = dict(ctx.checkpoint.get("verify_runs", {}))
    failures: list[str] = []
    checked = 0
    for done, name in enumerate(names):
        if done:
            ctx.check()
        ctx.progress(done, len(names))
        source = Source.objects.get(name=name)
        if not Backup.objects.complete().filter(source=source).exists():
            failures.append(f"{name}: no complete backups to verify")
            ctx.log(failures[-1])
            continue
        verify = request_verify(source, level=level, slice_k=k, slice_t=t, enqueue=False)
        _carry_over(verify, started.get(name))
        started[name] = verify.pk
        ctx.save_checkpoint(verify_runs=started)
        ctx.log(f"{name}: {level} verification #{verify.pk} started")

        def after_pack(step: str, name=name) -> None:
            ctx.log(f"{name}: {step.removeprefix('verified-pack:')} pack(s) checked")
            ctx.check()

        try:
            verify = verify_now(verify.pk, hook=after_pack)
        except Exception as exc:
            _stop_verify_run(verify, str(exc), run_pk)
            raise
        what = "backups" if level == "structure" else "objects"
        if verify.status == VerifyRun.Status.ERROR:
            failures.append(f"{name}: could not run ({verify.error})")
        elif verify.problems:
            failures.append(
                f"{name}: {len(verify.problems)} problem(s): "
                + "; ".join(_describe(p) for p in verify.problems[:3])
            )
        else:
            checked += verify.objects_checked
            ctx.log(f"{name}: passed, {verify.objects_checked} {what} checked")
            continue
        ctx.log(failures[-1])
    ctx.progress(len(names), len(names))
    part = f" (slice {k}/{t})" if t > 1 else ""
    scope = names[0] if len(names) == 1 else f"{len(names)} sources"
    if failures:
        if len(names) == 1:
            failures = [f.removeprefix(f"{names[0]}: ") for f in failures]
        raise VerificationFailed(f"{level} verification{part} of {scope}: " + " | ".join(failures))
    what = "backups" if level == "structure" else "objects"
    return f"{level} verification{part} of {scope}: {checked} {what} checked, no problems found"


# ---------------------------------------------------------------- restore drill


def run_drill(run_pk: int) -> str:
    """Restore the newest complete backup into scratch, check it against its manifest, discard.

    The restore pipeline offers no stop point inside a drill's rebuild, so the run is checked
    before it starts and after it ends (a drill that overran its deadline ends timed out).
    """
    from backups.restores import run_drill as drill

    ctx = context(run_pk)
    params = validate_drill(_run(run_pk).job.params)
    source = Source.objects.get(name=params["source"])
    ctx.check()
    ctx.log(f"{source.name}: restoring the newest complete backup into a scratch target")
    restore = drill(source.pk)
    source.refresh_from_db()
    if restore is None:
        raise DrillFailed(f"{source.name}: {source.last_drill_detail}")
    ctx.log(f"{source.name}: {source.last_drill_detail}")
    if restore.status != Restore.Status.SUCCEEDED:
        raise DrillFailed(
            f"restore drill of {source.name} (backup #{restore.backup_id}) failed: {restore.error}"
        )
    ctx.check()
    at = source.proven_restorable_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"{source.name} proven restorable at {at}: backup #{restore.backup_id} "
        f"rebuilt and checked ({', '.join(sorted(restore.checks))})"
    )


# ---------------------------------------------------------------- registration


def register_types() -> None:
    register(
        "backup",
        "Backup",
        validate=validate_backup,
        runner="backups.maintenance_jobs.run_backup",
        description='{"source": name, "type": full|differential|incremental}',
        owner_area="backups",
    )
    register(
        "verify_backups",
        "Verify backups",
        validate=validate_verify,
        runner="backups.maintenance_jobs.run_verify",
        description='{"source": name (omit for all), "level": structure|data, "slice": "K/T"}',
        owner_area="backups",
    )
    register(
        "restore_drill",
        "Restore drill",
        validate=validate_drill,
        runner="backups.maintenance_jobs.run_drill",
        description='{"source": name}: restore the newest backup to scratch and check it',
        owner_area="backups",
    )
