"""Telemetry ingestion throughput through the real endpoint, served by gunicorn as `make run` does.

    .venv/bin/python bench/telemetry_ingest/run.py [--db sqlite|postgres|both] [--batch 100 500]
        [--seconds 20] [--clients 8] [--workers 2]

For each database and batch size: a fresh database (SQLite file in var/, or the PostgreSQL
database ``upkeep_bench_telemetry`` on 127.0.0.1:5432, dropped and recreated), ``migrate``, one
app and channel, then gunicorn (``config.wsgi``, sync workers, DEBUG=0, as bin/run starts it) and
client processes posting pre-built batches over real HTTP for ``--seconds``. Batches are a
realistic mix (launches, errors, crashes, API calls, web vitals with ids, some re-reported).
Reports accepted events per second and checks that the rollups add up to what was accepted.
The clients run on the same machine and take CPU from the server: the figures are a floor.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
PG_URL = "postgres://postgres@127.0.0.1:5432/upkeep_bench_telemetry"
SQLITE_PATH = ROOT / "var" / "bench-telemetry.sqlite3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reset_database(db: str) -> str:
    if db == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{SQLITE_PATH}"
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute("DROP DATABASE IF EXISTS upkeep_bench_telemetry WITH (FORCE)")
        c.execute("CREATE DATABASE upkeep_bench_telemetry")
    return PG_URL


def manage(env: dict, *args: str) -> str:
    out = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


SETUP = """
from releases.models import App, Channel
app = App.objects.create(slug="bench", name="Bench")
print(Channel.objects.create(app=app, name="production").client_key)
"""

COUNT = """
from django.db.models import Sum
from monitoring.models import Event, Rollup
print(Event.objects.count(), Rollup.objects.aggregate(n=Sum("count"))["n"] or 0)
"""


def make_batch(rng: random.Random, size: int, install: int) -> tuple[bytes, int]:
    """A batch of ``size`` events and how many rollup counts it adds (re-reported ids: 0)."""
    events, adds, ids = [], 0, []
    device = rng.choice(["mobile", "desktop"])
    for _ in range(size):
        roll = rng.random()
        if roll < 0.15:
            events.append({"type": "launch", "device": device})
        elif roll < 0.17:
            events.append({"type": "crash", "device": device})
        elif roll < 0.25:
            events.append({"type": "error", "name": "TypeError", "route": "/cart"})
        elif roll < 0.60:
            events.append(
                {
                    "type": "api",
                    "value": round(rng.lognormvariate(5, 0.7), 1),
                    "status": rng.choice([200] * 30 + [500, 0]),
                    "route": "/api/cart",
                }
            )
        else:
            name = rng.choice(["LCP", "INP", "CLS", "FCP", "TTFB"])
            if ids and rng.random() < 0.2:
                name, metric_id = rng.choice(ids)  # a later report of the same id replaces it
                adds -= 1
            else:
                metric_id = f"v4-{install}-{len(ids)}"
                ids.append((name, metric_id))
            value = rng.random() * 0.3 if name == "CLS" else round(rng.lognormvariate(7, 0.5))
            events.append(
                {"type": "vital", "name": name, "value": value, "id": metric_id, "device": device}
            )
        adds += 1
    body = {"install_id": f"bench-{install}", "version": "1.0.0", "events": events}
    return json.dumps(body).encode(), adds


def client(port: int, key: str, size: int, seconds: float, seed: int, results) -> None:
    rng = random.Random(seed)
    batches = [make_batch(rng, size, seed * 100_000 + i) for i in range(40)]
    deadline = time.monotonic() + seconds
    sent = events = adds = errors = 0
    path = f"/api/v1/telemetry?key={key}"
    i = 0
    while time.monotonic() < deadline:
        body, batch_adds = batches[i % len(batches)]
        # A fresh install id per request keeps vital ids new; the body is patched in place.
        body = body.replace(b'"bench-', f'"b{seed}x{i}-'.encode(), 1)
        body = body.replace(b'"v4-', f'"v{i}-'.encode())
        i += 1
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status == 202:
                sent += 1
                events += size
                adds += batch_adds
            else:
                errors += 1
        except OSError:
            errors += 1
        finally:
            conn.close()
    results.put((sent, events, adds, errors))


def run(db: str, size: int, seconds: float, clients: int, workers: int) -> dict:
    env = {**os.environ, "DATABASE_URL": reset_database(db), "DEBUG": "0", "UPKEEP_HTTPS": "0"}
    env["UPKEEP_STATIC_FINDERS"] = "1"
    manage(env, "migrate", "--noinput")
    key = manage(env, "shell", "-c", SETUP).splitlines()[-1]
    port = free_port()
    server = subprocess.Popen(
        [GUNICORN, "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--graceful-timeout", "10", "--timeout", "60", "--no-control-socket"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        results: multiprocessing.Queue = multiprocessing.Queue()
        procs = [
            multiprocessing.Process(target=client, args=(port, key, size, seconds, n + 1, results))
            for n in range(clients)
        ]
        started = time.monotonic()
        for p in procs:
            p.start()
        totals = [results.get() for _ in procs]
        elapsed = time.monotonic() - started
        for p in procs:
            p.join()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    sent, events, adds, errors = (sum(t[i] for t in totals) for i in range(4))
    stored, rolled = (int(x) for x in manage(env, "shell", "-c", COUNT).splitlines()[-1].split())
    return {
        "db": db,
        "batch": size,
        "requests": sent,
        "errors": errors,
        "events": events,
        "seconds": round(elapsed, 1),
        "events_per_s": round(events / elapsed),
        "requests_per_s": round(sent / elapsed, 1),
        "raw_rows_match": stored == events,
        "rollups_match": rolled == adds,
        "detail": f"raw rows {stored} (sent {events}), rollup counts {rolled} (expected {adds})",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--batch", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    ok = True
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("db        batch  requests  errors   events/s  requests/s  counts check")
    for db in dbs:
        for size in args.batch:
            r = run(db, size, args.seconds, args.clients, args.workers)
            check = (
                "ok"
                if r["raw_rows_match"] and r["rollups_match"] and not r["errors"]
                else "MISMATCH"
            )
            ok &= check == "ok"
            print(
                f"{db:<9} {size:>5}  {r['requests']:>8}  {r['errors']:>6}  {r['events_per_s']:>9}"
                f"  {r['requests_per_s']:>10}  {check}",
                flush=True,
            )
            if check != "ok":
                print(f"          {r['detail']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
