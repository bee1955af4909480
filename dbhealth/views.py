"""Database pages: targets, the latest report per target with its actions, report history.

Views orchestrate; the rules live in pg.py / sqlitecheck.py, the changes in actions.py.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from console.dashboard import Card
from dbhealth import actions
from dbhealth.forms import DropForm, IndexForm, TableForm
from dbhealth.models import Action, Report
from dbhealth.targets import POSTGRESQL, SQLITE, Target, TargetError, all_targets, get_target

VIEW = "accounts.view_console"
RUN = "accounts.run_maintenance"
view_console = permission_required(VIEW, raise_exception=True)
run_maintenance = permission_required(RUN, raise_exception=True)
HISTORY = 20


def _target(key: str) -> Target:
    try:
        return get_target(key)
    except TargetError:
        raise Http404("no such database target") from None


def _tone(report: Report | None) -> tuple[str, str]:
    if report is None:
        return "unknown", "never analysed"
    if report.status == Report.Status.FAILED:
        return "bad", "analysis failed"
    if report.counts.get("integrity_errors"):
        return "bad", "integrity errors"
    if report.status == Report.Status.PARTIAL:
        return "warn", "partial"
    if report.problems:
        return "warn", f"{report.problems} findings"
    return "ok", "nothing to act on"


def _verdict_tone(verdict: str) -> str:
    if verdict.startswith("invalid"):
        return "bad"
    if verdict.startswith("insufficient"):
        return "unknown"
    return "warn"


def _findings(report: Report | None) -> dict:
    """Split the report's indexes into those with a verdict and the rest, for display."""
    if report is None:
        return {}
    indexes = report.findings.get("indexes", [])
    flagged = [i for i in indexes if i.get("verdicts") not in (["ok"], [])]
    for i in flagged:
        i["badges"] = [(_verdict_tone(v), v) for v in i["verdicts"]]
    ok = [i for i in indexes if i.get("verdicts") in (["ok"], [])]
    integrity = report.findings.get("integrity")
    return {"flagged": flagged, "ok": ok, "integrity_ok": integrity == ["ok"]}


def _index_findings(report: Report | None) -> int | None:
    if report is None:
        return None
    keys = ("unused", "duplicate", "invalid", "bloated")
    return sum(int(report.counts.get(k, 0)) for k in keys)


@view_console
def index(request: HttpRequest) -> HttpResponse:
    rows = []
    for target in all_targets():
        report = Report.objects.for_target(target.key).first()
        tone, label = _tone(report)
        rows.append(
            {
                "target": target,
                "report": report,
                "tone": tone,
                "label": label,
                "index_findings": _index_findings(report),
            }
        )
    return render(
        request,
        "dbhealth/index.html",
        {"rows": rows, "can_run": request.user.has_perm(RUN)},
    )


def _target_page(request, target: Target, *, errors=None, status=200) -> HttpResponse:
    recent = list(Action.objects.for_target(target.key).select_related("requested_by")[:HISTORY])
    recreated = set(
        Action.objects.filter(
            recreates__in=[a.pk for a in recent], status__in=["queued", "running", "succeeded"]
        ).values_list("recreates_id", flat=True)
    )
    for action in recent:
        action.can_recreate = (
            action.kind == Action.Kind.DROP_INDEX
            and action.status == Action.Status.SUCCEEDED
            and action.pk not in recreated
        )
    live = sum(1 for a in recent if a.status in (Action.Status.QUEUED, Action.Status.RUNNING))
    context = {
        "target": target,
        "actions": recent,
        "live": live,
        "can_run": request.user.has_perm(RUN),
    }
    if getattr(request, "htmx", False) and status == 200:
        response = render(request, "dbhealth/target.html#actions", context)
        if not live:
            # The last action finished: its report or index changes are elsewhere on the page.
            response["HX-Refresh"] = "true"
        return response
    report = Report.objects.for_target(target.key).first()
    tone, label = _tone(report)
    return render(
        request,
        "dbhealth/target.html",
        {
            **context,
            "report": report,
            "tone": tone,
            "label": label,
            "found": _findings(report),
            "history": Report.objects.for_target(target.key)[:HISTORY],
            "is_pg": target.vendor == POSTGRESQL,
            "is_sqlite": target.vendor == SQLITE,
            "errors": errors or [],
        },
        status=status,
    )


@view_console
def target_detail(request: HttpRequest, key: str) -> HttpResponse:
    return _target_page(request, _target(key))


