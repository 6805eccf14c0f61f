//! The policy without a database: the facts come from an in-memory fake, and every
//! action is tried with those it allows and those it refuses.
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{NaiveDate, Utc};

use super::*;
use crate::auth::facts::{FactSource, Facts};

const AMP: i32 = 1;
const OTHER: i32 = 2;
const MARSEILLE: i32 = 10;
const AUBAGNE: i32 = 11;
const ELSEWHERE: i32 = 20;
const BODY: i32 = 500;
const MEETING: i32 = 600;
const REFERRAL: i32 = 700;
const REFERRAL_AUBAGNE: i32 = 701;
const REFERRAL_ELSEWHERE: i32 = 702;

// Persons.
const ADMIN: i32 = 100;
const SEC_AMP: i32 = 101;
const SEC_OTHER: i32 = 102;
const PRESIDENT: i32 = 103;
const MAYOR: i32 = 104;
const DGS: i32 = 105;
const DEPUTY: i32 = 106;
const DEPUTY_NO_DELEGATION: i32 = 107;
const COUNCILLOR: i32 = 108;
const MAYOR_ELSEWHERE: i32 = 109;
const FORMER: i32 = 110;
const DELEGATE: i32 = 111;
const DELEGATE_NOT_SERVING: i32 = 112;
const NEWCOMER: i32 = 113;
const NEWCOMER_WITH_ACCOUNT: i32 = 114;
const MAYOR_AUBAGNE: i32 = 116;

/// The facts, in memory. Every mandate listed runs today.
#[derive(Default)]
struct Fake {
    mandates: Vec<mandate::Model>,
    persons: Vec<person::Model>,
    accounts: HashSet<i32>,
    seats: HashSet<(i32, i32)>,
    animators: HashSet<(i32, i32)>,
    convened: HashSet<(i32, i32)>,
    addressees: HashMap<i32, Vec<i32>>,
    memberships: Vec<(i32, i32)>,
    delegations: HashMap<i32, Vec<i32>>,
    mandate_reads: AtomicUsize,
}

impl Facts for Fake {
    async fn current_mandates(&self, person: i32) -> AppResult<Vec<mandate::Model>> {
        self.mandate_reads.fetch_add(1, Ordering::SeqCst);
        Ok(self.mandates.iter().filter(|m| m.person_id == person).cloned().collect())
    }
    async fn signature_delegations(&self, person: i32) -> AppResult<Vec<i32>> {
        Ok(self.delegations.get(&person).cloned().unwrap_or_default())
    }
    async fn holdings(&self, person: i32) -> AppResult<Option<(person::Model, Vec<mandate::Model>)>> {
        let Some(p) = self.persons.iter().find(|p| p.id == person) else { return Ok(None) };
        Ok(Some((p.clone(), self.mandates.iter().filter(|m| m.person_id == person).cloned().collect())))
    }
    async fn has_account(&self, person: i32) -> AppResult<bool> {
        Ok(self.accounts.contains(&person))
    }
    async fn bodies_sat_in(&self, person: i32, _mandates: &[mandate::Model]) -> AppResult<HashSet<i32>> {
        Ok(self.seats.iter().filter(|(_, p)| *p == person).map(|(b, _)| *b).collect())
    }
    async fn animates(&self, body: i32, person: i32) -> AppResult<bool> {
        Ok(self.animators.contains(&(body, person)))
    }
    async fn convened_to(&self, meeting: i32, person: i32) -> AppResult<bool> {
        Ok(self.convened.contains(&(meeting, person)))
    }
    async fn addressed_to_any(&self, referral: i32, communes: &[i32]) -> AppResult<bool> {
        Ok(self.addressees.get(&referral).is_some_and(|a| a.iter().any(|c| communes.contains(c))))
    }
    async fn member_communes(&self, intercommunality: i32) -> AppResult<HashSet<i32>> {
        Ok(self.memberships.iter().filter(|(_, e)| *e == intercommunality).map(|(c, _)| *c).collect())
    }
    async fn intercommunalities_of(&self, commune: i32) -> AppResult<Vec<i32>> {
        Ok(self.memberships.iter().filter(|(c, _)| *c == commune).map(|(_, e)| *e).collect())
    }
}

