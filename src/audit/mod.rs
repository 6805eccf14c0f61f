//! The audit log.
pub mod graphql;
pub mod model;
pub mod service;
