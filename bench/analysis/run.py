"""Time to evaluate a rollout phase (every default metric, canary vs stable) over rollups.

    .venv/bin/python bench/analysis/run.py [--db sqlite|postgres|both] [--events 1e6 1e7]
        [--minutes 60] [--repeat 15]

For each database and event count: a fresh database (SQLite file in var/, or the PostgreSQL
database ``upkeep_bench_analysis`` on 127.0.0.1:5432, dropped and recreated), then per-minute
rollups and histogram buckets written directly (as ingestion would have left them; generating
10 million events through HTTP would take this machine most of an hour) for a phase of
``--minutes`` minutes at 50 % (canary and stable each get half the events), on mobile, desktop
and unknown devices, plus the same volume in the hour before the phase (so the time range of the
read matters). Then ``analysis.measure_all(channel, DEFAULT_SPECS, canary, stable, start, end)``
(the phase verdict) and a 5-minute guardrail window are timed ``--repeat`` times; the median and
the worst are reported. The first run of each is counted (no warm-up excluded beyond one call).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SQLITE_PATH = ROOT / "var" / "bench-analysis.sqlite3"
PG_URL = "postgres://postgres@127.0.0.1:5432/upkeep_bench_analysis"

# Share of events per rollup metric (the rest of the mix is what SDKs send).
MIX = {
    "launch": 0.20,
    "crash": 0.0004,
    "error": 0.03,
    "install_ok": 0.01,
    "install_failed": 0.0002,
    "api": 0.45,
    "LCP": 0.06,
    "INP": 0.06,
    "CLS": 0.06,
    "FCP": 0.06,
    "TTFB": 0.06,
}
# Lognormal (mu, sigma) of each latency-like value; CLS is unitless.
SHAPES = {
    "api": (5.3, 0.7),
    "LCP": (7.5, 0.5),
    "INP": (4.8, 0.6),
    "CLS": (-3.0, 0.8),
    "FCP": (7.1, 0.5),
    "TTFB": (6.0, 0.6),
}
DEVICES = {"mobile": 0.6, "desktop": 0.35, "": 0.05}
PHASE_START = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def prepare(db: str) -> None:
    if db == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{SQLITE_PATH}"
    else:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
            c.execute("DROP DATABASE IF EXISTS upkeep_bench_analysis WITH (FORCE)")
            c.execute("CREATE DATABASE upkeep_bench_analysis")
        os.environ["DATABASE_URL"] = PG_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def bucket_counts(metric: str, n: int, rng: random.Random) -> dict[int, int]:
    """Spread ``n`` values of a lognormal over histogram buckets by their probability mass."""
    from monitoring import histogram

    mu, sigma = SHAPES[metric]
    counts: dict[int, int] = {}
    low = histogram.bucket_of(math.exp(mu - 4 * sigma))
    high = histogram.bucket_of(math.exp(mu + 4 * sigma))

    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-(math.log(x) - mu) / (sigma * math.sqrt(2)))

    for b in range(low, high + 1):
        mass = cdf(histogram.GAMMA**b) - cdf(histogram.GAMMA ** (b - 1))
        expected = mass * n
        k = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        if k:
            counts[b] = k
    return counts


def generate(channel_id: int, events: int, minutes: int) -> tuple[int, int]:
    """Write rollups for the phase and the hour before it; returns (rollup rows, bucket rows)."""
    from django.db import connection, transaction

    from monitoring.rollups import Deltas

    rng = random.Random(42)
    per_minute = events / 2 / minutes  # per version
    rollup_rows = bucket_rows = 0
    span = range(-60, minutes)
    for offset in span:
        minute = PHASE_START + timedelta(minutes=offset)
        deltas = Deltas()
        for version in ("2.0.0", "1.9.0"):
            for device, share in DEVICES.items():
                n = per_minute * share
                for metric, fraction in MIX.items():
                    count = int(n * fraction)
                    if version == "2.0.0" and metric == "crash":
                        count = int(count * 1.5)  # the canary crashes a bit more
                    if not count:
                        continue
                    key = (channel_id, version, metric, minute, device)
                    if metric in SHAPES:
                        errors = int(count * 0.01) if metric == "api" else 0
                        deltas.add(key, count=0, errors=errors)
                        for bucket, k in bucket_counts(metric, count, rng).items():
                            deltas.add(key, count=k, bucket=bucket)
                    else:
                        deltas.add(key, count=count)
        rollup_rows += len(deltas.counters)
        bucket_rows += len(deltas.buckets)
        with transaction.atomic():
            deltas.apply()
    connection.close()
    return rollup_rows, bucket_rows


def timed(func, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--events", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    prepare(args.db)
    from django.db import connection

    from monitoring import analysis
    from releases.models import App, Channel

    app = App.objects.create(slug="bench", name="Bench")
    print(f"db={args.db} phase={args.minutes} min, default metrics: "
          f"{', '.join(s.metric for s in analysis.DEFAULT_SPECS)}")  # fmt: skip
    print(
        "events      rollup rows  bucket rows  phase verdict ms (median / max)  guardrail 5 min ms"
    )
    for i, events in enumerate(args.events):
        channel = Channel.objects.create(app=app, name=f"c{i}")
        rows, buckets = generate(channel.pk, int(events), args.minutes)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        end = PHASE_START + timedelta(minutes=args.minutes)
        verdict = []

        def phase(channel=channel, end=end, verdict=verdict):
            verdict[:] = analysis.measure_all(
                channel, analysis.DEFAULT_SPECS, "2.0.0", "1.9.0", PHASE_START, end
            )

        def guardrail(channel=channel, end=end):
            analysis.measure_all(
                channel, analysis.DEFAULT_SPECS, "2.0.0", "1.9.0", end - timedelta(minutes=5), end
            )

        median, worst = timed(phase, args.repeat)
        g_median, _ = timed(guardrail, args.repeat)
        print(
            f"{int(events):>10,}  {rows:>11,}  {buckets:>11,}  {median:>14.1f} / {worst:<14.1f}"
            f"  {g_median:>10.1f}",
            flush=True,
        )
        outcome = ", ".join(f"{m.metric}={m.outcome}" for m in verdict)
        print(f"            verdict: {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
