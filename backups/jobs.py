"""The console side of backups: rows, leases, transitions, notifications around the engine.

Views, commands and tasks call these functions; each job takes the source's lease first, so a
backup, restore, verification, retention run or drill of one source never overlap (and retention
can never delete an object an in-progress backup or restore uses).

``hook`` parameters exist for the crash-point tests: a hook that raises ``Crash`` (a
BaseException, like a killed process) stops the job where it stands, without cleanup.
"""

from __future__ import annotations

import time
import traceback
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.trail import record, transition
from backups import engine, leases, sources
from backups.crypto import key_from_env, open_secret
from backups.models import Backup, Restore, RetentionRun, Source, VerifyRun
from backups.repository import Repository, RepositoryError
from backups.retention import Item, plan

HEARTBEAT_SECONDS = 5.0


class Crash(BaseException):
    """Raised by test hooks to stop a job as abruptly as a killed worker."""


class JobError(RuntimeError):
    pass


def scratch_root() -> Path:
    path = Path(settings.DATA_DIR) / "backups" / "scratch"
    path.mkdir(parents=True, exist_ok=True)
    return path


def repository_for(source: Source) -> Repository:
    return Repository.open_or_init(source.repository_path, key_from_env())


def spec_for(source: Source, location: str = "") -> engine.SourceSpec:
    if source.kind == Source.Kind.POSTGRES:
        dsn = open_secret(source.dsn_sealed) if source.dsn_sealed else source.location
        if location:
            dsn = sources.dsn_with_database(dsn, location)
        return engine.SourceSpec(source.kind, dsn, source.name)
    return engine.SourceSpec(source.kind, location or source.location, source.name)


def _notify(event: str, subject: str, body: str, key: str, link: str = "") -> None:
    from notifications.dispatch import notify

    with transaction.atomic():
        notify(event, subject=subject, body=body, dedup_key=key, link=link)


def _link(name: str, pk: int) -> str:
    from django.urls import reverse

    return reverse(f"backups:{name}", args=[pk])


# ----- backups --------------------------------------------------------------------------------
def request_backup(
    source: Source,
    *,
    backup_type: str = "incremental",
    trigger: str = "manual",
    user=None,
    enqueue: bool = True,
) -> Backup:
    """Record a queued backup and hand it to a worker (after commit)."""
    with transaction.atomic():
        backup = Backup.objects.create(
            source=source,
            type=backup_type,
            requested_type=backup_type,
            trigger=trigger,
            requested_by=user,
        )
        record("backups.backup.requested", backup, after={"type": backup_type, "trigger": trigger})
        if enqueue:
            from console.tasks import enqueue as queue

            queue("backups.tasks.run_backup", backup.pk)
    return backup


def _parent_for(backup: Backup) -> Backup | None:
    chain = Backup.objects.complete().filter(source=backup.source, location="")
    if backup.requested_type == Backup.Type.DIFFERENTIAL:
        chain = chain.filter(type=Backup.Type.FULL)
    elif backup.requested_type != Backup.Type.INCREMENTAL:
        return None
    return chain.exclude(pk=backup.pk).order_by("-finished_at", "-pk").first()


class _Heart:
    def __init__(self, held: leases.Held):
        self.held = held
        self.last = time.monotonic()

    def beat(self, force: bool = False) -> None:
        if force or time.monotonic() - self.last >= HEARTBEAT_SECONDS:
            leases.heartbeat(self.held)
            self.last = time.monotonic()


