//! Import of the official decoupage-administratif files (communes.json, epci.json,
//! ept.json). Every record is checked before anything is written; then one transaction
//! applies the difference with what the database holds, so a second run changes nothing.
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::Deserialize;
use serde_json::{json, Value};

use super::model::{commune, commune_membership, intercommunality};
use super::rules::{search_key, InseeCode, LegalForm, Siren};
use crate::audit::service::{record, Entry};
use crate::auth::policy::{authorize, Action};
use crate::auth::Actor;
use crate::error::{AppError, AppResult};
use crate::AppState;

/// Which population figure a file carries: the INSEE "millésime" and where it comes from.
#[derive(Debug, Clone)]
pub struct PopulationSource {
    pub year: i32,
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub communes_population: PopulationSource,
    pub epci_population: PopulationSource,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            communes_population: PopulationSource {
                year: 2023,
                label: "INSEE population municipale (decoupage-administratif communes.json)".into(),
            },
            epci_population: PopulationSource {
                year: 2022,
                label: "INSEE population municipale (decoupage-administratif epci.json)".into(),
            },
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub ended: usize,
    pub skipped: usize,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub communes: Counts,
    pub intercommunalities: Counts,
    pub memberships: Counts,
}

impl ImportReport {
    pub fn changed(&self) -> bool {
        [self.communes, self.intercommunalities, self.memberships].iter().any(|c| c.created + c.updated + c.ended > 0)
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.communes;
        let e = &self.intercommunalities;
        let m = &self.memberships;
        writeln!(
            f,
            "communes: {} created, {} updated, {} unchanged, {} skipped (not commune-actuelle)",
            c.created, c.updated, c.unchanged, c.skipped
        )?;
        writeln!(f, "intercommunalities: {} created, {} updated, {} unchanged", e.created, e.updated, e.unchanged)?;
        writeln!(
            f,
            "memberships: {} created, {} updated, {} ended, {} unchanged",
            m.created, m.updated, m.ended, m.unchanged
        )?;
        if self.changed() {
            write!(f, "the database was updated")
        } else {
            write!(f, "nothing changed: the database already matches these files")
        }
    }
}

/// A refused import: every problem found, each with its file and record position.
#[derive(Debug)]
pub struct ImportRefused(pub Vec<String>);

impl fmt::Display for ImportRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "import refused, nothing was written:")?;
        for p in &self.0 {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct RawCommune {
    code: String,
    nom: String,
    #[serde(rename = "type")]
    kind: String,
    departement: Option<String>,
    region: Option<String>,
    siren: Option<String>,
    population: Option<i64>,
}

#[derive(Deserialize)]
struct RawMember {
    code: String,
    #[serde(rename = "populationMunicipale")]
    population: Option<i64>,
}

#[derive(Deserialize)]
struct RawEpci {
    code: String,
    nom: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "modeFinancement")]
    financing: Option<String>,
    #[serde(rename = "populationMunicipale")]
    population: Option<i64>,
    membres: Vec<RawMember>,
}

struct NewCommune {
    code: InseeCode,
    name: String,
    departement: String,
    region: Option<String>,
    siren: Option<String>,
    population: Option<i32>,
}

struct NewEpci {
    siren: Siren,
    name: String,
    form: LegalForm,
    financing: Option<String>,
    population: Option<i32>,
    members: Vec<(String, Option<i32>)>,
}

/// The checked content of the files, ready to write.
pub struct Parsed {
    communes: Vec<NewCommune>,
    skipped: usize,
    epcis: Vec<NewEpci>,
    managed_forms: Vec<LegalForm>,
}

fn read_array(path: &Path, problems: &mut Vec<String>) -> Vec<Value> {
    let name = path.display();
    match std::fs::read(path) {
        Err(e) => {
            problems.push(format!("{name}: cannot read: {e}"));
            vec![]
        }
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(items)) => items,
            Ok(_) => {
                problems.push(format!("{name}: expected a JSON array of records"));
                vec![]
            }
            Err(e) => {
                problems.push(format!("{name}: not valid JSON at line {}, column {}: {e}", e.line(), e.column()));
                vec![]
            }
        },
    }
}

fn population(value: Option<i64>) -> Result<Option<i32>, String> {
    match value {
        None => Ok(None),
        Some(p) if (0..=i64::from(i32::MAX)).contains(&p) => Ok(Some(p as i32)),
        Some(p) => Err(format!("population {p} is out of range")),
    }
}

fn non_empty(s: &str, what: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        Err(format!("{what} is empty"))
    } else {
        Ok(t.to_string())
    }
}

const MAX_REPORTED: usize = 20;

