//! The rules of referrals, as pure functions: each procedure's defaults (duration, the
//! event its clock starts from, what silence means, how it is decided), the deadline
//! (month arithmetic clamped to the month's end, at 23:59:59 Europe/Paris) and the
//! qualified majority of CGCT L5211-5 II.
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;

str_enum!(
    /// The legal procedure of a referral (its French name in each value's description).
    /// It brings the duration, the event the clock starts from, what silence means and
    /// the decision rule.
    Procedure {
        /// Transfert de compétence (CGCT L5211-17): 3 months from notification to the
        /// mayor, silence is favourable, qualified majority with the most populous commune.
        TransferOfCompetence = "TRANSFER_OF_COMPETENCE",
        /// Modification des statuts (L5211-20): as a transfer of competence.
        Statutes = "STATUTES",
        /// Décision ne concernant qu'une commune (L5211-57): 3 months from transmission,
        /// silence is favourable; if unfavourable the council decides by 2/3 of its members.
        SingleCommune = "SINGLE_COMMUNE",
        /// Projet de PLUi arrêté (Code de l'urbanisme R153-5): 3 months from the arrêt du
        /// projet, silence is favourable; an unfavourable opinion makes the council deliberate again.
        Plui = "PLUI",
        /// Pacte de gouvernance (L5211-11-2): 2 months from transmission of the draft;
        /// silence means nothing, the council may adopt once the period has passed.
        GovernancePact = "GOVERNANCE_PACT",
        /// Rapport de la CLECT (CGI 1609 nonies C IV): 3 months from transmission by the
        /// CLECT president, qualified majority; without it the prefect fixes the costs.
        ClectReport = "CLECT_REPORT",
        /// Consultation libre pour avis: deadline and meaning of silence set per referral;
        /// counts and population-weighted shares.
        FreeConsultation = "FREE_CONSULTATION",
        /// Recensement / collecte de données: deadline set per referral, no vote; the
        /// answers consolidate into a dataset.
        DataCollection = "DATA_COLLECTION",
    }
);

str_enum!(
    /// The event a procedure's clock starts from.
    ClockStart {
        /// Notification de la délibération au maire.
        Notification = "NOTIFICATION",
        /// Transmission du projet ou du rapport.
        Transmission = "TRANSMISSION",
        /// Arrêt du projet (PLUi).
        DraftAdopted = "DRAFT_ADOPTED",
        /// Ouverture de la saisine.
        Opening = "OPENING",
    }
);

str_enum!(
    /// What a commune's silence at the deadline means.
    Silence {
        /// Avis réputé favorable.
        DeemedFavourable = "DEEMED_FAVOURABLE",
        /// Absence de réponse: nothing is inferred.
        NoResponse = "NO_RESPONSE",
    }
);

str_enum!(
    /// How a referral's outcome is decided.
    Decision {
        /// Majorité qualifiée (CGCT L5211-5 II).
        QualifiedMajority = "QUALIFIED_MAJORITY",
        /// Majorité qualifiée, and the most populous commune must agree when it holds more
        /// than a quarter of the population (L5211-17, L5211-20).
        QualifiedMajorityWithMostPopulous = "QUALIFIED_MAJORITY_WITH_MOST_POPULOUS",
        /// If the commune is unfavourable, the council decides by 2/3 of its members (L5211-57).
        SingleCommune = "SINGLE_COMMUNE",
        /// The council deliberates again on an unfavourable opinion (PLUi).
        CouncilDeliberatesAgain = "COUNCIL_DELIBERATES_AGAIN",
        /// The council may adopt once the period has passed (pacte de gouvernance).
        CouncilMayAdopt = "COUNCIL_MAY_ADOPT",
        /// Counts and population-weighted shares only.
        Counts = "COUNTS",
        /// No vote: a consolidated dataset.
        Dataset = "DATASET",
    }
);

impl Decision {
    pub fn qualified(self) -> bool {
        matches!(self, Decision::QualifiedMajority | Decision::QualifiedMajorityWithMostPopulous)
    }
}

str_enum!(
    /// What a referral asks for.
    ReferralKind {
        /// Saisine pour avis.
        Opinion = "OPINION",
        /// Collecte de données (recensement).
        DataCollection = "DATA_COLLECTION",
    }
);

str_enum!(
    /// Life of a referral: DRAFT → OPEN → CLOSED. Opening freezes the addressees and their
    /// populations and sets the deadline; it closes when the deadline passes.
    ReferralStatus {
        /// En préparation: the secretariat's only.
        Draft = "DRAFT",
        /// Ouverte: the communes answer until the deadline.
        Open = "OPEN",
        /// Close: the deadline has passed; silence has been given its meaning.
        Closed = "CLOSED",
    }
);

