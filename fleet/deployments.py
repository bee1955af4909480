"""Fleet actions called by views, the API and the driver: hosts, start, abort, transitions.

Each function writes its audit row in the transaction that makes the change. Deployment state
moves only through ``move`` (compare-and-set on ``state`` and ``row_version``, and on the
driver's ``lease_owner`` when the driver moves it).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from audit.trail import record, snapshot, transition
from fleet.models import (
    ACTIVE_STATES,
    DeploymentState,
    Fleet,
    Host,
    HostStep,
    RollingDeployment,
    StepState,
)
from releases.models import Release

FLEET_FIELDS = [
    "name",
    "app_id",
    "channel_id",
    "batch_size",
    "failure_budget",
    "health_path",
    "host_timeout",
]
HOST_FIELDS = ["name", "agent_url"]
KICK_SECONDS = 60  # the first driver task gets this long before the controller queues another


class DeploymentError(Exception):
    """A refused action; ``status`` is the HTTP status the API answers with (400/409)."""

    def __init__(self, code: str, detail: str, status: int = 409):
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


def deployment_link(deployment: RollingDeployment) -> str:
    return reverse("fleet:deployment", args=[deployment.pk])


# ------------------------------------------------------------------ fleets and hosts


def save_fleet(fleet: Fleet) -> Fleet:
    """Create or change a fleet (a ModelForm's unsaved instance)."""
    creating = fleet.pk is None
    before = None if creating else snapshot(Fleet.objects.get(pk=fleet.pk), FLEET_FIELDS)
    with transaction.atomic():
        fleet.save()
        record(
            "fleet.created" if creating else "fleet.changed",
            fleet,
            before=before,
            after=snapshot(fleet, FLEET_FIELDS),
        )
    return fleet


def add_host(fleet: Fleet, *, name: str, agent_url: str) -> Host:
    with transaction.atomic():
        host = Host.objects.create(fleet=fleet, name=name, agent_url=agent_url)
        # The secret stays out of the trail; its hash identifies it.
        record(
            "fleet.host_added",
            host,
            after={**snapshot(host, HOST_FIELDS), "secret_sha256": host.secret_sha256},
        )
    return host


def remove_host(host: Host) -> None:
    """Refused (409) while a deployment on the host's fleet is active."""
    with transaction.atomic():
        if RollingDeployment.objects.filter(
            fleet_id=host.fleet_id, state__in=ACTIVE_STATES
        ).exists():
            raise DeploymentError(
                "deployment_active", "a deployment is running on this fleet; wait or abort it"
            )
        record("fleet.host_removed", host, before=snapshot(host, HOST_FIELDS))
        host.delete()


def delete_fleet(fleet: Fleet, *, confirm: str) -> dict:
    """Delete the fleet with its hosts and deployment history; refused (409) while a deployment
    is active, and (400) unless ``confirm`` is the fleet's name. The audit row keeps the fleet's
    settings and its hosts (name, agent URL, the secret's SHA-256; never the secret)."""
    if confirm.strip() != fleet.name:
        raise DeploymentError(
            "confirm_mismatch", f"type the fleet's name “{fleet.name}” to delete it", status=400
        )
    with transaction.atomic():
        # The row lock orders this against ``start`` (which locks the fleet too).
        fleet = Fleet.objects.select_for_update().get(pk=fleet.pk)
        if RollingDeployment.objects.filter(fleet=fleet, state__in=ACTIVE_STATES).exists():
            raise DeploymentError(
                "deployment_active", "a deployment is running on this fleet; wait or abort it"
            )
        hosts = [
            {**snapshot(h, HOST_FIELDS), "secret_sha256": h.secret_sha256}
            for h in fleet.hosts.order_by("name")
        ]
        before = {
            **snapshot(fleet, FLEET_FIELDS),
            "app": fleet.app.slug,
            "channel": fleet.channel.name,
            "hosts": hosts,
            "deployments": fleet.deployments.count(),
        }
        record("fleet.deleted", fleet, before=before)
        fleet.delete()
    return before


# ------------------------------------------------------------------ deployments


def deployable_releases(fleet: Fleet):
    """Enabled releases of the fleet's app offered on its channel, newest first by pk."""
    return (
        Release.objects.for_channel(fleet.channel)
        .enabled()
        .select_related("app")
        .order_by("-released_at", "-pk")
    )


def start(fleet: Fleet, release: Release, *, user) -> RollingDeployment:
    """Create the deployment and one step per host, and queue the driver."""
    if (
        release.app_id != fleet.app_id
        or not deployable_releases(fleet).filter(pk=release.pk).exists()
    ):
        raise DeploymentError(
            "release_not_deployable",
            f"{release.version} is not an enabled release of {fleet.app.slug} on "
            f"{fleet.channel.name}",
            status=400,
        )
    hosts = list(fleet.hosts.order_by("name"))
    if not hosts:
        raise DeploymentError("no_hosts", "the fleet has no hosts; add one first", status=400)
    now = timezone.now()
    try:
        with transaction.atomic():
            # Serialises against ``delete_fleet`` (a deployment never starts on a fleet that is
            # being deleted, and a deletion never sweeps away one that just started).
            if not Fleet.objects.select_for_update().filter(pk=fleet.pk).exists():
                raise DeploymentError("not_found", "the fleet was deleted", status=404)
            deployment = RollingDeployment.objects.create(
                fleet=fleet,
                release=release,
                batch_size=fleet.batch_size,
                failure_budget=fleet.failure_budget,
                health_path=fleet.health_path,
                host_timeout=fleet.host_timeout,
                hosts_total=len(hosts),
                started_by=user,
                created_at=now,
                kick_until=now + timedelta(seconds=KICK_SECONDS),
            )
            HostStep.objects.bulk_create(
                HostStep(
                    deployment=deployment,
                    host=host,
                    host_name=host.name,
                    position=i,
                    batch=i // fleet.batch_size,
                )
                for i, host in enumerate(hosts)
            )
            record(
                "fleet.deployment_started",
                deployment,
                after={
                    "release": release.version,
                    "sha256": release.bundle_sha256,
                    "hosts": [h.name for h in hosts],
                    "batch_size": fleet.batch_size,
                    "failure_budget": fleet.failure_budget,
                },
            )
            from console.tasks import enqueue

            enqueue("fleet.tasks.drive_deployment", deployment.pk)
    except IntegrityError:
        raise DeploymentError(
            "deployment_active", "another deployment is active on this fleet"
        ) from None
    return deployment


def move(
    deployment: RollingDeployment,
    to: str,
    *,
    reason: str = "",
    owner: str | None = None,
    action: str | None = None,
    **changes,
) -> bool:
    """Compare-and-set ``deployment`` from its current state to ``to``; False if it moved on."""
    expect = {"state": deployment.state, "row_version": deployment.row_version}
    if owner is not None:
        expect["lease_owner"] = owner
    if to in (
        DeploymentState.SUCCEEDED,
        DeploymentState.ROLLED_BACK,
        DeploymentState.ABORTED,
        DeploymentState.ROLLBACK_FAILED,
    ):
        changes.setdefault("finished_at", timezone.now())
    return transition(
        deployment,
        action=action or f"fleet.deployment_{to}",
        expect=expect,
        changes={"state": to, "row_version": F("row_version") + 1, "reason": reason, **changes},
        reason=reason,
    )


def request_abort(deployment: RollingDeployment, *, user, reason: str = "") -> str:
    """A pending deployment ends at once; an active one is marked and its driver stops after
    the hosts in flight and rolls back. Returns the state the deployment is in afterwards."""
    reason = reason.strip() or "aborted from the console"
    with transaction.atomic():
        deployment.refresh_from_db()
        if deployment.state == DeploymentState.PENDING:
            if not move(deployment, DeploymentState.ABORTED, reason=reason):
                raise DeploymentError("stale", "the deployment changed; reload and try again")
            for step in deployment.steps.filter(state=StepState.PENDING):
                step.state = StepState.SKIPPED
                step.save(update_fields=["state"])
            _recount(deployment)
            return deployment.state
        if not deployment.is_active:
            raise DeploymentError("finished", f"the deployment already {deployment.state}")
        if deployment.abort_requested_at is not None:
            return deployment.state
        ok = transition(
            deployment,
            action="fleet.abort_requested",
            expect={"row_version": deployment.row_version, "abort_requested_at": None},
            changes={
                "abort_requested_at": timezone.now(),
                "abort_requested_by_id": user.pk if user else None,
                "reason": reason,
                "row_version": F("row_version") + 1,
            },
            reason=reason,
        )
        if not ok:
            raise DeploymentError("stale", "the deployment changed; reload and try again")
        return deployment.state


def _recount(deployment: RollingDeployment) -> None:
    """Progress counters from the step rows (the rows are the truth; these are for lists)."""
    steps = list(deployment.steps.values_list("state", "failed_at"))
    done = sum(1 for state, _ in steps if state not in (StepState.PENDING, StepState.DEPLOYING))
    failures = sum(1 for _, failed_at in steps if failed_at is not None)
    RollingDeployment._base_manager.filter(pk=deployment.pk).update(
        hosts_done=done, failures=failures
    )
    deployment.hosts_done, deployment.failures = done, failures


def bundle_download_url(release: Release) -> str:
    from releases.update import bundle_url

    return settings.SITE_URL + bundle_url(release.bundle_sha256)
