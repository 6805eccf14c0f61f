//! Hardening: depth, complexity, field and alias caps, no batches, body size,
//! introspection and suggestions off in production.
use serde_json::json;

use crate::helpers::{code, ok, TestApp};

#[tokio::test]
async fn deep_queries_are_refused() {
    let app = TestApp::demo().await;
    let t = app.login_as("secretariat@demo.entente.fr").await;
    let deep = "{commune(inseeCode:\"13055\"){memberships{intercommunality{communes(first:2){edges{node{memberships{intercommunality{communes(first:2){edges{node{name}}}}}}}}}}}}";
    let r = app.gql(Some(&t), deep, json!({})).await;
    assert_eq!(code(&r), "QUERY_LIMIT");
    assert!(r["data"].is_null());
}

#[tokio::test]
async fn lists_multiply_complexity_by_their_page_size() {
    let app = TestApp::demo().await;
    let t = app.login_as("secretariat@demo.entente.fr").await;
    // Shallow enough, but 100 x 100 communes.
    let wide =
        "{communes(first:100){edges{node{memberships{intercommunality{communes(first:100){edges{node{name}}}}}}}}}";
    let r = app.gql(Some(&t), wide, json!({})).await;
    assert_eq!(code(&r), "QUERY_LIMIT");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("complex"), "{r}");
    let narrow =
        "{communes(first:3){edges{node{memberships{intercommunality{communes(first:3){edges{node{name}}}}}}}}}";
    ok(&app.gql(Some(&t), narrow, json!({})).await);
}

#[tokio::test]
async fn too_many_aliases_or_fields_are_refused_before_running() {
    let app = TestApp::demo().await;
    let t = app.login_as("secretariat@demo.entente.fr").await;
    let aliases: String = (0..31).map(|i| format!("a{i}: commune(inseeCode:\"13055\"){{name}} ")).collect();
    let r = app.gql(Some(&t), &format!("{{{aliases}}}"), json!({})).await;
    assert_eq!(code(&r), "QUERY_LIMIT");
    // Fragments count at each use.
    let frag = "fragment F on Commune { name inseeCode departement region siren version id }";
    let uses: String = (0..25).map(|i| format!("c{i}: commune(inseeCode:\"13055\"){{...F ...F ...F}} ")).collect();
    let r = app.gql(Some(&t), &format!("{{{uses}}} {frag}"), json!({})).await;
    assert_eq!(code(&r), "QUERY_LIMIT");
    let few: String = (0..5).map(|i| format!("a{i}: commune(inseeCode:\"13055\"){{name}} ")).collect();
    ok(&app.gql(Some(&t), &format!("{{{few}}}"), json!({})).await);
}

#[tokio::test]
async fn self_spreading_fragments_are_refused_without_hanging() {
    let app = TestApp::demo().await;
    // Anonymous: the shape check runs before anything else.
    for q in [
        "query{...A} fragment A on Query{...A ...A}",
        "query{...A} fragment A on Query{...B ...B} fragment B on Query{...A ...A}",
        "query{...A} fragment A on Query{... on Query{...A ...A}}",
    ] {
        let r = tokio::time::timeout(std::time::Duration::from_secs(10), app.gql(None, q, json!({})))
            .await
            .expect("the server answered");
        assert!(["QUERY_LIMIT", "GRAPHQL_VALIDATION"].contains(&code(&r).as_str()), "{q}: {r}");
    }
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn batches_and_oversized_bodies_are_refused() {
    let app = TestApp::demo().await;
    let t = app.login_as("secretariat@demo.entente.fr").await;
    let (status, body) =
        app.post_raw(Some(&t), json!([{"query": "{me{account{email}}}"}, {"query": "{me{account{email}}}"}])).await;
    assert_eq!(status, 400);
    assert_eq!(code(&body), "BATCH_NOT_SUPPORTED");
    let huge = "x".repeat(2 << 20);
    let (status, _) = app.post_raw(Some(&t), json!({"query": format!("{{me{{account{{email}}}}}} # {huge}")})).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn introspection_and_suggestions_follow_the_mode() {
    let dev = TestApp::demo().await;
    let t = dev.login_as("secretariat@demo.entente.fr").await;
    ok(&dev.gql(Some(&t), "{__schema{queryType{name}}}", json!({})).await);
    let typo = dev.gql(Some(&t), "{comunes{totalCount}}", json!({})).await;
    assert!(typo["errors"][0]["message"].as_str().unwrap().contains("Did you mean"), "{typo}");
    let gi = dev.client.get(dev.url("/graphql")).send().await.unwrap();
    assert_eq!(gi.status(), 200);

    let prod = TestApp::demo_with(|c| {
        c.production = true;
        c.graphiql = false;
    })
    .await;
    let t = prod.login_as("secretariat@demo.entente.fr").await;
    let r = prod.gql(Some(&t), "{__schema{queryType{name}}}", json!({})).await;
    assert!(r.get("errors").is_some_and(|e| !e.is_null()) || r["data"]["__schema"].is_null(), "{r}");
    let typo = prod.gql(Some(&t), "{comunes{totalCount}}", json!({})).await;
    assert!(!typo["errors"][0]["message"].as_str().unwrap().contains("Did you mean"), "{typo}");
    let gi = prod.client.get(prod.url("/graphql")).send().await.unwrap();
    assert_ne!(gi.status(), 200);
}
