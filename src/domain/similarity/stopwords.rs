//! Stop words (words that say nothing about a post's topic) and the function words that
//! tell the four languages apart. All written as [`Tokens`](super::text::Tokens) leaves
//! them: lower case, no accents, English contractions joined ("dont", "im").
//!
//! Negations ("not", "never", "nunca", "jamais", "nie") are deliberately not stop words:
//! "never arrived" and "won't start" are what a complaint is about.

use std::sync::OnceLock;

use super::Lang;
use rustc_hash::FxHashMap;

const EN: &[&str] = &[
    "a",
    "about",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "anyone",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "for",
    "from",
    "get",
    "getting",
    "guys",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "hey",
    "hi",
    "hello",
    "him",
    "his",
    "how",
    "i",
    "id",
    "if",
    "ill",
    "im",
    "in",
    "into",
    "is",
    "it",
    "its",
    "ive",
    "just",
    "lol",
    "me",
    "my",
    "myself",
    "of",
    "oh",
    "ok",
    "okay",
    "omg",
    "on",
    "or",
    "our",
    "ours",
    "out",
    "pls",
    "plz",
    "please",
    "she",
    "so",
    "some",
    "such",
    "than",
    "that",
    "thats",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "theyre",
    "this",
    "those",
    "to",
    "too",
    "u",
    "ur",
    "up",
    "us",
    "very",
    "want",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "youre",
    "yours",
    "yall",
    "really",
    "even",
    "now",
    "one",
    "im",
    "its",
    "there",
    "theres",
    "anyway",
    "like",
    "actually",
    "literally",
    "used",
    "super",
    "someone",
    "something",
    "everything",
    "anything",
    "nothing",
    "whole",
    "other",
    "else",
    "way",
    "thing",
    "things",
];

const ES: &[&str] = &[
    "a", "al", "algo", "algun", "alguna", "ante", "con", "como", "cual", "cuando", "de", "del", "desde",
    "donde", "el", "ella", "ellos", "en", "entre", "era", "es", "esa", "ese", "eso", "esta", "estan",
    "estas", "este", "esto", "estoy", "fue", "ha", "han", "hay", "he", "hola", "la", "las", "le", "les",
    "lo", "los", "me", "mi", "mis", "muy", "o", "os", "para", "pero", "por", "porque", "que", "se", "ser",
    "si", "sin", "sobre", "son", "su", "sus", "te", "tengo", "tiene", "tu", "tus", "un", "una", "unos",
    "uno", "y", "ya", "yo", "vosotros", "nos", "nuestro", "nuestra", "mas", "hace", "otra", "otro", "estaba",
    "estoy", "super", "muy", "todo", "nada",
];

const FR: &[&str] = &[
    "a", "ai", "au", "aux", "avec", "avez", "avoir", "bonjour", "c", "ce", "ces", "cet", "cette", "d",
    "dans", "de", "des", "du", "elle", "en", "est", "et", "etait", "etre", "eu", "il", "ils", "j", "je", "l",
    "la", "le", "les", "leur", "lui", "m", "ma", "mais", "me", "mes", "moi", "mon", "n", "ne", "nos",
    "notre", "nous", "on", "ont", "ou", "par", "pour", "qu", "que", "qui", "s", "sa", "se", "ses", "son",
    "sont", "sur", "t", "ta", "te", "tes", "toi", "ton", "tu", "un", "une", "vos", "votre", "vous", "y",
    "tres", "suis", "fait", "ca", "cela", "deja", "encore", "plus", "tout", "tous", "ete", "avait", "etais",
    "super", "rien",
];

const DE: &[&str] = &[
    "aber", "als", "am", "an", "auch", "auf", "aus", "bei", "bin", "bis", "bitte", "da", "das", "dass",
    "dem", "den", "der", "des", "die", "doch", "du", "ein", "eine", "einem", "einen", "einer", "er", "es",
    "euch", "eure", "fur", "hab", "habe", "hallo", "hat", "hatte", "ich", "ihr", "ihre", "im", "in", "ist",
    "ja", "jetzt", "man", "mein", "meine", "meinen", "meiner", "mich", "mir", "mit", "nach", "noch", "nur",
    "oder", "schon", "sein", "sehr", "sie", "sind", "so", "um", "und", "uns", "unser", "vom", "von", "vor",
    "war", "was", "wenn", "wie", "wir", "wird", "zu", "zum", "zur", "seit", "mal", "wieder", "ihnen",
    "steht", "total", "super", "einfach", "gar", "nichts",
];

