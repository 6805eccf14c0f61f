//! GraphQL of policies: the Policy, its working text, its versions and their comparison;
//! the mutations of the drafting team and the secretariat.
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::model::{policy, policy_section, policy_version, policy_version_section};
use super::rules::{DiffOp, PolicyKind, PolicyStatus, SectionChange, SectionChangeKind, VisibilityChoice};
use super::service::{self, access, Transition};
use crate::auth::Granted;
use crate::error::AppResult;
use crate::graphql::support::{actor, keyset_page, state, KeyConn, PageArgs};
use crate::ids::{self, Kind};

/// Politique publique / document-cadre co-construit: a policy the communes write
/// together, from its first draft to its adoption (délibération).
pub struct Policy(Granted<policy::Model>);

impl From<Granted<policy::Model>> for Policy {
    fn from(p: Granted<policy::Model>) -> Self {
        Policy(p)
    }
}

#[Object]
impl Policy {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Policy, self.0.id)
    }
    async fn intercommunality_id(&self) -> ID {
        ids::encode(Kind::Intercommunality, self.0.intercommunality_id)
    }
    async fn kind(&self) -> PolicyKind {
        self.0.kind
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    /// The lead elected official's mandate (élu référent, e.g. the vice-president for
    /// mobility, with its delegation).
    async fn lead_mandate_id(&self) -> Option<ID> {
        self.0.lead_mandate_id.map(|m| ids::encode(Kind::Mandate, m))
    }
    /// The drafting body (groupe de travail, comité de pilotage).
    async fn drafting_body_id(&self) -> Option<ID> {
        self.0.drafting_body_id.map(|b| ids::encode(Kind::Body, b))
    }
    /// The service of the secretariat in charge.
    async fn secretariat(&self) -> Option<&str> {
        self.0.secretariat.as_deref()
    }
    /// Base légale, where there is one (e.g. CGCT L5211-11-2 for a governance pact).
    async fn legal_basis(&self) -> Option<&str> {
        self.0.legal_basis.as_deref()
    }
    async fn status(&self) -> PolicyStatus {
        self.0.status
    }
    /// 1, then one more each time the adopted policy is opened for revision.
    async fn cycle(&self) -> i32 {
        self.0.cycle
    }
    /// Which visibilities contributors may choose.
    async fn visibility(&self) -> VisibilityChoice {
        self.0.visibility
    }
    /// Clôture de la concertation (UTC), while it is open.
    async fn concertation_closes_at(&self) -> Option<DateTime<Utc>> {
        self.0.concertation_closes_at
    }
    /// Optimistic concurrency: pass it back as `expectedVersion`.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The working text (texte en cours de rédaction), in reading order: the drafting
    /// team's (secretariat, lead official, animators of the drafting body).
    async fn draft(&self, ctx: &Context<'_>) -> AppResult<Vec<PolicySection>> {
        let db = &state(ctx)?.db;
        let rows = access::draft_of(db, actor(ctx)?, &self.0).await?;
        let all: Vec<policy_section::Model> = rows.iter().map(|s| (**s).clone()).collect();
        let outline = super::rules::outline(&super::queries::places(&all));
        let mut by_id: std::collections::HashMap<i32, Granted<policy_section::Model>> =
            rows.into_iter().map(|s| (s.id, s)).collect();
        Ok(outline
            .into_iter()
            .filter_map(|(p, label, depth)| by_id.remove(&p.id).map(|s| PolicySection { row: s, label, depth }))
            .collect())
    }
    /// Published versions, oldest first.
    async fn versions(&self, ctx: &Context<'_>) -> AppResult<Vec<PolicyVersion>> {
        let rows = policy_version::Entity::find()
            .filter(policy_version::Column::PolicyId.eq(self.0.id))
            .order_by_asc(policy_version::Column::Number)
            .all(&state(ctx)?.db)
            .await?;
        Ok(rows.into_iter().map(|v| PolicyVersion(service::policy_version(&self.0, v))).collect())
    }
    /// Version `number`.
    async fn version_numbered(&self, ctx: &Context<'_>, number: i32) -> AppResult<PolicyVersion> {
        let v = super::queries::version_numbered(&state(ctx)?.db, self.0.id, number).await?;
        Ok(PolicyVersion(service::policy_version(&self.0, v)))
    }
    /// How version `to` differs from version `from`, section by section (added, removed,
    /// moved, changed with a word-level diff); unchanged sections are left out.
    async fn compare(&self, ctx: &Context<'_>, from: i32, to: i32) -> AppResult<Vec<SectionDiff>> {
        let changes = service::compare_versions(&state(ctx)?.db, self.0.id, from, to).await?;
        Ok(changes.into_iter().map(SectionDiff).collect())
    }
}

