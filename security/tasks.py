"""django-q2 entry points of the security app. Each takes a primary key and is idempotent."""

from __future__ import annotations

from audit.context import Actor, acting_as


def run_patch(patch_pk: int) -> str:
    """Drive a security patch (``security.patches.run``): acts for the person who prepared it."""
    from security import patches
    from security.models import SecurityPatch

    patch = SecurityPatch.objects.select_related("requested_by").filter(pk=patch_pk).first()
    if patch is None:
        return f"no security patch #{patch_pk}"
    with acting_as(Actor.for_run(f"security.patch#{patch_pk}", patch.requested_by)):
        return patches.run(patch_pk)
