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
    // The conference, the mobility working group, the DGS committee, the pact's steering committee.
    assert_eq!(b["totalCount"], 4);
    assert_eq!(b["nodes"].as_array().unwrap().len(), 2);
    let r = app
        .gql(
            Some(&sec),
            "query($e:ID!,$a:String){bodies(intercommunalityId:$e,after:$a){pageInfo{hasNextPage} nodes{name}}}",
            json!({"e": amp, "a": b["pageInfo"]["endCursor"]}),
        )
        .await;
    assert_eq!(ok(&r)["bodies"]["nodes"].as_array().unwrap().len(), 2);
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

// ---- lists paged in the database: communes, intercommunalities, persons, audit log ---

/// A connection at `path` of a query taking `$f` (first), `$a` (after), `$l` (last) and
/// `$b` (before), selecting `totalCount pageInfo{hasNextPage hasPreviousPage} edges{cursor
/// node{id}}`.
struct Listed {
    query: &'static str,
    path: &'static [&'static str],
}

const COMMUNES: Listed = Listed {
    query: "query($f:Int,$a:String,$l:Int,$b:String){communes(first:$f,after:$a,last:$l,before:$b){totalCount
      pageInfo{hasNextPage hasPreviousPage} edges{cursor node{id}}}}",
    path: &["communes"],
};
const AMP_COMMUNES: Listed = Listed {
    query: "query($f:Int,$a:String,$l:Int,$b:String){intercommunality(siren:\"200054807\"){
      communes(first:$f,after:$a,last:$l,before:$b){totalCount pageInfo{hasNextPage hasPreviousPage} edges{cursor node{id}}}}}",
    path: &["intercommunality", "communes"],
};
const EPCIS: Listed = Listed {
    query: "query($f:Int,$a:String,$l:Int,$b:String){intercommunalities(first:$f,after:$a,last:$l,before:$b){totalCount
      pageInfo{hasNextPage hasPreviousPage} edges{cursor node{id}}}}",
    path: &["intercommunalities"],
};
const PERSONS: Listed = Listed {
    query: "query($f:Int,$a:String,$l:Int,$b:String){persons(first:$f,after:$a,last:$l,before:$b){totalCount
      pageInfo{hasNextPage hasPreviousPage} edges{cursor node{id}}}}",
    path: &["persons"],
};
const AUDIT: Listed = Listed {
    query: "query($f:Int,$a:String,$l:Int,$b:String){auditEntries(first:$f,after:$a,last:$l,before:$b){totalCount
      pageInfo{hasNextPage hasPreviousPage} edges{cursor node{id}}}}",
    path: &["auditEntries"],
};

/// One page of `list`: its ids, cursors, (hasPreviousPage, hasNextPage) and totalCount.
struct Got {
    ids: Vec<String>,
    cursors: Vec<String>,
    flags: (bool, bool),
    total: u64,
}

async fn get_page(app: &TestApp, tok: &str, list: &Listed, vars: Value) -> Got {
    let r = app.gql(Some(tok), list.query, vars.clone()).await;
    let mut c = ok(&r);
    for p in list.path {
        c = &c[p];
    }
    let edges = c["edges"].as_array().unwrap_or_else(|| panic!("{vars}: {r}"));
    Got {
        ids: edges.iter().map(|e| e["node"]["id"].as_str().unwrap().to_string()).collect(),
        cursors: edges.iter().map(|e| e["cursor"].as_str().unwrap().to_string()).collect(),
        flags: (c["pageInfo"]["hasPreviousPage"] == true, c["pageInfo"]["hasNextPage"] == true),
        total: c["totalCount"].as_u64().unwrap(),
    }
}

