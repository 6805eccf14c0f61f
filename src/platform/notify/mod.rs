//! Notifications as typed events written to an outbox, in the transaction of the change
//! they tell of (ARCHITECTURE.md, "a shared platform"; issue 14).
//!
//! A domain builds an [`Event`] (one variant per [`NotificationKind`], carrying what it is
//! about and the few facts a message needs) and calls [`emit`] on its own transaction
//! with the people to tell. `emit` writes one `outbox_event` row (kind, the event as JSON,
//! the ids it is about, the actor, when) and delivers it in-app at once: one
//! `notification` row per recipient, linked by `event_id`. The change, its event and its
//! notifications commit or roll back together.
//!
//! Delivery on other channels (issue 16: e-mail, live subscriptions) reads the outbox,
//! never the domain tables: an event's payload parses back into its `Event` (whose
//! [`Event::message`] is the text, written in one place), and its recipients are its
//! `notification` rows (unique per (event, person): one message per (event, recipient)).
//! A channel keeps its own per-(event, recipient) state beside them (status, attempts,
//! answer), so the events not yet delivered on it are those without that state, taken
//! with `FOR UPDATE SKIP LOCKED` on PostgreSQL.
//!
//! A person's inbox (reading, the unread count, marking read) is in [`inbox`]; its
//! GraphQL types and roots in [`graphql`].
pub mod graphql;
pub mod inbox;
pub mod model;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde::{Deserialize, Serialize};

use crate::auth::Actor;
use crate::error::{AppError, AppResult};
use model::{notification, outbox_event};

/// Notification rows per INSERT statement.
const CHUNK: usize = 500;

str_enum!(
    /// What a notification tells of.
    NotificationKind {
        /// A member was convened to a meeting (convocation, L2121-10): a legal notice,
        /// always sent by e-mail to those convened electronically.
        MeetingConvened = "MEETING_CONVENED",
        /// A document was added to a meeting after its convocation (pièce ajoutée au
        /// dossier de séance).
        DocumentAdded = "DOCUMENT_ADDED",
        /// A convened meeting's title, times, venue, host commune or link changed.
        MeetingChanged = "MEETING_CHANGED",
        /// A convened meeting was postponed (séance reportée).
        MeetingPostponed = "MEETING_POSTPONED",
        /// A convened meeting was cancelled (séance annulée).
        MeetingCancelled = "MEETING_CANCELLED",
        /// An opinion of the conference of mayors was adopted and published (avis de la
        /// conférence des maires, L5211-40-2), told to every municipal councillor.
        OpinionAdopted = "OPINION_ADOPTED",
        /// A referral was addressed to the commune (saisine).
        ReferralOpened = "REFERRAL_OPENED",
        /// A referral's deadline was extended (échéance reportée).
        DeadlineExtended = "DEADLINE_EXTENDED",
        /// The commune has not answered a referral yet and its deadline nears (relance).
        ReferralReminder = "REFERRAL_REMINDER",
        /// The drafting team answered a contribution to a policy (réponse motivée), told
        /// to its author and co-signers.
        ContributionAnswered = "CONTRIBUTION_ANSWERED",
        /// A new version of a policy was published (nouvelle version), told to the
        /// mayors and DGS of the member communes.
        PolicyVersionPublished = "POLICY_VERSION_PUBLISHED",
        /// A policy's concertation opened, with its closing day (ouverture de la concertation).
        ConcertationOpened = "CONCERTATION_OPENED",
        /// A policy's concertation closes soon and the commune has not contributed yet
        /// (relance de la concertation).
        ConcertationReminder = "CONCERTATION_REMINDER",
        /// A body said its word at a step of a policy's approval path (étape franchie:
        /// validation, avis, approbation, adoption), told to the member communes' mayors
        /// and DGS.
        PolicyStepReached = "POLICY_STEP_REACHED",
        /// A referral closed, with its outcome (saisine close), told to the communes it
        /// was addressed to.
        ReferralClosed = "REFERRAL_CLOSED",
        /// Electronic convocations of a meeting were still not accepted by the SMTP server at
        /// the end of the latest legal sending day: the secretariat is told, to send them
        /// otherwise (alerte d'envoi).
        ConvocationsNotSent = "CONVOCATIONS_NOT_SENT",
        /// A person was invited to an account: the e-mail carries the link to accept.
        AccountInvited = "ACCOUNT_INVITED",
        /// A password reset was asked for the account: the e-mail carries the link.
        PasswordReset = "PASSWORD_RESET",
    }
);

