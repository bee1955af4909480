"""Blue-green rollouts: the idle slot, the health-checked switch, the window and the flip back.

A blue-green rollout is a ``Rollout`` (strategy ``blue_green``) with two fixed phases, so the one
writer (``releases.rollouts._move``: compare-and-set, event row, audit row, generation bump), the
approvals and the analysis controller are the canary's:

* phase 0, 0 %: the new release (green) sits in the idle slot, served to the channel's testers
  only (``Exposure.testers``). Steps: ``staged`` → ``checking`` → ``check_failed`` (retryable) or
  the switch. Nothing analyses it and nothing but ``request_switch`` moves it out.
* the switch: the pre-switch checks (every HTTP probe answers 2xx within the timeout, without
  following redirects, and the stored bundle re-hashes to the release's SHA-256) run, their
  results are stored (``SwitchCheck`` / ``SwitchProbe``), and only when all pass does one
  transition move every client to green (phase 1: ``Exposure("everyone")``, no cohort).
* phase 1, 100 %: the monitoring window is the phase's hold; the canary's analysis runs on it
  (guardrails every interval, the verdict at its end). A breach aborts with the event
  ``flipped_back``: green is withdrawn and its clients are told ROLLED_BACK and sent to blue.
  A successful verdict completes the rollout.
* flip back (``flip_back``), by a person: during the window, or after completion for
  ``restore_seconds``. Blue is the previous release record itself, still enabled and still the
  channel's stable release, so the flip back is one transition (the rollout's state) and needs
  no new release record. After the restore period (or when blue was disabled or replaced) the
  canary's rollback (a new release record serving the old bundle) is what is left.

Health checks run in the request that asks for the switch (probes in parallel, so the wait is
about one timeout): the person sees the result at once. The ``checking`` step is the claim: a
second click loses the compare-and-set. A process that died while checking leaves a check
without an end; after ``stale_after`` seconds a new switch request marks it abandoned.
"""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from console.outbound import no_redirect_opener
from releases import bundles, rollouts
from releases.models import Release, Rollout, RolloutApproval, RolloutState, SwitchCheck
from releases.models import SwitchProbe as ProbeRow
from releases.rollouts import RolloutError, _move, _notify

DEFAULT_WINDOW_SECONDS = 300  # the seed's 5 minutes
MIN_WINDOW_SECONDS = 60
MAX_WINDOW_SECONDS = 7 * 86400
DEFAULT_PROBE_TIMEOUT = 5.0
MAX_PROBE_TIMEOUT = 30.0
DEFAULT_RESTORE_SECONDS = 86400
MAX_RESTORE_SECONDS = 30 * 86400
MAX_PROBES = 10
BODY_LIMIT = 64 * 1024  # bytes of a probe's answer read (the answer is not kept)
OPTION_FIELDS = (
    "probes",
    "window_seconds",
    "probe_timeout",
    "restore_seconds",
    "requires_approval",
)


# --- options -----------------------------------------------------------------------------------


def _int(data: dict, name: str, default: int, low: int, high: int) -> int:
    value = data.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RolloutError(400, "invalid_field", f"{name} is an integer {low}-{high}", name)
    return value


def parse_probe_url(url) -> str:
    """A probe URL: absolute http(s) with a host; RolloutError 400 otherwise."""
    if not isinstance(url, str) or not url.strip() or len(url) > 2000:
        raise RolloutError(400, "invalid_probes", "each probe is an http(s) URL", "probes")
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise RolloutError(400, "invalid_probes", f"{url}: not a URL", "probes") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RolloutError(
            400, "invalid_probes", f"{url}: a probe is an absolute http(s) URL", "probes"
        )
    return url


