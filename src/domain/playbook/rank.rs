//! Ranking playbooks for a post: explicit triggers as precise boosts, lexical similarity
//! with each playbook's examples, keywords and title, exclusions as vetoes, and the
//! fallback when nothing is similar enough.
//!
//! Score = trigger points ([`KEYWORD_SCORE`] per keyword, [`PATTERN_SCORE`] per pattern) +
//! similarity points (the similarity, 0..1, times [`SIMILARITY_POINTS`]). A playbook is a
//! candidate when a trigger matched or its similarity reaches the set's minimum
//! (`[cases] min_similarity` in the config). When none is, the fallback comes first, then at
//! most two playbooks below the minimum as hints.

use super::examples::Samples;
use super::load::{Parsed, PlaybookError};
use super::matcher::{Matched, TriggerKind};
use super::{shorten, PlaybookMatch, PlaybookSet};
use crate::domain::similarity::{self, Detected, Index, IndexBuilder, Lang, Post, SimilarVisitor};
use crate::domain::types::{Network, Segment};

#[cfg(doc)]
use super::matcher::{KEYWORD_SCORE, PATTERN_SCORE};

/// Points for a similarity of 1.0 (a post that is one of the examples word for word).
pub const SIMILARITY_POINTS: f32 = 100.0;
/// The minimum similarity when the config sets none.
pub const DEFAULT_MIN_SIMILARITY: f32 = 0.06;
/// The most playbooks suggested by similarity alone for one post.
const MAX_SIMILAR: usize = 10;
/// When the fallback is suggested, at most this many playbooks below the minimum follow it.
const MAX_WEAK: usize = 2;
/// ... if their similarity is at least this fraction of the minimum.
const WEAK_FRACTION: f32 = 0.25;

/// The similarity index of a set and, per document, how a reason names it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Similar {
    pub index: Index,
    /// Per document: `similar to example "..."`, `similar to its keywords`, ... (written
    /// once here rather than for every post).
    pub labels: Vec<String>,
}

/// Builds the index of every playbook's examples (each in its own language), keywords and
/// title (English); warns about examples in a language carebot cannot stem.
pub(crate) fn build_similar(parsed: &[Parsed]) -> (Similar, Vec<PlaybookError>) {
    let mut builder = IndexBuilder::default();
    let mut labels = Vec::new();
    let mut warnings = Vec::new();
    for (i, p) in parsed.iter().enumerate() {
        let Samples { examples, .. } = &p.samples;
        let mut by_lang: Vec<(Lang, Vec<&str>)> = Vec::new();
        for e in examples {
            let lang = match similarity::detect(&e.text) {
                Detected::Known(lang) => lang,
                Detected::Other(name) => {
                    warnings.push(PlaybookError {
                        file: p.playbook.file.clone(),
                        line: Some(e.line),
                        message: format!("this example reads as {name}; only English, Spanish, French and German are compared — it is read as English, translate it or remove it"),
                    });
                    Lang::En
                }
            };
            builder.add(i, lang, &[&e.text]);
            labels.push(format!("similar to example {:?}", shorten(&e.text, 60)));
            match by_lang.iter_mut().find(|(l, _)| *l == lang) {
                Some((_, texts)) => texts.push(&e.text),
                None => by_lang.push((lang, vec![&e.text])),
            }
        }
        for (lang, texts) in by_lang {
            if texts.len() > 1 {
                builder.add(i, lang, &texts);
                labels.push("similar to its examples".to_string());
            }
        }
        if !p.keywords.is_empty() {
            let keywords: Vec<&str> = p.keywords.iter().map(String::as_str).collect();
            builder.add(i, Lang::En, &keywords);
            labels.push("similar to its keywords".to_string());
        }
        if !p.playbook.fallback {
            builder.add(i, Lang::En, &[&p.playbook.title]);
            labels.push(format!("similar to its title {:?}", p.playbook.title));
        }
    }
    (
        Similar {
            index: builder.build(),
            labels,
        },
        warnings,
    )
}

/// Adds `s` to `best` (at most `max`, best first: similarity, then owner) if it belongs there.
fn keep_best(best: &mut Vec<similarity::SimilarDoc>, s: similarity::SimilarDoc, max: usize) {
    let before = |a: &similarity::SimilarDoc, b: &similarity::SimilarDoc| {
        a.similarity > b.similarity || (a.similarity == b.similarity && a.owner < b.owner)
    };
    if best.len() == max && best.last().is_none_or(|last| !before(&s, last)) {
        return;
    }
    let at = best.iter().position(|b| before(&s, b)).unwrap_or(best.len());
    best.insert(at, s);
    best.truncate(max);
}

