//! `entente backup FILE`: a consistent copy of a SQLite database while the server runs,
//! and the WAL checkpoint at a clean stop.
//!
//! In WAL mode the latest writes live in `entente.db-wal` until a checkpoint copies them
//! into `entente.db`, so copying `entente.db` alone may lose them (all of them, on a young
//! database). `VACUUM INTO` reads the database through SQLite, in one read transaction:
//! the copy holds every write committed before it began and none after, and writers go on
//! meanwhile (WAL readers block no one). PostgreSQL has its own tool, `pg_dump`.
use std::path::Path;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

/// Why a backup was not made (each says what to do).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "`entente backup` copies SQLite databases; for PostgreSQL use its own tool, e.g. \
         `pg_dump --format=custom --file FILE DBNAME` (restore with `pg_restore`)"
    )]
    Postgres,
    #[error("{0} already exists: choose a new file (a backup never overwrites one)")]
    Exists(String),
    #[error("no SQLite database at {0}")]
    NoDatabase(String),
    #[error("unsupported database URL {0}: expected sqlite://FILE")]
    Url(String),
    #[error("the copy {file} failed its integrity check: {detail}")]
    Damaged { file: String, detail: String },
    #[error("backup failed: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("backup failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What a backup wrote.
#[derive(Debug)]
pub struct BackupReport {
    pub bytes: u64,
}

/// The file of a `sqlite://FILE[?options]` URL (None for in-memory databases).
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or(rest);
    (!file.is_empty() && !file.contains(":memory:")).then_some(file)
}

/// Copies the database at `database_url` into `target`, a new file, then checks the copy
/// with `PRAGMA integrity_check`. The source stays open to other processes (a running
/// server goes on writing); nothing is created where there was no database.
pub async fn backup(database_url: &str, target: &Path) -> Result<BackupReport, BackupError> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        return Err(BackupError::Postgres);
    }
    let source = sqlite_file(database_url).ok_or_else(|| BackupError::Url(database_url.to_string()))?;
    if !Path::new(source).is_file() {
        return Err(BackupError::NoDatabase(source.to_string()));
    }
    if target.exists() {
        return Err(BackupError::Exists(target.display().to_string()));
    }
    // The URL as given (without `mode=rwc`): never creates a database.
    let db = open(database_url).await?;
    let out = target.to_string_lossy().to_string();
    let copied =
        db.execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, "VACUUM INTO ?", [out.clone().into()])).await;
    db.close().await.ok();
    if let Err(e) = copied {
        // SQLite refuses an existing non-empty file itself (a race with the check above);
        // a file it began and did not finish is removed.
        if target.exists() && std::fs::metadata(target).map(|m| m.len() == 0).unwrap_or(false) {
            let _ = std::fs::remove_file(target);
        }
        return Err(e.into());
    }
    let copy = open(&format!("sqlite://{out}")).await?;
    let check = integrity(&copy).await;
    copy.close().await.ok();
    let detail = check?;
    if detail != "ok" {
        return Err(BackupError::Damaged { file: out, detail });
    }
    Ok(BackupReport { bytes: std::fs::metadata(target)?.len() })
}

async fn open(url: &str) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut opts = ConnectOptions::new(url.to_string());
    opts.max_connections(1)
        .min_connections(1)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| o.busy_timeout(std::time::Duration::from_secs(10)));
    Database::connect(opts).await
}

/// `PRAGMA integrity_check`: "ok", or SQLite's first findings.
pub async fn integrity(db: &DatabaseConnection) -> Result<String, sea_orm::DbErr> {
    let rows = db.query_all_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA integrity_check")).await?;
    let found: Vec<String> = rows.iter().filter_map(|r| r.try_get_by_index::<String>(0).ok()).take(10).collect();
    Ok(found.join("; "))
}

/// At a clean stop: copies the WAL into the database file and empties it
/// (`wal_checkpoint(TRUNCATE)`), so that `entente.db` alone holds everything, then closes
/// the pool. Nothing to do on PostgreSQL. A failure is logged, not fatal: the WAL stays
/// beside the file and SQLite replays it at the next start.
pub async fn checkpoint_and_close(db: DatabaseConnection) {
    if db.get_database_backend() == DbBackend::Sqlite {
        let done = db.query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA wal_checkpoint(TRUNCATE)")).await;
        match done {
            Ok(Some(row)) if row.try_get_by_index::<i32>(0).is_ok_and(|busy| busy == 0) => {
                tracing::info!("database checkpointed: the database file alone holds every write")
            }
            Ok(_) => {
                tracing::warn!("WAL checkpoint incomplete (a reader was busy): keep the -wal file with the database")
            }
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed: keep the -wal file with the database"),
        }
    }
    let _ = db.close().await;
}

#[cfg(test)]
mod tests {
    use super::sqlite_file;

    #[test]
    fn the_file_of_a_sqlite_url() {
        assert_eq!(sqlite_file("sqlite://entente.db"), Some("entente.db"));
        assert_eq!(sqlite_file("sqlite:///var/lib/entente.db?mode=rwc"), Some("/var/lib/entente.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("mysql://x"), None);
    }
}
