//! The one authorization point. Every service asks `authorize` before it reads or writes;
//! the answer follows the account's platform role and its person's current mandates.
//! The facts it needs come through `auth::facts::Facts` (read on the connection or
//! transaction passed in, through the domains' read-only query modules), so the policy
//! never calls the services it guards, and its tests run without a database.
use std::sync::Arc;

use super::actor::{Actor, Principal};
use super::facts::{FactSource, Facts};
use super::model::PlatformRole;
use crate::error::{AppError, AppResult};
use crate::people::model::{mandate, person};
use crate::people::rules::Role;
use crate::referrals::queries::Acting;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Org {
    Commune(i32),
    Intercommunality(i32),
}

#[derive(Debug, Clone, Copy)]
pub enum Action {
    /// Browse communes, intercommunalities, persons and mandates.
    Read,
    /// Create, edit or delete the territories of an intercommunality.
    ManageTerritories { intercommunality: i32 },
    /// Record or end `person`'s mandate of `role` in `org`.
    ManageMandate { org: Org, role: Role, person: i32 },
    /// Create a person, who will belong to `scope`'s secretariat.
    CreatePerson,
    /// Edit a person's name or e-mail.
    ManagePerson { person: i32 },
    /// Invite a person to an account with `role`.
    Invite { person: i32, role: PlatformRole, secretariat_of: Option<i32> },
    /// Read the audit log of one intercommunality, or of all (None).
    ReadAudit { scope: Option<i32> },
    /// Import official data files (command line only).
    ImportTerritory,
    /// Create bodies and prepare their meetings in `intercommunality`; record attendance,
    /// proxies on paper, votes and minutes (the secretariat).
    ManageMeetings { intercommunality: i32 },
    /// Convene a meeting of a body of `intercommunality`; the president may convene the
    /// conference of mayors (`conference`).
    Convene { intercommunality: i32, conference: bool },
    /// See a body's meetings, documents and members: its current members.
    SeeBody { body: i32, intercommunality: i32 },
    /// See one (convened) meeting and its documents: as SeeBody, or convened to it.
    SeeMeeting { meeting: i32, body: i32, intercommunality: i32 },
    /// Give a seat in a body of `intercommunality`: the secretariat any seat; a mayor
    /// designates (`designation`) councillors of their own `commune` only.
    DesignateSeat { intercommunality: i32, commune: Option<i32>, designation: bool },
    /// Sign a mayors' request for a conference of `intercommunality`: a current mayor of
    /// one of its member communes.
    SignRequest { intercommunality: i32 },
    /// Read the opinions adopted by the conference of mayors of `intercommunality`: every
    /// municipal councillor of its member communes (L5211-40-2), its officers, its secretariat.
    ReadOpinions { intercommunality: i32 },
    /// Give or revoke `giver`'s proxy in a body of `intercommunality`: the giver, or the
    /// secretariat recording a written proxy.
    GiveProxy { intercommunality: i32, giver: i32 },
    /// Prepare, open and extend referrals of `intercommunality` (None: a national
    /// consultation, administrators only): its secretariat.
    ManageReferrals { intercommunality: Option<i32> },
    /// See a referral and follow it: the secretariat and the president see everything;
    /// the people acting for an addressee commune see the opened referral.
    SeeReferral { referral: i32, intercommunality: Option<i32> },
    /// Draft `commune`'s response: its mayor, a deputy mayor with a delegation, its DGS,
    /// or a holder of the mayor's signature delegation.
    DraftResponse { commune: i32 },
    /// Submit (sign) `commune`'s response: its mayor, or a holder of the mayor's
    /// signature delegation.
    SubmitResponse { commune: i32 },
    /// Give or end a signature delegation for `commune`: its mayor.
    DelegateSignature { commune: i32 },
    /// Create policies of `intercommunality`, describe them and move them along their
    /// life: its secretariat.
    ManagePolicies { intercommunality: i32 },
    /// Draft a policy (its working text, its versions): the secretariat, the lead
    /// elected official (who holds `lead_mandate` today), the animators and assistants of
    /// the drafting body.
    DraftPolicy { intercommunality: i32, lead_mandate: Option<i32>, drafting_body: Option<i32> },
    /// See a policy: its drafting team always; once a version is `published`, also the
    /// president, the members of the drafting body and whoever holds a mandate today in
    /// the intercommunality or one of its member communes.
    SeePolicy { intercommunality: i32, lead_mandate: Option<i32>, drafting_body: Option<i32>, published: bool },
    /// Contribute to a policy of `intercommunality`: for a member `commune`, those acting
    /// for it (its mayor, a deputy mayor with a delegation, its DGS, the mayor's signature
    /// delegate); in one's own name (None), the members of the drafting body and the
    /// drafting team.
    Contribute { intercommunality: i32, commune: Option<i32>, drafting_body: Option<i32> },
}

