"""A real worker process killed in the middle of a restore: the target is untouched, the reaper
records the restore as rolled back, and the next job on the source runs without unlocking."""

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from backups.jobs import reap
from backups.models import Backup, Lease, Restore
from tests.backups.conftest import add, backup_now, read_tree

ROOT = Path(__file__).resolve().parents[2]
WORKER = """
import sys, time, django
django.setup()
from backups.restores import run_restore

def hook(name):
    if name == sys.argv[2]:
        print("paused", flush=True)
        time.sleep(120)

run_restore(int(sys.argv[1]), hook=hook)
"""


def database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("step", ["before-index", "before-swap"])
def test_a_killed_restore_worker_leaves_the_target_as_it_was(tree, settings, step):
    source = add("site", "directory", tree)
    backup = backup_now(source)
    (tree / "changed.txt").write_text("written after the backup")
    before = read_tree(tree)
    restore = Restore.objects.create(backup=backup, target=str(tree), target_is_source=True)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "UPKEEP_DATA_DIR": str(settings.DATA_DIR),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(restore.pk), step],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout.readline().strip() == "paused"
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    later = timezone.now() + Lease.TTL + timedelta(seconds=1)
    reap(now=later)
    restore.refresh_from_db()
    assert restore.status == Restore.Status.ROLLED_BACK and read_tree(tree) == before
    assert not list(tree.parent.glob(".tree.restore-*"))
    assert backup_now(source, now=later).status == Backup.Status.COMPLETE
