//! Integration tests through the real HTTP server, one binary (links the crate once).
//! Each test gets its own server and database; TEST_DATABASE_URL switches SQLite for
//! PostgreSQL.
mod helpers;

mod auth;
mod cache;
mod cli;
mod errors;
mod import;
mod limits;
mod lists;
mod mandates;
mod meetings;
mod n_plus_one;
mod permissions;
mod referrals;
mod schema;
mod territory;
