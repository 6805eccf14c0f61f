//! Optimistic concurrency: every editable record carries a `version`; a write names the
//! version its author read (`expectedVersion`) and matches it, or changes nothing.
use crate::error::{AppError, AppResult};

/// The version after `expected` (a client-supplied number: refused, not overflowed).
pub fn next_version(expected: i32) -> AppResult<i32> {
    expected.checked_add(1).ok_or_else(|| AppError::validation("expectedVersion", "not a version of this record"))
}

/// Refuses with CONFLICT unless the update matched the expected version.
pub fn expect_one(rows: u64, what: &str, current: i32, expected: i32) -> AppResult<()> {
    if rows == 1 {
        Ok(())
    } else {
        Err(AppError::stale(what, current, expected))
    }
}
