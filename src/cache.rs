//! Response cache for queries, per account. An entry is keyed by the account, the date in
//! Paris (mandates start and end at midnight) and the request's exact text and variables,
//! and holds, beside the answer, the versions of the scopes the answer read. Keying by
//! account keeps every permission decision as it was taken for that account.
//!
//! Invalidation follows what an answer read (issue 14, defect 8). Every write bumps, in
//! its own transaction (`audit::service::record` calls [`bump`]), the versions of the
//! scopes it may change:
//! - `global`: every write;
//! - `territory`: every write that may change the territory or a permission:
//!   territories, communes and their memberships, persons, mandates, accounts, bodies and
//!   their seats, signature delegations, imports, the demo... (what the territory queries
//!   show, and what every permission follows from);
//! - `meetings`: a meeting's own writes (target types `Meeting`, `AgendaItem`, `Proxy`,
//!   `Document`, `MeetingRequest`: editing, convening, acknowledging, attendance, votes,
//!   minutes, documents, requests), which change no territory answer and no permission;
//! - `referral:<id>`: the writes of that referral (its responses, drafts, documents,
//!   form, deadline, closing by the job);
//! - `policies`: a policy's own writes (target types `Policy...`), which change no
//!   territory, meeting or referral answer;
//! - nothing but `global`: a person's own reading state (marking notifications read,
//!   a calendar feed), which only that person's `global` answers show.
//!
//! A query's answer depends on `global` unless each of its root fields declared a
//! narrower scope (the default is correct: a new root field that declares nothing is
//! invalidated by every write). The territory roots (`communes`, `commune`,
//! `intercommunalities`, `intercommunality`, `persons`) declare `territory`: every type
//! reachable from them (Commune, Intercommunality, Membership, Territory, Person,
//! Mandate) is changed only by writes that bump it. `referral(id)` declares
//! `territory`, `meetings` (a referral shows its meeting) and `referral:<id>`, the
//! latter two's versions read before the referral is.
//!
//! A scope's version is the sum of its rows in `cache_version` (shards 0 to 15); a write
//! adds one to one shard, picked from the writer, so concurrent writers seldom wait on
//! the same row (on PostgreSQL an updated row stays locked until its transaction ends).
//! The `global` and `territory` versions are read with the session, in the request's
//! first statement; an entry that depends on referrals costs one more statement.
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::NaiveDate;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect, Set};

use crate::auth::Actor;
use crate::error::AppResult;

/// Rows per scope.
pub const SHARDS: i16 = 16;
pub const GLOBAL: &str = "global";
pub const TERRITORY: &str = "territory";
pub const MEETINGS: &str = "meetings";
/// Written by policies' own writes (their text, versions, status); no answer declares it
/// yet: policy queries depend on `global`.
pub const POLICIES: &str = "policies";

pub fn referral_scope(id: i32) -> String {
    format!("referral:{id}")
}

