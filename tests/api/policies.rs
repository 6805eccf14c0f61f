//! Policies written together (issue 15), through HTTP: the policy, its working text,
//! versions and their comparison, the lifecycle, who may do what.
use serde_json::{json, Value};

use crate::helpers::{code, ok, TestApp};
use crate::meetings::working_group;

const CREATE: &str = "mutation($i:CreatePolicyInput!){createPolicy(input:$i){id status cycle version}}";
const ADD: &str = "mutation($i:AddPolicySectionInput!){addPolicySection(input:$i){id label depth position version}}";
const EDIT: &str = "mutation($i:UpdatePolicySectionInput!){updatePolicySection(input:$i){id title body version label}}";
const MOVE: &str = "mutation($i:MovePolicySectionInput!){movePolicySection(input:$i){id label position version}}";
const PUBLISH: &str =
    "mutation($p:ID!,$n:String!){publishPolicyVersion(policyId:$p,changeNote:$n){number sections{label title body}}}";
const TRANSITION: &str =
    "mutation($i:TransitionPolicyInput!){transitionPolicy(input:$i){status version cycle concertationClosesAt}}";
const DRAFT: &str = "query($id:ID!){policy(id:$id){version draft{id label depth title body version}}}";

/// The mobility agenda, drafted by a working group animated by AMP's president.
pub async fn agenda(app: &TestApp, sec: &str) -> (String, String) {
    let (wg, _) = working_group(app, sec, &["13055", "13001"]).await;
    let amp = app.epci_id(sec, "200054807").await;
    let r = app
        .gql(
            Some(sec),
            CREATE,
            json!({"i": {"intercommunalityId": amp, "kind": "AGENDA_OR_PLAN", "title": "Agenda de la mobilité métropolitaine",
                "summary": "Co-construit avec le groupe de travail des maires sur la mobilité.", "draftingBodyId": wg,
                "secretariat": "Direction de la mobilité"}}),
        )
        .await;
    let p = &ok(&r)["createPolicy"];
    assert_eq!((p["status"].as_str(), p["cycle"].as_i64()), (Some("DRAFTING"), Some(1)));
    (p["id"].as_str().unwrap().to_string(), wg)
}

