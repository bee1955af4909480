"""How the console hands work to django-q2, and the tasks the console itself runs.

Tasks take primary keys (never model instances), re-read their rows and are idempotent: the
broker may deliver twice, and the console's own records decide what actually happens.
"""

from __future__ import annotations

from django.db import transaction


def enqueue(func: str, *args, group: str | None = None, **kwargs) -> None:
    """Queue ``func`` (a dotted path) once the surrounding transaction commits.

    Queuing after commit means a worker never picks up a task whose rows it cannot see yet, and
    a rolled-back change never leaves a task behind.
    """
    from django_q.tasks import async_task

    options = {"group": group} if group else {}
    transaction.on_commit(lambda: async_task(func, *args, **kwargs, **options))


def worker_heartbeat() -> str:
    """Runs inside a worker: proves that a worker is picking up tasks."""
    from django.utils import timezone

    from console.liveness import beat, process_name
    from console.models import WorkerProbe

    now = timezone.now()
    name = process_name()
    beat("worker", name, now=now)
    WorkerProbe.objects.filter(pk=1).update(answered_at=now)
    return name
