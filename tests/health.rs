//! `/metrics` and `/healthz` over HTTP on port 0, with the real bot against the fake Discord.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use carebot::app::Engine;
use carebot::config::{Config, DiscordConfig, FeedChannelConfig, Secret};
use support::fake_discord::{Author, Failure, FakeDiscord};

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "health-test-token-SECRET-4711";

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{addr}{path}"))
        .await
        .expect("answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// Polls until `f` holds (a condition of the world, not a clock).
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    let deadline = std::time::Instant::now() + WAIT;
    while !f().await {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_and_healthz_answer_over_http_and_follow_the_bot() {
    let fake = FakeDiscord::start().await;
    let feed = fake.add_channel("twitter-feed");
    let dir = std::env::temp_dir().join(format!("carebot-health-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}", dir.join("h.db").display());
    config.playbooks_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    config.feed.brand_handles = vec!["AcmeShop".into()];
    config.discord = DiscordConfig {
        api_base: fake.api_base(),
        guild_id: Some(fake.guild_id()),
        feeds: vec![FeedChannelConfig {
            channel_id: feed,
            profiles: vec![],
        }],
        token: Secret::new(TOKEN),
        ..DiscordConfig::default()
    };
    let engine = Arc::new(Engine::start(&config).await.unwrap());
    let running = carebot::discord::start(engine.clone(), &config.discord)
        .await
        .unwrap();
    let (addr, server) = carebot::metrics::serve("127.0.0.1:0", running.health())
        .await
        .unwrap();
    assert_ne!(addr.port(), 0);
    fake.wait_until_ready(WAIT).await;

    eventually("healthz is 200 once connected", || async {
        get(addr, "/healthz").await.0 == 200
    })
    .await;
    assert_eq!(get(addr, "/healthz").await.1, "ok\n");

    // One post through, one card refused by a 500 first (then delivered), one 429.
    fake.fail_next("POST /channels/", 1, Failure::Status(500));
    fake.post_message(
        feed,
        Author::webhook("feed"),
        "[Twitter] @dana: flat tyre on the highway https://twitter.com/dana/status/1",
        vec![],
    )
    .await;
    eventually("the case is delivered", || async {
        let (_, text) = get(addr, "/metrics").await;
        text.contains("carebot_outbox_backlog 0") && value(&text, "carebot_deliveries_total") >= 2.0
    })
    .await;
    fake.fail_next("POST /channels/", 1, Failure::RateLimited { retry_after: 0.05 });
    fake.post_message(
        feed,
        Author::webhook("feed"),
        "[Twitter] @leo: checkout broken https://twitter.com/leo/status/2",
        vec![],
    )
    .await;
    fake.post_message(
        feed,
        Author::webhook("feed"),
        "[Twitter] @AcmeShop: we are on it https://twitter.com/AcmeShop/status/3",
        vec![],
    )
    .await;
    // A scrape reads the database before the process's counters, so "opened 2" can come with
    // a backlog read just before the second case was stored: wait for its deliveries too.
    eventually("both are handled", || async {
        let (_, text) = get(addr, "/metrics").await;
        text.contains("carebot_mentions_total{outcome=\"opened\"} 2")
            && text.contains("carebot_mentions_total{outcome=\"ignored\"} 1")
            && text.contains("carebot_outbox_backlog 0")
            && value(&text, "carebot_deliveries_total") >= 4.0
    })
    .await;

    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "# TYPE carebot_mentions counter",
        "carebot_mentions_total{outcome=\"opened\"} 2",
        "carebot_mentions_total{outcome=\"ignored\"} 1",
        "carebot_discord_server_errors_total 1",
        "carebot_discord_rate_limited_total 1",
        "carebot_gateway_connected 1",
        "carebot_gateway_reconnects_total 0",
        "carebot_outbox_backlog 0",
        "carebot_outbox_oldest_age_seconds 0.0",
        "carebot_escalations_open 0",
        "carebot_timers_due 0",
        "carebot_sla_warnings_total 0",
        "carebot_sla_breaches_total 0",
        "# EOF",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
    let open: f64 = ["P1", "P2", "P3", "P4"]
        .iter()
        .map(|p| value(&text, &format!("carebot_open_cases{{priority=\"{p}\"}}")))
        .sum();
    assert_eq!(open, 2.0, "{text}");
    assert!(
        value(&text, "carebot_deliveries_total") >= 4.0,
        "two threads and two cards: {text}"
    );
    assert!(
        !text.contains(TOKEN) && !text.contains("sqlite://"),
        "no secrets or URLs: {text}"
    );
    assert_eq!(get(addr, "/nope").await.0, 404);

    // The gateway goes away: not healthy, though the database answers.
    running.stop_events().await;
    eventually("healthz is 503 without the gateway", || async {
        get(addr, "/healthz").await == (503, "gateway not connected\n".to_string())
    })
    .await;
    assert!(get(addr, "/metrics")
        .await
        .1
        .contains("carebot_gateway_connected 0"));
    running.stop().await;
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn healthz_is_503_when_the_database_does_not_answer() {
    let dir = std::env::temp_dir().join(format!("carebot-health-db-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = carebot::store::Store::connect(&format!("sqlite://{}", dir.join("d.db").display()))
        .await
        .unwrap();
    let health = carebot::metrics::Health {
        store: store.clone(),
        gateway: Arc::new(|| Box::pin(async { true })),
    };
    let (addr, server) = carebot::metrics::serve("127.0.0.1:0", health).await.unwrap();
    assert_eq!(get(addr, "/healthz").await, (200, "ok\n".to_string()));
    store.close().await;
    assert_eq!(
        get(addr, "/healthz").await,
        (503, "database not answering\n".to_string())
    );
    assert_eq!(get(addr, "/metrics").await.0, 503);
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
