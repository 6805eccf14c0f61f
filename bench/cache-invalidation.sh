#!/usr/bin/env bash
# Reproducible benchmark of issue 14's point 8 (cache invalidation), against a release build.
#   bash bench/cache-invalidation.sh [sqlite|postgres|both]   (default both)
# Per backend, on a fresh demo database: AMP's 92 mayors get accounts (invitations accepted
# through the API) and the secretariat signs in; then the secretariat's AMP territory query
# (bench/amp.lua: 92 communes with population and mayor, one account, so served from the
# response cache) runs for $BENCH_DURATION s (default 20) at 64 connections:
#   1. alone;
#   2. while the mayors save response drafts on the open governance pact, taking turns,
#      at $BENCH_WRITE_RATE writes/s in total (default 5; bench/cache-invalidation.py);
#   3. alone again, with the response cache off (--response-cache-entries 0): the
#      uncached figure.
# The figure of the issue: phase 2 keeps at least 90% of phase 1's throughput. The server's
# CPU time per request of phase 1 is what a cache hit costs. BENCH_BIN=path runs another
# build (for example main's, for the figures before the change); by default it builds this
# tree. Needs wrk, python3 and, for postgres, a server at $BENCH_PG_ADMIN_URL (default
# postgres://postgres@127.0.0.1:5432/test). Raw figures go to bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-both}"
DUR="${BENCH_DURATION:-20}"
RATE="${BENCH_WRITE_RATE:-5}"
PORT=18183
PG_ADMIN="${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}"
OUT=bench/out
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
mkdir -p "$OUT"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ -n "${BENCH_BIN:-}" ]; then
  BIN="$BENCH_BIN"
else
  cargo build --release -q
  BIN="${CARGO_TARGET_DIR:-target}/release/entente"
fi
URL="http://127.0.0.1:$PORT"
TICKS=$(getconf CLK_TCK)

fresh_db() { # backend -> url
  if [ "$1" = sqlite ]; then
    rm -f "$OUT"/cache.db*; echo "sqlite://$OUT/cache.db"
  else
    psql "$PG_ADMIN" -qAtc 'DROP DATABASE IF EXISTS entente_bench_cache WITH (FORCE)' >/dev/null 2>&1
    psql "$PG_ADMIN" -qAtc 'CREATE DATABASE entente_bench_cache' >/dev/null
    echo "${PG_ADMIN%/*}/entente_bench_cache"
  fi
}

wait_up() { # pid
  for _ in $(seq 1 150); do
    curl -sf "$URL/health" >/dev/null && return 0
    kill -0 "$1" 2>/dev/null || { echo "bench: the server exited" >&2; return 1; }
    sleep 0.2
  done
  echo "bench: the server did not answer /health" >&2; return 1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Runs wrk with CHECK=1 and stops the benchmark if any answer was wrong.
checked() {
  local line
  line=$(CHECK=1 wrk "$@" | grep BENCH)
  echo "check: $line"
  [[ "$line" == *"non2xx_or_bad_bodies=0"* ]] || { echo "bench: wrong answers, figures not valid" >&2; exit 1; }
}

# wrk on the AMP query for $DUR s; prints its BENCH line and the server's CPU ms per request.
amp_phase() { # pid name
  local c0 c1 line req
  c0=$(cpu_ticks "$1")
  line=$(wrk -t2 -c64 -d"${DUR}s" --latency -s bench/amp.lua "$URL/graphql" | tee "$OUT/cache-$b-$2.txt" | grep BENCH)
  c1=$(cpu_ticks "$1")
  req=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
  echo "$2: $line server_cpu_ms_per_request=$(awk -v d=$((c1 - c0)) -v t="$TICKS" -v r="$req" 'BEGIN {printf "%.3f", d * 1000 / t / r}')"
}

bench_backend() {
  b=$1
  local url pid w
  url=$(fresh_db "$b")
  local log="$OUT/cache-server-$b.log"
  echo "== $b"
  RUST_LOG=warn "$BIN" serve --demo --database-url "$url" --bind "127.0.0.1:$PORT" >"$log" 2>&1 &
  pid=$!
  wait_up $pid
  eval "$(python3 bench/cache-invalidation.py setup "$URL" "$OUT/cache-$b-state.json")"
  export TOKEN
  checked -t2 -c8 -d3s -s bench/amp.lua "$URL/graphql"
  python3 bench/cache-invalidation.py write "$URL" "$OUT/cache-$b-state.json" "$RATE" 3 | sed 's/^/warm-up writes: /'
  sleep 1
  amp_phase $pid cached-alone
  python3 bench/cache-invalidation.py write "$URL" "$OUT/cache-$b-state.json" "$RATE" "$DUR" >"$OUT/cache-$b-writes.txt" &
  w=$!
  amp_phase $pid cached-during-drafts
  wait $w || { echo "bench: drafts failed" >&2; FAILED=1; }
  echo "drafts meanwhile: $(grep BENCH "$OUT/cache-$b-writes.txt")"
  checked -t1 -c2 -d1s -s bench/amp.lua "$URL/graphql"
  kill $pid; wait $pid 2>/dev/null || true
  RUST_LOG=warn "$BIN" serve --database-url "$url" --bind "127.0.0.1:$PORT" --response-cache-entries 0 >>"$log" 2>&1 &
  pid=$!
  wait_up $pid
  checked -t2 -c8 -d3s -s bench/amp.lua "$URL/graphql"
  amp_phase $pid uncached
  kill $pid; wait $pid 2>/dev/null || true
  echo "$b server_log_warnings_and_errors=$(grep -cE 'WARN|ERROR' "$log" || true) (in $log)"
}

FAILED=0
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ), binary $BIN, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
case "$which" in
  sqlite) bench_backend sqlite ;;
  postgres) bench_backend postgres ;;
  *) bench_backend sqlite; bench_backend postgres ;;
esac
exit $FAILED
