//! Storage of referrals (saisines): the referral, one row per addressee commune holding
//! its frozen population and its response, the revisions of every response, the versioned
//! forms of data collections, documents, signature delegations and the reminders sent.
//!
//! Statuses, kinds and modes are the enums of `rules` (stored as their strings); lists
//! and JSON documents are JSON columns (jsonb on PostgreSQL, JSON text on SQLite:
//! migration 000011).
use sea_orm::FromJsonQueryResult;
use serde::{Deserialize, Serialize};

/// Days before the deadline when reminders go, e.g. [15, 7, 1] (a JSON array).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(transparent)]
pub struct Days(pub Vec<i32>);

/// Row ids of communes (a JSON array).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(transparent)]
pub struct CommuneIds(pub Vec<i32>);

entity!(referral, "referral", {
    /// None: a national consultation (administrators only).
    intercommunality_id: Option<i32>,
    kind: crate::referrals::rules::ReferralKind,
    procedure: crate::referrals::rules::Procedure,
    title: String,
    description: Option<String>,
    legal_basis: String,
    body_id: Option<i32>,
    meeting_id: Option<i32>,
    status: crate::referrals::rules::ReferralStatus,
    addressee_mode: crate::referrals::rules::AddresseeMode,
    /// The chosen communes (SUBSET, SINGLE_COMMUNE).
    chosen_communes: Option<crate::referrals::model::CommuneIds>,
    duration_months: Option<i32>,
    /// For procedures without a legal duration: the last day (Paris) to answer.
    deadline_date: Option<Date>,
    silence: crate::referrals::rules::Silence,
    decision: crate::referrals::rules::Decision,
    strict_second_branch: bool,
    secretariat_only: bool,
    /// Days before the deadline, largest first ([15, 7, 1]).
    reminder_days: crate::referrals::model::Days,
    clock_start_date: Option<Date>,
    opened_at: Option<DateTimeUtc>,
    deadline: Option<DateTimeUtc>,
    closed_at: Option<DateTimeUtc>,
    created_by_account_id: Option<i32>,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
    version: i32,
});

entity!(referral_addressee, "referral_addressee", {
    referral_id: i32,
    commune_id: i32,
    population: Option<i64>,
    population_year: Option<i32>,
    population_source: Option<String>,
    status: crate::referrals::rules::ResponseStatus,
    opinion: Option<crate::referrals::rules::Opinion>,
    reasons: Option<String>,
    deliberation_number: Option<String>,
    deliberation_date: Option<Date>,
    /// JSON object: field key -> value.
    answers: Option<Json>,
    form_version: Option<i32>,
    submitted_at: Option<DateTimeUtc>,
    submitted_by_person_id: Option<i32>,
    saved_at: Option<DateTimeUtc>,
    saved_by_person_id: Option<i32>,
    version: i32,
});

entity!(response_revision, "response_revision", {
    addressee_id: i32,
    revision: i32,
    status: crate::referrals::rules::ResponseStatus,
    opinion: Option<crate::referrals::rules::Opinion>,
    reasons: Option<String>,
    deliberation_number: Option<String>,
    deliberation_date: Option<Date>,
    answers: Option<Json>,
    form_version: Option<i32>,
    person_id: Option<i32>,
    at: DateTimeUtc,
});

entity!(referral_form, "referral_form", {
    referral_id: i32,
    form_version: i32,
    /// JSON array of field definitions (`form::Field`).
    fields: Option<Json>,
    created_at: DateTimeUtc,
});

entity!(referral_document, "referral_document", {
    referral_id: i32,
    commune_id: Option<i32>,
    filename: String,
    media_type: String,
    size_bytes: i64,
    /// Names the content, kept apart in platform::documents (never loaded with this row).
    sha256: String,
    uploaded_by_account_id: Option<i32>,
    uploaded_at: DateTimeUtc,
});

entity!(signature_delegation, "signature_delegation", {
    commune_id: i32,
    person_id: i32,
    mayor_mandate_id: i32,
    start_date: Date,
    /// Exclusive; set when revoked.
    end_date: Option<Date>,
    created_at: DateTimeUtc,
});

entity!(referral_reminder, "referral_reminder", {
    referral_id: i32,
    offset_days: i32,
    deadline: DateTimeUtc,
    sent_at: DateTimeUtc,
    recipients: i32,
});
