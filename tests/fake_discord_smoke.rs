//! Proof that the real serenity 0.12 client works against the fake Discord in
//! `tests/support/fake_discord`: gateway (READY, MESSAGE_CREATE, THREAD_CREATE,
//! INTERACTION_CREATE, RESUME, re-IDENTIFY) and REST (messages, threads, interaction callbacks,
//! followups, commands, history, injected 429/5xx), with every gateway frame deserialising.
//!
//! Run with `RUST_LOG=serenity=debug cargo test --test fake_discord_smoke -- --nocapture` to
//! watch serenity talk to the fake.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use serenity::all::{
    AutoArchiveDuration, ChannelId, ClientBuilder, Command, CommandDataOptionValue, CommandInteraction,
    CommandOptionType, ComponentInteraction, ComponentInteractionDataKind, Context, CreateAllowedMentions,
    CreateAutocompleteResponse, CreateButton, CreateCommand, CreateCommandOption, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, CreateMessage, CreateThread,
    EditInteractionResponse, EventHandler, GatewayIntents, GetMessages, Guild, GuildChannel, GuildId,
    HttpBuilder, Interaction, Message, MessageId, Ready, ResumedEvent, ShardManager,
};
use serenity::async_trait;
use serenity::http::{Http, HttpError};
use support::fake_discord::{logs, Author, Failure, FakeDiscord};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

const WAIT: Duration = Duration::from_secs(10);

/// What the test's event handler saw, fully deserialised by serenity.
#[derive(Debug)]
enum Seen {
    Ready(Box<Ready>),
    GuildCreate(Box<Guild>),
    Message(Box<Message>),
    Thread(Box<GuildChannel>),
    Command(Box<CommandInteraction>),
    Autocomplete(Box<CommandInteraction>),
    Component(Box<ComponentInteraction>),
    Resumed,
}

/// A tiny bot: answers webhook posts without pinging anyone, answers slash commands
/// (ephemeral reply, then an edit and a followup), buttons (update the message) and
/// autocomplete; reports everything it sees.
struct Handler {
    seen: UnboundedSender<Seen>,
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        let _ = self.seen.send(Seen::Ready(Box::new(ready)));
    }

    async fn guild_create(&self, _ctx: Context, guild: Guild, _is_new: Option<bool>) {
        let _ = self.seen.send(Seen::GuildCreate(Box::new(guild)));
    }

    async fn resume(&self, _ctx: Context, _event: ResumedEvent) {
        let _ = self.seen.send(Seen::Resumed);
    }

    async fn message(&self, ctx: Context, msg: Message) {
        let _ = self.seen.send(Seen::Message(Box::new(msg.clone())));
        if msg.webhook_id.is_some() && msg.content.starts_with("@acme my order") {
            let reply = CreateMessage::new()
                .content(format!("seen: {}", msg.content))
                .allowed_mentions(CreateAllowedMentions::new());
            msg.channel_id
                .send_message(&ctx.http, reply)
                .await
                .expect("reply to feed post");
        }
    }

    async fn thread_create(&self, _ctx: Context, thread: GuildChannel) {
        let _ = self.seen.send(Seen::Thread(Box::new(thread)));
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Command(cmd) => {
                let reply = CreateInteractionResponseMessage::new()
                    .content(format!("claimed by {}", cmd.user.name))
                    .ephemeral(true);
                cmd.create_response(&ctx.http, CreateInteractionResponse::Message(reply))
                    .await
                    .expect("command response");
                cmd.edit_response(
                    &ctx.http,
                    EditInteractionResponse::new().content("claimed (edited)"),
                )
                .await
                .expect("edit original");
                cmd.create_followup(
                    &ctx.http,
                    CreateInteractionResponseFollowup::new()
                        .content("followup")
                        .ephemeral(true),
                )
                .await
                .expect("followup");
                let _ = self.seen.send(Seen::Command(Box::new(cmd)));
            }
            Interaction::Autocomplete(cmd) => {
                let choices = CreateAutocompleteResponse::new().add_string_choice("C-1 (late order)", "C-1");
                cmd.create_response(&ctx.http, CreateInteractionResponse::Autocomplete(choices))
                    .await
                    .expect("autocomplete response");
                let _ = self.seen.send(Seen::Autocomplete(Box::new(cmd)));
            }
            Interaction::Component(press) => {
                let update = CreateInteractionResponseMessage::new()
                    .content("Case C-1: claimed by alice")
                    .components(vec![]);
                press
                    .create_response(&ctx.http, CreateInteractionResponse::UpdateMessage(update))
                    .await
                    .expect("button response");
                let _ = self.seen.send(Seen::Component(Box::new(press)));
            }
            _ => {}
        }
    }
}

