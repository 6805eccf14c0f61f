#!/usr/bin/env bash
# Reproducible benchmark of issue #16's figures (e-mail delivery and live subscriptions),
# on this machine, against a release build.
#   bash bench/delivery.sh [sqlite|postgres|both]   (default both)
# Per backend, on a fresh database, examples/delivery_bench.rs loads the AMP demo, gives
# every person without an address one, serves the app in-process on 127.0.0.1:0 with the
# response cache off and production's pool, runs an SMTP sink (mailin-embedded) in the
# same process, and measures over real HTTP, SMTP and WebSocket connections (see the
# example's header): convening the conference of mayors (~93 e-mails) and its delivery;
# 3,000 councillor notices (publish latency, delivery rate at 50/s and at 500/s, a read
# query's p99 while sending vs at rest); 500 subscribers to meetingLive and the latency of
# each event; the RSS of 2,000 idle WebSockets to a server in a child process.
# /usr/bin/time gives the peak RSS of the whole process (server, sink and clients; not the
# child). Needs psql and, for postgres, a server at $BENCH_PG_ADMIN_URL (default
# postgres://postgres@127.0.0.1:5432/test).
# Tunables: BENCH_MAIL_CONVENE_RUNS (10), BENCH_MAIL_COUNCILLORS (3000),
# BENCH_MAIL_FAST (500 messages/s), BENCH_MAIL_SUBSCRIBERS (500), BENCH_MAIL_EVENTS (10),
# BENCH_MAIL_IDLE (2000), BENCH_MAIL_PARTS (convene,councillors,live,idle).
# Writes the figures to bench/out/delivery-<backend>.txt, progress and the server's
# warnings to bench/out/delivery-<backend>.progress, and prints them.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-both}"
PG_ADMIN="${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}"
RUNS="${BENCH_MAIL_CONVENE_RUNS:-10}"
COUNCILLORS="${BENCH_MAIL_COUNCILLORS:-3000}"
FAST="${BENCH_MAIL_FAST:-500}"
SUBSCRIBERS="${BENCH_MAIL_SUBSCRIBERS:-500}"
EVENTS="${BENCH_MAIL_EVENTS:-10}"
IDLE="${BENCH_MAIL_IDLE:-2000}"
PARTS="${BENCH_MAIL_PARTS:-convene,councillors,live,idle}"
OUT=bench/out
mkdir -p "$OUT"
# 2,000 client sockets here and 2,000 in the child server.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release -q --example delivery_bench
BIN="${CARGO_TARGET_DIR:-target}/release/examples/delivery_bench"

fresh_db() { # backend -> url
  if [ "$1" = sqlite ]; then
    rm -f "$OUT"/delivery.db*; echo "sqlite://$OUT/delivery.db?mode=rwc"
  else
    psql "$PG_ADMIN" -qAtc 'DROP DATABASE IF EXISTS entente_bench_mail WITH (FORCE)' >/dev/null 2>&1
    psql "$PG_ADMIN" -qAtc 'CREATE DATABASE entente_bench_mail' >/dev/null
    echo "${PG_ADMIN%/*}/entente_bench_mail"
  fi
}

bench_backend() {
  local b=$1 url rc=0
  url=$(fresh_db "$b")
  echo "== $b"
  echo "$b load_before: $(uptime | sed 's/.*load average/load average/')"
  RUST_LOG=warn /usr/bin/time -f "$b process elapsed_s=%e max_rss_kib=%M user_s=%U sys_s=%S" \
    "$BIN" --database-url "$url" --convene-runs "$RUNS" --councillors "$COUNCILLORS" --fast-per-second "$FAST" \
    --subscribers "$SUBSCRIBERS" --events "$EVENTS" --idle "$IDLE" --parts "$PARTS" \
    >"$OUT/delivery-$b.txt" 2>"$OUT/delivery-$b.progress" || rc=$?
  cat "$OUT/delivery-$b.txt"
  tail -1 "$OUT/delivery-$b.progress"
  echo "$b load_after: $(uptime | sed 's/.*load average/load average/')"
  echo "$b server_log_warnings_errors: $(grep -cE ' (WARN|ERROR) ' "$OUT/delivery-$b.progress" || true)"
  grep -E ' (WARN|ERROR) |panicked' "$OUT/delivery-$b.progress" | sort | uniq -c | sort -rn | head -5 || true
  [ $rc = 0 ] || { echo "bench: $b failed (rc=$rc), see $OUT/delivery-$b.progress:" >&2; tail -5 "$OUT/delivery-$b.progress" >&2; FAILED=1; }
  if [ "$b" = postgres ]; then
    psql "$PG_ADMIN" -qAtc 'DROP DATABASE IF EXISTS entente_bench_mail WITH (FORCE)' >/dev/null 2>&1 || true
  fi
}

FAILED=0
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) ($(free -g | awk '/^Mem:/ {print "free -g: total " $2 ", used " $3 ", available " $7}')), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs), model $(grep -m1 '^model' /proc/cpuinfo | cut -d: -f2 | xargs)); $(psql "$PG_ADMIN" -qAtc 'SHOW server_version' 2>/dev/null | sed 's/^/PostgreSQL /'); $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)'); ulimit -n $(ulimit -n)"
case "$which" in
  sqlite) bench_backend sqlite ;;
  postgres) bench_backend postgres ;;
  *) bench_backend sqlite; bench_backend postgres ;;
esac
exit $FAILED
