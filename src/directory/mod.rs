//! The directory (l'annuaire): the GraphQL objects of the organisations of the territory
//! and the people who hold their mandates. They reference each other (a commune's mayor is
//! a mandate, a mandate's organisation is a commune), so they live in one module, while
//! their data, rules and use cases stay in `territory` and `people`.
pub mod graphql;