/// A running serenity client connected to the fake.
struct Bot {
    http: Arc<Http>,
    seen: UnboundedReceiver<Seen>,
    shards: Arc<ShardManager>,
}

impl Bot {
    async fn start(fake: &FakeDiscord) -> Bot {
        let http = HttpBuilder::new("test-token")
            .proxy(fake.api_base())
            .ratelimiter_disabled(true)
            .build();
        let intents =
            GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES | GatewayIntents::MESSAGE_CONTENT;
        let (tx, seen) = unbounded_channel();
        // `Client::builder(token, ..)` would build its own Http pointing at discord.com: the
        // adapter must use `ClientBuilder::new_with_http` with the proxied Http.
        let mut client = ClientBuilder::new_with_http(http, intents)
            .event_handler(Handler { seen: tx })
            .await
            .expect("build serenity client");
        let http = Arc::clone(&client.http);
        let shards = Arc::clone(&client.shard_manager);
        tokio::spawn(async move {
            if let Err(e) = client.start().await {
                eprintln!("serenity client stopped: {e:?}");
            }
        });
        Bot { http, seen, shards }
    }

    /// The next event matching `pred`, skipping others; panics after `WAIT`.
    async fn expect<T>(&mut self, what: &str, mut pred: impl FnMut(Seen) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.seen.recv()).await {
                Ok(Some(event)) => {
                    if let Some(found) = pred(event) {
                        return found;
                    }
                }
                Ok(None) => panic!("event handler gone while waiting for {what}"),
                Err(_) => {
                    panic!("no {what} within {WAIT:?} (serenity's warnings are in the test output)")
                }
            }
        }
    }
}

/// Every frame the fake's gateway sent deserialises as serenity's model types, and serenity
/// dropped no dispatch.
fn assert_all_frames_deserialise(fake: &FakeDiscord, logs: &logs::LogCapture) {
    assert!(!fake.gateway_frames().is_empty());
    fake.assert_gateway_frames_deserialise();
    let dropped = logs.dropped_dispatches();
    assert!(
        dropped.is_empty(),
        "serenity dropped gateway payloads: {dropped:#?}"
    );
}

fn tweet_embed() -> Value {
    json!({
        "title": "Tweet by @jane_doe",
        "description": "@acme my order #1234 is two weeks late",
        "url": "https://x.com/jane_doe/status/1790000000000000000",
        "color": 1942002,
        "author": {"name": "Jane Doe (@jane_doe)", "url": "https://x.com/jane_doe"},
        "fields": [{"name": "Followers", "value": "1200", "inline": true}],
        "footer": {"text": "X"},
        "timestamp": "2024-05-13T09:30:00.000000+00:00",
    })
}