/// The similar playbooks a ranking uses, kept as the index finds them.
///
/// Walking every similar playbook best first would sort them all; only a few are used, so
/// the best ones are kept as they come (same order: similarity, then id), and the index
/// is told which similarity a playbook must reach to matter ([`SimilarVisitor::bar`]).
struct Gather<'a, F> {
    /// Whether a playbook may be suggested for the post (filters, exclusions).
    eligible: F,
    /// Playbook -> 1 + its place in `candidates` (0: no trigger matched).
    triggered: Vec<u32>,
    candidates: &'a mut Vec<Candidate>,
    /// The closest playbooks without a matched trigger, at least the minimum.
    best: Vec<similarity::SimilarDoc>,
    /// The closest below the minimum (hints, shown only when nothing else is).
    weak: &'a mut Vec<similarity::SimilarDoc>,
    min_similarity: f32,
    floor: f32,
    fallback: Option<usize>,
    /// How many playbooks the caller shows ([`PlaybookSet::classify_top`]'s `limit`).
    limit: usize,
    /// The similarity a playbook without a matched trigger must reach to enter the first
    /// `limit` (see [`Gather::rank_bar`]); `None`: to be worked out again.
    rank_bar: Option<f32>,
}

impl<F: Fn(usize) -> bool> SimilarVisitor for Gather<'_, F> {
    fn visit(&mut self, s: similarity::SimilarDoc) {
        if !(self.eligible)(s.owner) {
            return;
        }
        if s.similarity < self.min_similarity {
            if Some(s.owner) != self.fallback {
                keep_best(self.weak, s, MAX_WEAK);
            }
            return;
        }
        self.rank_bar = None;
        match self.triggered[s.owner] {
            0 => keep_best(&mut self.best, s, MAX_SIMILAR),
            at => self.candidates[at as usize - 1].similar = Some(s),
        }
    }

    fn bar(&mut self) -> f32 {
        // Hints below the minimum are shown only when nothing else is suggested.
        if !self.candidates.is_empty() || !self.best.is_empty() {
            let kept = match self.best.get(MAX_SIMILAR - 1) {
                Some(last) => last.similarity,
                None => self.min_similarity,
            };
            let ranked = match self.rank_bar {
                Some(bar) => bar,
                None => *self.rank_bar.insert(self.rank_bar()),
            };
            kept.max(ranked)
        } else {
            match self.weak.get(MAX_WEAK - 1) {
                Some(last) => last.similarity,
                None => self.floor,
            }
        }
    }

    fn always(&self, owner: usize) -> bool {
        self.triggered[owner] != 0
    }
}

impl<F> Gather<'_, F> {
    /// The similarity below which a playbook without a matched trigger cannot be among the
    /// first `limit` (0: any may be), so that the index need not score it.
    ///
    /// Every playbook gathered so far is sure of a score: one with a matched trigger, its
    /// trigger points (plus its similarity points once the index gave them); one of the
    /// `best`, its similarity points (one pushed out of `best` later is pushed out by
    /// better ones). A playbook scoring less than the `limit`-th largest of these ranks
    /// after `limit` others; an equal score is not enough (ties go by id). Exact, then:
    /// `classify_top(.., limit)` stays the head of `classify`.
    fn rank_bar(&self) -> f32 {
        if self.limit == 0 || self.limit > MAX_SIMILAR {
            return 0.0;
        }
        let points = |s: &similarity::SimilarDoc| (s.similarity * SIMILARITY_POINTS).round() as u32;
        let sure = self
            .candidates
            .iter()
            .map(|c| c.trigger_score + c.similar.as_ref().map_or(0, points))
            .chain(self.best.iter().take(self.limit).map(points));
        // The `limit` largest, largest first.
        let mut top = [0u32; MAX_SIMILAR];
        let top = &mut top[..self.limit];
        for score in sure {
            if score <= top[top.len() - 1] {
                continue;
            }
            let mut at = top.len() - 1;
            while at > 0 && top[at - 1] < score {
                top[at] = top[at - 1];
                at -= 1;
            }
            top[at] = score;
        }
        match top[top.len() - 1] {
            0 => 0.0,
            // `round(x) >= k` exactly when `x >= k - 0.5`: a little below that, for the
            // rounding of `similarity * SIMILARITY_POINTS`.
            k => (k as f32 - 0.5) / SIMILARITY_POINTS * (1.0 - 1e-5),
        }
    }
}

