//! Contributions on a published version during the concertation: amendments, proposals,
//! comments (threaded) and questions, for a commune or in one's own name; co-signatures
//! by other communes (their populations frozen with their year); withdrawal by the
//! author until answered; the drafting team's motivated answers, an accepted amendment
//! applied to the working text and traced to the next version.
use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::{audit, draft_action, lock_policy};
use crate::audit::service::record;
use crate::auth::policy::{pass, Action};
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::platform::notify::{emit, Event};
use crate::platform::versions::{expect_one, next_version};
use crate::policies::model::{
    policy, policy_contribution, policy_cosignature, policy_section, policy_section_source, policy_version_section,
};
use crate::policies::queries::{latest_version, policy_of};
use crate::policies::rules::{
    AnswerKind, ContributionKind, ContributionStatus, ContributionVisibility, PolicyStatus, CONTRIBUTION_BYTES,
};
use crate::territory::model::commune;
use crate::AppState;

fn bounded(field: &str, text: &str, max: usize) -> AppResult<String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(AppError::validation(field, format!("{field} must not be empty")));
    }
    if t.len() > max {
        return Err(AppError::validation(field, format!("{field} holds at most {max} bytes")));
    }
    Ok(t.to_string())
}

/// The concertation must be open: the policy in CONCERTATION and its closing time ahead.
fn open_for_contributions(p: &policy::Model) -> AppResult<()> {
    if p.status != PolicyStatus::Concertation {
        return Err(AppError::rule(
            "INVALID_TRANSITION",
            format!("contributions are taken during the concertation, not in {}", p.status.as_str()),
        ));
    }
    match p.concertation_closes_at {
        Some(t) if Utc::now() < t => Ok(()),
        _ => Err(AppError::rule("DEADLINE_PASSED", "the concertation is closed")),
    }
}

/// The commune's population, frozen with its year at signing.
async fn frozen_population<C: ConnectionTrait>(conn: &C, commune_id: i32) -> AppResult<(Option<i64>, Option<i32>)> {
    let c = commune::Entity::find_by_id(commune_id).one(conn).await?.ok_or_else(|| AppError::not_found("commune"))?;
    Ok((c.population.map(i64::from), c.population_year))
}

pub struct NewContribution {
    pub policy_id: i32,
    pub kind: ContributionKind,
    /// For a commune (its mayor, a deputy mayor with a delegation, its DGS); none: in
    /// one's own name, as a member of the drafting body.
    pub commune_id: Option<i32>,
    pub section_id: Option<i32>,
    pub parent_id: Option<i32>,
    pub body: String,
    pub proposed_text: Option<String>,
    pub visibility: Option<ContributionVisibility>,
}

