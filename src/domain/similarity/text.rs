//! From a post as customers write it to the terms the index compares: normalise, tokenise,
//! drop stop words, stem, and pair neighbouring words into bigrams.
//!
//! Normalising: Unicode lower case, accents removed (customers often leave them out, so
//! "cancelación" and "cancelacion" must meet), URLs and @handles dropped, `#hashtag` read as
//! its word, emoji and punctuation are separators, a letter repeated three or more times
//! counts once ("sooooo" -> "so", "pleaseeee" -> "please"), apostrophes join English
//! contractions ("won't" -> "wont") and split French elisions ("l'appli" -> "appli").

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::char::{decompose_canonical, is_combining_mark};

use super::stopwords::WordBits;
use super::Lang;

/// The most of a post that is analysed: longer posts are cut here (at a character
/// boundary), so a 100 KB paste costs what its first screen costs.
pub const MAX_ANALYSED_BYTES: usize = 2_000;

/// One word of a post after normalising, before stemming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The normalised word, as a reason may quote it ("battery").
    pub surface: String,
    /// Its stem in the post's language ("batteri").
    pub stem: String,
}

/// The content words of `text` in `lang`, in order: stop words removed, stems computed.
pub fn words(text: &str, lang: Lang) -> Vec<Word> {
    let mut tokens = Tokens::default();
    tokens.fill(text, lang);
    (0..tokens.len())
        .filter(|&i| is_content(&tokens, lang, i))
        .map(|i| tokens.get(i))
        .map(|token| Word {
            surface: token.to_string(),
            stem: stem(lang, token).into_owned(),
        })
        .collect()
}

/// Whether `text` asks something: a question mark, or a first word that opens a question
/// ("do you ...", "can I ...", "¿...", "est-ce que ...", "habt ihr ..."). General enquiries
/// are questions far more often than complaints are, while their words are stop words.
pub fn asks(text: &str, lang: Lang) -> bool {
    if text.contains(['?', '¿']) {
        return true;
    }
    let mut tokens = Tokens::default();
    tokens.fill_until(text.get(..64).unwrap_or(text), lang, 1);
    let first = if tokens.is_empty() { "" } else { tokens.get(0) };
    let openers: &[&str] = match lang {
        Lang::En => &[
            "do", "does", "can", "could", "is", "are", "how", "what", "whats", "when", "where", "who",
            "which", "will", "would", "should", "any", "anyone",
        ],
        Lang::Es => &[
            "como", "que", "donde", "cuando", "puedo", "hay", "teneis", "tienen", "se",
        ],
        Lang::Fr => &[
            "est", "comment", "ou", "quand", "quel", "quels", "quelle", "pouvez", "peut", "avez",
        ],
        Lang::De => &[
            "kann", "konnen", "habt", "haben", "gibt", "wie", "wo", "wann", "was", "ist",
        ],
    };
    openers.contains(&first)
}

/// Whether a text (its `tokens` in `lang`) says something kind: a word of praise ("amazing", "legend", "genial",
/// "impeccable", "toll") not right after a negation or a wish ("not happy", "would love
/// to", "pas top", "nicht toll"). "great" is left out: it is sarcastic as often as not.
/// Praise shares its nouns with complaints ("the delivery guy", "money back"); its tone is
/// what sets it apart. Politeness ("thanks", "merci", "gracias", "danke") does not count:
/// complaints say it too.
pub fn praises(tokens: &Tokens, lang: Lang) -> bool {
    let mut undone = false;
    for &bits in &tokens.bits {
        let (kind, undo) = bits.praise_or_undo(lang);
        if kind && !undone {
            return true;
        }
        undone = undo;
    }
    false
}

/// Whether token number `i` of `tokens` says something about the topic in `lang`: not a stop
/// word (its bits were looked up when it was read), not a single letter, not an amount or an
/// order number.
pub fn is_content(tokens: &Tokens, lang: Lang, i: usize) -> bool {
    !tokens.bits[i].is_stop(lang) && keep_token(tokens.get(i))
}

