//! What the policy needs to know, as a trait: `authorize` reads every fact through it, so
//! it never calls the services it guards, and its tests run on an in-memory fake.
//!
//! `DbFacts` reads the facts on a connection or a transaction through the domains'
//! read-only query modules (which never import the policy). `authorize` and the Actor's
//! helpers take any `FactSource`: a connection, a transaction (the facts are then read on
//! it, inside the use case's transaction), or a fake.
use std::collections::HashSet;
use std::future::Future;

use sea_orm::ConnectionTrait;

use crate::error::AppResult;
use crate::people::model::{mandate, person};

/// The facts authorization depends on. Each answer is about today (Europe/Paris).
pub trait Facts: Send + Sync {
    /// The person's mandates that run today.
    fn current_mandates(&self, person: i32) -> impl Future<Output = AppResult<Vec<mandate::Model>>> + Send;
    /// The communes whose mayor's signature the person holds today (a running delegation
    /// from a mayor in office).
    fn signature_delegations(&self, person: i32) -> impl Future<Output = AppResult<Vec<i32>>> + Send;
    /// The person and their mandates running today (None: no such person).
    fn holdings(
        &self,
        person: i32,
    ) -> impl Future<Output = AppResult<Option<(person::Model, Vec<mandate::Model>)>>> + Send;
    /// Whether the person has an account.
    fn has_account(&self, person: i32) -> impl Future<Output = AppResult<bool>> + Send;
    /// Every body the person sits in today (former members lose sight of a body the day
    /// their seat ends), given their current `mandates`: for a reader of a list of bodies,
    /// one answer serves every body (`Actor::sits_in`).
    fn bodies_sat_in(
        &self,
        person: i32,
        mandates: &[mandate::Model],
    ) -> impl Future<Output = AppResult<HashSet<i32>>> + Send;
    /// Whether the person animates or assists the body today (its animator or assistant).
    fn animates(&self, body: i32, person: i32) -> impl Future<Output = AppResult<bool>> + Send;
    /// Whether the person was convened to the meeting.
    fn convened_to(&self, meeting: i32, person: i32) -> impl Future<Output = AppResult<bool>> + Send;
    /// Whether the referral is addressed to one of `communes`.
    fn addressed_to_any(&self, referral: i32, communes: &[i32]) -> impl Future<Output = AppResult<bool>> + Send;
    /// The communes that belong to the intercommunality today.
    fn member_communes(&self, intercommunality: i32) -> impl Future<Output = AppResult<HashSet<i32>>> + Send;
    /// The intercommunalities the commune belongs to today.
    fn intercommunalities_of(&self, commune: i32) -> impl Future<Output = AppResult<Vec<i32>>> + Send;
}

/// Where facts are read: a connection or transaction (through `DbFacts`), or a fake.
pub trait FactSource: Sync {
    fn facts(&self) -> impl Facts + '_;
}

impl<C: ConnectionTrait> FactSource for C {
    fn facts(&self) -> impl Facts + '_ {
        DbFacts(self)
    }
}

/// The facts as stored, read on the connection or transaction it wraps.
pub struct DbFacts<'c, C>(pub &'c C);

impl<C: ConnectionTrait> Facts for DbFacts<'_, C> {
    async fn current_mandates(&self, person: i32) -> AppResult<Vec<mandate::Model>> {
        crate::people::queries::current_mandates(self.0, person).await
    }
    async fn signature_delegations(&self, person: i32) -> AppResult<Vec<i32>> {
        crate::referrals::queries::signature_delegations(self.0, person).await
    }
    async fn holdings(&self, person: i32) -> AppResult<Option<(person::Model, Vec<mandate::Model>)>> {
        crate::people::queries::current_holdings(self.0, person).await
    }
    async fn has_account(&self, person: i32) -> AppResult<bool> {
        crate::people::queries::has_account(self.0, person).await
    }
    async fn bodies_sat_in(&self, person: i32, mandates: &[mandate::Model]) -> AppResult<HashSet<i32>> {
        crate::meetings::queries::bodies_sat_in(self.0, person, mandates).await
    }
    async fn animates(&self, body: i32, person: i32) -> AppResult<bool> {
        crate::meetings::queries::animates(self.0, body, person).await
    }
    async fn convened_to(&self, meeting: i32, person: i32) -> AppResult<bool> {
        crate::meetings::queries::convened_to(self.0, meeting, person).await
    }
    async fn addressed_to_any(&self, referral: i32, communes: &[i32]) -> AppResult<bool> {
        crate::referrals::queries::addressed_to_any(self.0, referral, communes).await
    }
    async fn member_communes(&self, intercommunality: i32) -> AppResult<HashSet<i32>> {
        crate::territory::queries::member_communes(self.0, intercommunality).await
    }
    async fn intercommunalities_of(&self, commune: i32) -> AppResult<Vec<i32>> {
        crate::territory::queries::current_intercommunalities_of(self.0, commune).await
    }
}

impl<F: Facts + ?Sized> Facts for &F {
    async fn current_mandates(&self, person: i32) -> AppResult<Vec<mandate::Model>> {
        (**self).current_mandates(person).await
    }
    async fn signature_delegations(&self, person: i32) -> AppResult<Vec<i32>> {
        (**self).signature_delegations(person).await
    }
    async fn holdings(&self, person: i32) -> AppResult<Option<(person::Model, Vec<mandate::Model>)>> {
        (**self).holdings(person).await
    }
    async fn has_account(&self, person: i32) -> AppResult<bool> {
        (**self).has_account(person).await
    }
    async fn bodies_sat_in(&self, person: i32, mandates: &[mandate::Model]) -> AppResult<HashSet<i32>> {
        (**self).bodies_sat_in(person, mandates).await
    }
    async fn animates(&self, body: i32, person: i32) -> AppResult<bool> {
        (**self).animates(body, person).await
    }
    async fn convened_to(&self, meeting: i32, person: i32) -> AppResult<bool> {
        (**self).convened_to(meeting, person).await
    }
    async fn addressed_to_any(&self, referral: i32, communes: &[i32]) -> AppResult<bool> {
        (**self).addressed_to_any(referral, communes).await
    }
    async fn member_communes(&self, intercommunality: i32) -> AppResult<HashSet<i32>> {
        (**self).member_communes(intercommunality).await
    }
    async fn intercommunalities_of(&self, commune: i32) -> AppResult<Vec<i32>> {
        (**self).intercommunalities_of(commune).await
    }
}
