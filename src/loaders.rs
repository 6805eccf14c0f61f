//! DataLoaders: every relation reachable from a list goes through one of these, so a
//! nested list query costs a constant number of SQL statements whatever its length.
use std::collections::{HashMap, HashSet};

use std::sync::{Arc, Mutex};

use async_graphql::dataloader::{DataLoader, Loader};
use chrono::NaiveDate;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::error::{AppError, AppResult};
use crate::meetings::model::{
    agenda_item, attendance, ballot, body, convocation, meeting, proxy, superseded_convocation,
};
use crate::people::model::{mandate, person};
use crate::people::rules::Role;
use crate::people::service::runs_on;
use crate::platform::mail::model::delivery;
use crate::policies::model::{policy_cosignature, policy_section_source, policy_version, policy_version_section};
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
by_id_loader!(MeetingById, meeting);
by_id_loader!(PolicyVersionById, policy_version);
by_id_loader!(DeliveryById, delivery);

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
            .filter(mandate::Column::Role.eq(Role::Mayor))
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
/// request is loaded once, also when it is asked again while its first batch is still
/// on its way (async-graphql's own cache only knows a key once its batch has answered,
/// so a meeting's documents asked by the meeting and then by its agenda items were
/// sometimes loaded twice, as timing decided).
pub struct Cached<L: Loader<i32>> {
    loader: Arc<DataLoader<L>>,
    flights: Arc<Mutex<HashMap<i32, Flight<L>>>>,
}

/// A handle on the same loader and cache (a subscription keeps one to forget the cache
/// between its events).
impl<L: Loader<i32>> Clone for Cached<L> {
    fn clone(&self) -> Self {
        Cached { loader: self.loader.clone(), flights: self.flights.clone() }
    }
}

type Flight<L> = Shared<BoxFuture<'static, Result<Option<<L as Loader<i32>>::Value>, AppError>>>;

impl<L: Loader<i32, Error = AppError>> Cached<L> {
    fn new(loader: L, delay: std::time::Duration) -> Self {
        Cached { loader: Arc::new(DataLoader::new(loader, tokio::spawn).delay(delay)), flights: Arc::default() }
    }

    fn flight(&self, key: i32) -> Flight<L> {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        flights
            .entry(key)
            .or_insert_with(|| {
                let loader = self.loader.clone();
                async move { loader.load_one(key).await }.boxed().shared()
            })
            .clone()
    }

    pub async fn load_one(&self, key: i32) -> AppResult<Option<L::Value>> {
        self.flight(key).await
    }

