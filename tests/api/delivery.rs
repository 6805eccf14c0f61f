//! E-mail delivery through a real SMTP server over TCP (mailin-embedded, in this test
//! process), answering as each test asks: messages arrive with the right recipients,
//! headers, calendar part and links; a 451 is retried and the message arrives once; a 550
//! marks FAILED with the server's answer; rows a stopped process held are sent once.
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailin_embedded::response::{self, Response};
use mailin_embedded::{Handler, Server};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::{code, ok, TestApp};
use crate::meetings::{add_item, convene, create_meeting, working_group};
use entente::platform::mail::model::{delivery, DeliveryStatus};

/// One message as the server received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Clone, Default)]
struct Shared {
    inbox: Arc<Mutex<Vec<Received>>>,
    /// Answers to give to the next RCPT commands, in order (then 250).
    script: Arc<Mutex<VecDeque<u16>>>,
    /// Recipients refused at RCPT with 550.
    refused: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
struct H {
    shared: Shared,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for H {
    fn rcpt(&mut self, to: &str) -> Response {
        if self.shared.refused.lock().unwrap().iter().any(|r| to.contains(r.as_str())) {
            return Response::custom(550, "5.1.1 no such mailbox here".to_string());
        }
        // Greylisting's answer: try again later. (Given at RCPT: mailin stays in its
        // data state after an error at the end of DATA.)
        let next = self.shared.script.lock().unwrap().pop_front().unwrap_or(250);
        if next != 250 {
            return Response::custom(next, "4.2.0 greylisted, try again later".to_string());
        }
        response::OK
    }
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> Response {
        let data = std::mem::take(&mut self.data);
        self.shared.inbox.lock().unwrap().push(Received { to: self.to.clone(), data });
        Response::custom(250, "2.0.0 queued as TEST".to_string())
    }
}

/// A real SMTP server on a free port of 127.0.0.1, serving until the test process ends;
/// a thread per connection (lettre keeps a pool of them open), 32 at most.
pub struct SmtpServer {
    pub addr: SocketAddr,
    shared: Shared,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Shared::default();
        let mut server = Server::new(H { shared: shared.clone(), to: Vec::new(), data: Vec::new() });
        server.with_name("smtp.test").with_num_threads(32).with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        SmtpServer { addr, shared }
    }
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }
    pub fn script(&self, answers: &[u16]) {
        self.shared.script.lock().unwrap().extend(answers);
    }
    pub fn refuse(&self, address: &str) {
        self.shared.refused.lock().unwrap().push(address.to_string());
    }
    pub fn received(&self) -> Vec<Received> {
        self.shared.inbox.lock().unwrap().clone()
    }
    /// Waits up to 10 s for `n` messages.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..200 {
            if self.received().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.received()
    }
}

/// A demo server sending to `smtp`, with short waits (retries after 100 ms). The
/// e-mails the demo's own story queued are forgotten: each test counts its own.
pub async fn app_sending_to(smtp: &SmtpServer) -> TestApp {
    let url = smtp.url();
    let app = TestApp::demo_with(move |c| {
        c.mail.smtp_url = Some(url);
        c.mail.from = "Secrétariat AMP <secretariat@amp.test>".into();
        c.mail.public_url = "https://entente.amp.test".into();
        c.mail.retry_base = Duration::from_millis(100);
        c.mail.poll = Duration::from_millis(50);
    })
    .await;
    forget_demo_mail(&app).await;
    app
}

async fn forget_demo_mail(app: &TestApp) {
    let demo = delivery::Entity::delete_many().exec(&app.state.db).await.unwrap();
    assert!(demo.rows_affected > 0, "the demo's story queues e-mails too");
}

async fn rows(app: &TestApp) -> Vec<delivery::Model> {
    delivery::Entity::find().all(&app.state.db).await.unwrap()
}

