"""Checks shared by the job form, the window form and ``manage.py jobs import``.

Each raises ``ValidationError`` with a message a person can act on.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError

from maintenance import jobtypes, schedule, windows
from maintenance.models import Job, Window


def clean_schedule(expr: str) -> str:
    expr = " ".join((expr or "").split())
    if expr == schedule.MANUAL:
        return expr
    try:
        return schedule.validate_cron(expr)
    except schedule.ScheduleError as exc:
        raise ValidationError(str(exc)) from exc


def clean_zone(name: str) -> str:
    try:
        schedule.zone(name)
    except schedule.ScheduleError as exc:
        raise ValidationError(str(exc)) from exc
    return name


def clean_type_and_params(job_type: str, params: Any) -> dict:
    try:
        return jobtypes.runnable(job_type).clean_params(params)
    except jobtypes.ParamsError as exc:
        raise ValidationError(str(exc)) from exc


def saved_edges() -> dict[str, list[str]]:
    """The saved dependency graph: job name → names of the jobs it depends on."""
    edges: dict[str, list[str]] = {}
    for child, parent in Job.depends_on.through.objects.values_list(
        "from_job__name", "to_job__name"
    ):
        edges.setdefault(child, []).append(parent)
    return edges


def clean_dependencies(name: str, parent_names: Iterable[str], edges=None) -> None:
    """Refuse dependencies that would close a cycle (the message shows the loop)."""
    graph = dict(saved_edges() if edges is None else edges)
    graph[name] = list(parent_names)
    cycle = find_cycle(graph, start=name)
    if cycle:
        raise ValidationError(f"dependency cycle: {' → '.join(cycle)}")


def find_cycle(edges: dict[str, list[str]], start: str | None = None) -> list[str] | None:
    """A cycle in a whole graph (name → parent names), or None; searched from ``start``
    first so the message begins with the job being edited."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        if state.get(node) == 1:
            return [*path[path.index(node) :], node]
        if state.get(node) == 2:
            return None
        state[node] = 1
        for parent in edges.get(node, []):
            found = visit(parent, [*path, node])
            if found:
                return found
        state[node] = 2
        return None

    for node in ([start] if start else []) + list(edges):
        found = visit(node, [])
        if found:
            return found
    return None


def clean_window_fit(job: Job, candidate_windows: Iterable[Window] | None = None) -> None:
    """Refuse a max duration longer than every allow window the job must fit in."""
    longest = windows.longest_allow(job, candidate_windows)
    if longest is None:
        return
    need = windows.needed(job)
    if need > longest:
        raise ValidationError(
            f"max duration {schedule.format_duration(job.max_duration)} plus the "
            f"{schedule.format_duration(windows.SAFETY_MARGIN)} safety margin does not fit in "
            f"any allowed window (the longest is {schedule.format_duration(longest)})"
        )


def clean_duration(value: Any, *, field: str = "max duration") -> timedelta:
    try:
        return schedule.parse_duration(value)
    except schedule.ScheduleError as exc:
        raise ValidationError(f"{field}: {exc}") from exc
