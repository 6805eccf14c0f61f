//! Lists and JSON documents become JSON columns, read and written by the entities as
//! typed values (`referrals::model::Days`, `CommuneIds`; `serde_json::Value` for a form's
//! fields, a response's answers and an audit summary):
//!
//! | column                         | before                         | after        |
//! |--------------------------------|--------------------------------|--------------|
//! | referral.reminder_days         | comma list "15,7,1"            | [15,7,1]     |
//! | referral.chosen_communes       | JSON array text                | JSON array   |
//! | referral_addressee.answers     | JSON object text               | JSON object  |
//! | response_revision.answers      | JSON object text               | JSON object  |
//! | referral_form.fields           | JSON array text                | JSON array   |
//! | audit_entry.summary            | JSON text                      | JSON         |
//!
//! On PostgreSQL the columns become `jsonb`, the comma lists turned into JSON arrays by
//! the conversion itself. SQLite has no JSON type (its JSON functions read text), so
//! the columns stay text and only the values that are not JSON yet are rewritten: the
//! comma lists. Statuses, kinds and roles need no step: the entities read and write the
//! same strings as before, as enums (`str_enum!`).
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, column, type before) of the columns that held JSON text already.
const JSON_TEXT: [(&str, &str, &str); 6] = [
    ("referral", "chosen_communes", "text"),
    ("referral_addressee", "answers", "text"),
    ("response_revision", "answers", "text"),
    ("referral_form", "fields", "text"),
    ("audit_entry", "summary", "text"),
    ("outbox_event", "payload", "text"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        match m.get_database_backend() {
            DatabaseBackend::Postgres => {
                // A comma list ("15,7,1", or "" for none) becomes the array [15,7,1].
                conn.execute_unprepared(
                    "ALTER TABLE referral ALTER COLUMN reminder_days TYPE jsonb USING \
                     (CASE WHEN btrim(reminder_days) LIKE '[%' THEN reminder_days \
                     ELSE '[' || reminder_days || ']' END)::jsonb",
                )
                .await?;
                for (table, column, _) in JSON_TEXT {
                    conn.execute_unprepared(&format!(
                        "ALTER TABLE {table} ALTER COLUMN {column} TYPE jsonb USING {column}::jsonb"
                    ))
                    .await?;
                }
            }
            _ => {
                conn.execute_unprepared(
                    "UPDATE referral SET reminder_days = '[' || reminder_days || ']' \
                     WHERE ltrim(reminder_days) NOT LIKE '[%'",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        match m.get_database_backend() {
            DatabaseBackend::Postgres => {
                conn.execute_unprepared(
                    "ALTER TABLE referral ALTER COLUMN reminder_days TYPE varchar USING \
                     btrim(replace(reminder_days::text, ' ', ''), '[]')",
                )
                .await?;
                for (table, column, before) in JSON_TEXT {
                    conn.execute_unprepared(&format!(
                        "ALTER TABLE {table} ALTER COLUMN {column} TYPE {before} USING {column}::text"
                    ))
                    .await?;
                }
            }
            _ => {
                conn.execute_unprepared(
                    "UPDATE referral SET reminder_days = replace(trim(reminder_days, '[]'), ' ', '') \
                     WHERE reminder_days LIKE '[%'",
                )
                .await?;
            }
        }
        Ok(())
    }
}
