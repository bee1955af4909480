"""Rollouts: the state machine, its one writer, the exposure provider and the controller.

Two strategies share it: a canary (phases of growing percent) and a blue-green
(``releases.bluegreen``: phase 0 is the idle slot, testers only, left only through the
health-checked switch; phase 1 is all traffic for the monitoring window, whose breach flips
back).

Every transition goes through ``_move``: a compare-and-set on ``Rollout.row_version``
(``audit.trail.transition``), an append-only ``RolloutEvent`` row (actor, reason, before, after,
request id) and ``releases.generation.bump()`` so update answers change at once. Break-glass
actions are audited as ``breakglass.*``, everything else as ``rollout.*``.

States: running (step ``hold`` or ``analyzing``) / awaiting_approval / paused are active (one per
channel, a database constraint); completed, aborted, rolled_back and superseded are final, except
that an aborted rollout may be restarted (same row, same salt, phase 0).

The hold clock: ``hold_accumulated`` + (now - ``clock_started_at``) while the clock runs. A pause or
a wait for approval stops it; everything is in the row, so a controller restart loses nothing.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.context import Actor, acting_as, current_actor
from audit.trail import record, snapshot, transition
from monitoring import analysis
from releases import exposure, generation
from releases.models import (
    ACTIVE_ROLLOUT_STATES,
    BudgetVerdict,
    Channel,
    Release,
    Rollout,
    RolloutApproval,
    RolloutEvent,
    RolloutMeasurement,
    RolloutState,
    Strategy,
)
from releases.versioning import newest_first, next_versions, parse

log = logging.getLogger("upkeep.rollouts")

DEFAULT_PHASES = (
    {"percent": 5.0, "hold_seconds": 600, "requires_approval": False},
    {"percent": 25.0, "hold_seconds": 1800, "requires_approval": False},
    {"percent": 50.0, "hold_seconds": 3600, "requires_approval": False},
    {"percent": 100.0, "hold_seconds": 0, "requires_approval": False},
)
# Without data the hold is extended up to this multiple of the phase's hold (or the phase's own
# ``max_hold_seconds``), then the rollout pauses as inconclusive.
MAX_HOLD_FACTOR = 3
MIN_MAX_HOLD_SECONDS = 600
CLAIM_SECONDS = 120  # a controller's claim on queuing a rollout's analysis
STATE_FIELDS = (
    "state",
    "attempt",
    "step",
    "phase",
    "hold_accumulated",
    "clock_started_at",
    "hold_extension",
    "skip_analysis_phase",
)

EVENT_ABORTED = "rollouts.aborted"
EVENT_PAUSED = "rollouts.paused"
EVENT_AWAITING = "rollouts.awaiting_approval"


class RolloutError(Exception):
    """A refused action: ``status`` is the HTTP status, ``code`` machine-readable."""

    def __init__(self, status: int, code: str, detail: str, field: str | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.field = status, code, detail, field


def register_events() -> None:
    from notifications.events import register_event

    register_event(EVENT_ABORTED, "Rollout aborted", "A rollout was aborted (metrics or a person).")
    register_event(EVENT_PAUSED, "Rollout paused", "A rollout paused (inconclusive or a person).")
    register_event(
        EVENT_AWAITING, "Rollout awaits approval", "A rollout phase waits for approvers."
    )


# --- plans -------------------------------------------------------------------------------------


def parse_phases(data) -> list[dict]:
    """Validated phases (percent strictly increasing, ending at 100); RolloutError 400."""
    if data is None:
        return [dict(p) for p in DEFAULT_PHASES]
    if not isinstance(data, list) or not 1 <= len(data) <= 20:
        raise RolloutError(400, "invalid_phases", "phases is a list of 1-20 objects", "phases")
    phases, last = [], 0.0
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise RolloutError(400, "invalid_phases", f"phase {i} must be an object", "phases")
        unknown = set(item) - {"percent", "hold_seconds", "requires_approval", "max_hold_seconds"}
        if unknown:
            raise RolloutError(
                400, "invalid_phases", f"phase {i}: unknown field(s) {sorted(unknown)}", "phases"
            )
        percent = item.get("percent")
        if isinstance(percent, bool) or not isinstance(percent, int | float):
            raise RolloutError(400, "invalid_phases", f"phase {i}: percent is a number", "phases")
        if not last < percent <= 100:
            raise RolloutError(
                400,
                "invalid_phases",
                f"phase {i}: percent must grow and stay in (0, 100]",
                "phases",
            )
        hold = item.get("hold_seconds", 0)
        if isinstance(hold, bool) or not isinstance(hold, int) or not 0 <= hold <= 30 * 86400:
            raise RolloutError(
                400, "invalid_phases", f"phase {i}: hold_seconds is 0-2592000", "phases"
            )
        approval = item.get("requires_approval", False)
        if not isinstance(approval, bool):
            raise RolloutError(
                400, "invalid_phases", f"phase {i}: requires_approval is a boolean", "phases"
            )
        if approval and i == 0:
            raise RolloutError(
                400,
                "invalid_phases",
                "the first phase cannot require approval (starting the rollout approves it)",
                "phases",
            )
        phase = {"percent": float(percent), "hold_seconds": hold, "requires_approval": approval}
        if "max_hold_seconds" in item:
            mh = item["max_hold_seconds"]
            if isinstance(mh, bool) or not isinstance(mh, int) or mh < hold:
                raise RolloutError(
                    400,
                    "invalid_phases",
                    f"phase {i}: max_hold_seconds is an integer >= hold_seconds",
                    "phases",
                )
            phase["max_hold_seconds"] = mh
        phases.append(phase)
        last = float(percent)
    if last < 100:
        phases.append({"percent": 100.0, "hold_seconds": 0, "requires_approval": False})
    return phases


def parse_metrics(data) -> list[dict]:
    if data is None:
        return [s.as_dict() for s in analysis.DEFAULT_SPECS]
    if not isinstance(data, list) or len(data) > 20:
        raise RolloutError(400, "invalid_metrics", "metrics is a list of at most 20", "metrics")
    specs = []
    for i, item in enumerate(data):
        try:
            specs.append(analysis.parse_spec(item).as_dict())
        except analysis.SpecError as exc:
            raise RolloutError(400, "invalid_metrics", f"metric {i}: {exc}", "metrics") from None
    names = [s["metric"] for s in specs]
    if len(set(names)) != len(names):
        raise RolloutError(400, "invalid_metrics", "a metric is listed twice", "metrics")
    if not any(not s.get("dry_run") for s in specs):
        raise RolloutError(
            400,
            "no_blocking_metric",
            "a rollout needs at least one blocking metric (not dry-run) to judge its phases: "
            "list one, or leave metrics out for the defaults",
            "metrics",
        )
    return specs


def specs_of(rollout: Rollout) -> list[analysis.MetricSpec]:
    return [analysis.parse_spec(m) for m in rollout.metrics]


def max_hold(phase: dict) -> int:
    hold = int(phase.get("hold_seconds", 0))
    return int(phase.get("max_hold_seconds") or max(hold * MAX_HOLD_FACTOR, MIN_MAX_HOLD_SECONDS))


# --- the one writer ----------------------------------------------------------------------------


def _state(rollout: Rollout) -> dict:
    return snapshot(rollout, STATE_FIELDS)


def _event(rollout: Rollout, action: str, before: dict, after: dict, reason: str) -> None:
    actor = current_actor()
    RolloutEvent.objects.create(
        rollout=rollout,
        at=timezone.now(),
        action=action,
        actor_id=actor.user_id,
        actor_label=actor.label[:200],
        reason=reason,
        before=before,
        after=after,
        request_id=actor.request_id[:64],
    )


def _move(rollout: Rollout, action: str, changes: dict, *, reason: str = "") -> bool:
    """Compare-and-set on ``row_version``; False (nothing written) when another writer won."""
    before = _state(rollout)
    expected = rollout.row_version
    changes = {**changes, "row_version": expected + 1}
    audit_action = action if action.startswith("breakglass.") else f"rollout.{action}"
    with transaction.atomic():
        won = transition(
            rollout,
            action=audit_action,
            expect={"row_version": expected},
            changes=changes,
            reason=reason,
        )
        if not won:
            return False
        _event(rollout, action, before, _state(rollout), reason)
        generation.bump()
    return True


def _notify(rollout: Rollout, event: str, subject: str, body: str, suffix: str) -> None:
    from django.urls import reverse

    from notifications.dispatch import notify

    notify(
        event,
        subject=subject,
        body=body,
        payload={"rollout": rollout.pk, "version": rollout.release.version},
        dedup_key=f"rollout:{rollout.pk}:{suffix}",
        link=reverse("releases:rollout", args=[rollout.pk]),
    )


def _fresh(rollout_or_pk) -> Rollout:
    pk = getattr(rollout_or_pk, "pk", rollout_or_pk)
    return Rollout.objects.select_related("app", "channel", "release", "started_by").get(pk=pk)


# --- starting ----------------------------------------------------------------------------------


def stable_release(channel: Channel, release: Release) -> Release | None:
    """What clients outside the cohort run: the newest enabled older release on the channel that
    is not withdrawn (its own latest rollout there aborted or superseded). On a ``rollout``-gated
    channel, releases still awaiting their rollout are passed over (non-testers never got them)
    unless no older release has been let out, then the newest non-withdrawn one is the baseline."""
    older = [
        r
        for r in newest_first(Release.objects.for_channel(channel).enabled().defer("analysis"))
        if parse(r.version) < parse(release.version)
    ]
    if not older:
        return None
    latest = _latest_rollouts(channel, [r.pk for r in older])
    candidates = [r for r in older if r.pk not in latest or latest[r.pk].state not in WITHDRAWN]
    released = [r for r in candidates if not awaits_rollout(channel, r, latest.get(r.pk))]
    return next(iter(released or candidates), None)


def _latest_rollouts(channel, release_ids) -> dict[int, Rollout]:
    latest: dict[int, Rollout] = {}
    rows = Rollout.objects.filter(channel=channel, release_id__in=release_ids).order_by("pk")
    for rollout in rows.only("pk", "release_id", "state", "phase", "phases", "salt", "strategy"):
        latest[rollout.release_id] = rollout
    return latest


WITHDRAWN = (RolloutState.ABORTED, RolloutState.SUPERSEDED, RolloutState.ROLLED_BACK)


def rollback_candidates(app, channel: Channel | None, version: str | None) -> list[Release]:
    """Newest first: the enabled releases earlier than ``version`` that clients of ``channel``
    (None: every channel of the app) can go back to: available there (an every-channel release,
    or one of that channel alone) and not withdrawn (their latest rollout there not aborted,
    superseded or rolled back). ``version`` None: earlier than any release yet (what a new
    version, which must be greater than every release, may choose from).

    The one rule for rollback targets: the publish validation, the publish form's choices and
    the rollback itself all call this."""
    releases = Release.objects.filter(app=app, disabled_at__isnull=True)
    if channel is None:
        releases = releases.filter(channel__isnull=True)
        channels = list(Channel.objects.filter(app=app))
    else:
        releases = releases.filter(Q(channel__isnull=True) | Q(channel=channel))
        channels = [channel]
    older = newest_first(releases)
    if version is not None:
        older = [r for r in older if parse(r.version) < parse(version)]
    withdrawn: set[int] = set()
    for each in channels:
        latest = _latest_rollouts(each, [r.pk for r in older])
        withdrawn |= {pk for pk, rollout in latest.items() if rollout.state in WITHDRAWN}
    return [r for r in older if r.pk not in withdrawn]


def start(
    channel: Channel,
    release: Release,
    *,
    user=None,
    phases=None,
    metrics=None,
    strategy: str = Strategy.CANARY,
    now: datetime | None = None,
    reason: str = "",
    blue_green: dict | None = None,
) -> Rollout:
    """Start a rollout. ``blue_green`` (strategy ``blue_green`` only) holds its options:
    ``probes``, ``window_seconds``, ``probe_timeout``, ``restore_seconds``,
    ``requires_approval`` (``releases.bluegreen.parse_options``)."""
    from releases import bluegreen

    now = now or timezone.now()
    extra: dict = {}
    if strategy == Strategy.CANARY:
        if blue_green:
            raise RolloutError(
                400,
                "invalid_field",
                f"{', '.join(sorted(blue_green))}: blue-green options need strategy blue_green",
                sorted(blue_green)[0],
            )
        phases = parse_phases(phases)
    elif strategy == Strategy.BLUE_GREEN:
        if phases is not None:
            raise RolloutError(
                400,
                "invalid_phases",
                "a blue-green rollout has fixed phases (testers only, then 100 % for the "
                "monitoring window): set window_seconds instead",
                "phases",
            )
        options = bluegreen.parse_options(blue_green or {})
        phases = options.pop("phases")
        extra = options | {"step": Rollout.Step.STAGED}
    else:
        raise RolloutError(
            400, "invalid_strategy", "strategy must be canary or blue_green", "strategy"
        )
    metrics = parse_metrics(metrics)
    if release.app_id != channel.app_id or (
        release.channel_id is not None and release.channel_id != channel.pk
    ):
        raise RolloutError(400, "invalid_release", "the release is not published to this channel")
    if release.is_disabled:
        raise RolloutError(409, "release_disabled", f"{release.version} is disabled")
    from releases.publishing import rollout_blocked_by_budget

    blocked = rollout_blocked_by_budget(release)
    if blocked:
        raise RolloutError(409, "over_budget", blocked)
    if Rollout.objects.filter(
        channel=channel, release=release, state=RolloutState.COMPLETED
    ).exists():
        raise RolloutError(409, "already_completed", f"{release.version} is fully rolled out")
    stable = stable_release(channel, release)
    if strategy == Strategy.BLUE_GREEN and stable is None:
        raise RolloutError(
            409,
            "no_blue_slot",
            f"blue-green needs a release already live on {channel} to keep as the restorable "
            "slot; use a canary for the channel's first release",
        )
    try:
        with transaction.atomic():
            _lock_channel(channel.pk)
            rollout = Rollout.objects.create(
                app_id=channel.app_id,
                channel=channel,
                release=release,
                strategy=strategy,
                state=RolloutState.RUNNING,
                phases=phases,
                metrics=metrics,
                salt=secrets.token_hex(8),
                stable_version=stable.version if stable else "",
                phase_started_at=now,
                clock_started_at=now,
                analysis_due_at=now,
                started_by=user if getattr(user, "is_authenticated", False) else None,
                started_at=now,
                reason=reason,
                **extra,
            )
            after = _state(rollout) | {"version": release.version, "salt": rollout.salt}
            if rollout.is_blue_green:
                after |= {"strategy": strategy, "probes": rollout.probes}
            record("rollout.started", rollout, after=after, reason=reason)
            _event(rollout, "started", {}, after, reason)
            generation.bump()
    except IntegrityError:
        active = Rollout.objects.filter(channel=channel, state__in=ACTIVE_ROLLOUT_STATES).first()
        raise RolloutError(
            409,
            "rollout_active",
            f"{channel} already has an active rollout"
            + (f" (#{active.pk}, {active.release.version})" if active else ""),
        ) from None
    return rollout


def _lock_channel(channel_pk: int) -> None:
    """Lock the channel's row for the rest of the transaction before a rollout becomes active
    on it, as ``publishing.set_release_gate`` does before it checks for one: a gate change and
    a rollout's start are ordered (Django's foreign keys are checked only at commit, so the
    insert alone would take no lock on the channel before then). SQLite's IMMEDIATE
    transactions serialise both anyway."""
    Channel.objects.select_for_update().filter(pk=channel_pk).values_list("pk").first()


# --- transitions -------------------------------------------------------------------------------


def _clock_stop(rollout: Rollout, now: datetime) -> dict:
    return {"hold_accumulated": rollout.held_seconds(now), "clock_started_at": None}


def _completion(index: int, now: datetime) -> dict:
    return {
        "state": RolloutState.COMPLETED,
        "phase": index,
        "step": Rollout.Step.HOLD,
        "clock_started_at": None,
        "ended_at": now,
    }


def _enter_phase(rollout: Rollout, index: int, now: datetime) -> dict:
    """The changes that start phase ``index``. A canary's 100 % phase completes it; a
    blue-green's holds there for its monitoring window, and its phase 0 is the staged slot."""
    phase = rollout.phases[index]
    if float(phase["percent"]) >= 100 and not rollout.is_blue_green:
        return _completion(index, now)
    step = Rollout.Step.STAGED if rollout.is_blue_green and index == 0 else Rollout.Step.HOLD
    return {
        "state": RolloutState.RUNNING,
        "step": step,
        "phase": index,
        "phase_started_at": now,
        "hold_accumulated": 0.0,
        "clock_started_at": now,
        "hold_extension": 0,
        "analysis_due_at": now,
    }


