//! Response cache for queries, per account. An entry is keyed by the account, the data
//! version (bumped in the transaction of every mutation, see `audit::service::record`),
//! the date in Paris (mandates start and end at midnight) and the request's exact text
//! and variables. Keying by account keeps every permission decision as it was taken for
//! that account; a mutation anywhere, in any server process, makes every entry stale.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use chrono::NaiveDate;
use quick_cache::sync::Cache;
use quick_cache::Weighter;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub account: i32,
    pub version: i64,
    pub day: NaiveDate,
    pub query: String,
    pub variables: String,
    pub operation: Option<String>,
}

/// An entry weighs its key's text and its answer's bytes, so the cache is bounded in
/// memory, not only in entries.
#[derive(Clone)]
struct BySize;

impl Weighter<Key, Bytes> for BySize {
    fn weight(&self, key: &Key, body: &Bytes) -> u64 {
        (body.len() + key.query.len() + key.variables.len() + 64) as u64
    }
}

pub struct ResponseCache(Cache<Key, Bytes, BySize>);

impl ResponseCache {
    /// At most about `entries` answers and `max_bytes` bytes.
    pub fn new(entries: usize, max_bytes: u64) -> Self {
        ResponseCache(Cache::with_weighter(entries.max(1), max_bytes.max(1), BySize))
    }
    pub fn get(&self, key: &Key) -> Option<Bytes> {
        self.0.get(key)
    }
    pub fn insert(&self, key: Key, body: Bytes) {
        self.0.insert(key, body);
    }
}

/// Put in every request's data: a resolver whose answer can change without a bump of
/// the data version marks it (the audit log, which grows with sign-ins; a body's next
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> Key {
        Key {
            account: 1,
            version: 1,
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
            cache.insert(key(i), Bytes::from(vec![b'x'; 64 << 10]));
        }
        assert!(cache.0.weight() <= 1 << 20, "{} bytes held", cache.0.weight());
        assert!(!cache.0.is_empty(), "eviction kept nothing");
        let small = ResponseCache::new(10, 1 << 20);
        small.insert(key(1), Bytes::from_static(b"{}"));
        assert_eq!(small.get(&key(1)).as_deref(), Some(&b"{}"[..]));
    }
}
