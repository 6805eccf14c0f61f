//! Use cases of referrals: authorise, apply the rules of rules.rs and form.rs, write in one
//! transaction with the audit entry. The deadline job (`run_jobs`) closes referrals whose
//! deadline has passed and sends reminders; queries give the same answers before it runs.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use super::model::{referral, referral_addressee};
use super::rules::*;
use crate::audit::service::Entry;
use crate::error::{AppError, AppResult};

/// Reminders by default: 15, 7 and 1 days before the deadline.
pub const DEFAULT_REMINDER_DAYS: [i32; 3] = [15, 7, 1];
/// Rows per INSERT statement when opening (7 columns: well under both databases' limits).
const CHUNK: usize = 2_000;

mod acting;
mod delegations;
mod jobs;
mod opening;
mod outcome;
mod preparing;
mod responses;
pub use acting::*;
pub use delegations::*;
pub use jobs::*;
pub use opening::*;
pub use outcome::*;
pub use preparing::*;
pub use responses::*;

// ---- loading -----------------------------------------------------------------------------

pub async fn addressee_of<C: ConnectionTrait>(
    db: &C,
    referral_id: i32,
    commune_id: i32,
) -> AppResult<referral_addressee::Model> {
    referral_addressee::Entity::find()
        .filter(referral_addressee::Column::ReferralId.eq(referral_id))
        .filter(referral_addressee::Column::CommuneId.eq(commune_id))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("this commune's response (the commune is not an addressee)"))
}

pub async fn referral_of<C: ConnectionTrait>(db: &C, id: i32) -> AppResult<referral::Model> {
    referral::Entity::find_by_id(id).one(db).await?.ok_or_else(|| AppError::not_found("referral"))
}

pub(super) fn bad_row(what: &str, id: i32) -> AppError {
    AppError::internal(format!("{what} {id} holds an unknown value"))
}

/// The status as queries show it (closed once the deadline has passed).
pub fn status_of(r: &referral::Model, now: DateTime<Utc>) -> ReferralStatus {
    r.status.effective(r.deadline, now)
}
pub fn deadline_passed(r: &referral::Model, now: DateTime<Utc>) -> bool {
    r.deadline.is_some_and(|d| passed(d, now))
}
/// Deadlines at or before this instant have passed at `now` (see `rules::passed`).
pub(super) fn passed_before(now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::seconds(1)
}
/// A response's status as queries show it.
pub fn response_status(r: &referral::Model, a: &referral_addressee::Model, now: DateTime<Utc>) -> ResponseStatus {
    a.status.effective(deadline_passed(r, now), r.silence)
}
pub use crate::time::paris_day;
/// 23:59:59 Europe/Paris on `day`, as an instant.
pub fn end_of_day(day: NaiveDate) -> AppResult<DateTime<Utc>> {
    let t = day.and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default());
    Paris
        .from_local_datetime(&t)
        .single()
        .map(|d| d.with_timezone(&Utc))
        .ok_or_else(|| AppError::internal("23:59:59 missing"))
}

pub(super) fn audit<'a>(
    action: &'a str,
    target_type: &'a str,
    id: i32,
    r: &referral::Model,
    summary: Value,
) -> Entry<'a> {
    Entry { action, target_type, target_id: Some(id), scope: r.intercommunality_id, summary }
}

pub fn reminder_days(r: &referral::Model) -> Vec<i32> {
    r.reminder_days.0.clone()
}
