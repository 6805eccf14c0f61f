//! Reading the audit log: admins see everything, a secretariat (or the president) its
//! intercommunality's entries.
use async_graphql::{Context, Json, Object, ID};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::model::audit_entry;
use crate::auth::policy::Action;
use crate::auth::PlatformRole;
use crate::cache::DoNotCache;
use crate::error::AppResult;
use crate::graphql::support::{actor, allow, keyset_query, state, KeyConn, KeyOrder, PageArgs};
use crate::ids::{self, Kind};

/// One recorded change: who did what to which object, when.
pub struct AuditEntry(pub audit_entry::Model);

/// One recorded change: who did what to which object, when.
#[Object]
impl AuditEntry {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::AuditEntry, self.0.id)
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// The account's e-mail, "system:..." for the command line, or "anonymous".
    async fn actor(&self) -> &str {
        &self.0.actor_label
    }
    /// What was done (LOGIN, CREATE_MANDATE, IMPORT_TERRITORY...).
    async fn action(&self) -> &str {
        &self.0.action
    }
    async fn target_type(&self) -> &str {
        &self.0.target_type
    }
    /// Global ID of the target, when it is a node.
    async fn target_id(&self) -> Option<ID> {
        let kind = Kind::parse(&self.0.target_type)?;
        self.0.target_id.map(|n| ids::encode(kind, n))
    }
    /// Summary of the change (before/after where it applies).
    async fn summary(&self) -> Json<serde_json::Value> {
        Json(self.0.summary.clone())
    }
    /// The request that made the change (also in the server's logs).
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
}

/// An audit entry, if the actor may read its scope.
pub async fn find_visible(ctx: &Context<'_>, id: i32) -> AppResult<Option<AuditEntry>> {
    DoNotCache::mark(ctx);
    let Some(e) = audit_entry::Entity::find_by_id(id).one(&state(ctx)?.db).await? else { return Ok(None) };
    allow(ctx, Action::ReadAudit { scope: e.intercommunality_id }).await?;
    Ok(Some(AuditEntry(e)))
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
#[allow(clippy::too_many_arguments)]
impl AuditQuery {
    /// Audit entries, newest first. A secretariat reads its intercommunality's (the
    /// default scope for it); an admin reads any scope, or everything without one.
    #[graphql(complexity = "first.or(last).unwrap_or(50).clamp(0, 10_000) as usize * child_complexity + 2")]
    async fn audit_entries(
        &self,
        ctx: &Context<'_>,
        intercommunality_id: Option<ID>,
        action: Option<String>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> AppResult<KeyConn<AuditEntry>> {
        DoNotCache::mark(ctx);
        let p = actor(ctx)?.require()?;
        let scope = match &intercommunality_id {
            Some(i) => Some(ids::decode("intercommunalityId", Kind::Intercommunality, i)?),
            None if p.role == PlatformRole::Admin => None,
            None => p.secretariat_of,
        };
        allow(ctx, Action::ReadAudit { scope }).await?;
        let mut q = audit_entry::Entity::find();
        if let Some(e) = scope {
            q = q.filter(audit_entry::Column::IntercommunalityId.eq(e));
        }
        if let Some(a) = action {
            q = q.filter(audit_entry::Column::Action.eq(a));
        }
        // Newest first: by id, which grows with each entry.
        let order = KeyOrder { list: "auditEntries", keys: vec![], id: audit_entry::Column::Id, descending: true };
        keyset_query(ctx, &PageArgs { after, before, first, last }, &order, q, |e| (vec![], e.id), AuditEntry).await
    }
}
