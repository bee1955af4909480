"""The CI API's plumbing: bearer-token authentication and JSON errors.

Every API view is wrapped by ``api_view``: it answers 401/403/405 itself with
``{"error": code, "detail": ...}`` bodies and puts the token's owner (acting through the token) in
the audit context.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.tokens import authenticate_token
from audit.context import Actor, acting_as


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail, **extra):
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra


def error(status: int, code: str, detail, **extra) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail, **extra}, status=status)


def json_body(request: HttpRequest) -> dict:
    """The request's JSON object body, or ApiError(400)."""
    if not request.body:
        raise ApiError(400, "invalid_json", "the request body is empty; send a JSON object")
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return data


def api_view(
    *, methods: tuple[str, ...] = ("GET",), permission: str | dict[str, str] | None = None
) -> Callable:
    """Token-authenticated JSON endpoint.

    ``permission`` is one permission for every method, or a mapping method → permission.
    """

    def decorate(view):
        @csrf_exempt
        @login_not_required
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if request.method not in methods:
                response = error(405, "method_not_allowed", f"use {', '.join(methods)}")
                response["Allow"] = ", ".join(methods)
                return response
            header = request.headers.get("Authorization", "")
            scheme, _, raw = header.partition(" ")
            if scheme.lower() != "bearer" or not raw.strip():
                return error(401, "unauthorized", "send Authorization: Bearer <token>")
            token = authenticate_token(raw.strip(), ip=getattr(request, "client_ip", ""))
            if token is None:
                return error(
                    401, "unauthorized", "the token is unknown, revoked or its owner is inactive"
                )
            request.user = token.user
            request.api_token = token
            needed = permission.get(request.method) if isinstance(permission, dict) else permission
            if needed and not token.user.has_perm(needed):
                return error(403, "forbidden", f"the token's owner lacks the permission {needed}")
            actor = Actor.for_token(
                token,
                request_id=getattr(request, "request_id", ""),
                ip=getattr(request, "client_ip", ""),
            )
            with acting_as(actor):
                try:
                    return view(request, *args, **kwargs)
                except ApiError as exc:
                    return error(exc.status, exc.code, exc.detail, **exc.extra)

        return wrapper

    return decorate
