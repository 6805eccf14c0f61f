//! Response-cache versions by scope (issue 14, defect 8), replacing the one
//! `data_version` row that every write updated: on PostgreSQL every writer queued on
//! that row's lock, and any write emptied every account's cached answers.
//!
//! A scope's version is the sum of its rows (`shard` 0 to 15): a write adds one to a
//! single row of each scope it changes, picked from the writer, so writers seldom wait
//! for each other, and the sum still grows with every write. Scopes: `global` (every
//! write), `territory` (every write but a referral's own), `referral:<id>` (a referral's
//! writes; its rows are created by its first write, a missing row counts 0).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SHARDS: i32 = 16;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(CacheVersion::Table)
                .col(ColumnDef::new(CacheVersion::Scope).string_len(40).not_null())
                .col(ColumnDef::new(CacheVersion::Shard).small_integer().not_null())
                .col(ColumnDef::new(CacheVersion::Version).big_integer().not_null().default(0))
                .primary_key(Index::create().col(CacheVersion::Scope).col(CacheVersion::Shard))
                .to_owned(),
        )
        .await?;
        let mut insert = Query::insert()
            .into_table(CacheVersion::Table)
            .columns([CacheVersion::Scope, CacheVersion::Shard, CacheVersion::Version])
            .to_owned();
        for scope in ["global", "territory"] {
            for shard in 0..SHARDS {
                insert.values_panic([scope.into(), shard.into(), 0.into()]);
            }
        }
        m.exec_stmt(insert).await?;
        m.drop_table(Table::drop().table(DataVersion::Table).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
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
        .await?;
        m.drop_table(Table::drop().table(CacheVersion::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum CacheVersion {
    Table,
    Scope,
    Shard,
    Version,
}

#[derive(DeriveIden)]
enum DataVersion {
    Table,
    Id,
    Version,
}
