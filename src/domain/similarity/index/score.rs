//! Scoring a post against an [`Index`]: the post's vector, its dot product with every
//! document that shares a term with it, then each owner's closest documents.

use std::cell::RefCell;

use super::{pair, Index, Post, SimilarDoc, SimilarVisitor, SINGLE_WORD};

/// An owner's similarity is at most its closest document's cosine (the weights below add
/// up to 1); this covers the rounding of the weighted sum.
const BOUND_SLACK: f32 = 1.0001;

/// Weights of an owner's first, second and third closest documents in its similarity:
/// several close examples are stronger evidence than one.
const TOP_WEIGHTS: [f32; 3] = [0.6, 0.25, 0.15];

/// How many owners with the closest documents the dense walk scores first: the visitor's
/// bar then rises at once, and most other owners are dismissed by their closest document.
const LEADS: usize = 12;

/// An owner's three largest cosines so far, and the document with the largest.
type Top3 = (f32, f32, f32, u32);

/// A document's cosine with the post. One shared word is weak evidence ("bank" in "bank
/// holidays" is no billing dispute): such a document counts at a fraction of its cosine.
#[inline]
fn cosine([dot, shared_words]: Acc, inv_qnorm: f32) -> f32 {
    let single = if shared_words < 2.0 { SINGLE_WORD } else { 1.0 };
    dot * inv_qnorm * single
}

/// A document's dot product with the post and how many of the post's words it shares,
/// side by side so that a posting adds to both with one load and one store (the count is
/// a small whole number, exact in an `f32`; the dot's sums are those of a lone `f32`).
type Acc = [f32; 2];

/// Adds a posting's product (and, for a word, one shared word) to `acc`.
#[inline(always)]
fn add(acc: &mut Acc, product: f32, word: f32) {
    let [dot, shared] = *acc;
    *acc = [dot + product, shared + word];
}

/// The largest of `cosines` (0 if none), in four lanes that the compiler vectorises (the
/// comparison is written as `maxps` computes it).
#[inline]
fn closest(cosines: &[f32]) -> f32 {
    let max = |a: f32, b: f32| if a > b { a } else { b };
    let mut lanes = [0f32; 4];
    let mut chunks = cosines.chunks_exact(4);
    for chunk in &mut chunks {
        for (lane, &c) in lanes.iter_mut().zip(chunk) {
            *lane = max(c, *lane);
        }
    }
    let rest = chunks.remainder().iter().fold(0f32, |m, &c| max(c, m));
    max(max(max(lanes[0], lanes[1]), max(lanes[2], lanes[3])), rest)
}

/// Adds document `d`'s cosine to `top`, with selects rather than branches (which document
/// beats which is unpredictable), each of the three new values computed from the old ones
/// alone, so that the next document need not wait for a chain of them.
#[inline]
fn push_top3(top: &mut Top3, cos: f32, d: u32) {
    let max = |a: f32, b: f32| if a > b { a } else { b };
    let min = |a: f32, b: f32| if a > b { b } else { a };
    let (t0, t1, t2, best) = *top;
    let best = if cos > t0 { d } else { best };
    *top = (max(cos, t0), max(t1, min(t0, cos)), max(t2, min(t1, cos)), best);
}

/// Per-thread buffers for scoring.
#[derive(Default)]
struct Scratch {
    generation: u32,
    /// Per document: the dot product with the post and how many of its words it shares.
    acc: Vec<Acc>,
    /// Per document (dense walk): its cosine with the post.
    cos: Vec<f32>,
    doc_seen: Vec<u32>,
    docs: Vec<u32>,
    /// Per term: the generation it was last seen in the post, and its place in `query`.
    term_seen: Vec<(u32, u32)>,
    /// The post's known terms with their counts, then their weights.
    query: Vec<(u32, f32)>,
    /// Per owner (dense walk): its closest document's cosine, [`SCORED`] once scored.
    closest: Vec<f32>,
    /// The owners scored first (dense walk): closest document's cosine, owner's place.
    leads: Vec<(f32, u32)>,
}

/// Marks an owner already scored (cosines are not negative).
const SCORED: f32 = -1.0;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Scratch {
    fn begin(&mut self, docs: usize, terms: usize) -> u32 {
        if self.generation == u32::MAX {
            self.generation = 0;
            self.doc_seen.iter_mut().for_each(|g| *g = 0);
            self.term_seen.iter_mut().for_each(|g| g.0 = 0);
        }
        self.generation += 1;
        if self.doc_seen.len() < docs {
            self.doc_seen.resize(docs, 0);
            self.acc.resize(docs, [0.0; 2]);
            self.cos.resize(docs, 0.0);
        }
        if self.term_seen.len() < terms {
            self.term_seen.resize(terms, (0, 0));
        }
        self.docs.clear();
        self.query.clear();
        self.generation
    }
}

