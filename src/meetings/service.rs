//! Use cases of bodies and meetings: authorise, apply the rules of rules.rs, write in one
//! transaction with the audit entry.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::json;

use super::model::{
    agenda_item, attendance, ballot, body, body_seat, calendar_feed, convocation, document, meeting, meeting_request,
    notification, proxy, request_signature, superseded_convocation,
};
pub use super::queries::{body_of, kind_of, members, seats, Member, Vacancy};
use super::rules::*;
use crate::audit::service::{record, Entry};
use crate::auth::policy::{authorize, Action};
use crate::auth::Actor;
use crate::error::{AppError, AppResult};
use crate::people::model::mandate;
use crate::people::rules::Role;
use crate::people::service::{next_version, runs_on};
use crate::platform::documents::{self, Upload};
use crate::territory::model::commune;
use crate::territory::queries::{member_communes, member_communes_on};
use crate::AppState;

// ---- loading ---------------------------------------------------------------------------

pub async fn meeting_of<C: ConnectionTrait>(db: &C, id: i32) -> AppResult<(meeting::Model, body::Model)> {
    let m = meeting::Entity::find_by_id(id).one(db).await?.ok_or_else(|| AppError::not_found("meeting"))?;
    let b = body_of(db, m.body_id).await?;
    Ok((m, b))
}

pub fn status_of(m: &meeting::Model) -> AppResult<MeetingStatus> {
    MeetingStatus::parse(&m.status).ok_or_else(|| AppError::internal(format!("meeting {} has unknown status", m.id)))
}

pub fn profile_of(b: &body::Model) -> AppResult<RuleProfile> {
    Ok(RuleProfile {
        notice_clear_days: b.notice_clear_days,
        urgency_clear_days: b.urgency_clear_days,
        note_required: b.note_required,
        quorum_rule: QuorumRule::stored(&b.quorum_rule)?,
        proxies_allowed: b.proxies_allowed,
        proxies_per_holder: b.proxies_per_holder,
        proxy_max_meetings: b.proxy_max_meetings,
        second_convocation_days: b.second_convocation_days,
        legal_source: b.legal_source.clone(),
    })
}

/// A Paris wall-clock time as an instant; refused when the time does not exist or is
/// ambiguous (the hour skipped or repeated by a daylight-saving change).
pub fn paris_instant(field: &str, t: NaiveDateTime) -> AppResult<DateTime<Utc>> {
    if !(2000..=2100).contains(&chrono::Datelike::year(&t)) {
        return Err(AppError::validation(field, "a meeting takes place between the years 2000 and 2100"));
    }
    Paris.from_local_datetime(&t).single().map(|d| d.with_timezone(&Utc)).ok_or_else(|| {
        AppError::validation(field, format!("{t} does not exist or is ambiguous in Europe/Paris (clock change)"))
    })
}

pub fn check_text(field: &str, raw: &str, max: usize) -> AppResult<String> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > max {
        return Err(AppError::validation(field, format!("{field} must have 1 to {max} characters")));
    }
    Ok(s.to_string())
}

pub fn opt_text(field: &str, raw: Option<&str>, max: usize) -> AppResult<Option<String>> {
    raw.map(str::trim).filter(|s| !s.is_empty()).map(|s| check_text(field, s, max)).transpose()
}

fn audit<'a>(action: &'a str, target_type: &'a str, id: i32, b: &body::Model, summary: serde_json::Value) -> Entry<'a> {
    Entry { action, target_type, target_id: Some(id), scope: Some(b.intercommunality_id), summary }
}

/// Refuses with CONFLICT unless the update matched the expected version.
pub fn expect_one(rows: u64, what: &str, current: i32, expected: i32) -> AppResult<()> {
    if rows == 1 {
        Ok(())
    } else {
        Err(AppError::stale(what, current, expected))
    }
}

// ---- membership ------------------------------------------------------------------------

/// May the actor see this meeting? Drafts: those who prepare or convene it; otherwise
/// the body's current members, those convened to it, its secretariat and the president.
pub async fn authorize_view<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    m: &meeting::Model,
    b: &body::Model,
) -> AppResult<()> {
    if status_of(m)? == MeetingStatus::Draft {
        return authorize_convener(db, actor, b).await;
    }
    let action = Action::SeeMeeting { meeting: m.id, body: b.id, intercommunality: b.intercommunality_id };
    authorize(db, actor, action).await.map(|_| ())
}

/// The meeting, if the actor may see it (NOT_FOUND, or FORBIDDEN).
pub async fn visible<C: ConnectionTrait>(db: &C, actor: &Actor, id: i32) -> AppResult<meeting::Model> {
    let (m, b) = meeting_of(db, id).await?;
    authorize_view(db, actor, &m, &b).await?;
    Ok(m)
}

/// Who convenes a body's meetings, and so prepares them: its secretariat; for the
/// conference of mayors, also the president.
pub async fn authorize_convener<C: ConnectionTrait>(db: &C, actor: &Actor, b: &body::Model) -> AppResult<()> {
    let conference = kind_of(b)? == BodyKind::ConferenceOfMayors;
    authorize(db, actor, Action::Convene { intercommunality: b.intercommunality_id, conference }).await.map(|_| ())
}

// ---- bodies ----------------------------------------------------------------------------

pub struct NewBody {
    pub intercommunality_id: i32,
    pub kind: BodyKind,
    pub name: String,
    pub theme: Option<String>,
}

