//! GraphQL types and resolvers of the directory: communes, intercommunalities, their
//! memberships and territories, persons and their mandates.
use async_graphql::{Context, Object, SimpleObject, Union, ID};
use chrono::NaiveDate;
use sea_orm::{ColumnTrait, Condition, EntityTrait, JoinType, QueryFilter, QuerySelect, RelationTrait, Select};

use crate::auth::policy::{contact_visible, Action, Org};
use crate::auth::PlatformRole;
use crate::error::{AppError, AppResult};
use crate::graphql::support::{actor, allow, keyset_query, loaders, KeyConn, KeyOrder, PageArgs};
use crate::ids::{self, Kind};
use crate::people::model::{mandate, person};
use crate::people::rules::Role;
use crate::people::service::{org_of, runs_on};
use crate::territory::model::{commune, commune_membership, intercommunality, territory};
use crate::territory::rules::{search_key, LegalForm};

/// A population figure with the year it counts and where it comes from. Figures from
/// different files are different millésimes (INSEE "populations légales").
#[derive(SimpleObject, Clone)]
pub struct PopulationFigure {
    /// Inhabitants (population municipale).
    pub value: i32,
    /// Census year the figure describes.
    pub year: Option<i32>,
    /// Source of the figure.
    pub source: Option<String>,
}

pub fn figure(value: Option<i32>, year: Option<i32>, source: &Option<String>) -> Option<PopulationFigure> {
    value.map(|v| PopulationFigure { value: v, year, source: source.clone() })
}

/// A commune (municipality), identified by its INSEE code.
pub struct Commune(pub commune::Model);

/// A commune (municipality), identified by its INSEE code.
#[Object]
impl Commune {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Commune, self.0.id)
    }
    /// Code officiel géographique (5 characters; 2A/2B in Corsica).
    async fn insee_code(&self) -> &str {
        &self.0.insee_code
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Département code ("13", "2A", "974").
    async fn departement(&self) -> &str {
        &self.0.departement
    }
    /// Région code.
    async fn region(&self) -> Option<&str> {
        self.0.region.as_deref()
    }
    /// SIREN of the commune as a legal entity.
    async fn siren(&self) -> Option<&str> {
        self.0.siren.as_deref()
    }
    /// Population municipale, with its year and source.
    async fn population(&self) -> Option<PopulationFigure> {
        figure(self.0.population, self.0.population_year, &self.0.population_source)
    }
    /// The mayor (maire) in office today, Europe/Paris.
    async fn current_mayor(&self, ctx: &Context<'_>) -> AppResult<Option<Mandate>> {
        Ok(loaders(ctx)?.mayor.load_one(self.0.id).await?.map(|(mandate, person)| Mandate(mandate, person)))
    }
    /// The mandates running today in this commune: mayor, deputy mayors (adjoints),
    /// councillors, DGS.
    async fn council(&self, ctx: &Context<'_>) -> AppResult<Vec<Mandate>> {
        Ok(loaders(ctx)?
            .commune_mandates
            .load_one(self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Mandate::of)
            .collect())
    }
    /// Memberships in intercommunalities (EPCI, EPT); ended ones only with `includeEnded`.
    async fn memberships(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] include_ended: bool,
    ) -> AppResult<Vec<Membership>> {
        let l = loaders(ctx)?;
        let all = l.memberships.load_one(self.0.id).await?.unwrap_or_default();
        Ok(all.into_iter().filter(|m| include_ended || membership_runs(m, l.today)).map(Membership).collect())
    }
    /// Version for optimistic concurrency.
    async fn version(&self) -> i32 {
        self.0.version
    }
}

fn membership_runs(m: &commune_membership::Model, day: NaiveDate) -> bool {
    crate::territory::rules::membership_runs(m.start_date, m.end_date, day)
}

/// A commune's membership of an intercommunality, with its dates.
pub struct Membership(pub commune_membership::Model);

/// A commune's membership of an intercommunality, with its dates.
#[Object]
impl Membership {
    async fn commune(&self, ctx: &Context<'_>) -> AppResult<Commune> {
        loaders(ctx)?
            .commune
            .load_one(self.0.commune_id)
            .await?
            .map(Commune)
            .ok_or_else(|| AppError::not_found("commune"))
    }
    async fn intercommunality(&self, ctx: &Context<'_>) -> AppResult<Intercommunality> {
        loaders(ctx)?
            .intercommunality
            .load_one(self.0.intercommunality_id)
            .await?
            .map(Intercommunality)
            .ok_or_else(|| AppError::not_found("intercommunality"))
    }
    /// First day of membership; null when it predates the first import.
    async fn start_date(&self) -> Option<NaiveDate> {
        self.0.start_date
    }
    /// Day the commune left (exclusive); null while it is a member.
    async fn end_date(&self) -> Option<NaiveDate> {
        self.0.end_date
    }
    /// The commune's population as the intercommunality's file states it.
    async fn population(&self) -> Option<PopulationFigure> {
        figure(self.0.population, self.0.population_year, &None)
    }
}

/// An intercommunality (EPCI à fiscalité propre: métropole, communauté urbaine,
/// d'agglomération, de communes; also the Métropole de Lyon and Grand Paris EPT).
pub struct Intercommunality(pub intercommunality::Model);

