//! E-mail in GraphQL: `Delivery` (what the secretariat sees on a meeting, a referral or a
//! policy: `deliveries`), each person's choices per kind (`myNotificationPreferences`,
//! `setNotificationPreference`).
use async_graphql::{Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

use super::model::{delivery, notification_preference, DeliveryMode, DeliveryStatus};
use crate::audit::service::{record, Entry};
use crate::auth::policy::{pass, Action};
use crate::cache::DoNotCache;
use crate::directory::graphql::Person;
use crate::error::{AppError, AppResult};
use crate::graphql::support::{actor, keyset_page, loaders, state, KeyConn, PageArgs};
use crate::ids::{self, Kind};
use crate::platform::notify::model::outbox_event;
use crate::platform::notify::NotificationKind;

/// One e-mail to one person about one event (envoi).
pub struct Delivery(pub delivery::Model, pub NotificationKind);

/// One e-mail to one person about one event (envoi): the proof that it was sent, or why
/// it was not.
#[Object]
impl Delivery {
    async fn id(&self) -> ID {
        ids::encode(Kind::Delivery, self.0.id)
    }
    /// What it tells of.
    async fn kind(&self) -> NotificationKind {
        self.1
    }
    async fn recipient(&self, ctx: &Context<'_>) -> AppResult<Person> {
        loaders(ctx)?.person.load_one(self.0.person_id).await?.map(Person).ok_or_else(|| AppError::not_found("person"))
    }
    /// The address it went to, as it was when the event happened.
    async fn address(&self) -> &str {
        &self.0.address
    }
    async fn status(&self) -> DeliveryStatus {
        self.0.status
    }
    /// Gathered in the person's daily digest (récapitulatif quotidien).
    async fn digest(&self) -> bool {
        self.0.digest
    }
    /// Sendings tried so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// The next attempt (QUEUED).
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.0.status == DeliveryStatus::Queued).then_some(self.0.next_attempt_at)
    }
    /// The SMTP server's last answer (or the .eml file written).
    async fn smtp_answer(&self) -> Option<&str> {
        self.0.answer.as_deref()
    }
    async fn message_id(&self) -> Option<&str> {
        self.0.message_id.as_deref()
    }
    /// When the SMTP server accepted it: for a convocation, its legal sending time.
    async fn accepted_at(&self) -> Option<DateTime<Utc>> {
        self.0.accepted_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Which events' deliveries to list.
#[derive(Clone, Copy)]
pub enum About {
    Meeting(i32),
    Referral(i32),
    Policy(i32),
}

/// The deliveries of the events about one record, in the order they were queued
/// (`status`: only those). Two statements.
pub async fn deliveries_about<C: ConnectionTrait>(
    db: &C,
    about: About,
    status: Option<DeliveryStatus>,
) -> AppResult<Vec<(delivery::Model, NotificationKind)>> {
    let events = outbox_event::Entity::find().filter(match about {
        About::Meeting(id) => outbox_event::Column::MeetingId.eq(id),
        About::Referral(id) => outbox_event::Column::ReferralId.eq(id),
        About::Policy(id) => outbox_event::Column::PolicyId.eq(id),
    });
    let kinds: std::collections::HashMap<i32, NotificationKind> =
        events.all(db).await?.into_iter().map(|e| (e.id, e.kind)).collect();
    let mut q = delivery::Entity::find()
        .filter(delivery::Column::EventId.is_in(kinds.keys().copied()))
        .order_by_asc(delivery::Column::Id);
    if let Some(s) = status {
        q = q.filter(delivery::Column::Status.eq(s));
    }
    Ok(q.all(db).await?.into_iter().filter_map(|d| kinds.get(&d.event_id).map(|k| (d, *k))).collect())
}

/// The `deliveries` field of a meeting, referral or policy: for whom `action` allows
/// (their secretariat). Never cached: sending changes them without a mutation.
pub async fn deliveries_field(
    ctx: &Context<'_>,
    action: Action,
    about: About,
    status: Option<DeliveryStatus>,
    page: PageArgs,
) -> AppResult<KeyConn<Delivery>> {
    DoNotCache::mark(ctx);
    let db = &state(ctx)?.db;
    pass(db, actor(ctx)?, action).await?;
    let rows = deliveries_about(db, about, status).await?;
    let items = rows.into_iter().map(|(d, k)| (String::new(), d.id, Delivery(d, k))).collect();
    keyset_page(ctx, &page, "deliveries", items, false)
}

/// A person's choice for one kind of notification.
#[derive(SimpleObject)]
pub struct NotificationPreference {
    kind: NotificationKind,
    mode: DeliveryMode,
    /// A legal notice (convocation, referral addressed to the commune): always sent at
    /// once, whatever the mode.
    legal: bool,
}

async fn preferences_of<C: ConnectionTrait>(db: &C, person: i32) -> AppResult<Vec<NotificationPreference>> {
    let chosen: std::collections::HashMap<NotificationKind, DeliveryMode> = notification_preference::Entity::find()
        .filter(notification_preference::Column::PersonId.eq(person))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.kind, p.mode))
        .collect();
    Ok(NotificationKind::ALL
        .iter()
        .map(|k| NotificationPreference {
            kind: *k,
            mode: if k.is_legal() {
                DeliveryMode::Immediate
            } else {
                chosen.get(k).copied().unwrap_or(DeliveryMode::Immediate)
            },
            legal: k.is_legal(),
        })
        .collect())
}

