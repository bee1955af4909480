"""The release gate: on a ``rollout``-gated channel a new release reaches clients only through a
rollout (testers until one starts); on an ``immediate`` one everyone gets it at once.

Every answer comes from the real resolution (``update.answer``, what the endpoint calls).
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from releases import bucketing, publishing, rollouts
from releases.models import Channel
from tests.releases.conftest import publish
from tests.releases.rollout_support import resolve, rolled_out

NOW = timezone.now().replace(microsecond=0)
HALF = [{"percent": 50, "hold_seconds": 600}]


@pytest.fixture
def stable(app, channel):
    """1.0.0 fully rolled out on the (default, rollout-gated) production channel."""
    return rolled_out(channel, publish(app, "1.0.0"), now=NOW - timedelta(days=1))


@pytest.fixture
def new(app, channel, stable):
    """1.1.0 just published: no rollout yet. ``dev-tester`` is on the allowlist."""
    publishing.set_testers(channel, ["dev-tester"])
    return publish(app, "1.1.0")


def _install(salt: str, inside: bool) -> str:
    return next(
        i for i in (f"i{n}" for n in range(1000)) if bucketing.in_cohort(salt, i, 50) is inside
    )


def _answer(channel, install_id, current="1.0.0"):
    body = resolve(channel, install_id, current=current)
    return body["version"], body["reason"]


def test_new_channels_are_gated_by_rollouts(channel):
    assert channel.release_gate == Channel.ReleaseGate.ROLLOUT


def test_the_chosen_gate_is_recorded_in_the_audit_trail(app):
    publishing.create_channel(app, name="beta", release_gate="immediate")
    assert AuditEvent.objects.get(action="channel.created").after["release_gate"] == "immediate"


def test_an_unknown_gate_is_refused_before_anything_is_created(app):
    with pytest.raises(publishing.PublishError) as refused:
        publishing.create_channel(app, name="beta", release_gate="sometimes")
    assert (refused.value.status, refused.value.field) == (400, "release_gate")
    assert not Channel.objects.exists()


def test_before_its_rollout_a_new_release_is_held_back_from_everyone_else(channel, new):
    assert _answer(channel, "dev-other") == (None, "AWAITING_ROLLOUT")


def test_before_its_rollout_older_clients_get_the_previous_release(channel, new):
    assert _answer(channel, "dev-other", current="0.9.0") == ("1.0.0", "UPDATE_AVAILABLE")


def test_before_its_rollout_testers_get_the_new_release(channel, new):
    assert _answer(channel, "dev-tester") == ("1.1.0", "TESTER")


def test_during_its_rollout_the_cohort_gets_it_and_the_rest_do_not(channel, new):
    rollout = rollouts.start(channel, new, phases=HALF, now=NOW)
    assert _answer(channel, _install(rollout.salt, True)) == ("1.1.0", "ROLLOUT_MATCH")
    assert _answer(channel, _install(rollout.salt, False)) == (None, "ROLLOUT_EXCLUDED")


def test_after_its_rollout_completed_everyone_gets_it(channel, new):
    rollout = rollouts.start(channel, new, phases=HALF, now=NOW)
    rollouts.advance(rollout, now=NOW + timedelta(hours=1), reason="phase verdict")
    assert rollout.state == "completed"
    assert _answer(channel, _install(rollout.salt, False)) == ("1.1.0", "UPDATE_AVAILABLE")


def test_a_break_glass_promotion_lets_everyone_have_it(channel, new):
    rollout = rollouts.start(channel, new, phases=HALF, now=NOW)
    rollouts.promote_now(rollout, reason="customer escalation", now=NOW)
    assert _answer(channel, _install(rollout.salt, False)) == ("1.1.0", "UPDATE_AVAILABLE")


def test_an_aborted_rollout_does_not_open_the_gate(channel, new):
    rollout = rollouts.start(channel, new, phases=HALF, now=NOW)
    rollouts.abort(rollout, reason="crashes", now=NOW)
    assert _answer(channel, _install(rollout.salt, True))[0] is None


def test_on_an_immediate_channel_everyone_gets_a_new_release_at_once(app):
    channel = publishing.create_channel(app, name="beta", release_gate="immediate")
    publish(app, "1.1.0")
    assert _answer(channel, "dev-other") == ("1.1.0", "UPDATE_AVAILABLE")


def test_a_rollback_release_goes_to_everyone_at_once_without_a_rollout(channel, new):
    rolled_out(channel, new, now=NOW)
    back = rollouts.rollback(new.rollouts.get(), reason="login broken", now=NOW)
    assert _answer(channel, "dev-other", current="1.1.0") == (back.version, "ROLLED_BACK")
    assert _answer(channel, "dev-other", current="1.0.0") == (back.version, "MANDATORY")


def test_an_aborted_first_rollout_sends_its_cohort_back_to_the_release_before(app, channel):
    publish(app, "1.0.0")  # never rolled out: the embedded bundle, say
    rollout = rollouts.start(channel, publish(app, "1.1.0"), phases=HALF, now=NOW)
    rollouts.abort(rollout, reason="crashes", now=NOW)
    inside = _install(rollout.salt, True)
    assert _answer(channel, inside, current="1.1.0") == ("1.0.0", "ROLLED_BACK")


def test_the_first_release_of_a_gated_channel_waits_for_its_rollout_too(app, channel):
    publish(app, "1.0.0")
    assert _answer(channel, "dev-other", current="0.1.0") == (None, "AWAITING_ROLLOUT")


def test_an_over_budget_release_is_still_reported_as_testers_only(app, channel, stable):
    publishing.set_budgets(app, main_budget_kib=1)
    publish(app, "1.1.0", {"big.bin": bytes(range(256)) * 8})
    assert _answer(channel, "dev-other") == (None, "TESTERS_ONLY")


def test_the_gate_is_per_channel(app, channel, stable):
    beta = publishing.create_channel(app, name="beta")
    release = publish(app, "1.1.0")  # to every channel of the app
    rolled_out(beta, release, now=NOW)
    assert _answer(beta, "dev-other") == ("1.1.0", "UPDATE_AVAILABLE")
    assert _answer(channel, "dev-other") == (None, "AWAITING_ROLLOUT")


def test_a_cached_answer_changes_as_soon_as_the_rollout_completes(channel, new):
    assert _answer(channel, "dev-other")[1] == "AWAITING_ROLLOUT"
    rolled_out(channel, new, now=NOW)
    assert _answer(channel, "dev-other") == ("1.1.0", "UPDATE_AVAILABLE")


def test_the_stable_release_of_a_rollout_skips_releases_still_awaiting_theirs(app, channel, new):
    rollout = rollouts.start(channel, publish(app, "1.2.0"), phases=HALF, now=NOW)
    assert rollout.stable_version == "1.0.0"


def test_a_warm_update_check_on_a_gated_channel_makes_no_database_query(channel, new):
    rollouts.start(channel, new, phases=HALF, now=NOW)
    resolve(channel, "warm-up")
    with CaptureQueriesContext(connection) as queries:
        for n in range(5):
            resolve(channel, f"dev-{n}")
    assert len(queries) == 0
