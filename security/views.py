"""Security pages: findings, scans, report uploads and the OSV import (Admin)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count, Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from console.dashboard import Card
from releases import uploads
from security import findings, osv, patches, scanning
from security.forms import (
    AcknowledgeForm,
    FindingFilterForm,
    OsvImportForm,
    PatchForm,
    ReportForm,
    SuppressForm,
)
from security.models import (
    ACTIVE_PATCH_STATES,
    ACTIVE_STATES,
    SLA_DAYS,
    SLA_STATES,
    Finding,
    FindingState,
    OsvImport,
    PatchState,
    Scan,
    SecurityPatch,
    Severity,
)

VIEW = "accounts.view_console"
ACT = findings.ACT_PERMISSION
ADMIN = "accounts.manage_users"
SEVERITIES = [s.value for s in Severity]

view_console = permission_required(VIEW, raise_exception=True)
act = permission_required(ACT, raise_exception=True)
admin_only = permission_required(ADMIN, raise_exception=True)


def _finding(pk: int) -> Finding:
    return get_object_or_404(Finding.objects.select_related("app", "advisory", "last_scan"), pk=pk)


def _security_scan_runs(limit: int = 5) -> list:
    """Recent runs of the maintenance app's configuration/permissions audit (linked only)."""
    from maintenance.models import Run

    return list(
        Run.objects.filter(job__job_type="security_scan")
        .select_related("job")
        .order_by("-pk")[:limit]
    )


@view_console
def finding_list(request: HttpRequest) -> HttpResponse:
    form = FindingFilterForm(request.GET or None)
    now = timezone.now()
    qs = Finding.objects.select_related("app", "advisory")
    data = form.cleaned_data if form.is_valid() else {}
    if data.get("app"):
        qs = qs.filter(app__slug=data["app"])
    state = data.get("state") or ""
    if state == "":
        qs = qs.filter(state__in=ACTIVE_STATES)
    elif state != "all":
        qs = qs.filter(state=state)
    if data.get("severity"):
        qs = qs.filter(severity=data["severity"])
    if data.get("overdue"):
        qs = qs.overdue(now)
    rows = list(qs.by_urgency(now)[:500])
    active = Finding.objects.active()
    by_severity = dict(
        active.values_list("severity").annotate(n=Count("pk")).values_list("severity", "n")
    )
    by_state = dict(
        Finding.objects.values_list("state").annotate(n=Count("pk")).values_list("state", "n")
    )
    template = "security/findings.html#results" if request.htmx else "security/findings.html"
    return render(
        request,
        template,
        {
            "form": form,
            "rows": rows,
            "now": now,
            "severity_counts": [(s, by_severity.get(s, 0)) for s in SEVERITIES],
            "state_counts": [(s.value, s.label, by_state.get(s.value, 0)) for s in FindingState],
            "overdue_count": Finding.objects.overdue(now).count(),
            "sla_days": [(s, SLA_DAYS[s]) for s in SEVERITIES],
            "has_data": OsvImport.objects.exists(),
            "can_patch": request.user.has_perm(patches.PUBLISH_PERMISSION),
        },
    )


def _finding_context(request, finding: Finding, **extra) -> dict:
    user = request.user
    can_act = user.has_perm(ACT)
    pending = findings.pending_suppression(finding)
    return {
        "finding": finding,
        "advisory": finding.advisory,
        "aliases": sorted(a.alias for a in finding.advisory.aliases.all()),
        "records": list(finding.advisory.records.order_by("osv_id")),
        "can_acknowledge": can_act and finding.state in (FindingState.OPEN, FindingState.REGRESSED),
        "can_suppress": can_act and finding.state in findings.SUPPRESSIBLE and pending is None,
        "pending": pending,
        "can_patch": user.has_perm(patches.PUBLISH_PERMISSION) and finding.state in ACTIVE_STATES,
        "ack_form": extra.pop("ack_form", None) or AcknowledgeForm(),
        "suppress_form": extra.pop("suppress_form", None) or SuppressForm(),
        **extra,
    }


@view_console
def finding_detail(request: HttpRequest, pk: int) -> HttpResponse:
    finding = _finding(pk)
    return render(request, "security/finding.html", _finding_context(request, finding))


@require_POST
@act
def finding_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    finding = _finding(pk)
    form = AcknowledgeForm(request.POST)
    if form.is_valid():
        try:
            findings.acknowledge(finding, request.user, note=form.cleaned_data["note"])
        except findings.FindingError as exc:
            if exc.status != 400:
                messages.error(request, exc.detail)
                return redirect("security:finding", pk=pk)
            form.add_error(exc.field, exc.detail)
        else:
            messages.success(request, "Acknowledged.")
            return redirect("security:finding", pk=pk)
    ctx = _finding_context(request, finding, ack_form=form)
    return render(request, "security/finding.html", ctx, status=400)