@transaction.atomic  # the transition and its notification commit together
def advance(rollout: Rollout, *, now: datetime, reason: str, action: str = "advanced") -> bool:
    """Out of the current phase: into the next one, or into awaiting approval for it."""
    nxt = rollout.phase + 1
    if rollout.is_blue_green and rollout.phase == 0:
        # Out of the idle slot only through the health-checked switch (releases.bluegreen).
        raise RolloutError(409, "switch_required", "a blue-green rollout moves on by its switch")
    if nxt >= len(rollout.phases):
        return _move(rollout, "completed", _completion(len(rollout.phases) - 1, now), reason=reason)
    if rollout.phases[nxt].get("requires_approval") and rollout.state == RolloutState.RUNNING:
        won = _move(
            rollout,
            "awaiting_approval",
            {"state": RolloutState.AWAITING_APPROVAL, "step": Rollout.Step.HOLD}
            | _clock_stop(rollout, now),
            reason=reason,
        )
        if won:
            _notify(
                rollout,
                EVENT_AWAITING,
                f"{rollout} waits for approval",
                f"Phase {nxt + 1} ({rollout.phases[nxt]['percent']:g} %) needs "
                f"{rollout.channel.approvals_required} approver(s).",
                f"await:{rollout.phase}:{rollout.row_version}",
            )
        return won
    return _move(rollout, action, _enter_phase(rollout, nxt, now), reason=reason)


