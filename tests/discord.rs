//! The Discord adapter end to end: the real serenity client and carebot's REST dispatcher
//! against the fake Discord in `tests/support/fake_discord`, on a fresh database per test (a
//! SQLite file, or a PostgreSQL database with `CAREBOT_TEST_POSTGRES` set).
//!
//! Every test ends with [`TestBot::assert_clean`]: serenity logged no warning and dropped no
//! gateway payload, the fake accepted every request body (no 4xx except injected failures),
//! and no message the bot sent could ping anyone.
//!
//! Run with `RUST_LOG=carebot=debug cargo test --test discord -- --nocapture` to watch it.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use carebot::app::Engine;
use carebot::config::{Config, DiscordConfig, FeedChannelConfig, Secret};
use carebot::discord::Running;
use carebot::domain::escalation::EscalationStatus;
use carebot::domain::CaseId;
use carebot::store::{CaseFilter, EscalationFilter};
use chrono::Utc;
use serde_json::{json, Value};
use support::fake_discord::{
    logs, pings, Author, Failure, FakeDiscord, FakeDiscordOptions, RateLimits, RecordedRequest,
};

const WAIT: Duration = Duration::from_secs(10);

/// How late the fake's `wait_for_request` may notice a request (it polls every 5 ms).
const POLL_SLACK: Duration = Duration::from_millis(6);

const DANA: &str = "[Twitter] @dana_travels: Flat tyre on my rental on the way to a meeting, roadside says the tools are in the trunk https://twitter.com/dana_travels/status/1";

/// The fake Discord, carebot connected to it, and the people of the guild.
struct TestBot {
    fake: FakeDiscord,
    engine: Arc<Engine>,
    running: Option<Running>,
    config: Config,
    feed: u64,
    escalations: u64,
    /// Agents.
    alice: u64,
    bob: u64,
    /// A member without any carebot role.
    carol: u64,
    /// A supervisor, and the Discord role mapped to carebot's supervisor role.
    sam: u64,
    supervisor_role: u64,
    logs: logs::LogCapture,
    _dir: support::app::TempDir,
}

/// Starts the fake, then carebot on a fresh database with the shipped playbooks.
async fn spawn_bot() -> TestBot {
    spawn_bot_with(FakeDiscordOptions::default(), |_| {}).await
}

/// [`spawn_bot`] against a fake started with `options` (e.g. with rate limits), with the
/// config changed by `configure` before the bot starts.
async fn spawn_bot_with(options: FakeDiscordOptions, configure: impl FnOnce(&mut Config)) -> TestBot {
    let logs = logs::capture();
    let fake = FakeDiscord::start_with(options).await;
    let feed = fake.add_channel("social-feed");
    let escalations = fake.add_channel("escalations");
    let agent = fake.add_role("care-agent");
    let senior = fake.add_role("care-senior");
    let supervisor = fake.add_role("care-supervisor");
    let admin = fake.add_role("care-admin");
    let alice = fake.add_member("alice", &[agent]);
    let bob = fake.add_member("bob", &[agent]);
    let carol = fake.add_member("carol", &[]);
    let sam = fake.add_member("sam", &[supervisor]);
    let _ = (senior, admin);

    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("carebot-discord-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    let mut config = Config::default();
    let (url, db) = support::app::fresh_database(&dir, "carebot");
    config.database.url = url;
    config.playbooks_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    config.feed.brand_handles = vec!["AcmeShop".into()];
    config.discord = DiscordConfig {
        api_base: fake.api_base(),
        guild_id: Some(fake.guild_id()),
        feeds: vec![FeedChannelConfig {
            channel_id: feed,
            profiles: vec![],
        }],
        escalations_channel: Some(escalations),
        roles: BTreeMap::from([
            ("agent".to_string(), vec![agent]),
            ("senior".to_string(), vec![senior]),
            ("supervisor".to_string(), vec![supervisor]),
            ("admin".to_string(), vec![admin]),
        ]),
        token: Secret::new("test-token"),
        ..DiscordConfig::default()
    };
    configure(&mut config);
    let engine = Arc::new(Engine::start(&config).await.expect("engine starts"));
    let running = carebot::discord::start(engine.clone(), &config.discord)
        .await
        .expect("bot starts");
    fake.wait_until_ready(WAIT).await;
    let bot = TestBot {
        fake,
        engine,
        running: Some(running),
        config,
        feed,
        escalations,
        alice,
        bob,
        carol,
        sam,
        supervisor_role: supervisor,
        logs,
        _dir: support::app::TempDir(dir, db),
    };
    bot.wait_for_commands().await;
    bot
}

fn is_thread_creation(r: &RecordedRequest) -> bool {
    r.method == "POST" && r.path.ends_with("/threads")
}

/// True for every request whose body is a message the bot creates or edits.
fn is_message_body(r: &RecordedRequest) -> bool {
    let messages = r.path.starts_with("/channels/") && r.path.contains("/messages");
    let webhook = r.path.starts_with("/webhooks/");
    let callback = r.path.ends_with("/callback") && matches!(r.body["type"].as_u64(), Some(4 | 7));
    (messages && matches!(r.method.as_str(), "POST" | "PATCH") && !is_thread_creation(r))
        || (webhook && matches!(r.method.as_str(), "POST" | "PATCH"))
        || callback
}

fn field<'a>(embed: &'a Value, name: &str) -> Option<&'a str> {
    embed["fields"]
        .as_array()?
        .iter()
        .find(|f| f["name"] == name)
        .and_then(|f| f["value"].as_str())
}

/// A case card: a message with case buttons (the suggestions under it have Use buttons).
fn is_card(message: &Value) -> bool {
    components(message)
        .iter()
        .any(|b| b["custom_id"].as_str().is_some_and(|id| id.starts_with("case:")))
}

