//! Dates are reckoned in Europe/Paris and instants stored in UTC.
use chrono::{NaiveDate, Utc};
use chrono_tz::Europe::Paris;

/// Today's date in Paris: the day on which mandates are judged current.
pub fn today_paris() -> NaiveDate {
    Utc::now().with_timezone(&Paris).date_naive()
}
