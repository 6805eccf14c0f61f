//! Benchmark of e-mail delivery and live subscriptions (issue 16) on one database, through
//! the real HTTP server, a real SMTP server and real WebSockets, with the response cache off:
//!
//!   cargo run --release --example delivery_bench -- --database-url sqlite://bench/out/delivery.db?mode=rwc
//!   cargo run --release --example delivery_bench -- --database-url postgres://postgres@127.0.0.1:5432/entente_bench_mail
//!
//! (`bench/delivery.sh` makes fresh databases and runs both.) The database must be empty:
//! the demo (AMP, its 92 communes, the demo accounts) is loaded into it, then every person
//! without an address is given one in SQL (`p<id>@communes.test`), so that convening the
//! conference of mayors (president and 92 mayors) queues ~93 e-mails.
//!
//! The server runs in this process on 127.0.0.1:0 with production's pool (one connection
//! per core) and the response cache off; an SMTP sink (mailin-embedded, as in
//! tests/api/delivery.rs) in this process accepts every message, timestamps it and keeps
//! its Message-ID. The mailer is `platform::mail::drain::spawn` with the configuration's
//! defaults (50 messages/s, 4 at once, rounds of 50, polling every 500 ms) unless said.
//!
//! 1. `convene`: the conference's plenary, created far ahead with one item and its note,
//!    convened through `conveneMeeting` (`--convene-runs` runs, mailer stopped, the queued
//!    e-mails then dropped); then once more with the mailer running: the time from the
//!    mutation's answer to the SMTP sink's last acceptance, and the rows' statuses.
//! 2. `councillors`: `--councillors` persons with addresses and municipal councillor
//!    mandates in the member communes (inserted through `people::service::insert_person`
//!    and sea-orm), a plenary convened, attended, an OPINION item adopted, held, and its
//!    decisions published (`publish`): the publish latency (the OPINION_ADOPTED e-mails are
//!    queued in its transaction), then the delivery rate at 50/s, and again with
//!    `--fast-per-second`; meanwhile a client reads `meeting(id){title agenda{title}}` one
//!    request at a time: its p99 while sending against at rest. Every row SENT and every
//!    Message-ID received once by the sink.
//! 3. `live`: `--subscribers` WebSockets (graphql-transport-ws, signed in with the
//!    secretariat's token: `ws_connections_per_account` is raised to 1000 for this) follow
//!    `meetingLive` of a convened plenary; `--events` votes recorded over HTTP; per
//!    subscriber and event, the time from the mutation's answer to the matching `next`.
//! 4. `idle`: `--idle` signed-in WebSockets to a server in a child process (this binary with
//!    `--serve-child`) on the same database, without and then with one subscription each:
//!    the child's VmRSS increase (the server alone) and this process's (the client).
//!
//! Figures go to stdout (one line each, prefixed by the backend), progress to stderr.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::stream::{self, StreamExt};
use futures_util::SinkExt;
use mailin_embedded::response::{self, Response};
use mailin_embedded::{Handler, Server};
use sea_orm::{ConnectionTrait, EntityTrait, Set, Statement, TransactionTrait};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRETARIAT: &str = "secretariat@demo.entente.fr";
const LIVE: &str = "subscription($id:ID!){meetingLive(id:$id){change meeting{status agenda{title quorum{present required met} vote{result}}}}}";
/// The client's WebSocket read buffer (0: tungstenite's default, 128 KiB).
static CLIENT_READ_BUFFER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
const READ: &str = "query($id:ID!){meeting(id:$id){title agenda{title}}}";

// ---- arguments ---------------------------------------------------------------------------

struct Args {
    database_url: String,
    convene_runs: usize,
    councillors: usize,
    fast_per_second: u32,
    rest_seconds: u64,
    subscribers: usize,
    events: usize,
    idle: usize,
    parts: Vec<String>,
    serve_child: bool,
}

fn args() -> Result<Args> {
    let mut a = Args {
        database_url: String::new(),
        convene_runs: 10,
        councillors: 3_000,
        fast_per_second: 500,
        rest_seconds: 15,
        subscribers: 500,
        events: 10,
        idle: 2_000,
        parts: vec!["convene".into(), "councillors".into(), "live".into(), "idle".into()],
        serve_child: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--serve-child" {
            a.serve_child = true;
            continue;
        }
        let mut v = || it.next().ok_or_else(|| anyhow!("{k} needs a value"));
        match k.as_str() {
            "--database-url" => a.database_url = v()?,
            "--convene-runs" => a.convene_runs = v()?.parse()?,
            "--councillors" => a.councillors = v()?.parse()?,
            "--fast-per-second" => a.fast_per_second = v()?.parse()?,
            "--rest-seconds" => a.rest_seconds = v()?.parse()?,
            "--subscribers" => a.subscribers = v()?.parse()?,
            "--events" => a.events = v()?.parse()?,
            "--idle" => a.idle = v()?.parse()?,
            "--client-read-buffer-kib" => {
                CLIENT_READ_BUFFER.store(v()?.parse::<usize>()? * 1024, Ordering::Relaxed);
            }
            "--parts" => a.parts = v()?.split(',').map(str::to_string).collect(),
            _ => bail!(
                "usage: delivery_bench --database-url URL [--convene-runs 10] [--councillors 3000] \
                 [--fast-per-second 500] [--rest-seconds 15] [--subscribers 500] [--events 10] [--idle 2000] \
                 [--parts convene,councillors,live,idle] [--client-read-buffer-kib 0]"
            ),
        }
    }
    if a.database_url.is_empty() {
        bail!("--database-url is required (an empty database)");
    }
    if a.convene_runs == 0 || a.events == 0 {
        bail!("--convene-runs and --events must be above 0");
    }
    Ok(a)
}

// ---- helpers -----------------------------------------------------------------------------

fn log(msg: impl AsRef<str>) {
    eprintln!("[{}] {}", chrono::Utc::now().format("%H:%M:%S"), msg.as_ref());
}

fn s(v: &Value) -> Result<String> {
    v.as_str().map(str::to_string).ok_or_else(|| anyhow!("not a string: {v}"))
}

