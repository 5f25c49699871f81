//! The two storage backends side by side: bulk ingest against the physical limit, bytes on disk
//! per mention, and one against two bot processes draining an outbox backlog on PostgreSQL.
//!
//! `cargo bench --bench backends [-- ingest|storage|drain ...]` (default: all three). The
//! PostgreSQL parts need `CAREBOT_BENCH_POSTGRES`, an admin URL of a server whose user may
//! create databases (`postgres://USER:PASSWORD@HOST:PORT/postgres`); each part runs on a fresh
//! database it drops afterwards. Without it they say that they skipped.
//!
//! # Parts
//!
//! 1. **ingest**: `CAREBOT_BENCH_N` mentions (default 200,000; the mix of `benches/ingest.rs`:
//!    new and repeat customers, duplicates, echoes) through [`carebot::cli::ingest_jsonl`],
//!    on a SQLite file opened as the app opens it (WAL) and on PostgreSQL, each beside three
//!    **raw baselines, the physical limit**: (a) the mention rows alone into a plain table with
//!    the columns of `mentions` (its primary key, no other index), `IMPORT_BATCH` rows at a
//!    time: prepared multi-row `INSERT`s (as many rows each as SQLite binds) in a transaction
//!    per batch (SQLite), one `COPY ... FROM STDIN (FORMAT csv)` per batch (PostgreSQL); (b) **the same rows**: every
//!    row of every table that carebot's import wrote (customers, cases, mentions, timeline,
//!    clocks, outbox, ...), copied from its database into tables with the same columns and
//!    only their primary keys, in as many transactions as the import had batches, each with its
//!    share of every table the same way (`support/same_rows.rs`). Goal: carebot >= 0.5x of
//!    (b)'s rows/s, that is the same rows written in at most twice (b)'s time; (a) shows what
//!    the import's other rows and its work on each mention (triage, dedupe, placement) cost;
//!    (c) the same as (b) into tables with carebot's indexes too (unique ones included; no
//!    foreign key), the limit of writing those rows where carebot keeps them: (b) against (c)
//!    is what the indexes cost, (c) against carebot what the import's own work costs.
//! 2. **storage** (SQLite): `CAREBOT_BENCH_STORAGE_N` mentions (default 1,000,000) imported,
//!    their outbox delivered (every row marked as the dispatcher marks it), then bytes per
//!    mention of the database file and its WAL after `PRAGMA wal_checkpoint(TRUNCATE)`: (a) as
//!    is; (b) after what `carebot run`'s housekeeping does once `keep_delivered_hours` has
//!    passed (`prune_outbox`, `prune_timers`, `reclaim_space`: no `VACUUM`), the steady state;
//!    (c) after a `VACUUM` by hand too; each with the biggest tables and indexes from the
//!    `dbstat` table. Goal: under 1 KB.
//! 3. **drain** (PostgreSQL and the fake Discord of `tests/support`): an outbox backlog of
//!    `CAREBOT_BENCH_OUTBOX` rows (default 20,000; imported mentions whose threads open in the
//!    cases channel: a card and a suggestions message per new case, a thread line and a card
//!    edit per repeat mention), then the time one `carebot::discord::start` takes to deliver
//!    it all, and on a fresh identical database the time two take (shards "0/2" and "1/2").
//!    Duplicates (a nonce posted twice, a thread or card edit more than the backlog asks for)
//!    and lost rows (undelivered at the end, or a nonce never posted) must both be 0.
//!    `CAREBOT_BENCH_DRAIN_TIMEOUT` (seconds, default 900) bounds each drain.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use carebot::app::outbox::Outgoing;
use carebot::app::{Engine, IngestStats};
use carebot::cli::{ingest_jsonl, ImportLine, IMPORT_BATCH};
use carebot::config::{Config, DiscordConfig, FeedChannelConfig, Secret};
use carebot::domain::feed::Mention;
use carebot::store::Store;
use chrono::{DateTime, Duration, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, PgConnection, SqlitePool};
use support::fake_discord::FakeDiscord;
use workload::{t0, Workload};

