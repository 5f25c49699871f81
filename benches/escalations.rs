//! Escalation benchmarks: the timer sweep and offer -> decision through the whole engine, on a
//! SQLite file in a temporary folder, each beside a raw sqlx baseline on the same database.
//!
//! Run: `cargo bench --bench escalations` (about 15 s of running after the release build, on 2
//! cores).
//!
//! # Setup (once, then copied for every measurement)
//!
//! Cases are opened by feed posts like `[Twitter] @dana_N: Flat tyre on my rental, roadside
//! useless https://twitter.com/dana_N/status/N` (playbook `roadside-breakdown`: fee waiver limit
//! 120 USD for an agent, deadline 2h, reminders at 50% and 90%, timeout policy grant up to 150),
//! read by the engine's feed reader and placed with `Engine::receive_mentions`, 3h before `T`;
//! `ana` answers each with `/case reply` 10 minutes later (stopping its first-response SLA
//! clock; the resolution clock's two timers stay pending, due after `T`). Escalations are
//! opened through the engine: `/case offer fee_waiver 180` by the agent `ana`, blocked by her
//! limit. Their opening times are chosen so that at the sweep time `T`, as in a running bot whose
//! earlier sweeps fired the earlier reminders (setup sweeps at their due times do that):
//!
//! - 250 escalations have their **deadline** due (timeout policy: grant 150 of the 180 asked),
//! - 375 their **90% reminder** due, 375 their **50% reminder** due,
//!
//! all within the last minute (none is reported late): 1,000 due timers. The not-yet-due rest
//! (about 91,000 timers; the output says) is inserted raw with sqlx: filler escalations cloned
//! from one engine-made row (on 100 filler cases no due timer touches) with 3 timers each
//! (reminders and deadline, due 1 to 12 days ahead) into `timers (kind, case_id, escalation_id,
//! tier, detail, due_at, created_at)`, so that 100,000 timers are pending when the measured
//! sweep starts. Another 40 escalations have a deadline (20) or a reminder (20) due at `T - 2m`:
//! every measured run first sweeps at `T - 2m` to warm its connection and statement cache as a
//! running bot's are, then measures the sweep at `T`.
//!
//! # Measurements
//!
//! 1. **Timer sweep**: one `Engine::fire_due_timers(T)` (claims in batches of `SWEEP_BATCH` and acts:
//!    reminders post a message, deadlines apply the timeout policy), on a fresh copy of the setup
//!    each run; min / median / max. Baselines on their own copies: the raw claim
//!    `UPDATE timers SET fired_at = ? WHERE id IN (SELECT id FROM timers WHERE fired_at IS NULL
//!    AND due_at <= ? ORDER BY due_at LIMIT 1000)` in one transaction, and the engine's own claim
//!    statement (`RETURNING` the rows) in transactions of `SWEEP_BATCH` as the sweep runs it, acting on
//!    nothing.
//! 2. **Offer -> decision**: per iteration, on its own case, a blocked `/case offer` by `ana`
//!    then `/escalation approve` by the supervisor `sam`, through `Engine::execute`; the pair and
//!    each half timed; p50 / p90 / p99 / max (after a warm-up), and how many slow pairs were
//!    next to a WAL checkpoint (counted from the WAL header). Baseline: a raw sqlx transaction
//!    with one insert (a `case_events` row) and one update (an `escalations` row).
//!
//! **Where the time goes** (1b, 2b): one more sweep and 100 more offer/approve pairs with every
//! sqlx statement counted (statements a transaction sends together count once; `BEGIN` and
//! `COMMIT` are not counted) and its time in SQLite's worker summed (for a statement returning
//! more than 50 rows that includes waiting for the reader: sqlx's row channel). Every part also
//! reports the CPU time of all the process's threads and their time waiting for a CPU (from
//! `/proc/self/task/*/schedstat`): a busy machine shows up there, not in the code.
//!
//! Sizes: `CAREBOT_BENCH_SWEEPS` (measured sweeps, default 7), `CAREBOT_BENCH_OFFERS`
//! (offer/approve pairs, default 2000). `RUST_LOG` filters the log on stderr (default `warn`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration as StdDuration, Instant};