impl FactSource for Fake {
    fn facts(&self) -> impl Facts + '_ {
        self
    }
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 20).unwrap_or_default()
}

fn person(id: i32, scope: Option<i32>) -> person::Model {
    person::Model {
        id,
        given_name: "P".into(),
        family_name: format!("{id}"),
        search_key: format!("p {id}"),
        email: None,
        scope_intercommunality_id: scope,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        version: 1,
    }
}

fn mandate(person_id: i32, org: Org, role: Role, delegation: Option<&str>) -> mandate::Model {
    let (commune_id, intercommunality_id) = match org {
        Org::Commune(c) => (Some(c), None),
        Org::Intercommunality(e) => (None, Some(e)),
    };
    mandate::Model {
        id: person_id * 10 + commune_id.or(intercommunality_id).unwrap_or_default(),
        person_id,
        commune_id,
        intercommunality_id,
        role,
        delegation: delegation.map(Into::into),
        start_date: day(),
        end_date: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        version: 1,
    }
}

fn world() -> Fake {
    use Org::{Commune, Intercommunality};
    let mandates = vec![
        mandate(PRESIDENT, Intercommunality(AMP), Role::President, None),
        mandate(MAYOR, Commune(MARSEILLE), Role::Mayor, None),
        mandate(DGS, Commune(MARSEILLE), Role::Dgs, None),
        mandate(DEPUTY, Commune(MARSEILLE), Role::DeputyMayor, Some("Urbanisme")),
        mandate(DEPUTY_NO_DELEGATION, Commune(MARSEILLE), Role::DeputyMayor, Some("  ")),
        mandate(COUNCILLOR, Commune(MARSEILLE), Role::MunicipalCouncillor, None),
        mandate(MAYOR_ELSEWHERE, Commune(ELSEWHERE), Role::Mayor, None),
        mandate(DELEGATE, Commune(AUBAGNE), Role::MunicipalCouncillor, None),
        mandate(DELEGATE_NOT_SERVING, Commune(AUBAGNE), Role::MunicipalCouncillor, None),
        mandate(MAYOR_AUBAGNE, Commune(AUBAGNE), Role::Mayor, None),
    ];
    let mut persons: Vec<_> = mandates.iter().map(|m| person(m.person_id, None)).collect();
    persons.extend([
        person(FORMER, None),
        person(NEWCOMER, Some(AMP)),
        person(NEWCOMER_WITH_ACCOUNT, Some(AMP)),
        person(SEC_AMP, Some(AMP)),
        person(SEC_OTHER, Some(OTHER)),
        person(ADMIN, None),
    ]);
    Fake {
        mandates,
        persons,
        accounts: HashSet::from([NEWCOMER_WITH_ACCOUNT, MAYOR, SEC_AMP, SEC_OTHER, ADMIN]),
        // The councillor sits in the body; the former member sat there once and was
        // convened to its meeting.
        seats: HashSet::from([(BODY, COUNCILLOR)]),
        // The deputy mayor animates the body (a working group drafting a policy).
        animators: HashSet::from([(BODY, DEPUTY)]),
        convened: HashSet::from([(MEETING, COUNCILLOR), (MEETING, FORMER)]),
        addressees: HashMap::from([
            (REFERRAL, vec![MARSEILLE]),
            (REFERRAL_AUBAGNE, vec![AUBAGNE]),
            (REFERRAL_ELSEWHERE, vec![ELSEWHERE]),
        ]),
        memberships: vec![(MARSEILLE, AMP), (AUBAGNE, AMP), (ELSEWHERE, OTHER)],
        // The delegate holds Aubagne's mayor's signature and serves in Aubagne; the other
        // holds Elsewhere's but does not serve there.
        delegations: HashMap::from([(DELEGATE, vec![AUBAGNE]), (DELEGATE_NOT_SERVING, vec![ELSEWHERE])]),
        mandate_reads: AtomicUsize::new(0),
    }
}

