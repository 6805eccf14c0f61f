//! Documents' contents apart from their metadata: `document_chunk` holds each content in
//! chunks of 256 KiB keyed by its SHA-256 (stored once however many documents name it),
//! and the `content` columns of `document` and `referral_document` go, their bytes moved
//! into chunks first, one document at a time (a document is at most the upload limit).
//!
//! Why chunks in a table of their own rather than reading the old column piece by piece
//! with substr(): no query on a metadata table can load a content by mistake any more
//! (the column is gone), a download reads one chunk per short statement on both
//! databases alike (SQLite's substr() over a blob reads the whole blob each time; a
//! PostgreSQL bytea is de-toasted whole unless stored EXTERNAL), and the content becomes
//! a platform part that the domains to come share.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

use crate::m20261124_000003_meetings::a;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Kept in step with `platform::documents::CHUNK_BYTES`.
const CHUNK_BYTES: usize = 256 * 1024;
const TABLES: [&str; 2] = ["document", "referral_document"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("document_chunk"))
                .col(ColumnDef::new(a("sha256")).string_len(64).not_null())
                .col(ColumnDef::new(a("seq")).integer().not_null())
                .col(ColumnDef::new(a("data")).blob().not_null())
                .primary_key(Index::create().col(a("sha256")).col(a("seq")))
                .to_owned(),
        )
        .await?;
        let conn = m.get_connection();
        for table in TABLES {
            let ids = conn.query_all(&Query::select().column(a("id")).from(a(table)).to_owned()).await?;
            for row in ids {
                let id: i32 = row.try_get("", "id")?;
                let Some(doc) = conn
                    .query_one(
                        &Query::select()
                            .columns([a("sha256"), a("content")])
                            .from(a(table))
                            .and_where(Expr::col(a("id")).eq(id))
                            .to_owned(),
                    )
                    .await?
                else {
                    continue;
                };
                let sha256: String = doc.try_get("", "sha256")?;
                let content: Vec<u8> = doc.try_get("", "content")?;
                put(conn, &sha256, &content).await?;
            }
        }
        for table in TABLES {
            m.alter_table(Table::alter().table(a(table)).drop_column(a("content")).to_owned()).await?;
        }
        Ok(())
    }

    /// Puts each content back in its row (nullable now: a column added to a filled
    /// table), then drops the chunks.
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        for table in TABLES {
            m.alter_table(
                Table::alter().table(a(table)).add_column(ColumnDef::new(a("content")).blob().null()).to_owned(),
            )
            .await?;
            let rows =
                conn.query_all(&Query::select().columns([a("id"), a("sha256")]).from(a(table)).to_owned()).await?;
            for row in rows {
                let id: i32 = row.try_get("", "id")?;
                let sha256: String = row.try_get("", "sha256")?;
                let chunks = conn
                    .query_all(
                        &Query::select()
                            .column(a("data"))
                            .from(a("document_chunk"))
                            .and_where(Expr::col(a("sha256")).eq(sha256))
                            .order_by(a("seq"), Order::Asc)
                            .to_owned(),
                    )
                    .await?;
                let mut content = Vec::new();
                for c in chunks {
                    content.extend(c.try_get::<Vec<u8>>("", "data")?);
                }
                conn.execute(
                    &Query::update()
                        .table(a(table))
                        .value(a("content"), content)
                        .and_where(Expr::col(a("id")).eq(id))
                        .to_owned(),
                )
                .await?;
            }
        }
        m.drop_table(Table::drop().table(a("document_chunk")).to_owned()).await
    }
}

/// Writes a content's chunks unless its first chunk is there already.
async fn put<C: ConnectionTrait>(conn: &C, sha256: &str, content: &[u8]) -> Result<(), DbErr> {
    let first = Query::select()
        .column(a("seq"))
        .from(a("document_chunk"))
        .and_where(Expr::col(a("sha256")).eq(sha256))
        .and_where(Expr::col(a("seq")).eq(0))
        .to_owned();
    if conn.query_one(&first).await?.is_some() {
        return Ok(());
    }
    for (seq, data) in content.chunks(CHUNK_BYTES).enumerate() {
        conn.execute(
            &Query::insert()
                .into_table(a("document_chunk"))
                .columns([a("sha256"), a("seq"), a("data")])
                .values_panic([sha256.into(), (seq as i32).into(), data.to_vec().into()])
                .to_owned(),
        )
        .await?;
    }
    Ok(())
}