/// Reads a page of `n`, lets `insert` add an item that sorts before that page's end, then
/// reads the rest after the page's last cursor: the two pages hold every item of the list
/// but the new one, each once and in order, and the new one sorts before the cursor.
async fn survives_an_insert(app: &TestApp, tok: &str, list: &Listed, n: usize, insert: impl std::future::Future) {
    let first = get_page(app, tok, list, json!({"f": n})).await;
    assert_eq!(first.ids.len(), n, "{}", list.query);
    assert!(first.flags.1, "{}: a page follows", list.query);
    insert.await;
    let rest = get_page(app, tok, list, json!({"f": 500, "a": first.cursors.last()})).await;
    assert!(rest.flags.0 && !rest.flags.1, "{}", list.query);
    let all = get_page(app, tok, list, json!({"f": 500})).await;
    assert_eq!(all.total, first.total + 1, "{}", list.query);
    let seen: Vec<&String> = first.ids.iter().chain(&rest.ids).collect();
    let new: Vec<(usize, &String)> = all.ids.iter().enumerate().filter(|(_, id)| !seen.contains(id)).collect();
    assert_eq!(new.len(), 1, "{}: one item inserted", list.query);
    assert!(new[0].0 < n, "{}: the new item sorts before the cursor", list.query);
    let without_new: Vec<&String> = all.ids.iter().filter(|id| *id != new[0].1).collect();
    assert_eq!(seen, without_new, "{}: no item repeated or skipped", list.query);
}

