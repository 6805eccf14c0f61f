//! GraphQL queries and mutations of persons and mandates (their objects, which reference
//! the territory's organisations, are in `crate::directory`).
use async_graphql::{Context, InputObject, MaybeUndefined, Object, ID};
use chrono::NaiveDate;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::model::person;
use super::rules::Role;
use super::service::{self, MandateInput, PersonInput, PersonPatch};
use crate::auth::policy::{Action, Org};
use crate::directory::graphql::{Mandate, Person};
use crate::error::{AppError, AppResult};
use crate::graphql::support::{actor, allow, keyset_query, state, KeyConn, KeyOrder, PageArgs};
use crate::ids::{self, Kind};

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