/// Waits until no delivery is QUEUED or SENDING (up to 10 s).
async fn settled(app: &TestApp) -> Vec<delivery::Model> {
    for _ in 0..200 {
        let all = rows(app).await;
        if all.iter().all(|d| matches!(d.status, DeliveryStatus::Sent | DeliveryStatus::Failed)) {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deliveries still pending: {:?}", rows(app).await);
}

const DELIVERIES: &str = "query($id:ID!){meeting(id:$id){deliveries{totalCount nodes{kind address status attempts smtpAnswer messageId acceptedAt recipient{id}}} convocations{sentAt convenedAt sending channel person{id email}}}}";

/// A convened working group (the president and the mayors of Marseille and Aix), its
/// first item with a note; returns (meeting, people).
pub async fn convened(app: &TestApp, sec: &str) -> (String, Vec<String>) {
    let (wg, people) = working_group(app, sec, &["13055", "13001"]).await;
    let m = create_meeting(app, sec, &wg, 20).await;
    add_item(app, sec, &m, "VOTE", "Plan de mobilité <script>").await;
    ok(&convene(app, sec, &m, None).await);
    (m, people)
}

#[tokio::test]
async fn convocations_reach_a_real_smtp_server_once_with_agenda_invitation_and_proof() {
    let smtp = SmtpServer::start();
    let app = app_sending_to(&smtp).await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (m, _) = convened(&app, &sec).await;

    // Queued with the change: nothing is sent before the mailer runs.
    let before = ok(&app.gql(Some(&sec), DELIVERIES, json!({"id": m})).await).clone();
    let queued = before["meeting"]["deliveries"]["nodes"].as_array().unwrap().clone();
    assert!(!queued.is_empty());
    assert!(queued.iter().all(|d| d["status"] == "QUEUED" && d["kind"] == "MEETING_CONVENED"), "{queued:?}");
    // Every member convened here signs in: each has an address (their account's).
    let convocations = before["meeting"]["convocations"].as_array().unwrap().clone();
    assert_eq!(convocations.len(), queued.len(), "one e-mail per convened member");
    assert!(convocations.iter().all(|c| c["sending"] == "QUEUED" && c["sentAt"].is_null()), "{convocations:?}");
    assert!(smtp.received().is_empty());

    let mailer = entente::start_mail(&app.state).unwrap();
    let got = smtp.wait_for(queued.len()).await;
    settled(&app).await;
    mailer.abort();
    assert_eq!(got.len(), queued.len(), "each once");

    // Each message: to its member, from the secretariat, in French, with the agenda, the
    // note, the calendar invitation (same UID and SEQUENCE as the feed) and the link.
    let meeting_id = entente::ids::decode("id", entente::ids::Kind::Meeting, &async_graphql::ID(m.clone())).unwrap();
    let mut addresses: Vec<String> = got.iter().flat_map(|r| r.to.clone()).collect();
    addresses.sort();
    let mut expected: Vec<String> = queued.iter().map(|d| d["address"].as_str().unwrap().to_string()).collect();
    expected.sort();
    assert!(expected.contains(&"maire.aix@demo.entente.fr".to_string()), "{expected:?}");
    assert_eq!(addresses, expected);
    for r in &got {
        let msg = mail_parser::MessageParser::default().parse(&r.data).unwrap();
        assert_eq!(msg.subject(), Some("Convocation : « Séance J+20 »"));
        assert_eq!(msg.from().unwrap().first().unwrap().address(), Some("secretariat@amp.test"));
        assert!(msg.message_id().unwrap().starts_with("entente."), "{:?}", msg.message_id());
        let text = msg.body_text(0).unwrap();
        assert!(text.contains("Vous êtes convoqué(e) à la séance « Séance J+20 » de GT Mobilités"), "{text}");
        assert!(
            text.contains("1. Plan de mobilité <script> — note explicative de synthèse : Note de synthèse"),
            "{text}"
        );
        assert!(text.contains(&format!("https://entente.amp.test/meetings/{meeting_id}/calendar.ics")), "{text}");
        assert!(text.contains("article L2121-10"), "{text}");
        // The HTML part escapes what people wrote.
        let html = msg.body_html(0).unwrap();
        assert!(html.contains("Plan de mobilité &#60;script&#62;"), "{html}");
        assert!(!html.contains("<script>"));
        let raw = String::from_utf8_lossy(&r.data);
        assert!(raw.contains("text/calendar; method=REQUEST"), "{raw}");
        let ics = msg
            .parts
            .iter()
            .find(|p| mail_parser::MimeHeaders::is_content_type(*p, "text", "calendar"))
            .and_then(|p| p.text_contents())
            .expect("a calendar part");
        assert!(ics.contains("METHOD:REQUEST"), "{ics}");
        assert!(ics.contains(&format!("UID:meeting-{meeting_id}@entente")), "{ics}");
        assert!(ics.contains("SEQUENCE:1"), "{ics}");
    }

    // The proof, for the secretariat: accepted, with the server's answer and Message-ID;
    // the convocation's legal sending time is the acceptance.
    let after = ok(&app.gql(Some(&sec), DELIVERIES, json!({"id": m})).await).clone();
    for d in after["meeting"]["deliveries"]["nodes"].as_array().unwrap() {
        assert_eq!(d["status"], "SENT", "{d}");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["smtpAnswer"], "250 2.0.0 queued as TEST");
        assert!(d["messageId"].as_str().unwrap().starts_with("<entente."));
        assert!(d["acceptedAt"].is_string());
    }
    let convocations = after["meeting"]["convocations"].as_array().unwrap();
    for c in convocations {
        assert_eq!(c["sending"], "SENT");
        assert!(c["sentAt"].as_str().unwrap() >= c["convenedAt"].as_str().unwrap(), "{c}");
    }

    // Only the secretariat sees deliveries.
    let mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    let r = app.gql(Some(&mayor), "query($id:ID!){meeting(id:$id){deliveries{totalCount}}}", json!({"id": m})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
}

#[tokio::test]
async fn a_temporary_refusal_is_retried_and_arrives_once_a_permanent_one_fails_with_the_answer() {
    let smtp = SmtpServer::start();
    // The first recipient is answered 451 (then accepted); Aix's mayor's mailbox does not exist.
    smtp.script(&[451]);
    let app = app_sending_to(&smtp).await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (m, _) = convened(&app, &sec).await;
    let aix = "maire.aix@demo.entente.fr".to_string();
    smtp.refuse(&aix);
    let total = rows(&app).await.len();

    let mailer = entente::start_mail(&app.state).unwrap();
    let all = settled(&app).await;
    mailer.abort();
    let got = smtp.received();
    assert_eq!(got.len(), total - 1, "all but the refused one, each once");
    let mut to: Vec<String> = got.iter().flat_map(|r| r.to.clone()).collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), total - 1, "no one twice: {to:?}");

    let failed: Vec<&delivery::Model> = all.iter().filter(|d| d.status == DeliveryStatus::Failed).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].address, aix);
    assert_eq!(failed[0].attempts, 1, "a 5xx is not tried again");
    assert!(failed[0].answer.as_deref().unwrap().contains("550"), "{:?}", failed[0].answer);
    let retried: Vec<&delivery::Model> = all.iter().filter(|d| d.attempts == 2).collect();
    assert_eq!(retried.len(), 1, "the 451 was tried again: {all:?}");
    assert_eq!(retried[0].status, DeliveryStatus::Sent);

    // The secretariat sees it, and the convocation is to print.
    let r = ok(&app.gql(Some(&sec), DELIVERIES, json!({"id": m})).await).clone();
    let failed: Vec<&Value> =
        r["meeting"]["deliveries"]["nodes"].as_array().unwrap().iter().filter(|d| d["status"] == "FAILED").collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["smtpAnswer"].as_str().unwrap().contains("no such mailbox"), "{r}");
    let sending: Vec<&str> =
        r["meeting"]["convocations"].as_array().unwrap().iter().map(|c| c["sending"].as_str().unwrap()).collect();
    assert!(sending.contains(&"FAILED"), "{sending:?}");
    let q = "query($id:ID!){meeting(id:$id){convocationsToPrint{sending person{fullName}}}}";
    let r = app.gql(Some(&sec), q, json!({"id": m})).await;
    let print = ok(&r)["meeting"]["convocationsToPrint"].as_array().unwrap().clone();
    assert_eq!(print.len(), 1, "{r}");
    assert_eq!(print[0]["sending"], "FAILED");
    let mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    assert_eq!(code(&app.gql(Some(&mayor), q, json!({"id": m})).await), "FORBIDDEN");
}

