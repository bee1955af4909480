"""Real `manage.py qcluster` and `manage.py controller` processes against the test database."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler

import pytest
from django.conf import settings

from maintenance import runs
from maintenance.models import Run, RunState
from tests.maintenance.conftest import QuietServer, health_job
from tests.processes import env_for_test_database

pytestmark = pytest.mark.django_db(transaction=True)


def _start(*args):
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env_for_test_database(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.fixture
def cluster():
    """A worker cluster and a controller; stopped (whole process group) afterwards."""
    procs = [_start("qcluster"), _start("controller", "--interval", "0.5")]
    yield procs
    for proc in procs:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    states = list(Run.objects.values_list("pk", "attempt", "state", "reason"))
    raise AssertionError(f"timed out waiting for {what}; runs: {states}")


class _FlakyHandler(BaseHTTPRequestHandler):
    """/hang hangs for 60 s on the first request only, answers 200 at once afterwards."""

    calls = 0
    hanging = threading.Event()

    def do_GET(self):
        type(self).calls += 1
        if self.path == "/hang" and type(self).calls == 1:
            type(self).hanging.set()
            time.sleep(60)
        if self.path.startswith("/slow/"):
            time.sleep(float(self.path.rsplit("/", 1)[1]))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_server():
    _FlakyHandler.calls = 0
    _FlakyHandler.hanging = threading.Event()
    server = QuietServer(("127.0.0.1", 0), _FlakyHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_overrun_is_timed_out_within_seconds_of_its_deadline_and_not_run_again(
    cluster, alice, flaky_server
):
    job = health_job("overrun", f"{flaky_server}/slow/6", max_duration=timedelta(seconds=2))
    run = runs.run_now(job, alice)
    done = _wait_for(
        lambda: Run.objects.filter(pk=run.pk, state=RunState.TIMED_OUT).first(), 60, "timeout"
    )
    assert (done.finished_at - done.deadline).total_seconds() < 5
    time.sleep(6)  # the body finishes in the worker; its outcome must not land
    done.refresh_from_db()
    assert (done.state, done.fencing_token, _FlakyHandler.calls) == (RunState.TIMED_OUT, 1, 1)


def test_a_killed_workers_run_is_lost_and_retried_once(cluster, alice, flaky_server):
    job = health_job(
        "fragile", f"{flaky_server}/hang", retry_attempts=1, retry_backoff=timedelta(seconds=1)
    )
    run = runs.run_now(job, alice)
    running = _wait_for(
        lambda: Run.objects.filter(pk=run.pk, state=RunState.RUNNING).first(), 60, "claim"
    )
    # A run is RUNNING a moment before its body sends the request; killing the worker in
    # that moment would leave the hanging first answer to the retry.
    assert _FlakyHandler.hanging.wait(30), "the first attempt never reached the server"
    os.kill(int(running.worker.rsplit(":", 1)[1]), signal.SIGKILL)
    _wait_for(lambda: Run.objects.filter(pk=run.pk, state=RunState.LOST).exists(), 60, "lost")
    retry = _wait_for(
        lambda: Run.objects.filter(retry_of=run.pk, state=RunState.SUCCEEDED).first(),
        60,
        "the retry to succeed",
    )
    assert retry.attempt == 2
    assert Run.objects.filter(job=job).count() == 2
