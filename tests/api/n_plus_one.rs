//! No N+1: a nested list query costs the same number of SQL statements for 5 communes
//! as for 92.
use serde_json::json;

use crate::helpers::{ok, wide_batches, TestApp};

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
    let app = TestApp::demo_with(wide_batches).await;
    let t = app.login_as("secretariat@demo.entente.fr").await;
    let small = statements_for(&app, &t, 5).await;
    let large = statements_for(&app, &t, 92).await;
    // An N+1 adds a statement per commune (87 more for 92 than for 5). A loader whose
    // keys arrive in two batching windows adds one: timing, not the list's length, so a
    // difference of up to 2 is allowed, and both must stay under a fixed bound.
    assert!(large <= small + 2, "statements grew with the list: {small} for 5 communes, {large} for 92");
    assert!(small <= 16 && large <= 16, "{small} / {large} statements for one nested query");
}
