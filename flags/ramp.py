"""Flags: definition changes, the kill switch and the ramp — one writer, compare-and-set.

Every change goes through ``_move`` (or ``create`` for the first row): ``audit.trail.transition``
on ``Flag.row_version`` (a writer that lost the race writes nothing and gets False), an
append-only ``FlagEvent`` row and ``releases.generation.bump()`` so the next update answer sees
the change. Audit actions are ``flag.*``.

The ramp reuses the canary machinery: the phase plan is validated by ``releases.rollouts``
(percent growing to 100, hold, optional approval per phase), the hold clock is persisted
(``hold_accumulated`` + running clock; a pause or a wait for approval stops it), the controller
tick claims due flags with a conditional UPDATE and analyses them with ``monitoring.analysis``,
approvals are bound to (flag, phase, row_version) and the ramp's starter cannot approve.

What the analysis compares (see flags/README.md, "What the analysis proves"): telemetry carries
the client's version, not its flags, so flag-on and flag-off clients of one version cannot be told
apart. Each look compares the versions that carry the flag (>= its minimum version) during the
ramp phase with the same versions in the hour before the ramp started.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.context import Actor, acting_as, current_actor
from audit.trail import record, snapshot, transition
from flags.models import Flag, FlagApproval, FlagEvent, FlagMeasurement, FlagState
from monitoring import analysis
from releases import generation
from releases.models import Channel, Release
from releases.versioning import VersionError, parse

KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
VARIANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
INSTALL_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MAX_TESTERS = 500

DEFAULT_PHASES = (
    {"percent": 5.0, "hold_seconds": 600, "requires_approval": False},
    {"percent": 25.0, "hold_seconds": 1800, "requires_approval": False},
    {"percent": 50.0, "hold_seconds": 3600, "requires_approval": False},
    {"percent": 100.0, "hold_seconds": 0, "requires_approval": False},
)
# A flag does not change how bundles install: the rollout default set minus install failures.
DEFAULT_METRICS = tuple(
    s.as_dict() for s in analysis.DEFAULT_SPECS if s.metric != "install_failure_rate"
)
BASELINE_SECONDS = 3600  # the window before the ramp started that each look compares with
CLAIM_SECONDS = 120
STATE_FIELDS = (
    "state",
    "step",
    "phase",
    "percent",
    "killed",
    "attempt",
    "hold_accumulated",
    "clock_started_at",
    "hold_extension",
)
DEFINITION_FIELDS = ("description", "min_version", "variants", "testers", "phases", "metrics")


class FlagError(Exception):
    """A refused action: ``status`` is the HTTP status, ``code`` machine-readable."""

    def __init__(self, status: int, code: str, detail: str, field: str | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.field = status, code, detail, field


# --- validation (the forms and the API share it) ------------------------------------------------


def check_key(key: str) -> str:
    key = (key or "").strip()
    if not KEY_RE.match(key):
        raise FlagError(
            400,
            "invalid_key",
            "a key is 1-64 lower-case letters, digits and . _ - (starting with a letter or digit)",
            "key",
        )
    return key


def check_min_version(text: str) -> str:
    try:
        return str(parse((text or "").strip()))
    except VersionError as exc:
        raise FlagError(400, "invalid_min_version", str(exc), "min_version") from None


def check_variants(data) -> list[dict]:
    """[{"name", "weight"}]: 1-10 distinct names, integer weights 0-100 summing to 100."""
    if not isinstance(data, list) or not 1 <= len(data) <= 10:
        raise FlagError(400, "invalid_variants", "list 1 to 10 variants", "variants")
    out, names = [], set()
    for i, item in enumerate(data):
        if not isinstance(item, dict) or set(item) - {"name", "weight"}:
            raise FlagError(400, "invalid_variants", f"variant {i} is {{name, weight}}", "variants")
        name, weight = item.get("name"), item.get("weight")
        if not isinstance(name, str) or not VARIANT_RE.match(name):
            raise FlagError(
                400,
                "invalid_variants",
                f"variant {i}: a name is 1-32 letters, digits, _ and -",
                "variants",
            )
        if name in names:
            raise FlagError(
                400, "invalid_variants", f"variant {name!r} is listed twice", "variants"
            )
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
            raise FlagError(
                400, "invalid_variants", f"variant {name}: weight is an integer 0-100", "variants"
            )
        names.add(name)
        out.append({"name": name, "weight": weight})
    if sum(v["weight"] for v in out) != 100:
        raise FlagError(400, "invalid_variants", "the weights must add up to 100", "variants")
    if all(v["name"] == "off" or v["weight"] == 0 for v in out):
        raise FlagError(400, "invalid_variants", "at least one variant must be on", "variants")
    return out


def check_testers(data, variants: list[dict]) -> dict[str, str]:
    """{install_id: variant}; a variant not among the flag's variants is refused."""
    if not isinstance(data, dict) or len(data) > MAX_TESTERS:
        raise FlagError(
            400, "invalid_testers", f"at most {MAX_TESTERS} tester install ids", "testers"
        )
    names = {v["name"] for v in variants}
    for install_id, variant in data.items():
        if not isinstance(install_id, str) or not INSTALL_ID_RE.match(install_id):
            raise FlagError(
                400,
                "invalid_testers",
                f"{install_id!r} is not an install id (1-128 of A-Z a-z 0-9 . _ : -)",
                "testers",
            )
        if variant not in names:
            raise FlagError(
                400,
                "invalid_testers",
                f"tester {install_id}: {variant!r} is not one of the variants",
                "testers",
            )
    return dict(data)


