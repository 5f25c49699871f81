//! Playbooks: when they apply, what to say, what an agent may grant, how escalations decide.
//!
//! A playbook is one TOML file in `playbooks/` (every field is explained in
//! `playbooks/roadside-breakdown.toml`). A [`PlaybookSet`] loads and checks a folder of them,
//! classifies mention texts against all their triggers at once, and renders suggestions.
//!
//! Scoring (see `rank.rs`): each distinct matched keyword adds [`KEYWORD_SCORE`] (10), each
//! matched pattern [`PATTERN_SCORE`] (15), and the similarity of the post with the playbook's
//! examples, keywords and title adds up to [`SIMILARITY_POINTS`] (100); an exclusion vetoes a
//! playbook; results are ranked by score, ties by id; the fallback comes when nothing
//! matched and nothing is similar enough.

pub mod eval;
mod examples;
mod load;
mod matcher;
mod rank;
mod template;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use minijinja::Environment;
use serde::{Deserialize, Serialize};

use crate::domain::types::{Money, Network, Priority, Role, Segment};

pub use examples::MAX_EXAMPLE_CHARS;
pub use load::{parse_duration, PlaybookError, PlaybookErrors};
pub use matcher::{KEYWORD_SCORE, PATTERN_SCORE};
pub use rank::{DEFAULT_MIN_SIMILARITY, SIMILARITY_POINTS};
pub use template::{AgentVars, CaseVars, CustomerVars, MentionVars, TemplateVars, ALLOWED_VARIABLES};

use load::{FileCheck, Parsed};
use matcher::Matcher;
use rank::Similar;

/// One checked playbook.
#[derive(Debug, Clone, Serialize)]
pub struct Playbook {
    pub id: String,
    pub title: String,
    /// Default priority for cases in this category, if the playbook sets one.
    pub priority: Option<Priority>,
    /// Used when no other playbook matches; at most one per set.
    pub fallback: bool,
    /// A bulk-reply playbook, offered for surges.
    pub bulk: bool,
    pub triggers: Triggers,
    /// The reply template source (minijinja).
    pub template: String,
    pub steps: Vec<String>,
    pub remedies: Vec<Remedy>,
    pub escalation: EscalationPolicy,
    /// The file it was read from, as given to the loader.
    pub file: String,
}

/// When a playbook applies.
#[derive(Debug, Clone, Serialize)]
pub struct Triggers {
    /// Whitespace-normalised, duplicates removed.
    pub keywords: Vec<String>,
    pub patterns: Vec<String>,
    /// Sample posts as customers write them, compared with posts by similarity.
    pub examples: Vec<String>,
    /// Keywords that veto the playbook ("refund" in praise is not a billing dispute).
    pub exclude: Vec<String>,
    /// Patterns that veto the playbook.
    pub exclude_patterns: Vec<String>,
    /// Only for these networks; empty means any.
    pub networks: Vec<Network>,
    /// Only for these customer segments; empty means any.
    pub segments: Vec<Segment>,
}

/// Something an agent may offer, with how much each role may grant alone.
#[derive(Debug, Clone, Serialize)]
pub struct Remedy {
    pub kind: RemedyKind,
    pub label: String,
    /// `USD`, `EUR`, `points`, ...
    pub unit: String,
    /// The most granted of this remedy on one case, by anyone (hundredths of `unit`).
    pub case_cap: Option<Money>,
    /// Resolved limits for every segment and role, in hundredths of `unit`.
    limits: BTreeMap<Segment, BTreeMap<Role, Money>>,
}

impl Remedy {
    /// The most `role` may grant alone to a customer of `segment`, in hundredths of `unit`
    /// (so `Money::parse("50")` compares directly). Admin gets at least the supervisor's limit.
    pub fn limit_for(&self, role: Role, segment: Segment) -> Money {
        let table = self.limits.get(&segment);
        let get = |r: Role| table.and_then(|t| t.get(&r)).copied().unwrap_or_default();
        match role {
            Role::Admin => get(Role::Admin).max(get(Role::Supervisor)),
            r => get(r),
        }
    }
}

/// The kinds of remedy a playbook may offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemedyKind {
    Credit,
    Refund,
    FeeWaiver,
    Replacement,
    Points,
}

