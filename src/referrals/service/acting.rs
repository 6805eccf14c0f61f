//! Who acts for which commune.
use super::*;

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
    if !officer && r.status == ReferralStatus::Draft {
        return Err(AppError::forbidden("you may not see this referral"));
    }
    let own = acting_for(db, actor).await?.drafts.clone();
    let closed = status_of(r, Utc::now()) == ReferralStatus::Closed;
    Ok(View { officer, own, others: closed && !r.secretariat_only })
}

/// The referral, for those who may see it.
pub async fn visible<C: ConnectionTrait>(db: &C, actor: &Actor, id: i32) -> AppResult<(referral::Model, View)> {
    let r = referral_of(db, id).await?;
    let v = view(db, actor, &r).await?;
    Ok((r, v))
}
