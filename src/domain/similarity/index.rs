//! The inverted index: sample texts as TF-IDF vectors, scored against a post by cosine.
//!
//! Terms are a language code with a stem ("en batteri") or two neighbouring stems ("en
//! batteri die"). A sample's weight for a term is `(1 + ln tf) * idf`, bigrams counted
//! [`BIGRAM_WEIGHT`] times (a shared pair of words says more than two loose ones), and each
//! sample's vector has length 1. A post's vector is weighted the same way; its words that
//! no sample has count in its length at [`UNKNOWN_WEIGHT`] of the rarest term's weight, so
//! a long post that shares one word with a sample is not "similar" to it; and a sample that
//! shares a single word with the post counts at [`SINGLE_WORD`] of its cosine.
//!
//! Scoring walks the posting lists of the post's terms only, accumulating dot products in
//! per-thread buffers (generation stamps, nothing cleared between posts).

use std::cell::RefCell;
use std::collections::HashMap;

use super::text::{words, Word};
use super::Lang;

/// How much more a shared bigram weighs than a shared word.
pub const BIGRAM_WEIGHT: f32 = 1.5;
/// A document sharing only one word with a post counts at this fraction of its cosine.
pub const SINGLE_WORD: f32 = 0.5;
/// A post word no sample has, relative to the weight of a word found in one sample only.
pub const UNKNOWN_WEIGHT: f32 = 0.6;

/// Collects sample texts, then builds the [`Index`].
#[derive(Debug, Default)]
pub struct IndexBuilder {
    terms: HashMap<String, u32>,
    /// Term -> whether it is a pair of words.
    bigram: Vec<bool>,
    /// Per document: (owner, term counts).
    docs: Vec<(u32, Vec<(u32, f32)>)>,
}

/// One sample text in the index.
#[derive(Debug, Clone)]
struct Doc {
    owner: u32,
    /// (term, weight), sorted by term; the vector has length 1.
    terms: Vec<(u32, f32)>,
}

/// Sample texts of many owners (playbooks), ready to score posts against.
#[derive(Debug, Clone, Default)]
pub struct Index {
    terms: HashMap<String, u32>,
    /// Term -> (document, weight).
    postings: Vec<Vec<(u32, f32)>>,
    /// Term -> idf, times [`BIGRAM_WEIGHT`] for bigrams.
    idf: Vec<f32>,
    /// Term -> whether it is a pair of words.
    bigram: Vec<bool>,
    docs: Vec<Doc>,
    owners: usize,
    /// Weight of a term that no document has (see [`UNKNOWN_WEIGHT`]).
    unknown: f32,
}

/// An owner's best-matching documents for a post.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarDoc {
    pub owner: usize,
    /// Combined similarity of the owner's closest documents, 0..1 for most posts.
    pub similarity: f32,
    /// The closest document (its number, as returned by [`IndexBuilder::add`]).
    pub doc: usize,
    /// Cosine of the post with that document alone.
    pub doc_similarity: f32,
}

/// Weights of an owner's first, second and third closest documents in its similarity:
/// several close examples are stronger evidence than one.
const TOP_WEIGHTS: [f32; 3] = [0.6, 0.25, 0.15];

fn push_key(key: &mut String, lang: Lang, first: &str, second: Option<&str>) {
    key.clear();
    key.push_str(lang.code());
    key.push(' ');
    key.push_str(first);
    if let Some(s) = second {
        key.push(' ');
        key.push_str(s);
    }
}

/// The (unigram, bigram) keys of `words`, each with whether it is a bigram.
fn for_each_term(words: &[Word], lang: Lang, mut f: impl FnMut(&str, bool)) {
    let mut key = String::new();
    for (i, w) in words.iter().enumerate() {
        push_key(&mut key, lang, &w.stem, None);
        f(&key, false);
        if let Some(next) = words.get(i + 1) {
            push_key(&mut key, lang, &w.stem, Some(&next.stem));
            f(&key, true);
        }
    }
}

impl IndexBuilder {
    /// Adds `text` in `lang` for `owner`; returns the document's number. `segments` lets a
    /// caller add several short phrases as one document without bigrams across them.
    pub fn add(&mut self, owner: usize, lang: Lang, segments: &[&str]) -> usize {
        let mut counts: HashMap<u32, f32> = HashMap::new();
        for segment in segments {
            let ws = words(segment, lang);
            for_each_term(&ws, lang, |key, bigram| {
                let id = match self.terms.get(key) {
                    Some(&id) => id,
                    None => {
                        let id = self.terms.len() as u32;
                        self.terms.insert(key.to_string(), id);
                        self.bigram.push(bigram);
                        id
                    }
                };
                *counts.entry(id).or_default() += 1.0;
            });
        }
        let mut terms: Vec<(u32, f32)> = counts.into_iter().collect();
        terms.sort_unstable_by_key(|&(t, _)| t);
        self.docs.push((owner as u32, terms));
        self.docs.len() - 1
    }