pub async fn contribute(
    state: &AppState,
    actor: &Actor,
    input: NewContribution,
) -> AppResult<Granted<policy_contribution::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let p = policy_of(&txn, input.policy_id).await?;
    let action = Action::Contribute {
        intercommunality: p.intercommunality_id,
        commune: input.commune_id,
        drafting_body: p.drafting_body_id,
    };
    let allowed = pass(&txn, actor, action).await?;
    let who = actor.require()?;
    open_for_contributions(&p)?;
    let v = latest_version(&txn, p.id).await?.ok_or_else(|| AppError::rule("NOT_PUBLISHED", "no version yet"))?;
    let body = bounded("body", &input.body, CONTRIBUTION_BYTES)?;
    // The section must be one of the version contributed on.
    if let Some(s) = input.section_id {
        let found = policy_version_section::Entity::find()
            .filter(policy_version_section::Column::VersionId.eq(v.id))
            .filter(policy_version_section::Column::SectionId.eq(s))
            .one(&txn)
            .await?;
        if found.is_none() {
            return Err(AppError::validation(
                "sectionId",
                format!("this section is not in version {} of the policy", v.number),
            ));
        }
    }
    let proposed = match (input.kind, input.proposed_text.as_deref()) {
        (ContributionKind::Amendment, Some(t)) => Some(bounded("proposedText", t, CONTRIBUTION_BYTES)?),
        (ContributionKind::Amendment, None) => {
            return Err(AppError::validation("proposedText", "an amendment proposes the section's new text"))
        }
        (_, Some(_)) => return Err(AppError::validation("proposedText", "only an amendment proposes a text")),
        (_, None) => None,
    };
    if input.kind == ContributionKind::Amendment && input.section_id.is_none() {
        return Err(AppError::validation("sectionId", "an amendment names the section it amends"));
    }
    if let Some(parent) = input.parent_id {
        let ok = policy_contribution::Entity::find_by_id(parent).one(&txn).await?.is_some_and(|c| c.policy_id == p.id);
        if input.kind != ContributionKind::Comment || !ok {
            return Err(AppError::validation("parentId", "a comment answers a contribution of the same policy"));
        }
    }
    let visibility = p.visibility.decide(input.visibility).map_err(|m| AppError::validation("visibility", m))?;
    let now = Utc::now();
    let c = policy_contribution::ActiveModel {
        policy_id: Set(p.id),
        version_id: Set(v.id),
        section_id: Set(input.section_id),
        kind: Set(input.kind),
        parent_id: Set(input.parent_id),
        commune_id: Set(input.commune_id),
        author_person_id: Set(who.person_id),
        author_account_id: Set(who.account_id),
        body: Set(body),
        proposed_text: Set(proposed),
        visibility: Set(visibility),
        status: Set(ContributionStatus::Open),
        answer: Set(None),
        answer_reasons: Set(None),
        merged_into_id: Set(None),
        answered_at: Set(None),
        answered_by_account_id: Set(None),
        withdrawn_at: Set(None),
        created_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    if let Some(commune_id) = input.commune_id {
        let (population, population_year) = frozen_population(&txn, commune_id).await?;
        policy_cosignature::ActiveModel {
            contribution_id: Set(c.id),
            commune_id: Set(commune_id),
            person_id: Set(who.person_id),
            author: Set(true),
            population: Set(population),
            population_year: Set(population_year),
            signed_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    let summary = json!({ "policy": p.id, "version": v.number, "kind": c.kind, "commune": c.commune_id, "section": c.section_id });
    record(&txn, actor, audit("CONTRIBUTE_TO_POLICY", "PolicyContribution", c.id, &p, summary)).await?;
    super::search::index_contribution(&txn, &p, &c).await?;
    txn.commit().await?;
    Ok(allowed.grant(c))
}

async fn contribution_of<C: ConnectionTrait>(conn: &C, id: i32) -> AppResult<policy_contribution::Model> {
    policy_contribution::Entity::find_by_id(id).one(conn).await?.ok_or_else(|| AppError::not_found("contribution"))
}

/// Another commune stands behind a contribution (visible to the communes, still open).
pub async fn cosign(
    state: &AppState,
    actor: &Actor,
    id: i32,
    commune_id: i32,
) -> AppResult<Granted<policy_contribution::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let c = contribution_of(&txn, id).await?;
    let p = policy_of(&txn, c.policy_id).await?;
    let action =
        Action::Contribute { intercommunality: p.intercommunality_id, commune: Some(commune_id), drafting_body: None };
    let allowed = pass(&txn, actor, action).await?;
    let who = actor.require()?;
    open_for_contributions(&p)?;
    if c.status != ContributionStatus::Open || c.visibility != ContributionVisibility::Communes {
        return Err(AppError::rule(
            "INVALID_TRANSITION",
            "only an open contribution visible to the communes is co-signed",
        ));
    }
    let (population, population_year) = frozen_population(&txn, commune_id).await?;
    // A second signature of the same commune breaks the unique index: CONFLICT.
    policy_cosignature::ActiveModel {
        contribution_id: Set(c.id),
        commune_id: Set(commune_id),
        person_id: Set(who.person_id),
        author: Set(false),
        population: Set(population),
        population_year: Set(population_year),
        signed_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let summary = json!({ "policy": p.id, "contribution": c.id, "commune": commune_id, "population": population });
    record(&txn, actor, audit("COSIGN_POLICY_CONTRIBUTION", "PolicyContribution", c.id, &p, summary)).await?;
    txn.commit().await?;
    Ok(allowed.grant(c))
}

/// Its author withdraws a contribution not yet answered.
pub async fn withdraw(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
) -> AppResult<Granted<policy_contribution::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let c = contribution_of(&txn, id).await?;
    let p = policy_of(&txn, c.policy_id).await?;
    let who = actor.require()?;
    if who.person_id != c.author_person_id {
        return Err(AppError::forbidden("only its author withdraws a contribution"));
    }
    if !c.status.withdrawable() {
        return Err(AppError::rule(
            "INVALID_TRANSITION",
            format!("a contribution is withdrawn until it is answered; this one is {}", c.status.as_str()),
        ));
    }
    let res = policy_contribution::Entity::update_many()
        .col_expr(policy_contribution::Column::Status, Expr::value(ContributionStatus::Withdrawn))
        .col_expr(policy_contribution::Column::WithdrawnAt, Expr::value(Utc::now()))
        .col_expr(policy_contribution::Column::Version, Expr::value(next_version(expected_version)?))
        .filter(policy_contribution::Column::Id.eq(c.id))
        .filter(policy_contribution::Column::Version.eq(expected_version))
        .filter(policy_contribution::Column::Status.eq(ContributionStatus::Open))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "contribution", c.version, expected_version)?;
    let after = contribution_of(&txn, c.id).await?;
    let allowed = pass(&txn, actor, super::access::see_action(&p, true)).await?;
    record(
        &txn,
        actor,
        audit("WITHDRAW_POLICY_CONTRIBUTION", "PolicyContribution", c.id, &p, json!({ "policy": p.id })),
    )
    .await?;
    txn.commit().await?;
    Ok(allowed.grant(after))
}