async fn add(app: &TestApp, tok: &str, policy: &str, parent: Option<&str>, title: &str, body: &str) -> Value {
    let r = app
        .gql(Some(tok), ADD, json!({"i": {"policyId": policy, "parentId": parent, "title": title, "body": body}}))
        .await;
    ok(&r)["addPolicySection"].clone()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn version(app: &TestApp, tok: &str, policy: &str) -> i64 {
    let r = app.gql(Some(tok), "query($id:ID!){policy(id:$id){version}}", json!({"id": policy})).await;
    ok(&r)["policy"]["version"].as_i64().unwrap()
}

async fn transition(app: &TestApp, tok: &str, policy: &str, to: &str, closes: Option<String>) -> Value {
    let v = version(app, tok, policy).await;
    app.gql(
        Some(tok),
        TRANSITION,
        json!({"i": {"id": policy, "expectedVersion": v, "to": to, "concertationClosesAt": closes}}),
    )
    .await
}

fn in_days(n: i64) -> String {
    format!("{}T18:00:00", entente::time::today_paris() + chrono::Duration::days(n))
}

#[tokio::test]
async fn a_text_is_drafted_published_and_compared_version_to_version() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (p, _) = agenda(&app, &sec).await;
    let part1 = add(&app, &sec, &p, None, "Titre I : Orientations", "").await;
    let a1 = add(&app, &sec, &p, Some(&id(&part1)), "Article 1", "Les communes sont associées aux décisions.").await;
    let a2 = add(&app, &sec, &p, Some(&id(&part1)), "Article 2", "Le plan est révisé tous les six ans.").await;
    let a3 = add(&app, &sec, &p, Some(&id(&part1)), "Article 3", "Texte supprimé ensuite.").await;
    assert_eq!((a2["label"].as_str(), a2["depth"].as_i64()), (Some("1.2"), Some(2)));
    let part2 = add(&app, &sec, &p, None, "Titre II : Moyens", "Financement.").await;
    assert_eq!(part2["label"], "2");

    let r = app.gql(Some(&sec), PUBLISH, json!({"p": p, "n": "Première version soumise à la concertation."})).await;
    let v1 = &ok(&r)["publishPolicyVersion"];
    assert_eq!(v1["number"], 1);
    let labels: Vec<&str> = v1["sections"].as_array().unwrap().iter().map(|s| s["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["1", "1.1", "1.2", "1.3", "2"]);

    // Version 2: an article changed, one moved first, one removed, one added.
    let r = app
        .gql(Some(&sec), EDIT, json!({"i": {"id": id(&a1), "expectedVersion": 1, "body": "Les communes sont étroitement associées aux décisions."}}))
        .await;
    assert_eq!(ok(&r)["updatePolicySection"]["version"], 2);
    let r = app
        .gql(
            Some(&sec),
            MOVE,
            json!({"i": {"id": id(&a2), "expectedVersion": 1, "parentId": id(&part1), "position": 0}}),
        )
        .await;
    assert_eq!(ok(&r)["movePolicySection"]["label"], "1.1");
    let r = app
        .gql(Some(&sec), "mutation($id:ID!){removePolicySection(id:$id,expectedVersion:1)}", json!({"id": id(&a3)}))
        .await;
    assert_eq!(ok(&r)["removePolicySection"], true);
    add(&app, &sec, &p, Some(&id(&part2)), "Article 4", "Un fonds de concours.").await;
    let r = app.gql(Some(&sec), PUBLISH, json!({"p": p, "n": "Après la concertation."})).await;
    assert_eq!(ok(&r)["publishPolicyVersion"]["number"], 2);

    // Version 1 is kept as it was.
    let r = app
        .gql(
            Some(&sec),
            "query($id:ID!){policy(id:$id){versionNumbered(number:1){sections{label title body}}}}",
            json!({"id": p}),
        )
        .await;
    let s = &ok(&r)["policy"]["versionNumbered"]["sections"];
    assert_eq!(s[1]["body"], "Les communes sont associées aux décisions.");
    assert_eq!(s.as_array().unwrap().len(), 5);

    let q = "query($id:ID!){policy(id:$id){compare(from:1,to:2){sectionId kind moved body{op text}}}}";
    let r = app.gql(Some(&sec), q, json!({"id": p})).await;
    let changes = ok(&r)["policy"]["compare"].as_array().unwrap().clone();
    let kinds: Vec<(&str, bool)> =
        changes.iter().map(|c| (c["kind"].as_str().unwrap(), c["moved"].as_bool().unwrap())).collect();
    assert_eq!(kinds, [("MOVED", true), ("CHANGED", true), ("ADDED", false), ("REMOVED", false)], "{changes:?}");
    assert_eq!(changes[1]["sectionId"], a1["id"]);
    assert!(changes[1]["body"].as_array().unwrap().contains(&json!({"op": "INSERT", "text": "étroitement "})));
    assert_eq!(changes[3]["sectionId"], a3["id"]);
    // Unknown versions are not found.
    let r = app.gql(Some(&sec), "query($id:ID!){policy(id:$id){compare(from:1,to:9){kind}}}", json!({"id": p})).await;
    assert_eq!(code(&r), "NOT_FOUND");
}

#[tokio::test]
async fn two_editors_of_one_section_one_gets_conflict_and_nothing_is_lost() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let president = app.login_as("president@demo.entente.fr").await;
    let (p, _) = agenda(&app, &sec).await;
    let a = add(&app, &sec, &p, None, "Article 1", "Texte initial.").await;
    // The president animates the drafting body: a member of the drafting team.
    let first = app
        .gql(Some(&sec), EDIT, json!({"i": {"id": id(&a), "expectedVersion": 1, "body": "Version du secrétariat."}}))
        .await;
    ok(&first);
    let second = app
        .gql(
            Some(&president),
            EDIT,
            json!({"i": {"id": id(&a), "expectedVersion": 1, "body": "Version du président."}}),
        )
        .await;
    assert_eq!(code(&second), "CONFLICT", "{second}");
    let r = app.gql(Some(&president), DRAFT, json!({"id": p})).await;
    assert_eq!(ok(&r)["policy"]["draft"][0]["body"], "Version du secrétariat.");
    // With the version read, the president's edit goes in.
    let r = app
        .gql(
            Some(&president),
            EDIT,
            json!({"i": {"id": id(&a), "expectedVersion": 2, "body": "Version du président."}}),
        )
        .await;
    assert_eq!(ok(&r)["updatePolicySection"]["version"], 3);
}

#[tokio::test]
async fn the_text_is_the_drafting_teams_and_published_versions_are_everyones_in_the_metropole() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let cassis = app.login_as("maire.cassis@demo.entente.fr").await;
    let (p, _) = agenda(&app, &sec).await;
    add(&app, &sec, &p, None, "Article 1", "Texte.").await;
    // Unpublished: the mayor of Cassis (not in the working group) does not see it.
    let see = "query($id:ID!){policy(id:$id){title versions{number}}}";
    assert_eq!(code(&app.gql(Some(&cassis), see, json!({"id": p})).await), "FORBIDDEN");
    let amp = app.epci_id(&sec, "200054807").await;
    let list = "query($e:ID!){policies(intercommunalityId:$e){totalCount nodes{title}}}";
    // The demo's two published policies, not this one.
    assert_eq!(ok(&app.gql(Some(&cassis), list, json!({"e": amp})).await)["policies"]["totalCount"], 2);
    // Nor may the mayor draft, create or move it along.
    let r = app.gql(Some(&cassis), ADD, json!({"i": {"policyId": p, "title": "Ajout"}})).await;
    assert_eq!(code(&r), "FORBIDDEN");
    let r = app
        .gql(Some(&cassis), CREATE, json!({"i": {"intercommunalityId": amp, "kind": "CHARTER", "title": "Charte"}}))
        .await;
    assert_eq!(code(&r), "FORBIDDEN");
    assert_eq!(code(&transition(&app, &sec, &p, "OPEN_CONCERTATION", Some(in_days(30))).await), "NOT_PUBLISHED");
    ok(&app.gql(Some(&sec), PUBLISH, json!({"p": p, "n": "V1"})).await);
    // The mayors and DGS of the member communes are told of the new version.
    let r = app.gql(Some(&cassis), "{myNotifications(first:1){nodes{kind message}}}", json!({})).await;
    let n = &ok(&r)["myNotifications"]["nodes"][0];
    assert_eq!(n["kind"], "POLICY_VERSION_PUBLISHED");
    assert_eq!(n["message"], "« Agenda de la mobilité métropolitaine »: version 1 publiée");
    // Published: seen by the people of the métropole's communes, not its working text.
    let r = app.gql(Some(&cassis), see, json!({"id": p})).await;
    assert_eq!(ok(&r)["policy"]["versions"][0]["number"], 1);
    assert_eq!(ok(&app.gql(Some(&cassis), list, json!({"e": amp})).await)["policies"]["totalCount"], 3);
    assert_eq!(code(&app.gql(Some(&cassis), DRAFT, json!({"id": p})).await), "FORBIDDEN");
    let r = transition(&app, &cassis, &p, "ABANDON", None).await;
    assert_eq!(code(&r), "FORBIDDEN");
}

