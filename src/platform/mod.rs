//! What every domain uses and no domain owns (ARCHITECTURE.md, "a shared platform").
pub mod documents;
