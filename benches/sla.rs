//! SLA timer sweep over 100,000 open cases: `cargo bench --bench sla`.
//!
//! 100,000 cases are opened through the engine (`Engine::receive_mentions`, batches of 1,000
//! one minute apart; the shipped policies: P3, first response 4h with a warning at 80%), so
//! 400,000 SLA points are pending (a warning and a breach for first response and resolution
//! of each case; a clock is its own timer, so they are the 200,000 running clock rows). The
//! sweep runs when the first batch's first-response warnings fall due: 1,000 due points among
//! 400,000 pending, each posting to the case thread and the queue channel. Reported:
//! `Engine::fire_due_timers` beside a raw sqlx claim of the same 1,000 warnings (one `UPDATE`
//! of the clock rows through the sweep's index) on a copy of the same database, in the same
//! run. Target: under 100 ms.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use carebot::app::Engine;
use carebot::config::Config;
use carebot::domain::feed::Mention;
use carebot::domain::{Handle, Network};
use chrono::{DateTime, Duration, Utc};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::SqlitePool;

const CASES: usize = 100_000;
const BATCH: usize = 1_000;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T00:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

fn config(db: &Path) -> Config {
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}", db.display());
    config.playbooks_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    // One quiet question each: no surge, no keyword rule (P3).
    config.surge.min_mentions = 1_000_000;
    config
}

fn mention(n: usize, at: DateTime<Utc>) -> Mention {
    Mention {
        source_id: format!("bench:{n}"),
        external_id: None,
        network: Network::parse("twitter").expect("network"),
        handle: Handle::parse(&format!("customer{n}")).expect("handle"),
        display_name: None,
        text: "where can I see my invoice?".into(),
        url: None,
        posted_at: at,
        followers: None,
        unparsed: false,
    }
}

async fn setup(db: &Path) {
    let engine = Engine::start(&config(db)).await.expect("engine");
    for b in 0..CASES / BATCH {
        let at = t0() + Duration::minutes(b as i64);
        let batch: Vec<Mention> = (0..BATCH).map(|i| mention(b * BATCH + i, at)).collect();
        engine.receive_mentions(&batch, at).await.expect("ingest");
    }
    let due = engine.next_timer_due().await.expect("next due");
    println!(
        "setup: {CASES} open cases, {} running SLA clocks; the first point due {due:?}",
        CASES * 2
    );
    engine.store().close().await;
}

fn copy(from: &Path, to: &Path) {
    for ext in ["", "-wal", "-shm"] {
        let src = PathBuf::from(format!("{}{ext}", from.display()));
        if src.exists() {
            std::fs::copy(&src, format!("{}{ext}", to.display())).expect("copy");
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = std::env::temp_dir().join(format!("carebot-bench-sla-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let base = dir.join("base.db");
        let started = Instant::now();
        setup(&base).await;
        println!("setup took {:.1} s", started.elapsed().as_secs_f64());
        // The first batch's first-response warnings: 80% of 4h after midnight.
        let due = t0() + Duration::minutes(192);

        let mut engine_ms = Vec::new();
        let mut raw_ms = Vec::new();
        for run in 0..5 {
            let db = dir.join(format!("run{run}.db"));
            copy(&base, &db);
            let engine = Engine::start(&config(&db)).await.expect("engine");
            let t = Instant::now();
            let report = engine.fire_due_timers(due).await.expect("sweep");
            engine_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(report.fired, BATCH, "{report:?}");
            engine.store().close().await;

            let raw = dir.join(format!("raw{run}.db"));
            copy(&base, &raw);
            let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", raw.display())).expect("url");
            let pool = SqlitePool::connect_with(options).await.expect("pool");
            let t = Instant::now();
            let mut tx = pool.begin().await.expect("begin");
            let claimed = sqlx::query(
                "UPDATE sla_clocks SET warned = 1, warn_due_at = NULL WHERE id IN
                   (SELECT id FROM sla_clocks WHERE breach_noticed = 0 AND due_at IS NOT NULL
                      AND COALESCE(warn_due_at, due_at) <= ?1 ORDER BY COALESCE(warn_due_at, due_at) LIMIT 1000)",
            )
            .bind(due.timestamp())
            .execute(&mut *tx)
            .await
            .expect("claim")
            .rows_affected();
            tx.commit().await.expect("commit");
            raw_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(claimed as usize, BATCH);
            pool.close().await;
        }
        let show = |name: &str, v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            println!(
                "  {name:<40} min {:>7.1} ms   median {:>7.1} ms   max {:>7.1} ms",
                v[0],
                v[v.len() / 2],
                v[v.len() - 1]
            );
        };
        println!("SLA sweep: {BATCH} due of {} pending points, 5 runs on fresh copies", CASES * 4);
        show("engine fire_due_timers (target < 100 ms)", &mut engine_ms);
        show("raw sqlx claim of the same points", &mut raw_ms);
        let _ = std::fs::remove_dir_all(&dir);
    });
}
