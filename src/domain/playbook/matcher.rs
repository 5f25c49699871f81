//! Trigger matching: every trigger of every playbook compiled together, so the cost of
//! classifying a mention does not grow with the number of playbooks.

use std::cell::RefCell;
use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexSet, RegexSetBuilder};

mod literals;
mod pair;

use literals::{fold_char, fold_into, fold_str, required_literals};
use pair::{pair_literals, Found, Occurrences, Pair};

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

/// A pattern with required literals: its regex runs only when every clause has a literal
/// present in the text.
#[derive(Debug, Clone)]
struct Filtered {
    trigger: usize,
    /// Clauses besides the lead one (whose literal brought the pattern up); each is a list
    /// of needle ids, at least one of which must be present.
    other_clauses: Vec<Vec<u32>>,
    /// When the pattern is `A\b.*\bB` with literal parts: decided without its regex.
    pair: Option<Pair>,
}

/// All triggers of a set of playbooks, compiled once.
///
/// One Aho-Corasick automaton holds every keyword and every literal that some pattern
/// requires ("needles", case-folded; ASCII case-insensitive). One pass over the text gives
/// the keyword hits (word boundaries checked on each hit) and the set of needles present.
/// A pattern is a candidate when a needle of its lead clause (its most selective one) is
/// present, and its regex runs only when every other clause is satisfied too; a pattern
/// `A\b.*\bB` whose parts are literals is decided from where those were found instead
/// (see [`pair`]). Patterns with no required literal go into one `RegexSet`.
///
/// Why not everything in the `RegexSet`: with 2,500 word-bounded alternatives its lazy DFA
/// thrashes and a 200-character text took milliseconds; the automaton's cost depends on the
/// text, not the trigger count. Why all required literals, not only the opening one: 500
/// patterns like `order\b.*\b(lost|late) 42` share a few opening nouns, so a prefix filter
/// left about 150 regexes to run per text; the conjunction of all literals leaves about one.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    needles: AhoCorasick,
    /// Needle id -> the keyword triggers (of possibly several playbooks) with that text;
    /// empty when the needle is only a pattern literal.
    keyword_triggers: Vec<Vec<usize>>,
    /// Needle id -> whether its first and last bytes are word bytes (for boundary checks).
    keyword_bounds: Vec<(bool, bool)>,
    /// Needle id -> the `filtered` patterns whose lead clause contains it.
    lead_patterns: Vec<Vec<u32>>,
    filtered: Vec<Filtered>,
    /// Patterns without a usable required literal, all in one set.
    patterns: RegexSet,
    /// `RegexSet` index -> trigger.
    pattern_triggers: Vec<usize>,
    triggers: Vec<Trigger>,
}

/// A playbook that matched, with its matched triggers.
pub(crate) struct Hit {
    pub playbook: usize,
    pub score: u32,
    pub triggers: Vec<Matched>,
}

/// A matched trigger (its index), with the byte span of the text its pattern matched when
/// that is known without searching again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Matched {
    pub trigger: usize,
    pub span: Option<(usize, usize)>,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Per-thread buffers, so that classifying does not allocate for its bookkeeping.
/// Marks are generation stamps: `present[n].0 == generation` means needle `n` was seen in
/// the current text, so nothing needs clearing between texts.
#[derive(Default)]
struct Scratch {
    generation: u32,
    folded: String,
    /// Byte offset in `folded` -> byte offset in the text (and one past the end).
    offsets: Vec<u32>,
    /// Per needle: the generation it was last seen in, and its latest occurrence in `found`.
    present: Vec<(u32, u32)>,
    present_list: Vec<u32>,
    /// Every needle occurrence in the text, each linked to the previous one of its needle.
    found: Vec<Found>,
    checked: Vec<u32>,
    matched: Vec<Matched>,
}

