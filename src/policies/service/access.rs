//! Who sees what of a policy: the view checks, the visibility-filtered list, and the
//! named rules that grant a policy's children from the policy's grant.
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::draft_action;
use crate::auth::policy::{pass, Action};
use crate::auth::{Actor, Granted};
use crate::error::AppResult;
use crate::policies::model::{policy, policy_contribution, policy_section, policy_version};
use crate::policies::queries::{policy_of, published, sections};
use crate::policies::rules::ContributionVisibility;

pub(super) fn see_action(p: &policy::Model, published: bool) -> Action {
    Action::SeePolicy {
        intercommunality: p.intercommunality_id,
        lead_mandate: p.lead_mandate_id,
        drafting_body: p.drafting_body_id,
        published,
    }
}

/// A policy, if the actor may see it: its drafting team and the secretariat always; the
/// president, the members of its drafting body and the people of the intercommunality
/// and its member communes once a version is published.
pub async fn view<C: ConnectionTrait>(db: &C, actor: &Actor, id: i32) -> AppResult<Granted<policy::Model>> {
    let p = policy_of(db, id).await?;
    let has = published(db, p.id).await?;
    Ok(pass(db, actor, see_action(&p, has)).await?.grant(p))
}

/// The intercommunality's policies the actor may see, by title.
pub async fn visible_policies<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    intercommunality: i32,
) -> AppResult<Vec<Granted<policy::Model>>> {
    let rows = policy::Entity::find().filter(policy::Column::IntercommunalityId.eq(intercommunality)).all(db).await?;
    let with_version: std::collections::HashSet<i32> = policy_version::Entity::find()
        .filter(policy_version::Column::PolicyId.is_in(rows.iter().map(|p| p.id)))
        .all(db)
        .await?
        .into_iter()
        .map(|v| v.policy_id)
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for p in rows {
        // The actor's mandates are read once per request (`Actor::once_per_read`): each
        // check after the first costs no statement but the drafting body's.
        let action = see_action(&p, with_version.contains(&p.id));
        match pass(db, actor, action).await {
            Ok(allowed) => out.push(allowed.grant(p)),
            Err(crate::error::AppError::Forbidden(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The working text of a policy: its drafting team's only.
pub async fn draft_of<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    p: &Granted<policy::Model>,
) -> AppResult<Vec<Granted<policy_section::Model>>> {
    let allowed = pass(db, actor, draft_action(p)).await?;
    Ok(sections(db, p.id).await?.into_iter().map(|s| allowed.grant(s)).collect())
}

/// A policy's consultations are seen by whoever sees it (their referral's and agenda
/// item's own contents keep their own rights: the consultation names them).
pub fn policy_consultation(
    p: &Granted<policy::Model>,
    c: crate::policies::model::policy_consultation::Model,
) -> Granted<crate::policies::model::policy_consultation::Model> {
    p.vouch(c)
}

/// A policy's drafting body, as a directory entry (its name, kind, theme), is seen by
/// whoever sees the policy; what the body holds keeps its own rights.
pub fn drafting_body(
    p: &Granted<policy::Model>,
    b: crate::meetings::model::body::Model,
) -> Granted<crate::meetings::model::body::Model> {
    p.vouch(b)
}

/// The approval path is seen by whoever sees its policy.
pub fn policy_step(
    p: &Granted<policy::Model>,
    s: crate::policies::model::policy_step::Model,
) -> Granted<crate::policies::model::policy_step::Model> {
    p.vouch(s)
}

/// A published version is seen by whoever sees its policy.
pub fn policy_version(p: &Granted<policy::Model>, v: policy_version::Model) -> Granted<policy_version::Model> {
    p.vouch(v)
}

/// One section of a working text, for its drafting team.
pub async fn section<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    s: policy_section::Model,
) -> AppResult<Granted<policy_section::Model>> {
    let p = policy_of(db, s.policy_id).await?;
    Ok(pass(db, actor, draft_action(&p)).await?.grant(s))
}

/// The contributions to a policy a reader sees: the drafting team all of them; others
/// those visible to the communes, their own, and those of the communes they act for.
pub async fn contributions_of<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    p: &Granted<policy::Model>,
) -> AppResult<Vec<Granted<policy_contribution::Model>>> {
    let rows =
        policy_contribution::Entity::find().filter(policy_contribution::Column::PolicyId.eq(p.id)).all(db).await?;
    let team = match pass(db, actor, draft_action(p)).await {
        Ok(_) => true,
        Err(crate::error::AppError::Forbidden(_)) => false,
        Err(e) => return Err(e),
    };
    let me = actor.principal.as_ref().map(|x| x.person_id);
    let communes =
        if team { Default::default() } else { crate::auth::policy::acting_for(db, actor).await?.drafts.clone() };
    Ok(rows
        .into_iter()
        .filter(|c| {
            team || c.visibility == ContributionVisibility::Communes
                || Some(c.author_person_id) == me
                || c.commune_id.is_some_and(|x| communes.contains(&x))
        })
        .map(|c| p.vouch(c))
        .collect())
}
