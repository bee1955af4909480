"""Jobs and windows as code: the YAML/JSON file format of ``manage.py jobs``.

The format is a public contract (see README.md). ``load`` validates a whole document and raises
``SpecError`` listing every problem; ``apply`` writes a validated document in one transaction.
``dump`` produces a document that ``load`` + ``apply`` turn back into the same rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import time
from typing import Any

import yaml
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from audit.trail import record
from maintenance import schedule, validation
from maintenance.dispatcher import reschedule
from maintenance.models import Job, MissedPolicy, Window
from releases.models import App

JOB_KEYS = {
    "name",
    "type",
    "schedule",
    "timezone",
    "max_duration",
    "priority",
    "depends_on",
    "params",
    "description",
    "retry",
    "missed_runs",
    "enabled",
    "app",
    "owner",
    "notify",
}
WINDOW_KEYS = {
    "name",
    "kind",
    "schedule",
    "weekdays",
    "start",
    "timezone",
    "duration",
    "scope",
    "job_type",
    "app",
    "enabled",
}
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class SpecError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Document:
    jobs: list[dict[str, Any]] = field(default_factory=list)
    windows: list[dict[str, Any]] = field(default_factory=list)


def parse(text: str) -> Any:
    """YAML is a superset of JSON, so one parser reads both."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError([f"not valid YAML or JSON: {exc}"]) from exc


def _messages(exc: ValidationError) -> str:
    return "; ".join(exc.messages)


