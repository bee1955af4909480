from django.contrib.auth.decorators import login_not_required, permission_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from console import dashboard, liveness


@permission_required("accounts.view_console", raise_exception=True)
def home(request):
    return render(request, "console/dashboard.html", {"cards": dashboard.cards_for(request)})


@permission_required("accounts.view_console", raise_exception=True)
def liveness_banner(request):
    """The banner alone, polled by HTMX so a page left open notices a dead worker."""
    return render(request, "_liveness.html")


@login_not_required
def healthz(request):
    """For load balancers: the database answers, and are the worker and controller seen?"""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    verdict = liveness.status()
    body = {name: {"state": s.state, "detail": s.detail} for name, s in verdict.items()}
    body["database"] = {"state": "alive"}
    return JsonResponse(body)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def handler404(request, exception=None):
    if _is_api(request):
        return JsonResponse({"error": "not_found", "detail": "no such resource"}, status=404)
    return render(request, "404.html", status=404)


def handler403(request, exception=None):
    if _is_api(request):
        return JsonResponse({"error": "forbidden", "detail": str(exception or "")}, status=403)
    return render(request, "403.html", status=403)


def handler500(request):
    if _is_api(request):
        return JsonResponse({"error": "server_error", "detail": "see the server log"}, status=500)
    return render(request, "500.html", status=500)
