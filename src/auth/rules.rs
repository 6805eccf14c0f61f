//! Pure sign-in rules: e-mail and password checks, tokens, throttling arithmetic.
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// A lower-cased, trimmed e-mail address with one '@' and a dotted domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_lowercase();
        let ok = s.len() <= 254
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            })
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Email(s))
        } else {
            Err(format!("{:?} is not an e-mail address", raw.trim()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Password policy (NIST SP 800-63B: length over composition rules).
pub fn check_new_password(pw: &str) -> Result<(), String> {
    let n = pw.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(format!("password must have at least {MIN_PASSWORD_CHARS} characters"));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(format!("password must have at most {MAX_PASSWORD_CHARS} characters"));
    }
    if pw.trim().is_empty() {
        return Err("password must not be blank".into());
    }
    Ok(())
}

/// A fresh random secret (256 bits, hex) for a bearer token or an invitation.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What is stored of a secret: its SHA-256. A stolen database yields no usable token.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A generated password for `account create` when none is given: 20 characters from an
/// unambiguous alphabet (about 110 bits).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20).map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char).collect()
}

/// Delay imposed before checking the attempt numbered `attempt` (1-based) for one e-mail:
/// none up to `slow_after`, then `base`, doubling each time, capped at 8 s.
pub fn slowdown(attempt: i32, slow_after: i32, base: Duration) -> Duration {
    if attempt <= slow_after {
        return Duration::ZERO;
    }
    let exp = (attempt - slow_after - 1).clamp(0, 10) as u32;
    (base * 2u32.pow(exp)).min(Duration::from_secs(8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(Email::parse("  Secretariat@Demo.Entente.fr ").unwrap().as_str(), "secretariat@demo.entente.fr");
        for bad in ["", "a", "a@b", "@b.fr", "a@@b.fr", "a b@c.fr", "a@.fr", "a@fr."] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn passwords() {
        assert!(check_new_password("short").is_err());
        assert!(check_new_password("            ").is_err());
        assert!(check_new_password("correct horse battery").is_ok());
        assert!(check_new_password(&"x".repeat(129)).is_err());
        assert_eq!(generate_password().len(), 20);
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(secret_hash(&a).len(), 64);
        assert_ne!(secret_hash(&a), a);
    }

    #[test]
    fn slowdown_grows_then_caps() {
        let base = Duration::from_millis(500);
        assert_eq!(slowdown(3, 3, base), Duration::ZERO);
        assert_eq!(slowdown(4, 3, base), Duration::from_millis(500));
        assert_eq!(slowdown(5, 3, base), Duration::from_millis(1000));
        assert_eq!(slowdown(40, 3, base), Duration::from_secs(8));
    }
}