def run_backup(
    backup_pk: int, *, hook=None, on_progress=None, now: datetime | None = None
) -> Backup:
    """Worker entry: take the lease, run the backup, release. Idempotent: a backup that is no
    longer queued is left alone. ``on_progress(Progress)`` is called with each progress report
    (about twice a second); raising from it fails the backup there (maintenance runs stop a
    timed-out or cancelled run this way)."""
    backup = Backup.objects.select_related("source").get(pk=backup_pk)
    if backup.status != Backup.Status.QUEUED:
        return backup
    held = leases.acquire(backup.source_id, f"backup #{backup.pk}", now=now)
    if held is None:
        transition(
            backup,
            action="backups.backup.skipped",
            expect={"status": "queued"},
            changes={
                "status": Backup.Status.SKIPPED,
                "finished_at": timezone.now(),
                "error": "skipped: already running ("
                + (leases.holder_of(backup.source_id, now=now) or "another job")
                + ")",
            },
        )
        return backup
    # Released only on a normal return: a job that dies (or a test's Crash) leaves its lease to
    # expire, exactly like a killed worker, and the reaper records what happened.
    with leases.Keeper(held):
        execute_backup(backup, held, hook=hook, on_progress=on_progress)
    leases.release(held)
    backup.refresh_from_db()
    return backup


def execute_backup(
    backup: Backup,
    held: leases.Held,
    *,
    hook=None,
    on_progress=None,
    verify_after: bool | None = None,
) -> Backup:
    """Run ``backup`` (queued) while holding ``held``. Data → index → manifest → complete."""
    source = backup.source
    heart = _Heart(held)
    parent = _parent_for(backup)
    actual = backup.requested_type if parent is not None else Backup.Type.FULL
    started = timezone.now()
    if not transition(
        backup,
        action="backups.backup.started",
        expect={"status": "queued"},
        changes={
            "status": Backup.Status.RUNNING,
            "started_at": started,
            "fence": held.token,
            "type": actual,
            "parent_id": parent.pk if parent else None,
        },
        reason=""
        if actual == backup.requested_type
        else f"{backup.requested_type} promoted to full: no parent backup yet",
    ):
        return backup
    t0 = time.monotonic()

    def progress(p: engine.Progress) -> None:
        heart.beat()
        backup.bytes_read, backup.bytes_total = p.bytes_read, p.bytes_total
        backup.files_done, backup.rate_bps, backup.eta_seconds = p.files_done, p.rate, p.eta_seconds
        backup.new_bytes = p.bytes_new
        backup.save(
            update_fields=[
                "bytes_read",
                "bytes_total",
                "files_done",
                "rate_bps",
                "eta_seconds",
                "new_bytes",
            ]
        )
        if on_progress:
            on_progress(p)

    try:
        repo = repository_for(source)
        parent_manifest = repo.read_manifest(parent.manifest_name) if parent else None
        body = engine.take_backup(
            repo,
            spec_for(source, backup.location),
            backup_type=actual,
            parent=parent_manifest,
            scratch_dir=scratch_root(),
            progress=progress,
            hook=hook,
        )
        body["backup"] = str(backup.uuid)
        heart.beat(force=True)
        digest = repo.write_manifest(backup.manifest_name, body)
        if hook:
            hook("before-complete")
        stats = body["stats"]
        with transaction.atomic():
            leases.check_in_transaction(held)
            transition(
                backup,
                action="backups.backup.completed",
                reason=completion_summary(stats),
                expect={"status": "running", "fence": held.token},
                changes={
                    "status": Backup.Status.COMPLETE,
                    "finished_at": timezone.now(),
                    "manifest_sha256": digest,
                    "source_bytes": stats["source_bytes"],
                    "new_bytes": stats["bytes_new"],
                    "files": stats["files"],
                    "objects_total": stats["objects"],
                    "objects_new": stats["objects_new"],
                    "bytes_read": stats["bytes_read"],
                    "bytes_total": stats["source_bytes"],
                    "eta_seconds": 0,
                    "duration_seconds": time.monotonic() - t0,
                },
            )
    except leases.LeaseLost:
        return backup  # another worker owns the source now; the reaper records this one
    except Exception as exc:
        _fail_backup(backup, held, exc)
        return backup
    if verify_after if verify_after is not None else getattr(settings, "BACKUP_VERIFY_AFTER", True):
        verify_backup_structure(backup, repo)
    return backup


