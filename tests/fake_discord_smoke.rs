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
    ActionRowComponent, AutoArchiveDuration, ChannelId, ClientBuilder, Command, CommandDataOptionValue,
    CommandInteraction, CommandOptionType, ComponentInteraction, ComponentInteractionDataKind, Context,
    CreateActionRow, CreateAllowedMentions, CreateAutocompleteResponse, CreateButton, CreateCommand,
    CreateCommandOption, CreateInputText, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, CreateMessage, CreateModal, CreateThread, EditInteractionResponse,
    EventHandler, GatewayIntents, GetMessages, Guild, GuildChannel, GuildId, HttpBuilder, InputTextStyle,
    Interaction, InteractionId, Message, MessageId, ModalInteraction, Ready, ResumedEvent, RoleId,
    ShardManager, UserId,
};
use serenity::async_trait;
use serenity::http::{Http, HttpError};
use support::fake_discord::{logs, pings, Author, Failure, FakeDiscord, FakeDiscordOptions};
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
    Modal(Box<ModalInteraction>),
    Resumed,
}

/// The modal the test bot opens from a `note:` button, built with serenity's builders.
fn note_modal() -> CreateModal {
    CreateModal::new("note-modal:C-1", "Add a note to C-1").components(vec![
        CreateActionRow::InputText(
            CreateInputText::new(InputTextStyle::Short, "Summary", "summary")
                .placeholder("One line for the case log")
                .min_length(3)
                .max_length(100),
        ),
        CreateActionRow::InputText(
            CreateInputText::new(InputTextStyle::Paragraph, "Details", "details")
                .required(false)
                .value("Customer says:"),
        ),
    ])
}

/// The value of text input `name` in a modal submit.
fn modal_value<'a>(submit: &'a ModalInteraction, name: &str) -> Option<&'a str> {
    submit
        .data
        .components
        .iter()
        .flat_map(|row| &row.components)
        .find_map(|c| match c {
            ActionRowComponent::InputText(t) if t.custom_id == name => t.value.as_deref(),
            _ => None,
        })
}

