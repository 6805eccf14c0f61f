//! `entente backup FILE` and the clean stop, run as an operator runs them: the real binary
//! against the database file of a live server. SQLite only (PostgreSQL is backed up with
//! pg_dump, which the command says).
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::helpers::{backend, ok, TestApp};

fn entente() -> Command {
    Command::new(env!("CARGO_BIN_EXE_entente"))
}

fn sqlite_only(test: &str) -> bool {
    if backend() == "sqlite" {
        true
    } else {
        eprintln!("SKIPPED on {}: {test} backs up a SQLite file (PostgreSQL: pg_dump)", backend());
        false
    }
}

/// Every person whose family name starts with `prefix`, by id (a page of at most 500).
async fn persons(app: &TestApp, token: &str, prefix: &str) -> BTreeSet<String> {
    let r = app
        .gql(
            Some(token),
            "query($s:String!){persons(search:$s,first:500){totalCount edges{node{id familyName}}}}",
            json!({ "s": prefix }),
        )
        .await;
    let data = ok(&r);
    let edges = data["persons"]["edges"].as_array().cloned().unwrap_or_default();
    assert!(data["persons"]["totalCount"].as_u64().unwrap_or(0) <= 500, "more than a page: {r}");
    edges.iter().filter_map(|e| e["node"]["id"].as_str().map(str::to_string)).collect()
}

async fn create_person(app: &TestApp, token: &str, family: &str) -> Value {
    app.gql(
        Some(token),
        "mutation($i:CreatePersonInput!){createPerson(input:$i){id}}",
        json!({"i": {"givenName": "Ada", "familyName": family}}),
    )
    .await
}

/// The backup of a server under writes holds every write acknowledged before it began,
/// passes `PRAGMA integrity_check`, and a second server serves it. The database is young
/// (no demo), so that its writes are still in the WAL, as on a fresh install: a copy of
/// the file alone would have none of them (checked: this test fails with `fs::copy`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_live_server_under_writes_serves_every_acknowledged_write() {
    if !sqlite_only("a_backup_of_a_live_server_under_writes") {
        return;
    }
    let app = TestApp::spawn().await;
    let (email, password) = ("root@example.fr", "a long enough passphrase");
    let admin = entente::auth::PlatformRole::Admin;
    entente::auth::service::create_account(&app.state, email, "R", "Oot", admin, None, password).await.unwrap();
    let token = app.login(email, password).await.unwrap();
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let app = Arc::new(app);
    let mut writers = Vec::new();
    for w in 0..2 {
        let (app, token, acknowledged, stop) = (app.clone(), token.clone(), acknowledged.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            for n in 0..240 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let r = create_person(&app, &token, &format!("Sauvegarde{w}x{n}")).await;
                let id = ok(&r)["createPerson"]["id"].as_str().map(str::to_string);
                acknowledged.lock().unwrap().push(id.unwrap_or_else(|| panic!("no id: {r}")));
            }
        }));
    }
    while acknowledged.lock().unwrap().len() < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Everything acknowledged before the backup begins must be in it.
    let before: BTreeSet<String> = acknowledged.lock().unwrap().iter().cloned().collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("copy.db");
    let url = app.state.config.database_url.clone();
    let out = {
        let file = file.clone();
        tokio::task::spawn_blocking(move || {
            entente().args(["backup", "--database-url", &url]).arg(&file).output().unwrap()
        })
        .await
        .unwrap()
    };
    let during = acknowledged.lock().unwrap().len() - before.len();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("integrity ok"), "{text}");
    eprintln!("backup taken while {during} more persons were created");

    // The copy is whole.
    let copy = sea_orm::Database::connect(format!("sqlite://{}", file.display())).await.unwrap();
    assert_eq!(entente::backup::integrity(&copy).await.unwrap(), "ok");
    copy.close().await.unwrap();

    // A second server on the copy serves every write acknowledged before the backup.
    let copy_url = format!("sqlite://{}", file.display());
    let second = TestApp::spawn_with(|c| c.database_url = copy_url).await;
    let token = second.login(email, password).await.unwrap_or_else(|r| panic!("the copy lost the account: {r}"));
    let restored = persons(&second, &token, "sauvegarde").await;
    let missing: Vec<_> = before.difference(&restored).collect();
    assert!(missing.is_empty(), "{} of {} acknowledged persons missing from the copy", missing.len(), before.len());
    // And it is a working database: it takes writes of its own.
    ok(&create_person(&second, &token, "Restauree").await);
}

