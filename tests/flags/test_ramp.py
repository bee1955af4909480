"""The ramp: controller tick, analysis on real telemetry, the automatic kill, approvals bound to
(flag, phase, row_version), compare-and-set, and the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from console import controller
from flags import ramp
from flags.models import Flag, FlagEvent, FlagMeasurement, FlagState
from notifications.models import Notification
from releases import generation
from tests.flags.conftest import make_flag
from tests.releases.rollout_support import resolve, sessions

T0 = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=30)
CRASH_ABS = [{"metric": "crash_rate", "threshold": 1.0, "relative": False, "min_samples": 50}]
CRASH_REL = [
    {
        "metric": "crash_rate",
        "threshold": 1.0,
        "relative": True,
        "min_samples": 100,
        "interval_seconds": 60,
        "window_seconds": 120,
    }
]


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


def hook():
    return next(h for h in controller.hooks() if h.name == "flags.ramp").func


def started(channel, user, **options):
    flag = make_flag(channel, **options)
    ramp.start(flag, user=user, now=T0)
    return ramp.fresh(flag)


def test_the_controller_advances_a_healthy_phase_when_its_hold_is_over(client, channel, bob):
    flag = started(channel, bob, phases=[{"percent": 10, "hold_seconds": 300}, {"percent": 100}])
    sessions(client, channel, "1.1.0", at=at(1), installs=20, launches=10)
    tick = hook()
    tick(at(2))
    flag.refresh_from_db()
    assert (flag.state, flag.percent) == (FlagState.RUNNING, 10.0)  # hold not over yet
    assert FlagMeasurement.objects.filter(flag=flag, kind="guardrail").count() == 1
    tick(at(5.5))
    flag.refresh_from_db()
    assert (flag.state, flag.percent) == (FlagState.COMPLETED, 100.0)
    assert FlagMeasurement.objects.get(flag=flag, kind="verdict").outcome == "successful"
    assert resolve(channel, "anyone", current="1.1.0")["flags"] == {"new-checkout": "on"}


def test_two_controllers_never_analyse_the_same_flag_at_once(channel, bob):
    flag = started(channel, bob)
    Flag._base_manager.filter(pk=flag.pk).update(claimed_until=at(3))  # another controller
    assert ramp.tick(at(1)) == []
    Flag._base_manager.filter(pk=flag.pk).update(claimed_until=None)
    assert ramp.tick(at(1)) == [flag.pk]
    assert ramp.tick(at(1.1)) == []  # its next look is a minute later
    assert Flag.objects.get(pk=flag.pk).claimed_until is None  # released after the look


def test_a_guardrail_breach_kills_the_flag_with_a_reason(client, channel, bob):
    flag = started(channel, bob, testers={"tester-1": "on"})
    sessions(client, channel, "1.1.0", at=at(1), installs=20, launches=10, crashes_every=2)
    assert ramp.analyse(flag.pk, now=at(2)) == "killed"
    flag.refresh_from_db()
    assert flag.killed and flag.state == FlagState.PAUSED
    assert flag.killed_reason.startswith("automatic kill: crash_rate failed")
    assert FlagEvent.objects.filter(flag=flag, action="killed_automatically").count() == 1
    assert Notification.objects.filter(event=ramp.EVENT_KILLED).exists()
    # Off for everyone on the next answer, testers included.
    assert resolve(channel, "tester-1", current="1.1.0")["flags"] == {}
    assert ramp.analyse(flag.pk, now=at(3)) == "idle"  # a killed flag is not analysed


def test_a_relative_metric_compares_with_the_hour_before_the_ramp(client, channel, bob):
    # Before the ramp 1.1.0 ran dark and healthy; during it, crashes jump by far over 1 pp.
    sessions(client, channel, "1.1.0", at=at(-20), installs=20, launches=10, prefix="b")
    flag = started(channel, bob, metrics=CRASH_REL)
    sessions(client, channel, "1.1.0", at=at(1), installs=20, launches=10, crashes_every=5)
    assert ramp.analyse(flag.pk, now=at(2)) == "killed"
    m = FlagMeasurement.objects.get(flag=flag)
    assert (m.baseline, m.baseline_samples, m.samples) == (0.0, 200, 200)
    assert "vs stable" in m.detail


def test_without_data_the_hold_is_extended_then_the_ramp_pauses(channel, bob):
    flag = started(channel, bob, phases=[{"percent": 10, "hold_seconds": 60}, {"percent": 100}])
    assert ramp.analyse(flag.pk, now=at(1.5)) == "extended"
    flag.refresh_from_db()
    assert flag.hold_extension == 60 and flag.state == FlagState.RUNNING
    outcome = ""
    for minute in range(3, 30):
        outcome = ramp.analyse(flag.pk, now=at(minute))
        if outcome == "paused":
            break
    flag.refresh_from_db()
    assert outcome == "paused" and flag.state == FlagState.PAUSED and not flag.killed
    assert "no data by max hold" in flag.reason
    assert Notification.objects.filter(event=ramp.EVENT_PAUSED).count() == 1


@pytest.fixture
def waiting(client, channel, bob):
    flag = started(
        channel,
        bob,
        phases=[
            {"percent": 10, "hold_seconds": 60},
            {"percent": 50, "hold_seconds": 60, "requires_approval": True},
            {"percent": 100},
        ],
    )
    sessions(client, channel, "1.1.0", at=at(0.5), installs=20, launches=10)
    assert ramp.analyse(flag.pk, now=at(2)) == "awaiting"
    flag.refresh_from_db()
    assert (flag.state, flag.percent) == (FlagState.AWAITING_APPROVAL, 10.0)
    assert Notification.objects.filter(event=ramp.EVENT_AWAITING).count() == 1
    return flag


def test_the_ramp_starter_cannot_approve(waiting, bob):
    with pytest.raises(ramp.FlagError) as exc:
        ramp.decide(waiting.pk, bob, decision="approve", phase=0, row_version=waiting.row_version)
    assert (exc.value.status, exc.value.code) == (403, "self_approval")
    assert Flag.objects.get(pk=waiting.pk).state == FlagState.AWAITING_APPROVAL


def test_an_approval_bound_to_an_old_row_version_is_stale(waiting, becky):
    with pytest.raises(ramp.FlagError) as exc:
        ramp.decide(waiting.pk, becky, decision="approve", phase=0, row_version=1)
    assert (exc.value.status, exc.value.code) == (409, "stale")


def test_a_double_click_advances_one_phase(login, waiting, becky, alice):
    binding = {"decision": "approve", "phase": 0, "row_version": waiting.row_version}
    c = login(becky)
    assert c.post(f"/flags/{waiting.pk}/decide/", binding).status_code == 302
    assert c.post(f"/flags/{waiting.pk}/decide/", binding).status_code == 409
    # Another approver with the same (now stale) form: refused too.
    assert login(alice).post(f"/flags/{waiting.pk}/decide/", binding).status_code == 409
    flag = Flag.objects.get(pk=waiting.pk)
    assert (flag.state, flag.phase, flag.percent) == (FlagState.RUNNING, 1, 50.0)
    assert FlagEvent.objects.filter(flag=flag, action="approved").count() == 1


def test_the_starter_gets_403_through_the_page(login, waiting, bob):
    binding = {"decision": "approve", "phase": 0, "row_version": waiting.row_version}
    response = login(bob).post(f"/flags/{waiting.pk}/decide/", binding)
    assert response.status_code == 403
    assert "cannot approve" in response.content.decode()


def test_a_rejection_kills_the_flag(waiting, becky):
    ramp.decide(
        waiting.pk,
        becky,
        decision="reject",
        phase=0,
        row_version=waiting.row_version,
        reason="support tickets",
    )
    flag = Flag.objects.get(pk=waiting.pk)
    assert flag.killed and "rejected by becky" in flag.killed_reason


def test_pause_stops_the_clock_and_a_killed_flag_cannot_resume(channel, bob):
    flag = started(channel, bob, phases=[{"percent": 10, "hold_seconds": 600}, {"percent": 100}])
    ramp.pause(flag, reason="looking", now=at(2))
    assert flag.held_seconds(at(20)) == pytest.approx(120)
    ramp.kill(flag, reason="bad")
    with pytest.raises(ramp.FlagError) as exc:
        ramp.resume(flag, now=at(21))
    assert exc.value.code == "killed"
    ramp.unkill(flag)
    assert ramp.resume(flag, now=at(21))
    assert flag.state == FlagState.RUNNING and flag.held_seconds(at(22)) == pytest.approx(180)


def test_cas_a_writer_holding_an_old_copy_writes_nothing(channel, bob):
    flag = started(channel, bob)
    old = Flag.objects.get(pk=flag.pk)
    assert ramp.pause(flag, reason="first", now=at(1))
    assert ramp.kill(old, reason="stale copy") is False
    assert not Flag.objects.get(pk=flag.pk).killed


def test_edits_are_compare_and_set_and_phases_are_fixed_while_ramping(channel, bob):
    flag = started(channel, bob)
    with pytest.raises(ramp.FlagError) as exc:
        ramp.edit(flag, row_version=flag.row_version - 1, description="x")
    assert exc.value.code == "stale"
    with pytest.raises(ramp.FlagError) as exc:
        ramp.edit(flag, row_version=flag.row_version, phases=[{"percent": 50}])
    assert exc.value.code == "ramp_active"


def test_every_change_is_audited_and_bumps_the_generation(channel, bob):
    before = generation.current(now=0.0)
    flag = make_flag(channel, user=bob)
    first = generation.current(now=10.0**9)
    assert first != before
    ramp.kill(flag, reason="r")
    assert generation.current(now=2 * 10.0**9) != first
    actions = set(
        AuditEvent.objects.filter(object_id=str(flag.pk), object_type="flags.flag").values_list(
            "action", flat=True
        )
    )
    assert {"flag.created", "flag.killed"} <= actions
