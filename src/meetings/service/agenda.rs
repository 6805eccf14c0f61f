//! Agenda and documents.
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use serde_json::json;

use super::access::{authorize_convener, meeting_document, visible};
use super::lifecycle::notify_convened;
use super::{audit, meeting_of};
use crate::audit::service::record;
use crate::auth::policy::{authorize_pass, Action};
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::meetings::model::{agenda_item, document, meeting};
use crate::meetings::rules::{AgendaItemKind, MeetingStatus};
use crate::platform::documents::{self, Upload};
use crate::platform::notify::Event;
use crate::platform::text::{optional, required};
use crate::AppState;

pub struct NewItem {
    pub kind: AgendaItemKind,
    pub title: String,
    pub presenter_id: Option<i32>,
    pub note: Option<String>,
    pub minutes_of_meeting_id: Option<i32>,
}

pub async fn add_agenda_item(
    state: &AppState,
    actor: &Actor,
    meeting_id: i32,
    input: NewItem,
) -> AppResult<Granted<agenda_item::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let (m, b) = meeting_of(&txn, meeting_id).await?;
    let allowed = authorize_convener(&txn, actor, &b).await?;
    if !matches!(m.status, MeetingStatus::Draft | MeetingStatus::Postponed) {
        return Err(AppError::rule(
            "INVALID_TRANSITION",
            "the agenda is fixed once the meeting is convened (add the item to a later meeting)",
        ));
    }
    let title = required("title", &input.title, 500)?;
    let note = optional("note", input.note.as_deref(), 100_000)?;
    if let Some(p) = input.presenter_id {
        crate::people::model::person::Entity::find_by_id(p)
            .one(&txn)
            .await?
            .ok_or_else(|| AppError::not_found("presenter"))?;
    }
    match (input.kind, input.minutes_of_meeting_id) {
        (AgendaItemKind::MinutesApproval, Some(of)) => {
            let (earlier, eb) = meeting_of(&txn, of).await?;
            if eb.id != b.id || earlier.starts_at >= m.starts_at {
                return Err(AppError::validation("minutesOfMeetingId", "must be an earlier meeting of the same body"));
            }
        }
        (AgendaItemKind::MinutesApproval, None) => {
            return Err(AppError::validation("minutesOfMeetingId", "say which meeting's minutes are approved"))
        }
        (_, Some(_)) => return Err(AppError::validation("minutesOfMeetingId", "only for a MINUTES_APPROVAL item")),
        _ => {}
    }
    // Serialise appends to the agenda on the meeting row; a convocation may have gone out since.
    if lock_meeting(&txn, &m).await?.status != m.status {
        return Err(AppError::Conflict("the meeting changed meanwhile (convened?); reload and retry".into()));
    }
    let position =
        agenda_item::Entity::find().filter(agenda_item::Column::MeetingId.eq(meeting_id)).count(&txn).await? as i32 + 1;
    let item = item_row(meeting_id, position, input.kind, title, input.presenter_id, note, input.minutes_of_meeting_id)
        .insert(&txn)
        .await?;
    record(
        &txn,
        actor,
        audit(
            "ADD_AGENDA_ITEM",
            "AgendaItem",
            item.id,
            &b,
            json!({ "meeting": meeting_id, "position": position, "kind": item.kind, "title": item.title }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(allowed.grant(item))
}

/// A new agenda item, not voted yet.
pub(super) fn item_row(
    meeting_id: i32,
    position: i32,
    kind: AgendaItemKind,
    title: String,
    presenter: Option<i32>,
    note: Option<String>,
    minutes_of: Option<i32>,
) -> agenda_item::ActiveModel {
    agenda_item::ActiveModel {
        meeting_id: Set(meeting_id),
        position: Set(position),
        kind: Set(kind),
        title: Set(title),
        presenter_person_id: Set(presenter),
        note: Set(note),
        minutes_of_meeting_id: Set(minutes_of),
        votes_for: Set(None),
        votes_against: Set(None),
        votes_abstain: Set(None),
        secret_ballot: Set(false),
        weighted: Set(false),
        weight_for: Set(None),
        weight_against: Set(None),
        weight_abstain: Set(None),
        result: Set(None),
        casting_vote_used: Set(false),
        opinion_text: Set(None),
        decided_at: Set(None),
        created_at: Set(Utc::now()),
        version: Set(1),
        ..Default::default()
    }
}

/// Takes the meeting's row lock (a no-op update), so concurrent writers to one meeting
/// queue up on both databases, and returns the meeting as it is now: checks made before
/// the transaction are made again on it.
pub(super) async fn lock_meeting<C: ConnectionTrait>(conn: &C, m: &meeting::Model) -> AppResult<meeting::Model> {
    meeting::Entity::update_many()
        .col_expr(meeting::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(meeting::Column::Id.eq(m.id))
        .exec(conn)
        .await?;
    meeting::Entity::find_by_id(m.id).one(conn).await?.ok_or_else(|| AppError::not_found("meeting"))
}

/// Stores a document with its SHA-256; after convening, members are told (timestamped).
pub async fn upload_document(
    state: &AppState,
    actor: &Actor,
    meeting_id: i32,
    item_id: Option<i32>,
    file: Upload,
) -> AppResult<Granted<document::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let (m, b) = meeting_of(&txn, meeting_id).await?;
    let (p, allowed) =
        authorize_pass(&txn, actor, Action::ManageMeetings { intercommunality: b.intercommunality_id }).await?;
    let status = m.status;
    if matches!(status, MeetingStatus::Cancelled | MeetingStatus::Closed) {
        return Err(AppError::rule(
            "INVALID_TRANSITION",
            format!("a {} meeting takes no more documents", status.as_str()),
        ));
    }
    if let Some(i) = item_id {
        let item =
            agenda_item::Entity::find_by_id(i).one(&txn).await?.ok_or_else(|| AppError::not_found("agenda item"))?;
        if item.meeting_id != meeting_id {
            return Err(AppError::validation("agendaItemId", "this item belongs to another meeting"));
        }
    }
    let file = documents::check_upload(file, state.config.limits.document_bytes).await?;
    // Read the status under the meeting's lock: a convocation sent meanwhile makes this a
    // document added after convening, which members are told of.
    let status = lock_meeting(&txn, &m).await?.status;
    if matches!(status, MeetingStatus::Cancelled | MeetingStatus::Closed) {
        return Err(AppError::rule(
            "INVALID_TRANSITION",
            format!("a {} meeting takes no more documents", status.as_str()),
        ));
    }
    let after = status != MeetingStatus::Draft;
    let d = document::ActiveModel {
        meeting_id: Set(meeting_id),
        agenda_item_id: Set(item_id),
        size_bytes: Set(file.size_bytes()),
        filename: Set(file.filename.clone()),
        media_type: Set(file.media_type.clone()),
        sha256: Set(file.sha256.clone()),
        uploaded_by_account_id: Set(p.map(|p| p.account_id)),
        uploaded_at: Set(Utc::now()),
        after_convocation: Set(after),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    documents::put(&txn, &file).await?;
    if after {
        let event =
            Event::DocumentAdded { meeting: meeting_id, item: item_id, document: d.id, filename: d.filename.clone() };
        notify_convened(&txn, actor, meeting_id, event).await?;
    }
    record(
        &txn,
        actor,
        audit("UPLOAD_DOCUMENT", "Document", d.id, &b, json!({ "meeting": meeting_id, "filename": d.filename, "sha256": d.sha256, "size": d.size_bytes, "afterConvocation": after })),
    )
    .await?;
    txn.commit().await?;
    Ok(allowed.grant(d))
}

/// A meeting document for a reader who sees its meeting: the metadata row (which holds
/// no content) and the reader's right are read first; the content only then, streamed.
pub async fn download_document(db: &DatabaseConnection, actor: &Actor, id: i32) -> AppResult<documents::Download> {
    documents::authorized(db, async {
        let d = document::Entity::find_by_id(id).one(db).await?.ok_or_else(|| AppError::not_found("document"))?;
        let m = visible(db, actor, d.meeting_id).await?;
        Ok(meeting_document(
            &m,
            documents::FileMeta {
                filename: d.filename,
                media_type: d.media_type,
                sha256: d.sha256,
                size_bytes: d.size_bytes,
            },
        ))
    })
    .await
}
