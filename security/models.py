"""Vulnerability data (imported offline), dependency scans and the findings they raise.

Advisories: one ``Advisory`` row per alias group (the canonical advisory findings point at),
every id it is known by in ``AdvisoryAlias`` (unique), every imported OSV file in
``AdvisoryRecord`` and the packages each record affects in ``AffectedPackage`` (what matching
reads). Findings are audited (``AuditedQuerySet``): their state changes only through
``security.findings``.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Case, IntegerField, Q, Value, When
from django.utils import timezone

from audit.models import AuditedQuerySet


class Ecosystem(models.TextChoices):
    PYPI = "PyPI", "PyPI"
    NPM = "npm", "npm"


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"
    UNKNOWN = "unknown", "Unknown"


# Days from first sight (or regression) to the due date; unknown severity gets medium's SLA.
SLA_DAYS = {
    Severity.CRITICAL: 7,
    Severity.HIGH: 30,
    Severity.MEDIUM: 90,
    Severity.LOW: 180,
    Severity.UNKNOWN: 90,
}
SEVERITY_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.UNKNOWN: 0,
}


class Advisory(models.Model):
    """A vulnerability as findings know it: the canonical row of one alias group."""

    key = models.CharField(max_length=100, unique=True)  # the id shown (first record's id)
    summary = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.UNKNOWN)
    # Where the row came from: "osv" (an imported record) or the report that named it.
    source = models.CharField(max_length=20, default="osv")
    modified = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key

    @property
    def ids(self) -> list[str]:
        return sorted(a.alias for a in self.aliases.all())


class AdvisoryAlias(models.Model):
    """Every id (OSV id or alias: CVE-, GHSA-, PYSEC-…) belongs to exactly one group."""

    alias = models.CharField(max_length=100, unique=True)
    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="aliases")

    def __str__(self) -> str:
        return self.alias


class AdvisoryRecord(models.Model):
    """One imported OSV file; re-imports replace it only when ``modified`` is newer."""

    osv_id = models.CharField(max_length=100, unique=True)
    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="records")
    ecosystem = models.CharField(max_length=20, choices=Ecosystem.choices)
    aliases = models.JSONField(default=list, blank=True)
    summary = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    modified = models.DateTimeField()
    published = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.osv_id


class AffectedPackage(models.Model):
    """One ``affected[]`` entry of a record: what ``security.matching`` evaluates."""

    record = models.ForeignKey(AdvisoryRecord, on_delete=models.CASCADE, related_name="affected")
    ecosystem = models.CharField(max_length=20, choices=Ecosystem.choices)
    # Normalised: PEP 503 for PyPI, as written for npm (npm names are lowercase already).
    name = models.CharField(max_length=214)
    ranges = models.JSONField(default=list, blank=True)
    versions = models.JSONField(default=list, blank=True)
    fixed = models.JSONField(default=list, blank=True)

    class Meta:
        # Matching looks up every scanned package by (ecosystem, name).
        indexes = [models.Index(fields=["ecosystem", "name"], name="sec_affected_lookup")]

    def __str__(self) -> str:
        return f"{self.ecosystem}/{self.name}"


class OsvImport(models.Model):
    """One import of an OSV export: who, what file, what it changed."""

    class Status(models.TextChoices):
        DONE = "done", "Imported"
        REJECTED = "rejected", "Rejected"

    filename = models.CharField(max_length=300)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices)
    ecosystems = models.JSONField(default=list, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    detail = models.TextField(blank=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"OSV import {self.filename}"


class Scan(models.Model):
    """One dependency audit: of a release's bundle or of an uploaded audit report."""

    class Source(models.TextChoices):
        BUNDLE = "bundle", "Release bundle"
        PIP_AUDIT = "pip_audit", "pip-audit report"
        NPM_AUDIT = "npm_audit", "npm audit report"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETE = "complete", "Complete"
        INCOMPLETE = "incomplete", "Incomplete"
        ERROR = "error", "Error"

    app = models.ForeignKey("releases.App", on_delete=models.CASCADE, related_name="+")
    release = models.ForeignKey(
        "releases.Release", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.ForeignKey(
        "releases.Channel", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    ecosystems = models.JSONField(default=list, blank=True)  # what this scan covered
    packages_checked = models.PositiveIntegerField(default=0)
    packages_skipped = models.PositiveIntegerField(default=0)
    vulnerable = models.PositiveIntegerField(default=0)
    detail = models.TextField(blank=True)  # why incomplete / the error
    files = models.JSONField(default=list, blank=True)  # manifests read
    run_id = models.BigIntegerField(null=True, blank=True)  # the maintenance run, if any
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"scan #{self.pk}"

    @property
    def tone(self) -> str:
        return {"complete": "ok", "incomplete": "warn", "error": "bad"}.get(self.status, "neutral")


class ScanPackage(models.Model):
    """A package a scan looked at: checked (with what it matched) or skipped (with why)."""

    class Status(models.TextChoices):
        CHECKED = "checked", "Checked"
        SKIPPED = "skipped", "Skipped"

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="packages")
    ecosystem = models.CharField(max_length=20, choices=Ecosystem.choices)
    name = models.CharField(max_length=214)
    version = models.CharField(max_length=200, blank=True)
    source_file = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    skip_reason = models.CharField(max_length=300, blank=True)
    advisories = models.JSONField(default=list, blank=True)  # keys of what matched

    class Meta:
        ordering = ["ecosystem", "name", "version"]

    def __str__(self) -> str:
        return f"{self.ecosystem}/{self.name}@{self.version}"


class FindingState(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    SUPPRESSED = "suppressed", "Suppressed"
    FIXED = "fixed", "Fixed"
    REGRESSED = "regressed", "Regressed"


# States a finding is still a problem in (shown, counted, closed by a complete scan).
ACTIVE_STATES = [
    FindingState.OPEN,
    FindingState.ACKNOWLEDGED,
    FindingState.SUPPRESSED,
    FindingState.REGRESSED,
]
# States with a running SLA clock (a suppression stops it until it expires).
SLA_STATES = [FindingState.OPEN, FindingState.ACKNOWLEDGED, FindingState.REGRESSED]


class FindingQuerySet(AuditedQuerySet):
    def active(self) -> FindingQuerySet:
        return self.filter(state__in=ACTIVE_STATES)

    def overdue(self, now=None) -> FindingQuerySet:
        """SLA-running findings whose due date is at or before ``now`` (NULL due: never)."""
        return self.filter(state__in=SLA_STATES, due_at__lte=now or timezone.now())

    def by_urgency(self, now=None) -> FindingQuerySet:
        """Overdue first, then by due date (earliest first), then by severity."""
        now = now or timezone.now()
        return self.annotate(
            overdue_flag=Case(
                When(Q(state__in=SLA_STATES, due_at__lte=now), then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            ),
            severity_rank=Case(
                *[When(severity=s, then=Value(r)) for s, r in SEVERITY_RANK.items()],
                default=Value(0),
                output_field=IntegerField(),
            ),
        ).order_by("-overdue_flag", "due_at", "-severity_rank", "pk")


class Finding(models.Model):
    """One vulnerable (app, ecosystem, package, advisory): the row lives through regressions."""

    app = models.ForeignKey("releases.App", on_delete=models.CASCADE, related_name="+")
    ecosystem = models.CharField(max_length=20, choices=Ecosystem.choices)
    package = models.CharField(max_length=214)
    advisory = models.ForeignKey(Advisory, on_delete=models.PROTECT, related_name="findings")
    state = models.CharField(max_length=20, choices=FindingState.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    versions = models.JSONField(default=list, blank=True)  # vulnerable versions last seen
    fixed_versions = models.JSONField(default=list, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    last_scan = models.ForeignKey(
        Scan, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    fixed_at = models.DateTimeField(null=True, blank=True)
    regressions = models.PositiveIntegerField(default=0)
    note = models.TextField(blank=True)  # the acknowledgement note
    suppressed_reason = models.TextField(blank=True)
    suppressed_until = models.DateTimeField(null=True, blank=True)
    suppression_request = models.BigIntegerField(null=True, blank=True)

    objects = FindingQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["app", "ecosystem", "package", "advisory"], name="finding_unique_key"
            )
        ]
        indexes = [models.Index(fields=["state", "due_at"], name="sec_finding_state_due")]

    def __str__(self) -> str:
        return f"{self.advisory.key} in {self.ecosystem}/{self.package}"

    @property
    def is_overdue(self) -> bool:
        return bool(
            self.state in SLA_STATES and self.due_at is not None and self.due_at <= timezone.now()
        )

    @property
    def tone(self) -> str:
        if self.state == FindingState.FIXED:
            return "ok"
        if self.state == FindingState.SUPPRESSED:
            return "neutral"
        return "bad" if self.severity in (Severity.CRITICAL, Severity.HIGH) else "warn"


def due_from(severity: str, since) -> object:
    return since + timedelta(days=SLA_DAYS.get(severity, SLA_DAYS[Severity.UNKNOWN]))


# --------------------------------------------------------------------------- security patches


class PatchState(models.TextChoices):
    DRAFT = "draft", "Queued"
    BACKING_UP = "backing_up", "Backing up"
    PUBLISHING = "publishing", "Publishing"
    CHECKING = "checking", "Checking"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Rolled back"


# A patch in one of these states is the app's active patch (at most one per app).
ACTIVE_PATCH_STATES = [
    PatchState.DRAFT,
    PatchState.BACKING_UP,
    PatchState.PUBLISHING,
    PatchState.CHECKING,
]


class SecurityPatch(models.Model):
    """The seed's *applySecurityPatch*: back up first, publish the patched release through the
    normal pipeline, verify it (re-scan + HTTP health checks), roll back on failure.

    State changes go through ``security.patches`` only (compare-and-set on ``row_version`` and
    the worker's ``claim_token``, each with an audit row).
    """

    app = models.ForeignKey("releases.App", on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey("releases.Channel", on_delete=models.CASCADE, related_name="+")
    findings = models.ManyToManyField(Finding, related_name="patches")
    state = models.CharField(max_length=20, choices=PatchState.choices, default=PatchState.DRAFT)
    reason = models.TextField(blank=True)  # why it failed / was rolled back
    row_version = models.PositiveIntegerField(default=1)

    # The patched release as uploaded, kept in the staging folder until it is published.
    version = models.CharField(max_length=100)
    changes = models.JSONField(default=list, blank=True)
    notes = models.TextField(blank=True)
    bundle_name = models.CharField(max_length=300, blank=True)
    bundle_sha256 = models.CharField(max_length=64)
    bundle_size = models.PositiveBigIntegerField()
    start_rollout = models.BooleanField(default=True)

    # What the patch backs up first and probes after.
    sources = models.ManyToManyField("backups.Source", related_name="+")
    backups = models.ManyToManyField("backups.Backup", related_name="+", blank=True)
    health_urls = models.JSONField(default=list, blank=True)
    health_timeout = models.FloatField(default=5.0)

    # What happened.
    release = models.ForeignKey(
        "releases.Release", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    verify_scan = models.ForeignKey(
        Scan, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    verify_detail = models.TextField(blank=True)
    health_results = models.JSONField(default=list, blank=True)
    rollout = models.ForeignKey(
        "releases.Rollout", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    release_detail = models.TextField(blank=True)  # who the release reaches, in words
    audit_detail = models.TextField(blank=True)  # the app-wide scan after success

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    backups_started_at = models.DateTimeField(null=True, blank=True)
    backups_finished_at = models.DateTimeField(null=True, blank=True)
    publish_started_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    checks_started_at = models.DateTimeField(null=True, blank=True)
    checks_finished_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)

    # The worker driving it: claimed by a conditional UPDATE, renewed while it works.
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["app"],
                condition=Q(state__in=["draft", "backing_up", "publishing", "checking"]),
                name="security_patch_one_active_per_app",
            )
        ]

    def __str__(self) -> str:
        return f"security patch #{self.pk} ({self.version})"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_PATCH_STATES

    @property
    def tone(self) -> str:
        return {
            PatchState.SUCCEEDED: "ok",
            PatchState.FAILED: "bad",
            PatchState.ROLLED_BACK: "bad",
        }.get(self.state, "neutral")
