//! Bodies and meetings: bodies with their rule profiles, designated seats, meetings with
//! agenda items, documents, convocations, attendance, proxies, roll-call ballots,
//! mayors' requests for a conference, notifications and calendar feeds.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

pub(crate) fn a(s: &str) -> Alias {
    Alias::new(s)
}
pub(crate) fn pk() -> ColumnDef {
    ColumnDef::new(a("id")).integer().not_null().auto_increment().primary_key().take()
}
pub(crate) fn int(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).integer().not_null().take()
}
pub(crate) fn int_null(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).integer().null().take()
}
pub(crate) fn big_null(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).big_integer().null().take()
}
pub(crate) fn text(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).string().not_null().take()
}
pub(crate) fn text_null(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).string().null().take()
}
pub(crate) fn long_null(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).text().null().take()
}
pub(crate) fn boolean(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).boolean().not_null().take()
}
pub(crate) fn ts(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).timestamp_with_time_zone().not_null().take()
}
pub(crate) fn ts_null(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).timestamp_with_time_zone().null().take()
}
pub(crate) fn date(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).date().not_null().take()
}
pub(crate) fn date_null(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).date().null().take()
}
pub(crate) fn version() -> ColumnDef {
    ColumnDef::new(a("version")).integer().not_null().default(1).take()
}
pub(crate) fn fk(from: &str, col: &str, to: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(a(from), a(col)).to(a(to), a("id")).on_delete(ForeignKeyAction::Restrict).take()
}

pub(crate) async fn table(
    m: &SchemaManager<'_>,
    name: &str,
    cols: Vec<ColumnDef>,
    fks: &[(&str, &str)],
) -> Result<(), DbErr> {
    let mut t = Table::create().table(a(name)).col(pk()).take();
    for mut c in cols {
        t.col(&mut c);
    }
    for (col, to) in fks {
        t.foreign_key(&mut fk(name, col, to));
    }
    m.create_table(t).await
}