def default_on(variants: list[dict]) -> str:
    """The variant a tester listed without one gets: the first on variant with weight."""
    return next(
        (v["name"] for v in variants if v["name"] != "off" and v["weight"] > 0),
        variants[0]["name"],
    )


def parse_testers(text: str, variants: list[dict]) -> dict[str, str]:
    """Lines ``install_id`` or ``install_id=variant`` (blank lines and # comments ignored)."""
    out = {}
    for line in (text or "").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        install_id, _, variant = line.partition("=")
        out[install_id.strip()] = variant.strip() or default_on(variants)
    return check_testers(out, variants)


def check_phases(data) -> list[dict]:
    from releases import rollouts

    if data is None:
        return [dict(p) for p in DEFAULT_PHASES]
    try:
        return rollouts.parse_phases(data)
    except rollouts.RolloutError as exc:
        raise FlagError(exc.status, exc.code, exc.detail, exc.field) from None


def check_metrics(data) -> list[dict]:
    from releases import rollouts

    if data is None:
        return [dict(m) for m in DEFAULT_METRICS]
    try:
        return rollouts.parse_metrics(data)
    except rollouts.RolloutError as exc:
        raise FlagError(exc.status, exc.code, exc.detail, exc.field) from None


def max_hold(phase: dict) -> int:
    """A phase's longest hold (extensions for lack of data stop there): the rollouts' rule."""
    from releases import rollouts

    return rollouts.max_hold(phase)


# --- the one writer ----------------------------------------------------------------------------


def _state(flag: Flag) -> dict:
    return snapshot(flag, STATE_FIELDS)


def _event(flag: Flag, action: str, before: dict, after: dict, reason: str) -> None:
    actor = current_actor()
    FlagEvent.objects.create(
        flag=flag,
        at=timezone.now(),
        action=action,
        actor_label=actor.label[:200],
        reason=reason,
        before=before,
        after=after,
        request_id=actor.request_id[:64],
    )


def _move(flag: Flag, action: str, changes: dict, *, reason: str = "", fields=()) -> bool:
    """Compare-and-set on ``row_version``; False (nothing written) when another writer won."""
    shown = tuple(STATE_FIELDS) + tuple(fields)
    before = snapshot(flag, shown)
    expected = flag.row_version
    with transaction.atomic():
        won = transition(
            flag,
            action=f"flag.{action}",
            expect={"row_version": expected},
            changes={**changes, "row_version": expected + 1},
            reason=reason,
        )
        if not won:
            return False
        _event(flag, action, before, snapshot(flag, shown), reason)
        generation.bump()
    return True


def fresh(flag_or_pk) -> Flag:
    pk = getattr(flag_or_pk, "pk", flag_or_pk)
    return Flag.objects.select_related("app", "channel", "ramp_started_by").get(pk=pk)


