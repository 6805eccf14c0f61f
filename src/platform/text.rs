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

/// What searches compare: lower case, accents removed (deunicode: "œ" is "oe"), every
/// other character than a letter or digit a space, spaces folded. Computed in Rust and
/// stored, so SQLite (whose lower() folds ASCII only) and PostgreSQL answer the same:
/// "etang" finds "Berre-l'Étang", "saint etienne" finds "Saint-Étienne".
pub fn search_key(text: &str) -> String {
    let ascii = deunicode::deunicode(text).to_lowercase();
    let spaced: String = ascii.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Longest full-text query, in characters, and most words it may hold.
pub const QUERY_CHARS: usize = 200;
pub const QUERY_WORDS: usize = 8;

/// The words of a full-text query as both databases' indexes hold them (`search_key`):
/// words of one letter (the "l" of "l'école") are left out, each word matches as a
/// prefix ("transport" finds "transports"). VALIDATION on `field` when nothing is left
/// or the query is too long.
pub fn query_words(field: &str, query: &str) -> AppResult<Vec<String>> {
    if query.chars().count() > QUERY_CHARS {
        return Err(AppError::validation(field, format!("a search holds at most {QUERY_CHARS} characters")));
    }
    let key = search_key(query);
    let mut words: Vec<String> = key.split(' ').filter(|w| w.len() > 1).map(|w| w.chars().take(40).collect()).collect();
    words.dedup();
    if words.is_empty() {
        return Err(AppError::validation(field, "search for at least one word of two letters or more"));
    }
    if words.len() > QUERY_WORDS {
        return Err(AppError::validation(field, format!("a search holds at most {QUERY_WORDS} words")));
    }
    Ok(words)
}

/// About `width` characters of `text` around its first word that one of `words` starts
/// (as `search_key` folds it), with "…" where it was cut; the start of the text when no
/// word matches.
pub fn excerpt(text: &str, words: &[String], width: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut at = None;
    let mut i = 0;
    while i < chars.len() && at.is_none() {
        if chars[i].is_alphanumeric() {
            let start = i;
            while i < chars.len() && chars[i].is_alphanumeric() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let key = search_key(&word);
            if words.iter().any(|w| key.starts_with(w.as_str())) {
                at = Some(start);
            }
        } else {
            i += 1;
        }
    }
    let from = at.map_or(0, |a| a.saturating_sub(width / 3));
    let to = (from + width).min(chars.len());
    let mut out: String = chars[from..to].iter().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ");
    if from > 0 {
        out.insert(0, '…');
    }
    if to < chars.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_fold_accents_and_case_and_excerpts_show_the_first_match() {
        assert_eq!(search_key("L'École des Œuvres, Aix-en-Provence"), "l ecole des oeuvres aix en provence");
        assert_eq!(query_words("q", "l'ÉCOLE  écoles").unwrap(), vec!["ecole", "ecoles"]);
        assert!(query_words("q", "l' d'").is_err());
        let nine: Vec<String> = (0..9).map(|i| format!("mot{i}")).collect();
        assert!(query_words("q", &nine.join(" ")).is_err());
        assert_eq!(query_words("q", "mot mot mot").unwrap(), vec!["mot"]);
        assert!(query_words("q", &"a".repeat(201)).is_err());
        let text = format!("{} La desserte des écoles en bus. {}", "x ".repeat(100), "y ".repeat(100));
        let e = excerpt(&text, &["ecole".to_string()], 60);
        assert!(e.starts_with('…') && e.ends_with('…') && e.contains("écoles"), "{e}");
        assert_eq!(excerpt("Court.", &["rien".to_string()], 60), "Court.");
    }

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