fn actor(person_id: i32) -> Actor {
    let (role, secretariat_of) = match person_id {
        ADMIN => (PlatformRole::Admin, None),
        SEC_AMP => (PlatformRole::Secretariat, Some(AMP)),
        SEC_OTHER => (PlatformRole::Secretariat, Some(OTHER)),
        _ => (PlatformRole::Member, None),
    };
    let p = Principal {
        account_id: person_id,
        person_id,
        email: format!("{person_id}@test"),
        role,
        secretariat_of,
        session_id: None,
    };
    Actor::signed_in("test".into(), None, p)
}

/// Whether `who` may do `action`; a refusal must be FORBIDDEN.
async fn may(f: &Fake, who: i32, action: Action) -> bool {
    match authorize(f, &actor(who), action).await {
        Ok(_) => true,
        Err(AppError::Forbidden(_)) => false,
        Err(e) => panic!("{action:?} for {who}: {e:?}"),
    }
}

/// Asserts who may and who may not do `action`.
async fn check(f: &Fake, action: Action, yes: &[i32], no: &[i32]) {
    for &who in yes {
        assert!(may(f, who, action).await, "{who} should be allowed {action:?}");
    }
    for &who in no {
        assert!(!may(f, who, action).await, "{who} should be refused {action:?}");
    }
}

#[tokio::test]
async fn anonymous_is_unauthenticated_and_the_system_is_trusted() {
    let f = world();
    let anonymous = Actor::anonymous("test".into(), None);
    assert!(matches!(authorize(&f, &anonymous, Action::Read).await, Err(AppError::Unauthenticated)));
    let system = Actor::system("test");
    for action in [Action::ImportTerritory, Action::ReadAudit { scope: None }, Action::SubmitResponse { commune: 1 }] {
        assert!(matches!(authorize(&f, &system, action).await, Ok(None)));
    }
}

#[tokio::test]
async fn reading_the_directory_and_importing() {
    let f = world();
    check(&f, Action::Read, &[ADMIN, SEC_AMP, MAYOR, FORMER], &[]).await;
    check(&f, Action::ImportTerritory, &[ADMIN], &[SEC_AMP, PRESIDENT, MAYOR]).await;
}

#[tokio::test]
async fn territories_and_meetings_are_managed_by_the_right_secretariat() {
    let f = world();
    for action in
        [Action::ManageTerritories { intercommunality: AMP }, Action::ManageMeetings { intercommunality: AMP }]
    {
        check(&f, action, &[ADMIN, SEC_AMP], &[SEC_OTHER, PRESIDENT, MAYOR, DGS]).await;
    }
}

#[tokio::test]
async fn creating_persons() {
    let f = world();
    check(&f, Action::CreatePerson, &[ADMIN, SEC_AMP, SEC_OTHER, MAYOR, DGS], &[DEPUTY, COUNCILLOR, PRESIDENT, FORMER])
        .await;
}

#[tokio::test]
async fn mandates_of_an_intercommunality_by_its_secretariat() {
    let f = world();
    let e = |person| Action::ManageMandate { org: Org::Intercommunality(AMP), role: Role::VicePresident, person };
    check(&f, e(PRESIDENT), &[ADMIN, SEC_AMP], &[SEC_OTHER, MAYOR, PRESIDENT]).await;
    // Someone serving outside AMP is out of its secretariat's reach.
    check(&f, e(MAYOR_ELSEWHERE), &[ADMIN], &[SEC_AMP]).await;
    // A person without mandates: the side that created them.
    check(&f, e(NEWCOMER), &[SEC_AMP], &[SEC_OTHER]).await;
    let other = Action::ManageMandate { org: Org::Intercommunality(OTHER), role: Role::Member, person: PRESIDENT };
    check(&f, other, &[ADMIN], &[SEC_AMP, SEC_OTHER]).await;
}