@transaction.atomic  # the transition and its notification commit together
def pause(rollout: Rollout, *, reason: str, now: datetime | None = None, notify=False) -> bool:
    now = now or timezone.now()
    if rollout.state != RolloutState.RUNNING:
        raise RolloutError(409, "not_running", f"the rollout is {rollout.get_state_display()}")
    if rollout.is_blue_green and rollout.phase == 0:
        raise RolloutError(
            409,
            "not_pausable",
            "a staged blue-green rollout has no clock to stop: switch it or abort it",
        )
    won = _move(
        rollout,
        "paused",
        {"state": RolloutState.PAUSED, "step": Rollout.Step.HOLD, "reason": reason}
        | _clock_stop(rollout, now),
        reason=reason,
    )
    if won and notify:
        _notify(rollout, EVENT_PAUSED, f"{rollout} paused", reason, f"pause:{rollout.row_version}")
    return won


def resume(rollout: Rollout, *, reason: str = "", now: datetime | None = None) -> bool:
    now = now or timezone.now()
    if rollout.state != RolloutState.PAUSED:
        raise RolloutError(409, "not_paused", f"the rollout is {rollout.get_state_display()}")
    changes = {"state": RolloutState.RUNNING, "clock_started_at": now, "analysis_due_at": now}
    if rollout.is_blue_green and rollout.phase == 0:
        changes["step"] = Rollout.Step.STAGED
    # Resuming an inconclusive phase gives it another full look before pausing again.
    if rollout.held_seconds(now) >= rollout.hold_target():
        changes["hold_extension"] = rollout.hold_extension + _interval(rollout)
    return _move(rollout, "resumed", changes, reason=reason)


