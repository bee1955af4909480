"""The blue-green switch and flip back in the CI API: the page's functions, permissions and
refusals, with JSON answers (real HTTP probes against a loopback backend)."""

from __future__ import annotations

import http.server
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tokens import create_token
from releases import bluegreen, rollouts
from releases.models import Rollout, RolloutEvent, SwitchCheck
from releases.openapi import DOCUMENT
from tests.releases.conftest import publish
from tests.releases.rollout_support import resolve, rolled_out
from tests.releases.test_blue_green import _Backend

START = "/api/v1/apps/shop/channels/production/rollouts"


@pytest.fixture
def backend():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _caller(client, user):
    _, raw = create_token(user, "ci")

    def _call(method, path, data=None):
        if data is None:  # no body at all, as `curl -X POST` sends
            data = ""
        return getattr(client, method)(
            path, data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
        )

    return _call


@pytest.fixture
def call(client, bob):
    return _caller(client, bob)


@pytest.fixture
def staged(app, channel, bob):
    rolled_out(channel, publish(app, "1.0.0"), now=timezone.now() - timedelta(days=1))
    publish(app, "1.1.0")

    def _start(**options):
        return rollouts.start(
            channel,
            app.releases.get(version="1.1.0"),
            user=bob,
            strategy="blue_green",
            blue_green=options,
        )

    return _start


def _switch(pk):
    return f"/api/v1/rollouts/{pk}/switch"


def _flip(pk):
    return f"/api/v1/rollouts/{pk}/flip-back"


# --- switch ------------------------------------------------------------------------------------


def test_a_switch_with_passing_probes_moves_all_traffic(call, channel, staged, backend):
    rollout = staged(probes=[f"{backend}/ok"])
    response = call("post", _switch(rollout.pk))
    body = response.json()
    assert response.status_code == 200
    assert (body["phase"], body["percent"], body["blue_green"]["live"]) == (1, 100.0, "green")
    assert resolve(channel, "anyone")["version"] == "1.1.0"


def test_a_switch_accepts_an_empty_json_object(call, staged):
    rollout = staged()
    assert call("post", _switch(rollout.pk), {}).status_code == 200


def test_a_failed_probe_is_a_409_naming_it_and_nothing_switches(call, channel, staged, backend):
    rollout = staged(probes=[f"{backend}/down"])
    response = call("post", _switch(rollout.pk))
    body = response.json()
    assert (response.status_code, body["error"]) == (409, "check_failed")
    assert f"{backend}/down: HTTP 503" in body["detail"]
    assert body["check"]["probes"][0]["status"] == 503
    assert body["rollout"]["step"] == "check_failed"
    assert resolve(channel, "anyone")["version"] is None  # still blue for everyone


def test_the_failed_check_is_stored_like_the_pages(call, staged, backend):
    rollout = staged(probes=[f"{backend}/down"])
    call("post", _switch(rollout.pk))
    check = SwitchCheck.objects.get(rollout=rollout)
    assert (check.passed, check.requested_by.get_username()) == (False, "bob")


def test_a_switch_that_needs_approval_answers_202_and_waits(call, staged):
    rollout = staged(requires_approval=True)
    response = call("post", _switch(rollout.pk))
    assert (response.status_code, response.json()["state"]) == (202, "awaiting_approval")
    assert not SwitchCheck.objects.filter(rollout=rollout).exists()


def test_asking_again_while_awaiting_approval_is_a_409(call, staged):
    rollout = staged(requires_approval=True)
    call("post", _switch(rollout.pk))
    response = call("post", _switch(rollout.pk))
    assert (response.status_code, response.json()["error"]) == (409, "awaiting_approval")


def test_switching_twice_is_a_409_not_staged(call, staged):
    rollout = staged()
    call("post", _switch(rollout.pk))
    response = call("post", _switch(rollout.pk))
    assert (response.status_code, response.json()["error"]) == (409, "not_staged")
    assert "already switched" in response.json()["detail"]


def test_a_switch_while_checks_run_is_a_409(call, staged):
    rollout = staged()
    Rollout._base_manager.filter(pk=rollout.pk).update(step="checking")
    SwitchCheck.objects.create(rollout=rollout, started_at=timezone.now())
    response = call("post", _switch(rollout.pk))
    assert (response.status_code, response.json()["error"]) == (409, "check_running")


def test_a_canary_has_no_switch(call, app, channel):
    rollout = rollouts.start(channel, publish(app, "1.0.0"))
    response = call("post", _switch(rollout.pk))
    assert (response.status_code, response.json()["error"]) == (400, "not_blue_green")


def test_an_aborted_rollout_does_not_switch(call, staged):
    rollout = staged()
    rollouts.abort(rollout, reason="no")
    response = call("post", _switch(rollout.pk))
    assert (response.status_code, response.json()["error"]) == (409, "not_staged")


def test_a_switch_with_a_body_field_is_a_400(call, staged):
    rollout = staged()
    response = call("post", _switch(rollout.pk), {"force": True})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_field")
    assert Rollout.objects.get(pk=rollout.pk).step == "staged"


