//! Reads what the bilan de la concertation counts (`policies::synthesis`): the policy's
//! contributions (all, or those on one version), the co-signatures, the member communes
//! with their territories. Whoever sees the policy sees its synthesis: counts and
//! names of communes and sections, no contribution's text. A fixed number of statements
//! whatever the number of contributions.
use std::collections::HashMap;

use chrono::Utc;
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::auth::Granted;
use crate::error::{AppError, AppResult};
use crate::policies::model::{policy, policy_contribution, policy_cosignature, policy_version_section};
use crate::policies::queries::version_numbered;
use crate::policies::synthesis::{synthesize, Counted, Inputs, Member, Synthesis};
use crate::territory::model::{commune, intercommunality, territory, territory_commune};

/// A contribution's columns the synthesis counts.
#[derive(sea_orm::FromQueryResult)]
struct Row {
    id: i32,
    version_id: i32,
    section_id: Option<i32>,
    kind: crate::policies::rules::ContributionKind,
    commune_id: Option<i32>,
    status: crate::policies::rules::ContributionStatus,
    answer: Option<crate::policies::rules::AnswerKind>,
    created_at: chrono::DateTime<Utc>,
    answered_at: Option<chrono::DateTime<Utc>>,
}

/// Communes per `IN` list.
const CHUNK: usize = 2_000;

pub async fn synthesis<C: ConnectionTrait>(
    db: &C,
    p: &Granted<policy::Model>,
    version_number: Option<i32>,
) -> AppResult<Synthesis> {
    let version = match version_number {
        Some(n) => Some(
            version_numbered(db, p.id, n)
                .await
                .map_err(|e| e.missing_as("versionNumber", "a published version of the policy"))?,
        ),
        None => None,
    };
    use policy_contribution::Column as C;
    let mut q = policy_contribution::Entity::find().filter(C::PolicyId.eq(p.id));
    if let Some(v) = &version {
        q = q.filter(C::VersionId.eq(v.id));
    }
    // What is counted, not the texts (up to 20 KB each).
    let rows = q
        .select_only()
        .columns([
            C::Id,
            C::VersionId,
            C::SectionId,
            C::Kind,
            C::CommuneId,
            C::Status,
            C::Answer,
            C::CreatedAt,
            C::AnsweredAt,
        ])
        .into_model::<Row>()
        .all(db)
        .await?;
    // The sections as each contribution's version numbered them.
    let mut versions: Vec<i32> = rows.iter().filter(|c| c.section_id.is_some()).map(|c| c.version_id).collect();
    versions.sort_unstable();
    versions.dedup();
    let labels: HashMap<(i32, i32), (String, String)> = policy_version_section::Entity::find()
        .filter(policy_version_section::Column::VersionId.is_in(versions))
        .all(db)
        .await?
        .into_iter()
        .map(|s| ((s.version_id, s.section_id), (s.label, s.title)))
        .collect();
    let cosignatures: Vec<(i32, i32)> = policy_cosignature::Entity::find()
        .filter(policy_cosignature::Column::Author.eq(false))
        .filter(
            policy_cosignature::Column::ContributionId.in_subquery(
                Query::select()
                    .column(policy_contribution::Column::Id)
                    .from(policy_contribution::Entity)
                    .and_where(policy_contribution::Column::PolicyId.eq(p.id))
                    .to_owned(),
            ),
        )
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.contribution_id, s.commune_id))
        .collect();
    let e = intercommunality::Entity::find_by_id(p.intercommunality_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("intercommunality"))?;
    let ids: Vec<i32> = crate::territory::queries::member_communes(db, e.id).await?.into_iter().collect();
    let mut communes = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        communes
            .extend(commune::Entity::find().filter(commune::Column::Id.is_in(chunk.iter().copied())).all(db).await?);
    }
    let territories: HashMap<i32, String> = territory::Entity::find()
        .filter(territory::Column::IntercommunalityId.eq(e.id))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let territory_of: HashMap<i32, String> = territory_commune::Entity::find()
        .filter(territory_commune::Column::TerritoryId.is_in(territories.keys().copied()))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|tc| territories.get(&tc.territory_id).map(|name| (tc.commune_id, name.clone())))
        .collect();
    let contributions = rows
        .into_iter()
        .map(|c| Counted {
            id: c.id,
            kind: c.kind,
            commune_id: c.commune_id,
            section: c.section_id.map(|s| {
                let (label, title) = labels.get(&(c.version_id, s)).cloned().unwrap_or_default();
                (s, label, title)
            }),
            status: c.status,
            answer: c.answer,
            created_at: c.created_at,
            answered_at: c.answered_at,
        })
        .collect();
    let members = communes
        .into_iter()
        .map(|c| Member { id: c.id, territory: territory_of.get(&c.id).cloned(), insee: c.insee_code, name: c.name })
        .collect();
    Ok(synthesize(Inputs {
        policy_title: p.title.clone(),
        intercommunality: e.name,
        version_number: version.map(|v| v.number),
        contributions,
        cosignatures,
        members,
        generated_at: Utc::now(),
    }))
}