@transaction.atomic  # the transition and its notification commit together
def abort(
    rollout: Rollout,
    *,
    reason: str,
    now: datetime | None = None,
    automatic: bool = False,
    action: str = "aborted",
) -> bool:
    """Withdraw the release at once (``action`` names the event: a blue-green's is
    ``flipped_back`` once its traffic was switched)."""
    now = now or timezone.now()
    if not reason.strip():
        raise RolloutError(400, "reason_required", "say why the rollout is aborted", "reason")
    if rollout.state not in ACTIVE_ROLLOUT_STATES:
        raise RolloutError(409, "not_active", f"the rollout is {rollout.get_state_display()}")
    won = _move(
        rollout,
        action,
        {"state": RolloutState.ABORTED, "ended_at": now, "reason": reason.strip()}
        | _clock_stop(rollout, now),
        reason=reason.strip(),
    )
    if won:
        _notify(
            rollout,
            EVENT_ABORTED,
            f"{rollout} {action.replace('_', ' ')}" + (" automatically" if automatic else ""),
            reason.strip(),
            f"abort:{rollout.row_version}",
        )
    return won


def abort_on_breach(rollout: Rollout, *, reason: str, now: datetime | None = None) -> bool:
    """The automatic abort of a guardrail breach: when another writer moved the rollout since it
    was read (a pause, a resume, an approval), read it again and abort again while it is still
    active. True when this call aborted it; False when it had already ended otherwise."""
    action = "aborted"
    if rollout.is_blue_green and rollout.phase > 0:
        action, reason = "flipped_back", reason.replace("automatic abort", "automatic flip back")
    while True:
        if abort(rollout, reason=reason, now=now, automatic=True, action=action):
            return True
        rollout = _fresh(rollout)
        if rollout.state not in ACTIVE_ROLLOUT_STATES:
            return False


def restart(rollout: Rollout, *, reason: str = "", now: datetime | None = None, user=None) -> bool:
    """An aborted rollout starts again at phase 0 with the same salt (same cohorts), as its next
    run: earlier approvals no longer count, and the person restarting it becomes its starter (so
    someone else approves it)."""
    now = now or timezone.now()
    if rollout.state != RolloutState.ABORTED:
        raise RolloutError(409, "not_aborted", "only an aborted rollout can be restarted")
    if rollout.release.is_disabled:
        raise RolloutError(409, "release_disabled", f"{rollout.release.version} is disabled")
    try:
        with transaction.atomic():
            _lock_channel(rollout.channel_id)
            return _move(
                rollout,
                "restarted",
                _enter_phase(rollout, 0, now)
                | {
                    "ended_at": None,
                    "skip_analysis_phase": None,
                    "attempt": rollout.attempt + 1,
                    "started_by_id": user.pk if getattr(user, "is_authenticated", False) else None,
                },
                reason=reason,
            )
    except IntegrityError:
        raise RolloutError(
            409, "rollout_active", f"{rollout.channel} already has an active rollout"
        ) from None


def promote_now(rollout: Rollout, *, reason: str, now: datetime | None = None) -> bool:
    """Break-glass: straight to 100 %."""
    now = now or timezone.now()
    if not reason.strip():
        raise RolloutError(400, "reason_required", "break-glass actions need a reason", "reason")
    if rollout.state not in ACTIVE_ROLLOUT_STATES:
        raise RolloutError(409, "not_active", f"the rollout is {rollout.get_state_display()}")
    return _move(
        rollout,
        "breakglass.promote",
        {"state": RolloutState.COMPLETED, "ended_at": now, "clock_started_at": None},
        reason=reason.strip(),
    )


