//! One helper starts the real server on port 0 with a fresh migrated database: a SQLite
//! file in a temporary folder, or a fresh PostgreSQL database when TEST_DATABASE_URL is
//! set. Tests share nothing and run in parallel.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use entente::{AppState, Config};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

pub const DEMO_PASSWORD: &str = entente::demo::DEMO_PASSWORD;

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    _dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

/// Which database this run tests against ("sqlite" or "postgres").
pub fn backend() -> &'static str {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        "postgres"
    } else {
        "sqlite"
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

async fn fresh_database_url(dir: &tempfile::TempDir) -> (String, Option<(String, String)>) {
    match std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        None => (format!("sqlite://{}", dir.path().join("test.db").display()), None),
        Some(admin_url) => {
            let name =
                format!("entente_t_{}_{}_{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed), rand_suffix());
            let admin = Database::connect(&admin_url).await.expect("TEST_DATABASE_URL does not answer");
            admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
            admin.close().await.ok();
            let (base, query) = match admin_url.split_once('?') {
                Some((b, q)) => (b.to_string(), format!("?{q}")),
                None => (admin_url.clone(), String::new()),
            };
            let root = base.rsplit_once('/').map(|(r, _)| r.to_string()).unwrap_or(base);
            (format!("{root}/{name}{query}"), Some((admin_url, name)))
        }
    }
}

fn rand_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// For the tests that count SQL statements: a DataLoader batching window wide enough that
/// a debug build on a busy machine does not split one batch into two (the server's 1 ms
/// did, once, on PostgreSQL in CI).
pub fn wide_batches(c: &mut Config) {
    c.dataloader_delay = std::time::Duration::from_millis(25);
}

/// A test configuration: real argon2 parameters, short slowdowns.
pub fn test_config(url: String) -> Config {
    let mut c = Config::new(url);
    c.auth.slow_base = std::time::Duration::from_millis(5);
    c.max_db_connections = 5;
    c
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tune: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let (url, pg) = fresh_database_url(&dir).await;
        let mut config = test_config(url);
        // E-mails written without an SMTP server stay in the test's folder (on
        // PostgreSQL the default is ./mail).
        config.mail.dir = dir.path().join("mail");
        tune(&mut config);
        Self::serve(config, dir, pg).await
    }

    /// Starts a server for `config` on a free port.
    async fn serve(config: Config, dir: tempfile::TempDir, pg: Option<(String, String)>) -> TestApp {
        let state = entente::state(config).await.expect("start app state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = entente::app(state.clone());
        tokio::spawn(async move {
            let _ = entente::serve(listener, app).await;
        });
        TestApp { addr, client: reqwest::Client::new(), state, _dir: dir, pg }
    }

    /// A second server process on this one's database (its configuration, its own port
    /// and state), as a second instance behind a load balancer. The first must outlive it.
    pub async fn second_instance(&self) -> TestApp {
        // No database of its own to drop (`pg: None`).
        Self::serve((*self.state.config).clone(), tempfile::tempdir().expect("tempdir"), None).await
    }

    /// A server with the AMP demo loaded.
    pub async fn demo() -> TestApp {
        Self::demo_with(|_| {}).await
    }

    pub async fn demo_with(tune: impl FnOnce(&mut Config)) -> TestApp {
        let app = Self::spawn_with(tune).await;
        entente::demo::load(&app.state).await.expect("demo loads");
        app
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn post_raw(&self, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.client.post(self.url("/graphql")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Runs a GraphQL operation and returns the whole response body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        self.post_raw(token, json!({ "query": query, "variables": variables })).await.1
    }

    /// Signs in with the demo password and returns the bearer token.
    pub async fn login_as(&self, email: &str) -> String {
        self.login(email, DEMO_PASSWORD).await.unwrap_or_else(|e| panic!("login {email}: {e}"))
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<String, Value> {
        let r = self
            .gql(
                None,
                "mutation($e:String!,$p:String!){login(email:$e,password:$p){token}}",
                json!({"e": email, "p": password}),
            )
            .await;
        r["data"]["login"]["token"].as_str().map(str::to_string).ok_or(r)
    }

    /// Looks up a commune's global ID by INSEE code.
    pub async fn commune_id(&self, token: &str, insee: &str) -> String {
        let r = self.gql(Some(token), "query($c:String!){commune(inseeCode:$c){id}}", json!({"c": insee})).await;
        r["data"]["commune"]["id"].as_str().unwrap_or_else(|| panic!("no commune {insee}: {r}")).to_string()
    }

    pub async fn epci_id(&self, token: &str, siren: &str) -> String {
        let r = self.gql(Some(token), "query($s:String!){intercommunality(siren:$s){id}}", json!({"s": siren})).await;
        r["data"]["intercommunality"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no intercommunality {siren}: {r}"))
            .to_string()
    }

    /// Number of audit entries (read directly, to check that a refusal wrote nothing).
    pub async fn audit_count(&self) -> u64 {
        use sea_orm::{EntityTrait, PaginatorTrait};
        entente::audit::model::audit_entry::Entity::find().count(&self.state.db).await.expect("count")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg.take() {
            // Drop the test database from a thread of its own (Drop cannot await).
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        if let Ok(admin) = Database::connect(&admin_url).await {
                            let _ = admin
                                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                                .await;
                            let _ = admin.close().await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

/// The error code of the first error of a response (panics with the response if none).
pub fn code(resp: &Value) -> String {
    resp["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code, got {resp}"))
        .to_string()
}

/// Asserts that a response has no errors and returns its data.
pub fn ok(resp: &Value) -> &Value {
    assert!(resp.get("errors").is_none() || resp["errors"].is_null(), "unexpected errors: {resp}");
    &resp["data"]
}

/// The official data folder beside the repository, when present.
pub fn official_data() -> Option<PathBuf> {
    let dir = std::env::var("ENTENTE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/decoupage-administratif"));
    if dir.join("communes.json").exists() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: official data not found at {} (set ENTENTE_DATA_DIR or put ../shared/data beside the clone)",
            dir.display()
        );
        None
    }
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}
