"""Issue #4's figures (referrals / saisines) against a running server with the demo
accounts and all of France imported. Prints one summary line per figure on stdout,
progress on stderr. Exits non-zero if an answer is wrong.
Usage: python3 bench/referrals-bench.py BASE_URL DATABASE_URL SERVER_PID
  [--amp-runs 20] [--national-runs 3] [--outcome-runs 30]

1. openReferral to the 92 AMP communes (TRANSFER_OF_COMPETENCE), over fresh referrals.
2. openReferral of a national consultation (FREE_CONSULTATION, silence NO_RESPONSE,
   decided by QUALIFIED_MAJORITY so that the outcome computes L5211-5 II; every
   commune), fresh referral each run; the server's peak RSS (VmHWM) after it. (The TAAF
   districts and Clipperton have no population figure: they weigh nothing.)
3. referral(id){outcome{...}} over every commune answered. The answers are written by
   SQL straight after opening (the API would need one signed-in mayor per commune): one
   UPDATE sets every addressee of the last national referral SUBMITTED with an opinion
   chosen by commune_id % 4 (FAVOURABLE, FAVOURABLE_WITH_RESERVATIONS, UNFAVOURABLE,
   ABSTENTION), submitted_at copied from the referral's opened_at. The outcome is then
   checked against the same counts computed by SQL.
Times are HTTP round trips measured by this client (same machine, one connection per
request, as bench/meetings-setup.py does); run the server with --response-cache-entries 0
so that every read is computed."""
import argparse, json, statistics, subprocess, sys, time, urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

ap = argparse.ArgumentParser()
ap.add_argument("base")
ap.add_argument("database_url")
ap.add_argument("pid", type=int)
ap.add_argument("--amp-runs", type=int, default=20)
ap.add_argument("--national-runs", type=int, default=3)
ap.add_argument("--outcome-runs", type=int, default=30)
a = ap.parse_args()
URL = a.base + "/graphql"
BACKEND = "sqlite" if a.database_url.startswith("sqlite:") else "postgres"
failed = []


def log(*x):
    print(*x, file=sys.stderr, flush=True)


def out(line):
    print(f"{BACKEND} {line}", flush=True)


def post(query, variables=None, token=None, timeout=120):
    """-> (seconds, http status, decoded body or raw text)."""
    req = urllib.request.Request(URL, json.dumps({"query": query, "variables": variables or {}}).encode(),
                                 {"content-type": "application/json", **({"authorization": "Bearer " + token} if token else {})})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    dt = time.perf_counter() - t0
    try:
        return dt, status, json.loads(raw)
    except ValueError:
        return dt, status, raw.decode(errors="replace")


def gql(query, variables=None, token=None):
    _, status, body = post(query, variables, token)
    if status != 200 or not isinstance(body, dict) or body.get("errors"):
        raise SystemExit(f"bench: {status} {body}")
    return body["data"]


def sql(statement):
    """Runs one statement with the database's own client; -> rows as lists of strings."""
    if BACKEND == "sqlite":
        path = a.database_url.split("://", 1)[1].split("?", 1)[0]
        cmd = ["sqlite3", "-bail", "-separator", "|", path, statement]
    else:
        cmd = ["psql", a.database_url, "-v", "ON_ERROR_STOP=1", "-qAt", "-F", "|", "-c", statement]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return [l.split("|") for l in res.stdout.splitlines() if l]


def proc_kib(key):
    with open(f"/proc/{a.pid}/status") as f:
        for l in f:
            if l.startswith(key + ":"):
                return int(l.split()[1])


def mib(key):
    return proc_kib(key) // 1024


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]  # nearest rank


def met(ok):
    return "met" if ok else "NOT MET"


def ms(s):
    return f"{s * 1000:.1f}"


def login(email):
    return gql('mutation($e:String!,$p:String!){login(email:$e,password:$p){token}}',
               {"e": email, "p": "entente-demo-2026"})["login"]["token"]


CREATE = 'mutation($e:ID,$p:Procedure!,$i:ReferralInput!){createReferral(intercommunalityId:$e,procedure:$p,input:$i){id version}}'
OPEN = 'mutation($id:ID!,$v:Int!){openReferral(id:$id,expectedVersion:$v){id status version deadline}}'
PROGRESS = 'query($id:ID!){referral(id:$id){status progress{addressees submitted drafts responseRate}}}'
OUTCOME = ('query($id:ID!){referral(id:$id){outcome{final communes population verdict message '
           'counts{position communes population communeShare populationShare} '
           'qualifiedMajority{reached branch councils favourableCouncils population favourablePopulation}}}}')
