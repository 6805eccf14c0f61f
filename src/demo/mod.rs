//! The demo (`entente serve --demo`): the Métropole d'Aix-Marseille-Provence with its 92
//! communes and populations from the official files (data/demo/amp.json), a fictional
//! mayor per commune, the president, a few DGS and the demo accounts of the README.
//! The names of persons are invented; the territory is real.
use chrono::{NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, PaginatorTrait, Set};
use serde::Deserialize;
use serde_json::json;

use crate::audit::service::{record, Entry};
use crate::auth::model::account;
use crate::auth::policy::Org;
use crate::auth::{Actor, PlatformRole};
use crate::error::{AppError, AppResult};
use crate::people::model::person;
use crate::people::rules::Period;
use crate::people::rules::Role;
use crate::people::service::insert_mandate;
use crate::territory::model::{commune, commune_membership, intercommunality};
use crate::territory::rules::{search_key, InseeCode, LegalForm, Siren};
use crate::AppState;

/// The password of every demo account (printed in the README).
pub const DEMO_PASSWORD: &str = "entente-demo-2026";
pub const AMP_SIREN: &str = "200054807";

mod policies;

const DATA: &str = include_str!("../../data/demo/amp.json");

#[derive(Deserialize)]
struct DemoFile {
    source: String,
    intercommunality: DemoEpci,
    communes: Vec<DemoCommune>,
}
#[derive(Deserialize)]
struct DemoEpci {
    code: String,
    nom: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "modeFinancement")]
    financing: Option<String>,
    #[serde(rename = "populationMunicipale")]
    population: Option<i32>,
}
#[derive(Deserialize)]
struct DemoCommune {
    code: String,
    nom: String,
    departement: String,
    region: Option<String>,
    siren: Option<String>,
    population: Option<i32>,
    #[serde(rename = "populationMunicipaleEpci")]
    population_epci: Option<i32>,
}

/// The demo's accounts: (e-mail, role, what they are).
pub const ACCOUNTS: &[(&str, &str)] = &[
    ("admin@demo.entente.fr", "platform administrator"),
    ("secretariat@demo.entente.fr", "AMP secretariat (DGA Concertation territoriale)"),
    ("president@demo.entente.fr", "president of AMP"),
    ("dgs.metropole@demo.entente.fr", "DGS of AMP"),
    ("maire.marseille@demo.entente.fr", "mayor of Marseille (13055)"),
    ("maire.aix@demo.entente.fr", "mayor of Aix-en-Provence (13001)"),
    ("maire.cassis@demo.entente.fr", "mayor of Cassis (13022)"),
    ("dgs.marseille@demo.entente.fr", "DGS of Marseille"),
];

const GIVEN: [&str; 24] = [
    "Camille",
    "Dominique",
    "Claude",
    "Sandrine",
    "Patrick",
    "Nathalie",
    "Jean-Marc",
    "Sophie",
    "Frédéric",
    "Isabelle",
    "Olivier",
    "Martine",
    "Laurent",
    "Christine",
    "Éric",
    "Valérie",
    "Philippe",
    "Catherine",
    "Thierry",
    "Sylvie",
    "Pascal",
    "Hélène",
    "Gilles",
    "Corinne",
];
const FAMILY: [&str; 31] = [
    "Martin",
    "Bernard",
    "Roux",
    "Fabre",
    "Blanc",
    "Garcia",
    "Michel",
    "Giraud",
    "Arnaud",
    "Mercier",
    "Bonnet",
    "Girard",
    "Rey",
    "Lambert",
    "Fontaine",
    "Chevalier",
    "Robin",
    "Masson",
    "Sanchez",
    "Gauthier",
    "Morel",
    "Faure",
    "André",
    "Ricard",
    "Audibert",
    "Bremond",
    "Carle",
    "Daumas",
    "Estienne",
    "Granier",
    "Olivieri",
];

fn date(y: i32, m: u32, d: u32) -> AppResult<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| AppError::internal("bad demo date"))
}

#[derive(Debug)]
pub struct DemoReport {
    pub communes: usize,
    pub persons: usize,
    pub accounts: usize,
}