/// Nearest rank.
fn pct(xs: &[f64], p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn dist(xs: &[f64]) -> String {
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    format!(
        "n={} p50_ms={:.1} p95_ms={:.1} p99_ms={:.1} min_ms={:.1} max_ms={:.1}",
        xs.len(),
        pct(xs, 50.0),
        pct(xs, 95.0),
        pct(xs, 99.0),
        min,
        max
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn vm_kib_of(pid: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn rss_kib(pid: &str) -> u64 {
    vm_kib_of(pid, "VmRSS:")
}

fn load() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!("load={}", l.split_whitespace().take(3).collect::<Vec<_>>().join("/"))
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT MET"
    }
}

// ---- HTTP --------------------------------------------------------------------------------

#[derive(Clone)]
struct Bench {
    client: reqwest::Client,
    base: String,
    state: entente::AppState,
    backend: &'static str,
}

impl Bench {
    /// A GraphQL request; an answer with `errors` is an error. -> (round trip, data).
    async fn post(&self, token: Option<&str>, query: &str, variables: Value) -> Result<(Duration, Value)> {
        let mut req =
            self.client.post(format!("{}/graphql", self.base)).json(&json!({"query": query, "variables": variables}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let started = Instant::now();
        let resp = req.send().await?;
        let status = resp.status();
        let raw = resp.bytes().await?;
        let time = started.elapsed();
        let body: Value = serde_json::from_slice(&raw)
            .with_context(|| format!("HTTP {status}: {}", String::from_utf8_lossy(&raw[..raw.len().min(500)])))?;
        if !status.is_success() || body.get("errors").is_some_and(|e| !e.is_null()) {
            let q: String = query.chars().take(120).collect();
            bail!("HTTP {status} for {q}...: {}", serde_json::to_string(&body["errors"])?);
        }
        Ok((time, body["data"].clone()))
    }

    async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Result<Value> {
        Ok(self.post(token, query, variables).await?.1)
    }

    async fn login(&self, email: &str) -> Result<String> {
        let d = self
            .gql(
                None,
                "mutation($e:String!,$p:String!){login(email:$e,password:$p){token}}",
                json!({"e": email, "p": entente::demo::DEMO_PASSWORD}),
            )
            .await?;
        s(&d["login"]["token"])
    }

    fn out(&self, line: String) {
        println!("{} {line}", self.backend);
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        &self.state.db
    }

    async fn sql(&self, q: &str) -> Result<()> {
        self.db().execute_unprepared(q).await?;
        Ok(())
    }

    async fn rows(&self, q: &str) -> Result<Vec<sea_orm::QueryResult>> {
        let b = self.db().get_database_backend();
        Ok(self.db().query_all_raw(Statement::from_string(b, q.to_string())).await?)
    }

    /// The id of the last delivery row (those of a later action are above it).
    async fn last_delivery(&self) -> Result<i32> {
        let r = self.rows("SELECT COALESCE(MAX(id), 0) AS m FROM delivery").await?;
        Ok(r.first().map(|r| r.try_get::<i32>("", "m")).transpose()?.unwrap_or(0))
    }

    /// Delivery rows above `after`, per status.
    async fn statuses(&self, after: i32) -> Result<BTreeMap<String, i64>> {
        let mut out = BTreeMap::new();
        for r in
            self.rows(&format!("SELECT status, COUNT(*) AS n FROM delivery WHERE id > {after} GROUP BY status")).await?
        {
            out.insert(r.try_get::<String>("", "status")?, r.try_get::<i64>("", "n")?);
        }
        Ok(out)
    }

    /// Waits (up to `limit`) until no row above `after` is QUEUED or SENDING.
    async fn settled(&self, after: i32, limit: Duration) -> Result<BTreeMap<String, i64>> {
        let t = Instant::now();
        loop {
            let st = self.statuses(after).await?;
            if !st.contains_key("QUEUED") && !st.contains_key("SENDING") {
                return Ok(st);
            }
            if t.elapsed() > limit {
                log(format!("deliveries still pending after {limit:?}: {st:?}"));
                return Ok(st);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Message-IDs of the rows above `after` (SENT ones).
    async fn message_ids(&self, after: i32) -> Result<Vec<String>> {
        let rows = self
            .rows(&format!("SELECT message_id FROM delivery WHERE id > {after} AND message_id IS NOT NULL"))
            .await?;
        rows.iter().map(|r| Ok(r.try_get::<String>("", "message_id")?)).collect()
    }

    /// Drops the queued e-mails (what setting up a measure queued).
    async fn drop_queued(&self) -> Result<()> {
        self.sql("DELETE FROM delivery WHERE status = 'QUEUED'").await
    }
}

fn statuses_line(st: &BTreeMap<String, i64>) -> String {
    st.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

// ---- the SMTP sink -----------------------------------------------------------------------

/// One message as the sink accepted it.
#[derive(Clone)]
struct Got {
    at: Instant,
    message_id: String,
}

#[derive(Clone, Default)]
struct Sink {
    inbox: Arc<Mutex<Vec<Got>>>,
}

#[derive(Clone)]
struct H {
    sink: Sink,
    data: Vec<u8>,
}

fn message_id_of(data: &[u8]) -> String {
    let head_end = data.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(data.len());
    let head = String::from_utf8_lossy(&data[..head_end]);
    head.lines()
        .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
        .map(|l| l[11..].trim().to_string())
        .unwrap_or_default()
}

impl Handler for H {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, _to: &[String]) -> Response {
        self.data.clear();
        response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> Response {
        let at = Instant::now();
        let message_id = message_id_of(&self.data);
        self.data.clear();
        self.sink.inbox.lock().unwrap_or_else(|e| e.into_inner()).push(Got { at, message_id });
        Response::custom(250, "2.0.0 accepted by the bench sink".to_string())
    }
}

impl Sink {
    /// A real SMTP server on a free port of 127.0.0.1 (a thread per connection, 32 at most).
    fn start() -> Result<(Sink, SocketAddr)> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let sink = Sink::default();
        let mut server = Server::new(H { sink: sink.clone(), data: Vec::new() });
        server.with_name("smtp.bench").with_num_threads(32).with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Ok((sink, addr))
    }
    fn len(&self) -> usize {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
    fn since(&self, from: usize) -> Vec<Got> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())[from..].to_vec()
    }
}

/// Whether each expected Message-ID was received exactly once among `got`:
/// -> (missing, duplicated, unexpected).
fn check_once(expected: &[String], got: &[Got]) -> (usize, usize, usize) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for g in got {
        *seen.entry(g.message_id.as_str()).or_default() += 1;
    }
    let want: HashSet<&str> = expected.iter().map(String::as_str).collect();
    let missing = want.iter().filter(|m| !seen.contains_key(**m)).count();
    let duplicated = seen.iter().filter(|(m, n)| want.contains(**m) && **n > 1).count();
    let unexpected = seen.keys().filter(|m| !want.contains(**m)).count();
    (missing, duplicated, unexpected)
}

/// Starts a mailer sending to the sink at `per_second`.
fn start_mailer(state: &entente::AppState, per_second: u32) -> Result<tokio::task::JoinHandle<()>> {
    start_mailer_with(state, per_second, state.config.mail.concurrency)
}

/// A mailer at `per_second` sending `concurrency` messages at once.
fn start_mailer_with(
    state: &entente::AppState,
    per_second: u32,
    concurrency: usize,
) -> Result<tokio::task::JoinHandle<()>> {
    let mut cfg = state.config.mail.clone();
    cfg.per_second = per_second;
    cfg.concurrency = concurrency;
    let mailer = entente::platform::mail::Mailer::new(&cfg, &state.receipt_key)?;
    Ok(entente::platform::mail::drain::spawn(state.db.clone(), Arc::new(mailer)))
}

// ---- meetings ----------------------------------------------------------------------------

struct Amp {
    id: String,
    conference: String,
    communes: Vec<String>,
}

async fn amp(b: &Bench, sec: &str) -> Result<Amp> {
    let d = b
        .gql(Some(sec), r#"{intercommunality(siren:"200054807"){id communes(first:100){nodes{id}}}}"#, json!({}))
        .await?;
    let id = s(&d["intercommunality"]["id"])?;
    let communes = d["intercommunality"]["communes"]["nodes"]
        .as_array()
        .ok_or_else(|| anyhow!("no communes"))?
        .iter()
        .map(|c| s(&c["id"]))
        .collect::<Result<Vec<_>>>()?;
    let d = b.gql(Some(sec), "query($e:ID!){bodies(intercommunalityId:$e){nodes{id kind}}}", json!({"e": id})).await?;
    let conference = d["bodies"]["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|b| b["kind"] == "CONFERENCE_OF_MAYORS"))
        .ok_or_else(|| anyhow!("no conference of mayors"))?["id"]
        .clone();
    Ok(Amp { id, conference: s(&conference)?, communes })
}

/// A draft plenary `days` ahead; -> (id, version).
async fn create_meeting(b: &Bench, sec: &str, body: &str, days: i64, title: &str) -> Result<(String, i64)> {
    let day = entente::time::today_paris() + chrono::Duration::days(days);
    let d = b
        .gql(
            Some(sec),
            "mutation($i:CreateMeetingInput!){createMeeting(input:$i){id version}}",
            json!({"i": {"bodyId": body, "title": title, "startsAt": format!("{day}T10:00:00"), "endsAt": format!("{day}T12:00:00")}}),
        )
        .await?;
    Ok((s(&d["createMeeting"]["id"])?, d["createMeeting"]["version"].as_i64().unwrap_or(1)))
}

async fn add_item(b: &Bench, sec: &str, meeting: &str, kind: &str, title: &str) -> Result<String> {
    let d = b
        .gql(
            Some(sec),
            "mutation($i:AddAgendaItemInput!){addAgendaItem(input:$i){id}}",
            json!({"i": {"meetingId": meeting, "kind": kind, "title": title, "note": format!("Note explicative de synthèse : {title}. Le projet est présenté au bureau puis soumis à l'avis de la conférence.")}}),
        )
        .await?;
    s(&d["addAgendaItem"]["id"])
}

/// Convenes; -> (round trip, the convened people).
async fn convene(b: &Bench, sec: &str, meeting: &str, version: i64) -> Result<(Duration, Vec<String>)> {
    let (t, d) = b
        .post(
            Some(sec),
            "mutation($id:ID!,$v:Int!){conveneMeeting(id:$id,expectedVersion:$v){status convocations{person{id} sending}}}",
            json!({"id": meeting, "v": version}),
        )
        .await?;
    let people = d["conveneMeeting"]["convocations"]
        .as_array()
        .ok_or_else(|| anyhow!("no convocations"))?
        .iter()
        .map(|c| s(&c["person"]["id"]))
        .collect::<Result<Vec<_>>>()?;
    Ok((t, people))
}

async fn version(b: &Bench, sec: &str, meeting: &str) -> Result<i64> {
    let d = b.gql(Some(sec), "query($id:ID!){meeting(id:$id){version}}", json!({"id": meeting})).await?;
    d["meeting"]["version"].as_i64().ok_or_else(|| anyhow!("no version"))
}

async fn all_present(b: &Bench, sec: &str, meeting: &str, people: &[String]) -> Result<()> {
    let rows: Vec<Value> = people.iter().map(|p| json!({"personId": p, "status": "PRESENT"})).collect();
    b.gql(
        Some(sec),
        "mutation($m:ID!,$rows:[AttendanceInput!]!){recordAttendance(meetingId:$m,rows:$rows)}",
        json!({"m": meeting, "rows": rows}),
    )
    .await?;
    Ok(())
}

/// A conference plenary convened, attended by all, its OPINION item adopted, held: ready
/// for `publish`.
async fn held_with_opinion(b: &Bench, sec: &str, a: &Amp, days: i64) -> Result<String> {
    let (m, v) = create_meeting(b, sec, &a.conference, days, "Séance plénière (avis)").await?;
    let item = add_item(b, sec, &m, "OPINION", "Avis sur le plan de mobilité").await?;
    let (_, people) = convene(b, sec, &m, v).await?;
    all_present(b, sec, &m, &people).await?;
    b.gql(
        Some(sec),
        "mutation($i:RecordVoteInput!){recordVote(input:$i){vote{result}}}",
        json!({"i": {"itemId": item, "expectedVersion": 1, "votesFor": 80, "against": 5, "abstain": 3, "opinionText": "Avis favorable sous réserve du phasage des travaux."}}),
    )
    .await?;
    // The meeting's hour has come (as tests/api/meetings.rs's has_begun): straight in the
    // database, the clock rather than an edit through the API.
    let id = entente::ids::decode("id", entente::ids::Kind::Meeting, &async_graphql::ID(m.clone()))
        .map_err(|e| anyhow!("{e:?}"))?;
    {
        use entente::meetings::model::meeting as mt;
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, QueryFilter};
        let now = chrono::Utc::now();
        mt::Entity::update_many()
            .col_expr(mt::Column::StartsAt, Expr::value(now - chrono::Duration::minutes(1)))
            .col_expr(mt::Column::EndsAt, Expr::value(now + chrono::Duration::hours(2)))
            .filter(mt::Column::Id.eq(id))
            .exec(b.db())
            .await?;
    }
    let v = version(b, sec, &m).await?;
    b.gql(
        Some(sec),
        "mutation($i:TransitionMeetingInput!){transitionMeeting(input:$i){status}}",
        json!({"i": {"id": m, "expectedVersion": v, "status": "HELD"}}),
    )
    .await?;
    Ok(m)
}

// ---- part 1: convening the conference ----------------------------------------------------

async fn part_convene(b: &Bench, sec: &str, a: &Amp, runs: usize, day: &mut i64, sink: &Sink) -> Result<()> {
    log(format!("part 1: convening the conference {runs} times (mailer stopped)"));
    let mut times = Vec::new();
    let mut convened = 0;
    let mut statements = Vec::new();
    for i in 0..runs + 1 {
        *day += 1;
        let (m, v) = create_meeting(b, sec, &a.conference, *day, &format!("Séance plénière n° {i}")).await?;
        add_item(b, sec, &m, "OPINION", "Avis sur le programme local de l'habitat").await?;
        let before = b.state.statements.get();
        let (t, people) = convene(b, sec, &m, v).await?;
        statements.push(b.state.statements.get() - before);
        convened = people.len();
        // The first run warms up.
        if i > 0 {
            times.push(ms(t));
        }
    }
    let queued = b.statuses(0).await?.get("QUEUED").copied().unwrap_or(0);
    b.out(format!(
        "convene_latency members={convened} {} statements_per_convene={} queued_total={queued} {}",
        dist(&times),
        statements.last().copied().unwrap_or(0),
        load()
    ));
    b.drop_queued().await?;

    log("part 1: convening once more with the mailer running");
    let mailer = start_mailer(&b.state, b.state.config.mail.per_second)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    *day += 1;
    let (m, v) = create_meeting(b, sec, &a.conference, *day, "Séance plénière (envoi)").await?;
    add_item(b, sec, &m, "OPINION", "Avis sur le schéma de cohérence territoriale").await?;
    let after = b.last_delivery().await?;
    let from = sink.len();
    let (t, people) = convene(b, sec, &m, v).await?;
    let answered = Instant::now();
    let st = b.settled(after, Duration::from_secs(120)).await?;
    mailer.abort();
    let got = sink.since(from);
    let expected = b.message_ids(after).await?;
    let (missing, dup, unexpected) = check_once(&expected, &got);
    let last = got.iter().map(|g| g.at).max();
    let first = got.iter().map(|g| g.at).min();
    let to_last = last.map(|l| l.saturating_duration_since(answered).as_secs_f64()).unwrap_or(f64::NAN);
    let to_first = first.map(|l| l.saturating_duration_since(answered).as_secs_f64()).unwrap_or(f64::NAN);
    let d = b.gql(Some(sec), "query($id:ID!){meeting(id:$id){convocations{sending}}}", json!({"id": m})).await?;
    let mut sending: BTreeMap<String, usize> = BTreeMap::new();
    for c in d["meeting"]["convocations"].as_array().into_iter().flatten() {
        *sending.entry(c["sending"].as_str().unwrap_or("?").to_string()).or_default() += 1;
    }
    b.out(format!(
        "convene_delivery members={} convene_ms={:.1} rows={} statuses={} sink_received={} first_accept_s={to_first:.2} last_accept_s={to_last:.2} missing={missing} duplicated={dup} unexpected={unexpected} convocations_sending={} target<10s: {} {}",
        people.len(),
        ms(t),
        st.values().sum::<i64>(),
        statuses_line(&st),
        got.len(),
        sending.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        verdict(to_last < 10.0 && missing == 0 && dup == 0),
        load()
    ));
    Ok(())
}

// ---- part 2: 3,000 councillor notices ----------------------------------------------------

/// Reads `READ` one request at a time until `stop`; -> latencies (ms).
async fn reader(b: Bench, sec: String, meeting: String, stop: Arc<AtomicBool>) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let (t, _) = b.post(Some(&sec), READ, json!({"id": meeting})).await?;
        out.push(ms(t));
    }
    Ok(out)
}

async fn read_for(b: &Bench, sec: &str, meeting: &str, secs: u64) -> Result<Vec<f64>> {
    let stop = Arc::new(AtomicBool::new(false));
    let h = tokio::spawn(reader(b.clone(), sec.to_string(), meeting.to_string(), stop.clone()));
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    h.await?
}

async fn insert_councillors(b: &Bench, a: &Amp, n: usize) -> Result<usize> {
    use entente::people::model::mandate;
    let amp = entente::ids::decode("id", entente::ids::Kind::Intercommunality, &async_graphql::ID(a.id.clone()))
        .map_err(|e| anyhow!("{e:?}"))?;
    let communes: Vec<i32> = a
        .communes
        .iter()
        .map(|c| {
            entente::ids::decode("id", entente::ids::Kind::Commune, &async_graphql::ID(c.clone()))
                .map_err(|e| anyhow!("{e:?}"))
        })
        .collect::<Result<_>>()?;
    let txn = b.db().begin().await?;
    let now = chrono::Utc::now();
    let start = entente::time::today_paris() - chrono::Duration::days(400);
    let mut mandates = Vec::with_capacity(n);
    for i in 0..n {
        let p = entente::people::service::insert_person(
            &txn,
            &format!("Conseiller{i}"),
            &format!("Municipal{}", i % 97),
            Some(&format!("c{i}@conseils.test")),
            Some(amp),
        )
        .await
        .map_err(|e| anyhow!("{e:?}"))?;
        mandates.push(mandate::ActiveModel {
            person_id: Set(p.id),
            commune_id: Set(Some(communes[i % communes.len()])),
            intercommunality_id: Set(None),
            role: Set(entente::people::rules::Role::MunicipalCouncillor),
            delegation: Set(None),
            start_date: Set(start),
            end_date: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
            ..Default::default()
        });
    }
    for chunk in mandates.chunks(500) {
        mandate::Entity::insert_many(chunk.to_vec()).exec(&txn).await?;
    }
    txn.commit().await?;
    Ok(n)
}

/// Publishes `meeting`'s decisions with a mailer at `per_second`, a reader running until
/// the last message is accepted; prints the figures.
#[allow(clippy::too_many_arguments)]
async fn publish_and_send(
    b: &Bench,
    sec: &str,
    meeting: &str,
    read_meeting: &str,
    per_second: u32,
    sink: &Sink,
    rest_p99: f64,
    label: &str,
    read: bool,
    concurrency: usize,
) -> Result<()> {
    let mailer = start_mailer_with(&b.state, per_second, concurrency)?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = b.last_delivery().await?;
    let from = sink.len();
    let stop = Arc::new(AtomicBool::new(false));
    let before = b.state.statements.get();
    let (t, _) = b
        .post(
            Some(sec),
            "mutation($m:ID!){publish(meetingId:$m,what:DECISIONS){decisionsPublishedAt}}",
            json!({"m": meeting}),
        )
        .await?;
    let statements = b.state.statements.get() - before;
    let answered = Instant::now();
    let h = read.then(|| tokio::spawn(reader(b.clone(), sec.to_string(), read_meeting.to_string(), stop.clone())));
    let queued = b.statuses(after).await?.values().sum::<i64>();
    b.out(format!(
        "{label}_publish notices_queued={queued} publish_ms={:.1} statements={statements} {}",
        ms(t),
        load()
    ));
    let st = b.settled(after, Duration::from_secs(600)).await?;
    let done = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let during = match h {
        Some(h) => h.await??,
        None => Vec::new(),
    };
    mailer.abort();
    let got = sink.since(from);
    let expected = b.message_ids(after).await?;
    let (missing, dup, unexpected) = check_once(&expected, &got);
    let first = got.iter().map(|g| g.at).min().unwrap_or(answered);
    let last = got.iter().map(|g| g.at).max().unwrap_or(answered);
    let span = last.saturating_duration_since(first).as_secs_f64();
    let rate = if span > 0.0 { (got.len().saturating_sub(1)) as f64 / span } else { f64::NAN };
    let overall = got.len() as f64 / last.saturating_duration_since(answered).as_secs_f64();
    b.out(format!(
        "{label}_delivery per_second_setting={per_second} concurrency={concurrency} rows={} statuses={} sink_received={} missing={missing} duplicated={dup} unexpected={unexpected} first_accept_s={:.2} last_accept_s={:.2} rate_msgs_per_s={rate:.1} rate_from_publish_msgs_per_s={overall:.1} settled_s={:.2} {}",
        st.values().sum::<i64>(),
        statuses_line(&st),
        got.len(),
        first.saturating_duration_since(answered).as_secs_f64(),
        last.saturating_duration_since(answered).as_secs_f64(),
        done.saturating_duration_since(answered).as_secs_f64(),
        load()
    ));
    if !read {
        return Ok(());
    }
    let p99 = pct(&during, 99.0);
    b.out(format!(
        "{label}_read_during_sending {} p99_vs_rest={:+.0}% target<=+20%: {}",
        dist(&during),
        (p99 / rest_p99 - 1.0) * 100.0,
        verdict(p99 <= rest_p99 * 1.2)
    ));
    Ok(())
}

async fn part_councillors(b: &Bench, sec: &str, a: &Amp, args: &Args, day: &mut i64, sink: &Sink) -> Result<()> {
    log(format!("part 2: {} councillors with addresses", args.councillors));
    let t = Instant::now();
    insert_councillors(b, a, args.councillors).await?;
    b.out(format!("councillors_inserted n={} elapsed_s={:.1}", args.councillors, t.elapsed().as_secs_f64()));
    log("part 2: three plenaries held, each with an adopted opinion");
    *day += 1;
    let slow = held_with_opinion(b, sec, a, *day).await?;
    *day += 1;
    let fast = held_with_opinion(b, sec, a, *day).await?;
    *day += 1;
    let bare = held_with_opinion(b, sec, a, *day).await?;
    // The meeting the reader reads: a third, with a few items.
    *day += 1;
    let (read_meeting, _) = create_meeting(b, sec, &a.conference, *day, "Séance lue").await?;
    for t in ["Approbation du procès-verbal", "Plan de mobilité", "Programme local de l'habitat", "Questions diverses"]
    {
        add_item(b, sec, &read_meeting, "INFORMATION", t).await?;
    }
    b.drop_queued().await?;
    log(format!("part 2: the read query at rest for {} s (mailer idle)", args.rest_seconds));
    let mailer = start_mailer(&b.state, b.state.config.mail.per_second)?;
    let rest = read_for(b, sec, &read_meeting, args.rest_seconds).await?;
    mailer.abort();
    let rest_p99 = pct(&rest, 99.0);
    b.out(format!("notices_read_at_rest {} {}", dist(&rest), load()));
    log(format!("part 2: publishing, sending at {}/s", b.state.config.mail.per_second));
    publish_and_send(b, sec, &slow, &read_meeting, b.state.config.mail.per_second, sink, rest_p99, "notices", true, 4)
        .await?;
    log(format!("part 2: publishing, sending at {}/s", args.fast_per_second));
    publish_and_send(b, sec, &fast, &read_meeting, args.fast_per_second, sink, rest_p99, "notices_fast", true, 4)
        .await?;
    log("part 2 (diagnostic): the same with 16 at once, no reader; then SMTP alone and records alone");
    publish_and_send(
        b,
        sec,
        &bare,
        &read_meeting,
        args.fast_per_second,
        sink,
        rest_p99,
        "diag_notices_fast_16_at_once",
        false,
        16,
    )
    .await?;
    diag_smtp_and_records(b, sink).await?;
    Ok(())
}

/// Where the sending's ceiling is: small messages through the mailer's transport alone
/// (1, 4 as the drain, and 16 at once), then 500 records alone (a write transaction
/// updating one delivery row, as `drain::record`), 4 at once.
async fn diag_smtp_and_records(b: &Bench, sink: &Sink) -> Result<()> {
    for (n, at_once) in [(50, 1), (500, 4), (500, 16)] {
        diag_smtp(b, sink, n, at_once).await?;
    }
    diag_records(b, 500).await
}

async fn diag_smtp(b: &Bench, sink: &Sink, n: usize, at_once: usize) -> Result<()> {
    let mailer = entente::platform::mail::Mailer::new(&b.state.config.mail, &b.state.receipt_key)?;
    let from = sink.len();
    let t = Instant::now();
    let outcomes: Vec<entente::platform::mail::Outcome> = stream::iter(0..n)
        .map(|i| {
            let mailer = &mailer;
            async move {
                let m = lettre::Message::builder()
                    .from(mailer.from.clone())
                    .to(format!("diag{i}@conseils.test").parse().map_err(|e| anyhow!("{e}"))?)
                    .subject("Diagnostic")
                    .body(format!("Message de diagnostic n° {i}.\n").repeat(40))?;
                anyhow::Ok(mailer.send(m, &format!("diag-{i}")).await)
            }
        })
        .buffer_unordered(at_once)
        .collect::<Vec<Result<_>>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let smtp_s = t.elapsed().as_secs_f64();
    let accepted = outcomes.iter().filter(|o| matches!(o, entente::platform::mail::Outcome::Accepted(_))).count();
    b.out(format!(
        "diag_smtp_only n={n} concurrency={at_once} accepted={accepted} sink_received={} elapsed_s={smtp_s:.2} rate_msgs_per_s={:.0} {}",
        sink.len() - from,
        n as f64 / smtp_s,
        load()
    ));
    Ok(())
}

async fn diag_records(b: &Bench, n: usize) -> Result<()> {
    let ids: Vec<i32> = b
        .rows(&format!("SELECT id FROM delivery ORDER BY id DESC LIMIT {n}"))
        .await?
        .iter()
        .map(|r| r.try_get::<i32>("", "id"))
        .collect::<Result<_, _>>()?;
    let backend = b.db().get_database_backend();
    let t = Instant::now();
    let done: Vec<Result<f64>> = stream::iter(ids)
        .map(|id| async move {
            let t = Instant::now();
            let txn = entente::db::write(b.db()).await?;
            let q = format!("UPDATE delivery SET updated_at = updated_at WHERE id = {id} AND status = 'SENT'");
            txn.execute_raw(Statement::from_string(backend, q)).await?;
            txn.commit().await?;
            Ok(ms(t.elapsed()))
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let each: Vec<f64> = done.into_iter().collect::<Result<_>>()?;
    let rec_s = t.elapsed().as_secs_f64();
    b.out(format!(
        "diag_records_only n={} concurrency=4 elapsed_s={rec_s:.2} rate_per_s={:.0} each {} {}",
        each.len(),
        each.len() as f64 / rec_s,
        dist(&each),
        load()
    ));
    Ok(())
}

// ---- WebSockets --------------------------------------------------------------------------

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What a connection's task saw.
struct Seen {
    conn: usize,
    at: Instant,
    /// `next` (with its change), `error`, `complete`, `closed`.
    kind: String,
    change: String,
}

/// Opens /graphql/ws signed in with `token`.
async fn ws_open(addr: &str, token: &str, read_buffer: usize) -> Result<Socket> {
    let mut req = format!("ws://{addr}/graphql/ws").into_client_request()?;
    req.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let config = (read_buffer > 0)
        .then(|| tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(read_buffer));
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, config, false).await?;
    ws.send(Message::Text(json!({"type": "connection_init", "payload": {"token": token}}).to_string().into())).await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await? {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t)?;
                if v["type"] == "connection_ack" {
                    return Ok(ws);
                }
                bail!("expected connection_ack: {v}");
            }
            Some(Ok(Message::Close(f))) => bail!("closed at connection_init: {f:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("closed at connection_init"),
        }
    }
}

/// Keeps one connection: sends what `cmds` says, answers pings, reports every message.
fn ws_task(
    conn: usize,
    mut ws: Socket,
    mut cmds: mpsc::UnboundedReceiver<String>,
    seen: mpsc::UnboundedSender<Seen>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                c = cmds.recv() => match c {
                    Some(text) => if ws.send(Message::Text(text.into())).await.is_err() { break },
                    None => { let _ = ws.close(None).await; break }
                },
                m = ws.next() => {
                    let at = Instant::now();
                    match m {
                        Some(Ok(Message::Text(t))) => {
                            let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                            let kind = v["type"].as_str().unwrap_or("?").to_string();
                            if kind == "ping" {
                                let _ = ws.send(Message::Text(json!({"type": "pong"}).to_string().into())).await;
                                continue;
                            }
                            let change = match kind.as_str() {
                                "next" => match v["payload"]["data"]["meetingLive"]["change"].as_str() {
                                    Some(c) => c.to_string(),
                                    None => format!("error:{}", v["payload"]["errors"]),
                                },
                                _ => v.to_string(),
                            };
                            let _ = seen.send(Seen { conn, at, kind, change });
                        }
                        Some(Ok(Message::Close(f))) => {
                            let _ = seen.send(Seen { conn, at, kind: "closed".into(), change: format!("{f:?}") });
                            break;
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            let _ = seen.send(Seen { conn, at, kind: "closed".into(), change: e.to_string() });
                            break;
                        }
                        None => {
                            let _ = seen.send(Seen { conn, at, kind: "closed".into(), change: String::new() });
                            break;
                        }
                    }
                }
            }
        }
    })
}