fn commune(insee: &str, name: &str) -> entente::territory::model::commune::ActiveModel {
    use sea_orm::Set;
    let now = chrono::Utc::now();
    entente::territory::model::commune::ActiveModel {
        insee_code: Set(insee.into()),
        name: Set(name.into()),
        search_key: Set(entente::territory::rules::search_key(name)),
        departement: Set("13".into()),
        region: Set(None),
        siren: Set(None),
        population: Set(None),
        population_year: Set(None),
        population_source: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
}

fn intercommunality(siren: &str, name: &str) -> entente::territory::model::intercommunality::ActiveModel {
    use sea_orm::Set;
    let now = chrono::Utc::now();
    entente::territory::model::intercommunality::ActiveModel {
        siren: Set(siren.into()),
        name: Set(name.into()),
        search_key: Set(entente::territory::rules::search_key(name)),
        legal_form: Set(entente::territory::rules::LegalForm::Cc),
        financing_mode: Set(None),
        population: Set(None),
        population_year: Set(None),
        population_source: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
}

/// Without the response cache: the rows below are inserted beneath the API.
fn uncached(c: &mut entente::Config) {
    c.response_cache_entries = 0;
}

#[tokio::test]
async fn communes_intercommunalities_persons_and_the_audit_log_page_by_keyset_cursors_across_inserts() {
    use entente::territory::model::commune_membership;
    use sea_orm::{ActiveModelTrait, Set};
    let app = TestApp::demo_with(uncached).await;
    let db = &app.state.db;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let admin = app.login_as("admin@demo.entente.fr").await;

    // Communes by name: "Aaa-Nouvelle" sorts before Aix-en-Provence.
    survives_an_insert(&app, &sec, &COMMUNES, 10, async {
        commune("13990", "Aaa-Nouvelle").insert(db).await.unwrap();
    })
    .await;
    // AMP's member communes: one more joins.
    survives_an_insert(&app, &sec, &AMP_COMMUNES, 10, async {
        let c = commune("13991", "Aab-Membre").insert(db).await.unwrap();
        let amp = entente::territory::model::intercommunality::Entity::find().one(db).await.unwrap().unwrap();
        commune_membership::ActiveModel {
            commune_id: Set(c.id),
            intercommunality_id: Set(amp.id),
            start_date: Set(None),
            end_date: Set(None),
            population: Set(None),
            population_year: Set(None),
            created_at: Set(chrono::Utc::now()),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
    })
    .await;
    // Intercommunalities by name (the demo has one: two more around it first).
    intercommunality("200000016", "Mmm Communauté").insert(db).await.unwrap();
    intercommunality("200000024", "Zzz Communauté").insert(db).await.unwrap();
    survives_an_insert(&app, &sec, &EPCIS, 2, async {
        intercommunality("200000032", "Aaa Communauté").insert(db).await.unwrap();
    })
    .await;
    // Persons by family name, given name and id: a "A A" sorts first.
    survives_an_insert(&app, &sec, &PERSONS, 10, async {
        crate::mandates::person(&app, &sec, "A", "A").await;
    })
    .await;
    // The audit log, newest first: a sign-in is newer than every entry read.
    survives_an_insert(&app, &admin, &AUDIT, 3, async {
        app.login_as("maire.cassis@demo.entente.fr").await;
    })
    .await;
}

use sea_orm::EntityTrait;

/// What a Relay page of `ids` is, by positions, for a cursor `after` the item at index
/// `a`, `before` the item at index `b`, `first`/`last` (default 50): the items and
/// (hasPreviousPage, hasNextPage), exact on both sides.
fn relay(
    ids: &[String],
    a: Option<usize>,
    b: Option<usize>,
    first: Option<usize>,
    last: Option<usize>,
) -> (Vec<String>, (bool, bool)) {
    let total = ids.len();
    let mut start = a.map(|a| a + 1).unwrap_or(0);
    let mut end = b.unwrap_or(total).max(start);
    match (first, last) {
        (Some(f), _) => end = end.min(start + f),
        (None, None) => end = end.min(start + 50),
        _ => {}
    }
    if let Some(l) = last {
        start = start.max(end.saturating_sub(l));
    }
    (ids[start..end].to_vec(), (start > 0, end < total))
}

/// Every combination of cursors (none, the first item, the middle, the last; `before` also
/// crossed, before `after`) and of `first`/`last` (none, 0, a few, more than there are,
/// both) gives the page and page info that positions give.
async fn pages_as_positions_say(app: &TestApp, tok: &str, list: &Listed) {
    let all = get_page(app, tok, list, json!({"f": 500})).await;
    let n = all.ids.len();
    assert!(n >= 20, "{}: {n} items", list.query);
    let mid = n / 2;
    let afters = [None, Some(0), Some(mid), Some(n - 1)];
    let befores = [None, Some(0), Some(mid + 1), Some(n - 1), Some(mid - 5)];
    let counts = [
        (None, None),
        (Some(0), None),
        (Some(5), None),
        (Some(500), None),
        (None, Some(0)),
        (None, Some(5)),
        (None, Some(500)),
        (Some(5), Some(2)),
        (Some(3), Some(0)),
    ];
    for a in afters {
        for b in befores {
            for (f, l) in counts {
                let vars = json!({"a": a.map(|i| &all.cursors[i]), "b": b.map(|i| &all.cursors[i]), "f": f, "l": l});
                let got = get_page(app, tok, list, vars).await;
                let (ids, flags) = relay(&all.ids, a, b, f, l);
                let case = format!("{}: after {a:?} before {b:?} first {f:?} last {l:?}", list.path.join("."));
                assert_eq!(got.ids, ids, "{case}");
                assert_eq!(got.flags, flags, "{case} (hasPreviousPage, hasNextPage)");
                assert_eq!(got.total, n as u64, "{case}");
            }
        }
    }
}

#[tokio::test]
async fn keyset_pages_read_in_the_database_are_exact_relay_pages() {
    let app = TestApp::demo_with(uncached).await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let admin = app.login_as("admin@demo.entente.fr").await;
    // One key column ascending, two, none descending.
    pages_as_positions_say(&app, &sec, &COMMUNES).await;
    pages_as_positions_say(&app, &sec, &PERSONS).await;
    pages_as_positions_say(&app, &admin, &AUDIT).await;
    // A cursor of one list is not one of another, nor one of another shape.
    let c = get_page(&app, &sec, &COMMUNES, json!({"f": 1})).await.cursors[0].clone();
    for list in [&AMP_COMMUNES, &PERSONS, &EPCIS] {
        let r = app.gql(Some(&sec), list.query, json!({"a": c})).await;
        assert_eq!(code(&r), "VALIDATION", "{r}");
    }
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    for bad in [json!({"l": "persons", "k": "Martin", "i": 3}), json!({"l": "auditEntries", "k": "x", "i": 3})] {
        let list = if bad["l"] == "persons" { &PERSONS } else { &AUDIT };
        let r = app.gql(Some(&admin), list.query, json!({"b": b64.encode(bad.to_string())})).await;
        assert_eq!(code(&r), "VALIDATION", "{bad}: {r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], "before");
    }
}

#[tokio::test]
async fn a_referrals_responses_page_by_keyset_cursors() {
    let c = crate::referrals::ctx().await;
    let (id, _) = c.open("GOVERNANCE_PACT", json!({"title": "Pacte de gouvernance 2026-2032"})).await;
    let q = "query($id:ID!,$f:Int,$a:String,$l:Int,$b:String){referral(id:$id){responses(first:$f,after:$a,last:$l,before:$b){
      totalCount pageInfo{hasNextPage hasPreviousPage endCursor startCursor} edges{cursor node{id commune{name}}}}}}";
    let (app, sec, id) = (&c.app, c.sec.as_str(), id.as_str());
    let page = |vars: Value| {
        let mut vars = vars;
        vars["id"] = json!(id);
        async move { ok(&app.gql(Some(sec), q, vars).await)["referral"]["responses"].clone() }
    };
    let names = |p: &Value| -> Vec<String> {
        p["edges"].as_array().unwrap().iter().map(|e| e["node"]["commune"]["name"].as_str().unwrap().into()).collect()
    };
    let all = page(json!({"f": 500})).await;
    assert_eq!(all["totalCount"], 92);
    let every = names(&all);
    let mut sorted = every.clone();
    sorted.sort();
    assert_eq!(every, sorted, "by commune name");
    // Forward by 30, then back by 30 from the end.
    let (mut seen, mut after) = (Vec::new(), Value::Null);
    loop {
        let p = page(json!({"f": 30, "a": after})).await;
        seen.extend(names(&p));
        assert!(p["edges"][0]["cursor"].as_str().unwrap().parse::<u64>().is_err(), "opaque cursors");
        if p["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = p["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, every);
    let (mut back, mut before) = (Vec::new(), Value::Null);
    loop {
        let p = page(json!({"l": 30, "b": before})).await;
        back.splice(0..0, names(&p));
        if p["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = p["pageInfo"]["startCursor"].clone();
    }
    assert_eq!(back, every);
    // Offsets are not cursors any more.
    let r = app.gql(Some(sec), q, json!({"id": id, "a": "3"})).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
}

// ---- nodes: referral documents and signature delegations -------------------------------

#[tokio::test]
async fn a_referral_document_is_a_node_seen_where_it_is_listed() {
    let c = crate::referrals::ctx().await;
    let app = &c.app;
    let cassis_mayor = &c.mayor_cassis;
    // A referral to Marseille alone, with a document of its own.
    let (id, v) = c
        .create(
            "FREE_CONSULTATION",
            json!({"title": "Schéma cyclable", "deadlineDate": (entente::time::today_paris() + chrono::Duration::days(30)).to_string(),
                "silence": "NO_RESPONSE", "addresseeMode": "SUBSET", "communes": [c.marseille]}),
        )
        .await;
    let r = crate::documents::upload(
        app,
        &c.sec,
        crate::documents::UPLOAD_REFERRAL_DOCUMENT,
        json!({"r": id, "f": null}),
        "schema.pdf",
        "application/pdf",
        b"%PDF-1.4 schema".to_vec(),
    )
    .await;
    let doc = ok(&r)["uploadReferralDocument"]["id"].as_str().unwrap().to_string();
    // A draft's document: the secretariat's; an addressee does not see the referral yet.
    assert_eq!(node_as(app, &c.sec, &doc).await, Ok("ReferralDocument".into()));
    let listed = app.gql(Some(&c.sec), "query($id:ID!){referral(id:$id){documents{id}}}", json!({"id": id})).await;
    assert_eq!(ok(&listed)["referral"]["documents"][0]["id"], doc.as_str());
    assert!(null_for(app, &c.mayor_marseille, &doc).await);
    ok(&app.gql(Some(&c.sec), crate::referrals::OPEN, json!({"id": id, "v": v})).await);
    // Open: the addressee sees it, a commune not addressed does not.
    assert_eq!(node_as(app, &c.mayor_marseille, &doc).await, Ok("ReferralDocument".into()));
    assert!(null_for(app, cassis_mayor, &doc).await);

    // A commune's attachment to its draft answer: the commune's own until submitted.
    let (collect, v) = c
        .create(
            "DATA_COLLECTION",
            json!({"title": "Plans de voirie", "deadlineDate": (entente::time::today_paris() + chrono::Duration::days(30)).to_string(),
                "addresseeMode": "SUBSET", "communes": [c.marseille, c.cassis]}),
        )
        .await;
    let form = json!([{"key": "plan", "label": "Plan de voirie", "type": "FILE"}]);
    ok(&app.gql(Some(&c.sec), crate::referrals::SET_FORM, json!({"id": collect, "f": form})).await);
    ok(&app.gql(Some(&c.sec), crate::referrals::OPEN, json!({"id": collect, "v": v})).await);
    let r = crate::documents::upload(
        app,
        &c.dgs_marseille,
        crate::documents::UPLOAD_RESPONSE_FILE,
        json!({"r": collect, "c": c.marseille, "f": null}),
        "plan.pdf",
        "application/pdf",
        b"%PDF-1.4 plan".to_vec(),
    )
    .await;
    let file = ok(&r)["uploadResponseFile"]["id"].as_str().unwrap().to_string();
    assert_eq!(node_as(app, &c.mayor_marseille, &file).await, Ok("ReferralDocument".into()));
    let files = "query($id:ID!,$c:ID!){referral(id:$id){response(communeId:$c){files{id}}}}";
    let r = app.gql(Some(&c.mayor_marseille), files, json!({"id": collect, "c": c.marseille})).await;
    assert_eq!(ok(&r)["referral"]["response"]["files"][0]["id"], file.as_str());
    // The secretariat lists no file of a draft, and reads none by its id; nor does Cassis.
    let r = app.gql(Some(&c.sec), files, json!({"id": collect, "c": c.marseille})).await;
    assert_eq!(ok(&r)["referral"]["response"]["files"], json!([]));
    assert!(null_for(app, &c.sec, &file).await);
    assert!(null_for(app, cassis_mayor, &file).await);
}

#[tokio::test]
async fn a_signature_delegation_is_a_node_seen_where_it_is_listed() {
    let c = crate::referrals::ctx().await;
    let app = &c.app;
    let r = app.gql(Some(&c.dgs_marseille), "{me{person{id}}}", json!({})).await;
    let dgs = ok(&r)["me"]["person"]["id"].clone();
    let grant = "mutation($c:ID!,$p:ID!){grantSignatureDelegation(communeId:$c,personId:$p){id}}";
    let r = app.gql(Some(&c.mayor_marseille), grant, json!({"c": c.marseille, "p": dgs})).await;
    let d = ok(&r)["grantSignatureDelegation"]["id"].as_str().unwrap().to_string();
    let list = "query($c:ID!){signatureDelegations(communeId:$c){id}}";
    // The mayor, the delegate and the secretariat of AMP list it and read it by its id.
    for tok in [&c.mayor_marseille, &c.dgs_marseille, &c.sec] {
        let r = app.gql(Some(tok), list, json!({"c": c.marseille})).await;
        assert_eq!(ok(&r)["signatureDelegations"][0]["id"], d.as_str(), "{r}");
        assert_eq!(node_as(app, tok, &d).await, Ok("SignatureDelegation".into()));
    }
    // Another commune's mayor lists none of Marseille's, and reads it as null.
    let r = app.gql(Some(&c.mayor_cassis), list, json!({"c": c.marseille})).await;
    assert_eq!(ok(&r)["signatureDelegations"], json!([]));
    assert!(null_for(app, &c.mayor_cassis, &d).await);
    let r = app
        .gql(
            Some(&c.mayor_marseille),
            "query($id:ID!){node(id:$id){... on SignatureDelegation{commune{inseeCode} person{id} endDate}}}",
            json!({"id": d}),
        )
        .await;
    assert_eq!(ok(&r)["node"]["commune"]["inseeCode"], "13055");
    assert_eq!(ok(&r)["node"]["person"]["id"], dgs);
}

/// Whether `node(id)` answers null (no error) to `tok`.
async fn null_for(app: &TestApp, tok: &str, id: &str) -> bool {
    let r = app.gql(Some(tok), NODE, json!({"id": id})).await;
    ok(&r)["node"].is_null()
}
