//! `carebot run` as an operator runs it (the binary, a config file, `DISCORD_TOKEN`), against
//! the fake Discord: SIGTERM during a feed burst stops it with exit 0 and loses nothing, a
//! second signal exits at once and still loses nothing, logs are JSON lines with
//! `--log-format json`, and the token never appears in the logs.

mod support;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::fake_discord::{Author, FakeDiscord};

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "graceful-test-token-SECRET-0815";

/// A running `carebot run` and its stderr lines as they come.
struct Bot {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

fn start_bot(dir: &Path) -> Bot {
    let mut child = Command::new(env!("CARGO_BIN_EXE_carebot"))
        .current_dir(dir)
        .env("RUST_LOG", "carebot=debug,serenity=info,info")
        .env("DISCORD_TOKEN", TOKEN)
        .env("HOME", dir)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("CAREBOT_DATABASE_URL")
        .env_remove("CAREBOT_PLAYBOOKS_DIR")
        .env_remove("CAREBOT_DISCORD_API_BASE")
        .args(["--log-format", "json", "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("carebot starts");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let lines = log.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
    Bot { child, log }
}

impl Bot {
    fn signal(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM");
    }

    async fn exit_code(mut self) -> (Option<i32>, Vec<String>) {
        let status = tokio::task::spawn_blocking(move || {
            let status = self.child.wait().unwrap();
            (status, self.log)
        })
        .await
        .unwrap();
        let lines = status.1.lock().unwrap().clone();
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(signal) = status.0.signal() {
                eprintln!("killed by signal {signal}:\n{}", lines.join("\n"));
            }
        }
        (status.0.code(), lines)
    }

    fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !f() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn setup(name: &str, fake: &FakeDiscord, feed: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("carebot-graceful-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!(
        r#"playbooks_dir = "{playbooks}"
[database]
url = "sqlite://care.db"
[feed]
brand_handles = ["AcmeShop"]
[surge]
min_mentions = 10000                 # a burst here is not a surge: every post gets its thread
[metrics]
listen = "127.0.0.1:0"
[discord]
api_base = "{api}"
guild_id = {guild}
[[discord.feeds]]
channel_id = {feed}
"#,
        playbooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks").display(),
        api = fake.api_base(),
        guild = fake.guild_id(),
    );
    std::fs::write(dir.join("carebot.toml"), config).unwrap();
    dir
}

async fn burst(fake: &FakeDiscord, feed: u64, from: usize, to: usize) {
    for i in from..to {
        let text = format!(
            "[Twitter] @customer{i}: my order {i} never arrived https://twitter.com/customer{i}/status/{i}"
        );
        fake.post_message(feed, Author::webhook("feed"), &text, vec![])
            .await;
    }
}

/// Every post of the burst has exactly one thread with its card.
fn all_handled(fake: &FakeDiscord, posts: usize) -> bool {
    let threads = fake.threads();
    let mut names: Vec<String> = threads
        .iter()
        .map(|t| t["name"].as_str().unwrap_or("").to_string())
        .collect();
    names.sort();
    names.dedup();
    threads.len() == posts
        && names.len() == posts
        && threads.iter().all(|t| {
            let id: u64 = t["id"].as_str().unwrap().parse().unwrap();
            !fake.messages(id).is_empty()
        })
}

fn assert_no_secret(lines: &[String]) {
    for line in lines {
        assert!(!line.contains(TOKEN), "the token is in a log line: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_feed_burst_stops_cleanly_and_loses_nothing() {
    let fake = FakeDiscord::start().await;
    fake.require_token(TOKEN);
    let feed = fake.add_channel("twitter-feed");
    let dir = setup("term", &fake, feed);

    let bot = start_bot(&dir);
    fake.wait_until_ready(WAIT).await;
    eventually("the metrics listener is up", || bot.logged("serving /metrics")).await;
    let addr = {
        let log = bot.log.lock().unwrap();
        let line = log.iter().find(|l| l.contains("serving /metrics")).unwrap();
        let json: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        json["fields"]["addr"].as_str().unwrap().to_string()
    };
    // 200 once the gateway is connected (503 before).
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let health = reqwest::get(format!("http://{addr}/healthz")).await.unwrap();
        if health.status().as_u16() == 200 {
            break;
        }
        assert_eq!(health.status().as_u16(), 503);
        assert!(std::time::Instant::now() < deadline, "healthz never became 200");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    burst(&fake, feed, 0, 20).await;
    bot.signal();
    // Posts keep coming while it stops: whatever it does not take, the next start backfills.
    burst(&fake, feed, 20, 40).await;
    let (code, first_log) = bot.exit_code().await;
    assert_eq!(
        code,
        Some(0),
        "a graceful stop exits 0:\n{}",
        first_log.join("\n")
    );
    assert!(first_log.iter().any(|l| l.contains("stopping on SIGTERM")));
    for line in &first_log {
        let json: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            json.get("level").is_some() && json.get("fields").is_some(),
            "{line}"
        );
    }

    let again = start_bot(&dir);
    eventually("the restarted bot is connected", || {
        again.logged("connected to Discord")
    })
    .await;
    let deadline = std::time::Instant::now() + WAIT;
    while !all_handled(&fake, 40) {
        if std::time::Instant::now() > deadline {
            again.signal();
            let (_, log) = again.exit_code().await;
            panic!(
                "threads {}:\n{}\n{}",
                fake.threads().len(),
                fake.requests_summary(),
                log.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    again.signal();
    let (code, second_log) = again.exit_code().await;
    assert_eq!(code, Some(0));
    assert_no_secret(&first_log);
    assert_no_secret(&second_log);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_and_still_loses_nothing() {
    let fake = FakeDiscord::start().await;
    let feed = fake.add_channel("twitter-feed");
    let dir = setup("twice", &fake, feed);

    let bot = start_bot(&dir);
    fake.wait_until_ready(WAIT).await;
    burst(&fake, feed, 0, 30).await;
    bot.signal();
    eventually("the first signal is seen", || bot.logged("stopping on SIGTERM")).await;
    bot.signal();
    let (code, log) = bot.exit_code().await;
    assert_eq!(code, Some(130), "{}", log.join("\n"));
    assert!(log.iter().any(|l| l.contains("SIGTERM again: exiting now")));

    let again = start_bot(&dir);
    eventually("the restarted bot is connected", || {
        again.logged("connected to Discord")
    })
    .await;
    let deadline = std::time::Instant::now() + WAIT;
    while !all_handled(&fake, 30) {
        if std::time::Instant::now() > deadline {
            again.signal();
            let (_, log) = again.exit_code().await;
            let threads: Vec<String> = fake
                .threads()
                .iter()
                .map(|t| {
                    format!(
                        "{} msgs={}",
                        t["name"],
                        fake.messages(t["id"].as_str().unwrap().parse().unwrap()).len()
                    )
                })
                .collect();
            let interesting: Vec<&String> = log
                .iter()
                .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("backfill"))
                .collect();
            panic!("threads {}: {threads:#?}\n{interesting:#?}", threads.len());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    again.signal();
    assert_eq!(again.exit_code().await.0, Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
