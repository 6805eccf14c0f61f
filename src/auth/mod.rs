//! Accounts, sign-in, the request's Actor and the authorization point.
pub mod actor;
pub mod facts;
pub mod granted;
pub mod graphql;
pub mod keyed;
pub mod model;
pub mod password;
pub mod policy;
pub mod rules;
pub mod service;

pub use actor::{Actor, Principal};
pub use granted::{Granted, Pass};
pub use model::PlatformRole;
