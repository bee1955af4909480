"""django-q2 entry points. Each takes primary keys, re-reads its rows and is idempotent."""

from __future__ import annotations

from audit.context import Actor, acting_as


def drive_deployment(deployment_pk: int) -> str:
    """Drive a rolling deployment (a second copy of this task finds it claimed: "busy")."""
    from fleet import driver
    from fleet.models import RollingDeployment

    deployment = RollingDeployment.objects.select_related("started_by").get(pk=deployment_pk)
    with acting_as(Actor.for_run(f"rolling#{deployment_pk}", deployment.started_by)):
        return driver.drive(deployment_pk)
