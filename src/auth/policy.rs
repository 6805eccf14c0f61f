//! The one authorization point. Every service asks `authorize` before it reads or writes;
//! the answer follows the account's platform role and its person's current mandates.
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

use super::actor::{Actor, PlatformRole, Principal};
use crate::error::{AppError, AppResult};
use crate::people::model::{mandate, person};
use crate::people::rules::Role;
use crate::territory::model::commune_membership;

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
    /// Record or end a mandate of `role` in `org`.
    ManageMandate { org: Org, role: Role },
    /// Create a person, who will belong to `scope`'s secretariat.
    CreatePerson,
    /// Edit a person's name or e-mail.
    ManagePerson { person: i32 },
    /// See a person's e-mail address.
    SeeContact { person: i32 },
    /// Invite a person to an account with `role`.
    Invite { person: i32, role: PlatformRole, secretariat_of: Option<i32> },
    /// Read the audit log of one intercommunality, or of all (None).
    ReadAudit { scope: Option<i32> },
    /// Import official data files (command line only).
    ImportTerritory,
}

impl Action {
    fn describe(&self) -> &'static str {
        match self {
            Action::Read => "read the directory",
            Action::ManageTerritories { .. } => "manage this intercommunality's territories",
            Action::ManageMandate { .. } => "record mandates of this role in this organisation",
            Action::CreatePerson => "create persons",
            Action::ManagePerson { .. } => "edit this person",
            Action::SeeContact { .. } => "see this person's contact details",
            Action::Invite { .. } => "invite this person with this role",
            Action::ReadAudit { .. } => "read this audit log",
            Action::ImportTerritory => "import official data",
        }
    }
}

/// Allows or refuses `action` for `actor`. Anonymous actors are refused with
/// UNAUTHENTICATED, signed-in ones without the right with FORBIDDEN.
pub async fn authorize<'a>(db: &DatabaseConnection, actor: &'a Actor, action: Action) -> AppResult<Option<&'a Principal>> {
    if actor.is_system() {
        return Ok(None);
    }
    let p = actor.require()?;
    if p.role == PlatformRole::Admin {
        return Ok(Some(p));
    }
    let allowed = match action {
        Action::Read => true,
        Action::ImportTerritory => false,
        Action::ManageTerritories { intercommunality } => is_secretariat_of(p, intercommunality),
        Action::CreatePerson => {
            p.role == PlatformRole::Secretariat || !actor.officer_of_communes(db).await?.is_empty()
        }
        Action::ManageMandate { org, role } => match org {
            Org::Intercommunality(e) => is_secretariat_of(p, e),
            Org::Commune(c) => {
                secretariat_covers_commune(db, p, c).await?
                    || (role.managed_by_commune() && actor.officer_of_communes(db).await?.contains(&c))
            }
        },
        Action::ManagePerson { person } => {
            p.person_id == person
                || secretariat_covers_person(db, p, person).await?
                || officer_covers_person(db, actor, person).await?
        }
        Action::SeeContact { person } => p.person_id == person || secretariat_covers_person(db, p, person).await?,
        Action::Invite { person, role, secretariat_of } => match role {
            PlatformRole::Admin => false,
            PlatformRole::Secretariat => {
                secretariat_of.is_some_and(|e| is_secretariat_of(p, e)) && secretariat_covers_person(db, p, person).await?
            }
            PlatformRole::Member => {
                secretariat_covers_person(db, p, person).await? || officer_covers_person(db, actor, person).await?
            }
        },
        Action::ReadAudit { scope: None } => false,
        Action::ReadAudit { scope: Some(e) } => {
            is_secretariat_of(p, e)
                || actor.current_mandates(db).await?.iter().any(|m| {
                    m.intercommunality_id == Some(e) && Role::parse(&m.role) == Some(Role::President)
                })
        }
    };
    if allowed {
        Ok(Some(p))
    } else {
        Err(AppError::forbidden(format!("you may not {}", action.describe())))
    }
}

fn is_secretariat_of(p: &Principal, intercommunality: i32) -> bool {
    p.role == PlatformRole::Secretariat && p.secretariat_of == Some(intercommunality)
}

/// Intercommunalities the commune belongs to today.
pub async fn current_intercommunalities_of(db: &DatabaseConnection, commune: i32) -> AppResult<Vec<i32>> {
    let today = crate::time::today_paris();
    let rows = commune_membership::Entity::find()
        .filter(commune_membership::Column::CommuneId.eq(commune))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|m| m.start_date.is_none_or(|s| s <= today) && m.end_date.is_none_or(|e| today < e))
        .map(|m| m.intercommunality_id)
        .collect())
}

async fn secretariat_covers_commune(db: &DatabaseConnection, p: &Principal, commune: i32) -> AppResult<bool> {
    match (p.role, p.secretariat_of) {
        (PlatformRole::Secretariat, Some(e)) => Ok(current_intercommunalities_of(db, commune).await?.contains(&e)),
        _ => Ok(false),
    }
}

/// A secretariat covers the persons it created and those holding (or having held) a
/// mandate in its intercommunality or in one of its member communes.
async fn secretariat_covers_person(db: &DatabaseConnection, p: &Principal, person_id: i32) -> AppResult<bool> {
    let (PlatformRole::Secretariat, Some(e)) = (p.role, p.secretariat_of) else { return Ok(false) };
    let Some(person) = person::Entity::find_by_id(person_id).one(db).await? else { return Ok(false) };
    if person.scope_intercommunality_id == Some(e) {
        return Ok(true);
    }
    let member_communes = commune_membership::Entity::find()
        .filter(commune_membership::Column::IntercommunalityId.eq(e))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.commune_id);
    let n = mandate::Entity::find()
        .filter(mandate::Column::PersonId.eq(person_id))
        .filter(
            Condition::any()
                .add(mandate::Column::IntercommunalityId.eq(e))
                .add(mandate::Column::CommuneId.is_in(member_communes)),
        )
        .count(db)
        .await?;
    Ok(n > 0)
}

/// A mayor (or their DGS) covers persons holding a current council or staff mandate in
/// their commune.
async fn officer_covers_person(db: &DatabaseConnection, actor: &Actor, person_id: i32) -> AppResult<bool> {
    let communes = actor.officer_of_communes(db).await?;
    if communes.is_empty() {
        return Ok(false);
    }
    let today = crate::time::today_paris();
    let held = mandate::Entity::find()
        .filter(mandate::Column::PersonId.eq(person_id))
        .filter(mandate::Column::CommuneId.is_in(communes))
        .all(db)
        .await?;
    Ok(held.iter().any(|m| {
        crate::people::service::runs_on(m, today) && Role::parse(&m.role).is_some_and(Role::managed_by_commune)
    }))
}
