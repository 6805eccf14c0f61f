//! Policy rules, pure: the kinds, the life of a policy as a typed state machine, the
//! contribution and answer rules, and the comparison of two versions of a text.
use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};

str_enum!(
    /// Kind of a policy document (politique publique, document-cadre).
    PolicyKind {
        /// Schéma d'orientation (e.g. a metropolitan orientation scheme).
        OrientationScheme = "ORIENTATION_SCHEME",
        /// Pacte de gouvernance (CGCT L5211-11-2): its opinion is a GOVERNANCE_PACT referral.
        GovernancePact = "GOVERNANCE_PACT",
        /// Pacte financier et fiscal.
        FinancialFiscalPact = "FINANCIAL_FISCAL_PACT",
        /// Politique-cadre.
        FrameworkPolicy = "FRAMEWORK_POLICY",
        /// Agenda ou plan (e.g. the metropolitan mobility agenda).
        AgendaOrPlan = "AGENDA_OR_PLAN",
        /// Charte.
        Charter = "CHARTER",
        /// Autre.
        Other = "OTHER",
    }
);

str_enum!(
    /// Where a policy stands. DRAFTING → CONCERTATION (contributions until a closing
    /// date) → CONSULTATION (formal opinions) → APPROVAL (the bodies' steps) → ADOPTED, or
    /// ABANDONED; an adopted policy can be opened for revision (a new cycle, back to
    /// DRAFTING, its history kept).
    PolicyStatus {
        /// Rédaction: the drafting team edits the text and publishes versions.
        Drafting = "DRAFTING",
        /// Concertation: open to contributions on a published version until its closing date.
        Concertation = "CONCERTATION",
        /// Consultation: formal opinions (a referral of the communes, the conference's avis).
        Consultation = "CONSULTATION",
        /// Approbation: the bodies of the approval path judge a version.
        Approval = "APPROVAL",
        /// Adoptée: recorded on the version that was adopted (délibération).
        Adopted = "ADOPTED",
        /// Abandonnée: final.
        Abandoned = "ABANDONED",
    }
);

/// What moves a policy from one status to another, with what the move needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyEvent {
    /// Open the concertation on the latest published version until `closes_at`.
    OpenConcertation { closes_at: DateTime<Utc>, now: DateTime<Utc>, published: bool },
    /// Put the latest published version to formal consultation.
    StartConsultation { published: bool },
    /// Start the approval path.
    StartApproval { published: bool },
    /// Back to drafting for another round (from concertation, consultation or approval).
    ResumeDrafting,
    /// The last step of the approval path adopted a version.
    Adopt,
    /// Open an adopted policy for revision: a new cycle.
    Revise,
    /// Abandon the policy (final).
    Abandon,
}

impl PolicyEvent {
    pub fn name(self) -> &'static str {
        match self {
            PolicyEvent::OpenConcertation { .. } => "open the concertation",
            PolicyEvent::StartConsultation { .. } => "start the consultation",
            PolicyEvent::StartApproval { .. } => "start the approval",
            PolicyEvent::ResumeDrafting => "resume drafting",
            PolicyEvent::Adopt => "adopt",
            PolicyEvent::Revise => "open for revision",
            PolicyEvent::Abandon => "abandon",
        }
    }
}

/// Why a move was refused: the error code and its message.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal { code, message: message.into() }
}

