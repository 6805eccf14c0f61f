//! Mandate rules: roles, periods and the "one current holder" constraints.
use chrono::NaiveDate;

str_enum!(
    /// The role a person holds in an organisation (Popolo "post").
    Role {
        /// Maire: one current mayor per commune.
        Mayor = "MAYOR",
        /// Adjoint au maire, usually with a delegation label.
        DeputyMayor = "DEPUTY_MAYOR",
        /// Conseiller municipal.
        MunicipalCouncillor = "MUNICIPAL_COUNCILLOR",
        /// Conseiller communautaire / métropolitain.
        CommunityCouncillor = "COMMUNITY_COUNCILLOR",
        /// Président of an intercommunality: one current president.
        President = "PRESIDENT",
        /// Vice-président, with a delegation label.
        VicePresident = "VICE_PRESIDENT",
        /// Member of a body.
        Member = "MEMBER",
        /// Suppléant.
        Substitute = "SUBSTITUTE",
        /// Directeur général des services of a commune or intercommunality.
        Dgs = "DGS",
        /// Directeur général adjoint.
        Dga = "DGA",
        /// Agent of the secretariat (e.g. DGA Concertation territoriale).
        SecretariatAgent = "SECRETARIAT_AGENT",
    }
);

impl Role {
    /// Roles held in a commune's council or administration.
    pub fn fits_commune(self) -> bool {
        matches!(self, Role::Mayor | Role::DeputyMayor | Role::MunicipalCouncillor | Role::Dgs | Role::Dga)
    }
    /// Roles held in an intercommunality.
    pub fn fits_intercommunality(self) -> bool {
        matches!(
            self,
            Role::President
                | Role::VicePresident
                | Role::CommunityCouncillor
                | Role::Member
                | Role::Substitute
                | Role::Dgs
                | Role::Dga
                | Role::SecretariatAgent
        )
    }
    /// Roles of which an organisation has at most one current holder.
    pub fn is_single_holder(self) -> bool {
        matches!(self, Role::Mayor | Role::President)
    }
    /// Roles that a commune's mayor (or DGS acting for them) may record for their commune.
    pub fn managed_by_commune(self) -> bool {
        matches!(self, Role::DeputyMayor | Role::MunicipalCouncillor | Role::Dga)
    }
}

/// A mandate's period: `start` inclusive, `end` exclusive (the day it ends the mandate
/// no longer runs), open-ended when `end` is None.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Period {
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
}

impl Period {
    pub fn new(start: NaiveDate, end: Option<NaiveDate>) -> Result<Self, String> {
        match end {
            Some(e) if e <= start => Err(format!("end date {e} must be after start date {start}")),
            _ => Ok(Period { start, end }),
        }
    }
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && self.end.is_none_or(|e| day < e)
    }
    pub fn overlaps(&self, other: &Period) -> bool {
        let a_before_b_ends = other.end.is_none_or(|e| self.start < e);
        let b_before_a_ends = self.end.is_none_or(|e| other.start < e);
        a_before_b_ends && b_before_a_ends
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn period_end_is_exclusive() {
        let p = Period::new(d("2020-07-04"), Some(d("2026-03-28"))).unwrap();
        assert!(p.contains(d("2026-03-27")));
        assert!(!p.contains(d("2026-03-28")));
        assert!(!p.contains(d("2020-07-03")));
        assert!(Period::new(d("2026-01-01"), Some(d("2026-01-01"))).is_err());
    }

    #[test]
    fn successive_mandates_do_not_overlap() {
        let outgoing = Period::new(d("2020-07-04"), Some(d("2026-03-28"))).unwrap();
        let successor = Period::new(d("2026-03-28"), None).unwrap();
        assert!(!outgoing.overlaps(&successor));
        assert!(!successor.overlaps(&outgoing));
        let early = Period::new(d("2026-03-27"), None).unwrap();
        assert!(outgoing.overlaps(&early));
        let open = Period::new(d("2014-01-01"), None).unwrap();
        assert!(open.overlaps(&successor));
    }

    #[test]
    fn roles_round_trip() {
        for &r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
