//! The legal rules of meetings, as pure functions: rule profiles per kind of body, the
//! status machine, notice in clear days (Europe/Paris), quorum with proxies and
//! arrivals/departures per agenda item, the tally with the casting vote, the mayors'
//! request threshold and the rotation of host communes.
use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

str_enum!(
    /// The kind of a body (instance) of an intercommunality.
    BodyKind {
        /// Conférence métropolitaine des maires (CGCT L5211-11-3; AMP: L5218-9): the
        /// president and the mayors of the member communes.
        ConferenceOfMayors = "CONFERENCE_OF_MAYORS",
        /// Groupe de travail thématique: an animator, an assistant and designated members.
        WorkingGroup = "WORKING_GROUP",
        /// Comité des directeurs généraux des services des communes.
        DgsCommittee = "DGS_COMMITTEE",
        /// Commission locale d'évaluation des charges transférées (CGI 1609 nonies C IV).
        Clect = "CLECT",
        /// Commission thématique du conseil.
        Commission = "COMMISSION",
        /// Conseil communautaire / métropolitain.
        Council = "COUNCIL",
    }
);

str_enum!(
    /// Quorum rule of a body.
    QuorumRule {
        /// More than half of the members in office present (CGCT L2121-17).
        MajorityInOffice = "MAJORITY_IN_OFFICE",
        /// No quorum.
        None = "NONE",
    }
);

str_enum!(
    /// Life of a meeting: DRAFT → CONVENED → HELD → CLOSED; a draft or convened meeting
    /// may be POSTPONED (then convened again) or CANCELLED.
    MeetingStatus {
        /// En préparation: visible to the secretariat only.
        Draft = "DRAFT",
        /// Convoquée: convocations sent.
        Convened = "CONVENED",
        /// Tenue.
        Held = "HELD",
        /// Clôturée by the secretariat: nothing more is recorded at the meeting (minutes
        /// are still drafted, approved and published).
        Closed = "CLOSED",
        /// Reportée: to be convened again at a new date.
        Postponed = "POSTPONED",
        /// Annulée.
        Cancelled = "CANCELLED",
    }
);

impl MeetingStatus {
    /// Whether the status machine allows `self` → `to`.
    pub fn can_become(self, to: MeetingStatus) -> bool {
        use MeetingStatus::*;
        matches!(
            (self, to),
            (Draft, Convened)
                | (Postponed, Convened)
                | (Convened, Held)
                | (Held, Closed)
                | (Draft | Convened, Postponed)
                | (Draft | Convened | Postponed, Cancelled)
        )
    }
    pub fn transition(self, to: MeetingStatus) -> Result<MeetingStatus, String> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(format!("a {} meeting cannot become {}", self.as_str(), to.as_str()))
        }
    }
}

str_enum!(
    /// Kind of an agenda item (point de l'ordre du jour).
    AgendaItemKind {
        /// Information.
        Information = "INFORMATION",
        /// Débat.
        Debate = "DEBATE",
        /// Avis: an opinion adopted by vote.
        Opinion = "OPINION",
        /// Délibération: a decision by vote.
        Vote = "VOTE",
        /// Point d'étape / état d'avancement des travaux.
        ProgressReport = "PROGRESS_REPORT",
        /// Approbation du procès-verbal of an earlier meeting.
        MinutesApproval = "MINUTES_APPROVAL",
    }
);

impl AgendaItemKind {
    pub fn is_voted(self) -> bool {
        matches!(self, AgendaItemKind::Opinion | AgendaItemKind::Vote | AgendaItemKind::MinutesApproval)
    }
}

str_enum!(
    /// Attendance of a member at a meeting.
    AttendanceStatus {
        /// Présent.
        Present = "PRESENT",
        /// Présent à distance (visioconférence), counted as present.
        Remote = "REMOTE",
        /// Excusé.
        Excused = "EXCUSED",
        /// Absent.
        Absent = "ABSENT",
        /// Représenté: gave a proxy (pouvoir) to another member; not present.
        Represented = "REPRESENTED",
    }
);

str_enum!(
    /// A member's vote.
    Choice {
        /// Pour.
        For = "FOR",
        /// Contre.
        Against = "AGAINST",
        /// Abstention (not a vote cast).
        Abstain = "ABSTAIN",
    }
);