/// Reads and checks the files. Returns every problem (up to 20) with its position.
pub fn parse_files(communes: &Path, epci: &Path, ept: Option<&Path>) -> Result<Parsed, ImportRefused> {
    let mut problems = Vec::new();
    let mut out = Parsed { communes: vec![], skipped: 0, epcis: vec![], managed_forms: vec![] };
    let mut seen = HashSet::new();
    for (i, v) in read_array(communes, &mut problems).into_iter().enumerate() {
        let at = |msg: String| format!("{} record #{} : {msg}", communes.display(), i + 1);
        let code_hint = v.get("code").and_then(Value::as_str).unwrap_or("?").to_string();
        let raw: RawCommune = match serde_json::from_value(v) {
            Ok(r) => r,
            Err(e) => {
                problems.push(at(format!("(code {code_hint}) {e}")));
                continue;
            }
        };
        if raw.kind != "commune-actuelle" {
            out.skipped += 1;
            continue;
        }
        let checked = (|| {
            let code = InseeCode::parse(&raw.code)?;
            let name = non_empty(&raw.nom, "nom")?;
            let departement = non_empty(raw.departement.as_deref().unwrap_or(""), "departement")?;
            let siren = raw.siren.as_deref().map(Siren::parse).transpose()?.map(|s| s.as_str().to_string());
            let population = population(raw.population)?;
            if !seen.insert(code.as_str().to_string()) {
                return Err(format!("INSEE code {code} appears twice"));
            }
            Ok(NewCommune { code, name, departement, region: raw.region.clone(), siren, population })
        })();
        match checked {
            Ok(c) => out.communes.push(c),
            Err(msg) => problems.push(at(format!("(code {}) {msg}", raw.code))),
        }
    }
    let mut files = vec![(epci, vec![LegalForm::Metro, LegalForm::Cu, LegalForm::Ca, LegalForm::Cc, LegalForm::Met69])];
    if let Some(p) = ept {
        files.push((p, vec![LegalForm::Ept]));
    }
    let mut seen_epci = HashSet::new();
    for (path, forms) in files {
        out.managed_forms.extend(forms.iter().copied());
        for (i, v) in read_array(path, &mut problems).into_iter().enumerate() {
            let at = |msg: String| format!("{} record #{} : {msg}", path.display(), i + 1);
            let code_hint = v.get("code").and_then(Value::as_str).unwrap_or("?").to_string();
            let raw: RawEpci = match serde_json::from_value(v) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(at(format!("(code {code_hint}) {e}")));
                    continue;
                }
            };
            let checked = (|| {
                let siren = Siren::parse(&raw.code)?;
                let name = non_empty(&raw.nom, "nom")?;
                let form = LegalForm::parse_official(&raw.kind)?;
                if !forms.contains(&form) {
                    return Err(format!("legal form {} does not belong in this file", form.as_str()));
                }
                if !seen_epci.insert(siren.as_str().to_string()) {
                    return Err(format!("SIREN {siren} appears twice"));
                }
                let mut members = Vec::with_capacity(raw.membres.len());
                let mut seen_members = HashSet::new();
                for (j, m) in raw.membres.iter().enumerate() {
                    let code = InseeCode::parse(&m.code).map_err(|e| format!("member #{}: {e}", j + 1))?;
                    if !seen.contains(code.as_str()) {
                        return Err(format!("member #{} {code} is not a current commune of the communes file", j + 1));
                    }
                    if !seen_members.insert(code.as_str().to_string()) {
                        return Err(format!("member #{} {code} appears twice", j + 1));
                    }
                    members.push((
                        code.as_str().to_string(),
                        population(m.population).map_err(|e| format!("member #{}: {e}", j + 1))?,
                    ));
                }
                let financing = raw.financing.clone().filter(|s| !s.is_empty());
                Ok(NewEpci { siren, name, form, financing, population: population(raw.population)?, members })
            })();
            match checked {
                Ok(e) => out.epcis.push(e),
                Err(msg) => problems.push(at(format!("(code {}) {msg}", raw.code))),
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        let extra = problems.len().saturating_sub(MAX_REPORTED);
        problems.truncate(MAX_REPORTED);
        if extra > 0 {
            problems.push(format!("... and {extra} more"));
        }
        Err(ImportRefused(problems))
    }
}

const CHUNK: usize = 1000;

