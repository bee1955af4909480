"""The public telemetry endpoint clients post their batches to (authenticated by client key)."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from accounts.api import error
from monitoring import ingest


@csrf_exempt
@login_not_required
def telemetry(request: HttpRequest) -> JsonResponse:
    """``POST /api/v1/telemetry?key=<client_key>``: see monitoring/README.md for the contract."""
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204))
    if request.method != "POST":
        response = error(405, "method_not_allowed", "use POST")
        response["Allow"] = "POST, OPTIONS"
        return _cors(response)
    return _cors(_ingest(request))


def _cors(response: HttpResponse) -> HttpResponse:
    """Any origin may post: H5 builds run on their own domains. No cookies are read or set, and
    the client key in the URL is public by design (it ships inside every bundle)."""
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "86400"
    return response


def _ingest(request: HttpRequest) -> JsonResponse:
    now = timezone.now()
    channel = ingest.find_channel(request.GET.get("key", ""), now=now)
    if channel is None:
        return error(404, "unknown_key", "no channel has this client key (?key=...)")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > ingest.MAX_BODY_BYTES:
        return _too_large()
    body = request.body
    if len(body) > ingest.MAX_BODY_BYTES:
        return _too_large()
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return error(400, "invalid_json", f"the body is not valid JSON: {exc}")
    try:
        batch = ingest.validate(payload, now=now)
    except ingest.InvalidBatch as exc:
        extra = {} if exc.index is None else {"index": exc.index}
        return error(400, exc.code, exc.detail, **extra)
    accepted = ingest.store(channel, batch, now=now)
    return JsonResponse({"accepted": accepted}, status=202)


def _too_large() -> JsonResponse:
    return error(
        413, "too_large", f"a batch body may be at most {ingest.MAX_BODY_BYTES} bytes; send less"
    )
