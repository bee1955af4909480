from __future__ import annotations

from django import forms

from fleet.models import Fleet, Host
from releases.models import Channel


class FleetForm(forms.ModelForm):
    class Meta:
        model = Fleet
        fields = [
            "name",
            "app",
            "channel",
            "batch_size",
            "failure_budget",
            "health_path",
            "host_timeout",
        ]
        help_texts = {
            "batch_size": "Hosts deployed at the same time.",
            "failure_budget": "Failed hosts tolerated; one more stops the deployment and rolls "
            "back every host that got the new release.",
            "health_path": "Path on the agent whose answer must report the new release's sha.",
            "host_timeout": "Seconds for one host's deploy, and again for its health check.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.select_related("app")

    def clean_health_path(self) -> str:
        path = self.cleaned_data["health_path"].strip()
        if not path.startswith("/") or any(c.isspace() for c in path):
            raise forms.ValidationError("a path starting with “/”, without spaces")
        return path

    def clean(self):
        data = super().clean()
        app, channel = data.get("app"), data.get("channel")
        if app and channel and channel.app_id != app.pk:
            self.add_error("channel", f"this channel belongs to {channel.app.slug}, not {app.slug}")
        return data


class HostForm(forms.ModelForm):
    agent_url = forms.URLField(
        label="Agent URL",
        max_length=300,
        assume_scheme="https",
        help_text="Where the deploy agent listens, e.g. http://10.0.0.5:8700",
    )

    class Meta:
        model = Host
        fields = ["name", "agent_url"]

    def __init__(self, *args, fleet: Fleet, **kwargs):
        super().__init__(*args, **kwargs)
        self.fleet = fleet

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if Host.objects.filter(fleet=self.fleet, name=name).exists():
            raise forms.ValidationError("this fleet already has a host with this name")
        return name

    def clean_agent_url(self) -> str:
        url = self.cleaned_data["agent_url"].strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise forms.ValidationError("use an http:// or https:// URL")
        return url


class StartForm(forms.Form):
    release = forms.ModelChoiceField(queryset=None, empty_label=None)

    def __init__(self, *args, releases, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["release"].queryset = releases
        self.fields["release"].label_from_instance = lambda r: (
            f"{r.version} ({r.bundle_sha256[:12]})"
        )


class AbortForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)
