//! The inbox in GraphQL: the `Notification` type, `myNotifications` and `unreadCount`,
//! `markNotificationsRead`.
use async_graphql::{Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::inbox::{self, Mark, MAX_IDS};
use super::model::notification;
use super::NotificationKind;
use crate::error::{AppError, AppResult};
use crate::graphql::support::{actor, keyset_page, state, KeyConn, PageArgs};
use crate::ids::{self, Kind};

pub struct Notification(pub notification::Model);

#[Object]
impl Notification {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Notification, self.0.id)
    }
    /// When its person marked it read (null: unread).
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }
    /// What it tells of (its outbox event's kind).
    async fn kind(&self) -> NotificationKind {
        self.0.kind
    }
    async fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn meeting_id(&self) -> Option<ID> {
        self.0.meeting_id.map(|m| ids::encode(Kind::Meeting, m))
    }
    async fn referral_id(&self) -> Option<ID> {
        self.0.referral_id.map(|r| ids::encode(Kind::Referral, r))
    }
}

#[derive(SimpleObject)]
pub struct MarkedRead {
    /// Notifications marked read by this call.
    marked: u64,
    /// The actor's notifications still unread.
    unread_count: u64,
}

#[derive(Default)]
pub struct NotifyQuery;

#[Object]
impl NotifyQuery {
    /// The actor's notifications, newest first (documents added, changes, adopted opinions).
    async fn my_notifications(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> AppResult<KeyConn<Notification>> {
        let p = actor(ctx)?.require()?;
        let rows = inbox::of_person(&state(ctx)?.db, p.person_id).await?;
        let items = rows.into_iter().map(|n| (String::new(), n.id, Notification(n))).collect();
        keyset_page(ctx, &PageArgs { after, before, first, last }, "myNotifications", items, true)
    }
    /// How many of the actor's notifications are not read yet.
    async fn unread_count(&self, ctx: &Context<'_>) -> AppResult<u64> {
        let p = actor(ctx)?.require()?;
        inbox::unread_count(&state(ctx)?.db, p.person_id).await
    }
}

#[derive(Default)]
pub struct NotifyMutation;

#[Object]
impl NotifyMutation {
    /// Marks the actor's own notifications read: those of `ids` (all must be theirs), or
    /// all created up to `upTo`. Returns how many were marked (already read ones keep
    /// their time).
    async fn mark_notifications_read(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        up_to: Option<DateTime<Utc>>,
    ) -> AppResult<MarkedRead> {
        let mark = match (ids, up_to) {
            (Some(ids), None) => {
                if ids.len() > MAX_IDS {
                    return Err(AppError::validation("ids", format!("at most {MAX_IDS} notifications at once")));
                }
                let mut parsed = Vec::with_capacity(ids.len());
                for (i, id) in ids.iter().enumerate() {
                    parsed.push(ids::decode(&format!("ids.{i}"), Kind::Notification, id)?);
                }
                Mark::Ids(parsed)
            }
            (None, Some(t)) => Mark::UpTo(t),
            _ => return Err(AppError::validation("ids", "give either ids or upTo")),
        };
        let st = state(ctx)?;
        let a = actor(ctx)?;
        let marked = inbox::mark_read(st, a, mark).await?;
        let unread = inbox::unread_count(&st.db, a.require()?.person_id).await?;
        Ok(MarkedRead { marked, unread_count: unread })
    }
}
