//! Minutes and publication.
use std::collections::HashSet;

use chrono::{Duration, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

use super::{audit, meeting_of};
use crate::audit::service::record;
use crate::auth::policy::{pass, Action};
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::meetings::model::{agenda_item, body, meeting};
use crate::meetings::rules::{paris_day, AgendaItemKind, BodyKind, MeetingStatus, MinutesStatus, VoteResult};
use crate::people::model::mandate;
use crate::people::rules::Role;
use crate::people::service::runs_on;
use crate::platform::notify::{self, Event};
use crate::platform::text::required;
use crate::platform::versions::{expect_one, next_version};
use crate::territory::queries::member_communes_on;
use crate::AppState;

pub async fn draft_minutes(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
    text: String,
) -> AppResult<Granted<meeting::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let (m, b) = meeting_of(&txn, id).await?;
    let allowed = pass(&txn, actor, Action::ManageMeetings { intercommunality: b.intercommunality_id }).await?;
    if !matches!(m.status, MeetingStatus::Held | MeetingStatus::Closed) {
        return Err(AppError::rule("INVALID_TRANSITION", "minutes are drafted after the meeting is held"));
    }
    if !matches!(m.minutes_status, MinutesStatus::None | MinutesStatus::Draft) {
        return Err(AppError::rule("INVALID_TRANSITION", "approved minutes are no longer edited"));
    }
    let text = required("text", &text, 1_000_000)?;
    let next = next_version(expected_version)?;
    let res = meeting::Entity::update_many()
        .col_expr(meeting::Column::MinutesText, Expr::value(Some(text)))
        .col_expr(meeting::Column::MinutesStatus, Expr::value(MinutesStatus::Draft))
        .col_expr(meeting::Column::Version, Expr::value(next))
        .col_expr(meeting::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(meeting::Column::Id.eq(id))
        .filter(meeting::Column::Version.eq(expected_version))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "meeting", m.version, expected_version)?;
    record(&txn, actor, audit("DRAFT_MINUTES", "Meeting", id, &b, json!({}))).await?;
    let after = meeting_of(&txn, id).await?.0;
    txn.commit().await?;
    Ok(allowed.grant(after))
}

/// What is published: the list of decisions/opinions of a meeting, or its approved minutes.
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Publication {
    /// Liste des délibérations / avis, due within one week of the meeting.
    Decisions,
    /// Procès-verbal, due within one week of its approval.
    Minutes,
}

/// Publishes. Publishing the conference's decisions sends each adopted opinion to every
/// municipal councillor of the member communes (L5211-40-2).
pub async fn publish(
    state: &AppState,
    actor: &Actor,
    id: i32,
    what: Publication,
) -> AppResult<Granted<meeting::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let (m, b) = meeting_of(&txn, id).await?;
    let allowed = pass(&txn, actor, Action::ManageMeetings { intercommunality: b.intercommunality_id }).await?;
    if !matches!(m.status, MeetingStatus::Held | MeetingStatus::Closed) {
        return Err(AppError::rule("INVALID_TRANSITION", "only a held meeting publishes"));
    }
    let now = Utc::now();
    let mut told = 0;
    match what {
        Publication::Decisions => {
            let res = meeting::Entity::update_many()
                .col_expr(meeting::Column::DecisionsPublishedAt, Expr::value(Some(now)))
                .filter(meeting::Column::Id.eq(id))
                .filter(meeting::Column::DecisionsPublishedAt.is_null())
                .exec(&txn)
                .await?;
            if res.rows_affected != 1 {
                return Err(AppError::Conflict("the decisions are already published".into()));
            }
            if b.kind == BodyKind::ConferenceOfMayors {
                let opinions = agenda_item::Entity::find()
                    .filter(agenda_item::Column::MeetingId.eq(id))
                    .filter(agenda_item::Column::Kind.eq(AgendaItemKind::Opinion))
                    .filter(agenda_item::Column::Result.eq(VoteResult::Adopted))
                    .all(&txn)
                    .await?;
                if !opinions.is_empty() {
                    let councillors = councillors_of(&txn, b.intercommunality_id).await?;
                    for o in &opinions {
                        let event = Event::OpinionAdopted { meeting: id, item: o.id, title: o.title.clone() };
                        told += notify::emit(&txn, Some(actor), event, &councillors).await?;
                    }
                }
            }
        }
        Publication::Minutes => {
            if m.minutes_status != MinutesStatus::Approved {
                return Err(AppError::rule("INVALID_TRANSITION", "minutes are published once approved"));
            }
            let res = meeting::Entity::update_many()
                .col_expr(meeting::Column::MinutesStatus, Expr::value(MinutesStatus::Published))
                .col_expr(meeting::Column::MinutesPublishedAt, Expr::value(Some(now)))
                .filter(meeting::Column::Id.eq(id))
                .filter(meeting::Column::MinutesStatus.eq(MinutesStatus::Approved))
                .exec(&txn)
                .await?;
            if res.rows_affected != 1 {
                return Err(AppError::Conflict("the minutes were published meanwhile".into()));
            }
        }
    }
    record(&txn, actor, audit("PUBLISH", "Meeting", id, &b, json!({ "what": format!("{what:?}"), "notified": told })))
        .await?;
    let after = meeting_of(&txn, id).await?.0;
    txn.commit().await?;
    Ok(allowed.grant(after))
}