impl Action {
    /// Acts only a mandate gives, which platform administrators do not take over: a
    /// commune's response is drafted and signed by those acting for the commune, a
    /// signature is delegated by its mayor.
    fn personal(&self) -> bool {
        matches!(
            self,
            Action::DraftResponse { .. }
                | Action::SubmitResponse { .. }
                | Action::DelegateSignature { .. }
                | Action::Contribute { commune: Some(_), .. }
        )
    }
    fn describe(&self) -> &'static str {
        match self {
            Action::Read => "read the directory",
            Action::ManageTerritories { .. } => "manage this intercommunality's territories",
            Action::ManageMandate { .. } => "record mandates of this role in this organisation",
            Action::CreatePerson => "create persons",
            Action::ManagePerson { .. } => "edit this person",
            Action::Invite { .. } => "invite this person with this role",
            Action::ReadAudit { .. } => "read this audit log",
            Action::ImportTerritory => "import official data",
            Action::ManageMeetings { .. } => "prepare this intercommunality's meetings or record their proceedings",
            Action::Convene { .. } => "convene this body",
            Action::SeeBody { .. } => "see this body's meetings",
            Action::SeeMeeting { .. } => "see this meeting",
            Action::DesignateSeat { .. } => "give this seat",
            Action::SignRequest { .. } => "sign a request as mayor of a member commune",
            Action::GiveProxy { .. } => "give or revoke this member's proxy",
            Action::ReadOpinions { .. } => "read this conference's opinions",
            Action::ManageReferrals { .. } => "manage this intercommunality's referrals",
            Action::SeeReferral { .. } => "see this referral",
            Action::DraftResponse { .. } => "draft this commune's response",
            Action::SubmitResponse { .. } => "submit this commune's response (the mayor or a signature delegate)",
            Action::DelegateSignature { .. } => "delegate this commune's signature (its mayor)",
            Action::ManagePolicies { .. } => "manage this intercommunality's policies",
            Action::DraftPolicy { .. } => "draft this policy (its drafting team)",
            Action::SeePolicy { .. } => "see this policy",
            Action::Contribute { commune: Some(_), .. } => "contribute for this commune",
            Action::Contribute { commune: None, .. } => "contribute to this policy in your own name",
        }
    }
}