#[tokio::test]
async fn rows_held_by_a_stopped_process_are_sent_once_after_their_lease() {
    let smtp = SmtpServer::start();
    let app = app_sending_to(&smtp).await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    convened(&app, &sec).await;
    let total = rows(&app).await.len();
    assert!(total >= 2);

    // A first process sends one round of one message, then stops.
    let mut cfg = app.state.config.mail.clone();
    cfg.batch = 1;
    let first = entente::platform::mail::Mailer::new(&cfg, &app.state.receipt_key).unwrap();
    let round = entente::platform::mail::drain::drain_once(&app.state.db, &first).await.unwrap();
    assert_eq!((round.claimed, round.sent), (1, 1));
    // Another had claimed one more when it stopped: SENDING, its lease over.
    let held = rows(&app).await.into_iter().find(|d| d.status == DeliveryStatus::Queued).unwrap();
    delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, sea_orm::sea_query::Expr::value(DeliveryStatus::Sending))
        .col_expr(delivery::Column::Attempts, sea_orm::sea_query::Expr::value(1))
        .col_expr(
            delivery::Column::LeasedUntil,
            sea_orm::sea_query::Expr::value(Some(chrono::Utc::now() - chrono::Duration::seconds(1))),
        )
        .filter(delivery::Column::Id.eq(held.id))
        .exec(&app.state.db)
        .await
        .unwrap();

    // Restarted: everything left goes, each once.
    let mailer = entente::start_mail(&app.state).unwrap();
    let all = settled(&app).await;
    mailer.abort();
    assert!(all.iter().all(|d| d.status == DeliveryStatus::Sent));
    let got = smtp.received();
    assert_eq!(got.len(), total);
    let mut to: Vec<String> = got.iter().flat_map(|r| r.to.clone()).collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), total, "no one twice");
    assert_eq!(all.iter().find(|d| d.id == held.id).unwrap().attempts, 2);
}

