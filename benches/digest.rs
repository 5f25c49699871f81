//! Digest benchmark: the weekly digest's numbers over a database of 1,000,000 cases (a year of
//! a busy team: ~19,000 cases a week), beside bare `SELECT COUNT(*)` scans of the same file as
//! a baseline, on a SQLite file in a temporary folder (WAL, as carebot runs it).
//!
//! `cargo bench --bench digest` (about a minute on 2 cores, most of it generating the data).
//!
//! The data are generated inside SQLite with recursive CTEs (one multi-row `INSERT ... SELECT`
//! per table), deterministically from the row number: 200,000 customers on five networks; 1M
//! cases spread evenly over 2025-12-01 – 2026-11-30 in the nine shipped categories (P1 3%,
//! P2 17%, P3 50%, P4 30%), 90% with a first reply within two hours, 85% resolved within a
//! day; 1.2M mentions; a first-response and a resolution SLA clock per case, stopped as met or
//! breached; `resolved` events and 1% `reopened` ones; 20,000 escalations, most decided.
//!
//! Reported: the baseline scans, then the digest of the last week (`app::digest::build`, cold
//! and warm, median of several runs), the week's cases for the CSV with the CSV and the chart
//! rendered, and the digest of the whole year (the longest period a digest may cover).
//! Sizes: `CAREBOT_BENCH_CASES` (default 1000000), `CAREBOT_BENCH_RUNS` (default 7);
//! `CAREBOT_BENCH_KEEP=1` keeps the database (its folder is printed) to look at with `sqlite3`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use carebot::app::{chart, digest, digest_render};
use carebot::domain::digest::Period;
use carebot::store::Store;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("fixed time")
        .with_timezone(&Utc)
}

