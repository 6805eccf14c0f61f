//! Attendance, proxies, quorum.
use std::collections::HashSet;

use chrono::{Duration, NaiveDateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;

use super::access::authorize_convener;
use super::agenda::{item_row, lock_meeting};
use super::convening::send_convocations;
use super::lifecycle::{check_times, new_meeting_row};
use super::{audit, convened_people, meeting_of};
use crate::audit::service::record;
use crate::auth::policy::{authorize, Action};
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::meetings::model::{agenda_item, attendance, body, convocation, meeting, proxy};
use crate::meetings::queries::{body_of, members};
use crate::meetings::rules::{check_notice, paris_day, quorum_at, AttendanceStatus, MeetingStatus, Presence, Quorum};
use crate::time::paris_instant;
use crate::AppState;

/// The body's meetings that count for proxy validity (convened, held or closed), in order.
pub(super) async fn counted_meetings<C: ConnectionTrait>(db: &C, body_id: i32) -> AppResult<Vec<i32>> {
    Ok(meeting::Entity::find()
        .filter(meeting::Column::BodyId.eq(body_id))
        .filter(meeting::Column::Status.is_in(COUNTED_STATUSES))
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
    if m.status != MeetingStatus::Convened || Utc::now() >= m.starts_at {
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
    if !matches!(m.status, MeetingStatus::Convened | MeetingStatus::Held) {
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
            status: Set(r.status),
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
    let presences: Vec<Presence> = rows.iter().map(presence).collect();
    // Members in office: those convened (frozen at convening), not today's seats.
    let in_office = convocation::Entity::find().filter(convocation::Column::MeetingId.eq(m.id)).count(db).await? as i64;
    let rule = b.quorum_rule;
    let second = m.first_convocation_id.is_some();
    Ok(items
        .into_iter()
        .map(|i| {
            let q = quorum_at(rule, in_office, &presences, i.position, second);
            (i, q)
        })
        .collect())
}

pub fn presence(a: &attendance::Model) -> Presence {
    Presence { status: a.status, arrival: a.arrival_position, departure: a.departure_position }
}

/// When quorum failed, convenes the same items again at least the body's
/// second-convocation delay later; that meeting deliberates without quorum.
pub async fn second_convocation(
    state: &AppState,
    actor: &Actor,
    first_id: i32,
    starts_at: NaiveDateTime,
    ends_at: NaiveDateTime,
) -> AppResult<Granted<meeting::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let (first, b) = meeting_of(&txn, first_id).await?;
    let allowed = authorize_convener(&txn, actor, &b).await?;
    // Under the first meeting's lock from here on: its state and attendance cannot
    // change before commit.
    let first = lock_meeting(&txn, &first).await?;
    if !matches!(first.status, MeetingStatus::Convened | MeetingStatus::Held) {
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
    let already = meeting::Entity::find()
        .filter(meeting::Column::FirstConvocationId.eq(first.id))
        .filter(meeting::Column::Status.ne(MeetingStatus::Cancelled))
        .count(&txn)
        .await?;
    if already > 0 {
        return Err(AppError::Conflict("this meeting already has its second convocation".into()));
    }
    let mut row = new_meeting_row(b.id, format!("{} (seconde convocation)", first.title), starts, ends, now);
    row.status = Set(MeetingStatus::Convened);
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
            i.kind,
            i.title.clone(),
            i.presenter_person_id,
            i.note.clone(),
            i.minutes_of_meeting_id,
        )
        .insert(&txn)
        .await?;
    }
    send_convocations(&txn, actor, (m.id, &m.title, m.sequence), &members, &[], now).await?;
    record(
        &txn,
        actor,
        audit("SECOND_CONVOCATION", "Meeting", m.id, &b, json!({ "first": first.id, "items": failed.iter().map(|i| i.position).collect::<Vec<_>>(), "convocations": members.len() })),
    )
    .await?;
    txn.commit().await?;
    Ok(allowed.grant(m))
}