struct Conns {
    cmds: Vec<mpsc::UnboundedSender<String>>,
    seen: mpsc::UnboundedReceiver<Seen>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Messages that arrived while waiting for something else.
    stray: Vec<Seen>,
}

/// `n` signed-in connections, 32 opened at once.
async fn ws_connect(addr: &str, token: &str, n: usize) -> Result<Conns> {
    let rb = CLIENT_READ_BUFFER.load(Ordering::Relaxed);
    let opened: Vec<Result<Socket>> =
        stream::iter(0..n).map(|_| ws_open(addr, token, rb)).buffer_unordered(32).collect().await;
    let (tx, rx) = mpsc::unbounded_channel();
    let mut c = Conns { cmds: Vec::new(), seen: rx, tasks: Vec::new(), stray: Vec::new() };
    for (i, ws) in opened.into_iter().enumerate() {
        let ws = ws.with_context(|| format!("connection {i}"))?;
        let (ctx, crx) = mpsc::unbounded_channel();
        c.tasks.push(ws_task(i, ws, crx, tx.clone()));
        c.cmds.push(ctx);
    }
    Ok(c)
}

impl Conns {
    fn subscribe_all(&self, meeting: &str) {
        let msg = json!({"id": "1", "type": "subscribe", "payload": {"query": LIVE, "variables": {"id": meeting}}})
            .to_string();
        for c in &self.cmds {
            let _ = c.send(msg.clone());
        }
    }

