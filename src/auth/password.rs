//! Argon2id hashing, run on the blocking pool so that hashing never stalls the async
//! runtime, with a bounded number of hashes at once, and sign-in attempts at one key
//! (an e-mail address) taken one at a time.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::keyed::{KeyGuard, KeyedLocks};
use crate::config::AuthConfig;
use crate::error::{AppError, AppResult};

#[derive(Clone)]
pub struct Hasher {
    params: Params,
    /// A hash of a random password, verified when an e-mail has no account so that the
    /// answer takes as long as for a real account.
    dummy: Arc<String>,
    permits: Arc<Semaphore>,
    attempts: Arc<KeyedLocks>,
    /// Hashes running now (see `hashing`).
    running: Arc<AtomicUsize>,
}

impl Hasher {
    pub fn new(cfg: &AuthConfig) -> AppResult<Self> {
        let params = Params::new(cfg.argon2_m_kib, cfg.argon2_t, cfg.argon2_p, None).map_err(AppError::internal)?;
        let dummy = hash_with(&params, &super::rules::new_secret())?;
        Ok(Hasher {
            params,
            dummy: Arc::new(dummy),
            permits: Arc::new(Semaphore::new(cfg.hash_slots.max(1))),
            attempts: Arc::default(),
            running: Arc::default(),
        })
    }

    pub async fn hash(&self, password: &str) -> AppResult<String> {
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        let (params, pw) = (self.params.clone(), password.to_owned());
        self.off_runtime(move || hash_with(&params, &pw)).await?
    }

    /// Runs `hash` on the blocking pool, counted as a running hash (see `hashing`).
    async fn off_runtime<T: Send + 'static>(&self, hash: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
        let running = self.running.clone();
        tokio::task::spawn_blocking(move || hashing(&running, hash)).await.map_err(AppError::internal)
    }

    /// Attempts at one key (an e-mail address, an account's password) one at a time:
    /// sign-in holds this while it reads the key's failure counter, verifies and records
    /// the outcome, so that parallel guesses at one address are counted exactly.
    pub async fn one_at_a_time(&self, key: &str) -> KeyGuard<'_> {
        self.attempts.lock(key).await
    }

    /// A hashing slot. Sign-in holds one from reading the failure counters to recording a
    /// failure, so that parallel guesses from one client address (at different e-mail
    /// addresses) pass its limit by at most `hash_slots - 1`.
    pub async fn permit(&self) -> AppResult<HashPermit> {
        Ok(HashPermit(self.permits.clone().acquire_owned().await.map_err(AppError::internal)?))
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is none
    /// (and then answers false). Needs a slot from `permit`.
    pub async fn verify(&self, _slot: &HashPermit, password: &str, stored: Option<&str>) -> AppResult<bool> {
        let real = stored.is_some();
        let hash = stored.map(str::to_owned).unwrap_or_else(|| (*self.dummy).clone());
        let pw = password.to_owned();
        let ok = self
            .off_runtime(move || {
                PasswordHash::new(&hash)
                    .map(|parsed| Argon2::default().verify_password(pw.as_bytes(), &parsed).is_ok())
                    .unwrap_or(false)
            })
            .await?;
        Ok(ok && real)
    }
}

/// A held hashing slot (see `Hasher::permit`).
pub struct HashPermit(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

fn hash_with(params: &Params, password: &str) -> AppResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(AppError::internal)
}

/// Runs a hash, and when no other hash is running once it is done, gives the memory back
/// to the system (`give_memory_back`). While hashes follow each other, their memory is
/// reused instead of being faulted in again (about 1 ms a hash: `examples/hash_cost.rs`).
fn hashing<T>(running: &AtomicUsize, hash: impl FnOnce() -> T) -> T {
    /// Counts the hash out even if it panics, so memory is still given back later.
    struct Running<'a>(&'a AtomicUsize);
    impl Drop for Running<'_> {
        fn drop(&mut self) {
            if self.0.fetch_sub(1, Ordering::SeqCst) == 1 {
                give_memory_back();
            }
        }
    }
    running.fetch_add(1, Ordering::SeqCst);
    let _running = Running(running);
    hash()
}

/// Returns the memory hashes worked in (19 MiB each) to the system now. The server's
/// allocator (mimalloc) would otherwise keep it, one copy per blocking thread that hashed:
/// measured, an idle server held 79 MiB on SQLite and 118 MiB on PostgreSQL after eight
/// parallel sign-ins, against about 40 MiB. mimalloc purges its freed memory program-wide
/// on a forced collect, so the last hash to finish releases the others' too.
fn give_memory_back() {
    // SAFETY: mi_collect only frees and decommits memory that nothing references; it
    // takes no pointer and is safe to call from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_at_owasp_minimum_and_verify() {
        let h = Hasher::new(&AuthConfig { hash_slots: 1, ..AuthConfig::default() }).unwrap();
        let stored = h.hash("correct horse battery").await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        let slot = h.permit().await.unwrap();
        assert!(h.verify(&slot, "correct horse battery", Some(&stored)).await.unwrap());
        assert!(!h.verify(&slot, "wrong horse battery", Some(&stored)).await.unwrap());
        assert!(!h.verify(&slot, "anything", None).await.unwrap());
        assert!(!h.verify(&slot, "x", Some("not a hash")).await.unwrap());
    }
}
