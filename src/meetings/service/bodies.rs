//! Bodies.
use chrono::{NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::audit;
use crate::audit::service::record;
use crate::auth::policy::{authorize, pass, Action};
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::meetings::model::{body, body_seat};
use crate::meetings::queries::body_of;
use crate::meetings::rules::{BodyKind, QuorumRule, SeatRole};
use crate::people::model::mandate;
use crate::people::rules::Role;
use crate::people::service::runs_on;
use crate::platform::text::{optional, required};
use crate::platform::versions::{expect_one, next_version};
use crate::territory::queries::member_communes;
use crate::AppState;

pub struct NewBody {
    pub intercommunality_id: i32,
    pub kind: BodyKind,
    pub name: String,
    pub theme: Option<String>,
}

pub async fn create_body(state: &AppState, actor: &Actor, input: NewBody) -> AppResult<Granted<body::Model>> {
    let txn = crate::db::write(&state.db).await?;
    crate::territory::model::intercommunality::Entity::find_by_id(input.intercommunality_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("intercommunality"))?;
    let allowed = pass(&txn, actor, Action::ManageMeetings { intercommunality: input.intercommunality_id }).await?;
    let name = required("name", &input.name, 200)?;
    let theme = optional("theme", input.theme.as_deref(), 300)?;
    if input.kind == BodyKind::WorkingGroup && theme.is_none() {
        return Err(AppError::validation("theme", "a working group needs its theme"));
    }
    let p = input.kind.default_profile();
    let now = Utc::now();
    let b = body::ActiveModel {
        intercommunality_id: Set(input.intercommunality_id),
        kind: Set(input.kind),
        name: Set(name),
        theme: Set(theme),
        notice_clear_days: Set(p.notice_clear_days),
        urgency_clear_days: Set(p.urgency_clear_days),
        note_required: Set(p.note_required),
        quorum_rule: Set(p.quorum_rule),
        proxies_allowed: Set(p.proxies_allowed),
        proxies_per_holder: Set(p.proxies_per_holder),
        proxy_max_meetings: Set(p.proxy_max_meetings),
        second_convocation_days: Set(p.second_convocation_days),
        legal_source: Set(p.legal_source),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    record(&txn, actor, audit("CREATE_BODY", "Body", b.id, &b, json!({ "kind": b.kind, "name": b.name }))).await?;
    txn.commit().await?;
    Ok(allowed.grant(b))
}

/// Overrides of a body's rule profile (its règlement intérieur); None keeps a value.
#[derive(Default)]
pub struct RulesPatch {
    pub notice_clear_days: Option<i32>,
    pub urgency_clear_days: Option<i32>,
    pub note_required: Option<bool>,
    pub quorum_rule: Option<QuorumRule>,
    pub proxies_allowed: Option<bool>,
    pub proxies_per_holder: Option<i32>,
    pub proxy_max_meetings: Option<i32>,
    pub second_convocation_days: Option<i32>,
    pub legal_source: Option<String>,
}

pub async fn update_body_rules(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
    patch: RulesPatch,
) -> AppResult<Granted<body::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let b = body_of(&txn, id).await?;
    let allowed = pass(&txn, actor, Action::ManageMeetings { intercommunality: b.intercommunality_id }).await?;
    let range = |field: &str, v: Option<i32>, lo: i32, hi: i32| -> AppResult<Option<i32>> {
        match v {
            Some(n) if n < lo || n > hi => {
                Err(AppError::validation(field, format!("{field} must be from {lo} to {hi}")))
            }
            other => Ok(other),
        }
    };
    let notice = range("noticeClearDays", patch.notice_clear_days, 0, 60)?;
    let urgency = range("urgencyClearDays", patch.urgency_clear_days, 0, 60)?;
    let per_holder = range("proxiesPerHolder", patch.proxies_per_holder, 1, 5)?;
    let max_meetings = range("proxyMaxMeetings", patch.proxy_max_meetings, 1, 12)?;
    let second = range("secondConvocationDays", patch.second_convocation_days, 0, 60)?;
    if urgency.unwrap_or(b.urgency_clear_days) > notice.unwrap_or(b.notice_clear_days) {
        return Err(AppError::validation("urgencyClearDays", "the urgency notice cannot exceed the normal notice"));
    }
    let source = optional("legalSource", patch.legal_source.as_deref(), 1000)?;
    let next = next_version(expected_version)?;
    let mut q = body::Entity::update_many()
        .col_expr(body::Column::Version, Expr::value(next))
        .col_expr(body::Column::UpdatedAt, Expr::value(Utc::now()));
    macro_rules! set {
        ($col:ident, $v:expr) => {
            if let Some(v) = $v {
                q = q.col_expr(body::Column::$col, Expr::value(v));
            }
        };
    }
    set!(NoticeClearDays, notice);
    set!(UrgencyClearDays, urgency);
    set!(NoteRequired, patch.note_required);
    set!(QuorumRule, patch.quorum_rule);
    set!(ProxiesAllowed, patch.proxies_allowed);
    set!(ProxiesPerHolder, per_holder);
    set!(ProxyMaxMeetings, max_meetings);
    set!(SecondConvocationDays, second);
    set!(LegalSource, source.clone());
    let res = q.filter(body::Column::Id.eq(id)).filter(body::Column::Version.eq(expected_version)).exec(&txn).await?;
    expect_one(res.rows_affected, "body", b.version, expected_version)?;
    let after = body_of(&txn, id).await?;
    record(
        &txn,
        actor,
        audit(
            "UPDATE_BODY_RULES",
            "Body",
            id,
            &b,
            json!({ "before": profile_json(&b), "after": profile_json(&after) }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(allowed.grant(after))
}

pub(super) fn profile_json(b: &body::Model) -> serde_json::Value {
    json!({
        "noticeClearDays": b.notice_clear_days, "urgencyClearDays": b.urgency_clear_days,
        "noteRequired": b.note_required, "quorumRule": b.quorum_rule, "proxiesAllowed": b.proxies_allowed,
        "proxiesPerHolder": b.proxies_per_holder, "proxyMaxMeetings": b.proxy_max_meetings,
        "secondConvocationDays": b.second_convocation_days, "legalSource": b.legal_source,
    })
}

/// Gives `mandate`'s holder a seat in a working group (or CLECT, commission, council).
/// The secretariat appoints the animator (a vice-president or councillor with a
/// delegation), the assistant (a DGA of the intercommunality) and members (mayors); a
/// mayor designates municipal councillors of their own commune, and the seat ends with
/// either mandate.
pub async fn add_seat(
    state: &AppState,
    actor: &Actor,
    body_id: i32,
    mandate_id: i32,
    role: SeatRole,
    start: NaiveDate,
) -> AppResult<body_seat::Model> {
    let txn = crate::db::write(&state.db).await?;
    let b = body_of(&txn, body_id).await?;
    let kind = b.kind;
    if matches!(kind, BodyKind::ConferenceOfMayors | BodyKind::DgsCommittee) {
        return Err(AppError::validation(
            "bodyId",
            "the seats of this body follow mandates (mayors, DGS): nobody designates them",
        ));
    }
    let m = mandate::Entity::find_by_id(mandate_id).one(&txn).await?.ok_or_else(|| AppError::not_found("mandate"))?;
    let mrole = m.role;
    // Mayors designate their councillors to working groups; other bodies' seats are the
    // secretariat's to record.
    let designation = kind == BodyKind::WorkingGroup
        && role == SeatRole::Member
        && matches!(mrole, Role::MunicipalCouncillor | Role::DeputyMayor);
    authorize(
        &txn,
        actor,
        Action::DesignateSeat { intercommunality: b.intercommunality_id, commune: m.commune_id, designation },
    )
    .await?;
    let today = crate::time::today_paris();
    if start < today {
        // A seat dated back would change who was in office at past meetings.
        return Err(AppError::validation("startDate", "a seat starts today or later"));
    }
    if m.end_date.is_some_and(|e| e <= std::cmp::max(start, today)) {
        return Err(AppError::validation("mandateId", "this mandate has ended"));
    }
    let members = member_communes(&txn, b.intercommunality_id).await?;
    let in_epci = m.intercommunality_id == Some(b.intercommunality_id);
    let in_member_commune = m.commune_id.is_some_and(|c| members.contains(&c));
    let fits = match role {
        SeatRole::Animator => {
            in_epci && matches!(mrole, Role::VicePresident | Role::President | Role::CommunityCouncillor)
                || in_member_commune && matches!(mrole, Role::Mayor | Role::DeputyMayor | Role::MunicipalCouncillor)
        }
        SeatRole::Assistant => in_epci && matches!(mrole, Role::Dga | Role::Dgs | Role::SecretariatAgent),
        SeatRole::Member => {
            in_member_commune && matches!(mrole, Role::Mayor | Role::DeputyMayor | Role::MunicipalCouncillor) || in_epci
        }
        _ => false,
    };
    if !fits {
        return Err(AppError::validation(
            "role",
            format!("a {} mandate does not qualify for the seat {} of this body", mrole.as_str(), role.as_str()),
        ));
    }
    // A councillor's seat is designated by the commune's mayor: it ends with the mayor's mandate.
    let designator = if designation {
        let c = m.commune_id.ok_or_else(|| AppError::internal("councillor without commune"))?;
        mandate::Entity::find()
            .filter(mandate::Column::CommuneId.eq(c))
            .filter(mandate::Column::Role.eq(Role::Mayor))
            .all(&txn)
            .await?
            .into_iter()
            .find(|x| runs_on(x, today))
            .map(|x| x.id)
    } else {
        None
    };
    if designation && designator.is_none() {
        return Err(AppError::rule("SEAT_VACANT", "this commune has no mayor in office to designate its councillors"));
    }
    let existing = body_seat::Entity::find()
        .filter(body_seat::Column::BodyId.eq(body_id))
        .filter(body_seat::Column::PersonId.eq(m.person_id))
        .all(&txn)
        .await?;
    if existing.iter().any(|s| s.end_date.is_none_or(|e| e > start)) {
        return Err(AppError::Conflict("this person already has a seat in this body".into()));
    }
    let seat = body_seat::ActiveModel {
        body_id: Set(body_id),
        person_id: Set(m.person_id),
        role: Set(role),
        mandate_id: Set(m.id),
        designated_by_mandate_id: Set(designator),
        start_date: Set(start),
        end_date: Set(None),
        created_at: Set(Utc::now()),
        version: Set(1),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    record(
        &txn,
        actor,
        audit("ADD_SEAT", "BodySeat", seat.id, &b, json!({ "body": b.id, "person": m.person_id, "role": seat.role, "mandate": m.id, "designatedBy": designator })),
    )
    .await?;
    txn.commit().await?;
    Ok(seat)
}

pub async fn end_seat(
    state: &AppState,
    actor: &Actor,
    seat_id: i32,
    end: NaiveDate,
    expected_version: i32,
) -> AppResult<body_seat::Model> {
    let txn = crate::db::write(&state.db).await?;
    let s = body_seat::Entity::find_by_id(seat_id).one(&txn).await?.ok_or_else(|| AppError::not_found("seat"))?;
    let b = body_of(&txn, s.body_id).await?;
    let m = mandate::Entity::find_by_id(s.mandate_id).one(&txn).await?.ok_or_else(|| AppError::not_found("mandate"))?;
    let designation = s.designated_by_mandate_id.is_some();
    authorize(
        &txn,
        actor,
        Action::DesignateSeat { intercommunality: b.intercommunality_id, commune: m.commune_id, designation },
    )
    .await?;
    if end <= s.start_date || end < crate::time::today_paris() {
        return Err(AppError::validation("endDate", "the end must be after the seat's start, today or later"));
    }
    let next = next_version(expected_version)?;
    let res = body_seat::Entity::update_many()
        .col_expr(body_seat::Column::EndDate, Expr::value(Some(end)))
        .col_expr(body_seat::Column::Version, Expr::value(next))
        .filter(body_seat::Column::Id.eq(seat_id))
        .filter(body_seat::Column::Version.eq(expected_version))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "seat", s.version, expected_version)?;
    record(&txn, actor, audit("END_SEAT", "BodySeat", seat_id, &b, json!({ "endDate": end }))).await?;
    let after = body_seat::Entity::find_by_id(seat_id).one(&txn).await?.ok_or_else(|| AppError::not_found("seat"))?;
    txn.commit().await?;
    Ok(after)
}