#[tokio::test]
async fn a_policy_goes_from_drafting_to_concertation_and_back_and_refuses_wrong_moves() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (p, _) = agenda(&app, &sec).await;
    add(&app, &sec, &p, None, "Article 1", "Texte.").await;
    ok(&app.gql(Some(&sec), PUBLISH, json!({"p": p, "n": "V1"})).await);
    // A closing date in the past, none, or a wrong move: refused, nothing changes.
    let r = transition(&app, &sec, &p, "OPEN_CONCERTATION", Some(in_days(-1))).await;
    assert_eq!(
        (code(&r).as_str(), r["errors"][0]["extensions"]["field"].as_str()),
        ("VALIDATION", Some("concertationClosesAt"))
    );
    assert_eq!(code(&transition(&app, &sec, &p, "OPEN_CONCERTATION", None).await), "VALIDATION");
    assert_eq!(code(&transition(&app, &sec, &p, "REVISE", None).await), "INVALID_TRANSITION");
    let r = transition(&app, &sec, &p, "OPEN_CONCERTATION", Some(in_days(30))).await;
    let t = &ok(&r)["transitionPolicy"];
    assert_eq!(t["status"], "CONCERTATION");
    let cassis = app.login_as("maire.cassis@demo.entente.fr").await;
    let r = app.gql(Some(&cassis), "{myNotifications(first:1){nodes{kind message}}}", json!({})).await;
    let n = &ok(&r)["myNotifications"]["nodes"][0];
    assert_eq!(n["kind"], "CONCERTATION_OPENED");
    assert!(n["message"].as_str().unwrap().ends_with(&format!("{} à 18:00", &in_days(30)[..10])), "{n}");
    // 18:00 in Paris, stored and answered in UTC.
    let closes: chrono::DateTime<chrono::Utc> = t["concertationClosesAt"].as_str().unwrap().parse().unwrap();
    let local = chrono::NaiveDateTime::parse_from_str(&in_days(30), "%Y-%m-%dT%H:%M:%S").unwrap();
    use chrono::TimeZone;
    assert_eq!(
        closes,
        chrono_tz::Europe::Paris.from_local_datetime(&local).single().unwrap().with_timezone(&chrono::Utc)
    );
    // A stale version is a conflict.
    let r =
        app.gql(Some(&sec), TRANSITION, json!({"i": {"id": p, "expectedVersion": 1, "to": "RESUME_DRAFTING"}})).await;
    assert_eq!(code(&r), "CONFLICT");
    ok(&transition(&app, &sec, &p, "START_CONSULTATION", None).await);
    ok(&transition(&app, &sec, &p, "START_APPROVAL", None).await);
    // Under approval the version judged cannot be replaced.
    assert_eq!(code(&app.gql(Some(&sec), PUBLISH, json!({"p": p, "n": "V2"})).await), "INVALID_TRANSITION");
    let r = transition(&app, &sec, &p, "ABANDON", None).await;
    assert_eq!(ok(&r)["transitionPolicy"]["status"], "ABANDONED");
    let r = app.gql(Some(&sec), ADD, json!({"i": {"policyId": p, "title": "Trop tard"}})).await;
    assert_eq!(code(&r), "INVALID_TRANSITION");
    assert_eq!(code(&transition(&app, &sec, &p, "RESUME_DRAFTING", None).await), "INVALID_TRANSITION");
}

#[tokio::test]
async fn bad_text_input_is_refused_with_its_field_and_changes_nothing() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (p, _) = agenda(&app, &sec).await;
    let (other, _) = agenda(&app, &sec).await;
    let part = add(&app, &sec, &p, None, "Titre I", "").await;
    add(&app, &sec, &p, Some(&id(&part)), "Article", "").await;
    let before = app.audit_count().await;
    let field = |r: &Value| (code(r), r["errors"][0]["extensions"]["field"].as_str().map(String::from));
    let refused = |f: &str| ("VALIDATION".to_string(), Some(f.to_string()));
    let big = "x".repeat(100_001);
    let r = app.gql(Some(&sec), ADD, json!({"i": {"policyId": p, "title": "Long", "body": big}})).await;
    assert_eq!(field(&r), refused("body"));
    let r = app.gql(Some(&sec), ADD, json!({"i": {"policyId": p, "title": "  "}})).await;
    assert_eq!(field(&r), refused("title"));
    let r = app.gql(Some(&sec), ADD, json!({"i": {"policyId": p, "title": "NUL\u{0}"}})).await;
    assert_eq!(code(&r), "VALIDATION");
    // A section cannot go under itself, nor under a section of another policy.
    let r = app
        .gql(
            Some(&sec),
            MOVE,
            json!({"i": {"id": id(&part), "expectedVersion": 1, "parentId": id(&part), "position": 0}}),
        )
        .await;
    assert_eq!(field(&r), refused("parentId"));
    let r =
        app.gql(Some(&sec), ADD, json!({"i": {"policyId": other, "parentId": id(&part), "title": "Ailleurs"}})).await;
    assert_eq!(field(&r), refused("parentId"));
    // A section with sections is not removed; an empty text is not published.
    let r = app
        .gql(Some(&sec), "mutation($id:ID!){removePolicySection(id:$id,expectedVersion:1)}", json!({"id": id(&part)}))
        .await;
    assert_eq!(field(&r), refused("id"));
    let r = app.gql(Some(&sec), PUBLISH, json!({"p": other, "n": "Vide"})).await;
    assert_eq!(field(&r), refused("policyId"));
    let r = app.gql(Some(&sec), PUBLISH, json!({"p": p, "n": " "})).await;
    assert_eq!(field(&r), refused("changeNote"));
    // Nothing was written.
    assert_eq!(app.audit_count().await, before);
    let r = app.gql(Some(&sec), DRAFT, json!({"id": p})).await;
    let titles: Vec<&str> =
        ok(&r)["policy"]["draft"].as_array().unwrap().iter().map(|s| s["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Titre I", "Article"]);
}

pub const CONTRIBUTE: &str = "mutation($i:ContributeInput!){contributeToPolicy(input:$i){id kind status version visibility support{communes inhabitants}}}";
const ANSWER: &str =
    "mutation($i:AnswerContributionInput!){answerContribution(input:$i){id status answer answerReasons version}}";
const COSIGN: &str =
    "mutation($id:ID!,$c:ID!){cosignContribution(id:$id,communeId:$c){id support{communes inhabitants}}}";
const WITHDRAW: &str = "mutation($id:ID!,$v:Int!){withdrawContribution(id:$id,expectedVersion:$v){status version}}";

/// The agenda with two articles, version 1 published and the concertation open for 30
/// days; returns (policy, [article ids]).
pub async fn in_concertation(app: &TestApp, sec: &str) -> (String, Vec<String>) {
    let (p, _) = agenda(app, sec).await;
    let a1 = add(app, sec, &p, None, "Article 1", "Les communes sont associées.").await;
    let a2 = add(app, sec, &p, None, "Article 2", "Le plan est révisé tous les six ans.").await;
    ok(&app.gql(Some(sec), PUBLISH, json!({"p": p, "n": "V1"})).await);
    ok(&transition(app, sec, &p, "OPEN_CONCERTATION", Some(in_days(30))).await);
    (p, vec![id(&a1), id(&a2)])
}

