//! Who acts for which commune, and who sees which referral and response. These checks
//! are the only makers of the `Granted` rows the GraphQL objects of referrals and
//! responses hold (with the use cases, for what they wrote).
use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::{referral_of, status_of};
use crate::auth::policy::{acting_for, authorize, authorize_pass, pass, Action};
use crate::auth::{Actor, Granted, Pass};
use crate::error::{AppError, AppResult};
use crate::meetings::model::body;
use crate::meetings::service::Officer;
use crate::referrals::model::{referral, referral_addressee};
use crate::referrals::rules::{ReferralStatus, ResponseStatus};

/// What the actor sees of a referral's responses.
#[derive(Clone, Debug)]
pub struct View {
    /// The secretariat, the president, administrators: every response, live.
    pub officer: bool,
    /// The communes the actor acts for: their responses in full, drafts included.
    pub own: Vec<i32>,
    /// Other communes' responses are visible (closed, and not secretariat-only).
    pub others: bool,
    /// SeeReferral was granted.
    seen: Pass,
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
    pub fn shows_content(&self, commune: i32, status: ResponseStatus) -> bool {
        self.own.contains(&commune) || status == ResponseStatus::Submitted
    }
    /// The response as this actor may read it: its content blanked unless shown.
    pub fn redact(&self, a: referral_addressee::Model) -> referral_addressee::Model {
        if self.shows_content(a.commune_id, a.status) {
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
    /// The response as this actor may read it (redacted), if they see its commune's.
    pub fn response(&self, a: referral_addressee::Model) -> AppResult<Granted<referral_addressee::Model>> {
        if !self.sees(a.commune_id) {
            return Err(AppError::forbidden("you may not see this commune's response"));
        }
        Ok(self.seen.grant(self.redact(a)))
    }
    /// A file commune `a` attached to its response, if this actor sees that response's
    /// content.
    pub fn file<D>(&self, a: &referral_addressee::Model, d: D) -> AppResult<Granted<D>> {
        if self.sees(a.commune_id) && self.shows_content(a.commune_id, a.status) {
            Ok(self.seen.grant(d))
        } else {
            Err(AppError::forbidden("you may not see this commune's response"))
        }
    }
}

/// Authorises seeing the referral and says what of it the actor sees.
pub async fn view<C: ConnectionTrait>(db: &C, actor: &Actor, r: &referral::Model) -> AppResult<View> {
    let action = Action::SeeReferral { referral: r.id, intercommunality: r.intercommunality_id };
    let (p, seen) = authorize_pass(db, actor, action).await?;
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
    if !officer && r.status == ReferralStatus::Draft {
        return Err(AppError::forbidden("you may not see this referral"));
    }
    let own = acting_for(db, actor).await?.drafts.clone();
    let closed = status_of(r, Utc::now()) == ReferralStatus::Closed;
    Ok(View { officer, own, others: closed && !r.secretariat_only, seen })
}

/// The referral, for those who may see it.
pub async fn visible<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: i32,
) -> AppResult<(Granted<referral::Model>, View)> {
    let r = referral_of(db, id).await?;
    let v = view(db, actor, &r).await?;
    Ok((v.seen.grant(r), v))
}

/// The referrals the actor follows: in `scope` (an intercommunality) all of them for its
/// secretariat and its president; every one for an administrator without scope;
/// otherwise those addressed to the communes the actor acts for (opened ones: drafts have
/// no addressees yet). A visibility filter: each row is one `view` would let them see.
pub async fn followed<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    scope: Option<i32>,
) -> AppResult<Vec<Granted<referral::Model>>> {
    let seen = pass(db, actor, Action::Read).await?;
    let officer = match scope {
        Some(e) => {
            crate::auth::policy::granted(
                authorize(db, actor, Action::ManageReferrals { intercommunality: Some(e) }).await,
            )? || crate::auth::policy::is_president_of(db, actor, e).await?
        }
        // An administrator with no scope lists every referral, national ones included.
        None => actor.principal.as_ref().is_some_and(|p| p.role == crate::auth::PlatformRole::Admin),
    };
    let mut q = referral::Entity::find();
    if let Some(e) = scope {
        q = q.filter(referral::Column::IntercommunalityId.eq(e));
    }
    if !officer {
        // Those acting for communes: the opened referrals addressed to them.
        let acting = acting_for(db, actor).await?;
        let communes = &acting.drafts;
        let ids: Vec<i32> = referral_addressee::Entity::find()
            .select_only()
            .column(referral_addressee::Column::ReferralId)
            .filter(referral_addressee::Column::CommuneId.is_in(communes.iter().copied()))
            .distinct()
            .into_tuple()
            .all(db)
            .await?;
        q = q.filter(referral::Column::Id.is_in(ids));
    }
    Ok(q.all(db).await?.into_iter().map(|r| seen.grant(r)).collect())
}

// Named rules: what one sees because one sees a parent, each vouching for a child of
// the parent's grant. Free functions of this module (not methods of `Granted`) so that
// auth::granted depends on no domain.

/// A document of a referral one sees (its own, not a commune's attachment).
pub fn referral_document<D>(r: &Granted<referral::Model>, d: D) -> Granted<D> {
    r.vouch(d)
}

/// The body a referral one sees is linked to (its directory entry: what it holds asks
/// SeeBody).
pub fn referral_body(r: &Granted<referral::Model>, b: body::Model) -> Granted<body::Model> {
    r.vouch(b)
}

/// The secretariat and the president of an intercommunality see all its referrals.
pub fn officer_referral(o: &Granted<Officer>, r: referral::Model) -> Granted<referral::Model> {
    o.vouch(r)
}
