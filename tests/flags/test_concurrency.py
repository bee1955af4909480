"""Two people at once: the compare-and-set lets exactly one win. On PostgreSQL the two
approvals really race in two threads (row lock + conditional UPDATE); SQLite serialises writers
for the whole database, so there the same two decisions run one after the other from copies read
before either wrote (what a race leaves each writer holding)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from flags import ramp
from flags.models import Flag, FlagEvent, FlagState
from tests.flags.conftest import make_flag

pytestmark = pytest.mark.django_db(transaction=True)


def _awaiting(channel, bob) -> Flag:
    now = timezone.now() - timedelta(minutes=5)
    flag = make_flag(
        channel,
        phases=[{"percent": 10, "hold_seconds": 60}, {"percent": 50, "requires_approval": True}],
    )
    ramp.start(flag, user=bob, now=now)
    flag = ramp.fresh(flag)
    assert ramp.advance(flag, now=now, reason="test")
    assert flag.state == FlagState.AWAITING_APPROVAL
    return flag


def _decide(flag, user, results):
    try:
        ramp.decide(flag.pk, user, decision="approve", phase=0, row_version=flag.row_version)
        results.append("ok")
    except ramp.FlagError as exc:
        results.append(exc.code)
    finally:
        connections.close_all()


def test_two_simultaneous_approvals_advance_one_phase(channel, bob, becky, alice):
    flag = _awaiting(channel, bob)
    results: list[str] = []
    if connection.vendor == "postgresql":
        barrier = threading.Barrier(2)

        def run(user):
            barrier.wait()
            _decide(flag, user, results)

        threads = [threading.Thread(target=run, args=(u,)) for u in (becky, alice)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    else:
        for user in (becky, alice):
            _decide(flag, user, results)
    assert sorted(results) == ["ok", "stale"]
    fresh = Flag.objects.get(pk=flag.pk)
    assert (fresh.state, fresh.phase, fresh.percent) == (FlagState.RUNNING, 1, 50.0)
    assert FlagEvent.objects.filter(flag=fresh, action="approved").count() == 1


def test_two_simultaneous_kills_write_one_transition(channel):
    flag = make_flag(channel)
    copies = [Flag.objects.get(pk=flag.pk), Flag.objects.get(pk=flag.pk)]
    results: list[object] = []

    def kill(copy):
        try:
            results.append(ramp.kill(copy, reason="race"))
        finally:
            connections.close_all()

    if connection.vendor == "postgresql":
        threads = [threading.Thread(target=kill, args=(c,)) for c in copies]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    else:
        for copy in copies:
            kill(copy)
    assert sorted(results) == [False, True]
    assert FlagEvent.objects.filter(flag=flag, action="killed").count() == 1