str_enum!(
    /// Result of a vote.
    VoteResult {
        /// Adopté.
        Adopted = "ADOPTED",
        /// Rejeté.
        Rejected = "REJECTED",
    }
);

str_enum!(
    /// Where a seat in a body comes from.
    SeatRole {
        /// Président (of the conference: the intercommunality's president).
        President = "PRESIDENT",
        /// Maire of a member commune (conference of mayors).
        Mayor = "MAYOR",
        /// Animateur of a working group (a vice-president or delegated councillor).
        Animator = "ANIMATOR",
        /// Assistant of a working group (a DGA of the intercommunality).
        Assistant = "ASSISTANT",
        /// Member by designation.
        Member = "MEMBER",
        /// DGS of a member commune (DGS committee).
        Dgs = "DGS",
        /// DGS of the intercommunality, who leads the DGS committee.
        Lead = "LEAD",
    }
);

str_enum!(
    /// Minutes (procès-verbal) of a meeting.
    MinutesStatus {
        None = "NONE",
        /// Drafted after the meeting.
        Draft = "DRAFT",
        /// Approved by a MINUTES_APPROVAL item of a later meeting.
        Approved = "APPROVED",
        /// Published.
        Published = "PUBLISHED",
    }
);

str_enum!(
    /// Mayors' request for a conference (demande d'un tiers des maires).
    RequestStatus {
        /// Collecting signatures.
        Open = "OPEN",
        /// Threshold reached: the conference is to be convened, by default within 30 days
        /// (a rule of this server, from the project's brief; the CGCT sets no delay).
        Granted = "GRANTED",
        /// Refused: the yearly limit of granted requests was reached.
        Refused = "REFUSED",
        /// A conference was convened for it.
        Convened = "CONVENED",
    }
);

str_enum!(
    /// How a convocation was sent (shown as its string: the schema's `channel` is a String).
    ConvocationChannel {
        /// By electronic means (CGCT L2121-10), the default.
        Electronic = "ELECTRONIC",
        /// On paper, for a member who asked for it.
        Paper = "PAPER",
    }
);

/// A body's rules (its règlement intérieur), each with a default from the law.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleProfile {
    pub notice_clear_days: i32,
    pub urgency_clear_days: i32,
    pub note_required: bool,
    pub quorum_rule: QuorumRule,
    pub proxies_allowed: bool,
    pub proxies_per_holder: i32,
    pub proxy_max_meetings: i32,
    pub second_convocation_days: i32,
    pub legal_source: String,
}

impl BodyKind {
    /// Statutory defaults (CGCT; EPCIs apply the rules of communes of 3,500+ through
    /// L5211-1). Working groups and the DGS committee have no statutory rules: they default
    /// to the same values, and the secretariat overrides them in the body's profile.
    pub fn default_profile(self) -> RuleProfile {
        let statutory = "CGCT L2121-10 (electronic convocation), L2121-11 (5 clear days; 1 in urgency), \
                         L2121-12 (explanatory note), L2121-17 (quorum; second convocation 3 days later), \
                         L2121-20 (one proxy per holder, 3 consecutive meetings), applied to EPCIs by L5211-1";
        let (note, source) = match self {
            BodyKind::ConferenceOfMayors => (true, format!("CGCT L5211-11-3 (AMP: L5218-9); {statutory}")),
            BodyKind::Council => (true, format!("CGCT L5211-1; {statutory}")),
            BodyKind::Clect => (true, format!("CGI 1609 nonies C IV; {statutory}")),
            BodyKind::Commission => {
                (false, format!("Règlement intérieur du conseil (L2121-22); defaults: {statutory}"))
            }
            BodyKind::WorkingGroup | BodyKind::DgsCommittee => {
                (false, format!("No statutory rule: règlement intérieur; defaults: {statutory}"))
            }
        };
        RuleProfile {
            notice_clear_days: 5,
            urgency_clear_days: 1,
            note_required: note,
            quorum_rule: QuorumRule::MajorityInOffice,
            proxies_allowed: true,
            proxies_per_holder: 1,
            proxy_max_meetings: 3,
            second_convocation_days: 3,
            legal_source: source,
        }
    }
}

