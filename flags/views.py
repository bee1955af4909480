"""Flag pages: the list per app/channel, a flag's page (ramp, metrics, kill switch, approvals,
history), create and edit forms, and the human controls."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from flags import ramp
from flags.forms import FlagCreateForm, FlagEditForm
from flags.models import Flag, FlagState
from releases.models import App

VIEW = "accounts.view_console"
MANAGE = "accounts.manage_rollouts"
APPROVE = "accounts.approve_rollouts"
STATE_TONES = {
    FlagState.DRAFT: "neutral",
    FlagState.RUNNING: "ok",
    FlagState.AWAITING_APPROVAL: "warn",
    FlagState.PAUSED: "warn",
    FlagState.COMPLETED: "ok",
}


def _flag(pk: int) -> Flag:
    return get_object_or_404(
        Flag.objects.select_related("app", "channel", "ramp_started_by", "created_by"), pk=pk
    )


@permission_required(VIEW, raise_exception=True)
def flag_list(request: HttpRequest):
    flags = Flag.objects.select_related("app", "channel")
    app_slug, channel_name = request.GET.get("app", ""), request.GET.get("channel", "")
    if app_slug:
        flags = flags.filter(app__slug=app_slug)
    if channel_name:
        flags = flags.filter(channel__name=channel_name)
    groups: dict[tuple[str, str], list] = {}
    for flag in flags:
        flag.tone = "bad" if flag.killed else STATE_TONES.get(flag.state, "neutral")
        groups.setdefault((flag.app.slug, flag.channel.name), []).append(flag)
    return render(
        request,
        "flags/list.html",
        {
            "groups": [
                {"app": app, "channel": channel, "flags": items}
                for (app, channel), items in groups.items()
            ],
            "apps": App.objects.prefetch_related("channels"),
            "app_slug": app_slug,
            "channel_name": channel_name,
            "can_manage": request.user.has_perm(MANAGE),
            "filtered": bool(app_slug or channel_name),
        },
    )


def _context(request: HttpRequest, flag: Flag, **extra) -> dict:
    now = timezone.now()
    phases = [
        {
            "number": i + 1,
            "percent": p["percent"],
            "hold": p.get("hold_seconds", 0),
            "requires_approval": p.get("requires_approval", False),
            "current": flag.is_ramping and i == flag.phase,
            "done": flag.state == FlagState.COMPLETED
            or (flag.state != FlagState.DRAFT and i < flag.phase),
        }
        for i, p in enumerate(flag.phases)
    ]
    running = flag.state in (FlagState.RUNNING, FlagState.PAUSED)
    held = round(flag.held_seconds(now)) if running else None
    awaited = ramp.awaited_approvers(flag)
    next_phase = (
        flag.phases[flag.phase + 1] if flag.phase + 1 < len(flag.phases) else flag.current_phase
    )
    return {
        "flag": flag,
        "tone": "bad" if flag.killed else STATE_TONES.get(flag.state, "neutral"),
        "phases": phases,
        "held": held,
        "hold_left": max(0, flag.hold_target() - held) if held is not None else None,
        "metrics": ramp.metric_rows(flag) if flag.attempt else [],
        "events": flag.events.all()[:20],
        "testers": sorted(flag.testers.items()),
        "awaited": awaited,
        "next_phase": next_phase,
        "versions": ramp.carrying_versions(flag),
        "can_manage": request.user.has_perm(MANAGE),
        "can_decide": request.user.has_perm(APPROVE)
        and request.user.pk != flag.ramp_started_by_id
        and request.user.get_username() not in awaited["have"],
        "baseline_minutes": ramp.BASELINE_SECONDS // 60,
        **extra,
    }


@permission_required(VIEW, raise_exception=True)
def flag_detail(request: HttpRequest, pk: int):
    flag = _flag(pk)
    context = _context(request, flag)
    template = "flags/detail.html#live" if request.htmx else "flags/detail.html"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@permission_required(MANAGE, raise_exception=True)
def flag_new(request: HttpRequest):
    form = FlagCreateForm(request.POST or None, initial={"channel": request.GET.get("channel")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            flag = ramp.create(
                data["channel"],
                key=data["key"],
                description=data["description"],
                min_version=data["min_version"],
                variants=data["variants"],
                testers=data["testers"],
                phases=data["phases"],
                user=request.user,
            )
        except ramp.FlagError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.detail)
        else:
            messages.success(request, f"Flag “{flag.key}” created, dark: only its testers get it.")
            return redirect("flags:detail", flag.pk)
    return render(
        request, "flags/form.html", {"form": form, "creating": True}, status=_status(form)
    )


def _status(form) -> int:
    return 400 if form.is_bound and form.errors else 200


@require_http_methods(["GET", "POST"])
@permission_required(MANAGE, raise_exception=True)
def flag_edit(request: HttpRequest, pk: int):
    flag = _flag(pk)
    if request.method != "POST":
        form = FlagEditForm.for_flag(flag)
        return render(request, "flags/form.html", {"form": form, "flag": flag})
    form = FlagEditForm(request.POST)
    status = 200
    if form.is_valid():
        data = form.cleaned_data
        try:
            definition = {
                "description": data["description"],
                "min_version": data["min_version"],
                "variants": data["variants"],
                "testers": data["testers"],
            }
            if not flag.is_ramping:  # fixed while the ramp runs (the form says so)
                definition["phases"] = data["phases"]
            won = ramp.edit(flag, row_version=data["row_version"], **definition)
        except ramp.FlagError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.detail)
            status = exc.status
        else:
            if won:
                messages.success(request, "Saved: the next update answers use it.")
                return redirect("flags:detail", flag.pk)
            form.add_error(None, "Someone else changed the flag first; look again.")
            status = 409
    else:
        status = 400
    return render(request, "flags/form.html", {"form": form, "flag": flag}, status=status)


def _act(request: HttpRequest, pk: int, action, success: str):
    flag = _flag(pk)
    try:
        won = action(flag, request.POST.get("reason", "").strip())
    except ramp.FlagError as exc:
        messages.error(request, exc.detail)
        return redirect("flags:detail", flag.pk)
    if won is False:
        messages.error(request, "Someone else changed the flag first; look again.")
    else:
        messages.success(request, success)
    return redirect("flags:detail", flag.pk)


@require_POST
@permission_required(MANAGE, raise_exception=True)
def flag_start(request, pk):
    return _act(
        request,
        pk,
        lambda f, reason: ramp.start(f, user=request.user, reason=reason),
        "Ramp started.",
    )


@require_POST
@permission_required(MANAGE, raise_exception=True)
def flag_pause(request, pk):
    return _act(
        request,
        pk,
        lambda f, reason: ramp.pause(f, reason=reason or "paused by a person"),
        "Paused: the hold clock is stopped; the percentage stays.",
    )


@require_POST
@permission_required(MANAGE, raise_exception=True)
def flag_resume(request, pk):
    return _act(request, pk, lambda f, reason: ramp.resume(f, reason=reason), "Resumed.")


@require_POST
@permission_required(MANAGE, raise_exception=True)
def flag_kill(request, pk):
    if request.POST.get("confirm") != "yes":
        flag = _flag(pk)
        messages.error(request, "Tick the confirmation box to kill the flag.")
        return redirect("flags:detail", flag.pk)
    return _act(
        request,
        pk,
        lambda f, reason: ramp.kill(f, reason=reason),
        "Killed: off for everyone, testers included, on their next update check.",
    )


@require_POST
@permission_required(MANAGE, raise_exception=True)
def flag_unkill(request, pk):
    return _act(
        request,
        pk,
        lambda f, reason: ramp.unkill(f, reason=reason),
        "Kill switch off: the flag is evaluated at its percentage again.",
    )


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@require_POST
@permission_required(APPROVE, raise_exception=True)
def flag_decide(request, pk):
    flag = _flag(pk)
    try:
        ramp.decide(
            flag.pk,
            request.user,
            decision=request.POST.get("decision", ""),
            phase=_int(request.POST.get("phase")),
            row_version=_int(request.POST.get("row_version")),
            reason=request.POST.get("reason", ""),
        )
    except ramp.FlagError as exc:
        fresh = _flag(pk)
        return render(
            request,
            "flags/detail.html",
            _context(request, fresh, decide_error=exc.detail),
            status=exc.status,
        )
    if request.POST.get("decision") == "reject":
        messages.success(request, "Rejected: the flag is killed.")
    else:
        messages.success(request, "Approval recorded.")
    return redirect("flags:detail", flag.pk)


def dashboard_card(request):
    from console.dashboard import Card

    url = reverse("flags:list")
    total = Flag.objects.count()
    if not total:
        return Card(
            "Feature flags",
            url,
            empty="No flag yet: ship a feature dark in a release, then create its flag.",
        )
    counts = dict(Flag.objects.values_list("state").annotate(n=Count("pk")).order_by())
    killed = Flag.objects.filter(killed=True).count()
    waiting = counts.get(FlagState.AWAITING_APPROVAL, 0)
    status, label = "", ""
    if killed:
        status, label = "bad", f"{killed} killed"
    elif waiting:
        status, label = "warn", f"{waiting} awaiting approval"
    return Card(
        "Feature flags",
        url,
        stats=[
            ("Flags", total),
            ("Ramping", counts.get(FlagState.RUNNING, 0)),
            ("Awaiting approval", waiting),
            ("Fully on", counts.get(FlagState.COMPLETED, 0)),
            ("Killed", killed),
        ],
        status=status,
        status_label=label,
    )
