"""The run state machine: every change of ``Run.state`` goes through a function here.

Each is a compare-and-set through ``audit.trail.transition`` (the audit row commits with the
change) and returns False when another writer won. Bookkeeping that is not a state change
(heartbeat, log excerpt, progress, the dispatch mark) is a conditional UPDATE fenced by the run's
token, so a worker that lost its run can never write into it again.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from audit.trail import record, transition
from maintenance.models import (
    FAILURE_STATES,
    FINAL_STATES,
    WAITING_STATES,
    Job,
    MaintenancePlan,
    Occurrence,
    Run,
    RunState,
)
from maintenance.runcontext import RunContext


def heartbeat_seconds() -> float:
    return float(getattr(settings, "MAINTENANCE_HEARTBEAT_SECONDS", 2.0))


def lease_length() -> timedelta:
    """A running run whose heartbeat is older than this is presumed lost."""
    return timedelta(seconds=float(getattr(settings, "MAINTENANCE_LEASE_SECONDS", 10.0)))


def _audit_state(run: Run) -> dict:
    return {"state": run.state, "attempt": run.attempt}


# ---------------------------------------------------------------- creation


def create_occurrence(
    job: Job,
    scheduled_for: datetime,
    *,
    trigger: str = Occurrence.Trigger.SCHEDULE,
    requested_by=None,
    plan: MaintenancePlan | None = None,
    state: str = RunState.QUEUED,
    reason: str = "",
    now: datetime | None = None,
) -> Run | None:
    """Create the occurrence (job, scheduled_for) and its first run; None if it already exists.

    The unique constraint on (job, scheduled_for) makes this exactly-once even when several
    dispatchers race. Dependents whose schedule is "manual" get an occurrence at the same time
    (trigger "upstream"), so they run after their parents for this very occurrence.
    """
    now = now or timezone.now()
    try:
        with transaction.atomic():
            occurrence = Occurrence.objects.create(
                job=job, scheduled_for=scheduled_for, trigger=trigger, plan=plan, created_at=now
            )
            run = Run.objects.create(
                occurrence=occurrence,
                job=job,
                state=state,
                priority=job.priority,
                requested_by=requested_by,
                reason=reason,
                created_at=now,
                finished_at=now if state in FINAL_STATES else None,
            )
    except IntegrityError:
        return None
    if state == RunState.QUEUED:
        for child in job.dependents.filter(schedule="manual", enabled=True):
            if plan is not None and not plan.jobs.filter(pk=child.pk).exists():
                continue
            create_occurrence(
                child,
                scheduled_for,
                trigger=Occurrence.Trigger.UPSTREAM,
                requested_by=requested_by,
                plan=plan,
                now=now,
            )
    return run


def run_now(job: Job, user, *, now: datetime | None = None) -> Run:
    """ "Run now": a manual occurrence at this instant, audited with the person who asked."""
    now = now or timezone.now()
    with transaction.atomic():
        run = None
        while run is None:  # two clicks in the same microsecond: the second one moves on
            run = create_occurrence(
                job, now, trigger=Occurrence.Trigger.MANUAL, requested_by=user, now=now
            )
            now += timedelta(microseconds=1)
        record("maintenance.run_requested", run, after={"job": job.name})
    return run


def run_plan(plan: MaintenancePlan, user, *, now: datetime | None = None) -> list[Run]:
    """One occurrence of every job in the plan at ``now``; dependencies order them and the
    dispatcher keeps at most ``plan.max_parallel`` of them running."""
    now = now or timezone.now()
    runs = []
    with transaction.atomic():
        members = list(plan.jobs.order_by("pk"))
        for job in members:
            run = create_occurrence(
                job, now, trigger=Occurrence.Trigger.PLAN, requested_by=user, plan=plan, now=now
            )
            if run:
                runs.append(run)
        record("maintenance.plan_started", plan, after={"jobs": [j.name for j in members]})
    return runs


# ---------------------------------------------------------------- worker side


def claim(run: Run, *, now: datetime, worker: str) -> bool:
    """queued → running with a new fencing token; False if someone else has it."""
    return transition(
        run,
        action="maintenance.run_started",
        expect={"state": RunState.QUEUED, "fencing_token": run.fencing_token},
        changes={
            "state": RunState.RUNNING,
            "fencing_token": run.fencing_token + 1,
            "started_at": now,
            "heartbeat_at": now,
            "lease_until": now + lease_length(),
            "deadline": now + run.job.max_duration,
            "worker": worker[:200],
            "dispatched_at": None,
        },
    )


def flush(ctx: RunContext, *, now: datetime | None = None) -> bool:
    """Heartbeat: renew the lease and save log, progress and checkpoint, if still ours."""
    now = now or timezone.now()
    updated = Run.objects.filter(
        pk=ctx.run_pk, state=RunState.RUNNING, fencing_token=ctx.token
    )._audited_update(
        heartbeat_at=now,
        lease_until=now + lease_length(),
        log=ctx.text(),
        progress_done=ctx.progress_done,
        progress_total=ctx.progress_total,
        checkpoint=ctx.checkpoint,
    )
    if updated != 1 and not ctx.stopped:
        state = Run.objects.filter(pk=ctx.run_pk).values_list("state", flat=True).first()
        ctx.stopped = f"run is {state} now"
    return updated == 1


def finish(ctx: RunContext, state: str, summary: str, *, now: datetime | None = None) -> bool:
    """running → a final state, only with the token the worker claimed with."""
    now = now or timezone.now()
    run = Run.objects.select_related("job").get(pk=ctx.run_pk)
    with transaction.atomic():
        ok = transition(
            run,
            action=f"maintenance.run_{state}",
            expect={"state": RunState.RUNNING, "fencing_token": ctx.token},
            changes={
                "state": state,
                "finished_at": now,
                "summary": summary[:5000],
                "log": ctx.text(),
                "progress_done": ctx.progress_done,
                "progress_total": ctx.progress_total,
                "checkpoint": ctx.checkpoint,
                "lease_until": None,
            },
        )
        if ok:
            _after_final(run, now)
    return ok


# ---------------------------------------------------------------- controller side


def mark_dispatched(run: Run, *, now: datetime) -> bool:
    """Hand a waiting run to the broker: deferred runs become queued again (audited)."""
    if run.state == RunState.DEFERRED:
        return transition(
            run,
            action="maintenance.run_requeued",
            expect={"state": RunState.DEFERRED, "dispatched_at": None},
            changes={"state": RunState.QUEUED, "dispatched_at": now},
            reason="window open",
        )
    updated = Run.objects.filter(
        pk=run.pk, state=RunState.QUEUED, dispatched_at__isnull=True
    )._audited_update(dispatched_at=now)
    return updated == 1


def undispatch(run: Run) -> bool:
    """The broker never started a handed-out run: make it dispatchable again."""
    updated = Run.objects.filter(
        pk=run.pk, state=RunState.QUEUED, dispatched_at=run.dispatched_at
    )._audited_update(dispatched_at=None)
    return updated == 1


def defer(run: Run, *, reason: str, until: datetime | None, now: datetime) -> bool:
    """Not now: wait for the next opening (or an hour when there is none in sight)."""
    not_before = until or now + timedelta(hours=1)
    if until is None:
        reason = f"{reason}; no opening in the next 62 days"
    with transaction.atomic():
        ok = transition(
            run,
            action="maintenance.run_deferred",
            expect={
                "state": run.state,
                "fencing_token": run.fencing_token,
                "dispatched_at": run.dispatched_at,
            },
            changes={
                "state": RunState.DEFERRED,
                "reason": reason[:500],
                "not_before": not_before,
                "dispatched_at": None,
            },
            reason=reason,
        )
        if ok:
            from maintenance import alerts

            alerts.on_deferred(run)
    return ok


def skip(run: Run, *, reason: str, now: datetime) -> bool:
    with transaction.atomic():
        ok = transition(
            run,
            action="maintenance.run_skipped",
            expect={"state": run.state, "dispatched_at": run.dispatched_at},
            changes={"state": RunState.SKIPPED, "reason": reason[:500], "finished_at": now},
            reason=reason,
        )
        if ok:
            _after_final(run, now)
    return ok


def cancel(run: Run, *, reason: str = "cancelled by a person", now: datetime | None = None) -> bool:
    """Cancel a waiting or running run; a running body stops at its next check()."""
    now = now or timezone.now()
    if run.state not in (*WAITING_STATES, RunState.RUNNING):
        return False
    with transaction.atomic():
        ok = transition(
            run,
            action="maintenance.run_cancelled",
            expect={"state": run.state, "fencing_token": run.fencing_token},
            changes={
                "state": RunState.CANCELLED,
                "finished_at": now,
                "reason": reason[:500],
                "lease_until": None,
                "dispatched_at": None,
            },
            reason=reason,
        )
        if ok:
            _after_final(run, now, retry=False)
    return ok


def reap(run: Run, *, state: str, reason: str, now: datetime) -> bool:
    """running → timed_out / lost from its deadline or lease, whatever the worker is doing."""
    with transaction.atomic():
        ok = transition(
            run,
            action=f"maintenance.run_{state}",
            expect={"state": RunState.RUNNING, "fencing_token": run.fencing_token},
            changes={
                "state": state,
                "finished_at": now,
                "reason": reason[:500],
                "lease_until": None,
            },
            reason=reason,
        )
        if ok:
            _after_final(run, now)
    return ok


def fail_unstarted(run: Run, *, reason: str, now: datetime) -> bool:
    """A queued run that cannot start at all (its type has no runner): failed, no retry."""
    with transaction.atomic():
        ok = transition(
            run,
            action="maintenance.run_failed",
            expect={"state": RunState.QUEUED, "fencing_token": run.fencing_token},
            changes={
                "state": RunState.FAILED,
                "finished_at": now,
                "reason": reason[:500],
                "dispatched_at": None,
            },
            reason=reason,
        )
        if ok:
            _after_final(run, now, retry=False)
    return ok


# ---------------------------------------------------------------- after a final state


def backoff_for(job: Job, attempt: int) -> timedelta:
    """Wait before the retry that follows failed attempt number ``attempt`` (1-based)."""
    return job.retry_backoff * (2 ** (attempt - 1))


def _after_final(run: Run, now: datetime, *, retry: bool = True) -> None:
    from maintenance import alerts

    run.refresh_from_db()
    job = run.job
    if retry and run.state in FAILURE_STATES and run.attempt <= job.retry_attempts:
        Run.objects.create(
            occurrence_id=run.occurrence_id,
            job=job,
            state=RunState.QUEUED,
            attempt=run.attempt + 1,
            retry_of=run,
            priority=run.priority,
            not_before=now + backoff_for(job, run.attempt),
            checkpoint=run.checkpoint,
            requested_by=run.requested_by,
            created_at=now,
            reason=f"retry {run.attempt} of {job.retry_attempts} after {run.get_state_display()}",
        )
    alerts.on_final(run)


def run_link(run: Run) -> str:
    return f"{settings.SITE_URL}{reverse('maintenance:run', args=[run.pk])}"


def median_duration(job: Job, *, exclude: int | None = None, sample: int = 20) -> float | None:
    """Median seconds of the job's last ``sample`` successful runs (None below 3 of them)."""
    runs = (
        Run.objects.filter(job=job, state=RunState.SUCCEEDED, started_at__isnull=False)
        .exclude(pk=exclude)
        .order_by("-finished_at")
        .values_list("started_at", "finished_at")[:sample]
    )
    seconds = [(f - s).total_seconds() for s, f in runs]
    if len(seconds) < 3:
        return None
    return statistics.median(seconds)
