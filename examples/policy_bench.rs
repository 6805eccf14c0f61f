//! Benchmark of the policies domain (issue 15) on one database, through the real HTTP
//! server, with the response cache off:
//!
//!   cargo run --release --example policy_bench -- --database-url sqlite://bench/out/pol.db?mode=rwc
//!   cargo run --release --example policy_bench -- --database-url postgres://postgres@127.0.0.1:5432/entente_bench_pol
//!
//! (`bench/policies.sh` makes fresh databases and runs both.) The database must be empty:
//! the demo (AMP, its 92 communes, the demo accounts) is loaded into it.
//!
//! Everything is seeded through the API, as the people who may do it: the secretariat
//! invites every AMP mayor who has no account yet (`inviteAccount`), each accepts
//! (`acceptInvitation`, which signs them in); the secretariat creates AMP's six territories
//! (conseils de territoire), a policy of 200 sections (20 parts of 9 articles), publishes
//! version 1 and opens the concertation; each contribution is made by the mayor of the
//! commune it speaks for (Marseille's alternate between its mayor and its DGS), each
//! co-signature by the co-signing commune's mayor, each answer by the secretariat. The
//! plan (communes, kinds, sections, texts, co-signatures, answers) is drawn from a fixed
//! seed, so every run seeds the same data.
//!
//! Measured (each over `--runs` runs after 2 warm-up runs, one request at a time, the
//! server and this client in one process on the same cores; times are client round trips,
//! body read, JSON not parsed yet; statements are `AppState.statements` around each
//! request): the policy view at `--small` contributions and at `--contributions` (pages of
//! 100, of 500 — the most `first` allows, `Limits::max_page_size` — of 1, and every page
//! of 500 in turn), the comparison of versions 1 and 2 (about 50 sections changed, 4
//! added, 3 removed), the synthesis (GraphQL, CSV, HTML) and search (6 French queries, as
//! the secretariat and as the mayor of Cassis). A request slower than a second runs 5
//! times only. The server runs with production's settings (pool of one connection per
//! core, 1 ms DataLoader window); a second server on the same database, with the test
//! suite's 25 ms window (`wide_batches`), counts the view's statements once more without
//! the timing noise of the short window. Diagnostics: each search's SQL alone on the
//! server's pool with its plan (on SQLite in its two shapes, `search_*_sql_join` and
//! `search_*_sql_cross_join`), and on SQLite the searches again after `ANALYZE` (last,
//! as it changes plans; marked `diagnostic`).
//! Figures go to stdout (one line each, prefixed by the backend), progress to stderr.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::stream::{self, StreamExt};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BENCH_PASSWORD: &str = "entente-bench-policies-2026";
const PARTS: usize = 20;
const ARTICLES_PER_PART: usize = 9;
/// Contributions created before each round of co-signatures and answers (in parallel).
const BATCH: usize = 50;

// ---- arguments ---------------------------------------------------------------------------

struct Args {
    database_url: String,
    contributions: usize,
    small: usize,
    runs: usize,
    workers: usize,
}

fn args() -> Result<Args> {
    let mut a = Args { database_url: String::new(), contributions: 5_000, small: 10, runs: 30, workers: 4 };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| anyhow!("{k} needs a value"));
        match k.as_str() {
            "--database-url" => a.database_url = v()?,
            "--contributions" => a.contributions = v()?.parse()?,
            "--small" => a.small = v()?.parse()?,
            "--runs" => a.runs = v()?.parse()?,
            "--workers" => a.workers = v()?.parse()?,
            _ => bail!(
                "usage: policy_bench --database-url URL [--contributions 5000] [--small 10] [--runs 30] [--workers 4]"
            ),
        }
    }
    if a.database_url.is_empty() {
        bail!("--database-url is required (an empty database)");
    }
    if a.small >= a.contributions || a.runs == 0 {
        bail!("--small must be below --contributions, --runs above 0");
    }
    Ok(a)
}

// ---- HTTP --------------------------------------------------------------------------------

struct Bench {
    client: reqwest::Client,
    base: String,
    state: entente::AppState,
    backend: &'static str,
}

/// One measured request: its round trip, the SQL statements it cost, its size.
struct Shot {
    time: Duration,
    statements: u64,
    bytes: usize,
}

