from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from monitoring import charts, health
from releases.models import Channel

view_console = permission_required("accounts.view_console", raise_exception=True)


def _get_channel(app_slug: str, name: str) -> Channel:
    return get_object_or_404(Channel.objects.select_related("app"), app__slug=app_slug, name=name)


def _window(request: HttpRequest) -> tuple[int, timedelta]:
    try:
        hours = int(request.GET.get("hours", health.DEFAULT_WINDOW))
    except ValueError:
        hours = health.DEFAULT_WINDOW
    if hours not in health.WINDOWS:
        hours = health.DEFAULT_WINDOW
    return hours, health.WINDOWS[hours]


@view_console
def index(request: HttpRequest) -> HttpResponse:
    """Every channel that has reported telemetry, with the last 24 hours in brief."""
    now = timezone.now()
    rows = health.channels_with_data(now - timedelta(hours=24))
    return render(request, "monitoring/index.html", {"rows": rows})


@view_console
def channel(request: HttpRequest, app_slug: str, channel: str) -> HttpResponse:
    """Release health of one channel per version; HTMX polls refresh the ``health`` partial."""
    chan = _get_channel(app_slug, channel)
    hours, step = _window(request)
    now = timezone.now()
    if step >= timedelta(hours=1):
        end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    else:
        end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(hours=hours)
    versions = health.channel_versions(chan, start, end)
    series = health.chart_series(chan, versions, start, end, step)
    time_format = "%m-%d %H:%M" if hours > 24 else "%H:%M"
    chart_list = []
    if series:
        chart_list = [
            charts.line_chart(
                "launches", "Launches", "", series["launches"], y_min=0, time_format=time_format
            ),
            charts.line_chart(
                "crash_free",
                "Crash-free sessions",
                "%",
                series["crash_free"],
                y_max=100,
                time_format=time_format,
            ),
            charts.line_chart(
                "lcp_p75", "p75 LCP", "ms", series["lcp_p75"], y_min=0, time_format=time_format
            ),
            charts.line_chart(
                "api_error_rate",
                "API error rate",
                "%",
                series["api_error_rate"],
                y_min=0,
                time_format=time_format,
            ),
        ]
    context = {
        "channel": chan,
        "versions": versions,
        "vital_tables": [(v.version, rows) for v in versions if (rows := v.vital_cells())],
        "charts": chart_list,
        "hours": hours,
        "windows": list(health.WINDOWS),
        "start": start,
        "end": end,
        "thresholds": health.VITAL_THRESHOLDS,
    }
    template = "monitoring/channel.html"
    if request.htmx:
        template += "#health"
    return render(request, template, context)
