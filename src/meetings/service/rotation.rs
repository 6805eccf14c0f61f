//! Rotation.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::error::AppResult;
use crate::meetings::model::{body, meeting};
use crate::meetings::queries::members;
use crate::meetings::rules::{suggest_host, MeetingStatus};
use crate::territory::model::commune;

/// The communes a working group's meetings may rotate among (its members' communes), each
/// commune's last hosting, and the suggested next host.
pub async fn rotation(
    db: &DatabaseConnection,
    b: &body::Model,
) -> AppResult<(Vec<(i32, String)>, HashMap<i32, DateTime<Utc>>, Option<i32>)> {
    let today = crate::time::today_paris();
    let members = members(db, b, today).await?;
    let mut ids: Vec<i32> = members.iter().filter_map(|m| m.commune_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let candidates: Vec<(i32, String)> = commune::Entity::find()
        .filter(commune::Column::Id.is_in(ids))
        .order_by_asc(commune::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let mut hosted: HashMap<i32, DateTime<Utc>> = HashMap::new();
    for m in meeting::Entity::find()
        .filter(meeting::Column::BodyId.eq(b.id))
        .filter(meeting::Column::HostCommuneId.is_not_null())
        .filter(meeting::Column::Status.is_not_in([MeetingStatus::Cancelled, MeetingStatus::Draft]))
        .all(db)
        .await?
    {
        if let Some(c) = m.host_commune_id {
            let e = hosted.entry(c).or_insert(m.starts_at);
            *e = (*e).max(m.starts_at);
        }
    }
    let suggestion = suggest_host(&candidates, &hosted);
    Ok((candidates, hosted, suggestion))
}