impl PolicyStatus {
    /// The status after `event`, or why not (INVALID_TRANSITION, or VALIDATION for a
    /// closing date in the past, NOT_PUBLISHED without a published version).
    pub fn apply(self, event: PolicyEvent) -> Result<PolicyStatus, Refusal> {
        use PolicyEvent as E;
        use PolicyStatus::*;
        let unpublished = || refuse("NOT_PUBLISHED", format!("publish a version before you {}", event.name()));
        let next = match (self, event) {
            (Drafting, E::OpenConcertation { closes_at, now, published }) => {
                if !published {
                    return Err(unpublished());
                }
                if closes_at <= now {
                    return Err(refuse("VALIDATION", "the concertation must close in the future"));
                }
                Concertation
            }
            (Drafting | Concertation, E::StartConsultation { published }) => {
                if !published {
                    return Err(unpublished());
                }
                Consultation
            }
            (Drafting | Concertation | Consultation, E::StartApproval { published }) => {
                if !published {
                    return Err(unpublished());
                }
                Approval
            }
            (Concertation | Consultation | Approval, E::ResumeDrafting) => Drafting,
            (Approval, E::Adopt) => Adopted,
            (Adopted, E::Revise) => Drafting,
            (Drafting | Concertation | Consultation | Approval, E::Abandon) => Abandoned,
            _ => {
                return Err(refuse("INVALID_TRANSITION", format!("a {} policy cannot {}", self.as_str(), event.name())))
            }
        };
        Ok(next)
    }

    /// Whether the text may be edited (sections, versions published).
    pub fn editable(self) -> bool {
        matches!(self, PolicyStatus::Drafting | PolicyStatus::Concertation)
    }
}

str_enum!(
    /// Kind of a contribution.
    ContributionKind {
        /// Amendement: the proposed replacement text of a section, with its reasons.
        Amendment = "AMENDMENT",
        /// Proposition: a new section or idea.
        Proposal = "PROPOSAL",
        /// Commentaire (threaded).
        Comment = "COMMENT",
        /// Question.
        Question = "QUESTION",
    }
);

str_enum!(
    /// Who may read a contribution.
    ContributionVisibility {
        /// The communes of the intercommunality (and the drafting team).
        Communes = "COMMUNES",
        /// The drafting team only.
        DraftingTeam = "DRAFTING_TEAM",
    }
);

str_enum!(
    /// Which visibilities a policy lets authors choose.
    VisibilityChoice {
        /// Either, as the author chooses.
        Both = "BOTH",
        /// Always visible to the communes.
        CommunesOnly = "COMMUNES_ONLY",
        /// Always to the drafting team only.
        DraftingTeamOnly = "DRAFTING_TEAM_ONLY",
    }
);

impl VisibilityChoice {
    /// The visibility a contribution gets when its author asked for `asked` (none: the
    /// policy's default), or why not.
    pub fn decide(self, asked: Option<ContributionVisibility>) -> Result<ContributionVisibility, String> {
        use ContributionVisibility as V;
        match (self, asked) {
            (VisibilityChoice::Both, a) => Ok(a.unwrap_or(V::Communes)),
            (VisibilityChoice::CommunesOnly, None | Some(V::Communes)) => Ok(V::Communes),
            (VisibilityChoice::DraftingTeamOnly, None | Some(V::DraftingTeam)) => Ok(V::DraftingTeam),
            (c, Some(a)) => Err(format!("this policy does not allow {} contributions ({})", a.as_str(), c.as_str())),
        }
    }
}

str_enum!(
    /// Where a contribution stands.
    ContributionStatus {
        /// Awaiting its answer.
        Open = "OPEN",
        /// Answered by the drafting team (réponse motivée).
        Answered = "ANSWERED",
        /// Withdrawn by its author before it was answered.
        Withdrawn = "WITHDRAWN",
    }
);

str_enum!(
    /// The drafting team's motivated answer (réponse motivée) to a contribution.
    AnswerKind {
        /// Retenue: applied to the next version.
        Accepted = "ACCEPTED",
        /// Retenue avec modifications.
        AcceptedWithChanges = "ACCEPTED_WITH_CHANGES",
        /// Non retenue: reasons required.
        Rejected = "REJECTED",
        /// Hors sujet: reasons required.
        OutOfScope = "OUT_OF_SCOPE",
        /// Fusionnée with another contribution (named).
        Merged = "MERGED",
    }
);