/// Whether a deadline has passed at `now`. The deadline's whole second counts (an answer
/// at 23:59:59.6 is in time): it passes at midnight, when the Paris day changes.
pub fn passed(deadline: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now >= deadline + chrono::Duration::seconds(1)
}

impl ReferralStatus {
    /// The status as queries show it: an open referral whose deadline has passed is
    /// closed, whether or not the background job has recorded it yet.
    pub fn effective(self, deadline: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Self {
        match (self, deadline) {
            (ReferralStatus::Open, Some(d)) if passed(d, now) => ReferralStatus::Closed,
            (s, _) => s,
        }
    }
}

str_enum!(
    /// Who a referral is addressed to.
    AddresseeMode {
        /// Every commune member of the intercommunality on the opening date.
        AllMembers = "ALL_MEMBERS",
        /// A chosen subset of the member communes.
        Subset = "SUBSET",
        /// The one commune concerned (L5211-57).
        SingleCommune = "SINGLE_COMMUNE",
        /// Every current commune of France (a national consultation; administrators only).
        AllCommunes = "ALL_COMMUNES",
    }
);

str_enum!(
    /// Opinion of a municipal council (avis).
    Opinion {
        /// Avis favorable.
        Favourable = "FAVOURABLE",
        /// Avis favorable avec réserves.
        FavourableWithReservations = "FAVOURABLE_WITH_RESERVATIONS",
        /// Avis défavorable.
        Unfavourable = "UNFAVOURABLE",
        /// Abstention.
        Abstention = "ABSTENTION",
    }
);

str_enum!(
    /// Where a commune's response stands. After the deadline an unsubmitted response is
    /// DEEMED_FAVOURABLE or NO_RESPONSE according to the procedure.
    ResponseStatus {
        /// Nothing saved yet.
        Pending = "PENDING",
        /// Brouillon: saved, not submitted; it counts as not answered.
        Draft = "DRAFT",
        /// Transmise: submitted by the mayor or a holder of their signature delegation.
        Submitted = "SUBMITTED",
        /// Avis réputé favorable: silence at the deadline.
        DeemedFavourable = "DEEMED_FAVOURABLE",
        /// Pas de réponse à l'échéance.
        NoResponse = "NO_RESPONSE",
    }
);

impl ResponseStatus {
    /// The status as queries show it: past the deadline, an unsubmitted response takes
    /// the meaning of silence.
    pub fn effective(self, deadline_passed: bool, silence: Silence) -> Self {
        match self {
            ResponseStatus::Pending | ResponseStatus::Draft if deadline_passed => match silence {
                Silence::DeemedFavourable => ResponseStatus::DeemedFavourable,
                Silence::NoResponse => ResponseStatus::NoResponse,
            },
            s => s,
        }
    }
    pub fn answered(self) -> bool {
        self == ResponseStatus::Submitted
    }
}

str_enum!(
    /// A line of an outcome: a submitted opinion, a silence, or not yet answered.
    Position {
        /// Avis favorable.
        Favourable = "FAVOURABLE",
        /// Avis favorable avec réserves.
        FavourableWithReservations = "FAVOURABLE_WITH_RESERVATIONS",
        /// Avis défavorable.
        Unfavourable = "UNFAVOURABLE",
        /// Abstention.
        Abstention = "ABSTENTION",
        /// Answered (a data collection: no opinion).
        Answered = "ANSWERED",
        /// Avis réputé favorable (silence).
        DeemedFavourable = "DEEMED_FAVOURABLE",
        /// No response at the deadline.
        NoResponse = "NO_RESPONSE",
        /// Not answered yet (the referral is open).
        Pending = "PENDING",
    }
);

impl Position {
    pub fn of(status: ResponseStatus, opinion: Option<Opinion>) -> Position {
        match (status, opinion) {
            (ResponseStatus::Submitted, Some(Opinion::Favourable)) => Position::Favourable,
            (ResponseStatus::Submitted, Some(Opinion::FavourableWithReservations)) => {
                Position::FavourableWithReservations
            }
            (ResponseStatus::Submitted, Some(Opinion::Unfavourable)) => Position::Unfavourable,
            (ResponseStatus::Submitted, Some(Opinion::Abstention)) => Position::Abstention,
            (ResponseStatus::Submitted, None) => Position::Answered,
            (ResponseStatus::DeemedFavourable, _) => Position::DeemedFavourable,
            (ResponseStatus::NoResponse, _) => Position::NoResponse,
            (ResponseStatus::Pending | ResponseStatus::Draft, _) => Position::Pending,
        }
    }
    /// Counts as a favourable council in a qualified majority.
    pub fn favourable(self) -> bool {
        matches!(self, Position::Favourable | Position::FavourableWithReservations | Position::DeemedFavourable)
    }
}

/// A procedure's defaults.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Defaults {
    /// None: set per referral (free consultation, data collection).
    pub months: Option<u32>,
    pub clock: ClockStart,
    /// None: set per referral.
    pub silence: Option<Silence>,
    pub decision: Decision,
    pub legal_basis: &'static str,
}