/// Function words typical of one language and rare in the others, for telling them apart.
const EN_MARKS: &[&str] = &[
    "the", "and", "is", "my", "you", "your", "it", "was", "with", "this", "that", "have", "not", "are",
    "they", "but", "what", "why", "been", "can", "just", "still", "to", "of", "for", "i", "im", "its",
    "dont", "from", "at", "on", "got", "get",
];
const ES_MARKS: &[&str] = &[
    "el", "los", "las", "y", "mi", "mis", "por", "para", "con", "muy", "pero", "lo", "del", "al", "esta",
    "estoy", "nada", "hace", "cuando", "como", "tengo", "que", "es", "una", "ya", "hola", "porque", "nunca",
    "todavia", "sigue", "la", "se", "nos", "han", "ha", "habeis", "sin", "dos", "mas", "puedo", "vuestra",
    "vuestro", "vuestros", "vuestras", "nadie", "hay", "tambien", "estan", "esto",
];
const FR_MARKS: &[&str] = &[
    "le", "les", "des", "est", "et", "je", "mon", "ma", "mes", "pas", "pour", "avec", "une", "du", "au",
    "ce", "cette", "qui", "ne", "sur", "j", "c", "n", "vous", "votre", "toujours", "tres", "suis", "ai",
    "bonjour", "rien", "jamais", "mais", "la", "se", "nous", "avons", "depuis", "ont", "l", "d", "qu",
];
const DE_MARKS: &[&str] = &[
    "der", "die", "das", "und", "ist", "ich", "mein", "meine", "nicht", "mit", "fur", "auf", "ein", "eine",
    "den", "dem", "zu", "sie", "wir", "noch", "immer", "schon", "kein", "keine", "bei", "von", "nach",
    "wieder", "habe", "seit", "hallo", "bitte", "nie", "wurde",
];

/// Words of praise per language, as [`Tokens`](super::text::Tokens) leaves them, and the
/// words that undo one right before it (see [`praises`](super::text::praises)).
const PRAISE_EN: &[&str] = &[
    "amazing",
    "awesome",
    "brilliant",
    "excellent",
    "fantastic",
    "wonderful",
    "superb",
    "outstanding",
    "perfect",
    "perfectly",
    "lovely",
    "love",
    "loved",
    "loving",
    "legend",
    "star",
    "hero",
    "kudos",
    "shoutout",
    "impressed",
    "appreciate",
    "appreciated",
    "grateful",
    "helpful",
    "friendly",
    "kind",
    "patient",
    "polite",
    "painless",
    "smooth",
    "seamless",
    "recommend",
    "delighted",
    "happy",
    "thrilled",
    "best",
    "easy",
    "obsessed",
    "stars",
];
const UNDO_EN: &[&str] = &[
    "not", "never", "no", "isnt", "wasnt", "arent", "werent", "dont", "didnt", "hardly", "nothing", "would",
    "id",
];
const PRAISE_ES: &[&str] = &[
    "genial",
    "excelente",
    "encantado",
    "encantada",
    "encantados",
    "amable",
    "amables",
    "perfecto",
    "perfecta",
    "maravilla",
    "estupendo",
    "fantastico",
    "recomiendo",
    "felicidades",
    "enhorabuena",
    "majos",
    "simpatico",
    "simpatica",
    "atentos",
    "atento",
    "diez",
    "rapidisimo",
    "facilisima",
    "facilisimo",
];
const UNDO_ES: &[&str] = &["no", "nada", "nunca", "ni"];
const PRAISE_FR: &[&str] = &[
    "genial",
    "excellent",
    "excellente",
    "parfait",
    "parfaite",
    "top",
    "bravo",
    "adorable",
    "sympa",
    "gentil",
    "gentille",
    "impeccable",
    "formidable",
    "recommande",
    "ravi",
    "ravie",
    "chaleureux",
    "serviable",
    "pro",
];
const UNDO_FR: &[&str] = &["pas", "jamais", "rien", "ni"];
const PRAISE_DE: &[&str] = &[
    "toll",
    "klasse",
    "perfekt",
    "freundlich",
    "hilfsbereit",
    "lob",
    "großartig",
    "spitze",
    "empfehlen",
    "prima",
    "nett",
    "begeistert",
    "super",
    "hervorragend",
    "wunderbar",
];
const UNDO_DE: &[&str] = &["nicht", "kein", "keine", "nie", "nichts"];

