#!/usr/bin/env bash
# Reproducible benchmark of issue #4's figures (referrals / saisines), on this machine,
# against a release build.
#   bash bench/referrals.sh [sqlite|postgres|both]   (default both)
# Per backend, on a fresh database: `serve --demo` loads AMP and the demo accounts, then
# the official files import all of France into the same database (the import keeps AMP),
# then the server runs again without --demo and with --response-cache-entries 0, and
# bench/referrals-bench.py times openReferral to the 92 AMP communes (20 fresh
# referrals), openReferral of a national consultation to every commune (3 fresh
# referrals), and the outcome over every commune answered (the answers are written by
# SQL straight after opening: see the helper). Needs python3, sqlite3 and psql, the
# files in $ENTENTE_DATA_DIR (default ../shared/data/decoupage-administratif) and, for
# postgres, a server at $BENCH_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/test).
# Writes the raw figures and server logs to bench/out/ and prints a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-both}"
PORT=18182
DATA="${ENTENTE_DATA_DIR:-../shared/data/decoupage-administratif}"
PG_ADMIN="${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}"
AMP_RUNS="${BENCH_AMP_RUNS:-20}"
NATIONAL_RUNS="${BENCH_NATIONAL_RUNS:-3}"
OUTCOME_RUNS="${BENCH_OUTCOME_RUNS:-30}"
OUT=bench/out
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT  # no server left behind when a phase fails
mkdir -p "$OUT"
[ -f "$DATA/communes.json" ] || { echo "bench: $DATA/communes.json not found (set ENTENTE_DATA_DIR)" >&2; exit 1; }
cargo build --release -q
BIN="${CARGO_TARGET_DIR:-target}/release/entente"

fresh_db() { # backend -> url
  if [ "$1" = sqlite ]; then
    rm -f "$OUT"/referrals.db*; echo "sqlite://$OUT/referrals.db"
  else
    psql "$PG_ADMIN" -qAtc 'DROP DATABASE IF EXISTS entente_bench_ref WITH (FORCE)' >/dev/null 2>&1
    psql "$PG_ADMIN" -qAtc 'CREATE DATABASE entente_bench_ref' >/dev/null
    echo "${PG_ADMIN%/*}/entente_bench_ref"
  fi
}

wait_up() { # pid
  for _ in $(seq 1 150); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return 0
    kill -0 "$1" 2>/dev/null || { echo "bench: the server exited" >&2; return 1; }
    sleep 0.2
  done
  echo "bench: the server did not answer /health" >&2; return 1
}

bench_backend() {
  local b=$1 url pid rc=0
  url=$(fresh_db "$b")
  local log="$OUT/referrals-server-$b.log"
  echo "== $b"
  # The demo refuses a non-empty database: load it first, then import France around it.
  RUST_LOG=warn "$BIN" serve --demo --database-url "$url" --bind "127.0.0.1:$PORT" >"$log" 2>&1 &
  pid=$!
  wait_up $pid
  kill $pid; wait $pid 2>/dev/null || true
  /usr/bin/time -f "$b import elapsed_s=%e max_rss_kib=%M" "$BIN" import territory --database-url "$url" \
    --communes "$DATA/communes.json" --epci "$DATA/epci.json" --ept "$DATA/ept.json" 2>&1 | tail -1
  RUST_LOG=warn "$BIN" serve --database-url "$url" --bind "127.0.0.1:$PORT" --response-cache-entries 0 >>"$log" 2>&1 &
  pid=$!
  wait_up $pid
  echo "$b idle_rss_mib=$(( $(awk '/^VmRSS/ {print $2}' /proc/$pid/status) / 1024 ))"
  python3 bench/referrals-bench.py "http://127.0.0.1:$PORT" "$url" "$pid" --amp-runs "$AMP_RUNS" \
    --national-runs "$NATIONAL_RUNS" --outcome-runs "$OUTCOME_RUNS" 2>"$OUT/referrals-$b.progress" | tee "$OUT/referrals-$b.txt" || rc=$?
  kill $pid; wait $pid 2>/dev/null || true
  echo "$b server_log_warnings_and_errors=$(grep -cE 'WARN|ERROR' "$log" || true) (in $log)"
  grep -E 'WARN|ERROR' "$log" | head -5 | cut -c1-400 || true
  [ $rc = 0 ] || { echo "bench: $b: wrong answers or failed requests (above)" >&2; FAILED=1; }
}

FAILED=0
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
case "$which" in
  sqlite) bench_backend sqlite ;;
  postgres) bench_backend postgres ;;
  *) bench_backend sqlite; bench_backend postgres ;;
esac
exit $FAILED