#[tokio::test]
async fn communes_amend_cosign_and_get_motivated_answers_traced_to_the_next_version() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let marseille_mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    let dgs = app.login_as("dgs.marseille@demo.entente.fr").await;
    let cassis_mayor = app.login_as("maire.cassis@demo.entente.fr").await;
    let marseille = app.commune_id(&sec, "13055").await;
    let cassis = app.commune_id(&sec, "13022").await;
    let (p, art) = in_concertation(&app, &sec).await;

    // Marseille's DGS amends article 1 for Marseille; Cassis's mayor co-signs.
    let amend = json!({"i": {"policyId": p, "kind": "AMENDMENT", "communeId": marseille, "sectionId": art[0],
        "body": "Associer aussi les conseils de territoire.", "proposedText": "Les communes et les territoires sont associés."}});
    let r = app.gql(Some(&dgs), CONTRIBUTE, amend.clone()).await;
    let c = ok(&r)["contributeToPolicy"].clone();
    assert_eq!((c["kind"].as_str(), c["status"].as_str()), (Some("AMENDMENT"), Some("OPEN")));
    assert_eq!(c["support"]["communes"], 1);
    let marseille_pop = c["support"]["inhabitants"].as_i64().unwrap();
    assert!(marseille_pop > 800_000, "{c}");
    // Cassis's mayor cannot speak for Marseille, and a commune signs once.
    assert_eq!(code(&app.gql(Some(&cassis_mayor), CONTRIBUTE, amend.clone()).await), "FORBIDDEN");
    let r = app.gql(Some(&cassis_mayor), COSIGN, json!({"id": c["id"], "c": cassis})).await;
    let support = &ok(&r)["cosignContribution"]["support"];
    assert_eq!(support["communes"], 2);
    assert!(support["inhabitants"].as_i64().unwrap() > marseille_pop);
    assert_eq!(code(&app.gql(Some(&cassis_mayor), COSIGN, json!({"id": c["id"], "c": cassis})).await), "CONFLICT");
    // A comment answers it in a thread; an amendment needs its text and a section of the version.
    let r = app
        .gql(Some(&marseille_mayor), CONTRIBUTE, json!({"i": {"policyId": p, "kind": "COMMENT", "communeId": marseille, "parentId": c["id"], "body": "Soutien."}}))
        .await;
    ok(&r);
    let mut bad = amend.clone();
    bad["i"]["proposedText"] = Value::Null;
    let r = app.gql(Some(&dgs), CONTRIBUTE, bad).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "proposedText");
    let mut bad = amend.clone();
    bad["i"]["sectionId"] = json!(art[0].clone());
    bad["i"]["body"] = json!("x".repeat(20_001));
    assert_eq!(app.gql(Some(&dgs), CONTRIBUTE, bad).await["errors"][0]["extensions"]["field"], "body");

    // The drafting team answers: reasons are required to reject; a stale answer is a conflict.
    let v = c["version"].as_i64().unwrap();
    let r =
        app.gql(Some(&sec), ANSWER, json!({"i": {"id": c["id"], "expectedVersion": v, "answer": "REJECTED"}})).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "reasons");
    assert_eq!(
        code(
            &app.gql(Some(&dgs), ANSWER, json!({"i": {"id": c["id"], "expectedVersion": v, "answer": "ACCEPTED"}}))
                .await
        ),
        "FORBIDDEN"
    );
    let r =
        app.gql(Some(&sec), ANSWER, json!({"i": {"id": c["id"], "expectedVersion": v, "answer": "ACCEPTED"}})).await;
    assert_eq!(ok(&r)["answerContribution"]["answer"], "ACCEPTED");
    let r = app
        .gql(
            Some(&sec),
            ANSWER,
            json!({"i": {"id": c["id"], "expectedVersion": v, "answer": "REJECTED", "reasons": "Non"}}),
        )
        .await;
    assert_eq!(code(&r), "CONFLICT");
    // Answered: no longer withdrawn; its author and co-signers are told.
    assert_eq!(code(&app.gql(Some(&dgs), WITHDRAW, json!({"id": c["id"], "v": v + 1})).await), "INVALID_TRANSITION");
    for tok in [&dgs, &cassis_mayor] {
        let r = app.gql(Some(tok), "{myNotifications(first:5){nodes{kind message}}}", json!({})).await;
        assert_eq!(ok(&r)["myNotifications"]["nodes"][0]["kind"], "CONTRIBUTION_ANSWERED", "{r}");
    }
    // The amendment is in the working text, and version 2 lists it behind article 1.
    let r = app.gql(Some(&sec), DRAFT, json!({"id": p})).await;
    assert_eq!(ok(&r)["policy"]["draft"][0]["body"], "Les communes et les territoires sont associés.");
    ok(&app.gql(Some(&sec), PUBLISH, json!({"p": p, "n": "Après la concertation"})).await);
    let q = "query($id:ID!){policy(id:$id){versionNumbered(number:2){sections{sectionId contributionIds}} compare(from:1,to:2){sectionId kind}}}";
    let r = app.gql(Some(&cassis_mayor), q, json!({"id": p})).await;
    let sections = &ok(&r)["policy"]["versionNumbered"]["sections"];
    assert_eq!(sections[0]["contributionIds"], json!([c["id"]]));
    assert_eq!(sections[1]["contributionIds"], json!([]));
    assert_eq!(ok(&r)["policy"]["compare"], json!([{"sectionId": art[0], "kind": "CHANGED"}]));
}

