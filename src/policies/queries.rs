//! Read-only facts about policies, for the services and the views. Never imports the
//! policy or a service.
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use super::model::{policy, policy_section, policy_version, policy_version_section};
use super::rules::{Place, SectionText};
use crate::error::{AppError, AppResult};

pub async fn policy_of<C: ConnectionTrait>(db: &C, id: i32) -> AppResult<policy::Model> {
    policy::Entity::find_by_id(id).one(db).await?.ok_or_else(|| AppError::not_found("policy"))
}

/// Whether the policy has a published version.
pub async fn published<C: ConnectionTrait>(db: &C, policy_id: i32) -> AppResult<bool> {
    Ok(policy_version::Entity::find().filter(policy_version::Column::PolicyId.eq(policy_id)).count(db).await? > 0)
}

/// The latest published version, if any.
pub async fn latest_version<C: ConnectionTrait>(db: &C, policy_id: i32) -> AppResult<Option<policy_version::Model>> {
    Ok(policy_version::Entity::find()
        .filter(policy_version::Column::PolicyId.eq(policy_id))
        .order_by_desc(policy_version::Column::Number)
        .one(db)
        .await?)
}

/// The working text's sections, unordered.
pub async fn sections<C: ConnectionTrait>(db: &C, policy_id: i32) -> AppResult<Vec<policy_section::Model>> {
    Ok(policy_section::Entity::find().filter(policy_section::Column::PolicyId.eq(policy_id)).all(db).await?)
}

pub fn places(sections: &[policy_section::Model]) -> Vec<Place> {
    sections.iter().map(|s| Place { id: s.id, parent_id: s.parent_id, position: s.position }).collect()
}

/// A version's sections in reading order.
pub async fn version_sections<C: ConnectionTrait>(
    db: &C,
    version_id: i32,
) -> AppResult<Vec<policy_version_section::Model>> {
    Ok(policy_version_section::Entity::find()
        .filter(policy_version_section::Column::VersionId.eq(version_id))
        .order_by_asc(policy_version_section::Column::Ordinal)
        .all(db)
        .await?)
}

pub fn texts(rows: &[policy_version_section::Model]) -> Vec<SectionText> {
    rows.iter()
        .map(|s| SectionText {
            section_id: s.section_id,
            parent_id: s.parent_id,
            position: s.position,
            title: s.title.clone(),
            body: s.body.clone(),
        })
        .collect()
}

/// Version `number` of the policy.
pub async fn version_numbered<C: ConnectionTrait>(
    db: &C,
    policy_id: i32,
    number: i32,
) -> AppResult<policy_version::Model> {
    policy_version::Entity::find()
        .filter(policy_version::Column::PolicyId.eq(policy_id))
        .filter(policy_version::Column::Number.eq(number))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("version {number} of this policy")))
}
