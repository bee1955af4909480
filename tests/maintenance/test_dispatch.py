from datetime import timedelta

import pytest
from django.utils import timezone

from maintenance import dispatcher, runs
from maintenance.models import MaintenancePlan, Run, RunState
from maintenance.tasks import execute_run
from tests.maintenance.conftest import health_job, make_job, make_window


def _dispatched():
    return set(Run.objects.filter(dispatched_at__isnull=False).values_list("job__name", flat=True))


@pytest.mark.django_db
def test_higher_priority_runs_take_the_free_slots_first(
    settings, alice, django_capture_on_commit_callbacks
):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 2}
    for name, priority in (("low", 1), ("high", 9), ("mid", 5)):
        runs.run_now(make_job(name, priority=priority), alice)
    with django_capture_on_commit_callbacks() as callbacks:
        assert dispatcher.dispatch(timezone.now()) == 2
    assert _dispatched() == {"high", "mid"}
    assert len(callbacks) == 2


@pytest.mark.django_db
def test_no_slot_is_handed_out_while_every_worker_is_busy(settings, alice):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 1}
    runs.run_now(make_job("first"), alice)
    runs.run_now(make_job("second"), alice)
    dispatcher.dispatch(timezone.now())
    assert dispatcher.dispatch(timezone.now()) == 0
    assert len(_dispatched()) == 1


@pytest.mark.django_db
def test_a_job_never_overlaps_itself(settings, alice):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 4}
    job = make_job("slowpoke")
    runs.run_now(job, alice)
    runs.run_now(job, alice)
    assert dispatcher.dispatch(timezone.now()) == 1


@pytest.mark.django_db
def test_a_run_outside_its_window_is_deferred_with_the_reason_and_next_opening(alice):
    make_window(schedule="0 2 * * *")
    run = runs.run_now(make_job("nightly"), alice)
    now = timezone.now().replace(hour=12, minute=0)
    dispatcher.dispatch(now)
    run.refresh_from_db()
    assert run.state == RunState.DEFERRED and run.reason == "outside every allowed window"
    assert run.not_before.hour == 2 and run.not_before > now


@pytest.mark.django_db
def test_a_deferred_run_is_dispatched_once_its_window_opens(alice):
    make_window(schedule="0 2 * * *")
    run = runs.run_now(make_job("nightly"), alice)
    noon = timezone.now().replace(hour=12, minute=0)
    dispatcher.dispatch(noon)
    run.refresh_from_db()
    dispatcher.dispatch(run.not_before + timedelta(minutes=1))
    run.refresh_from_db()
    assert run.state == RunState.QUEUED and run.dispatched_at is not None


@pytest.mark.django_db
def test_a_failed_parent_skips_its_child_with_the_reason(alice, http_server):
    parent = health_job("parent", f"{http_server}/fail")
    child = make_job("child")
    child.depends_on.add(parent)
    runs.run_now(parent, alice)
    child_run = Run.objects.get(job=child)
    dispatcher.dispatch(timezone.now())
    child_run.refresh_from_db()
    assert child_run.state == RunState.QUEUED and child_run.dispatched_at is None
    execute_run(Run.objects.get(job=parent).pk)
    dispatcher.dispatch(timezone.now())
    child_run.refresh_from_db()
    assert child_run.state == RunState.SKIPPED
    assert child_run.reason == "upstream failed: parent failed"


@pytest.mark.django_db
def test_a_child_runs_after_its_parent_succeeded(alice, http_server):
    parent = health_job("parent", f"{http_server}/ok")
    child = make_job("child")
    child.depends_on.add(parent)
    runs.run_now(parent, alice)
    execute_run(Run.objects.get(job=parent).pk)
    dispatcher.dispatch(timezone.now())
    assert Run.objects.get(job=child).dispatched_at is not None


@pytest.mark.django_db
def test_a_plan_keeps_at_most_max_parallel_of_its_jobs_running(settings, alice):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 4}
    plan = MaintenancePlan.objects.create(name="sunday", max_parallel=2)
    plan.jobs.set([make_job(f"step-{i}") for i in range(4)])
    runs.run_plan(plan, alice)
    assert dispatcher.dispatch(timezone.now()) == 2


@pytest.mark.django_db
def test_a_run_handed_out_but_never_claimed_is_handed_out_again(alice):
    run = runs.run_now(make_job("lost-in-broker"), alice)
    now = timezone.now()
    dispatcher.dispatch(now)
    dispatcher.reap(now + dispatcher.DISPATCH_LEASE + timedelta(seconds=1))
    run.refresh_from_db()
    assert run.state == RunState.QUEUED and run.dispatched_at is None