/// Writes checked files in one transaction, with one audit entry.
pub async fn apply(state: &AppState, actor: &Actor, parsed: Parsed, opts: &ImportOptions) -> AppResult<ImportReport> {
    authorize(&state.db, actor, Action::ImportTerritory).await?;
    let now = Utc::now();
    let today = crate::time::today_paris();
    let mut report = ImportReport::default();
    report.communes.skipped = parsed.skipped;
    let txn = crate::db::write(&state.db).await?;

    // Communes, by INSEE code.
    let existing: HashMap<String, commune::Model> =
        commune::Entity::find().all(&txn).await?.into_iter().map(|c| (c.insee_code.clone(), c)).collect();
    let cp = &opts.communes_population;
    let mut fresh = Vec::new();
    for c in &parsed.communes {
        let pop_year = c.population.map(|_| cp.year);
        let pop_source = c.population.map(|_| cp.label.clone());
        match existing.get(c.code.as_str()) {
            None => fresh.push(commune::ActiveModel {
                insee_code: Set(c.code.as_str().to_string()),
                name: Set(c.name.clone()),
                search_key: Set(search_key(&c.name)),
                departement: Set(c.departement.clone()),
                region: Set(c.region.clone()),
                siren: Set(c.siren.clone()),
                population: Set(c.population),
                population_year: Set(pop_year),
                population_source: Set(pop_source),
                created_at: Set(now),
                updated_at: Set(now),
                version: Set(1),
                ..Default::default()
            }),
            Some(old)
                if old.name == c.name
                    && old.search_key == search_key(&c.name)
                    && old.departement == c.departement
                    && old.region == c.region
                    && old.siren == c.siren
                    && old.population == c.population
                    && old.population_year == pop_year =>
            {
                report.communes.unchanged += 1
            }
            Some(old) => {
                commune::Entity::update_many()
                    .col_expr(commune::Column::Name, Expr::value(c.name.clone()))
                    .col_expr(commune::Column::SearchKey, Expr::value(search_key(&c.name)))
                    .col_expr(commune::Column::Departement, Expr::value(c.departement.clone()))
                    .col_expr(commune::Column::Region, Expr::value(c.region.clone()))
                    .col_expr(commune::Column::Siren, Expr::value(c.siren.clone()))
                    .col_expr(commune::Column::Population, Expr::value(c.population))
                    .col_expr(commune::Column::PopulationYear, Expr::value(pop_year))
                    .col_expr(commune::Column::PopulationSource, Expr::value(pop_source))
                    .col_expr(commune::Column::UpdatedAt, Expr::value(now))
                    .col_expr(commune::Column::Version, Expr::col(commune::Column::Version).add(1))
                    .filter(commune::Column::Id.eq(old.id))
                    .exec(&txn)
                    .await?;
                report.communes.updated += 1;
            }
        }
    }
    report.communes.created = fresh.len();
    insert_chunks::<commune::Entity, _>(&txn, fresh).await?;
    let commune_ids: HashMap<String, i32> = if report.communes.created > 0 {
        commune::Entity::find().all(&txn).await?.into_iter().map(|c| (c.insee_code, c.id)).collect()
    } else {
        existing.into_iter().map(|(k, c)| (k, c.id)).collect()
    };

    // Intercommunalities, by SIREN.
    let existing: HashMap<String, intercommunality::Model> =
        intercommunality::Entity::find().all(&txn).await?.into_iter().map(|e| (e.siren.clone(), e)).collect();
    // Memberships get no start date only on the first import of these legal forms (when
    // they began is unknown); afterwards a new membership starts on the import day.
    let first_import = !existing.values().any(|e| parsed.managed_forms.contains(&e.legal_form));
    let ep = &opts.epci_population;
    let mut fresh = Vec::new();
    for e in &parsed.epcis {
        let pop_year = e.population.map(|_| ep.year);
        let pop_source = e.population.map(|_| ep.label.clone());
        match existing.get(e.siren.as_str()) {
            None => fresh.push(intercommunality::ActiveModel {
                siren: Set(e.siren.as_str().to_string()),
                name: Set(e.name.clone()),
                search_key: Set(search_key(&e.name)),
                legal_form: Set(e.form),
                financing_mode: Set(e.financing.clone()),
                population: Set(e.population),
                population_year: Set(pop_year),
                population_source: Set(pop_source),
                created_at: Set(now),
                updated_at: Set(now),
                version: Set(1),
                ..Default::default()
            }),
            Some(old)
                if old.name == e.name
                    && old.search_key == search_key(&e.name)
                    && old.legal_form == e.form
                    && old.financing_mode == e.financing
                    && old.population == e.population
                    && old.population_year == pop_year =>
            {
                report.intercommunalities.unchanged += 1
            }
            Some(old) => {
                intercommunality::Entity::update_many()
                    .col_expr(intercommunality::Column::Name, Expr::value(e.name.clone()))
                    .col_expr(intercommunality::Column::SearchKey, Expr::value(search_key(&e.name)))
                    .col_expr(intercommunality::Column::LegalForm, Expr::value(e.form))
                    .col_expr(intercommunality::Column::FinancingMode, Expr::value(e.financing.clone()))
                    .col_expr(intercommunality::Column::Population, Expr::value(e.population))
                    .col_expr(intercommunality::Column::PopulationYear, Expr::value(pop_year))
                    .col_expr(intercommunality::Column::PopulationSource, Expr::value(pop_source))
                    .col_expr(intercommunality::Column::UpdatedAt, Expr::value(now))
                    .col_expr(intercommunality::Column::Version, Expr::col(intercommunality::Column::Version).add(1))
                    .filter(intercommunality::Column::Id.eq(old.id))
                    .exec(&txn)
                    .await?;
                report.intercommunalities.updated += 1;
            }
        }
    }
    report.intercommunalities.created = fresh.len();
    insert_chunks::<intercommunality::Entity, _>(&txn, fresh).await?;
    let all_epcis = intercommunality::Entity::find().all(&txn).await?;
    let epci_ids: HashMap<&str, i32> = all_epcis.iter().map(|e| (e.siren.as_str(), e.id)).collect();

    // Memberships: the current ones of the managed legal forms are compared with the files.
    let managed: HashSet<i32> =
        all_epcis.iter().filter(|e| parsed.managed_forms.contains(&e.legal_form)).map(|e| e.id).collect();
    let mut current: HashMap<(i32, i32), commune_membership::Model> = commune_membership::Entity::find()
        .filter(commune_membership::Column::EndDate.is_null())
        .all(&txn)
        .await?
        .into_iter()
        .filter(|m| managed.contains(&m.intercommunality_id))
        .map(|m| ((m.commune_id, m.intercommunality_id), m))
        .collect();
    let mp = &opts.epci_population;
    let mut fresh = Vec::new();
    for e in &parsed.epcis {
        let epci_id = *epci_ids.get(e.siren.as_str()).ok_or_else(|| AppError::internal("intercommunality vanished"))?;
        let start = if first_import { None } else { Some(today) };
        for (code, pop) in &e.members {
            let commune_id = *commune_ids.get(code).ok_or_else(|| AppError::internal("commune vanished"))?;
            match current.remove(&(commune_id, epci_id)) {
                Some(m) if m.population == *pop => report.memberships.unchanged += 1,
                Some(m) => {
                    commune_membership::Entity::update_many()
                        .col_expr(commune_membership::Column::Population, Expr::value(*pop))
                        .col_expr(commune_membership::Column::PopulationYear, Expr::value(pop.map(|_| mp.year)))
                        .filter(commune_membership::Column::Id.eq(m.id))
                        .exec(&txn)
                        .await?;
                    report.memberships.updated += 1;
                }
                None => fresh.push(commune_membership::ActiveModel {
                    commune_id: Set(commune_id),
                    intercommunality_id: Set(epci_id),
                    start_date: Set(start),
                    end_date: Set(None),
                    population: Set(*pop),
                    population_year: Set(pop.map(|_| mp.year)),
                    created_at: Set(now),
                    ..Default::default()
                }),
            }
        }
    }
    report.memberships.created = fresh.len();
    insert_chunks::<commune_membership::Entity, _>(&txn, fresh).await?;
    // Whatever is left is no longer in the files: the commune left that day.
    let left: Vec<i32> = current.values().map(|m| m.id).collect();
    report.memberships.ended = left.len();
    for ids in left.chunks(CHUNK) {
        commune_membership::Entity::update_many()
            .col_expr(commune_membership::Column::EndDate, Expr::value(Some(today)))
            .filter(commune_membership::Column::Id.is_in(ids.to_vec()))
            .exec(&txn)
            .await?;
    }

    if report.changed() {
        record(&txn, actor, Entry {
            action: "IMPORT_TERRITORY",
            target_type: "Territory",
            target_id: None,
            scope: None,
            summary: json!({
                "communes": { "created": report.communes.created, "updated": report.communes.updated },
                "intercommunalities": { "created": report.intercommunalities.created, "updated": report.intercommunalities.updated },
                "memberships": { "created": report.memberships.created, "updated": report.memberships.updated, "ended": report.memberships.ended },
            }),
        })
        .await?;
    }
    txn.commit().await?;
    Ok(report)
}

async fn insert_chunks<E, A>(conn: &impl ConnectionTrait, rows: Vec<A>) -> AppResult<()>
where
    E: EntityTrait,
    A: ActiveModelTrait<Entity = E> + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(CHUNK).collect();
        E::insert_many(chunk).exec_without_returning(conn).await?;
    }
    Ok(())
}
