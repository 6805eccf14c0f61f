//! The policy and its working text: creating and editing a policy, adding, editing,
//! moving and removing sections. Section edits carry the version the editor read:
//! of two editors of one section, the second gets CONFLICT and nothing is lost.
use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::json;

use super::{audit, draft_action, lock_policy};
use crate::audit::service::record;
use crate::auth::policy::{pass, Action};
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::meetings::model::body;
use crate::people::model::mandate;
use crate::people::queries::runs_on;
use crate::people::rules::Role;
use crate::platform::text::{optional, required};
use crate::platform::versions::{expect_one, next_version};
use crate::policies::model::{policy, policy_section};
use crate::policies::queries::{places, sections};
use crate::policies::rules::{can_place, PolicyKind, PolicyStatus, VisibilityChoice, MAX_SECTIONS, SECTION_BYTES};
use crate::AppState;

pub struct NewPolicy {
    pub intercommunality_id: i32,
    pub kind: PolicyKind,
    pub title: String,
    pub summary: Option<String>,
    pub lead_mandate_id: Option<i32>,
    pub drafting_body_id: Option<i32>,
    pub secretariat: Option<String>,
    pub legal_basis: Option<String>,
    pub visibility: Option<VisibilityChoice>,
}

/// The lead elected official must hold, today, an elected mandate of the intercommunality.
async fn check_lead<C: ConnectionTrait>(conn: &C, intercommunality: i32, id: Option<i32>) -> AppResult<()> {
    let Some(id) = id else { return Ok(()) };
    let m = mandate::Entity::find_by_id(id).one(conn).await?;
    let elected = |r: Role| matches!(r, Role::President | Role::VicePresident | Role::CommunityCouncillor);
    match m {
        Some(m) if m.intercommunality_id == Some(intercommunality) && elected(m.role) && runs_on(&m, crate::time::today_paris()) => {
            Ok(())
        }
        _ => Err(AppError::validation(
            "leadMandateId",
            "the lead must be a running elected mandate of the intercommunality (president, vice-president, councillor)",
        )),
    }
}

/// A body a policy names (its drafting body, a step's body) must be one of the
/// intercommunality's bodies: VALIDATION on `field` otherwise.
pub(super) async fn check_body<C: ConnectionTrait>(
    conn: &C,
    field: &str,
    intercommunality: i32,
    id: Option<i32>,
) -> AppResult<()> {
    let Some(id) = id else { return Ok(()) };
    match body::Entity::find_by_id(id).one(conn).await? {
        Some(b) if b.intercommunality_id == intercommunality => Ok(()),
        _ => Err(AppError::validation(field, "a body of the policy's intercommunality")),
    }
}

fn summary_text(raw: Option<&str>) -> AppResult<String> {
    Ok(optional("summary", raw, 5_000)?.unwrap_or_default())
}