impl ContributionKind {
    /// Its name in French, for pages and messages.
    pub fn fr(self) -> &'static str {
        match self {
            ContributionKind::Amendment => "Amendement",
            ContributionKind::Proposal => "Proposition",
            ContributionKind::Comment => "Commentaire",
            ContributionKind::Question => "Question",
        }
    }
}

impl AnswerKind {
    /// Its name in French, for pages and messages.
    pub fn fr(self) -> &'static str {
        match self {
            AnswerKind::Accepted => "Retenue",
            AnswerKind::AcceptedWithChanges => "Retenue avec modifications",
            AnswerKind::Rejected => "Non retenue",
            AnswerKind::OutOfScope => "Hors sujet",
            AnswerKind::Merged => "Fusionnée",
        }
    }

    /// Checks an answer's shape: reasons where required, a contribution to join for
    /// MERGED and only then. Errors name the input field.
    pub fn check(self, reasons: Option<&str>, merged_into: Option<i32>) -> Result<(), (&'static str, String)> {
        let blank = reasons.is_none_or(|r| r.trim().is_empty());
        match self {
            AnswerKind::Rejected | AnswerKind::OutOfScope if blank => {
                Err(("reasons", format!("a {} answer gives its reasons", self.as_str())))
            }
            AnswerKind::Merged if merged_into.is_none() => {
                Err(("mergedIntoId", "a MERGED answer names the contribution it joins".into()))
            }
            k if k != AnswerKind::Merged && merged_into.is_some() => {
                Err(("mergedIntoId", "only a MERGED answer names another contribution".into()))
            }
            _ => Ok(()),
        }
    }

    /// Whether the contribution's change goes into the next version.
    pub fn accepted(self) -> bool {
        matches!(self, AnswerKind::Accepted | AnswerKind::AcceptedWithChanges)
    }
}

impl ContributionStatus {
    /// Whether its author may still withdraw it.
    pub fn withdrawable(self) -> bool {
        self == ContributionStatus::Open
    }
}

str_enum!(
    /// Kind of a step of the approval path.
    StepKind {
        /// Validation by the drafting body (working group, steering committee).
        Validation = "VALIDATION",
        /// Avis of a body (the conference of mayors, a territorial council).
        Opinion = "OPINION",
        /// Approbation by a body (e.g. each territorial council for the AMP pact).
        Approval = "APPROVAL",
        /// Adoption by the council (délibération, with its number and date): the last step.
        Adoption = "ADOPTION",
    }
);

str_enum!(
    /// What a body said at a step.
    StepOutcome {
        /// Favorable.
        Favourable = "FAVOURABLE",
        /// Favorable avec réserves.
        FavourableWithReservations = "FAVOURABLE_WITH_RESERVATIONS",
        /// Défavorable.
        Unfavourable = "UNFAVOURABLE",
        /// Adopté (an adoption step).
        Adopted = "ADOPTED",
        /// Rejeté (an adoption step).
        Rejected = "REJECTED",
    }
);

impl StepKind {
    /// Whether `outcome` answers a step of this kind: adoption steps are adopted or
    /// rejected, the others give an opinion.
    pub fn accepts(self, outcome: StepOutcome) -> bool {
        let adoption_outcome = matches!(outcome, StepOutcome::Adopted | StepOutcome::Rejected);
        (self == StepKind::Adoption) == adoption_outcome
    }
}

/// The deepest a section may sit: part, chapter, article, paragraph.
pub const MAX_DEPTH: usize = 4;
/// The most sections a policy's text may hold.
pub const MAX_SECTIONS: usize = 2_000;
/// The longest section text, in bytes (100 KB).
pub const SECTION_BYTES: usize = 100_000;
/// The longest contribution text, in bytes (20 KB).
pub const CONTRIBUTION_BYTES: usize = 20_000;
/// Days before a concertation's closing day (Europe/Paris) when the communes that have
/// not contributed yet are reminded (relances).
pub const CONCERTATION_REMINDER_DAYS: [i32; 2] = [7, 1];

