//! Integration tests through the real HTTP server, one binary (links the crate once).
//! Each test gets its own server and database; TEST_DATABASE_URL switches SQLite for
//! PostgreSQL.
mod helpers;

mod auth;
mod backup;
mod cache;
mod cli;
mod concurrency;
mod delivery;
mod documents;
mod edge;
mod errors;
mod import;
mod input;
mod instances;
mod limits;
mod lists;
mod live;
mod mandates;
mod meetings;
mod n_plus_one;
mod notify;
mod permissions;
mod policies;
mod readme;
mod referrals;
mod schema;
mod storage;
mod territory;