impl Index {
    /// Gives `visitor` the owners of [`Index::similar`] it wants, in no particular order
    /// (for callers that want a few of them: nothing is collected or sorted).
    pub fn visit_similar(&self, post: &Post, min_similarity: f32, visitor: &mut impl SimilarVisitor) {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => self.similar_with(post, min_similarity, &mut s, visitor),
            Err(_) => self.similar_with(post, min_similarity, &mut Scratch::default(), visitor),
        })
    }

    /// The first `limit` words of `post` that document `doc` shares with it, in post
    /// order, each once.
    pub fn shared_words<'a>(&self, post: &'a Post, doc: usize, limit: usize) -> Vec<&'a str> {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => self.shared_words_with(post, doc, limit, &mut s),
            Err(_) => self.shared_words_with(post, doc, limit, &mut Scratch::default()),
        })
    }

    fn shared_words_with<'a>(
        &self,
        post: &'a Post,
        doc: usize,
        limit: usize,
        s: &mut Scratch,
    ) -> Vec<&'a str> {
        // The document's terms are marked, so that each word is one look-up.
        let generation = s.begin(self.docs.len(), self.idf.len());
        for &(t, _) in &self.docs[self.internal[doc] as usize].terms {
            s.term_seen[t as usize].0 = generation;
        }
        let mut out: Vec<&str> = Vec::new();
        for &(token, term) in &post.words {
            if out.len() == limit {
                break;
            }
            let shared = term.is_some_and(|t| s.term_seen[t as usize].0 == generation);
            let surface = post.tokens.get(token as usize);
            if shared && !out.contains(&surface) {
                out.push(surface);
            }
        }
        out
    }

    fn similar_with(
        &self,
        post: &Post,
        min_similarity: f32,
        s: &mut Scratch,
        visit: &mut impl SimilarVisitor,
    ) {
        if self.docs.is_empty() || post.words.is_empty() {
            return;
        }
        let n_docs = self.docs.len();
        let generation = s.begin(n_docs, self.idf.len());
        let Some(inv_qnorm) = self.query(post, s, generation) else {
            return;
        };
        let postings: usize = s
            .query
            .iter()
            .map(|&(t, _)| self.postings[t as usize].docs.len())
            .sum();

        // Dot products. When the posting lists reach most documents, plain arrays cleared at
        // once cost less than marking each document on its first visit.
        let dense = postings * 2 >= n_docs;
        let Scratch {
            acc,
            cos,
            doc_seen,
            docs,
            query,
            ..
        } = &mut *s;
        if dense {
            let (acc, cos) = (&mut acc[..n_docs], &mut cos[..n_docs]);
            acc.fill([0.0; 2]);
            for &(t, qw) in query.iter() {
                let p = &self.postings[t as usize];
                // Only words count as shared.
                let word = if self.bigram[t as usize] { 0.0 } else { 1.0 };
                for (&d, &dw) in p.docs.iter().zip(&p.weights) {
                    add(&mut acc[d as usize], qw * dw, word);
                }
            }
            for (c, &a) in cos.iter_mut().zip(acc.iter()) {
                *c = cosine(a, inv_qnorm);
            }
            self.closest_dense(s, min_similarity, visit);
        } else {
            for &(t, qw) in query.iter() {
                let p = &self.postings[t as usize];
                let word = if self.bigram[t as usize] { 0.0 } else { 1.0 };
                for (&d, &dw) in p.docs.iter().zip(&p.weights) {
                    let d = d as usize;
                    if doc_seen[d] != generation {
                        doc_seen[d] = generation;
                        acc[d] = [0.0; 2];
                        docs.push(d as u32);
                    }
                    add(&mut acc[d], qw * dw, word);
                }
            }
            // In document order, as the dense walk: equally close documents are then told
            // apart the same way whichever walk found them.
            docs.sort_unstable();
            self.closest(s, inv_qnorm, min_similarity, visit);
        }
    }

    /// Fills `s.query` with the post's known terms and their weights; returns the inverse
    /// of the post vector's length (`None`: the post has no weight at all).
    fn query(&self, post: &Post, s: &mut Scratch, generation: u32) -> Option<f32> {
        // The post's vector: known terms with their counts; unknown words only in the length.
        let mut unknown_words = 0usize;
        let Scratch { term_seen, query, .. } = s;
        let mut add = |t: u32| {
            let seen = &mut term_seen[t as usize];
            if seen.0 == generation {
                query[seen.1 as usize].1 += 1.0;
            } else {
                *seen = (generation, query.len() as u32);
                query.push((t, 1.0));
            }
        };
        let mut previous: Option<u32> = None;
        for &(_, term) in &post.words {
            match term {
                Some(t) => {
                    add(t);
                    if let Some(p) = previous {
                        if let Some(&b) = self.bigrams.get(&pair(p, t)) {
                            add(b);
                        }
                    }
                }
                None => unknown_words += 1,
            }
            previous = term;
        }
        for t in [post.question, post.praise].into_iter().flatten() {
            add(t);
        }
        let mut norm2 = unknown_words as f32 * self.unknown * self.unknown;
        for (t, c) in query.iter_mut() {
            let w = (1.0 + c.ln()) * self.idf[*t as usize];
            *c = w;
            norm2 += w * w;
        }
        if query.is_empty() || norm2 <= 0.0 {
            return None;
        }
        Some(1.0 / norm2.sqrt())
    }

    /// An owner's similarity from its three closest documents' cosines.
    fn owner_similarity(&self, owner: u32, top: Top3, min_similarity: f32) -> Option<SimilarDoc> {
        let (t0, t1, t2, best) = top;
        if t0 <= 0.0 {
            return None;
        }
        let similarity = t0 * TOP_WEIGHTS[0] + t1 * TOP_WEIGHTS[1] + t2 * TOP_WEIGHTS[2];
        (similarity >= min_similarity).then(|| SimilarDoc {
            owner: owner as usize,
            similarity,
            doc: self.external[best as usize] as usize,
            doc_similarity: t0,
        })
    }

    /// [`Index::closest`] over every document (`s.cos`: each one's cosine), owner by
    /// owner. The owners with the closest documents go first; then an owner the visitor
    /// no longer wants is dismissed by its closest document (its similarity is at most
    /// that cosine).
    fn closest_dense<V: SimilarVisitor>(&self, s: &mut Scratch, min_similarity: f32, visit: &mut V) {
        let Scratch {
            cos,
            closest: closest_of,
            leads,
            ..
        } = s;
        let cos = &cos[..self.docs.len()];
        closest_of.clear();
        closest_of.extend(
            self.owners
                .iter()
                .map(|&(_, start, end)| closest(&cos[start as usize..end as usize])),
        );
        // The first LEADS owners by closest document (ties: the earlier owner first), kept
        // in order by shifting, which costs less than a binary search and a move per owner.
        leads.clear();
        for (i, &c) in closest_of.iter().enumerate() {
            if leads.len() == LEADS {
                if c <= leads[LEADS - 1].0 {
                    continue;
                }
                leads.pop();
            }
            let mut at = leads.len();
            leads.push((c, i as u32));
            while at > 0 && leads[at - 1].0 < c {
                leads[at] = leads[at - 1];
                at -= 1;
            }
            leads[at] = (c, i as u32);
        }
        let score = |i: usize, visit: &mut _| {
            let (owner, start, end) = self.owners[i];
            let mut top: Top3 = (0.0, 0.0, 0.0, 0);
            for (d, &c) in cos[start as usize..end as usize].iter().enumerate() {
                push_top3(&mut top, c, start + d as u32);
            }
            if let Some(s) = self.owner_similarity(owner, top, min_similarity) {
                SimilarVisitor::visit(visit, s);
            }
        };
        // Whether the visitor may still want owner `i`, whose closest document is `c`. Its
        // bar changes only when it is given an owner, so it is asked again only then.
        let wanted = |i: usize, c: f32, bar: f32, visit: &V| {
            bar <= 0.0 || c * BOUND_SLACK >= bar || visit.always(self.owners[i].0 as usize)
        };
        let mut bar = visit.bar();
        for &(c, i) in leads.iter() {
            if wanted(i as usize, c, bar, visit) {
                score(i as usize, visit);
                bar = visit.bar();
            }
            closest_of[i as usize] = SCORED;
        }
        for (i, &c) in closest_of.iter().enumerate() {
            if c != SCORED && wanted(i, c, bar, visit) {
                score(i, visit);
                bar = visit.bar();
            }
        }
    }

    /// Each owner's three closest documents among those the post reached (`s.docs`, in
    /// document order, so an owner's documents come together), combined into its
    /// similarity.
    fn closest(&self, s: &Scratch, inv_qnorm: f32, min_similarity: f32, visit: &mut impl SimilarVisitor) {
        let mut current = u32::MAX;
        let mut top: Top3 = (0.0, 0.0, 0.0, 0);
        for &d in &s.docs {
            let d = d as usize;
            let owner = self.doc_owner[d];
            if owner != current {
                if current != u32::MAX {
                    if let Some(s) = self.owner_similarity(current, top, min_similarity) {
                        visit.visit(s);
                    }
                }
                current = owner;
                top = (0.0, 0.0, 0.0, 0);
            }
            push_top3(&mut top, cosine(s.acc[d], inv_qnorm), d as u32);
        }
        if current != u32::MAX {
            if let Some(s) = self.owner_similarity(current, top, min_similarity) {
                visit.visit(s);
            }
        }
    }
}
