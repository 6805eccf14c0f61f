//! Use cases on policies, each on its own transaction: authorize on it, read what the
//! write depends on, write, audit. Split by sub-domain: `drafting` (the policy and its
//! working text), `versions` (publishing and comparing), `lifecycle` (its status).
pub mod access;
mod approval;
mod consultations;
mod contributions;
mod documents;
mod drafting;
mod jobs;
mod lifecycle;
pub mod search;
mod synthesis;
mod versions;

pub use access::policy_version;
pub use approval::{add_step, record_step, steps, NewStep, StepRecord};
pub use consultations::{add_consultation, consultations, NewConsultation};
pub use contributions::{answer, contribute, cosign, withdraw, Answer, NewContribution};
pub use documents::{document_for, documents_of, download_document, upload_document};
pub use drafting::{
    add_section, create_policy, move_section, remove_section, update_policy, update_section, NewPolicy, NewSection,
    PolicyPatch, SectionMove, SectionPatch,
};
pub use jobs::run_jobs;
pub use lifecycle::{transition, Transition};
pub use synthesis::synthesis;
pub use versions::{compare_versions, publish_version};

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::model::policy;
use super::queries::policy_of;
use crate::audit::service::Entry;
use crate::auth::policy::Action;
use crate::error::AppResult;

/// The audit entry of a change to `p` (its intercommunality's secretariat reads it).
pub(super) fn audit<'a>(
    action: &'a str,
    target_type: &'a str,
    id: i32,
    p: &policy::Model,
    summary: serde_json::Value,
) -> Entry<'a> {
    Entry { action, target_type, target_id: Some(id), scope: Some(p.intercommunality_id), summary }
}

/// Serialises the writers of one policy's text and versions (a no-op update takes the
/// row lock on both databases), and reads the policy under that lock.
pub(super) async fn lock_policy<C: ConnectionTrait>(conn: &C, id: i32) -> AppResult<policy::Model> {
    policy::Entity::update_many()
        .col_expr(policy::Column::UpdatedAt, Expr::col(policy::Column::UpdatedAt))
        .filter(policy::Column::Id.eq(id))
        .exec(conn)
        .await?;
    policy_of(conn, id).await
}

/// Tells the mayors and DGS of the intercommunality's member communes of `event`, on the
/// change's transaction.
pub(super) async fn tell_communes<C: ConnectionTrait>(
    conn: &C,
    actor: &crate::auth::Actor,
    p: &policy::Model,
    event: crate::platform::notify::Event,
) -> AppResult<usize> {
    tell_communes_but(conn, actor, p, &Default::default(), event).await
}

/// [`tell_communes`], leaving out the communes in `but`.
pub(super) async fn tell_communes_but<C: ConnectionTrait>(
    conn: &C,
    actor: &crate::auth::Actor,
    p: &policy::Model,
    but: &std::collections::HashSet<i32>,
    event: crate::platform::notify::Event,
) -> AppResult<usize> {
    let mut communes = crate::territory::queries::member_communes(conn, p.intercommunality_id).await?;
    communes.retain(|c| !but.contains(c));
    let people = crate::people::queries::officers_of(conn, &communes).await?;
    crate::platform::notify::emit(conn, Some(actor), event, &people).await
}

/// The action of drafting `p`: its secretariat, its lead elected official, the animators
/// of its drafting body.
pub fn draft_action(p: &policy::Model) -> Action {
    Action::DraftPolicy {
        intercommunality: p.intercommunality_id,
        lead_mandate: p.lead_mandate_id,
        drafting_body: p.drafting_body_id,
    }
}
