"""Changing a channel's release gate: the audited function, its page (typed confirmation to open
the gate, what non-testers get next) and ``PATCH /api/v1/apps/<slug>/channels/<name>``.

Every answer comes from the real resolution (``update.answer``, what the endpoint calls).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.tokens import create_token
from audit.models import AuditEvent
from releases import generation, publishing, rollouts
from releases.models import Channel
from releases.openapi import DOCUMENT
from tests.releases.conftest import publish
from tests.releases.rollout_support import resolve, rolled_out

NOW = timezone.now().replace(microsecond=0)
GATE_URL = "/releases/shop/channels/production/gate/"
API_URL = "/api/v1/apps/shop/channels/production"


@pytest.fixture
def new(app, channel):
    """1.0.0 rolled out on the gated production channel; 1.1.0 published, waiting for its
    rollout."""
    rolled_out(channel, publish(app, "1.0.0"), now=NOW - timedelta(days=1))
    return publish(app, "1.1.0")


@pytest.fixture
def immediate(app):
    """An immediate channel with two releases no rollout ever touched."""
    channel = publishing.create_channel(app, name="production", release_gate="immediate")
    publish(app, "1.0.0")
    publish(app, "1.1.0")
    return channel


def _gate(channel) -> str:
    return Channel.objects.get(pk=channel.pk).release_gate


def _changes():
    return AuditEvent.objects.filter(action="channel.release_gate_changed")


# --- the function ------------------------------------------------------------------------------


def test_opening_the_gate_gives_everyone_the_waiting_release_at_once(channel, new):
    assert resolve(channel, "someone")["reason"] == "AWAITING_ROLLOUT"  # now cached
    assert publishing.set_release_gate(channel, "immediate") is True
    assert resolve(channel, "someone")["version"] == "1.1.0"


def test_closing_the_gate_holds_back_releases_never_rolled_out(immediate):
    assert resolve(immediate, "someone")["version"] == "1.1.0"  # now cached
    publishing.set_release_gate(immediate, "rollout")
    answer = resolve(immediate, "someone")
    assert (answer["version"], answer["reason"]) == (None, "AWAITING_ROLLOUT")


def test_closing_the_gate_keeps_testers_on_the_newest_release(immediate):
    publishing.set_testers(immediate, ["dev-tester"])
    publishing.set_release_gate(immediate, "rollout")
    assert resolve(immediate, "dev-tester")["version"] == "1.1.0"


def test_the_change_is_audited_with_what_it_exposed(channel, new):
    publishing.set_release_gate(channel, "immediate", reason="hotfix channel")
    event = _changes().get()
    assert (event.before["release_gate"], event.after["release_gate"]) == ("rollout", "immediate")
    assert (event.after["opened"], event.after["everyone_gets"], event.reason) == (
        ["1.1.0"],
        "1.1.0",
        "hotfix channel",
    )


def test_the_change_bumps_the_answer_generation(channel, new):
    before = generation.current()
    publishing.set_release_gate(channel, "immediate")
    assert generation.current() != before


@pytest.mark.parametrize("state", ["running", "paused", "awaiting_approval"])
def test_it_is_refused_while_a_rollout_is_active(channel, new, state):
    rollout = rollouts.start(channel, new)
    rollout.__class__._base_manager.filter(pk=rollout.pk).update(state=state)
    with pytest.raises(publishing.PublishError) as refused:
        publishing.set_release_gate(channel, "immediate")
    assert (refused.value.status, refused.value.code) == (409, "rollout_active")
    assert f"rollout #{rollout.pk}" in refused.value.detail
    assert _gate(channel) == "rollout" and not _changes().exists()


def test_it_may_change_once_the_rollout_ended(channel, new):
    rollouts.abort(rollouts.start(channel, new), reason="not yet")
    assert publishing.set_release_gate(channel, "immediate") is True


def test_an_unknown_gate_is_refused(channel):
    with pytest.raises(publishing.PublishError) as refused:
        publishing.set_release_gate(channel, "sometimes")
    assert (refused.value.status, refused.value.code) == (400, "invalid_gate")
    assert _gate(channel) == "rollout"


def test_setting_the_same_gate_writes_nothing(channel):
    assert publishing.set_release_gate(channel, "rollout") is False
    assert not _changes().exists()


def test_the_preview_says_what_non_testers_get_before_and_after(channel, new):
    preview = publishing.gate_preview(channel, "immediate")
    assert preview == {"before": "1.0.0", "after": "1.1.0", "opened": ["1.1.0"], "held": []}


def test_the_preview_of_closing_names_the_releases_held_back(immediate):
    preview = publishing.gate_preview(immediate, "rollout")
    assert preview == {"before": "1.1.0", "after": None, "opened": [], "held": ["1.1.0", "1.0.0"]}


def test_an_aborted_release_stays_withdrawn_when_the_gate_opens(app, channel, new):
    rollouts.abort(rollouts.start(channel, new), reason="crashes")
    publishing.set_release_gate(channel, "immediate")
    assert resolve(channel, "someone")["version"] is None  # 1.0.0 is current; 1.1.0 withdrawn


@pytest.mark.django_db(transaction=True)
def test_a_gate_change_waits_for_a_rollout_starting_meanwhile_then_refuses():
    """A rollout's uncommitted start holds the channel (PostgreSQL: the channel's row lock both
    take; SQLite: the write lock of its IMMEDIATE transaction), so the gate change waits, then
    sees the rollout and refuses."""
    from releases.models import App

    app = App.objects.create(slug="race", name="Race")
    channel = publishing.create_channel(app, name="production")
    release = publish(app, "1.0.0")
    started, go, done = threading.Event(), threading.Event(), threading.Event()
    outcome = []

    def start_rollout():
        try:
            with transaction.atomic():
                rollouts.start(channel, release)
                started.set()
                go.wait(10)
        finally:
            connection.close()

    def change_gate():
        try:
            publishing.set_release_gate(Channel.objects.get(pk=channel.pk), "immediate")
            outcome.append("changed")
        except publishing.PublishError as exc:
            outcome.append(exc.code)
        except Exception as exc:  # shown by the assertion below
            outcome.append(repr(exc))
        finally:
            done.set()
            connection.close()

    starter = threading.Thread(target=start_rollout)
    starter.start()
    assert started.wait(10)
    changer = threading.Thread(target=change_gate)
    changer.start()
    time.sleep(0.5)  # real threads: the change must still be waiting for the rollout's commit
    waited = not done.is_set()
    go.set()
    starter.join(10)
    changer.join(20)
    assert waited and outcome == ["rollout_active"], connection.vendor
    assert _gate(channel) == "rollout"


@pytest.mark.django_db(transaction=True)
def test_a_rollout_starting_during_a_gate_change_waits_for_it():
    from releases.models import App

    app = App.objects.create(slug="race", name="Race")
    channel = publishing.create_channel(app, name="production")
    release = publish(app, "1.0.0")
    changed, go, done = threading.Event(), threading.Event(), threading.Event()
    outcome = []

    def change_gate():
        try:
            with transaction.atomic():
                publishing.set_release_gate(channel, "immediate")
                changed.set()
                go.wait(10)
        finally:
            connection.close()

    def start_rollout():
        try:
            rollout = rollouts.start(Channel.objects.get(pk=channel.pk), release)
            outcome.append(rollout.state)
        except Exception as exc:  # shown by the assertion below
            outcome.append(repr(exc))
        finally:
            done.set()
            connection.close()

    changer = threading.Thread(target=change_gate)
    changer.start()
    assert changed.wait(10)
    starter = threading.Thread(target=start_rollout)
    starter.start()
    time.sleep(0.5)  # real threads: the start must still be waiting for the change's commit
    waited = not done.is_set()
    go.set()
    changer.join(10)
    starter.join(20)
    assert waited and outcome == ["running"], connection.vendor
    assert _gate(channel) == "immediate"


# --- the page ----------------------------------------------------------------------------------


def test_the_page_says_which_version_non_testers_get_next(client, login, bob, channel, new):
    login(bob)
    page = client.get(GATE_URL).content.decode()
    assert 'data-testid="gate-next">1.1.0<' in page and "instead of 1.0.0 today" in page
    assert "Type <code>production</code> to confirm" in page


def test_opening_without_the_typed_confirmation_changes_nothing(client, login, bob, channel, new):
    login(bob)
    response = client.post(GATE_URL, {"release_gate": "immediate", "confirm": "prod"})
    assert response.status_code == 400 and "Type production to confirm" in response.text
    assert _gate(channel) == "rollout"


def test_opening_with_the_typed_confirmation_changes_the_gate(client, login, bob, channel, new):
    login(bob)
    response = client.post(
        GATE_URL, {"release_gate": "immediate", "confirm": "production", "reason": "hotfixes"}
    )
    assert response.status_code == 302 and response.url == "/releases/shop/"
    assert _gate(channel) == "immediate" and _changes().get().actor_label.startswith("bob")


def test_closing_needs_no_confirmation(client, login, alice, immediate):
    login(alice)
    assert client.post(GATE_URL, {"release_gate": "rollout"}).status_code == 302
    assert _gate(immediate) == "rollout"


def test_closing_names_the_releases_held_back(client, login, bob, immediate):
    login(bob)
    page = client.get(GATE_URL).content.decode()
    assert "go back to testers only: <strong>1.1.0, 1.0.0</strong>" in page


def test_a_bad_gate_re_renders_with_an_error(client, login, bob, channel):
    login(bob)
    response = client.post(GATE_URL, {"release_gate": "sometimes"})
    assert response.status_code == 400 and _gate(channel) == "rollout"


def test_during_a_rollout_the_page_refuses_with_409(client, login, bob, channel, new):
    rollout = rollouts.start(channel, new)
    login(bob)
    assert 'data-testid="gate-blocked"' in client.get(GATE_URL).content.decode()
    response = client.post(GATE_URL, {"release_gate": "immediate", "confirm": "production"})
    assert response.status_code == 409 and f"rollout #{rollout.pk}" in response.text
    assert _gate(channel) == "rollout"


@pytest.mark.parametrize("persona", ["dave", "carol"])
def test_other_roles_cannot_change_the_gate(client, login, request, channel, persona):
    login(request.getfixturevalue(persona))
    response = client.post(GATE_URL, {"release_gate": "immediate", "confirm": "production"})
    assert response.status_code == 403 and _gate(channel) == "rollout"


def test_the_app_page_links_publishers_to_the_gate(client, login, bob, dave, channel):
    login(bob)
    assert GATE_URL in client.get("/releases/shop/").content.decode()
    login(dave)
    assert GATE_URL not in client.get("/releases/shop/").content.decode()


# --- the API -----------------------------------------------------------------------------------


def _patch(client, user, data):
    _, raw = create_token(user, "ci")
    return client.patch(
        API_URL, data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )


def test_a_pipeline_opens_the_gate(client, bob, channel, new):
    response = _patch(client, bob, {"release_gate": "immediate", "reason": "hotfix channel"})
    assert (response.status_code, response.json()["release_gate"]) == (200, "immediate")
    assert resolve(channel, "someone")["version"] == "1.1.0"


def test_the_api_change_is_audited_as_the_tokens_owner(client, bob, channel):
    _patch(client, bob, {"release_gate": "immediate"})
    assert "token" in _changes().get().actor_label


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"release_gate": "sometimes"}, "invalid_gate"),
        ({"release_gate": 1}, "invalid_gate"),
        ({}, "invalid_field"),
        ({"release_gate": "immediate", "upload_policy": "supersede"}, "invalid_field"),
        ({"release_gate": "immediate", "reason": ["x"]}, "invalid_field"),
    ],
)
def test_bad_input_is_a_400_changing_nothing(client, bob, channel, data, code):
    response = _patch(client, bob, data)
    assert (response.status_code, response.json()["error"]) == (400, code)
    assert _gate(channel) == "rollout"


def test_during_a_rollout_the_api_answers_409_naming_it(client, bob, channel, new):
    rollout = rollouts.start(channel, new)
    response = _patch(client, bob, {"release_gate": "immediate"})
    body = response.json()
    assert (response.status_code, body["error"]) == (409, "rollout_active")
    assert f"rollout #{rollout.pk}" in body["detail"] and _gate(channel) == "rollout"


def test_an_unknown_channel_is_a_404(client, bob, app):
    assert _patch(client, bob, {"release_gate": "immediate"}).status_code == 404


@pytest.mark.parametrize("persona", ["dave", "carol"])
def test_other_roles_get_a_403(client, request, channel, persona):
    response = _patch(client, request.getfixturevalue(persona), {"release_gate": "immediate"})
    assert response.status_code == 403 and _gate(channel) == "rollout"


def test_without_a_token_it_is_a_401(client, channel):
    response = client.patch(API_URL, {"release_gate": "immediate"}, content_type="application/json")
    assert response.status_code == 401


def test_the_document_offers_the_models_gates():
    body = DOCUMENT["paths"]["/apps/{slug}/channels/{name}"]["patch"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["properties"]["release_gate"]["enum"] == Channel.ReleaseGate.values
    assert schema["required"] == ["release_gate"]
