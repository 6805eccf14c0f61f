#!/usr/bin/env python3
"""Helper of bench/cache-invalidation.sh (issue 14, defect 8).

  setup URL STATE     signs in the secretariat, gives each of AMP's 92 mayors an account
                      (an invitation accepted through the API; the demo's mayors sign in),
                      finds the demo's open governance pact and writes what the writers
                      need to STATE (JSON); prints `TOKEN=...` (the secretariat's) for eval.
  write URL STATE RATE SECONDS
                      saves response drafts on the pact, the mayors taking turns, at RATE
                      writes/s in total for SECONDS; prints one BENCH line (writes done,
                      achieved rate, failures). Any failure makes the exit status 1.
Standard library only."""
import json
import sys
import time
import urllib.request

PASSWORD = "entente-demo-2026"
AMP_SIREN = "200054807"


def gql(url, query, variables=None, token=None):
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(url + "/graphql", data=body, headers={"content-type": "application/json"})
    if token:
        req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def data(resp, what):
    if resp.get("errors"):
        raise SystemExit(f"bench: {what} failed: {json.dumps(resp)[:400]}")
    return resp["data"]


def login(url, email, password=PASSWORD):
    q = "mutation($e:String!,$p:String!){login(email:$e,password:$p){token}}"
    return data(gql(url, q, {"e": email, "p": password}), f"login {email}")["login"]["token"]


def setup(url, state_file):
    sec = login(url, "secretariat@demo.entente.fr")
    q = ("{intercommunality(siren:\"%s\"){communes(first:100){edges{node{id inseeCode name "
         "currentMayor{person{id email}}}}}}}" % AMP_SIREN)
    communes = [e["node"] for e in data(gql(url, q, token=sec), "AMP communes")["intercommunality"]["communes"]["edges"]]
    # A connection since issue 14's keyset paging; a plain list before (to measure c0ac602).
    r = gql(url, "{referrals(first:500){nodes{id title status}}}", token=sec)
    if r.get("errors"):
        refs = data(gql(url, "{referrals{id title status}}", token=sec), "referrals")["referrals"]
    else:
        refs = data(r, "referrals")["referrals"]["nodes"]
    pact = next(r["id"] for r in refs if r["title"].startswith("Pacte") and r["status"] == "OPEN")
    invite = "mutation($i:InviteAccountInput!){inviteAccount(input:$i){token}}"
    accept = "mutation($t:String!,$p:String!){acceptInvitation(token:$t,password:$p){token}}"
    resp_q = "query($id:ID!,$c:ID!){referral(id:$id){response(communeId:$c){status version}}}"
    writers = []
    for c in communes:
        mayor = c["currentMayor"]["person"]
        email = f"maire.{c['inseeCode']}@bench.entente.example"
        r = gql(url, invite, {"i": {"personId": mayor["id"], "email": email, "role": "MEMBER"}}, sec)
        if r.get("errors"):
            # The demo's mayors with an account already: they sign in.
            demo = {"13055": "marseille", "13001": "aix", "13022": "cassis"}.get(c["inseeCode"])
            if not demo:
                raise SystemExit(f"bench: inviting the mayor of {c['name']} failed: {json.dumps(r)[:300]}")
            token = login(url, f"maire.{demo}@demo.entente.fr")
        else:
            t = data(r, "invite")["inviteAccount"]["token"]
            token = data(gql(url, accept, {"t": t, "p": PASSWORD + "-bench"}), "accept")["acceptInvitation"]["token"]
        resp = data(gql(url, resp_q, {"id": pact, "c": c["id"]}, token), "response")["referral"]["response"]
        if resp["status"] in ("PENDING", "DRAFT"):
            writers.append({"token": token, "commune": c["id"], "version": resp["version"]})
    with open(state_file, "w") as f:
        json.dump({"pact": pact, "writers": writers}, f)
    print(f"TOKEN={sec}")
    print(f"bench: {len(writers)} mayors' accounts ready to draft on the pact", file=sys.stderr)


def write(url, state_file, rate, seconds):
    with open(state_file) as f:
        st = json.load(f)
    q = "mutation($i:ResponseInput!){saveResponseDraft(input:$i){version}}"
    writers, pact = st["writers"], st["pact"]
    done = failed = 0
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        due = start + i / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        w = writers[i % len(writers)]
        i += 1
        inp = {"referralId": pact, "communeId": w["commune"], "expectedVersion": w["version"],
               "opinion": "FAVOURABLE", "reasons": f"Brouillon {i}."}
        try:
            r = gql(url, q, {"i": inp}, w["token"])
            if r.get("errors"):
                failed += 1
                if failed <= 3:
                    print("bench: draft failed:", json.dumps(r)[:300], file=sys.stderr)
            else:
                w["version"] = r["data"]["saveResponseDraft"]["version"]
                done += 1
        except Exception as e:  # noqa: BLE001 - counted and reported
            failed += 1
            print("bench: draft failed:", e, file=sys.stderr)
    elapsed = time.monotonic() - start
    with open(state_file, "w") as f:
        json.dump(st, f)
    print(f"BENCH writes={done} writes_per_s={done / elapsed:.2f} failed={failed} seconds={elapsed:.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1] == "setup":
        setup(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "write":
        sys.exit(write(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])))
    else:
        raise SystemExit(__doc__)
