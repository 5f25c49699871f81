//! Which literals a pattern requires (the prefilter's clauses), and the case folding that
//! lets the automaton find them whatever case the text uses.

use std::cmp::Reverse;

use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};
use regex_syntax::hir::{Hir, HirKind};

use super::ascii_word_boundaries;

/// Shorter literals occur in almost every text; a clause with one is no filter and is dropped.
const MIN_LITERAL_LEN: usize = 3;
/// A clause with more alternatives than this is dropped (it filters little and costs much).
const MAX_CLAUSE_LITERALS: usize = 64;

/// The literals every match of `pattern` must contain, as clauses: each clause is a list of
/// case-folded alternatives, at least one of which every match contains. The most selective
/// clause comes first. `None` when no clause is usable (the pattern then goes into the
/// `RegexSet`).
///
/// Found by walking the syntax tree: a literal is required where its concatenation is; a
/// repetition keeps its body's requirements only if it repeats at least once; an alternation
/// requires one of its branches' best clauses; and for every point of a concatenation the
/// literals the rest must start with (or the part before must end with), from regex-syntax's
/// extractor, e.g. `(lost|late) 42` gives `{"lost 42", "late 42"}`.
///
/// Case: the pattern is parsed case-sensitively and its literals folded with [`fold_char`];
/// the text is folded the same way, so a literal is found whatever case the text uses.
pub(super) fn required_literals(pattern: &str) -> Option<Vec<Vec<String>>> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(&ascii_word_boundaries(pattern))
        .ok()?;
    let mut clauses = Vec::new();
    collect_clauses(&hir, &mut clauses);
    push_seq(&mut clauses, extract(ExtractKind::Prefix, &hir));
    push_seq(&mut clauses, extract(ExtractKind::Suffix, &hir));
    // A clause that contains all of another's alternatives adds nothing.
    clauses.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    let mut kept: Vec<Vec<String>> = Vec::new();
    for c in clauses {
        if !kept.iter().any(|k| k.iter().all(|l| c.contains(l))) {
            kept.push(c);
        }
    }
    kept.sort_by_key(|c| Reverse(selectivity(c)));
    (!kept.is_empty()).then_some(kept)
}

/// How selective a clause probably is: longer shortest literal first, then fewer literals.
fn selectivity(clause: &[String]) -> (usize, Reverse<usize>) {
    let shortest = clause.iter().map(String::len).min().unwrap_or(0);
    (shortest.min(12), Reverse(clause.len()))
}

fn extract(kind: ExtractKind, hir: &Hir) -> Seq {
    let mut extractor = Extractor::new();
    extractor.kind(kind);
    extractor.extract(hir)
}

fn collect_clauses(hir: &Hir, out: &mut Vec<Vec<String>>) {
    match hir.kind() {
        HirKind::Literal(lit) => push_clause(out, [&lit.0[..]]),
        HirKind::Capture(c) => collect_clauses(&c.sub, out),
        HirKind::Repetition(r) if r.min >= 1 => collect_clauses(&r.sub, out),
        HirKind::Concat(items) => {
            for item in items {
                collect_clauses(item, out);
            }
            // Quadratic in the length of the concatenation; patterns are short, but cap it.
            for i in 0..items.len().min(32) {
                push_seq(
                    out,
                    extract(ExtractKind::Prefix, &Hir::concat(items[i..].to_vec())),
                );
                push_seq(
                    out,
                    extract(ExtractKind::Suffix, &Hir::concat(items[..=i].to_vec())),
                );
            }
        }
        HirKind::Alternation(branches) => {
            let mut union: Vec<String> = Vec::new();
            let mut every_branch = true;
            for branch in branches {
                let mut sub = Vec::new();
                collect_clauses(branch, &mut sub);
                match sub.into_iter().max_by_key(|c| selectivity(c)) {
                    Some(best) => union.extend(best),
                    None => {
                        every_branch = false;
                        break;
                    }
                }
            }
            if every_branch {
                union.sort();
                union.dedup();
                if union.len() <= MAX_CLAUSE_LITERALS {
                    out.push(union);
                }
            }
            push_seq(out, extract(ExtractKind::Prefix, hir));
            push_seq(out, extract(ExtractKind::Suffix, hir));
        }
        _ => {}
    }
}

fn push_seq(out: &mut Vec<Vec<String>>, seq: Seq) {
    if let Some(literals) = seq.literals() {
        push_clause(out, literals.iter().map(|l| l.as_bytes()));
    }
}

/// Adds the clause "one of `literals`", folded, unless a literal is too short (or the
/// clause too long) to be worth filtering on.
fn push_clause<'a>(out: &mut Vec<Vec<String>>, literals: impl IntoIterator<Item = &'a [u8]>) {
    let mut clause = Vec::new();
    for lit in literals {
        match fold_literal(lit) {
            Some(text) if text.len() >= MIN_LITERAL_LEN => clause.push(text),
            _ => return,
        }
    }
    clause.sort();
    clause.dedup();
    if !clause.is_empty() && clause.len() <= MAX_CLAUSE_LITERALS && !out.contains(&clause) {
        out.push(clause);
    }
}

