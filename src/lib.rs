//! entente: a GraphQL collaboration backend for French multi-commune bodies (the
//! conférence métropolitaine des maires, working groups, the DGS committee, saisines).
//!
//! `build` goes config -> database (migrated) -> schema -> router; `serve` runs it.
#[macro_use]
mod macros;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod cache;
pub mod config;
pub mod db;
pub mod demo;
pub mod directory;
pub mod error;
pub mod graphql;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod limits;
pub mod loaders;
pub mod meetings;
pub mod people;
pub mod platform;
pub mod policies;
pub mod referrals;
pub mod territory;
pub mod time;

use std::net::SocketAddr;
use std::sync::Arc;

use sea_orm::DatabaseConnection;

pub use config::Config;

/// What every request handler and service shares.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub hasher: auth::password::Hasher,
    /// SQL statements sent so far (for the N+1 test and the benchmark).
    pub statements: db::StatementCounter,
    /// Query responses per account (None when `response_cache_entries` is 0).
    pub responses: Option<Arc<cache::ResponseCache>>,
    /// The live feed of subscriptions (platform::live).
    pub live: platform::live::Live,
    /// The key convocations' read-receipt links are signed with (platform::mail::receipt).
    pub receipt_key: Arc<Vec<u8>>,
}

/// Opens and migrates the database and prepares the shared state.
pub async fn state(config: Config) -> anyhow::Result<AppState> {
    let (db, statements) = db::connect(&config.database_url, config.max_db_connections).await?;
    db::migrate(&db).await?;
    policies::service::search::ensure_indexed(&db).await.map_err(|e| anyhow::anyhow!("search index: {e:?}"))?;
    let receipt_key =
        platform::mail::receipt::ensure_key(&db).await.map_err(|e| anyhow::anyhow!("receipt key: {e:?}"))?;
    let hasher = auth::password::Hasher::new(&config.auth).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let responses = (config.response_cache_entries > 0)
        .then(|| Arc::new(cache::ResponseCache::new(config.response_cache_entries, config.response_cache_bytes)));
    Ok(AppState {
        db,
        config: Arc::new(config),
        hasher,
        statements,
        responses,
        live: Default::default(),
        receipt_key: Arc::new(receipt_key),
    })
}

/// Starts sending e-mails from the outbox (to the SMTP server of the configuration, or
/// as .eml files to its folder) until the process stops.
pub fn start_mail(state: &AppState) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mailer = platform::mail::Mailer::new(&state.config.mail, &state.receipt_key)?;
    Ok(platform::mail::drain::spawn(state.db.clone(), Arc::new(mailer)))
}

/// The HTTP application for a prepared state.
pub fn app(state: AppState) -> axum::Router {
    let schema = graphql::build_schema(&state.config, Some(state.clone()));
    let checker = graphql::build_checker(&state.config);
    let ws = graphql::build_ws_schema(&state.config, state.clone());
    http::router(state, schema, checker, ws)
}

/// Serves until ctrl-c (or SIGTERM), finishing requests in flight.
pub async fn serve(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
