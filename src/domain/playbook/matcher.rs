//! Trigger matching: every trigger of every playbook compiled together, so the cost of
//! classifying a mention does not grow with the number of playbooks.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexSet, RegexSetBuilder};

/// Points for a matched keyword.
pub const KEYWORD_SCORE: u32 = 10;
/// Points for a matched pattern (more specific than a keyword, so worth more).
pub const PATTERN_SCORE: u32 = 15;

/// Size limits for the compiled set; generous because the set holds every trigger.
const SET_SIZE_LIMIT: usize = 256 * 1024 * 1024;
/// Lazy DFA cache: large enough that thousands of triggers do not thrash it.
const DFA_CACHE_LIMIT: usize = 64 * 1024 * 1024;

/// What kind of trigger an entry of the set came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TriggerKind {
    Keyword,
    Pattern,
}

/// One entry of the set: which playbook it belongs to and how to explain a match.
#[derive(Debug, Clone)]
pub(crate) struct Trigger {
    pub playbook: usize,
    pub kind: TriggerKind,
    /// The keyword or the pattern as written in the playbook.
    pub text: String,
    /// For patterns only: the single regex, run to quote what matched.
    pub regex: Option<Regex>,
}

/// All triggers of a set of playbooks, compiled once.
///
/// Keywords go through one Aho-Corasick automaton (ASCII case-insensitive, word boundaries
/// checked on each hit); patterns go through one `RegexSet`. Why not everything in the
/// `RegexSet`: with 2,500 word-bounded alternatives its lazy DFA thrashes and a 200-character
/// text took milliseconds; the automaton's cost depends on the text, not the keyword count.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    keywords: AhoCorasick,
    /// Automaton pattern id -> the triggers (of possibly several playbooks) with that keyword.
    keyword_triggers: Vec<Vec<usize>>,
    keyword_bounds: Vec<(bool, bool)>,
    /// Prefixes every match of a pattern must start with (lower-cased), for the patterns
    /// that have them: a hit makes the pattern a candidate, checked with its own regex.
    prefixes: AhoCorasick,
    prefix_triggers: Vec<Vec<usize>>,
    /// Patterns without a usable prefix, all in one set.
    patterns: RegexSet,
    /// `RegexSet` index -> trigger.
    pattern_triggers: Vec<usize>,
    triggers: Vec<Trigger>,
}

/// A playbook that matched, with the indexes of its matched triggers.
pub(crate) struct Hit {
    pub playbook: usize,
    pub score: u32,
    pub triggers: Vec<usize>,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl Matcher {
    /// Compiles `triggers`; every pattern must already have compiled on its own.
    pub fn build(triggers: Vec<Trigger>) -> Result<Self, String> {
        let mut keyword_ids: HashMap<String, usize> = HashMap::new();
        let mut keyword_texts: Vec<String> = Vec::new();
        let mut keyword_triggers: Vec<Vec<usize>> = Vec::new();
        let mut prefix_ids: HashMap<String, usize> = HashMap::new();
        let mut prefix_texts: Vec<String> = Vec::new();
        let mut prefix_triggers: Vec<Vec<usize>> = Vec::new();
        let mut pattern_sources = Vec::new();
        let mut pattern_triggers = Vec::new();
        for (i, t) in triggers.iter().enumerate() {
            match t.kind {
                TriggerKind::Keyword => {
                    let key = t.text.to_ascii_lowercase();
                    let id = *keyword_ids.entry(key.clone()).or_insert_with(|| {
                        keyword_texts.push(key);
                        keyword_triggers.push(Vec::new());
                        keyword_texts.len() - 1
                    });
                    keyword_triggers[id].push(i);
                }
                TriggerKind::Pattern => match required_prefixes(&t.text) {
                    Some(prefixes) => {
                        for p in prefixes {
                            let id = *prefix_ids.entry(p.clone()).or_insert_with(|| {
                                prefix_texts.push(p);
                                prefix_triggers.push(Vec::new());
                                prefix_texts.len() - 1
                            });
                            prefix_triggers[id].push(i);
                        }
                    }
                    None => {
                        pattern_sources.push(pattern_regex(&t.text));
                        pattern_triggers.push(i);
                    }
                },
            }
        }
        let keyword_bounds = keyword_texts
            .iter()
            .map(|k| {
                let b = k.as_bytes();
                (
                    b.first().is_some_and(|&c| is_word_byte(c)),
                    b.last().is_some_and(|&c| is_word_byte(c)),
                )
            })
            .collect();
        let keywords = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&keyword_texts)
            .map_err(|e| e.to_string())?;
        let prefixes = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&prefix_texts)
            .map_err(|e| e.to_string())?;
        let patterns = RegexSetBuilder::new(pattern_sources)
            .size_limit(SET_SIZE_LIMIT)
            .dfa_size_limit(DFA_CACHE_LIMIT)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Matcher {
            keywords,
            keyword_triggers,
            keyword_bounds,
            prefixes,
            prefix_triggers,
            patterns,
            pattern_triggers,
            triggers,
        })
    }

    pub fn trigger(&self, index: usize) -> &Trigger {
        &self.triggers[index]
    }

    /// Every playbook with at least one matched trigger, in order of first match.
    pub fn hits(&self, text: &str, playbook_count: usize) -> Vec<Hit> {
        let mut matched: Vec<usize> = Vec::new();
        let bytes = text.as_bytes();
        for m in self.keywords.find_overlapping_iter(text) {
            let id = m.pattern().as_usize();
            let (start_word, end_word) = self.keyword_bounds[id];
            let starts_clean = !start_word || m.start() == 0 || !is_word_byte(bytes[m.start() - 1]);
            let ends_clean = !end_word || m.end() == bytes.len() || !is_word_byte(bytes[m.end()]);
            if starts_clean && ends_clean {
                matched.extend_from_slice(&self.keyword_triggers[id]);
            }
        }
        if !self.prefix_triggers.is_empty() {
            let mut candidates: Vec<usize> = Vec::new();
            for m in self.prefixes.find_overlapping_iter(text) {
                candidates.extend_from_slice(&self.prefix_triggers[m.pattern().as_usize()]);
            }
            candidates.sort_unstable();
            candidates.dedup();
            for i in candidates {
                if self.triggers[i]
                    .regex
                    .as_ref()
                    .is_some_and(|re| re.is_match(text))
                {
                    matched.push(i);
                }
            }
        }
        if !self.pattern_triggers.is_empty() {
            matched.extend(
                self.patterns
                    .matches(text)
                    .iter()
                    .map(|i| self.pattern_triggers[i]),
            );
        }
        if matched.is_empty() {
            return Vec::new();
        }
        matched.sort_unstable();
        matched.dedup();
        let mut slot: Vec<Option<usize>> = vec![None; playbook_count];
        let mut hits: Vec<Hit> = Vec::new();
        for index in matched {
            let trigger = &self.triggers[index];
            let at = *slot[trigger.playbook].get_or_insert_with(|| {
                hits.push(Hit {
                    playbook: trigger.playbook,
                    score: 0,
                    triggers: Vec::new(),
                });
                hits.len() - 1
            });
            let hit = &mut hits[at];
            hit.score += match trigger.kind {
                TriggerKind::Keyword => KEYWORD_SCORE,
                TriggerKind::Pattern => PATTERN_SCORE,
            };
            hit.triggers.push(index);
        }
        hits
    }
}