pub async fn create_policy(state: &AppState, actor: &Actor, input: NewPolicy) -> AppResult<Granted<policy::Model>> {
    let txn = crate::db::write(&state.db).await?;
    crate::territory::model::intercommunality::Entity::find_by_id(input.intercommunality_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("intercommunality"))?;
    let allowed = pass(&txn, actor, Action::ManagePolicies { intercommunality: input.intercommunality_id }).await?;
    let title = required("title", &input.title, 300)?;
    let summary = summary_text(input.summary.as_deref())?;
    let secretariat = optional("secretariat", input.secretariat.as_deref(), 200)?;
    let legal_basis = optional("legalBasis", input.legal_basis.as_deref(), 500)?;
    check_lead(&txn, input.intercommunality_id, input.lead_mandate_id).await?;
    check_body(&txn, "draftingBodyId", input.intercommunality_id, input.drafting_body_id).await?;
    let now = Utc::now();
    let p = policy::ActiveModel {
        intercommunality_id: Set(input.intercommunality_id),
        kind: Set(input.kind),
        title: Set(title),
        summary: Set(summary),
        lead_mandate_id: Set(input.lead_mandate_id),
        drafting_body_id: Set(input.drafting_body_id),
        secretariat: Set(secretariat),
        legal_basis: Set(legal_basis),
        status: Set(PolicyStatus::Drafting),
        cycle: Set(1),
        visibility: Set(input.visibility.unwrap_or(VisibilityChoice::Both)),
        concertation_closes_at: Set(None),
        adopted_version_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let summary = json!({ "kind": p.kind, "title": p.title, "lead": p.lead_mandate_id, "body": p.drafting_body_id });
    record(&txn, actor, audit("CREATE_POLICY", "Policy", p.id, &p, summary)).await?;
    super::search::index_policy(&txn, &p).await?;
    txn.commit().await?;
    Ok(allowed.grant(p))
}

/// A change to a policy's description; absent fields stay as they are.
pub struct PolicyPatch {
    pub id: i32,
    pub expected_version: i32,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub lead_mandate_id: Option<Option<i32>>,
    pub drafting_body_id: Option<Option<i32>>,
    pub secretariat: Option<Option<String>>,
    pub legal_basis: Option<Option<String>>,
    pub visibility: Option<VisibilityChoice>,
}

pub async fn update_policy(state: &AppState, actor: &Actor, input: PolicyPatch) -> AppResult<Granted<policy::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let p = lock_policy(&txn, input.id).await?;
    let allowed = pass(&txn, actor, Action::ManagePolicies { intercommunality: p.intercommunality_id }).await?;
    if matches!(p.status, PolicyStatus::Adopted | PolicyStatus::Abandoned) {
        return Err(AppError::rule("INVALID_TRANSITION", format!("a {} policy is not edited", p.status.as_str())));
    }
    let mut q = policy::Entity::update_many()
        .col_expr(policy::Column::Version, Expr::value(next_version(input.expected_version)?))
        .col_expr(policy::Column::UpdatedAt, Expr::value(Utc::now()));
    if let Some(t) = &input.title {
        q = q.col_expr(policy::Column::Title, Expr::value(required("title", t, 300)?));
    }
    if let Some(s) = &input.summary {
        q = q.col_expr(policy::Column::Summary, Expr::value(summary_text(Some(s))?));
    }
    if let Some(lead) = input.lead_mandate_id {
        check_lead(&txn, p.intercommunality_id, lead).await?;
        q = q.col_expr(policy::Column::LeadMandateId, Expr::value(lead));
    }
    if let Some(b) = input.drafting_body_id {
        check_body(&txn, "draftingBodyId", p.intercommunality_id, b).await?;
        q = q.col_expr(policy::Column::DraftingBodyId, Expr::value(b));
    }
    if let Some(s) = &input.secretariat {
        q = q.col_expr(policy::Column::Secretariat, Expr::value(optional("secretariat", s.as_deref(), 200)?));
    }
    if let Some(s) = &input.legal_basis {
        q = q.col_expr(policy::Column::LegalBasis, Expr::value(optional("legalBasis", s.as_deref(), 500)?));
    }
    if let Some(v) = input.visibility {
        q = q.col_expr(policy::Column::Visibility, Expr::value(v));
    }
    let res = q
        .filter(policy::Column::Id.eq(p.id))
        .filter(policy::Column::Version.eq(input.expected_version))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "policy", p.version, input.expected_version)?;
    let after = crate::policies::queries::policy_of(&txn, p.id).await?;
    let summary = json!({ "title": after.title, "lead": after.lead_mandate_id, "body": after.drafting_body_id, "visibility": after.visibility });
    record(&txn, actor, audit("UPDATE_POLICY", "Policy", p.id, &p, summary)).await?;
    super::search::index_policy(&txn, &after).await?;
    txn.commit().await?;
    Ok(allowed.grant(after))
}

/// The policy of a section, locked, and the drafting team's pass; refused once the
/// policy is settled (adopted: open it for revision first; abandoned).
async fn drafting<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    policy_id: i32,
) -> AppResult<(policy::Model, crate::auth::Pass)> {
    let p = lock_policy(conn, policy_id).await?;
    let allowed = pass(conn, actor, draft_action(&p)).await?;
    if !p.status.editable() {
        return Err(AppError::rule(
            "INVALID_TRANSITION",
            format!("the text of a {} policy is not edited (open it for revision first)", p.status.as_str()),
        ));
    }
    Ok((p, allowed))
}

fn section_text(title: &str, body: &str) -> AppResult<(String, String)> {
    let title = required("title", title, 300)?;
    section_body("body", body)?;
    Ok((title, body.to_string()))
}

/// A section's text (Markdown, possibly empty) holds at most SECTION_BYTES: VALIDATION on
/// `field` otherwise.
pub(super) fn section_body(field: &str, body: &str) -> AppResult<()> {
    if body.len() > SECTION_BYTES {
        return Err(AppError::validation(field, format!("a section holds at most {SECTION_BYTES} bytes")));
    }
    Ok(())
}

async fn section_of<C: ConnectionTrait>(conn: &C, id: i32) -> AppResult<policy_section::Model> {
    policy_section::Entity::find_by_id(id).one(conn).await?.ok_or_else(|| AppError::not_found("section"))
}

