"""Controller hooks: materialise due occurrences, dispatch into free slots, reap, prune.

All of them are safe with several controllers at once: materialising claims each job's next due
time with a conditional UPDATE (and the occurrence's unique constraint backs that up), dispatching
holds the DispatchLock row for the slot count and hand-out, and reaping is a compare-and-set on
the run's state and fencing token.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.trail import record
from console.tasks import enqueue
from maintenance import runs, schedule, windows
from maintenance.models import (
    FINAL_STATES,
    Checklist,
    ChecklistItem,
    ChecklistTemplate,
    DispatchLock,
    Job,
    MissedPolicy,
    Occurrence,
    Run,
    RunState,
)

log = logging.getLogger("upkeep.maintenance")

TASK = "maintenance.tasks.execute_run"
# A scheduled time older than this when the controller sees it counts as missed.
MISSED_GRACE = timedelta(minutes=2)
# Missed times recorded as skipped runs per job and tick; older ones are only counted.
MISSED_RECORD_LIMIT = 20
# A run handed to the broker and not claimed within this time is handed out again.
DISPATCH_LEASE = timedelta(minutes=2)
MATERIALISE_BATCH = 100
# History retention: keep runs for this many days, but always the newest RETENTION_MIN_RUNS.
RETENTION_DAYS = 90
RETENTION_MIN_RUNS = 50


def worker_slots() -> int:
    return int(settings.Q_CLUSTER.get("workers", 1))


# ---------------------------------------------------------------- schedule


def reschedule(job: Job, now: datetime | None = None) -> None:
    """Set the job's next due time from now (after create, edit, enable or disable)."""
    now = now or timezone.now()
    if job.enabled and not job.is_manual:
        nxt = schedule.next_times(job.schedule, job.timezone, now, 1)
        job.next_due_at = nxt[0] if nxt else None
    else:
        job.next_due_at = None
    Job.objects.filter(pk=job.pk).update(next_due_at=job.next_due_at)


def materialise(now: datetime) -> int:
    """Create occurrences for every due time up to ``now``; returns how many runs were queued."""
    created = 0
    while True:
        with transaction.atomic():
            qs = Job.objects.due(now).order_by("next_due_at", "pk")
            if connection.features.has_select_for_update_skip_locked:
                qs = qs.select_for_update(skip_locked=True)
            jobs = list(qs[:MATERIALISE_BATCH])
            for job in jobs:
                created += _materialise_job(job, now)
        if len(jobs) < MATERIALISE_BATCH:
            return created


def _materialise_job(job: Job, now: datetime) -> int:
    due_from = job.next_due_at
    times = schedule.times_between(job.schedule, job.timezone, due_from, now, limit=100_000)
    upcoming = schedule.next_times(job.schedule, job.timezone, now, 1)
    # The claim: only the dispatcher that moves next_due_at from what it read creates runs.
    if not Job.objects.filter(pk=job.pk, next_due_at=due_from).update(
        next_due_at=upcoming[0] if upcoming else None
    ):
        return 0
    late = [t for t in times if now - t > MISSED_GRACE]
    on_time = [t for t in times if now - t <= MISSED_GRACE]
    queue: list[datetime] = list(on_time)
    missed: list[datetime] = []
    if job.missed_policy == MissedPolicy.ALL:
        queue = late + on_time
    elif job.missed_policy == MissedPolicy.ONCE and late:
        missed, queue = late[:-1], [late[-1], *on_time]
    else:
        missed = late
    created = 0
    for at in queue:
        if runs.create_occurrence(job, at, now=now):
            created += 1
    for at in missed[-MISSED_RECORD_LIMIT:]:
        runs.create_occurrence(
            job,
            at,
            state=RunState.SKIPPED,
            now=now,
            reason=f"missed: due {at:%Y-%m-%d %H:%M} UTC while no controller ran "
            f"(missed-run policy: {job.get_missed_policy_display().lower()})",
        )
    if len(missed) > MISSED_RECORD_LIMIT:
        log.warning("%s: %d missed times not recorded", job.name, len(missed) - MISSED_RECORD_LIMIT)
    return created


