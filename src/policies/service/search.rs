//! Full-text search over policies, their sections and contributions, with permissions
//! applied (issue 15).
//!
//! The index (`search_entry`, migration 000013) is written on the transaction of each
//! change it follows: a policy's title and summary, each section of the working text
//! (its drafting team's), each section of the latest published version (everyone's who
//! sees the policy), each contribution (restricted when kept to the drafting team). Its
//! `terms` are folded in Rust (`platform::text::search_key`), so SQLite's FTS5 and
//! PostgreSQL's text search see the same words and give the same results, in one order
//! (policies, the published text, the working text, contributions newest first); each
//! query word matches as a prefix, all words must match.
use std::collections::HashSet;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
    Statement,
};

use super::access::visible_policies;
use super::draft_action;
use crate::auth::policy::pass;
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::platform::text::{excerpt, query_words, search_key};
use crate::policies::model::{
    policy, policy_contribution, policy_section, policy_version, policy_version_section, search_entry,
};
use crate::policies::rules::ContributionVisibility;

str_enum!(
    /// What a search hit is.
    SearchHitKind {
        /// The policy itself (title, summary).
        Policy = "POLICY",
        /// A section of the working text (its drafting team's).
        Section = "SECTION",
        /// A section of the latest published version.
        VersionSection = "VERSION_SECTION",
        /// A contribution.
        Contribution = "CONTRIBUTION",
    }
);

/// Rows per insert statement.
const ROWS_PER_INSERT: usize = 200;

#[allow(clippy::too_many_arguments)]
fn entry(
    kind: SearchHitKind,
    target: i32,
    p: &policy::Model,
    restricted: bool,
    author: Option<i32>,
    commune: Option<i32>,
    title: &str,
    body: &str,
) -> search_entry::ActiveModel {
    search_entry::ActiveModel {
        kind: Set(kind.as_str().to_string()),
        target_id: Set(target),
        policy_id: Set(p.id),
        intercommunality_id: Set(p.intercommunality_id),
        restricted: Set(restricted),
        author_person_id: Set(author),
        commune_id: Set(commune),
        title: Set(title.to_string()),
        body: Set(body.to_string()),
        terms: Set(search_key(&format!("{title} {body}"))),
        ..Default::default()
    }
}

/// Removes the entry of (`kind`, `target`), if any.
pub(super) async fn unindex<C: ConnectionTrait>(conn: &C, kind: SearchHitKind, target: i32) -> AppResult<()> {
    search_entry::Entity::delete_many()
        .filter(search_entry::Column::Kind.eq(kind.as_str()))
        .filter(search_entry::Column::TargetId.eq(target))
        .exec(conn)
        .await?;
    Ok(())
}

async fn put<C: ConnectionTrait>(conn: &C, e: search_entry::ActiveModel) -> AppResult<()> {
    let (Set(kind), Set(target)) = (e.kind.clone(), e.target_id.clone()) else {
        return Err(AppError::internal("a search entry without its target"));
    };
    search_entry::Entity::delete_many()
        .filter(search_entry::Column::Kind.eq(kind))
        .filter(search_entry::Column::TargetId.eq(target))
        .exec(conn)
        .await?;
    search_entry::Entity::insert(e).exec(conn).await?;
    Ok(())
}

/// The policy's title and summary.
pub(super) async fn index_policy<C: ConnectionTrait>(conn: &C, p: &policy::Model) -> AppResult<()> {
    put(conn, entry(SearchHitKind::Policy, p.id, p, false, None, None, &p.title, &p.summary)).await
}

/// A section of the working text, as it now reads.
pub(super) async fn index_section<C: ConnectionTrait>(
    conn: &C,
    p: &policy::Model,
    s: &policy_section::Model,
) -> AppResult<()> {
    put(conn, entry(SearchHitKind::Section, s.id, p, true, None, None, &s.title, &s.body)).await
}