fn components(message: &Value) -> Vec<Value> {
    message["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn custom_ids(message: &Value) -> Vec<String> {
    components(message)
        .iter()
        .filter_map(|c| c["custom_id"].as_str().map(str::to_string))
        .collect()
}

/// The URL of the message's link button.
fn link_url(message: &Value) -> Option<String> {
    components(message)
        .iter()
        .find(|c| c["style"] == 5)
        .and_then(|c| c["url"].as_str().map(str::to_string))
}

/// True when every button with a custom id is greyed out.
fn buttons_disabled(message: &Value) -> bool {
    let buttons: Vec<Value> = components(message)
        .into_iter()
        .filter(|c| c.get("custom_id").is_some())
        .collect();
    !buttons.is_empty() && buttons.iter().all(|b| b["disabled"] == true)
}

impl TestBot {
    async fn wait_for_commands(&self) {
        let guild = self.fake.guild_id();
        self.fake
            .wait_for_request(
                |r| r.method == "PUT" && r.path.ends_with(&format!("/guilds/{guild}/commands")),
                WAIT,
            )
            .await;
        assert!(
            self.fake.commands().iter().any(|c| c["name"] == "case"),
            "slash commands registered: {}",
            self.fake.requests_summary()
        );
    }

    /// A webhook post in the feed channel; returns its message id.
    async fn post(&self, content: &str) -> u64 {
        self.fake
            .post_message(self.feed, Author::webhook("Social Feed"), content, vec![])
            .await
    }

    /// Waits until the thread started from `post` has the case card; returns the card.
    async fn wait_for_card(&self, post: u64) -> Value {
        self.fake
            .wait_for_request(
                |r| r.method == "POST" && r.path == format!("/channels/{post}/messages") && r.status == 200,
                WAIT,
            )
            .await
            .response
    }

    /// Waits until the outbox is empty (everything delivered).
    async fn wait_for_outbox_drained(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let pending = self.engine.store().undelivered_outbox(1).await.expect("outbox");
            if pending.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "outbox not drained: {pending:?}\nrequests:\n{}",
                self.fake.requests_summary()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn case_count(&self) -> usize {
        let mut tx = self.engine.store().read().await.expect("read");
        tx.list_cases(&CaseFilter::default()).await.expect("cases").len()
    }

    async fn case(&self, id: i64) -> carebot::domain::case::Case {
        let mut tx = self.engine.store().read().await.expect("read");
        tx.case(CaseId(id)).await.expect("case").expect("case exists")
    }

    /// Runs a slash command and returns the text of its (edited) ephemeral answer.
    async fn command(
        &self,
        channel: u64,
        user: u64,
        name: &str,
        sub: Option<&str>,
        options: Vec<(&str, Value)>,
    ) -> String {
        let id = self.fake.slash_command(channel, user, name, sub, options).await;
        self.answer(id).await
    }

    /// The deferred, ephemeral answer to an interaction, once edited with its content.
    async fn answer(&self, interaction: u64) -> String {
        let first = self.fake.wait_for_interaction_response(interaction, WAIT).await;
        assert_eq!(first["type"], json!(5), "acknowledged first (deferred): {first}");
        assert_eq!(first["data"]["flags"], json!(64), "ephemeral: {first}");
        let deadline = Instant::now() + WAIT;
        loop {
            let responses = self.fake.interaction_responses(interaction);
            if let Some(edit) = responses.get(1) {
                return edit["content"].as_str().unwrap_or("").to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no answer to interaction {interaction}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the bot; the database and the fake stay.
    async fn stop(&mut self) {
        self.running.take().expect("bot running").stop().await;
    }

    /// Starts a new bot (new engine, same database) against the same fake.
    async fn start_again(&mut self) {
        let engine = Arc::new(Engine::start(&self.config).await.expect("engine starts"));
        let ready_before = self.fake.gateway_identifies();
        let running = carebot::discord::start(engine.clone(), &self.config.discord)
            .await
            .expect("bot starts");
        self.fake.wait_until_ready_count(ready_before + 1, WAIT).await;
        self.engine = engine;
        self.running = Some(running);
    }

    /// What must hold after every test.
    fn assert_clean(&self) {
        self.assert_clean_allowing(&[]);
    }

    /// [`TestBot::assert_clean`], tolerating serenity warnings that contain one of `allowed`.
    fn assert_clean_allowing(&self, allowed: &[&str]) {
        let warnings: Vec<String> = self
            .logs
            .serenity_warnings()
            .into_iter()
            .filter(|w| !allowed.iter().any(|a| w.contains(a)))
            .collect();
        assert!(warnings.is_empty(), "serenity warned: {warnings:#?}");
        let dropped = self.logs.dropped_dispatches();
        assert!(dropped.is_empty(), "serenity dropped payloads: {dropped:#?}");
        self.fake.assert_gateway_frames_deserialise();
        let requests = self.fake.requests();
        let refused: Vec<String> = requests
            .iter()
            .filter(|r| (400..500).contains(&r.status) && r.status != 429)
            .map(|r| format!("{} -> {} {}\n  sent {}", r.line(), r.status, r.response, r.body))
            .collect();
        assert!(refused.is_empty(), "the fake refused: {refused:#?}");
        for r in requests.iter().filter(|r| is_message_body(r)) {
            let body = if r.path.ends_with("/callback") {
                &r.body["data"]
            } else {
                &r.body
            };
            let am = &body["allowed_mentions"];
            assert_eq!(am["parse"], json!([]), "{} parses mentions: {}", r.line(), r.body);
            // Only the ids listed ping, every listed id is mentioned in the content, and the
            // content mentions nobody else (customer text lives in embeds and never pings).
            let listed = |key: &str| -> Vec<String> {
                am[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|id| id.as_str().map(str::to_string))
                    .collect()
            };
            let pinged = pings(body);
            assert_eq!(
                pinged,
                (listed("users"), listed("roles")),
                "{} lists mentions its content does not make: {}",
                r.line(),
                r.body
            );
            if pinged != Default::default() {
                let mut unfiltered = body.clone();
                unfiltered["allowed_mentions"] = Value::Null;
                assert_eq!(
                    pings(&unfiltered),
                    pinged,
                    "{} mentions more than it pings: {}",
                    r.line(),
                    r.body
                );
            }
        }
    }

    async fn shutdown(self) {
        self.assert_clean();
        self.stop_quietly().await;
    }

    async fn stop_quietly(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }
}

#[tokio::test]
async fn a_feed_post_opens_a_case_with_a_thread_a_card_and_suggestions() {
    let bot = spawn_bot().await;
    let post = bot.post(DANA).await;

    let thread = bot
        .fake
        .wait_for_request(
            |r| r.method == "POST" && r.path == format!("/channels/{}/messages/{post}/threads", bot.feed),
            WAIT,
        )
        .await;
    let name = thread.body["name"].as_str().expect("thread name");
    assert!(name.starts_with("#1 @dana_travels"), "{name}");
    assert_eq!(thread.status, 201);

    let card = bot.wait_for_card(post).await;
    let embed = &card["embeds"][0];
    assert!(
        field(embed, "Customer").is_some_and(|c| c.contains("dana")),
        "{embed}"
    );
    assert!(field(embed, "Priority").is_some(), "{embed}");
    assert_eq!(field(embed, "Status"), Some("new"), "{embed}");
    assert_eq!(
        custom_ids(&card),
        [
            "case:claim:1",
            "case:suggest:1",
            "case:escalate:1",
            "case:resolve:1"
        ]
    );

    bot.wait_for_outbox_drained().await;
    let in_thread = bot.fake.messages(post);
    assert_eq!(in_thread.len(), 2, "card and suggestions: {in_thread:#?}");
    assert!(
        in_thread[1]["embeds"][0]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Suggested replies for case")),
        "{:#}",
        in_thread[1]
    );

    let (thread_ref, card_ref) = bot.engine.store().case_refs(CaseId(1)).await.expect("refs");
    assert_eq!(thread_ref, Some(post.to_string()));
    assert_eq!(card_ref, card["id"].as_str().map(str::to_string));
    assert_eq!(bot.case_count().await, 1);
    bot.shutdown().await;
}

#[tokio::test]
async fn a_second_post_by_the_same_customer_lands_in_the_same_thread_and_updates_the_card() {
    let bot = spawn_bot().await;
    let post = bot.post(DANA).await;
    let card = bot.wait_for_card(post).await;
    bot.wait_for_outbox_drained().await;
    let card_id = card["id"].as_str().expect("card id").to_string();

    let second = bot
        .post("[Twitter] @dana_travels: still waiting, 2 hours now https://twitter.com/dana_travels/status/2")
        .await;
    let edit = bot
        .fake
        .wait_for_request(
            |r| r.method == "PATCH" && r.path == format!("/channels/{post}/messages/{card_id}"),
            WAIT,
        )
        .await;
    assert_eq!(
        field(&edit.body["embeds"][0], "Mentions"),
        Some("2"),
        "{}",
        edit.body
    );
    bot.wait_for_outbox_drained().await;

    let in_thread = bot.fake.messages(post);
    assert_eq!(in_thread.len(), 3, "card, suggestions, the new mention");
    assert!(in_thread[2]["embeds"][0]["description"]
        .as_str()
        .is_some_and(|d| d.contains("still waiting")));
    assert_eq!(bot.case_count().await, 1);
    assert!(
        !bot.fake
            .requests()
            .iter()
            .any(|r| is_thread_creation(r) && r.path.contains(&second.to_string())),
        "no thread for the second post"
    );
    assert_eq!(bot.fake.threads().len(), 1);
    bot.shutdown().await;
}

#[tokio::test]
async fn agents_work_a_case_with_slash_commands_buttons_and_autocomplete() {
    let bot = spawn_bot().await;
    let post = bot.post(DANA).await;
    let card = bot.wait_for_card(post).await;
    bot.wait_for_outbox_drained().await;
    let card_id = card["id"].as_str().expect("card id").to_string();
    let thread = post;

    // Claim inside the case thread: the case is implied.
    let answer = bot
        .command(thread, bot.alice, "case", Some("claim"), vec![])
        .await;
    assert!(answer.contains("You now own case #1"), "{answer}");
    let edit = bot
        .fake
        .wait_for_request(
            |r| r.method == "PATCH" && r.path == format!("/channels/{thread}/messages/{card_id}"),
            WAIT,
        )
        .await;
    assert_eq!(
        field(&edit.body["embeds"][0], "Owner"),
        Some("alice"),
        "{}",
        edit.body
    );
    assert_eq!(
        field(&edit.body["embeds"][0], "Status"),
        Some("open"),
        "{}",
        edit.body
    );
    assert!(
        !custom_ids(&edit.body).contains(&"case:claim:1".to_string()),
        "a claimed case has no Claim button"
    );
    assert_eq!(bot.case(1).await.owner.map(|o| o.id), Some(bot.alice.to_string()));

    // A note with the case given as an option, from another channel.
    let answer = bot
        .command(
            bot.feed,
            bot.alice,
            "case",
            Some("note"),
            vec![("text", json!("called the rental desk")), ("case", json!("1"))],
        )
        .await;
    assert!(answer.contains("Note added to case #1"), "{answer}");
    bot.wait_for_outbox_drained().await;
    assert!(bot.fake.messages(thread).iter().any(|m| m["embeds"][0]["title"]
        .as_str()
        .is_some_and(|t| t.starts_with("Note by alice"))));

    let queue = bot.command(bot.feed, bot.bob, "queue", None, vec![]).await;
    assert!(queue.contains("Queue (unassigned): 0 case(s)"), "{queue}");
    let queue = bot
        .command(bot.feed, bot.alice, "queue", None, vec![("view", json!("mine"))])
        .await;
    assert!(
        queue.contains("1 case(s)") && queue.contains("@dana_travels"),
        "{queue}"
    );

    let suggest = bot.command(thread, bot.alice, "suggest", None, vec![]).await;
    assert!(suggest.contains("Suggestions for case #1"), "{suggest}");
    assert!(suggest.contains("score"), "{suggest}");

    // Bob presses Claim on the card: refused, naming the owner; nothing changes.
    let press = bot
        .fake
        .press_button(thread, card_id.parse().expect("id"), bot.bob, "case:claim:1")
        .await;
    let refusal = bot.answer(press).await;
    assert!(refusal.starts_with('✗'), "{refusal}");
    assert!(refusal.contains("already claimed by alice"), "{refusal}");
    assert_eq!(bot.case(1).await.owner.map(|o| o.name), Some("alice".to_string()));

    // The suggestions under the card have a Use button each; Alice uses the first one.
    let suggestions = bot
        .fake
        .messages(thread)
        .into_iter()
        .find(|m| custom_ids(m).contains(&"suggest:use:1:1".to_string()))
        .expect("the suggestions message has Use buttons");
    let suggestions_id: u64 = suggestions["id"].as_str().expect("id").parse().expect("id");
    let press = bot
        .fake
        .press_button(thread, suggestions_id, bot.alice, "suggest:use:1:1")
        .await;
    let used = bot.answer(press).await;
    assert!(
        used.contains("Using suggestion 1 (Roadside breakdown or rental car issue) on case #1"),
        "{used}"
    );
    // And re-categorises the case by slash command; a wrong id is refused.
    let moved = bot
        .command(
            thread,
            bot.alice,
            "case",
            Some("category"),
            vec![("playbook", json!("billing-dispute"))],
        )
        .await;
    assert!(moved.contains("Case #1 is now in `billing-dispute`"), "{moved}");
    assert_eq!(bot.case(1).await.category, "billing-dispute");
    let wrong = bot
        .command(
            thread,
            bot.alice,
            "case",
            Some("category"),
            vec![("playbook", json!("nope"))],
        )
        .await;
    assert!(
        wrong.starts_with('✗') && wrong.contains("there is no playbook") && wrong.contains("nope"),
        "{wrong}"
    );

    // Autocomplete of the case option.
    let ac = bot
        .fake
        .autocomplete(
            thread,
            bot.alice,
            "case",
            Some("show"),
            vec![("case", json!(""))],
            "case",
        )
        .await;
    let response = bot.fake.wait_for_interaction_response(ac, WAIT).await;
    assert_eq!(response["type"], json!(8));
    let choices = response["data"]["choices"].as_array().expect("choices");
    assert_eq!(choices.len(), 1, "{response}");
    assert_eq!(choices[0]["value"], json!("1"));
    assert!(choices[0]["name"]
        .as_str()
        .is_some_and(|n| n.contains("@dana_travels")));
    bot.shutdown().await;
}

#[tokio::test]
async fn a_member_without_a_carebot_role_is_refused_and_nothing_changes() {
    let bot = spawn_bot().await;
    let post = bot.post(DANA).await;
    bot.wait_for_card(post).await;
    bot.wait_for_outbox_drained().await;
    let before = bot.fake.requests().len();

    let answer = bot.command(post, bot.carol, "case", Some("claim"), vec![]).await;
    assert!(answer.starts_with('✗'), "{answer}");
    assert!(answer.contains("needs the agent role"), "{answer}");
    let note = bot
        .command(post, bot.carol, "case", Some("note"), vec![("text", json!("hi"))])
        .await;
    assert!(note.contains("needs the agent role"), "{note}");

    assert!(bot.case(1).await.owner.is_none());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after: Vec<String> = bot.fake.requests()[before..]
        .iter()
        .filter(|r| r.path.starts_with("/channels/"))
        .map(RecordedRequest::line)
        .collect();
    assert!(after.is_empty(), "nothing posted or edited: {after:#?}");
    bot.shutdown().await;
}

#[tokio::test]
async fn after_a_restart_backfill_processes_missed_posts_exactly_once() {
    let mut bot = spawn_bot().await;
    let first = bot.post(DANA).await;
    bot.wait_for_card(first).await;
    bot.wait_for_outbox_drained().await;
    bot.stop().await;

    let missed: Vec<u64> = (0..3)
        .map(|i| {
            bot.fake.post_message_offline(
                bot.feed,
                Author::webhook("Social Feed"),
                &format!(
                    "[Twitter] @offline_{i}: my order {i} never arrived https://twitter.com/offline_{i}/status/{i}"
                ),
                vec![],
            )
        })
        .collect();

    bot.start_again().await;
    for post in &missed {
        bot.wait_for_card(*post).await;
    }
    // A post that arrives live right after the restart (and is also in the history).
    let live = bot
        .post("[Twitter] @live_one: checkout is broken https://twitter.com/live_one/status/9")
        .await;
    bot.wait_for_card(live).await;
    bot.wait_for_outbox_drained().await;
    assert_eq!(bot.case_count().await, 5);

    // Another restart: everything is in the history now, nothing is processed twice.
    bot.stop().await;
    bot.start_again().await;
    let after = bot
        .post("[Twitter] @after_two: hello? https://twitter.com/after_two/status/10")
        .await;
    bot.wait_for_card(after).await;
    bot.wait_for_outbox_drained().await;
    assert_eq!(bot.case_count().await, 6);
    let threads: Vec<String> = bot
        .fake
        .requests()
        .iter()
        .filter(|r| is_thread_creation(r))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(threads.len(), 6, "{threads:#?}");
    assert_eq!(bot.fake.threads().len(), 6);
    for post in missed.iter().chain([&first, &live, &after]) {
        let cards = bot.fake.messages(*post).iter().filter(|m| is_card(m)).count();
        assert_eq!(cards, 1, "one card in the thread of {post}");
    }
    bot.shutdown().await;
}

#[tokio::test]
async fn posts_arriving_live_while_backfill_runs_are_neither_lost_nor_doubled() {
    let mut bot = spawn_bot().await;
    let first = bot.post(DANA).await;
    bot.wait_for_card(first).await;
    bot.wait_for_outbox_drained().await;
    bot.stop().await;
    let offline: Vec<u64> = (0..3)
        .map(|i| {
            bot.fake.post_message_offline(
                bot.feed,
                Author::webhook("Social Feed"),
                &format!("[Twitter] @quiet_{i}: where is my parcel https://twitter.com/quiet_{i}/status/{i}"),
                vec![],
            )
        })
        .collect();

    // Live posts the moment the new bot is READY, while its backfill is starting: each is
    // both on the gateway and in the channel history.
    let engine = Arc::new(Engine::start(&bot.config).await.expect("engine"));
    let readies = bot.fake.gateway_identifies();
    let running = carebot::discord::start(engine.clone(), &bot.config.discord)
        .await
        .expect("bot starts");
    bot.engine = engine;
    bot.running = Some(running);
    let deadline = Instant::now() + WAIT;
    while bot.fake.gateway_identifies() == readies {
        assert!(Instant::now() < deadline, "no IDENTIFY");
        tokio::task::yield_now().await;
    }
    let mut live = vec![];
    for i in 0..5 {
        live.push(
            bot.post(&format!(
                "[Twitter] @racer_{i}: app crashes on login https://twitter.com/racer_{i}/status/{i}"
            ))
            .await,
        );
    }
    for post in offline.iter().chain(&live) {
        bot.wait_for_card(*post).await;
    }
    bot.wait_for_outbox_drained().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(bot.case_count().await, 9);
    assert_eq!(
        bot.fake
            .requests()
            .iter()
            .filter(|r| is_thread_creation(r))
            .count(),
        9
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn posts_missed_while_the_gateway_session_was_lost_are_backfilled() {
    let bot = spawn_bot().await;
    let first = bot.post(DANA).await;
    bot.wait_for_card(first).await;
    bot.wait_for_outbox_drained().await;

    // The session is invalidated: posts made meanwhile never come on the gateway.
    bot.fake.invalidate_gateway_sessions().await;
    let mut missed = vec![];
    for i in 0..3 {
        missed.push(
            bot.post(&format!(
                "[Twitter] @gap_{i}: my booking vanished https://twitter.com/gap_{i}/status/{i}"
            ))
            .await,
        );
    }
    bot.fake.wait_until_ready_count(2, Duration::from_secs(20)).await;
    let live = bot
        .post("[Twitter] @after_gap: hello? https://twitter.com/after_gap/status/9")
        .await;
    for post in missed.iter().chain([&live]) {
        bot.wait_for_card(*post).await;
    }
    bot.wait_for_outbox_drained().await;
    assert_eq!(bot.case_count().await, 5);
    assert_eq!(
        bot.fake
            .requests()
            .iter()
            .filter(|r| is_thread_creation(r))
            .count(),
        5
    );
    // serenity restarts its shard runner on INVALID_SESSION and warns that the old runner did
    // not acknowledge the shutdown in time; that is serenity's own bookkeeping, not a payload.
    bot.assert_clean_allowing(&["Failed to cleanly shutdown shard"]);
    bot.stop_quietly().await;
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_without_duplicates() {
    let bot = spawn_bot().await;

    // Thread creation: one 429, then one 502.
    bot.fake.fail_next(
        r"^POST /channels/\d+/messages/\d+/threads$",
        1,
        Failure::RateLimited { retry_after: 0.3 },
    );
    let a = bot.post(DANA).await;
    let limited = bot
        .fake
        .wait_for_request(|r| is_thread_creation(r) && r.status == 429, WAIT)
        .await;
    let limited_seen = Instant::now();
    assert_eq!(limited.response["retry_after"], json!(0.3));
    bot.fake
        .wait_for_request(|r| is_thread_creation(r) && r.status == 201, WAIT)
        .await;
    // Both requests are seen by polling every few ms: the gap between them is at least
    // what we measure minus one poll.
    let waited = limited_seen.elapsed() + POLL_SLACK;
    assert!(
        waited >= Duration::from_millis(300),
        "retried after {waited:?}, before retry_after"
    );
    bot.wait_for_card(a).await;

    bot.fake.fail_next(
        r"^POST /channels/\d+/messages/\d+/threads$",
        1,
        Failure::Status(502),
    );
    let b = bot
        .post("[Twitter] @second_one: my refund is late https://twitter.com/second_one/status/2")
        .await;
    bot.wait_for_card(b).await;

    // The card POST in the thread: 429 then 502 then 500.
    bot.fake.fail_next(
        r"^POST /channels/\d+/messages$",
        1,
        Failure::RateLimited { retry_after: 0.3 },
    );
    bot.fake
        .fail_next(r"^POST /channels/\d+/messages$", 2, Failure::Status(502));
    let c = bot
        .post("[Twitter] @third_one: charged twice https://twitter.com/third_one/status/3")
        .await;
    let started = Instant::now();
    bot.wait_for_card(c).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    bot.wait_for_outbox_drained().await;

    assert_eq!(bot.case_count().await, 3);
    for post in [a, b, c] {
        let creations = bot
            .fake
            .requests()
            .iter()
            .filter(|r| {
                r.path == format!("/channels/{}/messages/{post}/threads", bot.feed) && r.status == 201
            })
            .count();
        assert_eq!(creations, 1, "one thread for {post}");
        let messages = bot.fake.messages(post);
        let cards = messages.iter().filter(|m| is_card(m)).count();
        assert_eq!(cards, 1, "one card for {post}");
        assert_eq!(messages.len(), 2, "card and suggestions for {post}");
    }
    let injected = bot
        .fake
        .requests()
        .iter()
        .filter(|r| r.status == 429 || r.status >= 500)
        .count();
    assert_eq!(injected, 5, "{}", bot.fake.requests_summary());
    bot.shutdown().await;
}

#[tokio::test]
async fn the_bots_own_posts_in_a_feed_channel_are_ignored() {
    let bot = spawn_bot().await;
    let own = bot
        .fake
        .post_message(
            bot.feed,
            Author::Me,
            "[Twitter] @someone_else: this looks like a mention but carebot wrote it",
            vec![],
        )
        .await;
    let post = bot.post(DANA).await;
    bot.wait_for_card(post).await;
    bot.wait_for_outbox_drained().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bot.case_count().await, 1);
    assert!(!bot
        .fake
        .requests()
        .iter()
        .any(|r| is_thread_creation(r) && r.path.contains(&own.to_string())));
    bot.shutdown().await;
}

#[tokio::test]
async fn customer_text_never_pings_and_is_markdown_escaped() {
    let bot = spawn_bot().await;
    let role = bot.fake.add_role("everyone-in-care");
    let post = bot
        .post(&format!(
            "[Twitter] @loud_one: @everyone <@&{role}> **WAKE UP** my _refund_ is late https://twitter.com/loud_one/status/5"
        ))
        .await;
    let card = bot.wait_for_card(post).await;
    bot.wait_for_outbox_drained().await;
    let description = card["embeds"][0]["description"].as_str().expect("description");
    assert!(!description.contains("@everyone"), "{description}");
    assert!(description.contains("@\u{200b}everyone"), "{description}");
    assert!(!description.contains(&format!("<@&{role}>")), "{description}");
    assert!(description.contains("\\*\\*WAKE UP\\*\\*"), "{description}");
    assert!(description.contains("\\_refund\\_"), "{description}");

    // A second post merges into the thread as a message: escaped too.
    bot.post("[Twitter] @loud_one: @here ||spoiler|| hello? https://twitter.com/loud_one/status/6")
        .await;
    bot.wait_for_request_count(|r| r.method == "PATCH", 1).await;
    bot.wait_for_outbox_drained().await;
    let merged = bot.fake.messages(post).last().cloned().expect("merged mention");
    let body = merged["embeds"][0]["description"].as_str().expect("description");
    assert!(
        body.contains("@\u{200b}here") && body.contains("\\|\\|spoiler\\|\\|"),
        "{body}"
    );

    let sent = bot.fake.requests().into_iter().filter(is_message_body).count();
    assert!(sent >= 4, "checked {sent} message bodies");
    bot.shutdown().await;
}

impl TestBot {
    async fn wait_for_request_count(&self, pred: impl Fn(&RecordedRequest) -> bool, n: usize) {
        let deadline = Instant::now() + WAIT;
        while self.fake.requests().iter().filter(|r| pred(r)).count() < n {
            assert!(Instant::now() < deadline, "{}", self.fake.requests_summary());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test]
async fn escalating_posts_the_packet_to_the_escalations_channel_and_the_card_shows_it() {
    let bot = spawn_bot().await;
    let post = bot.post(DANA).await;
    let card = bot.wait_for_card(post).await;
    bot.wait_for_outbox_drained().await;
    let card_id = card["id"].as_str().expect("card id").to_string();
    bot.command(post, bot.alice, "case", Some("claim"), vec![]).await;
    bot.command(
        post,
        bot.alice,
        "case",
        Some("note"),
        vec![("text", json!("rep brought a new car"))],
    )
    .await;

    let answer = bot
        .command(
            post,
            bot.alice,
            "case",
            Some("escalate"),
            vec![(
                "reason",
                json!("waive the tyre charge, policy says bill the customer"),
            )],
        )
        .await;
    assert!(!answer.starts_with('✗'), "{answer}");
    let packet = bot.wait_for_packet().await;
    let embed = &packet.body["embeds"][0];
    assert!(
        embed["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("E1 · case \\#1 · ")),
        "{embed}"
    );
    assert!(embed["description"]
        .as_str()
        .is_some_and(|d| d.contains("waive the tyre charge")));
    assert!(field(embed, "What the customer said").is_some_and(|s| s.contains("Flat tyre")));
    assert!(field(embed, "Notes").is_some_and(|s| s.contains("rep brought a new car")));
    assert_eq!(field(embed, "Requested by"), Some("alice (agent)"));
    assert_eq!(
        custom_ids(&packet.body),
        ["esc:approve:1", "esc:deny:1", "esc:ask:1"]
    );
    assert_eq!(
        link_url(&packet.body),
        Some(format!(
            "https://discord.com/channels/{}/{post}",
            bot.fake.guild_id()
        )),
        "a link to the case thread: {}",
        packet.body
    );
    assert_eq!(bot.fake.messages(bot.escalations).len(), 1);

    bot.wait_for_outbox_drained().await;
    let card = bot.fake.message(card_id.parse().expect("id")).expect("card");
    assert_eq!(field(&card["embeds"][0], "Status"), Some("escalated"), "{card}");
    bot.shutdown().await;
}

#[tokio::test]
async fn every_request_body_passes_the_fakes_checks() {
    let bot = spawn_bot().await;
    // A long post with odd Unicode and markdown: the card must still fit Discord's limits.
    let long = format!(
        "[Twitter] @long_story: {} ``` ]]]] ## 🚗💥 \u{202e}reversed https://twitter.com/long_story/status/7",
        "my car broke down again and again ".repeat(400)
    );
    let a = bot.post(&long).await;
    let b = bot.post(DANA).await;
    bot.wait_for_card(a).await;
    bot.wait_for_card(b).await;
    bot.wait_for_outbox_drained().await;
    bot.command(a, bot.alice, "case", Some("show"), vec![]).await;
    bot.command(a, bot.alice, "case", Some("claim"), vec![]).await;
    bot.command(
        a,
        bot.alice,
        "case",
        Some("tag"),
        vec![("tags", json!("roadside, repeat"))],
    )
    .await;
    bot.command(
        a,
        bot.alice,
        "case",
        Some("priority"),
        vec![("level", json!("P1"))],
    )
    .await;
    bot.command(
        a,
        bot.alice,
        "case",
        Some("resolve"),
        vec![("note", json!("new car"))],
    )
    .await;
    bot.command(a, bot.alice, "playbook", Some("list"), vec![]).await;
    bot.command(
        bot.feed,
        bot.alice,
        "case",
        Some("claim"),
        vec![("case", json!("99"))],
    )
    .await;
    bot.wait_for_outbox_drained().await;
    let requests = bot.fake.requests();
    assert!(requests.iter().filter(|r| is_message_body(r)).count() >= 10);
    bot.shutdown().await;
}

impl TestBot {
    /// Waits for the first escalation packet posted to the escalations channel.
    async fn wait_for_packet(&self) -> RecordedRequest {
        let path = format!("/channels/{}/messages", self.escalations);
        self.fake
            .wait_for_request(|r| r.method == "POST" && r.path == path && r.status == 200, WAIT)
            .await
    }

    /// Dana's case, claimed by alice, who offers a fee waiver above her limit: E1 is opened.
    /// Returns the case thread, the card's id and the packet's id, everything delivered.
    async fn blocked_offer(&self) -> (u64, u64, u64) {
        let post = self.post(DANA).await;
        let card = self.wait_for_card(post).await;
        self.wait_for_outbox_drained().await;
        self.command(post, self.alice, "case", Some("claim"), vec![])
            .await;
        let answer = self
            .command(
                post,
                self.alice,
                "case",
                Some("offer"),
                vec![
                    ("remedy", json!("fee_waiver")),
                    ("amount", json!("180")),
                    ("note", json!("the tow was on us too")),
                ],
            )
            .await;
        assert!(answer.contains("escalation E1 opened for 180 USD"), "{answer}");
        let packet = self.wait_for_packet().await;
        self.wait_for_outbox_drained().await;
        let id = |v: &Value| v["id"].as_str().and_then(|i| i.parse().ok()).expect("message id");
        (post, id(&card), id(&packet.response))
    }

    /// The answer to an interaction that was answered at once (callback type 4), ephemerally.
    async fn immediate_answer(&self, interaction: u64) -> Value {
        let first = self.fake.wait_for_interaction_response(interaction, WAIT).await;
        assert_eq!(first["type"], json!(4), "answered at once: {first}");
        assert_eq!(first["data"]["flags"], json!(64), "ephemeral: {first}");
        first["data"].clone()
    }

    async fn escalation_status(&self) -> EscalationStatus {
        let all = self
            .engine
            .escalations(&EscalationFilter::default())
            .await
            .expect("escalations");
        all.first().expect("an escalation").status
    }

    /// The bodies the bot posted into a channel or thread whose embed title starts with `title`.
    fn posted(&self, channel: u64, title: &str) -> Vec<Value> {
        let path = format!("/channels/{channel}/messages");
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == path && r.status == 200)
            .filter(|r| {
                r.body["embeds"][0]["title"]
                    .as_str()
                    .is_some_and(|t| t.starts_with(title))
            })
            .map(|r| r.body)
            .collect()
    }

    /// The last edit of a message the bot made.
    fn last_edit(&self, channel: u64, message: u64) -> Option<Value> {
        let path = format!("/channels/{channel}/messages/{message}");
        self.fake
            .requests()
            .into_iter()
            .rev()
            .find(|r| r.method == "PATCH" && r.path == path && r.status == 200)
            .map(|r| r.body)
    }
}

#[tokio::test]
async fn a_blocked_offer_goes_to_a_supervisor_who_approves_it_in_one_click() {
    let bot = spawn_bot().await;
    let (thread, card, packet) = bot.blocked_offer().await;

    let posted = bot.fake.message(packet).expect("packet");
    let embed = &posted["embeds"][0];
    assert!(
        embed["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("E1 · case \\#1 · Waive tyre and towing charges: 180 USD")),
        "{embed}"
    );
    assert!(
        field(embed, "Blocked by").is_some_and(|b| b.contains("120 USD")),
        "{embed}"
    );
    assert_eq!(custom_ids(&posted), ["esc:approve:1", "esc:deny:1", "esc:ask:1"]);
    let labels: Vec<Value> = components(&posted)
        .iter()
        .filter(|c| c.get("custom_id").is_some())
        .map(|c| c["label"].clone())
        .collect();
    assert_eq!(labels, [json!("Approve"), json!("Deny"), json!("Need info")]);
    let open = bot
        .command(bot.escalations, bot.sam, "escalations", None, vec![])
        .await;
    assert!(open.contains("E1"), "{open}");

    // Bob is an agent: his click is refused and nothing changes.
    let before = bot.fake.requests().len();
    let press = bot
        .fake
        .press_button(bot.escalations, packet, bot.bob, "esc:approve:1")
        .await;
    let refusal = bot.answer(press).await;
    assert!(refusal.starts_with('✗'), "{refusal}");
    assert!(refusal.contains("needs a supervisor"), "{refusal}");
    bot.wait_for_outbox_drained().await;
    assert_eq!(bot.escalation_status().await, EscalationStatus::Open);
    let changed: Vec<String> = bot.fake.requests()[before..]
        .iter()
        .filter(|r| r.path.starts_with("/channels/"))
        .map(RecordedRequest::line)
        .collect();
    assert!(changed.is_empty(), "nothing posted or edited: {changed:#?}");

    // Sam approves with one click.
    let press = bot
        .fake
        .press_button(bot.escalations, packet, bot.sam, "esc:approve:1")
        .await;
    let answer = bot.answer(press).await;
    assert!(answer.contains("E1 approved by sam"), "{answer}");
    bot.wait_for_outbox_drained().await;
    assert_eq!(bot.escalation_status().await, EscalationStatus::Approved);

    // The thread hears it, pinging only the requester.
    let told = bot.posted(thread, "E1 approved by sam");
    assert_eq!(told.len(), 1, "{}", bot.fake.requests_summary());
    let told = &told[0];
    assert_eq!(told["content"], json!(format!("<@{}>", bot.alice)), "{told}");
    assert_eq!(
        told["allowed_mentions"]["users"],
        json!([bot.alice.to_string()]),
        "{told}"
    );
    assert!(
        told["allowed_mentions"]["roles"]
            .as_array()
            .is_none_or(|r| r.is_empty()),
        "{told}"
    );
    assert_eq!(pings(told), (vec![bot.alice.to_string()], vec![]));

    // The packet shows the decision, its buttons greyed out; the card shows the grant.
    let edit = bot.last_edit(bot.escalations, packet).expect("packet edited");
    assert!(buttons_disabled(&edit), "{edit}");
    assert!(
        field(&edit["embeds"][0], "Status").is_some_and(|s| s.starts_with("approved by sam")),
        "{edit}"
    );
    assert!(link_url(&edit).is_some(), "{edit}");
    let card = bot.fake.message(card).expect("card");
    assert!(
        field(&card["embeds"][0], "Granted").is_some_and(|g| g.contains("180 USD")),
        "{card}"
    );
    assert_eq!(field(&card["embeds"][0], "Status"), Some("open"), "{card}");
    bot.shutdown().await;
}

#[tokio::test]
async fn a_supervisor_denies_through_a_modal_and_a_form_sent_after_the_decision_is_refused() {
    let bot = spawn_bot().await;
    let (thread, _, packet) = bot.blocked_offer().await;

    // Alice may not decide her own request: refused at once, no modal.
    let press = bot
        .fake
        .press_button(bot.escalations, packet, bot.alice, "esc:deny:1")
        .await;
    let refusal = bot.immediate_answer(press).await;
    assert!(
        refusal["content"]
            .as_str()
            .is_some_and(|c| c.starts_with('✗') && c.contains("E1")),
        "{refusal}"
    );
    assert_eq!(bot.fake.modal_opened(press), None);

    // Sam opens Need info, then Deny: each opens its modal.
    let ask = bot
        .fake
        .press_button(bot.escalations, packet, bot.sam, "esc:ask:1")
        .await;
    let deny = bot
        .fake
        .press_button(bot.escalations, packet, bot.sam, "esc:deny:1")
        .await;
    for (press, custom_id, input) in [(ask, "esc:ask:1", "question"), (deny, "esc:deny:1", "reason")] {
        bot.fake.wait_for_interaction_response(press, WAIT).await;
        let modal = bot.fake.modal_opened(press).expect("a modal");
        assert_eq!(modal["custom_id"], json!(custom_id), "{modal}");
        let text = &modal["components"][0]["components"][0];
        assert_eq!(text["custom_id"], json!(input), "{modal}");
        assert_eq!(text["style"], json!(2), "paragraph: {modal}");
        assert_eq!(text["required"], json!(true), "{modal}");
        assert_eq!(text["max_length"], json!(1000), "{modal}");
    }

    let submit = bot
        .fake
        .submit_modal(
            bot.escalations,
            bot.sam,
            Some(packet),
            "esc:deny:1",
            &[("reason", "the tow was billed by the partner, not us")],
        )
        .await;
    let answer = bot.answer(submit).await;
    assert!(answer.contains("E1 denied by sam"), "{answer}");
    bot.wait_for_outbox_drained().await;
    let told = bot.posted(thread, "E1 denied by sam");
    assert_eq!(told.len(), 1, "{}", bot.fake.requests_summary());
    assert!(
        told[0]["embeds"][0]["description"]
            .as_str()
            .is_some_and(|d| d.contains("billed by the partner")),
        "{}",
        told[0]
    );
    assert_eq!(pings(&told[0]), (vec![bot.alice.to_string()], vec![]));
    let edit = bot.last_edit(bot.escalations, packet).expect("packet edited");
    assert!(buttons_disabled(&edit), "{edit}");

    // The Need info form, sent after the decision: refused, nothing changes.
    let before = bot.fake.requests().len();
    let late = bot
        .fake
        .submit_modal(
            bot.escalations,
            bot.sam,
            Some(packet),
            "esc:ask:1",
            &[("question", "was the tow on the I-90?")],
        )
        .await;
    let refusal = bot.answer(late).await;
    assert!(
        refusal.starts_with('✗') && refusal.contains("E1 is already denied by sam at"),
        "{refusal}"
    );
    bot.wait_for_outbox_drained().await;
    assert_eq!(bot.escalation_status().await, EscalationStatus::Denied);
    let changed: Vec<String> = bot.fake.requests()[before..]
        .iter()
        .filter(|r| r.path.starts_with("/channels/"))
        .map(RecordedRequest::line)
        .collect();
    assert!(changed.is_empty(), "nothing posted or edited: {changed:#?}");
    bot.shutdown().await;
}

#[tokio::test]
async fn the_cards_escalate_button_asks_for_the_reason_in_a_modal() {
    let bot = spawn_bot().await;
    let post = bot.post(DANA).await;
    let card = bot.wait_for_card(post).await;
    bot.wait_for_outbox_drained().await;
    let card: u64 = card["id"].as_str().and_then(|i| i.parse().ok()).expect("card id");

    // Carol has no carebot role: told at once, no modal.
    let press = bot
        .fake
        .press_button(post, card, bot.carol, "case:escalate:1")
        .await;
    let refusal = bot.immediate_answer(press).await;
    assert!(
        refusal["content"]
            .as_str()
            .is_some_and(|c| c.contains("needs the agent role")),
        "{refusal}"
    );

    let press = bot
        .fake
        .press_button(post, card, bot.alice, "case:escalate:1")
        .await;
    bot.fake.wait_for_interaction_response(press, WAIT).await;
    let modal = bot.fake.modal_opened(press).expect("a modal");
    assert_eq!(modal["custom_id"], json!("case:escalate:1"), "{modal}");
    assert_eq!(
        modal["components"][0]["components"][0]["custom_id"],
        json!("reason")
    );
    let submit = bot
        .fake
        .submit_modal(
            post,
            bot.alice,
            Some(card),
            "case:escalate:1",
            &[("reason", "customer wants the whole rental refunded")],
        )
        .await;
    let answer = bot.answer(submit).await;
    assert!(answer.contains("escalated as E1"), "{answer}");
    let packet = bot.wait_for_packet().await;
    assert!(
        packet.body["embeds"][0]["description"]
            .as_str()
            .is_some_and(|d| d.contains("whole rental refunded")),
        "{}",
        packet.body
    );
    bot.wait_for_outbox_drained().await;
    assert_eq!(bot.case(1).await.status.as_str(), "escalated");
    bot.shutdown().await;
}

#[tokio::test]
async fn the_reminder_pings_only_the_supervisor_role() {
    let bot = spawn_bot().await;
    bot.blocked_offer().await;

    // Halfway to the 2 h deadline: the first reminder (timers are rows; no sleeping).
    let report = bot
        .engine
        .fire_due_timers(Utc::now() + chrono::Duration::hours(1))
        .await
        .expect("sweep");
    // The escalation's first reminder, and the case's first-response SLA warning and breach.
    assert_eq!(report.fired, 3, "{report:?}");
    bot.wait_for_outbox_drained().await;
    let reminders = bot.posted(bot.escalations, "Reminder: E1");
    assert_eq!(reminders.len(), 1, "{}", bot.fake.requests_summary());
    let reminder = &reminders[0];
    let role = bot.supervisor_role.to_string();
    assert_eq!(reminder["content"], json!(format!("<@&{role}>")), "{reminder}");
    assert_eq!(reminder["allowed_mentions"]["roles"], json!([role]), "{reminder}");
    assert!(
        reminder["allowed_mentions"]["users"]
            .as_array()
            .is_none_or(|u| u.is_empty()),
        "{reminder}"
    );
    assert_eq!(pings(reminder), (vec![], vec![role]));
    assert!(link_url(reminder).is_some(), "{reminder}");
    bot.shutdown().await;
}

#[tokio::test]
async fn autocomplete_offers_the_playbooks_remedies_and_the_open_escalations() {
    let bot = spawn_bot().await;
    let post = bot.post(DANA).await;
    bot.wait_for_card(post).await;
    bot.wait_for_outbox_drained().await;

    let remedies = |user: u64, typed: &'static str| {
        let fake = bot.fake.clone();
        async move {
            let ac = fake
                .autocomplete(
                    post,
                    user,
                    "case",
                    Some("offer"),
                    vec![("remedy", json!(typed))],
                    "remedy",
                )
                .await;
            let response = fake.wait_for_interaction_response(ac, WAIT).await;
            assert_eq!(response["type"], json!(8), "{response}");
            response["data"]["choices"].as_array().cloned().expect("choices")
        }
    };
    let choices = remedies(bot.alice, "").await;
    let values: Vec<&str> = choices.iter().filter_map(|c| c["value"].as_str()).collect();
    assert_eq!(values, ["replacement", "fee_waiver", "credit"]);
    assert_eq!(
        choices[1]["name"],
        json!("fee_waiver — Waive tyre and towing charges (USD, you may grant 120)")
    );
    // What a supervisor may grant, and only what matches the typing.
    let choices = remedies(bot.sam, "fee").await;
    assert_eq!(choices.len(), 1, "{choices:?}");
    assert_eq!(
        choices[0]["name"],
        json!("fee_waiver — Waive tyre and towing charges (USD, you may grant 600)")
    );

    bot.command(post, bot.alice, "case", Some("claim"), vec![]).await;
    bot.command(
        post,
        bot.alice,
        "case",
        Some("offer"),
        vec![("remedy", json!("fee_waiver")), ("amount", json!("180"))],
    )
    .await;
    let ac = bot
        .fake
        .autocomplete(
            bot.escalations,
            bot.sam,
            "escalation",
            Some("approve"),
            vec![("id", json!("e"))],
            "id",
        )
        .await;
    let response = bot.fake.wait_for_interaction_response(ac, WAIT).await;
    let choices = response["data"]["choices"].as_array().expect("choices");
    assert_eq!(choices.len(), 1, "{response}");
    assert_eq!(choices[0]["value"], json!("E1"));
    assert!(
        choices[0]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("E1 · case #1 · fee_waiver 180 USD · due ")),
        "{response}"
    );

    // The slash command decides for part of the amount.
    let answer = bot
        .command(
            bot.escalations,
            bot.sam,
            "escalation",
            Some("approve"),
            vec![
                ("id", json!("E1")),
                ("amount", json!("150")),
                ("note", json!("the tow cap")),
            ],
        )
        .await;
    assert!(answer.contains("for 150 USD (partial)"), "{answer}");
    let show = bot
        .command(
            bot.escalations,
            bot.sam,
            "escalation",
            Some("show"),
            vec![("id", json!("E1"))],
        )
        .await;
    assert!(show.contains("approved by sam"), "{show}");
    bot.wait_for_outbox_drained().await;
    bot.shutdown().await;
}

// Rate limits: the fake with Discord-like buckets, and carebot waiting before it is refused.

/// The shortest time `n` requests through one bucket of `limit` per `window` take from the
/// first to the last: `limit` go at once, then `limit` more as each new window starts.
fn bucket_time(n: usize, limit: u32, window: Duration) -> Duration {
    window * n.div_ceil(limit as usize).saturating_sub(1) as u32
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header in {:?}", response.headers()))
}

#[tokio::test]
async fn the_fakes_buckets_answer_like_discord() {
    let limits = RateLimits {
        global_limit: 8,
        global_window: Duration::from_millis(400),
        route_limit: 3,
        route_window: Duration::from_millis(400),
        other_limit: 50,
    };
    let fake = FakeDiscord::start_with(FakeDiscordOptions {
        rate_limits: Some(limits),
        ..FakeDiscordOptions::default()
    })
    .await;
    let (one, two) = (fake.add_channel("one"), fake.add_channel("two"));
    let http = reqwest::Client::new();
    let post = |channel: u64| {
        http.post(format!("{}/api/v10/channels/{channel}/messages", fake.api_base()))
            .header("Authorization", "Bot test")
            .json(&json!({"content": "hello"}))
            .send()
    };

    // Three messages in a channel count the bucket down, with Discord's headers.
    let mut bucket = None;
    for remaining in ["2", "1", "0"] {
        let answer = post(one).await.expect("answer");
        assert_eq!(answer.status(), 200);
        assert_eq!(header(&answer, "x-ratelimit-limit"), "3");
        assert_eq!(header(&answer, "x-ratelimit-remaining"), remaining);
        let reset_after: f64 = header(&answer, "x-ratelimit-reset-after")
            .parse()
            .expect("seconds");
        assert!(reset_after > 0.0 && reset_after <= 0.4, "{reset_after}");
        let reset: f64 = header(&answer, "x-ratelimit-reset").parse().expect("epoch");
        assert!(reset > 1.7e9, "{reset}");
        let id = header(&answer, "x-ratelimit-bucket").to_string();
        assert_eq!(bucket.get_or_insert(id.clone()), &id, "one bucket id");
    }
    // The fourth is refused, for this bucket only.
    let refused = post(one).await.expect("answer");
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "x-ratelimit-scope"), "user");
    assert_eq!(header(&refused, "x-ratelimit-remaining"), "0");
    assert!(header(&refused, "retry-after").parse::<u64>().is_ok());
    assert!(refused.headers().get("x-ratelimit-global").is_none());
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["global"], json!(false));
    assert_eq!(body["message"], json!("You are being rate limited."));
    let retry_after = body["retry_after"].as_f64().expect("retry_after");
    assert!(retry_after > 0.0 && retry_after <= 0.4, "{body}");
    // Another channel has its own bucket, under the same id.
    let other = post(two).await.expect("answer");
    assert_eq!(other.status(), 200);
    assert_eq!(
        header(&other, "x-ratelimit-bucket"),
        bucket.as_deref().expect("bucket")
    );
    assert_eq!(header(&other, "x-ratelimit-remaining"), "2");

    // Four requests counted so far (the refused one is not): four more fit the global limit.
    for _ in 0..4 {
        let answer = http
            .get(format!("{}/api/v10/channels/{two}", fake.api_base()))
            .header("Authorization", "Bot test")
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status(), 200);
    }
    let global = post(two).await.expect("answer");
    assert_eq!(global.status(), 429);
    assert_eq!(header(&global, "x-ratelimit-global"), "true");
    assert_eq!(header(&global, "x-ratelimit-scope"), "global");
    let body: Value = global.json().await.expect("json");
    assert_eq!(body["global"], json!(true), "{body}");
    let wait = Duration::from_secs_f64(body["retry_after"].as_f64().expect("retry_after"));
    tokio::time::sleep(wait).await;
    assert_eq!(post(two).await.expect("answer").status(), 200);

    let stats = fake.rate_limit_stats();
    assert_eq!(
        (stats.requests, stats.route_refused, stats.global_refused),
        (11, 1, 1)
    );
}

#[tokio::test]
async fn the_rest_client_waits_for_a_used_up_bucket_instead_of_being_refused() {
    use carebot::discord::{Rest, RestError};
    let window = Duration::from_millis(300);
    let fake = FakeDiscord::start_with(FakeDiscordOptions {
        rate_limits: Some(RateLimits {
            route_limit: 5,
            other_limit: 2,
            ..RateLimits::with_route_window(window)
        }),
        ..FakeDiscordOptions::default()
    })
    .await;
    let channel = fake.add_channel("feed");
    let rest = Rest::new(&fake.api_base(), Secret::new("test-token"));
    let path = format!("/channels/{channel}/messages");

    let started = Instant::now();
    for n in 0..5 {
        let _: Value = rest
            .post(&path, &json!({"content": format!("message {n}")}))
            .await
            .expect("room in the bucket");
    }
    // The sixth is not sent: the caller learns until when to wait.
    let sent = fake.requests().len();
    let until = match rest.post::<_, Value>(&path, &json!({"content": "sixth"})).await {
        Err(RestError::Busy(wait)) => {
            assert!(!wait.global, "the channel's bucket, not the global limit");
            wait.until
        }
        other => panic!("expected to wait, got {other:?}"),
    };
    assert_eq!(fake.requests().len(), sent, "nothing was sent");
    let wait = until.saturating_duration_since(started);
    assert!(
        wait <= window + Duration::from_millis(50),
        "waits for the reset: {wait:?}"
    );
    // A clone shares what the client learnt.
    assert!(matches!(
        rest.clone()
            .post::<_, Value>(&path, &json!({"content": "sixth"}))
            .await,
        Err(RestError::Busy(_))
    ));
    tokio::time::sleep_until(until.into()).await;
    let _: Value = rest
        .post(&path, &json!({"content": "sixth"}))
        .await
        .expect("a new window");

    // History reads (backfill) wait by themselves: two per window here.
    let history = format!("/channels/{channel}/messages?limit=100");
    let started = Instant::now();
    for _ in 0..3 {
        let page: Vec<Value> = rest.get(&history).await.expect("history");
        assert_eq!(page.len(), 6);
    }
    assert!(started.elapsed() >= window / 2, "the third read waited");
    assert_eq!(
        fake.rate_limit_stats().refused(),
        0,
        "{}",
        fake.requests_summary()
    );
}

#[tokio::test]
async fn a_burst_of_feed_posts_is_delivered_at_the_pace_the_buckets_allow_without_being_refused() {
    const POSTS: usize = 300;
    // Discord's global limit (50/s: carebot knows no other), and a short window for message
    // and thread writes so that the burst takes seconds, not minutes. Then the global limit
    // binds (900 requests: 17 s; the 300 threads alone would need 5.9 s); with Discord's 5 s
    // windows the threads do (295 s: `cargo bench --bench discord_latency -- ratelimits`).
    let limits = RateLimits::with_route_window(Duration::from_millis(100));
    // Every post its own case, thread and card (no surge grouping them under an incident):
    // 300 threads started in the one feed channel, all in one bucket.
    let bot = spawn_bot_with(
        FakeDiscordOptions {
            rate_limits: Some(limits.clone()),
            ..FakeDiscordOptions::default()
        },
        |config| {
            config.surge.min_mentions = u32::MAX;
            // A test of pacing, timed: on SQLite whatever the backend of the other tests, so
            // the time measured is Discord's limits and not a database server's load.
            let file = std::env::temp_dir().join(format!("carebot-pacing-{}.db", std::process::id()));
            let _ = std::fs::remove_file(&file);
            config.database.url = format!("sqlite://{}", file.display());
        },
    )
    .await;
    let before = bot.fake.requests().len();
    let stats_before = bot.fake.rate_limit_stats();

    let started = Instant::now();
    let mut posts = Vec::with_capacity(POSTS);
    for n in 0..POSTS {
        let text = format!(
            "[Twitter] @burst_{n}: my parcel {n} never arrived https://twitter.com/burst_{n}/status/{n}"
        );
        posts.push(bot.post(&text).await);
    }
    let deadline = started + Duration::from_secs(120);
    loop {
        let drained = bot
            .engine
            .store()
            .undelivered_outbox(1)
            .await
            .expect("outbox")
            .is_empty();
        if drained && bot.case_count().await == POSTS {
            break;
        }
        assert!(Instant::now() < deadline, "burst not delivered in 120 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();

    // Everything delivered, each once: one thread and one card per post.
    let requests = bot.fake.requests().split_off(before);
    let mut threads: BTreeMap<u64, usize> = BTreeMap::new();
    for r in requests
        .iter()
        .filter(|r| is_thread_creation(r) && r.status == 201)
    {
        let post = r
            .path
            .split('/')
            .nth(4)
            .and_then(|p| p.parse().ok())
            .expect("post id");
        *threads.entry(post).or_default() += 1;
    }
    for post in &posts {
        assert_eq!(threads.get(post), Some(&1), "one thread for post {post}");
        let cards = bot.fake.messages(*post).iter().filter(|m| is_card(m)).count();
        assert_eq!(cards, 1, "one card for post {post}");
    }
    let mut nonces: Vec<&str> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.status == 200)
        .filter_map(|r| r.body["nonce"].as_str())
        .collect();
    let accepted = nonces.len();
    nonces.sort_unstable();
    nonces.dedup();
    assert_eq!(nonces.len(), accepted, "a message was posted twice");

    // Hardly refused, and close to the least time the limits allow: every thread is created
    // in the feed channel (one bucket), and all requests share the global limit.
    let stats = bot.fake.rate_limit_stats();
    let refused = stats.refused() - stats_before.refused();
    let sent = requests.len();
    let threads_bound = bucket_time(POSTS, limits.route_limit, limits.route_window);
    let global_bound = bucket_time(sent, limits.global_limit, limits.global_window);
    let bound = threads_bound.max(global_bound);
    println!(
        "burst of {POSTS} posts: {sent} requests, {refused} answered 429 ({:.2}%: {} global, {} route); \
         delivered in {:.2} s; the buckets allow {:.2} s (threads {:.2} s, global {:.2} s): {:.2}x",
        refused as f64 * 100.0 / sent as f64,
        stats.global_refused - stats_before.global_refused,
        stats.route_refused - stats_before.route_refused,
        elapsed.as_secs_f64(),
        bound.as_secs_f64(),
        threads_bound.as_secs_f64(),
        global_bound.as_secs_f64(),
        elapsed.as_secs_f64() / bound.as_secs_f64(),
    );
    assert!(refused * 100 < sent, "{refused} of {sent} requests answered 429");
    assert!(
        elapsed <= bound.mul_f64(1.5),
        "took {elapsed:?}; the buckets allow {bound:?}"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn a_thread_flooded_with_messages_does_not_hold_up_another_cases_card() {
    const FOLLOW_UPS: usize = 15;
    let window = Duration::from_secs(1);
    let bot = spawn_bot_with(
        FakeDiscordOptions {
            rate_limits: Some(RateLimits::with_route_window(window)),
            ..FakeDiscordOptions::default()
        },
        |_| {},
    )
    .await;
    let busy = bot.post(DANA).await;
    bot.wait_for_card(busy).await;
    bot.wait_for_outbox_drained().await;

    // Fifteen follow-ups, one after the other: fifteen messages and card edits for one
    // thread, which takes 5 of each per second.
    for n in 0..FOLLOW_UPS {
        bot.post(&format!(
            "[Twitter] @dana_travels: update {n}, still on the hard shoulder https://twitter.com/dana_travels/status/{}",
            100 + n
        ))
        .await;
        let deadline = Instant::now() + WAIT;
        while bot.case(1).await.mention_count < 2 + n as i64 {
            assert!(Instant::now() < deadline, "follow-up {n} not stored");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    // Another customer's post, queued behind all of them.
    let other = bot
        .post("[Twitter] @ben_orders: charged twice for one order https://twitter.com/ben_orders/status/7")
        .await;
    let posted = Instant::now();
    bot.wait_for_card(other).await;
    let latency = posted.elapsed();
    let updates_then = bot
        .fake
        .messages(busy)
        .iter()
        .filter(|m| {
            m["embeds"][0]["description"]
                .as_str()
                .is_some_and(|d| d.contains("update"))
        })
        .count();
    assert!(
        latency < window / 2,
        "the other case's card took {latency:?} behind a busy thread"
    );
    assert!(
        updates_then < FOLLOW_UPS,
        "the busy thread was still busy when the other card came ({updates_then} of {FOLLOW_UPS} delivered)"
    );

    // The flooded thread gets everything, in order.
    bot.wait_for_outbox_drained().await;
    let updates: Vec<usize> = bot
        .fake
        .messages(busy)
        .iter()
        .filter_map(|m| m["embeds"][0]["description"].as_str())
        .filter_map(|d| d.split("update ").nth(1))
        .filter_map(|rest| rest.split(',').next().and_then(|n| n.parse().ok()))
        .collect();
    assert_eq!(updates, (0..FOLLOW_UPS).collect::<Vec<_>>());
    let stats = bot.fake.rate_limit_stats();
    println!(
        "flooded thread: the other card in {:.0} ms with {updates_then} of {FOLLOW_UPS} follow-ups delivered; {} requests, {} answered 429",
        latency.as_secs_f64() * 1000.0,
        stats.requests,
        stats.refused()
    );
    assert_eq!(stats.refused(), 0, "{}", bot.fake.requests_summary());
    bot.shutdown().await;
}

#[tokio::test]
async fn the_weekly_digest_is_posted_to_the_digest_channel_with_its_chart_and_csv() {
    // The digest goes to the channel the escalations use too (the fake's channels exist only
    // once it runs; any channel of the guild will do).
    let bot = spawn_bot_with(FakeDiscordOptions::default(), |config| {
        config.discord.digest_channel = config.discord.escalations_channel;
        config.digest = Some(carebot::config::DigestConfig {
            weekday: "mon".into(),
            time: "09:00".into(),
            timezone: "Europe/Berlin".into(),
        });
    })
    .await;
    let digest_channel = bot.escalations;
    let post = bot.post(DANA).await;
    bot.wait_for_card(post).await;
    // Start-up scheduled the next Monday 09:00 Berlin (asking again schedules nothing new);
    // the engine is asked as if that time had come (the bot's own sweep would fire it then).
    let due = bot
        .engine
        .schedule_digest(Utc::now())
        .await
        .unwrap()
        .expect("the digest is scheduled");
    let then = due + chrono::Duration::seconds(1);
    let report = bot.engine.fire_due_timers(then).await.unwrap();
    assert!(report.fired >= 1);
    let is_digest = |r: &RecordedRequest| {
        r.method == "POST"
            && r.path == format!("/channels/{digest_channel}/messages")
            && !r.uploads.is_empty()
    };
    let request = bot.fake.wait_for_request(is_digest, WAIT).await;
    assert_eq!(request.status, 200, "{}", request.response);
    let names: Vec<(&str, &str)> = request
        .uploads
        .iter()
        .map(|u| (u.field.as_str(), u.filename.as_str()))
        .collect();
    assert_eq!(names, vec![("files[0]", "chart.png"), ("files[1]", "cases.csv")]);
    let chart = &request.uploads[0];
    assert_eq!(chart.content_type.as_deref(), Some("image/png"));
    assert!(
        chart.bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the chart is a PNG"
    );
    assert_eq!(u32::from_be_bytes(chart.bytes[16..20].try_into().unwrap()), 960);
    assert_eq!(u32::from_be_bytes(chart.bytes[20..24].try_into().unwrap()), 540);
    let csv = String::from_utf8(request.uploads[1].bytes.clone()).expect("the CSV is text");
    assert!(
        csv.starts_with("case,opened_at,status,priority,category,"),
        "{csv}"
    );
    let attachments = request.body["attachments"]
        .as_array()
        .expect("payload_json names the files");
    assert_eq!(attachments[0]["id"], 0);
    assert_eq!(attachments[0]["filename"], "chart.png");
    assert_eq!(attachments[1]["id"], 1);
    assert_eq!(attachments[1]["filename"], "cases.csv");
    let embed = &request.body["embeds"][0];
    assert!(embed["title"].as_str().unwrap().starts_with("Digest "), "{embed}");
    assert!(
        embed["description"].as_str().unwrap().contains("**Volume**"),
        "{embed}"
    );
    assert_eq!(embed["image"]["url"], "attachment://chart.png");
    assert_eq!(request.response["attachments"].as_array().map(Vec::len), Some(2));
    bot.wait_for_outbox_drained().await;

    // Once per period: firing again posts nothing more.
    bot.engine
        .fire_due_timers(then + chrono::Duration::seconds(1))
        .await
        .unwrap();
    bot.wait_for_outbox_drained().await;

    // `/digest` answers ephemerally with the same embed and files.
    let id = bot
        .fake
        .slash_command(bot.feed, bot.alice, "digest", None, vec![])
        .await;
    let first = bot.fake.wait_for_interaction_response(id, WAIT).await;
    assert_eq!(first["data"]["flags"], json!(64), "ephemeral: {first}");
    let edit = bot
        .fake
        .wait_for_request(
            |r| r.method == "PATCH" && r.path.ends_with("/messages/@original"),
            WAIT,
        )
        .await;
    assert_eq!(edit.status, 200, "{}", edit.response);
    assert_eq!(edit.files, vec!["chart.png".to_string(), "cases.csv".to_string()]);
    assert!(edit.body["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .contains("**Volume**"));
    let posted = bot.fake.requests().iter().filter(|r| is_digest(r)).count();
    assert_eq!(posted, 1);
    bot.shutdown().await;
}

#[tokio::test]
async fn a_surge_posts_one_alert_with_its_thread_and_the_cases_that_join_post_there() {
    // The escalations channel doubles as the queue channel here.
    let bot = spawn_bot_with(FakeDiscordOptions::default(), |c| {
        c.discord.queue_channel = c.discord.escalations_channel;
    })
    .await;
    for i in 0..10 {
        let post = format!(
            "[Twitter] @buyer{i}: checkout keeps failing at payment, site is down https://twitter.com/buyer{i}/status/{i}"
        );
        bot.post(&post).await;
    }
    let deadline = Instant::now() + WAIT;
    while bot.case_count().await < 10 {
        assert!(
            Instant::now() < deadline,
            "the posts became {} cases",
            bot.case_count().await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bot.wait_for_outbox_drained().await;
    let alerts = bot.posted(bot.escalations, "Surge I1: checkout");
    assert_eq!(alerts.len(), 1, "one alert");
    let alert_id = bot
        .fake
        .messages(bot.escalations)
        .iter()
        .find(|m| {
            m["embeds"][0]["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("Surge I1"))
        })
        .and_then(|m| m["id"].as_str().map(str::to_string))
        .expect("alert stored");
    // The incident's thread is started from the alert, and the cases that joined post there.
    let thread = bot
        .fake
        .wait_for_request(
            |r| {
                r.method == "POST"
                    && r.path == format!("/channels/{}/messages/{alert_id}/threads", bot.escalations)
            },
            WAIT,
        )
        .await;
    assert_eq!(thread.body["name"], json!("I1 surge: checkout-outage"));
    let thread_id = thread.response["id"].as_str().expect("thread id").to_string();
    let joined = bot.posted(thread_id.parse().expect("id"), "Case \\#");
    assert_eq!(joined.len(), 3, "posts 8, 9 and 10 joined");
    // Only the 7 posts before the surge got threads of their own.
    let own_threads = bot
        .fake
        .requests()
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.path.starts_with(&format!("/channels/{}/messages/", bot.feed))
                && r.path.ends_with("/threads")
        })
        .count();
    assert_eq!(own_threads, 7);
    bot.shutdown().await;
}

impl TestBot {
    /// While no bot runs: `n` feed posts (`text(i)`) stored in the fake's history and made
    /// cases through the engine, as the handler would; their outbox rows wait for a bot.
    async fn offline_cases(&self, n: usize, text: impl Fn(usize) -> String) -> Vec<u64> {
        let mut posts = Vec::new();
        for i in 0..n {
            let text = text(i);
            let id = self
                .fake
                .post_message_offline(self.feed, Author::webhook("Social Feed"), &text, vec![]);
            let post = carebot::domain::feed::FeedPost {
                source_id: format!("discord:{id}"),
                channel_id: self.feed.to_string(),
                message_id: id.to_string(),
                poster: "Social Feed".into(),
                content: text,
                embeds: vec![],
                posted_at: Utc::now(),
            };
            self.engine
                .receive_post(&post, None, Utc::now())
                .await
                .expect("stored");
            posts.push(id);
        }
        posts
    }
}

#[tokio::test]
async fn two_bots_on_one_database_post_every_card_and_the_digest_once() {
    let mut bot = spawn_bot_with(FakeDiscordOptions::default(), |config| {
        config.surge.min_mentions = 1000;
        config.discord.digest_channel = config.discord.escalations_channel;
        config.digest = Some(carebot::config::DigestConfig {
            weekday: "mon".into(),
            time: "09:00".into(),
            timezone: "UTC".into(),
        });
        config.discord.shards = Some("0/2".into());
    })
    .await;
    bot.stop().await;
    // While no bot runs, thirty feed posts become cases: a backlog of outbox rows (threads,
    // cards, messages) that both dispatchers find at once when the two processes start.
    let posts = bot
        .offline_cases(30, |i| format!("[Twitter] @shopper{i}: my order {i} never arrived, tracking says lost https://twitter.com/shopper{i}/status/{i}"))
        .await;
    // The second process runs the other shard: only one of the two gets the guild's events;
    // both deliver outbox rows and both sweep the timers.
    let mut config = bot.config.clone();
    config.discord.shards = Some("1/2".into());
    let other = Arc::new(Engine::start(&config).await.expect("second engine starts"));
    let (_, other_bot) = tokio::join!(
        bot.start_again(),
        carebot::discord::start(other.clone(), &config.discord)
    );
    let other_bot = other_bot.expect("second bot starts");
    for post in &posts {
        bot.wait_for_card(*post).await;
    }
    bot.wait_for_outbox_drained().await;
    assert_eq!(bot.case_count().await, posts.len(), "each post opened one case");
    let requests = bot.fake.requests();
    let threads = requests
        .iter()
        .filter(|r| is_thread_creation(r) && r.status < 300)
        .count();
    assert_eq!(
        threads,
        posts.len(),
        "one thread per case:\n{}",
        bot.fake.requests_summary()
    );
    // Every outbox row carries its own nonce: none may have been sent twice.
    let mut nonces: Vec<&str> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .filter_map(|r| r.body["nonce"].as_str())
        .collect();
    let sent = nonces.len();
    assert!(sent >= 2 * posts.len(), "a card and a message per case: {sent}");
    nonces.sort_unstable();
    nonces.dedup();
    assert_eq!(
        nonces.len(),
        sent,
        "no outbox row delivered twice:\n{}",
        bot.fake.requests_summary()
    );

    // The digest comes due; both processes sweep at the same moment: it is posted once.
    // Scheduled from a day ahead: its due time is then at least a day after the cases opened,
    // whatever the time of the week the test runs at (from a Monday morning the next digest
    // would be due within hours, before the cases' SLA clocks).
    let due = bot
        .engine
        .schedule_digest(Utc::now() + chrono::Duration::days(1))
        .await
        .unwrap()
        .expect("the digest is scheduled");
    let then = due + chrono::Duration::seconds(1);
    let (a, b) = tokio::join!(bot.engine.fire_due_timers(then), other.fire_due_timers(then));
    // (Every SLA timer of the week comes due too: each is claimed by one of the two.)
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.fired + b.fired > 1, "{a:?} {b:?}");
    let digest_channel = bot.escalations;
    let is_digest = |r: &RecordedRequest| {
        r.method == "POST"
            && r.path == format!("/channels/{digest_channel}/messages")
            && !r.uploads.is_empty()
    };
    bot.fake.wait_for_request(is_digest, WAIT).await;
    bot.wait_for_outbox_drained().await;
    assert_eq!(bot.fake.requests().iter().filter(|r| is_digest(r)).count(), 1);
    other_bot.stop().await;
    bot.shutdown().await;
}

#[tokio::test]
async fn a_postgresql_restart_during_a_feed_burst_loses_no_post_and_says_so() {
    let Some(admin) = support::app::postgres_admin_url() else {
        return;
    };
    let proxy = support::proxy::Proxy::start(support::proxy::server_addr(&admin)).await;
    let via = proxy.clone();
    let bot = spawn_bot_with(FakeDiscordOptions::default(), move |c| {
        c.surge.min_mentions = 1000;
        c.database.url = via.url_for(&c.database.url);
    })
    .await;
    let first = bot.post(DANA).await;
    bot.wait_for_card(first).await;
    bot.wait_for_outbox_drained().await;

    // The server goes away (every connection dropped, new ones refused) as posts arrive.
    proxy.cut();
    let mut burst = Vec::new();
    for i in 0..5 {
        let text = format!(
            "[Twitter] @burst{i}: still no refund for order {i} https://twitter.com/burst{i}/status/{i}"
        );
        burst.push(bot.post(&text).await);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !bot
        .logs
        .carebot_events()
        .iter()
        .any(|l| l.contains("feed post not stored"))
    {
        assert!(Instant::now() < deadline, "the failure is logged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // It comes back: the live retries (then backfill) store every post, each once.
    proxy.restore();
    for post in &burst {
        bot.fake
            .wait_for_request(
                |r| r.method == "POST" && r.path == format!("/channels/{post}/messages") && r.status == 200,
                Duration::from_secs(60),
            )
            .await;
    }
    bot.wait_for_outbox_drained().await;
    assert_eq!(bot.case_count().await, 1 + burst.len());
    let threads = bot
        .fake
        .requests()
        .iter()
        .filter(|r| is_thread_creation(r) && r.status < 300)
        .count();
    assert_eq!(threads, 1 + burst.len(), "one thread per post");
    bot.shutdown().await;
}

#[tokio::test]
async fn rows_leased_by_a_process_that_died_are_delivered_by_another_once() {
    let mut bot = spawn_bot_with(FakeDiscordOptions::default(), |c| {
        c.surge.min_mentions = 1000;
        c.discord.outbox_lease_secs = 1;
    })
    .await;
    bot.stop().await;
    let posts = bot
        .offline_cases(5, |i| {
            format!("[Twitter] @left{i}: parcel {i} is missing https://twitter.com/left{i}/status/{i}")
        })
        .await;
    // A process leased every row, then was killed (kill -9: nothing released).
    let now = Utc::now();
    let store = bot.engine.store().clone();
    let held = store
        .lease_outbox("killed-instance", 1000, now, now + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert!(held.len() >= 2 * posts.len());
    bot.start_again().await;
    for post in &posts {
        bot.fake
            .wait_for_request(
                |r| r.method == "POST" && r.path == format!("/channels/{post}/messages") && r.status == 200,
                Duration::from_secs(20),
            )
            .await;
    }
    bot.wait_for_outbox_drained().await;
    let mut nonces: Vec<String> = bot
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .filter_map(|r| r.body["nonce"].as_str().map(str::to_string))
        .collect();
    let sent = nonces.len();
    nonces.sort_unstable();
    nonces.dedup();
    assert_eq!(nonces.len(), sent, "none twice");
    for row in &held {
        assert!(
            nonces.contains(&format!("carebot-{}", row.id)),
            "row {} delivered",
            row.id
        );
    }
    bot.shutdown().await;
}