use carebot::app::{Actor, Command, Engine, Reply, SweepReport, SWEEP_BATCH};
use carebot::config::Config;
use carebot::domain::escalation::EscalationId;
use carebot::domain::feed::{FeedOutcome, FeedPost, Mention};
use carebot::domain::{CaseId, Role};
use chrono::{DateTime, Duration, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

/// Timers pending when the measured sweep starts.
const PENDING: i64 = 100_000;
/// Escalations whose deadline, 90% reminder and 50% reminder are due at `T`.
const DUE_DEADLINES: usize = 250;
const DUE_LATE_REMINDERS: usize = 375;
const DUE_EARLY_REMINDERS: usize = 375;
const DUE: usize = DUE_DEADLINES + DUE_LATE_REMINDERS + DUE_EARLY_REMINDERS;
/// Escalations whose deadline or first reminder is due at `T - 2m` (the warm-up sweep).
const WARM_DEADLINES: usize = 20;
const WARM_REMINDERS: usize = 20;
/// Cases the raw filler escalations hang on.
const FILLER_CASES: usize = 100;
/// Offer/approve pairs before the measured ones, and after them with statements counted.
const OFFER_WARMUP: usize = 50;
const OFFER_DIAGNOSED: usize = 100;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(bench());
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// The sweep time `T`.
fn t_sweep() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
        .expect("fixed time")
        .with_timezone(&Utc)
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

fn config_for(db: &Path) -> Config {
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}", db.display());
    config.playbooks_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    config.feed.brand_handles = vec!["AcmeShop".into()];
    // The setup opens thousands of cases of one category within minutes, which surge detection
    // would group under an incident (no card, an extra timer); the bench measures escalations
    // on cases of their own, as a bot's everyday cases are.
    config.surge.min_mentions = u32::MAX;
    config
}

/// A second pool on the engine's file, with the store's settings, for raw statements.
async fn raw_pool(db: &Path) -> SqlitePool {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", db.display()))
        .expect("url")
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(StdDuration::from_secs(10))
        .pragma("cache_size", "-16384")
        .pragma("temp_store", "memory")
        .pragma("wal_autocheckpoint", "10000")
        .pragma("journal_size_limit", "67108864");
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("raw pool")
}

/// Copies the closed setup database (and its WAL, if one was left) to `to`, and writes the
/// copy through to the disk: otherwise the kernel writes its ~90 MB back while the next
/// measurement runs, which a running bot's sweep does not compete with.
fn copy_db(from: &Path, to: &Path) {
    std::fs::copy(from, to).expect("copy database");
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .expect("sync the copy");
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", from.display()));
        let dest = PathBuf::from(format!("{}{suffix}", to.display()));
        if side.exists() {
            std::fs::copy(&side, &dest).expect("copy wal");
        } else {
            let _ = std::fs::remove_file(&dest);
        }
    }
}

/// The WAL's checkpoint sequence number (bytes 12..16 of its header): it goes up each time a
/// writer restarts the WAL after a checkpoint, so its change counts checkpoints.
fn wal_resets(db: &Path) -> u32 {
    use std::io::Read;
    let mut header = [0u8; 16];
    std::fs::File::open(format!("{}-wal", db.display()))
        .and_then(|mut f| f.read_exact(&mut header))
        .map(|_| u32::from_be_bytes([header[12], header[13], header[14], header[15]]))
        .unwrap_or(0)
}

/// CPU time of all this process's threads and their time runnable but waiting for a CPU, in
/// nanoseconds (zero where `/proc` does not say).
fn sched() -> (u64, u64) {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    let mut total = (0, 0);
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        let mut fields = stat.split_whitespace().map(|f| f.parse::<u64>().unwrap_or(0));
        total.0 += fields.next().unwrap_or(0);
        total.1 += fields.next().unwrap_or(0);
    }
    total
}

/// CPU and run-queue wait between two `sched()` readings, in ms.
fn sched_ms(before: (u64, u64), after: (u64, u64)) -> (f64, f64) {
    (
        after.0.saturating_sub(before.0) as f64 / 1e6,
        after.1.saturating_sub(before.1) as f64 / 1e6,
    )
}

/// The 1-minute load average, to judge how quiet the machine was.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

fn agent() -> Actor {
    Actor::new("ana", "ana", vec![Role::Agent])
}

fn supervisor() -> Actor {
    Actor::new("sam", "sam", vec![Role::Supervisor])
}

fn offer(case: CaseId) -> Command {
    Command::Offer {
        case,
        remedy: "fee_waiver".into(),
        amount: "180".into(),
        note: None,
    }
}

fn approve(escalation: EscalationId) -> Command {
    Command::Approve {
        escalation,
        amount: None,
        note: None,
    }
}

