//! Storage of persons and their mandates.
pub mod person {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "person")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub given_name: String,
        pub family_name: String,
        /// `search_key("given family")`.
        pub search_key: String,
        pub email: Option<String>,
        pub scope_intercommunality_id: Option<i32>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i32,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod mandate {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "mandate")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub person_id: i32,
        pub commune_id: Option<i32>,
        pub intercommunality_id: Option<i32>,
        pub role: crate::people::rules::Role,
        pub delegation: Option<String>,
        pub start_date: Date,
        /// Exclusive: on this day the mandate no longer runs.
        pub end_date: Option<Date>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i32,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(belongs_to = "super::person::Entity", from = "Column::PersonId", to = "super::person::Column::Id")]
        Person,
    }
    impl Related<super::person::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Person.def()
        }
    }
    impl ActiveModelBehavior for ActiveModel {}
}
