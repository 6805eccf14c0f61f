//! Preparing.
use std::collections::HashSet;

use chrono::{Duration, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::{json, Value};

use super::acting::{referral_document, visible};
use super::addressee_of;
use super::{audit, referral_of, status_of, DEFAULT_REMINDER_DAYS};
use crate::audit::service::record;
use crate::auth::policy::{authorize, authorize_pass, pass, Action};
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::platform::documents::{self, Upload};
use crate::platform::text::{optional, required};
use crate::platform::versions::{expect_one, next_version};
use crate::referrals::form::{self, Field};
use crate::referrals::model::{referral, referral_document, referral_form, CommuneIds, Days};
use crate::referrals::rules::{AddresseeMode, Decision, Procedure, ReferralKind, ReferralStatus, Silence};
use crate::territory::model::commune;
use crate::territory::queries::member_communes_on;
use crate::AppState;

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
pub(super) struct Checked {
    title: String,
    description: Option<String>,
    legal_basis: String,
    mode: AddresseeMode,
    chosen: Option<CommuneIds>,
    silence: Silence,
    decision: Decision,
    reminders: Days,
}

pub(super) async fn check_fields<C: ConnectionTrait>(
    db: &C,
    e: Option<i32>,
    procedure: Procedure,
    f: &ReferralFields,
) -> AppResult<Checked> {
    let d = procedure.defaults();
    let title = required("title", &f.title, 300)?;
    let description = optional("description", f.description.as_deref(), 20_000)?;
    let legal_basis = optional("legalBasis", f.legal_basis.as_deref(), 300)?.unwrap_or_else(|| d.legal_basis.into());
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
            Some(CommuneIds(ids))
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
    Ok(Checked { title, description, legal_basis, mode, chosen, silence, decision, reminders: Days(days) })
}

pub(super) fn fields_json(r: &referral::Model) -> Value {
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
) -> AppResult<Granted<referral::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let (p, allowed) = authorize_pass(&txn, actor, Action::ManageReferrals { intercommunality }).await?;
    let c = check_fields(&txn, intercommunality, procedure, &f).await?;
    let now = Utc::now();
    let r = referral::ActiveModel {
        intercommunality_id: Set(intercommunality),
        kind: Set(procedure.kind()),
        procedure: Set(procedure),
        title: Set(c.title),
        description: Set(c.description),
        legal_basis: Set(c.legal_basis),
        body_id: Set(f.body_id),
        meeting_id: Set(f.meeting_id),
        status: Set(ReferralStatus::Draft),
        addressee_mode: Set(c.mode),
        chosen_communes: Set(c.chosen),
        duration_months: Set(procedure.defaults().months.map(|m| m as i32)),
        deadline_date: Set(f.deadline_date),
        silence: Set(c.silence),
        decision: Set(c.decision),
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
    Ok(allowed.grant(r))
}

pub(super) fn require_status(r: &referral::Model, wanted: ReferralStatus, doing: &str) -> AppResult<()> {
    let now = Utc::now();
    let s = status_of(r, now);
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
) -> AppResult<Granted<referral::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let r = referral_of(&txn, id).await?;
    let allowed = pass(&txn, actor, Action::ManageReferrals { intercommunality: r.intercommunality_id }).await?;
    require_status(&r, ReferralStatus::Draft, "edit it once opened")?;
    let procedure = r.procedure;
    let c = check_fields(&txn, r.intercommunality_id, procedure, &f).await?;
    let next = next_version(expected_version)?;
    let res = referral::Entity::update_many()
        .col_expr(referral::Column::Title, Expr::value(c.title))
        .col_expr(referral::Column::Description, Expr::value(c.description))
        .col_expr(referral::Column::LegalBasis, Expr::value(c.legal_basis))
        .col_expr(referral::Column::BodyId, Expr::value(f.body_id))
        .col_expr(referral::Column::MeetingId, Expr::value(f.meeting_id))
        .col_expr(referral::Column::AddresseeMode, Expr::value(c.mode))
        .col_expr(referral::Column::ChosenCommunes, Expr::value(c.chosen))
        .col_expr(referral::Column::DeadlineDate, Expr::value(f.deadline_date))
        .col_expr(referral::Column::Silence, Expr::value(c.silence))
        .col_expr(referral::Column::Decision, Expr::value(c.decision))
        .col_expr(referral::Column::StrictSecondBranch, Expr::value(f.strict_second_branch))
        .col_expr(referral::Column::SecretariatOnly, Expr::value(f.secretariat_only))
        .col_expr(referral::Column::ReminderDays, Expr::value(c.reminders))
        .col_expr(referral::Column::UpdatedAt, Expr::value(Utc::now()))
        .col_expr(referral::Column::Version, Expr::value(next))
        .filter(referral::Column::Id.eq(id))
        .filter(referral::Column::Version.eq(expected_version))
        .filter(referral::Column::Status.eq(ReferralStatus::Draft))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "the referral", r.version, expected_version)?;
    let r = referral_of(&txn, id).await?;
    record(&txn, actor, audit("UPDATE_REFERRAL", "Referral", id, &r, fields_json(&r))).await?;
    txn.commit().await?;
    Ok(allowed.grant(r))
}

