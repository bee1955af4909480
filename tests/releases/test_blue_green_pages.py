"""Blue-green in the console: the start form, the slots and health checks on the rollout page,
the switch and flip-back buttons, and who may press them."""

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from releases import bluegreen, rollouts
from releases.models import Rollout
from tests.access import PERSONAS, assert_role_access, assert_sent_to_sign_in
from tests.releases.conftest import publish
from tests.releases.rollout_support import resolve, rolled_out

START = "/releases/shop/v/1.1.0/rollout/"


@pytest.fixture
def candidate(app, channel):
    rolled_out(channel, publish(app, "1.0.0"), now=timezone.now() - timedelta(days=1))
    return publish(app, "1.1.0")


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on: its probe is refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def staged(channel, candidate, bob):
    return rollouts.start(channel, candidate, user=bob, strategy="blue_green")


def page(client, rollout) -> str:
    return client.get(f"/releases/rollouts/{rollout.pk}/").content.decode()


# --- the start form ----------------------------------------------------------------------------


def test_the_start_form_offers_both_strategies(client, login, bob, candidate):
    login(bob)
    body = client.get(START).content.decode()
    assert 'value="blue_green"' in body and 'name="probes"' in body
    assert 'name="window_seconds"' in body and 'value="300"' in body


def test_the_form_starts_a_blue_green_with_probes_and_window(client, login, bob, candidate):
    login(bob)
    response = client.post(
        START,
        {
            "channel": "production",
            "strategy": "blue_green",
            "probes": "http://127.0.0.1:8081/health\nhttp://127.0.0.1:8081/ready",
            "window_seconds": "600",
            "probe_timeout": "2",
            "restore_seconds": "3600",
        },
    )
    rollout = Rollout.objects.get(release=candidate)
    assert response["Location"] == f"/releases/rollouts/{rollout.pk}/"
    assert (rollout.strategy, len(rollout.probes), bluegreen.window_seconds(rollout)) == (
        "blue_green",
        2,
        600,
    )


def test_a_bad_probe_url_re_renders_the_form_and_starts_nothing(client, login, bob, candidate):
    login(bob)
    response = client.post(
        START, {"channel": "production", "strategy": "blue_green", "probes": "not a url"}
    )
    assert response.status_code == 400 and "absolute http(s) URL" in response.content.decode()
    assert not Rollout.objects.filter(release=candidate).exists()


def test_a_too_short_window_is_a_field_error(client, login, bob, candidate):
    login(bob)
    response = client.post(
        START, {"channel": "production", "strategy": "blue_green", "window_seconds": "10"}
    )
    assert response.status_code == 400
    assert not Rollout.objects.filter(release=candidate).exists()


def test_a_refusal_is_shown_on_the_form(client, login, bob, app, channel):
    publish(app, "1.0.0")
    login(bob)
    response = client.post(
        "/releases/shop/v/1.0.0/rollout/", {"channel": "production", "strategy": "blue_green"}
    )
    assert response.status_code == 409 and "blue-green needs a release" in response.content.decode()


def test_the_canary_stays_the_default(client, login, bob, candidate):
    login(bob)
    client.post(START, {"channel": "production", "window_seconds": "600"})
    assert Rollout.objects.get(release=candidate).strategy == "canary"


# --- the rollout page --------------------------------------------------------------------------


def test_the_page_shows_blue_live_and_green_idle_before_the_switch(client, login, dave, staged):
    login(dave)
    body = page(client, staged)
    assert "Blue-green slots" in body and "idle: testers only" in body
    assert "Run health checks and switch" not in body  # a viewer has no switch


def test_a_release_manager_gets_the_switch_button(client, login, becky, staged):
    login(becky)
    assert "Run health checks and switch all traffic" in page(client, staged)


