"""django-q2 entry points. Each takes primary keys, re-reads its rows and is idempotent."""

from __future__ import annotations

from audit.context import Actor, acting_as


def run_backup(backup_pk: int) -> str:
    from backups.jobs import run_backup as run
    from backups.models import Backup

    backup = Backup.objects.get(pk=backup_pk)
    with acting_as(Actor.for_run(f"backup#{backup_pk}", backup.requested_by)):
        return run(backup_pk).status


def run_restore(restore_pk: int) -> str:
    from backups.models import Restore
    from backups.restores import run_restore as run

    restore = Restore.objects.get(pk=restore_pk)
    with acting_as(Actor.for_run(f"restore#{restore_pk}", restore.requested_by)):
        return run(restore_pk).status


def run_verify(run_pk: int) -> str:
    from backups.jobs import run_verify as run

    with acting_as(Actor.for_run(f"verify#{run_pk}")):
        return run(run_pk).status


def run_retention(source_pk: int) -> int:
    from backups.jobs import run_retention as run

    with acting_as(Actor.for_run(f"retention#{source_pk}")):
        return run(source_pk).removed


def run_drill(source_pk: int) -> str:
    from backups.restores import run_drill as run

    with acting_as(Actor.for_run(f"drill#{source_pk}")):
        restore = run(source_pk)
        return restore.status if restore else "no backup"
