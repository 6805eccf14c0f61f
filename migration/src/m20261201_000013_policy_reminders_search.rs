//! Policies, continued (issue 15): a policy's documents (their contents in
//! `document_chunk`, like every document), the concertation reminders sent (one row per policy,
//! cycle, closing time and offset, so a reminder goes once even when two processes run
//! the job), and the full-text search index over policies, sections and contributions.
//!
//! `search_entry` holds one row per searchable text with what permissions need (its
//! policy, whether only the drafting team reads it, its author and commune) and `terms`,
//! the text folded in Rust (lower case, accents removed, words separated by one space),
//! so both databases tokenize the same words: SQLite indexes `terms` with an FTS5
//! external-content table kept by triggers, PostgreSQL with a generated `tsvector`
//! ('simple' configuration: no stemming, like FTS5) under a GIN index.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::m20261124_000003_meetings::{a, boolean, index, int, int_null, table, text, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn long(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).text().not_null().take()
}

const SQLITE_FTS: [&str; 4] = [
    "CREATE VIRTUAL TABLE search_fts USING fts5(terms, content='search_entry', content_rowid='id', \
     tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER search_entry_ai AFTER INSERT ON search_entry BEGIN \
     INSERT INTO search_fts(rowid, terms) VALUES (new.id, new.terms); END",
    "CREATE TRIGGER search_entry_ad AFTER DELETE ON search_entry BEGIN \
     INSERT INTO search_fts(search_fts, rowid, terms) VALUES ('delete', old.id, old.terms); END",
    "CREATE TRIGGER search_entry_au AFTER UPDATE ON search_entry BEGIN \
     INSERT INTO search_fts(search_fts, rowid, terms) VALUES ('delete', old.id, old.terms); \
     INSERT INTO search_fts(rowid, terms) VALUES (new.id, new.terms); END",
];

/// Deletes the notifications (and their outbox events) of `kinds`: on the way down, the
/// code before a step cannot read the kinds that came with it.
pub(crate) async fn forget_kinds<C: ConnectionTrait>(conn: &C, kinds: &[&str]) -> Result<(), DbErr> {
    let list = kinds.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ");
    conn.execute_unprepared(&format!("DELETE FROM notification WHERE kind IN ({list})")).await?;
    conn.execute_unprepared(&format!("DELETE FROM outbox_event WHERE kind IN ({list})")).await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        table(
            m,
            "policy_reminder",
            vec![int("policy_id"), int("cycle"), ts("closes_at"), int("offset_days"), ts("sent_at"), int("recipients")],
            &[("policy_id", "policy")],
        )
        .await?;
        index(m, "ux_policy_reminder", "policy_reminder", &["policy_id", "cycle", "closes_at", "offset_days"], true)
            .await?;
        table(
            m,
            "policy_document",
            vec![
                int("policy_id"),
                text("filename"),
                text("media_type"),
                ColumnDef::new(a("size_bytes")).big_integer().not_null().take(),
                ColumnDef::new(a("sha256")).string_len(64).not_null().take(),
                int_null("uploaded_by_account_id"),
                ts("uploaded_at"),
            ],
            &[("policy_id", "policy")],
        )
        .await?;
        index(m, "ix_policy_document", "policy_document", &["policy_id"], false).await?;
        table(
            m,
            "search_entry",
            vec![
                text("kind"),
                int("target_id"),
                int("policy_id"),
                int("intercommunality_id"),
                boolean("restricted"),
                int_null("author_person_id"),
                int_null("commune_id"),
                text("title"),
                long("body"),
                long("terms"),
            ],
            &[("policy_id", "policy")],
        )
        .await?;
        index(m, "ux_search_entry_target", "search_entry", &["kind", "target_id"], true).await?;
        index(m, "ix_search_entry_policy", "search_entry", &["policy_id"], false).await?;
        let conn = m.get_connection();
        match m.get_database_backend() {
            DatabaseBackend::Postgres => {
                conn.execute_unprepared(
                    "ALTER TABLE search_entry ADD COLUMN tsv tsvector \
                     GENERATED ALWAYS AS (to_tsvector('simple', terms)) STORED",
                )
                .await?;
                conn.execute_unprepared("CREATE INDEX ix_search_entry_tsv ON search_entry USING GIN (tsv)").await?;
            }
            _ => {
                for sql in SQLITE_FTS {
                    conn.execute_unprepared(sql).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        forget_kinds(m.get_connection(), &["CONCERTATION_REMINDER", "POLICY_STEP_REACHED"]).await?;
        if m.get_database_backend() != DatabaseBackend::Postgres {
            let conn = m.get_connection();
            for t in ["search_entry_ai", "search_entry_ad", "search_entry_au"] {
                conn.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {t}")).await?;
            }
            conn.execute_unprepared("DROP TABLE IF EXISTS search_fts").await?;
        }
        for t in ["search_entry", "policy_document", "policy_reminder"] {
            m.drop_table(Table::drop().table(a(t)).to_owned()).await?;
        }
        Ok(())
    }
}
