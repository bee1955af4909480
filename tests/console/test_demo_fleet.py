"""The demo fleet works end to end: agents started the way bin/run starts them (bin/upkeep-agent
with the seed's "demo agent:" lines) take a rolling deployment of a demo release over real HTTP."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from console import demo
from fleet import deployments, tasks
from fleet.models import Fleet, RollingDeployment
from releases.models import Release
from tests.console.demo_support import seed, use_test_storage

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _demo_storage(settings, tmp_path, live_server):
    settings.SITE_URL = live_server.url
    yield from use_test_storage(settings, tmp_path)


@pytest.fixture
def demo_agents(settings, live_server):
    """Seed, then start one agent process per "demo agent:" line, as bin/run does."""
    lines = [line for line in seed() if line.startswith("demo agent: ")]
    processes, roots = [], {}
    try:
        for line in lines:
            name, listen, sha256 = line.removeprefix("demo agent: ").split()
            roots[name] = settings.VAR_DIR / "demo" / "agents" / name
            process = subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "bin" / "upkeep-agent"),
                    "--root",
                    str(roots[name]),
                    "--listen",
                    listen,
                    "--token-sha256",
                    sha256,
                    "--allow-origin",
                    f"{live_server.url}/api/v1/bundles/",
                ],
                stderr=subprocess.PIPE,
                text=True,
                env={"UPKEEP_AGENT_QUIET": "1", "PATH": "/usr/bin:/bin"},
            )
            processes.append(process)
            assert "listening" in process.stderr.readline()
        yield roots
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
            process.stderr.close()


def deploy_fleet() -> str:
    out = StringIO()
    call_command("seed_demo", "--deploy-fleet", stdout=out)
    return out.getvalue().strip()


def test_the_first_deployment_rolls_1_0_0_out_to_both_demo_agents_once(demo_agents):
    assert sorted(demo_agents) == ["web-1", "web-2"]
    fleet = Fleet.objects.get(name=demo.FLEET)
    release = Release.objects.get(version="1.0.0")
    assert deploy_fleet().startswith("demo fleet: rolling out 1.0.0 (deployment #")
    deployment = RollingDeployment.objects.get(fleet=fleet)
    assert (deployment.release, deployment.started_by.username) == (release, "release")
    # What the worker does with the task the start queued.
    assert tasks.drive_deployment(deployment.pk) == "succeeded"
    deployment.refresh_from_db()
    assert (deployment.hosts_done, deployment.failures) == (2, 0)
    for root in demo_agents.values():
        current = root / "current"
        assert current.resolve().name == release.bundle_sha256
        assert (current / "package-lock.json").is_file()
    for host in fleet.hosts.all():
        assert (host.reported_version, host.reported_sha256) == ("1.0.0", release.bundle_sha256)
    # Once ever: the next bin/run starts nothing.
    assert deploy_fleet() == "demo fleet: nothing to start (it has had a deployment)"
    assert RollingDeployment.objects.count() == 1


def test_a_newer_release_rolls_over_the_first_one_on_the_demo_agents(demo_agents):
    deploy_fleet()
    tasks.drive_deployment(RollingDeployment.objects.get().pk)
    fleet = Fleet.objects.get(name=demo.FLEET)
    newer = Release.objects.get(version="1.1.0")
    deployment = deployments.start(fleet, newer, user=None)
    assert tasks.drive_deployment(deployment.pk) == "succeeded"
    for root in demo_agents.values():
        assert (root / "current").resolve().name == newer.bundle_sha256
        assert (root / "previous").resolve().name == Release.objects.get(
            version="1.0.0"
        ).bundle_sha256


def test_without_the_demo_there_is_no_fleet_to_deploy(db):
    assert deploy_fleet() == "demo fleet: none yet (run seed_demo without options first)"
    assert not RollingDeployment.objects.exists()
