"""Run notifications: each event at most once per run (the dedup key is run + event).

Called inside the transaction of the transition they announce. Failed, timed out, lost and
deferred always notify; started and succeeded only when the job asks for them; recovered is the
first success after a failure; slow is a finished run longer than ``slow_factor`` x the median
of the job's recent successful runs.
"""

from __future__ import annotations

from notifications.dispatch import notify
from notifications.events import register_event

EVENTS = {
    "maintenance.run_started": ("Maintenance run started", "Only for jobs that ask for it."),
    "maintenance.run_succeeded": ("Maintenance run succeeded", "Only for jobs that ask for it."),
    "maintenance.run_failed": ("Maintenance run failed", "The job's body raised an error."),
    "maintenance.run_timed_out": ("Maintenance run timed out", "Ran past its max duration."),
    "maintenance.run_lost": ("Maintenance run lost", "Its worker stopped sending heartbeats."),
    "maintenance.run_deferred": (
        "Maintenance run deferred",
        "It could not finish inside a window; moved to the next opening.",
    ),
    "maintenance.run_recovered": ("Maintenance job recovered", "First success after failures."),
    "maintenance.run_slow": ("Maintenance run slow", "Took longer than usual."),
}


def register_events() -> None:
    for key, (title, description) in EVENTS.items():
        register_event(
            key,
            title,
            description,
            default_email=key.endswith(("failed", "timed_out", "lost", "recovered")),
        )


def _send(run, event: str, subject: str, body: str = "") -> None:
    from maintenance.runs import run_link

    link = run_link(run)
    notify(
        f"maintenance.run_{event}",
        subject=subject,
        body=(body or subject) + f"\n\n{link}",
        payload={"run": run.pk, "job": run.job.name, "state": run.state, "attempt": run.attempt},
        dedup_key=f"maintenance.run.{run.pk}.{event}",
        link=link,
    )


def on_started(run) -> None:
    if run.job.notify_started:
        _send(run, "started", f"{run.job.name}: run #{run.pk} started")


def on_deferred(run) -> None:
    _send(run, "deferred", f"{run.job.name}: run #{run.pk} deferred", run.reason)


def on_final(run) -> None:
    from maintenance.models import FAILURE_STATES, Run, RunState
    from maintenance.runs import median_duration

    job = run.job
    if run.state in FAILURE_STATES:
        _send(
            run,
            run.state,
            f"{job.name}: run #{run.pk} {run.get_state_display().lower()}",
            run.reason or run.summary,
        )
        return
    if run.state != RunState.SUCCEEDED:
        return
    if job.notify_succeeded:
        _send(run, "succeeded", f"{job.name}: run #{run.pk} succeeded", run.summary)
    previous = (
        Run.objects.filter(
            job=job, finished_at__isnull=False, state__in=[RunState.SUCCEEDED, *FAILURE_STATES]
        )
        .exclude(pk=run.pk)
        .filter(finished_at__lte=run.finished_at)
        .order_by("-finished_at", "-pk")
        .values_list("state", flat=True)
        .first()
    )
    if previous in FAILURE_STATES:
        _send(run, "recovered", f"{job.name} recovered: run #{run.pk} succeeded")
    if job.slow_factor > 0 and run.duration is not None:
        median = median_duration(job, exclude=run.pk)
        took = run.duration.total_seconds()
        if median is not None and took > job.slow_factor * median:
            _send(
                run,
                "slow",
                f"{job.name}: run #{run.pk} was slow",
                f"It took {took:.1f}s; the median is {median:.1f}s "
                f"(threshold {job.slow_factor:g}x).",
            )