#[tokio::test]
async fn contributions_close_with_the_concertation_and_follow_their_visibility() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let marseille_mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    let dgs = app.login_as("dgs.marseille@demo.entente.fr").await;
    let cassis_mayor = app.login_as("maire.cassis@demo.entente.fr").await;
    let marseille = app.commune_id(&sec, "13055").await;
    let (p, art) = in_concertation(&app, &sec).await;
    let question = |visibility: &str| json!({"i": {"policyId": p, "kind": "QUESTION", "communeId": marseille, "sectionId": art[1], "body": "Quel calendrier ?", "visibility": visibility}});
    let r = app.gql(Some(&marseille_mayor), CONTRIBUTE, question("DRAFTING_TEAM")).await;
    let private = ok(&r)["contributeToPolicy"].clone();
    ok(&app.gql(Some(&marseille_mayor), CONTRIBUTE, question("COMMUNES")).await);
    let list = "query($id:ID!){policy(id:$id){contributions{totalCount nodes{id visibility}}}}";
    let count = |r: &Value| r["data"]["policy"]["contributions"]["totalCount"].as_i64();
    // The drafting team and Marseille's people see both; Cassis only the public one.
    assert_eq!(count(&app.gql(Some(&sec), list, json!({"id": p})).await), Some(2));
    assert_eq!(count(&app.gql(Some(&dgs), list, json!({"id": p})).await), Some(2));
    assert_eq!(count(&app.gql(Some(&cassis_mayor), list, json!({"id": p})).await), Some(1));
    let node = "query($id:ID!){node(id:$id){... on Contribution{kind}}}";
    assert_eq!(app.gql(Some(&cassis_mayor), node, json!({"id": private["id"]})).await["data"]["node"], Value::Null);
    // Only its author withdraws it, while it is open.
    let v = private["version"].as_i64().unwrap();
    assert_eq!(code(&app.gql(Some(&dgs), WITHDRAW, json!({"id": private["id"], "v": v})).await), "FORBIDDEN");
    let r = app.gql(Some(&marseille_mayor), WITHDRAW, json!({"id": private["id"], "v": v})).await;
    assert_eq!(ok(&r)["withdrawContribution"]["status"], "WITHDRAWN");
    // Once the closing time has passed: DEADLINE_PASSED, nothing written.
    use sea_orm::ConnectionTrait;
    app.state
        .db
        .execute_unprepared("UPDATE policy SET concertation_closes_at = '2020-01-01 00:00:00+00:00'")
        .await
        .unwrap();
    let before = app.audit_count().await;
    assert_eq!(code(&app.gql(Some(&marseille_mayor), CONTRIBUTE, question("COMMUNES")).await), "DEADLINE_PASSED");
    assert_eq!(app.audit_count().await, before);
}

const ADD_STEP: &str = "mutation($i:AddPolicyStepInput!){addPolicyStep(input:$i){id position kind version}}";
const RECORD_STEP: &str =
    "mutation($i:RecordPolicyStepInput!){recordPolicyStep(input:$i){id outcome versionNumber deliberationNumber version}}";

#[tokio::test]
async fn the_approval_path_is_recorded_in_order_and_its_adoption_adopts_a_version() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let cassis = app.login_as("maire.cassis@demo.entente.fr").await;
    let (p, wg) = agenda(&app, &sec).await;
    add(&app, &sec, &p, None, "Article 1", "Texte.").await;
    ok(&app.gql(Some(&sec), PUBLISH, json!({"p": p, "n": "V1"})).await);
    let step = |kind: &str, label: &str, body: Option<&str>| json!({"i": {"policyId": p, "kind": kind, "label": label, "bodyId": body}});
    let mut steps = Vec::new();
    for (kind, label, body) in [
        ("VALIDATION", "Validation par le groupe de travail", Some(wg.as_str())),
        ("OPINION", "Avis de la conférence métropolitaine des maires", None),
        ("ADOPTION", "Délibération du conseil de la Métropole", None),
    ] {
        let r = app.gql(Some(&sec), ADD_STEP, step(kind, label, body)).await;
        steps.push(ok(&r)["addPolicyStep"]["id"].as_str().unwrap().to_string());
    }
    // Nothing follows the adoption; a mayor does not shape the path.
    let r = app.gql(Some(&sec), ADD_STEP, step("OPINION", "Trop tard", None)).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "kind");
    assert_eq!(code(&app.gql(Some(&cassis), ADD_STEP, step("OPINION", "Avis", None)).await), "FORBIDDEN");
    let rec = |id: &str, outcome: &str, number: i64, deliberation: Option<&str>| json!({"i": {"id": id, "expectedVersion": 1, "versionNumber": number, "outcome": outcome, "decidedOn": "2026-06-16", "deliberationNumber": deliberation}});
    // Steps are recorded in consultation or approval, in order, on a published version,
    // with an outcome of their kind.
    assert_eq!(
        code(&app.gql(Some(&sec), RECORD_STEP, rec(&steps[0], "FAVOURABLE", 1, None)).await),
        "INVALID_TRANSITION"
    );
    ok(&transition(&app, &sec, &p, "START_APPROVAL", None).await);
    assert_eq!(
        code(&app.gql(Some(&sec), RECORD_STEP, rec(&steps[1], "FAVOURABLE", 1, None)).await),
        "INVALID_TRANSITION"
    );
    let r = app.gql(Some(&sec), RECORD_STEP, rec(&steps[0], "FAVOURABLE", 9, None)).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "versionNumber");
    let r = app.gql(Some(&sec), RECORD_STEP, rec(&steps[0], "ADOPTED", 1, None)).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "outcome");
    ok(&app.gql(Some(&sec), RECORD_STEP, rec(&steps[0], "FAVOURABLE", 1, None)).await);
    // Version 1 put to the communes as a referral: its state reads back onto the policy.
    let amp = app.epci_id(&sec, "200054807").await;
    let deadline = (entente::time::today_paris() + chrono::Duration::days(60)).to_string();
    let r = app
        .gql(Some(&sec), crate::referrals::CREATE, json!({"e": amp, "p": "FREE_CONSULTATION", "i": {"title": "Avis sur l'agenda de la mobilité", "silence": "NO_RESPONSE", "deadlineDate": deadline}}))
        .await;
    let referral = ok(&r)["createReferral"]["id"].clone();
    let consult =
        "mutation($i:AddPolicyConsultationInput!){addPolicyConsultation(input:$i){versionNumber referralStatus}}";
    let r = app.gql(Some(&sec), consult, json!({"i": {"policyId": p, "versionNumber": 1}})).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "referralId");
    let r =
        app.gql(Some(&sec), consult, json!({"i": {"policyId": p, "versionNumber": 5, "referralId": referral}})).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "versionNumber");
    assert_eq!(
        code(
            &app.gql(Some(&cassis), consult, json!({"i": {"policyId": p, "versionNumber": 1, "referralId": referral}}))
                .await
        ),
        "FORBIDDEN"
    );
    let r =
        app.gql(Some(&sec), consult, json!({"i": {"policyId": p, "versionNumber": 1, "referralId": referral}})).await;
    assert_eq!(ok(&r)["addPolicyConsultation"], json!({"versionNumber": 1, "referralStatus": "DRAFT"}));
    let r = app.gql(Some(&sec), RECORD_STEP, rec(&steps[1], "FAVOURABLE_WITH_RESERVATIONS", 1, None)).await;
    assert_eq!(ok(&r)["recordPolicyStep"]["versionNumber"], 1);
    let r = app.gql(Some(&sec), RECORD_STEP, rec(&steps[2], "ADOPTED", 1, None)).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "deliberationNumber");
    ok(&app.gql(Some(&sec), RECORD_STEP, rec(&steps[2], "ADOPTED", 1, Some("2026-123"))).await);
    // Adopted on version 1; everyone in the métropole sees where it stands.
    let q = "query($id:ID!){policy(id:$id){status adoptedVersionNumber approvalPath{kind outcome versionNumber deliberationNumber}}}";
    let r = app.gql(Some(&cassis), q, json!({"id": p})).await;
    let policy = &ok(&r)["policy"];
    assert_eq!((policy["status"].as_str(), policy["adoptedVersionNumber"].as_i64()), (Some("ADOPTED"), Some(1)));
    let outcomes: Vec<&str> =
        policy["approvalPath"].as_array().unwrap().iter().map(|s| s["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["FAVOURABLE", "FAVOURABLE_WITH_RESERVATIONS", "ADOPTED"]);
    // Each step reached is told to the member communes' mayors and DGS.
    let r = app.gql(Some(&cassis), "{myNotifications(first:3){nodes{kind message}}}", json!({})).await;
    let last = &ok(&r)["myNotifications"]["nodes"][0];
    assert_eq!(last["kind"], "POLICY_STEP_REACHED", "{r}");
    assert!(last["message"].as_str().unwrap().contains("Délibération du conseil de la Métropole"), "{r}");
    assert_eq!(policy["approvalPath"][2]["deliberationNumber"], "2026-123");
    // Revision: a new cycle, its own path; the adopted version stays on record.
    let r = transition(&app, &sec, &p, "REVISE", None).await;
    assert_eq!(
        (ok(&r)["transitionPolicy"]["status"].as_str(), r["data"]["transitionPolicy"]["cycle"].as_i64()),
        (Some("DRAFTING"), Some(2))
    );
    let r = app.gql(Some(&sec), q, json!({"id": p})).await;
    assert_eq!(ok(&r)["policy"]["approvalPath"], json!([]));
    assert_eq!(r["data"]["policy"]["adoptedVersionNumber"], 1);
}

#[tokio::test]
async fn the_communes_that_have_not_contributed_are_reminded_once_before_the_concertation_closes() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let marseille_mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    let cassis_mayor = app.login_as("maire.cassis@demo.entente.fr").await;
    let marseille = app.commune_id(&sec, "13055").await;
    let (p, _) = agenda(&app, &sec).await;
    add(&app, &sec, &p, None, "Article 1", "Texte.").await;
    ok(&app.gql(Some(&sec), PUBLISH, json!({"p": p, "n": "V1"})).await);
    ok(&transition(&app, &sec, &p, "OPEN_CONCERTATION", Some(in_days(10))).await);
    let r = app
        .gql(Some(&marseille_mayor), CONTRIBUTE, json!({"i": {"policyId": p, "kind": "PROPOSAL", "communeId": marseille, "body": "Un article sur le vélo."}}))
        .await;
    ok(&r);
    let run = |days: i64| {
        entente::policies::service::run_jobs(&app.state.db, chrono::Utc::now() + chrono::Duration::days(days))
    };
    let reminders = |tok: String| {
        let app = &app;
        async move {
            let r = app.gql(Some(&tok), "{myNotifications(first:20){nodes{kind message}}}", json!({})).await;
            ok(&r)["myNotifications"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| n["kind"] == "CONCERTATION_REMINDER")
                .count()
        }
    };
    // Nothing before 7 days from the closing day; then once, whatever the runs.
    assert_eq!(run(0).await.unwrap(), 0);
    let told = run(3).await.unwrap();
    assert!(told > 50, "the mayors and DGS of AMP's communes but Marseille's: {told}");
    assert_eq!(run(3).await.unwrap(), 0);
    assert_eq!(run(5).await.unwrap(), 0);
    assert_eq!(reminders(cassis_mayor.clone()).await, 1);
    assert_eq!(reminders(marseille_mayor.clone()).await, 0, "Marseille took part");
    // The day before the closing day: the last reminder; none after the close.
    assert_eq!(run(9).await.unwrap(), told);
    assert_eq!(run(11).await.unwrap(), 0);
    assert_eq!(reminders(cassis_mayor).await, 2);
    let audit = "{auditEntries(action:\"SEND_CONCERTATION_REMINDER\"){totalCount}}";
    let r = app.gql(Some(&sec), audit, json!({})).await;
    assert_eq!(ok(&r)["auditEntries"]["totalCount"], 2, "{r}");
}

