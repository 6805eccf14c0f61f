//! DataLoaders: every relation reachable from a list goes through one of these, so a
//! nested list query costs a constant number of SQL statements whatever its length.
use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use chrono::NaiveDate;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::error::AppError;
use crate::meetings::model::{ballot, body, convocation};
use crate::people::model::{mandate, person};
use crate::people::rules::Role;
use crate::people::service::runs_on;
use crate::territory::model::{commune, commune_membership, intercommunality, territory, territory_commune};

macro_rules! by_id_loader {
    ($name:ident, $module:ident) => {
        pub struct $name(DatabaseConnection);
        impl Loader<i32> for $name {
            type Value = $module::Model;
            type Error = AppError;
            async fn load(&self, keys: &[i32]) -> Result<HashMap<i32, Self::Value>, Self::Error> {
                Ok($module::Entity::find()
                    .filter($module::Column::Id.is_in(keys.iter().copied()))
                    .all(&self.0)
                    .await?
                    .into_iter()
                    .map(|m| (m.id, m))
                    .collect())
            }
        }
    };
}

by_id_loader!(CommuneById, commune);
by_id_loader!(IntercommunalityById, intercommunality);
by_id_loader!(PersonById, person);
by_id_loader!(MandateById, mandate);
by_id_loader!(TerritoryById, territory);
by_id_loader!(BodyById, body);

fn group<T>(rows: impl IntoIterator<Item = (i32, T)>) -> HashMap<i32, Vec<T>> {
    let mut out: HashMap<i32, Vec<T>> = HashMap::new();
    for (k, v) in rows {
        out.entry(k).or_default().push(v);
    }
    out
}

/// Mandates running today in a commune (its council and staff), by commune.
pub struct CurrentCommuneMandates(DatabaseConnection, NaiveDate);
impl Loader<i32> for CurrentCommuneMandates {
    type Value = Vec<mandate::Model>;
    type Error = AppError;
    async fn load(&self, keys: &[i32]) -> Result<HashMap<i32, Self::Value>, Self::Error> {
        let rows = mandate::Entity::find()
            .filter(mandate::Column::CommuneId.is_in(keys.iter().copied()))
            .filter(mandate::Column::StartDate.lte(self.1))
            .order_by_asc(mandate::Column::Id)
            .all(&self.0)
            .await?;
        Ok(group(rows.into_iter().filter(|m| runs_on(m, self.1)).filter_map(|m| m.commune_id.map(|c| (c, m)))))
    }
}

/// The mayor in office today with their person (one joined query), by commune.
pub struct CurrentMayor(DatabaseConnection, NaiveDate);
impl Loader<i32> for CurrentMayor {
    type Value = (mandate::Model, Option<person::Model>);
    type Error = AppError;
    async fn load(&self, keys: &[i32]) -> Result<HashMap<i32, Self::Value>, Self::Error> {
        let rows = mandate::Entity::find()
            .find_also_related(person::Entity)
            .filter(mandate::Column::CommuneId.is_in(keys.iter().copied()))
            .filter(mandate::Column::Role.eq(Role::Mayor.as_str()))
            .filter(mandate::Column::StartDate.lte(self.1))
            .all(&self.0)
            .await?;
        Ok(rows
            .into_iter()
            .filter(|(m, _)| runs_on(m, self.1))
            .filter_map(|(m, p)| m.commune_id.map(|c| (c, (m, p))))
            .collect())
    }
}

/// Mandates running today in an intercommunality (president, vice-presidents, staff).
pub struct CurrentEpciMandates(DatabaseConnection, NaiveDate);
impl Loader<i32> for CurrentEpciMandates {
    type Value = Vec<mandate::Model>;
    type Error = AppError;
    async fn load(&self, keys: &[i32]) -> Result<HashMap<i32, Self::Value>, Self::Error> {
        let rows = mandate::Entity::find()
            .filter(mandate::Column::IntercommunalityId.is_in(keys.iter().copied()))
            .filter(mandate::Column::StartDate.lte(self.1))
            .order_by_asc(mandate::Column::Id)
            .all(&self.0)
            .await?;
        Ok(group(rows.into_iter().filter(|m| runs_on(m, self.1)).filter_map(|m| m.intercommunality_id.map(|e| (e, m)))))
    }
}

/// A DataLoader whose cache lives as long as the request: a key asked twice in one
/// request is loaded once.
pub type Cached<L> = DataLoader<L, HashMapCache>;

