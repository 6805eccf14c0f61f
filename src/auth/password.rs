//! Argon2id hashing, run on the blocking pool so that hashing never stalls the async
//! runtime, with a bounded number of hashes at once, and sign-in attempts at one key
//! (an e-mail address) taken one at a time.
//!
//! The argon2id implementation is the `argon2-rust` crate: it picks its SIMD code
//! (AVX-512, AVX2, SSE2, NEON) at the first hash, where RustCrypto's `argon2` only goes
//! as far as AVX2, so one portable binary hashes in about a third less time on a server
//! CPU with AVX-512 (8–9 ms instead of 13: BENCHMARKS.md, `examples/hash_cost.rs`).
//! It is younger than RustCrypto's crate (1.0 in 2026) and, like it, not independently
//! audited; both read and write the same standard PHC strings
//! (`$argon2id$v=19$m=19456,t=2,p=1$…`), so stored hashes do not depend on the choice and
//! going back is a change to this file alone. The tests below hold every SIMD backend of
//! this crate to RustCrypto's output.
//!
//! Each hashing slot lends its hashes a 19 MiB arena (the crate's pooled `Hasher`), wiped
//! when a hash returns and kept mapped for the next one, so that a stream of sign-ins
//! does not pay the kernel for a fresh zeroed mapping each time (BENCHMARKS.md, run 11).
//! The arenas go back to the system once no hash has ended for `ARENA_IDLE_RELEASE`, so an
//! idle server holds none.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use argon2_rust::params::{Memory, TagLen};
use argon2_rust::{Algorithm, Argon2, Error as Argon2Error, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::keyed::{KeyGuard, KeyedLocks};
use crate::config::AuthConfig;
use crate::error::{AppError, AppResult};

/// The most a stored hash may ask of a verification. A hash in the database was written
/// by this server, but a row is still data: a string asking for terabytes or thousands of
/// passes is refused before anything is allocated. Far above any sensible setting, so
/// that hashes made before a change of parameters still verify. (One asking for more
/// memory than the server's own parameters runs on an arena of its own, not a kept one.)
const CEILING: Params = Params::builder()
    .memory(Memory::gib(1))
    .passes(64)
    .lanes(16)
    .threads(1)
    .tag_len(TagLen::bytes(64))
    .build_or_panic();

/// How long the hashing arenas are kept after the last hash ended.
const ARENA_IDLE_RELEASE: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Hasher {
    /// A hash of a random password, verified when an e-mail has no account so that the
    /// answer takes as long as for a real account.
    dummy: Arc<String>,
    permits: Arc<Semaphore>,
    arenas: Arc<Arenas>,
    attempts: Arc<KeyedLocks>,
}

impl Hasher {
    pub fn new(cfg: &AuthConfig) -> AppResult<Self> {
        Self::keeping_arenas(cfg, ARENA_IDLE_RELEASE)
    }

    fn keeping_arenas(cfg: &AuthConfig, idle: Duration) -> AppResult<Self> {
        let argon2 = argon2id(cfg.argon2_m_kib, cfg.argon2_t, cfg.argon2_p).map_err(AppError::internal)?;
        let dummy =
            argon2.hash_password_with_random_salt(super::rules::new_secret().as_bytes()).map_err(AppError::internal)?;
        Ok(Hasher {
            dummy: Arc::new(dummy),
            permits: Arc::new(Semaphore::new(cfg.hash_slots.max(1))),
            arenas: Arc::new(Arenas::new(argon2, idle)),
            attempts: Arc::default(),
        })
    }

    /// A PHC string for `password` with a fresh 16-byte salt from the system's generator.
    pub async fn hash(&self, password: &str) -> AppResult<String> {
        let mut slot = self.permit().await?;
        let pw = password.to_owned();
        let hashed = slot.off_runtime(move |arena| arena.hash_password_with_random_salt(pw.as_bytes())).await?;
        hashed.map_err(AppError::internal)
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
        let slot = self.permits.clone().acquire_owned().await.map_err(AppError::internal)?;
        Ok(HashPermit { arena: None, arenas: self.arenas.clone(), _slot: slot })
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is none
    /// (and then answers false), in the slot. A stored value that is not a hash this
    /// server could have written answers false, and is logged.
    pub async fn verify(&self, slot: &mut HashPermit, password: &str, stored: Option<&str>) -> AppResult<bool> {
        let real = stored.is_some();
        let hash = stored.map(str::to_owned).unwrap_or_else(|| (*self.dummy).clone());
        let pw = password.to_owned();
        let outcome = slot
            .off_runtime(move |arena| arena.verify_encoded_bounded(&hash, pw.as_bytes(), Algorithm::Argon2id, &CEILING))
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

/// A held hashing slot (see `Hasher::permit`), with the arena its hashes use.
pub struct HashPermit {
    arena: Option<argon2_rust::Hasher>,
    arenas: Arc<Arenas>,
    _slot: OwnedSemaphorePermit,
}

impl HashPermit {
    /// Runs `hash` on the blocking pool with a kept arena (or a new one). A hash that
    /// panics takes its arena with it.
    async fn off_runtime<T: Send + 'static>(
        &mut self,
        hash: impl FnOnce(&mut argon2_rust::Hasher) -> T + Send + 'static,
    ) -> AppResult<T> {
        let mut arena = self.arena.take().unwrap_or_else(|| self.arenas.take());
        let (out, arena) =
            tokio::task::spawn_blocking(move || (hash(&mut arena), arena)).await.map_err(AppError::internal)?;
        self.arena = Some(arena);
        Ok(out)
    }
}

impl Drop for HashPermit {
    fn drop(&mut self) {
        // Before the slot itself is given back (fields drop after this), so that the
        // next holder finds the arena.
        if let Some(arena) = self.arena.take() {
            self.arenas.put_back(arena);
        }
    }
}

/// The arenas of the slots not in use, given back to the system once no hash has ended
/// for `idle`.
struct Arenas {
    argon2: Argon2,
    kept: Mutex<Kept>,
    idle: Duration,
    /// Counts the arenas made (a new one maps its memory at its first hash).
    made: AtomicU64,
}

#[derive(Default)]
struct Kept {
    arenas: Vec<argon2_rust::Hasher>,
    last_return: Option<Instant>,
    /// A task waits to give the arenas back (`release_when_idle`).
    release_pending: bool,
}

impl Arenas {
    fn new(argon2: Argon2, idle: Duration) -> Self {
        Arenas { argon2, kept: Mutex::default(), idle, made: AtomicU64::new(0) }
    }

    fn kept(&self) -> MutexGuard<'_, Kept> {
        // Each change under the lock leaves it consistent, even if a panic follows.
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A kept arena, or a hasher that maps a new one at its first hash.
    fn take(&self) -> argon2_rust::Hasher {
        self.kept().arenas.pop().unwrap_or_else(|| {
            self.made.fetch_add(1, Ordering::Relaxed);
            self.argon2.hasher()
        })
    }

    fn put_back(self: &Arc<Self>, arena: argon2_rust::Hasher) {
        let start_release = {
            let mut kept = self.kept();
            kept.arenas.push(arena);
            kept.last_return = Some(Instant::now());
            !std::mem::replace(&mut kept.release_pending, true)
        };
        if start_release {
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn(release_when_idle(Arc::downgrade(self)))),
                // No runtime to wait on: given back at once.
                Err(_) => drop(self.due_release(Instant::now() + self.idle)),
            }
        }
    }

    /// At or after `now + idle` from the last return: every kept arena (each was wiped when
    /// its hash returned; dropped, they unmap), and no release pending any more.
    /// Before: when to look again.
    fn due_release(&self, now: Instant) -> Result<Vec<argon2_rust::Hasher>, Instant> {
        let mut kept = self.kept();
        match kept.last_return.map(|t| t + self.idle) {
            Some(due) if now < due => Err(due),
            _ => {
                kept.release_pending = false;
                Ok(std::mem::take(&mut kept.arenas))
            }
        }
    }

    #[cfg(test)]
    fn kept_count(&self) -> usize {
        self.kept().arenas.iter().filter(|a| a.reserved_blocks() > 0).count()
    }
}

/// Gives the kept arenas back once no arena has come back for `idle`. One such task at a
/// time: a return after it has taken them starts the next.
async fn release_when_idle(arenas: Weak<Arenas>) {
    loop {
        let Some(due) = arenas.upgrade().map(|a| a.due_release(Instant::now())) else { return };
        match due {
            Err(later) => tokio::time::sleep_until(later.into()).await,
            Ok(kept) => {
                // Unmapping is quick, but it is still memory work: off the runtime too.
                drop(tokio::task::spawn_blocking(move || drop(kept)));
                return;
            }
        }
    }
}

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
        let mut slot = h.permit().await.unwrap(); // the only slot: hash before taking it
        assert!(h.verify(&mut slot, "correct horse battery", Some(&stored)).await.unwrap());
        assert!(!h.verify(&mut slot, "wrong horse battery", Some(&stored)).await.unwrap());
        assert!(!h.verify(&mut slot, "anything", None).await.unwrap());
        assert!(!h.verify(&mut slot, "x", Some("not a hash")).await.unwrap());
    }

    /// Hashes stored before the change of crate (RustCrypto's `argon2`, up to
    /// 2026-11-24) still sign their owners in, and what we write now verifies there too:
    /// switching back would need no migration.
    #[tokio::test]
    async fn stored_hashes_are_the_same_strings_as_rustcrypto_argon2_writes() {
        let h = hasher();
        let ours = h.hash("un autre mot de passe").await.unwrap();
        let mut slot = h.permit().await.unwrap(); // the only slot: hash before taking it
        let theirs = theirs(19_456, 2, 1);
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let old = theirs.hash_password("un mot de passe été 2026".as_bytes(), &salt).unwrap().to_string();
        assert!(h.verify(&mut slot, "un mot de passe été 2026", Some(&old)).await.unwrap(), "{old}");
        assert!(!h.verify(&mut slot, "un mot de passe ete 2026", Some(&old)).await.unwrap());

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

    fn arenas_made(h: &Hasher) -> u64 {
        h.arenas.made.load(Ordering::Relaxed)
    }

    /// A stream of hashes reuses the slots' arenas instead of mapping one per hash, keeps
    /// them while hashes go on ending, and an idle server gives them back, each time it
    /// goes idle. (Idle after 600 ms here; every pause below is far shorter.)
    #[tokio::test]
    async fn slots_keep_their_arenas_between_hashes_and_give_them_back_when_idle() {
        let cfg = AuthConfig { hash_slots: 2, ..AuthConfig::default() };
        let h = Hasher::keeping_arenas(&cfg, Duration::from_millis(600)).unwrap();
        let stored = h.hash("first").await.unwrap();
        assert_eq!(h.arenas.kept_count(), 1, "the hash's arena is kept");
        let (mut a, mut b) = (h.permit().await.unwrap(), h.permit().await.unwrap());
        let (ok, wrong) =
            tokio::join!(h.verify(&mut a, "first", Some(&stored)), h.verify(&mut b, "second", Some(&stored)));
        assert!(ok.unwrap() && !wrong.unwrap());
        drop((a, b));
        // Hashes ending every 100 ms for 1.5 s, more than twice the idle delay: kept.
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(1_500) {
            h.hash("again").await.unwrap();
            let mut slot = h.permit().await.unwrap();
            assert!(!h.verify(&mut slot, "x", None).await.unwrap());
            drop(slot);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(arenas_made(&h), 2, "one arena per slot, however many hashes");
        assert_eq!(h.arenas.kept_count(), 2);
        for cycle in 1..=2 {
            tokio::time::sleep(Duration::from_millis(2_000)).await;
            assert_eq!(h.arenas.kept_count(), 0, "given back once idle (cycle {cycle})");
            h.hash("later").await.unwrap();
            assert_eq!((arenas_made(&h), h.arenas.kept_count()), (2 + cycle, 1), "a new arena after idling");
        }
    }

    /// A slot's arena is back in the pool before the slot is: whoever waited for the slot
    /// hashes on it.
    #[tokio::test]
    async fn the_next_holder_of_a_slot_finds_its_arena() {
        let h = Hasher::new(&AuthConfig { hash_slots: 1, ..AuthConfig::default() }).unwrap();
        let mut slot = h.permit().await.unwrap();
        assert!(!h.verify(&mut slot, "x", None).await.unwrap());
        let waiter = {
            let h = h.clone();
            tokio::spawn(async move {
                let mut slot = h.permit().await.unwrap();
                h.verify(&mut slot, "y", None).await.unwrap()
            })
        };
        tokio::task::yield_now().await; // the waiter is queued on the slot
        drop(slot);
        assert!(!waiter.await.unwrap());
        assert_eq!(arenas_made(&h), 1);
    }

    #[tokio::test]
    async fn a_stored_hash_asking_for_too_much_is_refused_without_running() {
        let h = hasher();
        let stored = h.hash("pw").await.unwrap();
        let mut slot = h.permit().await.unwrap();
        let greedy = stored.replace("m=19456", "m=4294967295");
        assert!(!h.verify(&mut slot, "pw", Some(&greedy)).await.unwrap());
    }
}
