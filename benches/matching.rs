//! Classification latency with a large playbook set.
//!
//! Two workloads, each 500 playbooks (4 keywords + 1 pattern each = 2,500 triggers, and 12
//! examples each = 6,000 sample posts in the similarity index) built through
//! `PlaybookSet::from_sources`, then 10,000 ~200-character mention texts (some with emoji and
//! curly quotes) classified, printing p50/p90/p99/max:
//!
//! - "harsh": the original synthetic set. All 500 patterns are `noun\b.*\b(problem|problem) N`
//!   over 24 shared nouns and 16 shared problems, and the texts are made of the same words, so
//!   every text brings up many patterns.
//! - "care": distinct vocabulary per playbook, as a care team writes it: 25 product areas
//!   (two names each) x 20 issues (two phrasings each), e.g. keywords "parcel never arrived"
//!   and pattern `(parcel|package)\b.*\b(never arrived|still not here)`; texts are complaints
//!   in those words among filler.
//!
//! For each, "first pass" is measured after warming up on 1,000 of the texts (each pattern's
//! regex still pays its first-use cost per thread during it); "steady state" is 10,000 fresh
//! texts of the same kind classified after that; "best 3" ranks those again but writes the
//! reasons for the best three only (`classify_top(.., 3)`, what a case card and `/suggest`
//! show), and "least of 5 runs" times each of those texts five times (five passes) and keeps
//! its least, the text's own cost without the machine's interruptions; "triggers only"
//! classifies them with the explicit triggers alone (`triggers_only`), the part of the cost
//! that is not similarity.
//!
//! Last, accuracy on the held-out labelled posts (`tests/data/suggestions-heldout.jsonl`)
//! with the shipped playbooks: the keyword-only matcher (`triggers_only`) against the full one.
//! Run: `cargo bench --bench matching`. With `MATCHING_FINGERPRINT=FILE` set, nothing is
//! timed: every text's `classify`, `classify_top(.., 3)` and keyword-only results are written
//! to FILE instead, so that a change meant to be faster only can be checked to give the same.

use std::hint::black_box;
use std::time::{Duration, Instant};

