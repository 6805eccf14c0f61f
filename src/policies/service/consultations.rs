//! Consultations: a published version put to the communes as a referral (its procedures,
//! outcome, silence and majorities apply as they do) or to the conference of mayors as an
//! agenda item of kind OPINION; their answers are read back onto the policy.
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use super::{audit, lock_policy};
use crate::audit::service::record;
use crate::auth::policy::{pass, Action};
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::meetings::model::{agenda_item, body, meeting};
use crate::meetings::rules::AgendaItemKind;
use crate::policies::model::{policy, policy_consultation};
use crate::policies::queries::version_numbered;
use crate::policies::rules::PolicyStatus;
use crate::referrals::model::referral;
use crate::AppState;

pub struct NewConsultation {
    pub policy_id: i32,
    pub version_number: i32,
    pub referral_id: Option<i32>,
    pub agenda_item_id: Option<i32>,
}

/// The consultations of a policy, oldest first.
pub async fn consultations<C: ConnectionTrait>(
    db: &C,
    p: &policy::Model,
) -> AppResult<Vec<policy_consultation::Model>> {
    Ok(policy_consultation::Entity::find()
        .filter(policy_consultation::Column::PolicyId.eq(p.id))
        .order_by_asc(policy_consultation::Column::Id)
        .all(db)
        .await?)
}

/// Binds a referral or an OPINION agenda item of the policy's intercommunality to one of
/// its published versions (the secretariat, in consultation or approval).
pub async fn add_consultation(
    state: &AppState,
    actor: &Actor,
    input: NewConsultation,
) -> AppResult<Granted<policy_consultation::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let p = lock_policy(&txn, input.policy_id).await?;
    let allowed = pass(&txn, actor, Action::ManagePolicies { intercommunality: p.intercommunality_id }).await?;
    if !matches!(p.status, PolicyStatus::Consultation | PolicyStatus::Approval) {
        return Err(AppError::rule(
            "INVALID_TRANSITION",
            format!("a version is put to consultation in consultation or approval, not in {}", p.status.as_str()),
        ));
    }
    let v = version_numbered(&txn, p.id, input.version_number)
        .await
        .map_err(|e| e.missing_as("versionNumber", "a consultation is on a published version"))?;
    match (input.referral_id, input.agenda_item_id) {
        (Some(r), None) => {
            let ours = referral::Entity::find_by_id(r)
                .one(&txn)
                .await?
                .is_some_and(|x| x.intercommunality_id == Some(p.intercommunality_id));
            if !ours {
                return Err(AppError::validation("referralId", "a referral of the policy's intercommunality"));
            }
        }
        (None, Some(i)) => {
            let item = agenda_item::Entity::find_by_id(i).one(&txn).await?;
            let m = match &item {
                Some(item) => meeting::Entity::find_by_id(item.meeting_id).one(&txn).await?,
                None => None,
            };
            let b = match &m {
                Some(m) => body::Entity::find_by_id(m.body_id).one(&txn).await?,
                None => None,
            };
            let ours = b.is_some_and(|b| b.intercommunality_id == p.intercommunality_id);
            if !ours || item.is_none_or(|i| i.kind != AgendaItemKind::Opinion) {
                return Err(AppError::validation(
                    "agendaItemId",
                    "an OPINION agenda item of a meeting of the policy's intercommunality",
                ));
            }
        }
        _ => return Err(AppError::validation("referralId", "give a referral or an agenda item, one of them")),
    }
    let c = policy_consultation::ActiveModel {
        policy_id: Set(p.id),
        version_id: Set(v.id),
        referral_id: Set(input.referral_id),
        agenda_item_id: Set(input.agenda_item_id),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let summary =
        json!({ "policy": p.id, "version": v.number, "referral": c.referral_id, "agendaItem": c.agenda_item_id });
    record(&txn, actor, audit("ADD_POLICY_CONSULTATION", "PolicyConsultation", c.id, &p, summary)).await?;
    txn.commit().await?;
    Ok(allowed.grant(c))
}
