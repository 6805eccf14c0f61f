//! GraphQL types and resolvers of bodies and meetings. Resolvers stay short: they decode
//! IDs, call the service (which authorises) and wrap the rows.
use std::collections::HashMap;

use async_graphql::{Context, InputObject, Object, SimpleObject, Upload, ID};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Europe::Paris;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::model::{
    agenda_item, ballot, body, body_seat, convocation, document, meeting, meeting_request, proxy,
    superseded_convocation,
};
use super::rules::*;
use super::service::{self, Member, Publication, Vacancy};
use crate::auth::policy::Action;
use crate::auth::Granted;
use crate::directory::graphql::{Commune, Intercommunality, Mandate, Person};
use crate::error::{AppError, AppResult};
use crate::graphql::support::{actor, allow, keyset_page, loaders, state, KeyConn, PageArgs};
use crate::ids::{self, Kind};
use crate::platform::documents::read_upload;

async fn person(ctx: &Context<'_>, id: i32) -> AppResult<Person> {
    loaders(ctx)?.person.load_one(id).await?.map(Person).ok_or_else(|| AppError::not_found("person"))
}
async fn commune(ctx: &Context<'_>, id: Option<i32>) -> AppResult<Option<Commune>> {
    match id {
        Some(c) => Ok(loaders(ctx)?.commune.load_one(c).await?.map(Commune)),
        None => Ok(None),
    }
}
fn paris_text(t: DateTime<Utc>) -> String {
    t.with_timezone(&Paris).to_rfc3339()
}

/// A body's rules (règlement intérieur), each defaulting to the law for its kind.
#[derive(SimpleObject)]
pub struct RuleProfileView {
    /// Notice in clear days (jours francs): neither the day of sending nor the day of the
    /// meeting counts; latest sending date = meeting date − (N + 1) days, Europe/Paris.
    notice_clear_days: i32,
    /// Minimum notice when urgency is declared (1 clear day in the CGCT).
    urgency_clear_days: i32,
    /// Whether each agenda item needs an explanatory note (note explicative de synthèse).
    note_required: bool,
    quorum_rule: QuorumRule,
    /// Whether members may give a proxy (pouvoir).
    proxies_allowed: bool,
    /// Proxies one member may hold at a meeting.
    proxies_per_holder: i32,
    /// Consecutive meetings a proxy may cover at most.
    proxy_max_meetings: i32,
    /// Second convocation when quorum failed (L2121-17): its meeting is held at least this
    /// many days after the first, with as many clear days of notice; it needs no quorum.
    second_convocation_days: i32,
    /// The legal source of these rules.
    legal_source: String,
}

/// An instance of an intercommunality: the conference of mayors (conférence métropolitaine
/// des maires), a working group (groupe de travail), the DGS committee (comité des DGS),
/// the CLECT, a commission or the council.
/// Holds a `Granted` row: only the checks make one (`auth::granted`).
pub struct Body(pub(crate) Granted<body::Model>);

impl From<Granted<body::Model>> for Body {
    fn from(b: Granted<body::Model>) -> Self {
        Body(b)
    }
}

