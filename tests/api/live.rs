//! Subscriptions through a real WebSocket client (tokio-tungstenite) speaking
//! graphql-transport-ws to the running server: signing in with `connection_init`, the
//! current state then each committed change, nothing for a change that failed, the same
//! authorization as queries, a revoked session ending its subscriptions, and the limits.
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::delivery::convened;
use crate::helpers::{ok, TestApp};
use crate::meetings::{create_meeting, transition, working_group};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws client.
pub struct Client {
    ws: Socket,
}

impl Client {
    /// Opens /graphql/ws; `init`: the `connection_init` payload (None: not sent).
    pub async fn open(app: &TestApp, init: Option<Value>) -> Client {
        let mut req = format!("ws://{}/graphql/ws", app.addr).into_client_request().unwrap();
        req.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
        let (ws, resp) = tokio_tungstenite::connect_async(req).await.expect("websocket");
        assert_eq!(resp.headers()["sec-websocket-protocol"], "graphql-transport-ws");
        let mut c = Client { ws };
        if let Some(payload) = init {
            c.send(json!({"type": "connection_init", "payload": payload})).await;
        }
        c
    }

    /// Signed in with `token`: the server acknowledged.
    pub async fn signed_in(app: &TestApp, token: &str) -> Client {
        let mut c = Client::open(app, Some(json!({"token": token}))).await;
        let ack = c.next().await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        c
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string().into())).await.unwrap();
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}})).await;
    }

    /// The next message (pings answered), within 5 s; None when the socket closed.
    pub async fn next(&mut self) -> Option<Value> {
        self.within(Duration::from_secs(5)).await.unwrap_or_else(|| panic!("no message within 5 s"))
    }

    /// The next message within `wait`: Some(None) when the socket closed, None on time out.
    pub async fn within(&mut self, wait: Duration) -> Option<Option<Value>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()?;
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "ping" {
                        self.send(json!({"type": "pong"})).await;
                        continue;
                    }
                    return Some(Some(v));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Some(Some(json!({"closed": frame.map(|f| u16::from(f.code)).unwrap_or(0)})))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(None),
            }
        }
    }
}

const LIVE: &str =
    "subscription($id:ID!){meetingLive(id:$id){change meeting{status attendance{status person{fullName}}}}}";

#[tokio::test]
async fn a_meeting_is_followed_live_from_its_current_state_through_each_committed_change() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (m, people) = convened(&app, &sec).await;
    let mut screen = Client::signed_in(&app, &sec).await;
    screen.subscribe("1", LIVE, json!({"id": m})).await;
    let first = screen.next().await.unwrap();
    assert_eq!(first["type"], "next", "{first}");
    assert_eq!(first["payload"]["data"]["meetingLive"]["change"], "CURRENT");
    assert_eq!(first["payload"]["data"]["meetingLive"]["meeting"]["status"], "CONVENED");

    // An attendance recorded over HTTP reaches the screen with what changed.
    let rows = json!([{"personId": people[1], "status": "PRESENT"}]);
    ok(&app
        .gql(
            Some(&sec),
            "mutation($m:ID!,$rows:[AttendanceInput!]!){recordAttendance(meetingId:$m,rows:$rows)}",
            json!({"m": m, "rows": rows}),
        )
        .await);
    let got = screen.next().await.unwrap();
    assert_eq!(got["payload"]["data"]["meetingLive"]["change"], "RECORD_ATTENDANCE", "{got}");
    let present: Vec<&Value> = got["payload"]["data"]["meetingLive"]["meeting"]["attendance"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "PRESENT")
        .collect();
    assert_eq!(present.len(), 1, "{got}");

    // A change refused (a stale version) commits nothing and publishes nothing.
    let r = app
        .gql(
            Some(&sec),
            "mutation($i:TransitionMeetingInput!){transitionMeeting(input:$i){status}}",
            json!({"i": {"id": m, "expectedVersion": 1, "status": "POSTPONED"}}),
        )
        .await;
    assert!(r["errors"].is_array(), "{r}");
    assert_eq!(screen.within(Duration::from_millis(700)).await, None, "nothing for a refused change");

    // A status change does.
    ok(&transition(&app, &sec, &m, "POSTPONED").await);
    let got = screen.next().await.unwrap();
    assert_eq!(got["payload"]["data"]["meetingLive"]["change"], "CHANGE_MEETING_STATUS", "{got}");
    assert_eq!(got["payload"]["data"]["meetingLive"]["meeting"]["status"], "POSTPONED");
}