#[tokio::test]
async fn search_finds_french_words_whatever_their_accents_and_case_within_what_one_may_see() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let marseille_mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    let dgs = app.login_as("dgs.marseille@demo.entente.fr").await;
    let cassis_mayor = app.login_as("maire.cassis@demo.entente.fr").await;
    let marseille = app.commune_id(&sec, "13055").await;
    let cassis = app.commune_id(&sec, "13022").await;
    let amp = app.epci_id(&sec, "200054807").await;
    let amp = amp.as_str();
    let (p, _) = agenda(&app, &sec).await;
    add(&app, &sec, &p, None, "Article 1", "Les pistes cyclables relient les Écoles.").await;
    ok(&app.gql(Some(&sec), PUBLISH, json!({"p": p, "n": "V1"})).await);
    let draft = add(&app, &sec, &p, None, "Brouillon", "Un tramway vers l'étang de Berre.").await;
    ok(&transition(&app, &sec, &p, "OPEN_CONCERTATION", Some(in_days(30))).await);
    let contribute = |tok: &str, commune: &str, body: &str, visibility: &str| {
        let v = json!({"i": {"policyId": p, "kind": "QUESTION", "communeId": commune, "body": body, "visibility": visibility}});
        let tok = tok.to_string();
        let app = &app;
        async move { ok(&app.gql(Some(&tok), CONTRIBUTE, v).await)["contributeToPolicy"]["id"].clone() }
    };
    let private =
        contribute(&marseille_mayor, &marseille, "Quelle desserte pour l'ÉCOLE Saint-Exupéry ?", "DRAFTING_TEAM").await;
    let public = contribute(&cassis_mayor, &cassis, "Et les écoles de Cassis ?", "COMMUNES").await;
    // Scoped to this policy: the demo's own policies speak of mobility too.
    const SEARCH: &str = "query($e:ID!,$p:ID!,$q:String!,$f:Int=20){searchPolicies(intercommunalityId:$e,policyId:$p,query:$q,first:$f){kind title excerpt versionNumber policy{id} contribution{id}}}";
    let pid = p.as_str();
    let search = |tok: &str, q: &str| {
        let (tok, q) = (tok.to_string(), q.to_string());
        let (app, p) = (&app, pid);
        async move {
            let r = app.gql(Some(&tok), SEARCH, json!({"e": amp, "p": p, "q": q})).await;
            let hits: Vec<String> = ok(&r)["searchPolicies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    format!(
                        "{} {}",
                        h["kind"].as_str().unwrap(),
                        h["contribution"]["id"].as_str().unwrap_or(h["title"].as_str().unwrap())
                    )
                })
                .collect();
            hits
        }
    };
    let (private, public) = (private.as_str().unwrap(), public.as_str().unwrap());
    // "ECOLE", "école", "écoles" are one word to search, as a prefix.
    // In one order on both databases: the published text, the working text, then
    // contributions, newest first.
    let team = vec![
        "VERSION_SECTION Article 1".to_string(),
        "SECTION Article 1".into(),
        format!("CONTRIBUTION {public}"),
        format!("CONTRIBUTION {private}"),
    ];
    assert_eq!(search(&sec, "ECOLE").await, team);
    assert_eq!(search(&sec, "écol").await, team);
    // No stemming, on either database: the plural finds the plural only.
    assert_eq!(search(&sec, "Écoles").await, team[..3].to_vec());
    // Cassis reads the published text and public contributions; Marseille its own too.
    assert_eq!(
        search(&cassis_mayor, "ecole").await,
        vec!["VERSION_SECTION Article 1".to_string(), format!("CONTRIBUTION {public}")]
    );
    assert_eq!(
        search(&dgs, "Ecole").await,
        vec![
            "VERSION_SECTION Article 1".to_string(),
            format!("CONTRIBUTION {public}"),
            format!("CONTRIBUTION {private}")
        ]
    );
    // The working text is the drafting team's; every word must match.
    assert_eq!(search(&sec, "tramway ETANG").await, vec!["SECTION Brouillon".to_string()]);
    assert!(search(&cassis_mayor, "tramway").await.is_empty());
    assert!(search(&sec, "tramway cassis").await.is_empty());
    // The policy by its title; an excerpt shows the match; the version it is in.
    assert_eq!(
        search(&cassis_mayor, "mobilité métropolitaine").await,
        vec!["POLICY Agenda de la mobilité métropolitaine".to_string()]
    );
    let r = app.gql(Some(&cassis_mayor), SEARCH, json!({"e": amp, "p": p, "q": "cyclables"})).await;
    let hit = &ok(&r)["searchPolicies"][0];
    assert_eq!(
        (hit["versionNumber"].as_i64(), hit["excerpt"].as_str()),
        (Some(1), Some("Les pistes cyclables relient les Écoles."))
    );
    // A removed section is gone at once.
    let remove = "mutation($id:ID!,$v:Int!){removePolicySection(id:$id,expectedVersion:$v)}";
    ok(&app.gql(Some(&sec), remove, json!({"id": draft["id"], "v": draft["version"]})).await);
    assert!(search(&sec, "tramway").await.is_empty());
    // Bad queries: VALIDATION on their field, for nothing to search or too much.
    for (q, f, field) in [("", 20, "query"), ("l' d'", 20, "query"), ("école", 0, "first"), ("école", 101, "first")] {
        let r = app.gql(Some(&sec), SEARCH, json!({"e": amp, "p": p, "q": q, "f": f})).await;
        assert_eq!(r["errors"][0]["extensions"]["field"], field, "{q:?} {f}: {r}");
    }
    let long = "mot ".repeat(60);
    let r = app.gql(Some(&sec), SEARCH, json!({"e": amp, "p": p, "q": long})).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "VALIDATION");
    // FTS syntax is not ours to pass through: quotes, stars, operators are plain words.
    assert!(search(&sec, "\"ecole\" OR NEAR(* tramway").await.is_empty());
    assert_eq!(search(&sec, "ecole* -tramway").await.len(), 0);
}

