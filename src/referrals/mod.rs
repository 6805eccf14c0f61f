//! Referrals (saisines): consultations of the communes for an opinion, and data
//! collections. So far: the legal rules (procedures, deadlines, silence, qualified
//! majority), pure and unit-tested; storage and API come next (issue #4).
pub mod rules;