/// Section (partie, article) of a policy's working text.
pub struct PolicySection {
    row: Granted<policy_section::Model>,
    label: String,
    depth: usize,
}

#[Object]
impl PolicySection {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::PolicySection, self.row.id)
    }
    /// Its number in the text: "2", "2.1".
    async fn label(&self) -> &str {
        &self.label
    }
    /// 1 for a top-level section (a part), 2 for its articles...
    async fn depth(&self) -> usize {
        self.depth
    }
    async fn parent_id(&self) -> Option<ID> {
        self.row.parent_id.map(|p| ids::encode(Kind::PolicySection, p))
    }
    /// Its place among its siblings (0 first).
    async fn position(&self) -> i32 {
        self.row.position
    }
    async fn title(&self) -> &str {
        &self.row.title
    }
    /// Markdown.
    async fn body(&self) -> &str {
        &self.row.body
    }
    /// Pass it back as `expectedVersion` to edit or move the section.
    async fn version(&self) -> i32 {
        self.row.version
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }
}

/// Version publiée: the whole text frozen at publication, immutable.
pub struct PolicyVersion(Granted<policy_version::Model>);

#[Object]
impl PolicyVersion {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::PolicyVersion, self.0.id)
    }
    /// 1, 2, ... within the policy.
    async fn number(&self) -> i32 {
        self.0.number
    }
    /// The policy's cycle it belongs to (1, then one per revision).
    async fn cycle(&self) -> i32 {
        self.0.cycle
    }
    /// Note de version: what changed and why.
    async fn change_note(&self) -> &str {
        &self.0.change_note
    }
    async fn published_at(&self) -> DateTime<Utc> {
        self.0.published_at
    }
    /// Its sections in reading order.
    async fn sections(&self, ctx: &Context<'_>) -> AppResult<Vec<VersionSection>> {
        let rows = super::queries::version_sections(&state(ctx)?.db, self.0.id).await?;
        Ok(rows.into_iter().map(VersionSection).collect())
    }
}

/// A section as a version froze it.
pub struct VersionSection(policy_version_section::Model);