/// The reminder offsets due on `today` for a concertation closing on `closes_on` (both
/// Paris days) and not yet `sent`: every offset whose day has come. Only the latest of
/// them (the smallest) is worth a message; the others are recorded as past.
pub fn reminders_due(closes_on: NaiveDate, today: NaiveDate, sent: &[i32]) -> Vec<i32> {
    if today > closes_on {
        return Vec::new();
    }
    CONCERTATION_REMINDER_DAYS
        .into_iter()
        .filter(|d| !sent.contains(d) && today >= closes_on - chrono::Duration::days(i64::from(*d)))
        .collect()
}

/// A section's place in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub id: i32,
    pub parent_id: Option<i32>,
    pub position: i32,
}

/// The text's outline: every section in reading order (depth first, siblings by
/// position then id) with its number ("1", "1.2") and depth (1 for a top-level
/// section). Iterative; a section whose parent is not in `places` is not reached.
pub fn outline(places: &[Place]) -> Vec<(Place, String, usize)> {
    let mut children: HashMap<Option<i32>, Vec<Place>> = HashMap::new();
    for p in places {
        children.entry(p.parent_id).or_default().push(*p);
    }
    for v in children.values_mut() {
        v.sort_by_key(|p| (p.position, p.id));
    }
    let mut out = Vec::with_capacity(places.len());
    // (place, label, depth), pushed in reverse so that they pop in order.
    let mut stack: Vec<(Place, String, usize)> = Vec::new();
    let push_children = |stack: &mut Vec<(Place, String, usize)>, parent: Option<i32>, prefix: &str, depth: usize| {
        if let Some(kids) = children.get(&parent) {
            for (i, k) in kids.iter().enumerate().rev() {
                let label = if prefix.is_empty() { format!("{}", i + 1) } else { format!("{prefix}.{}", i + 1) };
                stack.push((*k, label, depth));
            }
        }
    };
    push_children(&mut stack, None, "", 1);
    while let Some((p, label, depth)) = stack.pop() {
        push_children(&mut stack, Some(p.id), &label, depth + 1);
        out.push((p, label, depth));
    }
    out
}

/// Whether putting `moving` under `new_parent` is allowed: the parent is not the
/// section itself nor one of its descendants, and the subtree stays within MAX_DEPTH.
/// Walks parent links at most `places.len()` times (stored data cannot make it loop).
pub fn can_place(places: &[Place], moving: i32, new_parent: Option<i32>) -> Result<(), String> {
    let parent_of: HashMap<i32, Option<i32>> = places.iter().map(|p| (p.id, p.parent_id)).collect();
    let mut depth = 1;
    let mut at = new_parent;
    while let Some(a) = at {
        if a == moving {
            return Err("a section cannot be placed under itself or one of its own sections".into());
        }
        depth += 1;
        if depth > places.len() + 1 {
            return Err("the text's outline is broken".into());
        }
        at = parent_of.get(&a).copied().flatten();
    }
    // The levels of `moving`'s subtree (1: itself alone), visiting each section once.
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for p in places {
        if let Some(parent) = p.parent_id {
            children.entry(parent).or_default().push(p.id);
        }
    }
    let mut levels = 1;
    let mut seen = std::collections::HashSet::from([moving]);
    let mut stack = vec![(moving, 1)];
    while let Some((id, d)) = stack.pop() {
        levels = levels.max(d);
        for &k in children.get(&id).into_iter().flatten() {
            if seen.insert(k) {
                stack.push((k, d + 1));
            }
        }
    }
    if depth + levels - 1 > MAX_DEPTH {
        return Err(format!("sections nest at most {MAX_DEPTH} deep"));
    }
    Ok(())
}

/// One section of a version as the comparison sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionText {
    /// The section's identity, kept across versions.
    pub section_id: i32,
    pub parent_id: Option<i32>,
    /// Its place among its siblings.
    pub position: i32,
    pub title: String,
    pub body: String,
}

