"""Maintenance pages: jobs, runs, windows, calendar, cadence templates and checklists."""

from __future__ import annotations

import calendar as pycalendar
from collections import Counter
from datetime import date, datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from audit.trail import record, snapshot
from console.dashboard import Card
from maintenance import cadence, jobtypes, runs, schedule, specs, validation, windows
from maintenance.dispatcher import open_checklist, reschedule
from maintenance.forms import ChecklistAssignForm, JobForm, TickForm, WindowForm
from maintenance.models import (
    FAILURE_STATES,
    FINAL_STATES,
    Checklist,
    ChecklistItem,
    ChecklistTemplate,
    Job,
    MaintenancePlan,
    Run,
    RunState,
    Window,
)

VIEW = "accounts.view_console"
# Planned times checked against windows per job on the calendar (a job every minute would
# otherwise mean 40,000 checks for a month).
PLANNED_LIMIT = 800
RUN = "accounts.run_maintenance"
JOB_FIELDS = [
    "name",
    "job_type",
    "params",
    "schedule",
    "timezone",
    "priority",
    "max_duration",
    "retry_attempts",
    "retry_backoff",
    "missed_policy",
    "enabled",
    "app_id",
    "owner_id",
]
WINDOW_FIELDS = [
    "name",
    "kind",
    "schedule",
    "weekdays",
    "start_time",
    "duration",
    "timezone",
    "scope",
    "job_type",
    "app_id",
    "enabled",
]


class Request(HttpRequest):
    htmx: HtmxDetails


def health(state: str | None) -> tuple[str, str]:
    """Badge (tone, label) from the job's last finished run; nothing checked → unknown."""
    if state is None:
        return "unknown", "never ran"
    if state == RunState.SUCCEEDED:
        return "ok", "healthy"
    if state in FAILURE_STATES:
        return "bad", state.replace("_", " ")
    return "neutral", state


def _job(name: str) -> Job:
    return get_object_or_404(Job.objects.select_related("owner", "app"), name=name)


def _run(pk: int) -> Run:
    return get_object_or_404(
        Run.objects.select_related("job", "occurrence", "requested_by", "retry_of"), pk=pk
    )


# ---------------------------------------------------------------- jobs


@permission_required(VIEW, raise_exception=True)
def job_list(request: Request) -> HttpResponse:
    finished = (
        Run.objects.filter(job=OuterRef("pk"), state__in=FINAL_STATES)
        .exclude(state=RunState.SKIPPED)
        .order_by("-finished_at", "-pk")
    )
    jobs = list(
        Job.objects.select_related("owner")
        .annotate(
            last_state=Subquery(finished.values("state")[:1]),
            last_at=Subquery(finished.values("finished_at")[:1]),
        )
        .order_by("name")
    )
    for job in jobs:
        job.health_tone, job.health_label = health(job.last_state)
    plans = list(MaintenancePlan.objects.prefetch_related("jobs"))
    return render(
        request,
        "maintenance/jobs.html",
        {
            "jobs": jobs,
            "plans": plans,
            "can_run": request.user.has_perm(RUN),
        },
    )


