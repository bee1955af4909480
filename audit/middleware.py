import re

from django.conf import settings

from audit.context import Actor, new_request_id, reset_actor, set_actor

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def client_ip(request) -> str:
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.META.get("REMOTE_ADDR", "")[:64]


class AuditContextMiddleware:
    """Puts the acting user, a request id and the client address in the audit context."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.headers.get("X-Request-ID", "")
        request.request_id = supplied if _REQUEST_ID.match(supplied) else new_request_id()
        request.client_ip = client_ip(request)
        token = set_actor(
            Actor.for_user(request.user, request_id=request.request_id, ip=request.client_ip)
        )
        try:
            response = self.get_response(request)
        finally:
            reset_actor(token)
        response["X-Request-ID"] = request.request_id
        return response
