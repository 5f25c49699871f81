//! Ingest benchmarks: throughput and latency of mention -> case through the whole engine, on a
//! SQLite file in a temporary folder, beside a raw sqlx insert of the same rows as a baseline.
//!
//! # Modes
//!
//! - `cargo bench --bench ingest` (mode `engine`, about two minutes on 2 cores):
//!   1. **bulk**: ~200k mentions as JSON Lines through [`carebot::cli::ingest_jsonl`] (parse,
//!      dedupe, triage, playbook match, case write, events, outbox; one transaction per
//!      `IMPORT_BATCH`), then the same rows inserted raw (one `INSERT` per row into a plain table
//!      with the columns of `mentions`, same batch size, same WAL / `synchronous=NORMAL` file).
//!   2. **per post**: feed posts like `[Twitter] @user123: my order is late ... https://...`
//!      through `Engine::receive_post`, one transaction each, on the database the bulk import
//!      filled; latency percentiles, beside one raw `INSERT` per transaction.
//! - `CAREBOT_BENCH=memory cargo bench --bench ingest` (or `cargo bench --bench ingest -- memory`;
//!   several minutes): writes a 1,000,000-line JSONL file and runs the release binary
//!   `carebot --db sqlite://TMP/x.db ingest FILE --json` on it, reporting its peak RSS (the
//!   child's `VmHWM` from `/proc/PID/status`, polled until it exits) and its throughput.
//!   Build the binary first: `cargo build --release`.
//!
//! The mix: ~60% of mentions from new customers, ~40% from repeat customers (merging into their
//! open case), ~3% exact duplicates (a retried import), ~1% retweets (ignored as echoes); texts
//! on the shipped playbooks' topics. The data are generated from a fixed seed, so runs compare.
//!
//! Sizes: `CAREBOT_BENCH_N` (bulk mentions, default 200000), `CAREBOT_BENCH_POSTS` (per-post
//! transactions, default 20000), `CAREBOT_BENCH_MEMORY_N` (memory mode lines, default 1000000).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration as StdDuration, Instant};

