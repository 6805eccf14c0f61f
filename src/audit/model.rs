//! Storage of the audit log: one row per mutation, written in the mutation's transaction.
pub mod audit_entry {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_entry")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub at: DateTimeUtc,
        pub actor_account_id: Option<i32>,
        pub actor_label: String,
        pub action: String,
        pub target_type: String,
        pub target_id: Option<i32>,
        pub intercommunality_id: Option<i32>,
        /// A JSON document (jsonb on PostgreSQL, JSON text on SQLite: migration 000011).
        pub summary: Json,
        pub request_id: Option<String>,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}
