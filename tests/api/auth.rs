//! Every sign-in path: login, logout, expiry, throttling, invitations, password change.
use serde_json::json;

use crate::helpers::{code, ok, TestApp, DEMO_PASSWORD};

const ME: &str = "{me{account{email role} person{fullName}}}";

#[tokio::test]
async fn login_gives_a_token_that_is_stored_only_as_a_hash() {
    let app = TestApp::demo().await;
    let token = app.login_as("secretariat@demo.entente.fr").await;
    assert_eq!(token.len(), 64);
    let me = app.gql(Some(&token), ME, json!({})).await;
    assert_eq!(ok(&me)["me"]["account"]["email"], "secretariat@demo.entente.fr");
    assert_eq!(ok(&me)["me"]["account"]["role"], "SECRETARIAT");

    use sea_orm::EntityTrait;
    let sessions = entente::auth::model::session::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_ne!(sessions[0].token_hash, token);
    assert_eq!(sessions[0].token_hash, entente::auth::rules::secret_hash(&token));
    // The login is audited.
    let audit =
        app.gql(Some(&token), "{auditEntries(action:\"LOGIN\"){totalCount edges{node{actor}}}}", json!({})).await;
    assert_eq!(ok(&audit)["auditEntries"]["totalCount"], 1);
}