/// An instance of an intercommunality: the conference of mayors (conférence métropolitaine
/// des maires), a working group (groupe de travail), the DGS committee (comité des DGS),
/// the CLECT, a commission or the council.
/// Holds a `Granted` row: only the checks make one (`auth::granted`).
#[Object]
impl Body {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Body, self.0.id)
    }
    async fn kind(&self) -> BodyKind {
        self.0.kind
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Theme of a working group.
    async fn theme(&self) -> Option<&str> {
        self.0.theme.as_deref()
    }
    async fn intercommunality(&self, ctx: &Context<'_>) -> AppResult<Option<Intercommunality>> {
        Ok(loaders(ctx)?.intercommunality.load_one(self.0.intercommunality_id).await?.map(Intercommunality))
    }
    async fn rules(&self) -> AppResult<RuleProfileView> {
        let p = service::profile_of(&self.0);
        Ok(RuleProfileView {
            notice_clear_days: p.notice_clear_days,
            urgency_clear_days: p.urgency_clear_days,
            note_required: p.note_required,
            quorum_rule: p.quorum_rule,
            proxies_allowed: p.proxies_allowed,
            proxies_per_holder: p.proxies_per_holder,
            proxy_max_meetings: p.proxy_max_meetings,
            second_convocation_days: p.second_convocation_days,
            legal_source: p.legal_source,
        })
    }
    /// Members on `on` (default today, Europe/Paris). The conference's and the DGS
    /// committee's seats follow mandates: a new mayor takes the seat the day they take office.
    async fn members(&self, ctx: &Context<'_>, on: Option<NaiveDate>) -> AppResult<Vec<BodyMember>> {
        self.see(ctx).await?;
        let day = on.unwrap_or(loaders(ctx)?.today);
        Ok(service::members(&state(ctx)?.db, &self.0, day).await?.into_iter().map(BodyMember).collect())
    }
    /// Seats left vacant by ended mandates (a commune without mayor, a designation whose
    /// councillor or designating mayor left office).
    async fn vacant_seats(&self, ctx: &Context<'_>, on: Option<NaiveDate>) -> AppResult<Vec<VacantSeat>> {
        self.see(ctx).await?;
        let day = on.unwrap_or(loaders(ctx)?.today);
        Ok(service::seats(&state(ctx)?.db, &self.0, day).await?.1.into_iter().map(VacantSeat).collect())
    }
    /// Meetings, by start; drafts only for those who prepare them.
    async fn meetings(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> AppResult<KeyConn<Meeting>> {
        let seen = service::body_meetings(&state(ctx)?.db, actor(ctx)?, &self.0).await?;
        let all = loaders(ctx)?.body_meetings.load_one(self.0.id).await?.unwrap_or_default();
        meeting_page(ctx, &PageArgs { after, before, first, last }, "Body.meetings", seen.filter(all))
    }
    /// Working-group rotation: the suggested next host among the members' communes (one
    /// that never hosted first, by name; then the one that hosted longest ago).
    async fn suggested_host(&self, ctx: &Context<'_>) -> AppResult<Option<Commune>> {
        self.see(ctx).await?;
        let (_, _, s) = service::rotation(&state(ctx)?.db, &self.0).await?;
        commune(ctx, s).await
    }
    /// Each candidate commune with its last hosting (null: never hosted).
    async fn host_history(&self, ctx: &Context<'_>) -> AppResult<Vec<Hosting>> {
        self.see(ctx).await?;
        let (candidates, hosted, _) = service::rotation(&state(ctx)?.db, &self.0).await?;
        Ok(candidates.into_iter().map(|(c, _)| Hosting { commune_id: c, last: hosted.get(&c).copied() }).collect())
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

impl Body {
    async fn see(&self, ctx: &Context<'_>) -> AppResult<()> {
        see_body(ctx, &self.0).await
    }
}

async fn see_body(ctx: &Context<'_>, b: &body::Model) -> AppResult<()> {
    allow(ctx, Action::SeeBody { body: b.id, intercommunality: b.intercommunality_id }).await
}

pub struct Hosting {
    commune_id: i32,
    last: Option<DateTime<Utc>>,
}

#[Object]
impl Hosting {
    async fn commune(&self, ctx: &Context<'_>) -> AppResult<Option<Commune>> {
        commune(ctx, Some(self.commune_id)).await
    }
    /// Start of the last meeting it hosted (null: never).
    async fn last_hosted_at(&self) -> Option<DateTime<Utc>> {
        self.last
    }
}

/// A seat held on a given day.
pub struct BodyMember(Member);

/// A seat held on a given day.
#[Object]
impl BodyMember {
    async fn role(&self) -> SeatRole {
        self.0.role
    }
    async fn person(&self, ctx: &Context<'_>) -> AppResult<Person> {
        person(ctx, self.0.person_id).await
    }
    /// The commune the member sits for (mayors, councillors, DGS).
    async fn commune(&self, ctx: &Context<'_>) -> AppResult<Option<Commune>> {
        commune(ctx, self.0.commune_id).await
    }
    /// The mandate that gives the seat.
    async fn mandate(&self, ctx: &Context<'_>) -> AppResult<Option<Mandate>> {
        Ok(loaders(ctx)?.mandate.load_one(self.0.mandate_id).await?.map(Mandate::of))
    }
    /// The stored designation (null for seats that follow mandates).
    async fn seat_id(&self) -> Option<ID> {
        self.0.seat_id.map(|s| ids::encode(Kind::BodySeat, s))
    }
}

pub struct VacantSeat(Vacancy);

#[Object]
impl VacantSeat {
    async fn role(&self) -> SeatRole {
        self.0.role
    }
    async fn commune(&self, ctx: &Context<'_>) -> AppResult<Option<Commune>> {
        commune(ctx, self.0.commune_id).await
    }
    /// The last holder, if known.
    async fn last_holder(&self, ctx: &Context<'_>) -> AppResult<Option<Person>> {
        match self.0.person_id {
            Some(p) => Ok(Some(person(ctx, p).await?)),
            None => Ok(None),
        }
    }
    /// The day the seat became vacant, if known.
    async fn since(&self) -> Option<NaiveDate> {
        self.0.since
    }
    async fn seat_id(&self) -> Option<ID> {
        self.0.seat_id.map(|s| ids::encode(Kind::BodySeat, s))
    }
}

/// A designation to a body (désignation), ending with its mandate or with the
/// designating mayor's mandate.
pub struct BodySeat(body_seat::Model);

/// A designation to a body (désignation), ending with its mandate or with the
/// designating mayor's mandate.
#[Object]
impl BodySeat {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::BodySeat, self.0.id)
    }
    async fn role(&self) -> SeatRole {
        self.0.role
    }
    async fn person(&self, ctx: &Context<'_>) -> AppResult<Person> {
        person(ctx, self.0.person_id).await
    }
    async fn start_date(&self) -> NaiveDate {
        self.0.start_date
    }
    async fn end_date(&self) -> Option<NaiveDate> {
        self.0.end_date
    }
    /// Designated by this mayor's mandate (null when the secretariat appointed).
    async fn designated_by(&self, ctx: &Context<'_>) -> AppResult<Option<Mandate>> {
        match self.0.designated_by_mandate_id {
            Some(m) => Ok(loaders(ctx)?.mandate.load_one(m).await?.map(Mandate::of)),
            None => Ok(None),
        }
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// A meeting (séance plénière of the conference, réunion of a working group or
/// committee). Times are stored in UTC; `startsAtParis` gives the Paris wall time.
/// Holds a `Granted` row: only the checks make one (`auth::granted`).
pub struct Meeting(Granted<meeting::Model>);

impl From<Granted<meeting::Model>> for Meeting {
    fn from(m: Granted<meeting::Model>) -> Self {
        Meeting(m)
    }
}

/// A meeting (séance plénière of the conference, réunion of a working group or
/// committee). Times are stored in UTC; `startsAtParis` gives the Paris wall time.
/// Holds a `Granted` row: only the checks make one (`auth::granted`).
#[Object]
impl Meeting {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Meeting, self.0.id)
    }
    async fn body(&self, ctx: &Context<'_>) -> AppResult<Body> {
        let b = loaders(ctx)?.body.load_one(self.0.body_id).await?.ok_or_else(|| AppError::not_found("body"))?;
        Ok(Body(service::meeting_body(&self.0, b)))
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn status(&self) -> MeetingStatus {
        self.0.status
    }
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }
    async fn ends_at(&self) -> DateTime<Utc> {
        self.0.ends_at
    }
    /// Start in Europe/Paris, RFC 3339 with its offset (+01:00 or +02:00).
    async fn starts_at_paris(&self) -> String {
        paris_text(self.0.starts_at)
    }
    async fn ends_at_paris(&self) -> String {
        paris_text(self.0.ends_at)
    }
    async fn venue(&self) -> Option<&str> {
        self.0.venue.as_deref()
    }
    /// Commune accueillante.
    async fn host_commune(&self, ctx: &Context<'_>) -> AppResult<Option<Commune>> {
        commune(ctx, self.0.host_commune_id).await
    }
    async fn online_url(&self) -> Option<&str> {
        self.0.online_url.as_deref()
    }
    /// The urgency declared at convening, with its reason (the assembly rules on it at the opening).
    async fn urgency_reason(&self) -> Option<&str> {
        self.0.urgency_reason.as_deref()
    }
    /// When the convocations were sent.
    async fn convened_at(&self) -> Option<DateTime<Utc>> {
        self.0.convened_at
    }
    /// Latest legal sending date of the convocation for the body's notice (Europe/Paris).
    async fn latest_convocation_date(&self, ctx: &Context<'_>) -> AppResult<NaiveDate> {
        let b = loaders(ctx)?.body.load_one(self.0.body_id).await?.ok_or_else(|| AppError::not_found("body"))?;
        let days = if self.0.first_convocation_id.is_some() { b.second_convocation_days } else { b.notice_clear_days };
        Ok(latest_sending_day(paris_day(self.0.starts_at), days))
    }
    /// For a second convocation: the meeting where quorum failed.
    async fn first_convocation(&self, ctx: &Context<'_>) -> AppResult<Option<Meeting>> {
        match self.0.first_convocation_id {
            Some(id) => Ok(Some(Meeting(visible_meeting(ctx, id).await?))),
            None => Ok(None),
        }
    }
    /// Ordre du jour, in order.
    async fn agenda(&self, ctx: &Context<'_>) -> AppResult<Vec<AgendaItem>> {
        let rows = loaders(ctx)?.agenda.load_one(self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(|i| AgendaItem(service::meeting_agenda_item(&self.0, i))).collect())
    }
    /// Documents of the meeting (of its items too), without their content: download each
    /// at `downloadPath` with the same bearer token.
    async fn documents(&self, ctx: &Context<'_>) -> AppResult<Vec<Document>> {
        Ok(documents(ctx, self.0.id, None)
            .await?
            .into_iter()
            .map(|d| Document(service::meeting_document(&self.0, d)))
            .collect())
    }
    /// When the secretariat was alerted that electronic convocations were not accepted by
    /// the SMTP server by the end of the latest legal sending day (null: no alert); the
    /// convocations' `sending` says which.
    async fn convocations_alerted_at(&self) -> Option<DateTime<Utc>> {
        self.0.convocations_alerted_at
    }
    /// The e-mails about this meeting (convocations, changes, documents added, adopted
    /// opinions), in the order they were queued, with where each stands (envois): for its
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
        let b = loaders(ctx)?.body.load_one(self.0.body_id).await?.ok_or_else(|| AppError::not_found("body"))?;
        crate::platform::mail::graphql::deliveries_field(
            ctx,
            Action::ManageMeetings { intercommunality: b.intercommunality_id },
            crate::platform::mail::graphql::About::Meeting(self.0.id),
            status,
            PageArgs { after, before, first, last },
        )
        .await
    }
    /// The convocations sent, with their sending time (legal proof) and read acknowledgement.
    async fn convocations(&self, ctx: &Context<'_>) -> AppResult<Vec<Convocation>> {
        let rows = loaders(ctx)?.convocations.load_one(self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Convocation).collect())
    }
    /// The convocations the secretariat prints and posts: on paper at the member's
    /// request, electronic without an address, or whose e-mail was refused for good
    /// (`sending` PAPER, NO_ADDRESS, FAILED). For its secretariat (FORBIDDEN otherwise);
    /// never cached.
    async fn convocations_to_print(&self, ctx: &Context<'_>) -> AppResult<Vec<Convocation>> {
        let l = loaders(ctx)?;
        let b = l.body.load_one(self.0.body_id).await?.ok_or_else(|| AppError::not_found("body"))?;
        allow(ctx, Action::ManageMeetings { intercommunality: b.intercommunality_id }).await?;
        let rows = l.convocations.load_one(self.0.id).await?.unwrap_or_default();
        let mut out = Vec::new();
        for c in rows {
            let d = convocation_delivery(ctx, c.delivery_id).await?;
            if matches!(
                sending(c.channel, d.as_ref()),
                ConvocationSending::Paper | ConvocationSending::NoAddress | ConvocationSending::Failed
            ) {
                out.push(Convocation(c));
            }
        }
        Ok(out)
    }
    /// Convocations of earlier convenings of this meeting (before a postponement), kept
    /// when it was convened again: their sending and reading times remain the legal
    /// proof. Oldest first.
    async fn superseded_convocations(&self, ctx: &Context<'_>) -> AppResult<Vec<SupersededConvocation>> {
        let rows = loaders(ctx)?.superseded.load_one(self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(SupersededConvocation).collect())
    }
    /// One row per convened member: their seat and recorded attendance (null status: not
    /// recorded yet).
    async fn attendance(&self, ctx: &Context<'_>) -> AppResult<Vec<AttendanceRow>> {
        let l = loaders(ctx)?;
        let conv = l.convocations.load_one(self.0.id).await?.unwrap_or_default();
        let mut att: HashMap<i32, super::model::attendance::Model> =
            l.attendance.load_one(self.0.id).await?.unwrap_or_default().into_iter().map(|a| (a.person_id, a)).collect();
        let proxies: HashMap<i32, proxy::Model> = l
            .proxies
            .load_one(self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.giver_person_id, p))
            .collect();
        Ok(conv
            .into_iter()
            .map(|c| {
                let a = att.remove(&c.person_id);
                let holder = a
                    .as_ref()
                    .filter(|a| a.status == AttendanceStatus::Represented)
                    .and_then(|_| proxies.get(&c.person_id).map(|p| p.holder_person_id));
                AttendanceRow { convocation: c, attendance: a, holder }
            })
            .collect())
    }
    /// Proxies valid at this meeting.
    async fn proxies(&self, ctx: &Context<'_>) -> AppResult<Vec<Proxy>> {
        Ok(loaders(ctx)?.proxies.load_one(self.0.id).await?.unwrap_or_default().into_iter().map(Proxy).collect())
    }
    /// Procès-verbal.
    async fn minutes(&self) -> Minutes {
        Minutes((*self.0).clone())
    }
    /// When the list of decisions and opinions was published (due within one week).
    async fn decisions_published_at(&self) -> Option<DateTime<Utc>> {
        self.0.decisions_published_at
    }
    /// iCalendar SEQUENCE: incremented by every change members were told of.
    async fn sequence(&self) -> i32 {
        self.0.sequence
    }
    /// Path of this meeting's .ics (GET with the bearer token).
    async fn ics_path(&self) -> String {
        format!("/meetings/{}/calendar.ics", ids::encode(Kind::Meeting, self.0.id).as_str())
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

pub struct Minutes(meeting::Model);

#[Object]
impl Minutes {
    async fn status(&self) -> MinutesStatus {
        self.0.minutes_status
    }
    async fn text(&self) -> Option<&str> {
        self.0.minutes_text.as_deref()
    }
    /// Date of the meeting whose MINUTES_APPROVAL item approved them.
    async fn approved_on(&self) -> Option<NaiveDate> {
        self.0.minutes_approved_on
    }
    async fn published_at(&self) -> Option<DateTime<Utc>> {
        self.0.minutes_published_at
    }
}

/// Document metadata (the content is downloaded over HTTP).
#[derive(sea_orm::FromQueryResult, Clone)]
pub struct DocumentMeta {
    id: i32,
    pub meeting_id: i32,
    agenda_item_id: Option<i32>,
    filename: String,
    media_type: String,
    size_bytes: i64,
    sha256: String,
    uploaded_at: DateTime<Utc>,
    after_convocation: bool,
}

/// Holds a `Granted` row: only the checks make one (`auth::granted`).
pub struct Document(Granted<DocumentMeta>);

/// Metadata of the documents of these meetings (never their content), in upload order.
pub async fn document_metas(db: &sea_orm::DatabaseConnection, meetings: &[i32]) -> AppResult<Vec<DocumentMeta>> {
    use document::Column as C;
    Ok(document::Entity::find()
        .select_only()
        .columns([
            C::Id,
            C::MeetingId,
            C::AgendaItemId,
            C::Filename,
            C::MediaType,
            C::SizeBytes,
            C::Sha256,
            C::UploadedAt,
            C::AfterConvocation,
        ])
        .filter(C::MeetingId.is_in(meetings.iter().copied()))
        .order_by_asc(C::Id)
        .into_model::<DocumentMeta>()
        .all(db)
        .await?)
}

/// The documents of a meeting, or of one of its items (the caller grants them).
async fn documents(ctx: &Context<'_>, meeting_id: i32, item: Option<i32>) -> AppResult<Vec<DocumentMeta>> {
    let all = loaders(ctx)?.documents.load_one(meeting_id).await?.unwrap_or_default();
    Ok(all.into_iter().filter(|d| item.is_none() || d.agenda_item_id == item).collect())
}

/// Holds a `Granted` row: only the checks make one (`auth::granted`).
#[Object]
impl Document {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Document, self.0.id)
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
    /// SHA-256 of the content, hex.
    async fn sha256(&self) -> &str {
        &self.0.sha256
    }
    async fn uploaded_at(&self) -> DateTime<Utc> {
        self.0.uploaded_at
    }
    /// Added after the convocations were sent (members were told, timestamped).
    async fn added_after_convocation(&self) -> bool {
        self.0.after_convocation
    }
    async fn agenda_item_id(&self) -> Option<ID> {
        self.0.agenda_item_id.map(|i| ids::encode(Kind::AgendaItem, i))
    }
    /// GET this path with the bearer token to download the content.
    async fn download_path(&self) -> String {
        format!("/documents/{}", ids::encode(Kind::Document, self.0.id).as_str())
    }
}

