//! The project's two declarative macros.
//!
//! `entity!`: a sea-orm entity with an integer primary key `id` and no relations (the
//! services join by hand and list relations go through DataLoaders).
//!
//! `str_enum!`: a GraphQL enum stored as its SCREAMING_CASE string, with `ALL`, `as_str`
//! and `parse`; it is also a sea-orm `ActiveEnum` (a string column), so entities hold the
//! enum itself: a stored value that is not one of its strings fails the row's read with
//! a `DbErr` (INTERNAL, logged with the value), never a default.
macro_rules! entity {
    ($module:ident, $table:literal, { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        pub mod $module {
            use sea_orm::entity::prelude::*;
            #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                #[sea_orm(primary_key)]
                pub id: i32,
                $($(#[$fm])* pub $field: $ty),*
            }
            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}
            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(
            async_graphql::Enum,
            sea_orm::DeriveActiveEnum,
            sea_orm::EnumIter,
            Copy,
            Clone,
            Debug,
            PartialEq,
            Eq,
            Hash,
        )]
        #[sea_orm(rs_type = "String", db_type = "String(sea_orm::sea_query::StringLen::None)")]
        pub enum $name { $($(#[$vm])* #[sea_orm(string_value = $s)] $v),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|x| x.as_str() == s)
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        /// Its string, as in storage (audit summaries, JSON documents).
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}