/// Every municipal councillor (mayor, deputy mayors, councillors) in office today in the
/// member communes of `e`.
pub(super) async fn councillors_of<C: ConnectionTrait>(db: &C, e: i32) -> AppResult<Vec<i32>> {
    let today = crate::time::today_paris();
    let communes = member_communes_on(db, e, today).await?;
    let mut people: Vec<i32> = mandate::Entity::find()
        .filter(mandate::Column::CommuneId.is_in(communes))
        .filter(mandate::Column::Role.is_in([Role::Mayor, Role::DeputyMayor, Role::MunicipalCouncillor]))
        .all(db)
        .await?
        .into_iter()
        .filter(|m| runs_on(m, today))
        .map(|m| m.person_id)
        .collect();
    people.sort_unstable();
    people.dedup();
    Ok(people)
}

/// A publication that is late.
pub struct Overdue {
    pub meeting: meeting::Model,
    pub what: Publication,
    pub due: NaiveDate,
}

/// Publications of `e`'s meetings past their due date on `today`: the list of decisions
/// one week after the meeting, the minutes one week after their approval.
pub async fn overdue(db: &DatabaseConnection, e: i32, today: NaiveDate) -> AppResult<Vec<Overdue>> {
    let bodies: Vec<i32> = body::Entity::find()
        .filter(body::Column::IntercommunalityId.eq(e))
        .all(db)
        .await?
        .iter()
        .map(|b| b.id)
        .collect();
    let held = meeting::Entity::find()
        .filter(meeting::Column::BodyId.is_in(bodies))
        .filter(meeting::Column::Status.is_in([MeetingStatus::Held, MeetingStatus::Closed]))
        .order_by_asc(meeting::Column::StartsAt)
        .all(db)
        .await?;
    let ids: Vec<i32> = held.iter().map(|m| m.id).collect();
    let decided: HashSet<i32> = agenda_item::Entity::find()
        .filter(agenda_item::Column::MeetingId.is_in(ids))
        .filter(agenda_item::Column::Result.is_not_null())
        .filter(agenda_item::Column::Kind.is_in([AgendaItemKind::Vote, AgendaItemKind::Opinion]))
        .all(db)
        .await?
        .into_iter()
        .map(|i| i.meeting_id)
        .collect();
    let mut out = Vec::new();
    for m in held {
        let due = paris_day(m.starts_at) + Duration::days(7);
        if decided.contains(&m.id) && m.decisions_published_at.is_none() && today > due {
            out.push(Overdue { meeting: m.clone(), what: Publication::Decisions, due });
        }
        if let (Some(approved), true) = (m.minutes_approved_on, m.minutes_status == MinutesStatus::Approved) {
            let due = approved + Duration::days(7);
            if today > due {
                out.push(Overdue { meeting: m, what: Publication::Minutes, due });
            }
        }
    }
    Ok(out)
}
