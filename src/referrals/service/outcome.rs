//! Outcome, progress and dataset.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect};

use super::acting::{visible, View};
use super::opening::addressees;
use super::preparing::current_form;
use super::{deadline_passed, paris_day, response_status};
use crate::auth::Actor;
use crate::error::{AppError, AppResult};
use crate::referrals::form::{self, Field};
use crate::referrals::model::{referral, referral_addressee};
use crate::referrals::rules::{
    outcome, Opinion, Outcome, Position, PositionCount, ReferralKind, ResponseStatus, Standing,
};
use crate::territory::model::commune;

/// (commune, population, status, opinion) of every addressee: one statement.
pub async fn standings_rows<C: ConnectionTrait>(
    db: &C,
    referral_id: i32,
) -> AppResult<Vec<(i32, Option<i64>, ResponseStatus, Option<Opinion>)>> {
    Ok(referral_addressee::Entity::find()
        .select_only()
        .columns([
            referral_addressee::Column::CommuneId,
            referral_addressee::Column::Population,
            referral_addressee::Column::Status,
            referral_addressee::Column::Opinion,
        ])
        .filter(referral_addressee::Column::ReferralId.eq(referral_id))
        .into_tuple()
        .all(db)
        .await?)
}

/// The outcome as it stands at `now` (final once the deadline has passed). Counted in
/// SQL, by stored status and opinion (a handful of rows whatever the addressees), plus
/// the most populous addressee: two statements.
pub async fn outcome_of<C: ConnectionTrait>(db: &C, r: &referral::Model, now: DateTime<Utc>) -> AppResult<Outcome> {
    use referral_addressee::Column as C;
    use sea_orm::sea_query::{Alias, ExprTrait};
    let groups: Vec<(ResponseStatus, Option<Opinion>, i64, Option<i64>)> = referral_addressee::Entity::find()
        .select_only()
        .column(C::Status)
        .column(C::Opinion)
        .column_as(Expr::col(C::Id).count().cast_as(Alias::new("BIGINT")), "communes")
        .column_as(Expr::col(C::Population).sum().cast_as(Alias::new("BIGINT")), "population")
        .filter(C::ReferralId.eq(r.id))
        .group_by(C::Status)
        .group_by(C::Opinion)
        .into_tuple()
        .all(db)
        .await?;
    let biggest: Option<(Option<i64>, ResponseStatus, Option<Opinion>)> = referral_addressee::Entity::find()
        .select_only()
        .columns([C::Population, C::Status, C::Opinion])
        .filter(C::ReferralId.eq(r.id))
        .filter(C::Population.is_not_null())
        .order_by_desc(C::Population)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    let passed = deadline_passed(r, now);
    let silence = r.silence;
    let position =
        |status: ResponseStatus, opinion: Option<Opinion>| Position::of(status.effective(passed, silence), opinion);
    let counts: Vec<PositionCount> = groups
        .iter()
        .map(|&(status, opinion, communes, population)| PositionCount {
            position: position(status, opinion),
            communes,
            population: population.unwrap_or(0),
        })
        .collect();
    let biggest = biggest.map(|(population, status, opinion)| Standing {
        population: population.unwrap_or(0),
        position: position(status, opinion),
    });
    let day = r.deadline.map(paris_day).map(|d| d.to_string()).unwrap_or_default();
    Ok(outcome(r.procedure, r.decision, r.strict_second_branch, &counts, biggest, passed, &day))
}

/// Response rate and the communes still to answer, with a breakdown by territory (the
/// intercommunality's groupings) or by département for a national consultation.
pub struct Progress {
    pub addressees: i64,
    pub submitted: i64,
    pub drafts: i64,
    pub pending: Vec<i32>,
    pub groups: Vec<GroupProgress>,
}

pub struct GroupProgress {
    pub name: String,
    pub addressees: i64,
    pub submitted: i64,
}

