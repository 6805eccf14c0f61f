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

/// Statement counting without the response cache (a cached answer costs nothing).
fn counting(c: &mut entente::Config) {
    wide_batches(c);
    c.response_cache_entries = 0;
}

/// Every relation of a meeting that a list can reach.
const MEETING_FIELDS: &str = "id title status latestConvocationDate body{name}
  agenda{title quorum{met present required} documents{filename}}
  attendance{status person{fullName}} proxies{id} convocations{sentAt}
  supersededConvocations{sentAt} documents{filename}";

/// Runs `query` and returns the statements it cost and the response.
async fn cost(app: &TestApp, token: &str, query: &str, variables: serde_json::Value) -> (u64, serde_json::Value) {
    let before = app.state.statements.get();
    let r = app.gql(Some(token), query, variables).await;
    ok(&r);
    (app.state.statements.get() - before, r)
}

/// A convened meeting of `body` with one agenda item, `days` ahead.
async fn convened_meeting(app: &TestApp, sec: &str, body: &str, days: i64) {
    let m = crate::meetings::create_meeting(app, sec, body, days).await;
    crate::meetings::add_item(app, sec, &m, "VOTE", "Point").await;
    ok(&crate::meetings::convene(app, sec, &m, None).await);
}

#[tokio::test]
async fn a_list_of_meetings_costs_the_same_statements_for_2_and_20_meetings() {
    let app = TestApp::demo_with(counting).await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    let (wg, _) = crate::meetings::working_group(&app, &sec, &["13055", "13001"]).await;
    let by_body =
        format!("query($id:ID!){{node(id:$id){{... on Body{{meetings(first:50){{nodes{{{MEETING_FIELDS}}}}}}}}}}}");
    let mine = format!("{{myMeetings(first:50){{nodes{{{MEETING_FIELDS}}}}}}}");
    let mut counts = Vec::new();
    let mut made = 0;
    for n in [2, 20] {
        while made < n {
            made += 1;
            convened_meeting(&app, &sec, &wg, 10 + made).await;
        }
        let (body_cost, r) = cost(&app, &sec, &by_body, json!({"id": wg})).await;
        assert_eq!(r["data"]["node"]["meetings"]["nodes"].as_array().unwrap().len() as i64, n);
        // The mayor of Marseille is convened to these and to the demo's plenary.
        let (mine_cost, r) = cost(&app, &mayor, &mine, json!({})).await;
        assert_eq!(r["data"]["myMeetings"]["nodes"].as_array().unwrap().len() as i64, n + 1);
        counts.push((body_cost, mine_cost));
    }
    eprintln!("meeting lists (body's, mine) for 2 and 20 meetings: {counts:?} SQL statements");
    assert_eq!(counts[0], counts[1], "statements grew with the list of meetings: {counts:?}");
}

#[tokio::test]
async fn a_list_of_bodies_costs_the_same_statements_for_2_and_20_bodies() {
    let app = TestApp::demo_with(counting).await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    // A member (not an officer): each body's visibility follows their seats.
    let mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    let amp = app.epci_id(&sec, "200054807").await;
    let q = "query($e:ID!){bodies(intercommunalityId:$e,kind:WORKING_GROUP,first:50){nodes{name kind meetings(first:5){totalCount nodes{title status}} intercommunality{name}}}}";
    // The demo's working group, where the mayor of Marseille sits, and one more.
    let (first, _) = crate::meetings::working_group(&app, &sec, &["13055"]).await;
    convened_meeting(&app, &sec, &first, 12).await;
    let mut counts = Vec::new();
    let mut made = 2;
    for n in [2, 20] {
        while made < n {
            made += 1;
            crate::meetings::working_group(&app, &sec, &["13055", "13001"]).await;
        }
        let (c, r) = cost(&app, &mayor, q, json!({"e": amp})).await;
        assert_eq!(r["data"]["bodies"]["nodes"].as_array().unwrap().len() as i64, n);
        counts.push(c);
    }
    eprintln!("bodies for 2 and 20: {counts:?} SQL statements");
    assert_eq!(counts[0], counts[1], "statements grew with the list of bodies: {counts:?}");
}

#[tokio::test]
async fn a_policy_view_costs_the_same_statements_for_2_and_20_contributions() {
    let app = TestApp::demo_with(counting).await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let dgs = app.login_as("dgs.marseille@demo.entente.fr").await;
    let cassis = app.login_as("maire.cassis@demo.entente.fr").await;
    let marseille = app.commune_id(&sec, "13055").await;
    let cassis_id = app.commune_id(&sec, "13022").await;
    let (p, art) = crate::policies::in_concertation(&app, &sec).await;
    let q = "query($id:ID!){policy(id:$id){title versions{number sections{label title contributionIds}}
      contributions(first:50){nodes{kind status versionNumber sectionId body answer commune{name} author{fullName}
        signatures{author population commune{name} person{fullName}} support{communes inhabitants}}}}}";
    let mut counts = Vec::new();
    let mut made = 0;
    for n in [2, 20] {
        while made < n {
            made += 1;
            let r = app
                .gql(Some(&dgs), "mutation($i:ContributeInput!){contributeToPolicy(input:$i){id}}", json!({"i": {"policyId": p, "kind": "AMENDMENT", "communeId": marseille, "sectionId": art[0], "body": format!("Motif {made}"), "proposedText": "Texte"}}))
                .await;
            let c = ok(&r)["contributeToPolicy"]["id"].clone();
            ok(&app
                .gql(
                    Some(&cassis),
                    "mutation($id:ID!,$c:ID!){cosignContribution(id:$id,communeId:$c){id}}",
                    json!({"id": c, "c": cassis_id}),
                )
                .await);
        }
        let (statements, r) = cost(&app, &sec, q, json!({"id": p})).await;
        assert_eq!(r["data"]["policy"]["contributions"]["nodes"].as_array().unwrap().len() as i64, n);
        counts.push(statements);
    }
    eprintln!("policy view with 2 and 20 contributions: {counts:?} SQL statements");
    assert_eq!(counts[0], counts[1], "statements grew with the contributions: {counts:?}");
}
