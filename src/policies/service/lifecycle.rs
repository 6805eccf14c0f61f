//! A policy's status: the moves of `rules::PolicyStatus::apply`, taken by the
//! secretariat (opening the concertation, consultation, approval, back to drafting,
//! revision, abandon). Adoption is recorded by the approval path's last step.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::{audit, lock_policy};
use crate::audit::service::record;
use crate::auth::policy::{pass, Action};
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::platform::versions::{expect_one, next_version};
use crate::policies::model::policy;
use crate::policies::queries::{policy_of, published};
use crate::policies::rules::{PolicyEvent, PolicyStatus};
use crate::AppState;

/// The moves a client asks for (adoption is not one: the approval path records it).
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Ouvrir la concertation on the latest version, until `concertationClosesAt`.
    OpenConcertation,
    /// Engager la consultation (formal opinions).
    StartConsultation,
    /// Engager l'approbation (the approval path).
    StartApproval,
    /// Reprendre la rédaction for another round.
    ResumeDrafting,
    /// Ouvrir la révision of an adopted policy: a new cycle, its history kept.
    Revise,
    /// Abandonner (final).
    Abandon,
}

pub async fn transition(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
    to: Transition,
    closes_at: Option<DateTime<Utc>>,
) -> AppResult<Granted<policy::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let p = lock_policy(&txn, id).await?;
    let allowed = pass(&txn, actor, Action::ManagePolicies { intercommunality: p.intercommunality_id }).await?;
    if p.version != expected_version {
        return Err(AppError::stale("policy", p.version, expected_version));
    }
    let now = Utc::now();
    let has_version = published(&txn, p.id).await?;
    let event = match to {
        Transition::OpenConcertation => {
            let closes_at = closes_at.ok_or_else(|| {
                AppError::validation("concertationClosesAt", "the concertation needs its closing date and time")
            })?;
            PolicyEvent::OpenConcertation { closes_at, now, published: has_version }
        }
        Transition::StartConsultation => PolicyEvent::StartConsultation { published: has_version },
        Transition::StartApproval => PolicyEvent::StartApproval { published: has_version },
        Transition::ResumeDrafting => PolicyEvent::ResumeDrafting,
        Transition::Revise => PolicyEvent::Revise,
        Transition::Abandon => PolicyEvent::Abandon,
    };
    if closes_at.is_some() && to != Transition::OpenConcertation {
        return Err(AppError::validation("concertationClosesAt", "only opening the concertation takes a closing date"));
    }
    let next = p.status.apply(event).map_err(|r| match r.code {
        "VALIDATION" => AppError::validation("concertationClosesAt", r.message),
        code => AppError::rule(code, r.message),
    })?;
    let closes = match next {
        PolicyStatus::Concertation => closes_at,
        _ => None,
    };
    let cycle = if to == Transition::Revise { p.cycle + 1 } else { p.cycle };
    let res = policy::Entity::update_many()
        .col_expr(policy::Column::Status, Expr::value(next))
        .col_expr(policy::Column::ConcertationClosesAt, Expr::value(closes))
        .col_expr(policy::Column::Cycle, Expr::value(cycle))
        .col_expr(policy::Column::Version, Expr::value(next_version(expected_version)?))
        .col_expr(policy::Column::UpdatedAt, Expr::value(now))
        .filter(policy::Column::Id.eq(p.id))
        .filter(policy::Column::Version.eq(expected_version))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "policy", p.version, expected_version)?;
    let after = policy_of(&txn, p.id).await?;
    if let (PolicyStatus::Concertation, Some(t)) = (next, closes) {
        let local = t.with_timezone(&chrono_tz::Europe::Paris);
        let event = crate::platform::notify::Event::ConcertationOpened {
            policy: p.id,
            title: p.title.clone(),
            closes_on: local.date_naive(),
            closes_at: local.format("%H:%M").to_string(),
        };
        super::tell_communes(&txn, actor, &p, event).await?;
    }
    let summary = json!({ "from": p.status, "to": next, "closesAt": closes, "cycle": cycle });
    record(&txn, actor, audit("TRANSITION_POLICY", "Policy", p.id, &p, summary)).await?;
    txn.commit().await?;
    Ok(allowed.grant(after))
}