// Current-thread runtime: serenity's tasks run on the test thread, so `logs::capture()` sees
// exactly this test's warnings.
#[tokio::test]
async fn serenity_client_works_against_the_fake() {
    let logs = logs::capture();
    let fake = FakeDiscord::start().await;
    let feed = fake.add_channel("social-feed");
    let agent = fake.add_role("agent");
    let alice = fake.add_member("alice", &[agent]);
    let offline = fake.post_message_offline(
        feed,
        Author::webhook("X Feed"),
        "@acme posted while you slept",
        vec![],
    );

    // Connects: GET /gateway, IDENTIFY with our intents, READY + GUILD_CREATE.
    let mut bot = Bot::start(&fake).await;
    fake.wait_until_ready(WAIT).await;
    let ready = bot
        .expect("READY", |e| if let Seen::Ready(r) = e { Some(r) } else { None })
        .await;
    assert_eq!(ready.user.id.get(), fake.bot_user_id());
    assert!(ready.user.bot);
    assert_eq!(ready.application.id.get(), fake.application_id());
    let guild = bot
        .expect("GUILD_CREATE", |e| {
            if let Seen::GuildCreate(g) = e {
                Some(g)
            } else {
                None
            }
        })
        .await;
    assert_eq!(guild.id.get(), fake.guild_id());
    assert!(guild.channels.contains_key(&ChannelId::new(feed)));
    assert_eq!(
        guild.members[&serenity::all::UserId::new(alice)].roles[0].get(),
        agent
    );
    assert_eq!(
        bot.http.application_id().map(|a| a.get()),
        Some(fake.application_id()),
        "serenity takes the application id from READY"
    );
    let identify = &fake.identify_payloads()[0];
    assert_eq!(identify["intents"], json!((1 << 0) | (1 << 9) | (1 << 15)));
    assert_eq!(identify["token"], json!("Bot test-token"));
    assert_eq!(
        identify["compress"],
        json!(true),
        "serenity asks for compression but reads plain text frames"
    );
    assert!(
        fake.requests().iter().any(|r| r.line() == "GET /gateway"),
        "serenity asks GET /gateway for the ws url"
    );

    // Commands: bulk overwrite, global and guild, echoed back with ids.
    let case = CreateCommand::new("case").description("Work a case").add_option(
        CreateCommandOption::new(CommandOptionType::SubCommand, "claim", "Claim a case").add_sub_option(
            CreateCommandOption::new(CommandOptionType::String, "id", "Case id")
                .required(true)
                .set_autocomplete(true),
        ),
    );
    let global = Command::set_global_commands(&bot.http, vec![case.clone()])
        .await
        .expect("global commands");
    assert_eq!(global[0].name, "case");
    let in_guild = GuildId::new(fake.guild_id())
        .set_commands(&bot.http, vec![case])
        .await
        .expect("guild commands");
    assert_eq!(in_guild[0].guild_id.map(|g| g.get()), Some(fake.guild_id()));

    // A webhook post reaches the handler fully deserialised; the handler's reply mentions nobody.
    let post = fake
        .post_message(
            feed,
            Author::webhook("X Feed"),
            "@acme my order is late",
            vec![tweet_embed()],
        )
        .await;
    let msg = bot
        .expect("the feed post", |e| match e {
            Seen::Message(m) if m.id.get() == post => Some(m),
            _ => None,
        })
        .await;
    assert_eq!(msg.content, "@acme my order is late");
    assert!(msg.webhook_id.is_some());
    assert!(msg.author.bot);
    assert_eq!(msg.author.name, "X Feed");
    assert_eq!(msg.guild_id.map(|g| g.get()), Some(fake.guild_id()));
    assert_eq!(msg.embeds[0].title.as_deref(), Some("Tweet by @jane_doe"));
    assert_eq!(msg.embeds[0].fields[0].value, "1200");
    assert_eq!(
        msg.embeds[0].url.as_deref(),
        Some("https://x.com/jane_doe/status/1790000000000000000")
    );
    let reply = fake
        .wait_for_request(
            |r| r.method == "POST" && r.path == format!("/channels/{feed}/messages"),
            WAIT,
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["allowed_mentions"]["parse"], json!([]));
    assert_eq!(reply.body["allowed_mentions"]["users"], json!([]));
    assert_eq!(reply.body["content"], json!("seen: @acme my order is late"));
    // Discord echoes the bot's own post on the gateway; the adapter must ignore it.
    let own = bot
        .expect("the bot's own reply", |e| match e {
            Seen::Message(m) if m.author.id.get() == fake.bot_user_id() => Some(m),
            _ => None,
        })
        .await;
    assert_eq!(own.content, "seen: @acme my order is late");
    assert!(own.webhook_id.is_none());

    // A thread from the feed post: id == message id, THREAD_CREATE arrives, posts land in it.
    let thread = ChannelId::new(feed)
        .create_thread_from_message(
            &bot.http,
            MessageId::new(post),
            CreateThread::new("C-1 jane_doe").auto_archive_duration(AutoArchiveDuration::OneDay),
        )
        .await
        .expect("start thread");
    assert_eq!(thread.id.get(), post);
    assert_eq!(thread.parent_id.map(|p| p.get()), Some(feed));
    let created = bot
        .expect("THREAD_CREATE", |e| {
            if let Seen::Thread(t) = e {
                Some(t)
            } else {
                None
            }
        })
        .await;
    assert_eq!(created.id.get(), post);
    assert_eq!(created.name, "C-1 jane_doe");
    thread
        .id
        .say(&bot.http, "Case C-1 opened")
        .await
        .expect("post in thread");
    assert_eq!(fake.messages(post)[0]["content"], json!("Case C-1 opened"));
    assert_eq!(fake.threads().len(), 1);

    // A slash command in the thread: Interaction::Command, callback + edit + followup recorded.
    let iid = fake
        .slash_command(post, alice, "case", Some("claim"), vec![("id", json!("C-1"))])
        .await;
    let callback = fake.wait_for_interaction_response(iid, WAIT).await;
    assert_eq!(callback["type"], json!(4));
    assert_eq!(callback["data"]["content"], json!("claimed by alice"));
    assert_eq!(callback["data"]["flags"], json!(64));
    let cmd = bot
        .expect("the slash command", |e| {
            if let Seen::Command(c) = e {
                Some(c)
            } else {
                None
            }
        })
        .await;
    assert_eq!(cmd.id.get(), iid);
    assert_eq!(cmd.data.name, "case");
    assert_eq!(cmd.channel_id.get(), post);
    assert_eq!(cmd.user.id.get(), alice);
    assert_eq!(cmd.member.as_ref().expect("member").roles[0].get(), agent);
    let sub = &cmd.data.options[0];
    assert_eq!(sub.name, "claim");
    let CommandDataOptionValue::SubCommand(args) = &sub.value else {
        panic!("expected a subcommand, got {sub:?}")
    };
    assert_eq!(args[0].name, "id");
    assert_eq!(args[0].value.as_str(), Some("C-1"));
    let responses = fake.interaction_responses(iid);
    assert_eq!(
        responses.len(),
        3,
        "callback, edit of @original, followup: {responses:#?}"
    );
    assert_eq!(responses[1]["content"], json!("claimed (edited)"));
    assert_eq!(
        fake.interaction_original(iid).expect("original")["content"],
        json!("claimed (edited)")
    );

    // Autocomplete: type 4 interaction, callback type 8 with choices.
    let aid = fake
        .autocomplete(
            feed,
            alice,
            "case",
            Some("claim"),
            vec![("id", json!("C-"))],
            "id",
        )
        .await;
    let choices = fake.wait_for_interaction_response(aid, WAIT).await;
    assert_eq!(choices["type"], json!(8));
    assert_eq!(choices["data"]["choices"][0]["value"], json!("C-1"));
    bot.expect("the autocomplete", |e| {
        if let Seen::Autocomplete(c) = e {
            Some(c)
        } else {
            None
        }
    })
    .await;

    // A card with a button; pressing it is Interaction::Component; UpdateMessage edits the card.
    let card = ChannelId::new(feed)
        .send_message(
            &bot.http,
            CreateMessage::new()
                .content("Case C-1")
                .button(CreateButton::new("claim:C-1").label("Claim")),
        )
        .await
        .expect("post card");
    assert_eq!(
        fake.message(card.id.get()).expect("card")["components"][0]["components"][0]["custom_id"],
        json!("claim:C-1")
    );
    let bid = fake.press_button(feed, card.id.get(), alice, "claim:C-1").await;
    let update = fake.wait_for_interaction_response(bid, WAIT).await;
    assert_eq!(update["type"], json!(7));
    let press = bot
        .expect("the button press", |e| {
            if let Seen::Component(c) = e {
                Some(c)
            } else {
                None
            }
        })
        .await;
    assert_eq!(press.data.custom_id, "claim:C-1");
    assert!(matches!(press.data.kind, ComponentInteractionDataKind::Button));
    assert_eq!(press.message.id, card.id);
    assert_eq!(
        fake.message(card.id.get()).expect("card")["content"],
        json!("Case C-1: claimed by alice")
    );

    // History after an id returns what was posted while offline (newest first, like Discord).
    let history = ChannelId::new(feed)
        .messages(
            &bot.http,
            GetMessages::new().after(MessageId::new(offline - 1)).limit(100),
        )
        .await
        .expect("history");
    assert_eq!(history.last().expect("some history").id.get(), offline);
    assert_eq!(
        history.last().expect("some history").content,
        "@acme posted while you slept"
    );
    assert!(history.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let get = fake
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method == "GET" && r.path.ends_with("/messages"))
        .expect("GET messages");
    assert_eq!(get.query_param("after"), Some((offline - 1).to_string().as_str()));
    assert_eq!(get.query_param("limit"), Some("100"));

    // A dropped connection: serenity RESUMEs, and a post made while it was away is replayed.
    assert_eq!((fake.gateway_identifies(), fake.gateway_resumes()), (1, 0));
    fake.drop_gateway_sessions().await;
    let during = fake
        .post_message(
            feed,
            Author::webhook("X Feed"),
            "@acme posted during the outage",
            vec![],
        )
        .await;
    // Missed dispatches are replayed before RESUMED (or arrive live if serenity was quicker).
    let (mut resumed, mut replayed) = (false, None);
    while !resumed || replayed.is_none() {
        match bot
            .expect("RESUMED and the replayed post", |e| match e {
                Seen::Resumed => Some(None),
                Seen::Message(m) if m.id.get() == during => Some(Some(m)),
                _ => None,
            })
            .await
        {
            None => resumed = true,
            Some(m) => replayed = Some(m),
        }
    }
    let replayed = replayed.expect("replayed");
    assert_eq!(replayed.content, "@acme posted during the outage");
    assert_eq!((fake.gateway_identifies(), fake.gateway_resumes()), (1, 1));

    // A channel added later arrives as CHANNEL_CREATE (checked by the frame check below).
    fake.add_channel("escalations");
    tokio::time::sleep(Duration::from_millis(200)).await;

    assert_all_frames_deserialise(&fake, &logs);
    let unexpected: Vec<_> = fake.requests().into_iter().filter(|r| r.status >= 400).collect();
    assert!(
        unexpected.is_empty(),
        "unexpected failed requests: {unexpected:#?}"
    );
    bot.shards.shutdown_all().await;
}

