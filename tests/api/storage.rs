//! The typed storage boundary: statuses, kinds and roles are enums in the entities (a
//! stored value that is none of them is an error, never a default), and lists and JSON
//! documents are JSON columns (migration 000011), rows written before it included.
use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use serde_json::{json, Value};

use crate::helpers::{code, ok, TestApp};
use crate::referrals::{ctx, CREATE, DRAFT, SET_FORM};

const STEP_000011: &str = "m20261201_000011_typed_columns";

/// How many steps to go down to undo 000011 (it and those after it).
fn steps_from_000011() -> u32 {
    let all = migration::Migrator::migrations();
    let at = all.iter().position(|m| m.name() == STEP_000011).expect("000011 is registered");
    (all.len() - at) as u32
}

/// One text value read with raw SQL (the column's type before 000011 is text).
async fn text(app: &TestApp, sql: &str) -> Option<String> {
    let db = &app.state.db;
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get::<Option<String>>("", "v").unwrap()
}

async fn exec(app: &TestApp, sql: &str) {
    app.state.db.execute_unprepared(sql).await.unwrap();
}

/// A referral, its form, a commune's answers and their audit entries written in the
/// format of before 000011 (undone, then a value rewritten by hand as the old code wrote
/// it) read back after it, through the entities and through the API.
#[tokio::test]
async fn migration_000011_reads_rows_written_before_it() {
    let c = ctx().await;
    let r = c
        .app
        .gql(
            Some(&c.sec),
            CREATE,
            json!({"e": c.amp, "p": "DATA_COLLECTION", "i": {"title": "Recensement", "deadlineDate": (entente::time::today_paris() + chrono::Duration::days(30)).to_string(), "addresseeMode": "SUBSET", "communes": [c.marseille, c.cassis], "reminderDays": [7, 15, 1]}}),
        )
        .await;
    let id = ok(&r)["createReferral"]["id"].as_str().unwrap().to_string();
    let fields = json!([{"key": "agents", "label": "Agents", "type": "INTEGER", "required": true, "min": 0}]);
    ok(&c.app.gql(Some(&c.sec), SET_FORM, json!({"id": id, "f": fields})).await);
    let v = ok(&c.app.gql(Some(&c.sec), "query($id:ID!){referral(id:$id){version}}", json!({"id": id})).await)
        ["referral"]["version"]
        .clone();
    let opened = c.app.gql(Some(&c.sec), crate::referrals::OPEN, json!({"id": id, "v": v})).await;
    ok(&opened);
    let draft =
        json!({"i": {"referralId": id, "communeId": c.marseille, "expectedVersion": 1, "answers": {"agents": 1200}}});
    ok(&c.app.gql(Some(&c.dgs_marseille), DRAFT, draft).await);
    let rid = entente::ids::decode("id", entente::ids::Kind::Referral, &async_graphql::ID(id.clone())).unwrap();

    // Before 000011: text, the reminder days a comma list.
    migration::Migrator::down(&c.app.state.db, Some(steps_from_000011())).await.unwrap();
    let days = text(&c.app, &format!("SELECT reminder_days AS v FROM referral WHERE id = {rid}")).await;
    assert_eq!(days.as_deref(), Some("15,7,1"));
    let chosen = text(&c.app, &format!("SELECT chosen_communes AS v FROM referral WHERE id = {rid}")).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&chosen).unwrap().as_array().unwrap().len(), 2);
    let answers = text(
        &c.app,
        &format!(
            "SELECT a.answers AS v FROM referral_addressee a WHERE a.referral_id = {rid} AND a.answers IS NOT NULL"
        ),
    )
    .await
    .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&answers).unwrap(), json!({"agents": 1200}));
    // Rows as the code of before wrote them.
    exec(&c.app, &format!("UPDATE referral SET reminder_days = '30,10' WHERE id = {rid}")).await;
    exec(&c.app, &format!("UPDATE referral_addressee SET answers = '{{\"agents\": 1300}}' WHERE referral_id = {rid} AND answers IS NOT NULL")).await;
    exec(
        &c.app,
        "UPDATE audit_entry SET summary = '{\"old\": \"text\", \"n\": [1, 2]}' WHERE action = 'SET_REFERRAL_FORM'",
    )
    .await;

    migration::Migrator::up(&c.app.state.db, None).await.unwrap();
    use entente::referrals::model::{referral, referral_addressee, referral_form, CommuneIds, Days};
    let row = referral::Entity::find_by_id(rid).one(&c.app.state.db).await.unwrap().unwrap();
    assert_eq!(row.reminder_days, Days(vec![30, 10]));
    assert!(matches!(row.chosen_communes, Some(CommuneIds(ref ids)) if ids.len() == 2));
    assert_eq!(row.status, entente::referrals::rules::ReferralStatus::Open);
    let answered: Vec<_> = referral_addressee::Entity::find()
        .all(&c.app.state.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.referral_id == rid)
        .filter_map(|a| a.answers)
        .collect();
    assert_eq!(answered, vec![json!({"agents": 1300})]);
    let forms = referral_form::Entity::find().all(&c.app.state.db).await.unwrap();
    let form = forms.into_iter().find(|f| f.referral_id == rid).unwrap();
    assert_eq!(form.fields.unwrap()[0]["key"], "agents");
    let audit = entente::audit::model::audit_entry::Entity::find().all(&c.app.state.db).await.unwrap();
    assert!(audit.iter().any(|e| e.summary == json!({"old": "text", "n": [1, 2]})));

    // And through the API (its caches told that the data changed).
    exec(&c.app, "UPDATE cache_version SET version = version + 1").await;
    let q = "query($id:ID!,$c:ID!){referral(id:$id){reminderDays addresseeMode response(communeId:$c){status answers revisions{status}}}}";
    let r = c.app.gql(Some(&c.sec), q, json!({"id": id, "c": c.marseille})).await;
    let got = &ok(&r)["referral"];
    assert_eq!(got["reminderDays"], json!([30, 10]));
    assert_eq!(got["addresseeMode"], "SUBSET");
    assert_eq!(got["response"]["status"], "DRAFT");
    let r = c.app.gql(Some(&c.dgs_marseille), q, json!({"id": id, "c": c.marseille})).await;
    assert_eq!(ok(&r)["referral"]["response"]["answers"], json!({"agents": 1300}));
    // New rows are written as JSON.
    let draft =
        json!({"i": {"referralId": id, "communeId": c.marseille, "expectedVersion": 2, "answers": {"agents": 1400}}});
    ok(&c.app.gql(Some(&c.dgs_marseille), DRAFT, draft).await);
    let r = c.app.gql(Some(&c.dgs_marseille), q, json!({"id": id, "c": c.marseille})).await;
    assert_eq!(ok(&r)["referral"]["response"]["answers"], json!({"agents": 1400}));
    let r = c
        .app
        .gql(Some(&c.sec), "{auditEntries(action:\"SET_REFERRAL_FORM\",first:5){nodes{summary}}}", json!({}))
        .await;
    assert_eq!(ok(&r)["auditEntries"]["nodes"][0]["summary"], json!({"old": "text", "n": [1, 2]}));
}

