//! The demo's policies (issue 15), made through the same use cases as the API by the demo
//! accounts themselves (the secretariat drafts and answers, mayors and a DGS contribute),
//! so the audit trail and the notifications read as they would in use:
//! - AMP's metropolitan mobility agenda, drafted by the mobility working group: twelve
//!   sections, version 1 put to the communes' concertation, amendments (one co-signed),
//!   a comment, a question, a proposal, motivated answers, version 2 with the accepted
//!   amendments traced to its sections, and the conference of mayors consulted on it
//!   (the plenary's OPINION item);
//! - the governance pact (CGCT L5211-11-2) on its approval path: put to the communes as
//!   the demo's GOVERNANCE_PACT referral, validated by its steering committee, given the
//!   conference's opinion, now awaiting the territories and the council.
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::Bodies;
use crate::auth::model::account;
use crate::auth::{Actor, Principal};
use crate::error::{AppError, AppResult};
use crate::policies::rules::{AnswerKind, ContributionKind, PolicyKind, StepKind, StepOutcome};
use crate::policies::service::{self as p, Answer, NewConsultation, NewContribution, NewPolicy, NewSection, NewStep};
use crate::AppState;

/// A section's title and text.
type Text = (&'static str, &'static str);

/// The mobility agenda's text: three parts (title, introduction) of three articles.
const AGENDA: [(&str, &str, [Text; 3]); 3] = [
    (
        "Un réseau métropolitain de transports collectifs",
        "La Métropole organise un réseau unique, lisible et continu sur ses 92 communes.",
        [
            (
                "Réseau express métropolitain",
                "Des lignes de cars express sur autoroute et des TER cadencés relient les six bassins de vie \
                 toutes les quinze minutes aux heures de pointe.",
            ),
            (
                "Bus à haut niveau de service",
                "Cinq lignes de bus à haut niveau de service desservent les principaux pôles d'emploi d'ici \
                 2030.",
            ),
            (
                "Pôles d'échanges multimodaux",
                "Chaque gare métropolitaine devient un pôle d'échanges où se croisent trains, cars, bus, \
                 vélos et covoiturage.",
            ),
        ],
    ),
    (
        "Se déplacer autrement",
        "Réduire la part de la voiture individuelle dans les déplacements quotidiens.",
        [
            (
                "Plan vélo métropolitain",
                "Un réseau cyclable continu relie les centres des communes et les pôles d'échanges.",
            ),
            ("Covoiturage et autopartage", "Des aires de covoiturage sont aménagées aux échangeurs autoroutiers."),
            ("Parcs relais", "Des parcs relais sont créés aux entrées de la Métropole, avec 1 500 places d'ici 2030."),
        ],
    ),
    (
        "Gouvernance et financement",
        "La mise en œuvre de l'agenda associe les communes à chaque étape.",
        [
            ("Tarification unique", "Un titre de transport unique est valable sur tous les réseaux de la Métropole."),
            (
                "Association des communes",
                "La conférence métropolitaine des maires examine chaque année l'état d'avancement de \
                 l'agenda.",
            ),
            (
                "Programmation des investissements",
                "Une programmation pluriannuelle des investissements est présentée au conseil de la \
                 Métropole.",
            ),
        ],
    ),
];

/// The governance pact's articles.
const PACT: [(&str, &str); 5] = [
    ("Préambule", "Le présent pacte organise les relations entre la Métropole et ses 92 communes."),
    (
        "La conférence métropolitaine des maires",
        "La conférence se réunit au moins deux fois par an ; elle est saisie pour avis des documents-cadres.",
    ),
    (
        "Les conférences territoriales des maires",
        "Six conférences territoriales, une par bassin de vie, préparent les travaux de la conférence.",
    ),
    (
        "Délégations de gestion",
        "La Métropole peut confier aux communes la gestion de services de proximité (article L5211-57).",
    ),
    ("Suivi et révision", "Le pacte est évalué à mi-mandat et révisé après chaque renouvellement général."),
];

/// A demo account, signed in as its own person.
async fn signed_in(state: &AppState, email: &str) -> AppResult<Actor> {
    let a = account::Entity::find()
        .filter(account::Column::Email.eq(email))
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::internal(format!("demo account {email} missing")))?;
    let principal = Principal {
        account_id: a.id,
        person_id: a.person_id,
        email: a.email,
        role: a.platform_role,
        secretariat_of: a.secretariat_intercommunality_id,
        session_id: None,
    };
    Ok(Actor::signed_in(format!("demo-{email}"), None, principal))
}

async fn commune(state: &AppState, insee: &str) -> AppResult<i32> {
    use crate::territory::model::commune;
    Ok(commune::Entity::find()
        .filter(commune::Column::InseeCode.eq(insee))
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::internal(format!("demo commune {insee} missing")))?
        .id)
}

