//! Date inputs: every date and date-time a client sends lies between the years 2000 and
//! 2100. Nothing the platform records happens outside them, and out of them chrono's
//! range is wider than PostgreSQL's (a year -262143 is refused there, stored by SQLite).
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};

pub const FIRST_YEAR: i32 = 2000;
pub const LAST_YEAR: i32 = 2100;

/// The GraphQL scalars that carry a date, as async-graphql names them.
pub const DATE_SCALARS: [&str; 3] = ["NaiveDate", "NaiveDateTime", "DateTime"];

pub fn year_in_range(year: i32) -> bool {
    (FIRST_YEAR..=LAST_YEAR).contains(&year)
}

/// The year of `s` read as the scalar `scalar` reads it (the same formats as
/// async-graphql's chrono scalars); None when `s` is not such a value (the scalar itself
/// then refuses it) or `scalar` is not a date scalar.
pub fn year_of(scalar: &str, s: &str) -> Option<i32> {
    match scalar {
        "NaiveDate" => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| d.year()),
        "NaiveDateTime" => NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|d| d.year()),
        "DateTime" => s.parse::<DateTime<Utc>>().ok().map(|d| d.year()),
        _ => None,
    }
}

/// The refusal message for `s`, a value of the date scalar `scalar`, if its year is out
/// of range.
pub fn out_of_range(field: &str, scalar: &str, s: &str) -> Option<String> {
    let year = year_of(scalar, s)?;
    (!year_in_range(year))
        .then(|| format!("{field} must lie between the years {FIRST_YEAR} and {LAST_YEAR} (got year {year})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_are_bounded_for_every_date_scalar() {
        assert!(out_of_range("d", "NaiveDate", "2000-01-01").is_none());
        assert!(out_of_range("d", "NaiveDate", "2100-12-31").is_none());
        assert!(out_of_range("d", "NaiveDate", "1999-12-31").is_some());
        assert!(out_of_range("d", "NaiveDate", "2101-01-01").is_some());
        assert!(out_of_range("d", "NaiveDate", "-262143-01-01").is_some());
        assert!(out_of_range("d", "NaiveDate", "+262142-01-01").is_some());
        assert!(out_of_range("d", "NaiveDateTime", "2026-03-01T10:00:00").is_none());
        assert!(out_of_range("d", "NaiveDateTime", "-262143-01-01T10:00:00").is_some());
        assert!(out_of_range("d", "NaiveDateTime", "2101-01-01T00:00:00.5").is_some());
        assert!(out_of_range("d", "DateTime", "2026-03-01T10:00:00Z").is_none());
        assert!(out_of_range("d", "DateTime", "1999-12-31T23:00:00+00:00").is_some());
        // Not a date: left to the scalar, which refuses it with its own message.
        assert!(out_of_range("d", "NaiveDate", "tomorrow").is_none());
        assert!(out_of_range("d", "String", "1999-01-01").is_none());
        assert_eq!(
            out_of_range("clockStartsOn", "NaiveDate", "1999-01-01").as_deref(),
            Some("clockStartsOn must lie between the years 2000 and 2100 (got year 1999)")
        );
    }
}
