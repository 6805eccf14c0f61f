//! Schema assembly: the merged Query and Mutation roots and the schema as the server runs it.
use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};

use super::node::NodeQuery;
use crate::audit::graphql::AuditQuery;
use crate::auth::graphql::{AuthMutation, AuthQuery};
use crate::config::Config;
use crate::meetings::graphql::{MeetingsMutation, MeetingsQuery};
use crate::people::graphql::{PeopleMutation, PeopleQuery};
use crate::referrals::graphql::{ReferralsMutation, ReferralsQuery};
use crate::territory::graphql::{TerritoryMutation, TerritoryQuery};
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
