from __future__ import annotations

from urllib.parse import urlsplit

from django import forms

from notifications.events import all_events, choices
from notifications.models import Delivery, WebhookEndpoint


def _webhook_event_choices() -> list[tuple[str, str]]:
    """Each area as ``area.*`` (everything in it, also events added later), then each event."""
    events = all_events(selectable_only=True)
    areas = sorted({e.area for e in events})
    return [(f"{a}.*", f"Everything in “{a}”") for a in areas] + choices()


class PreferencesForm(forms.Form):
    events = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["events"].choices = choices()


class WebhookForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
    )
    events = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to receive every event.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "events"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["events"].choices = _webhook_event_choices()

    def clean_name(self) -> str:
        return self.cleaned_data["name"].strip()

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if urlsplit(url).scheme not in {"http", "https"}:
            raise forms.ValidationError("Use an http:// or https:// URL.", code="scheme")
        return url


class DeliveryFilterForm(forms.Form):
    """The delivery log's filters (GET); an empty value means no filter."""

    status = forms.ChoiceField(required=False)
    channel = forms.ChoiceField(required=False)
    event = forms.ChoiceField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", "Any status"), *Delivery.Status.choices]
        self.fields["channel"].choices = [("", "Any channel"), *Delivery.Channel.choices]
        self.fields["event"].choices = [("", "Any event"), *choices(selectable_only=False)]

    def filter(self, deliveries):
        data = self.cleaned_data
        if data.get("status"):
            deliveries = deliveries.filter(status=data["status"])
        if data.get("channel"):
            deliveries = deliveries.filter(channel=data["channel"])
        if data.get("event"):
            deliveries = deliveries.filter(notification__event=data["event"])
        return deliveries
