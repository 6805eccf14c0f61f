//! Status.
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::lifecycle::notify_convened;
use super::{audit, meeting_of};
use crate::audit::service::record;
use crate::auth::policy::{pass, Action};
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::meetings::model::meeting;
use crate::meetings::rules::{BodyKind, MeetingStatus};
use crate::platform::notify::Event;
use crate::platform::text::optional;
use crate::platform::versions::{expect_one, next_version};
use crate::AppState;

/// Moves a meeting to HELD, CLOSED, POSTPONED or CANCELLED (convening has its own use
/// case). Postponement and cancellation are told to the members.
pub async fn change_status(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
    to: MeetingStatus,
    reason: Option<String>,
) -> AppResult<Granted<meeting::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let (m, b) = meeting_of(&txn, id).await?;
    let conference = b.kind == BodyKind::ConferenceOfMayors;
    let action = match to {
        MeetingStatus::Postponed | MeetingStatus::Cancelled => {
            Action::Convene { intercommunality: b.intercommunality_id, conference }
        }
        _ => Action::ManageMeetings { intercommunality: b.intercommunality_id },
    };
    let allowed = pass(&txn, actor, action).await?;
    if to == MeetingStatus::Convened {
        return Err(AppError::validation("status", "use conveneMeeting to convene"));
    }
    let from = m.status;
    from.transition(to).map_err(|e| AppError::rule("INVALID_TRANSITION", e))?;
    let reason = optional("reason", reason.as_deref(), 2000)?;
    let told = matches!(to, MeetingStatus::Postponed | MeetingStatus::Cancelled) && from != MeetingStatus::Draft;
    let next = next_version(expected_version)?;
    let res = meeting::Entity::update_many()
        .col_expr(meeting::Column::Status, Expr::value(to))
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
        let (title, reason) = (m.title.clone(), reason.clone());
        let event = if to == MeetingStatus::Cancelled {
            Event::MeetingCancelled { meeting: id, title, reason }
        } else {
            Event::MeetingPostponed { meeting: id, title, reason }
        };
        notify_convened(&txn, actor, id, event).await?;
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
    Ok(allowed.grant(after))
}
