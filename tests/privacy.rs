//! Forgetting a customer: their handle and texts leave the database file, counts stay.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn carebot(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_carebot"))
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .env("HOME", dir)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("CAREBOT_DATABASE_URL")
        .env_remove("CAREBOT_PLAYBOOKS_DIR")
        .args(args)
        .output()
        .expect("carebot runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const DANA_TEXTS: [&str; 2] = [
    "Flat tyre on my rental near exit 42, stranded with two kids",
    "Still waiting on the hard shoulder, phone battery at 5 percent",
];
const LEO_TEXT: &str = "Checkout keeps failing at payment on the flash sale";

#[tokio::test]
async fn a_forgotten_customer_leaves_no_trace_in_the_file_and_the_counts_stay() {
    let dir: PathBuf = std::env::temp_dir().join(format!("carebot-privacy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let lines = [
        format!(
            r#"{{"id":"d1","network":"twitter","handle":"@dana_travels","name":"Dana Smith","text":"{}","url":"https://twitter.com/dana_travels/status/1","followers":120}}"#,
            DANA_TEXTS[0]
        ),
        format!(
            r#"{{"id":"d2","network":"twitter","handle":"dana_travels","text":"{}","url":"https://twitter.com/dana_travels/status/2"}}"#,
            DANA_TEXTS[1]
        ),
        format!(
            r#"{{"id":"l1","network":"facebook","handle":"leo.brandt","name":"Leo Brandt","text":"{LEO_TEXT}"}}"#
        ),
    ];
    std::fs::write(dir.join("m.jsonl"), lines.join("\n")).unwrap();
    ok(&carebot(&dir, &["ingest", "m.jsonl", "--json"]));
    let show = ok(&carebot(&dir, &["cases", "show", "1", "--json"]));
    assert!(show.contains("dana_travels"));
    // A note by an agent that quotes the customer.
    let script = format!(
        "clock {}\nas ana agent\n/case note #1 Dana says she is stuck near exit 42 with the kids\n",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    std::fs::write(dir.join("note.txt"), script).unwrap();
    ok(&carebot(&dir, &["console", "--script", "note.txt"]));

    let now = chrono::Utc::now();
    let period = |d: i64| (now + chrono::Duration::days(d)).to_rfc3339();
    let digest = |dir: &Path| {
        let text = ok(&carebot(
            dir,
            &[
                "digest",
                "--from",
                &period(-1),
                "--to",
                &period(1),
                "--format",
                "json",
            ],
        ));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        (
            v["mentions"].clone(),
            v["opened"].clone(),
            v["by_network"].clone(),
            v["backlog"].clone(),
        )
    };
    let before = digest(&dir);

    let refused = carebot(&dir, &["customers", "forget", "nobody"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no customer"));
    let done: serde_json::Value = serde_json::from_str(&ok(&carebot(
        &dir,
        &["customers", "forget", "@Dana_Travels", "--json"],
    )))
    .unwrap();
    assert_eq!(done["mentions"], 2);
    assert_eq!(done["cases"], serde_json::json!([1]));
    assert_eq!(done["pseudonym"], "forgotten-1");

    assert_eq!(digest(&dir), before, "the digest keeps its numbers");
    let list: serde_json::Value =
        serde_json::from_str(&ok(&carebot(&dir, &["cases", "list", "--json"]))).unwrap();
    let case = list.as_array().unwrap().iter().find(|c| c["id"] == 1).unwrap();
    assert_eq!(
        (case["handle"].as_str(), case["mentions"].as_i64()),
        (Some("forgotten-1"), Some(2))
    );
    let show: serde_json::Value =
        serde_json::from_str(&ok(&carebot(&dir, &["cases", "show", "1", "--json"]))).unwrap();
    let erased = show["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "erased")
        .expect("an audit event");
    assert_eq!(erased["detail"]["mentions"], 2);

    // VACUUM (and fold the WAL into the file), then look at every byte.
    let url = format!("sqlite://{}", dir.join("carebot.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("VACUUM").execute(&pool).await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let mut bytes = std::fs::read(dir.join("carebot.db")).unwrap();
    if let Ok(wal) = std::fs::read(dir.join("carebot.db-wal")) {
        bytes.extend(wal);
    }
    let file = String::from_utf8_lossy(&bytes).to_lowercase();
    assert!(
        file.contains(&LEO_TEXT.to_lowercase()),
        "the search finds what stays"
    );
    for gone in [
        "dana_travels",
        "dana smith",
        DANA_TEXTS[0],
        DANA_TEXTS[1],
        "exit 42",
        "hard shoulder",
    ] {
        assert!(
            !file.contains(&gone.to_lowercase()),
            "`{gone}` is still in the database file"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn retention_removes_the_texts_of_old_closed_cases_only_once_they_are_old_enough() {
    use carebot::app::retention::Retention;
    use carebot::app::{Actor, Command, Engine};
    use carebot::cli::ImportLine;
    use carebot::config::{Config, RetentionConfig};
    use carebot::domain::{CaseId, Role};

    let dir = std::env::temp_dir().join(format!("carebot-retention-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}", dir.join("r.db").display());
    config.playbooks_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    let engine = Engine::start(&config).await.unwrap();
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-10T09:00:00Z")
        .unwrap()
        .to_utc();
    let line = |id: &str, handle: &str, text: &str| {
        serde_json::from_str::<ImportLine>(&format!(
            r#"{{"id":"{id}","network":"twitter","handle":"{handle}","text":"{text}","url":"https://x.com/{handle}/{id}"}}"#
        ))
        .unwrap()
        .into_mention(t0)
        .unwrap()
    };
    engine
        .receive_mentions(
            &[
                line("1", "dana", "my rental broke down again"),
                line("2", "leo", "still no refund"),
            ],
            t0,
        )
        .await
        .unwrap();
    let ana = Actor::new("ana", "ana", vec![Role::Agent]);
    engine
        .execute(
            &ana,
            Command::Resolve {
                case: CaseId(1),
                note: None,
            },
            t0,
        )
        .await
        .unwrap();

    let retention = Retention::from_config(&RetentionConfig {
        mention_text_days: 365,
    })
    .unwrap();
    assert!(Retention::from_config(&RetentionConfig { mention_text_days: 0 }).is_err());
    let day = chrono::Duration::days(1);
    assert_eq!(
        engine.purge_texts(retention, t0 + day * 364).await.unwrap(),
        0,
        "not old enough"
    );
    assert_eq!(engine.purge_texts(retention, t0 + day * 366).await.unwrap(), 1);
    assert_eq!(
        engine.purge_texts(retention, t0 + day * 367).await.unwrap(),
        0,
        "once"
    );

    let resolved = engine.case_detail(CaseId(1), t0).await.unwrap();
    assert!(resolved.mentions[0].text.is_empty() && resolved.mentions[0].url.is_none());
    assert_eq!(resolved.case.title, carebot::store::TEXT_PURGED);
    assert_eq!(
        resolved.customer.handle.as_str(),
        "dana",
        "the customer is not forgotten"
    );
    let open = engine.case_detail(CaseId(2), t0).await.unwrap();
    assert_eq!(
        open.mentions[0].text, "still no refund",
        "an open case keeps its text"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