def skip_analysis(rollout: Rollout, *, reason: str) -> bool:
    """Break-glass: the current phase advances at the end of its hold without analysis."""
    if not reason.strip():
        raise RolloutError(400, "reason_required", "break-glass actions need a reason", "reason")
    if rollout.state not in ACTIVE_ROLLOUT_STATES:
        raise RolloutError(409, "not_active", f"the rollout is {rollout.get_state_display()}")
    return _move(
        rollout,
        "breakglass.skip_analysis",
        {"skip_analysis_phase": rollout.phase},
        reason=reason.strip(),
    )


def supersede(rollout: Rollout, *, by: Release, now: datetime) -> bool:
    return _move(
        rollout,
        "superseded",
        {"state": RolloutState.SUPERSEDED, "ended_at": now, "clock_started_at": None},
        reason=f"superseded by {by.version}",
    )


# --- approvals ---------------------------------------------------------------------------------


def approval_binding(rollout: Rollout) -> dict:
    return {
        "phase": rollout.phase,
        "sha256": rollout.release.bundle_sha256,
        "row_version": rollout.row_version,
    }


def decide(
    rollout_pk: int,
    user,
    *,
    decision: str,
    phase: int,
    sha256: str,
    row_version: int,
    reason: str = "",
    now: datetime | None = None,
) -> Rollout:
    """Record an approval or rejection bound to what the form showed.

    409 ``stale`` if the rollout moved (phase, bundle or row version differ), 403
    ``self_approval`` for the rollout's starter, 409 ``already_decided`` for a second decision by
    the same person on the same phase. A rejection aborts; the N-th distinct approval (N =
    ``Channel.approvals_required``) advances exactly one phase.
    """
    now = now or timezone.now()
    if decision not in ("approve", "reject"):
        raise RolloutError(400, "invalid_decision", "decision is approve or reject")
    if decision == "reject" and not reason.strip():
        raise RolloutError(400, "reason_required", "say why the phase is rejected", "reason")
    with transaction.atomic():
        locked = Rollout.objects.select_for_update().filter(pk=rollout_pk).first()
        if locked is None:
            raise RolloutError(404, "not_found", "no such rollout")
        rollout = _fresh(locked)
        if (
            rollout.state != RolloutState.AWAITING_APPROVAL
            or rollout.phase != phase
            or rollout.release.bundle_sha256 != sha256
            or rollout.row_version != row_version
        ):
            raise RolloutError(
                409, "stale", "the rollout changed since this form was shown; look again"
            )
        if rollout.started_by_id is not None and rollout.started_by_id == user.pk:
            raise RolloutError(403, "self_approval", "the person who started it cannot approve it")
        try:
            with transaction.atomic():
                RolloutApproval.objects.create(
                    rollout=rollout,
                    attempt=rollout.attempt,
                    phase=phase,
                    user=user,
                    decision=decision,
                    reason=reason.strip(),
                    at=now,
                )
        except IntegrityError:
            raise RolloutError(
                409, "already_decided", "you already decided on this phase"
            ) from None
        if decision == "reject":
            abort(rollout, reason=f"rejected by {user.get_username()}: {reason.strip()}", now=now)
            return rollout
        approvers = (
            RolloutApproval.objects.filter(
                rollout=rollout, attempt=rollout.attempt, phase=phase, decision="approve"
            )
            .values("user")
            .distinct()
            .count()
        )
        record(
            "rollout.approval_recorded",
            rollout,
            after={"phase": phase, "approvers": approvers},
            reason=reason.strip(),
        )
        switch = False
        if approvers >= max(1, rollout.channel.approvals_required):
            nxt = rollout.phase + 1
            # A blue-green's approval lets its switch go ahead: the health checks run right
            # after (outside this transaction) and only they move the traffic.
            changes = (
                {"state": RolloutState.RUNNING, "step": Rollout.Step.STAGED}
                if rollout.is_blue_green and rollout.phase == 0
                else _enter_phase(rollout, nxt, now)
            )
            if not _move(
                rollout, "approved", changes, reason=f"approved by {approvers} approver(s)"
            ):
                raise RolloutError(409, "stale", "another decision moved the rollout first")
            switch = rollout.is_blue_green and rollout.phase == 0
    if switch:
        from releases import bluegreen

        bluegreen.check_and_switch(rollout, user=user, now=now)
    return rollout


def awaited_approvers(rollout: Rollout) -> dict:
    if rollout.state != RolloutState.AWAITING_APPROVAL:
        return {"needed": 0, "have": [], "missing": 0}
    have = list(
        RolloutApproval.objects.filter(
            rollout=rollout, attempt=rollout.attempt, phase=rollout.phase, decision="approve"
        )
        .select_related("user")
        .order_by("at")
    )
    needed = max(1, rollout.channel.approvals_required)
    return {
        "needed": needed,
        "have": [a.user.get_username() for a in have],
        "missing": max(0, needed - len(have)),
    }


# --- uploads during a rollout and rollbacks ----------------------------------------------------


def check_upload(app, channel: Channel | None) -> list[Rollout]:
    """The active rollouts a new upload to ``channel`` (None: every channel) would meet; 409 if a
    channel's policy rejects uploads during a rollout. Returns those to supersede."""
    rollouts = Rollout.objects.select_related("channel", "release").filter(
        app=app, state__in=ACTIVE_ROLLOUT_STATES
    )
    if channel is not None:
        rollouts = rollouts.filter(channel=channel)
    active = list(rollouts)
    for rollout in active:
        if rollout.channel.upload_policy == Channel.UploadPolicy.REJECT:
            raise RolloutError(
                409,
                "rollout_in_progress",
                f"{rollout.channel} is rolling out {rollout.release.version} (rollout "
                f"#{rollout.pk}) and its policy rejects new uploads until it ends: wait, abort "
                "it, or set the channel's upload policy to supersede",
            )
    return active