impl NotificationKind {
    /// Legal notices (convocations, referrals addressed to the commune) and the messages
    /// of one's account (invitation, password reset) always go by e-mail, whatever the
    /// person chose for other kinds.
    pub fn is_legal(self) -> bool {
        matches!(
            self,
            NotificationKind::MeetingConvened
                | NotificationKind::ReferralOpened
                | NotificationKind::DeadlineExtended
                | NotificationKind::ReferralReminder
                | NotificationKind::ReferralClosed
                | NotificationKind::AccountInvited
                | NotificationKind::PasswordReset
                | NotificationKind::ConvocationsNotSent
        )
    }
}

/// What happened, with what it is about and what a message needs. Stored as the outbox
/// row's payload: `{"kind": "MEETING_POSTPONED", "meeting": 4, "title": ..., ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE", rename_all_fields = "camelCase")]
pub enum Event {
    /// `sequence`: the meeting's sequence at this convening (its calendar SEQUENCE).
    MeetingConvened {
        meeting: i32,
        title: String,
        sequence: i32,
    },
    DocumentAdded {
        meeting: i32,
        item: Option<i32>,
        document: i32,
        filename: String,
    },
    /// `title`: the meeting's title before the change.
    MeetingChanged {
        meeting: i32,
        title: String,
    },
    MeetingPostponed {
        meeting: i32,
        title: String,
        reason: Option<String>,
    },
    MeetingCancelled {
        meeting: i32,
        title: String,
        reason: Option<String>,
    },
    /// `item`: the adopted opinion's agenda item; `title`, its title.
    OpinionAdopted {
        meeting: i32,
        item: i32,
        title: String,
    },
    /// `deadline_day`: the last day of answer (until 23:59:59, Europe/Paris).
    ReferralOpened {
        referral: i32,
        title: String,
        deadline_day: NaiveDate,
    },
    DeadlineExtended {
        referral: i32,
        title: String,
        deadline_day: NaiveDate,
        reason: String,
    },
    /// `days_left`: whole days from the day of the reminder to the deadline's day.
    ReferralReminder {
        referral: i32,
        title: String,
        deadline_day: NaiveDate,
        days_left: i64,
    },
    /// `answer`: the answer's kind (ACCEPTED, REJECTED...).
    ContributionAnswered {
        policy: i32,
        contribution: i32,
        title: String,
        answer: String,
    },
    PolicyVersionPublished {
        policy: i32,
        title: String,
        number: i32,
    },
    /// `closes_on`: the closing day, Europe/Paris; `closes_at`: the closing time, HH:MM.
    ConcertationOpened {
        policy: i32,
        title: String,
        closes_on: NaiveDate,
        closes_at: String,
    },
    /// `days_left`: whole days from the day of the reminder to the closing day.
    ConcertationReminder {
        policy: i32,
        title: String,
        closes_on: NaiveDate,
        closes_at: String,
        days_left: i64,
    },
    /// `outcome`: the referral's outcome as the secretariat reads it (FAVOURABLE...).
    ReferralClosed {
        referral: i32,
        title: String,
        outcome: String,
    },
    /// `members`: how many convocations were not accepted in time.
    ConvocationsNotSent {
        meeting: i32,
        title: String,
        members: i64,
    },
    /// `account`: the invited account; `expires_at`: when the link stops working.
    AccountInvited {
        account: i32,
        expires_at: DateTime<Utc>,
    },
    PasswordReset {
        account: i32,
        expires_at: DateTime<Utc>,
    },
    /// `step`: the step's label; `outcome`: what the body said (FAVOURABLE, ADOPTED...);
    /// `number`: the version it judged.
    PolicyStepReached {
        policy: i32,
        title: String,
        step: String,
        outcome: String,
        number: i32,
    },
}

/// The records an event is about (the outbox row's and its notifications' columns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct About {
    pub meeting: Option<i32>,
    pub item: Option<i32>,
    pub referral: Option<i32>,
    pub policy: Option<i32>,
}

