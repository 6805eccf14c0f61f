//! Bilan de la concertation: what the communes said on a policy, counted from its
//! contributions (by kind, commune, territory and section), the answers given (and the
//! acceptance rate), the communes that took part and those that never did, and the time
//! taken to answer. Pure: `service::synthesis` reads the rows, this module counts and
//! writes the CSV, the chart (SVG) and the printable page (HTML).
use std::collections::{BTreeMap, HashMap, HashSet};

use askama::Template;
use chrono::{DateTime, Utc};

use super::rules::{AnswerKind, ContributionKind, ContributionStatus};
use crate::platform::tables::{text_cell, to_csv};

/// A contribution as the synthesis counts it.
pub struct Counted {
    pub id: i32,
    pub kind: ContributionKind,
    pub commune_id: Option<i32>,
    /// The section it is on, as (section id, label, title) in the version it was made on.
    pub section: Option<(i32, String, String)>,
    pub status: ContributionStatus,
    pub answer: Option<AnswerKind>,
    pub created_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
}

/// A member commune, with its territory's name (none: outside every territory).
pub struct Member {
    pub id: i32,
    pub insee: String,
    pub name: String,
    pub territory: Option<String>,
}

pub struct Inputs {
    pub policy_title: String,
    pub intercommunality: String,
    pub version_number: Option<i32>,
    pub contributions: Vec<Counted>,
    /// (contribution, commune) of each co-signature other than the author's.
    pub cosignatures: Vec<(i32, i32)>,
    /// The intercommunality's member communes today.
    pub members: Vec<Member>,
    pub generated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Count<K> {
    pub key: K,
    pub count: usize,
}

/// Participation d'une commune: what one member commune said.
#[derive(Clone, Debug, PartialEq, async_graphql::SimpleObject)]
#[graphql(name = "CommuneParticipation", complex)]
pub struct CommuneLine {
    #[graphql(skip)]
    pub commune_id: i32,
    pub insee: String,
    pub name: String,
    pub territory: Option<String>,
    pub contributions: usize,
    pub cosignatures: usize,
    /// Its contributions answered ACCEPTED or ACCEPTED_WITH_CHANGES.
    pub accepted: usize,
}

/// Participation d'un territoire (conférence territoriale): its communes that took part.
#[derive(Clone, Debug, PartialEq, async_graphql::SimpleObject)]
#[graphql(name = "TerritoryParticipation")]
pub struct TerritoryLine {
    /// None: the communes outside every territory.
    pub name: Option<String>,
    pub communes: usize,
    /// Communes that contributed or co-signed.
    pub participating: usize,
    pub contributions: usize,
}

/// Contributions on one section (article) of the text.
#[derive(Clone, Debug, PartialEq, async_graphql::SimpleObject)]
#[graphql(name = "SectionParticipation", complex)]
pub struct SectionLine {
    #[graphql(skip)]
    pub section_id: i32,
    pub label: String,
    pub title: String,
    pub contributions: usize,
    pub amendments: usize,
    pub accepted: usize,
}

/// Délai de réponse: days from a contribution to its answer, over the answered ones.
#[derive(Clone, Debug, PartialEq, async_graphql::SimpleObject)]
pub struct AnswerTime {
    pub answered: usize,
    pub median_days: f64,
    pub mean_days: f64,
    pub max_days: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Synthesis {
    pub policy_title: String,
    pub intercommunality: String,
    pub version_number: Option<i32>,
    pub generated_at: DateTime<Utc>,
    pub contributions: usize,
    pub by_kind: Vec<Count<ContributionKind>>,
    pub open: usize,
    pub withdrawn: usize,
    pub answered: usize,
    pub answers: Vec<Count<AnswerKind>>,
    /// Accepted (with or without changes) over answered; none before any answer.
    pub acceptance_rate: Option<f64>,
    /// Every member commune, those that took part first (most contributions first).
    pub by_commune: Vec<CommuneLine>,
    pub by_territory: Vec<TerritoryLine>,
    /// Sections in text order (by label), those with contributions only.
    pub by_section: Vec<SectionLine>,
    pub participating: usize,
    pub members: usize,
    pub answer_time: Option<AnswerTime>,
}

#[async_graphql::ComplexObject]
impl CommuneLine {
    async fn commune_id(&self) -> async_graphql::ID {
        crate::ids::encode(crate::ids::Kind::Commune, self.commune_id)
    }
}

#[async_graphql::ComplexObject]
impl SectionLine {
    async fn section_id(&self) -> async_graphql::ID {
        crate::ids::encode(crate::ids::Kind::PolicySection, self.section_id)
    }
}

impl Synthesis {
    /// The communes that never contributed nor co-signed.
    pub fn silent(&self) -> impl Iterator<Item = &CommuneLine> {
        self.by_commune.iter().filter(|c| c.contributions + c.cosignatures == 0)
    }
}

fn accepted(a: Option<AnswerKind>) -> bool {
    matches!(a, Some(AnswerKind::Accepted | AnswerKind::AcceptedWithChanges))
}

/// Orders "2.10" after "2.9": labels compare number by number.
fn label_key(label: &str) -> Vec<u32> {
    label.split('.').map(|n| n.parse().unwrap_or(u32::MAX)).collect()
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub fn synthesize(i: Inputs) -> Synthesis {
    let mut by_kind: BTreeMap<&str, Count<ContributionKind>> = BTreeMap::new();
    let mut answers: BTreeMap<&str, Count<AnswerKind>> = BTreeMap::new();
    let mut lines: HashMap<i32, CommuneLine> = i
        .members
        .iter()
        .map(|m| {
            let line = CommuneLine {
                commune_id: m.id,
                insee: m.insee.clone(),
                name: m.name.clone(),
                territory: m.territory.clone(),
                contributions: 0,
                cosignatures: 0,
                accepted: 0,
            };
            (m.id, line)
        })
        .collect();
    let mut sections: HashMap<i32, SectionLine> = HashMap::new();
    let (mut open, mut withdrawn, mut answered) = (0, 0, 0);
    let mut days = Vec::new();
    for c in &i.contributions {
        by_kind.entry(c.kind.as_str()).or_insert(Count { key: c.kind, count: 0 }).count += 1;
        match c.status {
            ContributionStatus::Open => open += 1,
            ContributionStatus::Withdrawn => withdrawn += 1,
            ContributionStatus::Answered => {
                answered += 1;
                if let Some(a) = c.answer {
                    answers.entry(a.as_str()).or_insert(Count { key: a, count: 0 }).count += 1;
                }
                if let Some(at) = c.answered_at {
                    days.push((at - c.created_at).num_seconds().max(0) as f64 / 86_400.0);
                }
            }
        }
        // A commune that left the intercommunality since still shows what it said.
        if let Some(commune) = c.commune_id {
            let line = lines.entry(commune).or_insert_with(|| CommuneLine {
                commune_id: commune,
                insee: String::new(),
                name: format!("commune {commune}"),
                territory: None,
                contributions: 0,
                cosignatures: 0,
                accepted: 0,
            });
            line.contributions += 1;
            line.accepted += usize::from(accepted(c.answer));
        }
        if let Some((id, label, title)) = &c.section {
            let s = sections.entry(*id).or_insert_with(|| SectionLine {
                section_id: *id,
                label: label.clone(),
                title: title.clone(),
                contributions: 0,
                amendments: 0,
                accepted: 0,
            });
            s.contributions += 1;
            s.amendments += usize::from(c.kind == ContributionKind::Amendment);
            s.accepted += usize::from(accepted(c.answer));
        }
    }
    let counted: HashSet<i32> = i.contributions.iter().map(|c| c.id).collect();
    for (contribution, commune) in &i.cosignatures {
        if counted.contains(contribution) {
            if let Some(line) = lines.get_mut(commune) {
                line.cosignatures += 1;
            }
        }
    }
    let members: HashSet<i32> = i.members.iter().map(|m| m.id).collect();
    let mut by_territory: BTreeMap<Option<String>, TerritoryLine> = BTreeMap::new();
    for l in lines.values().filter(|l| members.contains(&l.commune_id)) {
        let t = by_territory.entry(l.territory.clone()).or_insert(TerritoryLine {
            name: l.territory.clone(),
            communes: 0,
            participating: 0,
            contributions: 0,
        });
        t.communes += 1;
        t.participating += usize::from(l.contributions + l.cosignatures > 0);
        t.contributions += l.contributions;
    }
    let mut by_commune: Vec<CommuneLine> = lines.into_values().collect();
    by_commune.sort_by(|a, b| {
        (b.contributions + b.cosignatures > 0)
            .cmp(&(a.contributions + a.cosignatures > 0))
            .then(b.contributions.cmp(&a.contributions))
            .then(a.name.cmp(&b.name))
            .then(a.commune_id.cmp(&b.commune_id))
    });
    let mut by_section: Vec<SectionLine> = sections.into_values().collect();
    by_section.sort_by(|a, b| label_key(&a.label).cmp(&label_key(&b.label)).then(a.section_id.cmp(&b.section_id)));
    let participating =
        by_commune.iter().filter(|l| members.contains(&l.commune_id) && l.contributions + l.cosignatures > 0).count();
    let accepted_n: usize = answers
        .values()
        .filter(|c| matches!(c.key, AnswerKind::Accepted | AnswerKind::AcceptedWithChanges))
        .map(|c| c.count)
        .sum();
    days.sort_by(f64::total_cmp);
    let answer_time = (!days.is_empty()).then(|| AnswerTime {
        answered: days.len(),
        median_days: round1(median(&days)),
        mean_days: round1(days.iter().sum::<f64>() / days.len() as f64),
        max_days: round1(days[days.len() - 1]),
    });
    Synthesis {
        policy_title: i.policy_title,
        intercommunality: i.intercommunality,
        version_number: i.version_number,
        generated_at: i.generated_at,
        contributions: i.contributions.len(),
        by_kind: by_kind.into_values().collect(),
        open,
        withdrawn,
        answered,
        answers: answers.into_values().collect(),
        acceptance_rate: (answered > 0).then(|| accepted_n as f64 / answered as f64),
        by_commune,
        by_territory: by_territory.into_values().collect(),
        by_section,
        participating,
        members: members.len(),
        answer_time,
    }
}

/// The synthesis as one RFC 4180 table, a row per counted thing: `part` says which
/// (TOTAL, KIND, ANSWER, TERRITORY, COMMUNE, SECTION); text cells are defused.
pub fn to_csv_table(s: &Synthesis) -> Result<Vec<u8>, csv::Error> {
    let header: Vec<String> =
        ["part", "key", "label", "territory", "communes", "participating", "contributions", "cosignatures", "accepted"]
            .map(String::from)
            .to_vec();
    let n = |x: usize| x.to_string();
    let t = |x: &str| text_cell(x);
    let mut rows = vec![vec![
        "TOTAL".into(),
        String::new(),
        t(&s.policy_title),
        String::new(),
        n(s.members),
        n(s.participating),
        n(s.contributions),
        String::new(),
        n(s.answers
            .iter()
            .filter(|c| matches!(c.key, AnswerKind::Accepted | AnswerKind::AcceptedWithChanges))
            .map(|c| c.count)
            .sum()),
    ]];
    for k in &s.by_kind {
        rows.push(vec![
            "KIND".into(),
            k.key.as_str().into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            n(k.count),
            String::new(),
            String::new(),
        ]);
    }
    for a in &s.answers {
        rows.push(vec![
            "ANSWER".into(),
            a.key.as_str().into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            n(a.count),
            String::new(),
            String::new(),
        ]);
    }
    for tl in &s.by_territory {
        let name = tl.name.as_deref().map(t).unwrap_or_default();
        rows.push(vec![
            "TERRITORY".into(),
            String::new(),
            name.clone(),
            name,
            n(tl.communes),
            n(tl.participating),
            n(tl.contributions),
            String::new(),
            String::new(),
        ]);
    }
    for c in &s.by_commune {
        let took_part = usize::from(c.contributions + c.cosignatures > 0);
        rows.push(vec![
            "COMMUNE".into(),
            t(&c.insee),
            t(&c.name),
            c.territory.as_deref().map(t).unwrap_or_default(),
            "1".into(),
            n(took_part),
            n(c.contributions),
            n(c.cosignatures),
            n(c.accepted),
        ]);
    }
    for sl in &s.by_section {
        rows.push(vec![
            "SECTION".into(),
            t(&sl.label),
            t(&sl.title),
            String::new(),
            String::new(),
            String::new(),
            n(sl.contributions),
            String::new(),
            n(sl.accepted),
        ]);
    }
    to_csv(&header, &rows)
}

/// Participation by territory as a horizontal bar chart (SVG): for each territory, the
/// share of its communes that took part, with "n / N" written beside the bar.
pub fn participation_chart(s: &Synthesis) -> String {
    use svg::node::element::{Rectangle, Text as Label, Title};
    use svg::node::Text;
    const ROW: usize = 28;
    const LEFT: usize = 220;
    const BAR: usize = 320;
    let height = 20 + ROW * s.by_territory.len().max(1);
    let mut doc = svg::Document::new()
        .set("xmlns", "http://www.w3.org/2000/svg")
        .set("viewBox", (0, 0, LEFT + BAR + 90, height))
        .set("width", LEFT + BAR + 90)
        .set("height", height)
        .set("role", "img")
        .set("font-family", "sans-serif")
        .set("font-size", 13)
        .add(Title::new("Participation des communes par territoire"));
    for (row, tl) in s.by_territory.iter().enumerate() {
        let y = 10 + row * ROW;
        let share = if tl.communes == 0 { 0.0 } else { tl.participating as f64 / tl.communes as f64 };
        let name = tl.name.clone().unwrap_or_else(|| "Hors territoire".into());
        doc = doc
            .add(Label::new("").set("x", LEFT - 8).set("y", y + 15).set("text-anchor", "end").add(Text::new(name)))
            .add(Rectangle::new().set("x", LEFT).set("y", y).set("width", BAR).set("height", 20).set("fill", "#e6e6e6"))
            .add(
                Rectangle::new()
                    .set("x", LEFT)
                    .set("y", y)
                    .set("width", (share * BAR as f64).round())
                    .set("height", 20)
                    .set("fill", "#1f5fa8"),
            )
            .add(
                Label::new("")
                    .set("x", LEFT + BAR + 8)
                    .set("y", y + 15)
                    .add(Text::new(format!("{} / {}", tl.participating, tl.communes))),
            );
    }
    doc.to_string()
}

/// The printable page (works offline: no script, no outside resource).
#[derive(Template)]
#[template(path = "policy_synthesis.html")]
struct Page<'a> {
    s: &'a Synthesis,
    chart: String,
    rate: String,
    generated: String,
    silent: Vec<&'a CommuneLine>,
}

pub fn to_html(s: &Synthesis) -> Result<String, askama::Error> {
    let rate = s.acceptance_rate.map(|r| format!("{:.0} %", r * 100.0)).unwrap_or_else(|| "—".into());
    let generated = s.generated_at.with_timezone(&chrono_tz::Europe::Paris).format("%d/%m/%Y à %H:%M").to_string();
    Page { s, chart: participation_chart(s), rate, generated, silent: s.silent().collect() }.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(days: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-05-01T10:00:00Z").unwrap().with_timezone(&Utc) + chrono::Duration::days(days)
    }

    fn inputs() -> Inputs {
        let member = |id: i32, name: &str, territory: Option<&str>| Member {
            id,
            insee: format!("130{id:02}"),
            name: name.into(),
            territory: territory.map(String::from),
        };
        let c = |id, kind, commune, section: Option<(i32, &str)>, answer: Option<AnswerKind>, answered: Option<i64>| {
            Counted {
                id,
                kind,
                commune_id: commune,
                section: section.map(|(s, l)| (s, l.to_string(), format!("Article {l}"))),
                status: if answer.is_some() { ContributionStatus::Answered } else { ContributionStatus::Open },
                answer,
                created_at: t(0),
                answered_at: answered.map(t),
            }
        };
        use AnswerKind as A;
        use ContributionKind as K;
        Inputs {
            policy_title: "=Agenda".into(),
            intercommunality: "AMP".into(),
            version_number: Some(1),
            contributions: vec![
                c(1, K::Amendment, Some(1), Some((10, "2.10")), Some(A::Accepted), Some(2)),
                c(2, K::Amendment, Some(1), Some((11, "2.9")), Some(A::Rejected), Some(4)),
                c(3, K::Comment, Some(2), None, None, None),
                c(4, K::Question, None, Some((11, "2.9")), Some(A::AcceptedWithChanges), Some(9)),
            ],
            cosignatures: vec![(1, 3), (1, 2), (99, 4)],
            members: vec![
                member(1, "Marseille", Some("Marseille Provence")),
                member(2, "Cassis", Some("Marseille Provence")),
                member(3, "Aubagne", Some("Pays d'Aubagne")),
                member(4, "Gémenos", Some("Pays d'Aubagne")),
                member(5, "Istres", None),
            ],
            generated_at: t(10),
        }
    }

    #[test]
    fn the_synthesis_counts_by_kind_commune_territory_and_section() {
        let s = synthesize(inputs());
        assert_eq!((s.contributions, s.open, s.answered, s.withdrawn), (4, 1, 3, 0));
        assert_eq!(s.acceptance_rate, Some(2.0 / 3.0));
        assert_eq!(s.answer_time, Some(AnswerTime { answered: 3, median_days: 4.0, mean_days: 5.0, max_days: 9.0 }));
        let kinds: Vec<(ContributionKind, usize)> = s.by_kind.iter().map(|c| (c.key, c.count)).collect();
        assert!(kinds.contains(&(ContributionKind::Amendment, 2)) && kinds.len() == 3);
        // Marseille, Cassis (comment + co-signature) and Aubagne (co-signature) took part;
        // the co-signature of a contribution outside the synthesis does not count.
        assert_eq!((s.participating, s.members), (3, 5));
        let names: Vec<&str> = s.silent().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Gémenos", "Istres"]);
        assert_eq!(s.by_commune[0].name, "Marseille");
        assert_eq!((s.by_commune[0].contributions, s.by_commune[0].accepted), (2, 1));
        let territories: Vec<(Option<&str>, usize, usize)> =
            s.by_territory.iter().map(|t| (t.name.as_deref(), t.communes, t.participating)).collect();
        assert_eq!(territories, [(None, 1, 0), (Some("Marseille Provence"), 2, 2), (Some("Pays d'Aubagne"), 2, 1)]);
        // Sections in text order: 2.9 before 2.10.
        let sections: Vec<(&str, usize, usize)> =
            s.by_section.iter().map(|x| (x.label.as_str(), x.contributions, x.accepted)).collect();
        assert_eq!(sections, [("2.9", 2, 1), ("2.10", 1, 1)]);
    }

    #[test]
    fn the_csv_is_rfc_4180_with_formulas_defused_and_the_page_escapes_and_draws() {
        let s = synthesize(inputs());
        let csv = String::from_utf8(to_csv_table(&s).unwrap()).unwrap();
        assert!(
            csv.starts_with("part,key,label,territory,communes,participating,contributions,cosignatures,accepted\r\n")
        );
        assert!(csv.contains("TOTAL,,'=Agenda,,5,3,4,,2\r\n"), "{csv}");
        assert!(csv.contains("TERRITORY,,Pays d'Aubagne,Pays d'Aubagne,2,1,0,,\r\n"), "{csv}");
        let mut hostile = inputs();
        hostile.policy_title = "<script>alert(1)</script>".into();
        hostile.members[0].territory = Some("</text><script>".into());
        let s = synthesize(hostile);
        let html = to_html(&s).unwrap();
        assert!(!html.contains("<script>"), "user text is escaped");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") || html.contains("&#60;script&#62;"));
        assert!(html.contains("<svg") && html.contains("1 / 1"), "the chart is inline");
        assert!(!html.contains("src=") && !html.contains("href="), "nothing to fetch: it works offline");
        assert!(html.contains("@media print"));
    }
}
