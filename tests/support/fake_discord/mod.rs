//! A fake Discord (REST API v10 + gateway) on 127.0.0.1 for end-to-end tests of the real
//! serenity client.
//!
//! One axum server on one port: `/api/v10/...` is the REST API, `/gateway` the websocket
//! gateway (plain JSON text frames). One guild with the bot in it; tests add channels, roles
//! and members, post messages as webhooks / bots / users, fire slash commands and button
//! presses, inject failures, drop gateway connections, and read back every REST call and the
//! current state.
//!
//! Point serenity at it with
//! `HttpBuilder::new(token).proxy(fake.api_base()).ratelimiter_disabled(true)` (serenity's own
//! ratelimiter ignores the proxy and would talk to discord.com) and
//! `ClientBuilder::new_with_http(http, intents)`: the client asks `GET /api/v10/gateway` for
//! the websocket URL when it is built.
//!
//! # Layout
//! - `state.rs`: the world (guild, users, channels, messages, interactions, sessions) and the
//!   builders of Discord-shaped JSON.
//! - `rest.rs`: the REST routes, request validation, failure injection, recording.
//! - `ratelimit.rs`: Discord-like rate limits (global and per route), off unless asked for.
//! - `gateway.rs`: the websocket protocol, sessions, sequence numbers, RESUME replay.
//! - `check.rs`: checks every sent gateway frame against serenity's model types.
//! - `logs.rs`: per-test logging and capture of serenity's warnings (deserialisation failures).

mod check;
mod gateway;
pub mod logs;
mod ratelimit;
mod rest;
mod state;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub use ratelimit::{RateLimitStats, RateLimits};
use state::State;

/// Who posts a message.
#[derive(Clone, Debug)]
pub enum Author {
    /// An integration webhook (the usual feed poster): `webhook_id` set, `author.bot` true.
    Webhook { name: String },
    /// Another bot user, a guild member (created on first use, same id for the same name).
    Bot { name: String },
    /// A human guild member created with `add_member`.
    User(u64),
    /// The bot itself (as if it had posted, e.g. before a restart).
    Me,
}

impl Author {
    /// `Author::Webhook` with this name.
    pub fn webhook(name: &str) -> Author {
        Author::Webhook {
            name: name.to_string(),
        }
    }

    /// `Author::Bot` with this name.
    pub fn bot(name: &str) -> Author {
        Author::Bot {
            name: name.to_string(),
        }
    }
}

/// An injected REST failure.
#[derive(Clone, Debug)]
pub enum Failure {
    /// 429 with `{"message", "retry_after", "global": false}` and `retry-after` /
    /// `x-ratelimit-*` headers.
    RateLimited { retry_after: f64 },
    /// Any status (e.g. 500, 502, 503) with a Discord-style `{"message", "code": 0}` body.
    Status(u16),
}

/// One REST call the fake received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path without the `/api/v10` prefix, e.g. `/channels/123/messages`.
    pub path: String,
    /// Query parameters in order (serenity writes `?&limit=50&after=1`; empty pairs dropped).
    pub query: Vec<(String, String)>,
    /// JSON body, multipart `payload_json` parsed; `Null` when there was none.
    pub body: Value,
    /// File names uploaded in a multipart body.
    pub files: Vec<String>,
    /// The file parts of a multipart body, with their bytes.
    pub uploads: Vec<Upload>,
    /// The `Authorization` header (`Bot <token>`).
    pub authorization: Option<String>,
    /// Status the fake answered.
    pub status: u16,
    /// Body the fake answered (`Null` for 204).
    pub response: Value,
}

