"""Benchmark: N jobs due at the same moment, K controller processes materialising at once.

    .venv/bin/python bench/dispatch/run.py --db sqlite      # var/bench-dispatch.sqlite3
    .venv/bin/python bench/dispatch/run.py --db postgres    # database bench_dispatch on
                                                            # 127.0.0.1:5432 (PGURL to change)

Creates a fresh database, N jobs with schedule "* * * * *" whose next due time is the same
whole minute, starts K `manage.py controller` processes before that minute and waits until
every job has its occurrence and queued run. Prints the time from the due moment until the
last run existed, duplicates (occurrences or first attempts beyond one per job; must be 0),
and the slowest scheduling delay (run created - scheduled time). No worker runs: the
dispatcher hands at most Q_CLUSTER workers runs to the broker, which is not measured here.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def prepare(db: str) -> str:
    if db == "sqlite":
        path = ROOT / "var" / "bench-dispatch.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    base = os.environ.get("PGURL", "postgres://postgres@127.0.0.1:5432")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS bench_dispatch")
        conn.execute("CREATE DATABASE bench_dispatch")
    return f"{base}/bench_dispatch"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--controllers", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()

    url = prepare(args.db)
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db.models import Count, Max

    from maintenance.models import Job, Occurrence, Run

    now = datetime.now(UTC)
    due = (now + timedelta(seconds=70)).replace(second=0, microsecond=0)
    if (due - now).total_seconds() > 65:
        due -= timedelta(minutes=1)
    Job.objects.bulk_create(
        Job(
            name=f"bench-{i:05d}",
            job_type="command",
            params={"command": "clearsessions"},
            schedule="* * * * *",
            next_due_at=due,
            missed_policy="all",
        )
        for i in range(args.jobs)
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "controller"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(args.controllers)
    ]
    try:
        print(
            f"{args.db}: {args.jobs} jobs due at {due:%H:%M:%S} UTC, "
            f"{args.controllers} controllers started; waiting…",
            flush=True,
        )
        limit = time.monotonic() + (due - datetime.now(UTC)).total_seconds() + args.timeout
        seen_all_at = None
        while Occurrence.objects.filter(scheduled_for=due).count() < args.jobs:
            if time.monotonic() > limit:
                print("TIMEOUT: not every job was materialised")
                break
            time.sleep(0.05)
        else:
            seen_all_at = datetime.now(UTC)
        runs = Run.objects.filter(occurrence__scheduled_for=due, attempt=1)
        last = runs.aggregate(Max("created_at"))["created_at__max"]
        dup_occ = (
            Occurrence.objects.values("job", "scheduled_for")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
            .count()
        )
        dup_runs = runs.values("occurrence").annotate(n=Count("pk")).filter(n__gt=1).count()
        made = Occurrence.objects.filter(scheduled_for=due).count()
        print(f"materialised:             {made}/{args.jobs}")
        if seen_all_at:
            # Observed wall clock (polled every 50 ms): when all N runs were committed.
            print(
                f"time to dispatch all:     {(seen_all_at - due).total_seconds():.2f} s "
                "after the due moment (observed)"
            )
        if last:
            # created_at is the controller tick that materialised the run.
            print(
                f"slowest scheduling delay: {(last - due).total_seconds():.2f} s "
                "(latest tick that created a run - due time)"
            )
        ticks = runs.values("created_at").distinct().count()
        print(f"duplicates:               {dup_occ + dup_runs}")
        print(f"controller ticks used:    {ticks}")
        return 0 if made == args.jobs and dup_occ + dup_runs == 0 else 1
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    raise SystemExit(main())