/// The escalation a blocked offer opened, from its reply ("... escalation E12 opened for ...").
fn opened_escalation(reply: &Reply) -> EscalationId {
    let Reply::Done { message, .. } = reply else {
        panic!("an offer replies Done");
    };
    message
        .split_once("escalation ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|id| EscalationId::parse(id).ok())
        .unwrap_or_else(|| panic!("the offer was not escalated: {message}"))
}

// ---------------------------------------------------------------------------------------------
// Counting statements
// ---------------------------------------------------------------------------------------------

/// Statements by their SQL: (count, seconds in SQLite).
type Stats = HashMap<String, (u64, f64)>;

/// sqlx reports every statement it ran as a `sqlx::query` event (at debug) with its summary and
/// its time in the SQLite worker; while `COUNTING` is on, these are summed by summary.
mod sql_stats {
    use super::*;
    use tracing::field::{Field, Visit};
    use tracing::{Event, Subscriber};
    use tracing_subscriber::layer::{Context, Layer};

    pub static COUNTING: AtomicBool = AtomicBool::new(false);
    static STATS: Mutex<Option<Stats>> = Mutex::new(None);

    /// Statements by summary: (count, seconds in SQLite).
    pub fn take() -> Stats {
        STATS.lock().expect("stats").take().unwrap_or_default()
    }

    pub struct Counter;

    #[derive(Default)]
    struct Statement {
        summary: String,
        sql: String,
        secs: f64,
    }

    impl Visit for Statement {
        fn record_str(&mut self, field: &Field, value: &str) {
            let one_line = || value.split_whitespace().collect::<Vec<_>>().join(" ");
            match field.name() {
                "summary" => self.summary = one_line(),
                // Empty when the summary is the whole statement.
                "db.statement" => self.sql = one_line(),
                _ => {}
            }
        }
        fn record_f64(&mut self, field: &Field, value: f64) {
            if field.name() == "elapsed_secs" {
                self.secs = value;
            }
        }
        fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
    }

    impl<S: Subscriber> Layer<S> for Counter {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            let mut s = Statement::default();
            event.record(&mut s);
            let key = if s.sql.is_empty() { s.summary } else { s.sql };
            let mut stats = STATS.lock().expect("stats");
            let e = stats.get_or_insert_with(HashMap::new).entry(key).or_default();
            e.0 += 1;
            e.1 += s.secs;
        }
    }

    /// The log on stderr as `RUST_LOG` says (default `warn`), plus the counter, which sees
    /// `sqlx::query` events only while counting (so sqlx does not build them otherwise).
    pub fn init() {
        use tracing_subscriber::filter::{dynamic_filter_fn, EnvFilter};
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let log_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
        let counting =
            dynamic_filter_fn(|meta, _cx| meta.target() == "sqlx::query" && COUNTING.load(Ordering::Relaxed))
                .with_callsite_filter(|meta| {
                    if meta.target() == "sqlx::query" {
                        tracing::subscriber::Interest::sometimes()
                    } else {
                        tracing::subscriber::Interest::never()
                    }
                });
        let _ = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_filter(log_filter),
            )
            .with(Counter.with_filter(counting))
            .try_init();
    }
}

/// Runs `f` with statements counted; returns its result, its wall time and the statements.
async fn counted<T>(f: impl std::future::Future<Output = T>) -> (T, StdDuration, Stats) {
    sql_stats::take();
    sql_stats::COUNTING.store(true, Ordering::Relaxed);
    let start = Instant::now();
    let out = f.await;
    let wall = start.elapsed();
    sql_stats::COUNTING.store(false, Ordering::Relaxed);
    (out, wall, sql_stats::take())
}

/// Sums the statements of several runs.
fn merge(into: &mut Stats, from: Stats) {
    for (k, v) in from {
        let e = into.entry(k).or_default();
        e.0 += v.0;
        e.1 += v.1;
    }
}

/// Prints the statements of `runs` runs of something that took `wall` in all, biggest first.
fn print_statements(what: &str, runs: usize, wall: StdDuration, stats: &Stats) {
    let count: u64 = stats.values().map(|s| s.0).sum();
    let secs: f64 = stats.values().map(|s| s.1).sum();
    let per = |x: f64| x / runs as f64;
    println!(
        "  {what}: {:.1} statements, {:.3} ms in SQLite, {:.3} ms elsewhere (Rust, sqlx round trips, BEGIN/COMMIT) of {:.3} ms wall, per run",
        per(count as f64),
        per(secs * 1e3),
        per((wall.as_secs_f64() - secs) * 1e3),
        per(wall.as_secs_f64() * 1e3),
    );
    let mut rows: Vec<(&String, &(u64, f64))> = stats.iter().collect();
    rows.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    for (sql, (n, s)) in rows.iter().take(12) {
        println!(
            "    {:>7.1} x {:>8.3} ms  {}",
            per(*n as f64),
            per(s * 1e3),
            condense(sql)
        );
    }
}

/// A statement in a line: a long select list or column list becomes `…`, then at most 110 chars.
fn condense(sql: &str) -> String {
    let short = match (sql.strip_prefix("SELECT "), sql.find(" FROM ")) {
        (Some(_), Some(from)) if from > 40 => format!("SELECT …{}", &sql[from..]),
        _ => match (sql.find(" ("), sql.find(") ")) {
            (Some(open), Some(close)) if sql.starts_with("INSERT") && close > open + 40 => {
                format!("{} (…{}", &sql[..open], &sql[close..])
            }
            _ => sql.to_string(),
        },
    };
    let mut out: String = short.chars().take(110).collect();
    if out.len() < short.len() {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

/// Percentiles of a set of durations (nearest rank).
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

    fn ms(&self, p: f64) -> f64 {
        self.percentile(p).as_secs_f64() * 1e3
    }
}

// ---------------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------------

/// What the setup made: the closed database file and the cases left for offers.
struct Setup {
    db: PathBuf,
    offer_cases: Vec<CaseId>,
    engine_escalations: usize,
    filler_escalations: usize,
    raw_timers: usize,
    cases: usize,
}

fn post(n: usize, at: DateTime<Utc>) -> FeedPost {
    FeedPost {
        source_id: format!("discord:{n}"),
        channel_id: "900000000000000001".into(),
        message_id: (1_100_000_000_000_000_000u64 + n as u64).to_string(),
        poster: "feed-bot".into(),
        content: format!(
            "[Twitter] @dana_{n}: Flat tyre on my rental, roadside useless https://twitter.com/dana_{n}/status/{n}"
        ),
        embeds: vec![],
        posted_at: at,
    }
}

/// Opens one escalation per case, the `i`-th at `base - (i % 60) s` (all due within a minute).
async fn open_escalations(engine: &Engine, cases: &[CaseId], base: DateTime<Utc>) -> Vec<EscalationId> {
    let mut ids = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        let at = base - Duration::seconds((i % 60) as i64);
        let reply = engine
            .execute(&agent(), offer(*case), at)
            .await
            .unwrap_or_else(|e| panic!("offer on {case}: {e}"));
        ids.push(opened_escalation(&reply));
    }
    ids
}