// Current-thread runtime: serenity's tasks run on the test thread, so `logs::capture()` sees
// exactly this test's warnings.
#[tokio::test]
async fn serenity_reidentifies_when_its_session_is_invalid() {
    let logs = logs::capture();
    let fake = FakeDiscord::start().await;
    let feed = fake.add_channel("social-feed");
    let mut bot = Bot::start(&fake).await;
    fake.wait_until_ready(WAIT).await;
    bot.expect("READY", |e| matches!(e, Seen::Ready(_)).then_some(()))
        .await;

    // The RESUME is refused (INVALID_SESSION false); serenity IDENTIFYs again.
    fake.invalidate_gateway_sessions().await;
    fake.wait_until_ready_count(2, WAIT).await;
    bot.expect("a second READY", |e| matches!(e, Seen::Ready(_)).then_some(()))
        .await;
    assert_eq!(fake.gateway_identifies(), 2);
    assert_eq!(fake.gateway_resumes(), 1);

    let post = fake
        .post_message(feed, Author::bot("ReviewBot"), "@acme 1 star", vec![])
        .await;
    let msg = bot
        .expect("a post on the new session", |e| match e {
            Seen::Message(m) if m.id.get() == post => Some(m),
            _ => None,
        })
        .await;
    assert!(msg.author.bot && msg.webhook_id.is_none() && msg.member.is_some());

    assert_all_frames_deserialise(&fake, &logs);
    bot.shards.shutdown_all().await;
}