/// A folder under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("CAREBOT_BENCH_KEEP").is_some() {
            println!("kept the database in {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The year the cases are spread over, as Unix seconds.
const YEAR_START: i64 = 1_764_547_200; // 2025-12-01T00:00:00Z
const YEAR_SECS: i64 = 365 * 86_400;

/// RFC 3339 text as sqlx stores a `DateTime<Utc>`, from a Unix time expression.
fn ts(expr: &str) -> String {
    format!("strftime('%Y-%m-%dT%H:%M:%S+00:00', {expr}, 'unixepoch')")
}

fn generation(cases: usize) -> Vec<String> {
    let n = cases as i64;
    let customers = (n / 5).max(1);
    let opened = format!("({YEAR_START} + x * {YEAR_SECS} / {n})");
    let replied = "(x % 10 <> 0)";
    let reply_after = "((x * 7919) % 7200)";
    let resolved = "(x % 20 >= 3)";
    let resolve_after = "(3600 + (x * 104729) % 82800)";
    let seq = |count: i64| {
        format!("WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {count})")
    };
    vec![
        format!(
            "{} INSERT INTO customers (id, network, handle, segment, created_at)
             SELECT x, CASE x % 5 WHEN 0 THEN 'twitter' WHEN 1 THEN 'facebook' WHEN 2 THEN 'instagram'
                              WHEN 3 THEN 'reviews' ELSE 'forum' END,
                    'customer' || x, 'standard', {} FROM s",
            seq(customers),
            ts(&YEAR_START.to_string())
        ),
        format!(
            "{} INSERT INTO cases (id, customer_id, status, priority, category, title, owner_id, owner_name,
                 mention_count, thread_ref, opened_at, updated_at, first_response_at, last_customer_at, resolved_at)
             SELECT x, 1 + x % {customers},
                    CASE WHEN {resolved} THEN 'resolved' WHEN {replied} THEN 'open' ELSE 'new' END,
                    CASE WHEN x % 100 < 3 THEN 'P1' WHEN x % 100 < 20 THEN 'P2' WHEN x % 100 < 70 THEN 'P3' ELSE 'P4' END,
                    CASE x % 9 WHEN 0 THEN 'billing-dispute' WHEN 1 THEN 'checkout-outage' WHEN 2 THEN 'flash-sale-failure'
                               WHEN 3 THEN 'general' WHEN 4 THEN 'loyalty-points-expiry' WHEN 5 THEN 'praise'
                               WHEN 6 THEN 'roadside-breakdown' WHEN 7 THEN 'rude-staff' ELSE 'shipping-delay' END,
                    'Case ' || x, CASE WHEN {replied} THEN 'agent-' || (x % 20) END,
                    CASE WHEN {replied} THEN 'agent-' || (x % 20) END,
                    CASE WHEN x % 5 = 0 THEN 2 ELSE 1 END, '9' || x,
                    {o}, {o},
                    CASE WHEN {replied} THEN {fr} END, {o},
                    CASE WHEN {resolved} THEN {rs} END
             FROM s",
            seq(n),
            o = ts(&opened),
            fr = ts(&format!("{opened} + {reply_after}")),
            rs = ts(&format!("{opened} + {resolve_after}")),
        ),
        format!(
            "{} INSERT INTO mentions (id, case_id, customer_id, source_id, network, handle, text, posted_at, received_at)
             SELECT x, x, 1 + x % {customers}, 'bench:' || x,
                    CASE (1 + x % {customers}) % 5 WHEN 0 THEN 'twitter' WHEN 1 THEN 'facebook' WHEN 2 THEN 'instagram'
                              WHEN 3 THEN 'reviews' ELSE 'forum' END,
                    'customer' || (1 + x % {customers}), 'my order', {o}, {o} FROM s",
            seq(n),
            o = ts(&opened),
        ),
        format!(
            "{} INSERT INTO mentions (id, case_id, customer_id, source_id, network, handle, text, posted_at, received_at)
             SELECT {n} + x / 5, x, 1 + x % {customers}, 'bench:again:' || x, 'twitter',
                    'customer' || (1 + x % {customers}), 'still waiting', {o}, {o}
             FROM s WHERE x % 5 = 0",
            seq(n),
            o = ts(&format!("{opened} + 1800")),
        ),
        format!(
            "{} INSERT INTO sla_clocks (case_id, target, policy, budget_secs, business_hours, warn_at, started_at,
                 elapsed_secs, stopped_at, outcome, margin_secs, agent)
             SELECT x, 'first_response', 'default', 3600, 0, 0.8, {o}, {rf}, {fr},
                    CASE WHEN {rf} <= 3600 THEN 'met' ELSE 'breached' END, abs(3600 - {rf}), 'agent-' || (x % 20)
             FROM s WHERE {replied}",
            seq(n),
            o = ts(&opened),
            rf = reply_after,
            fr = ts(&format!("{opened} + {reply_after}")),
        ),
        format!(
            "{} INSERT INTO sla_clocks (case_id, target, policy, budget_secs, business_hours, warn_at, started_at,
                 elapsed_secs, stopped_at, outcome, margin_secs, agent)
             SELECT x, 'resolution', 'default', 28800, 0, 0.8, {o}, {ra}, {rs},
                    CASE WHEN {ra} <= 28800 THEN 'met' ELSE 'breached' END, abs(28800 - {ra}), 'agent-' || (x % 20)
             FROM s WHERE {resolved}",
            seq(n),
            o = ts(&opened),
            ra = resolve_after,
            rs = ts(&format!("{opened} + {resolve_after}")),
        ),
        format!(
            "{} INSERT INTO case_events (case_id, at, actor, kind, detail)
             SELECT x, {rs}, 'agent-' || (x % 20), 'resolved', '{{}}' FROM s WHERE {resolved}",
            seq(n),
            rs = ts(&format!("{opened} + {resolve_after}")),
        ),
        format!(
            "{} INSERT INTO case_events (case_id, at, actor, kind, detail)
             SELECT x, {at}, 'carebot', 'reopened', '{{}}' FROM s WHERE x % 100 = 7",
            seq(n),
            at = ts(&format!("{opened} + 90000")),
        ),
        format!(
            "{} INSERT INTO escalations (case_id, status, reason, playbook, remedy, remedy_label, unit, amount,
                 blocked_rule, blocked_by, requester_id, requester_name, requester_role, requester_limit, approver,
                 tier, tier_started_at, deadline_at, created_at, deadline_secs, on_timeout, decided_by_id,
                 decided_by_name, decided_at, decided_amount, timed_out)
             SELECT x * 50, CASE x % 10 WHEN 0 THEN 'open' WHEN 1 THEN 'denied' ELSE 'approved' END,
                    'above the limit', 'roadside-breakdown', 'fee_waiver', 'Waive fees', 'USD', 10000 + (x % 20) * 1000,
                    'role_limit', 'above your agent limit', 'agent-' || (x % 20), 'agent-' || (x % 20), 'agent', 12000,
                    'supervisor', 1, {c}, {d}, {c}, 7200, 'deny',
                    CASE WHEN x % 10 <> 0 THEN 'sam' END, CASE WHEN x % 10 <> 0 THEN 'sam' END,
                    CASE WHEN x % 10 <> 0 THEN {dec} END,
                    CASE WHEN x % 10 > 1 THEN 10000 + (x % 20) * 1000 END, x % 10 = 9
             FROM s",
            seq(n / 50),
            c = ts(&format!("({YEAR_START} + x * 50 * {YEAR_SECS} / {n}) + 600")),
            d = ts(&format!("({YEAR_START} + x * 50 * {YEAR_SECS} / {n}) + 7800")),
            dec = ts(&format!("({YEAR_START} + x * 50 * {YEAR_SECS} / {n}) + 600 + (x % 60) * 60")),
        ),
    ]
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn timed<T, F: std::future::Future<Output = T>>(f: F) -> (T, Duration) {
    let start = Instant::now();
    let out = f.await;
    (out, start.elapsed())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let cases = env_usize("CAREBOT_BENCH_CASES", 1_000_000);
    let runs = env_usize("CAREBOT_BENCH_RUNS", 7).max(1);
    let dir = TempDir(std::env::temp_dir().join(format!("carebot-bench-digest-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    let url = format!("sqlite://{}", dir.0.join("digest.db").display());
    let store = Store::connect(&url).await.expect("store opens and migrates");

    println!("digest benchmark: {cases} cases over one year, {runs} runs per measurement");
    let start = Instant::now();
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.0.join("digest.db"))
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .connect()
        .await
        .expect("raw connection");
    let mut tx = conn.begin().await.expect("begin");
    for sql in generation(cases) {
        sqlx::query(&sql).execute(&mut *tx).await.expect("generate rows");
    }
    tx.commit().await.expect("commit");
    sqlx::query("ANALYZE").execute(&mut conn).await.expect("analyze");
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .expect("checkpoint");
    let size = std::fs::metadata(dir.0.join("digest.db"))
        .map(|m| m.len())
        .unwrap_or(0)
        + std::fs::metadata(dir.0.join("digest.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!(
        "generated in {:.1} s ({} MB on disk)",
        start.elapsed().as_secs_f64(),
        size / 1_000_000
    );

    let week = Period::new(
        at("2026-11-23T09:00:00Z"),
        at("2026-11-30T09:00:00Z"),
        chrono_tz::Tz::UTC,
    )
    .unwrap();
    let year = Period::new(
        at("2025-12-01T00:00:00Z"),
        at("2026-12-01T00:00:00Z"),
        chrono_tz::Tz::UTC,
    )
    .unwrap();

    // Baselines: bare counts, the least any digest query can cost.
    let mut scan = Vec::new();
    let mut range = Vec::new();
    for _ in 0..runs {
        let count = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM cases");
        let (n, t) = timed(count.fetch_one(&mut conn)).await;
        scan.push(t);
        assert_eq!(n.expect("count") as usize, cases);
        let count =
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM cases WHERE opened_at >= ? AND opened_at < ?")
                .bind(week.from.timestamp())
                .bind(week.to.timestamp());
        let (n, t) = timed(count.fetch_one(&mut conn)).await;
        n.expect("count");
        range.push(t);
    }
    conn.close().await.expect("close");
    println!(
        "baseline  SELECT COUNT(*) FROM cases (full scan):         {}",
        ms(median(scan))
    );
    println!(
        "baseline  SELECT COUNT(*) of the week's cases (index):    {}",
        ms(median(range))
    );

    let (first, cold) = timed(digest::build(&store, week)).await;
    let first = first.expect("digest");
    let mut warm = Vec::new();
    for _ in 0..runs {
        let (d, t) = timed(digest::build(&store, week)).await;
        assert_eq!(d.expect("digest").opened, first.opened);
        warm.push(t);
    }
    println!(
        "digest    last week ({} cases opened, {} mentions, backlog {}): first {} · median {}",
        first.opened,
        first.mentions,
        first.backlog,
        ms(cold),
        ms(median(warm.clone()))
    );
    let mut post = Vec::new();
    let mut bytes = (0, 0);
    for _ in 0..runs {
        let start = Instant::now();
        let d = digest::build(&store, week).await.expect("digest");
        let rows = digest::cases(&store, week).await.expect("cases");
        let csv = digest_render::csv(&rows, &digest_render::no_links);
        let md = digest_render::markdown(&d, None, &digest_render::no_links);
        let png = chart::png(&d).expect("chart");
        post.push(start.elapsed());
        bytes = (csv.len() + md.len(), png.len());
    }
    println!(
        "post      last week: digest + CSV + Markdown + chart ({} KB text, {} KB PNG): median {}",
        bytes.0 / 1000,
        bytes.1 / 1000,
        ms(median(post))
    );
    let mut long = Vec::new();
    let mut opened = 0;
    for _ in 0..runs.min(3) {
        let (d, t) = timed(digest::build(&store, year)).await;
        opened = d.expect("digest").opened;
        long.push(t);
    }
    println!(
        "digest    the whole year ({opened} cases opened): median {}",
        ms(median(long))
    );
    let target = Duration::from_secs(2);
    let worst = warm.iter().max().copied().unwrap_or_default().max(cold);
    println!(
        "target    digest over {cases} cases under 2 s: {} (slowest run {})",
        if worst < target { "met" } else { "MISSED" },
        ms(worst)
    );
    store.close().await;
}