/// A convocation sent to one member.
pub struct Convocation(convocation::Model);

/// A convocation sent to one member.
#[Object]
impl Convocation {
    async fn person(&self, ctx: &Context<'_>) -> AppResult<Person> {
        person(ctx, self.0.person_id).await
    }
    async fn seat(&self) -> SeatRole {
        self.0.seat
    }
    async fn commune(&self, ctx: &Context<'_>) -> AppResult<Option<Commune>> {
        commune(ctx, self.0.commune_id).await
    }
    /// The legal sending time (date d'envoi): for an electronic convocation, the time
    /// the SMTP server accepted its e-mail (null while it is not accepted); on paper, the
    /// time of convening. Not cached: sending sets it without a mutation.
    async fn sent_at(&self, ctx: &Context<'_>) -> AppResult<Option<DateTime<Utc>>> {
        legal_sent_at(ctx, self.0.channel, self.0.sent_at, self.0.delivery_id).await
    }
    /// The time of convening, against which the notice was checked.
    async fn convened_at(&self) -> DateTime<Utc> {
        self.0.sent_at
    }
    /// ELECTRONIC (the default, L2121-10) or PAPER (for a member who asked).
    async fn channel(&self) -> &str {
        self.0.channel.as_str()
    }
    /// Where the convocation's sending stands: PAPER and NO_ADDRESS are to print and
    /// post; QUEUED, SENDING, SENT, FAILED follow its e-mail.
    async fn sending(&self, ctx: &Context<'_>) -> AppResult<ConvocationSending> {
        Ok(sending(self.0.channel, convocation_delivery(ctx, self.0.delivery_id).await?.as_ref()))
    }
    /// Read acknowledgement (accusé de lecture).
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }
}

/// A convocation's legal sending time: its e-mail's acceptance, or on paper the time of
/// convening (`convened`).
async fn legal_sent_at(
    ctx: &Context<'_>,
    channel: ConvocationChannel,
    convened: DateTime<Utc>,
    delivery: Option<i32>,
) -> AppResult<Option<DateTime<Utc>>> {
    Ok(match channel {
        ConvocationChannel::Paper => Some(convened),
        ConvocationChannel::Electronic => convocation_delivery(ctx, delivery).await?.and_then(|d| d.accepted_at),
    })
}

/// A convocation's e-mail (None: on paper, or no address); marks the answer uncacheable.
async fn convocation_delivery(
    ctx: &Context<'_>,
    id: Option<i32>,
) -> AppResult<Option<crate::platform::mail::model::delivery::Model>> {
    crate::cache::DoNotCache::mark(ctx);
    match id {
        Some(d) => loaders(ctx)?.delivery.load_one(d).await,
        None => Ok(None),
    }
}

fn sending(
    channel: ConvocationChannel,
    d: Option<&crate::platform::mail::model::delivery::Model>,
) -> ConvocationSending {
    use crate::platform::mail::model::DeliveryStatus as S;
    match (channel, d.map(|d| d.status)) {
        (ConvocationChannel::Paper, _) => ConvocationSending::Paper,
        (_, None) => ConvocationSending::NoAddress,
        (_, Some(S::Queued)) => ConvocationSending::Queued,
        (_, Some(S::Sending)) => ConvocationSending::Sending,
        (_, Some(S::Sent)) => ConvocationSending::Sent,
        (_, Some(S::Failed)) => ConvocationSending::Failed,
    }
}

