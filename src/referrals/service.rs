//! Use cases of referrals: authorise, apply the rules of rules.rs and form.rs, write in one
//! transaction with the audit entry. The deadline job (`run_jobs`) closes referrals whose
//! deadline has passed and sends reminders; queries give the same answers before it runs.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, JoinType, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::{json, Value};

use super::form::{self, Field};
use super::model::{
    referral, referral_addressee, referral_document, referral_form, referral_reminder, response_revision,
    signature_delegation,
};
use super::rules::*;
use crate::audit::service::{record, Entry};
use crate::auth::policy::{acting_for, authorize, Action};
use crate::auth::Actor;
use crate::error::{AppError, AppResult};
use crate::meetings::service::{check_text, expect_one, notify, opt_text, About};
use crate::people::model::mandate;
use crate::people::rules::Role;
use crate::people::service::{next_version, runs_on};
use crate::platform::documents::{self, Upload};
use crate::territory::model::commune;
use crate::territory::queries::member_communes_on;
use crate::AppState;

/// Reminders by default: 15, 7 and 1 days before the deadline.
pub const DEFAULT_REMINDER_DAYS: [i32; 3] = [15, 7, 1];
/// Rows per INSERT statement when opening (7 columns: well under both databases' limits).
const CHUNK: usize = 2_000;

// ---- loading ---------------------------------------------------------------------------

pub async fn referral_of<C: ConnectionTrait>(db: &C, id: i32) -> AppResult<referral::Model> {
    referral::Entity::find_by_id(id).one(db).await?.ok_or_else(|| AppError::not_found("referral"))
}

fn bad_row(what: &str, id: i32) -> AppError {
    AppError::internal(format!("{what} {id} holds an unknown value"))
}

pub fn procedure_of(r: &referral::Model) -> AppResult<Procedure> {
    Procedure::parse(&r.procedure).ok_or_else(|| bad_row("referral", r.id))
}
pub fn stored_status(r: &referral::Model) -> AppResult<ReferralStatus> {
    ReferralStatus::parse(&r.status).ok_or_else(|| bad_row("referral", r.id))
}
pub fn silence_of(r: &referral::Model) -> AppResult<Silence> {
    Silence::parse(&r.silence).ok_or_else(|| bad_row("referral", r.id))
}
pub fn decision_of(r: &referral::Model) -> AppResult<Decision> {
    Decision::parse(&r.decision).ok_or_else(|| bad_row("referral", r.id))
}
/// The status as queries show it (closed once the deadline has passed).
pub fn status_of(r: &referral::Model, now: DateTime<Utc>) -> AppResult<ReferralStatus> {
    Ok(stored_status(r)?.effective(r.deadline, now))
}
pub fn deadline_passed(r: &referral::Model, now: DateTime<Utc>) -> bool {
    r.deadline.is_some_and(|d| passed(d, now))
}
/// Deadlines at or before this instant have passed at `now` (see `rules::passed`).
fn passed_before(now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::seconds(1)
}
/// A response's status as queries show it.
pub fn response_status(
    r: &referral::Model,
    a: &referral_addressee::Model,
    now: DateTime<Utc>,
) -> AppResult<ResponseStatus> {
    let s = ResponseStatus::parse(&a.status).ok_or_else(|| bad_row("response", a.id))?;
    Ok(s.effective(deadline_passed(r, now), silence_of(r)?))
}
/// The Paris day of an instant.
pub fn paris_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&Paris).date_naive()
}
/// 23:59:59 Europe/Paris on `day`, as an instant.
pub fn end_of_day(day: NaiveDate) -> AppResult<DateTime<Utc>> {
    let t = day.and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default());
    Paris
        .from_local_datetime(&t)
        .single()
        .map(|d| d.with_timezone(&Utc))
        .ok_or_else(|| AppError::internal("23:59:59 missing"))
}

fn audit<'a>(action: &'a str, target_type: &'a str, id: i32, r: &referral::Model, summary: Value) -> Entry<'a> {
    Entry { action, target_type, target_id: Some(id), scope: r.intercommunality_id, summary }
}

pub fn reminder_days(r: &referral::Model) -> Vec<i32> {
    r.reminder_days.split(',').filter_map(|d| d.trim().parse().ok()).collect()
}

// ---- who acts for which commune -------------------------------------------------------

/// What the actor sees of a referral's responses.
#[derive(Clone, Debug)]
pub struct View {
    /// The secretariat, the president, administrators: every response, live.
    pub officer: bool,
    /// The communes the actor acts for: their responses in full, drafts included.
    pub own: Vec<i32>,
    /// Other communes' responses are visible (closed, and not secretariat-only).
    pub others: bool,
}

impl View {
    pub fn sees(&self, commune: i32) -> bool {
        self.officer || self.others || self.own.contains(&commune)
    }
    pub fn sees_all(&self) -> bool {
        self.officer || self.others
    }
    /// Whether a seen response's content (opinion, reasons, answers, files, revisions)
    /// is shown: always to the commune itself; to others once submitted, a draft being
    /// the commune's own work until its mayor signs it.
    pub fn shows_content(&self, commune: i32, stored_status: &str) -> bool {
        self.own.contains(&commune) || stored_status == ResponseStatus::Submitted.as_str()
    }
    /// The response as this actor may read it: its content blanked unless shown.
    pub fn redact(&self, a: referral_addressee::Model) -> referral_addressee::Model {
        if self.shows_content(a.commune_id, &a.status) {
            return a;
        }
        referral_addressee::Model {
            opinion: None,
            reasons: None,
            deliberation_number: None,
            deliberation_date: None,
            answers: None,
            form_version: None,
            ..a
        }
    }
}

/// Authorises seeing the referral and says what of it the actor sees.
pub async fn view<C: ConnectionTrait>(db: &C, actor: &Actor, r: &referral::Model) -> AppResult<View> {
    let p =
        authorize(db, actor, Action::SeeReferral { referral: r.id, intercommunality: r.intercommunality_id }).await?;
    let officer = match p {
        None => true,
        Some(p) => {
            p.role == crate::auth::PlatformRole::Admin
                || match r.intercommunality_id {
                    Some(e) => {
                        (p.role == crate::auth::PlatformRole::Secretariat && p.secretariat_of == Some(e))
                            || crate::auth::policy::is_president_of(db, actor, e).await?
                    }
                    None => false,
                }
        }
    };
    if !officer && stored_status(r)? == ReferralStatus::Draft {
        return Err(AppError::forbidden("you may not see this referral"));
    }
    let own = acting_for(db, actor).await?.drafts.clone();
    let closed = status_of(r, Utc::now())? == ReferralStatus::Closed;
    Ok(View { officer, own, others: closed && !r.secretariat_only })
}

/// The referral, for those who may see it.
pub async fn visible<C: ConnectionTrait>(db: &C, actor: &Actor, id: i32) -> AppResult<(referral::Model, View)> {
    let r = referral_of(db, id).await?;
    let v = view(db, actor, &r).await?;
    Ok((r, v))
}

// ---- preparing -------------------------------------------------------------------------

/// What the secretariat sets on a draft referral.
#[derive(Clone, Debug, Default)]
pub struct ReferralFields {
    pub title: String,
    pub description: Option<String>,
    pub legal_basis: Option<String>,
    pub body_id: Option<i32>,
    pub meeting_id: Option<i32>,
    pub addressee_mode: Option<AddresseeMode>,
    pub communes: Vec<i32>,
    /// Procedures without a legal duration: the last day to answer (Paris).
    pub deadline_date: Option<NaiveDate>,
    pub silence: Option<Silence>,
    pub decision: Option<Decision>,
    pub strict_second_branch: bool,
    pub secretariat_only: bool,
    pub reminder_days: Option<Vec<i32>>,
}

/// The checked columns of a draft referral.
struct Checked {
    title: String,
    description: Option<String>,
    legal_basis: String,
    mode: AddresseeMode,
    chosen: Option<String>,
    silence: Silence,
    decision: Decision,
    reminders: String,
}

