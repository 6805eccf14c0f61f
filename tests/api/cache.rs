//! The per-account response cache: repeats cost no query SQL, any mutation (by anyone)
//! makes entries stale, errors are never cached.
use async_graphql::ID;
use entente::ids::{decode, encode, Kind};
use serde_json::json;

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
    assert_eq!(spent, 1, "a cached answer reads only the session (with the data version)");
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
    // A sign-in writes that entry and bumps no data version.
    app.login_as("secretariat@demo.entente.fr").await;
    let after = app.gql(Some(&sec), q, next).await;
    assert_eq!(ok(&after)["node"]["action"], "LOGIN", "{after}");
}