/// One playbook being ranked for a post.
struct Candidate {
    playbook: usize,
    trigger_score: u32,
    triggers: Vec<Matched>,
    similar: Option<similarity::SimilarDoc>,
}

impl PlaybookSet {
    /// Playbooks that fit `text` and whose filters admit `network` and `segment`, best first
    /// (score, then id): those with a matched trigger or a similarity of at least the set's
    /// minimum, without those an exclusion vetoes. If none: the fallback with score 0, if
    /// the set has one.
    pub fn classify(&self, text: &str, network: &Network, segment: Segment) -> Vec<PlaybookMatch> {
        self.classify_top(text, network, segment, usize::MAX)
    }

    /// The first `limit` of [`classify`](Self::classify): the same ranking, with reasons
    /// written for those only (writing them is most of the cost when many playbooks fit).
    pub fn classify_top(
        &self,
        text: &str,
        network: &Network,
        segment: Segment,
        limit: usize,
    ) -> Vec<PlaybookMatch> {
        let admits = |i: usize| {
            let t = &self.playbooks[i].triggers;
            (t.networks.is_empty() || t.networks.contains(network))
                && (t.segments.is_empty() || t.segments.contains(&segment))
        };
        let vetoed: Vec<usize> = if self.use_similarity {
            self.excluder.hits(text).into_iter().map(|h| h.playbook).collect()
        } else {
            Vec::new()
        };
        let mut candidates: Vec<Candidate> = self
            .matcher
            .hits(text)
            .into_iter()
            .filter(|h| admits(h.playbook) && !vetoed.contains(&h.playbook))
            .map(|h| Candidate {
                playbook: h.playbook,
                trigger_score: h.score,
                triggers: h.triggers,
                similar: None,
            })
            .collect();

        let (detected, tokens) = match self.use_similarity {
            true => similarity::detect_tokens(text),
            false => (Detected::Known(Lang::En), Default::default()),
        };
        let mut weak: Vec<similarity::SimilarDoc> = Vec::new();
        let mut post: Option<Post> = None;
        if let (true, Detected::Known(lang)) = (self.use_similarity, detected) {
            let read = self.similar.index.post_from(text, lang, tokens);
            let mut gather = Gather {
                eligible: |i: usize| admits(i) && !vetoed.contains(&i),
                triggered: vec![0u32; self.playbooks.len()],
                candidates: &mut candidates,
                best: Vec::with_capacity(MAX_SIMILAR + 1),
                weak: &mut weak,
                min_similarity: self.min_similarity,
                floor: self.min_similarity * WEAK_FRACTION,
                fallback: self.fallback,
                limit,
                rank_bar: None,
            };
            for (i, c) in gather.candidates.iter().enumerate() {
                gather.triggered[c.playbook] = i as u32 + 1;
            }
            self.similar.index.visit_similar(&read, gather.floor, &mut gather);
            let best = gather.best;
            candidates.extend(best.into_iter().map(|s| Candidate {
                playbook: s.owner,
                trigger_score: 0,
                triggers: Vec::new(),
                similar: Some(s),
            }));
            post = Some(read);
        }

        // Ranked before the reasons are written, so that only the first `limit` get them.
        let mut scored: Vec<(u32, u32, Candidate)> = candidates
            .into_iter()
            .map(|c| {
                let similarity = c
                    .similar
                    .as_ref()
                    .map(|s| (s.similarity * SIMILARITY_POINTS).round() as u32)
                    .unwrap_or(0);
                (c.trigger_score + similarity, similarity, c)
            })
            .collect();
        let id = |c: &Candidate| self.id_rank[c.playbook];
        scored.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| id(&a.2).cmp(&id(&b.2))));
        scored.truncate(limit);
        let mut out: Vec<PlaybookMatch> = scored
            .into_iter()
            .map(|(score, similarity, c)| {
                let mut reasons = Vec::new();
                if !c.triggers.is_empty() {
                    reasons.push(self.reason(text, &c.triggers));
                }
                if let (Some(s), Some(post)) = (&c.similar, &post) {
                    reasons.push(self.similarity_reason(s, post));
                }
                PlaybookMatch {
                    id: self.playbooks[c.playbook].id.clone(),
                    score,
                    similarity,
                    reasons,
                }
            })
            .collect();
        if out.is_empty() && limit > 0 {
            if let Some(fallback) = self.fallback() {
                let why = match (self.use_similarity, detected) {
                    (true, Detected::Other(name)) => {
                        format!("written in {name}, which no playbook has examples in: fallback")
                    }
                    (true, _) => "no trigger matched and nothing is similar enough: fallback".to_string(),
                    (false, _) => "no trigger matched: fallback".to_string(),
                };
                out.push(PlaybookMatch {
                    id: fallback.id.clone(),
                    score: 0,
                    similarity: 0,
                    reasons: vec![why],
                });
            }
            // After the fallback, the closest playbooks below the minimum, as hints.
            let room = limit.saturating_sub(out.len());
            for s in weak.into_iter().take(room) {
                let Some(post) = &post else { break };
                let similarity = (s.similarity * SIMILARITY_POINTS).round() as u32;
                let reason = format!("{}, below the minimum", self.similarity_reason(&s, post));
                out.push(PlaybookMatch {
                    id: self.playbooks[s.owner].id.clone(),
                    score: similarity,
                    similarity,
                    reasons: vec![reason],
                });
            }
        }
        out
    }

    /// `matched: "flat tire", "stranded on the highway"`: keywords as written, patterns by
    /// the text they matched.
    fn reason(&self, text: &str, triggers: &[Matched]) -> String {
        let mut quoted: Vec<String> = Vec::with_capacity(triggers.len());
        for m in triggers {
            let t = self.matcher.trigger(m.trigger);
            let shown = match (t.kind, &t.regex) {
                (TriggerKind::Pattern, Some(re)) => {
                    let found = match m.span {
                        Some((start, end)) => &text[start..end],
                        None => re.find(text).map(|m| m.as_str()).unwrap_or(&t.text),
                    };
                    format!("{:?}", shorten(found, 40))
                }
                _ => format!("{:?}", t.text),
            };
            // "site is down" and "site is DOWN" are one reason to a reader.
            if !quoted.iter().any(|q| q.eq_ignore_ascii_case(&shown)) {
                quoted.push(shown);
            }
        }
        format!("matched: {}", quoted.join(", "))
    }

    /// `similar to example "battery died in the rental car" (battery, died, rental)`.
    fn similarity_reason(&self, s: &similarity::SimilarDoc, post: &Post) -> String {
        let label = &self.similar.labels[s.doc];
        let shared = self.similar.index.shared_words(post, s.doc, 6);
        if shared.is_empty() {
            return label.clone();
        }
        // Built in one allocation rather than `format!` over `join` (a reason per suggestion
        // shown, on the per-post path whose p99 the matching bench holds to 50 µs).
        let mut out =
            String::with_capacity(label.len() + 3 + shared.iter().map(|w| w.len() + 2).sum::<usize>());
        out.push_str(label);
        out.push_str(" (");
        for (i, w) in shared.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(w);
        }
        out.push(')');
        out
    }

    /// Problems that do not refuse the set but make suggestions worse, each with file and
    /// line: examples in a language carebot cannot compare, and examples that the playbook
    /// they illustrate does not rank first.
    pub fn warnings(&self) -> Vec<PlaybookError> {
        let mut out: Vec<PlaybookError> = self.build_warnings.to_vec();
        let any_network = Network::parse("twitter").ok();
        for (i, pb) in self.playbooks.iter().enumerate() {
            let Some(network) = pb
                .triggers
                .networks
                .first()
                .cloned()
                .or_else(|| any_network.clone())
            else {
                continue;
            };
            let segment = pb.triggers.segments.first().copied().unwrap_or(Segment::Standard);
            for (j, example) in pb.triggers.examples.iter().enumerate() {
                let ranked = self.classify(example, &network, segment);
                let Some(first) = ranked.first() else { continue };
                if first.id == pb.id {
                    continue;
                }
                let place = match ranked.iter().position(|m| m.id == pb.id) {
                    Some(p) => format!("ranks it #{}", p + 1),
                    None => "does not suggest it at all".to_string(),
                };
                out.push(PlaybookError {
                    file: pb.file.clone(),
                    line: self.example_lines[i].get(j).copied(),
                    message: format!(
                        "this example {place}; `{}` comes first ({}) — reword the example, or add an exclusion to `{}`",
                        first.id,
                        first.reasons.join("; "),
                        first.id
                    ),
                });
            }
        }
        out
    }
}
