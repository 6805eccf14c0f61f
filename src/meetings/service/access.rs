//! Membership: who sees which body and meeting. These checks are the only makers of the
//! `Granted` rows the GraphQL objects of meetings and bodies hold (with the use cases, for
//! what they wrote); a child visible because its parent is gets its grant from a named
//! rule below.
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::meeting_of;
use crate::auth::policy::{granted, pass, Action};
use crate::auth::{Actor, Granted, Pass};
use crate::error::AppResult;
use crate::meetings::model::{agenda_item, body, convocation, meeting};
use crate::meetings::queries::body_of;
use crate::meetings::rules::{AgendaItemKind, BodyKind, MeetingStatus, VoteResult};

/// May the actor see this meeting? Drafts: those who prepare or convene it; otherwise
/// the body's current members, those convened to it, its secretariat and the president.
pub async fn authorize_view<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    m: &meeting::Model,
    b: &body::Model,
) -> AppResult<Pass> {
    if m.status == MeetingStatus::Draft {
        return authorize_convener(db, actor, b).await;
    }
    let action = Action::SeeMeeting { meeting: m.id, body: b.id, intercommunality: b.intercommunality_id };
    pass(db, actor, action).await
}

/// The meeting, if the actor may see it (NOT_FOUND, or FORBIDDEN).
pub async fn visible<C: ConnectionTrait>(db: &C, actor: &Actor, id: i32) -> AppResult<Granted<meeting::Model>> {
    let (m, b) = meeting_of(db, id).await?;
    Ok(authorize_view(db, actor, &m, &b).await?.grant(m))
}

/// Who convenes a body's meetings, and so prepares them: its secretariat; for the
/// conference of mayors, also the president.
pub async fn authorize_convener<C: ConnectionTrait>(db: &C, actor: &Actor, b: &body::Model) -> AppResult<Pass> {
    let conference = b.kind == BodyKind::ConferenceOfMayors;
    pass(db, actor, Action::Convene { intercommunality: b.intercommunality_id, conference }).await
}

/// The bodies' directory (names, kinds, rules) is read by every signed-in person
/// (`Action::Read`); what a body holds (members, meetings...) asks `SeeBody` again.
pub struct Directory(Pass);

pub async fn directory<C: ConnectionTrait>(db: &C, actor: &Actor) -> AppResult<Directory> {
    Ok(Directory(pass(db, actor, Action::Read).await?))
}

impl Directory {
    /// The bodies of intercommunality `e` (of one kind, if given).
    pub async fn bodies<C: ConnectionTrait>(
        &self,
        db: &C,
        e: i32,
        kind: Option<BodyKind>,
    ) -> AppResult<Vec<Granted<body::Model>>> {
        let mut q = body::Entity::find().filter(body::Column::IntercommunalityId.eq(e));
        if let Some(k) = kind {
            q = q.filter(body::Column::Kind.eq(k.as_str()));
        }
        Ok(q.all(db).await?.into_iter().map(|b| self.0.grant(b)).collect())
    }
    /// One body (NOT_FOUND).
    pub async fn body<C: ConnectionTrait>(&self, db: &C, id: i32) -> AppResult<Granted<body::Model>> {
        Ok(self.0.grant(body_of(db, id).await?))
    }
}

/// The meetings of a body the actor sees, once its meetings are loaded (`filter`).
pub struct BodyMeetings {
    seen: Pass,
    drafts: bool,
}

/// May the actor see body `b`'s meetings? Its members see those convened (SeeBody covers
/// SeeMeeting); drafts only its conveners.
pub async fn body_meetings<C: ConnectionTrait>(db: &C, actor: &Actor, b: &body::Model) -> AppResult<BodyMeetings> {
    let seen = pass(db, actor, Action::SeeBody { body: b.id, intercommunality: b.intercommunality_id }).await?;
    let drafts = granted(authorize_convener(db, actor, b).await)?;
    Ok(BodyMeetings { seen, drafts })
}

impl BodyMeetings {
    /// The body's meetings the actor sees, of `all` its meetings.
    pub fn filter(&self, all: Vec<meeting::Model>) -> Vec<Granted<meeting::Model>> {
        all.into_iter()
            .filter(|m| self.drafts || m.status != MeetingStatus::Draft)
            .map(|m| self.seen.grant(m))
            .collect()
    }
}

