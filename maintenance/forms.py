from __future__ import annotations

import json

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse

from maintenance import jobtypes, schedule, validation
from maintenance.models import Checklist, Job, Window


class DurationText(forms.CharField):
    """ "45m", "2h", "1h30m" ↔ timedelta."""

    def prepare_value(self, value):
        return schedule.format_duration(value) if hasattr(value, "total_seconds") else value

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        return validation.clean_duration(value, field=str(self.label or "duration").lower())


def _type_choices():
    """Runnable types first; declared ones without a runner are listed but refused on save."""
    types = sorted(jobtypes.all_types(), key=lambda t: (not t.runnable, t.title))
    return [(t.name, t.title + ("" if t.runnable else " (not available yet)")) for t in types]


class JobForm(forms.ModelForm):
    job_type = forms.ChoiceField(label="Type", choices=())
    params = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text='JSON, e.g. {"url": "https://example.org/healthz", "expected_status": 200}',
    )
    schedule = forms.CharField(
        initial="manual",
        help_text='Cron (minute hour day month weekday), e.g. "30 2 * * *", or "manual".',
    )
    timezone = forms.CharField(initial="UTC", help_text="IANA name, e.g. Europe/Berlin.")
    max_duration = DurationText(label="Max duration", initial="30m", help_text="e.g. 45m, 2h")
    retry_backoff = DurationText(label="Retry backoff", initial="1m")

    class Meta:
        model = Job
        fields = [
            "name",
            "description",
            "job_type",
            "params",
            "schedule",
            "timezone",
            "priority",
            "max_duration",
            "retry_attempts",
            "retry_backoff",
            "missed_policy",
            "depends_on",
            "app",
            "notify_started",
            "notify_succeeded",
            "slow_factor",
            "enabled",
            "owner",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["job_type"].choices = _type_choices()
        self.fields["depends_on"].required = False
        if self.instance.pk:
            self.fields["depends_on"].queryset = Job.objects.exclude(pk=self.instance.pk)
            self.initial["params"] = json.dumps(self.instance.params, indent=2)
        for name in ("schedule", "timezone"):
            self.fields[name].widget.attrs.update(
                {
                    "hx-get": reverse("maintenance:job_preview"),
                    "hx-trigger": "input changed delay:400ms",
                    "hx-target": "#schedule-preview",
                    "hx-swap": "outerHTML",
                    "hx-include": "#id_schedule, #id_timezone",
                }
            )

    def clean_name(self):
        name = self.cleaned_data["name"]
        if name in {"new", "preview"}:
            raise ValidationError(f"“{name}” is reserved by the console's addresses.")
        return name

    def clean_params(self):
        raw = (self.cleaned_data.get("params") or "").strip() or "{}"
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"params are not valid JSON: {exc.msg} at line {exc.lineno}"
            ) from exc

    def clean_schedule(self):
        return validation.clean_schedule(self.cleaned_data["schedule"])

    def clean_timezone(self):
        return validation.clean_zone(self.cleaned_data["timezone"].strip())

    def clean(self):
        data = super().clean()
        job_type, params = data.get("job_type"), data.get("params")
        if job_type and params is not None:
            try:
                data["params"] = validation.clean_type_and_params(job_type, params)
            except ValidationError as exc:
                self.add_error("job_type" if "runner" in str(exc) else "params", exc)
        if data.get("name") and "depends_on" in data:
            try:
                validation.clean_dependencies(
                    data["name"],
                    [p.name for p in data["depends_on"]],
                    edges={
                        k: v for k, v in validation.saved_edges().items() if k != self.instance.name
                    },
                )
            except ValidationError as exc:
                self.add_error("depends_on", exc)
        if data.get("max_duration") and job_type:
            probe = Job(job_type=job_type, max_duration=data["max_duration"], app=data.get("app"))
            try:
                validation.clean_window_fit(probe)
            except ValidationError as exc:
                self.add_error("max_duration", exc)
        return data


class WindowForm(forms.ModelForm):
    duration = DurationText(initial="2h")
    schedule = forms.CharField(
        required=False, help_text='When it opens (cron), e.g. "0 2 * * *"; or use weekdays.'
    )
    weekdays = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=list(enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])),
    )
    job_type = forms.ChoiceField(required=False, choices=())

    class Meta:
        model = Window
        fields = [
            "name",
            "kind",
            "schedule",
            "weekdays",
            "start_time",
            "duration",
            "timezone",
            "scope",
            "job_type",
            "app",
            "enabled",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["job_type"].choices = [("", "—"), *_type_choices()]

    def clean_schedule(self):
        expr = (self.cleaned_data.get("schedule") or "").strip()
        return validation.clean_schedule(expr) if expr else ""

    def clean_timezone(self):
        return validation.clean_zone(self.cleaned_data["timezone"].strip())

    def clean(self):
        data = super().clean()
        if not data.get("schedule") and not (data.get("weekdays") and data.get("start_time")):
            raise ValidationError("Give a cron expression, or weekdays and a start time.")
        scope = data.get("scope")
        if scope == Window.Scope.JOB_TYPE and not data.get("job_type"):
            self.add_error("job_type", "Choose the job type this window is for.")
        if scope == Window.Scope.APP and not data.get("app"):
            self.add_error("app", "Choose the app this window is for.")
        return data


class TickForm(forms.Form):
    done = forms.BooleanField(required=False)
    evidence = forms.CharField(
        max_length=500, required=False, help_text="A note or a link that shows it was done."
    )


class ChecklistAssignForm(forms.ModelForm):
    class Meta:
        model = Checklist
        fields = ["assignee"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["assignee"]
        field.queryset = field.queryset.filter(is_active=True).order_by("username")