impl Scratch {
    fn begin(&mut self, needles: usize, filtered: usize) {
        if self.generation == u32::MAX {
            self.generation = 0;
            self.present.iter_mut().for_each(|g| g.0 = 0);
            self.checked.iter_mut().for_each(|g| *g = 0);
        }
        self.generation += 1;
        if self.present.len() < needles {
            self.present.resize(needles, (0, 0));
        }
        if self.checked.len() < filtered {
            self.checked.resize(filtered, 0);
        }
        self.present_list.clear();
        self.found.clear();
        self.matched.clear();
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Interns `text` as a needle, returning its id.
fn needle_id(ids: &mut HashMap<String, u32>, texts: &mut Vec<String>, text: String) -> u32 {
    if let Some(&id) = ids.get(&text) {
        return id;
    }
    let id = texts.len() as u32;
    ids.insert(text.clone(), id);
    texts.push(text);
    id
}

impl Matcher {
    /// Compiles `triggers`; every pattern must already have compiled on its own.
    pub fn build(triggers: Vec<Trigger>) -> Result<Self, String> {
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut texts: Vec<String> = Vec::new();
        let mut keywords: Vec<(u32, usize)> = Vec::new();
        let mut leads: Vec<(u32, u32)> = Vec::new();
        let mut filtered: Vec<Filtered> = Vec::new();
        let mut pattern_sources = Vec::new();
        let mut pattern_triggers = Vec::new();
        for (i, t) in triggers.iter().enumerate() {
            match t.kind {
                TriggerKind::Keyword => {
                    let id = needle_id(&mut ids, &mut texts, fold_str(&t.text));
                    keywords.push((id, i));
                }
                TriggerKind::Pattern => match required_literals(&t.text) {
                    Some(clauses) => {
                        let at = filtered.len() as u32;
                        let mut ids_of = |literals: Vec<String>| -> Vec<u32> {
                            literals
                                .into_iter()
                                .map(|lit| needle_id(&mut ids, &mut texts, lit))
                                .collect()
                        };
                        let pair = pair_literals(&t.text).map(|[first, second]| Pair {
                            first: ids_of(first),
                            second: ids_of(second),
                        });
                        let mut clauses = clauses.into_iter().map(|clause| {
                            clause
                                .into_iter()
                                .map(|lit| needle_id(&mut ids, &mut texts, lit))
                                .collect::<Vec<u32>>()
                        });
                        if let Some(lead) = clauses.next() {
                            leads.extend(lead.into_iter().map(|n| (n, at)));
                        }
                        filtered.push(Filtered {
                            trigger: i,
                            other_clauses: clauses.collect(),
                            pair,
                        });
                    }
                    None => {
                        pattern_sources.push(pattern_regex(&t.text));
                        pattern_triggers.push(i);
                    }
                },
            }
        }
        let mut keyword_triggers: Vec<Vec<usize>> = vec![Vec::new(); texts.len()];
        for (id, i) in keywords {
            keyword_triggers[id as usize].push(i);
        }
        let mut lead_patterns: Vec<Vec<u32>> = vec![Vec::new(); texts.len()];
        for (id, p) in leads {
            lead_patterns[id as usize].push(p);
        }
        let keyword_bounds = texts
            .iter()
            .map(|k| {
                let b = k.as_bytes();
                (
                    b.first().is_some_and(|&c| is_word_byte(c)),
                    b.last().is_some_and(|&c| is_word_byte(c)),
                )
            })
            .collect();
        let needles = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&texts)
            .map_err(|e| e.to_string())?;
        let patterns = RegexSetBuilder::new(pattern_sources)
            .size_limit(SET_SIZE_LIMIT)
            .dfa_size_limit(DFA_CACHE_LIMIT)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Matcher {
            needles,
            keyword_triggers,
            keyword_bounds,
            lead_patterns,
            filtered,
            patterns,
            pattern_triggers,
            triggers,
        })
    }

    pub fn trigger(&self, index: usize) -> &Trigger {
        &self.triggers[index]
    }

