"""seed_demo: the demo users, and the Demo Shop canary that `make run`'s simulated clients drive."""

import pytest

from backups.models import Source
from console import demo
from releases import publishing
from releases.models import App, Channel, Release, Rollout, RolloutState
from tests.console.demo_support import seed, use_test_storage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _demo_storage(settings, tmp_path):
    yield from use_test_storage(settings, tmp_path)


def test_seeding_twice_creates_the_demo_app_channel_releases_and_rollout_once():
    seed()
    seed()
    assert (App.objects.count(), Channel.objects.count(), Rollout.objects.count()) == (1, 1, 1)
    assert sorted(Release.objects.values_list("version", flat=True)) == ["1.0.0", "1.1.0"]


def test_the_demo_rollout_runs_its_first_phase_started_by_the_release_manager():
    seed()
    rollout = Rollout.objects.get()
    assert (rollout.state, rollout.phase, rollout.percent) == (RolloutState.RUNNING, 0, 20.0)
    assert (rollout.release.version, rollout.started_by.username) == ("1.1.0", "release")


def test_the_demo_rollout_waits_for_an_approval_before_half_the_installs():
    seed()
    phases = Rollout.objects.get().phases
    assert [(p["percent"], p["requires_approval"]) for p in phases] == [
        (20.0, False),
        (50.0, True),
        (100.0, False),
    ]
    assert len(Rollout.objects.get().metrics) == 6  # the default metrics


def test_the_users_are_still_printed_and_the_channel_key_follows_them():
    first = seed()
    again = seed()
    assert [line.split()[0] for line in first[:4]] == ["admin", "release", "operator", "viewer"]
    assert first[4] == again[4] == f"demo channel key: {Channel.objects.get().client_key}"


def test_a_second_seed_prints_the_same_passwords():
    assert seed()[:4] == seed()[:4]


def test_the_newer_demo_release_is_a_little_bigger_and_lists_typed_changes():
    seed()
    old, new = Release.objects.get(version="1.0.0"), Release.objects.get(version="1.1.0")
    assert old.analysis["totals"]["raw"] < new.analysis["totals"]["raw"]
    assert {c["type"] for c in new.changes} == {"feature", "fix", "security", "deprecation"}


def test_the_demo_bundles_carry_a_subpackage_and_every_kind_of_file():
    seed()
    analysis = Release.objects.get(version="1.1.0").analysis
    assert set(analysis["packages"]) == {"main", "orders"}
    assert {"js", "css", "images"} <= set(analysis["by_type"])


def test_the_demo_bundles_are_built_the_same_every_time():
    assert demo.bundle("1.1.0") == demo.bundle("1.1.0")
    assert demo.bundle("1.0.0") != demo.bundle("1.1.0")


def test_a_demo_interrupted_after_its_first_release_is_completed_by_the_next_seed():
    app = publishing.create_app(slug=demo.APP_SLUG, name=demo.APP_NAME)
    channel = publishing.create_channel(app, name=demo.CHANNEL)
    publishing.publish(app, publishing.Upload(version="1.0.0", chunks=[demo.bundle("1.0.0")]))
    seed()
    assert Rollout.objects.get(channel=channel).release.version == "1.1.0"
    assert Release.objects.filter(app=app).count() == 2


def test_the_demo_backup_source_covers_a_folder_of_demo_files_once(settings):
    seed()
    seed()
    source = Source.objects.get(name=demo.BACKUP_SOURCE)
    assert source.location == str(settings.VAR_DIR / "demo" / "files")
    assert (settings.VAR_DIR / "demo" / "files" / "catalogue.json").exists()
