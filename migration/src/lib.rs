//! Database migrations for entente. One file per step; a file that has landed on main
//! is never edited again: add a new step instead.
pub use sea_orm_migration::prelude::*;

mod m20261123_000001_foundation;
mod m20261123_000002_data_version;
mod m20261124_000003_meetings;
mod m20261124_000004_referrals;
mod m20261124_000005_referral_standing_index;
mod m20261201_000006_meeting_proofs;
mod m20261201_000007_cache_versions;
mod m20261201_000008_notification_read;
mod m20261201_000009_document_chunks;
mod m20261201_000010_outbox;
mod m20261201_000011_typed_columns;
mod m20261201_000012_policies;
mod m20261201_000013_policy_reminders_search;
mod m20261201_000014_delivery;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_foundation::Migration),
            Box::new(m20261123_000002_data_version::Migration),
            Box::new(m20261124_000003_meetings::Migration),
            Box::new(m20261124_000004_referrals::Migration),
            Box::new(m20261124_000005_referral_standing_index::Migration),
            Box::new(m20261201_000006_meeting_proofs::Migration),
            Box::new(m20261201_000007_cache_versions::Migration),
            Box::new(m20261201_000008_notification_read::Migration),
            Box::new(m20261201_000009_document_chunks::Migration),
            Box::new(m20261201_000010_outbox::Migration),
            Box::new(m20261201_000011_typed_columns::Migration),
            Box::new(m20261201_000012_policies::Migration),
            Box::new(m20261201_000013_policy_reminders_search::Migration),
            Box::new(m20261201_000014_delivery::Migration),
        ]
    }
}
