//! Delivery by e-mail (issue 16): one `delivery` row per (outbox event, person, channel),
//! written in the transaction of the change with its event, then drained by the mailer:
//! QUEUED -> SENDING (claimed, with a lease) -> SENT (the SMTP server's answer, the
//! Message-ID and the time it accepted the message) or FAILED (a permanent refusal, or
//! temporary ones past the last attempt); a temporary failure puts it back to QUEUED with
//! its next attempt later. A digest row waits for its person's daily digest.
//!
//! A message that carries a secret link (an invitation, a password reset) keeps the
//! secret in `secret` only until it is sent or fails. `password_reset` holds the reset
//! tokens (hashed, valid an hour, used once).
//!
//! `server_key` holds the key read-receipt links are signed with; a meeting records when
//! the secretariat was alerted that convocations were not accepted in time.
//!
//! Also: the outbox names the policy an event is about (`policy_id`), so a policy lists
//! its deliveries; each person's choice per kind (immediate, daily digest, none) in
//! `notification_preference`; and a convocation names the delivery that carries it, so
//! its legal sending time is the time the SMTP server accepted it.
use sea_orm_migration::prelude::*;

use crate::m20261124_000003_meetings::{
    a, boolean, index, int, int_null, long_null, table, text, text_null, ts, ts_null,
};
use crate::m20261201_000013_policy_reminders_search::forget_kinds;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        table(
            m,
            "delivery",
            vec![
                int("event_id"),
                int("person_id"),
                text("channel"),
                text("address"),
                text("status"),
                boolean("digest"),
                int("attempts"),
                ts("next_attempt_at"),
                ts_null("leased_until"),
                long_null("answer"),
                text_null("message_id"),
                ts_null("accepted_at"),
                ts("created_at"),
                ts("updated_at"),
                text_null("secret"),
            ],
            &[("event_id", "outbox_event"), ("person_id", "person")],
        )
        .await?;
        table(
            m,
            "password_reset",
            vec![int("account_id"), text("token_hash"), ts("created_at"), ts("expires_at"), ts_null("used_at")],
            &[("account_id", "account")],
        )
        .await?;
        index(m, "ux_password_reset_token", "password_reset", &["token_hash"], true).await?;
        // Keys the server signs links with (the read receipt of a convocation), made at the
        // first start and shared by every instance.
        table(m, "server_key", vec![text("name"), text("value"), ts("created_at")], &[]).await?;
        index(m, "ux_server_key_name", "server_key", &["name"], true).await?;
        m.alter_table(Table::alter().table(a("meeting")).add_column(ts_null("convocations_alerted_at")).to_owned())
            .await?;
        index(m, "ux_delivery_event_person_channel", "delivery", &["event_id", "person_id", "channel"], true).await?;
        index(m, "ix_delivery_due", "delivery", &["status", "next_attempt_at"], false).await?;
        table(
            m,
            "notification_preference",
            vec![int("person_id"), text("kind"), text("mode"), ts("updated_at")],
            &[("person_id", "person")],
        )
        .await?;
        index(m, "ux_notification_preference", "notification_preference", &["person_id", "kind"], true).await?;
        m.alter_table(Table::alter().table(a("outbox_event")).add_column(int_null("policy_id")).to_owned()).await?;
        index(m, "ix_outbox_event_policy", "outbox_event", &["policy_id"], false).await?;
        for t in ["convocation", "superseded_convocation"] {
            m.alter_table(Table::alter().table(a(t)).add_column(int_null("delivery_id")).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["convocation", "superseded_convocation"] {
            m.alter_table(Table::alter().table(a(t)).drop_column(a("delivery_id")).to_owned()).await?;
        }
        m.drop_index(Index::drop().name("ix_outbox_event_policy").table(a("outbox_event")).to_owned()).await?;
        m.alter_table(Table::alter().table(a("outbox_event")).drop_column(a("policy_id")).to_owned()).await?;
        m.drop_table(Table::drop().table(a("notification_preference")).to_owned()).await?;
        m.alter_table(Table::alter().table(a("meeting")).drop_column(a("convocations_alerted_at")).to_owned()).await?;
        m.drop_table(Table::drop().table(a("server_key")).to_owned()).await?;
        m.drop_table(Table::drop().table(a("password_reset")).to_owned()).await?;
        m.drop_table(Table::drop().table(a("delivery")).to_owned()).await?;
        // The code before this step does not know convocations as notifications.
        forget_kinds(
            m.get_connection(),
            &["MEETING_CONVENED", "ACCOUNT_INVITED", "PASSWORD_RESET", "REFERRAL_CLOSED", "CONVOCATIONS_NOT_SENT"],
        )
        .await
    }
}
