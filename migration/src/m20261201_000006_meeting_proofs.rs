//! Two guarantees the meetings part checked only in code (issue 14, defect 7):
//! - a person has at most one open seat in a body: a partial unique index, so two
//!   designations racing past the check cannot both commit;
//! - re-convening a meeting (after a postponement) keeps the earlier convocations, whose
//!   sending and reading times are the legal proof: they move to
//!   `superseded_convocation`, with the time they were superseded and the meeting's
//!   sequence they belonged to.
use sea_orm_migration::prelude::*;

use crate::m20261124_000003_meetings::{a, fk, int, int_null, pk, text, ts, ts_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // A database from before this step may hold two open seats of one person in one
        // body (the check was only in code): all but the newest end today, so the
        // index can be made. Same SQL on SQLite and PostgreSQL (both have partial indexes).
        m.get_connection()
            .execute_unprepared(
                "UPDATE body_seat SET end_date = CURRENT_DATE WHERE end_date IS NULL AND id < \
                 (SELECT MAX(s.id) FROM body_seat s WHERE s.body_id = body_seat.body_id \
                 AND s.person_id = body_seat.person_id AND s.end_date IS NULL)",
            )
            .await?;
        m.get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_body_seat_open ON body_seat (body_id, person_id) WHERE end_date IS NULL",
            )
            .await?;
        let mut t = Table::create().table(a("superseded_convocation")).col(pk()).take();
        for mut c in [
            int("meeting_id"),
            int("person_id"),
            text("seat"),
            int_null("commune_id"),
            ts("sent_at"),
            text("channel"),
            ts_null("read_at"),
            int("sequence"),
            ts("superseded_at"),
        ] {
            t.col(&mut c);
        }
        t.foreign_key(&mut fk("superseded_convocation", "meeting_id", "meeting"));
        t.foreign_key(&mut fk("superseded_convocation", "person_id", "person"));
        m.create_table(t).await?;
        m.create_index(
            Index::create()
                .name("ix_superseded_convocation_meeting")
                .table(a("superseded_convocation"))
                .col(a("meeting_id"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(a("superseded_convocation")).to_owned()).await?;
        m.drop_index(Index::drop().name("ux_body_seat_open").table(a("body_seat")).to_owned()).await
    }
}