@view_console
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(Report, pk=pk)
    tone, label = _tone(report)
    return render(
        request,
        "dbhealth/report.html",
        {
            "report": report,
            "tone": tone,
            "label": label,
            "found": _findings(report),
            "is_pg": report.vendor == POSTGRESQL,
        },
    )


def _refused(request, target: Target, errors: list[str]) -> HttpResponse:
    return _target_page(request, target, errors=errors, status=400)


def _form_errors(form) -> list[str]:
    return [f"{field}: {error}" for field, errs in form.errors.items() for error in errs]


def _ask(request, target: Target, kind: str, **fields) -> HttpResponse:
    try:
        action = actions.request(target, kind, request.user, **fields)
    except (actions.ActionRefused, TargetError) as exc:
        return _refused(request, target, [str(exc)])
    messages.success(request, f"{action} queued.")
    return redirect("dbhealth:target", key=target.key)


@require_POST
@run_maintenance
def analyse(request: HttpRequest, key: str) -> HttpResponse:
    return _ask(request, _target(key), Action.Kind.ANALYSE)


@require_POST
@run_maintenance
def reindex(request: HttpRequest, key: str) -> HttpResponse:
    target = _target(key)
    form = IndexForm(request.POST)
    if not form.is_valid():
        return _refused(request, target, _form_errors(form))
    return _ask(request, target, Action.Kind.REINDEX, **form.cleaned_data)


@require_POST
@run_maintenance
def analyze_table(request: HttpRequest, key: str) -> HttpResponse:
    target = _target(key)
    form = TableForm(request.POST)
    if not form.is_valid():
        return _refused(request, target, _form_errors(form))
    return _ask(request, target, Action.Kind.ANALYZE_TABLE, **form.cleaned_data)


@require_POST
@run_maintenance
def optimize(request: HttpRequest, key: str) -> HttpResponse:
    return _ask(request, _target(key), Action.Kind.OPTIMIZE)


@require_POST
@run_maintenance
def vacuum(request: HttpRequest, key: str) -> HttpResponse:
    return _ask(request, _target(key), Action.Kind.VACUUM)


@require_POST
@run_maintenance
def drop(request: HttpRequest, key: str) -> HttpResponse:
    target = _target(key)
    form = DropForm(request.POST)
    if not form.is_valid():
        return _refused(request, target, _form_errors(form))
    try:
        action = actions.request_drop(target, request.user, **form.cleaned_data)
    except (actions.ActionRefused, TargetError) as exc:
        return _refused(request, target, [str(exc)])
    messages.success(
        request,
        f"Dropping {action.qualified} needs a second person's approval; the index definition "
        "is kept with the request.",
    )
    return redirect("audit:approval", action.change_request_id)


@require_POST
@run_maintenance
def recreate(request: HttpRequest, key: str, pk: int) -> HttpResponse:
    target = _target(key)
    dropped = get_object_or_404(Action, pk=pk, target=target.key)
    try:
        action = actions.request_recreate(dropped, request.user)
    except (actions.ActionRefused, TargetError) as exc:
        return _refused(request, target, [str(exc)])
    messages.success(request, f"{action} queued.")
    return redirect("dbhealth:target", key=target.key)


def dashboard_card(request) -> Card:
    url = reverse("dbhealth:index")
    latest = [r for t in all_targets() if (r := Report.objects.for_target(t.key).first())]
    if not latest:
        return Card(
            "Database",
            url,
            empty="No database report yet: open Database and analyse the console database, "
            "or schedule an index_health job.",
        )
    index_findings = sum(
        int(r.counts.get(k, 0))
        for r in latest
        for k in ("unused", "duplicate", "invalid", "bloated")
    )
    stale = sum(int(r.counts.get("stale", 0)) for r in latest)
    failed = sum(1 for r in latest if r.status != Report.Status.COMPLETE)
    integrity = sum(int(r.counts.get("integrity_errors", 0)) for r in latest)
    if integrity or any(r.status == Report.Status.FAILED for r in latest):
        status, label = "bad", "integrity errors" if integrity else "analysis failed"
    elif failed or index_findings or stale:
        status, label = "warn", "needs attention"
    else:
        status, label = "ok", "nothing to act on"
    return Card(
        "Database",
        url,
        status=status,
        status_label=label,
        stats=[
            ("Databases analysed", len(latest)),
            ("Index findings", index_findings),
            ("Tables with stale statistics", stale),
            ("Reports not complete", failed),
        ],
    )
