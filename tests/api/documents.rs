//! Documents as a platform part, through the real server: a reader without the right is
//! refused before any content is read, a 10 MiB document streams out chunk by chunk with
//! its SHA-256 as ETag, a file whose bytes belie its media type is refused, a referral's
//! file answer is checked without its content, and migration 000009 moves contents both
//! ways.
//!
//! "No content is read" is shown by hiding the content table (renamed) while the request
//! runs: a statement reading a content would fail, and the answer would be INTERNAL.
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use serde_json::{json, Value};
use sha2::Digest;

use crate::helpers::{code, ok, TestApp};
use crate::meetings::{add_item, convene, create_body, create_meeting};

const UPLOAD: &str =
    "mutation($m:ID!,$f:Upload!){uploadDocument(meetingId:$m,file:$f){id mediaType sizeBytes sha256 downloadPath}}";
const UPLOAD_RESPONSE_FILE: &str = "mutation($r:ID!,$c:ID!,$f:Upload!){uploadResponseFile(referralId:$r,communeId:$c,file:$f){id mediaType sha256 downloadPath}}";
const UPLOAD_REFERRAL_DOCUMENT: &str =
    "mutation($r:ID!,$f:Upload!){uploadReferralDocument(referralId:$r,file:$f){id downloadPath}}";

/// A GraphQL multipart request uploading `bytes` as `variables.f`, declared as `mime`.
async fn upload(app: &TestApp, tok: &str, query: &str, vars: Value, name: &str, mime: &str, bytes: Vec<u8>) -> Value {
    let form = reqwest::multipart::Form::new()
        .text("operations", json!({ "query": query, "variables": vars }).to_string())
        .text("map", json!({"0": ["variables.f"]}).to_string())
        .part("0", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()).mime_str(mime).unwrap());
    let resp = app.client.post(app.url("/graphql")).bearer_auth(tok).multipart(form).send().await.unwrap();
    resp.json().await.unwrap()
}

async fn get(app: &TestApp, tok: Option<&str>, path: &str) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = tok {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// Renames the content table away (`hide`) or back: while hidden, any statement that
/// reads a content fails.
async fn hide_contents(app: &TestApp, hide: bool) {
    let (from, to) = if hide { ("document_chunk", "hidden_chunk") } else { ("hidden_chunk", "document_chunk") };
    app.state.db.execute_unprepared(&format!("ALTER TABLE {from} RENAME TO {to}")).await.unwrap();
}

async fn chunk_rows(app: &TestApp) -> u64 {
    entente::platform::documents::document_chunk::Entity::find().count(&app.state.db).await.unwrap()
}

fn in_days(n: i64) -> String {
    (entente::time::today_paris() + chrono::Duration::days(n)).to_string()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `n` bytes of a PDF: its header, then bytes that do not compress or repeat.
fn pdf(n: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

#[tokio::test]
async fn a_reader_without_the_right_is_refused_before_any_content_is_read() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let conf = create_body(&app, &sec, "CONFERENCE_OF_MAYORS", "Conférence").await;
    let m = create_meeting(&app, &sec, &conf, 10).await;
    add_item(&app, &sec, &m, "DEBATE", "Budget").await;
    let content = pdf(300 * 1024);
    let r =
        upload(&app, &sec, UPLOAD, json!({"m": m, "f": null}), "note.pdf", "application/pdf", content.clone()).await;
    let path = ok(&r)["uploadDocument"]["downloadPath"].as_str().unwrap().to_string();
    let marseille = app.login_as("maire.marseille@demo.entente.fr").await;

    hide_contents(&app, true).await;
    // A draft's documents are the secretariat's: refused from the metadata alone.
    let before = app.state.statements.get();
    assert_eq!(get(&app, Some(&marseille), &path).await.status(), 403);
    let refused = app.state.statements.get() - before;
    assert_eq!(get(&app, None, &path).await.status(), 401);
    let missing = entente::ids::encode(entente::ids::Kind::Document, 999_999);
    assert_eq!(get(&app, Some(&marseille), &format!("/documents/{}", missing.as_str())).await.status(), 404);
    // The check is a real one: with the contents hidden, an allowed download fails.
    assert_eq!(get(&app, Some(&sec), &path).await.status(), 500);
    hide_contents(&app, false).await;

    // The refusal cost the same statements as the metadata read and the check, whatever
    // the content's size (300 KiB is two chunks): once allowed, each chunk is one more.
    let before = app.state.statements.get();
    assert_eq!(get(&app, Some(&marseille), &path).await.status(), 403);
    assert_eq!(app.state.statements.get() - before, refused);
    ok(&convene(&app, &sec, &m, None).await);
    let got = get(&app, Some(&marseille), &path).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().to_vec(), content);
}

#[tokio::test]
async fn a_10_mib_document_streams_in_chunks_with_its_sha256_as_etag() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let conf = create_body(&app, &sec, "CONFERENCE_OF_MAYORS", "Conférence").await;
    let m = create_meeting(&app, &sec, &conf, 10).await;
    let content = pdf(10 << 20);
    let sha = sha256(&content);
    let r =
        upload(&app, &sec, UPLOAD, json!({"m": m, "f": null}), "dossier.pdf", "application/pdf", content.clone()).await;
    let d = &ok(&r)["uploadDocument"];
    assert_eq!((d["sha256"].as_str(), d["sizeBytes"].as_i64()), (Some(sha.as_str()), Some(10 << 20)));
    let path = d["downloadPath"].as_str().unwrap().to_string();
    // Stored apart, in 40 chunks of 256 KiB; the same content again adds none.
    assert_eq!(chunk_rows(&app).await, 40);
    let r =
        upload(&app, &sec, UPLOAD, json!({"m": m, "f": null}), "copie.pdf", "application/pdf", content.clone()).await;
    assert_eq!(ok(&r)["uploadDocument"]["sha256"], sha);
    assert_eq!(chunk_rows(&app).await, 40);

    let before = app.state.statements.get();
    let mut resp = get(&app, Some(&sec), &path).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["etag"], format!("\"{sha}\"").as_str());
    assert_eq!(resp.headers()["content-length"], "10485760");
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    let mut got = Vec::with_capacity(content.len());
    let mut pieces = 0;
    while let Some(piece) = resp.chunk().await.unwrap() {
        got.extend_from_slice(&piece);
        pieces += 1;
    }
    assert!(pieces > 1, "one piece");
    assert_eq!(got.len(), content.len());
    assert_eq!(sha256(&got), sha);
    // Each chunk was read by its own statement, as the client took the body.
    let statements = app.state.statements.get() - before;
    assert!(statements >= 40, "{statements} statements for 40 chunks");
}

