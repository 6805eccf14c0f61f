//! Use cases of bodies and meetings: authorise, apply the rules of rules.rs, write in one
//! transaction with the audit entry.
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::model::{body, convocation, meeting};
pub use super::queries::{body_of, members, seats, Member, Vacancy};
use super::rules::*;
use crate::audit::service::Entry;
use crate::error::{AppError, AppResult};

mod access;
mod agenda;
mod bodies;
mod calendars;
mod convening;
mod lifecycle;
mod minutes;
mod quorum;
mod requests;
mod rotation;
mod status;
mod votes;
pub use access::*;
pub use agenda::*;
pub use bodies::*;
pub use calendars::*;
pub use convening::*;
pub use lifecycle::*;
pub use minutes::*;
pub use quorum::*;
pub use requests::*;
pub use rotation::*;
pub use status::*;
pub use votes::*;

// ---- loading -----------------------------------------------------------------------------

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

pub async fn meeting_of<C: ConnectionTrait>(db: &C, id: i32) -> AppResult<(meeting::Model, body::Model)> {
    let m = meeting::Entity::find_by_id(id).one(db).await?.ok_or_else(|| AppError::not_found("meeting"))?;
    let b = body_of(db, m.body_id).await?;
    Ok((m, b))
}

pub fn profile_of(b: &body::Model) -> RuleProfile {
    RuleProfile {
        notice_clear_days: b.notice_clear_days,
        urgency_clear_days: b.urgency_clear_days,
        note_required: b.note_required,
        quorum_rule: b.quorum_rule,
        proxies_allowed: b.proxies_allowed,
        proxies_per_holder: b.proxies_per_holder,
        proxy_max_meetings: b.proxy_max_meetings,
        second_convocation_days: b.second_convocation_days,
        legal_source: b.legal_source.clone(),
    }
}

pub(super) fn audit<'a>(
    action: &'a str,
    target_type: &'a str,
    id: i32,
    b: &body::Model,
    summary: serde_json::Value,
) -> Entry<'a> {
    Entry { action, target_type, target_id: Some(id), scope: Some(b.intercommunality_id), summary }
}
