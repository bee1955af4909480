"""Blue-green: the idle slot for testers, health-checked switch (real HTTP probes on loopback
servers, the stored bundle re-hashed), one transition for all traffic, flip back."""

from __future__ import annotations

import http.server
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from releases import bluegreen, bundles, publishing, rollouts
from releases.models import Rollout, RolloutEvent, SwitchCheck, SwitchProbe
from tests.conftest import make_user
from tests.releases.conftest import publish
from tests.releases.rollout_support import resolve, rolled_out

NOW = timezone.now().replace(microsecond=0)
TESTER = "tester-install"


class _Backend(http.server.BaseHTTPRequestHandler):
    """The mini program's backend as the probes see it: /ok, /down (503), /moved (302),
    /slow (answers after 1 s)."""

    def do_GET(self):
        if self.path == "/slow":
            time.sleep(1.0)
        status = {"/ok": 200, "/down": 503, "/moved": 302, "/slow": 200}.get(self.path, 404)
        body = b"fine" if status == 200 else b"nope"
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/ok")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def backend():
    """A real HTTP server on a loopback port; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def stable(app, channel):
    """1.0.0, fully rolled out: the blue slot."""
    return rolled_out(channel, publish(app, "1.0.0"), now=NOW - timedelta(days=1))


@pytest.fixture
def candidate(app, channel, stable):
    publishing.set_testers(channel, [TESTER])
    channel.refresh_from_db()
    return publish(app, "1.1.0")


def start(channel, release, user=None, **options):
    return rollouts.start(
        channel, release, user=user, strategy="blue_green", blue_green=options, now=NOW
    )


def fresh(rollout) -> Rollout:
    return Rollout.objects.get(pk=rollout.pk)


# --- starting and the idle slot ----------------------------------------------------------------


def test_it_starts_staged_with_two_fixed_phases(channel, candidate, bob):
    rollout = start(channel, candidate, bob, window_seconds=600)
    assert (rollout.state, rollout.step, rollout.percent) == ("running", "staged", 0.0)
    assert [(p["percent"], p["hold_seconds"]) for p in rollout.phases] == [(0, 0), (100, 600)]


def test_the_seed_window_is_five_minutes(channel, candidate):
    assert bluegreen.window_seconds(start(channel, candidate)) == 300


def test_before_the_switch_only_testers_get_the_new_release(channel, candidate):
    start(channel, candidate)
    assert resolve(channel, TESTER)["version"] == "1.1.0"
    assert resolve(channel, "someone-else", current="0.9.0")["version"] == "1.0.0"


def test_a_non_tester_on_the_old_release_is_told_it_is_for_testers(channel, candidate):
    start(channel, candidate)
    answer = resolve(channel, "someone-else")
    assert (answer["version"], answer["reason"]) == (None, "TESTERS_ONLY")


def test_it_needs_a_blue_slot(app, channel):
    first = publish(app, "1.0.0")
    with pytest.raises(rollouts.RolloutError) as refused:
        start(channel, first)
    assert refused.value.code == "no_blue_slot"


@pytest.mark.parametrize(
    "options",
    [
        {"probes": ["ftp://backend/health"]},
        {"probes": "http://one"},
        {"probes": ["http://a/x", "http://a/x"]},
        {"window_seconds": 5},
        {"probe_timeout": 0},
        {"restore_seconds": -1},
        {"colour": "green"},
    ],
)
def test_bad_options_are_refused_and_nothing_starts(channel, candidate, options):
    with pytest.raises(rollouts.RolloutError) as refused:
        start(channel, candidate, **options)
    assert refused.value.status == 400
    assert not Rollout.objects.filter(release=candidate).exists()


def test_a_canary_refuses_blue_green_options(channel, candidate):
    with pytest.raises(rollouts.RolloutError) as refused:
        rollouts.start(channel, candidate, blue_green={"window_seconds": 300})
    assert refused.value.code == "invalid_field"


def test_the_controller_leaves_a_staged_rollout_alone(channel, candidate):
    rollout = start(channel, candidate)
    assert rollouts.tick(NOW + timedelta(hours=1)) == []
    assert rollouts.analyse(rollout.pk, now=NOW + timedelta(hours=1)) == "idle"
    assert fresh(rollout).phase == 0


def test_nothing_but_the_switch_leaves_the_idle_slot(channel, candidate):
    rollout = start(channel, candidate)
    with pytest.raises(rollouts.RolloutError) as refused:
        rollouts.advance(rollout, now=NOW, reason="sneak")
    assert refused.value.code == "switch_required" and fresh(rollout).phase == 0


# --- the health-checked switch -----------------------------------------------------------------


def test_passing_checks_switch_everyone_at_once(channel, candidate, backend, bob):
    rollout = start(channel, candidate, bob, probes=[f"{backend}/ok"])
    assert bluegreen.request_switch(rollout, user=bob, now=NOW) == "switched"
    answers = {resolve(channel, f"client-{n}")["version"] for n in range(200)}
    assert answers == {"1.1.0"}
    assert resolve(channel, "")["version"] == "1.1.0"  # no install id: no cohort to miss


def test_the_switch_is_one_transition_to_the_window(channel, candidate, backend, bob):
    rollout = start(channel, candidate, bob, probes=[f"{backend}/ok"])
    bluegreen.request_switch(rollout, user=bob, now=NOW)
    switched = RolloutEvent.objects.get(rollout=rollout, action="switched")
    assert (switched.before["phase"], switched.after["phase"], switched.after["state"]) == (
        0,
        1,
        "running",
    )
    assert AuditEvent.objects.filter(action="rollout.switched", object_id=str(rollout.pk)).exists()


def test_probe_results_are_stored(channel, candidate, backend, bob):
    rollout = start(channel, candidate, bob, probes=[f"{backend}/ok", f"{backend}/down"])
    bluegreen.request_switch(rollout, user=bob, now=NOW)
    rows = {p.url.rsplit("/", 1)[1]: p for p in SwitchProbe.objects.all()}
    assert (rows["ok"].ok, rows["ok"].status, rows["ok"].error) == (True, 200, "")
    assert (rows["down"].ok, rows["down"].status) == (False, 503)
    assert rows["ok"].latency_ms is not None and rows["ok"].latency_ms >= 0


def test_a_failed_probe_blocks_the_switch_and_leaves_the_answer(channel, candidate, backend, bob):
    rollout = start(channel, candidate, bob, probes=[f"{backend}/ok", f"{backend}/down"])
    assert bluegreen.request_switch(rollout, user=bob, now=NOW) == "check_failed"
    rollout = fresh(rollout)
    assert (rollout.state, rollout.step, rollout.phase) == ("running", "check_failed", 0)
    answer = resolve(channel, "someone-else")
    assert (answer["version"], answer["reason"]) == (None, "TESTERS_ONLY")


def test_a_redirect_is_a_failed_probe(channel, candidate, backend):
    rollout = start(channel, candidate, probes=[f"{backend}/moved"])
    assert bluegreen.request_switch(rollout, now=NOW) == "check_failed"
    probe = SwitchProbe.objects.get()
    assert probe.status == 302 and "not followed" in probe.error


def test_a_slow_backend_fails_its_probe(channel, candidate, backend):
    rollout = start(channel, candidate, probes=[f"{backend}/slow"], probe_timeout=0.3)
    assert bluegreen.request_switch(rollout, now=NOW) == "check_failed"
    probe = SwitchProbe.objects.get()
    assert probe.ok is False and "0.3 s" in probe.error


def test_an_unreachable_backend_fails_its_probe(channel, candidate):
    with socket_closed() as port:
        rollout = start(channel, candidate, probes=[f"http://127.0.0.1:{port}/health"])
        assert bluegreen.request_switch(rollout, now=NOW) == "check_failed"
    probe = SwitchProbe.objects.get()
    assert (probe.ok, probe.status) == (False, None) and probe.error


class socket_closed:
    """A loopback port nothing listens on (bound, then closed)."""

    def __enter__(self):
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return self.port

    def __exit__(self, *exc):
        return False


def test_a_corrupted_bundle_on_disk_blocks_the_switch(channel, candidate, backend):
    path = bundles.bundle_path(candidate.bundle_sha256)
    path.chmod(0o644)
    path.write_bytes(b"PK\x03\x04 not the bytes that were published")
    rollout = start(channel, candidate, probes=[f"{backend}/ok"])
    assert bluegreen.request_switch(rollout, now=NOW) == "check_failed"
    check = SwitchCheck.objects.get()
    assert (check.passed, check.bundle_ok) == (False, False)
    assert resolve(channel, "someone-else")["version"] is None


def test_a_missing_bundle_blocks_the_switch(channel, candidate):
    bundles.bundle_path(candidate.bundle_sha256).unlink()
    rollout = start(channel, candidate)
    assert bluegreen.request_switch(rollout, now=NOW) == "check_failed"
    assert "missing" in SwitchCheck.objects.get().bundle_detail


def test_a_failed_check_is_retryable(channel, candidate, backend):
    rollout = start(channel, candidate, probes=[f"{backend}/down"])
    bluegreen.request_switch(rollout, now=NOW)
    # The backend is fixed (here: the probe points at a healthy path now).
    Rollout._base_manager.filter(pk=rollout.pk).update(probes=[f"{backend}/ok"])
    assert bluegreen.request_switch(fresh(rollout), now=NOW) == "switched"
    assert SwitchCheck.objects.filter(rollout=rollout).count() == 2


def test_a_switched_rollout_cannot_switch_again(channel, candidate):
    rollout = start(channel, candidate)
    bluegreen.request_switch(rollout, now=NOW)
    with pytest.raises(rollouts.RolloutError) as refused:
        bluegreen.request_switch(fresh(rollout), now=NOW)
    assert refused.value.code == "not_staged"


def test_a_canary_has_no_switch(channel, candidate):
    rollout = rollouts.start(channel, candidate, now=NOW)
    with pytest.raises(rollouts.RolloutError) as refused:
        bluegreen.request_switch(rollout, now=NOW)
    assert refused.value.code == "not_blue_green"


def _race_world():
    """Committed rows for the tests whose threads use their own connections."""
    from releases.models import App

    app = App.objects.create(slug="race", name="Race")
    channel = publishing.create_channel(app, name="production")
    rolled_out(channel, publish(app, "1.0.0"), now=NOW - timedelta(days=1))
    return channel, publish(app, "1.1.0")


@pytest.mark.django_db(transaction=True)
def test_an_abort_while_checking_wins_over_the_switch(backend):
    """The probe answers slowly; the rollout is aborted meanwhile; nothing switches."""
    channel, candidate = _race_world()
    rollout = start(channel, candidate, probes=[f"{backend}/slow"], probe_timeout=5)
    errors = []

    def switch():
        try:
            bluegreen.request_switch(Rollout.objects.get(pk=rollout.pk), now=NOW)
        except rollouts.RolloutError as exc:
            errors.append(exc.code)
        finally:
            connection.close()

    clicker = threading.Thread(target=switch)
    clicker.start()
    while fresh(rollout).step != "checking":
        time.sleep(0.02)
    rollouts.abort(fresh(rollout), reason="changed our mind", now=NOW)
    clicker.join()
    assert errors == ["stale"] and fresh(rollout).state == "aborted"


@pytest.mark.django_db(transaction=True)
def test_concurrent_switch_clicks_switch_once(backend):
    channel, candidate = _race_world()
    rollout = start(channel, candidate, make_user("race-rm"), probes=[f"{backend}/ok"])
    clicks = 8
    barrier = threading.Barrier(clicks)
    results = []

    def click():
        try:
            barrier.wait()
            results.append(bluegreen.request_switch(Rollout.objects.get(pk=rollout.pk), now=NOW))
        except rollouts.RolloutError as exc:
            results.append(exc.code)
        except Exception as exc:  # e.g. SQLite "database is locked": a refused click
            results.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(clicks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("switched") == 1
    assert RolloutEvent.objects.filter(rollout=rollout, action="switched").count() == 1
    assert SwitchCheck.objects.filter(rollout=rollout).count() == 1


def test_a_check_left_running_by_a_dead_process_is_abandoned_later(channel, candidate):
    rollout = start(channel, candidate)
    rollouts._move(rollout, "checking", {"step": "checking"})
    SwitchCheck.objects.create(rollout=rollout, started_at=NOW)
    with pytest.raises(rollouts.RolloutError) as refused:
        bluegreen.request_switch(fresh(rollout), now=NOW + timedelta(seconds=5))
    assert refused.value.code == "check_running"
    later = NOW + timedelta(seconds=bluegreen.stale_after(rollout) + 1)
    assert bluegreen.request_switch(fresh(rollout), now=later) == "switched"
    abandoned = SwitchCheck.objects.order_by("pk").first()
    assert abandoned.passed is None and "abandoned" in abandoned.summary


# --- approval ----------------------------------------------------------------------------------


def test_a_switch_that_needs_approval_waits_for_someone_else(channel, candidate, bob):
    rollout = start(channel, candidate, bob, requires_approval=True)
    assert bluegreen.request_switch(rollout, user=bob, now=NOW) == "awaiting_approval"
    assert resolve(channel, "someone-else")["version"] is None


def test_the_approval_runs_the_checks_and_switches(channel, candidate, bob, becky):
    rollout = start(channel, candidate, bob, requires_approval=True)
    bluegreen.request_switch(rollout, user=bob, now=NOW)
    binding = rollouts.approval_binding(fresh(rollout))
    rollouts.decide(rollout.pk, becky, decision="approve", now=NOW, **binding)
    assert (fresh(rollout).phase, resolve(channel, "someone-else")["version"]) == (1, "1.1.0")


def test_the_starter_cannot_approve_the_switch(channel, candidate, bob):
    rollout = start(channel, candidate, bob, requires_approval=True)
    bluegreen.request_switch(rollout, user=bob, now=NOW)
    binding = rollouts.approval_binding(fresh(rollout))
    with pytest.raises(rollouts.RolloutError) as refused:
        rollouts.decide(rollout.pk, bob, decision="approve", now=NOW, **binding)
    assert refused.value.code == "self_approval"


def test_a_retry_after_a_failed_check_keeps_the_approval(channel, candidate, backend, bob, becky):
    rollout = start(channel, candidate, bob, requires_approval=True, probes=[f"{backend}/down"])
    bluegreen.request_switch(rollout, user=bob, now=NOW)
    binding = rollouts.approval_binding(fresh(rollout))
    rollouts.decide(rollout.pk, becky, decision="approve", now=NOW, **binding)
    assert fresh(rollout).step == "check_failed"
    Rollout._base_manager.filter(pk=rollout.pk).update(probes=[f"{backend}/ok"])
    assert bluegreen.request_switch(fresh(rollout), user=bob, now=NOW) == "switched"


# --- flip back ---------------------------------------------------------------------------------


@pytest.fixture
def switched(channel, candidate, bob):
    rollout = start(channel, candidate, bob, restore_seconds=3600)
    bluegreen.request_switch(rollout, user=bob, now=NOW)
    return fresh(rollout)


def complete(rollout):
    rollouts.skip_analysis(rollout, reason="tests: no telemetry")
    rollouts.analyse(rollout.pk, now=NOW + timedelta(seconds=301))
    return fresh(rollout)


def test_a_quiet_window_ends_in_completion(switched):
    assert complete(switched).state == "completed"


def test_flipping_back_during_the_window_sends_everyone_to_blue(channel, switched):
    bluegreen.flip_back(switched, reason="checkout errors", now=NOW + timedelta(seconds=30))
    assert fresh(switched).state == "aborted"
    answer = resolve(channel, "anyone", current="1.1.0")
    assert (answer["version"], answer["reason"]) == ("1.0.0", "ROLLED_BACK")


def test_a_manual_flip_back_after_completion_restores_blue(channel, stable, switched):
    done = complete(switched)
    bluegreen.flip_back(done, reason="late bug report", now=NOW + timedelta(minutes=20))
    answer = resolve(channel, "anyone", current="1.1.0")
    assert (answer["sha256"], answer["reason"]) == (stable.bundle_sha256, "ROLLED_BACK")
    assert resolve(channel, "anyone-else")["version"] is None  # on 1.0.0: stays there


def test_a_flip_back_after_completion_is_one_audited_transition(switched):
    done = complete(switched)
    bluegreen.flip_back(done, reason="late bug report", now=NOW + timedelta(minutes=20))
    event = RolloutEvent.objects.filter(rollout=done).first()
    assert (event.action, event.before["state"], event.after["state"]) == (
        "flipped_back",
        "completed",
        "rolled_back",
    )
    assert AuditEvent.objects.filter(action="rollout.flipped_back", reason="late bug report")


def test_a_flip_back_makes_no_new_release(app, switched):
    done = complete(switched)
    count = app.releases.count()
    bluegreen.flip_back(done, reason="late bug report", now=NOW + timedelta(minutes=20))
    assert app.releases.count() == count and not done.release.is_disabled


def test_the_flip_back_ends_with_the_restore_period(switched):
    done = complete(switched)
    with pytest.raises(rollouts.RolloutError) as refused:
        bluegreen.flip_back(done, reason="too late", now=done.ended_at + timedelta(hours=2))
    assert refused.value.code == "restore_expired"


def test_a_flip_back_needs_a_reason(switched):
    with pytest.raises(rollouts.RolloutError) as refused:
        bluegreen.flip_back(switched, reason=" ")
    assert refused.value.code == "reason_required"


def test_a_staged_rollout_has_nothing_to_flip_back(channel, candidate):
    rollout = start(channel, candidate)
    with pytest.raises(rollouts.RolloutError) as refused:
        bluegreen.flip_back(rollout, reason="no")
    assert refused.value.code == "not_switched"


def test_no_flip_back_once_a_later_rollout_exists(app, channel, switched):
    done = complete(switched)
    rollouts.start(channel, publish(app, "1.2.0"), now=NOW)
    with pytest.raises(rollouts.RolloutError) as refused:
        bluegreen.flip_back(done, reason="late", now=NOW + timedelta(minutes=20))
    assert refused.value.code == "newer_rollout"


def test_no_flip_back_when_blue_was_disabled(channel, stable, switched):
    done = complete(switched)
    publishing.disable(stable, reason="broken too", now=NOW)
    with pytest.raises(rollouts.RolloutError) as refused:
        bluegreen.flip_back(done, reason="late", now=NOW + timedelta(minutes=20))
    assert refused.value.code == "no_blue_slot"


def test_the_slots_say_which_release_is_live(channel, candidate, switched):
    assert bluegreen.slots(switched, NOW)["live"] == "green"
    bluegreen.flip_back(switched, reason="errors", now=NOW)
    slots = bluegreen.slots(fresh(switched), NOW)
    assert (slots["live"], slots["blue"], slots["green"]) == ("blue", "1.0.0", "1.1.0")


def test_a_flipped_back_rollout_restarts_staged(switched):
    bluegreen.flip_back(switched, reason="errors", now=NOW)
    rollouts.restart(fresh(switched), now=NOW + timedelta(minutes=5))
    rollout = fresh(switched)
    assert (rollout.state, rollout.phase, rollout.step) == ("running", 0, "staged")


def test_a_staged_rollout_cannot_be_paused(channel, candidate):
    rollout = start(channel, candidate)
    with pytest.raises(rollouts.RolloutError) as refused:
        rollouts.pause(rollout, reason="hm")
    assert refused.value.code == "not_pausable"


def test_a_superseding_upload_starts_a_staged_blue_green(app, channel, candidate):
    from releases.models import Channel

    Channel.objects.filter(pk=channel.pk).update(upload_policy="supersede")
    old = start(channel, candidate, window_seconds=900)
    hotfix = publish(app, "1.1.1")
    successor = Rollout.objects.get(release=hotfix)
    assert (fresh(old).state, successor.strategy, successor.step) == (
        "superseded",
        "blue_green",
        "staged",
    )
    assert bluegreen.window_seconds(successor) == 900


def test_a_checking_step_without_an_open_check_can_be_switched_again(channel, candidate):
    rollout = start(channel, candidate)
    rollouts._move(rollout, "checking", {"step": "checking"})  # died before its check row
    assert bluegreen.request_switch(fresh(rollout), now=NOW) == "switched"
    actions = list(rollout.events.order_by("pk").values_list("action", flat=True))
    assert actions[-3:] == ["check_failed", "checking", "switched"]


def test_a_paused_window_keeps_green_live(channel, switched):
    rollouts.pause(switched, reason="looking at logs", now=NOW + timedelta(seconds=30))
    assert resolve(channel, "someone-else")["version"] == "1.1.0"