pub(crate) async fn index(
    m: &SchemaManager<'_>,
    name: &str,
    table: &str,
    cols: &[&str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut i = Index::create().name(name).table(a(table)).take();
    for c in cols {
        i.col(a(c));
    }
    if unique {
        i.unique();
    }
    m.create_index(i).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        table(
            m,
            "body",
            vec![
                int("intercommunality_id"),
                text("kind"),
                text("name"),
                text_null("theme"),
                int("notice_clear_days"),
                int("urgency_clear_days"),
                boolean("note_required"),
                text("quorum_rule"),
                boolean("proxies_allowed"),
                int("proxies_per_holder"),
                int("proxy_max_meetings"),
                int("second_convocation_days"),
                text("legal_source"),
                ts("created_at"),
                ts("updated_at"),
                version(),
            ],
            &[("intercommunality_id", "intercommunality")],
        )
        .await?;
        index(m, "ix_body_epci", "body", &["intercommunality_id"], false).await?;

        table(
            m,
            "body_seat",
            vec![
                int("body_id"),
                int("person_id"),
                text("role"),
                int("mandate_id"),
                int_null("designated_by_mandate_id"),
                date("start_date"),
                date_null("end_date"),
                ts("created_at"),
                version(),
            ],
            &[("body_id", "body"), ("person_id", "person"), ("mandate_id", "mandate")],
        )
        .await?;
        index(m, "ix_body_seat_body", "body_seat", &["body_id"], false).await?;

        table(
            m,
            "meeting_request",
            vec![
                int("body_id"),
                ColumnDef::new(a("agenda")).text().not_null().take(),
                text("status"),
                int("created_by_person_id"),
                ts("created_at"),
                ts_null("granted_at"),
                date_null("due_date"),
                text_null("refusal_reason"),
                int_null("meeting_id"),
                version(),
            ],
            &[("body_id", "body"), ("created_by_person_id", "person")],
        )
        .await?;
        table(
            m,
            "request_signature",
            vec![int("request_id"), int("person_id"), int("commune_id"), int("mandate_id"), ts("signed_at")],
            &[("request_id", "meeting_request"), ("person_id", "person"), ("commune_id", "commune")],
        )
        .await?;
        index(m, "ux_request_signature", "request_signature", &["request_id", "commune_id"], true).await?;

        table(
            m,
            "meeting",
            vec![
                int("body_id"),
                text("title"),
                text("status"),
                ts("starts_at"),
                ts("ends_at"),
                text_null("venue"),
                int_null("host_commune_id"),
                text_null("online_url"),
                long_null("urgency_reason"),
                ts_null("convened_at"),
                int_null("first_convocation_id"),
                int_null("request_id"),
                long_null("minutes_text"),
                text("minutes_status"),
                date_null("minutes_approved_on"),
                int_null("minutes_approved_by_item_id"),
                ts_null("minutes_published_at"),
                ts_null("decisions_published_at"),
                int("sequence"),
                ts("created_at"),
                ts("updated_at"),
                version(),
            ],
            &[("body_id", "body"), ("host_commune_id", "commune"), ("request_id", "meeting_request")],
        )
        .await?;
        index(m, "ix_meeting_body_start", "meeting", &["body_id", "starts_at"], false).await?;

        table(
            m,
            "agenda_item",
            vec![
                int("meeting_id"),
                int("position"),
                text("kind"),
                text("title"),
                int_null("presenter_person_id"),
                long_null("note"),
                int_null("minutes_of_meeting_id"),
                int_null("votes_for"),
                int_null("votes_against"),
                int_null("votes_abstain"),
                ColumnDef::new(a("secret_ballot")).boolean().not_null().default(false).take(),
                ColumnDef::new(a("weighted")).boolean().not_null().default(false).take(),
                big_null("weight_for"),
                big_null("weight_against"),
                big_null("weight_abstain"),
                text_null("result"),
                ColumnDef::new(a("casting_vote_used")).boolean().not_null().default(false).take(),
                long_null("opinion_text"),
                ts_null("decided_at"),
                ts("created_at"),
                version(),
            ],
            &[("meeting_id", "meeting"), ("presenter_person_id", "person")],
        )
        .await?;
        index(m, "ux_agenda_item_position", "agenda_item", &["meeting_id", "position"], true).await?;

        table(
            m,
            "ballot",
            vec![
                int("agenda_item_id"),
                int("person_id"),
                text("choice"),
                int_null("cast_by_person_id"),
                int_null("commune_id"),
                big_null("population"),
                int_null("population_year"),
            ],
            &[("agenda_item_id", "agenda_item"), ("person_id", "person")],
        )
        .await?;
        index(m, "ux_ballot", "ballot", &["agenda_item_id", "person_id"], true).await?;

        table(
            m,
            "document",
            vec![
                int("meeting_id"),
                int_null("agenda_item_id"),
                text("filename"),
                text("media_type"),
                ColumnDef::new(a("size_bytes")).big_integer().not_null().take(),
                ColumnDef::new(a("sha256")).string_len(64).not_null().take(),
                ColumnDef::new(a("content")).blob().not_null().take(),
                int_null("uploaded_by_account_id"),
                ts("uploaded_at"),
                boolean("after_convocation"),
            ],
            &[("meeting_id", "meeting"), ("agenda_item_id", "agenda_item")],
        )
        .await?;
        index(m, "ix_document_meeting", "document", &["meeting_id"], false).await?;

        table(
            m,
            "convocation",
            vec![
                int("meeting_id"),
                int("person_id"),
                text("seat"),
                int_null("commune_id"),
                ts("sent_at"),
                text("channel"),
                ts_null("read_at"),
            ],
            &[("meeting_id", "meeting"), ("person_id", "person")],
        )
        .await?;
        index(m, "ux_convocation", "convocation", &["meeting_id", "person_id"], true).await?;
        index(m, "ix_convocation_person", "convocation", &["person_id"], false).await?;

        table(
            m,
            "proxy",
            vec![
                int("body_id"),
                int("giver_person_id"),
                int("holder_person_id"),
                int("first_meeting_id"),
                int("meetings_count"),
                ts("given_at"),
                ts_null("revoked_at"),
            ],
            &[("body_id", "body"), ("giver_person_id", "person"), ("holder_person_id", "person")],
        )
        .await?;
        index(m, "ix_proxy_body", "proxy", &["body_id"], false).await?;

        table(
            m,
            "attendance",
            vec![
                int("meeting_id"),
                int("person_id"),
                text("status"),
                int_null("arrival_position"),
                int_null("departure_position"),
                int_null("proxy_id"),
                ts("recorded_at"),
                version(),
            ],
            &[("meeting_id", "meeting"), ("person_id", "person")],
        )
        .await?;
        index(m, "ux_attendance", "attendance", &["meeting_id", "person_id"], true).await?;

        table(
            m,
            "notification",
            vec![
                int("person_id"),
                text("kind"),
                int_null("meeting_id"),
                int_null("agenda_item_id"),
                long_null("message"),
                ts("created_at"),
                ts_null("read_at"),
            ],
            &[("person_id", "person")],
        )
        .await?;
        index(m, "ix_notification_person", "notification", &["person_id"], false).await?;

        table(
            m,
            "calendar_feed",
            vec![
                ColumnDef::new(a("person_id")).integer().not_null().unique_key().take(),
                ColumnDef::new(a("token_hash")).string_len(64).not_null().unique_key().take(),
                ts("created_at"),
            ],
            &[("person_id", "person")],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "calendar_feed",
            "notification",
            "attendance",
            "proxy",
            "convocation",
            "document",
            "ballot",
            "agenda_item",
            "meeting",
            "request_signature",
            "meeting_request",
            "body_seat",
            "body",
        ] {
            m.drop_table(Table::drop().table(a(t)).to_owned()).await?;
        }
        Ok(())
    }
}
