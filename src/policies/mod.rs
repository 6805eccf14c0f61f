//! Policies written together (politiques publiques co-construites): a policy's text as a
//! tree of sections, the versions that freeze it, its life from drafting to adoption.
pub mod graphql;
pub mod model;
pub mod queries;
pub mod rules;
pub mod service;
pub mod synthesis;