async fn build_setup(dir: &Path, offers: usize) -> Setup {
    let t = t_sweep();
    let db = dir.join("setup.db");
    let engine = Engine::start(&config_for(&db)).await.expect("engine starts");

    // Cases, read from feed posts by the engine's reader, placed in batches.
    let due_and_warm = DUE + WARM_DEADLINES + WARM_REMINDERS;
    let total = due_and_warm + FILLER_CASES + OFFER_WARMUP + offers + OFFER_DIAGNOSED;
    let opened_at = t - Duration::hours(3);
    let mentions: Vec<Mention> = (1..=total)
        .map(|n| match engine.feed_reader().read(&post(n, opened_at), None) {
            FeedOutcome::Mention(m) => m,
            FeedOutcome::Ignored(reason) => panic!("post {n} ignored: {reason:?}"),
        })
        .collect();
    let mut cases = Vec::with_capacity(total);
    for chunk in mentions.chunks(500) {
        let outcomes = engine
            .receive_mentions(chunk, opened_at)
            .await
            .expect("mentions stored");
        cases.extend(
            outcomes
                .into_iter()
                .map(|o| o.case().expect("a case per mention")),
        );
    }
    assert_eq!(cases.len(), total);
    // The agent answers each within its first-response target, which stops that SLA clock; the
    // resolution clock's warning and breach stay pending (due hours after `T`).
    for case in &cases {
        let reply = Command::Reply {
            case: *case,
            text: "So sorry about the tyre, we're on it: please DM us your booking number.".into(),
        };
        engine
            .execute(&agent(), reply, opened_at + Duration::minutes(10))
            .await
            .unwrap_or_else(|e| panic!("reply on {case}: {e}"));
    }
    let (due_cases, rest) = cases.split_at(due_and_warm);
    let (filler_cases, offer_cases) = rest.split_at(FILLER_CASES);

    // Escalations through the engine; opening times put their timers where the sweep needs them.
    let (deadline, rest) = due_cases.split_at(DUE_DEADLINES);
    let (late_reminder, rest) = rest.split_at(DUE_LATE_REMINDERS);
    let (early_reminder, rest) = rest.split_at(DUE_EARLY_REMINDERS);
    let (warm_deadline, warm_reminder) = rest.split_at(WARM_DEADLINES);
    let h = Duration::hours;
    let m = Duration::minutes;
    open_escalations(&engine, deadline, t - h(2)).await;
    open_escalations(&engine, late_reminder, t - h(1) - m(48)).await;
    open_escalations(&engine, early_reminder, t - h(1)).await;
    open_escalations(&engine, warm_deadline, t - h(2) - m(2)).await;
    open_escalations(&engine, warm_reminder, t - h(1) - m(2)).await;
    // The template of the filler rows, due in a month.
    let template = open_escalations(&engine, &filler_cases[..1], t + Duration::days(30)).await[0];
    let engine_escalations = due_and_warm + 1;

    // Earlier sweeps of a running bot fired the earlier reminders, each when it was due (so
    // none late): the 50% and 90% reminders of the deadline groups, the 50% of the 90% group.
    let mut fired = 0;
    for at in [t - h(1) - m(2), t - h(1), t - m(48), t - m(14), t - m(12)] {
        let report = engine.fire_due_timers(at).await.expect("setup sweep");
        assert_eq!(
            (report.late, report.stale),
            (0, 0),
            "setup sweep at {at}: {report:?}"
        );
        fired += report.fired;
    }
    let expected = 2 * (DUE_DEADLINES + WARM_DEADLINES) + DUE_LATE_REMINDERS;
    assert_eq!(fired, expected, "setup sweeps");

    // The not-yet-due bulk, raw.
    let pool = raw_pool(&db).await;
    let engine_pending = engine.store().pending_timers().await.expect("pending");
    let raw_timers = (PENDING + (WARM_DEADLINES + WARM_REMINDERS) as i64 - engine_pending) as usize;
    let filler_escalations = raw_timers.div_ceil(3);
    let (filler_ids, timers) =
        insert_filler(&pool, template, filler_cases, filler_escalations, raw_timers).await;
    assert_eq!((filler_ids, timers), (filler_escalations, raw_timers));
    pool.close().await;
    let pending = engine.store().pending_timers().await.expect("pending");
    assert_eq!(pending, PENDING + (WARM_DEADLINES + WARM_REMINDERS) as i64);
    engine.store().close().await;

    Setup {
        db,
        offer_cases: offer_cases.to_vec(),
        engine_escalations,
        filler_escalations,
        raw_timers,
        cases: total,
    }
}