#[path = "support/same_rows.rs"]
mod same_rows;
use same_rows::Indexes;
#[path = "support/workload.rs"]
mod workload;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let mut modes: Vec<String> = match std::env::var("CAREBOT_BENCH") {
        Ok(m) if !m.is_empty() => m.split(',').map(str::to_string).collect(),
        _ => args,
    };
    if modes.is_empty() {
        modes = vec!["ingest".into(), "storage".into(), "drain".into()];
    }
    if let Some(bad) = modes
        .iter()
        .find(|m| !["ingest", "storage", "drain"].contains(&m.as_str()))
    {
        eprintln!("unknown mode `{bad}`: use ingest, storage and/or drain (default: all)");
        std::process::exit(2);
    }
    carebot::telemetry::init("warn");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    for mode in &modes {
        let started = Instant::now();
        match mode.as_str() {
            "ingest" => runtime.block_on(ingest_part()),
            "storage" => runtime.block_on(storage_part()),
            _ => runtime.block_on(drain_part()),
        }
        println!("({mode} took {:.0} s)\n", started.elapsed().as_secs_f64());
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn rate(n: usize, d: StdDuration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
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
// PostgreSQL: a fresh database per part
// ---------------------------------------------------------------------------------------------

/// The admin URL of the PostgreSQL server to bench on, when given.
fn postgres_admin_url() -> Option<String> {
    std::env::var("CAREBOT_BENCH_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
}

fn skipped(part: &str) {
    println!("  PostgreSQL {part}: SKIPPED (set CAREBOT_BENCH_POSTGRES to an admin URL, e.g. postgres://USER:PASSWORD@127.0.0.1:5432/postgres)");
}

/// Runs one statement on the server's admin database, from a thread of its own (so the drop
/// guard works inside and outside the runtime).
fn on_admin_database(admin: &str, sql: String) -> Result<(), String> {
    let admin = admin.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let mut conn = PgConnection::connect(&admin).await.map_err(|e| e.to_string())?;
            sqlx::query(&sql)
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            conn.close().await.map_err(|e| e.to_string())
        })
    })
    .join()
    .map_err(|_| "the admin thread panicked".to_string())?
}

