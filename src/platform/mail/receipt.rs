//! The read receipt of an electronic convocation (accusé de lecture): its e-mail carries
//! a link signed with the server's key (HMAC-SHA256 of the delivery's id), so that
//! opening it records that the member read the convocation, without signing in and
//! without a token stored anywhere. The page the link opens asks for one click to
//! confirm: mail scanners that open every link of a message must not acknowledge for the
//! member.
use hmac::{Hmac, Mac};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use sha2::Sha256;

use crate::error::{AppError, AppResult};

entity!(server_key, "server_key", {
    name: String,
    /// Hex of 32 random bytes.
    value: String,
    created_at: DateTimeUtc,
});

const NAME: &str = "receipt";

/// The key read-receipt links are signed with: made at the first start, then the same
/// for every instance sharing the database.
pub async fn ensure_key<C: ConnectionTrait>(db: &C) -> AppResult<Vec<u8>> {
    let fresh: [u8; 32] = rand::random();
    server_key::Entity::insert(server_key::ActiveModel {
        name: Set(NAME.into()),
        value: Set(hex::encode(fresh)),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    })
    .on_conflict(OnConflict::column(server_key::Column::Name).do_nothing().to_owned())
    .exec_without_returning(db)
    .await?;
    let row = server_key::Entity::find()
        .filter(server_key::Column::Name.eq(NAME))
        .one(db)
        .await?
        .ok_or_else(|| AppError::internal("the receipt key vanished"))?;
    hex::decode(row.value).map_err(|e| AppError::internal(format!("receipt key: {e}")))
}

/// The MAC of delivery `id`'s receipt (None only for a key HMAC would refuse, which no
/// length is).
fn mac(key: &[u8], id: i32) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(format!("receipt:{id}").as_bytes());
    Some(mac)
}

/// The signature of delivery `id`'s receipt link (hex, 32 characters).
pub fn sign(key: &[u8], id: i32) -> Option<String> {
    Some(hex::encode(&mac(key, id)?.finalize().into_bytes()[..16]))
}

/// Whether `signature` is delivery `id`'s (compared in constant time).
pub fn verify(key: &[u8], id: i32, signature: &str) -> bool {
    let Ok(given) = hex::decode(signature) else { return false };
    given.len() == 16 && mac(key, id).is_some_and(|m| m.verify_truncated_left(&given).is_ok())
}

/// The receipt link of delivery `id`.
pub fn link(public_url: &str, key: &[u8], id: i32) -> Option<String> {
    Some(format!("{}/receipts/{id}/{}", public_url.trim_end_matches('/'), sign(key, id)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_signed_for_its_delivery_only() {
        let key = [7u8; 32];
        let s = sign(&key, 42).unwrap();
        assert_eq!(s.len(), 32);
        assert!(verify(&key, 42, &s));
        assert!(!verify(&key, 43, &s), "another delivery");
        assert!(!verify(&[8u8; 32], 42, &s), "another key");
        assert!(!verify(&key, 42, &s[..30]), "cut short");
        assert!(!verify(&key, 42, "zz"), "not hex");
        assert_eq!(link("https://e.test/", &key, 42), Some(format!("https://e.test/receipts/42/{s}")));
    }
}