def supersede_for(active: list[Rollout], release: Release, *, user=None, now=None) -> list:
    """The old rollouts become superseded and the new release starts at phase 0 with their plan."""
    from releases.publishing import rollout_blocked_by_budget

    now = now or timezone.now()
    started = []
    for old in active:
        while not supersede(old, by=release, now=now):  # another writer moved it: read again
            old = _fresh(old)
            if old.state not in ACTIVE_ROLLOUT_STATES:
                break  # it ended meanwhile: nothing to supersede, its plan still carries over
        if rollout_blocked_by_budget(release):
            continue  # testers only until its budget override: nothing to roll out yet
        plan = {"phases": old.phases}
        if old.is_blue_green:
            from releases import bluegreen

            plan = {"strategy": Strategy.BLUE_GREEN, "blue_green": bluegreen.options_of(old)}
        started.append(
            start(
                old.channel,
                release,
                user=user,
                metrics=old.metrics,
                now=now,
                reason=f"supersedes rollout #{old.pk} ({old.release.version})",
                **plan,
            )
        )
    return started


def rollback(rollout: Rollout, *, reason: str, user=None, now=None) -> Release:
    """A completed release goes back: a new release record serving the old bundle (no analysis),
    the bad release disabled, clients on it told ROLLED_BACK."""
    from releases.models import App
    from releases.publishing import check_version, disable

    now = now or timezone.now()
    if not reason.strip():
        raise RolloutError(400, "reason_required", "say why the release is rolled back", "reason")
    if rollout.state != RolloutState.COMPLETED:
        raise RolloutError(409, "not_completed", "only a completed rollout is rolled back")
    bad = rollout.release
    eligible = rollback_candidates(rollout.app, rollout.channel, bad.version)
    target = next((r for r in eligible if r.pk == bad.rollback_target_id), None)
    if target is None:  # none chosen, or withdrawn/disabled since: the channel's stable release
        target = stable_release(rollout.channel, bad)
    if target is None:
        raise RolloutError(409, "no_target", f"{bad.version} has no earlier release to go back to")
    with transaction.atomic():
        App.objects.select_for_update().filter(pk=rollout.app_id).first()
        latest = newest_first(Release.objects.for_app(rollout.app).only("version"))[0]
        version = check_version(rollout.app, next_versions(latest.version)["patch"])
        parsed = parse(version)
        release = Release.objects.create(
            app_id=rollout.app_id,
            channel=bad.channel,
            version=version,
            major=parsed.major,
            minor=parsed.minor,
            patch=parsed.patch,
            changes=[{"type": "fix", "text": f"Rollback of {bad.version} to {target.version}"}],
            notes=reason.strip(),
            released_at=now,
            author=user if getattr(user, "is_authenticated", False) else None,
            previous=latest,
            compatibility=target.compatibility,
            deprecated=target.deprecated,
            runtime_range=target.runtime_range,
            mandatory=True,
            rollback_target=None,
            rollback_of=bad,
            bundle_sha256=target.bundle_sha256,
            bundle_size=target.bundle_size,
            analysis=target.analysis,
            budget_verdict=target.budget_verdict,
            budget_findings=target.budget_findings,
            budget_override_at=(
                now if target.budget_verdict == BudgetVerdict.OVER else target.budget_override_at
            ),
        )
        record(
            "release.published",
            release,
            after={
                "version": version,
                "sha256": target.bundle_sha256,
                "rollback_of": bad.version,
                "content_of": target.version,
            },
            reason=reason.strip(),
        )
        disable(bad, user=user, reason=f"rolled back: {reason.strip()}", now=now)
        if not _move(
            rollout,
            "rolled_back",
            {"state": RolloutState.ROLLED_BACK, "ended_at": now, "reason": reason.strip()},
            reason=reason.strip(),
        ):
            raise RolloutError(409, "stale", "the rollout changed meanwhile")
    return release


# --- exposure ----------------------------------------------------------------------------------


def awaits_rollout(channel: Channel, release: Release, rollout: Rollout | None) -> bool:
    """The release gate: on a ``rollout``-gated channel a release no rollout was ever started on
    (``rollout`` is its latest one there, or None) is held for testers. A rollback release (a new
    record serving an old bundle, ``rollback_of`` set) is exempt: it goes out at once."""
    return (
        rollout is None
        and channel.release_gate == Channel.ReleaseGate.ROLLOUT
        and release.rollback_of_id is None
    )


def exposure_provider(channel, releases, exposures: dict) -> None:
    """Active rollout → cohort(percent, salt); aborted/superseded/rolled back → withdrawn
    (nobody, and clients running it are sent back to the stable release); completed → left to
    everyone; never rolled out on a ``rollout``-gated channel → testers (``AWAITING_ROLLOUT``)."""
    latest = _latest_rollouts(channel, [r.pk for r in releases])
    for release in releases:
        if exposures[release.pk].audience == "everyone" and awaits_rollout(
            channel, release, latest.get(release.pk)
        ):
            exposures[release.pk] = exposure.Exposure.testers(reason_out="AWAITING_ROLLOUT")
    for release_pk, rollout in latest.items():
        if rollout.state in ACTIVE_ROLLOUT_STATES:
            if exposures[release_pk].audience == "testers":
                continue  # the budget keeps it with testers
            if rollout.is_blue_green:
                # Staged: the idle slot, testers only. Switched: all traffic at once, clients
                # without an install id too (no cohort: nobody is bucketed out).
                exposures[release_pk] = (
                    exposure.Exposure.testers(reason_out="TESTERS_ONLY")
                    if rollout.phase == 0
                    else exposure.Exposure("everyone", reason_in="ROLLOUT_MATCH")
                )
                continue
            percent = float(rollout.phases[rollout.phase]["percent"])
            exposures[release_pk] = exposure.Exposure.cohort(percent, rollout.salt)
        elif rollout.state in WITHDRAWN:
            exposures[release_pk] = exposure.Exposure.withdrawn_release()


