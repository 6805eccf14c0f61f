#!/usr/bin/env bash
# Reproducible benchmark of issue #2's figures, on this machine, against a release build.
#   bash bench/run.sh [sqlite|postgres|both]   (default both)
# Needs wrk (installed from Debian's packages if missing) and, for postgres, a server at
# $BENCH_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/test). Writes the raw
# figures to bench/out/ and prints a summary.
# BENCH_TARGET_CPU=native builds the server for this machine's CPU instead of the portable
# x86-64 baseline (BENCHMARKS.md runs 6 and 7, made when the server still hashed with
# RustCrypto's argon2, which uses AVX2 at most; argon2-rust picks AVX-512 at run time).
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-both}"
DUR="${BENCH_DURATION:-20}"
PORT=18181
DATA="${ENTENTE_DATA_DIR:-../shared/data/decoupage-administratif}"
PG_ADMIN="${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}"
OUT=bench/out
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT  # no server left behind when a phase fails
mkdir -p "$OUT"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
CPU="${BENCH_TARGET_CPU:-}"
if [ -n "$CPU" ]; then
  export RUSTFLAGS="-C target-cpu=$CPU" CARGO_TARGET_DIR="target/cpu-$CPU"
fi
cargo build --release -q
BIN="${CARGO_TARGET_DIR:-target}/release/entente"

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

fresh_db() { # backend -> url
  if [ "$1" = sqlite ]; then
    rm -f "$OUT"/bench.db*; echo "sqlite://$OUT/bench.db"
  else
    psql "$PG_ADMIN" -qAtc 'DROP DATABASE IF EXISTS entente_bench WITH (FORCE)' >/dev/null
    psql "$PG_ADMIN" -qAtc 'CREATE DATABASE entente_bench' >/dev/null
    echo "${PG_ADMIN%/*}/entente_bench"
  fi
}