/// A tiny bot: answers webhook posts without pinging anyone, answers slash commands
/// (ephemeral reply, then an edit and a followup), buttons (update the message, or open
/// `note_modal` for `note:` buttons), modal submits (update the button's message, or reply
/// when the modal came from a command) and autocomplete; reports everything it sees.
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
            Interaction::Component(press) if press.data.custom_id.starts_with("note:") => {
                press
                    .create_response(&ctx.http, CreateInteractionResponse::Modal(note_modal()))
                    .await
                    .expect("open the modal");
                let _ = self.seen.send(Seen::Component(Box::new(press)));
            }
            Interaction::Modal(submit) => {
                let note = modal_value(&submit, "summary").unwrap_or("").to_string();
                let response = if submit.message.is_some() {
                    CreateInteractionResponse::UpdateMessage(
                        CreateInteractionResponseMessage::new()
                            .content(format!("Case C-1: note added ({note})"))
                            .components(vec![]),
                    )
                } else {
                    CreateInteractionResponse::Message(
                        CreateInteractionResponseMessage::new()
                            .content(format!("note added ({note})"))
                            .ephemeral(true),
                    )
                };
                submit
                    .create_response(&ctx.http, response)
                    .await
                    .expect("modal submit response");
                let _ = self.seen.send(Seen::Modal(Box::new(submit)));
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

/// A serenity `Http` against the fake, without a gateway connection.
fn http_for(fake: &FakeDiscord) -> Http {
    HttpBuilder::new("test-token")
        .proxy(fake.api_base())
        .ratelimiter_disabled(true)
        .build()
}

/// The status, Discord error code and first error path of a refused call.
fn refusal(err: serenity::Error) -> (u16, isize, String) {
    let serenity::Error::Http(HttpError::UnsuccessfulRequest(resp)) = err else {
        panic!("unexpected error {err:?}")
    };
    let path = resp
        .error
        .errors
        .first()
        .map(|e| e.path.clone())
        .unwrap_or_default();
    (resp.status_code.as_u16(), resp.error.code, path)
}

// Current-thread runtime: serenity's tasks run on the test thread, so `logs::capture()` sees
// exactly this test's warnings.
#[tokio::test]
async fn a_button_opens_a_modal_and_its_submit_reaches_serenity_as_a_modal_interaction() {
    let logs = logs::capture();
    let fake = FakeDiscord::start().await;
    let feed = fake.add_channel("social-feed");
    let alice = fake.add_member("alice", &[]);
    let mut bot = Bot::start(&fake).await;
    fake.wait_until_ready(WAIT).await;
    bot.expect("READY", |e| matches!(e, Seen::Ready(_)).then_some(()))
        .await;

    // The button's callback is serenity's CreateModal, accepted and recorded as is.
    let card = ChannelId::new(feed)
        .send_message(
            &bot.http,
            CreateMessage::new()
                .content("Case C-1")
                .button(CreateButton::new("note:C-1").label("Add note")),
        )
        .await
        .expect("post card")
        .id
        .get();
    let bid = fake.press_button(feed, card, alice, "note:C-1").await;
    assert_eq!(
        fake.wait_for_interaction_response(bid, WAIT).await["type"],
        json!(9)
    );
    let modal = fake.modal_opened(bid).expect("the button opened a modal");
    assert_eq!(modal["custom_id"], json!("note-modal:C-1"));
    assert_eq!(modal["title"], json!("Add a note to C-1"));
    assert_eq!(
        modal["components"][0],
        json!({"type": 1, "components": [{
            "type": 4, "custom_id": "summary", "style": 1, "label": "Summary",
            "placeholder": "One line for the case log", "min_length": 3, "max_length": 100,
            "required": true,
        }]})
    );
    assert_eq!(modal["components"][1]["components"][0]["required"], json!(false));
    assert_eq!(
        modal["components"][1]["components"][0]["value"],
        json!("Customer says:")
    );
    bot.expect("the button press", |e| {
        matches!(e, Seen::Component(_)).then_some(())
    })
    .await;

    // The submit, from the card's button: Interaction::Modal with the card; UPDATE_MESSAGE.
    let sid = fake
        .submit_modal(
            feed,
            alice,
            Some(card),
            "note-modal:C-1",
            &[("summary", "late order"), ("details", "two weeks")],
        )
        .await;
    assert_eq!(
        fake.wait_for_interaction_response(sid, WAIT).await["type"],
        json!(7)
    );
    let submit = bot
        .expect("the modal submit", |e| match e {
            Seen::Modal(m) => Some(m),
            _ => None,
        })
        .await;
    assert_eq!(submit.id.get(), sid);
    assert_eq!(submit.data.custom_id, "note-modal:C-1");
    assert_eq!(submit.user.id.get(), alice);
    assert_eq!(submit.message.as_ref().map(|m| m.id.get()), Some(card));
    assert_eq!(modal_value(&submit, "summary"), Some("late order"));
    assert_eq!(modal_value(&submit, "details"), Some("two weeks"));
    assert_eq!(
        fake.message(card).expect("card")["content"],
        json!("Case C-1: note added (late order)")
    );
    assert_eq!(fake.modal_opened(sid), None, "a submit opens no modal");

    // A submit of a modal a slash command opened has no message; the bot replies instead.
    let cid = fake
        .submit_modal(feed, alice, None, "note-modal:C-1", &[("summary", "refund sent")])
        .await;
    assert_eq!(
        fake.wait_for_interaction_response(cid, WAIT).await["type"],
        json!(4)
    );
    let submit = bot
        .expect("the second modal submit", |e| match e {
            Seen::Modal(m) => Some(m),
            _ => None,
        })
        .await;
    assert!(submit.message.is_none());
    assert_eq!(modal_value(&submit, "summary"), Some("refund sent"));

    assert_all_frames_deserialise(&fake, &logs);
    let failed: Vec<_> = fake.requests().into_iter().filter(|r| r.status >= 400).collect();
    assert!(failed.is_empty(), "unexpected failed requests: {failed:#?}");
    bot.shards.shutdown_all().await;
}

#[tokio::test]
async fn a_modal_callback_is_checked_against_discords_schema() {
    // Every refused callback leaves the interaction open; a long deadline lets one press take
    // them all.
    let fake = FakeDiscord::start_with(FakeDiscordOptions {
        interaction_deadline: Duration::from_secs(60),
        ..FakeDiscordOptions::default()
    })
    .await;
    let feed = fake.add_channel("social-feed");
    let alice = fake.add_member("alice", &[]);
    let http = http_for(&fake);
    let card = ChannelId::new(feed)
        .send_message(
            &http,
            CreateMessage::new().button(CreateButton::new("note:C-1").label("Add note")),
        )
        .await
        .expect("post card")
        .id
        .get();
    let bid = fake.press_button(feed, card, alice, "note:C-1").await;
    let token = fake.interaction_token(bid);
    let good = serde_json::to_value(CreateInteractionResponse::Modal(note_modal())).expect("serialise");
    let input = |field: &str, value: Value| {
        let mut body = good.clone();
        body["data"]["components"][0]["components"][0][field] = value;
        body
    };
    let text_input = json!({"type": 4, "custom_id": "x", "style": 1, "label": "X"});
    let at_input = "data.components.0.components.0";
    let cases: Vec<(&str, Value, String)> = vec![
        (
            "title too long",
            {
                let mut b = good.clone();
                b["data"]["title"] = json!("t".repeat(46));
                b
            },
            "data.title".into(),
        ),
        (
            "empty custom_id",
            {
                let mut b = good.clone();
                b["data"]["custom_id"] = json!("");
                b
            },
            "data.custom_id".into(),
        ),
        (
            "no title",
            {
                let mut b = good.clone();
                b["data"].as_object_mut().expect("object").remove("title");
                b
            },
            "data.title".into(),
        ),
        (
            "no rows",
            {
                let mut b = good.clone();
                b["data"]["components"] = json!([]);
                b
            },
            "data.components".into(),
        ),
        (
            "six rows",
            {
                let mut b = good.clone();
                b["data"]["components"] =
                    json!(vec![json!({"type": 1, "components": [text_input.clone()]}); 6]);
                b
            },
            "data.components".into(),
        ),
        (
            "two inputs in a row",
            {
                let mut b = good.clone();
                b["data"]["components"][0]["components"] = json!([text_input.clone(), text_input.clone()]);
                b
            },
            "data.components.0.components".into(),
        ),
        (
            "a button in a modal",
            input("type", json!(2)),
            format!("{at_input}.type"),
        ),
        ("style 3", input("style", json!(3)), format!("{at_input}.style")),
        (
            "no label",
            input("label", Value::Null),
            format!("{at_input}.label"),
        ),
        (
            "label too long",
            input("label", json!("l".repeat(46))),
            format!("{at_input}.label"),
        ),
        (
            "input custom_id too long",
            input("custom_id", json!("c".repeat(101))),
            format!("{at_input}.custom_id"),
        ),
        (
            "min_length over 4000",
            input("min_length", json!(4001)),
            format!("{at_input}.min_length"),
        ),
        (
            "max_length 0",
            input("max_length", json!(0)),
            format!("{at_input}.max_length"),
        ),
        (
            "min over max",
            input("min_length", json!(200)),
            format!("{at_input}.min_length"),
        ),
        (
            "placeholder too long",
            input("placeholder", json!("p".repeat(101))),
            format!("{at_input}.placeholder"),
        ),
        (
            "value too long",
            input("value", json!("v".repeat(4001))),
            format!("{at_input}.value"),
        ),
        (
            "required not a bool",
            input("required", json!("yes")),
            format!("{at_input}.required"),
        ),
        (
            "a Label component",
            {
                let mut b = good.clone();
                b["data"]["components"][0] =
                    json!({"type": 18, "label": "X", "component": text_input.clone()});
                b
            },
            "data.components.0.type".into(),
        ),
    ];
    for (what, body, path) in cases {
        let err = http
            .create_interaction_response(InteractionId::new(bid), &token, &body, vec![])
            .await
            .expect_err(what);
        assert_eq!(refusal(err), (400, 50035, path), "{what}");
    }
    assert_eq!(fake.modal_opened(bid), None, "refused callbacks are not recorded");

    // What serenity's builders produce is what Discord accepts.
    http.create_interaction_response(InteractionId::new(bid), &token, &good, vec![])
        .await
        .expect("serenity's CreateModal is valid");
    assert_eq!(fake.modal_opened(bid), Some(good["data"].clone()));
}

#[tokio::test]
async fn a_modal_submit_updates_the_message_only_when_a_button_opened_the_modal() {
    let fake = FakeDiscord::start().await;
    let feed = fake.add_channel("social-feed");
    let alice = fake.add_member("alice", &[]);
    let http = http_for(&fake);
    let card = ChannelId::new(feed)
        .send_message(
            &http,
            CreateMessage::new()
                .content("Case C-1")
                .button(CreateButton::new("note:C-1").label("Add note")),
        )
        .await
        .expect("post card")
        .id
        .get();
    let answer = |iid: u64, response: CreateInteractionResponse| {
        let token = fake.interaction_token(iid);
        let http = &http;
        async move {
            http.create_interaction_response(InteractionId::new(iid), &token, &response, vec![])
                .await
        }
    };
    let update = || {
        CreateInteractionResponse::UpdateMessage(
            CreateInteractionResponseMessage::new().content("Case C-1: note added"),
        )
    };

    // From a slash command: no message to update, and no modal in answer to a modal.
    let from_command = fake
        .submit_modal(feed, alice, None, "note-modal:C-1", &[("summary", "late")])
        .await;
    let err = answer(from_command, update())
        .await
        .expect_err("nothing to update");
    assert_eq!(refusal(err), (400, 50035, "type".to_string()));
    let err = answer(from_command, CreateInteractionResponse::Modal(note_modal()))
        .await
        .expect_err("a modal cannot answer a modal");
    assert_eq!(refusal(err), (400, 50035, "type".to_string()));
    answer(
        from_command,
        CreateInteractionResponse::Message(CreateInteractionResponseMessage::new().content("noted")),
    )
    .await
    .expect("a reply is fine");

    // From the card's button: UPDATE_MESSAGE edits the card.
    let from_button = fake
        .submit_modal(feed, alice, Some(card), "note-modal:C-1", &[("summary", "late")])
        .await;
    answer(from_button, update()).await.expect("the card is updated");
    assert_eq!(
        fake.message(card).expect("card")["content"],
        json!("Case C-1: note added")
    );
}

#[tokio::test]
async fn buttons_may_be_disabled_and_links_but_a_link_has_no_custom_id() {
    let fake = FakeDiscord::start().await;
    let feed = ChannelId::new(fake.add_channel("social-feed"));
    let http = http_for(&fake);

    let card = feed
        .send_message(
            &http,
            CreateMessage::new()
                .content("Case C-1 (closed)")
                .button(CreateButton::new("claim:C-1").label("Claim").disabled(true))
                .button(
                    CreateButton::new_link("https://x.com/jane_doe/status/1790000000000000000")
                        .label("Open post")
                        .disabled(true),
                ),
        )
        .await
        .expect("disabled and link buttons are fine");
    let stored = fake.message(card.id.get()).expect("card");
    let buttons = &stored["components"][0]["components"];
    assert_eq!(buttons[0]["disabled"], json!(true));
    assert_eq!(buttons[1]["style"], json!(5));
    assert!(buttons[1].get("custom_id").is_none());

    let row = |button: Value| json!({"content": "card", "components": [{"type": 1, "components": [button]}]});
    let link_with_id =
        row(json!({"type": 2, "style": 5, "label": "Open", "url": "https://x.com", "custom_id": "open"}));
    let err = http
        .send_message(feed, vec![], &link_with_id)
        .await
        .expect_err("a link button with a custom_id");
    assert_eq!(
        refusal(err),
        (400, 50035, "components.0.components.0.custom_id".to_string())
    );
    let button_with_url =
        row(json!({"type": 2, "style": 1, "label": "Claim", "custom_id": "claim", "url": "https://x.com"}));
    let err = http
        .send_message(feed, vec![], &button_with_url)
        .await
        .expect_err("a non-link button with a url");
    assert_eq!(
        refusal(err),
        (400, 50035, "components.0.components.0.url".to_string())
    );
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn without_allowed_mentions_every_mention_in_content_pings() {
    let body = json!({"content": "<@1> <@!2> and <@&3>, @everyone, @here, <@1> again"});
    assert_eq!(pings(&body), (ids(&["1", "2"]), ids(&["3", "everyone"])));
}

#[test]
fn mentions_in_embeds_never_ping() {
    let body = json!({"content": "new case", "embeds": [{"description": "<@1> <@&3> @everyone"}]});
    assert_eq!(pings(&body), (vec![], vec![]));
}

#[test]
fn serenitys_empty_allowed_mentions_pings_nobody() {
    let body = json!({
        "content": "<@1> <@&3> @everyone",
        "allowed_mentions": serde_json::to_value(CreateAllowedMentions::new()).expect("serialise"),
    });
    assert_eq!(pings(&body), (vec![], vec![]));
}

#[test]
fn parse_allows_a_whole_kind_of_mention() {
    let body = |parse: Value| json!({"content": "<@1> <@&3> @here", "allowed_mentions": {"parse": parse}});
    assert_eq!(pings(&body(json!(["users"]))), (ids(&["1"]), vec![]));
    assert_eq!(pings(&body(json!(["roles"]))), (vec![], ids(&["3"])));
    assert_eq!(pings(&body(json!(["everyone"]))), (vec![], ids(&["everyone"])));
}

#[test]
fn listed_ids_ping_only_when_mentioned_in_content() {
    let allowed = CreateAllowedMentions::new()
        .users([UserId::new(2), UserId::new(9)])
        .roles([RoleId::new(3)]);
    let body = json!({
        "content": "<@1> <@2> <@&3> <@&4> @everyone",
        "allowed_mentions": serde_json::to_value(allowed).expect("serialise"),
    });
    assert_eq!(pings(&body), (ids(&["2"]), ids(&["3"])));
}