impl Procedure {
    pub fn defaults(self) -> Defaults {
        use Procedure::*;
        let d =
            |months, clock, silence, decision, legal_basis| Defaults { months, clock, silence, decision, legal_basis };
        match self {
            TransferOfCompetence => d(
                Some(3),
                ClockStart::Notification,
                Some(Silence::DeemedFavourable),
                Decision::QualifiedMajorityWithMostPopulous,
                "CGCT L5211-17",
            ),
            Statutes => d(
                Some(3),
                ClockStart::Notification,
                Some(Silence::DeemedFavourable),
                Decision::QualifiedMajorityWithMostPopulous,
                "CGCT L5211-20",
            ),
            SingleCommune => d(
                Some(3),
                ClockStart::Transmission,
                Some(Silence::DeemedFavourable),
                Decision::SingleCommune,
                "CGCT L5211-57",
            ),
            Plui => d(
                Some(3),
                ClockStart::DraftAdopted,
                Some(Silence::DeemedFavourable),
                Decision::CouncilDeliberatesAgain,
                "Code de l'urbanisme R153-5",
            ),
            GovernancePact => d(
                Some(2),
                ClockStart::Transmission,
                Some(Silence::NoResponse),
                Decision::CouncilMayAdopt,
                "CGCT L5211-11-2",
            ),
            ClectReport => d(
                Some(3),
                ClockStart::Transmission,
                Some(Silence::NoResponse),
                Decision::QualifiedMajority,
                "CGI 1609 nonies C IV",
            ),
            FreeConsultation => d(None, ClockStart::Opening, None, Decision::Counts, "consultation libre"),
            DataCollection => d(None, ClockStart::Opening, Some(Silence::NoResponse), Decision::Dataset, "recensement"),
        }
    }
}

/// `start` plus `months`: the same day number, clamped to the last day of the target
/// month (31 January + 1 month = 28 or 29 February).
pub fn add_months(start: NaiveDate, months: u32) -> Option<NaiveDate> {
    let total = start.year() * 12 + start.month0() as i32 + months as i32;
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
    let last = last_day(y, m)?;
    NaiveDate::from_ymd_opt(y, m, start.day().min(last))
}

fn last_day(y: i32, m: u32) -> Option<u32> {
    let next = if m == 12 { NaiveDate::from_ymd_opt(y + 1, 1, 1) } else { NaiveDate::from_ymd_opt(y, m + 1, 1) }?;
    Some(next.pred_opt()?.day())
}

/// The deadline of a referral whose clock starts on `start` (a Paris date): `start` +
/// `months`, clamped, at 23:59:59 Europe/Paris, as an instant.
pub fn deadline(start: NaiveDate, months: u32) -> Option<DateTime<Utc>> {
    let day = add_months(start, months)?;
    let t = day.and_time(NaiveTime::from_hms_opt(23, 59, 59)?);
    // 23:59:59 exists once on every day in Paris (clocks change at 02:00 / 03:00).
    Paris.from_local_datetime(&t).single().map(|d| d.with_timezone(&Utc))
}

/// One addressee's weight in a qualified majority: its frozen population and whether
/// its (effective) opinion is favourable (favourable, with reservations, or deemed so).
#[derive(Copy, Clone, Debug)]
pub struct Council {
    pub population: i64,
    pub favourable: bool,
}