#[tokio::test]
async fn without_an_smtp_server_messages_are_eml_files_a_newcomer_can_open() {
    let app = TestApp::demo().await;
    forget_demo_mail(&app).await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    convened(&app, &sec).await;
    let total = rows(&app).await.len();
    let dir = app.state.config.mail.dir.clone();
    let mailer = entente::start_mail(&app.state).unwrap();
    settled(&app).await;
    mailer.abort();
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert_eq!(files.len(), total, "{dir:?}");
    let bytes = std::fs::read(&files[0]).unwrap();
    let msg = mail_parser::MessageParser::default().parse(&bytes).unwrap();
    assert_eq!(msg.subject(), Some("Convocation : « Séance J+20 »"));
    assert!(rows(&app).await.iter().all(|d| d.answer.as_deref().unwrap().starts_with("written to ")));
}

const PREFS: &str = "{myNotificationPreferences{kind mode legal}}";
const SET: &str =
    "mutation($k:NotificationKind!,$m:DeliveryMode!){setNotificationPreference(kind:$k,mode:$m){kind mode legal}}";

#[tokio::test]
async fn each_person_chooses_immediate_digest_or_none_except_for_legal_notices() {
    let smtp = SmtpServer::start();
    let app = app_sending_to(&smtp).await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    let prefs = ok(&app.gql(Some(&mayor), PREFS, json!({})).await).clone();
    let all = prefs["myNotificationPreferences"].as_array().unwrap();
    assert!(all.iter().all(|p| p["mode"] == "IMMEDIATE"));
    assert!(all.iter().any(|p| p["kind"] == "MEETING_CONVENED" && p["legal"] == true));

    let r = app.gql(None, SET, json!({"k": "MEETING_POSTPONED", "m": "NONE"})).await;
    assert_eq!(code(&r), "UNAUTHENTICATED", "{r}");
    // A legal notice cannot be turned off, nor gathered in a digest; nothing is written.
    let audit = app.audit_count().await;
    let r = app.gql(Some(&mayor), SET, json!({"k": "MEETING_CONVENED", "m": "NONE"})).await;
    assert_eq!(code(&r), "LEGAL_NOTICE", "{r}");
    assert_eq!(app.audit_count().await, audit);
    // Postponements in a digest, cancellations not at all.
    ok(&app.gql(Some(&mayor), SET, json!({"k": "MEETING_POSTPONED", "m": "DIGEST"})).await);
    let r = ok(&app.gql(Some(&mayor), SET, json!({"k": "MEETING_CANCELLED", "m": "NONE"})).await).clone();
    let chosen = r["setNotificationPreference"].as_array().unwrap();
    assert!(chosen.iter().any(|p| p["kind"] == "MEETING_CANCELLED" && p["mode"] == "NONE"));
    assert_eq!(app.audit_count().await, audit + 2);

    let (m, _) = convened(&app, &sec).await;
    let marseille = "maire.marseille@demo.entente.fr".to_string();
    let mine = |rows: Vec<delivery::Model>| -> Vec<delivery::Model> {
        rows.into_iter().filter(|d| d.address == marseille).collect()
    };
    // The convocation goes at once whatever the choices.
    assert_eq!(mine(rows(&app).await).len(), 1);
    ok(&crate::meetings::transition(&app, &sec, &m, "POSTPONED").await);
    let postponed: Vec<delivery::Model> = mine(rows(&app).await).into_iter().filter(|d| d.digest).collect();
    assert_eq!(postponed.len(), 1, "the postponement waits for the digest");
    assert!(postponed[0].next_attempt_at > chrono::Utc::now());

    // The digest's hour comes: one message gathers the day's events.
    delivery::Entity::update_many()
        .col_expr(delivery::Column::NextAttemptAt, sea_orm::sea_query::Expr::value(chrono::Utc::now()))
        .filter(delivery::Column::Digest.eq(true))
        .exec(&app.state.db)
        .await
        .unwrap();
    let mailer = entente::start_mail(&app.state).unwrap();
    settled(&app).await;
    mailer.abort();
    let digest: Vec<Received> = smtp.received().into_iter().filter(|r| r.to.contains(&marseille)).collect();
    assert_eq!(digest.len(), 2, "the convocation, then the digest");
    let subjects: Vec<String> = digest
        .iter()
        .map(|r| mail_parser::MessageParser::default().parse(&r.data).unwrap().subject().unwrap().to_string())
        .collect();
    assert!(subjects.iter().any(|s| s.starts_with("Votre récapitulatif entente")), "{subjects:?}");
}