/// Loads the demo into an empty database; refuses (CONFLICT) otherwise.
pub async fn load(state: &AppState) -> AppResult<DemoReport> {
    let actor = Actor::system("demo");
    let file: DemoFile = serde_json::from_str(DATA).map_err(AppError::internal)?;
    if commune::Entity::find().count(&state.db).await? > 0 || account::Entity::find().count(&state.db).await? > 0 {
        return Err(AppError::Conflict("--demo loads only into an empty database".into()));
    }
    let hash = state.hasher.hash(DEMO_PASSWORD).await?;
    let now = Utc::now();
    let txn = crate::db::write(&state.db).await?;

    let e = &file.intercommunality;
    let siren = Siren::parse(&e.code).map_err(AppError::internal)?;
    let form = LegalForm::parse_official(&e.kind).map_err(AppError::internal)?;
    let amp = intercommunality::ActiveModel {
        siren: Set(siren.as_str().into()),
        name: Set(e.nom.clone()),
        search_key: Set(search_key(&e.nom)),
        legal_form: Set(form),
        financing_mode: Set(e.financing.clone()),
        population: Set(e.population),
        population_year: Set(e.population.map(|_| 2022)),
        population_source: Set(Some(format!("INSEE population municipale ({})", file.source))),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
    .insert(&txn)
    .await?;

    let installed = date(2026, 3, 28)?;
    let mut persons = 0;
    let mut mayors = std::collections::HashMap::new();
    for (i, c) in file.communes.iter().enumerate() {
        let code = InseeCode::parse(&c.code).map_err(AppError::internal)?;
        let row = commune::ActiveModel {
            insee_code: Set(code.as_str().into()),
            name: Set(c.nom.clone()),
            search_key: Set(search_key(&c.nom)),
            departement: Set(c.departement.clone()),
            region: Set(c.region.clone()),
            siren: Set(c.siren.clone()),
            population: Set(c.population),
            population_year: Set(c.population.map(|_| 2023)),
            population_source: Set(Some(format!("INSEE population municipale ({})", file.source))),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        commune_membership::ActiveModel {
            commune_id: Set(row.id),
            intercommunality_id: Set(amp.id),
            start_date: Set(Some(date(2016, 1, 1)?)),
            end_date: Set(None),
            population: Set(c.population_epci),
            population_year: Set(c.population_epci.map(|_| 2022)),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let mayor = add_person(
            &txn,
            GIVEN[(i * 7) % GIVEN.len()],
            FAMILY[(i * 11 + i / FAMILY.len()) % FAMILY.len()],
            None,
            Some(amp.id),
        )
        .await?;
        persons += 1;
        add_mandate(&txn, mayor.id, Org::Commune(row.id), Role::Mayor, None, installed, None).await?;
        mayors.insert(c.code.clone(), (row.id, mayor.id));
    }
    let commune_of = |code: &str| {
        mayors.get(code).copied().ok_or_else(|| AppError::internal(format!("demo commune {code} missing")))
    };
    let (marseille, marseille_mayor) = commune_of("13055")?;
    let (_, aix_mayor) = commune_of("13001")?;
    let (_, cassis_mayor) = commune_of("13022")?;

    // Marseille's previous mayor, to show history.
    let former = add_person(&txn, "Albert", "Ancien", None, Some(amp.id)).await?;
    add_mandate(&txn, former.id, Org::Commune(marseille), Role::Mayor, None, date(2020, 7, 4)?, Some(installed))
        .await?;
    let president = add_person(&txn, "Hélène", "Présidente", Some("president@demo.entente.fr"), Some(amp.id)).await?;
    add_mandate(&txn, president.id, Org::Intercommunality(amp.id), Role::President, None, date(2026, 4, 17)?, None)
        .await?;
    let secretariat = add_person(&txn, "Claire", "Durand", Some("secretariat@demo.entente.fr"), Some(amp.id)).await?;
    add_mandate(
        &txn,
        secretariat.id,
        Org::Intercommunality(amp.id),
        Role::SecretariatAgent,
        Some("DGA Concertation territoriale"),
        date(2024, 9, 1)?,
        None,
    )
    .await?;
    let dgs_amp = add_person(&txn, "Marc", "Lefèvre", Some("dgs.metropole@demo.entente.fr"), Some(amp.id)).await?;
    add_mandate(&txn, dgs_amp.id, Org::Intercommunality(amp.id), Role::Dgs, None, date(2023, 1, 2)?, None).await?;
    let dgs_marseille =
        add_person(&txn, "Nadia", "Benali", Some("dgs.marseille@demo.entente.fr"), Some(amp.id)).await?;
    add_mandate(&txn, dgs_marseille.id, Org::Commune(marseille), Role::Dgs, None, date(2021, 5, 3)?, None).await?;
    let admin = add_person(&txn, "Alex", "Admin", Some("admin@demo.entente.fr"), None).await?;
    persons += 6;

    let accounts = [
        (admin.id, "admin@demo.entente.fr", PlatformRole::Admin, None),
        (secretariat.id, "secretariat@demo.entente.fr", PlatformRole::Secretariat, Some(amp.id)),
        (president.id, "president@demo.entente.fr", PlatformRole::Member, None),
        (dgs_amp.id, "dgs.metropole@demo.entente.fr", PlatformRole::Member, None),
        (marseille_mayor, "maire.marseille@demo.entente.fr", PlatformRole::Member, None),
        (aix_mayor, "maire.aix@demo.entente.fr", PlatformRole::Member, None),
        (cassis_mayor, "maire.cassis@demo.entente.fr", PlatformRole::Member, None),
        (dgs_marseille.id, "dgs.marseille@demo.entente.fr", PlatformRole::Member, None),
    ];
    for (person_id, email, role, of) in accounts {
        crate::auth::service::new_account(person_id, email, Some(hash.clone()), role, of).insert(&txn).await?;
    }
    record(
        &txn,
        &actor,
        Entry {
            action: "LOAD_DEMO",
            target_type: "Intercommunality",
            target_id: Some(amp.id),
            scope: Some(amp.id),
            summary: json!({ "communes": file.communes.len(), "persons": persons, "accounts": accounts.len() }),
        },
    )
    .await?;
    txn.commit().await?;
    let president_mandate = president_mandate(state, president.id).await?;
    let bodies =
        meetings(state, &actor, amp.id, president_mandate, &[marseille_mayor, aix_mayor, cassis_mayor]).await?;
    let pact = referrals(state, &actor, amp.id).await?;
    policies::load(state, amp.id, president_mandate, bodies, pact).await?;
    Ok(DemoReport { communes: file.communes.len(), persons, accounts: accounts.len() })
}

async fn president_mandate(state: &AppState, person_id: i32) -> AppResult<i32> {
    use sea_orm::{ColumnTrait, QueryFilter};
    crate::people::model::mandate::Entity::find()
        .filter(crate::people::model::mandate::Column::PersonId.eq(person_id))
        .one(&state.db)
        .await?
        .map(|m| m.id)
        .ok_or_else(|| AppError::internal("demo president has no mandate"))
}

/// What the policies of the demo build on: its bodies and the plenary's OPINION item.
pub(crate) struct Bodies {
    pub conference: i32,
    pub group: i32,
    pub opinion_item: i32,
}

/// The demo's bodies: the conference of mayors with a plenary convened two weeks ahead,
/// a working group animated by the president with three mayors, and the DGS committee.
/// Made through the same use cases as the API, audited as `system:demo`.
async fn meetings(
    state: &AppState,
    actor: &Actor,
    amp: i32,
    president_mandate: i32,
    mayors: &[i32],
) -> AppResult<Bodies> {
    use crate::meetings::rules::{AgendaItemKind, BodyKind, SeatRole};
    use crate::meetings::service::{self as m, MeetingFields, NewBody, NewItem};
    use sea_orm::{ColumnTrait, QueryFilter};
    let body = |kind, name: &str, theme: Option<&str>| NewBody {
        intercommunality_id: amp,
        kind,
        name: name.into(),
        theme: theme.map(str::to_string),
    };
    let conference =
        m::create_body(state, actor, body(BodyKind::ConferenceOfMayors, "Conférence métropolitaine des maires", None))
            .await?;
    let group =
        m::create_body(state, actor, body(BodyKind::WorkingGroup, "Groupe de travail Mobilités", Some("Mobilités")))
            .await?;
    m::create_body(state, actor, body(BodyKind::DgsCommittee, "Comité métropolitain des DGS", None)).await?;
    let today = crate::time::today_paris();
    m::add_seat(state, actor, group.id, president_mandate, SeatRole::Animator, today).await?;
    for person in mayors {
        let mandate = crate::people::model::mandate::Entity::find()
            .filter(crate::people::model::mandate::Column::PersonId.eq(*person))
            .one(&state.db)
            .await?
            .ok_or_else(|| AppError::internal("demo mayor has no mandate"))?;
        m::add_seat(state, actor, group.id, mandate.id, SeatRole::Member, today).await?;
    }
    let day = today + chrono::Duration::days(14);
    let at = |h: u32| day.and_hms_opt(h, 0, 0).ok_or_else(|| AppError::internal("demo time"));
    let plenary = m::create_meeting(
        state,
        actor,
        conference.id,
        None,
        MeetingFields {
            title: Some("Séance plénière".into()),
            starts_at: Some(at(10)?),
            ends_at: Some(at(12)?),
            venue: Some(Some("Hôtel de la Métropole, Marseille".into())),
            host_commune_id: Some(None),
            online_url: Some(None),
        },
    )
    .await?;
    let mut opinion_item = 0;
    for (kind, title) in [
        (AgendaItemKind::ProgressReport, "État d'avancement des travaux"),
        (AgendaItemKind::Debate, "Pacte de gouvernance"),
        (AgendaItemKind::Opinion, "Avis sur l'agenda de la mobilité métropolitaine"),
    ] {
        let item = NewItem {
            kind,
            title: title.into(),
            presenter_id: None,
            note: Some(format!("Note explicative de synthèse : {title}.")),
            minutes_of_meeting_id: None,
        };
        opinion_item = m::add_agenda_item(state, actor, plenary.id, item).await?.id;
    }
    m::convene(state, actor, plenary.id, plenary.version, None, &[]).await?;
    Ok(Bodies { conference: conference.id, group: group.id, opinion_item })
}

/// The demo's referrals: the governance pact open for two months (Aix has answered), and
/// a data collection for the DGS committee, with its form. Made through the use cases.
/// Returns the pact's referral.
async fn referrals(state: &AppState, actor: &Actor, amp: i32) -> AppResult<i32> {
    use crate::referrals::form::{Field, FieldType};
    use crate::referrals::rules::{Opinion, Procedure, Silence};
    use crate::referrals::service::{self as r, ReferralFields, ResponseInput};
    let pact = r::create_referral(
        state,
        actor,
        Some(amp),
        Procedure::GovernancePact,
        ReferralFields {
            title: "Pacte de gouvernance 2026-2032".into(),
            description: Some("Projet de pacte de gouvernance entre la Métropole et ses communes.".into()),
            ..Default::default()
        },
    )
    .await?;
    let pact = r::open(state, actor, pact.id, pact.version, None).await?;
    let aix = {
        use crate::territory::model::commune;
        use sea_orm::{ColumnTrait, QueryFilter};
        commune::Entity::find()
            .filter(commune::Column::InseeCode.eq("13001"))
            .one(&state.db)
            .await?
            .ok_or_else(|| AppError::internal("demo: no Aix-en-Provence"))?
    };
    let input = ResponseInput {
        opinion: Some(Opinion::FavourableWithReservations),
        reasons: Some("Favorable, sous réserve d'une conférence territoriale par bassin de vie.".into()),
        deliberation_number: Some("2026-DCM-118".into()),
        deliberation_date: Some(crate::time::today_paris()),
        answers: None,
    };
    r::save_response(state, actor, pact.id, aix.id, 1, input, true).await?;

    let census = r::create_referral(
        state,
        actor,
        Some(amp),
        Procedure::DataCollection,
        ReferralFields {
            title: "Recensement des équipements sportifs".into(),
            deadline_date: Some(crate::time::today_paris() + chrono::Duration::days(45)),
            silence: Some(Silence::NoResponse),
            ..Default::default()
        },
    )
    .await?;
    let field = |key: &str, label: &str, kind: FieldType, unit: Option<&str>, choices: &[&str]| Field {
        key: key.into(),
        label: label.into(),
        kind: kind.as_str().into(),
        required: kind != FieldType::SingleChoice,
        min: kind.numeric().then_some(0.0),
        max: None,
        unit: unit.map(str::to_string),
        choices: choices.iter().map(|c| c.to_string()).collect(),
    };
    let fields = vec![
        field("equipments", "Équipements sportifs communaux", FieldType::Integer, None, &[]),
        field("budget", "Budget de fonctionnement annuel", FieldType::Decimal, Some("€"), &[]),
        field(
            "management",
            "Mode de gestion principal",
            FieldType::SingleChoice,
            None,
            &["régie", "délégation", "mixte"],
        ),
    ];
    r::set_form(state, actor, census.id, fields).await?;
    r::open(state, actor, census.id, census.version, None).await?;
    Ok(pact.id)
}

async fn add_person<C: ConnectionTrait>(
    conn: &C,
    given: &str,
    family: &str,
    email: Option<&str>,
    scope: Option<i32>,
) -> AppResult<person::Model> {
    crate::people::service::insert_person(conn, given, family, email, scope).await
}

async fn add_mandate<C: ConnectionTrait>(
    conn: &C,
    person_id: i32,
    org: Org,
    role: Role,
    delegation: Option<&str>,
    start: NaiveDate,
    end: Option<NaiveDate>,
) -> AppResult<()> {
    let period = Period::new(start, end).map_err(AppError::internal)?;
    insert_mandate(conn, person_id, org, role, delegation.map(str::to_string), period).await?;
    Ok(())
}