pub mod cache_version {
    use sea_orm::entity::prelude::*;
    /// One shard of a scope's version (migration 000007).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cache_version")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub scope: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub shard: i16,
        pub version: i64,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

/// The scopes a write changes, from its audit entry: a referral's own writes change that
/// referral; a meeting's own writes the meetings; a person's reading state nothing but
/// `global`; every other write may change anything a query shows. `referral` is the
/// referral's id (the target of a `Referral` entry, else the `referral` of the summary
/// of a `Referral*` entry); without it the write counts as a write of anything.
pub fn scopes_written(
    action: &str,
    target_type: &str,
    target_id: Option<i32>,
    summary: &serde_json::Value,
) -> Vec<String> {
    let referral = match target_type {
        "Referral" => target_id,
        t if t.starts_with("Referral") => {
            summary.get("referral").and_then(serde_json::Value::as_i64).and_then(|i| i32::try_from(i).ok())
        }
        _ => None,
    };
    if let Some(id) = referral {
        return vec![GLOBAL.to_string(), referral_scope(id)];
    }
    match (action, target_type) {
        (_, "Meeting" | "AgendaItem" | "Proxy" | "Document" | "MeetingRequest") => {
            vec![GLOBAL.to_string(), MEETINGS.to_string()]
        }
        ("MARK_NOTIFICATIONS_READ" | "CREATE_CALENDAR_FEED" | "SET_NOTIFICATION_PREFERENCE", "Person") => {
            vec![GLOBAL.to_string()]
        }
        (_, t) if t.starts_with("Policy") => vec![GLOBAL.to_string(), POLICIES.to_string()],
        _ => vec![GLOBAL.to_string(), TERRITORY.to_string()],
    }
}

/// The shard a writer bumps: the same for all the writes of one request (so two
/// transactions always take this table's row locks in the same order, `global` first,
/// and cannot deadlock on them), spread over writers.
fn shard_of(actor: &Actor) -> i16 {
    let mut h = DefaultHasher::new();
    actor.principal.as_ref().map(|p| (p.account_id, p.session_id)).hash(&mut h);
    actor.request_id.hash(&mut h);
    (h.finish() % SHARDS as u64) as i16
}

/// Adds one to the version of each scope in `scopes`, in the caller's transaction, in
/// one statement (an upsert: a referral's rows are created by its first write).
pub async fn bump<C: ConnectionTrait>(conn: &C, actor: &Actor, scopes: &[String]) -> AppResult<()> {
    let shard = shard_of(actor);
    let rows =
        scopes.iter().map(|s| cache_version::ActiveModel { scope: Set(s.clone()), shard: Set(shard), version: Set(1) });
    cache_version::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([cache_version::Column::Scope, cache_version::Column::Shard])
                .value(
                    cache_version::Column::Version,
                    Expr::col((cache_version::Entity, cache_version::Column::Version)).add(1),
                )
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The SQL of a scope's version, for the session statement (`auth::service`).
pub fn version_sql(scope: &'static str) -> String {
    format!("(SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM cache_version WHERE scope = '{scope}')")
}

/// The versions read with the session, before the query runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versions {
    pub global: i64,
    pub territory: i64,
}

#[derive(Debug, FromQueryResult)]
struct ScopeVersion {
    scope: String,
    version: Option<i64>,
}

/// The current versions of `scopes` (absent scopes are 0), in one statement.
pub async fn read_versions<C: ConnectionTrait>(conn: &C, scopes: &[String]) -> AppResult<BTreeMap<String, i64>> {
    let rows = cache_version::Entity::find()
        .select_only()
        .column(cache_version::Column::Scope)
        .column_as(Expr::cust("CAST(SUM(version) AS BIGINT)"), "version")
        .filter(cache_version::Column::Scope.is_in(scopes.iter().cloned()))
        .group_by(cache_version::Column::Scope)
        .into_model::<ScopeVersion>()
        .all(conn)
        .await?;
    let mut out: BTreeMap<String, i64> = scopes.iter().map(|s| (s.clone(), 0)).collect();
    for r in rows {
        out.insert(r.scope, r.version.unwrap_or(0));
    }
    Ok(out)
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub account: i32,
    pub day: NaiveDate,
    pub query: String,
    pub variables: String,
    pub operation: Option<String>,
}

/// What a cached answer depends on, with the versions read before it was computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deps {
    /// Any write.
    Global(i64),
    /// The territory and these narrower scopes (a referral's, the meetings'), with their versions.
    Narrow { territory: i64, referrals: Vec<(String, i64)> },
}

#[derive(Clone)]
pub struct Cached {
    deps: Deps,
    body: Bytes,
}

/// An entry weighs its key's text, its answer's bytes and its dependencies, so the cache
/// is bounded in memory, not only in entries.
#[derive(Clone)]
struct BySize;