/// The link of the message `to` received last whose URL starts with `prefix`, and its
/// token (after `#token=`).
fn token_sent(smtp: &SmtpServer, to: &str, prefix: &str) -> String {
    let got = smtp.received().into_iter().rev().find(|r| r.to.iter().any(|t| t == to)).expect("a message");
    let msg = mail_parser::MessageParser::default().parse(&got.data).unwrap();
    let text = msg.body_text(0).unwrap().to_string();
    let at = text.find(prefix).unwrap_or_else(|| panic!("no link {prefix} in {text}"));
    let link = text[at..].split_whitespace().next().unwrap().to_string();
    link.split_once("#token=").unwrap().1.to_string()
}

const RESET: &str = "mutation($t:String!,$p:String!){resetPassword(token:$t,newPassword:$p){token}}";
const REQUEST: &str = "mutation($e:String!){requestPasswordReset(email:$e)}";

#[tokio::test]
async fn a_forgotten_password_is_reset_by_a_link_sent_by_e_mail_once_within_the_hour() {
    let smtp = SmtpServer::start();
    let app = app_sending_to(&smtp).await;
    let cassis = "maire.cassis@demo.entente.fr";
    let old_session = app.login_as(cassis).await;
    let mailer = entente::start_mail(&app.state).unwrap();

    // An unknown address gets the same answer, and nothing is sent.
    let r = app.gql(None, REQUEST, json!({"e": "nobody@nowhere.test"})).await;
    assert_eq!(ok(&r)["requestPasswordReset"], true);
    let r = app.gql(None, REQUEST, json!({"e": cassis})).await;
    assert_eq!(ok(&r)["requestPasswordReset"], true);
    let got = smtp.wait_for(1).await;
    assert_eq!(got.len(), 1, "only the account's address gets a message");
    let token = token_sent(&smtp, cassis, "https://entente.amp.test/reset-password#token=");
    // The secret left the database with the message.
    settled(&app).await;
    assert!(rows(&app).await.iter().all(|d| d.secret.is_none()));

    let r = app.gql(None, RESET, json!({"t": token, "p": "short"})).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    // A wrong token is refused, and counted against the client like a failed sign-in.
    let audit = app.audit_count().await;
    let r = app.gql(None, RESET, json!({"t": "0".repeat(64), "p": "un nouveau mot de passe solide"})).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert_eq!(app.audit_count().await, audit + 1);
    let r = app.gql(None, RESET, json!({"t": token, "p": "un nouveau mot de passe solide"})).await;
    assert!(ok(&r)["resetPassword"]["token"].is_string());
    // Once only; the old password and the other sessions no longer work.
    let r = app.gql(None, RESET, json!({"t": token, "p": "encore un autre mot de passe"})).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert!(app.login(cassis, crate::helpers::DEMO_PASSWORD).await.is_err());
    app.login(cassis, "un nouveau mot de passe solide").await.expect("the new password");
    let r = app.gql(Some(&old_session), "{me{account{email}}}", json!({})).await;
    assert_eq!(code(&r), "UNAUTHENTICATED", "{r}");

    // Requests are limited per address like failed sign-ins, known address or not.
    let limit = app.state.config.auth.max_failures_per_email;
    let mut codes = Vec::new();
    for _ in 0..limit + 1 {
        let r = app.gql(None, REQUEST, json!({"e": "nobody@nowhere.test"})).await;
        codes.push(if r["errors"].is_array() { code(&r) } else { "OK".into() });
    }
    assert_eq!(codes.last().unwrap(), "RATE_LIMITED", "{codes:?}");
    mailer.abort();
}