/// The Snowball stem of `token` in `lang`, but for the few words whose stem would merge
/// opposites ([`UNSTEMMED`]).
pub fn stem(lang: Lang, token: &str) -> std::borrow::Cow<'_, str> {
    if lang == Lang::En && UNSTEMMED.contains(&token) {
        return std::borrow::Cow::Borrowed(token);
    }
    stemmer(lang).stem(token)
}

/// English words kept whole: their stem is a word that means something else in a post.
/// "helpful" is praise, "help" is what every complaint asks for; "friendly" is not "friend".
const UNSTEMMED: &[&str] = &[
    "helpful",
    "unhelpful",
    "helpfull",
    "friendly",
    "unfriendly",
    "useless",
    "careless",
];

/// The Snowball stemmer for `lang`.
fn stemmer(lang: Lang) -> &'static Stemmer {
    use std::sync::OnceLock;
    static STEMMERS: OnceLock<[Stemmer; 4]> = OnceLock::new();
    let all = STEMMERS.get_or_init(|| {
        [
            Stemmer::create(Algorithm::English),
            Stemmer::create(Algorithm::Spanish),
            Stemmer::create(Algorithm::French),
            Stemmer::create(Algorithm::German),
        ]
    });
    &all[lang as usize]
}

/// Single letters and most numbers (amounts, counts, order numbers) say nothing about the
/// topic; three- and four-digit numbers stay ("error 500", "503").
fn keep_token(token: &str) -> bool {
    if token.bytes().all(|b| b.is_ascii_digit()) {
        return (3..=4).contains(&token.len());
    }
    token.chars().nth(1).is_some()
}

/// `text` cut to at most [`MAX_ANALYSED_BYTES`], at a character boundary.
pub fn analysed_prefix(text: &str) -> &str {
    if text.len() <= MAX_ANALYSED_BYTES {
        return text;
    }
    let mut end = MAX_ANALYSED_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The normalised tokens of a text in one buffer, so that reading a post allocates nothing
/// per word (and nothing at all when the buffers are reused).
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    buf: String,
    /// (start, end) of each token in `buf`.
    spans: Vec<(u32, u32)>,
    /// Per token: what the stop-word tables say about it (one look-up per token, where
    /// language detection, stop words and praise each asked once before).
    bits: Vec<WordBits>,
    /// The language filled in, and whether the text had an apostrophe (the only place
    /// where languages tokenise differently).
    filled: Option<(Lang, bool)>,
}

impl Tokens {
    /// Replaces the content with the tokens of `text` in `lang` (see the module doc).
    pub fn fill(&mut self, text: &str, lang: Lang) {
        self.fill_until(text, lang, usize::MAX);
    }

    /// As [`Tokens::fill`], stopping once there are at least `enough` tokens (the first
    /// ones are then the same as `fill` gives).
    fn fill_until(&mut self, text: &str, lang: Lang, enough: usize) {
        self.buf.clear();
        self.spans.clear();
        self.bits.clear();
        let text = analysed_prefix(text);
        self.filled = Some((lang, text.contains(['\'', '’'])));
        for raw in text.split_whitespace() {
            if self.spans.len() >= enough {
                break;
            }
            if is_link_or_handle(raw) {
                continue;
            }
            self.word(raw, lang);
        }
    }