def create(
    channel: Channel,
    *,
    key: str,
    min_version: str,
    variants=None,
    description: str = "",
    testers=None,
    phases=None,
    metrics=None,
    user=None,
) -> Flag:
    """A new flag, dark: off for everyone but its testers until its ramp starts."""
    key = check_key(key)
    min_version = check_min_version(min_version)
    variants = check_variants(variants if variants is not None else [{"name": "on", "weight": 100}])
    testers = check_testers(testers or {}, variants)
    phases = check_phases(phases)
    metrics = check_metrics(metrics)
    try:
        with transaction.atomic():
            flag = Flag.objects.create(
                app_id=channel.app_id,
                channel=channel,
                key=key,
                description=description.strip(),
                min_version=min_version,
                variants=variants,
                testers=testers,
                phases=phases,
                metrics=metrics,
                salt=secrets.token_hex(8),
                variant_salt=secrets.token_hex(8),
                created_by=user if getattr(user, "is_authenticated", False) else None,
            )
            after = snapshot(flag, ("key", *DEFINITION_FIELDS, *STATE_FIELDS))
            record("flag.created", flag, after=after)
            _event(flag, "created", {}, after, "")
            generation.bump()
    except IntegrityError:
        raise FlagError(409, "key_exists", f"{channel} already has a flag {key!r}", "key") from None
    return flag


def edit(flag: Flag, *, row_version: int, reason: str = "", **definition) -> bool:
    """Change the definition (not the key); 409 ``stale`` when the form was rendered for an older
    ``row_version``. Phases and metrics are fixed while a ramp runs."""
    if row_version != flag.row_version:
        raise FlagError(409, "stale", "the flag changed since this form was shown; look again")
    unknown = set(definition) - set(DEFINITION_FIELDS)
    if unknown:
        raise FlagError(400, "invalid_field", f"unknown field(s) {sorted(unknown)}")
    changes = {}
    if "description" in definition:
        changes["description"] = (definition["description"] or "").strip()
    if "min_version" in definition:
        changes["min_version"] = check_min_version(definition["min_version"])
    variants = flag.variants
    if "variants" in definition:
        variants = changes["variants"] = check_variants(definition["variants"])
    if "testers" in definition or "variants" in definition:
        changes["testers"] = check_testers(definition.get("testers", flag.testers), variants)
    for name, check in (("phases", check_phases), ("metrics", check_metrics)):
        if name in definition:
            value = check(definition[name])
            if value != getattr(flag, name) and flag.is_ramping:
                raise FlagError(
                    409, "ramp_active", f"{name} cannot change while the ramp runs", name
                )
            changes[name] = value
    changes = {k: v for k, v in changes.items() if v != getattr(flag, k)}
    if not changes:
        return True
    return _move(flag, "edited", changes, reason=reason, fields=tuple(changes))


# --- kill switch -------------------------------------------------------------------------------


def _clock_stop(flag: Flag, now: datetime) -> dict:
    return {"hold_accumulated": flag.held_seconds(now), "clock_started_at": None}


@transaction.atomic
def kill(flag: Flag, *, reason: str, now: datetime | None = None, automatic=False) -> bool:
    """Off for everyone (testers too) on the next update answer; a running ramp pauses."""
    now = now or timezone.now()
    if not reason.strip():
        raise FlagError(400, "reason_required", "say why the flag is killed", "reason")
    if flag.killed:
        raise FlagError(409, "already_killed", "the kill switch is already on")
    changes = {"killed": True, "killed_reason": reason.strip(), "reason": reason.strip()}
    if flag.state in (FlagState.RUNNING, FlagState.AWAITING_APPROVAL):
        changes |= {"state": FlagState.PAUSED, "step": Flag.Step.HOLD} | _clock_stop(flag, now)
    won = _move(flag, "killed_automatically" if automatic else "killed", changes, reason=reason)
    if won:
        _notify(
            flag,
            EVENT_KILLED,
            f"{flag} killed" + (" automatically" if automatic else ""),
            reason.strip(),
            f"kill:{flag.row_version}",
        )
    return won


def kill_on_breach(flag: Flag, *, reason: str, now: datetime) -> bool:
    """The automatic kill: read again and retry when another writer moved the flag meanwhile."""
    while True:
        if flag.killed:
            return False
        if kill(flag, reason=reason, now=now, automatic=True):
            return True
        flag = fresh(flag)


def unkill(flag: Flag, *, reason: str = "") -> bool:
    """The kill switch off: the flag is evaluated again at its percentage (a ramp stays paused
    until someone resumes it)."""
    if not flag.killed:
        raise FlagError(409, "not_killed", "the kill switch is off")
    return _move(
        flag, "unkilled", {"killed": False, "killed_reason": "", "reason": reason}, reason=reason
    )


