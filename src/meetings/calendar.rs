//! iCalendar (RFC 5545): each person's secret feed of the meetings they are convened to,
//! and one meeting's .ics. Changes carry SEQUENCE, cancellations STATUS:CANCELLED, so
//! Outlook and Thunderbird update the events they subscribed to.
use std::collections::HashMap;

use icalendar::{Calendar, Component, Event, EventLike, EventStatus};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use super::model::{agenda_item, body, calendar_feed, convocation, meeting};
use super::rules::MeetingStatus;
use crate::error::AppResult;
use crate::territory::model::commune;

fn status(m: &meeting::Model) -> EventStatus {
    match m.status {
        MeetingStatus::Cancelled => EventStatus::Cancelled,
        MeetingStatus::Draft | MeetingStatus::Postponed => EventStatus::Tentative,
        _ => EventStatus::Confirmed,
    }
}

/// Renders meetings (with their body, host commune name and agenda titles) as a calendar.
/// `method`: an invitation's (RFC 5546: REQUEST, CANCEL), none for a feed or a download.
fn render(
    name: &str,
    meetings: &[(meeting::Model, &body::Model, Option<String>, Vec<String>)],
    method: Option<&str>,
) -> String {
    let mut cal = Calendar::new();
    cal.name(name);
    if let Some(m) = method {
        cal.append_property(("METHOD", m));
    }
    for (m, b, host, agenda) in meetings {
        let mut e = Event::new();
        e.uid(&format!("meeting-{}@entente", m.id))
            .timestamp(m.updated_at)
            .last_modified(m.updated_at)
            .sequence(m.sequence.max(0) as u32)
            .summary(&format!("{} — {}", b.name, m.title))
            .starts(m.starts_at)
            .ends(m.ends_at)
            .status(status(m));
        let place: Vec<&str> = [m.venue.as_deref(), host.as_deref()].into_iter().flatten().collect();
        if !place.is_empty() {
            e.location(&place.join(", "));
        }
        if let Some(u) = &m.online_url {
            e.url(u);
        }
        if !agenda.is_empty() {
            let lines: Vec<String> = agenda.iter().enumerate().map(|(i, t)| format!("{}. {t}", i + 1)).collect();
            e.description(&format!("Ordre du jour :\n{}", lines.join("\n")));
        }
        cal.push(e.done());
    }
    cal.done().to_string()
}

async fn render_meetings(
    db: &DatabaseConnection,
    name: &str,
    list: Vec<meeting::Model>,
    method: Option<&str>,
) -> AppResult<String> {
    let body_ids: Vec<i32> = list.iter().map(|m| m.body_id).collect();
    let bodies: HashMap<i32, body::Model> = body::Entity::find()
        .filter(body::Column::Id.is_in(body_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
    let hosts: Vec<i32> = list.iter().filter_map(|m| m.host_commune_id).collect();
    let names: HashMap<i32, String> = commune::Entity::find()
        .filter(commune::Column::Id.is_in(hosts))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let ids: Vec<i32> = list.iter().map(|m| m.id).collect();
    let mut agendas: HashMap<i32, Vec<String>> = HashMap::new();
    for i in agenda_item::Entity::find()
        .filter(agenda_item::Column::MeetingId.is_in(ids))
        .order_by_asc(agenda_item::Column::Position)
        .all(db)
        .await?
    {
        agendas.entry(i.meeting_id).or_default().push(i.title);
    }
    let rows: Vec<_> = list
        .into_iter()
        .filter_map(|m| {
            let b = bodies.get(&m.body_id)?;
            let host = m.host_commune_id.and_then(|c| names.get(&c).cloned());
            let agenda = agendas.remove(&m.id).unwrap_or_default();
            Some((m, b, host, agenda))
        })
        .collect();
    Ok(render(name, &rows, method))
}

/// The feed behind a secret token: the meetings its person was convened to (cancelled
/// ones included, so that calendars remove them). None for an unknown token.
pub async fn feed(db: &DatabaseConnection, token: &str) -> AppResult<Option<String>> {
    let hash = crate::auth::rules::secret_hash(token);
    let Some(f) = calendar_feed::Entity::find().filter(calendar_feed::Column::TokenHash.eq(hash)).one(db).await? else {
        return Ok(None);
    };
    // The feed lives with an active account of its person.
    let active = crate::auth::model::account::Entity::find()
        .filter(crate::auth::model::account::Column::PersonId.eq(f.person_id))
        .filter(crate::auth::model::account::Column::Active.eq(true))
        .one(db)
        .await?;
    if active.is_none() {
        return Ok(None);
    }
    let ids: Vec<i32> = convocation::Entity::find()
        .filter(convocation::Column::PersonId.eq(f.person_id))
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.meeting_id)
        .collect();
    let list = meeting::Entity::find()
        .filter(meeting::Column::Id.is_in(ids))
        .order_by_asc(meeting::Column::StartsAt)
        .all(db)
        .await?;
    Ok(Some(render_meetings(db, "entente — mes séances", list, None).await?))
}

/// One meeting's .ics.
pub async fn meeting_ics(db: &DatabaseConnection, m: meeting::Model) -> AppResult<String> {
    let name = m.title.clone();
    render_meetings(db, &name, vec![m], None).await
}

/// One meeting's invitation sent with its convocation (METHOD:REQUEST) or cancellation
/// (METHOD:CANCEL): the same UID and SEQUENCE as the feed, so a calendar that has the
/// event from either updates the one event.
pub async fn invitation(db: &DatabaseConnection, m: meeting::Model, method: &str) -> AppResult<String> {
    let name = m.title.clone();
    render_meetings(db, &name, vec![m], Some(method)).await
}
