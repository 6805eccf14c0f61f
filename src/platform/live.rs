//! Live updates (issue 16): GraphQL subscriptions over WebSocket at `/graphql/ws`.
//!
//! **Where events come from.** Every mutation writes its audit entry in its own
//! transaction, and every notification its outbox event: the live feed tails those two
//! tables, so an event is published only once its change committed, never for a change
//! that rolled back, and by every instance sharing the database (an event committed
//! through instance A reaches a subscriber of instance B). On PostgreSQL each audited
//! write also sends `NOTIFY entente_live` in its transaction (delivered at commit), which
//! wakes every instance's tail at once; the tail reads by id from where it stopped, so
//! after a lost connection it catches up on what it missed. Without NOTIFY (SQLite, one
//! process) it looks every 100 ms.
//!
//! Rows are read by id past the last seen, and those of the last few seconds again
//! (a transaction that took its id earlier may commit later), each published once.
//!
//! **What a subscriber gets.** A feed names the meeting, referral or policy a change was
//! about; a subscription to one re-reads it, through the same authorization as the query
//! that shows it, and yields it with the change's action. `myNotifications` yields the
//! subscriber's own new notifications.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use tokio::sync::broadcast;

/// What a change was about, and what it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The audit entry's action (RECORD_VOTE, SUBMIT_RESPONSE...).
    pub action: String,
    pub at: DateTime<Utc>,
    pub meeting: Option<i32>,
    pub referral: Option<i32>,
    pub policy: Option<i32>,
}

/// One published event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveEvent {
    Changed(Change),
    /// An outbox event told these people (their new notifications).
    Notified {
        event: i32,
        people: Vec<i32>,
    },
}

/// The PostgreSQL channel the audited writes notify.
pub const CHANNEL: &str = "entente_live";
/// Rows of the last seconds read again, for transactions that commit after a later one.
const WINDOW_SECONDS: i64 = 5;
const POLL: Duration = Duration::from_millis(100);
const PG_POLL: Duration = Duration::from_secs(1);

/// The process's live feed, shared by its connections.
#[derive(Clone)]
pub struct Live {
    tx: broadcast::Sender<Arc<LiveEvent>>,
    started: Arc<OnceLock<()>>,
    /// Open WebSocket connections per account.
    connections: Arc<Mutex<HashMap<i32, usize>>>,
}

impl Default for Live {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(4096);
        Live { tx, started: Arc::default(), connections: Arc::default() }
    }
}

/// Counts one connection of an account while it lives.
pub struct ConnectionGuard {
    account: i32,
    connections: Arc<Mutex<HashMap<i32, usize>>>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut c = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = c.get_mut(&self.account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.remove(&self.account);
            }
        }
    }
}

impl Live {
    /// Receives what is published from now on; the first subscriber starts the tail.
    /// `url`: the database's, for PostgreSQL's LISTEN on a connection of its own (not
    /// one of the pool's).
    pub fn subscribe(&self, db: &DatabaseConnection, url: &str) -> broadcast::Receiver<Arc<LiveEvent>> {
        let rx = self.tx.subscribe();
        if self.started.set(()).is_ok() {
            let (db, tx, url) = (db.clone(), self.tx.clone(), url.to_string());
            tokio::spawn(async move { tail(db, url, tx).await });
        }
        rx
    }

    /// One more connection for `account`, unless it has `max` already.
    pub fn connect(&self, account: i32, max: usize) -> Option<ConnectionGuard> {
        let mut c = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        let n = c.entry(account).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ConnectionGuard { account, connections: self.connections.clone() })
    }
}

/// Tells the other instances a change committed (PostgreSQL; a no-op on SQLite): called
/// in the change's transaction, delivered at its commit.
pub async fn notify<C: ConnectionTrait>(conn: &C) -> Result<(), sea_orm::DbErr> {
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        conn.execute_unprepared(&format!("NOTIFY {CHANNEL}")).await?;
    }
    Ok(())
}

