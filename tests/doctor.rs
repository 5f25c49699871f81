//! `carebot doctor` against the fake Discord: the binary, a config file pointing
//! `discord.api_base` at the fake, and `DISCORD_TOKEN` in the environment.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::fake_discord::FakeDiscord;

const VIEW: u64 = 1 << 10;
const SEND: u64 = 1 << 11;
const EMBED: u64 = 1 << 14;
const ATTACH: u64 = 1 << 15;
const HISTORY: u64 = 1 << 16;
const CREATE_PUBLIC_THREADS: u64 = 1 << 35;
const SEND_IN_THREADS: u64 = 1 << 38;
const BOT_ROLE: u64 = VIEW | SEND | EMBED | ATTACH | HISTORY | CREATE_PUBLIC_THREADS | SEND_IN_THREADS;

const TOKEN: &str = "fake-doctor-token-1234567890";

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("carebot-doctor-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `carebot doctor` in `dir` (off the runtime's threads, so the fake keeps answering).
async fn doctor(dir: &Path, token: Option<&str>, extra: &[&str]) -> Output {
    let mut args = vec!["doctor"];
    args.extend_from_slice(extra);
    carebot(dir, token, &args).await
}

async fn carebot(dir: &Path, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_carebot"));
    cmd.current_dir(dir)
        .env("RUST_LOG", "warn")
        .env("HOME", dir)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("CAREBOT_DATABASE_URL")
        .env_remove("CAREBOT_PLAYBOOKS_DIR")
        .env_remove("CAREBOT_DISCORD_API_BASE")
        .env_remove("DISCORD_TOKEN")
        .args(args);
    if let Some(token) = token {
        cmd.env("DISCORD_TOKEN", token);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("carebot runs"))
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A guild set up as the README says: the bot has a role with what carebot needs, @everyone
/// has nothing; a feed, an escalations and a queue channel; an agent role.
struct Setup {
    fake: FakeDiscord,
    feed: u64,
    escalations: u64,
    queue: u64,
    bot_role: u64,
    agent_role: u64,
}

async fn setup() -> Setup {
    let fake = FakeDiscord::start().await;
    fake.require_token(TOKEN);
    fake.set_role_permissions(fake.guild_id(), 0);
    let bot_role = fake.add_role_with_permissions("carebot", BOT_ROLE);
    fake.set_member_roles(fake.bot_user_id(), &[bot_role]);
    let agent_role = fake.add_role("Care Agent");
    Setup {
        feed: fake.add_channel("twitter-feed"),
        escalations: fake.add_channel("escalations"),
        queue: fake.add_channel("queue"),
        fake,
        bot_role,
        agent_role,
    }
}

fn write_config(dir: &Path, s: &Setup, digest_channel: u64, supervisor_role: u64) {
    let playbooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    let config = format!(
        r#"playbooks_dir = "{playbooks}"
[database]
url = "sqlite://{db}"
[discord]
api_base = "{api}"
guild_id = {guild}
escalations_channel = {escalations}
queue_channel = {queue}
digest_channel = {digest_channel}
[[discord.feeds]]
channel_id = {feed}
[discord.roles]
agent = [{agent}]
supervisor = [{supervisor_role}]
"#,
        playbooks = playbooks.display(),
        db = dir.join("care.db").display(),
        api = s.fake.api_base(),
        guild = s.fake.guild_id(),
        escalations = s.escalations,
        queue = s.queue,
        feed = s.feed,
        agent = s.agent_role,
    );
    std::fs::write(dir.join("carebot.toml"), config).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_a_missing_permission_a_missing_channel_and_the_intent_off_with_their_fixes() {
    let s = setup().await;
    let dir = folder("broken");
    let missing_channel = 4_242_424_242u64;
    write_config(&dir, &s, missing_channel, 77);
    s.fake.set_message_content_intent(false);
    // Escalations: a channel overwrite takes Attach Files from the bot's role.
    s.fake
        .set_channel_overwrites(s.escalations, &[(s.bot_role, 0, 0, ATTACH)]);
    // Queue: hidden from @everyone, shown to the bot's role: the role overwrite wins.
    s.fake.set_channel_overwrites(
        s.queue,
        &[(s.fake.guild_id(), 0, 0, VIEW), (s.bot_role, 0, VIEW, 0)],
    );

    let out = doctor(&dir, Some(TOKEN), &[]).await;
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    for expected in [
        "✓ config: read carebot.toml",
        "✓ playbooks:",
        "✓ database:",
        "✓ Discord token: valid: the bot is carebot",
        "✗ Message Content intent:",
        "Privileged Gateway Intents, turn on Message Content Intent",
        "✓ guild: the bot is in Care Team",
        "✓ channel discord.feeds: #twitter-feed",
        "✗ channel discord.escalations_channel: #escalations: the bot lacks Attach Files",
        "allow Attach Files for the bot's role",
        "✓ channel discord.queue_channel: #queue",
        &format!("✗ channel discord.digest_channel: channel {missing_channel} does not exist in Care Team"),
        "Copy Channel ID",
        "✓ role agent:",
        "✗ role supervisor: discord.roles.supervisor has 77, which is no role",
        "Copy Role ID",
        "4 of ",
    ] {
        assert!(
            report.contains(expected),
            "doctor output lacks `{expected}`:\n{report}"
        );
    }
    assert!(!report.contains(TOKEN), "the token is never printed:\n{report}");
    let doctor_calls: Vec<String> = s.fake.requests().iter().map(|r| r.line()).collect();
    assert!(
        doctor_calls.iter().all(|l| l.starts_with("GET ")),
        "doctor only reads: {doctor_calls:?}"
    );
    assert!(!dir.join("care.db").exists(), "doctor creates no database");

    let json = doctor(&dir, Some(TOKEN), &["--json"]).await;
    let checks: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let failed: Vec<&str> = checks
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        [
            "Message Content intent",
            "channel discord.escalations_channel",
            "channel discord.digest_channel",
            "role supervisor"
        ]
    );
    assert!(checks[5]["fix"].as_str().unwrap().contains("Message Content"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_correct_setup_and_stops_at_a_bad_token() {
    let s = setup().await;
    let dir = folder("good");
    let digest = s.fake.add_channel("digest");
    let supervisor = s.fake.add_role("Care Supervisor");
    write_config(&dir, &s, digest, supervisor);
    let out = doctor(&dir, Some(TOKEN), &[]).await;
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report.contains("all 13 checks passed"), "{report}");

    let bad = doctor(&dir, Some("a-revoked-token"), &[]).await;
    let report = text(&bad);
    assert_eq!(bad.status.code(), Some(1), "{report}");
    assert!(
        report.contains("✗ Discord token: Discord answered 401"),
        "{report}"
    );
    assert!(report.contains("reset the token"), "{report}");
    assert!(
        !report.contains("guild"),
        "nothing after a refused token: {report}"
    );
    assert!(!report.contains("a-revoked-token"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_without_a_token_skips_discord_and_reports_a_bad_config_file() {
    let dir = folder("notoken");
    let out = doctor(&dir, None, &[]).await;
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report.contains("- Discord: DISCORD_TOKEN is not set"), "{report}");
    assert!(report.contains("the built-in playbooks: 9 playbooks"), "{report}");
    assert!(report.contains("does not exist yet"), "{report}");
    assert!(!dir.join("carebot.db").exists());

    let list = carebot(&dir, None, &["cases", "list"]).await;
    assert!(list.status.success(), "{}", text(&list));
    let report = text(&doctor(&dir, None, &[]).await);
    assert!(
        report.contains("✓ database: sqlite://carebot.db is reachable and migrated"),
        "{report}"
    );

    std::fs::write(dir.join("carebot.toml"), "[cases]\nreopen_hours = 1\n").unwrap();
    let out = doctor(&dir, None, &[]).await;
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("✗ config:") && report.contains("reopen_hours"),
        "{report}"
    );
}
