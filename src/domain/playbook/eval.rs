//! Measuring a playbook set against labelled posts: top-1 and top-3 accuracy, precision and
//! recall per playbook, the confusions, and each miss with what won and why.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::load::PlaybookError;
use super::PlaybookSet;
use crate::domain::types::{CaseId, Network, Segment};

/// One labelled post: the playbook a person says it should get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    pub text: String,
    pub network: Network,
    /// A playbook id of the set.
    pub expected: String,
    /// Where it came from, e.g. `tests/data/suggestions.jsonl:12` or `case #41`.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLabelled {
    text: String,
    #[serde(default)]
    network: Option<String>,
    expected: String,
}

/// Reads JSON Lines `{"text": ..., "network": ..., "expected": "playbook-id"}` (`network`
/// optional, default twitter; blank lines skipped). Every bad line is reported with its
/// number, including ids that are not playbooks of `set`.
pub fn parse_labelled(
    file: &str,
    text: &str,
    set: &PlaybookSet,
) -> Result<Vec<Labelled>, Vec<PlaybookError>> {
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let error = |line: usize, message: String| PlaybookError {
        file: file.to_string(),
        line: Some(line),
        message,
    };
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let parsed: RawLabelled = match serde_json::from_str(raw) {
            Ok(p) => p,
            Err(e) => {
                errors.push(error(
                    line,
                    format!("not a labelled post ({e}) — write {{\"text\": \"...\", \"network\": \"twitter\", \"expected\": \"playbook-id\"}}"),
                ));
                continue;
            }
        };
        let network = match Network::parse(parsed.network.as_deref().unwrap_or("twitter")) {
            Ok(n) => n,
            Err(e) => {
                errors.push(error(line, format!("unknown network — {}", e.hint)));
                continue;
            }
        };
        if set.get(&parsed.expected).is_none() {
            let known: Vec<&str> = set.playbooks().iter().map(|p| p.id.as_str()).collect();
            errors.push(error(
                line,
                format!(
                    "unknown playbook id `{}` — use one of: {}",
                    parsed.expected,
                    known.join(", ")
                ),
            ));
            continue;
        }
        items.push(Labelled {
            text: parsed.text,
            network,
            expected: parsed.expected,
            source: format!("{file}:{line}"),
        });
    }
    if errors.is_empty() {
        Ok(items)
    } else {
        Err(errors)
    }
}

/// How a set did on labelled posts. Field names are stable (`playbooks eval --json`).
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub posts: usize,
    /// Posts whose expected playbook was suggested first.
    pub top1: usize,
    /// Posts whose expected playbook was among the first three.
    pub top3: usize,
    pub top1_accuracy: f64,
    pub top3_accuracy: f64,
    pub playbooks: Vec<PlaybookScore>,
    /// Expected -> suggested first, most frequent first.
    pub confusions: Vec<Confusion>,
    pub misses: Vec<Miss>,
}

/// Precision and recall of one playbook as the first suggestion.
#[derive(Debug, Clone, Serialize)]
pub struct PlaybookScore {
    pub id: String,
    /// Posts labelled with it.
    pub expected: usize,
    /// Posts it was suggested first for.
    pub suggested: usize,
    /// Posts labelled with it and suggested first.
    pub correct: usize,
    /// `correct / suggested` (1 when never suggested).
    pub precision: f64,
    /// `correct / expected` (1 when never expected).
    pub recall: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Confusion {
    pub expected: String,
    pub got: String,
    pub count: usize,
}

/// A post whose expected playbook was not suggested first.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub source: String,
    pub text: String,
    pub expected: String,
    /// 1-based place of the expected playbook in the suggestions, if it was there at all.
    pub expected_rank: Option<usize>,
    pub got: String,
    pub got_score: u32,
    pub why: Vec<String>,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// Classifies every post with `set` (standard segment) and compares with its label.
pub fn evaluate(set: &PlaybookSet, items: &[Labelled]) -> EvalReport {
    let mut counts: BTreeMap<&str, (usize, usize, usize)> = set
        .playbooks()
        .iter()
        .map(|p| (p.id.as_str(), (0, 0, 0)))
        .collect();
    let mut confusions: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut misses = Vec::new();
    let (mut top1, mut top3) = (0, 0);
    for item in items {
        let ranked = set.classify(&item.text, &item.network, Segment::Standard);
        let rank = ranked.iter().position(|m| m.id == item.expected);
        let first = ranked.first();
        let got = first.map(|m| m.id.clone()).unwrap_or_default();
        if let Some(c) = counts.get_mut(item.expected.as_str()) {
            c.0 += 1;
        }
        if let Some(c) = counts.get_mut(got.as_str()) {
            c.1 += 1;
        }
        if rank == Some(0) {
            top1 += 1;
            if let Some(c) = counts.get_mut(got.as_str()) {
                c.2 += 1;
            }
        } else {
            *confusions
                .entry((item.expected.clone(), got.clone()))
                .or_default() += 1;
            misses.push(Miss {
                source: item.source.clone(),
                text: item.text.clone(),
                expected: item.expected.clone(),
                expected_rank: rank.map(|r| r + 1),
                got,
                got_score: first.map(|m| m.score).unwrap_or(0),
                why: first.map(|m| m.reasons.clone()).unwrap_or_default(),
            });
        }
        if rank.is_some_and(|r| r < 3) {
            top3 += 1;
        }
    }
    let mut confusions: Vec<Confusion> = confusions
        .into_iter()
        .map(|((expected, got), count)| Confusion { expected, got, count })
        .collect();
    confusions.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.expected.cmp(&b.expected)));
    EvalReport {
        posts: items.len(),
        top1,
        top3,
        top1_accuracy: ratio(top1, items.len()),
        top3_accuracy: ratio(top3, items.len()),
        playbooks: counts
            .into_iter()
            .map(|(id, (expected, suggested, correct))| PlaybookScore {
                id: id.to_string(),
                expected,
                suggested,
                correct,
                precision: ratio(correct, suggested),
                recall: ratio(correct, expected),
            })
            .collect(),
        confusions,
        misses,
    }
}

