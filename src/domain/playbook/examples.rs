//! A playbook's `examples` (sample posts) and `exclude` / `exclude_patterns` (vetoes):
//! how they are read and checked.

use regex::Regex;

use super::load::{FileCheck, RawTriggers};
use super::matcher::{pattern_regex, Matcher, Trigger, TriggerKind};

/// The longest example accepted, in characters: an example is one post, not an essay.
pub const MAX_EXAMPLE_CHARS: usize = 1_000;

/// One example as written, with its line in the playbook file.
#[derive(Debug, Clone)]
pub(crate) struct Example {
    pub text: String,
    pub line: usize,
}

/// A playbook's checked examples and exclusions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples {
    pub examples: Vec<Example>,
    pub exclude: Vec<String>,
    pub exclude_patterns: Vec<(String, Regex)>,
}

/// The exclusions of one playbook as matcher triggers (all for playbook `playbook`).
pub(crate) fn exclusion_triggers(samples: &Samples, playbook: usize) -> Vec<Trigger> {
    let keywords = samples.exclude.iter().map(|k| Trigger {
        playbook,
        kind: TriggerKind::Keyword,
        text: k.clone(),
        regex: None,
    });
    let patterns = samples.exclude_patterns.iter().map(|(p, re)| Trigger {
        playbook,
        kind: TriggerKind::Pattern,
        text: p.clone(),
        regex: Some(re.clone()),
    });
    keywords.chain(patterns).collect()
}

/// Checks `examples`, `exclude` and `exclude_patterns`; `None` if any is wrong (each
/// problem is recorded in `check` with its line).
pub(crate) fn check_samples(check: &mut FileCheck<'_>, t: &RawTriggers) -> Option<Samples> {
    let before = check.errors.len();
    let mut samples = Samples::default();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for e in &t.examples {
        let line = check.line_at(e.span().start);
        let text = e.get_ref().trim();
        let chars = text.chars().count();
        if text.is_empty() {
            check.at(
                Some(e.span()),
                "empty example — remove it or write a post as a customer would".into(),
            );
            continue;
        }
        if chars > MAX_EXAMPLE_CHARS {
            check.at(
                Some(e.span()),
                format!("example of {chars} characters; at most {MAX_EXAMPLE_CHARS} — an example is one post, shorten it"),
            );
            continue;
        }
        let key = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
            check.at(
                Some(e.span()),
                format!("duplicate example, the same as line {first} — remove one or write another post"),
            );
            continue;
        }
        seen.push((key, line));
        samples.examples.push(Example {
            text: text.to_string(),
            line,
        });
    }
    let mut exclusion_lines = Vec::new();
    for k in &t.exclude {
        let text = k.get_ref().split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            check.at(
                Some(k.span()),
                "empty exclusion — remove it or write the words that veto this playbook".into(),
            );
        } else if !samples.exclude.iter().any(|s| s.eq_ignore_ascii_case(&text)) {
            samples.exclude.push(text);
            exclusion_lines.push(check.line_at(k.span().start));
        }
    }
    for p in &t.exclude_patterns {
        match Regex::new(&pattern_regex(p.get_ref())) {
            Ok(re) if p.get_ref().is_empty() || re.is_match("") => check.at(
                Some(p.span()),
                format!("exclusion pattern '{}' matches every text, so it vetoes this playbook always — make it require some words", p.get_ref()),
            ),
            Ok(re) => {
                samples.exclude_patterns.push((p.get_ref().clone(), re));
                exclusion_lines.push(check.line_at(p.span().start));
            }
            Err(e) => {
                let why = e.to_string().lines().last().unwrap_or("invalid").trim().to_string();
                check.at(
                    Some(p.span()),
                    format!("exclusion pattern '{}' is not a valid regex ({why}) — fix it; write it in 'single quotes'", p.get_ref()),
                );
            }
        }
    }
    if check.errors.len() > before {
        return None;
    }
    vetoes_of_own_examples(check, &samples, &exclusion_lines);
    (check.errors.len() == before).then_some(samples)
}

