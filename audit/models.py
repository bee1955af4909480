from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditBypassError(RuntimeError):
    """A bulk update or delete tried to change audited rows without writing an audit row."""


class AuditedQuerySet(models.QuerySet):
    """QuerySet for models whose changes must be audited.

    ``update()`` and ``delete()`` refuse: bulk writes are exactly what signal-based audit apps
    miss. Change state through ``audit.trail.transition`` (compare-and-set plus the audit row in
    one transaction) or save the instance and call ``audit.trail.record``.
    """

    def update(self, **kwargs):
        raise AuditBypassError(
            f"{self.model.__name__}.objects.update() would bypass the audit trail; "
            "use audit.trail.transition()"
        )

    def delete(self):
        raise AuditBypassError(
            f"{self.model.__name__}.objects.delete() would bypass the audit trail; "
            "delete instances and record each with audit.trail.record()"
        )

    def _audited_update(self, **kwargs) -> int:
        return super().update(**kwargs)


class ChainHead(models.Model):
    """The single row holding the newest sequence number and hash of the audit chain.

    Writers lock it (``SELECT ... FOR UPDATE``; SQLite serialises writers at ``BEGIN IMMEDIATE``)
    so that two transactions can never both extend the chain from the same row.
    """

    seq = models.BigIntegerField(default=0)
    row_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"audit chain head #{self.seq}"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditBypassError("audit events are append-only")

    def delete(self):
        raise AuditBypassError("audit events are append-only")

    def for_object(self, obj_type: str, obj_id) -> AuditEventQuerySet:
        """Events about one object, newest first (uses audit_event_object)."""
        return self.filter(object_type=obj_type, object_id=str(obj_id)).order_by("-seq")


class AuditEvent(models.Model):
    """One append-only, hash-chained row of the audit trail.

    ``row_hash = sha256(prev_hash + canonical(row))``; see ``audit.trail`` for the canonical form.
    ``actor_id`` is kept as a plain integer (no foreign key) so deleting a user can never rewrite
    a row and break the chain; ``actor_label`` keeps the name as it was.
    """

    seq = models.BigIntegerField(unique=True)
    at = models.DateTimeField()
    actor_kind = models.CharField(max_length=20)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=200)
    token_id = models.BigIntegerField(null=True, blank=True)
    run_ref = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=100, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    row_hash = models.CharField(max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        indexes = [
            # The per-object history panel: for_object(type, id).
            models.Index(fields=["object_type", "object_id", "-seq"], name="audit_event_object"),
            # The log page's filters: by actor, by action, by time range.
            models.Index(fields=["actor_label", "-seq"], name="audit_event_actor"),
            models.Index(fields=["action", "-seq"], name="audit_event_action"),
            models.Index(fields=["at"], name="audit_event_at"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditBypassError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditBypassError("audit events are append-only")

    @property
    def is_break_glass(self) -> bool:
        return self.action.startswith("breakglass.") or ".breakglass" in self.action


class ChangeRequest(models.Model):
    """A change that needs N distinct approvers before it can be applied (four-eyes).

    The payload is frozen by its hash; approvals are bound to a payload ``version`` so that
    editing the payload clears them. Status moves only through ``audit.approvals``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"
        CANCELLED = "cancelled", "Cancelled"
        APPLIED = "applied", "Applied"
        EXPIRED = "expired", "Expired"

    kind = models.CharField(max_length=100)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=100, blank=True)
    target_repr = models.CharField(max_length=300, blank=True)
    title = models.CharField(max_length=300)
    payload = models.JSONField(default=dict)
    payload_hash = models.CharField(max_length=64)
    version = models.PositiveIntegerField(default=1)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="change_requests"
    )
    required_approvals = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    result = models.JSONField(null=True, blank=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The approvals list (pending first) and the controller's expiry sweep.
            models.Index(fields=["status", "expires_at"], name="change_status_expiry"),
            models.Index(fields=["target_type", "target_id"], name="change_target"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in {self.Status.PENDING, self.Status.APPROVED}


class Approval(models.Model):
    """One person's decision on one version of a change request's payload."""

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        DENY = "deny", "Deny"

    change_request = models.ForeignKey(
        ChangeRequest, on_delete=models.CASCADE, related_name="approvals"
    )
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    version = models.PositiveIntegerField()
    payload_hash = models.CharField(max_length=64)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    comment = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at"]
        constraints = [
            # Distinct approvers: one decision per person per payload version, enforced by the
            # database so that a double click or two racing requests cannot count twice.
            models.UniqueConstraint(
                fields=["change_request", "approver", "version"], name="approval_once_per_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.approver} {self.decision} #{self.change_request_id} v{self.version}"