/// An authorization's answer as a yes or no, for what a reader sees (drafts, contacts);
/// other errors (the database) stay errors instead of reading as "no".
pub fn granted<T>(r: AppResult<T>) -> AppResult<bool> {
    match r {
        Ok(_) => Ok(true),
        Err(AppError::Forbidden(_) | AppError::Unauthenticated) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Allows or refuses `action` for `actor`, reading the facts it needs on `on` (a
/// connection, the use case's transaction, or a fake). Anonymous actors are refused with
/// UNAUTHENTICATED, signed-in ones without the right with FORBIDDEN.
pub async fn authorize<'a, S: FactSource>(
    on: &S,
    actor: &'a Actor,
    action: Action,
) -> AppResult<Option<&'a Principal>> {
    if actor.is_system() {
        return Ok(None);
    }
    let p = actor.require()?;
    if p.role == PlatformRole::Admin && !action.personal() {
        return Ok(Some(p));
    }
    // Boxed: this future is awaited inside most resolvers (see `Actor::once_per_read`).
    let allowed = Box::pin(allows(on, actor, p, action)).await?;
    if allowed {
        Ok(Some(p))
    } else {
        Err(AppError::forbidden(format!("you may not {}", action.describe())))
    }
}

/// `authorize`, answered with the `Pass` that grants what the action covers
/// (`Pass::grant`): how the checks make the `Granted` values guarded objects hold.
pub async fn pass<S: FactSource>(on: &S, actor: &Actor, action: Action) -> AppResult<super::Pass> {
    Ok(authorize_pass(on, actor, action).await?.1)
}

/// `authorize`'s answer with its `Pass`, for a use case that needs both.
pub async fn authorize_pass<'a, S: FactSource>(
    on: &S,
    actor: &'a Actor,
    action: Action,
) -> AppResult<(Option<&'a Principal>, super::Pass)> {
    let p = authorize(on, actor, action).await?;
    Ok((p, super::Pass::new()))
}

async fn allows<S: FactSource>(on: &S, actor: &Actor, p: &Principal, action: Action) -> AppResult<bool> {
    let facts = on.facts();
    let f = &facts;
    Ok(match action {
        Action::Read => true,
        Action::ImportTerritory => false,
        Action::ManageTerritories { intercommunality } => is_secretariat_of(p, intercommunality),
        Action::CreatePerson => p.role == PlatformRole::Secretariat || !actor.officer_of_communes(on).await?.is_empty(),
        Action::ManageMandate { org, role, person } => match (p.role, p.secretariat_of, org) {
            (PlatformRole::Secretariat, Some(x), Org::Intercommunality(e)) => {
                e == x && within_intercommunality(f, x, person).await?
            }
            (PlatformRole::Secretariat, Some(x), Org::Commune(c)) => {
                f.intercommunalities_of(c).await?.contains(&x) && within_intercommunality(f, x, person).await?
            }
            (_, _, Org::Commune(c)) => {
                role.managed_by_commune()
                    && actor.officer_of_communes(on).await?.contains(&c)
                    && within_commune(f, c, person).await?
            }
            _ => false,
        },
        Action::ManagePerson { person } => {
            p.person_id == person
                || secretariat_covers(f, p, person).await?
                || officer_covers(on, actor, person).await?
        }
        Action::Invite { person, role, secretariat_of } => match role {
            PlatformRole::Admin => false,
            PlatformRole::Secretariat => {
                secretariat_of.is_some_and(|e| is_secretariat_of(p, e)) && secretariat_covers(f, p, person).await?
            }
            PlatformRole::Member => {
                secretariat_covers(f, p, person).await? || officer_covers(on, actor, person).await?
            }
        },
        Action::ReadAudit { scope: None } => false,
        Action::ReadAudit { scope: Some(e) } => is_secretariat_of(p, e) || is_president_of(on, actor, e).await?,
        Action::ManageMeetings { intercommunality } => is_secretariat_of(p, intercommunality),
        Action::Convene { intercommunality, conference } => {
            is_secretariat_of(p, intercommunality)
                || (conference && is_president_of(on, actor, intercommunality).await?)
        }
        Action::SeeBody { body, intercommunality } => {
            is_secretariat_of(p, intercommunality)
                || is_president_of(on, actor, intercommunality).await?
                || actor.sits_in(on, body).await?
        }
        Action::SeeMeeting { meeting, body, intercommunality } => {
            is_secretariat_of(p, intercommunality)
                || is_president_of(on, actor, intercommunality).await?
                || f.convened_to(meeting, p.person_id).await?
                || actor.sits_in(on, body).await?
        }
        Action::DesignateSeat { intercommunality, commune, designation } => {
            let mayor_of = actor.mayor_of_communes(on).await?;
            let in_scope = match commune {
                Some(c) => mayor_of.contains(&c) && f.member_communes(intercommunality).await?.contains(&c),
                None => false,
            };
            is_secretariat_of(p, intercommunality) || (designation && in_scope)
        }
        Action::SignRequest { intercommunality } => {
            let members = f.member_communes(intercommunality).await?;
            actor.mayor_of_communes(on).await?.iter().any(|c| members.contains(c))
        }
        Action::GiveProxy { intercommunality, giver } => p.person_id == giver || is_secretariat_of(p, intercommunality),
        Action::ReadOpinions { intercommunality } => {
            let members = f.member_communes(intercommunality).await?;
            is_secretariat_of(p, intercommunality)
                || actor.current_mandates(on).await?.iter().any(|m| {
                    m.intercommunality_id == Some(intercommunality)
                        || m.commune_id.is_some_and(|c| members.contains(&c))
                })
        }
        Action::ManageReferrals { intercommunality } => intercommunality.is_some_and(|e| is_secretariat_of(p, e)),
        Action::SeeReferral { referral, intercommunality } => {
            let officer = match intercommunality {
                Some(e) => is_secretariat_of(p, e) || is_president_of(on, actor, e).await?,
                None => false,
            };
            officer || f.addressed_to_any(referral, &acting_for(on, actor).await?.drafts).await?
        }
        Action::DraftResponse { commune } => acting_for(on, actor).await?.drafts.contains(&commune),
        Action::SubmitResponse { commune } => acting_for(on, actor).await?.submits.contains(&commune),
        Action::DelegateSignature { commune } => actor.mayor_of_communes(on).await?.contains(&commune),
        Action::ManagePolicies { intercommunality } => is_secretariat_of(p, intercommunality),
        Action::DraftPolicy { intercommunality, lead_mandate, drafting_body } => {
            drafts_policy(on, actor, p, intercommunality, lead_mandate, drafting_body).await?
        }
        Action::SeePolicy { intercommunality, lead_mandate, drafting_body, published } => {
            drafts_policy(on, actor, p, intercommunality, lead_mandate, drafting_body).await?
                || (published
                    && (is_president_of(on, actor, intercommunality).await?
                        || match drafting_body {
                            Some(b) => actor.sits_in(on, b).await?,
                            None => false,
                        }
                        || in_circle(on, actor, intercommunality).await?))
        }
        Action::Contribute { intercommunality, commune: Some(c), .. } => {
            f.member_communes(intercommunality).await?.contains(&c) && acting_for(on, actor).await?.drafts.contains(&c)
        }
        Action::Contribute { intercommunality, commune: None, drafting_body } => {
            drafts_policy(on, actor, p, intercommunality, None, drafting_body).await?
                || match drafting_body {
                    Some(b) => actor.sits_in(on, b).await?,
                    None => false,
                }
        }
    })
}

