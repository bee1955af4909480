#!/usr/bin/env bash
# Update-check throughput: the update endpoint vs a trivial view, same server, same run.
#
# Starts gunicorn exactly as bin/run (`make run`) does (config.wsgi, 2 workers, DEBUG=0), with
# Upkeep's settings plus one trivial view (bench/update_check/urls.py), on a throw-away SQLite
# database and data folder (or DATABASE_URL if set). Seeds an app with three releases, then runs
# wrk (CONNECTIONS connections, DURATION, THREADS threads) against
#   1. GET /bench/trivial                        (the baseline: middleware + a one-line view)
#   2. GET /api/v1/update?key=…&current=1.0.0&runtime=2.4.0&install_id=<random per request>
# after a warm-up, and prints requests/s, p50/p99 latency and the ratio update/trivial. The two
# alternate for ROUNDS rounds and the medians are compared, so that load from other programs
# on the machine drifting during the run does not favour one side; the load average is printed.
# Target (issue 3): ratio ≥ 0.75 and update p99 < 20 ms on a 2-core machine.
#
# Environment: PORT (8765), CONNECTIONS (32), DURATION (10s), THREADS (2), ROUNDS (3), FLAGS (3:
# feature flags ramped to 50 % on the channel, evaluated in every answer),
# DATABASE_URL.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
PORT=${PORT:-8765}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}

if ! command -v wrk >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "wrk not found: installing it with apt-get" >&2
        apt-get install -y wrk >/dev/null
    else
        echo "bench/update_check: wrk is needed (apt-get install wrk)" >&2
        exit 1
    fi
fi

WORK=$(mktemp -d)
export DJANGO_SETTINGS_MODULE=bench.update_check.settings
export DEBUG=0 UPKEEP_HTTPS=0 PYTHONUNBUFFERED=1
export UPKEEP_DATA_DIR="$WORK/data"
export DATABASE_URL=${DATABASE_URL:-sqlite:///$WORK/bench.sqlite3}
export SITE_URL="http://127.0.0.1:$PORT"

GUNICORN_PID=
cleanup() {
    if [[ -n $GUNICORN_PID ]]; then
        kill -TERM "$GUNICORN_PID" 2>/dev/null || true
        wait "$GUNICORN_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

"$PY" manage.py migrate --noinput -v 0
KEY=$("$PY" bench/update_check/seed.py | tail -1)

.venv/bin/gunicorn config.wsgi --bind "127.0.0.1:$PORT" --workers 2 --graceful-timeout 10 \
    --timeout 60 --no-control-socket --log-level warning &
GUNICORN_PID=$!
for _ in $(seq 100); do
    if "$PY" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
        "http://127.0.0.1:$PORT/bench/trivial" 2>/dev/null; then break; fi
    sleep 0.2
done

UPDATE="/api/v1/update?key=$KEY&current=1.0.0&runtime=2.4.0"
echo "One answer: $(curl -s "http://127.0.0.1:$PORT$UPDATE&install_id=probe")"

run() {  # name path vary
    BENCH_PATH=$2 BENCH_VARY=$3 wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s bench/update_check/bench.lua \
        "http://127.0.0.1:$PORT" >/dev/null  # warm-up: every worker fills its cache
    BENCH_PATH=$2 BENCH_VARY=$3 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" \
        -s bench/update_check/bench.lua "http://127.0.0.1:$PORT" | grep '^RESULT' | sed "s/^RESULT/$1/"
}

echo "wrk: $THREADS threads, $CONNECTIONS connections, $DURATION × $ROUNDS rounds each;" \
     "gunicorn 2 workers; $(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
LINES=()
for ((round = 1; round <= ROUNDS; round++)); do
    LINES+=("$(run trivial /bench/trivial 0)")
    LINES+=("$(run update "$UPDATE" 1)")
    printf '%s\n' "${LINES[@]: -2}"
done
"$PY" - "${LINES[@]}" <<'PYEOF'
import statistics
import sys

runs = {"trivial": [], "update": []}
for line in sys.argv[1:]:
    name, *fields = line.split()
    runs[name].append({k: float(v) for k, v in (f.split("=") for f in fields)})
median = {name: {k: statistics.median(r[k] for r in rows) for k in rows[0]}
          for name, rows in runs.items()}
for name, m in median.items():
    print(f"median {name:8} {m['rps']:8.1f} req/s  p50 {m['p50_ms']:6.2f} ms  "
          f"p99 {m['p99_ms']:6.2f} ms  non-2xx {int(m['non2xx'])}")
ratio = median["update"]["rps"] / median["trivial"]["rps"]
ok = ratio >= 0.75 and median["update"]["p99_ms"] < 20 and median["update"]["non2xx"] == 0
print(f"ratio update/trivial = {ratio:.2f}  (target ≥ 0.75 and update p99 < 20 ms): "
      f"{'met' if ok else 'NOT met'}")
PYEOF
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