/// The id of the last row of `table` (0 when empty).
async fn last_id(db: &DatabaseConnection, table: &str) -> Result<i32, sea_orm::DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), format!("SELECT MAX(id) AS m FROM {table}")))
        .await?;
    Ok(row.and_then(|r| r.try_get::<Option<i32>>("", "m").ok().flatten()).unwrap_or(0))
}

/// Where a target lives: the table and the column naming its meeting or policy.
fn parent_of(target_type: &str) -> Option<(&'static str, &'static str, bool)> {
    // (table, column, true: a meeting / false: a policy)
    Some(match target_type {
        "AgendaItem" => ("agenda_item", "meeting_id", true),
        "Proxy" => ("proxy", "first_meeting_id", true),
        "Document" => ("document", "meeting_id", true),
        "PolicyContribution" => ("policy_contribution", "policy_id", false),
        "PolicyVersion" => ("policy_version", "policy_id", false),
        "PolicyStep" => ("policy_step", "policy_id", false),
        "PolicySection" => ("policy_section", "policy_id", false),
        "PolicyDocument" => ("policy_document", "policy_id", false),
        "PolicyConsultation" => ("policy_consultation", "policy_id", false),
        _ => return None,
    })
}

/// Reads the audit entries and outbox events committed since the last look, and
/// publishes them once each.
struct Tail {
    db: DatabaseConnection,
    audit_cursor: i32,
    outbox_cursor: i32,
    seen_audit: HashMap<i32, Instant>,
    seen_outbox: HashMap<i32, Instant>,
}

impl Tail {
    /// One look; `publish` false for the first, which only learns what was there before
    /// anyone subscribed (the window's rows).
    async fn round(&mut self, tx: &broadcast::Sender<Arc<LiveEvent>>, publish: bool) -> Result<(), sea_orm::DbErr> {
        let backend = self.db.get_database_backend();
        let since = Utc::now() - chrono::Duration::seconds(WINDOW_SECONDS);
        // Audit entries: what changed.
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                crate::db::placeholders(backend, "SELECT id, at, action, target_type, target_id, summary FROM audit_entry WHERE id > ? OR at >= ? ORDER BY id LIMIT 2000"),
                [self.audit_cursor.into(), since.into()],
            ))
            .await?;
        let mut fresh = Vec::new();
        for r in rows {
            let id: i32 = r.try_get("", "id")?;
            self.audit_cursor = self.audit_cursor.max(id);
            if self.seen_audit.insert(id, Instant::now()).is_some() {
                continue;
            }
            let summary: serde_json::Value = r.try_get("", "summary").unwrap_or(serde_json::Value::Null);
            fresh.push((
                r.try_get::<String>("", "action")?,
                r.try_get::<DateTime<Utc>>("", "at")?,
                r.try_get::<String>("", "target_type")?,
                r.try_get::<Option<i32>>("", "target_id")?,
                summary,
            ));
        }
        // The meetings and policies of items, proxies, contributions... (one statement per
        // kind of target present).
        let mut parents: HashMap<(String, i32), i32> = HashMap::new();
        let mut wanted: HashMap<&'static str, (String, &'static str, HashSet<i32>)> = HashMap::new();
        for (_, _, t, id, _) in &fresh {
            if let (Some((table, col, _)), Some(id)) = (parent_of(t), id) {
                wanted.entry(table).or_insert_with(|| (t.clone(), col, HashSet::new())).2.insert(*id);
            }
        }
        for (table, (t, col, ids)) in wanted {
            let list = ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
            let q = format!("SELECT id, {col} AS parent FROM {table} WHERE id IN ({list})");
            for r in self.db.query_all_raw(Statement::from_string(backend, q)).await? {
                let id: i32 = r.try_get("", "id")?;
                if let Ok(Some(p)) = r.try_get::<Option<i32>>("", "parent") {
                    parents.insert((t.clone(), id), p);
                }
            }
        }
        for (action, at, t, id, summary) in fresh {
            let from_summary = |k: &str| summary.get(k).and_then(|v| v.as_i64()).and_then(|v| i32::try_from(v).ok());
            let parent = id.and_then(|i| parents.get(&(t.clone(), i)).copied());
            let mut c = Change { action, at, meeting: None, referral: None, policy: None };
            match t.as_str() {
                "Meeting" => c.meeting = id,
                "Referral" => c.referral = id,
                "Policy" => c.policy = id,
                t if t.starts_with("Referral") => c.referral = from_summary("referral"),
                t => match parent_of(t) {
                    Some((_, _, true)) => c.meeting = parent,
                    Some((_, _, false)) => c.policy = parent,
                    None => {}
                },
            }
            if publish && (c.meeting.is_some() || c.referral.is_some() || c.policy.is_some()) {
                let _ = tx.send(Arc::new(LiveEvent::Changed(c)));
            }
        }
        // Outbox events: who was told (their notifications).
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                crate::db::placeholders(
                    backend,
                    "SELECT id FROM outbox_event WHERE id > ? OR created_at >= ? ORDER BY id LIMIT 2000",
                ),
                [self.outbox_cursor.into(), since.into()],
            ))
            .await?;
        let mut events = Vec::new();
        for r in rows {
            let id: i32 = r.try_get("", "id")?;
            self.outbox_cursor = self.outbox_cursor.max(id);
            if self.seen_outbox.insert(id, Instant::now()).is_none() {
                events.push(id);
            }
        }
        if publish && !events.is_empty() {
            let list = events.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
            let q =
                format!("SELECT event_id, person_id FROM notification WHERE event_id IN ({list}) ORDER BY event_id");
            let mut people: HashMap<i32, Vec<i32>> = HashMap::new();
            for r in self.db.query_all_raw(Statement::from_string(backend, q)).await? {
                people.entry(r.try_get("", "event_id")?).or_default().push(r.try_get("", "person_id")?);
            }
            for e in events {
                let told = people.remove(&e).unwrap_or_default();
                if !told.is_empty() {
                    let _ = tx.send(Arc::new(LiveEvent::Notified { event: e, people: told }));
                }
            }
        }
        let old = Duration::from_secs(3 * WINDOW_SECONDS as u64);
        self.seen_audit.retain(|_, t| t.elapsed() < old);
        self.seen_outbox.retain(|_, t| t.elapsed() < old);
        Ok(())
    }
}

