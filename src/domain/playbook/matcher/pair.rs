//! Patterns written as `A\b.*\bB` ("A, then later on the same line B"), the way playbooks
//! write most of theirs, with both parts finite sets of ASCII literals: decided from where
//! the automaton found those literals, without running the pattern's regex.
//!
//! Why: running the regexes of the patterns the prefilter let through, and finding again
//! the span a reason quotes, took about a third of the time to classify a post.
//!
//! The answer and the span are the regex's (`(?i)A(?-u:\b).*(?-u:\b)B`, leftmost-first):
//! - a literal matches where the automaton finds it: the literals are ASCII, and the only
//!   other characters that fold to ASCII fold as the regex's case folding does (see the
//!   test `only_their_case_variants_fold_to_ascii`);
//! - the match starts at the leftmost occurrence of a first-part literal that ends at a word
//!   boundary and has a second-part occurrence starting at a word boundary after it on the
//!   same line (`.` does not cross `\n`); of the literals found at that start, the first in
//!   the pattern's order that can go on;
//! - `.*` is greedy, so the match ends with the last such second-part occurrence on that
//!   line; of the literals found there, the first in the pattern's order.

use regex_syntax::hir::literal::Extractor;
use regex_syntax::hir::{Dot, Hir, HirKind, Look};

use super::{ascii_word_boundaries, is_word_byte};

/// A pattern `A\b.*\bB`: the needle ids of its parts' literals, in the pattern's order.
#[derive(Debug, Clone)]
pub(super) struct Pair {
    pub first: Vec<u32>,
    pub second: Vec<u32>,
}

/// No occurrence (the end of a needle's list).
pub(super) const NONE: u32 = u32::MAX;

/// Where a needle occurs in the text as written (byte offsets), and its next occurrence.
#[derive(Debug, Clone, Copy)]
pub(super) struct Found {
    pub start: u32,
    pub end: u32,
    pub next: u32,
}

/// The occurrences of every needle in one text.
pub(super) struct Occurrences<'a> {
    /// The text as written.
    pub text: &'a [u8],
    /// Per needle: whether it occurs (`generation`) and its latest occurrence.
    pub heads: &'a [(u32, u32)],
    pub found: &'a [Found],
    pub generation: u32,
}

impl Occurrences<'_> {
    /// The (start, end) of each occurrence of `needle`.
    fn of(&self, needle: u32) -> impl Iterator<Item = (usize, usize)> + '_ {
        let (generation, head) = self.heads[needle as usize];
        let mut at = if generation == self.generation { head } else { NONE };
        std::iter::from_fn(move || {
            let f = self.found.get(at as usize)?;
            at = f.next;
            Some((f.start as usize, f.end as usize))
        })
    }

    /// Whether an ASCII word boundary (`(?-u:\b)`) is at `at`.
    fn boundary(&self, at: usize) -> bool {
        let before = at > 0 && is_word_byte(self.text[at - 1]);
        let after = at < self.text.len() && is_word_byte(self.text[at]);
        before != after
    }

    /// Whether `.*` can span `from..to`.
    fn same_line(&self, from: usize, to: usize) -> bool {
        !self.text[from..to].contains(&b'\n')
    }
}

impl Pair {
    /// The span of the leftmost-first match of the pattern, as its regex would find it.
    pub fn find(&self, at: &Occurrences) -> Option<(usize, usize)> {
        // Whether a second-part occurrence can follow a first-part one ending at `end`.
        let seconds = |end: usize| {
            self.second
                .iter()
                .flat_map(|&n| at.of(n))
                .filter(move |&(s, _)| s >= end && at.boundary(s) && at.same_line(end, s))
        };
        // (start, end) of the first part; ties at one start go to the first literal.
        let mut first: Option<(usize, usize)> = None;
        for &n in &self.first {
            for (s, e) in at.of(n) {
                if first.is_some_and(|(best, _)| s >= best) || !at.boundary(e) {
                    continue;
                }
                if seconds(e).next().is_some() {
                    first = Some((s, e));
                }
            }
        }
        let (start, end) = first?;
        // The last second-part start; ties there go to the first literal.
        let mut last: Option<(usize, usize)> = None;
        for (s, e) in seconds(end) {
            if last.is_none_or(|(best, _)| s > best) {
                last = Some((s, e));
            }
        }
        last.map(|(_, e)| (start, e))
    }
}