def test_a_failed_switch_shows_each_probe_and_changes_nothing(
    client, login, becky, channel, candidate, bob, closed_port
):
    url = f"http://127.0.0.1:{closed_port}/health"
    rollout = rollouts.start(
        channel, candidate, user=bob, strategy="blue_green", blue_green={"probes": [url]}
    )
    login(becky)
    client.post(f"/releases/rollouts/{rollout.pk}/switch/")
    body = page(client, rollout)
    assert url in body and "Health check failed" in body and "Retry health checks" in body
    assert resolve(channel, "not-a-tester")["version"] is None


def test_a_passing_switch_through_the_page_puts_green_live(client, login, becky, channel, staged):
    login(becky)
    response = client.post(f"/releases/rollouts/{staged.pk}/switch/")
    assert response.status_code == 302
    assert resolve(channel, "not-a-tester")["version"] == "1.1.0"
    body = page(client, staged)
    assert "Flip back to 1.0.0" in body and "SHA-256 matches" in body


def test_the_fragment_carries_the_slots(client, login, dave, staged):
    login(dave)
    response = client.get(f"/releases/rollouts/{staged.pk}/", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Blue-green slots" in body and "<html" not in body


def test_flip_back_through_the_page(client, login, becky, channel, staged):
    bluegreen.request_switch(staged)
    login(becky)
    client.post(f"/releases/rollouts/{staged.pk}/flip-back/", {"reason": "checkout errors"})
    staged.refresh_from_db()
    assert staged.state == "aborted"
    assert resolve(channel, "anyone", current="1.1.0")["version"] == "1.0.0"


def test_a_flip_back_without_a_reason_changes_nothing(client, login, becky, staged):
    bluegreen.request_switch(staged)
    login(becky)
    client.post(f"/releases/rollouts/{staged.pk}/flip-back/", {"reason": ""})
    staged.refresh_from_db()
    assert (staged.state, staged.phase) == ("running", 1)


def test_a_staged_blue_green_page_offers_no_pause(client, login, becky, staged):
    login(becky)
    assert "rollout_pause" not in page(client, staged) and "/pause/" not in page(client, staged)


# --- access ------------------------------------------------------------------------------------

ACCESS = {
    "switch": ("POST", "/releases/rollouts/{pk}/switch/", {"bob", "alice"}),
    "flip_back": ("POST", "/releases/rollouts/{pk}/flip-back/", {"bob", "alice"}),
    "start_form": ("GET", START, {"bob", "alice"}),
    "page": ("GET", "/releases/rollouts/{pk}/", {"dave", "carol", "bob", "alice"}),
}


@pytest.fixture
def people(alice, bob, carol, dave, erin):
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "erin": erin}


@pytest.mark.parametrize("name", sorted(ACCESS))
def test_anonymous_visitors_are_sent_to_sign_in(client, staged, name):
    method, template, _ = ACCESS[name]
    assert_sent_to_sign_in(client, method, template.format(pk=staged.pk))


@pytest.mark.parametrize("name", sorted(ACCESS))
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_gets_what_it_may_on_a_blue_green(client, staged, people, name, persona):
    method, template, allowed = ACCESS[name]
    path = template.format(pk=staged.pk)
    assert_role_access(client, people[persona], method, path, persona in allowed)


def test_approving_the_switch_through_the_page_runs_the_checks_and_switches(
    client, login, becky, channel, candidate, bob
):
    rollout = rollouts.start(
        channel,
        candidate,
        user=bob,
        strategy="blue_green",
        blue_green={"requires_approval": True},
    )
    bluegreen.request_switch(rollout, user=bob)
    rollout.refresh_from_db()
    login(becky)
    assert "Approve the switch" in page(client, rollout)
    client.post(
        f"/releases/rollouts/{rollout.pk}/decide/",
        {"decision": "approve", **rollouts.approval_binding(rollout)},
    )
    assert resolve(channel, "not-a-tester")["version"] == "1.1.0"


def test_the_list_names_the_strategy(client, login, dave, staged):
    login(dave)
    assert "Blue-green" in client.get("/releases/rollouts/").content.decode()
