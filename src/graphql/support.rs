//! What every resolver uses: the request's state, actor and loaders, the one
//! authorization point, connections with keyset cursors, and error codes.
use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, OutputType, SimpleObject};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};

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

pub struct PageArgs {
    pub after: Option<String>,
    pub before: Option<String>,
    pub first: Option<i32>,
    pub last: Option<i32>,
}

const DEFAULT_PAGE: usize = 50;

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
    /// Further sort keys, compared after `key` (a list ordered by two columns and the id).
    #[serde(rename = "m", default, skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<String>,
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
        (None, None) => end = end.min(start.saturating_add(DEFAULT_PAGE)),
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
            .map(|(key, id, node)| Edge::new(Cursor { list: list.to_string(), key, id, more: vec![] }.encode(), node)),
    );
    Ok(c)
}

// ---- keyset connections read from the database --------------------------------------

/// How a list read from the database is ordered: by its text `keys` (none, one or more
/// columns), then by `id`, all ascending or all `descending`. Its cursors hold the last
/// row's key values and id, and name `list`.
pub struct KeyOrder<E: EntityTrait> {
    pub list: &'static str,
    pub keys: Vec<E::Column>,
    pub id: E::Column,
    pub descending: bool,
}

impl<E: EntityTrait> KeyOrder<E> {
    /// The key values a cursor of this list holds; a cursor of another shape is
    /// VALIDATION on `field`.
    fn values(&self, field: &str, c: Cursor) -> AppResult<(Vec<String>, i32)> {
        let bad = || AppError::validation(field, "not a cursor of this list");
        let values = match self.keys.len() {
            0 if c.key.is_empty() && c.more.is_empty() => vec![],
            n if n > 0 && c.more.len() == n - 1 => std::iter::once(c.key).chain(c.more).collect(),
            _ => return Err(bad()),
        };
        Ok((values, c.id))
    }

    /// The rows after (`forward`) or before the row keyed (`values`, `id`) in the list's
    /// order, that row itself included when `inclusive`: a row comparison written out,
    /// `k1 > v1 OR (k1 = v1 AND (... id > i))`, so that it holds on every database
    /// with the collation its ORDER BY uses.
    fn beyond(&self, (values, id): &(Vec<String>, i32), forward: bool, inclusive: bool) -> Condition {
        let greater = forward != self.descending;
        let mut c = Condition::all().add(match (greater, inclusive) {
            (true, false) => self.id.gt(*id),
            (true, true) => self.id.gte(*id),
            (false, false) => self.id.lt(*id),
            (false, true) => self.id.lte(*id),
        });
        for (col, v) in self.keys.iter().zip(values).rev() {
            let past = if greater { col.gt(v.clone()) } else { col.lt(v.clone()) };
            c = Condition::any().add(past).add(Condition::all().add(col.eq(v.clone())).add(c));
        }
        c
    }

    /// `q` in the list's order (`forward`) or in reverse.
    fn ordered(&self, q: Select<E>, forward: bool) -> Select<E> {
        let dir = if forward != self.descending { Order::Asc } else { Order::Desc };
        let q = self.keys.iter().fold(q, |q, col| q.order_by(*col, dir.clone()));
        q.order_by(self.id, dir)
    }
}

/// Whether `q` has a row matching `cond` (one row read at most).
async fn any_row<E>(db: &DatabaseConnection, q: &Select<E>, cond: Condition) -> AppResult<bool>
where
    E: EntityTrait,
    E::Model: Send + Sync,
{
    Ok(q.clone().filter(cond).one(db).await?.is_some())
}

/// A page of the rows of `q` by Relay arguments over keyset cursors, read in the database:
/// ordered as `order` says, `after`/`before` keep the rows strictly after/before the
/// cursor's key (whether or not that row still exists), then `first` (default 50) or
/// `last` take the page, read with one row more to know whether there are others. The
/// page info is exact, as `keyset_page`'s: the statements are the count, the page, and an
/// existence check (one row at most) for each side whose edge the page does not show
/// (before an `after` cursor, from a `before` one); the first page costs two. `key_of`
/// gives a row's key values (in the order of `order.keys`) and id; `node` makes the API
/// object.
pub async fn keyset_query<E, T>(
    ctx: &Context<'_>,
    args: &PageArgs,
    order: &KeyOrder<E>,
    q: Select<E>,
    key_of: impl Fn(&E::Model) -> (Vec<String>, i32),
    node: impl Fn(E::Model) -> T,
) -> AppResult<KeyConn<T>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
    T: OutputType,
{
    let db = &state(ctx)?.db;
    let cursor = |field: &str, c: &Option<String>| -> AppResult<Option<(Vec<String>, i32)>> {
        c.as_deref().map(|c| order.values(field, Cursor::decode(field, order.list, c)?)).transpose()
    };
    let (after, before) = (cursor("after", &args.after)?, cursor("before", &args.before)?);
    let (first, last) = (page_count(ctx, "first", args.first)?, page_count(ctx, "last", args.last)?);
    let total = q.clone().count(db).await?;
    let mut range = q.clone();
    if let Some(a) = &after {
        range = range.filter(order.beyond(a, true, false));
    }
    if let Some(b) = &before {
        range = range.filter(order.beyond(b, false, false));
    }
    let (after, before, q) = (&after, &before, &q);
    // What lies before the page when it starts right after `after`: the rows up to it.
    let up_to_after = async move {
        match after {
            Some(a) => any_row(db, q, order.beyond(a, false, true)).await,
            None => Ok(false),
        }
    };
    // What lies after the page when it ends where `before` does, or where `after` does
    // when nothing lies between them.
    let from_before = |empty: bool| async move {
        match (after, before) {
            (_, None) => Ok(false),
            (Some(a), Some(_)) if empty => any_row(db, q, order.beyond(a, true, false)).await,
            (None, Some(_)) if empty => Ok(total > 0),
            (_, Some(b)) => any_row(db, q, order.beyond(b, true, true)).await,
        }
    };
    let (rows, has_previous, has_next) = match (first, last) {
        (None, Some(l)) => {
            // Backwards from `before` (or the end): the last `l` of the range.
            let mut rows = order.ordered(range, false).limit(l as u64 + 1).all(db).await?;
            let (more, range_empty) = (rows.len() > l, rows.is_empty());
            rows.truncate(l);
            rows.reverse();
            let has_previous = more || up_to_after.await?;
            let has_next = from_before(range_empty).await?;
            (rows, has_previous, has_next)
        }
        (first, last) => {
            let f = first.unwrap_or(DEFAULT_PAGE);
            let mut rows = order.ordered(range, true).limit(f as u64 + 1).all(db).await?;
            let (more, range_empty) = (rows.len() > f, rows.is_empty());
            rows.truncate(f);
            let dropped = match last {
                Some(l) if rows.len() > l => {
                    rows.drain(..rows.len() - l);
                    true
                }
                _ => false,
            };
            let has_previous = dropped || up_to_after.await?;
            let has_next = more || from_before(range_empty).await?;
            (rows, has_previous, has_next)
        }
    };
    let mut c = Connection::with_additional_fields(has_previous, has_next, ConnectionFields { total_count: total });
    c.edges.extend(rows.into_iter().map(|row| {
        let (mut values, id) = key_of(&row);
        let key = if values.is_empty() { String::new() } else { values.remove(0) };
        let cursor = Cursor { list: order.list.to_string(), key, id, more: values };
        Edge::new(cursor.encode(), node(row))
    }));
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