    fn word(&mut self, raw: &str, lang: Lang) {
        // Most words are ASCII letters and digits only: no apostrophe, accent or separator.
        if raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            self.ascii_word(raw.as_bytes());
            return;
        }
        let mut start = self.buf.len();
        let mut last: Option<char> = None;
        let mut run = 0usize;
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' || c == '’' {
                // English possessive: "rental's" -> "rental".
                if lang == Lang::En && matches!(chars.peek(), Some('s' | 'S')) {
                    let mut ahead = chars.clone();
                    ahead.next();
                    if !ahead.peek().is_some_and(|c| c.is_alphanumeric()) {
                        chars.next();
                        continue;
                    }
                }
                // French elision: "l'appli", "j'ai", "qu'il" -> separate words.
                if lang == Lang::Fr {
                    start = self.flush(start);
                    last = None;
                    run = 0;
                }
                continue;
            }
            if !c.is_alphanumeric() {
                start = self.flush(start);
                last = None;
                run = 0;
                continue;
            }
            let buf = &mut self.buf;
            let mut push = |base: char| {
                if Some(base) == last {
                    run += 1;
                } else {
                    last = Some(base);
                    run = 1;
                }
                if run == 3 {
                    // Third in a row: the word is being stretched; keep one of them.
                    buf.pop();
                } else if run < 3 {
                    buf.push(base);
                }
            };
            if c.is_ascii() {
                push(c.to_ascii_lowercase());
            } else {
                for lower in c.to_lowercase() {
                    without_accents(lower, &mut push);
                }
            }
        }
        self.flush(start);
    }

    /// [`Tokens::word`] for a word of ASCII letters and digits: the same token, lower case,
    /// a letter repeated three or more times kept once.
    fn ascii_word(&mut self, raw: &[u8]) {
        let start = self.buf.len();
        let (mut last, mut run) = (0u8, 0usize);
        for &b in raw {
            let b = b.to_ascii_lowercase();
            if b == last {
                run += 1;
            } else {
                last = b;
                run = 1;
            }
            if run == 3 {
                self.buf.pop();
            } else if run < 3 {
                self.buf.push(char::from(b));
            }
        }
        self.flush(start);
    }

    /// Ends the token that started at `start` (if any); returns where the next one starts.
    fn flush(&mut self, start: usize) -> usize {
        let end = self.buf.len();
        if end > start {
            self.spans.push((start as u32, end as u32));
            self.bits.push(WordBits::of(&self.buf[start..end]));
        }
        end
    }

    /// Whether filling these tokens' text in `lang` would give the same tokens: it is the
    /// language they were filled in, or the text has no apostrophe.
    pub fn same_in(&self, lang: Lang) -> bool {
        self.filled
            .is_some_and(|(filled, apostrophe)| filled == lang || !apostrophe)
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Token number `i`.
    pub fn get(&self, i: usize) -> &str {
        let (start, end) = self.spans[i];
        &self.buf[start as usize..end as usize]
    }

    /// Each token's stop-word bits, in order.
    pub(super) fn bits(&self) -> impl Iterator<Item = WordBits> + '_ {
        self.bits.iter().copied()
    }

    /// The tokens in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.spans
            .iter()
            .map(|&(start, end)| &self.buf[start as usize..end as usize])
    }
}

/// URLs, @handles and e-mail addresses carry no topic.
fn is_link_or_handle(raw: &str) -> bool {
    let t = raw.trim_start_matches(|c: char| !c.is_alphanumeric() && c != '@');
    // Only a word of at least 8 bytes is read as a link (compared without allocating).
    let head = t.get(..8).unwrap_or_default().as_bytes();
    let opens = |prefix: &str| {
        head.get(..prefix.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(prefix.as_bytes()))
    };
    t.starts_with('@')
        || opens("http://")
        || opens("https://")
        || opens("www.")
        || (t.contains('@') && t.contains('.'))
}

