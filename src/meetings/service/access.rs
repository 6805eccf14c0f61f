//! Membership.
use super::*;

/// May the actor see this meeting? Drafts: those who prepare or convene it; otherwise
/// the body's current members, those convened to it, its secretariat and the president.
pub async fn authorize_view<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    m: &meeting::Model,
    b: &body::Model,
) -> AppResult<()> {
    if m.status == MeetingStatus::Draft {
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
    let conference = b.kind == BodyKind::ConferenceOfMayors;
    authorize(db, actor, Action::Convene { intercommunality: b.intercommunality_id, conference }).await.map(|_| ())
}