#[tokio::test]
async fn a_dispatch_serenity_cannot_deserialise_is_dropped_silently() {
    let logs = logs::capture();
    let fake = FakeDiscord::start().await;
    let feed = fake.add_channel("social-feed");
    let mut bot = Bot::start(&fake).await;
    fake.wait_until_ready(WAIT).await;
    bot.expect("READY", |e| matches!(e, Seen::Ready(_)).then_some(()))
        .await;

    // A MESSAGE_CREATE without `author`: serenity turns it into Event::Unknown, logs it at
    // DEBUG and drops it; the handler never sees it.
    let broken = json!({"id": "1", "channel_id": feed.to_string(), "content": "broken", "timestamp": "2024-05-13T09:30:00+00:00"});
    fake.dispatch_raw("MESSAGE_CREATE", broken).await;
    let good = fake
        .post_message(feed, Author::webhook("X Feed"), "after the broken one", vec![])
        .await;
    let first = bot
        .expect(
            "a message",
            |e| {
                if let Seen::Message(m) = e {
                    Some(m)
                } else {
                    None
                }
            },
        )
        .await;
    assert_eq!(
        first.id.get(),
        good,
        "the broken dispatch never reached the handler"
    );
    let dropped = logs.dropped_dispatches();
    assert!(
        dropped
            .iter()
            .any(|d| d.contains("An unknown event was received") && d.contains("broken")),
        "{dropped:#?}"
    );
    assert!(
        logs.serenity_warnings().is_empty(),
        "not even a warning: {:#?}",
        logs.serenity_warnings()
    );
    // The fake's frame check recovers the serde error serenity threw away.
    let check = std::panic::catch_unwind(|| fake.assert_gateway_frames_deserialise())
        .expect_err("the broken frame is reported");
    let report = check.downcast_ref::<String>().expect("panic message");
    assert!(
        report.contains("MESSAGE_CREATE: missing field `author`"),
        "{report}"
    );
    bot.shards.shutdown_all().await;
}

