//! Response cache for queries, per account. An entry is keyed by the account, the data
//! version (bumped in the transaction of every mutation, see `audit::service::record`),
//! the date in Paris (mandates start and end at midnight) and the request's exact text
//! and variables. Keying by account keeps every permission decision as it was taken for
//! that account; a mutation anywhere, in any server process, makes every entry stale.
use bytes::Bytes;
use chrono::NaiveDate;
use quick_cache::sync::Cache;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub account: i32,
    pub version: i64,
    pub day: NaiveDate,
    pub query: String,
    pub variables: String,
    pub operation: Option<String>,
}

pub struct ResponseCache(Cache<Key, Bytes>);

impl ResponseCache {
    pub fn new(entries: usize) -> Self {
        ResponseCache(Cache::new(entries.max(1)))
    }
    pub fn get(&self, key: &Key) -> Option<Bytes> {
        self.0.get(key)
    }
    pub fn insert(&self, key: Key, body: Bytes) {
        self.0.insert(key, body);
    }
}
