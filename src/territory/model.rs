//! Storage of the territory: sea-orm entities, never exposed as API types.
pub mod intercommunality {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "intercommunality")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub siren: String,
        pub name: String,
        /// `search_key(name)`: what searches compare, the same on every database.
        pub search_key: String,
        pub legal_form: crate::territory::rules::LegalForm,
        pub financing_mode: Option<String>,
        pub population: Option<i32>,
        pub population_year: Option<i32>,
        pub population_source: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i32,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod commune {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "commune")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub insee_code: String,
        pub name: String,
        /// `search_key(name)`: what searches compare, the same on every database.
        pub search_key: String,
        pub departement: String,
        pub region: Option<String>,
        pub siren: Option<String>,
        pub population: Option<i32>,
        pub population_year: Option<i32>,
        pub population_source: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i32,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::commune_membership::Entity")]
        Membership,
    }
    impl Related<super::commune_membership::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Membership.def()
        }
    }
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod commune_membership {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "commune_membership")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub commune_id: i32,
        pub intercommunality_id: i32,
        pub start_date: Option<Date>,
        pub end_date: Option<Date>,
        pub population: Option<i32>,
        pub population_year: Option<i32>,
        pub created_at: DateTimeUtc,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::commune::Entity",
            from = "Column::CommuneId",
            to = "super::commune::Column::Id"
        )]
        Commune,
    }
    impl Related<super::commune::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Commune.def()
        }
    }
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod territory {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "territory")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub intercommunality_id: i32,
        pub name: String,
        pub code: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i32,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod territory_commune {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "territory_commune")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub territory_id: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub commune_id: i32,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}
