//! Mayors' requests.
use std::collections::HashSet;

use chrono::{Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::audit;
use crate::audit::service::record;
use crate::auth::policy::{authorize, Action};
use crate::auth::Actor;
use crate::error::{AppError, AppResult};
use crate::meetings::model::{body, meeting_request, request_signature};
use crate::meetings::queries::body_of;
use crate::meetings::rules::{
    paris_day, paris_year, signatures_needed, BodyKind, RequestStatus, REQUESTS_PER_YEAR, REQUEST_CONVENE_DAYS,
};
use crate::people::model::mandate;
use crate::people::rules::Role;
use crate::people::service::runs_on;
use crate::platform::text::required;
use crate::platform::versions::expect_one;
use crate::territory::queries::{member_communes, member_communes_on};
use crate::AppState;

/// A mayor opens a request for a conference with its agenda, and signs it.
pub async fn create_request(
    state: &AppState,
    actor: &Actor,
    body_id: i32,
    agenda: String,
) -> AppResult<meeting_request::Model> {
    let txn = crate::db::write(&state.db).await?;
    let b = body_of(&txn, body_id).await?;
    if b.kind != BodyKind::ConferenceOfMayors {
        return Err(AppError::validation("bodyId", "mayors request a meeting of the conference of mayors"));
    }
    let p = authorize(&txn, actor, Action::SignRequest { intercommunality: b.intercommunality_id })
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let agenda = required("agenda", &agenda, 20_000)?;
    let r = meeting_request::ActiveModel {
        body_id: Set(body_id),
        agenda: Set(agenda),
        status: Set(RequestStatus::Open),
        created_by_person_id: Set(p.person_id),
        created_at: Set(Utc::now()),
        granted_at: Set(None),
        due_date: Set(None),
        refusal_reason: Set(None),
        meeting_id: Set(None),
        version: Set(1),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    record(&txn, actor, audit("CREATE_MEETING_REQUEST", "MeetingRequest", r.id, &b, json!({ "agenda": r.agenda })))
        .await?;
    sign_in_txn(&txn, actor, &b, &r).await?;
    let after =
        meeting_request::Entity::find_by_id(r.id).one(&txn).await?.ok_or_else(|| AppError::not_found("request"))?;
    txn.commit().await?;
    Ok(after)
}

pub async fn sign_request(state: &AppState, actor: &Actor, id: i32) -> AppResult<meeting_request::Model> {
    let txn = crate::db::write(&state.db).await?;
    let r = meeting_request::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| AppError::not_found("request"))?;
    let b = body_of(&txn, r.body_id).await?;
    authorize(&txn, actor, Action::SignRequest { intercommunality: b.intercommunality_id }).await?;
    // Serialise signatures of one request (the threshold is checked after each).
    let res = meeting_request::Entity::update_many()
        .col_expr(
            meeting_request::Column::Version,
            sea_orm::sea_query::ExprTrait::add(Expr::col(meeting_request::Column::Version), 1),
        )
        .filter(meeting_request::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "request", r.version, r.version)?;
    let r = meeting_request::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| AppError::not_found("request"))?;
    sign_in_txn(&txn, actor, &b, &r).await?;
    let after =
        meeting_request::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| AppError::not_found("request"))?;
    txn.commit().await?;
    Ok(after)
}

/// Signatures of a request that count today: their signer is still the mayor of a member
/// commune (a mayor replaced since signing no longer counts; the successor may sign).
pub async fn counting_signatures<C: ConnectionTrait>(
    db: &C,
    r: &meeting_request::Model,
    b: &body::Model,
) -> AppResult<(usize, usize)> {
    let today = crate::time::today_paris();
    let communes = member_communes_on(db, b.intercommunality_id, today).await?;
    let sigs = request_signature::Entity::find().filter(request_signature::Column::RequestId.eq(r.id)).all(db).await?;
    let mandate_ids: Vec<i32> = sigs.iter().map(|s| s.mandate_id).collect();
    let running: HashSet<i32> = mandate::Entity::find()
        .filter(mandate::Column::Id.is_in(mandate_ids))
        .all(db)
        .await?
        .into_iter()
        .filter(|m| runs_on(m, today))
        .map(|m| m.id)
        .collect();
    let member: HashSet<i32> = communes.iter().copied().collect();
    let valid = sigs.iter().filter(|s| running.contains(&s.mandate_id) && member.contains(&s.commune_id)).count();
    Ok((valid, signatures_needed(communes.len())))
}