    /// Waits until every connection reported a message `keep` accepts (up to `limit`);
    /// -> the first such message of each (others are kept as strays).
    async fn each_one<F: Fn(&Seen) -> bool>(&mut self, keep: F, limit: Duration) -> Vec<Option<Seen>> {
        let mut got: Vec<Option<Seen>> = (0..self.cmds.len()).map(|_| None).collect();
        let mut left = self.cmds.len();
        let deadline = tokio::time::Instant::now() + limit;
        while left > 0 {
            match tokio::time::timeout_at(deadline, self.seen.recv()).await {
                Ok(Some(s)) => {
                    if keep(&s) && got[s.conn].is_none() {
                        let i = s.conn;
                        got[i] = Some(s);
                        left -= 1;
                    } else {
                        self.stray.push(s);
                    }
                }
                _ => break,
            }
        }
        got
    }

    /// Whatever arrived within `wait`.
    async fn drain(&mut self, wait: Duration) -> Vec<Seen> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = std::mem::take(&mut self.stray);
        while let Ok(Some(s)) = tokio::time::timeout_at(deadline, self.seen.recv()).await {
            out.push(s);
        }
        out
    }

    async fn close(self) {
        drop(self.cmds);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

fn kinds<'a>(xs: impl IntoIterator<Item = &'a Seen>) -> String {
    let mut k: BTreeMap<String, usize> = BTreeMap::new();
    for s in xs {
        let what = if s.kind == "next" { s.change.chars().take(60).collect() } else { s.kind.clone() };
        *k.entry(what).or_default() += 1;
    }
    if k.is_empty() {
        return "none".into();
    }
    k.iter().map(|(k, v)| format!("{k}x{v}")).collect::<Vec<_>>().join(",")
}

