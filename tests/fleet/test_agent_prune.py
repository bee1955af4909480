"""The agent keeps a bounded number of unpacked releases (``--keep``), on a real temp root."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from fleet import agent
from tests.fleet.test_agent import TOKEN_SHA, call, deploy, files  # noqa: F401 - fixture
from tests.fleet.test_agent_process import ROOT
from tests.releases.conftest import make_zip


def unpacked(running) -> set[str]:
    folder = running.root / "releases"
    return {p.name for p in folder.iterdir() if p.is_dir()}


def roll_through(running, files, count: int) -> list[str]:  # noqa: F811 - fixture
    shas = []
    for i in range(count):
        sha, (status, _) = deploy(
            running, files, f"r{i}.zip", make_zip({"index.html": f"r{i}"}), version=f"1.{i}.0"
        )
        assert status == 200
        shas.append(sha)
    return shas


def test_only_the_newest_releases_stay_unpacked_after_a_switch(agents, files):  # noqa: F811
    host = agents.start("prune", TOKEN_SHA, keep=2)
    shas = roll_through(host, files, 5)
    # current (r4) + the two most recent others (r3 = previous, r2)
    assert unpacked(host) == set(shas[2:])
    assert (host.current(), host.previous()) == (shas[4], shas[3])
    metas = {p.name for p in (host.root / "releases").iterdir() if p.suffix == ".json"}
    assert metas == {f"{sha}.json" for sha in shas[2:]}
    assert not [p for p in (host.root / "releases").iterdir() if p.name.startswith(".trash-")]
    # The kept previous release still rolls back.
    status, answer = call(host, "POST", "/rollback", {"from_sha256": shas[4]})
    assert (status, answer["sha256"], host.current()) == (200, shas[3], shas[3])


def test_keep_zero_still_keeps_current_and_previous(agents, files):  # noqa: F811
    host = agents.start("prune0", TOKEN_SHA, keep=0)
    shas = roll_through(host, files, 3)
    assert unpacked(host) == {shas[2], shas[1]}
    status, answer = call(host, "POST", "/rollback", {"from_sha256": shas[2]})
    assert (status, answer["sha256"]) == (200, shas[1])


def test_the_deploy_answer_lists_what_was_pruned(agents, files):  # noqa: F811
    host = agents.start("pruned", TOKEN_SHA, keep=1)
    shas = roll_through(host, files, 2)
    sha, (status, answer) = deploy(host, files, "c.zip", make_zip({"index.html": "c"}), "2.0.0")
    assert (status, answer["pruned"]) == (200, [shas[0]])
    assert unpacked(host) == {sha, shas[1]}


def test_the_order_is_the_last_switch_not_the_unpack(agents, files):  # noqa: F811
    """A release switched back to by a rollback counts as recent: the one rolled back from
    goes first, though it was unpacked later."""
    host = agents.start("order", TOKEN_SHA, keep=1)
    a, b = roll_through(host, files, 2)
    call(host, "POST", "/rollback", {"from_sha256": b})  # current a, previous b
    c, (status, answer) = deploy(host, files, "c.zip", make_zip({"index.html": "c"}), "3.0.0")
    assert (status, host.current(), host.previous()) == (200, c, a)
    assert answer["pruned"] == [b] and unpacked(host) == {c, a}


def test_a_rollback_prunes_nothing(agents, files):  # noqa: F811
    host = agents.start("rb", TOKEN_SHA, keep=0)
    shas = roll_through(host, files, 2)
    call(host, "POST", "/rollback", {"from_sha256": shas[1]})
    assert unpacked(host) == set(shas)


def test_prune_never_deletes_current_or_previous_even_when_oldest(tmp_path):
    config = agent.AgentConfig(root=tmp_path / "root", token_sha256=TOKEN_SHA, keep=0)
    releases = config.root / "releases"
    shas = [c * 64 for c in "abcd"]
    for age, sha in enumerate(shas):
        (releases / sha).mkdir(parents=True)
        (releases / sha / "index.html").write_text(sha)
        (releases / f"{sha}.json").write_text(json.dumps({"switch_seq": age + 1}))
    config.root.mkdir(exist_ok=True)
    os.symlink(f"releases/{shas[0]}", config.root / "current")  # the oldest
    os.symlink(f"releases/{shas[1]}", config.root / "previous")
    assert sorted(agent.prune(config)) == sorted(shas[2:])
    assert sorted(p.name for p in releases.iterdir() if p.is_dir()) == sorted(shas[:2])


def test_the_status_reports_the_keep_setting(agents):
    host = agents.start("status", TOKEN_SHA, keep=5)
    assert call(host, "GET", "/status")[1]["keep"] == 5


def test_the_command_line_refuses_a_negative_keep(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bin" / "upkeep-agent"),
            "--root",
            str(tmp_path),
            "--token-sha256",
            TOKEN_SHA,
            "--keep",
            "-1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--keep" in result.stderr