fn paris(day: chrono::NaiveDate, hour: u32) -> AppResult<chrono::DateTime<chrono::Utc>> {
    let t = day.and_hms_opt(hour, 0, 0).ok_or_else(|| AppError::internal("demo time"))?;
    crate::time::paris_instant("demo", t)
}

pub(super) async fn load(state: &AppState, amp: i32, president: i32, bodies: Bodies, pact: i32) -> AppResult<()> {
    mobility_agenda(state, amp, president, &bodies).await?;
    governance_pact(state, amp, &bodies, pact).await
}

async fn mobility_agenda(state: &AppState, amp: i32, president: i32, bodies: &Bodies) -> AppResult<()> {
    let sec = signed_in(state, "secretariat@demo.entente.fr").await?;
    let policy = p::create_policy(
        state,
        &sec,
        NewPolicy {
            intercommunality_id: amp,
            kind: PolicyKind::AgendaOrPlan,
            title: "Agenda de la mobilité métropolitaine".into(),
            summary: Some(
                "Conçu en étroite collaboration avec le groupe de travail des maires sur la mobilité.".into(),
            ),
            lead_mandate_id: Some(president),
            drafting_body_id: Some(bodies.group),
            secretariat: Some("Direction de la mobilité".into()),
            legal_basis: None,
            visibility: None,
        },
    )
    .await?;
    let mut articles = Vec::new();
    for (part, intro, items) in AGENDA {
        let section = |parent, title: &str, body: &str| NewSection {
            policy_id: policy.id,
            parent_id: parent,
            position: None,
            title: title.into(),
            body: body.into(),
        };
        let part = p::add_section(state, &sec, section(None, part, intro)).await?;
        for (title, body) in items {
            articles.push(p::add_section(state, &sec, section(Some(part.id), title, body)).await?.id);
        }
    }
    p::publish_version(state, &sec, policy.id, "Version soumise à la concertation des communes").await?;
    let closes = paris(crate::time::today_paris() + chrono::Duration::days(30), 18)?;
    let now = crate::policies::queries::policy_of(&state.db, policy.id).await?;
    let policy =
        p::transition(state, &sec, policy.id, now.version, p::Transition::OpenConcertation, Some(closes)).await?;

    let (marseille, aix, cassis) =
        (commune(state, "13055").await?, commune(state, "13001").await?, commune(state, "13022").await?);
    let dgs_marseille = signed_in(state, "dgs.marseille@demo.entente.fr").await?;
    let mayor_marseille = signed_in(state, "maire.marseille@demo.entente.fr").await?;
    let mayor_aix = signed_in(state, "maire.aix@demo.entente.fr").await?;
    let mayor_cassis = signed_in(state, "maire.cassis@demo.entente.fr").await?;
    let contribution =
        |kind, commune, section: Option<i32>, parent: Option<i32>, body: &str, text: Option<&str>| NewContribution {
            policy_id: policy.id,
            kind,
            commune_id: Some(commune),
            section_id: section,
            parent_id: parent,
            body: body.into(),
            proposed_text: text.map(str::to_string),
            visibility: None,
        };
    use ContributionKind as K;
    let bus = p::contribute(
        state,
        &dgs_marseille,
        contribution(
            K::Amendment,
            marseille,
            Some(articles[1]),
            None,
            "Les noyaux villageois du nord de Marseille restent à l'écart des lignes prévues.",
            Some(
                "Cinq lignes de bus à haut niveau de service desservent les principaux pôles d'emploi et les \
                 noyaux villageois d'ici 2030.",
            ),
        ),
    )
    .await?;
    p::cosign(state, &mayor_cassis, bus.id, cassis).await?;
    p::cosign(state, &mayor_aix, bus.id, aix).await?;
    p::contribute(
        state,
        &mayor_cassis,
        contribution(
            K::Comment,
            cassis,
            None,
            Some(bus.id),
            "Cassis soutient cet amendement : nos habitants travaillent à Marseille.",
            None,
        ),
    )
    .await?;
    let relay = p::contribute(
        state,
        &mayor_aix,
        contribution(
            K::Amendment,
            aix,
            Some(articles[5]),
            None,
            "Les entrées du Pays d'Aix saturent chaque matin : 1 500 places ne suffiront pas.",
            Some("Des parcs relais sont créés aux entrées de la Métropole, avec 3 000 places d'ici 2030."),
        ),
    )
    .await?;
    p::contribute(
        state,
        &mayor_cassis,
        contribution(
            K::Question,
            cassis,
            Some(articles[6]),
            None,
            "Le titre unique couvrira-t-il les navettes maritimes ?",
            None,
        ),
    )
    .await?;
    let logistics = p::contribute(
        state,
        &mayor_marseille,
        contribution(
            K::Proposal,
            marseille,
            None,
            None,
            "Ajouter un article sur la logistique urbaine du dernier kilomètre.",
            None,
        ),
    )
    .await?;

    let answer = |id, version, answer, reasons: Option<&str>, text: Option<&str>| Answer {
        id,
        expected_version: version,
        answer,
        reasons: reasons.map(str::to_string),
        merged_into_id: None,
        section_text: text.map(str::to_string),
    };
    p::answer(state, &sec, answer(bus.id, bus.version, AnswerKind::Accepted, None, None)).await?;
    p::answer(
        state,
        &sec,
        answer(
            relay.id,
            relay.version,
            AnswerKind::AcceptedWithChanges,
            Some("Retenu pour 2 500 places, ce que permet la programmation des investissements."),
            Some("Des parcs relais sont créés aux entrées de la Métropole, avec 2 500 places d'ici 2030."),
        ),
    )
    .await?;
    p::answer(
        state,
        &sec,
        answer(
            logistics.id,
            logistics.version,
            AnswerKind::OutOfScope,
            Some("La logistique urbaine fait l'objet d'un plan distinct, en cours d'élaboration."),
            None,
        ),
    )
    .await?;
    p::publish_version(state, &sec, policy.id, "Version issue de la concertation : amendements retenus").await?;
    let now = crate::policies::queries::policy_of(&state.db, policy.id).await?;
    p::transition(state, &sec, policy.id, now.version, p::Transition::StartConsultation, None).await?;
    let consult = NewConsultation {
        policy_id: policy.id,
        version_number: 2,
        referral_id: None,
        agenda_item_id: Some(bodies.opinion_item),
    };
    p::add_consultation(state, &sec, consult).await?;
    Ok(())
}