/// A database created for one part, dropped (`WITH (FORCE)`) when this is dropped.
struct PgDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PgDatabase {
    fn create(admin: &str, tag: &str) -> PgDatabase {
        let name = format!("carebot_bench_{tag}_{}", std::process::id());
        on_admin_database(admin, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .expect("old bench database dropped");
        on_admin_database(admin, format!("CREATE DATABASE {name}")).expect("bench database created");
        let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
        PgDatabase {
            admin: admin.to_string(),
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Err(e) = on_admin_database(
            &self.admin,
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("cannot drop bench database {}: {e}", self.name);
        }
    }
}

/// The engine's config for the database at `url`: shipped playbooks, AcmeShop as the brand.
fn config_for(url: &str) -> Config {
    let mut config = Config::default();
    config.database.url = url.to_string();
    config.playbooks_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    config.feed.brand_handles = vec!["AcmeShop".into()];
    config
}

fn stats_line(s: &IngestStats) -> String {
    format!(
        "opened {} merged {} reopened {} duplicate {} ignored {} errors {}",
        s.opened, s.merged, s.reopened, s.duplicate, s.ignored, s.errors
    )
}

// ---------------------------------------------------------------------------------------------
// Part 1: ingest
// ---------------------------------------------------------------------------------------------

/// The columns of `mentions` the import writes (all but its id, which the baselines give).
const MENTION_COLUMNS: &str = "case_id, customer_id, source_id, external_id, network, handle, display_name, text, url, followers, unparsed, feed_channel_id, feed_message_id, posted_at, received_at";

/// carebot's import of `jsonl` on `url`: (time, stats).
async fn carebot_import(url: &str, jsonl: &str, now: DateTime<Utc>) -> (StdDuration, IngestStats) {
    let engine = Engine::start(&config_for(url)).await.expect("engine starts");
    let cpu = process_cpu();
    let start = Instant::now();
    let stats = ingest_jsonl(&engine, jsonl.as_bytes(), now, &mut std::io::stderr())
        .await
        .expect("import");
    let elapsed = start.elapsed();
    if let (Some(before), Some(after)) = (cpu, process_cpu()) {
        let used = (after - before).as_secs_f64();
        println!(
            "  {:<10} carebot's process: {used:.2} s of CPU in {:.2} s ({:.2} cores busy on average; {} here)",
            if url.starts_with("sqlite") { "SQLite" } else { "PostgreSQL" },
            elapsed.as_secs_f64(),
            used / elapsed.as_secs_f64(),
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
    }
    engine.store().close().await;
    (elapsed, stats)
}

/// CPU time this process has used so far, all threads (Linux: `/proc/self/stat`, in clock
/// ticks of 10 ms); `None` elsewhere.
fn process_cpu() -> Option<StdDuration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(StdDuration::from_millis(ticks * 10))
}

/// A SQLite file with the app's journal settings (WAL, `synchronous=NORMAL`).
async fn sqlite_pool(db: &Path) -> SqlitePool {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", db.display()))
        .expect("url")
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        // As carebot's pool: the baselines get the same page cache.
        .pragma("cache_size", "-16384")
        .pragma("temp_store", "memory");
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("sqlite file")
}

/// The SQLite baseline: prepared multi-row INSERTs, a transaction per batch.
async fn sqlite_baseline(db: &Path, mentions: &[Mention], now: DateTime<Utc>) -> StdDuration {
    let pool = sqlite_pool(db).await;
    sqlx::query(
        "CREATE TABLE mentions (
            id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL, customer_id INTEGER NOT NULL,
            source_id TEXT NOT NULL, external_id TEXT, network TEXT NOT NULL, handle TEXT NOT NULL,
            display_name TEXT, text TEXT NOT NULL, url TEXT, followers INTEGER,
            unparsed INTEGER NOT NULL DEFAULT 0, feed_channel_id TEXT, feed_message_id TEXT,
            posted_at INTEGER NOT NULL, received_at INTEGER NOT NULL)",
    )
    .execute(&pool)
    .await
    .expect("baseline table");
    // One statement text per statement size (the last may be shorter): prepared once each,
    // then taken from sqlx's statement cache. A statement binds at most SQLite's 32,766
    // parameters, so a batch takes several.
    let per_statement = 32_766 / 16;
    let mut statements: BTreeMap<usize, String> = BTreeMap::new();
    let start = Instant::now();
    for (b, batch) in mentions.chunks(IMPORT_BATCH).enumerate() {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
        for (c, chunk) in batch.chunks(per_statement).enumerate() {
            let sql = statements.entry(chunk.len()).or_insert_with(|| {
                let row = format!("({})", vec!["?"; 16].join(", "));
                format!(
                    "INSERT INTO mentions (id, {MENTION_COLUMNS}) VALUES {}",
                    vec![row; chunk.len()].join(", ")
                )
            });
            let mut query = sqlx::query::<sqlx::Sqlite>(sql.as_str());
            for (k, m) in chunk.iter().enumerate() {
                let i = (b * IMPORT_BATCH + c * per_statement + k) as i64;
                query = workload::bind_mention_row(query.bind(i + 1), i, m, now);
            }
            query.execute(&mut *tx).await.expect("baseline insert");
        }
        tx.commit().await.expect("commit");
    }
    let elapsed = start.elapsed();
    pool.close().await;
    elapsed
}

/// A CSV field for COPY: always quoted (so an empty text is not NULL), quotes doubled.
fn csv_text(out: &mut String, s: &str) {
    out.push('"');
    out.push_str(&s.replace('"', "\"\""));
    out.push('"');
}

fn csv_opt(out: &mut String, s: Option<&str>) {
    if let Some(s) = s {
        csv_text(out, s);
    }
}

/// The PostgreSQL baseline: one `COPY ... FROM STDIN (FORMAT csv)` per batch.
async fn postgres_baseline(url: &str, mentions: &[Mention], now: DateTime<Utc>) -> StdDuration {
    let mut conn = PgConnection::connect(url).await.expect("baseline database");
    sqlx::query(
        "CREATE TABLE mentions (
            id BIGINT PRIMARY KEY, case_id BIGINT NOT NULL, customer_id BIGINT NOT NULL,
            source_id TEXT NOT NULL, external_id TEXT, network TEXT NOT NULL, handle TEXT NOT NULL,
            display_name TEXT, text TEXT NOT NULL, url TEXT, followers BIGINT,
            unparsed BOOLEAN NOT NULL DEFAULT FALSE, feed_channel_id TEXT, feed_message_id TEXT,
            posted_at TIMESTAMPTZ NOT NULL, received_at TIMESTAMPTZ NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .expect("baseline table");
    let copy = format!("COPY mentions (id, {MENTION_COLUMNS}) FROM STDIN (FORMAT csv)");
    let received = now.to_rfc3339();
    let start = Instant::now();
    let mut buf = String::new();
    for (b, chunk) in mentions.chunks(IMPORT_BATCH).enumerate() {
        buf.clear();
        for (k, m) in chunk.iter().enumerate() {
            let i = b * IMPORT_BATCH + k;
            use std::fmt::Write as _;
            let _ = write!(buf, "{},{i},{i},", i + 1);
            csv_text(&mut buf, &m.source_id);
            buf.push(',');
            csv_opt(&mut buf, m.external_id.as_deref());
            buf.push(',');
            csv_text(&mut buf, m.network.as_str());
            buf.push(',');
            csv_text(&mut buf, m.handle.as_str());
            buf.push(',');
            csv_opt(&mut buf, m.display_name.as_deref());
            buf.push(',');
            csv_text(&mut buf, &m.text);
            buf.push(',');
            csv_opt(&mut buf, m.url.as_deref());
            buf.push(',');
            if let Some(f) = m.followers {
                let _ = write!(buf, "{f}");
            }
            let _ = writeln!(buf, ",{},,,{},{received}", m.unparsed, m.posted_at.to_rfc3339());
        }
        let mut sink = conn.copy_in_raw(&copy).await.expect("COPY starts");
        sink.send(buf.as_bytes()).await.expect("COPY data");
        let rows = sink.finish().await.expect("COPY ends");
        assert_eq!(rows as usize, chunk.len(), "COPY wrote every row");
    }
    let elapsed = start.elapsed();
    conn.close().await.expect("close");
    elapsed
}

/// carebot's import beside the baselines: the mention rows alone (`base`), and every row the
/// import wrote into tables with only their primary keys (`same`) and with carebot's indexes
/// (`indexed`), each (rows, time).
fn print_pair(
    backend: &str,
    n: usize,
    carebot: (StdDuration, IngestStats),
    base: StdDuration,
    same: (usize, StdDuration),
    indexed: (usize, StdDuration),
    how: &str,
) {
    let (engine, stats) = carebot;
    let rows = same.0;
    println!(
        "  {backend:<10} carebot  {:>8.0} mentions/s, {:>8.0} rows/s  ({n} mentions, {rows} rows, in {:.2} s; {})",
        rate(n, engine),
        rate(rows, engine),
        engine.as_secs_f64(),
        stats_line(&stats)
    );
    println!(
        "  {backend:<10} baseline, the mention rows: {:>8.0} rows/s  ({n} in {:.2} s; {how})",
        rate(n, base),
        base.as_secs_f64()
    );
    for (label, (rows, time), what) in [
        ("the same rows:   ", same, "only their primary keys"),
        (
            "same, indexed:   ",
            indexed,
            "with carebot's indexes, no foreign keys",
        ),
    ] {
        println!(
            "  {backend:<10} baseline, {label} {:>8.0} rows/s  ({rows} in {:.2} s; every row of every table the import wrote, the same way, per table and batch, into tables {what})",
            rate(rows, time),
            time.as_secs_f64()
        );
    }
    let mentions = rate(n, engine) / rate(n, base);
    let all = same.1.as_secs_f64() / engine.as_secs_f64();
    let indexed = indexed.1.as_secs_f64() / engine.as_secs_f64();
    println!(
        "  {backend:<10} carebot/baseline: {mentions:.2}x of the mention rows' rate, {all:.2}x of the same rows' rate (goal >= 0.5x: {}), {indexed:.2}x of the same rows' rate with carebot's indexes",
        if all >= 0.5 { "met" } else { "MISSED" }
    );
}

async fn ingest_part() {
    let n = env_usize("CAREBOT_BENCH_N", 200_000);
    let now = t0() + Duration::hours(1);
    let mut work = Workload::new(42, 1_000_000);
    let jsonl: String = (0..n).map(|i| work.next(i).json_line() + "\n").collect();
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
        "ingest: {n} mentions ({} customers), batch {IMPORT_BATCH}",
        work.customers.len()
    );

    let batches = n.div_ceil(IMPORT_BATCH);
    let dir = TempDir::new("ingest");
    let carebot = carebot_import(
        &format!("sqlite://{}", dir.0.join("carebot.db").display()),
        &jsonl,
        now,
    )
    .await;
    let base = sqlite_baseline(&dir.0.join("baseline.db"), &mentions, now).await;
    let imported = sqlite_pool(&dir.0.join("carebot.db")).await;
    let same = same_rows::sqlite_same_rows(
        &imported,
        &sqlite_pool(&dir.0.join("same.db")).await,
        batches,
        Indexes::PrimaryKeys,
    )
    .await;
    let indexed = same_rows::sqlite_same_rows(
        &imported,
        &sqlite_pool(&dir.0.join("indexed.db")).await,
        batches,
        Indexes::Carebot,
    )
    .await;
    imported.close().await;
    print_pair(
        "SQLite",
        n,
        carebot,
        base,
        same,
        indexed,
        "prepared multi-row INSERTs, a transaction per batch, WAL",
    );
    drop(dir);

    let Some(admin) = postgres_admin_url() else {
        skipped("ingest");
        return;
    };
    let imported = PgDatabase::create(&admin, "ingest");
    let carebot = carebot_import(&imported.url, &jsonl, now).await;
    let db = PgDatabase::create(&admin, "copy");
    let base = postgres_baseline(&db.url, &mentions, now).await;
    drop(db);
    let db = PgDatabase::create(&admin, "same");
    let same = same_rows::postgres_same_rows(&imported.url, &db.url, batches, Indexes::PrimaryKeys).await;
    drop(db);
    let db = PgDatabase::create(&admin, "indexed");
    let indexed = same_rows::postgres_same_rows(&imported.url, &db.url, batches, Indexes::Carebot).await;
    drop(db);
    drop(imported);
    print_pair(
        "PostgreSQL",
        n,
        carebot,
        base,
        same,
        indexed,
        "one COPY FROM STDIN (FORMAT csv) per batch",
    );
}

// ---------------------------------------------------------------------------------------------
// Part 2: storage
// ---------------------------------------------------------------------------------------------

/// The database file and its WAL, in bytes.
fn on_disk(db: &Path) -> (u64, u64) {
    let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    (size(db.to_path_buf()), size(wal))
}

/// Checkpoints the WAL into the file, then prints bytes per mention and the biggest tables
/// and indexes.
async fn report_size(pool: &SqlitePool, db: &Path, label: &str, n: usize, stored: i64) {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await
        .expect("checkpoint");
    let (file, wal) = on_disk(db);
    let total = file + wal;
    println!(
        "  {label}: {:.1} MB ({:.1} MB file + {:.1} MB WAL) = {:.0} bytes per imported mention, {:.0} per stored mention (goal < 1 KB: {})",
        mb(total),
        mb(file),
        mb(wal),
        total as f64 / n as f64,
        total as f64 / stored.max(1) as f64,
        if (total as f64 / n as f64) < 1000.0 { "met" } else { "MISSED" }
    );
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT name, SUM(pgsize), SUM(payload) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 30",
    )
    .fetch_all(pool)
    .await
    .expect("dbstat");
    for (name, bytes, payload) in rows {
        println!(
            "      {name:<36} {:>8.1} MB  {:>5.0} B/mention  (payload {:.1} MB)",
            mb(bytes as u64),
            bytes as f64 / n as f64,
            mb(payload as u64)
        );
    }
}