# ---------------------------------------------------------------- dispatch


def upstream(run: Run) -> tuple[str, str]:
    """("ready" | "wait" | "failed", reason) from the parents' runs for this occurrence.

    A parent's run for the same scheduled time decides; a parent with no such occurrence is
    judged by its latest run. A parent that failed, timed out, was lost, skipped or cancelled
    (with no retry pending) fails the child.
    """
    at = run.occurrence.scheduled_for
    for parent in run.job.depends_on.all():
        qs = Run.objects.filter(job=parent)
        same = qs.filter(occurrence__scheduled_for=at)
        latest = (same if same.exists() else qs).order_by("-created_at", "-pk").first()
        if latest is None:
            return "failed", f"upstream {parent.name} has never run"
        if latest.state == RunState.SUCCEEDED:
            continue
        if latest.state in FINAL_STATES:
            return "failed", f"upstream failed: {parent.name} {latest.get_state_display().lower()}"
        return "wait", f"waiting for {parent.name}"
    return "ready", ""


def dispatch(now: datetime) -> int:
    """Hand waiting runs to workers, highest priority first, only into free slots."""
    handed: list[int] = []
    with transaction.atomic():
        lock = DispatchLock.objects.select_for_update().filter(pk=1).first()
        if lock is None:
            DispatchLock.objects.get_or_create(pk=1)
            lock = DispatchLock.objects.select_for_update().get(pk=1)
        occupying = list(Run.objects.occupying_slots().values_list("job_id", "occurrence__plan_id"))
        free = worker_slots() - len(occupying)
        busy_jobs = {job_id for job_id, _ in occupying}
        plan_load = Counter(plan_id for _, plan_id in occupying if plan_id)
        if free <= 0:
            return 0
        all_windows = list(windows.Window.objects.filter(enabled=True))
        candidates = (
            Run.objects.waiting(now)
            .select_related("job", "occurrence__plan")
            .order_by("-priority", "created_at", "pk")[:500]
        )
        for run in candidates:
            if free <= 0:
                break
            if run.job_id in busy_jobs:
                continue  # never overlap a job with itself
            plan = run.occurrence.plan
            if plan is not None and plan_load[plan.pk] >= plan.max_parallel:
                continue
            status, why = upstream(run)
            if status == "wait":
                continue
            if status == "failed":
                runs.skip(run, reason=why, now=now)
                continue
            verdict = windows.check(run.job, now, all_windows)
            if not verdict.ok:
                if run.state != RunState.DEFERRED or run.not_before != verdict.next_start:
                    runs.defer(run, reason=verdict.reason, until=verdict.next_start, now=now)
                continue
            if runs.mark_dispatched(run, now=now):
                handed.append(run.pk)
                free -= 1
                busy_jobs.add(run.job_id)
                if plan is not None:
                    plan_load[plan.pk] += 1
        if handed:
            from console.liveness import process_name

            DispatchLock.objects.filter(pk=1).update(held_by=process_name()[:200], at=now)
        for pk in handed:
            enqueue(TASK, pk, group="maintenance")
    return len(handed)


# ---------------------------------------------------------------- reaper


def reap(now: datetime) -> int:
    """Mark runs past their deadline timed_out and runs with an expired lease lost."""
    count = 0
    for run in Run.objects.overdue(now).select_related("job"):
        limit = schedule.format_duration(run.job.max_duration)
        count += runs.reap(
            run,
            state=RunState.TIMED_OUT,
            now=now,
            reason=f"ran past its max duration of {limit} (deadline {run.deadline:%H:%M:%S} UTC)",
        )
    for run in Run.objects.silent(now).select_related("job"):
        count += runs.reap(
            run,
            state=RunState.LOST,
            now=now,
            reason=f"no heartbeat since {run.heartbeat_at:%H:%M:%S} UTC from {run.worker}",
        )
    stale = Run.objects.filter(state=RunState.QUEUED, dispatched_at__lt=now - DISPATCH_LEASE)
    for run in stale:
        runs.undispatch(run)
    return count


