//! Persons and mandates: one current mayor, history, powers that follow dates, and
//! concurrent edits detected.
use chrono::Duration;
use serde_json::json;

use crate::helpers::{code, ok, TestApp};

pub const CREATE_PERSON: &str = "mutation($i:CreatePersonInput!){createPerson(input:$i){id version}}";
pub const CREATE_MANDATE: &str =
    "mutation($i:CreateMandateInput!){createMandate(input:$i){id version role isCurrent startDate endDate}}";
const END_MANDATE: &str = "mutation($i:EndMandateInput!){endMandate(input:$i){id version endDate isCurrent}}";

fn today() -> chrono::NaiveDate {
    entente::time::today_paris()
}

pub async fn person(app: &TestApp, token: &str, given: &str, family: &str) -> String {
    let r = app.gql(Some(token), CREATE_PERSON, json!({"i": {"givenName": given, "familyName": family}})).await;
    ok(&r)["createPerson"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_commune_has_one_current_mayor_and_keeps_history() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let cassis = app.commune_id(&sec, "13022").await;
    let newcomer = person(&app, &sec, "Nouvelle", "Maire").await;

    // Overlapping the sitting mayor is refused, and nothing is written.
    let before = app.audit_count().await;
    let clash = app
        .gql(Some(&sec), CREATE_MANDATE, json!({"i": {"personId": newcomer, "organisationId": cassis, "role": "MAYOR", "startDate": today().to_string()}}))
        .await;
    assert_eq!(code(&clash), "CONFLICT");
    assert_eq!(app.audit_count().await, before);

    // End the sitting mayor's mandate today; the successor starts today.
    let r = app
        .gql(Some(&sec), "{commune(inseeCode:\"13022\"){currentMayor{id version person{fullName}}}}", json!({}))
        .await;
    let sitting = ok(&r)["commune"]["currentMayor"].clone();
    let ended = app
        .gql(
            Some(&sec),
            END_MANDATE,
            json!({"i": {"id": sitting["id"], "expectedVersion": sitting["version"], "endDate": today().to_string()}}),
        )
        .await;
    assert_eq!(ok(&ended)["endMandate"]["isCurrent"], false);
    let r = app
        .gql(Some(&sec), CREATE_MANDATE, json!({"i": {"personId": newcomer, "organisationId": cassis, "role": "MAYOR", "startDate": today().to_string()}}))
        .await;
    assert_eq!(ok(&r)["createMandate"]["isCurrent"], true);

    let r = app.gql(Some(&sec), "{commune(inseeCode:\"13022\"){currentMayor{person{fullName}}}}", json!({})).await;
    assert_eq!(ok(&r)["commune"]["currentMayor"]["person"]["fullName"], "Nouvelle Maire");
    // The outgoing mayor's mandate is kept as history.
    let r = app
        .gql(Some(&sec), "query($id:ID!){node(id:$id){... on Mandate{person{mandates{role} history: mandates(includeEnded:true){role endDate}}}}}", json!({"id": sitting["id"]}))
        .await;
    let p = &ok(&r)["node"]["person"];
    assert_eq!(p["mandates"].as_array().unwrap().len(), 0);
    assert_eq!(p["history"][0]["endDate"], today().to_string());
}

#[tokio::test]
async fn powers_follow_current_mandates() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let mayor = app.login_as("maire.cassis@demo.entente.fr").await;
    let cassis = app.commune_id(&sec, "13022").await;
    let councillor = person(&app, &sec, "Conseillère", "Cassidaine").await;
    let add = |start: String| json!({"i": {"personId": councillor, "organisationId": cassis, "role": "MUNICIPAL_COUNCILLOR", "startDate": start}});
    // While mayor, they record councillors of their commune.
    ok(&app.gql(Some(&mayor), CREATE_MANDATE, add(today().to_string())).await);

    // The mayor's mandate ends today: from today, the same token may not.
    let r = app.gql(Some(&sec), "{commune(inseeCode:\"13022\"){currentMayor{id version}}}", json!({})).await;
    let m = ok(&r)["commune"]["currentMayor"].clone();
    ok(&app
        .gql(
            Some(&sec),
            END_MANDATE,
            json!({"i": {"id": m["id"], "expectedVersion": m["version"], "endDate": today().to_string()}}),
        )
        .await);
    let refused = app.gql(Some(&mayor), CREATE_MANDATE, add((today() - Duration::days(1)).to_string())).await;
    assert_eq!(code(&refused), "FORBIDDEN");
    let me = app.gql(Some(&mayor), "{me{currentMandates{role}}}", json!({})).await;
    assert_eq!(ok(&me)["me"]["currentMandates"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_mandate_that_starts_tomorrow_gives_no_power_today() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let aix = app.commune_id(&sec, "13001").await;
    let dgs = person(&app, &sec, "Future", "Directrice").await;
    let r = app
        .gql(Some(&sec), CREATE_MANDATE, json!({"i": {"personId": dgs, "organisationId": aix, "role": "DGS", "startDate": (today() + Duration::days(1)).to_string()}}))
        .await;
    assert_eq!(ok(&r)["createMandate"]["isCurrent"], false);
    let invite = app
        .gql(
            Some(&sec),
            "mutation($i:InviteAccountInput!){inviteAccount(input:$i){token}}",
            json!({"i": {"personId": dgs, "email": "future.dgs@aix.fr", "role": "MEMBER"}}),
        )
        .await;
    let t = ok(&invite)["inviteAccount"]["token"].as_str().unwrap().to_string();
    let s = app
        .gql(
            None,
            "mutation($t:String!){acceptInvitation(token:$t,password:\"a long enough passphrase\"){token}}",
            json!({"t": t}),
        )
        .await;
    let token = ok(&s)["acceptInvitation"]["token"].as_str().unwrap().to_string();
    let councillor = person(&app, &sec, "Conseiller", "Aixois").await;
    let r = app
        .gql(Some(&token), CREATE_MANDATE, json!({"i": {"personId": councillor, "organisationId": aix, "role": "MUNICIPAL_COUNCILLOR", "startDate": today().to_string()}}))
        .await;
    assert_eq!(code(&r), "FORBIDDEN");
}

#[tokio::test]
async fn mandate_input_is_checked() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let cassis = app.commune_id(&sec, "13022").await;
    let amp = app.epci_id(&sec, "200054807").await;
    let p = person(&app, &sec, "Test", "Saisie").await;
    let wrong_org = app
        .gql(
            Some(&sec),
            CREATE_MANDATE,
            json!({"i": {"personId": p, "organisationId": amp, "role": "MAYOR", "startDate": "2026-04-01"}}),
        )
        .await;
    assert_eq!(code(&wrong_org), "VALIDATION");
    assert_eq!(wrong_org["errors"][0]["extensions"]["field"], "role");
    let backwards = app
        .gql(Some(&sec), CREATE_MANDATE, json!({"i": {"personId": p, "organisationId": cassis, "role": "DEPUTY_MAYOR", "startDate": "2026-04-01", "endDate": "2026-03-01"}}))
        .await;
    assert_eq!(backwards["errors"][0]["extensions"]["field"], "endDate");
    let not_org = app
        .gql(
            Some(&sec),
            CREATE_MANDATE,
            json!({"i": {"personId": p, "organisationId": p, "role": "DEPUTY_MAYOR", "startDate": "2026-04-01"}}),
        )
        .await;
    assert_eq!(not_org["errors"][0]["extensions"]["field"], "organisationId");
    let bad_date = app
        .gql(
            Some(&sec),
            CREATE_MANDATE,
            json!({"i": {"personId": p, "organisationId": cassis, "role": "DEPUTY_MAYOR", "startDate": "31/03/2026"}}),
        )
        .await;
    assert_eq!(code(&bad_date), "VALIDATION");
    let ok_one = app
        .gql(Some(&sec), CREATE_MANDATE, json!({"i": {"personId": p, "organisationId": cassis, "role": "DEPUTY_MAYOR", "delegation": "Culture", "startDate": "2026-04-01"}}))
        .await;
    ok(&ok_one);
}

#[tokio::test]
async fn concurrent_edits_of_a_person_are_detected() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let admin = app.login_as("admin@demo.entente.fr").await;
    let p = person(&app, &sec, "Édith", "Concurrente").await;
    const UPDATE: &str = "mutation($i:UpdatePersonInput!){updatePerson(input:$i){givenName familyName email version}}";
    // Both editors read version 1; the first save wins, the second is told.
    let first =
        app.gql(Some(&sec), UPDATE, json!({"i": {"id": p, "expectedVersion": 1, "familyName": "Première"}})).await;
    assert_eq!(ok(&first)["updatePerson"]["version"], 2);
    let second =
        app.gql(Some(&admin), UPDATE, json!({"i": {"id": p, "expectedVersion": 1, "familyName": "Seconde"}})).await;
    assert_eq!(code(&second), "CONFLICT");
    let r = app.gql(Some(&sec), "query($id:ID!){node(id:$id){... on Person{familyName}}}", json!({"id": p})).await;
    assert_eq!(ok(&r)["node"]["familyName"], "Première");
    // Email can be set and cleared; a bad one is refused with its field.
    let r =
        app.gql(Some(&sec), UPDATE, json!({"i": {"id": p, "expectedVersion": 2, "email": "edith@example.fr"}})).await;
    assert_eq!(ok(&r)["updatePerson"]["email"], "edith@example.fr");
    let r = app.gql(Some(&sec), UPDATE, json!({"i": {"id": p, "expectedVersion": 3, "email": null}})).await;
    assert!(ok(&r)["updatePerson"]["email"].is_null());
    let r = app.gql(Some(&sec), UPDATE, json!({"i": {"id": p, "expectedVersion": 4, "email": "nope"}})).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "email");
}