str_enum!(
    /// Where a convocation's sending stands.
    ConvocationSending {
        /// On paper, at the member's request: to print and post.
        Paper = "PAPER",
        /// Electronic, but the member has no e-mail address: to print and post.
        NoAddress = "NO_ADDRESS",
        /// Its e-mail waits to be sent (or sent again after a temporary refusal).
        Queued = "QUEUED",
        /// Its e-mail is being sent.
        Sending = "SENDING",
        /// Accepted by the SMTP server: `sentAt` is its legal sending time.
        Sent = "SENT",
        /// Refused for good: see the meeting's `deliveries`; to print and post.
        Failed = "FAILED",
    }
);

/// A convocation replaced when the meeting was convened again (convocation remplacée).
pub struct SupersededConvocation(superseded_convocation::Model);

/// A convocation replaced when the meeting was convened again (convocation remplacée).
#[Object]
impl SupersededConvocation {
    async fn person(&self, ctx: &Context<'_>) -> AppResult<Person> {
        person(ctx, self.0.person_id).await
    }
    async fn seat(&self) -> SeatRole {
        self.0.seat
    }
    async fn commune(&self, ctx: &Context<'_>) -> AppResult<Option<Commune>> {
        commune(ctx, self.0.commune_id).await
    }
    /// The legal sending time of that convening's convocation, as for `Convocation`:
    /// the SMTP server's acceptance of its e-mail, or the time of convening on paper.
    async fn sent_at(&self, ctx: &Context<'_>) -> AppResult<Option<DateTime<Utc>>> {
        legal_sent_at(ctx, self.0.channel, self.0.sent_at, self.0.delivery_id).await
    }
    /// The time of that convening.
    async fn convened_at(&self) -> DateTime<Utc> {
        self.0.sent_at
    }
    /// Where its sending stood (PAPER, NO_ADDRESS, or its e-mail's status).
    async fn sending(&self, ctx: &Context<'_>) -> AppResult<ConvocationSending> {
        Ok(sending(self.0.channel, convocation_delivery(ctx, self.0.delivery_id).await?.as_ref()))
    }
    /// ELECTRONIC or PAPER.
    async fn channel(&self) -> &str {
        self.0.channel.as_str()
    }
    /// Read acknowledgement (accusé de lecture), if the member gave it before the change.
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }
    /// The meeting's sequence (as in its calendar invitation) when these were replaced.
    async fn sequence(&self) -> i32 {
        self.0.sequence
    }
    /// When the meeting was convened again and this convocation replaced.
    async fn superseded_at(&self) -> DateTime<Utc> {
        self.0.superseded_at
    }
}

pub struct AttendanceRow {
    convocation: convocation::Model,
    attendance: Option<super::model::attendance::Model>,
    holder: Option<i32>,
}

#[Object]
impl AttendanceRow {
    async fn person(&self, ctx: &Context<'_>) -> AppResult<Person> {
        person(ctx, self.convocation.person_id).await
    }
    async fn seat(&self) -> SeatRole {
        self.convocation.seat
    }
    async fn commune(&self, ctx: &Context<'_>) -> AppResult<Option<Commune>> {
        commune(ctx, self.convocation.commune_id).await
    }
    /// Null until recorded.
    async fn status(&self) -> Option<AttendanceStatus> {
        self.attendance.as_ref().map(|a| a.status)
    }
    /// Agenda position from which the member was present (null: from the start).
    async fn arrival_position(&self) -> Option<i32> {
        self.attendance.as_ref().and_then(|a| a.arrival_position)
    }
    /// Agenda position from which the member was gone (null: stayed to the end).
    async fn departure_position(&self) -> Option<i32> {
        self.attendance.as_ref().and_then(|a| a.departure_position)
    }
    /// For a REPRESENTED member: the proxy holder.
    async fn proxy_holder(&self, ctx: &Context<'_>) -> AppResult<Option<Person>> {
        match self.holder {
            Some(h) => Ok(Some(person(ctx, h).await?)),
            None => Ok(None),
        }
    }
}

/// A proxy (pouvoir): written, one per holder, revocable until the meeting, valid for at
/// most the body's number of consecutive meetings.
pub struct Proxy(proxy::Model);

/// A proxy (pouvoir): written, one per holder, revocable until the meeting, valid for at
/// most the body's number of consecutive meetings.
#[Object]
impl Proxy {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Proxy, self.0.id)
    }
    async fn giver(&self, ctx: &Context<'_>) -> AppResult<Person> {
        person(ctx, self.0.giver_person_id).await
    }
    async fn holder(&self, ctx: &Context<'_>) -> AppResult<Person> {
        person(ctx, self.0.holder_person_id).await
    }
    /// Consecutive meetings covered, from the one it was given for.
    async fn meetings_count(&self) -> i32 {
        self.0.meetings_count
    }
    async fn given_at(&self) -> DateTime<Utc> {
        self.0.given_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

#[derive(SimpleObject)]
pub struct QuorumView {
    /// Members in office on the meeting day.
    in_office: i64,
    /// Present (in the room or remote) at this item; proxy givers are not present.
    present: i64,
    /// Needed: more than half of those in office (0 without quorum rule or at a second convocation).
    required: i64,
    met: bool,
}

#[derive(SimpleObject)]
pub struct VoteView {
    votes_for: i32,
    against: i32,
    /// Abstentions are not votes cast.
    abstain: i32,
    secret_ballot: bool,
    result: VoteResult,
    /// The president's vote decided a tie.
    casting_vote_used: bool,
    /// Also tallied by each mayor's commune population, frozen with the vote (conference
    /// only); informative: `result` is the head count's.
    weighted: bool,
    population_for: Option<i64>,
    population_against: Option<i64>,
    population_abstain: Option<i64>,
}

/// A point of the agenda (ordre du jour).
/// Holds a `Granted` row: only the checks make one (`auth::granted`).
pub struct AgendaItem(Granted<agenda_item::Model>);

/// A point of the agenda (ordre du jour).
/// Holds a `Granted` row: only the checks make one (`auth::granted`).
#[Object]
impl AgendaItem {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::AgendaItem, self.0.id)
    }
    async fn position(&self) -> i32 {
        self.0.position
    }
    async fn kind(&self) -> AgendaItemKind {
        self.0.kind
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn presenter(&self, ctx: &Context<'_>) -> AppResult<Option<Person>> {
        match self.0.presenter_person_id {
            Some(p) => Ok(Some(person(ctx, p).await?)),
            None => Ok(None),
        }
    }
    /// Note explicative de synthèse.
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    async fn documents(&self, ctx: &Context<'_>) -> AppResult<Vec<Document>> {
        let all = documents(ctx, self.0.meeting_id, Some(self.0.id)).await?;
        Ok(all.into_iter().map(|d| Document(service::item_document(&self.0, d))).collect())
    }
    /// For MINUTES_APPROVAL: the meeting whose minutes are approved.
    async fn minutes_of(&self, ctx: &Context<'_>) -> AppResult<Option<Meeting>> {
        match self.0.minutes_of_meeting_id {
            Some(id) => Ok(Some(Meeting(visible_meeting(ctx, id).await?))),
            None => Ok(None),
        }
    }
    /// Quorum at this item, from attendance, arrivals and departures.
    async fn quorum(&self, ctx: &Context<'_>) -> AppResult<QuorumView> {
        let q = loaders(ctx)?
            .quorum
            .load_one(self.0.meeting_id)
            .await?
            .and_then(|by_item| by_item.get(&self.0.id).copied())
            .ok_or_else(|| AppError::internal("item missing from its meeting"))?;
        Ok(QuorumView { in_office: q.in_office, present: q.present, required: q.required, met: q.met })
    }
    /// The vote, once recorded.
    async fn vote(&self) -> Option<VoteView> {
        let r = self.0.result?;
        Some(VoteView {
            votes_for: self.0.votes_for.unwrap_or(0),
            against: self.0.votes_against.unwrap_or(0),
            abstain: self.0.votes_abstain.unwrap_or(0),
            secret_ballot: self.0.secret_ballot,
            result: r,
            casting_vote_used: self.0.casting_vote_used,
            weighted: self.0.weighted,
            population_for: self.0.weight_for,
            population_against: self.0.weight_against,
            population_abstain: self.0.weight_abstain,
        })
    }
    /// Roll call (vote par appel nominal), if recorded.
    async fn ballots(&self, ctx: &Context<'_>) -> AppResult<Vec<Ballot>> {
        let rows = loaders(ctx)?.ballots.load_one(self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Ballot).collect())
    }
    /// The adopted opinion's text (avis).
    async fn opinion_text(&self) -> Option<&str> {
        self.0.opinion_text.as_deref()
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

pub struct Ballot(ballot::Model);

#[Object]
impl Ballot {
    async fn person(&self, ctx: &Context<'_>) -> AppResult<Person> {
        person(ctx, self.0.person_id).await
    }
    async fn choice(&self) -> Option<Choice> {
        Some(self.0.choice)
    }
    /// The proxy holder who voted for this member.
    async fn cast_by(&self, ctx: &Context<'_>) -> AppResult<Option<Person>> {
        match self.0.cast_by_person_id {
            Some(p) => Ok(Some(person(ctx, p).await?)),
            None => Ok(None),
        }
    }
    /// Population weighed (frozen when the vote was recorded), with its year.
    async fn population(&self) -> Option<i64> {
        self.0.population
    }
    async fn population_year(&self) -> Option<i32> {
        self.0.population_year
    }
}

/// Mayors' request for a conference (demande d'un tiers des maires, L5211-11-3).
pub struct MeetingRequest(meeting_request::Model, tokio::sync::OnceCell<(usize, usize)>);

impl MeetingRequest {
    fn of(r: meeting_request::Model) -> Self {
        MeetingRequest(r, tokio::sync::OnceCell::new())
    }
    /// (signatures that count, signatures needed), computed once for both fields.
    async fn counts(&self, ctx: &Context<'_>) -> AppResult<(usize, usize)> {
        let db = &state(ctx)?.db;
        let counts = self
            .1
            .get_or_try_init(|| async {
                let b = service::body_of(db, self.0.body_id).await?;
                service::counting_signatures(db, &self.0, &b).await
            })
            .await?;
        Ok(*counts)
    }
}

/// Mayors' request for a conference (demande d'un tiers des maires, L5211-11-3).
#[Object]
impl MeetingRequest {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::MeetingRequest, self.0.id)
    }
    async fn agenda(&self) -> &str {
        &self.0.agenda
    }
    async fn status(&self) -> Option<RequestStatus> {
        Some(self.0.status)
    }
    /// Signatures that count today (signers still mayors of member communes).
    async fn signatures(&self, ctx: &Context<'_>) -> AppResult<i32> {
        Ok(self.counts(ctx).await?.0 as i32)
    }
    /// Signatures needed: one third of the member communes, rounded up (31 of 92).
    async fn signatures_needed(&self, ctx: &Context<'_>) -> AppResult<i32> {
        Ok(self.counts(ctx).await?.1 as i32)
    }
    async fn granted_at(&self) -> Option<DateTime<Utc>> {
        self.0.granted_at
    }
    /// The secretariat must convene the conference by this date (30 days after granting).
    async fn due_date(&self) -> Option<NaiveDate> {
        self.0.due_date
    }
    async fn refusal_reason(&self) -> Option<&str> {
        self.0.refusal_reason.as_deref()
    }
    async fn meeting(&self, ctx: &Context<'_>) -> AppResult<Option<Meeting>> {
        match self.0.meeting_id {
            Some(id) => Ok(Some(Meeting(visible_meeting(ctx, id).await?))),
            None => Ok(None),
        }
    }
}

