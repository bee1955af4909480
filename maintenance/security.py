"""The ``security_scan`` job type: a configuration audit and a permissions audit of the console.

What it checks is what the console itself can check honestly, without vulnerability data:

- **configuration**: Django's system checks with the deployment checks included
  (``run_checks(include_deployment_checks=True)``), each reported by check id and level; checks
  silenced by ``SILENCED_SYSTEM_CHECKS`` are listed as silenced and not counted.
- **permissions**: from ``accounts`` and ``audit`` rows: the number of Admins, stale accounts,
  unused API tokens, live tokens of deactivated people, accounts without a role, recorded
  self-approvals and open change requests past their expiry.

Every finding has a level. ``error`` fails the run (the summary says what), ``warning`` leaves it
succeeded "with warnings", and the summary says "clean" only when every requested check ran and
found nothing at warning level or above. A check that cannot run fails the run with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core import checks as django_checks
from django.db.models import F
from django.utils import timezone

from maintenance.jobtypes import ParamsError, no_extra_params
from maintenance.models import Run
from maintenance.runcontext import context

CHECKS: dict[str, str] = {
    "configuration": "Django system and deployment checks of the console",
    "permissions": "Admins, stale accounts, API tokens, roles and four-eyes",
}

STALE_ACCOUNT_DAYS = 90  # an active account not signed in for this long is stale
UNUSED_TOKEN_DAYS = 90  # a live token not used for this long is unused
NEVER_USED_TOKEN_DAYS = 30  # a live token never used this long after its creation is unused
MIN_ADMINS = 2  # four-eyes on admin changes needs a second admin
MAX_ADMINS = 5  # more people than this holding every permission is worth a look
LISTED_SUBJECTS = 20  # names shown per finding in the log; the count is always complete

ERROR, WARNING, INFO = "error", "warning", "info"


def validate_security(params: dict[str, Any]) -> dict[str, Any]:
    no_extra_params(params, {"checks"})
    requested = params.get("checks", list(CHECKS))
    if not isinstance(requested, list) or not all(isinstance(c, str) for c in requested):
        raise ParamsError(f"checks must be a list of names from: {', '.join(CHECKS)}")
    unknown = [c for c in requested if c not in CHECKS]
    if unknown:
        raise ParamsError(
            f"checks must be chosen from: {', '.join(CHECKS)} (unknown: {', '.join(unknown)})"
        )
    if not requested:
        raise ParamsError(f"checks must name at least one of: {', '.join(CHECKS)}")
    # Keep the canonical order and drop repeats.
    return {"checks": [c for c in CHECKS if c in requested]}


@dataclass
class Finding:
    level: str
    code: str  # a Django check id (security.W004) or permissions.<name>
    message: str
    subjects: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = f"[{self.level}] {self.code}: {self.message}"
        if self.subjects:
            shown = ", ".join(self.subjects[:LISTED_SUBJECTS])
            more = len(self.subjects) - LISTED_SUBJECTS
            text += f" ({shown}{f' and {more} more' if more > 0 else ''})"
        return text


@dataclass
class Section:
    name: str
    findings: list[Finding] = field(default_factory=list)
    # What was counted, for the summary: (number, singular noun, plural noun).
    counts: list[tuple[int, str, str]] = field(default_factory=list)
    silenced: int = 0

    def count(self, level: str) -> int:
        return sum(1 for f in self.findings if f.level == level)


def _plural(n: int, noun: str, plural: str = "") -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


# ---------------------------------------------------------------- configuration


def audit_configuration() -> Section:
    section = Section("configuration")
    for message in django_checks.run_checks(include_deployment_checks=True):
        if message.is_silenced():
            section.silenced += 1
            level = INFO
            text = f"silenced by SILENCED_SYSTEM_CHECKS: {message.msg}"
        elif message.level >= django_checks.ERROR:
            level, text = ERROR, message.msg
        elif message.level >= django_checks.WARNING:
            level, text = WARNING, message.msg
        else:
            level, text = INFO, message.msg
        subjects = [str(message.obj)] if message.obj is not None else []
        section.findings.append(Finding(level, message.id or "unnamed", text, subjects))
    return section


def _configuration_summary(section: Section) -> str:
    text = (
        f"configuration: {_plural(section.count(ERROR), 'error')}, "
        f"{_plural(section.count(WARNING), 'warning')}"
    )
    return text + (f" ({section.silenced} silenced)" if section.silenced else "")


# ---------------------------------------------------------------- permissions


def audit_permissions(now: datetime) -> Section:
    from accounts.models import ApiToken
    from accounts.roles import ADMIN, ROLES
    from audit.models import Approval, ChangeRequest

    section = Section("permissions")
    users = get_user_model().objects
    add = section.findings.append

    admins = sorted(
        users.filter(is_active=True, groups__name=ADMIN.name)
        .distinct()
        .values_list("username", flat=True)
    )
    section.counts.append((len(admins), "admin", "admins"))
    if len(admins) < MIN_ADMINS:
        add(
            Finding(
                WARNING,
                "permissions.too_few_admins",
                f"{_plural(len(admins), 'active Admin')}: four-eyes on admin changes needs "
                f"at least {MIN_ADMINS}",
                admins,
            )
        )
    elif len(admins) > MAX_ADMINS:
        add(
            Finding(
                WARNING,
                "permissions.many_admins",
                f"{len(admins)} active Admins (more than {MAX_ADMINS} hold every permission)",
                admins,
            )
        )
    else:
        add(Finding(INFO, "permissions.admins", f"{len(admins)} active Admins", admins))

    stale_cutoff = now - timedelta(days=STALE_ACCOUNT_DAYS)
    stale = sorted(
        users.filter(is_active=True, last_login__lt=stale_cutoff).values_list("username", flat=True)
    )
    never = sorted(
        users.filter(
            is_active=True, last_login__isnull=True, date_joined__lt=stale_cutoff
        ).values_list("username", flat=True)
    )
    section.counts.append((len(stale) + len(never), "stale account", "stale accounts"))
    if stale:
        add(
            Finding(
                WARNING,
                "permissions.stale_account",
                f"{_plural(len(stale), 'active account')} not signed in for "
                f"{STALE_ACCOUNT_DAYS} days",
                stale,
            )
        )
    if never:
        add(
            Finding(
                WARNING,
                "permissions.never_signed_in",
                f"{_plural(len(never), 'active account')} created over {STALE_ACCOUNT_DAYS} "
                "days ago and never signed in",
                never,
            )
        )

    live = ApiToken.objects.active().select_related("user")
    unused = live.filter(last_used_at__lt=now - timedelta(days=UNUSED_TOKEN_DAYS))
    never_used = live.filter(
        last_used_at__isnull=True, created_at__lt=now - timedelta(days=NEVER_USED_TOKEN_DAYS)
    )
    unused_names = [f"{t.user.username}/{t.name}" for t in unused.order_by("user__username")]
    never_names = [f"{t.user.username}/{t.name}" for t in never_used.order_by("user__username")]
    section.counts.append((len(unused_names) + len(never_names), "unused token", "unused tokens"))
    if unused_names:
        add(
            Finding(
                WARNING,
                "permissions.unused_token",
                f"{_plural(len(unused_names), 'API token')} not used for {UNUSED_TOKEN_DAYS} days",
                unused_names,
            )
        )
    if never_names:
        add(
            Finding(
                WARNING,
                "permissions.never_used_token",
                f"{_plural(len(never_names), 'API token')} never used "
                f"{NEVER_USED_TOKEN_DAYS} days after creation",
                never_names,
            )
        )

    orphaned = [
        f"{t.user.username}/{t.name}"
        for t in ApiToken.objects.filter(revoked_at__isnull=True, user__is_active=False)
        .select_related("user")
        .order_by("user__username")
    ]
    section.counts.append(
        (
            len(orphaned),
            "live token of a deactivated account",
            "live tokens of deactivated accounts",
        )
    )
    if orphaned:
        add(
            Finding(
                ERROR,
                "permissions.deactivated_user_token",
                f"{_plural(len(orphaned), 'unrevoked API token')} of deactivated accounts; "
                "revoke them",
                orphaned,
            )
        )
    else:
        add(
            Finding(
                INFO,
                "permissions.deactivated_user_token",
                "no unrevoked API tokens of deactivated accounts",
            )
        )

    role_names = [role.name for role in ROLES.values()]
    roleless = sorted(
        users.filter(is_active=True)
        .exclude(groups__name__in=role_names)
        .values_list("username", flat=True)
    )
    section.counts.append((len(roleless), "account without a role", "accounts without a role"))
    if roleless:
        add(
            Finding(
                WARNING,
                "permissions.no_role",
                f"{_plural(len(roleless), 'active account')} without a role",
                roleless,
            )
        )

    # The approvals primitive refuses self-approval; this checks the recorded decisions agree.
    self_approved = sorted(
        {
            f"change #{cr_id}"
            for cr_id in Approval.objects.filter(
                decision=Approval.Decision.APPROVE,
                approver=F("change_request__requested_by"),
            ).values_list("change_request_id", flat=True)
        }
    )
    section.counts.append((len(self_approved), "self-approved change", "self-approved changes"))
    if self_approved:
        add(
            Finding(
                ERROR,
                "permissions.self_approval",
                f"{_plural(len(self_approved), 'change request')} approved by its own requester",
                self_approved,
            )
        )

    overdue = [
        f"change #{pk}"
        for pk in ChangeRequest.objects.filter(
            status__in=[ChangeRequest.Status.PENDING, ChangeRequest.Status.APPROVED],
            expires_at__lte=now,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    ]
    section.counts.append((len(overdue), "overdue change request", "overdue change requests"))
    if overdue:
        add(
            Finding(
                WARNING,
                "permissions.overdue_change_request",
                f"{_plural(len(overdue), 'open change request')} past its expiry and not yet "
                "expired (is the controller running?)",
                overdue,
            )
        )
    return section


def _permissions_summary(section: Section) -> str:
    parts = [_plural(n, one, many) for n, one, many in section.counts]
    return f"permissions: {', '.join(parts)}"


# ---------------------------------------------------------------- runner

AUDITS = {
    "configuration": (lambda now: audit_configuration(), _configuration_summary),
    "permissions": (audit_permissions, _permissions_summary),
}


def run_security_scan(run_pk: int) -> str:
    ctx = context(run_pk)
    params = validate_security(Run.objects.get(pk=run_pk).job.params)
    requested = params["checks"]
    now = timezone.now()
    ctx.log(f"security scan: {', '.join(requested)}")
    parts: list[str] = []
    failures: list[str] = []
    errors = warnings = 0
    ctx.progress(0, len(requested))
    for done, name in enumerate(requested, start=1):
        ctx.check()
        audit, summarise = AUDITS[name]
        try:
            section = audit(now)
        except Exception as exc:  # a check that cannot run fails the scan, with the reason
            reason = f"{name} audit could not run: {type(exc).__name__}: {exc}"
            ctx.log(f"[error] {reason}")
            failures.append(reason)
            ctx.progress(done, len(requested))
            continue
        ctx.log(f"-- {name}: {CHECKS[name]}")
        for finding in section.findings:
            ctx.log(finding.line())
        errors += section.count(ERROR)
        warnings += section.count(WARNING)
        parts.append(summarise(section))
        ctx.progress(done, len(requested))
    report = "; ".join(parts)
    ctx.log(f"totals: {_plural(errors, 'error')}, {_plural(warnings, 'warning')}")
    if failures:
        done_text = f" (completed: {report})" if report else ""
        raise RuntimeError("; ".join(failures) + done_text)
    if errors:
        found = f"{_plural(errors, 'error')} and {_plural(warnings, 'warning')}"
        raise RuntimeError(f"security scan found {found}: {report}")
    verdict = "with warnings" if warnings else "clean"
    return f"{verdict}: {report}"
