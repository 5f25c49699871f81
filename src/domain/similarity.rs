//! Lexical similarity between a post and short sample texts, in four languages.
//!
//! [`text`] turns a post into stemmed content words; [`detect`] says which language it is
//! in; [`Index`] holds the sample texts (a playbook's examples, keywords and title) as
//! TF-IDF vectors of word unigrams and bigrams in an inverted index, so scoring a post
//! costs what its words cost, not what the number of samples costs.
//!
//! Languages: English, Spanish, French and German have stemmers and stop words. A sample
//! is indexed in its own language and a post is compared only with samples in the post's
//! language, so a German post never "matches" an English example because both say
//! "hotel"; a post in any other language gets no similarity at all.

mod index;
mod stopwords;
pub mod text;

pub use index::{Index, IndexBuilder, Post, SimilarDoc, SimilarVisitor};

/// A language carebot can stem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    En = 0,
    Es = 1,
    Fr = 2,
    De = 3,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::En, Lang::Es, Lang::Fr, Lang::De];

    /// ISO 639-1: `en`, `es`, `fr`, `de`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
            Lang::Fr => "fr",
            Lang::De => "de",
        }
    }

    fn from_whatlang(lang: whatlang::Lang) -> Option<Lang> {
        match lang {
            whatlang::Lang::Eng => Some(Lang::En),
            whatlang::Lang::Spa => Some(Lang::Es),
            whatlang::Lang::Fra => Some(Lang::Fr),
            whatlang::Lang::Deu => Some(Lang::De),
            _ => None,
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// The language of a text, as far as carebot can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// One of the four languages with a stemmer.
    Known(Lang),
    /// Reliably another language, by its English name ("Italian").
    Other(&'static str),
}

/// Without any function word, whatlang's guess counts from this confidence on (it guesses
/// French at 0.35 for "website won't let me checkout!!").
const GUESS_CONFIDENCE: f64 = 0.5;

/// How much text the language detector reads (it is the costliest step for long posts).
const DETECT_BYTES: usize = 400;

/// The language of `text`.
///
/// Three or more function words of one of the four languages ("the", "el", "le", "der") and
/// at most a third as many of any other decide at once. Otherwise whatlang (trigram
/// statistics) decides when it is sure (one of the four, or another language). Otherwise the text is short or mixed, and the function words of the four
/// languages are counted ("the", "el", "le", "der"): the language with most decides; on a tie whatlang's guess
/// among the tied ones (or another language it guesses, unless English is tied). With no
/// evidence at all: English, the library's main language (whatlang is unreliable on a few
/// words, and such a text has few content words anyway).
pub fn detect(text: &str) -> Detected {
    detect_tokens(text).0
}

/// As [`detect`], also giving the tokens it read (French ones; [`Index::post_from`] reuses
/// them when the language tokenises the text the same way).
pub fn detect_tokens(text: &str) -> (Detected, text::Tokens) {
    let mut tokens = text::Tokens::default();
    tokens.fill(text, Lang::Fr);
    (detect_from(text, &tokens), tokens)
}

/// [`detect`] with the text's French `tokens` read already.
fn detect_from(text: &str, tokens: &text::Tokens) -> Detected {
    let votes = stopwords::marker_votes(tokens.bits());
    let (best, &top) = votes
        .iter()
        .enumerate()
        .max_by_key(|&(i, v)| (*v, std::cmp::Reverse(i)))
        .unwrap_or((0, &0));
    let runner_up = votes
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != best)
        .map(|(_, v)| *v)
        .max()
        .unwrap_or(0);
    // Plenty of one language's function words and few of any other: no need to ask whatlang
    // (the costliest step, and no better on such a text).
    if top >= 3 && top >= 3 * runner_up {
        return Detected::Known(Lang::ALL[best]);
    }
    let mut cut = text.len().min(DETECT_BYTES);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let guess = whatlang::detect(&text[..cut]);
    if let Some(info) = guess.as_ref().filter(|i| i.is_reliable()) {
        return match Lang::from_whatlang(info.lang()) {
            Some(lang) => Detected::Known(lang),
            None => Detected::Other(info.lang().eng_name()),
        };
    }
    if top > runner_up {
        return Detected::Known(Lang::ALL[best]);
    }
    // A tie between languages that have function words here: whatlang's guess if it is one
    // of them; another language if whatlang guesses one and English is not among them.
    if top > 0 {
        let tied = |l: Lang| votes[l as usize] == top;
        if let Some(info) = &guess {
            match Lang::from_whatlang(info.lang()) {
                Some(lang) if tied(lang) => return Detected::Known(lang),
                None if !tied(Lang::En) => return Detected::Other(info.lang().eng_name()),
                _ => {}
            }
        }
        if let Some(lang) = Lang::ALL.into_iter().find(|&l| tied(l)) {
            return Detected::Known(lang);
        }
    }
    // No function word at all: a fairly confident guess still counts.
    if let Some(info) = guess.filter(|i| i.confidence() >= GUESS_CONFIDENCE) {
        return match Lang::from_whatlang(info.lang()) {
            Some(lang) => Detected::Known(lang),
            None => Detected::Other(info.lang().eng_name()),
        };
    }
    Detected::Known(Lang::En)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(text: &str) -> Detected {
        detect(text)
    }

    #[test]
    fn the_four_languages_are_told_apart() {
        assert_eq!(
            lang("the battery died in the car I rented"),
            Detected::Known(Lang::En)
        );
        assert_eq!(
            lang("mi coche de alquiler se averió en la autopista y nadie viene"),
            Detected::Known(Lang::Es)
        );
        assert_eq!(
            lang("je suis bloqué sur l'autoroute avec la voiture de location"),
            Detected::Known(Lang::Fr)
        );
        assert_eq!(
            lang("Mein Mietwagen ist auf der Autobahn liegen geblieben"),
            Detected::Known(Lang::De)
        );
        // whatlang reads this one as Portuguese; "puedo" and "vuestra" are Spanish only.
        assert_eq!(
            lang("no puedo pagar en vuestra web, se queda cargando"),
            Detected::Known(Lang::Es)
        );
    }

    #[test]
    fn short_posts_without_function_words_still_get_a_language() {
        assert_eq!(lang("website won't let me checkout!!"), Detected::Known(Lang::En));
        assert_eq!(lang(""), Detected::Known(Lang::En));
        assert_eq!(lang("🙄🙄🙄"), Detected::Known(Lang::En));
    }

    #[test]
    fn another_language_is_recognised_as_such() {
        assert!(matches!(
            lang("la macchina che ho noleggiato si è rotta in autostrada, sono bloccato con due bambini"),
            Detected::Other(_)
        ));
        assert!(matches!(
            lang("o carro alugado quebrou na estrada e ninguém atende o telefone"),
            Detected::Other(_)
        ));
    }
}
