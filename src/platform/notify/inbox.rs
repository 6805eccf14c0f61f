//! A person's inbox: their notifications, their read state, the unread count, and
//! marking them read. Only their own person reads or marks them.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use super::model::notification;
use crate::audit::service::{record, Entry};
use crate::auth::Actor;
use crate::error::{AppError, AppResult};
use crate::AppState;

/// Most notifications marked by their ids in one call.
pub const MAX_IDS: usize = 500;

/// Which notifications to mark read.
pub enum Mark {
    /// These, all the reader's own.
    Ids(Vec<i32>),
    /// All the reader's notifications created up to this time (inclusive).
    UpTo(DateTime<Utc>),
}

/// All the person's notifications (the caller pages them).
pub async fn of_person<C: ConnectionTrait>(db: &C, person: i32) -> AppResult<Vec<notification::Model>> {
    Ok(notification::Entity::find().filter(notification::Column::PersonId.eq(person)).all(db).await?)
}

/// The person's notifications not read yet.
pub async fn unread_count<C: ConnectionTrait>(db: &C, person: i32) -> AppResult<u64> {
    Ok(notification::Entity::find()
        .filter(notification::Column::PersonId.eq(person))
        .filter(notification::Column::ReadAt.is_null())
        .count(db)
        .await?)
}

/// One of the person's notifications (None: not theirs, or none).
pub async fn own<C: ConnectionTrait>(db: &C, actor: &Actor, id: i32) -> AppResult<Option<notification::Model>> {
    let p = actor.require()?;
    Ok(notification::Entity::find_by_id(id).one(db).await?.filter(|n| n.person_id == p.person_id))
}

/// Marks the reader's notifications read (those already read keep their time); returns
/// how many were marked. An id that is not one of the reader's refuses the whole call
/// (NOT_FOUND: another person's notifications are not told apart from missing ones).
pub async fn mark_read(state: &AppState, actor: &Actor, mark: Mark) -> AppResult<u64> {
    let p = actor.require()?;
    let person = p.person_id;
    let txn = crate::db::write(&state.db).await?;
    let mut update = notification::Entity::update_many()
        .col_expr(notification::Column::ReadAt, Expr::value(Some(Utc::now())))
        .filter(notification::Column::PersonId.eq(person))
        .filter(notification::Column::ReadAt.is_null());
    let summary = match &mark {
        Mark::Ids(ids) => {
            if ids.is_empty() {
                return Err(AppError::validation("ids", "give at least one notification, or upTo"));
            }
            if ids.len() > MAX_IDS {
                return Err(AppError::validation("ids", format!("at most {MAX_IDS} notifications at once")));
            }
            let mut distinct = ids.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let mine = notification::Entity::find()
                .filter(notification::Column::PersonId.eq(person))
                .filter(notification::Column::Id.is_in(distinct.iter().copied()))
                .count(&txn)
                .await?;
            if mine != distinct.len() as u64 {
                return Err(AppError::not_found("notification"));
            }
            update = update.filter(notification::Column::Id.is_in(distinct.iter().copied()));
            json!({ "ids": distinct })
        }
        Mark::UpTo(t) => {
            update = update.filter(notification::Column::CreatedAt.lte(*t));
            json!({ "upTo": t })
        }
    };
    let marked = update.exec(&txn).await?.rows_affected;
    let mut summary = summary;
    summary["marked"] = json!(marked);
    record(
        &txn,
        actor,
        Entry {
            action: "MARK_NOTIFICATIONS_READ",
            target_type: "Person",
            target_id: Some(person),
            scope: None,
            summary,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(marked)
}

/// The person's notification of one outbox event, if they were told.
pub async fn of_event<C: ConnectionTrait>(db: &C, event: i32, person: i32) -> AppResult<Option<notification::Model>> {
    Ok(notification::Entity::find()
        .filter(notification::Column::EventId.eq(event))
        .filter(notification::Column::PersonId.eq(person))
        .one(db)
        .await?)
}
