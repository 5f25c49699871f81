//! The inverted index: sample texts as TF-IDF vectors, scored against a post by cosine.
//!
//! Terms are a stem in a language ("batteri" in English) or two neighbouring stems
//! ("batteri die"). A sample's weight for a term is `(1 + ln tf) * idf`, bigrams counted
//! [`BIGRAM_WEIGHT`] times (a shared pair of words says more than two loose ones), and each
//! sample's vector has length 1. A post's vector is weighted the same way; its words that
//! no sample has count in its length at [`UNKNOWN_WEIGHT`] of the rarest term's weight, so
//! a long post that shares one word with a sample is not "similar" to it; and a sample that
//! shares a single word with the post counts at [`SINGLE_WORD`] of its cosine. Two terms are
//! not words: "asks a question" ([`QUESTION_WEIGHT`]) and "says something kind"
//! ([`PRAISE_WEIGHT`]), what sets general enquiries and praise apart from complaints that
//! use the same nouns.
//!
//! Speed: terms are numbers. A post's word finds its term through the words the samples
//! used (no stemming for those) or its stem; a bigram is looked up by its two term numbers.
//! Scoring walks the posting lists of the post's terms only, accumulating dot products in
//! per-thread buffers: marked per post when the lists are short, plain arrays cleared at
//! once when the lists cover most documents anyway (then the owners with the closest
//! documents are scored first, so that the others are mostly dismissed by their closest
//! document). The walk is in `index/score.rs`.

use super::text::{self, Tokens};
use super::Lang;
use rustc_hash::FxHashMap;

mod build;
mod score;

pub use build::IndexBuilder;

/// How much a shared bigram weighs against a shared word: the pair counts besides its two
/// words, so it already weighs more than the same words apart. Less than a word: in posts
/// this short, pairs such as "next day" or "last week" are shared by chance across topics
/// (0.6 to 0.8 all do better than 1.0 on the tuning posts that are not examples).
pub const BIGRAM_WEIGHT: f32 = 0.7;
/// A document sharing only one word with a post counts at this fraction of its cosine.
pub const SINGLE_WORD: f32 = 0.5;
/// How much more "asks a question" weighs than a word as common (general enquiries are
/// questions, and what makes them questions are stop words).
pub const QUESTION_WEIGHT: f32 = 2.0;
/// How much more "says something kind" weighs than a word as common (praise shares its
/// nouns with complaints: "the delivery guy", "money back"; what sets it apart is the tone).
pub const PRAISE_WEIGHT: f32 = 2.0;
/// A post word no sample has, relative to the weight of a word found in one sample only.
pub const UNKNOWN_WEIGHT: f32 = 0.6;

/// Term numbers of one language's words and pairs of words.
#[derive(Debug, Clone, Default)]
struct Vocabulary {
    /// Stem -> term.
    stems: FxHashMap<Box<str>, u32>,
    /// A word as samples wrote it (normalised) -> its stem's term: most of a post's words
    /// are found here without stemming.
    surfaces: FxHashMap<Box<str>, u32>,
}

/// The key of the "asks a question" term.
const QUESTION: &str = "?";
/// The key of the "says something kind" term.
const PRAISE: &str = "+";

/// One sample text in the index.
#[derive(Debug, Clone)]
struct Doc {
    owner: u32,
    /// (term, weight), sorted by term; the vector has length 1.
    terms: Vec<(u32, f32)>,
}

/// The postings of one term: documents and weights, in document order.
#[derive(Debug, Clone, Default)]
struct Postings {
    docs: Vec<u32>,
    weights: Vec<f32>,
}

/// Sample texts of many owners (playbooks), ready to score posts against.
#[derive(Debug, Clone, Default)]
pub struct Index {
    vocabularies: [Vocabulary; 4],
    bigrams: FxHashMap<u64, u32>,
    postings: Vec<Postings>,
    /// Term -> idf, times [`BIGRAM_WEIGHT`] for bigrams.
    idf: Vec<f32>,
    /// Term -> whether it is a pair of words.
    bigram: Vec<bool>,
    /// Documents grouped by owner (the numbers used inside the index).
    docs: Vec<Doc>,
    /// Inside number -> owner, for the scoring walk.
    doc_owner: Vec<u32>,
    /// (owner, first document, end) of each owner's run of documents.
    owners: Vec<(u32, u32, u32)>,
    /// Inside number -> the number [`IndexBuilder::add`] returned, and back.
    external: Vec<u32>,
    internal: Vec<u32>,
    /// Weight of a term that no document has (see [`UNKNOWN_WEIGHT`]).
    unknown: f32,
}

/// A post read for an [`Index`]: its content words and the index's terms for them.
#[derive(Debug, Clone)]
pub struct Post {
    lang: Lang,
    tokens: Tokens,
    /// Per content word: its token and its term (`None`: no sample has it).
    words: Vec<(u32, Option<u32>)>,
    /// The "asks a question" term, if the post asks one and some sample does.
    question: Option<u32>,
    /// The "says something kind" term, if the post does and some sample does.
    praise: Option<u32>,
}

impl Post {
    /// The language the post was read in.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// Whether the post has no content word at all.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The content words, normalised, in order.
    pub fn words(&self) -> impl Iterator<Item = &str> + '_ {
        self.words.iter().map(|&(t, _)| self.tokens.get(t as usize))
    }
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