/// A category an agent chose for a case: by re-categorising it or by using a suggestion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentChoice {
    pub case: CaseId,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// The playbook id chosen.
    pub playbook: String,
    /// `recategorised` or `suggestion_used`.
    pub how: String,
    /// The case's first post, and its network.
    pub text: String,
    pub network: Network,
}

/// The latest choice on each case as a labelled post (choices of playbooks that no longer
/// exist are left out and counted).
pub fn labelled_from_choices(choices: &[AgentChoice], set: &PlaybookSet) -> (Vec<Labelled>, usize) {
    let mut latest: BTreeMap<CaseId, &AgentChoice> = BTreeMap::new();
    for c in choices {
        latest.insert(c.case, c);
    }
    let mut unknown = 0;
    let mut items = Vec::new();
    for c in latest.into_values() {
        if set.get(&c.playbook).is_none() {
            unknown += 1;
            continue;
        }
        items.push(Labelled {
            text: c.text.clone(),
            network: c.network.clone(),
            expected: c.playbook.clone(),
            source: format!("case {} ({} by {})", c.case, c.how, c.actor),
        });
    }
    (items, unknown)
}

/// Candidate examples for a team lead to review: per playbook, the first posts of cases that
/// agents re-categorised into it and that the set does not already rank first there (nor
/// already has as an example).
pub fn candidate_examples(choices: &[AgentChoice], set: &PlaybookSet) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (items, _) = labelled_from_choices(
        &choices
            .iter()
            .filter(|c| c.how == "recategorised")
            .cloned()
            .collect::<Vec<_>>(),
        set,
    );
    for item in items {
        let Some(pb) = set.get(&item.expected) else {
            continue;
        };
        let text = item.text.trim();
        let known = pb.triggers.examples.iter().any(|e| e.eq_ignore_ascii_case(text));
        let first = set.classify(text, &item.network, Segment::Standard);
        let ranked_first = first.first().is_some_and(|m| m.id == item.expected);
        let list = out.entry(item.expected.clone()).or_default();
        if !text.is_empty() && !known && !ranked_first && !list.iter().any(|t| t == text) {
            list.push(text.chars().take(super::MAX_EXAMPLE_CHARS).collect());
        }
    }
    out.retain(|_, v| !v.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> PlaybookSet {
        let pb = |id: &str, kw: &str, fallback: bool| {
            let triggers = if fallback {
                "fallback = true\n".to_string()
            } else {
                format!("[triggers]\nkeywords = [\"{kw}\"]\n")
            };
            (
                format!("{id}.toml"),
                format!("id = \"{id}\"\ntitle = \"{id}\"\n{triggers}[reply]\ntemplate = \"x\"\n"),
            )
        };
        PlaybookSet::from_sources(&[
            pb("billing", "refund", false),
            pb("praise", "thanks", false),
            pb("general", "", true),
        ])
        .unwrap()
    }

    #[test]
    fn bad_lines_and_unknown_ids_are_reported_with_their_line() {
        let text = "{\"text\": \"refund pls\", \"expected\": \"billing\"}\n\nnot json\n{\"text\": \"x\", \"expected\": \"nope\"}\n{\"text\": \"no label\"}\n";
        let errors = parse_labelled("set.jsonl", text, &set()).unwrap_err();
        let lines: Vec<Option<usize>> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [Some(3), Some(4), Some(5)]);
        assert!(errors[1]
            .to_string()
            .starts_with("set.jsonl:4: unknown playbook id `nope` — use one of: billing, praise, general"));
    }

    #[test]
    fn accuracy_precision_recall_and_misses_are_counted() {
        let set = set();
        let text = [
            r#"{"text": "where is my refund", "expected": "billing"}"#,
            r#"{"text": "thanks, and the refund came", "expected": "praise"}"#,
            r#"{"text": "do you sell hats", "expected": "general"}"#,
            r#"{"text": "thanks!", "expected": "praise"}"#,
        ]
        .join("\n");
        let items = parse_labelled("set.jsonl", &text, &set).unwrap();
        let r = evaluate(&set, &items);
        assert_eq!((r.posts, r.top1, r.top3), (4, 3, 4));
        let billing = r.playbooks.iter().find(|p| p.id == "billing").unwrap();
        assert_eq!((billing.expected, billing.suggested, billing.correct), (1, 2, 1));
        assert!((billing.precision - 0.5).abs() < 1e-9 && (billing.recall - 1.0).abs() < 1e-9);
        assert_eq!(r.misses.len(), 1);
        let miss = &r.misses[0];
        assert_eq!(
            (miss.source.as_str(), miss.got.as_str(), miss.expected_rank),
            ("set.jsonl:2", "billing", Some(2))
        );
        assert!(miss.why[0].starts_with("matched: \"refund\""), "{:?}", miss.why);
        assert_eq!(r.confusions[0].count, 1);
    }
}