async fn governance_pact(state: &AppState, amp: i32, bodies: &Bodies, referral: i32) -> AppResult<()> {
    let sec = signed_in(state, "secretariat@demo.entente.fr").await?;
    let steering = crate::meetings::service::create_body(
        state,
        &sec,
        crate::meetings::service::NewBody {
            intercommunality_id: amp,
            kind: crate::meetings::rules::BodyKind::Commission,
            name: "Comité de pilotage du pacte de gouvernance".into(),
            theme: Some("Gouvernance".into()),
        },
    )
    .await?;
    let policy = p::create_policy(
        state,
        &sec,
        NewPolicy {
            intercommunality_id: amp,
            kind: PolicyKind::GovernancePact,
            title: "Pacte de gouvernance 2026-2032".into(),
            summary: Some("Les relations entre la Métropole et ses communes pour le mandat.".into()),
            lead_mandate_id: None,
            drafting_body_id: Some(steering.id),
            secretariat: Some("DGA Concertation territoriale".into()),
            legal_basis: Some("CGCT L5211-11-2".into()),
            visibility: None,
        },
    )
    .await?;
    for (title, body) in PACT {
        let s = NewSection {
            policy_id: policy.id,
            parent_id: None,
            position: None,
            title: title.into(),
            body: body.into(),
        };
        p::add_section(state, &sec, s).await?;
    }
    p::publish_version(state, &sec, policy.id, "Projet de pacte présenté à la conférence des maires").await?;
    let now = crate::policies::queries::policy_of(&state.db, policy.id).await?;
    p::transition(state, &sec, policy.id, now.version, p::Transition::StartConsultation, None).await?;
    let consult =
        NewConsultation { policy_id: policy.id, version_number: 1, referral_id: Some(referral), agenda_item_id: None };
    p::add_consultation(state, &sec, consult).await?;
    let mut steps = Vec::new();
    for (kind, label, body) in [
        (StepKind::Validation, "Validation par le comité de pilotage", Some(steering.id)),
        (StepKind::Opinion, "Avis de la conférence métropolitaine des maires", Some(bodies.conference)),
        (StepKind::Approval, "Avis des conseils municipaux (saisine de deux mois)", None),
        (StepKind::Adoption, "Délibération du conseil de la Métropole", None),
    ] {
        let step = NewStep { policy_id: policy.id, kind, label: label.into(), body_id: body };
        steps.push(p::add_step(state, &sec, step).await?);
    }
    let today = crate::time::today_paris();
    for (step, outcome, days_ago, note) in [
        (&steps[0], StepOutcome::Favourable, 20, None),
        (
            &steps[1],
            StepOutcome::FavourableWithReservations,
            6,
            Some("Favorable, sous réserve d'une conférence territoriale par bassin de vie."),
        ),
    ] {
        let record = p::StepRecord {
            id: step.id,
            expected_version: step.version,
            version_number: 1,
            outcome,
            decided_on: today - chrono::Duration::days(days_ago),
            deliberation_number: None,
            note: note.map(str::to_string),
        };
        p::record_step(state, &sec, record).await?;
    }
    let now = crate::policies::queries::policy_of(&state.db, policy.id).await?;
    p::transition(state, &sec, policy.id, now.version, p::Transition::StartApproval, None).await?;
    Ok(())
}
