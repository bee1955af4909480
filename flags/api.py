"""The flags CI API: create a flag (dark), read it, kill it (token-authenticated JSON).

Wired under ``/api/v1/`` by ``flags.api_urls`` (namespace ``api_flags``); see flags/README.md.
"""

from __future__ import annotations

from django.http import JsonResponse

from accounts.api import ApiError, api_view, error, json_body
from flags import ramp
from flags.models import Flag
from releases.models import App, Channel

CREATE_FIELDS = {"key", "min_version", "description", "variants", "testers", "phases", "metrics"}


def _refused(exc: ramp.FlagError) -> JsonResponse:
    extra = {"field": exc.field} if exc.field else {}
    return error(exc.status, exc.code, exc.detail, **extra)


def _flag(pk: int) -> Flag:
    flag = Flag.objects.select_related("app", "channel").filter(pk=pk).first()
    if flag is None:
        raise ApiError(404, "not_found", f"no flag {pk}")
    return flag


@api_view(methods=("POST",), permission="accounts.manage_rollouts")
def create(request, slug, name):
    app = App.objects.filter(slug=slug).first()
    channel = Channel.objects.filter(app=app, name=name).first() if app else None
    if channel is None:
        raise ApiError(404, "not_found", f"no channel {slug}/{name}")
    data = json_body(request)
    unknown = set(data) - CREATE_FIELDS
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown field(s) {', '.join(sorted(unknown))}")
    for text in ("key", "min_version", "description"):
        if text in data and not isinstance(data[text], str):
            raise ApiError(400, "invalid_field", f"{text} is a string", field=text)
    try:
        flag = ramp.create(
            channel,
            key=data.get("key", ""),
            min_version=data.get("min_version", ""),
            description=data.get("description", ""),
            variants=data.get("variants"),
            testers=data.get("testers"),
            phases=data.get("phases"),
            metrics=data.get("metrics"),
            user=request.user,
        )
    except ramp.FlagError as exc:
        return _refused(exc)
    return JsonResponse(ramp.flag_json(_flag(flag.pk)), status=201)


@api_view(methods=("GET",), permission="accounts.view_console")
def detail(request, pk):
    return JsonResponse(ramp.flag_json(_flag(pk)))


@api_view(methods=("POST",), permission="accounts.manage_rollouts")
def kill(request, pk):
    flag = _flag(pk)
    reason = json_body(request).get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ApiError(400, "reason_required", "say why the flag is killed", field="reason")
    try:
        if not ramp.kill(flag, reason=reason):
            return error(409, "stale", "the flag changed meanwhile; read it again")
    except ramp.FlagError as exc:
        return _refused(exc)
    return JsonResponse(ramp.flag_json(_flag(pk)))