impl RemedyKind {
    pub const ALL: [RemedyKind; 5] = [
        RemedyKind::Credit,
        RemedyKind::Refund,
        RemedyKind::FeeWaiver,
        RemedyKind::Replacement,
        RemedyKind::Points,
    ];

    /// Reads the name used in playbook files (`fee_waiver`; `fee-waiver` is accepted too).
    pub fn parse(input: &str) -> Option<Self> {
        let s = input.trim().to_ascii_lowercase().replace('-', "_");
        RemedyKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RemedyKind::Credit => "credit",
            RemedyKind::Refund => "refund",
            RemedyKind::FeeWaiver => "fee_waiver",
            RemedyKind::Replacement => "replacement",
            RemedyKind::Points => "points",
        }
    }
}

/// How an escalation raised under this playbook is decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EscalationPolicy {
    /// The lowest role that may decide.
    pub approver: Role,
    /// How long the approver has, in seconds; `None`: the configured deadline for the case's
    /// priority.
    pub deadline_secs: Option<i64>,
    pub on_timeout: OnTimeout,
}

/// What happens when nobody decided by the deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// Ask a higher role, with a fresh deadline of the same length.
    NextTier {
        approver: Role,
    },
    /// Grant the requested amount up to `cap` (hundredths of the remedy's unit).
    GrantUpTo {
        cap: Money,
    },
    Deny,
}

/// A playbook that fits a text, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlaybookMatch {
    pub id: String,
    pub score: u32,
    /// The part of `score` that comes from similarity with the playbook's examples,
    /// keywords and title (0..=100).
    pub similarity: u32,
    /// For agents, e.g. `matched: "flat tire", "roadside"`.
    pub reasons: Vec<String>,
}

/// A ready-to-edit suggestion for a case.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    pub playbook: String,
    pub title: String,
    pub score: u32,
    /// The part of `score` that comes from similarity (0..=100).
    pub similarity: u32,
    pub reasons: Vec<String>,
    pub reply: String,
    pub steps: Vec<String>,
    pub remedies: Vec<RemedyGrant>,
}

/// What the current actor may grant of one remedy.
#[derive(Debug, Clone, Serialize)]
pub struct RemedyGrant {
    pub kind: RemedyKind,
    pub label: String,
    pub unit: String,
    /// The most the actor may grant alone (hundredths of `unit`).
    pub self_limit: Money,
    /// Who must approve more than `self_limit`.
    pub approver: Role,
    /// E.g. "Rental credit: you may grant up to 50 USD yourself; above needs supervisor approval".
    pub summary: String,
}

/// A checked set of playbooks with all triggers compiled together. `Send + Sync`; cheap to clone.
#[derive(Debug, Clone)]
pub struct PlaybookSet {
    playbooks: Vec<Playbook>,
    by_id: HashMap<String, usize>,
    fallback: Option<usize>,
    matcher: Arc<Matcher>,
    /// Every playbook's exclusions, compiled together like the triggers.
    excluder: Arc<Matcher>,
    similar: Arc<Similar>,
    /// Per playbook, the line of each example in its file (for warnings).
    example_lines: Arc<Vec<Vec<usize>>>,
    /// Per playbook, its place in id order (a ranking breaks ties by id).
    id_rank: Arc<Vec<u32>>,
    build_warnings: Arc<Vec<PlaybookError>>,
    min_similarity: f32,
    /// `false`: triggers only, as carebot matched before similarity (for comparisons).
    use_similarity: bool,
    env: Arc<Environment<'static>>,
}

