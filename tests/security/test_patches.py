"""Security patches end to end: real backups of a real directory and SQLite database, a real
bundle published through releases.publishing, a real re-scan, real HTTP health checks against a
loopback server, the rollback through releases.publishing.disable, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from backups.models import Backup
from releases import publishing, update
from releases.models import Release, Rollout, RolloutState
from security import patches, tasks
from security.models import Finding, FindingState, PatchState, Scan, SecurityPatch
from tests.releases.rollout_support import resolve
from tests.security.patch_support import TESTER, VULNERABLE, prepare


def actions(patch) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type="security.securitypatch", object_id=str(patch.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )


def fresh(patch) -> SecurityPatch:
    return SecurityPatch.objects.get(pk=patch.pk)


def test_success_backs_up_first_publishes_verifies_and_starts_a_canary(
    app, channel, vulnerable, sources, backend, bob
):
    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok", f"{backend}/health"])
    assert patch.state == PatchState.DRAFT
    assert patches.staged_path(patch.bundle_sha256).exists()

    outcome = tasks.run_patch(patch.pk)

    patch = fresh(patch)
    assert patch.state == PatchState.SUCCEEDED, patch.reason
    assert outcome.startswith("succeeded")
    # Backups first: one complete backup per source, taken before the release was published.
    backups = list(patch.backups.order_by("source__name"))
    assert [(b.source.name, b.status) for b in backups] == [
        ("shop-db", Backup.Status.COMPLETE),
        ("shop-files", Backup.Status.COMPLETE),
    ]
    assert all(b.finished_at <= patch.published_at for b in backups)
    assert all(b.requested_by == bob for b in backups)
    assert patch.backups_started_at <= patch.backups_finished_at <= patch.published_at
    # Published through the normal pipeline, to the channel, with the staged bundle.
    release = Release.objects.get(app=app, version="1.0.1")
    assert patch.release == release and release.channel == channel
    assert release.bundle_sha256 == patch.bundle_sha256 and release.disabled_at is None
    assert release.author == bob
    assert [c["type"] for c in release.changes] == ["security"]
    assert not patches.staged_path(patch.bundle_sha256).exists()
    # Verified: a complete scan of the release, and both health checks 2xx.
    assert patch.verify_scan.release == release
    assert patch.verify_scan.status == Scan.Status.COMPLETE
    assert "lodash: no longer vulnerable" in patch.verify_detail
    assert [(h["status"], h["ok"]) for h in patch.health_results] == [(200, True), (204, True)]
    # Rollout-gated channel: the patch started the short canary.
    rollout = Rollout.objects.get(release=release)
    assert patch.rollout == rollout and rollout.state == RolloutState.RUNNING
    assert [p["percent"] for p in rollout.phases] == [10.0, 50.0, 100.0]
    assert f"canary rollout #{rollout.pk}" in patch.release_detail
    # The finding was closed by the app-wide audit's reconcile, not by the patch.
    finding = Finding.objects.get(pk=vulnerable.pk)
    assert finding.state == FindingState.FIXED
    fixed = AuditEvent.objects.get(action="security.finding_fixed")
    assert fixed.reason.startswith("not seen in complete scan")
    assert "1 fixed" in patch.audit_detail
    # Every transition audited, acting for bob as the patch's run.
    assert actions(patch) == [
        "security.patch_prepared",
        "security.patch_backing_up",
        "security.patch_publishing",
        "security.patch_published",
        "security.patch_succeeded",
    ]
    run_rows = AuditEvent.objects.filter(
        object_type="security.securitypatch", action="security.patch_succeeded"
    )
    assert run_rows.get().run_ref == f"security.patch#{patch.pk}"
    assert run_rows.get().actor_id == bob.pk
    assert patch.claim_token == "" and patch.claimed_until is None
    from notifications.models import Notification

    assert not Notification.objects.filter(event=patches.EVENT_FAILED).exists()
    # Running the task again changes nothing.
    assert tasks.run_patch(patch.pk).startswith("not claimed")
    assert fresh(patch).row_version == patch.row_version


def test_on_an_immediate_channel_no_rollout_starts_and_the_page_says_so(
    app, vulnerable, sources, backend, bob
):
    fast = publishing.create_channel(app, name="beta", release_gate="immediate")
    patch = prepare(app, fast, vulnerable, bob, sources, [f"{backend}/ok"])
    tasks.run_patch(patch.pk)
    patch = fresh(patch)
    assert patch.state == PatchState.SUCCEEDED, patch.reason
    assert not Rollout.objects.filter(release=patch.release).exists()
    assert "available to every client of shop/beta since it was published" in (patch.release_detail)


def test_without_the_canary_the_release_stays_with_testers(
    app, channel, vulnerable, sources, backend, bob
):
    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok"], start_rollout=False)
    tasks.run_patch(patch.pk)
    patch = fresh(patch)
    assert patch.state == PatchState.SUCCEEDED
    assert patch.rollout is None
    assert patch.release_detail.startswith("testers only")
    assert resolve(channel, TESTER)["version"] == "1.0.1"
    assert resolve(channel, "someone-else")["reason"] == "AWAITING_ROLLOUT"


def test_a_failing_backup_stops_the_patch_before_anything_is_published(
    app, channel, vulnerable, sources, backend, bob, tmp_path
):
    from tests.backups.conftest import add

    gone = add("shop-gone", "directory", tmp_path / "does-not-exist", app=app)
    patch = prepare(app, channel, vulnerable, bob, [*sources, gone], [f"{backend}/ok"])
    tasks.run_patch(patch.pk)
    patch = fresh(patch)
    assert patch.state == PatchState.FAILED
    failed = patch.backups.get(source=gone)
    assert failed.status == Backup.Status.FAILED
    assert f"backup #{failed.pk} of shop-gone failed" in patch.reason
    assert patch.reason.endswith("nothing was published")
    assert patch.release is None and patch.published_at is None
    assert not Release.objects.filter(app=app, version="1.0.1").exists()
    assert patch.verify_scan is None and patch.health_results == []
    assert not patches.staged_path(patch.bundle_sha256).exists()
    assert actions(patch) == [
        "security.patch_prepared",
        "security.patch_backing_up",
        "security.patch_failed",
    ]
    assert Finding.objects.get(pk=vulnerable.pk).state == FindingState.OPEN
    steps = {s["name"]: s["state"] for s in patches.steps(patch)}
    assert steps == {"Back up": "failed", "Publish": "skipped", "Verify": "skipped"}
    # A failed patch is no longer the app's active one: a new one may be prepared.
    again = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok"])
    assert again.state == PatchState.DRAFT


def test_a_still_vulnerable_patch_rolls_back_and_disables_the_release(
    app, channel, vulnerable, sources, backend, bob
):
    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok"], files=VULNERABLE)
    # A tester would get the patch while it is being checked.
    tasks.run_patch(patch.pk)
    patch = fresh(patch)
    assert patch.state == PatchState.ROLLED_BACK
    assert "npm/lodash is still vulnerable in 1.0.1 (GHSA-1)" in patch.reason
    release = patch.release
    assert release.disabled_at is not None
    assert release.disabled_reason.startswith(f"security patch #{patch.pk} failed its checks")
    assert not Rollout.objects.filter(release=release).exists()
    assert "sent back (ROLLED_BACK) to 1.0.0" in patch.release_detail
    # The update answer: a client that got 1.0.1 goes back to 1.0.0; nobody is offered 1.0.1.
    update.clear_local()
    back = resolve(channel, TESTER, current="1.0.1")
    assert (back["version"], back["reason"]) == ("1.0.0", "ROLLED_BACK")
    assert resolve(channel, TESTER, current="1.0.0")["version"] is None
    # The finding stays open: status never lies.
    assert Finding.objects.get(pk=vulnerable.pk).state == FindingState.OPEN
    assert actions(patch) == [
        "security.patch_prepared",
        "security.patch_backing_up",
        "security.patch_publishing",
        "security.patch_published",
        "security.patch_failed",
        "security.patch_rolled_back",
    ]
    assert AuditEvent.objects.filter(action="release.disabled", object_id=str(release.pk)).exists()
    steps = {s["name"]: s["state"] for s in patches.steps(patch)}
    assert steps == {"Back up": "done", "Publish": "done", "Verify": "failed", "Roll back": "done"}


def test_an_incomplete_scan_is_a_failure_not_a_pass(
    app, channel, vulnerable, sources, backend, bob
):
    # No lock file at all: nothing to check, so the scan cannot show the fix.
    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok"], files={})
    tasks.run_patch(patch.pk)
    patch = fresh(patch)
    assert patch.state == PatchState.ROLLED_BACK
    assert patch.verify_scan.status == Scan.Status.INCOMPLETE
    assert "is incomplete" in patch.reason
    assert patch.release.disabled_at is not None


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/down", "HTTP 503, expected 2xx"), ("/moved", "redirect to /ok (not followed)")],
)
def test_a_failing_health_check_rolls_back(
    app, channel, vulnerable, sources, backend, bob, path, expected
):
    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok", f"{backend}{path}"])
    tasks.run_patch(patch.pk)
    patch = fresh(patch)
    assert patch.state == PatchState.ROLLED_BACK
    assert patch.verify_scan.status == Scan.Status.COMPLETE  # the scan passed; the probe did not
    assert [h["ok"] for h in patch.health_results] == [True, False]
    assert patch.health_results[1]["error"] == expected
    assert f"health check {backend}{path} failed: {expected}" in patch.reason
    assert patch.release.disabled_at is not None
    assert Finding.objects.get(pk=vulnerable.pk).state == FindingState.OPEN


def test_a_slow_health_check_fails_within_its_timeout(
    app, channel, vulnerable, sources, backend, bob
):
    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/slow"], health_timeout=0.5)
    tasks.run_patch(patch.pk)
    patch = fresh(patch)
    assert patch.state == PatchState.ROLLED_BACK
    assert patch.health_results[0]["ok"] is False


def test_a_refused_publish_fails_with_nothing_published(
    app, channel, vulnerable, sources, backend, bob
):
    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok"])
    # Meanwhile someone published a higher version: 1.0.1 is no longer next.
    from tests.security.conftest import publish

    publish(app, "1.0.2", VULNERABLE, channel=channel)
    tasks.run_patch(patch.pk)
    patch = fresh(patch)
    assert patch.state == PatchState.FAILED
    assert "the publish was refused (version_not_greater)" in patch.reason
    assert patch.backups.filter(status=Backup.Status.COMPLETE).count() == 2
    assert not Release.objects.filter(app=app, version="1.0.1").exists()


def test_a_held_claim_keeps_a_second_invocation_out_until_it_lapses(
    app, channel, vulnerable, sources, backend, bob
):
    from datetime import timedelta

    from django.utils import timezone

    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok"])
    token = patches.claim(patch.pk)
    assert token is not None
    assert patches.claim(patch.pk) is None
    assert tasks.run_patch(patch.pk).startswith("not claimed")
    assert fresh(patch).state == PatchState.DRAFT
    # The first worker died: its claim lapses and the next invocation drives the patch.
    assert patches.claim(patch.pk, now=timezone.now() + timedelta(seconds=300)) is not None
    SecurityPatch._base_manager.filter(pk=patch.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert tasks.run_patch(patch.pk).startswith("succeeded")
    assert fresh(patch).state == PatchState.SUCCEEDED


def test_a_worker_that_lost_its_claim_writes_nothing(
    app, channel, vulnerable, sources, backend, bob
):
    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok"])
    token = patches.claim(patch.pk)
    patch = fresh(patch)
    SecurityPatch._base_manager.filter(pk=patch.pk).update(claim_token="someone-else")
    with pytest.raises(patches.ClaimLost):
        patches._move(patch, token, "backing_up", {"state": PatchState.BACKING_UP})
    assert fresh(patch).state == PatchState.DRAFT


def test_a_re_driven_patch_reuses_its_backups_and_finds_its_release(
    app, channel, vulnerable, sources, backend, bob
):
    """A worker that died after publishing, before recording it: the next one adopts the
    release an earlier attempt published and does not back up again."""
    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok"])
    token = patches.claim(patch.pk)
    patch = fresh(patch)
    patches._move(patch, token, "backing_up", {"state": PatchState.BACKING_UP})
    assert patches._take_backups(patch, token) == ""
    patches._move(patch, token, "publishing", {"state": PatchState.PUBLISHING})
    release, failure = patches._publish(patch)
    assert failure == "" and release is not None
    patches._release_claim(patch.pk, token)  # "dies" here

    assert tasks.run_patch(patch.pk).startswith("succeeded")
    patch = fresh(patch)
    assert patch.release == release
    assert patch.backups.count() == 2
    assert Release.objects.filter(app=app, version="1.0.1").count() == 1


def test_one_active_patch_per_app(app, channel, vulnerable, sources, backend, bob, alice):
    prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok"])
    with pytest.raises(patches.PatchError) as refused:
        prepare(app, channel, vulnerable, alice, sources, [f"{backend}/ok"], version="1.0.2")
    assert refused.value.status == 409
    assert SecurityPatch.objects.count() == 1


def test_the_database_holds_one_active_patch_per_app(app, channel, vulnerable, bob):
    from django.db import IntegrityError, transaction

    common = {
        "app": app,
        "channel": channel,
        "version": "1.0.1",
        "bundle_sha256": "0" * 64,
        "bundle_size": 1,
    }
    SecurityPatch.objects.create(**common, state=PatchState.BACKING_UP)
    with pytest.raises(IntegrityError), transaction.atomic():
        SecurityPatch.objects.create(**common, state=PatchState.DRAFT)
    SecurityPatch.objects.create(**common, state=PatchState.FAILED)  # ended ones do not count


def test_preparation_refuses_bad_input_and_changes_nothing(
    app, channel, vulnerable, sources, backend, bob, dave
):
    from tests.security.patch_support import patched

    def attempt(user=bob, **overrides):
        kwargs = {
            "user": user,
            "channel": channel,
            "findings": [vulnerable],
            "version": "1.0.1",
            "bundle": patched(),
            "sources": sources,
            "health_urls": [f"{backend}/ok"],
            "enqueue": False,
        } | overrides
        with pytest.raises(patches.PatchError) as refused:
            patches.prepare(app, **kwargs)
        return refused.value

    assert attempt(user=dave).status == 403
    assert attempt(findings=[]).field == "findings"
    assert attempt(sources=[]).field == "sources"
    assert attempt(version="0.9.0").field == "version"
    assert attempt(version="banana").field == "version"
    assert attempt(health_urls=["ftp://x"]).field == "health_urls"
    assert attempt(health_urls=[f"{backend}/ok", f"{backend}/ok"]).field == "health_urls"
    assert attempt(bundle=[b"not a zip"]).field == "bundle"
    assert attempt(health_timeout=60).field == "health_timeout"
    assert SecurityPatch.objects.count() == 0
    assert not list(patches.staging_dir().glob("*.zip"))


def test_a_running_rollout_on_the_channel_refuses_the_patch(
    app, channel, vulnerable, sources, backend, bob
):
    from releases import rollouts
    from tests.security.conftest import publish

    rollouts.start(channel, publish(app, "1.1.0", VULNERABLE, channel=channel))
    with pytest.raises(patches.PatchError) as refused:
        prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok"], version="1.1.1")
    assert refused.value.status == 409 and "does not supersede" in refused.value.detail


def test_cancel_a_queued_patch(app, channel, vulnerable, sources, backend, bob, dave):
    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok"])
    with pytest.raises(patches.PatchError):
        patches.cancel(patch, dave)
    patches.cancel(patch, bob, reason="wrong bundle")
    patch = fresh(patch)
    assert patch.state == PatchState.FAILED and "wrong bundle" in patch.reason
    assert tasks.run_patch(patch.pk).startswith("not claimed")
    assert not patch.backups.exists()
    assert not patches.staged_path(patch.bundle_sha256).exists()
    assert actions(patch)[-1] == "security.patch_cancelled"


def test_the_controller_hook_requeues_lapsed_patches(
    app, channel, vulnerable, sources, backend, bob, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok"])
    assert patches.requeue() == 0  # just queued: its task is on the way
    later = timezone.now() + timedelta(seconds=patches.STALE_DRAFT_SECONDS + 1)
    with django_capture_on_commit_callbacks() as callbacks:
        assert patches.requeue(later) == 1
    assert len(callbacks) == 1
    assert patches.claim(patch.pk, now=later) is not None
    assert patches.requeue(later) == 0  # claimed and live


@pytest.mark.django_db(transaction=True)
def test_two_task_invocations_at_once_one_drives(app, channel, vulnerable, sources, backend, bob):
    """Real threads against the real database (SQLite serialises the claim UPDATEs, PostgreSQL
    row-locks them): exactly one invocation claims and drives the patch."""
    import threading

    from django.db import connection

    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok"])
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def go():
        try:
            barrier.wait()
            outcomes.append(tasks.run_patch(patch.pk))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(o.split(":")[0] for o in outcomes) == ["not claimed", "succeeded"]
    patch = fresh(patch)
    assert patch.state == PatchState.SUCCEEDED
    assert patch.backups.count() == 2
    assert Release.objects.filter(app=app, version="1.0.1").count() == 1
    assert actions(patch).count("security.patch_backing_up") == 1
    assert actions(patch).count("security.patch_succeeded") == 1


def test_a_rollout_someone_started_during_the_checks_is_aborted_by_the_rollback(
    app, channel, vulnerable, sources, backend, bob, alice
):
    from releases import rollouts

    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/down"])
    token = patches.claim(patch.pk)
    patch = fresh(patch)
    patches._move(patch, token, "backing_up", {"state": PatchState.BACKING_UP})
    assert patches._take_backups(patch, token) == ""
    patches._move(patch, token, "publishing", {"state": PatchState.PUBLISHING})
    release, _ = patches._publish(patch)
    patches._move(
        patch, token, "published", {"state": PatchState.CHECKING, "release_id": release.pk}
    )
    patches._release_claim(patch.pk, token)
    # A release manager starts a rollout of the patch release from its page meanwhile.
    started = rollouts.start(channel, release, user=alice)

    tasks.run_patch(patch.pk)
    patch = fresh(patch)
    assert patch.state == PatchState.ROLLED_BACK
    started.refresh_from_db()
    assert started.state == RolloutState.ABORTED
    assert f"rollout #{started.pk} aborted" in patch.release_detail
    assert Release.objects.get(pk=release.pk).disabled_at is not None


def test_a_rollback_on_an_immediate_channel_says_everyone_was_offered_it(
    app, vulnerable, sources, backend, bob
):
    from tests.security.conftest import publish

    fast = publishing.create_channel(app, name="beta", release_gate="immediate")
    patch = prepare(app, fast, vulnerable, bob, sources, [f"{backend}/down"])
    tasks.run_patch(patch.pk)
    patch = fresh(patch)
    assert patch.state == PatchState.ROLLED_BACK
    assert "an immediate channel, every client was offered it" in patch.release_detail
    # beta had no earlier release: the page says its clients cannot be sent back.
    assert "shop/beta has no earlier release to send its clients back to" in (patch.release_detail)
    # With an earlier beta release, a client that got the patch goes back to it.
    publish(app, "1.0.2", VULNERABLE, channel=fast)
    again = prepare(app, fast, vulnerable, bob, sources, [f"{backend}/down"], version="1.0.3")
    tasks.run_patch(again.pk)
    again = fresh(again)
    assert again.state == PatchState.ROLLED_BACK
    assert "sent back (ROLLED_BACK) to 1.0.2" in again.release_detail
    update.clear_local()
    back = resolve(fast, "anyone", current="1.0.3")
    assert (back["version"], back["reason"]) == ("1.0.2", "ROLLED_BACK")


def test_a_skipped_backup_source_busy_is_a_failure(app, channel, vulnerable, sources, backend, bob):
    from backups import leases

    held = leases.acquire(sources[1].pk, "restore #7")  # shop-db is busy
    assert held is not None
    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok"])
    tasks.run_patch(patch.pk)
    patch = fresh(patch)
    assert patch.state == PatchState.FAILED
    skipped = patch.backups.get(source=sources[1])
    assert skipped.status == Backup.Status.SKIPPED
    assert "skipped: already running (restore #7)" in patch.reason
    assert patch.release is None
    assert not Release.objects.filter(app=app, version="1.0.1").exists()


def test_a_rollback_notifies(app, channel, vulnerable, sources, backend, bob):
    from notifications.models import Notification

    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/down"])
    tasks.run_patch(patch.pk)
    note = Notification.objects.get(event=patches.EVENT_FAILED)
    assert note.payload == {"patch": patch.pk, "app": "shop", "state": "rolled_back"}
    assert "HTTP 503" in note.body and "disabled" in note.body


def test_the_task_of_a_deleted_patch_does_nothing(db):
    assert tasks.run_patch(987654) == "no security patch #987654"
