//! Proof that a value passed an authorization check.
//!
//! The GraphQL objects of guarded records (Meeting, Body, AgendaItem, Document, Referral,
//! ReferralResponse) hold a `Granted<T>`, never a bare row, so a resolver cannot build one
//! from a row it loaded without asking: a `Granted` is made only
//!
//! - by a `Pass`, which only the policy makes (`policy::pass`, after `authorize` said yes):
//!   the view checks (`meetings::service::visible`, `referrals::service::view`...), the
//!   list queries that select visible rows by a visibility filter, and the write use cases
//!   for the row they wrote, each grant its rows with `pass.grant(row)`;
//! - or from a parent's grant, by a named rule saying why the child is visible
//!   (`meetings::service::meeting_agenda_item`: an item of a meeting one sees), written
//!   with `vouch` as a free function of the domain's access module (meetings::service::access,
//!   referrals::service::acting), so that this module depends on no domain.
//!
//! Every place that makes one is found with `grep -rn '\.grant(\|\.vouch(\|\.reshape(' src`.
//!
//! The field is private, so a grant cannot be conjured outside this module, nor a pass
//! outside the policy:
//!
//! ```compile_fail,E0423
//! fn forge<T>(row: T) -> entente::auth::Granted<T> {
//!     entente::auth::Granted(row)
//! }
//! ```
//!
//! ```compile_fail,E0423
//! fn forge() -> entente::auth::Pass {
//!     entente::auth::Pass(())
//! }
//! ```
//!
//! and the object of a guarded record is built from a grant only, never from a row:
//!
//! ```compile_fail,E0423
//! use entente::auth::Granted;
//! use entente::meetings::{graphql::Meeting, model::meeting};
//! fn forge(row: Granted<meeting::Model>) -> Meeting {
//!     Meeting(row) // the field is private even given a grant: `Meeting::from` takes it
//! }
//! ```
//!
//! ```compile_fail,E0277
//! use entente::meetings::{graphql::Meeting, model::meeting};
//! fn forge(row: meeting::Model) -> Meeting {
//!     Meeting::from(row)
//! }
//! ```
//!
//! ```
//! use entente::auth::Granted;
//! use entente::meetings::{graphql::Meeting, model::meeting};
//! fn build(row: Granted<meeting::Model>) -> Meeting {
//!     Meeting::from(row)
//! }
//! ```
use std::ops::Deref;

/// The policy said yes to an action. Made only by `policy::pass`.
#[derive(Clone, Debug)]
pub struct Pass(());

impl Pass {
    /// Made by the policy, and only there.
    pub(super) fn new() -> Self {
        Pass(())
    }

    /// `value`, as covered by the action this pass was given for. Call it in the check
    /// itself (a view function, a visibility-filtered list, a use case for what it wrote).
    pub fn grant<T>(&self, value: T) -> Granted<T> {
        Granted(value)
    }
}

/// A value that passed an authorization check (see the module's documentation).
#[derive(Clone, Debug)]
pub struct Granted<T>(T);

impl<T> Granted<T> {
    /// A value visible because this one is. Call it only inside a named rule that says
    /// why (`meeting_agenda_item`, ...), so every such rule is grep-able.
    pub fn vouch<U>(&self, child: U) -> Granted<U> {
        Granted(child)
    }

    /// The same record in another shape (a row and its metadata, a row redacted).
    pub fn reshape<U>(self, f: impl FnOnce(T) -> U) -> Granted<U> {
        Granted(f(self.0))
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Granted<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
