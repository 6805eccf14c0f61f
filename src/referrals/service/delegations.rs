//! Signature delegations.
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use crate::audit::service::{record, Entry};
use crate::auth::policy::{authorize, Action};
use crate::auth::Actor;
use crate::error::{AppError, AppResult};
use crate::people::model::mandate;
use crate::people::rules::Role;
use crate::people::service::runs_on;
use crate::referrals::model::signature_delegation;
use crate::AppState;

/// The mayor delegates their signature for referral responses to a person who serves
/// the commune today (a deputy mayor, councillor, DGS...). It ends with the mayor's
/// mandate, or when revoked.
pub async fn grant_signature(
    state: &AppState,
    actor: &Actor,
    commune_id: i32,
    person_id: i32,
) -> AppResult<signature_delegation::Model> {
    let txn = crate::db::write(&state.db).await?;
    authorize(&txn, actor, Action::DelegateSignature { commune: commune_id }).await?;
    let today = crate::time::today_paris();
    let held = mandate::Entity::find()
        .filter(mandate::Column::CommuneId.eq(commune_id))
        .all(&txn)
        .await?
        .into_iter()
        .filter(|m| runs_on(m, today))
        .collect::<Vec<_>>();
    let mayor = held
        .iter()
        .find(|m| m.role == Role::Mayor)
        .ok_or_else(|| AppError::rule("SEAT_VACANT", "the commune has no mayor today"))?;
    if mayor.person_id == person_id {
        return Err(AppError::validation("personId", "the mayor signs without a delegation"));
    }
    if !held.iter().any(|m| m.person_id == person_id && m.role != Role::Mayor) {
        return Err(AppError::validation("personId", "a signature is delegated to someone serving the commune today"));
    }
    let scope = crate::territory::queries::current_intercommunalities_of(&txn, commune_id).await?.first().copied();
    let d = signature_delegation::ActiveModel {
        commune_id: Set(commune_id),
        person_id: Set(person_id),
        mayor_mandate_id: Set(mayor.id),
        start_date: Set(today),
        end_date: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    record(
        &txn,
        actor,
        Entry {
            action: "GRANT_SIGNATURE_DELEGATION",
            target_type: "SignatureDelegation",
            target_id: Some(d.id),
            scope,
            summary: json!({ "commune": commune_id, "person": person_id, "mayorMandate": mayor.id }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(d)
}

pub async fn revoke_signature(state: &AppState, actor: &Actor, id: i32) -> AppResult<signature_delegation::Model> {
    let txn = crate::db::write(&state.db).await?;
    let d = signature_delegation::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("signature delegation"))?;
    authorize(&txn, actor, Action::DelegateSignature { commune: d.commune_id }).await?;
    let today = crate::time::today_paris();
    if d.end_date.is_some_and(|e| e <= today) {
        return Err(AppError::rule("INVALID_TRANSITION", "this delegation has already ended"));
    }
    let scope = crate::territory::queries::current_intercommunalities_of(&txn, d.commune_id).await?.first().copied();
    // Ended only if it still runs, in the same statement: of two revocations racing on
    // PostgreSQL (where the read above takes no lock), one ends it, the other is refused.
    use signature_delegation::Column as D;
    let ended = signature_delegation::Entity::update_many()
        .col_expr(D::EndDate, Expr::value(Some(today)))
        .filter(D::Id.eq(d.id))
        .filter(sea_orm::Condition::any().add(D::EndDate.is_null()).add(D::EndDate.gt(today)))
        .exec(&txn)
        .await?;
    if ended.rows_affected != 1 {
        return Err(AppError::Conflict("this delegation was revoked meanwhile; reload".into()));
    }
    let d = signature_delegation::Entity::find_by_id(d.id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("signature delegation"))?;
    record(
        &txn,
        actor,
        Entry {
            action: "REVOKE_SIGNATURE_DELEGATION",
            target_type: "SignatureDelegation",
            target_id: Some(d.id),
            scope,
            summary: json!({ "commune": d.commune_id, "person": d.person_id }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(d)
}

/// Whether the actor sees every signature delegation of `commune`: its mayor (who grants
/// them) and the secretariat of an intercommunality it belongs to do; others see only
/// those given to them.
async fn sees_all_delegations<C: ConnectionTrait>(db: &C, actor: &Actor, commune: i32) -> AppResult<bool> {
    use crate::auth::policy::granted;
    if granted(authorize(db, actor, Action::DelegateSignature { commune }).await)? {
        return Ok(true);
    }
    for e in crate::territory::queries::current_intercommunalities_of(db, commune).await? {
        if granted(authorize(db, actor, Action::ManageReferrals { intercommunality: Some(e) }).await)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The signature delegations of `commune` the actor sees, newest first.
pub async fn delegations_of<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    commune: i32,
) -> AppResult<Vec<signature_delegation::Model>> {
    let p = actor.require()?;
    let mut q = signature_delegation::Entity::find().filter(signature_delegation::Column::CommuneId.eq(commune));
    if !sees_all_delegations(db, actor, commune).await? {
        q = q.filter(signature_delegation::Column::PersonId.eq(p.person_id));
    }
    Ok(q.order_by_desc(signature_delegation::Column::Id).all(db).await?)
}

/// A signature delegation, if the actor sees it in its commune's list (`delegations_of`);
/// None when it does not exist or is not theirs to see.
pub async fn delegation_for<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: i32,
) -> AppResult<Option<signature_delegation::Model>> {
    let p = actor.require()?;
    let Some(d) = signature_delegation::Entity::find_by_id(id).one(db).await? else { return Ok(None) };
    let seen = d.person_id == p.person_id || sees_all_delegations(db, actor, d.commune_id).await?;
    Ok(seen.then_some(d))
}
