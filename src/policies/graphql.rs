//! GraphQL of policies: the Policy, its working text, its versions and their comparison;
//! the mutations of the drafting team and the secretariat.
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::model::{
    policy, policy_consultation, policy_contribution, policy_cosignature, policy_document, policy_section, policy_step,
    policy_version, policy_version_section,
};
use super::rules::{
    AnswerKind, ContributionKind, ContributionStatus, ContributionVisibility, DiffOp, PolicyKind, PolicyStatus,
    SectionChange, SectionChangeKind, StepKind, StepOutcome, VisibilityChoice,
};
use super::service::search::SearchHitKind;
use super::service::{self, access, Transition};
use crate::auth::Granted;
use crate::directory::graphql::{Commune, Person};
use crate::error::AppResult;
use crate::graphql::support::{actor, keyset_page, loaders, state, KeyConn, PageArgs};
use crate::ids::{self, Kind};

/// Politique publique / document-cadre co-construit: a policy the communes write
/// together, from its first draft to its adoption (délibération).
pub struct Policy(Granted<policy::Model>);

impl From<Granted<policy::Model>> for Policy {
    fn from(p: Granted<policy::Model>) -> Self {
        Policy(p)
    }
}

/// Politique publique / document-cadre co-construit: a policy the communes write
/// together, from its first draft to its adoption (délibération).
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
    /// The e-mails about this policy (concertation, reminders, answers, versions, steps),
    /// in the order they were queued, with where each stands (envois): for its
    /// secretariat (FORBIDDEN otherwise). `status`: only those.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        status: Option<crate::platform::mail::model::DeliveryStatus>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> AppResult<KeyConn<crate::platform::mail::graphql::Delivery>> {
        crate::platform::mail::graphql::deliveries_field(
            ctx,
            crate::auth::policy::Action::ManagePolicies { intercommunality: self.0.intercommunality_id },
            crate::platform::mail::graphql::About::Policy(self.0.id),
            status,
            crate::graphql::support::PageArgs { after, before, first, last },
        )
        .await
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
    /// The lead elected official (élu référent): the mandate, with its delegation and
    /// its holder.
    async fn lead_mandate(&self, ctx: &Context<'_>) -> AppResult<Option<crate::directory::graphql::Mandate>> {
        let Some(m) = self.0.lead_mandate_id else { return Ok(None) };
        Ok(loaders(ctx)?.mandate.load_one(m).await?.map(crate::directory::graphql::Mandate::of))
    }
    /// The drafting body (instance de rédaction: groupe de travail, comité de pilotage).
    async fn drafting_body(&self, ctx: &Context<'_>) -> AppResult<Option<crate::meetings::graphql::Body>> {
        let Some(b) = self.0.drafting_body_id else { return Ok(None) };
        let body = loaders(ctx)?.body.load_one(b).await?;
        Ok(body.map(|b| crate::meetings::graphql::Body(access::drafting_body(&self.0, b))))
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
    /// Documents of the policy (études, annexes), oldest first.
    async fn documents(&self, ctx: &Context<'_>) -> AppResult<Vec<PolicyDocument>> {
        let rows = service::documents_of(&state(ctx)?.db, &self.0).await?;
        Ok(rows.into_iter().map(PolicyDocument).collect())
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
    /// Parcours d'approbation of the current cycle, in order: each step with the version
    /// it judged and what the body said.
    async fn approval_path(&self, ctx: &Context<'_>) -> AppResult<Vec<PolicyStep>> {
        let rows = service::steps(&state(ctx)?.db, &self.0).await?;
        Ok(rows.into_iter().map(|s| PolicyStep(access::policy_step(&self.0, s))).collect())
    }
    /// Consultations of the communes (a referral, saisine) and of the conference of mayors
    /// (an OPINION agenda item, avis) on published versions, oldest first.
    async fn consultations(&self, ctx: &Context<'_>) -> AppResult<Vec<PolicyConsultation>> {
        let rows = service::consultations(&state(ctx)?.db, &self.0).await?;
        Ok(rows.into_iter().map(|c| PolicyConsultation(access::policy_consultation(&self.0, c))).collect())
    }
    /// The number of the version adopted (délibération), once adopted.
    async fn adopted_version_number(&self, ctx: &Context<'_>) -> AppResult<Option<i32>> {
        let Some(v) = self.0.adopted_version_id else { return Ok(None) };
        Ok(loaders(ctx)?.policy_version.load_one(v).await?.map(|v| v.number))
    }
    /// Contributions (amendements, propositions, commentaires, questions) the reader may
    /// see, oldest first: the drafting team all; others those visible to the communes,
    /// their own and their commune's.
    async fn contributions(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> AppResult<KeyConn<Contribution>> {
        let rows = access::contributions_of(&state(ctx)?.db, actor(ctx)?, &self.0).await?;
        let items = rows
            .into_iter()
            .map(|c| (c.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true), c.id, Contribution(c)))
            .collect();
        keyset_page(ctx, &PageArgs { after, before, first, last }, "contributions", items, false)
    }
    /// Bilan de la concertation: the contributions (all, or those on version
    /// `versionNumber`) counted by kind, commune, territory and section, the answers and
    /// the acceptance rate, the communes that took part and those that never did, the time
    /// taken to answer. Seen by whoever sees the policy (counts, no contribution's text);
    /// also as CSV and as a printable page: `csvPath`, `htmlPath`.
    async fn synthesis(&self, ctx: &Context<'_>, version_number: Option<i32>) -> AppResult<PolicySynthesis> {
        Ok(PolicySynthesis(service::synthesis(&state(ctx)?.db, &self.0, version_number).await?, self.0.id))
    }
    /// How version `to` differs from version `from`, section by section (added, removed,
    /// moved, changed with a word-level diff); unchanged sections are left out.
    async fn compare(&self, ctx: &Context<'_>, from: i32, to: i32) -> AppResult<Vec<SectionDiff>> {
        let changes = service::compare_versions(&state(ctx)?.db, self.0.id, from, to).await?;
        Ok(changes.into_iter().map(SectionDiff).collect())
    }
}

/// Document of a policy (pièce du dossier: étude, annexe, rapport).
pub struct PolicyDocument(Granted<policy_document::Model>);

/// Document of a policy (pièce du dossier: étude, annexe, rapport).
#[Object]
impl PolicyDocument {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::PolicyDocument, self.0.id)
    }
    async fn filename(&self) -> &str {
        &self.0.filename
    }
    async fn media_type(&self) -> &str {
        &self.0.media_type
    }
    async fn size_bytes(&self) -> i64 {
        self.0.size_bytes
    }
    async fn sha256(&self) -> &str {
        &self.0.sha256
    }
    async fn uploaded_at(&self) -> DateTime<Utc> {
        self.0.uploaded_at
    }
    /// GET it with the bearer token.
    async fn download_path(&self) -> String {
        format!("/policy-documents/{}", ids::encode(Kind::PolicyDocument, self.0.id).0)
    }
}

