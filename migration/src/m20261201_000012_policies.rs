//! Policies written together (issue 15): the policy, its text as a tree of sections
//! edited in place, the versions that freeze it, contributions on a version with their
//! co-signing communes and motivated answers, the contributions behind each change, the
//! consultations (a referral, a conference agenda item) and the approval path.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

use crate::m20261124_000003_meetings::{
    a, big_null, date_null, index, int, int_null, long_null, table, text, text_null, ts, ts_null, version,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn long(n: &str) -> ColumnDef {
    ColumnDef::new(a(n)).text().not_null().take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        table(
            m,
            "policy",
            vec![
                int("intercommunality_id"),
                text("kind"),
                text("title"),
                long("summary"),
                int_null("lead_mandate_id"),
                int_null("drafting_body_id"),
                text_null("secretariat"),
                text_null("legal_basis"),
                text("status"),
                int("cycle"),
                text("visibility"),
                ts_null("concertation_closes_at"),
                int_null("adopted_version_id"),
                ts("created_at"),
                ts("updated_at"),
                version(),
            ],
            &[
                ("intercommunality_id", "intercommunality"),
                ("lead_mandate_id", "mandate"),
                ("drafting_body_id", "body"),
            ],
        )
        .await?;
        index(m, "ix_policy_intercommunality", "policy", &["intercommunality_id"], false).await?;
        table(
            m,
            "policy_section",
            vec![
                int("policy_id"),
                int_null("parent_id"),
                int("position"),
                text("title"),
                long("body"),
                ts("updated_at"),
                int_null("updated_by_account_id"),
                version(),
            ],
            &[("policy_id", "policy"), ("parent_id", "policy_section")],
        )
        .await?;
        index(m, "ix_policy_section_policy", "policy_section", &["policy_id", "parent_id", "position"], false).await?;
        table(
            m,
            "policy_version",
            vec![
                int("policy_id"),
                int("number"),
                int("cycle"),
                long("change_note"),
                ts("published_at"),
                int_null("published_by_account_id"),
            ],
            &[("policy_id", "policy")],
        )
        .await?;
        index(m, "ux_policy_version_number", "policy_version", &["policy_id", "number"], true).await?;
        table(
            m,
            "policy_version_section",
            vec![
                int("version_id"),
                int("section_id"),
                int_null("parent_id"),
                int("position"),
                int("ordinal"),
                text("label"),
                text("title"),
                long("body"),
            ],
            &[("version_id", "policy_version")],
        )
        .await?;
        index(m, "ux_policy_version_section", "policy_version_section", &["version_id", "section_id"], true).await?;
        table(
            m,
            "policy_contribution",
            vec![
                int("policy_id"),
                int("version_id"),
                int_null("section_id"),
                text("kind"),
                int_null("parent_id"),
                int_null("commune_id"),
                int("author_person_id"),
                int("author_account_id"),
                long("body"),
                long_null("proposed_text"),
                text("visibility"),
                text("status"),
                text_null("answer"),
                long_null("answer_reasons"),
                int_null("merged_into_id"),
                ts_null("answered_at"),
                int_null("answered_by_account_id"),
                ts_null("withdrawn_at"),
                ts("created_at"),
                version(),
            ],
            &[
                ("policy_id", "policy"),
                ("version_id", "policy_version"),
                ("parent_id", "policy_contribution"),
                ("commune_id", "commune"),
                ("author_person_id", "person"),
            ],
        )
        .await?;
        index(m, "ix_policy_contribution_policy", "policy_contribution", &["policy_id", "version_id"], false).await?;
        table(
            m,
            "policy_cosignature",
            vec![
                int("contribution_id"),
                int("commune_id"),
                int("person_id"),
                ColumnDef::new(a("author")).boolean().not_null().take(),
                big_null("population"),
                int_null("population_year"),
                ts("signed_at"),
            ],
            &[("contribution_id", "policy_contribution"), ("commune_id", "commune"), ("person_id", "person")],
        )
        .await?;
        index(m, "ux_policy_cosignature", "policy_cosignature", &["contribution_id", "commune_id"], true).await?;
        table(
            m,
            "policy_section_source",
            vec![int("policy_id"), int("section_id"), int("contribution_id"), int_null("version_id"), ts("created_at")],
            &[("policy_id", "policy"), ("contribution_id", "policy_contribution")],
        )
        .await?;
        index(m, "ux_policy_section_source", "policy_section_source", &["section_id", "contribution_id"], true).await?;
        index(m, "ix_policy_section_source_version", "policy_section_source", &["policy_id", "version_id"], false)
            .await?;
        table(
            m,
            "policy_consultation",
            vec![
                int("policy_id"),
                int("version_id"),
                int_null("referral_id"),
                int_null("agenda_item_id"),
                ts("created_at"),
            ],
            &[
                ("policy_id", "policy"),
                ("version_id", "policy_version"),
                ("referral_id", "referral"),
                ("agenda_item_id", "agenda_item"),
            ],
        )
        .await?;
        index(m, "ix_policy_consultation_policy", "policy_consultation", &["policy_id"], false).await?;
        table(
            m,
            "policy_step",
            vec![
                int("policy_id"),
                int("cycle"),
                int("position"),
                text("kind"),
                text("label"),
                int_null("body_id"),
                int_null("version_id"),
                text_null("outcome"),
                date_null("decided_on"),
                text_null("deliberation_number"),
                long_null("note"),
                ts_null("recorded_at"),
                version(),
            ],
            &[("policy_id", "policy"), ("body_id", "body"), ("version_id", "policy_version")],
        )
        .await?;
        index(m, "ix_policy_step_policy", "policy_step", &["policy_id", "cycle", "position"], false).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite deletes a table's rows before dropping it, and ON DELETE RESTRICT refuses
        // each row another row of the table points to (a comment's thread, a part's
        // articles): unlink them first. (Fixed after landing, in down only: up is unchanged.)
        let conn = m.get_connection();
        conn.execute_unprepared("UPDATE policy_contribution SET parent_id = NULL").await?;
        conn.execute_unprepared("UPDATE policy_section SET parent_id = NULL").await?;
        // The notifications of policies go with them: the code before this step cannot
        // read their kinds.
        crate::m20261201_000013_policy_reminders_search::forget_kinds(
            conn,
            &["CONTRIBUTION_ANSWERED", "POLICY_VERSION_PUBLISHED", "CONCERTATION_OPENED"],
        )
        .await?;
        for t in [
            "policy_step",
            "policy_consultation",
            "policy_section_source",
            "policy_cosignature",
            "policy_contribution",
            "policy_version_section",
            "policy_version",
            "policy_section",
            "policy",
        ] {
            m.drop_table(Table::drop().table(a(t)).to_owned()).await?;
        }
        Ok(())
    }
}