/// `entente backup` refuses an existing file (and leaves it as it was), a database that
/// does not exist (creating nothing), and PostgreSQL, for which it names pg_dump.
#[test]
fn backup_refuses_an_existing_file_a_missing_database_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let url = format!("sqlite://{}", db.display());
    assert!(entente().args(["migrate", "--database-url", &url]).output().unwrap().status.success());

    let existing = dir.path().join("existing.db");
    std::fs::write(&existing, b"keep me").unwrap();
    let out = entente().args(["backup", "--database-url", &url]).arg(&existing).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"), "{out:?}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");

    let nowhere = dir.path().join("nowhere.db");
    let out = entente()
        .args(["backup", "--database-url", &format!("sqlite://{}", nowhere.display())])
        .arg(dir.path().join("b.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no SQLite database"), "{out:?}");
    assert!(!nowhere.exists() && !dir.path().join("b.db").exists());

    let out = entente()
        .args(["backup", "--database-url", "postgres://postgres@127.0.0.1:5432/test"])
        .arg(dir.path().join("pg.dump"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"), "{out:?}");
    assert!(!dir.path().join("pg.dump").exists());

    // A good one, for contrast.
    let out = entente().args(["backup", "--database-url", &url]).arg(dir.path().join("ok.db")).output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// After a clean stop (SIGTERM), the database file alone holds every write: copying
/// `entente.db` without its -wal file loses nothing.
#[test]
fn after_a_clean_stop_the_database_file_alone_holds_every_write() {
    if !sqlite_only("after_a_clean_stop_the_database_file_alone_holds_every_write") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("entente.db");
    let url = format!("sqlite://{}", db.display());
    let mut create = entente()
        .args(["account", "create", "--email", "root@example.fr", "--given-name", "R", "--family-name", "Oot"])
        .args(["--role", "admin", "--database-url", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    create.stdin.take().unwrap().write_all(b"a long enough passphrase\n").unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mut server = entente()
        .args(["serve", "--bind", "127.0.0.1:0", "--database-url", &url])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut logs = BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(logs.read_line(&mut line).unwrap() > 0, "the server stopped before listening");
        if let Some(at) = line.find("listening on http://") {
            let rest = &line[at + "listening on http://".len()..];
            break rest[..rest.find('/').unwrap()].to_string();
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let created = rt.block_on(async {
        let client = reqwest::Client::new();
        let post = |token: Option<String>, q: Value| {
            let mut req = client.post(format!("http://{addr}/graphql")).json(&q);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        let r = post(
            None,
            json!({"query": "mutation{login(email:\"root@example.fr\",password:\"a long enough passphrase\"){token}}"}),
        )
        .await;
        let token = ok(&r)["login"]["token"].as_str().unwrap().to_string();
        let mut created = 0;
        for n in 0..5 {
            let q = format!("mutation{{createPerson(input:{{givenName:\"Ada\",familyName:\"Arret{n}\"}}){{id}}}}");
            ok(&post(Some(token.clone()), json!({ "query": q })).await);
            created += 1;
        }
        created
    });
    let pid = server.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = server.wait().unwrap();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut logs, &mut rest);
    assert!(status.success(), "{status:?} {rest}");

    // Only the database file, as someone copying it would take it.
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("entente.db");
    std::fs::copy(&db, &copy).unwrap();
    let found = rt.block_on(async {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let c = sea_orm::Database::connect(format!("sqlite://{}?mode=ro", copy.display())).await.unwrap();
        let row = c
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT count(*) FROM person WHERE family_name LIKE 'Arret%'",
            ))
            .await;
        let n = match row {
            Ok(Some(r)) => r.try_get_by_index::<i64>(0).unwrap(),
            other => panic!("the copied file alone is not the database: {other:?}"),
        };
        c.close().await.unwrap();
        n
    });
    assert_eq!(found, created, "persons in the copied file alone");
}
