//! Responses.
use chrono::{NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::{json, Value};

use super::addressee_of;
use super::preparing::{current_form, require_status};
use super::{audit, deadline_passed, referral_of};
use crate::audit::service::record;
use crate::auth::policy::{authorize_pass, Action};
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::platform::text::optional;
use crate::platform::versions::next_version;
use crate::referrals::form::{self, Field};
use crate::referrals::model::{referral, referral_addressee, referral_document, response_revision};
use crate::referrals::rules::{Opinion, Procedure, ReferralKind, ReferralStatus, ResponseStatus};
use crate::AppState;

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
) -> AppResult<Granted<referral_addressee::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let r = referral_of(&txn, referral_id).await?;
    let action = if submit {
        Action::SubmitResponse { commune: commune_id }
    } else {
        Action::DraftResponse { commune: commune_id }
    };
    let (p, allowed) = authorize_pass(&txn, actor, action).await?;
    let a = addressee_of(&txn, referral_id, commune_id).await?;
    require_status(&r, ReferralStatus::Open, "answer")?;
    if !submit && a.status == ResponseStatus::Submitted {
        return Err(AppError::rule("INVALID_TRANSITION", "a submitted response is amended by submitting it again"));
    }
    let procedure = r.procedure;
    let checked = check_response(&txn, &r, procedure, commune_id, &input, submit).await?;
    let next = next_version(expected_version)?;
    let now = Utc::now();
    let person = p.map(|p| p.person_id);
    let status = if submit { ResponseStatus::Submitted } else { ResponseStatus::Draft };
    let mut q = referral_addressee::Entity::update_many()
        .col_expr(referral_addressee::Column::Status, Expr::value(status))
        .col_expr(referral_addressee::Column::Opinion, Expr::value(input.opinion))
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
    if deadline_passed(&r, Utc::now()) || r.status != ReferralStatus::Open {
        return Err(AppError::rule("DEADLINE_PASSED", "the deadline has passed: the response can no longer change"));
    }
    response_revision::ActiveModel {
        addressee_id: Set(a.id),
        revision: Set(next),
        status: Set(status),
        opinion: Set(input.opinion),
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
    Ok(allowed.grant(saved))
}

pub(super) struct CheckedResponse {
    reasons: Option<String>,
    deliberation_number: Option<String>,
    answers: Option<Value>,
    form_version: Option<i32>,
}

pub(super) async fn check_response<C: ConnectionTrait>(
    db: &C,
    r: &referral::Model,
    procedure: Procedure,
    commune_id: i32,
    input: &ResponseInput,
    submit: bool,
) -> AppResult<CheckedResponse> {
    let reasons = optional("reasons", input.reasons.as_deref(), 20_000)?;
    let deliberation_number = optional("deliberationNumber", input.deliberation_number.as_deref(), 64)?;
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
            let fields = form::parse_fields(f.fields.as_ref()).map_err(AppError::internal)?;
            let answers = input.answers.clone().unwrap_or(Value::Null);
            let clean = form::validate_answers(&fields, &answers, submit)
                .map_err(|e| AppError::validation(&e.path, e.message))?;
            check_files(db, r.id, commune_id, &fields, &clean).await?;
            Ok(CheckedResponse {
                reasons,
                deliberation_number,
                answers: Some(Value::Object(clean)),
                form_version: Some(f.form_version),
            })
        }
    }
}

/// A FILE answer names a document this commune uploaded to this referral.
pub(super) async fn check_files<C: ConnectionTrait>(
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
