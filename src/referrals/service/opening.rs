//! Opening.
use std::collections::HashSet;

use chrono::{Duration, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::json;

use super::preparing::{current_form, require_status};
use super::{audit, bad_row, end_of_day, paris_day, passed_before, referral_of, CHUNK};
use crate::audit::service::record;
use crate::auth::policy::{pass, Action};
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::platform::notify::{self, Event};
use crate::platform::text::required;
use crate::platform::versions::{expect_one, next_version};
use crate::referrals::model::{referral, referral_addressee};
use crate::referrals::rules::{deadline, AddresseeMode, ReferralKind, ReferralStatus, ResponseStatus};
use crate::territory::model::commune;
use crate::territory::queries::member_communes_on;
use crate::AppState;

/// Opens the referral: freezes the addressees and each one's population (figure, year,
/// source) and sets the deadline. `clock_start`: the day of the event the procedure's
/// clock starts from (notification, transmission, arrêt du projet), today by default.
pub async fn open(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
    clock_start: Option<NaiveDate>,
) -> AppResult<Granted<referral::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let r = referral_of(&txn, id).await?;
    let allowed = pass(&txn, actor, Action::ManageReferrals { intercommunality: r.intercommunality_id }).await?;
    require_status(&r, ReferralStatus::Draft, "open it again")?;
    let procedure = r.procedure;
    let today = crate::time::today_paris();
    let start = clock_start.unwrap_or(today);
    if start > today {
        return Err(AppError::validation("clockStartsOn", "the clock cannot start in the future"));
    }
    let deadline = match (r.duration_months, r.deadline_date) {
        (Some(m), _) => {
            deadline(start, m as u32).ok_or_else(|| AppError::validation("clockStartsOn", "out of range"))?
        }
        (None, Some(day)) => end_of_day(day)?,
        (None, None) => return Err(AppError::validation("deadlineDate", "set the deadline before opening")),
    };
    let now = Utc::now();
    if deadline <= now {
        return Err(AppError::rule(
            "DEADLINE_PASSED",
            format!("the deadline {} has already passed", paris_day(deadline)),
        ));
    }
    if procedure.kind() == ReferralKind::DataCollection && current_form(&txn, id).await?.is_none() {
        return Err(AppError::validation("fields", "a data collection needs its form before opening"));
    }
    let next = next_version(expected_version)?;
    let res = referral::Entity::update_many()
        .col_expr(referral::Column::Status, Expr::value(ReferralStatus::Open))
        .col_expr(referral::Column::ClockStartDate, Expr::value(start))
        .col_expr(referral::Column::OpenedAt, Expr::value(now))
        .col_expr(referral::Column::Deadline, Expr::value(deadline))
        .col_expr(referral::Column::UpdatedAt, Expr::value(now))
        .col_expr(referral::Column::Version, Expr::value(next))
        .filter(referral::Column::Id.eq(id))
        .filter(referral::Column::Version.eq(expected_version))
        .filter(referral::Column::Status.eq(ReferralStatus::Draft))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "the referral", r.version, expected_version)?;
    let addressees = addressee_communes(&txn, &r, today).await?;
    if addressees.is_empty() {
        return Err(AppError::validation("communes", "the referral has no addressee"));
    }
    let unknown = addressees.iter().filter(|a| a.1.is_none()).count();
    if unknown > 0 && r.decision.qualified() && r.intercommunality_id.is_some() {
        // A qualified majority weighs each member council by its population: none may be
        // missing. (Nationally, the six territories without a figure, the TAAF districts
        // and Clipperton, have no inhabitants and no council: they weigh nothing.)
        return Err(AppError::validation(
            "communes",
            format!("{unknown} addressee(s) have no known population; import the official figures first"),
        ));
    }
    for chunk in addressees.chunks(CHUNK) {
        referral_addressee::Entity::insert_many(chunk.iter().map(|(c, pop, year, source)| {
            referral_addressee::ActiveModel {
                referral_id: Set(id),
                commune_id: Set(*c),
                population: Set(pop.map(i64::from)),
                population_year: Set(*year),
                population_source: Set(source.clone()),
                status: Set(ResponseStatus::Pending),
                version: Set(1),
                ..Default::default()
            }
        }))
        .exec(&txn)
        .await?;
    }
    let communes: HashSet<i32> = addressees.iter().map(|a| a.0).collect();
    let event = Event::ReferralOpened { referral: id, title: r.title.clone(), deadline_day: paris_day(deadline) };
    let told = notify_officers(&txn, actor, &communes, event).await?;
    let r = referral_of(&txn, id).await?;
    record(
        &txn,
        actor,
        audit(
            "OPEN_REFERRAL",
            "Referral",
            id,
            &r,
            json!({ "addressees": addressees.len(), "clockStartsOn": start, "deadline": deadline, "told": told }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(allowed.grant(r))
}

pub(super) type Frozen = (i32, Option<i32>, Option<i32>, Option<String>);

/// The addressees on `day` with their population as the commune table states it.
pub(super) async fn addressee_communes<C: ConnectionTrait>(
    db: &C,
    r: &referral::Model,
    day: NaiveDate,
) -> AppResult<Vec<Frozen>> {
    let mode = r.addressee_mode;
    let cols = || {
        commune::Entity::find().select_only().columns([
            commune::Column::Id,
            commune::Column::Population,
            commune::Column::PopulationYear,
            commune::Column::PopulationSource,
        ])
    };
    let ids: Vec<i32> = match mode {
        AddresseeMode::AllCommunes => {
            return Ok(cols().order_by_asc(commune::Column::Id).into_tuple::<Frozen>().all(db).await?);
        }
        AddresseeMode::AllMembers => {
            let e = r.intercommunality_id.ok_or_else(|| bad_row("referral", r.id))?;
            member_communes_on(db, e, day).await?
        }
        AddresseeMode::Subset | AddresseeMode::SingleCommune => {
            let ids: Vec<i32> = r.chosen_communes.clone().map(|c| c.0).unwrap_or_default();
            if let Some(e) = r.intercommunality_id {
                // Frozen on the opening day: a commune that has left since the draft is refused.
                let members: HashSet<i32> = member_communes_on(db, e, day).await?.into_iter().collect();
                if ids.iter().any(|c| !members.contains(c)) {
                    return Err(AppError::validation("communes", "a chosen commune is no longer a member"));
                }
            }
            ids
        }
    };
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        out.extend(
            cols().filter(commune::Column::Id.is_in(chunk.iter().copied())).into_tuple::<Frozen>().all(db).await?,
        );
    }
    out.sort_by_key(|a| a.0);
    Ok(out)
}

/// Tells the officers of `communes` (their mayors and DGS today) of `event`, on the
/// change's transaction.
pub(super) async fn notify_officers<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    communes: &HashSet<i32>,
    event: Event,
) -> AppResult<usize> {
    let people = crate::people::queries::officers_of(conn, communes).await?;
    notify::emit(conn, Some(actor), event, &people).await
}

