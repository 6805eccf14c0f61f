#!/usr/bin/env bash
# Reproducible benchmark of issue #15's figures (policies: politiques publiques co-écrites),
# on this machine, against a release build.
#   bash bench/policies.sh [sqlite|postgres|both]   (default both)
# Per backend, on a fresh database, examples/policy_bench.rs loads the AMP demo, serves the
# app in-process on 127.0.0.1:0 with the response cache off, seeds through the API (89
# mayors invited and signed in, a policy of 200 sections, 5,000 contributions from the 92
# communes with about 2,000 co-signatures and half of them answered, version 2) and times
# the policy view, the comparison of versions, the synthesis (GraphQL, CSV, HTML) and
# search over real HTTP (see the example's header). /usr/bin/time gives the peak RSS of
# the whole process (server and client). Needs psql and, for postgres, a server at
# $BENCH_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/test).
# Tunables: BENCH_POL_CONTRIBUTIONS (5000), BENCH_POL_RUNS (30), BENCH_POL_WORKERS (4).
# Writes the figures to bench/out/policies-<backend>.txt, progress to
# bench/out/policies-<backend>.progress, and prints them.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-both}"
PG_ADMIN="${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}"
N="${BENCH_POL_CONTRIBUTIONS:-5000}"
RUNS="${BENCH_POL_RUNS:-30}"
WORKERS="${BENCH_POL_WORKERS:-4}"
OUT=bench/out
mkdir -p "$OUT"
cargo build --release -q --example policy_bench
BIN="${CARGO_TARGET_DIR:-target}/release/examples/policy_bench"

fresh_db() { # backend -> url
  if [ "$1" = sqlite ]; then
    rm -f "$OUT"/policies.db*; echo "sqlite://$OUT/policies.db?mode=rwc"
  else
    psql "$PG_ADMIN" -qAtc 'DROP DATABASE IF EXISTS entente_bench_pol WITH (FORCE)' >/dev/null 2>&1
    psql "$PG_ADMIN" -qAtc 'CREATE DATABASE entente_bench_pol' >/dev/null
    echo "${PG_ADMIN%/*}/entente_bench_pol"
  fi
}

bench_backend() {
  local b=$1 url rc=0
  url=$(fresh_db "$b")
  echo "== $b"
  RUST_LOG=warn /usr/bin/time -f "$b process elapsed_s=%e max_rss_kib=%M user_s=%U sys_s=%S" \
    "$BIN" --database-url "$url" --contributions "$N" --runs "$RUNS" --workers "$WORKERS" \
    >"$OUT/policies-$b.txt" 2>"$OUT/policies-$b.progress" || rc=$?
  cat "$OUT/policies-$b.txt"
  tail -1 "$OUT/policies-$b.progress"
  [ $rc = 0 ] || { echo "bench: $b failed (rc=$rc), see $OUT/policies-$b.progress:" >&2; tail -5 "$OUT/policies-$b.progress" >&2; FAILED=1; }
  if [ "$b" = postgres ]; then
    psql "$PG_ADMIN" -qAtc 'DROP DATABASE IF EXISTS entente_bench_pol WITH (FORCE)' >/dev/null 2>&1 || true
  fi
}

FAILED=0
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs), model $(grep -m1 '^model' /proc/cpuinfo | cut -d: -f2 | xargs)); $(psql "$PG_ADMIN" -qAtc 'SHOW server_version' 2>/dev/null | sed 's/^/PostgreSQL /'); $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
case "$which" in
  sqlite) bench_backend sqlite ;;
  postgres) bench_backend postgres ;;
  *) bench_backend sqlite; bench_backend postgres ;;
esac
exit $FAILED
