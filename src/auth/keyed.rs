//! One async lock per key (an e-mail address being signed in to), kept only while
//! someone holds or awaits it, so the map stays as small as the attempts in flight.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

type Lock = Arc<AsyncMutex<()>>;

#[derive(Default)]
pub struct KeyedLocks(Mutex<HashMap<String, Lock>>);

/// Holds the lock of a key until dropped (also when dropped while still waiting).
pub struct KeyGuard<'a> {
    locks: &'a KeyedLocks,
    key: String,
    lock: Option<Lock>,
    held: Option<OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    fn map(&self) -> MutexGuard<'_, HashMap<String, Lock>> {
        // The map is consistent after any panic (one insert or remove at a time).
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub async fn lock(&self, key: &str) -> KeyGuard<'_> {
        let lock = self.map().entry(key.to_owned()).or_default().clone();
        let mut guard = KeyGuard { locks: self, key: key.to_owned(), lock: Some(lock.clone()), held: None };
        guard.held = Some(lock.lock_owned().await);
        guard
    }

    /// Keys with a holder or a waiter.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        self.held = None;
        self.lock = None;
        let mut map = self.locks.map();
        // Only the map's own reference left: nobody holds or awaits this key.
        if map.get(&self.key).is_some_and(|l| Arc::strong_count(l) == 1) {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_holder_per_key_and_nothing_left_behind() {
        let locks = KeyedLocks::default();
        let a = locks.lock("a").await;
        // Another key is free.
        let b = tokio::time::timeout(Duration::from_millis(50), locks.lock("b")).await;
        assert!(b.is_ok());
        drop(b);
        // The same key waits; giving up waiting leaves nothing behind.
        assert!(tokio::time::timeout(Duration::from_millis(50), locks.lock("a")).await.is_err());
        assert_eq!(locks.len(), 1);
        drop(a);
        assert!(locks.is_empty());
        let again = tokio::time::timeout(Duration::from_millis(50), locks.lock("a")).await;
        assert!(again.is_ok());
        drop(again);
        assert!(locks.is_empty());
    }
}