use carebot::app::Engine;
use carebot::cli::{ingest_jsonl, ImportLine, IMPORT_BATCH};
use carebot::config::Config;
use carebot::domain::feed::Mention;
use chrono::{DateTime, Duration, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use workload::{t0, Item, Rng, Workload};

#[path = "support/workload.rs"]
mod workload;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let mode = std::env::var("CAREBOT_BENCH")
        .ok()
        .or_else(|| args.first().cloned())
        .unwrap_or_else(|| "engine".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match mode.as_str() {
        "engine" => runtime.block_on(engine_bench()),
        "memory" => memory_bench(),
        other => {
            eprintln!("unknown mode `{other}`: use `engine` (default) or `memory`");
            std::process::exit(2);
        }
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// A folder under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("carebot-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

/// Percentiles of a set of durations.
struct Latencies(Vec<StdDuration>);

impl Latencies {
    fn percentile(&self, p: f64) -> StdDuration {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return StdDuration::ZERO;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    fn summary(&self) -> String {
        let us = |d: StdDuration| d.as_secs_f64() * 1e6;
        format!(
            "p50 {:>7.0} µs  p90 {:>7.0} µs  p99 {:>7.0} µs  p99.9 {:>7.0} µs  max {:>7.0} µs",
            us(self.percentile(50.0)),
            us(self.percentile(90.0)),
            us(self.percentile(99.0)),
            us(self.percentile(99.9)),
            us(self.percentile(100.0)),
        )
    }
}

fn config_for(db: &Path) -> Config {
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}", db.display());
    config.playbooks_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    config.feed.brand_handles = vec!["AcmeShop".into()];
    config
}

/// The baseline: a plain table with the columns of `mentions`, on the same file settings.
async fn baseline_pool(db: &Path) -> SqlitePool {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", db.display()))
        .expect("url")
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("baseline db");
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS mentions (
            id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL, customer_id INTEGER NOT NULL,
            source_id TEXT NOT NULL, external_id TEXT, network TEXT NOT NULL, handle TEXT NOT NULL,
            display_name TEXT, text TEXT NOT NULL, url TEXT, followers INTEGER,
            unparsed INTEGER NOT NULL DEFAULT 0, feed_channel_id TEXT, feed_message_id TEXT,
            posted_at INTEGER NOT NULL, received_at INTEGER NOT NULL)",
    )
    .execute(&pool)
    .await
    .expect("baseline table");
    pool
}

async fn baseline_insert(conn: &mut sqlx::SqliteConnection, i: usize, m: &Mention, now: DateTime<Utc>) {
    let sql = "INSERT INTO mentions (case_id, customer_id, source_id, external_id, network, handle, display_name,
                                     text, url, followers, unparsed, feed_channel_id, feed_message_id, posted_at,
                                     received_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    workload::bind_mention_row(sqlx::query(sql), i as i64, m, now)
        .execute(&mut *conn)
        .await
        .expect("baseline insert");
}

fn rate(n: usize, d: StdDuration) -> f64 {
    n as f64 / d.as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// Mode `engine`
// ---------------------------------------------------------------------------------------------

async fn engine_bench() {
    carebot::telemetry::init("warn");
    let n = env_usize("CAREBOT_BENCH_N", 200_000);
    let posts = env_usize("CAREBOT_BENCH_POSTS", 20_000);
    let dir = TempDir::new("engine");
    let now = t0() + Duration::hours(1);

    let mut work = Workload::new(42, 1_000_000);
    let items: Vec<Item> = (0..n).map(|i| work.next(i)).collect();
    let jsonl: String = items.iter().map(|it| it.json_line() + "\n").collect();
    let mentions: Vec<Mention> = jsonl
        .lines()
        .map(|l| {
            serde_json::from_str::<ImportLine>(l)
                .expect("valid line")
                .into_mention(now)
                .expect("valid mention")
        })
        .collect();
    println!(
        "ingest bench: {n} mentions ({} customers), batch {IMPORT_BATCH}, SQLite file in {}",
        work.customers.len(),
        dir.0.display()
    );

    // 1. Bulk import through the engine.
    let engine = Engine::start(&config_for(&dir.0.join("engine.db")))
        .await
        .expect("engine starts");
    let start = Instant::now();
    let stats = ingest_jsonl(&engine, jsonl.as_bytes(), now, &mut std::io::stderr())
        .await
        .expect("import");
    let engine_bulk = start.elapsed();
    drop(jsonl);
    println!(
        "  engine bulk:    {:>9.0} mentions/s  ({n} in {:.2} s; opened {} merged {} reopened {} duplicate {} ignored {} errors {})",
        rate(n, engine_bulk),
        engine_bulk.as_secs_f64(),
        stats.opened,
        stats.merged,
        stats.reopened,
        stats.duplicate,
        stats.ignored,
        stats.errors
    );

    // 1b. Baseline: raw inserts of the same rows, same batch size.
    let pool = baseline_pool(&dir.0.join("baseline.db")).await;
    let start = Instant::now();
    for (b, chunk) in mentions.chunks(IMPORT_BATCH).enumerate() {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
        for (k, m) in chunk.iter().enumerate() {
            baseline_insert(&mut tx, b * IMPORT_BATCH + k, m, now).await;
        }
        tx.commit().await.expect("commit");
    }
    let base_bulk = start.elapsed();
    println!(
        "  baseline bulk:  {:>9.0} rows/s      ({n} in {:.2} s; raw INSERT per row, {IMPORT_BATCH} per transaction)",
        rate(n, base_bulk),
        base_bulk.as_secs_f64()
    );
    println!(
        "  ratio engine/baseline (time per mention): {:.1}x",
        engine_bulk.as_secs_f64() / base_bulk.as_secs_f64()
    );
    drop(mentions);

    // 2. One transaction per feed post, on the database the import filled.
    let mut work = Workload {
        rng: Rng(7),
        next_id: 50_000_000,
        emitted: Vec::new(),
        ..work
    };
    let feed_items: Vec<Item> = (0..posts).map(|i| work.next(n + i)).collect();
    let mut engine_lat = Vec::with_capacity(posts);
    let start = Instant::now();
    for (i, item) in feed_items.iter().enumerate() {
        let post = item.feed_post(i as u64);
        let now = now + Duration::seconds(i as i64);
        let t = Instant::now();
        engine.receive_post(&post, None, now).await.expect("post stored");
        engine_lat.push(t.elapsed());
    }
    let engine_posts = start.elapsed();
    let engine_lat = Latencies(engine_lat);
    println!(
        "  engine per post:     {}  ({:.0} posts/s)",
        engine_lat.summary(),
        rate(posts, engine_posts)
    );

    let mut base_lat = Vec::with_capacity(posts);
    let feed_mentions: Vec<Mention> = feed_items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let mut m = serde_json::from_str::<ImportLine>(&it.json_line())
                .expect("valid line")
                .into_mention(now)
                .expect("valid mention");
            m.source_id = format!("post:{i}");
            m
        })
        .collect();
    for (i, m) in feed_mentions.iter().enumerate() {
        let t = Instant::now();
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
        baseline_insert(&mut tx, n + i, m, now).await;
        tx.commit().await.expect("commit");
        base_lat.push(t.elapsed());
    }
    let base_lat = Latencies(base_lat);
    println!("  baseline per row:    {}", base_lat.summary());
    println!(
        "  ratio engine/baseline p50 {:.1}x  p99 {:.1}x",
        engine_lat.percentile(50.0).as_secs_f64() / base_lat.percentile(50.0).as_secs_f64(),
        engine_lat.percentile(99.0).as_secs_f64() / base_lat.percentile(99.0).as_secs_f64()
    );
    let size = |f: &str| std::fs::metadata(dir.0.join(f)).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    println!(
        "  files: engine.db {:.0} MB (+ wal {:.0} MB), baseline.db {:.0} MB",
        size("engine.db"),
        size("engine.db-wal"),
        size("baseline.db")
    );
    engine.store().close().await;
    pool.close().await;
}

// ---------------------------------------------------------------------------------------------
// Mode `memory`
// ---------------------------------------------------------------------------------------------

/// Reads a `kB` field (e.g. `VmHWM`) of `/proc/PID/status`; `None` once the process is gone.
fn proc_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn memory_bench() {
    let n = env_usize("CAREBOT_BENCH_MEMORY_N", 1_000_000);
    let exe = std::env::current_exe().expect("own path");
    // target/release/deps/ingest-HASH -> target/release/carebot
    let binary = exe
        .parent()
        .and_then(Path::parent)
        .map(|p| p.join("carebot"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| {
            eprintln!(
                "target/release/carebot not found next to {}: run `cargo build --release` first",
                exe.display()
            );
            std::process::exit(2);
        });
    let dir = TempDir::new("memory");
    let file = dir.0.join("mentions.jsonl");
    let start = Instant::now();
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).expect("jsonl file"));
        let mut work = Workload::new(42, 1_000_000);
        for i in 0..n {
            writeln!(out, "{}", work.next(i).json_line()).expect("write jsonl");
        }
        out.flush().expect("flush jsonl");
    }
    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    println!(
        "memory bench: {n} lines ({:.0} MB) written in {:.1} s; running {}",
        bytes as f64 / 1e6,
        start.elapsed().as_secs_f64(),
        binary.display()
    );

    let start = Instant::now();
    let mut child = std::process::Command::new(&binary)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .env_remove("CAREBOT_DATABASE_URL")
        .arg("--db")
        .arg(format!("sqlite://{}", dir.0.join("x.db").display()))
        .arg("ingest")
        .arg(&file)
        .arg("--json")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("carebot starts");
    let pid = child.id();
    let (mut hwm, mut rss_max) = (0u64, 0u64);
    let status = loop {
        // VmHWM is the kernel's own high-water mark; the last reading before exit is the peak
        // up to the last 10 ms.
        if let Some(kb) = proc_kb(pid, "VmHWM") {
            hwm = hwm.max(kb);
        }
        if let Some(kb) = proc_kb(pid, "VmRSS") {
            rss_max = rss_max.max(kb);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(StdDuration::from_millis(10));
    };
    let elapsed = start.elapsed();
    let mut stdout = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut s, &mut stdout);
    }
    assert!(status.success(), "carebot ingest failed: {status}");
    let stats: serde_json::Value = serde_json::from_str(&stdout).expect("ingest --json output");
    println!(
        "  carebot ingest: {n} in {:.1} s = {:.0} mentions/s; peak RSS (VmHWM) {:.1} MB (max sampled VmRSS {:.1} MB)",
        elapsed.as_secs_f64(),
        rate(n, elapsed),
        hwm as f64 / 1024.0,
        rss_max as f64 / 1024.0
    );
    println!("  stats: {stats}");
    let db = std::fs::metadata(dir.0.join("x.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!("  x.db {:.0} MB", db as f64 / 1e6);
}
