"""Fleet pages: fleets, one fleet with its hosts, rolling deployments with live progress."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count, OuterRef, Q, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from console.dashboard import Card
from fleet import agent_client, deployments, liveness
from fleet.forms import AbortForm, FleetForm, HostForm, StartForm
from fleet.models import (
    ACTIVE_STATES,
    DeploymentState,
    Fleet,
    Host,
    RollingDeployment,
    StepState,
)

VIEW = "accounts.view_console"
MANAGE = "accounts.manage_rollouts"
STATE_TONES = {
    DeploymentState.PENDING: "neutral",
    DeploymentState.RUNNING: "info",
    DeploymentState.SUCCEEDED: "ok",
    DeploymentState.FAILED: "bad",
    DeploymentState.ROLLING_BACK: "warn",
    DeploymentState.ROLLED_BACK: "bad",
    DeploymentState.ABORTED: "warn",
    DeploymentState.ROLLBACK_FAILED: "bad",
}
STEP_TONES = {
    StepState.PENDING: "neutral",
    StepState.DEPLOYING: "info",
    StepState.HEALTHY: "ok",
    StepState.FAILED: "bad",
    StepState.ROLLED_BACK: "warn",
    StepState.SKIPPED: "unknown",
}


class Request(HttpRequest):
    htmx: HtmxDetails


def _fleet(name: str) -> Fleet:
    return get_object_or_404(Fleet.objects.select_related("app", "channel"), name=name)


def _deployment(pk: int) -> RollingDeployment:
    return get_object_or_404(
        RollingDeployment.objects.select_related(
            "fleet", "fleet__app", "release", "started_by", "abort_requested_by"
        ),
        pk=pk,
    )


def _tone(deployment: RollingDeployment) -> str:
    if deployment.state == DeploymentState.SUCCEEDED and deployment.failures:
        return "warn"  # succeeded within the budget, but hosts failed: not a clean green
    return STATE_TONES.get(deployment.state, "neutral")


# ------------------------------------------------------------------ fleets


@permission_required(VIEW, raise_exception=True)
def fleet_list(request: Request) -> HttpResponse:
    newest = RollingDeployment.objects.filter(fleet=OuterRef("pk")).order_by("-pk")
    fleets = list(
        Fleet.objects.select_related("app", "channel")
        .annotate(host_count=Count("hosts"), latest_pk=Subquery(newest.values("pk")[:1]))
        .order_by("name")
    )
    latest = RollingDeployment.objects.select_related("release").in_bulk(
        [f.latest_pk for f in fleets if f.latest_pk]
    )
    for fleet in fleets:
        fleet.latest = latest.get(fleet.latest_pk)
        fleet.latest_tone = _tone(fleet.latest) if fleet.latest else ""
    return render(
        request,
        "fleet/fleets.html",
        {"fleets": fleets, "can_manage": request.user.has_perm(MANAGE)},
    )


@permission_required(MANAGE, raise_exception=True)
@require_http_methods(["GET", "POST"])
def fleet_create(request: Request) -> HttpResponse:
    return _fleet_form(request, Fleet())


@permission_required(MANAGE, raise_exception=True)
@require_http_methods(["GET", "POST"])
def fleet_edit(request: Request, name: str) -> HttpResponse:
    return _fleet_form(request, _fleet(name))


RESERVED_NAMES = {"new", "deployments"}


def _fleet_form(request: Request, fleet: Fleet) -> HttpResponse:
    creating = fleet.pk is None
    form = FleetForm(request.POST or None, instance=fleet)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["name"] in RESERVED_NAMES:
            form.add_error("name", "this name is reserved; choose another")
        else:
            fleet = deployments.save_fleet(form.save(commit=False))
            messages.success(request, f"Saved fleet “{fleet.name}”.")
            return redirect("fleet:fleet", name=fleet.name)
    status = 400 if form.is_bound else 200
    return render(
        request,
        "fleet/fleet_form.html",
        {"form": form, "creating": creating, "fleet": fleet},
        status=status,
    )


def _detail_context(request: Request, fleet: Fleet, **extra) -> dict:
    can_manage = request.user.has_perm(MANAGE)
    hosts = list(fleet.hosts.order_by("name"))
    expected = liveness.annotate_hosts(fleet, hosts)
    history = list(fleet.deployments.select_related("release", "started_by").order_by("-pk")[:20])
    for d in history:
        d.tone = _tone(d)
    active = next((d for d in history if d.state in ACTIVE_STATES), None)
    releases = deployments.deployable_releases(fleet)
    return {
        "fleet": fleet,
        "hosts": hosts,
        "expected_sha256": expected,
        "probe_seconds": liveness.probe_seconds(),
        "history": history,
        "active": active,
        "can_manage": can_manage,
        "host_form": extra.pop("host_form", None) or HostForm(fleet=fleet),
        "start_form": extra.pop("start_form", None) or StartForm(releases=releases),
        "has_releases": releases.exists(),
        **extra,
    }


@require_POST
@permission_required(MANAGE, raise_exception=True)
def fleet_delete(request: Request, name: str) -> HttpResponse:
    fleet = _fleet(name)
    try:
        deployments.delete_fleet(fleet, confirm=request.POST.get("confirm", ""))
    except deployments.DeploymentError as exc:
        messages.error(request, f"Not deleted: {exc.detail}.")
        return redirect("fleet:fleet", name=fleet.name)
    messages.success(request, f"Deleted fleet “{name}” with its hosts and deployment history.")
    return redirect("fleet:fleets")


@permission_required(VIEW, raise_exception=True)
def fleet_detail(request: Request, name: str) -> HttpResponse:
    fleet = _fleet(name)
    return render(request, "fleet/fleet_detail.html", _detail_context(request, fleet))


@require_POST
@permission_required(MANAGE, raise_exception=True)
def host_add(request: Request, name: str) -> HttpResponse:
    fleet = _fleet(name)
    form = HostForm(request.POST, fleet=fleet)
    if not form.is_valid():
        context = _detail_context(request, fleet, host_form=form)
        return render(request, "fleet/fleet_detail.html", context, status=400)
    host = deployments.add_host(
        fleet, name=form.cleaned_data["name"], agent_url=form.cleaned_data["agent_url"]
    )
    messages.success(
        request,
        f"Added {host.name}. Start its agent with --token-sha256 {host.secret_sha256}.",
    )
    return redirect("fleet:fleet", name=fleet.name)


def _host(fleet: Fleet, pk: int) -> Host:
    return get_object_or_404(Host.objects.select_related("fleet"), fleet=fleet, pk=pk)


@require_POST
@permission_required(MANAGE, raise_exception=True)
def host_remove(request: Request, name: str, pk: int) -> HttpResponse:
    fleet = _fleet(name)
    host = _host(fleet, pk)
    try:
        deployments.remove_host(host)
    except deployments.DeploymentError as exc:
        messages.error(request, exc.detail)
        return redirect("fleet:fleet", name=fleet.name)
    messages.success(request, f"Removed {host.name} from {fleet.name}.")
    return redirect("fleet:fleet", name=fleet.name)


@require_POST
@permission_required(MANAGE, raise_exception=True)
def host_check(request: Request, name: str, pk: int) -> HttpResponse:
    """Ask the host's agent for its health now (real HTTP, bounded by the fleet's timeout)."""
    fleet = _fleet(name)
    host = _host(fleet, pk)
    target = agent_client.Target(host.name, host.agent_url, host.secret)
    result = liveness.probe(target, fleet.health_path, timeout=min(fleet.host_timeout, 10))
    liveness.record_probe(host.pk, result)
    if result.ok:
        messages.success(request, f"{host.name} is up and runs {result.version or 'nothing'}.")
    else:
        messages.error(request, f"{host.name}: {result.error}")
    return redirect("fleet:fleet", name=fleet.name)


# ------------------------------------------------------------------ deployments


@require_POST
@permission_required(MANAGE, raise_exception=True)
def deploy(request: Request, name: str) -> HttpResponse:
    fleet = _fleet(name)
    form = StartForm(request.POST, releases=deployments.deployable_releases(fleet))
    if not form.is_valid():
        context = _detail_context(request, fleet, start_form=form)
        return render(request, "fleet/fleet_detail.html", context, status=400)
    try:
        deployment = deployments.start(fleet, form.cleaned_data["release"], user=request.user)
    except deployments.DeploymentError as exc:
        form.add_error(None, exc.detail)
        context = _detail_context(request, fleet, start_form=form)
        return render(request, "fleet/fleet_detail.html", context, status=exc.status)
    messages.success(
        request, f"Rolling {deployment.release.version} out to {deployment.hosts_total} host(s)."
    )
    return redirect("fleet:deployment", pk=deployment.pk)


@permission_required(VIEW, raise_exception=True)
def deployment_detail(request: Request, pk: int) -> HttpResponse:
    deployment = _deployment(pk)
    steps = list(deployment.steps.select_related("host").order_by("position"))
    for step in steps:
        step.tone = STEP_TONES.get(step.state, "neutral")
    batches: dict[int, list] = {}
    for step in steps:
        batches.setdefault(step.batch, []).append(step)
    context = {
        "deployment": deployment,
        "tone": _tone(deployment),
        "batches": [(number + 1, rows) for number, rows in sorted(batches.items())],
        "live": deployment.is_active,
        "can_abort": request.user.has_perm(MANAGE)
        and deployment.is_active
        and deployment.abort_requested_at is None,
        "progress_label": f"{deployment.hosts_done} of {deployment.hosts_total} hosts done",
        "abort_form": AbortForm(),
    }
    template = "fleet/deployment.html#live" if request.htmx else "fleet/deployment.html"
    return render(request, template, context)


@require_POST
@permission_required(MANAGE, raise_exception=True)
def deployment_abort(request: Request, pk: int) -> HttpResponse:
    deployment = _deployment(pk)
    form = AbortForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        state = deployments.request_abort(deployment, user=request.user, reason=reason)
    except deployments.DeploymentError as exc:
        messages.error(request, exc.detail)
        return redirect("fleet:deployment", pk=deployment.pk)
    if state == DeploymentState.ABORTED:
        messages.success(request, "Aborted before any host was touched.")
    else:
        messages.success(
            request,
            "Abort requested: the driver stops after the hosts in flight and rolls back every "
            "host that got the new release.",
        )
    return redirect("fleet:deployment", pk=deployment.pk)


# ------------------------------------------------------------------ dashboard


def dashboard_card(request) -> Card:
    fleets = Fleet.objects.count()
    url = reverse("fleet:fleets")
    if not fleets:
        return Card(
            "Fleet",
            url,
            empty="No fleets yet: create one, add hosts running the deploy agent, then roll a "
            "release out to them.",
        )
    now = timezone.now()
    hosts = Host.objects.aggregate(
        total=Count("pk"),
        # Down at their last probe, and that probe is recent enough to trust (see liveness).
        down=Count(
            "pk",
            filter=Q(
                last_probe_ok=False,
                last_probe_at__gte=now - timedelta(seconds=3 * liveness.probe_seconds()),
            ),
        ),
    )
    since = now - timedelta(days=7)
    counts = RollingDeployment.objects.aggregate(
        active=Count("pk", filter=Q(state__in=ACTIVE_STATES)),
        bad=Count(
            "pk",
            filter=Q(
                finished_at__gte=since,
                state__in=[DeploymentState.ROLLED_BACK, DeploymentState.ROLLBACK_FAILED],
            ),
        ),
    )
    if counts["bad"]:
        status, label = "bad", f"{counts['bad']} rolled back this week"
    elif hosts["down"]:
        status, label = "warn", f"{hosts['down']} host{'s' if hosts['down'] != 1 else ''} down"
    else:
        status, label = "", ""
    return Card(
        "Fleet",
        url,
        status=status,
        status_label=label,
        stats=[
            ("Fleets", fleets),
            ("Hosts", hosts["total"]),
            ("Hosts down", hosts["down"]),
            ("Deploying now", counts["active"]),
            ("Rolled back, last 7 days", counts["bad"]),
        ],
    )