/// The drafting team of a policy: the secretariat, the lead official, the animators and
/// assistants of the drafting body.
async fn drafts_policy<S: FactSource>(
    on: &S,
    actor: &Actor,
    p: &Principal,
    intercommunality: i32,
    lead_mandate: Option<i32>,
    drafting_body: Option<i32>,
) -> AppResult<bool> {
    if is_secretariat_of(p, intercommunality) {
        return Ok(true);
    }
    if let Some(m) = lead_mandate {
        if actor.current_mandates(on).await?.iter().any(|x| x.id == m) {
            return Ok(true);
        }
    }
    match drafting_body {
        Some(b) => on.facts().animates(b, p.person_id).await,
        None => Ok(false),
    }
}

/// Whether the actor holds a mandate today in the intercommunality or one of its member
/// communes.
async fn in_circle<S: FactSource>(on: &S, actor: &Actor, intercommunality: i32) -> AppResult<bool> {
    let mandates = actor.current_mandates(on).await?;
    if mandates.iter().any(|m| m.intercommunality_id == Some(intercommunality)) {
        return Ok(true);
    }
    if !mandates.iter().any(|m| m.commune_id.is_some()) {
        return Ok(false);
    }
    let members = on.facts().member_communes(intercommunality).await?;
    Ok(mandates.iter().any(|m| m.commune_id.is_some_and(|c| members.contains(&c))))
}