def load(data: Any) -> Document:
    """Validate everything; SpecError lists all problems, nothing is written."""
    problems: list[str] = []
    if not isinstance(data, dict) or set(data) - {"jobs", "windows"}:
        raise SpecError(["the document must be a mapping with 'jobs' and/or 'windows' lists"])
    doc = Document()
    apps = {a.slug: a for a in App.objects.all()}
    users = {u.get_username(): u for u in get_user_model().objects.all()}
    windows = _load_windows(data.get("windows") or [], apps, problems)
    doc.windows = windows
    seen: set[str] = set()
    raw_jobs = data.get("jobs") or []
    if not isinstance(raw_jobs, list):
        raise SpecError(["'jobs' must be a list"])
    for i, raw in enumerate(raw_jobs):
        where = f"jobs[{i}]"
        if not isinstance(raw, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        name = str(raw.get("name", ""))
        where = f"job {name or i}"
        extra = set(raw) - JOB_KEYS
        if extra:
            problems.append(f"{where}: unknown keys {', '.join(sorted(extra))}")
        if not name or not validation_slug(name):
            problems.append(f"{where}: name must be letters, digits, - or _")
            continue
        if name in seen:
            problems.append(f"{where}: name appears twice in the file")
        seen.add(name)
        job: dict[str, Any] = {"name": name}
        try:
            job["schedule"] = validation.clean_schedule(str(raw.get("schedule", "manual")))
            job["timezone"] = validation.clean_zone(str(raw.get("timezone", "UTC")))
            job["job_type"] = str(raw.get("type", ""))
            job["params"] = validation.clean_type_and_params(job["job_type"], raw.get("params", {}))
            job["max_duration"] = validation.clean_duration(raw.get("max_duration", "30m"))
            retry = raw.get("retry") or {}
            job["retry_attempts"] = int(retry.get("attempts", 0))
            job["retry_backoff"] = validation.clean_duration(
                retry.get("backoff", "1m"), field="retry backoff"
            )
            job["priority"] = int(raw.get("priority", 5))
            missed = raw.get("missed_runs", MissedPolicy.ONCE)
            if missed not in MissedPolicy.values:
                raise ValidationError(
                    f"missed_runs must be one of {', '.join(MissedPolicy.values)}"
                )
            job["missed_policy"] = missed
            notify = raw.get("notify") or {}
            job["notify_started"] = bool(notify.get("started", False))
            job["notify_succeeded"] = bool(notify.get("succeeded", False))
            job["slow_factor"] = float(notify.get("slow_factor", 2.0))
            job["enabled"] = bool(raw.get("enabled", True))
            job["description"] = str(raw.get("description", ""))
            job["app"] = _lookup(apps, raw.get("app"), "app")
            job["owner"] = _lookup(users, raw.get("owner"), "owner")
            depends = raw.get("depends_on") or []
            if not isinstance(depends, list):
                raise ValidationError("depends_on must be a list of job names")
            job["depends_on"] = [str(d) for d in depends]
        except ValidationError as exc:
            problems.append(f"{where}: {_messages(exc)}")
            continue
        except (TypeError, ValueError) as exc:
            problems.append(f"{where}: {exc}")
            continue
        doc.jobs.append(job)
    _check_graph(doc, problems)
    _check_fit(doc, problems)
    if problems:
        raise SpecError(problems)
    return doc


def validation_slug(name: str) -> bool:
    import re

    return bool(re.fullmatch(r"[-a-zA-Z0-9_]+", name))


def _lookup(table: dict, key, what: str):
    if key in (None, ""):
        return None
    if key not in table:
        raise ValidationError(f"unknown {what} {key!r}")
    return table[key]


def _load_windows(raw_windows, apps, problems) -> list[dict[str, Any]]:
    out = []
    if not isinstance(raw_windows, list):
        problems.append("'windows' must be a list")
        return out
    names: set[str] = set()
    for i, raw in enumerate(raw_windows):
        if not isinstance(raw, dict):
            problems.append(f"windows[{i}]: must be a mapping")
            continue
        name = str(raw.get("name", ""))
        where = f"window {name or i}"
        extra = set(raw) - WINDOW_KEYS
        if extra:
            problems.append(f"{where}: unknown keys {', '.join(sorted(extra))}")
        if not name or not validation_slug(name) or name in names:
            problems.append(f"{where}: needs a unique name of letters, digits, - or _")
            continue
        names.add(name)
        try:
            kind = raw.get("kind", "allow")
            if kind not in Window.Kind.values:
                raise ValidationError("kind must be allow or blackout")
            scope = raw.get("scope", "all")
            if scope not in Window.Scope.values:
                raise ValidationError("scope must be all, job_type or app")
            window = {
                "name": name,
                "kind": kind,
                "scope": scope,
                "schedule": validation.clean_schedule(raw["schedule"])
                if raw.get("schedule")
                else "",
                "timezone": validation.clean_zone(str(raw.get("timezone", "UTC"))),
                "duration": validation.clean_duration(raw.get("duration", "2h"), field="duration"),
                "weekdays": [],
                "start_time": None,
                "job_type": str(raw.get("job_type", "")),
                "app": _lookup(apps, raw.get("app"), "app"),
                "enabled": bool(raw.get("enabled", True)),
            }
            if not window["schedule"]:
                days = raw.get("weekdays") or []
                window["weekdays"] = sorted({WEEKDAYS.index(str(d).lower()[:3]) for d in days})
                window["start_time"] = time.fromisoformat(str(raw.get("start", "")))
                if not window["weekdays"]:
                    raise ValidationError("give a schedule (cron), or weekdays and start")
            if scope == "job_type" and not window["job_type"]:
                raise ValidationError("scope job_type needs job_type")
            if scope == "app" and window["app"] is None:
                raise ValidationError("scope app needs app")
        except ValidationError as exc:
            problems.append(f"{where}: {_messages(exc)}")
            continue
        except (ValueError, KeyError) as exc:
            problems.append(f"{where}: {exc}")
            continue
        out.append(window)
    return out


def _check_graph(doc: Document, problems: list[str]) -> None:
    edges = validation.saved_edges()
    known = set(Job.objects.values_list("name", flat=True))
    for job in doc.jobs:
        edges[job["name"]] = job["depends_on"]
    names = known | {j["name"] for j in doc.jobs}
    for job in doc.jobs:
        for parent in job["depends_on"]:
            if parent not in names:
                problems.append(f"job {job['name']}: depends on unknown job {parent!r}")
    cycle = validation.find_cycle(edges)
    if cycle:
        problems.append(f"dependency cycle: {' → '.join(cycle)}")


def _check_fit(doc: Document, problems: list[str]) -> None:
    file_windows = {w["name"]: Window(**w) for w in doc.windows}
    combined = [w for w in Window.objects.all() if w.name not in file_windows]
    combined += list(file_windows.values())
    for job in doc.jobs:
        probe = Job(job_type=job["job_type"], max_duration=job["max_duration"], app=job["app"])
        try:
            validation.clean_window_fit(probe, combined)
        except ValidationError as exc:
            problems.append(f"job {job['name']}: {_messages(exc)}")


def apply(doc: Document) -> dict[str, int]:
    """Create or update every job and window by name, in one transaction."""
    counts = {"jobs_created": 0, "jobs_updated": 0, "windows_created": 0, "windows_updated": 0}
    with transaction.atomic():
        for spec in doc.windows:
            window, created = Window.objects.update_or_create(name=spec["name"], defaults=spec)
            counts["windows_created" if created else "windows_updated"] += 1
            record("maintenance.window_imported", window, after={"created": created})
        jobs = {}
        for spec in doc.jobs:
            fields = {k: v for k, v in spec.items() if k not in {"name", "depends_on"}}
            job, created = Job.objects.update_or_create(name=spec["name"], defaults=fields)
            jobs[job.name] = job
            counts["jobs_created" if created else "jobs_updated"] += 1
        for spec in doc.jobs:
            job = jobs[spec["name"]]
            job.depends_on.set(Job.objects.filter(name__in=spec["depends_on"]))
            reschedule(job)
            record("maintenance.job_imported", job, after={"schedule": job.schedule})
    return counts


def job_spec(job: Job) -> dict[str, Any]:
    """One job in the export format: what `jobs import` (and a deletion's audit row) can
    recreate it from."""
    return {
        "name": job.name,
        "type": job.job_type,
        "schedule": job.schedule,
        "timezone": job.timezone,
        "max_duration": schedule.format_duration(job.max_duration),
        "priority": job.priority,
        "depends_on": sorted(p.name for p in job.depends_on.all()),
        "params": job.params,
        "description": job.description,
        "retry": {
            "attempts": job.retry_attempts,
            "backoff": schedule.format_duration(job.retry_backoff),
        },
        "missed_runs": job.missed_policy,
        "enabled": job.enabled,
        "app": job.app.slug if job.app else None,
        "owner": job.owner.get_username() if job.owner else None,
        "notify": {
            "started": job.notify_started,
            "succeeded": job.notify_succeeded,
            "slow_factor": job.slow_factor,
        },
    }


def dump() -> dict[str, Any]:
    jobs = [
        job_spec(job)
        for job in Job.objects.select_related("app", "owner").prefetch_related("depends_on")
    ]
    windows = []
    for w in Window.objects.select_related("app"):
        item = {
            "name": w.name,
            "kind": w.kind,
            "timezone": w.timezone,
            "duration": schedule.format_duration(w.duration),
            "scope": w.scope,
            "job_type": w.job_type,
            "app": w.app.slug if w.app else None,
            "enabled": w.enabled,
        }
        if w.schedule:
            item["schedule"] = w.schedule
        else:
            item["weekdays"] = [WEEKDAYS[d] for d in w.weekdays]
            item["start"] = w.start_time.strftime("%H:%M") if w.start_time else ""
        windows.append(item)
    return {"jobs": jobs, "windows": windows}


def render(data: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
