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
use crate::meetings::graphql::{
    self as m, AgendaItem, Body, BodySeat, Document, Meeting, MeetingRequest, MeetingsMutation, MeetingsQuery,
    Notification, Proxy,
};
use crate::people::graphql::{Mandate, PeopleMutation, PeopleQuery, Person};
use crate::referrals::graphql::{Referral, ReferralResponse, ReferralsMutation, ReferralsQuery};
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

// ---- keyset connections ----------------------------------------------------------------

/// A connection whose cursors are opaque keyset cursors (`Cursor`): they name an item by
/// its sort key and id, not by its position, so a page after a cursor neither repeats nor
/// skips an item when others are inserted before it.
pub type KeyConn<T> = Connection<String, T, ConnectionFields, EmptyFields>;

/// What a keyset cursor holds: the list it belongs to, the item's sort key and its id.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    #[serde(rename = "l")]
    pub list: String,
    #[serde(rename = "k")]
    pub key: String,
    #[serde(rename = "i")]
    pub id: i32,
}

impl Cursor {
    pub fn encode(&self) -> String {
        use base64::Engine;
        // A struct of strings and an integer always serialises.
        let json = serde_json::to_string(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }
    /// Decodes a client's cursor of `list`; anything else is VALIDATION on `field`.
    pub fn decode(field: &str, list: &str, text: &str) -> AppResult<Cursor> {
        use base64::Engine;
        let bad = || AppError::validation(field, "not a cursor of this list");
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.as_bytes()).map_err(|_| bad())?;
        let c: Cursor = serde_json::from_slice(&raw).map_err(|_| bad())?;
        if c.list != list || c.id <= 0 {
            return Err(bad());
        }
        Ok(c)
    }
}

/// Page size asked by `first`/`last`, checked against the limit.
fn page_count(ctx: &Context<'_>, field: &str, n: Option<i32>) -> AppResult<Option<usize>> {
    let max = state(ctx)?.config.limits.max_page_size;
    match n {
        None => Ok(None),
        Some(n) if n < 0 => Err(AppError::validation(field, format!("{field} must not be negative"))),
        Some(n) if n as usize > max => Err(AppError::validation(field, format!("{field} must be at most {max}"))),
        Some(n) => Ok(Some(n as usize)),
    }
}

/// A page of `items`, each with its sort key and id, by Relay arguments over keyset cursors
/// of `list`: the items are ordered by (key, id), ascending or `descending`; `after` and
/// `before` keep those strictly after or before the cursor's (key, id), whether or not
/// that item still exists; `first` (default 50) or `last` then take the page. Sorting is
/// done here, so the order is the same whatever the database's collation.
pub fn keyset_page<T: OutputType>(
    ctx: &Context<'_>,
    args: &PageArgs,
    list: &str,
    mut items: Vec<(String, i32, T)>,
    descending: bool,
) -> AppResult<KeyConn<T>> {
    let after = args.after.as_deref().map(|c| Cursor::decode("after", list, c)).transpose()?;
    let before = args.before.as_deref().map(|c| Cursor::decode("before", list, c)).transpose()?;
    let (first, last) = (page_count(ctx, "first", args.first)?, page_count(ctx, "last", args.last)?);
    let order = |a: (&str, i32), b: (&str, i32)| if descending { b.cmp(&a) } else { a.cmp(&b) };
    items.sort_by(|a, b| order((&a.0, a.1), (&b.0, b.1)));
    let total = items.len();
    let mut start = match &after {
        Some(c) => items.partition_point(|i| order((&i.0, i.1), (&c.key, c.id)).is_le()),
        None => 0,
    };
    let mut end = match &before {
        Some(c) => items.partition_point(|i| order((&i.0, i.1), (&c.key, c.id)).is_lt()),
        None => total,
    }
    .max(start);
    match (first, last) {
        (Some(f), _) => end = end.min(start.saturating_add(f)),
        (None, None) => end = end.min(start.saturating_add(DEFAULT_PAGE as usize)),
        _ => {}
    }
    if let Some(l) = last {
        start = start.max(end.saturating_sub(l));
    }
    let mut c =
        Connection::with_additional_fields(start > 0, end < total, ConnectionFields { total_count: total as u64 });
    c.edges.extend(
        items
            .drain(start..end)
            .map(|(key, id, node)| Edge::new(Cursor { list: list.to_string(), key, id }.encode(), node)),
    );
    Ok(c)
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
    Notification(Notification),
    AgendaItem(AgendaItem),
    Document(Document),
    Proxy(Proxy),
    BodySeat(BodySeat),
    MeetingRequest(MeetingRequest),
    ReferralResponse(ReferralResponse),
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
            (Kind::Notification, n) => crate::meetings::notifications::own(&state(ctx)?.db, actor(ctx)?, n)
                .await?
                .map(|m| Node::Notification(Notification(m))),
            // Each with the checks of the path that reaches it.
            (Kind::AgendaItem, n) => m::agenda_item_node(ctx, n).await?.map(Node::AgendaItem),
            (Kind::Document, n) => m::document_node(ctx, n).await?.map(Node::Document),
            (Kind::Proxy, n) => m::proxy_node(ctx, n).await?.map(Node::Proxy),
            (Kind::BodySeat, n) => m::body_seat_node(ctx, n).await?.map(Node::BodySeat),
            (Kind::MeetingRequest, n) => m::meeting_request_node(ctx, n).await?.map(Node::MeetingRequest),
            (Kind::ReferralResponse, n) => {
                crate::referrals::graphql::response_node(ctx, n).await?.map(Node::ReferralResponse)
            }
            // Not yet resolved by node(): reached through their referral or commune.
            (Kind::ReferralDocument | Kind::SignatureDelegation, _) => None,
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
