//! `/customer forget` in Discord: admins only, after a confirmation button; the case card is
//! edited to say the content was removed.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use carebot::app::Engine;
use carebot::config::{Config, DiscordConfig, FeedChannelConfig, Secret};
use chrono::Utc;
use support::fake_discord::{Author, FakeDiscord};

const WAIT: Duration = Duration::from_secs(20);

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !f() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The text of an interaction's answer: the callback's content, else the edited original's.
async fn answer(fake: &FakeDiscord, id: u64) -> serde_json::Value {
    eventually("an answer with content", || {
        fake.interaction_responses(id)
            .iter()
            .any(|r| r["data"]["content"].is_string() || r["content"].is_string())
    })
    .await;
    fake.interaction_responses(id)
        .into_iter()
        .find(|r| r["data"]["content"].is_string() || r["content"].is_string())
        .unwrap()
}

fn content(r: &serde_json::Value) -> String {
    r["data"]["content"]
        .as_str()
        .or(r["content"].as_str())
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn an_admin_forgets_a_customer_after_confirming_and_the_card_says_so() {
    let fake = FakeDiscord::start().await;
    let feed = fake.add_channel("twitter-feed");
    let admin_role = fake.add_role("Care Admin");
    let agent_role = fake.add_role("Care Agent");
    let admin = fake.add_member("alex", &[admin_role]);
    let agent = fake.add_member("ana", &[agent_role]);
    let dir = std::env::temp_dir().join(format!("carebot-dforget-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}", dir.join("f.db").display());
    config.playbooks_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    config.discord = DiscordConfig {
        api_base: fake.api_base(),
        guild_id: Some(fake.guild_id()),
        feeds: vec![FeedChannelConfig {
            channel_id: feed,
            profiles: vec![],
        }],
        roles: BTreeMap::from([
            ("agent".to_string(), vec![agent_role]),
            ("admin".to_string(), vec![admin_role]),
        ]),
        token: Secret::new("forget-test-token"),
        ..DiscordConfig::default()
    };
    let engine = Arc::new(Engine::start(&config).await.unwrap());
    let running = carebot::discord::start(engine.clone(), &config.discord)
        .await
        .unwrap();
    fake.wait_until_ready(WAIT).await;

    fake.post_message(
        feed,
        Author::webhook("feed"),
        "[Twitter] @dana_travels: Flat tyre near exit 42 with the kids https://twitter.com/dana_travels/status/9",
        vec![],
    )
    .await;
    eventually("the card is posted", || {
        fake.threads().len() == 1 && {
            let thread: u64 = fake.threads()[0]["id"].as_str().unwrap().parse().unwrap();
            !fake.messages(thread).is_empty()
        }
    })
    .await;
    let thread: u64 = fake.threads()[0]["id"].as_str().unwrap().parse().unwrap();
    let card = fake.messages(thread)[0]["id"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();

    let refused = fake
        .slash_command(
            feed,
            agent,
            "customer",
            Some("forget"),
            vec![("handle", serde_json::json!("dana_travels"))],
        )
        .await;
    let refused = answer(&fake, refused).await;
    assert!(content(&refused).contains("needs the admin role"), "{refused}");
    assert_eq!(refused["data"]["flags"], 64, "ephemeral");

    let asked = fake
        .slash_command(
            feed,
            admin,
            "customer",
            Some("forget"),
            vec![("handle", serde_json::json!("@dana_travels"))],
        )
        .await;
    let asked = answer(&fake, asked).await;
    assert!(content(&asked).contains("cannot be undone"), "{asked}");
    let button = &asked["data"]["components"][0]["components"][0];
    assert_eq!(button["style"], 4, "a danger button");
    let custom_id = button["custom_id"].as_str().unwrap().to_string();
    let detail = engine
        .case_detail(carebot::domain::CaseId(1), Utc::now())
        .await
        .unwrap();
    assert_eq!(
        detail.customer.handle.as_str(),
        "dana_travels",
        "nothing happens before the confirmation"
    );

    let by_agent = fake.press_button(thread, card, agent, &custom_id).await;
    assert!(content(&answer(&fake, by_agent).await).contains("needs the admin role"));
    let confirmed = fake.press_button(thread, card, admin, &custom_id).await;
    let confirmed = answer(&fake, confirmed).await;
    assert!(content(&confirmed).contains("is now forgotten-1"), "{confirmed}");

    let detail = engine
        .case_detail(carebot::domain::CaseId(1), Utc::now())
        .await
        .unwrap();
    assert_eq!(detail.customer.handle.as_str(), "forgotten-1");
    assert!(detail
        .mentions
        .iter()
        .all(|m| m.text.is_empty() && m.url.is_none()));
    eventually("the card is edited to say the content was removed", || {
        let edited = fake.message(card).unwrap();
        let text = edited.to_string();
        text.contains("content removed") && !text.contains("dana_travels") && !text.contains("exit 42")
    })
    .await;
    let again = fake.press_button(thread, card, admin, &custom_id).await;
    assert!(content(&answer(&fake, again).await).contains("already forgotten"));
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
