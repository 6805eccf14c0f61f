//! Dates are reckoned in Europe/Paris and instants stored in UTC.
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::error::{AppError, AppResult};
use chrono_tz::Europe::Paris;

/// Today's date in Paris: the day on which mandates are judged current.
pub fn today_paris() -> NaiveDate {
    Utc::now().with_timezone(&Paris).date_naive()
}

/// The day (Europe/Paris) of an instant.
pub fn paris_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&Paris).date_naive()
}

/// A Paris wall-clock time as an instant; refused when the time does not exist or is
/// ambiguous (the hour skipped or repeated by a daylight-saving change).
pub fn paris_instant(field: &str, t: NaiveDateTime) -> AppResult<DateTime<Utc>> {
    if !(2000..=2100).contains(&chrono::Datelike::year(&t)) {
        return Err(AppError::validation(field, "a date between the years 2000 and 2100"));
    }
    Paris.from_local_datetime(&t).single().map(|d| d.with_timezone(&Utc)).ok_or_else(|| {
        AppError::validation(field, format!("{t} does not exist or is ambiguous in Europe/Paris (clock change)"))
    })
}

const WEEKDAYS_FR: [&str; 7] = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"];
const MONTHS_FR: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// A day as French letters write it: « lundi 15 mars 2027 » (« 1er » for the first).
pub fn fr_day(d: NaiveDate) -> String {
    use chrono::Datelike;
    let day = if d.day() == 1 { "1er".to_string() } else { d.day().to_string() };
    format!(
        "{} {day} {} {}",
        WEEKDAYS_FR[d.weekday().num_days_from_monday() as usize],
        MONTHS_FR[d.month0() as usize],
        d.year()
    )
}

/// An instant as French letters write it, in Paris time: « lundi 15 mars 2027 à 14 h 30 ».
pub fn fr_datetime(t: DateTime<Utc>) -> String {
    use chrono::Timelike;
    let local = t.with_timezone(&Paris);
    format!("{} à {} h {:02}", fr_day(local.date_naive()), local.hour(), local.minute())
}

#[cfg(test)]
mod french {
    use super::*;

    #[test]
    fn days_and_times_are_written_in_french_in_paris_time() {
        assert_eq!(fr_day(NaiveDate::from_ymd_opt(2027, 3, 1).unwrap()), "lundi 1er mars 2027");
        assert_eq!(fr_day(NaiveDate::from_ymd_opt(2026, 8, 15).unwrap()), "samedi 15 août 2026");
        // 13:30 UTC in winter is 14:30 in Paris; 22:30 UTC on 31 December is already 1 January.
        assert_eq!(fr_datetime(Utc.with_ymd_and_hms(2027, 2, 9, 13, 30, 0).unwrap()), "mardi 9 février 2027 à 14 h 30");
        assert_eq!(
            fr_datetime(Utc.with_ymd_and_hms(2026, 12, 31, 23, 5, 0).unwrap()),
            "vendredi 1er janvier 2027 à 0 h 05"
        );
    }
}