/// Shifts by `by` the positions of `parent`'s children from `from` on.
async fn shift<C: ConnectionTrait>(conn: &C, policy_id: i32, parent: Option<i32>, from: i32, by: i32) -> AppResult<()> {
    let mut q = policy_section::Entity::update_many()
        .col_expr(policy_section::Column::Position, Expr::col(policy_section::Column::Position).add(by))
        .filter(policy_section::Column::PolicyId.eq(policy_id))
        .filter(policy_section::Column::Position.gte(from));
    q = match parent {
        Some(p) => q.filter(policy_section::Column::ParentId.eq(p)),
        None => q.filter(policy_section::Column::ParentId.is_null()),
    };
    q.exec(conn).await?;
    Ok(())
}

/// `position` among `parent`'s children, clamped to 0..=count (None: at the end).
async fn slot<C: ConnectionTrait>(
    conn: &C,
    policy_id: i32,
    parent: Option<i32>,
    position: Option<i32>,
    excluding: Option<i32>,
) -> AppResult<i32> {
    let mut q = policy_section::Entity::find().filter(policy_section::Column::PolicyId.eq(policy_id));
    q = match parent {
        Some(p) => q.filter(policy_section::Column::ParentId.eq(p)),
        None => q.filter(policy_section::Column::ParentId.is_null()),
    };
    if let Some(x) = excluding {
        q = q.filter(policy_section::Column::Id.ne(x));
    }
    let count = i32::try_from(q.count(conn).await?).unwrap_or(i32::MAX);
    Ok(position.map_or(count, |p| p.clamp(0, count)))
}

pub struct NewSection {
    pub policy_id: i32,
    pub parent_id: Option<i32>,
    pub position: Option<i32>,
    pub title: String,
    pub body: String,
}

pub async fn add_section(
    state: &AppState,
    actor: &Actor,
    input: NewSection,
) -> AppResult<Granted<policy_section::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let (p, allowed) = drafting(&txn, actor, input.policy_id).await?;
    let (title, body) = section_text(&input.title, &input.body)?;
    let all = sections(&txn, p.id).await?;
    if all.len() >= MAX_SECTIONS {
        return Err(AppError::validation("policyId", format!("a policy's text holds at most {MAX_SECTIONS} sections")));
    }
    if let Some(parent) = input.parent_id {
        if !all.iter().any(|s| s.id == parent) {
            return Err(AppError::validation("parentId", "the parent section is not in this policy's text"));
        }
    }
    // A new section is a leaf: placing it is placing a section of id 0.
    can_place(&places(&all), 0, input.parent_id).map_err(|m| AppError::validation("parentId", m))?;
    let position = slot(&txn, p.id, input.parent_id, input.position, None).await?;
    shift(&txn, p.id, input.parent_id, position, 1).await?;
    let s = policy_section::ActiveModel {
        policy_id: Set(p.id),
        parent_id: Set(input.parent_id),
        position: Set(position),
        title: Set(title),
        body: Set(body),
        updated_at: Set(Utc::now()),
        updated_by_account_id: Set(actor.principal.as_ref().map(|x| x.account_id)),
        version: Set(1),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let summary = json!({ "policy": p.id, "title": s.title, "parent": s.parent_id, "position": s.position });
    record(&txn, actor, audit("ADD_POLICY_SECTION", "PolicySection", s.id, &p, summary)).await?;
    super::search::index_section(&txn, &p, &s).await?;
    txn.commit().await?;
    Ok(allowed.grant(s))
}

pub struct SectionPatch {
    pub id: i32,
    pub expected_version: i32,
    pub title: Option<String>,
    pub body: Option<String>,
    /// The contributions this edit takes up: the next version lists them behind the
    /// section.
    pub contribution_ids: Vec<i32>,
}

pub async fn update_section(
    state: &AppState,
    actor: &Actor,
    input: SectionPatch,
) -> AppResult<Granted<policy_section::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let s = section_of(&txn, input.id).await?;
    let (p, allowed) = drafting(&txn, actor, s.policy_id).await?;
    let (title, body) =
        section_text(input.title.as_deref().unwrap_or(&s.title), input.body.as_deref().unwrap_or(&s.body))?;
    let res = policy_section::Entity::update_many()
        .col_expr(policy_section::Column::Title, Expr::value(title))
        .col_expr(policy_section::Column::Body, Expr::value(body))
        .col_expr(policy_section::Column::Version, Expr::value(next_version(input.expected_version)?))
        .col_expr(policy_section::Column::UpdatedAt, Expr::value(Utc::now()))
        .col_expr(
            policy_section::Column::UpdatedByAccountId,
            Expr::value(actor.principal.as_ref().map(|x| x.account_id)),
        )
        .filter(policy_section::Column::Id.eq(s.id))
        .filter(policy_section::Column::Version.eq(input.expected_version))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "section", s.version, input.expected_version)?;
    for c in &input.contribution_ids {
        let ours = crate::policies::model::policy_contribution::Entity::find_by_id(*c)
            .one(&txn)
            .await?
            .is_some_and(|x| x.policy_id == p.id);
        if !ours {
            return Err(AppError::validation("contributionIds", "each must be a contribution to this policy"));
        }
        super::contributions::trace(&txn, p.id, s.id, *c).await?;
    }
    let taken = &input.contribution_ids;
    written(txn, actor, &allowed, "UPDATE_POLICY_SECTION", &p, s.id, |after| {
        json!({ "policy": p.id, "title": after.title, "bytes": after.body.len(), "version": after.version, "contributions": taken })
    })
    .await
}