/// An intercommunality (EPCI à fiscalité propre: métropole, communauté urbaine,
/// d'agglomération, de communes; also the Métropole de Lyon and Grand Paris EPT).
#[Object]
impl Intercommunality {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Intercommunality, self.0.id)
    }
    /// SIREN (9 digits with a Luhn check digit).
    async fn siren(&self) -> &str {
        &self.0.siren
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Legal form (nature juridique).
    async fn legal_form(&self) -> LegalForm {
        self.0.legal_form
    }
    /// Mode de financement (FPU, FA...).
    async fn financing_mode(&self) -> Option<&str> {
        self.0.financing_mode.as_deref()
    }
    async fn population(&self) -> Option<PopulationFigure> {
        figure(self.0.population, self.0.population_year, &self.0.population_source)
    }
    /// Member communes today, by name.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "first.or(last).unwrap_or(50).clamp(0, 10_000) as usize * child_complexity + 2")]
    async fn communes(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> AppResult<KeyConn<Commune>> {
        let today = loaders(ctx)?.today;
        let q = commune::Entity::find()
            .join(JoinType::InnerJoin, commune::Relation::Membership.def())
            .filter(commune_membership::Column::IntercommunalityId.eq(self.0.id))
            .filter(
                Condition::any()
                    .add(commune_membership::Column::StartDate.is_null())
                    .add(commune_membership::Column::StartDate.lte(today)),
            )
            .filter(
                Condition::any()
                    .add(commune_membership::Column::EndDate.is_null())
                    .add(commune_membership::Column::EndDate.gt(today)),
            );
        commune_page(ctx, "Intercommunality.communes", q, search, PageArgs { after, before, first, last }).await
    }
    /// Membership history, ended ones included.
    async fn memberships(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] include_ended: bool,
    ) -> AppResult<Vec<Membership>> {
        let l = loaders(ctx)?;
        let rows = l.epci_memberships.load_one(self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().filter(|m| include_ended || membership_runs(m, l.today)).map(Membership).collect())
    }
    /// The president (président) in office today.
    async fn president(&self, ctx: &Context<'_>) -> AppResult<Option<Mandate>> {
        let all = loaders(ctx)?.epci_mandates.load_one(self.0.id).await?.unwrap_or_default();
        Ok(all.into_iter().find(|m| m.role == Role::President).map(Mandate::of))
    }
    /// Mandates running today in the intercommunality (president, vice-presidents, staff).
    async fn officers(&self, ctx: &Context<'_>) -> AppResult<Vec<Mandate>> {
        Ok(loaders(ctx)?
            .epci_mandates
            .load_one(self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Mandate::of)
            .collect())
    }
    /// Territories: groupings of member communes (e.g. conférences territoriales des maires).
    async fn territories(&self, ctx: &Context<'_>) -> AppResult<Vec<Territory>> {
        Ok(loaders(ctx)?
            .territories
            .load_one(self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Territory)
            .collect())
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// A grouping of member communes inside an intercommunality (AMP's six former
/// "conseils de territoire", now conférences territoriales des maires).
pub struct Territory(pub territory::Model);

/// A grouping of member communes inside an intercommunality (AMP's six former
/// "conseils de territoire", now conférences territoriales des maires).
#[Object]
impl Territory {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Territory, self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn code(&self) -> Option<&str> {
        self.0.code.as_deref()
    }
    async fn intercommunality(&self, ctx: &Context<'_>) -> AppResult<Intercommunality> {
        loaders(ctx)?
            .intercommunality
            .load_one(self.0.intercommunality_id)
            .await?
            .map(Intercommunality)
            .ok_or_else(|| AppError::not_found("intercommunality"))
    }
    async fn communes(&self, ctx: &Context<'_>) -> AppResult<Vec<Commune>> {
        let l = loaders(ctx)?;
        let ids: Vec<i32> = l
            .territory_communes
            .load_one(self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.commune_id)
            .collect();
        let mut rows: Vec<commune::Model> = l.commune.load_many(ids).await?.into_values().collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(rows.into_iter().map(Commune).collect())
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// Part of the name (accents, case and punctuation ignored) or the start of the INSEE code.
fn search_condition(search: &str) -> Condition {
    let key = search_key(search);
    let code: String = search.trim().to_uppercase().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let mut c = Condition::any().add(commune::Column::SearchKey.like(format!("%{key}%")));
    if !code.is_empty() {
        c = c.add(commune::Column::InseeCode.like(format!("{code}%")));
    }
    c
}

/// A page of communes by name (then id), with keyset cursors of `list`.
pub(crate) async fn commune_page(
    ctx: &Context<'_>,
    list: &'static str,
    mut q: Select<commune::Entity>,
    search: Option<String>,
    args: PageArgs,
) -> AppResult<KeyConn<Commune>> {
    allow(ctx, Action::Read).await?;
    if let Some(s) = search.as_deref().filter(|s| !s.trim().is_empty()) {
        q = q.filter(search_condition(s));
    }
    let order = KeyOrder { list, keys: vec![commune::Column::Name], id: commune::Column::Id, descending: false };
    keyset_query(ctx, &args, &order, q, |c| (vec![c.name.clone()], c.id), Commune).await
}

/// A natural person: an elected official, or staff acting for one.
pub struct Person(pub person::Model);

/// A natural person: an elected official, or staff acting for one.
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
                            ms.iter().filter(|m| membership_runs(m, l.today)).map(|m| m.intercommunality_id).collect()
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

/// A mandate (Popolo "membership"): a person holds a role in an organisation from a
/// start date to an optional end date. The end date is exclusive: from that day the
/// mandate no longer runs, and neither do the powers it gave.
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
        match org_of(&self.0)? {
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