#[tokio::test]
async fn mandates_of_a_commune_by_the_secretariat_and_by_its_mayor_or_dgs() {
    let f = world();
    let c = |commune, role, person| Action::ManageMandate { org: Org::Commune(commune), role, person };
    check(&f, c(MARSEILLE, Role::MunicipalCouncillor, COUNCILLOR), &[ADMIN, SEC_AMP, MAYOR, DGS], &[SEC_OTHER]).await;
    check(&f, c(MARSEILLE, Role::MunicipalCouncillor, COUNCILLOR), &[], &[DEPUTY, COUNCILLOR, MAYOR_AUBAGNE]).await;
    // The mayor records councillors, deputies and DGAs, not mayors or DGS.
    check(&f, c(MARSEILLE, Role::Mayor, COUNCILLOR), &[SEC_AMP], &[MAYOR, DGS]).await;
    check(&f, c(MARSEILLE, Role::Dgs, COUNCILLOR), &[], &[MAYOR]).await;
    // ...of their own commune only, and for people of their council only.
    check(&f, c(AUBAGNE, Role::MunicipalCouncillor, DELEGATE), &[MAYOR_AUBAGNE, SEC_AMP], &[MAYOR, DGS]).await;
    check(&f, c(MARSEILLE, Role::DeputyMayor, DGS), &[SEC_AMP], &[MAYOR]).await;
    check(&f, c(MARSEILLE, Role::MunicipalCouncillor, MAYOR_ELSEWHERE), &[ADMIN], &[MAYOR, SEC_AMP]).await;
    // A newcomer created on the intercommunality's side, without an account yet.
    check(&f, c(MARSEILLE, Role::MunicipalCouncillor, NEWCOMER), &[MAYOR, SEC_AMP], &[SEC_OTHER, MAYOR_ELSEWHERE])
        .await;
    check(&f, c(MARSEILLE, Role::MunicipalCouncillor, NEWCOMER_WITH_ACCOUNT), &[SEC_AMP], &[MAYOR, DGS]).await;
    // An elsewhere commune is not the AMP secretariat's.
    check(&f, c(ELSEWHERE, Role::MunicipalCouncillor, NEWCOMER), &[ADMIN], &[SEC_AMP, MAYOR_ELSEWHERE]).await;
    // An unknown person is nobody's to manage.
    check(&f, c(MARSEILLE, Role::MunicipalCouncillor, 9_999), &[ADMIN], &[SEC_AMP, MAYOR]).await;
}

#[tokio::test]
async fn editing_a_person() {
    let f = world();
    let edit = |person| Action::ManagePerson { person };
    check(&f, edit(COUNCILLOR), &[ADMIN, COUNCILLOR, SEC_AMP, MAYOR, DGS], &[SEC_OTHER, DEPUTY, MAYOR_ELSEWHERE]).await;
    check(&f, edit(MAYOR_ELSEWHERE), &[MAYOR_ELSEWHERE, SEC_OTHER], &[SEC_AMP, MAYOR]).await;
    check(&f, edit(FORMER), &[FORMER], &[SEC_AMP, MAYOR]).await;
}

#[tokio::test]
async fn inviting_a_person() {
    let f = world();
    let invite = |person, role, secretariat_of| Action::Invite { person, role, secretariat_of };
    check(&f, invite(COUNCILLOR, PlatformRole::Member, None), &[ADMIN, SEC_AMP, MAYOR, DGS], &[SEC_OTHER, COUNCILLOR])
        .await;
    check(&f, invite(NEWCOMER, PlatformRole::Secretariat, Some(AMP)), &[ADMIN, SEC_AMP], &[SEC_OTHER, MAYOR]).await;
    check(&f, invite(NEWCOMER, PlatformRole::Secretariat, Some(OTHER)), &[ADMIN], &[SEC_AMP]).await;
    check(&f, invite(NEWCOMER, PlatformRole::Secretariat, None), &[], &[SEC_AMP]).await;
    check(&f, invite(COUNCILLOR, PlatformRole::Admin, None), &[ADMIN], &[SEC_AMP, MAYOR]).await;
}