#[tokio::test]
async fn an_invitation_is_e_mailed_with_the_link_to_accept() {
    let smtp = SmtpServer::start();
    let app = app_sending_to(&smtp).await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (_, person) = crate::meetings::mayor(&app, &sec, "13005").await;
    let r = app
        .gql(
            Some(&sec),
            "mutation($p:ID!){inviteAccount(input:{personId:$p,email:\"maire.13005@communes.test\",role:MEMBER}){expiresAt}}",
            json!({"p": person}),
        )
        .await;
    ok(&r);
    let mailer = entente::start_mail(&app.state).unwrap();
    smtp.wait_for(1).await;
    mailer.abort();
    let token = token_sent(&smtp, "maire.13005@communes.test", "https://entente.amp.test/invitation#token=");
    let r = app
        .gql(
            None,
            "mutation($t:String!){acceptInvitation(token:$t,password:\"un mot de passe solide\"){token}}",
            json!({"t": token}),
        )
        .await;
    assert!(ok(&r)["acceptInvitation"]["token"].is_string(), "{r}");
}

/// How many convocations of meeting `m` were read.
async fn read_count(app: &TestApp, sec: &str, m: &str) -> usize {
    let q = "query($id:ID!){meeting(id:$id){convocations{readAt}}}";
    let r = app.gql(Some(sec), q, json!({"id": m})).await;
    ok(&r)["meeting"]["convocations"].as_array().unwrap().iter().filter(|c| c["readAt"].is_string()).count()
}

