//! The Subscription root (issue 16), served over WebSocket at /graphql/ws (http.rs).
//!
//! Each subscription checks, when it starts and at each event, what the query showing the
//! same record checks (`meeting(id)`, `referral(id)`, `policy(id)`), then yields the
//! record read afresh, with the change that caused the event. It starts with the current
//! state (`change: "CURRENT"`). It ends, with an UNAUTHENTICATED error, when the session
//! it was opened with is revoked or expires (checked at each event and every 30 s).
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, Object, Subscription, ID};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast::{error::RecvError, Receiver};

use crate::auth::Actor;
use crate::error::{AppError, AppResult};
use crate::graphql::support::{actor, state};
use crate::ids::{self, Kind};
use crate::loaders::Loaders;
use crate::meetings::graphql::Meeting;
use crate::platform::live::{Change, LiveEvent};
use crate::platform::notify::graphql::Notification;
use crate::policies::graphql::Policy;
use crate::referrals::graphql::Referral;
use crate::AppState;

/// The bearer token a WebSocket connection was opened with (re-checked at each event).
#[derive(Clone)]
pub struct WsSession(pub String);

/// How often an idle subscription checks that its session still holds.
const RECHECK: Duration = Duration::from_secs(30);

/// A change to a meeting as it is recorded (séance en direct).
pub struct MeetingLive {
    change: String,
    at: DateTime<Utc>,
    meeting: Meeting,
}

/// A change to a meeting as it is recorded: attendance, quorum, votes, status (séance en
/// direct).
#[Object]
impl MeetingLive {
    /// What changed: the mutation's audit action (RECORD_ATTENDANCE, RECORD_VOTE,
    /// CHANGE_MEETING_STATUS...), or CURRENT for the state when the subscription started.
    async fn change(&self) -> &str {
        &self.change
    }
    async fn at(&self) -> DateTime<Utc> {
        self.at
    }
    /// The meeting as it now is (select `attendance`, `agenda { quorum result ... }`...).
    async fn meeting(&self) -> &Meeting {
        &self.meeting
    }
}

/// A change to a referral: a response submitted, a deadline extended, the closing
/// (suivi de la saisine).
pub struct ReferralLive {
    change: String,
    at: DateTime<Utc>,
    referral: Referral,
}

/// A change to a referral: a response submitted, a deadline extended, the closing
/// (suivi de la saisine).
#[Object]
impl ReferralLive {
    async fn change(&self) -> &str {
        &self.change
    }
    async fn at(&self) -> DateTime<Utc> {
        self.at
    }
    /// The referral as it now is (its responses, rate and provisional outcome, for those
    /// who may see them).
    async fn referral(&self) -> &Referral {
        &self.referral
    }
}

/// A change to a policy: a contribution, an answer, a version, a step (activité).
pub struct PolicyActivity {
    change: String,
    at: DateTime<Utc>,
    policy: Policy,
}

/// A change to a policy: a contribution, an answer, a version, a step (activité).
#[Object]
impl PolicyActivity {
    async fn change(&self) -> &str {
        &self.change
    }
    async fn at(&self) -> DateTime<Utc> {
        self.at
    }
    async fn policy(&self) -> &Policy {
        &self.policy
    }
}

/// What a subscription's stream keeps: the server's state, the connection's token, the
/// request's loaders (forgotten before each read, so each event reads afresh).
#[derive(Clone)]
struct Follower {
    state: AppState,
    token: String,
    loaders: Option<Loaders>,
}

impl Follower {
    fn of(ctx: &Context<'_>) -> AppResult<Follower> {
        let token = ctx.data::<WsSession>().map_err(|_| AppError::Unauthenticated)?.0.clone();
        Ok(Follower { state: state(ctx)?.clone(), token, loaders: ctx.data_opt::<Loaders>().cloned() })
    }

    /// The session's actor, afresh: UNAUTHENTICATED once it is revoked or expired.
    async fn actor(&self) -> AppResult<Actor> {
        let (a, _) =
            crate::auth::service::resolve_actor(&self.state, Some(&self.token), "subscription".into(), None).await?;
        if a.principal.is_none() {
            return Err(AppError::Unauthenticated);
        }
        if let Some(l) = &self.loaders {
            l.forget();
        }
        Ok(a)
    }
}

/// The next change `wanted` keeps (a reader too slow to keep up gets CURRENT: the state
/// it reads then holds what it missed); every 30 s without one, None, so that the caller
/// checks the session. Ends with the feed.
async fn next_change<F>(rx: &mut Receiver<Arc<LiveEvent>>, wanted: &F) -> Option<Option<Change>>
where
    F: Fn(&LiveEvent) -> Option<Change>,
{
    loop {
        tokio::select! {
            e = rx.recv() => match e {
                Ok(e) => if let Some(c) = wanted(&e) { return Some(Some(c)) },
                Err(RecvError::Lagged(_)) => return Some(Some(current())),
                Err(RecvError::Closed) => return None,
            },
            _ = tokio::time::sleep(RECHECK) => return Some(None),
        }
    }
}

fn current() -> Change {
    Change { action: "CURRENT".into(), at: Utc::now(), meeting: None, referral: None, policy: None }
}

