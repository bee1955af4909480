"""Rollout pages: the list across apps, the live rollout page, approvals and human controls."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from monitoring.analysis import installs_seen
from releases import bluegreen, rollouts
from releases.forms import RolloutStartForm
from releases.models import (
    ACTIVE_ROLLOUT_STATES,
    Channel,
    Release,
    Rollout,
    RolloutMeasurement,
    RolloutState,
)

VIEW = "accounts.view_console"
MANAGE = "accounts.manage_rollouts"
APPROVE = "accounts.approve_rollouts"
BREAK_GLASS = "accounts.break_glass"
CHART_METRICS = ("crash_rate", "error_rate", "lcp_p75", "api_error_rate")
FILTERS = {
    "active": [s.value for s in ACTIVE_ROLLOUT_STATES],
    **{s.value: [s.value] for s in RolloutState},
}


def _rollout(pk: int) -> Rollout:
    return get_object_or_404(
        Rollout.objects.select_related("app", "channel", "release", "started_by"), pk=pk
    )


@permission_required(VIEW, raise_exception=True)
def rollout_list(request: HttpRequest):
    state = request.GET.get("state", "")
    rows = Rollout.objects.select_related("app", "channel", "release", "started_by")
    if state in FILTERS:
        rows = rows.filter(state__in=FILTERS[state])
    else:
        state = ""
    counts = dict(Rollout.objects.values_list("state").annotate(n=Count("pk")).order_by())
    return render(
        request,
        "releases/rollouts.html",
        {
            "rollouts": rows[:200],
            "state": state,
            "filters": [("", "All", sum(counts.values()))]
            + [
                ("active", "Active", sum(counts.get(s, 0) for s in FILTERS["active"])),
            ]
            + [(s.value, s.label, counts.get(s.value, 0)) for s in RolloutState],
        },
    )


def _chart(points: list[tuple[float, float | None, float | None]], threshold=None) -> dict:
    """Two polylines (canary, stable) over time; ``points`` are (t, canary, stable)."""
    width, height, pad = 320, 100, 4
    values = [v for _, a, b in points for v in (a, b) if v is not None]
    if not values:
        return {"empty": True}
    t0, t1 = points[0][0], points[-1][0]
    top = max(values) * 1.1 or 1.0
    span = (t1 - t0) or 1.0

    def xy(t, v):
        x = pad + (width - 2 * pad) * (t - t0) / span
        y = height - pad - (height - 2 * pad) * v / top
        return f"{x:.1f},{y:.1f}"

    def line(index):
        return " ".join(xy(p[0], p[index]) for p in points if p[index] is not None)

    return {
        "empty": False,
        "width": width,
        "height": height,
        "canary": line(1),
        "stable": line(2),
        "top": top,
        "samples": len(points),
    }


def _charts(rollout: Rollout) -> list[dict]:
    rows = RolloutMeasurement.objects.filter(
        rollout=rollout, kind="guardrail", metric__in=CHART_METRICS
    ).order_by("pk")
    by_metric: dict[str, list] = {}
    for row in rows.only("metric", "at", "value", "baseline"):
        by_metric.setdefault(row.metric, []).append((row.at.timestamp(), row.value, row.baseline))
    return [
        {"metric": metric, "chart": _chart(points[-120:])} for metric, points in by_metric.items()
    ]


def _context(request: HttpRequest, rollout: Rollout, **extra) -> dict:
    now = timezone.now()
    user = request.user
    phases = []
    for i, phase in enumerate(rollout.phases):
        phases.append(
            {
                "index": i,
                "number": i + 1,
                "percent": phase["percent"],
                "hold": phase.get("hold_seconds", 0),
                "requires_approval": phase.get("requires_approval", False),
                "current": i == rollout.phase and rollout.is_active,
                "done": i < rollout.phase or rollout.state == RolloutState.COMPLETED,
            }
        )
    seen_new = installs_seen(rollout.channel_id, rollout.release.version)
    seen_stable = (
        installs_seen(rollout.channel_id, rollout.stable_version) if rollout.stable_version else 0
    )
    realised = 100.0 * seen_new / (seen_new + seen_stable) if seen_new + seen_stable else None
    awaited = rollouts.awaited_approvers(rollout)
    waiting = rollout.state == RolloutState.AWAITING_APPROVAL
    held = rollout.held_seconds(now)
    staged = rollout.is_blue_green and rollout.is_active and rollout.phase == 0
    blue_green = None
    if rollout.is_blue_green:
        blue_green = {
            "slots": bluegreen.slots(rollout, now),
            "checks": bluegreen.recent_checks(rollout),
            "window": bluegreen.window_seconds(rollout),
            "requires_approval": bluegreen.requires_approval(rollout),
            "staged": staged,
            "can_switch": staged
            and rollout.state == RolloutState.RUNNING
            and rollout.step != Rollout.Step.CHECKING
            and user.has_perm(MANAGE),
        }
    return {
        "rollout": rollout,
        "phases": phases,
        "percent": rollout.percent,
        "seen_new": seen_new,
        "seen_stable": seen_stable,
        "realised": realised,
        "metrics": rollouts.metric_rows(rollout),
        "hold_left": (
            max(0, round(rollout.hold_target() - held))
            if rollout.state in (RolloutState.RUNNING, RolloutState.PAUSED) and not staged
            else None
        ),
        "blue_green": blue_green,
        "can_pause": rollout.state == RolloutState.RUNNING and not staged,
        "held": round(held),
        "awaited": awaited,
        "binding": rollouts.approval_binding(rollout),
        "next_phase": (
            rollout.phases[rollout.phase + 1] if rollout.phase + 1 < len(rollout.phases) else None
        ),
        "can_decide": waiting
        and user.has_perm(APPROVE)
        and user.pk != rollout.started_by_id
        and user.get_username() not in awaited["have"],
        "can_manage": user.has_perm(MANAGE),
        "can_break_glass": user.has_perm(BREAK_GLASS) and rollout.is_active,
        "events": list(rollout.events.select_related("actor").order_by("-pk")[:20]),
        "charts": _charts(rollout),
        "now": now,
        **extra,
    }


@permission_required(VIEW, raise_exception=True)
def rollout_detail(request: HttpRequest, pk: int):
    rollout = _rollout(pk)
    template = "releases/rollout.html#live" if request.htmx else "releases/rollout.html"
    return render(request, template, _context(request, rollout))


def _back(request: HttpRequest, rollout: Rollout):
    return redirect("releases:rollout", rollout.pk)


def _act(request: HttpRequest, pk: int, action, success: str):
    rollout = _rollout(pk)
    reason = request.POST.get("reason", "").strip()
    try:
        won = action(rollout, reason)
    except rollouts.RolloutError as exc:
        messages.error(request, exc.detail)
        return _back(request, rollout)
    if won is False:
        messages.error(request, "Someone else changed the rollout first; look again.")
    else:
        messages.success(request, success)
    return _back(request, rollout)


@require_POST
@permission_required(MANAGE, raise_exception=True)
def rollout_pause(request, pk):
    return _act(
        request,
        pk,
        lambda r, reason: rollouts.pause(r, reason=reason or "paused by a person"),
        "Paused: the hold clock is stopped.",
    )


@require_POST
@permission_required(MANAGE, raise_exception=True)
def rollout_resume(request, pk):
    return _act(request, pk, lambda r, reason: rollouts.resume(r, reason=reason), "Resumed.")


@require_POST
@permission_required(MANAGE, raise_exception=True)
def rollout_abort(request, pk):
    return _act(
        request,
        pk,
        lambda r, reason: rollouts.abort(r, reason=reason),
        "Aborted: nobody new gets this release, and its clients go back to the stable one.",
    )


@require_POST
@permission_required(MANAGE, raise_exception=True)
def rollout_restart(request, pk):
    return _act(
        request,
        pk,
        lambda r, reason: rollouts.restart(r, reason=reason, user=request.user),
        "Restarted at phase 1 with the same cohorts.",
    )


@require_POST
@permission_required(MANAGE, raise_exception=True)
def rollout_rollback(request, pk):
    rollout = _rollout(pk)
    try:
        release = rollouts.rollback(
            rollout, reason=request.POST.get("reason", ""), user=request.user
        )
    except rollouts.RolloutError as exc:
        messages.error(request, exc.detail)
        return _back(request, rollout)
    messages.success(
        request, f"Rolled back: {release.version} serves the earlier bundle to everyone."
    )
    return _back(request, rollout)


@require_POST
@permission_required(BREAK_GLASS, raise_exception=True)
def rollout_promote(request, pk):
    return _act(
        request,
        pk,
        lambda r, reason: rollouts.promote_now(r, reason=reason),
        "Break-glass: promoted to 100 %.",
    )


@require_POST
@permission_required(BREAK_GLASS, raise_exception=True)
def rollout_skip(request, pk):
    return _act(
        request,
        pk,
        lambda r, reason: rollouts.skip_analysis(r, reason=reason),
        "Break-glass: this phase advances at the end of its hold without analysis.",
    )


@require_POST
@permission_required(MANAGE, raise_exception=True)
def rollout_switch(request, pk):
    """Blue-green: run the pre-switch checks and, when they pass, switch all traffic (or ask
    the approvers first when the switch needs approval)."""
    rollout = _rollout(pk)
    try:
        outcome = bluegreen.request_switch(rollout, user=request.user)
    except rollouts.RolloutError as exc:
        messages.error(request, exc.detail)
        return _back(request, rollout)
    if outcome == "switched":
        messages.success(request, "Health checks passed: all traffic is on the new release.")
    elif outcome == "awaiting_approval":
        messages.success(request, "The switch waits for approval; the checks run once approved.")
    else:
        messages.error(request, "Health checks failed: traffic is untouched. See the results.")
    return _back(request, rollout)


@require_POST
@permission_required(MANAGE, raise_exception=True)
def rollout_flip_back(request, pk):
    """Blue-green: all traffic back to the previous release (the blue slot) at once."""
    return _act(
        request,
        pk,
        lambda r, reason: bluegreen.flip_back(r, reason=reason, user=request.user),
        "Flipped back: every client is sent to the previous release.",
    )


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@require_POST
@permission_required(APPROVE, raise_exception=True)
def rollout_decide(request, pk):
    rollout = _rollout(pk)
    try:
        rollouts.decide(
            rollout.pk,
            request.user,
            decision=request.POST.get("decision", ""),
            phase=_int(request.POST.get("phase")),
            sha256=request.POST.get("sha256", ""),
            row_version=_int(request.POST.get("row_version")),
            reason=request.POST.get("reason", ""),
        )
    except rollouts.RolloutError as exc:
        if exc.status == 409 or exc.status == 403 or exc.status == 400:
            fresh = _rollout(pk)
            return render(
                request,
                "releases/rollout.html",
                _context(request, fresh, decide_error=exc.detail),
                status=exc.status,
            )
        raise
    decision = request.POST.get("decision")
    done = "Rejected: the rollout is aborted." if decision == "reject" else "Approval recorded."
    after = _rollout(pk)
    if decision == "approve" and after.is_blue_green and after.step == Rollout.Step.CHECK_FAILED:
        messages.error(request, "Approved, but the health checks failed: traffic is untouched.")
        return _back(request, rollout)
    if decision == "approve" and after.is_blue_green and after.phase == 1:
        done = "Approved: health checks passed and all traffic is on the new release."
    messages.success(request, done)
    return _back(request, rollout)


CANARY_PLANS = {
    "default": None,
    "approval": [
        {"percent": 5, "hold_seconds": 600},
        {"percent": 25, "hold_seconds": 1800, "requires_approval": True},
        {"percent": 50, "hold_seconds": 3600, "requires_approval": True},
        {"percent": 100, "requires_approval": True},
    ],
}


@require_http_methods(["GET", "POST"])
@permission_required(MANAGE, raise_exception=True)
def rollout_start(request, slug, version):
    """GET: the start form (canary or blue-green). POST: start it; bad input re-renders the form
    with its errors (400) and starts nothing; a refusal (an active rollout, no blue slot) too."""
    release = get_object_or_404(
        Release.objects.select_related("app"), app__slug=slug, version=version
    )
    channels = list(Channel.objects.filter(app=release.app).values_list("name", flat=True))
    form = RolloutStartForm(
        request.POST if request.method == "POST" else None,
        channels=channels,
        initial={"channel": request.GET.get("channel", "")},
    )
    context = {"release": release, "app": release.app, "form": form}
    if request.method == "GET":
        return render(request, "releases/rollout_start.html", context)
    if not form.is_valid():
        return render(request, "releases/rollout_start.html", context, status=400)
    data = form.cleaned_data
    channel = Channel.objects.get(app=release.app, name=data["channel"])
    options: dict = {}
    if data["strategy"] == "blue_green":
        options = {"strategy": "blue_green", "blue_green": form.blue_green_options()}
    else:
        options = {"phases": CANARY_PLANS[data["plan"]]}
    try:
        rollout = rollouts.start(channel, release, user=request.user, **options)
    except rollouts.RolloutError as exc:
        field = exc.field if exc.field in form.fields else None
        form.add_error(field, exc.detail)
        status = exc.status if exc.status in (400, 409) else 400
        return render(request, "releases/rollout_start.html", context, status=status)
    if rollout.is_blue_green:
        messages.success(
            request, f"Blue-green staged on {channel.name}: testers only until the switch."
        )
    else:
        messages.success(request, f"Rollout started: {rollout.percent:g} % of {channel.name}.")
    return redirect("releases:rollout", rollout.pk)


def dashboard_card(request):
    """Rollouts: active, awaiting approval, paused, aborted in the last 7 days."""
    from datetime import timedelta

    from django.urls import reverse

    from console.dashboard import Card

    url = reverse("releases:rollouts")
    counts = dict(
        Rollout.objects.filter(state__in=[s.value for s in ACTIVE_ROLLOUT_STATES])
        .values_list("state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    aborted = Rollout.objects.filter(
        state=RolloutState.ABORTED, ended_at__gte=timezone.now() - timedelta(days=7)
    ).count()
    if not counts and not aborted and not Rollout.objects.exists():
        return Card("Rollouts", url, empty="No rollout yet: start one from a release's page.")
    waiting = counts.get(RolloutState.AWAITING_APPROVAL, 0)
    paused = counts.get(RolloutState.PAUSED, 0)
    status, label = "", ""
    if waiting or paused:
        status = "warn"
        label = f"{waiting} awaiting approval, {paused} paused"
    return Card(
        "Rollouts",
        url,
        stats=[
            ("Running", counts.get(RolloutState.RUNNING, 0)),
            ("Awaiting approval", waiting),
            ("Paused", paused),
            ("Aborted in 7 days", aborted),
        ],
        status=status,
        status_label=label,
    )
