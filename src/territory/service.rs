//! Use cases on territories (groupings of communes inside an intercommunality, e.g. AMP's
//! former "conseils de territoire").
use std::collections::HashSet;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::model::{intercommunality, territory, territory_commune};
use super::queries::member_communes;
use crate::audit::service::{record, Entry};
use crate::auth::policy::{authorize, Action};
use crate::auth::Actor;
use crate::error::{AppError, AppResult};
use crate::AppState;

pub struct TerritoryInput {
    pub name: String,
    pub code: Option<String>,
    pub commune_ids: Vec<i32>,
}

fn check_name(raw: &str) -> AppResult<String> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > 200 {
        return Err(AppError::validation("name", "name must have 1 to 200 characters"));
    }
    Ok(s.to_string())
}

/// Every commune must currently belong to the intercommunality.
async fn check_members<C: ConnectionTrait>(conn: &C, epci: i32, ids: &[i32]) -> AppResult<Vec<i32>> {
    let members = member_communes(conn, epci).await?;
    let mut unique: Vec<i32> = ids.iter().copied().collect::<HashSet<_>>().into_iter().collect();
    unique.sort_unstable();
    if let Some(bad) = unique.iter().find(|c| !members.contains(c)) {
        return Err(AppError::validation(
            "communeIds",
            format!(
                "commune {} is not a current member of this intercommunality",
                crate::ids::encode(crate::ids::Kind::Commune, *bad).0
            ),
        ));
    }
    Ok(unique)
}

async fn set_communes<C: ConnectionTrait>(conn: &C, territory_id: i32, ids: &[i32]) -> AppResult<()> {
    territory_commune::Entity::delete_many()
        .filter(territory_commune::Column::TerritoryId.eq(territory_id))
        .exec(conn)
        .await?;
    if !ids.is_empty() {
        territory_commune::Entity::insert_many(
            ids.iter().map(|c| territory_commune::ActiveModel { territory_id: Set(territory_id), commune_id: Set(*c) }),
        )
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

async fn name_taken<C: ConnectionTrait>(conn: &C, epci: i32, name: &str, except: Option<i32>) -> AppResult<bool> {
    let mut q = territory::Entity::find()
        .filter(territory::Column::IntercommunalityId.eq(epci))
        .filter(territory::Column::Name.eq(name));
    if let Some(id) = except {
        q = q.filter(territory::Column::Id.ne(id));
    }
    Ok(q.one(conn).await?.is_some())
}

pub async fn create_territory(
    state: &AppState,
    actor: &Actor,
    epci: i32,
    input: TerritoryInput,
) -> AppResult<territory::Model> {
    let txn = crate::db::write(&state.db).await?;
    intercommunality::Entity::find_by_id(epci)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("intercommunality"))?;
    authorize(&txn, actor, Action::ManageTerritories { intercommunality: epci }).await?;
    let name = check_name(&input.name)?;
    let communes = check_members(&txn, epci, &input.commune_ids).await?;
    if name_taken(&txn, epci, &name, None).await? {
        return Err(AppError::Conflict(format!("a territory named {name:?} exists already")));
    }
    let now = Utc::now();
    let t = territory::ActiveModel {
        intercommunality_id: Set(epci),
        name: Set(name),
        code: Set(input.code.map(|c| c.trim().to_string()).filter(|c| !c.is_empty())),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    set_communes(&txn, t.id, &communes).await?;
    record(
        &txn,
        actor,
        Entry {
            action: "CREATE_TERRITORY",
            target_type: "Territory",
            target_id: Some(t.id),
            scope: Some(epci),
            summary: json!({ "name": t.name, "code": t.code, "communes": communes }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(t)
}

pub async fn update_territory(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
    input: TerritoryInput,
) -> AppResult<territory::Model> {
    let txn = crate::db::write(&state.db).await?;
    let old = territory::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| AppError::not_found("territory"))?;
    authorize(&txn, actor, Action::ManageTerritories { intercommunality: old.intercommunality_id }).await?;
    let name = check_name(&input.name)?;
    let code = input.code.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    let communes = check_members(&txn, old.intercommunality_id, &input.commune_ids).await?;
    if name_taken(&txn, old.intercommunality_id, &name, Some(id)).await? {
        return Err(AppError::Conflict(format!("a territory named {name:?} exists already")));
    }
    let res = territory::Entity::update_many()
        .col_expr(territory::Column::Name, Expr::value(name.clone()))
        .col_expr(territory::Column::Code, Expr::value(code.clone()))
        .col_expr(territory::Column::UpdatedAt, Expr::value(Utc::now()))
        .col_expr(territory::Column::Version, Expr::value(crate::platform::versions::next_version(expected_version)?))
        .filter(territory::Column::Id.eq(id))
        .filter(territory::Column::Version.eq(expected_version))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::stale("territory", old.version, expected_version));
    }
    set_communes(&txn, id, &communes).await?;
    record(&txn, actor, Entry {
        action: "UPDATE_TERRITORY",
        target_type: "Territory",
        target_id: Some(id),
        scope: Some(old.intercommunality_id),
        summary: json!({ "before": { "name": old.name, "code": old.code }, "after": { "name": name, "code": code, "communes": communes } }),
    })
    .await?;
    let t = territory::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| AppError::not_found("territory"))?;
    txn.commit().await?;
    Ok(t)
}

pub async fn delete_territory(state: &AppState, actor: &Actor, id: i32, expected_version: i32) -> AppResult<()> {
    let txn = crate::db::write(&state.db).await?;
    let old = territory::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| AppError::not_found("territory"))?;
    authorize(&txn, actor, Action::ManageTerritories { intercommunality: old.intercommunality_id }).await?;
    territory_commune::Entity::delete_many().filter(territory_commune::Column::TerritoryId.eq(id)).exec(&txn).await?;
    let res = territory::Entity::delete_many()
        .filter(territory::Column::Id.eq(id))
        .filter(territory::Column::Version.eq(expected_version))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::stale("territory", old.version, expected_version));
    }
    record(
        &txn,
        actor,
        Entry {
            action: "DELETE_TERRITORY",
            target_type: "Territory",
            target_id: Some(id),
            scope: Some(old.intercommunality_id),
            summary: json!({ "name": old.name }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The id of the intercommunality with this SIREN (NOT_FOUND when it was not imported).
pub async fn intercommunality_id_by_siren(state: &AppState, siren: &super::rules::Siren) -> AppResult<i32> {
    intercommunality::Entity::find()
        .filter(intercommunality::Column::Siren.eq(siren.as_str()))
        .one(&state.db)
        .await?
        .map(|e| e.id)
        .ok_or_else(|| AppError::not_found(format!("intercommunality {siren}")))
}