#[tokio::test]
async fn notifications_arrive_live_and_a_revoked_session_ends_its_subscriptions() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (m, _) = convened(&app, &sec).await;
    let mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    let mut phone = Client::signed_in(&app, &mayor).await;
    phone.subscribe("n", "subscription{myNotifications{kind message meetingId}}", json!({})).await;
    // The secretariat's tablet follows the meeting too.
    let mut tablet = Client::signed_in(&app, &sec).await;
    tablet.subscribe("m", LIVE, json!({"id": m})).await;
    assert_eq!(tablet.next().await.unwrap()["payload"]["data"]["meetingLive"]["change"], "CURRENT");
    tokio::time::sleep(Duration::from_millis(200)).await;

    ok(&transition(&app, &sec, &m, "POSTPONED").await);
    let got = phone.next().await.unwrap();
    assert_eq!(got["id"], "n");
    assert_eq!(got["payload"]["data"]["myNotifications"]["kind"], "MEETING_POSTPONED", "{got}");
    assert_eq!(got["payload"]["data"]["myNotifications"]["meetingId"], m);

    // The secretariat signs out: at the next event its subscription ends with
    // UNAUTHENTICATED, then completes.
    assert_eq!(tablet.next().await.unwrap()["payload"]["data"]["meetingLive"]["change"], "CHANGE_MEETING_STATUS");
    ok(&app.gql(Some(&sec), "mutation{logout}", json!({})).await);
    let other = app.login_as("secretariat@demo.entente.fr").await;
    ok(&transition(&app, &other, &m, "CANCELLED").await);
    let got = tablet.next().await.unwrap();
    assert_eq!(got["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{got}");
    let done = tablet.next().await.unwrap();
    assert_eq!(done["type"], "complete", "{done}");
}

#[tokio::test]
async fn subscriptions_see_only_what_queries_show_and_refuse_what_is_not_theirs() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (wg, _) = working_group(&app, &sec, &["13055"]).await;
    let draft = create_meeting(&app, &sec, &wg, 20).await;
    // A draft is the secretariat's: the mayor may not follow it.
    let mayor = app.login_as("maire.cassis@demo.entente.fr").await;
    let mut c = Client::signed_in(&app, &mayor).await;
    c.subscribe("1", LIVE, json!({"id": draft})).await;
    let got = c.next().await.unwrap();
    assert_eq!(got["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{got}");
    assert!(got["payload"]["data"].is_null(), "{got}");
    assert_eq!(c.next().await.unwrap()["type"], "complete");
    // Queries and mutations go over HTTP.
    c.subscribe("2", "mutation{logout}", json!({})).await;
    let got = c.next().await.unwrap();
    assert_eq!(got["payload"]["errors"][0]["extensions"]["code"], "BAD_REQUEST", "{got}");
    assert_eq!(c.next().await.unwrap()["type"], "complete");
    // A malformed message closes the socket (4400 in graphql-transport-ws; async-graphql
    // 7.2 answers 1002).
    c.ws.send(Message::Text("{not json".into())).await.unwrap();
    let got = c.next().await;
    assert!(matches!(got, Some(ref v) if v["closed"] == 4400 || v["closed"] == 1002), "{got:?}");

    // No token, or a wrong one: closed (1002, as async-graphql closes a refused
    // connection_init), no data.
    let mut c = Client::open(&app, Some(json!({"token": "x".repeat(64)}))).await;
    let got = c.next().await;
    assert!(matches!(got, Some(ref v) if v["closed"] == 1002), "{got:?}");
}

#[tokio::test]
async fn connections_and_subscriptions_are_limited() {
    let app = TestApp::demo_with(|c| {
        c.limits.ws_subscriptions = 2;
        c.limits.ws_connections_per_account = 2;
    })
    .await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (m, _) = convened(&app, &sec).await;
    let mut a = Client::signed_in(&app, &sec).await;
    for id in ["1", "2", "3"] {
        a.subscribe(id, LIVE, json!({"id": m})).await;
    }
    let mut codes = Vec::new();
    for _ in 0..3 {
        let got = a.next().await.unwrap();
        codes.push(got.to_string());
    }
    assert_eq!(codes.iter().filter(|c| c.contains("QUERY_LIMIT")).count(), 1, "{codes:?}");
    let _b = Client::signed_in(&app, &sec).await;
    let mut c = Client::open(&app, Some(json!({"token": sec}))).await;
    let got = c.next().await;
    assert!(matches!(got, Some(ref v) if v["closed"] == 1002), "a third connection: {got:?}");
    // Closing one frees its place.
    drop(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    Client::signed_in(&app, &sec).await;
}

#[tokio::test]
async fn bad_input_over_the_socket_is_refused_and_the_server_keeps_serving() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (m, _) = convened(&app, &sec).await;
    let mut c = Client::signed_in(&app, &sec).await;
    // A malformed ID, a deeply nested document, a NUL byte in a variable.
    c.subscribe("1", LIVE, json!({"id": "not an id"})).await;
    let got = c.next().await.unwrap();
    assert_eq!(got["payload"]["errors"][0]["extensions"]["code"], "VALIDATION", "{got}");
    assert_eq!(c.next().await.unwrap()["type"], "complete");
    let deep = format!(
        "subscription{{meetingLive(id:\"{m}\"){}change{}}}",
        "{meeting{body{meetings{nodes".repeat(40),
        "}}}}}".repeat(40)
    );
    c.subscribe("2", &deep, json!({})).await;
    let got = c.next().await.unwrap();
    let code = got["payload"]["errors"][0]["extensions"]["code"].as_str().unwrap_or_default().to_string();
    assert!(["QUERY_LIMIT", "GRAPHQL_VALIDATION", "GRAPHQL_PARSE"].contains(&code.as_str()), "{got}");
    assert_eq!(c.next().await.unwrap()["type"], "complete");
    c.subscribe("3", LIVE, json!({"id": format!("{m}\u{0}")})).await;
    let got = c.next().await.unwrap();
    assert_eq!(got["payload"]["errors"][0]["extensions"]["code"], "VALIDATION", "{got}");
    assert_eq!(c.next().await.unwrap()["type"], "complete");
    // A message over the size cap closes the socket.
    let huge = json!({"id": "4", "type": "subscribe", "payload": {"query": "x".repeat(200_000)}});
    let _ = c.ws.send(Message::Text(huge.to_string().into())).await;
    let after = c.within(Duration::from_secs(5)).await;
    assert!(
        matches!(after, Some(None)) || matches!(after, Some(Some(ref v)) if v.get("closed").is_some()),
        "{after:?}"
    );
    // A connection_init with a NUL byte is refused; the server keeps serving.
    let mut bad = Client::open(&app, Some(json!({"token": "\u{0}".repeat(64)}))).await;
    assert!(matches!(bad.next().await, Some(ref v) if v["closed"] == 1002));
    let mut again = Client::signed_in(&app, &sec).await;
    again.subscribe("5", LIVE, json!({"id": m})).await;
    assert_eq!(again.next().await.unwrap()["payload"]["data"]["meetingLive"]["change"], "CURRENT");
}

