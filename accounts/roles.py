"""Roles are groups with permissions. This module is the single definition of both.

A person holds exactly one role. Views check permissions, never role names, so a deployment may
add its own groups without touching code.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

# codename -> description; all live on accounts.Console (a model with no table rows of its own).
PERMISSIONS: dict[str, str] = {
    "view_console": "Read every page of the console",
    "run_maintenance": "Run maintenance jobs and work checklists",
    "run_backups": "Start backups and verifications",
    "restore_nonproduction": "Restore backups to non-production targets",
    "request_production_restore": "Request a restore of a production target (four-eyes)",
    "publish_release": "Publish releases and upload bundles",
    "manage_rollouts": "Start, pause, resume, abort and roll back rollouts",
    "approve_rollouts": "Approve or reject rollout phases and overrides",
    "manage_users": "Manage people, roles and settings",
    "approve_admin_changes": "Approve changes to roles and settings made by another admin",
    "break_glass": "Break-glass actions: promote now, skip analysis, fast rollback",
}


@dataclass(frozen=True)
class Role:
    slug: str
    name: str
    permissions: tuple[str, ...]
    staff: bool = False  # may open Django admin


VIEWER = Role("viewer", "Viewer", ("view_console",))
OPERATOR = Role(
    "operator",
    "Operator",
    (
        "view_console",
        "run_maintenance",
        "run_backups",
        "restore_nonproduction",
        "request_production_restore",
    ),
)
RELEASE_MANAGER = Role(
    "release_manager",
    "Release manager",
    ("view_console", "publish_release", "manage_rollouts", "approve_rollouts"),
)
ADMIN = Role("admin", "Admin", tuple(PERMISSIONS), staff=True)

ROLES: dict[str, Role] = {r.slug: r for r in (VIEWER, OPERATOR, RELEASE_MANAGER, ADMIN)}
ROLE_BY_NAME: dict[str, Role] = {r.name: r for r in ROLES.values()}


def sync_roles(apps=None) -> None:
    """Create the permissions and the four groups, and set each group's permissions exactly.

    Called from a migration (with the historical ``apps``) and from the commands that create
    users, so a fresh database always has the roles.
    """
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    group_model = apps.get_model("auth", "Group")
    with transaction.atomic():
        ct, _ = content_type_model.objects.get_or_create(app_label="accounts", model="console")
        perms = {}
        for codename, description in PERMISSIONS.items():
            perm, _ = permission_model.objects.get_or_create(
                content_type=ct, codename=codename, defaults={"name": description}
            )
            perms[codename] = perm
        for role in ROLES.values():
            group, _ = group_model.objects.get_or_create(name=role.name)
            group.permissions.set([perms[c] for c in role.permissions])


def role_of(user) -> Role | None:
    """The user's role (the strongest, should several groups be set by hand), or None."""
    if not user.is_authenticated:
        return None
    names = {g.name for g in user.groups.all()}
    for role in (ADMIN, RELEASE_MANAGER, OPERATOR, VIEWER):
        if role.name in names:
            return role
    return None


def assign_role(user, role: Role) -> None:
    """Give ``user`` exactly ``role``. Admins are staff and superusers (Django admin access)."""
    from django.contrib.auth.models import Group

    sync_roles()
    with transaction.atomic():
        user.groups.set([Group.objects.get(name=role.name)])
        user.is_staff = role.staff
        user.is_superuser = role.staff
        user.save(update_fields=["is_staff", "is_superuser"])