# --- controller and analysis -------------------------------------------------------------------


def _interval(rollout: Rollout) -> int:
    specs = specs_of(rollout)
    return min((s.interval_seconds for s in specs), default=60)


# Analysed: every active state. A paused rollout and one awaiting approval still serve their
# release to the cohort, so their guardrails keep being measured and a breach still aborts them
# (README "Watched while paused"); neither is ever advanced or resumed by the analysis.
WATCHED_STATES = (RolloutState.RUNNING, RolloutState.AWAITING_APPROVAL, RolloutState.PAUSED)


def tick(now: datetime | None = None) -> list[int]:
    """Controller hook: claim each active rollout whose analysis or hold end is due
    (conditional UPDATE: two controllers never both queue it) and queue its analysis."""
    now = now or timezone.now()
    queued = []
    # A staged blue-green (phase 0) has nothing to analyse: only its switch moves it.
    due = (
        Rollout.objects.filter(state__in=WATCHED_STATES)
        .exclude(strategy=Strategy.BLUE_GREEN, phase=0)
        .only(
            "pk",
            "state",
            "phase",
            "phases",
            "hold_accumulated",
            "clock_started_at",
            "hold_extension",
            "analysis_due_at",
            "claimed_until",
        )
    )
    for rollout in due:
        hold_over = (
            rollout.state == RolloutState.RUNNING
            and rollout.held_seconds(now) >= rollout.hold_target()
        )
        analysis_due = rollout.analysis_due_at is None or rollout.analysis_due_at <= now
        if not (hold_over or analysis_due):
            continue
        claim = now + timedelta(seconds=CLAIM_SECONDS)
        claimed = (
            Rollout._base_manager.filter(pk=rollout.pk)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
            .update(claimed_until=claim)
        )
        if claimed:
            from console.tasks import enqueue

            with transaction.atomic():
                enqueue("releases.rollouts.analyse", rollout.pk, claim=claim)
            queued.append(rollout.pk)
    return queued


def _stored(rollout: Rollout, m: analysis.Measurement, kind: str, now) -> RolloutMeasurement:
    return RolloutMeasurement(
        rollout=rollout,
        phase=rollout.phase,
        kind=kind,
        at=now,
        **analysis.row_values(m, RolloutMeasurement),
    )


def phase_measurements(rollout: Rollout) -> dict[str, list[RolloutMeasurement]]:
    rows = RolloutMeasurement.objects.filter(
        rollout=rollout, phase=rollout.phase, at__gte=rollout.phase_started_at
    ).order_by("pk")
    result: dict[str, list[RolloutMeasurement]] = {}
    for row in rows:
        result.setdefault(row.metric, []).append(row)
    return result


def statuses(rollout: Rollout, *, final: bool = False, extra=None) -> list:
    """Each metric's status over this phase's measurements (``extra``: verdicts appended)."""
    stored = phase_measurements(rollout)
    return analysis.guardrail_statuses(specs_of(rollout), stored, final=final, extra=extra)


def _measure(rollout: Rollout, spec: analysis.MetricSpec, start, end) -> analysis.Measurement:
    stable = rollout.stable_version or None
    return analysis.measure(rollout.channel_id, spec, rollout.release.version, stable, start, end)


def analyse(rollout_pk: int, now: datetime | None = None, claim: datetime | None = None) -> str:
    """Worker task: guardrails for every metric due, then (running and the hold over) the
    phase verdict. Paused and awaiting-approval rollouts get the guardrails only: a breach
    aborts them, nothing else moves them.

    ``claim`` is the ``claimed_until`` the controller set when it queued this task; it is released
    at the end only while it is still the current claim (a task that ran late must not release
    the claim of the one queued after it). Without a claim (a direct call) no claim is touched.

    Returns what happened: ``idle``, ``measured``, ``aborted``, ``advanced``, ``extended``,
    ``paused``, ``waiting``.
    """
    now = now or timezone.now()
    with acting_as(Actor.for_run(f"rollout-{rollout_pk}-analysis")):
        try:
            return _analyse(rollout_pk, now)
        finally:
            if claim is not None:
                Rollout._base_manager.filter(pk=rollout_pk, claimed_until=claim).update(
                    claimed_until=None
                )