# ---------------------------------------------------------------- retention


def prune_history(
    now: datetime, *, days: int = RETENTION_DAYS, min_runs: int = RETENTION_MIN_RUNS
) -> int:
    """Delete occurrences older than ``days`` whose runs are all final, keeping each job's
    newest ``min_runs`` runs (Rundeck's floor). Returns how many occurrences went."""
    cutoff = now - timedelta(days=days)
    removed = 0
    for job in Job.objects.all():
        keep_after = (
            Run.objects.filter(job=job)
            .order_by("-created_at", "-pk")
            .values_list("created_at", flat=True)[min_runs - 1 : min_runs]
        )
        floor = keep_after[0] if keep_after else None
        if floor is None:
            continue
        old = Occurrence.objects.filter(job=job, created_at__lt=min(cutoff, floor)).exclude(
            runs__state__in=[s for s in RunState.values if s not in FINAL_STATES]
        )
        ids = list(old.values_list("pk", flat=True)[:1000])
        if not ids:
            continue
        with transaction.atomic():
            Occurrence.objects.filter(pk__in=ids).delete()
            record(
                "maintenance.history_pruned",
                job,
                after={"occurrences": len(ids), "before": cutoff.isoformat()},
            )
        removed += len(ids)
    return removed


# ---------------------------------------------------------------- checklists


def period_start(cadence: str, today):
    if cadence == "daily":
        return today
    if cadence == "weekly":
        return today - timedelta(days=today.weekday())
    if cadence == "monthly":
        return today.replace(day=1)
    if cadence == "quarterly":
        return today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
    return None


def period_end(cadence: str, start):
    if cadence == "daily":
        return start
    if cadence == "weekly":
        return start + timedelta(days=6)
    months = 1 if cadence == "monthly" else 3
    year, month = divmod(start.month - 1 + months, 12)
    return start.replace(year=start.year + year, month=month + 1, day=1) - timedelta(days=1)


def open_checklist(template: ChecklistTemplate, today) -> Checklist | None:
    """The template's checklist for the period containing ``today`` (created once)."""
    start = period_start(template.cadence, today)
    if start is None:
        return None
    existing = Checklist.objects.filter(template=template, period_start=start).first()
    if existing:
        return existing
    from django.db import IntegrityError

    try:
        with transaction.atomic():
            checklist = Checklist.objects.create(
                template=template,
                period_start=start,
                due_on=period_end(template.cadence, start),
                title=f"{template.name} — {start:%Y-%m-%d}",
                assignee=template.assignee,
            )
            ChecklistItem.objects.bulk_create(
                ChecklistItem(checklist=checklist, position=i, text=text[:300])
                for i, text in enumerate(template.items)
            )
    except IntegrityError:
        return Checklist.objects.get(template=template, period_start=start)
    return checklist


def recur_checklists(now: datetime) -> int:
    today = timezone.localdate(now)
    made = 0
    for template in ChecklistTemplate.objects.filter(enabled=True).exclude(cadence="none"):
        start = period_start(template.cadence, today)
        if not Checklist.objects.filter(template=template, period_start=start).exists():
            made += open_checklist(template, today) is not None
    return made


def register_hooks() -> None:
    from console import controller

    controller.register("maintenance.materialise", materialise, every_seconds=1)
    controller.register("maintenance.dispatch", dispatch, every_seconds=1)
    controller.register("maintenance.reap", reap, every_seconds=1)
    controller.register("maintenance.checklists", recur_checklists, every_seconds=60)
    controller.register("maintenance.retention", prune_history, every_seconds=3600)
