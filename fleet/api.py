"""The fleet CI API: start a rolling deployment and read it (token-authenticated JSON)."""

from __future__ import annotations

from django.http import JsonResponse

from accounts.api import ApiError, api_view, error, json_body
from fleet import deployments
from fleet.models import Fleet, RollingDeployment


def deployment_json(deployment: RollingDeployment) -> dict:
    return {
        "id": deployment.pk,
        "fleet": deployment.fleet.name,
        "release": deployment.release.version,
        "sha256": deployment.release.bundle_sha256,
        "state": deployment.state,
        "reason": deployment.reason,
        "batch_size": deployment.batch_size,
        "failure_budget": deployment.failure_budget,
        "hosts_total": deployment.hosts_total,
        "hosts_done": deployment.hosts_done,
        "failures": deployment.failures,
        "abort_requested": deployment.abort_requested_at is not None,
        "created_at": deployment.created_at.isoformat(),
        "finished_at": deployment.finished_at.isoformat() if deployment.finished_at else None,
        "steps": [
            {
                "host": s.host_name,
                "batch": s.batch + 1,
                "state": s.state,
                "error": s.error,
                "rollback_error": s.rollback_error,
            }
            for s in deployment.steps.order_by("position")
        ],
    }


def _deployment(pk: int) -> RollingDeployment:
    found = RollingDeployment.objects.select_related("fleet", "release").filter(pk=pk).first()
    if found is None:
        raise ApiError(404, "not_found", f"no fleet deployment {pk}")
    return found


@api_view(methods=("POST",), permission="accounts.manage_rollouts")
def start(request, name):
    fleet = Fleet.objects.select_related("app", "channel").filter(name=name).first()
    if fleet is None:
        raise ApiError(404, "not_found", f"no fleet {name}")
    data = json_body(request)
    unknown = set(data) - {"version"}
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown field(s) {', '.join(sorted(unknown))}")
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise ApiError(400, "invalid_field", "version is required", field="version")
    release = deployments.deployable_releases(fleet).filter(version=version).first()
    if release is None:
        raise ApiError(404, "not_found", f"no enabled release {version} for fleet {name}")
    try:
        deployment = deployments.start(fleet, release, user=request.user)
    except deployments.DeploymentError as exc:
        return error(exc.status, exc.code, exc.detail)
    return JsonResponse(deployment_json(_deployment(deployment.pk)), status=201)


@api_view(methods=("GET",), permission="accounts.view_console")
def detail(request, pk):
    return JsonResponse(deployment_json(_deployment(pk)))
