//! Bodies and meetings through the API: notice and urgency, membership following
//! mandates, quorum with proxies, arrivals and departures, second convocation, votes
//! (casting vote, weighted tally), minutes, mayors' requests, documents, iCalendar.
use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};

use crate::helpers::{code, ok, wide_batches, TestApp, DEMO_PASSWORD};

pub fn today() -> NaiveDate {
    entente::time::today_paris()
}

/// A Paris wall-clock time `days` from today at `hour`:00.
pub fn paris_in(days: i64, hour: u32) -> String {
    format!("{}T{hour:02}:00:00", today() + Duration::days(days))
}

pub async fn create_body(app: &TestApp, tok: &str, kind: &str, name: &str) -> String {
    let amp = app.epci_id(tok, "200054807").await;
    let theme = (kind == "WORKING_GROUP").then_some("Mobilités");
    let r = app
        .gql(
            Some(tok),
            "mutation($i:CreateBodyInput!){createBody(input:$i){id}}",
            json!({"i": {"intercommunalityId": amp, "kind": kind, "name": name, "theme": theme}}),
        )
        .await;
    ok(&r)["createBody"]["id"].as_str().unwrap().to_string()
}

/// A draft meeting `days` ahead at 10:00-12:00 Paris; returns its ID.
pub async fn create_meeting(app: &TestApp, tok: &str, body: &str, days: i64) -> String {
    let r = app
        .gql(
            Some(tok),
            "mutation($i:CreateMeetingInput!){createMeeting(input:$i){id status}}",
            json!({"i": {"bodyId": body, "title": format!("Séance J+{days}"), "startsAt": paris_in(days, 10), "endsAt": paris_in(days, 12)}}),
        )
        .await;
    assert_eq!(ok(&r)["createMeeting"]["status"], "DRAFT");
    r["data"]["createMeeting"]["id"].as_str().unwrap().to_string()
}

pub async fn add_item(app: &TestApp, tok: &str, meeting: &str, kind: &str, title: &str) -> String {
    let r = app
        .gql(
            Some(tok),
            "mutation($i:AddAgendaItemInput!){addAgendaItem(input:$i){id position}}",
            json!({"i": {"meetingId": meeting, "kind": kind, "title": title, "note": format!("Note de synthèse : {title}")}}),
        )
        .await;
    ok(&r)["addAgendaItem"]["id"].as_str().unwrap().to_string()
}

pub async fn version(app: &TestApp, tok: &str, meeting: &str) -> i64 {
    let r = app.gql(Some(tok), "query($id:ID!){meeting(id:$id){version}}", json!({"id": meeting})).await;
    ok(&r)["meeting"]["version"].as_i64().unwrap()
}

pub const CONVENE: &str =
    "mutation($id:ID!,$v:Int!,$u:String){conveneMeeting(id:$id,expectedVersion:$v,urgencyReason:$u){status convenedAt sequence convocations{person{id} seat}}}";

pub async fn convene(app: &TestApp, tok: &str, meeting: &str, urgency: Option<&str>) -> Value {
    let v = version(app, tok, meeting).await;
    app.gql(Some(tok), CONVENE, json!({"id": meeting, "v": v, "u": urgency})).await
}

pub async fn transition(app: &TestApp, tok: &str, meeting: &str, status: &str) -> Value {
    if status == "HELD" {
        has_begun(app, meeting).await;
    }
    let v = version(app, tok, meeting).await;
    app.gql(
        Some(tok),
        "mutation($i:TransitionMeetingInput!){transitionMeeting(input:$i){status sequence}}",
        json!({"i": {"id": meeting, "expectedVersion": v, "status": status}}),
    )
    .await
}

/// Moves a meeting's start to a minute ago, as if its hour had come (a meeting is
/// declared held only once it has begun). Straight in the database: the clock, not an
/// edit through the API.
pub async fn has_begun(app: &TestApp, meeting: &str) {
    use entente::meetings::model::meeting as mt;
    use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, QueryFilter};
    let id = entente::ids::decode("id", entente::ids::Kind::Meeting, &async_graphql::ID(meeting.to_string())).unwrap();
    let now = chrono::Utc::now();
    mt::Entity::update_many()
        .col_expr(mt::Column::StartsAt, Expr::value(now - Duration::minutes(1)))
        .col_expr(mt::Column::EndsAt, Expr::value(now + Duration::hours(2)))
        .filter(mt::Column::Id.eq(id))
        .exec(&app.state.db)
        .await
        .unwrap();
}

/// The current mayor's mandate and person IDs of a commune.
pub async fn mayor(app: &TestApp, tok: &str, insee: &str) -> (String, String) {
    let r = app
        .gql(Some(tok), "query($c:String!){commune(inseeCode:$c){currentMayor{id person{id}}}}", json!({"c": insee}))
        .await;
    let m = &ok(&r)["commune"]["currentMayor"];
    (m["id"].as_str().unwrap().to_string(), m["person"]["id"].as_str().unwrap().to_string())
}

/// A working group of AMP: the president animates; the mayors of `insees` are members.
pub async fn working_group(app: &TestApp, sec: &str, insees: &[&str]) -> (String, Vec<String>) {
    let wg = create_body(app, sec, "WORKING_GROUP", "GT Mobilités").await;
    let r =
        app.gql(Some(sec), "{intercommunality(siren:\"200054807\"){president{id role person{id}}}}", json!({})).await;
    let president = ok(&r)["intercommunality"]["president"].clone();
    add_seat(app, sec, &wg, president["id"].as_str().unwrap(), "ANIMATOR").await;
    let mut people = vec![president["person"]["id"].as_str().unwrap().to_string()];
    for insee in insees {
        let (m, p) = mayor(app, sec, insee).await;
        add_seat(app, sec, &wg, &m, "MEMBER").await;
        people.push(p);
    }
    (wg, people)
}

pub async fn add_seat(app: &TestApp, tok: &str, body: &str, mandate: &str, role: &str) -> Value {
    let r = app
        .gql(
            Some(tok),
            "mutation($i:AddSeatInput!){addBodySeat(input:$i){id role version}}",
            json!({"i": {"bodyId": body, "mandateId": mandate, "role": role, "startDate": today().to_string()}}),
        )
        .await;
    ok(&r)["addBodySeat"].clone()
}

