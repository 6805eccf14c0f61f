//! GraphQL types and resolvers of sign-in and accounts.
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::model::account;
use super::model::PlatformRole;
use super::service::{self, InviteInput, SignedIn};
use crate::directory::graphql::{Intercommunality, Mandate, Person};
use crate::error::{AppError, AppResult};
use crate::graphql::support::{actor, loaders, state};
use crate::ids::{self, Kind};
use crate::people::queries::runs_on;

/// A sign-in account, belonging to one person.
pub struct Account(pub account::Model);

/// A sign-in account, belonging to one person.
#[Object]
impl Account {
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn role(&self) -> PlatformRole {
        self.0.platform_role
    }
    /// For a SECRETARIAT account: the intercommunality it serves.
    async fn secretariat_of(&self, ctx: &Context<'_>) -> AppResult<Option<Intercommunality>> {
        match self.0.secretariat_intercommunality_id {
            Some(e) => Ok(loaders(ctx)?.intercommunality.load_one(e).await?.map(Intercommunality)),
            None => Ok(None),
        }
    }
    async fn person(&self, ctx: &Context<'_>) -> AppResult<Person> {
        loaders(ctx)?.person.load_one(self.0.person_id).await?.map(Person).ok_or_else(|| AppError::not_found("person"))
    }
    /// Whether a password has been set (false while an invitation is pending).
    async fn activated(&self) -> bool {
        self.0.password_hash.is_some()
    }
}

/// The signed-in user: their account, person and the mandates that give their powers.
pub struct Me(pub account::Model);

/// The signed-in user: their account, person and the mandates that give their powers.
#[Object]
impl Me {
    async fn account(&self) -> Account {
        Account(self.0.clone())
    }
    async fn person(&self, ctx: &Context<'_>) -> AppResult<Person> {
        loaders(ctx)?.person.load_one(self.0.person_id).await?.map(Person).ok_or_else(|| AppError::not_found("person"))
    }
    /// Mandates running today, from which powers follow (mayor of X, DGS of X...).
    async fn current_mandates(&self, ctx: &Context<'_>) -> AppResult<Vec<Mandate>> {
        let l = loaders(ctx)?;
        let all = l.person_mandates.load_one(self.0.person_id).await?.unwrap_or_default();
        Ok(all.into_iter().filter(|m| runs_on(m, l.today)).map(Mandate::of).collect())
    }
}

/// A new session.
#[derive(SimpleObject)]
pub struct LoginPayload {
    /// Bearer token for the Authorization header; shown once, stored only as a hash.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub me: Me,
}

impl From<SignedIn> for LoginPayload {
    fn from(s: SignedIn) -> Self {
        LoginPayload { token: s.token, expires_at: s.expires_at, me: Me(s.account) }
    }
}

/// An invitation to set a password.
#[derive(SimpleObject)]
pub struct InvitationPayload {
    pub account: Account,
    pub expires_at: DateTime<Utc>,
    /// One-time token to pass to the invited person (for acceptInvitation); shown once.
    pub token: String,
}

#[derive(InputObject)]
pub struct InviteAccountInput {
    pub person_id: ID,
    pub email: String,
    pub role: PlatformRole,
    /// Required for SECRETARIAT, refused otherwise.
    pub intercommunality_id: Option<ID>,
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> AppResult<Me> {
        let p = actor(ctx)?.require()?;
        let acc =
            account::Entity::find_by_id(p.account_id).one(&state(ctx)?.db).await?.ok_or(AppError::Unauthenticated)?;
        Ok(Me(acc))
    }
}

use sea_orm::EntityTrait;

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Signs in. Repeated failures are slowed, then locked per e-mail and per client
    /// address (RATE_LIMITED); the answer does not reveal whether an e-mail has an account.
    async fn login(&self, ctx: &Context<'_>, email: String, password: String) -> AppResult<LoginPayload> {
        Ok(service::login(state(ctx)?, actor(ctx)?, &email, &password).await?.into())
    }
    /// Ends the current session (revokes its token).
    async fn logout(&self, ctx: &Context<'_>) -> AppResult<bool> {
        service::logout(state(ctx)?, actor(ctx)?).await
    }
    /// Sets a password from an invitation token and signs in.
    async fn accept_invitation(&self, ctx: &Context<'_>, token: String, password: String) -> AppResult<LoginPayload> {
        Ok(service::accept_invitation(state(ctx)?, actor(ctx)?, &token, &password).await?.into())
    }
    /// Changes the password; the account's other sessions are revoked.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> AppResult<bool> {
        service::change_password(state(ctx)?, actor(ctx)?, &current_password, &new_password).await
    }
    /// Asks for a password reset (mot de passe oublié): if an active account signs in with
    /// this address, a link valid one hour, usable once, is sent to it by e-mail. Always
    /// answers true, whether or not the address has an account; requests are limited per
    /// address and per client like failed sign-ins (RATE_LIMITED).
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> AppResult<bool> {
        service::request_password_reset(state(ctx)?, actor(ctx)?, &email).await?;
        Ok(true)
    }
    /// Sets a new password with the token of a reset link and signs in; the account's
    /// other sessions are revoked. A token works once, within its hour.
    async fn reset_password(&self, ctx: &Context<'_>, token: String, new_password: String) -> AppResult<LoginPayload> {
        Ok(service::reset_password(state(ctx)?, actor(ctx)?, &token, &new_password).await?.into())
    }
    /// Invites a person to an account (the secretariat for its intercommunality's people,
    /// a mayor for their commune's council and staff).
    async fn invite_account(&self, ctx: &Context<'_>, input: InviteAccountInput) -> AppResult<InvitationPayload> {
        let person_id = ids::decode("personId", Kind::Person, &input.person_id)?;
        let secretariat_of = input
            .intercommunality_id
            .as_ref()
            .map(|i| ids::decode("intercommunalityId", Kind::Intercommunality, i))
            .transpose()?;
        let (inv, acc, token) = service::invite(
            state(ctx)?,
            actor(ctx)?,
            InviteInput { person_id, email: input.email, role: input.role, secretariat_of },
        )
        .await?;
        Ok(InvitationPayload { account: Account(acc), expires_at: inv.expires_at, token })
    }
}