impl Event {
    pub fn kind(&self) -> NotificationKind {
        use NotificationKind as K;
        match self {
            Event::MeetingConvened { .. } => K::MeetingConvened,
            Event::DocumentAdded { .. } => K::DocumentAdded,
            Event::MeetingChanged { .. } => K::MeetingChanged,
            Event::MeetingPostponed { .. } => K::MeetingPostponed,
            Event::MeetingCancelled { .. } => K::MeetingCancelled,
            Event::OpinionAdopted { .. } => K::OpinionAdopted,
            Event::ReferralOpened { .. } => K::ReferralOpened,
            Event::DeadlineExtended { .. } => K::DeadlineExtended,
            Event::ReferralReminder { .. } => K::ReferralReminder,
            Event::ContributionAnswered { .. } => K::ContributionAnswered,
            Event::PolicyVersionPublished { .. } => K::PolicyVersionPublished,
            Event::ConcertationOpened { .. } => K::ConcertationOpened,
            Event::ConcertationReminder { .. } => K::ConcertationReminder,
            Event::PolicyStepReached { .. } => K::PolicyStepReached,
            Event::ReferralClosed { .. } => K::ReferralClosed,
            Event::ConvocationsNotSent { .. } => K::ConvocationsNotSent,
            Event::AccountInvited { .. } => K::AccountInvited,
            Event::PasswordReset { .. } => K::PasswordReset,
        }
    }

    pub fn about(&self) -> About {
        let meeting = |m: &i32, item: Option<i32>| About { meeting: Some(*m), item, ..About::default() };
        let referral = |r: &i32| About { referral: Some(*r), ..About::default() };
        let policy = |p: &i32| About { policy: Some(*p), ..About::default() };
        match self {
            Event::DocumentAdded { meeting: m, item, .. } => meeting(m, *item),
            Event::MeetingConvened { meeting: m, .. }
            | Event::ConvocationsNotSent { meeting: m, .. }
            | Event::MeetingChanged { meeting: m, .. }
            | Event::MeetingPostponed { meeting: m, .. }
            | Event::MeetingCancelled { meeting: m, .. } => meeting(m, None),
            Event::OpinionAdopted { meeting: m, item, .. } => meeting(m, Some(*item)),
            Event::ReferralOpened { referral: r, .. }
            | Event::DeadlineExtended { referral: r, .. }
            | Event::ReferralReminder { referral: r, .. }
            | Event::ReferralClosed { referral: r, .. } => referral(r),
            Event::AccountInvited { .. } | Event::PasswordReset { .. } => About::default(),
            Event::ContributionAnswered { policy: p, .. }
            | Event::PolicyVersionPublished { policy: p, .. }
            | Event::ConcertationOpened { policy: p, .. }
            | Event::ConcertationReminder { policy: p, .. }
            | Event::PolicyStepReached { policy: p, .. } => policy(p),
        }
    }

