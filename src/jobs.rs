//! The periodic job: referrals closed at their deadline and their reminders, the
//! convocations not accepted in time (the secretariat alerted), the concertation
//! reminders of policies. Each part is idempotent (guarded by the state it
//! changes), and one instance runs it at each tick: on PostgreSQL the one that holds a
//! session advisory lock, on a connection of its own (detached from the pool, which opens another) (if that
//! instance stops, its connection closes, the lock is released and another instance takes
//! it at its next tick); on SQLite the process, the only one.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::Utc;
use sea_orm::{DatabaseBackend, DatabaseConnection};

use crate::referrals::service::JobRun;

/// The advisory lock's key ("entente" in ASCII).
const LOCK_KEY: i64 = 0x0065_6e74_656e_7465;

/// The running job, and how many ticks this instance ran.
pub struct Jobs {
    pub task: tokio::task::JoinHandle<()>,
    pub ticks_run: Arc<AtomicU64>,
}

/// Whether this instance runs the job now.
struct Leader {
    db: DatabaseConnection,
    conn: Option<sqlx::PgConnection>,
    held: bool,
}

impl Leader {
    async fn leads(&mut self) -> bool {
        if self.db.get_database_backend() != DatabaseBackend::Postgres {
            return true;
        }
        if self.conn.is_none() {
            self.held = false;
            match self.db.get_postgres_connection_pool().acquire().await {
                // Detached: the pool opens another in its place, and the lock lives as
                // long as this connection.
                Ok(c) => self.conn = Some(c.detach()),
                Err(e) => {
                    tracing::warn!(error = %e, "no connection for the job's lock; skipped this tick");
                    return false;
                }
            }
        }
        let Some(conn) = self.conn.as_mut() else { return false };
        let q = if self.held { "SELECT TRUE" } else { "SELECT pg_try_advisory_lock($1)" };
        match sqlx::query_scalar::<_, bool>(q).bind(LOCK_KEY).fetch_one(conn).await {
            Ok(got) => {
                self.held = got;
                got
            }
            Err(e) => {
                tracing::warn!(error = %e, "the job's lock connection failed; taken again at the next tick");
                self.conn = None;
                self.held = false;
                false
            }
        }
    }
}

/// Runs the job every `every` until the process stops; the first run is immediate, so a
/// deadline that passed while the server was down is handled on restart.
pub fn spawn(db: DatabaseConnection, every: std::time::Duration) -> Jobs {
    let ticks_run = Arc::new(AtomicU64::new(0));
    let ran = ticks_run.clone();
    let task = tokio::spawn(async move {
        let mut leader = Leader { db: db.clone(), conn: None, held: false };
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !leader.leads().await {
                continue;
            }
            ran.fetch_add(1, Ordering::Relaxed);
            match crate::referrals::service::run_jobs(&db, Utc::now()).await {
                Ok(run) if run != JobRun::default() => tracing::info!(?run, "referral deadlines"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "referral deadline job failed; retried at the next tick"),
            }
            match crate::meetings::service::alert_unsent_convocations(&db, Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(meetings = n, "secretariats alerted of convocations not sent in time"),
                Err(e) => tracing::error!(error = %e, "the convocation sending check failed; retried at the next tick"),
            }
            match crate::policies::service::run_jobs(&db, Utc::now()).await {
                Ok(0) => {}
                Ok(told) => tracing::info!(told, "concertation reminders"),
                Err(e) => tracing::error!(error = %e, "concertation reminder job failed; retried at the next tick"),
            }
        }
    });
    Jobs { task, ticks_run }
}
