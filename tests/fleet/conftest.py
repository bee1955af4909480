"""Real deploy agents on loopback, real published releases, bundles served over real HTTP."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.cache import cache

from fleet import agent
from fleet.models import Fleet, Host
from releases import publishing, update
from releases.models import App
from tests.releases.conftest import publish


@pytest.fixture(autouse=True)
def _bundle_storage(settings, tmp_path):
    settings.RELEASES_BUNDLE_DIR = tmp_path / "bundles"
    settings.RELEASES_STATE_DIR = tmp_path / "state"
    settings.FLEET_LEASE_SECONDS = 30
    cache.clear()
    update.clear_local()
    yield
    cache.clear()
    update.clear_local()


@pytest.fixture(autouse=True)
def _quiet_agents(monkeypatch):
    monkeypatch.setenv("UPKEEP_AGENT_QUIET", "1")


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@dataclass
class RunningAgent:
    config: agent.AgentConfig
    server: object
    url: str

    @property
    def root(self) -> Path:
        return self.config.root

    def current(self) -> str:
        """The sha the ``current`` link points at ("" when there is none)."""
        link = self.root / "current"
        return Path(link.readlink()).name if link.is_symlink() else ""

    def previous(self) -> str:
        link = self.root / "previous"
        return Path(link.readlink()).name if link.is_symlink() else ""


class Agents:
    def __init__(self, base: Path):
        self.base = base
        self.running: list[RunningAgent] = []

    def start(self, name: str, token_sha256: str, **options) -> RunningAgent:
        config = agent.AgentConfig(root=self.base / name, token_sha256=token_sha256, **options)
        server = agent.make_server(config, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        host, port = server.server_address[:2]
        running = RunningAgent(config, server, f"http://{host}:{port}")
        self.running.append(running)
        return running

    def stop_all(self) -> None:
        for running in self.running:
            running.server.shutdown()
            running.server.server_close()


@pytest.fixture
def agents(tmp_path):
    pool = Agents(tmp_path / "hosts")
    yield pool
    pool.stop_all()


@pytest.fixture
def app(db):
    return App.objects.create(slug="shop", name="Shop")


@pytest.fixture
def channel(app):
    return publishing.create_channel(app, name="production")


@pytest.fixture
def v1(app, channel):
    return publish(app, "1.0.0", files={"index.html": "<h1>one</h1>"})


@pytest.fixture
def v2(app, channel, v1):
    return publish(app, "1.1.0", files={"index.html": "<h1>two</h1>", "js/app.js": "go()"})


def make_fleet(app, channel, name="web", **options) -> Fleet:
    options = {"batch_size": 2, "failure_budget": 0, "host_timeout": 2, **options}
    return Fleet.objects.create(name=name, app=app, channel=channel, **options)


def add_hosts(fleet: Fleet, agents: Agents, count: int, **per_name) -> list[tuple[Host, object]]:
    """``count`` hosts with running agents; ``per_name`` gives agent options by host name."""
    pairs = []
    for i in range(1, count + 1):
        name = f"h{i}"
        host = Host(fleet=fleet, name=name, agent_url="http://placeholder")
        running = agents.start(name, host.secret_sha256, **per_name.get(name, {}))
        host.agent_url = running.url
        host.save()
        pairs.append((host, running))
    return pairs
