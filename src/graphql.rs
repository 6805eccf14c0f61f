//! Schema assembly: the merged Query and Mutation roots, the Node interface, limits on
//! query shape, and the helpers every resolver uses (state, actor, loaders, pagination).
use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{
    Context, EmptySubscription, Interface, MergedObject, Object, OutputType, Schema, SchemaBuilder, SimpleObject, ID,
};

use crate::audit::graphql::{AuditEntry, AuditQuery};
use crate::auth::graphql::{AuthMutation, AuthQuery};
use crate::auth::policy::{authorize, Action};
use crate::auth::Actor;
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::ids::{self, Kind};
use crate::loaders::Loaders;
use crate::meetings::graphql::{Body, Meeting, MeetingsMutation, MeetingsQuery};
use crate::people::graphql::{Mandate, PeopleMutation, PeopleQuery, Person};
use crate::referrals::graphql::{Referral, ReferralsMutation, ReferralsQuery};
use crate::territory::graphql::{Commune, Intercommunality, Territory, TerritoryMutation, TerritoryQuery};
use crate::AppState;

#[derive(MergedObject, Default)]
pub struct Query(NodeQuery, AuthQuery, TerritoryQuery, PeopleQuery, AuditQuery, MeetingsQuery, ReferralsQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(AuthMutation, TerritoryMutation, PeopleMutation, MeetingsMutation, ReferralsMutation);

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// The schema as the server runs it. `state` is None only to print the SDL.
pub fn build_schema(config: &Config, state: Option<AppState>) -> AppSchema {
    let l = &config.limits;
    let mut b: SchemaBuilder<Query, Mutation, EmptySubscription> =
        Schema::build(Query::default(), Mutation::default(), EmptySubscription)
            // Depth and complexity are measured by async-graphql and limited by the
            // extension, which codes each stage's errors (limits.rs).
            .extension(crate::limits::Limiter {
                max_depth: l.max_depth,
                introspection_depth: l.introspection_depth,
                max_complexity: l.max_complexity,
            })
            .limit_recursive_depth(32)
            .limit_directives(10);
    if config.production {
        b = b.disable_introspection().disable_suggestions();
    }
    if let Some(s) = state {
        b = b.data(s);
    }
    b.finish()
}

/// The SDL of the schema, as committed in schema.graphql.
pub fn sdl() -> String {
    build_schema(&Config::new("sqlite::memory:"), None).sdl()
}

// ---- helpers for resolvers -------------------------------------------------------------

pub fn state<'a>(ctx: &Context<'a>) -> AppResult<&'a AppState> {
    ctx.data::<AppState>().map_err(|_| AppError::internal("application state missing from schema"))
}

pub fn actor<'a>(ctx: &Context<'a>) -> AppResult<&'a Actor> {
    ctx.data::<Actor>().map_err(|_| AppError::internal("actor missing from request"))
}

pub fn loaders<'a>(ctx: &Context<'a>) -> AppResult<&'a Loaders> {
    ctx.data::<Loaders>().map_err(|_| AppError::internal("loaders missing from request"))
}

/// Asks the one authorization point whether the request's actor may do `action`.
pub async fn allow(ctx: &Context<'_>, action: Action) -> AppResult<()> {
    authorize(&state(ctx)?.db, actor(ctx)?, action).await.map(|_| ())
}

/// Extra fields of every connection.
#[derive(SimpleObject)]
pub struct ConnectionFields {
    /// Number of items matching, over all pages.
    pub total_count: u64,
}

pub type Conn<T> = Connection<usize, T, ConnectionFields, EmptyFields>;

/// Offset window chosen by Relay arguments over `total` items.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: u64,
    pub end: u64,
    pub total: u64,
}

impl Window {
    pub fn limit(&self) -> u64 {
        self.end - self.start
    }
}

pub struct PageArgs {
    pub after: Option<String>,
    pub before: Option<String>,
    pub first: Option<i32>,
    pub last: Option<i32>,
}

const DEFAULT_PAGE: u64 = 50;

