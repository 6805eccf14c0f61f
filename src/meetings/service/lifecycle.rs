//! Meetings.
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::access::authorize_convener;
use super::convened_people;
use super::{audit, meeting_of};
use crate::audit::service::record;
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::meetings::model::{body, meeting, meeting_request};
use crate::meetings::queries::body_of;
use crate::meetings::rules::{MeetingStatus, MinutesStatus, RequestStatus};
use crate::platform::notify::{self, Event};
use crate::platform::text::{optional, required};
use crate::platform::versions::{expect_one, next_version};
use crate::territory::model::commune;
use crate::territory::queries::member_communes;
use crate::time::paris_instant;
use crate::AppState;

pub struct MeetingFields {
    pub title: Option<String>,
    pub starts_at: Option<NaiveDateTime>,
    pub ends_at: Option<NaiveDateTime>,
    pub venue: Option<Option<String>>,
    pub host_commune_id: Option<Option<i32>>,
    pub online_url: Option<Option<String>>,
}

pub(super) fn check_url(raw: Option<&str>) -> AppResult<Option<String>> {
    let u = optional("onlineUrl", raw, 2000)?;
    if u.as_deref().is_some_and(|u| !(u.starts_with("https://") || u.starts_with("http://"))) {
        return Err(AppError::validation("onlineUrl", "the online link must be an http(s) URL"));
    }
    Ok(u)
}

pub(super) async fn check_host<C: ConnectionTrait>(db: &C, b: &body::Model, host: Option<i32>) -> AppResult<()> {
    if let Some(c) = host {
        commune::Entity::find_by_id(c).one(db).await?.ok_or_else(|| AppError::not_found("host commune"))?;
        if !member_communes(db, b.intercommunality_id).await?.contains(&c) {
            return Err(AppError::validation("hostCommuneId", "the host commune must be a member commune"));
        }
    }
    Ok(())
}

pub(super) fn check_times(starts: DateTime<Utc>, ends: DateTime<Utc>) -> AppResult<()> {
    if ends <= starts {
        return Err(AppError::validation("endsAt", "the meeting must end after it starts"));
    }
    if ends - starts > Duration::days(3) {
        return Err(AppError::validation("endsAt", "a meeting lasts at most 3 days"));
    }
    Ok(())
}

/// A new DRAFT meeting row; callers set the optional fields.
pub(super) fn new_meeting_row(
    body_id: i32,
    title: String,
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
    now: DateTime<Utc>,
) -> meeting::ActiveModel {
    meeting::ActiveModel {
        body_id: Set(body_id),
        title: Set(title),
        status: Set(MeetingStatus::Draft),
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
        minutes_status: Set(MinutesStatus::None),
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
) -> AppResult<Granted<meeting::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let b = body_of(&txn, body_id).await?;
    let allowed = authorize_convener(&txn, actor, &b).await?;
    let title = required("title", f.title.as_deref().unwrap_or(""), 300)?;
    let starts = paris_instant("startsAt", f.starts_at.ok_or_else(|| AppError::validation("startsAt", "required"))?)?;
    let ends = paris_instant("endsAt", f.ends_at.ok_or_else(|| AppError::validation("endsAt", "required"))?)?;
    check_times(starts, ends)?;
    let host = f.host_commune_id.flatten();
    check_host(&txn, &b, host).await?;
    if let Some(r) = request_id {
        let req =
            meeting_request::Entity::find_by_id(r).one(&txn).await?.ok_or_else(|| AppError::not_found("request"))?;
        if req.body_id != body_id || req.status != RequestStatus::Granted {
            return Err(AppError::validation("requestId", "only a granted request of this body can be answered"));
        }
    }
    let now = Utc::now();
    let mut row = new_meeting_row(body_id, title, starts, ends, now);
    row.venue = Set(optional("venue", f.venue.flatten().as_deref(), 300)?);
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
    Ok(allowed.grant(m))
}

/// Tells every person convened to the meeting of `event` (a notification each,
/// timestamped: the proof that they were told), on the change's transaction.
pub(super) async fn notify_convened<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    meeting_id: i32,
    event: Event,
) -> AppResult<usize> {
    let people = convened_people(conn, meeting_id).await?;
    notify::emit(conn, Some(actor), event, &people).await
}

pub async fn update_meeting(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
    f: MeetingFields,
) -> AppResult<Granted<meeting::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let (m, b) = meeting_of(&txn, id).await?;
    let allowed = authorize_convener(&txn, actor, &b).await?;
    let status = m.status;
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
    let title = f.title.as_deref().map(|t| required("title", t, 300)).transpose()?;
    let venue = f.venue.map(|v| optional("venue", v.as_deref(), 300)).transpose()?;
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
        notify_convened(&txn, actor, id, Event::MeetingChanged { meeting: id, title: m.title.clone() }).await?;
    }
    record(
        &txn,
        actor,
        audit("UPDATE_MEETING", "Meeting", id, &b, json!({ "title": title, "startsAt": starts, "endsAt": ends, "venue": venue, "hostCommune": f.host_commune_id, "onlineUrl": online })),
    )
    .await?;
    let after = meeting_of(&txn, id).await?.0;
    txn.commit().await?;
    Ok(allowed.grant(after))
}