str_enum!(
    /// The branch of L5211-5 II that decided.
    Branch {
        /// Deux tiers au moins des conseils municipaux représentant plus de la moitié de la population.
        TwoThirdsOfCouncils = "TWO_THIRDS_OF_COUNCILS",
        /// La moitié au moins des conseils représentant les deux tiers de la population.
        TwoThirdsOfPopulation = "TWO_THIRDS_OF_POPULATION",
    }
);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QualifiedOutcome {
    pub reached: bool,
    /// The first branch that holds (None when neither does).
    pub branch: Option<Branch>,
    pub councils: i64,
    pub favourable_councils: i64,
    pub population: i64,
    pub favourable_population: i64,
    /// When the most-populous condition applies and fails: that commune said no.
    pub most_populous_refused: bool,
}

/// L5211-5 II: two thirds at least of the councils representing more than half of the
/// population, or half at least of the councils representing two thirds of the population
/// (`strict_second`: "more than two thirds"; the law's wording is unconfirmed, so it is
/// a parameter). With `most_populous`, the most populous commune must be favourable when
/// it holds more than a quarter of the population. Integer arithmetic: no rounding.
pub fn qualified_majority(councils: &[Council], strict_second: bool, most_populous: bool) -> QualifiedOutcome {
    let totals = councils.iter().fold(Totals::default(), |t, c| t.add(1, c.population, c.favourable));
    let biggest = councils.iter().max_by_key(|c| c.population).copied();
    qualified_majority_of(totals, biggest, strict_second, most_populous)
}

/// The sums a qualified majority needs, however they were counted (in SQL for 35,000
/// councils).
#[derive(Copy, Clone, Debug, Default)]
pub struct Totals {
    pub councils: i64,
    pub favourable_councils: i64,
    pub population: i64,
    pub favourable_population: i64,
}

impl Totals {
    /// These totals with `councils` more councils of `population` inhabitants in all.
    fn add(self, councils: i64, population: i64, favourable: bool) -> Self {
        let (fav_councils, fav_population) = if favourable { (councils, population) } else { (0, 0) };
        Totals {
            councils: self.councils + councils,
            favourable_councils: self.favourable_councils + fav_councils,
            population: self.population + population,
            favourable_population: self.favourable_population + fav_population,
        }
    }
}

/// L5211-5 II from the totals and the most populous council (see `qualified_majority`).
pub fn qualified_majority_of(
    t: Totals,
    biggest: Option<Council>,
    strict_second: bool,
    most_populous: bool,
) -> QualifiedOutcome {
    let (n, fav_n, pop, fav_pop) = (t.councils, t.favourable_councils, t.population, t.favourable_population);
    let first = n > 0 && 3 * fav_n >= 2 * n && 2 * fav_pop > pop;
    let second_pop = if strict_second { 3 * fav_pop > 2 * pop } else { 3 * fav_pop >= 2 * pop };
    let second = n > 0 && 2 * fav_n >= n && second_pop;
    let branch = if first {
        Some(Branch::TwoThirdsOfCouncils)
    } else if second {
        Some(Branch::TwoThirdsOfPopulation)
    } else {
        None
    };
    let most_populous_refused = most_populous && biggest.is_some_and(|b| 4 * b.population > pop && !b.favourable);
    QualifiedOutcome {
        reached: branch.is_some() && !most_populous_refused,
        branch,
        councils: n,
        favourable_councils: fav_n,
        population: pop,
        favourable_population: fav_pop,
        most_populous_refused,
    }
}

impl Procedure {
    /// Procedures answered by a deliberation of the municipal council: the response
    /// carries the deliberation's number and date.
    pub fn needs_deliberation(self) -> bool {
        !matches!(self, Procedure::FreeConsultation | Procedure::DataCollection)
    }
    /// The kind of referral the procedure belongs to.
    pub fn kind(self) -> ReferralKind {
        if self == Procedure::DataCollection {
            ReferralKind::DataCollection
        } else {
            ReferralKind::Opinion
        }
    }
}

str_enum!(
    /// What the outcome means for what comes next.
    Verdict {
        /// Still open: the figures are provisional.
        Provisional = "PROVISIONAL",
        /// The qualified majority is reached.
        MajorityReached = "MAJORITY_REACHED",
        /// The qualified majority is not reached.
        MajorityNotReached = "MAJORITY_NOT_REACHED",
        /// CLECT report without the qualified majority: the prefect fixes the transferred costs.
        PrefectFixesCosts = "PREFECT_FIXES_COSTS",
        /// The commune's opinion is favourable (or deemed so).
        FavourableOpinion = "FAVOURABLE_OPINION",
        /// L5211-57, unfavourable: the council decides by two thirds of its members.
        CouncilTwoThirdsRequired = "COUNCIL_TWO_THIRDS_REQUIRED",
        /// PLUi with unfavourable opinions: the council deliberates again.
        CouncilDeliberatesAgain = "COUNCIL_DELIBERATES_AGAIN",
        /// Pacte de gouvernance: the council may adopt, the period having passed.
        CouncilMayAdopt = "COUNCIL_MAY_ADOPT",
        /// Counts only: the opinions inform the decision.
        Informative = "INFORMATIVE",
        /// A data collection: the answers form a dataset.
        DatasetComplete = "DATASET_COMPLETE",
    }
);