#[tokio::test]
async fn reading_the_audit() {
    let f = world();
    check(&f, Action::ReadAudit { scope: None }, &[ADMIN], &[SEC_AMP, PRESIDENT]).await;
    check(&f, Action::ReadAudit { scope: Some(AMP) }, &[ADMIN, SEC_AMP, PRESIDENT], &[SEC_OTHER, MAYOR, DGS]).await;
    check(&f, Action::ReadAudit { scope: Some(OTHER) }, &[SEC_OTHER], &[SEC_AMP, PRESIDENT]).await;
}

#[tokio::test]
async fn convening() {
    let f = world();
    let convene = |conference| Action::Convene { intercommunality: AMP, conference };
    check(&f, convene(true), &[ADMIN, SEC_AMP, PRESIDENT], &[SEC_OTHER, MAYOR, DGS]).await;
    // The president convenes the conference of mayors only.
    check(&f, convene(false), &[SEC_AMP], &[PRESIDENT, MAYOR]).await;
}

#[tokio::test]
async fn seeing_a_body_and_its_meetings() {
    let f = world();
    let body = Action::SeeBody { body: BODY, intercommunality: AMP };
    check(&f, body, &[ADMIN, SEC_AMP, PRESIDENT, COUNCILLOR], &[SEC_OTHER, MAYOR, FORMER]).await;
    let meeting = Action::SeeMeeting { meeting: MEETING, body: BODY, intercommunality: AMP };
    // A former member keeps the meeting they were convened to.
    check(&f, meeting, &[ADMIN, SEC_AMP, PRESIDENT, COUNCILLOR, FORMER], &[SEC_OTHER, MAYOR, DGS]).await;
    let other = Action::SeeMeeting { meeting: MEETING + 1, body: BODY, intercommunality: AMP };
    check(&f, other, &[COUNCILLOR], &[FORMER]).await;
}

#[tokio::test]
async fn giving_a_seat() {
    let f = world();
    let seat = |commune, designation| Action::DesignateSeat { intercommunality: AMP, commune, designation };
    check(&f, seat(Some(MARSEILLE), true), &[ADMIN, SEC_AMP, MAYOR], &[SEC_OTHER, DGS, MAYOR_AUBAGNE, PRESIDENT]).await;
    // Without a mayor's designation, only the secretariat gives seats.
    check(&f, seat(Some(MARSEILLE), false), &[SEC_AMP], &[MAYOR]).await;
    check(&f, seat(None, true), &[SEC_AMP], &[MAYOR]).await;
    // A mayor of a commune outside the intercommunality designates nobody in it.
    check(&f, seat(Some(ELSEWHERE), true), &[SEC_AMP], &[MAYOR_ELSEWHERE]).await;
}

#[tokio::test]
async fn signing_a_mayors_request() {
    let f = world();
    let sign = Action::SignRequest { intercommunality: AMP };
    check(&f, sign, &[ADMIN, MAYOR, MAYOR_AUBAGNE], &[SEC_AMP, PRESIDENT, DGS, DEPUTY, MAYOR_ELSEWHERE]).await;
}

#[tokio::test]
async fn giving_a_proxy() {
    let f = world();
    let proxy = Action::GiveProxy { intercommunality: AMP, giver: COUNCILLOR };
    check(&f, proxy, &[ADMIN, COUNCILLOR, SEC_AMP], &[SEC_OTHER, MAYOR, PRESIDENT]).await;
}