/// A required literal as folded text. The extractor may cut a long literal inside a
/// character; any part of a required literal is required too, so the longest whole-char
/// part is kept.
fn fold_literal(bytes: &[u8]) -> Option<String> {
    let start = bytes.iter().position(|&b| b & 0xC0 != 0x80)?;
    let rest = &bytes[start..];
    let valid = match std::str::from_utf8(rest) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&rest[..e.valid_up_to()]).ok()?,
    };
    Some(fold_str(valid))
}

/// Characters that simple case folding equates but `char::to_lowercase` does not map to
/// one character (sorted by the first). Checked against regex-syntax's case folding by the
/// test `folding_is_constant_on_case_folding_orbits`.
const FOLD_EXCEPTIONS: &[(char, char)] = &[
    ('\u{B5}', '\u{3BC}'),
    ('\u{17F}', '\u{73}'),
    ('\u{345}', '\u{3B9}'),
    ('\u{3C2}', '\u{3C3}'),
    ('\u{3D0}', '\u{3B2}'),
    ('\u{3D1}', '\u{3B8}'),
    ('\u{3D5}', '\u{3C6}'),
    ('\u{3D6}', '\u{3C0}'),
    ('\u{3F0}', '\u{3BA}'),
    ('\u{3F1}', '\u{3C1}'),
    ('\u{3F5}', '\u{3B5}'),
    ('\u{1C80}', '\u{432}'),
    ('\u{1C81}', '\u{434}'),
    ('\u{1C82}', '\u{43E}'),
    ('\u{1C83}', '\u{441}'),
    ('\u{1C84}', '\u{442}'),
    ('\u{1C85}', '\u{442}'),
    ('\u{1C86}', '\u{44A}'),
    ('\u{1C87}', '\u{463}'),
    ('\u{1C88}', '\u{A64B}'),
    ('\u{1E9B}', '\u{1E61}'),
    ('\u{1FBE}', '\u{3B9}'),
    ('\u{1FD3}', '\u{390}'),
    ('\u{1FE3}', '\u{3B0}'),
    ('\u{FB05}', '\u{FB06}'),
];

/// Maps `c` to one representative of the characters a case-insensitive regex treats as
/// equal to it (Unicode simple case folding), so folded literals can be found in folded
/// text: ASCII to lower case, other characters through `char::to_lowercase` and a few
/// exceptions.
pub(super) fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    if let Ok(i) = FOLD_EXCEPTIONS.binary_search_by_key(&c, |&(from, _)| from) {
        return FOLD_EXCEPTIONS[i].1;
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// `text` with every character folded by [`fold_char`].
pub(super) fn fold_str(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

/// Folds `text` into `out`, and records in `offsets` the byte offset in `text` of each
/// byte of `out` (and of its end), so that what is found in `out` can be found in `text`.
pub(super) fn fold_into(text: &str, out: &mut String, offsets: &mut Vec<u32>) {
    out.clear();
    offsets.clear();
    for (at, c) in text.char_indices() {
        let folded = fold_char(c);
        out.push(folded);
        offsets.extend(std::iter::repeat_n(at as u32, folded.len_utf8()));
    }
    offsets.push(text.len() as u32);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clauses(pattern: &str) -> Option<Vec<Vec<&'static str>>> {
        required_literals(pattern).map(|cs| {
            cs.into_iter()
                .map(|c| c.into_iter().map(|l| &*l.leak()).collect())
                .collect()
        })
    }

    #[test]
    fn every_required_literal_is_extracted_most_selective_first() {
        assert_eq!(
            clauses(r"Stranded\b.*road"),
            Some(vec![vec!["stranded"], vec!["road"]])
        );
        assert_eq!(clauses(r".*broken"), Some(vec![vec!["broken"]]));
        assert_eq!(clauses(r"[a-z]+ broken"), Some(vec![vec![" broken"]]));
        // Non-ASCII literals are folded as the text will be.
        assert_eq!(clauses(r"CAFÉ\b"), Some(vec![vec!["café"]]));
    }

    #[test]
    fn alternations_require_one_of_their_branches() {
        assert_eq!(
            clauses(r"(car|vehicle)\b.*died"),
            Some(vec![vec!["died"], vec!["car", "vehicle"]])
        );
        let order = clauses(r"order\b.*\b(lost|late) 42").unwrap();
        assert_eq!(order[0], vec!["late 42", "lost 42"]);
        assert!(order.contains(&vec!["order"]));
        // A branch without a usable literal makes the alternation require nothing.
        assert_eq!(clauses(r"refund|\d+"), None);
        assert_eq!(clauses(r"(refund|\d+) please"), Some(vec![vec![" please"]]));
    }

    #[test]
    fn patterns_without_a_required_literal_have_no_clause() {
        assert_eq!(clauses(r"[a-z]+ \d+"), None);
        assert_eq!(clauses(r"\w+ \d{3,}"), None);
        assert_eq!(clauses(r"(ab)+ \d{3,}"), Some(vec![vec!["ab "]]));
    }

    #[test]
    fn folding_is_constant_on_case_folding_orbits() {
        use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};
        let mut wrong = Vec::new();
        for c in (0..=0x1FFFFu32).filter_map(char::from_u32) {
            let mut class = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
            class.case_fold_simple();
            for range in class.iter() {
                for other in (range.start() as u32..=range.end() as u32).filter_map(char::from_u32) {
                    if fold_char(other) != fold_char(c) {
                        wrong.push((c, other, fold_char(c), fold_char(other)));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:?}");
    }
}