// ---- part 3: 500 subscribers -------------------------------------------------------------

async fn part_live(b: &Bench, sec: &str, a: &Amp, args: &Args, day: &mut i64, addr: &str) -> Result<()> {
    log(format!("part 3: {} subscribers to a convened plenary", args.subscribers));
    *day += 1;
    let (m, v) = create_meeting(b, sec, &a.conference, *day, "Séance plénière en direct").await?;
    add_item(b, sec, &m, "OPINION", "Avis sur le plan climat").await?;
    let vote_item = add_item(b, sec, &m, "VOTE", "Désignation des représentants").await?;
    add_item(b, sec, &m, "DEBATE", "Débat d'orientation").await?;
    add_item(b, sec, &m, "INFORMATION", "Questions diverses").await?;
    let (_, people) = convene(b, sec, &m, v).await?;
    all_present(b, sec, &m, &people).await?;
    b.drop_queued().await?;
    let t = Instant::now();
    let mut conns = ws_connect(addr, sec, args.subscribers).await?;
    let connected = t.elapsed();
    let t = Instant::now();
    conns.subscribe_all(&m);
    let first = conns.each_one(|s| s.kind == "next" && s.change == "CURRENT", Duration::from_secs(120)).await;
    let current = first.iter().filter(|s| s.is_some()).count();
    b.out(format!(
        "live_connect subscribers={} connected={} connect_s={:.2} current_received={current} current_s={:.2} agenda_items=4 ws_connections_per_account={} {}",
        args.subscribers,
        conns.cmds.len(),
        connected.as_secs_f64(),
        t.elapsed().as_secs_f64(),
        b.state.config.limits.ws_connections_per_account,
        load()
    ));
    let stray = conns.drain(Duration::from_millis(500)).await;
    if !stray.is_empty() {
        b.out(format!("live_stray_before_events {}", kinds(&stray)));
    }
    // What one subscriber's event costs, over HTTP: the session alone (`__typename`),
    // then the subscription's selection as a query.
    for (what, q) in [
        ("auth_only", "{__typename}"),
        (
            "selection_as_query",
            "query($id:ID!){meeting(id:$id){status agenda{title quorum{present required met} vote{result}}}}",
        ),
    ] {
        let mut times = Vec::new();
        let mut st = 0;
        for _ in 0..30 {
            let before = b.state.statements.get();
            let (t, _) = b.post(Some(sec), q, json!({"id": m})).await?;
            st = b.state.statements.get() - before;
            times.push(ms(t));
        }
        b.out(format!("live_diag_http {what} statements={st} {}", dist(&times)));
    }
    let mut all = Vec::new();
    let mut from_request = Vec::new();
    let mut item_version = 1;
    for e in 0..args.events {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let stray = conns.drain(Duration::from_millis(10)).await;
        if !stray.is_empty() {
            b.out(format!("live_stray event={e} {}", kinds(&stray)));
        }
        let before = b.state.statements.get();
        let sent = Instant::now();
        let (t, d) = b
            .post(
                Some(sec),
                "mutation($i:RecordVoteInput!){recordVote(input:$i){version vote{result}}}",
                json!({"i": {"itemId": vote_item, "expectedVersion": item_version, "votesFor": 50 + e as i64, "against": 10, "abstain": 2}}),
            )
            .await?;
        let answered = sent + t;
        item_version = d["recordVote"]["version"].as_i64().unwrap_or(item_version + 1);
        let got = conns.each_one(|s| s.kind != "next" || s.change != "CURRENT", Duration::from_secs(60)).await;
        let fanout = b.state.statements.get() - before;
        let extra = conns.drain(Duration::from_millis(300)).await;
        let mut lat = Vec::new();
        let mut early = 0;
        let mut wrong = Vec::new();
        for s in got.iter().flatten() {
            if s.kind != "next" || s.change.starts_with("error") {
                wrong.push(format!("{}:{}", s.kind, s.change.chars().take(80).collect::<String>()));
                continue;
            }
            if s.at < answered {
                early += 1;
            }
            lat.push(ms(s.at.saturating_duration_since(answered)));
            from_request.push(ms(s.at.saturating_duration_since(sent)));
        }
        let missing = got.iter().filter(|s| s.is_none()).count();
        let changes = kinds(got.iter().flatten());
        b.out(format!(
            "live_event n={e} mutation_ms={:.1} {} missing={missing} arrived_before_answer={early} errors={} extra={} changes={changes} statements_until_last={fanout} statements_per_subscriber={:.1} {}",
            ms(t),
            dist(&lat),
            wrong.len(),
            kinds(&extra),
            fanout as f64 / args.subscribers.max(1) as f64,
            load()
        ));
        if !wrong.is_empty() {
            b.out(format!("live_event_errors n={e} first={}", wrong[0]));
        }
        all.extend(lat);
    }
    let p99 = pct(&all, 99.0);
    b.out(format!(
        "live_latency subscribers={} events={} from_answer {} target_p99<500ms: {}",
        args.subscribers,
        args.events,
        dist(&all),
        verdict(p99 < 500.0)
    ));
    b.out(format!("live_latency_from_request {}", dist(&from_request)));
    conns.close().await;
    Ok(())
}