async fn tail(db: DatabaseConnection, url: String, tx: broadcast::Sender<Arc<LiveEvent>>) {
    let mut t = Tail {
        audit_cursor: last_id(&db, "audit_entry").await.unwrap_or(0),
        outbox_cursor: last_id(&db, "outbox_event").await.unwrap_or(0),
        db,
        seen_audit: HashMap::new(),
        seen_outbox: HashMap::new(),
    };
    let mut listener = None;
    if t.db.get_database_backend() == DatabaseBackend::Postgres {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut l) => match l.listen(CHANNEL).await {
                Ok(()) => listener = Some(l),
                Err(e) => tracing::warn!(error = %e, "LISTEN failed; the live feed polls instead"),
            },
            Err(e) => tracing::warn!(error = %e, "no LISTEN connection; the live feed polls instead"),
        }
    }
    let _ = t.round(&tx, false).await;
    loop {
        if let Err(e) = t.round(&tx, true).await {
            tracing::warn!(error = %e, "reading the live feed failed; tried again shortly");
        }
        match listener.as_mut() {
            // A notification, or a second's wait. After a lost connection `recv` connects
            // again; the next round reads from the cursor, so nothing is missed.
            Some(l) => {
                if let Ok(Err(e)) = tokio::time::timeout(PG_POLL, l.recv()).await {
                    tracing::warn!(error = %e, "the live feed's LISTEN connection failed; it reconnects");
                    tokio::time::sleep(PG_POLL).await;
                }
            }
            None => tokio::time::sleep(POLL).await,
        }
    }
}
