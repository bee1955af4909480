"""The CI API (token-authenticated) and the two public client endpoints (update, bundle).

Status codes: 201 created, 200 read, 400 bad input (``{"error", "detail", "field"?}``), 401 no
or bad token, 403 role lacks the permission, 404 unknown app / key / bundle, 409 conflict
(duplicate or lower version, identical bundle, existing slug or channel name).
"""

from __future__ import annotations

import json
import os
import re
from urllib.parse import parse_qsl

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import (
    FileResponse,
    HttpResponse,
    HttpResponseNotModified,
    JsonResponse,
    StreamingHttpResponse,
)
from django.views.decorators.http import require_http_methods

from accounts.api import ApiError, api_view, error, json_body
from releases import bundles, publishing, update, uploads
from releases.models import App, Channel, Release
from releases.openapi import document_bytes
from releases.serializers import app_json, channel_json, release_json
from releases.versioning import VersionError, newest_first, normalise

PER_PAGE, MAX_PER_PAGE = 20, 100


def _app(slug: str) -> App:
    app = App.objects.filter(slug=slug).first()
    if app is None:
        raise ApiError(404, "not_found", f"no app {slug!r}")
    return app


def _refused(exc: publishing.PublishError) -> JsonResponse:
    extra = {"field": exc.field} if exc.field else {}
    return error(exc.status, exc.code, exc.detail, **extra)


@api_view(methods=("POST",), permission="accounts.publish_release")
def apps(request):
    data = json_body(request)
    try:
        app = publishing.create_app(
            slug=str(data.get("slug", "")), name=str(data.get("name", "")), owner=request.user
        )
    except publishing.PublishError as exc:
        return _refused(exc)
    return JsonResponse(app_json(app, []), status=201)


@api_view(methods=("GET",), permission="accounts.view_console")
def app_detail(request, slug):
    app = _app(slug)
    return JsonResponse(app_json(app, list(app.channels.order_by("name"))))


@api_view(methods=("POST",), permission="accounts.publish_release")
def channels(request, slug):
    app = _app(slug)
    data = json_body(request)
    try:
        channel = publishing.create_channel(
            app,
            name=str(data.get("name", "")),
            upload_policy=str(data.get("upload_policy", Channel.UploadPolicy.REJECT)),
            is_production=bool(data.get("is_production", False)),
            release_gate=str(data.get("release_gate", Channel.ReleaseGate.ROLLOUT)),
        )
    except publishing.PublishError as exc:
        return _refused(exc)
    return JsonResponse(channel_json(channel), status=201)


@api_view(methods=("PATCH",), permission="accounts.publish_release")
def channel_settings(request, slug, name):
    """Change a channel's settings: today its ``release_gate`` (and an optional ``reason`` for
    the audit trail). 409 while a rollout is active on the channel."""
    app = _app(slug)
    channel = app.channels.filter(name=name).first()
    if channel is None:
        raise ApiError(404, "not_found", f"no channel {slug}/{name}")
    data = json_body(request)
    unknown = set(data) - {"release_gate", "reason"}
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown field(s) {', '.join(sorted(unknown))}")
    if "release_gate" not in data:
        raise ApiError(400, "invalid_field", "send release_gate", field="release_gate")
    gate, reason = data["release_gate"], data.get("reason", "")
    if not isinstance(reason, str):
        raise ApiError(400, "invalid_field", "reason is a string", field="reason")
    if not isinstance(gate, str):
        gate = ""  # refused below as invalid_gate
    try:
        publishing.set_release_gate(channel, gate, reason=reason)
    except publishing.PublishError as exc:
        return _refused(exc)
    channel.refresh_from_db()
    return JsonResponse(channel_json(channel))


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}


def _flag(value: str, name: str) -> bool:
    value = value.strip().lower()
    if value in _TRUE | _FALSE:
        return value in _TRUE
    raise ApiError(400, "invalid_field", f"{name} is true or false", field=name)


@api_view(
    methods=("GET", "POST"),
    permission={"GET": "accounts.view_console", "POST": "accounts.publish_release"},
)
def releases(request, slug):
    app = _app(slug)
    if request.method == "GET":
        return _release_list(request, app)
    if not request.content_type.startswith("multipart/form-data"):
        raise ApiError(400, "invalid_body", "send multipart/form-data with version and bundle")
    uploads.use_bundle_handler(request)  # before the body is read
    bundle = request.FILES.get("bundle")
    if getattr(request, "bundle_upload_error", None):
        exc = request.bundle_upload_error
        raise ApiError(400, exc.code, exc.detail, field="bundle")
    if bundle is None:
        raise ApiError(400, "invalid_field", "bundle (a zip file) is required", field="bundle")
    if not request.POST.get("version"):
        raise ApiError(400, "invalid_field", "version is required", field="version")
    changes = request.POST.get("changes", "")
    if changes.strip().startswith("["):
        try:
            changes = json.loads(changes)
        except ValueError:
            raise ApiError(
                400, "invalid_changes", "changes is not valid JSON", field="changes"
            ) from None
    channel = None
    if request.POST.get("channel"):
        channel = app.channels.filter(name=request.POST["channel"]).first()
        if channel is None:
            raise ApiError(
                400,
                "invalid_channel",
                f"{app.slug} has no channel {request.POST['channel']!r}",
                field="channel",
            )
    upload = publishing.Upload(
        version=request.POST["version"],
        chunks=bundle,
        changes=changes,
        notes=request.POST.get("notes", ""),
        mandatory=_flag(request.POST.get("mandatory", ""), "mandatory"),
        runtime_range=request.POST.get("runtime", ""),
        channel=channel,
        rollback_target_version=request.POST.get("rollback_target") or None,
    )
    try:
        release = publishing.publish(app, upload, author=request.user)
    except publishing.PublishError as exc:
        return _refused(exc)
    return JsonResponse(release_json(release, request, with_analysis=True), status=201)