use carebot::domain::playbook::eval::{evaluate, parse_labelled};
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
    let mut examples: Vec<String> = Vec::new();
    while examples.len() < 12 {
        let e = format!(
            "\"my {} is {} {} {}\"",
            rng.pick(NOUNS),
            rng.pick(PROBLEMS),
            rng.pick(FILLER),
            rng.pick(NOUNS)
        );
        if !examples.contains(&e) {
            examples.push(e);
        }
    }
    format!(
        "id = \"synthetic-{i}\"\ntitle = \"Synthetic {i}\"\n[triggers]\nkeywords = [{}]\npatterns = ['{pattern}']\nexamples = [{}]\n\
         [reply]\ntemplate = \"Hi {{{{ customer.name }}}}, case {{{{ case.id }}}}\"\nsteps = [\"look\"]\n\
         [[remedies]]\nkind = \"credit\"\nlabel = \"Credit\"\n[remedies.limits]\nagent = 10\nsenior = 20\nsupervisor = 30\n\
         [escalation]\napprover = \"supervisor\"\ndeadline = \"4h\"\non_timeout = \"deny\"\n",
        keywords.join(", "),
        examples.join(", ")
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

const AREAS: &[(&str, &str)] = &[
    ("parcel", "package"),
    ("order", "purchase"),
    ("refund", "reimbursement"),
    ("card", "credit card"),
    ("app", "mobile app"),
    ("checkout", "payment page"),
    ("tyre", "tire"),
    ("rental car", "hire car"),
    ("loyalty points", "reward points"),
    ("voucher", "gift card"),
    ("flight", "plane"),
    ("hotel room", "room"),
    ("seat", "seat booking"),
    ("baggage", "suitcase"),
    ("invoice", "bill"),
    ("account", "login"),
    ("password", "2fa code"),
    ("delivery driver", "courier"),
    ("store", "shop"),
    ("phone", "handset"),
    ("laptop", "notebook"),
    ("router", "wifi"),
    ("subscription", "membership"),
    ("warranty", "guarantee"),
    ("train", "rail ticket"),
];
/// Two phrasings of an issue, and the pattern a team would write for it.
const ISSUES: &[(&str, &str, &str)] = &[
    (
        "never arrived",
        "still not here",
        "(never arrived|still not here)",
    ),
    (
        "charged twice",
        "double charged",
        "(charged twice|double charged)",
    ),
    ("was declined", "got declined", "(was|got) declined"),
    ("is broken", "stopped working", "(is broken|stopped working)"),
    ("keeps crashing", "crashes on launch", "(keeps crashing|crashes)"),
    ("was cancelled", "got canceled", "(was|got) cancell?ed"),
    ("is missing", "went missing", "(is|went) missing"),
    ("arrived damaged", "came damaged", "(arrived|came) damaged"),
    ("is delayed", "running late", "(delayed|running late)"),
    (
        "locked out",
        "cannot log in",
        "(locked out|(cant|cannot) log ?in)",
    ),
    ("wrong item", "wrong size", "wrong (item|size|colou?r)"),
    (
        "no refund yet",
        "still waiting for my money",
        "(no refund|waiting for (my|the) money)",
    ),
    ("rude staff", "rude agent", "rude (staff|agent|driver)"),
    ("overcharged", "hidden fee", "(overcharged|hidden fees?)"),
    ("not working", "no longer works", "(not|no longer) work"),
    ("expired early", "expired already", "expired (early|already)"),
    ("disappeared", "vanished", "(disappeared|vanished)"),
    ("stuck loading", "stuck on loading", "stuck (on )?loading"),
    ("was stolen", "got stolen", "(was|got) stolen"),
    ("never refunded", "not refunded", "(never|not) refunded"),
];
const CARE_FILLER: &[&str] = &[
    "@AcmeCare",
    "hi team",
    "please help",
    "this is the third time",
    "nobody answers the phone",
    "I’ve been waiting since Monday",
    "on hold for an hour",
    "😡",
    "🙄",
    "#fail",
    "my kid is crying",
    "before my meeting",
    "at the airport",
    "any update?",
    "DM’d you my details",
    "order number 48213",
    "thanks for the quick reply yesterday",
    "love the new design though",
    "can someone call me back",
    "really disappointed",
];

fn care_playbook_source(i: usize) -> String {
    let (a1, a2) = AREAS[i % AREAS.len()];
    let (p1, p2, pattern) = ISSUES[i / AREAS.len()];
    let keywords = [
        format!("{a1} {p1}"),
        format!("{a2} {p1}"),
        format!("{a1} {p2}"),
        format!("{a2} {p2}"),
    ];
    let keywords: Vec<String> = keywords.iter().map(|k| format!("\"{k}\"")).collect();
    let pattern = format!("({a1}|{a2})\\b.*\\b{pattern}");
    // 12 sample posts: both names of the area, both phrasings of the issue, three ways to say it.
    let mut examples = Vec::new();
    for (n, area) in [a1, a2].into_iter().enumerate() {
        for (m, issue) in [p1, p2].into_iter().enumerate() {
            let filler = CARE_FILLER[(i + 2 * n + m) % CARE_FILLER.len()];
            examples.push(format!("\"my {area} {issue}\""));
            examples.push(format!("\"{filler}, the {area} I paid for {issue}\""));
            examples.push(format!("\"why has your {area} {issue} again? {filler}\""));
        }
    }
    format!(
        "id = \"care-{i}\"\ntitle = \"Care {i}\"\n[triggers]\nkeywords = [{}]\npatterns = ['{pattern}']\nexamples = [{}]\n\
         [reply]\ntemplate = \"Hi {{{{ customer.name }}}}, case {{{{ case.id }}}}\"\nsteps = [\"look\"]\n\
         [[remedies]]\nkind = \"credit\"\nlabel = \"Credit\"\n[remedies.limits]\nagent = 10\nsenior = 20\nsupervisor = 30\n\
         [escalation]\napprover = \"supervisor\"\ndeadline = \"4h\"\non_timeout = \"deny\"\n",
        keywords.join(", "),
        examples.join(", ")
    )
}

fn care_text(rng: &mut Rng) -> String {
    let mut s = String::new();
    // About a quarter of mentions are not complaints at all.
    let complaints = if rng.next().is_multiple_of(4) {
        0
    } else {
        1 + rng.next() % 2
    };
    let mut parts: Vec<String> = Vec::new();
    for _ in 0..complaints {
        let (a1, a2) = AREAS[(rng.next() % AREAS.len() as u64) as usize];
        let area = if rng.next().is_multiple_of(2) { a1 } else { a2 };
        let (p1, p2, _) = ISSUES[(rng.next() % ISSUES.len() as u64) as usize];
        let issue = if rng.next().is_multiple_of(2) { p1 } else { p2 };
        parts.push(match rng.next() % 3 {
            0 => format!("my {area} {issue}"),
            1 => format!("the {area} I paid for {issue}"),
            _ => format!(
                "{} {area} {issue}!!",
                if rng.next().is_multiple_of(2) {
                    "MY"
                } else {
                    "Your"
                }
            ),
        });
    }
    while s.len() < 200 {
        if !parts.is_empty() && rng.next().is_multiple_of(3) {
            s.push_str(&parts.remove(0));
        } else {
            s.push_str(rng.pick(CARE_FILLER));
        }
        s.push(' ');
    }
    for p in parts {
        s.push_str(&p);
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
    run("harsh", &sources, &mut rng, text);
    let sources: Vec<(String, String)> = (0..PLAYBOOKS)
        .map(|i| (format!("care-{i:03}.toml"), care_playbook_source(i)))
        .collect();
    run("care", &sources, &mut rng, care_text);
    if std::env::var_os("MATCHING_FINGERPRINT").is_none() {
        accuracy();
    }
}

/// Top-1 and top-3 on the held-out labelled posts, keyword-only against the full matcher.
fn accuracy() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let set =
        PlaybookSet::load_dir(&root.join("playbooks")).unwrap_or_else(|e| panic!("shipped playbooks:\n{e}"));
    let file = "tests/data/suggestions-heldout.jsonl";
    let text = std::fs::read_to_string(root.join(file)).expect("held-out file");
    let items = parse_labelled(file, &text, &set).unwrap_or_else(|e| panic!("{e:?}"));
    for (name, set) in [
        ("keywords only (before)", set.triggers_only()),
        ("similarity (now)", set),
    ] {
        let r = evaluate(&set, &items);
        println!(
            "[held-out] {name:<24} top-1 {:.1}% ({}/{})  top-3 {:.1}% ({}/{})",
            r.top1_accuracy * 100.0,
            r.top1,
            r.posts,
            r.top3_accuracy * 100.0,
            r.top3,
            r.posts
        );
    }
}

fn run(name: &str, sources: &[(String, String)], rng: &mut Rng, make_text: fn(&mut Rng) -> String) {
    let started = Instant::now();
    let set =
        PlaybookSet::from_sources(sources).unwrap_or_else(|e| panic!("synthetic playbooks must load:\n{e}"));
    let build = started.elapsed();

    let texts: Vec<String> = (0..TEXTS).map(|_| make_text(rng)).collect();
    let network = Network::parse("twitter").expect("valid network");
    if let Some(file) = std::env::var_os("MATCHING_FINGERPRINT") {
        let fresh: Vec<String> = (0..TEXTS).map(|_| make_text(rng)).collect();
        fingerprint(name, &set, texts.iter().chain(&fresh), &network, &file);
        return;
    }
    // Warm up: the lazy DFA builds its states on first use.
    for t in texts.iter().take(1000) {
        black_box(set.classify(t, &network, Segment::Standard));
    }
    let (first, matched) = measure(&set, &texts, &network, usize::MAX);
    let fresh: Vec<String> = (0..TEXTS).map(|_| make_text(rng)).collect();
    let (steady, _) = measure(&set, &fresh, &network, usize::MAX);
    // What a case card needs: the best three, with their reasons.
    let (top3, _) = measure(&set, &fresh, &network, 3);
    let top3_least = measure_least(&set, &fresh, &network, 3, LEAST_OF);
    // The part of the cost that explicit triggers alone take (as carebot matched before).
    let (triggers, _) = measure(&set.triggers_only(), &fresh, &network, usize::MAX);
    let avg_len = texts.iter().map(String::len).sum::<usize>() / texts.len();
    let examples: usize = set.playbooks().iter().map(|p| p.triggers.examples.len()).sum();
    println!("[{name}] playbooks: {PLAYBOOKS} ({} triggers, {examples} examples), texts: {TEXTS} (avg {avg_len} bytes), texts with a match: {matched}", PLAYBOOKS * 5);
    println!("[{name}] build (from_sources: parse, check, render, compile): {build:?}");
    println!("[{name}] classify, first pass:   {first}");
    println!("[{name}] classify, steady state: {steady}");
    println!("[{name}] best 3, steady state:   {top3}");
    println!("[{name}] best 3, least of {LEAST_OF} runs:  {top3_least}");
    println!("[{name}] triggers only, steady:  {triggers}");
}

/// Appends every result for `texts` to `file` (see the module doc).
fn fingerprint<'a>(
    name: &str,
    set: &PlaybookSet,
    texts: impl Iterator<Item = &'a String>,
    network: &Network,
    file: &std::ffi::OsStr,
) {
    use std::fmt::Write as _;
    let keywords = set.triggers_only();
    let mut out = String::new();
    for t in texts {
        let all = set.classify(t, network, Segment::Standard);
        let top = set.classify_top(t, network, Segment::Standard, 3);
        let only = keywords.classify(t, network, Segment::Standard);
        let _ = writeln!(out, "[{name}] {t:?}\n{all:?}\n{top:?}\n{only:?}");
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .expect("fingerprint file");
    std::io::Write::write_all(&mut f, out.as_bytes()).expect("fingerprint written");
}

/// How many times [`measure_least`] times each text.
const LEAST_OF: usize = 5;

/// Percentiles of a sorted list of times.
fn percentiles(times: &[Duration]) -> String {
    format!(
        "p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        percentile(times, 0.50),
        percentile(times, 0.90),
        percentile(times, 0.99),
        times[times.len() - 1]
    )
}

/// Times `classify_top(.., limit)` per text `rounds` times (whole passes over the texts, so
/// that a pause of the machine hits one timing of a text, not all) and keeps each text's
/// least: what the text costs, without what the machine added (interrupts, a neighbour on
/// the core) to one timing or another.
fn measure_least(
    set: &PlaybookSet,
    texts: &[String],
    network: &Network,
    limit: usize,
    rounds: usize,
) -> String {
    let mut least = vec![Duration::MAX; texts.len()];
    for _ in 0..rounds {
        for (t, best) in texts.iter().zip(&mut least) {
            let start = Instant::now();
            black_box(set.classify_top(black_box(t), network, Segment::Standard, limit));
            *best = (*best).min(start.elapsed());
        }
    }
    least.sort();
    percentiles(&least)
}

/// Times `classify_top(.., limit)` per text (`usize::MAX`: the whole ranking, as `classify`).
fn measure(set: &PlaybookSet, texts: &[String], network: &Network, limit: usize) -> (String, usize) {
    let mut times = Vec::with_capacity(texts.len());
    let mut matched = 0usize;
    for t in texts {
        let start = Instant::now();
        let result = black_box(set.classify_top(black_box(t), network, Segment::Standard, limit));
        times.push(start.elapsed());
        matched += usize::from(result.first().is_some_and(|m| m.score > 0));
    }
    times.sort();
    (percentiles(&times), matched)
}