#[tokio::test]
async fn reading_the_conferences_opinions() {
    let f = world();
    let read = Action::ReadOpinions { intercommunality: AMP };
    check(&f, read, &[ADMIN, SEC_AMP, PRESIDENT, MAYOR, COUNCILLOR, DELEGATE], &[SEC_OTHER, MAYOR_ELSEWHERE, FORMER])
        .await;
}

#[tokio::test]
async fn managing_referrals() {
    let f = world();
    check(&f, Action::ManageReferrals { intercommunality: Some(AMP) }, &[ADMIN, SEC_AMP], &[SEC_OTHER, PRESIDENT])
        .await;
    // A national consultation: administrators only.
    check(&f, Action::ManageReferrals { intercommunality: None }, &[ADMIN], &[SEC_AMP, SEC_OTHER]).await;
}

#[tokio::test]
async fn seeing_a_referral() {
    let f = world();
    let see = |referral, intercommunality| Action::SeeReferral { referral, intercommunality };
    check(
        &f,
        see(REFERRAL, Some(AMP)),
        &[ADMIN, SEC_AMP, PRESIDENT, MAYOR, DGS, DEPUTY],
        &[SEC_OTHER, DEPUTY_NO_DELEGATION, COUNCILLOR, MAYOR_AUBAGNE, MAYOR_ELSEWHERE],
    )
    .await;
    // The signature delegate acts for Aubagne; holding a delegation where one does not
    // serve gives nothing.
    check(&f, see(REFERRAL_AUBAGNE, Some(AMP)), &[DELEGATE, MAYOR_AUBAGNE], &[MAYOR]).await;
    check(&f, see(REFERRAL_ELSEWHERE, Some(OTHER)), &[MAYOR_ELSEWHERE, SEC_OTHER], &[DELEGATE_NOT_SERVING, SEC_AMP])
        .await;
    // A national consultation: the addressees and administrators.
    check(&f, see(REFERRAL, None), &[ADMIN, MAYOR], &[SEC_AMP, PRESIDENT, MAYOR_ELSEWHERE]).await;
}

#[tokio::test]
async fn drafting_and_submitting_a_response_are_personal() {
    let f = world();
    let draft = |commune| Action::DraftResponse { commune };
    let submit = |commune| Action::SubmitResponse { commune };
    // Administrators and the secretariat do not take over a commune's response.
    check(
        &f,
        draft(MARSEILLE),
        &[MAYOR, DEPUTY, DGS],
        &[ADMIN, SEC_AMP, PRESIDENT, DEPUTY_NO_DELEGATION, COUNCILLOR, MAYOR_AUBAGNE],
    )
    .await;
    check(&f, submit(MARSEILLE), &[MAYOR], &[ADMIN, SEC_AMP, PRESIDENT, DGS, DEPUTY, COUNCILLOR]).await;
    check(&f, draft(AUBAGNE), &[MAYOR_AUBAGNE, DELEGATE], &[MAYOR, DELEGATE_NOT_SERVING]).await;
    check(&f, submit(AUBAGNE), &[MAYOR_AUBAGNE, DELEGATE], &[MAYOR, DELEGATE_NOT_SERVING]).await;
    check(&f, draft(ELSEWHERE), &[MAYOR_ELSEWHERE], &[DELEGATE_NOT_SERVING]).await;
    check(&f, submit(ELSEWHERE), &[MAYOR_ELSEWHERE], &[DELEGATE_NOT_SERVING]).await;
}

#[tokio::test]
async fn delegating_the_signature_is_the_mayors() {
    let f = world();
    let delegate = Action::DelegateSignature { commune: MARSEILLE };
    check(&f, delegate, &[MAYOR], &[ADMIN, SEC_AMP, DGS, DEPUTY, MAYOR_AUBAGNE, DELEGATE]).await;
}

