"""System checks for configuration mistakes that would otherwise show up as odd behaviour later."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_task_lease(app_configs=None, **kwargs):
    """The broker must never hand a still-running task to a second worker."""
    q = settings.Q_CLUSTER
    if q.get("retry", 0) < q.get("timeout", 0) + 60:
        return [
            Error(
                "Q_CLUSTER['retry'] must be at least Q_CLUSTER['timeout'] + 60 seconds",
                hint="Otherwise django-q2 redelivers tasks that are still running.",
                id="upkeep.E001",
            )
        ]
    return []


@register()
def check_run_lease(app_configs=None, **kwargs):
    """A run's lease must survive a missed heartbeat, or healthy runs are reaped as lost."""
    if settings.MAINTENANCE_LEASE_SECONDS < 2 * settings.MAINTENANCE_HEARTBEAT_SECONDS:
        return [
            Error(
                "UPKEEP_RUN_LEASE must be at least twice UPKEEP_RUN_HEARTBEAT",
                hint="A single late heartbeat would otherwise mark a healthy run as lost.",
                id="upkeep.E002",
            )
        ]
    return []


@register()
def check_backup_key(app_configs=None, **kwargs):
    """A malformed repository key must stop the process, not silently disable encryption."""
    from backups.crypto import KeyProblem, key_from_env

    try:
        key_from_env()
    except KeyProblem as exc:
        return [
            Error(
                str(exc),
                hint='Generate one with: python -c "import base64, os; '
                'print(base64.b64encode(os.urandom(32)).decode())"',
                id="upkeep.E003",
            )
        ]
    return []
