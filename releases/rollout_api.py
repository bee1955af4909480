"""The rollouts CI API: start a canary or a blue-green, read it, abort it, and a blue-green's
switch and flip back (token-authenticated JSON; the same functions, permissions and refusals as
the rollout page's buttons)."""

from __future__ import annotations

from django.http import JsonResponse

from accounts.api import ApiError, api_view, error, json_body
from releases import bluegreen, rollouts
from releases.models import App, Channel, Release, Rollout


def _refused(exc: rollouts.RolloutError) -> JsonResponse:
    extra = {"field": exc.field} if exc.field else {}
    return error(exc.status, exc.code, exc.detail, **extra)


def _rollout(pk: int) -> Rollout:
    rollout = Rollout.objects.select_related("app", "channel", "release", "started_by")
    rollout = rollout.filter(pk=pk).first()
    if rollout is None:
        raise ApiError(404, "not_found", f"no rollout {pk}")
    return rollout


@api_view(methods=("POST",), permission="accounts.manage_rollouts")
def start(request, slug, name):
    app = App.objects.filter(slug=slug).first()
    channel = Channel.objects.filter(app=app, name=name).first() if app else None
    if channel is None:
        raise ApiError(404, "not_found", f"no channel {slug}/{name}")
    data = json_body(request)
    unknown = set(data) - {"version", "strategy", "phases", "metrics", *bluegreen.OPTION_FIELDS}
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown field(s) {', '.join(sorted(unknown))}")
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise ApiError(400, "invalid_field", "version is required", field="version")
    release = Release.objects.for_channel(channel).filter(version=version).first()
    if release is None:
        raise ApiError(404, "not_found", f"no release {version} on {slug}/{name}")
    # Blue-green options (probes, window_seconds, ...) go to its own parser; a canary refuses
    # them with 400 rather than ignoring them.
    options = {k: data[k] for k in bluegreen.OPTION_FIELDS if k in data}
    try:
        rollout = rollouts.start(
            channel,
            release,
            user=request.user,
            phases=data.get("phases"),
            metrics=data.get("metrics"),
            strategy=data.get("strategy", "canary"),
            blue_green=options or None,
        )
    except rollouts.RolloutError as exc:
        return _refused(exc)
    return JsonResponse(rollouts.rollout_json(_rollout(rollout.pk)), status=201)


@api_view(methods=("GET",), permission="accounts.view_console")
def detail(request, pk):
    return JsonResponse(rollouts.rollout_json(_rollout(pk)))


@api_view(methods=("POST",), permission="accounts.manage_rollouts")
def abort(request, pk):
    rollout = _rollout(pk)
    data = json_body(request)
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ApiError(400, "reason_required", "say why the rollout is aborted", field="reason")
    try:
        if not rollouts.abort(rollout, reason=reason):
            return error(409, "stale", "the rollout changed meanwhile; read it again")
    except rollouts.RolloutError as exc:
        return _refused(exc)
    return JsonResponse(rollouts.rollout_json(_rollout(pk)))


def _optional_body(request, allowed: set[str]) -> dict:
    """An empty body, or a JSON object with only ``allowed`` fields (anything else is a 400:
    refused, not ignored)."""
    if not request.body.strip():
        return {}
    data = json_body(request)
    unknown = set(data) - allowed
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown field(s) {', '.join(sorted(unknown))}")
    return data


@api_view(methods=("POST",), permission="accounts.manage_rollouts")
def switch(request, pk):
    """Blue-green: run the pre-switch checks and switch all traffic (200), or ask the channel's
    approvers first (202). A failed check changes nothing and is a 409 ``check_failed`` naming
    each failure (the check is stored and shown like the page's)."""
    rollout = _rollout(pk)
    _optional_body(request, set())
    try:
        outcome = bluegreen.request_switch(rollout, user=request.user)
    except rollouts.RolloutError as exc:
        return _refused(exc)
    body = rollouts.rollout_json(_rollout(pk))
    if outcome == "check_failed":
        checks = body["blue_green"]["checks"]
        return error(
            409,
            "check_failed",
            checks[0]["summary"] if checks else "the pre-switch checks failed",
            check=checks[0] if checks else None,
            rollout=body,
        )
    return JsonResponse(body, status=202 if outcome == "awaiting_approval" else 200)


@api_view(methods=("POST",), permission="accounts.manage_rollouts")
def flip_back(request, pk):
    """Blue-green: all traffic back to the previous release (the blue slot), reason required."""
    rollout = _rollout(pk)
    reason = _optional_body(request, {"reason"}).get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ApiError(400, "reason_required", "say why traffic flips back", field="reason")
    try:
        if not bluegreen.flip_back(rollout, reason=reason, user=request.user):
            return error(409, "stale", "the rollout changed meanwhile; read it again")
    except rollouts.RolloutError as exc:
        return _refused(exc)
    return JsonResponse(rollouts.rollout_json(_rollout(pk)))