#[tokio::test]
async fn the_synthesis_counts_the_concertation_as_graphql_csv_and_a_printable_page() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let dgs = app.login_as("dgs.marseille@demo.entente.fr").await;
    let cassis_mayor = app.login_as("maire.cassis@demo.entente.fr").await;
    let marseille = app.commune_id(&sec, "13055").await;
    let cassis = app.commune_id(&sec, "13022").await;
    let (p, art) = in_concertation(&app, &sec).await;
    let amend = json!({"i": {"policyId": p, "kind": "AMENDMENT", "communeId": marseille, "sectionId": art[0],
        "body": "Associer les territoires.", "proposedText": "Les communes et les territoires sont associés."}});
    let c = ok(&app.gql(Some(&dgs), CONTRIBUTE, amend).await)["contributeToPolicy"].clone();
    ok(&app.gql(Some(&cassis_mayor), COSIGN, json!({"id": c["id"], "c": cassis})).await);
    let comment = json!({"i": {"policyId": p, "kind": "COMMENT", "communeId": cassis, "sectionId": art[1], "body": "Six ans, c'est long."}});
    ok(&app.gql(Some(&cassis_mayor), CONTRIBUTE, comment).await);
    let answer = json!({"i": {"id": c["id"], "expectedVersion": c["version"], "answer": "ACCEPTED"}});
    ok(&app.gql(Some(&sec), ANSWER, answer).await);

    let q = "query($id:ID!,$v:Int){policy(id:$id){synthesis(versionNumber:$v){versionNumber contributions open answered acceptanceRate members participating
        byKind{kind count} answers{answer count} bySection{label title contributions amendments accepted}
        byTerritory{name communes participating contributions} byCommune{name contributions cosignatures accepted}
        silentCommunes{name} answerTime{answered medianDays} csvPath htmlPath}}}";
    let r = app.gql(Some(&cassis_mayor), q, json!({"id": p})).await;
    let s = &ok(&r)["policy"]["synthesis"];
    assert_eq!((s["contributions"].as_i64(), s["open"].as_i64(), s["answered"].as_i64()), (Some(2), Some(1), Some(1)));
    assert_eq!(s["acceptanceRate"], 1.0);
    assert_eq!(s["participating"], 2);
    let members = s["members"].as_i64().unwrap();
    assert!(members > 80, "AMP's member communes: {members}");
    assert_eq!(s["silentCommunes"].as_array().unwrap().len() as i64, members - 2);
    let in_territories: i64 =
        s["byTerritory"].as_array().unwrap().iter().map(|t| t["communes"].as_i64().unwrap()).sum();
    assert_eq!(in_territories, members, "every member commune counted once by territory");
    assert_eq!(
        s["bySection"],
        json!([{"label": "1", "title": "Article 1", "contributions": 1, "amendments": 1, "accepted": 1},
               {"label": "2", "title": "Article 2", "contributions": 1, "amendments": 0, "accepted": 0}])
    );
    // Those that took part first, most contributions first, then by name.
    assert_eq!(s["byCommune"][0], json!({"name": "Cassis", "contributions": 1, "cosignatures": 1, "accepted": 0}));
    assert_eq!(s["byCommune"][1], json!({"name": "Marseille", "contributions": 1, "cosignatures": 0, "accepted": 1}));
    assert_eq!(s["answers"], json!([{"answer": "ACCEPTED", "count": 1}]));
    assert_eq!(s["answerTime"]["answered"], 1);
    // One version's synthesis; a version that does not exist is the field's error.
    let r = app.gql(Some(&cassis_mayor), q, json!({"id": p, "v": 1})).await;
    assert_eq!(ok(&r)["policy"]["synthesis"]["contributions"], 2);
    let r = app.gql(Some(&cassis_mayor), q, json!({"id": p, "v": 9})).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "versionNumber", "{r}");

    // The CSV: RFC 4180, the same counts.
    let csv_path = s["csvPath"].as_str().unwrap().to_string();
    let resp = app.client.get(app.url(&csv_path)).bearer_auth(&cassis_mayor).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let body = resp.text().await.unwrap();
    assert!(
        body.starts_with("part,key,label,territory,communes,participating,contributions,cosignatures,accepted\r\n"),
        "{body}"
    );
    let total = body.lines().nth(1).unwrap();
    assert_eq!(total, format!("TOTAL,,Agenda de la mobilité métropolitaine,,{members},2,2,,1"));
    assert!(body.contains("COMMUNE,13022,Cassis,"), "{body}");
    // The page: HTML that fetches nothing, with its chart drawn inline.
    let html_path = s["htmlPath"].as_str().unwrap().to_string();
    let resp = app.client.get(app.url(&html_path)).bearer_auth(&sec).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(resp.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"));
    let page = resp.text().await.unwrap();
    assert!(page.contains("Bilan de la concertation") && page.contains("<svg") && page.contains("@media print"));
    assert!(!page.contains("<script") && !page.contains("src="));
    // Without a token, another file name, a bad version: refused.
    let status = |path: String, tok: Option<String>| {
        let app = &app;
        async move {
            let mut req = app.client.get(app.url(&path));
            if let Some(t) = tok {
                req = req.bearer_auth(t);
            }
            req.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(status(csv_path.clone(), None).await, 401);
    assert_eq!(status(format!("/policies/{p}/secrets.txt"), Some(sec.clone())).await, 404);
    assert_eq!(status(format!("/policies/{p}/synthesis.csv?version=x"), Some(sec.clone())).await, 400);
    assert_eq!(status(format!("/policies/{p}/synthesis.csv?version=99999999999"), Some(sec.clone())).await, 400);
    // A policy one may not see: its bilan neither.
    let (unpublished, _) = agenda(&app, &sec).await;
    assert_eq!(status(format!("/policies/{unpublished}/synthesis.html"), Some(cassis_mayor.clone())).await, 403);
    let r = app.gql(Some(&cassis_mayor), q, json!({"id": unpublished})).await;
    assert_eq!(code(&r), "FORBIDDEN");
}

#[tokio::test]
async fn a_policy_s_documents_are_uploaded_by_its_drafting_team_and_read_by_whoever_sees_it() {
    use crate::documents::upload;
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let cassis = app.login_as("maire.cassis@demo.entente.fr").await;
    let (p, _) = agenda(&app, &sec).await;
    add(&app, &sec, &p, None, "Article 1", "Texte.").await;
    const UPLOAD: &str =
        "mutation($p:ID!,$f:Upload!){uploadPolicyDocument(policyId:$p,file:$f){id filename sizeBytes downloadPath}}";
    let pdf = b"%PDF-1.4 etude de trafic".to_vec();
    let r = upload(&app, &sec, UPLOAD, json!({"p": p, "f": null}), "étude-trafic.pdf", "application/pdf", pdf.clone())
        .await;
    let d = ok(&r)["uploadPolicyDocument"].clone();
    assert_eq!((d["filename"].as_str(), d["sizeBytes"].as_i64()), (Some("étude-trafic.pdf"), Some(pdf.len() as i64)));
    // A mayor outside the drafting team does not attach; a file that lies about its type is refused.
    let before = app.audit_count().await;
    let r = upload(&app, &cassis, UPLOAD, json!({"p": p, "f": null}), "x.pdf", "application/pdf", pdf.clone()).await;
    assert_eq!(code(&r), "FORBIDDEN");
    let r = upload(&app, &sec, UPLOAD, json!({"p": p, "f": null}), "x.pdf", "application/pdf", b"MZ\x90\x00".to_vec())
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert_eq!(app.audit_count().await, before);
    // Unpublished: only the team reads it; once published, the mayors of the métropole.
    let path = d["downloadPath"].as_str().unwrap().to_string();
    let get = |tok: String| {
        let (app, path) = (&app, path.clone());
        async move { app.client.get(app.url(&path)).bearer_auth(tok).send().await.unwrap() }
    };
    assert_eq!(get(cassis.clone()).await.status().as_u16(), 403);
    let node = "query($id:ID!){node(id:$id){... on PolicyDocument{filename}}}";
    assert_eq!(app.gql(Some(&cassis), node, json!({"id": d["id"]})).await["data"]["node"], Value::Null);
    ok(&app.gql(Some(&sec), PUBLISH, json!({"p": p, "n": "V1"})).await);
    let resp = get(cassis.clone()).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap().to_vec(), pdf);
    let r = app.gql(Some(&cassis), "query($id:ID!){policy(id:$id){documents{filename}}}", json!({"id": p})).await;
    assert_eq!(ok(&r)["policy"]["documents"], json!([{"filename": "étude-trafic.pdf"}]));
}
