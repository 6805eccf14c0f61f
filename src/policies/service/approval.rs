//! The approval path: an ordered list of steps across bodies (validation by the drafting
//! body, opinions, approvals, the council's adoption), each recorded in turn on the
//! published version it judged. The adoption step, adopted, adopts the policy on that
//! version.
use chrono::{NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use super::{audit, lock_policy, tell_communes};
use crate::audit::service::record;
use crate::auth::policy::{pass, Action};
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::platform::notify::Event;
use crate::platform::text::{optional, required};
use crate::platform::versions::{expect_one, next_version};
use crate::policies::model::{policy, policy_step};
use crate::policies::queries::version_numbered;
use crate::policies::rules::{PolicyEvent, PolicyStatus, StepKind, StepOutcome};
use crate::AppState;

/// The steps of the policy's current cycle, in order.
pub async fn steps<C: ConnectionTrait>(db: &C, p: &policy::Model) -> AppResult<Vec<policy_step::Model>> {
    Ok(policy_step::Entity::find()
        .filter(policy_step::Column::PolicyId.eq(p.id))
        .filter(policy_step::Column::Cycle.eq(p.cycle))
        .order_by_asc(policy_step::Column::Position)
        .all(db)
        .await?)
}

pub struct NewStep {
    pub policy_id: i32,
    pub kind: StepKind,
    pub label: String,
    pub body_id: Option<i32>,
}

/// Adds a step at the end of the path (the secretariat); nothing follows an adoption.
pub async fn add_step(state: &AppState, actor: &Actor, input: NewStep) -> AppResult<Granted<policy_step::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let p = lock_policy(&txn, input.policy_id).await?;
    let allowed = pass(&txn, actor, Action::ManagePolicies { intercommunality: p.intercommunality_id }).await?;
    if matches!(p.status, PolicyStatus::Adopted | PolicyStatus::Abandoned) {
        return Err(AppError::rule("INVALID_TRANSITION", format!("a {} policy's path is settled", p.status.as_str())));
    }
    let label = required("label", &input.label, 300)?;
    super::drafting::check_body(&txn, "bodyId", p.intercommunality_id, input.body_id).await?;
    let path = steps(&txn, &p).await?;
    if path.iter().any(|s| s.kind == StepKind::Adoption) {
        return Err(AppError::validation("kind", "the adoption is the path's last step"));
    }
    let s = policy_step::ActiveModel {
        policy_id: Set(p.id),
        cycle: Set(p.cycle),
        position: Set(i32::try_from(path.len()).unwrap_or(i32::MAX)),
        kind: Set(input.kind),
        label: Set(label),
        body_id: Set(input.body_id),
        version_id: Set(None),
        outcome: Set(None),
        decided_on: Set(None),
        deliberation_number: Set(None),
        note: Set(None),
        recorded_at: Set(None),
        version: Set(1),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let summary = json!({ "policy": p.id, "kind": s.kind, "label": s.label, "position": s.position });
    record(&txn, actor, audit("ADD_POLICY_STEP", "PolicyStep", s.id, &p, summary)).await?;
    txn.commit().await?;
    Ok(allowed.grant(s))
}

pub struct StepRecord {
    pub id: i32,
    pub expected_version: i32,
    /// The published version the body judged.
    pub version_number: i32,
    pub outcome: StepOutcome,
    pub decided_on: NaiveDate,
    /// The deliberation's number (required for an adoption).
    pub deliberation_number: Option<String>,
    pub note: Option<String>,
}

/// Records what a body said at a step, in the path's order, on a published version; an
/// adoption adopted makes the policy ADOPTED on that version.
pub async fn record_step(state: &AppState, actor: &Actor, input: StepRecord) -> AppResult<Granted<policy_step::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let s = policy_step::Entity::find_by_id(input.id).one(&txn).await?.ok_or_else(|| AppError::not_found("step"))?;
    let p = lock_policy(&txn, s.policy_id).await?;
    let allowed = pass(&txn, actor, Action::ManagePolicies { intercommunality: p.intercommunality_id }).await?;
    if s.cycle != p.cycle {
        return Err(AppError::rule("INVALID_TRANSITION", "this step belongs to an earlier cycle of the policy"));
    }
    if !matches!(p.status, PolicyStatus::Consultation | PolicyStatus::Approval) {
        return Err(AppError::rule(
            "INVALID_TRANSITION",
            format!("steps are recorded in consultation or approval, not in {}", p.status.as_str()),
        ));
    }
    if s.kind == StepKind::Adoption && p.status != PolicyStatus::Approval {
        return Err(AppError::rule("INVALID_TRANSITION", "the adoption is recorded once the approval has started"));
    }
    if !s.kind.accepts(input.outcome) {
        return Err(AppError::validation(
            "outcome",
            format!("a {} step is not answered {}", s.kind.as_str(), input.outcome.as_str()),
        ));
    }
    // In order: every earlier step recorded first.
    let path = steps(&txn, &p).await?;
    if path.iter().any(|x| x.position < s.position && x.outcome.is_none()) {
        return Err(AppError::rule("INVALID_TRANSITION", "record the earlier steps of the path first"));
    }
    let v = version_numbered(&txn, p.id, input.version_number)
        .await
        .map_err(|e| e.missing_as("versionNumber", "a step judges a published version of the policy"))?;
    if !(2000..=2100).contains(&chrono::Datelike::year(&input.decided_on)) {
        return Err(AppError::validation("decidedOn", "a date between the years 2000 and 2100"));
    }
    let number = optional("deliberationNumber", input.deliberation_number.as_deref(), 100)?;
    if s.kind == StepKind::Adoption && number.is_none() {
        return Err(AppError::validation("deliberationNumber", "an adoption gives its deliberation's number"));
    }
    let note = optional("note", input.note.as_deref(), 5_000)?;
    let res = policy_step::Entity::update_many()
        .col_expr(policy_step::Column::VersionId, Expr::value(v.id))
        .col_expr(policy_step::Column::Outcome, Expr::value(input.outcome))
        .col_expr(policy_step::Column::DecidedOn, Expr::value(input.decided_on))
        .col_expr(policy_step::Column::DeliberationNumber, Expr::value(number.clone()))
        .col_expr(policy_step::Column::Note, Expr::value(note))
        .col_expr(policy_step::Column::RecordedAt, Expr::value(Utc::now()))
        .col_expr(policy_step::Column::Version, Expr::value(next_version(input.expected_version)?))
        .filter(policy_step::Column::Id.eq(s.id))
        .filter(policy_step::Column::Version.eq(input.expected_version))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "step", s.version, input.expected_version)?;
    if s.kind == StepKind::Adoption && input.outcome == StepOutcome::Adopted {
        let next = p.status.apply(PolicyEvent::Adopt).map_err(|r| AppError::rule(r.code, r.message))?;
        policy::Entity::update_many()
            .col_expr(policy::Column::Status, Expr::value(next))
            .col_expr(policy::Column::AdoptedVersionId, Expr::value(v.id))
            .col_expr(policy::Column::Version, Expr::value(p.version + 1))
            .col_expr(policy::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(policy::Column::Id.eq(p.id))
            .exec(&txn)
            .await?;
    }
    let after = policy_step::Entity::find_by_id(s.id).one(&txn).await?.ok_or_else(|| AppError::not_found("step"))?;
    let event = Event::PolicyStepReached {
        policy: p.id,
        title: p.title.clone(),
        step: s.label.clone(),
        outcome: input.outcome.as_str().to_string(),
        number: v.number,
    };
    tell_communes(&txn, actor, &p, event).await?;
    let summary = json!({ "policy": p.id, "step": s.label, "version": v.number, "outcome": input.outcome, "decidedOn": input.decided_on, "deliberation": number });
    record(&txn, actor, audit("RECORD_POLICY_STEP", "PolicyStep", s.id, &p, summary)).await?;
    txn.commit().await?;
    Ok(allowed.grant(after))
}
