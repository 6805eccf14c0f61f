//! Use cases on persons and mandates: authorise, apply the rules, write with the audit
//! entry in one transaction.
use chrono::{NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::model::{mandate, person};
pub use super::queries::runs_on;
use super::rules::{Period, Role};
use crate::audit::service::{record, Entry};
use crate::auth::policy::{authorize, Action, Org};
use crate::auth::rules::Email;
use crate::auth::Actor;
use crate::error::{AppError, AppResult};
use crate::platform::versions::next_version;
use crate::territory::model::{commune, intercommunality};
use crate::territory::queries::current_intercommunalities_of;
use crate::AppState;

pub fn org_of(m: &mandate::Model) -> AppResult<Org> {
    match (m.commune_id, m.intercommunality_id) {
        (Some(c), None) => Ok(Org::Commune(c)),
        (None, Some(e)) => Ok(Org::Intercommunality(e)),
        _ => Err(AppError::internal(format!("mandate {} has no single organisation", m.id))),
    }
}

/// The intercommunality whose secretariat reads the audit of changes in `org`.
pub async fn scope_of<C: ConnectionTrait>(db: &C, org: Org) -> AppResult<Option<i32>> {
    Ok(match org {
        Org::Intercommunality(e) => Some(e),
        Org::Commune(c) => current_intercommunalities_of(db, c).await?.into_iter().next(),
    })
}

fn check_name(field: &str, raw: &str) -> AppResult<String> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > 200 {
        return Err(AppError::validation(field, format!("{field} must have 1 to 200 characters")));
    }
    Ok(s.to_string())
}

fn check_email(raw: Option<&str>) -> AppResult<Option<String>> {
    raw.filter(|s| !s.trim().is_empty())
        .map(|s| Email::parse(s).map(|e| e.as_str().to_string()).map_err(|m| AppError::validation("email", m)))
        .transpose()
}

