"""The agent as its own process: bin/upkeep-agent started from the command line, real HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fleet.conftest import closed_port_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def agent_process(tmp_path):
    port = int(closed_port_url().rsplit(":", 1)[1].rstrip("/"))
    secret = "ag_process-secret"
    env = {**os.environ, "UPKEEP_AGENT_TOKEN_SHA256": hashlib.sha256(secret.encode()).hexdigest()}
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bin" / "upkeep-agent"),
            "--root",
            str(tmp_path / "srv"),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert "listening" in process.stderr.readline()
    yield f"http://127.0.0.1:{port}", secret, tmp_path / "srv"
    process.terminate()
    process.wait(timeout=10)


def get(url, secret=None):
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_command_serves_health_and_status(agent_process):
    url, secret, root = agent_process
    assert get(url + "/health") == (503, {"status": "empty", "version": "", "sha256": ""})
    status, body = get(url + "/status", secret)
    assert (status, body["current"]["sha256"], root.is_dir()) == (200, "", True)


def test_the_command_refuses_a_wrong_secret(agent_process):
    url, _, _ = agent_process
    assert get(url + "/status", "wrong")[0] == 401


def test_the_command_needs_the_token_hash(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "UPKEEP_AGENT_TOKEN_SHA256"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "bin" / "upkeep-agent"), "--root", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--token-sha256" in result.stderr
