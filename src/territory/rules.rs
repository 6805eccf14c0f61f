//! Parsed territory identifiers: an `InseeCode` or a `Siren` that exists has been checked.
use std::fmt;

use chrono::NaiveDate;

/// A commune's INSEE code (code officiel géographique): five characters, the first two
/// the département: two digits, "2A"/"2B" for Corsica, or "97" + a digit overseas.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InseeCode(String);

impl InseeCode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_ascii_uppercase();
        let b = s.as_bytes();
        if b.len() != 5 {
            return Err(format!("INSEE code must have 5 characters, got {:?}", raw));
        }
        let dep_ok = match (b[0], b[1]) {
            (b'2', b'A') | (b'2', b'B') => true,
            (x, y) => x.is_ascii_digit() && y.is_ascii_digit() && !(x == b'0' && y == b'0'),
        };
        if !dep_ok || !b[2..].iter().all(u8::is_ascii_digit) {
            return Err(format!("INSEE code {:?} is not digits (or 2A/2B for Corsica)", raw));
        }
        if &s[..2] == "20" {
            return Err(format!("INSEE code {:?}: Corsican communes use 2A or 2B", raw));
        }
        Ok(InseeCode(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The département the code belongs to ("13", "2A", "971").
    pub fn departement(&self) -> &str {
        if self.0.starts_with("97") || self.0.starts_with("98") {
            &self.0[..3]
        } else {
            &self.0[..2]
        }
    }
}

impl fmt::Display for InseeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A SIREN number: nine digits whose last is a Luhn check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Siren(String);

impl Siren {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if s.len() != 9 || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!("SIREN must be 9 digits, got {:?}", raw));
        }
        if !luhn_valid(&s) {
            return Err(format!("SIREN {s} fails its Luhn check digit"));
        }
        Ok(Siren(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Siren {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = u32::from(c - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether a membership with these dates runs on `day`: from `start` (unknown: always
/// was) to `end` exclusive.
pub fn membership_runs(start: Option<NaiveDate>, end: Option<NaiveDate>, day: NaiveDate) -> bool {
    start.is_none_or(|s| s <= day) && end.is_none_or(|e| day < e)
}

pub use crate::platform::text::search_key;

str_enum!(
    /// Legal form of an intercommunality, as the official files name it.
    LegalForm {
        /// Métropole (21 in France).
        Metro = "METRO",
        /// Communauté urbaine.
        Cu = "CU",
        /// Communauté d'agglomération.
        Ca = "CA",
        /// Communauté de communes.
        Cc = "CC",
        /// Métropole de Lyon: a territorial collectivity, not an EPCI.
        Met69 = "MET69",
        /// Établissement public territorial of the Grand Paris métropole.
        Ept = "EPT",
    }
);

impl LegalForm {
    /// A legal form read from an official file: an unknown one is the file's error.
    pub fn parse_official(raw: &str) -> Result<Self, String> {
        Self::parse(raw).ok_or_else(|| format!("unknown legal form {raw:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insee_codes() {
        assert_eq!(InseeCode::parse("13055").unwrap().departement(), "13");
        assert_eq!(InseeCode::parse("2a004").unwrap().as_str(), "2A004");
        assert_eq!(InseeCode::parse("2B033").unwrap().departement(), "2B");
        assert_eq!(InseeCode::parse("97411").unwrap().departement(), "974");
        for bad in ["1305", "130555", "2C004", "20004", "1305A", "00001", "", "AB123"] {
            assert!(InseeCode::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn search_keys_fold_case_accents_and_punctuation() {
        assert_eq!(search_key("Berre-l'Étang"), "berre l etang");
        assert_eq!(search_key("  SAINT-ÉTIENNE "), "saint etienne");
        assert_eq!(search_key("Châteauneuf-les-Martigues"), "chateauneuf les martigues");
        assert_eq!(search_key("Œuilly"), "oeuilly");
        assert_eq!(search_key("%_"), "");
    }

    #[test]
    fn sirens() {
        // Aix-Marseille-Provence and Marseille, from the official files.
        assert!(Siren::parse("200054807").is_ok());
        assert!(Siren::parse("211300553").is_ok());
        assert!(Siren::parse("200054808").is_err());
        assert!(Siren::parse("20005480").is_err());
        assert!(Siren::parse("20005480A").is_err());
    }
}
