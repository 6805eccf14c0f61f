//! Read-only facts about referrals that other modules and the policy use: who acts for
//! which commune, which communes a referral is addressed to. Never imports the policy (it
//! reads these through `auth::facts`).
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::model::{referral_addressee, signature_delegation};
use crate::error::AppResult;
use crate::people::model::mandate;
use crate::people::queries::runs_on;
use crate::people::rules::Role;

/// The communes a person acts for today: drafting (mayor, deputy mayor with a
/// delegation, DGS, signature delegate) and submitting (mayor, signature delegate).
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Acting {
    pub drafts: Vec<i32>,
    pub submits: Vec<i32>,
}

impl Acting {
    /// What a person holding the `current` mandates acts for, given the communes whose
    /// mayor's signature they hold today (`signature_delegations`): a delegation counts
    /// only where the delegate serves the commune today.
    pub fn of(current: &[mandate::Model], delegated: &[i32]) -> Acting {
        let mut a = Acting::default();
        for m in current {
            let Some(c) = m.commune_id else { continue };
            match m.role {
                Role::Mayor => {
                    a.drafts.push(c);
                    a.submits.push(c);
                }
                Role::DeputyMayor if m.delegation.as_deref().is_some_and(|d| !d.trim().is_empty()) => a.drafts.push(c),
                Role::Dgs => a.drafts.push(c),
                _ => {}
            }
        }
        for &c in delegated {
            if current.iter().any(|m| m.commune_id == Some(c)) {
                a.drafts.push(c);
                a.submits.push(c);
            }
        }
        for v in [&mut a.drafts, &mut a.submits] {
            v.sort_unstable();
            v.dedup();
        }
        a
    }
}

/// The communes whose mayor's signature the person holds today: a running delegation
/// given by a mayor still in office.
pub async fn signature_delegations<C: ConnectionTrait>(db: &C, person_id: i32) -> AppResult<Vec<i32>> {
    let today = crate::time::today_paris();
    let delegations = signature_delegation::Entity::find()
        .filter(signature_delegation::Column::PersonId.eq(person_id))
        .all(db)
        .await?;
    let live: Vec<_> =
        delegations.into_iter().filter(|d| d.start_date <= today && d.end_date.is_none_or(|e| today < e)).collect();
    if live.is_empty() {
        return Ok(Vec::new());
    }
    let mayors = mandate::Entity::find()
        .filter(mandate::Column::Id.is_in(live.iter().map(|d| d.mayor_mandate_id)))
        .all(db)
        .await?;
    Ok(live
        .into_iter()
        .filter(|d| mayors.iter().any(|m| m.id == d.mayor_mandate_id && runs_on(m, today)))
        .map(|d| d.commune_id)
        .collect())
}

/// Whether the referral is addressed to one of `communes`.
pub async fn addressed_to_any<C: ConnectionTrait>(db: &C, referral_id: i32, communes: &[i32]) -> AppResult<bool> {
    if communes.is_empty() {
        return Ok(false);
    }
    let n = referral_addressee::Entity::find()
        .filter(referral_addressee::Column::ReferralId.eq(referral_id))
        .filter(referral_addressee::Column::CommuneId.is_in(communes.iter().copied()))
        .count(db)
        .await?;
    Ok(n > 0)
}