/// One addressee as the outcome sees it.
#[derive(Copy, Clone, Debug)]
pub struct Standing {
    pub population: i64,
    pub position: Position,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PositionCount {
    pub position: Position,
    pub communes: i64,
    pub population: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub final_: bool,
    pub communes: i64,
    pub population: i64,
    /// Every position, in declaration order, zeros included.
    pub counts: Vec<PositionCount>,
    pub qualified: Option<QualifiedOutcome>,
    pub verdict: Verdict,
    pub message: String,
}

/// The outcome of a referral of `procedure` from its addressees counted by position
/// (several lines of one position add up) and its most populous addressee. `final_`: the deadline has
/// passed (silence has its meaning). `deadline_day` names the date in messages.
pub fn outcome(
    procedure: Procedure,
    decision: Decision,
    strict_second: bool,
    counts: &[PositionCount],
    biggest: Option<Standing>,
    final_: bool,
    deadline_day: &str,
) -> Outcome {
    let counts: Vec<PositionCount> = Position::ALL
        .iter()
        .map(|&position| {
            let of = counts.iter().filter(|c| c.position == position);
            PositionCount {
                position,
                communes: of.clone().map(|c| c.communes).sum(),
                population: of.map(|c| c.population).sum(),
            }
        })
        .collect();
    let population = counts.iter().map(|c| c.population).sum();
    let qualified = decision.qualified().then(|| {
        let totals =
            counts.iter().fold(Totals::default(), |t, c| t.add(c.communes, c.population, c.position.favourable()));
        let biggest = biggest.map(|b| Council { population: b.population, favourable: b.position.favourable() });
        qualified_majority_of(totals, biggest, strict_second, decision == Decision::QualifiedMajorityWithMostPopulous)
    });
    let communes = counts.iter().map(|c| c.communes).sum();
    let unfavourable = counts.iter().filter(|c| c.position == Position::Unfavourable).map(|c| c.communes).sum::<i64>();
    let (verdict, message) = match (decision, qualified.as_ref()) {
        _ if !final_ => (
            Verdict::Provisional,
            format!("open until {deadline_day} at 23:59:59 (Paris): the figures are provisional"),
        ),
        (_, Some(q)) if q.reached => (Verdict::MajorityReached, branch_message(q)),
        (_, Some(q)) if procedure == Procedure::ClectReport => (
            Verdict::PrefectFixesCosts,
            format!("qualified majority not reached ({}); the prefect fixes the transferred costs", figures(q)),
        ),
        (_, Some(q)) if q.most_populous_refused => (
            Verdict::MajorityNotReached,
            "the most populous commune, holding more than a quarter of the population, is unfavourable".into(),
        ),
        (_, Some(q)) => (Verdict::MajorityNotReached, format!("qualified majority not reached ({})", figures(q))),
        // `qualified` is computed for exactly these two decisions.
        (Decision::QualifiedMajority | Decision::QualifiedMajorityWithMostPopulous, None) => {
            (Verdict::MajorityNotReached, "qualified majority not computed".into())
        }
        (Decision::SingleCommune, _) if unfavourable > 0 => (
            Verdict::CouncilTwoThirdsRequired,
            "the commune is unfavourable: the council decides by two thirds of its members (L5211-57)".into(),
        ),
        (Decision::SingleCommune, _) => (Verdict::FavourableOpinion, "the commune's opinion is favourable".into()),
        (Decision::CouncilDeliberatesAgain, _) if unfavourable > 0 => (
            Verdict::CouncilDeliberatesAgain,
            format!("{unfavourable} unfavourable opinion(s): the council deliberates again on the draft"),
        ),
        (Decision::CouncilDeliberatesAgain, _) => (Verdict::FavourableOpinion, "no unfavourable opinion".into()),
        (Decision::CouncilMayAdopt, _) => (
            Verdict::CouncilMayAdopt,
            format!("the period ended on {deadline_day}: the council may adopt the pact (L5211-11-2)"),
        ),
        (Decision::Counts, _) => (Verdict::Informative, "the opinions inform the decision".into()),
        (Decision::Dataset, _) => (Verdict::DatasetComplete, "the answers form the dataset".into()),
    };
    Outcome { final_, communes, population, counts, qualified, verdict, message }
}

fn figures(q: &QualifiedOutcome) -> String {
    format!(
        "{} of {} councils, {} of {} inhabitants",
        q.favourable_councils, q.councils, q.favourable_population, q.population
    )
}

fn branch_message(q: &QualifiedOutcome) -> String {
    let branch = match q.branch {
        Some(Branch::TwoThirdsOfCouncils) => "two thirds of the councils with more than half of the population",
        _ => "half of the councils with two thirds of the population",
    };
    format!("qualified majority reached: {branch} ({})", figures(q))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn months_clamp_to_the_month_end() {
        assert_eq!(add_months(day("2026-01-31"), 1), Some(day("2026-02-28")));
        assert_eq!(add_months(day("2028-01-31"), 1), Some(day("2028-02-29")));
        assert_eq!(add_months(day("2026-11-30"), 3), Some(day("2027-02-28")));
        assert_eq!(add_months(day("2026-11-30"), 2), Some(day("2027-01-30")));
        assert_eq!(add_months(day("2026-03-31"), 3), Some(day("2026-06-30")));
        assert_eq!(add_months(day("2026-12-15"), 1), Some(day("2027-01-15")));
    }

    #[test]
    fn deadlines_end_at_23_59_59_in_paris_across_clock_changes() {
        // Opened 31 January 2026 for 3 months: 30 April 2026 (summer time, UTC+2).
        let d = deadline(day("2026-01-31"), 3).unwrap();
        assert_eq!(d.to_rfc3339(), "2026-04-30T21:59:59+00:00");
        // Opened 30 November 2026 for 3 months: 28 February 2027 (winter time, UTC+1).
        let d = deadline(day("2026-11-30"), 3).unwrap();
        assert_eq!(d.to_rfc3339(), "2027-02-28T22:59:59+00:00");
        // Opened 29 August 2026 for 2 months: 29 October 2026, after the autumn change.
        assert_eq!(deadline(day("2026-08-29"), 2).unwrap().to_rfc3339(), "2026-10-29T22:59:59+00:00");
    }

    #[test]
    fn silence_per_procedure() {
        use Procedure::*;
        for p in [TransferOfCompetence, Statutes, SingleCommune, Plui] {
            assert_eq!(p.defaults().silence, Some(Silence::DeemedFavourable), "{p:?}");
        }
        for p in [GovernancePact, ClectReport, DataCollection] {
            assert_eq!(p.defaults().silence, Some(Silence::NoResponse), "{p:?}");
        }
        assert_eq!(FreeConsultation.defaults().silence, None);
        assert_eq!(GovernancePact.defaults().months, Some(2));
    }

    fn councils(spec: &[(i64, bool)]) -> Vec<Council> {
        spec.iter().map(|&(population, favourable)| Council { population, favourable }).collect()
    }

    #[test]
    fn qualified_majority_at_its_edges() {
        // 92 councils of 100 inhabitants each: 62 is two thirds (3 × 62 ≥ 2 × 92), 61 is not.
        let mut v: Vec<(i64, bool)> = (0..92).map(|i| (100, i < 62)).collect();
        let o = qualified_majority(&councils(&v), false, false);
        assert_eq!((o.reached, o.branch), (true, Some(Branch::TwoThirdsOfCouncils)));
        v[61].1 = false;
        let o = qualified_majority(&councils(&v), false, false);
        assert!(!o.reached, "{o:?}");
        // Exactly half the population is not "more than half".
        let half = councils(&[(50, true), (25, true), (25, false)]);
        let o = qualified_majority(&half, false, false);
        assert_eq!(o.branch, Some(Branch::TwoThirdsOfCouncils));
        let exactly_half = councils(&[(25, true), (25, true), (50, false)]);
        assert!(!qualified_majority(&exactly_half, false, false).reached);
        // The second branch at exactly two thirds of the population: ≥ by default, > if strict.
        let two_thirds = councils(&[(200, true), (50, false), (50, false), (0, true)]);
        let o = qualified_majority(&two_thirds, false, false);
        assert_eq!((o.reached, o.branch), (true, Some(Branch::TwoThirdsOfPopulation)));
        assert!(!qualified_majority(&two_thirds, true, false).reached);
    }

    #[test]
    fn the_most_populous_commune_over_a_quarter_must_agree() {
        // Like Marseille in AMP (about 46%): everyone else agrees, it does not.
        let mut v: Vec<(i64, bool)> = (0..91).map(|_| (11_000, true)).collect();
        v.push((870_000, false));
        let o = qualified_majority(&councils(&v), false, true);
        assert_eq!(o.branch, Some(Branch::TwoThirdsOfCouncils), "the branches hold: {o:?}");
        assert!(o.most_populous_refused);
        assert!(!o.reached);
        // Without the condition (CLECT report) only the branches count.
        let o = qualified_majority(&councils(&v), false, false);
        assert!(!o.most_populous_refused);
        // The most populous under a quarter: no condition.
        let small = councils(&[(24, false), (26, true), (25, true), (25, true)]);
        let o = qualified_majority(&small, false, true);
        assert!(!o.most_populous_refused);
    }
    /// The AMP communes with the population the referral freezes (communes.json).
    fn amp() -> Vec<(String, i64)> {
        let v: serde_json::Value = serde_json::from_str(include_str!("../../data/demo/amp.json")).unwrap();
        v["communes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["code"].as_str().unwrap().to_string(), c["population"].as_i64().unwrap()))
            .collect()
    }

    fn amp_with(favourable: &dyn Fn(&str, usize) -> bool) -> Vec<Council> {
        let mut by_size = amp();
        by_size.sort_by_key(|c| c.1);
        by_size
            .iter()
            .enumerate()
            .map(|(rank, (code, population))| Council { population: *population, favourable: favourable(code, rank) })
            .collect()
    }

    const MARSEILLE: &str = "13055";

    #[test]
    fn qualified_majority_with_the_real_amp_populations() {
        let total: i64 = amp().iter().map(|c| c.1).sum();
        assert_eq!((amp().len(), total), (92, 1_939_077));
        // Exactly 62 councils: Marseille and the 61 smallest communes (60.6% of the people).
        let o = qualified_majority(&amp_with(&|c, rank| c == MARSEILLE || rank < 61), false, false);
        assert_eq!((o.favourable_councils, o.reached, o.branch), (62, true, Some(Branch::TwoThirdsOfCouncils)));
        // 61 councils (60.1%): not two thirds of the councils, not two thirds of the people.
        let o = qualified_majority(&amp_with(&|c, rank| c == MARSEILLE || rank < 60), false, false);
        assert_eq!((o.favourable_councils, o.reached), (61, false), "{o:?}");

        // Exactly half the population. 1,939,077 is odd: these 64 councils hold 969,538
        // inhabitants (2 × 969,538 = total − 1, not more than half), those 64 hold 969,539.
        const HALF_DOWN_OUT: [&str; 27] = [
            "13003", "13008", "13009", "13013", "13020", "13023", "13024", "13025", "13029", "13031", "13048", "13049",
            "13059", "13062", "13072", "13074", "13079", "13082", "13084", "13087", "13088", "13095", "13099", "13101",
            "13109", "13111", "13118",
        ];
        const HALF_UP_OUT: [&str; 27] = [
            "13003", "13012", "13013", "13020", "13023", "13024", "13025", "13029", "13031", "13046", "13048", "13049",
            "13059", "13072", "13074", "13082", "13084", "13087", "13088", "13090", "13095", "13099", "13101", "13109",
            "13111", "13115", "13118",
        ];
        let o = qualified_majority(&amp_with(&|c, _| c != MARSEILLE && !HALF_DOWN_OUT.contains(&c)), false, false);
        assert_eq!((o.favourable_councils, 2 * o.favourable_population), (64, total - 1));
        assert!(!o.reached, "half the population is not more than half: {o:?}");
        let o = qualified_majority(&amp_with(&|c, _| c != MARSEILLE && !HALF_UP_OUT.contains(&c)), false, false);
        assert_eq!((o.favourable_councils, 2 * o.favourable_population), (64, total + 1));
        assert_eq!((o.reached, o.branch), (true, Some(Branch::TwoThirdsOfCouncils)));

        // The second branch at exactly two thirds: Marseille and these 46 communes hold
        // 1,292,718 inhabitants, 2/3 of the total to the inhabitant; 47 councils (≥ 46).
        const TWO_THIRDS: [&str; 46] = [
            "13002", "13003", "13005", "13007", "13012", "13013", "13016", "13020", "13021", "13024", "13025", "13026",
            "13029", "13030", "13031", "13035", "13040", "13042", "13043", "13047", "13051", "13053", "13059", "13060",
            "13063", "13069", "13070", "13072", "13073", "13075", "13079", "13081", "13085", "13086", "13088", "13092",
            "13095", "13098", "13099", "13101", "13102", "13104", "13106", "13110", "13111", "13114",
        ];
        let two_thirds = amp_with(&|c, _| c == MARSEILLE || TWO_THIRDS.contains(&c));
        let o = qualified_majority(&two_thirds, false, false);
        assert_eq!((o.favourable_councils, 3 * o.favourable_population), (47, 2 * total));
        assert_eq!((o.reached, o.branch), (true, Some(Branch::TwoThirdsOfPopulation)));
        assert!(!qualified_majority(&two_thirds, true, false).reached, "strict: more than two thirds");

        // The most populous commune (Marseille, 45.7% > 25%) refuses, all others agree:
        // both branches hold (91 councils, 54.3%), the transfer fails, a CLECT report passes.
        let without_marseille = amp_with(&|c, _| c != MARSEILLE);
        let o = qualified_majority(&without_marseille, false, true);
        assert_eq!((o.branch, o.most_populous_refused, o.reached), (Some(Branch::TwoThirdsOfCouncils), true, false));
        assert!(qualified_majority(&without_marseille, false, false).reached);
    }

    /// Counts and the most populous of individual standings.
    fn tally(standings: &[Standing]) -> (Vec<PositionCount>, Option<Standing>) {
        let counts = standings
            .iter()
            .map(|s| PositionCount { position: s.position, communes: 1, population: s.population })
            .collect();
        (counts, standings.iter().max_by_key(|s| s.population).copied())
    }

    fn outcome_of(p: Procedure, d: Decision, standings: &[Standing], final_: bool, day: &str) -> Outcome {
        let (counts, biggest) = tally(standings);
        outcome(p, d, false, &counts, biggest, final_, day)
    }

    #[test]
    fn outcomes_say_what_follows() {
        let s = |position| Standing { population: 100, position };
        let one = |p, d, position, day| outcome_of(p, d, &[s(position)], true, day);
        let o = one(Procedure::SingleCommune, Decision::SingleCommune, Position::Unfavourable, "2027-02-28");
        assert_eq!(o.verdict, Verdict::CouncilTwoThirdsRequired);
        let o = one(Procedure::SingleCommune, Decision::SingleCommune, Position::DeemedFavourable, "2027-02-28");
        assert_eq!(o.verdict, Verdict::FavourableOpinion);
        let o = one(Procedure::GovernancePact, Decision::CouncilMayAdopt, Position::NoResponse, "2027-01-23");
        assert_eq!(o.verdict, Verdict::CouncilMayAdopt);
        assert!(o.message.contains("2027-01-23"), "{}", o.message);
        let split = [s(Position::NoResponse), s(Position::Favourable)];
        let o = outcome_of(Procedure::ClectReport, Decision::QualifiedMajority, &split, true, "d");
        assert_eq!(o.verdict, Verdict::PrefectFixesCosts);
        // A free consultation decided by qualified majority has no prefect to call.
        let o = outcome_of(Procedure::FreeConsultation, Decision::QualifiedMajority, &split, true, "d");
        assert_eq!(o.verdict, Verdict::MajorityNotReached);
        let o = outcome_of(Procedure::ClectReport, Decision::QualifiedMajority, &[s(Position::Pending)], false, "d");
        assert_eq!(o.verdict, Verdict::Provisional);
        let n = |p| o.counts.iter().find(|c| c.position == p).unwrap().communes;
        assert_eq!((n(Position::Pending), n(Position::Favourable)), (1, 0));
    }

    #[test]
    fn a_deadline_passes_at_midnight() {
        let d = deadline(day("2026-11-30"), 3).unwrap();
        assert!(!passed(d, d));
        assert!(!passed(d, d + chrono::Duration::milliseconds(999)));
        assert!(passed(d, d + chrono::Duration::seconds(1)));
        assert_eq!(ReferralStatus::Open.effective(Some(d), d), ReferralStatus::Open);
        assert_eq!(ReferralStatus::Open.effective(Some(d), d + chrono::Duration::seconds(1)), ReferralStatus::Closed);
        assert_eq!(ResponseStatus::Draft.effective(true, Silence::DeemedFavourable), ResponseStatus::DeemedFavourable);
        assert_eq!(ResponseStatus::Pending.effective(true, Silence::NoResponse), ResponseStatus::NoResponse);
        assert_eq!(ResponseStatus::Submitted.effective(true, Silence::NoResponse), ResponseStatus::Submitted);
    }
}
