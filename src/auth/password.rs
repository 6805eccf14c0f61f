//! Argon2id hashing, run on the blocking pool so that hashing never stalls the async
//! runtime, with a bounded number of hashes at once, and sign-in attempts at one key
//! (an e-mail address) taken one at a time.
//!
//! The argon2id implementation is the `argon2-rust` crate: it picks its SIMD code
//! (AVX-512, AVX2, SSE2, NEON) at the first hash, where RustCrypto's `argon2` only goes
//! as far as AVX2, so one portable binary hashes in about a third less time on a server
//! CPU with AVX-512 (8–9 ms instead of 13: BENCHMARKS.md, `examples/hash_cost.rs`). It
//! works in its own `mmap`ed arena, wiped and given back to the system after each hash.
//! It is younger than RustCrypto's crate (1.0 in 2026) and, like it, not independently
//! audited; both read and write the same standard PHC strings
//! (`$argon2id$v=19$m=19456,t=2,p=1$…`), so stored hashes do not depend on the choice and
//! going back is a change to this file alone. The tests below hold every SIMD backend of
//! this crate to RustCrypto's output.
use std::sync::Arc;

use argon2_rust::params::{Memory, TagLen};
use argon2_rust::{Algorithm, Argon2, Error as Argon2Error, Params, Version};
use tokio::sync::Semaphore;

use super::keyed::{KeyGuard, KeyedLocks};
use crate::config::AuthConfig;
use crate::error::{AppError, AppResult};

/// The most a stored hash may ask of a verification. A hash in the database was written
/// by this server, but a row is still data: a string asking for terabytes or thousands of
/// passes is refused before anything is allocated. Far above any sensible setting, so
/// that hashes made before a change of parameters still verify.
const CEILING: Params = Params::builder()
    .memory(Memory::gib(1))
    .passes(64)
    .lanes(16)
    .threads(1)
    .tag_len(TagLen::bytes(64))
    .build_or_panic();

#[derive(Clone)]
pub struct Hasher {
    argon2: Argon2,
    /// A hash of a random password, verified when an e-mail has no account so that the
    /// answer takes as long as for a real account.
    dummy: Arc<String>,
    permits: Arc<Semaphore>,
    attempts: Arc<KeyedLocks>,
}

impl Hasher {
    pub fn new(cfg: &AuthConfig) -> AppResult<Self> {
        let argon2 = argon2id(cfg.argon2_m_kib, cfg.argon2_t, cfg.argon2_p).map_err(AppError::internal)?;
        let dummy = hash_with(&argon2, &super::rules::new_secret())?;
        Ok(Hasher {
            argon2,
            dummy: Arc::new(dummy),
            permits: Arc::new(Semaphore::new(cfg.hash_slots.max(1))),
            attempts: Arc::default(),
        })
    }

    pub async fn hash(&self, password: &str) -> AppResult<String> {
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        let (argon2, pw) = (self.argon2, password.to_owned());
        off_runtime(move || hash_with(&argon2, &pw)).await?
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
    /// (and then answers false). Needs a slot from `permit`. A stored value that is not a
    /// hash this server could have written answers false, and is logged.
    pub async fn verify(&self, _slot: &HashPermit, password: &str, stored: Option<&str>) -> AppResult<bool> {
        let real = stored.is_some();
        let hash = stored.map(str::to_owned).unwrap_or_else(|| (*self.dummy).clone());
        let pw = password.to_owned();
        let outcome =
            off_runtime(move || Argon2::verify_encoded_bounded(&hash, pw.as_bytes(), Algorithm::Argon2id, &CEILING))
                .await?;
        match outcome {
            Ok(()) => Ok(real),
            Err(Argon2Error::VerifyMismatch) => Ok(false),
            Err(e) => {
                tracing::warn!(error = %e, "a stored password hash could not be verified");
                Ok(false)
            }
        }
    }
}

/// Runs `hash` on the blocking pool.
async fn off_runtime<T: Send + 'static>(hash: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    tokio::task::spawn_blocking(hash).await.map_err(AppError::internal)
}

/// A held hashing slot (see `Hasher::permit`).
pub struct HashPermit(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

/// Argon2 parameters: memory in KiB, passes, lanes (computed one after the other), and a
/// 32-byte tag.
fn params(m_kib: u32, passes: u32, lanes: u32) -> Result<Params, Argon2Error> {
    Params::builder()
        .memory(Memory::kib(u64::from(m_kib)))
        .passes(passes)
        .lanes(lanes)
        .threads(1)
        .tag_len(TagLen::bytes(32))
        .build()
}

/// Argon2id (version 0x13) with those parameters: the server's hasher, the tests' and
/// `examples/hash_cost.rs`.
pub fn argon2id(m_kib: u32, passes: u32, lanes: u32) -> Result<Argon2, Argon2Error> {
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params(m_kib, passes, lanes)?))
}