/// Bilan de la concertation of a policy (or of one of its versions).
pub struct PolicySynthesis(super::synthesis::Synthesis, i32);

/// Contributions of one kind.
#[derive(SimpleObject)]
pub struct KindCount {
    kind: ContributionKind,
    count: usize,
}

/// Answers of one kind (réponses motivées).
#[derive(SimpleObject)]
pub struct AnswerCount {
    answer: AnswerKind,
    count: usize,
}

/// Bilan de la concertation of a policy (or of one of its versions).
#[Object]
impl PolicySynthesis {
    /// The version counted; none: every contribution to the policy.
    async fn version_number(&self) -> Option<i32> {
        self.0.version_number
    }
    async fn generated_at(&self) -> DateTime<Utc> {
        self.0.generated_at
    }
    async fn contributions(&self) -> usize {
        self.0.contributions
    }
    async fn by_kind(&self) -> Vec<KindCount> {
        self.0.by_kind.iter().map(|c| KindCount { kind: c.key, count: c.count }).collect()
    }
    /// Awaiting their answer.
    async fn open(&self) -> usize {
        self.0.open
    }
    async fn withdrawn(&self) -> usize {
        self.0.withdrawn
    }
    async fn answered(&self) -> usize {
        self.0.answered
    }
    async fn answers(&self) -> Vec<AnswerCount> {
        self.0.answers.iter().map(|c| AnswerCount { answer: c.key, count: c.count }).collect()
    }
    /// Taux d'acceptation: answered ACCEPTED or ACCEPTED_WITH_CHANGES over answered (0 to 1).
    async fn acceptance_rate(&self) -> Option<f64> {
        self.0.acceptance_rate
    }
    /// Member communes today.
    async fn members(&self) -> usize {
        self.0.members
    }
    /// Member communes that contributed or co-signed.
    async fn participating(&self) -> usize {
        self.0.participating
    }
    /// Every member commune, those that took part first (most contributions first).
    async fn by_commune(&self) -> &[super::synthesis::CommuneLine] {
        &self.0.by_commune
    }
    /// The member communes that never contributed nor co-signed.
    async fn silent_communes(&self) -> Vec<&super::synthesis::CommuneLine> {
        self.0.silent().collect()
    }
    async fn by_territory(&self) -> &[super::synthesis::TerritoryLine] {
        &self.0.by_territory
    }
    /// The sections that received contributions, in text order.
    async fn by_section(&self) -> &[super::synthesis::SectionLine] {
        &self.0.by_section
    }
    async fn answer_time(&self) -> Option<&super::synthesis::AnswerTime> {
        self.0.answer_time.as_ref()
    }
    /// The same as CSV (RFC 4180), with the bearer token: GET this path.
    async fn csv_path(&self) -> String {
        self.path("synthesis.csv")
    }
    /// The same as a printable HTML page (works offline), with the bearer token.
    async fn html_path(&self) -> String {
        self.path("synthesis.html")
    }
}