def _analyse(rollout_pk: int, now: datetime) -> str:
    rollout = Rollout.objects.select_related("app", "channel", "release").filter(pk=rollout_pk)
    rollout = rollout.first()
    if rollout is None or rollout.state not in WATCHED_STATES:
        return "idle"
    if rollout.is_blue_green and rollout.phase == 0:
        return "idle"
    skipped = rollout.skip_analysis_phase == rollout.phase
    outcome = "waiting"
    specs = specs_of(rollout)
    if not skipped:
        last_at = {
            metric: rows[-1].at
            for metric, rows in phase_measurements(rollout).items()
            if any(r.kind == "guardrail" for r in rows)
        }
        due = [
            s
            for s in specs
            if s.metric not in last_at
            or (now - last_at[s.metric]).total_seconds() >= s.interval_seconds
        ]
        if due:
            rows = [
                _stored(
                    rollout,
                    _measure(
                        rollout,
                        s,
                        *analysis.guardrail_window(now, s.window_seconds, rollout.phase_started_at),
                    ),
                    "guardrail",
                    now,
                )
                for s in due
            ]
            RolloutMeasurement.objects.bulk_create(rows)
            outcome = "measured"
        breach = _breach(statuses(rollout, final=False))
        if breach:
            return "aborted" if abort_on_breach(rollout, reason=breach, now=now) else "idle"
        next_due = (
            min(
                (last_at.get(s.metric, now) if s not in due else now)
                + timedelta(seconds=s.interval_seconds)
                for s in specs
            )
            if specs
            else now + timedelta(seconds=60)
        )
        Rollout._base_manager.filter(pk=rollout.pk).update(analysis_due_at=next_due)
    elif rollout.state != RolloutState.RUNNING:
        # Break-glass skipped this phase's analysis and the clock is stopped (paused, awaiting
        # approval): nothing to measure and no hold to end; look again in a minute.
        Rollout._base_manager.filter(pk=rollout.pk).update(
            analysis_due_at=now + timedelta(seconds=60)
        )
    else:  # nothing to measure: come back when the hold is over
        left = max(1.0, rollout.hold_target() - rollout.held_seconds(now))
        Rollout._base_manager.filter(pk=rollout.pk).update(
            analysis_due_at=now + timedelta(seconds=left)
        )
    if rollout.state != RolloutState.RUNNING:
        return outcome
    if rollout.held_seconds(now) < rollout.hold_target():
        return outcome
    if skipped:
        advance(rollout, now=now, reason="hold over; analysis skipped (break-glass)")
        return "advanced"
    if rollout.step != Rollout.Step.ANALYZING:
        _move(rollout, "analyzing", {"step": Rollout.Step.ANALYZING}, reason="hold over")
    verdicts = {
        m.metric: m
        for m in analysis.measure_all(
            rollout.channel_id,
            specs,
            rollout.release.version,
            rollout.stable_version or None,
            rollout.phase_started_at,
            now,
        )
    }
    RolloutMeasurement.objects.bulk_create(
        [_stored(rollout, m, "verdict", now) for m in verdicts.values()]
    )
    final = statuses(rollout, final=True, extra=verdicts)
    breach = _breach(final)
    if breach:
        return "aborted" if abort_on_breach(rollout, reason=breach, now=now) else "idle"
    status = analysis.run_status(s for _, s in final)
    phase = rollout.current_phase
    if status == analysis.SUCCESSFUL:
        advance(rollout, now=now, reason="phase verdict: every blocking metric successful")
        return "advanced"
    if status == analysis.RUNNING:  # an error verdict: measure again next interval
        _move(
            rollout,
            "hold_extended",
            {
                "step": Rollout.Step.HOLD,
                "hold_extension": rollout.hold_extension + _interval(rollout),
            },
            reason="verdict errored; retrying",
        )
        return "extended"
    no_data, undecided = analysis.undecided(final)
    if (
        no_data
        and len(no_data) == len(undecided)
        and rollout.held_seconds(now) + _interval(rollout) <= max_hold(phase)
    ):
        _move(
            rollout,
            "hold_extended",
            {
                "step": Rollout.Step.HOLD,
                "hold_extension": rollout.hold_extension + _interval(rollout),
            },
            reason=f"not enough data yet: {', '.join(no_data)}",
        )
        return "extended"
    pause(
        rollout,
        reason=f"inconclusive: {', '.join(undecided)}"
        + (" (no data by max hold)" if no_data else ""),
        now=now,
        notify=True,
    )
    return "paused"


def _breach(pairs) -> str:
    """An abort reason if a blocking metric failed or errored, else ''."""
    return analysis.breach_reason(pairs, "automatic abort")


# --- reading -----------------------------------------------------------------------------------


def metric_rows(rollout: Rollout) -> list[dict]:
    """Each metric next to its threshold, with the latest measurement and its status (the
    baseline is the stable release's, hence "stable" in the rollout's words)."""
    rows = []
    for spec, status in statuses(rollout, final=False):
        row = analysis.metric_row(spec, status)
        row["stable"] = row.pop("baseline")
        row["stable_samples"] = row.pop("baseline_samples")
        row.update(
            interval_seconds=spec.interval_seconds,
            failure_limit=spec.failure_limit,
            measured={
                "successful": status.successful,
                "failed": status.failed,
                "inconclusive": status.inconclusive,
                "errors": status.errors,
            },
        )
        rows.append(row)
    return rows


def rollout_json(rollout: Rollout, *, events: int = 20) -> dict:
    now = timezone.now()
    return {
        "id": rollout.pk,
        "app": rollout.app.slug,
        "channel": rollout.channel.name,
        "version": rollout.release.version,
        "stable_version": rollout.stable_version or None,
        "strategy": rollout.strategy,
        "state": rollout.state,
        # Which run of the rollout this is: 1, then +1 on each restart (approvals and a
        # blue-green's switch checks count per attempt).
        "attempt": rollout.attempt,
        "step": rollout.step if rollout.state == RolloutState.RUNNING else None,
        "phase": rollout.phase,
        "percent": rollout.percent,
        "phases": rollout.phases,
        "hold_seconds_left": (
            max(0, round(rollout.hold_target() - rollout.held_seconds(now)))
            if rollout.state == RolloutState.RUNNING
            else None
        ),
        "salt": rollout.salt,
        "row_version": rollout.row_version,
        "started_by": rollout.started_by.get_username() if rollout.started_by else None,
        "started_at": rollout.started_at.isoformat(),
        "ended_at": rollout.ended_at.isoformat() if rollout.ended_at else None,
        "reason": rollout.reason,
        "metrics": metric_rows(rollout),
        **({"blue_green": _blue_green_json(rollout, now)} if rollout.is_blue_green else {}),
        "events": [
            {
                "at": e.at.isoformat(),
                "action": e.action,
                "actor": e.actor_label,
                "reason": e.reason,
                "before": e.before,
                "after": e.after,
                "request_id": e.request_id,
            }
            for e in rollout.events.order_by("-pk")[:events]
        ],
    }


def _blue_green_json(rollout: Rollout, now: datetime) -> dict:
    from releases import bluegreen

    return bluegreen.as_json(rollout, now)