def completion_summary(stats: dict) -> str:
    """The completed backup's one-line summary (its audit reason): names the stored objects a
    full backup found damaged and stored again, and is empty when there were none."""
    repaired = stats.get("objects_repaired", 0)
    if not repaired:
        return ""
    return (
        f"read back {stats.get('objects_checked', 0)} stored object(s); "
        f"{repaired} missing or damaged, stored again (repaired)"
    )


def _fail_backup(backup: Backup, held: leases.Held, exc: BaseException) -> None:
    detail = str(exc) or exc.__class__.__name__
    if not isinstance(exc, (RepositoryError, sources.SourceError, engine.RestoreFailed)):
        detail = f"{exc.__class__.__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    with transaction.atomic():
        won = transition(
            backup,
            action="backups.backup.failed",
            expect={"status": "running", "fence": held.token},
            changes={
                "status": Backup.Status.FAILED,
                "finished_at": timezone.now(),
                "error": detail[:4000],
            },
        )
        if won:
            from notifications.dispatch import notify

            notify(
                "backups.failed",
                subject=f"Backup of {backup.source.name} failed",
                body=detail[:2000],
                dedup_key=f"backups.failed:{backup.pk}",
                link=_link("backup", backup.pk),
            )


def verify_backup_structure(backup: Backup, repo: Repository | None = None) -> list[dict]:
    repo = repo or repository_for(backup.source)
    try:
        manifest = repo.read_manifest(backup.manifest_name)
        problems = [p.as_dict() for p in engine.verify_structure(repo, manifest)]
    except RepositoryError as exc:
        problems = [{"object": "", "problem": str(exc), "pack": ""}]
    changes = (
        {"structure_verified_at": timezone.now(), "verify_problem": ""}
        if not problems
        else {"verify_problem": "; ".join(p["problem"] for p in problems[:5])}
    )
    transition(
        backup,
        action="backups.backup.structure_checked",
        expect={"status": backup.status},
        changes=changes,
    )
    return problems


# ----- reaping crashed work -------------------------------------------------------------------
def reap(now: datetime | None = None) -> int:
    """Controller hook: running work whose lease is gone belonged to a dead worker.

    A backup becomes failed ("worker lost"); a restore becomes rolled back after its scratch is
    removed (the target was never touched before the atomic swap).
    """
    now = now or timezone.now()
    reaped = 0
    for backup in Backup.objects.filter(status=Backup.Status.RUNNING).select_related("source"):
        if not leases.fence_off(backup.source_id, backup.fence, now=now):
            continue  # its worker still holds the lease
        if transition(
            backup,
            action="backups.backup.failed",
            expect={"status": "running", "fence": backup.fence},
            changes={
                "status": Backup.Status.FAILED,
                "finished_at": now,
                "error": "worker lost: its lease expired before it finished",
            },
        ):
            reaped += 1
    for restore in Restore.objects.filter(status=Restore.Status.RUNNING).select_related(
        "backup__source"
    ):
        # Fence the worker off first: once the token moved on it can neither renew its lease
        # nor swap, so removing its scratch cannot pull anything from under a live swap.
        if not leases.fence_off(restore.backup.source_id, restore.fence, now=now):
            continue
        from backups import restores

        restores.discard_scratch(restore)
        if transition(
            restore,
            action="backups.restore.rolled_back",
            expect={"status": "running", "fence": restore.fence},
            changes={
                "status": Restore.Status.ROLLED_BACK,
                "finished_at": now,
                "error": "worker lost: scratch discarded, target untouched",
            },
        ):
            reaped += 1
    return reaped


