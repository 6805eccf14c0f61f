//! Opening the database (SQLite embedded by default, PostgreSQL in production) and
//! applying migrations. Tables are only ever created by the `migration` crate.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// Counts SQL statements sent on a connection; read by the N+1 test and the benchmark.
#[derive(Clone, Default, Debug)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Adds `mode=rwc` to a SQLite URL so that the file is created on first run.
pub fn normalise_url(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains("mode=") && !url.contains(":memory:") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=rwc")
    } else {
        url.to_string()
    }
}

pub async fn connect(url: &str, max_connections: u32) -> Result<(DatabaseConnection, StatementCounter), DbErr> {
    let mut opts = ConnectOptions::new(normalise_url(url));
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        })
        .map_sqlx_sqlite_pool_opts(|o| o.after_connect(|conn, _| Box::pin(stable_plans(conn))));
    let mut db = Database::connect(opts).await?;
    let counter = StatementCounter::default();
    let c = counter.0.clone();
    db.set_metric_callback(move |_info| {
        c.fetch_add(1, Ordering::Relaxed);
    });
    Ok((db, counter))
}

/// Turns on SQLite's query planner stability guarantee (QPSG) for a new connection.
///
/// Without it SQLite plans some statements for the values bound to them, and throws the
/// plan away whenever one of those values is bound again. sea-orm binds the `LIMIT` of
/// every `.one()` query (`LIMIT ?` = 1), so every such statement was parsed and planned
/// anew at each run despite sqlx's statement cache: on the cached-answer path, the
/// session lookup's re-preparing was a sixth of the server's CPU (BENCHMARKS.md, run 11).
/// With the guarantee a statement keeps one plan, whatever its values: what the values
/// could have changed (a bound LIKE pattern used as an index prefix, STAT4 estimates
/// after ANALYZE) this schema does not use.
async fn stable_plans(conn: &mut SqliteConnection) -> Result<(), sea_orm::sqlx::Error> {
    use std::ffi::c_int;
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is this connection's open handle, locked for the duration of the call;
    // SQLITE_DBCONFIG_ENABLE_QPSG takes an int (1: on) and an optional `int*` for the new
    // setting, which may be null.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db,
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as c_int,
            std::ptr::null_mut::<c_int>(),
        )
    };
    if rc == libsqlite3_sys::SQLITE_OK {
        Ok(())
    } else {
        Err(sea_orm::sqlx::Error::Configuration(format!("SQLITE_DBCONFIG_ENABLE_QPSG answered {rc}").into()))
    }
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

#[cfg(test)]
mod tests {
    use std::ffi::c_int;

    /// Every pooled SQLite connection has the planner stability guarantee on (read back
    /// from SQLite itself): without it, each `.one()` query is planned anew at each run.
    #[tokio::test]
    async fn sqlite_connections_keep_one_plan_per_statement() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = super::connect(&format!("sqlite://{}/plans.db", dir.path().display()), 2).await.unwrap();
        let pool = db.get_sqlite_connection_pool();
        let (mut a, mut b) = (pool.acquire().await.unwrap(), pool.acquire().await.unwrap());
        for conn in [&mut a, &mut b] {
            let mut handle = conn.lock_handle().await.unwrap();
            let mut on: c_int = -1;
            // SAFETY: an open handle, locked; -1 leaves the setting as it is and writes it to `on`.
            let rc = unsafe {
                libsqlite3_sys::sqlite3_db_config(
                    handle.as_raw_handle().as_ptr(),
                    libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
                    -1 as c_int,
                    &mut on as *mut c_int,
                )
            };
            assert_eq!((rc, on), (libsqlite3_sys::SQLITE_OK, 1));
        }
    }
}