pub async fn progress<C: ConnectionTrait>(db: &C, r: &referral::Model) -> AppResult<Progress> {
    use crate::territory::model::{territory, territory_commune};
    let rows = standings_rows(db, r.id).await?;
    let mut group_of: HashMap<i32, String> = HashMap::new();
    match r.intercommunality_id {
        Some(e) => {
            let names: Vec<(i32, String)> = territory_commune::Entity::find()
                .select_only()
                .column(territory_commune::Column::CommuneId)
                .column(territory::Column::Name)
                .join(
                    JoinType::InnerJoin,
                    territory_commune::Entity::belongs_to(territory::Entity)
                        .from(territory_commune::Column::TerritoryId)
                        .to(territory::Column::Id)
                        .into(),
                )
                .filter(territory::Column::IntercommunalityId.eq(e))
                .into_tuple()
                .all(db)
                .await?;
            group_of.extend(names);
        }
        None => {
            let deps: Vec<(i32, String)> = referral_addressee::Entity::find()
                .select_only()
                .column(referral_addressee::Column::CommuneId)
                .column(commune::Column::Departement)
                .join(
                    JoinType::InnerJoin,
                    referral_addressee::Entity::belongs_to(commune::Entity)
                        .from(referral_addressee::Column::CommuneId)
                        .to(commune::Column::Id)
                        .into(),
                )
                .filter(referral_addressee::Column::ReferralId.eq(r.id))
                .into_tuple()
                .all(db)
                .await?;
            group_of.extend(deps);
        }
    }
    let mut p = Progress { addressees: rows.len() as i64, submitted: 0, drafts: 0, pending: vec![], groups: vec![] };
    let mut groups: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
    for (c, _, status, _) in &rows {
        let done = *status == ResponseStatus::Submitted;
        if done {
            p.submitted += 1;
        } else {
            if *status == ResponseStatus::Draft {
                p.drafts += 1;
            }
            p.pending.push(*c);
        }
        let g = groups.entry(group_of.get(c).cloned().unwrap_or_else(|| "—".into())).or_default();
        g.0 += 1;
        g.1 += i64::from(done);
    }
    p.groups = groups
        .into_iter()
        .map(|(name, (addressees, submitted))| GroupProgress { name, addressees, submitted })
        .collect();
    Ok(p)
}

pub(super) fn commune_join() -> sea_orm::RelationDef {
    referral_addressee::Entity::belongs_to(commune::Entity)
        .from(referral_addressee::Column::CommuneId)
        .to(commune::Column::Id)
        .into()
}

/// A response with its commune's name and INSEE code.
pub struct Named {
    pub a: referral_addressee::Model,
    pub name: String,
    pub insee_code: String,
}

/// The addressees the view sees, with their commune's name and code: two statements.
pub async fn responses_named<C: ConnectionTrait>(db: &C, referral_id: i32, view: &View) -> AppResult<Vec<Named>> {
    let names: HashMap<i32, (String, String)> = referral_addressee::Entity::find()
        .select_only()
        .column(referral_addressee::Column::CommuneId)
        .column(commune::Column::Name)
        .column(commune::Column::InseeCode)
        .join(JoinType::InnerJoin, commune_join())
        .filter(referral_addressee::Column::ReferralId.eq(referral_id))
        .into_tuple::<(i32, String, String)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(c, n, i)| (c, (n, i)))
        .collect();
    let mut out: Vec<Named> = addressees(db, referral_id)
        .await?
        .into_iter()
        .filter(|a| view.sees(a.commune_id))
        .map(|a| {
            let (name, insee_code) = names.get(&a.commune_id).cloned().unwrap_or_default();
            Named { a, name, insee_code }
        })
        .collect();
    out.sort_by(|x, y| x.name.cmp(&y.name).then(x.insee_code.cmp(&y.insee_code)));
    Ok(out)
}

/// A data collection's answers, one row per commune (submitted answers only), with
/// totals and per-inhabitant values of the numeric fields.
pub struct Dataset {
    pub form_version: Option<i32>,
    pub fields: Vec<Field>,
    pub rows: Vec<form::Row>,
    pub totals: Vec<form::Total>,
}

pub struct SortBy<'a> {
    pub field: Option<&'a str>,
    pub descending: bool,
    pub per_inhabitant: bool,
}