# ----- verification ---------------------------------------------------------------------------
def request_verify(
    source: Source,
    *,
    level: str = "structure",
    slice_k: int = 1,
    slice_t: int = 1,
    backup: Backup | None = None,
    enqueue: bool = True,
):
    if not 1 <= slice_k <= slice_t:
        raise JobError("slice must be K/T with 1 <= K <= T")
    with transaction.atomic():
        run = VerifyRun.objects.create(
            source=source, backup=backup, level=level, slice_k=slice_k, slice_t=slice_t
        )
        record(
            "backups.verify.requested", run, after={"level": level, "slice": f"{slice_k}/{slice_t}"}
        )
        if enqueue:
            from console.tasks import enqueue as queue

            queue("backups.tasks.run_verify", run.pk)
    return run


def run_verify(run_pk: int, *, hook=None, now: datetime | None = None) -> VerifyRun:
    run = VerifyRun.objects.select_related("source").get(pk=run_pk)
    if run.status not in (VerifyRun.Status.QUEUED, VerifyRun.Status.RUNNING):
        return run
    held = leases.acquire(run.source_id, f"verify #{run.pk}", now=now)
    if held is None:
        transition(
            run,
            action="backups.verify.error",
            expect={"status": run.status},
            changes={
                "status": VerifyRun.Status.ERROR,
                "finished_at": timezone.now(),
                "error": "skipped: another job holds this source",
            },
        )
        return run
    with leases.Keeper(held):
        run = _verify(run, held, hook)
    leases.release(held)
    return run


def _verify(run: VerifyRun, held: leases.Held, hook) -> VerifyRun:
    if run.status == VerifyRun.Status.QUEUED:
        transition(
            run,
            action="backups.verify.started",
            expect={"status": "queued"},
            changes={"status": VerifyRun.Status.RUNNING, "started_at": timezone.now()},
        )
    heart = _Heart(held)
    repo = repository_for(run.source)
    backups = list(Backup.objects.complete().filter(source=run.source))
    if run.backup_id:
        backups = [b for b in backups if b.pk == run.backup_id]
    manifests: dict[int, dict] = {}
    problems: list[dict] = []
    for b in backups:
        try:
            manifests[b.pk] = repo.read_manifest(b.manifest_name)
        except RepositoryError as exc:
            problems.append(
                {"object": "", "problem": str(exc), "pack": "", "backups": [b.pk], "paths": []}
            )
    if run.level == VerifyRun.Level.STRUCTURE:
        for b in backups:
            if b.pk in manifests:
                for p in engine.verify_structure(repo, manifests[b.pk]):
                    problems.append({**p.as_dict(), "backups": [b.pk], "paths": []})
        checked = len(manifests)
    else:
        wanted = set()
        for m in manifests.values():
            for chunks in engine.objects_by_path(m).values():
                wanted.update(chunks)
        by_pack = {
            p: es
            for p, es in repo.packs().items()
            if engine.pack_in_slice(p, run.slice_k, run.slice_t) and any(i in wanted for i, _ in es)
        }
        # Objects referenced but not in any index are a structural fault, found by every slice.
        for object_id in wanted - repo.object_ids():
            problems.append({"object": object_id, "problem": "not in the index", "pack": ""})
        done = set(run.packs_done)
        run.packs_total = len(by_pack)
        for pack in sorted(by_pack):
            if pack in done:
                continue
            pack_problems = engine.verify_pack(repo, pack, by_pack[pack])
            repo.record_pack_check(pack, timezone.now().isoformat(), ok=not pack_problems)
            run.packs_done = sorted(done | {pack})
            done.add(pack)
            run.objects_checked += len(by_pack[pack])
            run.problems = run.problems + [p.as_dict() for p in pack_problems]
            run.save(update_fields=["packs_done", "objects_checked", "packs_total", "problems"])
            heart.beat()
            if hook:
                hook(f"verified-pack:{len(done)}")
        # Problems of packs checked before an interruption were saved with the run.
        problems = problems + run.problems
        checked = run.objects_checked
    problems = _attribute(problems, manifests)
    _record_backup_verification(run, backups, manifests, problems, repo)
    status = VerifyRun.Status.FAILED if problems else VerifyRun.Status.PASSED
    transition(
        run,
        action=f"backups.verify.{status}",
        expect={"status": "running"},
        changes={
            "status": status,
            "finished_at": timezone.now(),
            "problems": problems,
            "objects_checked": checked,
        },
    )
    if problems:
        affected = sorted({b for p in problems for b in p.get("backups", [])})
        _notify(
            "backups.corruption",
            f"Verification of {run.source.name} found problems",
            f"{len(problems)} problem(s); affected backups: {affected}",
            f"backups.corruption:{run.pk}",
            _link("source", run.source_id),
        )
    return run