async fn count(pool: &SqlitePool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect("count")
}

async fn storage_part() {
    let n = env_usize("CAREBOT_BENCH_STORAGE_N", 1_000_000);
    let now = t0() + Duration::hours(1);
    let dir = TempDir::new("storage");
    let file = dir.0.join("mentions.jsonl");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).expect("jsonl file"));
        let mut work = Workload::new(42, 1_000_000);
        for i in 0..n {
            writeln!(out, "{}", work.next(i).json_line()).expect("write jsonl");
        }
        out.flush().expect("flush jsonl");
    }
    let db = dir.0.join("carebot.db");
    let url = format!("sqlite://{}", db.display());
    println!("storage (SQLite): {n} mentions imported into {}", db.display());
    let engine = Engine::start(&config_for(&url)).await.expect("engine starts");
    let start = Instant::now();
    let reader = std::io::BufReader::new(std::fs::File::open(&file).expect("jsonl"));
    let stats = ingest_jsonl(&engine, reader, now, &mut std::io::stderr())
        .await
        .expect("import");
    println!(
        "  imported in {:.1} s ({:.0} mentions/s; {})",
        start.elapsed().as_secs_f64(),
        rate(n, start.elapsed()),
        stats_line(&stats)
    );
    engine.store().close().await;
    drop(engine);
    let _ = std::fs::remove_file(&file);

    // Delivered as the dispatcher marks a row (`Store::mark_delivered`: delivered_at, one
    // more attempt), all rows in one statement rather than two million round trips.
    let pool = sqlite_pool(&db).await;
    let delivered_at = now + Duration::minutes(1);
    let start = Instant::now();
    let done =
        sqlx::query("UPDATE outbox SET delivered_at = ?, attempts = attempts + 1 WHERE delivered_at IS NULL")
            .bind(delivered_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
            .execute(&pool)
            .await
            .expect("outbox delivered");
    let stored = count(&pool, "SELECT count(*) FROM mentions").await;
    println!(
        "  {} outbox rows marked delivered in {:.1} s; {stored} mentions, {} cases, {} customers, {} events, {} timers stored",
        done.rows_affected(),
        start.elapsed().as_secs_f64(),
        count(&pool, "SELECT count(*) FROM cases").await,
        count(&pool, "SELECT count(*) FROM customers").await,
        count(&pool, "SELECT count(*) FROM case_events").await,
        count(&pool, "SELECT count(*) FROM timers").await,
    );
    println!(
        "  {} SLA clocks ({} running; a clock is its own timer)",
        count(&pool, "SELECT count(*) FROM sla_clocks").await,
        count(
            &pool,
            "SELECT count(*) FROM sla_clocks WHERE running_since IS NOT NULL"
        )
        .await,
    );
    report_size(&pool, &db, "(a) as is, outbox delivered", n, stored).await;
    pool.close().await;

    // As if `keep_delivered_hours` had passed: what `carebot run`'s housekeeping does (prune
    // the delivered outbox rows and the fired or cancelled timers, give the freed pages back),
    // then, for the floor, a VACUUM by hand.
    let store = Store::connect(&url).await.expect("store");
    let start = Instant::now();
    let cut = delivered_at + Duration::days(1);
    let pruned = store.prune_outbox(cut).await.expect("prune outbox");
    let timers = store.prune_timers(cut).await.expect("prune timers");
    store.reclaim_space().await.expect("incremental vacuum");
    println!(
        "  housekeeping: prune_outbox removed {pruned} rows, prune_timers {timers}, then incremental_vacuum, in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    store.close().await;
    let pool = sqlite_pool(&db).await;
    report_size(
        &pool,
        &db,
        "(b) after carebot's housekeeping, no VACUUM",
        n,
        stored,
    )
    .await;
    let start = Instant::now();
    sqlx::query("VACUUM").execute(&pool).await.expect("vacuum");
    println!("  VACUUM {:.1} s", start.elapsed().as_secs_f64());
    report_size(&pool, &db, "(c) and VACUUM by hand", n, stored).await;
    pool.close().await;
}

// ---------------------------------------------------------------------------------------------
// Part 3: drain
// ---------------------------------------------------------------------------------------------

/// What one drain run found.
struct Drain {
    rows: usize,
    elapsed: Option<StdDuration>,
    requests: usize,
    duplicates: usize,
    extra_threads: usize,
    extra_edits: usize,
    lost: usize,
    missing_nonces: usize,
    added: i64,
}

/// The discord config of one bot process against `fake`.
fn drain_config(fake: &FakeDiscord, url: &str, feed: u64, cases: u64, shards: Option<&str>) -> Config {
    let mut config = config_for(url);
    // Every imported mention its case's own thread and card; surge grouping would put most of
    // them (all on a handful of topics) under a few incidents instead.
    config.surge.min_mentions = u32::MAX;
    config.discord = DiscordConfig {
        api_base: fake.api_base(),
        guild_id: Some(fake.guild_id()),
        feeds: vec![FeedChannelConfig {
            channel_id: feed,
            profiles: vec![],
        }],
        cases_channel: Some(cases),
        shards: shards.map(str::to_string),
        token: Secret::new("bench-token"),
        ..DiscordConfig::default()
    };
    config
}

/// One bot (`instances` 1) or two on shards "0/2" and "1/2", on a fresh database.
async fn drain_run(admin: &str, instances: usize, target: usize, timeout: StdDuration) -> Drain {
    assert!((1..=2).contains(&instances), "one or two instances");
    let db = PgDatabase::create(admin, &format!("drain{instances}"));
    let fake = FakeDiscord::start().await;
    let feed = fake.add_channel("social-feed");
    let cases = fake.add_channel("cases");
    let shard = |i: usize| (instances > 1).then(|| format!("{i}/{instances}"));
    let configs: Vec<Config> = (0..instances)
        .map(|i| drain_config(&fake, &db.url, feed, cases, shard(i).as_deref()))
        .collect();
    let engine = Arc::new(Engine::start(&configs[0]).await.expect("engine starts"));

    // The backlog: imported mentions, a batch at a time, until it has `target` rows. The
    // import clock is the wall clock, so SLA timers are not due during the drain.
    let now = Utc::now();
    let mut work = Workload::new(42, 1_000_000);
    let mut i = 0;
    let start = Instant::now();
    while (engine.store().last_outbox_id().await.expect("outbox id") as usize) < target {
        let batch: String = (0..IMPORT_BATCH)
            .map(|_| {
                i += 1;
                work.next(i).json_line() + "\n"
            })
            .collect();
        ingest_jsonl(&engine, batch.as_bytes(), now, &mut std::io::stderr())
            .await
            .expect("import");
    }
    let backlog = engine
        .store()
        .undelivered_outbox(i64::MAX)
        .await
        .expect("backlog");
    let (mut threads, mut edits, mut nonces) = (0usize, 0usize, HashSet::new());
    for row in &backlog {
        match serde_json::from_str::<Outgoing>(&row.payload).expect("outbox payload") {
            Outgoing::OpenCase { .. } => {
                threads += 1;
                nonces.insert(format!("carebot-{}", row.id));
            }
            Outgoing::UpdateCard { .. } => edits += 1,
            Outgoing::CaseMessage { .. } => {
                nonces.insert(format!("carebot-{}", row.id));
            }
            _ => {}
        }
    }
    println!(
        "  {instances} instance(s): backlog of {} rows from {i} imported mentions in {:.1} s ({threads} new threads with cards, {} thread messages, {edits} card edits); draining ...",
        backlog.len(),
        start.elapsed().as_secs_f64(),
        nonces.len() - threads
    );

    let mut engines = vec![engine.clone()];
    for config in &configs[1..] {
        engines.push(Arc::new(Engine::start(config).await.expect("engine starts")));
    }
    let start = Instant::now();
    let bots = if instances == 1 {
        vec![carebot::discord::start(engines[0].clone(), &configs[0].discord).await]
    } else {
        let (a, b) = tokio::join!(
            carebot::discord::start(engines[0].clone(), &configs[0].discord),
            carebot::discord::start(engines[1].clone(), &configs[1].discord)
        );
        vec![a, b]
    };
    let bots: Vec<_> = bots.into_iter().map(|b| b.expect("bot starts")).collect();
    let mut elapsed = None;
    while start.elapsed() < timeout {
        if engine
            .store()
            .undelivered_outbox(1)
            .await
            .expect("outbox")
            .is_empty()
        {
            elapsed = Some(start.elapsed());
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    for bot in bots {
        bot.stop().await;
    }
    let lost = engine
        .store()
        .undelivered_outbox(i64::MAX)
        .await
        .expect("outbox")
        .len();
    let added =
        engine.store().last_outbox_id().await.expect("outbox id") - backlog.last().map_or(0, |r| r.id);

    let requests = fake.requests();
    let mut sent: Vec<&str> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .filter_map(|r| r.body["nonce"].as_str())
        .collect();
    let posted = sent.len();
    sent.sort_unstable();
    sent.dedup();
    let missing_nonces = nonces
        .iter()
        .filter(|n| sent.binary_search(&n.as_str()).is_err())
        .count();
    let thread_path = format!("/channels/{cases}/threads");
    let made_threads = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path == thread_path && r.status < 300)
        .count();
    let made_edits = requests
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.contains("/messages/") && r.status < 300)
        .count();
    for e in &engines {
        e.store().close().await;
    }
    drop(engines);
    drop(engine);
    drop(db);
    Drain {
        rows: backlog.len(),
        elapsed,
        requests: requests.len(),
        duplicates: posted - sent.len(),
        extra_threads: made_threads.saturating_sub(threads),
        extra_edits: made_edits.saturating_sub(edits),
        lost,
        missing_nonces,
        added,
    }
}

fn print_drain(d: &Drain, instances: usize) {
    let time = match d.elapsed {
        Some(t) => format!("{:.1} s ({:.0} rows/s)", t.as_secs_f64(), rate(d.rows, t)),
        None => "NOT drained within the timeout".into(),
    };
    println!(
        "  {instances} instance(s): {} rows drained in {time}; {} REST requests; duplicates {} (nonces posted twice {}, extra threads {}, extra card edits {}); lost {} (undelivered {}, nonces never posted {}); rows written meanwhile {}",
        d.rows,
        d.requests,
        d.duplicates + d.extra_threads + d.extra_edits,
        d.duplicates,
        d.extra_threads,
        d.extra_edits,
        d.lost + d.missing_nonces,
        d.lost,
        d.missing_nonces,
        d.added
    );
}

async fn drain_part() {
    let target = env_usize("CAREBOT_BENCH_OUTBOX", 20_000);
    let timeout = StdDuration::from_secs(env_usize("CAREBOT_BENCH_DRAIN_TIMEOUT", 900) as u64);
    println!("drain (PostgreSQL + fake Discord): an outbox backlog of about {target} rows, one bot then two");
    let Some(admin) = postgres_admin_url() else {
        skipped("drain");
        return;
    };
    let one = drain_run(&admin, 1, target, timeout).await;
    print_drain(&one, 1);
    let two = drain_run(&admin, 2, target, timeout).await;
    print_drain(&two, 2);
    if let (Some(a), Some(b)) = (one.elapsed, two.elapsed) {
        println!(
            "  two instances / one: {:.2}x the time ({:.2}x the rate)",
            b.as_secs_f64() / a.as_secs_f64(),
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
    let clean = [&one, &two].iter().all(|d| {
        d.elapsed.is_some() && d.duplicates + d.extra_threads + d.extra_edits + d.lost + d.missing_nonces == 0
    });
    println!(
        "  0 duplicates and 0 lost in both runs: {}",
        if clean { "met" } else { "MISSED" }
    );
}