/// A subscription: `first` (the current state) if given, then one item per change
/// `wanted` keeps, each made by `read` with the session's actor; ends after an error
/// (revoked session, no longer allowed).
fn follow<T, F, R, Fut>(
    f: Follower,
    rx: Receiver<Arc<LiveEvent>>,
    first: Option<T>,
    wanted: F,
    read: R,
) -> impl Stream<Item = AppResult<T>> + Send + 'static
where
    T: Send + 'static,
    F: Fn(&LiveEvent) -> Option<Change> + Send + Sync + 'static,
    R: Fn(Follower, Actor, Change) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = AppResult<Option<T>>> + Send + 'static,
{
    let (wanted, read) = (Arc::new(wanted), Arc::new(read));
    let rest = futures_util::stream::unfold((rx, f, false), move |(mut rx, f, ended)| {
        let (wanted, read) = (wanted.clone(), read.clone());
        async move {
            if ended {
                return None;
            }
            loop {
                let change = next_change(&mut rx, wanted.as_ref()).await?;
                let a = match f.actor().await {
                    Ok(a) => a,
                    Err(e) => return Some((Err(e), (rx, f, true))),
                };
                let Some(c) = change else { continue };
                match read(f.clone(), a, c).await {
                    Ok(Some(item)) => return Some((Ok(item), (rx, f, false))),
                    Ok(None) => continue,
                    Err(e) => return Some((Err(e), (rx, f, true))),
                }
            }
        }
    });
    futures_util::stream::iter(first.map(Ok)).chain(rest)
}

#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Each new notification of the signed-in person, as it is recorded.
    async fn my_notifications(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = AppResult<Notification>>, AppError> {
        let person = actor(ctx)?.require()?.person_id;
        let f = Follower::of(ctx)?;
        let rx = f.state.live.subscribe(&f.state.db, &f.state.config.database_url);
        Ok(follow(
            f,
            rx,
            None,
            move |e| match e {
                LiveEvent::Notified { event, people } if people.contains(&person) => {
                    Some(Change { action: event.to_string(), ..current() })
                }
                _ => None,
            },
            move |f: Follower, _a: Actor, c: Change| async move {
                let Ok(event) = c.action.parse::<i32>() else { return Ok(None) };
                Ok(crate::platform::notify::inbox::of_event(&f.state.db, event, person).await?.map(Notification))
            },
        ))
    }

    /// A meeting as it happens (séance en direct): its current state, then again at each
    /// attendance recorded, proxy, vote, status change or publication. For those who may
    /// see the meeting.
    async fn meeting_live(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = AppResult<MeetingLive>>, AppError> {
        let id = ids::decode("id", Kind::Meeting, &id)?;
        let f = Follower::of(ctx)?;
        let m = crate::meetings::service::visible(&f.state.db, actor(ctx)?, id).await?;
        let first = MeetingLive { change: "CURRENT".into(), at: Utc::now(), meeting: Meeting::from(m) };
        let rx = f.state.live.subscribe(&f.state.db, &f.state.config.database_url);
        Ok(follow(
            f,
            rx,
            Some(first),
            move |e| match e {
                LiveEvent::Changed(c) if c.meeting == Some(id) => Some(c.clone()),
                _ => None,
            },
            move |f: Follower, a: Actor, c: Change| async move {
                let m = crate::meetings::service::visible(&f.state.db, &a, id).await?;
                Ok(Some(MeetingLive { change: c.action, at: c.at, meeting: Meeting::from(m) }))
            },
        ))
    }

    /// A referral's progress (suivi de la saisine): its current state, then again at each
    /// response submitted, extension or closing. For those who may see the referral;
    /// what it shows (other communes' responses, the provisional outcome) follows the
    /// same rules as `referral(id)`.
    async fn referral_progress(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = AppResult<ReferralLive>>, AppError> {
        let id = ids::decode("id", Kind::Referral, &id)?;
        let f = Follower::of(ctx)?;
        let (r, _) = crate::referrals::service::visible(&f.state.db, actor(ctx)?, id).await?;
        let first = ReferralLive { change: "CURRENT".into(), at: Utc::now(), referral: Referral::new(r) };
        let rx = f.state.live.subscribe(&f.state.db, &f.state.config.database_url);
        Ok(follow(
            f,
            rx,
            Some(first),
            move |e| match e {
                LiveEvent::Changed(c) if c.referral == Some(id) => Some(c.clone()),
                _ => None,
            },
            move |f: Follower, a: Actor, c: Change| async move {
                let (r, _) = crate::referrals::service::visible(&f.state.db, &a, id).await?;
                Ok(Some(ReferralLive { change: c.action, at: c.at, referral: Referral::new(r) }))
            },
        ))
    }

    /// A policy's activity: its current state, then again at each contribution, answer,
    /// version published or step recorded. For those who may see the policy.
    async fn policy_activity(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = AppResult<PolicyActivity>>, AppError> {
        let id = ids::decode("id", Kind::Policy, &id)?;
        let f = Follower::of(ctx)?;
        let p = crate::policies::service::access::view(&f.state.db, actor(ctx)?, id).await?;
        let first = PolicyActivity { change: "CURRENT".into(), at: Utc::now(), policy: Policy::from(p) };
        let rx = f.state.live.subscribe(&f.state.db, &f.state.config.database_url);
        Ok(follow(
            f,
            rx,
            Some(first),
            move |e| match e {
                LiveEvent::Changed(c) if c.policy == Some(id) => Some(c.clone()),
                _ => None,
            },
            move |f: Follower, a: Actor, c: Change| async move {
                let p = crate::policies::service::access::view(&f.state.db, &a, id).await?;
                Ok(Some(PolicyActivity { change: c.action, at: c.at, policy: Policy::from(p) }))
            },
        ))
    }
}