def _attribute(problems: list[dict], manifests: dict[int, dict]) -> list[dict]:
    """Name the backups and paths each bad object (or bad pack) affects."""
    from backups.repository import Repository  # noqa: F401 - for type readers

    out = []
    for p in problems:
        backups, paths = set(p.get("backups", [])), set(p.get("paths", []))
        for pk, m in manifests.items():
            for path, chunks in engine.objects_by_path(m).items():
                if p.get("object") and p["object"] in chunks:
                    backups.add(pk)
                    paths.add(path)
        out.append({**p, "backups": sorted(backups), "paths": sorted(paths)[:50]})
    return out


def _record_backup_verification(run, backups, manifests, problems, repo) -> None:
    bad = {b for p in problems for b in p.get("backups", [])}
    state = repo.verified_state()
    failed = repo.failed_state()
    locations = repo.packs()
    pack_of = {i: p for p, es in locations.items() for i, _ in es}
    now = timezone.now()
    for b in backups:
        if b.pk in bad:
            detail = "; ".join(
                f"{p['problem']} ({', '.join(p['paths'][:3])})"
                for p in problems
                if b.pk in p.get("backups", [])
            )[:2000]
            changes = {"verify_problem": detail, "data_verified_at": None}
            if run.level == VerifyRun.Level.STRUCTURE:
                changes["structure_verified_at"] = None
            transition(
                b,
                action="backups.backup.verification_failed",
                expect={"status": b.status},
                changes=changes,
            )
            continue
        if b.pk not in manifests:
            continue
        packs = {
            pack_of.get(i)
            for chunks in engine.objects_by_path(manifests[b.pk]).values()
            for i in chunks
        }
        if run.level == VerifyRun.Level.STRUCTURE:
            changes = {"structure_verified_at": now}
            if not any(p in failed for p in packs):
                # A data problem found earlier stays until its packs pass a data check.
                changes["verify_problem"] = ""
            transition(
                b,
                action="backups.backup.structure_checked",
                expect={"status": b.status},
                changes=changes,
            )
            continue
        times = [state.get(p) for p in packs]
        if packs and all(times) and not any(p in failed for p in packs):
            # Every pack the backup uses has been read and re-hashed (possibly by other slices):
            # the backup's data was verified as of the oldest of those reads.
            at = min(datetime.fromisoformat(t) for t in times)
            transition(
                b,
                action="backups.backup.data_verified",
                expect={"status": b.status},
                changes={"data_verified_at": at, "verify_problem": ""},
            )


# ----- retention ------------------------------------------------------------------------------
def preview_retention(source: Source, now: datetime | None = None) -> list[dict]:
    """What retention would keep and delete. The source's own backups form one series; the
    pre-restore backups of each other place it was restored to form a series per place, judged
    by the same policy (so the safety net of a restore elsewhere is neither kept forever nor
    thrown away while it is the newest copy of that place)."""
    now = now or timezone.now()
    series: dict[str, list[Backup]] = {}
    for b in Backup.objects.complete().filter(source=source).order_by("finished_at", "pk"):
        series.setdefault(b.location, []).append(b)
    policy = source.retention_policy()
    out = []
    for location in sorted(series):
        backups = series[location]
        items = [
            Item(
                b.pk,
                b.finished_at,
                b.parent_id,
                b.pinned,
                # Verified means a check passed and none has found a problem since.
                bool((b.structure_verified_at or b.data_verified_at) and not b.verify_problem),
            )
            for b in backups
        ]
        by_id = {b.pk: b for b in backups}
        for d in plan(items, policy, now):
            out.append({**d.as_dict(), "location": location, "obj": by_id[d.id]})
    return out


