//! The rules of referrals, as pure functions: each procedure's defaults (duration, the
//! event its clock starts from, what silence means, how it is decided), the deadline
//! (month arithmetic clamped to the month's end, at 23:59:59 Europe/Paris) and the
//! qualified majority of CGCT L5211-5 II.
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;

/// The legal procedure of a referral.
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Procedure {
    /// Transfert de compétence (CGCT L5211-17).
    TransferOfCompetence,
    /// Modification des statuts (L5211-20).
    Statutes,
    /// Décision ne concernant qu'une commune (L5211-57).
    SingleCommune,
    /// Projet de PLUi arrêté (Code de l'urbanisme R153-5).
    Plui,
    /// Pacte de gouvernance (L5211-11-2).
    GovernancePact,
    /// Rapport de la CLECT (CGI 1609 nonies C IV).
    ClectReport,
    /// Consultation libre pour avis.
    FreeConsultation,
    /// Recensement / collecte de données.
    DataCollection,
}

/// The event a procedure's clock starts from.
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ClockStart {
    /// Notification to the mayor.
    Notification,
    /// Transmission of the draft or report.
    Transmission,
    /// Arrêt du projet (PLUi).
    DraftAdopted,
    /// Opening of the referral.
    Opening,
}

/// What a commune's silence at the deadline means.
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Silence {
    /// Avis réputé favorable.
    DeemedFavourable,
    /// No response: nothing is inferred.
    NoResponse,
}

/// How the outcome is decided.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// L5211-5 II; `most_populous`: the most populous commune must agree when it holds
    /// more than a quarter of the population (L5211-17, L5211-20).
    QualifiedMajority { most_populous: bool },
    /// Unfavourable: the EPCI council must then decide by 2/3 of its members (L5211-57).
    SingleCommune,
    /// The council deliberates again on an unfavourable opinion (PLUi).
    CouncilDeliberatesAgain,
    /// The council may adopt once the period has passed (pacte de gouvernance).
    CouncilMayAdopt,
    /// Counts and weighted shares only.
    Counts,
    /// No vote: a consolidated dataset.
    Dataset,
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
                Decision::QualifiedMajority { most_populous: true },
                "CGCT L5211-17",
            ),
            Statutes => d(
                Some(3),
                ClockStart::Notification,
                Some(Silence::DeemedFavourable),
                Decision::QualifiedMajority { most_populous: true },
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
                Decision::QualifiedMajority { most_populous: false },
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

/// The branch of L5211-5 II that decided.
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Branch {
    /// Two thirds at least of the councils, more than half of the population.
    TwoThirdsOfCouncils,
    /// Half at least of the councils, two thirds of the population.
    TwoThirdsOfPopulation,
}

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
    let n = councils.len() as i64;
    let fav_n = councils.iter().filter(|c| c.favourable).count() as i64;
    let pop: i64 = councils.iter().map(|c| c.population).sum();
    let fav_pop: i64 = councils.iter().filter(|c| c.favourable).map(|c| c.population).sum();
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
    let biggest = councils.iter().max_by_key(|c| c.population);
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
}
