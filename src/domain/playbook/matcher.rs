//! Trigger matching: every trigger of every playbook in one `RegexSet`, so the cost of
//! classifying a mention does not grow with the number of playbooks.

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
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    set: RegexSet,
    triggers: Vec<Trigger>,
}

/// A playbook that matched, with the indexes of its matched triggers.
pub(crate) struct Hit {
    pub playbook: usize,
    pub score: u32,
    pub triggers: Vec<usize>,
}

impl Matcher {
    /// Compiles `triggers`; every pattern must already have compiled on its own.
    pub fn build(triggers: Vec<Trigger>) -> Result<Self, regex::Error> {
        let sources = triggers.iter().map(|t| match t.kind {
            TriggerKind::Keyword => keyword_regex(&t.text),
            TriggerKind::Pattern => pattern_regex(&t.text),
        });
        let set = RegexSetBuilder::new(sources)
            .size_limit(SET_SIZE_LIMIT)
            .dfa_size_limit(DFA_CACHE_LIMIT)
            .build()?;
        Ok(Matcher { set, triggers })
    }

    pub fn trigger(&self, index: usize) -> &Trigger {
        &self.triggers[index]
    }

    /// Every playbook with at least one matched trigger, in playbook order.
    pub fn hits(&self, text: &str, playbook_count: usize) -> Vec<Hit> {
        let matches = self.set.matches(text);
        if !matches.matched_any() {
            return Vec::new();
        }
        let mut slot: Vec<Option<usize>> = Vec::new();
        let mut hits: Vec<Hit> = Vec::new();
        for index in matches.iter() {
            let trigger = &self.triggers[index];
            if slot.is_empty() {
                slot.resize(playbook_count, None);
            }
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

/// The regex for one pattern trigger: case-insensitive, with ASCII word boundaries.
pub(crate) fn pattern_regex(pattern: &str) -> String {
    format!("(?i){}", ascii_word_boundaries(pattern))
}

/// The regex for one keyword: case-insensitive, word-bounded, any run of spaces between words.
pub(crate) fn keyword_regex(keyword: &str) -> String {
    let keyword = keyword.trim();
    let body: Vec<String> = keyword.split_whitespace().map(regex::escape).collect();
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    // A boundary only next to a word character: `\b` before "#" or after "!" would never match.
    let start = if is_word(keyword.chars().next()) {
        r"(?-u:\b)"
    } else {
        ""
    };
    let end = if is_word(keyword.chars().last()) {
        r"(?-u:\b)"
    } else {
        ""
    };
    format!(r"(?i){start}{}{end}", body.join(r"\s+"))
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

    #[test]
    fn keywords_are_word_bounded_and_case_insensitive() {
        let re = Regex::new(&keyword_regex("flat tire")).unwrap();
        assert!(re.is_match("Got a FLAT  TIRE on I-95 😩"));
        assert!(!re.is_match("flat tires everywhere"));
        assert!(!re.is_match("aflat tire"));
    }

    #[test]
    fn keywords_with_punctuation_at_the_edges_still_match() {
        let re = Regex::new(&keyword_regex("#fail")).unwrap();
        assert!(re.is_match("what a #fail today"));
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
