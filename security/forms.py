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