pub async fn create_body(state: &AppState, actor: &Actor, input: NewBody) -> AppResult<body::Model> {
    let txn = crate::db::write(&state.db).await?;
    crate::territory::model::intercommunality::Entity::find_by_id(input.intercommunality_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("intercommunality"))?;
    authorize(&txn, actor, Action::ManageMeetings { intercommunality: input.intercommunality_id }).await?;
    let name = check_text("name", &input.name, 200)?;
    let theme = opt_text("theme", input.theme.as_deref(), 300)?;
    if input.kind == BodyKind::WorkingGroup && theme.is_none() {
        return Err(AppError::validation("theme", "a working group needs its theme"));
    }
    let p = input.kind.default_profile();
    let now = Utc::now();
    let b = body::ActiveModel {
        intercommunality_id: Set(input.intercommunality_id),
        kind: Set(input.kind.as_str().into()),
        name: Set(name),
        theme: Set(theme),
        notice_clear_days: Set(p.notice_clear_days),
        urgency_clear_days: Set(p.urgency_clear_days),
        note_required: Set(p.note_required),
        quorum_rule: Set(p.quorum_rule.as_str().into()),
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
    Ok(b)
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
) -> AppResult<body::Model> {
    let txn = crate::db::write(&state.db).await?;
    let b = body_of(&txn, id).await?;
    authorize(&txn, actor, Action::ManageMeetings { intercommunality: b.intercommunality_id }).await?;
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
    let source = opt_text("legalSource", patch.legal_source.as_deref(), 1000)?;
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
    set!(QuorumRule, patch.quorum_rule.map(|r| r.as_str().to_string()));
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
    Ok(after)
}

fn profile_json(b: &body::Model) -> serde_json::Value {
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
    let kind = kind_of(&b)?;
    if matches!(kind, BodyKind::ConferenceOfMayors | BodyKind::DgsCommittee) {
        return Err(AppError::validation(
            "bodyId",
            "the seats of this body follow mandates (mayors, DGS): nobody designates them",
        ));
    }
    let m = mandate::Entity::find_by_id(mandate_id).one(&txn).await?.ok_or_else(|| AppError::not_found("mandate"))?;
    let mrole = Role::parse(&m.role).ok_or_else(|| AppError::internal("mandate with unknown role"))?;
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
            .filter(mandate::Column::Role.eq(Role::Mayor.as_str()))
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
        role: Set(role.as_str().into()),
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

// ---- meetings --------------------------------------------------------------------------

pub struct MeetingFields {
    pub title: Option<String>,
    pub starts_at: Option<NaiveDateTime>,
    pub ends_at: Option<NaiveDateTime>,
    pub venue: Option<Option<String>>,
    pub host_commune_id: Option<Option<i32>>,
    pub online_url: Option<Option<String>>,
}

fn check_url(raw: Option<&str>) -> AppResult<Option<String>> {
    let u = opt_text("onlineUrl", raw, 2000)?;
    if u.as_deref().is_some_and(|u| !(u.starts_with("https://") || u.starts_with("http://"))) {
        return Err(AppError::validation("onlineUrl", "the online link must be an http(s) URL"));
    }
    Ok(u)
}

async fn check_host<C: ConnectionTrait>(db: &C, b: &body::Model, host: Option<i32>) -> AppResult<()> {
    if let Some(c) = host {
        commune::Entity::find_by_id(c).one(db).await?.ok_or_else(|| AppError::not_found("host commune"))?;
        if !member_communes(db, b.intercommunality_id).await?.contains(&c) {
            return Err(AppError::validation("hostCommuneId", "the host commune must be a member commune"));
        }
    }
    Ok(())
}

fn check_times(starts: DateTime<Utc>, ends: DateTime<Utc>) -> AppResult<()> {
    if ends <= starts {
        return Err(AppError::validation("endsAt", "the meeting must end after it starts"));
    }
    if ends - starts > Duration::days(3) {
        return Err(AppError::validation("endsAt", "a meeting lasts at most 3 days"));
    }
    Ok(())
}

/// A new DRAFT meeting row; callers set the optional fields.
fn new_meeting_row(
    body_id: i32,
    title: String,
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
    now: DateTime<Utc>,
) -> meeting::ActiveModel {
    meeting::ActiveModel {
        body_id: Set(body_id),
        title: Set(title),
        status: Set(MeetingStatus::Draft.as_str().into()),
        starts_at: Set(starts),
        ends_at: Set(ends),
        venue: Set(None),
        host_commune_id: Set(None),
        online_url: Set(None),
        urgency_reason: Set(None),
        convened_at: Set(None),
        first_convocation_id: Set(None),
        request_id: Set(None),
        minutes_text: Set(None),
        minutes_status: Set(MinutesStatus::None.as_str().into()),
        minutes_approved_on: Set(None),
        minutes_approved_by_item_id: Set(None),
        minutes_published_at: Set(None),
        decisions_published_at: Set(None),
        sequence: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
}

pub async fn create_meeting(
    state: &AppState,
    actor: &Actor,
    body_id: i32,
    request_id: Option<i32>,
    f: MeetingFields,
) -> AppResult<meeting::Model> {
    let txn = crate::db::write(&state.db).await?;
    let b = body_of(&txn, body_id).await?;
    authorize_convener(&txn, actor, &b).await?;
    let title = check_text("title", f.title.as_deref().unwrap_or(""), 300)?;
    let starts = paris_instant("startsAt", f.starts_at.ok_or_else(|| AppError::validation("startsAt", "required"))?)?;
    let ends = paris_instant("endsAt", f.ends_at.ok_or_else(|| AppError::validation("endsAt", "required"))?)?;
    check_times(starts, ends)?;
    let host = f.host_commune_id.flatten();
    check_host(&txn, &b, host).await?;
    if let Some(r) = request_id {
        let req =
            meeting_request::Entity::find_by_id(r).one(&txn).await?.ok_or_else(|| AppError::not_found("request"))?;
        if req.body_id != body_id || req.status != RequestStatus::Granted.as_str() {
            return Err(AppError::validation("requestId", "only a granted request of this body can be answered"));
        }
    }
    let now = Utc::now();
    let mut row = new_meeting_row(body_id, title, starts, ends, now);
    row.venue = Set(opt_text("venue", f.venue.flatten().as_deref(), 300)?);
    row.host_commune_id = Set(host);
    row.online_url = Set(check_url(f.online_url.flatten().as_deref())?);
    row.request_id = Set(request_id);
    let m = row.insert(&txn).await?;
    record(
        &txn,
        actor,
        audit(
            "CREATE_MEETING",
            "Meeting",
            m.id,
            &b,
            json!({ "body": b.id, "title": m.title, "startsAt": m.starts_at }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(m)
}

/// Tells every person convened to the meeting (a notification each, timestamped: the
/// proof that they were told).
async fn notify_convened<C: ConnectionTrait>(
    conn: &C,
    meeting_id: i32,
    kind: &str,
    item: Option<i32>,
    message: String,
) -> AppResult<usize> {
    let people = convened_people(conn, meeting_id).await?;
    notify(conn, &people, kind, About { meeting: Some(meeting_id), item, referral: None }, &message).await
}

/// What a notification is about.
#[derive(Clone, Copy, Default)]
pub struct About {
    pub meeting: Option<i32>,
    pub item: Option<i32>,
    pub referral: Option<i32>,
}

/// Records one notification per person (500 rows per statement).
pub async fn notify<C: ConnectionTrait>(
    conn: &C,
    people: &[i32],
    kind: &str,
    about: About,
    message: &str,
) -> AppResult<usize> {
    let now = Utc::now();
    for chunk in people.chunks(500) {
        notification::Entity::insert_many(chunk.iter().map(|p| notification::ActiveModel {
            person_id: Set(*p),
            kind: Set(kind.to_string()),
            meeting_id: Set(about.meeting),
            agenda_item_id: Set(about.item),
            referral_id: Set(about.referral),
            message: Set(Some(message.to_string())),
            created_at: Set(now),
            read_at: Set(None),
            ..Default::default()
        }))
        .exec(conn)
        .await?;
    }
    Ok(people.len())
}

pub async fn update_meeting(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
    f: MeetingFields,
) -> AppResult<meeting::Model> {
    let txn = crate::db::write(&state.db).await?;
    let (m, b) = meeting_of(&txn, id).await?;
    authorize_convener(&txn, actor, &b).await?;
    let status = status_of(&m)?;
    if !matches!(status, MeetingStatus::Draft | MeetingStatus::Convened | MeetingStatus::Postponed) {
        return Err(AppError::rule(
            "INVALID_TRANSITION",
            format!("a {} meeting can no longer be edited", status.as_str()),
        ));
    }
    let starts = f.starts_at.map(|t| paris_instant("startsAt", t)).transpose()?.unwrap_or(m.starts_at);
    let ends = f.ends_at.map(|t| paris_instant("endsAt", t)).transpose()?.unwrap_or(m.ends_at);
    check_times(starts, ends)?;
    if status == MeetingStatus::Convened && starts != m.starts_at {
        return Err(AppError::rule(
            "INVALID_TRANSITION",
            "a convened meeting keeps its date: postpone it, then convene it again at the new date",
        ));
    }
    let title = f.title.as_deref().map(|t| check_text("title", t, 300)).transpose()?;
    let venue = f.venue.map(|v| opt_text("venue", v.as_deref(), 300)).transpose()?;
    let online = f.online_url.map(|u| check_url(u.as_deref())).transpose()?;
    if let Some(h) = f.host_commune_id {
        check_host(&txn, &b, h).await?;
    }
    let next = next_version(expected_version)?;
    let told = status != MeetingStatus::Draft;
    let res = meeting::Entity::update_many()
        .col_expr(meeting::Column::Title, Expr::value(title.clone().unwrap_or(m.title.clone())))
        .col_expr(meeting::Column::StartsAt, Expr::value(starts))
        .col_expr(meeting::Column::EndsAt, Expr::value(ends))
        .col_expr(meeting::Column::Venue, Expr::value(venue.clone().unwrap_or(m.venue.clone())))
        .col_expr(meeting::Column::HostCommuneId, Expr::value(f.host_commune_id.unwrap_or(m.host_commune_id)))
        .col_expr(meeting::Column::OnlineUrl, Expr::value(online.clone().unwrap_or(m.online_url.clone())))
        .col_expr(meeting::Column::Sequence, Expr::value(m.sequence + i32::from(told)))
        .col_expr(meeting::Column::UpdatedAt, Expr::value(Utc::now()))
        .col_expr(meeting::Column::Version, Expr::value(next))
        .filter(meeting::Column::Id.eq(id))
        .filter(meeting::Column::Version.eq(expected_version))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "meeting", m.version, expected_version)?;
    if told {
        notify_convened(&txn, id, "MEETING_CHANGED", None, format!("« {} » was changed", m.title)).await?;
    }
    record(
        &txn,
        actor,
        audit("UPDATE_MEETING", "Meeting", id, &b, json!({ "title": title, "startsAt": starts, "endsAt": ends, "venue": venue, "hostCommune": f.host_commune_id, "onlineUrl": online })),
    )
    .await?;
    let after = meeting_of(&txn, id).await?.0;
    txn.commit().await?;
    Ok(after)
}

pub struct NewItem {
    pub kind: AgendaItemKind,
    pub title: String,
    pub presenter_id: Option<i32>,
    pub note: Option<String>,
    pub minutes_of_meeting_id: Option<i32>,
}

pub async fn add_agenda_item(
    state: &AppState,
    actor: &Actor,
    meeting_id: i32,
    input: NewItem,
) -> AppResult<agenda_item::Model> {
    let txn = crate::db::write(&state.db).await?;
    let (m, b) = meeting_of(&txn, meeting_id).await?;
    authorize_convener(&txn, actor, &b).await?;
    if !matches!(status_of(&m)?, MeetingStatus::Draft | MeetingStatus::Postponed) {
        return Err(AppError::rule(
            "INVALID_TRANSITION",
            "the agenda is fixed once the meeting is convened (add the item to a later meeting)",
        ));
    }
    let title = check_text("title", &input.title, 500)?;
    let note = opt_text("note", input.note.as_deref(), 100_000)?;
    if let Some(p) = input.presenter_id {
        crate::people::model::person::Entity::find_by_id(p)
            .one(&txn)
            .await?
            .ok_or_else(|| AppError::not_found("presenter"))?;
    }
    match (input.kind, input.minutes_of_meeting_id) {
        (AgendaItemKind::MinutesApproval, Some(of)) => {
            let (earlier, eb) = meeting_of(&txn, of).await?;
            if eb.id != b.id || earlier.starts_at >= m.starts_at {
                return Err(AppError::validation("minutesOfMeetingId", "must be an earlier meeting of the same body"));
            }
        }
        (AgendaItemKind::MinutesApproval, None) => {
            return Err(AppError::validation("minutesOfMeetingId", "say which meeting's minutes are approved"))
        }
        (_, Some(_)) => return Err(AppError::validation("minutesOfMeetingId", "only for a MINUTES_APPROVAL item")),
        _ => {}
    }
    // Serialise appends to the agenda on the meeting row; a convocation may have gone out since.
    if status_of(&lock_meeting(&txn, &m).await?)? != status_of(&m)? {
        return Err(AppError::Conflict("the meeting changed meanwhile (convened?); reload and retry".into()));
    }
    let position =
        agenda_item::Entity::find().filter(agenda_item::Column::MeetingId.eq(meeting_id)).count(&txn).await? as i32 + 1;
    let item = item_row(
        meeting_id,
        position,
        input.kind.as_str(),
        title,
        input.presenter_id,
        note,
        input.minutes_of_meeting_id,
    )
    .insert(&txn)
    .await?;
    record(
        &txn,
        actor,
        audit(
            "ADD_AGENDA_ITEM",
            "AgendaItem",
            item.id,
            &b,
            json!({ "meeting": meeting_id, "position": position, "kind": item.kind, "title": item.title }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(item)
}

/// A new agenda item, not voted yet.
fn item_row(
    meeting_id: i32,
    position: i32,
    kind: &str,
    title: String,
    presenter: Option<i32>,
    note: Option<String>,
    minutes_of: Option<i32>,
) -> agenda_item::ActiveModel {
    agenda_item::ActiveModel {
        meeting_id: Set(meeting_id),
        position: Set(position),
        kind: Set(kind.to_string()),
        title: Set(title),
        presenter_person_id: Set(presenter),
        note: Set(note),
        minutes_of_meeting_id: Set(minutes_of),
        votes_for: Set(None),
        votes_against: Set(None),
        votes_abstain: Set(None),
        secret_ballot: Set(false),
        weighted: Set(false),
        weight_for: Set(None),
        weight_against: Set(None),
        weight_abstain: Set(None),
        result: Set(None),
        casting_vote_used: Set(false),
        opinion_text: Set(None),
        decided_at: Set(None),
        created_at: Set(Utc::now()),
        version: Set(1),
        ..Default::default()
    }
}

/// Takes the meeting's row lock (a no-op update), so concurrent writers to one meeting
/// queue up on both databases, and returns the meeting as it is now: checks made before
/// the transaction are made again on it.
async fn lock_meeting<C: ConnectionTrait>(conn: &C, m: &meeting::Model) -> AppResult<meeting::Model> {
    meeting::Entity::update_many()
        .col_expr(meeting::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(meeting::Column::Id.eq(m.id))
        .exec(conn)
        .await?;
    meeting::Entity::find_by_id(m.id).one(conn).await?.ok_or_else(|| AppError::not_found("meeting"))
}

/// Stores a document with its SHA-256; after convening, members are told (timestamped).
pub async fn upload_document(
    state: &AppState,
    actor: &Actor,
    meeting_id: i32,
    item_id: Option<i32>,
    file: Upload,
) -> AppResult<document::Model> {
    let txn = crate::db::write(&state.db).await?;
    let (m, b) = meeting_of(&txn, meeting_id).await?;
    let p = authorize(&txn, actor, Action::ManageMeetings { intercommunality: b.intercommunality_id }).await?;
    let status = status_of(&m)?;
    if matches!(status, MeetingStatus::Cancelled | MeetingStatus::Closed) {
        return Err(AppError::rule(
            "INVALID_TRANSITION",
            format!("a {} meeting takes no more documents", status.as_str()),
        ));
    }
    if let Some(i) = item_id {
        let item =
            agenda_item::Entity::find_by_id(i).one(&txn).await?.ok_or_else(|| AppError::not_found("agenda item"))?;
        if item.meeting_id != meeting_id {
            return Err(AppError::validation("agendaItemId", "this item belongs to another meeting"));
        }
    }
    let file = documents::check_upload(file, state.config.limits.document_bytes)?;
    // Read the status under the meeting's lock: a convocation sent meanwhile makes this a
    // document added after convening, which members are told of.
    let status = status_of(&lock_meeting(&txn, &m).await?)?;
    if matches!(status, MeetingStatus::Cancelled | MeetingStatus::Closed) {
        return Err(AppError::rule(
            "INVALID_TRANSITION",
            format!("a {} meeting takes no more documents", status.as_str()),
        ));
    }
    let after = status != MeetingStatus::Draft;
    let d = document::ActiveModel {
        meeting_id: Set(meeting_id),
        agenda_item_id: Set(item_id),
        size_bytes: Set(file.size_bytes()),
        filename: Set(file.filename),
        media_type: Set(file.media_type),
        sha256: Set(file.sha256.clone()),
        uploaded_by_account_id: Set(p.map(|p| p.account_id)),
        uploaded_at: Set(Utc::now()),
        after_convocation: Set(after),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    documents::put(&txn, &file.sha256, &file.content).await?;
    if after {
        notify_convened(&txn, meeting_id, "DOCUMENT_ADDED", item_id, format!("document « {} » added", d.filename))
            .await?;
    }
    record(
        &txn,
        actor,
        audit("UPLOAD_DOCUMENT", "Document", d.id, &b, json!({ "meeting": meeting_id, "filename": d.filename, "sha256": d.sha256, "size": d.size_bytes, "afterConvocation": after })),
    )
    .await?;
    txn.commit().await?;
    Ok(d)
}

/// A meeting document for a reader who sees its meeting: the metadata row (which holds
/// no content) and the reader's right are read first; the content only then, streamed.
pub async fn download_document(db: &DatabaseConnection, actor: &Actor, id: i32) -> AppResult<documents::Download> {
    documents::authorized(db, async {
        let d = document::Entity::find_by_id(id).one(db).await?.ok_or_else(|| AppError::not_found("document"))?;
        visible(db, actor, d.meeting_id).await?;
        Ok(documents::FileMeta {
            filename: d.filename,
            media_type: d.media_type,
            sha256: d.sha256,
            size_bytes: d.size_bytes,
        })
    })
    .await
}

/// Convenes the meeting: one convocation per member, each with its sending time (the
/// legal proof). Refused with NOTICE_TOO_SHORT when the notice is shorter than the body's
/// rule, unless urgency is declared with a reason and the urgency minimum holds.
pub async fn convene(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
    urgency_reason: Option<String>,
    paper_for: &[i32],
) -> AppResult<meeting::Model> {
    let txn = crate::db::write(&state.db).await?;
    let (m, b) = meeting_of(&txn, id).await?;
    authorize_convener(&txn, actor, &b).await?;
    let status = status_of(&m)?;
    status.transition(MeetingStatus::Convened).map_err(|e| AppError::rule("INVALID_TRANSITION", e))?;
    let items = agenda_item::Entity::find().filter(agenda_item::Column::MeetingId.eq(id)).all(&txn).await?;
    if items.is_empty() {
        return Err(AppError::validation("agenda", "a convocation lists the agenda: add at least one item"));
    }
    if b.note_required {
        if let Some(i) = items.iter().find(|i| i.note.is_none()) {
            return Err(AppError::validation(
                "note",
                format!(
                    "item {} « {} » needs its explanatory note (note explicative de synthèse)",
                    i.position, i.title
                ),
            ));
        }
    }
    let urgency = opt_text("urgencyReason", urgency_reason.as_deref(), 2000)?;
    let now = Utc::now();
    let second = m.first_convocation_id.is_some();
    let normal = if second { b.second_convocation_days } else { b.notice_clear_days };
    if let Err(latest) = check_notice(now, m.starts_at, normal) {
        match &urgency {
            None => {
                return Err(AppError::rule(
                    "NOTICE_TOO_SHORT",
                    format!(
                        "{normal} clear days of notice are required: the convocation had to be sent by {} (Europe/Paris); declare urgency with its reason to convene with at least {} clear day(s)",
                        latest, b.urgency_clear_days
                    ),
                ))
            }
            Some(_) => {
                if let Err(latest) = check_notice(now, m.starts_at, b.urgency_clear_days) {
                    return Err(AppError::rule(
                        "NOTICE_TOO_SHORT",
                        format!(
                            "even in urgency {} clear day(s) of notice are required: the convocation had to be sent by {latest} (Europe/Paris)",
                            b.urgency_clear_days
                        ),
                    ));
                }
            }
        }
    }
    let day = paris_day(m.starts_at);
    let members = members(&txn, &b, day).await?;
    if members.is_empty() {
        return Err(AppError::validation("bodyId", "this body has no member to convene"));
    }
    if let Some(p) = paper_for.iter().find(|p| !members.iter().any(|m| m.person_id == **p)) {
        let i = paper_for.iter().position(|x| x == p).unwrap_or(0);
        return Err(AppError::validation(&format!("paperFor.{i}"), "this person is not a member of this body"));
    }
    let next = next_version(expected_version)?;
    let res = meeting::Entity::update_many()
        .col_expr(meeting::Column::Status, Expr::value(MeetingStatus::Convened.as_str()))
        .col_expr(meeting::Column::ConvenedAt, Expr::value(Some(now)))
        .col_expr(meeting::Column::UrgencyReason, Expr::value(urgency.clone()))
        .col_expr(meeting::Column::Sequence, Expr::value(m.sequence + 1))
        .col_expr(meeting::Column::UpdatedAt, Expr::value(now))
        .col_expr(meeting::Column::Version, Expr::value(next))
        .filter(meeting::Column::Id.eq(id))
        .filter(meeting::Column::Version.eq(expected_version))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "meeting", m.version, expected_version)?;
    // Convened again after a postponement: the earlier convocations are replaced by new
    // ones, and kept as superseded with their sending time and read acknowledgement
    // (the legal proof); the audit entry says how many.
    let earlier = convocation::Entity::find().filter(convocation::Column::MeetingId.eq(id)).all(&txn).await?;
    let previous = earlier.len();
    for chunk in earlier.chunks(500) {
        superseded_convocation::Entity::insert_many(chunk.iter().map(|c| superseded_convocation::ActiveModel {
            meeting_id: Set(c.meeting_id),
            person_id: Set(c.person_id),
            seat: Set(c.seat.clone()),
            commune_id: Set(c.commune_id),
            sent_at: Set(c.sent_at),
            channel: Set(c.channel.clone()),
            read_at: Set(c.read_at),
            sequence: Set(m.sequence),
            superseded_at: Set(now),
            ..Default::default()
        }))
        .exec(&txn)
        .await?;
    }
    convocation::Entity::delete_many().filter(convocation::Column::MeetingId.eq(id)).exec(&txn).await?;
    send_convocations(&txn, id, &members, paper_for, now).await?;
    if let Some(r) = m.request_id {
        meeting_request::Entity::update_many()
            .col_expr(meeting_request::Column::Status, Expr::value(RequestStatus::Convened.as_str()))
            .col_expr(meeting_request::Column::MeetingId, Expr::value(Some(id)))
            .filter(meeting_request::Column::Id.eq(r))
            .exec(&txn)
            .await?;
    }
    record(
        &txn,
        actor,
        audit("CONVENE_MEETING", "Meeting", id, &b, json!({ "convocations": members.len(), "paper": paper_for, "previous": previous, "sentAt": now, "urgency": urgency, "clearDays": clear_days_between(now, m.starts_at) })),
    )
    .await?;
    let after = meeting_of(&txn, id).await?.0;
    txn.commit().await?;
    Ok(after)
}

/// One convocation per member, all with the same sending time (the legal proof);
/// electronic, the default of L2121-10, or on paper for the members who asked for it.
async fn send_convocations<C: ConnectionTrait>(
    conn: &C,
    meeting_id: i32,
    members: &[Member],
    paper_for: &[i32],
    now: DateTime<Utc>,
) -> AppResult<()> {
    for chunk in members.chunks(500) {
        convocation::Entity::insert_many(chunk.iter().map(|mem| convocation::ActiveModel {
            meeting_id: Set(meeting_id),
            person_id: Set(mem.person_id),
            seat: Set(mem.role.as_str().into()),
            commune_id: Set(mem.commune_id),
            sent_at: Set(now),
            channel: Set(if paper_for.contains(&mem.person_id) { "PAPER" } else { "ELECTRONIC" }.into()),
            read_at: Set(None),
            ..Default::default()
        }))
        .exec(conn)
        .await?;
    }
    Ok(())
}

/// The convened member acknowledges reading their convocation (accusé de lecture).
pub async fn acknowledge(state: &AppState, actor: &Actor, meeting_id: i32) -> AppResult<convocation::Model> {
    let txn = crate::db::write(&state.db).await?;
    let p = actor.require()?;
    let (_, b) = meeting_of(&txn, meeting_id).await?;
    let c = convocation::Entity::find()
        .filter(convocation::Column::MeetingId.eq(meeting_id))
        .filter(convocation::Column::PersonId.eq(p.person_id))
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("convocation"))?;
    if c.read_at.is_some() {
        return Ok(c);
    }
    convocation::Entity::update_many()
        .col_expr(convocation::Column::ReadAt, Expr::value(Some(Utc::now())))
        .filter(convocation::Column::Id.eq(c.id))
        .filter(convocation::Column::ReadAt.is_null())
        .exec(&txn)
        .await?;
    record(&txn, actor, audit("ACKNOWLEDGE_CONVOCATION", "Meeting", meeting_id, &b, json!({ "convocation": c.id })))
        .await?;
    let after =
        convocation::Entity::find_by_id(c.id).one(&txn).await?.ok_or_else(|| AppError::not_found("convocation"))?;
    txn.commit().await?;
    Ok(after)
}

/// Moves a meeting to HELD, CLOSED, POSTPONED or CANCELLED (convening has its own use
/// case). Postponement and cancellation are told to the members.
pub async fn change_status(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
    to: MeetingStatus,
    reason: Option<String>,
) -> AppResult<meeting::Model> {
    let txn = crate::db::write(&state.db).await?;
    let (m, b) = meeting_of(&txn, id).await?;
    let conference = kind_of(&b)? == BodyKind::ConferenceOfMayors;
    let action = match to {
        MeetingStatus::Postponed | MeetingStatus::Cancelled => {
            Action::Convene { intercommunality: b.intercommunality_id, conference }
        }
        _ => Action::ManageMeetings { intercommunality: b.intercommunality_id },
    };
    authorize(&txn, actor, action).await?;
    if to == MeetingStatus::Convened {
        return Err(AppError::validation("status", "use conveneMeeting to convene"));
    }
    let from = status_of(&m)?;
    from.transition(to).map_err(|e| AppError::rule("INVALID_TRANSITION", e))?;
    let reason = opt_text("reason", reason.as_deref(), 2000)?;
    let told = matches!(to, MeetingStatus::Postponed | MeetingStatus::Cancelled) && from != MeetingStatus::Draft;
    let next = next_version(expected_version)?;
    let res = meeting::Entity::update_many()
        .col_expr(meeting::Column::Status, Expr::value(to.as_str()))
        .col_expr(meeting::Column::Sequence, Expr::value(m.sequence + i32::from(told)))
        .col_expr(meeting::Column::UpdatedAt, Expr::value(Utc::now()))
        .col_expr(meeting::Column::Version, Expr::value(next))
        .filter(meeting::Column::Id.eq(id))
        .filter(meeting::Column::Version.eq(expected_version))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "meeting", m.version, expected_version)?;
    if to == MeetingStatus::Held {
        crate::meetings::rules::check_may_be_held(m.starts_at, Utc::now()).map_err(|earliest| {
            AppError::rule(
                "MEETING_NOT_STARTED",
                format!(
                    "a meeting is declared held once it has begun: from {} (Paris time)",
                    earliest.with_timezone(&chrono_tz::Europe::Paris).format("%Y-%m-%d %H:%M")
                ),
            )
        })?;
    }
    if told {
        let what = if to == MeetingStatus::Cancelled { "cancelled" } else { "postponed" };
        let msg =
            format!("« {} » is {what}{}", m.title, reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default());
        notify_convened(&txn, id, &format!("MEETING_{}", to.as_str()), None, msg).await?;
    }
    record(
        &txn,
        actor,
        audit(
            "CHANGE_MEETING_STATUS",
            "Meeting",
            id,
            &b,
            json!({ "from": from.as_str(), "to": to.as_str(), "reason": reason }),
        ),
    )
    .await?;
    let after = meeting_of(&txn, id).await?.0;
    txn.commit().await?;
    Ok(after)
}

// ---- attendance, proxies, quorum ------------------------------------------------------

/// The body's meetings that count for proxy validity (convened, held or closed), in order.
async fn counted_meetings<C: ConnectionTrait>(db: &C, body_id: i32) -> AppResult<Vec<i32>> {
    Ok(meeting::Entity::find()
        .filter(meeting::Column::BodyId.eq(body_id))
        .filter(meeting::Column::Status.is_in(COUNTED_STATUSES.map(|s| s.as_str())))
        .order_by_asc(meeting::Column::StartsAt)
        .order_by_asc(meeting::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect())
}

/// Proxies valid at the meeting: not revoked before it started, and the meeting is among
/// the consecutive meetings they cover from their first one. (A proxy revoked after a
/// meeting it served stays valid for that meeting.)
pub async fn proxies_at<C: ConnectionTrait>(db: &C, m: &meeting::Model) -> AppResult<Vec<proxy::Model>> {
    let order = counted_meetings(db, m.body_id).await?;
    let all = proxy::Entity::find().filter(proxy::Column::BodyId.eq(m.body_id)).all(db).await?;
    Ok(proxies_valid_at(&order, m, all))
}

/// The statuses of the meetings a proxy's consecutive meetings are counted among.
pub const COUNTED_STATUSES: [MeetingStatus; 3] = [MeetingStatus::Convened, MeetingStatus::Held, MeetingStatus::Closed];

/// Of the body's proxies `all`, those valid at `m`, given the body's counted meetings in
/// order (`proxies_at`, and the batched loader of a list of meetings).
pub fn proxies_valid_at(order: &[i32], m: &meeting::Model, all: Vec<proxy::Model>) -> Vec<proxy::Model> {
    let Some(here) = order.iter().position(|x| *x == m.id) else { return vec![] };
    all.into_iter()
        .filter(|p| p.revoked_at.is_none_or(|r| r > m.starts_at))
        .filter(|p| {
            order
                .iter()
                .position(|x| *x == p.first_meeting_id)
                .is_some_and(|first| first <= here && here < first + p.meetings_count.max(1) as usize)
        })
        .collect()
}

/// The persons convened to a meeting.
async fn convened_people<C: ConnectionTrait>(db: &C, meeting_id: i32) -> AppResult<Vec<i32>> {
    Ok(convocation::Entity::find()
        .filter(convocation::Column::MeetingId.eq(meeting_id))
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.person_id)
        .collect())
}

/// A written proxy (pouvoir) from `giver` to `holder`, both members, for this meeting
/// and at most the body's number of consecutive meetings.
pub async fn give_proxy(
    state: &AppState,
    actor: &Actor,
    meeting_id: i32,
    giver: i32,
    holder: i32,
    meetings: i32,
) -> AppResult<proxy::Model> {
    let txn = crate::db::write(&state.db).await?;
    let (m, b) = meeting_of(&txn, meeting_id).await?;
    authorize(&txn, actor, Action::GiveProxy { intercommunality: b.intercommunality_id, giver }).await?;
    // Under the meeting's lock from here on: its state cannot change before commit.
    let m = lock_meeting(&txn, &m).await?;
    if !b.proxies_allowed {
        return Err(AppError::rule("PROXY_REFUSED", "this body's rules allow no proxies"));
    }
    if giver == holder {
        return Err(AppError::validation("holderId", "a member cannot give a proxy to themselves"));
    }
    if meetings < 1 || meetings > b.proxy_max_meetings {
        return Err(AppError::validation(
            "meetings",
            format!("a proxy is valid for 1 to {} consecutive meetings", b.proxy_max_meetings),
        ));
    }
    if status_of(&m)? != MeetingStatus::Convened || Utc::now() >= m.starts_at {
        return Err(AppError::rule("PROXY_REFUSED", "proxies are given for a convened meeting, before it starts"));
    }
    let day = paris_day(m.starts_at);
    let sitting: HashSet<i32> = members(&txn, &b, day).await?.iter().map(|x| x.person_id).collect();
    if !sitting.contains(&giver) {
        return Err(AppError::validation("giverId", "the giver is not a member of this body"));
    }
    if !sitting.contains(&holder) {
        return Err(AppError::validation("holderId", "a proxy is given to another member of the body"));
    }
    let valid = proxies_at(&txn, &m).await?;
    if valid.iter().any(|p| p.giver_person_id == giver) {
        return Err(AppError::Conflict(
            "this member has already given a proxy for this meeting; revoke it first".into(),
        ));
    }
    if valid.iter().any(|p| p.giver_person_id == holder) {
        return Err(AppError::rule("PROXY_REFUSED", "the holder has given their own proxy for this meeting"));
    }
    let held = valid.iter().filter(|p| p.holder_person_id == holder).count() as i32;
    if held >= b.proxies_per_holder {
        return Err(AppError::rule(
            "PROXY_REFUSED",
            format!("a member holds at most {} proxy(ies) (L2121-20): this one already does", b.proxies_per_holder),
        ));
    }
    let p = proxy::ActiveModel {
        body_id: Set(b.id),
        giver_person_id: Set(giver),
        holder_person_id: Set(holder),
        first_meeting_id: Set(meeting_id),
        meetings_count: Set(meetings),
        given_at: Set(Utc::now()),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    record(
        &txn,
        actor,
        audit(
            "GIVE_PROXY",
            "Proxy",
            p.id,
            &b,
            json!({ "meeting": meeting_id, "giver": giver, "holder": holder, "meetings": meetings }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(p)
}

/// Revokes a proxy: it no longer serves meetings that start after now (a meeting under
/// way or past keeps it, see `proxies_at`).
pub async fn revoke_proxy(state: &AppState, actor: &Actor, id: i32) -> AppResult<proxy::Model> {
    let txn = crate::db::write(&state.db).await?;
    let p = proxy::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| AppError::not_found("proxy"))?;
    let b = body_of(&txn, p.body_id).await?;
    authorize(&txn, actor, Action::GiveProxy { intercommunality: b.intercommunality_id, giver: p.giver_person_id })
        .await?;
    if p.revoked_at.is_some() {
        return Err(AppError::Conflict("this proxy is already revoked".into()));
    }
    let res = proxy::Entity::update_many()
        .col_expr(proxy::Column::RevokedAt, Expr::value(Some(Utc::now())))
        .filter(proxy::Column::Id.eq(id))
        .filter(proxy::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::Conflict("this proxy is already revoked".into()));
    }
    record(&txn, actor, audit("REVOKE_PROXY", "Proxy", id, &b, json!({ "giver": p.giver_person_id }))).await?;
    let after = proxy::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| AppError::not_found("proxy"))?;
    txn.commit().await?;
    Ok(after)
}

pub struct AttendanceInput {
    pub person_id: i32,
    pub status: AttendanceStatus,
    pub arrival_position: Option<i32>,
    pub departure_position: Option<i32>,
}

/// Records (or corrects) attendance of convened members. REPRESENTED needs a valid proxy.
pub async fn record_attendance(
    state: &AppState,
    actor: &Actor,
    meeting_id: i32,
    rows: Vec<AttendanceInput>,
) -> AppResult<usize> {
    let txn = crate::db::write(&state.db).await?;
    let (m, b) = meeting_of(&txn, meeting_id).await?;
    authorize(&txn, actor, Action::ManageMeetings { intercommunality: b.intercommunality_id }).await?;
    // Under the meeting's lock from here on: its state cannot change before commit.
    let m = lock_meeting(&txn, &m).await?;
    if !matches!(status_of(&m)?, MeetingStatus::Convened | MeetingStatus::Held) {
        return Err(AppError::rule("INVALID_TRANSITION", "attendance is recorded for a convened or held meeting"));
    }
    if rows.is_empty() || rows.len() > 2000 {
        return Err(AppError::validation("rows", "give 1 to 2000 rows"));
    }
    let convened: HashSet<i32> = convened_people(&txn, meeting_id).await?.into_iter().collect();
    let items =
        agenda_item::Entity::find().filter(agenda_item::Column::MeetingId.eq(meeting_id)).count(&txn).await? as i32;
    let proxies = proxies_at(&txn, &m).await?;
    let mut seen = HashSet::new();
    for (i, r) in rows.iter().enumerate() {
        let field = |f: &str| format!("rows.{i}.{f}");
        if !convened.contains(&r.person_id) {
            return Err(AppError::validation(&field("personId"), "this person was not convened to this meeting"));
        }
        if !seen.insert(r.person_id) {
            return Err(AppError::validation(&field("personId"), "this person appears twice"));
        }
        for (f, v) in [("arrivalPosition", r.arrival_position), ("departurePosition", r.departure_position)] {
            if v.is_some_and(|p| p < 1 || p > items) {
                return Err(AppError::validation(&field(f), format!("an agenda position from 1 to {items}")));
            }
        }
        if let (Some(a), Some(d)) = (r.arrival_position, r.departure_position) {
            if d <= a {
                return Err(AppError::validation(&field("departurePosition"), "a member leaves after arriving"));
            }
        }
        let present = matches!(r.status, AttendanceStatus::Present | AttendanceStatus::Remote);
        if !present && (r.arrival_position.is_some() || r.departure_position.is_some()) {
            return Err(AppError::validation(&field("status"), "arrivals and departures are for present members"));
        }
        let has_proxy = proxies.iter().any(|p| p.giver_person_id == r.person_id);
        if r.status == AttendanceStatus::Represented && !has_proxy {
            return Err(AppError::validation(&field("status"), "REPRESENTED needs a proxy valid for this meeting"));
        }
    }
    let now = Utc::now();
    let ids: Vec<i32> = rows.iter().map(|r| r.person_id).collect();
    attendance::Entity::delete_many()
        .filter(attendance::Column::MeetingId.eq(meeting_id))
        .filter(attendance::Column::PersonId.is_in(ids))
        .exec(&txn)
        .await?;
    for chunk in rows.chunks(500) {
        attendance::Entity::insert_many(chunk.iter().map(|r| attendance::ActiveModel {
            meeting_id: Set(meeting_id),
            person_id: Set(r.person_id),
            status: Set(r.status.as_str().into()),
            arrival_position: Set(r.arrival_position),
            departure_position: Set(r.departure_position),
            proxy_id: Set(match r.status {
                AttendanceStatus::Represented => {
                    proxies.iter().find(|p| p.giver_person_id == r.person_id).map(|p| p.id)
                }
                _ => None,
            }),
            recorded_at: Set(now),
            version: Set(1),
            ..Default::default()
        }))
        .exec(&txn)
        .await?;
    }
    record(
        &txn,
        actor,
        audit("RECORD_ATTENDANCE", "Meeting", meeting_id, &b, json!({ "rows": rows.iter().map(|r| json!({"person": r.person_id, "status": r.status.as_str(), "arrival": r.arrival_position, "departure": r.departure_position})).collect::<Vec<_>>() })),
    )
    .await?;
    txn.commit().await?;
    Ok(rows.len())
}

/// Quorum at each agenda item of a meeting (by position).
pub async fn quorum_by_item<C: ConnectionTrait>(
    db: &C,
    m: &meeting::Model,
    b: &body::Model,
) -> AppResult<Vec<(agenda_item::Model, Quorum)>> {
    let items = agenda_item::Entity::find()
        .filter(agenda_item::Column::MeetingId.eq(m.id))
        .order_by_asc(agenda_item::Column::Position)
        .all(db)
        .await?;
    let rows = attendance::Entity::find().filter(attendance::Column::MeetingId.eq(m.id)).all(db).await?;
    let presences: Vec<Presence> = rows.iter().map(presence).collect::<AppResult<_>>()?;
    // Members in office: those convened (frozen at convening), not today's seats.
    let in_office = convocation::Entity::find().filter(convocation::Column::MeetingId.eq(m.id)).count(db).await? as i64;
    let rule = profile_of(b)?.quorum_rule;
    let second = m.first_convocation_id.is_some();
    Ok(items
        .into_iter()
        .map(|i| {
            let q = quorum_at(rule, in_office, &presences, i.position, second);
            (i, q)
        })
        .collect())
}

pub fn presence(a: &attendance::Model) -> AppResult<Presence> {
    Ok(Presence {
        status: AttendanceStatus::stored(&a.status)?,
        arrival: a.arrival_position,
        departure: a.departure_position,
    })
}

/// When quorum failed, convenes the same items again at least the body's
/// second-convocation delay later; that meeting deliberates without quorum.
pub async fn second_convocation(
    state: &AppState,
    actor: &Actor,
    first_id: i32,
    starts_at: NaiveDateTime,
    ends_at: NaiveDateTime,
) -> AppResult<meeting::Model> {
    let txn = crate::db::write(&state.db).await?;
    let (first, b) = meeting_of(&txn, first_id).await?;
    authorize_convener(&txn, actor, &b).await?;
    if !matches!(status_of(&first)?, MeetingStatus::Convened | MeetingStatus::Held) {
        return Err(AppError::rule("INVALID_TRANSITION", "a second convocation follows a convened or held meeting"));
    }
    if first.first_convocation_id.is_some() {
        return Err(AppError::rule("INVALID_TRANSITION", "a second convocation needs no quorum: there is no third"));
    }
    let failed: Vec<agenda_item::Model> = quorum_by_item(&txn, &first, &b)
        .await?
        .into_iter()
        .filter(|(i, q)| !q.met && i.result.is_none())
        .map(|(i, _)| i)
        .collect();
    if failed.is_empty() {
        return Err(AppError::rule("QUORUM_MET", "quorum was reached at every undecided item: no second convocation"));
    }
    let recorded = attendance::Entity::find().filter(attendance::Column::MeetingId.eq(first.id)).count(&txn).await?;
    if recorded == 0 {
        return Err(AppError::rule(
            "INVALID_TRANSITION",
            "record the first meeting's attendance: it shows the quorum failed",
        ));
    }
    let starts = paris_instant("startsAt", starts_at)?;
    let ends = paris_instant("endsAt", ends_at)?;
    check_times(starts, ends)?;
    let earliest = paris_day(first.starts_at) + Duration::days(i64::from(b.second_convocation_days));
    if paris_day(starts) < earliest {
        return Err(AppError::validation(
            "startsAt",
            format!(
                "the second meeting is held at least {} days after the first: on {earliest} or later",
                b.second_convocation_days
            ),
        ));
    }
    if let Err(latest) = check_notice(Utc::now(), starts, b.second_convocation_days) {
        return Err(AppError::rule(
            "NOTICE_TOO_SHORT",
            format!(
                "a second convocation gives at least {} clear days of notice: for this date it had to be sent by {latest} (Europe/Paris)",
                b.second_convocation_days
            ),
        ));
    }
    let day = paris_day(starts);
    let members = members(&txn, &b, day).await?;
    let now = Utc::now();
    lock_meeting(&txn, &first).await?;
    let already = meeting::Entity::find()
        .filter(meeting::Column::FirstConvocationId.eq(first.id))
        .filter(meeting::Column::Status.ne(MeetingStatus::Cancelled.as_str()))
        .count(&txn)
        .await?;
    if already > 0 {
        return Err(AppError::Conflict("this meeting already has its second convocation".into()));
    }
    let mut row = new_meeting_row(b.id, format!("{} (seconde convocation)", first.title), starts, ends, now);
    row.status = Set(MeetingStatus::Convened.as_str().into());
    row.venue = Set(first.venue.clone());
    row.host_commune_id = Set(first.host_commune_id);
    row.online_url = Set(first.online_url.clone());
    row.convened_at = Set(Some(now));
    row.first_convocation_id = Set(Some(first.id));
    row.sequence = Set(1);
    let m = row.insert(&txn).await?;
    for (n, i) in failed.iter().enumerate() {
        item_row(
            m.id,
            n as i32 + 1,
            &i.kind,
            i.title.clone(),
            i.presenter_person_id,
            i.note.clone(),
            i.minutes_of_meeting_id,
        )
        .insert(&txn)
        .await?;
    }
    send_convocations(&txn, m.id, &members, &[], now).await?;
    record(
        &txn,
        actor,
        audit("SECOND_CONVOCATION", "Meeting", m.id, &b, json!({ "first": first.id, "items": failed.iter().map(|i| i.position).collect::<Vec<_>>(), "convocations": members.len() })),
    )
    .await?;
    txn.commit().await?;
    Ok(m)
}

// ---- votes -----------------------------------------------------------------------------

pub struct VoteInput {
    pub expected_version: i32,
    pub votes_for: Option<i32>,
    pub against: Option<i32>,
    pub abstain: Option<i32>,
    pub secret: bool,
    pub weighted: bool,
    pub president_choice: Option<Choice>,
    pub roll_call: Vec<(i32, Choice)>,
    pub opinion_text: Option<String>,
}

/// Records the vote on a VOTE, OPINION or MINUTES_APPROVAL item: counts (or a roll call,
/// proxies included), the result by absolute majority of votes cast with the president's
/// casting vote on a tie (not in a secret ballot), and for the conference of mayors an
/// optional tally weighted by each mayor's commune population, frozen with the vote.
pub async fn record_vote(state: &AppState, actor: &Actor, item_id: i32, v: VoteInput) -> AppResult<agenda_item::Model> {
    let txn = crate::db::write(&state.db).await?;
    let item =
        agenda_item::Entity::find_by_id(item_id).one(&txn).await?.ok_or_else(|| AppError::not_found("agenda item"))?;
    let (m, b) = meeting_of(&txn, item.meeting_id).await?;
    authorize(&txn, actor, Action::ManageMeetings { intercommunality: b.intercommunality_id }).await?;
    let kind = AgendaItemKind::parse(&item.kind).ok_or_else(|| AppError::internal("unknown item kind"))?;
    if !kind.is_voted() {
        return Err(AppError::validation("itemId", format!("a {} item takes no vote", kind.as_str())));
    }
    if !matches!(status_of(&m)?, MeetingStatus::Convened | MeetingStatus::Held) {
        return Err(AppError::rule("INVALID_TRANSITION", "votes are recorded for a convened or held meeting"));
    }
    let quorum = quorum_by_item(&txn, &m, &b)
        .await?
        .into_iter()
        .find(|(i, _)| i.id == item_id)
        .map(|(_, q)| q)
        .ok_or_else(|| AppError::internal("item missing from its meeting"))?;
    if !quorum.met {
        return Err(AppError::rule(
            "QUORUM_NOT_MET",
            format!(
                "quorum not reached at item {}: {} present of {} in office, {} needed; convene a second convocation",
                item.position, quorum.present, quorum.in_office, quorum.required
            ),
        ));
    }
    if v.weighted && kind_of(&b)? != BodyKind::ConferenceOfMayors {
        return Err(AppError::validation("weighted", "only the conference of mayors weighs votes by population"));
    }
    if v.weighted && v.roll_call.is_empty() {
        return Err(AppError::validation("rollCall", "a weighted tally needs the roll call"));
    }
    if v.secret && !v.roll_call.is_empty() {
        return Err(AppError::validation("rollCall", "a secret ballot has no roll call"));
    }
    // Who may vote at this item: members present, and those they represent by proxy.
    let att = attendance::Entity::find().filter(attendance::Column::MeetingId.eq(m.id)).all(&txn).await?;
    let present: HashSet<i32> = att
        .iter()
        .map(|a| Ok((a, presence(a)?)))
        .collect::<AppResult<Vec<_>>>()?
        .into_iter()
        .filter(|(_, p)| p.present_at(item.position))
        .map(|(a, _)| a.person_id)
        .collect();
    let proxies = proxies_at(&txn, &m).await?;
    let represented: HashMap<i32, i32> = att
        .iter()
        .filter(|a| a.status == AttendanceStatus::Represented.as_str())
        .filter_map(|a| proxies.iter().find(|p| Some(p.id) == a.proxy_id))
        .filter(|p| present.contains(&p.holder_person_id))
        .map(|p| (p.giver_person_id, p.holder_person_id))
        .collect();
    let voters = present.len() + represented.len();
    let (mut f, mut a, mut ab) = (0i64, 0i64, 0i64);
    let mut seen = HashSet::new();
    for (i, (person, choice)) in v.roll_call.iter().enumerate() {
        if !seen.insert(*person) {
            return Err(AppError::validation(&format!("rollCall.{i}.personId"), "this member voted twice"));
        }
        if !present.contains(person) && !represented.contains_key(person) {
            return Err(AppError::validation(
                &format!("rollCall.{i}.personId"),
                "neither present at this item nor represented by a present member",
            ));
        }
        match choice {
            Choice::For => f += 1,
            Choice::Against => a += 1,
            Choice::Abstain => ab += 1,
        }
    }
    if v.roll_call.is_empty() {
        let (Some(x), Some(y), Some(z)) = (v.votes_for, v.against, v.abstain) else {
            return Err(AppError::validation("votesFor", "give the counts (for, against, abstain) or the roll call"));
        };
        if x < 0 || y < 0 || z < 0 {
            return Err(AppError::validation("votesFor", "counts cannot be negative"));
        }
        (f, a, ab) = (x.into(), y.into(), z.into());
    } else if [
        v.votes_for.map(i64::from) != Some(f) && v.votes_for.is_some(),
        v.against.map(i64::from) != Some(a) && v.against.is_some(),
        v.abstain.map(i64::from) != Some(ab) && v.abstain.is_some(),
    ]
    .contains(&true)
    {
        return Err(AppError::validation("votesFor", "the counts do not match the roll call"));
    }
    if (f + a + ab) as usize > voters {
        return Err(AppError::validation(
            "votesFor",
            format!("{} votes for {voters} members present or represented at this item", f + a + ab),
        ));
    }
    // The president (of the conference, or the animator / lead) casts the deciding vote.
    let seats = members(&txn, &b, paris_day(m.starts_at)).await?;
    let chair = seats
        .iter()
        .find(|x| matches!(x.role, SeatRole::President | SeatRole::Animator | SeatRole::Lead))
        .map(|x| x.person_id);
    // With a roll call, the president's own ballot decides a tie; without one, the
    // secretariat says how the president voted. Absent at the item: no casting vote.
    let chair_here = chair.is_some_and(|c| present.contains(&c));
    let president = if !v.roll_call.is_empty() {
        if v.president_choice.is_some() {
            return Err(AppError::validation("presidentChoice", "with a roll call, the president's ballot decides"));
        }
        let ballot = chair.and_then(|c| v.roll_call.iter().find(|(p, _)| *p == c).map(|(_, ch)| *ch));
        Some(ballot.filter(|_| chair_here).unwrap_or(Choice::Abstain))
    } else if chair_here {
        v.president_choice
    } else {
        Some(Choice::Abstain)
    };
    let t = tally(f, a, v.secret, president).map_err(|e| AppError::validation("presidentChoice", e))?;
    // Weighted tally: each mayor's commune population, frozen now.
    let weights: HashMap<i32, (i32, Option<i32>, Option<i32>)> = if v.weighted {
        let communes: Vec<i32> = seats.iter().filter_map(|s| s.commune_id).collect();
        let pops: HashMap<i32, commune::Model> = commune::Entity::find()
            .filter(commune::Column::Id.is_in(communes))
            .all(&txn)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        seats
            .iter()
            .filter_map(|s| {
                s.commune_id.map(|c| {
                    (
                        s.person_id,
                        (c, pops.get(&c).and_then(|x| x.population), pops.get(&c).and_then(|x| x.population_year)),
                    )
                })
            })
            .collect()
    } else {
        HashMap::new()
    };
    let mut w = (0i64, 0i64, 0i64);
    for (p, ch) in &v.roll_call {
        let pop = weights.get(p).and_then(|x| x.1).map(i64::from).unwrap_or(0);
        match ch {
            Choice::For => w.0 += pop,
            Choice::Against => w.1 += pop,
            Choice::Abstain => w.2 += pop,
        }
    }
    let opinion = opt_text("opinionText", v.opinion_text.as_deref(), 100_000)?;
    if kind == AgendaItemKind::Opinion && t.result == VoteResult::Adopted && opinion.is_none() {
        return Err(AppError::validation("opinionText", "an adopted opinion keeps its text"));
    }
    let next = next_version(v.expected_version)?;
    let now = Utc::now();
    let res = agenda_item::Entity::update_many()
        .col_expr(agenda_item::Column::VotesFor, Expr::value(Some(f as i32)))
        .col_expr(agenda_item::Column::VotesAgainst, Expr::value(Some(a as i32)))
        .col_expr(agenda_item::Column::VotesAbstain, Expr::value(Some(ab as i32)))
        .col_expr(agenda_item::Column::SecretBallot, Expr::value(v.secret))
        .col_expr(agenda_item::Column::Weighted, Expr::value(v.weighted))
        .col_expr(agenda_item::Column::WeightFor, Expr::value(v.weighted.then_some(w.0)))
        .col_expr(agenda_item::Column::WeightAgainst, Expr::value(v.weighted.then_some(w.1)))
        .col_expr(agenda_item::Column::WeightAbstain, Expr::value(v.weighted.then_some(w.2)))
        .col_expr(agenda_item::Column::Result, Expr::value(Some(t.result.as_str())))
        .col_expr(agenda_item::Column::CastingVoteUsed, Expr::value(t.casting_vote_used))
        .col_expr(agenda_item::Column::OpinionText, Expr::value(opinion.clone()))
        .col_expr(agenda_item::Column::DecidedAt, Expr::value(Some(now)))
        .col_expr(agenda_item::Column::Version, Expr::value(next))
        .filter(agenda_item::Column::Id.eq(item_id))
        .filter(agenda_item::Column::Version.eq(v.expected_version))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "agenda item", item.version, v.expected_version)?;
    ballot::Entity::delete_many().filter(ballot::Column::AgendaItemId.eq(item_id)).exec(&txn).await?;
    if !v.roll_call.is_empty() {
        ballot::Entity::insert_many(v.roll_call.iter().map(|(p, ch)| {
            let wt = weights.get(p);
            ballot::ActiveModel {
                agenda_item_id: Set(item_id),
                person_id: Set(*p),
                choice: Set(ch.as_str().into()),
                cast_by_person_id: Set(represented.get(p).copied()),
                commune_id: Set(wt.map(|x| x.0)),
                population: Set(wt.and_then(|x| x.1).map(i64::from)),
                population_year: Set(wt.and_then(|x| x.2)),
                ..Default::default()
            }
        }))
        .exec(&txn)
        .await?;
    }
    // An adopted MINUTES_APPROVAL item approves the earlier meeting's minutes.
    if kind == AgendaItemKind::MinutesApproval && t.result == VoteResult::Adopted {
        if let Some(of) = item.minutes_of_meeting_id {
            let res = meeting::Entity::update_many()
                .col_expr(meeting::Column::MinutesStatus, Expr::value(MinutesStatus::Approved.as_str()))
                .col_expr(meeting::Column::MinutesApprovedOn, Expr::value(Some(paris_day(m.starts_at))))
                .col_expr(meeting::Column::MinutesApprovedByItemId, Expr::value(Some(item_id)))
                .filter(meeting::Column::Id.eq(of))
                .filter(meeting::Column::MinutesStatus.eq(MinutesStatus::Draft.as_str()))
                .exec(&txn)
                .await?;
            if res.rows_affected != 1 {
                return Err(AppError::rule(
                    "INVALID_TRANSITION",
                    "those minutes are not drafted (or already approved)",
                ));
            }
        }
    }
    record(
        &txn,
        actor,
        audit("RECORD_VOTE", "AgendaItem", item_id, &b, json!({ "for": f, "against": a, "abstain": ab, "secret": v.secret, "result": t.result.as_str(), "castingVote": t.casting_vote_used, "weighted": v.weighted.then_some([w.0, w.1, w.2]), "rollCall": v.roll_call.len() })),
    )
    .await?;
    let after =
        agenda_item::Entity::find_by_id(item_id).one(&txn).await?.ok_or_else(|| AppError::not_found("agenda item"))?;
    txn.commit().await?;
    Ok(after)
}

// ---- minutes and publication ------------------------------------------------------------

pub async fn draft_minutes(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
    text: String,
) -> AppResult<meeting::Model> {
    let txn = crate::db::write(&state.db).await?;
    let (m, b) = meeting_of(&txn, id).await?;
    authorize(&txn, actor, Action::ManageMeetings { intercommunality: b.intercommunality_id }).await?;
    if !matches!(status_of(&m)?, MeetingStatus::Held | MeetingStatus::Closed) {
        return Err(AppError::rule("INVALID_TRANSITION", "minutes are drafted after the meeting is held"));
    }
    if !matches!(MinutesStatus::parse(&m.minutes_status), Some(MinutesStatus::None | MinutesStatus::Draft)) {
        return Err(AppError::rule("INVALID_TRANSITION", "approved minutes are no longer edited"));
    }
    let text = check_text("text", &text, 1_000_000)?;
    let next = next_version(expected_version)?;
    let res = meeting::Entity::update_many()
        .col_expr(meeting::Column::MinutesText, Expr::value(Some(text)))
        .col_expr(meeting::Column::MinutesStatus, Expr::value(MinutesStatus::Draft.as_str()))
        .col_expr(meeting::Column::Version, Expr::value(next))
        .col_expr(meeting::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(meeting::Column::Id.eq(id))
        .filter(meeting::Column::Version.eq(expected_version))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "meeting", m.version, expected_version)?;
    record(&txn, actor, audit("DRAFT_MINUTES", "Meeting", id, &b, json!({}))).await?;
    let after = meeting_of(&txn, id).await?.0;
    txn.commit().await?;
    Ok(after)
}

/// What is published: the list of decisions/opinions of a meeting, or its approved minutes.
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Publication {
    /// Liste des délibérations / avis, due within one week of the meeting.
    Decisions,
    /// Procès-verbal, due within one week of its approval.
    Minutes,
}

/// Publishes. Publishing the conference's decisions sends each adopted opinion to every
/// municipal councillor of the member communes (L5211-40-2).
pub async fn publish(state: &AppState, actor: &Actor, id: i32, what: Publication) -> AppResult<meeting::Model> {
    let txn = crate::db::write(&state.db).await?;
    let (m, b) = meeting_of(&txn, id).await?;
    authorize(&txn, actor, Action::ManageMeetings { intercommunality: b.intercommunality_id }).await?;
    if !matches!(status_of(&m)?, MeetingStatus::Held | MeetingStatus::Closed) {
        return Err(AppError::rule("INVALID_TRANSITION", "only a held meeting publishes"));
    }
    let now = Utc::now();
    let mut told = 0;
    match what {
        Publication::Decisions => {
            let res = meeting::Entity::update_many()
                .col_expr(meeting::Column::DecisionsPublishedAt, Expr::value(Some(now)))
                .filter(meeting::Column::Id.eq(id))
                .filter(meeting::Column::DecisionsPublishedAt.is_null())
                .exec(&txn)
                .await?;
            if res.rows_affected != 1 {
                return Err(AppError::Conflict("the decisions are already published".into()));
            }
            if kind_of(&b)? == BodyKind::ConferenceOfMayors {
                let opinions = agenda_item::Entity::find()
                    .filter(agenda_item::Column::MeetingId.eq(id))
                    .filter(agenda_item::Column::Kind.eq(AgendaItemKind::Opinion.as_str()))
                    .filter(agenda_item::Column::Result.eq(VoteResult::Adopted.as_str()))
                    .all(&txn)
                    .await?;
                if !opinions.is_empty() {
                    let councillors = councillors_of(&txn, b.intercommunality_id).await?;
                    for o in &opinions {
                        told += notify(
                            &txn,
                            &councillors,
                            "OPINION_ADOPTED",
                            About { meeting: Some(id), item: Some(o.id), referral: None },
                            &format!("Avis de la conférence des maires: {}", o.title),
                        )
                        .await?;
                    }
                }
            }
        }
        Publication::Minutes => {
            if m.minutes_status != MinutesStatus::Approved.as_str() {
                return Err(AppError::rule("INVALID_TRANSITION", "minutes are published once approved"));
            }
            let res = meeting::Entity::update_many()
                .col_expr(meeting::Column::MinutesStatus, Expr::value(MinutesStatus::Published.as_str()))
                .col_expr(meeting::Column::MinutesPublishedAt, Expr::value(Some(now)))
                .filter(meeting::Column::Id.eq(id))
                .filter(meeting::Column::MinutesStatus.eq(MinutesStatus::Approved.as_str()))
                .exec(&txn)
                .await?;
            if res.rows_affected != 1 {
                return Err(AppError::Conflict("the minutes were published meanwhile".into()));
            }
        }
    }
    record(&txn, actor, audit("PUBLISH", "Meeting", id, &b, json!({ "what": format!("{what:?}"), "notified": told })))
        .await?;
    let after = meeting_of(&txn, id).await?.0;
    txn.commit().await?;
    Ok(after)
}

/// Every municipal councillor (mayor, deputy mayors, councillors) in office today in the
/// member communes of `e`.
async fn councillors_of<C: ConnectionTrait>(db: &C, e: i32) -> AppResult<Vec<i32>> {
    let today = crate::time::today_paris();
    let communes = member_communes_on(db, e, today).await?;
    let mut people: Vec<i32> = mandate::Entity::find()
        .filter(mandate::Column::CommuneId.is_in(communes))
        .filter(mandate::Column::Role.is_in([
            Role::Mayor.as_str(),
            Role::DeputyMayor.as_str(),
            Role::MunicipalCouncillor.as_str(),
        ]))
        .all(db)
        .await?
        .into_iter()
        .filter(|m| runs_on(m, today))
        .map(|m| m.person_id)
        .collect();
    people.sort_unstable();
    people.dedup();
    Ok(people)
}

/// A publication that is late.
pub struct Overdue {
    pub meeting: meeting::Model,
    pub what: Publication,
    pub due: NaiveDate,
}

/// Publications of `e`'s meetings past their due date on `today`: the list of decisions
/// one week after the meeting, the minutes one week after their approval.
pub async fn overdue(db: &DatabaseConnection, e: i32, today: NaiveDate) -> AppResult<Vec<Overdue>> {
    let bodies: Vec<i32> = body::Entity::find()
        .filter(body::Column::IntercommunalityId.eq(e))
        .all(db)
        .await?
        .iter()
        .map(|b| b.id)
        .collect();
    let held = meeting::Entity::find()
        .filter(meeting::Column::BodyId.is_in(bodies))
        .filter(meeting::Column::Status.is_in([MeetingStatus::Held.as_str(), MeetingStatus::Closed.as_str()]))
        .order_by_asc(meeting::Column::StartsAt)
        .all(db)
        .await?;
    let ids: Vec<i32> = held.iter().map(|m| m.id).collect();
    let decided: HashSet<i32> = agenda_item::Entity::find()
        .filter(agenda_item::Column::MeetingId.is_in(ids))
        .filter(agenda_item::Column::Result.is_not_null())
        .filter(agenda_item::Column::Kind.is_in([AgendaItemKind::Vote.as_str(), AgendaItemKind::Opinion.as_str()]))
        .all(db)
        .await?
        .into_iter()
        .map(|i| i.meeting_id)
        .collect();
    let mut out = Vec::new();
    for m in held {
        let due = paris_day(m.starts_at) + Duration::days(7);
        if decided.contains(&m.id) && m.decisions_published_at.is_none() && today > due {
            out.push(Overdue { meeting: m.clone(), what: Publication::Decisions, due });
        }
        if let (Some(approved), true) = (m.minutes_approved_on, m.minutes_status == MinutesStatus::Approved.as_str()) {
            let due = approved + Duration::days(7);
            if today > due {
                out.push(Overdue { meeting: m, what: Publication::Minutes, due });
            }
        }
    }
    Ok(out)
}

// ---- mayors' requests ---------------------------------------------------------------------

/// A mayor opens a request for a conference with its agenda, and signs it.
pub async fn create_request(
    state: &AppState,
    actor: &Actor,
    body_id: i32,
    agenda: String,
) -> AppResult<meeting_request::Model> {
    let txn = crate::db::write(&state.db).await?;
    let b = body_of(&txn, body_id).await?;
    if kind_of(&b)? != BodyKind::ConferenceOfMayors {
        return Err(AppError::validation("bodyId", "mayors request a meeting of the conference of mayors"));
    }
    let p = authorize(&txn, actor, Action::SignRequest { intercommunality: b.intercommunality_id })
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let agenda = check_text("agenda", &agenda, 20_000)?;
    let r = meeting_request::ActiveModel {
        body_id: Set(body_id),
        agenda: Set(agenda),
        status: Set(RequestStatus::Open.as_str().into()),
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

async fn sign_in_txn<C: ConnectionTrait>(
    txn: &C,
    actor: &Actor,
    b: &body::Model,
    r: &meeting_request::Model,
) -> AppResult<()> {
    if r.status != RequestStatus::Open.as_str() {
        return Err(AppError::rule("INVALID_TRANSITION", format!("this request is {}", r.status)));
    }
    let members: HashSet<i32> = member_communes(txn, b.intercommunality_id).await?;
    let (mandate_id, commune_id) = actor
        .current_mandates(txn)
        .await?
        .iter()
        .filter(|m| Role::parse(&m.role) == Some(Role::Mayor))
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
            .col_expr(meeting_request::Column::Status, Expr::value(status.as_str()))
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

// ---- rotation --------------------------------------------------------------------------

/// The communes a working group's meetings may rotate among (its members' communes), each
/// commune's last hosting, and the suggested next host.
pub async fn rotation(
    db: &DatabaseConnection,
    b: &body::Model,
) -> AppResult<(Vec<(i32, String)>, HashMap<i32, DateTime<Utc>>, Option<i32>)> {
    let today = crate::time::today_paris();
    let members = members(db, b, today).await?;
    let mut ids: Vec<i32> = members.iter().filter_map(|m| m.commune_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let candidates: Vec<(i32, String)> = commune::Entity::find()
        .filter(commune::Column::Id.is_in(ids))
        .order_by_asc(commune::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let mut hosted: HashMap<i32, DateTime<Utc>> = HashMap::new();
    for m in meeting::Entity::find()
        .filter(meeting::Column::BodyId.eq(b.id))
        .filter(meeting::Column::HostCommuneId.is_not_null())
        .filter(meeting::Column::Status.is_not_in([MeetingStatus::Cancelled.as_str(), MeetingStatus::Draft.as_str()]))
        .all(db)
        .await?
    {
        if let Some(c) = m.host_commune_id {
            let e = hosted.entry(c).or_insert(m.starts_at);
            *e = (*e).max(m.starts_at);
        }
    }
    let suggestion = suggest_host(&candidates, &hosted);
    Ok((candidates, hosted, suggestion))
}

// ---- calendar feeds --------------------------------------------------------------------

/// Creates (or replaces) the actor's secret calendar feed; returns the token, shown once.
pub async fn create_calendar_feed(state: &AppState, actor: &Actor) -> AppResult<String> {
    let p = actor.require()?;
    let token = crate::auth::rules::new_secret();
    let hash = crate::auth::rules::secret_hash(&token);
    let txn = crate::db::write(&state.db).await?;
    calendar_feed::Entity::delete_many().filter(calendar_feed::Column::PersonId.eq(p.person_id)).exec(&txn).await?;
    calendar_feed::ActiveModel {
        person_id: Set(p.person_id),
        token_hash: Set(hash),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    record(
        &txn,
        actor,
        Entry {
            action: "CREATE_CALENDAR_FEED",
            target_type: "Person",
            target_id: Some(p.person_id),
            scope: p.secretariat_of,
            summary: json!({}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(token)
}
