//! Storage of bodies, meetings and everything that happens in them. Statuses, kinds,
//! roles and channels are the enums of `rules` (`str_enum!`), stored as their strings.
entity!(body, "body", {
    intercommunality_id: i32,
    kind: crate::meetings::rules::BodyKind,
    name: String,
    theme: Option<String>,
    notice_clear_days: i32,
    urgency_clear_days: i32,
    note_required: bool,
    quorum_rule: crate::meetings::rules::QuorumRule,
    proxies_allowed: bool,
    proxies_per_holder: i32,
    proxy_max_meetings: i32,
    second_convocation_days: i32,
    legal_source: String,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
    version: i32,
});

entity!(body_seat, "body_seat", {
    body_id: i32,
    person_id: i32,
    role: crate::meetings::rules::SeatRole,
    /// The mandate that qualifies the person (councillor, vice-president, DGA...).
    mandate_id: i32,
    /// For a designation by a mayor: the mayor's mandate; the seat ends with it.
    designated_by_mandate_id: Option<i32>,
    start_date: Date,
    /// Exclusive.
    end_date: Option<Date>,
    created_at: DateTimeUtc,
    version: i32,
});

entity!(meeting_request, "meeting_request", {
    body_id: i32,
    agenda: String,
    status: crate::meetings::rules::RequestStatus,
    created_by_person_id: i32,
    created_at: DateTimeUtc,
    granted_at: Option<DateTimeUtc>,
    due_date: Option<Date>,
    refusal_reason: Option<String>,
    meeting_id: Option<i32>,
    version: i32,
});

entity!(request_signature, "request_signature", {
    request_id: i32,
    person_id: i32,
    commune_id: i32,
    mandate_id: i32,
    signed_at: DateTimeUtc,
});

entity!(meeting, "meeting", {
    body_id: i32,
    title: String,
    status: crate::meetings::rules::MeetingStatus,
    starts_at: DateTimeUtc,
    ends_at: DateTimeUtc,
    venue: Option<String>,
    host_commune_id: Option<i32>,
    online_url: Option<String>,
    urgency_reason: Option<String>,
    convened_at: Option<DateTimeUtc>,
    /// For a second convocation (quorum not reached): the first meeting.
    first_convocation_id: Option<i32>,
    request_id: Option<i32>,
    minutes_text: Option<String>,
    minutes_status: crate::meetings::rules::MinutesStatus,
    minutes_approved_on: Option<Date>,
    minutes_approved_by_item_id: Option<i32>,
    minutes_published_at: Option<DateTimeUtc>,
    decisions_published_at: Option<DateTimeUtc>,
    /// iCalendar SEQUENCE: bumped by every change members were told of.
    sequence: i32,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
    version: i32,
    /// When the secretariat was alerted that electronic convocations were not accepted
    /// by the end of the latest legal sending day (migration 000014).
    convocations_alerted_at: Option<DateTimeUtc>,
});

entity!(agenda_item, "agenda_item", {
    meeting_id: i32,
    position: i32,
    kind: crate::meetings::rules::AgendaItemKind,
    title: String,
    presenter_person_id: Option<i32>,
    note: Option<String>,
    minutes_of_meeting_id: Option<i32>,
    votes_for: Option<i32>,
    votes_against: Option<i32>,
    votes_abstain: Option<i32>,
    secret_ballot: bool,
    weighted: bool,
    weight_for: Option<i64>,
    weight_against: Option<i64>,
    weight_abstain: Option<i64>,
    result: Option<crate::meetings::rules::VoteResult>,
    casting_vote_used: bool,
    opinion_text: Option<String>,
    decided_at: Option<DateTimeUtc>,
    created_at: DateTimeUtc,
    version: i32,
});

entity!(ballot, "ballot", {
    agenda_item_id: i32,
    person_id: i32,
    choice: crate::meetings::rules::Choice,
    /// The proxy holder who cast it, for a represented member.
    cast_by_person_id: Option<i32>,
    commune_id: Option<i32>,
    /// The commune's population, frozen with the vote (weighted tally).
    population: Option<i64>,
    population_year: Option<i32>,
});

entity!(document, "document", {
    meeting_id: i32,
    agenda_item_id: Option<i32>,
    filename: String,
    media_type: String,
    size_bytes: i64,
    /// Names the content, kept apart in platform::documents (never loaded with this row).
    sha256: String,
    uploaded_by_account_id: Option<i32>,
    uploaded_at: DateTimeUtc,
    after_convocation: bool,
});

entity!(convocation, "convocation", {
    meeting_id: i32,
    person_id: i32,
    seat: crate::meetings::rules::SeatRole,
    commune_id: Option<i32>,
    sent_at: DateTimeUtc,
    channel: crate::meetings::rules::ConvocationChannel,
    read_at: Option<DateTimeUtc>,
    /// The e-mail that carries an electronic convocation (migration 000014; None: on
    /// paper, no address, or sent before e-mail).
    delivery_id: Option<i32>,
});

// A convocation of an earlier convening of the meeting (before a postponement), kept
// when the meeting is convened again: its sending and reading times are legal proof.
entity!(superseded_convocation, "superseded_convocation", {
    meeting_id: i32,
    person_id: i32,
    seat: crate::meetings::rules::SeatRole,
    commune_id: Option<i32>,
    sent_at: DateTimeUtc,
    channel: crate::meetings::rules::ConvocationChannel,
    read_at: Option<DateTimeUtc>,
    /// The meeting's sequence when these convocations were replaced.
    sequence: i32,
    superseded_at: DateTimeUtc,
    delivery_id: Option<i32>,
});

entity!(proxy, "proxy", {
    body_id: i32,
    giver_person_id: i32,
    holder_person_id: i32,
    first_meeting_id: i32,
    meetings_count: i32,
    given_at: DateTimeUtc,
    revoked_at: Option<DateTimeUtc>,
});

entity!(attendance, "attendance", {
    meeting_id: i32,
    person_id: i32,
    status: crate::meetings::rules::AttendanceStatus,
    arrival_position: Option<i32>,
    departure_position: Option<i32>,
    proxy_id: Option<i32>,
    recorded_at: DateTimeUtc,
    version: i32,
});

entity!(calendar_feed, "calendar_feed", {
    person_id: i32,
    token_hash: String,
    created_at: DateTimeUtc,
});
