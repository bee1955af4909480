"""The registry of job types: name → title, params validator and runner.

A runner is ``func(run_pk) -> str`` (a one-line summary); it runs inside
``maintenance.tasks.execute_run``, which claims the run, beats the heart and records the outcome.
Runners report through ``maintenance.runcontext.context(run_pk)`` (log lines, progress, and
``check()`` that raises once the run was timed out or cancelled) and raise to fail.

Other apps register their types from ``AppConfig.ready``, e.g. the backups app:
``register("backup", "Backup", validate=..., runner="backups.maintenance_jobs.run_backup")``.
A type that is declared but has no runner yet is refused by the job form and by import, never
faked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any


class ParamsError(ValueError):
    """Params that do not fit the job type; the message says which and why."""


def no_extra_params(params: dict, allowed: set[str]) -> None:
    """Every job type refuses params it does not know (a typo must not be silently ignored)."""
    extra = set(params) - allowed
    if extra:
        raise ParamsError(f"unknown params: {', '.join(sorted(extra))}")


def int_param(params: dict, key: str, default: int, *, low: int, high: int) -> int:
    """A whole-number param in [low, high] (booleans are not numbers here)."""
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamsError(f"{key} must be a whole number")
    if not low <= value <= high:
        raise ParamsError(f"{key} must be between {low} and {high}")
    return value


@dataclass(frozen=True)
class JobType:
    name: str
    title: str
    description: str = ""
    validate: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    runner: str | Callable[[int], str] | None = None
    owner_area: str = "maintenance"

    @property
    def runnable(self) -> bool:
        return self.runner is not None

    def clean_params(self, params: Any) -> dict[str, Any]:
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ParamsError("params must be an object (a mapping of names to values)")
        return self.validate(params) if self.validate else dict(params)

    def resolve_runner(self) -> Callable[[int], str]:
        if self.runner is None:
            raise LookupError(self.unavailable_message())
        if callable(self.runner):
            return self.runner
        module, _, attr = self.runner.rpartition(".")
        return getattr(import_module(module), attr)

    def unavailable_message(self) -> str:
        return (
            f"Job type “{self.name}” ({self.title}) cannot run yet: the {self.owner_area} app "
            "has not registered a runner for it."
        )


_types: dict[str, JobType] = {}


def register(
    name: str,
    title: str,
    *,
    validate: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    runner: str | Callable[[int], str] | None = None,
    description: str = "",
    owner_area: str = "maintenance",
) -> JobType:
    """Register (or replace) a job type. ``runner=None`` declares a type that cannot run yet."""
    job_type = JobType(name, title, description, validate, runner, owner_area)
    _types[name] = job_type
    return job_type


def get(name: str) -> JobType:
    try:
        return _types[name]
    except KeyError:
        known = ", ".join(sorted(_types))
        raise ParamsError(f"unknown job type {name!r}; known types: {known}") from None


def all_types() -> list[JobType]:
    return sorted(_types.values(), key=lambda t: t.title)


def runnable(name: str) -> JobType:
    """The type if it exists and can run; ParamsError with the reason otherwise."""
    job_type = get(name)
    if not job_type.runnable:
        raise ParamsError(job_type.unavailable_message())
    return job_type
