//! The per-account response cache: repeats cost no query SQL, a mutation (by anyone)
//! makes stale the entries whose answer it may change and only those, errors are never
//! cached.
use async_graphql::ID;
use entente::ids::{decode, encode, Kind};
use serde_json::{json, Value};

use crate::helpers::{code, ok, TestApp};

const AMP: &str = "{intercommunality(siren:\"200054807\"){communes(first:100){totalCount edges{node{name currentMayor{person{fullName}}}}}}}";

#[tokio::test]
async fn a_repeated_query_is_served_from_the_cache() {
    let app = TestApp::demo().await;
    let t = app.login_as("maire.cassis@demo.entente.fr").await;
    let first = app.gql(Some(&t), AMP, json!({})).await;
    let before = app.state.statements.get();
    let second = app.gql(Some(&t), AMP, json!({})).await;
    let spent = app.state.statements.get() - before;
    assert_eq!(first, second);
    assert_eq!(spent, 1, "a cached answer reads only the session (with the versions)");
    // A sign-in elsewhere changes nothing a query shows: still cached.
    app.login_as("maire.aix@demo.entente.fr").await;
    let before = app.state.statements.get();
    app.gql(Some(&t), AMP, json!({})).await;
    assert_eq!(app.state.statements.get() - before, 1);
}

#[tokio::test]
async fn a_mutation_by_anyone_makes_cached_answers_stale() {
    let app = TestApp::demo().await;
    let mayor = app.login_as("maire.cassis@demo.entente.fr").await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let q = "{commune(inseeCode:\"13022\"){council{role person{fullName}}}}";
    let before = app.gql(Some(&mayor), q, json!({})).await;
    assert_eq!(ok(&before)["commune"]["council"].as_array().unwrap().len(), 1);
    let cassis = app.commune_id(&sec, "13022").await;
    let p = crate::mandates::person(&app, &sec, "Nouvelle", "Adjointe").await;
    ok(&app
        .gql(
            Some(&sec),
            crate::mandates::CREATE_MANDATE,
            json!({"i": {"personId": p, "organisationId": cassis, "role": "DEPUTY_MAYOR", "startDate": "2026-04-01"}}),
        )
        .await);
    let after = app.gql(Some(&mayor), q, json!({})).await;
    assert_eq!(ok(&after)["commune"]["council"].as_array().unwrap().len(), 2, "{after}");
}

#[tokio::test]
async fn errors_are_not_cached_and_accounts_do_not_share_entries() {
    let app = TestApp::demo().await;
    let mayor = app.login_as("maire.cassis@demo.entente.fr").await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let q = "{auditEntries{totalCount}}";
    assert_eq!(code(&app.gql(Some(&mayor), q, json!({})).await), "FORBIDDEN");
    ok(&app.gql(Some(&sec), q, json!({})).await);
    assert_eq!(code(&app.gql(Some(&mayor), q, json!({})).await), "FORBIDDEN");
    let amp_id = app.epci_id(&sec, "200054807").await;
    let vars = json!({"e": amp_id});
    let q = "query($e:ID){auditEntries(intercommunalityId:$e){totalCount}}";
    ok(&app.gql(Some(&sec), q, vars.clone()).await);
    assert_eq!(code(&app.gql(Some(&mayor), q, vars).await), "FORBIDDEN");
}

#[tokio::test]
async fn the_audit_log_is_never_served_stale() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let q = "{auditEntries(action:\"LOGIN\"){totalCount}}";
    let before = ok(&app.gql(Some(&sec), q, json!({})).await)["auditEntries"]["totalCount"].as_u64().unwrap();
    app.login_as("secretariat@demo.entente.fr").await;
    let after = ok(&app.gql(Some(&sec), q, json!({})).await)["auditEntries"]["totalCount"].as_u64().unwrap();
    assert_eq!(after, before + 1);
}

#[tokio::test]
async fn an_audit_entry_read_by_its_id_is_never_served_stale() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    // The newest entry is this sign-in: the one after it does not exist yet.
    let newest = app.gql(Some(&sec), "{auditEntries(first:1){edges{node{id action}}}}", json!({})).await;
    let node = &ok(&newest)["auditEntries"]["edges"][0]["node"];
    assert_eq!(node["action"], "LOGIN", "{newest}");
    let n = decode("id", Kind::AuditEntry, &ID(node["id"].as_str().unwrap_or_default().into())).unwrap();
    let q = "query($id:ID!){node(id:$id){... on AuditEntry{action}}}";
    let next = json!({"id": encode(Kind::AuditEntry, n + 1).0});
    assert!(ok(&app.gql(Some(&sec), q, next.clone()).await)["node"].is_null());
    // A sign-in writes that entry and bumps no version.
    app.login_as("secretariat@demo.entente.fr").await;
    let after = app.gql(Some(&sec), q, next).await;
    assert_eq!(ok(&after)["node"]["action"], "LOGIN", "{after}");
}

