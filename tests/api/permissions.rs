//! The permission matrix: every mutation as every role, allowed or refused, and a refusal
//! changes nothing. A mutation added to the schema without a row here fails the test.
use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::helpers::{fixture, ok, TestApp};
use crate::mandates::{person, CREATE_MANDATE};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Anonymous,
    Admin,
    SecretariatAmp,
    SecretariatOther,
    President,
    MayorMarseille,
    DgsMarseille,
    MayorCassis,
}
use Role::*;

const ROLES: [Role; 8] =
    [Anonymous, Admin, SecretariatAmp, SecretariatOther, President, MayorMarseille, DgsMarseille, MayorCassis];

fn email(r: Role) -> Option<&'static str> {
    Some(match r {
        Anonymous => return None,
        Admin => "admin@demo.entente.fr",
        SecretariatAmp => "secretariat@demo.entente.fr",
        SecretariatOther => "sg@faucigny-glieres.fr",
        President => "president@demo.entente.fr",
        MayorMarseille => "maire.marseille@demo.entente.fr",
        DgsMarseille => "dgs.marseille@demo.entente.fr",
        MayorCassis => "maire.cassis@demo.entente.fr",
    })
}

struct World {
    app: TestApp,
    admin: String,
    sec_amp: String,
    marseille: String,
    amp: String,
    martigues: String,
    seq: std::sync::atomic::AtomicU32,
}

