"""Pages: apps, an app (channels, timeline, budgets), a release (analysis), publishing."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count
from django.http import Http404, HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from releases import charts, publishing, uploads
from releases.forms import (
    AppForm,
    BudgetsForm,
    ChannelForm,
    ChannelGateForm,
    PublishForm,
    ReasonForm,
    TestersForm,
)
from releases.models import App, Channel, Release
from releases.versioning import newest_first, next_versions

VIEW = "accounts.view_console"
PUBLISH = "accounts.publish_release"


def _app(slug: str) -> App:
    return get_object_or_404(App, slug=slug)


def _release(slug: str, version: str) -> Release:
    release = (
        Release.objects.select_related(
            "app", "channel", "author", "previous", "rollback_target", "disabled_by"
        )
        .filter(app__slug=slug, version=version)
        .first()
    )
    if release is None:
        raise Http404("no such release")
    return release


def _status(release: Release) -> tuple[str, str]:
    """(tone, label) of a release on the timeline: what the record says, nothing guessed."""
    if release.is_disabled:
        return "bad", "disabled"
    if publishing.rollout_blocked_by_budget(release):
        return "warn", "testers only (over budget)"
    return "ok", "published"


@require_GET
@permission_required(VIEW, raise_exception=True)
def apps(request: HttpRequest):
    rows = App.objects.annotate(
        release_count=Count("releases", distinct=True),
        channel_count=Count("channels", distinct=True),
    )
    return render(
        request,
        "releases/apps.html",
        {
            "apps": rows,
            "form": AppForm(),
            "can_publish": request.user.has_perm(PUBLISH),
        },
    )


@require_POST
@permission_required(PUBLISH, raise_exception=True)
def app_create(request: HttpRequest):
    form = AppForm(request.POST)
    if form.is_valid():
        try:
            app = publishing.create_app(owner=request.user, **form.cleaned_data)
        except publishing.PublishError as exc:
            form.add_error(exc.field, exc.detail)
        else:
            messages.success(request, f"Created {app.name}. Add a channel to get a client key.")
            return redirect("releases:app", app.slug)
    rows = App.objects.annotate(
        release_count=Count("releases", distinct=True),
        channel_count=Count("channels", distinct=True),
    )
    return render(
        request, "releases/apps.html", {"apps": rows, "form": form, "can_publish": True}, status=400
    )


def _app_context(request, app: App, **extra) -> dict:
    releases = newest_first(
        Release.objects.for_app(app).defer("analysis").select_related("author", "channel")
    )
    timeline = [{"release": r, "tone": _status(r)[0], "label": _status(r)[1]} for r in releases]
    can_publish = request.user.has_perm(PUBLISH)
    context = {
        "app": app,
        "channels": list(app.channels.all()),
        "timeline": timeline,
        "can_publish": can_publish,
        "channel_form": ChannelForm(),
        "budgets_form": BudgetsForm(initial={f: getattr(app, f) for f in publishing.BUDGET_FIELDS}),
        "now": timezone.now(),
    }
    context.update(extra)
    return context


@require_GET
@permission_required(VIEW, raise_exception=True)
def app_detail(request: HttpRequest, slug: str):
    return render(request, "releases/app_detail.html", _app_context(request, _app(slug)))


@require_POST
@permission_required(PUBLISH, raise_exception=True)
def channel_create(request: HttpRequest, slug: str):
    app = _app(slug)
    form = ChannelForm(request.POST)
    if form.is_valid():
        try:
            channel = publishing.create_channel(app, **form.cleaned_data)
        except publishing.PublishError as exc:
            form.add_error(exc.field, exc.detail)
        else:
            messages.success(request, f"Channel {channel.name} created.")
            return redirect("releases:app", app.slug)
    return render(
        request,
        "releases/app_detail.html",
        _app_context(request, app, channel_form=form),
        status=400,
    )


def _channel(slug: str, name: str) -> Channel:
    return get_object_or_404(Channel.objects.select_related("app"), app__slug=slug, name=name)


def _channels_fragment_or_redirect(request, channel: Channel, status: int = 200):
    """HTMX: the channels panel alone; otherwise back to the app page."""
    if request.htmx:
        return render(
            request,
            "releases/app_detail.html#channels",
            _app_context(request, channel.app),
            status=status,
        )
    return redirect("releases:app", channel.app.slug)


@require_POST
@permission_required(PUBLISH, raise_exception=True)
def channel_rotate(request: HttpRequest, slug: str, name: str):
    channel = publishing.rotate_key(_channel(slug, name))
    messages.success(
        request,
        f"New client key for {channel.name}; the old one works until "
        f"{channel.previous_key_expires_at:%Y-%m-%d %H:%M} UTC.",
    )
    return _channels_fragment_or_redirect(request, channel)


@require_POST
@permission_required(PUBLISH, raise_exception=True)
def channel_testers(request: HttpRequest, slug: str, name: str):
    channel = _channel(slug, name)
    form = TestersForm(request.POST)
    if form.is_valid():
        try:
            publishing.set_testers(channel, form.cleaned_data["testers"])
            messages.success(request, f"Tester allowlist of {channel.name} saved.")
        except publishing.PublishError as exc:
            messages.error(request, exc.detail)
    return _channels_fragment_or_redirect(request, channel)


def _gate_context(channel: Channel, form: ChannelGateForm) -> dict:
    from releases.models import ACTIVE_ROLLOUT_STATES

    other = (
        Channel.ReleaseGate.IMMEDIATE
        if channel.release_gate == Channel.ReleaseGate.ROLLOUT
        else Channel.ReleaseGate.ROLLOUT
    )
    active = (
        channel.rollouts.select_related("release").filter(state__in=ACTIVE_ROLLOUT_STATES).first()
    )
    return {
        "app": channel.app,
        "channel": channel,
        "form": form,
        "other": other,
        "opening": other == Channel.ReleaseGate.IMMEDIATE,
        "other_label": Channel.ReleaseGate(other).label,
        "active": active,
        "preview": None if active else publishing.gate_preview(channel, other),
    }


@require_http_methods(["GET", "POST"])
@permission_required(PUBLISH, raise_exception=True)
def channel_gate(request: HttpRequest, slug: str, name: str):
    """A channel's release gate: what changing it would do (which version non-testers get
    next), and the change itself (typed confirmation to open it; refused during a rollout)."""
    channel = _channel(slug, name)
    if request.method == "GET":
        form = ChannelGateForm(channel=channel, initial={"release_gate": channel.release_gate})
        return render(request, "releases/channel_gate.html", _gate_context(channel, form))
    form = ChannelGateForm(request.POST, channel=channel)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            changed = publishing.set_release_gate(
                channel, data["release_gate"], reason=data["reason"]
            )
        except publishing.PublishError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.detail)
            status = exc.status
        else:
            channel.refresh_from_db()
            if changed:
                messages.success(
                    request,
                    f"{channel.name}: new releases now reach clients "
                    + (
                        "only through a rollout."
                        if channel.release_gate == Channel.ReleaseGate.ROLLOUT
                        else "at once, everyone."
                    ),
                )
            else:
                messages.info(request, f"{channel.name} already had this release gate.")
            return redirect("releases:app", slug)
    return render(
        request, "releases/channel_gate.html", _gate_context(channel, form), status=status
    )


@require_POST
@permission_required(PUBLISH, raise_exception=True)
def budgets(request: HttpRequest, slug: str):
    app = _app(slug)
    form = BudgetsForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "releases/app_detail.html",
            _app_context(request, app, budgets_form=form),
            status=400,
        )
    publishing.set_budgets(app, **form.cleaned_data)
    messages.success(request, "Budgets saved; they apply to releases published from now on.")
    return redirect("releases:app", app.slug)


def _publish_context(app: App, form: PublishForm, latest: Release | None) -> dict:
    return {
        "app": app,
        "form": form,
        "latest": latest,
        "bumps": next_versions(latest.version if latest else None),
    }


@csrf_exempt  # the CSRF check reads the body: it runs in _publish, after the handler is set
@permission_required(PUBLISH, raise_exception=True)
def publish(request: HttpRequest, slug: str):
    if request.method == "POST":
        uploads.use_bundle_handler(request)
    return _publish(request, slug)


@csrf_protect
def _publish(request: HttpRequest, slug: str):
    app = _app(slug)
    latest = publishing.latest_release(app)
    wants_json = request.headers.get("X-Upload") == "xhr"
    if request.method == "GET":
        bumps = next_versions(latest.version if latest else None)
        form = PublishForm(
            app=app,
            initial={
                "version": bumps["minor" if latest else "major"],
                "channel": request.GET.get("channel", ""),
            },
        )
        # HTMX (the channel select changed): only the rollback choices for that channel.
        template = "releases/publish.html#rollback" if request.htmx else "releases/publish.html"
        return render(request, template, _publish_context(app, form, latest))
    if request.method != "POST":
        return JsonResponse({"error": "method_not_allowed"}, status=405)
    form = PublishForm(request.POST, request.FILES, app=app)
    status = 400
    upload_error = getattr(request, "bundle_upload_error", None)
    if upload_error is not None:
        form.is_valid()
        form.add_error("bundle", upload_error.detail)
    elif form.is_valid():
        data = form.cleaned_data
        channel = app.channels.filter(name=data["channel"]).first() if data["channel"] else None
        upload = publishing.Upload(
            version=data["version"],
            chunks=data["bundle"],
            changes=data["changes"],
            notes=data["notes"],
            mandatory=data["mandatory"],
            runtime_range=data["runtime"],
            channel=channel,
            rollback_target_version=data["rollback_target"] or None,
        )
        try:
            release = publishing.publish(app, upload, author=request.user)
        except publishing.PublishError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.detail)
            status = exc.status
        else:
            messages.success(request, f"Published {release.version}.")
            url = reverse("releases:release", args=[app.slug, release.version])
            if wants_json:
                return JsonResponse({"redirect": url})
            return redirect(url)
    if wants_json:
        return JsonResponse(
            {"errors": {k: [str(e) for e in v] for k, v in form.errors.items()}}, status=status
        )
    return render(
        request, "releases/publish.html", _publish_context(app, form, latest), status=status
    )


@require_GET
@permission_required(VIEW, raise_exception=True)
def release_detail(request: HttpRequest, slug: str, version: str):
    release = _release(slug, version)
    analysis = release.analysis
    by_type = analysis.get("by_type", {})
    packages = analysis.get("packages", {})
    findings = {f["budget"]: f for f in release.budget_findings}
    tone, label = _status(release)
    can_publish = request.user.has_perm(PUBLISH)
    return render(
        request,
        "releases/release_detail.html",
        {
            "release": release,
            "app": release.app,
            "analysis": analysis,
            "status_tone": tone,
            "status_label": label,
            "blocked": publishing.rollout_blocked_by_budget(release),
            "type_chart": charts.bars([(name, t["raw"]) for name, t in by_type.items()]),
            "package_charts": [
                {
                    "name": name,
                    "chart": charts.bars(
                        [("raw", t["raw"]), ("gzip", t["gzip"]), ("brotli", t["brotli"])],
                        limit=(
                            findings.get("main package" if name == "main" else f"subpackage {name}")
                            or {}
                        ).get("limit"),
                    ),
                }
                for name, t in packages.items()
            ],
            "treemap": charts.treemap(analysis.get("files", [])),
            "diff_chart": charts.diverging(analysis.get("diff")),
            "can_disable": can_publish and not release.is_disabled,
            "can_request_override": can_publish
            and bool(publishing.rollout_blocked_by_budget(release)),
            "reason_form": ReasonForm(),
            "release_rollouts": list(
                release.rollouts.select_related("channel").order_by("-pk")[:10]
            ),
            "can_rollout": request.user.has_perm("accounts.manage_rollouts")
            and not release.is_disabled,
            "rollout_channels": (
                [release.channel]
                if release.channel
                else list(release.app.channels.order_by("name"))
            ),
        },
    )


@require_POST
@permission_required(PUBLISH, raise_exception=True)
def release_disable(request: HttpRequest, slug: str, version: str):
    release = _release(slug, version)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the release is disabled.")
    elif publishing.disable(release, user=request.user, reason=form.cleaned_data["reason"]):
        messages.success(
            request, f"{release.version} is disabled: clients are no longer offered it."
        )
    else:
        messages.info(request, f"{release.version} was already disabled.")
    return redirect("releases:release", slug, version)


@require_POST
@permission_required(PUBLISH, raise_exception=True)
def release_override(request: HttpRequest, slug: str, version: str):
    release = _release(slug, version)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the budget may be exceeded.")
        return redirect("releases:release", slug, version)
    try:
        cr = publishing.request_budget_override(
            release, user=request.user, reason=form.cleaned_data["reason"]
        )
    except publishing.PublishError as exc:
        messages.error(request, exc.detail)
        return redirect("releases:release", slug, version)
    messages.success(request, "Override requested: a second person approves it in Approvals.")
    return redirect("audit:approval", cr.pk)


def dashboard_card(request):
    from console.dashboard import Card

    apps_count = App.objects.count()
    url = reverse("releases:apps")
    if not apps_count:
        return Card("Releases", url, empty="No apps yet: create one, add a channel, publish.")
    week = Release.objects.filter(released_at__gte=timezone.now() - timedelta(days=7)).count()
    # The same condition as publishing.rollout_blocked_by_budget, counted in SQL.
    blocked = Release.objects.filter(
        budget_verdict="over", budget_override_at__isnull=True, disabled_at__isnull=True
    ).count()
    return Card(
        "Releases",
        url,
        stats=[
            ("Apps", apps_count),
            ("Releases", Release.objects.count()),
            ("Published in 7 days", week),
            ("Over budget, testers only", blocked),
        ],
        status="warn" if blocked else "",
        status_label=f"{blocked} over budget" if blocked else "",
    )