def _notify(flag: Flag, event: str, subject: str, body: str, suffix: str) -> None:
    from django.urls import reverse

    from notifications.dispatch import notify

    notify(
        event,
        subject=subject,
        body=body,
        payload={"flag": flag.pk, "key": flag.key, "percent": flag.percent},
        dedup_key=f"flag:{flag.pk}:{suffix}",
        link=reverse("flags:detail", args=[flag.pk]),
    )


EVENT_KILLED = "flags.killed"
EVENT_AWAITING = "flags.awaiting_approval"
EVENT_PAUSED = "flags.paused"


def register_events() -> None:
    from notifications.events import register_event

    register_event(EVENT_KILLED, "Feature flag killed", "A flag's kill switch went on.")
    register_event(
        EVENT_AWAITING, "Feature flag awaits approval", "A flag's next phase waits for approvers."
    )
    register_event(
        EVENT_PAUSED, "Feature flag ramp paused", "A flag's ramp paused as inconclusive."
    )


# --- the ramp ----------------------------------------------------------------------------------


def _enter_phase(flag: Flag, index: int, now: datetime) -> dict:
    phase = flag.phases[index]
    percent = float(phase["percent"])
    if percent >= 100:
        return {
            "state": FlagState.COMPLETED,
            "step": Flag.Step.HOLD,
            "phase": index,
            "percent": 100.0,
            "clock_started_at": None,
        }
    return {
        "state": FlagState.RUNNING,
        "step": Flag.Step.HOLD,
        "phase": index,
        "percent": percent,
        "phase_started_at": now,
        "hold_accumulated": 0.0,
        "clock_started_at": now,
        "hold_extension": 0,
        "analysis_due_at": now,
    }


def start(flag: Flag, *, user=None, now: datetime | None = None, reason: str = "") -> bool:
    """Dark → phase 0 of the plan. The starter cannot approve later phases of this run."""
    now = now or timezone.now()
    if flag.state != FlagState.DRAFT:
        raise FlagError(409, "not_draft", f"the flag is {flag.get_state_display().lower()}")
    if flag.killed:
        raise FlagError(409, "killed", "turn the kill switch off before ramping")
    changes = _enter_phase(flag, 0, now) | {
        "ramp_started_at": now,
        "ramp_started_by_id": user.pk if getattr(user, "is_authenticated", False) else None,
        "attempt": flag.attempt + 1,
        "reason": reason,
    }
    return _move(flag, "ramp_started", changes, reason=reason)


def advance(flag: Flag, *, now: datetime, reason: str) -> bool:
    nxt = flag.phase + 1
    if nxt >= len(flag.phases):
        return _move(flag, "completed", _enter_phase(flag, flag.phase, now), reason=reason)
    if flag.phases[nxt].get("requires_approval"):
        with transaction.atomic():  # the transition and its notification commit together
            won = _move(
                flag,
                "awaiting_approval",
                {"state": FlagState.AWAITING_APPROVAL, "step": Flag.Step.HOLD}
                | _clock_stop(flag, now),
                reason=reason,
            )
            if won:
                _notify(
                    flag,
                    EVENT_AWAITING,
                    f"{flag} waits for approval",
                    f"Phase {nxt + 1} ({flag.phases[nxt]['percent']:g} %) needs "
                    f"{flag.channel.approvals_required} approver(s) other than the person who "
                    "started the ramp.",
                    f"await:{flag.attempt}:{flag.phase}",
                )
        return won
    return _move(flag, "advanced", _enter_phase(flag, nxt, now), reason=reason)