str_enum!(
    /// How a section differs between two versions.
    SectionChangeKind {
        /// Ajoutée in the later version.
        Added = "ADDED",
        /// Supprimée from the later version.
        Removed = "REMOVED",
        /// Déplacée (another parent or place), its text unchanged.
        Moved = "MOVED",
        /// Modifiée (its title or text; it may have moved too).
        Changed = "CHANGED",
    }
);

str_enum!(
    /// A run of words in a word-level difference.
    DiffOp {
        /// Unchanged.
        Equal = "EQUAL",
        /// Only in the later text.
        Insert = "INSERT",
        /// Only in the earlier text.
        Delete = "DELETE",
    }
);

/// How one section differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionChange {
    pub section_id: i32,
    pub kind: SectionChangeKind,
    pub moved: bool,
    pub title: Vec<(DiffOp, String)>,
    pub body: Vec<(DiffOp, String)>,
}

/// How long a comparison may search for the smallest differences, all sections together:
/// Myers' algorithm is O(N·D), and two unrelated 100 KB sections are its worst case (38 s
/// for one pair without a bound, 0.1 s with it, in a debug build). Past the deadline each
/// diff is still exact (it rebuilds both texts), only coarser.
const COMPARE_BUDGET: std::time::Duration = std::time::Duration::from_millis(500);

/// Word-level difference of two texts (the `similar` crate), as runs of equal, inserted
/// and deleted text, adjacent runs of one kind joined; the search stops refining at
/// `deadline`.
pub fn word_diff_until(old: &str, new: &str, deadline: std::time::Instant) -> Vec<(DiffOp, String)> {
    use similar::{ChangeTag, TextDiff};
    let diff = TextDiff::configure().deadline(deadline).diff_words(old, new);
    let mut out: Vec<(DiffOp, String)> = Vec::new();
    for change in diff.iter_all_changes() {
        let op = match change.tag() {
            ChangeTag::Equal => DiffOp::Equal,
            ChangeTag::Insert => DiffOp::Insert,
            ChangeTag::Delete => DiffOp::Delete,
        };
        match out.last_mut() {
            Some((last, text)) if *last == op => text.push_str(change.value()),
            _ => out.push((op, change.value().to_string())),
        }
    }
    out
}

