//! GraphQL types and resolvers of persons and mandates.
use async_graphql::{Context, InputObject, MaybeUndefined, Object, Union, ID};
use chrono::NaiveDate;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::model::{mandate, person};
use super::rules::Role;
use super::service::{self, runs_on, MandateInput, PersonInput, PersonPatch};
use crate::auth::policy::{contact_visible, Action, Org};
use crate::auth::PlatformRole;
use crate::error::{AppError, AppResult};
use crate::graphql::support::{actor, allow, keyset_query, loaders, state, KeyConn, KeyOrder, PageArgs};
use crate::ids::{self, Kind};
use crate::territory::graphql::{Commune, Intercommunality};
use crate::territory::rules::membership_runs;

/// A natural person: an elected official, or staff acting for one.
pub struct Person(pub person::Model);

#[Object]
impl Person {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Person, self.0.id)
    }
    /// Prénom.
    async fn given_name(&self) -> &str {
        &self.0.given_name
    }
    /// Nom.
    async fn family_name(&self) -> &str {
        &self.0.family_name
    }
    /// "Prénom Nom".
    async fn full_name(&self) -> String {
        format!("{} {}", self.0.given_name, self.0.family_name)
    }
    /// Contact address; visible to admins, to the person, and to the secretariat of an
    /// intercommunality where they serve (else null).
    async fn email(&self, ctx: &Context<'_>) -> AppResult<Option<&str>> {
        let p = actor(ctx)?.require()?;
        let quick = match p.role {
            PlatformRole::Admin => Some(true),
            _ if p.person_id == self.0.id => Some(true),
            PlatformRole::Secretariat => None,
            PlatformRole::Member => Some(false),
        };
        let visible = match quick {
            Some(v) => v,
            None => {
                let l = loaders(ctx)?;
                let all = l.person_mandates.load_one(self.0.id).await?.unwrap_or_default();
                let current: Vec<_> = all.into_iter().filter(|m| runs_on(m, l.today)).collect();
                let communes: Vec<i32> = current.iter().filter_map(|m| m.commune_id).collect();
                let memberships = l.memberships.load_many(communes).await?;
                let epcis_of = |c: i32| -> Vec<i32> {
                    memberships
                        .get(&c)
                        .map(|ms| {
                            ms.iter()
                                .filter(|m| membership_runs(m.start_date, m.end_date, l.today))
                                .map(|m| m.intercommunality_id)
                                .collect()
                        })
                        .unwrap_or_default()
                };
                contact_visible(p, &self.0, &current, &epcis_of)
            }
        };
        Ok(if visible { self.0.email.as_deref() } else { None })
    }
    /// Mandates: those running today, or all of them (history) with `includeEnded`.
    async fn mandates(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] include_ended: bool,
    ) -> AppResult<Vec<Mandate>> {
        let l = loaders(ctx)?;
        let all = l.person_mandates.load_one(self.0.id).await?.unwrap_or_default();
        Ok(all.into_iter().filter(|m| include_ended || runs_on(m, l.today)).map(Mandate::of).collect())
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// The organisation a mandate is held in.
#[derive(Union)]
pub enum Organisation {
    Commune(Commune),
    Intercommunality(Intercommunality),
}

/// A mandate (Popolo "membership"): a person holds a role in an organisation from a
/// start date to an optional end date. The end date is exclusive: from that day the
/// mandate no longer runs, and neither do the powers it gave.
pub struct Mandate(pub mandate::Model, pub Option<person::Model>);

impl Mandate {
    pub fn of(m: mandate::Model) -> Self {
        Mandate(m, None)
    }
}

#[Object]
impl Mandate {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Mandate, self.0.id)
    }
    async fn person(&self, ctx: &Context<'_>) -> AppResult<Person> {
        if let Some(p) = &self.1 {
            // Loaded with the mandate (the current mayor's query joins the person).
            return Ok(Person(p.clone()));
        }
        loaders(ctx)?.person.load_one(self.0.person_id).await?.map(Person).ok_or_else(|| AppError::not_found("person"))
    }
    async fn role(&self) -> Role {
        self.0.role
    }
    /// Delegation label (e.g. "Transports et mobilité" for a vice-president or adjoint).
    async fn delegation(&self) -> Option<&str> {
        self.0.delegation.as_deref()
    }
    async fn organisation(&self, ctx: &Context<'_>) -> AppResult<Organisation> {
        let l = loaders(ctx)?;
        match service::org_of(&self.0)? {
            Org::Commune(c) => l.commune.load_one(c).await?.map(|m| Organisation::Commune(Commune(m))),
            Org::Intercommunality(e) => {
                l.intercommunality.load_one(e).await?.map(|m| Organisation::Intercommunality(Intercommunality(m)))
            }
        }
        .ok_or_else(|| AppError::not_found("organisation"))
    }
    async fn start_date(&self) -> NaiveDate {
        self.0.start_date
    }
    /// First day the mandate no longer runs; null while open-ended.
    async fn end_date(&self) -> Option<NaiveDate> {
        self.0.end_date
    }
    /// Whether the mandate runs today (Europe/Paris).
    async fn is_current(&self, ctx: &Context<'_>) -> AppResult<bool> {
        Ok(runs_on(&self.0, loaders(ctx)?.today))
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

#[derive(Default)]
pub struct PeopleQuery;

#[Object]
impl PeopleQuery {
    /// Persons, by family name; `search` matches a part of "given family" name (accents,
    /// case and punctuation ignored).
    #[graphql(complexity = "first.or(last).unwrap_or(50).clamp(0, 10_000) as usize * child_complexity + 2")]
    async fn persons(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> AppResult<KeyConn<Person>> {
        crate::cache::Reads::territory(ctx);
        allow(ctx, Action::Read).await?;
        let mut q = person::Entity::find();
        if let Some(s) = search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            q = q.filter(person::Column::SearchKey.like(format!("%{}%", crate::territory::rules::search_key(s))));
        }
        let order = KeyOrder {
            list: "persons",
            keys: vec![person::Column::FamilyName, person::Column::GivenName],
            id: person::Column::Id,
            descending: false,
        };
        let key = |p: &person::Model| (vec![p.family_name.clone(), p.given_name.clone()], p.id);
        keyset_query(ctx, &PageArgs { after, before, first, last }, &order, q, key, Person).await
    }
}

#[derive(InputObject)]
pub struct CreatePersonInput {
    pub given_name: String,
    pub family_name: String,
    pub email: Option<String>,
}

#[derive(InputObject)]
pub struct UpdatePersonInput {
    pub id: ID,
    /// The version you read; a concurrent edit makes this fail with CONFLICT.
    pub expected_version: i32,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// null clears the address; omitted leaves it.
    pub email: MaybeUndefined<String>,
}

#[derive(InputObject)]
pub struct CreateMandateInput {
    pub person_id: ID,
    /// A Commune or Intercommunality ID.
    pub organisation_id: ID,
    pub role: Role,
    pub delegation: Option<String>,
    pub start_date: NaiveDate,
    /// Exclusive end date, if known.
    pub end_date: Option<NaiveDate>,
}

#[derive(InputObject)]
pub struct EndMandateInput {
    pub id: ID,
    pub expected_version: i32,
    /// First day the mandate no longer runs.
    pub end_date: NaiveDate,
}

#[derive(Default)]
pub struct PeopleMutation;

#[Object]
impl PeopleMutation {
    /// Records a person (secretariat, admin, or a mayor for their commune's council).
    async fn create_person(&self, ctx: &Context<'_>, input: CreatePersonInput) -> AppResult<Person> {
        let p = service::create_person(
            state(ctx)?,
            actor(ctx)?,
            PersonInput { given_name: input.given_name, family_name: input.family_name, email: input.email },
        )
        .await?;
        Ok(Person(p))
    }
    /// Edits a person's name or e-mail.
    async fn update_person(&self, ctx: &Context<'_>, input: UpdatePersonInput) -> AppResult<Person> {
        let id = ids::decode("id", Kind::Person, &input.id)?;
        let email = match input.email {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(v) => Some(Some(v)),
        };
        let patch = PersonPatch { given_name: input.given_name, family_name: input.family_name, email };
        Ok(Person(service::update_person(state(ctx)?, actor(ctx)?, id, input.expected_version, patch).await?))
    }
    /// Records a mandate. A commune has one current mayor and an intercommunality one
    /// current president: an overlapping second one is refused with CONFLICT.
    async fn create_mandate(&self, ctx: &Context<'_>, input: CreateMandateInput) -> AppResult<Mandate> {
        let person_id = ids::decode("personId", Kind::Person, &input.person_id)?;
        let org = match ids::decode_any("organisationId", &input.organisation_id)? {
            (Kind::Commune, n) => Org::Commune(n),
            (Kind::Intercommunality, n) => Org::Intercommunality(n),
            _ => return Err(AppError::validation("organisationId", "must be a Commune or Intercommunality ID")),
        };
        let m = service::create_mandate(
            state(ctx)?,
            actor(ctx)?,
            MandateInput {
                person_id,
                org,
                role: input.role,
                delegation: input.delegation,
                start: input.start_date,
                end: input.end_date,
            },
        )
        .await?;
        Ok(Mandate::of(m))
    }
    /// Ends a mandate: from `endDate` on, the person no longer holds it (nor its powers).
    async fn end_mandate(&self, ctx: &Context<'_>, input: EndMandateInput) -> AppResult<Mandate> {
        let id = ids::decode("id", Kind::Mandate, &input.id)?;
        Ok(Mandate::of(
            service::end_mandate(state(ctx)?, actor(ctx)?, id, input.end_date, input.expected_version).await?,
        ))
    }
}