impl PolicySynthesis {
    fn path(&self, file: &str) -> String {
        let id = ids::encode(Kind::Policy, self.1);
        match self.0.version_number {
            Some(n) => format!("/policies/{}/{file}?version={n}", id.as_str()),
            None => format!("/policies/{}/{file}", id.as_str()),
        }
    }
}

/// Section (partie, article) of a policy's working text.
pub struct PolicySection {
    row: Granted<policy_section::Model>,
    label: String,
    depth: usize,
}

/// Section (partie, article) of a policy's working text.
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

/// Version publiée: the whole text frozen at publication, immutable.
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
        let rows = loaders(ctx)?.version_sections.load_one(self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(VersionSection).collect())
    }
}

/// A section as a version froze it.
pub struct VersionSection(policy_version_section::Model);

/// A section as a version froze it.
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
    /// The contributions behind this section's change in this version ("what became of
    /// my amendment", "why this sentence changed").
    async fn contribution_ids(&self, ctx: &Context<'_>) -> AppResult<Vec<ID>> {
        let rows = loaders(ctx)?.sources.load_one(self.0.version_id).await?.unwrap_or_default();
        Ok(rows
            .into_iter()
            .filter(|r| r.section_id == self.0.section_id)
            .map(|r| ids::encode(Kind::PolicyContribution, r.contribution_id))
            .collect())
    }
}

/// Contribution à la concertation: an amendment (amendement: a section's proposed new
/// text with its reasons), a proposal, a comment or a question, on a published version.
pub struct Contribution(Granted<policy_contribution::Model>);