impl Bench {
    /// A GraphQL request; an answer with `errors` is an error. -> (shot, data).
    async fn post(&self, token: Option<&str>, query: &str, variables: Value) -> Result<(Shot, Value)> {
        let mut req =
            self.client.post(format!("{}/graphql", self.base)).json(&json!({"query": query, "variables": variables}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let before = self.state.statements.get();
        let started = Instant::now();
        let resp = req.send().await?;
        let status = resp.status();
        let raw = resp.bytes().await?;
        let time = started.elapsed();
        let statements = self.state.statements.get() - before;
        let body: Value = serde_json::from_slice(&raw)
            .with_context(|| format!("HTTP {status}: {}", String::from_utf8_lossy(&raw[..raw.len().min(500)])))?;
        if !status.is_success() || body.get("errors").is_some_and(|e| !e.is_null()) {
            let q: String = query.chars().take(120).collect();
            bail!("HTTP {status} for {q}...: {}", serde_json::to_string(&body["errors"])?);
        }
        Ok((Shot { time, statements, bytes: raw.len() }, body["data"].clone()))
    }

    async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Result<Value> {
        Ok(self.post(token, query, variables).await?.1)
    }

    /// A GET with the bearer token; must be 200. -> (shot, content type, body).
    async fn get(&self, token: &str, path: &str) -> Result<(Shot, String, String)> {
        let before = self.state.statements.get();
        let started = Instant::now();
        let resp = self.client.get(format!("{}{path}", self.base)).bearer_auth(token).send().await?;
        let status = resp.status();
        let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let raw = resp.bytes().await?;
        let time = started.elapsed();
        let statements = self.state.statements.get() - before;
        if !status.is_success() {
            bail!("GET {path}: HTTP {status}: {}", String::from_utf8_lossy(&raw[..raw.len().min(500)]));
        }
        Ok((Shot { time, statements, bytes: raw.len() }, ctype, String::from_utf8(raw.to_vec())?))
    }

    fn out(&self, line: String) {
        println!("{} {line}", self.backend);
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[{}] {}", chrono::Utc::now().format("%H:%M:%S"), msg.as_ref());
}

fn s(v: &Value) -> Result<String> {
    v.as_str().map(str::to_string).ok_or_else(|| anyhow!("not a string: {v}"))
}

// ---- figures -----------------------------------------------------------------------------

struct Series {
    ms: Vec<f64>,
    statements: Vec<u64>,
    bytes: usize,
}

/// Nearest rank.
fn pct(xs: &[f64], p: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

impl Series {
    fn new() -> Series {
        Series { ms: vec![], statements: vec![], bytes: 0 }
    }
    fn push(&mut self, shot: &Shot) {
        self.ms.push(shot.time.as_secs_f64() * 1000.0);
        self.statements.push(shot.statements);
        self.bytes = shot.bytes;
    }
    fn median(&self) -> f64 {
        pct(&self.ms, 50.0)
    }
    fn p95(&self) -> f64 {
        pct(&self.ms, 95.0)
    }
    /// "14" when every run cost the same, else each count with its runs: "12x3,14x27".
    fn statements(&self) -> String {
        let mut counts = BTreeMap::<u64, usize>::new();
        for s in &self.statements {
            *counts.entry(*s).or_default() += 1;
        }
        match counts.len() {
            0 => "-".into(),
            1 => counts.keys().next().map(u64::to_string).unwrap_or_default(),
            _ => counts.iter().map(|(s, n)| format!("{s}x{n}")).collect::<Vec<_>>().join(","),
        }
    }
    /// "runs=.. median_ms=.. p95_ms=.. min_ms=.. max_ms=.. statements=.. bytes=.." and,
    /// with a target, whether the median and p95 are under it.
    fn line(&self, target_ms: Option<f64>) -> String {
        let min = self.ms.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.ms.iter().copied().fold(0.0, f64::max);
        let mut l = format!(
            "runs={} median_ms={:.1} p95_ms={:.1} min_ms={:.1} max_ms={:.1} statements={} bytes={}",
            self.ms.len(),
            self.median(),
            self.p95(),
            min,
            max,
            self.statements(),
            self.bytes
        );
        if let Some(t) = target_ms {
            let verdict = if self.p95() < t {
                "met (p95)".to_string()
            } else if self.median() < t {
                format!("median met, p95 NOT MET (+{:.0}%)", (self.p95() / t - 1.0) * 100.0)
            } else {
                format!("NOT MET: median {:.1}x the target", self.median() / t)
            };
            l.push_str(&format!(" target<{t:.0}ms: {verdict}"));
        }
        l
    }
}

/// Runs `f` twice to warm up, then `runs` times; -> the series and what the last run said.
/// A request slower than a second is run 5 times only (the line says how many).
async fn measure<T, F, Fut>(runs: usize, mut f: F) -> Result<(Series, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(Shot, T)>>,
{
    let mut last = None;
    let mut slowest = Duration::ZERO;
    for _ in 0..2 {
        let (shot, t) = f().await?;
        slowest = slowest.max(shot.time);
        last = Some(t);
    }
    let runs = if slowest > Duration::from_secs(1) { runs.min(5) } else { runs };
    let mut series = Series::new();
    for _ in 0..runs {
        let (shot, t) = f().await?;
        series.push(&shot);
        last = Some(t);
    }
    Ok((series, last.ok_or_else(|| anyhow!("no run"))?))
}

fn vm_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn rss() -> String {
    format!("rss_mib={} peak_rss_mib={}", vm_kib("VmRSS:") / 1024, vm_kib("VmHWM:") / 1024)
}

// ---- the text ----------------------------------------------------------------------------

const PART_TITLES: [&str; PARTS] = [
    "Dispositions générales",
    "Gouvernance et association des communes",
    "Transports collectifs urbains",
    "Réseau ferroviaire et pôles d'échanges",
    "Mobilités actives : vélo et marche",
    "Voirie et partage de l'espace public",
    "Stationnement",
    "Logistique urbaine et livraisons",
    "Qualité de l'air et lutte contre le bruit",
    "Accessibilité des personnes à mobilité réduite",
    "Desserte des zones d'activités",
    "Territoires ruraux et périurbains",
    "Mobilité scolaire et étudiante",
    "Tarification et billettique",
    "Covoiturage et autopartage",
    "Transition énergétique des flottes",
    "Sécurité routière",
    "Tourisme et desserte du littoral",
    "Financement et programmation pluriannuelle",
    "Suivi, évaluation et révision du plan",
];

const SUBJECTS: [&str; 10] = [
    "La Métropole",
    "L'autorité organisatrice des mobilités",
    "Chaque conseil de territoire",
    "Les communes membres",
    "Le comité des partenaires",
    "La régie des transports métropolitains",
    "Les services de la Métropole",
    "Le syndicat mixte des transports",
    "La conférence métropolitaine des maires",
    "La direction de la mobilité",
];
const VERBS: [&str; 10] = [
    "développe",
    "renforce",
    "coordonne",
    "finance",
    "étudie",
    "met en œuvre",
    "accompagne",
    "programme",
    "évalue chaque année",
    "améliore",
];
const OBJECTS: [&str; 24] = [
    "le réseau de transports collectifs",
    "les pistes cyclables sécurisées",
    "les pôles d'échanges multimodaux",
    "la desserte des zones d'activités",
    "le covoiturage domicile-travail",
    "les parcs relais",
    "la billettique unique",
    "les lignes de car express",
    "la navette maritime",
    "les cheminements piétons",
    "les aires de livraison",
    "les bornes de recharge électrique",
    "le stationnement résidentiel",
    "la desserte des écoles et des collèges",
    "la ligne ferroviaire Aix-Marseille",
    "le tramway",
    "les bus à haut niveau de service",
    "les voies réservées sur autoroute",
    "le transport à la demande",
    "les zones à faibles émissions",
    "la sécurité des traversées piétonnes",
    "l'information des voyageurs",
    "les abris vélos sécurisés",
    "l'accessibilité des arrêts de bus",
];
const PLACES: [&str; 12] = [
    "autour de l'étang de Berre",
    "sur le littoral",
    "dans la vallée de l'Huveaune",
    "sur le plateau de l'Arbois",
    "vers la zone industrialo-portuaire de Fos",
    "dans le pays d'Aix",
    "autour de la gare Saint-Charles",
    "entre Aubagne et La Ciotat",
    "dans les villages du nord du territoire",
    "vers l'aéroport Marseille-Provence",
    "dans les quartiers prioritaires",
    "entre Salon-de-Provence et Istres",
];
const TIMES: [&str; 6] = [
    "d'ici 2030",
    "dès 2027",
    "dans un délai de trois ans",
    "au cours du mandat",
    "par tranches annuelles",
    "avant 2035",
];
const PURPOSES: [&str; 10] = [
    "afin de réduire la congestion aux heures de pointe",
    "pour améliorer la qualité de l'air",
    "afin de garantir l'égalité d'accès des habitants aux services",
    "pour limiter l'usage de la voiture individuelle",
    "en cohérence avec le schéma de cohérence territoriale",
    "afin de relier les bassins d'emploi",
    "pour tenir compte des contraintes budgétaires des communes",
    "en concertation avec les communes concernées",
    "afin de sécuriser les déplacements des enfants",
    "pour respecter les objectifs de la loi d'orientation des mobilités",
];

fn pick<'a>(rng: &mut StdRng, xs: &[&'a str]) -> &'a str {
    xs[rng.gen_range(0..xs.len())]
}

fn sentence(rng: &mut StdRng) -> String {
    format!(
        "{} {} {} {} {}, {}.",
        pick(rng, &SUBJECTS),
        pick(rng, &VERBS),
        pick(rng, &OBJECTS),
        pick(rng, &PLACES),
        pick(rng, &TIMES),
        pick(rng, &PURPOSES)
    )
}

fn sentences(rng: &mut StdRng, n: usize) -> String {
    (0..n).map(|_| sentence(rng)).collect::<Vec<_>>().join(" ")
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

struct SectionPlan {
    part: usize,
    article: Option<usize>,
    title: String,
    body: String,
}

/// 20 parts of 9 articles; one article (18.3) is the only section naming a funiculaire.
fn plan_text(rng: &mut StdRng) -> Vec<SectionPlan> {
    let mut out = Vec::new();
    for (p, title) in PART_TITLES.iter().enumerate() {
        out.push(SectionPlan {
            part: p,
            article: None,
            title: format!("Titre {} : {title}", p + 1),
            body: format!(
                "Le présent titre fixe les orientations du plan en matière de {}. {}",
                title.to_lowercase(),
                sentence(rng)
            ),
        });
        for a in 0..ARTICLES_PER_PART {
            let obj = OBJECTS[(p * ARTICLES_PER_PART + a) % OBJECTS.len()];
            let n = rng.gen_range(3..=5);
            let mut body = sentences(rng, n);
            if p == 17 && a == 2 {
                body.push_str(" Une étude de faisabilité d'un funiculaire reliant le Vieux-Port à Notre-Dame-de-la-Garde est engagée.");
            }
            out.push(SectionPlan {
                part: p,
                article: Some(a),
                title: format!("Article {}.{} : {}", p + 1, a + 1, capitalise(obj)),
                body,
            });
        }
    }
    out
}

// ---- the plan of contributions -----------------------------------------------------------

#[derive(Clone)]
struct Commune {
    id: String,
    insee: String,
    name: String,
    population: i64,
    mayor_person: String,
}

enum AnswerPlan {
    Plain(&'static str, Option<String>),
    Merged(usize),
}

struct ContributionPlan {
    kind: &'static str,
    commune: usize,
    /// Index into the sections.
    section: Option<usize>,
    parent: Option<usize>,
    body: String,
    proposed: Option<String>,
    visibility: &'static str,
    cosigners: Vec<usize>,
    answer: Option<AnswerPlan>,
}

/// The first `small` contributions are made one at a time (any earlier parent); after
/// them, in batches of BATCH, a comment's parent is in an earlier batch.
fn plan_contributions(
    rng: &mut StdRng,
    n: usize,
    communes: &[Commune],
    text: &[SectionPlan],
    accepted_set: &HashSet<usize>,
) -> Vec<ContributionPlan> {
    let weights: Vec<f64> = communes.iter().map(|c| (c.population as f64).sqrt() + 30.0).collect();
    let total: f64 = weights.iter().sum();
    let draw = |rng: &mut StdRng| {
        let mut x = rng.gen_range(0.0..total);
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    };
    let articles: Vec<usize> = (0..text.len()).filter(|&i| text[i].article.is_some()).collect();
    // Some articles draw more amendments than others.
    let popular: Vec<usize> = articles.choose_multiple(rng, 30).copied().collect();
    let mut out: Vec<ContributionPlan> = Vec::with_capacity(n);
    let mut amendments_on: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..n {
        let commune = draw(rng);
        let name = &communes[commune].name;
        let earliest_parent = if i < BATCH { i } else { i / BATCH * BATCH };
        let public_parents: Vec<usize> = (earliest_parent.saturating_sub(400)..earliest_parent)
            .filter(|&j| out[j].visibility == "COMMUNES")
            .collect();
        let r: f64 = rng.gen();
        let kind = if r < 0.40 {
            "AMENDMENT"
        } else if r < 0.65 || (r < 0.85 && public_parents.is_empty()) {
            "PROPOSAL"
        } else if r < 0.85 {
            "COMMENT"
        } else {
            "QUESTION"
        };
        let article = |rng: &mut StdRng| {
            if rng.gen_bool(0.3) {
                *popular.choose(rng).unwrap()
            } else {
                *articles.choose(rng).unwrap()
            }
        };
        let funiculaire = i % 997 == 500;
        let mut plan = ContributionPlan {
            kind,
            commune,
            section: None,
            parent: None,
            body: String::new(),
            proposed: None,
            visibility: if kind != "COMMENT" && rng.gen_bool(0.08) { "DRAFTING_TEAM" } else { "COMMUNES" },
            cosigners: vec![],
            answer: None,
        };
        match kind {
            "AMENDMENT" => {
                let s = article(rng);
                plan.section = Some(s);
                plan.body = format!(
                    "La commune de {name} propose de compléter cet article : {} Le conseil municipal a délibéré en ce sens le {} {}.",
                    sentence(rng),
                    rng.gen_range(1..=28),
                    ["mars", "avril", "mai", "juin", "septembre", "octobre"][rng.gen_range(0..6)]
                );
                // The article's text with one sentence added and a word changed.
                let extra = format!(
                    "À la demande de la commune de {name}, {} {} {}.",
                    pick(rng, &OBJECTS),
                    pick(rng, &PLACES),
                    pick(rng, &TIMES)
                );
                plan.proposed = Some(format!("{} {extra}", text[s].body.replacen(" la ", " toute la ", 1)));
                amendments_on.entry(s).or_default().push(i);
            }
            "PROPOSAL" => {
                if rng.gen_bool(0.3) {
                    plan.section = Some(article(rng));
                }
                plan.body = format!(
                    "Nous proposons d'ajouter un article consacré à {} {}, {}. {}",
                    pick(rng, &OBJECTS),
                    pick(rng, &PLACES),
                    pick(rng, &PURPOSES),
                    sentence(rng)
                );
            }
            "COMMENT" => {
                let p = *public_parents.choose(rng).unwrap();
                plan.parent = Some(p);
                plan.section = out[p].section;
                plan.body = format!(
                    "{} {}",
                    [
                        "La commune soutient cette contribution.",
                        "Nous partageons cette analyse, avec une réserve sur le calendrier.",
                        format!("La commune de {name} s'associe à cette demande.").as_str(),
                        "Cette proposition mérite d'être chiffrée avant d'être retenue.",
                    ][rng.gen_range(0..4)],
                    sentence(rng)
                );
            }
            _ => {
                if rng.gen_bool(0.5) {
                    plan.section = Some(article(rng));
                }
                plan.body = format!(
                    "Quel calendrier est prévu pour {} {} ? Les habitants de {name} attendent une réponse précise sur le financement.",
                    pick(rng, &OBJECTS),
                    pick(rng, &PLACES)
                );
            }
        }
        if funiculaire {
            plan.body.push_str(" Qu'en est-il du projet de funiculaire vers Notre-Dame-de-la-Garde ?");
        }
        if plan.visibility == "COMMUNES" && matches!(kind, "AMENDMENT" | "PROPOSAL") && rng.gen_bool(0.34) {
            let k = rng.gen_range(1..=3);
            let mut set = HashSet::new();
            while set.len() < k {
                let c = draw(rng);
                if c != commune {
                    set.insert(c);
                }
            }
            plan.cosigners = set.into_iter().collect();
            plan.cosigners.sort();
        }
        if rng.gen_bool(0.5) {
            let r: f64 = rng.gen();
            let reasons = |rng: &mut StdRng, what: &str| Some(format!("{what} {}", sentence(rng)));
            plan.answer = Some(if kind == "AMENDMENT" {
                let s = plan.section.unwrap();
                let earlier: Vec<usize> = amendments_on[&s].iter().copied().filter(|&j| j < i).collect();
                if r < 0.40 && accepted_set.contains(&s) {
                    AnswerPlan::Plain("ACCEPTED", None)
                } else if r < 0.60 {
                    AnswerPlan::Plain("ACCEPTED_WITH_CHANGES", None)
                } else if r < 0.85 || earlier.is_empty() {
                    AnswerPlan::Plain("REJECTED", reasons(rng, "Non retenu :"))
                } else {
                    AnswerPlan::Merged(*earlier.choose(rng).unwrap())
                }
            } else if r < 0.25 {
                AnswerPlan::Plain("ACCEPTED", None)
            } else if r < 0.55 {
                AnswerPlan::Plain("REJECTED", reasons(rng, "Non retenu :"))
            } else if r < 0.75 {
                AnswerPlan::Plain("OUT_OF_SCOPE", reasons(rng, "Hors du champ du plan :"))
            } else if r < 0.90 || i == 0 {
                AnswerPlan::Plain("ACCEPTED_WITH_CHANGES", None)
            } else {
                AnswerPlan::Merged(rng.gen_range(0..i))
            });
        }
        out.push(plan);
    }
    out
}

// ---- seeding -----------------------------------------------------------------------------

const CONTRIBUTE: &str = "mutation($i:ContributeInput!){contributeToPolicy(input:$i){id version}}";
const COSIGN: &str = "mutation($id:ID!,$c:ID!){cosignContribution(id:$id,communeId:$c){id}}";
const ANSWER: &str = "mutation($i:AnswerContributionInput!){answerContribution(input:$i){id status}}";

struct World {
    sec: String,
    policy: String,
    communes: Vec<Commune>,
    /// A token per commune (its mayor's); Marseille's DGS as well.
    mayor: Vec<String>,
    dgs_marseille: String,
    marseille: usize,
    section_ids: Vec<String>,
}

#[derive(Default)]
struct Made {
    ids: Vec<String>,
    cosignatures: usize,
    answers: BTreeMap<&'static str, usize>,
}

impl World {
    fn author(&self, i: usize, commune: usize) -> &str {
        if commune == self.marseille && i % 2 == 1 {
            &self.dgs_marseille
        } else {
            &self.mayor[commune]
        }
    }
}

async fn create_one(b: &Bench, w: &World, plan: &[ContributionPlan], made_ids: &[String], i: usize) -> Result<String> {
    let c = &plan[i];
    let input = json!({
        "policyId": w.policy,
        "kind": c.kind,
        "communeId": w.communes[c.commune].id,
        "sectionId": c.section.map(|s| w.section_ids[s].clone()),
        "parentId": c.parent.map(|p| made_ids[p].clone()),
        "body": c.body,
        "proposedText": c.proposed,
        "visibility": c.visibility,
    });
    let d = b.gql(Some(w.author(i, c.commune)), CONTRIBUTE, json!({"i": input})).await?;
    s(&d["contributeToPolicy"]["id"])
}

async fn cosign_and_answer(
    b: &Bench,
    w: &World,
    plan: &[ContributionPlan],
    made: &mut Made,
    range: std::ops::Range<usize>,
    workers: usize,
) -> Result<()> {
    let ids = &made.ids;
    let cosigns: Vec<(String, usize)> =
        range.clone().flat_map(|i| plan[i].cosigners.iter().map(move |&c| (ids[i].clone(), c))).collect();
    let n = cosigns.len();
    let results: Vec<Result<Value>> = stream::iter(cosigns.into_iter().map(|(id, c)| async move {
        b.gql(Some(&w.mayor[c]), COSIGN, json!({"id": id, "c": w.communes[c].id})).await
    }))
    .buffer_unordered(workers)
    .collect()
    .await;
    for r in results {
        r?;
    }
    made.cosignatures += n;
    let mut answers = Vec::new();
    for i in range {
        if let Some(a) = &plan[i].answer {
            let input = match a {
                AnswerPlan::Plain(k, reasons) => {
                    *made.answers.entry(*k).or_default() += 1;
                    json!({"id": ids[i], "expectedVersion": 1, "answer": k, "reasons": reasons})
                }
                AnswerPlan::Merged(j) => {
                    *made.answers.entry("MERGED").or_default() += 1;
                    json!({"id": ids[i], "expectedVersion": 1, "answer": "MERGED", "mergedIntoId": ids[*j]})
                }
            };
            answers.push(input);
        }
    }
    let results: Vec<Result<Value>> = stream::iter(
        answers.into_iter().map(|input| async move { b.gql(Some(&w.sec), ANSWER, json!({"i": input})).await }),
    )
    .buffer_unordered(workers)
    .collect()
    .await;
    for r in results {
        r?;
    }
    Ok(())
}

/// Makes contributions `made.ids.len()..to` of the plan, their co-signatures and answers.
async fn seed(
    b: &Bench,
    w: &World,
    plan: &[ContributionPlan],
    made: &mut Made,
    to: usize,
    workers: usize,
) -> Result<()> {
    while made.ids.len() < to {
        let from = made.ids.len();
        if from < BATCH {
            // One at a time: a comment may answer any earlier contribution.
            let id = create_one(b, w, plan, &made.ids, from).await?;
            made.ids.push(id);
            cosign_and_answer(b, w, plan, made, from..from + 1, 1).await?;
            continue;
        }
        let end = ((from / BATCH + 1) * BATCH).min(to);
        let ids = &made.ids;
        let created: Vec<Result<(usize, String)>> =
            stream::iter((from..end).map(|i| async move { create_one(b, w, plan, ids, i).await.map(|id| (i, id)) }))
                .buffer_unordered(workers)
                .collect()
                .await;
        let mut created = created.into_iter().collect::<Result<Vec<_>>>()?;
        created.sort_by_key(|(i, _)| *i);
        made.ids.extend(created.into_iter().map(|(_, id)| id));
        cosign_and_answer(b, w, plan, made, from..end, workers).await?;
        if end.is_multiple_of(500) {
            log(format!("  {end} contributions, {} co-signatures", made.cosignatures));
        }
    }
    Ok(())
}

// ---- the queries measured ----------------------------------------------------------------

const VIEW: &str = "query($id:ID!,$n:Int!,$first:Int!,$after:String){policy(id:$id){id title summary status version concertationClosesAt
  versions{number changeNote publishedAt}
  versionNumbered(number:$n){number sections{sectionId label title body contributionIds}}
  contributions(first:$first,after:$after){totalCount pageInfo{hasNextPage endCursor}
    nodes{id kind status versionNumber sectionId parentId body proposedText visibility answer answerReasons mergedIntoId answeredAt createdAt version
      commune{name inseeCode} author{fullName}
      signatures{author population populationYear signedAt commune{name} person{fullName}}
      support{communes inhabitants}}}}}";

const COMPARE: &str =
    "query($id:ID!){policy(id:$id){compare(from:1,to:2){sectionId kind moved title{op text} body{op text}}}}";

const SYNTHESIS: &str =
    "query($id:ID!,$v:Int){policy(id:$id){synthesis(versionNumber:$v){versionNumber generatedAt contributions
  byKind{kind count} open withdrawn answered answers{answer count} acceptanceRate members participating
  byCommune{communeId insee name territory contributions cosignatures accepted}
  silentCommunes{communeId insee name territory}
  byTerritory{name communes participating contributions}
  bySection{sectionId label title contributions amendments accepted}
  answerTime{answered medianDays meanDays maxDays} csvPath htmlPath}}}";

