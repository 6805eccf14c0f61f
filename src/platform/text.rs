//! Text inputs: the rule every text a client sends obeys, whatever field it fills.
//!
//! Control characters (C0 except TAB, LF and CR; DEL; C1, U+0080 to U+009F) have no place
//! in a name, a title or a minute, and PostgreSQL refuses U+0000 outright ("invalid byte
//! sequence"), while SQLite would store it. Refusing them for every text alike gives the
//! same answer on both databases. Newlines and tabs stay allowed: multi-line texts
//! (minutes, motives, answers) need them; single-line fields check that themselves.
//!
//! `input::check_request` applies this rule to every string of a request before it runs;
//! `check_text` is here for inputs that arrive another way (files, imports).
use crate::error::{AppError, AppResult};

/// The first control character of `s` that a text may not hold, with its position in
/// characters (0-based).
pub fn forbidden_char(s: &str) -> Option<(usize, char)> {
    s.chars().enumerate().find(|&(_, c)| is_forbidden(c))
}

/// Unicode's control characters (general category Cc: C0, DEL and C1), except the three
/// that lay text out.
pub fn is_forbidden(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// The message for a text refused by `forbidden_char`.
pub fn refusal(field: &str, at: usize, c: char) -> String {
    format!("{field} must not contain control characters (U+{:04X} at character {})", c as u32, at + 1)
}

/// Refuses `s` with VALIDATION on `field` if it holds a control character.
pub fn check_text(field: &str, s: &str) -> AppResult<()> {
    match forbidden_char(s) {
        Some((at, c)) => Err(AppError::validation(field, refusal(field, at, c))),
        None => Ok(()),
    }
}

/// A required text input, trimmed: 1 to `max` characters, else VALIDATION on `field`.
pub fn required(field: &str, raw: &str, max: usize) -> AppResult<String> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > max {
        return Err(AppError::validation(field, format!("{field} must have 1 to {max} characters")));
    }
    Ok(s.to_string())
}

/// An optional text input, trimmed: blank is none; else as [`required`].
pub fn optional(field: &str, raw: Option<&str>, max: usize) -> AppResult<Option<String>> {
    raw.map(str::trim).filter(|s| !s.is_empty()).map(|s| required(field, s, max)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_but_layout_is_kept() {
        for c in ['\u{0}', '\u{1}', '\u{1b}', '\u{1f}', '\u{7f}', '\u{80}', '\u{85}', '\u{9f}'] {
            assert!(is_forbidden(c), "U+{:04X} should be refused", c as u32);
            assert_eq!(forbidden_char(&format!("ab{c}d")), Some((2, c)));
        }
        for c in ['\t', '\n', '\r', ' ', 'é', '\u{a0}', '\u{2028}', '€'] {
            assert!(!is_forbidden(c), "U+{:04X} should be allowed", c as u32);
        }
        assert!(check_text("title", "Ordre du jour\r\n\t- budget").is_ok());
        let e = check_text("title", "a\u{0}b").unwrap_err();
        assert_eq!(e.code(), "VALIDATION");
        assert_eq!(e.to_string(), "title must not contain control characters (U+0000 at character 2)");
    }
}
