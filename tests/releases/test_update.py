"""The update endpoint: resolution truth table, parameters, keys, caching.

Here the channel lets releases out at once (``release_gate="immediate"``): these tests are about
resolution itself. The rollout gate has its own truth table in test_release_gate.py.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from releases import bucketing, exposure, publishing
from releases.exposure import Exposure
from tests.releases.conftest import publish


@pytest.fixture
def channel(app):
    return publishing.create_channel(app, name="production", release_gate="immediate")


def ask(client, channel, current="1.0.0", runtime="2.0.0", install_id="dev-1", **extra):
    params = {"key": channel.client_key, "current": current, "runtime": runtime, **extra}
    if install_id is not None:
        params["install_id"] = install_id
    return client.get("/api/v1/update", params)


def test_no_release_means_run_the_embedded_bundle(client, channel):
    body = ask(client, channel).json()
    assert (body["version"], body["reason"]) == (None, "NO_RELEASE")


def test_the_newest_release_is_offered(client, app, channel):
    publish(app, "1.1.0")
    latest = publish(app, "1.2.0")
    body = ask(client, channel).json()
    assert (body["version"], body["reason"]) == ("1.2.0", "UPDATE_AVAILABLE")
    assert body["sha256"] == latest.bundle_sha256 and body["size"] == latest.bundle_size


def test_the_answer_names_the_bundle_by_its_hash(client, app, channel):
    release = publish(app, "1.1.0")
    assert ask(client, channel).json()["url"].endswith(f"/bundles/{release.bundle_sha256}.zip")


def test_a_client_on_the_newest_release_is_up_to_date(client, app, channel):
    publish(app, "1.1.0")
    body = ask(client, channel, current="1.1.0").json()
    assert (body["version"], body["reason"]) == (None, "UP_TO_DATE")


def test_a_release_whose_runtime_range_excludes_the_client_is_skipped(client, app, channel):
    publish(app, "1.1.0", runtime_range=">=2.0.0")
    publish(app, "1.2.0", runtime_range=">=3.0.0")
    assert ask(client, channel, runtime="2.4").json()["version"] == "1.1.0"


def test_no_compatible_release_is_said_so(client, app, channel):
    publish(app, "1.1.0", runtime_range="^3.0.0")
    body = ask(client, channel, runtime="2.0.0").json()
    assert (body["version"], body["reason"]) == (None, "NO_COMPATIBLE")


def test_skipping_a_mandatory_release_makes_the_answer_mandatory(client, app, channel):
    publish(app, "1.1.0", mandatory=True)
    publish(app, "1.2.0")
    body = ask(client, channel).json()
    assert (body["version"], body["mandatory"], body["reason"]) == ("1.2.0", True, "MANDATORY")


def test_a_mandatory_release_the_client_already_has_does_not_count(client, app, channel):
    publish(app, "1.1.0", mandatory=True)
    publish(app, "1.2.0")
    assert ask(client, channel, current="1.1.0").json()["mandatory"] is False


def test_a_disabled_release_is_never_offered(client, app, channel, bob):
    publish(app, "1.1.0")
    bad = publish(app, "1.2.0")
    publishing.disable(bad, user=bob, reason="crash")
    assert ask(client, channel).json()["version"] == "1.1.0"


def test_a_release_for_another_channel_is_not_offered(client, app, channel):
    beta = publishing.create_channel(app, name="beta", release_gate="immediate")
    publish(app, "1.1.0")
    publish(app, "1.2.0", channel=beta)
    assert ask(client, channel).json()["version"] == "1.1.0"
    assert ask(client, beta).json()["version"] == "1.2.0"


@pytest.fixture
def tester_only(app, channel):
    """1.1.0 for everyone, 1.2.0 over budget (testers only), dev-tester on the allowlist."""
    publish(app, "1.1.0")
    publishing.set_budgets(app, main_budget_kib=1)
    publish(app, "1.2.0", {"big.bin": bytes(range(256)) * 8})
    publishing.set_testers(channel, ["dev-tester"])


def test_testers_on_the_allowlist_see_tester_only_releases(client, channel, tester_only):
    body = ask(client, channel, install_id="dev-tester").json()
    assert (body["version"], body["reason"]) == ("1.2.0", "TESTER")


def test_others_fall_through_to_the_older_eligible_release(client, channel, tester_only):
    assert ask(client, channel, install_id="dev-other").json()["version"] == "1.1.0"


def test_a_client_held_back_from_the_only_newer_release_is_told_why(client, channel, tester_only):
    body = ask(client, channel, current="1.1.0", install_id="dev-other").json()
    assert (body["version"], body["reason"]) == (None, "TESTERS_ONLY")


@pytest.fixture
def cohort_of_half(app):
    """A stand-in for the rollouts issue: 1.2.0 is in a 50% rollout with salt "r1"."""

    def provider(channel, releases, exposures):
        for release in releases:
            if release.version == "1.2.0":
                exposures[release.pk] = Exposure.cohort(50, "r1")

    exposure.register(provider)
    yield
    exposure._providers.remove(provider)


def _ids(inside: bool) -> str:
    return next(f"i{n}" for n in range(1000) if bucketing.in_cohort("r1", f"i{n}", 50) is inside)


def test_a_rollout_provider_restricts_a_release_to_its_cohort(client, app, channel, cohort_of_half):
    publish(app, "1.1.0")
    publish(app, "1.2.0")
    inside = ask(client, channel, install_id=_ids(True)).json()
    outside = ask(client, channel, install_id=_ids(False)).json()
    assert (inside["version"], inside["reason"]) == ("1.2.0", "ROLLOUT_MATCH")
    assert outside["version"] == "1.1.0"


def test_the_bucket_is_the_rollouts_when_one_restricts_a_candidate(
    client, app, channel, cohort_of_half
):
    publish(app, "1.2.0")
    body = ask(client, channel, install_id="dev-9").json()
    assert body["bucket"] == bucketing.bucket("r1", "dev-9")
    assert ask(client, channel, current="1.1.0", install_id=None).json()["reason"] == (
        "ROLLOUT_EXCLUDED"
    )


def test_without_a_rollout_the_bucket_uses_the_channel_salt(client, channel):
    body = ask(client, channel, install_id="dev-9").json()
    assert body["bucket"] == bucketing.bucket("shop/production", "dev-9")


def test_without_an_install_id_there_is_no_bucket(client, channel):
    assert ask(client, channel, install_id=None).json()["bucket"] is None


def test_an_unknown_key_is_a_404_json(client, channel):
    response = client.get("/api/v1/update", {"key": "ck_nope", "current": "1.0.0", "runtime": "1"})
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_key"


@pytest.mark.parametrize(
    "params",
    [
        {"current": "1.0.0", "runtime": "1"},
        {"key": "K", "runtime": "1"},
        {"key": "K", "current": "1.0", "runtime": "1"},
        {"key": "K", "current": "1.0.0"},
        {"key": "K", "current": "1.0.0", "runtime": "one"},
        {"key": "K", "current": "1.0.0", "runtime": "1", "install_id": "has spaces"},
    ],
)
def test_missing_or_malformed_parameters_are_a_400_json(client, channel, params):
    params = {k: (channel.client_key if v == "K" else v) for k, v in params.items()}
    response = client.get("/api/v1/update", params)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_parameter"


def test_the_old_key_works_during_the_grace_period(client, app, channel):
    old = channel.client_key
    publishing.rotate_key(channel)
    publish(app, "1.1.0")
    response = client.get("/api/v1/update", {"key": old, "current": "1.0.0", "runtime": "1"})
    assert response.json()["version"] == "1.1.0"


def test_the_old_key_stops_working_after_the_grace_period(client, channel):
    old = channel.client_key
    publishing.rotate_key(channel, now=timezone.now() - timedelta(days=8))
    response = client.get("/api/v1/update", {"key": old, "current": "1.0.0", "runtime": "1"})
    assert response.status_code == 404


def test_a_warm_update_check_makes_no_database_query(client, app, channel):
    publish(app, "1.1.0")
    ask(client, channel, install_id="warm-up")
    with CaptureQueriesContext(connection) as queries:
        for n in range(5):
            assert ask(client, channel, install_id=f"dev-{n}").status_code == 200
    assert len(queries) == 0


def test_a_new_release_is_visible_right_after_publishing(client, app, channel):
    publish(app, "1.1.0")
    assert ask(client, channel).json()["version"] == "1.1.0"
    publish(app, "1.2.0")
    assert ask(client, channel).json()["version"] == "1.2.0"


def test_disabling_is_visible_right_away(client, app, channel, bob):
    publish(app, "1.1.0")
    bad = publish(app, "1.2.0")
    ask(client, channel)
    publishing.disable(bad, user=bob, reason="crash")
    assert ask(client, channel).json()["version"] == "1.1.0"


def test_unlisted_parameters_do_not_split_the_cache(client, app, channel):
    from django.core.cache import cache

    publish(app, "1.1.0")
    ask(client, channel, install_id="a", utm="x")
    ask(client, channel, install_id="b", utm="y")
    plans = [k for k in cache._cache if ":releases:plan:" in k]
    assert len(plans) == 1


def test_an_approved_budget_override_opens_the_release_to_everyone(
    client, app, channel, bob, becky
):
    from audit import approvals

    publishing.set_budgets(app, main_budget_kib=1)
    release = publish(app, "1.1.0", {"big.bin": bytes(range(256)) * 8})
    assert ask(client, channel).json()["reason"] == "TESTERS_ONLY"
    cr = publishing.request_budget_override(release, user=bob, reason="launch art")
    approvals.approve(cr.pk, becky, version=cr.version)
    approvals.apply(cr.pk, becky)
    assert ask(client, channel).json()["version"] == "1.1.0"


def test_a_prerelease_client_is_offered_its_final_release(client, app, channel):
    publish(app, "1.2.0-beta.1")
    publish(app, "1.2.0")
    assert ask(client, channel, current="1.2.0-beta.1").json()["version"] == "1.2.0"
