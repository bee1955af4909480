"""The maintenance job types this app makes real: ``index_health`` and ``reindex``.

Registered from ``DbhealthConfig.ready``; runners take a Run pk and return a one-line summary
(see ``maintenance.jobtypes``). ANALYZE / PRAGMA optimize and retention cleanup stay with the
maintenance app's ``db_optimise`` and ``data_cleanup`` types.
"""

from __future__ import annotations

from typing import Any

from dbhealth import actions, analysis, pg
from dbhealth.models import Action
from dbhealth.targets import CONSOLE, POSTGRESQL, TargetError, get_target
from maintenance.jobtypes import ParamsError, int_param, no_extra_params, register
from maintenance.models import Run
from maintenance.runcontext import context


def _target(params: dict) -> str:
    key = params.get("target", CONSOLE)
    if not isinstance(key, str) or not key:
        raise ParamsError("target must be a source name or “console”")
    return key


def validate_index_health(params: dict[str, Any]) -> dict[str, Any]:
    no_extra_params(params, {"target", "window_days", "full_integrity"})
    return {
        "target": _target(params),
        "window_days": int_param(params, "window_days", 7, low=1, high=365),
        "full_integrity": bool(params.get("full_integrity", False)),
    }


def validate_reindex(params: dict[str, Any]) -> dict[str, Any]:
    no_extra_params(params, {"target", "bloat_percent", "min_size_mb", "limit"})
    return {
        "target": _target(params),
        "bloat_percent": int_param(params, "bloat_percent", 30, low=5, high=95),
        "min_size_mb": int_param(params, "min_size_mb", 1, low=0, high=10**6),
        "limit": int_param(params, "limit", 10, low=1, high=1000),
    }


def _resolve(key: str):
    try:
        return get_target(key)
    except TargetError as exc:
        raise RuntimeError(str(exc)) from exc


def run_index_health(run_pk: int) -> str:
    ctx = context(run_pk)
    run = Run.objects.select_related("requested_by").get(pk=run_pk)
    params = validate_index_health(run.job.params)
    target = _resolve(params["target"])
    report = analysis.analyse(
        target,
        options=pg.Options(window_days=params["window_days"]),
        full_integrity=params["full_integrity"],
        user=run.requested_by,
        run_ref=f"maintenance.run:{run_pk}",
        log=ctx.log,
    )
    counts = report.counts
    for key, value in sorted(counts.items()):
        ctx.log(f"{key}: {value}")
    if report.status == report.Status.FAILED:
        raise RuntimeError(f"report #{report.pk} failed: {report.error}")
    found = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v and k != "indexes")
    skipped = (
        "; skipped: " + ", ".join(f"{s['check']} ({s['reason']})" for s in report.skipped)
        if report.skipped
        else ""
    )
    return f"{report.status}: report #{report.pk}, {found or 'nothing to act on'}{skipped}"


def run_reindex(run_pk: int) -> str:
    """Drop leftovers of failed rebuilds, analyse, then rebuild (one index at a time) every
    invalid index and every btree index bloated past the threshold and larger than min_size."""
    ctx = context(run_pk)
    run = Run.objects.select_related("requested_by").get(pk=run_pk)
    params = validate_reindex(run.job.params)
    target = _resolve(params["target"])
    if target.vendor != POSTGRESQL:
        raise RuntimeError("reindex is for PostgreSQL targets; SQLite rebuilds with VACUUM")
    user = run.requested_by
    cleaned = actions.clean_leftovers(target, user, log=ctx.log)
    options = pg.Options(
        bloat_percent=params["bloat_percent"], min_index_bytes=params["min_size_mb"] * 1024 * 1024
    )
    report = analysis.analyse(
        target, options=options, user=user, run_ref=f"maintenance.run:{run_pk}", log=ctx.log
    )
    if report.status == report.Status.FAILED:
        raise RuntimeError(f"analysis failed: {report.error}")
    todo = [i for i in report.findings.get("indexes", []) if i["rebuildable"]][: params["limit"]]
    ctx.progress(0, len(todo))
    rebuilt, failed = 0, []
    for n, index in enumerate(todo, start=1):
        ctx.check()
        action = actions.request(
            target,
            Action.Kind.REINDEX,
            user,
            schema=index["schema"],
            index=index["name"],
            reason=", ".join(index["verdicts"]),
            queue=False,
        )
        action = actions.execute(action.pk)
        ctx.log(f"{action.qualified}: {action.status} {action.detail}")
        if action.status == Action.Status.SUCCEEDED:
            rebuilt += 1
        else:
            failed.append(action.qualified)
        ctx.progress(n, len(todo))
    summary = f"rebuilt {rebuilt} of {len(todo)} indexes; {len(cleaned)} leftovers dropped"
    if report.status == report.Status.PARTIAL:
        summary += "; analysis partial: " + ", ".join(s["check"] for s in report.skipped)
    if failed:
        raise RuntimeError(f"{summary}; failed: {', '.join(failed)}")
    return summary


def register_types() -> None:
    register(
        "index_health",
        "Index and integrity health",
        validate=validate_index_health,
        runner=run_index_health,
        description="PostgreSQL: unused/duplicate/invalid/bloated indexes, stale statistics, "
        "missing-index hints, daily usage snapshot. SQLite: integrity, free pages, duplicate "
        "indexes. Params: target, window_days, full_integrity.",
        owner_area="dbhealth",
    )
    register(
        "reindex",
        "Rebuild bloated and invalid indexes",
        validate=validate_reindex,
        runner=run_reindex,
        description="REINDEX INDEX CONCURRENTLY, one at a time, after dropping leftovers of "
        "failed rebuilds. Params: target, bloat_percent, min_size_mb, limit.",
        owner_area="dbhealth",
    )