pub struct Answer {
    pub id: i32,
    pub expected_version: i32,
    pub answer: AnswerKind,
    pub reasons: Option<String>,
    pub merged_into_id: Option<i32>,
    /// For an accepted amendment: the section's new text (default, for ACCEPTED: the
    /// proposed text; for ACCEPTED_WITH_CHANGES the team writes it, or edits later).
    pub section_text: Option<String>,
}

/// The drafting team's motivated answer. Answering again needs the version read
/// (CONFLICT otherwise). An accepted amendment is applied to the working text and traced:
/// the next version lists it behind the section it changed.
pub async fn answer(state: &AppState, actor: &Actor, input: Answer) -> AppResult<Granted<policy_contribution::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let c = contribution_of(&txn, input.id).await?;
    let p = lock_policy(&txn, c.policy_id).await?;
    let allowed = pass(&txn, actor, draft_action(&p)).await?;
    let who = actor.require()?;
    if c.status == ContributionStatus::Withdrawn {
        return Err(AppError::rule("INVALID_TRANSITION", "this contribution was withdrawn"));
    }
    let reasons = input.reasons.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(String::from);
    if reasons.as_ref().is_some_and(|r| r.len() > CONTRIBUTION_BYTES) {
        return Err(AppError::validation("reasons", format!("reasons hold at most {CONTRIBUTION_BYTES} bytes")));
    }
    input.answer.check(reasons.as_deref(), input.merged_into_id).map_err(|(f, m)| AppError::validation(f, m))?;
    if let Some(m) = input.merged_into_id {
        let target =
            contribution_of(&txn, m).await.map_err(|e| e.missing_as("mergedIntoId", "no such contribution"))?;
        if target.policy_id != p.id || target.id == c.id {
            return Err(AppError::validation("mergedIntoId", "it joins another contribution of the same policy"));
        }
    }
    let res = policy_contribution::Entity::update_many()
        .col_expr(policy_contribution::Column::Status, Expr::value(ContributionStatus::Answered))
        .col_expr(policy_contribution::Column::Answer, Expr::value(input.answer))
        .col_expr(policy_contribution::Column::AnswerReasons, Expr::value(reasons.clone()))
        .col_expr(policy_contribution::Column::MergedIntoId, Expr::value(input.merged_into_id))
        .col_expr(policy_contribution::Column::AnsweredAt, Expr::value(Utc::now()))
        .col_expr(policy_contribution::Column::AnsweredByAccountId, Expr::value(who.account_id))
        .col_expr(policy_contribution::Column::Version, Expr::value(next_version(input.expected_version)?))
        .filter(policy_contribution::Column::Id.eq(c.id))
        .filter(policy_contribution::Column::Version.eq(input.expected_version))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "contribution", c.version, input.expected_version)?;
    let applied = apply(&txn, actor, &p, &c, &input).await?;
    let after = contribution_of(&txn, c.id).await?;
    // Told to its author and the persons who co-signed it.
    let mut told: Vec<i32> = policy_cosignature::Entity::find()
        .filter(policy_cosignature::Column::ContributionId.eq(c.id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|s| s.person_id)
        .collect();
    told.push(c.author_person_id);
    let event = Event::ContributionAnswered {
        policy: p.id,
        contribution: c.id,
        title: p.title.clone(),
        answer: input.answer.as_str().to_string(),
    };
    emit(&txn, Some(actor), event, &told).await?;
    let summary = json!({ "policy": p.id, "answer": input.answer, "reasons": reasons, "mergedInto": input.merged_into_id, "appliedTo": applied });
    record(&txn, actor, audit("ANSWER_POLICY_CONTRIBUTION", "PolicyContribution", c.id, &p, summary)).await?;
    txn.commit().await?;
    Ok(allowed.grant(after))
}

