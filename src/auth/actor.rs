//! The request's Actor: who is asking (from the bearer token), and their current mandates.
use std::sync::Arc;

use tokio::sync::OnceCell;

use super::facts::{FactSource, Facts};
use super::model::PlatformRole;
use crate::error::{AppError, AppResult};
use crate::people::model::mandate;
use crate::people::rules::Role;
use crate::referrals::queries::Acting;

/// A signed-in account.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account_id: i32,
    pub person_id: i32,
    pub email: String,
    pub role: PlatformRole,
    /// For SECRETARIAT: the intercommunality served.
    pub secretariat_of: Option<i32>,
    pub session_id: Option<i32>,
}

pub struct Actor {
    pub request_id: String,
    pub client_addr: Option<String>,
    pub principal: Option<Principal>,
    system: Option<&'static str>,
    /// Set for a query (which writes nothing): what the powers follow from is then read
    /// once per request. A mutation reads it afresh at each check, since one of its
    /// fields may end a mandate or a delegation that a later field's check relies on.
    read_only: bool,
    mandates: OnceCell<Arc<Vec<mandate::Model>>>,
    /// The communes the person acts for today (`policy::acting_for`, read by the policy
    /// and by referral views).
    pub(crate) acting: OnceCell<Arc<Acting>>,
    /// The bodies the person sits in today (`sits_in`).
    sits: OnceCell<Arc<std::collections::HashSet<i32>>>,
}

impl Actor {
    pub fn anonymous(request_id: String, client_addr: Option<String>) -> Self {
        Actor {
            request_id,
            client_addr,
            principal: None,
            system: None,
            read_only: false,
            mandates: OnceCell::new(),
            acting: OnceCell::new(),
            sits: OnceCell::new(),
        }
    }
    pub fn signed_in(request_id: String, client_addr: Option<String>, principal: Principal) -> Self {
        Actor { principal: Some(principal), ..Actor::anonymous(request_id, client_addr) }
    }
    /// The command line (import, demo, account create): trusted, audited under its name.
    pub fn system(name: &'static str) -> Self {
        Actor { system: Some(name), ..Actor::anonymous(uuid::Uuid::new_v4().to_string(), None) }
    }
    /// For a request that writes nothing: see `read_only`.
    pub fn reading_only(self) -> Self {
        Actor { read_only: true, ..self }
    }
    /// `compute`'s value, kept in `cell` for the rest of the request if it writes nothing.
    /// The computation is boxed: the policy's checks are awaited inside most resolvers,
    /// and carrying it inline made their futures overflow a debug build's stack.
    pub(crate) async fn once_per_read<T, F, Fut>(&self, cell: &OnceCell<Arc<T>>, compute: F) -> AppResult<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = AppResult<T>>,
    {
        let run = async { Box::pin(compute()).await.map(Arc::new) };
        if !self.read_only {
            return run.await;
        }
        cell.get_or_try_init(|| run).await.cloned()
    }
    pub fn is_system(&self) -> bool {
        self.system.is_some()
    }
    pub fn label(&self) -> String {
        match (&self.principal, self.system) {
            (Some(p), _) => p.email.clone(),
            (None, Some(s)) => format!("system:{s}"),
            (None, None) => "anonymous".into(),
        }
    }
    pub fn require(&self) -> AppResult<&Principal> {
        self.principal.as_ref().ok_or(AppError::Unauthenticated)
    }
    /// The person's mandates that run today (Europe/Paris), loaded once per query; read
    /// on `on` (a connection, the use case's transaction, or a fake).
    pub async fn current_mandates<S: FactSource>(&self, on: &S) -> AppResult<Arc<Vec<mandate::Model>>> {
        let Some(p) = &self.principal else { return Ok(Arc::default()) };
        let person_id = p.person_id;
        let facts = on.facts();
        self.once_per_read(&self.mandates, || facts.current_mandates(person_id)).await
    }
    /// Whether the person sits in the body today. A request that writes nothing finds the
    /// bodies where they sit once, so that a list of bodies costs what one does; a
    /// mutation finds them afresh at each check.
    pub async fn sits_in<S: FactSource>(&self, on: &S, body: i32) -> AppResult<bool> {
        let Some(p) = &self.principal else { return Ok(false) };
        let person = p.person_id;
        let mandates = self.current_mandates(on).await?;
        let facts = on.facts();
        let sat =
            self.once_per_read(&self.sits, || async move { facts.bodies_sat_in(person, &mandates).await }).await?;
        Ok(sat.contains(&body))
    }
    /// Communes where the actor is currently mayor.
    pub async fn mayor_of_communes<S: FactSource>(&self, on: &S) -> AppResult<Vec<i32>> {
        Ok(self
            .current_mandates(on)
            .await?
            .iter()
            .filter(|m| m.role == Role::Mayor)
            .filter_map(|m| m.commune_id)
            .collect())
    }
    /// Communes where the actor is currently mayor or DGS (acting for the mayor).
    pub async fn officer_of_communes<S: FactSource>(&self, on: &S) -> AppResult<Vec<i32>> {
        Ok(self
            .current_mandates(on)
            .await?
            .iter()
            .filter(|m| matches!(m.role, Role::Mayor | Role::Dgs))
            .filter_map(|m| m.commune_id)
            .collect())
    }
}