    pub fn build(self) -> Index {
        let n_terms = self.terms.len();
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
            .map(|(&d, &bigram)| {
                let idf = (1.0 + n / d.max(1) as f32).ln();
                if bigram {
                    idf * BIGRAM_WEIGHT
                } else {
                    idf
                }
            })
            .collect();
        let mut postings: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_terms];
        let mut docs = Vec::with_capacity(self.docs.len());
        let mut owners = 0usize;
        for (d, (owner, counts)) in self.docs.into_iter().enumerate() {
            owners = owners.max(owner as usize + 1);
            let mut terms: Vec<(u32, f32)> = counts
                .into_iter()
                .map(|(t, tf)| (t, (1.0 + tf.ln()) * idf[t as usize]))
                .collect();
            let norm = terms.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
            if norm > 0.0 {
                for (t, w) in &mut terms {
                    *w /= norm;
                    postings[*t as usize].push((d as u32, *w));
                }
            }
            docs.push(Doc { owner, terms });
        }
        Index {
            terms: self.terms,
            postings,
            idf,
            bigram: self.bigram,
            docs,
            owners,
            unknown: (1.0 + n).ln() * UNKNOWN_WEIGHT,
        }
    }
}

/// Per-thread buffers for scoring.
#[derive(Default)]
struct Scratch {
    generation: u32,
    dot: Vec<f32>,
    /// Per document: how many of the post's words it shares.
    shared: Vec<u16>,
    doc_seen: Vec<u32>,
    docs: Vec<u32>,
    owner_seen: Vec<u32>,
    owners: Vec<u32>,
    top: Vec<[(f32, u32); 3]>,
    key: String,
    query: Vec<(u32, f32)>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Index {
    /// How many documents the index holds.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The owner of document `doc`.
    pub fn owner(&self, doc: usize) -> usize {
        self.docs[doc].owner as usize
    }

    /// Owners whose documents share terms with `post` (already split into `words` in
    /// `lang`), best first, each at least `min_similarity`.
    pub fn similar(&self, post: &[Word], lang: Lang, min_similarity: f32) -> Vec<SimilarDoc> {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => self.similar_with(post, lang, min_similarity, &mut s),
            Err(_) => self.similar_with(post, lang, min_similarity, &mut Scratch::default()),
        })
    }

    fn similar_with(
        &self,
        post: &[Word],
        lang: Lang,
        min_similarity: f32,
        s: &mut Scratch,
    ) -> Vec<SimilarDoc> {
        if self.docs.is_empty() || post.is_empty() {
            return Vec::new();
        }
        if s.generation == u32::MAX {
            s.generation = 0;
            s.doc_seen.iter_mut().for_each(|g| *g = 0);
            s.owner_seen.iter_mut().for_each(|g| *g = 0);
        }
        s.generation += 1;
        let generation = s.generation;
        if s.doc_seen.len() < self.docs.len() {
            s.doc_seen.resize(self.docs.len(), 0);
            s.dot.resize(self.docs.len(), 0.0);
            s.shared.resize(self.docs.len(), 0);
        }
        if s.owner_seen.len() < self.owners {
            s.owner_seen.resize(self.owners, 0);
            s.top.resize(self.owners, [(0.0, 0); 3]);
        }
        s.docs.clear();
        s.owners.clear();

        // The post's vector: known terms with their counts; unknown words only in the length.
        let Scratch { key, query, .. } = s;
        query.clear();
        let mut unknown_words = 0usize;
        {
            let mut add = |k: &str, bigram: bool| match self.terms.get(k) {
                Some(&t) => match query.iter_mut().find(|(q, _)| *q == t) {
                    Some((_, c)) => *c += 1.0,
                    None => query.push((t, 1.0)),
                },
                None if !bigram => unknown_words += 1,
                None => {}
            };
            for (i, w) in post.iter().enumerate() {
                push_key(key, lang, &w.stem, None);
                add(key, false);
                if let Some(next) = post.get(i + 1) {
                    push_key(key, lang, &w.stem, Some(&next.stem));
                    add(key, true);
                }
            }
        }
        let mut norm2 = unknown_words as f32 * self.unknown * self.unknown;
        for (t, c) in query.iter_mut() {
            let w = (1.0 + c.ln()) * self.idf[*t as usize];
            *c = w;
            norm2 += w * w;
        }
        if query.is_empty() || norm2 <= 0.0 {
            return Vec::new();
        }
        let qnorm = norm2.sqrt();

        for &(t, qw) in query.iter() {
            for &(d, dw) in &self.postings[t as usize] {
                let d = d as usize;
                if s.doc_seen[d] != generation {
                    s.doc_seen[d] = generation;
                    s.dot[d] = 0.0;
                    s.shared[d] = 0;
                    s.docs.push(d as u32);
                }
                s.dot[d] += qw * dw;
                s.shared[d] += u16::from(!self.bigram[t as usize]);
            }
        }
        for &d in &s.docs {
            // One shared word is weak evidence ("bank" in "bank holidays" is no billing
            // dispute): such a document counts at a fraction of its cosine.
            let single = if s.shared[d as usize] < 2 {
                SINGLE_WORD
            } else {
                1.0
            };
            let cos = s.dot[d as usize] / qnorm * single;
            let owner = self.docs[d as usize].owner as usize;
            if s.owner_seen[owner] != generation {
                s.owner_seen[owner] = generation;
                s.top[owner] = [(0.0, u32::MAX); 3];
                s.owners.push(owner as u32);
            }
            let top = &mut s.top[owner];
            if cos > top[0].0 {
                top[2] = top[1];
                top[1] = top[0];
                top[0] = (cos, d);
            } else if cos > top[1].0 {
                top[2] = top[1];
                top[1] = (cos, d);
            } else if cos > top[2].0 {
                top[2] = (cos, d);
            }
        }
        let mut out: Vec<SimilarDoc> = s
            .owners
            .iter()
            .filter_map(|&o| {
                let top = &s.top[o as usize];
                let similarity: f32 = top.iter().zip(TOP_WEIGHTS).map(|((c, _), w)| c * w).sum();
                (similarity >= min_similarity && top[0].1 != u32::MAX).then_some(SimilarDoc {
                    owner: o as usize,
                    similarity,
                    doc: top[0].1 as usize,
                    doc_similarity: top[0].0,
                })
            })
            .collect();
        out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then(a.owner.cmp(&b.owner)));
        out
    }

    /// The words of `post` that document `doc` shares with it, in post order, each once.
    pub fn shared_words<'a>(&self, post: &'a [Word], lang: Lang, doc: usize) -> Vec<&'a str> {
        let terms = &self.docs[doc].terms;
        let mut key = String::new();
        let mut out: Vec<&str> = Vec::new();
        for w in post {
            push_key(&mut key, lang, &w.stem, None);
            let shared = self
                .terms
                .get(key.as_str())
                .is_some_and(|t| terms.binary_search_by_key(t, |&(x, _)| x).is_ok());
            if shared && !out.contains(&w.surface.as_str()) {
                out.push(&w.surface);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(samples: &[(usize, &str)]) -> Index {
        let mut b = IndexBuilder::default();
        for (owner, text) in samples {
            b.add(*owner, Lang::En, &[text]);
        }
        b.build()
    }

    fn post(text: &str) -> Vec<Word> {
        words(text, Lang::En)
    }

    #[test]
    fn the_closest_owner_comes_first_and_says_which_sample_and_words() {
        let ix = index(&[
            (0, "battery died in the rental car"),
            (0, "flat tyre on the motorway"),
            (1, "charged twice for my booking"),
        ]);
        let p = post("my rental's battery is dead, the car won't start");
        let got = ix.similar(&p, Lang::En, 0.01);
        assert_eq!(got[0].owner, 0);
        assert_eq!(got[0].doc, 0);
        assert!(got.iter().all(|s| s.owner != 1), "{got:?}");
        assert_eq!(ix.shared_words(&p, Lang::En, 0), ["rental", "battery", "car"]);
    }

    #[test]
    fn a_post_sharing_nothing_or_in_another_language_scores_nothing() {
        let ix = index(&[(0, "battery died in the rental car")]);
        assert!(ix.similar(&post("hello there"), Lang::En, 0.0).is_empty());
        assert!(ix
            .similar(&words("batterie voiture", Lang::Fr), Lang::Fr, 0.0)
            .is_empty());
        assert!(ix.similar(&[], Lang::En, 0.0).is_empty());
    }

    #[test]
    fn identical_text_is_fully_similar_and_extra_unknown_words_dilute_it() {
        let ix = index(&[(0, "battery died in the rental car"), (1, "charged twice")]);
        let same = ix.similar(&post("battery died in the rental car"), Lang::En, 0.0);
        assert!((same[0].doc_similarity - 1.0).abs() < 1e-4, "{same:?}");
        let diluted = ix.similar(
            &post("battery died in the rental car, also whatever zebra xylophone quantum"),
            Lang::En,
            0.0,
        );
        assert!(
            diluted[0].doc_similarity < same[0].doc_similarity - 0.05,
            "{diluted:?}"
        );
    }

    #[test]
    fn shared_bigrams_weigh_more_than_the_same_words_apart() {
        let ix = index(&[
            (0, "card declined"),
            (1, "declined offer for my card"),
            (2, "other words"),
        ]);
        let got = ix.similar(&post("card declined"), Lang::En, 0.0);
        assert_eq!(got[0].owner, 0);
        assert!(got[0].similarity > got[1].similarity);
    }

    #[test]
    fn the_minimum_similarity_drops_weak_owners() {
        let ix = index(&[
            (0, "battery died in the rental car"),
            (1, "the rental desk was lovely and quick"),
        ]);
        let p = post("battery died in my rental car");
        let all = ix.similar(&p, Lang::En, 0.0);
        assert_eq!(all.len(), 2);
        let strong = ix.similar(&p, Lang::En, all[1].similarity + 0.001);
        assert_eq!(strong.len(), 1);
    }
}