#[tokio::test]
async fn anonymous_requests_may_only_sign_in() {
    let app = TestApp::demo().await;
    for q in [
        ME,
        "{communes{totalCount}}",
        "{persons{totalCount}}",
        "{node(id:\"Q29tbXVuZTox\"){id}}",
        "{auditEntries{totalCount}}",
    ] {
        assert_eq!(code(&app.gql(None, q, json!({})).await), "UNAUTHENTICATED", "{q}");
    }
    let r = app.gql(None, "mutation{createPerson(input:{givenName:\"A\",familyName:\"B\"}){id}}", json!({})).await;
    assert_eq!(code(&r), "UNAUTHENTICATED");
    let r = app.gql(None, "mutation{logout}", json!({})).await;
    assert_eq!(code(&r), "UNAUTHENTICATED");
    // A made-up token is the same as none.
    let r = app.gql(Some(&"ab".repeat(32)), ME, json!({})).await;
    assert_eq!(code(&r), "UNAUTHENTICATED");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_answer_alike() {
    let app = TestApp::demo().await;
    let wrong = app.login("secretariat@demo.entente.fr", "not the password").await.unwrap_err();
    let unknown = app.login("nobody@demo.entente.fr", "not the password").await.unwrap_err();
    assert_eq!(code(&wrong), "UNAUTHENTICATED");
    assert_eq!(wrong["errors"][0]["message"], unknown["errors"][0]["message"]);
    assert_eq!(wrong["errors"][0]["extensions"], unknown["errors"][0]["extensions"]);
    let bad = app.login("not-an-email", "x").await.unwrap_err();
    assert_eq!(code(&bad), "VALIDATION");
    assert_eq!(bad["errors"][0]["extensions"]["field"], "email");
}

#[tokio::test]
async fn repeated_failures_lock_the_email_whether_or_not_it_has_an_account() {
    let app = TestApp::demo().await;
    for email in ["maire.aix@demo.entente.fr", "ghost@demo.entente.fr"] {
        for _ in 0..5 {
            let e = app.login(email, "wrong password!").await.unwrap_err();
            assert_eq!(code(&e), "UNAUTHENTICATED");
        }
        let locked = app.login(email, DEMO_PASSWORD).await.unwrap_err();
        assert_eq!(code(&locked), "RATE_LIMITED", "{email}");
        assert!(locked["errors"][0]["extensions"]["retryAfterSeconds"].as_u64().unwrap() > 0);
    }
    // Other accounts are not affected.
    app.login_as("maire.cassis@demo.entente.fr").await;
}

#[tokio::test]
async fn a_success_resets_the_email_counter() {
    let app = TestApp::demo().await;
    for _ in 0..4 {
        app.login("maire.aix@demo.entente.fr", "wrong password!").await.unwrap_err();
    }
    app.login_as("maire.aix@demo.entente.fr").await;
    for _ in 0..4 {
        app.login("maire.aix@demo.entente.fr", "wrong password!").await.unwrap_err();
    }
    app.login_as("maire.aix@demo.entente.fr").await;
}

#[tokio::test]
async fn repeated_failures_lock_the_client_address() {
    let app = TestApp::demo_with(|c| c.auth.max_failures_per_client = 6).await;
    for i in 0..6 {
        let e = app.login(&format!("guess{i}@demo.entente.fr"), "wrong password!").await.unwrap_err();
        assert_eq!(code(&e), "UNAUTHENTICATED");
    }
    let e = app.login("secretariat@demo.entente.fr", DEMO_PASSWORD).await.unwrap_err();
    assert_eq!(code(&e), "RATE_LIMITED");
}

#[tokio::test]
async fn concurrent_guesses_cannot_pass_the_limit() {
    // Attempts at one address are taken one at a time, however many hashing slots there
    // are, so the count is exact.
    let app = TestApp::demo_with(|c| c.auth.hash_slots = 4).await;
    let attempts = (0..12).map(|_| app.login("maire.aix@demo.entente.fr", "wrong password!"));
    let results = futures_util::future::join_all(attempts).await;
    let unauth = results.iter().filter(|r| r.as_ref().err().is_some_and(|e| code(e) == "UNAUTHENTICATED")).count();
    let limited = results.iter().filter(|r| r.as_ref().err().is_some_and(|e| code(e) == "RATE_LIMITED")).count();
    assert_eq!(unauth, 5, "exactly the allowed attempts were checked");
    assert_eq!(limited, 7);
}

#[tokio::test]
async fn concurrent_guesses_from_one_client_pass_its_limit_by_less_than_the_slots() {
    // Guesses at different addresses run in parallel, up to the hashing slots; the client
    // counter is read and bumped within a slot, so at most slots - 1 guesses get past it.
    for slots in [1, 3] {
        let app = TestApp::spawn_with(|c| {
            c.auth.hash_slots = slots;
            c.auth.max_failures_per_client = 6;
        })
        .await;
        let emails: Vec<String> = (0..14).map(|i| format!("guess{i}@demo.entente.fr")).collect();
        let attempts = emails.iter().map(|e| app.login(e, "wrong password!"));
        let results = futures_util::future::join_all(attempts).await;
        let unauth = results.iter().filter(|r| r.as_ref().err().is_some_and(|e| code(e) == "UNAUTHENTICATED")).count();
        let limited = results.iter().filter(|r| r.as_ref().err().is_some_and(|e| code(e) == "RATE_LIMITED")).count();
        assert!((6..6 + slots).contains(&unauth), "{slots} slots: {unauth} guesses checked");
        assert_eq!(unauth + limited, 14);
    }
}

#[tokio::test]
async fn simultaneous_correct_sign_ins_are_not_counted_as_failures() {
    let app = TestApp::demo_with(|c| c.auth.max_failures_per_client = 3).await;
    // Eight devices of one person, then eight more: all succeed, and the client address
    // (limit 3 failures here) is not locked by successes.
    for _ in 0..2 {
        let logins = (0..8).map(|_| app.login("maire.aix@demo.entente.fr", DEMO_PASSWORD));
        for r in futures_util::future::join_all(logins).await {
            assert!(r.is_ok(), "{r:?}");
        }
    }
    app.login_as("secretariat@demo.entente.fr").await;
}

#[tokio::test]
async fn logout_revokes_the_token() {
    let app = TestApp::demo().await;
    let token = app.login_as("maire.cassis@demo.entente.fr").await;
    let other = app.login_as("maire.cassis@demo.entente.fr").await;
    assert_eq!(ok(&app.gql(Some(&token), "mutation{logout}", json!({})).await)["logout"], true);
    assert_eq!(code(&app.gql(Some(&token), ME, json!({})).await), "UNAUTHENTICATED");
    ok(&app.gql(Some(&other), ME, json!({})).await);
}

#[tokio::test]
async fn sessions_expire() {
    let app = TestApp::demo_with(|c| c.auth.session_ttl = std::time::Duration::from_secs(1)).await;
    let token = app.login_as("maire.cassis@demo.entente.fr").await;
    ok(&app.gql(Some(&token), ME, json!({})).await);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(code(&app.gql(Some(&token), ME, json!({})).await), "UNAUTHENTICATED");
}

const INVITE: &str =
    "mutation($i:InviteAccountInput!){inviteAccount(input:$i){token expiresAt account{email role activated}}}";
const ACCEPT: &str =
    "mutation($t:String!,$p:String!){acceptInvitation(token:$t,password:$p){token me{account{email}}}}";

async fn new_person(app: &TestApp, token: &str, given: &str) -> String {
    let r = app
        .gql(
            Some(token),
            "mutation($i:CreatePersonInput!){createPerson(input:$i){id}}",
            json!({"i": {"givenName": given, "familyName": "Invitée"}}),
        )
        .await;
    ok(&r)["createPerson"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn invitation_sets_a_password_once() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let person = new_person(&app, &sec, "Inès").await;
    let inv = app
        .gql(Some(&sec), INVITE, json!({"i": {"personId": person, "email": "Ines@Example.fr", "role": "MEMBER"}}))
        .await;
    let inv = ok(&inv)["inviteAccount"].clone();
    assert_eq!(inv["account"]["email"], "ines@example.fr");
    assert_eq!(inv["account"]["activated"], false);
    let invite_token = inv["token"].as_str().unwrap();
    // Before acceptance the account cannot sign in.
    assert_eq!(code(&app.login("ines@example.fr", "").await.unwrap_err()), "UNAUTHENTICATED");
    // Too short a password is refused and the invitation stays usable.
    let short = app.gql(None, ACCEPT, json!({"t": invite_token, "p": "short"})).await;
    assert_eq!(code(&short), "VALIDATION");
    assert_eq!(short["errors"][0]["extensions"]["field"], "password");
    let accepted = app.gql(None, ACCEPT, json!({"t": invite_token, "p": "a long enough passphrase"})).await;
    assert_eq!(ok(&accepted)["acceptInvitation"]["me"]["account"]["email"], "ines@example.fr");
    let again = app.gql(None, ACCEPT, json!({"t": invite_token, "p": "another long passphrase"})).await;
    assert_eq!(code(&again), "VALIDATION");
    assert!(app.login("ines@example.fr", "a long enough passphrase").await.is_ok());
    assert!(app.login("ines@example.fr", "another long passphrase").await.is_err());
    // A person with an active account cannot be invited again.
    let dup = app
        .gql(Some(&sec), INVITE, json!({"i": {"personId": person, "email": "ines@example.fr", "role": "MEMBER"}}))
        .await;
    assert_eq!(code(&dup), "CONFLICT");
}

#[tokio::test]
async fn invitations_expire() {
    let app = TestApp::demo_with(|c| c.auth.invitation_ttl = std::time::Duration::from_secs(1)).await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let person = new_person(&app, &sec, "Jules").await;
    let inv = app
        .gql(Some(&sec), INVITE, json!({"i": {"personId": person, "email": "jules@example.fr", "role": "MEMBER"}}))
        .await;
    let t = ok(&inv)["inviteAccount"]["token"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let r = app.gql(None, ACCEPT, json!({"t": t, "p": "a long enough passphrase"})).await;
    assert_eq!(code(&r), "VALIDATION");
    assert_eq!(r["errors"][0]["extensions"]["field"], "token");
}

#[tokio::test]
async fn password_change_revokes_other_sessions() {
    let app = TestApp::demo().await;
    let a = app.login_as("maire.aix@demo.entente.fr").await;
    let b = app.login_as("maire.aix@demo.entente.fr").await;
    const CHANGE: &str = "mutation($c:String!,$n:String!){changePassword(currentPassword:$c,newPassword:$n)}";
    let wrong = app.gql(Some(&a), CHANGE, json!({"c": "wrong", "n": "a brand new passphrase"})).await;
    assert_eq!(code(&wrong), "VALIDATION");
    assert_eq!(wrong["errors"][0]["extensions"]["field"], "currentPassword");
    let weak = app.gql(Some(&a), CHANGE, json!({"c": DEMO_PASSWORD, "n": "short"})).await;
    assert_eq!(weak["errors"][0]["extensions"]["field"], "newPassword");
    ok(&app.gql(Some(&a), CHANGE, json!({"c": DEMO_PASSWORD, "n": "a brand new passphrase"})).await);
    ok(&app.gql(Some(&a), ME, json!({})).await);
    assert_eq!(code(&app.gql(Some(&b), ME, json!({})).await), "UNAUTHENTICATED");
    assert!(app.login("maire.aix@demo.entente.fr", DEMO_PASSWORD).await.is_err());
    assert!(app.login("maire.aix@demo.entente.fr", "a brand new passphrase").await.is_ok());
}

async fn login_from(app: &TestApp, forwarded: &str, email: &str, password: &str) -> serde_json::Value {
    app.client
        .post(app.url("/graphql"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"query": "mutation($e:String!,$p:String!){login(email:$e,password:$p){token}}", "variables": {"e": email, "p": password}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_address_is_limited_apart() {
    let app = TestApp::demo_with(|c| {
        c.auth.max_failures_per_client = 3;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    for i in 0..3 {
        let r = login_from(&app, "203.0.113.7", &format!("guess{i}@demo.entente.fr"), "wrong password!").await;
        assert_eq!(code(&r), "UNAUTHENTICATED");
    }
    let r = login_from(&app, "203.0.113.7", "maire.aix@demo.entente.fr", DEMO_PASSWORD).await;
    assert_eq!(code(&r), "RATE_LIMITED");
    let r = login_from(&app, "203.0.113.8", "maire.aix@demo.entente.fr", DEMO_PASSWORD).await;
    ok(&r);
}

#[tokio::test]
async fn without_a_trusted_proxy_forwarded_addresses_are_ignored() {
    let app = TestApp::demo_with(|c| c.auth.max_failures_per_client = 3).await;
    // A client rotating made-up X-Forwarded-For values is still one address.
    for i in 0..3 {
        let r =
            login_from(&app, &format!("198.51.100.{i}"), &format!("guess{i}@demo.entente.fr"), "wrong password!").await;
        assert_eq!(code(&r), "UNAUTHENTICATED");
    }
    let r = login_from(&app, "198.51.100.99", "maire.aix@demo.entente.fr", DEMO_PASSWORD).await;
    assert_eq!(code(&r), "RATE_LIMITED");
}