/// Receives the owners similar to a post from [`Index::visit_similar`], and says which
/// of the others it still wants, so that those it cannot use are not scored in full.
pub trait SimilarVisitor {
    /// Takes one owner's similarity (owners come in no particular order).
    fn visit(&mut self, s: SimilarDoc);
    /// The similarity an owner must now reach to be of use, unless [`Self::always`] wants
    /// it: owners whose closest document is already below it may be skipped.
    fn bar(&mut self) -> f32;
    /// Whether `owner` is wanted whatever its similarity.
    fn always(&self, owner: usize) -> bool;
}

/// Every owner, with a closure.
struct Every<F>(F);

impl<F: FnMut(SimilarDoc)> SimilarVisitor for Every<F> {
    fn visit(&mut self, s: SimilarDoc) {
        (self.0)(s)
    }
    fn bar(&mut self) -> f32 {
        0.0
    }
    fn always(&self, _: usize) -> bool {
        true
    }
}

fn pair(first: u32, second: u32) -> u64 {
    (u64::from(first) << 32) | u64::from(second)
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
        self.docs[self.internal[doc] as usize].owner as usize
    }

    /// Reads `text` in `lang`: its content words and their terms.
    pub fn post(&self, text: &str, lang: Lang) -> Post {
        self.post_from(text, lang, Tokens::default())
    }

    /// As [`Index::post`], reusing `tokens` if they are `text`'s in a language that
    /// tokenises it the same way (see [`Tokens::same_in`]).
    pub fn post_from(&self, text: &str, lang: Lang, mut tokens: Tokens) -> Post {
        if !tokens.same_in(lang) {
            tokens.fill(text, lang);
        }
        let vocabulary = &self.vocabularies[lang as usize];
        let mut words = Vec::with_capacity(tokens.len());
        for (i, token) in tokens.iter().enumerate() {
            if !text::is_content(&tokens, lang, i) {
                continue;
            }
            let term = match vocabulary.surfaces.get(token) {
                Some(&t) => Some(t),
                None => vocabulary.stems.get(&*text::stem(lang, token)).copied(),
            };
            words.push((i as u32, term));
        }
        let question = match text::asks(text, lang) {
            true => vocabulary.stems.get(QUESTION).copied(),
            false => None,
        };
        let praise = match text::praises(&tokens, lang) {
            true => vocabulary.stems.get(PRAISE).copied(),
            false => None,
        };
        Post {
            lang,
            tokens,
            words,
            question,
            praise,
        }
    }

    /// Owners whose documents share terms with `post`, best first (then by owner), each
    /// at least `min_similarity`.
    pub fn similar(&self, post: &Post, min_similarity: f32) -> Vec<SimilarDoc> {
        let mut out = Vec::new();
        self.visit_similar(post, min_similarity, &mut Every(|s| out.push(s)));
        out.sort_unstable_by(|a, b| b.similarity.total_cmp(&a.similarity).then(a.owner.cmp(&b.owner)));
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

    #[test]
    fn the_closest_owner_comes_first_and_says_which_sample_and_words() {
        let ix = index(&[
            (0, "battery died in the rental car"),
            (0, "flat tyre on the motorway"),
            (1, "charged twice for my booking"),
        ]);
        let p = ix.post("my rental's battery is dead, the car won't start", Lang::En);
        let got = ix.similar(&p, 0.01);
        assert_eq!(got[0].owner, 0);
        assert_eq!(got[0].doc, 0);
        assert!(got.iter().all(|s| s.owner != 1), "{got:?}");
        assert_eq!(ix.shared_words(&p, 0, 6), ["rental", "battery", "car"]);
        assert_eq!(ix.shared_words(&p, 0, 2), ["rental", "battery"]);
    }

    #[test]
    fn a_post_sharing_nothing_or_in_another_language_scores_nothing() {
        let ix = index(&[(0, "battery died in the rental car")]);
        assert!(ix.similar(&ix.post("hello there", Lang::En), 0.0).is_empty());
        assert!(ix.similar(&ix.post("batterie voiture", Lang::Fr), 0.0).is_empty());
        assert!(ix.similar(&ix.post("", Lang::En), 0.0).is_empty());
    }

    #[test]
    fn identical_text_is_fully_similar_and_extra_unknown_words_dilute_it() {
        let ix = index(&[(0, "battery died in the rental car"), (1, "charged twice")]);
        let same = ix.similar(&ix.post("battery died in the rental car", Lang::En), 0.0);
        assert!((same[0].doc_similarity - 1.0).abs() < 1e-4, "{same:?}");
        let diluted = ix.similar(
            &ix.post(
                "battery died in the rental car, also whatever zebra xylophone quantum",
                Lang::En,
            ),
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
        let got = ix.similar(&ix.post("card declined", Lang::En), 0.0);
        assert_eq!(got[0].owner, 0);
        assert!(got[0].similarity > got[1].similarity);
    }

    #[test]
    fn the_minimum_similarity_drops_weak_owners() {
        let ix = index(&[
            (0, "battery died in the rental car"),
            (1, "the rental desk was lovely and quick"),
        ]);
        let p = ix.post("battery died in my rental car", Lang::En);
        let all = ix.similar(&p, 0.0);
        assert_eq!(all.len(), 2);
        let strong = ix.similar(&p, all[1].similarity + 0.001);
        assert_eq!(strong.len(), 1);
    }
}
