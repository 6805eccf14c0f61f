//! Read-only facts about bodies and meetings: who sits in a body on a day, who was
//! convened. Other modules and the policy use them; never imports the policy (it reads
//! these through `auth::facts`).
use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use super::model::{body, body_seat, convocation};
use super::rules::{BodyKind, SeatRole};
use crate::error::{AppError, AppResult};
use crate::people::model::mandate;
use crate::people::queries::runs_on;
use crate::people::rules::Role;
use crate::territory::queries::member_communes_on;

pub async fn body_of<C: ConnectionTrait>(db: &C, id: i32) -> AppResult<body::Model> {
    body::Entity::find_by_id(id).one(db).await?.ok_or_else(|| AppError::not_found("body"))
}

// ---- membership ------------------------------------------------------------------------

/// A seat in a body on a given day, with the mandate that gives it.
#[derive(Clone, Debug)]
pub struct Member {
    pub person_id: i32,
    pub role: SeatRole,
    pub commune_id: Option<i32>,
    pub mandate_id: i32,
    /// The stored seat, for designated members (None for seats derived from mandates).
    pub seat_id: Option<i32>,
}

/// A seat left without a holder: a member commune without a current mayor (or DGS), or a
/// designation whose mandate (or designating mayor's mandate) has ended.
#[derive(Clone, Debug)]
pub struct Vacancy {
    pub role: SeatRole,
    pub commune_id: Option<i32>,
    pub seat_id: Option<i32>,
    /// The last holder, if known.
    pub person_id: Option<i32>,
    /// The day the seat became vacant, if known.
    pub since: Option<NaiveDate>,
}

/// Derived seats (conference, DGS committee): the holder of `role` in each member commune
/// and of `lead` in the intercommunality, on `day`; plus the vacancies.
async fn derived_seats<C: ConnectionTrait>(
    db: &C,
    b: &body::Model,
    day: NaiveDate,
    role: Role,
    lead: Role,
) -> AppResult<(Vec<Member>, Vec<Vacancy>)> {
    let communes = member_communes_on(db, b.intercommunality_id, day).await?;
    let (seat, lead_seat) = match role {
        Role::Mayor => (SeatRole::Mayor, SeatRole::President),
        _ => (SeatRole::Dgs, SeatRole::Lead),
    };
    let rows = mandate::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(
                    sea_orm::Condition::all()
                        .add(mandate::Column::CommuneId.is_in(communes.iter().copied()))
                        .add(mandate::Column::Role.eq(role)),
                )
                .add(
                    sea_orm::Condition::all()
                        .add(mandate::Column::IntercommunalityId.eq(b.intercommunality_id))
                        .add(mandate::Column::Role.eq(lead)),
                ),
        )
        .order_by_asc(mandate::Column::StartDate)
        .all(db)
        .await?;
    let mut members = Vec::new();
    let mut vacancies = Vec::new();
    let mut seen = HashSet::new();
    // The lead first (the president chairs the conference), then the communes in order.
    let lead_now = rows.iter().find(|m| m.intercommunality_id.is_some() && runs_on(m, day));
    match lead_now {
        Some(m) => {
            seen.insert(m.person_id);
            members.push(Member {
                person_id: m.person_id,
                role: lead_seat,
                commune_id: None,
                mandate_id: m.id,
                seat_id: None,
            });
        }
        None => {
            let last = rows.iter().rfind(|m| m.intercommunality_id.is_some() && m.start_date <= day);
            vacancies.push(Vacancy {
                role: lead_seat,
                commune_id: None,
                seat_id: None,
                person_id: last.map(|m| m.person_id),
                since: last.and_then(|m| m.end_date),
            });
        }
    }
    for c in communes {
        let of_c = || rows.iter().filter(move |m| m.commune_id == Some(c));
        match of_c().find(|m| runs_on(m, day)) {
            Some(m) => {
                if seen.insert(m.person_id) {
                    members.push(Member {
                        person_id: m.person_id,
                        role: seat,
                        commune_id: Some(c),
                        mandate_id: m.id,
                        seat_id: None,
                    });
                } else if let Some(lead) = members.iter_mut().find(|x| x.person_id == m.person_id) {
                    // The president who is also a mayor sits once, for their commune too
                    // (its population weighs in a weighted tally).
                    lead.commune_id.get_or_insert(c);
                }
            }
            None => {
                let last = of_c().rfind(|m| m.start_date <= day);
                vacancies.push(Vacancy {
                    role: seat,
                    commune_id: Some(c),
                    seat_id: None,
                    person_id: last.map(|m| m.person_id),
                    since: last.and_then(|m| m.end_date),
                });
            }
        }
    }
    Ok((members, vacancies))
}