/// Contribution à la concertation: an amendment (amendement: a section's proposed new
/// text with its reasons), a proposal, a comment or a question, on a published version.
#[Object]
impl Contribution {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::PolicyContribution, self.0.id)
    }
    async fn kind(&self) -> ContributionKind {
        self.0.kind
    }
    async fn status(&self) -> ContributionStatus {
        self.0.status
    }
    /// The number of the version it was made on.
    async fn version_number(&self, ctx: &Context<'_>) -> AppResult<i32> {
        let v = loaders(ctx)?
            .policy_version
            .load_one(self.0.version_id)
            .await?
            .ok_or_else(|| crate::error::AppError::internal("a contribution's version is missing"))?;
        Ok(v.number)
    }
    /// The section it is about (a PolicySection ID), if any.
    async fn section_id(&self) -> Option<ID> {
        self.0.section_id.map(|s| ids::encode(Kind::PolicySection, s))
    }
    /// The contribution a comment answers (fil de discussion).
    async fn parent_id(&self) -> Option<ID> {
        self.0.parent_id.map(|s| ids::encode(Kind::PolicyContribution, s))
    }
    /// The commune it speaks for (none: in its author's own name).
    async fn commune(&self, ctx: &Context<'_>) -> AppResult<Option<Commune>> {
        let Some(c) = self.0.commune_id else { return Ok(None) };
        Ok(loaders(ctx)?.commune.load_one(c).await?.map(Commune))
    }
    /// Who wrote it.
    async fn author(&self, ctx: &Context<'_>) -> AppResult<Option<Person>> {
        Ok(loaders(ctx)?.person.load_one(self.0.author_person_id).await?.map(Person))
    }
    /// Its text; for an amendment, its reasons (exposé des motifs).
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// An amendment's proposed text for the section.
    async fn proposed_text(&self) -> Option<&str> {
        self.0.proposed_text.as_deref()
    }
    async fn visibility(&self) -> ContributionVisibility {
        self.0.visibility
    }
    /// Réponse motivée of the drafting team.
    async fn answer(&self) -> Option<AnswerKind> {
        self.0.answer
    }
    async fn answer_reasons(&self) -> Option<&str> {
        self.0.answer_reasons.as_deref()
    }
    /// For a MERGED answer: the contribution it joined.
    async fn merged_into_id(&self) -> Option<ID> {
        self.0.merged_into_id.map(|c| ids::encode(Kind::PolicyContribution, c))
    }
    async fn answered_at(&self) -> Option<DateTime<Utc>> {
        self.0.answered_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Pass it back as `expectedVersion` to answer or withdraw.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The communes behind it: its author's (first) and those that co-signed, with their
    /// populations frozen at signing.
    async fn signatures(&self, ctx: &Context<'_>) -> AppResult<Vec<Signature>> {
        let rows = loaders(ctx)?.signatures.load_one(self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Signature).collect())
    }
    /// How many communes and inhabitants stand behind it.
    async fn support(&self, ctx: &Context<'_>) -> AppResult<Support> {
        let rows = loaders(ctx)?.signatures.load_one(self.0.id).await?.unwrap_or_default();
        Ok(Support { communes: rows.len() as i32, inhabitants: rows.iter().filter_map(|r| r.population).sum() })
    }
}

/// A commune's signature of a contribution (its author's, or a co-signature).
pub struct Signature(policy_cosignature::Model);

/// A commune's signature of a contribution (its author's, or a co-signature).
#[Object(name = "ContributionSignature")]
impl Signature {
    async fn commune(&self, ctx: &Context<'_>) -> AppResult<Option<Commune>> {
        Ok(loaders(ctx)?.commune.load_one(self.0.commune_id).await?.map(Commune))
    }
    /// Who signed for the commune.
    async fn person(&self, ctx: &Context<'_>) -> AppResult<Option<Person>> {
        Ok(loaders(ctx)?.person.load_one(self.0.person_id).await?.map(Person))
    }
    /// The author's own commune.
    async fn author(&self) -> bool {
        self.0.author
    }
    /// Population municipale, frozen at signing, with its year.
    async fn population(&self) -> Option<i64> {
        self.0.population
    }
    async fn population_year(&self) -> Option<i32> {
        self.0.population_year
    }
    async fn signed_at(&self) -> DateTime<Utc> {
        self.0.signed_at
    }
}

/// Who stands behind a contribution.
#[derive(SimpleObject)]
#[graphql(name = "ContributionSupport")]
pub struct Support {
    pub communes: i32,
    /// The sum of the signing communes' frozen populations.
    pub inhabitants: i64,
}

/// Étape du parcours d'approbation: a body's validation, opinion (avis), approval or the
/// council's adoption (délibération), bound to the version it judged.
pub struct PolicyStep(Granted<policy_step::Model>);

