//! No N+1: a nested list query costs the same number of SQL statements for 5 communes
//! as for 92.
use serde_json::json;

use crate::helpers::{ok, TestApp};

const NESTED: &str = "query($n:Int!){intercommunality(siren:\"200054807\"){name president{person{fullName}}
  communes(first:$n){totalCount edges{node{name population{value}
    currentMayor{role person{fullName mandates{role organisation{... on Commune{name} ... on Intercommunality{name}}}}}
    council{role person{fullName}}
    memberships{startDate intercommunality{name}}}}}}}";

async fn statements_for(app: &TestApp, token: &str, n: i64) -> u64 {
    let before = app.state.statements.get();
    let r = app.gql(Some(token), NESTED, json!({"n": n})).await;
    let edges = ok(&r)["intercommunality"]["communes"]["edges"].as_array().unwrap().len();
    assert_eq!(edges as i64, n);
    app.state.statements.get() - before
}

#[tokio::test]
async fn nested_list_queries_use_a_constant_number_of_statements() {
    // A batching window wide enough that a slow debug build cannot split a batch in
    // two: the count then depends only on the query's shape.
    let app = TestApp::spawn_with(|c| c.dataloader_delay = std::time::Duration::from_millis(25)).await;
    entente::demo::load(&app.state).await.unwrap();
    let t = app.login_as("secretariat@demo.entente.fr").await;
    // 60 and 92 communes both include Marseille, whose council has a DGS who is not a
    // mayor, so both need every loader; a shorter list may need fewer (a person already
    // loaded with a mayor is served from the request's cache).
    let medium = statements_for(&app, &t, 60).await;
    let large = statements_for(&app, &t, 92).await;
    assert_eq!(medium, large, "statements grew with the list: {medium} for 60 communes, {large} for 92");
    let small = statements_for(&app, &t, 5).await;
    assert!(small <= large, "{small} statements for 5 communes, {large} for 92");
    assert!(large <= 16, "{large} statements for one nested query");
}