#[derive(Default)]
pub struct MailQuery;

#[Object]
impl MailQuery {
    /// The actor's e-mail choices, one per kind of notification (IMMEDIATE unless chosen
    /// otherwise).
    async fn my_notification_preferences(&self, ctx: &Context<'_>) -> AppResult<Vec<NotificationPreference>> {
        let p = actor(ctx)?.require()?;
        preferences_of(&state(ctx)?.db, p.person_id).await
    }
}

#[derive(Default)]
pub struct MailMutation;

#[Object]
impl MailMutation {
    /// Chooses how the actor receives one kind of notification by e-mail: at once, in a
    /// daily digest (07:00, Paris time), or not at all (it stays in the app). Legal
    /// notices (convocations, referrals addressed to the commune) always go:
    /// LEGAL_NOTICE. Returns all the actor's choices.
    async fn set_notification_preference(
        &self,
        ctx: &Context<'_>,
        kind: NotificationKind,
        mode: DeliveryMode,
    ) -> AppResult<Vec<NotificationPreference>> {
        let a = actor(ctx)?;
        let p = a.require()?;
        if kind.is_legal() {
            return Err(AppError::rule(
                "LEGAL_NOTICE",
                format!("{} is a legal notice: it is always sent by e-mail", kind.as_str()),
            ));
        }
        let db = &state(ctx)?.db;
        let txn = crate::db::write(db).await?;
        let now = Utc::now();
        let existing = notification_preference::Entity::find()
            .filter(notification_preference::Column::PersonId.eq(p.person_id))
            .filter(notification_preference::Column::Kind.eq(kind))
            .one(&txn)
            .await?;
        match existing {
            Some(row) => {
                notification_preference::Entity::update_many()
                    .col_expr(notification_preference::Column::Mode, sea_orm::sea_query::Expr::value(mode))
                    .col_expr(notification_preference::Column::UpdatedAt, sea_orm::sea_query::Expr::value(now))
                    .filter(notification_preference::Column::Id.eq(row.id))
                    .exec(&txn)
                    .await?;
            }
            None => {
                use sea_orm::{ActiveModelTrait, Set};
                notification_preference::ActiveModel {
                    person_id: Set(p.person_id),
                    kind: Set(kind),
                    mode: Set(mode),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(&txn)
                .await?;
            }
        }
        record(
            &txn,
            a,
            Entry {
                action: "SET_NOTIFICATION_PREFERENCE",
                target_type: "Person",
                target_id: Some(p.person_id),
                scope: None,
                summary: json!({ "kind": kind.as_str(), "mode": mode.as_str() }),
            },
        )
        .await?;
        let all = preferences_of(&txn, p.person_id).await?;
        txn.commit().await?;
        Ok(all)
    }
}
