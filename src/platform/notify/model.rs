//! Storage of the outbox (migration 000010): one `outbox_event` row per event, and the
//! in-app delivery, one `notification` row per (event, recipient).

entity!(outbox_event, "outbox_event", {
    kind: crate::platform::notify::NotificationKind,
    /// The whole event as JSON (`Event`'s serde form): what a delivery needs to write its
    /// message without rereading the domain tables.
    payload: Json,
    meeting_id: Option<i32>,
    agenda_item_id: Option<i32>,
    referral_id: Option<i32>,
    /// The account whose change emitted it (None: the system, a job).
    actor_account_id: Option<i32>,
    /// How many people it was addressed to (its `notification` rows).
    recipients: i32,
    created_at: DateTimeUtc,
    /// The policy it is about (migration 000014).
    policy_id: Option<i32>,
});

entity!(notification, "notification", {
    person_id: i32,
    /// The event's kind, copied so an inbox reads without a join.
    kind: crate::platform::notify::NotificationKind,
    meeting_id: Option<i32>,
    agenda_item_id: Option<i32>,
    message: Option<String>,
    created_at: DateTimeUtc,
    read_at: Option<DateTimeUtc>,
    referral_id: Option<i32>,
    /// The outbox event it delivers (None: written before the outbox, migration 000010).
    event_id: Option<i32>,
});