impl Weighter<Key, Cached> for BySize {
    fn weight(&self, key: &Key, c: &Cached) -> u64 {
        let deps = match &c.deps {
            Deps::Global(_) => 0,
            Deps::Narrow { referrals, .. } => referrals.iter().map(|(s, _)| s.len() + 32).sum(),
        };
        (c.body.len() + key.query.len() + key.variables.len() + deps + 64) as u64
    }
}

pub struct ResponseCache(Cache<Key, Cached, BySize>);

impl ResponseCache {
    /// At most about `entries` answers and `max_bytes` bytes.
    pub fn new(entries: usize, max_bytes: u64) -> Self {
        ResponseCache(Cache::with_weighter(Ord::max(entries, 1), Ord::max(max_bytes, 1), BySize))
    }
    /// The entry under `key` if every scope it read is still at the version it read
    /// (`now` read with the session; the referrals' versions, if any, in one statement).
    pub async fn lookup<C: ConnectionTrait>(&self, conn: &C, key: &Key, now: Versions) -> AppResult<Option<Bytes>> {
        let Some(c) = self.0.get(key) else { return Ok(None) };
        let fresh = match &c.deps {
            Deps::Global(v) => *v == now.global,
            Deps::Narrow { territory, referrals } => {
                *territory == now.territory && {
                    if referrals.is_empty() {
                        true
                    } else {
                        let scopes: Vec<String> = referrals.iter().map(|(s, _)| s.clone()).collect();
                        let current = read_versions(conn, &scopes).await?;
                        referrals.iter().all(|(s, v)| current.get(s) == Some(v))
                    }
                }
            }
        };
        Ok(fresh.then_some(c.body))
    }
    pub fn insert(&self, key: Key, deps: Deps, body: Bytes) {
        self.0.insert(key, Cached { deps, body });
    }
}

/// Put in every request's data: a resolver whose answer can change without a bump of
/// a version marks it (the audit log, which grows with sign-ins; a body's next
/// meeting, which changes when one starts), and the answer is then not cached. A mark on the resolver rather than a look at the query's text also
/// covers `node(id:)` on an audit entry, whose global ID the text does not name.
#[derive(Clone, Default)]
pub struct DoNotCache(Arc<AtomicBool>);

