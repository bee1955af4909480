"""Four-eyes approvals: the reusable maker-checker primitive.

A *kind* is registered once by the app that owns the change (``register``) with the permission an
approver needs and the function that applies it. Everything else (who may approve, quorum,
payload binding, expiry, idempotent apply) lives here, checked on the server for everyone,
administrators included.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import Approval, ChangeRequest
from audit.trail import record, to_json_value, transition

Status = ChangeRequest.Status


class ApprovalError(Exception):
    """A refused approval action. ``code`` is machine-readable, ``status`` the HTTP status."""

    status = 400
    code = "invalid"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class SelfApprovalError(ApprovalError):
    status, code = 403, "self_approval"


class NotAllowedError(ApprovalError):
    status, code = 403, "forbidden"


class StaleError(ApprovalError):
    """The form was rendered for a payload version that is no longer current."""

    status, code = 409, "stale"


class StateError(ApprovalError):
    status, code = 409, "conflict"


@dataclass(frozen=True)
class Kind:
    name: str
    title: str
    approve_permission: str
    apply: Callable[[ChangeRequest], dict | None]
    required_approvals: int = 1
    ttl: timedelta = timedelta(days=3)
    validate: Callable[[dict], None] | None = None
    # Called in the same transaction when a request ends without being applied (denied,
    # cancelled or expired), so the owning app can close what was waiting on it.
    on_close: Callable[[ChangeRequest], None] | None = None


_kinds: dict[str, Kind] = {}


def register(kind: Kind) -> None:
    _kinds[kind.name] = kind


def get_kind(name: str) -> Kind:
    try:
        return _kinds[name]
    except KeyError:
        raise ApprovalError(f"unknown change kind {name!r}") from None


def kinds() -> dict[str, Kind]:
    return dict(_kinds)


def payload_hash(payload: dict) -> str:
    canonical = json.dumps(to_json_value(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def request_change(
    kind: str,
    *,
    requested_by,
    payload: dict,
    title: str,
    target=None,
    reason: str = "",
    required_approvals: int | None = None,
    now: datetime | None = None,
) -> ChangeRequest:
    spec = get_kind(kind)
    if spec.validate:
        spec.validate(payload)
    now = now or timezone.now()
    required = required_approvals or spec.required_approvals
    if required < 1:
        raise ApprovalError("a change request needs at least one approver")
    with transaction.atomic():
        cr = ChangeRequest.objects.create(
            kind=kind,
            target_type=target._meta.label_lower if target is not None else "",
            target_id=str(target.pk) if target is not None else "",
            target_repr=str(target)[:300] if target is not None else "",
            title=title[:300],
            payload=to_json_value(payload),
            payload_hash=payload_hash(payload),
            requested_by=requested_by,
            required_approvals=required,
            reason=reason,
            created_at=now,
            expires_at=now + spec.ttl,
        )
        record(
            "change.requested",
            cr,
            after={
                "kind": kind,
                "payload": cr.payload,
                "payload_hash": cr.payload_hash,
                "required_approvals": required,
            },
            reason=reason,
        )
        _notify(cr, "approvals.requested", f"Approval needed: {cr.title}")
    return cr


def _notify(cr: ChangeRequest, event: str, subject: str) -> None:
    from notifications.dispatch import notify

    notify(
        event,
        subject=subject,
        body=f"{cr.title}\nRequested by {cr.requested_by}\nStatus: {cr.get_status_display()}",
        payload={"change_request": cr.pk, "kind": cr.kind, "status": cr.status, "title": cr.title},
        dedup_key=f"{event}:{cr.pk}:{cr.version}:{cr.status}",
        link=f"/audit/approvals/{cr.pk}/",
    )


def can_decide(cr: ChangeRequest, user) -> bool:
    """May ``user`` approve or deny this request? (Used by views to show the forms.)"""
    if not user.is_authenticated or user.pk == cr.requested_by_id:
        return False
    return user.has_perm(get_kind(cr.kind).approve_permission)


def check_decider(cr: ChangeRequest, user) -> None:
    if user.pk == cr.requested_by_id:
        raise SelfApprovalError("the requester of a change cannot approve or deny it")
    if not user.has_perm(get_kind(cr.kind).approve_permission):
        raise NotAllowedError("your role cannot decide this kind of change")


def check_editor(cr: ChangeRequest, user) -> None:
    if user.pk != cr.requested_by_id:
        raise NotAllowedError("only the requester can edit a change request")


def _closed(cr: ChangeRequest) -> None:
    spec = _kinds.get(cr.kind)
    if spec is not None and spec.on_close is not None:
        spec.on_close(cr)


def _locked(cr_id: int) -> ChangeRequest:
    return ChangeRequest.objects.select_for_update().select_related("requested_by").get(pk=cr_id)


def _check_open(cr: ChangeRequest, now: datetime) -> None:
    if cr.status == Status.PENDING and cr.expires_at <= now:
        raise StateError("this change request has expired")
    if cr.status != Status.PENDING:
        raise StateError(f"this change request is {cr.get_status_display().lower()}")


def _decide(cr_id: int, user, decision: str, version: int, comment: str, now: datetime):
    """Lock the request, check who decides and on what, and store the one decision per person
    per payload version (the unique constraint turns a double click into a refusal)."""
    cr = _locked(cr_id)
    check_decider(cr, user)
    _check_open(cr, now)
    if version != cr.version:
        raise StaleError(
            f"the payload changed since you looked at it (version {version}, now "
            f"{cr.version}); review it again"
        )
    try:
        with transaction.atomic():
            Approval.objects.create(
                change_request=cr,
                approver=user,
                version=cr.version,
                payload_hash=cr.payload_hash,
                decision=decision,
                comment=comment,
                at=now,
            )
    except IntegrityError:
        raise StateError("you have already decided on this version") from None
    return cr


def approve(
    cr_id: int, user, *, version: int, comment: str = "", now: datetime | None = None
) -> ChangeRequest:
    """Record ``user``'s approval of payload ``version``; reaching quorum approves the request."""
    now = now or timezone.now()
    with transaction.atomic():
        cr = _decide(cr_id, user, Approval.Decision.APPROVE, version, comment, now)
        count = cr.approvals.filter(version=cr.version, decision=Approval.Decision.APPROVE).count()
        record(
            "change.approved_by",
            cr,
            after={"approvals": count, "of": cr.required_approvals, "version": cr.version},
            reason=comment,
        )
        if count >= cr.required_approvals:
            transition(
                cr,
                action="change.approved",
                expect={"status": Status.PENDING, "version": cr.version},
                changes={"status": Status.APPROVED, "decided_at": now},
            )
            _notify(cr, "approvals.decided", f"Approved: {cr.title}")
    return cr


