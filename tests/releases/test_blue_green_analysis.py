"""Blue-green's monitoring window: real telemetry through the ingest endpoint, injected clock."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Notification
from releases import bluegreen, rollouts
from releases.models import Rollout, RolloutEvent
from tests.releases.conftest import publish
from tests.releases.rollout_support import resolve, rolled_out, sessions

# Telemetry timestamps must be recent: the clock starts half an hour ago.
T0 = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=30)
CRASH = [
    {
        "metric": "crash_rate",
        "threshold": 1,
        "relative": True,
        "min_samples": 100,
        "interval_seconds": 60,
        "window_seconds": 120,
    }
]


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def switched(app, channel, bob):
    """1.1.0 switched live at T0 with a 5-minute window, watched on the crash rate."""
    rolled_out(channel, publish(app, "1.0.0"), now=T0 - timedelta(days=1))
    rollout = rollouts.start(
        channel,
        publish(app, "1.1.0"),
        user=bob,
        strategy="blue_green",
        blue_green={"window_seconds": 300},
        metrics=CRASH,
        now=T0,
    )
    assert bluegreen.request_switch(rollout, user=bob, now=T0) == "switched"
    return Rollout.objects.get(pk=rollout.pk)


def test_the_controller_watches_the_window(switched):
    assert rollouts.tick(at(1)) == [switched.pk]


def test_a_breach_in_the_window_flips_back_automatically(client, channel, switched):
    sessions(client, channel, "1.1.0", at=at(1), installs=20, launches=10, crashes_every=3)
    sessions(client, channel, "1.0.0", at=at(1), installs=20, launches=10)
    assert rollouts.analyse(switched.pk, now=at(2)) == "aborted"
    rollout = Rollout.objects.get(pk=switched.pk)
    assert rollout.state == "aborted" and "automatic flip back" in rollout.reason


def test_after_the_automatic_flip_back_everyone_runs_blue(client, channel, switched):
    sessions(client, channel, "1.1.0", at=at(1), installs=20, launches=10, crashes_every=3)
    sessions(client, channel, "1.0.0", at=at(1), installs=20, launches=10)
    rollouts.analyse(switched.pk, now=at(2))
    on_green = {resolve(channel, f"c{n}", current="1.1.0")["version"] for n in range(50)}
    on_blue = {resolve(channel, f"c{n}", current="1.0.0")["version"] for n in range(50)}
    assert on_green == {"1.0.0"} and on_blue == {None}


def test_the_automatic_flip_back_is_an_event_and_a_notification(client, channel, switched):
    sessions(client, channel, "1.1.0", at=at(1), installs=20, launches=10, crashes_every=3)
    sessions(client, channel, "1.0.0", at=at(1), installs=20, launches=10)
    rollouts.analyse(switched.pk, now=at(2))
    assert RolloutEvent.objects.filter(rollout=switched, action="flipped_back").exists()
    assert Notification.objects.filter(event="rollouts.aborted").count() == 1


def test_healthy_numbers_complete_the_rollout_after_the_window(client, channel, switched):
    sessions(client, channel, "1.1.0", at=at(1), installs=20, launches=10)
    sessions(client, channel, "1.0.0", at=at(1), installs=20, launches=10)
    assert rollouts.analyse(switched.pk, now=at(2)) == "measured"
    assert rollouts.analyse(switched.pk, now=at(5)) == "advanced"
    rollout = Rollout.objects.get(pk=switched.pk)
    assert rollout.state == "completed" and bluegreen.restore_deadline(rollout) is not None


def test_no_completion_before_the_window_ends(client, channel, switched):
    sessions(client, channel, "1.1.0", at=at(1), installs=20, launches=10)
    sessions(client, channel, "1.0.0", at=at(1), installs=20, launches=10)
    assert rollouts.analyse(switched.pk, now=at(4)) == "measured"
    assert Rollout.objects.get(pk=switched.pk).state == "running"


def test_no_data_in_the_window_never_completes_it(switched):
    outcomes = {rollouts.analyse(switched.pk, now=at(m)) for m in range(1, 30)}
    assert "advanced" not in outcomes and "aborted" not in outcomes


def test_green_clients_go_back_after_a_manual_flip_back_of_a_completed_rollout(
    client, channel, switched
):
    sessions(client, channel, "1.1.0", at=at(1), installs=20, launches=10)
    sessions(client, channel, "1.0.0", at=at(1), installs=20, launches=10)
    rollouts.analyse(switched.pk, now=at(5))
    done = Rollout.objects.get(pk=switched.pk)
    bluegreen.flip_back(done, reason="support tickets", now=at(10))
    answer = resolve(channel, "someone", current="1.1.0")
    assert (answer["version"], answer["reason"], answer["mandatory"]) == (
        "1.0.0",
        "ROLLED_BACK",
        True,
    )


def test_a_breach_while_the_window_is_paused_flips_back(client, channel, switched):
    rollouts.pause(switched, reason="a person looks at the logs", now=at(0.5))
    sessions(client, channel, "1.1.0", at=at(1), installs=20, launches=10, crashes_every=3)
    sessions(client, channel, "1.0.0", at=at(1), installs=20, launches=10)
    assert rollouts.analyse(switched.pk, now=at(2)) == "aborted"
    rollout = Rollout.objects.get(pk=switched.pk)
    assert rollout.state == "aborted" and "automatic flip back" in rollout.reason
    assert resolve(channel, "someone", current="1.1.0")["version"] == "1.0.0"


def test_a_quiet_paused_window_stays_paused_with_green_live(client, channel, switched):
    rollouts.pause(switched, reason="look", now=at(0.5))
    sessions(client, channel, "1.1.0", at=at(1), installs=20, launches=10)
    sessions(client, channel, "1.0.0", at=at(1), installs=20, launches=10)
    rollouts.analyse(switched.pk, now=at(10))
    assert Rollout.objects.get(pk=switched.pk).state == "paused"
    assert resolve(channel, "someone")["version"] == "1.1.0"
