"""Semver ordering, refusal messages, what a release records, disabling, auditing."""

import threading

import pytest
from django.db import connection

from audit.models import AuditEvent
from releases import bundles, publishing
from releases.models import Release
from tests.releases.conftest import make_zip, publish


def _refused(app, version, **options):
    with pytest.raises(publishing.PublishError) as caught:
        publish(app, version, **options)
    return caught.value


def test_a_duplicate_version_is_refused_naming_the_latest(app):
    publish(app, "1.2.0")
    error = _refused(app, "1.2.0")
    assert (error.status, error.code) == (409, "duplicate_version")
    assert "the latest is 1.2.0" in error.detail


def test_a_lower_version_is_refused_naming_the_latest(app):
    publish(app, "1.2.0")
    error = _refused(app, "1.1.9")
    assert error.status == 409
    assert "lower than the latest release 1.2.0" in error.detail


def test_a_prerelease_of_a_published_version_is_lower(app):
    publish(app, "2.0.0")
    assert _refused(app, "2.0.0-rc.1").code == "version_not_greater"


def test_a_prerelease_may_precede_its_release(app):
    publish(app, "2.0.0-beta.1")
    assert publish(app, "2.0.0").version == "2.0.0"


def test_a_disabled_release_still_counts_as_the_latest(app, bob):
    release = publish(app, "1.0.0")
    publishing.disable(release, user=bob, reason="crashes")
    assert _refused(app, "1.0.0").status == 409


def test_bad_semver_is_a_400(app):
    error = _refused(app, "1.0")
    assert (error.status, error.field) == (400, "version")


def test_a_byte_identical_bundle_is_refused_with_409(app):
    data = {"index.js": "same"}
    publish(app, "1.0.0", data)
    error = _refused(app, "1.0.1", files=data)
    assert (error.status, error.code) == (409, "duplicate_bundle")


def test_a_refused_bundle_stores_nothing(app):
    with pytest.raises(publishing.PublishError):
        publishing.publish(app, publishing.Upload(version="1.0.0", chunks=[b"junk"]))
    assert not Release.objects.exists()
    assert [p for p in bundles.bundle_dir().rglob("*") if p.is_file()] == []


def test_the_release_records_author_previous_and_typed_changes(app, bob):
    first = publish(app, "1.0.0")
    second = publish(app, "1.1.0", author=bob, changes="feature: dark mode\nfix: crash on launch")
    assert (second.author, second.previous) == (bob, first)
    assert [c["type"] for c in second.changes] == ["feature", "fix"]


def test_an_unknown_change_type_is_refused(app):
    assert _refused(app, "1.0.0", changes="chore: tidy").code == "invalid_changes"


def test_minor_releases_are_backward_compatible_and_majors_need_migration(app):
    publish(app, "1.0.0")
    assert publish(app, "1.1.0").compatibility == "backward_compatible"
    assert publish(app, "2.0.0").compatibility == "migration_required"


def test_a_breaking_change_needs_a_major_version(app):
    publish(app, "1.0.0")
    error = _refused(app, "1.1.0", changes="breaking: drop the v1 API")
    assert error.code == "breaking_needs_major"
    assert "2.0.0" in error.detail


def test_deprecations_are_carried_forward_until_a_breaking_change_removes_them(app):
    publish(app, "1.0.0", changes="deprecation: legacy login")
    assert publish(app, "1.1.0").deprecated == ["legacy login"]
    assert publish(app, "2.0.0", changes="breaking: removed legacy login").deprecated == []


def test_the_rollback_target_is_the_newest_enabled_earlier_release(app, bob):
    first = publish(app, "1.0.0")
    second = publish(app, "1.1.0")
    publishing.disable(second, user=bob, reason="bad")
    assert publish(app, "1.2.0").rollback_target == first


def test_the_rollback_target_can_be_chosen(app):
    first = publish(app, "1.0.0")
    publish(app, "1.1.0")
    assert publish(app, "1.2.0", rollback_target_version="1.0.0").rollback_target == first


def test_a_malformed_runtime_range_is_refused(app):
    assert _refused(app, "1.0.0", runtime_range=">=2 <<3").field == "runtime"


def test_publishing_is_audited(app, bob):
    release = publish(app, "1.0.0", author=bob)
    event = AuditEvent.objects.get(action="release.published")
    assert event.object_id == str(release.pk)
    assert event.after["sha256"] == release.bundle_sha256


def test_disabling_twice_changes_the_release_once(app, bob):
    release = publish(app, "1.0.0")
    assert publishing.disable(release, user=bob, reason="crash") is True
    assert publishing.disable(release, user=bob, reason="crash") is False


def test_releases_cannot_be_bulk_updated_around_the_audit_trail(app):
    publish(app, "1.0.0")
    with pytest.raises(Exception, match="audit"):
        Release.objects.update(mandatory=True)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_publishes_of_one_version_create_one_release(settings, tmp_path):
    from releases.models import App

    app = App.objects.create(slug="race", name="Race")
    outcomes = []

    def attempt(n):
        try:
            data = make_zip({"index.js": f"thread {n}"})
            publishing.publish(app, publishing.Upload(version="3.0.0", chunks=[data]))
            outcomes.append("ok")
        except publishing.PublishError as exc:
            outcomes.append(exc.status)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes, key=str) == [409, 409, 409, "ok"]
    assert Release.objects.filter(app=app).count() == 1
