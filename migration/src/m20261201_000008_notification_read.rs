//! Notifications gain a read state (the `read_at` column was there, never set): an index
//! for a person's unread count and for paging their notifications newest first.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "ix_notification_person_read";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut i = Index::create().name(NAME).table(Alias::new("notification")).if_not_exists().take();
        for c in ["person_id", "read_at", "id"] {
            i.col(Alias::new(c));
        }
        m.create_index(i).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(NAME).table(Alias::new("notification")).to_owned()).await
    }
}