#[tokio::test]
async fn a_query_reads_the_mandates_once_a_mutation_at_each_check() {
    let f = world();
    let actions = [Action::SignRequest { intercommunality: AMP }, Action::DraftResponse { commune: MARSEILLE }];
    for (who, reads) in [(actor(MAYOR).reading_only(), 1), (actor(MAYOR), 2)] {
        f.mandate_reads.store(0, Ordering::SeqCst);
        for action in actions {
            assert!(authorize(&f, &who, action).await.is_ok());
        }
        assert_eq!(f.mandate_reads.load(Ordering::SeqCst), reads);
        let acting = acting_for(&f, &who).await.map_err(|e| format!("{e:?}"));
        assert_eq!(acting.map(|a| (a.drafts.clone(), a.submits.clone())), Ok((vec![MARSEILLE], vec![MARSEILLE])));
    }
}

#[tokio::test]
async fn policies_are_drafted_by_their_team_and_seen_in_their_metropole_once_published() {
    let f = world();
    check(
        &f,
        Action::ManagePolicies { intercommunality: AMP },
        &[ADMIN, SEC_AMP],
        &[SEC_OTHER, PRESIDENT, MAYOR, DEPUTY],
    )
    .await;
    // The lead official is the president (their AMP mandate); the body's animator drafts too.
    let lead = mandate(PRESIDENT, Org::Intercommunality(AMP), Role::President, None).id;
    let draft = Action::DraftPolicy { intercommunality: AMP, lead_mandate: Some(lead), drafting_body: Some(BODY) };
    check(&f, draft, &[ADMIN, SEC_AMP, PRESIDENT, DEPUTY], &[SEC_OTHER, MAYOR, COUNCILLOR, DGS, MAYOR_ELSEWHERE]).await;
    let no_team = Action::DraftPolicy { intercommunality: AMP, lead_mandate: None, drafting_body: None };
    check(&f, no_team, &[SEC_AMP], &[PRESIDENT, DEPUTY]).await;
    // Unpublished: the drafting team only. Published: the president, the body's members,
    // whoever holds a mandate in AMP or its communes; never another metropole's people.
    let see = |published| Action::SeePolicy {
        intercommunality: AMP,
        lead_mandate: None,
        drafting_body: Some(BODY),
        published,
    };
    check(&f, see(false), &[SEC_AMP, DEPUTY], &[PRESIDENT, COUNCILLOR, MAYOR, MAYOR_AUBAGNE, SEC_OTHER]).await;
    check(
        &f,
        see(true),
        &[SEC_AMP, DEPUTY, PRESIDENT, COUNCILLOR, MAYOR, MAYOR_AUBAGNE, DGS],
        &[SEC_OTHER, MAYOR_ELSEWHERE, FORMER, NEWCOMER],
    )
    .await;
}

#[tokio::test]
async fn contributions_speak_for_a_member_commune_or_for_the_drafting_body() {
    let f = world();
    let marseille = Action::Contribute { intercommunality: AMP, commune: Some(MARSEILLE), drafting_body: Some(BODY) };
    // Those acting for Marseille; never an admin (a commune's voice), nor another commune's mayor.
    check(&f, marseille, &[MAYOR, DGS, DEPUTY], &[ADMIN, SEC_AMP, PRESIDENT, COUNCILLOR, MAYOR_AUBAGNE]).await;
    // A commune outside the intercommunality does not contribute to its policies.
    let elsewhere = Action::Contribute { intercommunality: AMP, commune: Some(ELSEWHERE), drafting_body: None };
    check(&f, elsewhere, &[], &[MAYOR_ELSEWHERE, SEC_AMP]).await;
    // In one's own name: the drafting body's members and the drafting team.
    let own = Action::Contribute { intercommunality: AMP, commune: None, drafting_body: Some(BODY) };
    check(&f, own, &[ADMIN, SEC_AMP, COUNCILLOR, DEPUTY], &[MAYOR, PRESIDENT, SEC_OTHER, MAYOR_ELSEWHERE]).await;
}
