//! Foundation: territory (communes, intercommunalities, memberships, territories),
//! people (persons, mandates), accounts (sessions, invitations, sign-in throttling)
//! and the audit log.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn pk(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).integer().not_null().auto_increment().primary_key().take()
}
fn ts(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).timestamp_with_time_zone().not_null().take()
}
fn ts_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).timestamp_with_time_zone().null().take()
}
fn text(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).string().not_null().take()
}
fn text_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).string().null().take()
}
fn int_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).integer().null().take()
}
fn version(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).integer().not_null().default(1).take()
}
fn fk(
    from_tbl: impl IntoIden,
    from_col: impl IntoIden,
    to_tbl: impl IntoIden,
    to_col: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(from_tbl, from_col).to(to_tbl, to_col).on_delete(ForeignKeyAction::Restrict).take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Intercommunality::Table)
                .col(pk(Intercommunality::Id))
                .col(ColumnDef::new(Intercommunality::Siren).string_len(9).not_null().unique_key())
                .col(text(Intercommunality::Name))
                .col(text(Intercommunality::SearchKey))
                .col(text(Intercommunality::LegalForm))
                .col(text_null(Intercommunality::FinancingMode))
                .col(int_null(Intercommunality::Population))
                .col(int_null(Intercommunality::PopulationYear))
                .col(text_null(Intercommunality::PopulationSource))
                .col(ts(Intercommunality::CreatedAt))
                .col(ts(Intercommunality::UpdatedAt))
                .col(version(Intercommunality::Version))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_intercommunality_name")
                .table(Intercommunality::Table)
                .col(Intercommunality::Name)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Commune::Table)
                .col(pk(Commune::Id))
                .col(ColumnDef::new(Commune::InseeCode).string_len(5).not_null().unique_key())
                .col(text(Commune::Name))
                .col(text(Commune::SearchKey))
                .col(text(Commune::Departement))
                .col(text_null(Commune::Region))
                .col(ColumnDef::new(Commune::Siren).string_len(9).null())
                .col(int_null(Commune::Population))
                .col(int_null(Commune::PopulationYear))
                .col(text_null(Commune::PopulationSource))
                .col(ts(Commune::CreatedAt))
                .col(ts(Commune::UpdatedAt))
                .col(version(Commune::Version))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_commune_name").table(Commune::Table).col(Commune::Name).to_owned())
            .await?;
        m.create_index(Index::create().name("ix_commune_siren").table(Commune::Table).col(Commune::Siren).to_owned())
            .await?;

        m.create_table(
            Table::create()
                .table(CommuneMembership::Table)
                .col(pk(CommuneMembership::Id))
                .col(ColumnDef::new(CommuneMembership::CommuneId).integer().not_null())
                .col(ColumnDef::new(CommuneMembership::IntercommunalityId).integer().not_null())
                .col(ColumnDef::new(CommuneMembership::StartDate).date().null())
                .col(ColumnDef::new(CommuneMembership::EndDate).date().null())
                .col(int_null(CommuneMembership::Population))
                .col(int_null(CommuneMembership::PopulationYear))
                .col(ts(CommuneMembership::CreatedAt))
                .foreign_key(&mut fk(
                    CommuneMembership::Table,
                    CommuneMembership::CommuneId,
                    Commune::Table,
                    Commune::Id,
                ))
                .foreign_key(&mut fk(
                    CommuneMembership::Table,
                    CommuneMembership::IntercommunalityId,
                    Intercommunality::Table,
                    Intercommunality::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_membership_epci")
                .table(CommuneMembership::Table)
                .col(CommuneMembership::IntercommunalityId)
                .col(CommuneMembership::EndDate)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_membership_commune")
                .table(CommuneMembership::Table)
                .col(CommuneMembership::CommuneId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Territory::Table)
                .col(pk(Territory::Id))
                .col(ColumnDef::new(Territory::IntercommunalityId).integer().not_null())
                .col(text(Territory::Name))
                .col(text_null(Territory::Code))
                .col(ts(Territory::CreatedAt))
                .col(ts(Territory::UpdatedAt))
                .col(version(Territory::Version))
                .foreign_key(&mut fk(
                    Territory::Table,
                    Territory::IntercommunalityId,
                    Intercommunality::Table,
                    Intercommunality::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_territory_name")
                .table(Territory::Table)
                .col(Territory::IntercommunalityId)
                .col(Territory::Name)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(TerritoryCommune::Table)
                .col(ColumnDef::new(TerritoryCommune::TerritoryId).integer().not_null())
                .col(ColumnDef::new(TerritoryCommune::CommuneId).integer().not_null())
                .primary_key(Index::create().col(TerritoryCommune::TerritoryId).col(TerritoryCommune::CommuneId))
                .foreign_key(
                    &mut fk(TerritoryCommune::Table, TerritoryCommune::TerritoryId, Territory::Table, Territory::Id)
                        .on_delete(ForeignKeyAction::Cascade)
                        .take(),
                )
                .foreign_key(&mut fk(TerritoryCommune::Table, TerritoryCommune::CommuneId, Commune::Table, Commune::Id))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_territory_commune_commune")
                .table(TerritoryCommune::Table)
                .col(TerritoryCommune::CommuneId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Person::Table)
                .col(pk(Person::Id))
                .col(text(Person::GivenName))
                .col(text(Person::FamilyName))
                .col(text(Person::SearchKey))
                .col(text_null(Person::Email))
                .col(int_null(Person::ScopeIntercommunalityId))
                .col(ts(Person::CreatedAt))
                .col(ts(Person::UpdatedAt))
                .col(version(Person::Version))
                .foreign_key(&mut fk(
                    Person::Table,
                    Person::ScopeIntercommunalityId,
                    Intercommunality::Table,
                    Intercommunality::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_person_family_name").table(Person::Table).col(Person::FamilyName).to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Mandate::Table)
                .col(pk(Mandate::Id))
                .col(ColumnDef::new(Mandate::PersonId).integer().not_null())
                .col(int_null(Mandate::CommuneId))
                .col(int_null(Mandate::IntercommunalityId))
                .col(text(Mandate::Role))
                .col(text_null(Mandate::Delegation))
                .col(ColumnDef::new(Mandate::StartDate).date().not_null())
                .col(ColumnDef::new(Mandate::EndDate).date().null())
                .col(ts(Mandate::CreatedAt))
                .col(ts(Mandate::UpdatedAt))
                .col(version(Mandate::Version))
                .foreign_key(&mut fk(Mandate::Table, Mandate::PersonId, Person::Table, Person::Id))
                .foreign_key(&mut fk(Mandate::Table, Mandate::CommuneId, Commune::Table, Commune::Id))
                .foreign_key(&mut fk(
                    Mandate::Table,
                    Mandate::IntercommunalityId,
                    Intercommunality::Table,
                    Intercommunality::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_mandate_person").table(Mandate::Table).col(Mandate::PersonId).to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_mandate_commune_role")
                .table(Mandate::Table)
                .col(Mandate::CommuneId)
                .col(Mandate::Role)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_mandate_epci_role")
                .table(Mandate::Table)
                .col(Mandate::IntercommunalityId)
                .col(Mandate::Role)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Account::Table)
                .col(pk(Account::Id))
                .col(ColumnDef::new(Account::PersonId).integer().not_null().unique_key())
                .col(ColumnDef::new(Account::Email).string().not_null().unique_key())
                .col(text_null(Account::PasswordHash))
                .col(text(Account::PlatformRole))
                .col(int_null(Account::SecretariatIntercommunalityId))
                .col(ColumnDef::new(Account::Active).boolean().not_null().default(true))
                .col(ts(Account::CreatedAt))
                .col(ts(Account::UpdatedAt))
                .col(ts_null(Account::PasswordChangedAt))
                .col(version(Account::Version))
                .foreign_key(&mut fk(Account::Table, Account::PersonId, Person::Table, Person::Id))
                .foreign_key(&mut fk(
                    Account::Table,
                    Account::SecretariatIntercommunalityId,
                    Intercommunality::Table,
                    Intercommunality::Id,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Session::Table)
                .col(pk(Session::Id))
                .col(ColumnDef::new(Session::AccountId).integer().not_null())
                .col(ColumnDef::new(Session::TokenHash).string_len(64).not_null().unique_key())
                .col(ts(Session::CreatedAt))
                .col(ts(Session::ExpiresAt))
                .col(ts_null(Session::RevokedAt))
                .col(text_null(Session::ClientAddr))
                .foreign_key(&mut fk(Session::Table, Session::AccountId, Account::Table, Account::Id))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_session_account").table(Session::Table).col(Session::AccountId).to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Invitation::Table)
                .col(pk(Invitation::Id))
                .col(ColumnDef::new(Invitation::AccountId).integer().not_null())
                .col(ColumnDef::new(Invitation::TokenHash).string_len(64).not_null().unique_key())
                .col(int_null(Invitation::CreatedByAccountId))
                .col(ts(Invitation::CreatedAt))
                .col(ts(Invitation::ExpiresAt))
                .col(ts_null(Invitation::AcceptedAt))
                .foreign_key(&mut fk(Invitation::Table, Invitation::AccountId, Account::Table, Account::Id))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_invitation_account")
                .table(Invitation::Table)
                .col(Invitation::AccountId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(LoginThrottle::Table)
                .col(ColumnDef::new(LoginThrottle::Key).string().not_null().primary_key())
                .col(ColumnDef::new(LoginThrottle::Failures).integer().not_null())
                .col(ts(LoginThrottle::WindowStartedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEntry::Table)
                .col(pk(AuditEntry::Id))
                .col(ts(AuditEntry::At))
                .col(int_null(AuditEntry::ActorAccountId))
                .col(text(AuditEntry::ActorLabel))
                .col(text(AuditEntry::Action))
                .col(text(AuditEntry::TargetType))
                .col(int_null(AuditEntry::TargetId))
                .col(int_null(AuditEntry::IntercommunalityId))
                .col(ColumnDef::new(AuditEntry::Summary).text().not_null())
                .col(text_null(AuditEntry::RequestId))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_audit_scope_at")
                .table(AuditEntry::Table)
                .col(AuditEntry::IntercommunalityId)
                .col(AuditEntry::Id)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            AuditEntry::Table.into_iden(),
            LoginThrottle::Table.into_iden(),
            Invitation::Table.into_iden(),
            Session::Table.into_iden(),
            Account::Table.into_iden(),
            Mandate::Table.into_iden(),
            Person::Table.into_iden(),
            TerritoryCommune::Table.into_iden(),
            Territory::Table.into_iden(),
            CommuneMembership::Table.into_iden(),
            Commune::Table.into_iden(),
            Intercommunality::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Intercommunality {
    Table,
    Id,
    Siren,
    Name,
    SearchKey,
    LegalForm,
    FinancingMode,
    Population,
    PopulationYear,
    PopulationSource,
    CreatedAt,
    UpdatedAt,
    Version,
}
#[derive(DeriveIden)]
enum Commune {
    Table,
    Id,
    InseeCode,
    Name,
    SearchKey,
    Departement,
    Region,
    Siren,
    Population,
    PopulationYear,
    PopulationSource,
    CreatedAt,
    UpdatedAt,
    Version,
}
#[derive(DeriveIden)]
enum CommuneMembership {
    Table,
    Id,
    CommuneId,
    IntercommunalityId,
    StartDate,
    EndDate,
    Population,
    PopulationYear,
    CreatedAt,
}
#[derive(DeriveIden)]
enum Territory {
    Table,
    Id,
    IntercommunalityId,
    Name,
    Code,
    CreatedAt,
    UpdatedAt,
    Version,
}
#[derive(DeriveIden)]
enum TerritoryCommune {
    Table,
    TerritoryId,
    CommuneId,
}
#[derive(DeriveIden)]
enum Person {
    Table,
    Id,
    GivenName,
    FamilyName,
    SearchKey,
    Email,
    ScopeIntercommunalityId,
    CreatedAt,
    UpdatedAt,
    Version,
}
#[derive(DeriveIden)]
enum Mandate {
    Table,
    Id,
    PersonId,
    CommuneId,
    IntercommunalityId,
    Role,
    Delegation,
    StartDate,
    EndDate,
    CreatedAt,
    UpdatedAt,
    Version,
}
#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
    PersonId,
    Email,
    PasswordHash,
    PlatformRole,
    SecretariatIntercommunalityId,
    Active,
    CreatedAt,
    UpdatedAt,
    PasswordChangedAt,
    Version,
}
#[derive(DeriveIden)]
enum Session {
    Table,
    Id,
    AccountId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    ClientAddr,
}
#[derive(DeriveIden)]
enum Invitation {
    Table,
    Id,
    AccountId,
    TokenHash,
    CreatedByAccountId,
    CreatedAt,
    ExpiresAt,
    AcceptedAt,
}
#[derive(DeriveIden)]
enum LoginThrottle {
    Table,
    Key,
    Failures,
    WindowStartedAt,
}
#[derive(DeriveIden)]
enum AuditEntry {
    Table,
    Id,
    At,
    ActorAccountId,
    ActorLabel,
    Action,
    TargetType,
    TargetId,
    IntercommunalityId,
    Summary,
    RequestId,
}
