"""The job types this app makes real: data cleanup, database optimisation, health check,
allowlisted management commands and the security scan (``maintenance.security``). Backups,
restore drills and verification are declared here and get their runners from the backups app
(see ``jobtypes``)."""

from __future__ import annotations

import io
import time
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from console.outbound import no_redirect_opener
from maintenance import jobtypes, security
from maintenance.jobtypes import ParamsError, int_param, no_extra_params, register
from maintenance.models import Run
from maintenance.runcontext import context

# Tables data cleanup may touch: model label → the date column that decides age. Audited models
# (the audit trail, run history of other areas) are deliberately absent: they have their own
# retention rules.
CLEANUP_TABLES: dict[str, str] = {
    "django_q.task": "stopped",
    "notifications.notification": "created_at",
    "sessions.session": "expire_date",
    "console.heartbeat": "at",
}
CLEANUP_MAX_BATCH = 5000

# Management commands a job may run, with what they do. A constant on purpose: a setting or a
# form field would let anyone with maintenance rights run any command.
ALLOWED_COMMANDS: dict[str, str] = {
    "verify_audit": "Verify the hash chain of the audit trail",
    "clearsessions": "Delete expired sessions",
}


# ---------------------------------------------------------------- data cleanup


def validate_cleanup(params: dict[str, Any]) -> dict[str, Any]:
    no_extra_params(params, {"table", "keep_days", "batch_size", "dry_run"})
    table = params.get("table")
    if table not in CLEANUP_TABLES:
        raise ParamsError(
            f"table must be one of: {', '.join(sorted(CLEANUP_TABLES))} (got {table!r})"
        )
    return {
        "table": table,
        "keep_days": int_param(params, "keep_days", 30, low=1, high=3650),
        "batch_size": int_param(params, "batch_size", 500, low=1, high=CLEANUP_MAX_BATCH),
        "dry_run": bool(params.get("dry_run", False)),
    }


def _cleanup_model(table: str):
    app_label, model_name = table.split(".")
    return apps.get_model(app_label, model_name)


def run_cleanup(run_pk: int) -> str:
    """Delete rows older than keep_days in batches of primary keys.

    The cutoff is frozen at the first attempt and kept in the checkpoint, so a retry resumes
    with the same cutoff (rows that aged meanwhile wait for the next run). Each batch is its
    own transaction; dry run only counts.
    """
    ctx = context(run_pk)
    params = validate_cleanup(Run.objects.get(pk=run_pk).job.params)
    model = _cleanup_model(params["table"])
    column = CLEANUP_TABLES[params["table"]]
    if "cutoff" not in ctx.checkpoint:
        cutoff = timezone.now() - timedelta(days=params["keep_days"])
        ctx.save_checkpoint(cutoff=cutoff.isoformat(), deleted=0)
    cutoff = timezone.datetime.fromisoformat(ctx.checkpoint["cutoff"])
    old = model._base_manager.filter(**{f"{column}__lt": cutoff})
    total = old.count()
    ctx.log(f"{params['table']}: {total} rows older than {cutoff:%Y-%m-%d %H:%M} UTC")
    if params["dry_run"]:
        ctx.progress(total, total)
        return f"dry run: {total} rows in {params['table']} would be deleted"
    deleted = int(ctx.checkpoint.get("deleted", 0))
    ctx.progress(0, total)
    done = 0
    while True:
        ctx.check()
        pks = list(old.order_by("pk").values_list("pk", flat=True)[: params["batch_size"]])
        if not pks:
            break
        with transaction.atomic():
            model._base_manager.filter(pk__in=pks).delete()
        done += len(pks)
        deleted += len(pks)
        ctx.progress(done, total)
        ctx.save_checkpoint(deleted=deleted)
        ctx.log(f"deleted {len(pks)} rows ({done}/{total})")
    return f"deleted {done} rows from {params['table']} older than {params['keep_days']} days"


# ---------------------------------------------------------------- database optimisation


def validate_optimise(params: dict[str, Any]) -> dict[str, Any]:
    no_extra_params(params, {"statement_timeout_s", "lock_timeout_s", "stale_after_changes"})
    return {
        "statement_timeout_s": int_param(params, "statement_timeout_s", 300, low=1, high=86400),
        "lock_timeout_s": int_param(params, "lock_timeout_s", 5, low=1, high=600),
        "stale_after_changes": int_param(params, "stale_after_changes", 1000, low=1, high=10**9),
    }


