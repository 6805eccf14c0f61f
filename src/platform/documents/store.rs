//! Where contents live: apart from every document's metadata, in chunks of
//! [`CHUNK_BYTES`] keyed by the content's SHA-256 (migration 000009). A metadata row
//! (`document`, `referral_document`, and those of the domains to come) names its content
//! by that hash; the same content uploaded twice is stored once.
//!
//! A content is read only through [`authorized`], which awaits the reader's check first,
//! and then chunk by chunk, each chunk its own short statement: a download holds about
//! one chunk in memory and no database connection while the client reads. (One long
//! statement streaming every chunk would hold a pooled connection for as long as the
//! slowest client takes.)
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, QuerySelect, Set};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::upload::CheckedUpload;
use crate::auth::Granted;
use crate::error::{AppError, AppResult};

/// 256 KiB: a 10 MiB document is 40 chunks.
pub const CHUNK_BYTES: usize = 256 * 1024;

pub mod document_chunk {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "document_chunk")]
    pub struct Model {
        /// The SHA-256 of the whole content, hex.
        #[sea_orm(primary_key, auto_increment = false)]
        pub sha256: String,
        /// 0, 1, ...: the chunk's place in the content.
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i32,
        #[sea_orm(column_type = "Blob")]
        pub data: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Stores an upload's content on the caller's transaction, unless it is stored already:
/// read off its file a chunk at a time (one chunk in memory), one statement per chunk.
pub async fn put<C: ConnectionTrait>(conn: &C, file: &CheckedUpload) -> AppResult<()> {
    use document_chunk::{ActiveModel, Column, Entity};
    let sha256 = &file.sha256;
    let stored = Entity::find_by_id((sha256.to_string(), 0))
        .select_only()
        .column(Column::Seq)
        .into_tuple::<i32>()
        .one(conn)
        .await?
        .is_some();
    if stored {
        return Ok(());
    }
    let mut content = tokio::fs::File::from_std(file.content.try_clone().map_err(AppError::internal)?);
    content.seek(std::io::SeekFrom::Start(0)).await.map_err(AppError::internal)?;
    let mut written = 0u64;
    for seq in 0.. {
        let mut data = Vec::with_capacity(CHUNK_BYTES);
        (&mut content).take(CHUNK_BYTES as u64).read_to_end(&mut data).await.map_err(AppError::internal)?;
        if data.is_empty() {
            break;
        }
        written += data.len() as u64;
        // An upload of the same content committed meanwhile wrote the same chunks.
        Entity::insert(ActiveModel { sha256: Set(sha256.to_string()), seq: Set(seq), data: Set(data) })
            .on_conflict_do_nothing()
            .exec_without_returning(conn)
            .await?;
    }
    // The file checked is the file stored: a size that changed in between is an error.
    if written != file.size {
        return Err(AppError::internal(format!("upload changed size: {} then {written} bytes", file.size)));
    }
    Ok(())
}

/// What a reader is told of a stored file before its content.
#[derive(Clone, Debug)]
pub struct FileMeta {
    pub filename: String,
    pub media_type: String,
    pub sha256: String,
    pub size_bytes: i64,
}

/// A content on its way to a reader who passed the check: its metadata, and its bytes
/// read chunk by chunk as the body is polled.
pub struct Download {
    pub meta: FileMeta,
    pub body: Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>,
}

/// The content of a file for a reader, once `allowed` (the domain's read of the file's
/// metadata and of the reader's right to it, which never touches a content) has answered
/// with the file, granted by that check: no statement reads the content before.
pub async fn authorized(
    db: &DatabaseConnection,
    allowed: impl std::future::Future<Output = AppResult<Granted<FileMeta>>>,
) -> AppResult<Download> {
    let meta = allowed.await?.into_inner();
    let size = u64::try_from(meta.size_bytes).unwrap_or(0);
    // The first chunk before the answer's head: a content that cannot be read is an
    // INTERNAL answer, not a download cut short.
    let first = if size > 0 {
        chunk(db, &meta.sha256, 0).await.map_err(|why| {
            tracing::error!(sha256 = %meta.sha256, error = ?why, "reading a document's first chunk failed");
            crate::error::AppError::internal("a document's content could not be read")
        })?
    } else {
        Vec::new()
    };
    let sent = first.len() as u64;
    let head = futures_util::stream::iter((!first.is_empty()).then(|| Ok(Bytes::from(first))));
    let rest = chunks(db.clone(), meta.sha256.clone(), 1, sent, size);
    Ok(Download { meta, body: Box::pin(futures_util::StreamExt::chain(head, rest)) })
}

/// One chunk of a content, non-empty.
/// Its error is only logged, by the callers.
async fn chunk(db: &DatabaseConnection, sha256: &str, seq: i32) -> crate::error::AppResult<Vec<u8>> {
    document_chunk::Entity::find_by_id((sha256.to_string(), seq))
        .select_only()
        .column(document_chunk::Column::Data)
        .into_tuple::<Vec<u8>>()
        .one(db)
        .await?
        .filter(|d| !d.is_empty())
        .ok_or_else(|| crate::error::AppError::internal("missing chunk"))
}

/// The chunks of a content from `seq` on (`sent` bytes already sent), each read when the
/// previous one has been taken.
fn chunks(
    db: DatabaseConnection,
    sha256: String,
    seq: i32,
    sent: u64,
    size: u64,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures_util::stream::try_unfold((seq, sent), move |(seq, sent)| {
        let (db, sha256) = (db.clone(), sha256.clone());
        async move {
            if sent >= size {
                return Ok(None);
            }
            let data = chunk(&db, &sha256, seq).await.map_err(|why| lost(&sha256, seq, &why))?;
            let sent = sent + data.len() as u64;
            Ok(Some((Bytes::from(data), (seq + 1, sent))))
        }
    })
}

/// A chunk that cannot be read: logged here, the client sees its download cut short.
fn lost(sha256: &str, seq: i32, why: &crate::error::AppError) -> std::io::Error {
    tracing::error!(sha256, seq, error = ?why, "reading a document's content failed");
    std::io::Error::other("the document's content could not be read")
}