/// Clones `template` into `count` open escalations spread over `cases`, then inserts `timers`
/// pending timers for them, 3 per escalation (reminders at 50% and 90%, deadline), due 1 to 12
/// days after `T`. Returns how many of each were written.
async fn insert_filler(
    pool: &SqlitePool,
    template: EscalationId,
    cases: &[CaseId],
    count: usize,
    timers: usize,
) -> (usize, usize) {
    let t = t_sweep();
    let case_ids: Vec<i64> = (0..count).map(|k| cases[k % cases.len()].0).collect();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO escalations (case_id, status, reason, playbook, remedy, remedy_label, unit, amount,
             blocked_rule, blocked_by, requester_id, requester_name, requester_role, requester_limit, approver,
             tier, tier_started_at, deadline_at, created_at, deadline_secs, on_timeout, timeout_cap,
             next_approver, questions)
         SELECT j.value, t.status, t.reason, t.playbook, t.remedy, t.remedy_label, t.unit, t.amount,
             t.blocked_rule, t.blocked_by, t.requester_id, t.requester_name, t.requester_role, t.requester_limit,
             t.approver, t.tier, t.tier_started_at, t.deadline_at, t.created_at, t.deadline_secs, t.on_timeout,
             t.timeout_cap, t.next_approver, t.questions
         FROM json_each(?) j JOIN escalations t ON t.id = ? ORDER BY j.key
         RETURNING id",
    )
    .bind(serde_json::to_string(&case_ids).expect("json"))
    .bind(template.0)
    .fetch_all(&mut *tx)
    .await
    .expect("filler escalations");
    ids.sort_unstable();
    let rows: Vec<(usize, usize)> = (0..timers).map(|i| (i / 3, i % 3)).collect();
    const PER_STATEMENT: usize = 100;
    for chunk in rows.chunks(PER_STATEMENT) {
        let values = vec!["(?, ?, ?, 1, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "INSERT INTO timers (kind, case_id, escalation_id, tier, detail, due_at, created_at) VALUES {values}"
        );
        let mut q = sqlx::query(&sql);
        for &(k, which) in chunk {
            let opened = t + Duration::days(1) + Duration::seconds(8 * k as i64);
            let (kind, detail, due) = match which {
                0 => (
                    "escalation_reminder",
                    r#"{"fraction":0.5}"#,
                    opened + Duration::hours(1),
                ),
                1 => (
                    "escalation_reminder",
                    r#"{"fraction":0.9}"#,
                    opened + Duration::minutes(108),
                ),
                _ => ("escalation_deadline", "{}", opened + Duration::hours(2)),
            };
            q = q
                .bind(kind)
                .bind(case_ids[k])
                .bind(ids[k])
                .bind(detail)
                .bind(due.timestamp())
                .bind(opened.timestamp());
        }
        q.execute(&mut *tx).await.expect("filler timers");
    }
    tx.commit().await.expect("commit filler");
    (ids.len(), rows.len())
}

// ---------------------------------------------------------------------------------------------
// 1. Timer sweep
// ---------------------------------------------------------------------------------------------

/// A fresh copy of the setup with an engine on it, warmed by the sweep at `T - 2m`.
async fn warm_engine(setup: &Setup, db: &Path) -> Engine {
    copy_db(&setup.db, db);
    let engine = Engine::start(&config_for(db)).await.expect("engine starts");
    let warm = engine
        .fire_due_timers(t_sweep() - Duration::minutes(2))
        .await
        .expect("warm-up sweep");
    assert_eq!(
        (warm.fired, warm.late),
        (WARM_DEADLINES + WARM_REMINDERS, 0),
        "warm-up sweep: {warm:?}"
    );
    let due = engine.next_timer_due().await.expect("next due");
    assert!(due.is_some_and(|d| d <= t_sweep()));
    assert_eq!(engine.store().pending_timers().await.expect("pending"), PENDING);
    engine
}

async fn measured_sweep(engine: &Engine) -> (SweepReport, StdDuration) {
    let start = Instant::now();
    let report = engine.fire_due_timers(t_sweep()).await.expect("sweep");
    let took = start.elapsed();
    assert_eq!(
        (report.fired, report.late, report.stale),
        (DUE, 0, 0),
        "measured sweep: {report:?}"
    );
    (report, took)
}