/// The sections of the version just published replace those of the previous one.
pub(super) async fn index_version<C: ConnectionTrait>(
    conn: &C,
    p: &policy::Model,
    sections: &[policy_version_section::Model],
) -> AppResult<()> {
    search_entry::Entity::delete_many()
        .filter(search_entry::Column::PolicyId.eq(p.id))
        .filter(search_entry::Column::Kind.eq(SearchHitKind::VersionSection.as_str()))
        .exec(conn)
        .await?;
    for chunk in sections.chunks(ROWS_PER_INSERT) {
        let rows = chunk
            .iter()
            .map(|s| entry(SearchHitKind::VersionSection, s.section_id, p, false, None, None, &s.title, &s.body));
        search_entry::Entity::insert_many(rows).exec(conn).await?;
    }
    Ok(())
}

/// A contribution: its text and proposed text.
pub(super) async fn index_contribution<C: ConnectionTrait>(
    conn: &C,
    p: &policy::Model,
    c: &policy_contribution::Model,
) -> AppResult<()> {
    let body = match &c.proposed_text {
        Some(t) => format!("{}\n\n{t}", c.body),
        None => c.body.clone(),
    };
    let restricted = c.visibility == ContributionVisibility::DraftingTeam;
    let e = entry(
        SearchHitKind::Contribution,
        c.id,
        p,
        restricted,
        Some(c.author_person_id),
        c.commune_id,
        c.kind.fr(),
        &body,
    );
    put(conn, e).await
}

/// Builds the index of every policy when it is empty and policies exist (a database
/// that had policies before the index): run at start-up, a no-op afterwards.
pub async fn ensure_indexed(db: &sea_orm::DatabaseConnection) -> AppResult<()> {
    if search_entry::Entity::find().count(db).await? > 0 || policy::Entity::find().count(db).await? == 0 {
        return Ok(());
    }
    let txn = crate::db::write(db).await?;
    for p in policy::Entity::find().all(&txn).await? {
        index_policy(&txn, &p).await?;
        for s in crate::policies::queries::sections(&txn, p.id).await? {
            index_section(&txn, &p, &s).await?;
        }
        if let Some(v) = crate::policies::queries::latest_version(&txn, p.id).await? {
            index_version(&txn, &p, &crate::policies::queries::version_sections(&txn, v.id).await?).await?;
        }
        let contributions = policy_contribution::Entity::find()
            .filter(policy_contribution::Column::PolicyId.eq(p.id))
            .all(&txn)
            .await?;
        for c in contributions {
            index_contribution(&txn, &p, &c).await?;
        }
    }
    txn.commit().await?;
    tracing::info!("search index built");
    Ok(())
}

/// One result of a search.
pub struct Hit {
    pub kind: SearchHitKind,
    pub policy: Granted<policy::Model>,
    pub entry: search_entry::Model,
    /// The number of the published version a VERSION_SECTION hit is in.
    pub version_number: Option<i32>,
    pub excerpt: String,
}

/// Most hits one search returns.
pub const MAX_HITS: u64 = 100;