login_token() {
  local t
  t=$(curl -s "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' \
    -d '{"query":"mutation{login(email:\"secretariat@demo.entente.fr\",password:\"entente-demo-2026\"){token}}"}' |
    sed -E 's/.*"token":"([0-9a-f]+)".*/\1/')
  [[ "$t" =~ ^[0-9a-f]{64}$ ]] || { echo "bench: sign-in failed: $t" >&2; exit 1; }
  echo "$t"
}

# Runs wrk with CHECK=1 and stops the benchmark if any answer was wrong.
checked() {
  local line
  line=$(CHECK=1 wrk "$@" | grep BENCH)
  echo "check: $line"
  [[ "$line" == *"non2xx_or_bad_bodies=0"* ]] || { echo "bench: wrong answers, figures not valid" >&2; exit 1; }
}

bench_backend() {
  local b=$1 url pid token
  url=$(fresh_db "$b")
  echo "== $b: server"
  RUST_LOG=warn "$BIN" serve --demo --database-url "$url" --bind "127.0.0.1:$PORT" >"$OUT/server-$b.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
  token=$(login_token); export TOKEN=$token
  # Warm-up, checking that every response is a correct answer.
  checked -t2 -c8 -d3s -s bench/amp.lua "http://127.0.0.1:$PORT/graphql"
  checked -t8 -c8 -d2s -s bench/login.lua "http://127.0.0.1:$PORT/graphql"
  sleep 2
  echo "$b idle_rss_mib=$(( $(rss_kib $pid) / 1024 ))" | tee "$OUT/$b-idle.txt"
  echo "-- AMP query, 64 connections, ${DUR}s (response cache on: the same account repeats the query)"
  wrk -t2 -c64 -d"${DUR}s" --latency -s bench/amp.lua "http://127.0.0.1:$PORT/graphql" | tee "$OUT/$b-amp.txt" | grep BENCH
  echo "$b rss_after_load_mib=$(( $(rss_kib $pid) / 1024 )) peak_rss_mib=$(( $(hwm_kib $pid) / 1024 ))" | tee "$OUT/$b-rss.txt"
  echo "-- login, 8 people (the demo's 8 accounts) signing in in a loop, ${DUR}s"
  wrk -t8 -c8 -d"${DUR}s" --latency -s bench/login.lua "http://127.0.0.1:$PORT/graphql" | tee "$OUT/$b-login.txt" | grep BENCH
  echo "-- login, one account's 8 devices in a loop (its attempts are taken one at a time), ${DUR}s"
  LOGIN_SAME_ACCOUNT=1 wrk -t8 -c8 -d"${DUR}s" --latency -s bench/login.lua "http://127.0.0.1:$PORT/graphql" |
    tee "$OUT/$b-login-same-account.txt" | grep BENCH
  echo "-- AMP query at a steady pace (64 connections, 40 ms apart), alone then during the 8 people's login loop, ${DUR}s each"
  wrk -t1 -c64 -d"${DUR}s" --latency -s bench/amp-paced.lua "http://127.0.0.1:$PORT/graphql" |
    tee "$OUT/$b-amp-paced.txt" | sed 's/^/alone: /' | grep BENCH
  wrk -t8 -c8 -d"${DUR}s" --latency -s bench/login.lua "http://127.0.0.1:$PORT/graphql" > "$OUT/$b-login-with-paced.txt" &
  local lp=$!
  wrk -t1 -c64 -d"${DUR}s" --latency -s bench/amp-paced.lua "http://127.0.0.1:$PORT/graphql" > "$OUT/$b-amp-paced-during-login.txt"
  wait $lp
  echo "during login: $(grep BENCH "$OUT/$b-amp-paced-during-login.txt")"
  echo "login meanwhile: $(grep BENCH "$OUT/$b-login-with-paced.txt")"
  echo "-- stress: the login loop with the AMP query at 32 connections as fast as it goes, ${DUR}s"
  wrk -t8 -c8 -d"${DUR}s" --latency -s bench/login.lua "http://127.0.0.1:$PORT/graphql" > "$OUT/$b-login-with-amp.txt" &
  lp=$!
  wrk -t1 -c32 -d"${DUR}s" --latency -s bench/amp.lua "http://127.0.0.1:$PORT/graphql" > "$OUT/$b-amp-during-login.txt"
  wait $lp
  echo "login: $(grep BENCH "$OUT/$b-login-with-amp.txt")"
  echo "AMP during login: $(grep BENCH "$OUT/$b-amp-during-login.txt")"
  echo "$b peak_rss_mib=$(( $(hwm_kib $pid) / 1024 ))" | tee -a "$OUT/$b-rss.txt"
  checked -t1 -c2 -d1s -s bench/amp.lua "http://127.0.0.1:$PORT/graphql"  # still signed in
  echo "-- convening the 93-member conference (20 meetings), then the meeting view, 64 connections, ${DUR}s"
  eval "$(python3 bench/meetings-setup.py "http://127.0.0.1:$PORT" 20 2> >(tee "$OUT/$b-convene.txt" >&2))"
  export TOKEN MEETING
  checked -t2 -c8 -d3s -s bench/meeting.lua "http://127.0.0.1:$PORT/graphql"
  wrk -t2 -c64 -d"${DUR}s" --latency -s bench/meeting.lua "http://127.0.0.1:$PORT/graphql" | tee "$OUT/$b-meeting.txt" | grep BENCH
  kill $pid; wait $pid 2>/dev/null || true

  echo "-- AMP query, 64 connections, ${DUR}s, response cache off (every answer recomputed)"
  RUST_LOG=warn "$BIN" serve --database-url "$url" --bind "127.0.0.1:$PORT" --response-cache-entries 0 >>"$OUT/server-$b.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
  token=$(login_token); export TOKEN=$token
  checked -t2 -c8 -d3s -s bench/amp.lua "http://127.0.0.1:$PORT/graphql"
  wrk -t2 -c64 -d"${DUR}s" --latency -s bench/amp.lua "http://127.0.0.1:$PORT/graphql" | tee "$OUT/$b-amp-uncached.txt" | grep BENCH
  echo "-- meeting view, 64 connections, ${DUR}s, response cache off"
  checked -t2 -c8 -d3s -s bench/meeting.lua "http://127.0.0.1:$PORT/graphql"
  wrk -t2 -c64 -d"${DUR}s" --latency -s bench/meeting.lua "http://127.0.0.1:$PORT/graphql" | tee "$OUT/$b-meeting-uncached.txt" | grep BENCH
  kill $pid; wait $pid 2>/dev/null || true

  if [ -f "$DATA/communes.json" ]; then
    for run in first second; do
      [ $run = first ] && url=$(fresh_db "$b")
      echo "-- import of all of France ($run run)"
      /usr/bin/time -f "$b import_$run elapsed_s=%e max_rss_kib=%M" "$BIN" import territory --database-url "$url" \
        --communes "$DATA/communes.json" --epci "$DATA/epci.json" --ept "$DATA/ept.json" 2>&1 | tee "$OUT/$b-import-$run.txt" | tail -3
    done
  else
    echo "-- import skipped: $DATA not found"
  fi
}

echo "build: release, target CPU ${CPU:-x86-64 (portable)}"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
case "$which" in
  sqlite) bench_backend sqlite ;;
  postgres) bench_backend postgres ;;
  *) bench_backend sqlite; bench_backend postgres ;;
esac