/// A fresh copy of the setup with a raw pool on it, warmed by the claim at `T - 2m`.
async fn warm_pool(setup: &Setup, db: &Path) -> SqlitePool {
    copy_db(&setup.db, db);
    let pool = raw_pool(db).await;
    let warm = raw_claim(&pool, t_sweep() - Duration::minutes(2)).await;
    assert_eq!(warm, (WARM_DEADLINES + WARM_REMINDERS) as u64);
    pool
}

/// The baseline claim, as a sweep's single statement in one transaction.
async fn raw_claim(pool: &SqlitePool, now: DateTime<Utc>) -> u64 {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
    let done = sqlx::query(
        "UPDATE timers SET fired_at = ? WHERE id IN
             (SELECT id FROM timers WHERE fired_at IS NULL AND due_at <= ? ORDER BY due_at LIMIT 1000)",
    )
    .bind(now.timestamp())
    .bind(now.timestamp())
    .execute(&mut *tx)
    .await
    .expect("claim");
    tx.commit().await.expect("commit");
    done.rows_affected()
}

/// A claimed timer's columns, decoded as the store does.
type ClaimedTimer = (
    i64,
    String,
    Option<i64>,
    Option<i64>,
    serde_json::Value,
    DateTime<Utc>,
);

/// The engine's claim statement, rows decoded, one transaction per batch until one comes back
/// short: the sweep's work without acting on the timers.
async fn raw_claim_batches(pool: &SqlitePool, now: DateTime<Utc>) -> usize {
    let mut claimed = 0;
    loop {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
        let rows = sqlx::query(
            "UPDATE timers SET fired_at = ?1, outcome = 'fired'
             WHERE id IN (SELECT id FROM timers WHERE fired_at IS NULL AND due_at <= ?1 ORDER BY due_at, id LIMIT ?2)
             RETURNING id, kind, case_id, escalation_id, tier, detail, due_at",
        )
        .bind(now.timestamp())
        .bind(SWEEP_BATCH)
        .fetch_all(&mut *tx)
        .await
        .expect("claim batch");
        let decoded: Vec<ClaimedTimer> = rows
            .iter()
            .map(|r| {
                let detail: String = r.get("detail");
                (
                    r.get("id"),
                    r.get("kind"),
                    r.get("case_id"),
                    r.get("escalation_id"),
                    serde_json::from_str(&detail).expect("detail"),
                    r.get("due_at"),
                )
            })
            .collect();
        tx.commit().await.expect("commit");
        claimed += decoded.len();
        if (decoded.len() as i64) < SWEEP_BATCH {
            return claimed;
        }
    }
}

struct Spread {
    min: f64,
    median: f64,
    max: f64,
}

fn spread(times: &[StdDuration]) -> Spread {
    let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    Spread {
        min: ms[0],
        median: ms[ms.len() / 2],
        max: ms[ms.len() - 1],
    }
}