/// A stored status, kind or role that is none of its enum's values fails the read of its
/// row: INTERNAL to the client without the value, the value in the detail that is logged.
#[tokio::test]
async fn a_stored_value_outside_its_enum_is_an_internal_error_never_a_default() {
    let app = TestApp::demo().await;
    let t = app.login_as("secretariat@demo.entente.fr").await;
    exec(&app, "UPDATE intercommunality SET legal_form = 'NOT_A_FORM' WHERE siren = '200054807'").await;
    exec(&app, "UPDATE cache_version SET version = version + 1").await;
    let r = app.gql(Some(&t), "{intercommunality(siren:\"200054807\"){name legalForm}}", json!({})).await;
    assert_eq!(code(&r), "INTERNAL", "{r}");
    assert!(!r.to_string().contains("NOT_A_FORM"), "the stored value reached the client: {r}");
    // What is logged: the database error, naming the enum and the value.
    use entente::territory::model::intercommunality;
    let err = intercommunality::Entity::find().all(&app.state.db).await.unwrap_err();
    let detail = match entente::error::AppError::from(err) {
        entente::error::AppError::Internal(d) => d,
        other => panic!("not INTERNAL: {other:?}"),
    };
    assert!(detail.contains("NOT_A_FORM") && detail.contains("LegalForm"), "{detail}");
}
