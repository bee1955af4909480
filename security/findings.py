"""The findings lifecycle, the one writer of ``Finding.state``.

    open ──acknowledge──▶ acknowledged
    open / acknowledged / regressed ──suppress (four-eyes, reason + expiry)──▶ suppressed
    suppressed ──expiry passes──▶ open
    any active state ──not seen in a complete, covering scan──▶ fixed
    fixed ──seen again──▶ regressed (the same row)

Every transition is a compare-and-set with its audit row (``audit.trail.transition``).
Incomplete and error scans never close anything (``reconcile`` checks before it closes).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import approvals
from audit.models import ChangeRequest
from audit.trail import record, transition
from security.models import (
    ACTIVE_STATES,
    Finding,
    FindingState,
    Scan,
    Severity,
    due_from,
)
from security.scanning import Observation, ScanResult

SUPPRESS_KIND = "security.suppress_finding"
ACT_PERMISSION = "accounts.run_maintenance"
MAX_SUPPRESSION = timedelta(days=365)
NOTIFY_SEVERITIES = {Severity.CRITICAL, Severity.HIGH}


class FindingError(ValueError):
    """A refused action; ``field`` names the form field when there is one."""

    def __init__(self, detail: str, field: str | None = None, status: int = 400):
        super().__init__(detail)
        self.detail, self.field, self.status = detail, field, status


# ---------------------------------------------------------------- scans → findings


def _notify_new(finding: Finding, what: str) -> None:
    if finding.severity not in NOTIFY_SEVERITIES:
        return
    from django.conf import settings
    from django.urls import reverse

    from notifications.dispatch import notify

    link = f"{settings.SITE_URL}{reverse('security:finding', args=[finding.pk])}"
    notify(
        "security.finding_new",
        subject=f"{what} {finding.severity} finding: {finding.advisory.key} in {finding.package}",
        body=f"{finding.advisory.key} ({finding.severity}) in {finding.ecosystem} package "
        f"{finding.package} {', '.join(finding.versions)} of {finding.app.slug}.\n"
        f"{finding.advisory.summary}\nDue {finding.due_at:%Y-%m-%d}.\n\n{link}",
        payload={
            "finding": finding.pk,
            "app": finding.app.slug,
            "advisory": finding.advisory.key,
            "severity": finding.severity,
            "state": finding.state,
        },
        dedup_key=f"security.finding.{finding.pk}.{finding.state}.{finding.regressions}",
        link=link,
    )


def _observe(
    app_id: int, obs: Observation, scan: Scan, now: datetime, counts: dict, seen: set[int]
) -> Finding:
    """Open, regress or refresh the finding for one observation (``seen``: findings already
    observed in this reconcile, whose versions are merged rather than replaced)."""
    key = {
        "app_id": app_id,
        "ecosystem": obs.ecosystem,
        "package": obs.package,
        "advisory": obs.advisory,
    }
    finding = Finding.objects.select_for_update().filter(**key).first()
    severity = obs.advisory.severity
    if finding is None:
        try:
            with transaction.atomic():
                finding = Finding.objects.create(
                    **key,
                    state=FindingState.OPEN,
                    severity=severity,
                    versions=[obs.version] if obs.version else [],
                    fixed_versions=obs.fixed,
                    first_seen_at=now,
                    last_seen_at=now,
                    last_scan=scan,
                    due_at=due_from(severity, now),
                )
        except IntegrityError:  # a concurrent scan created it: treat as seen again
            finding = Finding.objects.select_for_update().get(**key)
        else:
            record(
                "security.finding_opened",
                finding,
                after={"state": finding.state, "severity": severity, "scan": scan.pk},
            )
            counts["opened"] += 1
            _notify_new(finding, "New")
            return finding
    versions = sorted(
        set(finding.versions if finding.pk in seen else [])
        | ({obs.version} if obs.version else set())
    )
    if finding.state == FindingState.FIXED:
        transition(
            finding,
            action="security.finding_regressed",
            expect={"state": FindingState.FIXED},
            changes={
                "state": FindingState.REGRESSED,
                "regressions": finding.regressions + 1,
                "fixed_at": None,
                "due_at": due_from(severity, now),
                "severity": severity,
                "last_seen_at": now,
                "last_scan_id": scan.pk,
                "versions": versions,
                "fixed_versions": obs.fixed,
            },
            reason=f"seen again by scan #{scan.pk}",
        )
        counts["regressed"] += 1
        _notify_new(finding, "Regressed")
        return finding
    changes = {
        "last_seen_at": now,
        "last_scan_id": scan.pk,
        "versions": versions,
        "fixed_versions": obs.fixed,
    }
    if finding.severity != severity:
        # The advisory's severity changed (newer data): the SLA follows it, audited.
        transition(
            finding,
            action="security.finding_severity_changed",
            expect={"severity": finding.severity},
            changes={
                "severity": severity,
                "due_at": due_from(severity, finding.first_seen_at),
                **changes,
            },
        )
    else:
        # Seen again: no state change, but the sighting is part of the finding's history.
        before = {"last_seen_at": finding.last_seen_at, "last_scan_id": finding.last_scan_id}
        Finding.objects.filter(pk=finding.pk)._audited_update(**changes)
        finding.refresh_from_db(fields=["last_seen_at", "last_scan", "versions"])
        record(
            "security.finding_seen",
            finding,
            before=before,
            after={"last_seen_at": now, "last_scan_id": scan.pk, "versions": versions},
        )
    counts["seen"] += 1
    return finding


def reconcile(results: list[ScanResult], *, closes: bool, now=None) -> dict[str, int]:
    """Open or regress what the scans saw; close (fixed) what they did not see, but only when
    every scan is complete and ``closes`` says together they cover everything the app ships."""
    now = now or timezone.now()
    counts = {"opened": 0, "regressed": 0, "seen": 0, "fixed": 0}
    if not results:
        return counts
    scans = [r.scan for r in results]
    with transaction.atomic():
        seen_ids = set()
        for result in results:
            for obs in result.observations:
                finding = _observe(result.scan.app_id, obs, result.scan, now, counts, seen_ids)
                seen_ids.add(finding.pk)
        complete = all(s.status == Scan.Status.COMPLETE for s in scans)
        if closes and complete:
            ecosystems = {e for s in scans for e in s.ecosystems}
            stale = Finding.objects.filter(
                app_id__in={s.app_id for s in scans},
                ecosystem__in=ecosystems,
                state__in=ACTIVE_STATES,
            ).exclude(pk__in=seen_ids)
            refs = ", ".join(f"#{s.pk}" for s in scans)
            for finding in stale:
                if transition(
                    finding,
                    action="security.finding_fixed",
                    expect={"state": finding.state},
                    changes={
                        "state": FindingState.FIXED,
                        "fixed_at": now,
                        "suppressed_until": None,
                    },
                    reason=f"not seen in complete scan {refs}",
                ):
                    counts["fixed"] += 1
    return counts


# ---------------------------------------------------------------- people's actions


def acknowledge(finding: Finding, user, *, note: str) -> Finding:
    if not user.has_perm(ACT_PERMISSION):
        raise FindingError("your role cannot acknowledge findings", status=403)
    note = (note or "").strip()
    if not note:
        raise FindingError("say what you are doing about it", "note")
    if finding.state not in (FindingState.OPEN, FindingState.REGRESSED):
        raise FindingError(f"a {finding.state} finding cannot be acknowledged", status=409)
    if not transition(
        finding,
        action="security.finding_acknowledged",
        expect={"state": finding.state},
        changes={"state": FindingState.ACKNOWLEDGED, "note": note},
        reason=note,
    ):
        raise FindingError("the finding changed meanwhile; look again", status=409)
    return finding


SUPPRESSIBLE = (FindingState.OPEN, FindingState.ACKNOWLEDGED, FindingState.REGRESSED)


def pending_suppression(finding: Finding) -> ChangeRequest | None:
    return (
        ChangeRequest.objects.filter(
            kind=SUPPRESS_KIND,
            target_type="security.finding",
            target_id=str(finding.pk),
            status__in=[ChangeRequest.Status.PENDING, ChangeRequest.Status.APPROVED],
        )
        .order_by("-pk")
        .first()
    )


def request_suppression(finding: Finding, user, *, reason: str, until: datetime, now=None):
    """Ask a second person to suppress the finding until ``until`` (four-eyes)."""
    now = now or timezone.now()
    if not user.has_perm(ACT_PERMISSION):
        raise FindingError("your role cannot suppress findings", status=403)
    reason = (reason or "").strip()
    if not reason:
        raise FindingError("say why the finding may be suppressed", "reason")
    if until is None or until <= now:
        raise FindingError("the expiry must be in the future", "until")
    if until > now + MAX_SUPPRESSION:
        raise FindingError("a suppression lasts at most 365 days", "until")
    if finding.state not in SUPPRESSIBLE:
        raise FindingError(f"a {finding.state} finding cannot be suppressed", status=409)
    with transaction.atomic():
        Finding.objects.select_for_update().filter(pk=finding.pk).first()
        if pending_suppression(finding) is not None:
            raise FindingError("a suppression of this finding is already waiting", status=409)
        cr = approvals.request_change(
            SUPPRESS_KIND,
            requested_by=user,
            payload={"finding_id": finding.pk, "reason": reason, "until": until.isoformat()},
            title=f"Suppress {finding.advisory.key} in {finding.package} "
            f"({finding.app.slug}) until {until:%Y-%m-%d}",
            target=finding,
            reason=reason,
            now=now,
        )
        transition(
            finding,
            action="security.suppression_requested",
            expect={"state": finding.state},
            changes={"suppression_request": cr.pk},
            reason=reason,
        )
    return cr


def _validate_suppression(payload: dict) -> None:
    if not Finding.objects.filter(pk=payload.get("finding_id")).exists():
        raise approvals.ApprovalError("the finding of this suppression does not exist")
    if not str(payload.get("reason", "")).strip():
        raise approvals.ApprovalError("a suppression needs a reason")
    try:
        datetime.fromisoformat(str(payload.get("until")))
    except ValueError:
        raise approvals.ApprovalError("a suppression needs an expiry") from None


def _apply_suppression(cr: ChangeRequest) -> dict:
    """Applied once by audit.approvals after a second person approved it."""
    finding = Finding.objects.select_for_update().get(pk=cr.payload["finding_id"])
    until = datetime.fromisoformat(cr.payload["until"])
    if until <= timezone.now():
        return {"suppressed": False, "why": "the expiry passed before the change was applied"}
    if finding.state not in SUPPRESSIBLE:
        return {"suppressed": False, "why": f"the finding is {finding.state} now"}
    transition(
        finding,
        action="security.finding_suppressed",
        expect={"state": finding.state},
        changes={
            "state": FindingState.SUPPRESSED,
            "suppressed_reason": cr.payload["reason"],
            "suppressed_until": until,
            "suppression_request": cr.pk,
        },
        reason=cr.payload["reason"],
    )
    return {"suppressed": True, "finding": finding.pk, "until": cr.payload["until"]}


def _closed_suppression(cr: ChangeRequest) -> None:
    finding = Finding.objects.filter(pk=cr.payload.get("finding_id")).first()
    if finding is not None and finding.suppression_request == cr.pk:
        transition(
            finding,
            action="security.suppression_dropped",
            expect={"suppression_request": cr.pk, "state": finding.state},
            changes={"suppression_request": None},
            reason=f"change request {cr.status}",
        )


def register_approval_kind() -> None:
    approvals.register(
        approvals.Kind(
            name=SUPPRESS_KIND,
            title="Suppress a security finding",
            approve_permission=ACT_PERMISSION,
            apply=_apply_suppression,
            validate=_validate_suppression,
            on_close=_closed_suppression,
        )
    )


def expire_suppressions(now=None) -> int:
    """Controller hook and scan step: suppressions past their expiry return to open."""
    now = now or timezone.now()
    expired = 0
    for finding in Finding.objects.filter(state=FindingState.SUPPRESSED, suppressed_until__lte=now):
        with transaction.atomic():
            if transition(
                finding,
                action="security.suppression_expired",
                expect={
                    "state": FindingState.SUPPRESSED,
                    "suppressed_until": finding.suppressed_until,
                },
                changes={"state": FindingState.OPEN, "suppression_request": None},
                reason=f"suppression expired at {finding.suppressed_until:%Y-%m-%d %H:%M} UTC",
            ):
                expired += 1
    return expired
