//! Queueing e-mails with their event, on the change's own transaction: one `delivery` row
//! per recipient who has an address (their contact address, else the one they sign in
//! with) and has not turned the kind off, immediate or for the
//! daily digest as they chose. Legal notices (convocations, referrals addressed to the
//! commune) always go at once, whatever the choice.
use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use super::model::{delivery, notification_preference, DeliveryMode, DeliveryStatus, EMAIL};
use crate::auth::model::account;
use crate::error::AppResult;
use crate::people::model::person;
use crate::platform::notify::NotificationKind;

const CHUNK: usize = 500;

/// The daily digest goes at 07:00, Europe/Paris.
pub const DIGEST_HOUR: u32 = 7;

/// The first digest time (`hour`:00, Europe/Paris) strictly after `now`.
pub fn next_digest(now: DateTime<Utc>, hour: u32) -> DateTime<Utc> {
    let at = NaiveTime::from_hms_opt(hour.min(23), 0, 0).unwrap_or(NaiveTime::MIN);
    let mut day = now.with_timezone(&Paris).date_naive();
    loop {
        // The hour always exists in Paris (clock changes happen at 2 and 3 in the night;
        // `earliest` settles the repeated hour).
        if let Some(t) = Paris.from_local_datetime(&day.and_time(at)).earliest() {
            let t = t.with_timezone(&Utc);
            if t > now {
                return t;
            }
        }
        day = day.succ_opt().unwrap_or(day + Duration::days(1));
    }
}

/// Queues the e-mails of event `event_id` (of `kind`) to `people` (sorted, distinct);
/// returns how many were queued.
pub async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    event_id: i32,
    kind: NotificationKind,
    people: &[i32],
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let mut queued = 0;
    for chunk in people.chunks(CHUNK) {
        let mut addresses: Vec<(i32, Option<String>)> = person::Entity::find()
            .select_only()
            .column(person::Column::Id)
            .column(person::Column::Email)
            .filter(person::Column::Id.is_in(chunk.iter().copied()))
            .filter(person::Column::Email.is_not_null())
            .into_tuple()
            .all(conn)
            .await?;
        // Without a contact address, the address they sign in with (an active account's).
        if addresses.len() < chunk.len() {
            let have: std::collections::HashSet<i32> = addresses.iter().map(|(p, _)| *p).collect();
            let rest: Vec<i32> = chunk.iter().copied().filter(|p| !have.contains(p)).collect();
            let accounts: Vec<(i32, String)> = account::Entity::find()
                .select_only()
                .column(account::Column::PersonId)
                .column(account::Column::Email)
                .filter(account::Column::PersonId.is_in(rest))
                .filter(account::Column::Active.eq(true))
                .into_tuple()
                .all(conn)
                .await?;
            let mut seen = std::collections::HashSet::new();
            addresses.extend(accounts.into_iter().filter(|(p, _)| seen.insert(*p)).map(|(p, e)| (p, Some(e))));
        }
        if addresses.is_empty() {
            continue;
        }
        let modes: HashMap<i32, DeliveryMode> = if kind.is_legal() {
            HashMap::new()
        } else {
            notification_preference::Entity::find()
                .filter(notification_preference::Column::Kind.eq(kind))
                .filter(notification_preference::Column::PersonId.is_in(addresses.iter().map(|(p, _)| *p)))
                .all(conn)
                .await?
                .into_iter()
                .map(|p| (p.person_id, p.mode))
                .collect()
        };
        let rows: Vec<delivery::ActiveModel> = addresses
            .into_iter()
            .filter_map(|(p, address)| {
                let address = address?;
                let mode = modes.get(&p).copied().unwrap_or(DeliveryMode::Immediate);
                let (digest, at) = match mode {
                    DeliveryMode::None => return None,
                    DeliveryMode::Immediate => (false, now),
                    DeliveryMode::Digest => (true, next_digest(now, DIGEST_HOUR)),
                };
                Some(row(event_id, p, address, digest, at, None, now))
            })
            .collect();
        queued += rows.len();
        if !rows.is_empty() {
            delivery::Entity::insert_many(rows).exec(conn).await?;
        }
    }
    Ok(queued)
}

/// A queued delivery row, due `at`.
fn row(
    event_id: i32,
    person: i32,
    address: String,
    digest: bool,
    at: DateTime<Utc>,
    secret: Option<String>,
    now: DateTime<Utc>,
) -> delivery::ActiveModel {
    delivery::ActiveModel {
        event_id: Set(event_id),
        person_id: Set(person),
        channel: Set(EMAIL.into()),
        address: Set(address),
        status: Set(DeliveryStatus::Queued),
        digest: Set(digest),
        attempts: Set(0),
        next_attempt_at: Set(at),
        leased_until: Set(None),
        answer: Set(None),
        message_id: Set(None),
        accepted_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        secret: Set(secret),
        ..Default::default()
    }
}

/// Queues the one e-mail of an account message (invitation, password reset) to
/// `address`, with the secret of its link (kept until the message is sent or fails).
pub async fn enqueue_secret<C: ConnectionTrait>(
    conn: &C,
    event_id: i32,
    person: i32,
    address: &str,
    secret: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    row(event_id, person, address.to_string(), false, now, Some(secret.to_string()), now).insert(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Paris.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_digest_goes_at_the_next_hour_in_paris() {
        // Before 07:00: the same morning; at or after: the next one.
        assert_eq!(next_digest(paris(2027, 1, 10, 6, 59), 7), paris(2027, 1, 10, 7, 0));
        assert_eq!(next_digest(paris(2027, 1, 10, 7, 0), 7), paris(2027, 1, 11, 7, 0));
        assert_eq!(next_digest(paris(2027, 1, 10, 18, 0), 7), paris(2027, 1, 11, 7, 0));
        // Across the spring clock change (28 March 2027): 07:00 Paris is 05:00 UTC, not 06:00.
        let t = next_digest(paris(2027, 3, 27, 20, 0), 7);
        assert_eq!(t, Utc.with_ymd_and_hms(2027, 3, 28, 5, 0, 0).unwrap());
        // And in winter 07:00 Paris is 06:00 UTC.
        assert_eq!(next_digest(paris(2027, 12, 1, 8, 0), 7), Utc.with_ymd_and_hms(2027, 12, 2, 6, 0, 0).unwrap());
    }
}
