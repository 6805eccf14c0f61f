//! Sending rounds: claim the due deliveries, send, record each answer.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lettre::message::Mailbox;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, Order, QueryFilter};

use super::compose::{self, Draft};
use super::model::{delivery, DeliveryStatus};
use super::{Mailer, Outcome};
use crate::error::AppResult;
use crate::people::model::person;
use crate::platform::notify::model::outbox_event;
use crate::platform::notify::Event;

/// What a round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Messages accepted (a digest counts once).
    pub sent: usize,
    /// Messages put back for a later attempt.
    pub retried: usize,
    /// Messages refused for good.
    pub failed: usize,
    /// Delivery rows claimed.
    pub claimed: usize,
}

/// The wait before attempt `attempts + 1`: `base` doubled at each attempt, at most an hour.
pub fn backoff(base: Duration, attempts: i32) -> Duration {
    let factor = 1u32 << attempts.clamp(1, 16).saturating_sub(1);
    base.saturating_mul(factor).min(Duration::from_secs(3600))
}

/// Claims up to `limit` due deliveries (queued and due, or held by a round past its
/// lease): SENDING, one more attempt, leased until `now + lease`. On PostgreSQL the rows
/// are locked with SKIP LOCKED, so two instances never claim the same row.
async fn claim(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    limit: u64,
    lease: Duration,
) -> AppResult<Vec<delivery::Model>> {
    use delivery::Column as C;
    let due = Condition::any()
        .add(Condition::all().add(C::Status.eq(DeliveryStatus::Queued)).add(C::NextAttemptAt.lte(now)))
        .add(Condition::all().add(C::Status.eq(DeliveryStatus::Sending)).add(C::LeasedUntil.lt(now)));
    let mut ids = Query::select();
    ids.column(C::Id)
        .from(delivery::Entity)
        .cond_where(due)
        .order_by(C::NextAttemptAt, Order::Asc)
        .order_by(C::PersonId, Order::Asc)
        .order_by(C::Id, Order::Asc)
        .limit(limit);
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        ids.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(2));
    let txn = crate::db::write(db).await?;
    let claimed = delivery::Entity::update_many()
        .col_expr(C::Status, Expr::value(DeliveryStatus::Sending))
        .col_expr(C::LeasedUntil, Expr::value(Some(until)))
        .col_expr(C::Attempts, Expr::col(C::Attempts).add(1))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.in_subquery(ids))
        .exec_with_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(claimed)
}