pub(super) async fn sign_in_txn<C: ConnectionTrait>(
    txn: &C,
    actor: &Actor,
    b: &body::Model,
    r: &meeting_request::Model,
) -> AppResult<()> {
    if r.status != RequestStatus::Open {
        return Err(AppError::rule("INVALID_TRANSITION", format!("this request is {}", r.status)));
    }
    let members: HashSet<i32> = member_communes(txn, b.intercommunality_id).await?;
    let (mandate_id, commune_id) = actor
        .current_mandates(txn)
        .await?
        .iter()
        .filter(|m| m.role == Role::Mayor)
        .find_map(|m| m.commune_id.filter(|c| members.contains(c)).map(|c| (m.id, c)))
        .ok_or_else(|| AppError::forbidden("only a mayor of a member commune signs"))?;
    let person = actor.require()?.person_id;
    let already = request_signature::Entity::find()
        .filter(request_signature::Column::RequestId.eq(r.id))
        .filter(request_signature::Column::CommuneId.eq(commune_id))
        .all(txn)
        .await?;
    if already.iter().any(|s| s.mandate_id == mandate_id) {
        return Err(AppError::Conflict("you have already signed this request".into()));
    }
    // A successor replaces the signature of a mayor no longer in office.
    request_signature::Entity::delete_many()
        .filter(request_signature::Column::RequestId.eq(r.id))
        .filter(request_signature::Column::CommuneId.eq(commune_id))
        .exec(txn)
        .await?;
    let now = Utc::now();
    request_signature::ActiveModel {
        request_id: Set(r.id),
        person_id: Set(person),
        commune_id: Set(commune_id),
        mandate_id: Set(mandate_id),
        signed_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let (valid, needed) = counting_signatures(txn, r, b).await?;
    let mut summary = json!({ "commune": commune_id, "signatures": valid, "needed": needed });
    if valid >= needed {
        // Lock the body: two requests crossing the threshold at once are counted one after
        // the other against the yearly limit.
        body::Entity::update_many()
            .col_expr(body::Column::Version, Expr::col(body::Column::Version))
            .filter(body::Column::Id.eq(b.id))
            .exec(txn)
            .await?;
        let year = paris_year(now);
        let granted = meeting_request::Entity::find()
            .filter(meeting_request::Column::BodyId.eq(b.id))
            .filter(meeting_request::Column::GrantedAt.is_not_null())
            .all(txn)
            .await?
            .into_iter()
            .filter(|x| x.id != r.id && x.granted_at.is_some_and(|g| paris_year(g) == year))
            .count();
        let (status, due, reason) = if granted >= REQUESTS_PER_YEAR {
            (
                RequestStatus::Refused,
                None,
                Some(format!(
                    "{granted} requests were already granted in {year}: the conference meets at the mayors' request at most {REQUESTS_PER_YEAR} times a year (L5211-11-3)"
                )),
            )
        } else {
            (RequestStatus::Granted, Some(paris_day(now) + Duration::days(REQUEST_CONVENE_DAYS)), None)
        };
        let mut q = meeting_request::Entity::update_many()
            .col_expr(meeting_request::Column::Status, Expr::value(status))
            .col_expr(meeting_request::Column::DueDate, Expr::value(due))
            .col_expr(meeting_request::Column::RefusalReason, Expr::value(reason.clone()));
        if status == RequestStatus::Granted {
            q = q.col_expr(meeting_request::Column::GrantedAt, Expr::value(Some(now)));
        }
        q.filter(meeting_request::Column::Id.eq(r.id)).exec(txn).await?;
        summary["status"] = json!(status.as_str());
        summary["dueDate"] = json!(due);
    }
    record(txn, actor, audit("SIGN_MEETING_REQUEST", "MeetingRequest", r.id, b, summary)).await
}
