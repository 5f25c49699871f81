//! Classification latency with a large playbook set.
//!
//! Builds 500 synthetic playbooks (4 keywords + 1 pattern each = 2,500 triggers) through
//! `PlaybookSet::from_sources`, then classifies 10,000 realistic ~200-character mention texts
//! (some with emoji and curly quotes) and prints p50/p90/p99/max. Run:
//! `cargo bench --bench matching`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use carebot::domain::playbook::PlaybookSet;
use carebot::domain::{Network, Segment};

const PLAYBOOKS: usize = 500;
const TEXTS: usize = 10_000;

/// A small deterministic generator, so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const NOUNS: &[&str] = &[
    "order", "parcel", "booking", "refund", "card", "app", "checkout", "tyre", "rental", "points", "voucher",
    "flight", "room", "seat", "bag", "invoice", "account", "password", "delivery", "store", "driver",
    "phone", "laptop", "router",
];
const PROBLEMS: &[&str] = &[
    "missing",
    "broken",
    "late",
    "declined",
    "charged",
    "cancelled",
    "stuck",
    "expired",
    "damaged",
    "locked",
    "lost",
    "wrong",
    "frozen",
    "blocked",
    "delayed",
    "overbooked",
];
const FILLER: &[&str] = &[
    "honestly",
    "this is the third time",
    "@AcmeCare",
    "please help",
    "seriously",
    "😡",
    "🙄",
    "nobody answers",
    "I’ve been waiting",
    "since Monday",
    "on hold for an hour",
    "thanks for nothing",
    "#fail",
    "lol",
    "my kid is crying",
    "before my meeting",
    "at the airport",
    "in the rain",
    "ridiculous",
    "any update?",
];

fn playbook_source(i: usize, rng: &mut Rng) -> String {
    let keywords: Vec<String> = (0..4)
        .map(|k| {
            format!(
                "\"{} {} {}\"",
                rng.pick(NOUNS),
                rng.pick(PROBLEMS),
                (i * 4 + k) % 97
            )
        })
        .collect();
    let pattern = format!(
        "{}\\b.*\\b({}|{}) {}",
        rng.pick(NOUNS),
        rng.pick(PROBLEMS),
        rng.pick(PROBLEMS),
        i % 89
    );
    format!(
        "id = \"synthetic-{i}\"\ntitle = \"Synthetic {i}\"\n[triggers]\nkeywords = [{}]\npatterns = ['{pattern}']\n\
         [reply]\ntemplate = \"Hi {{{{ customer.name }}}}, case {{{{ case.id }}}}\"\nsteps = [\"look\"]\n\
         [[remedies]]\nkind = \"credit\"\nlabel = \"Credit\"\n[remedies.limits]\nagent = 10\nsenior = 20\nsupervisor = 30\n\
         [escalation]\napprover = \"supervisor\"\ndeadline = \"4h\"\non_timeout = \"deny\"\n",
        keywords.join(", ")
    )
}

fn text(rng: &mut Rng) -> String {
    let mut s = String::new();
    while s.len() < 200 {
        let part = match rng.next() % 4 {
            0 => format!(
                "my {} is {} {}",
                rng.pick(NOUNS),
                rng.pick(PROBLEMS),
                rng.next() % 97
            ),
            1 => format!("the {} was {}", rng.pick(NOUNS), rng.pick(PROBLEMS)),
            _ => rng.pick(FILLER).to_string(),
        };
        s.push_str(&part);
        s.push(' ');
    }
    s
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let sources: Vec<(String, String)> = (0..PLAYBOOKS)
        .map(|i| (format!("synthetic-{i:03}.toml"), playbook_source(i, &mut rng)))
        .collect();
    let started = Instant::now();
    let set =
        PlaybookSet::from_sources(&sources).unwrap_or_else(|e| panic!("synthetic playbooks must load:\n{e}"));
    let build = started.elapsed();

    let texts: Vec<String> = (0..TEXTS).map(|_| text(&mut rng)).collect();
    let network = Network::parse("twitter").expect("valid network");
    // Warm up: the lazy DFA builds its states on first use.
    for t in texts.iter().take(1000) {
        black_box(set.classify(t, &network, Segment::Standard));
    }
    let mut times = Vec::with_capacity(TEXTS);
    let mut matched = 0usize;
    for t in &texts {
        let start = Instant::now();
        let result = black_box(set.classify(black_box(t), &network, Segment::Standard));
        times.push(start.elapsed());
        matched += usize::from(result.first().is_some_and(|m| m.score > 0));
    }
    times.sort();
    let avg_len = texts.iter().map(String::len).sum::<usize>() / texts.len();
    println!("playbooks: {PLAYBOOKS} ({} triggers), texts: {TEXTS} (avg {avg_len} bytes), texts with a match: {matched}", PLAYBOOKS * 5);
    println!("build (from_sources: parse, check, render, compile): {build:?}");
    println!(
        "classify: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        percentile(&times, 0.50),
        percentile(&times, 0.90),
        percentile(&times, 0.99),
        times[times.len() - 1]
    );
}