/// A PHC string for `password` with a fresh 16-byte salt from the system's generator.
fn hash_with(argon2: &Argon2, password: &str) -> AppResult<String> {
    argon2.hash_password_with_random_salt(password.as_bytes()).map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2 as rustcrypto;
    use rand::{Rng, RngCore};
    use rustcrypto::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

    fn hasher() -> Hasher {
        Hasher::new(&AuthConfig { hash_slots: 1, ..AuthConfig::default() }).unwrap()
    }

    /// RustCrypto's argon2id, the implementation the server used before.
    fn theirs(m_kib: u32, passes: u32, lanes: u32) -> rustcrypto::Argon2<'static> {
        let params = rustcrypto::Params::new(m_kib, passes, lanes, Some(32)).unwrap();
        rustcrypto::Argon2::new(rustcrypto::Algorithm::Argon2id, rustcrypto::Version::V0x13, params)
    }

    #[tokio::test]
    async fn hashes_are_argon2id_at_owasp_minimum_and_verify() {
        let h = hasher();
        let stored = h.hash("correct horse battery").await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert_ne!(stored, h.hash("correct horse battery").await.unwrap(), "a fresh salt each time");
        let slot = h.permit().await.unwrap(); // the only slot: hash before taking it
        assert!(h.verify(&slot, "correct horse battery", Some(&stored)).await.unwrap());
        assert!(!h.verify(&slot, "wrong horse battery", Some(&stored)).await.unwrap());
        assert!(!h.verify(&slot, "anything", None).await.unwrap());
        assert!(!h.verify(&slot, "x", Some("not a hash")).await.unwrap());
    }

    /// Hashes stored before the change of crate (RustCrypto's `argon2`, up to
    /// 2026-11-24) still sign their owners in, and what we write now verifies there too:
    /// switching back would need no migration.
    #[tokio::test]
    async fn stored_hashes_are_the_same_strings_as_rustcrypto_argon2_writes() {
        let h = hasher();
        let ours = h.hash("un autre mot de passe").await.unwrap();
        let slot = h.permit().await.unwrap(); // the only slot: hash before taking it
        let theirs = theirs(19_456, 2, 1);
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let old = theirs.hash_password("un mot de passe été 2026".as_bytes(), &salt).unwrap().to_string();
        assert!(h.verify(&slot, "un mot de passe été 2026", Some(&old)).await.unwrap(), "{old}");
        assert!(!h.verify(&slot, "un mot de passe ete 2026", Some(&old)).await.unwrap());

        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(theirs.verify_password(b"un autre mot de passe", &parsed).is_ok());
        assert!(theirs.verify_password(b"un autre mot de pass", &parsed).is_err());
    }

    /// The same tag as RustCrypto's implementation, with each SIMD backend this CPU can
    /// run (scalar, SSE2, AVX2, AVX-512 on the CI machine), over random passwords, salts
    /// and small parameters (lanes included): a hash written on one server verifies on
    /// another whatever code its processor selects.
    #[test]
    fn tags_match_rustcrypto_argon2_on_every_backend() {
        let backends: Vec<_> = argon2_rust::Backend::ALL.iter().copied().filter(|b| b.is_available()).collect();
        assert!(backends.contains(&argon2_rust::detected_backend()), "{backends:?}");
        #[cfg(target_arch = "x86_64")]
        assert!(backends.len() >= 2, "scalar and SSE2 at least: {backends:?}");
        let mut rng = rand::thread_rng();
        for _ in 0..16 {
            let (lanes, passes) = (rng.gen_range(1..=4u32), rng.gen_range(1..=3u32));
            let m_kib = rng.gen_range(8 * lanes..=256);
            let mut pw = vec![0u8; rng.gen_range(0..64)];
            let mut salt = vec![0u8; rng.gen_range(8..32)];
            rng.fill_bytes(&mut pw);
            rng.fill_bytes(&mut salt);
            let mut expected = [0u8; 32];
            theirs(m_kib, passes, lanes).hash_password_into(&pw, &salt, &mut expected).unwrap();
            let params = params(m_kib, passes, lanes).unwrap();
            let mut ours = [0u8; 32];
            argon2id(m_kib, passes, lanes).unwrap().hash_into(&pw, &salt, &mut ours).unwrap();
            assert_eq!(ours, expected, "selected backend, m={m_kib} t={passes} p={lanes}");
            for &b in &backends {
                let mut tag = [0u8; 32];
                // SAFETY: `b.is_available()` said this CPU has the instructions.
                unsafe {
                    argon2_rust::__internal::hash_with_backend(
                        b,
                        Algorithm::Argon2id,
                        Version::V0x13,
                        &params,
                        &pw,
                        &salt,
                        &[],
                        &[],
                        &mut tag,
                    )
                }
                .unwrap();
                assert_eq!(tag, expected, "{b:?}, m={m_kib} t={passes} p={lanes}");
            }
        }
    }

    #[tokio::test]
    async fn a_stored_hash_asking_for_too_much_is_refused_without_running() {
        let h = hasher();
        let stored = h.hash("pw").await.unwrap();
        let slot = h.permit().await.unwrap();
        let greedy = stored.replace("m=19456", "m=4294967295");
        assert!(!h.verify(&slot, "pw", Some(&greedy)).await.unwrap());
    }
}