/// An exclusion that matches one of the playbook's own examples would hide the playbook
/// exactly where it applies: refused at the exclusion's line.
fn vetoes_of_own_examples(check: &mut FileCheck<'_>, samples: &Samples, exclusion_lines: &[usize]) {
    if samples.examples.is_empty() || exclusion_lines.is_empty() {
        return;
    }
    let triggers = exclusion_triggers(samples, 0);
    let Ok(matcher) = Matcher::build(triggers) else {
        check.at(
            None,
            "the exclusions are too large to compile — remove very broad patterns".into(),
        );
        return;
    };
    let mut reported = vec![false; exclusion_lines.len()];
    for example in &samples.examples {
        for hit in matcher.hits(&example.text) {
            for t in hit.triggers.iter().map(|m| m.trigger) {
                if std::mem::replace(&mut reported[t], true) {
                    continue;
                }
                let message = format!(
                    "exclusion {:?} vetoes this playbook's own example at line {} — narrow the exclusion or reword the example",
                    matcher.trigger(t).text,
                    example.line
                );
                check.at_line(exclusion_lines[t], message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PlaybookError, PlaybookSet};
    use crate::domain::{Network, Segment};

    const BASE: &str = "id = \"billing\"\ntitle = \"Billing dispute\"\n[triggers]\nkeywords = [\"refund\"]\n";
    const REPLY: &str = "[reply]\ntemplate = \"Hi\"\n";

    fn load(triggers: &str) -> Result<PlaybookSet, Vec<PlaybookError>> {
        let text = format!("{BASE}{triggers}\n{REPLY}");
        PlaybookSet::from_sources(&[("billing.toml".to_string(), text)]).map_err(|e| e.0)
    }

    fn one_error(triggers: &str, line: usize, needle: &str) {
        let errors = load(triggers).err().unwrap_or_default();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, Some(line), "{errors:?}");
        assert!(errors[0].message.contains(needle), "{}", errors[0].message);
        assert!(errors[0]
            .to_string()
            .starts_with(&format!("billing.toml:{line}: ")));
    }

    #[test]
    fn empty_long_and_duplicate_examples_are_refused_at_their_line() {
        one_error(
            "examples = [\n  \"charged me twice\",\n  \"  \",\n]",
            7,
            "empty example",
        );
        let long = "a".repeat(1_001);
        one_error(
            &format!("examples = [\n  \"{long}\",\n]"),
            6,
            "1001 characters; at most 1000",
        );
        one_error(
            "examples = [\n  \"charged me twice\",\n  \"Charged  me TWICE\",\n]",
            7,
            "duplicate example, the same as line 6",
        );
    }

    #[test]
    fn an_exclusion_that_vetoes_an_own_example_is_refused_at_the_exclusion() {
        one_error(
            "examples = [\"thanks for nothing, still no refund\"]\nexclude = [\"thanks\"]",
            6,
            "exclusion \"thanks\" vetoes this playbook's own example at line 5",
        );
        one_error("exclude_patterns = ['(']", 5, "not a valid regex");
        one_error("exclude_patterns = ['.*']", 5, "matches every text");
    }

    #[test]
    fn an_exclusion_vetoes_the_playbook_for_a_post() {
        let set =
            load("exclude = [\"thank you\"]\nexclude_patterns = ['love (the|your) (staff|team)']").unwrap();
        let tw = Network::parse("twitter").unwrap();
        assert_eq!(
            set.classify("where is my refund", &tw, Segment::Standard)[0].id,
            "billing"
        );
        assert!(set
            .classify("thank you for the quick refund!", &tw, Segment::Standard)
            .is_empty());
        assert!(set
            .classify("Refund done, love the team", &tw, Segment::Standard)
            .is_empty());
        // The old matcher knows no exclusions.
        assert_eq!(
            set.triggers_only()
                .classify("thank you for the refund", &tw, Segment::Standard)
                .len(),
            1
        );
    }

    #[test]
    fn a_playbook_may_be_found_by_its_examples_alone() {
        let set = load("examples = [\"you billed my card after I cancelled\"]").unwrap();
        let tw = Network::parse("twitter").unwrap();
        let got = set.classify(
            "still billing my card after i cancelled??",
            &tw,
            Segment::Standard,
        );
        assert_eq!(got[0].id, "billing");
        assert!(got[0].similarity > 0 && got[0].score == got[0].similarity);
        assert!(
            got[0].reasons[0].starts_with("similar to example \"you billed my card after I cancelled\" ("),
            "{:?}",
            got[0].reasons
        );
        assert!(got[0].reasons[0].contains("card") && got[0].reasons[0].contains("cancelled"));
    }

    #[test]
    fn an_example_another_playbook_wins_is_a_warning_with_its_line() {
        let other = "id = \"praise\"\ntitle = \"Praise\"\n[triggers]\nkeywords = [\"thank you\", \"lovely\"]\nexamples = [\"thank you, lovely staff!!\"]\n[reply]\ntemplate = \"x\"\n";
        let text =
            format!("{BASE}examples = [\n  \"thank you, lovely staff\",\n  \"charged twice\",\n]\n{REPLY}");
        let set = PlaybookSet::from_sources(&[
            ("billing.toml".into(), text),
            ("praise.toml".into(), other.into()),
        ])
        .unwrap();
        let warnings = set.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].line, Some(6));
        assert!(
            warnings[0].message.contains("`praise` comes first"),
            "{}",
            warnings[0].message
        );
    }
}