pub struct OverduePublication {
    meeting: Granted<meeting::Model>,
    what: Publication,
    due: NaiveDate,
}

async fn overdue(ctx: &Context<'_>, officer: &Granted<service::Officer>) -> AppResult<Vec<OverduePublication>> {
    let today = loaders(ctx)?.today;
    Ok(service::overdue(&state(ctx)?.db, officer.intercommunality, today)
        .await?
        .into_iter()
        .map(|o| OverduePublication { meeting: service::officer_meeting(officer, o.meeting), what: o.what, due: o.due })
        .collect())
}

#[Object]
impl OverduePublication {
    async fn meeting(&self) -> Meeting {
        Meeting(self.meeting.clone())
    }
    async fn what(&self) -> Publication {
        self.what
    }
    /// Due date (Europe/Paris): one week after the meeting, or after the minutes' approval.
    async fn due_date(&self) -> NaiveDate {
        self.due
    }
}

/// "État d'avancement des travaux" for a plenary.
pub struct ProgressReport(Granted<service::Officer>);

/// "État d'avancement des travaux" for a plenary.
#[Object]
impl ProgressReport {
    /// The referrals still open, soonest deadline first, with their response rates.
    async fn open_referrals(&self, ctx: &Context<'_>) -> AppResult<Vec<crate::referrals::graphql::ReferralProgress>> {
        crate::referrals::graphql::open_referrals(ctx, &self.0).await
    }
    /// Each body with its next meeting.
    async fn bodies(&self, ctx: &Context<'_>) -> AppResult<Vec<BodyProgress>> {
        // "Next" changes when a meeting starts, at an hour and not with the data: the
        // answer is not kept in the response cache.
        crate::cache::DoNotCache::mark(ctx);
        let db = &state(ctx)?.db;
        let bodies = body::Entity::find()
            .filter(body::Column::IntercommunalityId.eq(self.0.intercommunality))
            .order_by_asc(body::Column::Name)
            .all(db)
            .await?;
        let ids: Vec<i32> = bodies.iter().map(|b| b.id).collect();
        let now = Utc::now();
        let mut next: HashMap<i32, meeting::Model> = HashMap::new();
        for m in meeting::Entity::find()
            .filter(meeting::Column::BodyId.is_in(ids))
            .filter(meeting::Column::StartsAt.gt(now))
            .filter(meeting::Column::Status.eq(MeetingStatus::Convened))
            .order_by_desc(meeting::Column::StartsAt)
            .all(db)
            .await?
        {
            next.insert(m.body_id, m);
        }
        Ok(bodies
            .into_iter()
            .map(|b| BodyProgress {
                next: next.remove(&b.id).map(|m| Meeting(service::officer_meeting(&self.0, m))),
                body: Body(service::officer_body(&self.0, b)),
            })
            .collect())
    }
    /// Held meetings whose minutes are not approved yet.
    async fn awaiting_minutes(&self, ctx: &Context<'_>) -> AppResult<Vec<Meeting>> {
        let db = &state(ctx)?.db;
        let ids: Vec<i32> = body::Entity::find()
            .filter(body::Column::IntercommunalityId.eq(self.0.intercommunality))
            .all(db)
            .await?
            .iter()
            .map(|b| b.id)
            .collect();
        Ok(meeting::Entity::find()
            .filter(meeting::Column::BodyId.is_in(ids))
            .filter(meeting::Column::Status.is_in([MeetingStatus::Held, MeetingStatus::Closed]))
            .filter(meeting::Column::MinutesStatus.is_in([MinutesStatus::None, MinutesStatus::Draft]))
            .order_by_asc(meeting::Column::StartsAt)
            .all(db)
            .await?
            .into_iter()
            .map(|m| Meeting(service::officer_meeting(&self.0, m)))
            .collect())
    }
    /// Publications past their legal due date.
    async fn overdue_publications(&self, ctx: &Context<'_>) -> AppResult<Vec<OverduePublication>> {
        overdue(ctx, &self.0).await
    }
}

#[derive(SimpleObject)]
pub struct BodyProgress {
    body: Body,
    /// The next convened meeting.
    next: Option<Meeting>,
}

// ---- queries ---------------------------------------------------------------------------

#[derive(Default)]
pub struct MeetingsQuery;