impl World {
    fn next(&self) -> u32 {
        self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
    /// A fresh person holding a current councillor mandate in Marseille; returns (person, mandate).
    async fn marseille_councillor(&self) -> (String, Value) {
        let p = person(&self.app, &self.admin, "Conseiller", &format!("Marseillais {}", self.next())).await;
        let m = self
            .app
            .gql(Some(&self.admin), CREATE_MANDATE, json!({"i": {"personId": p, "organisationId": self.marseille, "role": "MUNICIPAL_COUNCILLOR", "startDate": "2026-03-28"}}))
            .await;
        (p, ok(&m)["createMandate"].clone())
    }
    async fn territory(&self) -> String {
        let r = self
            .app
            .gql(
                Some(&self.admin),
                "mutation($i:CreateTerritoryInput!){createTerritory(input:$i){id}}",
                json!({"i": {"intercommunalityId": self.amp, "name": format!("T{}", self.next())}}),
            )
            .await;
        ok(&r)["createTerritory"]["id"].as_str().unwrap().to_string()
    }
}

/// Prepares one attempt of a mutation (as admin) and returns its query and variables.
async fn attempt(w: &World, mutation: &str) -> (String, Value) {
    let q = |s: &str| s.to_string();
    match mutation {
        "createPerson" => (
            q("mutation($i:CreatePersonInput!){createPerson(input:$i){id}}"),
            json!({"i": {"givenName": "Nouvelle", "familyName": format!("Personne {}", w.next())}}),
        ),
        "updatePerson" => {
            let (p, _) = w.marseille_councillor().await;
            (
                q("mutation($i:UpdatePersonInput!){updatePerson(input:$i){id}}"),
                json!({"i": {"id": p, "expectedVersion": 1, "givenName": "Renommée"}}),
            )
        }
        "createMandate" => {
            // A person the AMP secretariat recorded, who holds no mandate yet.
            let p = person(&w.app, &w.sec_amp, "Futur", &format!("Conseiller {}", w.next())).await;
            (
                q(CREATE_MANDATE),
                json!({"i": {"personId": p, "organisationId": w.marseille, "role": "MUNICIPAL_COUNCILLOR", "startDate": "2026-04-01"}}),
            )
        }
        "endMandate" => {
            let (_, m) = w.marseille_councillor().await;
            (
                q("mutation($i:EndMandateInput!){endMandate(input:$i){id}}"),
                json!({"i": {"id": m["id"], "expectedVersion": 1, "endDate": "2026-06-01"}}),
            )
        }
        "createTerritory" => (
            q("mutation($i:CreateTerritoryInput!){createTerritory(input:$i){id}}"),
            json!({"i": {"intercommunalityId": w.amp, "name": format!("Territoire {}", w.next()), "communeIds": [w.martigues]}}),
        ),
        "updateTerritory" => {
            let t = w.territory().await;
            (
                q("mutation($i:UpdateTerritoryInput!){updateTerritory(input:$i){id}}"),
                json!({"i": {"id": t, "expectedVersion": 1, "name": format!("Renommé {}", w.next()), "communeIds": []}}),
            )
        }
        "deleteTerritory" => {
            let t = w.territory().await;
            (q("mutation($id:ID!){deleteTerritory(id:$id,expectedVersion:1)}"), json!({"id": t}))
        }
        "inviteAccount" => {
            let (p, _) = w.marseille_councillor().await;
            (
                q("mutation($i:InviteAccountInput!){inviteAccount(input:$i){token}}"),
                json!({"i": {"personId": p, "email": format!("invite{}@marseille.fr", w.next()), "role": "MEMBER"}}),
            )
        }
        "inviteSecretariat" => {
            let (p, _) = w.marseille_councillor().await;
            (
                q("mutation($i:InviteAccountInput!){inviteAccount(input:$i){token}}"),
                json!({"i": {"personId": p, "email": format!("sec{}@amp.fr", w.next()), "role": "SECRETARIAT", "intercommunalityId": w.amp}}),
            )
        }
        "auditEntries" => (q("query($e:ID){auditEntries(intercommunalityId:$e){totalCount}}"), json!({"e": w.amp})),
        other => panic!("no attempt for {other}"),
    }
}

/// Expected outcome per role: true = allowed. Anonymous is always UNAUTHENTICATED.
fn allowed(mutation: &str, r: Role) -> bool {
    let commune_officer = matches!(r, MayorMarseille | DgsMarseille);
    let amp_secretariat = matches!(r, Admin | SecretariatAmp);
    match mutation {
        "createPerson" => !matches!(r, Anonymous | President),
        "updatePerson" | "createMandate" | "endMandate" | "inviteAccount" => amp_secretariat || commune_officer,
        "createTerritory" | "updateTerritory" | "deleteTerritory" | "inviteSecretariat" => amp_secretariat,
        "auditEntries" => amp_secretariat || r == President,
        other => panic!("no expectation for {other}"),
    }
}

/// Mutations everyone may call for themselves; tested in auth.rs.
const SELF_SERVICE: [&str; 4] = ["login", "logout", "acceptInvitation", "changePassword"];
const MATRIX: [&str; 10] = [
    "createPerson",
    "updatePerson",
    "createMandate",
    "endMandate",
    "createTerritory",
    "updateTerritory",
    "deleteTerritory",
    "inviteAccount",
    "inviteSecretariat",
    "auditEntries",
];

#[tokio::test]
async fn every_mutation_as_every_role() {
    // A second intercommunality with its own secretariat.
    let (app, other_secretariat) = with_second_secretariat().await;

    let admin = app.login_as("admin@demo.entente.fr").await;
    let marseille = app.commune_id(&admin, "13055").await;
    let martigues = app.commune_id(&admin, "13056").await;
    let amp = app.epci_id(&admin, "200054807").await;
    let mut tokens = Vec::new();
    for r in ROLES {
        tokens.push(match email(r) {
            None => None,
            Some(_) if r == SecretariatOther => Some(other_secretariat.clone()),
            Some(e) => Some(app.login_as(e).await),
        });
    }
    let sec_amp = tokens[2].clone().unwrap();
    let w = World { app, admin, sec_amp, marseille, amp, martigues, seq: Default::default() };

    // Every mutation of the schema is in the matrix or self-service.
    let intro = w.app.gql(Some(&w.admin), "{__type(name:\"Mutation\"){fields{name}}}", json!({})).await;
    let in_schema: BTreeSet<String> = ok(&intro)["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    let covered: BTreeSet<String> = MATRIX
        .iter()
        .chain(SELF_SERVICE.iter())
        .filter(|m| **m != "auditEntries")
        .map(|s| s.replace("inviteSecretariat", "inviteAccount"))
        .collect();
    assert_eq!(in_schema, covered, "a mutation is missing from the permission matrix");

    let mut failures = Vec::new();
    for mutation in MATRIX {
        for (i, role) in ROLES.iter().enumerate() {
            let (query, vars) = attempt(&w, mutation).await;
            let audits = w.app.audit_count().await;
            let r = w.app.gql(tokens[i].as_deref(), &query, vars).await;
            let got = r["errors"][0]["extensions"]["code"].as_str().map(str::to_string);
            let expected = match (role, allowed(mutation, *role)) {
                (Anonymous, _) => Some("UNAUTHENTICATED".to_string()),
                (_, true) => None,
                (_, false) => Some("FORBIDDEN".to_string()),
            };
            if got != expected {
                failures.push(format!("{mutation} as {role:?}: expected {expected:?}, got {r}"));
            }
            let is_mutation = mutation != "auditEntries";
            let wrote = w.app.audit_count().await - audits;
            match (&expected, is_mutation) {
                (None, true) if wrote != 1 => {
                    failures.push(format!("{mutation} as {role:?}: {wrote} audit entries, expected 1"))
                }
                (Some(_), _) if wrote != 0 => {
                    failures.push(format!("{mutation} as {role:?} was refused but wrote {wrote} audit entries"))
                }
                _ => {}
            }
        }
    }
    assert!(failures.is_empty(), "permission matrix:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn a_secretariat_reads_only_its_own_audit_log() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let r = app.gql(Some(&sec), "{auditEntries{totalCount edges{node{action actor}}}}", json!({})).await;
    let actions: Vec<_> = ok(&r)["auditEntries"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap().to_string())
        .collect();
    assert!(actions.contains(&"LOAD_DEMO".to_string()), "{actions:?}");
    let all = app.gql(Some(&sec), "{a: auditEntries(intercommunalityId:null){totalCount}}", json!({})).await;
    ok(&all);
    let admin = app.login_as("admin@demo.entente.fr").await;
    let r = app.gql(Some(&admin), "{auditEntries{totalCount}}", json!({})).await;
    assert!(ok(&r)["auditEntries"]["totalCount"].as_u64().unwrap() >= 3);
}

#[tokio::test]
async fn emails_are_visible_to_secretariats_and_the_person_only() {
    let app = TestApp::demo().await;
    let q = "{commune(inseeCode:\"13055\"){council{role person{email}}}}";
    let dgs_email = |r: &Value| {
        r["data"]["commune"]["council"].as_array().unwrap().iter().find(|m| m["role"] == "DGS").unwrap()["person"]
            ["email"]
            .clone()
    };
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    assert_eq!(dgs_email(&app.gql(Some(&sec), q, json!({})).await), "dgs.marseille@demo.entente.fr");
    let dgs = app.login_as("dgs.marseille@demo.entente.fr").await;
    assert_eq!(dgs_email(&app.gql(Some(&dgs), q, json!({})).await), "dgs.marseille@demo.entente.fr");
    let cassis = app.login_as("maire.cassis@demo.entente.fr").await;
    assert!(dgs_email(&app.gql(Some(&cassis), q, json!({})).await).is_null());
}

/// The demo plus a second intercommunality (CC Faucigny - Glières) with its secretariat;
/// returns the app and that secretariat's token.
async fn with_second_secretariat() -> (TestApp, String) {
    let app = TestApp::demo().await;
    let parsed =
        entente::territory::import::parse_files(&fixture("communes.json"), &fixture("epci.json"), None).unwrap();
    entente::territory::import::apply(&app.state, &entente::auth::Actor::system("test"), parsed, &Default::default())
        .await
        .unwrap();
    let other = entente::territory::service::intercommunality_id_by_siren(
        &app.state,
        &entente::territory::rules::Siren::parse("200000172").unwrap(),
    )
    .await
    .unwrap();
    entente::auth::service::create_account(
        &app.state,
        "sg@faucigny-glieres.fr",
        "Gaëlle",
        "Glières",
        entente::auth::PlatformRole::Secretariat,
        Some(other),
        "a long enough passphrase",
    )
    .await
    .unwrap();
    let t = app.login("sg@faucigny-glieres.fr", "a long enough passphrase").await.unwrap();
    (app, t)
}

const INVITE: &str = "mutation($i:InviteAccountInput!){inviteAccount(input:$i){token}}";

#[tokio::test]
async fn a_mayor_cannot_take_over_another_commune_s_official() {
    let (app, other_sec) = with_second_secretariat().await;
    let cassis_mayor = app.login_as("maire.cassis@demo.entente.fr").await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let cassis = app.commune_id(&sec, "13022").await;
    let r = app.gql(Some(&sec), "{commune(inseeCode:\"13005\"){currentMayor{person{id}}}}", json!({})).await;
    let aubagne_mayor = ok(&r)["commune"]["currentMayor"]["person"]["id"].clone();
    let before = app.audit_count().await;
    // Recording a councillor mandate in Cassis for Aubagne's mayor, to gain cover of them.
    let r = app
        .gql(Some(&cassis_mayor), CREATE_MANDATE, json!({"i": {"personId": aubagne_mayor, "organisationId": cassis, "role": "MUNICIPAL_COUNCILLOR", "startDate": "2026-04-01"}}))
        .await;
    assert_eq!(crate::helpers::code(&r), "FORBIDDEN", "{r}");
    // Inviting them to an account the attacker controls.
    let r = app
        .gql(
            Some(&cassis_mayor),
            INVITE,
            json!({"i": {"personId": aubagne_mayor, "email": "attacker@example.fr", "role": "MEMBER"}}),
        )
        .await;
    assert_eq!(crate::helpers::code(&r), "FORBIDDEN", "{r}");
    // Another intercommunality's secretariat cannot either.
    let r = app
        .gql(
            Some(&other_sec),
            INVITE,
            json!({"i": {"personId": aubagne_mayor, "email": "attacker@example.fr", "role": "MEMBER"}}),
        )
        .await;
    assert_eq!(crate::helpers::code(&r), "FORBIDDEN", "{r}");
    assert_eq!(app.audit_count().await, before);
}

#[tokio::test]
async fn a_pending_secretariat_invitation_cannot_be_hijacked() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let marseille_mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    let marseille = app.commune_id(&sec, "13055").await;
    let amp = app.epci_id(&sec, "200054807").await;
    let p = person(&app, &sec, "Agente", "Concertation").await;
    ok(&app.gql(Some(&sec), CREATE_MANDATE, json!({"i": {"personId": p, "organisationId": marseille, "role": "MUNICIPAL_COUNCILLOR", "startDate": "2026-04-01"}})).await);
    ok(&app
        .gql(
            Some(&sec),
            INVITE,
            json!({"i": {"personId": p, "email": "agente@amp.fr", "role": "SECRETARIAT", "intercommunalityId": amp}}),
        )
        .await);
    let r = app
        .gql(
            Some(&marseille_mayor),
            INVITE,
            json!({"i": {"personId": p, "email": "mine@example.fr", "role": "MEMBER"}}),
        )
        .await;
    assert_eq!(crate::helpers::code(&r), "FORBIDDEN", "{r}");
}

#[tokio::test]
async fn emails_stay_within_the_intercommunality() {
    let (app, other_sec) = with_second_secretariat().await;
    let q = "{commune(inseeCode:\"13055\"){council{role person{email}}}}";
    let r = app.gql(Some(&other_sec), q, json!({})).await;
    let council = ok(&r)["commune"]["council"].as_array().unwrap().clone();
    assert!(council.iter().all(|m| m["person"]["email"].is_null()), "{r}");
}
