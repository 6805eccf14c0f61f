//! GraphQL types and resolvers of referrals (saisines). Resolvers stay short: they decode
//! IDs, call the service (which authorises) and wrap the rows.
use async_graphql::{Context, InputObject, Json, Object, SimpleObject, Upload, ID};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::form::{Field, FieldType};
use super::model::{
    referral, referral_addressee, referral_document, referral_form, response_revision, signature_delegation,
};
use super::rules::*;
use super::service::{self, View};
use crate::auth::policy::Action;
use crate::auth::Granted;
use crate::directory::graphql::{figure, Commune, Person, PopulationFigure};
use crate::error::{AppError, AppResult};
use crate::graphql::support::{actor, keyset_page, loaders, state, KeyConn, PageArgs};
use crate::ids::{self, Kind};
use crate::meetings::graphql::{id_of, Body, Meeting};
use crate::platform::documents::read_upload;

/// A referral (saisine): the métropole consults its communes for an opinion, or collects
/// data they hold, before a deadline.
///
/// Deadline convention: the clock starts on the day of the procedure's event
/// (`clockStartsOn`); the deadline is the same day number `durationMonths` later, clamped
/// to the last day of that month (31 January + 1 month = 28 or 29 February), at 23:59:59
/// Europe/Paris; `deadline` gives that instant in UTC. Procedures without a legal
/// duration set their last day (`deadlineDate`) instead.
pub struct Referral {
    /// Only the checks make one (`auth::granted`).
    r: Granted<referral::Model>,
    now: DateTime<Utc>,
}

impl Referral {
    pub fn new(r: Granted<referral::Model>) -> Self {
        Referral { r, now: Utc::now() }
    }
}

async fn view_of(ctx: &Context<'_>, r: &referral::Model) -> AppResult<View> {
    service::view(&state(ctx)?.db, actor(ctx)?, r).await
}