/// Meetings the actor was convened to: SeeMeeting covers those convened.
pub async fn convened_meetings<C: ConnectionTrait>(db: &C, actor: &Actor) -> AppResult<Vec<Granted<meeting::Model>>> {
    let p = actor.require()?;
    let ids: Vec<i32> = convocation::Entity::find()
        .filter(convocation::Column::PersonId.eq(p.person_id))
        .all(db)
        .await?
        .iter()
        .map(|c| c.meeting_id)
        .collect();
    let rows = meeting::Entity::find().filter(meeting::Column::Id.is_in(ids)).all(db).await?;
    let seen = pass(db, actor, Action::Read).await?;
    Ok(rows.into_iter().map(|m| seen.grant(m)).collect())
}

/// Opinions adopted by intercommunality `e`'s conference of mayors and published, newest
/// first: every municipal councillor of its member communes reads them (ReadOpinions).
pub async fn adopted_opinions<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    e: i32,
) -> AppResult<Vec<Granted<agenda_item::Model>>> {
    let readers = pass(db, actor, Action::ReadOpinions { intercommunality: e }).await?;
    let conferences: Vec<i32> = body::Entity::find()
        .filter(body::Column::IntercommunalityId.eq(e))
        .filter(body::Column::Kind.eq(BodyKind::ConferenceOfMayors.as_str()))
        .all(db)
        .await?
        .iter()
        .map(|b| b.id)
        .collect();
    let published: Vec<i32> = meeting::Entity::find()
        .filter(meeting::Column::BodyId.is_in(conferences))
        .filter(meeting::Column::DecisionsPublishedAt.is_not_null())
        .all(db)
        .await?
        .iter()
        .map(|m| m.id)
        .collect();
    let rows = agenda_item::Entity::find()
        .filter(agenda_item::Column::MeetingId.is_in(published))
        .filter(agenda_item::Column::Kind.eq(AgendaItemKind::Opinion.as_str()))
        .filter(agenda_item::Column::Result.eq(VoteResult::Adopted.as_str()))
        .order_by_desc(agenda_item::Column::DecidedAt)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|i| readers.grant(i)).collect())
}

/// The secretariat and the president of an intercommunality, following its work
/// (progress report, overdue publications): `Convene` the conference.
pub struct Officer {
    pub intercommunality: i32,
}

pub async fn officer_of<C: ConnectionTrait>(db: &C, actor: &Actor, e: i32) -> AppResult<Granted<Officer>> {
    let p = pass(db, actor, Action::Convene { intercommunality: e, conference: true }).await?;
    Ok(p.grant(Officer { intercommunality: e }))
}

// Named rules: what one sees because one sees a parent, each vouching for a child of
// the parent's grant. Free functions of this module (not methods of `Granted`) so that
// auth::granted depends on no domain.

/// The secretariat and the president see every body of their intercommunality.
pub fn officer_body(o: &Granted<Officer>, b: body::Model) -> Granted<body::Model> {
    o.vouch(b)
}

/// ... and every meeting of its bodies once convened (SeeMeeting); the lists of the
/// progress report hold no draft.
pub fn officer_meeting(o: &Granted<Officer>, m: meeting::Model) -> Granted<meeting::Model> {
    o.vouch(m)
}

/// The body of a meeting one sees (its directory entry: what it holds asks SeeBody).
pub fn meeting_body(m: &Granted<meeting::Model>, b: body::Model) -> Granted<body::Model> {
    m.vouch(b)
}

/// An item of the agenda of a meeting one sees.
pub fn meeting_agenda_item(m: &Granted<meeting::Model>, item: agenda_item::Model) -> Granted<agenda_item::Model> {
    m.vouch(item)
}

/// A document of a meeting one sees (SeeMeeting covers its documents).
pub fn meeting_document<D>(m: &Granted<meeting::Model>, d: D) -> Granted<D> {
    m.vouch(d)
}

/// A document of an item one sees, so of its meeting.
pub fn item_document<D>(i: &Granted<agenda_item::Model>, d: D) -> Granted<D> {
    i.vouch(d)
}