/// Étape du parcours d'approbation: a body's validation, opinion (avis), approval or the
/// council's adoption (délibération), bound to the version it judged.
#[Object]
impl PolicyStep {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::PolicyStep, self.0.id)
    }
    /// 0 first.
    async fn position(&self) -> i32 {
        self.0.position
    }
    async fn kind(&self) -> StepKind {
        self.0.kind
    }
    async fn label(&self) -> &str {
        &self.0.label
    }
    /// The body that judges (a Body ID), if it is one of the intercommunality's.
    async fn body_id(&self) -> Option<ID> {
        self.0.body_id.map(|b| ids::encode(Kind::Body, b))
    }
    /// The number of the version it judged, once recorded.
    async fn version_number(&self, ctx: &Context<'_>) -> AppResult<Option<i32>> {
        let Some(v) = self.0.version_id else { return Ok(None) };
        Ok(loaders(ctx)?.policy_version.load_one(v).await?.map(|v| v.number))
    }
    /// What the body said; none while the step is ahead.
    async fn outcome(&self) -> Option<StepOutcome> {
        self.0.outcome
    }
    async fn decided_on(&self) -> Option<chrono::NaiveDate> {
        self.0.decided_on
    }
    /// Numéro de la délibération.
    async fn deliberation_number(&self) -> Option<&str> {
        self.0.deliberation_number.as_deref()
    }
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    /// Pass it back as `expectedVersion` to record the step.
    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// Consultation on a version: a referral of the communes (saisine) or an OPINION agenda
/// item of the conference of mayors (avis). The referral and the item are read with
/// their own rights (`referral(id)`, `node(id)`); their state is summed up here.
pub struct PolicyConsultation(Granted<policy_consultation::Model>);