/// The form of a data collection: a new version each time; answers keep the version they
/// were given against. Allowed until the referral closes.
pub async fn set_form(state: &AppState, actor: &Actor, id: i32, fields: Vec<Field>) -> AppResult<referral_form::Model> {
    let txn = crate::db::write(&state.db).await?;
    let r = referral_of(&txn, id).await?;
    authorize(&txn, actor, Action::ManageReferrals { intercommunality: r.intercommunality_id }).await?;
    if r.procedure.kind() != ReferralKind::DataCollection {
        return Err(AppError::validation("fields", "only a data collection has a form"));
    }
    if status_of(&r, Utc::now()) == ReferralStatus::Closed {
        return Err(AppError::rule("DEADLINE_PASSED", "the referral is closed"));
    }
    form::check_fields(&fields).map_err(|e| AppError::validation(&e.path, e.message))?;
    lock_referral(&txn, id).await?;
    let last = current_form(&txn, id).await?.map_or(0, |f| f.form_version);
    let f = referral_form::ActiveModel {
        referral_id: Set(id),
        form_version: Set(last + 1),
        fields: Set(Some(serde_json::to_value(&fields).map_err(AppError::internal)?)),
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
pub(super) async fn lock_referral<C: ConnectionTrait>(conn: &C, id: i32) -> AppResult<referral::Model> {
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
    if status_of(&r, Utc::now()) == ReferralStatus::Closed {
        return Err(AppError::rule("DEADLINE_PASSED", "the referral is closed"));
    }
    let file = documents::check_upload(file, state.config.limits.document_bytes).await?;
    let d = referral_document::ActiveModel {
        referral_id: Set(id),
        commune_id: Set(commune),
        size_bytes: Set(file.size_bytes()),
        filename: Set(file.filename.clone()),
        media_type: Set(file.media_type.clone()),
        sha256: Set(file.sha256.clone()),
        uploaded_by_account_id: Set(p.map(|p| p.account_id)),
        uploaded_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    documents::put(&txn, &file).await?;
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
pub async fn document_for<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: i32,
) -> AppResult<Granted<referral_document::Model>> {
    let d = referral_document::Entity::find_by_id(id).one(db).await?.ok_or_else(|| AppError::not_found("document"))?;
    let (r, v) = visible(db, actor, d.referral_id).await?;
    match d.commune_id {
        Some(c) => {
            let a = addressee_of(db, d.referral_id, c).await?;
            v.file(&a, d)
        }
        None => Ok(referral_document(&r, d)),
    }
}

/// A referral document's content for a reader allowed by [`document_for`], checked
/// before any content is read; streamed.
pub async fn download_document(db: &DatabaseConnection, actor: &Actor, id: i32) -> AppResult<documents::Download> {
    documents::authorized(db, async {
        let d = document_for(db, actor, id).await?;
        Ok(d.reshape(|d| documents::FileMeta {
            filename: d.filename,
            media_type: d.media_type,
            sha256: d.sha256,
            size_bytes: d.size_bytes,
        }))
    })
    .await
}
