"""Prepares the meeting-view benchmark on a demo server and times convening the
93-member conference of mayors. Prints `TOKEN=... MEETING=...` and the convene timings.
Usage: python3 bench/meetings-setup.py http://127.0.0.1:18181 [convene_runs]"""
import json, statistics, sys, time, urllib.request
from datetime import date, timedelta

url = sys.argv[1] + "/graphql"
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20

def gql(query, variables=None, token=None):
    req = urllib.request.Request(url, json.dumps({"query": query, "variables": variables or {}}).encode(),
                                 {"content-type": "application/json", **({"authorization": "Bearer " + token} if token else {})})
    body = json.loads(urllib.request.urlopen(req).read())
    if body.get("errors"):
        raise SystemExit(f"bench setup: {body['errors']}")
    return body["data"]

tok = gql('mutation{login(email:"secretariat@demo.entente.fr",password:"entente-demo-2026"){token}}')["login"]["token"]
amp = gql('{intercommunality(siren:"200054807"){id}}', token=tok)["intercommunality"]["id"]
body = gql('mutation($i:CreateBodyInput!){createBody(input:$i){id}}',
           {"i": {"intercommunalityId": amp, "kind": "CONFERENCE_OF_MAYORS", "name": "Conférence métropolitaine des maires"}}, tok)["createBody"]["id"]
day = date.today() + timedelta(days=14)
timings, meeting = [], None
for n in range(runs):
    m = gql('mutation($i:CreateMeetingInput!){createMeeting(input:$i){id version}}',
            {"i": {"bodyId": body, "title": f"Séance plénière {n + 1}", "startsAt": f"{day}T10:00:00", "endsAt": f"{day}T12:00:00"}}, tok)["createMeeting"]
    for k, t in [("INFORMATION", "Ouverture"), ("DEBATE", "Pacte de gouvernance"), ("OPINION", "Avis sur le PDU")]:
        gql('mutation($i:AddAgendaItemInput!){addAgendaItem(input:$i){id}}',
            {"i": {"meetingId": m["id"], "kind": k, "title": t, "note": "Note explicative de synthèse."}}, tok)
    t0 = time.perf_counter()
    c = gql('mutation($id:ID!,$v:Int!){conveneMeeting(id:$id,expectedVersion:$v){convocations{person{id}}}}',
            {"id": m["id"], "v": m["version"]}, tok)["conveneMeeting"]
    timings.append((time.perf_counter() - t0) * 1000)
    assert len(c["convocations"]) == 93, len(c["convocations"])
    meeting = m["id"]
people = [x["person"]["id"] for x in c["convocations"]]
rows = [{"personId": p, "status": "PRESENT" if i % 7 else "EXCUSED"} for i, p in enumerate(people)]
gql('mutation($m:ID!,$r:[AttendanceInput!]!){recordAttendance(meetingId:$m,rows:$r)}', {"m": meeting, "r": rows}, tok)
timings.sort()
print(f"convene_93_members runs={runs} median_ms={statistics.median(timings):.1f} max_ms={timings[-1]:.1f} (HTTP round trip, client on the same machine)", file=sys.stderr)
print(f"TOKEN={tok} MEETING={meeting}")