pub async fn insert_person<C: ConnectionTrait>(
    conn: &C,
    given_name: &str,
    family_name: &str,
    email: Option<&str>,
    scope: Option<i32>,
) -> AppResult<person::Model> {
    let now = Utc::now();
    let (given, family) = (check_name("givenName", given_name)?, check_name("familyName", family_name)?);
    Ok(person::ActiveModel {
        search_key: Set(person_key(&given, &family)),
        given_name: Set(given),
        family_name: Set(family),
        email: Set(check_email(email)?),
        scope_intercommunality_id: Set(scope),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

/// What person searches compare: "given family", folded by `search_key`.
fn person_key(given: &str, family: &str) -> String {
    crate::territory::rules::search_key(&format!("{given} {family}"))
}

pub struct PersonInput {
    pub given_name: String,
    pub family_name: String,
    pub email: Option<String>,
}

pub async fn create_person(state: &AppState, actor: &Actor, input: PersonInput) -> AppResult<person::Model> {
    let txn = crate::db::write(&state.db).await?;
    authorize(&txn, actor, Action::CreatePerson).await?;
    // The person belongs to the creator's intercommunality: the secretariat's, or that of
    // the commune whose mayor (or DGS) creates them.
    let scope = match actor.principal.as_ref().and_then(|p| p.secretariat_of) {
        Some(e) => Some(e),
        None => match actor.officer_of_communes(&txn).await?.first() {
            Some(c) => scope_of(&txn, Org::Commune(*c)).await?,
            None => None,
        },
    };
    let p = insert_person(&txn, &input.given_name, &input.family_name, input.email.as_deref(), scope).await?;
    record(
        &txn,
        actor,
        Entry {
            action: "CREATE_PERSON",
            target_type: "Person",
            target_id: Some(p.id),
            scope,
            summary: json!({ "givenName": p.given_name, "familyName": p.family_name }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(p)
}

pub struct PersonPatch {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Some(None) clears the address.
    pub email: Option<Option<String>>,
}

/// Edits a person. `expected_version` is the version the editor saw: if someone saved in
/// between, the edit is refused with CONFLICT instead of overwriting theirs.
pub async fn update_person(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
    patch: PersonPatch,
) -> AppResult<person::Model> {
    let txn = crate::db::write(&state.db).await?;
    let current = person::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| AppError::not_found("person"))?;
    authorize(&txn, actor, Action::ManagePerson { person: id }).await?;
    let given = patch.given_name.as_deref().map(|s| check_name("givenName", s)).transpose()?;
    let family = patch.family_name.as_deref().map(|s| check_name("familyName", s)).transpose()?;
    let email = patch.email.as_ref().map(|e| check_email(e.as_deref())).transpose()?;
    let next = next_version(expected_version)?;
    let mut q = person::Entity::update_many()
        .col_expr(person::Column::Version, Expr::value(next))
        .col_expr(person::Column::UpdatedAt, Expr::value(Utc::now()));
    if let Some(g) = &given {
        q = q.col_expr(person::Column::GivenName, Expr::value(g.clone()));
    }
    if let Some(f) = &family {
        q = q.col_expr(person::Column::FamilyName, Expr::value(f.clone()));
    }
    if let Some(e) = &email {
        q = q.col_expr(person::Column::Email, Expr::value(e.clone()));
    }
    let key =
        person_key(given.as_deref().unwrap_or(&current.given_name), family.as_deref().unwrap_or(&current.family_name));
    q = q.col_expr(person::Column::SearchKey, Expr::value(key));
    let res =
        q.filter(person::Column::Id.eq(id)).filter(person::Column::Version.eq(expected_version)).exec(&txn).await?;
    if res.rows_affected != 1 {
        return Err(AppError::stale("person", current.version, expected_version));
    }
    record(&txn, actor, Entry {
        action: "UPDATE_PERSON",
        target_type: "Person",
        target_id: Some(id),
        scope: current.scope_intercommunality_id,
        summary: json!({
            "before": { "givenName": current.given_name, "familyName": current.family_name, "email": current.email },
            "after": { "givenName": given, "familyName": family, "email": email },
        }),
    })
    .await?;
    let updated = person::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| AppError::not_found("person"))?;
    txn.commit().await?;
    Ok(updated)
}

/// Writes a mandate row (callers have checked the period and the single-holder rule).
pub async fn insert_mandate<C: ConnectionTrait>(
    conn: &C,
    person_id: i32,
    org: Org,
    role: Role,
    delegation: Option<String>,
    period: Period,
) -> AppResult<mandate::Model> {
    let (commune_id, intercommunality_id) = match org {
        Org::Commune(c) => (Some(c), None),
        Org::Intercommunality(e) => (None, Some(e)),
    };
    let now = Utc::now();
    Ok(mandate::ActiveModel {
        person_id: Set(person_id),
        commune_id: Set(commune_id),
        intercommunality_id: Set(intercommunality_id),
        role: Set(role),
        delegation: Set(delegation),
        start_date: Set(period.start),
        end_date: Set(period.end),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

pub struct MandateInput {
    pub person_id: i32,
    pub org: Org,
    pub role: Role,
    pub delegation: Option<String>,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
}

/// Takes the organisation's row lock first, so that two concurrent appointments to a
/// single-holder role (mayor, president) are serialised on both databases.
async fn lock_org<C: ConnectionTrait>(conn: &C, org: Org) -> AppResult<()> {
    let n = match org {
        Org::Commune(c) => {
            commune::Entity::update_many()
                .col_expr(commune::Column::Version, Expr::col(commune::Column::Version))
                .filter(commune::Column::Id.eq(c))
                .exec(conn)
                .await?
                .rows_affected
        }
        Org::Intercommunality(e) => {
            intercommunality::Entity::update_many()
                .col_expr(intercommunality::Column::Version, Expr::col(intercommunality::Column::Version))
                .filter(intercommunality::Column::Id.eq(e))
                .exec(conn)
                .await?
                .rows_affected
        }
    };
    if n == 1 {
        Ok(())
    } else {
        Err(AppError::not_found("organisation"))
    }
}

/// For a single-holder role (mayor, president), refuses a period that overlaps another
/// holder's mandate in the organisation (`except`: the mandate being edited). Call it
/// after `lock_org`, in the writing transaction.
async fn check_single_holder<C: ConnectionTrait>(
    conn: &C,
    org: Org,
    role: Role,
    period: Period,
    except: Option<i32>,
) -> AppResult<()> {
    if !role.is_single_holder() {
        return Ok(());
    }
    let mut q = mandate::Entity::find().filter(mandate::Column::Role.eq(role)).filter(match org {
        Org::Commune(c) => mandate::Column::CommuneId.eq(c),
        Org::Intercommunality(e) => mandate::Column::IntercommunalityId.eq(e),
    });
    if let Some(id) = except {
        q = q.filter(mandate::Column::Id.ne(id));
    }
    let holders = q.all(conn).await?;
    match holders.iter().find(|m| Period { start: m.start_date, end: m.end_date }.overlaps(&period)) {
        None => Ok(()),
        Some(clash) => Err(AppError::Conflict(format!(
            "this organisation has a {} from {} to {}: the periods would overlap",
            role.as_str(),
            clash.start_date,
            clash.end_date.map(|d| d.to_string()).unwrap_or_else(|| "(open)".into())
        ))),
    }
}

pub async fn create_mandate(state: &AppState, actor: &Actor, input: MandateInput) -> AppResult<mandate::Model> {
    let txn = crate::db::write(&state.db).await?;
    let fits = match input.org {
        Org::Commune(_) => input.role.fits_commune(),
        Org::Intercommunality(_) => input.role.fits_intercommunality(),
    };
    if !fits {
        return Err(AppError::validation(
            "role",
            format!("role {} is not held in this kind of organisation", input.role.as_str()),
        ));
    }
    let period = Period::new(input.start, input.end).map_err(|m| AppError::validation("endDate", m))?;
    let delegation = input.delegation.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    if delegation.as_ref().is_some_and(|d| d.chars().count() > 300) {
        return Err(AppError::validation("delegation", "delegation must have at most 300 characters"));
    }
    person::Entity::find_by_id(input.person_id).one(&txn).await?.ok_or_else(|| AppError::not_found("person"))?;
    match input.org {
        Org::Commune(c) => commune::Entity::find_by_id(c).one(&txn).await?.map(|_| ()),
        Org::Intercommunality(e) => intercommunality::Entity::find_by_id(e).one(&txn).await?.map(|_| ()),
    }
    .ok_or_else(|| AppError::not_found("organisation"))?;
    authorize(&txn, actor, Action::ManageMandate { org: input.org, role: input.role, person: input.person_id }).await?;
    let scope = scope_of(&txn, input.org).await?;

    lock_org(&txn, input.org).await?;
    check_single_holder(&txn, input.org, input.role, period, None).await?;
    let m = insert_mandate(&txn, input.person_id, input.org, input.role, delegation, period).await?;
    record(
        &txn,
        actor,
        Entry {
            action: "CREATE_MANDATE",
            target_type: "Mandate",
            target_id: Some(m.id),
            scope,
            summary: json!({
                "person": m.person_id, "commune": m.commune_id, "intercommunality": m.intercommunality_id,
                "role": m.role, "delegation": m.delegation, "startDate": m.start_date, "endDate": m.end_date,
            }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(m)
}

/// Ends a mandate on `end_date` (exclusive: from that day the person no longer holds it).
pub async fn end_mandate(
    state: &AppState,
    actor: &Actor,
    id: i32,
    end_date: NaiveDate,
    expected_version: i32,
) -> AppResult<mandate::Model> {
    let txn = crate::db::write(&state.db).await?;
    let m = mandate::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| AppError::not_found("mandate"))?;
    let org = org_of(&m)?;
    let role = m.role;
    authorize(&txn, actor, Action::ManageMandate { org, role, person: m.person_id }).await?;
    if end_date <= m.start_date {
        return Err(AppError::validation("endDate", format!("end date must be after the start date {}", m.start_date)));
    }
    let next_version = next_version(expected_version)?;
    let scope = scope_of(&txn, org).await?;
    lock_org(&txn, org).await?;
    // Moving an end date later must not make two holders overlap (a mayor's mandate
    // reopened over their successor's).
    check_single_holder(&txn, org, role, Period { start: m.start_date, end: Some(end_date) }, Some(id)).await?;
    let res = mandate::Entity::update_many()
        .col_expr(mandate::Column::EndDate, Expr::value(Some(end_date)))
        .col_expr(mandate::Column::Version, Expr::value(next_version))
        .col_expr(mandate::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(mandate::Column::Id.eq(id))
        .filter(mandate::Column::Version.eq(expected_version))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::stale("mandate", m.version, expected_version));
    }
    record(
        &txn,
        actor,
        Entry {
            action: "END_MANDATE",
            target_type: "Mandate",
            target_id: Some(id),
            scope,
            summary: json!({ "before": { "endDate": m.end_date }, "after": { "endDate": end_date } }),
        },
    )
    .await?;
    let updated = mandate::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| AppError::not_found("mandate"))?;
    txn.commit().await?;
    Ok(updated)
}