    /// Forgets what was loaded, so the next loads read the database again.
    fn clear(&self) {
        self.flights.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The values of these keys, loaded in one batch (keys without a value are left out).
    pub async fn load_many(&self, keys: impl IntoIterator<Item = i32>) -> AppResult<HashMap<i32, L::Value>> {
        let keys: Vec<i32> = keys.into_iter().collect::<HashSet<_>>().into_iter().collect();
        let flights: Vec<Flight<L>> = keys.iter().map(|k| self.flight(*k)).collect();
        let values = futures_util::future::try_join_all(flights).await?;
        Ok(keys.into_iter().zip(values).filter_map(|(k, v)| v.map(|v| (k, v))).collect())
    }
}

/// A loader of every row whose `$column` is one of the keys, grouped by it, in `$order`
/// (then in the optional second order).
macro_rules! grouped_loader {
    ($(#[$doc:meta])* $name:ident, $module:ident, $column:ident, $key:ident, $order:ident($ordcol:ident) $(, $then:ident($thencol:ident))?) => {
        $(#[$doc])*
        pub struct $name(DatabaseConnection);
        impl Loader<i32> for $name {
            type Value = Vec<$module::Model>;
            type Error = AppError;
            async fn load(&self, keys: &[i32]) -> Result<HashMap<i32, Self::Value>, Self::Error> {
                let rows = $module::Entity::find()
                    .filter($module::Column::$column.is_in(keys.iter().copied()))
                    .$order($module::Column::$ordcol)
                    $(.$then($module::Column::$thencol))?
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
    /// Convocations of a meeting's earlier convenings, oldest convening first, by meeting.
    SupersededByMeeting, superseded_convocation, MeetingId, meeting_id, order_by_asc(Sequence), order_by_asc(Id)
);
grouped_loader!(
    /// A published version's sections in reading order, by version.
    SectionsByVersion, policy_version_section, VersionId, version_id, order_by_asc(Ordinal)
);
grouped_loader!(
    /// The communes behind a contribution: its author's first, then the co-signatures.
    SignaturesByContribution, policy_cosignature, ContributionId, contribution_id, order_by_desc(Author), order_by_asc(Id)
);
/// The contributions behind a version's changes, by version.
pub struct SourcesByVersion(DatabaseConnection);
impl Loader<i32> for SourcesByVersion {
    type Value = Vec<policy_section_source::Model>;
    type Error = AppError;
    async fn load(&self, keys: &[i32]) -> Result<HashMap<i32, Self::Value>, Self::Error> {
        let rows = policy_section_source::Entity::find()
            .filter(policy_section_source::Column::VersionId.is_in(keys.iter().copied()))
            .order_by_asc(policy_section_source::Column::ContributionId)
            .all(&self.0)
            .await?;
        Ok(group(rows.into_iter().filter_map(|r| r.version_id.map(|v| (v, r)))))
    }
}
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

grouped_loader!(
    /// A meeting's agenda (ordre du jour), in order, by meeting.
    AgendaByMeeting, agenda_item, MeetingId, meeting_id, order_by_asc(Position)
);
grouped_loader!(
    /// The attendance recorded at a meeting, by meeting.
    AttendanceByMeeting, attendance, MeetingId, meeting_id, order_by_asc(Id)
);

/// The meetings of these keys with their bodies: two statements for any number.
async fn meetings_with_bodies(
    db: &DatabaseConnection,
    keys: &[i32],
) -> Result<(Vec<meeting::Model>, HashMap<i32, body::Model>), AppError> {
    let meetings = meeting::Entity::find().filter(meeting::Column::Id.is_in(keys.iter().copied())).all(db).await?;
    let body_ids: HashSet<i32> = meetings.iter().map(|m| m.body_id).collect();
    let bodies = body::Entity::find()
        .filter(body::Column::Id.is_in(body_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
    Ok((meetings, bodies))
}

/// The proxies valid at a meeting (`meetings::service::proxies_at`), by meeting: the
/// meetings, their bodies' counted meetings and their bodies' proxies, three statements.
pub struct ProxiesByMeeting(DatabaseConnection);
impl Loader<i32> for ProxiesByMeeting {
    type Value = Vec<proxy::Model>;
    type Error = AppError;
    async fn load(&self, keys: &[i32]) -> Result<HashMap<i32, Self::Value>, Self::Error> {
        use crate::meetings::service::{proxies_valid_at, COUNTED_STATUSES};
        let meetings =
            meeting::Entity::find().filter(meeting::Column::Id.is_in(keys.iter().copied())).all(&self.0).await?;
        let bodies: HashSet<i32> = meetings.iter().map(|m| m.body_id).collect();
        let counted = meeting::Entity::find()
            .filter(meeting::Column::BodyId.is_in(bodies.iter().copied()))
            .filter(meeting::Column::Status.is_in(COUNTED_STATUSES))
            .order_by_asc(meeting::Column::StartsAt)
            .order_by_asc(meeting::Column::Id)
            .all(&self.0)
            .await?;
        let order = group(counted.into_iter().map(|m| (m.body_id, m.id)));
        let proxies = proxy::Entity::find()
            .filter(proxy::Column::BodyId.is_in(bodies))
            .order_by_asc(proxy::Column::Id)
            .all(&self.0)
            .await?;
        let proxies = group(proxies.into_iter().map(|p| (p.body_id, p)));
        Ok(meetings
            .into_iter()
            .map(|m| {
                let order = order.get(&m.body_id).map(Vec::as_slice).unwrap_or_default();
                let all = proxies.get(&m.body_id).cloned().unwrap_or_default();
                (m.id, proxies_valid_at(order, &m, all))
            })
            .collect())
    }
}

/// Quorum at each agenda item of a meeting, by meeting (then by item id)
/// (`meetings::service::quorum_by_item` for many meetings at once, in five statements).
pub struct QuorumByMeeting(DatabaseConnection);
impl Loader<i32> for QuorumByMeeting {
    type Value = HashMap<i32, crate::meetings::rules::Quorum>;
    type Error = AppError;
    async fn load(&self, keys: &[i32]) -> Result<HashMap<i32, Self::Value>, Self::Error> {
        use crate::meetings::rules::{quorum_at, Presence};
        use crate::meetings::service::presence;
        use sea_orm::QuerySelect;
        let (meetings, bodies) = meetings_with_bodies(&self.0, keys).await?;
        let items = agenda_item::Entity::find()
            .filter(agenda_item::Column::MeetingId.is_in(keys.iter().copied()))
            .all(&self.0)
            .await?;
        let items = group(items.into_iter().map(|i| (i.meeting_id, i)));
        let rows = attendance::Entity::find()
            .filter(attendance::Column::MeetingId.is_in(keys.iter().copied()))
            .all(&self.0)
            .await?;
        let presences: HashMap<i32, Vec<Presence>> = group(rows.iter().map(|a| (a.meeting_id, presence(a))));
        // Members in office: those convened (frozen at convening), not today's seats.
        let in_office: HashMap<i32, i64> = convocation::Entity::find()
            .select_only()
            .column(convocation::Column::MeetingId)
            .column_as(convocation::Column::Id.count(), "n")
            .filter(convocation::Column::MeetingId.is_in(keys.iter().copied()))
            .group_by(convocation::Column::MeetingId)
            .into_tuple::<(i32, i64)>()
            .all(&self.0)
            .await?
            .into_iter()
            .collect();
        let mut out = HashMap::new();
        for m in meetings {
            let b = bodies.get(&m.body_id).ok_or_else(|| AppError::internal("meeting without its body"))?;
            let rule = b.quorum_rule;
            let second = m.first_convocation_id.is_some();
            let n = in_office.get(&m.id).copied().unwrap_or(0);
            let here = presences.get(&m.id).map(Vec::as_slice).unwrap_or_default();
            let by_item = items
                .get(&m.id)
                .map(|items| items.iter().map(|i| (i.id, quorum_at(rule, n, here, i.position, second))).collect())
                .unwrap_or_default();
            out.insert(m.id, by_item);
        }
        Ok(out)
    }
}

/// Every meeting of a body, by start, by body (whoever reads them filters drafts).
pub struct MeetingsByBody(DatabaseConnection);
impl Loader<i32> for MeetingsByBody {
    type Value = Vec<meeting::Model>;
    type Error = AppError;
    async fn load(&self, keys: &[i32]) -> Result<HashMap<i32, Self::Value>, Self::Error> {
        let rows = meeting::Entity::find()
            .filter(meeting::Column::BodyId.is_in(keys.iter().copied()))
            .order_by_asc(meeting::Column::StartsAt)
            .order_by_asc(meeting::Column::Id)
            .all(&self.0)
            .await?;
        Ok(group(rows.into_iter().map(|m| (m.body_id, m))))
    }
}

/// The loaders of one request (a clone shares them).
#[derive(Clone)]
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
    pub superseded: Cached<SupersededByMeeting>,
    pub ballots: Cached<BallotsByItem>,
    pub documents: Cached<DocumentsByMeeting>,
    pub quorum: Cached<QuorumByMeeting>,
    pub meeting: Cached<MeetingById>,
    pub agenda: Cached<AgendaByMeeting>,
    pub attendance: Cached<AttendanceByMeeting>,
    pub proxies: Cached<ProxiesByMeeting>,
    pub body_meetings: Cached<MeetingsByBody>,
    pub policy_version: Cached<PolicyVersionById>,
    pub signatures: Cached<SignaturesByContribution>,
    pub sources: Cached<SourcesByVersion>,
    pub version_sections: Cached<SectionsByVersion>,
    pub delivery: Cached<DeliveryById>,
}

impl Loaders {
    /// Forgets everything loaded: a subscription reads afresh at each event.
    pub fn forget(&self) {
        self.commune.clear();
        self.intercommunality.clear();
        self.person.clear();
        self.mandate.clear();
        self.territory.clear();
        self.commune_mandates.clear();
        self.mayor.clear();
        self.epci_mandates.clear();
        self.person_mandates.clear();
        self.memberships.clear();
        self.epci_memberships.clear();
        self.territories.clear();
        self.territory_communes.clear();
        self.body.clear();
        self.convocations.clear();
        self.superseded.clear();
        self.ballots.clear();
        self.documents.clear();
        self.quorum.clear();
        self.meeting.clear();
        self.agenda.clear();
        self.attendance.clear();
        self.proxies.clear();
        self.body_meetings.clear();
        self.policy_version.clear();
        self.signatures.clear();
        self.sources.clear();
        self.version_sections.clear();
        self.delivery.clear();
    }

    pub fn new(db: &DatabaseConnection, delay: std::time::Duration) -> Self {
        let today = crate::time::today_paris();
        fn with<L: Loader<i32, Error = AppError>>(l: L, delay: std::time::Duration) -> Cached<L> {
            Cached::new(l, delay)
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
            superseded: with(SupersededByMeeting(db.clone()), delay),
            ballots: with(BallotsByItem(db.clone()), delay),
            documents: with(DocumentsByMeeting(db.clone()), delay),
            quorum: with(QuorumByMeeting(db.clone()), delay),
            meeting: with(MeetingById(db.clone()), delay),
            agenda: with(AgendaByMeeting(db.clone()), delay),
            attendance: with(AttendanceByMeeting(db.clone()), delay),
            proxies: with(ProxiesByMeeting(db.clone()), delay),
            body_meetings: with(MeetingsByBody(db.clone()), delay),
            policy_version: with(PolicyVersionById(db.clone()), delay),
            signatures: with(SignaturesByContribution(db.clone()), delay),
            sources: with(SourcesByVersion(db.clone()), delay),
            version_sections: with(SectionsByVersion(db.clone()), delay),
            delivery: with(DeliveryById(db.clone()), delay),
        }
    }
}