/// What serenity does with 429 and 5xx when its ratelimiter is disabled: it returns the error
/// at once, does not retry, does not sleep, and does not expose `retry_after`.
// Current-thread runtime: serenity's tasks run on the test thread, so `logs::capture()` sees
// exactly this test's warnings.
#[tokio::test]
async fn serenity_returns_429_and_5xx_as_errors_without_retrying() {
    let _logs = logs::capture();
    let fake = FakeDiscord::start().await;
    let feed = ChannelId::new(fake.add_channel("social-feed"));
    let http = HttpBuilder::new("test-token")
        .proxy(fake.api_base())
        .ratelimiter_disabled(true)
        .build();

    fake.fail_next("POST /channels/", 1, Failure::RateLimited { retry_after: 30.0 });
    let started = std::time::Instant::now();
    let err = feed.say(&http, "hello").await.expect_err("429 is an error");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "serenity did not wait for retry_after"
    );
    let serenity::Error::Http(HttpError::UnsuccessfulRequest(resp)) = &err else {
        panic!("unexpected error {err:?}")
    };
    assert_eq!(resp.status_code.as_u16(), 429);
    // Discord's 429 body has no `code`, so serenity cannot decode it as DiscordJsonError:
    // the error carries code -1 and a "[Serenity] Could not decode json" message, and neither
    // the body's retry_after nor the retry-after header is reachable from the error.
    assert_eq!(resp.error.code, -1);
    assert!(
        resp.error.message.contains("Could not decode json"),
        "{}",
        resp.error.message
    );

    fake.fail_next("POST /channels/", 1, Failure::Status(502));
    let err = feed.say(&http, "hello").await.expect_err("502 is an error");
    let serenity::Error::Http(HttpError::UnsuccessfulRequest(resp)) = &err else {
        panic!("unexpected error {err:?}")
    };
    assert_eq!(resp.status_code.as_u16(), 502);
    assert_eq!(resp.error.code, 0);
    assert_eq!(resp.error.message, "502: Bad Gateway");

    // The next call goes through; serenity made exactly one request per call.
    feed.say(&http, "hello").await.expect("third try succeeds");
    let posts: Vec<u16> = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.status)
        .collect();
    assert_eq!(posts, vec![429, 502, 200]);
    assert_eq!(fake.messages(feed.get()).len(), 1);

    // Discord's validation errors (here a custom_id over 100 characters, which serenity does
    // not check itself) come back as 400 with code 50035 and the field path.
    let err = feed
        .send_message(
            &http,
            CreateMessage::new()
                .content("card")
                .button(CreateButton::new("x".repeat(101)).label("Claim")),
        )
        .await
        .expect_err("custom_id too long");
    let serenity::Error::Http(HttpError::UnsuccessfulRequest(resp)) = &err else {
        panic!("unexpected error {err:?}")
    };
    assert_eq!((resp.status_code.as_u16(), resp.error.code), (400, 50035));
    assert_eq!(resp.error.errors[0].path, "components.0.components.0.custom_id");
}
