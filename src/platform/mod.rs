//! What every domain uses and no domain owns. For now: the rules every text and date
//! input obeys (`text`, `dates`) and the one check that applies them to a whole request
//! before it runs (`input`).
pub mod dates;
pub mod input;
pub mod text;