/// The literals of both parts of `pattern` (folded, in the pattern's order) when it is
/// `A\b.*\bB` with each part a finite set of ASCII literals without look-arounds; `None`
/// otherwise (its regex then decides).
pub(super) fn pair_literals(pattern: &str) -> Option<[Vec<String>; 2]> {
    // A flag group could switch off case-insensitivity or change what `.` matches.
    if pattern
        .match_indices("(?")
        .any(|(i, _)| !pattern[i + 2..].starts_with(':'))
    {
        return None;
    }
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(&ascii_word_boundaries(pattern))
        .ok()?;
    let HirKind::Concat(items) = hir.kind() else {
        return None;
    };
    let any = Hir::dot(Dot::AnyCharExceptLF);
    let dot_star = items.iter().position(|h| match h.kind() {
        HirKind::Repetition(r) => r.min == 0 && r.max.is_none() && r.greedy && *r.sub == any,
        _ => false,
    })?;
    let boundary = |h: &Hir| matches!(h.kind(), HirKind::Look(Look::WordAscii));
    let (before, first) = items[..dot_star].split_last()?;
    let (after, second) = items[dot_star + 1..].split_first()?;
    if !boundary(before) || !boundary(after) {
        return None;
    }
    Some([literals(first)?, literals(second)?])
}

/// Every string `items` match, in preference order, if they are finitely many, non-empty,
/// ASCII and without a line break.
fn literals(items: &[Hir]) -> Option<Vec<String>> {
    let hir = Hir::concat(items.to_vec());
    if has_look(&hir) {
        return None;
    }
    // Exact prefixes of a regex without look-arounds are all its matches, in preference
    // order (regex-syntax's documented guarantee).
    let seq = Extractor::new().extract(&hir);
    if !seq.is_exact() {
        return None;
    }
    seq.literals()?
        .iter()
        .map(|l| {
            let text = std::str::from_utf8(l.as_bytes()).ok()?;
            let plain = !text.is_empty() && text.is_ascii() && !text.contains('\n');
            plain.then(|| text.to_ascii_lowercase())
        })
        .collect()
}

fn has_look(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Look(_) => true,
        HirKind::Capture(c) => has_look(&c.sub),
        HirKind::Repetition(r) => has_look(&r.sub),
        HirKind::Concat(items) | HirKind::Alternation(items) => items.iter().any(has_look),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::literals::fold_char;
    use super::*;

    #[test]
    fn patterns_of_two_literal_parts_are_recognised() {
        let [a, b] = pair_literals(r"(app|Mobile App)\b.*\b(never arrived|still not here)").unwrap();
        assert_eq!(a, ["app", "mobile app"]);
        assert_eq!(b, ["never arrived", "still not here"]);
        let [a, b] = pair_literals(r"order\b.*\b(lost|late) 42").unwrap();
        assert_eq!(
            (a, b),
            (
                vec!["order".to_string()],
                vec!["lost 42".to_string(), "late 42".to_string()]
            )
        );
        let [a, _] = pair_literals(r"check ?out\b.*\b(fail|stuck)").unwrap();
        assert_eq!(a, ["check out", "checkout"]);
    }

    #[test]
    fn other_patterns_keep_their_regex() {
        for p in [
            r"(charge|fee)\b.*\b(i never|didn.?t) agree",
            r"\bcar\b.*\bdied",
            r"car\b.*?\bdied",
            r"car.*\bdied",
            r"car\b.*\bdied\b",
            r"(?s)car\b.*\bdied",
            r"(?-i)car\b.*\bdied",
            r"café\b.*\bdied",
            r"cars?\b.*\b\w+ died",
            r"(car|)\b.*\bdied",
        ] {
            assert!(pair_literals(p).is_none(), "{p}");
        }
    }

    #[test]
    fn only_their_case_variants_fold_to_ascii() {
        use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};
        for c in (0x80..=0x1FFFFu32).filter_map(char::from_u32) {
            let folded = fold_char(c);
            if !folded.is_ascii() {
                continue;
            }
            let mut class = ClassUnicode::new([ClassUnicodeRange::new(folded, folded)]);
            class.case_fold_simple();
            assert!(class.iter().any(|r| r.start() <= c && c <= r.end()), "{c:?}");
        }
    }
}