def parse_options(data: dict) -> dict:
    """The validated blue-green options and its two phases; RolloutError 400 on bad input."""
    unknown = set(data) - set(OPTION_FIELDS)
    if unknown:
        raise RolloutError(400, "invalid_field", f"unknown field(s) {sorted(unknown)}")
    probes = data.get("probes") or []
    if not isinstance(probes, list) or len(probes) > MAX_PROBES:
        raise RolloutError(
            400, "invalid_probes", f"probes is a list of at most {MAX_PROBES} URLs", "probes"
        )
    probes = [parse_probe_url(u) for u in probes]
    if len(set(probes)) != len(probes):
        raise RolloutError(400, "invalid_probes", "a probe URL is listed twice", "probes")
    window = _int(
        data, "window_seconds", DEFAULT_WINDOW_SECONDS, MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS
    )
    restore = _int(data, "restore_seconds", DEFAULT_RESTORE_SECONDS, 0, MAX_RESTORE_SECONDS)
    timeout = data.get("probe_timeout", DEFAULT_PROBE_TIMEOUT)
    if timeout is None:
        timeout = DEFAULT_PROBE_TIMEOUT
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0.1 <= timeout <= MAX_PROBE_TIMEOUT
    ):
        raise RolloutError(
            400,
            "invalid_field",
            f"probe_timeout is a number of seconds 0.1-{MAX_PROBE_TIMEOUT:g}",
            "probe_timeout",
        )
    approval = data.get("requires_approval", False)
    if not isinstance(approval, bool):
        raise RolloutError(400, "invalid_field", "requires_approval is a boolean")
    return {
        "phases": [
            {"percent": 0.0, "hold_seconds": 0, "requires_approval": False},
            {"percent": 100.0, "hold_seconds": window, "requires_approval": approval},
        ],
        "probes": probes,
        "probe_timeout": float(timeout),
        "restore_seconds": restore,
    }


def options_of(rollout: Rollout) -> dict:
    """The options ``parse_options`` would take to start the same plan again (a supersede)."""
    return {
        "probes": list(rollout.probes),
        "window_seconds": window_seconds(rollout),
        "probe_timeout": rollout.probe_timeout,
        "restore_seconds": rollout.restore_seconds,
        "requires_approval": requires_approval(rollout),
    }


def window_seconds(rollout: Rollout) -> int:
    return int(rollout.phases[1].get("hold_seconds", 0))


def requires_approval(rollout: Rollout) -> bool:
    return bool(rollout.phases[1].get("requires_approval"))


# --- the checks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    url: str
    ok: bool
    status: int | None
    latency_ms: float | None
    error: str


def probe(url: str, timeout: float) -> ProbeResult:
    """GET ``url``: ok only for a 2xx answer whose headers and body arrived within ``timeout``
    seconds in all (the socket timeout alone would allow a slow trickle)."""
    started = time.monotonic()
    request = urllib.request.Request(  # noqa: S310 - parse_probe_url admits http(s) only
        url, method="GET", headers={"User-Agent": "Upkeep-blue-green-probe"}
    )

    def elapsed() -> float:
        return round((time.monotonic() - started) * 1000, 1)

    try:
        with no_redirect_opener.open(request, timeout=timeout) as response:
            response.read(BODY_LIMIT)
            status = response.status
    except urllib.error.HTTPError as exc:
        status, latency = exc.code, elapsed()
        exc.close()
        if 300 <= status < 400:
            where = exc.headers.get("Location", "") if exc.headers else ""
            detail = f"redirect to {where} (not followed)" if where else "redirect (not followed)"
        else:
            detail = f"HTTP {status}, expected 2xx"
        return ProbeResult(url, False, status, latency, detail)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        text = str(reason) or type(reason).__name__
        if isinstance(reason, TimeoutError) or "timed out" in text:
            text = f"no answer within {timeout:g} s"
        return ProbeResult(url, False, None, None, text[:500])
    latency = elapsed()
    if latency > timeout * 1000:
        return ProbeResult(
            url, False, status, latency, f"answered after {latency:.0f} ms, over {timeout:g} s"
        )
    if not 200 <= status < 300:
        return ProbeResult(url, False, status, latency, f"HTTP {status}, expected 2xx")
    return ProbeResult(url, True, status, latency, "")


def run_probes(urls: list[str], timeout: float) -> list[ProbeResult]:
    """Every probe at once (so the switch waits about one timeout), results in list order."""
    if not urls:
        return []
    with ThreadPoolExecutor(max_workers=min(len(urls), MAX_PROBES)) as pool:
        return list(pool.map(lambda u: probe(u, timeout), urls))


