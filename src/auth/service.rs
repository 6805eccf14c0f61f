//! Sign-in use cases: login with throttling, sessions, invitations, password change.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, JoinType, QueryFilter, QuerySelect,
    RelationTrait, Set,
};
use serde_json::json;

use super::actor::{Actor, Principal};
use super::model::PlatformRole;
use super::model::{account, invitation, login_throttle, password_reset, session};
use super::policy::{authorize, Action};
use super::rules::{check_new_password, new_secret, secret_hash, slowdown, Email};
use crate::audit::service::{record, Entry};
use crate::error::{AppError, AppResult};
use crate::people::model::person;
use crate::AppState;

pub struct SignedIn {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub account: account::Model,
}

/// A new account row (no password while an invitation is pending).
pub fn new_account(
    person_id: i32,
    email: &str,
    password_hash: Option<String>,
    role: PlatformRole,
    secretariat_of: Option<i32>,
) -> account::ActiveModel {
    let now = Utc::now();
    account::ActiveModel {
        person_id: Set(person_id),
        email: Set(email.to_string()),
        password_changed_at: Set(password_hash.as_ref().map(|_| now)),
        password_hash: Set(password_hash),
        platform_role: Set(role),
        secretariat_intercommunality_id: Set(secretariat_of),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
}

/// A live session with its account and the cache versions, read in one statement.
#[derive(Debug, FromQueryResult)]
struct SessionRow {
    session_id: i32,
    account_id: i32,
    person_id: i32,
    email: String,
    platform_role: PlatformRole,
    secretariat_intercommunality_id: Option<i32>,
    active: bool,
    global_version: Option<i64>,
    territory_version: Option<i64>,
}

/// Resolves the bearer token of a request. A missing, unknown, expired or revoked token
/// gives an anonymous actor, who may only sign in or accept an invitation. For a signed-in
/// actor, also returns the `global` and `territory` versions read by the same statement
/// (what the response cache checks its entries against), so a cached answer costs one
/// statement.
pub async fn resolve_actor(
    state: &AppState,
    bearer: Option<&str>,
    request_id: String,
    client_addr: Option<String>,
) -> AppResult<(Actor, Option<crate::cache::Versions>)> {
    let Some(token) = bearer.filter(|t| t.len() == 64) else {
        return Ok((Actor::anonymous(request_id, client_addr), None));
    };
    let now = Utc::now();
    let row = session::Entity::find()
        .select_only()
        .column_as(session::Column::Id, "session_id")
        .column_as(account::Column::Id, "account_id")
        .column_as(account::Column::PersonId, "person_id")
        .column_as(account::Column::Email, "email")
        .column_as(account::Column::PlatformRole, "platform_role")
        .column_as(account::Column::SecretariatIntercommunalityId, "secretariat_intercommunality_id")
        .column_as(account::Column::Active, "active")
        .column_as(Expr::cust(crate::cache::version_sql(crate::cache::GLOBAL)), "global_version")
        .column_as(Expr::cust(crate::cache::version_sql(crate::cache::TERRITORY)), "territory_version")
        .join(JoinType::InnerJoin, session::Relation::Account.def())
        .filter(session::Column::TokenHash.eq(secret_hash(token)))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .into_model::<SessionRow>()
        .one(&state.db)
        .await?;
    match row {
        Some(r) if r.active => {
            let principal = Principal {
                account_id: r.account_id,
                person_id: r.person_id,
                email: r.email,
                role: r.platform_role,
                secretariat_of: r.secretariat_intercommunality_id,
                session_id: Some(r.session_id),
            };
            let versions = crate::cache::Versions {
                global: r.global_version.unwrap_or(0),
                territory: r.territory_version.unwrap_or(0),
            };
            Ok((Actor::signed_in(request_id, client_addr, principal), Some(versions)))
        }
        _ => Ok((Actor::anonymous(request_id, client_addr), None)),
    }
}

/// Counts one failure under `key` (a fresh window when the last one is over) and returns
/// the failures in the window and when it started. The increment is a single upsert.
async fn bump<C: ConnectionTrait>(conn: &C, key: &str, window: std::time::Duration) -> AppResult<(i32, DateTime<Utc>)> {
    let now = Utc::now();
    let cutoff = now - chrono::Duration::from_std(window).map_err(AppError::internal)?;
    login_throttle::Entity::update_many()
        .col_expr(login_throttle::Column::Failures, Expr::value(0))
        .col_expr(login_throttle::Column::WindowStartedAt, Expr::value(now))
        .filter(login_throttle::Column::Key.eq(key))
        .filter(login_throttle::Column::WindowStartedAt.lt(cutoff))
        .exec(conn)
        .await?;
    login_throttle::Entity::insert(login_throttle::ActiveModel {
        key: Set(key.to_string()),
        failures: Set(1),
        window_started_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(login_throttle::Column::Key)
            .value(
                login_throttle::Column::Failures,
                Expr::col((login_throttle::Entity, login_throttle::Column::Failures)).add(1),
            )
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    let row = login_throttle::Entity::find_by_id(key.to_string())
        .one(conn)
        .await?
        .ok_or_else(|| AppError::internal("throttle row vanished"))?;
    Ok((row.failures, row.window_started_at))
}

/// Failures counted under each key in its current window, and when that window started,
/// in one statement.
async fn failures<C: ConnectionTrait, const N: usize>(
    conn: &C,
    keys: [&str; N],
    window: std::time::Duration,
) -> AppResult<[(i32, DateTime<Utc>); N]> {
    let now = Utc::now();
    let cutoff = now - chrono::Duration::from_std(window).map_err(AppError::internal)?;
    let rows = login_throttle::Entity::find().filter(login_throttle::Column::Key.is_in(keys)).all(conn).await?;
    Ok(keys.map(|key| match rows.iter().find(|r| r.key == key) {
        Some(row) if row.window_started_at >= cutoff => (row.failures, row.window_started_at),
        _ => (0, now),
    }))
}

/// RATE_LIMITED until the window that started at `since` is over.
fn locked(cfg: &crate::config::AuthConfig, since: DateTime<Utc>) -> AppResult<AppError> {
    let until =
        since + chrono::Duration::from_std(cfg.lock_duration.max(cfg.failure_window)).map_err(AppError::internal)?;
    Ok(AppError::RateLimited { retry_after_secs: Ord::max((until - Utc::now()).num_seconds(), 1) as u64 })
}

/// The per-e-mail and per-client failure counts, refused when either is at its limit.
async fn check_failures(state: &AppState, email_key: &str, client_key: &str) -> AppResult<i32> {
    let cfg = &state.config.auth;
    let [(by_email, email_since), (by_client, client_since)] =
        failures(&state.db, [email_key, client_key], cfg.failure_window).await?;
    if by_email >= cfg.max_failures_per_email {
        return Err(locked(cfg, email_since)?);
    }
    if by_client >= cfg.max_failures_per_client {
        return Err(locked(cfg, client_since)?);
    }
    Ok(by_email)
}

/// Signs in. Failures (not attempts) are counted per e-mail address, whether or not it
/// has an account, and per client address. Attempts at one e-mail address are taken one
/// at a time, from reading its counter to recording the outcome, so that parallel guesses
/// at an address are counted exactly within a process (with k processes, at most k-1
/// guesses past its limit). The client counter is read and a failure recorded within a
/// hashing slot: parallel guesses from one client pass its limit by at most
/// `hash_slots - 1`.
pub async fn login(state: &AppState, actor: &Actor, email: &str, password: &str) -> AppResult<SignedIn> {
    let cfg = &state.config.auth;
    let email = Email::parse(email).map_err(|m| AppError::validation("email", m))?;
    let email_key = format!("email:{}", email.as_str());
    let client_key = format!("client:{}", actor.client_addr.as_deref().unwrap_or("unknown"));

    // Slowed before waiting for anything, so that a slowed guesser holds nobody else up.
    let before = check_failures(state, &email_key, &client_key).await?;
    tokio::time::sleep(slowdown(before + 1, cfg.slow_after, cfg.slow_base)).await;

    let _one_at_a_time = state.hasher.one_at_a_time(&email_key).await;
    let acc = account::Entity::find()
        .filter(account::Column::Email.eq(email.as_str()))
        .filter(account::Column::Active.eq(true))
        .one(&state.db)
        .await?;
    let stored = acc.as_ref().and_then(|a| a.password_hash.as_deref());
    let mut slot = state.hasher.permit().await?;
    let attempt = check_failures(state, &email_key, &client_key).await? + 1;
    let ok = state.hasher.verify(&mut slot, password, stored).await?;

    let Some(acc) = acc.filter(|_| ok) else {
        let txn = crate::db::write(&state.db).await?;
        bump(&txn, &email_key, cfg.failure_window).await?;
        bump(&txn, &client_key, cfg.failure_window).await?;
        record(
            &txn,
            actor,
            Entry {
                action: "LOGIN_FAILED",
                target_type: "Account",
                target_id: None,
                scope: None,
                summary: json!({ "attempt": attempt }),
            },
        )
        .await?;
        txn.commit().await?;
        return Err(AppError::BadCredentials);
    };
    drop(slot);
    let txn = crate::db::write(&state.db).await?;
    if attempt > 1 {
        // Failures were counted in the current window: a success clears them. (A row from
        // an expired window is harmless: the next failure starts a new one.)
        login_throttle::Entity::delete_by_id(email_key).exec(&txn).await?;
    }
    let signed_in = open_session(&txn, state, actor, acc, "LOGIN").await?;
    txn.commit().await?;
    Ok(signed_in)
}

async fn open_session<C: ConnectionTrait>(
    conn: &C,
    state: &AppState,
    actor: &Actor,
    acc: account::Model,
    action: &str,
) -> AppResult<SignedIn> {
    let token = new_secret();
    let now = Utc::now();
    let expires_at = now + chrono::Duration::from_std(state.config.auth.session_ttl).map_err(AppError::internal)?;
    let sess = session::ActiveModel {
        account_id: Set(acc.id),
        token_hash: Set(secret_hash(&token)),
        created_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        client_addr: Set(actor.client_addr.clone()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    record(
        conn,
        actor,
        Entry {
            action,
            target_type: "Account",
            target_id: Some(acc.id),
            scope: acc.secretariat_intercommunality_id,
            summary: json!({ "session": sess.id, "email": acc.email }),
        },
    )
    .await?;
    Ok(SignedIn { token, expires_at, account: acc })
}

pub async fn logout(state: &AppState, actor: &Actor) -> AppResult<bool> {
    let p = actor.require()?;
    let Some(session_id) = p.session_id else { return Ok(false) };
    let txn = crate::db::write(&state.db).await?;
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Some(Utc::now())))
        .filter(session::Column::Id.eq(session_id))
        .exec(&txn)
        .await?;
    record(
        &txn,
        actor,
        Entry {
            action: "LOGOUT",
            target_type: "Account",
            target_id: Some(p.account_id),
            scope: p.secretariat_of,
            summary: json!({ "session": session_id }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// Changes the signed-in account's password and revokes its other sessions.
pub async fn change_password(state: &AppState, actor: &Actor, current: &str, new: &str) -> AppResult<bool> {
    let p = actor.require()?;
    check_new_password(new).map_err(|m| AppError::validation("newPassword", m))?;
    let cfg = &state.config.auth;
    // Guesses of the current password through a stolen session are throttled like sign-in.
    let key = format!("password:{}", p.account_id);
    let one_at_a_time = state.hasher.one_at_a_time(&key).await;
    let [(failed, since)] = failures(&state.db, [&key], cfg.failure_window).await?;
    if failed >= cfg.max_failures_per_email {
        return Err(locked(cfg, since)?);
    }
    let acc = account::Entity::find_by_id(p.account_id).one(&state.db).await?.ok_or(AppError::Unauthenticated)?;
    let mut slot = state.hasher.permit().await?;
    if !state.hasher.verify(&mut slot, current, acc.password_hash.as_deref()).await? {
        bump(&state.db, &key, cfg.failure_window).await?;
        return Err(AppError::validation("currentPassword", "current password is wrong"));
    }
    drop((slot, one_at_a_time));
    let hash = state.hasher.hash(new).await?;
    let txn = crate::db::write(&state.db).await?;
    let now = Utc::now();
    let changed = set_password(acc.id, hash, now).filter(account::Column::Version.eq(acc.version)).exec(&txn).await?;
    if changed.rows_affected != 1 {
        return Err(AppError::Conflict("the password was changed meanwhile; sign in again".into()));
    }
    login_throttle::Entity::delete_by_id(key).exec(&txn).await?;
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Some(now)))
        .filter(session::Column::AccountId.eq(p.account_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::Id.ne(p.session_id.unwrap_or(0)))
        .exec(&txn)
        .await?;
    record(
        &txn,
        actor,
        Entry {
            action: "CHANGE_PASSWORD",
            target_type: "Account",
            target_id: Some(p.account_id),
            scope: p.secretariat_of,
            summary: json!({ "otherSessionsRevoked": true }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(true)
}

pub struct InviteInput {
    pub person_id: i32,
    pub email: String,
    pub role: PlatformRole,
    pub secretariat_of: Option<i32>,
}

/// Creates (or re-invites) the account of a person; returns the invitation and its
/// one-time token, shown once to the inviter to pass on.
pub async fn invite(
    state: &AppState,
    actor: &Actor,
    input: InviteInput,
) -> AppResult<(invitation::Model, account::Model, String)> {
    let email = Email::parse(&input.email).map_err(|m| AppError::validation("email", m))?;
    match (input.role, input.secretariat_of) {
        (PlatformRole::Secretariat, None) => {
            return Err(AppError::validation("intercommunalityId", "a secretariat account needs its intercommunality"))
        }
        (PlatformRole::Admin | PlatformRole::Member, Some(_)) => {
            return Err(AppError::validation(
                "intercommunalityId",
                "only a secretariat account has an intercommunality",
            ))
        }
        _ => {}
    }
    let txn = crate::db::write(&state.db).await?;
    let Some(person) = person::Entity::find_by_id(input.person_id).one(&txn).await? else {
        return Err(AppError::not_found("person"));
    };
    authorize(
        &txn,
        actor,
        Action::Invite { person: input.person_id, role: input.role, secretariat_of: input.secretariat_of },
    )
    .await?;
    // Replacing a pending invitation needs the right to have issued it too: a mayor
    // cannot turn someone else's pending secretariat invitation into theirs.
    let pending = account::Entity::find().filter(account::Column::PersonId.eq(input.person_id)).one(&txn).await?;
    if let Some(a) = pending.as_ref().filter(|a| a.password_hash.is_none()) {
        let role = a.platform_role;
        authorize(
            &txn,
            actor,
            Action::Invite { person: input.person_id, role, secretariat_of: a.secretariat_intercommunality_id },
        )
        .await?;
    }

    let by_email = account::Entity::find().filter(account::Column::Email.eq(email.as_str())).one(&txn).await?;
    let by_person = account::Entity::find().filter(account::Column::PersonId.eq(input.person_id)).one(&txn).await?;
    let now = Utc::now();
    let acc = match (by_email, by_person) {
        (_, Some(a)) if a.password_hash.is_some() => {
            return Err(AppError::Conflict("this person already has an active account".into()))
        }
        (Some(e), _) if e.person_id != input.person_id => {
            return Err(AppError::Conflict("this e-mail address belongs to another person's account".into()))
        }
        (_, Some(a)) => {
            // Pending invitation: replace it, unless the account was activated meanwhile.
            let replaced = account::Entity::update_many()
                .col_expr(account::Column::Email, Expr::value(email.as_str()))
                .col_expr(account::Column::PlatformRole, Expr::value(input.role))
                .col_expr(account::Column::SecretariatIntercommunalityId, Expr::value(input.secretariat_of))
                .col_expr(account::Column::UpdatedAt, Expr::value(now))
                .col_expr(account::Column::Version, Expr::col(account::Column::Version).add(1))
                .filter(account::Column::Id.eq(a.id))
                .filter(account::Column::PasswordHash.is_null())
                .exec(&txn)
                .await?;
            if replaced.rows_affected != 1 {
                return Err(AppError::Conflict("this person already has an active account".into()));
            }
            invitation::Entity::delete_many()
                .filter(invitation::Column::AccountId.eq(a.id))
                .filter(invitation::Column::AcceptedAt.is_null())
                .exec(&txn)
                .await?;
            account::Entity::find_by_id(a.id).one(&txn).await?.ok_or_else(|| AppError::not_found("account"))?
        }
        (_, None) => {
            new_account(input.person_id, email.as_str(), None, input.role, input.secretariat_of).insert(&txn).await?
        }
    };
    let token = new_secret();
    let inv =
        invitation::ActiveModel {
            account_id: Set(acc.id),
            token_hash: Set(secret_hash(&token)),
            created_by_account_id: Set(actor.principal.as_ref().map(|p| p.account_id)),
            created_at: Set(now),
            expires_at: Set(
                now + chrono::Duration::from_std(state.config.auth.invitation_ttl).map_err(AppError::internal)?
            ),
            accepted_at: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    // The link to accept goes by e-mail to the invited address (issue 16).
    let event = crate::platform::notify::Event::AccountInvited { account: acc.id, expires_at: inv.expires_at };
    let event_id = crate::platform::notify::emit_event(&txn, Some(actor), event, &[]).await?;
    crate::platform::mail::enqueue::enqueue_secret(&txn, event_id, acc.person_id, &acc.email, &token, now).await?;
    record(
        &txn,
        actor,
        Entry {
            action: "INVITE_ACCOUNT",
            target_type: "Account",
            target_id: Some(acc.id),
            scope: input
                .secretariat_of
                .or(person.scope_intercommunality_id)
                .or(actor.principal.as_ref().and_then(|p| p.secretariat_of)),
            summary: json!({ "person": input.person_id, "email": acc.email, "role": acc.platform_role }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok((inv, acc, token))
}

/// Sets the password of an invited account and signs it in. The token works once.
pub async fn accept_invitation(state: &AppState, actor: &Actor, token: &str, password: &str) -> AppResult<SignedIn> {
    check_new_password(password).map_err(|m| AppError::validation("password", m))?;
    let invalid = || AppError::validation("token", "this invitation is unknown, used or expired");
    let inv = invitation::Entity::find()
        .filter(invitation::Column::TokenHash.eq(secret_hash(token.trim())))
        .one(&state.db)
        .await?
        .ok_or_else(invalid)?;
    let now = Utc::now();
    if inv.accepted_at.is_some() || inv.expires_at <= now {
        return Err(invalid());
    }
    let hash = state.hasher.hash(password).await?;
    let txn = crate::db::write(&state.db).await?;
    // Claim the invitation atomically: a second concurrent acceptance updates nothing.
    let claimed = invitation::Entity::update_many()
        .col_expr(invitation::Column::AcceptedAt, Expr::value(Some(now)))
        .filter(invitation::Column::Id.eq(inv.id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(invalid());
    }
    let set =
        set_password(inv.account_id, hash, now).filter(account::Column::PasswordHash.is_null()).exec(&txn).await?;
    if set.rows_affected != 1 {
        return Err(invalid());
    }
    let acc = account::Entity::find_by_id(inv.account_id).one(&txn).await?.ok_or_else(invalid)?;
    let signed_in = open_session(&txn, state, actor, acc, "ACCEPT_INVITATION").await?;
    txn.commit().await?;
    Ok(signed_in)
}

/// Sets account `id`'s password hash (the caller adds the condition it holds under).
fn set_password(id: i32, hash: String, now: DateTime<Utc>) -> sea_orm::UpdateMany<account::Entity> {
    account::Entity::update_many()
        .col_expr(account::Column::PasswordHash, Expr::value(Some(hash)))
        .col_expr(account::Column::PasswordChangedAt, Expr::value(Some(now)))
        .col_expr(account::Column::UpdatedAt, Expr::value(now))
        .col_expr(account::Column::Version, Expr::col(account::Column::Version).add(1))
        .filter(account::Column::Id.eq(id))
}

/// How long a password reset link works.
pub const RESET_TTL: chrono::Duration = chrono::Duration::hours(1);

/// Asks for a password reset of the account signing in with `email`: if there is an
/// active one, a link valid an hour is sent to that address (from the outbox, like every
/// e-mail). The answer is the same whether or not the address has an account. Requests
/// are counted per address and per client like failed sign-ins, and refused past the same
/// limits (RATE_LIMITED), whether or not the address has an account.
pub async fn request_password_reset(state: &AppState, actor: &Actor, email: &str) -> AppResult<()> {
    let cfg = &state.config.auth;
    let email = Email::parse(email).map_err(|m| AppError::validation("email", m))?;
    let email_key = format!("reset:{}", email.as_str());
    let client_key = format!("client:{}", actor.client_addr.as_deref().unwrap_or("unknown"));
    check_failures(state, &email_key, &client_key).await?;
    let txn = crate::db::write(&state.db).await?;
    bump(&txn, &email_key, cfg.failure_window).await?;
    bump(&txn, &client_key, cfg.failure_window).await?;
    let acc = account::Entity::find()
        .filter(account::Column::Email.eq(email.as_str()))
        .filter(account::Column::Active.eq(true))
        .filter(account::Column::PasswordHash.is_not_null())
        .one(&txn)
        .await?;
    if let Some(acc) = &acc {
        let token = new_secret();
        let now = Utc::now();
        password_reset::ActiveModel {
            account_id: Set(acc.id),
            token_hash: Set(secret_hash(&token)),
            created_at: Set(now),
            expires_at: Set(now + RESET_TTL),
            used_at: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let event = crate::platform::notify::Event::PasswordReset { account: acc.id, expires_at: now + RESET_TTL };
        let event_id = crate::platform::notify::emit_event(&txn, None, event, &[]).await?;
        crate::platform::mail::enqueue::enqueue_secret(&txn, event_id, acc.person_id, &acc.email, &token, now).await?;
    }
    record(
        &txn,
        actor,
        Entry {
            action: "REQUEST_PASSWORD_RESET",
            target_type: "Account",
            target_id: acc.as_ref().map(|a| a.id),
            scope: acc.as_ref().and_then(|a| a.secretariat_intercommunality_id),
            summary: json!({}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Sets a new password from a reset link's token and signs in; the token works once,
/// within its hour, and every other session of the account is revoked.
pub async fn reset_password(state: &AppState, actor: &Actor, token: &str, password: &str) -> AppResult<SignedIn> {
    check_new_password(password).map_err(|m| AppError::validation("newPassword", m))?;
    let invalid = || AppError::validation("token", "this reset link is unknown, used or expired");
    // A wrong token counts as a failed sign-in of the client (and is locked out the same
    // way), and is refused before any password is hashed.
    let client_key = format!("client:{}", actor.client_addr.as_deref().unwrap_or("unknown"));
    check_failures(state, "reset-token", &client_key).await?;
    let now = Utc::now();
    let found = password_reset::Entity::find()
        .filter(password_reset::Column::TokenHash.eq(secret_hash(token.trim())))
        .one(&state.db)
        .await?
        .filter(|r| r.used_at.is_none() && r.expires_at > now);
    let Some(reset) = found else {
        let txn = crate::db::write(&state.db).await?;
        bump(&txn, &client_key, state.config.auth.failure_window).await?;
        let entry = Entry {
            action: "RESET_PASSWORD_FAILED",
            target_type: "Account",
            target_id: None,
            scope: None,
            summary: json!({}),
        };
        record(&txn, actor, entry).await?;
        txn.commit().await?;
        return Err(invalid());
    };
    let hash = state.hasher.hash(password).await?;
    let txn = crate::db::write(&state.db).await?;
    let claimed = password_reset::Entity::update_many()
        .col_expr(password_reset::Column::UsedAt, Expr::value(Some(now)))
        .filter(password_reset::Column::Id.eq(reset.id))
        .filter(password_reset::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(invalid());
    }
    let acc =
        account::Entity::find_by_id(reset.account_id).one(&txn).await?.filter(|a| a.active).ok_or_else(invalid)?;
    set_password(acc.id, hash, now).exec(&txn).await?;
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Some(now)))
        .filter(session::Column::AccountId.eq(acc.id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    // Other reset links of the account stop working too.
    password_reset::Entity::update_many()
        .col_expr(password_reset::Column::UsedAt, Expr::value(Some(now)))
        .filter(password_reset::Column::AccountId.eq(acc.id))
        .filter(password_reset::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    let signed_in = open_session(&txn, state, actor, acc, "RESET_PASSWORD").await?;
    txn.commit().await?;
    Ok(signed_in)
}

/// `entente account create`: the first admin or secretariat account, with its person.
pub async fn create_account(
    state: &AppState,
    email: &str,
    given_name: &str,
    family_name: &str,
    role: PlatformRole,
    secretariat_of: Option<i32>,
    password: &str,
) -> AppResult<account::Model> {
    let actor = Actor::system("account-create");
    let email = Email::parse(email).map_err(|m| AppError::validation("email", m))?;
    check_new_password(password).map_err(|m| AppError::validation("password", m))?;
    if (role == PlatformRole::Secretariat) != secretariat_of.is_some() {
        return Err(AppError::validation("siren", "a secretariat account needs --siren, and only it"));
    }
    let hash = state.hasher.hash(password).await?;
    let txn = crate::db::write(&state.db).await?;
    if account::Entity::find().filter(account::Column::Email.eq(email.as_str())).one(&txn).await?.is_some() {
        return Err(AppError::Conflict(format!("an account for {} exists already", email.as_str())));
    }
    let p = crate::people::service::insert_person(&txn, given_name, family_name, Some(email.as_str()), secretariat_of)
        .await?;
    let acc = new_account(p.id, email.as_str(), Some(hash), role, secretariat_of).insert(&txn).await?;
    record(
        &txn,
        &actor,
        Entry {
            action: "CREATE_ACCOUNT",
            target_type: "Account",
            target_id: Some(acc.id),
            scope: secretariat_of,
            summary: json!({ "email": acc.email, "role": acc.platform_role, "person": p.id }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(acc)
}