/// Designated seats: each runs while its own period, its mandate and (for a mayor's
/// designation) the mayor's mandate all run.
async fn designated_seats<C: ConnectionTrait>(
    db: &C,
    b: &body::Model,
    day: NaiveDate,
) -> AppResult<(Vec<Member>, Vec<Vacancy>)> {
    let seats = body_seat::Entity::find()
        .filter(body_seat::Column::BodyId.eq(b.id))
        .order_by_asc(body_seat::Column::Id)
        .all(db)
        .await?;
    let mandates = seat_mandates(db, &seats).await?;
    let mut members = Vec::new();
    let mut vacancies = Vec::new();
    let mut seen = HashSet::new();
    for s in seats {
        if !seat_runs(&s, day) {
            continue;
        }
        let basis = mandates.get(&s.mandate_id);
        let designator = s.designated_by_mandate_id.map(|id| mandates.get(&id));
        let role = s.role;
        if mandates_run(&s, &mandates, day) {
            if seen.insert(s.person_id) {
                members.push(Member {
                    person_id: s.person_id,
                    role,
                    commune_id: basis.and_then(|m| m.commune_id),
                    mandate_id: s.mandate_id,
                    seat_id: Some(s.id),
                });
            }
        } else {
            let ended = [basis.and_then(|m| m.end_date), designator.flatten().and_then(|m| m.end_date)]
                .into_iter()
                .flatten()
                .filter(|e| *e <= day)
                .min();
            vacancies.push(Vacancy {
                role,
                commune_id: basis.and_then(|m| m.commune_id),
                seat_id: Some(s.id),
                person_id: Some(s.person_id),
                since: ended,
            });
        }
    }
    Ok((members, vacancies))
}

/// The body's seats on `day` and its vacant seats.
pub async fn seats<C: ConnectionTrait>(
    db: &C,
    b: &body::Model,
    day: NaiveDate,
) -> AppResult<(Vec<Member>, Vec<Vacancy>)> {
    match b.kind {
        BodyKind::ConferenceOfMayors => derived_seats(db, b, day, Role::Mayor, Role::President).await,
        BodyKind::DgsCommittee => derived_seats(db, b, day, Role::Dgs, Role::Dgs).await,
        _ => designated_seats(db, b, day).await,
    }
}

pub async fn members<C: ConnectionTrait>(db: &C, b: &body::Model, day: NaiveDate) -> AppResult<Vec<Member>> {
    Ok(seats(db, b, day).await?.0)
}

/// Whether the person animates or assists the body today.
pub async fn animates<C: ConnectionTrait>(db: &C, body_id: i32, person_id: i32) -> AppResult<bool> {
    let Some(b) = body::Entity::find_by_id(body_id).one(db).await? else { return Ok(false) };
    Ok(members(db, &b, crate::time::today_paris())
        .await?
        .iter()
        .any(|m| m.person_id == person_id && matches!(m.role, SeatRole::Animator | SeatRole::Assistant)))
}

/// Whether the person was convened to this meeting.
pub async fn convened_to<C: ConnectionTrait>(db: &C, meeting_id: i32, person_id: i32) -> AppResult<bool> {
    Ok(convocation::Entity::find()
        .filter(convocation::Column::MeetingId.eq(meeting_id))
        .filter(convocation::Column::PersonId.eq(person_id))
        .count(db)
        .await?
        > 0)
}