/// Applies an accepted amendment to its section of the working text (when the section
/// is still there and the text is given or is the proposal), and traces the change.
/// Returns the section changed.
async fn apply<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    p: &policy::Model,
    c: &policy_contribution::Model,
    input: &Answer,
) -> AppResult<Option<i32>> {
    if input.section_text.is_some() && c.kind != ContributionKind::Amendment {
        return Err(AppError::validation("sectionText", "only an amendment's answer rewrites a section"));
    }
    if !input.answer.accepted() || c.kind != ContributionKind::Amendment {
        return Ok(None);
    }
    let text = match (input.answer, &input.section_text) {
        (_, Some(t)) => Some(t.clone()),
        (AnswerKind::Accepted, None) => c.proposed_text.clone(),
        _ => None,
    };
    let Some(section_id) = c.section_id else { return Ok(None) };
    let Some(section) = policy_section::Entity::find_by_id(section_id).one(conn).await? else {
        return Err(AppError::validation("id", "the amended section is no longer in the working text"));
    };
    if section.policy_id != p.id {
        return Err(AppError::internal("a contribution's section belongs to another policy"));
    }
    if let Some(text) = text {
        super::drafting::section_body("sectionText", &text)?;
        policy_section::Entity::update_many()
            .col_expr(policy_section::Column::Body, Expr::value(text))
            .col_expr(policy_section::Column::Version, Expr::col(policy_section::Column::Version).add(1))
            .col_expr(policy_section::Column::UpdatedAt, Expr::value(Utc::now()))
            .col_expr(
                policy_section::Column::UpdatedByAccountId,
                Expr::value(actor.principal.as_ref().map(|x| x.account_id)),
            )
            .filter(policy_section::Column::Id.eq(section_id))
            .exec(conn)
            .await?;
        let after = policy_section::Entity::find_by_id(section_id)
            .one(conn)
            .await?
            .ok_or_else(|| AppError::not_found("section"))?;
        super::search::index_section(conn, p, &after).await?;
    }
    trace(conn, p.id, section_id, c.id).await?;
    Ok(Some(section_id))
}

/// Records that a contribution is behind the next version's change of a section (once).
pub(super) async fn trace<C: ConnectionTrait>(
    conn: &C,
    policy_id: i32,
    section_id: i32,
    contribution: i32,
) -> AppResult<()> {
    let exists = policy_section_source::Entity::find()
        .filter(policy_section_source::Column::SectionId.eq(section_id))
        .filter(policy_section_source::Column::ContributionId.eq(contribution))
        .one(conn)
        .await?
        .is_some();
    if !exists {
        policy_section_source::ActiveModel {
            policy_id: Set(policy_id),
            section_id: Set(section_id),
            contribution_id: Set(contribution),
            version_id: Set(None),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(conn)
        .await?;
    }
    Ok(())
}
