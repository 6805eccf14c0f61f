//! Bodies (conference of mayors, working groups, DGS committee...), their members, and
//! the whole life of a meeting: convocation, attendance, quorum, votes, minutes.
pub mod calendar;
pub mod graphql;
pub mod model;
pub mod queries;
pub mod rules;
pub mod service;
