"""The seed's maintenance cadence as templates a team adopts in one click.

Daily: monitoring, log review, critical issue response. Weekly: performance analysis, security
updates, minor fixes. Monthly: feature and dependency updates, comprehensive testing.
Quarterly: major updates, architecture review, capacity planning. Each cadence brings the jobs
that can run unattended and a checklist for what people do; the seed's three checklists
(maintenance, emergency procedures, long-term sustainability) come with the weekly and
quarterly cadences. Adopting is idempotent: what already exists by name is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from audit.trail import record
from maintenance.dispatcher import reschedule
from maintenance.models import ChecklistTemplate, Job

MAINTENANCE_CHECKLIST = [
    "Regular monitoring: continuous system health monitoring",
    "Automated backups: scheduled and verified backup procedures",
    "Security updates: regular security patches and vulnerability scans",
    "Performance optimization: ongoing performance monitoring and tuning",
    "Dependency updates: regular updates of libraries and frameworks",
    "Database maintenance: index optimization and data cleanup",
    "Log management: log rotation and analysis",
    "Capacity planning: resource usage monitoring and scaling",
]
EMERGENCY_PROCEDURES = [
    "Incident response plan: clear procedures for handling emergencies",
    "Rollback procedures: quick rollback mechanisms for failed updates",
    "Communication plan: stakeholder notification procedures",
    "Recovery testing: regular testing of backup and recovery procedures",
    "Documentation: up-to-date maintenance documentation",
    "Team training: regular training on maintenance procedures",
]
LONG_TERM_SUSTAINABILITY = [
    "Technical debt management: regular assessment and reduction",
    "Architecture evolution: planned architecture improvements",
    "Technology upgrades: strategic technology stack updates",
    "Knowledge management: documentation and knowledge sharing",
    "Team development: continuous learning and skill development",
    "Process improvement: regular review and optimization of procedures",
]


@dataclass(frozen=True)
class JobTemplate:
    name: str
    job_type: str
    schedule: str
    params: dict
    max_duration: timedelta
    description: str
    priority: int = 5


@dataclass(frozen=True)
class CadenceTemplate:
    key: str
    title: str
    summary: str
    jobs: list[JobTemplate] = field(default_factory=list)
    checklists: list[tuple[str, str, list[str]]] = field(default_factory=list)


def _healthz() -> str:
    return settings.SITE_URL + reverse("console:healthz")


def cadences() -> list[CadenceTemplate]:
    return [
        CadenceTemplate(
            "daily",
            "Daily",
            "Monitoring, log review, critical issue response",
            jobs=[
                JobTemplate(
                    "daily-health-check",
                    "health_check",
                    "*/15 * * * *",
                    {"url": _healthz(), "expected_status": 200, "timeout_s": 10},
                    timedelta(minutes=2),
                    "Monitoring: the console answers its probe.",
                    priority=8,
                ),
                JobTemplate(
                    "daily-index-health",
                    "index_health",
                    "45 2 * * *",
                    {"target": "console"},
                    timedelta(minutes=20),
                    "Database maintenance: index usage, duplicates, invalid indexes, bloat and "
                    "stale statistics of the console's database.",
                ),
                JobTemplate(
                    "daily-verify-audit",
                    "command",
                    "15 3 * * *",
                    {"command": "verify_audit"},
                    timedelta(minutes=30),
                    "Critical issues: the audit trail's hash chain is intact.",
                ),
            ],
            checklists=[
                (
                    "Daily review",
                    "daily",
                    [
                        "Monitoring: review the dashboard and open alerts",
                        "Log review: read errors and warnings since yesterday",
                        "Critical issue response: triage anything critical and assign it",
                    ],
                )
            ],
        ),
        CadenceTemplate(
            "weekly",
            "Weekly",
            "Performance analysis, security updates, minor fixes",
            jobs=[
                JobTemplate(
                    "weekly-db-optimise",
                    "db_optimise",
                    "0 4 * * 0",
                    {},
                    timedelta(minutes=30),
                    "Performance: database statistics and integrity.",
                ),
                JobTemplate(
                    "weekly-reindex",
                    "reindex",
                    "30 3 * * 0",
                    {"target": "console"},
                    timedelta(hours=1),
                    "Database maintenance: rebuild bloated or invalid indexes of the console's "
                    "database, concurrently, one at a time.",
                ),
                JobTemplate(
                    "weekly-performance-analysis",
                    "performance_analysis",
                    "0 5 * * 1",
                    {},
                    timedelta(minutes=30),
                    "Performance analysis: a baseline per release, compared with the previous "
                    "one, with measured bundle savings.",
                ),
                JobTemplate(
                    "weekly-dependency-audit",
                    "dependency_audit",
                    "30 5 * * 1",
                    {},
                    timedelta(minutes=30),
                    "Security updates: what every app ships, checked against the imported "
                    "advisories.",
                    priority=7,
                ),
                JobTemplate(
                    "weekly-clear-sessions",
                    "command",
                    "30 4 * * 0",
                    {"command": "clearsessions"},
                    timedelta(minutes=10),
                    "Minor fixes: expired sessions.",
                ),
            ],
            checklists=[
                (
                    "Weekly maintenance",
                    "weekly",
                    [
                        "Performance analysis: compare this week's vitals with the baseline",
                        "Security updates: review open findings and apply patches",
                        "Minor fixes: ship the small fixes queued this week",
                    ],
                ),
                ("Maintenance checklist", "weekly", MAINTENANCE_CHECKLIST),
            ],
        ),
        CadenceTemplate(
            "monthly",
            "Monthly",
            "Feature and dependency updates, comprehensive testing",
            jobs=[
                JobTemplate(
                    "monthly-task-history-cleanup",
                    "data_cleanup",
                    "0 5 1 * *",
                    {"table": "django_q.task", "keep_days": 30, "batch_size": 500},
                    timedelta(minutes=30),
                    "Keep the worker's task history short.",
                ),
            ],
            checklists=[
                (
                    "Monthly maintenance",
                    "monthly",
                    [
                        "Feature updates: plan and release the month's features",
                        "Dependency updates: update libraries and frameworks",
                        "Comprehensive testing: run the full regression and restore drill",
                    ],
                )
            ],
        ),
        CadenceTemplate(
            "quarterly",
            "Quarterly",
            "Major updates, architecture review, capacity planning",
            checklists=[
                (
                    "Quarterly review",
                    "quarterly",
                    [
                        "Major updates: plan platform and framework upgrades",
                        "Architecture review: what should change, and why",
                        "Capacity planning: growth, storage and worker headroom",
                    ],
                ),
                ("Emergency procedures", "quarterly", EMERGENCY_PROCEDURES),
                ("Long-term sustainability", "quarterly", LONG_TERM_SUSTAINABILITY),
            ],
        ),
    ]


def get(key: str) -> CadenceTemplate:
    for cadence in cadences():
        if cadence.key == key:
            return cadence
    raise KeyError(key)


@dataclass
class Adopted:
    jobs: list[str] = field(default_factory=list)
    checklists: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


def adopt(key: str, user) -> Adopted:
    """Create the cadence's jobs and checklist templates (owned by ``user``); idempotent."""
    cadence = get(key)
    result = Adopted()
    with transaction.atomic():
        for spec in cadence.jobs:
            job, created = Job.objects.get_or_create(
                name=spec.name,
                defaults={
                    "job_type": spec.job_type,
                    "schedule": spec.schedule,
                    "params": spec.params,
                    "max_duration": spec.max_duration,
                    "description": spec.description,
                    "priority": spec.priority,
                    "owner": user,
                },
            )
            if created:
                reschedule(job)
                record("maintenance.job_created", job, after={"cadence": key})
                result.jobs.append(job.name)
            else:
                result.existing.append(job.name)
        for name, cadence_key, items in cadence.checklists:
            template, created = ChecklistTemplate.objects.get_or_create(
                name=name,
                defaults={"cadence": cadence_key, "items": items, "assignee": user},
            )
            if created:
                record("maintenance.checklist_template_created", template, after={"cadence": key})
                result.checklists.append(name)
            else:
                result.existing.append(name)
    return result
