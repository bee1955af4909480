"""The driver of a rolling deployment: batch by batch, deploy + health check, failure budget.

One driver per deployment: ``drive`` first claims the row with a conditional UPDATE of
``lease_owner``/``lease_until`` (only when no live lease exists), then a heartbeat thread renews
the lease. Every write the driver makes is fenced on its ``lease_owner``: a driver that lost its
lease (paused too long, another took over) cannot write a step or a state again and stops.

A restarted driver continues from the HostStep rows: pending and deploying steps are (re)done
(the agent's deploy is idempotent), healthy and failed ones are kept; in the rollback phase every
step that was switched, or may have been (``deploying``), is reverted with a rollback bound to
the new release's sha (also idempotent on the agent).
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from itertools import repeat

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.trail import record
from fleet import agent_client
from fleet.deployments import _recount, bundle_download_url, deployment_link, move
from fleet.models import DeploymentState, HostStep, RollingDeployment, StepState

log = logging.getLogger("upkeep.fleet")


def max_parallel() -> int:
    """Hosts of one batch deployed at the same time; the rest of the batch waits its turn."""
    return int(getattr(settings, "FLEET_MAX_PARALLEL", 16))


def lease_seconds() -> int:
    return int(getattr(settings, "FLEET_LEASE_SECONDS", 30))


class LeaseLost(Exception):
    pass


@dataclass(frozen=True)
class Plan:
    """What a pool thread needs: plain values, so threads never touch the database."""

    version: str
    sha256: str
    url: str
    health_path: str
    timeout: float


@dataclass
class Outcome:
    step_pk: int
    switched: bool = False
    previous_sha256: str = ""
    error: str = ""
    rolled_back: bool = False
    rollback_error: str = ""
    changed: bool = True
    health: dict | None = None
    not_attempted: bool = False  # an abort came before this host's turn


# ------------------------------------------------------------------ lease


def claim(pk: int, owner: str, now=None) -> bool:
    """Take the deployment if it is active and no live lease exists (one winner)."""
    now = now or timezone.now()
    return bool(
        RollingDeployment.objects.unclaimed(now)
        .filter(pk=pk)
        ._audited_update(
            lease_owner=owner,
            lease_until=now + timedelta(seconds=lease_seconds()),
            heartbeat_at=now,
        )
    )


def _renew(pk: int, owner: str) -> bool:
    now = timezone.now()
    return bool(
        RollingDeployment._base_manager.filter(pk=pk, lease_owner=owner).update(
            lease_until=now + timedelta(seconds=lease_seconds()), heartbeat_at=now
        )
    )


def _fence(pk: int, owner: str) -> None:
    """Inside a write transaction: our lease must still hold (this also locks the row)."""
    if not _renew(pk, owner):
        raise LeaseLost(f"deployment #{pk} is no longer held by {owner}")


def _release(pk: int, owner: str) -> None:
    RollingDeployment._base_manager.filter(pk=pk, lease_owner=owner).update(
        lease_owner="", lease_until=None, kick_until=None
    )


class Heartbeat(threading.Thread):
    def __init__(self, pk: int, owner: str):
        super().__init__(daemon=True, name=f"fleet-lease-{pk}")
        self.pk, self.owner = pk, owner
        self.stop = threading.Event()
        self.lost = False

    def run(self) -> None:
        try:
            while not self.stop.wait(max(0.5, lease_seconds() / 3)):
                if not _renew(self.pk, self.owner):
                    self.lost = True
                    return
        finally:
            connection.close()


# ------------------------------------------------------------------ entry point


def drive(pk: int, *, owner: str | None = None) -> str:
    """Drive deployment ``pk`` to a final state; returns it, or "busy" when another driver holds
    the deployment, or "lease lost" when this one lost it on the way."""
    owner = owner or uuid.uuid4().hex
    if not claim(pk, owner):
        return "busy"
    beat = Heartbeat(pk, owner)
    beat.start()
    try:
        with transaction.atomic():
            deployment = RollingDeployment.objects.get(pk=pk)
            record("fleet.deployment_claimed", deployment, after={"driver": owner})
        return _loop(pk, owner, beat)
    except LeaseLost as exc:
        log.warning("%s", exc)
        return "lease lost"
    finally:
        beat.stop.set()
        beat.join()
        _release(pk, owner)


def _loop(pk: int, owner: str, beat: Heartbeat) -> str:
    while True:
        if beat.lost:
            raise LeaseLost(f"deployment #{pk}: the heartbeat lost the lease")
        deployment = RollingDeployment.objects.select_related("release", "fleet").get(pk=pk)
        state = deployment.state
        if deployment.is_final:
            return state
        if state == DeploymentState.PENDING:
            _move(
                deployment,
                DeploymentState.RUNNING,
                owner,
                "driver started",
                started_at=timezone.now(),
            )
        elif state == DeploymentState.RUNNING:
            _run(deployment, owner)
        elif state == DeploymentState.FAILED:
            _move(deployment, DeploymentState.ROLLING_BACK, owner, deployment.reason)
        elif state == DeploymentState.ROLLING_BACK:
            _roll_back(deployment, owner)


def _move(deployment: RollingDeployment, to: str, owner: str, reason: str, **changes) -> bool:
    """False when the row changed meanwhile (an abort request): the loop re-reads and goes on."""
    with transaction.atomic():
        _fence(deployment.pk, owner)
        if not move(deployment, to, reason=reason, owner=owner, **changes):
            return False
        if to in (DeploymentState.FAILED, DeploymentState.ROLLBACK_FAILED):
            _notify(deployment, to, reason)
    return True


def _notify(deployment: RollingDeployment, to: str, reason: str) -> None:
    from notifications.dispatch import notify

    link = deployment_link(deployment)
    event = "fleet.deployment_failed" if to == DeploymentState.FAILED else "fleet.rollback_failed"
    verb = "failed" if to == DeploymentState.FAILED else "could not be rolled back everywhere"
    subject = (
        f"{deployment.fleet.name}: deployment of {deployment.release.version} #{deployment.pk} "
        f"{verb}"
    )
    notify(
        event,
        subject=subject,
        body=f"{subject}\n\n{reason}\n\n{settings.SITE_URL}{link}",
        payload={"deployment": deployment.pk, "fleet": deployment.fleet.name, "state": to},
        dedup_key=f"{event}.{deployment.pk}",
        link=link,
    )


def _target(step: HostStep) -> agent_client.Target | None:
    host = step.host
    return agent_client.Target(host.name, host.agent_url, host.secret) if host else None


# ------------------------------------------------------------------ deploying


def _run(deployment: RollingDeployment, owner: str) -> None:
    """Deploy batch after batch; ends the running state one way or another."""
    release = deployment.release
    plan = Plan(
        version=release.version,
        sha256=release.bundle_sha256,
        url=bundle_download_url(release),
        health_path=deployment.health_path,
        timeout=deployment.host_timeout,
    )
    batches = sorted(set(deployment.steps.values_list("batch", flat=True)))
    for batch in batches:
        deployment.refresh_from_db()
        if deployment.abort_requested_at is not None:
            _move(deployment, DeploymentState.ROLLING_BACK, owner, deployment.reason or "aborted")
            return
        if deployment.failures > deployment.failure_budget:
            _over_budget(deployment, owner)
            return
        steps = list(
            deployment.steps.select_related("host")
            .filter(batch=batch, state__in=[StepState.PENDING, StepState.DEPLOYING])
            .order_by("position")
        )
        if not steps:
            continue
        now = timezone.now()
        with transaction.atomic():
            _fence(deployment.pk, owner)
            for step in steps:
                step.state, step.started_at = StepState.DEPLOYING, step.started_at or now
                step.save(update_fields=["state", "started_at"])
        aborted = _abort_check(deployment.pk)
        with ThreadPoolExecutor(max_workers=min(max_parallel(), len(steps))) as pool:
            outcomes = list(pool.map(_deploy_one, steps, repeat(plan), repeat(aborted)))
        for step, outcome in zip(steps, outcomes, strict=True):
            _record_outcome(deployment, step, outcome, owner)
        deployment.refresh_from_db()
        if deployment.failures > deployment.failure_budget:
            _over_budget(deployment, owner)
            return
        if deployment.abort_requested_at is not None:  # also after the last batch
            _move(deployment, DeploymentState.ROLLING_BACK, owner, deployment.reason or "aborted")
            return
    deployment.refresh_from_db()
    reason = f"{deployment.hosts_total - deployment.failures} of {deployment.hosts_total} hosts"
    reason += " healthy"
    if deployment.failures:
        reason += f"; {deployment.failures} failed (within the budget of "
        reason += f"{deployment.failure_budget}) and were rolled back"
    _move(deployment, DeploymentState.SUCCEEDED, owner, reason)


def _over_budget(deployment: RollingDeployment, owner: str) -> None:
    reason = (
        f"{deployment.failures} of {deployment.hosts_total} hosts failed; the failure "
        f"budget is {deployment.failure_budget}"
    )
    _move(deployment, DeploymentState.FAILED, owner, reason)


def _abort_check(pk: int):
    """A callable for pool threads: has an abort been requested? Once it has said yes it keeps
    saying so without asking again. The one database read a pool thread makes; its connection
    is closed straight after."""
    seen = threading.Event()

    def aborted() -> bool:
        if seen.is_set():
            return True
        try:
            if RollingDeployment._base_manager.filter(
                pk=pk, abort_requested_at__isnull=False
            ).exists():
                seen.set()
        finally:
            connection.close()
        return seen.is_set()

    return aborted


def _deploy_one(step: HostStep, plan: Plan, aborted=None) -> Outcome:
    """HTTP only (runs in a pool thread) but for the abort check: unless an abort was requested
    before this host's turn, deploy and wait for health; a failed host that switched is rolled
    back at once so it does not serve a release that failed its check. A host whose deploy has
    begun finishes its step even when an abort comes meanwhile."""
    outcome = Outcome(step.pk)
    if aborted is not None and aborted():
        outcome.not_attempted = True
        return outcome
    target = _target(step)
    if target is None:
        outcome.error = "the host was removed from the fleet"
        return outcome
    try:
        answer = agent_client.deploy(
            target, version=plan.version, sha256=plan.sha256, url=plan.url, timeout=plan.timeout
        )
        outcome.switched = True
        outcome.previous_sha256 = answer.get("previous_sha256", "") or ""
        outcome.health = agent_client.wait_healthy(
            target, plan.health_path, sha256=plan.sha256, timeout=plan.timeout
        )
    except agent_client.AgentCallError as exc:
        outcome.error = str(exc)
    if outcome.error and outcome.switched:
        try:
            agent_client.rollback(target, from_sha256=plan.sha256, timeout=plan.timeout)
            outcome.rolled_back = True
        except agent_client.AgentCallError as exc:
            outcome.rollback_error = str(exc)
    return outcome


def _record_outcome(deployment, step: HostStep, outcome: Outcome, owner: str) -> None:
    now = timezone.now()
    if outcome.not_attempted:
        with transaction.atomic():
            _fence(deployment.pk, owner)
            step.state, step.started_at, step.finished_at = StepState.SKIPPED, None, None
            step.save(update_fields=["state", "started_at", "finished_at"])
            record(
                "fleet.host_skipped",
                step,
                after={"host": step.host_name, "state": step.state, "reason": "abort requested"},
            )
            _recount(deployment)
        return
    with transaction.atomic():
        _fence(deployment.pk, owner)
        step.finished_at = now
        step.switched = outcome.switched and not outcome.rolled_back
        if outcome.previous_sha256:
            step.previous_sha256 = outcome.previous_sha256
        if outcome.error:
            step.failed_at, step.error = now, outcome.error[:2000]
            step.rollback_error = outcome.rollback_error[:2000]
            if outcome.rolled_back:
                step.state, step.rolled_back_at = StepState.ROLLED_BACK, now
            else:
                step.state = StepState.FAILED
        else:
            step.state = StepState.HEALTHY
        step.save()
        record(
            f"fleet.host_{'failed' if outcome.error else 'healthy'}",
            step,
            after={
                "host": step.host_name,
                "state": step.state,
                "switched": outcome.switched,
                "rolled_back": outcome.rolled_back,
                "error": step.error,
            },
        )
        if step.host_id and outcome.health:
            _seen(step.host_id, outcome.health, now, healthy=True)
        _recount(deployment)


def _seen(host_pk: int, answer: dict, now, *, healthy: bool) -> None:
    """A deployment's passed health check is a probe (``healthy``); a rollback's answer only
    says the agent answered and what it now runs (its health is for the next probe to tell)."""
    from fleet.liveness import ProbeResult, record_probe, record_seen

    version = str(answer.get("version", ""))[:100]
    sha256 = str(answer.get("sha256", ""))[:64]
    if healthy:
        record_probe(host_pk, ProbeResult(True, True, version, sha256), now)
    else:
        record_seen(host_pk, version, sha256, now)


# ------------------------------------------------------------------ rolling back


def _roll_back(deployment: RollingDeployment, owner: str) -> None:
    sha256, timeout = deployment.release.bundle_sha256, deployment.host_timeout
    steps = list(
        deployment.steps.select_related("host")
        .filter(rolled_back_at__isnull=True)
        .filter(state__in=[StepState.HEALTHY, StepState.FAILED, StepState.DEPLOYING])
        .order_by("position")
    )
    targets = [s for s in steps if s.switched or s.state == StepState.DEPLOYING]

    def revert(step: HostStep) -> Outcome:
        outcome = Outcome(step.pk)
        target = _target(step)
        if target is None:
            outcome.rollback_error = "the host was removed from the fleet"
            return outcome
        try:
            answer = agent_client.rollback(target, from_sha256=sha256, timeout=timeout)
            outcome.rolled_back, outcome.health = True, answer
            outcome.changed = bool(answer.get("changed"))
        except agent_client.AgentCallError as exc:
            outcome.rollback_error = str(exc)
        return outcome

    if targets:
        with ThreadPoolExecutor(max_workers=min(max_parallel(), len(targets))) as pool:
            outcomes = list(pool.map(revert, targets))
    else:
        outcomes = []
    now = timezone.now()
    for step, outcome in zip(targets, outcomes, strict=True):
        with transaction.atomic():
            _fence(deployment.pk, owner)
            if outcome.rolled_back and not step.switched and not outcome.changed:
                # Caught mid-deploy by a crash or an abort, and the agent never switched.
                step.state = StepState.FAILED if step.failed_at else StepState.SKIPPED
                step.switched, step.rollback_error = False, ""
                step.finished_at = step.finished_at or now
            elif outcome.rolled_back:
                step.state, step.rolled_back_at, step.switched = StepState.ROLLED_BACK, now, False
                step.rollback_error = ""
                step.finished_at = step.finished_at or now
            else:
                step.rollback_error = outcome.rollback_error[:2000]
            step.save()
            record(
                "fleet.host_rolled_back" if outcome.rolled_back else "fleet.host_rollback_failed",
                step,
                after={"host": step.host_name, "error": step.rollback_error},
            )
            if outcome.rolled_back and step.host_id and outcome.health:
                _seen(step.host_id, outcome.health, now, healthy=False)
    with transaction.atomic():
        _fence(deployment.pk, owner)
        for step in deployment.steps.filter(state=StepState.PENDING):
            step.state = StepState.SKIPPED
            step.save(update_fields=["state"])
        _recount(deployment)
    failed = [s.host_name for s, o in zip(targets, outcomes, strict=True) if not o.rolled_back]
    deployment.refresh_from_db()
    if failed:
        reason = f"could not roll back {', '.join(failed)}; check those hosts"
        _move(deployment, DeploymentState.ROLLBACK_FAILED, owner, reason)
        return
    final = (
        DeploymentState.ABORTED
        if deployment.abort_requested_at is not None
        else DeploymentState.ROLLED_BACK
    )
    reason = deployment.reason
    reason = f"{reason}; {len(targets)} host(s) rolled back" if reason else "rolled back"
    _move(deployment, final, owner, reason)


# ------------------------------------------------------------------ controller hook


def resume_stalled(now=None) -> list[int]:
    """Controller hook: queue a driver for each active deployment no driver holds (a worker
    died, or the task was lost). The ``kick_until`` claim keeps two controllers from both
    queueing one; the driver's own claim keeps two tasks from both driving it."""
    from console.tasks import enqueue

    now = now or timezone.now()
    queued = []
    stalled = RollingDeployment.objects.unclaimed(now).filter(
        kick_until__isnull=True
    ) | RollingDeployment.objects.unclaimed(now).filter(kick_until__lt=now)
    for pk in stalled.values_list("pk", flat=True):
        kicked = (
            RollingDeployment._base_manager.filter(pk=pk)
            .exclude(kick_until__gte=now)
            .update(kick_until=now + timedelta(seconds=2 * lease_seconds()))
        )
        if kicked:
            with transaction.atomic():
                enqueue("fleet.tasks.drive_deployment", pk)
            queued.append(pk)
    return queued