/// Ends a section's write: reads it back, audits it, commits, grants it to its writer.
async fn written(
    txn: sea_orm::DatabaseTransaction,
    actor: &Actor,
    allowed: &crate::auth::Pass,
    action: &str,
    p: &policy::Model,
    id: i32,
    summary: impl FnOnce(&policy_section::Model) -> serde_json::Value,
) -> AppResult<Granted<policy_section::Model>> {
    let after = section_of(&txn, id).await?;
    record(&txn, actor, audit(action, "PolicySection", id, p, summary(&after))).await?;
    super::search::index_section(&txn, p, &after).await?;
    txn.commit().await?;
    Ok(allowed.grant(after))
}

pub struct SectionMove {
    pub id: i32,
    pub expected_version: i32,
    pub parent_id: Option<i32>,
    pub position: i32,
}

pub async fn move_section(
    state: &AppState,
    actor: &Actor,
    input: SectionMove,
) -> AppResult<Granted<policy_section::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let s = section_of(&txn, input.id).await?;
    let (p, allowed) = drafting(&txn, actor, s.policy_id).await?;
    if s.version != input.expected_version {
        return Err(AppError::stale("section", s.version, input.expected_version));
    }
    let all = sections(&txn, p.id).await?;
    if let Some(parent) = input.parent_id {
        if !all.iter().any(|x| x.id == parent) {
            return Err(AppError::validation("parentId", "the parent section is not in this policy's text"));
        }
    }
    can_place(&places(&all), s.id, input.parent_id).map_err(|m| AppError::validation("parentId", m))?;
    // Out of its place, then into the new one.
    shift(&txn, p.id, s.parent_id, s.position + 1, -1).await?;
    let position = slot(&txn, p.id, input.parent_id, Some(input.position), Some(s.id)).await?;
    shift(&txn, p.id, input.parent_id, position, 1).await?;
    let res = policy_section::Entity::update_many()
        .col_expr(policy_section::Column::ParentId, Expr::value(input.parent_id))
        .col_expr(policy_section::Column::Position, Expr::value(position))
        .col_expr(policy_section::Column::Version, Expr::value(next_version(input.expected_version)?))
        .col_expr(policy_section::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(policy_section::Column::Id.eq(s.id))
        .filter(policy_section::Column::Version.eq(input.expected_version))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "section", s.version, input.expected_version)?;
    written(
        txn,
        actor,
        &allowed,
        "MOVE_POLICY_SECTION",
        &p,
        s.id,
        |after| json!({ "policy": p.id, "from": [s.parent_id, s.position], "to": [after.parent_id, after.position] }),
    )
    .await
}

pub async fn remove_section(state: &AppState, actor: &Actor, id: i32, expected_version: i32) -> AppResult<bool> {
    let txn = crate::db::write(&state.db).await?;
    let s = section_of(&txn, id).await?;
    let (p, _) = drafting(&txn, actor, s.policy_id).await?;
    let children = policy_section::Entity::find().filter(policy_section::Column::ParentId.eq(s.id)).count(&txn).await?;
    if children > 0 {
        return Err(AppError::validation("id", "this section holds sections: move or remove them first"));
    }
    let res = policy_section::Entity::delete_many()
        .filter(policy_section::Column::Id.eq(s.id))
        .filter(policy_section::Column::Version.eq(expected_version))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "section", s.version, expected_version)?;
    shift(&txn, p.id, s.parent_id, s.position + 1, -1).await?;
    let summary = json!({ "policy": p.id, "title": s.title });
    record(&txn, actor, audit("REMOVE_POLICY_SECTION", "PolicySection", s.id, &p, summary)).await?;
    super::search::unindex(&txn, super::search::SearchHitKind::Section, s.id).await?;
    txn.commit().await?;
    Ok(true)
}
