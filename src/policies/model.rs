//! Storage of policies: the policy, its working text (sections edited in place), the
//! versions that freeze it, contributions with their co-signatures and answers, the
//! contributions behind each change, consultations and the approval path. Statuses and
//! kinds are the enums of `rules`.
entity!(policy, "policy", {
    intercommunality_id: i32,
    kind: crate::policies::rules::PolicyKind,
    title: String,
    summary: String,
    /// The lead elected official: a mandate with its delegation (e.g. a vice-president).
    lead_mandate_id: Option<i32>,
    /// The drafting body: a working group or a steering committee.
    drafting_body_id: Option<i32>,
    /// The service of the secretariat in charge.
    secretariat: Option<String>,
    legal_basis: Option<String>,
    status: crate::policies::rules::PolicyStatus,
    /// 1, then one more each time an adopted policy is opened for revision.
    cycle: i32,
    visibility: crate::policies::rules::VisibilityChoice,
    concertation_closes_at: Option<DateTimeUtc>,
    adopted_version_id: Option<i32>,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
    version: i32,
});

entity!(policy_section, "policy_section", {
    policy_id: i32,
    /// A part's article has the part as parent; top-level sections have none.
    parent_id: Option<i32>,
    position: i32,
    title: String,
    /// Markdown.
    body: String,
    updated_at: DateTimeUtc,
    updated_by_account_id: Option<i32>,
    version: i32,
});

entity!(policy_version, "policy_version", {
    policy_id: i32,
    number: i32,
    cycle: i32,
    change_note: String,
    published_at: DateTimeUtc,
    published_by_account_id: Option<i32>,
});

entity!(policy_version_section, "policy_version_section", {
    version_id: i32,
    section_id: i32,
    parent_id: Option<i32>,
    position: i32,
    /// Its place in the whole text, depth first (0, 1, ...).
    ordinal: i32,
    /// Its number in the text: "1", "1.2".
    label: String,
    title: String,
    body: String,
});

entity!(policy_contribution, "policy_contribution", {
    policy_id: i32,
    version_id: i32,
    section_id: Option<i32>,
    kind: crate::policies::rules::ContributionKind,
    parent_id: Option<i32>,
    commune_id: Option<i32>,
    author_person_id: i32,
    author_account_id: i32,
    body: String,
    proposed_text: Option<String>,
    visibility: crate::policies::rules::ContributionVisibility,
    status: crate::policies::rules::ContributionStatus,
    answer: Option<crate::policies::rules::AnswerKind>,
    answer_reasons: Option<String>,
    merged_into_id: Option<i32>,
    answered_at: Option<DateTimeUtc>,
    answered_by_account_id: Option<i32>,
    withdrawn_at: Option<DateTimeUtc>,
    created_at: DateTimeUtc,
    version: i32,
});

entity!(policy_cosignature, "policy_cosignature", {
    contribution_id: i32,
    commune_id: i32,
    person_id: i32,
    /// The author's own commune (the first signature).
    author: bool,
    population: Option<i64>,
    population_year: Option<i32>,
    signed_at: DateTimeUtc,
});

entity!(policy_section_source, "policy_section_source", {
    policy_id: i32,
    section_id: i32,
    contribution_id: i32,
    /// The version the change went into; none until it is published.
    version_id: Option<i32>,
    created_at: DateTimeUtc,
});

entity!(policy_consultation, "policy_consultation", {
    policy_id: i32,
    version_id: i32,
    referral_id: Option<i32>,
    agenda_item_id: Option<i32>,
    created_at: DateTimeUtc,
});

entity!(policy_step, "policy_step", {
    policy_id: i32,
    cycle: i32,
    position: i32,
    kind: crate::policies::rules::StepKind,
    label: String,
    body_id: Option<i32>,
    version_id: Option<i32>,
    outcome: Option<crate::policies::rules::StepOutcome>,
    decided_on: Option<Date>,
    deliberation_number: Option<String>,
    note: Option<String>,
    recorded_at: Option<DateTimeUtc>,
    version: i32,
});

entity!(policy_reminder, "policy_reminder", {
    policy_id: i32,
    cycle: i32,
    /// The closing time the reminder was for (a new closing date has its own reminders).
    closes_at: DateTimeUtc,
    /// Days before the closing day.
    offset_days: i32,
    sent_at: DateTimeUtc,
    recipients: i32,
});

entity!(search_entry, "search_entry", {
    /// POLICY, SECTION (the working text), VERSION_SECTION (the latest published
    /// version's), CONTRIBUTION.
    kind: String,
    target_id: i32,
    policy_id: i32,
    intercommunality_id: i32,
    /// Read by the drafting team only (the working text, contributions kept to it), and
    /// by the author and the communes it acts for.
    restricted: bool,
    author_person_id: Option<i32>,
    commune_id: Option<i32>,
    title: String,
    body: String,
    /// `title` and `body` folded (platform::text::search_key): what the index tokenizes.
    terms: String,
});

entity!(policy_document, "policy_document", {
    policy_id: i32,
    filename: String,
    media_type: String,
    size_bytes: i64,
    /// Its content's key in `document_chunk`.
    sha256: String,
    uploaded_by_account_id: Option<i32>,
    uploaded_at: DateTimeUtc,
});