@require_POST
@act
def finding_suppress(request: HttpRequest, pk: int) -> HttpResponse:
    finding = _finding(pk)
    form = SuppressForm(request.POST)
    if form.is_valid():
        try:
            cr = findings.request_suppression(
                finding,
                request.user,
                reason=form.cleaned_data["reason"],
                until=form.cleaned_data["until"],
            )
        except findings.FindingError as exc:
            if exc.status != 400:
                messages.error(request, exc.detail)
                return redirect("security:finding", pk=pk)
            form.add_error(exc.field, exc.detail)
        else:
            messages.success(
                request, "Suppression requested: another person must approve it before it applies."
            )
            return redirect("audit:approval", cr.pk)
    ctx = _finding_context(request, finding, suppress_form=form)
    return render(request, "security/finding.html", ctx, status=400)


@view_console
def scan_list(request: HttpRequest) -> HttpResponse:
    scans = list(Scan.objects.select_related("app", "release", "channel")[:200])
    return render(
        request,
        "security/scans.html",
        {
            "scans": scans,
            "can_upload": request.user.has_perm(ACT),
            "config_runs": _security_scan_runs(),
        },
    )


@view_console
def scan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scan = get_object_or_404(
        Scan.objects.select_related("app", "release", "channel", "requested_by"), pk=pk
    )
    packages = list(scan.packages.all())
    return render(
        request,
        "security/scan.html",
        {
            "scan": scan,
            "skipped": [p for p in packages if p.status == "skipped"],
            "checked": [p for p in packages if p.status == "checked"],
            "run_url": reverse("maintenance:run", args=[scan.run_id]) if scan.run_id else "",
        },
    )


@require_http_methods(["GET", "POST"])
@act
def report_upload(request: HttpRequest) -> HttpResponse:
    form = ReportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        result = scanning.import_report(
            data["app"],
            data["kind"],
            data["report"].read(),
            release=data["release_obj"],
            user=request.user,
        )
        counts = findings.reconcile([result], closes=True)
        messages.info(
            request,
            f"Scan #{result.scan.pk} is {result.scan.status}: {counts['opened']} new, "
            f"{counts['regressed']} regressed, {counts['fixed']} fixed findings.",
        )
        return redirect("security:scan", pk=result.scan.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "security/report_upload.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
@admin_only
def advisories(request: HttpRequest) -> HttpResponse:
    form = OsvImportForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["export"]
            try:
                imp = osv.import_export(
                    upload.file, filename=upload.name, size=upload.size, user=request.user
                )
            except osv.ImportRejected as exc:
                form.add_error("export", f"Rejected, nothing was stored: {exc}")
            else:
                c = imp.counts
                messages.success(
                    request,
                    f"Imported {imp.filename}: {c['records_created']} new, "
                    f"{c['records_updated']} updated, {c['unchanged']} unchanged, "
                    f"{c['withdrawn']} withdrawn skipped.",
                )
                return redirect("security:advisories")
        status = 400
    from security.models import Advisory, AdvisoryRecord

    per_ecosystem = list(
        AdvisoryRecord.objects.values("ecosystem")
        .annotate(records=Count("pk"), newest=Max("modified"))
        .order_by("ecosystem")
    )
    return render(
        request,
        "security/advisories.html",
        {
            "form": form,
            "imports": list(OsvImport.objects.select_related("imported_by")[:20]),
            "per_ecosystem": per_ecosystem,
            "advisory_count": Advisory.objects.count(),
        },
        status=status,
    )


def dashboard_card(request) -> Card:
    """Two queries: the scans aggregate, then either the findings aggregate or (no scan yet)
    whether any vulnerability data exists, for the empty state."""
    url = reverse("security:findings")
    now = timezone.now()
    scans = Scan.objects.aggregate(
        n=Count("pk"), last=Max("finished_at", filter=Q(status=Scan.Status.COMPLETE))
    )
    if not scans["n"]:
        return Card(
            "Security",
            url,
            empty=(
                "No dependency audit yet: create a “Dependency audit” maintenance job for an app."
                if OsvImport.objects.exists()
                else "No vulnerability data yet: an Admin imports an OSV all.zip under Security "
                "→ Advisories, then a “Dependency audit” job audits the releases."
            ),
        )
    open_states = [s for s in ACTIVE_STATES if s != FindingState.SUPPRESSED]
    counts = Finding.objects.aggregate(
        overdue=Count("pk", filter=Q(state__in=SLA_STATES, due_at__lte=now)),
        **{s: Count("pk", filter=Q(state__in=open_states, severity=s)) for s in SEVERITIES},
    )
    last = scans["last"]
    overdue = counts["overdue"]
    serious = counts["critical"] + counts["high"]
    if overdue:
        status, label = "bad", f"{overdue} overdue"
    elif serious:
        status, label = "warn", f"{serious} critical/high open"
    elif last is None:
        status, label = "unknown", "no complete scan yet"
    else:
        status, label = "ok", "nothing open"
    return Card(
        "Security",
        url,
        status=status,
        status_label=label,
        stats=[
            *[(f"Open {s}", counts[s]) for s in SEVERITIES],
            ("Overdue", overdue),
            ("Last complete scan", f"{timesince(last, now)} ago" if last else "never"),
        ],
    )


# ---------------------------------------------------------------- security patches

PUBLISH = patches.PUBLISH_PERMISSION
publisher = permission_required(PUBLISH, raise_exception=True)


@csrf_exempt
@require_http_methods(["GET", "POST"])
@publisher
def patch_new(request: HttpRequest, slug: str) -> HttpResponse:
    """Prepare a security patch. The bundle streams to disk through the releases upload handler,
    which must be installed before the body is read: CSRF is checked inside."""
    if request.method == "POST":
        uploads.use_bundle_handler(request)
    return _patch_new(request, slug)


@csrf_protect
def _patch_new(request: HttpRequest, slug: str) -> HttpResponse:
    from releases.models import App

    app = get_object_or_404(App, slug=slug)
    active = SecurityPatch.objects.filter(app=app, state__in=ACTIVE_PATCH_STATES).first()
    if request.method == "GET":
        wanted = request.GET.get("finding", "")
        form = PatchForm(app=app)
        chosen = (
            list(form.fields["findings"].queryset.filter(pk=wanted)) if wanted.isdigit() else []
        )
        form.initial = {
            "version": patches.suggested_version(app),
            "findings": chosen,
            "sources": list(form.fields["sources"].queryset.filter(app=app)),
            "health_timeout": 5.0,
            "start_rollout": True,
            "changes": patches.default_changes(chosen),
        }
        return render(request, "security/patch_new.html", _patch_new_context(app, form, active))
    form = PatchForm(request.POST, request.FILES, app=app)
    status = 400
    upload_error = getattr(request, "bundle_upload_error", None)
    if upload_error is not None:
        form.is_valid()
        form.add_error("bundle", upload_error.detail)
    elif form.is_valid():
        data = form.cleaned_data
        try:
            patch = patches.prepare(
                app,
                user=request.user,
                channel=data["channel"],
                findings=list(data["findings"]),
                version=data["version"],
                bundle=data["bundle"],
                bundle_name=data["bundle"].name,
                sources=list(data["sources"]),
                health_urls=data["health_urls"],
                health_timeout=data["health_timeout"],
                changes=data["changes"],
                notes=data["notes"],
                start_rollout=data["start_rollout"],
            )
        except patches.PatchError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.detail)
            status = exc.status
        else:
            messages.success(request, f"Security patch {patch.version} queued: backups run first.")
            return redirect("security:patch", pk=patch.pk)
    return render(
        request, "security/patch_new.html", _patch_new_context(app, form, active), status=status
    )


