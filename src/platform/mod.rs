//! What every domain uses and no domain owns (ARCHITECTURE.md, "a shared platform"):
//! documents (metadata apart from content, streamed, authorized before any read), the
//! rules every text and date input obeys (`text`, `dates`) and the one check that applies
//! them to a whole request before it runs (`input`), and notifications as typed events
//! written to an outbox in the change's own transaction (`notify`) and delivered from it
//! by e-mail (`mail`) and live (`live`); bounded texts
//! (`text::required`, `text::optional`), optimistic versions (`versions`) and CSV
//! tables (`tables`).
pub mod dates;
pub mod documents;
pub mod input;
pub mod live;
pub mod mail;
pub mod notify;
pub mod tables;
pub mod text;
pub mod versions;