const SEARCH: &str = "query($e:ID!,$q:String!,$p:ID,$f:Int!){searchPolicies(intercommunalityId:$e,query:$q,policyId:$p,first:$f){kind title excerpt sectionId versionNumber policy{id} contribution{id kind}}}";

fn view_vars(w: &World, version: i64, first: i64, after: Option<&str>) -> Value {
    json!({"id": w.policy, "n": version, "first": first, "after": after})
}

/// The policy view, `first` contributions, for a reader who sees `visible`; checks what
/// came back.
async fn view_series(
    b: &Bench,
    w: &World,
    token: &str,
    first: i64,
    visible: usize,
    runs: usize,
) -> Result<(Series, i64)> {
    let expect_nodes = visible.min(first as usize);
    measure(runs, || async {
        let (shot, d) = b.post(Some(token), VIEW, view_vars(w, 1, first, None)).await?;
        let nodes = d["policy"]["contributions"]["nodes"].as_array().map_or(0, Vec::len);
        let sections = d["policy"]["versionNumbered"]["sections"].as_array().map_or(0, Vec::len);
        let total = d["policy"]["contributions"]["totalCount"].as_i64().unwrap_or(-1);
        if nodes != expect_nodes || total != visible as i64 || sections != PARTS * (ARTICLES_PER_PART + 1) {
            bail!("policy view: {nodes} contributions of {total} (expected {expect_nodes} of {visible}), {sections} sections");
        }
        Ok((shot, total))
    })
    .await
}

