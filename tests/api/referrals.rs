//! Referrals (saisines) through the real server: lifecycle, responses and their rules,
//! silence at the deadline, the outcome, visibility, mandate changes, data collection
//! with its dataset and CSV, reminders, and the dashboard's statement count.
//!
//! Time passing is simulated by moving a referral's deadline into the past in the
//! database and bumping the cache versions (as the change of day does for the response
//! cache); the job is the real one, run directly.
use chrono::{Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::{code, ok, wide_batches, TestApp};

pub const CREATE: &str = "mutation($e:ID,$p:Procedure!,$i:ReferralInput!){createReferral(intercommunalityId:$e,procedure:$p,input:$i){id version status}}";
pub const OPEN: &str = "mutation($id:ID!,$v:Int!,$c:NaiveDate){openReferral(id:$id,expectedVersion:$v,clockStartsOn:$c){id version status deadline deadlineDay clockStartsOn}}";
pub const DRAFT: &str = "mutation($i:ResponseInput!){saveResponseDraft(input:$i){id version status opinion}}";
pub const SUBMIT: &str = "mutation($i:ResponseInput!){submitResponse(input:$i){id version status opinion}}";
pub const SET_FORM: &str = "mutation($id:ID!,$f:[FormFieldInput!]!){setReferralForm(id:$id,fields:$f){version}}";
const RESPONSE: &str = "query($id:ID!,$c:ID!){referral(id:$id){response(communeId:$c){status opinion reasons version deliberationNumber revisions{revision status opinion} submittedBy{fullName}}}}";
const OUTCOME: &str = "query($id:ID!){referral(id:$id){status outcome{final communes population verdict message counts{position communes population populationShare} qualifiedMajority{reached branch councils favourableCouncils population favourablePopulation mostPopulousRefused}}}}";

pub struct Ctx {
    pub app: TestApp,
    pub sec: String,
    pub amp: String,
    pub marseille: String,
    pub cassis: String,
    pub aix: String,
    pub mayor_marseille: String,
    pub dgs_marseille: String,
    pub mayor_cassis: String,
}

pub async fn ctx() -> Ctx {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let amp = app.epci_id(&sec, "200054807").await;
    let marseille = app.commune_id(&sec, "13055").await;
    let cassis = app.commune_id(&sec, "13022").await;
    let aix = app.commune_id(&sec, "13001").await;
    let mayor_marseille = app.login_as("maire.marseille@demo.entente.fr").await;
    let dgs_marseille = app.login_as("dgs.marseille@demo.entente.fr").await;
    let mayor_cassis = app.login_as("maire.cassis@demo.entente.fr").await;
    Ctx { app, sec, amp, marseille, cassis, aix, mayor_marseille, dgs_marseille, mayor_cassis }
}

pub fn in_days(n: i64) -> String {
    (entente::time::today_paris() + Duration::days(n)).to_string()
}

impl Ctx {
    /// Creates a referral of AMP as the secretariat; returns (id, version).
    pub async fn create(&self, procedure: &str, input: Value) -> (String, i64) {
        let r = self.app.gql(Some(&self.sec), CREATE, json!({"e": self.amp, "p": procedure, "i": input})).await;
        let d = &ok(&r)["createReferral"];
        (d["id"].as_str().unwrap().to_string(), d["version"].as_i64().unwrap())
    }
    /// Creates and opens a referral of AMP; returns its ID and the open answer.
    pub async fn open(&self, procedure: &str, input: Value) -> (String, Value) {
        let (id, v) = self.create(procedure, input).await;
        if procedure == "DATA_COLLECTION" {
            let f = json!([{"key": "agents", "label": "Agents", "type": "INTEGER", "required": true, "min": 0}]);
            ok(&self.app.gql(Some(&self.sec), SET_FORM, json!({"id": id, "f": f})).await);
        }
        let r = self.app.gql(Some(&self.sec), OPEN, json!({"id": id, "v": v})).await;
        (id, ok(&r)["openReferral"].clone())
    }
    pub async fn response(&self, token: &str, referral: &str, commune: &str) -> Value {
        self.app.gql(Some(token), RESPONSE, json!({"id": referral, "c": commune})).await
    }
    pub async fn version(&self, referral: &str, commune: &str) -> i64 {
        ok(&self.response(&self.sec, referral, commune).await)["referral"]["response"]["version"].as_i64().unwrap()
    }
    /// Submits `opinion` for `commune` as `token`, with a deliberation.
    pub async fn submit(&self, token: &str, referral: &str, commune: &str, opinion: &str) -> Value {
        let v = self.version(referral, commune).await;
        let i = json!({"referralId": referral, "communeId": commune, "expectedVersion": v, "opinion": opinion,
            "reasons": "Délibération motivée.", "deliberationNumber": "2026-117", "deliberationDate": in_days(-1)});
        self.app.gql(Some(token), SUBMIT, json!({"i": i})).await
    }
    pub async fn outcome(&self, token: &str, referral: &str) -> Value {
        self.app.gql(Some(token), OUTCOME, json!({"id": referral})).await
    }
}

/// The deadline passes: moved to two seconds ago; caches see a new day.
pub async fn time_passes(app: &TestApp, referral: &str) {
    use entente::referrals::model::referral;
    let id = entente::ids::decode("id", entente::ids::Kind::Referral, &async_graphql::ID(referral.into())).unwrap();
    referral::Entity::update_many()
        .col_expr(referral::Column::Deadline, Expr::value(Utc::now() - Duration::seconds(2)))
        .filter(referral::Column::Id.eq(id))
        .exec(&app.state.db)
        .await
        .unwrap();
    app.state.db.execute_unprepared("UPDATE cache_version SET version = version + 1").await.unwrap();
}

async fn run_job(app: &TestApp) -> entente::referrals::service::JobRun {
    entente::referrals::service::run_jobs(&app.state.db, Utc::now()).await.unwrap()
}

fn count(outcome: &Value, position: &str) -> (i64, i64) {
    let c = outcome["counts"].as_array().unwrap().iter().find(|c| c["position"] == position).unwrap();
    (c["communes"].as_i64().unwrap(), c["population"].as_i64().unwrap())
}

/// The actor's notifications of `kind` about `referral`.
async fn notifications(app: &TestApp, token: &str, kind: &str, referral: &str) -> usize {
    let r = app.gql(Some(token), "{myNotifications(first:500){nodes{kind referralId}}}", json!({})).await;
    ok(&r)["myNotifications"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == kind && n["referralId"] == referral)
        .count()
}

#[tokio::test]
async fn a_transfer_of_competence_from_draft_to_outcome() {
    let c = ctx().await;
    let (id, v) = c.create("TRANSFER_OF_COMPETENCE", json!({"title": "Transfert de la compétence eau pluviale"})).await;
    // A draft is the secretariat's.
    let r = c.app.gql(Some(&c.mayor_cassis), "query($id:ID!){referral(id:$id){title}}", json!({"id": id})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    // Opening: 92 addressees frozen, deadline three months from today at 23:59:59 Paris.
    let r = c.app.gql(Some(&c.sec), OPEN, json!({"id": id, "v": v})).await;
    let opened = &ok(&r)["openReferral"];
    let today = entente::time::today_paris();
    let expected = entente::referrals::rules::deadline(today, 3).unwrap();
    assert_eq!(opened["deadline"].as_str().unwrap().parse::<chrono::DateTime<Utc>>().unwrap(), expected);
    assert_eq!(opened["status"], "OPEN");
    let again = c.app.gql(Some(&c.sec), OPEN, json!({"id": id, "v": opened["version"]})).await;
    assert_eq!(code(&again), "INVALID_TRANSITION", "{again}");
    let r = c
        .app
        .gql(
            Some(&c.sec),
            "query($id:ID!){referral(id:$id){progress{addressees submitted responseRate}}}",
            json!({"id": id}),
        )
        .await;
    assert_eq!(ok(&r)["referral"]["progress"]["addressees"], 92);
    assert_eq!(notifications(&c.app, &c.mayor_marseille, "REFERRAL_OPENED", &id).await, 1);
    assert_eq!(notifications(&c.app, &c.dgs_marseille, "REFERRAL_OPENED", &id).await, 1);

    // The DGS drafts; only the mayor submits; the council's deliberation is required.
    let draft = json!({"referralId": id, "communeId": c.marseille, "expectedVersion": 1, "opinion": "UNFAVOURABLE", "reasons": "Coût pour la commune."});
    let r = c.app.gql(Some(&c.dgs_marseille), DRAFT, json!({"i": draft})).await;
    assert_eq!(ok(&r)["saveResponseDraft"]["status"], "DRAFT");
    let mut sub = json!({"referralId": id, "communeId": c.marseille, "expectedVersion": 2, "opinion": "UNFAVOURABLE", "reasons": "Coût pour la commune."});
    let r = c.app.gql(Some(&c.dgs_marseille), SUBMIT, json!({"i": sub})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = c.app.gql(Some(&c.mayor_marseille), SUBMIT, json!({"i": sub})).await;
    assert_eq!(code(&r), "VALIDATION");
    assert_eq!(r["errors"][0]["extensions"]["field"], "deliberationNumber");
    sub["deliberationNumber"] = json!("DEL-2026-042");
    sub["deliberationDate"] = json!(in_days(-2));
    let r = c.app.gql(Some(&c.mayor_marseille), SUBMIT, json!({"i": sub})).await;
    assert_eq!(ok(&r)["submitResponse"]["status"], "SUBMITTED");
    // Amended until the deadline, every revision kept; a draft no longer replaces it.
    sub["expectedVersion"] = json!(3);
    sub["opinion"] = json!("ABSTENTION");
    ok(&c.app.gql(Some(&c.mayor_marseille), SUBMIT, json!({"i": sub})).await);
    let r = c
        .app
        .gql(
            Some(&c.dgs_marseille),
            DRAFT,
            json!({"i": {"referralId": id, "communeId": c.marseille, "expectedVersion": 4, "opinion": "FAVOURABLE"}}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_TRANSITION", "{r}");
    sub["expectedVersion"] = json!(4);
    sub["opinion"] = json!("UNFAVOURABLE");
    ok(&c.app.gql(Some(&c.mayor_marseille), SUBMIT, json!({"i": sub})).await);
    let r = c.response(&c.mayor_marseille, &id, &c.marseille).await;
    let resp = &ok(&r)["referral"]["response"];
    let revisions: Vec<_> =
        resp["revisions"].as_array().unwrap().iter().map(|x| (x["status"].clone(), x["opinion"].clone())).collect();
    assert_eq!(
        revisions,
        [
            (json!("DRAFT"), json!("UNFAVOURABLE")),
            (json!("SUBMITTED"), json!("UNFAVOURABLE")),
            (json!("SUBMITTED"), json!("ABSTENTION")),
            (json!("SUBMITTED"), json!("UNFAVOURABLE"))
        ]
    );
    assert_eq!(resp["deliberationNumber"], "DEL-2026-042");

    // The progress report lists it with its response rate.
    let r = c.app.gql(Some(&c.sec), "query($e:ID!){progressReport(intercommunalityId:$e){openReferrals{referral{id} addressees submitted responseRate}}}", json!({"e": c.amp})).await;
    let open = ok(&r)["progressReport"]["openReferrals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["referral"]["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (open["referral"]["id"].as_str(), open["addressees"].as_i64(), open["submitted"].as_i64()),
        (Some(id.as_str()), Some(92), Some(1))
    );

    // Live, the secretariat sees a provisional outcome.
    let r = c.outcome(&c.sec, &id).await;
    let o = &ok(&r)["referral"]["outcome"];
    assert_eq!((o["final"].clone(), o["verdict"].clone()), (json!(false), json!("PROVISIONAL")));
    assert_eq!(count(o, "UNFAVOURABLE"), (1, 886_040));
    assert_eq!(count(o, "PENDING").0, 91);

    // The deadline passes: before the job runs, queries already show silence as favourable.
    time_passes(&c.app, &id).await;
    let before_job = c.outcome(&c.sec, &id).await;
    let o = &ok(&before_job)["referral"]["outcome"];
    assert_eq!(before_job["data"]["referral"]["status"], "CLOSED");
    assert_eq!(count(o, "DEEMED_FAVOURABLE").0, 91);
    let q = &o["qualifiedMajority"];
    assert_eq!((q["councils"].clone(), q["favourableCouncils"].clone()), (json!(92), json!(91)));
    assert_eq!(
        (q["branch"].clone(), q["mostPopulousRefused"].clone(), q["reached"].clone()),
        (json!("TWO_THIRDS_OF_COUNCILS"), json!(true), json!(false))
    );
    assert_eq!(o["verdict"], "MAJORITY_NOT_REACHED");
    let r = c.response(&c.sec, &id, &c.cassis).await;
    assert_eq!(ok(&r)["referral"]["response"]["status"], "DEEMED_FAVOURABLE");

    // A late submission changes nothing.
    let audits = c.app.audit_count().await;
    let r = c.submit(&c.mayor_cassis, &id, &c.cassis, "UNFAVOURABLE").await;
    assert_eq!(code(&r), "DEADLINE_PASSED", "{r}");
    sub["expectedVersion"] = json!(5);
    let r = c.app.gql(Some(&c.mayor_marseille), SUBMIT, json!({"i": sub})).await;
    assert_eq!(code(&r), "DEADLINE_PASSED", "{r}");
    assert_eq!(c.app.audit_count().await, audits);

    // The job records what the queries showed, once.
    assert_eq!(run_job(&c.app).await.closed, 1);
    let after_job = c.outcome(&c.sec, &id).await;
    assert_eq!(after_job, before_job);
    assert_eq!(run_job(&c.app).await, Default::default());
    assert_eq!(c.app.audit_count().await, audits + 1);
}

#[tokio::test]
async fn silence_follows_the_procedure() {
    let c = ctx().await;
    let deadline = in_days(30);
    let cases = [
        ("TRANSFER_OF_COMPETENCE", json!({}), "DEEMED_FAVOURABLE", "MAJORITY_REACHED"),
        ("STATUTES", json!({}), "DEEMED_FAVOURABLE", "MAJORITY_REACHED"),
        ("SINGLE_COMMUNE", json!({"communes": [c.cassis]}), "DEEMED_FAVOURABLE", "FAVOURABLE_OPINION"),
        ("PLUI", json!({}), "DEEMED_FAVOURABLE", "FAVOURABLE_OPINION"),
        ("GOVERNANCE_PACT", json!({}), "NO_RESPONSE", "COUNCIL_MAY_ADOPT"),
        ("CLECT_REPORT", json!({}), "NO_RESPONSE", "PREFECT_FIXES_COSTS"),
        (
            "FREE_CONSULTATION",
            json!({"silence": "DEEMED_FAVOURABLE", "deadlineDate": deadline}),
            "DEEMED_FAVOURABLE",
            "INFORMATIVE",
        ),
        (
            "FREE_CONSULTATION",
            json!({"silence": "NO_RESPONSE", "deadlineDate": deadline}),
            "NO_RESPONSE",
            "INFORMATIVE",
        ),
        ("DATA_COLLECTION", json!({"deadlineDate": deadline}), "NO_RESPONSE", "DATASET_COMPLETE"),
    ];
    let mut ids = Vec::new();
    for (procedure, extra, _, _) in &cases {
        let mut input = json!({"title": format!("Saisine {procedure}")});
        input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        ids.push(c.open(procedure, input).await.0);
    }
    // A procedure's silence is not overridden; a free consultation must state it.
    let r = c
        .app
        .gql(
            Some(&c.sec),
            CREATE,
            json!({"e": c.amp, "p": "TRANSFER_OF_COMPETENCE", "i": {"title": "x", "silence": "NO_RESPONSE"}}),
        )
        .await;
    assert_eq!((code(&r), r["errors"][0]["extensions"]["field"].clone()), ("VALIDATION".into(), json!("silence")));
    let r = c
        .app
        .gql(
            Some(&c.sec),
            CREATE,
            json!({"e": c.amp, "p": "FREE_CONSULTATION", "i": {"title": "x", "deadlineDate": deadline}}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    // A qualified majority counts every member council: no hand-picked subset.
    let subset = json!({"title": "x", "addresseeMode": "SUBSET", "communes": [c.cassis]});
    let r = c.app.gql(Some(&c.sec), CREATE, json!({"e": c.amp, "p": "STATUTES", "i": subset})).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "addresseeMode", "{r}");
    for id in &ids {
        time_passes(&c.app, id).await;
    }
    assert_eq!(run_job(&c.app).await.closed, cases.len());
    for ((procedure, _, silence, verdict), id) in cases.iter().zip(&ids) {
        let r = c.response(&c.sec, id, &c.cassis).await;
        assert_eq!(ok(&r)["referral"]["response"]["status"], *silence, "{procedure}");
        let r = c.outcome(&c.sec, id).await;
        assert_eq!(ok(&r)["referral"]["outcome"]["verdict"], *verdict, "{procedure}: {r}");
    }
    // L5211-57: the commune says no, the council must decide by two thirds of its members.
    let (id, _) =
        c.open("SINGLE_COMMUNE", json!({"title": "Cession d'un terrain à Cassis", "communes": [c.cassis]})).await;
    ok(&c.submit(&c.mayor_cassis, &id, &c.cassis, "UNFAVOURABLE").await);
    time_passes(&c.app, &id).await;
    let r = c.outcome(&c.sec, &id).await;
    assert_eq!(ok(&r)["referral"]["outcome"]["verdict"], "COUNCIL_TWO_THIRDS_REQUIRED", "{r}");
}

#[tokio::test]
async fn two_people_saving_the_same_response_at_once() {
    let c = ctx().await;
    let (id, _) = c
        .open("FREE_CONSULTATION", json!({"title": "Plan vélo", "silence": "NO_RESPONSE", "deadlineDate": in_days(20)}))
        .await;
    let input = |reasons: &str| json!({"i": {"referralId": id, "communeId": c.marseille, "expectedVersion": 1, "opinion": "FAVOURABLE", "reasons": reasons}});
    let (a, b) = tokio::join!(
        c.app.gql(Some(&c.mayor_marseille), DRAFT, input("Texte du maire")),
        c.app.gql(Some(&c.dgs_marseille), DRAFT, input("Texte de la DGS")),
    );
    let codes = [a["errors"][0]["extensions"]["code"].clone(), b["errors"][0]["extensions"]["code"].clone()];
    assert!(codes.contains(&Value::Null) && codes.contains(&json!("CONFLICT")), "{a}\n{b}");
    let r = c.response(&c.mayor_marseille, &id, &c.marseille).await;
    let resp = &ok(&r)["referral"]["response"];
    assert_eq!((resp["version"].clone(), resp["revisions"].as_array().unwrap().len()), (json!(2), 1));
    // The loser reloads and saves on top: nothing is lost, both texts are in the history.
    let loser = if a["errors"].is_null() {
        (&c.dgs_marseille, "Texte de la DGS")
    } else {
        (&c.mayor_marseille, "Texte du maire")
    };
    let mut i = input(loser.1);
    i["i"]["expectedVersion"] = json!(2);
    ok(&c.app.gql(Some(loser.0), DRAFT, i).await);
    let r = c.response(&c.mayor_marseille, &id, &c.marseille).await;
    assert_eq!(ok(&r)["referral"]["response"]["revisions"].as_array().unwrap().len(), 2);
    assert_eq!(ok(&r)["referral"]["response"]["reasons"], loser.1);
    // A draft is the commune's own until signed: the secretariat sees its status only.
    let r = c.response(&c.sec, &id, &c.marseille).await;
    let resp = &ok(&r)["referral"]["response"];
    assert_eq!((resp["status"].clone(), resp["reasons"].clone()), (json!("DRAFT"), Value::Null));
    assert!(resp["revisions"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn other_communes_responses_are_visible_once_closed() {
    let c = ctx().await;
    let input = |only: bool| json!({"title": "Schéma des mobilités", "silence": "NO_RESPONSE", "deadlineDate": in_days(20), "secretariatOnly": only});
    let (open_one, _) = c.open("FREE_CONSULTATION", input(false)).await;
    let (secret, _) = c.open("FREE_CONSULTATION", input(true)).await;
    for id in [&open_one, &secret] {
        ok(&c.submit(&c.mayor_marseille, id, &c.marseille, "FAVOURABLE").await);
        ok(&c.submit(&c.mayor_cassis, id, &c.cassis, "UNFAVOURABLE").await);
    }
    // Aix's mayor keeps an unsigned draft: it never becomes another commune's reading.
    let aix_mayor = c.app.login_as("maire.aix@demo.entente.fr").await;
    let draft = json!({"i": {"referralId": open_one, "communeId": c.aix, "expectedVersion": 1, "opinion": "UNFAVOURABLE", "reasons": "Brouillon interne"}});
    ok(&c.app.gql(Some(&aix_mayor), DRAFT, draft).await);
    let listed = |r: &Value| -> Vec<String> {
        r["data"]["referral"]["responses"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["commune"]["inseeCode"].as_str().unwrap().to_string())
            .collect()
    };
    let list =
        "query($id:ID!){referral(id:$id){responses(first:100){totalCount edges{node{commune{inseeCode} opinion}}}}}";
    for id in [&open_one, &secret] {
        // Before closing: Cassis sees its own response only, and no outcome.
        let r = c.response(&c.mayor_cassis, id, &c.marseille).await;
        assert_eq!(code(&r), "FORBIDDEN", "{r}");
        assert_eq!(listed(&c.app.gql(Some(&c.mayor_cassis), list, json!({"id": id})).await), ["13022"]);
        assert_eq!(code(&c.outcome(&c.mayor_cassis, id).await), "FORBIDDEN");
        // The secretariat follows everything live.
        assert_eq!(listed(&c.app.gql(Some(&c.sec), list, json!({"id": id})).await).len(), 92);
        time_passes(&c.app, id).await;
    }
    // The job closes them and tells the communes addressed: the outcome of the open one,
    // not of the secretariat-only one.
    assert_eq!(run_job(&c.app).await.closed, 2);
    let r = c
        .app
        .gql(Some(&c.mayor_cassis), "{myNotifications(first:20){nodes{kind message referralId}}}", json!({}))
        .await;
    let closed: Vec<(String, String)> = ok(&r)["myNotifications"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "REFERRAL_CLOSED")
        .map(|n| (n["referralId"].as_str().unwrap().to_string(), n["message"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(closed.len(), 2, "{r}");
    let message = |id: &str| closed.iter().find(|(r, _)| r == id).map(|(_, m)| m.clone()).unwrap();
    assert!(message(&secret).ends_with("close : les réponses sont closes"), "{closed:?}");
    assert!(!message(&open_one).ends_with("les réponses sont closes"), "{closed:?}");
    // Closed: the addressees see each other's responses and the outcome...
    let r = c.response(&c.mayor_cassis, &open_one, &c.marseille).await;
    assert_eq!(ok(&r)["referral"]["response"]["opinion"], "FAVOURABLE");
    assert_eq!(listed(&c.app.gql(Some(&c.mayor_cassis), list, json!({"id": open_one})).await).len(), 92);
    ok(&c.outcome(&c.mayor_cassis, &open_one).await);
    let r = c.response(&c.mayor_cassis, &open_one, &c.aix).await;
    let aix = &ok(&r)["referral"]["response"];
    assert_eq!(
        (aix["status"].clone(), aix["opinion"].clone(), aix["reasons"].clone()),
        (json!("NO_RESPONSE"), Value::Null, Value::Null)
    );
    assert!(aix["revisions"].as_array().unwrap().is_empty());
    let (_, _, rows) = get_csv(&c.app, &c.mayor_cassis, &format!("/referrals/{open_one}/responses.csv")).await;
    assert!(!rows.iter().flat_map(|r| r.iter()).any(|cell| cell.contains("Brouillon")), "a draft leaked into the CSV");
    // ...unless the referral is secretariat-only.
    assert_eq!(code(&c.response(&c.mayor_cassis, &secret, &c.marseille).await), "FORBIDDEN");
    assert_eq!(listed(&c.app.gql(Some(&c.mayor_cassis), list, json!({"id": secret})).await), ["13022"]);
    assert_eq!(code(&c.outcome(&c.mayor_cassis, &secret).await), "FORBIDDEN");
    // The follow-up stays the secretariat's; a commune not addressed sees nothing.
    let progress = "query($id:ID!){referral(id:$id){progress{responseRate}}}";
    assert_eq!(code(&c.app.gql(Some(&c.mayor_cassis), progress, json!({"id": open_one})).await), "FORBIDDEN");
    let (subset, _) = c.open("FREE_CONSULTATION", json!({"title": "Marseille seule", "silence": "NO_RESPONSE", "deadlineDate": in_days(20), "addresseeMode": "SUBSET", "communes": [c.marseille]})).await;
    let r = c.app.gql(Some(&c.mayor_cassis), "query($id:ID!){referral(id:$id){title}}", json!({"id": subset})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let mine = c.app.gql(Some(&c.mayor_cassis), "{referrals{nodes{id}}}", json!({})).await;
    let mine: Vec<&str> =
        ok(&mine)["referrals"]["nodes"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(mine.contains(&open_one.as_str()) && mine.contains(&secret.as_str()) && !mine.contains(&subset.as_str()));
}

#[tokio::test]
async fn a_new_mayor_takes_over_the_open_referrals_the_day_they_take_office() {
    let c = ctx().await;
    let (id, _) = c.open("STATUTES", json!({"title": "Modification des statuts"})).await;
    let draft = json!({"i": {"referralId": id, "communeId": c.cassis, "expectedVersion": 1, "opinion": "FAVOURABLE_WITH_RESERVATIONS", "reasons": "Réserve sur le calendrier."}});
    ok(&c.app.gql(Some(&c.mayor_cassis), DRAFT, draft).await);
    // The outgoing mayor's mandate ends today; the successor's starts today.
    let q = "query($c:String!){commune(inseeCode:$c){currentMayor{id version}}}";
    let r = c.app.gql(Some(&c.sec), q, json!({"c": "13022"})).await;
    let m = ok(&r)["commune"]["currentMayor"].clone();
    let today = entente::time::today_paris().to_string();
    ok(&c
        .app
        .gql(
            Some(&c.sec),
            "mutation($i:EndMandateInput!){endMandate(input:$i){id}}",
            json!({"i": {"id": m["id"], "expectedVersion": m["version"], "endDate": today}}),
        )
        .await);
    let successor = crate::mandates::person(&c.app, &c.sec, "Nouvelle", "Mairesse").await;
    ok(&c
        .app
        .gql(
            Some(&c.sec),
            crate::mandates::CREATE_MANDATE,
            json!({"i": {"personId": successor, "organisationId": c.cassis, "role": "MAYOR", "startDate": today}}),
        )
        .await);
    let r = c
        .app
        .gql(
            Some(&c.sec),
            "mutation($i:InviteAccountInput!){inviteAccount(input:$i){token}}",
            json!({"i": {"personId": successor, "email": "nouvelle.mairesse@cassis.fr", "role": "MEMBER"}}),
        )
        .await;
    let token = ok(&r)["inviteAccount"]["token"].as_str().unwrap().to_string();
    let r = c
        .app
        .gql(
            None,
            "mutation($t:String!,$p:String!){acceptInvitation(token:$t,password:$p){token}}",
            json!({"t": token, "p": "une phrase de passe solide"}),
        )
        .await;
    let new_mayor = ok(&r)["acceptInvitation"]["token"].as_str().unwrap().to_string();

    // The outgoing mayor has lost access; the successor finds the draft and submits it.
    let r = c.app.gql(Some(&c.mayor_cassis), "query($id:ID!){referral(id:$id){title}}", json!({"id": id})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = c.app.gql(Some(&c.mayor_cassis), DRAFT, json!({"i": {"referralId": id, "communeId": c.cassis, "expectedVersion": 2, "opinion": "UNFAVOURABLE", "reasons": "x"}})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = c.response(&new_mayor, &id, &c.cassis).await;
    assert_eq!(ok(&r)["referral"]["response"]["reasons"], "Réserve sur le calendrier.");
    let mine = c.app.gql(Some(&new_mayor), "{referrals{nodes{id}}}", json!({})).await;
    assert!(ok(&mine)["referrals"]["nodes"].as_array().unwrap().iter().any(|r| r["id"] == id.as_str()), "{mine}");
    let r = c.submit(&new_mayor, &id, &c.cassis, "FAVOURABLE_WITH_RESERVATIONS").await;
    assert_eq!(ok(&r)["submitResponse"]["status"], "SUBMITTED");
    let r = c.response(&c.sec, &id, &c.cassis).await;
    assert_eq!(ok(&r)["referral"]["response"]["submittedBy"]["fullName"], "Nouvelle Mairesse");
}

#[tokio::test]
async fn a_signature_delegation_lets_the_dgs_submit_until_revoked() {
    let c = ctx().await;
    let (id, _) = c.open("GOVERNANCE_PACT", json!({"title": "Pacte de gouvernance 2026-2032"})).await;
    let r = c.submit(&c.dgs_marseille, &id, &c.marseille, "FAVOURABLE").await;
    assert_eq!(code(&r), "FORBIDDEN");
    let r = c.app.gql(Some(&c.sec), "{me{person{id}}}", json!({})).await;
    let sec_person = ok(&r)["me"]["person"]["id"].clone();
    let r = c.app.gql(Some(&c.dgs_marseille), "{me{person{id}}}", json!({})).await;
    let dgs = ok(&r)["me"]["person"]["id"].clone();
    let grant = "mutation($c:ID!,$p:ID!){grantSignatureDelegation(communeId:$c,personId:$p){id endDate}}";
    // Only the mayor delegates, and only to someone serving the commune.
    assert_eq!(code(&c.app.gql(Some(&c.sec), grant, json!({"c": c.marseille, "p": dgs})).await), "FORBIDDEN");
    let r = c.app.gql(Some(&c.mayor_marseille), grant, json!({"c": c.marseille, "p": sec_person})).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    let r = c.app.gql(Some(&c.mayor_marseille), grant, json!({"c": c.marseille, "p": dgs})).await;
    let delegation = ok(&r)["grantSignatureDelegation"]["id"].clone();
    let r = c.submit(&c.dgs_marseille, &id, &c.marseille, "FAVOURABLE").await;
    assert_eq!(ok(&r)["submitResponse"]["status"], "SUBMITTED");
    let revoke = "mutation($id:ID!){revokeSignatureDelegation(id:$id){endDate}}";
    assert_eq!(code(&c.app.gql(Some(&c.dgs_marseille), revoke, json!({"id": delegation})).await), "FORBIDDEN");
    ok(&c.app.gql(Some(&c.mayor_marseille), revoke, json!({"id": delegation})).await);
    let r = c.submit(&c.dgs_marseille, &id, &c.marseille, "UNFAVOURABLE").await;
    assert_eq!(code(&r), "FORBIDDEN");
}

#[tokio::test]
async fn who_acts_for_which_commune_is_read_once_per_query_and_afresh_in_a_mutation() {
    use entente::auth::policy::acting_for;
    let c = ctx().await;
    let (state, db) = (&c.app.state, &c.app.state.db);
    let marseille = entente::ids::decode("id", entente::ids::Kind::Commune, &async_graphql::ID(c.marseille.clone()));
    let (mutation, _) =
        entente::auth::service::resolve_actor(state, Some(&c.mayor_marseille), "test".into(), None).await.unwrap();
    let (query, _) =
        entente::auth::service::resolve_actor(state, Some(&c.mayor_marseille), "test".into(), None).await.unwrap();
    let query = query.reading_only();
    for (actor, again) in [(&query, 0), (&mutation, 2)] {
        let before = state.statements.get();
        let first = acting_for(db, actor).await.unwrap();
        assert!(state.statements.get() > before, "the first call reads the mandates and delegations");
        let before = state.statements.get();
        let second = acting_for(db, actor).await.unwrap();
        // A query's policy check and view share one reading; in a mutation, a field may
        // end a mandate or a delegation that a later field's check relies on.
        assert_eq!(state.statements.get() - before, again);
        assert_eq!(first.submits, second.submits);
        assert_eq!(first.submits, vec![*marseille.as_ref().unwrap()]);
    }
}

#[tokio::test]
async fn extending_a_deadline_tells_the_addressees() {
    let c = ctx().await;
    let (id, opened) = c
        .open(
            "FREE_CONSULTATION",
            json!({"title": "Plan climat", "silence": "NO_RESPONSE", "deadlineDate": in_days(10)}),
        )
        .await;
    let v = opened["version"].as_i64().unwrap();
    let ext = "mutation($id:ID!,$v:Int!,$d:NaiveDate!,$r:String!){extendReferralDeadline(id:$id,expectedVersion:$v,deadlineDate:$d,reason:$r){version deadlineDay}}";
    let r = c.app.gql(Some(&c.sec), ext, json!({"id": id, "v": v, "d": in_days(5), "r": "x"})).await;
    assert_eq!(code(&r), "VALIDATION", "an extension moves the deadline later: {r}");
    let r = c.app.gql(Some(&c.mayor_cassis), ext, json!({"id": id, "v": v, "d": in_days(40), "r": "x"})).await;
    assert_eq!(code(&r), "FORBIDDEN");
    let r = c.app.gql(Some(&c.sec), ext, json!({"id": id, "v": v, "d": in_days(40), "r": "Demande des maires"})).await;
    assert_eq!(ok(&r)["extendReferralDeadline"]["deadlineDay"], in_days(40));
    let r = c.app.gql(Some(&c.sec), "query($id:ID!){referral(id:$id){deadlineDate}}", json!({"id": id})).await;
    assert_eq!(ok(&r)["referral"]["deadlineDate"], in_days(40));
    let r = c.app.gql(Some(&c.sec), ext, json!({"id": id, "v": v, "d": in_days(50), "r": "x"})).await;
    assert_eq!(code(&r), "CONFLICT", "{r}");
    assert_eq!(notifications(&c.app, &c.mayor_cassis, "DEADLINE_EXTENDED", &id).await, 1);
    // A legal period is fixed by the law: it runs from the clock's start, not extended.
    let (legal, opened) = c.open("TRANSFER_OF_COMPETENCE", json!({"title": "Transfert"})).await;
    let r =
        c.app.gql(Some(&c.sec), ext, json!({"id": legal, "v": opened["version"], "d": in_days(200), "r": "x"})).await;
    assert_eq!((code(&r), r["errors"][0]["extensions"]["field"].clone()), ("VALIDATION".into(), json!("deadlineDate")));
}

#[tokio::test]
async fn reminders_go_to_communes_that_have_not_answered() {
    let c = ctx().await;
    let (id, _) = c
        .open("FREE_CONSULTATION", json!({"title": "Plan vélo", "silence": "NO_RESPONSE", "deadlineDate": in_days(10)}))
        .await;
    ok(&c.submit(&c.mayor_marseille, &id, &c.marseille, "FAVOURABLE").await);
    let db = &c.app.state.db;
    let run = |days: i64| entente::referrals::service::run_jobs(db, Utc::now() + Duration::days(days));
    // 10 days before: the 15-day reminder is due (once).
    assert!(run(0).await.unwrap().reminders > 0);
    assert_eq!(run(0).await.unwrap().reminders, 0);
    assert_eq!(notifications(&c.app, &c.mayor_cassis, "REFERRAL_REMINDER", &id).await, 1);
    assert_eq!(notifications(&c.app, &c.mayor_marseille, "REFERRAL_REMINDER", &id).await, 0, "Marseille has answered");
    // 6 days before: the 7-day one.
    assert!(run(4).await.unwrap().reminders > 0);
    assert_eq!(notifications(&c.app, &c.mayor_cassis, "REFERRAL_REMINDER", &id).await, 2);
}

#[tokio::test]
async fn the_dashboard_costs_the_same_statements_for_5_or_92_communes() {
    let app = TestApp::demo_with(|cfg| {
        wide_batches(cfg);
        cfg.response_cache_entries = 0;
    })
    .await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let amp = app.epci_id(&sec, "200054807").await;
    let mut five = Vec::new();
    for insee in ["13055", "13001", "13022", "13005", "13056"] {
        five.push(app.commune_id(&sec, insee).await);
    }
    let c = Ctx {
        mayor_marseille: app.login_as("maire.marseille@demo.entente.fr").await,
        dgs_marseille: String::new(),
        mayor_cassis: String::new(),
        marseille: five[0].clone(),
        cassis: five[2].clone(),
        aix: five[1].clone(),
        sec,
        amp,
        app,
    };
    let base = json!({"title": "Consultation", "silence": "NO_RESPONSE", "deadlineDate": in_days(20)});
    let mut small = base.clone();
    small["addresseeMode"] = json!("SUBSET");
    small["communes"] = json!(five);
    let (few, _) = c.open("FREE_CONSULTATION", small).await;
    let (all, _) = c.open("FREE_CONSULTATION", base).await;
    for id in [&few, &all] {
        ok(&c.submit(&c.mayor_marseille, id, &c.marseille, "FAVOURABLE").await);
    }
    let q = "query($id:ID!){referral(id:$id){title status deadline progress{addressees submitted responseRate pending{name inseeCode} byGroup{name addressees submitted}}
      outcome{counts{position communes populationShare}}
      responses(first:100){totalCount edges{node{status opinion population{value year} commune{name inseeCode} submittedBy{fullName}}}}}}";
    let mut counts = Vec::new();
    for id in [&few, &all] {
        let before = c.app.state.statements.get();
        ok(&c.app.gql(Some(&c.sec), q, json!({"id": id})).await);
        counts.push(c.app.state.statements.get() - before);
    }
    assert!(counts[1] <= counts[0] + 2, "statements grew with the addressees: {counts:?}");
    assert!(counts[1] <= 25, "{counts:?}");
}

async fn get_csv(app: &TestApp, token: &str, path: &str) -> (u16, String, Vec<csv::StringRecord>) {
    let resp = app.client.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    let status = resp.status().as_u16();
    let kind = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = resp.bytes().await.unwrap();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(&body[..]);
    let rows = reader.records().map(|r| r.unwrap()).collect();
    (status, kind, rows)
}

#[tokio::test]
async fn a_data_collection_consolidates_into_a_dataset_and_csv() {
    let c = ctx().await;
    let (id, v) = c
        .create("DATA_COLLECTION", json!({"title": "Recensement des agents de voirie", "deadlineDate": in_days(30), "addresseeMode": "SUBSET", "communes": [c.marseille, c.cassis, c.aix]}))
        .await;
    // No form, no opening.
    let r = c.app.gql(Some(&c.sec), OPEN, json!({"id": id, "v": v})).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    let bad = json!([{"key": "km", "label": "Voirie", "type": "DECIMAL", "required": true}]);
    let r = c.app.gql(Some(&c.sec), SET_FORM, json!({"id": id, "f": bad})).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "fields.0.unit", "a decimal states its unit: {r}");
    let fields = json!([
        {"key": "agents", "label": "Agents de voirie (ETP)", "type": "INTEGER", "required": true, "min": 0, "max": 100000},
        {"key": "roads_km", "label": "Voirie communale", "type": "DECIMAL", "unit": "km", "required": true, "min": 0},
        {"key": "has_plan", "label": "Plan de déneigement", "type": "BOOLEAN"},
        {"key": "adopted_on", "label": "Date d'adoption", "type": "DATE"},
        {"key": "mode", "label": "Mode de gestion", "type": "SINGLE_CHOICE", "choices": ["régie", "délégation"]},
        {"key": "services", "label": "Services", "type": "MULTIPLE_CHOICE", "choices": ["propreté", "éclairage", "espaces verts"], "max": 2},
        {"key": "comment", "label": "Commentaire", "type": "TEXT", "max": 500},
    ]);
    let r = c.app.gql(Some(&c.sec), SET_FORM, json!({"id": id, "f": fields})).await;
    assert_eq!(ok(&r)["setReferralForm"]["version"], 1);
    ok(&c.app.gql(Some(&c.sec), OPEN, json!({"id": id, "v": v})).await);

    let answer = |commune: &str, version: i64, answers: Value| json!({"i": {"referralId": id, "communeId": commune, "expectedVersion": version, "answers": answers}});
    // Each answer is checked against its field; the error names the path.
    for (answers, path) in [
        (json!({"agents": -1}), "answers.agents"),
        (json!({"agents": "douze"}), "answers.agents"),
        (json!({"roads_km": "loin"}), "answers.roads_km"),
        (json!({"adopted_on": "2026-02-30"}), "answers.adopted_on"),
        (json!({"mode": "privé"}), "answers.mode"),
        (json!({"services": ["propreté", "éclairage", "espaces verts"]}), "answers.services"),
        (json!({"unknown": 1}), "answers.unknown"),
    ] {
        let r = c.app.gql(Some(&c.dgs_marseille), DRAFT, answer(&c.marseille, 1, answers)).await;
        assert_eq!(
            (code(&r), r["errors"][0]["extensions"]["field"].clone()),
            ("VALIDATION".into(), json!(path)),
            "{r}"
        );
    }
    // A draft may be partial; a submission may not.
    ok(&c.app.gql(Some(&c.dgs_marseille), DRAFT, answer(&c.marseille, 1, json!({"agents": 1200}))).await);
    let r = c.app.gql(Some(&c.mayor_marseille), SUBMIT, answer(&c.marseille, 2, json!({"agents": 1200}))).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "answers.roads_km", "{r}");
    let comment = "Voirie « métropolisée », en partie; dit \"Grand\"\nligne 2";
    let marseille = json!({"agents": 1200, "roads_km": 1650.5, "has_plan": true, "adopted_on": "2024-11-05", "mode": "régie", "services": ["propreté", "éclairage"], "comment": comment});
    ok(&c.app.gql(Some(&c.mayor_marseille), SUBMIT, answer(&c.marseille, 2, marseille)).await);
    ok(&c
        .app
        .gql(
            Some(&c.mayor_cassis),
            SUBMIT,
            answer(&c.cassis, 1, json!({"agents": 12, "roads_km": 45.25, "mode": "délégation"})),
        )
        .await);

    // Before closing, a commune's dataset holds its own row; the secretariat's all three.
    let q = "query($id:ID!,$s:String,$d:Boolean,$p:Boolean){referral(id:$id){dataset(sortBy:$s,descending:$d,perInhabitant:$p){formVersion rows{inseeCode population answered values{key value perInhabitant}} totals{key sum answered population perInhabitant}}}}";
    let r = c.app.gql(Some(&c.mayor_cassis), q, json!({"id": id})).await;
    assert_eq!(ok(&r)["referral"]["dataset"]["rows"].as_array().unwrap().len(), 1);
    let r = c.app.gql(Some(&c.sec), q, json!({"id": id, "s": "agents", "d": true, "p": true})).await;
    let d = &ok(&r)["referral"]["dataset"];
    let order: Vec<_> = d["rows"].as_array().unwrap().iter().map(|r| r["inseeCode"].as_str().unwrap()).collect();
    // Agents per inhabitant: Cassis 12 / 7,000-odd is above Marseille 1,200 / 886,040; Aix has not answered.
    assert_eq!(order, ["13022", "13055", "13001"]);
    let agents = d["totals"].as_array().unwrap().iter().find(|t| t["key"] == "agents").unwrap();
    let pop_marseille = d["rows"][1]["population"].as_i64().unwrap();
    let pop_cassis = d["rows"][0]["population"].as_i64().unwrap();
    assert_eq!((agents["sum"].as_f64(), agents["answered"].as_i64()), (Some(1212.0), Some(2)));
    assert_eq!(agents["population"].as_i64(), Some(pop_marseille + pop_cassis));
    let per = d["rows"][1]["values"][0]["perInhabitant"].as_f64().unwrap();
    assert!((per - 1200.0 / pop_marseille as f64).abs() < 1e-12);

    // CSV (RFC 4180), parsed back.
    let (status, kind, rows) = get_csv(&c.app, &c.sec, &format!("/referrals/{id}/responses.csv")).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/csv"), "{kind}");
    assert_eq!(&rows[0][0], "insee_code");
    assert_eq!(rows.len(), 4, "a header and three communes");
    let header: Vec<&str> = rows[0].iter().collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let m = rows.iter().find(|r| &r[0] == "13055").unwrap();
    assert_eq!(&m[col("comment")], comment);
    assert_eq!(&m[col("services")], "propreté; éclairage");
    assert_eq!(&m[col("roads_km")], "1650.5");
    assert_eq!(&m[col("status")], "SUBMITTED");
    let aix = rows.iter().find(|r| &r[0] == "13001").unwrap();
    assert_eq!(&aix[col("status")], "PENDING");
    let (status, _, rows) = get_csv(&c.app, &c.sec, &format!("/referrals/{id}/dataset.csv")).await;
    assert_eq!(status, 200);
    let header: Vec<&str> = rows[0].iter().collect();
    assert!(header.contains(&"agents_per_inhabitant") && header.contains(&"roads_km_per_inhabitant"), "{header:?}");
    let m = rows.iter().find(|r| &r[0] == "13055").unwrap();
    let per: f64 = m[header.iter().position(|h| *h == "agents_per_inhabitant").unwrap()].parse().unwrap();
    assert!((per - 1200.0 / pop_marseille as f64).abs() < 1e-12);
    // A commune's CSV holds its own row only while open; anonymous requests are refused.
    let (_, _, rows) = get_csv(&c.app, &c.mayor_cassis, &format!("/referrals/{id}/responses.csv")).await;
    assert_eq!(rows.len(), 2);
    let anon = c.app.client.get(c.app.url(&format!("/referrals/{id}/responses.csv"))).send().await.unwrap();
    assert_eq!(anon.status().as_u16(), 401);

    // A new form version: later answers follow it, earlier ones keep theirs.
    let v2 = json!([{"key": "agents", "label": "Agents", "type": "INTEGER", "required": true}, {"key": "vehicles", "label": "Véhicules", "type": "INTEGER"}]);
    let r = c.app.gql(Some(&c.sec), SET_FORM, json!({"id": id, "f": v2})).await;
    assert_eq!(ok(&r)["setReferralForm"]["version"], 2);
    let r = c.app.gql(Some(&c.mayor_cassis), SUBMIT, answer(&c.cassis, 2, json!({"agents": 13, "vehicles": 4}))).await;
    ok(&r);
    let r = c
        .app
        .gql(
            Some(&c.sec),
            "query($id:ID!,$c:ID!){referral(id:$id){response(communeId:$c){formVersion answers}}}",
            json!({"id": id, "c": c.marseille}),
        )
        .await;
    assert_eq!(ok(&r)["referral"]["response"]["formVersion"], 1);
}

#[tokio::test]
async fn a_linked_meeting_shows_only_to_those_who_may_see_it() {
    let c = ctx().await;
    let body = crate::meetings::create_body(&c.app, &c.sec, "COMMISSION", "Commission des finances").await;
    let meeting = crate::meetings::create_meeting(&c.app, &c.sec, &body, 20).await;
    let input = json!({"title": "Avis sur le budget", "silence": "NO_RESPONSE", "deadlineDate": in_days(20), "bodyId": body, "meetingId": meeting});
    let (id, _) = c.open("FREE_CONSULTATION", input).await;
    let q = "query($id:ID!){referral(id:$id){title meeting{id}}}";
    let r = c.app.gql(Some(&c.sec), q, json!({"id": id})).await;
    assert_eq!(ok(&r)["referral"]["meeting"]["id"], meeting.as_str());
    // Cassis is consulted but does not sit in the commission: the referral, not the meeting.
    let r = c.app.gql(Some(&c.mayor_cassis), q, json!({"id": id})).await;
    assert_eq!(ok(&r)["referral"]["title"], "Avis sur le budget");
    assert!(ok(&r)["referral"]["meeting"].is_null(), "{r}");
}