#[tokio::test]
async fn two_simultaneous_appointments_of_a_mayor_yield_one() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let r = app.gql(Some(&sec), "{commune(inseeCode:\"13001\"){id currentMayor{id version}}}", json!({})).await;
    let c = ok(&r)["commune"].clone();
    let end = (today() + Duration::days(10)).to_string();
    ok(&app.gql(Some(&sec), END_MANDATE, json!({"i": {"id": c["currentMayor"]["id"], "expectedVersion": c["currentMayor"]["version"], "endDate": end}})).await);
    let a = person(&app, &sec, "Candidate", "Une").await;
    let b = person(&app, &sec, "Candidat", "Deux").await;
    let appoint = |p: String| {
        app.gql(
            Some(&sec),
            CREATE_MANDATE,
            json!({"i": {"personId": p, "organisationId": c["id"], "role": "MAYOR", "startDate": end}}),
        )
    };
    let (ra, rb) = tokio::join!(appoint(a), appoint(b));
    let oks = [&ra, &rb].iter().filter(|r| r.get("errors").is_none_or(|e| e.is_null())).count();
    assert_eq!(oks, 1, "{ra} {rb}");
    let loser = if ra.get("errors").is_some_and(|e| !e.is_null()) { &ra } else { &rb };
    assert_eq!(code(loser), "CONFLICT");
}