def run_optimise(run_pk: int) -> str:
    ctx = context(run_pk)
    params = validate_optimise(Run.objects.get(pk=run_pk).job.params)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA quick_check")
            check = [row[0] for row in cursor.fetchall()]
            ctx.log(f"quick_check: {'; '.join(check[:20])}")
            if check != ["ok"]:
                raise RuntimeError(f"PRAGMA quick_check found problems: {check[:5]}")
            cursor.execute("PRAGMA optimize")
            cursor.execute("PRAGMA page_count")
            pages = cursor.fetchone()[0]
            cursor.execute("PRAGMA freelist_count")
            free = cursor.fetchone()[0]
        share = free / pages if pages else 0.0
        ctx.log(f"optimize done; {free} of {pages} pages free ({share:.1%})")
        hint = "; VACUUM would return space" if share > 0.2 else ""
        return f"integrity ok, optimized, {free}/{pages} pages free ({share:.1%}){hint}"
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = %s", [f"{params['lock_timeout_s']}s"])
            cursor.execute(
                "SET LOCAL statement_timeout = %s", [f"{params['statement_timeout_s']}s"]
            )
            cursor.execute(
                "SELECT relname, n_mod_since_analyze FROM pg_stat_user_tables "
                "WHERE n_mod_since_analyze >= %s ORDER BY n_mod_since_analyze DESC",
                [params["stale_after_changes"]],
            )
            stale = cursor.fetchall()
            for name, changes in stale[:50]:
                ctx.log(f"stale statistics: {name} ({changes} changes since last analyze)")
            started = time.monotonic()
            cursor.execute("ANALYZE")
            took = time.monotonic() - started
        ctx.log(f"ANALYZE took {took:.2f}s")
        return f"ANALYZE done in {took:.1f}s; {len(stale)} tables had stale statistics"
    raise RuntimeError(f"no optimisation defined for database {connection.vendor}")


# ---------------------------------------------------------------- health check


def validate_health(params: dict[str, Any]) -> dict[str, Any]:
    no_extra_params(params, {"url", "expected_status", "timeout_s"})
    url = params.get("url", "")
    parts = urlsplit(url if isinstance(url, str) else "")
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ParamsError("url must be an http:// or https:// address")
    return {
        "url": url,
        "expected_status": int_param(params, "expected_status", 200, low=100, high=599),
        "timeout_s": int_param(params, "timeout_s", 10, low=1, high=300),
    }


def run_health(run_pk: int) -> str:
    ctx = context(run_pk)
    params = validate_health(Run.objects.get(pk=run_pk).job.params)
    # The scheme was checked by validate_health: http or https only.
    request = urllib.request.Request(  # noqa: S310
        params["url"], headers={"User-Agent": "Upkeep health check"}
    )
    started = time.monotonic()
    try:
        with no_redirect_opener.open(request, timeout=params["timeout_s"]) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise RuntimeError(f"GET {params['url']} failed: {getattr(exc, 'reason', exc)}") from exc
    took = (time.monotonic() - started) * 1000
    ctx.log(f"GET {params['url']} → {status} in {took:.0f} ms")
    if status != params["expected_status"]:
        raise RuntimeError(
            f"GET {params['url']} answered {status}, expected {params['expected_status']}"
        )
    return f"{params['url']} answered {status} in {took:.0f} ms"


# ---------------------------------------------------------------- management command


def validate_command(params: dict[str, Any]) -> dict[str, Any]:
    no_extra_params(params, {"command"})
    command = params.get("command")
    if command not in ALLOWED_COMMANDS:
        raise ParamsError(
            f"command must be one of: {', '.join(sorted(ALLOWED_COMMANDS))} (got {command!r})"
        )
    return {"command": command}


def run_command(run_pk: int) -> str:
    ctx = context(run_pk)
    command = validate_command(Run.objects.get(pk=run_pk).job.params)["command"]
    out = io.StringIO()
    try:
        call_command(command, stdout=out, stderr=out)
    finally:
        for line in out.getvalue().splitlines()[-200:]:
            ctx.log(line)
    last = out.getvalue().strip().splitlines()
    return f"manage.py {command}: {last[-1] if last else 'no output'}"


def register_types() -> None:
    register(
        "data_cleanup",
        "Data cleanup",
        validate=validate_cleanup,
        runner=run_cleanup,
        description="Delete old rows of an allowlisted table.",
    )
    register(
        "db_optimise",
        "Database optimisation",
        validate=validate_optimise,
        runner=run_optimise,
        description="SQLite: quick_check + optimize; PostgreSQL: ANALYZE + stale stats.",
    )
    register(
        "health_check",
        "Health check",
        validate=validate_health,
        runner=run_health,
        description="GET a URL and expect a status.",
    )
    register(
        "command",
        "Management command",
        validate=validate_command,
        runner=run_command,
        description="One of: " + ", ".join(sorted(ALLOWED_COMMANDS)),
    )
    register(
        "security_scan",
        "Security scan",
        validate=security.validate_security,
        runner=security.run_security_scan,
        description="Configuration audit (Django deployment checks) and permissions audit "
        "(admins, stale accounts, API tokens, four-eyes).",
    )
    # Owned by other areas: declared so forms can name them, runnable once those apps register.
    for name, title, area in (
        ("backup", "Backup", "backups"),
        ("restore_drill", "Restore drill", "backups"),
        ("verify_backups", "Verify backups", "backups"),
    ):
        if name not in {t.name for t in jobtypes.all_types() if t.runnable}:
            register(name, title, owner_area=area)
