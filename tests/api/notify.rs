//! Notifications are typed events written to an outbox in the change's own transaction
//! (platform/notify): one event per change, one notification per recipient, linked to it.
//! (That an event rolls back with a failing change is tested in src/platform/notify, on
//! a real SQLite database.)
use async_graphql::ID;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::json;

use crate::helpers::{ok, TestApp};
use crate::meetings::{add_item, convene, create_meeting, transition, working_group};
use entente::meetings::model::convocation;
use entente::platform::notify::model::{notification, outbox_event};
use entente::platform::notify::Event;

async fn events(app: &TestApp) -> Vec<outbox_event::Model> {
    outbox_event::Entity::find().order_by_asc(outbox_event::Column::Id).all(&app.state.db).await.unwrap()
}

#[tokio::test]
async fn a_change_that_notifies_writes_one_event_and_a_notification_per_recipient() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let marseille = app.login_as("maire.marseille@demo.entente.fr").await;
    let aix = app.login_as("maire.aix@demo.entente.fr").await;
    let (wg, _) = working_group(&app, &sec, &["13055", "13001"]).await;
    let m = create_meeting(&app, &sec, &wg, 20).await;
    add_item(&app, &sec, &m, "VOTE", "Point").await;
    ok(&convene(&app, &sec, &m, None).await);
    let meeting = entente::ids::decode("id", entente::ids::Kind::Meeting, &ID(m.clone())).unwrap();
    let before = events(&app).await.len();

    ok(&transition(&app, &sec, &m, "POSTPONED").await);

    // Exactly one event, about the meeting, with the whole event as its payload.
    let all = events(&app).await;
    assert_eq!(all.len(), before + 1);
    let e = all.last().unwrap();
    assert_eq!((e.kind.as_str(), e.meeting_id, e.referral_id), ("MEETING_POSTPONED", Some(meeting), None));
    assert!(e.actor_account_id.is_some(), "the secretariat's change");
    match serde_json::from_value::<Event>(e.payload.clone()).unwrap() {
        Event::MeetingPostponed { meeting: id, title, reason: None } => {
            assert_eq!((id, title.as_str()), (meeting, "Séance J+20"));
        }
        other => panic!("{other:?}"),
    }
    // One notification per person convened, each linked to the event.
    let convened = convocation::Entity::find()
        .filter(convocation::Column::MeetingId.eq(meeting))
        .count(&app.state.db)
        .await
        .unwrap();
    let told =
        notification::Entity::find().filter(notification::Column::EventId.eq(e.id)).all(&app.state.db).await.unwrap();
    assert!(convened >= 2, "{convened}");
    assert_eq!(told.len() as u64, convened);
    assert_eq!(e.recipients as u64, convened);
    assert!(told
        .iter()
        .all(|n| n.kind == entente::platform::notify::NotificationKind::MeetingPostponed
            && n.meeting_id == Some(meeting)));
    // Each recipient reads it with its kind, typed in the schema.
    for tok in [&marseille, &aix] {
        let r = app.gql(Some(tok), "{myNotifications(first:10){nodes{kind message meetingId}}}", json!({})).await;
        let nodes = ok(&r)["myNotifications"]["nodes"].as_array().unwrap().clone();
        let mine: Vec<_> =
            nodes.iter().filter(|n| n["meetingId"] == json!(m) && n["kind"] != "MEETING_CONVENED").collect();
        assert_eq!(mine.len(), 1, "{r}");
        assert_eq!(mine[0]["kind"], "MEETING_POSTPONED");
        assert_eq!(mine[0]["message"], "« Séance J+20 » : séance reportée");
    }

    // A change that fails (a stale version) emits nothing.
    let r = app
        .gql(
            Some(&sec),
            "mutation($i:TransitionMeetingInput!){transitionMeeting(input:$i){status}}",
            json!({"i": {"id": m, "expectedVersion": 1, "status": "CANCELLED"}}),
        )
        .await;
    assert!(r["errors"].is_array(), "{r}");
    assert_eq!(events(&app).await.len(), before + 1);
    assert_eq!(
        notification::Entity::find()
            .filter(notification::Column::EventId.is_null())
            .count(&app.state.db)
            .await
            .unwrap(),
        0
    );
}

/// Migration 000010 links no event to notifications written before it, and refuses to
/// run over a stored kind the application does not know (it would fail when read).
#[tokio::test]
async fn the_outbox_step_refuses_unknown_stored_kinds() {
    use migration::MigratorTrait;
    use sea_orm::{ConnectionTrait, Statement};
    let app = TestApp::demo().await;
    let db = &app.state.db;
    let steps = migration::Migrator::migrations();
    let at = steps.iter().position(|s| s.name() == "m20261201_000010_outbox").unwrap();
    migration::Migrator::down(db, Some((steps.len() - at) as u32)).await.unwrap();
    let sql = |s: &str| Statement::from_string(db.get_database_backend(), s.to_string());
    let insert = |kind: &str| {
        sql(&format!(
            "INSERT INTO notification (person_id, kind, message, created_at) \
             SELECT MIN(id), '{kind}', 'avant', CURRENT_TIMESTAMP FROM person"
        ))
    };
    db.execute_raw(insert("MEETING_CHANGED")).await.unwrap();
    db.execute_raw(insert("MEETING_MOVED")).await.unwrap();
    let refused = migration::Migrator::up(db, None).await;
    assert!(format!("{:?}", refused.unwrap_err()).contains("MEETING_MOVED"));
    db.execute_raw(sql("DELETE FROM notification WHERE kind = 'MEETING_MOVED'")).await.unwrap();
    migration::Migrator::up(db, None).await.unwrap();
    let before = notification::Entity::find().filter(notification::Column::Message.eq("avant")).all(db).await.unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!((before[0].kind.as_str(), before[0].event_id), ("MEETING_CHANGED", None));
}