#[tokio::test]
async fn referral_progress_and_policy_activity_are_followed_live() {
    // A referral: the secretariat follows the responses as communes submit them.
    let c = crate::referrals::ctx().await;
    let (r, _) = c
        .open(
            "FREE_CONSULTATION",
            json!({"title": "Schéma des mobilités", "silence": "NO_RESPONSE", "deadlineDate": crate::referrals::in_days(20)}),
        )
        .await;
    let mut tablet = Client::signed_in(&c.app, &c.sec).await;
    tablet
        .subscribe(
            "r",
            "subscription($id:ID!){referralProgress(id:$id){change referral{progress{responseRate}}}}",
            json!({"id": r}),
        )
        .await;
    assert_eq!(tablet.next().await.unwrap()["payload"]["data"]["referralProgress"]["change"], "CURRENT");
    ok(&c.submit(&c.mayor_marseille, &r, &c.marseille, "FAVOURABLE").await);
    let got = tablet.next().await.unwrap();
    assert_eq!(got["payload"]["data"]["referralProgress"]["change"], "SUBMIT_RESPONSE", "{got}");
    assert!(got["payload"]["data"]["referralProgress"]["referral"]["progress"]["responseRate"].as_f64().unwrap() > 0.0);
    // A mayor may follow the referral addressed to the commune, not its follow-up (as
    // `referral(id){progress}`): the field is refused, the subscription goes on.
    let mut phone = Client::signed_in(&c.app, &c.mayor_cassis).await;
    phone
        .subscribe(
            "r",
            "subscription($id:ID!){referralProgress(id:$id){change referral{title progress{responseRate}}}}",
            json!({"id": r}),
        )
        .await;
    let got = phone.next().await.unwrap();
    assert_eq!(got["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{got}");

    // A policy: the drafting team sees contributions arrive.
    let sec = &c.sec;
    let (p, art) = crate::policies::in_concertation(&c.app, sec).await;
    let mut team = Client::signed_in(&c.app, sec).await;
    team.subscribe("p", "subscription($id:ID!){policyActivity(id:$id){change policy{title}}}", json!({"id": p})).await;
    assert_eq!(team.next().await.unwrap()["payload"]["data"]["policyActivity"]["change"], "CURRENT");
    let amend = json!({"i": {"policyId": p, "kind": "COMMENT", "communeId": c.marseille, "sectionId": art[0], "body": "Associer les territoires."}});
    ok(&c.app.gql(Some(&c.mayor_marseille), crate::policies::CONTRIBUTE, amend).await);
    // Changes committed just before the subscription (the policy's setup) may still be
    // told after the current state, on a busy machine (read again, they change nothing);
    // then the contribution.
    let mut changes = Vec::new();
    while changes.last().map(String::as_str) != Some("CONTRIBUTE_TO_POLICY") && changes.len() < 10 {
        let got = team.next().await.unwrap();
        changes.push(got["payload"]["data"]["policyActivity"]["change"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(changes.last().map(String::as_str), Some("CONTRIBUTE_TO_POLICY"), "{changes:?}");
    let setup = ["CREATE_POLICY", "ADD_POLICY_SECTION", "PUBLISH_POLICY_VERSION", "TRANSITION_POLICY"];
    assert!(changes[..changes.len() - 1].iter().all(|c| setup.contains(&c.as_str())), "{changes:?}");
}