// Invalidation follows what an answer read (issue 14, defect 8): each kind of record is
// read through the cache, changed through the API, and read again; and writes that do
// not change an answer leave it cached.

/// Reads `q` twice as `tok` (the second from the cache) and returns the answer and what
/// the repeat cost in statements.
async fn cached(app: &TestApp, tok: &str, q: &str, vars: Value) -> (Value, u64) {
    let first = app.gql(Some(tok), q, vars.clone()).await;
    ok(&first);
    let before = app.state.statements.get();
    let again = app.gql(Some(tok), q, vars).await;
    let spent = app.state.statements.get() - before;
    assert_eq!(first, again);
    (first, spent)
}

/// The demo's referral whose title contains `part`, as seen by the secretariat.
async fn demo_referral(app: &TestApp, sec: &str, part: &str) -> String {
    let r = app.gql(Some(sec), "{referrals{nodes{id title}}}", json!({})).await;
    let found =
        ok(&r)["referrals"]["nodes"].as_array().unwrap().iter().find(|x| x["title"].as_str().unwrap().contains(part));
    found.unwrap_or_else(|| panic!("no demo referral {part}: {r}"))["id"].as_str().unwrap().to_string()
}

const RESPONSE: &str = "query($id:ID!,$c:ID!){referral(id:$id){status deadlineDay documents{filename} response(communeId:$c){status opinion version submittedBy{fullName}}}}";
const DRAFT: &str = "mutation($i:ResponseInput!){saveResponseDraft(input:$i){version status}}";

#[tokio::test]
async fn a_referral_draft_leaves_cached_territory_and_other_referral_answers() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    let president = app.login_as("president@demo.entente.fr").await;
    let marseille = app.commune_id(&sec, "13055").await;
    let cassis = app.commune_id(&sec, "13022").await;
    let pact = demo_referral(&app, &sec, "Pacte").await;
    let census = demo_referral(&app, &sec, "Recensement").await;
    // The secretariat's AMP territory query and another account's view of the other
    // referral, both cached.
    let (_, spent) = cached(&app, &sec, AMP, json!({})).await;
    assert_eq!(spent, 1, "a cached territory answer reads only the session (with its versions)");
    let other = json!({"id": census, "c": cassis});
    let (_, spent) = cached(&app, &president, RESPONSE, other.clone()).await;
    assert_eq!(spent, 2, "a cached referral answer reads the session and the referral's version");
    let mine = json!({"id": pact, "c": marseille});
    let (before, _) = cached(&app, &mayor, RESPONSE, mine.clone()).await;
    // Marseille's mayor saves drafts on the pact.
    for reasons in ["Premier jet.", "Deuxième jet."] {
        let v = app.gql(Some(&mayor), RESPONSE, mine.clone()).await;
        let v = ok(&v)["referral"]["response"]["version"].clone();
        let i = json!({"referralId": pact, "communeId": marseille, "expectedVersion": v, "opinion": "FAVOURABLE", "reasons": reasons});
        ok(&app.gql(Some(&mayor), DRAFT, json!({"i": i})).await);
        for (tok, q, vars, hit) in [(&sec, AMP, json!({}), 1), (&president, RESPONSE, other.clone(), 2)] {
            let s = app.state.statements.get();
            ok(&app.gql(Some(tok), q, vars).await);
            assert_eq!(app.state.statements.get() - s, hit, "a draft on the pact emptied a cached answer: {q}");
        }
    }
    // The pact's own answer is never stale.
    let after = app.gql(Some(&mayor), RESPONSE, mine).await;
    assert_ne!(before, after);
    assert_eq!(ok(&after)["referral"]["response"]["status"], "DRAFT", "{after}");
}

