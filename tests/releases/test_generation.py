"""The generation token: how other web processes learn that answers changed."""

import os
import subprocess
import sys
import time
from pathlib import Path

from releases import generation

ROOT = Path(__file__).resolve().parents[2]


def _bump_in_another_process(data_dir: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "UPKEEP_DATA_DIR": str(data_dir),
    }
    code = "import django; django.setup(); from releases import generation; generation._write()"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


def test_a_bump_in_this_process_is_seen_at_once(db):
    before = generation.current()
    generation.bump()
    assert generation.current() != before


def test_another_processes_bump_is_seen_within_the_recheck_interval(settings, tmp_path):
    settings.RELEASES_STATE_DIR = None
    settings.DATA_DIR = tmp_path
    now = time.monotonic()
    before = generation.current(now=now)
    _bump_in_another_process(tmp_path)
    assert generation.current(now=now) == before  # still inside the interval: no re-read
    after = generation.current(now=now + generation.RECHECK_SECONDS)
    assert after != before and after == (tmp_path / "releases" / "generation").read_text()