def run_retention(
    source_pk: int, *, dry_run: bool = False, now: datetime | None = None, hook=None
) -> RetentionRun:
    source = Source.objects.get(pk=source_pk)
    now = now or timezone.now()
    decisions = preview_retention(source, now)
    plain = [{k: v for k, v in d.items() if k != "obj"} for d in decisions]
    if dry_run:
        with transaction.atomic():
            run = RetentionRun.objects.create(source=source, at=now, dry_run=True, decisions=plain)
        return run
    held = leases.acquire(source.pk, "retention", now=now)
    if held is None:
        with transaction.atomic():
            return RetentionRun.objects.create(
                source=source,
                at=now,
                decisions=plain,
                error="skipped: another job holds this source",
            )
    with leases.Keeper(held):
        run = _retention(source, decisions, plain, now, hook)
    leases.release(held)
    return run


def _retention(source, decisions, plain, now, hook) -> RetentionRun:
    repo = repository_for(source)
    size_before = repo.size()
    removed = 0
    for d in decisions:
        if d["keep"]:
            continue
        backup = d["obj"]
        # Row first, then its manifest: a crash in between leaves a manifest without a complete
        # row, which the cleanup below removes on this or the next run.
        if transition(
            backup,
            action="backups.backup.deleted",
            expect={"status": "complete", "pinned": False},
            changes={"status": Backup.Status.DELETED},
            reason="; ".join(d["reasons"]),
        ):
            removed += 1
            repo.delete_manifest(backup.manifest_name)
            if hook:
                hook("retention:manifest-deleted")
    complete = {
        str(u)
        for u in Backup.objects.complete().filter(source=source).values_list("uuid", flat=True)
    }
    for name in repo.manifest_names():
        if name not in complete:
            repo.delete_manifest(name)  # deleted, failed or crashed before `complete`
    live: set[str] = set()
    for name in sorted(complete):
        for chunks in engine.objects_by_path(repo.read_manifest(name)).values():
            live.update(chunks)
    report = repo.prune(live, hook=hook)
    with transaction.atomic():
        run = RetentionRun.objects.create(
            source=source,
            at=now,
            decisions=plain,
            removed=removed,
            bytes_freed=max(0, size_before - repo.size()),
            packs_removed=report.packs_removed,
            packs_rewritten=report.packs_rewritten,
        )
        record(
            "backups.retention.applied",
            source,
            after={**report.as_dict(), "removed": removed, "bytes_freed": run.bytes_freed},
        )
    return run


def schedule_due(now: datetime | None = None) -> int:
    """Controller hook: sources with a simple schedule whose time has come get a backup (and,
    with ``drill_hours``, a restore drill).

    The claim is a compare-and-set on ``next_run_at``, so two controllers start one backup.
    """
    now = now or timezone.now()
    started = 0
    for source in Source.objects.filter(schedule_hours__isnull=False, next_run_at__lte=now):
        nxt = now + timedelta(hours=source.schedule_hours)
        if transition(
            source,
            action="backups.source.schedule_claimed",
            expect={"next_run_at": source.next_run_at},
            changes={"next_run_at": nxt},
        ):
            request_backup(source, backup_type=source.schedule_type, trigger="schedule")
            started += 1
    for source in Source.objects.filter(drill_hours__isnull=False, next_drill_at__lte=now):
        nxt = now + timedelta(hours=source.drill_hours)
        with transaction.atomic():
            if transition(
                source,
                action="backups.source.drill_claimed",
                expect={"next_drill_at": source.next_drill_at},
                changes={"next_drill_at": nxt},
            ):
                from console.tasks import enqueue as queue

                queue("backups.tasks.run_drill", source.pk)
                started += 1
    return started