async fn check_fields<C: ConnectionTrait>(
    db: &C,
    e: Option<i32>,
    procedure: Procedure,
    f: &ReferralFields,
) -> AppResult<Checked> {
    let d = procedure.defaults();
    let title = check_text("title", &f.title, 300)?;
    let description = opt_text("description", f.description.as_deref(), 20_000)?;
    let legal_basis = opt_text("legalBasis", f.legal_basis.as_deref(), 300)?.unwrap_or_else(|| d.legal_basis.into());
    let own_setting = d.months.is_none();
    let silence = match (d.silence, f.silence) {
        (Some(s), None) => s,
        (None, None) => return Err(AppError::validation("silence", "a free consultation states what silence means")),
        (Some(s), Some(x)) if procedure != Procedure::FreeConsultation && x != s => {
            return Err(AppError::validation(
                "silence",
                format!("{} sets silence to {}", procedure.as_str(), s.as_str()),
            ))
        }
        (_, Some(x)) => x,
    };
    let decision = match f.decision {
        None => d.decision,
        Some(x) if x == d.decision => x,
        Some(x)
            if procedure == Procedure::FreeConsultation
                && matches!(x, Decision::Counts | Decision::QualifiedMajority) =>
        {
            x
        }
        Some(_) => {
            return Err(AppError::validation(
                "decision",
                format!("{} is decided by {}", procedure.as_str(), d.decision.as_str()),
            ))
        }
    };
    match (own_setting, f.deadline_date) {
        (false, Some(_)) => {
            return Err(AppError::validation(
                "deadlineDate",
                format!("{} has a legal duration of {} months", procedure.as_str(), d.months.unwrap_or(0)),
            ))
        }
        (true, Some(day)) if day <= crate::time::today_paris() => {
            return Err(AppError::validation("deadlineDate", "the deadline must be after today"))
        }
        (true, Some(day)) if day > crate::time::today_paris() + Duration::days(366) => {
            return Err(AppError::validation("deadlineDate", "the deadline is at most a year from today"))
        }
        _ => {}
    }
    let mode = match (procedure, f.addressee_mode) {
        (Procedure::SingleCommune, None | Some(AddresseeMode::SingleCommune)) => AddresseeMode::SingleCommune,
        (Procedure::SingleCommune, Some(_)) => {
            return Err(AppError::validation("addresseeMode", "a L5211-57 referral goes to the one commune concerned"))
        }
        (_, Some(AddresseeMode::SingleCommune)) => {
            return Err(AppError::validation("addresseeMode", "only a SINGLE_COMMUNE procedure has a single addressee"))
        }
        (_, None) if e.is_none() => AddresseeMode::AllCommunes,
        (_, None) => AddresseeMode::AllMembers,
        (_, Some(m)) => m,
    };
    // The legal procedures consult every member council (L5211-5 II counts them all);
    // only a free consultation or a data collection chooses its addressees.
    if procedure.needs_deliberation() && procedure != Procedure::SingleCommune && mode != AddresseeMode::AllMembers {
        return Err(AppError::validation(
            "addresseeMode",
            format!("{} is addressed to every member commune (ALL_MEMBERS)", procedure.as_str()),
        ));
    }
    match (mode, e) {
        (AddresseeMode::AllCommunes, Some(_)) => {
            return Err(AppError::validation(
                "addresseeMode",
                "ALL_COMMUNES is a national consultation (no intercommunality)",
            ))
        }
        (AddresseeMode::AllMembers, None) => {
            return Err(AppError::validation("addresseeMode", "a national consultation has no member communes"))
        }
        _ => {}
    }
    let chosen = match mode {
        AddresseeMode::Subset | AddresseeMode::SingleCommune => {
            let mut ids = f.communes.clone();
            ids.sort_unstable();
            ids.dedup();
            let wanted = if mode == AddresseeMode::SingleCommune { 1..=1 } else { 1..=5_000 };
            if !wanted.contains(&ids.len()) {
                return Err(AppError::validation(
                    "communes",
                    format!("choose {} to {} communes", wanted.start(), wanted.end()),
                ));
            }
            if let Some(e) = e {
                let members: HashSet<i32> =
                    member_communes_on(db, e, crate::time::today_paris()).await?.into_iter().collect();
                if let Some(c) = ids.iter().find(|c| !members.contains(c)) {
                    return Err(AppError::validation(
                        "communes",
                        format!("commune {} is not a member", crate::ids::encode(crate::ids::Kind::Commune, *c).0),
                    ));
                }
            } else {
                let found =
                    commune::Entity::find().filter(commune::Column::Id.is_in(ids.iter().copied())).count(db).await?;
                if found as usize != ids.len() {
                    return Err(AppError::validation("communes", "a chosen commune does not exist"));
                }
            }
            Some(serde_json::to_string(&ids).map_err(AppError::internal)?)
        }
        _ if !f.communes.is_empty() => {
            return Err(AppError::validation("communes", "communes are chosen with SUBSET or SINGLE_COMMUNE"))
        }
        _ => None,
    };
    let mut days = f.reminder_days.clone().unwrap_or_else(|| DEFAULT_REMINDER_DAYS.to_vec());
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
    if days.len() > 10 || days.iter().any(|d| !(1..=90).contains(d)) {
        return Err(AppError::validation("reminderDays", "up to 10 reminders, each 1 to 90 days before the deadline"));
    }
    if let (Some(b), Some(e)) = (f.body_id, e) {
        let body = crate::meetings::service::body_of(db, b).await?;
        if body.intercommunality_id != e {
            return Err(AppError::validation("bodyId", "this body belongs to another intercommunality"));
        }
    }
    if let Some(m) = f.meeting_id {
        let (_, body) = crate::meetings::service::meeting_of(db, m).await?;
        if Some(body.intercommunality_id) != e {
            return Err(AppError::validation("meetingId", "this meeting belongs to another intercommunality"));
        }
    }
    Ok(Checked {
        title,
        description,
        legal_basis,
        mode,
        chosen,
        silence,
        decision,
        reminders: days.iter().map(i32::to_string).collect::<Vec<_>>().join(","),
    })
}

fn fields_json(r: &referral::Model) -> Value {
    json!({
        "title": r.title, "procedure": r.procedure, "addresseeMode": r.addressee_mode,
        "communes": r.chosen_communes, "deadlineDate": r.deadline_date, "silence": r.silence,
        "decision": r.decision, "secretariatOnly": r.secretariat_only, "reminderDays": r.reminder_days,
    })
}

pub async fn create_referral(
    state: &AppState,
    actor: &Actor,
    intercommunality: Option<i32>,
    procedure: Procedure,
    f: ReferralFields,
) -> AppResult<referral::Model> {
    let txn = crate::db::write(&state.db).await?;
    let p = authorize(&txn, actor, Action::ManageReferrals { intercommunality }).await?;
    let c = check_fields(&txn, intercommunality, procedure, &f).await?;
    let now = Utc::now();
    let r = referral::ActiveModel {
        intercommunality_id: Set(intercommunality),
        kind: Set(procedure.kind().as_str().into()),
        procedure: Set(procedure.as_str().into()),
        title: Set(c.title),
        description: Set(c.description),
        legal_basis: Set(c.legal_basis),
        body_id: Set(f.body_id),
        meeting_id: Set(f.meeting_id),
        status: Set(ReferralStatus::Draft.as_str().into()),
        addressee_mode: Set(c.mode.as_str().into()),
        chosen_communes: Set(c.chosen),
        duration_months: Set(procedure.defaults().months.map(|m| m as i32)),
        deadline_date: Set(f.deadline_date),
        silence: Set(c.silence.as_str().into()),
        decision: Set(c.decision.as_str().into()),
        strict_second_branch: Set(f.strict_second_branch),
        secretariat_only: Set(f.secretariat_only),
        reminder_days: Set(c.reminders),
        created_by_account_id: Set(p.map(|p| p.account_id)),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    record(&txn, actor, audit("CREATE_REFERRAL", "Referral", r.id, &r, fields_json(&r))).await?;
    txn.commit().await?;
    Ok(r)
}

fn require_status(r: &referral::Model, wanted: ReferralStatus, doing: &str) -> AppResult<()> {
    let now = Utc::now();
    let s = status_of(r, now)?;
    if s == wanted {
        return Ok(());
    }
    if s == ReferralStatus::Closed && wanted == ReferralStatus::Open {
        return Err(AppError::rule("DEADLINE_PASSED", format!("the deadline has passed: cannot {doing}")));
    }
    Err(AppError::rule("INVALID_TRANSITION", format!("a {} referral: cannot {doing}", s.as_str())))
}

pub async fn update_referral(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
    f: ReferralFields,
) -> AppResult<referral::Model> {
    let txn = crate::db::write(&state.db).await?;
    let r = referral_of(&txn, id).await?;
    authorize(&txn, actor, Action::ManageReferrals { intercommunality: r.intercommunality_id }).await?;
    require_status(&r, ReferralStatus::Draft, "edit it once opened")?;
    let procedure = procedure_of(&r)?;
    let c = check_fields(&txn, r.intercommunality_id, procedure, &f).await?;
    let next = next_version(expected_version)?;
    let res = referral::Entity::update_many()
        .col_expr(referral::Column::Title, Expr::value(c.title))
        .col_expr(referral::Column::Description, Expr::value(c.description))
        .col_expr(referral::Column::LegalBasis, Expr::value(c.legal_basis))
        .col_expr(referral::Column::BodyId, Expr::value(f.body_id))
        .col_expr(referral::Column::MeetingId, Expr::value(f.meeting_id))
        .col_expr(referral::Column::AddresseeMode, Expr::value(c.mode.as_str()))
        .col_expr(referral::Column::ChosenCommunes, Expr::value(c.chosen))
        .col_expr(referral::Column::DeadlineDate, Expr::value(f.deadline_date))
        .col_expr(referral::Column::Silence, Expr::value(c.silence.as_str()))
        .col_expr(referral::Column::Decision, Expr::value(c.decision.as_str()))
        .col_expr(referral::Column::StrictSecondBranch, Expr::value(f.strict_second_branch))
        .col_expr(referral::Column::SecretariatOnly, Expr::value(f.secretariat_only))
        .col_expr(referral::Column::ReminderDays, Expr::value(c.reminders))
        .col_expr(referral::Column::UpdatedAt, Expr::value(Utc::now()))
        .col_expr(referral::Column::Version, Expr::value(next))
        .filter(referral::Column::Id.eq(id))
        .filter(referral::Column::Version.eq(expected_version))
        .filter(referral::Column::Status.eq(ReferralStatus::Draft.as_str()))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "the referral", r.version, expected_version)?;
    let r = referral_of(&txn, id).await?;
    record(&txn, actor, audit("UPDATE_REFERRAL", "Referral", id, &r, fields_json(&r))).await?;
    txn.commit().await?;
    Ok(r)
}

