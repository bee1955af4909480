"""Notification events of this app; ``notify`` runs inside the transaction that records the
report or the action's outcome."""

from __future__ import annotations

from django.urls import reverse

from dbhealth.models import Action, Report


def register_events() -> None:
    from notifications.events import register_event

    register_event(
        "dbhealth.integrity_failed",
        "Database integrity check failed",
        "An integrity or quick check found damage, or the database could not be analysed.",
    )
    register_event(
        "dbhealth.action_failed",
        "Database upkeep action failed",
        "A rebuild, ANALYZE, drop, recreate or VACUUM did not finish (with the reason).",
    )


def on_report(report: Report) -> None:
    from notifications.dispatch import notify

    errors = int(report.counts.get("integrity_errors", 0))
    if report.status != Report.Status.FAILED and not errors:
        return
    what = "could not be analysed" if report.status == Report.Status.FAILED else "is damaged"
    detail = report.error or "\n".join(report.findings.get("integrity", [])[:20])
    notify(
        "dbhealth.integrity_failed",
        subject=f"{report.target_label} {what}",
        body=f"{report.target_label} {what} (report #{report.pk}).\n{detail}",
        payload={"report": report.pk, "target": report.target, "status": report.status},
        dedup_key=f"dbhealth.report:{report.pk}",
        link=reverse("dbhealth:report", args=[report.pk]),
    )


def on_action_failed(action: Action) -> None:
    from notifications.dispatch import notify

    notify(
        "dbhealth.action_failed",
        subject=f"{action} failed",
        body=f"{action} failed: {action.detail}",
        payload={"action": action.pk, "target": action.target, "kind": action.kind},
        dedup_key=f"dbhealth.action:{action.pk}",
        link=reverse("dbhealth:target", args=[action.target]),
    )
