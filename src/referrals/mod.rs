//! Referrals (saisines): consultations of the communes for an opinion, and data
//! collections, with their legal rules (procedures, deadlines, silence, qualified
//! majority), responses per commune, forms and datasets, and the deadline job.
pub mod form;
pub mod graphql;
pub mod model;
pub mod queries;
pub mod rules;
pub mod service;
