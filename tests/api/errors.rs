//! Error codes, and internal errors that reach the client without their text.
use serde_json::json;

use crate::helpers::{code, ok, TestApp};

#[tokio::test]
async fn not_found_and_validation_carry_stable_codes() {
    let app = TestApp::demo().await;
    let t = app.login_as("secretariat@demo.entente.fr").await;
    // A well-formed ID of a person that does not exist.
    let ghost = entente::ids::encode(entente::ids::Kind::Person, 999_999).0;
    let r = app
        .gql(
            Some(&t),
            "mutation($i:UpdatePersonInput!){updatePerson(input:$i){id}}",
            json!({"i": {"id": ghost, "expectedVersion": 1, "givenName": "X"}}),
        )
        .await;
    assert_eq!(code(&r), "NOT_FOUND");
    // An ID of the wrong kind.
    let commune = app.commune_id(&t, "13055").await;
    let r = app
        .gql(
            Some(&t),
            "mutation($i:UpdatePersonInput!){updatePerson(input:$i){id}}",
            json!({"i": {"id": commune, "expectedVersion": 1}}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION");
    assert_eq!(r["errors"][0]["extensions"]["field"], "id");
    // Engine-level errors get a code too.
    let r = app.gql(Some(&t), "{nosuchfield}", json!({})).await;
    assert_eq!(code(&r), "GRAPHQL_VALIDATION");
    let r = app.gql(Some(&t), "{communes(first:\"x\"){totalCount}}", json!({})).await;
    assert!(["VALIDATION", "GRAPHQL_VALIDATION"].contains(&code(&r).as_str()), "{r}");
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(code(&resp.json().await.unwrap()), "BAD_REQUEST");
    let r = app.gql(Some(&t), "", json!({})).await;
    assert_eq!(code(&r), "GRAPHQL_VALIDATION");
}

#[tokio::test]
async fn a_failing_database_gives_internal_without_its_text_and_health_says_so() {
    let app = TestApp::demo().await;
    let t = app.login_as("secretariat@demo.entente.fr").await;
    use sea_orm::ConnectionTrait;
    app.state.db.execute_unprepared("DROP TABLE territory_commune").await.unwrap();
    app.state.db.execute_unprepared("DROP TABLE territory").await.unwrap();
    let r = app.gql(Some(&t), "{intercommunality(siren:\"200054807\"){territories{name}}}", json!({})).await;
    assert_eq!(code(&r), "INTERNAL");
    let text = r.to_string().to_lowercase();
    for leak in ["territory\"", "sql", "no such table", "relation", "does not exist", "select"] {
        assert!(!text.contains(leak), "internal detail {leak:?} leaked: {r}");
    }
    // Other fields still answer.
    ok(&app.gql(Some(&t), "{commune(inseeCode:\"13055\"){name}}", json!({})).await);
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    app.state.db.clone().close().await.unwrap();
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 503);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let resp = app.client.get(app.url("/health")).send().await.unwrap();
    assert!(resp.headers().get("x-request-id").is_some_and(|v| v.len() >= 32));
}