impl PlaybookSet {
    /// Loads every `*.toml` in `dir`, sorted by file name. Any problem refuses the whole set.
    pub fn load_dir(dir: &Path) -> Result<Self, PlaybookErrors> {
        let dir_name = dir.display().to_string();
        let refuse = |message: String| {
            PlaybookErrors(vec![PlaybookError {
                file: dir_name.clone(),
                line: None,
                message,
            }])
        };
        let entries = std::fs::read_dir(dir).map_err(|e| {
            refuse(format!(
                "cannot read the playbook folder ({e}) — check the path and its permissions"
            ))
        })?;
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|e| {
                    refuse(format!(
                        "cannot list the playbook folder ({e}) — check its permissions"
                    ))
                })?
                .path();
            if path.extension().is_some_and(|ext| ext == "toml") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        if paths.is_empty() {
            return Err(refuse(
                "no playbooks (*.toml) in this folder — point to the playbooks folder".into(),
            ));
        }
        let mut sources = Vec::new();
        let mut errors = Vec::new();
        for path in paths {
            let file = path.display().to_string();
            match std::fs::read_to_string(&path) {
                Ok(text) => sources.push((file, text)),
                Err(e) => errors.push(PlaybookError {
                    file,
                    line: None,
                    message: format!(
                        "cannot read this file ({e}) — check that it is UTF-8 text and readable"
                    ),
                }),
            }
        }
        match Self::from_sources(&sources) {
            Ok(set) if errors.is_empty() => Ok(set),
            Ok(_) => Err(PlaybookErrors(errors)),
            Err(PlaybookErrors(more)) => {
                errors.extend(more);
                Err(PlaybookErrors(errors))
            }
        }
    }

    /// Builds a set from `(file name, text)` pairs, checking each file and the set as a whole.
    pub fn from_sources(sources: &[(String, String)]) -> Result<Self, PlaybookErrors> {
        let mut env = template::environment();
        let mut errors = Vec::new();
        let mut parsed: Vec<Parsed> = Vec::new();
        for (file, text) in sources {
            let mut check = FileCheck::new(file, text);
            let one = load::parse_file(&mut check, text, &mut env);
            errors.append(&mut check.errors);
            parsed.extend(one);
        }

        let mut first_seen: HashMap<&str, &Parsed> = HashMap::new();
        let mut first_fallback: Option<&Parsed> = None;
        for p in &parsed {
            let pb = &p.playbook;
            if let Some(first) = first_seen.get(pb.id.as_str()) {
                errors.push(PlaybookError {
                    file: pb.file.clone(),
                    line: p.id_line,
                    message: format!(
                        "duplicate id `{}`, already used in {}{} — give each playbook its own id",
                        pb.id,
                        first.playbook.file,
                        first.id_line.map(|l| format!(":{l}")).unwrap_or_default()
                    ),
                });
            } else {
                first_seen.insert(&pb.id, p);
            }
            if pb.fallback {
                match first_fallback {
                    Some(first) => errors.push(PlaybookError {
                        file: pb.file.clone(),
                        line: p.fallback_line,
                        message: format!(
                            "a second fallback playbook; `{}` in {} is already the fallback — keep `fallback = true` in one playbook only",
                            first.playbook.id, first.playbook.file
                        ),
                    }),
                    None => first_fallback = Some(p),
                }
            }
        }
        if !errors.is_empty() {
            return Err(PlaybookErrors(errors));
        }

        let matcher = Matcher::build(load::triggers_of(&parsed)).map_err(|e| {
            PlaybookErrors(vec![PlaybookError {
                file: sources.first().map(|(f, _)| f.clone()).unwrap_or_default(),
                line: None,
                message: format!("the triggers of all playbooks together are too large to compile ({e}) — remove very broad patterns"),
            }])
        })?;
        let exclusions = parsed
            .iter()
            .enumerate()
            .flat_map(|(i, p)| examples::exclusion_triggers(&p.samples, i))
            .collect();
        let excluder = Matcher::build(exclusions).map_err(|e| {
            PlaybookErrors(vec![PlaybookError {
                file: sources.first().map(|(f, _)| f.clone()).unwrap_or_default(),
                line: None,
                message: format!("the exclusions of all playbooks together are too large to compile ({e}) — remove very broad patterns"),
            }])
        })?;
        let (similar, build_warnings) = rank::build_similar(&parsed);
        let example_lines = parsed
            .iter()
            .map(|p| p.samples.examples.iter().map(|e| e.line).collect())
            .collect();
        let playbooks: Vec<Playbook> = parsed.into_iter().map(|p| p.playbook).collect();
        let by_id = playbooks
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        let fallback = playbooks.iter().position(|p| p.fallback);
        let mut by_id_order: Vec<usize> = (0..playbooks.len()).collect();
        by_id_order.sort_by(|&a, &b| playbooks[a].id.cmp(&playbooks[b].id));
        let mut id_rank = vec![0u32; playbooks.len()];
        for (rank, &i) in by_id_order.iter().enumerate() {
            id_rank[i] = rank as u32;
        }
        Ok(PlaybookSet {
            playbooks,
            by_id,
            fallback,
            matcher: Arc::new(matcher),
            excluder: Arc::new(excluder),
            similar: Arc::new(similar),
            example_lines: Arc::new(example_lines),
            id_rank: Arc::new(id_rank),
            build_warnings: Arc::new(build_warnings),
            min_similarity: DEFAULT_MIN_SIMILARITY,
            use_similarity: true,
            env: Arc::new(env),
        })
    }

    /// The same set with another minimum similarity for suggesting a playbook without a
    /// matched trigger (`[cases] min_similarity`; 0..1).
    pub fn with_min_similarity(mut self, min_similarity: f32) -> Self {
        self.min_similarity = min_similarity;
        self
    }

    /// The minimum similarity in force.
    pub fn min_similarity(&self) -> f32 {
        self.min_similarity
    }

    /// The same set matching by explicit triggers only, without similarity or exclusions:
    /// how carebot matched before, kept to measure the difference.
    pub fn triggers_only(&self) -> Self {
        PlaybookSet {
            use_similarity: false,
            ..self.clone()
        }
    }

    /// All playbooks, in file-name order.
    pub fn playbooks(&self) -> &[Playbook] {
        &self.playbooks
    }

    /// Whether a playbook triggers only for some customer segments, so that a post's ranking
    /// depends on its author's segment.
    pub fn limits_segments(&self) -> bool {
        self.playbooks.iter().any(|p| !p.triggers.segments.is_empty())
    }

    pub fn get(&self, id: &str) -> Option<&Playbook> {
        self.by_id.get(id).map(|&i| &self.playbooks[i])
    }

    /// The playbook used when nothing else matches, if the set has one.
    pub fn fallback(&self) -> Option<&Playbook> {
        self.fallback.map(|i| &self.playbooks[i])
    }

    /// The reply template of playbook `id` rendered with `vars` (a failure is said in the text).
    pub fn render_reply(&self, id: &str, vars: &TemplateVars) -> String {
        template::render(&self.env, id, vars)
            .unwrap_or_else(|e| format!("(the reply template of `{id}` failed to render: {e})"))
    }

    /// The top `limit` matches of [`classify`](Self::classify), each with its reply rendered
    /// from `vars` (`case.category` set to the playbook id) and what `role` may grant a
    /// customer of `segment`.
    pub fn suggest(
        &self,
        text: &str,
        network: &Network,
        segment: Segment,
        role: Role,
        vars: &TemplateVars,
        limit: usize,
    ) -> Vec<Suggestion> {
        let matches = self.classify_top(text, network, segment, limit);
        self.suggestions_of(matches, segment, role, vars)
    }

    /// [`suggest`](Self::suggest) from matches already ranked for a customer of `segment`
    /// (one ranking of a post serves its triage and its suggestions).
    pub fn suggestions_of(
        &self,
        matches: Vec<PlaybookMatch>,
        segment: Segment,
        role: Role,
        vars: &TemplateVars,
    ) -> Vec<Suggestion> {
        matches
            .into_iter()
            .filter_map(|m| {
                let pb = self.get(&m.id)?;
                let mut vars = vars.clone();
                vars.case.category = pb.id.clone();
                let reply = self.render_reply(&pb.id, &vars);
                let remedies = pb
                    .remedies
                    .iter()
                    .map(|r| grant(r, &pb.escalation, role, segment))
                    .collect();
                Some(Suggestion {
                    playbook: pb.id.clone(),
                    title: pb.title.clone(),
                    score: m.score,
                    similarity: m.similarity,
                    reasons: m.reasons,
                    reply,
                    steps: pb.steps.clone(),
                    remedies,
                })
            })
            .collect()
    }
}