def _patch_new_context(app, form, active) -> dict:
    from releases.publishing import latest_release

    latest = latest_release(app)
    return {"app": app, "form": form, "active": active, "latest": latest}


@view_console
def patch_list(request: HttpRequest) -> HttpResponse:
    rows = list(
        SecurityPatch.objects.select_related("app", "channel", "release", "requested_by")[:200]
    )
    return render(request, "security/patches.html", {"patches": rows})


def _patch_context(request, patch: SecurityPatch) -> dict:
    percent, label = patches.progress(patch)
    linked = list(patch.findings.select_related("advisory").order_by("pk"))
    return {
        "patch": patch,
        "percent": percent,
        "progress_label": label,
        "steps": patches.steps(patch),
        "backups": list(patch.backups.select_related("source").order_by("pk")),
        "sources": list(patch.sources.order_by("name")),
        "linked": linked,
        "can_cancel": request.user.has_perm(PUBLISH) and patch.state == PatchState.DRAFT,
        "poll_url": reverse("security:patch", args=[patch.pk]) if patch.is_active else "",
    }


@view_console
def patch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    patch = get_object_or_404(
        SecurityPatch.objects.select_related(
            "app", "channel", "release", "requested_by", "verify_scan", "rollout"
        ),
        pk=pk,
    )
    template = "security/patch.html#live" if request.htmx else "security/patch.html"
    return render(request, template, _patch_context(request, patch))


@require_POST
@publisher
def patch_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    patch = get_object_or_404(SecurityPatch, pk=pk)
    try:
        patches.cancel(patch, request.user, reason=request.POST.get("reason", ""))
    except patches.PatchError as exc:
        messages.error(request, exc.detail)
        return redirect("security:patch", pk=pk)
    messages.success(request, "Cancelled: nothing was backed up or published.")
    return redirect("security:patch", pk=pk)