pub fn window(ctx: &Context<'_>, args: &PageArgs, total: u64) -> AppResult<Window> {
    let max = state(ctx)?.config.limits.max_page_size as u64;
    let cursor = |field: &str, c: &Option<String>| -> AppResult<Option<u64>> {
        c.as_deref()
            .map(|s| s.parse::<u64>().map_err(|_| AppError::validation(field, "not a cursor of this list")))
            .transpose()
    };
    let count = |field: &str, n: Option<i32>| -> AppResult<Option<u64>> {
        match n {
            None => Ok(None),
            Some(n) if n < 0 => Err(AppError::validation(field, format!("{field} must not be negative"))),
            Some(n) if n as u64 > max => Err(AppError::validation(field, format!("{field} must be at most {max}"))),
            Some(n) => Ok(Some(n as u64)),
        }
    };
    let mut start = cursor("after", &args.after)?.map(|a| a.saturating_add(1)).unwrap_or(0).min(total);
    let mut end = cursor("before", &args.before)?.unwrap_or(total).min(total).max(start);
    let (first, last) = (count("first", args.first)?, count("last", args.last)?);
    match (first, last) {
        (Some(f), _) => end = end.min(start.saturating_add(f)),
        (None, None) => end = end.min(start.saturating_add(DEFAULT_PAGE)),
        _ => {}
    }
    if let Some(l) = last {
        start = start.max(end.saturating_sub(l));
    }
    Ok(Window { start, end, total })
}

pub fn connection<T: OutputType>(w: Window, nodes: Vec<T>) -> Conn<T> {
    let mut c =
        Connection::with_additional_fields(w.start > 0, w.end < w.total, ConnectionFields { total_count: w.total });
    c.edges.extend(nodes.into_iter().enumerate().map(|(i, n)| Edge::new(w.start as usize + i, n)));
    c
}

// ---- Node ------------------------------------------------------------------------------

/// An object with a global ID (Relay "Node").
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Global, opaque identifier."))]
pub enum Node {
    Commune(Commune),
    Intercommunality(Intercommunality),
    Territory(Territory),
    Person(Person),
    Mandate(Mandate),
    AuditEntry(AuditEntry),
    Body(Body),
    Meeting(Meeting),
    Referral(Referral),
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Fetches any object by its global ID.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<Node>> {
        allow(ctx, Action::Read).await?;
        let l = loaders(ctx)?;
        Ok(match ids::decode_any("id", &id)? {
            (Kind::Commune, n) => l.commune.load_one(n).await?.map(|m| Node::Commune(Commune(m))),
            (Kind::Intercommunality, n) => {
                l.intercommunality.load_one(n).await?.map(|m| Node::Intercommunality(Intercommunality(m)))
            }
            (Kind::Territory, n) => l.territory.load_one(n).await?.map(|m| Node::Territory(Territory(m))),
            (Kind::Person, n) => l.person.load_one(n).await?.map(|m| Node::Person(Person(m))),
            (Kind::Mandate, n) => l.mandate.load_one(n).await?.map(|m| Node::Mandate(Mandate::of(m))),
            (Kind::AuditEntry, n) => crate::audit::graphql::find_visible(ctx, n).await?.map(Node::AuditEntry),
            (Kind::Body, n) => {
                let b = crate::meetings::service::body_of(&state(ctx)?.db, n).await?;
                Some(Node::Body(Body(b)))
            }
            (Kind::Meeting, n) => {
                Some(Node::Meeting(Meeting(crate::meetings::graphql::visible_meeting(ctx, n).await?)))
            }
            (Kind::Referral, n) => {
                let (r, _) = crate::referrals::service::visible(&state(ctx)?.db, actor(ctx)?, n).await?;
                Some(Node::Referral(Referral::new(r)))
            }
            // Reached through their meeting, body, referral or commune.
            (
                Kind::BodySeat
                | Kind::AgendaItem
                | Kind::Document
                | Kind::Proxy
                | Kind::MeetingRequest
                | Kind::ReferralResponse
                | Kind::ReferralDocument
                | Kind::SignatureDelegation,
                _,
            ) => None,
        })
    }
}

// ---- error codes -----------------------------------------------------------------------

/// Gives every error left without a code one: errors are coded where they are made
/// (AppError in resolvers, `limits` for the engine's stages); what remains is an engine
/// error between validation and execution, a document error.
pub fn add_error_codes(resp: &mut async_graphql::Response) {
    for e in resp.errors.iter_mut().filter(|e| !crate::limits::has_code(e)) {
        e.extensions.get_or_insert_with(Default::default).set("code", crate::limits::GRAPHQL_VALIDATION);
    }
}