/// Literals that every match of `pattern` starts with, lower-cased, or `None` when there is
/// no short, finite set of them (the pattern then goes into the `RegexSet`).
///
/// Why: 500 patterns like `noun\b.*\bproblem` in one `RegexSet` cost about a millisecond per
/// text (every text makes new lazy-DFA states); prefixes found by one automaton, then a
/// few small regexes, cost microseconds. Case: prefixes are matched ASCII case-insensitively,
/// so a pattern matching only through non-ASCII case folding (the Kelvin sign) can be missed.
fn required_prefixes(pattern: &str) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::Extractor;
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(&ascii_word_boundaries(pattern))
        .ok()?;
    let seq = Extractor::new().extract(&hir);
    let literals = seq.literals()?;
    if literals.is_empty() || literals.len() > 64 {
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for lit in literals {
        let text = std::str::from_utf8(lit.as_bytes()).ok()?.to_ascii_lowercase();
        if text.len() < 3 {
            return None;
        }
        if !out.contains(&text) {
            out.push(text);
        }
    }
    Some(out)
}

/// The regex for one pattern trigger: case-insensitive, with ASCII word boundaries.
pub(crate) fn pattern_regex(pattern: &str) -> String {
    format!("(?i){}", ascii_word_boundaries(pattern))
}

/// Rewrites `\b` and `\B` outside character classes into their ASCII forms.
///
/// Why: a Unicode word boundary makes the lazy DFA give up on any text with a non-ASCII
/// character (an emoji, a curly quote), and the whole set then falls back to a far slower
/// engine. ASCII boundaries behave the same on English text and keep the DFA.
pub(crate) fn ascii_word_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut class_depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(b @ ('b' | 'B')) if class_depth == 0 && chars.peek() != Some(&'{') => {
                    out.push_str(if b == 'b' { r"(?-u:\b)" } else { r"(?-u:\B)" });
                }
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            },
            '[' => {
                class_depth += 1;
                out.push(c);
                // A `]` right after `[` or `[^` is a literal, not the end of the class.
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap_or('^'));
                }
                if chars.peek() == Some(&']') {
                    out.push(chars.next().unwrap_or(']'));
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyword_matcher(keyword: &str) -> Matcher {
        let trigger = Trigger {
            playbook: 0,
            kind: TriggerKind::Keyword,
            text: keyword.into(),
            regex: None,
        };
        Matcher::build(vec![trigger]).unwrap()
    }

    #[test]
    fn keywords_are_word_bounded_and_case_insensitive() {
        let m = keyword_matcher("flat tire");
        assert_eq!(m.hits("Got a FLAT TIRE on I-95 😩", 1).len(), 1);
        assert!(m.hits("flat tires everywhere", 1).is_empty());
        assert!(m.hits("aflat tire", 1).is_empty());
    }

    #[test]
    fn keywords_with_punctuation_at_the_edges_still_match() {
        assert_eq!(keyword_matcher("#fail").hits("what a #fail today", 1).len(), 1);
    }

    #[test]
    fn patterns_with_a_literal_start_are_prefiltered_and_others_are_not() {
        assert_eq!(
            required_prefixes(r"Stranded\b.*road"),
            Some(vec!["stranded".to_string()])
        );
        assert_eq!(
            required_prefixes(r"(car|vehicle)\b.*died"),
            Some(vec!["car".to_string(), "vehicle".to_string()])
        );
        assert_eq!(required_prefixes(r".*broken"), None);
        assert_eq!(required_prefixes(r"[a-z]+ broken"), None);
    }

    #[test]
    fn word_boundaries_in_patterns_become_ascii_outside_classes() {
        assert_eq!(
            ascii_word_boundaries(r"stranded\b.*\broad"),
            r"stranded(?-u:\b).*(?-u:\b)road"
        );
        assert_eq!(ascii_word_boundaries(r"[\b]x\\b"), r"[\b]x\\b");
        assert_eq!(ascii_word_boundaries(r"\b{start}x"), r"\b{start}x");
        assert_eq!(ascii_word_boundaries(r"[]\b]\B"), r"[]\b](?-u:\B)");
    }
}
