//! Feed post -> case card latency and burst throughput of the Discord adapter, against the fake
//! Discord on loopback (real serenity client, real SQLite file, shipped playbooks).
//!
//! - Sustained: 50 posts/s for 30 s, each by a new customer. Latency is from the moment the
//!   fake has sent the post on the gateway to the moment it has stored the case card the bot
//!   POSTed into the case thread (seen by polling every millisecond, so ±1 ms).
//!   Target: p99 under 20 ms.
//! - Burst: 2,000 posts at once. Target: all processed within a minute, one case and one thread
//!   each (no loss, no duplicates).
//!
//! `cargo bench --bench discord_latency`; `BENCH_SECONDS=5` shortens the sustained phase.
//!
//! Mode `ratelimits` (`cargo bench --bench discord_latency -- ratelimits`, about ten minutes):
//! a burst of 300 posts against a fake with Discord's rate limits (50 requests per second in
//! all; 5 per 5 s per channel for message and thread writes, so the 300 threads in the one feed
//! channel need 59 windows), twice: first with the client only honouring 429s (carebot's old,
//! reactive way), then waiting before a request would be refused. Each run reports the
//! requests, how many were answered 429, the wall time and the least time the buckets allow.
//! `BENCH_ROUTE_WINDOW_MS` (default 5000) shortens the windows, `BENCH_BURST` (default 300)
//! changes the burst.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carebot::app::Engine;
use carebot::config::{Config, DiscordConfig, FeedChannelConfig, Secret};
use carebot::discord::{Rest, Running};
use carebot::store::CaseFilter;
use support::fake_discord::{Author, FakeDiscord, FakeDiscordOptions, RateLimits};

const RATE: u64 = 50;
const BURST: u64 = 2_000;