/// One file part of a multipart body (`files[n]`).
#[derive(Clone, Debug)]
pub struct Upload {
    /// The form field, e.g. `files[0]`.
    pub field: String,
    pub filename: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

impl RecordedRequest {
    /// `"METHOD /path"`, the string `fail_next` patterns are matched against.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// A query parameter's value.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Tunables of a fake; `Default` is what Discord does.
#[derive(Clone, Debug)]
pub struct FakeDiscordOptions {
    /// HELLO's heartbeat interval (Discord: ~41250 ms).
    pub heartbeat_interval_ms: u64,
    /// How long after INTERACTION_CREATE a callback is still accepted (Discord: 3 s).
    pub interaction_deadline: Duration,
    /// Discord-like rate limits with their headers and 429s; `None` (the default, unlike
    /// Discord) answers everything at once and sends no rate-limit headers.
    pub rate_limits: Option<RateLimits>,
}

impl Default for FakeDiscordOptions {
    fn default() -> Self {
        FakeDiscordOptions {
            heartbeat_interval_ms: 41_250,
            interaction_deadline: Duration::from_secs(3),
            rate_limits: None,
        }
    }
}

/// Handle to a running fake Discord; cheap to clone. The server stops when the test's runtime
/// shuts down.
#[derive(Clone)]
pub struct FakeDiscord {
    state: Arc<Mutex<State>>,
}

/// How often the `wait_*` helpers look at the state.
const POLL: Duration = Duration::from_millis(5);

impl FakeDiscord {
    /// Starts a fake with Discord's defaults on 127.0.0.1 (random port).
    pub async fn start() -> FakeDiscord {
        Self::start_with(FakeDiscordOptions::default()).await
    }

    /// Starts a fake with the given options.
    pub async fn start_with(options: FakeDiscordOptions) -> FakeDiscord {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake discord");
        let port = listener.local_addr().expect("local addr").port();
        let mut state = State::new(port, options.heartbeat_interval_ms, options.interaction_deadline);
        state.rate_limits = options.rate_limits.map(ratelimit::Limits::new);
        let fake = FakeDiscord {
            state: Arc::new(Mutex::new(state)),
        };
        let app = axum::Router::new()
            .route("/gateway", axum::routing::get(gateway::ws_route))
            .fallback(rest::rest_route)
            .with_state(fake.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake discord server");
        });
        fake
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock (a failed assert in a route) must not hide later ones.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `http://127.0.0.1:PORT`: what `discord.api_base` / `HttpBuilder::proxy` should be.
    pub fn api_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.lock().port)
    }

    /// `ws://127.0.0.1:PORT/gateway`, as returned by `GET /gateway`.
    pub fn gateway_url(&self) -> String {
        self.lock().ws_url()
    }

    /// The bot's own user id (READY.user.id); also the application id.
    pub fn bot_user_id(&self) -> u64 {
        self.lock().bot_user_id
    }

    /// The application id (equal to the bot user id, as for Discord bots).
    pub fn application_id(&self) -> u64 {
        self.lock().application_id()
    }

    /// The one guild.
    pub fn guild_id(&self) -> u64 {
        self.lock().guild_id
    }

    /// Adds a text channel to the guild (in GUILD_CREATE; CHANNEL_CREATE if connected).
    pub fn add_channel(&self, name: &str) -> u64 {
        let mut st = self.lock();
        let id = st.add_text_channel(name);
        let channel = st.channels[&id].clone();
        gateway::dispatch(&mut st, "CHANNEL_CREATE", |intents| {
            (intents & state::INTENT_GUILDS != 0).then(|| channel.clone())
        });
        id
    }

    /// Adds a role (no permissions of its own; members get broad permissions anyway).
    pub fn add_role(&self, name: &str) -> u64 {
        let mut st = self.lock();
        let id = st.next_id();
        let position = st.roles.len() as u64;
        let role = state::role_json(id, name, position, "0");
        st.roles.insert(id, role.clone());
        let guild_id = st.guild_id.to_string();
        gateway::dispatch(&mut st, "GUILD_ROLE_CREATE", |intents| {
            (intents & state::INTENT_GUILDS != 0).then(|| json!({"guild_id": guild_id, "role": role}))
        });
        id
    }

    /// Adds a human user as a guild member with these roles; returns the user id.
    pub fn add_member(&self, name: &str, roles: &[u64]) -> u64 {
        let mut st = self.lock();
        for role in roles {
            assert!(st.roles.contains_key(role), "fake discord: unknown role {role}");
        }
        let id = st.add_user(name, false);
        st.members.insert(id, roles.to_vec());
        st.member_joined_at.insert(id, state::timestamp_of(id));
        id
    }

    /// Adds a role with these permission bits; returns its id.
    pub fn add_role_with_permissions(&self, name: &str, permissions: u64) -> u64 {
        let id = self.add_role(name);
        self.set_role_permissions(id, permissions);
        id
    }

    /// Sets a role's permission bits (the @everyone role's id is the guild id).
    pub fn set_role_permissions(&self, role_id: u64, permissions: u64) {
        let mut st = self.lock();
        let role = st.roles.get_mut(&role_id).expect("fake discord: unknown role");
        role["permissions"] = json!(permissions.to_string());
    }