#[tokio::test]
async fn convening_checks_notice_and_urgency() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let conf = create_body(&app, &sec, "CONFERENCE_OF_MAYORS", "Conférence métropolitaine des maires").await;
    let r = app.gql(Some(&sec), "query($id:ID!){node(id:$id){... on Body{rules{noticeClearDays urgencyClearDays noteRequired legalSource} members{role}}}}", json!({"id": conf})).await;
    let body = &ok(&r)["node"];
    assert_eq!(body["rules"]["noticeClearDays"], 5);
    assert!(body["rules"]["legalSource"].as_str().unwrap().contains("L5211-11-3"));
    // The president and the 92 mayors, derived from mandates.
    assert_eq!(body["members"].as_array().unwrap().len(), 93);

    // In 3 days: 2 clear days, short of 5.
    let m = create_meeting(&app, &sec, &conf, 3).await;
    let before = app.audit_count().await;
    let r = convene(&app, &sec, &m, None).await;
    assert_eq!(code(&r), "VALIDATION", "a convocation lists the agenda: {r}");
    add_item(&app, &sec, &m, "DEBATE", "Pacte de gouvernance").await;
    let r = convene(&app, &sec, &m, None).await;
    assert_eq!(code(&r), "NOTICE_TOO_SHORT", "{r}");
    let latest = (today() + Duration::days(3) - Duration::days(6)).to_string();
    assert!(r["errors"][0]["message"].as_str().unwrap().contains(&latest), "{r}");
    assert_eq!(app.audit_count().await, before + 1, "only the agenda item was written");
    // Urgency with its reason: 1 clear day suffices.
    let r = convene(&app, &sec, &m, Some("Avis requis avant le conseil du 30")).await;
    let c = &ok(&r)["conveneMeeting"];
    assert_eq!(c["status"], "CONVENED");
    assert_eq!(c["convocations"].as_array().unwrap().len(), 93);
    // Tomorrow: not even 1 clear day, urgency or not.
    let m2 = create_meeting(&app, &sec, &conf, 1).await;
    add_item(&app, &sec, &m2, "DEBATE", "Point urgent").await;
    let r = convene(&app, &sec, &m2, Some("urgence")).await;
    assert_eq!(code(&r), "NOTICE_TOO_SHORT", "{r}");
    // 10 days ahead: normal notice; Cassis's mayor asked for paper.
    let m3 = create_meeting(&app, &sec, &conf, 10).await;
    add_item(&app, &sec, &m3, "INFORMATION", "Calendrier").await;
    let (_, cassis) = mayor(&app, &sec, "13022").await;
    let v = version(&app, &sec, &m3).await;
    let r = app
        .gql(Some(&sec), "mutation($id:ID!,$v:Int!,$p:[ID!]!){conveneMeeting(id:$id,expectedVersion:$v,paperFor:$p){convocations{person{id} channel}}}", json!({"id": m3, "v": v, "p": [cassis]}))
        .await;
    let channels: Vec<(String, String)> = ok(&r)["conveneMeeting"]["convocations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["channel"] == "PAPER")
        .map(|c| (c["person"]["id"].as_str().unwrap().to_string(), c["channel"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(channels, vec![(cassis.clone(), "PAPER".to_string())]);
    // The agenda is fixed once convened.
    let r = app
        .gql(
            Some(&sec),
            "mutation($i:AddAgendaItemInput!){addAgendaItem(input:$i){id}}",
            json!({"i": {"meetingId": m3, "kind": "DEBATE", "title": "Tardif", "note": "x"}}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_TRANSITION");
    // A mayor acknowledges reading; the acknowledgement is kept.
    let marseille = app.login_as("maire.marseille@demo.entente.fr").await;
    let r = app
        .gql(
            Some(&marseille),
            "mutation($m:ID!){acknowledgeConvocation(meetingId:$m){readAt sentAt}}",
            json!({"m": m3}),
        )
        .await;
    assert!(ok(&r)["acknowledgeConvocation"]["readAt"].is_string());
    // Someone not convened has no convocation to acknowledge.
    let admin = app.login_as("admin@demo.entente.fr").await;
    let r =
        app.gql(Some(&admin), "mutation($m:ID!){acknowledgeConvocation(meetingId:$m){readAt}}", json!({"m": m3})).await;
    assert_eq!(code(&r), "NOT_FOUND");
    // Drafts are the secretariat's; convened meetings are the members'.
    let r = app.gql(Some(&marseille), "query($id:ID!){meeting(id:$id){title}}", json!({"id": m2})).await;
    assert_eq!(code(&r), "FORBIDDEN");
    ok(&app.gql(Some(&marseille), "query($id:ID!){meeting(id:$id){title}}", json!({"id": m3})).await);
}

#[tokio::test]
async fn a_replaced_mayor_keeps_no_seat_and_the_successor_takes_it() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let conf = create_body(&app, &sec, "CONFERENCE_OF_MAYORS", "Conférence").await;
    let (mandate, outgoing) = mayor(&app, &sec, "13022").await;
    let cassis = app.commune_id(&sec, "13022").await;
    // A Cassis councillor designated by the mayor to a working group.
    let (wg, _) = working_group(&app, &sec, &["13022"]).await;
    let councillor = crate::mandates::person(&app, &sec, "Conseillère", "Cassidaine").await;
    let r = app
        .gql(Some(&sec), crate::mandates::CREATE_MANDATE, json!({"i": {"personId": councillor, "organisationId": cassis, "role": "MUNICIPAL_COUNCILLOR", "startDate": "2026-03-28"}}))
        .await;
    let cm = ok(&r)["createMandate"]["id"].as_str().unwrap().to_string();
    let cassis_mayor = app.login_as("maire.cassis@demo.entente.fr").await;
    let marseille_mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    // Marseille's mayor cannot designate a Cassis councillor; Cassis's can.
    let r = app
        .gql(
            Some(&marseille_mayor),
            "mutation($i:AddSeatInput!){addBodySeat(input:$i){id}}",
            json!({"i": {"bodyId": wg, "mandateId": cm, "role": "MEMBER", "startDate": today().to_string()}}),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN");
    add_seat(&app, &cassis_mayor, &wg, &cm, "MEMBER").await;
    let wg_members = |r: &Value| -> Vec<String> {
        r["data"]["node"]["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["person"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    let q = "query($id:ID!){node(id:$id){... on Body{members{role person{id} commune{inseeCode}} vacantSeats{role commune{inseeCode} lastHolder{id} since}}}}";
    let r = app.gql(Some(&sec), q, json!({"id": wg})).await;
    assert!(wg_members(&r).contains(&councillor), "{r}");
    // Mayors designate to working groups only.
    let commission = create_body(&app, &sec, "COMMISSION", "Commission des finances").await;
    let r = app
        .gql(
            Some(&cassis_mayor),
            "mutation($i:AddSeatInput!){addBodySeat(input:$i){id}}",
            json!({"i": {"bodyId": commission, "mandateId": cm, "role": "MEMBER", "startDate": today().to_string()}}),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    // A plenary convened while the outgoing mayor is in office.
    let before = create_meeting(&app, &sec, &conf, 12).await;
    add_item(&app, &sec, &before, "DEBATE", "Avant l'élection").await;
    ok(&convene(&app, &sec, &before, None).await);

    // The mayor's mandate ends today (exclusive end: no longer mayor today).
    let r = app
        .gql(
            Some(&sec),
            "mutation($i:EndMandateInput!){endMandate(input:$i){id}}",
            json!({"i": {"id": mandate, "expectedVersion": 1, "endDate": today().to_string()}}),
        )
        .await;
    ok(&r);
    let r = app.gql(Some(&sec), q, json!({"id": conf})).await;
    assert!(!wg_members(&r).contains(&outgoing));
    assert_eq!(wg_members(&r).len(), 92);
    let vacant = &r["data"]["node"]["vacantSeats"];
    assert_eq!(vacant.as_array().unwrap().len(), 1, "{r}");
    assert_eq!(vacant[0]["commune"]["inseeCode"], "13022");
    assert_eq!(vacant[0]["lastHolder"]["id"], outgoing.as_str());
    assert_eq!(vacant[0]["since"], today().to_string());
    // The councillor's designation ended with the designating mayor's mandate.
    let r = app.gql(Some(&sec), q, json!({"id": wg})).await;
    assert!(!wg_members(&r).contains(&councillor));
    let vacant: Vec<_> =
        r["data"]["node"]["vacantSeats"].as_array().unwrap().iter().map(|v| v["lastHolder"]["id"].clone()).collect();
    assert!(vacant.contains(&json!(councillor)), "{r}");
    // The outgoing mayor no longer sees the conference.
    let r = app.gql(Some(&cassis_mayor), q, json!({"id": conf})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    // They keep the meeting they were convened to, and nothing else of the body.
    ok(&app.gql(Some(&cassis_mayor), "query($id:ID!){meeting(id:$id){title}}", json!({"id": before})).await);

    // The successor takes office today: the seat is theirs without editing the body.
    let successor = crate::mandates::person(&app, &sec, "Nouvelle", "Mairesse").await;
    let r = app
        .gql(Some(&sec), crate::mandates::CREATE_MANDATE, json!({"i": {"personId": successor, "organisationId": cassis, "role": "MAYOR", "startDate": today().to_string()}}))
        .await;
    ok(&r);
    let r = app.gql(Some(&sec), q, json!({"id": conf})).await;
    assert!(wg_members(&r).contains(&successor));
    assert_eq!(wg_members(&r).len(), 93);
    assert!(r["data"]["node"]["vacantSeats"].as_array().unwrap().is_empty());
    // The convocation goes to the successor.
    let m = create_meeting(&app, &sec, &conf, 10).await;
    add_item(&app, &sec, &m, "DEBATE", "Installation").await;
    let r = convene(&app, &sec, &m, None).await;
    let convened: Vec<_> = ok(&r)["conveneMeeting"]["convocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["person"]["id"].as_str().unwrap().to_string())
        .collect();
    assert!(convened.contains(&successor));
    assert!(!convened.contains(&outgoing));
    let r = app.gql(Some(&cassis_mayor), "query($id:ID!){meeting(id:$id){title}}", json!({"id": m})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
}

/// Records attendance rows: (person, status, arrival, departure).
async fn attendance(app: &TestApp, tok: &str, meeting: &str, rows: &[(&str, &str, Option<i32>, Option<i32>)]) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|(p, s, a, d)| json!({"personId": p, "status": s, "arrivalPosition": a, "departurePosition": d}))
        .collect();
    app.gql(
        Some(tok),
        "mutation($m:ID!,$r:[AttendanceInput!]!){recordAttendance(meetingId:$m,rows:$r)}",
        json!({"m": meeting, "r": rows}),
    )
    .await
}

async fn items(app: &TestApp, tok: &str, meeting: &str) -> Vec<Value> {
    let r = app
        .gql(
            Some(tok),
            "query($id:ID!){meeting(id:$id){agenda{id position version quorum{inOffice present required met}}}}",
            json!({"id": meeting}),
        )
        .await;
    ok(&r)["meeting"]["agenda"].as_array().unwrap().clone()
}

const VOTE: &str = "mutation($i:RecordVoteInput!){recordVote(input:$i){vote{votesFor against abstain result castingVoteUsed secretBallot weighted populationFor populationAgainst} opinionText ballots{person{id} choice castBy{id} population}}}";

#[tokio::test]
async fn quorum_with_proxies_arrivals_and_departures_then_second_convocation() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    // Five members: the president (animator) and four mayors.
    let (wg, p) = working_group(&app, &sec, &["13055", "13001", "13022", "13005"]).await;
    let (a, b, c, d, e) = (&p[0], &p[1], &p[2], &p[3], &p[4]);
    let m = create_meeting(&app, &sec, &wg, 20).await;
    for t in ["Point 1", "Point 2", "Point 3"] {
        add_item(&app, &sec, &m, "VOTE", t).await;
    }
    ok(&convene(&app, &sec, &m, None).await);

    // Proxies: never to oneself; one per holder.
    let proxy = "mutation($i:GiveProxyInput!){giveProxy(input:$i){id holder{id}}}";
    let r = app.gql(Some(&sec), proxy, json!({"i": {"meetingId": m, "giverId": d, "holderId": d}})).await;
    assert_eq!(code(&r), "VALIDATION");
    let r =
        app.gql(Some(&sec), proxy, json!({"i": {"meetingId": m, "giverId": d, "holderId": a, "meetings": 4}})).await;
    assert_eq!(code(&r), "VALIDATION", "at most 3 consecutive meetings: {r}");
    let r = app.gql(Some(&sec), proxy, json!({"i": {"meetingId": m, "giverId": d, "holderId": a}})).await;
    ok(&r);
    let r = app.gql(Some(&sec), proxy, json!({"i": {"meetingId": m, "giverId": e, "holderId": a}})).await;
    assert_eq!(code(&r), "PROXY_REFUSED", "{r}");
    // Marseille's mayor (b) may give their own proxy, not someone else's.
    let marseille = app.login_as("maire.marseille@demo.entente.fr").await;
    let r = app.gql(Some(&marseille), proxy, json!({"i": {"meetingId": m, "giverId": e, "holderId": b}})).await;
    assert_eq!(code(&r), "FORBIDDEN");

    // A present; B remote; C leaves before item 2; D represented by A; E arrives at item 3.
    let r = attendance(
        &app,
        &sec,
        &m,
        &[
            (a, "PRESENT", None, None),
            (b, "REMOTE", None, None),
            (c, "PRESENT", None, Some(2)),
            (d, "REPRESENTED", None, None),
            (e, "PRESENT", Some(3), None),
        ],
    )
    .await;
    assert_eq!(ok(&r)["recordAttendance"], 5);
    let it = items(&app, &sec, &m).await;
    let present: Vec<_> =
        it.iter().map(|i| (i["quorum"]["present"].as_i64().unwrap(), i["quorum"]["met"].as_bool().unwrap())).collect();
    // 5 in office: 3 needed. The proxy giver does not count as present.
    assert_eq!(present, vec![(3, true), (2, false), (3, true)]);
    assert_eq!(it[0]["quorum"]["required"], 3);

    // No vote without quorum at item 2.
    let r = app
        .gql(
            Some(&sec),
            VOTE,
            json!({"i": {"itemId": it[1]["id"], "expectedVersion": 1, "votesFor": 2, "against": 0, "abstain": 0}}),
        )
        .await;
    assert_eq!(code(&r), "QUORUM_NOT_MET", "{r}");
    // Item 3 by roll call: D's vote is cast by A, the proxy holder; C has left.
    let roll = json!([
        {"personId": a, "choice": "FOR"}, {"personId": d, "choice": "FOR"},
        {"personId": b, "choice": "AGAINST"}, {"personId": e, "choice": "ABSTAIN"}
    ]);
    let r =
        app.gql(Some(&sec), VOTE, json!({"i": {"itemId": it[2]["id"], "expectedVersion": 1, "rollCall": roll}})).await;
    let v = &ok(&r)["recordVote"];
    assert_eq!(v["vote"]["votesFor"], 2);
    assert_eq!(v["vote"]["result"], "ADOPTED");
    let by_proxy = v["ballots"].as_array().unwrap().iter().find(|x| x["person"]["id"] == d.as_str()).unwrap();
    assert_eq!(by_proxy["castBy"]["id"], a.as_str());
    let r = app
        .gql(
            Some(&sec),
            VOTE,
            json!({"i": {"itemId": it[2]["id"], "expectedVersion": 2, "rollCall": [{"personId": c, "choice": "FOR"}]}}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "C left before item 2: {r}");
    // Too many votes for those present or represented.
    let r = app
        .gql(
            Some(&sec),
            VOTE,
            json!({"i": {"itemId": it[0]["id"], "expectedVersion": 1, "votesFor": 3, "against": 2, "abstain": 0}}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");

    // The proxy is revocable until the meeting; then D is no longer represented.
    let r = app.gql(Some(&sec), "query($id:ID!){meeting(id:$id){proxies{id giver{id}}}}", json!({"id": m})).await;
    let pid = ok(&r)["meeting"]["proxies"][0]["id"].clone();
    let r = app.gql(Some(&sec), "mutation($id:ID!){revokeProxy(id:$id){revokedAt}}", json!({"id": pid})).await;
    assert!(ok(&r)["revokeProxy"]["revokedAt"].is_string());
    let r = app.gql(Some(&sec), "mutation($id:ID!){revokeProxy(id:$id){revokedAt}}", json!({"id": pid})).await;
    assert_eq!(code(&r), "CONFLICT");
    let r = attendance(&app, &sec, &m, &[(d, "REPRESENTED", None, None)]).await;
    assert_eq!(code(&r), "VALIDATION", "no proxy any more: {r}");

    // Second convocation: the undecided items without quorum (item 2), at least 3 clear days later.
    let second = "mutation($m:ID!,$s:NaiveDateTime!,$e:NaiveDateTime!){secondConvocation(meetingId:$m,startsAt:$s,endsAt:$e){id status agenda{title quorum{required met}} firstConvocation{id}}}";
    let r = app.gql(Some(&sec), second, json!({"m": m, "s": paris_in(22, 10), "e": paris_in(22, 12)})).await;
    assert_eq!(code(&r), "VALIDATION", "only 2 days after the first meeting: {r}");
    let r = app.gql(Some(&sec), second, json!({"m": m, "s": paris_in(25, 10), "e": paris_in(25, 12)})).await;
    let s = &ok(&r)["secondConvocation"];
    assert_eq!(s["status"], "CONVENED");
    assert_eq!(s["firstConvocation"]["id"], m.as_str());
    let agenda = s["agenda"].as_array().unwrap();
    assert_eq!(agenda.len(), 1);
    assert_eq!(agenda[0]["title"], "Point 2");
    // No quorum needed: nobody recorded present, and the vote is still allowed.
    assert_eq!(agenda[0]["quorum"]["required"], 0);
    assert_eq!(agenda[0]["quorum"]["met"], true);
    let sid = s["id"].as_str().unwrap();
    attendance(&app, &sec, sid, &[(a, "PRESENT", None, None), (b, "PRESENT", None, None)]).await;
    let it2 = items(&app, &sec, sid).await;
    // A tie: the president (A, the animator) decides, unless the ballot is secret.
    let r = app
        .gql(
            Some(&sec),
            VOTE,
            json!({"i": {"itemId": it2[0]["id"], "expectedVersion": 1, "votesFor": 1, "against": 1, "abstain": 0}}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "a tie needs the president's vote: {r}");
    let r = app
        .gql(Some(&sec), VOTE, json!({"i": {"itemId": it2[0]["id"], "expectedVersion": 1, "rollCall": [{"personId": a, "choice": "FOR"}, {"personId": b, "choice": "AGAINST"}]}}))
        .await;
    let v = &ok(&r)["recordVote"]["vote"];
    assert_eq!((v["result"].as_str(), v["castingVoteUsed"].as_bool()), (Some("ADOPTED"), Some(true)));
    let r = app
        .gql(Some(&sec), VOTE, json!({"i": {"itemId": it2[0]["id"], "expectedVersion": 2, "votesFor": 1, "against": 1, "abstain": 0, "secretBallot": true, "presidentChoice": "FOR"}}))
        .await;
    let v = &ok(&r)["recordVote"]["vote"];
    assert_eq!((v["result"].as_str(), v["castingVoteUsed"].as_bool()), (Some("REJECTED"), Some(false)));
    // A stale version is refused.
    let r = app
        .gql(
            Some(&sec),
            VOTE,
            json!({"i": {"itemId": it2[0]["id"], "expectedVersion": 2, "votesFor": 2, "against": 0, "abstain": 0}}),
        )
        .await;
    assert_eq!(code(&r), "CONFLICT");
    // Only the secretariat records attendance and votes.
    let president = app.login_as("president@demo.entente.fr").await;
    let r = attendance(&app, &president, sid, &[(a, "PRESENT", None, None)]).await;
    assert_eq!(code(&r), "FORBIDDEN");
}

#[tokio::test]
async fn the_conference_weighs_votes_by_population_and_sends_its_opinions() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let conf = create_body(&app, &sec, "CONFERENCE_OF_MAYORS", "Conférence").await;
    let m = create_meeting(&app, &sec, &conf, 10).await;
    add_item(&app, &sec, &m, "OPINION", "Avis sur le plan de mobilité").await;
    let r = convene(&app, &sec, &m, None).await;
    let people: Vec<String> = ok(&r)["conveneMeeting"]["convocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["person"]["id"].as_str().unwrap().to_string())
        .collect();
    let rows: Vec<(&str, &str, Option<i32>, Option<i32>)> =
        people.iter().map(|p| (p.as_str(), "PRESENT", None, None)).collect();
    ok(&attendance(&app, &sec, &m, &rows).await);
    let it = items(&app, &sec, &m).await;
    assert_eq!(it[0]["quorum"]["inOffice"], 93);
    assert_eq!(it[0]["quorum"]["required"], 47);
    let (_, marseille) = mayor(&app, &sec, "13055").await;
    let (_, aix) = mayor(&app, &sec, "13001").await;
    let (_, cassis) = mayor(&app, &sec, "13022").await;
    let roll = json!([
        {"personId": marseille, "choice": "FOR"}, {"personId": aix, "choice": "AGAINST"}, {"personId": cassis, "choice": "AGAINST"}
    ]);
    // An adopted opinion keeps its text.
    let r = app
        .gql(
            Some(&sec),
            VOTE,
            json!({"i": {"itemId": it[0]["id"], "expectedVersion": 1, "rollCall": roll, "weighted": true}}),
        )
        .await;
    let v = &ok(&r)["recordVote"];
    // By head count: 1 for, 2 against: rejected; the weighted figures are kept beside.
    assert_eq!(v["vote"]["result"], "REJECTED");
    assert_eq!(v["vote"]["populationFor"].as_i64().unwrap(), population(&app, &sec, "13055").await);
    let against = population(&app, &sec, "13001").await + population(&app, &sec, "13022").await;
    assert_eq!(v["vote"]["populationAgainst"].as_i64().unwrap(), against);
    let roll = json!([{"personId": marseille, "choice": "FOR"}, {"personId": aix, "choice": "FOR"}, {"personId": cassis, "choice": "AGAINST"}]);
    let r = app
        .gql(
            Some(&sec),
            VOTE,
            json!({"i": {"itemId": it[0]["id"], "expectedVersion": 2, "rollCall": roll, "weighted": true}}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "adopted without text: {r}");
    let r = app
        .gql(Some(&sec), VOTE, json!({"i": {"itemId": it[0]["id"], "expectedVersion": 2, "rollCall": roll, "weighted": true, "opinionText": "Avis favorable sous réserve du phasage."}}))
        .await;
    assert_eq!(ok(&r)["recordVote"]["vote"]["result"], "ADOPTED");
    assert_eq!(r["data"]["recordVote"]["opinionText"], "Avis favorable sous réserve du phasage.");
    // Held, then published: every municipal councillor of the member communes is told.
    ok(&transition(&app, &sec, &m, "HELD").await);
    ok(&app
        .gql(
            Some(&sec),
            "mutation($m:ID!){publish(meetingId:$m,what:DECISIONS){decisionsPublishedAt}}",
            json!({"m": m}),
        )
        .await);
    let cassis_tok = app.login_as("maire.cassis@demo.entente.fr").await;
    let r = app.gql(Some(&cassis_tok), "{myNotifications(first:500){nodes{kind message}}}", json!({})).await;
    assert!(
        ok(&r)["myNotifications"]["nodes"].as_array().unwrap().iter().any(|n| n["kind"] == "OPINION_ADOPTED"),
        "{r}"
    );
    // Its text is available to every municipal councillor of the member communes.
    let amp = app.epci_id(&sec, "200054807").await;
    let r = app
        .gql(
            Some(&cassis_tok),
            "query($e:ID!){adoptedOpinions(intercommunalityId:$e){title opinionText}}",
            json!({"e": amp}),
        )
        .await;
    assert_eq!(ok(&r)["adoptedOpinions"][0]["opinionText"], "Avis favorable sous réserve du phasage.");
    let admin_person = app.login_as("admin@demo.entente.fr").await;
    ok(&app
        .gql(Some(&admin_person), "query($e:ID!){adoptedOpinions(intercommunalityId:$e){title}}", json!({"e": amp}))
        .await);
    // Weighted tallies are for the conference only.
    let (wg, p) = working_group(&app, &sec, &["13055"]).await;
    let wm = create_meeting(&app, &sec, &wg, 10).await;
    add_item(&app, &sec, &wm, "VOTE", "Point").await;
    ok(&convene(&app, &sec, &wm, None).await);
    attendance(&app, &sec, &wm, &[(&p[0], "PRESENT", None, None), (&p[1], "PRESENT", None, None)]).await;
    let wit = items(&app, &sec, &wm).await;
    let r = app
        .gql(Some(&sec), VOTE, json!({"i": {"itemId": wit[0]["id"], "expectedVersion": 1, "weighted": true, "rollCall": [{"personId": p[0], "choice": "FOR"}]}}))
        .await;
    assert_eq!(code(&r), "VALIDATION");
}

async fn population(app: &TestApp, tok: &str, insee: &str) -> i64 {
    let r =
        app.gql(Some(tok), "query($c:String!){commune(inseeCode:$c){population{value}}}", json!({"c": insee})).await;
    r["data"]["commune"]["population"]["value"].as_i64().unwrap()
}

#[tokio::test]
async fn minutes_are_approved_at_a_later_meeting_then_published_and_lateness_is_listed() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (wg, p) = working_group(&app, &sec, &["13055", "13001"]).await;
    let first = create_meeting(&app, &sec, &wg, 10).await;
    add_item(&app, &sec, &first, "VOTE", "Délibération").await;
    ok(&convene(&app, &sec, &first, None).await);
    let rows: Vec<_> = p.iter().map(|x| (x.as_str(), "PRESENT", None, None)).collect();
    ok(&attendance(&app, &sec, &first, &rows).await);
    let it = items(&app, &sec, &first).await;
    ok(&app
        .gql(
            Some(&sec),
            VOTE,
            json!({"i": {"itemId": it[0]["id"], "expectedVersion": 1, "votesFor": 3, "against": 0, "abstain": 0}}),
        )
        .await);
    ok(&transition(&app, &sec, &first, "HELD").await);
    let v = version(&app, &sec, &first).await;
    let r = app
        .gql(Some(&sec), "mutation($m:ID!,$v:Int!){draftMinutes(meetingId:$m,expectedVersion:$v,text:\"Procès-verbal\"){minutes{status}}}", json!({"m": first, "v": v}))
        .await;
    assert_eq!(ok(&r)["draftMinutes"]["minutes"]["status"], "DRAFT");
    let r = app.gql(Some(&sec), "mutation($m:ID!){publish(meetingId:$m,what:MINUTES){id}}", json!({"m": first})).await;
    assert_eq!(code(&r), "INVALID_TRANSITION", "not approved yet: {r}");
    // The next meeting approves them.
    let next = create_meeting(&app, &sec, &wg, 15).await;
    let r = app
        .gql(Some(&sec), "mutation($i:AddAgendaItemInput!){addAgendaItem(input:$i){id}}", json!({"i": {"meetingId": next, "kind": "MINUTES_APPROVAL", "title": "Approbation du PV", "minutesOfMeetingId": first}}))
        .await;
    let approval = ok(&r)["addAgendaItem"]["id"].as_str().unwrap().to_string();
    ok(&convene(&app, &sec, &next, None).await);
    ok(&attendance(&app, &sec, &next, &rows).await);
    ok(&app
        .gql(
            Some(&sec),
            VOTE,
            json!({"i": {"itemId": approval, "expectedVersion": 1, "votesFor": 3, "against": 0, "abstain": 0}}),
        )
        .await);
    let r =
        app.gql(Some(&sec), "query($id:ID!){meeting(id:$id){minutes{status approvedOn}}}", json!({"id": first})).await;
    assert_eq!(ok(&r)["meeting"]["minutes"]["status"], "APPROVED");
    assert_eq!(r["data"]["meeting"]["minutes"]["approvedOn"], (today() + Duration::days(15)).to_string());
    // Lateness: move the first meeting 10 days into the past (as if it had happened then).
    use entente::meetings::model::meeting as mt;
    use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, QueryFilter};
    let first_id = entente::ids::decode("id", entente::ids::Kind::Meeting, &async_graphql::ID(first.clone())).unwrap();
    mt::Entity::update_many()
        .col_expr(mt::Column::StartsAt, Expr::value(chrono::Utc::now() - Duration::days(10)))
        .col_expr(mt::Column::MinutesApprovedOn, Expr::value(Some(today() - Duration::days(8))))
        .filter(mt::Column::Id.eq(first_id))
        .exec(&app.state.db)
        .await
        .unwrap();
    let amp = app.epci_id(&sec, "200054807").await;
    let r = app
        .gql(
            Some(&sec),
            "query($e:ID!){overduePublications(intercommunalityId:$e){what dueDate meeting{id}}}",
            json!({"e": amp}),
        )
        .await;
    let late: Vec<_> = ok(&r)["overduePublications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["what"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(late, vec!["DECISIONS", "MINUTES"], "{r}");
    ok(&app.gql(Some(&sec), "mutation($m:ID!){publish(meetingId:$m,what:DECISIONS){id}}", json!({"m": first})).await);
    ok(&app
        .gql(
            Some(&sec),
            "mutation($m:ID!){publish(meetingId:$m,what:MINUTES){minutes{status publishedAt}}}",
            json!({"m": first}),
        )
        .await);
    let r =
        app.gql(Some(&sec), "query($e:ID!){overduePublications(intercommunalityId:$e){what}}", json!({"e": amp})).await;
    assert!(ok(&r)["overduePublications"].as_array().unwrap().is_empty());
    // The progress report shows the bodies and their next meetings.
    let report =
        "query($e:ID!){progressReport(intercommunalityId:$e){bodies{body{name} next{id}} awaitingMinutes{id}}}";
    let r = app.gql(Some(&sec), report, json!({"e": amp})).await;
    let pr = &ok(&r)["progressReport"];
    let group = pr["bodies"].as_array().unwrap().iter().find(|b| b["body"]["name"] == "GT Mobilités").unwrap();
    assert_eq!(group["next"]["id"], next.as_str());
    // Once that meeting has started it is no longer next, though no data changed: the
    // answer depends on the hour, so it is not served from the response cache.
    let next_id = entente::ids::decode("id", entente::ids::Kind::Meeting, &async_graphql::ID(next.clone())).unwrap();
    mt::Entity::update_many()
        .col_expr(mt::Column::StartsAt, Expr::value(chrono::Utc::now() - Duration::minutes(1)))
        .filter(mt::Column::Id.eq(next_id))
        .exec(&app.state.db)
        .await
        .unwrap();
    let r = app.gql(Some(&sec), report, json!({"e": amp})).await;
    let bodies = ok(&r)["progressReport"]["bodies"].as_array().unwrap().clone();
    let group = bodies.iter().find(|b| b["body"]["name"] == "GT Mobilités").unwrap();
    assert!(group["next"].is_null(), "{r}");
}

/// Gives accounts to the mayors of the first `n` communes (by INSEE code) and returns
/// their tokens.
async fn mayor_tokens(app: &TestApp, n: usize) -> Vec<String> {
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let db = &app.state.db;
    let hash = app.state.hasher.hash("mayor passphrase 2026").await.unwrap();
    let mayors = entente::people::model::mandate::Entity::find()
        .filter(entente::people::model::mandate::Column::Role.eq("MAYOR"))
        .filter(entente::people::model::mandate::Column::EndDate.is_null())
        .order_by_asc(entente::people::model::mandate::Column::CommuneId)
        .all(db)
        .await
        .unwrap();
    let mut tokens = Vec::new();
    for m in mayors.iter().take(n) {
        let email = format!("maire.{}@test.entente.fr", m.commune_id.unwrap());
        let existing = entente::auth::model::account::Entity::find()
            .filter(entente::auth::model::account::Column::PersonId.eq(m.person_id))
            .one(db)
            .await
            .unwrap();
        let email = match existing {
            Some(a) => {
                // A demo account: its password is the demo one.
                tokens.push(app.login(&a.email, DEMO_PASSWORD).await.unwrap());
                continue;
            }
            None => email,
        };
        entente::auth::service::new_account(
            m.person_id,
            &email,
            Some(hash.clone()),
            entente::auth::PlatformRole::Member,
            None,
        )
        .insert(db)
        .await
        .unwrap();
        tokens.push(app.login(&email, "mayor passphrase 2026").await.unwrap());
    }
    tokens
}

#[tokio::test]
async fn a_third_of_the_mayors_grant_a_request_at_most_four_times_a_year() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let conf = create_body(&app, &sec, "CONFERENCE_OF_MAYORS", "Conférence").await;
    let mayors = mayor_tokens(&app, 31).await;
    let create = "mutation($b:ID!){createMeetingRequest(bodyId:$b,agenda:\"Transports\"){id status signatures signaturesNeeded}}";
    let sign = "mutation($id:ID!){signMeetingRequest(id:$id){status signatures dueDate refusalReason}}";
    // The secretariat is no mayor.
    let r = app.gql(Some(&sec), create, json!({"b": conf})).await;
    assert_eq!(code(&r), "FORBIDDEN");
    for round in 1..=5 {
        let r = app.gql(Some(&mayors[0]), create, json!({"b": conf})).await;
        let req = &ok(&r)["createMeetingRequest"];
        assert_eq!(req["signaturesNeeded"], 31);
        let id = req["id"].as_str().unwrap().to_string();
        if round == 1 {
            // Readable by the conference's members and secretariat, not by others.
            let dgs = app.login_as("dgs.marseille@demo.entente.fr").await;
            let read = "query($id:ID!){meetingRequest(id:$id){status}}";
            assert_eq!(code(&app.gql(Some(&dgs), read, json!({"id": id})).await), "FORBIDDEN");
            ok(&app.gql(Some(&sec), read, json!({"id": id})).await);
        }
        // A mayor signs once.
        let r = app.gql(Some(&mayors[0]), sign, json!({"id": id})).await;
        assert_eq!(code(&r), "CONFLICT");
        for (i, t) in mayors.iter().enumerate().skip(1) {
            let r = app.gql(Some(t), sign, json!({"id": id})).await;
            let s = &ok(&r)["signMeetingRequest"];
            assert_eq!(s["signatures"], i as i64 + 1);
            if i < 30 {
                assert_eq!(s["status"], "OPEN", "30 signatures are not enough");
            } else if round <= 4 {
                assert_eq!(s["status"], "GRANTED");
                assert_eq!(s["dueDate"], (today() + Duration::days(30)).to_string());
            } else {
                assert_eq!(s["status"], "REFUSED", "{r}");
                assert!(s["refusalReason"].as_str().unwrap().contains("4 requests"), "{r}");
            }
        }
    }
}

pub async fn upload(app: &TestApp, tok: &str, meeting: &str, name: &str, bytes: Vec<u8>) -> Value {
    let ops = json!({
        "query": "mutation($m:ID!,$f:Upload!){uploadDocument(meetingId:$m,file:$f){id filename mediaType sizeBytes sha256 addedAfterConvocation downloadPath}}",
        "variables": {"m": meeting, "f": null}
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", ops.to_string())
        .text("map", json!({"0": ["variables.f"]}).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()).mime_str("application/pdf").unwrap(),
        );
    let resp = app.client.post(app.url("/graphql")).bearer_auth(tok).multipart(form).send().await.unwrap();
    resp.json().await.unwrap()
}

#[tokio::test]
async fn documents_are_hashed_and_downloaded_only_by_those_who_see_the_meeting() {
    let app = TestApp::demo_with(|c| c.limits.document_bytes = 64 * 1024).await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let conf = create_body(&app, &sec, "CONFERENCE_OF_MAYORS", "Conférence").await;
    let m = create_meeting(&app, &sec, &conf, 10).await;
    add_item(&app, &sec, &m, "DEBATE", "Budget").await;
    let content = b"%PDF-1.4 note de synthese".to_vec();
    let r = upload(&app, &sec, &m, "../../note.pdf", content.clone()).await;
    let d = ok(&r)["uploadDocument"].clone();
    use sha2::Digest;
    assert_eq!(d["sha256"], hex::encode(sha2::Sha256::digest(&content)));
    assert_eq!(d["filename"], "note.pdf");
    assert_eq!(d["sizeBytes"], content.len());
    assert_eq!(d["addedAfterConvocation"], false);
    let path = d["downloadPath"].as_str().unwrap().to_string();
    let marseille = app.login_as("maire.marseille@demo.entente.fr").await;
    let get = |tok: Option<String>| {
        let mut req = app.client.get(app.url(&path));
        if let Some(t) = tok {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    // A draft's documents are the secretariat's.
    assert_eq!(get(Some(marseille.clone())).await.unwrap().status(), 403);
    assert_eq!(get(None).await.unwrap().status(), 401);
    let own = get(Some(sec.clone())).await.unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(own.bytes().await.unwrap().to_vec(), content);
    ok(&convene(&app, &sec, &m, None).await);
    let got = get(Some(marseille.clone())).await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "application/pdf");
    assert_eq!(got.bytes().await.unwrap().to_vec(), content);
    // Added after convening: timestamped, and members are told.
    let r = upload(&app, &sec, &m, "annexe.pdf", b"%PDF-1.4 annexe".to_vec()).await;
    assert_eq!(ok(&r)["uploadDocument"]["addedAfterConvocation"], true);
    let r = app.gql(Some(&marseille), "{myNotifications{nodes{kind}}}", json!({})).await;
    assert_eq!(ok(&r)["myNotifications"]["nodes"][0]["kind"], "DOCUMENT_ADDED");
    // Too big: refused, nothing stored.
    let before = app.audit_count().await;
    let r = upload(&app, &sec, &m, "big.pdf", vec![b'x'; 65 * 1024]).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert_eq!(app.audit_count().await, before);
    // Large multipart bodies only from signed-in clients.
    let form = reqwest::multipart::Form::new().text("operations", "{}").text("map", "{}");
    let resp = app.client.post(app.url("/graphql")).multipart(form).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    // Members upload nothing.
    let r = upload(&app, &marseille, &m, "x.pdf", b"x".to_vec()).await;
    assert_eq!(code(&r), "FORBIDDEN");
}

#[tokio::test]
async fn calendar_feeds_carry_changes_and_cancellations() {
    use ical::parser::ical::component::IcalCalendar;
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let conf = create_body(&app, &sec, "CONFERENCE_OF_MAYORS", "Conférence métropolitaine des maires").await;
    let m = create_meeting(&app, &sec, &conf, 10).await;
    add_item(&app, &sec, &m, "DEBATE", "Pacte de gouvernance").await;
    ok(&convene(&app, &sec, &m, None).await);
    let marseille = app.login_as("maire.marseille@demo.entente.fr").await;
    let r = app.gql(Some(&marseille), "mutation{createCalendarFeed{path}}", json!({})).await;
    let path = ok(&r)["createCalendarFeed"]["path"].as_str().unwrap().to_string();
    let parse = |text: String| -> IcalCalendar {
        ical::IcalParser::new(std::io::BufReader::new(text.as_bytes())).next().expect("one calendar").expect("parses")
    };
    // Our meeting's event (the demo's own plenary is in the feed too).
    let uid = format!(
        "meeting-{}@entente",
        entente::ids::decode("id", entente::ids::Kind::Meeting, &async_graphql::ID(m.clone())).unwrap()
    );
    let prop = |cal: &IcalCalendar, name: &str| -> String {
        let ours = cal
            .events
            .iter()
            .find(|e| e.properties.iter().any(|p| p.name == "UID" && p.value.as_deref() == Some(uid.as_str())))
            .expect("the meeting's event");
        ours.properties.iter().find(|p| p.name == name).and_then(|p| p.value.clone()).unwrap_or_default()
    };
    let feed = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(feed.status(), 200);
    assert!(feed.headers()["content-type"].to_str().unwrap().starts_with("text/calendar"));
    let cal = parse(feed.text().await.unwrap());
    assert_eq!(cal.events.len(), 2);
    assert_eq!(prop(&cal, "STATUS"), "CONFIRMED");
    assert_eq!(prop(&cal, "SEQUENCE"), "1");
    assert!(prop(&cal, "SUMMARY").contains("Conférence métropolitaine des maires"));
    assert!(prop(&cal, "DESCRIPTION").contains("Pacte de gouvernance"));
    // DTSTART in UTC: 10:00 Paris is 08:00 or 09:00 UTC depending on the season.
    let start = prop(&cal, "DTSTART");
    assert!(start.ends_with("0000Z") && (start.contains("T08") || start.contains("T09")), "{start}");
    let first_uid = prop(&cal, "UID");
    // Cancelled: the same UID, a higher SEQUENCE, STATUS:CANCELLED.
    ok(&transition(&app, &sec, &m, "CANCELLED").await);
    let cal = parse(app.client.get(app.url(&path)).send().await.unwrap().text().await.unwrap());
    assert_eq!(prop(&cal, "UID"), first_uid);
    assert_eq!(prop(&cal, "STATUS"), "CANCELLED");
    assert_eq!(prop(&cal, "SEQUENCE"), "2");
    // One meeting's .ics, with the bearer token.
    let r = app.gql(Some(&marseille), "query($id:ID!){meeting(id:$id){icsPath}}", json!({"id": m})).await;
    let ics = ok(&r)["meeting"]["icsPath"].as_str().unwrap().to_string();
    let one = app.client.get(app.url(&ics)).bearer_auth(&marseille).send().await.unwrap();
    assert_eq!(one.status(), 200);
    assert_eq!(parse(one.text().await.unwrap()).events.len(), 1);
    assert_eq!(app.client.get(app.url(&ics)).send().await.unwrap().status(), 401);
    // A new feed revokes the old address.
    ok(&app.gql(Some(&marseille), "mutation{createCalendarFeed{path}}", json!({})).await);
    assert_eq!(app.client.get(app.url(&path)).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn working_group_meetings_rotate_among_member_communes() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (wg, _) = working_group(&app, &sec, &["13022", "13005", "13002"]).await;
    let q = "query($id:ID!){node(id:$id){... on Body{suggestedHost{inseeCode name} hostHistory{commune{inseeCode} lastHostedAt}}}}";
    let suggested = |r: &Value| r["data"]["node"]["suggestedHost"]["inseeCode"].as_str().unwrap().to_string();
    // Never hosted: by name (Allauch 13002, Aubagne 13005, Cassis 13022).
    let r = app.gql(Some(&sec), q, json!({"id": wg})).await;
    assert_eq!(suggested(&r), "13002", "{r}");
    for (insee, days) in [("13002", 10), ("13005", 20)] {
        let host = app.commune_id(&sec, insee).await;
        let r = app
            .gql(Some(&sec), "mutation($i:CreateMeetingInput!){createMeeting(input:$i){id}}", json!({"i": {"bodyId": wg, "title": "Réunion", "startsAt": paris_in(days, 14), "endsAt": paris_in(days, 16), "hostCommuneId": host}}))
            .await;
        let id = ok(&r)["createMeeting"]["id"].as_str().unwrap().to_string();
        add_item(&app, &sec, &id, "PROGRESS_REPORT", "Avancement").await;
        ok(&convene(&app, &sec, &id, None).await);
    }
    let r = app.gql(Some(&sec), q, json!({"id": wg})).await;
    assert_eq!(suggested(&r), "13022", "the one that never hosted: {r}");
    let host = app.commune_id(&sec, "13022").await;
    let r = app
        .gql(Some(&sec), "mutation($i:CreateMeetingInput!){createMeeting(input:$i){id}}", json!({"i": {"bodyId": wg, "title": "Réunion", "startsAt": paris_in(30, 14), "endsAt": paris_in(30, 16), "hostCommuneId": host}}))
        .await;
    let id = ok(&r)["createMeeting"]["id"].as_str().unwrap().to_string();
    add_item(&app, &sec, &id, "PROGRESS_REPORT", "Avancement").await;
    ok(&convene(&app, &sec, &id, None).await);
    let r = app.gql(Some(&sec), q, json!({"id": wg})).await;
    assert_eq!(suggested(&r), "13002", "then the one that hosted longest ago: {r}");
    assert_eq!(r["data"]["node"]["hostHistory"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn the_meeting_view_costs_the_same_statements_whatever_its_members_and_items() {
    let app = TestApp::demo_with(wide_batches).await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let conf = create_body(&app, &sec, "CONFERENCE_OF_MAYORS", "Conférence").await;
    let (wg, _) = working_group(&app, &sec, &["13055", "13001"]).await;
    let mut ids = Vec::new();
    // 93 members and 2 items; 3 members and 5 items, each with a document.
    for (b, n) in [(&conf, 2), (&wg, 5)] {
        let m = create_meeting(&app, &sec, b, 10).await;
        for i in 0..n {
            add_item(&app, &sec, &m, "VOTE", &format!("Point {i}")).await;
        }
        ok(&upload(&app, &sec, &m, "note.pdf", b"%PDF".to_vec()).await);
        ok(&convene(&app, &sec, &m, None).await);
        ids.push(m);
    }
    let q = "query($id:ID!){meeting(id:$id){title status agenda{position title quorum{met present} documents{filename}} attendance{status seat person{fullName} commune{name inseeCode}} documents{filename sha256}}}";
    let mut counts = Vec::new();
    for m in &ids {
        let before = app.state.statements.get();
        ok(&app.gql(Some(&sec), q, json!({"id": m})).await);
        counts.push(app.state.statements.get() - before);
    }
    eprintln!("meeting view: {counts:?} SQL statements");
    assert_eq!(counts[0], counts[1], "statements for 93 members and 2 items vs 3 members and 5 items: {counts:?}");
    assert!(counts[0] <= 20, "{counts:?}");
}

#[tokio::test]
async fn the_dgs_committee_follows_mandates_and_a_postponed_meeting_is_convened_again() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let dgs = create_body(&app, &sec, "DGS_COMMITTEE", "Comité métropolitain des DGS").await;
    let q = "query($id:ID!){node(id:$id){... on Body{members{role person{fullName} commune{inseeCode}} vacantSeats{role commune{inseeCode}}}}}";
    let r = app.gql(Some(&sec), q, json!({"id": dgs})).await;
    let body = &ok(&r)["node"];
    // Led by the métropole's DGS; the demo has a DGS in Marseille only.
    let roles: Vec<(&str, Option<&str>)> = body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["commune"]["inseeCode"].as_str()))
        .collect();
    assert_eq!(roles, vec![("LEAD", None), ("DGS", Some("13055"))]);
    assert_eq!(body["vacantSeats"].as_array().unwrap().len(), 91);
    // The Marseille DGS sees the committee's convened meetings; Cassis's mayor does not.
    let m = create_meeting(&app, &sec, &dgs, 10).await;
    add_item(&app, &sec, &m, "INFORMATION", "Partage des données").await;
    ok(&convene(&app, &sec, &m, None).await);
    let dgs_marseille = app.login_as("dgs.marseille@demo.entente.fr").await;
    let cassis = app.login_as("maire.cassis@demo.entente.fr").await;
    let see = "query($id:ID!){meeting(id:$id){status sequence}}";
    ok(&app.gql(Some(&dgs_marseille), see, json!({"id": m})).await);
    assert_eq!(code(&app.gql(Some(&cassis), see, json!({"id": m})).await), "FORBIDDEN");
    // Postponed: members are told, SEQUENCE goes up; then convened again at a new date.
    let r = transition(&app, &sec, &m, "POSTPONED").await;
    assert_eq!(ok(&r)["transitionMeeting"]["sequence"], 2);
    let r = app.gql(Some(&dgs_marseille), "{myNotifications{nodes{kind}}}", json!({})).await;
    assert_eq!(ok(&r)["myNotifications"]["nodes"][0]["kind"], "MEETING_POSTPONED");
    let v = version(&app, &sec, &m).await;
    let r = app
        .gql(
            Some(&sec),
            "mutation($i:UpdateMeetingInput!){updateMeeting(input:$i){startsAtParis version}}",
            json!({"i": {"id": m, "expectedVersion": v, "startsAt": paris_in(20, 9), "endsAt": paris_in(20, 11)}}),
        )
        .await;
    assert!(ok(&r)["updateMeeting"]["startsAtParis"]
        .as_str()
        .unwrap()
        .starts_with(&(today() + Duration::days(20)).to_string()));
    let r = convene(&app, &sec, &m, None).await;
    assert_eq!(ok(&r)["conveneMeeting"]["status"], "CONVENED");
    assert_eq!(r["data"]["conveneMeeting"]["convocations"].as_array().unwrap().len(), 2);
    // A convened meeting keeps its date: it is postponed, not moved.
    let v = version(&app, &sec, &m).await;
    let r = app
        .gql(
            Some(&sec),
            "mutation($i:UpdateMeetingInput!){updateMeeting(input:$i){id}}",
            json!({"i": {"id": m, "expectedVersion": v, "startsAt": paris_in(21, 9), "endsAt": paris_in(21, 11)}}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_TRANSITION");
    // A stale version is a conflict, and changes nothing.
    let r = app
        .gql(
            Some(&sec),
            "mutation($i:TransitionMeetingInput!){transitionMeeting(input:$i){status}}",
            json!({"i": {"id": m, "expectedVersion": v - 1, "status": "HELD"}}),
        )
        .await;
    assert_eq!(code(&r), "CONFLICT", "{r}");
    assert_eq!(app.gql(Some(&sec), see, json!({"id": m})).await["data"]["meeting"]["status"], "CONVENED");
    // Cancelled is final.
    ok(&transition(&app, &sec, &m, "CANCELLED").await);
    let r = transition(&app, &sec, &m, "HELD").await;
    assert_eq!(code(&r), "INVALID_TRANSITION", "{r}");
}

#[tokio::test]
async fn the_demo_has_a_convened_plenary_and_a_working_group() {
    let app = TestApp::demo().await;
    let marseille = app.login_as("maire.marseille@demo.entente.fr").await;
    let r = app
        .gql(
            Some(&marseille),
            "{myMeetings{totalCount nodes{title status body{kind} agenda{title} convocations{sentAt}}}}",
            json!({}),
        )
        .await;
    let meetings = ok(&r)["myMeetings"]["nodes"].as_array().unwrap().clone();
    assert_eq!(meetings.len(), 1, "{r}");
    assert_eq!(meetings[0]["status"], "CONVENED");
    assert_eq!(meetings[0]["body"]["kind"], "CONFERENCE_OF_MAYORS");
    assert_eq!(meetings[0]["agenda"].as_array().unwrap().len(), 3);
    assert_eq!(meetings[0]["convocations"].as_array().unwrap().len(), 93);
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let amp = app.epci_id(&sec, "200054807").await;
    let r = app
        .gql(Some(&sec), "query($e:ID!){bodies(intercommunalityId:$e){nodes{kind members{role}}}}", json!({"e": amp}))
        .await;
    let sizes: Vec<(String, usize)> = ok(&r)["bodies"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["kind"].as_str().unwrap().to_string(), b["members"].as_array().unwrap().len()))
        .collect();
    assert!(sizes.contains(&("WORKING_GROUP".to_string(), 4)), "{sizes:?}");
    assert!(sizes.contains(&("DGS_COMMITTEE".to_string(), 2)), "{sizes:?}");
}

/// A meeting is declared held once it has begun, not days before (issue 14, defect 7):
/// refused with MEETING_NOT_STARTED and nothing changes; at its hour it is allowed.
#[tokio::test]
async fn a_meeting_is_not_declared_held_before_it_begins() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (wg, _) = working_group(&app, &sec, &["13055", "13001"]).await;
    let m = create_meeting(&app, &sec, &wg, 10).await;
    add_item(&app, &sec, &m, "VOTE", "Point").await;
    ok(&convene(&app, &sec, &m, None).await);
    let v = version(&app, &sec, &m).await;
    let audited = app.audit_count().await;
    let r = app
        .gql(
            Some(&sec),
            "mutation($i:TransitionMeetingInput!){transitionMeeting(input:$i){status}}",
            json!({"i": {"id": m, "expectedVersion": v, "status": "HELD"}}),
        )
        .await;
    assert_eq!(code(&r), "MEETING_NOT_STARTED", "{r}");
    assert_eq!(version(&app, &sec, &m).await, v, "a refused transition changes nothing");
    assert_eq!(app.audit_count().await, audited);
    // At its hour (here: started a minute ago) it is declared held.
    let r = transition(&app, &sec, &m, "HELD").await;
    assert_eq!(ok(&r)["transitionMeeting"]["status"], "HELD");
}

/// Convening again after a postponement keeps the earlier convocations, superseded,
/// with their sending and reading times (issue 14, defect 7: they were deleted).
#[tokio::test]
async fn reconvening_keeps_the_earlier_convocations_as_proof() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (wg, _) = working_group(&app, &sec, &["13055", "13001"]).await;
    let m = create_meeting(&app, &sec, &wg, 10).await;
    add_item(&app, &sec, &m, "INFORMATION", "Point").await;
    ok(&convene(&app, &sec, &m, None).await);
    let marseille = app.login_as("maire.marseille@demo.entente.fr").await;
    let r = app
        .gql(Some(&marseille), "mutation($m:ID!){acknowledgeConvocation(meetingId:$m){readAt}}", json!({"m": m}))
        .await;
    let read_at = ok(&r)["acknowledgeConvocation"]["readAt"].as_str().unwrap().to_string();
    let q = "query($id:ID!){meeting(id:$id){sequence convocations{convenedAt sending readAt person{id}} supersededConvocations{convenedAt sending readAt sequence supersededAt person{id}}}}";
    let first = ok(&app.gql(Some(&sec), q, json!({"id": m})).await)["meeting"].clone();
    let sent: Vec<String> =
        first["convocations"].as_array().unwrap().iter().map(|c| c["convenedAt"].as_str().unwrap().into()).collect();
    assert_eq!(sent.len(), 3);
    assert!(first["supersededConvocations"].as_array().unwrap().is_empty());
    ok(&transition(&app, &sec, &m, "POSTPONED").await);
    let v = version(&app, &sec, &m).await;
    ok(&app
        .gql(
            Some(&sec),
            "mutation($i:UpdateMeetingInput!){updateMeeting(input:$i){id}}",
            json!({"i": {"id": m, "expectedVersion": v, "startsAt": paris_in(20, 9), "endsAt": paris_in(20, 11)}}),
        )
        .await);
    ok(&convene(&app, &sec, &m, None).await);
    let after = ok(&app.gql(Some(&sec), q, json!({"id": m})).await)["meeting"].clone();
    assert_eq!(after["convocations"].as_array().unwrap().len(), 3);
    assert!(after["convocations"].as_array().unwrap().iter().all(|c| c["readAt"].is_null()), "new ones unread");
    let kept = after["supersededConvocations"].as_array().unwrap();
    assert_eq!(kept.len(), 3, "{after}");
    let mut kept_sent: Vec<String> = kept.iter().map(|c| c["convenedAt"].as_str().unwrap().into()).collect();
    kept_sent.sort();
    let mut sent = sent;
    sent.sort();
    assert_eq!(kept_sent, sent, "the times of convening are the proof: kept as they were");
    // And each keeps its e-mail: queued (no mailer runs here), not lost with the replacement.
    assert!(kept.iter().all(|c| c["sending"] == "QUEUED"), "{after}");
    assert_eq!(kept.iter().filter(|c| c["readAt"].as_str() == Some(read_at.as_str())).count(), 1);
    // Replaced at the sequence the postponement and the new date gave the meeting: after
    // the first convening's, before the new convening's.
    let (was, now) = (first["sequence"].as_i64().unwrap(), after["sequence"].as_i64().unwrap());
    assert!(kept.iter().all(|c| c["sequence"].as_i64().is_some_and(|s| was < s && s < now)), "{after}");
    assert!(kept.iter().all(|c| c["supersededAt"].is_string()));
}

/// Two designations of the same person to the same body, racing: the database's unique
/// index lets exactly one commit, the other is a CONFLICT (issue 14, defect 7).
#[tokio::test]
async fn concurrent_seats_for_one_person_in_one_body_give_one_seat() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let wg = create_body(&app, &sec, "WORKING_GROUP", "GT Habitat").await;
    let (mandate, _) = mayor(&app, &sec, "13055").await;
    let q = "mutation($i:AddSeatInput!){addBodySeat(input:$i){id}}";
    let input = json!({"i": {"bodyId": wg, "mandateId": mandate, "role": "MEMBER", "startDate": today().to_string()}});
    let answers = futures_util::future::join_all((0..8).map(|_| app.gql(Some(&sec), q, input.clone()))).await;
    let won = answers.iter().filter(|r| r.get("errors").is_none() || r["errors"].is_null()).count();
    assert_eq!(won, 1, "{answers:?}");
    for r in answers.iter().filter(|r| r.get("errors").is_some() && !r["errors"].is_null()) {
        assert_eq!(code(r), "CONFLICT", "{r}");
    }
    let r =
        app.gql(Some(&sec), "query($id:ID!){node(id:$id){... on Body{members{person{id}}}}}", json!({"id": wg})).await;
    assert_eq!(ok(&r)["node"]["members"].as_array().unwrap().len(), 1);
}
