//! A counter of changes to what queries can see, bumped in the transaction of every
//! mutation (by the audit log), so that response caches in every server process know
//! when their entries are stale.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(DataVersion::Table)
                .col(ColumnDef::new(DataVersion::Id).integer().not_null().primary_key())
                .col(ColumnDef::new(DataVersion::Version).big_integer().not_null().default(0))
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::insert()
                .into_table(DataVersion::Table)
                .columns([DataVersion::Id, DataVersion::Version])
                .values_panic([1.into(), 0.into()])
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(DataVersion::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum DataVersion {
    Table,
    Id,
    Version,
}
