"""Fleets of hosts running the deploy agent, and rolling deployments of a release to them.

Every state change goes through ``fleet.deployments`` (compare-and-set on ``row_version`` plus
an audit row in the same transaction). The driver's lease (``lease_owner``/``lease_until``) and
the controller's queueing claim (``kick_until``) are bookkeeping, not state: they are written
with plain conditional UPDATEs through ``_base_manager``.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from audit.models import AuditedQuerySet
from releases.models import App, Channel, Release


def new_agent_secret() -> str:
    return "ag_" + secrets.token_urlsafe(32)


class Fleet(models.Model):
    """Hosts serving one app's bundle for one channel (H5 builds, backends)."""

    name = models.SlugField(max_length=60, unique=True)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="fleets")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="fleets")
    batch_size = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    # How many hosts may fail before the deployment stops and rolls back: failures > budget.
    failure_budget = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(1000)]
    )
    health_path = models.CharField(max_length=200, default="/health")
    # Seconds for one host's deploy request, and again for its health check to pass.
    host_timeout = models.PositiveSmallIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(3600)]
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Host(models.Model):
    """One server running the deploy agent.

    ``secret`` is a shared secret kept in clear because the driver sends it as the bearer token;
    the agent keeps only its SHA-256 (``secret_sha256``), so the agent's configuration cannot be
    replayed against other hosts. It is never shown in the console (only its hash, which the
    agent is configured with).
    """

    fleet = models.ForeignKey(Fleet, on_delete=models.CASCADE, related_name="hosts")
    name = models.CharField(max_length=100)
    agent_url = models.URLField(max_length=300)
    secret = models.CharField(max_length=100, default=new_agent_secret)
    # What the agent reported at its last health check (empty: never checked or nothing there).
    reported_version = models.CharField(max_length=100, blank=True)
    reported_sha256 = models.CharField(max_length=64, blank=True)
    # When the agent last answered at all (200 or not); see fleet.liveness.
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # The last health probe (controller poll, "Check now" or a deployment's health check): when
    # it finished and whether it answered 200. NULL/NULL: never probed ("unknown").
    last_probe_at = models.DateTimeField(null=True, blank=True)
    last_probe_ok = models.BooleanField(null=True, blank=True)
    # The controller's claim on probing this host (fleet.liveness.probe_due), bookkeeping.
    probe_claim_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["fleet__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["fleet", "name"], name="fleet_host_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.fleet.name}/{self.name}"

    @property
    def secret_sha256(self) -> str:
        return hashlib.sha256(self.secret.encode()).hexdigest()


class DeploymentState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (budget exceeded)"
    ROLLING_BACK = "rolling_back", "Rolling back"
    ROLLED_BACK = "rolled_back", "Rolled back"
    ABORTED = "aborted", "Aborted"
    ROLLBACK_FAILED = "rollback_failed", "Rollback incomplete"


ACTIVE_STATES = (
    DeploymentState.PENDING,
    DeploymentState.RUNNING,
    DeploymentState.FAILED,
    DeploymentState.ROLLING_BACK,
)
FINAL_STATES = (
    DeploymentState.SUCCEEDED,
    DeploymentState.ROLLED_BACK,
    DeploymentState.ABORTED,
    DeploymentState.ROLLBACK_FAILED,
)


class DeploymentQuerySet(AuditedQuerySet):
    def active(self) -> DeploymentQuerySet:
        """Deployments a driver still has work on (pending, running, failed, rolling back)."""
        return self.filter(state__in=ACTIVE_STATES)

    def unclaimed(self, now) -> DeploymentQuerySet:
        """Active ones no driver holds: no lease, or a lease that ran out before ``now``."""
        return self.active().filter(
            models.Q(lease_until__isnull=True) | models.Q(lease_until__lt=now)
        )


class RollingDeployment(models.Model):
    """One release rolled out to a fleet, batch by batch, with a failure budget."""

    fleet = models.ForeignKey(Fleet, on_delete=models.CASCADE, related_name="deployments")
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(
        max_length=20, choices=DeploymentState.choices, default=DeploymentState.PENDING
    )
    row_version = models.PositiveIntegerField(default=1)
    # The fleet's settings when it started (editing the fleet never changes a running one).
    batch_size = models.PositiveSmallIntegerField()
    failure_budget = models.PositiveSmallIntegerField()
    health_path = models.CharField(max_length=200)
    host_timeout = models.PositiveSmallIntegerField()
    hosts_total = models.PositiveIntegerField(default=0)
    hosts_done = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    reason = models.TextField(blank=True)  # of the last transition
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    abort_requested_at = models.DateTimeField(null=True, blank=True)
    abort_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The driver holding this deployment: a random owner id and when its lease runs out. Every
    # write the driver makes is fenced on ``lease_owner`` (see fleet.driver).
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The controller's claim on queueing a driver task (fleet.driver.resume_stalled).
    kick_until = models.DateTimeField(null=True, blank=True)

    objects = DeploymentQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["fleet"],
                condition=models.Q(state__in=["pending", "running", "failed", "rolling_back"]),
                name="fleet_one_active_deployment",
            )
        ]

    def __str__(self) -> str:
        return f"{self.fleet.name} {self.release.version} deployment #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


class StepState(models.TextChoices):
    PENDING = "pending", "Pending"
    DEPLOYING = "deploying", "Deploying"
    HEALTHY = "healthy", "Healthy"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Rolled back"
    SKIPPED = "skipped", "Not attempted"


class HostStep(models.Model):
    """One host's part in one deployment. A restarted driver continues from these rows."""

    deployment = models.ForeignKey(
        RollingDeployment, on_delete=models.CASCADE, related_name="steps"
    )
    # NULL once the host is removed from the fleet; name and URL stay for the record.
    host = models.ForeignKey(Host, on_delete=models.SET_NULL, null=True, related_name="steps")
    host_name = models.CharField(max_length=100)
    position = models.PositiveIntegerField()
    batch = models.PositiveIntegerField()
    state = models.CharField(max_length=20, choices=StepState.choices, default=StepState.PENDING)
    # True once the agent said it switched to the new release (so a rollback must revert it).
    switched = models.BooleanField(default=False)
    previous_sha256 = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)  # counts against the budget
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    rollback_error = models.TextField(blank=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["deployment", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "position"], name="fleet_step_unique_position"
            )
        ]

    def __str__(self) -> str:
        return f"{self.host_name} in deployment #{self.deployment_id}"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None
