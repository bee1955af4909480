from __future__ import annotations

from django import forms
from django.urls import reverse

from releases.models import ChangeType, Channel


class AppForm(forms.Form):
    slug = forms.SlugField(max_length=60, help_text="lowercase letters, digits and dashes")
    name = forms.CharField(max_length=200)


class ChannelForm(forms.Form):
    name = forms.SlugField(max_length=60, help_text="e.g. production, beta")
    upload_policy = forms.ChoiceField(
        choices=Channel.UploadPolicy.choices, initial=Channel.UploadPolicy.REJECT
    )
    is_production = forms.BooleanField(required=False)
    release_gate = forms.ChoiceField(
        label="New releases",
        required=False,  # absent: the safe default, as in the API
        choices=Channel.ReleaseGate.choices,
        initial=Channel.ReleaseGate.ROLLOUT,
    )

    def clean_release_gate(self) -> str:
        return self.cleaned_data["release_gate"] or Channel.ReleaseGate.ROLLOUT


class ChannelGateForm(forms.Form):
    """Change a channel's release gate. Opening it (rollout → immediate) needs the channel's
    name typed in ``confirm``: it exposes every published release to everyone at once."""

    release_gate = forms.ChoiceField(label="New releases", choices=Channel.ReleaseGate.choices)
    confirm = forms.CharField(
        required=False,
        max_length=60,
        label="Type the channel's name to confirm",
        help_text="needed to open the gate (to make releases available to everyone at once)",
    )
    reason = forms.CharField(required=False, max_length=1000, help_text="kept in the audit trail")

    def __init__(self, *args, channel: Channel, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel = channel

    def clean(self):
        data = super().clean()
        opening = (
            self.channel.release_gate == Channel.ReleaseGate.ROLLOUT
            and data.get("release_gate") == Channel.ReleaseGate.IMMEDIATE
        )
        if opening and (data.get("confirm") or "").strip() != self.channel.name:
            self.add_error(
                "confirm",
                f"Type {self.channel.name} to confirm: every published release waiting for its "
                "rollout becomes available to everyone at once.",
            )
        return data


class TestersForm(forms.Form):
    testers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="install ids, one per line: they see tester-only releases",
    )

    def clean_testers(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["testers"].splitlines() if line.strip()]


class BudgetsForm(forms.Form):
    main_budget_kib = forms.IntegerField(min_value=1, label="Main package (KiB)")
    subpackage_budget_kib = forms.IntegerField(min_value=1, label="Each subpackage (KiB)")
    total_budget_kib = forms.IntegerField(min_value=1, label="Total (KiB)")
    growth_budget_pct = forms.IntegerField(min_value=0, max_value=1000, label="Growth (%)")


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=1000)


class PublishForm(forms.Form):
    version = forms.CharField(max_length=100, help_text="semantic version, e.g. 1.4.0")
    bundle = forms.FileField(help_text="a zip with app.json at its root")
    changes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="one per line, 'type: text'; types: " + ", ".join(ChangeType.values),
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    runtime = forms.CharField(
        required=False,
        max_length=200,
        label="Runtime range",
        help_text="semver range of the host library, e.g. >=2.1.0 <3",
    )
    mandatory = forms.BooleanField(required=False)
    channel = forms.ChoiceField(required=False, help_text="empty: every channel")
    rollback_target = forms.ChoiceField(
        required=False,
        label="Rollback target",
        help_text="the releases clients of the chosen channel can go back to: earlier, enabled, "
        "and not withdrawn there (the list follows the channel); empty: the newest of them",
    )

    def __init__(self, *args, app, **kwargs):
        from releases.rollouts import rollback_candidates
        from releases.versioning import VersionError, parse

        super().__init__(*args, **kwargs)
        channels = list(app.channels.all())
        self.fields["channel"].choices = [("", "Every channel")] + [
            (c.name, c.name) for c in channels
        ]
        # HTMX: changing the channel re-renders the rollback choices for it (a GET of the
        # publish page with ?channel=; without JS the every-channel list, a subset of any
        # channel's, is offered).
        self.fields["channel"].widget.attrs.update(
            {
                "hx-get": reverse("releases:publish", args=[app.slug]),
                "hx-trigger": "change",
                "hx-target": "#rollback-field",
                "hx-swap": "outerHTML",
            }
        )
        # The rollback choices are exactly what the publish accepts: the same function, for the
        # channel chosen (bound data, else the initial one) and the version typed, if valid.
        source = self.data if self.is_bound else self.initial
        name = source.get("channel") or ""
        channel = next((c for c in channels if c.name == name), None)
        version = source.get("version") if self.is_bound else None
        try:
            version = str(parse(version)) if version else None
        except VersionError:
            version = None
        self.fields["rollback_target"].choices = [("", "Computed: the newest one")] + [
            (r.version, r.version) for r in rollback_candidates(app, channel, version)
        ]


class RolloutStartForm(forms.Form):
    """Start a rollout of one release: a canary (a plan) or a blue-green (probes, window).
    The fields of the other strategy are ignored (the page shows them all, pre-filled)."""

    STRATEGIES = [("canary", "Canary (growing cohorts)"), ("blue_green", "Blue-green (switch)")]
    PLANS = [
        ("default", "5 % 10 min → 25 % 30 min → 50 % 1 h → 100 % (automatic)"),
        ("approval", "Same, each step after the first approved by a person"),
    ]

    channel = forms.ChoiceField()
    strategy = forms.ChoiceField(choices=STRATEGIES, required=False, initial="canary")
    plan = forms.ChoiceField(choices=PLANS, required=False, initial="default", label="Canary plan")
    probes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Health probes",
        help_text="blue-green: backend URLs, one per line; each must answer 2xx in time "
        "(redirects are not followed)",
    )
    probe_timeout = forms.FloatField(
        required=False, min_value=0.1, max_value=30, initial=5, label="Probe timeout (s)"
    )
    window_seconds = forms.IntegerField(
        required=False,
        min_value=60,
        max_value=7 * 86400,
        initial=300,
        label="Monitoring window (s)",
        help_text="blue-green: after the switch; a breach flips back automatically",
    )
    restore_seconds = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=30 * 86400,
        initial=86400,
        label="Restore period (s)",
        help_text="blue-green: how long after completion the flip back stays available",
    )
    requires_approval = forms.BooleanField(
        required=False, label="The switch needs approval (blue-green)"
    )

    def __init__(self, *args, channels: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = [(c, c) for c in channels]

    def clean_strategy(self) -> str:
        return self.cleaned_data["strategy"] or "canary"

    def clean_plan(self) -> str:
        return self.cleaned_data["plan"] or "default"

    def clean_probes(self) -> list[str]:
        from releases.bluegreen import MAX_PROBES, parse_probe_url
        from releases.rollouts import RolloutError

        urls = [line.strip() for line in self.cleaned_data["probes"].splitlines() if line.strip()]
        if len(urls) > MAX_PROBES:
            raise forms.ValidationError(f"At most {MAX_PROBES} probes.")
        if len(set(urls)) != len(urls):
            raise forms.ValidationError("A URL is listed twice.")
        for url in urls:
            try:
                parse_probe_url(url)
            except RolloutError as exc:
                raise forms.ValidationError(exc.detail) from None
        return urls

    def blue_green_options(self) -> dict:
        d = self.cleaned_data
        options = {"probes": d["probes"], "requires_approval": d["requires_approval"]}
        for name in ("probe_timeout", "window_seconds", "restore_seconds"):
            if d.get(name) is not None:
                options[name] = d[name]
        return options
