"""Forms of the security pages: filters, the two finding actions and the two uploads."""

from __future__ import annotations

from datetime import UTC, datetime, time

from django import forms

from security.models import FindingState, Scan, Severity

STATE_CHOICES = [("", "Active (not fixed)"), ("all", "All"), *FindingState.choices]
MAX_REPORT_BYTES = 20 * 1024 * 1024


class FindingFilterForm(forms.Form):
    app = forms.CharField(required=False, label="App (slug)")
    state = forms.ChoiceField(required=False, choices=STATE_CHOICES)
    severity = forms.ChoiceField(required=False, choices=[("", "Any"), *Severity.choices])
    overdue = forms.BooleanField(required=False, label="Overdue only")


class AcknowledgeForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        help_text="What is being done about it (tracked in the audit trail).",
    )


class SuppressForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    until = forms.DateField(
        label="Suppressed until",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="At most 365 days; it returns to open on that day (00:00 UTC).",
    )

    def clean_until(self) -> datetime:
        return datetime.combine(self.cleaned_data["until"], time.min, tzinfo=UTC)


class ReportForm(forms.Form):
    app = forms.ModelChoiceField(queryset=None, to_field_name="slug")
    release = forms.CharField(required=False, help_text="Version (optional).")
    kind = forms.ChoiceField(
        choices=[
            (Scan.Source.PIP_AUDIT, "pip-audit -f json"),
            (Scan.Source.NPM_AUDIT, "npm audit --json (report version 2)"),
        ]
    )
    report = forms.FileField()

    def __init__(self, *args, **kwargs):
        from releases.models import App

        super().__init__(*args, **kwargs)
        self.fields["app"].queryset = App.objects.order_by("slug")

    def clean_report(self):
        upload = self.cleaned_data["report"]
        if upload.size > MAX_REPORT_BYTES:
            raise forms.ValidationError(f"the report is larger than {MAX_REPORT_BYTES} bytes")
        return upload

    def clean(self):
        data = super().clean()
        app, version = data.get("app"), (data.get("release") or "").strip()
        data["release_obj"] = None
        if app is not None and version:
            release = app.releases.filter(version=version).first()
            if release is None:
                self.add_error("release", f"{app.slug} has no release {version}")
            data["release_obj"] = release
        return data


class OsvImportForm(forms.Form):
    export = forms.FileField(
        label="OSV export (all.zip)",
        help_text="The per-ecosystem all.zip export (PyPI or npm): one JSON advisory per file.",
    )


class PatchForm(forms.Form):
    """Prepare a security patch of one app: the patched bundle, what it fixes, what is backed up
    first and what is probed after (``security.patches.prepare`` checks the rest)."""

    findings = forms.ModelMultipleChoiceField(
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        help_text="The findings this release fixes; the re-scan must show their packages fixed.",
    )
    channel = forms.ModelChoiceField(queryset=None, to_field_name="name", empty_label=None)
    version = forms.CharField(max_length=100, help_text="The next patch version is suggested.")
    bundle = forms.FileField(help_text="The patched bundle: a zip with app.json at its root.")
    changes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line, 'type: text'; empty: one 'security' line per finding.",
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    sources = forms.ModelMultipleChoiceField(
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        label="Back up first",
        help_text="Each source gets a backup, and the patch waits until every one is complete.",
    )
    health_urls = forms.CharField(
        required=False,
        label="Health-check URLs",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line (at most 10); after publishing each must answer 2xx within the "
        "timeout. Redirects are failures.",
    )
    health_timeout = forms.FloatField(
        initial=5.0, min_value=0.1, max_value=30, label="Health-check timeout (seconds)"
    )
    start_rollout = forms.BooleanField(
        required=False,
        initial=True,
        label="Start a canary when the checks pass",
        help_text="Rollout-gated channels only: 10 % for 10 min, 50 % for 20 min, then 100 %. "
        "Unticked, the release stays with testers until a release manager starts a rollout.",
    )

    def __init__(self, *args, app, **kwargs):
        from backups.models import Source
        from security.models import ACTIVE_STATES, Finding

        super().__init__(*args, **kwargs)
        self.fields["findings"].queryset = (
            Finding.objects.filter(app=app, state__in=ACTIVE_STATES)
            .select_related("advisory")
            .order_by("package", "pk")
        )
        self.fields["findings"].label_from_instance = lambda f: (
            f"{f.advisory.key} in {f.ecosystem}/{f.package} {', '.join(f.versions)} "
            f"({f.severity}, {f.state})"
        )
        self.fields["channel"].queryset = app.channels.order_by("name")
        self.fields["channel"].label_from_instance = lambda c: (
            f"{c.name} ({'rollout-gated' if c.release_gate == 'rollout' else 'immediate'})"
        )
        self.fields["sources"].queryset = Source.objects.select_related("app").order_by("name")
        self.fields["sources"].label_from_instance = lambda s: (
            f"{s.name} ({s.get_kind_display()}"
            + (f", {s.app.slug}" if s.app_id else ", console")
            + ")"
        )

    def clean_health_urls(self) -> list[str]:
        return [u.strip() for u in self.cleaned_data["health_urls"].splitlines() if u.strip()]