/// Searches the policies of intercommunality `e` the actor may see (and within them what
/// they may read) for every word of `query`; the best `first` hits, best first.
pub async fn search<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    e: i32,
    query: &str,
    policy_id: Option<i32>,
    first: u64,
) -> AppResult<Vec<Hit>> {
    let words = query_words("query", query)?;
    if !(1..=MAX_HITS).contains(&first) {
        return Err(AppError::validation("first", format!("between 1 and {MAX_HITS}")));
    }
    let mut seen = visible_policies(db, actor, e).await?;
    if let Some(only) = policy_id {
        seen.retain(|p| p.id == only);
    }
    if seen.is_empty() {
        return Ok(Vec::new());
    }
    let mut team = Vec::new();
    for p in &seen {
        match pass(db, actor, draft_action(p)).await {
            Ok(_) => team.push(p.id),
            Err(AppError::Forbidden(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let me = actor.principal.as_ref().map_or(0, |x| x.person_id);
    let communes: Vec<i32> = crate::auth::policy::acting_for(db, actor).await?.drafts.to_vec();
    let list = |ids: &[i32]| {
        if ids.is_empty() {
            "NULL".to_string()
        } else {
            ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
        }
    };
    let seen_ids: Vec<i32> = seen.iter().map(|p| p.id).collect();
    // Every interpolated value is an integer read from the database or the actor; the
    // words go as a bound parameter.
    let rights = format!(
        "e.policy_id IN ({}) AND (NOT e.restricted OR e.policy_id IN ({}) OR e.author_person_id = {me} \
         OR e.commune_id IN ({}))",
        list(&seen_ids),
        list(&team),
        list(&communes)
    );
    let columns = "e.id, e.kind, e.target_id, e.policy_id, e.intercommunality_id, e.restricted, \
                   e.author_person_id, e.commune_id, e.title, e.body, e.terms";
    // One order on both databases, so that they give the same hits, not only the same
    // matches (bm25 and ts_rank rank differently): policies, then the published text,
    // the working text (in the order sections were written), then contributions, newest
    // first.
    let order = "CASE e.kind WHEN 'POLICY' THEN 0 WHEN 'VERSION_SECTION' THEN 1 WHEN 'SECTION' THEN 2 ELSE 3 END, \
                 CASE WHEN e.kind = 'CONTRIBUTION' THEN -e.target_id ELSE e.target_id END";
    let backend = db.get_database_backend();
    let stmt = match backend {
        DatabaseBackend::Postgres => {
            let q = words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & ");
            Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT {columns} FROM search_entry e WHERE e.tsv @@ to_tsquery('simple', $1) \
                     AND {rights} ORDER BY {order} LIMIT {first}"
                ),
                [q.into()],
            )
        }
        _ => {
            // CROSS JOIN: SQLite then reads the full-text index first and joins each match
            // to its entry; left to choose, it walked the policy's entries and ran the
            // MATCH for each (0.5 s to 10 s over 5,000 contributions, bench/policies.sh).
            let q = words.iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" AND ");
            Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT {columns} FROM search_fts CROSS JOIN search_entry e ON e.id = search_fts.rowid \
                     WHERE search_fts MATCH ? AND {rights} ORDER BY {order} LIMIT {first}"
                ),
                [q.into()],
            )
        }
    };
    let rows = search_entry::Entity::find().from_raw_sql(stmt).all(db).await?;
    let with_versions: HashSet<i32> =
        rows.iter().filter(|r| r.kind == SearchHitKind::VersionSection.as_str()).map(|r| r.policy_id).collect();
    // The latest version of each policy with a hit in it, in one statement.
    let latest: std::collections::HashMap<i32, i32> = if with_versions.is_empty() {
        Default::default()
    } else {
        policy_version::Entity::find()
            .select_only()
            .column(policy_version::Column::PolicyId)
            .column_as(policy_version::Column::Number.max(), "number")
            .filter(policy_version::Column::PolicyId.is_in(with_versions))
            .group_by(policy_version::Column::PolicyId)
            .into_tuple::<(i32, i32)>()
            .all(db)
            .await?
            .into_iter()
            .collect()
    };
    let by_id: std::collections::HashMap<i32, &Granted<policy::Model>> = seen.iter().map(|p| (p.id, p)).collect();
    let mut hits = Vec::with_capacity(rows.len());
    for r in rows {
        let (Some(kind), Some(p)) = (SearchHitKind::parse(&r.kind), by_id.get(&r.policy_id)) else { continue };
        hits.push(Hit {
            kind,
            policy: p.vouch((***p).clone()),
            version_number: if kind == SearchHitKind::VersionSection {
                latest.get(&r.policy_id).copied()
            } else {
                None
            },
            excerpt: excerpt(&r.body, &words, 200),
            entry: r,
        });
    }
    Ok(hits)
}