    /// Sets a channel's `permission_overwrites`: `(id, type 0 role / 1 member, allow, deny)`.
    pub fn set_channel_overwrites(&self, channel_id: u64, overwrites: &[(u64, u8, u64, u64)]) {
        let mut st = self.lock();
        let channel = st
            .channels
            .get_mut(&channel_id)
            .expect("fake discord: unknown channel");
        channel["permission_overwrites"] = overwrites
            .iter()
            .map(|(id, kind, allow, deny)| {
                json!({"id": id.to_string(), "type": kind, "allow": allow.to_string(), "deny": deny.to_string()})
            })
            .collect();
    }

    /// Turns the application's Message Content intent (`GET /applications/@me` flags) on or off.
    pub fn set_message_content_intent(&self, on: bool) {
        let mut st = self.lock();
        st.app_flags = if on {
            state::APP_FLAG_MESSAGE_CONTENT_LIMITED
        } else {
            0
        };
    }

    /// From now on only `Bot <token>` is accepted (others get 401, as a reset token would).
    pub fn require_token(&self, token: &str) {
        self.lock().token = Some(token.to_string());
    }

    /// Changes a member's roles (no gateway event; interactions carry the new roles).
    pub fn set_member_roles(&self, user_id: u64, roles: &[u64]) {
        self.lock().members.insert(user_id, roles.to_vec());
    }

    /// Posts a message (stored in history) and dispatches MESSAGE_CREATE to connected shards.
    pub async fn post_message(
        &self,
        channel_id: u64,
        author: Author,
        content: &str,
        embeds: Vec<Value>,
    ) -> u64 {
        let mut st = self.lock();
        let body = json!({"content": content, "embeds": embeds});
        let message = st.store_message(channel_id, &author, &body, Vec::new(), None);
        gateway::dispatch_message(&mut st, "MESSAGE_CREATE", &message);
        id_of(&message)
    }

    /// Stores a message WITHOUT dispatching it (posted while the bot was offline).
    pub fn post_message_offline(
        &self,
        channel_id: u64,
        author: Author,
        content: &str,
        embeds: Vec<Value>,
    ) -> u64 {
        let mut st = self.lock();
        let body = json!({"content": content, "embeds": embeds});
        id_of(&st.store_message(channel_id, &author, &body, Vec::new(), None))
    }

    /// INTERACTION_CREATE for a slash command `/name [sub] options...` by `user_id` in a
    /// channel or thread. Option types are inferred from the JSON value (string 3, integer 4,
    /// bool 5, float 10); pass `{"type": 6, "value": "<user id>"}` for user (6), channel (7),
    /// role (8) options: `resolved` is then filled in. Returns the interaction id.
    pub async fn slash_command(
        &self,
        channel_id: u64,
        user_id: u64,
        name: &str,
        sub: Option<&str>,
        options: Vec<(&str, Value)>,
    ) -> u64 {
        self.command_interaction(2, channel_id, user_id, name, sub, options, None)
    }

    /// INTERACTION_CREATE type 4 (autocomplete): like `slash_command`, with option `focused`
    /// marked as being typed (its value must be a string).
    pub async fn autocomplete(
        &self,
        channel_id: u64,
        user_id: u64,
        name: &str,
        sub: Option<&str>,
        options: Vec<(&str, Value)>,
        focused: &str,
    ) -> u64 {
        self.command_interaction(4, channel_id, user_id, name, sub, options, Some(focused))
    }

    #[allow(clippy::too_many_arguments)]
    fn command_interaction(
        &self,
        kind: u64,
        channel_id: u64,
        user_id: u64,
        name: &str,
        sub: Option<&str>,
        options: Vec<(&str, Value)>,
        focused: Option<&str>,
    ) -> u64 {
        let mut st = self.lock();
        let command_id = st.command_id(name);
        let mut resolved = json!({});
        let mut opts: Vec<Value> = options
            .iter()
            .map(|(n, v)| {
                let mut o = st.command_option(n, v, &mut resolved);
                if focused == Some(*n) {
                    o["focused"] = json!(true);
                }
                o
            })
            .collect();
        if let Some(sub) = sub {
            opts = vec![json!({"name": sub, "type": 1, "options": opts})];
        }
        let (id, mut payload) = st.interaction_base(kind, channel_id, user_id, None);
        let guild_command = st.commands.iter().any(|(g, c)| g.is_some() && c["name"] == name);
        payload["data"] = json!({"id": command_id.to_string(), "name": name, "type": 1, "options": opts});
        if guild_command {
            payload["data"]["guild_id"] = json!(st.guild_id.to_string());
        }
        if resolved.as_object().is_some_and(|r| !r.is_empty()) {
            payload["data"]["resolved"] = resolved;
        }
        gateway::dispatch(&mut st, "INTERACTION_CREATE", |_| Some(payload.clone()));
        id
    }

