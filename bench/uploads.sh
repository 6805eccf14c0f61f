#!/usr/bin/env bash
# Memory of document uploads: the server's peak RSS while 8 clients upload distinct
# 10 MiB PDFs at once, 3 rounds (24 uploads), on a fresh SQLite demo database.
#   bash bench/uploads.sh [BINARY]   (default: a release build of this tree)
# Prints the idle RSS, the peak RSS (VmHWM) after the uploads and their wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=18182
OUT=bench/out
mkdir -p "$OUT"
BIN="${1:-}"
if [ -z "$BIN" ]; then cargo build --release -q; BIN=target/release/entente; fi
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
rm -f "$OUT"/uploads.db*
RUST_LOG=warn "$BIN" serve --demo --database-url "sqlite://$OUT/uploads.db" --bind "127.0.0.1:$PORT" >"$OUT/uploads-server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
hwm() { awk '/^VmHWM/ {print int($2/1024)}' "/proc/$pid/status"; }
rss() { awk '/^VmRSS/ {print int($2/1024)}' "/proc/$pid/status"; }
python3 - "http://127.0.0.1:$PORT" "$pid" <<'PY'
import json, os, sys, time, urllib.request, threading
from datetime import date, timedelta
base, pid = sys.argv[1], sys.argv[2]
def gql(q, v=None, tok=None):
    req = urllib.request.Request(base + "/graphql", json.dumps({"query": q, "variables": v or {}}).encode(),
        {"content-type": "application/json", **({"authorization": "Bearer " + tok} if tok else {})})
    b = json.loads(urllib.request.urlopen(req).read())
    if b.get("errors"): raise SystemExit(f"bench: {b['errors']}")
    return b["data"]
def status(field):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith(field): return int(l.split()[1]) // 1024
tok = gql('mutation{login(email:"secretariat@demo.entente.fr",password:"entente-demo-2026"){token}}')["login"]["token"]
amp = gql('{intercommunality(siren:"200054807"){id}}', tok=tok)["intercommunality"]["id"]
body = gql('mutation($i:CreateBodyInput!){createBody(input:$i){id}}', {"i": {"intercommunalityId": amp, "kind": "WORKING_GROUP", "name": "Groupe", "theme": "Mobilité"}}, tok)["createBody"]["id"]
day = date.today() + timedelta(days=14)
m = gql('mutation($i:CreateMeetingInput!){createMeeting(input:$i){id}}', {"i": {"bodyId": body, "title": "Séance", "startsAt": f"{day}T10:00:00", "endsAt": f"{day}T12:00:00"}}, tok)["createMeeting"]["id"]
q = 'mutation($m:ID!,$f:Upload!){uploadDocument(meetingId:$m,file:$f){sizeBytes}}'
def upload(i):
    content = b"%PDF-1.7\n" + os.urandom(10 * 1024 * 1024 - 9)
    bnd = "----bench%d" % i
    parts = [
        f'--{bnd}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'.encode() + json.dumps({"query": q, "variables": {"m": m, "f": None}}).encode(),
        f'--{bnd}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{{"0":["variables.f"]}}'.encode(),
        f'--{bnd}\r\nContent-Disposition: form-data; name="0"; filename="d{i}.pdf"\r\nContent-Type: application/pdf\r\n\r\n'.encode() + content,
    ]
    data = b"\r\n".join(parts) + f"\r\n--{bnd}--\r\n".encode()
    req = urllib.request.Request(base + "/graphql", data, {"content-type": f"multipart/form-data; boundary={bnd}", "authorization": "Bearer " + tok})
    b = json.loads(urllib.request.urlopen(req).read())
    assert not b.get("errors") and b["data"]["uploadDocument"]["sizeBytes"] == len(content), b
print(f"idle_rss_mib={status('VmRSS')} peak_rss_before_mib={status('VmHWM')}")
t0 = time.perf_counter()
for r in range(3):
    ts = [threading.Thread(target=upload, args=(r * 8 + i,)) for i in range(8)]
    [t.start() for t in ts]; [t.join() for t in ts]
print(f"uploads=24 (8 at once, 10 MiB each) wall_s={time.perf_counter() - t0:.1f} rss_after_mib={status('VmRSS')} peak_rss_mib={status('VmHWM')}")
PY