    /// Every playbook with at least one matched trigger, in order of first matched trigger.
    pub fn hits(&self, text: &str) -> Vec<Hit> {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.hits_with(text, &mut scratch),
            // Only if a caller re-entered from inside a match, which nothing does.
            Err(_) => self.hits_with(text, &mut Scratch::default()),
        })
    }

    fn hits_with(&self, text: &str, scratch: &mut Scratch) -> Vec<Hit> {
        // A set without exclusions still has an (empty) exclusion matcher.
        if self.triggers.is_empty() {
            return Vec::new();
        }
        scratch.begin(self.keyword_triggers.len(), self.filtered.len());
        let Scratch {
            generation,
            folded,
            offsets,
            present,
            present_list,
            found,
            checked,
            matched,
        } = scratch;
        let generation = *generation;
        // Text whose only non-ASCII characters fold to themselves (emoji, curly quotes)
        // needs no folding (the automaton ignores ASCII case); other text is folded char
        // by char so that "CAFÉ" finds "café" as the pattern regex would.
        let as_written = text.is_ascii() || text.chars().all(|c| c.is_ascii() || fold_char(c) == c);
        let haystack: &str = if as_written {
            text
        } else {
            fold_into(text, folded, offsets);
            folded
        };
        let bytes = haystack.as_bytes();
        for m in self.needles.find_overlapping_iter(haystack) {
            let id = m.pattern().as_usize();
            let (start, end) = match as_written {
                true => (m.start() as u32, m.end() as u32),
                false => (offsets[m.start()], offsets[m.end()]),
            };
            let next = match present[id].0 == generation {
                true => present[id].1,
                false => {
                    present_list.push(id as u32);
                    pair::NONE
                }
            };
            present[id] = (generation, found.len() as u32);
            found.push(Found { start, end, next });
            let keyword = &self.keyword_triggers[id];
            if !keyword.is_empty() {
                let (start_word, end_word) = self.keyword_bounds[id];
                let starts_clean = !start_word || m.start() == 0 || !is_word_byte(bytes[m.start() - 1]);
                let ends_clean = !end_word || m.end() == bytes.len() || !is_word_byte(bytes[m.end()]);
                if starts_clean && ends_clean {
                    matched.extend(keyword.iter().map(|&trigger| Matched { trigger, span: None }));
                }
            }
        }
        for &id in present_list.iter() {
            for &p in &self.lead_patterns[id as usize] {
                if checked[p as usize] == generation {
                    continue;
                }
                checked[p as usize] = generation;
                let f = &self.filtered[p as usize];
                let all_present = f
                    .other_clauses
                    .iter()
                    .all(|clause| clause.iter().any(|&n| present[n as usize].0 == generation));
                if !all_present {
                    continue;
                }
                if let Some(pair) = &f.pair {
                    let occurrences = Occurrences {
                        text: text.as_bytes(),
                        heads: present,
                        found,
                        generation,
                    };
                    if let Some(span) = pair.find(&occurrences) {
                        matched.push(Matched {
                            trigger: f.trigger,
                            span: Some(span),
                        });
                    }
                    continue;
                }
                // Whether, not where: a reason quotes the match, but reasons are written for
                // the best few playbooks only, and `find` costs a second (reverse) pass.
                if self.triggers[f.trigger]
                    .regex
                    .as_ref()
                    .is_some_and(|re| re.is_match(text))
                {
                    matched.push(Matched {
                        trigger: f.trigger,
                        span: None,
                    });
                }
            }
        }
        if !self.pattern_triggers.is_empty() {
            matched.extend(self.patterns.matches(text).iter().map(|i| Matched {
                trigger: self.pattern_triggers[i],
                span: None,
            }));
        }
        if matched.is_empty() {
            return Vec::new();
        }
        matched.sort_unstable();
        matched.dedup();
        let mut hits: Vec<Hit> = Vec::new();
        for &m in matched.iter() {
            let trigger = &self.triggers[m.trigger];
            // Triggers of one playbook are usually adjacent, so the last hit is the usual one.
            let at = match hits.iter().rposition(|h| h.playbook == trigger.playbook) {
                Some(at) => at,
                None => {
                    hits.push(Hit {
                        playbook: trigger.playbook,
                        score: 0,
                        triggers: Vec::new(),
                    });
                    hits.len() - 1
                }
            };
            let hit = &mut hits[at];
            hit.score += match trigger.kind {
                TriggerKind::Keyword => KEYWORD_SCORE,
                TriggerKind::Pattern => PATTERN_SCORE,
            };
            hit.triggers.push(m);
        }
        hits
    }
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
        assert_eq!(m.hits("Got a FLAT TIRE on I-95 😩").len(), 1);
        assert!(m.hits("flat tires everywhere").is_empty());
        assert!(m.hits("aflat tire").is_empty());
    }

    #[test]
    fn keywords_with_punctuation_at_the_edges_still_match() {
        assert_eq!(keyword_matcher("#fail").hits("what a #fail today").len(), 1);
    }

    fn pattern_matcher(patterns: &[&str]) -> Matcher {
        let triggers = patterns
            .iter()
            .map(|p| Trigger {
                playbook: 0,
                kind: TriggerKind::Pattern,
                text: (*p).into(),
                regex: Some(Regex::new(&pattern_regex(p)).unwrap()),
            })
            .collect();
        Matcher::build(triggers).unwrap()
    }

    #[test]
    fn patterns_without_a_required_literal_still_match() {
        let m = pattern_matcher(&[r"\d{5,}"]);
        assert_eq!(m.hits("order 123456 never came").len(), 1);
        assert!(m.hits("order 1234 never came").is_empty());
    }

    #[test]
    fn patterns_are_not_skipped_when_their_literals_differ_in_case() {
        let m = pattern_matcher(&[
            r"Stranded\b.*road",
            r"(car|vehicle)\b.*died",
            r"order\b.*\b(lost|late) 42",
        ]);
        assert_eq!(m.hits("STRANDED on the ROAD").len(), 1);
        assert_eq!(m.hits("my VEHICLE just DIED").len(), 1);
        assert_eq!(m.hits("the Order is LATE 42").len(), 1);
        assert_eq!(m.hits("the Order is LATE 42").len(), 1);
        assert!(m.hits("the order is late 43").is_empty());
        assert!(m.hits("road stranded").is_empty());
        assert_eq!(m.hits("my car died and I am stranded on the road").len(), 1);
        assert_eq!(
            m.hits("my car died and I am stranded on the road")[0]
                .triggers
                .iter()
                .map(|m| m.trigger)
                .collect::<Vec<_>>(),
            vec![0, 1]
        );
    }

    #[test]
    fn non_ascii_case_is_folded_for_keywords_and_patterns() {
        assert_eq!(keyword_matcher("café").hits("the CAFÉ was closed").len(), 1);
        assert_eq!(keyword_matcher("CAFÉ").hits("the café was closed").len(), 1);
        // As before: a keyword edge that is not an ASCII word byte is not boundary-checked.
        assert_eq!(keyword_matcher("café").hits("the cafés were closed").len(), 1);
        let m = pattern_matcher(&[r"café.*\brefund", r"ΣΟΦΊΑ"]);
        assert_eq!(m.hits("CAFÉ 😡 wants a REFUND").len(), 1);
        // Final sigma and the Kelvin sign fold as the regex folds them.
        assert_eq!(m.hits("σοφίας").len(), 1);
        assert_eq!(m.hits("ςοφία").len(), 1);
        assert_eq!(keyword_matcher("kelvin").hits("\u{212A}ELVIN").len(), 1);
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

    #[test]
    fn literal_pairs_match_and_quote_what_their_regex_would() {
        let patterns = [
            r"(car|credit card)\b.*\b(died|dead)",
            r"(card|card holder)\b.*\b(late|later|late fee)",
            r"order\b.*\b(lost|late) 42",
            r"check ?out\b.*\b(fail|failing)",
            r"(kit|kits)\b.*\b(sink|sinks)",
        ];
        let words = [
            "car",
            "Car",
            "cars",
            "scar",
            "died",
            "DIED",
            "diedx",
            "dead",
            "card",
            "credit card",
            "card holder",
            "late",
            "later",
            "late fee",
            "order",
            "lost 42",
            "LATE 421",
            "checkout",
            "check out",
            "fail",
            "failing",
            "kit",
            "\u{212A}IT",
            "ſink",
            "sinks",
            "\n",
            "😡",
            "é",
            "-",
            "_",
            " ",
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for p in patterns {
            assert!(pair::pair_literals(p).is_some(), "{p}");
            let m = pattern_matcher(&[p]);
            let re = Regex::new(&pattern_regex(p)).unwrap();
            let mut matched = 0;
            for _ in 0..3000 {
                let text: String = (0..1 + next() % 8)
                    .map(|_| words[(next() % words.len() as u64) as usize])
                    .collect::<Vec<_>>()
                    .join(if next() % 3 == 0 { "" } else { " " });
                let expected = re.find(&text).map(|f| (f.start(), f.end()));
                let got = m.hits(&text).first().and_then(|h| h.triggers[0].span);
                assert_eq!(got, expected, "{p} on {text:?}");
                matched += usize::from(got.is_some());
            }
            assert!(matched > 20, "{p}: {matched}");
        }
    }
}