pub use crate::time::paris_day;

/// Latest legal sending date for `clear_days` of notice before a meeting on `meeting_day`:
/// neither the day of sending nor the day of the meeting counts (weekends and holidays
/// do), so it is `meeting_day − (clear_days + 1)` days.
pub fn latest_sending_day(meeting_day: NaiveDate, clear_days: i32) -> NaiveDate {
    meeting_day - Duration::days(i64::from(clear_days) + 1)
}

/// Clear days between a sending instant and a meeting instant, both read in Paris time.
pub fn clear_days_between(sent: DateTime<Utc>, starts: DateTime<Utc>) -> i64 {
    (paris_day(starts) - paris_day(sent)).num_days() - 1
}

/// Whether a convocation sent at `sent` gives `clear_days` of notice for a meeting at
/// `starts`; on failure, the latest legal sending date.
pub fn check_notice(sent: DateTime<Utc>, starts: DateTime<Utc>, clear_days: i32) -> Result<(), NaiveDate> {
    let latest = latest_sending_day(paris_day(starts), clear_days);
    if paris_day(sent) <= latest {
        Ok(())
    } else {
        Err(latest)
    }
}

/// One member's attendance as recorded: status, and the agenda positions at which they
/// arrived (None: from the start) and left (None: stayed to the end; absent from that
/// position on).
#[derive(Clone, Copy, Debug)]
pub struct Presence {
    pub status: AttendanceStatus,
    pub arrival: Option<i32>,
    pub departure: Option<i32>,
}