#[Object]
impl MeetingsQuery {
    /// The bodies of an intercommunality (of one kind, if given), by name.
    #[allow(clippy::too_many_arguments)]
    async fn bodies(
        &self,
        ctx: &Context<'_>,
        intercommunality_id: ID,
        kind: Option<BodyKind>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> AppResult<KeyConn<Body>> {
        let db = &state(ctx)?.db;
        let directory = service::directory(db, actor(ctx)?).await?;
        let e = ids::decode("intercommunalityId", Kind::Intercommunality, &intercommunality_id)?;
        let rows = directory.bodies(db, e, kind).await?;
        let items = rows.into_iter().map(|b| (b.name.clone(), b.id, Body(b))).collect();
        keyset_page(ctx, &PageArgs { after, before, first, last }, "bodies", items, false)
    }
    /// A meeting, if the actor may see it.
    async fn meeting(&self, ctx: &Context<'_>, id: ID) -> AppResult<Meeting> {
        let id = ids::decode("id", Kind::Meeting, &id)?;
        Ok(Meeting(visible_meeting(ctx, id).await?))
    }
    /// Meetings the actor was convened to, by start.
    async fn my_meetings(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> AppResult<KeyConn<Meeting>> {
        let rows = service::convened_meetings(&state(ctx)?.db, actor(ctx)?).await?;
        meeting_page(ctx, &PageArgs { after, before, first, last }, "myMeetings", rows)
    }
    /// Opinions (avis) adopted by the conference of mayors and published, newest first:
    /// available to every municipal councillor of the member communes (L5211-40-2).
    async fn adopted_opinions(&self, ctx: &Context<'_>, intercommunality_id: ID) -> AppResult<Vec<AgendaItem>> {
        let e = ids::decode("intercommunalityId", Kind::Intercommunality, &intercommunality_id)?;
        let rows = service::adopted_opinions(&state(ctx)?.db, actor(ctx)?, e).await?;
        Ok(rows.into_iter().map(AgendaItem).collect())
    }
    /// A mayors' request for a conference.
    async fn meeting_request(&self, ctx: &Context<'_>, id: ID) -> AppResult<MeetingRequest> {
        let id = ids::decode("id", Kind::MeetingRequest, &id)?;
        let db = &state(ctx)?.db;
        let r = meeting_request::Entity::find_by_id(id).one(db).await?.ok_or_else(|| AppError::not_found("request"))?;
        let b = service::body_of(db, r.body_id).await?;
        allow(ctx, Action::SeeBody { body: b.id, intercommunality: b.intercommunality_id }).await?;
        Ok(MeetingRequest::of(r))
    }
    /// Publications that are late: decisions one week after the meeting, minutes one week
    /// after their approval (secretariat and president).
    async fn overdue_publications(
        &self,
        ctx: &Context<'_>,
        intercommunality_id: ID,
    ) -> AppResult<Vec<OverduePublication>> {
        let e = ids::decode("intercommunalityId", Kind::Intercommunality, &intercommunality_id)?;
        let officer = service::officer_of(&state(ctx)?.db, actor(ctx)?, e).await?;
        overdue(ctx, &officer).await
    }
    /// The state of ongoing work for a plenary (secretariat and president).
    async fn progress_report(&self, ctx: &Context<'_>, intercommunality_id: ID) -> AppResult<ProgressReport> {
        let e = ids::decode("intercommunalityId", Kind::Intercommunality, &intercommunality_id)?;
        Ok(ProgressReport(service::officer_of(&state(ctx)?.db, actor(ctx)?, e).await?))
    }
}

/// A page of meetings by start (then id), with keyset cursors of `list`.
fn meeting_page(
    ctx: &Context<'_>,
    args: &PageArgs,
    list: &str,
    rows: impl IntoIterator<Item = Granted<meeting::Model>>,
) -> AppResult<KeyConn<Meeting>> {
    let items = rows
        .into_iter()
        .map(|m| (m.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true), m.id, Meeting(m)))
        .collect();
    keyset_page(ctx, args, list, items, false)
}

// ---- nodes: each reached by `node(id)` with the checks of the path that reaches it ----

/// An agenda item, if its meeting is visible (`Meeting.agenda`).
pub async fn agenda_item_node(ctx: &Context<'_>, id: i32) -> AppResult<Option<AgendaItem>> {
    let Some(i) = agenda_item::Entity::find_by_id(id).one(&state(ctx)?.db).await? else { return Ok(None) };
    let m = visible_meeting(ctx, i.meeting_id).await?;
    Ok(Some(AgendaItem(service::meeting_agenda_item(&m, i))))
}

/// A document's metadata, if its meeting is visible (`Meeting.documents`).
pub async fn document_node(ctx: &Context<'_>, id: i32) -> AppResult<Option<Document>> {
    let db = &state(ctx)?.db;
    let Some(meeting_id) = document::Entity::find_by_id(id)
        .select_only()
        .column(document::Column::MeetingId)
        .into_tuple::<i32>()
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let m = visible_meeting(ctx, meeting_id).await?;
    let metas = document_metas(db, &[meeting_id]).await?;
    Ok(metas.into_iter().find(|d| d.id == id).map(|d| Document(service::meeting_document(&m, d))))
}

/// A proxy, if the meeting it was given for is visible (`Meeting.proxies`).
pub async fn proxy_node(ctx: &Context<'_>, id: i32) -> AppResult<Option<Proxy>> {
    let Some(p) = proxy::Entity::find_by_id(id).one(&state(ctx)?.db).await? else { return Ok(None) };
    visible_meeting(ctx, p.first_meeting_id).await?;
    Ok(Some(Proxy(p)))
}

/// A designation, if its body is visible (`Body.members`).
pub async fn body_seat_node(ctx: &Context<'_>, id: i32) -> AppResult<Option<BodySeat>> {
    let db = &state(ctx)?.db;
    let Some(s) = body_seat::Entity::find_by_id(id).one(db).await? else { return Ok(None) };
    let b = service::body_of(db, s.body_id).await?;
    see_body(ctx, &b).await?;
    Ok(Some(BodySeat(s)))
}

/// A mayors' request, if its body is visible (`meetingRequest`).
pub async fn meeting_request_node(ctx: &Context<'_>, id: i32) -> AppResult<Option<MeetingRequest>> {
    let db = &state(ctx)?.db;
    let Some(r) = meeting_request::Entity::find_by_id(id).one(db).await? else { return Ok(None) };
    let b = service::body_of(db, r.body_id).await?;
    allow(ctx, Action::SeeBody { body: b.id, intercommunality: b.intercommunality_id }).await?;
    Ok(Some(MeetingRequest::of(r)))
}

pub async fn visible_meeting(ctx: &Context<'_>, id: i32) -> AppResult<Granted<meeting::Model>> {
    service::visible(&state(ctx)?.db, actor(ctx)?, id).await
}

// ---- mutations -------------------------------------------------------------------------

#[derive(InputObject)]
pub struct CreateBodyInput {
    pub intercommunality_id: ID,
    pub kind: BodyKind,
    pub name: String,
    /// Required for a working group.
    pub theme: Option<String>,
}

/// Overrides of the rule profile (règlement intérieur); omitted fields keep their value.
#[derive(InputObject)]
pub struct UpdateBodyRulesInput {
    pub id: ID,
    pub expected_version: i32,
    pub notice_clear_days: Option<i32>,
    pub urgency_clear_days: Option<i32>,
    pub note_required: Option<bool>,
    pub quorum_rule: Option<QuorumRule>,
    pub proxies_allowed: Option<bool>,
    pub proxies_per_holder: Option<i32>,
    pub proxy_max_meetings: Option<i32>,
    pub second_convocation_days: Option<i32>,
    /// E.g. "Règlement intérieur du 12 mai 2026, art. 4".
    pub legal_source: Option<String>,
}

#[derive(InputObject)]
pub struct AddSeatInput {
    pub body_id: ID,
    /// The mandate that qualifies the person (a councillor's for a designation).
    pub mandate_id: ID,
    /// ANIMATOR, ASSISTANT or MEMBER.
    pub role: SeatRole,
    pub start_date: NaiveDate,
}

/// Meeting times are Paris wall-clock times ("2026-03-30T10:00:00").
#[derive(InputObject)]
pub struct CreateMeetingInput {
    pub body_id: ID,
    pub title: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub venue: Option<String>,
    pub host_commune_id: Option<ID>,
    pub online_url: Option<String>,
    /// The granted mayors' request this meeting answers.
    pub request_id: Option<ID>,
}

#[derive(InputObject)]
pub struct UpdateMeetingInput {
    pub id: ID,
    pub expected_version: i32,
    pub title: Option<String>,
    /// Paris wall-clock time; a convened meeting is postponed rather than moved.
    pub starts_at: Option<NaiveDateTime>,
    pub ends_at: Option<NaiveDateTime>,
    pub venue: Option<String>,
    pub host_commune_id: Option<ID>,
    pub online_url: Option<String>,
}

#[derive(InputObject)]
pub struct AddAgendaItemInput {
    pub meeting_id: ID,
    pub kind: AgendaItemKind,
    pub title: String,
    pub presenter_id: Option<ID>,
    /// Note explicative de synthèse.
    pub note: Option<String>,
    /// For MINUTES_APPROVAL: the earlier meeting whose minutes are approved.
    pub minutes_of_meeting_id: Option<ID>,
}

#[derive(InputObject)]
pub struct AttendanceInput {
    pub person_id: ID,
    pub status: AttendanceStatus,
    /// Agenda position from which the member was present (omitted: from the start).
    pub arrival_position: Option<i32>,
    /// Agenda position from which the member was gone (omitted: stayed).
    pub departure_position: Option<i32>,
}

#[derive(InputObject)]
pub struct GiveProxyInput {
    pub meeting_id: ID,
    pub giver_id: ID,
    pub holder_id: ID,
    /// Consecutive meetings covered, from this one (at most the body's rule, 3 by default).
    #[graphql(default = 1)]
    pub meetings: i32,
}

#[derive(InputObject)]
pub struct RollCallInput {
    pub person_id: ID,
    pub choice: Choice,
}

#[derive(InputObject)]
pub struct RecordVoteInput {
    pub item_id: ID,
    pub expected_version: i32,
    /// Counts; omit them with a roll call (they are derived from it).
    pub votes_for: Option<i32>,
    pub against: Option<i32>,
    pub abstain: Option<i32>,
    #[graphql(default = false)]
    pub secret_ballot: bool,
    /// Conference of mayors: also tally the roll call weighted by each mayor's commune
    /// population (frozen with the vote). The result stays the head count's; the weighted
    /// figures are kept beside it.
    #[graphql(default = false)]
    pub weighted: bool,
    /// Without a roll call: how the president voted, needed to decide a tie (ABSTAIN: no
    /// casting vote). With a roll call, the president's ballot decides and this is refused.
    pub president_choice: Option<Choice>,
    /// Vote par appel nominal: each member's choice (a represented member's is cast by their proxy holder).
    #[graphql(default)]
    pub roll_call: Vec<RollCallInput>,
    /// The adopted opinion's text (required for an adopted OPINION).
    pub opinion_text: Option<String>,
}

#[derive(InputObject)]
pub struct TransitionMeetingInput {
    pub id: ID,
    pub expected_version: i32,
    /// HELD, CLOSED, POSTPONED or CANCELLED (use conveneMeeting to convene).
    pub status: MeetingStatus,
    pub reason: Option<String>,
}

#[derive(SimpleObject)]
pub struct CalendarFeed {
    /// Secret path of the feed (GET, no token needed): subscribe to it from Outlook or
    /// Thunderbird. Shown once; creating a new feed revokes the old one.
    path: String,
}

pub fn id_of(field: &str, kind: Kind, id: &ID) -> AppResult<i32> {
    ids::decode(field, kind, id)
}

#[derive(Default)]
pub struct MeetingsMutation;

#[Object]
impl MeetingsMutation {
    /// Creates a body with the default rules of its kind (secretariat).
    async fn create_body(&self, ctx: &Context<'_>, input: CreateBodyInput) -> AppResult<Body> {
        let e = id_of("intercommunalityId", Kind::Intercommunality, &input.intercommunality_id)?;
        let b = service::create_body(
            state(ctx)?,
            actor(ctx)?,
            service::NewBody { intercommunality_id: e, kind: input.kind, name: input.name, theme: input.theme },
        )
        .await?;
        Ok(Body(b))
    }
    /// Overrides the body's rule profile (règlement intérieur).
    async fn update_body_rules(&self, ctx: &Context<'_>, input: UpdateBodyRulesInput) -> AppResult<Body> {
        let id = id_of("id", Kind::Body, &input.id)?;
        let patch = service::RulesPatch {
            notice_clear_days: input.notice_clear_days,
            urgency_clear_days: input.urgency_clear_days,
            note_required: input.note_required,
            quorum_rule: input.quorum_rule,
            proxies_allowed: input.proxies_allowed,
            proxies_per_holder: input.proxies_per_holder,
            proxy_max_meetings: input.proxy_max_meetings,
            second_convocation_days: input.second_convocation_days,
            legal_source: input.legal_source,
        };
        Ok(Body(service::update_body_rules(state(ctx)?, actor(ctx)?, id, input.expected_version, patch).await?))
    }
    /// Gives a seat in a working group (or CLECT, commission, council): the secretariat
    /// appoints; a mayor designates councillors of their own commune.
    async fn add_body_seat(&self, ctx: &Context<'_>, input: AddSeatInput) -> AppResult<BodySeat> {
        let body = id_of("bodyId", Kind::Body, &input.body_id)?;
        let mandate = id_of("mandateId", Kind::Mandate, &input.mandate_id)?;
        Ok(BodySeat(service::add_seat(state(ctx)?, actor(ctx)?, body, mandate, input.role, input.start_date).await?))
    }
    /// Ends a seat (exclusive end date).
    async fn end_body_seat(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        end_date: NaiveDate,
    ) -> AppResult<BodySeat> {
        let id = id_of("id", Kind::BodySeat, &id)?;
        Ok(BodySeat(service::end_seat(state(ctx)?, actor(ctx)?, id, end_date, expected_version).await?))
    }
    /// Plans a meeting (DRAFT).
    async fn create_meeting(&self, ctx: &Context<'_>, input: CreateMeetingInput) -> AppResult<Meeting> {
        let body = id_of("bodyId", Kind::Body, &input.body_id)?;
        let host = input.host_commune_id.as_ref().map(|h| id_of("hostCommuneId", Kind::Commune, h)).transpose()?;
        let request = input.request_id.as_ref().map(|r| id_of("requestId", Kind::MeetingRequest, r)).transpose()?;
        let f = service::MeetingFields {
            title: Some(input.title),
            starts_at: Some(input.starts_at),
            ends_at: Some(input.ends_at),
            venue: Some(input.venue),
            host_commune_id: Some(host),
            online_url: Some(input.online_url),
        };
        Ok(Meeting(service::create_meeting(state(ctx)?, actor(ctx)?, body, request, f).await?))
    }
    /// Edits a meeting; after convening, members are told and SEQUENCE is bumped.
    async fn update_meeting(&self, ctx: &Context<'_>, input: UpdateMeetingInput) -> AppResult<Meeting> {
        let id = id_of("id", Kind::Meeting, &input.id)?;
        let host = input.host_commune_id.as_ref().map(|h| id_of("hostCommuneId", Kind::Commune, h)).transpose()?;
        let f = service::MeetingFields {
            title: input.title,
            starts_at: input.starts_at,
            ends_at: input.ends_at,
            venue: input.venue.map(Some),
            host_commune_id: host.map(Some),
            online_url: input.online_url.map(Some),
        };
        Ok(Meeting(service::update_meeting(state(ctx)?, actor(ctx)?, id, input.expected_version, f).await?))
    }
    /// Appends an item to the agenda of a draft meeting.
    async fn add_agenda_item(&self, ctx: &Context<'_>, input: AddAgendaItemInput) -> AppResult<AgendaItem> {
        let meeting = id_of("meetingId", Kind::Meeting, &input.meeting_id)?;
        let presenter = input.presenter_id.as_ref().map(|p| id_of("presenterId", Kind::Person, p)).transpose()?;
        let of =
            input.minutes_of_meeting_id.as_ref().map(|m| id_of("minutesOfMeetingId", Kind::Meeting, m)).transpose()?;
        let item = service::NewItem {
            kind: input.kind,
            title: input.title,
            presenter_id: presenter,
            note: input.note,
            minutes_of_meeting_id: of,
        };
        Ok(AgendaItem(service::add_agenda_item(state(ctx)?, actor(ctx)?, meeting, item).await?))
    }
    /// Uploads a document (GraphQL multipart request); stored with its SHA-256. After
    /// convening, each member is told (timestamped).
    async fn upload_document(
        &self,
        ctx: &Context<'_>,
        meeting_id: ID,
        agenda_item_id: Option<ID>,
        file: Upload,
    ) -> AppResult<Document> {
        let meeting = id_of("meetingId", Kind::Meeting, &meeting_id)?;
        let item = agenda_item_id.as_ref().map(|i| id_of("agendaItemId", Kind::AgendaItem, i)).transpose()?;
        // Authorise before reading the file (the service checks again with the rest).
        let (_, b) = service::meeting_of(&state(ctx)?.db, meeting).await?;
        allow(ctx, Action::ManageMeetings { intercommunality: b.intercommunality_id }).await?;
        let file = read_upload(ctx, file)?;
        let d = service::upload_document(state(ctx)?, actor(ctx)?, meeting, item, file).await?;
        Ok(Document(d.reshape(|d| DocumentMeta {
            id: d.id,
            meeting_id: d.meeting_id,
            agenda_item_id: d.agenda_item_id,
            filename: d.filename,
            media_type: d.media_type,
            size_bytes: d.size_bytes,
            sha256: d.sha256,
            uploaded_at: d.uploaded_at,
            after_convocation: d.after_convocation,
        })))
    }
    /// Sends the convocations (électroniques by default, L2121-10; on paper for the
    /// members listed in `paperFor`, who asked for it). Refused with NOTICE_TOO_SHORT
    /// (naming the latest legal sending date) when the notice is shorter than the body's
    /// rule, unless urgency is declared with its reason and the urgency minimum holds.
    async fn convene_meeting(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        urgency_reason: Option<String>,
        #[graphql(default)] paper_for: Vec<ID>,
    ) -> AppResult<Meeting> {
        let id = id_of("id", Kind::Meeting, &id)?;
        let mut paper = Vec::with_capacity(paper_for.len());
        for (i, p) in paper_for.iter().enumerate() {
            paper.push(id_of(&format!("paperFor.{i}"), Kind::Person, p)?);
        }
        Ok(Meeting(service::convene(state(ctx)?, actor(ctx)?, id, expected_version, urgency_reason, &paper).await?))
    }
    /// The convened member acknowledges reading their convocation.
    async fn acknowledge_convocation(&self, ctx: &Context<'_>, meeting_id: ID) -> AppResult<Convocation> {
        let id = id_of("meetingId", Kind::Meeting, &meeting_id)?;
        Ok(Convocation(service::acknowledge(state(ctx)?, actor(ctx)?, id).await?))
    }
    /// HELD, CLOSED (secretariat); POSTPONED, CANCELLED (who convenes; members are told).
    async fn transition_meeting(&self, ctx: &Context<'_>, input: TransitionMeetingInput) -> AppResult<Meeting> {
        let id = id_of("id", Kind::Meeting, &input.id)?;
        Ok(Meeting(
            service::change_status(state(ctx)?, actor(ctx)?, id, input.expected_version, input.status, input.reason)
                .await?,
        ))
    }
    /// Records attendance (secretariat); returns the number of rows recorded.
    async fn record_attendance(&self, ctx: &Context<'_>, meeting_id: ID, rows: Vec<AttendanceInput>) -> AppResult<i32> {
        let id = id_of("meetingId", Kind::Meeting, &meeting_id)?;
        let mut parsed = Vec::with_capacity(rows.len());
        for (i, r) in rows.into_iter().enumerate() {
            parsed.push(service::AttendanceInput {
                person_id: id_of(&format!("rows.{i}.personId"), Kind::Person, &r.person_id)?,
                status: r.status,
                arrival_position: r.arrival_position,
                departure_position: r.departure_position,
            });
        }
        Ok(service::record_attendance(state(ctx)?, actor(ctx)?, id, parsed).await? as i32)
    }
    /// A member gives a proxy (or the secretariat records a written one).
    async fn give_proxy(&self, ctx: &Context<'_>, input: GiveProxyInput) -> AppResult<Proxy> {
        let meeting = id_of("meetingId", Kind::Meeting, &input.meeting_id)?;
        let giver = id_of("giverId", Kind::Person, &input.giver_id)?;
        let holder = id_of("holderId", Kind::Person, &input.holder_id)?;
        Ok(Proxy(service::give_proxy(state(ctx)?, actor(ctx)?, meeting, giver, holder, input.meetings).await?))
    }
    async fn revoke_proxy(&self, ctx: &Context<'_>, id: ID) -> AppResult<Proxy> {
        let id = id_of("id", Kind::Proxy, &id)?;
        Ok(Proxy(service::revoke_proxy(state(ctx)?, actor(ctx)?, id).await?))
    }
    /// Records a vote (secretariat). QUORUM_NOT_MET when quorum fails at the item.
    async fn record_vote(&self, ctx: &Context<'_>, input: RecordVoteInput) -> AppResult<AgendaItem> {
        let item = id_of("itemId", Kind::AgendaItem, &input.item_id)?;
        let mut roll = Vec::with_capacity(input.roll_call.len());
        for (i, r) in input.roll_call.iter().enumerate() {
            roll.push((id_of(&format!("rollCall.{i}.personId"), Kind::Person, &r.person_id)?, r.choice));
        }
        let v = service::VoteInput {
            expected_version: input.expected_version,
            votes_for: input.votes_for,
            against: input.against,
            abstain: input.abstain,
            secret: input.secret_ballot,
            weighted: input.weighted,
            president_choice: input.president_choice,
            roll_call: roll,
            opinion_text: input.opinion_text,
        };
        Ok(AgendaItem(service::record_vote(state(ctx)?, actor(ctx)?, item, v).await?))
    }
    /// Convenes the items that lacked quorum again; that meeting needs no quorum.
    async fn second_convocation(
        &self,
        ctx: &Context<'_>,
        meeting_id: ID,
        starts_at: NaiveDateTime,
        ends_at: NaiveDateTime,
    ) -> AppResult<Meeting> {
        let id = id_of("meetingId", Kind::Meeting, &meeting_id)?;
        Ok(Meeting(service::second_convocation(state(ctx)?, actor(ctx)?, id, starts_at, ends_at).await?))
    }
    /// Drafts the minutes (procès-verbal) of a held meeting.
    async fn draft_minutes(
        &self,
        ctx: &Context<'_>,
        meeting_id: ID,
        expected_version: i32,
        text: String,
    ) -> AppResult<Meeting> {
        let id = id_of("meetingId", Kind::Meeting, &meeting_id)?;
        Ok(Meeting(service::draft_minutes(state(ctx)?, actor(ctx)?, id, expected_version, text).await?))
    }
    /// Publishes the list of decisions/opinions or the approved minutes. The conference's
    /// adopted opinions then reach every municipal councillor of the member communes.
    async fn publish(&self, ctx: &Context<'_>, meeting_id: ID, what: Publication) -> AppResult<Meeting> {
        let id = id_of("meetingId", Kind::Meeting, &meeting_id)?;
        Ok(Meeting(service::publish(state(ctx)?, actor(ctx)?, id, what).await?))
    }
    /// A mayor opens a request for a conference with its agenda, and signs it.
    async fn create_meeting_request(
        &self,
        ctx: &Context<'_>,
        body_id: ID,
        agenda: String,
    ) -> AppResult<MeetingRequest> {
        let body = id_of("bodyId", Kind::Body, &body_id)?;
        Ok(MeetingRequest::of(service::create_request(state(ctx)?, actor(ctx)?, body, agenda).await?))
    }
    /// A mayor co-signs; at one third of the mayors the request is granted (or refused
    /// beyond 4 granted requests in the calendar year).
    async fn sign_meeting_request(&self, ctx: &Context<'_>, id: ID) -> AppResult<MeetingRequest> {
        let id = id_of("id", Kind::MeetingRequest, &id)?;
        Ok(MeetingRequest::of(service::sign_request(state(ctx)?, actor(ctx)?, id).await?))
    }
    /// Creates the actor's secret iCalendar feed (replacing any earlier one).
    async fn create_calendar_feed(&self, ctx: &Context<'_>) -> AppResult<CalendarFeed> {
        let token = service::create_calendar_feed(state(ctx)?, actor(ctx)?).await?;
        Ok(CalendarFeed { path: format!("/calendar/{token}.ics") })
    }
}