/// A loader of every row whose `$column` is one of the keys, grouped by it, in `$order`.
macro_rules! grouped_loader {
    ($(#[$doc:meta])* $name:ident, $module:ident, $column:ident, $key:ident, $order:ident($ordcol:ident)) => {
        $(#[$doc])*
        pub struct $name(DatabaseConnection);
        impl Loader<i32> for $name {
            type Value = Vec<$module::Model>;
            type Error = AppError;
            async fn load(&self, keys: &[i32]) -> Result<HashMap<i32, Self::Value>, Self::Error> {
                let rows = $module::Entity::find()
                    .filter($module::Column::$column.is_in(keys.iter().copied()))
                    .$order($module::Column::$ordcol)
                    .all(&self.0)
                    .await?;
                Ok(group(rows.into_iter().map(|r| (r.$key, r))))
            }
        }
    };
}

grouped_loader!(
    /// Every mandate of a person, past and present, newest first, by person.
    MandatesByPerson, mandate, PersonId, person_id, order_by_desc(StartDate)
);
grouped_loader!(
    /// Every membership of a commune, past and present, by commune.
    MembershipsByCommune, commune_membership, CommuneId, commune_id, order_by_asc(Id)
);
grouped_loader!(
    /// Every membership in an intercommunality, past and present, by intercommunality.
    MembershipsByEpci, commune_membership, IntercommunalityId, intercommunality_id, order_by_asc(Id)
);
grouped_loader!(
    /// Territories of an intercommunality, by name.
    TerritoriesByEpci, territory, IntercommunalityId, intercommunality_id, order_by_asc(Name)
);
grouped_loader!(
    /// The commune links of a territory.
    CommunesOfTerritory, territory_commune, TerritoryId, territory_id, order_by_asc(CommuneId)
);

grouped_loader!(
    /// A meeting's convocations, in sending order, by meeting.
    ConvocationsByMeeting, convocation, MeetingId, meeting_id, order_by_asc(Id)
);
grouped_loader!(
    /// An agenda item's roll call, by item.
    BallotsByItem, ballot, AgendaItemId, agenda_item_id, order_by_asc(Id)
);

/// Document metadata (not the content) of a meeting, by meeting.
pub struct DocumentsByMeeting(DatabaseConnection);
impl Loader<i32> for DocumentsByMeeting {
    type Value = Vec<crate::meetings::graphql::DocumentMeta>;
    type Error = AppError;
    async fn load(&self, keys: &[i32]) -> Result<HashMap<i32, Self::Value>, Self::Error> {
        let rows = crate::meetings::graphql::document_metas(&self.0, keys).await?;
        Ok(group(rows.into_iter().map(|d| (d.meeting_id, d))))
    }
}

/// Quorum at each agenda item of a meeting, by meeting (then by item id).
pub struct QuorumByMeeting(DatabaseConnection);
impl Loader<i32> for QuorumByMeeting {
    type Value = HashMap<i32, crate::meetings::rules::Quorum>;
    type Error = AppError;
    async fn load(&self, keys: &[i32]) -> Result<HashMap<i32, Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        for id in keys {
            let (m, b) = crate::meetings::service::meeting_of(&self.0, *id).await?;
            let q = crate::meetings::service::quorum_by_item(&self.0, &m, &b).await?;
            out.insert(*id, q.into_iter().map(|(i, q)| (i.id, q)).collect());
        }
        Ok(out)
    }
}

/// The loaders of one request.
pub struct Loaders {
    pub today: NaiveDate,
    pub commune: Cached<CommuneById>,
    pub intercommunality: Cached<IntercommunalityById>,
    pub person: Cached<PersonById>,
    pub mandate: Cached<MandateById>,
    pub territory: Cached<TerritoryById>,
    pub commune_mandates: Cached<CurrentCommuneMandates>,
    pub mayor: Cached<CurrentMayor>,
    pub epci_mandates: Cached<CurrentEpciMandates>,
    pub person_mandates: Cached<MandatesByPerson>,
    pub memberships: Cached<MembershipsByCommune>,
    pub epci_memberships: Cached<MembershipsByEpci>,
    pub territories: Cached<TerritoriesByEpci>,
    pub territory_communes: Cached<CommunesOfTerritory>,
    pub body: Cached<BodyById>,
    pub convocations: Cached<ConvocationsByMeeting>,
    pub ballots: Cached<BallotsByItem>,
    pub documents: Cached<DocumentsByMeeting>,
    pub quorum: Cached<QuorumByMeeting>,
}

impl Loaders {
    pub fn new(db: &DatabaseConnection, delay: std::time::Duration) -> Self {
        let today = crate::time::today_paris();
        fn with<L: Loader<i32>>(l: L, delay: std::time::Duration) -> Cached<L> {
            DataLoader::with_cache(l, tokio::spawn, HashMapCache::default()).delay(delay)
        }
        Loaders {
            today,
            commune: with(CommuneById(db.clone()), delay),
            intercommunality: with(IntercommunalityById(db.clone()), delay),
            person: with(PersonById(db.clone()), delay),
            mandate: with(MandateById(db.clone()), delay),
            territory: with(TerritoryById(db.clone()), delay),
            commune_mandates: with(CurrentCommuneMandates(db.clone(), today), delay),
            mayor: with(CurrentMayor(db.clone(), today), delay),
            epci_mandates: with(CurrentEpciMandates(db.clone(), today), delay),
            person_mandates: with(MandatesByPerson(db.clone()), delay),
            memberships: with(MembershipsByCommune(db.clone()), delay),
            epci_memberships: with(MembershipsByEpci(db.clone()), delay),
            territories: with(TerritoriesByEpci(db.clone()), delay),
            territory_communes: with(CommunesOfTerritory(db.clone()), delay),
            body: with(BodyById(db.clone()), delay),
            convocations: with(ConvocationsByMeeting(db.clone()), delay),
            ballots: with(BallotsByItem(db.clone()), delay),
            documents: with(DocumentsByMeeting(db.clone()), delay),
            quorum: with(QuorumByMeeting(db.clone()), delay),
        }
    }
}
