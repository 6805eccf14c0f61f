//! Referrals (saisines): the referral, one addressee row per commune (its frozen
//! population and its response), every revision of a response, versioned data-collection
//! forms, documents, signature delegations, sent reminders; notifications gain a referral.
use sea_orm_migration::prelude::*;

use crate::m20261124_000003_meetings::{
    a, big_null, boolean, date, date_null, index, int, int_null, long_null, table, text, text_null, ts, ts_null,
    version,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        table(
            m,
            "referral",
            vec![
                // None: a national consultation run by an administrator.
                int_null("intercommunality_id"),
                text("kind"),
                text("procedure"),
                text("title"),
                long_null("description"),
                text("legal_basis"),
                int_null("body_id"),
                int_null("meeting_id"),
                text("status"),
                text("addressee_mode"),
                // JSON array of commune ids for a chosen subset or the single commune.
                long_null("chosen_communes"),
                int_null("duration_months"),
                date_null("deadline_date"),
                text("silence"),
                text("decision"),
                boolean("strict_second_branch"),
                boolean("secretariat_only"),
                text("reminder_days"),
                date_null("clock_start_date"),
                ts_null("opened_at"),
                ts_null("deadline"),
                ts_null("closed_at"),
                int_null("created_by_account_id"),
                ts("created_at"),
                ts("updated_at"),
                version(),
            ],
            &[("intercommunality_id", "intercommunality"), ("body_id", "body"), ("meeting_id", "meeting")],
        )
        .await?;
        index(m, "ix_referral_status", "referral", &["status", "deadline"], false).await?;
        index(m, "ix_referral_intercommunality", "referral", &["intercommunality_id"], false).await?;

        table(
            m,
            "referral_addressee",
            vec![
                int("referral_id"),
                int("commune_id"),
                big_null("population"),
                int_null("population_year"),
                text_null("population_source"),
                text("status"),
                text_null("opinion"),
                long_null("reasons"),
                text_null("deliberation_number"),
                date_null("deliberation_date"),
                long_null("answers"),
                int_null("form_version"),
                ts_null("submitted_at"),
                int_null("submitted_by_person_id"),
                ts_null("saved_at"),
                int_null("saved_by_person_id"),
                version(),
            ],
            &[("referral_id", "referral"), ("commune_id", "commune")],
        )
        .await?;
        index(m, "ux_referral_addressee", "referral_addressee", &["referral_id", "commune_id"], true).await?;
        index(m, "ix_referral_addressee_commune", "referral_addressee", &["commune_id"], false).await?;
        // The most populous addressee of a referral (the L5211-17 condition).
        index(m, "ix_referral_addressee_population", "referral_addressee", &["referral_id", "population"], false)
            .await?;

        table(
            m,
            "response_revision",
            vec![
                int("addressee_id"),
                int("revision"),
                text("status"),
                text_null("opinion"),
                long_null("reasons"),
                text_null("deliberation_number"),
                date_null("deliberation_date"),
                long_null("answers"),
                int_null("form_version"),
                int_null("person_id"),
                ts("at"),
            ],
            &[("addressee_id", "referral_addressee")],
        )
        .await?;
        index(m, "ux_response_revision", "response_revision", &["addressee_id", "revision"], true).await?;

        table(
            m,
            "referral_form",
            vec![int("referral_id"), int("form_version"), long_null("fields"), ts("created_at")],
            &[("referral_id", "referral")],
        )
        .await?;
        index(m, "ux_referral_form", "referral_form", &["referral_id", "form_version"], true).await?;

        table(
            m,
            "referral_document",
            vec![
                int("referral_id"),
                // None: the referral's own file; Some: a file a commune attached to its answer.
                int_null("commune_id"),
                text("filename"),
                text("media_type"),
                ColumnDef::new(a("size_bytes")).big_integer().not_null().take(),
                ColumnDef::new(a("sha256")).string_len(64).not_null().take(),
                ColumnDef::new(a("content")).blob().not_null().take(),
                int_null("uploaded_by_account_id"),
                ts("uploaded_at"),
            ],
            &[("referral_id", "referral"), ("commune_id", "commune")],
        )
        .await?;
        index(m, "ix_referral_document", "referral_document", &["referral_id"], false).await?;

        table(
            m,
            "signature_delegation",
            vec![
                int("commune_id"),
                int("person_id"),
                // The delegating mayor's mandate: the delegation ends with it.
                int("mayor_mandate_id"),
                date("start_date"),
                date_null("end_date"),
                ts("created_at"),
            ],
            &[("commune_id", "commune"), ("person_id", "person"), ("mayor_mandate_id", "mandate")],
        )
        .await?;
        index(m, "ix_signature_delegation", "signature_delegation", &["person_id"], false).await?;

        table(
            m,
            "referral_reminder",
            vec![int("referral_id"), int("offset_days"), ts("deadline"), ts("sent_at"), int("recipients")],
            &[("referral_id", "referral")],
        )
        .await?;
        index(m, "ux_referral_reminder", "referral_reminder", &["referral_id", "deadline", "offset_days"], true)
            .await?;

        m.alter_table(Table::alter().table(a("notification")).add_column(int_null("referral_id")).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(a("notification")).drop_column(a("referral_id")).to_owned()).await?;
        for t in [
            "referral_reminder",
            "signature_delegation",
            "referral_document",
            "referral_form",
            "response_revision",
            "referral_addressee",
            "referral",
        ] {
            m.drop_table(Table::drop().table(a(t)).to_owned()).await?;
        }
        Ok(())
    }
}