/// The form of a data collection: a new version each time; answers keep the version they
/// were given against. Allowed until the referral closes.
pub async fn set_form(state: &AppState, actor: &Actor, id: i32, fields: Vec<Field>) -> AppResult<referral_form::Model> {
    let txn = crate::db::write(&state.db).await?;
    let r = referral_of(&txn, id).await?;
    authorize(&txn, actor, Action::ManageReferrals { intercommunality: r.intercommunality_id }).await?;
    if procedure_of(&r)?.kind() != ReferralKind::DataCollection {
        return Err(AppError::validation("fields", "only a data collection has a form"));
    }
    if status_of(&r, Utc::now())? == ReferralStatus::Closed {
        return Err(AppError::rule("DEADLINE_PASSED", "the referral is closed"));
    }
    form::check_fields(&fields).map_err(|e| AppError::validation(&e.path, e.message))?;
    lock_referral(&txn, id).await?;
    let last = current_form(&txn, id).await?.map_or(0, |f| f.form_version);
    let f = referral_form::ActiveModel {
        referral_id: Set(id),
        form_version: Set(last + 1),
        fields: Set(Some(serde_json::to_string(&fields).map_err(AppError::internal)?)),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    record(
        &txn,
        actor,
        audit(
            "SET_REFERRAL_FORM",
            "Referral",
            id,
            &r,
            json!({ "formVersion": f.form_version, "fields": fields.len() }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(f)
}

pub async fn current_form<C: ConnectionTrait>(db: &C, referral_id: i32) -> AppResult<Option<referral_form::Model>> {
    Ok(referral_form::Entity::find()
        .filter(referral_form::Column::ReferralId.eq(referral_id))
        .order_by_desc(referral_form::Column::FormVersion)
        .one(db)
        .await?)
}

/// Serialises writers of one referral (a no-op update takes the row lock on both databases).
async fn lock_referral<C: ConnectionTrait>(conn: &C, id: i32) -> AppResult<referral::Model> {
    referral::Entity::update_many()
        .col_expr(referral::Column::UpdatedAt, Expr::col(referral::Column::UpdatedAt))
        .filter(referral::Column::Id.eq(id))
        .exec(conn)
        .await?;
    referral_of(conn, id).await
}

/// A document of the referral (the secretariat), or a file a commune attaches to its
/// answer (`commune`: someone acting for it, while the referral is open).
pub async fn upload_document(
    state: &AppState,
    actor: &Actor,
    id: i32,
    commune: Option<i32>,
    file: Upload,
) -> AppResult<referral_document::Model> {
    let txn = crate::db::write(&state.db).await?;
    let r = referral_of(&txn, id).await?;
    let p = match commune {
        None => authorize(&txn, actor, Action::ManageReferrals { intercommunality: r.intercommunality_id }).await?,
        Some(c) => {
            let p = authorize(&txn, actor, Action::DraftResponse { commune: c }).await?;
            addressee_of(&txn, id, c).await?;
            require_status(&r, ReferralStatus::Open, "attach a file")?;
            p
        }
    };
    if status_of(&r, Utc::now())? == ReferralStatus::Closed {
        return Err(AppError::rule("DEADLINE_PASSED", "the referral is closed"));
    }
    let file = documents::check_upload(file, state.config.limits.document_bytes)?;
    let d = referral_document::ActiveModel {
        referral_id: Set(id),
        commune_id: Set(commune),
        size_bytes: Set(file.size_bytes()),
        filename: Set(file.filename),
        media_type: Set(file.media_type),
        sha256: Set(file.sha256.clone()),
        uploaded_by_account_id: Set(p.map(|p| p.account_id)),
        uploaded_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    documents::put(&txn, &file.sha256, &file.content).await?;
    record(
        &txn,
        actor,
        audit("UPLOAD_REFERRAL_DOCUMENT", "ReferralDocument", d.id, &r, json!({ "referral": id, "commune": commune, "filename": d.filename, "sha256": d.sha256, "size": d.size_bytes })),
    )
    .await?;
    txn.commit().await?;
    Ok(d)
}

/// A referral document for those who may see it: the referral's own to whoever sees the
/// referral, a commune's attachment to whoever sees that commune's response. Reads the
/// metadata row only (it holds no content).
pub async fn document_for<C: ConnectionTrait>(db: &C, actor: &Actor, id: i32) -> AppResult<referral_document::Model> {
    let d = referral_document::Entity::find_by_id(id).one(db).await?.ok_or_else(|| AppError::not_found("document"))?;
    let (_, v) = visible(db, actor, d.referral_id).await?;
    match d.commune_id {
        Some(c) => {
            let a = addressee_of(db, d.referral_id, c).await?;
            if v.sees(c) && v.shows_content(c, &a.status) {
                Ok(d)
            } else {
                Err(AppError::forbidden("you may not see this commune's response"))
            }
        }
        None => Ok(d),
    }
}

/// A referral document's content for a reader allowed by [`document_for`], checked
/// before any content is read; streamed.
pub async fn download_document(db: &DatabaseConnection, actor: &Actor, id: i32) -> AppResult<documents::Download> {
    documents::authorized(db, async {
        let d = document_for(db, actor, id).await?;
        Ok(documents::FileMeta {
            filename: d.filename,
            media_type: d.media_type,
            sha256: d.sha256,
            size_bytes: d.size_bytes,
        })
    })
    .await
}

// ---- opening ---------------------------------------------------------------------------

/// Opens the referral: freezes the addressees and each one's population (figure, year,
/// source) and sets the deadline. `clock_start`: the day of the event the procedure's
/// clock starts from (notification, transmission, arrêt du projet), today by default.
pub async fn open(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
    clock_start: Option<NaiveDate>,
) -> AppResult<referral::Model> {
    let txn = crate::db::write(&state.db).await?;
    let r = referral_of(&txn, id).await?;
    authorize(&txn, actor, Action::ManageReferrals { intercommunality: r.intercommunality_id }).await?;
    require_status(&r, ReferralStatus::Draft, "open it again")?;
    let procedure = procedure_of(&r)?;
    let today = crate::time::today_paris();
    let start = clock_start.unwrap_or(today);
    if start > today {
        return Err(AppError::validation("clockStartsOn", "the clock cannot start in the future"));
    }
    let deadline = match (r.duration_months, r.deadline_date) {
        (Some(m), _) => {
            deadline(start, m as u32).ok_or_else(|| AppError::validation("clockStartsOn", "out of range"))?
        }
        (None, Some(day)) => end_of_day(day)?,
        (None, None) => return Err(AppError::validation("deadlineDate", "set the deadline before opening")),
    };
    let now = Utc::now();
    if deadline <= now {
        return Err(AppError::rule(
            "DEADLINE_PASSED",
            format!("the deadline {} has already passed", paris_day(deadline)),
        ));
    }
    if procedure.kind() == ReferralKind::DataCollection && current_form(&txn, id).await?.is_none() {
        return Err(AppError::validation("fields", "a data collection needs its form before opening"));
    }
    let next = next_version(expected_version)?;
    let res = referral::Entity::update_many()
        .col_expr(referral::Column::Status, Expr::value(ReferralStatus::Open.as_str()))
        .col_expr(referral::Column::ClockStartDate, Expr::value(start))
        .col_expr(referral::Column::OpenedAt, Expr::value(now))
        .col_expr(referral::Column::Deadline, Expr::value(deadline))
        .col_expr(referral::Column::UpdatedAt, Expr::value(now))
        .col_expr(referral::Column::Version, Expr::value(next))
        .filter(referral::Column::Id.eq(id))
        .filter(referral::Column::Version.eq(expected_version))
        .filter(referral::Column::Status.eq(ReferralStatus::Draft.as_str()))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "the referral", r.version, expected_version)?;
    let addressees = addressee_communes(&txn, &r, today).await?;
    if addressees.is_empty() {
        return Err(AppError::validation("communes", "the referral has no addressee"));
    }
    let unknown = addressees.iter().filter(|a| a.1.is_none()).count();
    if unknown > 0 && decision_of(&r)?.qualified() && r.intercommunality_id.is_some() {
        // A qualified majority weighs each member council by its population: none may be
        // missing. (Nationally, the six territories without a figure, the TAAF districts
        // and Clipperton, have no inhabitants and no council: they weigh nothing.)
        return Err(AppError::validation(
            "communes",
            format!("{unknown} addressee(s) have no known population; import the official figures first"),
        ));
    }
    for chunk in addressees.chunks(CHUNK) {
        referral_addressee::Entity::insert_many(chunk.iter().map(|(c, pop, year, source)| {
            referral_addressee::ActiveModel {
                referral_id: Set(id),
                commune_id: Set(*c),
                population: Set(pop.map(i64::from)),
                population_year: Set(*year),
                population_source: Set(source.clone()),
                status: Set(ResponseStatus::Pending.as_str().into()),
                version: Set(1),
                ..Default::default()
            }
        }))
        .exec(&txn)
        .await?;
    }
    let communes: HashSet<i32> = addressees.iter().map(|a| a.0).collect();
    let told = notify_officers(
        &txn,
        &communes,
        "REFERRAL_OPENED",
        id,
        &format!("Saisine « {} »: réponse attendue avant le {} à 23:59:59", r.title, paris_day(deadline)),
    )
    .await?;
    let r = referral_of(&txn, id).await?;
    record(
        &txn,
        actor,
        audit(
            "OPEN_REFERRAL",
            "Referral",
            id,
            &r,
            json!({ "addressees": addressees.len(), "clockStartsOn": start, "deadline": deadline, "told": told }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(r)
}

type Frozen = (i32, Option<i32>, Option<i32>, Option<String>);

/// The addressees on `day` with their population as the commune table states it.
async fn addressee_communes<C: ConnectionTrait>(db: &C, r: &referral::Model, day: NaiveDate) -> AppResult<Vec<Frozen>> {
    let mode = AddresseeMode::parse(&r.addressee_mode).ok_or_else(|| bad_row("referral", r.id))?;
    let cols = || {
        commune::Entity::find().select_only().columns([
            commune::Column::Id,
            commune::Column::Population,
            commune::Column::PopulationYear,
            commune::Column::PopulationSource,
        ])
    };
    let ids: Vec<i32> = match mode {
        AddresseeMode::AllCommunes => {
            return Ok(cols().order_by_asc(commune::Column::Id).into_tuple::<Frozen>().all(db).await?);
        }
        AddresseeMode::AllMembers => {
            let e = r.intercommunality_id.ok_or_else(|| bad_row("referral", r.id))?;
            member_communes_on(db, e, day).await?
        }
        AddresseeMode::Subset | AddresseeMode::SingleCommune => {
            let ids: Vec<i32> =
                serde_json::from_str(r.chosen_communes.as_deref().unwrap_or("[]")).map_err(AppError::internal)?;
            if let Some(e) = r.intercommunality_id {
                // Frozen on the opening day: a commune that has left since the draft is refused.
                let members: HashSet<i32> = member_communes_on(db, e, day).await?.into_iter().collect();
                if ids.iter().any(|c| !members.contains(c)) {
                    return Err(AppError::validation("communes", "a chosen commune is no longer a member"));
                }
            }
            ids
        }
    };
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        out.extend(
            cols().filter(commune::Column::Id.is_in(chunk.iter().copied())).into_tuple::<Frozen>().all(db).await?,
        );
    }
    out.sort_by_key(|a| a.0);
    Ok(out)
}

/// The people told of a referral for a commune: its mayor and its DGS today. Reads the
/// mandates of these communes only, 2,000 communes per statement.
async fn officers_of<C: ConnectionTrait>(db: &C, communes: &HashSet<i32>) -> AppResult<Vec<i32>> {
    let today = crate::time::today_paris();
    let ids: Vec<i32> = communes.iter().copied().collect();
    let mut people = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let rows = mandate::Entity::find()
            .filter(mandate::Column::Role.is_in([Role::Mayor.as_str(), Role::Dgs.as_str()]))
            .filter(mandate::Column::CommuneId.is_in(chunk.iter().copied()))
            .filter(mandate::Column::StartDate.lte(today))
            .filter(mandate::Column::EndDate.is_null().or(mandate::Column::EndDate.gt(today)))
            .all(db)
            .await?;
        people.extend(rows.into_iter().map(|m| m.person_id));
    }
    people.sort_unstable();
    people.dedup();
    Ok(people)
}

async fn notify_officers<C: ConnectionTrait>(
    conn: &C,
    communes: &HashSet<i32>,
    kind: &str,
    referral: i32,
    message: &str,
) -> AppResult<usize> {
    let people = officers_of(conn, communes).await?;
    notify(conn, &people, kind, About { referral: Some(referral), ..About::default() }, message).await
}

/// Extends the deadline to 23:59:59 Paris on `day`; the addressees are told.
pub async fn extend_deadline(
    state: &AppState,
    actor: &Actor,
    id: i32,
    expected_version: i32,
    day: NaiveDate,
    reason: &str,
) -> AppResult<referral::Model> {
    let txn = crate::db::write(&state.db).await?;
    let r = referral_of(&txn, id).await?;
    authorize(&txn, actor, Action::ManageReferrals { intercommunality: r.intercommunality_id }).await?;
    require_status(&r, ReferralStatus::Open, "extend the deadline")?;
    if let Some(m) = r.duration_months {
        // The law fixes these periods, and with them the day silence becomes an opinion.
        return Err(AppError::validation(
            "deadlineDate",
            format!("{} has a legal period of {m} months from the clock's start: it cannot be extended", r.procedure),
        ));
    }
    let reason = check_text("reason", reason, 2_000)?;
    let new = end_of_day(day)?;
    if r.deadline.is_some_and(|d| new <= d) {
        return Err(AppError::validation("deadlineDate", "an extension moves the deadline later"));
    }
    if day > paris_day(Utc::now()) + Duration::days(366) {
        return Err(AppError::validation("deadlineDate", "at most a year from today"));
    }
    let next = next_version(expected_version)?;
    let now = Utc::now();
    let res = referral::Entity::update_many()
        .col_expr(referral::Column::Deadline, Expr::value(new))
        .col_expr(referral::Column::DeadlineDate, Expr::value(day))
        .col_expr(referral::Column::UpdatedAt, Expr::value(now))
        .col_expr(referral::Column::Version, Expr::value(next))
        .filter(referral::Column::Id.eq(id))
        .filter(referral::Column::Version.eq(expected_version))
        .filter(referral::Column::Status.eq(ReferralStatus::Open.as_str()))
        .filter(referral::Column::Deadline.gt(passed_before(now)))
        .exec(&txn)
        .await?;
    if res.rows_affected == 0 {
        let cur = referral_of(&txn, id).await?;
        require_status(&cur, ReferralStatus::Open, "extend the deadline")?;
        return Err(AppError::stale("the referral", cur.version, expected_version));
    }
    let communes: HashSet<i32> = addressees(&txn, id).await?.into_iter().map(|a| a.commune_id).collect();
    let told = notify_officers(
        &txn,
        &communes,
        "DEADLINE_EXTENDED",
        id,
        &format!("Saisine « {} »: échéance reportée au {} à 23:59:59 ({reason})", r.title, day),
    )
    .await?;
    let r2 = referral_of(&txn, id).await?;
    record(
        &txn,
        actor,
        audit(
            "EXTEND_REFERRAL_DEADLINE",
            "Referral",
            id,
            &r2,
            json!({ "from": r.deadline, "to": new, "reason": reason, "told": told }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(r2)
}

pub async fn addressees<C: ConnectionTrait>(db: &C, referral_id: i32) -> AppResult<Vec<referral_addressee::Model>> {
    Ok(referral_addressee::Entity::find()
        .filter(referral_addressee::Column::ReferralId.eq(referral_id))
        .order_by_asc(referral_addressee::Column::CommuneId)
        .all(db)
        .await?)
}

pub async fn addressee_of<C: ConnectionTrait>(
    db: &C,
    referral_id: i32,
    commune_id: i32,
) -> AppResult<referral_addressee::Model> {
    referral_addressee::Entity::find()
        .filter(referral_addressee::Column::ReferralId.eq(referral_id))
        .filter(referral_addressee::Column::CommuneId.eq(commune_id))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("this commune's response (the commune is not an addressee)"))
}

// ---- responses -------------------------------------------------------------------------

#[derive(Clone, Debug, Default)]
pub struct ResponseInput {
    pub opinion: Option<Opinion>,
    pub reasons: Option<String>,
    pub deliberation_number: Option<String>,
    pub deliberation_date: Option<NaiveDate>,
    pub answers: Option<Value>,
}

/// Saves a commune's response as a draft (`submit` false: anyone acting for the commune)
/// or submits it (the mayor or a signature delegate). Every save is a revision. Refused
/// with DEADLINE_PASSED after the deadline and CONFLICT when `expected_version` is stale.
pub async fn save_response(
    state: &AppState,
    actor: &Actor,
    referral_id: i32,
    commune_id: i32,
    expected_version: i32,
    input: ResponseInput,
    submit: bool,
) -> AppResult<referral_addressee::Model> {
    let txn = crate::db::write(&state.db).await?;
    let r = referral_of(&txn, referral_id).await?;
    let action = if submit {
        Action::SubmitResponse { commune: commune_id }
    } else {
        Action::DraftResponse { commune: commune_id }
    };
    let p = authorize(&txn, actor, action).await?;
    let a = addressee_of(&txn, referral_id, commune_id).await?;
    require_status(&r, ReferralStatus::Open, "answer")?;
    if !submit && a.status == ResponseStatus::Submitted.as_str() {
        return Err(AppError::rule("INVALID_TRANSITION", "a submitted response is amended by submitting it again"));
    }
    let procedure = procedure_of(&r)?;
    let checked = check_response(&txn, &r, procedure, commune_id, &input, submit).await?;
    let next = next_version(expected_version)?;
    let now = Utc::now();
    let person = p.map(|p| p.person_id);
    let status = if submit { ResponseStatus::Submitted } else { ResponseStatus::Draft };
    let mut q = referral_addressee::Entity::update_many()
        .col_expr(referral_addressee::Column::Status, Expr::value(status.as_str()))
        .col_expr(referral_addressee::Column::Opinion, Expr::value(input.opinion.map(|o| o.as_str())))
        .col_expr(referral_addressee::Column::Reasons, Expr::value(checked.reasons.clone()))
        .col_expr(referral_addressee::Column::DeliberationNumber, Expr::value(checked.deliberation_number.clone()))
        .col_expr(referral_addressee::Column::DeliberationDate, Expr::value(input.deliberation_date))
        .col_expr(referral_addressee::Column::Answers, Expr::value(checked.answers.clone()))
        .col_expr(referral_addressee::Column::FormVersion, Expr::value(checked.form_version))
        .col_expr(referral_addressee::Column::SavedAt, Expr::value(now))
        .col_expr(referral_addressee::Column::SavedByPersonId, Expr::value(person))
        .col_expr(referral_addressee::Column::Version, Expr::value(next));
    if submit {
        q = q
            .col_expr(referral_addressee::Column::SubmittedAt, Expr::value(now))
            .col_expr(referral_addressee::Column::SubmittedByPersonId, Expr::value(person));
    }
    let res = q
        .filter(referral_addressee::Column::Id.eq(a.id))
        .filter(referral_addressee::Column::Version.eq(expected_version))
        .exec(&txn)
        .await?;
    if res.rows_affected == 0 {
        let cur = addressee_of(&txn, referral_id, commune_id).await?;
        return Err(AppError::stale("this commune's response", cur.version, expected_version));
    }
    // The deadline as it stands now, under the response's row lock: an extension or the
    // closing job that committed meanwhile is seen.
    let r = referral_of(&txn, referral_id).await?;
    if deadline_passed(&r, Utc::now()) || stored_status(&r)? != ReferralStatus::Open {
        return Err(AppError::rule("DEADLINE_PASSED", "the deadline has passed: the response can no longer change"));
    }
    response_revision::ActiveModel {
        addressee_id: Set(a.id),
        revision: Set(next),
        status: Set(status.as_str().into()),
        opinion: Set(input.opinion.map(|o| o.as_str().into())),
        reasons: Set(checked.reasons),
        deliberation_number: Set(checked.deliberation_number),
        deliberation_date: Set(input.deliberation_date),
        answers: Set(checked.answers),
        form_version: Set(checked.form_version),
        person_id: Set(person),
        at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let action = if submit { "SUBMIT_RESPONSE" } else { "SAVE_RESPONSE_DRAFT" };
    record(
        &txn,
        actor,
        audit(action, "ReferralResponse", a.id, &r, json!({ "referral": referral_id, "commune": commune_id, "revision": next, "opinion": input.opinion.map(|o| o.as_str()) })),
    )
    .await?;
    let saved = addressee_of(&txn, referral_id, commune_id).await?;
    txn.commit().await?;
    Ok(saved)
}

struct CheckedResponse {
    reasons: Option<String>,
    deliberation_number: Option<String>,
    answers: Option<String>,
    form_version: Option<i32>,
}

async fn check_response<C: ConnectionTrait>(
    db: &C,
    r: &referral::Model,
    procedure: Procedure,
    commune_id: i32,
    input: &ResponseInput,
    submit: bool,
) -> AppResult<CheckedResponse> {
    let reasons = opt_text("reasons", input.reasons.as_deref(), 20_000)?;
    let deliberation_number = opt_text("deliberationNumber", input.deliberation_number.as_deref(), 64)?;
    if let Some(d) = input.deliberation_date {
        if d > crate::time::today_paris() {
            return Err(AppError::validation("deliberationDate", "a deliberation cannot be dated in the future"));
        }
    }
    match procedure.kind() {
        ReferralKind::Opinion => {
            if input.answers.is_some() {
                return Err(AppError::validation("answers", "an opinion referral takes no answers"));
            }
            if submit {
                let opinion = input.opinion.ok_or_else(|| AppError::validation("opinion", "an opinion is required"))?;
                if matches!(opinion, Opinion::FavourableWithReservations | Opinion::Unfavourable) && reasons.is_none() {
                    return Err(AppError::validation(
                        "reasons",
                        "reservations and unfavourable opinions give their reasons",
                    ));
                }
                if procedure.needs_deliberation() {
                    if deliberation_number.is_none() {
                        return Err(AppError::validation(
                            "deliberationNumber",
                            "this procedure is answered by a council deliberation: give its number",
                        ));
                    }
                    if input.deliberation_date.is_none() {
                        return Err(AppError::validation(
                            "deliberationDate",
                            "give the date of the council's deliberation",
                        ));
                    }
                }
            }
            Ok(CheckedResponse { reasons, deliberation_number, answers: None, form_version: None })
        }
        ReferralKind::DataCollection => {
            if input.opinion.is_some() {
                return Err(AppError::validation("opinion", "a data collection asks for answers, not an opinion"));
            }
            let f = current_form(db, r.id)
                .await?
                .ok_or_else(|| AppError::internal("open data collection without a form"))?;
            let fields = form::parse_fields(f.fields.as_deref()).map_err(AppError::internal)?;
            let answers = input.answers.clone().unwrap_or(Value::Null);
            let clean = form::validate_answers(&fields, &answers, submit)
                .map_err(|e| AppError::validation(&e.path, e.message))?;
            check_files(db, r.id, commune_id, &fields, &clean).await?;
            Ok(CheckedResponse {
                reasons,
                deliberation_number,
                answers: Some(Value::Object(clean).to_string()),
                form_version: Some(f.form_version),
            })
        }
    }
}

/// A FILE answer names a document this commune uploaded to this referral.
async fn check_files<C: ConnectionTrait>(
    db: &C,
    referral_id: i32,
    commune_id: i32,
    fields: &[Field],
    answers: &serde_json::Map<String, Value>,
) -> AppResult<()> {
    for f in fields.iter().filter(|f| f.field_type() == form::FieldType::File) {
        let Some(raw) = answers.get(&f.key).and_then(Value::as_str) else { continue };
        let path = format!("answers.{}", f.key);
        let id = crate::ids::decode(&path, crate::ids::Kind::ReferralDocument, &async_graphql::ID(raw.into()))?;
        // The file's owners only: its content is never read here.
        let ok = referral_document::Entity::find_by_id(id)
            .select_only()
            .columns([referral_document::Column::ReferralId, referral_document::Column::CommuneId])
            .into_tuple::<(i32, Option<i32>)>()
            .one(db)
            .await?
            .is_some_and(|(r, c)| r == referral_id && c == Some(commune_id));
        if !ok {
            return Err(AppError::validation(&path, "not a file this commune uploaded to this referral"));
        }
    }
    Ok(())
}

pub async fn revisions<C: ConnectionTrait>(db: &C, addressee_id: i32) -> AppResult<Vec<response_revision::Model>> {
    Ok(response_revision::Entity::find()
        .filter(response_revision::Column::AddresseeId.eq(addressee_id))
        .order_by_asc(response_revision::Column::Revision)
        .all(db)
        .await?)
}

// ---- signature delegations -------------------------------------------------------------

/// The mayor delegates their signature for referral responses to a person who serves
/// the commune today (a deputy mayor, councillor, DGS...). It ends with the mayor's
/// mandate, or when revoked.
pub async fn grant_signature(
    state: &AppState,
    actor: &Actor,
    commune_id: i32,
    person_id: i32,
) -> AppResult<signature_delegation::Model> {
    let txn = crate::db::write(&state.db).await?;
    authorize(&txn, actor, Action::DelegateSignature { commune: commune_id }).await?;
    let today = crate::time::today_paris();
    let held = mandate::Entity::find()
        .filter(mandate::Column::CommuneId.eq(commune_id))
        .all(&txn)
        .await?
        .into_iter()
        .filter(|m| runs_on(m, today))
        .collect::<Vec<_>>();
    let mayor = held
        .iter()
        .find(|m| Role::parse(&m.role) == Some(Role::Mayor))
        .ok_or_else(|| AppError::rule("SEAT_VACANT", "the commune has no mayor today"))?;
    if mayor.person_id == person_id {
        return Err(AppError::validation("personId", "the mayor signs without a delegation"));
    }
    if !held.iter().any(|m| m.person_id == person_id && Role::parse(&m.role) != Some(Role::Mayor)) {
        return Err(AppError::validation("personId", "a signature is delegated to someone serving the commune today"));
    }
    let scope = crate::territory::queries::current_intercommunalities_of(&txn, commune_id).await?.first().copied();
    let d = signature_delegation::ActiveModel {
        commune_id: Set(commune_id),
        person_id: Set(person_id),
        mayor_mandate_id: Set(mayor.id),
        start_date: Set(today),
        end_date: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    record(
        &txn,
        actor,
        Entry {
            action: "GRANT_SIGNATURE_DELEGATION",
            target_type: "SignatureDelegation",
            target_id: Some(d.id),
            scope,
            summary: json!({ "commune": commune_id, "person": person_id, "mayorMandate": mayor.id }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(d)
}

pub async fn revoke_signature(state: &AppState, actor: &Actor, id: i32) -> AppResult<signature_delegation::Model> {
    let txn = crate::db::write(&state.db).await?;
    let d = signature_delegation::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("signature delegation"))?;
    authorize(&txn, actor, Action::DelegateSignature { commune: d.commune_id }).await?;
    let today = crate::time::today_paris();
    if d.end_date.is_some_and(|e| e <= today) {
        return Err(AppError::rule("INVALID_TRANSITION", "this delegation has already ended"));
    }
    let scope = crate::territory::queries::current_intercommunalities_of(&txn, d.commune_id).await?.first().copied();
    // Ended only if it still runs, in the same statement: of two revocations racing on
    // PostgreSQL (where the read above takes no lock), one ends it, the other is refused.
    use signature_delegation::Column as D;
    let ended = signature_delegation::Entity::update_many()
        .col_expr(D::EndDate, Expr::value(Some(today)))
        .filter(D::Id.eq(d.id))
        .filter(sea_orm::Condition::any().add(D::EndDate.is_null()).add(D::EndDate.gt(today)))
        .exec(&txn)
        .await?;
    if ended.rows_affected != 1 {
        return Err(AppError::Conflict("this delegation was revoked meanwhile; reload".into()));
    }
    let d = signature_delegation::Entity::find_by_id(d.id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("signature delegation"))?;
    record(
        &txn,
        actor,
        Entry {
            action: "REVOKE_SIGNATURE_DELEGATION",
            target_type: "SignatureDelegation",
            target_id: Some(d.id),
            scope,
            summary: json!({ "commune": d.commune_id, "person": d.person_id }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(d)
}

// ---- outcome, progress and dataset ------------------------------------------------------

/// (commune, population, status, opinion) of every addressee: one statement.
pub async fn standings_rows<C: ConnectionTrait>(
    db: &C,
    referral_id: i32,
) -> AppResult<Vec<(i32, Option<i64>, String, Option<String>)>> {
    Ok(referral_addressee::Entity::find()
        .select_only()
        .columns([
            referral_addressee::Column::CommuneId,
            referral_addressee::Column::Population,
            referral_addressee::Column::Status,
            referral_addressee::Column::Opinion,
        ])
        .filter(referral_addressee::Column::ReferralId.eq(referral_id))
        .into_tuple()
        .all(db)
        .await?)
}

/// The outcome as it stands at `now` (final once the deadline has passed). Counted in
/// SQL, by stored status and opinion (a handful of rows whatever the addressees), plus
/// the most populous addressee: two statements.
pub async fn outcome_of<C: ConnectionTrait>(db: &C, r: &referral::Model, now: DateTime<Utc>) -> AppResult<Outcome> {
    use referral_addressee::Column as C;
    use sea_orm::sea_query::{Alias, ExprTrait};
    let groups: Vec<(String, Option<String>, i64, Option<i64>)> = referral_addressee::Entity::find()
        .select_only()
        .column(C::Status)
        .column(C::Opinion)
        .column_as(Expr::col(C::Id).count().cast_as(Alias::new("BIGINT")), "communes")
        .column_as(Expr::col(C::Population).sum().cast_as(Alias::new("BIGINT")), "population")
        .filter(C::ReferralId.eq(r.id))
        .group_by(C::Status)
        .group_by(C::Opinion)
        .into_tuple()
        .all(db)
        .await?;
    let biggest: Option<(Option<i64>, String, Option<String>)> = referral_addressee::Entity::find()
        .select_only()
        .columns([C::Population, C::Status, C::Opinion])
        .filter(C::ReferralId.eq(r.id))
        .filter(C::Population.is_not_null())
        .order_by_desc(C::Population)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    let passed = deadline_passed(r, now);
    let silence = silence_of(r)?;
    let position = |status: &str, opinion: Option<&str>| {
        let s = ResponseStatus::stored(status)?.effective(passed, silence);
        let opinion = opinion.map(Opinion::stored).transpose()?;
        Ok::<_, AppError>(Position::of(s, opinion))
    };
    let counts: Vec<PositionCount> = groups
        .iter()
        .map(|(status, opinion, communes, population)| {
            Ok(PositionCount {
                position: position(status, opinion.as_deref())?,
                communes: *communes,
                population: population.unwrap_or(0),
            })
        })
        .collect::<AppResult<_>>()?;
    let biggest = biggest
        .map(|(population, status, opinion)| {
            Ok::<_, AppError>(Standing {
                population: population.unwrap_or(0),
                position: position(&status, opinion.as_deref())?,
            })
        })
        .transpose()?;
    let day = r.deadline.map(paris_day).map(|d| d.to_string()).unwrap_or_default();
    Ok(outcome(procedure_of(r)?, decision_of(r)?, r.strict_second_branch, &counts, biggest, passed, &day))
}

/// Response rate and the communes still to answer, with a breakdown by territory (the
/// intercommunality's groupings) or by département for a national consultation.
pub struct Progress {
    pub addressees: i64,
    pub submitted: i64,
    pub drafts: i64,
    pub pending: Vec<i32>,
    pub groups: Vec<GroupProgress>,
}

pub struct GroupProgress {
    pub name: String,
    pub addressees: i64,
    pub submitted: i64,
}

pub async fn progress<C: ConnectionTrait>(db: &C, r: &referral::Model) -> AppResult<Progress> {
    use crate::territory::model::{territory, territory_commune};
    let rows = standings_rows(db, r.id).await?;
    let mut group_of: HashMap<i32, String> = HashMap::new();
    match r.intercommunality_id {
        Some(e) => {
            let names: Vec<(i32, String)> = territory_commune::Entity::find()
                .select_only()
                .column(territory_commune::Column::CommuneId)
                .column(territory::Column::Name)
                .join(
                    JoinType::InnerJoin,
                    territory_commune::Entity::belongs_to(territory::Entity)
                        .from(territory_commune::Column::TerritoryId)
                        .to(territory::Column::Id)
                        .into(),
                )
                .filter(territory::Column::IntercommunalityId.eq(e))
                .into_tuple()
                .all(db)
                .await?;
            group_of.extend(names);
        }
        None => {
            let deps: Vec<(i32, String)> = referral_addressee::Entity::find()
                .select_only()
                .column(referral_addressee::Column::CommuneId)
                .column(commune::Column::Departement)
                .join(
                    JoinType::InnerJoin,
                    referral_addressee::Entity::belongs_to(commune::Entity)
                        .from(referral_addressee::Column::CommuneId)
                        .to(commune::Column::Id)
                        .into(),
                )
                .filter(referral_addressee::Column::ReferralId.eq(r.id))
                .into_tuple()
                .all(db)
                .await?;
            group_of.extend(deps);
        }
    }
    let mut p = Progress { addressees: rows.len() as i64, submitted: 0, drafts: 0, pending: vec![], groups: vec![] };
    let mut groups: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
    for (c, _, status, _) in &rows {
        let done = status == ResponseStatus::Submitted.as_str();
        if done {
            p.submitted += 1;
        } else {
            if status == ResponseStatus::Draft.as_str() {
                p.drafts += 1;
            }
            p.pending.push(*c);
        }
        let g = groups.entry(group_of.get(c).cloned().unwrap_or_else(|| "—".into())).or_default();
        g.0 += 1;
        g.1 += i64::from(done);
    }
    p.groups = groups
        .into_iter()
        .map(|(name, (addressees, submitted))| GroupProgress { name, addressees, submitted })
        .collect();
    Ok(p)
}

fn commune_join() -> sea_orm::RelationDef {
    referral_addressee::Entity::belongs_to(commune::Entity)
        .from(referral_addressee::Column::CommuneId)
        .to(commune::Column::Id)
        .into()
}

/// A response with its commune's name and INSEE code.
pub struct Named {
    pub a: referral_addressee::Model,
    pub name: String,
    pub insee_code: String,
}

/// The addressees the view sees, with their commune's name and code: two statements.
pub async fn responses_named<C: ConnectionTrait>(db: &C, referral_id: i32, view: &View) -> AppResult<Vec<Named>> {
    let names: HashMap<i32, (String, String)> = referral_addressee::Entity::find()
        .select_only()
        .column(referral_addressee::Column::CommuneId)
        .column(commune::Column::Name)
        .column(commune::Column::InseeCode)
        .join(JoinType::InnerJoin, commune_join())
        .filter(referral_addressee::Column::ReferralId.eq(referral_id))
        .into_tuple::<(i32, String, String)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(c, n, i)| (c, (n, i)))
        .collect();
    let mut out: Vec<Named> = addressees(db, referral_id)
        .await?
        .into_iter()
        .filter(|a| view.sees(a.commune_id))
        .map(|a| {
            let (name, insee_code) = names.get(&a.commune_id).cloned().unwrap_or_default();
            Named { a, name, insee_code }
        })
        .collect();
    out.sort_by(|x, y| x.name.cmp(&y.name).then(x.insee_code.cmp(&y.insee_code)));
    Ok(out)
}

/// A data collection's answers, one row per commune (submitted answers only), with
/// totals and per-inhabitant values of the numeric fields.
pub struct Dataset {
    pub form_version: Option<i32>,
    pub fields: Vec<Field>,
    pub rows: Vec<form::Row>,
    pub totals: Vec<form::Total>,
}

pub struct SortBy<'a> {
    pub field: Option<&'a str>,
    pub descending: bool,
    pub per_inhabitant: bool,
}

pub async fn dataset<C: ConnectionTrait>(
    db: &C,
    r: &referral::Model,
    view: &View,
    sort: SortBy<'_>,
) -> AppResult<Dataset> {
    let f = current_form(db, r.id).await?;
    let fields = form::parse_fields(f.as_ref().and_then(|f| f.fields.as_deref())).map_err(AppError::internal)?;
    if let Some(k) = sort.field {
        if !fields.iter().any(|f| f.key == k) {
            return Err(AppError::validation("sortBy", format!("no field {k} in this form")));
        }
    }
    let now = Utc::now();
    let mut rows = Vec::new();
    for n in responses_named(db, r.id, view).await? {
        let answered = response_status(r, &n.a, now)?.answered();
        rows.push(form::Row {
            commune_id: n.a.commune_id,
            name: n.name,
            insee_code: n.insee_code,
            population: n.a.population,
            answers: if answered {
                form::parse_answers(n.a.answers.as_deref()).map_err(AppError::internal)?
            } else {
                None
            },
        });
    }
    form::sort_rows(&mut rows, sort.field, sort.descending, sort.per_inhabitant);
    let totals = form::totals(&fields, &rows);
    Ok(Dataset { form_version: f.map(|f| f.form_version), fields, rows, totals })
}

/// Every response the actor sees, as CSV: one row per commune, the answers' fields last.
pub async fn responses_csv<C: ConnectionTrait>(db: &C, actor: &Actor, id: i32) -> AppResult<(String, Vec<u8>)> {
    let (r, view) = visible(db, actor, id).await?;
    let fields = form::parse_fields(current_form(db, id).await?.and_then(|f| f.fields).as_deref())
        .map_err(AppError::internal)?;
    let mut header: Vec<String> = [
        "insee_code",
        "commune",
        "population",
        "population_year",
        "status",
        "opinion",
        "reasons",
        "deliberation_number",
        "deliberation_date",
        "submitted_at",
        "form_version",
    ]
    .map(String::from)
    .to_vec();
    header.extend(fields.iter().map(|f| f.key.clone()));
    let now = Utc::now();
    let mut rows = Vec::new();
    for mut n in responses_named(db, id, &view).await? {
        n.a = view.redact(n.a);
        let a = &n.a;
        let answers = form::parse_answers(a.answers.as_deref()).map_err(AppError::internal)?.unwrap_or_default();
        let opt = |v: Option<String>| v.unwrap_or_default();
        let mut row = vec![
            n.insee_code.clone(),
            n.name.clone(),
            opt(a.population.map(|p| p.to_string())),
            opt(a.population_year.map(|y| y.to_string())),
            response_status(&r, a, now)?.as_str().to_string(),
            opt(a.opinion.clone()),
            opt(a.reasons.as_deref().map(form::text_cell)),
            opt(a.deliberation_number.as_deref().map(form::text_cell)),
            opt(a.deliberation_date.map(|d| d.to_string())),
            opt(a.submitted_at.map(|t| t.to_rfc3339())),
            opt(a.form_version.map(|v| v.to_string())),
        ];
        row.extend(fields.iter().map(|f| answers.get(&f.key).map(form::cell).unwrap_or_default()));
        rows.push(row);
    }
    let csv = form::to_csv(&header, &rows).map_err(AppError::internal)?;
    Ok((format!("saisine-{id}-reponses.csv"), csv))
}

/// A data collection's dataset as CSV: each numeric field followed by its value per inhabitant.
pub async fn dataset_csv<C: ConnectionTrait>(db: &C, actor: &Actor, id: i32) -> AppResult<(String, Vec<u8>)> {
    let (r, view) = visible(db, actor, id).await?;
    if procedure_of(&r)?.kind() != ReferralKind::DataCollection {
        return Err(AppError::validation("id", "only a data collection has a dataset"));
    }
    let d = dataset(db, &r, &view, SortBy { field: None, descending: false, per_inhabitant: false }).await?;
    let mut header: Vec<String> = ["insee_code", "commune", "population"].map(String::from).to_vec();
    for f in &d.fields {
        header.push(f.key.clone());
        if f.field_type().numeric() {
            header.push(format!("{}_per_inhabitant", f.key));
        }
    }
    let rows: Vec<Vec<String>> = d
        .rows
        .iter()
        .map(|row| {
            let mut out = vec![
                row.insee_code.clone(),
                row.name.clone(),
                row.population.map(|p| p.to_string()).unwrap_or_default(),
            ];
            for f in &d.fields {
                out.push(row.answers.as_ref().and_then(|a| a.get(&f.key)).map(form::cell).unwrap_or_default());
                if f.field_type().numeric() {
                    out.push(form::per_inhabitant(row, &f.key).map(|x| x.to_string()).unwrap_or_default());
                }
            }
            out
        })
        .collect();
    let csv = form::to_csv(&header, &rows).map_err(AppError::internal)?;
    Ok((format!("saisine-{id}-donnees.csv"), csv))
}

// ---- the deadline job ------------------------------------------------------------------

/// What one run of the job did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct JobRun {
    pub closed: usize,
    pub reminders: usize,
}

/// Closes every open referral whose deadline has passed (each addressee without a
/// submitted response gets DEEMED_FAVOURABLE or NO_RESPONSE) and sends the reminders due.
/// Idempotent: each step is guarded by the state it changes, so a second run, or a run
/// in another process, does nothing more.
pub async fn run_jobs(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<JobRun> {
    let actor = Actor::system("deadline");
    let mut run = JobRun::default();
    let due = referral::Entity::find()
        .filter(referral::Column::Status.eq(ReferralStatus::Open.as_str()))
        .filter(referral::Column::Deadline.lte(passed_before(now)))
        .all(db)
        .await?;
    // One referral's failure does not hold the others back; it is retried next time.
    for r in due {
        match close(db, &actor, &r, now).await {
            Ok(closed) => run.closed += usize::from(closed),
            Err(e) => tracing::error!(referral = r.id, error = %e, "closing a referral failed"),
        }
    }
    let open = referral::Entity::find()
        .filter(referral::Column::Status.eq(ReferralStatus::Open.as_str()))
        .filter(referral::Column::Deadline.gt(passed_before(now)))
        .all(db)
        .await?;
    for r in open {
        match remind(db, &actor, &r, now).await {
            Ok(told) => run.reminders += told,
            Err(e) => tracing::error!(referral = r.id, error = %e, "sending a reminder failed"),
        }
    }
    Ok(run)
}

async fn close(db: &DatabaseConnection, actor: &Actor, r: &referral::Model, now: DateTime<Utc>) -> AppResult<bool> {
    let silence = silence_of(r)?;
    let txn = crate::db::write(db).await?;
    let res = referral::Entity::update_many()
        .col_expr(referral::Column::Status, Expr::value(ReferralStatus::Closed.as_str()))
        .col_expr(referral::Column::ClosedAt, Expr::value(now))
        .col_expr(referral::Column::Version, Expr::col(referral::Column::Version).add(1))
        .filter(referral::Column::Id.eq(r.id))
        .filter(referral::Column::Status.eq(ReferralStatus::Open.as_str()))
        .filter(referral::Column::Deadline.lte(passed_before(now)))
        .exec(&txn)
        .await?;
    if res.rows_affected == 0 {
        return Ok(false);
    }
    let silent = ResponseStatus::Pending.effective(true, silence);
    let res = referral_addressee::Entity::update_many()
        .col_expr(referral_addressee::Column::Status, Expr::value(silent.as_str()))
        .col_expr(referral_addressee::Column::Version, Expr::col(referral_addressee::Column::Version).add(1))
        .filter(referral_addressee::Column::ReferralId.eq(r.id))
        .filter(
            referral_addressee::Column::Status
                .is_in([ResponseStatus::Pending.as_str(), ResponseStatus::Draft.as_str()]),
        )
        .exec(&txn)
        .await?;
    record(
        &txn,
        actor,
        audit(
            "CLOSE_REFERRAL",
            "Referral",
            r.id,
            r,
            json!({ "deadline": r.deadline, "silent": res.rows_affected, "silenceMeans": silent.as_str() }),
        ),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(referral = r.id, silent = res.rows_affected, "referral closed at its deadline");
    Ok(true)
}

/// Sends the latest reminder due (from 00:00 Paris, `offset` days before the deadline's
/// day) to the officers of communes that have not submitted; offsets already past are
/// recorded without a message. Returns the notifications sent.
async fn remind(db: &DatabaseConnection, actor: &Actor, r: &referral::Model, now: DateTime<Utc>) -> AppResult<usize> {
    let Some(deadline) = r.deadline else { return Ok(0) };
    let today = paris_day(now);
    let deadline_day = paris_day(deadline);
    let sent: HashSet<i32> = referral_reminder::Entity::find()
        .filter(referral_reminder::Column::ReferralId.eq(r.id))
        .filter(referral_reminder::Column::Deadline.eq(deadline))
        .all(db)
        .await?
        .into_iter()
        .map(|x| x.offset_days)
        .collect();
    let due: Vec<i32> = reminder_days(r)
        .into_iter()
        .filter(|d| !sent.contains(d) && today >= deadline_day - Duration::days(i64::from(*d)))
        .collect();
    let Some(&latest) = due.iter().min() else { return Ok(0) };
    let txn = crate::db::write(db).await?;
    let silent: HashSet<i32> = standings_rows(&txn, r.id)
        .await?
        .into_iter()
        .filter(|(_, _, s, _)| s != ResponseStatus::Submitted.as_str())
        .map(|(c, ..)| c)
        .collect();
    let mut told = 0;
    for d in &due {
        let recipients = if *d == latest {
            let days = (deadline_day - today).num_days();
            notify_officers(
                &txn,
                &silent,
                "REFERRAL_REMINDER",
                r.id,
                &format!(
                    "Saisine « {} »: réponse attendue avant le {deadline_day} à 23:59:59 ({days} jour(s))",
                    r.title
                ),
            )
            .await?
        } else {
            0
        };
        told += recipients;
        let row = referral_reminder::ActiveModel {
            referral_id: Set(r.id),
            offset_days: Set(*d),
            deadline: Set(deadline),
            sent_at: Set(now),
            recipients: Set(recipients as i32),
            ..Default::default()
        };
        match row.insert(&txn).await.map_err(AppError::from) {
            Ok(_) => {}
            // Another process recorded this reminder first (its unique row): the
            // transaction rolls back, its notifications with it.
            Err(AppError::Conflict(_)) => return Ok(0),
            Err(e) => return Err(e),
        }
    }
    record(
        &txn,
        actor,
        audit(
            "SEND_REFERRAL_REMINDER",
            "Referral",
            r.id,
            r,
            json!({ "offsets": due, "sent": latest, "communes": silent.len(), "told": told }),
        ),
    )
    .await?;
    match txn.commit().await.map_err(AppError::from) {
        Ok(()) => Ok(told),
        Err(AppError::Conflict(_)) => Ok(0),
        Err(e) => Err(e),
    }
}

/// Runs the job every `every` until the process stops; the first run is immediate, so a
/// deadline that passed while the server was down is handled on restart.
pub fn spawn_jobs(db: DatabaseConnection, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match run_jobs(&db, Utc::now()).await {
                Ok(run) if run != JobRun::default() => tracing::info!(?run, "referral deadlines"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "referral deadline job failed; retried at the next tick"),
            }
        }
    })
}