def pause(flag: Flag, *, reason: str, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    if flag.state != FlagState.RUNNING:
        raise FlagError(409, "not_running", f"the flag is {flag.get_state_display().lower()}")
    return _move(
        flag,
        "paused",
        {"state": FlagState.PAUSED, "step": Flag.Step.HOLD, "reason": reason}
        | _clock_stop(flag, now),
        reason=reason,
    )


def resume(flag: Flag, *, reason: str = "", now: datetime | None = None) -> bool:
    now = now or timezone.now()
    if flag.state != FlagState.PAUSED:
        raise FlagError(409, "not_paused", f"the flag is {flag.get_state_display().lower()}")
    if flag.killed:
        raise FlagError(409, "killed", "turn the kill switch off before resuming")
    changes = {"state": FlagState.RUNNING, "clock_started_at": now, "analysis_due_at": now}
    if flag.held_seconds(now) >= flag.hold_target():  # another full look before pausing again
        changes["hold_extension"] = flag.hold_extension + _interval(flag)
    return _move(flag, "resumed", changes, reason=reason)


# --- approvals ---------------------------------------------------------------------------------


def decide(
    flag_pk: int,
    user,
    *,
    decision: str,
    phase: int | None,
    row_version: int | None,
    reason: str = "",
    now: datetime | None = None,
) -> Flag:
    """An approval or rejection bound to (flag, phase, row_version) as the form showed them.

    409 ``stale`` when the flag moved, 403 ``self_approval`` for the ramp's starter, 409
    ``already_decided`` for a second decision by the same person. A rejection kills the flag;
    the N-th distinct approval (N = the channel's ``approvals_required``) enters the next phase
    exactly once (a double click finds the row version moved).
    """
    now = now or timezone.now()
    if decision not in ("approve", "reject"):
        raise FlagError(400, "invalid_decision", "decision is approve or reject")
    if decision == "reject" and not reason.strip():
        raise FlagError(400, "reason_required", "say why the phase is rejected", "reason")
    with transaction.atomic():
        locked = Flag.objects.select_for_update().filter(pk=flag_pk).first()
        if locked is None:
            raise FlagError(404, "not_found", "no such flag")
        flag = fresh(locked)
        if (
            flag.state != FlagState.AWAITING_APPROVAL
            or flag.phase != phase
            or flag.row_version != row_version
        ):
            raise FlagError(409, "stale", "the flag changed since this form was shown; look again")
        if flag.ramp_started_by_id is not None and flag.ramp_started_by_id == user.pk:
            raise FlagError(403, "self_approval", "the person who started the ramp cannot approve")
        try:
            with transaction.atomic():
                FlagApproval.objects.create(
                    flag=flag,
                    attempt=flag.attempt,
                    phase=phase,
                    user=user,
                    decision=decision,
                    reason=reason.strip(),
                    at=now,
                )
        except IntegrityError:
            raise FlagError(409, "already_decided", "you already decided on this phase") from None
        if decision == "reject":
            kill(flag, reason=f"rejected by {user.get_username()}: {reason.strip()}", now=now)
            return flag
        approvers = (
            FlagApproval.objects.filter(
                flag=flag, attempt=flag.attempt, phase=phase, decision="approve"
            )
            .values("user")
            .distinct()
            .count()
        )
        record(
            "flag.approval_recorded",
            flag,
            after={"phase": phase, "approvers": approvers},
            reason=reason.strip(),
        )
        if approvers >= max(1, flag.channel.approvals_required) and not _move(
            flag,
            "approved",
            _enter_phase(flag, flag.phase + 1, now),
            reason=f"approved by {approvers} approver(s)",
        ):
            raise FlagError(409, "stale", "another decision moved the flag first")
    return flag


def awaited_approvers(flag: Flag) -> dict:
    if flag.state != FlagState.AWAITING_APPROVAL:
        return {"needed": 0, "have": [], "missing": 0}
    have = [
        a.user.get_username()
        for a in FlagApproval.objects.filter(
            flag=flag, attempt=flag.attempt, phase=flag.phase, decision="approve"
        )
        .select_related("user")
        .order_by("at")
    ]
    needed = max(1, flag.channel.approvals_required)
    return {"needed": needed, "have": have, "missing": max(0, needed - len(have))}


# --- analysis and the controller ---------------------------------------------------------------


def specs_of(flag: Flag) -> list[analysis.MetricSpec]:
    return [analysis.parse_spec(m) for m in flag.metrics]


def _interval(flag: Flag) -> int:
    return min((s.interval_seconds for s in specs_of(flag)), default=60)


def carrying_versions(flag: Flag) -> list[str]:
    """The channel's releases that ship the flag (version >= its minimum)."""
    floor = parse(flag.min_version)
    versions = Release.objects.for_channel(flag.channel).values_list("version", flat=True)
    return sorted({v for v in versions if parse(v) >= floor})


def _merged(channel_id: int, versions, start, end, vitals) -> analysis.Cohort:
    merged = analysis.Cohort()
    for cohort in analysis.read_window(channel_id, versions, start, end, vitals=vitals).values():
        for name, n in cohort.counts.items():
            merged.counts[name] += n
        for name, n in cohort.errors.items():
            merged.errors[name] += n
        for vital, hist in cohort.histograms.items():
            for bucket, n in hist.items():
                merged.histograms[vital][bucket] += n
    return merged


def measure(flag: Flag, specs, start: datetime, end: datetime) -> list[analysis.Measurement]:
    """Each spec over [start, end) of the carrying versions, against the same versions in the
    ``BASELINE_SECONDS`` before the ramp started (the "stable" side of a relative metric)."""
    vitals = [s.definition.vital for s in specs if s.definition.vital]
    try:
        versions = carrying_versions(flag)
        ramp = _merged(flag.channel_id, versions, start, end, vitals)
        base_end = flag.ramp_started_at
        base_start = base_end - timedelta(seconds=BASELINE_SECONDS)
        before = _merged(flag.channel_id, versions, base_start, base_end, vitals)
    except Exception as exc:  # the provider failed: an error look, never a success
        return [_errored(s, start, end, f"reading rollups failed: {exc}") for s in specs]
    out = []
    for spec in specs:
        try:
            out.append(analysis.judge(spec, ramp, before, start, end))
        except Exception as exc:
            out.append(_errored(spec, start, end, f"evaluation failed: {exc}"))
    return out


def _errored(spec, start, end, detail: str) -> analysis.Measurement:
    return analysis.Measurement(
        metric=spec.metric,
        outcome=analysis.ERROR,
        reason=analysis.ERROR,
        window_start=start,
        window_end=end,
        threshold=spec.threshold,
        relative=spec.relative,
        min_samples=spec.min_samples,
        dry_run=spec.dry_run,
        detail=detail,
    )


def _stored(flag: Flag, m: analysis.Measurement, kind: str, now) -> FlagMeasurement:
    return FlagMeasurement(
        flag=flag,
        attempt=flag.attempt,
        phase=flag.phase,
        kind=kind,
        at=now,
        **analysis.row_values(m, FlagMeasurement),
    )


def phase_rows(flag: Flag) -> dict[str, list[FlagMeasurement]]:
    rows = FlagMeasurement.objects.filter(flag=flag, attempt=flag.attempt, phase=flag.phase)
    out: dict[str, list[FlagMeasurement]] = {}
    for row in rows.order_by("pk"):
        out.setdefault(row.metric, []).append(row)
    return out


def statuses(flag: Flag, *, final: bool = False, extra=None) -> list:
    return analysis.guardrail_statuses(specs_of(flag), phase_rows(flag), final=final, extra=extra)


def _breach(pairs) -> str:
    return analysis.breach_reason(pairs, "automatic kill")


def tick(now: datetime | None = None) -> list[int]:
    """Controller hook: claim each ramping flag whose look or hold end is due (a conditional
    UPDATE, so two controllers never both take it) and analyse it here (flags are few)."""
    now = now or timezone.now()
    done = []
    due = Flag.objects.filter(
        state__in=(FlagState.RUNNING, FlagState.AWAITING_APPROVAL), killed=False
    ).only(
        "pk",
        "state",
        "phases",
        "phase",
        "hold_accumulated",
        "clock_started_at",
        "hold_extension",
        "analysis_due_at",
    )
    for flag in due:
        hold_over = flag.state == FlagState.RUNNING and flag.held_seconds(now) >= flag.hold_target()
        look_due = flag.analysis_due_at is None or flag.analysis_due_at <= now
        if not (hold_over or look_due):
            continue
        claim = now + timedelta(seconds=CLAIM_SECONDS)
        claimed = (
            Flag._base_manager.filter(pk=flag.pk)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
            .update(claimed_until=claim)
        )
        if claimed:
            analyse(flag.pk, now=now, claim=claim)
            done.append(flag.pk)
    return done


def analyse(flag_pk: int, now: datetime | None = None, claim: datetime | None = None) -> str:
    """Guardrails for every metric due, then (hold over) the phase verdict. Returns ``idle``,
    ``measured``, ``killed``, ``advanced``, ``awaiting``, ``completed``, ``extended``,
    ``paused`` or ``waiting``."""
    now = now or timezone.now()
    with acting_as(Actor.for_run(f"flag-{flag_pk}-analysis")):
        try:
            return _analyse(flag_pk, now)
        finally:
            if claim is not None:
                Flag._base_manager.filter(pk=flag_pk, claimed_until=claim).update(
                    claimed_until=None
                )


def _analyse(flag_pk: int, now: datetime) -> str:
    flag = Flag.objects.select_related("app", "channel").filter(pk=flag_pk).first()
    if (
        flag is None
        or flag.killed
        or flag.state not in (FlagState.RUNNING, FlagState.AWAITING_APPROVAL)
    ):
        return "idle"
    outcome = "waiting"
    specs = specs_of(flag)
    last_at = {
        metric: rows[-1].at
        for metric, rows in phase_rows(flag).items()
        if any(r.kind == "guardrail" for r in rows)
    }
    due = [
        s
        for s in specs
        if s.metric not in last_at
        or (now - last_at[s.metric]).total_seconds() >= s.interval_seconds
    ]
    for spec in due:
        start, end = analysis.guardrail_window(now, spec.window_seconds, flag.phase_started_at)
        (m,) = measure(flag, [spec], start, end)
        _stored(flag, m, "guardrail", now).save()
        outcome = "measured"
    breach = _breach(statuses(flag))
    if breach:
        return "killed" if kill_on_breach(flag, reason=breach, now=now) else "idle"
    next_due = min(
        (
            (now if s in due else last_at.get(s.metric, now))
            + timedelta(seconds=s.interval_seconds)
            for s in specs
        ),
        default=now + timedelta(seconds=60),
    )
    Flag._base_manager.filter(pk=flag.pk).update(analysis_due_at=next_due)
    if flag.state != FlagState.RUNNING or flag.held_seconds(now) < flag.hold_target():
        return outcome
    if flag.step != Flag.Step.ANALYZING:
        _move(flag, "analyzing", {"step": Flag.Step.ANALYZING}, reason="hold over")
    verdicts = {m.metric: m for m in measure(flag, specs, flag.phase_started_at, now)}
    FlagMeasurement.objects.bulk_create(
        [_stored(flag, m, "verdict", now) for m in verdicts.values()]
    )
    final = statuses(flag, final=True, extra=verdicts)
    breach = _breach(final)
    if breach:
        return "killed" if kill_on_breach(flag, reason=breach, now=now) else "idle"
    status = analysis.run_status(s for _, s in final)
    if status == analysis.SUCCESSFUL:
        advance(flag, now=now, reason="phase verdict: every blocking metric successful")
        return {
            FlagState.COMPLETED: "completed",
            FlagState.AWAITING_APPROVAL: "awaiting",
        }.get(flag.state, "advanced")
    no_data, undecided = analysis.undecided(final)
    if status == analysis.RUNNING or (
        no_data
        and len(no_data) == len(undecided)
        and flag.held_seconds(now) + _interval(flag) <= max_hold(flag.current_phase)
    ):
        why = "verdict errored; retrying" if status == analysis.RUNNING else "not enough data yet"
        _move(
            flag,
            "hold_extended",
            {"step": Flag.Step.HOLD, "hold_extension": flag.hold_extension + _interval(flag)},
            reason=f"{why}: {', '.join(no_data)}" if no_data else why,
        )
        return "extended"
    reason = f"inconclusive: {', '.join(undecided)}" + (" (no data by max hold)" if no_data else "")
    with transaction.atomic():
        if pause(flag, reason=reason, now=now):
            _notify(flag, EVENT_PAUSED, f"{flag} paused", reason, f"pause:{flag.row_version}")
    return "paused"


# --- reading -----------------------------------------------------------------------------------


def metric_rows(flag: Flag) -> list[dict]:
    return [analysis.metric_row(spec, status) for spec, status in statuses(flag)]


def flag_json(flag: Flag) -> dict:
    now = timezone.now()
    return {
        "id": flag.pk,
        "app": flag.app.slug,
        "channel": flag.channel.name,
        "key": flag.key,
        "description": flag.description,
        "min_version": flag.min_version,
        "variants": flag.variants,
        "testers": len(flag.testers),
        "killed": flag.killed,
        "killed_reason": flag.killed_reason,
        "state": flag.state,
        "percent": flag.percent,
        "phase": flag.phase,
        "phases": flag.phases,
        "hold_seconds_left": (
            max(0, round(flag.hold_target() - flag.held_seconds(now)))
            if flag.state == FlagState.RUNNING
            else None
        ),
        "row_version": flag.row_version,
    }