#[tokio::test]
async fn an_ended_mayor_mandate_cannot_be_reopened_over_the_successor() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let cassis = app.commune_id(&sec, "13022").await;
    let r = app.gql(Some(&sec), "{commune(inseeCode:\"13022\"){currentMayor{id version}}}", json!({})).await;
    let sitting = ok(&r)["commune"]["currentMayor"].clone();
    let ended = app
        .gql(
            Some(&sec),
            END_MANDATE,
            json!({"i": {"id": sitting["id"], "expectedVersion": sitting["version"], "endDate": today().to_string()}}),
        )
        .await;
    let v = ok(&ended)["endMandate"]["version"].clone();
    let successor = person(&app, &sec, "Successeure", "Cassidaine").await;
    ok(&app.gql(Some(&sec), CREATE_MANDATE, json!({"i": {"personId": successor, "organisationId": cassis, "role": "MAYOR", "startDate": today().to_string()}})).await);
    let later = (today() + Duration::days(365)).to_string();
    let r = app
        .gql(Some(&sec), END_MANDATE, json!({"i": {"id": sitting["id"], "expectedVersion": v, "endDate": later}}))
        .await;
    assert_eq!(code(&r), "CONFLICT", "{r}");
}

#[tokio::test]
async fn absurd_versions_and_cursors_are_refused_not_panicked_on() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let p = person(&app, &sec, "Grand", "Nombre").await;
    let r = app
        .gql(
            Some(&sec),
            "mutation($i:UpdatePersonInput!){updatePerson(input:$i){id}}",
            json!({"i": {"id": p, "expectedVersion": i32::MAX, "givenName": "X"}}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION");
    // Cursors are keyset cursors (sort key and id, opaque): one past every commune.
    use base64::Engine;
    let past = json!({"l": "communes", "k": "\u{10FFFF}", "i": i32::MAX}).to_string();
    let past = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(past);
    let r = app
        .gql(Some(&sec), "query($a:String){communes(after:$a,first:5){totalCount edges{cursor}}}", json!({"a": past}))
        .await;
    assert_eq!(ok(&r)["communes"]["edges"].as_array().unwrap().len(), 0);
}