    /// The message told to its recipients (in-app; the subject line of an e-mail).
    pub fn message(&self) -> String {
        let reason = |r: &Option<String>| r.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
        match self {
            Event::MeetingConvened { title, .. } => format!("Convocation : « {title} »"),
            Event::DocumentAdded { filename, .. } => format!("Document « {filename} » ajouté au dossier de séance"),
            Event::MeetingChanged { title, .. } => format!("« {title} » : séance modifiée"),
            Event::MeetingPostponed { title, reason: r, .. } => format!("« {title} » : séance reportée{}", reason(r)),
            Event::MeetingCancelled { title, reason: r, .. } => format!("« {title} » : séance annulée{}", reason(r)),
            Event::OpinionAdopted { title, .. } => format!("Avis de la conférence des maires: {title}"),
            Event::ReferralOpened { title, deadline_day, .. } => {
                format!("Saisine « {title} »: réponse attendue avant le {deadline_day} à 23:59:59")
            }
            Event::DeadlineExtended { title, deadline_day, reason, .. } => {
                format!("Saisine « {title} »: échéance reportée au {deadline_day} à 23:59:59 ({reason})")
            }
            Event::ReferralReminder { title, deadline_day, days_left, .. } => {
                format!(
                    "Saisine « {title} »: réponse attendue avant le {deadline_day} à 23:59:59 ({days_left} jour(s))"
                )
            }
            Event::ContributionAnswered { title, answer, .. } => {
                format!("« {title} »: réponse à votre contribution ({answer})")
            }
            Event::PolicyVersionPublished { title, number, .. } => format!("« {title} »: version {number} publiée"),
            Event::ConcertationOpened { title, closes_on, closes_at, .. } => {
                format!("« {title} »: concertation ouverte jusqu'au {closes_on} à {closes_at}")
            }
            Event::ConcertationReminder { title, closes_on, closes_at, days_left, .. } => {
                format!("« {title} »: la concertation se termine le {closes_on} à {closes_at} ({days_left} jour(s))")
            }
            Event::PolicyStepReached { title, step, outcome, number, .. } => {
                format!("« {title} »: {step}, version {number}: {outcome}")
            }
            Event::ReferralClosed { title, outcome, .. } => format!("Saisine « {title} » close : {outcome}"),
            Event::ConvocationsNotSent { title, members, .. } => format!(
                "« {title} » : {members} convocation(s) électronique(s) non acceptée(s) à temps par le serveur de messagerie, à adresser autrement"
            ),
            Event::AccountInvited { .. } => "Votre invitation à rejoindre entente".into(),
            Event::PasswordReset { .. } => "Réinitialisation de votre mot de passe entente".into(),
        }
    }
}

/// Writes `event` to the outbox on the caller's transaction, and its in-app delivery: one
/// notification per recipient (duplicates told once; 500 rows per statement). `actor`:
/// whose change it is (None for the system). Returns how many people were told.
pub async fn emit<C: ConnectionTrait>(
    conn: &C,
    actor: Option<&Actor>,
    event: Event,
    recipients: &[i32],
) -> AppResult<usize> {
    let people = distinct(recipients);
    emit_event(conn, actor, event, &people).await?;
    Ok(people.len())
}

fn distinct(recipients: &[i32]) -> Vec<i32> {
    let mut people = recipients.to_vec();
    people.sort_unstable();
    people.dedup();
    people
}