/// Calls `f` with `c` without its accents: "é" -> "e", "ñ" -> "n"; "ß" and letters
/// without accents stay as they are.
fn without_accents(c: char, mut f: impl FnMut(char)) {
    if c.is_ascii() {
        f(c);
    } else {
        decompose_canonical(c, |d| {
            if !is_combining_mark(d) {
                f(d);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The normalised tokens of `text`, stop words still in.
    fn tokens(text: &str, lang: Lang) -> Vec<String> {
        let mut t = Tokens::default();
        t.fill(text, lang);
        t.iter().map(str::to_string).collect()
    }

    fn toks(text: &str) -> Vec<String> {
        tokens(text, Lang::En)
    }

    #[test]
    fn links_handles_emoji_and_punctuation_are_dropped() {
        assert_eq!(
            toks("@AcmeRentals my car DIED 😡😡 see https://t.co/xyz #fail!!"),
            ["my", "car", "died", "see", "fail"]
        );
        assert!(toks("🙄🙄🙄 https://example.com/a?b=c").is_empty());
    }

    #[test]
    fn links_are_told_whatever_their_case_from_eight_bytes_on() {
        assert_eq!(toks("WWW.Example.com HTTP://x.y/z www.ab"), ["w", "ab"]);
    }

    #[test]
    fn stretched_words_are_read_as_written_once() {
        assert_eq!(toks("sooooo sloooow pleaseeee"), ["so", "slow", "please"]);
        assert_eq!(toks("good coffee"), ["good", "coffee"], "double letters stay");
    }

    #[test]
    fn accents_and_case_are_folded() {
        assert_eq!(
            tokens("CANCELACIÓN Reembolsé", Lang::Es),
            ["cancelacion", "reembolse"]
        );
        assert_eq!(tokens("Straße ÜBER", Lang::De), ["straße", "uber"]);
    }

    #[test]
    fn english_contractions_join_and_french_elisions_split() {
        assert_eq!(toks("won't can’t rental's"), ["wont", "cant", "rental"]);
        assert_eq!(tokens("l'appli j’ai", Lang::Fr), ["l", "appli", "j", "ai"]);
    }

    #[test]
    fn stop_words_go_and_stems_remain() {
        let w = words("The battery died in the rental cars", Lang::En);
        let stems: Vec<&str> = w.iter().map(|w| w.stem.as_str()).collect();
        assert_eq!(stems, ["batteri", "die", "rental", "car"]);
        assert_eq!(w[0].surface, "battery");
    }

    #[test]
    fn long_numbers_and_single_letters_are_not_words() {
        let w = words("order 4821345 error 500 x", Lang::En);
        let surfaces: Vec<&str> = w.iter().map(|w| w.surface.as_str()).collect();
        assert_eq!(surfaces, ["order", "error", "500"]);
    }

    #[test]
    fn a_question_is_told_by_its_mark_or_its_first_word() {
        assert!(asks("do you deliver to Canada", Lang::En));
        assert!(asks("where is my order?", Lang::En));
        assert!(asks("¿tenéis oficina en el aeropuerto", Lang::Es));
        assert!(asks("habt ihr eine Filiale in München", Lang::De));
        assert!(!asks("my parcel never arrived", Lang::En));
        assert!(!asks("", Lang::En));
    }

    fn praises(text: &str, lang: Lang) -> bool {
        let mut t = Tokens::default();
        t.fill(text, lang);
        super::praises(&t, lang)
    }

    #[test]
    fn kind_words_are_praise_unless_negated_or_wished() {
        assert!(praises("shoutout to the delivery guy, legend", Lang::En));
        assert!(praises("returns were so easy 👏", Lang::En));
        assert!(praises("personnel impeccable, bravo", Lang::Fr));
        assert!(praises("el conductor fue muy amable", Lang::Es));
        assert!(praises("der Fahrer war super nett", Lang::De));
        assert!(!praises("not happy at all with this", Lang::En));
        assert!(!praises("would love to work for you", Lang::En));
        assert!(!praises("great timing, site down again", Lang::En));
        assert!(!praises("thanks for nothing", Lang::En));
        assert!(!praises("le vendeur n'était pas sympa", Lang::Fr));
    }

    #[test]
    fn helpful_is_not_help() {
        assert_eq!(stem(Lang::En, "helpful"), "helpful");
        assert_eq!(stem(Lang::En, "unhelpful"), "unhelpful");
        assert_eq!(stem(Lang::En, "helping"), "help");
    }

    #[test]
    fn a_huge_post_is_cut_at_a_character_boundary() {
        let text = "é".repeat(100_000);
        let cut = analysed_prefix(&text);
        assert!(cut.len() <= MAX_ANALYSED_BYTES && cut.len() > MAX_ANALYSED_BYTES - 4);
    }
}