#[tokio::test]
async fn territory_answers_follow_each_write_that_changes_them() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let mayor = app.login_as("maire.cassis@demo.entente.fr").await;
    let amp = app.epci_id(&sec, "200054807").await;
    let martigues = app.commune_id(&sec, "13056").await;
    // Territory: created, then renamed.
    let q = "{intercommunality(siren:\"200054807\"){territories{name communes{name}}}}";
    let (before, _) = cached(&app, &mayor, q, json!({})).await;
    let create = "mutation($i:CreateTerritoryInput!){createTerritory(input:$i){id}}";
    let r = app
        .gql(
            Some(&sec),
            create,
            json!({"i": {"intercommunalityId": amp, "name": "Pays de Martigues", "communeIds": [martigues]}}),
        )
        .await;
    let terr = ok(&r)["createTerritory"]["id"].clone();
    let after = app.gql(Some(&mayor), q, json!({})).await;
    assert_ne!(before, after);
    assert!(after.to_string().contains("Pays de Martigues"), "{after}");
    cached(&app, &mayor, q, json!({})).await;
    let update = "mutation($i:UpdateTerritoryInput!){updateTerritory(input:$i){version}}";
    ok(&app.gql(Some(&sec), update, json!({"i": {"id": terr, "expectedVersion": 1, "name": "Pays de Martigues (CT6)", "communeIds": [martigues]}})).await);
    let after = app.gql(Some(&mayor), q, json!({})).await;
    assert!(after.to_string().contains("Pays de Martigues (CT6)"), "{after}");
    // Person: the mayor renamed, read through the AMP query and through `persons`.
    let (before, _) = cached(&app, &mayor, AMP, json!({})).await;
    let pq = "{persons(search:\"Cassis\"){totalCount}}";
    let (persons_before, _) = cached(&app, &sec, pq, json!({})).await;
    let (_, person) = crate::meetings::mayor(&app, &sec, "13022").await;
    let v = app.gql(Some(&sec), "query($id:ID!){node(id:$id){... on Person{version}}}", json!({"id": person})).await;
    let v = ok(&v)["node"]["version"].clone();
    let upd = "mutation($i:UpdatePersonInput!){updatePerson(input:$i){version}}";
    ok(&app
        .gql(Some(&sec), upd, json!({"i": {"id": person, "expectedVersion": v, "familyName": "Cassis-Renommée"}}))
        .await);
    let after = app.gql(Some(&mayor), AMP, json!({})).await;
    assert_ne!(before, after);
    assert!(after.to_string().contains("Cassis-Renommée"), "{after}");
    let persons_after = app.gql(Some(&sec), pq, json!({})).await;
    assert_ne!(persons_before, persons_after, "persons served stale");
    // Mandate: a deputy added to Cassis's council, read through `commune`.
    let cq = "{commune(inseeCode:\"13022\"){council{role person{fullName}}}}";
    let (before, _) = cached(&app, &mayor, cq, json!({})).await;
    let cassis = app.commune_id(&sec, "13022").await;
    let p = crate::mandates::person(&app, &sec, "Nouvelle", "Adjointe").await;
    let i = json!({"i": {"personId": p, "organisationId": cassis, "role": "DEPUTY_MAYOR", "startDate": "2026-04-01"}});
    ok(&app.gql(Some(&sec), crate::mandates::CREATE_MANDATE, i).await);
    let after = app.gql(Some(&mayor), cq, json!({})).await;
    assert_ne!(before, after);
    // Account: an invitation gives the new deputy an account; as a secretariat's person
    // contact rules follow mandates, her address shows in `communes` once she has one.
    let eq = "{communes(search:\"Cassis\"){nodes{council{person{fullName email}}}}}";
    let (before, _) = cached(&app, &sec, eq, json!({})).await;
    let v = app.gql(Some(&sec), "query($id:ID!){node(id:$id){... on Person{version}}}", json!({"id": p})).await;
    let v = ok(&v)["node"]["version"].clone();
    ok(&app
        .gql(Some(&sec), upd, json!({"i": {"id": p, "expectedVersion": v, "email": "adjointe@cassis.example"}}))
        .await);
    let after = app.gql(Some(&sec), eq, json!({})).await;
    assert_ne!(before, after);
    assert!(after.to_string().contains("adjointe@cassis.example"), "{after}");
    // The intercommunalities list, after a territory change.
    let lq = "{intercommunalities(search:\"Aix-Marseille\"){nodes{name territories{name}}}}";
    let (before, _) = cached(&app, &sec, lq, json!({})).await;
    ok(&app.gql(Some(&sec), create, json!({"i": {"intercommunalityId": amp, "name": "Pays d'Aubagne"}})).await);
    assert_ne!(before, app.gql(Some(&sec), lq, json!({})).await);
}