#[Object(name = "PolicyVersionSection")]
impl VersionSection {
    /// The section's identity, the same in every version (a PolicySection ID).
    async fn section_id(&self) -> ID {
        ids::encode(Kind::PolicySection, self.0.section_id)
    }
    async fn label(&self) -> &str {
        &self.0.label
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Markdown.
    async fn body(&self) -> &str {
        &self.0.body
    }
}

/// How one section differs between two versions.
pub struct SectionDiff(SectionChange);

#[Object]
impl SectionDiff {
    async fn section_id(&self) -> ID {
        ids::encode(Kind::PolicySection, self.0.section_id)
    }
    async fn kind(&self) -> SectionChangeKind {
        self.0.kind
    }
    /// It has another parent or place (CHANGED sections may have moved too).
    async fn moved(&self) -> bool {
        self.0.moved
    }
    /// The title, word by word.
    async fn title(&self) -> Vec<DiffRun> {
        runs(&self.0.title)
    }
    /// The text, word by word.
    async fn body(&self) -> Vec<DiffRun> {
        runs(&self.0.body)
    }
}

/// A run of words: unchanged, inserted or deleted.
#[derive(SimpleObject)]
pub struct DiffRun {
    pub op: DiffOp,
    pub text: String,
}

fn runs(r: &[(DiffOp, String)]) -> Vec<DiffRun> {
    r.iter().map(|(op, text)| DiffRun { op: *op, text: text.clone() }).collect()
}

#[derive(Default)]
pub struct PoliciesQuery;

#[Object]
impl PoliciesQuery {
    /// The policies of an intercommunality that the actor may see, by title.
    async fn policies(
        &self,
        ctx: &Context<'_>,
        intercommunality_id: ID,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> AppResult<KeyConn<Policy>> {
        let e = ids::decode("intercommunalityId", Kind::Intercommunality, &intercommunality_id)?;
        let rows = access::visible_policies(&state(ctx)?.db, actor(ctx)?, e).await?;
        let items = rows.into_iter().map(|p| (p.title.clone(), p.id, Policy(p))).collect();
        keyset_page(ctx, &PageArgs { after, before, first, last }, "policies", items, false)
    }
    /// A policy, if the actor may see it.
    async fn policy(&self, ctx: &Context<'_>, id: ID) -> AppResult<Policy> {
        let id = ids::decode("id", Kind::Policy, &id)?;
        Ok(Policy(access::view(&state(ctx)?.db, actor(ctx)?, id).await?))
    }
}

#[derive(InputObject)]
pub struct CreatePolicyInput {
    pub intercommunality_id: ID,
    pub kind: PolicyKind,
    pub title: String,
    pub summary: Option<String>,
    /// The lead elected official's mandate in the intercommunality.
    pub lead_mandate_id: Option<ID>,
    /// A body of the intercommunality (working group, steering committee).
    pub drafting_body_id: Option<ID>,
    pub secretariat: Option<String>,
    pub legal_basis: Option<String>,
    /// Default BOTH.
    pub visibility: Option<VisibilityChoice>,
}

#[derive(InputObject)]
pub struct UpdatePolicyInput {
    pub id: ID,
    pub expected_version: i32,
    pub title: Option<String>,
    pub summary: Option<String>,
    /// Null clears it; absent keeps it.
    pub lead_mandate_id: async_graphql::MaybeUndefined<ID>,
    pub drafting_body_id: async_graphql::MaybeUndefined<ID>,
    pub secretariat: async_graphql::MaybeUndefined<String>,
    pub legal_basis: async_graphql::MaybeUndefined<String>,
    pub visibility: Option<VisibilityChoice>,
}

#[derive(InputObject)]
pub struct AddPolicySectionInput {
    pub policy_id: ID,
    /// The section it belongs to (none: a top-level part).
    pub parent_id: Option<ID>,
    /// Its place among its siblings (0 first; default: last).
    pub position: Option<i32>,
    pub title: String,
    /// Markdown, at most 100 KB.
    #[graphql(default)]
    pub body: String,
}

#[derive(InputObject)]
pub struct UpdatePolicySectionInput {
    pub id: ID,
    pub expected_version: i32,
    pub title: Option<String>,
    pub body: Option<String>,
}

#[derive(InputObject)]
pub struct MovePolicySectionInput {
    pub id: ID,
    pub expected_version: i32,
    pub parent_id: Option<ID>,
    pub position: i32,
}

#[derive(InputObject)]
pub struct TransitionPolicyInput {
    pub id: ID,
    pub expected_version: i32,
    pub to: Transition,
    /// Opening the concertation: when it closes, Paris wall time.
    pub concertation_closes_at: Option<NaiveDateTime>,
}

fn id_opt(field: &str, kind: Kind, id: &Option<ID>) -> AppResult<Option<i32>> {
    id.as_ref().map(|i| ids::decode(field, kind, i)).transpose()
}

fn maybe_id(field: &str, kind: Kind, v: async_graphql::MaybeUndefined<ID>) -> AppResult<Option<Option<i32>>> {
    Ok(match v {
        async_graphql::MaybeUndefined::Undefined => None,
        async_graphql::MaybeUndefined::Null => Some(None),
        async_graphql::MaybeUndefined::Value(i) => Some(Some(ids::decode(field, kind, &i)?)),
    })
}

fn maybe_text(v: async_graphql::MaybeUndefined<String>) -> Option<Option<String>> {
    match v {
        async_graphql::MaybeUndefined::Undefined => None,
        async_graphql::MaybeUndefined::Null => Some(None),
        async_graphql::MaybeUndefined::Value(s) => Some(Some(s)),
    }
}

#[derive(Default)]
pub struct PoliciesMutation;

#[Object]
impl PoliciesMutation {
    /// Creates a policy in DRAFTING (the intercommunality's secretariat).
    async fn create_policy(&self, ctx: &Context<'_>, input: CreatePolicyInput) -> AppResult<Policy> {
        let p = service::create_policy(
            state(ctx)?,
            actor(ctx)?,
            service::NewPolicy {
                intercommunality_id: ids::decode(
                    "intercommunalityId",
                    Kind::Intercommunality,
                    &input.intercommunality_id,
                )?,
                kind: input.kind,
                title: input.title,
                summary: input.summary,
                lead_mandate_id: id_opt("leadMandateId", Kind::Mandate, &input.lead_mandate_id)?,
                drafting_body_id: id_opt("draftingBodyId", Kind::Body, &input.drafting_body_id)?,
                secretariat: input.secretariat,
                legal_basis: input.legal_basis,
                visibility: input.visibility,
            },
        )
        .await?;
        Ok(Policy(p))
    }
    /// Edits a policy's description (the secretariat); CONFLICT on a stale version.
    async fn update_policy(&self, ctx: &Context<'_>, input: UpdatePolicyInput) -> AppResult<Policy> {
        let p = service::update_policy(
            state(ctx)?,
            actor(ctx)?,
            service::PolicyPatch {
                id: ids::decode("id", Kind::Policy, &input.id)?,
                expected_version: input.expected_version,
                title: input.title,
                summary: input.summary,
                lead_mandate_id: maybe_id("leadMandateId", Kind::Mandate, input.lead_mandate_id)?,
                drafting_body_id: maybe_id("draftingBodyId", Kind::Body, input.drafting_body_id)?,
                secretariat: maybe_text(input.secretariat),
                legal_basis: maybe_text(input.legal_basis),
                visibility: input.visibility,
            },
        )
        .await?;
        Ok(Policy(p))
    }
    /// Adds a section (partie, article) to the working text (the drafting team).
    async fn add_policy_section(&self, ctx: &Context<'_>, input: AddPolicySectionInput) -> AppResult<PolicySection> {
        let s = service::add_section(
            state(ctx)?,
            actor(ctx)?,
            service::NewSection {
                policy_id: ids::decode("policyId", Kind::Policy, &input.policy_id)?,
                parent_id: id_opt("parentId", Kind::PolicySection, &input.parent_id)?,
                position: input.position,
                title: input.title,
                body: input.body,
            },
        )
        .await?;
        placed(ctx, s).await
    }
    /// Edits a section's title or text; of two editors of one section, the second gets
    /// CONFLICT (pass the `version` you read as `expectedVersion`).
    async fn update_policy_section(
        &self,
        ctx: &Context<'_>,
        input: UpdatePolicySectionInput,
    ) -> AppResult<PolicySection> {
        let s = service::update_section(
            state(ctx)?,
            actor(ctx)?,
            service::SectionPatch {
                id: ids::decode("id", Kind::PolicySection, &input.id)?,
                expected_version: input.expected_version,
                title: input.title,
                body: input.body,
            },
        )
        .await?;
        placed(ctx, s).await
    }
    /// Moves a section under another parent (none: top level) at `position`.
    async fn move_policy_section(&self, ctx: &Context<'_>, input: MovePolicySectionInput) -> AppResult<PolicySection> {
        let s = service::move_section(
            state(ctx)?,
            actor(ctx)?,
            service::SectionMove {
                id: ids::decode("id", Kind::PolicySection, &input.id)?,
                expected_version: input.expected_version,
                parent_id: id_opt("parentId", Kind::PolicySection, &input.parent_id)?,
                position: input.position,
            },
        )
        .await?;
        placed(ctx, s).await
    }
    /// Removes a section without sections of its own. Published versions keep it.
    async fn remove_policy_section(&self, ctx: &Context<'_>, id: ID, expected_version: i32) -> AppResult<bool> {
        let id = ids::decode("id", Kind::PolicySection, &id)?;
        service::remove_section(state(ctx)?, actor(ctx)?, id, expected_version).await
    }
    /// Publie une version: freezes the whole working text as the next version, with its
    /// change note (the drafting team, while drafting or in concertation).
    async fn publish_policy_version(
        &self,
        ctx: &Context<'_>,
        policy_id: ID,
        change_note: String,
    ) -> AppResult<PolicyVersion> {
        let id = ids::decode("policyId", Kind::Policy, &policy_id)?;
        let v = service::publish_version(state(ctx)?, actor(ctx)?, id, &change_note).await?;
        Ok(PolicyVersion(v))
    }
    /// Moves the policy along its life (the secretariat): concertation (with its closing
    /// time), consultation, approval, back to drafting, revision, abandon.
    async fn transition_policy(&self, ctx: &Context<'_>, input: TransitionPolicyInput) -> AppResult<Policy> {
        let closes =
            input.concertation_closes_at.map(|t| crate::time::paris_instant("concertationClosesAt", t)).transpose()?;
        let p = service::transition(
            state(ctx)?,
            actor(ctx)?,
            ids::decode("id", Kind::Policy, &input.id)?,
            input.expected_version,
            input.to,
            closes,
        )
        .await?;
        Ok(Policy(p))
    }
}

/// A section just written, with its label and depth in the text as it now stands.
async fn placed(ctx: &Context<'_>, row: Granted<policy_section::Model>) -> AppResult<PolicySection> {
    let all = super::queries::sections(&state(ctx)?.db, row.policy_id).await?;
    let (label, depth) = super::rules::outline(&super::queries::places(&all))
        .into_iter()
        .find(|(p, ..)| p.id == row.id)
        .map(|(_, l, d)| (l, d))
        .unwrap_or_default();
    Ok(PolicySection { row, label, depth })
}

// ---- nodes ------------------------------------------------------------------------------

/// `node(id)` of a policy: as `policy(id)`, None when it does not exist.
pub async fn policy_node(ctx: &Context<'_>, id: i32) -> AppResult<Option<Policy>> {
    match access::view(&state(ctx)?.db, actor(ctx)?, id).await {
        Ok(p) => Ok(Some(Policy(p))),
        Err(crate::error::AppError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `node(id)` of a section of a working text: the drafting team's.
pub async fn section_node(ctx: &Context<'_>, id: i32) -> AppResult<Option<PolicySection>> {
    let db = &state(ctx)?.db;
    let Some(s) = policy_section::Entity::find_by_id(id).one(db).await? else { return Ok(None) };
    let s = access::section(db, actor(ctx)?, s).await?;
    Ok(Some(placed(ctx, s).await?))
}

/// `node(id)` of a published version: whoever sees its policy.
pub async fn version_node(ctx: &Context<'_>, id: i32) -> AppResult<Option<PolicyVersion>> {
    let db = &state(ctx)?.db;
    let Some(v) = policy_version::Entity::find_by_id(id).one(db).await? else { return Ok(None) };
    let p = access::view(db, actor(ctx)?, v.policy_id).await?;
    Ok(Some(PolicyVersion(service::policy_version(&p, v))))
}