/// The communes the actor acts for today (drafting, submitting): loaded once per query
/// (the policy asks, then the view), afresh at each call in a mutation (see
/// `Actor::once_per_read`).
pub async fn acting_for<S: FactSource>(on: &S, actor: &Actor) -> AppResult<Arc<Acting>> {
    actor
        .once_per_read(&actor.acting, || async {
            let Some(p) = &actor.principal else { return Ok(Acting::default()) };
            let mandates = actor.current_mandates(on).await?;
            let delegated = on.facts().signature_delegations(p.person_id).await?;
            Ok(Acting::of(&mandates, &delegated))
        })
        .await
}

/// Whether the actor is the current president of intercommunality `e`.
pub async fn is_president_of<S: FactSource>(on: &S, actor: &Actor, e: i32) -> AppResult<bool> {
    Ok(actor.current_mandates(on).await?.iter().any(|m| m.intercommunality_id == Some(e) && m.role == Role::President))
}

fn is_secretariat_of(p: &Principal, intercommunality: i32) -> bool {
    p.role == PlatformRole::Secretariat && p.secretariat_of == Some(intercommunality)
}

/// The person is in intercommunality `e`'s circle: every mandate they hold today is in
/// `e` or one of its member communes (and they hold one), or `e`'s side created them and
/// they hold none. A secretariat cannot reach an official who also serves elsewhere.
async fn within_intercommunality<F: Facts>(f: &F, e: i32, person_id: i32) -> AppResult<bool> {
    let Some((person, current)) = f.holdings(person_id).await? else { return Ok(false) };
    if current.is_empty() {
        return Ok(person.scope_intercommunality_id == Some(e));
    }
    let members = f.member_communes(e).await?;
    Ok(current.iter().all(|m| m.intercommunality_id == Some(e) || m.commune_id.is_some_and(|c| members.contains(&c))))
}

/// The person is in commune `c`'s council or staff: every mandate they hold today is a
/// deputy mayor, councillor or DGA mandate in `c` (and they hold one); or they hold none,
/// were created on `c`'s side and have no account yet.
async fn within_commune<F: Facts>(f: &F, c: i32, person_id: i32) -> AppResult<bool> {
    let Some((person, current)) = f.holdings(person_id).await? else { return Ok(false) };
    if current.is_empty() {
        let has_account = f.has_account(person_id).await?;
        let created_here = match person.scope_intercommunality_id {
            Some(scope) => f.intercommunalities_of(c).await?.contains(&scope),
            None => false,
        };
        return Ok(created_here && !has_account);
    }
    Ok(current.iter().all(|m| m.commune_id == Some(c) && Role::managed_by_commune(m.role)))
}

async fn secretariat_covers<F: Facts>(f: &F, p: &Principal, person_id: i32) -> AppResult<bool> {
    match (p.role, p.secretariat_of) {
        (PlatformRole::Secretariat, Some(e)) => within_intercommunality(f, e, person_id).await,
        _ => Ok(false),
    }
}

async fn officer_covers<S: FactSource>(on: &S, actor: &Actor, person_id: i32) -> AppResult<bool> {
    let facts = on.facts();
    for c in actor.officer_of_communes(on).await? {
        if within_commune(&facts, c, person_id).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether `p` may see the contact details of a person who holds `current` mandates, in
/// communes belonging today to `epcis_of` (commune -> intercommunalities). Pure, so list
/// resolvers can feed it from their loaders.
pub fn contact_visible(
    p: &Principal,
    person: &person::Model,
    current: &[mandate::Model],
    epcis_of: &dyn Fn(i32) -> Vec<i32>,
) -> bool {
    match (p.role, p.secretariat_of) {
        (PlatformRole::Admin, _) => true,
        _ if p.person_id == person.id => true,
        (PlatformRole::Secretariat, Some(e)) => {
            person.scope_intercommunality_id == Some(e)
                || current
                    .iter()
                    .any(|m| m.intercommunality_id == Some(e) || m.commune_id.is_some_and(|c| epcis_of(c).contains(&e)))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
