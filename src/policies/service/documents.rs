//! A policy's documents (studies, annexes, the council's report): uploaded by its
//! drafting team, read by whoever sees the policy. Contents go to the platform's store.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;

use super::{access, audit, draft_action, lock_policy};
use crate::audit::service::record;
use crate::auth::policy::pass;
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::platform::documents::{self, Upload};
use crate::policies::model::{policy, policy_document};
use crate::policies::rules::PolicyStatus;
use crate::AppState;

/// Attaches a document to the policy (its drafting team), unless it was abandoned.
pub async fn upload_document(
    state: &AppState,
    actor: &Actor,
    policy_id: i32,
    file: Upload,
) -> AppResult<Granted<policy_document::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let p = lock_policy(&txn, policy_id).await?;
    let allowed = pass(&txn, actor, draft_action(&p)).await?;
    if p.status == PolicyStatus::Abandoned {
        return Err(AppError::rule("INVALID_TRANSITION", "an abandoned policy takes no more documents"));
    }
    let file = documents::check_upload(file, state.config.limits.document_bytes).await?;
    let d = policy_document::ActiveModel {
        policy_id: Set(p.id),
        filename: Set(file.filename.clone()),
        media_type: Set(file.media_type.clone()),
        size_bytes: Set(file.size_bytes()),
        sha256: Set(file.sha256.clone()),
        uploaded_by_account_id: Set(actor.principal.as_ref().map(|x| x.account_id)),
        uploaded_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    documents::put(&txn, &file).await?;
    let summary = json!({ "policy": p.id, "filename": d.filename, "sha256": d.sha256, "size": d.size_bytes });
    record(&txn, actor, audit("UPLOAD_POLICY_DOCUMENT", "PolicyDocument", d.id, &p, summary)).await?;
    txn.commit().await?;
    Ok(allowed.grant(d))
}

/// The policy's documents, oldest first: seen by whoever sees the policy.
pub async fn documents_of<C: ConnectionTrait>(
    db: &C,
    p: &Granted<policy::Model>,
) -> AppResult<Vec<Granted<policy_document::Model>>> {
    let rows = policy_document::Entity::find()
        .filter(policy_document::Column::PolicyId.eq(p.id))
        .order_by_asc(policy_document::Column::Id)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|d| p.vouch(d)).collect())
}

/// One document, for whoever sees its policy (metadata only).
pub async fn document_for<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: i32,
) -> AppResult<Granted<policy_document::Model>> {
    let d = policy_document::Entity::find_by_id(id).one(db).await?.ok_or_else(|| AppError::not_found("document"))?;
    let p = access::view(db, actor, d.policy_id).await?;
    Ok(p.vouch(d))
}

/// A document's content for a reader allowed by [`document_for`], checked before any
/// content is read; streamed.
pub async fn download_document(db: &DatabaseConnection, actor: &Actor, id: i32) -> AppResult<documents::Download> {
    documents::authorized(db, async {
        let d = document_for(db, actor, id).await?;
        Ok(d.reshape(|d| documents::FileMeta {
            filename: d.filename,
            media_type: d.media_type,
            sha256: d.sha256,
            size_bytes: d.size_bytes,
        }))
    })
    .await
}
