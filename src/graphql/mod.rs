//! GraphQL: `schema` assembles the roots from the domains' objects (and the Node
//! interface, `node`); `support` is what every resolver uses (state, actor, loaders,
//! authorization, connections and cursors, error codes). Domains import `support` only,
//! never the assembly that imports them.
mod node;
pub mod schema;
pub mod subscription;
pub mod support;

pub use schema::{build_checker, build_schema, build_ws_schema, sdl, AppSchema, Mutation, Query};
