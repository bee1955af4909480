"""The ``dependency_audit`` maintenance job type.

Params: ``app`` (slug; left out: every app, each reconciled on its own), ``channel`` (name)
and/or ``release`` (version), optional.
Without them the job audits the latest enabled release of every channel of the app (and the
latest release published to all channels when the app has no channel): that is everything the
app ships, so only such a run may close findings. A run narrowed to one channel or release
opens and regresses findings but never closes one.

The run fails when a scan is an error (after storing what it learned), succeeds with an
"incomplete" summary when a package was skipped, and says "complete" only when every package of
every scanned release was checked.
"""

from __future__ import annotations

from typing import Any

from maintenance.jobtypes import ParamsError, no_extra_params
from maintenance.models import Run
from maintenance.runcontext import context

NAME = "dependency_audit"


def validate(params: dict[str, Any]) -> dict[str, Any]:
    no_extra_params(params, {"app", "channel", "release"})
    app = params.get("app") or ""
    if not isinstance(app, str):
        raise ParamsError("app must be the slug of an app (or left out for every app)")
    cleaned = {"app": app.strip()}
    if not cleaned["app"] and (params.get("channel") or params.get("release")):
        raise ParamsError("channel and release need app")
    for key in ("channel", "release"):
        value = params.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise ParamsError(f"{key} must be a name")
        cleaned[key] = value.strip()
    return cleaned


def targets(params: dict[str, Any]) -> tuple[list[tuple[Any, Any]], bool]:
    """(release, channel) pairs to audit and whether they cover everything the app ships."""
    from releases.models import App, Channel, Release
    from releases.versioning import newest_first

    app = App.objects.filter(slug=params["app"]).first()
    if app is None:
        raise ParamsError(f"no app with the slug {params['app']!r}")
    channel = None
    if "channel" in params:
        channel = Channel.objects.filter(app=app, name=params["channel"]).first()
        if channel is None:
            raise ParamsError(f"{app.slug} has no channel {params['channel']!r}")
    if "release" in params:
        release = Release.objects.filter(app=app, version=params["release"]).first()
        if release is None:
            raise ParamsError(f"{app.slug} has no release {params['release']!r}")
        return [(release, channel)], False
    channels = [channel] if channel else list(Channel.objects.filter(app=app).order_by("name"))
    pairs: list[tuple[Any, Any]] = []
    seen: set[int] = set()
    if channels:
        for ch in channels:
            latest = newest_first(Release.objects.for_channel(ch).enabled())
            if latest and latest[0].pk not in seen:
                seen.add(latest[0].pk)
                pairs.append((latest[0], ch))
    else:
        latest = newest_first(Release.objects.for_app(app).enabled().filter(channel__isnull=True))
        if latest:
            pairs.append((latest[0], None))
    return pairs, channel is None


def run_dependency_audit(run_pk: int) -> str:
    from security import findings, scanning

    ctx = context(run_pk)
    run = Run.objects.select_related("job", "requested_by").get(pk=run_pk)
    params = validate(run.job.params)
    expired = findings.expire_suppressions()
    if expired:
        ctx.log(f"{expired} suppressions expired and are open again")
    if params["app"]:
        plans = [(params["app"], *targets(params))]
    else:
        # Every app, each reconciled on its own: one app's scans never close another's findings.
        from releases.models import App

        slugs = list(App.objects.order_by("slug").values_list("slug", flat=True))
        plans = [(slug, *targets({**params, "app": slug})) for slug in slugs]
        plans = [plan for plan in plans if plan[1]]
    total = sum(len(pairs) for _, pairs, _ in plans)
    if not total:
        what = params["app"] or "no app"
        raise RuntimeError(f"nothing to audit: {what} has no enabled release to scan")
    results = []
    counts = {"opened": 0, "regressed": 0, "fixed": 0}
    ctx.progress(0, total)
    covers_all = True
    for _slug, pairs, covers in plans:
        covers_all = covers_all and covers
        app_results = []
        for release, channel in pairs:
            ctx.check()
            result = scanning.scan_release(
                release, channel=channel, user=run.requested_by, run_id=run.pk
            )
            scan = result.scan
            where = f"{release.app.slug} {release.version}" + (
                f" ({channel.name})" if channel else ""
            )
            ctx.log(
                f"{where}: scan #{scan.pk} {scan.status}: {scan.packages_checked} checked, "
                f"{scan.packages_skipped} skipped, {scan.vulnerable} vulnerable"
                + (f" — {scan.detail}" if scan.detail else "")
            )
            app_results.append(result)
            ctx.progress(len(results) + len(app_results), total)
        for key, value in findings.reconcile(app_results, closes=covers).items():
            if key in counts:
                counts[key] += value
        results.extend(app_results)
    statuses = [r.scan.status for r in results]
    summary = (
        f"{len(results)} release(s): {statuses.count('complete')} complete, "
        f"{statuses.count('incomplete')} incomplete, {statuses.count('error')} error; findings "
        f"{counts['opened']} new, {counts['regressed']} regressed, {counts['fixed']} fixed"
    )
    if not covers_all:
        summary += " (narrowed run: nothing closed)"
    if "error" in statuses:
        raise RuntimeError(f"error: {summary}")
    if "incomplete" in statuses:
        return f"incomplete: {summary}"
    return f"complete: {summary}"
