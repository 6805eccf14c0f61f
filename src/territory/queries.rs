//! Read-only facts about territories that other modules and the policy use. Never
//! imports the policy (it reads these through `auth::facts`).
use std::collections::HashSet;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::model::commune_membership;
use super::rules::membership_runs;
use crate::error::AppResult;

/// Intercommunalities the commune belongs to today.
pub async fn current_intercommunalities_of<C: ConnectionTrait>(db: &C, commune: i32) -> AppResult<Vec<i32>> {
    let today = crate::time::today_paris();
    let rows =
        commune_membership::Entity::find().filter(commune_membership::Column::CommuneId.eq(commune)).all(db).await?;
    Ok(rows
        .into_iter()
        .filter(|m| membership_runs(m.start_date, m.end_date, today))
        .map(|m| m.intercommunality_id)
        .collect())
}

/// Communes that belong to intercommunality `e` today.
pub async fn member_communes<C: ConnectionTrait>(db: &C, e: i32) -> AppResult<HashSet<i32>> {
    Ok(member_communes_on(db, e, crate::time::today_paris()).await?.into_iter().collect())
}

/// Communes that belong to intercommunality `e` on `day`, by id.
pub async fn member_communes_on<C: ConnectionTrait>(db: &C, e: i32, day: chrono::NaiveDate) -> AppResult<Vec<i32>> {
    let mut ids: Vec<i32> = commune_membership::Entity::find()
        .filter(commune_membership::Column::IntercommunalityId.eq(e))
        .all(db)
        .await?
        .into_iter()
        .filter(|m| membership_runs(m.start_date, m.end_date, day))
        .map(|m| m.commune_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}