def _preview_context(expr: str, tz_name: str, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    expr = " ".join((expr or "").split())
    try:
        expr = validation.clean_schedule(expr)
        tz = schedule.zone(validation.clean_zone(tz_name))
    except ValidationError as exc:
        return {"preview_error": exc.messages[0]}
    if expr == schedule.MANUAL:
        return {"reading": "Manual only: runs when someone clicks “Run now”.", "times": []}
    times = schedule.next_times(expr, tz_name, now, 5)
    return {
        "reading": schedule.describe(expr),
        "times": [(t.astimezone(tz), t) for t in times],
        "zone": tz_name,
    }


@permission_required(VIEW, raise_exception=True)
def job_preview(request: Request) -> HttpResponse:
    """The form's live preview: the next five run times and a reading of the expression."""
    context = _preview_context(request.GET.get("schedule", ""), request.GET.get("timezone", ""))
    return render(request, "maintenance/_schedule_preview.html", context)


@permission_required(RUN, raise_exception=True)
@require_http_methods(["GET", "POST"])
def job_new(request: Request) -> HttpResponse:
    return _job_form(request, Job(owner=request.user))


@permission_required(RUN, raise_exception=True)
@require_http_methods(["GET", "POST"])
def job_edit(request: Request, name: str) -> HttpResponse:
    return _job_form(request, _job(name))


def _job_form(request: Request, job: Job) -> HttpResponse:
    creating = job.pk is None
    before = None if creating else snapshot(job, JOB_FIELDS)
    form = JobForm(request.POST or None, instance=job)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            job = form.save(commit=False)
            if creating and job.owner is None:
                job.owner = request.user
            job.updated_at = timezone.now()
            job.save()
            form.save_m2m()
            reschedule(job)
            record(
                "maintenance.job_created" if creating else "maintenance.job_changed",
                job,
                before=before,
                after=snapshot(job, JOB_FIELDS),
            )
        messages.success(request, f"Saved job “{job.name}”.")
        return redirect("maintenance:job", name=job.name)
    data = form.data if form.is_bound else {"schedule": job.schedule, "timezone": job.timezone}
    context = {
        "form": form,
        "job": job,
        "creating": creating,
        **_preview_context(data.get("schedule", ""), data.get("timezone", "")),
    }
    return render(request, "maintenance/job_form.html", context)


def duration_chart(history: list[Run], width: int = 600, height: int = 120) -> dict:
    """Bars for the last runs' durations (oldest left), coloured by outcome."""
    bars = []
    measured = [r for r in history if r.duration is not None]
    longest = max((r.duration.total_seconds() for r in measured), default=0) or 1
    step = width / max(len(history), 1)
    colours = {
        "succeeded": "#2e7d32",
        "failed": "#c62828",
        "timed_out": "#ef6c00",
        "lost": "#6a1b9a",
    }
    for i, run in enumerate(reversed(history)):
        seconds = run.duration.total_seconds() if run.duration else 0
        h = max(2, int((height - 20) * seconds / longest)) if run.duration else 2
        bars.append(
            {
                "x": round(i * step + 2, 1),
                "y": height - h,
                "w": max(2, round(step - 4, 1)),
                "h": h,
                "fill": colours.get(run.state, "#9e9e9e"),
                "run": run,
                "seconds": round(seconds, 1),
            }
        )
    return {"bars": bars, "width": width, "height": height, "longest": round(longest, 1)}


def _runnable(job_type: str) -> bool:
    try:
        jobtypes.runnable(job_type)
    except jobtypes.ParamsError:
        return False
    return True


@permission_required(VIEW, raise_exception=True)
def job_detail(request: Request, name: str) -> HttpResponse:
    job = _job(name)
    history = list(
        Run.objects.filter(job=job)
        .select_related("requested_by", "occurrence")
        .order_by("-created_at", "-pk")[:50]
    )
    upcoming = []
    if job.next_due_at:
        all_windows = list(Window.objects.filter(enabled=True))
        for at in [
            job.next_due_at,
            *schedule.next_times(job.schedule, job.timezone, job.next_due_at, 4),
        ]:
            verdict = windows.check(job, at, all_windows)
            upcoming.append(
                {"at": at, "local": at.astimezone(schedule.zone(job.timezone)), "verdict": verdict}
            )
    last_final = next(
        (r for r in history if r.state in FINAL_STATES and r.state != RunState.SKIPPED), None
    )
    tone, label = health(last_final.state if last_final else None)
    return render(
        request,
        "maintenance/job_detail.html",
        {
            "job": job,
            "history": history,
            "chart": duration_chart(history[:30]),
            "upcoming": upcoming,
            "reading": schedule.describe(job.schedule),
            "health_tone": tone,
            "health_label": label,
            "can_run": request.user.has_perm(RUN),
            "parents": list(job.depends_on.all()),
            "children": list(job.dependents.all()),
            "runnable": _runnable(job.job_type),
        },
    )


@permission_required(RUN, raise_exception=True)
@require_POST
def job_run_now(request: Request, name: str) -> HttpResponse:
    job = _job(name)
    try:
        jobtypes.runnable(job.job_type)
    except jobtypes.ParamsError as exc:
        messages.error(request, str(exc))
        return redirect("maintenance:job", name=job.name)
    run = runs.run_now(job, request.user)
    messages.success(request, f"Run #{run.pk} queued; it starts when a worker slot is free.")
    return redirect("maintenance:run", pk=run.pk)


def deletion_blockers(job: Job) -> list[str]:
    """Why this job cannot be deleted now; empty when it can."""
    problems = []
    active = job.runs.exclude(state__in=FINAL_STATES).count()
    if active:
        problems.append(f"{active} run(s) are queued or running; cancel them or let them finish")
    dependents = sorted(job.dependents.values_list("name", flat=True))
    if dependents:
        problems.append("jobs depend on it: " + ", ".join(dependents))
    plans = sorted(job.plans.values_list("name", flat=True))
    if plans:
        problems.append("maintenance plans include it: " + ", ".join(plans))
    return problems


@permission_required(RUN, raise_exception=True)
@require_POST
def job_delete(request: Request, name: str) -> HttpResponse:
    """Deletes the job with its schedule and run history. The audit row keeps the job in the
    export format (`manage.py jobs import` recreates it) and how many runs went with it."""
    with transaction.atomic():
        job = get_object_or_404(Job.objects.select_for_update(), name=name)
        if request.POST.get("confirm", "").strip() != job.name:
            messages.error(request, f"Type the job's name “{job.name}” to delete it.")
            return redirect("maintenance:job", name=job.name)
        problems = deletion_blockers(job)
        if problems:
            messages.error(request, "Not deleted: " + "; ".join(problems) + ".")
            return redirect("maintenance:job", name=job.name)
        record(
            "maintenance.job_deleted",
            job,
            before={"spec": specs.job_spec(job), "runs": job.runs.count()},
        )
        job.delete()
    messages.success(request, f"Deleted job “{name}” and its run history.")
    return redirect("maintenance:jobs")


@permission_required(RUN, raise_exception=True)
@require_POST
def plan_run(request: Request, pk: int) -> HttpResponse:
    plan = get_object_or_404(MaintenancePlan, pk=pk)
    started = runs.run_plan(plan, request.user)
    messages.success(request, f"Plan “{plan.name}” queued {len(started)} runs.")
    return redirect("maintenance:jobs")


# ---------------------------------------------------------------- runs


@permission_required(VIEW, raise_exception=True)
def run_detail(request: Request, pk: int) -> HttpResponse:
    run = _run(pk)
    context = {
        "run": run,
        "can_cancel": request.user.has_perm(RUN) and not run.is_final,
        "live": not run.is_final,
    }
    if request.htmx:
        return render(request, "maintenance/run_detail.html#live", context)
    return render(request, "maintenance/run_detail.html", context)


@permission_required(RUN, raise_exception=True)
@require_POST
def run_cancel(request: Request, pk: int) -> HttpResponse:
    run = _run(pk)
    if runs.cancel(run, reason=f"cancelled by {request.user.get_username()}"):
        messages.success(request, f"Run #{run.pk} cancelled.")
    else:
        messages.error(
            request,
            f"Run #{run.pk} is {run.get_state_display().lower()}; it can no longer be cancelled.",
        )
    return redirect("maintenance:run", pk=run.pk)


# ---------------------------------------------------------------- windows


@permission_required(VIEW, raise_exception=True)
def window_list(request: Request) -> HttpResponse:
    now = timezone.now()
    items = []
    for window in Window.objects.select_related("app"):
        upcoming = windows.intervals(window, now, now + timedelta(days=14))[:3]
        items.append({"window": window, "upcoming": upcoming})
    return render(
        request,
        "maintenance/windows.html",
        {
            "items": items,
            "can_edit": request.user.has_perm(RUN),
        },
    )


@permission_required(RUN, raise_exception=True)
@require_http_methods(["GET", "POST"])
def window_new(request: Request) -> HttpResponse:
    return _window_form(request, Window())


@permission_required(RUN, raise_exception=True)
@require_http_methods(["GET", "POST"])
def window_edit(request: Request, pk: int) -> HttpResponse:
    return _window_form(request, get_object_or_404(Window, pk=pk))


def _window_form(request: Request, window: Window) -> HttpResponse:
    creating = window.pk is None
    before = None if creating else snapshot(window, WINDOW_FIELDS)
    form = WindowForm(request.POST or None, instance=window)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            window = form.save()
            record(
                "maintenance.window_created" if creating else "maintenance.window_changed",
                window,
                before=before,
                after=snapshot(window, WINDOW_FIELDS),
            )
        messages.success(request, f"Saved window “{window.name}”.")
        return redirect("maintenance:windows")
    return render(
        request,
        "maintenance/window_form.html",
        {"form": form, "window": window, "creating": creating},
    )


@permission_required(RUN, raise_exception=True)
@require_POST
def window_delete(request: Request, pk: int) -> HttpResponse:
    window = get_object_or_404(Window, pk=pk)
    with transaction.atomic():
        record("maintenance.window_deleted", window, before=snapshot(window, WINDOW_FIELDS))
        window.delete()
    messages.success(request, f"Deleted window “{window.name}”.")
    return redirect("maintenance:windows")


# ---------------------------------------------------------------- calendar


def _calendar_range(view: str, anchor: date) -> tuple[date, date]:
    if view == "month":
        start = anchor.replace(day=1)
        end = start.replace(day=pycalendar.monthrange(start.year, start.month)[1])
        start -= timedelta(days=start.weekday())
        end += timedelta(days=6 - end.weekday())
        return start, end
    start = anchor - timedelta(days=anchor.weekday())
    return start, start + timedelta(days=6)


@permission_required(VIEW, raise_exception=True)
def calendar_view(request: Request) -> HttpResponse:
    """Windows, planned runs (with what will not fit) and checklists, by day, in UTC."""
    view = "month" if request.GET.get("view") == "month" else "week"
    try:
        anchor = date.fromisoformat(request.GET.get("start", ""))
    except ValueError:
        anchor = timezone.localdate()
    first, last = _calendar_range(view, anchor)
    start = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    end = start + timedelta(days=(last - first).days + 1)
    days: dict[date, dict] = {
        first + timedelta(days=i): {"windows": [], "runs": [], "checklists": []}
        for i in range((last - first).days + 1)
    }
    all_windows = list(Window.objects.filter(enabled=True).select_related("app"))
    for window in all_windows:
        for interval in windows.intervals(window, start, end):
            day = timezone.localtime(interval.start).date()
            if day in days:
                days[day]["windows"].append(interval)
    now = timezone.now()
    # Planned and past runs are grouped per job and day, so a job every 15 minutes is one
    # line ("x44, 44 will not fit") instead of a wall of entries.
    groups: dict[tuple, dict] = {}

    def add(day, job, kind, at, *, verdict=None, run=None):
        if day not in days:
            return
        key = (day, job.pk, kind)
        group = groups.get(key)
        if group is None:
            group = groups[key] = {
                "job": job,
                "kind": kind,
                "first": at,
                "last": at,
                "count": 0,
                "misfit": 0,
                "reason": "",
                "run": run,
                "states": Counter(),
            }
            days[day]["runs"].append(group)
        group["count"] += 1
        group["last"] = at
        if verdict is not None and not verdict.ok:
            group["misfit"] += 1
            group["reason"] = group["reason"] or verdict.reason
        if run is not None:
            group["states"][run.state] += 1
            group["run"] = run if group["count"] == 1 else None

    for job in Job.objects.filter(enabled=True).exclude(schedule=schedule.MANUAL):
        times = schedule.times_between(
            job.schedule, job.timezone, max(start, now), end, limit=PLANNED_LIMIT
        )
        for at in times:
            add(
                timezone.localtime(at).date(),
                job,
                "planned",
                at,
                verdict=windows.check(job, at, all_windows),
            )
    for run in (
        Run.objects.filter(
            occurrence__scheduled_for__gte=start, occurrence__scheduled_for__lt=min(end, now)
        )
        .select_related("job", "occurrence")
        .order_by("occurrence__scheduled_for", "pk")[:2000]
    ):
        at = run.occurrence.scheduled_for
        add(timezone.localtime(at).date(), run.job, "past", at, run=run)
    for entries in days.values():
        entries["runs"].sort(key=lambda g: g["first"])
        for group in entries["runs"]:
            group["states"] = sorted(group["states"].items())
    for checklist in Checklist.objects.filter(due_on__gte=first, due_on__lte=last).select_related(
        "assignee"
    ):
        days[checklist.due_on]["checklists"].append(checklist)
    if view == "week":
        prev_anchor, next_anchor = first - timedelta(days=7), first + timedelta(days=7)
    else:
        month_start = anchor.replace(day=1)
        prev_anchor = (month_start - timedelta(days=1)).replace(day=1)
        next_anchor = (month_start + timedelta(days=32)).replace(day=1)
    weeks = [list(days.items())[i : i + 7] for i in range(0, len(days), 7)]
    return render(
        request,
        "maintenance/calendar.html",
        {
            "view": view,
            "weeks": weeks,
            "first": first,
            "last": last,
            "anchor": anchor,
            "prev": prev_anchor.isoformat(),
            "next": next_anchor.isoformat(),
            "today": now.date(),
        },
    )


# ---------------------------------------------------------------- cadence and checklists


@permission_required(VIEW, raise_exception=True)
def cadence_list(request: Request) -> HttpResponse:
    existing = set(Job.objects.values_list("name", flat=True)) | set(
        ChecklistTemplate.objects.values_list("name", flat=True)
    )
    items = []
    for c in cadence.cadences():
        names = [j.name for j in c.jobs] + [n for n, _, _ in c.checklists]
        items.append({"cadence": c, "adopted": all(n in existing for n in names)})
    return render(
        request,
        "maintenance/cadence.html",
        {"items": items, "can_adopt": request.user.has_perm(RUN)},
    )


@permission_required(RUN, raise_exception=True)
@require_POST
def cadence_adopt(request: Request, key: str) -> HttpResponse:
    try:
        result = cadence.adopt(key, request.user)
    except KeyError:
        return HttpResponse(status=404)
    made = result.jobs + result.checklists
    if made:
        messages.success(request, f"Adopted: {', '.join(made)}. Edit them to fit your team.")
    else:
        messages.info(request, "Everything in this template already exists.")
    return redirect("maintenance:cadence")


@permission_required(VIEW, raise_exception=True)
def checklist_list(request: Request) -> HttpResponse:
    templates = list(ChecklistTemplate.objects.select_related("assignee"))
    checklists = list(
        Checklist.objects.select_related("template", "assignee").order_by("-period_start", "title")[
            :100
        ]
    )
    counts = {}
    for item in ChecklistItem.objects.filter(checklist__in=checklists).values_list(
        "checklist_id", "ticked_at"
    ):
        done, total = counts.get(item[0], (0, 0))
        counts[item[0]] = (done + (item[1] is not None), total + 1)
    for checklist in checklists:
        checklist.done, checklist.total = counts.get(checklist.pk, (0, 0))
    return render(
        request,
        "maintenance/checklists.html",
        {
            "templates": templates,
            "checklists": checklists,
            "can_work": request.user.has_perm(RUN),
        },
    )


@permission_required(RUN, raise_exception=True)
@require_POST
def checklist_open(request: Request, pk: int) -> HttpResponse:
    template = get_object_or_404(ChecklistTemplate, pk=pk)
    checklist = open_checklist(template, timezone.localdate())
    if checklist is None:  # on-demand templates: one per day
        checklist, _ = Checklist.objects.get_or_create(
            template=template,
            period_start=timezone.localdate(),
            defaults={
                "title": f"{template.name} — {timezone.localdate():%Y-%m-%d}",
                "due_on": timezone.localdate(),
                "assignee": template.assignee,
            },
        )
        if not checklist.lines.exists():
            ChecklistItem.objects.bulk_create(
                ChecklistItem(checklist=checklist, position=i, text=t)
                for i, t in enumerate(template.items)
            )
    return redirect("maintenance:checklist", pk=checklist.pk)


@permission_required(VIEW, raise_exception=True)
def checklist_detail(request: Request, pk: int) -> HttpResponse:
    checklist = get_object_or_404(Checklist.objects.select_related("template", "assignee"), pk=pk)
    lines = list(checklist.lines.select_related("ticked_by"))
    return render(
        request,
        "maintenance/checklist_detail.html",
        {
            "checklist": checklist,
            "lines": lines,
            "can_work": request.user.has_perm(RUN),
        },
    )


@permission_required(RUN, raise_exception=True)
@require_POST
def checklist_assign(request: Request, pk: int) -> HttpResponse:
    checklist = get_object_or_404(Checklist, pk=pk)
    before = snapshot(checklist, ["assignee_id"])
    form = ChecklistAssignForm(request.POST, instance=checklist)
    if form.is_valid():
        with transaction.atomic():
            form.save()
            record(
                "maintenance.checklist_assigned",
                checklist,
                before=before,
                after=snapshot(checklist, ["assignee_id"]),
            )
        messages.success(request, "Assignment saved.")
    else:
        messages.error(request, "Choose a person from the list.")
    return redirect("maintenance:checklist", pk=checklist.pk)


@permission_required(RUN, raise_exception=True)
@require_POST
def checklist_tick(request: Request, pk: int) -> HttpResponse:
    """Tick (or untick) one line, recording who, when and the evidence."""
    item = get_object_or_404(ChecklistItem.objects.select_related("checklist"), pk=pk)
    form = TickForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(form.errors.get("evidence", ["invalid input"])))
        return redirect("maintenance:checklist", pk=item.checklist_id)
    before = snapshot(item, ["ticked_by_id", "ticked_at", "evidence"])
    with transaction.atomic():
        if form.cleaned_data["done"]:
            item.ticked_by, item.ticked_at = request.user, timezone.now()
            item.evidence = form.cleaned_data["evidence"]
        else:
            item.ticked_by, item.ticked_at, item.evidence = None, None, ""
        item.save(update_fields=["ticked_by", "ticked_at", "evidence"])
        record(
            "maintenance.checklist_ticked" if item.ticked_at else "maintenance.checklist_unticked",
            item,
            before=before,
            after=snapshot(item, ["ticked_by_id", "ticked_at", "evidence"]),
        )
    if request.htmx:
        return render(
            request,
            "maintenance/checklist_detail.html#line",
            {"line": item, "can_work": True, "checklist": item.checklist},
        )
    return redirect("maintenance:checklist", pk=item.checklist_id)


# ---------------------------------------------------------------- dashboard


def dashboard_card(request) -> Card:
    jobs = Job.objects.count()
    if not jobs:
        return Card(
            "Maintenance",
            reverse("maintenance:jobs"),
            empty="No jobs yet: adopt a cadence template or create a job.",
        )
    since = timezone.now() - timedelta(days=7)
    failing = Run.objects.filter(
        state__in=FAILURE_STATES, retry__isnull=True, finished_at__gte=since
    ).count()
    running = Run.objects.filter(state=RunState.RUNNING).count()
    status, label = ("bad", f"{failing} failed this week") if failing else ("", "")
    return Card(
        "Maintenance",
        reverse("maintenance:jobs"),
        status=status,
        status_label=label,
        stats=[("Jobs", jobs), ("Running now", running), ("Failed runs, last 7 days", failing)],
    )