#[tokio::test]
async fn a_file_whose_bytes_are_not_its_media_type_is_refused() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let conf = create_body(&app, &sec, "CONFERENCE_OF_MAYORS", "Conférence").await;
    let m = create_meeting(&app, &sec, &conf, 10).await;
    let png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R'];
    let mut elf = vec![0x7F, b'E', b'L', b'F', 2, 1, 1];
    elf.resize(128, 0);
    let before = (app.audit_count().await, chunk_rows(&app).await);
    for (name, mime, bytes) in [
        ("note.pdf", "application/pdf", png.clone()),
        ("note.pdf", "application/pdf", b"not a pdf at all".to_vec()),
        ("photo.jpg", "image/jpeg", png.clone()),
        ("liste.csv", "text/csv", elf.clone()),
        ("outil", "application/octet-stream", elf.clone()),
        ("page.html", "text/html", b"<html><script></script></html>".to_vec()),
    ] {
        let r = upload(&app, &sec, UPLOAD, json!({"m": m, "f": null}), name, mime, bytes).await;
        assert_eq!(code(&r), "VALIDATION", "{name} as {mime}: {r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], "file", "{r}");
    }
    assert_eq!((app.audit_count().await, chunk_rows(&app).await), before, "a refused upload stored nothing");
    // The same check for a referral's documents.
    let amp = app.epci_id(&sec, "200054807").await;
    let r = app
        .gql(
            Some(&sec),
            crate::referrals::CREATE,
            json!({"e": amp, "p": "TRANSFER_OF_COMPETENCE", "i": {"title": "Transfert de la compétence eau pluviale"}}),
        )
        .await;
    let referral = ok(&r)["createReferral"]["id"].as_str().unwrap().to_string();
    let vars = json!({"r": referral, "f": null});
    let r =
        upload(&app, &sec, UPLOAD_REFERRAL_DOCUMENT, vars.clone(), "plan.pdf", "application/pdf", png.clone()).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    // What the bytes say is kept: a PNG sent as image/png, or sent without a type.
    let r = upload(&app, &sec, UPLOAD_REFERRAL_DOCUMENT, vars.clone(), "plan.png", "image/png", png.clone()).await;
    ok(&r);
    let r = upload(&app, &sec, UPLOAD, json!({"m": m, "f": null}), "plan", "application/octet-stream", png).await;
    assert_eq!(ok(&r)["uploadDocument"]["mediaType"], "image/png");
}