FOLLOW_UP = ('query($id:ID!){referral(id:$id){progress{addressees submitted drafts responseRate '
             'pending{inseeCode} byGroup{name addressees submitted}}}}')


def open_timed(token, create_vars):
    """Creates a draft then times openReferral alone. -> (seconds, id, error or None)."""
    r = gql(CREATE, create_vars, token)["createReferral"]
    dt, status, body = post(OPEN, {"id": r["id"], "v": r["version"]}, token)
    if status != 200 or not isinstance(body, dict) or body.get("errors") or body["data"]["openReferral"]["status"] != "OPEN":
        return dt, r["id"], f"HTTP {status}: {json.dumps(body, ensure_ascii=False)[:2000] if isinstance(body, dict) else body[:2000]}"
    return dt, r["id"], None


def check_progress(token, rid, expected):
    p = gql(PROGRESS, {"id": rid}, token)["referral"]["progress"]
    if p["addressees"] != expected:
        failed.append(f"referral {rid}: progress.addressees={p['addressees']}, expected {expected}")
    return p


secretariat = login("secretariat@demo.entente.fr")
admin = login("admin@demo.entente.fr")
amp = gql('{intercommunality(siren:"200054807"){id communes(first:100){totalCount}}}', token=secretariat)["intercommunality"]
amp_members = amp["communes"]["totalCount"]
france = gql('{communes{totalCount}}', token=admin)["communes"]["totalCount"]
db_communes = int(sql("SELECT count(*) FROM commune")[0][0])
out(f"setup amp_members={amp_members} communes_api={france} communes_db={db_communes}")
if amp_members != 92:
    failed.append(f"AMP has {amp_members} member communes, expected 92")

# ---- 1. opening to the 92 AMP communes ---------------------------------------------------
log(f"-- openReferral, AMP ({a.amp_runs} fresh referrals)")
times, rid = [], None
for n in range(a.amp_runs):
    dt, rid, err = open_timed(secretariat, {"e": amp["id"], "p": "TRANSFER_OF_COMPETENCE",
                                            "i": {"title": f"Transfert de la compétence mobilité {n + 1}"}})
    if err:
        failed.append(f"AMP open #{n + 1}: {err}")
        log(f"AMP open #{n + 1} failed: {err}")
        continue
    times.append(dt)
if times:
    check_progress(secretariat, rid, amp_members)
    o = gql(OUTCOME, {"id": rid}, secretariat)["referral"]["outcome"]
    if o["communes"] != amp_members:
        failed.append(f"AMP outcome.communes={o['communes']}, expected {amp_members}")
    out(f"open_amp_92 runs={len(times)} median_ms={ms(statistics.median(times))} max_ms={ms(max(times))} "
        f"min_ms={ms(min(times))} (target < 200 ms: {met(max(times) < 0.2)}) check: addressees={amp_members} outcome.communes={o['communes']}")
out(f"rss_after_amp_mib={mib('VmRSS')} peak_rss_mib={mib('VmHWM')}")

# ---- 2. national consultation ------------------------------------------------------------
deadline = (date.today() + timedelta(days=61)).isoformat()
log(f"-- openReferral, national consultation ({a.national_runs} fresh referrals, {france} communes)")
times, national = [], None
for n in range(a.national_runs):
    dt, rid, err = open_timed(admin, {"e": None, "p": "FREE_CONSULTATION",
                                      "i": {"title": f"Consultation nationale {n + 1}", "silence": "NO_RESPONSE", "decision": "QUALIFIED_MAJORITY",
                                            "deadlineDate": deadline}})
    log(f"national open #{n + 1}: {ms(dt)} ms" + (f" ERROR {err}" if err else ""))
    if err:
        failed.append(f"national open #{n + 1} ({ms(dt)} ms): {err}")
        continue
    times.append(dt)
    national = rid
if times:
    p = check_progress(admin, national, db_communes)
    out(f"open_national runs={len(times)} each_s={','.join(f'{t:.2f}' for t in times)} median_s={statistics.median(times):.2f} "
        f"max_s={max(times):.2f} (target < 5 s: {met(max(times) < 5)}) check: addressees={p['addressees']}")
else:
    out("open_national FAILED on every run (see errors below)")
out(f"rss_after_national_mib={mib('VmRSS')} peak_rss_mib={mib('VmHWM')}")