/// Every contribution, 500 a page (the most `first` allows). One shot is the whole walk.
async fn full_walk(b: &Bench, w: &World, token: &str, expect: usize) -> Result<(Shot, usize)> {
    let mut after: Option<String> = None;
    let (mut time, mut statements, mut bytes, mut seen, mut pages) = (Duration::ZERO, 0, 0, 0, 0);
    loop {
        let (shot, d) = b.post(Some(token), VIEW, view_vars(w, 1, 500, after.as_deref())).await?;
        time += shot.time;
        statements += shot.statements;
        bytes += shot.bytes;
        pages += 1;
        let c = &d["policy"]["contributions"];
        seen += c["nodes"].as_array().map_or(0, Vec::len);
        if c["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = Some(s(&c["pageInfo"]["endCursor"])?);
    }
    if seen != expect {
        bail!("walking every page: {seen} contributions, expected {expect}");
    }
    Ok((Shot { time, statements, bytes }, pages))
}

// ---- main --------------------------------------------------------------------------------

#[tokio::main]
async fn main() -> Result<()> {
    let a = args()?;
    let backend = if a.database_url.starts_with("postgres") { "postgres" } else { "sqlite" };
    let mut config = entente::Config::new(a.database_url.clone());
    config.response_cache_entries = 0;
    let state = entente::state(config).await?;
    let started = Instant::now();
    entente::demo::load(&state).await.map_err(|e| anyhow!("demo: {e}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = entente::app(state.clone());
    tokio::spawn(async move {
        let _ = entente::serve(listener, app).await;
    });
    let b = Bench { client: reqwest::Client::new(), base, state: state.clone(), backend };
    // A second server on the same database whose DataLoaders wait 25 ms for their keys (the
    // test suite's `wide_batches`), for statement counts that the 1 ms window of
    // production cannot split into two batches when the machine is busy.
    let mut wide = entente::Config::new(a.database_url.clone());
    wide.response_cache_entries = 0;
    wide.dataloader_delay = Duration::from_millis(25);
    let wide_state = entente::state(wide).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let wide_base = format!("http://{}", listener.local_addr()?);
    let app = entente::app(wide_state.clone());
    tokio::spawn(async move {
        let _ = entente::serve(listener, app).await;
    });
    let counting = Bench { client: reqwest::Client::new(), base: wide_base, state: wide_state, backend };
    let runs = a.runs;
    b.out(format!(
        "setup contributions={} small={} runs={} seeding_workers={} db_pool={} dataloader_delay_ms={} response_cache=off {}",
        a.contributions,
        a.small,
        runs,
        a.workers,
        state.config.max_db_connections,
        state.config.dataloader_delay.as_millis(),
        rss()
    ));

    // ---- people --------------------------------------------------------------------------
    let login = |email: &'static str| {
        let b = &b;
        async move {
            let d = b
                .gql(
                    None,
                    "mutation($e:String!,$p:String!){login(email:$e,password:$p){token}}",
                    json!({"e": email, "p": entente::demo::DEMO_PASSWORD}),
                )
                .await?;
            s(&d["login"]["token"])
        }
    };
    let sec = login("secretariat@demo.entente.fr").await?;
    let dgs_marseille = login("dgs.marseille@demo.entente.fr").await?;
    let d = b
        .gql(Some(&sec), r#"{intercommunality(siren:"200054807"){id communes(first:100){totalCount nodes{id inseeCode name population{value} currentMayor{person{id}}}}}}"#, json!({}))
        .await?;
    let amp = s(&d["intercommunality"]["id"])?;
    let mut communes: Vec<Commune> = d["intercommunality"]["communes"]["nodes"]
        .as_array()
        .ok_or_else(|| anyhow!("no communes"))?
        .iter()
        .map(|c| {
            Ok(Commune {
                id: s(&c["id"])?,
                insee: s(&c["inseeCode"])?,
                name: s(&c["name"])?,
                population: c["population"]["value"].as_i64().unwrap_or(0),
                mayor_person: s(&c["currentMayor"]["person"]["id"])?,
            })
        })
        .collect::<Result<_>>()?;
    communes.sort_by(|x, y| x.insee.cmp(&y.insee));
    if communes.len() != 92 {
        bail!("AMP has {} communes, expected 92", communes.len());
    }
    let marseille = communes.iter().position(|c| c.insee == "13055").ok_or_else(|| anyhow!("no Marseille"))?;
    log("inviting the mayors without an account");
    let t = Instant::now();
    let demo_mayors: HashMap<&str, &str> = [
        ("13055", "maire.marseille@demo.entente.fr"),
        ("13001", "maire.aix@demo.entente.fr"),
        ("13022", "maire.cassis@demo.entente.fr"),
    ]
    .into();
    let tokens: Vec<Result<String>> = stream::iter(communes.iter().map(|c| {
        let (b, sec, demo) = (&b, &sec, &demo_mayors);
        async move {
            if let Some(email) = demo.get(c.insee.as_str()) {
                let d = b.gql(None, "mutation($e:String!,$p:String!){login(email:$e,password:$p){token}}", json!({"e": email, "p": entente::demo::DEMO_PASSWORD})).await?;
                return s(&d["login"]["token"]);
            }
            let d = b
                .gql(
                    Some(sec),
                    "mutation($i:InviteAccountInput!){inviteAccount(input:$i){token}}",
                    json!({"i": {"personId": c.mayor_person, "email": format!("maire.{}@bench.entente.fr", c.insee), "role": "MEMBER"}}),
                )
                .await?;
            let invitation = s(&d["inviteAccount"]["token"])?;
            let d = b
                .gql(None, "mutation($t:String!,$p:String!){acceptInvitation(token:$t,password:$p){token}}", json!({"t": invitation, "p": BENCH_PASSWORD}))
                .await?;
            s(&d["acceptInvitation"]["token"])
        }
    }))
    .buffered(2)
    .collect()
    .await;
    let mayor: Vec<String> = tokens.into_iter().collect::<Result<_>>()?;
    b.out(format!(
        "seed_accounts mayors_signed_in={} invited_and_accepted=89 elapsed_s={:.1}",
        mayor.len(),
        t.elapsed().as_secs_f64()
    ));

    // AMP's six conseils de territoire (the official lists), for the synthesis by territory.
    let territories: [(&str, &[&str]); 5] = [
        (
            "Marseille Provence",
            &[
                "13055", "13002", "13119", "13021", "13022", "13023", "13026", "13033", "13042", "13043", "13028",
                "13088", "13054", "13075", "13085", "13102", "13104", "13106",
            ],
        ),
        (
            "Pays d'Aubagne et de l'Étoile",
            &[
                "13005", "13007", "13013", "13020", "13030", "13016", "13031", "13070", "13073", "13086", "13101",
                "83120",
            ],
        ),
        ("Istres-Ouest Provence", &["13047", "13063", "13039", "13078", "13044", "13029"]),
        ("Pays de Martigues", &["13056", "13077", "13098"]),
        (
            "Pays Salonais",
            &[
                "13003", "13008", "13009", "13014", "13024", "13035", "13037", "13049", "13051", "13053", "13069",
                "13081", "13092", "13103", "13105", "13112", "13115",
            ],
        ),
    ];
    let mut placed: HashSet<&str> = HashSet::new();
    let by_insee: HashMap<&str, &Commune> = communes.iter().map(|c| (c.insee.as_str(), c)).collect();
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for (name, codes) in territories {
        let ids = codes
            .iter()
            .map(|c| by_insee.get(c).map(|x| x.id.clone()).ok_or_else(|| anyhow!("no commune {c}")))
            .collect::<Result<Vec<_>>>()?;
        placed.extend(codes.iter().copied());
        groups.push((name, ids));
    }
    groups.push((
        "Pays d'Aix",
        communes.iter().filter(|c| !placed.contains(c.insee.as_str())).map(|c| c.id.clone()).collect(),
    ));
    for (name, ids) in &groups {
        b.gql(Some(&sec), "mutation($i:CreateTerritoryInput!){createTerritory(input:$i){id}}", json!({"i": {"intercommunalityId": amp, "name": format!("Conseil de territoire {name}"), "communeIds": ids}}))
            .await?;
    }
    b.out(format!(
        "seed_territories {}",
        groups.iter().map(|(n, ids)| format!("{}:{}", n.replace(' ', "_"), ids.len())).collect::<Vec<_>>().join(" ")
    ));

    // ---- the policy: 200 sections, version 1, concertation open --------------------------
    let mut rng = StdRng::seed_from_u64(15);
    let text = plan_text(&mut rng);
    let d = b
        .gql(
            Some(&sec),
            "mutation($i:CreatePolicyInput!){createPolicy(input:$i){id}}",
            json!({"i": {"intercommunalityId": amp, "kind": "AGENDA_OR_PLAN", "title": "Plan de mobilité métropolitain 2027-2035",
                "summary": "Projet de plan de mobilité de la Métropole d'Aix-Marseille-Provence, soumis à la concertation des 92 communes.",
                "secretariat": "Direction de la mobilité", "visibility": "BOTH"}}),
        )
        .await?;
    let policy = s(&d["createPolicy"]["id"])?;
    log("adding 200 sections");
    let mut add = Series::new();
    let mut section_ids: Vec<String> = Vec::new();
    let mut part_ids: Vec<String> = Vec::new();
    let add_q = "mutation($i:AddPolicySectionInput!){addPolicySection(input:$i){id label depth}}";
    for sp in &text {
        let parent = sp.article.map(|_| part_ids[sp.part].clone());
        let (shot, d) = b
            .post(
                Some(&sec),
                add_q,
                json!({"i": {"policyId": policy, "parentId": parent, "title": sp.title, "body": sp.body}}),
            )
            .await?;
        add.push(&shot);
        let id = s(&d["addPolicySection"]["id"])?;
        if sp.article.is_none() {
            part_ids.push(id.clone());
        }
        section_ids.push(id);
    }
    let chars: usize = text.iter().map(|t| t.body.chars().count()).sum();
    b.out(format!(
        "seed_sections sections={} body_chars_mean={} add_section {}",
        text.len(),
        chars / text.len(),
        add.line(None)
    ));
    let publish =
        "mutation($p:ID!,$n:String!){publishPolicyVersion(policyId:$p,changeNote:$n){number sections{label}}}";
    let (shot, d) = b
        .post(Some(&sec), publish, json!({"p": policy, "n": "Version soumise à la concertation des communes."}))
        .await?;
    let frozen = d["publishPolicyVersion"]["sections"].as_array().map_or(0, Vec::len);
    b.out(format!(
        "publish_v1 sections={frozen} ms={:.1} statements={}",
        shot.time.as_secs_f64() * 1000.0,
        shot.statements
    ));
    let v = b.gql(Some(&sec), "query($id:ID!){policy(id:$id){version}}", json!({"id": policy})).await?["policy"]
        ["version"]
        .clone();
    let closes = format!("{}T18:00:00", entente::time::today_paris() + chrono::Duration::days(60));
    b.gql(
        Some(&sec),
        "mutation($i:TransitionPolicyInput!){transitionPolicy(input:$i){status}}",
        json!({"i": {"id": policy, "expectedVersion": v, "to": "OPEN_CONCERTATION", "concertationClosesAt": closes}}),
    )
    .await?;

    // Two articles in each of parts 1-18 take accepted amendments (their text changes in
    // version 2); parts 19-20 keep theirs.
    let accepted_set: HashSet<usize> = (0..18).flat_map(|p| [p * 10 + 2, p * 10 + 6]).collect();
    let plan = plan_contributions(&mut rng, a.contributions, &communes, &text, &accepted_set);
    let w = World {
        sec: sec.clone(),
        policy: policy.clone(),
        communes: communes.clone(),
        mayor,
        dgs_marseille,
        marseille,
        section_ids: section_ids.clone(),
    };
    let cassis = w.mayor[communes.iter().position(|c| c.insee == "13022").unwrap()].clone();

    // ---- 1. the view at `small` contributions --------------------------------------------
    let mut made = Made::default();
    seed(&b, &w, &plan, &mut made, a.small, a.workers).await?;
    let answered: usize = made.answers.values().sum();
    b.out(format!(
        "seeded_small contributions={} cosignatures={} answered={answered}",
        made.ids.len(),
        made.cosignatures
    ));
    let (small_100, _) = view_series(&b, &w, &sec, 100, a.small, runs).await?;
    let (small_500, _) = view_series(&b, &w, &sec, 500, a.small, runs).await?;
    let count_runs = 5;
    let (small_100_wide, _) = view_series(&counting, &w, &sec, 100, a.small, count_runs).await?;
    let (small_500_wide, _) = view_series(&counting, &w, &sec, 500, a.small, count_runs).await?;
    b.out(format!("view_{}_secretariat_first100 {}", a.small, small_100.line(Some(100.0))));
    b.out(format!("view_{}_secretariat_first500 {}", a.small, small_500.line(Some(100.0))));
    b.out(format!("view_{}_secretariat_first100_25ms_batches {}", a.small, small_100_wide.line(None)));
    b.out(format!("view_{}_secretariat_first500_25ms_batches {}", a.small, small_500_wide.line(None)));

    // ---- seeding up to the full count ------------------------------------------------------
    log(format!("seeding up to {} contributions", a.contributions));
    let t = Instant::now();
    seed(&b, &w, &plan, &mut made, a.contributions, a.workers).await?;
    let seeding = t.elapsed().as_secs_f64();
    let answered: usize = made.answers.values().sum();
    let kinds = plan.iter().fold(BTreeMap::<&str, usize>::new(), |mut m, c| {
        *m.entry(c.kind).or_default() += 1;
        m
    });
    let restricted = plan.iter().filter(|c| c.visibility == "DRAFTING_TEAM").count();
    let communes_used = plan.iter().map(|c| c.commune).collect::<HashSet<_>>().len();
    b.out(format!(
        "seeded contributions={} by_kind={kinds:?} drafting_team_only={restricted} author_communes={communes_used} cosignatures={} answered={answered} answers={:?} elapsed_s={seeding:.1} ({:.0} mutations/s) {}",
        made.ids.len(),
        made.cosignatures,
        made.answers,
        (made.ids.len() - a.small + made.cosignatures + answered) as f64 / seeding,
        rss()
    ));

    // ---- 1. the view at the full count -----------------------------------------------------
    log("policy view");
    let n = a.contributions;
    let (big_100, total) = view_series(&b, &w, &sec, 100, n, runs).await?;
    let (big_500, _) = view_series(&b, &w, &sec, 500, n, runs).await?;
    let visible_to_cassis = {
        let d = b
            .gql(
                Some(&cassis),
                "query($id:ID!){policy(id:$id){contributions(first:1){totalCount}}}",
                json!({"id": policy}),
            )
            .await?;
        d["policy"]["contributions"]["totalCount"].as_i64().unwrap_or(0)
    };
    // The same view with one contribution a page: what reading every contribution costs.
    let (big_1, _) = view_series(&b, &w, &sec, 1, n, runs).await?;
    let (cassis_100, _) = view_series(&b, &w, &cassis, 100, visible_to_cassis as usize, runs).await?;
    let (big_100_wide, _) = view_series(&counting, &w, &sec, 100, n, count_runs).await?;
    let (big_500_wide, _) = view_series(&counting, &w, &sec, 500, n, count_runs).await?;
    let mut walk = Series::new();
    let mut pages = 0;
    for i in 0..(runs / 2).max(10) + 1 {
        let (shot, p) = full_walk(&b, &w, &sec, n).await?;
        pages = p;
        if i > 0 {
            walk.push(&shot);
        }
    }
    b.out(format!("view_{n}_secretariat_first100 totalCount={total} {}", big_100.line(Some(100.0))));
    b.out(format!("view_{n}_secretariat_first500 {}", big_500.line(Some(100.0))));
    b.out(format!("view_{n}_secretariat_first1 {}", big_1.line(Some(100.0))));
    b.out(format!("view_{n}_mayor_cassis_first100 visible={visible_to_cassis} {}", cassis_100.line(Some(100.0))));
    b.out(format!(
        "view_{n}_secretariat_every_page pages={pages}x500 (statements and bytes summed over the pages) {}",
        walk.line(None)
    ));
    b.out(format!("view_{n}_secretariat_first100_25ms_batches {}", big_100_wide.line(None)));
    b.out(format!("view_{n}_secretariat_first500_25ms_batches {}", big_500_wide.line(None)));
    let same = |x: &Series, y: &Series| {
        if x.statements() == y.statements() {
            "equal: met"
        } else {
            "DIFFERENT"
        }
    };
    for (label, x, y) in [
        ("first100", &small_100, &big_100),
        ("first500", &small_500, &big_500),
        ("first100_25ms_batches", &small_100_wide, &big_100_wide),
        ("first500_25ms_batches", &small_500_wide, &big_500_wide),
    ] {
        b.out(format!(
            "view_statements {label}: {} at {} vs {} at {n} ({})",
            x.statements(),
            a.small,
            y.statements(),
            same(x, y)
        ));
    }

    // ---- 2. version 2 and the comparison ---------------------------------------------------
    log("version 2");
    let draft = b
        .gql(Some(&sec), "query($id:ID!){policy(id:$id){draft{id label title body version}}}", json!({"id": policy}))
        .await?;
    let draft: Vec<Value> = draft["policy"]["draft"].as_array().cloned().unwrap_or_default();
    let by_id: HashMap<String, &Value> =
        draft.iter().map(|d| (d["id"].as_str().unwrap_or("").to_string(), d)).collect();
    let changed_by_answers = (0..text.len())
        .filter(|&i| by_id.get(&section_ids[i]).is_some_and(|d| d["body"].as_str() != Some(text[i].body.as_str())))
        .count();
    // Edits by the drafting team: 14 articles outside the amended ones (two titles too).
    let edit_q = "mutation($i:UpdatePolicySectionInput!){updatePolicySection(input:$i){id version}}";
    let mut edited = 0;
    for p in 0..PARTS {
        if edited == 14 {
            break;
        }
        let i = p * 10 + 4;
        let d = by_id[&section_ids[i]];
        let body = format!(
            "{} {}",
            d["body"].as_str().unwrap_or(""),
            "Ces dispositions sont précisées par une convention avec chaque commune concernée."
        );
        let title = (p % 7 == 0).then(|| format!("{} et leurs abords", d["title"].as_str().unwrap_or("")));
        b.gql(
            Some(&sec),
            edit_q,
            json!({"i": {"id": section_ids[i], "expectedVersion": d["version"], "body": body, "title": title}}),
        )
        .await?;
        edited += 1;
    }
    // Three articles removed (the last of their parts: no sibling moves), four added last.
    let remove_q = "mutation($id:ID!,$v:Int!){removePolicySection(id:$id,expectedVersion:$v)}";
    for i in [19 * 10 + 9, 19 * 10 + 8, 18 * 10 + 9] {
        let d = by_id[&section_ids[i]];
        b.gql(Some(&sec), remove_q, json!({"id": section_ids[i], "v": d["version"]})).await?;
    }
    let add_q = "mutation($i:AddPolicySectionInput!){addPolicySection(input:$i){id}}";
    for (p, title) in [
        (2, "Lignes de bus de nuit"),
        (4, "Stationnement vélo dans les gares"),
        (11, "Navettes vers les hameaux"),
        (19, "Observatoire de la mobilité"),
    ] {
        let body = sentences(&mut rng, 3);
        b.gql(Some(&sec), add_q, json!({"i": {"policyId": policy, "parentId": part_ids[p], "title": format!("Article additionnel : {title}"), "body": body}})).await?;
    }
    let (shot, d) = b
        .post(
            Some(&sec),
            publish,
            json!({"p": policy, "n": "Version 2 : amendements retenus et ajustements après la concertation."}),
        )
        .await?;
    b.out(format!(
        "publish_v2 sections={} ms={:.1} statements={} (changed by accepted amendments={changed_by_answers}, edited={edited}, added=4, removed=3)",
        d["publishPolicyVersion"]["sections"].as_array().map_or(0, Vec::len),
        shot.time.as_secs_f64() * 1000.0,
        shot.statements
    ));
    let (compare, (kinds_seen, runs_words)) = measure(runs, || async {
        let (shot, d) = b.post(Some(&sec), COMPARE, json!({"id": policy})).await?;
        let mut kinds_seen = BTreeMap::<String, usize>::new();
        let mut runs_words = 0;
        for c in d["policy"]["compare"].as_array().ok_or_else(|| anyhow!("no compare"))? {
            *kinds_seen.entry(c["kind"].as_str().unwrap_or("?").to_string()).or_default() += 1;
            runs_words += c["body"].as_array().map_or(0, Vec::len);
        }
        Ok((shot, (kinds_seen, runs_words)))
    })
    .await?;
    b.out(format!("compare_v1_v2 changes={kinds_seen:?} body_runs={runs_words} {}", compare.line(Some(200.0))));

    // ---- 3. the synthesis ------------------------------------------------------------------
    log("synthesis");
    let (synth, (summary, csv_path, html_path)) = measure(runs, || async {
        let (shot, d) = b.post(Some(&sec), SYNTHESIS, json!({"id": policy, "v": null})).await?;
        let sy = &d["policy"]["synthesis"];
        if sy["contributions"].as_u64() != Some(n as u64) {
            bail!("synthesis counts {} contributions, expected {n}", sy["contributions"]);
        }
        let summary = format!(
            "contributions={} answered={} open={} acceptanceRate={:.3} members={} participating={} silent={} territories={} sections={}",
            sy["contributions"],
            sy["answered"],
            sy["open"],
            sy["acceptanceRate"].as_f64().unwrap_or(f64::NAN),
            sy["members"],
            sy["participating"],
            sy["silentCommunes"].as_array().map_or(0, Vec::len),
            sy["byTerritory"].as_array().map_or(0, Vec::len),
            sy["bySection"].as_array().map_or(0, Vec::len)
        );
        Ok((shot, (summary, s(&sy["csvPath"])?, s(&sy["htmlPath"])?)))
    })
    .await?;
    let (synth_v1, ()) =
        measure(runs, || async { Ok((b.post(Some(&sec), SYNTHESIS, json!({"id": policy, "v": 1})).await?.0, ())) })
            .await?;
    let (csv, csv_lines) = measure(runs, || async {
        let (shot, ctype, body) = b.get(&sec, &csv_path).await?;
        if !ctype.starts_with("text/csv") || !body.starts_with("part,key,label") {
            bail!("synthesis.csv: {ctype}");
        }
        Ok((shot, body.lines().count()))
    })
    .await?;
    let (html, ()) = measure(runs, || async {
        let (shot, ctype, body) = b.get(&sec, &html_path).await?;
        if !ctype.starts_with("text/html") || !body.contains("<svg") {
            bail!("synthesis.html: {ctype}");
        }
        Ok((shot, ()))
    })
    .await?;
    b.out(format!("synthesis {summary}"));
    b.out(format!("synthesis_graphql_all {}", synth.line(Some(1000.0))));
    b.out(format!("synthesis_graphql_v1 {}", synth_v1.line(Some(1000.0))));
    b.out(format!("synthesis_csv lines={csv_lines} {}", csv.line(Some(1000.0))));
    b.out(format!("synthesis_html {}", html.line(Some(1000.0))));

    // ---- 4. search -------------------------------------------------------------------------
    log("search");
    let queries = [
        ("common", "transports"),
        ("rare", "funiculaire"),
        ("two_words", "piste cyclable"),
        ("accented", "Étang de Berre"),
        ("accented_without_de", "étang Berre"),
        ("accented_caps", "SÉCURITÉ ÉCOLES"),
    ];
    for (label, q) in queries {
        for (scope, policy_id, who, token) in [
            ("policy", Some(policy.as_str()), "secretariat", sec.as_str()),
            ("policy", Some(policy.as_str()), "mayor_cassis", cassis.as_str()),
        ] {
            let (series, (hits, by_kind)) = measure(runs, || async {
                let (shot, d) = b.post(Some(token), SEARCH, json!({"e": amp, "q": q, "p": policy_id, "f": 20})).await?;
                let h = d["searchPolicies"].as_array().ok_or_else(|| anyhow!("no hits"))?;
                let mut by_kind = BTreeMap::<String, usize>::new();
                for x in h {
                    *by_kind.entry(x["kind"].as_str().unwrap_or("?").to_string()).or_default() += 1;
                }
                Ok((shot, (h.len(), by_kind)))
            })
            .await?;
            let (_, d) = b.post(Some(token), SEARCH, json!({"e": amp, "q": q, "p": policy_id, "f": 100})).await?;
            let hits100 = d["searchPolicies"].as_array().map_or(0, Vec::len);
            let matching = matching_entries(&state, q).await?;
            if who == "secretariat" {
                search_sql_alone(&b, label, q, runs).await?;
            }
            b.out(format!(
                "search_{label} q={q:?} scope={scope} as={who} hits_first20={hits} {by_kind:?} hits_first100={hits100} index_entries_matching={matching} {}",
                series.line(Some(50.0))
            ));
        }
    }

    // Diagnostic (SQLite): the server never runs ANALYZE; without statistics the planner
    // takes `ix_search_entry_policy` for selective and probes the full-text index once per
    // entry of the policy. The same searches once `ANALYZE` has run (last: it changes plans).
    if backend == "sqlite" {
        use sea_orm::ConnectionTrait;
        state.db.execute_unprepared("ANALYZE").await?;
        for (label, q) in queries {
            let (series, hits) = measure(runs, || async {
                let (shot, d) = b.post(Some(&sec), SEARCH, json!({"e": amp, "q": q, "p": policy, "f": 20})).await?;
                Ok((shot, d["searchPolicies"].as_array().map_or(0, Vec::len)))
            })
            .await?;
            b.out(format!(
                "search_{label}_after_analyze_diagnostic q={q:?} as=secretariat hits_first20={hits} {}",
                series.line(Some(50.0))
            ));
            search_sql_alone(&b, &format!("{label}_after_analyze"), q, runs).await?;
        }
    }

    // ---- the end ---------------------------------------------------------------------------
    let size = database_size(&state, &a.database_url).await.unwrap_or_else(|e| format!("? ({e})"));
    b.out(format!("end elapsed_s={:.0} database_size={size} {}", started.elapsed().as_secs_f64(), rss()));
    Ok(())
}

/// The statement of `search::search` for the secretariat (same text, built the same way),
/// timed alone on the server's pool, with its plan: how much of a search is SQL. On
/// SQLite, in both shapes it has had: `FROM search_fts JOIN search_entry` (as 0960f83
/// sends it; the planner chooses the order) and `FROM search_fts CROSS JOIN search_entry`
/// (as d3bdd50 sends it; SQLite keeps a CROSS JOIN's order: the full-text match first,
/// once, then each entry it found).
async fn search_sql_alone(b: &Bench, label: &str, q: &str, runs: usize) -> Result<()> {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
    let db = &b.state.db;
    let backend = db.get_database_backend();
    let words = entente::platform::text::query_words("query", q).map_err(|e| anyhow!("{e:?}"))?;
    let p: i64 = db
        .query_one_raw(Statement::from_string(backend, "SELECT CAST(max(id) AS BIGINT) FROM policy"))
        .await?
        .ok_or_else(|| anyhow!("no policy"))?
        .try_get_by_index(0)?;
    let rights = format!(
        "e.policy_id IN ({p}) AND (NOT e.restricted OR e.policy_id IN ({p}) OR e.author_person_id = 0 OR e.commune_id IN (NULL))"
    );
    let columns = "e.id, e.kind, e.target_id, e.policy_id, e.intercommunality_id, e.restricted, \
                   e.author_person_id, e.commune_id, e.title, e.body, e.terms";
    let (sql, value) = match backend {
        DatabaseBackend::Postgres => (
            format!(
                "SELECT {columns} FROM search_entry e, to_tsquery('simple', $1) q \
                 WHERE e.tsv @@ q AND {rights} ORDER BY ts_rank(e.tsv, q) DESC, e.id LIMIT 20"
            ),
            words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & "),
        ),
        _ => (
            format!(
                "SELECT {columns} FROM search_fts JOIN search_entry e ON e.id = search_fts.rowid \
                 WHERE search_fts MATCH ? AND {rights} ORDER BY bm25(search_fts), e.id LIMIT 20"
            ),
            words.iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" AND "),
        ),
    };
    // Named, so that it is prepared anew (sqlx keeps each connection's prepared statements
    // by text, and a statement prepared before ANALYZE would keep its old plan here).
    let explain = match backend {
        DatabaseBackend::Postgres => format!("EXPLAIN /* {label} */ {sql}"),
        _ => format!("EXPLAIN QUERY PLAN /* {label} */ {sql}"),
    };
    let plan: Vec<String> = db
        .query_all_raw(Statement::from_sql_and_values(backend, explain, [value.clone().into()]))
        .await?
        .iter()
        .map(|r| {
            let cells = if backend == DatabaseBackend::Postgres { vec![0] } else { vec![3] };
            cells.into_iter().filter_map(|i| r.try_get_by_index::<String>(i).ok()).collect::<Vec<_>>().join(" ")
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let mut ms = Vec::new();
    let mut rows = 0;
    for i in 0..runs.min(10) + 1 {
        let started = Instant::now();
        rows =
            db.query_all_raw(Statement::from_sql_and_values(backend, sql.clone(), [value.clone().into()])).await?.len();
        let t = started.elapsed();
        if i > 0 {
            ms.push(t.as_secs_f64() * 1000.0);
        }
        if t > Duration::from_secs(1) && ms.len() >= 3 {
            break;
        }
    }
    b.out(format!(
        "search_{label}_sql{} rows={rows} runs={} median_ms={:.1} p95_ms={:.1} plan=[{}]",
        if backend == DatabaseBackend::Sqlite { "_join" } else { "" },
        ms.len(),
        pct(&ms, 50.0),
        pct(&ms, 95.0),
        plan.join(" | ")
    ));
    if backend == DatabaseBackend::Sqlite {
        let forced = sql.replace("FROM search_fts JOIN search_entry e", "FROM search_fts CROSS JOIN search_entry e");
        let mut ms = Vec::new();
        let mut same = 0;
        for i in 0..runs.min(10) + 1 {
            let started = Instant::now();
            same = db
                .query_all_raw(Statement::from_sql_and_values(backend, forced.clone(), [value.clone().into()]))
                .await?
                .len();
            if i > 0 {
                ms.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
        b.out(format!(
            "search_{label}_sql_cross_join rows={same} runs={} median_ms={:.1} p95_ms={:.1}",
            ms.len(),
            pct(&ms, 50.0),
            pct(&ms, 95.0)
        ));
    }
    Ok(())
}

/// Entries of the search index every word of `q` matches (as a prefix), permissions
/// aside: what the search ranks before it keeps the best hits.
async fn matching_entries(state: &entente::AppState, q: &str) -> Result<i64> {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
    let words = entente::platform::text::query_words("query", q).map_err(|e| anyhow!("{e:?}"))?;
    let backend = state.db.get_database_backend();
    let stmt = match backend {
        DatabaseBackend::Postgres => Statement::from_sql_and_values(
            backend,
            "SELECT count(*) AS n FROM search_entry WHERE tsv @@ to_tsquery('simple', $1)",
            [words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & ").into()],
        ),
        _ => Statement::from_sql_and_values(
            backend,
            "SELECT count(*) AS n FROM search_fts WHERE search_fts MATCH ?",
            [words.iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" AND ").into()],
        ),
    };
    let row = state.db.query_one_raw(stmt).await?.ok_or_else(|| anyhow!("no count"))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

async fn database_size(state: &entente::AppState, url: &str) -> Result<String> {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
    let backend = state.db.get_database_backend();
    if backend == DatabaseBackend::Postgres {
        let row = state
            .db
            .query_one_raw(Statement::from_string(backend, "SELECT pg_database_size(current_database()) AS n"))
            .await?
            .ok_or_else(|| anyhow!("no size"))?;
        Ok(format!("{}MiB", row.try_get_by_index::<i64>(0)? >> 20))
    } else {
        let path = url.split_once("://").map_or(url, |x| x.1).split('?').next().unwrap_or("");
        let mut total = 0;
        for suffix in ["", "-wal"] {
            total += std::fs::metadata(format!("{path}{suffix}")).map(|m| m.len()).unwrap_or(0);
        }
        Ok(format!("{}MiB(with_wal)", total >> 20))
    }
}
