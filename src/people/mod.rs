//! Persons and their mandates.
pub mod graphql;
pub mod model;
pub mod queries;
pub mod rules;
pub mod service;
