//! The periodic job: referrals closed at their deadline and their reminders, the
//! concertation reminders of policies. Each part is idempotent (guarded by the state it
//! changes), so two processes may run it.
use chrono::Utc;
use sea_orm::DatabaseConnection;

use crate::referrals::service::JobRun;

/// Runs the job every `every` until the process stops; the first run is immediate, so a
/// deadline that passed while the server was down is handled on restart.
pub fn spawn(db: DatabaseConnection, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match crate::referrals::service::run_jobs(&db, Utc::now()).await {
                Ok(run) if run != JobRun::default() => tracing::info!(?run, "referral deadlines"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "referral deadline job failed; retried at the next tick"),
            }
            match crate::policies::service::run_jobs(&db, Utc::now()).await {
                Ok(0) => {}
                Ok(told) => tracing::info!(told, "concertation reminders"),
                Err(e) => tracing::error!(error = %e, "concertation reminder job failed; retried at the next tick"),
            }
        }
    })
}
