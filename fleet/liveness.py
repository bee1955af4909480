"""Host liveness: the controller probes every host's public health path on a bounded schedule.

``probe_due`` (controller hook ``fleet.probe``) picks hosts whose last probe is older than
``FLEET_PROBE_SECONDS`` (default 60), claims each with a conditional UPDATE of
``probe_claim_until`` (so two controllers never probe one host twice in a round), and asks at
most ``FLEET_PROBE_PARALLEL`` (default 16) hosts at a time with a short timeout
(``FLEET_PROBE_TIMEOUT``, default 3 s, never more than the fleet's per-host timeout). At most
``FLEET_PROBE_BATCH`` hosts (default: as many as run in parallel) are probed per call, so one call
holds the controller loop for at most ``ceil(batch / parallel) * timeout`` (3 s by default) even
when every host is a black hole.

Every probe, wherever it comes from ("Check now", a deployment's health check, the poll), is
written by ``record_probe``. The results are bookkeeping, like the lease: plain conditional
UPDATEs through ``_base_manager``, not audited.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from fleet import agent_client
from fleet.models import ACTIVE_STATES, DeploymentState, Fleet, Host, RollingDeployment


def probe_seconds() -> int:
    return int(getattr(settings, "FLEET_PROBE_SECONDS", 60))


def probe_timeout() -> float:
    return float(getattr(settings, "FLEET_PROBE_TIMEOUT", 3))


def probe_parallel() -> int:
    return max(1, int(getattr(settings, "FLEET_PROBE_PARALLEL", 16)))


def probe_batch() -> int:
    return max(1, int(getattr(settings, "FLEET_PROBE_BATCH", probe_parallel())))


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    answered: bool  # the agent answered HTTP at all (last seen)
    version: str = ""
    sha256: str = ""
    error: str = ""


def probe(target: agent_client.Target, path: str, *, timeout: float) -> ProbeResult:
    """HTTP only (safe in a pool thread): one GET of the health path."""
    try:
        status, answer = agent_client.health(target, path, timeout=timeout)
    except agent_client.AgentCallError as exc:
        return ProbeResult(ok=False, answered=False, error=str(exc))
    version = str(answer.get("version", ""))[:100]
    sha = str(answer.get("sha256", ""))[:64]
    if status == 200:
        return ProbeResult(ok=True, answered=True, version=version, sha256=sha)
    detail = answer.get("detail")
    error = f"health answered {status} {answer.get('status') or answer.get('error') or ''}"
    error = error.strip() + (f": {detail}" if detail else "")
    return ProbeResult(ok=False, answered=True, version=version, sha256=sha, error=error)


def record_probe(host_pk: int, result: ProbeResult, now=None) -> None:
    """Store one probe's outcome on the host (and release the controller's claim)."""
    now = now or timezone.now()
    changes = {
        "last_probe_at": now,
        "last_probe_ok": result.ok,
        "last_error": result.error[:2000],
        "probe_claim_until": None,
    }
    if result.answered:
        changes.update(
            last_seen_at=now, reported_version=result.version, reported_sha256=result.sha256
        )
    Host._base_manager.filter(pk=host_pk).update(**changes)


def record_seen(host_pk: int, version: str, sha256: str, now=None) -> None:
    """The agent answered something other than a health probe (a rollback): last seen and
    what it runs now, leaving the probe's verdict alone."""
    Host._base_manager.filter(pk=host_pk).update(
        last_seen_at=now or timezone.now(), reported_version=version, reported_sha256=sha256
    )


def _due(now):
    return Host._base_manager.filter(
        Q(last_probe_at__isnull=True)
        | Q(last_probe_at__lt=now - timedelta(seconds=probe_seconds()))
    ).filter(Q(probe_claim_until__isnull=True) | Q(probe_claim_until__lt=now))


def probe_due(now=None) -> list[int]:
    """Controller hook: probe the hosts that are due; returns the pks this call probed."""
    now = now or timezone.now()
    limit = probe_batch()
    timeout = probe_timeout()
    candidates = list(
        _due(now)
        .select_related("fleet")
        # never-probed hosts first, then the longest without a probe
        .order_by(F("last_probe_at").asc(nulls_first=True), "pk")[:limit]
    )
    # Long enough for this call's worst case; a claim whose controller died then runs out.
    rounds = math.ceil(limit / probe_parallel())
    claim_for = timedelta(seconds=math.ceil(timeout) * rounds + 5)
    claimed: list[tuple[Host, agent_client.Target, str, float]] = []
    for host in candidates:
        # Still due and unclaimed: one winner between controllers.
        if _due(now).filter(pk=host.pk).update(probe_claim_until=now + claim_for):
            target = agent_client.Target(host.name, host.agent_url, host.secret)
            claimed.append(
                (host, target, host.fleet.health_path, min(timeout, host.fleet.host_timeout))
            )
    if not claimed:
        return []
    with ThreadPoolExecutor(max_workers=min(probe_parallel(), len(claimed))) as pool:
        results = list(pool.map(lambda c: probe(c[1], c[2], timeout=c[3]), claimed))
    finished = timezone.now()
    for (host, *_), result in zip(claimed, results, strict=True):
        record_probe(host.pk, result, finished)
    return [host.pk for host, *_ in claimed]


# ------------------------------------------------------------------ what the page shows


@dataclass(frozen=True)
class HostStatus:
    state: str  # "up", "down", "unknown"
    tone: str
    label: str
    stale: bool = False
    drifted: bool = False


def expected_sha(fleet: Fleet) -> str:
    """The sha of the fleet's last succeeded deployment ("" when there is none)."""
    last = (
        RollingDeployment.objects.filter(fleet=fleet, state=DeploymentState.SUCCEEDED)
        .select_related("release")
        .order_by("-finished_at", "-pk")
        .first()
    )
    return last.release.bundle_sha256 if last else ""


def host_status(host: Host, *, expected: str, deploying: bool, now=None) -> HostStatus:
    """Up / down / unknown from the last probe. A probe older than three rounds is "stale":
    shown as unknown, because the controller may not be running. Drift (the host reports a sha
    other than the last succeeded deployment's) is not judged while a deployment is active."""
    now = now or timezone.now()
    if host.last_probe_at is None or host.last_probe_ok is None:
        return HostStatus("unknown", "unknown", "Unknown (never probed)")
    drifted = bool(
        not deploying and expected and host.reported_sha256 and host.reported_sha256 != expected
    )
    if now - host.last_probe_at > timedelta(seconds=3 * probe_seconds()):
        return HostStatus("unknown", "unknown", "Unknown (last probe is stale)", True, drifted)
    if host.last_probe_ok:
        return HostStatus("up", "ok", "Up", False, drifted)
    return HostStatus("down", "bad", "Down", False, drifted)


def annotate_hosts(fleet: Fleet, hosts: list[Host], now=None) -> str:
    """Set ``host.status`` on each host; returns the expected sha."""
    expected = expected_sha(fleet)
    deploying = RollingDeployment.objects.filter(fleet=fleet, state__in=ACTIVE_STATES).exists()
    for host in hosts:
        host.status = host_status(host, expected=expected, deploying=deploying, now=now)
    return expected
