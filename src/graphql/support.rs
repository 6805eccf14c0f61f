//! What every resolver uses: the request's state, actor and loaders, the one
//! authorization point, connections with offset and keyset cursors, and error codes.
use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, OutputType, SimpleObject};

use crate::auth::policy::{authorize, Action};
use crate::auth::Actor;
use crate::error::{AppError, AppResult};
use crate::loaders::Loaders;
use crate::AppState;

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

// ---- error codes -----------------------------------------------------------------------

/// Gives every error left without a code one: errors are coded where they are made
/// (AppError in resolvers, `limits` for the engine's stages); what remains is an engine
/// error between validation and execution, a document error.
pub fn add_error_codes(resp: &mut async_graphql::Response) {
    for e in resp.errors.iter_mut().filter(|e| !crate::limits::has_code(e)) {
        e.extensions.get_or_insert_with(Default::default).set("code", crate::limits::GRAPHQL_VALIDATION);
    }
}