#[tokio::test]
async fn referral_answers_follow_each_write_that_changes_them() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    let dgs = app.login_as("dgs.marseille@demo.entente.fr").await;
    let marseille = app.commune_id(&sec, "13055").await;
    let pact = demo_referral(&app, &sec, "Pacte").await;
    let q = json!({"id": pact, "c": marseille});
    let version = |r: &Value| ok(r)["referral"]["response"]["version"].clone();
    // A draft by the DGS, read by the secretariat and by the mayor.
    let (before, _) = cached(&app, &sec, RESPONSE, q.clone()).await;
    let (mayor_before, _) = cached(&app, &mayor, RESPONSE, q.clone()).await;
    let i = json!({"referralId": pact, "communeId": marseille, "expectedVersion": version(&before), "opinion": "UNFAVOURABLE", "reasons": "Coût."});
    ok(&app.gql(Some(&dgs), DRAFT, json!({"i": i})).await);
    let after = app.gql(Some(&sec), RESPONSE, q.clone()).await;
    assert_eq!(ok(&after)["referral"]["response"]["status"], "DRAFT", "{after}");
    assert_ne!(mayor_before, app.gql(Some(&mayor), RESPONSE, q.clone()).await);
    // Submission by the mayor.
    cached(&app, &sec, RESPONSE, q.clone()).await;
    let i = json!({"referralId": pact, "communeId": marseille, "expectedVersion": version(&after), "opinion": "FAVOURABLE",
        "reasons": "Délibération motivée.", "deliberationNumber": "2026-117",
        "deliberationDate": (entente::time::today_paris() - chrono::Duration::days(1)).to_string()});
    ok(&app.gql(Some(&mayor), "mutation($i:ResponseInput!){submitResponse(input:$i){status}}", json!({"i": i})).await);
    let after = app.gql(Some(&sec), RESPONSE, q.clone()).await;
    assert_eq!(ok(&after)["referral"]["response"]["status"], "SUBMITTED", "{after}");
    // The submitter renamed (a person's write, not the referral's) shows in the referral.
    let (before, _) = cached(&app, &sec, RESPONSE, q.clone()).await;
    let (_, person) = crate::meetings::mayor(&app, &sec, "13055").await;
    let v = app.gql(Some(&sec), "query($id:ID!){node(id:$id){... on Person{version}}}", json!({"id": person})).await;
    let v = ok(&v)["node"]["version"].clone();
    let upd = "mutation($i:UpdatePersonInput!){updatePerson(input:$i){version}}";
    ok(&app
        .gql(Some(&sec), upd, json!({"i": {"id": person, "expectedVersion": v, "familyName": "Marseille-Renommé"}}))
        .await);
    let after = app.gql(Some(&sec), RESPONSE, q.clone()).await;
    assert_ne!(before, after);
    assert!(after.to_string().contains("Marseille-Renommé"), "{after}");
    // The census's deadline extended by the secretariat.
    let census = demo_referral(&app, &sec, "Recensement").await;
    let cq = json!({"id": census, "c": marseille});
    let (before, _) = cached(&app, &mayor, RESPONSE, cq.clone()).await;
    let rv = app.gql(Some(&sec), "query($id:ID!){referral(id:$id){version}}", json!({"id": census})).await;
    let ext = "mutation($id:ID!,$v:Int!,$d:NaiveDate!,$r:String!){extendReferralDeadline(id:$id,expectedVersion:$v,deadlineDate:$d,reason:$r){deadlineDay}}";
    let day = (entente::time::today_paris() + chrono::Duration::days(80)).to_string();
    let r = app
        .gql(
            Some(&sec),
            ext,
            json!({"id": census, "v": ok(&rv)["referral"]["version"], "d": day, "r": "Report demandé."}),
        )
        .await;
    ok(&r);
    let after = app.gql(Some(&mayor), RESPONSE, cq).await;
    assert_ne!(before, after, "{r}");
    assert_eq!(ok(&after)["referral"]["deadlineDay"], day.as_str());
    // A signature delegation to the DGS, read through the delegations of Marseille.
    let dq = "query($c:ID!){signatureDelegations(communeId:$c){person{fullName} endDate}}";
    let (before, _) = cached(&app, &mayor, dq, json!({"c": marseille})).await;
    let me = app.gql(Some(&dgs), "{me{person{id}}}", json!({})).await;
    let grant = "mutation($c:ID!,$p:ID!){grantSignatureDelegation(communeId:$c,personId:$p){id}}";
    ok(&app.gql(Some(&mayor), grant, json!({"c": marseille, "p": ok(&me)["me"]["person"]["id"]})).await);
    assert_ne!(before, app.gql(Some(&mayor), dq, json!({"c": marseille})).await);
    // The deadline job closes the referral.
    let (before, _) = cached(&app, &sec, RESPONSE, q.clone()).await;
    crate::referrals::time_passes(&app, &pact).await;
    // (time_passes bumps every version, as a new day does: read once more, then close.)
    cached(&app, &sec, RESPONSE, q.clone()).await;
    entente::referrals::service::run_jobs(&app.state.db, chrono::Utc::now()).await.unwrap();
    let after = app.gql(Some(&sec), RESPONSE, q.clone()).await;
    assert_ne!(before, after);
    assert_eq!(ok(&after)["referral"]["status"], "CLOSED", "{after}");
}