fn post_text(n: u64) -> String {
    format!("[Twitter] @bench_customer_{n}: my order {n} is two weeks late, tracking says nothing https://twitter.com/bench_customer_{n}/status/{n}")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn case_count(engine: &Engine) -> usize {
    let mut tx = engine.store().read().await.expect("read");
    tx.list_cases(&CaseFilter::default()).await.expect("cases").len()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// carebot on a fresh SQLite file in `dir`, connected to `fake` with one feed channel and no
/// surge grouping; returns the engine, the running bot and the feed channel.
async fn start_bot(fake: &FakeDiscord, dir: &std::path::Path) -> (Arc<Engine>, Running, u64) {
    let feed = fake.add_channel("social-feed");
    let agent = fake.add_role("care-agent");
    std::fs::create_dir_all(dir).expect("temp dir");
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}", dir.join("bench.db").display());
    config.playbooks_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    // Every post its own case, thread and card: what is measured here. (All posts are about
    // late orders, so surge detection would group them under one incident instead.)
    config.surge.min_mentions = u32::MAX;
    config.discord = DiscordConfig {
        api_base: fake.api_base(),
        guild_id: Some(fake.guild_id()),
        feeds: vec![FeedChannelConfig {
            channel_id: feed,
            profiles: vec![],
        }],
        roles: BTreeMap::from([("agent".to_string(), vec![agent])]),
        token: Secret::new("test-token"),
        ..DiscordConfig::default()
    };
    let engine = Arc::new(Engine::start(&config).await.expect("engine"));
    let running = carebot::discord::start(engine.clone(), &config.discord)
        .await
        .expect("bot starts");
    fake.wait_until_ready(Duration::from_secs(10)).await;
    (engine, running, feed)
}

async fn run() {
    let seconds = env_number("BENCH_SECONDS", 30);
    let fake = FakeDiscord::start().await;
    let dir = std::env::temp_dir().join(format!("carebot-bench-{}", std::process::id()));
    let (engine, running, feed) = start_bot(&fake, &dir).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Sustained load with a poller that notes when each post's card has arrived.
    let pending: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let poller = {
        let (fake, pending, latencies) = (fake.clone(), pending.clone(), latencies.clone());
        tokio::spawn(async move {
            loop {
                let now_pending: Vec<(u64, Instant)> =
                    pending.lock().unwrap().iter().map(|(k, v)| (*k, *v)).collect();
                for (post, sent) in now_pending {
                    if !fake.messages(post).is_empty() {
                        let latency = sent.elapsed();
                        pending.lock().unwrap().remove(&post);
                        latencies.lock().unwrap().push(latency);
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let total = RATE * seconds;
    println!("sustained: {total} posts at {RATE}/s for {seconds} s ...");
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / RATE));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    for n in 0..total {
        tick.tick().await;
        let post = fake
            .post_message(feed, Author::webhook("Social Feed"), &post_text(n), vec![])
            .await;
        pending.lock().unwrap().insert(post, Instant::now());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pending.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    poller.abort();
    let lost = pending.lock().unwrap().len();
    let mut sorted = latencies.lock().unwrap().clone();
    sorted.sort();
    println!(
        "sustained: {} cards in {:.1} s, {lost} missing; feed post -> card request latency: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 < 20 ms: {})",
        sorted.len(),
        started.elapsed().as_secs_f64(),
        ms(percentile(&sorted, 0.50)),
        ms(percentile(&sorted, 0.90)),
        ms(percentile(&sorted, 0.99)),
        ms(*sorted.last().expect("latencies")),
        if percentile(&sorted, 0.99) < Duration::from_millis(20) && lost == 0 {
            "met"
        } else {
            "MISSED"
        }
    );

    // Burst.
    wait_drained(&engine, Duration::from_secs(30)).await;
    let cases_before = case_count(&engine).await;
    println!("burst: {BURST} posts at once ...");
    let started = Instant::now();
    let mut posts = Vec::with_capacity(BURST as usize);
    for n in total..total + BURST {
        posts.push(
            fake.post_message(feed, Author::webhook("Social Feed"), &post_text(n), vec![])
                .await,
        );
    }
    let posted = started.elapsed();
    let deadline = started + Duration::from_secs(60);
    let mut done = None;
    while Instant::now() < deadline {
        if posts.iter().all(|p| !fake.messages(*p).is_empty())
            && engine
                .store()
                .undelivered_outbox(1)
                .await
                .expect("outbox")
                .is_empty()
        {
            done = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cases = case_count(&engine).await - cases_before;
    let requests = fake.requests();
    let burst_threads = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/threads") && r.status == 201)
        .filter(|r| {
            posts
                .iter()
                .any(|p| r.path.ends_with(&format!("/messages/{p}/threads")))
        })
        .count();
    let cards: usize = posts
        .iter()
        .map(|p| {
            fake.messages(*p)
                .iter()
                .filter(|m| m["components"].as_array().is_some_and(|c| !c.is_empty()))
                .count()
        })
        .sum();
    let refused = requests.iter().filter(|r| r.status >= 400).count();
    println!(
        "burst: posted in {:.1} s; {} ; {cases} new cases, {burst_threads} threads, {cards} cards for {BURST} posts; {refused} refused requests (target: all within 60 s, no loss, no duplicates: {})",
        posted.as_secs_f64(),
        match done {
            Some(d) => format!("fully processed (cards posted, outbox empty) in {:.1} s", d.as_secs_f64()),
            None => "NOT fully processed within 60 s".to_string(),
        },
        if done.is_some() && cases == BURST as usize && burst_threads == BURST as usize && cards == BURST as usize {
            "met"
        } else {
            "MISSED"
        }
    );
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn wait_drained(engine: &Engine, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if engine
            .store()
            .undelivered_outbox(1)
            .await
            .expect("outbox")
            .is_empty()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The shortest time `n` requests through one bucket of `limit` per `window` take from the
/// first to the last: `limit` go at once, then `limit` more as each new window starts.
fn bucket_time(n: usize, limit: u32, window: Duration) -> Duration {
    window * n.div_ceil(limit as usize).saturating_sub(1) as u32
}

/// Mode `ratelimits`: the burst against Discord's limits, reactive client then pre-emptive.
async fn ratelimits() {
    let posts = env_number("BENCH_BURST", 300) as usize;
    let limits =
        RateLimits::with_route_window(Duration::from_millis(env_number("BENCH_ROUTE_WINDOW_MS", 5000)));
    let threads_bound = bucket_time(posts, limits.route_limit, limits.route_window);
    println!(
        "rate limits: {} requests per {:?} in all, {} per {:?} per channel for message and thread writes; \
         a burst of {posts} posts needs {posts} threads in the feed channel: at least {:.1} s",
        limits.global_limit,
        limits.global_window,
        limits.route_limit,
        limits.route_window,
        threads_bound.as_secs_f64()
    );
    for (label, preemptive) in [
        ("before (reactive: send, then honour the 429)", false),
        ("after (wait before a request would be refused)", true),
    ] {
        Rest::set_preemptive(preemptive);
        let fake = FakeDiscord::start_with(FakeDiscordOptions {
            rate_limits: Some(limits.clone()),
            ..FakeDiscordOptions::default()
        })
        .await;
        let dir = std::env::temp_dir().join(format!("carebot-bench-rl-{}-{preemptive}", std::process::id()));
        let (engine, running, feed) = start_bot(&fake, &dir).await;
        // Start-up requests (commands) are in an earlier second of the global limit.
        tokio::time::sleep(limits.global_window + Duration::from_millis(100)).await;
        let before = fake.requests().len();
        let stats_before = fake.rate_limit_stats();
        println!("{label}: {posts} posts at once ...");
        let started = Instant::now();
        let mut ids = Vec::with_capacity(posts);
        for n in 0..posts as u64 {
            ids.push(
                fake.post_message(feed, Author::webhook("Social Feed"), &post_text(n), vec![])
                    .await,
            );
        }
        let deadline = started + threads_bound * 3 + Duration::from_secs(60);
        let mut done = None;
        while Instant::now() < deadline {
            let drained = engine
                .store()
                .undelivered_outbox(1)
                .await
                .expect("outbox")
                .is_empty();
            if drained && case_count(&engine).await == posts {
                done = Some(started.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let requests = fake.requests().split_off(before);
        let stats = fake.rate_limit_stats();
        let (global, route) = (
            stats.global_refused - stats_before.global_refused,
            stats.route_refused - stats_before.route_refused,
        );
        let sent = requests.len();
        let accepted = sent - global - route;
        let bound = threads_bound.max(bucket_time(accepted, limits.global_limit, limits.global_window));
        let threads = requests
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/threads") && r.status == 201)
            .count();
        let cards: usize = ids
            .iter()
            .map(|p| {
                fake.messages(*p)
                    .iter()
                    .filter(|m| m["components"].as_array().is_some_and(|c| !c.is_empty()))
                    .count()
            })
            .sum();
        println!(
            "{label}: {sent} requests, {} answered 429 ({:.2}%: {global} global, {route} route); {}; \
             the buckets allow {:.1} s{}; {threads} threads and {cards} cards for {posts} posts ({})",
            global + route,
            (global + route) as f64 * 100.0 / sent.max(1) as f64,
            match done {
                Some(d) => format!("delivered in {:.1} s", d.as_secs_f64()),
                None => "NOT delivered before the deadline".to_string(),
            },
            bound.as_secs_f64(),
            done.map(|d| format!(" ({:.2}x)", d.as_secs_f64() / bound.as_secs_f64().max(0.001)))
                .unwrap_or_default(),
            if done.is_some() && threads == posts && cards == posts {
                "each once"
            } else {
                "MISSED"
            }
        );
        running.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
    Rest::set_preemptive(true);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    match args.first().map(String::as_str) {
        None => runtime.block_on(run()),
        Some("ratelimits") => runtime.block_on(ratelimits()),
        Some(other) => {
            eprintln!("unknown mode `{other}`: run without one (latency and burst) or with `ratelimits`");
            std::process::exit(2);
        }
    }
}
