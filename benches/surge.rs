//! Surge detection cost per mention: `cargo bench --bench surge`.
//!
//! Records 1,000,000 mentions spread over 20 categories and 3 days (the rate tracker keeps
//! 24h + 15m of one-minute buckets per category, so it slides and answers the window and the
//! baseline for every mention), and reports the time per mention beside a baseline measured in
//! the same run: a bare `HashMap<String, u64>` increment per mention.
//! Target: surge detection adds under 20 µs per mention.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use carebot::domain::surge::{RateTracker, SurgeSettings};
use chrono::{DateTime, Duration, Utc};

const MENTIONS: usize = 1_000_000;
const CATEGORIES: usize = 20;

fn main() {
    let settings = SurgeSettings::new("15m", "24h", 3.0, 8).expect("settings");
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-27T00:00:00Z")
        .expect("time")
        .with_timezone(&Utc);
    let categories: Vec<String> = (0..CATEGORIES).map(|i| format!("category-{i}")).collect();
    // Three days of mentions, a little bursty: the stream the tracker sees in production.
    let step = Duration::seconds(3 * 86_400) / MENTIONS as i32;
    let times: Vec<DateTime<Utc>> = (0..MENTIONS).map(|i| start + step * i as i32).collect();

    let mut counts: HashMap<String, u64> = HashMap::new();
    let t = Instant::now();
    for (i, _) in times.iter().enumerate() {
        *counts
            .entry(categories[(i * 7) % CATEGORIES].clone())
            .or_default() += 1;
    }
    let baseline = t.elapsed();
    black_box(&counts);

    let mut tracker = RateTracker::new(&settings);
    let mut surges = 0u64;
    let t = Instant::now();
    for (i, at) in times.iter().enumerate() {
        let rate = tracker.record(&categories[(i * 7) % CATEGORIES], *at);
        if settings.is_surge(rate.window, rate.baseline) {
            surges += 1;
        }
    }
    let tracked = t.elapsed();
    black_box(surges);

    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / MENTIONS as f64;
    println!("surge detection over {MENTIONS} mentions, {CATEGORIES} categories, 3 days");
    println!(
        "  baseline (HashMap increment): {:>8.3} µs per mention",
        per(baseline)
    );
    println!(
        "  rate tracker + surge check:   {:>8.3} µs per mention",
        per(tracked)
    );
    println!(
        "  added by surge detection:     {:>8.3} µs per mention (target: under 20 µs)",
        per(tracked) - per(baseline)
    );
}
