"""The task body wrapper django-q2 runs: ``execute_run(run_pk)``.

Redelivery is harmless: the claim is a compare-and-set from ``queued`` (a run that is already
running or finished is left alone), the window is checked again right before the body (a queue
delay can push the start past the window), a heartbeat thread renews the lease while the body
runs, and the outcome is written only with the fencing token the claim produced.
"""

from __future__ import annotations

import logging
import threading
import traceback

from django.db import connection, transaction
from django.utils import timezone

from audit.context import Actor, acting_as
from console.liveness import process_name
from maintenance import jobtypes, runs, windows
from maintenance.models import Run, RunState
from maintenance.runcontext import RunContext, RunStopped, bind, unbind

logger = logging.getLogger(__name__)


class _Heartbeat(threading.Thread):
    def __init__(self, ctx: RunContext):
        super().__init__(name=f"heartbeat-run-{ctx.run_pk}", daemon=True)
        self.ctx = ctx
        self.stop_event = threading.Event()

    def run(self) -> None:
        # One failed beat (a locked SQLite file, a dropped PostgreSQL connection) must not end
        # the heartbeat: the reaper would take the healthy run for lost and start a retry
        # alongside it. Log it, drop the connection and beat again; only a lost lease stops us.
        try:
            while not self.stop_event.wait(runs.heartbeat_seconds()):
                try:
                    if not runs.flush(self.ctx):
                        break
                except Exception:
                    logger.exception("heartbeat of maintenance run %s failed", self.ctx.run_pk)
                    connection.close()
        finally:
            connection.close()


def execute_run(run_pk: int) -> str:
    # django-q2's worker closes stale connections before each task.
    run = Run.objects.select_related("job", "requested_by").filter(pk=run_pk).first()
    if run is None:
        return "gone"
    if run.state != RunState.QUEUED:
        return f"not started: run is {run.state}"
    now = timezone.now()
    job = run.job
    verdict = windows.check(job, now)
    if not verdict.ok:
        runs.defer(
            run, reason=f"in-worker check: {verdict.reason}", until=verdict.next_start, now=now
        )
        return f"deferred: {verdict.reason}"
    try:
        runner = jobtypes.runnable(job.job_type).resolve_runner()
    except (jobtypes.ParamsError, LookupError, ImportError) as exc:
        runs.fail_unstarted(run, reason=str(exc), now=now)
        return f"failed: {exc}"
    if not runs.claim(run, now=now, worker=process_name()):
        return "not started: another worker claimed it"
    from maintenance import alerts

    with transaction.atomic():
        alerts.on_started(run)
    ctx = RunContext(run.pk, run.fencing_token, run.deadline, run.checkpoint)
    ctx.log(f"attempt {run.attempt} started on {run.worker}")
    bind(ctx)
    beat = _Heartbeat(ctx)
    beat.start()
    state, summary = RunState.SUCCEEDED, ""
    try:
        with acting_as(Actor.for_run(f"maintenance.run:{run.pk}", run.requested_by)):
            summary = runner(run.pk) or "done"
    except RunStopped as exc:
        ctx.log(f"stopped: {exc}")
        # Past the deadline is a timeout whoever notices first (this worker or the reaper).
        overdue = timezone.now() > ctx.deadline
        state = RunState.TIMED_OUT if overdue else RunState.FAILED
        summary = f"stopped: {exc}"
    except Exception as exc:
        ctx.log("".join(traceback.format_exception(exc, limit=-3)).strip())
        state, summary = RunState.FAILED, f"{type(exc).__name__}: {exc}"
    finally:
        beat.stop_event.set()
        beat.join(timeout=10)
        unbind(ctx)
    ctx.log(f"finished: {state}")
    if runs.finish(ctx, state, summary):
        return f"{state}: {summary}"
    current = Run.objects.filter(pk=run.pk).values_list("state", flat=True).first()
    return f"outcome discarded: run is {current}"
