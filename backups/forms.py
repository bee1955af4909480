from __future__ import annotations

from django import forms

from backups.models import Backup, Source


class SourceForm(forms.Form):
    name = forms.SlugField(max_length=80)
    kind = forms.ChoiceField(choices=Source.Kind.choices)
    location = forms.CharField(
        max_length=500,
        help_text="An absolute path, or for PostgreSQL a DSN (postgres://user:password@host/db). "
        "The DSN is stored encrypted and never shown again.",
    )
    app = forms.ModelChoiceField(queryset=None, required=False, empty_label="The console itself")
    production = forms.BooleanField(
        required=False, help_text="Restores onto it need a second person's approval"
    )
    schedule_hours = forms.IntegerField(
        min_value=1,
        max_value=24 * 31,
        required=False,
        help_text="Back up every N hours (empty: by hand only)",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from releases.models import App

        self.fields["app"].queryset = App.objects.order_by("name")


class BackupForm(forms.Form):
    type = forms.ChoiceField(choices=Backup.Type.choices, initial=Backup.Type.INCREMENTAL)


class VerifyForm(forms.Form):
    level = forms.ChoiceField(choices=[("structure", "Structure"), ("data", "Data")])
    slice = forms.RegexField(
        regex=r"^\d+/\d+$",
        required=False,
        initial="1/1",
        help_text="K/T: check the K-th of T slices of the data",
    )

    def clean_slice(self) -> tuple[int, int]:
        text = self.cleaned_data.get("slice") or "1/1"
        k, t = (int(x) for x in text.split("/"))
        if not 1 <= k <= t:
            raise forms.ValidationError("use K/T with 1 ≤ K ≤ T")
        return k, t


class RestoreForm(forms.Form):
    target = forms.CharField(
        max_length=500,
        required=False,
        help_text="Empty: the source itself. Otherwise another path, or for PostgreSQL the name "
        "of a new database on the same server.",
    )
    confirm = forms.BooleanField(required=False)
