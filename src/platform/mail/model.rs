//! Storage of e-mail delivery (migration 000014).

str_enum!(
    /// Where a message stands (état de l'envoi).
    DeliveryStatus {
        /// Waiting to be sent (or to be sent again after a temporary failure, or for the
        /// person's daily digest).
        Queued = "QUEUED",
        /// Taken by a sending round, not answered yet.
        Sending = "SENDING",
        /// Accepted by the SMTP server (or written to the mail folder), at `acceptedAt`.
        Sent = "SENT",
        /// Refused for good (a 5xx answer), or still refused after the last attempt.
        Failed = "FAILED",
    }
);

str_enum!(
    /// How a person wants a kind of notification by e-mail.
    DeliveryMode {
        /// One message as it happens.
        Immediate = "IMMEDIATE",
        /// Gathered in one message a day (récapitulatif quotidien).
        Digest = "DIGEST",
        /// No e-mail (the notification stays in the app).
        None = "NONE",
    }
);

/// The channel of every delivery row today (live subscriptions keep no per-person state).
pub const EMAIL: &str = "EMAIL";

entity!(delivery, "delivery", {
    event_id: i32,
    person_id: i32,
    channel: String,
    /// The address it was sent to, as it was when the event happened.
    address: String,
    status: crate::platform::mail::model::DeliveryStatus,
    /// Waits for the person's daily digest rather than going at once.
    digest: bool,
    attempts: i32,
    next_attempt_at: DateTimeUtc,
    /// Until when a sending round holds it (SENDING).
    leased_until: Option<DateTimeUtc>,
    /// The server's last answer (or the folder's file).
    answer: Option<String>,
    message_id: Option<String>,
    accepted_at: Option<DateTimeUtc>,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
    /// The secret of the link the message carries (an invitation's, a password reset's),
    /// kept only until the message is sent or fails.
    secret: Option<String>,
});

entity!(notification_preference, "notification_preference", {
    person_id: i32,
    kind: crate::platform::notify::NotificationKind,
    mode: crate::platform::mail::model::DeliveryMode,
    updated_at: DateTimeUtc,
});