/// As [`emit`], returning the outbox event's id (for a record that names its e-mails).
pub async fn emit_event<C: ConnectionTrait>(
    conn: &C,
    actor: Option<&Actor>,
    event: Event,
    recipients: &[i32],
) -> AppResult<i32> {
    let people = distinct(recipients);
    let kind = event.kind();
    let about = event.about();
    let message = event.message();
    let payload =
        serde_json::to_value(&event).map_err(|e| AppError::internal(format!("outbox payload of {kind}: {e}")))?;
    let now = Utc::now();
    let row = outbox_event::ActiveModel {
        kind: Set(kind),
        payload: Set(payload),
        meeting_id: Set(about.meeting),
        agenda_item_id: Set(about.item),
        referral_id: Set(about.referral),
        policy_id: Set(about.policy),
        actor_account_id: Set(actor.and_then(|a| a.principal.as_ref()).map(|p| p.account_id)),
        recipients: Set(i32::try_from(people.len()).unwrap_or(i32::MAX)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    for chunk in people.chunks(CHUNK) {
        notification::Entity::insert_many(chunk.iter().map(|p| notification::ActiveModel {
            person_id: Set(*p),
            kind: Set(kind),
            meeting_id: Set(about.meeting),
            agenda_item_id: Set(about.item),
            referral_id: Set(about.referral),
            message: Set(Some(message.clone())),
            created_at: Set(now),
            read_at: Set(None),
            event_id: Set(Some(row.id)),
            ..Default::default()
        }))
        .exec(conn)
        .await?;
    }
    crate::platform::mail::enqueue::enqueue(conn, row.id, kind, &people, now).await?;
    Ok(row.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, 3, 15).unwrap()
    }

    /// One event of each kind.
    fn every() -> Vec<Event> {
        let t = || "Budget".to_string();
        vec![
            Event::MeetingConvened { meeting: 1, title: t(), sequence: 1 },
            Event::DocumentAdded { meeting: 1, item: Some(2), document: 3, filename: "note.pdf".into() },
            Event::MeetingChanged { meeting: 1, title: t() },
            Event::MeetingPostponed { meeting: 1, title: t(), reason: Some("quorum".into()) },
            Event::MeetingCancelled { meeting: 1, title: t(), reason: None },
            Event::OpinionAdopted { meeting: 1, item: 2, title: t() },
            Event::ReferralOpened { referral: 7, title: t(), deadline_day: day() },
            Event::DeadlineExtended { referral: 7, title: t(), deadline_day: day(), reason: "demande".into() },
            Event::ReferralReminder { referral: 7, title: t(), deadline_day: day(), days_left: 7 },
            Event::ContributionAnswered { policy: 3, contribution: 9, title: t(), answer: "ACCEPTED".into() },
            Event::PolicyVersionPublished { policy: 3, title: t(), number: 2 },
            Event::ConcertationOpened { policy: 3, title: t(), closes_on: day(), closes_at: "18:00".into() },
            Event::ConcertationReminder {
                policy: 3,
                title: t(),
                closes_on: day(),
                closes_at: "18:00".into(),
                days_left: 1,
            },
            Event::PolicyStepReached {
                policy: 3,
                title: t(),
                step: "Avis".into(),
                outcome: "FAVOURABLE".into(),
                number: 2,
            },
            Event::ReferralClosed { referral: 7, title: t(), outcome: "FAVOURABLE".into() },
            Event::ConvocationsNotSent { meeting: 1, title: t(), members: 2 },
            Event::AccountInvited { account: 5, expires_at: day().and_hms_opt(12, 0, 0).unwrap().and_utc() },
            Event::PasswordReset { account: 5, expires_at: day().and_hms_opt(12, 0, 0).unwrap().and_utc() },
        ]
    }

    #[test]
    fn every_kind_has_its_event_and_the_payload_names_it() {
        let events = every();
        let kinds: Vec<NotificationKind> = events.iter().map(Event::kind).collect();
        assert_eq!(kinds, NotificationKind::ALL);
        for e in &events {
            let json = serde_json::to_value(e).unwrap();
            assert_eq!(json["kind"], e.kind().as_str(), "{json}");
            // The payload is the whole event: it parses back to the same.
            assert_eq!(serde_json::from_value::<Event>(json).unwrap(), *e);
        }
    }

    #[test]
    fn an_event_is_about_its_records() {
        let e = &every()[1..];
        let m = |item| About { meeting: Some(1), item, ..About::default() };
        assert_eq!(e[0].about(), m(Some(2)));
        assert_eq!(e[2].about(), m(None));
        assert_eq!(e[4].about(), m(Some(2)));
        assert_eq!(e[6].about(), About { referral: Some(7), ..About::default() });
        assert_eq!(e[9].about(), About { policy: Some(3), ..About::default() });
        let json = serde_json::to_value(&e[7]).unwrap();
        assert_eq!(json["deadlineDay"], "2027-03-15");
        assert_eq!(json["daysLeft"], 7);
    }

    #[test]
    fn messages_are_made_from_the_event() {
        let m: Vec<String> = every().iter().map(Event::message).collect();
        assert_eq!(
            m,
            [
                "Convocation : « Budget »",
                "Document « note.pdf » ajouté au dossier de séance",
                "« Budget » : séance modifiée",
                "« Budget » : séance reportée (quorum)",
                "« Budget » : séance annulée",
                "Avis de la conférence des maires: Budget",
                "Saisine « Budget »: réponse attendue avant le 2027-03-15 à 23:59:59",
                "Saisine « Budget »: échéance reportée au 2027-03-15 à 23:59:59 (demande)",
                "Saisine « Budget »: réponse attendue avant le 2027-03-15 à 23:59:59 (7 jour(s))",
                "« Budget »: réponse à votre contribution (ACCEPTED)",
                "« Budget »: version 2 publiée",
                "« Budget »: concertation ouverte jusqu'au 2027-03-15 à 18:00",
                "« Budget »: la concertation se termine le 2027-03-15 à 18:00 (1 jour(s))",
                "« Budget »: Avis, version 2: FAVOURABLE",
                "Saisine « Budget » close : FAVOURABLE",
                "« Budget » : 2 convocation(s) électronique(s) non acceptée(s) à temps par le serveur de messagerie, à adresser autrement",
                "Votre invitation à rejoindre entente",
                "Réinitialisation de votre mot de passe entente",
            ]
        );
    }

    #[test]
    fn stored_kinds_parse_or_fail() {
        for k in NotificationKind::ALL {
            assert_eq!(NotificationKind::parse(k.as_str()), Some(*k));
        }
        assert_eq!(NotificationKind::parse("MEETING_MOVED"), None);
    }

    /// On a real, migrated SQLite database: an emitted event commits with its change, or
    /// rolls back with it, the outbox row and the notifications together.
    mod storage {
        use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, PaginatorTrait, Set, TransactionTrait};

        use super::super::model::{notification, outbox_event};
        use super::super::{emit, Event};

        async fn database(dir: &tempfile::TempDir) -> DatabaseConnection {
            let url = format!("sqlite://{}/outbox.db", dir.path().display());
            let (db, _) = crate::db::connect(&url, 2).await.unwrap();
            crate::db::migrate(&db).await.unwrap();
            db
        }

        async fn person(db: &DatabaseConnection, name: &str) -> i32 {
            let now = chrono::Utc::now();
            crate::people::model::person::ActiveModel {
                given_name: Set(name.into()),
                family_name: Set("Test".into()),
                search_key: Set(name.to_lowercase()),
                email: Set(None),
                scope_intercommunality_id: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                version: Set(1),
                ..Default::default()
            }
            .insert(db)
            .await
            .unwrap()
            .id
        }

        async fn counts(db: &DatabaseConnection) -> (u64, u64) {
            (
                outbox_event::Entity::find().count(db).await.unwrap(),
                notification::Entity::find().count(db).await.unwrap(),
            )
        }

        fn event() -> Event {
            Event::MeetingCancelled { meeting: 1, title: "Budget".into(), reason: None }
        }

        #[tokio::test]
        async fn an_event_commits_or_rolls_back_with_its_change() {
            let dir = tempfile::tempdir().unwrap();
            let db = database(&dir).await;
            let (a, b) = (person(&db, "Anne").await, person(&db, "Bruno").await);

            // Committed: one event, one notification per recipient (told once each).
            let txn = crate::db::write(&db).await.unwrap();
            assert_eq!(emit(&txn, None, event(), &[a, b, a]).await.unwrap(), 2);
            txn.commit().await.unwrap();
            assert_eq!(counts(&db).await, (1, 2));
            let e = outbox_event::Entity::find().one(&db).await.unwrap().unwrap();
            assert_eq!((e.kind.as_str(), e.recipients, e.meeting_id), ("MEETING_CANCELLED", 2, Some(1)));
            assert_eq!(serde_json::from_value::<Event>(e.payload.clone()).unwrap(), event());
            let n = notification::Entity::find().all(&db).await.unwrap();
            assert!(n.iter().all(|n| n.event_id == Some(e.id) && n.kind == super::NotificationKind::MeetingCancelled));

            // The change fails after emitting (a statement of the same transaction is
            // refused): its transaction rolls back, and neither the event nor any
            // notification is left.
            let txn = crate::db::write(&db).await.unwrap();
            assert_eq!(emit(&txn, None, event(), &[a, b]).await.unwrap(), 2);
            let refused = crate::people::model::person::ActiveModel {
                id: Set(a),
                given_name: Set("Doublon".into()),
                family_name: Set("Test".into()),
                search_key: Set("doublon".into()),
                email: Set(None),
                scope_intercommunality_id: Set(None),
                created_at: Set(chrono::Utc::now()),
                updated_at: Set(chrono::Utc::now()),
                version: Set(1),
            }
            .insert(&txn)
            .await;
            assert!(refused.is_err(), "a second person with the same id");
            drop(txn);
            assert_eq!(counts(&db).await, (1, 2));

            // Emitting itself fails (an unknown person: the notification's foreign key)
            // after its outbox row was written: nothing of it stays.
            let txn = db.begin().await.unwrap();
            assert!(emit(&txn, None, event(), &[a, 999_999]).await.is_err());
            drop(txn);
            assert_eq!(counts(&db).await, (1, 2));
        }
    }
}
