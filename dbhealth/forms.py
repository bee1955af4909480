from __future__ import annotations

from django import forms

IDENT = r"^[A-Za-z0-9_$.\-]{1,128}$"


class IndexForm(forms.Form):
    schema = forms.RegexField(regex=IDENT, max_length=128, initial="public")
    index = forms.RegexField(regex=IDENT, max_length=128)


class TableForm(forms.Form):
    schema = forms.RegexField(regex=IDENT, max_length=128, initial="public")
    table = forms.RegexField(regex=IDENT, max_length=128)


class DropForm(IndexForm):
    reason = forms.CharField(max_length=1000, help_text="Why this index can go.")

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why this index can go.")
        return reason
