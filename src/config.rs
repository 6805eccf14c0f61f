//! One typed configuration, built from flags and environment by the CLI (or by tests)
//! and passed in; there is no global.
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub bind: SocketAddr,
    /// Production mode: introspection, field suggestions and GraphiQL are off.
    pub production: bool,
    pub graphiql: bool,
    pub limits: Limits,
    pub auth: AuthConfig,
    /// Database pool size. Each SQLite connection is an OS thread: more connections than
    /// cores measured slower, on PostgreSQL too (BENCHMARKS.md).
    pub max_db_connections: u32,
    /// How long a DataLoader collects keys before it sends one batched query.
    pub dataloader_delay: Duration,
    /// Entries of the per-account query response cache (0 turns it off).
    pub response_cache_entries: usize,
    /// Bytes the response cache may hold (answers and keys).
    pub response_cache_bytes: u64,
    /// Reverse proxies whose X-Forwarded-For is believed (empty: the header is ignored).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Origins (scheme://host[:port]) allowed by CORS; none by default.
    pub cors_origins: Vec<String>,
    /// E-mail delivery (platform::mail).
    pub mail: MailConfig,
}

/// How messages leave entente (issue 16).
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtp://[user:password@]host[:port]` (plain; `?tls=required` for STARTTLS,
    /// `?tls=opportunistic` to use it when offered) or `smtps://...` (TLS from the start);
    /// None: messages are written as .eml files to `dir`.
    pub smtp_url: Option<String>,
    /// The From of every message: `Name <address>` or an address.
    pub from: String,
    /// Where .eml files are written when there is no SMTP server.
    pub dir: std::path::PathBuf,
    /// The address people reach entente at, for the links in messages.
    pub public_url: String,
    /// First wait after a temporary failure, doubled at each attempt (at most an hour).
    pub retry_base: Duration,
    /// Attempts before a temporarily refused message is marked FAILED.
    pub max_attempts: i32,
    /// Messages claimed per round, and sent at most this many at once.
    pub batch: u64,
    pub concurrency: usize,
    /// Messages started per second at most (a metropolis' thousands of councillors are
    /// sent at this pace rather than all at once).
    pub per_second: u32,
    /// How long a claimed message stays claimed before another round may take it
    /// (a process that stopped mid-send).
    pub lease: Duration,
    /// Wait between rounds when nothing was due.
    pub poll: Duration,
}

impl MailConfig {
    /// Messages written beside the database (`sqlite://x/entente.db`: `x/mail`), or to
    /// ./mail for PostgreSQL.
    pub fn beside(database_url: &str) -> MailConfig {
        let file = database_url.strip_prefix("sqlite://").map(|f| f.split('?').next().unwrap_or(f));
        let dir = match file.map(std::path::Path::new).and_then(|p| p.parent()) {
            Some(p) if !p.as_os_str().is_empty() => p.join("mail"),
            _ => std::path::PathBuf::from("mail"),
        };
        MailConfig {
            smtp_url: None,
            from: "entente <noreply@localhost>".into(),
            dir,
            public_url: "http://127.0.0.1:8080".into(),
            retry_base: Duration::from_secs(30),
            max_attempts: 10,
            batch: 50,
            // Each SMTP exchange waits on the server's delayed acknowledgement (~45 ms a
            // message): 4 at once peaked at ~85 messages/s, 16 at ~260/s (BENCHMARKS.md).
            concurrency: 16,
            per_second: 50,
            lease: Duration::from_secs(120),
            poll: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub body_bytes: usize,
    pub request_timeout: Duration,
    pub max_depth: usize,
    /// Depth allowed to a query of introspection fields only (graphql-js's standard
    /// introspection query is 13 deep). Introspection is off in production.
    pub introspection_depth: usize,
    /// Deepest nesting of brackets (selection sets, list and object literals, arguments)
    /// in a document's text, and of variables and extensions: checked by a linear scan
    /// before the document is parsed (the parser recurses).
    pub max_nesting: usize,
    pub max_complexity: usize,
    /// Total field selections in one document, fragments expanded once per use.
    pub max_fields: usize,
    pub max_aliases: usize,
    pub max_page_size: usize,
    /// Largest document uploaded to a meeting (multipart requests may be this big, plus
    /// their other parts; JSON requests stay within `body_bytes`).
    pub document_bytes: usize,
    /// WebSocket (/graphql/ws): subscriptions per connection, connections per account,
    /// largest message, and how long a connection may stay silent to the server's pings
    /// (or without `connection_init`) before it is closed.
    pub ws_subscriptions: usize,
    pub ws_connections_per_account: usize,
    pub ws_message_bytes: usize,
    pub ws_keepalive: Duration,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub session_ttl: Duration,
    pub invitation_ttl: Duration,
    /// Argon2id memory cost in KiB (OWASP minimum: 19456), iterations and lanes.
    pub argon2_m_kib: u32,
    pub argon2_t: u32,
    pub argon2_p: u32,
    /// Failures per e-mail address before sign-in is locked for `lock_duration`.
    pub max_failures_per_email: i32,
    /// Failures per client address (within `failure_window`) before it is locked.
    pub max_failures_per_client: i32,
    pub failure_window: Duration,
    pub lock_duration: Duration,
    /// Delay added to a failed attempt once an e-mail has `slow_after` failures,
    /// doubled at each further failure.
    pub slow_after: i32,
    pub slow_base: Duration,
    /// Password hashes computed at once (default: one per core). Hashing runs on the
    /// blocking pool, never on the async runtime: while people sign in, queries share the
    /// cores with it (BENCHMARKS.md measures both). Fewer slots favour queries over
    /// sign-in latency.
    pub hash_slots: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(30),
            max_depth: 10,
            introspection_depth: 16,
            max_nesting: 64,
            max_complexity: 10_000,
            max_fields: 500,
            max_aliases: 30,
            max_page_size: 500,
            document_bytes: 10 << 20,
            ws_subscriptions: 20,
            ws_connections_per_account: 10,
            ws_message_bytes: 64 << 10,
            ws_keepalive: Duration::from_secs(30),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_ttl: Duration::from_secs(12 * 3600),
            invitation_ttl: Duration::from_secs(7 * 24 * 3600),
            argon2_m_kib: 19_456,
            argon2_t: 2,
            argon2_p: 1,
            max_failures_per_email: 5,
            max_failures_per_client: 50,
            failure_window: Duration::from_secs(15 * 60),
            lock_duration: Duration::from_secs(15 * 60),
            slow_after: 3,
            slow_base: Duration::from_millis(500),
            hash_slots: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

impl Config {
    pub fn new(database_url: impl Into<String>) -> Self {
        let database_url = database_url.into();
        Config {
            mail: MailConfig::beside(&database_url),
            database_url,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            production: false,
            graphiql: true,
            limits: Limits::default(),
            auth: AuthConfig::default(),
            max_db_connections: std::thread::available_parallelism().map_or(2, |n| n.get() as u32).max(2),
            dataloader_delay: Duration::from_millis(1),
            response_cache_entries: 2_000,
            response_cache_bytes: 32 << 20,
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
        }
    }
}