/// Per word: the languages it is a stop word in (bit `lang as usize`), the languages it is
/// a function word of (bit `4 + lang`), a word of praise in (bit `8 + lang`) and a word that
/// undoes praise in (bit `12 + lang`). One lookup answers every question about a word.
fn table() -> &'static FxHashMap<&'static str, u16> {
    static TABLE: OnceLock<FxHashMap<&'static str, u16>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: FxHashMap<&'static str, u16> = FxHashMap::default();
        for (i, list) in [EN, ES, FR, DE].into_iter().enumerate() {
            for w in list {
                *t.entry(w).or_default() |= 1 << i;
            }
        }
        for (i, list) in [EN_MARKS, ES_MARKS, FR_MARKS, DE_MARKS].into_iter().enumerate() {
            for w in list {
                *t.entry(w).or_default() |= 1 << (4 + i);
            }
        }
        for (i, list) in [PRAISE_EN, PRAISE_ES, PRAISE_FR, PRAISE_DE]
            .into_iter()
            .enumerate()
        {
            for w in list {
                *t.entry(w).or_default() |= 1 << (8 + i);
            }
        }
        for (i, list) in [UNDO_EN, UNDO_ES, UNDO_FR, UNDO_DE].into_iter().enumerate() {
            for w in list {
                *t.entry(w).or_default() |= 1 << (12 + i);
            }
        }
        t
    })
}

/// Everything the tables say about one word (see [`table`]): looked up once per token,
/// then asked in each language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WordBits(u16);

impl WordBits {
    /// The bits of `word` (none for most words).
    pub fn of(word: &str) -> Self {
        WordBits(table().get(word).copied().unwrap_or(0))
    }

    /// Whether the word is a stop word in `lang`.
    pub fn is_stop(self, lang: Lang) -> bool {
        self.0 & (1 << lang as usize) != 0
    }

    /// Whether the word is a word of praise in `lang`, and whether it undoes one right after
    /// it ("not", "would", "pas", "nicht"; see [`praises`](super::text::praises)).
    pub fn praise_or_undo(self, lang: Lang) -> (bool, bool) {
        (
            self.0 & (1 << (8 + lang as usize)) != 0,
            self.0 & (1 << (12 + lang as usize)) != 0,
        )
    }

    /// Per language in [`Lang::ALL`] order: 1 if the word is one of its function words.
    fn marks(self) -> [usize; 4] {
        std::array::from_fn(|i| usize::from(self.0 & (1 << (4 + i)) != 0))
    }
}

/// How many words (given by their bits) are function words of each language, in
/// [`Lang::ALL`] order.
pub fn marker_votes(words: impl IntoIterator<Item = WordBits>) -> [usize; 4] {
    let mut votes = [0usize; 4];
    for w in words {
        for (v, m) in votes.iter_mut().zip(w.marks()) {
            *v += m;
        }
    }
    votes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negations_are_not_stop_words() {
        let is_stop = |lang: Lang, word: &str| WordBits::of(word).is_stop(lang);
        for (lang, word) in [
            (Lang::En, "not"),
            (Lang::En, "never"),
            (Lang::Es, "nunca"),
            (Lang::Fr, "jamais"),
            (Lang::De, "nie"),
        ] {
            assert!(!is_stop(lang, word), "{word}");
        }
        assert!(is_stop(Lang::En, "the") && is_stop(Lang::De, "fur"));
    }

    #[test]
    fn function_words_vote_for_their_language() {
        let votes = |words: &[&str]| marker_votes(words.iter().map(|w| WordBits::of(w)));
        assert_eq!(votes(&["je", "suis", "pas", "content"]), [0, 0, 3, 0]);
        assert_eq!(votes(&["ich", "habe", "nicht"]), [0, 0, 0, 3]);
    }
}