/// Whether a designation's mandate and (for a mayor's designation) the designating mayor's
/// mandate both run on `day`.
/// Whether the seat itself runs on `day` (its end date is exclusive).
fn seat_runs(s: &body_seat::Model, day: NaiveDate) -> bool {
    s.start_date <= day && s.end_date.is_none_or(|e| day < e)
}

/// The mandates the seats rest on: each seat's own and, for a mayor's designation, the
/// designating mayor's; one statement.
async fn seat_mandates<C: ConnectionTrait>(
    db: &C,
    seats: &[body_seat::Model],
) -> AppResult<HashMap<i32, mandate::Model>> {
    let ids: HashSet<i32> =
        seats.iter().flat_map(|s| std::iter::once(s.mandate_id).chain(s.designated_by_mandate_id)).collect();
    Ok(mandate::Entity::find()
        .filter(mandate::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect())
}

fn mandates_run(s: &body_seat::Model, mandates: &HashMap<i32, mandate::Model>, day: NaiveDate) -> bool {
    let basis_runs = mandates.get(&s.mandate_id).is_some_and(|m| runs_on(m, day));
    let designator_runs =
        s.designated_by_mandate_id.map(|id| mandates.get(&id)).is_none_or(|d| d.is_some_and(|m| runs_on(m, day)));
    basis_runs && designator_runs
}

/// The bodies where the person sits today, given their current mandates: the seats of the
/// few bodies they could sit in (the conference and DGS committee of the intercommunalities
/// their mandates belong to, the bodies where they hold a designation) are computed as
/// `members` computes them, so a body is in the answer exactly when `members` lists the
/// person for it.
pub async fn bodies_sat_in<C: ConnectionTrait>(
    db: &C,
    person: i32,
    mandates: &[mandate::Model],
) -> AppResult<HashSet<i32>> {
    let day = crate::time::today_paris();
    let derived = |m: &&mandate::Model| matches!(m.role, Role::Mayor | Role::President | Role::Dgs);
    let mut epcis: HashSet<i32> = mandates.iter().filter(derived).filter_map(|m| m.intercommunality_id).collect();
    let communes: Vec<i32> = mandates.iter().filter(derived).filter_map(|m| m.commune_id).collect();
    if !communes.is_empty() {
        // Every intercommunality the communes ever belonged to: more candidates than
        // needed, the seats decide.
        let rows = crate::territory::model::commune_membership::Entity::find()
            .filter(crate::territory::model::commune_membership::Column::CommuneId.is_in(communes))
            .all(db)
            .await?;
        epcis.extend(rows.into_iter().map(|r| r.intercommunality_id));
    }
    let mut out = HashSet::new();
    if !epcis.is_empty() {
        let derived_bodies = body::Entity::find()
            .filter(body::Column::IntercommunalityId.is_in(epcis))
            .filter(body::Column::Kind.is_in([BodyKind::ConferenceOfMayors, BodyKind::DgsCommittee]))
            .all(db)
            .await?;
        for b in derived_bodies {
            if members(db, &b, day).await?.iter().any(|m| m.person_id == person) {
                out.insert(b.id);
            }
        }
    }
    // Designations: the person sits where one of their own seats runs with its mandates
    // (`designated_seats`), whatever the other seats of the body.
    let seats = body_seat::Entity::find().filter(body_seat::Column::PersonId.eq(person)).all(db).await?;
    let seats: Vec<_> = seats.into_iter().filter(|s| seat_runs(s, day)).collect();
    if !seats.is_empty() {
        let mandates = seat_mandates(db, &seats).await?;
        let kinds: HashMap<i32, BodyKind> = body::Entity::find()
            .filter(body::Column::Id.is_in(seats.iter().map(|s| s.body_id)))
            .all(db)
            .await?
            .into_iter()
            .map(|b| (b.id, b.kind))
            .collect();
        for s in &seats {
            // Only bodies of designated seats count them (`seats`).
            let designated_kind = kinds
                .get(&s.body_id)
                .is_some_and(|&k| !matches!(k, BodyKind::ConferenceOfMayors | BodyKind::DgsCommittee));
            if designated_kind && mandates_run(s, &mandates, day) {
                out.insert(s.body_id);
            }
        }
    }
    Ok(out)
}
