//! The command line, run as a user runs it.
use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::fixture;

fn entente() -> Command {
    Command::new(env!("CARGO_BIN_EXE_entente"))
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("cli.db").display())
}

/// `entente import territory` of the fixture files into the database in `dir`.
fn import_fixture(dir: &tempfile::TempDir) -> std::process::Output {
    entente()
        .args(["import", "territory", "--communes"])
        .arg(fixture("communes.json"))
        .arg("--epci")
        .arg(fixture("epci.json"))
        .env("DATABASE_URL", sqlite_url(dir))
        .output()
        .unwrap()
}

#[test]
fn schema_command_prints_the_sdl() {
    let out = entente().arg("schema").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), entente::graphql::sdl());
}

#[test]
fn import_reports_counts_then_nothing_changed() {
    let dir = tempfile::tempdir().unwrap();
    let first = import_fixture(&dir);
    let text = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{text} {}", String::from_utf8_lossy(&first.stderr));
    assert!(text.contains("communes: 99 created"), "{text}");
    let second = import_fixture(&dir);
    let text = String::from_utf8_lossy(&second.stdout);
    assert!(text.contains("nothing changed"), "{text}");
}

#[test]
fn a_malformed_file_is_refused_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"[{"code":"13055","nom":"Marseille","type":"commune-actuelle","departement":"13"},{"code":"ABCDE","nom":"?","type":"commune-actuelle","departement":"13"}]"#).unwrap();
    let out = entente()
        .args(["import", "territory", "--communes"])
        .arg(&bad)
        .arg("--epci")
        .arg(fixture("epci.json"))
        .env("DATABASE_URL", sqlite_url(&dir))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("record #2") && err.contains("nothing was written"), "{err}");
}

#[test]
fn account_create_reads_the_password_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    assert!(import_fixture(&dir).status.success());
    let mut child = entente()
        .args([
            "account",
            "create",
            "--email",
            "sg@amp.fr",
            "--given-name",
            "Sam",
            "--family-name",
            "Greffe",
            "--role",
            "secretariat",
            "--siren",
            "200054807",
        ])
        .env("DATABASE_URL", sqlite_url(&dir))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"a long enough passphrase\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("account sg@amp.fr created (SECRETARIAT)"));
    // The same e-mail again is refused; an unknown SIREN too.
    let again = entente()
        .args([
            "account",
            "create",
            "--email",
            "sg@amp.fr",
            "--given-name",
            "S",
            "--family-name",
            "G",
            "--role",
            "admin",
        ])
        .env("DATABASE_URL", sqlite_url(&dir))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!again.status.success());
    let unknown = entente()
        .args([
            "account",
            "create",
            "--email",
            "x@amp.fr",
            "--given-name",
            "S",
            "--family-name",
            "G",
            "--role",
            "secretariat",
            "--siren",
            "200000172",
        ])
        .env("DATABASE_URL", sqlite_url(&dir))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // 200000172 was imported (CC Faucigny - Glières), but the empty stdin password is refused.
    assert!(!unknown.status.success());
}

#[test]
fn demo_refuses_a_public_bind() {
    let dir = tempfile::tempdir().unwrap();
    let out = entente()
        .args(["serve", "--demo", "--bind", "0.0.0.0:0"])
        .env("DATABASE_URL", sqlite_url(&dir))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}