/// What `role` may do with `remedy` for a customer of `segment`.
pub fn grant(remedy: &Remedy, escalation: &EscalationPolicy, role: Role, segment: Segment) -> RemedyGrant {
    let self_limit = remedy.limit_for(role, segment);
    // Nobody approves their own request: at or above the approver role, the next role decides.
    let approver = if role < escalation.approver {
        escalation.approver
    } else {
        Role::ALL.into_iter().find(|r| *r > role).unwrap_or(Role::Admin)
    };
    let above = if role == Role::Admin {
        "another admin's approval".to_string()
    } else {
        format!("{approver} approval")
    };
    let summary = if self_limit == Money(0) {
        format!("{}: needs {above} for any amount", remedy.label)
    } else {
        format!(
            "{}: you may grant up to {} {} yourself; above needs {above}",
            remedy.label, self_limit, remedy.unit
        )
    };
    RemedyGrant {
        kind: remedy.kind,
        label: remedy.label.clone(),
        unit: remedy.unit.clone(),
        self_limit,
        approver,
        summary,
    }
}

fn shorten(s: &str, max_chars: usize) -> String {
    // A character is at least one byte: most texts are short enough without counting.
    if s.len() <= max_chars || s.chars().count() <= max_chars {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max_chars).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> PlaybookSet {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
        PlaybookSet::load_dir(&dir).unwrap_or_else(|e| panic!("shipped playbooks must load:\n{e}"))
    }

    fn twitter() -> Network {
        Network::parse("twitter").unwrap()
    }

    fn top(set: &PlaybookSet, text: &str) -> String {
        set.classify(text, &twitter(), Segment::Standard)[0].id.clone()
    }

    const MINIMAL: &str = r#"
id = "a"
title = "A"
[triggers]
keywords = ["alpha"]
[reply]
template = "Hi {{ customer.name }}"
"#;

    fn source(file: &str, text: &str) -> (String, String) {
        (file.to_string(), text.to_string())
    }

    #[test]
    fn the_shipped_library_loads_with_one_fallback() {
        let set = shipped();
        assert!(
            set.playbooks().len() >= 9,
            "only {} playbooks",
            set.playbooks().len()
        );
        assert_eq!(set.playbooks().iter().filter(|p| p.fallback).count(), 1);
        assert_eq!(set.fallback().unwrap().id, "general");
        assert!(set
            .get("roadside-breakdown")
            .unwrap()
            .file
            .ends_with("playbooks/roadside-breakdown.toml"));
    }

    #[test]
    fn realistic_texts_classify_to_the_expected_playbook() {
        let set = shipped();
        let cases = [
            ("Got a flat tyre in my rental car on the way to a client meeting and roadside just read me a script 🙄", "roadside-breakdown"),
            ("@AcmeRentals stranded on the highway for 2 hours, nobody coming", "roadside-breakdown"),
            ("You charged me twice for the same booking. I want my money back", "billing-dispute"),
            ("Just got billed for damage I never did?? @AcmeRentals explain", "billing-dispute"),
            ("checkout keeps failing on your site, third time now", "checkout-outage"),
            ("Error 500 every time I hit pay. Black Friday and your site is down. Great.", "checkout-outage"),
            ("your promo code is not working and the flash sale sold out in seconds", "flash-sale-failure"),
            ("all my loyalty points expired without any warning", "loyalty-points-expiry"),
            ("Where is my order?? tracking hasn't updated in 6 days", "shipping-delay"),
            ("The cashier was so rude to me today, complete attitude", "rude-staff"),
            ("Huge shout-out to the team at the airport desk, amazing service!", "praise"),
            ("Do you have a store in Lisbon?", "general"),
        ];
        for (text, expected) in cases {
            assert_eq!(top(&set, text), expected, "text: {text}");
        }
    }

    #[test]
    fn reasons_list_the_matched_triggers() {
        let set = shipped();
        let m = &set.classify(
            "flat tire on the side of the road, roadside never came",
            &twitter(),
            Segment::Vip,
        )[0];
        assert_eq!(m.id, "roadside-breakdown");
        let reason = &m.reasons[0];
        assert!(reason.starts_with("matched: "), "{reason}");
        assert!(
            reason.contains("\"flat tire\"") && reason.contains("\"roadside\""),
            "{reason}"
        );
        assert_eq!(m.score - m.similarity, 2 * KEYWORD_SCORE);
    }

    #[test]
    fn patterns_are_explained_by_the_text_they_matched_and_score_more() {
        let set = PlaybookSet::from_sources(&[source(
            "p.toml",
            "id = \"p\"\ntitle = \"P\"\n[triggers]\npatterns = ['stranded\\b.*\\b(highway|road)']\n[reply]\ntemplate = \"x\"\n",
        )])
        .unwrap();
        let m = &set.classify("I'm STRANDED on the highway 😭", &twitter(), Segment::Standard)[0];
        assert_eq!(m.score, PATTERN_SCORE);
        assert_eq!(
            m.reasons,
            vec!["matched: \"STRANDED on the highway\"".to_string()]
        );
    }

    #[test]
    fn ties_are_broken_by_id_and_better_scores_come_first() {
        let b = MINIMAL.replace("id = \"a\"", "id = \"b\"");
        let c = MINIMAL
            .replace("id = \"a\"", "id = \"c\"")
            .replace("[\"alpha\"]", "[\"alpha\", \"beta\"]");
        let set = PlaybookSet::from_sources(&[
            source("b.toml", &b),
            source("a.toml", MINIMAL),
            source("c.toml", &c),
        ])
        .unwrap();
        let ids: Vec<_> = set
            .classify("alpha beta", &twitter(), Segment::Standard)
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, ["c", "a", "b"]);
    }

    #[test]
    fn the_best_few_are_the_head_of_the_whole_ranking() {
        let set = shipped();
        let text = "my rental car broke down and you still charged me twice, the agent was rude";
        let all = set.classify(text, &twitter(), Segment::Standard);
        assert!(all.len() > 2, "{all:?}");
        for limit in [0, 1, 2, all.len() + 5] {
            let top = set.classify_top(text, &twitter(), Segment::Standard, limit);
            assert_eq!(top, all[..limit.min(all.len())], "limit {limit}");
        }
        assert_eq!(
            set.classify_top("hello there", &twitter(), Segment::Standard, 1),
            set.classify("hello there", &twitter(), Segment::Standard)[..1]
        );
        // The index is told to skip playbooks that cannot rank in the first `limit`: every
        // example of the shipped set, each a post that many playbooks are similar to.
        for example in set.playbooks().iter().flat_map(|p| &p.triggers.examples) {
            let all = set.classify(example, &twitter(), Segment::Standard);
            for limit in 1..=3 {
                let top = set.classify_top(example, &twitter(), Segment::Standard, limit);
                assert_eq!(top, all[..limit.min(all.len())], "{example:?}, limit {limit}");
            }
        }
    }

    #[test]
    fn network_and_segment_filters_apply() {
        let only = MINIMAL.replace(
            "[\"alpha\"]",
            "[\"alpha\"]\nnetworks = [\"facebook\"]\nsegments = [\"vip\"]",
        );
        let set = PlaybookSet::from_sources(&[source("a.toml", &only)]).unwrap();
        let fb = Network::parse("fb").unwrap();
        assert_eq!(set.classify("alpha", &fb, Segment::Vip).len(), 1);
        assert!(set.classify("alpha", &twitter(), Segment::Vip).is_empty());
        assert!(set.classify("alpha", &fb, Segment::Standard).is_empty());
    }

    #[test]
    fn nothing_matched_gives_the_fallback_with_score_zero() {
        let set = shipped();
        let got = set.classify("hello there", &twitter(), Segment::Standard);
        assert_eq!(
            got,
            vec![PlaybookMatch {
                id: "general".into(),
                score: 0,
                similarity: 0,
                reasons: vec!["no trigger matched and nothing is similar enough: fallback".into()]
            }]
        );
        let no_fallback = PlaybookSet::from_sources(&[source("a.toml", MINIMAL)]).unwrap();
        assert!(no_fallback
            .classify("hello", &twitter(), Segment::Standard)
            .is_empty());
    }

    #[test]
    fn limits_depend_on_role_and_segment() {
        let set = shipped();
        let credit = set
            .get("roadside-breakdown")
            .unwrap()
            .remedies
            .iter()
            .find(|r| r.label == "Rental credit")
            .unwrap();
        assert_eq!(credit.limit_for(Role::Agent, Segment::Standard), Money(5_000));
        assert_eq!(credit.limit_for(Role::Senior, Segment::Standard), Money(15_000));
        assert_eq!(
            credit.limit_for(Role::Supervisor, Segment::Promising),
            Money(50_000)
        );
        assert_eq!(credit.limit_for(Role::Admin, Segment::Standard), Money(50_000));
        assert_eq!(credit.limit_for(Role::Agent, Segment::Vip), Money(10_000));
        assert_eq!(credit.limit_for(Role::Admin, Segment::Vip), Money(100_000));
    }

    #[test]
    fn omitted_roles_inherit_the_limit_below_and_agents_default_to_zero() {
        let text = format!(
            "{MINIMAL}[[remedies]]\nkind = \"credit\"\nlabel = \"C\"\n[remedies.limits]\nsenior = 20.5\n[escalation]\napprover = \"supervisor\"\ndeadline = \"4h\"\non_timeout = \"deny\"\n"
        );
        let set = PlaybookSet::from_sources(&[source("a.toml", &text)]).unwrap();
        let r = &set.get("a").unwrap().remedies[0];
        assert_eq!(r.unit, "USD");
        assert_eq!(r.limit_for(Role::Agent, Segment::Vip), Money(0));
        assert_eq!(r.limit_for(Role::Senior, Segment::Vip), Money(2_050));
        assert_eq!(r.limit_for(Role::Admin, Segment::Standard), Money(2_050));
    }

    #[test]
    fn suggestions_render_the_reply_and_say_what_the_agent_may_grant() {
        let set = shipped();
        let mut vars = TemplateVars::sample();
        vars.customer.name = "Dana".into();
        vars.agent.name = "Priya".into();
        vars.case.id = "#41".into();
        let s = set.suggest(
            "flat tyre, rental car, stranded on the road",
            &twitter(),
            Segment::Standard,
            Role::Agent,
            &vars,
            3,
        );
        assert_eq!(s[0].playbook, "roadside-breakdown");
        assert!(s[0].reply.starts_with("Hi Dana, I'm so sorry"), "{}", s[0].reply);
        assert!(
            s[0].reply.contains("I'm Priya") && s[0].reply.contains("#41"),
            "{}",
            s[0].reply
        );
        assert!(
            !s[0].reply.contains('\n'),
            "line continuations are joined: {}",
            s[0].reply
        );
        let credit = s[0].remedies.iter().find(|r| r.label == "Rental credit").unwrap();
        assert_eq!(credit.self_limit, Money(5_000));
        assert_eq!(credit.approver, Role::Supervisor);
        assert_eq!(
            credit.summary,
            "Rental credit: you may grant up to 50 USD yourself; above needs supervisor approval"
        );
        assert!(s.len() <= 3);
    }

    #[test]
    fn the_category_variable_is_the_suggested_playbook() {
        let text = MINIMAL.replace("Hi {{ customer.name }}", "cat={{ case.category }}");
        let set = PlaybookSet::from_sources(&[source("a.toml", &text)]).unwrap();
        let s = set.suggest(
            "alpha",
            &twitter(),
            Segment::Standard,
            Role::Agent,
            &TemplateVars::default(),
            1,
        );
        assert_eq!(s[0].reply, "cat=a");
    }

    #[test]
    fn an_approver_asking_for_more_needs_the_next_role() {
        let set = shipped();
        let pb = set.get("billing-dispute").unwrap();
        let g = grant(&pb.remedies[0], &pb.escalation, Role::Supervisor, Segment::Vip);
        assert_eq!(g.approver, Role::Admin);
        assert_eq!(g.summary, "Refund of the disputed charge: you may grant up to 2000 USD yourself; above needs admin approval");
        let zero = Remedy {
            limits: BTreeMap::new(),
            ..pb.remedies[0].clone()
        };
        let g = grant(&zero, &pb.escalation, Role::Agent, Segment::Standard);
        assert_eq!(
            g.summary,
            "Refund of the disputed charge: needs supervisor approval for any amount"
        );
    }

    #[test]
    fn escalation_policies_are_read() {
        let set = shipped();
        let road = &set.get("roadside-breakdown").unwrap().escalation;
        assert_eq!(road.deadline_secs, Some(2 * 3600));
        assert_eq!(road.on_timeout, OnTimeout::GrantUpTo { cap: Money(15_000) });
        let billing = &set.get("billing-dispute").unwrap().escalation;
        assert_eq!(
            billing.on_timeout,
            OnTimeout::NextTier {
                approver: Role::Admin
            }
        );
    }

    #[test]
    fn a_playbook_set_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PlaybookSet>();
    }
}