def verify_bundle(release: Release) -> tuple[bool, str, str]:
    """Re-hash the stored bundle: (ok, digest found or "", detail)."""
    path = bundles.bundle_path(release.bundle_sha256)
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as f:
            while chunk := f.read(bundles.CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return False, "", f"the stored bundle {path.name} is missing"
    except OSError as exc:
        return False, "", f"the stored bundle cannot be read: {exc}"
    found = digest.hexdigest()
    if found != release.bundle_sha256:
        return False, found, f"the stored bundle hashes to {found[:12]}…, not the release's"
    if size != release.bundle_size:
        return (
            False,
            found,
            f"the stored bundle has {size} bytes, the release {release.bundle_size}",
        )
    return True, found, f"SHA-256 matches ({size} bytes)"


def stale_after(rollout: Rollout) -> float:
    """Seconds after which a check that never finished counts as abandoned."""
    return rollout.probe_timeout * 2 + 60


# --- the switch --------------------------------------------------------------------------------


def _require_blue_green(rollout: Rollout) -> None:
    if not rollout.is_blue_green:
        raise RolloutError(400, "not_blue_green", "this is not a blue-green rollout")


def approvals_met(rollout: Rollout) -> bool:
    """True when the switch needs no approval, or this run's quorum approved it already (a retry
    after a failed health check does not ask the approvers again)."""
    if not requires_approval(rollout):
        return True
    approvers = (
        RolloutApproval.objects.filter(
            rollout=rollout, attempt=rollout.attempt, phase=0, decision="approve"
        )
        .values("user")
        .distinct()
        .count()
    )
    return approvers >= max(1, rollout.channel.approvals_required)


def _abandon_stale_check(rollout: Rollout, now: datetime) -> None:
    """Step ``checking``: 409 while its check may still be running; once it is older than
    ``stale_after`` the check is marked abandoned and the rollout ``check_failed``."""
    last = SwitchCheck.objects.filter(rollout=rollout, finished_at__isnull=True).first()
    if last is not None and (now - last.started_at).total_seconds() < stale_after(rollout):
        raise RolloutError(
            409, "check_running", "health checks are running for this rollout; look again soon"
        )
    with transaction.atomic():
        if last is not None:
            SwitchCheck.objects.filter(pk=last.pk, finished_at__isnull=True).update(
                finished_at=now, summary="abandoned: the checking process never finished"
            )
        if not _move(
            rollout,
            "check_failed",
            {"step": Rollout.Step.CHECK_FAILED, "reason": "health check abandoned"},
            reason="health check abandoned: the checking process never finished",
        ):
            raise RolloutError(409, "stale", "the rollout changed meanwhile; look again")


def request_switch(rollout: Rollout, *, user=None, now: datetime | None = None) -> str:
    """A person asks for the switch. Returns ``awaiting_approval`` (the channel's approvers are
    asked first), ``switched`` or ``check_failed``; RolloutError when the state does not allow
    it (409) or another click won (409 ``stale``)."""
    now = now or timezone.now()
    _require_blue_green(rollout)
    if rollout.state == RolloutState.AWAITING_APPROVAL:
        raise RolloutError(409, "awaiting_approval", "the switch waits for its approvers")
    if rollout.state != RolloutState.RUNNING or rollout.phase != 0:
        raise RolloutError(
            409,
            "not_staged",
            "only a staged rollout switches; this one is "
            + (
                "already switched"
                if rollout.phase > 0 and rollout.is_active
                else rollout.get_state_display().lower()
            ),
        )
    if rollout.step == Rollout.Step.CHECKING:
        _abandon_stale_check(rollout, now)
    if not approvals_met(rollout):
        with transaction.atomic():
            if not _move(
                rollout,
                "awaiting_approval",
                {"state": RolloutState.AWAITING_APPROVAL, "step": Rollout.Step.HOLD},
                reason="switch requested; it needs approval",
            ):
                raise RolloutError(409, "stale", "someone else changed the rollout first")
            _notify(
                rollout,
                rollouts.EVENT_AWAITING,
                f"{rollout} waits for approval",
                f"The switch of all traffic to {rollout.release.version} needs "
                f"{rollout.channel.approvals_required} approver(s).",
                f"await:switch:{rollout.row_version}",
            )
        return "awaiting_approval"
    return check_and_switch(rollout, user=user, now=now)


def check_and_switch(rollout: Rollout, *, user=None, now: datetime | None = None) -> str:
    """Claim the switch (step ``checking``, compare-and-set), run the checks, store them, then
    switch all traffic or record the failure. Returns ``switched`` or ``check_failed``.
    With ``now`` injected (tests), the switch happens at ``now`` too."""
    injected = now is not None
    now = now or timezone.now()
    if rollout.step == Rollout.Step.CHECKING:
        raise RolloutError(409, "check_running", "health checks are already running")
    # The claim and its check row commit together: a rollout that is ``checking`` always has
    # the check a second click finds (and waits for, or abandons once stale).
    with transaction.atomic():
        if not _move(
            rollout,
            "checking",
            {"step": Rollout.Step.CHECKING},
            reason=f"pre-switch checks: {len(rollout.probes)} probe(s) and the bundle",
        ):
            raise RolloutError(409, "stale", "someone else changed the rollout first; look again")
        check = SwitchCheck.objects.create(
            rollout=rollout,
            attempt=rollout.attempt,
            started_at=now,
            requested_by=user if getattr(user, "is_authenticated", False) else None,
        )
    # Outside any transaction: nothing is locked while the probes wait on the network.
    results = run_probes(list(rollout.probes), rollout.probe_timeout)
    bundle_ok, found, bundle_detail = verify_bundle(rollout.release)
    failed = [r for r in results if not r.ok]
    passed = bundle_ok and not failed
    problems = [f"{r.url}: {r.error}" for r in failed] + ([] if bundle_ok else [bundle_detail])
    summary = (
        f"passed: {len(results)} probe(s) answered 2xx, bundle intact"
        if passed
        else "failed: " + "; ".join(problems)
    )
    finished = now if injected else timezone.now()
    with transaction.atomic():
        ProbeRow.objects.bulk_create(
            [
                ProbeRow(
                    check_run=check,
                    url=r.url,
                    ok=r.ok,
                    status=r.status,
                    latency_ms=r.latency_ms,
                    error=r.error,
                )
                for r in results
            ]
        )
        SwitchCheck.objects.filter(pk=check.pk).update(
            finished_at=finished,
            passed=passed,
            bundle_ok=bundle_ok,
            bundle_sha256=found,
            bundle_detail=bundle_detail,
            summary=summary[:2000],
        )
        if passed:
            changes = rollouts._enter_phase(rollout, 1, finished)
            won = _move(rollout, "switched", changes, reason=f"health checks {summary}")
        else:
            won = _move(
                rollout,
                "check_failed",
                {"step": Rollout.Step.CHECK_FAILED, "reason": f"health check {summary}"[:2000]},
                reason=f"health check {summary}"[:2000],
            )
    if not won:
        raise RolloutError(
            409, "stale", "the rollout changed while the checks ran (aborted?); nothing switched"
        )
    return "switched" if passed else "check_failed"


# --- flip back ---------------------------------------------------------------------------------


def restore_deadline(rollout: Rollout) -> datetime | None:
    """Until when a completed blue-green can flip back (None unless it completed)."""
    if rollout.state != RolloutState.COMPLETED or rollout.ended_at is None:
        return None
    return rollout.ended_at + timedelta(seconds=rollout.restore_seconds)


def blue_release(rollout: Rollout) -> Release | None:
    """The blue slot: the release clients go back to (the rollout's stable release, while it is
    still the channel's stable release for green)."""
    stable = rollouts.stable_release(rollout.channel, rollout.release)
    if stable is None or stable.version != rollout.stable_version:
        return None
    return stable


def flip_back_refusal(rollout: Rollout, now: datetime) -> RolloutError | None:
    """Why a flip back is not possible now, or None when it is."""
    if not rollout.is_blue_green:
        return RolloutError(400, "not_blue_green", "this is not a blue-green rollout")
    if rollout.is_active and rollout.phase == 0:
        return RolloutError(
            409, "not_switched", "traffic was never switched: abort to withdraw it from testers"
        )
    if not rollout.is_active and rollout.state != RolloutState.COMPLETED:
        return RolloutError(409, "not_live", f"the rollout is {rollout.get_state_display()}")
    deadline = restore_deadline(rollout)
    if deadline is not None and now >= deadline:
        return RolloutError(
            409,
            "restore_expired",
            f"the restore period ended at {deadline:%Y-%m-%d %H:%M} UTC: roll back instead "
            "(a new release serving the old bundle)",
        )
    later = Rollout.objects.filter(channel=rollout.channel, pk__gt=rollout.pk)
    if later.exists():
        return RolloutError(
            409,
            "newer_rollout",
            f"a later rollout on {rollout.channel} exists: flipping this one back would not "
            "restore the blue slot",
        )
    if blue_release(rollout) is None:
        return RolloutError(
            409,
            "no_blue_slot",
            f"{rollout.stable_version or 'the previous release'} is no longer the channel's "
            "stable release (disabled or withdrawn): roll back instead",
        )
    return None


def flip_back(rollout: Rollout, *, reason: str, user=None, now: datetime | None = None) -> bool:
    """All traffic back to blue in one transition. During the window it is an abort named
    ``flipped_back`` (restartable); after completion the rollout becomes rolled back. The blue
    release record itself is what clients get again (no new record); green stays enabled but
    withdrawn on this channel, and its clients are told ROLLED_BACK."""
    now = now or timezone.now()
    if not reason.strip():
        raise RolloutError(400, "reason_required", "say why traffic flips back", "reason")
    refusal = flip_back_refusal(rollout, now)
    if refusal is not None:
        raise refusal
    if rollout.is_active:
        return rollouts.abort(rollout, reason=reason.strip(), now=now, action="flipped_back")
    with transaction.atomic():
        won = _move(
            rollout,
            "flipped_back",
            {"state": RolloutState.ROLLED_BACK, "ended_at": now, "reason": reason.strip()},
            reason=reason.strip(),
        )
        if won:
            _notify(
                rollout,
                rollouts.EVENT_ABORTED,
                f"{rollout} flipped back",
                reason.strip(),
                f"flip:{rollout.row_version}",
            )
    return won


# --- reading -----------------------------------------------------------------------------------


def slots(rollout: Rollout, now: datetime | None = None) -> dict:
    """Which release is live and which idle, as the rollout page and the API show them."""
    now = now or timezone.now()
    green = rollout.release.version
    blue = rollout.stable_version or None
    switched = rollout.phase > 0 or rollout.state == RolloutState.COMPLETED
    if rollout.is_active and not switched:
        live, idle, note = "blue", "green", "green is staged: testers only"
    elif rollout.is_active:
        live, idle, note = "green", "blue", "green is live; the monitoring window runs"
    elif rollout.state == RolloutState.COMPLETED:
        deadline = restore_deadline(rollout)
        live, idle = "green", "blue"
        note = (
            f"blue restorable until {deadline:%Y-%m-%d %H:%M} UTC"
            if deadline and now < deadline
            else "the restore period is over"
        )
    else:
        live, idle, note = "blue", "green", f"green withdrawn ({rollout.get_state_display()})"
    deadline = restore_deadline(rollout)
    return {
        "blue": blue,
        "green": green,
        "live": live,
        "idle": idle,
        "note": note,
        "switched": switched,
        "restore_until": deadline,
        "can_flip_back": flip_back_refusal(rollout, now) is None,
    }


def recent_checks(rollout: Rollout, limit: int = 5) -> list[SwitchCheck]:
    return list(
        SwitchCheck.objects.filter(rollout=rollout)
        .select_related("requested_by")
        .prefetch_related("probes")
        .order_by("-pk")[:limit]
    )


def _check_json(check: SwitchCheck) -> dict:
    return {
        "id": check.pk,
        "attempt": check.attempt,
        "started_at": check.started_at.isoformat(),
        "finished_at": check.finished_at.isoformat() if check.finished_at else None,
        "passed": check.passed,
        "summary": check.summary,
        "bundle": {"ok": check.bundle_ok, "sha256": check.bundle_sha256 or None},
        "probes": [
            {
                "url": p.url,
                "ok": p.ok,
                "status": p.status,
                "latency_ms": p.latency_ms,
                "error": p.error,
            }
            for p in check.probes.all()
        ],
    }


def as_json(rollout: Rollout, now: datetime) -> dict:
    slot = slots(rollout, now)
    return {
        "probes": list(rollout.probes),
        "probe_timeout": rollout.probe_timeout,
        "window_seconds": window_seconds(rollout),
        "restore_seconds": rollout.restore_seconds,
        "requires_approval": requires_approval(rollout),
        "live": slot["live"],
        "blue": slot["blue"],
        "green": slot["green"],
        "restore_until": slot["restore_until"].isoformat() if slot["restore_until"] else None,
        "can_flip_back": slot["can_flip_back"],
        "checks": [_check_json(c) for c in recent_checks(rollout)],
    }