#[tokio::test]
async fn a_read_receipt_link_records_the_reading_after_one_click_and_late_convocations_alert_the_secretariat() {
    let smtp = SmtpServer::start();
    let app = app_sending_to(&smtp).await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let (m, _) = convened(&app, &sec).await;
    let mailer = entente::start_mail(&app.state).unwrap();
    settled(&app).await;
    let marseille = "maire.marseille@demo.entente.fr";
    let got = smtp.received().into_iter().find(|r| r.to.iter().any(|t| t == marseille)).unwrap();
    let text = mail_parser::MessageParser::default().parse(&got.data).unwrap().body_text(0).unwrap().to_string();
    let at = text.find("https://entente.amp.test/receipts/").expect("a receipt link");
    let link = text[at..].split_whitespace().next().unwrap().to_string();
    let path = link.trim_start_matches("https://entente.amp.test").to_string();
    // Opening the link (as a mail scanner would) records nothing: it asks to confirm.
    let page = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    assert!(page.text().await.unwrap().contains("<form method=\"post\">"));
    assert_eq!(read_count(&app, &sec, &m).await, 0);
    // A link signed for another delivery, or altered, is refused.
    // (the last hex digit changed: to 1 if it was 0, else to 0)
    let last = if path.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{last}", &path[..path.len() - 1]);
    let r = app.client.post(app.url(&forged)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(read_count(&app, &sec, &m).await, 0);
    // Confirmed: read, once, audited.
    let audit = app.audit_count().await;
    let r = app.client.post(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Lecture enregistrée le"));
    assert_eq!(read_count(&app, &sec, &m).await, 1);
    assert_eq!(app.audit_count().await, audit + 1);
    assert_eq!(app.client.post(app.url(&path)).send().await.unwrap().status(), 200);
    assert_eq!(app.audit_count().await, audit + 1, "a second click changes nothing");
    mailer.abort();

    // A second meeting whose e-mails never leave (no mailer runs): nothing until the
    // latest legal sending day is over, then one alert to the secretariat.
    let (late, _) = convened(&app, &sec).await;
    let db = &app.state.db;
    let soon = chrono::Utc::now() + chrono::Duration::days(1);
    assert_eq!(entente::meetings::service::alert_unsent_convocations(db, soon).await.unwrap(), 0);
    let past_latest_day = chrono::Utc::now() + chrono::Duration::days(18);
    assert_eq!(entente::meetings::service::alert_unsent_convocations(db, past_latest_day).await.unwrap(), 1);
    assert_eq!(entente::meetings::service::alert_unsent_convocations(db, past_latest_day).await.unwrap(), 0, "once");
    let r = app.gql(Some(&sec), "{myNotifications(first:5){nodes{kind message meetingId}}}", json!({})).await;
    let alert = ok(&r)["myNotifications"]["nodes"][0].clone();
    assert_eq!(alert["kind"], "CONVOCATIONS_NOT_SENT", "{r}");
    assert_eq!(alert["meetingId"], late);
    assert!(alert["message"].as_str().unwrap().contains("3 convocation(s)"), "{alert}");
    let r = app.gql(Some(&sec), "query($id:ID!){meeting(id:$id){convocationsAlertedAt}}", json!({"id": late})).await;
    assert!(ok(&r)["meeting"]["convocationsAlertedAt"].is_string());
    let r = app.gql(Some(&sec), "query($id:ID!){meeting(id:$id){convocationsAlertedAt}}", json!({"id": m})).await;
    assert!(ok(&r)["meeting"]["convocationsAlertedAt"].is_null(), "the first meeting's were all accepted");
}
