"""The ``performance_analysis`` maintenance job type: baselines for every release with telemetry
on the chosen channels, and measured bundle savings for their bundles.

Params (all optional): ``app`` (slug), ``channel`` (name; needs ``app``), ``days`` (1-90,
default 7: the window each baseline covers), ``bundles`` (default true: measure the bundles of
the releases baselined that have no report yet). The job's own ``app`` field also narrows it.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from maintenance.jobtypes import ParamsError, no_extra_params
from maintenance.models import Run
from maintenance.runcontext import context
from performance import baselines, fielddata, resources
from performance.models import Baseline
from releases.models import App, Channel, Release


def validate(params: dict[str, Any]) -> dict[str, Any]:
    no_extra_params(params, {"app", "channel", "days", "bundles"})
    app = params.get("app", "") or ""
    channel = params.get("channel", "") or ""
    if not isinstance(app, str) or not isinstance(channel, str):
        raise ParamsError("app and channel must be text")
    if app and not App.objects.filter(slug=app).exists():
        raise ParamsError(f"no app with slug {app!r}")
    if channel and not app:
        raise ParamsError("channel needs app")
    if channel and not Channel.objects.filter(app__slug=app, name=channel).exists():
        raise ParamsError(f"app {app!r} has no channel {channel!r}")
    days = params.get("days", baselines.DEFAULT_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 90:
        raise ParamsError("days must be a whole number between 1 and 90")
    bundles = params.get("bundles", True)
    if not isinstance(bundles, bool):
        raise ParamsError("bundles must be true or false")
    return {"app": app, "channel": channel, "days": days, "bundles": bundles}


def run(run_pk: int) -> str:
    ctx = context(run_pk)
    run_row = Run.objects.select_related("job", "requested_by").get(pk=run_pk)
    params = validate(run_row.job.params)
    channels = Channel.objects.select_related("app").order_by("app__slug", "name")
    if params["app"]:
        channels = channels.filter(app__slug=params["app"])
    if params["channel"]:
        channels = channels.filter(name=params["channel"])
    if run_row.job.app_id:
        channels = channels.filter(app_id=run_row.job.app_id)
    channels = list(channels)
    now = timezone.now()
    start, end = baselines.window(now, params["days"])
    taken = flagged = measured = 0
    ctx.progress(0, len(channels))
    for done, channel in enumerate(channels, 1):
        ctx.check()
        releases = {r.version: r for r in Release.objects.for_channel(channel)}
        with_data = [
            v
            for v, d in fielddata.channel_field_data(channel, start, end, list(releases)).items()
            if d.has_data
        ]
        # Lowest first, so each release is compared with the baseline just taken for its
        # predecessor.
        for version in sorted(with_data, key=baselines.version_key):
            baseline = baselines.take(
                channel,
                version,
                source=Baseline.Source.JOB,
                days=params["days"],
                user=run_row.requested_by,
                run_id=run_pk,
                now=now,
            )
            taken += 1
            flagged += len(baseline.regressions)
            note = f", {len(baseline.regressions)} regression(s)" if baseline.regressions else ""
            ctx.log(f"{channel} {version}: baseline #{baseline.pk}{note}")
            if params["bundles"] and resources.report_for(releases[version]) is None:
                try:
                    resources.measure(releases[version])
                    measured += 1
                    ctx.log(f"{channel} {version}: bundle measured")
                except resources.OptimiseError as exc:
                    ctx.log(f"{channel} {version}: bundle not measured: {exc.detail}")
        ctx.progress(done, len(channels))
    return (
        f"{taken} baseline(s) on {len(channels)} channel(s), {flagged} regression(s) flagged, "
        f"{measured} bundle(s) measured"
    )