/// Compares two versions section by section, matching sections by identity: what was
/// added, removed, moved or changed, in the later version's order (removed sections
/// after, in the earlier one's). Unchanged sections are left out.
pub fn compare(old: &[SectionText], new: &[SectionText]) -> Vec<SectionChange> {
    let deadline = std::time::Instant::now() + COMPARE_BUDGET;
    let word_diff = |a: &str, b: &str| word_diff_until(a, b, deadline);
    let before: HashMap<i32, &SectionText> = old.iter().map(|s| (s.section_id, s)).collect();
    let after: HashMap<i32, &SectionText> = new.iter().map(|s| (s.section_id, s)).collect();
    let whole = |text: &str, op| if text.is_empty() { vec![] } else { vec![(op, text.to_string())] };
    let mut out = Vec::new();
    for s in new {
        match before.get(&s.section_id) {
            None => out.push(SectionChange {
                section_id: s.section_id,
                kind: SectionChangeKind::Added,
                moved: false,
                title: whole(&s.title, DiffOp::Insert),
                body: whole(&s.body, DiffOp::Insert),
            }),
            Some(o) => {
                let moved = o.parent_id != s.parent_id || o.position != s.position;
                let changed = o.title != s.title || o.body != s.body;
                if changed || moved {
                    out.push(SectionChange {
                        section_id: s.section_id,
                        kind: if changed { SectionChangeKind::Changed } else { SectionChangeKind::Moved },
                        moved,
                        title: word_diff(&o.title, &s.title),
                        body: word_diff(&o.body, &s.body),
                    });
                }
            }
        }
    }
    for o in old.iter().filter(|o| !after.contains_key(&o.section_id)) {
        out.push(SectionChange {
            section_id: o.section_id,
            kind: SectionChangeKind::Removed,
            moved: false,
            title: whole(&o.title, DiffOp::Delete),
            body: whole(&o.body, DiffOp::Delete),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn concertation_reminders_come_once_each_and_only_the_latest_is_sent() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let closes = d("2026-06-30");
        assert!(reminders_due(closes, d("2026-06-22"), &[]).is_empty(), "8 days before: nothing yet");
        assert_eq!(reminders_due(closes, d("2026-06-23"), &[]), vec![7]);
        assert!(reminders_due(closes, d("2026-06-24"), &[7]).is_empty(), "sent once");
        assert_eq!(reminders_due(closes, d("2026-06-29"), &[7]), vec![1]);
        // A concertation opened 3 days before its close: the 7-day one is past, both due.
        assert_eq!(reminders_due(closes, d("2026-06-29"), &[]), vec![7, 1]);
        assert_eq!(reminders_due(closes, d("2026-06-30"), &[7]), vec![1], "the closing day itself still reminds");
        assert!(reminders_due(closes, d("2026-07-01"), &[]).is_empty(), "closed");
    }

    use chrono::Duration;

    use super::*;

    #[test]
    fn the_life_of_a_policy() {
        use PolicyEvent as E;
        use PolicyStatus::*;
        let now = Utc::now();
        let open = E::OpenConcertation { closes_at: now + Duration::days(30), now, published: true };
        assert_eq!(Drafting.apply(open), Ok(Concertation));
        assert_eq!(Concertation.apply(E::StartConsultation { published: true }), Ok(Consultation));
        assert_eq!(Consultation.apply(E::StartApproval { published: true }), Ok(Approval));
        assert_eq!(Approval.apply(E::Adopt), Ok(Adopted));
        assert_eq!(Adopted.apply(E::Revise), Ok(Drafting));
        // Rounds go back to drafting; a step can be skipped forward.
        assert_eq!(Concertation.apply(E::ResumeDrafting), Ok(Drafting));
        assert_eq!(Approval.apply(E::ResumeDrafting), Ok(Drafting));
        assert_eq!(Drafting.apply(E::StartApproval { published: true }), Ok(Approval));
        // Abandon from any open stage; abandoned and adopted are settled.
        for s in [Drafting, Concertation, Consultation, Approval] {
            assert_eq!(s.apply(E::Abandon), Ok(Abandoned));
        }
        assert_eq!(Adopted.apply(E::Abandon).unwrap_err().code, "INVALID_TRANSITION");
        for e in [open, E::ResumeDrafting, E::Revise, E::Adopt, E::StartApproval { published: true }] {
            assert_eq!(Abandoned.apply(e).unwrap_err().code, "INVALID_TRANSITION");
        }
        // Adoption only at the end of the approval path.
        for s in [Drafting, Concertation, Consultation] {
            assert_eq!(s.apply(E::Adopt).unwrap_err().code, "INVALID_TRANSITION");
        }
        assert_eq!(Approval.apply(open).unwrap_err().code, "INVALID_TRANSITION");
    }

    #[test]
    fn a_concertation_needs_a_published_version_and_a_future_closing_date() {
        let now = Utc::now();
        let e = |closes_at, published| PolicyEvent::OpenConcertation { closes_at, now, published };
        let r = PolicyStatus::Drafting.apply(e(now + Duration::days(1), false)).unwrap_err();
        assert_eq!(r.code, "NOT_PUBLISHED");
        assert_eq!(PolicyStatus::Drafting.apply(e(now, true)).unwrap_err().code, "VALIDATION");
        let r = PolicyStatus::Drafting.apply(PolicyEvent::StartConsultation { published: false }).unwrap_err();
        assert_eq!(r.code, "NOT_PUBLISHED");
        assert!(PolicyStatus::Concertation.editable() && !PolicyStatus::Approval.editable());
    }

    #[test]
    fn answers_give_reasons_where_the_law_of_the_house_wants_them() {
        assert!(AnswerKind::Accepted.check(None, None).is_ok());
        assert_eq!(AnswerKind::Rejected.check(Some("  "), None).unwrap_err().0, "reasons");
        assert_eq!(AnswerKind::OutOfScope.check(None, None).unwrap_err().0, "reasons");
        assert!(AnswerKind::Rejected.check(Some("Hors compétence"), None).is_ok());
        assert_eq!(AnswerKind::Merged.check(None, None).unwrap_err().0, "mergedIntoId");
        assert!(AnswerKind::Merged.check(None, Some(3)).is_ok());
        assert_eq!(AnswerKind::Accepted.check(None, Some(3)).unwrap_err().0, "mergedIntoId");
        assert!(AnswerKind::AcceptedWithChanges.accepted() && !AnswerKind::Merged.accepted());
        assert!(ContributionStatus::Open.withdrawable() && !ContributionStatus::Answered.withdrawable());
    }

    fn place(id: i32, parent_id: Option<i32>, position: i32) -> Place {
        Place { id, parent_id, position }
    }

    #[test]
    fn the_outline_numbers_sections_in_reading_order() {
        let places = [
            place(10, None, 1),
            place(11, None, 0),
            place(12, Some(10), 0),
            place(13, Some(12), 5),
            place(14, Some(10), 1),
        ];
        let got: Vec<(i32, String, usize)> = outline(&places).into_iter().map(|(p, l, d)| (p.id, l, d)).collect();
        let want = [(11, "1", 1), (10, "2", 1), (12, "2.1", 2), (13, "2.1.1", 3), (14, "2.2", 2)];
        assert_eq!(got, want.iter().map(|(i, l, d)| (*i, l.to_string(), *d)).collect::<Vec<_>>());
        // A deep chain does not recurse.
        let chain: Vec<Place> = (1..50_000).map(|i| place(i, if i == 1 { None } else { Some(i - 1) }, 0)).collect();
        assert_eq!(outline(&chain).len(), 49_999);
    }

    #[test]
    fn a_section_is_not_placed_under_itself_nor_too_deep() {
        let places = [place(1, None, 0), place(2, Some(1), 0), place(3, Some(2), 0), place(4, None, 1)];
        assert!(can_place(&places, 1, Some(3)).is_err());
        assert!(can_place(&places, 2, Some(2)).is_err());
        assert!(can_place(&places, 4, Some(3)).is_ok());
        assert!(can_place(&places, 1, Some(4)).is_ok());
        let deep =
            [place(1, None, 0), place(2, Some(1), 0), place(3, Some(2), 0), place(4, Some(3), 0), place(5, None, 1)];
        assert!(can_place(&deep, 5, Some(4)).is_err());
        assert!(can_place(&deep, 1, Some(5)).is_err(), "its four levels would reach depth 5");
        assert!(can_place(&deep, 2, Some(5)).is_ok(), "its three levels reach depth 4");
        // A corrupted loop in stored data ends the walk.
        let looped = [place(1, Some(2), 0), place(2, Some(1), 0), place(3, None, 0)];
        assert!(can_place(&looped, 3, Some(1)).is_err());
    }

    #[test]
    fn steps_take_the_outcomes_of_their_kind() {
        assert!(StepKind::Adoption.accepts(StepOutcome::Adopted));
        assert!(!StepKind::Adoption.accepts(StepOutcome::Favourable));
        assert!(StepKind::Opinion.accepts(StepOutcome::FavourableWithReservations));
        assert!(!StepKind::Validation.accepts(StepOutcome::Rejected));
    }

    #[test]
    fn visibility_follows_the_policy_choice() {
        use ContributionVisibility as V;
        assert_eq!(VisibilityChoice::Both.decide(None), Ok(V::Communes));
        assert_eq!(VisibilityChoice::Both.decide(Some(V::DraftingTeam)), Ok(V::DraftingTeam));
        assert_eq!(VisibilityChoice::DraftingTeamOnly.decide(None), Ok(V::DraftingTeam));
        assert!(VisibilityChoice::CommunesOnly.decide(Some(V::DraftingTeam)).is_err());
    }

    fn s(id: i32, parent: Option<i32>, position: i32, title: &str, body: &str) -> SectionText {
        SectionText { section_id: id, parent_id: parent, position, title: title.into(), body: body.into() }
    }

    #[test]
    fn versions_compare_section_by_section_with_a_word_diff() {
        let v1 = vec![
            s(1, None, 0, "Titre I", ""),
            s(2, Some(1), 0, "Article 1", "Les communes sont associées aux décisions."),
            s(3, Some(1), 1, "Article 2", "Le plan est révisé tous les six ans."),
            s(4, Some(1), 2, "Article 3", "Texte supprimé."),
        ];
        let v2 = vec![
            s(1, None, 0, "Titre I", ""),
            s(3, Some(1), 0, "Article 2", "Le plan est révisé tous les six ans."),
            s(2, Some(1), 1, "Article 1", "Les communes sont étroitement associées aux décisions."),
            s(5, Some(1), 2, "Article 4", "Nouveau."),
        ];
        let changes = compare(&v1, &v2);
        let kinds: Vec<(i32, SectionChangeKind, bool)> =
            changes.iter().map(|c| (c.section_id, c.kind, c.moved)).collect();
        use SectionChangeKind::*;
        assert_eq!(kinds, vec![(3, Moved, true), (2, Changed, true), (5, Added, false), (4, Removed, false)]);
        let body = &changes[1].body;
        assert!(body.contains(&(DiffOp::Insert, "étroitement ".to_string())), "{body:?}");
        let rebuilt: String = body.iter().filter(|(op, _)| *op != DiffOp::Delete).map(|(_, t)| t.as_str()).collect();
        assert_eq!(rebuilt, "Les communes sont étroitement associées aux décisions.");
        assert!(compare(&v1, &v1).is_empty());
    }

    fn word_diff(a: &str, b: &str) -> Vec<(DiffOp, String)> {
        word_diff_until(a, b, std::time::Instant::now() + COMPARE_BUDGET)
    }

    #[test]
    fn a_word_diff_rebuilds_both_texts() {
        let (a, b) = ("un deux trois quatre", "un trois cinq quatre six");
        let d = word_diff(a, b);
        let side = |skip| d.iter().filter(|(op, _)| *op != skip).map(|(_, t)| t.as_str()).collect::<String>();
        assert_eq!(side(DiffOp::Insert), a);
        assert_eq!(side(DiffOp::Delete), b);
        assert_eq!(word_diff("", "nouveau"), vec![(DiffOp::Insert, "nouveau".to_string())]);
    }

    #[test]
    fn two_unrelated_long_sections_still_diff_exactly() {
        // 100 KB each, no word in common: bounded by the timeout, and still rebuilds both.
        let a: String = (0..12_000).map(|i| format!("a{i} ")).collect();
        let b: String = (0..12_000).map(|i| format!("b{i} ")).collect();
        let started = std::time::Instant::now();
        let d = word_diff(&a, &b);
        eprintln!("word diff of two unrelated 100 KB sections: {:?}", started.elapsed());
        // Past the comparison's deadline, a diff is immediate and still exact.
        let past = word_diff_until(&a, &b, std::time::Instant::now());
        let side_past = |skip| past.iter().filter(|(op, _)| *op != skip).map(|(_, t)| t.as_str()).collect::<String>();
        assert_eq!((side_past(DiffOp::Insert), side_past(DiffOp::Delete)), (a.clone(), b.clone()));
        let side = |skip| d.iter().filter(|(op, _)| *op != skip).map(|(_, t)| t.as_str()).collect::<String>();
        assert_eq!((side(DiffOp::Insert), side(DiffOp::Delete)), (a, b));
    }
}
