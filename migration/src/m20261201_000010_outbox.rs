//! Notifications as typed events in an outbox (issue 14): `outbox_event` holds one row
//! per event (its kind, the event as JSON, the records it is about, the actor, when), and
//! each notification names the event it delivers (`event_id`, unique with its person:
//! one in-app notification per (event, recipient), and later one e-mail).
//!
//! Notifications written before this step keep a null `event_id`: they were told in-app
//! already, and no later channel is to deliver them again. Their stored kinds must all be
//! known to the application's `NotificationKind`: the step refuses to run otherwise,
//! rather than leave a kind that would fail to parse when read.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

use crate::m20261124_000003_meetings::{a, index, int, int_null, table, text, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The kinds written before the outbox; kept in step with `platform::notify::NotificationKind`.
const KNOWN: [&str; 8] = [
    "DOCUMENT_ADDED",
    "MEETING_CHANGED",
    "MEETING_POSTPONED",
    "MEETING_CANCELLED",
    "OPINION_ADOPTED",
    "REFERRAL_OPENED",
    "DEADLINE_EXTENDED",
    "REFERRAL_REMINDER",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        let kinds =
            conn.query_all(&Query::select().distinct().column(a("kind")).from(a("notification")).to_owned()).await?;
        for row in kinds {
            let kind: String = row.try_get("", "kind")?;
            if !KNOWN.contains(&kind.as_str()) {
                return Err(DbErr::Migration(format!("notification kind {kind:?} is not known")));
            }
        }
        table(
            m,
            "outbox_event",
            vec![
                text("kind"),
                ColumnDef::new(a("payload")).text().not_null().take(),
                int_null("meeting_id"),
                int_null("agenda_item_id"),
                int_null("referral_id"),
                int_null("actor_account_id"),
                int("recipients"),
                ts("created_at"),
            ],
            &[],
        )
        .await?;
        index(m, "ix_outbox_event_meeting", "outbox_event", &["meeting_id"], false).await?;
        index(m, "ix_outbox_event_referral", "outbox_event", &["referral_id"], false).await?;
        m.alter_table(Table::alter().table(a("notification")).add_column(int_null("event_id")).to_owned()).await?;
        index(m, "ux_notification_event_person", "notification", &["event_id", "person_id"], true).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ux_notification_event_person").table(a("notification")).to_owned()).await?;
        m.alter_table(Table::alter().table(a("notification")).drop_column(a("event_id")).to_owned()).await?;
        m.drop_table(Table::drop().table(a("outbox_event")).to_owned()).await
    }
}
