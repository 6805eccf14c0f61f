//! The deadline job.
use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::opening::notify_officers;
use super::outcome::standings_rows;
use super::preparing::lock_referral;
use super::{audit, paris_day, passed_before, reminder_days};
use crate::audit::service::record;
use crate::auth::Actor;
use crate::error::{AppError, AppResult};
use crate::platform::notify::Event;
use crate::referrals::model::{referral, referral_addressee, referral_reminder};
use crate::referrals::rules::{ReferralStatus, ResponseStatus};

/// What one run of the job did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct JobRun {
    pub closed: usize,
    pub reminders: usize,
}

/// Closes every open referral whose deadline has passed (each addressee without a
/// submitted response gets DEEMED_FAVOURABLE or NO_RESPONSE) and sends the reminders due.
/// Idempotent: each step is guarded by the state it changes, so a second run, or a run
/// in another process, does nothing more.
pub async fn run_jobs(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<JobRun> {
    let actor = Actor::system("deadline");
    let mut run = JobRun::default();
    let due = referral::Entity::find()
        .filter(referral::Column::Status.eq(ReferralStatus::Open))
        .filter(referral::Column::Deadline.lte(passed_before(now)))
        .all(db)
        .await?;
    // One referral's failure does not hold the others back; it is retried next time.
    for r in due {
        match close(db, &actor, &r, now).await {
            Ok(closed) => run.closed += usize::from(closed),
            Err(e) => tracing::error!(referral = r.id, error = %e, "closing a referral failed"),
        }
    }
    let open = referral::Entity::find()
        .filter(referral::Column::Status.eq(ReferralStatus::Open))
        .filter(referral::Column::Deadline.gt(passed_before(now)))
        .all(db)
        .await?;
    for r in open {
        match remind(db, &actor, &r, now).await {
            Ok(told) => run.reminders += told,
            Err(e) => tracing::error!(referral = r.id, error = %e, "sending a reminder failed"),
        }
    }
    Ok(run)
}

pub(super) async fn close(
    db: &DatabaseConnection,
    actor: &Actor,
    r: &referral::Model,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let silence = r.silence;
    let txn = crate::db::write(db).await?;
    let res = referral::Entity::update_many()
        .col_expr(referral::Column::Status, Expr::value(ReferralStatus::Closed))
        .col_expr(referral::Column::ClosedAt, Expr::value(now))
        .col_expr(referral::Column::Version, Expr::col(referral::Column::Version).add(1))
        .filter(referral::Column::Id.eq(r.id))
        .filter(referral::Column::Status.eq(ReferralStatus::Open))
        .filter(referral::Column::Deadline.lte(passed_before(now)))
        .exec(&txn)
        .await?;
    if res.rows_affected == 0 {
        return Ok(false);
    }
    let silent = ResponseStatus::Pending.effective(true, silence);
    let res = referral_addressee::Entity::update_many()
        .col_expr(referral_addressee::Column::Status, Expr::value(silent))
        .col_expr(referral_addressee::Column::Version, Expr::col(referral_addressee::Column::Version).add(1))
        .filter(referral_addressee::Column::ReferralId.eq(r.id))
        .filter(referral_addressee::Column::Status.is_in([ResponseStatus::Pending, ResponseStatus::Draft]))
        .exec(&txn)
        .await?;
    // The communes addressed hear of the closing, with the outcome unless the referral
    // keeps it to the secretariat.
    let communes: std::collections::HashSet<i32> = referral_addressee::Entity::find()
        .filter(referral_addressee::Column::ReferralId.eq(r.id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|a| a.commune_id)
        .collect();
    let outcome = if r.secretariat_only {
        "les réponses sont closes".to_string()
    } else {
        super::outcome::outcome_of(&txn, r, now).await?.message
    };
    let event = Event::ReferralClosed { referral: r.id, title: r.title.clone(), outcome };
    super::opening::notify_officers(&txn, actor, &communes, event).await?;
    record(
        &txn,
        actor,
        audit(
            "CLOSE_REFERRAL",
            "Referral",
            r.id,
            r,
            json!({ "deadline": r.deadline, "silent": res.rows_affected, "silenceMeans": silent.as_str() }),
        ),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(referral = r.id, silent = res.rows_affected, "referral closed at its deadline");
    Ok(true)
}

/// Sends the latest reminder due (from 00:00 Paris, `offset` days before the deadline's
/// day) to the officers of communes that have not submitted; offsets already past are
/// recorded without a message. Returns the notifications sent.
pub(super) async fn remind(
    db: &DatabaseConnection,
    actor: &Actor,
    r: &referral::Model,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let Some(deadline) = r.deadline else { return Ok(0) };
    let today = paris_day(now);
    let deadline_day = paris_day(deadline);
    // A first look on the pool, holding nothing, so that a tick with nothing due takes no
    // write lock; the decision itself is taken again on the transaction below.
    if reminders_due(db, r, deadline, today).await?.is_empty() {
        return Ok(0);
    }
    let txn = crate::db::write(db).await?;
    // Re-read under the referral's row lock: it may have closed, been extended (another
    // deadline) or had this reminder sent by another process since the first look.
    let r = lock_referral(&txn, r.id).await?;
    if r.status != ReferralStatus::Open || r.deadline != Some(deadline) {
        return Ok(0);
    }
    let r = &r;
    let due = reminders_due(&txn, r, deadline, today).await?;
    let Some(&latest) = due.iter().min() else { return Ok(0) };
    let silent: HashSet<i32> = standings_rows(&txn, r.id)
        .await?
        .into_iter()
        .filter(|(_, _, s, _)| *s != ResponseStatus::Submitted)
        .map(|(c, ..)| c)
        .collect();
    let mut told = 0;
    for d in &due {
        let recipients = if *d == latest {
            let days_left = (deadline_day - today).num_days();
            let event = Event::ReferralReminder { referral: r.id, title: r.title.clone(), deadline_day, days_left };
            notify_officers(&txn, actor, &silent, event).await?
        } else {
            0
        };
        told += recipients;
        let row = referral_reminder::ActiveModel {
            referral_id: Set(r.id),
            offset_days: Set(*d),
            deadline: Set(deadline),
            sent_at: Set(now),
            recipients: Set(recipients as i32),
            ..Default::default()
        };
        match row.insert(&txn).await.map_err(AppError::from) {
            Ok(_) => {}
            // Another process recorded this reminder first (its unique row): the
            // transaction rolls back, its notifications with it.
            Err(AppError::Conflict(_)) => return Ok(0),
            Err(e) => return Err(e),
        }
    }
    record(
        &txn,
        actor,
        audit(
            "SEND_REFERRAL_REMINDER",
            "Referral",
            r.id,
            r,
            json!({ "offsets": due, "sent": latest, "communes": silent.len(), "told": told }),
        ),
    )
    .await?;
    match txn.commit().await.map_err(AppError::from) {
        Ok(()) => Ok(told),
        Err(AppError::Conflict(_)) => Ok(0),
        Err(e) => Err(e),
    }
}

/// The reminder offsets (days before the deadline's day) that are due on `today` and not
/// yet recorded for this deadline.
async fn reminders_due<C: ConnectionTrait>(
    conn: &C,
    r: &referral::Model,
    deadline: DateTime<Utc>,
    today: chrono::NaiveDate,
) -> AppResult<Vec<i32>> {
    let deadline_day = paris_day(deadline);
    let sent: HashSet<i32> = referral_reminder::Entity::find()
        .filter(referral_reminder::Column::ReferralId.eq(r.id))
        .filter(referral_reminder::Column::Deadline.eq(deadline))
        .all(conn)
        .await?
        .into_iter()
        .map(|x| x.offset_days)
        .collect();
    Ok(reminder_days(r)
        .into_iter()
        .filter(|d| !sent.contains(d) && today >= deadline_day - Duration::days(i64::from(*d)))
        .collect())
}
