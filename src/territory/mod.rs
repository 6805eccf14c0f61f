//! Communes, intercommunalities, memberships, territories, and the import of the
//! official files.
pub mod graphql;
pub mod import;
pub mod model;
pub mod queries;
pub mod rules;
pub mod service;
