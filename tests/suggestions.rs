//! Suggestions for posts as customers write them, measured on labelled data.
//!
//! `tests/data/suggestions.jsonl` is the set the shipped library was tuned on: its first
//! 180 posts are, but for a few that are noise, examples of the shipped playbooks; the 196
//! after them (115, then 81 more) were written later and are not examples, so they measure
//! a change of method on posts the library has not memorised;
//! `tests/data/suggestions-heldout.jsonl` was written at the same time, independently of the
//! playbooks, and no tuning reads its posts: the accuracy asserted here is measured on it
//! (its summary line was in view when the last setting was chosen among four; see README).
//!
//! The target is top-1 >= 85% and top-3 >= 95%; the library reaches both (86.1% and 97.8%
//! when this was last raised, against 32.2% and 32.8% for the keyword-only matcher), and
//! the test holds the line where it is: a change that does worse fails, and a change that
//! does better should raise the floor.

use std::path::Path;

use carebot::domain::playbook::eval::{evaluate, parse_labelled, EvalReport, Labelled};
use carebot::domain::playbook::PlaybookSet;
use carebot::domain::similarity::{self, Detected, Lang};
use carebot::domain::{Network, Segment};

const HELD_OUT: &str = "tests/data/suggestions-heldout.jsonl";
const TUNING: &str = "tests/data/suggestions.jsonl";

/// Held-out results when this test was last raised (of 180 posts).
const HELD_OUT_TOP1: usize = 155;
const HELD_OUT_TOP3: usize = 176;

fn shipped() -> PlaybookSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    PlaybookSet::load_dir(&dir).unwrap_or_else(|e| panic!("shipped playbooks must load:\n{e}"))
}

fn labelled(set: &PlaybookSet, file: &str) -> Vec<Labelled> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).expect("dataset is readable");
    parse_labelled(file, &text, set).unwrap_or_else(|e| panic!("{e:?}"))
}

/// The held-out scores only: the misses are not printed, so that whoever tunes the library
/// never reads a held-out post (`carebot playbooks eval tests/data/suggestions.jsonl` shows
/// the tuning set's misses with their reasons).
fn summary(r: &EvalReport) -> String {
    format!("top-1 {}/{} top-3 {}/{}", r.top1, r.posts, r.top3, r.posts)
}

#[test]
fn the_held_out_posts_get_the_right_playbook() {
    let set = shipped();
    let report = evaluate(&set, &labelled(&set, HELD_OUT));
    assert!(
        report.top1 >= HELD_OUT_TOP1,
        "worse than before: {}",
        summary(&report)
    );
    assert!(
        report.top3 >= HELD_OUT_TOP3,
        "worse than before: {}",
        summary(&report)
    );
}

#[test]
fn similarity_does_far_better_than_keywords_alone_on_the_held_out_posts() {
    let set = shipped();
    let items = labelled(&set, HELD_OUT);
    let new = evaluate(&set, &items);
    let old = evaluate(&set.triggers_only(), &items);
    assert!(
        new.top1_accuracy >= old.top1_accuracy + 0.3,
        "new {} vs old {}",
        new.top1_accuracy,
        old.top1_accuracy
    );
}