def deny(cr_id: int, user, *, version: int, comment: str, now: datetime | None = None):
    """Any single denial ends the request."""
    now = now or timezone.now()
    if not comment.strip():
        raise ApprovalError("a denial needs a reason")
    with transaction.atomic():
        cr = _decide(cr_id, user, Approval.Decision.DENY, version, comment, now)
        transition(
            cr,
            action="change.denied",
            expect={"status": Status.PENDING},
            changes={"status": Status.DENIED, "decided_at": now},
            reason=comment,
        )
        _closed(cr)
        _notify(cr, "approvals.decided", f"Denied: {cr.title}")
    return cr


def cancel(cr_id: int, user, *, reason: str = "") -> ChangeRequest:
    with transaction.atomic():
        cr = _locked(cr_id)
        if user.pk != cr.requested_by_id and not user.has_perm("accounts.manage_users"):
            raise NotAllowedError("only the requester or an admin can cancel a change request")
        if not cr.is_open:
            raise StateError(f"this change request is {cr.get_status_display().lower()}")
        transition(
            cr,
            action="change.cancelled",
            expect={"status": cr.status},
            changes={"status": Status.CANCELLED, "decided_at": timezone.now()},
            reason=reason,
        )
        _closed(cr)
    return cr


def edit_payload(cr_id: int, user, *, payload: dict, version: int) -> ChangeRequest:
    """The requester changes the payload: approvals given so far stop counting."""
    with transaction.atomic():
        cr = _locked(cr_id)
        spec = get_kind(cr.kind)
        check_editor(cr, user)
        if not cr.is_open:
            raise StateError(f"this change request is {cr.get_status_display().lower()}")
        if version != cr.version:
            raise StaleError("the change request was edited since you opened it")
        if spec.validate:
            spec.validate(payload)
        new_hash = payload_hash(payload)
        transition(
            cr,
            action="change.edited",
            expect={"version": cr.version, "status": cr.status},
            changes={
                "payload": to_json_value(payload),
                "payload_hash": new_hash,
                "version": cr.version + 1,
                "status": Status.PENDING,
                "decided_at": None,
            },
        )
    return cr


def apply(cr_id: int, user, *, now: datetime | None = None) -> ChangeRequest:
    """Apply an approved change exactly once.

    Compare-and-set from ``approved`` to ``applied`` and the kind's apply function run in one
    transaction: if applying fails nothing changes; if two people click at once one applies and
    the other gets the stored result back.
    """
    now = now or timezone.now()
    with transaction.atomic():
        cr = _locked(cr_id)
        spec = get_kind(cr.kind)
        if not (user.pk == cr.requested_by_id or user.has_perm(spec.approve_permission)):
            raise NotAllowedError("your role cannot apply this kind of change")
        if cr.status == Status.APPLIED:
            return cr  # idempotent: already applied, nothing more to do
        if cr.status != Status.APPROVED:
            raise StateError(f"only an approved change can be applied (it is {cr.status})")
        won = transition(
            cr,
            action="change.applied",
            expect={"status": Status.APPROVED, "version": cr.version},
            changes={"status": Status.APPLIED, "applied_at": now, "applied_by_id": user.pk},
        )
        if not won:
            cr.refresh_from_db()
            return cr
        result = spec.apply(cr)
        ChangeRequest.objects.filter(pk=cr.pk)._audited_update(result=to_json_value(result))
        cr.result = result
    return cr


def expire_overdue(now: datetime | None = None) -> int:
    """Controller hook: open requests past their expiry become ``expired``."""
    now = now or timezone.now()
    expired = 0
    for cr in ChangeRequest.objects.filter(
        status__in=[Status.PENDING, Status.APPROVED], expires_at__lte=now
    ).only("pk", "status", "expires_at", "title", "kind", "target_type", "target_id", "payload"):
        with transaction.atomic():
            if transition(
                cr,
                action="change.expired",
                expect={"status": cr.status},
                changes={"status": Status.EXPIRED, "decided_at": now},
            ):
                _closed(cr)
                expired += 1
    return expired


def summary(cr: ChangeRequest) -> dict[str, Any]:
    approvals = [a for a in cr.approvals.all() if a.version == cr.version]
    return {
        "approved": sum(1 for a in approvals if a.decision == Approval.Decision.APPROVE),
        "required": cr.required_approvals,
        "approvers": [a.approver for a in approvals],
    }
