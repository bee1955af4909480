"""Flag forms: the text fields are parsed and checked by ``flags.ramp`` (the API shares it)."""

from __future__ import annotations

from django import forms

from flags import ramp
from flags.models import Flag
from releases.models import Channel

VARIANTS_HELP = (
    "One variant per line, name=weight; the weights add up to 100. “on=100” is a plain on/off "
    "flag; “A=50”, “B=50” an A/B test. A variant named “off” is an in-cohort control group."
)
TESTERS_HELP = (
    "One install id per line, optionally =variant (default: the first on variant). Testers get "
    "the flag whatever the percentage, but never past the kill switch."
)
PHASES_HELP = (
    "One phase per line: percent, hold seconds, and “approval” when a release manager other than "
    "the one who starts the ramp must approve entering it. A plan not ending at 100 gets a final "
    "100 % phase."
)


def parse_variants(text: str) -> list[dict]:
    variants = []
    for n, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        name, sep, weight = line.replace(" ", "=").partition("=")
        try:
            value = int(weight.strip()) if sep else None
        except ValueError:
            value = None
        if value is None:
            raise ramp.FlagError(
                400, "invalid_variants", f"line {n}: write name=weight", "variants"
            )
        variants.append({"name": name.strip(), "weight": value})
    return ramp.check_variants(variants)


def parse_phases(text: str) -> list[dict]:
    phases = []
    for n, line in enumerate((text or "").splitlines(), 1):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        approval = parts[-1].lower() == "approval"
        if approval:
            parts = parts[:-1]
        try:
            percent = float(parts[0].rstrip("%"))
            hold = int(parts[1]) if len(parts) > 1 else 0
        except (ValueError, IndexError):
            raise ramp.FlagError(
                400, "invalid_phases", f"line {n}: write percent hold_seconds [approval]", "phases"
            ) from None
        if len(parts) > 2:
            raise ramp.FlagError(400, "invalid_phases", f"line {n}: too many values", "phases")
        phases.append({"percent": percent, "hold_seconds": hold, "requires_approval": approval})
    return ramp.check_phases(phases or None)


def variants_text(variants: list[dict]) -> str:
    return "\n".join(f"{v['name']}={v['weight']}" for v in variants)


def testers_text(testers: dict) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted(testers.items()))


def phases_text(phases: list[dict]) -> str:
    return "\n".join(
        f"{p['percent']:g} {p.get('hold_seconds', 0)}"
        + (" approval" if p.get("requires_approval") else "")
        for p in phases
    )


DEFAULT_PHASES_TEXT = phases_text(list(ramp.DEFAULT_PHASES))


class _Definition(forms.Form):
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    min_version = forms.CharField(
        label="Minimum release version",
        max_length=100,
        help_text="The release that ships the feature dark (semver, e.g. 1.4.0); clients on older "
        "versions never get the flag.",
    )
    variants = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), initial="on=100", help_text=VARIANTS_HELP
    )
    testers = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text=TESTERS_HELP
    )
    phases = forms.CharField(
        label="Ramp phases",
        widget=forms.Textarea(attrs={"rows": 4}),
        initial=DEFAULT_PHASES_TEXT,
        help_text=PHASES_HELP,
    )

    def _checked(self, name, func, *args):
        try:
            return func(*args)
        except ramp.FlagError as exc:
            self.add_error(name, exc.detail)
            return None

    def clean(self):
        data = super().clean()
        if "min_version" in data:
            data["min_version"] = self._checked(
                "min_version", ramp.check_min_version, data["min_version"]
            )
        if "variants" in data:
            data["variants"] = self._checked("variants", parse_variants, data["variants"])
        if data.get("variants"):
            data["testers"] = self._checked(
                "testers", ramp.parse_testers, data.get("testers", ""), data["variants"]
            )
        if "phases" in data:
            data["phases"] = self._checked("phases", parse_phases, data["phases"])
        return data


class FlagCreateForm(_Definition):
    channel = forms.ModelChoiceField(
        queryset=Channel.objects.select_related("app").order_by("app__slug", "name"),
        help_text="A flag belongs to one channel of one app.",
    )
    key = forms.CharField(
        max_length=64,
        help_text='What the app asks for: upkeep.flag("key"). Lower-case letters, digits, '
        ". _ -; unique per channel; cannot change later.",
    )
    field_order = ["channel", "key", "description", "min_version", "variants", "testers"]

    def clean_key(self):
        try:
            return ramp.check_key(self.cleaned_data["key"])
        except ramp.FlagError as exc:
            raise forms.ValidationError(exc.detail) from None

    def clean(self):
        data = super().clean()
        channel, key = data.get("channel"), data.get("key")
        if channel and key and Flag.objects.filter(channel=channel, key=key).exists():
            self.add_error("key", f"{channel} already has a flag “{key}”.")
        return data


class FlagEditForm(_Definition):
    row_version = forms.IntegerField(widget=forms.HiddenInput)

    @classmethod
    def for_flag(cls, flag: Flag) -> FlagEditForm:
        return cls(
            initial={
                "description": flag.description,
                "min_version": flag.min_version,
                "variants": variants_text(flag.variants),
                "testers": testers_text(flag.testers),
                "phases": phases_text(flag.phases),
                "row_version": flag.row_version,
            }
        )
