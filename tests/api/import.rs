//! Import of the official files: counts, idempotence, refusals with position and reason
//! that write nothing, and (when ../shared/data is present) all of France.
use std::path::Path;

use entente::auth::Actor;
use entente::territory::import::{apply, parse_files, ImportOptions, ImportReport};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{json, Value};

use crate::helpers::{fixture, official_data, ok, TestApp};

async fn import(app: &TestApp, communes: &Path, epci: &Path, ept: Option<&Path>) -> ImportReport {
    let parsed = parse_files(communes, epci, ept).unwrap_or_else(|e| panic!("{e}"));
    apply(&app.state, &Actor::system("test"), parsed, &ImportOptions::default()).await.expect("import")
}

async fn commune_count(app: &TestApp) -> u64 {
    entente::territory::model::commune::Entity::find().count(&app.state.db).await.unwrap()
}

#[tokio::test]
async fn importing_twice_changes_nothing_the_second_time() {
    let app = TestApp::spawn().await;
    let first = import(&app, &fixture("communes.json"), &fixture("epci.json"), None).await;
    assert_eq!(first.communes.created, 99);
    assert_eq!(first.intercommunalities.created, 2);
    assert_eq!(first.memberships.created, 99);
    assert!(first.changed());
    let audits = app.audit_count().await;
    let second = import(&app, &fixture("communes.json"), &fixture("epci.json"), None).await;
    assert!(!second.changed(), "{second}");
    assert_eq!(second.communes.unchanged, 99);
    assert_eq!(second.memberships.unchanged, 99);
    assert!(second.to_string().contains("nothing changed"));
    assert_eq!(app.audit_count().await, audits, "a no-op import is not audited as a change");
}

#[tokio::test]
async fn a_changed_file_updates_and_ends_memberships() {
    let app = TestApp::spawn().await;
    import(&app, &fixture("communes.json"), &fixture("epci.json"), None).await;
    let dir = tempfile::tempdir().unwrap();
    let mut communes: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture("communes.json")).unwrap()).unwrap();
    let mut epcis: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(fixture("epci.json")).unwrap()).unwrap();
    for c in communes.iter_mut().filter(|c| c["code"] == "13055") {
        c["population"] = json!(900_000);
    }
    // Cassis leaves AMP.
    let members = epcis[0]["membres"].as_array_mut().unwrap();
    members.retain(|m| m["code"] != "13022");
    let (cp, ep) = (dir.path().join("c.json"), dir.path().join("e.json"));
    std::fs::write(&cp, serde_json::to_string(&communes).unwrap()).unwrap();
    std::fs::write(&ep, serde_json::to_string(&epcis).unwrap()).unwrap();
    let r = import(&app, &cp, &ep, None).await;
    assert_eq!(r.communes.updated, 1);
    assert_eq!(r.memberships.ended, 1);
    entente::demo::load(&app.state).await.expect_err("the demo refuses a non-empty database");
}

fn write(dir: &Path, name: &str, v: &Value) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

#[tokio::test]
async fn malformed_records_are_refused_with_position_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let good_commune = json!({"code": "13055", "nom": "Marseille", "type": "commune-actuelle", "departement": "13", "siren": "211300553", "population": 886040});
    let epci = write(
        dir.path(),
        "e.json",
        &json!([{"code": "200054807", "nom": "AMP", "type": "METRO", "populationMunicipale": 1, "membres": [{"code": "13055"}]}]),
    );
    let cases = [
        (
            json!([good_commune, {"code": "1305", "nom": "X", "type": "commune-actuelle", "departement": "13"}]),
            "record #2",
            "5 characters",
        ),
        (json!([good_commune, {"code": "13001", "type": "commune-actuelle", "departement": "13"}]), "record #2", "nom"),
        (
            json!([good_commune, {"code": "13001", "nom": "Aix", "type": "commune-actuelle", "departement": "13", "siren": "211300018"}]),
            "record #2",
            "Luhn",
        ),
        (
            json!([good_commune, {"code": "13001", "nom": "Aix", "type": "commune-actuelle", "departement": "13", "population": -4}]),
            "record #2",
            "out of range",
        ),
        (json!([good_commune, good_commune]), "record #2", "twice"),
    ];
    for (communes, position, reason) in cases {
        let c = write(dir.path(), "c.json", &communes);
        let err = parse_files(&c, &epci, None).err().expect("refused").to_string();
        assert!(err.contains(position) && err.contains(reason), "expected {position} / {reason} in: {err}");
    }
    let c = write(dir.path(), "c.json", &json!([good_commune]));
    let bad_epci =
        write(dir.path(), "e2.json", &json!([{"code": "200054808", "nom": "AMP", "type": "METRO", "membres": []}]));
    let err = parse_files(&c, &bad_epci, None).err().unwrap().to_string();
    assert!(err.contains("record #1") && err.contains("Luhn"), "{err}");
    let orphan = write(
        dir.path(),
        "e3.json",
        &json!([{"code": "200054807", "nom": "AMP", "type": "METRO", "membres": [{"code": "13001"}]}]),
    );
    let err = parse_files(&c, &orphan, None).err().unwrap().to_string();
    assert!(err.contains("member #1 13001"), "{err}");
    std::fs::write(dir.path().join("broken.json"), "[{\"code\": \"13055\",\n \"nom\": }]").unwrap();
    let err = parse_files(&dir.path().join("broken.json"), &epci, None).err().unwrap().to_string();
    assert!(err.contains("line 2"), "{err}");
    assert_eq!(commune_count(&app).await, 0);
}

#[tokio::test]
async fn all_of_france_imports_and_reimports_unchanged() {
    let Some(dir) = official_data() else { return };
    let app = TestApp::spawn().await;
    let started = std::time::Instant::now();
    let first = import(&app, &dir.join("communes.json"), &dir.join("epci.json"), Some(&dir.join("ept.json"))).await;
    eprintln!("France import ({}): {:?}\n{first}", crate::helpers::backend(), started.elapsed());
    assert_eq!(first.communes.created, 34_969);
    assert_eq!(first.intercommunalities.created, 1_255 + 11);
    assert_eq!(first.memberships.created, 35_000);
    let started = std::time::Instant::now();
    let second = import(&app, &dir.join("communes.json"), &dir.join("epci.json"), Some(&dir.join("ept.json"))).await;
    eprintln!("second import: {:?}", started.elapsed());
    assert!(!second.changed(), "{second}");

    // The imported data answers through the API.
    entente::auth::service::create_account(
        &app.state,
        "admin@example.fr",
        "Ada",
        "Admin",
        entente::auth::PlatformRole::Admin,
        None,
        "a long enough passphrase",
    )
    .await
    .unwrap();
    let t = app.login("admin@example.fr", "a long enough passphrase").await.unwrap();
    let r = app.gql(Some(&t), "{communes{totalCount} intercommunality(siren:\"200054807\"){communes{totalCount}} corse: communes(departement:\"2A\"){totalCount}}", json!({})).await;
    assert_eq!(ok(&r)["communes"]["totalCount"], 34_969);
    assert_eq!(ok(&r)["intercommunality"]["communes"]["totalCount"], 92);
    assert!(ok(&r)["corse"]["totalCount"].as_u64().unwrap() > 100);
}
