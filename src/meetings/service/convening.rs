//! Convocation.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::access::authorize_convener;
use super::{audit, meeting_of};
use crate::audit::service::record;
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::meetings::model::{agenda_item, convocation, meeting, meeting_request, superseded_convocation};
use crate::meetings::queries::{members, Member};
use crate::meetings::rules::{
    check_notice, clear_days_between, paris_day, ConvocationChannel, MeetingStatus, RequestStatus,
};
use crate::platform::notify::Event;
use crate::platform::text::optional;
use crate::platform::versions::{expect_one, next_version};
use crate::AppState;

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
) -> AppResult<Granted<meeting::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let (m, b) = meeting_of(&txn, id).await?;
    let allowed = authorize_convener(&txn, actor, &b).await?;
    let status = m.status;
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
    let urgency = optional("urgencyReason", urgency_reason.as_deref(), 2000)?;
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
        .col_expr(meeting::Column::Status, Expr::value(MeetingStatus::Convened))
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
            seat: Set(c.seat),
            commune_id: Set(c.commune_id),
            sent_at: Set(c.sent_at),
            channel: Set(c.channel),
            read_at: Set(c.read_at),
            delivery_id: Set(c.delivery_id),
            sequence: Set(m.sequence),
            superseded_at: Set(now),
            ..Default::default()
        }))
        .exec(&txn)
        .await?;
    }
    convocation::Entity::delete_many().filter(convocation::Column::MeetingId.eq(id)).exec(&txn).await?;
    send_convocations(&txn, actor, (id, &m.title, m.sequence + 1), &members, paper_for, now).await?;
    if let Some(r) = m.request_id {
        meeting_request::Entity::update_many()
            .col_expr(meeting_request::Column::Status, Expr::value(RequestStatus::Convened))
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
    Ok(allowed.grant(after))
}

/// One convocation per member: electronic, the default of L2121-10, or on paper for the
/// members who asked for it. An electronic one is an e-mail queued in the same
/// transaction (MEETING_CONVENED, with the agenda, the notes, the documents and the
/// calendar invitation); its legal sending time is the time the SMTP server accepts it
/// (its delivery's `accepted_at`). `sent_at` keeps the time of convening, against which
/// the notice was checked. `meeting`: its id, title and sequence at this convening.
pub(super) async fn send_convocations<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    meeting: (i32, &str, i32),
    members: &[Member],
    paper_for: &[i32],
    now: DateTime<Utc>,
) -> AppResult<()> {
    let (meeting_id, title, sequence) = meeting;
    for chunk in members.chunks(500) {
        convocation::Entity::insert_many(chunk.iter().map(|mem| convocation::ActiveModel {
            meeting_id: Set(meeting_id),
            person_id: Set(mem.person_id),
            seat: Set(mem.role),
            commune_id: Set(mem.commune_id),
            sent_at: Set(now),
            channel: Set(if paper_for.contains(&mem.person_id) {
                ConvocationChannel::Paper
            } else {
                ConvocationChannel::Electronic
            }),
            read_at: Set(None),
            delivery_id: Set(None),
            ..Default::default()
        }))
        .exec(conn)
        .await?;
    }
    let electronic: Vec<i32> = members.iter().map(|m| m.person_id).filter(|p| !paper_for.contains(p)).collect();
    if electronic.is_empty() {
        return Ok(());
    }
    let event = Event::MeetingConvened { meeting: meeting_id, title: title.to_string(), sequence };
    let event_id = crate::platform::notify::emit_event(conn, Some(actor), event, &electronic).await?;
    // Each convocation names its e-mail (one statement).
    let backend = conn.get_database_backend();
    let sql = crate::db::placeholders(
        backend,
        "UPDATE convocation SET delivery_id = (SELECT d.id FROM delivery d WHERE d.event_id = ? AND d.person_id = convocation.person_id) WHERE meeting_id = ? AND channel = 'ELECTRONIC'",
    );
    conn.execute_raw(sea_orm::Statement::from_sql_and_values(backend, &sql, [event_id.into(), meeting_id.into()]))
        .await?;
    Ok(())
}

/// The member opened the read-receipt link of their convocation's e-mail and confirmed
/// (accusé de lecture): recorded once, the first time. Returns the time it was read, or
/// None when no current convocation carries this e-mail (replaced since, or unknown).
pub async fn acknowledge_by_link(state: &AppState, delivery_id: i32) -> AppResult<Option<DateTime<Utc>>> {
    let txn = crate::db::write(&state.db).await?;
    let Some(c) = convocation::Entity::find().filter(convocation::Column::DeliveryId.eq(delivery_id)).one(&txn).await?
    else {
        return Ok(None);
    };
    if c.read_at.is_some() {
        return Ok(c.read_at);
    }
    let now = Utc::now();
    convocation::Entity::update_many()
        .col_expr(convocation::Column::ReadAt, Expr::value(Some(now)))
        .filter(convocation::Column::Id.eq(c.id))
        .filter(convocation::Column::ReadAt.is_null())
        .exec(&txn)
        .await?;
    let (_, b) = meeting_of(&txn, c.meeting_id).await?;
    let actor = Actor::system("read receipt");
    let summary = json!({ "convocation": c.id, "person": c.person_id, "via": "link" });
    record(&txn, &actor, audit("ACKNOWLEDGE_CONVOCATION", "Meeting", c.meeting_id, &b, summary)).await?;
    txn.commit().await?;
    Ok(Some(now))
}

