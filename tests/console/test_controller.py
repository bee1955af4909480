import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from console import controller
from console.models import Heartbeat, WorkerProbe
from tests.processes import env_for_test_database

ROOT = Path(settings.BASE_DIR)


def test_a_tick_records_the_controllers_heartbeat(db):
    controller.tick(force=True)
    assert Heartbeat.objects.filter(kind="controller").exists()


def test_a_broken_hook_does_not_stop_the_others(db):
    calls = []
    controller.register("test.broken", lambda now: 1 / 0)
    controller.register("test.fine", lambda now: calls.append(now))
    try:
        outcomes = controller.tick(force=True)
    finally:
        controller._hooks.pop("test.broken")
        controller._hooks.pop("test.fine")
    assert outcomes["test.broken"].startswith("error")
    assert len(calls) == 1


@pytest.mark.django_db(transaction=True)
def test_the_command_runs_a_bounded_number_of_ticks(capsys):
    call_command("controller", "--ticks", "2", "--interval", "0")
    assert "stopped after 2 ticks" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_a_real_controller_and_worker_prove_they_are_alive():
    """Start the real processes against the test database and watch the heartbeats arrive."""
    env = env_for_test_database()
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "controller"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if Heartbeat.objects.filter(kind="worker").exists():
                break
            time.sleep(0.5)
        assert Heartbeat.objects.filter(kind="controller").exists()
        assert Heartbeat.objects.filter(kind="worker").exists()
        probe = WorkerProbe.objects.get(pk=1)
        assert probe.answered_at is not None
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
