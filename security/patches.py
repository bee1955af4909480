"""Security patches: the seed's *applySecurityPatch* with the console's own parts.

    draft ──claim──▶ backing_up ──every backup complete──▶ publishing ──published──▶ checking
    backing_up ──a backup failed / skipped──▶ failed            (nothing published)
    publishing ──the publish was refused──▶ failed              (nothing published)
    checking ──scan complete, packages fixed, health checks 2xx──▶ succeeded
    checking ──any check failed──▶ failed ──release disabled──▶ rolled_back

* **Backups first**: each selected source gets an incremental backup (``backups.jobs``), run in
  the task's own process, and the patch waits for each one; a backup that fails, is skipped
  (another job holds the source) or whose structural check finds a problem fails the patch
  before anything is published.
* **Publish** through ``releases.publishing.publish`` (the function the upload form and the CI
  API use): the bundle staged at preparation is streamed into it, so every check of the normal
  pipeline applies (version order, bundle validation, budgets, the channel's upload policy).
* **Verify**: the new release is scanned (``security.scanning.scan_release``); the scan must be
  ``complete`` and none of the linked findings' packages may be vulnerable in it; every health
  URL must answer 2xx within the timeout, redirects not followed (``releases.bluegreen.probe``).
* **Roll back** on a failed check: the release is disabled (``publishing.disable``) and any
  rollout of it aborted, so update answers stop offering it and clients that got it are sent back
  to the previous release (``ROLLED_BACK``).
* **Success**: on a rollout-gated channel a short canary starts (unless the person chose to leave
  the rollout to a release manager); then the app-wide dependency audit runs and
  ``findings.reconcile`` closes what is no longer seen: findings are never marked fixed directly.

The task (``security.tasks.run_patch``) claims the patch with a conditional UPDATE of
``claim_token``/``claimed_until`` and renews the claim while it works; every transition is a
compare-and-set on ``row_version`` *and* the claim token (audit row ``security.patch_<action>``),
so a second invocation, or a worker whose claim lapsed, changes nothing. Each step is idempotent:
a re-driven patch reuses complete backups and finds a release an earlier attempt published.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.trail import record, transition
from security.models import (
    ACTIVE_PATCH_STATES,
    ACTIVE_STATES,
    Finding,
    PatchState,
    Scan,
    SecurityPatch,
)

log = logging.getLogger(__name__)

PUBLISH_PERMISSION = "accounts.publish_release"
CLAIM_SECONDS = 120
RENEW_SECONDS = 15
MAX_HEALTH_URLS = 10
EVENT_FAILED = "security.patch_failed"
# The canary a patch starts on a rollout-gated channel: shorter than the default plan, guarded
# by the same telemetry metrics (rollouts' defaults). 100 % follows the last phase.
PATCH_PHASES = [
    {"percent": 10, "hold_seconds": 600},
    {"percent": 50, "hold_seconds": 1200},
]
PATCH_PLAN_TEXT = "10 % for 10 min, 50 % for 20 min, then 100 %"


class PatchError(ValueError):
    """A refused preparation or action; ``field`` names the form field when there is one."""

    def __init__(self, detail: str, field: str | None = None, status: int = 400):
        super().__init__(detail)
        self.detail, self.field, self.status = detail, field, status


class ClaimLost(Exception):
    """Another invocation (or a person's cancel) moved the patch: stop without writing."""


# ---------------------------------------------------------------- staging the uploaded bundle


def staging_dir() -> Path:
    path = Path(settings.DATA_DIR) / "security" / "patch-bundles"
    path.mkdir(parents=True, exist_ok=True)
    return path


def staged_path(sha256: str) -> Path:
    return staging_dir() / f"{sha256}.zip"


def stage_bundle(upload) -> tuple[str, int]:
    """Keep the uploaded bundle until the task publishes it: a ``releases.uploads.ReceivedFile``
    (already on disk and hashed: moved), another uploaded file or an iterable of bytes (streamed
    and hashed). Validated as a bundle; PatchError (field ``bundle``) otherwise."""
    from releases import bundles

    folder = staging_dir()
    fd, name = tempfile.mkstemp(dir=folder, suffix=".part")
    temp = Path(name)
    try:
        if hasattr(upload, "sha256") and hasattr(upload, "path"):
            os.close(fd)
            shutil.move(str(upload.path), temp)
            sha256, size = upload.sha256, upload.size
        else:
            digest, size = hashlib.sha256(), 0
            limit = bundles.limits()["max_upload_bytes"]
            chunks = upload.chunks() if hasattr(upload, "chunks") else upload
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise PatchError(f"the bundle is larger than {limit} bytes", "bundle")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
        if not size:
            raise PatchError("the bundle is empty", "bundle")
        try:
            bundles.validate(temp)
        except bundles.BundleError as exc:
            raise PatchError(exc.detail, "bundle") from None
        os.replace(temp, staged_path(sha256))
    finally:
        temp.unlink(missing_ok=True)
    return sha256, size


def _drop_staged(sha256: str, done: int | None = None) -> None:
    """Delete a staged bundle no active patch (but ``done``, finished with it) needs."""
    if (
        not SecurityPatch.objects.filter(bundle_sha256=sha256, state__in=ACTIVE_PATCH_STATES)
        .exclude(pk=done)
        .exists()
    ):
        staged_path(sha256).unlink(missing_ok=True)


# ---------------------------------------------------------------- preparing


def active_rollout(channel):
    from releases.models import ACTIVE_ROLLOUT_STATES, Rollout

    return (
        Rollout.objects.filter(channel=channel, state__in=ACTIVE_ROLLOUT_STATES)
        .select_related("release")
        .first()
    )


def suggested_version(app) -> str:
    from releases.publishing import latest_release
    from releases.versioning import next_versions

    latest = latest_release(app)
    return next_versions(latest.version)["patch"] if latest else "1.0.0"


def default_changes(findings: list[Finding]) -> str:
    return "\n".join(
        f"security: fix {f.advisory.key} in {f.ecosystem} package {f.package}" for f in findings
    )


def check_health_urls(urls: list[str]) -> list[str]:
    from releases.bluegreen import parse_probe_url
    from releases.rollouts import RolloutError

    cleaned = []
    for url in urls:
        try:
            cleaned.append(parse_probe_url(url))
        except RolloutError as exc:
            raise PatchError(exc.detail, "health_urls") from None
    if len(cleaned) > MAX_HEALTH_URLS:
        raise PatchError(f"at most {MAX_HEALTH_URLS} health URLs", "health_urls")
    if len(set(cleaned)) != len(cleaned):
        raise PatchError("a health URL is listed twice", "health_urls")
    return cleaned


def prepare(
    app,
    *,
    user,
    channel,
    findings: list[Finding],
    version: str,
    bundle,
    sources: list,
    health_urls: list[str],
    health_timeout: float = 5.0,
    changes: str | list = "",
    notes: str = "",
    bundle_name: str = "",
    start_rollout: bool = True,
    enqueue: bool = True,
) -> SecurityPatch:
    """Check everything cheap, stage the bundle, create the patch (draft) and queue its task."""
    from releases import publishing

    if not user.has_perm(PUBLISH_PERMISSION):
        raise PatchError("your role cannot publish releases", status=403)
    if channel is None or channel.app_id != app.pk:
        raise PatchError("choose a channel of this app", "channel")
    if not findings:
        raise PatchError("link at least one finding the patch fixes", "findings")
    for finding in findings:
        if finding.app_id != app.pk:
            raise PatchError(f"{finding} is a finding of another app", "findings")
        if finding.state not in ACTIVE_STATES:
            raise PatchError(f"{finding} is {finding.state}: nothing to patch", "findings")
    if not sources:
        raise PatchError(
            "choose at least one backup source (register the app's data under Backups first)",
            "sources",
        )
    try:
        version = publishing.check_version(app, version)
        parsed_changes = publishing.parse_changes(changes or default_changes(findings))
    except publishing.PublishError as exc:
        raise PatchError(exc.detail, exc.field, exc.status) from None
    urls = check_health_urls(health_urls)
    if not 0.1 <= float(health_timeout) <= 30:
        raise PatchError("the timeout is 0.1-30 seconds", "health_timeout")
    running = active_rollout(channel)
    if running is not None:
        raise PatchError(
            f"{channel} is rolling out {running.release.version} (rollout #{running.pk}): a "
            "security patch does not supersede a running rollout; let it finish or abort it",
            "channel",
            409,
        )
    if SecurityPatch.objects.filter(app=app, state__in=ACTIVE_PATCH_STATES).exists():
        raise PatchError(f"{app.slug} already has a security patch in progress", status=409)
    sha256, size = stage_bundle(bundle)
    from releases.models import Release

    if Release.objects.filter(app=app, bundle_sha256=sha256).exists():
        _drop_staged(sha256)
        raise PatchError("this exact bundle (same SHA-256) is already published", "bundle", 409)
    try:
        with transaction.atomic():
            patch = SecurityPatch.objects.create(
                app=app,
                channel=channel,
                version=version,
                changes=parsed_changes,
                notes=(notes or "").strip(),
                bundle_name=(bundle_name or getattr(bundle, "name", "") or "")[:300],
                bundle_sha256=sha256,
                bundle_size=size,
                start_rollout=bool(start_rollout),
                health_urls=urls,
                health_timeout=float(health_timeout),
                requested_by=user,
            )
            patch.findings.set(findings)
            patch.sources.set(sources)
            record(
                "security.patch_prepared",
                patch,
                after={
                    "app": app.slug,
                    "channel": channel.name,
                    "version": version,
                    "sha256": sha256,
                    "findings": sorted(f.pk for f in findings),
                    "sources": sorted(s.name for s in sources),
                    "health_urls": urls,
                    "start_rollout": patch.start_rollout,
                },
            )
            if enqueue:
                from console.tasks import enqueue as queue

                queue("security.tasks.run_patch", patch.pk)
    except IntegrityError:
        _drop_staged(sha256)
        raise PatchError(
            f"{app.slug} already has a security patch in progress", status=409
        ) from None
    return patch


def cancel(patch: SecurityPatch, user, *, reason: str = "") -> SecurityPatch:
    """A person stops a patch no worker has started (draft only)."""
    if not user.has_perm(PUBLISH_PERMISSION):
        raise PatchError("your role cannot cancel security patches", status=403)
    if patch.state != PatchState.DRAFT:
        raise PatchError(
            f"a {patch.get_state_display().lower()} patch cannot be cancelled", None, 409
        )
    now = timezone.now()
    why = (reason or "").strip() or "cancelled before it started"
    with transaction.atomic():
        won = transition(
            patch,
            action="security.patch_cancelled",
            expect={"state": PatchState.DRAFT, "row_version": patch.row_version},
            changes={
                "state": PatchState.FAILED,
                "reason": f"cancelled by {user.get_username()}: {why}",
                "finished_at": now,
                "row_version": patch.row_version + 1,
            },
            reason=why,
        )
        if not won:
            raise PatchError("the patch started meanwhile; look again", None, 409)
    _drop_staged(patch.bundle_sha256)
    return patch


# ---------------------------------------------------------------- the task


def claim(patch_pk: int, now: datetime | None = None) -> str | None:
    """Claim the patch for this invocation (conditional UPDATE); None when another invocation
    holds a live claim or there is nothing left to drive."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    drivable = Q(state__in=ACTIVE_PATCH_STATES) | Q(state=PatchState.FAILED, release__isnull=False)
    claimed = (
        SecurityPatch._base_manager.filter(pk=patch_pk)
        .filter(drivable)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .update(claim_token=token, claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    )
    return token if claimed else None


def _renew(patch: SecurityPatch, token: str) -> None:
    renewed = SecurityPatch._base_manager.filter(pk=patch.pk, claim_token=token).update(
        claimed_until=timezone.now() + timedelta(seconds=CLAIM_SECONDS)
    )
    if not renewed:
        raise ClaimLost(f"patch #{patch.pk} is driven by another invocation now")


def _release_claim(patch_pk: int, token: str) -> None:
    SecurityPatch._base_manager.filter(pk=patch_pk, claim_token=token).update(
        claim_token="", claimed_until=None
    )


def _move(patch: SecurityPatch, token: str, action: str, changes: dict, reason: str = "") -> None:
    """Compare-and-set on row_version and the claim; ClaimLost when another writer won."""
    expected = patch.row_version
    won = transition(
        patch,
        action=f"security.patch_{action}",
        expect={"row_version": expected, "claim_token": token},
        changes={**changes, "row_version": expected + 1},
        reason=reason,
    )
    if not won:
        raise ClaimLost(f"patch #{patch.pk} changed meanwhile")


def _load(patch_pk: int) -> SecurityPatch:
    return SecurityPatch.objects.select_related("app", "channel", "release", "requested_by").get(
        pk=patch_pk
    )


def run(patch_pk: int) -> str:
    """Drive one patch as far as it goes. Safe to call twice at once: one invocation drives."""
    token = claim(patch_pk)
    if token is None:
        return "not claimed: another invocation drives this patch, or it has ended"
    try:
        return _drive(patch_pk, token)
    except ClaimLost as exc:
        return f"stopped: {exc}"
    except Exception as exc:  # a bug or a lost database: fail honestly, roll back if published
        log.exception("security patch #%s failed unexpectedly", patch_pk)
        return _crashed(patch_pk, token, exc)
    finally:
        _release_claim(patch_pk, token)


def _drive(patch_pk: int, token: str) -> str:
    patch = _load(patch_pk)
    if patch.state == PatchState.DRAFT:
        _move(
            patch,
            token,
            "backing_up",
            {"state": PatchState.BACKING_UP, "backups_started_at": timezone.now()},
        )
    if patch.state == PatchState.BACKING_UP:
        failure = _take_backups(patch, token)
        now = timezone.now()
        if failure:
            _move(
                patch,
                token,
                "failed",
                {
                    "state": PatchState.FAILED,
                    "reason": f"{failure}; nothing was published",
                    "backups_finished_at": now,
                    "finished_at": now,
                },
                reason=failure,
            )
            _notify_failed(patch)
            _drop_staged(patch.bundle_sha256)
            return patch.reason
        _move(
            patch,
            token,
            "publishing",
            {"state": PatchState.PUBLISHING, "backups_finished_at": now, "publish_started_at": now},
        )
    if patch.state == PatchState.PUBLISHING:
        _renew(patch, token)
        release, failure = _publish(patch)
        now = timezone.now()
        if release is None:
            _move(
                patch,
                token,
                "failed",
                {
                    "state": PatchState.FAILED,
                    "reason": f"{failure}; nothing was published",
                    "finished_at": now,
                },
                reason=failure,
            )
            _notify_failed(patch)
            _drop_staged(patch.bundle_sha256)
            return patch.reason
        _move(
            patch,
            token,
            "published",
            {
                "state": PatchState.CHECKING,
                "release_id": release.pk,
                "published_at": now,
                "checks_started_at": now,
            },
            reason=f"{release.app.slug} {release.version} published",
        )
        _drop_staged(patch.bundle_sha256, done=patch.pk)
        patch = _load(patch.pk)
    if patch.state == PatchState.CHECKING:
        _renew(patch, token)
        failures, changes = _verify(patch)
        now = timezone.now()
        if failures:
            reason = "; ".join(failures)
            _move(
                patch,
                token,
                "failed",
                {
                    **changes,
                    "state": PatchState.FAILED,
                    "reason": reason,
                    "checks_finished_at": now,
                },
                reason=reason,
            )
        else:
            _renew(patch, token)
            rollout, reach = _let_out(patch)
            audit_detail = _audit_app(patch)
            _move(
                patch,
                token,
                "succeeded",
                {
                    **changes,
                    "state": PatchState.SUCCEEDED,
                    "checks_finished_at": now,
                    "finished_at": timezone.now(),
                    "rollout_id": rollout.pk if rollout else None,
                    "release_detail": reach,
                    "audit_detail": audit_detail,
                },
                reason=reach,
            )
            return f"succeeded: {reach}"
    if patch.state == PatchState.FAILED and patch.release_id:
        _roll_back(patch, token)
        return f"rolled back: {patch.reason}"
    return f"{patch.state}: {patch.reason}"


def _crashed(patch_pk: int, token: str, exc: Exception) -> str:
    reason = f"unexpected error: {type(exc).__name__}: {exc}"[:2000]
    try:
        patch = _load(patch_pk)
        if patch.state in ACTIVE_PATCH_STATES:
            _move(
                patch,
                token,
                "failed",
                {
                    "state": PatchState.FAILED,
                    "reason": reason + ("" if patch.release_id else "; nothing was published"),
                    "finished_at": timezone.now(),
                },
                reason=reason,
            )
            _notify_failed(patch)
        if patch.state == PatchState.FAILED and patch.release_id:
            _roll_back(patch, token)
    except Exception:  # the claim lapses; the controller hook drives it again
        log.exception("security patch #%s could not record its failure", patch_pk)
    return reason


# ---------------------------------------------------------------- steps


def _take_backups(patch: SecurityPatch, token: str) -> str:
    """Back up every selected source, one after the other, waiting for each; the failure in
    words, or "" when every source has a complete backup taken for this patch."""
    from backups import jobs
    from backups.models import Backup

    last = [time.monotonic()]

    def keep_claim(_progress) -> None:
        if time.monotonic() - last[0] >= RENEW_SECONDS:
            _renew(patch, token)
            last[0] = time.monotonic()

    for source in patch.sources.order_by("name"):
        if patch.backups.filter(source=source, status=Backup.Status.COMPLETE).exists():
            continue  # taken by an earlier attempt of this patch
        _renew(patch, token)
        backup = jobs.request_backup(
            source,
            backup_type=Backup.Type.INCREMENTAL,
            trigger=Backup.Trigger.MANUAL,
            user=patch.requested_by,
            enqueue=False,
        )
        patch.backups.add(backup)
        backup = jobs.run_backup(backup.pk, on_progress=keep_claim)
        if backup.status != Backup.Status.COMPLETE:
            return f"backup #{backup.pk} of {source.name} {backup.status}: {backup.error or '?'}"
        if backup.verify_problem:
            return (
                f"backup #{backup.pk} of {source.name} failed its structural check: "
                f"{backup.verify_problem}"
            )
    return ""


def _chunks(path: Path):
    from releases import bundles

    with open(path, "rb") as f:
        while chunk := f.read(bundles.CHUNK):
            yield chunk


def _publish(patch: SecurityPatch):
    """(release, "") or (None, why nothing was published)."""
    from releases import publishing
    from releases.models import Release

    earlier = Release.objects.filter(
        app=patch.app, version=patch.version, bundle_sha256=patch.bundle_sha256
    ).first()
    if earlier is not None:  # an earlier attempt published it and stopped before recording it
        return earlier, ""
    running = active_rollout(patch.channel)
    if running is not None:
        return None, (
            f"{patch.channel} is rolling out {running.release.version} (rollout #{running.pk}); "
            "a security patch does not supersede a running rollout"
        )
    path = staged_path(patch.bundle_sha256)
    if not path.exists():
        return None, "the uploaded bundle is no longer staged (prepare the patch again)"
    upload = publishing.Upload(
        version=patch.version,
        chunks=_chunks(path),
        changes=patch.changes,
        notes=patch.notes or f"Security patch #{patch.pk}",
        channel=patch.channel,
    )
    try:
        release = publishing.publish(patch.app, upload, author=patch.requested_by)
    except publishing.PublishError as exc:
        return None, f"the publish was refused ({exc.code}): {exc.detail}"
    return release, ""


def _verify(patch: SecurityPatch) -> tuple[list[str], dict]:
    """Re-scan the release and probe the health URLs: (failures, fields to store)."""
    from releases.bluegreen import run_probes
    from security import scanning

    failures: list[str] = []
    release = patch.release
    result = scanning.scan_release(release, channel=patch.channel, user=patch.requested_by)
    scan = result.scan
    lines = [
        f"scan #{scan.pk} {scan.status}: {scan.packages_checked} checked, "
        f"{scan.packages_skipped} skipped, {scan.vulnerable} vulnerable"
        + (f" ({scan.detail})" if scan.detail else "")
    ]
    if scan.status != Scan.Status.COMPLETE:
        failures.append(
            f"the scan of {release.version} is {scan.status}"
            + (f" ({scan.detail})" if scan.detail else "")
            + ": it cannot show that the packages are fixed"
        )
    vulnerable: dict[tuple[str, str], set[str]] = {}
    for obs in result.observations:
        vulnerable.setdefault((obs.ecosystem, obs.package), set()).add(obs.advisory.key)
    for finding in patch.findings.select_related("advisory").order_by("pk"):
        hit = vulnerable.get((finding.ecosystem, finding.package))
        if hit:
            failures.append(
                f"{finding.ecosystem}/{finding.package} is still vulnerable in "
                f"{release.version} ({', '.join(sorted(hit))})"
            )
            lines.append(f"{finding.package}: still vulnerable")
        elif scan.status == Scan.Status.COMPLETE:
            lines.append(f"{finding.package}: no longer vulnerable")
    probes = run_probes(list(patch.health_urls), patch.health_timeout)
    results = [
        {
            "url": p.url,
            "ok": p.ok,
            "status": p.status,
            "latency_ms": p.latency_ms,
            "error": p.error,
        }
        for p in probes
    ]
    for p in probes:
        if not p.ok:
            failures.append(f"health check {p.url} failed: {p.error}")
    return failures, {
        "verify_scan_id": scan.pk,
        "verify_detail": "\n".join(lines),
        "health_results": results,
    }


def _let_out(patch: SecurityPatch):
    """After the checks passed: who the release reaches, and the rollout started (or None)."""
    from releases import rollouts
    from releases.models import Channel, Rollout
    from releases.publishing import rollout_blocked_by_budget

    release, channel = patch.release, patch.channel
    if channel.release_gate == Channel.ReleaseGate.IMMEDIATE:
        return None, (
            f"{release.version} is available to every client of {channel} since it was "
            "published (the channel's release gate is immediate)"
        )
    blocked = rollout_blocked_by_budget(release)
    if blocked:
        return None, f"testers only: {blocked}"
    if not patch.start_rollout:
        return None, (
            f"testers only: {channel} is rollout-gated and the patch was prepared without a "
            "rollout; non-testers get it when a release manager starts one"
        )
    rollout = Rollout.objects.filter(channel=channel, release=release).order_by("-pk").first()
    if rollout is None:
        try:
            rollout = rollouts.start(
                channel,
                release,
                user=patch.requested_by,
                phases=PATCH_PHASES,
                reason=f"security patch #{patch.pk}",
            )
        except rollouts.RolloutError as exc:
            return None, f"testers only: the canary could not start ({exc.detail})"
    return rollout, (
        f"canary rollout #{rollout.pk} started on {channel}: {PATCH_PLAN_TEXT}, guarded by the "
        "channel's telemetry; until it reaches 100 % the other clients keep the previous release"
    )


def _audit_app(patch: SecurityPatch) -> str:
    """The app-wide dependency audit (the ``dependency_audit`` job's default mode): findings the
    complete scans no longer see are closed by ``reconcile``, never by the patch itself."""
    from security import findings, jobs, scanning

    try:
        pairs, covers = jobs.targets({"app": patch.app.slug})
        results = [
            scanning.scan_release(release, channel=channel, user=patch.requested_by)
            for release, channel in pairs
        ]
        counts = findings.reconcile(results, closes=covers)
    except Exception as exc:  # the patch is verified; the findings wait for the next audit
        log.exception("app-wide audit after security patch #%s failed", patch.pk)
        return f"the app-wide audit failed ({exc}); findings change at the next dependency audit"
    statuses = [r.scan.status for r in results]
    scans = ", ".join(f"#{r.scan.pk} {r.scan.status}" for r in results)
    text = (
        f"app-wide audit of {len(results)} release(s) (scans {scans}): findings "
        f"{counts['fixed']} fixed, {counts['opened']} new, {counts['regressed']} regressed"
    )
    if any(s != Scan.Status.COMPLETE for s in statuses):
        text += "; nothing was closed because a scan is not complete"
    return text


def _roll_back(patch: SecurityPatch, token: str) -> None:
    """Disable the patch release (and abort any rollout of it): update answers stop offering it
    and its clients are sent back to the previous release. One transaction with the state."""
    from releases import publishing, rollouts
    from releases.models import ACTIVE_ROLLOUT_STATES, Channel, Release, Rollout

    now = timezone.now()
    release = Release.objects.get(pk=patch.release_id)
    why = f"security patch #{patch.pk} failed its checks: {patch.reason}"[:2000]
    with transaction.atomic():
        _renew(patch, token)
        if release.disabled_at is None:
            publishing.disable(release, user=patch.requested_by, reason=why, now=now)
        aborted = []
        for rollout in Rollout.objects.filter(release=release, state__in=ACTIVE_ROLLOUT_STATES):
            if rollouts.abort(rollout, reason=why, now=now):
                aborted.append(f"rollout #{rollout.pk} aborted")
        back_to = rollouts.stable_release(patch.channel, release)
        detail = f"{release.version} disabled: update answers no longer offer it; " + (
            f"clients that got it are sent back (ROLLED_BACK) to {back_to.version}"
            if back_to
            else f"{patch.channel} has no earlier release to send its clients back to, so "
            "clients that installed it keep it until a newer release reaches them"
        )
        if patch.channel.release_gate == Channel.ReleaseGate.IMMEDIATE:
            detail += (
                f" (on {patch.channel}, an immediate channel, every client was offered it from "
                "its publishing until now)"
            )
        elif not aborted:
            detail += (
                f" (on {patch.channel}, a rollout-gated channel, only testers were offered it)"
            )
        if aborted:
            detail += "; " + ", ".join(aborted)
        _move(
            patch,
            token,
            "rolled_back",
            {
                "state": PatchState.ROLLED_BACK,
                "rolled_back_at": now,
                "finished_at": now,
                "release_detail": detail,
            },
            reason=patch.reason,
        )
    _notify_failed(patch)


def _notify_failed(patch: SecurityPatch) -> None:
    from django.urls import reverse

    from notifications.dispatch import notify

    link = f"{settings.SITE_URL}{reverse('security:patch', args=[patch.pk])}"
    with transaction.atomic():
        notify(
            EVENT_FAILED,
            subject=f"Security patch {patch.app.slug} {patch.version} {patch.state}",
            body=f"{patch.reason}\n\n{patch.release_detail}\n\n{link}".strip(),
            payload={"patch": patch.pk, "app": patch.app.slug, "state": patch.state},
            dedup_key=f"security.patch.{patch.pk}.{patch.state}",
            link=link,
        )


# ---------------------------------------------------------------- controller hook


STALE_DRAFT_SECONDS = 120


def requeue(now: datetime | None = None) -> int:
    """Controller hook: a patch whose worker died (claim lapsed) or whose task never ran is
    queued again; the claim still decides who drives it."""
    from console.tasks import enqueue

    now = now or timezone.now()
    drivable = Q(state__in=ACTIVE_PATCH_STATES) | Q(state=PatchState.FAILED, release__isnull=False)
    lapsed = Q(claimed_until__lte=now) | Q(
        claimed_until__isnull=True, created_at__lte=now - timedelta(seconds=STALE_DRAFT_SECONDS)
    )
    pks = list(SecurityPatch.objects.filter(drivable).filter(lapsed).values_list("pk", flat=True))
    for pk in pks:
        with transaction.atomic():
            enqueue("security.tasks.run_patch", pk)
    return len(pks)


# ---------------------------------------------------------------- the page


STEP_ORDER = ["backing_up", "publishing", "checking"]


def progress(patch: SecurityPatch) -> tuple[int, str]:
    """(percent, label) for the progress partial."""
    if patch.state == PatchState.DRAFT:
        return 0, "Queued: waiting for a worker"
    if patch.state == PatchState.BACKING_UP:
        total = patch.sources.count() or 1
        done = patch.backups.filter(status="complete").count()
        return 5 + int(40 * done / total), f"Backing up: {done} of {total} sources done"
    if patch.state == PatchState.PUBLISHING:
        return 50, "Publishing the patch release"
    if patch.state == PatchState.CHECKING:
        return 75, "Checking: re-scan and health checks"
    return 100, patch.get_state_display()


def steps(patch: SecurityPatch) -> list[dict]:
    """The three steps with their timings and outcome, for the page."""

    def outcome(started, finished, failed_here: bool) -> str:
        if started is None:
            return "not started"
        if finished is None:
            return "running" if patch.is_active else "stopped"
        return "failed" if failed_here else "done"

    failed = patch.state in (PatchState.FAILED, PatchState.ROLLED_BACK)
    backups_failed = failed and patch.published_at is None and patch.publish_started_at is None
    publish_failed = failed and patch.publish_started_at is not None and patch.release_id is None
    checks_failed = failed and patch.release_id is not None
    rows = [
        ("Back up", patch.backups_started_at, patch.backups_finished_at, backups_failed),
        (
            "Publish",
            patch.publish_started_at,
            patch.published_at if patch.release_id else patch.finished_at,
            publish_failed,
        ),
        ("Verify", patch.checks_started_at, patch.checks_finished_at, checks_failed),
    ]
    result = []
    for name, started, finished, failed_here in rows:
        state = outcome(started, finished, failed_here)
        if state == "not started" and failed:
            state = "skipped"
        seconds = (finished - started).total_seconds() if started and finished else None
        result.append(
            {
                "name": name,
                "started": started,
                "finished": finished,
                "seconds": seconds,
                "state": state,
                "tone": {"done": "ok", "failed": "bad", "running": "neutral"}.get(state, "neutral"),
            }
        )
    if patch.rolled_back_at:
        result.append(
            {
                "name": "Roll back",
                "started": patch.checks_finished_at,
                "finished": patch.rolled_back_at,
                "seconds": (patch.rolled_back_at - patch.checks_finished_at).total_seconds()
                if patch.checks_finished_at
                else None,
                "state": "done",
                "tone": "warn",
            }
        )
    return result
