"""The driver against real agents on loopback; bundles come from the live console over HTTP."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from fleet import deployments, driver, tasks
from fleet.models import DeploymentState, HostStep, RollingDeployment, StepState
from notifications.models import Notification
from tests.fleet.conftest import add_hosts, closed_port_url, make_fleet

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _site(settings, live_server):
    settings.SITE_URL = live_server.url


def roll(fleet, release, user=None) -> RollingDeployment:
    deployment = deployments.start(fleet, release, user=user)
    assert (
        tasks.drive_deployment(deployment.pk)
        == RollingDeployment.objects.get(pk=deployment.pk).state
    )
    deployment.refresh_from_db()
    return deployment


def test_every_host_is_switched_to_the_new_release(app, channel, v1, agents, bob):
    fleet = make_fleet(app, channel, batch_size=2)
    pairs = add_hosts(fleet, agents, 3)
    deployment = roll(fleet, v1, bob)
    assert (deployment.state, deployment.hosts_done, deployment.failures) == ("succeeded", 3, 0)
    assert {running.current() for _, running in pairs} == {v1.bundle_sha256}
    assert all((r.root / "current" / "index.html").read_text() == "<h1>one</h1>" for _, r in pairs)


def test_hosts_report_the_version_they_run(app, channel, v1, agents):
    fleet = make_fleet(app, channel)
    host, _ = add_hosts(fleet, agents, 1)[0]
    roll(fleet, v1)
    host.refresh_from_db()
    assert (host.reported_version, host.reported_sha256) == ("1.0.0", v1.bundle_sha256)
    assert host.last_seen_at is not None


def test_the_steps_go_in_batches_of_the_fleets_size(app, channel, v1, agents):
    fleet = make_fleet(app, channel, batch_size=2)
    add_hosts(fleet, agents, 5)
    deployment = roll(fleet, v1)
    batches = list(deployment.steps.order_by("position").values_list("batch", flat=True))
    assert batches == [0, 0, 1, 1, 2]


def test_a_failure_over_the_budget_rolls_back_the_switched_hosts(app, channel, v1, v2, agents):
    fleet = make_fleet(app, channel, batch_size=2, failure_budget=0, host_timeout=1)
    pairs = add_hosts(fleet, agents, 4)
    roll(fleet, v1)
    # h2's app stops answering: its agent now reports 503 on /health.
    pairs[1][1].config.app_health_url = closed_port_url()
    deployment = roll(fleet, v2)
    assert deployment.state == DeploymentState.ROLLED_BACK
    assert [r.current() for _, r in pairs] == [v1.bundle_sha256] * 4
    steps = {s.host_name: s.state for s in deployment.steps.all()}
    assert steps == {"h1": "rolled_back", "h2": "rolled_back", "h3": "skipped", "h4": "skipped"}


def test_a_failure_in_a_later_batch_rolls_back_the_earlier_batches(app, channel, v1, v2, agents):
    fleet = make_fleet(app, channel, batch_size=2, failure_budget=0, host_timeout=1)
    pairs = add_hosts(fleet, agents, 4)
    roll(fleet, v1)
    pairs[3][1].config.app_health_url = closed_port_url()
    deployment = roll(fleet, v2)
    assert deployment.state == DeploymentState.ROLLED_BACK
    assert [r.current() for _, r in pairs] == [v1.bundle_sha256] * 4
    assert [r.previous() for _, r in pairs[:3]] == [v2.bundle_sha256] * 3


def test_the_failed_host_says_why(app, channel, v1, v2, agents):
    fleet = make_fleet(app, channel, batch_size=1, failure_budget=0, host_timeout=1)
    pairs = add_hosts(fleet, agents, 2)
    roll(fleet, v1)
    pairs[0][1].config.app_health_url = closed_port_url()
    deployment = roll(fleet, v2)
    step = deployment.steps.get(host_name="h1")
    assert "503 unhealthy" in step.error and step.failed_at is not None
    assert "failure budget is 0" in deployment.reason


def test_a_failed_deployment_notifies(app, channel, v1, v2, agents):
    fleet = make_fleet(app, channel, failure_budget=0, host_timeout=1)
    pairs = add_hosts(fleet, agents, 2)
    roll(fleet, v1)
    pairs[1][1].config.app_health_url = closed_port_url()
    deployment = roll(fleet, v2)
    assert Notification.objects.filter(
        event="fleet.deployment_failed", dedup_key=f"fleet.deployment_failed.{deployment.pk}"
    ).exists()


def test_failures_within_the_budget_let_the_deployment_continue(app, channel, v1, v2, agents):
    fleet = make_fleet(app, channel, batch_size=1, failure_budget=1, host_timeout=1)
    pairs = add_hosts(fleet, agents, 3)
    roll(fleet, v1)
    pairs[0][1].config.app_health_url = closed_port_url()
    deployment = roll(fleet, v2)
    assert (deployment.state, deployment.failures, deployment.hosts_done) == ("succeeded", 1, 3)
    # The failing host went back to what it ran; the others run the new release.
    assert [r.current() for _, r in pairs] == [v1.bundle_sha256] + [v2.bundle_sha256] * 2


def test_an_unreachable_host_counts_as_a_failure(app, channel, v1, agents):
    fleet = make_fleet(app, channel, batch_size=1, failure_budget=1)
    pairs = add_hosts(fleet, agents, 2)
    pairs[1][0].agent_url = closed_port_url().rstrip("/")
    pairs[1][0].save()
    deployment = roll(fleet, v1)
    step = deployment.steps.get(host_name="h2")
    assert (deployment.state, step.state, step.switched) == ("succeeded", "failed", False)
    assert "unreachable" in step.error


def test_a_host_with_a_wrong_secret_fails_its_step(app, channel, v1, agents):
    fleet = make_fleet(app, channel, failure_budget=0)
    pairs = add_hosts(fleet, agents, 1)
    pairs[0][1].config.token_sha256 = "0" * 64
    deployment = roll(fleet, v1)
    step = deployment.steps.get()
    assert "401 unauthorized" in step.error
    assert (deployment.state, pairs[0][1].current()) == ("rolled_back", "")


def test_a_host_that_cannot_go_back_leaves_the_rollback_incomplete(app, channel, v1, agents):
    # First deployment ever: the hosts have no earlier release to go back to.
    fleet = make_fleet(app, channel, batch_size=2, failure_budget=0, host_timeout=1)
    pairs = add_hosts(fleet, agents, 2)
    pairs[1][1].config.app_health_url = closed_port_url()
    deployment = roll(fleet, v1)
    assert deployment.state == DeploymentState.ROLLBACK_FAILED
    assert "no_previous" in deployment.steps.get(host_name="h1").rollback_error
    assert Notification.objects.filter(event="fleet.rollback_failed").exists()


def test_two_drivers_at_once_only_one_drives(app, channel, v1, agents):
    fleet = make_fleet(app, channel, batch_size=1)
    add_hosts(fleet, agents, 3)
    deployment = deployments.start(fleet, v1, user=None)
    barrier = threading.Barrier(2)
    results = []

    def run():
        barrier.wait()
        try:
            results.append(driver.drive(deployment.pk))
        finally:
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["busy", "succeeded"]
    healthy = AuditEvent.objects.filter(action="fleet.host_healthy").count()
    assert healthy == 3


def test_a_live_lease_keeps_a_second_driver_out(app, channel, v1, agents):
    fleet = make_fleet(app, channel)
    add_hosts(fleet, agents, 1)
    deployment = deployments.start(fleet, v1, user=None)
    assert driver.claim(deployment.pk, "someone-else")
    assert driver.drive(deployment.pk) == "busy"


def test_a_restarted_driver_continues_from_the_step_rows(app, channel, v1, agents):
    fleet = make_fleet(app, channel, batch_size=1)
    pairs = add_hosts(fleet, agents, 3)
    deployment = deployments.start(fleet, v1, user=None)
    # A driver that died after h1: running, h1 healthy, h2 mid-deploy, its lease run out.
    past = timezone.now() - timedelta(minutes=5)
    RollingDeployment._base_manager.filter(pk=deployment.pk).update(
        state="running", lease_owner="dead", lease_until=past, started_at=past
    )
    HostStep._base_manager.filter(deployment=deployment, host_name="h1").update(
        state="healthy", finished_at=past
    )
    HostStep._base_manager.filter(deployment=deployment, host_name="h2").update(state="deploying")
    assert driver.drive(deployment.pk) == "succeeded"
    # h1 was not redeployed (its agent never saw a request); h2 and h3 were.
    assert pairs[0][1].current() == ""
    assert [r.current() for _, r in pairs[1:]] == [v1.bundle_sha256] * 2


def test_an_abort_stops_and_rolls_back(app, channel, v1, v2, agents, bob):
    fleet = make_fleet(app, channel, batch_size=1)
    pairs = add_hosts(fleet, agents, 3)
    roll(fleet, v1)
    deployment = deployments.start(fleet, v2, user=bob)
    RollingDeployment._base_manager.filter(pk=deployment.pk).update(state="running")
    HostStep._base_manager.filter(deployment=deployment, host_name="h1").update(state="deploying")
    deployment.refresh_from_db()
    deployments.request_abort(deployment, user=bob, reason="wrong build")
    assert driver.drive(deployment.pk) == "aborted"
    assert [r.current() for _, r in pairs] == [v1.bundle_sha256] * 3
    # h1 was caught mid-deploy but never switched: it is not reported as rolled back.
    assert set(deployment.steps.values_list("state", flat=True)) == {StepState.SKIPPED}


def test_an_abort_after_a_batch_rolls_back_what_was_switched(app, channel, v1, v2, agents, bob):
    fleet = make_fleet(app, channel, batch_size=1)
    pairs = add_hosts(fleet, agents, 3)
    roll(fleet, v1)
    deployment = deployments.start(fleet, v2, user=bob)
    # h1 done by a driver that then died; a person aborts; the next driver rolls h1 back.
    RollingDeployment._base_manager.filter(pk=deployment.pk).update(state="running")
    from fleet import agent as agent_module

    agent_module.deploy(
        pairs[0][1].config,
        {
            "version": v2.version,
            "sha256": v2.bundle_sha256,
            "url": deployments.bundle_download_url(v2),
        },
    )
    HostStep._base_manager.filter(deployment=deployment, host_name="h1").update(
        state="healthy", switched=True
    )
    deployment.refresh_from_db()
    deployments.request_abort(deployment, user=bob, reason="stop")
    assert driver.drive(deployment.pk) == "aborted"
    assert [r.current() for _, r in pairs] == [v1.bundle_sha256] * 3
    states = dict(deployment.steps.values_list("host_name", "state"))
    assert states == {"h1": "rolled_back", "h2": "skipped", "h3": "skipped"}


def test_a_driver_that_lost_its_lease_cannot_write(app, channel, v1, agents):
    fleet = make_fleet(app, channel)
    add_hosts(fleet, agents, 1)
    deployment = deployments.start(fleet, v1, user=None)
    assert driver.claim(deployment.pk, "first")
    RollingDeployment._base_manager.filter(pk=deployment.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert driver.claim(deployment.pk, "second")
    with pytest.raises(driver.LeaseLost), transaction.atomic():
        driver._fence(deployment.pk, "first")


def test_aborting_a_pending_deployment_ends_it_at_once(app, channel, v1, agents, bob):
    fleet = make_fleet(app, channel)
    add_hosts(fleet, agents, 2)
    deployment = deployments.start(fleet, v1, user=bob)
    assert deployments.request_abort(deployment, user=bob) == DeploymentState.ABORTED
    assert set(deployment.steps.values_list("state", flat=True)) == {StepState.SKIPPED}


def test_the_database_allows_one_active_deployment_per_fleet(app, channel, v1, agents):
    fleet = make_fleet(app, channel)
    add_hosts(fleet, agents, 1)
    deployments.start(fleet, v1, user=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        RollingDeployment.objects.create(
            fleet=fleet,
            release=v1,
            batch_size=1,
            failure_budget=0,
            health_path="/health",
            host_timeout=1,
        )


def test_starting_while_one_is_active_is_refused(app, channel, v1, agents):
    fleet = make_fleet(app, channel)
    add_hosts(fleet, agents, 1)
    deployments.start(fleet, v1, user=None)
    with pytest.raises(deployments.DeploymentError) as caught:
        deployments.start(fleet, v1, user=None)
    assert caught.value.code == "deployment_active"


def test_the_controller_queues_a_driver_for_a_stalled_deployment(app, channel, v1, agents):
    fleet = make_fleet(app, channel)
    add_hosts(fleet, agents, 1)
    deployment = deployments.start(fleet, v1, user=None)
    later = timezone.now() + timedelta(minutes=5)
    assert driver.resume_stalled(later) == [deployment.pk]
    assert driver.resume_stalled(later) == []  # its kick claim holds


def test_every_transition_is_audited(app, channel, v1, agents, bob):
    fleet = make_fleet(app, channel)
    add_hosts(fleet, agents, 1)
    deployment = roll(fleet, v1, bob)
    actions = list(
        AuditEvent.objects.filter(object_type="fleet.rollingdeployment", object_id=deployment.pk)
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        "fleet.deployment_started",
        "fleet.deployment_claimed",
        "fleet.deployment_running",
        "fleet.deployment_succeeded",
    ]


def test_a_driver_resuming_over_the_budget_rolls_back_instead_of_going_on(
    app, channel, v1, v2, agents
):
    fleet = make_fleet(app, channel, batch_size=1, failure_budget=0)
    pairs = add_hosts(fleet, agents, 3)
    roll(fleet, v1)
    deployment = deployments.start(fleet, v2, user=None)
    # A driver died right after recording h1's failure, before it could stop the deployment.
    RollingDeployment._base_manager.filter(pk=deployment.pk).update(state="running", failures=1)
    HostStep._base_manager.filter(deployment=deployment, host_name="h1").update(
        state="failed", failed_at=timezone.now(), error="not healthy"
    )
    assert driver.drive(deployment.pk) == "rolled_back"
    assert [r.current() for _, r in pairs] == [v1.bundle_sha256] * 3
    assert set(deployment.steps.exclude(host_name="h1").values_list("state", flat=True)) == {
        "skipped"
    }