    /// INTERACTION_CREATE for a button (component_type 2) with `custom_id` on a stored message.
    pub async fn press_button(&self, channel_id: u64, message_id: u64, user_id: u64, custom_id: &str) -> u64 {
        let mut st = self.lock();
        let message = st
            .messages
            .get(&channel_id)
            .and_then(|m| m.get(&message_id))
            .cloned()
            .unwrap_or_else(|| panic!("fake discord: no message {message_id} in channel {channel_id}"));
        let (id, mut payload) = st.interaction_base(3, channel_id, user_id, Some(message_id));
        payload["data"] = json!({"custom_id": custom_id, "component_type": 2});
        payload["message"] = message;
        gateway::dispatch(&mut st, "INTERACTION_CREATE", |_| Some(payload.clone()));
        id
    }

    /// INTERACTION_CREATE type 5 (MODAL_SUBMIT) for the modal `custom_id` by `user_id` in
    /// `channel_id`: one action row per `(input custom_id, value)`, each holding one text input.
    /// `message_id` is the message whose button opened the modal (Discord then sends it as
    /// `message`, and the submit may be answered with UPDATE_MESSAGE); `None` for a modal opened
    /// by a slash command. Returns the interaction id.
    pub async fn submit_modal(
        &self,
        channel_id: u64,
        user_id: u64,
        message_id: Option<u64>,
        custom_id: &str,
        values: &[(&str, &str)],
    ) -> u64 {
        let mut st = self.lock();
        let message = message_id.map(|message_id| {
            st.messages
                .get(&channel_id)
                .and_then(|m| m.get(&message_id))
                .cloned()
                .unwrap_or_else(|| panic!("fake discord: no message {message_id} in channel {channel_id}"))
        });
        let (id, mut payload) = st.interaction_base(5, channel_id, user_id, message_id);
        // Discord numbers every component of the submitted modal (`id`), rows and inputs alike.
        let rows: Vec<Value> = values
            .iter()
            .zip((1..).step_by(2))
            .map(|((name, value), n)| {
                json!({"type": 1, "id": n, "components": [
                    {"type": 4, "id": n + 1, "custom_id": name, "value": value}
                ]})
            })
            .collect();
        payload["data"] = json!({"custom_id": custom_id, "components": rows});
        if let Some(message) = message {
            payload["message"] = message;
        }
        gateway::dispatch(&mut st, "INTERACTION_CREATE", |_| Some(payload.clone()));
        id
    }

    /// Sends any dispatch `t` with payload `d`, as is, to the sessions owning the guild (for
    /// events the fake has no helper for, or deliberately broken payloads).
    pub async fn dispatch_raw(&self, t: &str, d: Value) {
        gateway::dispatch(&mut self.lock(), t, |_| Some(d.clone()));
    }

    /// Callback bodies (with `type`), then edits of the original and followups (message bodies),
    /// in the order the bot sent them.
    pub fn interaction_responses(&self, interaction_id: u64) -> Vec<Value> {
        self.lock()
            .interactions
            .get(&interaction_id)
            .map(|r| r.responses.clone())
            .unwrap_or_default()
    }

    /// The modal (`data` of a MODAL callback: `custom_id`, `title`, `components`) the bot opened
    /// in answer to this button press or slash command, if it answered with one.
    pub fn modal_opened(&self, interaction_id: u64) -> Option<Value> {
        self.interaction_responses(interaction_id)
            .into_iter()
            .next()
            .filter(|callback| callback["type"] == 9)
            .map(|callback| callback["data"].clone())
    }

    /// The token of an interaction the fake sent (to answer it by hand through `Http`).
    pub fn interaction_token(&self, interaction_id: u64) -> String {
        self.lock()
            .interactions
            .get(&interaction_id)
            .map(|r| r.token.clone())
            .unwrap_or_else(|| panic!("fake discord: no interaction {interaction_id}"))
    }

