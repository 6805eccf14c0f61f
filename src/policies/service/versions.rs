//! Versions: publishing freezes the whole working text as version N (immutable, dated,
//! with its change note); any two versions compare section by section.
use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::{audit, draft_action, lock_policy};
use crate::audit::service::record;
use crate::auth::policy::pass;
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::platform::text::required;
use crate::policies::model::{policy, policy_section_source, policy_version, policy_version_section};
use crate::policies::queries::{latest_version, places, sections, texts, version_numbered, version_sections};
use crate::policies::rules::{compare, outline, PolicyStatus, SectionChange};
use crate::AppState;

/// Rows per insert statement (9 columns each: well within both databases' limits).
const ROWS_PER_INSERT: usize = 200;

pub async fn publish_version(
    state: &AppState,
    actor: &Actor,
    policy_id: i32,
    change_note: &str,
) -> AppResult<Granted<policy_version::Model>> {
    let txn = crate::db::write(&state.db).await?;
    // Under the policy's lock: no section edit of this policy commits meanwhile (they take
    // it too), so the version holds exactly the committed text.
    let p = lock_policy(&txn, policy_id).await?;
    let allowed = pass(&txn, actor, draft_action(&p)).await?;
    if !matches!(p.status, PolicyStatus::Drafting | PolicyStatus::Concertation) {
        return Err(AppError::rule(
            "INVALID_TRANSITION",
            format!("a version is published while drafting or in concertation, not in {}", p.status.as_str()),
        ));
    }
    let note = required("changeNote", change_note, 2_000)?;
    let all = sections(&txn, p.id).await?;
    if all.is_empty() {
        return Err(AppError::validation("policyId", "the text has no section to publish"));
    }
    let number = latest_version(&txn, p.id).await?.map_or(1, |v| v.number + 1);
    let v = policy_version::ActiveModel {
        policy_id: Set(p.id),
        number: Set(number),
        cycle: Set(p.cycle),
        change_note: Set(note),
        published_at: Set(Utc::now()),
        published_by_account_id: Set(actor.principal.as_ref().map(|x| x.account_id)),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let by_id: std::collections::HashMap<i32, &crate::policies::model::policy_section::Model> =
        all.iter().map(|s| (s.id, s)).collect();
    let rows: Vec<policy_version_section::ActiveModel> = outline(&places(&all))
        .into_iter()
        .enumerate()
        .filter_map(|(ordinal, (place, label, _))| {
            let s = by_id.get(&place.id)?;
            Some(policy_version_section::ActiveModel {
                version_id: Set(v.id),
                section_id: Set(s.id),
                parent_id: Set(s.parent_id),
                position: Set(s.position),
                ordinal: Set(i32::try_from(ordinal).unwrap_or(i32::MAX)),
                label: Set(label),
                title: Set(s.title.clone()),
                body: Set(s.body.clone()),
                ..Default::default()
            })
        })
        .collect();
    let frozen = rows.len();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<_> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        policy_version_section::Entity::insert_many(batch).exec_without_returning(&txn).await?;
    }
    super::search::index_version(&txn, &p, &version_sections(&txn, v.id).await?).await?;
    // The contributions behind changes since the last version go into this one.
    let traced = policy_section_source::Entity::update_many()
        .col_expr(policy_section_source::Column::VersionId, Expr::value(v.id))
        .filter(policy_section_source::Column::PolicyId.eq(p.id))
        .filter(policy_section_source::Column::VersionId.is_null())
        .exec(&txn)
        .await?;
    policy::Entity::update_many()
        .col_expr(policy::Column::Version, Expr::col(policy::Column::Version).add(1))
        .filter(policy::Column::Id.eq(p.id))
        .exec(&txn)
        .await?;
    let event = crate::platform::notify::Event::PolicyVersionPublished { policy: p.id, title: p.title.clone(), number };
    super::tell_communes(&txn, actor, &p, event).await?;
    let summary =
        json!({ "policy": p.id, "number": number, "sections": frozen, "contributions": traced.rows_affected });
    record(&txn, actor, audit("PUBLISH_POLICY_VERSION", "PolicyVersion", v.id, &p, summary)).await?;
    txn.commit().await?;
    Ok(allowed.grant(v))
}

/// How version `to` differs from version `from` of the policy (numbers), section by section.
pub async fn compare_versions<C: ConnectionTrait>(
    db: &C,
    policy_id: i32,
    from: i32,
    to: i32,
) -> AppResult<Vec<SectionChange>> {
    let a = version_numbered(db, policy_id, from).await?;
    let b = version_numbered(db, policy_id, to).await?;
    let old = texts(&version_sections(db, a.id).await?);
    let new = texts(&version_sections(db, b.id).await?);
    // Up to half a second of diffing (rules::COMPARE_BUDGET): off the runtime's threads.
    tokio::task::spawn_blocking(move || compare(&old, &new)).await.map_err(AppError::internal)
}