impl DoNotCache {
    /// Marks the request of `ctx` (a request without the mark's data is never cached).
    pub fn mark(ctx: &async_graphql::Context<'_>) {
        if let Some(mark) = ctx.data_opt::<DoNotCache>() {
            mark.0.store(true, Ordering::Relaxed);
        }
    }
    pub fn is_marked(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A narrower scope than `global` that a root field's answer reads.
#[derive(Default)]
struct Declared {
    territory: bool,
    referrals: BTreeMap<String, i64>,
}

/// Put in every query's data: what each root field (by its response key) declared that it
/// reads. A root field that declared nothing makes the answer depend on `global`.
#[derive(Clone, Default)]
pub struct Reads(Arc<Mutex<BTreeMap<String, Declared>>>);

fn root_key(ctx: &async_graphql::Context<'_>) -> Option<String> {
    // Only a root field declares for the answer: a nested field's declaration would not
    // cover its root's other fields.
    let node = ctx.path_node?;
    if node.parent.is_some() {
        return None;
    }
    Some(ctx.item.node.response_key().node.to_string())
}

impl Reads {
    fn with(ctx: &async_graphql::Context<'_>, f: impl FnOnce(&mut Declared)) {
        let (Some(reads), Some(key)) = (ctx.data_opt::<Reads>(), root_key(ctx)) else { return };
        if let Ok(mut map) = reads.0.lock() {
            f(map.entry(key).or_default());
        }
    }

    /// Declares, from a root resolver, that its answer reads only the territory (and
    /// what permissions follow from).
    pub fn territory(ctx: &async_graphql::Context<'_>) {
        Self::with(ctx, |d| d.territory = true);
    }

    /// Declares, from a root resolver, that its answer reads the territory and referral
    /// `id`; reads that referral's version now, so call it before reading the referral.
    pub async fn referral<C: ConnectionTrait>(ctx: &async_graphql::Context<'_>, conn: &C, id: i32) -> AppResult<()> {
        if ctx.data_opt::<Reads>().is_none() || root_key(ctx).is_none() {
            return Ok(());
        }
        let scopes = [referral_scope(id), MEETINGS.to_string()];
        let versions = read_versions(conn, &scopes).await?;
        Self::with(ctx, |d| {
            d.territory = true;
            d.referrals.extend(versions);
        });
        Ok(())
    }

    /// What an answer depends on: narrow if every root field of `data` (other than
    /// `__typename`) declared its scope, else `global`. `before` was read before the
    /// query ran.
    pub fn deps(&self, data: &async_graphql::Value, before: Versions) -> Deps {
        let global = Deps::Global(before.global);
        let async_graphql::Value::Object(fields) = data else { return global };
        let Ok(map) = self.0.lock() else { return global };
        let mut referrals = BTreeMap::new();
        let keys: BTreeSet<&str> = fields.keys().map(|k| k.as_str()).filter(|k| *k != "__typename").collect();
        for k in keys {
            match map.get(k) {
                Some(d) if d.territory => referrals.extend(d.referrals.iter().map(|(s, v)| (s.clone(), *v))),
                _ => return global,
            }
        }
        Deps::Narrow { territory: before.territory, referrals: referrals.into_iter().collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> Key {
        Key {
            account: 1,
            day: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default(),
            query: format!("{{q{i}}}"),
            variables: "{}".into(),
            operation: None,
        }
    }

    #[test]
    fn the_cache_stays_within_its_bytes() {
        let cache = ResponseCache::new(1_000, 1 << 20);
        for i in 0..200 {
            cache.insert(key(i), Deps::Global(1), Bytes::from(vec![b'x'; 64 << 10]));
        }
        assert!(cache.0.weight() <= 1 << 20, "{} bytes held", cache.0.weight());
        assert!(!cache.0.is_empty(), "eviction kept nothing");
        let small = ResponseCache::new(10, 1 << 20);
        small.insert(key(1), Deps::Global(1), Bytes::from_static(b"{}"));
        assert_eq!(small.get_body(&key(1)).as_deref(), Some(&b"{}"[..]));
    }

    #[test]
    fn each_write_changes_the_scopes_its_records_are_read_in() {
        let none = serde_json::json!({});
        let w = |t: &str, id: Option<i32>, s: &serde_json::Value| scopes_written("ANY", t, id, s);
        assert_eq!(w("Referral", Some(7), &none), ["global", "referral:7"]);
        let draft = serde_json::json!({ "referral": 7, "commune": 3 });
        assert_eq!(w("ReferralResponse", Some(99), &draft), ["global", "referral:7"]);
        assert_eq!(w("ReferralDocument", Some(99), &draft), ["global", "referral:7"]);
        // A Referral* entry that does not say its referral counts as a write of anything.
        assert_eq!(w("ReferralResponse", Some(99), &none), ["global", "territory"]);
        for t in ["Person", "Mandate", "Territory", "Account", "Body", "BodySeat", "SignatureDelegation", "Other"] {
            assert_eq!(w(t, Some(7), &draft), ["global", "territory"], "{t}");
        }
        for t in ["Meeting", "AgendaItem", "Proxy", "Document", "MeetingRequest"] {
            assert_eq!(w(t, Some(7), &none), ["global", "meetings"], "{t}");
        }
        for a in ["MARK_NOTIFICATIONS_READ", "CREATE_CALENDAR_FEED"] {
            assert_eq!(scopes_written(a, "Person", Some(7), &none), ["global"], "{a}");
        }
        assert_eq!(scopes_written("UPDATE_PERSON", "Person", Some(7), &none), ["global", "territory"]);
    }

    impl ResponseCache {
        fn get_body(&self, key: &Key) -> Option<Bytes> {
            self.0.get(key).map(|c| c.body)
        }
    }
}
