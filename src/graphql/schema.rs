//! Schema assembly: the merged Query and Mutation roots and the schema as the server runs it.
use async_graphql::{MergedObject, Schema, SchemaBuilder};

use super::node::NodeQuery;
use super::subscription::Subscription;
use crate::audit::graphql::AuditQuery;
use crate::auth::graphql::{AuthMutation, AuthQuery};
use crate::config::Config;
use crate::meetings::graphql::{MeetingsMutation, MeetingsQuery};
use crate::people::graphql::{PeopleMutation, PeopleQuery};
use crate::platform::mail::graphql::{MailMutation, MailQuery};
use crate::platform::notify::graphql::{NotifyMutation, NotifyQuery};
use crate::policies::graphql::{PoliciesMutation, PoliciesQuery};
use crate::referrals::graphql::{ReferralsMutation, ReferralsQuery};
use crate::territory::graphql::{TerritoryMutation, TerritoryQuery};
use crate::AppState;

#[derive(MergedObject, Default)]
pub struct Query(
    NodeQuery,
    AuthQuery,
    TerritoryQuery,
    PeopleQuery,
    AuditQuery,
    MeetingsQuery,
    ReferralsQuery,
    NotifyQuery,
    MailQuery,
    PoliciesQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    AuthMutation,
    TerritoryMutation,
    PeopleMutation,
    MeetingsMutation,
    ReferralsMutation,
    NotifyMutation,
    MailMutation,
    PoliciesMutation,
);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// The schema that executes requests, as the server runs it. `state` is None only to
/// print the SDL. It has no extension: async-graphql wraps the resolution of every field
/// as soon as one is installed, which cost uncached answers a fifth of their throughput
/// (BENCHMARKS.md, run 13). Requests are checked first by `build_checker`'s schema.
pub fn build_schema(config: &Config, state: Option<AppState>) -> AppSchema {
    let mut b = builder(config);
    if let Some(s) = state {
        b = b.data(s);
    }
    b.finish()
}

/// The same schema with the limiting extension (limits.rs): it parses and validates a
/// request, measures its depth and complexity, codes each stage's errors, and never
/// executes anything.
pub fn build_checker(config: &Config) -> AppSchema {
    let l = &config.limits;
    builder(config)
        .extension(crate::limits::Limiter {
            max_depth: l.max_depth,
            introspection_depth: l.introspection_depth,
            max_complexity: l.max_complexity,
        })
        .finish()
}

/// The schema that runs subscriptions over WebSocket (http.rs): the depth and complexity
/// limits of queries, checked by async-graphql itself as it validates each subscription.
pub fn build_ws_schema(config: &Config, state: AppState) -> AppSchema {
    let l = &config.limits;
    builder(config).limit_depth(l.max_depth).limit_complexity(l.max_complexity).data(state).finish()
}

fn builder(config: &Config) -> SchemaBuilder<Query, Mutation, Subscription> {
    let mut b = Schema::build(Query::default(), Mutation::default(), Subscription)
        .limit_recursive_depth(32)
        .limit_directives(10);
    if config.production {
        b = b.disable_introspection().disable_suggestions();
    }
    b
}

/// The SDL of the schema, as committed in schema.graphql.
pub fn sdl() -> String {
    build_schema(&Config::new("sqlite::memory:"), None).sdl()
}
