//! Relay global object identifiers: base64url of "Type:id", opaque to clients.
use async_graphql::ID;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::AppError;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Commune,
    Intercommunality,
    Territory,
    Person,
    Mandate,
    AuditEntry,
    Body,
    BodySeat,
    Meeting,
    AgendaItem,
    Document,
    Proxy,
    MeetingRequest,
    Referral,
    ReferralResponse,
    ReferralDocument,
    SignatureDelegation,
    Notification,
    Policy,
    PolicySection,
    PolicyVersion,
    PolicyContribution,
    PolicyStep,
    PolicyDocument,
    Delivery,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Commune => "Commune",
            Kind::Intercommunality => "Intercommunality",
            Kind::Territory => "Territory",
            Kind::Person => "Person",
            Kind::Mandate => "Mandate",
            Kind::AuditEntry => "AuditEntry",
            Kind::Body => "Body",
            Kind::BodySeat => "BodySeat",
            Kind::Meeting => "Meeting",
            Kind::AgendaItem => "AgendaItem",
            Kind::Document => "Document",
            Kind::Proxy => "Proxy",
            Kind::MeetingRequest => "MeetingRequest",
            Kind::Referral => "Referral",
            Kind::ReferralResponse => "ReferralResponse",
            Kind::ReferralDocument => "ReferralDocument",
            Kind::SignatureDelegation => "SignatureDelegation",
            Kind::Notification => "Notification",
            Kind::Policy => "Policy",
            Kind::PolicySection => "PolicySection",
            Kind::PolicyVersion => "PolicyVersion",
            Kind::PolicyContribution => "Contribution",
            Kind::PolicyStep => "PolicyStep",
            Kind::PolicyDocument => "PolicyDocument",
            Kind::Delivery => "Delivery",
        }
    }
    const ALL: [Kind; 25] = [
        Kind::Commune,
        Kind::Intercommunality,
        Kind::Territory,
        Kind::Person,
        Kind::Mandate,
        Kind::AuditEntry,
        Kind::Body,
        Kind::BodySeat,
        Kind::Meeting,
        Kind::AgendaItem,
        Kind::Document,
        Kind::Proxy,
        Kind::MeetingRequest,
        Kind::Referral,
        Kind::ReferralResponse,
        Kind::ReferralDocument,
        Kind::SignatureDelegation,
        Kind::Notification,
        Kind::Policy,
        Kind::PolicySection,
        Kind::PolicyVersion,
        Kind::PolicyContribution,
        Kind::PolicyStep,
        Kind::PolicyDocument,
        Kind::Delivery,
    ];

    /// The kind a type name stands for ("Commune" -> Kind::Commune).
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

pub fn encode(kind: Kind, id: i32) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{}", kind.name(), id)))
}

/// Decodes any global ID into its kind and database id.
pub fn decode_any(field: &str, id: &ID) -> Result<(Kind, i32), AppError> {
    let bad = || AppError::validation(field, format!("{:?} is not a valid ID", id.as_str()));
    let raw = URL_SAFE_NO_PAD.decode(id.as_bytes()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (name, num) = text.split_once(':').ok_or_else(bad)?;
    let kind = Kind::parse(name).ok_or_else(bad)?;
    let n: i32 = num.parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(bad());
    }
    Ok((kind, n))
}

/// Decodes a global ID that must be of the given kind.
pub fn decode(field: &str, kind: Kind, id: &ID) -> Result<i32, AppError> {
    match decode_any(field, id)? {
        (k, n) if k == kind => Ok(n),
        _ => Err(AppError::validation(field, format!("ID is not a {}", kind.name()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn round_trip_and_rejects() {
        let id = encode(Kind::Commune, 42);
        assert_eq!(decode("id", Kind::Commune, &id).unwrap(), 42);
        assert!(decode("id", Kind::Person, &id).is_err());
        assert!(decode_any("id", &ID("not base64!".into())).is_err());
        assert!(decode_any("id", &ID(URL_SAFE_NO_PAD.encode("Commune:-1"))).is_err());
        assert!(decode_any("id", &ID(URL_SAFE_NO_PAD.encode("Nope:1"))).is_err());
    }
}