# ---- 3. the outcome over every commune answered ------------------------------------------
if national is None:
    out("outcome skipped: no national referral could be opened")
else:
    # The last national referral opened: the newest open one without an intercommunality.
    (db_id,) = sql("SELECT max(id) FROM referral WHERE intercommunality_id IS NULL AND status = 'OPEN'")[0]
    (status, n_rows) = sql(f"SELECT min(r.status), count(*) FROM referral r JOIN referral_addressee a ON a.referral_id = r.id WHERE r.id = {int(db_id)}")[0]
    if status != "OPEN" or int(n_rows) != db_communes:
        raise SystemExit(f"bench: referral {db_id} is {status} with {n_rows} addressees, expected OPEN with {db_communes}")
    mix = ("CASE commune_id % 4 WHEN 0 THEN 'FAVOURABLE' WHEN 1 THEN 'FAVOURABLE_WITH_RESERVATIONS' "
           "WHEN 2 THEN 'UNFAVOURABLE' ELSE 'ABSTENTION' END")
    t0 = time.perf_counter()
    sql(f"UPDATE referral_addressee SET status = 'SUBMITTED', opinion = {mix}, "
        f"submitted_at = (SELECT opened_at FROM referral WHERE id = {int(db_id)}) WHERE referral_id = {int(db_id)}")
    log(f"filled {n_rows} responses by SQL in {time.perf_counter() - t0:.2f} s")
    expected = {op: (int(c), int(pop)) for op, c, pop in sql(
        f"SELECT opinion, count(*), coalesce(sum(population), 0) FROM referral_addressee WHERE referral_id = {int(db_id)} GROUP BY opinion")}
    total_pop = sum(p for _, p in expected.values())

    o = gql(OUTCOME, {"id": national}, admin)["referral"]["outcome"]
    got = {c["position"]: (c["communes"], c["population"]) for c in o["counts"] if c["communes"]}
    if o["communes"] != db_communes or o["population"] != total_pop or got != expected:
        failed.append(f"outcome: communes={o['communes']} population={o['population']} counts={got}; "
                      f"expected communes={db_communes} population={total_pop} counts={expected}")
    pr = check_progress(admin, national, db_communes)
    if pr["submitted"] != db_communes:
        failed.append(f"progress.submitted={pr['submitted']}, expected {db_communes}")
    qm = o["qualifiedMajority"] or {}
    out(f"outcome_check communes={o['communes']} population={o['population']} final={o['final']} verdict={o['verdict']} "
        f"counts={','.join(f'{k}:{v[0]}' for k, v in sorted(got.items()))} qualified_majority={qm.get('reached') if qm else 'none'} "
        f"progress.addressees={pr['addressees']} submitted={pr['submitted']} ({'ok' if not failed else 'WRONG'})")

    def timed(query, token):
        dt, status, body = post(query, {"id": national}, token)
        if status != 200 or not isinstance(body, dict) or body.get("errors"):
            raise SystemExit(f"bench: {status} {body}")
        return dt

    for _ in range(3):
        timed(OUTCOME, admin)  # warm-up
    seq = [timed(OUTCOME, admin) for _ in range(a.outcome_runs)]
    out(f"outcome_{db_communes} sequential runs={len(seq)} median_ms={ms(statistics.median(seq))} "
        f"p95_ms={ms(pct(seq, 95))} max_ms={ms(max(seq))} (target < 100 ms: {met(statistics.median(seq) < 0.1)} for the median, "
        f"{met(pct(seq, 95) < 0.1)} for p95)")
    with ThreadPoolExecutor(4) as ex:
        t0 = time.perf_counter()
        par = list(ex.map(lambda _: timed(OUTCOME, admin), range(a.outcome_runs * 2)))
        wall = time.perf_counter() - t0
    out(f"outcome_{db_communes} 4_clients requests={len(par)} rps={len(par) / wall:.1f} median_ms={ms(statistics.median(par))} "
        f"p95_ms={ms(pct(par, 95))} max_ms={ms(max(par))}")
    fu = [timed(FOLLOW_UP, admin) for _ in range(10)]
    out(f"progress_{db_communes} (follow-up by département, not a target) sequential runs={len(fu)} "
        f"median_ms={ms(statistics.median(fu))} max_ms={ms(max(fu))}")
out(f"rss_end_mib={mib('VmRSS')} peak_rss_mib={mib('VmHWM')}")

for f in failed:
    out(f"ERROR {f}")
sys.exit(1 if failed else 0)