pub async fn dataset<C: ConnectionTrait>(
    db: &C,
    r: &referral::Model,
    view: &View,
    sort: SortBy<'_>,
) -> AppResult<Dataset> {
    let f = current_form(db, r.id).await?;
    let fields = form::parse_fields(f.as_ref().and_then(|f| f.fields.as_ref())).map_err(AppError::internal)?;
    if let Some(k) = sort.field {
        if !fields.iter().any(|f| f.key == k) {
            return Err(AppError::validation("sortBy", format!("no field {k} in this form")));
        }
    }
    let now = Utc::now();
    let mut rows = Vec::new();
    for n in responses_named(db, r.id, view).await? {
        let answered = response_status(r, &n.a, now).answered();
        rows.push(form::Row {
            commune_id: n.a.commune_id,
            name: n.name,
            insee_code: n.insee_code,
            population: n.a.population,
            answers: if answered {
                form::parse_answers(n.a.answers.as_ref()).map_err(AppError::internal)?
            } else {
                None
            },
        });
    }
    form::sort_rows(&mut rows, sort.field, sort.descending, sort.per_inhabitant);
    let totals = form::totals(&fields, &rows);
    Ok(Dataset { form_version: f.map(|f| f.form_version), fields, rows, totals })
}

/// Every response the actor sees, as CSV: one row per commune, the answers' fields last.
pub async fn responses_csv<C: ConnectionTrait>(db: &C, actor: &Actor, id: i32) -> AppResult<(String, Vec<u8>)> {
    let (r, view) = visible(db, actor, id).await?;
    let fields =
        form::parse_fields(current_form(db, id).await?.and_then(|f| f.fields).as_ref()).map_err(AppError::internal)?;
    let mut header: Vec<String> = [
        "insee_code",
        "commune",
        "population",
        "population_year",
        "status",
        "opinion",
        "reasons",
        "deliberation_number",
        "deliberation_date",
        "submitted_at",
        "form_version",
    ]
    .map(String::from)
    .to_vec();
    header.extend(fields.iter().map(|f| f.key.clone()));
    let now = Utc::now();
    let mut rows = Vec::new();
    for mut n in responses_named(db, id, &view).await? {
        n.a = view.redact(n.a);
        let a = &n.a;
        let answers = form::parse_answers(a.answers.as_ref()).map_err(AppError::internal)?.unwrap_or_default();
        let opt = |v: Option<String>| v.unwrap_or_default();
        let mut row = vec![
            n.insee_code.clone(),
            n.name.clone(),
            opt(a.population.map(|p| p.to_string())),
            opt(a.population_year.map(|y| y.to_string())),
            response_status(&r, a, now).as_str().to_string(),
            opt(a.opinion.map(|o| o.as_str().to_string())),
            opt(a.reasons.as_deref().map(form::text_cell)),
            opt(a.deliberation_number.as_deref().map(form::text_cell)),
            opt(a.deliberation_date.map(|d| d.to_string())),
            opt(a.submitted_at.map(|t| t.to_rfc3339())),
            opt(a.form_version.map(|v| v.to_string())),
        ];
        row.extend(fields.iter().map(|f| answers.get(&f.key).map(form::cell).unwrap_or_default()));
        rows.push(row);
    }
    let csv = form::to_csv(&header, &rows).map_err(AppError::internal)?;
    Ok((format!("saisine-{id}-reponses.csv"), csv))
}

/// A data collection's dataset as CSV: each numeric field followed by its value per inhabitant.
pub async fn dataset_csv<C: ConnectionTrait>(db: &C, actor: &Actor, id: i32) -> AppResult<(String, Vec<u8>)> {
    let (r, view) = visible(db, actor, id).await?;
    if r.procedure.kind() != ReferralKind::DataCollection {
        return Err(AppError::validation("id", "only a data collection has a dataset"));
    }
    let d = dataset(db, &r, &view, SortBy { field: None, descending: false, per_inhabitant: false }).await?;
    let mut header: Vec<String> = ["insee_code", "commune", "population"].map(String::from).to_vec();
    for f in &d.fields {
        header.push(f.key.clone());
        if f.field_type().numeric() {
            header.push(format!("{}_per_inhabitant", f.key));
        }
    }
    let rows: Vec<Vec<String>> = d
        .rows
        .iter()
        .map(|row| {
            let mut out = vec![
                row.insee_code.clone(),
                row.name.clone(),
                row.population.map(|p| p.to_string()).unwrap_or_default(),
            ];
            for f in &d.fields {
                out.push(row.answers.as_ref().and_then(|a| a.get(&f.key)).map(form::cell).unwrap_or_default());
                if f.field_type().numeric() {
                    out.push(form::per_inhabitant(row, &f.key).map(|x| x.to_string()).unwrap_or_default());
                }
            }
            out
        })
        .collect();
    let csv = form::to_csv(&header, &rows).map_err(AppError::internal)?;
    Ok((format!("saisine-{id}-donnees.csv"), csv))
}
