//! The concertation reminders: run with the referral deadline job (`crate::jobs`).
use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set,
};
use serde_json::json;

use super::{audit, lock_policy, tell_communes_but};
use crate::audit::service::record;
use crate::auth::Actor;
use crate::error::{AppError, AppResult};
use crate::platform::notify::Event;
use crate::policies::model::{policy, policy_contribution, policy_reminder, policy_version};
use crate::policies::rules::{reminders_due, PolicyStatus};
use crate::time::paris_day;

/// Sends the concertation reminders due at `now`: for each policy in concertation whose
/// closing time is still ahead, the latest reminder due (7 days, then 1 day before the
/// closing day, Paris time) to the mayors and DGS of the member communes that have not
/// contributed in this cycle. Idempotent: a reminder is a unique row, so a second run, or
/// a run in another process, sends nothing more. Returns the people told.
pub async fn run_jobs(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<usize> {
    let actor = Actor::system("concertation");
    let open = policy::Entity::find()
        .filter(policy::Column::Status.eq(PolicyStatus::Concertation))
        .filter(policy::Column::ConcertationClosesAt.gt(now))
        .all(db)
        .await?;
    let mut told = 0;
    for p in open {
        match remind(db, &actor, &p, now).await {
            Ok(n) => told += n,
            Err(e) => tracing::error!(policy = p.id, error = %e, "sending a concertation reminder failed"),
        }
    }
    Ok(told)
}

async fn sent<C: ConnectionTrait>(conn: &C, p: &policy::Model, closes_at: DateTime<Utc>) -> AppResult<Vec<i32>> {
    Ok(policy_reminder::Entity::find()
        .filter(policy_reminder::Column::PolicyId.eq(p.id))
        .filter(policy_reminder::Column::Cycle.eq(p.cycle))
        .filter(policy_reminder::Column::ClosesAt.eq(closes_at))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| r.offset_days)
        .collect())
}

async fn remind(db: &DatabaseConnection, actor: &Actor, p: &policy::Model, now: DateTime<Utc>) -> AppResult<usize> {
    let Some(closes_at) = p.concertation_closes_at else { return Ok(0) };
    let (closes_on, today) = (paris_day(closes_at), paris_day(now));
    // A first look on the pool, holding nothing: most ticks have nothing due.
    if reminders_due(closes_on, today, &sent(db, p, closes_at).await?).is_empty() {
        return Ok(0);
    }
    let txn = crate::db::write(db).await?;
    // Decided again under the policy's lock: it may have moved on, changed its closing
    // time or been reminded by another process since the first look.
    let p = lock_policy(&txn, p.id).await?;
    if p.status != PolicyStatus::Concertation || p.concertation_closes_at != Some(closes_at) {
        return Ok(0);
    }
    let due = reminders_due(closes_on, today, &sent(&txn, &p, closes_at).await?);
    let Some(&latest) = due.iter().min() else { return Ok(0) };
    let versions: Vec<i32> = policy_version::Entity::find()
        .filter(policy_version::Column::PolicyId.eq(p.id))
        .filter(policy_version::Column::Cycle.eq(p.cycle))
        .all(&txn)
        .await?
        .into_iter()
        .map(|v| v.id)
        .collect();
    let took_part: HashSet<i32> = policy_contribution::Entity::find()
        .select_only()
        .column(policy_contribution::Column::CommuneId)
        .filter(policy_contribution::Column::VersionId.is_in(versions))
        .filter(policy_contribution::Column::CommuneId.is_not_null())
        .distinct()
        .into_tuple::<i32>()
        .all(&txn)
        .await?
        .into_iter()
        .collect();
    let local = closes_at.with_timezone(&chrono_tz::Europe::Paris);
    let event = Event::ConcertationReminder {
        policy: p.id,
        title: p.title.clone(),
        closes_on,
        closes_at: local.format("%H:%M").to_string(),
        days_left: (closes_on - today).num_days(),
    };
    let told = tell_communes_but(&txn, actor, &p, &took_part, event).await?;
    for d in &due {
        let row = policy_reminder::ActiveModel {
            policy_id: Set(p.id),
            cycle: Set(p.cycle),
            closes_at: Set(closes_at),
            offset_days: Set(*d),
            sent_at: Set(now),
            recipients: Set(if *d == latest { i32::try_from(told).unwrap_or(i32::MAX) } else { 0 }),
            ..Default::default()
        };
        match row.insert(&txn).await.map_err(AppError::from) {
            Ok(_) => {}
            // Recorded first by another process: this transaction rolls back, its
            // notifications with it.
            Err(AppError::Conflict(_)) => return Ok(0),
            Err(e) => return Err(e),
        }
    }
    let summary = json!({ "offsets": due, "sent": latest, "tookPart": took_part.len(), "told": told });
    record(&txn, actor, audit("SEND_CONCERTATION_REMINDER", "Policy", p.id, &p, summary)).await?;
    match txn.commit().await.map_err(AppError::from) {
        Ok(()) => Ok(told),
        Err(AppError::Conflict(_)) => Ok(0),
        Err(e) => Err(e),
    }
}
