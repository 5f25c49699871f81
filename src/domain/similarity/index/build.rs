//! Collecting sample texts into an [`Index`]: terms numbered as they come, then TF-IDF
//! weights, documents grouped by owner, and the posting lists.

use rustc_hash::FxHashMap;

use super::super::text::{self, words, Tokens, Word};
use super::super::Lang;
use super::{
    pair, Doc, Index, Postings, Vocabulary, BIGRAM_WEIGHT, PRAISE, PRAISE_WEIGHT, QUESTION, QUESTION_WEIGHT,
    UNKNOWN_WEIGHT,
};

/// Collects sample texts, then builds the [`Index`].
#[derive(Debug, Default)]
pub struct IndexBuilder {
    vocabularies: [Vocabulary; 4],
    /// (first term, second term) -> term.
    bigrams: FxHashMap<u64, u32>,
    /// Term -> whether it is a pair of words.
    bigram: Vec<bool>,
    /// Per document: (owner, term counts).
    docs: Vec<Counted>,
    /// The "asks a question" terms.
    questions: Vec<u32>,
    /// The "says something kind" terms.
    praises: Vec<u32>,
}

/// A document being collected: its owner and its term counts.
type Counted = (u32, Vec<(u32, f32)>);

impl IndexBuilder {
    /// Adds `text` in `lang` for `owner`; returns the document's number. `segments` lets a
    /// caller add several short phrases as one document without bigrams across them.
    pub fn add(&mut self, owner: usize, lang: Lang, segments: &[&str]) -> usize {
        let mut counts: FxHashMap<u32, f32> = FxHashMap::default();
        for segment in segments {
            let ws = words(segment, lang);
            if text::asks(segment, lang) {
                let t = self.signal(lang, QUESTION);
                *counts.entry(t).or_default() += 1.0;
            }
            let mut tokens = Tokens::default();
            tokens.fill(segment, lang);
            if text::praises(&tokens, lang) {
                let t = self.signal(lang, PRAISE);
                *counts.entry(t).or_default() += 1.0;
            }
            let mut previous: Option<u32> = None;
            for w in &ws {
                let t = self.unigram(lang, w);
                *counts.entry(t).or_default() += 1.0;
                if let Some(p) = previous {
                    let b = self.bigram_term(p, t);
                    *counts.entry(b).or_default() += 1.0;
                }
                previous = Some(t);
            }
        }
        let mut terms: Vec<(u32, f32)> = counts.into_iter().collect();
        terms.sort_unstable_by_key(|&(t, _)| t);
        self.docs.push((owner as u32, terms));
        self.docs.len() - 1
    }

    /// The term that stands for "asks a question" ([`QUESTION`]) or "says something kind"
    /// ([`PRAISE`]) in `lang` (not a word: `?` and `+` are no stems).
    fn signal(&mut self, lang: Lang, key: &str) -> u32 {
        match self.vocabularies[lang as usize].stems.get(key) {
            Some(&t) => t,
            None => {
                let t = self.new_term(true);
                match key {
                    QUESTION => self.questions.push(t),
                    _ => self.praises.push(t),
                }
                self.vocabularies[lang as usize].stems.insert(key.into(), t);
                t
            }
        }
    }

    fn new_term(&mut self, bigram: bool) -> u32 {
        self.bigram.push(bigram);
        (self.bigram.len() - 1) as u32
    }

    fn unigram(&mut self, lang: Lang, w: &Word) -> u32 {
        let t = match self.vocabularies[lang as usize].stems.get(w.stem.as_str()) {
            Some(&t) => t,
            None => {
                let t = self.new_term(false);
                self.vocabularies[lang as usize]
                    .stems
                    .insert(w.stem.as_str().into(), t);
                t
            }
        };
        self.vocabularies[lang as usize]
            .surfaces
            .entry(w.surface.as_str().into())
            .or_insert(t);
        t
    }

    fn bigram_term(&mut self, first: u32, second: u32) -> u32 {
        match self.bigrams.get(&pair(first, second)) {
            Some(&t) => t,
            None => {
                let t = self.new_term(true);
                self.bigrams.insert(pair(first, second), t);
                t
            }
        }
    }

    pub fn build(self) -> Index {
        let n_terms = self.bigram.len();
        let mut df = vec![0u32; n_terms];
        for (_, terms) in &self.docs {
            for &(t, _) in terms {
                df[t as usize] += 1;
            }
        }
        let n = self.docs.len().max(1) as f32;

        let idf: Vec<f32> = df
            .iter()
            .zip(&self.bigram)
            .enumerate()
            .map(|(t, (&d, &bigram))| {
                let idf = (1.0 + n / d.max(1) as f32).ln();
                if self.questions.contains(&(t as u32)) {
                    idf * QUESTION_WEIGHT
                } else if self.praises.contains(&(t as u32)) {
                    idf * PRAISE_WEIGHT
                } else if bigram {
                    idf * BIGRAM_WEIGHT
                } else {
                    idf
                }
            })
            .collect();
        let mut postings: Vec<Postings> = vec![Postings::default(); n_terms];
        // Documents grouped by owner, so that scoring finds an owner's documents together.
        let mut order: Vec<usize> = (0..self.docs.len()).collect();
        order.sort_by_key(|&d| self.docs[d].0);
        let mut internal = vec![0u32; order.len()];
        for (i, &d) in order.iter().enumerate() {
            internal[d] = i as u32;
        }
        let mut by_number: Vec<Option<Counted>> = self.docs.into_iter().map(Some).collect();
        let mut docs = Vec::with_capacity(order.len());
        for (i, &d) in order.iter().enumerate() {
            let Some((owner, counts)) = by_number[d].take() else {
                continue;
            };
            let mut terms: Vec<(u32, f32)> = counts
                .into_iter()
                .map(|(t, tf)| (t, (1.0 + tf.ln()) * idf[t as usize]))
                .collect();
            let norm = terms.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
            if norm > 0.0 {
                for (t, w) in &mut terms {
                    *w /= norm;
                    let p = &mut postings[*t as usize];
                    p.docs.push(i as u32);
                    p.weights.push(*w);
                }
            }
            docs.push(Doc { owner, terms });
        }
        let mut owners: Vec<(u32, u32, u32)> = Vec::new();
        for (i, d) in docs.iter().enumerate() {
            match owners.last_mut() {
                Some(run) if run.0 == d.owner => run.2 = i as u32 + 1,
                _ => owners.push((d.owner, i as u32, i as u32 + 1)),
            }
        }
        Index {
            vocabularies: self.vocabularies,
            bigrams: self.bigrams,
            postings,
            idf,
            bigram: self.bigram,
            owners,
            doc_owner: docs.iter().map(|d| d.owner).collect(),
            external: order.iter().map(|&d| d as u32).collect(),
            internal,
            docs,
            unknown: (1.0 + n).ln() * UNKNOWN_WEIGHT,
        }
    }
}
