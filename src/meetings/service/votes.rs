//! Votes.
use std::collections::{HashMap, HashSet};

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::agenda::lock_meeting;
use super::quorum::{presence, proxies_at, quorum_by_item};
use super::{audit, meeting_of};
use crate::audit::service::record;
use crate::auth::policy::{pass, Action};
use crate::auth::{Actor, Granted};
use crate::error::{AppError, AppResult};
use crate::meetings::model::{agenda_item, attendance, ballot, meeting};
use crate::meetings::queries::members;
use crate::meetings::rules::{
    paris_day, tally, AgendaItemKind, AttendanceStatus, BodyKind, Choice, MeetingStatus, MinutesStatus, SeatRole,
    VoteResult,
};
use crate::platform::text::optional;
use crate::platform::versions::{expect_one, next_version};
use crate::territory::model::commune;
use crate::AppState;

pub struct VoteInput {
    pub expected_version: i32,
    pub votes_for: Option<i32>,
    pub against: Option<i32>,
    pub abstain: Option<i32>,
    pub secret: bool,
    pub weighted: bool,
    pub president_choice: Option<Choice>,
    pub roll_call: Vec<(i32, Choice)>,
    pub opinion_text: Option<String>,
}

/// Records the vote on a VOTE, OPINION or MINUTES_APPROVAL item: counts (or a roll call,
/// proxies included), the result by absolute majority of votes cast with the president's
/// casting vote on a tie (not in a secret ballot), and for the conference of mayors an
/// optional tally weighted by each mayor's commune population, frozen with the vote.
pub async fn record_vote(
    state: &AppState,
    actor: &Actor,
    item_id: i32,
    v: VoteInput,
) -> AppResult<Granted<agenda_item::Model>> {
    let txn = crate::db::write(&state.db).await?;
    let item =
        agenda_item::Entity::find_by_id(item_id).one(&txn).await?.ok_or_else(|| AppError::not_found("agenda item"))?;
    let (m, b) = meeting_of(&txn, item.meeting_id).await?;
    let allowed = pass(&txn, actor, Action::ManageMeetings { intercommunality: b.intercommunality_id }).await?;
    // Under the meeting's lock from here on: its state and attendance cannot change
    // before commit.
    let m = lock_meeting(&txn, &m).await?;
    let kind = item.kind;
    if !kind.is_voted() {
        return Err(AppError::validation("itemId", format!("a {} item takes no vote", kind.as_str())));
    }
    if !matches!(m.status, MeetingStatus::Convened | MeetingStatus::Held) {
        return Err(AppError::rule("INVALID_TRANSITION", "votes are recorded for a convened or held meeting"));
    }
    let quorum = quorum_by_item(&txn, &m, &b)
        .await?
        .into_iter()
        .find(|(i, _)| i.id == item_id)
        .map(|(_, q)| q)
        .ok_or_else(|| AppError::internal("item missing from its meeting"))?;
    if !quorum.met {
        return Err(AppError::rule(
            "QUORUM_NOT_MET",
            format!(
                "quorum not reached at item {}: {} present of {} in office, {} needed; convene a second convocation",
                item.position, quorum.present, quorum.in_office, quorum.required
            ),
        ));
    }
    if v.weighted && b.kind != BodyKind::ConferenceOfMayors {
        return Err(AppError::validation("weighted", "only the conference of mayors weighs votes by population"));
    }
    if v.weighted && v.roll_call.is_empty() {
        return Err(AppError::validation("rollCall", "a weighted tally needs the roll call"));
    }
    if v.secret && !v.roll_call.is_empty() {
        return Err(AppError::validation("rollCall", "a secret ballot has no roll call"));
    }
    // Who may vote at this item: members present, and those they represent by proxy.
    let att = attendance::Entity::find().filter(attendance::Column::MeetingId.eq(m.id)).all(&txn).await?;
    let present: HashSet<i32> =
        att.iter().filter(|a| presence(a).present_at(item.position)).map(|a| a.person_id).collect();
    let proxies = proxies_at(&txn, &m).await?;
    let represented: HashMap<i32, i32> = att
        .iter()
        .filter(|a| a.status == AttendanceStatus::Represented)
        .filter_map(|a| proxies.iter().find(|p| Some(p.id) == a.proxy_id))
        .filter(|p| present.contains(&p.holder_person_id))
        .map(|p| (p.giver_person_id, p.holder_person_id))
        .collect();
    let voters = present.len() + represented.len();
    let (mut f, mut a, mut ab) = (0i64, 0i64, 0i64);
    let mut seen = HashSet::new();
    for (i, (person, choice)) in v.roll_call.iter().enumerate() {
        if !seen.insert(*person) {
            return Err(AppError::validation(&format!("rollCall.{i}.personId"), "this member voted twice"));
        }
        if !present.contains(person) && !represented.contains_key(person) {
            return Err(AppError::validation(
                &format!("rollCall.{i}.personId"),
                "neither present at this item nor represented by a present member",
            ));
        }
        match choice {
            Choice::For => f += 1,
            Choice::Against => a += 1,
            Choice::Abstain => ab += 1,
        }
    }
    if v.roll_call.is_empty() {
        let (Some(x), Some(y), Some(z)) = (v.votes_for, v.against, v.abstain) else {
            return Err(AppError::validation("votesFor", "give the counts (for, against, abstain) or the roll call"));
        };
        if x < 0 || y < 0 || z < 0 {
            return Err(AppError::validation("votesFor", "counts cannot be negative"));
        }
        (f, a, ab) = (x.into(), y.into(), z.into());
    } else if [
        v.votes_for.map(i64::from) != Some(f) && v.votes_for.is_some(),
        v.against.map(i64::from) != Some(a) && v.against.is_some(),
        v.abstain.map(i64::from) != Some(ab) && v.abstain.is_some(),
    ]
    .contains(&true)
    {
        return Err(AppError::validation("votesFor", "the counts do not match the roll call"));
    }
    if (f + a + ab) as usize > voters {
        return Err(AppError::validation(
            "votesFor",
            format!("{} votes for {voters} members present or represented at this item", f + a + ab),
        ));
    }
    // The president (of the conference, or the animator / lead) casts the deciding vote.
    let seats = members(&txn, &b, paris_day(m.starts_at)).await?;
    let chair = seats
        .iter()
        .find(|x| matches!(x.role, SeatRole::President | SeatRole::Animator | SeatRole::Lead))
        .map(|x| x.person_id);
    // With a roll call, the president's own ballot decides a tie; without one, the
    // secretariat says how the president voted. Absent at the item: no casting vote.
    let chair_here = chair.is_some_and(|c| present.contains(&c));
    let president = if !v.roll_call.is_empty() {
        if v.president_choice.is_some() {
            return Err(AppError::validation("presidentChoice", "with a roll call, the president's ballot decides"));
        }
        let ballot = chair.and_then(|c| v.roll_call.iter().find(|(p, _)| *p == c).map(|(_, ch)| *ch));
        Some(ballot.filter(|_| chair_here).unwrap_or(Choice::Abstain))
    } else if chair_here {
        v.president_choice
    } else {
        Some(Choice::Abstain)
    };
    let t = tally(f, a, v.secret, president).map_err(|e| AppError::validation("presidentChoice", e))?;
    // Weighted tally: each mayor's commune population, frozen now.
    let weights: HashMap<i32, (i32, Option<i32>, Option<i32>)> = if v.weighted {
        let communes: Vec<i32> = seats.iter().filter_map(|s| s.commune_id).collect();
        let pops: HashMap<i32, commune::Model> = commune::Entity::find()
            .filter(commune::Column::Id.is_in(communes))
            .all(&txn)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        seats
            .iter()
            .filter_map(|s| {
                s.commune_id.map(|c| {
                    (
                        s.person_id,
                        (c, pops.get(&c).and_then(|x| x.population), pops.get(&c).and_then(|x| x.population_year)),
                    )
                })
            })
            .collect()
    } else {
        HashMap::new()
    };
    let mut w = (0i64, 0i64, 0i64);
    for (p, ch) in &v.roll_call {
        let pop = weights.get(p).and_then(|x| x.1).map(i64::from).unwrap_or(0);
        match ch {
            Choice::For => w.0 += pop,
            Choice::Against => w.1 += pop,
            Choice::Abstain => w.2 += pop,
        }
    }
    let opinion = optional("opinionText", v.opinion_text.as_deref(), 100_000)?;
    if kind == AgendaItemKind::Opinion && t.result == VoteResult::Adopted && opinion.is_none() {
        return Err(AppError::validation("opinionText", "an adopted opinion keeps its text"));
    }
    let next = next_version(v.expected_version)?;
    let now = Utc::now();
    let res = agenda_item::Entity::update_many()
        .col_expr(agenda_item::Column::VotesFor, Expr::value(Some(f as i32)))
        .col_expr(agenda_item::Column::VotesAgainst, Expr::value(Some(a as i32)))
        .col_expr(agenda_item::Column::VotesAbstain, Expr::value(Some(ab as i32)))
        .col_expr(agenda_item::Column::SecretBallot, Expr::value(v.secret))
        .col_expr(agenda_item::Column::Weighted, Expr::value(v.weighted))
        .col_expr(agenda_item::Column::WeightFor, Expr::value(v.weighted.then_some(w.0)))
        .col_expr(agenda_item::Column::WeightAgainst, Expr::value(v.weighted.then_some(w.1)))
        .col_expr(agenda_item::Column::WeightAbstain, Expr::value(v.weighted.then_some(w.2)))
        .col_expr(agenda_item::Column::Result, Expr::value(Some(t.result)))
        .col_expr(agenda_item::Column::CastingVoteUsed, Expr::value(t.casting_vote_used))
        .col_expr(agenda_item::Column::OpinionText, Expr::value(opinion.clone()))
        .col_expr(agenda_item::Column::DecidedAt, Expr::value(Some(now)))
        .col_expr(agenda_item::Column::Version, Expr::value(next))
        .filter(agenda_item::Column::Id.eq(item_id))
        .filter(agenda_item::Column::Version.eq(v.expected_version))
        .exec(&txn)
        .await?;
    expect_one(res.rows_affected, "agenda item", item.version, v.expected_version)?;
    ballot::Entity::delete_many().filter(ballot::Column::AgendaItemId.eq(item_id)).exec(&txn).await?;
    if !v.roll_call.is_empty() {
        ballot::Entity::insert_many(v.roll_call.iter().map(|(p, ch)| {
            let wt = weights.get(p);
            ballot::ActiveModel {
                agenda_item_id: Set(item_id),
                person_id: Set(*p),
                choice: Set(*ch),
                cast_by_person_id: Set(represented.get(p).copied()),
                commune_id: Set(wt.map(|x| x.0)),
                population: Set(wt.and_then(|x| x.1).map(i64::from)),
                population_year: Set(wt.and_then(|x| x.2)),
                ..Default::default()
            }
        }))
        .exec(&txn)
        .await?;
    }
    // An adopted MINUTES_APPROVAL item approves the earlier meeting's minutes.
    if kind == AgendaItemKind::MinutesApproval && t.result == VoteResult::Adopted {
        if let Some(of) = item.minutes_of_meeting_id {
            let res = meeting::Entity::update_many()
                .col_expr(meeting::Column::MinutesStatus, Expr::value(MinutesStatus::Approved))
                .col_expr(meeting::Column::MinutesApprovedOn, Expr::value(Some(paris_day(m.starts_at))))
                .col_expr(meeting::Column::MinutesApprovedByItemId, Expr::value(Some(item_id)))
                .filter(meeting::Column::Id.eq(of))
                .filter(meeting::Column::MinutesStatus.eq(MinutesStatus::Draft))
                .exec(&txn)
                .await?;
            if res.rows_affected != 1 {
                return Err(AppError::rule(
                    "INVALID_TRANSITION",
                    "those minutes are not drafted (or already approved)",
                ));
            }
        }
    }
    record(
        &txn,
        actor,
        audit("RECORD_VOTE", "AgendaItem", item_id, &b, json!({ "for": f, "against": a, "abstain": ab, "secret": v.secret, "result": t.result.as_str(), "castingVote": t.casting_vote_used, "weighted": v.weighted.then_some([w.0, w.1, w.2]), "rollCall": v.roll_call.len() })),
    )
    .await?;
    let after =
        agenda_item::Entity::find_by_id(item_id).one(&txn).await?.ok_or_else(|| AppError::not_found("agenda item"))?;
    txn.commit().await?;
    Ok(allowed.grant(after))
}
