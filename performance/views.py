"""Performance pages: overview per channel, release detail, and the release managers' actions."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count, Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from console.dashboard import Card
from monitoring import charts
from performance import baselines, fielddata, resources
from performance.models import Baseline, BundleReport, Candidate
from releases.models import Channel, Release
from releases.versioning import newest_first

VIEW = "accounts.view_console"
MANAGE = "accounts.publish_release"  # Release managers and admins
view_console = permission_required(VIEW, raise_exception=True)
manage = permission_required(MANAGE, raise_exception=True)
DAY_CHOICES = (1, 7, 28)
DEFAULT_DAYS = 7
OVERVIEW_RELEASES = 10
CHART_VERSIONS = 4


def _channel(app_slug: str, name: str) -> Channel:
    return get_object_or_404(Channel.objects.select_related("app"), app__slug=app_slug, name=name)


def _release(channel: Channel, version: str) -> Release:
    return get_object_or_404(
        Release.objects.for_channel(channel).select_related("app", "channel"), version=version
    )


def _days(request: HttpRequest) -> int:
    try:
        days = int(request.GET.get("days", DEFAULT_DAYS))
    except ValueError:
        return DEFAULT_DAYS
    return days if days in DAY_CHOICES else DEFAULT_DAYS


def _device(request: HttpRequest) -> str:
    device = request.GET.get("device", "mobile")
    return device if device in dict(fielddata.DEVICES) else "mobile"


@view_console
def index(request: HttpRequest) -> HttpResponse:
    """Every channel, with its newest baselines in brief."""
    channels = list(Channel.objects.select_related("app").order_by("app__slug", "name"))
    latest: dict[int, list[Baseline]] = {}
    for baseline in Baseline.objects.order_by("-taken_at", "-pk").only(
        "channel_id", "version", "regressions", "taken_at"
    ):
        per = latest.setdefault(baseline.channel_id, [])
        if all(b.version != baseline.version for b in per):
            per.append(baseline)
    rows = []
    for channel in channels:
        per = latest.get(channel.pk, [])
        rows.append(
            {
                "channel": channel,
                "baselines": len(per),
                "regressions": sum(len(b.regressions) for b in per),
                "last": max((b.taken_at for b in per), default=None),
            }
        )
    return render(request, "performance/index.html", {"rows": rows})


def trend_charts(channel, versions: list[str], start: datetime, end: datetime, device: str):
    days = []
    t = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while t < end:
        days.append(t)
        t += timedelta(days=1)
    trends = fielddata.daily_trends(channel, start, end, device, versions)
    result = []
    for name in fielddata.VITALS:
        scale = 1000 if name == "CLS" else 1
        series = [
            (
                version,
                [
                    (day, None if (v := trends[name][version].get(day)) is None else v * scale)
                    for day in days
                ],
            )
            for version in versions
        ]
        title = f"p75 {name} per day" + (" (x 1000)" if name == "CLS" else "")
        chart = charts.line_chart(
            f"trend-{name}",
            title,
            "" if name == "CLS" else "ms",
            series,
            y_min=0,
            time_format="%m-%d",
        )
        if not chart.empty:  # a vital nobody reported is left out, not drawn as an empty box
            result.append(chart)
    return result


@view_console
def channel(request: HttpRequest, app_slug: str, channel: str) -> HttpResponse:
    chan = _channel(app_slug, channel)
    days, device = _days(request), _device(request)
    start, end = baselines.window(timezone.now(), days)
    releases = {r.version: r for r in Release.objects.for_channel(chan)}
    data = fielddata.channel_field_data(chan, start, end, list(releases))
    with_data = newest_first([d for d in data.values() if d.has_data])[:OVERVIEW_RELEASES]
    latest = Baseline.objects.latest_per_version(chan)
    flagged = [b for b in newest_first(latest.values()) if b.regressions]
    charted = [
        d.version
        for d in sorted(
            with_data,
            key=lambda d: -sum(v.samples for v in d.vitals[device].values()),
        )[:CHART_VERSIONS]
    ]
    context = {
        "channel": chan,
        "days": days,
        "day_choices": DAY_CHOICES,
        "device": device,
        "devices": fielddata.DEVICES,
        "start": start,
        "end": end,
        "rows": [(d, releases[d.version], latest.get(d.version)) for d in with_data],
        "flagged": flagged,
        "charts": trend_charts(chan, charted, start, end, device) if charted else [],
        "thresholds": fielddata.THRESHOLDS,
        "min_samples": fielddata.min_samples(),
        "releases_without_data": len(releases) - len(with_data),
    }
    return render(request, "performance/channel.html", context)


def _release_context(request, chan: Channel, release: Release, **extra) -> dict:
    now = timezone.now()
    start, end = baselines.window(now, DEFAULT_DAYS)
    current = fielddata.release_field_data(chan, release.version, start, end)
    baseline = Baseline.objects.for_channel(chan).filter(version=release.version).first()
    previous = (
        baseline.previous
        if baseline and baseline.previous_id
        else baselines.previous_baseline(chan, release.version)
    )
    report = resources.report_for(release)
    latest = newest_first(Release.objects.for_app(release.app).only("pk", "version"))[0]
    comparison = []
    if baseline is not None:
        for key, label in fielddata.DEVICES:
            for name in fielddata.VITALS:
                unit = "" if name == "CLS" else "ms"

                def cell(doc, key=key, name=name, unit=unit):
                    value = doc["vitals"][key][name]
                    return {**value, "unit": unit, "tone": fielddata.TONES[value["rating"]]}

                comparison.append(
                    {
                        "device": label,
                        "name": name,
                        "after": cell(baseline.data),
                        "before": cell(previous.data) if previous else None,
                    }
                )
    return {
        "channel": chan,
        "release": release,
        "current": current,
        "baseline": baseline,
        "previous": previous,
        "comparison": comparison,
        "compared": (
            baselines.comparable(previous.data, baseline.data) if baseline and previous else []
        ),
        "history": Baseline.objects.for_channel(chan).filter(version=release.version)[:10],
        "report": report,
        "candidates": Candidate.objects.filter(source=release).select_related("release"),
        "built_from": Candidate.objects.filter(release=release).select_related("source").first(),
        "can_manage": request.user.has_perm(MANAGE),
        "is_latest": latest.pk == release.pk,
        "candidate_version": resources.candidate_version(release.version),
        "min_samples": fielddata.min_samples(),
        "thresholds": fielddata.THRESHOLDS,
        "days": DEFAULT_DAYS,
        "start": start,
        "end": end,
        **extra,
    }


@view_console
def release(request: HttpRequest, app_slug: str, channel: str, version: str) -> HttpResponse:
    chan = _channel(app_slug, channel)
    rel = _release(chan, version)
    return render(request, "performance/release.html", _release_context(request, chan, rel))


def _release_url(chan: Channel, rel: Release) -> str:
    return reverse("performance:release", args=[chan.app.slug, chan.name, rel.version])


@require_POST
@manage
def take_baseline(request: HttpRequest, app_slug: str, channel: str, version: str):
    chan = _channel(app_slug, channel)
    rel = _release(chan, version)
    baseline = baselines.take(chan, rel.version, source=Baseline.Source.MANUAL, user=request.user)
    flagged = len(baseline.regressions)
    messages.success(
        request,
        f"Baseline of {rel.version} taken"
        + (f": {flagged} regression(s) flagged." if flagged else "."),
    )
    return redirect(_release_url(chan, rel))


@require_POST
@manage
def measure_bundle(request: HttpRequest, app_slug: str, channel: str, version: str):
    chan = _channel(app_slug, channel)
    rel = _release(chan, version)
    try:
        report = resources.measure(rel)
    except resources.OptimiseError as exc:
        context = _release_context(request, chan, rel, error=exc.detail)
        return render(request, "performance/release.html", context, status=exc.status)
    messages.success(
        request, f"Bundle measured: {report.totals.get('count', 0)} recommendation(s)."
    )
    return redirect(_release_url(chan, rel))


@require_POST
@manage
def create_candidate(request: HttpRequest, app_slug: str, channel: str, version: str):
    chan = _channel(app_slug, channel)
    rel = _release(chan, version)
    try:
        candidate = resources.create_candidate(rel, user=request.user)
    except resources.OptimiseError as exc:
        context = _release_context(request, chan, rel, error=exc.detail)
        return render(request, "performance/release.html", context, status=exc.status)
    messages.success(
        request,
        f"Optimised candidate {candidate.release.version} created. It is not rolled out: "
        "check it, then start a rollout from its release page.",
    )
    return redirect(reverse("releases:release", args=[rel.app.slug, candidate.release.version]))


def dashboard_card(request) -> Card:
    url = reverse("performance:index")
    total = Baseline.objects.count()
    if not total:
        return Card(
            "Performance",
            url,
            empty="No baselines yet: open a release under Performance and take one, or schedule "
            "a “Performance analysis” maintenance job.",
        )
    # The newest baseline of each (channel, version), counted in the database: the card must
    # not read every snapshot a weekly job has ever taken.
    newest = Baseline.objects.values("channel_id", "version").annotate(newest=Max("pk"))
    counts = Baseline.objects.filter(pk__in=newest.values("newest")).aggregate(
        releases=Count("pk"),
        regressed=Count("pk", filter=~Q(regressions=[])),
        last=Max("taken_at"),
    )
    regressed, last = counts["regressed"], counts["last"]
    savings = sum(r.totals.get("auto_raw", 0) for r in BundleReport.objects.only("totals"))
    if regressed:
        status, label = "bad", f"{regressed} release(s) regressed"
    else:
        status, label = "ok", "no regression flagged"
    return Card(
        "Performance",
        url,
        status=status,
        status_label=label,
        stats=[
            ("Releases with a baseline", counts["releases"]),
            ("Releases with regressions", regressed),
            ("Auto-applicable savings measured", f"{savings:,} bytes"),
            ("Last baseline", timezone.localtime(last).strftime("%Y-%m-%d %H:%M")),
        ],
    )