#[tokio::test]
async fn a_referral_file_is_checked_and_served_without_reading_other_contents() {
    let c = crate::referrals::ctx().await;
    let (id, v) = c
        .create(
            "DATA_COLLECTION",
            json!({"title": "Plans de voirie", "deadlineDate": in_days(30), "addresseeMode": "SUBSET", "communes": [c.marseille, c.cassis]}),
        )
        .await;
    let form = json!([{"key": "plan", "label": "Plan de voirie", "type": "FILE"}]);
    ok(&c.app.gql(Some(&c.sec), crate::referrals::SET_FORM, json!({"id": id, "f": form})).await);
    ok(&c.app.gql(Some(&c.sec), crate::referrals::OPEN, json!({"id": id, "v": v})).await);
    let content = pdf(5000);
    let vars = json!({"r": id, "c": c.marseille, "f": null});
    let r =
        upload(&c.app, &c.dgs_marseille, UPLOAD_RESPONSE_FILE, vars, "plan.pdf", "application/pdf", content.clone())
            .await;
    let file = ok(&r)["uploadResponseFile"].clone();
    let (file_id, path) = (file["id"].as_str().unwrap(), file["downloadPath"].as_str().unwrap());

    hide_contents(&c.app, true).await;
    // The answer names the file: its owners are checked, its content is not read.
    let draft =
        json!({"i": {"referralId": id, "communeId": c.marseille, "expectedVersion": 1, "answers": {"plan": file_id}}});
    let r = c.app.gql(Some(&c.dgs_marseille), crate::referrals::DRAFT, draft).await;
    ok(&r);
    // Cassis does not see Marseille's draft, nor its file.
    assert_eq!(get(&c.app, Some(&c.mayor_cassis), path).await.status(), 403);
    hide_contents(&c.app, false).await;

    let got = get(&c.app, Some(&c.mayor_marseille), path).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["etag"], format!("\"{}\"", sha256(&content)).as_str());
    assert_eq!(got.bytes().await.unwrap().to_vec(), content);
    // Another commune's file is refused as an answer.
    let r = c
        .app
        .gql(
            Some(&c.mayor_cassis),
            crate::referrals::DRAFT,
            json!({"i": {"referralId": id, "communeId": c.cassis, "expectedVersion": 1, "answers": {"plan": file_id}}}),
        )
        .await;
    assert_eq!((code(&r), r["errors"][0]["extensions"]["field"].clone()), ("VALIDATION".into(), json!("answers.plan")));
}

/// Migration 000009 run down puts each content back in its row; run up again, it moves
/// them into chunks (stored once per content) and drops the columns.
#[tokio::test]
async fn migration_000009_moves_contents_into_chunks_and_back() {
    use migration::MigratorTrait;
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let conf = create_body(&app, &sec, "CONFERENCE_OF_MAYORS", "Conférence").await;
    let m = create_meeting(&app, &sec, &conf, 10).await;
    let (a, b) = (pdf(600 * 1024), pdf(10));
    let mut paths = Vec::new();
    for (name, bytes) in [("a.pdf", &a), ("b.pdf", &b), ("a-bis.pdf", &a)] {
        let r = upload(&app, &sec, UPLOAD, json!({"m": m, "f": null}), name, "application/pdf", bytes.clone()).await;
        paths.push(ok(&r)["uploadDocument"]["downloadPath"].as_str().unwrap().to_string());
    }
    assert_eq!(chunk_rows(&app).await, 3 + 1);

    // Down to before 000009 (and the steps after it, whatever their number).
    let all = migration::Migrator::migrations();
    let at = all.iter().position(|m| m.name() == "m20261201_000009_document_chunks").unwrap();
    migration::Migrator::down(&app.state.db, Some((all.len() - at) as u32)).await.unwrap();
    let rows = app.state.db.query_all_raw(sea_orm::Statement::from_string(
        app.state.db.get_database_backend(),
        "SELECT filename, content FROM document ORDER BY id",
    ));
    let rows = rows.await.unwrap();
    let contents: Vec<(String, Vec<u8>)> =
        rows.iter().map(|r| (r.try_get("", "filename").unwrap(), r.try_get("", "content").unwrap())).collect();
    assert_eq!(
        contents,
        vec![("a.pdf".into(), a.clone()), ("b.pdf".into(), b.clone()), ("a-bis.pdf".into(), a.clone())]
    );

    migration::Migrator::up(&app.state.db, None).await.unwrap();
    assert_eq!(chunk_rows(&app).await, 3 + 1);
    let column = app
        .state
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.state.db.get_database_backend(),
            "SELECT content FROM document",
        ))
        .await;
    assert!(column.is_err(), "the content column is gone");
    for (path, bytes) in paths.iter().zip([&a, &b, &a]) {
        let got = get(&app, Some(&sec), path).await;
        assert_eq!(got.bytes().await.unwrap().to_vec(), *bytes);
    }
    let rows = entente::meetings::model::document::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(rows.len(), 3);
}