#[test]
fn the_datasets_are_large_varied_and_apart_from_the_examples() {
    let set = shipped();
    let tuning = labelled(&set, TUNING);
    let held_out = labelled(&set, HELD_OUT);
    assert!(tuning.len() + held_out.len() >= 320);
    let fallback = set.fallback().expect("a fallback").id.clone();
    for pb in set.playbooks() {
        let n = tuning
            .iter()
            .chain(&held_out)
            .filter(|i| i.expected == pb.id)
            .count();
        assert!(n >= 30, "{}: {n} posts", pb.id);
        if pb.id != fallback {
            assert!(
                pb.triggers.examples.len() >= 12,
                "{}: {} examples",
                pb.id,
                pb.triggers.examples.len()
            );
        }
    }
    for lang in [Lang::Es, Lang::Fr, Lang::De] {
        let n = held_out
            .iter()
            .filter(|i| similarity::detect(&i.text) == Detected::Known(lang))
            .count();
        assert!(n >= 8, "{lang}: {n} held-out posts");
    }
    let examples: Vec<String> = set
        .playbooks()
        .iter()
        .flat_map(|p| p.triggers.examples.iter().map(|e| e.to_lowercase()))
        .collect();
    for item in &held_out {
        assert!(
            !examples.contains(&item.text.to_lowercase()),
            "a held-out post is an example: {}",
            item.text
        );
    }
    for item in &held_out {
        assert!(
            !tuning.iter().any(|t| t.text.eq_ignore_ascii_case(&item.text)),
            "in both files: {}",
            item.text
        );
    }
}

fn first(set: &PlaybookSet, text: &str) -> carebot::domain::playbook::PlaybookMatch {
    let twitter = Network::parse("twitter").unwrap();
    set.classify(text, &twitter, Segment::Standard).remove(0)
}

#[test]
fn the_posts_from_the_issue_are_understood_and_say_why() {
    let set = shipped();
    let m = first(&set, "battery died in the car I rented, stuck with two kids");
    assert_eq!(m.id, "roadside-breakdown");
    assert!(
        m.reasons
            .iter()
            .any(|r| r.starts_with("similar to example \"") && r.contains("battery")),
        "{:?}",
        m.reasons
    );
    assert_eq!(
        first(&set, "you're still billing my card after I cancelled").id,
        "billing-dispute"
    );
    assert_eq!(
        first(&set, "website won't let me checkout!!").id,
        "checkout-outage"
    );
    assert_eq!(
        first(&set, "points from my stay never posted").id,
        "loyalty-points-expiry"
    );
    // Praise that mentions a refund is praise: the billing playbook's exclusion vetoes it.
    let praise = first(&set, "thank you for the quick refund, you guys are great");
    assert_eq!(praise.id, "praise");
    let twitter = Network::parse("twitter").unwrap();
    let all = set.classify(
        "thank you for the quick refund, you guys are great",
        &twitter,
        Segment::Standard,
    );
    assert!(all.iter().all(|m| m.id != "billing-dispute"), "{all:?}");
    // The keyword-only matcher sent it to billing.
    assert_eq!(
        first(&set.triggers_only(), "thank you for the quick refund").id,
        "billing-dispute"
    );
}

#[test]
fn odd_posts_get_the_fallback_without_a_panic() {
    let set = shipped();
    let huge = "lorem ipsum dolor sit amet ".repeat(4_000);
    assert!(huge.len() > 100_000);
    let odd = [
        "",
        "   \n\t ",
        "🙄🙄🙄😡😡",
        "https://t.co/abcdef123",
        "!!!???...",
        "@AcmeCare @AcmeRentals",
        huge.as_str(),
        "la macchina che ho noleggiato si è rotta in autostrada, sono bloccato con due bambini",
    ];
    for text in odd {
        let m = first(&set, text);
        assert_eq!(m.id, "general", "{:?}", &text[..text.len().min(80)]);
        assert_eq!(m.score, 0);
    }
    let other = first(
        &set,
        "o carro alugado quebrou na estrada e ninguém atende o telefone, estou com duas crianças",
    );
    assert!(
        other.reasons[0].starts_with("written in Portuguese"),
        "{:?}",
        other.reasons
    );
}

#[test]
fn the_minimum_similarity_decides_when_the_fallback_comes() {
    let set = shipped();
    let text = "the car rental place was closed";
    let loose = set.clone().with_min_similarity(0.0);
    assert_ne!(first(&loose, text).id, "general");
    let strict = set.with_min_similarity(1.0);
    assert_eq!(first(&strict, text).id, "general");
}