// ---- part 4: 2,000 idle connections to a server in a child process ----------------------

async fn serve_child(database_url: &str) -> Result<()> {
    let mut config = entente::Config::new(database_url.to_string());
    config.response_cache_entries = 0;
    config.limits.ws_connections_per_account = 100_000;
    let state = entente::state(config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("addr {}", listener.local_addr()?);
    use std::io::Write;
    std::io::stdout().flush()?;
    entente::serve(listener, entente::app(state)).await?;
    Ok(())
}

async fn part_idle(b: &Bench, sec: &str, a: &Amp, args: &Args, day: &mut i64) -> Result<()> {
    log(format!("part 4: {} idle connections to a server in a child process", args.idle));
    *day += 1;
    let (m, v) = create_meeting(b, sec, &a.conference, *day, "Séance plénière (veille)").await?;
    add_item(b, sec, &m, "OPINION", "Avis sur le plan climat").await?;
    add_item(b, sec, &m, "VOTE", "Désignation des représentants").await?;
    convene(b, sec, &m, v).await?;
    b.drop_queued().await?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["--serve-child", "--database-url", &args.database_url])
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id().to_string();
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let line = tokio::task::spawn_blocking(move || {
        let mut l = String::new();
        std::io::BufReader::new(stdout).read_line(&mut l).map(|_| l)
    })
    .await??;
    let addr = line.trim().strip_prefix("addr ").ok_or_else(|| anyhow!("child said {line:?}"))?.to_string();
    let result = async {
        // Warm-up: one connection subscribed (starts the live feed's tail), one request.
        let http = Bench { base: format!("http://{addr}"), ..b.clone() };
        http.gql(Some(sec), READ, json!({"id": m})).await?;
        let mut warm = ws_connect(&addr, sec, 1).await?;
        warm.subscribe_all(&m);
        warm.each_one(|s| s.kind == "next", Duration::from_secs(30)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (server0, client0) = (rss_kib(&pid), rss_kib("self"));
        let t = Instant::now();
        let mut conns = ws_connect(&addr, sec, args.idle).await?;
        let connect_s = t.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (server1, client1) = (rss_kib(&pid), rss_kib("self"));
        let n = conns.cmds.len() as f64;
        let server_mib = (server1 as f64 - server0 as f64) / 1024.0;
        let client_mib = (client1 as f64 - client0 as f64) / 1024.0;
        b.out(format!(
            "idle_connections n={} subscriptions=0 client_read_buffer_kib={} connect_s={connect_s:.2} server_rss_before_mib={:.1} server_rss_after_mib={:.1} server_increase_mib={server_mib:.1} server_kib_per_connection={:.1} client_increase_mib={client_mib:.1} in_process_equivalent_mib={:.1} target<100MiB: {} {}",
            conns.cmds.len(),
            CLIENT_READ_BUFFER.load(Ordering::Relaxed) / 1024,
            server0 as f64 / 1024.0,
            server1 as f64 / 1024.0,
            server_mib * 1024.0 / n,
            server_mib + client_mib,
            verdict(server_mib < 100.0),
            load()
        ));
        let t = Instant::now();
        conns.subscribe_all(&m);
        let got = conns.each_one(|s| s.kind == "next" && s.change == "CURRENT", Duration::from_secs(300)).await;
        let current = got.iter().filter(|s| s.is_some()).count();
        let sub_s = t.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (server2, client2) = (rss_kib(&pid), rss_kib("self"));
        let server_mib = (server2 as f64 - server0 as f64) / 1024.0;
        let client_mib = (client2 as f64 - client0 as f64) / 1024.0;
        b.out(format!(
            "idle_connections n={} subscriptions=1_each current_received={current} subscribe_s={sub_s:.2} server_rss_after_mib={:.1} server_increase_mib={server_mib:.1} server_kib_per_connection={:.1} client_increase_mib={client_mib:.1} in_process_equivalent_mib={:.1} stray={} target<100MiB: {} {}",
            conns.cmds.len(),
            server2 as f64 / 1024.0,
            server_mib * 1024.0 / n,
            server_mib + client_mib,
            kinds(&conns.stray),
            verdict(server_mib < 100.0),
            load()
        ));
        conns.close().await;
        warm.close().await;
        anyhow::Ok(())
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

// ---- main --------------------------------------------------------------------------------

#[tokio::main]
async fn main() -> Result<()> {
    let a = args()?;
    if a.serve_child {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
        return serve_child(&a.database_url).await;
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let backend = if a.database_url.starts_with("postgres") { "postgres" } else { "sqlite" };
    let (sink, smtp) = Sink::start()?;
    let mut config = entente::Config::new(a.database_url.clone());
    config.response_cache_entries = 0;
    config.limits.ws_connections_per_account = 1_000;
    config.mail.smtp_url = Some(format!("smtp://{smtp}"));
    config.mail.from = "Secrétariat AMP <secretariat@amp.test>".into();
    config.mail.public_url = "https://entente.amp.test".into();
    let state = entente::state(config).await?;
    let started = Instant::now();
    entente::demo::load(&state).await.map_err(|e| anyhow!("demo: {e:?}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let app = entente::app(state.clone());
    tokio::spawn(async move {
        let _ = entente::serve(listener, app).await;
    });
    let b = Bench { client: reqwest::Client::new(), base: format!("http://{addr}"), state: state.clone(), backend };
    let m = &state.config.mail;
    b.out(format!(
        "setup db_pool={} dataloader_delay_ms={} response_cache=off mail_per_second={} mail_concurrency={} mail_batch={} mail_poll_ms={} ws_connections_per_account={} demo_s={:.1} rss_mib={} {}",
        state.config.max_db_connections,
        state.config.dataloader_delay.as_millis(),
        m.per_second,
        m.concurrency,
        m.batch,
        m.poll.as_millis(),
        state.config.limits.ws_connections_per_account,
        started.elapsed().as_secs_f64(),
        rss_kib("self") / 1024,
        load()
    ));
    b.sql("UPDATE person SET email = 'p' || id || '@communes.test' WHERE email IS NULL").await?;
    // What the demo's own story queued is not measured.
    b.drop_queued().await?;
    let sec = b.login(SECRETARIAT).await?;
    let amp = amp(&b, &sec).await?;
    let mut day = 400;
    let want = |p: &str| a.parts.iter().any(|x| x == p);
    if want("convene") {
        part_convene(&b, &sec, &amp, a.convene_runs, &mut day, &sink).await?;
    }
    if want("councillors") {
        part_councillors(&b, &sec, &amp, &a, &mut day, &sink).await?;
    }
    if want("live") {
        part_live(&b, &sec, &amp, &a, &mut day, &addr).await?;
    }
    if want("idle") {
        part_idle(&b, &sec, &amp, &a, &mut day).await?;
    }
    b.out(format!(
        "done elapsed_s={:.1} rss_mib={} peak_rss_mib={} {}",
        started.elapsed().as_secs_f64(),
        rss_kib("self") / 1024,
        vm_kib_of("self", "VmHWM:") / 1024,
        load()
    ));
    Ok(())
}
