//! The engine on a fresh database per test, with the shipped playbooks: a SQLite file, or,
//! with `CAREBOT_TEST_POSTGRES` set to an admin URL (`postgres://USER:PASSWORD@HOST:PORT/postgres`),
//! a new PostgreSQL database on that server (dropped with the test's folder). The same
//! stories then run on either backend.

use std::path::PathBuf;

use carebot::app::delivery::{self, PacketShown};
use carebot::app::outbox::{Card, Message, Outgoing};
use carebot::app::{Actor, Command, CommandError, Engine, IngestOutcome, Reply};
use carebot::config::Config;
use carebot::domain::escalation::EscalationId;
use carebot::domain::feed::FeedPost;
use carebot::domain::{CaseId, Role};
use chrono::{DateTime, Duration, Utc};

/// A folder removed when dropped (with the test's PostgreSQL database, if it has one).
pub struct TempDir(pub PathBuf, pub Option<String>);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        if let Some(db) = self.1.take() {
            let _ = on_postgres_server(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
        }
    }
}

/// The admin URL of the PostgreSQL server the tests run on, when they do.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("CAREBOT_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Runs one statement on the test server's admin database, from a thread of its own (so it
/// works from sync and async code alike).
fn on_postgres_server(sql: String) -> Result<(), String> {
    let url = postgres_admin_url().ok_or("CAREBOT_TEST_POSTGRES is not set")?;
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            sqlx::query(&sql)
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        })
    })
    .join()
    .map_err(|_| "the admin thread panicked".to_string())?
}

/// A database URL for a fresh database of the test's backend: a file in `dir`, or a new
/// PostgreSQL database `name` (returned too, to drop later).
pub fn fresh_database(dir: &std::path::Path, name: &str) -> (String, Option<String>) {
    let Some(admin) = postgres_admin_url() else {
        return (
            format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
            None,
        );
    };
    let db = format!(
        "carebot_{}_{}",
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        dir_tag(dir)
    );
    on_postgres_server(format!("CREATE DATABASE {db}")).expect("test database created");
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
    (format!("{base}/{db}"), Some(db))
}

fn dir_tag(dir: &std::path::Path) -> String {
    dir.file_name()
        .map(|n| {
            n.to_string_lossy()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        })
        .unwrap_or_default()
}

/// An engine on its own database.
pub struct TestApp {
    pub engine: Engine,
    pub config: Config,
    pub dir: TempDir,
    pub posts: u64,
}

/// 2026-11-27 09:00 UTC, when the tests' stories start.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The default test config: a fresh database file, the shipped playbooks, AcmeShop as brand.
pub fn test_config() -> (Config, TempDir) {
    carebot::telemetry::init("warn");
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("carebot-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = Config::default();
    let (url, db) = fresh_database(&dir, "t");
    config.database.url = url;
    config.playbooks_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    config.feed.brand_handles = vec!["AcmeShop".into()];
    (config, TempDir(dir, db))
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// An app whose config `change` adjusts first.
pub async fn spawn_app_with(change: impl FnOnce(&mut Config)) -> TestApp {
    let (mut config, dir) = test_config();
    change(&mut config);
    let engine = Engine::start(&config).await.expect("engine starts");
    TestApp {
        engine,
        config,
        dir,
        posts: 0,
    }
}

pub fn person(name: &str, role: Role) -> Actor {
    Actor::new(name, name, vec![role])
}

pub fn agent(name: &str) -> Actor {
    person(name, Role::Agent)
}

impl TestApp {
    pub fn post(&mut self, content: &str) -> FeedPost {
        self.posts += 1;
        FeedPost {
            source_id: format!("test:{}", self.posts),
            channel_id: "feed".into(),
            message_id: (1000 + self.posts).to_string(),
            poster: "feed-bot".into(),
            content: content.into(),
            embeds: vec![],
            posted_at: t0(),
        }
    }

    pub async fn feed(&mut self, content: &str, now: DateTime<Utc>) -> IngestOutcome {
        let post = self.post(content);
        self.engine
            .receive_post(&post, None, now)
            .await
            .expect("post stored")
            .0
    }

    /// Every outbox row written so far, oldest first.
    pub async fn outbox(&self) -> Vec<Outgoing> {
        let rows = self.engine.store().undelivered_outbox(100_000).await.unwrap();
        rows.iter()
            .map(|r| serde_json::from_str(&r.payload).unwrap())
            .collect()
    }

    /// A post's line in a thread (`Outgoing::MentionLine`) as its delivery now renders it.
    pub async fn line(&self, out: &Outgoing) -> Message {
        let Outgoing::MentionLine {
            case_id,
            source_id,
            line,
        } = out
        else {
            panic!("not a post's line: {out:?}")
        };
        delivery::mention_line(self.engine.store(), *case_id, source_id, *line)
            .await
            .unwrap()
            .expect("the post exists")
    }

    /// An escalation's reminder (`Outgoing::EscalationReminder`) as its delivery now renders
    /// it (`None`: not posted, nothing left to remind of).
    pub async fn reminder(&self, out: &Outgoing) -> Option<Message> {
        let Outgoing::EscalationReminder {
            escalation_id,
            tier,
            at,
            late,
            ..
        } = out
        else {
            panic!("not a reminder: {out:?}")
        };
        delivery::reminder(self.engine.store(), *escalation_id, *tier, *at, *late)
            .await
            .unwrap()
    }

    /// Runs a command five minutes after `t0`.
    pub async fn run(&self, actor: &Actor, command: Command) -> Result<Reply, CommandError> {
        self.engine
            .execute(actor, command, t0() + Duration::minutes(5))
            .await
    }

    pub async fn run_at(
        &self,
        actor: &Actor,
        command: Command,
        now: DateTime<Utc>,
    ) -> Result<Reply, CommandError> {
        self.engine.execute(actor, command, now).await
    }

    /// Case `id`'s thread and card as their delivery now opens them.
    pub async fn opening(&self, id: i64) -> delivery::Opening {
        delivery::opening(self.engine.store(), CaseId(id))
            .await
            .unwrap()
            .expect("the case exists")
    }

    /// Case `id`'s card as an edit delivered now shows it.
    pub async fn card(&self, id: i64) -> Card {
        delivery::card(self.engine.store(), CaseId(id))
            .await
            .unwrap()
            .expect("the case exists")
    }

    /// Escalation `id`'s packet as an edit delivered now shows it.
    pub async fn packet(&self, id: i64) -> Message {
        self.packet_shown(id, PacketShown::Edit { superseded: false })
            .await
    }

    /// Escalation `id`'s packet shown as `shown`, rendered now.
    pub async fn packet_shown(&self, id: i64, shown: PacketShown) -> Message {
        delivery::packet(&self.engine, EscalationId(id), shown)
            .await
            .unwrap()
            .expect("the escalation exists")
    }

    pub async fn case(&self, id: i64) -> carebot::domain::case::Case {
        self.engine.case_detail(CaseId(id), t0()).await.unwrap().case
    }

    /// A new engine on the same database, as after a restart.
    pub async fn restart(&mut self) {
        self.engine.store().close().await;
        self.engine = Engine::start(&self.config).await.expect("engine restarts");
    }
}
