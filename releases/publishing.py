"""Every change to apps, channels and releases goes through these functions.

Views and the CI API call them; each one audits inside its transaction and bumps the release
generation (``releases.generation``) so that update answers see the change at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.trail import record, snapshot, transition
from releases import analysis, bundles, generation
from releases.models import (
    App,
    BudgetVerdict,
    ChangeType,
    Channel,
    Compatibility,
    Release,
    new_client_key,
)
from releases.versioning import VersionError, check_range, newest_first, parse

KEY_GRACE = timedelta(days=7)
RESERVED_SLUGS = {"create", "rollouts"}
BUDGET_OVERRIDE_KIND = "releases.budget_override"
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")


class PublishError(Exception):
    """A refused change: ``status`` is the HTTP status the API answers, ``code`` machine-readable,
    ``field`` the form field it belongs to (or None)."""

    def __init__(self, status: int, code: str, detail: str, field: str | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.field = status, code, detail, field


# --- apps and channels -----------------------------------------------------------------------


def create_app(*, slug: str, name: str, owner=None) -> App:
    slug = (slug or "").strip()
    name = (name or "").strip()
    if not _SLUG.match(slug) or slug in RESERVED_SLUGS:
        raise PublishError(
            400,
            "invalid_slug",
            "use 1-60 lowercase letters, digits and dashes (not starting or ending with a dash)",
            "slug",
        )
    if not name or len(name) > 200:
        raise PublishError(
            400, "invalid_name", "give the app a name (at most 200 characters)", "name"
        )
    try:
        with transaction.atomic():
            app = App.objects.create(slug=slug, name=name)
            if owner is not None:
                app.owners.add(owner)
            record("app.created", app, after={"slug": slug, "name": name})
    except IntegrityError:
        raise PublishError(409, "exists", f"an app with the slug {slug!r} exists", "slug") from None
    return app


def create_channel(
    app: App,
    *,
    name: str,
    upload_policy: str = Channel.UploadPolicy.REJECT,
    is_production: bool = False,
    release_gate: str = Channel.ReleaseGate.ROLLOUT,
) -> Channel:
    """A new channel. ``release_gate`` (default ``rollout``, the safe one): whether a published
    release reaches clients only through a rollout (testers until one starts) or at once."""
    name = (name or "").strip()
    if not _SLUG.match(name):
        raise PublishError(
            400, "invalid_name", "a channel name is a slug (e.g. production, beta)", "name"
        )
    if upload_policy not in Channel.UploadPolicy.values:
        raise PublishError(
            400,
            "invalid_policy",
            f"upload_policy is one of {', '.join(Channel.UploadPolicy.values)}",
            "upload_policy",
        )
    if release_gate not in Channel.ReleaseGate.values:
        raise PublishError(
            400,
            "invalid_gate",
            f"release_gate is one of {', '.join(Channel.ReleaseGate.values)}",
            "release_gate",
        )
    try:
        with transaction.atomic():
            channel = Channel.objects.create(
                app=app,
                name=name,
                upload_policy=upload_policy,
                is_production=is_production,
                release_gate=release_gate,
            )
            record(
                "channel.created",
                channel,
                after={
                    "name": name,
                    "upload_policy": upload_policy,
                    "is_production": is_production,
                    "release_gate": release_gate,
                },
            )
            generation.bump()
    except IntegrityError:
        raise PublishError(
            409, "exists", f"{app.slug} already has a channel {name!r}", "name"
        ) from None
    return channel


def gate_preview(channel: Channel, gate: str) -> dict:
    """What changes for the channel's non-testers if its gate became ``gate``, computed by the
    exposure providers the update answers use (the channel's gate swapped in memory).

    ``before`` / ``after``: the newest enabled release everyone (non-testers) may have now and
    afterwards (None: none, clients keep their embedded bundle); ``opened``: releases that would
    reach everyone at once; ``held``: releases everyone may have now that would wait for a
    rollout (testers only). Newest first. Per-client runtime ranges are not applied (a client
    whose runtime the newest release excludes gets the newest one it supports). Meaningful only
    without an active rollout on the channel (``set_release_gate`` refuses then)."""
    import copy

    from releases import exposure

    releases = newest_first(Release.objects.for_channel(channel).enabled().defer("analysis"))
    now = exposure.exposures(channel, releases)
    changed = copy.copy(channel)
    changed.release_gate = gate
    then = exposure.exposures(changed, releases)

    def everyone(exps):
        return [r.version for r in releases if exps[r.pk].audience == "everyone"]

    before, after = everyone(now), everyone(then)
    return {
        "before": before[0] if before else None,
        "after": after[0] if after else None,
        "opened": [v for v in after if v not in before],
        "held": [v for v in before if v not in after],
    }


def set_release_gate(channel: Channel, gate: str, *, reason: str = "") -> bool:
    """Change how new releases reach the channel (``rollout`` / ``immediate``): audited
    (``channel.release_gate_changed``, with what it exposed or held back) and the answer
    generation bumped, so the next update check sees it. False when the gate already was
    ``gate`` (nothing written). PublishError 400 ``invalid_gate``; 409 ``rollout_active`` while
    a rollout is active on the channel (its exposure and its baseline were planned under the
    current gate: end it first)."""
    from releases.models import ACTIVE_ROLLOUT_STATES, Rollout

    if gate not in Channel.ReleaseGate.values:
        raise PublishError(
            400,
            "invalid_gate",
            f"release_gate is one of {', '.join(Channel.ReleaseGate.values)}",
            "release_gate",
        )
    with transaction.atomic():
        # The row lock orders this against a rollout starting (or restarting) on the channel:
        # ``rollouts.start`` takes the same lock first, so it waits for this change, or this
        # change waits for its commit and then sees it.
        channel = Channel.objects.select_for_update().select_related("app").get(pk=channel.pk)
        if channel.release_gate == gate:
            return False
        active = (
            Rollout.objects.select_related("release")
            .filter(channel=channel, state__in=ACTIVE_ROLLOUT_STATES)
            .first()
        )
        if active is not None:
            raise PublishError(
                409,
                "rollout_active",
                f"{channel} is rolling out {active.release.version} (rollout #{active.pk}, "
                f"{active.get_state_display().lower()}): the release gate cannot change while a "
                "rollout is active; wait for it to end or abort it",
                "release_gate",
            )
        preview = gate_preview(channel, gate)
        before = channel.release_gate
        channel.release_gate = gate
        channel.save(update_fields=["release_gate"])
        record(
            "channel.release_gate_changed",
            channel,
            before={"release_gate": before, "everyone_gets": preview["before"]},
            after={
                "release_gate": gate,
                "everyone_gets": preview["after"],
                "opened": preview["opened"],
                "held": preview["held"],
            },
            reason=reason.strip(),
        )
        generation.bump()
    return True


def rotate_key(
    channel: Channel, *, now: datetime | None = None, grace: timedelta = KEY_GRACE
) -> Channel:
    """A new client key; the old one keeps working for ``grace`` (clients update lazily)."""
    now = now or timezone.now()
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel.pk)
        old = channel.client_key
        channel.previous_client_key = old
        channel.previous_key_expires_at = now + grace
        channel.client_key = new_client_key()
        channel.save(update_fields=["client_key", "previous_client_key", "previous_key_expires_at"])
        # Keys are recorded by their first characters only: the audit trail is widely readable.
        record(
            "channel.key_rotated",
            channel,
            before={"client_key": old[:8] + "…"},
            after={
                "client_key": channel.client_key[:8] + "…",
                "old_key_valid_until": channel.previous_key_expires_at,
            },
        )
        generation.bump()
    return channel


def set_testers(channel: Channel, install_ids: list[str]) -> Channel:
    cleaned = sorted({i.strip() for i in install_ids if i.strip()})
    if any(len(i) > 200 for i in cleaned):
        raise PublishError(
            400, "invalid_testers", "an install id is at most 200 characters", "testers"
        )
    with transaction.atomic():
        before = channel.tester_install_ids
        channel.tester_install_ids = cleaned
        channel.save(update_fields=["tester_install_ids"])
        record(
            "channel.testers_changed",
            channel,
            before={"testers": before},
            after={"testers": cleaned},
        )
        generation.bump()
    return channel


BUDGET_FIELDS = (
    "main_budget_kib",
    "subpackage_budget_kib",
    "total_budget_kib",
    "growth_budget_pct",
)


def set_budgets(app: App, **values: int) -> App:
    with transaction.atomic():
        before = snapshot(app, BUDGET_FIELDS)
        for name in BUDGET_FIELDS:
            if name in values:
                setattr(app, name, values[name])
        app.save(update_fields=list(BUDGET_FIELDS))
        record("app.budgets_changed", app, before=before, after=snapshot(app, BUDGET_FIELDS))
    return app


# --- releases --------------------------------------------------------------------------------


def latest_release(app: App) -> Release | None:
    """The highest version of ``app``, disabled ones included (a new version must beat it)."""
    releases = newest_first(Release.objects.for_app(app).only("pk", "version"))
    return releases[0] if releases else None


def check_version(app: App, version: str) -> str:
    """The normalised version if it may be published next; PublishError 400/409 otherwise."""
    try:
        parsed = parse(version)
    except VersionError as exc:
        raise PublishError(400, "invalid_version", str(exc), "version") from None
    latest = latest_release(app)
    if latest is not None:
        current = parse(latest.version)
        if parsed == current or str(parsed) == latest.version:
            raise PublishError(
                409,
                "duplicate_version",
                f"{parsed} is already published; the latest is {latest.version}",
                "version",
            )
        if parsed < current:
            raise PublishError(
                409,
                "version_not_greater",
                f"{parsed} is lower than the latest release {latest.version}; "
                f"publish a higher version",
                "version",
            )
    return str(parsed)


def parse_changes(entries) -> list[dict]:
    """Change entries ``[{"type", "text"}]``, or lines of text "type: text"."""
    if isinstance(entries, str):
        parsed = []
        for number, line in enumerate(entries.splitlines(), 1):
            if not line.strip():
                continue
            kind, sep, text = line.partition(":")
            if not sep:
                raise PublishError(
                    400,
                    "invalid_changes",
                    f"line {number}: write 'type: text' (types: {', '.join(ChangeType.values)})",
                    "changes",
                )
            parsed.append({"type": kind.strip().lower(), "text": text.strip()})
        entries = parsed
    if not isinstance(entries, list):
        raise PublishError(400, "invalid_changes", "changes must be a list", "changes")
    result = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("type") not in ChangeType.values:
            raise PublishError(
                400,
                "invalid_changes",
                f"entry {i + 1}: type must be one of {', '.join(ChangeType.values)}",
                "changes",
            )
        text = str(entry.get("text", "")).strip()
        if not text:
            raise PublishError(400, "invalid_changes", f"entry {i + 1} has no text", "changes")
        result.append({"type": entry["type"], "text": text[:1000]})
    return result


def _carried_deprecations(previous: Release | None, changes: list[dict]) -> list[str]:
    """Earlier deprecations stay until a breaking entry names them (case-insensitive)."""
    carried = list(previous.deprecated) if previous else []
    carried += [c["text"] for c in changes if c["type"] == ChangeType.DEPRECATION]
    removals = [c["text"].lower() for c in changes if c["type"] == ChangeType.BREAKING]
    return [d for d in dict.fromkeys(carried) if not any(d.lower() in r for r in removals)]


@dataclass
class Upload:
    """What a publish needs besides the app: from the form or the API."""

    version: str
    # A releases.uploads.ReceivedFile (already written and hashed), another UploadedFile, or an
    # iterable of bytes.
    chunks: object
    changes: list[dict] | str = field(default_factory=list)
    notes: str = ""
    mandatory: bool = False
    runtime_range: str = ""
    channel: Channel | None = None
    # None: the newest earlier release still served on the channel
    rollback_target_version: str | None = None


def publish(app: App, upload: Upload, *, author=None, now: datetime | None = None) -> Release:
    """Validate everything, store the bundle, analyse it and create the release.

    Order: version, runtime range and changes (cheap) → version ordering (409) → the bundle
    streamed to a temporary file and validated (400) → byte-identical check (409) → analysis →
    one transaction under the app's row lock re-checking the order, creating the row and moving
    the bundle into place. Nothing is stored when any step refuses.
    """
    now = now or timezone.now()
    version = check_version(app, upload.version)
    try:
        runtime_range = check_range(upload.runtime_range)
    except VersionError as exc:
        raise PublishError(400, "invalid_runtime", str(exc), "runtime") from None
    changes = parse_changes(upload.changes)
    if upload.channel is not None and upload.channel.app_id != app.pk:
        raise PublishError(400, "invalid_channel", "the channel belongs to another app", "channel")
    _rollouts_in_the_way(app, upload.channel)  # cheap 409 before the bundle is read

    try:
        source = upload.chunks
        if hasattr(source, "sha256") and hasattr(source, "path"):
            received = bundles.adopt(source.path, source.sha256, source.size)
        else:
            received = bundles.receive(source.chunks() if hasattr(source, "chunks") else source)
    except bundles.BundleError as exc:
        raise PublishError(400, exc.code, exc.detail, "bundle") from None
    try:
        if Release.objects.filter(app=app, bundle_sha256=received.sha256).exists():
            raise PublishError(
                409,
                "duplicate_bundle",
                "this exact bundle (same SHA-256) is already published",
                "bundle",
            )
        try:
            doc = analysis.analyse(received.temp_path, received.manifest)
        except bundles.BundleError as exc:
            raise PublishError(400, exc.code, exc.detail, "bundle") from None
        with transaction.atomic():
            App.objects.select_for_update().filter(pk=app.pk).first()
            check_version(app, version)  # again, under the lock: a racing publish may have won
            if Release.objects.filter(app=app, bundle_sha256=received.sha256).exists():
                raise PublishError(
                    409,
                    "duplicate_bundle",
                    "this exact bundle (same SHA-256) is already published",
                    "bundle",
                )
            active = _rollouts_in_the_way(app, upload.channel)  # again, under the lock
            release = _create(
                app, upload, version, runtime_range, changes, received, doc, author, now
            )
            from releases import rollouts

            try:
                rollouts.supersede_for(active, release, user=author, now=now)
            except rollouts.RolloutError as exc:  # nothing is stored: the transaction rolls back
                raise PublishError(
                    409,
                    "rollout_not_superseded",
                    f"{version} would supersede the running rollout, but its rollout could not "
                    f"start: {exc.detail}. Abort the running rollout, then upload again",
                    "version",
                ) from None
            bundles.store(received)
    finally:
        received.discard()
    return release


def _rollouts_in_the_way(app: App, channel: Channel | None) -> list:
    """The active rollouts a new upload supersedes; 409 when a channel's policy rejects it."""
    from releases import rollouts

    try:
        return rollouts.check_upload(app, channel)
    except rollouts.RolloutError as exc:
        raise PublishError(exc.status, exc.code, exc.detail, "version") from None


def _create(app, upload, version, runtime_range, changes, received, doc, author, now) -> Release:
    everything = newest_first(Release.objects.for_app(app))
    previous = everything[0] if everything else None
    parsed = parse(version)
    major = previous is not None and parsed.major > parse(previous.version).major
    breaking = any(c["type"] == ChangeType.BREAKING for c in changes)
    if breaking and previous is not None and parsed.major >= 1 and not major:
        raise PublishError(
            400,
            "breaking_needs_major",
            f"a breaking change needs a new major version (after "
            f"{previous.version} that is {parse(previous.version).bump_major()})",
            "version",
        )
    from releases.rollouts import rollback_candidates

    candidates = rollback_candidates(app, upload.channel, version)
    if upload.rollback_target_version:
        rollback = next(
            (r for r in candidates if r.version == upload.rollback_target_version), None
        )
        if rollback is None:
            raise PublishError(
                400,
                "invalid_rollback",
                f"{upload.rollback_target_version} is not an enabled earlier release available "
                "on this channel whose rollout was not aborted",
                "rollback_target",
            )
    else:
        rollback = candidates[0] if candidates else None
    change = analysis.diff(previous.analysis if previous else None, doc)
    doc["diff"] = change
    findings = analysis.check_budgets(app, doc, change)
    release = Release.objects.create(
        app=app,
        channel=upload.channel,
        version=version,
        major=parsed.major,
        minor=parsed.minor,
        patch=parsed.patch,
        prerelease=parsed.prerelease or "",
        build=parsed.build or "",
        changes=changes,
        notes=upload.notes.strip(),
        released_at=now,
        author=author,
        previous=previous,
        compatibility=(
            Compatibility.MIGRATION_REQUIRED
            if major or breaking
            else Compatibility.BACKWARD_COMPATIBLE
        ),
        deprecated=_carried_deprecations(previous, changes),
        runtime_range=runtime_range,
        mandatory=bool(upload.mandatory),
        rollback_target=rollback,
        bundle_sha256=received.sha256,
        bundle_size=received.size,
        analysis=doc,
        budget_verdict=(
            BudgetVerdict.OVER if any(f["over"] for f in findings) else BudgetVerdict.OK
        ),
        budget_findings=findings,
    )
    record(
        "release.published",
        release,
        after={
            "version": version,
            "sha256": received.sha256,
            "size": received.size,
            "channel": upload.channel.name if upload.channel else None,
            "mandatory": release.mandatory,
            "runtime": runtime_range,
            "budget": release.budget_verdict,
            "rollback_target": rollback.version if rollback else None,
        },
    )
    generation.bump()
    return release


def disable(release: Release, *, user=None, reason: str, now: datetime | None = None) -> bool:
    """Stop offering a release. False when it was already disabled (another click won)."""
    if not reason.strip():
        raise PublishError(400, "reason_required", "say why the release is disabled", "reason")
    now = now or timezone.now()
    with transaction.atomic():
        won = transition(
            release,
            action="release.disabled",
            expect={"disabled_at": None},
            changes={
                "disabled_at": now,
                "disabled_by_id": getattr(user, "pk", None),
                "disabled_reason": reason.strip(),
            },
            reason=reason.strip(),
        )
        if won:
            generation.bump()
    return won


# --- budgets and the four-eyes override ------------------------------------------------------


def rollout_blocked_by_budget(release: Release) -> str | None:
    """Why ``release`` may not go beyond testers, or None when it may.

    Over-budget releases can be published, but reaching anyone but testers needs an approved
    four-eyes override (kind ``releases.budget_override``). The rollouts issue calls this before
    starting or widening a rollout.
    """
    if release.budget_verdict != BudgetVerdict.OVER or release.budget_override_at is not None:
        return None
    over = [f["budget"] for f in release.budget_findings if f.get("over")]
    return (
        f"{release.version} is over its size budget ({', '.join(over)}); an approved "
        "budget override is needed before it reaches more than testers"
    )


def request_budget_override(release: Release, *, user, reason: str):
    from audit import approvals

    if not rollout_blocked_by_budget(release):
        raise PublishError(409, "not_blocked", "this release is not blocked by its budget")
    if not reason.strip():
        raise PublishError(400, "reason_required", "say why the budget may be exceeded", "reason")
    return approvals.request_change(
        BUDGET_OVERRIDE_KIND,
        requested_by=user,
        payload={
            "release_id": release.pk,
            "version": release.version,
            "sha256": release.bundle_sha256,
            "findings": release.budget_findings,
        },
        title=f"Let {release.app.slug} {release.version} exceed its size budget",
        target=release,
        reason=reason.strip(),
    )


def _validate_override(payload: dict) -> None:
    from audit.approvals import ApprovalError

    if not Release.objects.filter(
        pk=payload.get("release_id"), bundle_sha256=payload.get("sha256")
    ).exists():
        raise ApprovalError("the release of this override does not exist")


def _apply_override(cr) -> dict:
    """Applied (once) by audit.approvals after the four-eyes approval."""
    release = Release.objects.get(pk=cr.payload["release_id"])
    if release.bundle_sha256 != cr.payload["sha256"]:
        raise PublishError(409, "stale", "the release's bundle is not the one approved")
    transition(
        release,
        action="release.budget_overridden",
        expect={"budget_override_at": None},
        changes={"budget_override_at": timezone.now(), "budget_override_request": cr.pk},
        reason=cr.reason,
    )
    generation.bump()
    return {"release": release.pk, "version": release.version}


def register_approval_kind() -> None:
    from audit.approvals import Kind, register

    register(
        Kind(
            name=BUDGET_OVERRIDE_KIND,
            title="Size budget override",
            approve_permission="accounts.approve_rollouts",
            apply=_apply_override,
            validate=_validate_override,
        )
    )