#[tokio::test]
async fn meeting_answers_follow_each_write_that_changes_them() {
    use crate::meetings::{add_item, add_seat, create_body, create_meeting, mayor};
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let amp = app.epci_id(&sec, "200054807").await;
    // Body.
    let bq = "query($e:ID!){bodies(intercommunalityId:$e){nodes{name members{role}}}}";
    let (before, _) = cached(&app, &sec, bq, json!({"e": amp})).await;
    let body = create_body(&app, &sec, "WORKING_GROUP", "GT Cache").await;
    let after = app.gql(Some(&sec), bq, json!({"e": amp})).await;
    assert_ne!(before, after);
    // Seat.
    let (before, _) = cached(&app, &sec, bq, json!({"e": amp})).await;
    let (m, _) = mayor(&app, &sec, "13022").await;
    ok(&add_seat(&app, &sec, &body, &m, "MEMBER").await);
    assert_ne!(before, app.gql(Some(&sec), bq, json!({"e": amp})).await);
    // Meeting, then an agenda item.
    let mq = "query($id:ID!){meeting(id:$id){title agenda{title}}}";
    let meeting = create_meeting(&app, &sec, &body, 20).await;
    let (before, _) = cached(&app, &sec, mq, json!({"id": meeting})).await;
    add_item(&app, &sec, &meeting, "VOTE", "Plan vélo").await;
    let after = app.gql(Some(&sec), mq, json!({"id": meeting})).await;
    assert_ne!(before, after);
    assert!(after.to_string().contains("Plan vélo"));
}

#[tokio::test]
async fn a_meeting_write_leaves_cached_territory_answers_and_changes_its_referral() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    let amp = app.epci_id(&sec, "200054807").await;
    let (wg, _) = crate::meetings::working_group(&app, &sec, &["13055", "13001"]).await;
    let meeting = crate::meetings::create_meeting(&app, &sec, &wg, 20).await;
    let i = json!({"title": "Plan vélo", "silence": "NO_RESPONSE", "deadlineDate": crate::meetings::today() + chrono::Duration::days(30), "meetingId": meeting});
    let r = app.gql(Some(&sec), crate::referrals::CREATE, json!({"e": amp, "p": "FREE_CONSULTATION", "i": i})).await;
    let referral = ok(&r)["createReferral"]["id"].as_str().unwrap().to_string();
    let rq = "query($id:ID!){referral(id:$id){title meeting{title}}}";
    let (before, spent) = cached(&app, &sec, rq, json!({"id": referral})).await;
    assert_eq!(spent, 2, "a cached referral answer reads the session and its scopes' versions, together");
    assert_eq!(before["data"]["referral"]["meeting"]["title"], "Séance J+20", "{before}");
    let (_, spent) = cached(&app, &sec, AMP, json!({})).await;
    assert_eq!(spent, 1);
    let update = "mutation($i:UpdateMeetingInput!){updateMeeting(input:$i){id version}}";
    ok(&app
        .gql(Some(&sec), update, json!({"i": {"id": meeting, "expectedVersion": 1, "title": "Séance renommée"}}))
        .await);
    ok(&app
        .gql(
            Some(&mayor),
            "mutation($t:DateTime!){markNotificationsRead(upTo:$t){marked}}",
            json!({"t": chrono::Utc::now()}),
        )
        .await);
    // The territory answer stays cached; the referral's shows the new title.
    let s = app.state.statements.get();
    ok(&app.gql(Some(&sec), AMP, json!({})).await);
    assert_eq!(
        app.state.statements.get() - s,
        1,
        "a meeting write or a notification read emptied the territory answer"
    );
    let after = app.gql(Some(&sec), rq, json!({"id": referral})).await;
    assert_eq!(after["data"]["referral"]["meeting"]["title"], "Séance renommée", "{after}");
}
