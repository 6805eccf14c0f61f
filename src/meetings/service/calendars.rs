//! Calendar feeds.
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use crate::audit::service::{record, Entry};
use crate::auth::Actor;
use crate::error::AppResult;
use crate::meetings::model::calendar_feed;
use crate::AppState;

/// Creates (or replaces) the actor's secret calendar feed; returns the token, shown once.
pub async fn create_calendar_feed(state: &AppState, actor: &Actor) -> AppResult<String> {
    let p = actor.require()?;
    let token = crate::auth::rules::new_secret();
    let hash = crate::auth::rules::secret_hash(&token);
    let txn = crate::db::write(&state.db).await?;
    calendar_feed::Entity::delete_many().filter(calendar_feed::Column::PersonId.eq(p.person_id)).exec(&txn).await?;
    calendar_feed::ActiveModel {
        person_id: Set(p.person_id),
        token_hash: Set(hash),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    record(
        &txn,
        actor,
        Entry {
            action: "CREATE_CALENDAR_FEED",
            target_type: "Person",
            target_id: Some(p.person_id),
            scope: p.secretariat_of,
            summary: json!({}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(token)
}