    /// The interaction's original response message as it stands (after edits), if any.
    pub fn interaction_original(&self, interaction_id: u64) -> Option<Value> {
        self.lock()
            .interactions
            .get(&interaction_id)
            .and_then(|r| r.original.clone())
    }

    /// Waits for the first response (the callback body) to an interaction.
    pub async fn wait_for_interaction_response(&self, interaction_id: u64, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(first) = self.interaction_responses(interaction_id).into_iter().next() {
                return first;
            }
            if Instant::now() > deadline {
                panic!("fake discord: no response to interaction {interaction_id} within {timeout:?}; requests seen:\n{}", self.requests_summary());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// What the rate limits counted and refused so far (all zero when they are off).
    pub fn rate_limit_stats(&self) -> RateLimitStats {
        self.lock()
            .rate_limits
            .as_ref()
            .map(|l| l.stats)
            .unwrap_or_default()
    }

    /// Every REST call so far.
    /// How many message creations were answered with an earlier message of the same nonce.
    pub fn nonce_replays(&self) -> usize {
        self.lock().nonce_replays
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// One line per REST call, for failure messages.
    pub fn requests_summary(&self) -> String {
        self.lock()
            .requests
            .iter()
            .map(|r| format!("  {} -> {} {}", r.line(), r.status, r.body))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits for a REST call matching `pred` (including ones already made); panics with the
    /// list of calls seen on timeout.
    pub async fn wait_for_request(
        &self,
        pred: impl Fn(&RecordedRequest) -> bool,
        timeout: Duration,
    ) -> RecordedRequest {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.lock().requests.iter().find(|r| pred(r)).cloned() {
                return r;
            }
            if Instant::now() > deadline {
                panic!(
                    "fake discord: no matching request within {timeout:?}; requests seen:\n{}",
                    self.requests_summary()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Messages of a channel or thread, oldest first, as they stand (after edits).
    pub fn messages(&self, channel_id: u64) -> Vec<Value> {
        self.lock()
            .messages
            .get(&channel_id)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// One stored message, wherever it is.
    pub fn message(&self, message_id: u64) -> Option<Value> {
        self.lock().find_message(message_id).map(|(_, m)| m)
    }

    /// All threads.
    pub fn threads(&self) -> Vec<Value> {
        self.lock().threads()
    }

    /// Registered application commands (global and guild).
    pub fn commands(&self) -> Vec<Value> {
        self.lock().commands.iter().map(|(_, c)| c.clone()).collect()
    }

    /// The next `times` REST calls whose `"METHOD /path"` contains `pattern` (or matches it as a
    /// regex) fail with `failure`.
    pub fn fail_next(&self, pattern: &str, times: usize, failure: Failure) {
        let regex = regex::Regex::new(pattern).ok();
        self.lock().injections.push(state::Injection {
            pattern: pattern.to_string(),
            regex,
            remaining: times,
            failure,
        });
    }

    /// Drops every gateway connection without a close frame (sessions stay resumable) and waits
    /// until they are gone; serenity reconnects and RESUMEs.
    pub async fn drop_gateway_sessions(&self) {
        let killed = gateway::kill_connections(&mut self.lock());
        self.wait_until(
            |st| killed.iter().all(|c| !st.connections.contains_key(c)),
            Duration::from_secs(5),
            "gateway connections to close",
        )
        .await;
    }

    /// Forgets every session and drops the connections: the RESUME gets INVALID_SESSION(false)
    /// and serenity IDENTIFYs again (after its shard queuer's pause of up to 5 s).
    pub async fn invalidate_gateway_sessions(&self) {
        let killed = {
            let mut st = self.lock();
            st.sessions.clear();
            gateway::kill_connections(&mut st)
        };
        self.wait_until(
            |st| killed.iter().all(|c| !st.connections.contains_key(c)),
            Duration::from_secs(5),
            "gateway connections to close",
        )
        .await;
    }

    /// IDENTIFYs received.
    pub fn gateway_identifies(&self) -> usize {
        self.lock().identify_payloads.len()
    }

    /// RESUMEs received (successful or not).
    pub fn gateway_resumes(&self) -> usize {
        self.lock().resumes
    }

    /// The `d` of every IDENTIFY (token, intents, shard, properties, ...).
    pub fn identify_payloads(&self) -> Vec<Value> {
        self.lock().identify_payloads.clone()
    }

    /// Every frame the gateway sent, in order (to check they all deserialise).
    pub fn gateway_frames(&self) -> Vec<Value> {
        self.lock().sent_frames.clone()
    }

    /// Panics unless serenity can deserialise every frame the gateway has sent (dispatches
    /// checked against serenity's concrete types: a bad one would silently become
    /// `Event::Unknown` and never reach the handler).
    pub fn assert_gateway_frames_deserialise(&self) {
        let problems: Vec<String> = self
            .gateway_frames()
            .iter()
            .filter_map(check::frame_problem)
            .collect();
        assert!(
            problems.is_empty(),
            "serenity cannot read these gateway frames: {problems:#?}"
        );
    }

    /// Number of open gateway connections.
    pub fn gateway_connections(&self) -> usize {
        self.lock().connections.len()
    }

    /// Waits until a shard has IDENTIFIED and READY + GUILD_CREATE were written to its socket.
    pub async fn wait_until_ready(&self, timeout: Duration) {
        self.wait_until(|st| st.ready_delivered > 0, timeout, "a shard to get READY")
            .await;
    }

    /// Waits until `n` READY + GUILD_CREATE sequences have been delivered in total (e.g. 2
    /// after a re-IDENTIFY).
    pub async fn wait_until_ready_count(&self, n: usize, timeout: Duration) {
        self.wait_until(|st| st.ready_delivered >= n, timeout, "READY deliveries")
            .await;
    }

    /// Waits until a shard is attached to a session again after `drop_gateway_sessions`.
    pub async fn wait_until_connected(&self, timeout: Duration) {
        self.wait_until(
            |st| st.sessions.values().any(|s| s.conn.is_some()),
            timeout,
            "a shard to (re)attach to a session",
        )
        .await;
    }

    async fn wait_until(&self, cond: impl Fn(&State) -> bool, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(&self.lock()) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "fake discord: timed out after {timeout:?} waiting for {what}; requests seen:\n{}",
                    self.requests_summary()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

fn id_of(message: &Value) -> u64 {
    message["id"]
        .as_str()
        .and_then(state::snowflake)
        .expect("message id")
}

/// The users and roles a message body would ping, as Discord computes it: `<@id>` / `<@!id>`
/// and `<@&id>` in `content` (embeds never ping), filtered by `allowed_mentions`. `@everyone`
/// and `@here` come back as the role `"everyone"`. Without `allowed_mentions` everything in
/// `content` pings (Discord's default, `parse` of all three); with it, a kind pings wholesale
/// when `parse` names it (`"users"`, `"roles"`, `"everyone"`) and otherwise only the ids listed
/// in `users` / `roles`. Ids come once each, in order of first mention. Not modelled: the
/// replied-to author (`replied_user`, needs the referenced message) and permissions (Discord
/// drops role and @everyone pings the author may not make).
pub fn pings(body: &Value) -> (Vec<String>, Vec<String>) {
    let content = body.get("content").and_then(Value::as_str).unwrap_or("");
    let allowed = body.get("allowed_mentions").filter(|a| !a.is_null());
    let parses = |kind: &str| {
        allowed.is_none_or(|a| a["parse"].as_array().is_some_and(|p| p.iter().any(|k| k == kind)))
    };
    let listed = |kind: &str, id: &str| {
        allowed.is_some_and(|a| a[kind].as_array().is_some_and(|ids| ids.iter().any(|i| i == id)))
    };
    let mention = regex::Regex::new(r"<@(!|&)?(\d+)>|@(everyone|here)").expect("mention regex");
    let (mut users, mut roles) = (Vec::new(), Vec::new());
    for m in mention.captures_iter(content) {
        let (list, id, pings) = match (m.get(1).map(|k| k.as_str()), m.get(2)) {
            (Some("&"), Some(id)) => {
                let id = id.as_str();
                (&mut roles, id, parses("roles") || listed("roles", id))
            }
            (_, Some(id)) => {
                let id = id.as_str();
                (&mut users, id, parses("users") || listed("users", id))
            }
            (_, None) => (&mut roles, "everyone", parses("everyone")),
        };
        if pings && !list.iter().any(|known| known == id) {
            list.push(id.to_string());
        }
    }
    (users, roles)
}
