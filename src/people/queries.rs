//! Read-only facts about persons and their mandates that other modules and the policy
//! use. Never imports the policy (it reads these through `auth::facts`).
use std::collections::HashSet;

use chrono::NaiveDate;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::model::{mandate, person};
use super::rules::{Period, Role};
use crate::auth::model::account;
use crate::error::AppResult;

/// Whether the mandate runs on `day`.
pub fn runs_on(m: &mandate::Model, day: NaiveDate) -> bool {
    Period { start: m.start_date, end: m.end_date }.contains(day)
}

/// The person's mandates that run today (Europe/Paris).
pub async fn current_mandates<C: ConnectionTrait>(db: &C, person_id: i32) -> AppResult<Vec<mandate::Model>> {
    let today = crate::time::today_paris();
    let all = mandate::Entity::find().filter(mandate::Column::PersonId.eq(person_id)).all(db).await?;
    Ok(all.into_iter().filter(|m| runs_on(m, today)).collect())
}

/// The person and their mandates running today (None: no such person).
pub async fn current_holdings<C: ConnectionTrait>(
    db: &C,
    person_id: i32,
) -> AppResult<Option<(person::Model, Vec<mandate::Model>)>> {
    let Some(person) = person::Entity::find_by_id(person_id).one(db).await? else { return Ok(None) };
    Ok(Some((person, current_mandates(db, person_id).await?)))
}

/// Whether the person has an account.
pub async fn has_account<C: ConnectionTrait>(db: &C, person_id: i32) -> AppResult<bool> {
    Ok(account::Entity::find().filter(account::Column::PersonId.eq(person_id)).count(db).await? > 0)
}

/// The persons who speak for `communes` today: their mayors and DGS (who are told of
/// referrals and policies). Reads the mandates of these communes only, 2,000 communes
/// per statement.
pub async fn officers_of<C: ConnectionTrait>(db: &C, communes: &HashSet<i32>) -> AppResult<Vec<i32>> {
    let today = crate::time::today_paris();
    let ids: Vec<i32> = communes.iter().copied().collect();
    let mut people = Vec::new();
    for chunk in ids.chunks(2_000) {
        let rows = mandate::Entity::find()
            .filter(mandate::Column::Role.is_in([Role::Mayor, Role::Dgs]))
            .filter(mandate::Column::CommuneId.is_in(chunk.iter().copied()))
            .filter(mandate::Column::StartDate.lte(today))
            .filter(Condition::any().add(mandate::Column::EndDate.is_null()).add(mandate::Column::EndDate.gt(today)))
            .all(db)
            .await?;
        people.extend(rows.into_iter().map(|m| m.person_id));
    }
    people.sort_unstable();
    people.dedup();
    Ok(people)
}
