//! GraphQL queries and mutations of the territory (its objects, Territory included, which
//! reference the people's mandates, are in `crate::directory`). Resolvers stay short: they check the
//! actor through `allow` and read through loaders or call the service.
use async_graphql::{Context, InputObject, Object, ID};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};

use super::model::{commune, intercommunality};
use super::rules::{search_key, InseeCode, LegalForm, Siren};
use super::service::{self, TerritoryInput};
use crate::auth::policy::Action;
use crate::directory::graphql::{commune_page, Commune, Intercommunality, Territory};
use crate::error::{AppError, AppResult};
use crate::graphql::support::{actor, allow, keyset_query, state, KeyConn, KeyOrder, PageArgs};
use crate::ids::{self, Kind};

#[derive(Default)]
pub struct TerritoryQuery;

#[Object]
impl TerritoryQuery {
    /// Communes, by name; `search` matches a part of the name (accents, case and
    /// punctuation ignored: "etang" finds "Berre-l'Étang") or the start of the INSEE code.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "first.or(last).unwrap_or(50).clamp(0, 10_000) as usize * child_complexity + 2")]
    async fn communes(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        departement: Option<String>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> AppResult<KeyConn<Commune>> {
        crate::cache::Reads::territory(ctx);
        let mut q = commune::Entity::find();
        if let Some(d) = departement {
            q = q.filter(commune::Column::Departement.eq(d.trim().to_uppercase()));
        }
        commune_page(ctx, "communes", q, search, PageArgs { after, before, first, last }).await
    }

    /// A commune by its INSEE code or by its SIREN (give one of them).
    async fn commune(
        &self,
        ctx: &Context<'_>,
        insee_code: Option<String>,
        siren: Option<String>,
    ) -> AppResult<Option<Commune>> {
        crate::cache::Reads::territory(ctx);
        allow(ctx, Action::Read).await?;
        let filter = match (insee_code, siren) {
            (Some(code), None) => {
                let code = InseeCode::parse(&code).map_err(|m| AppError::validation("inseeCode", m))?;
                commune::Column::InseeCode.eq(code.as_str())
            }
            (None, Some(siren)) => {
                let siren = Siren::parse(&siren).map_err(|m| AppError::validation("siren", m))?;
                commune::Column::Siren.eq(siren.as_str())
            }
            _ => return Err(AppError::validation("inseeCode", "give either inseeCode or siren")),
        };
        Ok(commune::Entity::find().filter(filter).one(&state(ctx)?.db).await?.map(Commune))
    }

    /// Intercommunalities, by name; `search` matches a part of the name (accents, case and
    /// punctuation ignored) or the start of the SIREN.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "first.or(last).unwrap_or(50).clamp(0, 10_000) as usize * child_complexity + 2")]
    async fn intercommunalities(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        legal_form: Option<LegalForm>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> AppResult<KeyConn<Intercommunality>> {
        crate::cache::Reads::territory(ctx);
        allow(ctx, Action::Read).await?;
        let mut q = intercommunality::Entity::find();
        if let Some(f) = legal_form {
            q = q.filter(intercommunality::Column::LegalForm.eq(f));
        }
        if let Some(s) = search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            let mut c = Condition::any().add(intercommunality::Column::SearchKey.like(format!("%{}%", search_key(s))));
            if !digits.is_empty() {
                c = c.add(intercommunality::Column::Siren.like(format!("{digits}%")));
            }
            q = q.filter(c);
        }
        let order = KeyOrder {
            list: "intercommunalities",
            keys: vec![intercommunality::Column::Name],
            id: intercommunality::Column::Id,
            descending: false,
        };
        let args = PageArgs { after, before, first, last };
        keyset_query(ctx, &args, &order, q, |e| (vec![e.name.clone()], e.id), Intercommunality).await
    }

    /// An intercommunality by its SIREN.
    async fn intercommunality(&self, ctx: &Context<'_>, siren: String) -> AppResult<Option<Intercommunality>> {
        crate::cache::Reads::territory(ctx);
        allow(ctx, Action::Read).await?;
        let siren = Siren::parse(&siren).map_err(|m| AppError::validation("siren", m))?;
        let found = intercommunality::Entity::find()
            .filter(intercommunality::Column::Siren.eq(siren.as_str()))
            .one(&state(ctx)?.db)
            .await?;
        Ok(found.map(Intercommunality))
    }
}

#[derive(InputObject)]
pub struct CreateTerritoryInput {
    pub intercommunality_id: ID,
    pub name: String,
    pub code: Option<String>,
    /// Member communes of the intercommunality.
    #[graphql(default)]
    pub commune_ids: Vec<ID>,
}

#[derive(InputObject)]
pub struct UpdateTerritoryInput {
    pub id: ID,
    /// The version you read; a concurrent edit makes this fail with CONFLICT.
    pub expected_version: i32,
    pub name: String,
    pub code: Option<String>,
    /// The full list of communes after the change.
    pub commune_ids: Vec<ID>,
}

fn commune_ids(ids_in: &[ID]) -> AppResult<Vec<i32>> {
    ids_in.iter().map(|i| ids::decode("communeIds", Kind::Commune, i)).collect()
}

#[derive(Default)]
pub struct TerritoryMutation;

#[Object]
impl TerritoryMutation {
    /// Creates a territory in an intercommunality (its secretariat or an admin).
    async fn create_territory(&self, ctx: &Context<'_>, input: CreateTerritoryInput) -> AppResult<Territory> {
        let epci = ids::decode("intercommunalityId", Kind::Intercommunality, &input.intercommunality_id)?;
        let communes = commune_ids(&input.commune_ids)?;
        let t = service::create_territory(
            state(ctx)?,
            actor(ctx)?,
            epci,
            TerritoryInput { name: input.name, code: input.code, commune_ids: communes },
        )
        .await?;
        Ok(Territory(t))
    }
    /// Renames a territory and sets its communes.
    async fn update_territory(&self, ctx: &Context<'_>, input: UpdateTerritoryInput) -> AppResult<Territory> {
        let id = ids::decode("id", Kind::Territory, &input.id)?;
        let communes = commune_ids(&input.commune_ids)?;
        let t = service::update_territory(
            state(ctx)?,
            actor(ctx)?,
            id,
            input.expected_version,
            TerritoryInput { name: input.name, code: input.code, commune_ids: communes },
        )
        .await?;
        Ok(Territory(t))
    }
    /// Deletes a territory (the communes stay).
    async fn delete_territory(&self, ctx: &Context<'_>, id: ID, expected_version: i32) -> AppResult<ID> {
        let n = ids::decode("id", Kind::Territory, &id)?;
        service::delete_territory(state(ctx)?, actor(ctx)?, n, expected_version).await?;
        Ok(id)
    }
}