def _release_list(request, app: App) -> JsonResponse:
    try:
        page = int(request.GET.get("page", "1"))
        per_page = int(request.GET.get("per_page", PER_PAGE))
    except ValueError:
        raise ApiError(400, "invalid_page", "page and per_page are whole numbers") from None
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ApiError(400, "invalid_page", f"page ≥ 1 and 1 ≤ per_page ≤ {MAX_PER_PAGE}")
    rows = newest_first(
        Release.objects.for_app(app)
        .defer("analysis")
        .select_related("channel", "author", "previous", "rollback_target")
    )
    chunk = rows[(page - 1) * per_page : page * per_page]
    more = page * per_page < len(rows)
    return JsonResponse(
        {
            "results": [release_json(r, request) for r in chunk],
            "page": page,
            "per_page": per_page,
            "total": len(rows),
            "next": (
                request.build_absolute_uri(f"{request.path}?page={page + 1}&per_page={per_page}")
                if more
                else None
            ),
        }
    )


@login_not_required
@require_http_methods(["GET", "HEAD"])
def openapi(request):
    """The OpenAPI 3.1 document: public, like any API reference."""
    return HttpResponse(document_bytes(), content_type="application/json")


# --- public client endpoints -----------------------------------------------------------------

_INSTALL_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@login_not_required
@require_http_methods(["GET"])
def update_check(request):
    """``GET /api/v1/update?key=&current=&runtime=&install_id=``: see releases/API.md."""
    # parse_qsl rather than request.GET: a QueryDict costs a measurable share of a check. The
    # first value of a repeated parameter wins; only the four known names are ever read.
    try:
        params = {}
        for name, value in parse_qsl(
            request.META.get("QUERY_STRING", ""), keep_blank_values=True, max_num_fields=20
        ):
            params.setdefault(name, value)
    except ValueError:
        return error(400, "invalid_parameter", "too many query parameters")
    key = params.get("key", "")
    if not key:
        return error(
            400, "invalid_parameter", "key (the channel's client key) is required", field="key"
        )
    try:
        current = normalise(params.get("current", ""))
    except VersionError as exc:
        return error(400, "invalid_parameter", f"current: {exc}", field="current")
    try:
        runtime = normalise(params.get("runtime", ""), loose=True)
    except VersionError as exc:
        return error(400, "invalid_parameter", f"runtime: {exc}", field="runtime")
    install_id = params.get("install_id") or None
    if install_id is not None and not _INSTALL_ID.match(install_id):
        return error(
            400,
            "invalid_parameter",
            "install_id is 1-128 letters, digits and . _ : -",
            field="install_id",
        )
    try:
        result = update.answer(key=key, runtime=runtime, current=current, install_id=install_id)
    except update.UnknownKey:
        return error(404, "unknown_key", "no channel has this client key (or it expired)")
    if result["url"]:
        result["url"] = settings.SITE_URL + result["url"]
    # json.dumps straight away: JsonResponse's encoder costs a measurable share of a check.
    response = HttpResponse(json.dumps(result), content_type="application/json")
    response["Cache-Control"] = "no-store"  # per install: never shared by a proxy
    response["Access-Control-Allow-Origin"] = "*"  # H5 builds ask from their own origin (SDK)
    return response


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _byte_range(header: str, size: int) -> tuple[int, int] | str | None:
    """(start, end inclusive), None to serve everything, or "unsatisfiable"."""
    match = _RANGE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None  # multiple or malformed ranges: the whole body is a valid answer
    first, last = match.group(1), match.group(2)
    if not first:
        length = int(last)
        if length == 0:
            return "unsatisfiable"
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return "unsatisfiable"
    return start, end


def _file_slice(path, start: int, length: int):
    with open(path, "rb") as f:
        f.seek(start)
        while length > 0:
            chunk = f.read(min(bundles.CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk


@login_not_required
@require_http_methods(["GET", "HEAD"])
def bundle(request, sha256):
    """The bundle bytes by content hash: immutable, cacheable forever, with Range support."""
    path = bundles.bundle_path(sha256)
    if not Release.objects.filter(bundle_sha256=sha256).exists() or not path.exists():
        return error(404, "not_found", "no bundle with this SHA-256")
    etag = f'"{sha256}"'
    size = os.path.getsize(path)
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=31536000, immutable",
        "Accept-Ranges": "bytes",
        "Access-Control-Allow-Origin": "*",  # the SDK downloads and verifies from any origin
    }
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
        for name, value in headers.items():
            response[name] = value
        return response
    wanted = None
    if "Range" in request.headers and request.headers.get("If-Range", etag) == etag:
        wanted = _byte_range(request.headers["Range"], size)
    if wanted == "unsatisfiable":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    elif wanted is None:
        # FileResponse closes the file when the response is done.
        response = FileResponse(open(path, "rb"), content_type="application/zip")  # noqa: SIM115
        response["Content-Length"] = str(size)
    else:
        start, end = wanted
        response = StreamingHttpResponse(
            _file_slice(path, start, end - start + 1), status=206, content_type="application/zip"
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    for name, value in headers.items():
        response[name] = value
    return response
