//! Lists a client pages through are Relay connections with opaque keyset cursors (an
//! insert before the cursor neither repeats nor skips an item on the next page), and
//! notifications have an id, a read state and an unread count.
use serde_json::{json, Value};

use crate::helpers::{code, ok, TestApp};
use crate::meetings::{add_item, convene, create_meeting, transition, working_group};

const PAGE: &str = "query($id:ID!,$first:Int,$after:String,$last:Int,$before:String){node(id:$id){... on Body{
  meetings(first:$first,after:$after,last:$last,before:$before){totalCount
    pageInfo{hasNextPage hasPreviousPage startCursor endCursor} edges{cursor node{id title}}}}}}";

async fn page(app: &TestApp, tok: &str, body: &str, vars: Value) -> Value {
    let mut v = vars;
    v["id"] = json!(body);
    let r = app.gql(Some(tok), PAGE, v).await;
    ok(&r)["node"]["meetings"].clone()
}

fn titles(conn: &Value) -> Vec<String> {
    conn["edges"].as_array().unwrap().iter().map(|e| e["node"]["title"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn paging_by_keyset_cursors_survives_an_insert_before_the_cursor() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (wg, _) = working_group(&app, &sec, &["13055"]).await;
    for days in [20, 30, 40, 50, 60] {
        create_meeting(&app, &sec, &wg, days).await;
    }
    let first = page(&app, &sec, &wg, json!({"first": 2})).await;
    assert_eq!(first["totalCount"], 5);
    assert_eq!(titles(&first), ["Séance J+20", "Séance J+30"]);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(first["pageInfo"]["hasPreviousPage"], false);
    let cursor = first["pageInfo"]["endCursor"].as_str().unwrap().to_string();
    // The cursor is opaque: neither a number nor an offset.
    assert!(cursor.parse::<u64>().is_err(), "{cursor}");

    // A meeting earlier than the cursor is inserted: an offset would repeat J+30.
    create_meeting(&app, &sec, &wg, 10).await;
    let next = page(&app, &sec, &wg, json!({"first": 2, "after": cursor})).await;
    assert_eq!(next["totalCount"], 6);
    assert_eq!(titles(&next), ["Séance J+40", "Séance J+50"]);
    assert_eq!(next["pageInfo"]["hasPreviousPage"], true);
    let end = next["pageInfo"]["endCursor"].as_str().unwrap().to_string();
    let last = page(&app, &sec, &wg, json!({"first": 2, "after": end})).await;
    assert_eq!(titles(&last), ["Séance J+60"]);
    assert_eq!(last["pageInfo"]["hasNextPage"], false);

    // Backwards: the two before J+40, the new one included.
    let start = next["pageInfo"]["startCursor"].as_str().unwrap().to_string();
    let back = page(&app, &sec, &wg, json!({"last": 2, "before": start})).await;
    assert_eq!(titles(&back), ["Séance J+20", "Séance J+30"]);
    let all = page(&app, &sec, &wg, json!({"last": 10})).await;
    assert_eq!(
        titles(&all),
        ["Séance J+10", "Séance J+20", "Séance J+30", "Séance J+40", "Séance J+50", "Séance J+60"]
    );
}

#[tokio::test]
async fn a_tampered_or_foreign_cursor_is_refused_with_validation() {
    use base64::Engine;
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (wg, _) = working_group(&app, &sec, &["13055"]).await;
    create_meeting(&app, &sec, &wg, 20).await;
    let r = app.gql(Some(&sec), PAGE, json!({"id": wg, "first": 1})).await;
    let cursor = ok(&r)["node"]["meetings"]["pageInfo"]["endCursor"].as_str().unwrap().to_string();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let text = String::from_utf8(b64.decode(&cursor).unwrap()).unwrap();
    let amp = app.epci_id(&sec, "200054807").await;
    let tampered = [
        "0".to_string(),
        "not a cursor!".to_string(),
        format!("{cursor}x"),
        b64.encode(text.replace("Body.meetings", "bodies")),
        b64.encode("{\"l\":\"Body.meetings\",\"k\":\"\",\"i\":-4}"),
    ];
    for bad in &tampered {
        for arg in ["after", "before"] {
            let r = app.gql(Some(&sec), PAGE, json!({"id": wg, arg: bad})).await;
            assert_eq!(code(&r), "VALIDATION", "{arg} {bad}: {r}");
        }
    }
    // A cursor of one list is not one of another.
    let r = app
        .gql(
            Some(&sec),
            "query($e:ID!,$a:String){bodies(intercommunalityId:$e,after:$a){totalCount}}",
            json!({"e": amp, "a": cursor}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    let r = app.gql(Some(&sec), PAGE, json!({"id": wg, "first": -1})).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
}

#[tokio::test]
async fn referrals_bodies_and_notifications_are_connections() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let amp = app.epci_id(&sec, "200054807").await;
    let r = app
        .gql(Some(&sec), "query($e:ID!){bodies(intercommunalityId:$e,first:2){totalCount pageInfo{hasNextPage endCursor} nodes{name}}}", json!({"e": amp}))
        .await;
    let b = &ok(&r)["bodies"];
    assert_eq!(b["totalCount"], 3);
    assert_eq!(b["nodes"].as_array().unwrap().len(), 2);
    let r = app
        .gql(
            Some(&sec),
            "query($e:ID!,$a:String){bodies(intercommunalityId:$e,after:$a){pageInfo{hasNextPage} nodes{name}}}",
            json!({"e": amp, "a": b["pageInfo"]["endCursor"]}),
        )
        .await;
    assert_eq!(ok(&r)["bodies"]["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(ok(&r)["bodies"]["pageInfo"]["hasNextPage"], false);
    let r = app.gql(Some(&sec), "{referrals(first:1){totalCount pageInfo{hasNextPage} nodes{id}}}", json!({})).await;
    assert_eq!(ok(&r)["referrals"]["totalCount"], 2, "{r}");
    assert_eq!(ok(&r)["referrals"]["pageInfo"]["hasNextPage"], true);
}

const MINE: &str = "{unreadCount myNotifications(first:100){totalCount nodes{id kind readAt}}}";
const MARK: &str = "mutation($ids:[ID!],$t:DateTime){markNotificationsRead(ids:$ids,upTo:$t){marked unreadCount}}";

#[tokio::test]
async fn notifications_are_marked_read_by_their_own_person_only() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let marseille = app.login_as("maire.marseille@demo.entente.fr").await;
    let aix = app.login_as("maire.aix@demo.entente.fr").await;
    // Two postponed meetings of a group where Marseille sits: two notifications.
    let (wg, _) = working_group(&app, &sec, &["13055"]).await;
    for days in [20, 30] {
        let m = create_meeting(&app, &sec, &wg, days).await;
        add_item(&app, &sec, &m, "VOTE", "Point").await;
        ok(&convene(&app, &sec, &m, None).await);
        ok(&transition(&app, &sec, &m, "POSTPONED").await);
    }
    let r = app.gql(Some(&marseille), MINE, json!({})).await;
    let before = ok(&r)["unreadCount"].as_i64().unwrap();
    let nodes = ok(&r)["myNotifications"]["nodes"].as_array().unwrap().clone();
    assert!(before >= 2 && nodes.iter().all(|n| n["readAt"].is_null()), "{r}");
    let one = nodes[0]["id"].as_str().unwrap().to_string();
    assert_eq!(nodes[0]["kind"], "MEETING_POSTPONED");

    // Another person can neither read nor mark it: nothing changes, nothing is audited.
    let audits = app.audit_count().await;
    let r = app.gql(Some(&aix), MARK, json!({"ids": [one]})).await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");
    let r = app.gql(Some(&aix), "query($id:ID!){node(id:$id){id}}", json!({"id": one})).await;
    assert!(ok(&r)["node"].is_null(), "{r}");
    // Bad input.
    for vars in
        [json!({}), json!({"ids": [one], "t": "2026-01-01T00:00:00Z"}), json!({"ids": []}), json!({"ids": [wg]})]
    {
        let r = app.gql(Some(&marseille), MARK, vars.clone()).await;
        assert_eq!(code(&r), "VALIDATION", "{vars}: {r}");
    }
    assert_eq!(app.audit_count().await, audits);

    // Its person marks one, then all up to now.
    let r = app.gql(Some(&marseille), MARK, json!({"ids": [one, one]})).await;
    assert_eq!(ok(&r)["markNotificationsRead"], json!({"marked": 1, "unreadCount": before - 1}));
    assert_eq!(app.audit_count().await, audits + 1);
    let r = app
        .gql(Some(&marseille), "query($id:ID!){node(id:$id){... on Notification{id kind readAt}}}", json!({"id": one}))
        .await;
    assert!(ok(&r)["node"]["readAt"].is_string(), "{r}");
    let r = app.gql(Some(&marseille), MARK, json!({"t": chrono::Utc::now().to_rfc3339()})).await;
    assert_eq!(ok(&r)["markNotificationsRead"], json!({"marked": before - 1, "unreadCount": 0}));
    let r = app.gql(Some(&marseille), MINE, json!({})).await;
    assert_eq!(ok(&r)["unreadCount"], 0);
    assert!(ok(&r)["myNotifications"]["nodes"].as_array().unwrap().iter().all(|n| n["readAt"].is_string()));
    // Marking again marks nothing.
    let r = app.gql(Some(&marseille), MARK, json!({"ids": [one]})).await;
    assert_eq!(ok(&r)["markNotificationsRead"]["marked"], 0);
}

const NODE: &str = "query($id:ID!){node(id:$id){__typename id}}";

/// `node(id)` as `tok`: Ok(typename) when resolved, Err(code) when refused.
async fn node_as(app: &TestApp, tok: &str, id: &str) -> Result<String, String> {
    let r = app.gql(Some(tok), NODE, json!({"id": id})).await;
    if r["errors"].is_array() {
        return Err(code(&r));
    }
    assert_eq!(r["data"]["node"]["id"], id, "{r}");
    Ok(r["data"]["node"]["__typename"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn every_type_with_an_id_is_a_node_seen_as_its_path_allows() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let marseille = app.login_as("maire.marseille@demo.entente.fr").await;
    let aix = app.login_as("maire.aix@demo.entente.fr").await;
    let cassis = app.login_as("maire.cassis@demo.entente.fr").await;
    let (wg, people) = working_group(&app, &sec, &["13055"]).await;
    let m = create_meeting(&app, &sec, &wg, 20).await;
    let item = add_item(&app, &sec, &m, "VOTE", "Point").await;
    // A draft's item: those who prepare it only.
    assert_eq!(node_as(&app, &sec, &item).await, Ok("AgendaItem".into()));
    assert_eq!(node_as(&app, &marseille, &item).await, Err("FORBIDDEN".into()));
    ok(&convene(&app, &sec, &m, None).await);
    let r = crate::meetings::upload(&app, &sec, &m, "note.pdf", b"%PDF-1.4".to_vec()).await;
    let doc = ok(&r)["uploadDocument"]["id"].as_str().unwrap().to_string();
    let r = app
        .gql(
            Some(&marseille),
            "mutation($i:GiveProxyInput!){giveProxy(input:$i){id}}",
            json!({"i": {"meetingId": m, "giverId": people[1], "holderId": people[0]}}),
        )
        .await;
    let proxy = ok(&r)["giveProxy"]["id"].as_str().unwrap().to_string();
    let r = app.gql(Some(&sec), "query($id:ID!){node(id:$id){... on Body{members{seatId}}}}", json!({"id": wg})).await;
    let seat = ok(&r)["node"]["members"][1]["seatId"].as_str().unwrap().to_string();
    for (id, typename) in [(&item, "AgendaItem"), (&doc, "Document"), (&proxy, "Proxy"), (&seat, "BodySeat")] {
        // The secretariat and a member see them; a mayor outside the group does not.
        assert_eq!(node_as(&app, &sec, id).await, Ok(typename.into()));
        assert_eq!(node_as(&app, &marseille, id).await, Ok(typename.into()));
        assert_eq!(node_as(&app, &aix, id).await, Err("FORBIDDEN".into()), "{typename}");
    }

    // A commune's response to an open referral: the commune and the secretariat see it,
    // another commune not yet.
    let r = app.gql(Some(&sec), "{referrals{nodes{id title}}}", json!({})).await;
    let refs = ok(&r)["referrals"]["nodes"].as_array().unwrap().clone();
    let aix_commune = app.commune_id(&sec, "13001").await;
    let mut response = None;
    for rf in &refs {
        let q = "query($id:ID!,$c:ID!){referral(id:$id){response(communeId:$c){id status}}}";
        let r = app.gql(Some(&sec), q, json!({"id": rf["id"], "c": aix_commune})).await;
        if r["data"]["referral"]["response"]["status"] == "SUBMITTED" {
            response = r["data"]["referral"]["response"]["id"].as_str().map(str::to_string);
        }
    }
    let response = response.expect("the demo's answered referral");
    assert_eq!(node_as(&app, &sec, &response).await, Ok("ReferralResponse".into()));
    assert_eq!(node_as(&app, &aix, &response).await, Ok("ReferralResponse".into()));
    assert_eq!(node_as(&app, &cassis, &response).await, Err("FORBIDDEN".into()));

    // A notification: its person only (null for others).
    let r = app.gql(Some(&marseille), "{myNotifications(first:1){nodes{id}}}", json!({})).await;
    let n = ok(&r)["myNotifications"]["nodes"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(node_as(&app, &marseille, &n).await, Ok("Notification".into()));
    let r = app.gql(Some(&sec), NODE, json!({"id": n})).await;
    assert!(ok(&r)["node"].is_null(), "{r}");
}