/// Alerts the secretariat, once per meeting, when electronic convocations of a convened
/// meeting are still not accepted by the SMTP server (queued, refused, or the member has
/// no address) after the end of the latest legal sending day (Europe/Paris; the notice of
/// a second convocation, or of urgency, when it was one): the meeting records when
/// (`convocationsAlertedAt`), the secretariat's accounts are told in-app, live and by
/// e-mail with how many, and the meeting's `convocations` say which (`sending`). Run by
/// the periodic job; returns the meetings alerted.
pub async fn alert_unsent_convocations(db: &sea_orm::DatabaseConnection, now: DateTime<Utc>) -> AppResult<usize> {
    use crate::platform::mail::model::{delivery, DeliveryStatus};
    let candidates = meeting::Entity::find()
        .filter(meeting::Column::Status.eq(MeetingStatus::Convened))
        .filter(meeting::Column::ConvocationsAlertedAt.is_null())
        .filter(meeting::Column::StartsAt.gt(now))
        .all(db)
        .await?;
    if candidates.is_empty() {
        return Ok(0);
    }
    let bodies: std::collections::HashMap<i32, crate::meetings::model::body::Model> =
        crate::meetings::model::body::Entity::find()
            .filter(crate::meetings::model::body::Column::Id.is_in(candidates.iter().map(|m| m.body_id)))
            .all(db)
            .await?
            .into_iter()
            .map(|b| (b.id, b))
            .collect();
    let mut alerted = 0;
    for m in candidates {
        let Some(b) = bodies.get(&m.body_id) else { continue };
        let days = if m.first_convocation_id.is_some() {
            b.second_convocation_days
        } else if m.urgency_reason.is_some() {
            b.urgency_clear_days
        } else {
            b.notice_clear_days
        };
        if paris_day(now) <= crate::meetings::rules::latest_sending_day(paris_day(m.starts_at), days) {
            continue;
        }
        let electronic = convocation::Entity::find()
            .filter(convocation::Column::MeetingId.eq(m.id))
            .filter(convocation::Column::Channel.eq(ConvocationChannel::Electronic))
            .all(db)
            .await?;
        let sent: std::collections::HashSet<i32> = delivery::Entity::find()
            .filter(delivery::Column::Id.is_in(electronic.iter().filter_map(|c| c.delivery_id)))
            .filter(delivery::Column::Status.eq(DeliveryStatus::Sent))
            .all(db)
            .await?
            .into_iter()
            .map(|d| d.id)
            .collect();
        let unsent: Vec<i32> = electronic
            .iter()
            .filter(|c| !c.delivery_id.is_some_and(|d| sent.contains(&d)))
            .map(|c| c.person_id)
            .collect();
        if unsent.is_empty() {
            continue;
        }
        let txn = crate::db::write(db).await?;
        let res = meeting::Entity::update_many()
            .col_expr(meeting::Column::ConvocationsAlertedAt, Expr::value(Some(now)))
            .filter(meeting::Column::Id.eq(m.id))
            .filter(meeting::Column::ConvocationsAlertedAt.is_null())
            .exec(&txn)
            .await?;
        if res.rows_affected == 0 {
            continue;
        }
        let secretariat: Vec<i32> = crate::auth::model::account::Entity::find()
            .filter(crate::auth::model::account::Column::PlatformRole.eq(crate::auth::PlatformRole::Secretariat))
            .filter(crate::auth::model::account::Column::SecretariatIntercommunalityId.eq(b.intercommunality_id))
            .filter(crate::auth::model::account::Column::Active.eq(true))
            .all(&txn)
            .await?
            .into_iter()
            .map(|a| a.person_id)
            .collect();
        let actor = Actor::system("convocation sending check");
        let members = unsent.len() as i64;
        let event = Event::ConvocationsNotSent { meeting: m.id, title: m.title.clone(), members };
        crate::platform::notify::emit(&txn, Some(&actor), event, &secretariat).await?;
        let summary = json!({ "members": unsent, "latestDayClearDays": days });
        record(&txn, &actor, audit("ALERT_CONVOCATIONS_NOT_SENT", "Meeting", m.id, b, summary)).await?;
        txn.commit().await?;
        tracing::warn!(meeting = m.id, members, "convocations not accepted by the end of the latest legal sending day");
        alerted += 1;
    }
    Ok(alerted)
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