/// Consultation on a version: a referral of the communes (saisine) or an OPINION agenda
/// item of the conference of mayors (avis). The referral and the item are read with
/// their own rights (`referral(id)`, `node(id)`); their state is summed up here.
#[Object]
impl PolicyConsultation {
    /// The version consulted on.
    async fn version_number(&self, ctx: &Context<'_>) -> AppResult<Option<i32>> {
        Ok(loaders(ctx)?.policy_version.load_one(self.0.version_id).await?.map(|v| v.number))
    }
    async fn referral_id(&self) -> Option<ID> {
        self.0.referral_id.map(|r| ids::encode(Kind::Referral, r))
    }
    /// Where the referral stands (its outcome: `referral(id){outcome}`).
    async fn referral_status(&self, ctx: &Context<'_>) -> AppResult<Option<crate::referrals::rules::ReferralStatus>> {
        let Some(r) = self.0.referral_id else { return Ok(None) };
        Ok(crate::referrals::model::referral::Entity::find_by_id(r).one(&state(ctx)?.db).await?.map(|r| r.status))
    }
    async fn agenda_item_id(&self) -> Option<ID> {
        self.0.agenda_item_id.map(|i| ids::encode(Kind::AgendaItem, i))
    }
    /// The conference's vote on its opinion, once taken.
    async fn opinion_result(&self, ctx: &Context<'_>) -> AppResult<Option<crate::meetings::rules::VoteResult>> {
        let Some(i) = self.0.agenda_item_id else { return Ok(None) };
        let item = crate::meetings::model::agenda_item::Entity::find_by_id(i).one(&state(ctx)?.db).await?;
        Ok(item.and_then(|i| i.result))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// How one section differs between two versions.
pub struct SectionDiff(SectionChange);

/// How one section differs between two versions.
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
    /// Recherche plein texte: searches the intercommunality's policies (title, summary),
    /// their sections (the latest published version's; the working text for its drafting
    /// team) and contributions, within what the actor may see. Every word must match, as a
    /// prefix ("transport" finds "transports"); accents and case are ignored. Best first,
    /// at most `first` (1 to 100) hits.
    async fn search_policies(
        &self,
        ctx: &Context<'_>,
        intercommunality_id: ID,
        query: String,
        policy_id: Option<ID>,
        #[graphql(default = 20)] first: i32,
    ) -> AppResult<Vec<PolicySearchHit>> {
        let e = ids::decode("intercommunalityId", Kind::Intercommunality, &intercommunality_id)?;
        let only = policy_id.map(|p| ids::decode("policyId", Kind::Policy, &p)).transpose()?;
        let first = u64::try_from(first).unwrap_or(0);
        let db = &state(ctx)?.db;
        let hits = service::search::search(db, actor(ctx)?, e, &query, only, first).await?;
        let wanted: Vec<i32> =
            hits.iter().filter(|h| h.kind == SearchHitKind::Contribution).map(|h| h.entry.target_id).collect();
        let mut contributions: std::collections::HashMap<i32, policy_contribution::Model> =
            policy_contribution::Entity::find()
                .filter(policy_contribution::Column::Id.is_in(wanted))
                .all(db)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect();
        Ok(hits
            .into_iter()
            .map(|h| {
                let contribution = (h.kind == SearchHitKind::Contribution)
                    .then(|| contributions.remove(&h.entry.target_id))
                    .flatten()
                    .map(|c| Contribution(h.policy.vouch(c)));
                PolicySearchHit { hit: h, contribution }
            })
            .collect())
    }
}

/// Résultat de recherche: a policy, one of its sections or a contribution that matched.
pub struct PolicySearchHit {
    hit: service::search::Hit,
    contribution: Option<Contribution>,
}

/// Résultat de recherche: a policy, one of its sections or a contribution that matched.
#[Object]
impl PolicySearchHit {
    async fn kind(&self) -> SearchHitKind {
        self.hit.kind
    }
    async fn policy(&self) -> Policy {
        Policy(self.hit.policy.vouch((*self.hit.policy).clone()))
    }
    /// The section that matched (SECTION, VERSION_SECTION).
    async fn section_id(&self) -> Option<ID> {
        matches!(self.hit.kind, SearchHitKind::Section | SearchHitKind::VersionSection)
            .then(|| ids::encode(Kind::PolicySection, self.hit.entry.target_id))
    }
    /// The published version a VERSION_SECTION hit is in (the latest).
    async fn version_number(&self) -> Option<i32> {
        self.hit.version_number
    }
    /// The contribution that matched (CONTRIBUTION).
    async fn contribution(&self) -> Option<&Contribution> {
        self.contribution.as_ref()
    }
    /// The policy's or section's title; a contribution's kind, in French (Amendement...).
    async fn title(&self) -> &str {
        &self.hit.entry.title
    }
    /// About 200 characters of the text around the first word that matched.
    async fn excerpt(&self) -> &str {
        &self.hit.excerpt
    }
}

/// A new policy (nouvelle politique publique): its kind, title, lead official and drafting body.
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

/// Changes to a policy's description (fields left out are kept).
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

/// A new section of the working text (partie, article), under `parentId` or at the top.
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

/// An edit of a section of the working text (modification d'un article).
#[derive(InputObject)]
pub struct UpdatePolicySectionInput {
    pub id: ID,
    pub expected_version: i32,
    pub title: Option<String>,
    pub body: Option<String>,
    /// The contributions this edit takes up (listed behind the section in the next version).
    #[graphql(default)]
    pub contribution_ids: Vec<ID>,
}

/// A published version put to consultation (saisine des communes, avis de la conférence).
#[derive(InputObject)]
pub struct AddPolicyConsultationInput {
    pub policy_id: ID,
    /// The published version consulted on.
    pub version_number: i32,
    /// A referral (saisine) of the intercommunality...
    pub referral_id: Option<ID>,
    /// ...or an OPINION agenda item of one of its meetings.
    pub agenda_item_id: Option<ID>,
}

/// A step added to the approval path (étape du parcours d'approbation).
#[derive(InputObject)]
pub struct AddPolicyStepInput {
    pub policy_id: ID,
    pub kind: StepKind,
    /// E.g. "Avis de la conférence métropolitaine des maires".
    pub label: String,
    pub body_id: Option<ID>,
}

/// What a body said at a step (avis, approbation, délibération d'adoption).
#[derive(InputObject)]
pub struct RecordPolicyStepInput {
    pub id: ID,
    pub expected_version: i32,
    /// The published version the body judged.
    pub version_number: i32,
    pub outcome: StepOutcome,
    pub decided_on: chrono::NaiveDate,
    /// Required for an adoption.
    pub deliberation_number: Option<String>,
    pub note: Option<String>,
}

/// A contribution to the concertation (amendement, proposition, commentaire, question).
#[derive(InputObject)]
pub struct ContributeInput {
    pub policy_id: ID,
    pub kind: ContributionKind,
    /// For a commune (its mayor, a deputy mayor with a delegation, its DGS); none: in
    /// one's own name, as a member of the drafting body.
    pub commune_id: Option<ID>,
    /// The section of the latest version it is about; required for an amendment.
    pub section_id: Option<ID>,
    /// The contribution a comment answers.
    pub parent_id: Option<ID>,
    /// The text (at most 20 KB); for an amendment, its reasons.
    pub body: String,
    /// An amendment's proposed text for the section (at most 20 KB).
    pub proposed_text: Option<String>,
    /// When the policy allows both (default: COMMUNES).
    pub visibility: Option<ContributionVisibility>,
}

/// The drafting team's motivated answer to a contribution (réponse motivée).
#[derive(InputObject)]
pub struct AnswerContributionInput {
    pub id: ID,
    pub expected_version: i32,
    pub answer: AnswerKind,
    /// Required for REJECTED and OUT_OF_SCOPE.
    pub reasons: Option<String>,
    /// For MERGED: the contribution it joins.
    pub merged_into_id: Option<ID>,
    /// For an accepted amendment: the section's new text (default for ACCEPTED: the
    /// proposed text).
    pub section_text: Option<String>,
}

/// A section moved in the text's tree (déplacement d'un article).
#[derive(InputObject)]
pub struct MovePolicySectionInput {
    pub id: ID,
    pub expected_version: i32,
    pub parent_id: Option<ID>,
    pub position: i32,
}

/// A move along the policy's life (ouverture de la concertation, consultation, approbation...).
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
                contribution_ids: input
                    .contribution_ids
                    .iter()
                    .map(|c| ids::decode("contributionIds", Kind::PolicyContribution, c))
                    .collect::<AppResult<_>>()?,
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
    /// Attaches a document to a policy (étude, annexe, rapport): its drafting team, unless
    /// the policy was abandoned. Checked like every upload (size, name, media type).
    async fn upload_policy_document(
        &self,
        ctx: &Context<'_>,
        policy_id: ID,
        file: async_graphql::Upload,
    ) -> AppResult<PolicyDocument> {
        let id = ids::decode("policyId", Kind::Policy, &policy_id)?;
        let p = super::queries::policy_of(&state(ctx)?.db, id).await?;
        // Authorized before the upload is read.
        crate::graphql::support::allow(ctx, service::draft_action(&p)).await?;
        let file = crate::platform::documents::read_upload(ctx, file)?;
        Ok(PolicyDocument(service::upload_document(state(ctx)?, actor(ctx)?, id, file).await?))
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
    /// Contribue à la concertation (until it closes: DEADLINE_PASSED after), on the latest
    /// published version.
    async fn contribute_to_policy(&self, ctx: &Context<'_>, input: ContributeInput) -> AppResult<Contribution> {
        let c = service::contribute(
            state(ctx)?,
            actor(ctx)?,
            service::NewContribution {
                policy_id: ids::decode("policyId", Kind::Policy, &input.policy_id)?,
                kind: input.kind,
                commune_id: id_opt("communeId", Kind::Commune, &input.commune_id)?,
                section_id: id_opt("sectionId", Kind::PolicySection, &input.section_id)?,
                parent_id: id_opt("parentId", Kind::PolicyContribution, &input.parent_id)?,
                body: input.body,
                proposed_text: input.proposed_text,
                visibility: input.visibility,
            },
        )
        .await?;
        Ok(Contribution(c))
    }
    /// Co-signs an open contribution for another commune (co-signature).
    async fn cosign_contribution(&self, ctx: &Context<'_>, id: ID, commune_id: ID) -> AppResult<Contribution> {
        let id = ids::decode("id", Kind::PolicyContribution, &id)?;
        let commune = ids::decode("communeId", Kind::Commune, &commune_id)?;
        Ok(Contribution(service::cosign(state(ctx)?, actor(ctx)?, id, commune).await?))
    }
    /// Withdraws one's own contribution before it is answered.
    async fn withdraw_contribution(&self, ctx: &Context<'_>, id: ID, expected_version: i32) -> AppResult<Contribution> {
        let id = ids::decode("id", Kind::PolicyContribution, &id)?;
        Ok(Contribution(service::withdraw(state(ctx)?, actor(ctx)?, id, expected_version).await?))
    }
    /// Answers a contribution (réponse motivée, the drafting team); an accepted
    /// amendment is applied to the working text and traced to the next version.
    async fn answer_contribution(&self, ctx: &Context<'_>, input: AnswerContributionInput) -> AppResult<Contribution> {
        let c = service::answer(
            state(ctx)?,
            actor(ctx)?,
            service::Answer {
                id: ids::decode("id", Kind::PolicyContribution, &input.id)?,
                expected_version: input.expected_version,
                answer: input.answer,
                reasons: input.reasons,
                merged_into_id: id_opt("mergedIntoId", Kind::PolicyContribution, &input.merged_into_id)?,
                section_text: input.section_text,
            },
        )
        .await?;
        Ok(Contribution(c))
    }
    /// Puts a published version to consultation (the secretariat): a referral of the
    /// communes or an OPINION agenda item of the conference of mayors.
    async fn add_policy_consultation(
        &self,
        ctx: &Context<'_>,
        input: AddPolicyConsultationInput,
    ) -> AppResult<PolicyConsultation> {
        let c = service::add_consultation(
            state(ctx)?,
            actor(ctx)?,
            service::NewConsultation {
                policy_id: ids::decode("policyId", Kind::Policy, &input.policy_id)?,
                version_number: input.version_number,
                referral_id: id_opt("referralId", Kind::Referral, &input.referral_id)?,
                agenda_item_id: id_opt("agendaItemId", Kind::AgendaItem, &input.agenda_item_id)?,
            },
        )
        .await?;
        Ok(PolicyConsultation(c))
    }
    /// Adds a step at the end of the approval path (the secretariat).
    async fn add_policy_step(&self, ctx: &Context<'_>, input: AddPolicyStepInput) -> AppResult<PolicyStep> {
        let s = service::add_step(
            state(ctx)?,
            actor(ctx)?,
            service::NewStep {
                policy_id: ids::decode("policyId", Kind::Policy, &input.policy_id)?,
                kind: input.kind,
                label: input.label,
                body_id: id_opt("bodyId", Kind::Body, &input.body_id)?,
            },
        )
        .await?;
        Ok(PolicyStep(s))
    }
    /// Records what a body said at a step, in order, on a published version; the
    /// adoption, adopted, adopts the policy on that version (the secretariat).
    async fn record_policy_step(&self, ctx: &Context<'_>, input: RecordPolicyStepInput) -> AppResult<PolicyStep> {
        let s = service::record_step(
            state(ctx)?,
            actor(ctx)?,
            service::StepRecord {
                id: ids::decode("id", Kind::PolicyStep, &input.id)?,
                expected_version: input.expected_version,
                version_number: input.version_number,
                outcome: input.outcome,
                decided_on: input.decided_on,
                deliberation_number: input.deliberation_number,
                note: input.note,
            },
        )
        .await?;
        Ok(PolicyStep(s))
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

/// `node(id)` of a contribution: whoever sees it in its policy's list.
pub async fn contribution_node(ctx: &Context<'_>, id: i32) -> AppResult<Option<Contribution>> {
    let db = &state(ctx)?.db;
    let Some(c) = policy_contribution::Entity::find_by_id(id).one(db).await? else { return Ok(None) };
    let p = access::view(db, actor(ctx)?, c.policy_id).await?;
    let visible = access::contributions_of(db, actor(ctx)?, &p).await?;
    Ok(visible.into_iter().find(|x| x.id == id).map(Contribution))
}

/// `node(id)` of a step of an approval path: whoever sees its policy.
pub async fn document_node(ctx: &Context<'_>, id: i32) -> AppResult<Option<PolicyDocument>> {
    let db = &state(ctx)?.db;
    match service::document_for(db, actor(ctx)?, id).await {
        Ok(d) => Ok(Some(PolicyDocument(d))),
        // Null when the actor may not see its policy, as where it is listed.
        Err(crate::error::AppError::NotFound(_) | crate::error::AppError::Forbidden(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn step_node(ctx: &Context<'_>, id: i32) -> AppResult<Option<PolicyStep>> {
    let db = &state(ctx)?.db;
    let Some(s) = policy_step::Entity::find_by_id(id).one(db).await? else { return Ok(None) };
    let p = access::view(db, actor(ctx)?, s.policy_id).await?;
    Ok(Some(PolicyStep(access::policy_step(&p, s))))
}