impl Presence {
    /// Whether the member is in the room (or connected) for the item at `position`.
    pub fn present_at(&self, position: i32) -> bool {
        matches!(self.status, AttendanceStatus::Present | AttendanceStatus::Remote)
            && self.arrival.is_none_or(|a| a <= position)
            && self.departure.is_none_or(|d| position < d)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quorum {
    pub in_office: i64,
    pub present: i64,
    /// Members needed: more than half of those in office.
    pub required: i64,
    pub met: bool,
}

/// Quorum at the item at `position`: more than half of the `in_office` members present;
/// those who gave a proxy are not present. `rule` NONE, or a second convocation, needs none.
pub fn quorum_at(rule: QuorumRule, in_office: i64, presences: &[Presence], position: i32, second: bool) -> Quorum {
    let present = presences.iter().filter(|p| p.present_at(position)).count() as i64;
    let required = if rule == QuorumRule::None || second { 0 } else { in_office / 2 + 1 };
    Quorum { in_office, present, required, met: present >= required }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    pub result: VoteResult,
    pub casting_vote_used: bool,
}

/// Result by absolute majority of votes cast (abstentions are not cast): adopted when FOR
/// exceeds AGAINST. On a tie the president's vote decides, except in a secret ballot
/// (then the motion is not adopted). `president` is how the president voted (ABSTAIN when
/// they abstained or were absent: no casting vote), None when unknown (an error on a tie).
pub fn tally(votes_for: i64, against: i64, secret: bool, president: Option<Choice>) -> Result<Tally, String> {
    use std::cmp::Ordering::*;
    Ok(match votes_for.cmp(&against) {
        Greater => Tally { result: VoteResult::Adopted, casting_vote_used: false },
        Less => Tally { result: VoteResult::Rejected, casting_vote_used: false },
        Equal if votes_for == 0 => Tally { result: VoteResult::Rejected, casting_vote_used: false },
        Equal if secret => Tally { result: VoteResult::Rejected, casting_vote_used: false },
        Equal => match president {
            Some(Choice::For) => Tally { result: VoteResult::Adopted, casting_vote_used: true },
            Some(Choice::Against) => Tally { result: VoteResult::Rejected, casting_vote_used: true },
            // The president abstained or is not there to decide: the motion is not adopted.
            Some(Choice::Abstain) => Tally { result: VoteResult::Rejected, casting_vote_used: false },
            None => {
                return Err("tie: the president's vote decides; say how the president voted (presidentChoice)".into())
            }
        },
    })
}

/// Signatures needed for a mayors' request: one third of the member communes, rounded up
/// (31 of 92).
pub fn signatures_needed(member_communes: usize) -> usize {
    member_communes.div_ceil(3)
}

/// Granted requests allowed per calendar year (L5211-11-3: at most 4).
pub const REQUESTS_PER_YEAR: usize = 4;
/// Days within which a granted request must be convened.
pub const REQUEST_CONVENE_DAYS: i64 = 30;

/// Of the `candidates` (commune id, name), the suggested next host: one that never hosted
/// (by name) first, then the one whose last hosting is the oldest. `hosted` gives each
/// commune's last hosting.
pub fn suggest_host(candidates: &[(i32, String)], hosted: &HashMap<i32, DateTime<Utc>>) -> Option<i32> {
    candidates
        .iter()
        .min_by(|a, b| {
            let key = |c: &(i32, String)| (hosted.get(&c.0).copied(), c.1.clone(), c.0);
            key(a).cmp(&key(b))
        })
        .map(|c| c.0)
}

/// The calendar year (Paris) of an instant.
/// How early before its convened start a meeting may be declared held (a secretariat
/// opening the session on a tablet a little ahead of the hour).
pub const OPENING_TOLERANCE_MINUTES: i64 = 15;

/// A meeting is declared held only once it has begun: from its convened start, less
/// `OPENING_TOLERANCE_MINUTES`. Before that the members convened to the hour could not
/// yet be there. Refused with the earliest time it may be declared held.
pub fn check_may_be_held(starts_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
    let earliest = starts_at - Duration::minutes(OPENING_TOLERANCE_MINUTES);
    if now < earliest {
        Err(earliest)
    } else {
        Ok(())
    }
}

pub fn paris_year(t: DateTime<Utc>) -> i32 {
    paris_day(t).year()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_meeting_is_held_only_once_it_has_begun() {
        let start = Utc.with_ymd_and_hms(2026, 6, 16, 8, 0, 0).unwrap();
        // Days before: refused, with the earliest time it may be declared held.
        let early = check_may_be_held(start, start - Duration::days(3)).unwrap_err();
        assert_eq!(early, start - Duration::minutes(OPENING_TOLERANCE_MINUTES));
        assert!(check_may_be_held(start, start - Duration::minutes(16)).is_err());
        // Within the tolerance, at the hour and after: allowed.
        assert!(check_may_be_held(start, start - Duration::minutes(15)).is_ok());
        assert!(check_may_be_held(start, start).is_ok());
        assert!(check_may_be_held(start, start + Duration::hours(5)).is_ok());
    }

    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Europe::Paris;

    fn paris(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Paris.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap().with_timezone(&Utc)
    }
    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn notice_across_the_spring_time_change() {
        // Monday 30 March 2026 10:00 Paris (clocks went forward on Sunday 29 March): 5 clear
        // days need a convocation sent by Tuesday 24 March.
        let meeting = paris(2026, 3, 30, 10, 0);
        assert_eq!(latest_sending_day(paris_day(meeting), 5), day("2026-03-24"));
        assert!(check_notice(paris(2026, 3, 24, 23, 59), meeting, 5).is_ok());
        // 25 March 00:30 in Paris is still 24 March in UTC: Paris decides.
        let late = paris(2026, 3, 25, 0, 30);
        assert_eq!(late.date_naive(), day("2026-03-24"));
        assert_eq!(check_notice(late, meeting, 5), Err(day("2026-03-24")));
        assert_eq!(clear_days_between(paris(2026, 3, 24, 9, 0), meeting), 5);
    }

    #[test]
    fn notice_across_the_autumn_time_change_and_month_ends() {
        // Meeting Tuesday 3 November 2026 at 09:00; clocks went back on 25 October.
        let meeting = paris(2026, 11, 3, 9, 0);
        assert_eq!(latest_sending_day(paris_day(meeting), 5), day("2026-10-28"));
        assert!(check_notice(paris(2026, 10, 28, 23, 30), meeting, 5).is_ok());
        assert!(check_notice(paris(2026, 10, 29, 0, 10), meeting, 5).is_err());
        // 1 March in a non-leap year: 5 clear days back crosses February's end.
        assert_eq!(latest_sending_day(day("2027-03-01"), 5), day("2027-02-23"));
        assert_eq!(latest_sending_day(day("2028-03-01"), 5), day("2028-02-24")); // leap year
        assert_eq!(latest_sending_day(day("2026-01-02"), 3), day("2025-12-29"));
    }

    #[test]
    fn urgency_needs_one_clear_day() {
        let meeting = paris(2026, 6, 10, 18, 0);
        assert!(check_notice(paris(2026, 6, 8, 20, 0), meeting, 1).is_ok());
        assert_eq!(check_notice(paris(2026, 6, 9, 8, 0), meeting, 1), Err(day("2026-06-08")));
    }

    #[test]
    fn status_machine() {
        use MeetingStatus::*;
        assert!(Draft.transition(Convened).is_ok());
        assert!(Draft.transition(Held).is_err());
        assert!(Held.transition(Cancelled).is_err());
        assert!(Postponed.transition(Convened).is_ok());
        assert!(Closed.transition(Convened).is_err());
    }

    #[test]
    fn quorum_follows_arrivals_departures_and_proxies() {
        let p = |status, arrival, departure| Presence { status, arrival, departure };
        use AttendanceStatus::*;
        // 7 members in office: 4 needed.
        let people = [
            p(Present, None, None),
            p(Remote, None, None),
            p(Present, Some(2), None),  // arrives at item 2
            p(Present, None, Some(3)),  // leaves before item 3
            p(Represented, None, None), // gave a proxy: not present
            p(Excused, None, None),
            p(Absent, None, None),
        ];
        let q = |pos| quorum_at(QuorumRule::MajorityInOffice, 7, &people, pos, false);
        assert_eq!(q(1), Quorum { in_office: 7, present: 3, required: 4, met: false });
        assert_eq!(q(2), Quorum { in_office: 7, present: 4, required: 4, met: true });
        assert_eq!(q(3).present, 3);
        assert!(!q(3).met);
        assert!(quorum_at(QuorumRule::MajorityInOffice, 7, &people, 3, true).met);
        assert!(quorum_at(QuorumRule::None, 7, &people, 3, false).met);
        // 92 mayors + president: 47 needed.
        assert_eq!(quorum_at(QuorumRule::MajorityInOffice, 93, &[], 1, false).required, 47);
    }

    #[test]
    fn tie_with_and_without_casting_vote() {
        assert_eq!(tally(10, 9, false, None).unwrap().result, VoteResult::Adopted);
        assert_eq!(tally(9, 10, false, None).unwrap().result, VoteResult::Rejected);
        let t = tally(10, 10, false, Some(Choice::For)).unwrap();
        assert_eq!(t, Tally { result: VoteResult::Adopted, casting_vote_used: true });
        assert_eq!(tally(10, 10, false, Some(Choice::Against)).unwrap().result, VoteResult::Rejected);
        assert!(tally(10, 10, false, None).is_err());
        assert_eq!(tally(10, 10, false, Some(Choice::Abstain)).unwrap().result, VoteResult::Rejected);
        assert_eq!(
            tally(10, 10, true, Some(Choice::For)).unwrap(),
            Tally { result: VoteResult::Rejected, casting_vote_used: false }
        );
    }

    #[test]
    fn one_third_of_the_mayors() {
        assert_eq!(signatures_needed(92), 31);
        assert_eq!(signatures_needed(90), 30);
        assert_eq!(signatures_needed(1), 1);
    }

    #[test]
    fn rotation_prefers_never_then_longest_ago() {
        let c = vec![(1, "Aubagne".to_string()), (2, "Cassis".to_string()), (3, "Allauch".to_string())];
        let mut hosted = HashMap::new();
        assert_eq!(suggest_host(&c, &hosted), Some(3));
        hosted.insert(3, paris(2026, 5, 1, 10, 0));
        assert_eq!(suggest_host(&c, &hosted), Some(1));
        hosted.insert(1, paris(2026, 6, 1, 10, 0));
        hosted.insert(2, paris(2026, 4, 1, 10, 0));
        assert_eq!(suggest_host(&c, &hosted), Some(2));
    }
}
