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