async fn sweep_bench(dir: &Path, setup: &Setup, runs: usize) {
    let (mut engine_t, mut claim_t, mut batches_t) = (Vec::new(), Vec::new(), Vec::new());
    let mut engine_sched = Vec::new();
    for run in 0..runs {
        let db = dir.join(format!("sweep-{run}.db"));
        let engine = warm_engine(setup, &db).await;
        let before = sched();
        let (_, took) = measured_sweep(&engine).await;
        engine_sched.push(sched_ms(before, sched()));
        engine_t.push(took);
        engine.store().close().await;
        drop(engine);
        remove_db(&db);

        let db = dir.join(format!("claim-{run}.db"));
        let pool = warm_pool(setup, &db).await;
        let start = Instant::now();
        let claimed = raw_claim(&pool, t_sweep()).await;
        claim_t.push(start.elapsed());
        assert_eq!(claimed, DUE as u64);
        pool.close().await;
        remove_db(&db);

        let db = dir.join(format!("batches-{run}.db"));
        let pool = warm_pool(setup, &db).await;
        let start = Instant::now();
        let claimed = raw_claim_batches(&pool, t_sweep()).await;
        batches_t.push(start.elapsed());
        assert_eq!(claimed, DUE);
        pool.close().await;
        remove_db(&db);
    }
    let e = spread(&engine_t);
    let c = spread(&claim_t);
    let b = spread(&batches_t);
    println!(
        "\n1. timer sweep at T: {DUE} due of {PENDING} pending ({DUE_DEADLINES} deadlines -> grant_up_to, {} reminders), {runs} runs on fresh copies",
        DUE_LATE_REMINDERS + DUE_EARLY_REMINDERS
    );
    println!("  {:<58} {:>8} {:>9} {:>8}", "", "min ms", "median ms", "max ms");
    let row =
        |name: &str, s: &Spread| println!("  {:<58} {:>8.2} {:>9.2} {:>8.2}", name, s.min, s.median, s.max);
    row("engine fire_due_timers(T)", &e);
    let each: Vec<String> = engine_t
        .iter()
        .zip(&engine_sched)
        .map(|(d, (cpu, wait))| format!("{:.1} ({cpu:.0} / {wait:.0})", d.as_secs_f64() * 1e3))
        .collect();
    println!(
        "    runs in order, ms (CPU of all threads / waiting for a CPU): {}",
        each.join(", ")
    );
    row("baseline: raw claim UPDATE ... LIMIT 1000, 1 tx", &c);
    row(
        &format!("baseline: engine's claim SQL + RETURNING, {SWEEP_BATCH} per tx"),
        &b,
    );
    println!(
        "  target < 50 ms per sweep: {} (median {:.1} ms, max {:.1} ms); engine / raw claim (median): {:.1}x; per due timer {:.1} µs; load average {}",
        if e.max < 50.0 { "met" } else { "MISSED" },
        e.median,
        e.max,
        e.median / c.median,
        e.median * 1e3 / DUE as f64,
        load()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Offer -> decision
// ---------------------------------------------------------------------------------------------

/// One blocked offer and its approval; returns (offer, approve, pair) times.
async fn offer_and_approve(
    engine: &Engine,
    case: CaseId,
    at: DateTime<Utc>,
) -> (StdDuration, StdDuration, StdDuration, EscalationId) {
    let start = Instant::now();
    let reply = engine
        .execute(&agent(), offer(case), at)
        .await
        .unwrap_or_else(|e| panic!("offer on {case}: {e}"));
    let offered = start.elapsed();
    let id = opened_escalation(&reply);
    let mid = Instant::now();
    engine
        .execute(&supervisor(), approve(id), at + Duration::seconds(1))
        .await
        .unwrap_or_else(|e| panic!("approve {id}: {e}"));
    let approved = mid.elapsed();
    (offered, approved, start.elapsed(), id)
}

async fn raw_insert_update(pool: &SqlitePool, case: CaseId, id: EscalationId, at: DateTime<Utc>) {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
    sqlx::query("INSERT INTO case_events (case_id, at, actor, kind, detail) VALUES (?, ?, ?, ?, ?)")
        .bind(case.0)
        .bind(at.timestamp())
        .bind("sam")
        .bind("baseline")
        .bind(r#"{"escalation":1,"outcome":"approved","amount":18000,"unit":"USD","by":"sam","note":null}"#)
        .execute(&mut *tx)
        .await
        .expect("baseline insert");
    sqlx::query("UPDATE escalations SET decision_note = ? WHERE id = ?")
        .bind("baseline")
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .expect("baseline update");
    tx.commit().await.expect("commit");
}

async fn offer_bench(dir: &Path, setup: &Setup, n: usize) {
    let db = dir.join("offers.db");
    copy_db(&setup.db, &db);
    let engine = Engine::start(&config_for(&db)).await.expect("engine starts");
    let pool = raw_pool(&db).await;
    let (warm, rest) = setup.offer_cases.split_at(OFFER_WARMUP);
    let (measured, diagnosed) = rest.split_at(n);
    let at = |i: usize| t_sweep() + Duration::minutes(10) + Duration::seconds(2 * i as i64);

    for (i, case) in warm.iter().enumerate() {
        offer_and_approve(&engine, *case, at(i)).await;
    }
    let (mut offers, mut approvals, mut pairs) = (Vec::new(), Vec::new(), Vec::new());
    let mut decided = Vec::with_capacity(n);
    // The WAL checkpoint count before each pair (read outside the timing).
    let mut resets = Vec::with_capacity(n + 1);
    let before = sched();
    let start = Instant::now();
    for (i, case) in measured.iter().enumerate() {
        resets.push(wal_resets(&db));
        let (o, a, p, id) = offer_and_approve(&engine, *case, at(OFFER_WARMUP + i)).await;
        offers.push(o);
        approvals.push(a);
        pairs.push(p);
        decided.push((*case, id));
    }
    resets.push(wal_resets(&db));
    let engine_wall = start.elapsed();
    let (engine_cpu, engine_wait) = sched_ms(before, sched());
    // A checkpoint runs in the commit that fills the WAL; the next write restarts it. So a pair
    // "near a checkpoint" is one during which, or during the next of which, the count changed.
    let near_checkpoint =
        |i: usize| resets[i + 1] != resets[i] || resets.get(i + 2).is_some_and(|r| *r != resets[i + 1]);
    let slow: Vec<usize> = (0..n)
        .filter(|&i| pairs[i] > StdDuration::from_millis(2))
        .collect();
    let slow_near = slow.iter().filter(|&&i| near_checkpoint(i)).count();

    let mut base = Vec::with_capacity(n);
    let before = sched();
    for (i, (case, id)) in decided.iter().enumerate() {
        let start = Instant::now();
        raw_insert_update(&pool, *case, *id, at(OFFER_WARMUP + i)).await;
        base.push(start.elapsed());
    }
    let (base_cpu, base_wait) = sched_ms(before, sched());

    let (offers, approvals, pairs, base) = (
        Latencies(offers),
        Latencies(approvals),
        Latencies(pairs),
        Latencies(base),
    );
    println!(
        "\n2. offer -> decision through Engine::execute: {n} pairs (after {OFFER_WARMUP} warm-up), each on its own case, {:.1} s",
        engine_wall.as_secs_f64()
    );
    println!(
        "  {:<58} {:>8} {:>8} {:>8} {:>8}",
        "", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    let row = |name: &str, l: &Latencies| {
        println!(
            "  {:<58} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
            name,
            l.ms(50.0),
            l.ms(90.0),
            l.ms(99.0),
            l.ms(100.0)
        )
    };
    row("offer -> decision recorded (both commands)", &pairs);
    row("  /case offer (blocked: escalation + 3 timers), 1 tx", &offers);
    row("  /escalation approve (grant, cancel timers), 1 tx", &approvals);
    row("baseline: raw tx, 1 INSERT + 1 UPDATE", &base);
    println!(
        "  target p99 < 2 ms for offer -> decision: {} (p99 {:.3} ms); per tx vs baseline p50: offer {:.1}x, approve {:.1}x",
        if pairs.ms(99.0) < 2.0 { "met" } else { "MISSED" },
        pairs.ms(99.0),
        offers.ms(50.0) / base.ms(50.0),
        approvals.ms(50.0) / base.ms(50.0),
    );
    println!(
        "  per pair: {:.3} ms CPU of all threads, {:.3} ms waiting for a CPU (baseline per tx: {:.3} / {:.3} ms)",
        engine_cpu / n as f64,
        engine_wait / n as f64,
        base_cpu / n as f64,
        base_wait / n as f64,
    );
    println!(
        "  pairs over 2 ms: {} of {n}, {slow_near} of them near one of the {} WAL checkpoints of the run; load average {} at the end",
        slow.len(),
        resets[n].wrapping_sub(resets[0]),
        load()
    );

    // 2b. Statements of offer and approve.
    println!("\n2b. where an offer -> decision goes ({OFFER_DIAGNOSED} more pairs, statements counted)");
    let (mut offer_wall, mut approve_wall) = (StdDuration::ZERO, StdDuration::ZERO);
    let (mut offer_stats, mut approve_stats) = (Stats::new(), Stats::new());
    for (i, case) in diagnosed.iter().enumerate() {
        let at = at(OFFER_WARMUP + n + i);
        let (reply, wall, stats) = counted(engine.execute(&agent(), offer(*case), at)).await;
        let id = opened_escalation(&reply.expect("offer"));
        offer_wall += wall;
        merge(&mut offer_stats, stats);
        let (reply, wall, stats) =
            counted(engine.execute(&supervisor(), approve(id), at + Duration::seconds(1))).await;
        reply.expect("approve");
        approve_wall += wall;
        merge(&mut approve_stats, stats);
    }
    println!("  (wall includes the counting's own cost)");
    print_statements("/case offer", OFFER_DIAGNOSED, offer_wall, &offer_stats);
    print_statements(
        "/escalation approve",
        OFFER_DIAGNOSED,
        approve_wall,
        &approve_stats,
    );

    engine.store().close().await;
    pool.close().await;
    remove_db(&db);
}

// ---------------------------------------------------------------------------------------------

async fn bench() {
    sql_stats::init();
    let runs = env_usize("CAREBOT_BENCH_SWEEPS", 7).max(1);
    let offers = env_usize("CAREBOT_BENCH_OFFERS", 2000).max(1);
    let dir = TempDir::new("escalations");
    println!(
        "escalations bench: SQLite file (WAL, synchronous=NORMAL) in {}; load average {}",
        dir.0.display(),
        load()
    );

    let start = Instant::now();
    let setup = build_setup(&dir.0, offers).await;
    let size = std::fs::metadata(&setup.db).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    println!(
        "setup in {:.1} s: {} cases from feed posts (each answered with /case reply), {} escalations through the engine (blocked `/case offer fee_waiver 180`), \
         {} filler escalations and {} not-yet-due timers (due in 1 to 12 days) inserted raw with sqlx; {PENDING} timers pending at T; setup.db {size:.0} MB",
        start.elapsed().as_secs_f64(),
        setup.cases,
        setup.engine_escalations,
        setup.filler_escalations,
        setup.raw_timers,
    );

    sweep_bench(&dir.0, &setup, runs).await;

    // 1b. Statements of one sweep.
    println!("\n1b. where a sweep goes (one more run, statements counted)");
    let db = dir.0.join("sweep-counted.db");
    let engine = warm_engine(&setup, &db).await;
    let before = sched();
    let ((_, _), wall, stats) = counted(measured_sweep(&engine)).await;
    let (cpu, wait) = sched_ms(before, sched());
    print_statements("fire_due_timers(T)", 1, wall, &stats);
    println!("  CPU of all threads {cpu:.1} ms, waiting for a CPU {wait:.1} ms");
    engine.store().close().await;
    drop(engine);
    remove_db(&db);

    offer_bench(&dir.0, &setup, offers).await;
    println!(
        "\ntotal {:.1} s; load average {} at the end",
        start.elapsed().as_secs_f64(),
        load()
    );
}