def test_a_viewer_token_cannot_switch(client, dave, staged):
    rollout = staged()
    response = _caller(client, dave)("post", _switch(rollout.pk))
    assert response.status_code == 403
    assert Rollout.objects.get(pk=rollout.pk).phase == 0


def test_an_operator_token_cannot_flip_back(client, carol, call, staged):
    rollout = staged()
    call("post", _switch(rollout.pk))
    response = _caller(client, carol)("post", _flip(rollout.pk), {"reason": "x"})
    assert response.status_code == 403


def test_without_a_token_it_is_a_401(client, staged):
    rollout = staged()
    assert client.post(_switch(rollout.pk)).status_code == 401


def test_an_unknown_rollout_is_a_404(call, db):
    assert call("post", _switch(999)).status_code == 404
    assert call("post", _flip(999), {"reason": "x"}).status_code == 404


def test_the_switch_is_audited_as_the_tokens_owner(call, staged):
    rollout = staged()
    call("post", _switch(rollout.pk))
    event = RolloutEvent.objects.filter(rollout=rollout, action="switched").get()
    assert event.actor_label.startswith("bob")


# --- flip back ---------------------------------------------------------------------------------


def test_a_flip_back_in_the_window_sends_everyone_to_blue(call, channel, staged):
    rollout = staged()
    call("post", _switch(rollout.pk))
    response = call("post", _flip(rollout.pk), {"reason": "checkout errors"})
    body = response.json()
    assert (response.status_code, body["state"], body["blue_green"]["live"]) == (
        200,
        "aborted",
        "blue",
    )
    assert body["events"][0]["action"] == "flipped_back"
    assert resolve(channel, "anyone", current="1.1.0")["reason"] == "ROLLED_BACK"


def test_a_flip_back_after_completion_rolls_back(call, staged):
    rollout = staged()
    call("post", _switch(rollout.pk))
    rollout = Rollout.objects.get(pk=rollout.pk)
    rollouts.promote_now(rollout, reason="tests: complete")
    response = call("post", _flip(rollout.pk), {"reason": "late reports"})
    assert (response.status_code, response.json()["state"]) == (200, "rolled_back")


@pytest.mark.parametrize("data", [None, {}, {"reason": ""}, {"reason": "  "}, {"reason": 3}])
def test_a_flip_back_without_a_reason_is_a_400(call, staged, data):
    rollout = staged()
    call("post", _switch(rollout.pk))
    response = call("post", _flip(rollout.pk), data)
    assert (response.status_code, response.json()["error"]) == (400, "reason_required")
    assert Rollout.objects.get(pk=rollout.pk).state == "running"


def test_a_flip_back_with_an_unknown_field_is_a_400(call, staged):
    rollout = staged()
    call("post", _switch(rollout.pk))
    response = call("post", _flip(rollout.pk), {"reason": "x", "to": "1.0.0"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_field")


def test_a_staged_rollout_is_not_flipped_back(call, staged):
    rollout = staged()
    response = call("post", _flip(rollout.pk), {"reason": "x"})
    assert (response.status_code, response.json()["error"]) == (409, "not_switched")


def test_no_flip_back_after_the_restore_period(call, staged):
    rollout = staged(restore_seconds=0)
    call("post", _switch(rollout.pk))
    rollouts.promote_now(Rollout.objects.get(pk=rollout.pk), reason="tests: complete")
    response = call("post", _flip(rollout.pk), {"reason": "x"})
    assert (response.status_code, response.json()["error"]) == (409, "restore_expired")


def test_flipping_back_twice_is_a_409(call, staged):
    rollout = staged()
    call("post", _switch(rollout.pk))
    call("post", _flip(rollout.pk), {"reason": "once"})
    response = call("post", _flip(rollout.pk), {"reason": "twice"})
    assert (response.status_code, response.json()["error"]) == (409, "not_live")


def test_a_canary_is_not_flipped_back(call, app, channel):
    rollout = rollouts.start(channel, publish(app, "1.0.0"))
    response = call("post", _flip(rollout.pk), {"reason": "x"})
    assert (response.status_code, response.json()["error"]) == (400, "not_blue_green")


def test_the_flip_back_uses_the_pages_refusal_rules(call, staged):
    rollout = staged()
    call("post", _switch(rollout.pk))
    rollout = Rollout.objects.get(pk=rollout.pk)
    body = call("get", f"/api/v1/rollouts/{rollout.pk}").json()
    refusal = bluegreen.flip_back_refusal(rollout, timezone.now())
    assert body["blue_green"]["can_flip_back"] is (refusal is None) is True


def test_the_document_lists_both_actions_with_their_statuses():
    switch = DOCUMENT["paths"]["/rollouts/{pk}/switch"]["post"]["responses"]
    flip = DOCUMENT["paths"]["/rollouts/{pk}/flip-back"]["post"]
    assert {"200", "202", "400", "401", "403", "404", "409"} <= set(switch)
    assert flip["requestBody"]["content"]["application/json"]["schema"]["required"] == ["reason"]