/// A referral (saisine): the métropole consults its communes for an opinion, or collects
/// data they hold, before a deadline.
///
/// Deadline convention: the clock starts on the day of the procedure's event
/// (`clockStartsOn`); the deadline is the same day number `durationMonths` later, clamped
/// to the last day of that month (31 January + 1 month = 28 or 29 February), at 23:59:59
/// Europe/Paris; `deadline` gives that instant in UTC. Procedures without a legal
/// duration set their last day (`deadlineDate`) instead.
#[Object]
impl Referral {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Referral, self.r.id)
    }
    async fn kind(&self) -> ReferralKind {
        self.r.procedure.kind()
    }
    async fn procedure(&self) -> Procedure {
        self.r.procedure
    }
    async fn title(&self) -> &str {
        &self.r.title
    }
    async fn description(&self) -> Option<&str> {
        self.r.description.as_deref()
    }
    /// The e-mails about this referral (opening, reminders, extensions), in the order
    /// they were queued, with where each stands (envois): for its secretariat (FORBIDDEN
    /// otherwise). `status`: only those.
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
            crate::auth::policy::Action::ManageReferrals { intercommunality: self.r.intercommunality_id },
            crate::platform::mail::graphql::About::Referral(self.r.id),
            status,
            crate::graphql::support::PageArgs { after, before, first, last },
        )
        .await
    }
    /// The legal basis (fondement juridique), by default the procedure's article.
    async fn legal_basis(&self) -> &str {
        &self.r.legal_basis
    }
    /// DRAFT, OPEN or CLOSED. An open referral whose deadline has passed reads CLOSED at
    /// once, before the background job records it.
    async fn status(&self) -> ReferralStatus {
        service::status_of(&self.r, self.now)
    }
    async fn addressee_mode(&self) -> AddresseeMode {
        self.r.addressee_mode
    }
    /// The event the procedure's clock starts from.
    async fn clock_start(&self) -> ClockStart {
        self.r.procedure.defaults().clock
    }
    /// The day of that event (Europe/Paris), set at opening.
    async fn clock_starts_on(&self) -> Option<NaiveDate> {
        self.r.clock_start_date
    }
    /// The legal duration in months (délai), when the procedure has one.
    async fn duration_months(&self) -> Option<i32> {
        self.r.duration_months
    }
    /// For procedures without a legal duration: the last day to answer (Europe/Paris).
    async fn deadline_date(&self) -> Option<NaiveDate> {
        self.r.deadline_date
    }
    /// The deadline (échéance): 23:59:59 Europe/Paris on its day, as a UTC instant.
    async fn deadline(&self) -> Option<DateTime<Utc>> {
        self.r.deadline
    }
    /// The deadline's day in Europe/Paris.
    async fn deadline_day(&self) -> Option<NaiveDate> {
        self.r.deadline.map(service::paris_day)
    }
    /// What silence at the deadline means (avis réputé favorable, or nothing).
    async fn silence(&self) -> Silence {
        self.r.silence
    }
    async fn decision(&self) -> Decision {
        self.r.decision
    }
    /// Whether the second branch of L5211-5 II reads "more than two thirds" (true) or
    /// "two thirds at least" (false, the default).
    async fn strict_second_branch(&self) -> bool {
        self.r.strict_second_branch
    }
    /// Responses stay with the secretariat, even after closing.
    async fn secretariat_only(&self) -> bool {
        self.r.secretariat_only
    }
    /// Days before the deadline when communes that have not answered are reminded.
    async fn reminder_days(&self) -> Vec<i32> {
        service::reminder_days(&self.r)
    }
    async fn opened_at(&self) -> Option<DateTime<Utc>> {
        self.r.opened_at
    }
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.r.closed_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.r.created_at
    }
    /// Optimistic concurrency: pass it back as `expectedVersion`.
    async fn version(&self) -> i32 {
        self.r.version
    }
    async fn body(&self, ctx: &Context<'_>) -> AppResult<Option<Body>> {
        match self.r.body_id {
            Some(b) => {
                Ok(loaders(ctx)?.body.load_one(b).await?.map(|b| Body::from(service::referral_body(&self.r, b))))
            }
            None => Ok(None),
        }
    }
    /// The meeting the referral is linked to, when the actor may see it (null otherwise).
    async fn meeting(&self, ctx: &Context<'_>) -> AppResult<Option<Meeting>> {
        let Some(m) = self.r.meeting_id else { return Ok(None) };
        match crate::meetings::graphql::visible_meeting(ctx, m).await {
            Ok(m) => Ok(Some(Meeting::from(m))),
            Err(AppError::Forbidden(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
    /// The referral's documents (the communes' attachments are on their responses).
    async fn documents(&self, ctx: &Context<'_>) -> AppResult<Vec<ReferralDocument>> {
        documents(ctx, self.r.id, None).await
    }
    /// The current form of a data collection.
    async fn form(&self, ctx: &Context<'_>) -> AppResult<Option<Form>> {
        let f = service::current_form(&state(ctx)?.db, self.r.id).await?;
        f.map(Form::of).transpose()
    }
    /// The responses the actor may see: their own commune's; the others' once the
    /// referral is closed (unless secretariat-only); all of them, live, for the
    /// secretariat. By commune name.
    #[allow(clippy::too_many_arguments)]
    async fn responses(
        &self,
        ctx: &Context<'_>,
        status: Option<ResponseStatus>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> AppResult<KeyConn<ReferralResponse>> {
        let v = view_of(ctx, &self.r).await?;
        let mut rows = Vec::new();
        for n in service::responses_named(&state(ctx)?.db, self.r.id, &v).await? {
            let s = service::response_status(&self.r, &n.a, self.now);
            if status.is_none_or(|x| x == s) {
                // By commune name, then INSEE code: NUL sorts before any character of a
                // name, so the joined key orders as the pair does.
                let key = format!("{}\u{0}{}", n.name, n.insee_code);
                let id = n.a.id;
                rows.push((key, id, ReferralResponse::new(v.response(n.a)?, s, &v)));
            }
        }
        keyset_page(ctx, &PageArgs { after, before, first, last }, "Referral.responses", rows, false)
    }
    /// One commune's response, for those who may see it.
    async fn response(&self, ctx: &Context<'_>, commune_id: ID) -> AppResult<ReferralResponse> {
        let c = id_of("communeId", Kind::Commune, &commune_id)?;
        let v = view_of(ctx, &self.r).await?;
        if !v.sees(c) {
            return Err(AppError::forbidden("you may not see this commune's response"));
        }
        let a = service::addressee_of(&state(ctx)?.db, self.r.id, c).await?;
        let status = service::response_status(&self.r, &a, self.now);
        Ok(ReferralResponse::new(v.response(a)?, status, &v))
    }
    /// Counts by opinion (communes and shares of the frozen population), the qualified
    /// majority where the procedure needs one, and what follows. Live for the secretariat;
    /// for the addressees once the referral is closed (unless secretariat-only).
    async fn outcome(&self, ctx: &Context<'_>) -> AppResult<OutcomeView> {
        let v = view_of(ctx, &self.r).await?;
        if !v.sees_all() {
            return Err(AppError::forbidden("the outcome is published when the referral closes"));
        }
        Ok(OutcomeView(service::outcome_of(&state(ctx)?.db, &self.r, self.now).await?))
    }
    /// Follow-up for the secretariat: response rate, the communes still to answer, and a
    /// breakdown by territory (by département for a national consultation).
    async fn progress(&self, ctx: &Context<'_>) -> AppResult<ProgressView> {
        if !view_of(ctx, &self.r).await?.officer {
            return Err(AppError::forbidden("the follow-up is the secretariat's"));
        }
        Ok(ProgressView(service::progress(&state(ctx)?.db, &self.r).await?))
    }
    /// A data collection's answers as a dataset, one row per commune (submitted answers),
    /// sortable by a field (`perInhabitant`: by its value per inhabitant), with totals.
    async fn dataset(
        &self,
        ctx: &Context<'_>,
        sort_by: Option<String>,
        descending: Option<bool>,
        per_inhabitant: Option<bool>,
    ) -> AppResult<DatasetView> {
        let v = view_of(ctx, &self.r).await?;
        let sort = service::SortBy {
            field: sort_by.as_deref(),
            descending: descending.unwrap_or(false),
            per_inhabitant: per_inhabitant.unwrap_or(false),
        };
        Ok(DatasetView(service::dataset(&state(ctx)?.db, &self.r, &v, sort).await?))
    }
    /// GET this path (with the bearer token) for the responses as CSV (RFC 4180, UTF-8).
    async fn responses_csv_path(&self) -> String {
        format!("/referrals/{}/responses.csv", ids::encode(Kind::Referral, self.r.id).0)
    }
    /// GET this path (with the bearer token) for a data collection's dataset as CSV.
    async fn dataset_csv_path(&self) -> String {
        format!("/referrals/{}/dataset.csv", ids::encode(Kind::Referral, self.r.id).0)
    }
}

/// A commune's response by its id, for those who may see it (`Referral.response`).
pub async fn response_node(ctx: &Context<'_>, id: i32) -> AppResult<Option<ReferralResponse>> {
    let db = &state(ctx)?.db;
    let Some(a) = referral_addressee::Entity::find_by_id(id).one(db).await? else { return Ok(None) };
    let (r, _) = service::visible(db, actor(ctx)?, a.referral_id).await?;
    let v = view_of(ctx, &r).await?;
    if !v.sees(a.commune_id) {
        return Err(AppError::forbidden("you may not see this commune's response"));
    }
    let status = service::response_status(&r, &a, Utc::now());
    Ok(Some(ReferralResponse::new(v.response(a)?, status, &v)))
}

/// A referral document by its id, if the actor sees it where it is listed
/// (`Referral.documents`, or `ReferralResponse.files` for a commune's attachment); null
/// otherwise, as for a document that does not exist.
pub async fn document_node(ctx: &Context<'_>, id: i32) -> AppResult<Option<ReferralDocument>> {
    match service::document_for(&state(ctx)?.db, actor(ctx)?, id).await {
        Ok(d) => Ok(Some(doc(d.into_inner()))),
        Err(AppError::Forbidden(_) | AppError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A signature delegation by its id, if the actor sees it in its commune's list
/// (`signatureDelegations`); null otherwise.
pub async fn signature_delegation_node(ctx: &Context<'_>, id: i32) -> AppResult<Option<SignatureDelegation>> {
    Ok(service::delegation_for(&state(ctx)?.db, actor(ctx)?, id).await?.map(SignatureDelegation))
}

async fn documents(ctx: &Context<'_>, referral: i32, commune: Option<i32>) -> AppResult<Vec<ReferralDocument>> {
    use referral_document::Column as C;
    let mut q = referral_document::Entity::find()
        .select_only()
        .columns([
            C::Id,
            C::ReferralId,
            C::CommuneId,
            C::Filename,
            C::MediaType,
            C::SizeBytes,
            C::Sha256,
            C::UploadedAt,
        ])
        .filter(C::ReferralId.eq(referral));
    q = match commune {
        Some(c) => q.filter(C::CommuneId.eq(c)),
        None => q.filter(C::CommuneId.is_null()),
    };
    let rows: Vec<DocRow> = q.order_by_asc(C::Id).into_tuple().all(&state(ctx)?.db).await?;
    Ok(rows.into_iter().map(ReferralDocument).collect())
}

type DocRow = (i32, i32, Option<i32>, String, String, i64, String, DateTime<Utc>);

/// A document of a referral, or a file a commune attached to its answer. Download it with
/// GET `/referral-documents/{id}` and the bearer token.
pub struct ReferralDocument(DocRow);

/// A document of a referral, or a file a commune attached to its answer. Download it with
/// GET `/referral-documents/{id}` and the bearer token.
#[Object]
impl ReferralDocument {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::ReferralDocument, self.0 .0)
    }
    async fn filename(&self) -> &str {
        &self.0 .3
    }
    async fn media_type(&self) -> &str {
        &self.0 .4
    }
    async fn size_bytes(&self) -> i64 {
        self.0 .5
    }
    async fn sha256(&self) -> &str {
        &self.0 .6
    }
    async fn uploaded_at(&self) -> DateTime<Utc> {
        self.0 .7
    }
    async fn download_path(&self) -> String {
        format!("/referral-documents/{}", ids::encode(Kind::ReferralDocument, self.0 .0).0)
    }
}

/// The form of a data collection (formulaire de recensement), at a version.
#[derive(SimpleObject)]
pub struct Form {
    version: i32,
    fields: Vec<FormField>,
}

impl Form {
    fn of(f: referral_form::Model) -> AppResult<Self> {
        let fields = super::form::parse_fields(f.fields.as_ref()).map_err(AppError::internal)?;
        Ok(Form { version: f.form_version, fields: fields.into_iter().map(FormField).collect() })
    }
}

pub struct FormField(Field);

#[Object]
impl FormField {
    /// The field's key: answers are an object of key -> value.
    async fn key(&self) -> &str {
        &self.0.key
    }
    async fn label(&self) -> &str {
        &self.0.label
    }
    #[graphql(name = "type")]
    async fn kind(&self) -> FieldType {
        self.0.field_type()
    }
    async fn required(&self) -> bool {
        self.0.required
    }
    /// Lower bound: the value (numbers), the length (text) or how many choices.
    async fn min(&self) -> Option<f64> {
        self.0.min
    }
    async fn max(&self) -> Option<f64> {
        self.0.max
    }
    /// The unit of a decimal (km, €, m²...).
    async fn unit(&self) -> Option<&str> {
        self.0.unit.as_deref()
    }
    async fn choices(&self) -> &[String] {
        &self.0.choices
    }
}

/// A commune's response to a referral (réponse / avis de la commune), with its frozen
/// population. Its content (opinion, reasons, deliberation, answers, files) is shown to
/// the commune itself, and to others once submitted: a draft is the commune's own work
/// until its mayor signs it.
pub struct ReferralResponse {
    /// Redacted as its reader may read it; only the checks make one (`auth::granted`).
    a: Granted<referral_addressee::Model>,
    status: ResponseStatus,
    /// The actor acts for this commune: drafts and their revisions included.
    own: bool,
    /// Its content is shown (`View::shows_content`).
    full: bool,
}

impl ReferralResponse {
    /// `a` as `View::response` gave it.
    fn new(a: Granted<referral_addressee::Model>, status: ResponseStatus, view: &View) -> Self {
        let full = view.shows_content(a.commune_id, a.status);
        let own = view.own.contains(&a.commune_id);
        ReferralResponse { a, status, own, full }
    }
}

/// A commune's response to a referral (réponse / avis de la commune), with its frozen
/// population. Its content (opinion, reasons, deliberation, answers, files) is shown to
/// the commune itself, and to others once submitted: a draft is the commune's own work
/// until its mayor signs it.
#[Object]
impl ReferralResponse {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::ReferralResponse, self.a.id)
    }
    async fn commune(&self, ctx: &Context<'_>) -> AppResult<Commune> {
        loaders(ctx)?
            .commune
            .load_one(self.a.commune_id)
            .await?
            .map(Commune)
            .ok_or_else(|| AppError::not_found("commune"))
    }
    /// The population frozen at opening (figure, year, source): the weight of this
    /// commune in the outcome.
    async fn population(&self) -> Option<PopulationFigure> {
        figure(self.a.population.map(|p| p as i32), self.a.population_year, &self.a.population_source)
    }
    /// After the deadline an unsubmitted response reads DEEMED_FAVOURABLE or NO_RESPONSE,
    /// whether or not the background job has recorded it.
    async fn status(&self) -> ResponseStatus {
        self.status
    }
    async fn opinion(&self) -> Option<Opinion> {
        self.a.opinion
    }
    /// Motifs (required with reservations or an unfavourable opinion).
    async fn reasons(&self) -> Option<&str> {
        self.a.reasons.as_deref()
    }
    /// Number of the municipal council's deliberation (délibération), where the procedure
    /// is answered by one.
    async fn deliberation_number(&self) -> Option<&str> {
        self.a.deliberation_number.as_deref()
    }
    async fn deliberation_date(&self) -> Option<NaiveDate> {
        self.a.deliberation_date
    }
    /// A data collection's answers: field key -> value.
    async fn answers(&self) -> Option<Json<serde_json::Value>> {
        self.a.answers.clone().map(Json)
    }
    /// The form version the answers were given against.
    async fn form_version(&self) -> Option<i32> {
        self.a.form_version
    }
    async fn submitted_at(&self) -> Option<DateTime<Utc>> {
        self.a.submitted_at
    }
    async fn submitted_by(&self, ctx: &Context<'_>) -> AppResult<Option<Person>> {
        match self.a.submitted_by_person_id {
            Some(p) => Ok(loaders(ctx)?.person.load_one(p).await?.map(Person)),
            None => Ok(None),
        }
    }
    async fn saved_at(&self) -> Option<DateTime<Utc>> {
        self.a.saved_at
    }
    /// Optimistic concurrency: pass it back as `expectedVersion` when saving.
    async fn version(&self) -> i32 {
        self.a.version
    }
    /// Every saved state, oldest first: drafts and submissions for the commune itself,
    /// the submissions for others.
    async fn revisions(&self, ctx: &Context<'_>) -> AppResult<Vec<ResponseRevision>> {
        let all = service::revisions(&state(ctx)?.db, self.a.id).await?;
        Ok(all
            .into_iter()
            .filter(|r| self.own || r.status == ResponseStatus::Submitted)
            .map(ResponseRevision)
            .collect())
    }
    /// Files the commune attached.
    async fn files(&self, ctx: &Context<'_>) -> AppResult<Vec<ReferralDocument>> {
        if !self.full {
            return Ok(Vec::new());
        }
        documents(ctx, self.a.referral_id, Some(self.a.commune_id)).await
    }
}

pub struct ResponseRevision(response_revision::Model);

#[Object]
impl ResponseRevision {
    async fn revision(&self) -> i32 {
        self.0.revision
    }
    async fn status(&self) -> Option<ResponseStatus> {
        Some(self.0.status)
    }
    async fn opinion(&self) -> Option<Opinion> {
        self.0.opinion
    }
    async fn reasons(&self) -> Option<&str> {
        self.0.reasons.as_deref()
    }
    async fn deliberation_number(&self) -> Option<&str> {
        self.0.deliberation_number.as_deref()
    }
    async fn deliberation_date(&self) -> Option<NaiveDate> {
        self.0.deliberation_date
    }
    async fn answers(&self) -> Option<Json<serde_json::Value>> {
        self.0.answers.clone().map(Json)
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    async fn by(&self, ctx: &Context<'_>) -> AppResult<Option<Person>> {
        match self.0.person_id {
            Some(p) => Ok(loaders(ctx)?.person.load_one(p).await?.map(Person)),
            None => Ok(None),
        }
    }
}

/// The outcome of a referral (résultat de la consultation).
pub struct OutcomeView(Outcome);

/// The outcome of a referral (résultat de la consultation).
#[Object]
impl OutcomeView {
    /// Whether the deadline has passed: before, the figures are provisional.
    #[graphql(name = "final")]
    async fn final_(&self) -> bool {
        self.0.final_
    }
    async fn communes(&self) -> i64 {
        self.0.communes
    }
    /// Total frozen population of the addressees.
    async fn population(&self) -> i64 {
        self.0.population
    }
    /// Every position, zeros included.
    async fn counts(&self) -> Vec<PositionCountView> {
        self.0.counts.iter().map(|c| PositionCountView(c.clone(), self.0.population, self.0.communes)).collect()
    }
    /// The L5211-5 II computation, for procedures decided by qualified majority.
    async fn qualified_majority(&self) -> Option<QualifiedMajorityView> {
        self.0.qualified.clone().map(QualifiedMajorityView)
    }
    async fn verdict(&self) -> Verdict {
        self.0.verdict
    }
    /// What follows, in words.
    async fn message(&self) -> &str {
        &self.0.message
    }
}

pub struct PositionCountView(PositionCount, i64, i64);

#[Object]
impl PositionCountView {
    async fn position(&self) -> Position {
        self.0.position
    }
    async fn communes(&self) -> i64 {
        self.0.communes
    }
    async fn population(&self) -> i64 {
        self.0.population
    }
    /// Share of the addressees (0 to 1).
    async fn commune_share(&self) -> f64 {
        if self.2 == 0 {
            0.0
        } else {
            self.0.communes as f64 / self.2 as f64
        }
    }
    /// Share of the frozen population (0 to 1).
    async fn population_share(&self) -> f64 {
        if self.1 == 0 {
            0.0
        } else {
            self.0.population as f64 / self.1 as f64
        }
    }
}

/// Majorité qualifiée (CGCT L5211-5 II): two thirds of the councils with more than half
/// of the population, or half of the councils with two thirds of the population.
/// Favourable councils: favourable, with reservations, or deemed favourable.
pub struct QualifiedMajorityView(QualifiedOutcome);

/// Majorité qualifiée (CGCT L5211-5 II): two thirds of the councils with more than half
/// of the population, or half of the councils with two thirds of the population.
/// Favourable councils: favourable, with reservations, or deemed favourable.
#[Object]
impl QualifiedMajorityView {
    async fn reached(&self) -> bool {
        self.0.reached
    }
    /// The first branch that holds, if any.
    async fn branch(&self) -> Option<Branch> {
        self.0.branch
    }
    async fn councils(&self) -> i64 {
        self.0.councils
    }
    async fn favourable_councils(&self) -> i64 {
        self.0.favourable_councils
    }
    async fn population(&self) -> i64 {
        self.0.population
    }
    async fn favourable_population(&self) -> i64 {
        self.0.favourable_population
    }
    /// The most populous commune holds more than a quarter of the population and is
    /// not favourable (L5211-17, L5211-20): the majority fails whatever the branches.
    async fn most_populous_refused(&self) -> bool {
        self.0.most_populous_refused
    }
}

pub struct ProgressView(service::Progress);

#[Object]
impl ProgressView {
    async fn addressees(&self) -> i64 {
        self.0.addressees
    }
    async fn submitted(&self) -> i64 {
        self.0.submitted
    }
    /// Communes with a draft not yet submitted.
    async fn drafts(&self) -> i64 {
        self.0.drafts
    }
    /// Submitted / addressees (0 to 1).
    async fn response_rate(&self) -> f64 {
        if self.0.addressees == 0 {
            0.0
        } else {
            self.0.submitted as f64 / self.0.addressees as f64
        }
    }
    /// The communes that have not submitted (first 500 by id).
    async fn pending(&self, ctx: &Context<'_>) -> AppResult<Vec<Commune>> {
        let ids: Vec<i32> = self.0.pending.iter().copied().take(500).collect();
        let found = loaders(ctx)?.commune.load_many(ids.iter().copied()).await?;
        Ok(ids.iter().filter_map(|i| found.get(i).cloned().map(Commune)).collect())
    }
    /// By territory (conseil de territoire) or, nationally, by département.
    async fn by_group(&self) -> Vec<GroupProgressView> {
        self.0
            .groups
            .iter()
            .map(|g| GroupProgressView { name: g.name.clone(), addressees: g.addressees, submitted: g.submitted })
            .collect()
    }
}

#[derive(SimpleObject)]
pub struct GroupProgressView {
    name: String,
    addressees: i64,
    submitted: i64,
}

/// A consolidated dataset (one row per commune) of a data collection.
pub struct DatasetView(service::Dataset);

/// A consolidated dataset (one row per commune) of a data collection.
#[Object]
impl DatasetView {
    async fn form_version(&self) -> Option<i32> {
        self.0.form_version
    }
    async fn fields(&self) -> Vec<FormField> {
        self.0.fields.iter().cloned().map(FormField).collect()
    }
    async fn rows(&self) -> Vec<DatasetRow> {
        self.0
            .rows
            .iter()
            .map(|r| DatasetRow {
                commune_id: ids::encode(Kind::Commune, r.commune_id),
                name: r.name.clone(),
                insee_code: r.insee_code.clone(),
                population: r.population,
                answered: r.answers.is_some(),
                values: self
                    .0
                    .fields
                    .iter()
                    .map(|f| DatasetValue {
                        key: f.key.clone(),
                        value: r.answers.as_ref().and_then(|a| a.get(&f.key)).cloned().map(Json),
                        per_inhabitant: super::form::per_inhabitant(r, &f.key),
                    })
                    .collect(),
            })
            .collect()
    }
    /// Totals of the numeric fields over the communes that answered them.
    async fn totals(&self) -> Vec<FieldTotal> {
        self.0
            .totals
            .iter()
            .map(|t| FieldTotal {
                key: t.key.clone(),
                sum: t.sum,
                answered: t.answered,
                population: t.population,
                per_inhabitant: t.per_inhabitant,
            })
            .collect()
    }
}

#[derive(SimpleObject)]
pub struct DatasetRow {
    commune_id: ID,
    name: String,
    insee_code: String,
    /// Frozen at opening.
    population: Option<i64>,
    /// Whether the commune submitted its answers.
    answered: bool,
    values: Vec<DatasetValue>,
}

#[derive(SimpleObject)]
pub struct DatasetValue {
    key: String,
    value: Option<Json<serde_json::Value>>,
    /// For numbers: the value divided by the commune's frozen population.
    per_inhabitant: Option<f64>,
}

#[derive(SimpleObject)]
pub struct FieldTotal {
    key: String,
    sum: f64,
    /// Communes that answered the field.
    answered: i64,
    /// Their frozen population.
    population: i64,
    /// sum / population.
    per_inhabitant: Option<f64>,
}

/// A délégation de signature: the mayor lets someone serving the commune submit its
/// referral responses. It ends with the mayor's mandate, or when revoked.
pub struct SignatureDelegation(signature_delegation::Model);

/// A délégation de signature: the mayor lets someone serving the commune submit its
/// referral responses. It ends with the mayor's mandate, or when revoked.
#[Object]
impl SignatureDelegation {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::SignatureDelegation, self.0.id)
    }
    async fn commune(&self, ctx: &Context<'_>) -> AppResult<Option<Commune>> {
        Ok(loaders(ctx)?.commune.load_one(self.0.commune_id).await?.map(Commune))
    }
    async fn person(&self, ctx: &Context<'_>) -> AppResult<Option<Person>> {
        Ok(loaders(ctx)?.person.load_one(self.0.person_id).await?.map(Person))
    }
    async fn start_date(&self) -> NaiveDate {
        self.0.start_date
    }
    /// Exclusive: from this day the delegation no longer runs.
    async fn end_date(&self) -> Option<NaiveDate> {
        self.0.end_date
    }
}

/// An open referral with its response rate (in the progress report).
#[derive(SimpleObject)]
pub struct ReferralProgress {
    referral: Referral,
    addressees: i64,
    submitted: i64,
    /// Submitted / addressees (0 to 1).
    response_rate: f64,
}

/// The open referrals of intercommunality `e` (deadline not passed), soonest deadline
/// first, with their counts: two statements whatever their number.
pub async fn open_referrals(
    ctx: &Context<'_>,
    officer: &Granted<crate::meetings::service::Officer>,
) -> AppResult<Vec<ReferralProgress>> {
    let e = officer.intercommunality;
    use sea_orm::sea_query::{Expr, ExprTrait};
    let db = &state(ctx)?.db;
    let now = Utc::now();
    let open: Vec<referral::Model> = referral::Entity::find()
        .filter(referral::Column::IntercommunalityId.eq(e))
        .filter(referral::Column::Status.eq(ReferralStatus::Open))
        .order_by_asc(referral::Column::Deadline)
        .all(db)
        .await?
        .into_iter()
        .filter(|r| !service::deadline_passed(r, now))
        .collect();
    let counts: Vec<(i32, ResponseStatus, i64)> = referral_addressee::Entity::find()
        .select_only()
        .column(referral_addressee::Column::ReferralId)
        .column(referral_addressee::Column::Status)
        .column_as(Expr::col(referral_addressee::Column::Id).count(), "n")
        .filter(referral_addressee::Column::ReferralId.is_in(open.iter().map(|r| r.id)))
        .group_by(referral_addressee::Column::ReferralId)
        .group_by(referral_addressee::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    Ok(open
        .into_iter()
        .map(|r| {
            let of = |submitted_only: bool| -> i64 {
                counts
                    .iter()
                    .filter(|(id, s, _)| *id == r.id && (!submitted_only || *s == ResponseStatus::Submitted))
                    .map(|c| c.2)
                    .sum()
            };
            let (addressees, submitted) = (of(false), of(true));
            let response_rate = if addressees == 0 { 0.0 } else { submitted as f64 / addressees as f64 };
            ReferralProgress {
                referral: Referral::new(service::officer_referral(officer, r)),
                addressees,
                submitted,
                response_rate,
            }
        })
        .collect())
}

// ---- queries ---------------------------------------------------------------------------

#[derive(Default)]
pub struct ReferralsQuery;

#[Object]
impl ReferralsQuery {
    /// One referral, for the secretariat, the president, or those acting for an addressee.
    async fn referral(&self, ctx: &Context<'_>, id: ID) -> AppResult<Referral> {
        let id = id_of("id", Kind::Referral, &id)?;
        crate::cache::Reads::referral(ctx, &state(ctx)?.db, id).await?;
        let (r, _) = service::visible(&state(ctx)?.db, actor(ctx)?, id).await?;
        Ok(Referral::new(r))
    }
    /// The referrals the actor follows, newest first: an intercommunality's
    /// (its secretariat, by default its own, and its president), every one for an
    /// administrator without `intercommunalityId`, or those addressed to the communes the
    /// actor acts for.
    async fn referrals(
        &self,
        ctx: &Context<'_>,
        intercommunality_id: Option<ID>,
        status: Option<ReferralStatus>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> AppResult<crate::graphql::support::KeyConn<Referral>> {
        crate::graphql::support::allow(ctx, Action::Read).await?;
        let db = &state(ctx)?.db;
        let actor = actor(ctx)?;
        // A secretariat follows its own intercommunality's by default.
        let scope = match (intercommunality_id, &actor.principal) {
            (Some(e), _) => Some(id_of("intercommunalityId", Kind::Intercommunality, &e)?),
            (None, Some(p)) if p.role == crate::auth::PlatformRole::Secretariat => p.secretariat_of,
            (None, _) => None,
        };
        let rows = service::followed(db, actor, scope).await?;
        let now = Utc::now();
        let mut out = Vec::new();
        for r in rows {
            if status.is_none_or(|s| service::status_of(&r, now) == s) {
                out.push((String::new(), r.id, Referral::new(r)));
            }
        }
        // Newest first, every one (no silent cut at 500): paged by keyset cursors.
        let args = crate::graphql::support::PageArgs { after, before, first, last };
        crate::graphql::support::keyset_page(ctx, &args, "referrals", out, true)
    }
    /// The signature delegations of a commune: its mayor and the secretariat of its
    /// intercommunality see them all, a delegate their own.
    async fn signature_delegations(&self, ctx: &Context<'_>, commune_id: ID) -> AppResult<Vec<SignatureDelegation>> {
        let c = id_of("communeId", Kind::Commune, &commune_id)?;
        let rows = service::delegations_of(&state(ctx)?.db, actor(ctx)?, c).await?;
        Ok(rows.into_iter().map(SignatureDelegation).collect())
    }
}

// ---- mutations -------------------------------------------------------------------------

/// A referral's settings. Procedures with a legal duration take no `deadlineDate`; a free
/// consultation must say what `silence` means.
#[derive(InputObject)]
pub struct ReferralInput {
    title: String,
    description: Option<String>,
    /// Defaults to the procedure's article.
    legal_basis: Option<String>,
    body_id: Option<ID>,
    meeting_id: Option<ID>,
    /// Default: ALL_MEMBERS (ALL_COMMUNES for a national consultation, SINGLE_COMMUNE for L5211-57).
    addressee_mode: Option<AddresseeMode>,
    /// The chosen communes (SUBSET) or the one commune (SINGLE_COMMUNE).
    #[graphql(default)]
    communes: Vec<ID>,
    /// Free consultation and data collection: the last day to answer (Europe/Paris);
    /// the deadline is 23:59:59 that day.
    deadline_date: Option<NaiveDate>,
    silence: Option<Silence>,
    /// A free consultation may be decided by QUALIFIED_MAJORITY; others keep their rule.
    decision: Option<Decision>,
    #[graphql(default)]
    strict_second_branch: bool,
    #[graphql(default)]
    secretariat_only: bool,
    /// Default: 15, 7 and 1 days before the deadline.
    reminder_days: Option<Vec<i32>>,
}

impl ReferralInput {
    fn into_fields(self) -> AppResult<service::ReferralFields> {
        let opt = |f: &str, k: Kind, v: &Option<ID>| v.as_ref().map(|v| id_of(f, k, v)).transpose();
        Ok(service::ReferralFields {
            body_id: opt("bodyId", Kind::Body, &self.body_id)?,
            meeting_id: opt("meetingId", Kind::Meeting, &self.meeting_id)?,
            communes: self.communes.iter().map(|c| id_of("communes", Kind::Commune, c)).collect::<AppResult<_>>()?,
            title: self.title,
            description: self.description,
            legal_basis: self.legal_basis,
            addressee_mode: self.addressee_mode,
            deadline_date: self.deadline_date,
            silence: self.silence,
            decision: self.decision,
            strict_second_branch: self.strict_second_branch,
            secretariat_only: self.secretariat_only,
            reminder_days: self.reminder_days,
        })
    }
}

#[derive(InputObject)]
pub struct FormFieldInput {
    /// snake_case, unique in the form.
    key: String,
    label: String,
    #[graphql(name = "type")]
    kind: FieldType,
    #[graphql(default)]
    required: bool,
    min: Option<f64>,
    max: Option<f64>,
    unit: Option<String>,
    #[graphql(default)]
    choices: Vec<String>,
}

/// A commune's response. Opinion referrals: `opinion` (required to submit), `reasons`
/// (required with reservations or an unfavourable opinion), and for the legal procedures
/// the council deliberation's number and date. Data collections: `answers`, an object of
/// field key -> value (text, number, true/false, "YYYY-MM-DD", a choice, a list of
/// choices, or a document ID from `uploadResponseFile`).
#[derive(InputObject)]
pub struct ResponseInput {
    referral_id: ID,
    commune_id: ID,
    expected_version: i32,
    opinion: Option<Opinion>,
    reasons: Option<String>,
    deliberation_number: Option<String>,
    deliberation_date: Option<NaiveDate>,
    answers: Option<Json<serde_json::Value>>,
}

#[derive(Default)]
pub struct ReferralsMutation;

async fn save(ctx: &Context<'_>, input: ResponseInput, submit: bool) -> AppResult<ReferralResponse> {
    let referral = id_of("referralId", Kind::Referral, &input.referral_id)?;
    let commune = id_of("communeId", Kind::Commune, &input.commune_id)?;
    let fields = service::ResponseInput {
        opinion: input.opinion,
        reasons: input.reasons,
        deliberation_number: input.deliberation_number,
        deliberation_date: input.deliberation_date,
        answers: input.answers.map(|j| j.0),
    };
    let st = state(ctx)?;
    let a = service::save_response(st, actor(ctx)?, referral, commune, input.expected_version, fields, submit).await?;
    let r = service::referral_of(&st.db, referral).await?;
    let status = service::response_status(&r, &a, Utc::now());
    Ok(ReferralResponse { a, status, own: true, full: true })
}

#[Object]
impl ReferralsMutation {
    /// Prepares a referral (DRAFT) with its procedure's defaults (secretariat; a national
    /// consultation, without `intercommunalityId`, is for administrators).
    async fn create_referral(
        &self,
        ctx: &Context<'_>,
        intercommunality_id: Option<ID>,
        procedure: Procedure,
        input: ReferralInput,
    ) -> AppResult<Referral> {
        let e =
            intercommunality_id.as_ref().map(|e| id_of("intercommunalityId", Kind::Intercommunality, e)).transpose()?;
        let r = service::create_referral(state(ctx)?, actor(ctx)?, e, procedure, input.into_fields()?).await?;
        Ok(Referral::new(r))
    }
    /// Edits a draft referral.
    async fn update_referral(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        input: ReferralInput,
    ) -> AppResult<Referral> {
        let id = id_of("id", Kind::Referral, &id)?;
        let r = service::update_referral(state(ctx)?, actor(ctx)?, id, expected_version, input.into_fields()?).await?;
        Ok(Referral::new(r))
    }
    /// Sets the form of a data collection: a new version each time (until it closes).
    async fn set_referral_form(&self, ctx: &Context<'_>, id: ID, fields: Vec<FormFieldInput>) -> AppResult<Form> {
        let id = id_of("id", Kind::Referral, &id)?;
        let fields: Vec<Field> = fields
            .into_iter()
            .map(|f| Field {
                key: f.key,
                label: f.label,
                kind: f.kind.as_str().into(),
                required: f.required,
                min: f.min,
                max: f.max,
                unit: f.unit,
                choices: f.choices,
            })
            .collect();
        let f = service::set_form(state(ctx)?, actor(ctx)?, id, fields).await?;
        Form::of(f)
    }
    /// Attaches a document to the referral (GraphQL multipart request; secretariat).
    async fn upload_referral_document(
        &self,
        ctx: &Context<'_>,
        referral_id: ID,
        file: Upload,
    ) -> AppResult<ReferralDocument> {
        let id = id_of("referralId", Kind::Referral, &referral_id)?;
        let r = service::referral_of(&state(ctx)?.db, id).await?;
        crate::graphql::support::allow(
            ctx,
            crate::auth::policy::Action::ManageReferrals { intercommunality: r.intercommunality_id },
        )
        .await?;
        let file = read_upload(ctx, file)?;
        let d = service::upload_document(state(ctx)?, actor(ctx)?, id, None, file).await?;
        Ok(doc(d))
    }
    /// Attaches a file to a commune's answer (for a FILE field), by someone acting for it.
    async fn upload_response_file(
        &self,
        ctx: &Context<'_>,
        referral_id: ID,
        commune_id: ID,
        file: Upload,
    ) -> AppResult<ReferralDocument> {
        let id = id_of("referralId", Kind::Referral, &referral_id)?;
        let c = id_of("communeId", Kind::Commune, &commune_id)?;
        crate::graphql::support::allow(ctx, Action::DraftResponse { commune: c }).await?;
        let file = read_upload(ctx, file)?;
        let d = service::upload_document(state(ctx)?, actor(ctx)?, id, Some(c), file).await?;
        Ok(doc(d))
    }
    /// Opens the referral: freezes the addressees and their populations, sets the
    /// deadline from `clockStartsOn` (default today), tells each commune's mayor and DGS.
    async fn open_referral(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        clock_starts_on: Option<NaiveDate>,
    ) -> AppResult<Referral> {
        let id = id_of("id", Kind::Referral, &id)?;
        Ok(Referral::new(service::open(state(ctx)?, actor(ctx)?, id, expected_version, clock_starts_on).await?))
    }
    /// Moves the deadline later, to 23:59:59 Europe/Paris on `deadlineDate`; the
    /// addressees are told.
    async fn extend_referral_deadline(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        deadline_date: NaiveDate,
        reason: String,
    ) -> AppResult<Referral> {
        let id = id_of("id", Kind::Referral, &id)?;
        Ok(Referral::new(
            service::extend_deadline(state(ctx)?, actor(ctx)?, id, expected_version, deadline_date, &reason).await?,
        ))
    }
    /// Saves a commune's response as a draft (mayor, deputy mayor with a delegation, DGS).
    async fn save_response_draft(&self, ctx: &Context<'_>, input: ResponseInput) -> AppResult<ReferralResponse> {
        save(ctx, input, false).await
    }
    /// Submits (or amends, until the deadline) a commune's response: the mayor or a holder
    /// of their signature delegation. Every submission is kept as a revision.
    async fn submit_response(&self, ctx: &Context<'_>, input: ResponseInput) -> AppResult<ReferralResponse> {
        save(ctx, input, true).await
    }
    /// The mayor delegates their signature for referral responses (délégation de signature).
    async fn grant_signature_delegation(
        &self,
        ctx: &Context<'_>,
        commune_id: ID,
        person_id: ID,
    ) -> AppResult<SignatureDelegation> {
        let c = id_of("communeId", Kind::Commune, &commune_id)?;
        let p = id_of("personId", Kind::Person, &person_id)?;
        Ok(SignatureDelegation(service::grant_signature(state(ctx)?, actor(ctx)?, c, p).await?))
    }
    /// Ends a signature delegation today.
    async fn revoke_signature_delegation(&self, ctx: &Context<'_>, id: ID) -> AppResult<SignatureDelegation> {
        let id = id_of("id", Kind::SignatureDelegation, &id)?;
        Ok(SignatureDelegation(service::revoke_signature(state(ctx)?, actor(ctx)?, id).await?))
    }
}

fn doc(d: referral_document::Model) -> ReferralDocument {
    ReferralDocument((
        d.id,
        d.referral_id,
        d.commune_id,
        d.filename,
        d.media_type,
        d.size_bytes,
        d.sha256,
        d.uploaded_at,
    ))
}