/// Records one message's answer on its rows (those still SENDING: a row another round
/// took over after the lease keeps that round's answer).
async fn record(
    db: &DatabaseConnection,
    rows: &[delivery::Model],
    outcome: &Outcome,
    message_id: &str,
    mailer: &Mailer,
) -> AppResult<()> {
    use delivery::Column as C;
    let now = Utc::now();
    let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
    let attempts = rows.iter().map(|r| r.attempts).max().unwrap_or(1);
    let update = delivery::Entity::update_many()
        .col_expr(C::LeasedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.is_in(ids))
        .filter(C::Status.eq(DeliveryStatus::Sending));
    let update = match outcome {
        Outcome::Accepted(answer) => update
            .col_expr(C::Status, Expr::value(DeliveryStatus::Sent))
            .col_expr(C::Answer, Expr::value(Some(answer.clone())))
            .col_expr(C::MessageId, Expr::value(Some(message_id.to_string())))
            .col_expr(C::AcceptedAt, Expr::value(Some(now))),
        Outcome::Temporary(answer) if attempts < mailer.config.max_attempts => {
            let wait = chrono::Duration::from_std(backoff(mailer.config.retry_base, attempts))
                .unwrap_or(chrono::Duration::hours(1));
            update
                .col_expr(C::Status, Expr::value(DeliveryStatus::Queued))
                .col_expr(C::Answer, Expr::value(Some(answer.clone())))
                .col_expr(C::NextAttemptAt, Expr::value(now + wait))
        }
        Outcome::Temporary(answer) | Outcome::Permanent(answer) => update
            .col_expr(C::Status, Expr::value(DeliveryStatus::Failed))
            .col_expr(C::Answer, Expr::value(Some(answer.clone()))),
    };
    // A link's secret is kept only while the message may still be sent.
    let update = match outcome {
        Outcome::Temporary(_) if attempts < mailer.config.max_attempts => update,
        _ => update.col_expr(C::Secret, Expr::value(Option::<String>::None)),
    };
    let txn = crate::db::write(db).await?;
    update.exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// One message to send: its rows (one, or a person's digest), recipient, draft.
struct Outgoing {
    rows: Vec<delivery::Model>,
    to: Result<Mailbox, String>,
    draft: Result<Arc<Draft>, String>,
}

/// Paces the starts of sendings: at most `per_second`.
struct Pacer {
    every: Duration,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    fn new(per_second: u32) -> Pacer {
        Pacer {
            every: Duration::from_secs(1) / Ord::max(per_second, 1),
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }
    async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let now = tokio::time::Instant::now();
            let at = (*next).max(now);
            *next = at + self.every;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

/// One round: claims what is due, sends it, records the answers.
pub async fn drain_once(db: &DatabaseConnection, mailer: &Mailer) -> AppResult<Round> {
    let cfg = &mailer.config;
    let claimed = claim(db, Utc::now(), cfg.batch, cfg.lease).await?;
    let mut round = Round { claimed: claimed.len(), ..Round::default() };
    if claimed.is_empty() {
        return Ok(round);
    }
    // The events and people of the round, one statement each.
    let event_ids: Vec<i32> = claimed.iter().map(|d| d.event_id).collect();
    let events: HashMap<i32, outbox_event::Model> = outbox_event::Entity::find()
        .filter(outbox_event::Column::Id.is_in(event_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    let people: HashMap<i32, person::Model> = person::Entity::find()
        .filter(person::Column::Id.is_in(claimed.iter().map(|d| d.person_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut drafts: HashMap<i32, Result<Arc<Draft>, String>> = HashMap::new();
    for (id, e) in &events {
        // A database error fails the round (its rows are taken again after their lease);
        // a payload that does not parse never will.
        let d = match serde_json::from_value::<Event>(e.payload.clone()) {
            Ok(ev) => Ok(Arc::new(compose::draft(db, &cfg.public_url, &ev).await?)),
            Err(e) => {
                tracing::error!(event = id, error = %e, "an outbox payload does not parse");
                Err("the message could not be written".to_string())
            }
        };
        drafts.insert(*id, d);
    }
    let draft_of = |d: &delivery::Model| {
        drafts.get(&d.event_id).cloned().unwrap_or_else(|| Err("the event is missing".to_string()))
    };
    let mailbox = |d: &delivery::Model| {
        let name = people.get(&d.person_id).map(|p| format!("{} {}", p.given_name, p.family_name));
        d.address.parse().map(|a| Mailbox::new(name, a)).map_err(|e| format!("invalid address {:?}: {e}", d.address))
    };
    // Immediate rows one message each; a person's digest rows one message together.
    let mut out = Vec::new();
    let mut digests: BTreeMap<i32, Vec<delivery::Model>> = BTreeMap::new();
    for d in claimed {
        if d.digest {
            digests.entry(d.person_id).or_default().push(d);
        } else {
            let draft = match (&d.secret, draft_of(&d)) {
                (Some(secret), Ok(draft)) => Ok(Arc::new(draft.with_secret(secret))),
                (None, Ok(draft)) if draft.receipt => {
                    match super::receipt::link(&cfg.public_url, &mailer.receipt_key, d.id) {
                        Some(link) => Ok(Arc::new(draft.with_receipt(link))),
                        None => Ok(draft),
                    }
                }
                (_, draft) => draft,
            };
            out.push(Outgoing { to: mailbox(&d), draft, rows: vec![d] });
        }
    }
    for (_, rows) in digests {
        let parts: Vec<Arc<Draft>> = rows.iter().filter_map(|r| draft_of(r).ok()).collect();
        let draft = if parts.is_empty() {
            Err("the message could not be written".to_string())
        } else {
            Ok(Arc::new(compose::digest(&parts.iter().map(|d| d.as_ref()).collect::<Vec<_>>())))
        };
        out.push(Outgoing { to: mailbox(&rows[0]), draft, rows });
    }
    let pacer = Pacer::new(cfg.per_second);
    let results: Vec<AppResult<Outcome>> = futures_util::stream::iter(out)
        .map(|o| {
            let pacer = &pacer;
            async move {
                let first = o.rows[0].id;
                let message_id = format!("<entente.{first}.{}@{}>", o.rows[0].event_id, mailer.domain);
                let outcome = match (&o.to, &o.draft) {
                    (Err(e), _) => Outcome::Permanent(e.clone()),
                    (_, Err(e)) => Outcome::Permanent(e.clone()),
                    (Ok(to), Ok(d)) => match compose::message(d, &mailer.from, to.clone(), &message_id) {
                        Err(e) => Outcome::Permanent(e),
                        Ok(m) => {
                            pacer.wait().await;
                            let name = format!("{}-{first}", Utc::now().format("%Y%m%d-%H%M%S"));
                            mailer.send(m, &name).await
                        }
                    },
                };
                record(db, &o.rows, &outcome, &message_id, mailer).await?;
                Ok(outcome)
            }
        })
        .buffer_unordered(cfg.concurrency.max(1))
        .collect()
        .await;
    for r in results {
        match r? {
            Outcome::Accepted(_) => round.sent += 1,
            Outcome::Temporary(_) => round.retried += 1,
            Outcome::Permanent(_) => round.failed += 1,
        }
    }
    Ok(round)
}

/// Drains until the process stops: rounds back to back while there is work, a pause of
/// `poll` when there is none or when a round failed.
pub fn spawn(db: DatabaseConnection, mailer: Arc<Mailer>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match drain_once(&db, &mailer).await {
                Ok(r) if r.claimed > 0 => {
                    tracing::info!(sent = r.sent, retried = r.retried, failed = r.failed, "mail round");
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = ?e, "a mail round failed; tried again shortly"),
            }
            tokio::time::sleep(mailer.config.poll).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_an_hour() {
        let b = Duration::from_secs(30);
        assert_eq!(backoff(b, 1), Duration::from_secs(30));
        assert_eq!(backoff(b, 2), Duration::from_secs(60));
        assert_eq!(backoff(b, 4), Duration::from_secs(240));
        assert_eq!(backoff(b, 8), Duration::from_secs(3600));
        assert_eq!(backoff(b, 40), Duration::from_secs(3600));
    }
}