/// Extends the deadline to 23:59:59 Paris on `day`; the addressees are told.
pub async fn extend_deadline(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
    day: NaiveDate,
    reason: &str,
) -> AppResult<Granted<referral::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let r = referral_of(&txn, id).await?;
    let allowed = pass(&txn, actor, Action::ManageReferrals { intercommunality: r.intercommunality_id }).await?;
    require_status(&r, ReferralStatus::Open, "extend the deadline")?;
    if let Some(m) = r.duration_months {
        // The law fixes these periods, and with them the day silence becomes an opinion.
        return Err(AppError::validation(
            "deadlineDate",
            format!("{} has a legal period of {m} months from the clock's start: it cannot be extended", r.procedure),
        ));
    }
    let reason = required("reason", reason, 2_000)?;
    let new = end_of_day(day)?;
    if r.deadline.is_some_and(|d| new <= d) {
        return Err(AppError::validation("deadlineDate", "an extension moves the deadline later"));
    }
    if day > paris_day(Utc::now()) + Duration::days(366) {
        return Err(AppError::validation("deadlineDate", "at most a year from today"));
    }
    let next = next_version(expected_version)?;
    let now = Utc::now();
    let res = referral::Entity::update_many()
        .col_expr(referral::Column::Deadline, Expr::value(new))
        .col_expr(referral::Column::DeadlineDate, Expr::value(day))
        .col_expr(referral::Column::UpdatedAt, Expr::value(now))
        .col_expr(referral::Column::Version, Expr::value(next))
        .filter(referral::Column::Id.eq(id))
        .filter(referral::Column::Version.eq(expected_version))
        .filter(referral::Column::Status.eq(ReferralStatus::Open))
        .filter(referral::Column::Deadline.gt(passed_before(now)))
        .exec(&txn)
        .await?;
    if res.rows_affected == 0 {
        let cur = referral_of(&txn, id).await?;
        require_status(&cur, ReferralStatus::Open, "extend the deadline")?;
        return Err(AppError::stale("the referral", cur.version, expected_version));
    }
    let communes: HashSet<i32> = addressees(&txn, id).await?.into_iter().map(|a| a.commune_id).collect();
    let event =
        Event::DeadlineExtended { referral: id, title: r.title.clone(), deadline_day: day, reason: reason.clone() };
    let told = notify_officers(&txn, actor, &communes, event).await?;
    let r2 = referral_of(&txn, id).await?;
    record(
        &txn,
        actor,
        audit(
            "EXTEND_REFERRAL_DEADLINE",
            "Referral",
            id,
            &r2,
            json!({ "from": r.deadline, "to": new, "reason": reason, "told": told }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(allowed.grant(r2))
}

pub async fn addressees<C: ConnectionTrait>(db: &C, referral_id: i32) -> AppResult<Vec<referral_addressee::Model>> {
    Ok(referral_addressee::Entity::find()
        .filter(referral_addressee::Column::ReferralId.eq(referral_id))
        .order_by_asc(referral_addressee::Column::CommuneId)
        .all(db)
        .await?)
}
