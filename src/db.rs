//! Opening the database (SQLite embedded by default, PostgreSQL in production) and
//! applying migrations. Tables are only ever created by the `migration` crate.
use std::ffi::c_int;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

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
    match planner_guarantee(conn, 1).await? {
        Ok(true) => Ok(()),
        answer => {
            Err(sea_orm::sqlx::Error::Configuration(format!("SQLITE_DBCONFIG_ENABLE_QPSG answered {answer:?}").into()))
        }
    }
}

/// Sets SQLite's `SQLITE_DBCONFIG_ENABLE_QPSG` on `conn` (1 on, 0 off, -1 left as it is)
/// and reads it back: `Ok(on)`, or SQLite's error code.
async fn planner_guarantee(
    conn: &mut SqliteConnection,
    set: c_int,
) -> Result<Result<bool, c_int>, sea_orm::sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let mut on: c_int = -1;
    // SAFETY: the connection's open handle, locked for the duration of the call; the
    // option takes an int and an `int*` for the setting after the call.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            handle.as_raw_handle().as_ptr(),
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            set,
            &mut on as *mut c_int,
        )
    };
    Ok(if rc == libsqlite3_sys::SQLITE_OK { Ok(on == 1) } else { Err(rc) })
}

/// Opens the transaction of a use case that writes. On SQLite it begins IMMEDIATE: it
/// takes the write lock at once (waiting up to the busy timeout for another writer to
/// finish) instead of at its first write, which SQLite refuses with "database is locked"
/// when another writer committed since this transaction's first read. Every read the
/// write depends on, the authorization and the audit entry then happen on it, so a use
/// case never waits for a second pool connection while it holds one.
pub async fn write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// A raw statement's text for `backend`: written with `?` placeholders (SQLite's), numbered
/// `$1, $2…` for PostgreSQL. (For the few statements sea-query does not build.)
pub fn placeholders(backend: sea_orm::DatabaseBackend, text: &str) -> String {
    if backend != sea_orm::DatabaseBackend::Postgres {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut n = 0;
    for c in text.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

#[cfg(test)]
mod tests {
    /// Every pooled SQLite connection has the planner stability guarantee on (read back
    /// from SQLite itself): without it, each `.one()` query is planned anew at each run.
    #[tokio::test]
    async fn sqlite_connections_keep_one_plan_per_statement() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = super::connect(&format!("sqlite://{}/plans.db", dir.path().display()), 2).await.unwrap();
        let pool = db.get_sqlite_connection_pool();
        let (mut a, mut b) = (pool.acquire().await.unwrap(), pool.acquire().await.unwrap());
        for conn in [&mut a, &mut b] {
            assert_eq!(super::planner_guarantee(conn, -1).await.unwrap(), Ok(true));
        }
    }
}
