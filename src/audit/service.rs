//! Writing and reading the audit log. `record` takes the transaction of the change it
//! records, so the entry commits or rolls back with it.
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::Value;

use super::model::audit_entry;
use crate::auth::Actor;
use crate::error::AppResult;

pub struct Entry<'a> {
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<i32>,
    /// The intercommunality whose secretariat may read this entry.
    pub scope: Option<i32>,
    pub summary: Value,
}

/// Audit actions that change nothing a query can show: they do not invalidate caches.
const INVISIBLE: [&str; 7] = [
    "LOGIN",
    "LOGIN_FAILED",
    "LOGOUT",
    "CHANGE_PASSWORD",
    "REQUEST_PASSWORD_RESET",
    "RESET_PASSWORD",
    "RESET_PASSWORD_FAILED",
];

/// Records the entry and, unless the action is invisible to queries, bumps in the same
/// transaction the versions of the scopes it changes (`cache::scopes_written`): a
/// mutation cannot change data without invalidating the cached answers that read it, in
/// every server process.
pub async fn record<C: ConnectionTrait>(conn: &C, actor: &Actor, entry: Entry<'_>) -> AppResult<()> {
    if !INVISIBLE.contains(&entry.action) {
        let scopes = crate::cache::scopes_written(entry.action, entry.target_type, entry.target_id, &entry.summary);
        crate::cache::bump(conn, actor, &scopes).await?;
        // Wakes every instance's live feed when this transaction commits.
        crate::platform::live::notify(conn).await?;
    }
    audit_entry::ActiveModel {
        at: Set(chrono::Utc::now()),
        actor_account_id: Set(actor.principal.as_ref().map(|p| p.account_id)),
        actor_label: Set(actor.label()),
        action: Set(entry.action.to_string()),
        target_type: Set(entry.target_type.to_string()),
        target_id: Set(entry.target_id),
        intercommunality_id: Set(entry.scope),
        summary: Set(entry.summary),
        request_id: Set(Some(actor.request_id.clone())),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}
