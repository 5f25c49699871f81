//! The fake's world: guild, users, channels, messages, interactions, sessions and the
//! recorded REST calls, plus the builders that turn them into Discord-shaped JSON.
//!
//! Every JSON object built here carries all the fields serenity 0.12 requires to deserialise
//! it (see `Guild`, `GuildChannel`, `Role`, `Member`, `Message`, `CommandInteraction`,
//! `ComponentInteraction` in serenity's `model/`) and follows the shapes of Discord's OpenAPI
//! description (`MessageResponse`, `ThreadResponse`, `GuildChannelResponse`, ...).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;

use super::{Author, Failure, RecordedRequest};

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Permissions of the bot and of members in interactions: everything but administrator.
pub(crate) const MEMBER_PERMISSIONS: &str = "2248473465835073";

/// Intents bits the fake honours.
pub(crate) const INTENT_GUILDS: u64 = 1 << 0;
pub(crate) const INTENT_GUILD_MESSAGES: u64 = 1 << 9;
pub(crate) const INTENT_MESSAGE_CONTENT: u64 = 1 << 15;

/// `GATEWAY_MESSAGE_CONTENT_LIMITED`: the Message Content intent of an app in < 100 servers.
pub(crate) const APP_FLAG_MESSAGE_CONTENT_LIMITED: u64 = 1 << 19;

/// Something to write to one gateway connection.
pub(crate) enum Outgoing {
    /// A JSON text frame; `ready` marks the frame that completes READY + GUILD_CREATE.
    Frame { text: String, ready: bool },
    /// Drop the connection without a close frame, like a network failure.
    Kill,
}

/// One open gateway websocket.
pub(crate) struct Connection {
    pub tx: UnboundedSender<Outgoing>,
}

/// One gateway session (IDENTIFY creates it, RESUME re-attaches to it).
pub(crate) struct Session {
    pub shard: (u64, u64),
    pub intents: u64,
    pub seq: u64,
    /// Every dispatch of the session, for replay on RESUME.
    pub log: Vec<(u64, String)>,
    /// The connection currently attached, if any.
    pub conn: Option<u64>,
}

/// An interaction the fake has sent, and what the bot answered.
pub(crate) struct InteractionRecord {
    pub id: u64,
    pub token: String,
    pub channel_id: u64,
    /// Interaction type: 2 command, 3 component, 4 autocomplete, 5 modal submit.
    pub kind: u64,
    /// The message a component interaction came from.
    pub message_id: Option<u64>,
    pub created: std::time::Instant,
    pub acknowledged: bool,
    /// Callback bodies, edits of the original and followups, in arrival order.
    pub responses: Vec<Value>,
    /// The original response message (created by callback type 4/5, edited by @original).
    pub original: Option<Value>,
    pub followups: BTreeMap<u64, Value>,
}

/// A pending failure injection.
pub(crate) struct Injection {
    pub pattern: String,
    pub regex: Option<regex::Regex>,
    pub remaining: usize,
    pub failure: Failure,
}

impl Injection {
    pub fn matches(&self, line: &str) -> bool {
        line.contains(&self.pattern) || self.regex.as_ref().is_some_and(|r| r.is_match(line))
    }
}

/// The whole mutable state behind one `FakeDiscord`.
pub(crate) struct State {
    pub port: u16,
    pub heartbeat_interval_ms: u64,
    pub interaction_deadline: Duration,
    last_id: u64,
    pub guild_id: u64,
    pub guild_joined_at: String,
    pub bot_user_id: u64,
    pub owner_id: u64,
    pub users: BTreeMap<u64, Value>,
    /// user id -> role ids, for users that are guild members.
    pub members: BTreeMap<u64, Vec<u64>>,
    pub member_joined_at: HashMap<u64, String>,
    /// Role objects by id; the @everyone role has the guild's id.
    pub roles: BTreeMap<u64, Value>,
    /// Guild channels and threads by id.
    pub channels: BTreeMap<u64, Value>,
    /// channel id -> message id -> message.
    pub messages: BTreeMap<u64, BTreeMap<u64, Value>>,
    /// Message creations answered with the earlier message of the same nonce (`enforce_nonce`).
    pub nonce_replays: usize,
    /// Webhook/bot pseudo-authors by name, so the same name keeps its id.
    pub webhooks: HashMap<String, u64>,
    pub other_bots: HashMap<String, u64>,
    pub interactions: HashMap<u64, InteractionRecord>,
    /// Registered application commands: (guild id or None, command object).
    pub commands: Vec<(Option<u64>, Value)>,
    pub requests: Vec<RecordedRequest>,
    pub injections: Vec<Injection>,
    /// Discord-like rate limits, when the fake was started with them.
    pub rate_limits: Option<super::ratelimit::Limits>,
    /// The application's `flags` (`GET /applications/@me`); Message Content (limited) is on.
    pub app_flags: u64,
    /// When set, only `Bot <this>` is accepted; any other token gets 401.
    pub token: Option<String>,
    pub sessions: HashMap<String, Session>,
    pub connections: HashMap<u64, Connection>,
    pub next_conn_id: u64,
    pub identify_payloads: Vec<Value>,
    pub resumes: usize,
    pub ready_delivered: usize,
    /// Every frame sent on any gateway connection (parsed), in order.
    pub sent_frames: Vec<Value>,
}

impl State {
    pub fn new(port: u16, heartbeat_interval_ms: u64, interaction_deadline: Duration) -> Self {
        let mut state = State {
            port,
            heartbeat_interval_ms,
            interaction_deadline,
            last_id: 0,
            guild_id: 0,
            guild_joined_at: String::new(),
            bot_user_id: 0,
            owner_id: 0,
            users: BTreeMap::new(),
            members: BTreeMap::new(),
            member_joined_at: HashMap::new(),
            roles: BTreeMap::new(),
            channels: BTreeMap::new(),
            messages: BTreeMap::new(),
            nonce_replays: 0,
            webhooks: HashMap::new(),
            other_bots: HashMap::new(),
            interactions: HashMap::new(),
            commands: Vec::new(),
            requests: Vec::new(),
            injections: Vec::new(),
            rate_limits: None,
            app_flags: APP_FLAG_MESSAGE_CONTENT_LIMITED,
            token: None,
            sessions: HashMap::new(),
            connections: HashMap::new(),
            next_conn_id: 1,
            identify_payloads: Vec::new(),
            resumes: 0,
            ready_delivered: 0,
            sent_frames: Vec::new(),
        };
        state.guild_id = state.next_id();
        state.guild_joined_at = timestamp_of(state.guild_id);
        state.bot_user_id = state.next_id();
        let bot = user_json(state.bot_user_id, "carebot", true);
        state.users.insert(state.bot_user_id, bot);
        state.members.insert(state.bot_user_id, Vec::new());
        state.owner_id = state.add_user("guild-owner", false);
        state.members.insert(state.owner_id, Vec::new());
        let everyone = role_json(state.guild_id, "@everyone", 0, "1071698660929");
        state.roles.insert(state.guild_id, everyone);
        state
    }

    /// A fresh snowflake whose timestamp is now, strictly greater than every earlier one.
    pub fn next_id(&mut self) -> u64 {
        let now_ms = chrono::Utc::now().timestamp_millis() as u64;
        let candidate = (now_ms - DISCORD_EPOCH_MS) << 22;
        self.last_id = candidate.max(self.last_id + 1);
        self.last_id
    }

    pub fn add_user(&mut self, name: &str, bot: bool) -> u64 {
        let id = self.next_id();
        self.users.insert(id, user_json(id, name, bot));
        id
    }

    pub fn application_id(&self) -> u64 {
        self.bot_user_id
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/gateway", self.port)
    }

    pub fn user(&self, id: u64) -> Value {
        self.users
            .get(&id)
            .cloned()
            .unwrap_or_else(|| panic!("fake discord: unknown user {id}"))
    }

    /// A guild member object (`GuildMemberResponse`), with the user inside.
    pub fn member(&self, user_id: u64, with_permissions: bool) -> Value {
        let roles = self.members.get(&user_id).cloned().unwrap_or_default();
        let joined_at = self
            .member_joined_at
            .get(&user_id)
            .cloned()
            .unwrap_or_else(|| self.guild_joined_at.clone());
        let mut member = json!({
            "user": self.user(user_id),
            "nick": null,
            "avatar": null,
            "banner": null,
            "roles": roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            "joined_at": joined_at,
            "premium_since": null,
            "deaf": false,
            "mute": false,
            "flags": 0,
            "pending": false,
            "communication_disabled_until": null,
            "unusual_dm_activity_until": null,
        });
        if with_permissions {
            member["permissions"] = json!(MEMBER_PERMISSIONS);
        }
        member
    }

    /// A member object without `user`, as Discord puts it next to a message's author.
    pub fn partial_member(&self, user_id: u64) -> Value {
        let mut member = self.member(user_id, false);
        member
            .as_object_mut()
            .expect("member is an object")
            .remove("user");
        member
    }

    pub fn add_text_channel(&mut self, name: &str) -> u64 {
        let id = self.next_id();
        let position = self.channels.values().filter(|c| c["type"] == 0).count();
        let channel = json!({
            "id": id.to_string(),
            "type": 0,
            "guild_id": self.guild_id.to_string(),
            "name": name,
            "position": position,
            "permission_overwrites": [],
            "topic": null,
            "nsfw": false,
            "last_message_id": null,
            "last_pin_timestamp": null,
            "rate_limit_per_user": 0,
            "parent_id": null,
            "flags": 0,
            "default_auto_archive_duration": 1440,
            "default_thread_rate_limit_per_user": 0,
            "available_tags": [],
        });
        self.channels.insert(id, channel);
        self.messages.insert(id, BTreeMap::new());
        id
    }

    /// A thread channel (`ThreadResponse`) with the bot as creator and member.
    pub fn new_thread(&mut self, id: u64, parent_id: u64, name: &str, kind: u64, archive: u64) -> Value {
        let now = timestamp_of(id.max(self.last_id));
        let mut thread = json!({
            "id": id.to_string(),
            "type": kind,
            "guild_id": self.guild_id.to_string(),
            "parent_id": parent_id.to_string(),
            "owner_id": self.bot_user_id.to_string(),
            "name": name,
            "last_message_id": null,
            "last_pin_timestamp": null,
            "rate_limit_per_user": 0,
            "flags": 0,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "applied_tags": [],
            "thread_metadata": {
                "archived": false,
                "auto_archive_duration": archive,
                "archive_timestamp": now,
                "locked": false,
                "create_timestamp": now,
            },
            "member": {
                "id": id.to_string(),
                "user_id": self.bot_user_id.to_string(),
                "join_timestamp": now,
                "flags": 1,
            },
        });
        if kind == 12 {
            thread["thread_metadata"]["invitable"] = json!(true);
        }
        self.channels.insert(id, thread.clone());
        self.messages.entry(id).or_default();
        thread
    }

    pub fn is_thread(&self, channel_id: u64) -> bool {
        self.channels
            .get(&channel_id)
            .is_some_and(|c| matches!(c["type"].as_u64(), Some(10..=12)))
    }

    pub fn threads(&self) -> Vec<Value> {
        self.channels
            .keys()
            .filter(|id| self.is_thread(**id))
            .map(|id| self.channels[id].clone())
            .collect()
    }

    /// The author object and, for guild members, the partial member, of a post by `author`.
    pub fn author(&mut self, author: &Author) -> (Value, Option<u64>, Option<u64>) {
        match author {
            Author::Webhook { name } => {
                let id = match self.webhooks.get(name) {
                    Some(id) => *id,
                    None => {
                        let id = self.next_id();
                        self.webhooks.insert(name.clone(), id);
                        id
                    }
                };
                let mut user = user_json(id, name, true);
                user["discriminator"] = json!("0000");
                (user, None, Some(id))
            }
            Author::Bot { name } => {
                let id = match self.other_bots.get(name) {
                    Some(id) => *id,
                    None => {
                        let id = self.add_user(name, true);
                        self.members.insert(id, Vec::new());
                        self.other_bots.insert(name.clone(), id);
                        id
                    }
                };
                (self.user(id), Some(id), None)
            }
            Author::User(id) => (self.user(*id), Some(*id), None),
            Author::Me => (self.user(self.bot_user_id), Some(self.bot_user_id), None),
        }
    }

    /// Builds and stores a message (`MessageResponse` shape); returns it as stored (no guild_id,
    /// no member: REST shape).
    #[allow(clippy::too_many_arguments)]
    pub fn store_message(
        &mut self,
        channel_id: u64,
        author: &Author,
        body: &Value,
        attachments: Vec<Value>,
        extra: Option<Value>,
    ) -> Value {
        assert!(
            self.channels.contains_key(&channel_id),
            "fake discord: unknown channel {channel_id}"
        );
        let (user, _member_id, webhook_id) = self.author(author);
        let id = self.next_id();
        let mut message = json!({
            "id": id.to_string(),
            "channel_id": channel_id.to_string(),
            "type": 0,
            "author": user,
            "content": body.get("content").and_then(Value::as_str).unwrap_or(""),
            "timestamp": timestamp_of(id),
            "edited_timestamp": null,
            "tts": body.get("tts").and_then(Value::as_bool).unwrap_or(false),
            "mention_everyone": false,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": normalise_embeds(body.get("embeds")),
            "pinned": false,
            "flags": body.get("flags").and_then(Value::as_u64).unwrap_or(0) & !(1 << 12),
            "components": body.get("components").cloned().unwrap_or(json!([])),
        });
        if let Some(webhook_id) = webhook_id {
            message["webhook_id"] = json!(webhook_id.to_string());
        }
        if let Some(reference) = body.get("message_reference").filter(|r| !r.is_null()) {
            message["message_reference"] = reference.clone();
            message["type"] = json!(19);
        }
        if let Some(Value::Object(extra)) = extra {
            for (k, v) in extra {
                message[k] = v;
            }
        }
        self.messages
            .entry(channel_id)
            .or_default()
            .insert(id, message.clone());
        if let Some(channel) = self.channels.get_mut(&channel_id) {
            channel["last_message_id"] = json!(id.to_string());
            if matches!(channel["type"].as_u64(), Some(10..=12)) {
                let count = channel["message_count"].as_u64().unwrap_or(0) + 1;
                channel["message_count"] = json!(count);
                channel["total_message_sent"] = json!(count);
            }
        }
        message
    }

    /// The gateway shape of a stored message: REST shape plus guild_id and member.
    pub fn gateway_message(&self, message: &Value) -> Value {
        let mut message = message.clone();
        message["guild_id"] = json!(self.guild_id.to_string());
        if message.get("webhook_id").is_none() {
            let author_id: u64 = message["author"]["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if self.members.contains_key(&author_id) {
                message["member"] = self.partial_member(author_id);
            }
        }
        message
    }

    pub fn find_message(&self, message_id: u64) -> Option<(u64, Value)> {
        self.messages
            .iter()
            .find_map(|(cid, msgs)| msgs.get(&message_id).map(|m| (*cid, m.clone())))
    }

    /// GUILD_CREATE's guild: every field serenity's `Guild` requires.
    pub fn guild_json(&self) -> Value {
        let (threads, channels): (Vec<Value>, Vec<Value>) = self
            .channels
            .values()
            .cloned()
            .partition(|c| matches!(c["type"].as_u64(), Some(10..=12)));
        let members: Vec<Value> = self.members.keys().map(|id| self.member(*id, false)).collect();
        // Two halves: one json! of this size exceeds the default macro recursion limit.
        let mut guild = json!({
            "id": self.guild_id.to_string(),
            "name": "Care Team",
            "icon": null,
            "icon_hash": null,
            "splash": null,
            "discovery_splash": null,
            "owner_id": self.owner_id.to_string(),
            "afk_channel_id": null,
            "afk_timeout": 300,
            "widget_enabled": false,
            "widget_channel_id": null,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "roles": self.roles.values().cloned().collect::<Vec<_>>(),
            "emojis": [],
            "features": [],
            "mfa_level": 0,
            "application_id": null,
            "system_channel_id": null,
            "system_channel_flags": 0,
            "rules_channel_id": null,
            "max_presences": null,
            "max_members": 500000,
            "vanity_url_code": null,
            "description": null,
            "banner": null,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": null,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw_level": 0,
            "nsfw": false,
            "stickers": [],
            "premium_progress_bar_enabled": false,
        });
        let state = json!({
            "safety_alerts_channel_id": null,
            "incidents_data": null,
            "joined_at": self.guild_joined_at,
            "large": false,
            "unavailable": false,
            "lazy": true,
            "member_count": members.len(),
            "voice_states": [],
            "members": members,
            "channels": channels,
            "threads": threads,
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
            "application_command_counts": {},
            "home_header": null,
            "hub_type": null,
            "latest_onboarding_question_id": null,
            "version": 0,
        });
        for (k, v) in state.as_object().expect("object") {
            guild[k] = v.clone();
        }
        guild
    }

    /// `GET /guilds/{id}` (`GuildResponse`): the guild without the gateway-only fields.
    pub fn guild_rest_json(&self) -> Value {
        let mut guild = self.guild_json();
        let map = guild.as_object_mut().expect("guild is an object");
        for gateway_only in [
            "joined_at",
            "large",
            "unavailable",
            "lazy",
            "member_count",
            "voice_states",
            "members",
            "channels",
            "threads",
            "presences",
            "stage_instances",
            "guild_scheduled_events",
            "soundboard_sounds",
            "embedded_activities",
            "application_command_counts",
            "version",
            "icon_hash",
        ] {
            map.remove(gateway_only);
        }
        map.insert("region".into(), json!("deprecated"));
        guild
    }

    /// The `channel` object Discord puts in an interaction.
    pub fn interaction_channel(&self, channel_id: u64) -> Value {
        let mut channel = self
            .channels
            .get(&channel_id)
            .cloned()
            .unwrap_or_else(|| panic!("fake discord: unknown channel {channel_id}"));
        channel["permissions"] = json!(MEMBER_PERMISSIONS);
        channel
    }

    /// Common fields of an INTERACTION_CREATE payload.
    pub fn interaction_base(
        &mut self,
        kind: u64,
        channel_id: u64,
        user_id: u64,
        message_id: Option<u64>,
    ) -> (u64, Value) {
        assert!(
            self.members.contains_key(&user_id),
            "fake discord: user {user_id} is not a member"
        );
        let id = self.next_id();
        let token = format!("fake-interaction-token-{id}");
        self.interactions.insert(
            id,
            InteractionRecord {
                id,
                token: token.clone(),
                channel_id,
                kind,
                message_id,
                created: std::time::Instant::now(),
                acknowledged: false,
                responses: Vec::new(),
                original: None,
                followups: BTreeMap::new(),
            },
        );
        let payload = json!({
            "id": id.to_string(),
            "application_id": self.application_id().to_string(),
            "type": kind,
            "token": token,
            "version": 1,
            "guild_id": self.guild_id.to_string(),
            "guild": {"id": self.guild_id.to_string(), "locale": "en-US", "features": []},
            "guild_locale": "en-US",
            "channel_id": channel_id.to_string(),
            "channel": self.interaction_channel(channel_id),
            "member": self.member(user_id, true),
            "app_permissions": MEMBER_PERMISSIONS,
            "locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": self.guild_id.to_string()},
            "context": 0,
            "attachment_size_limit": 26_214_400,
        });
        (id, payload)
    }

    /// Id of a registered command with this name, or a stable made-up one.
    pub fn command_id(&mut self, name: &str) -> u64 {
        if let Some((_, cmd)) = self.commands.iter().find(|(_, c)| c["name"] == name) {
            return cmd["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
        }
        let id = self.next_id();
        let command = json!({
            "id": id.to_string(),
            "application_id": self.application_id().to_string(),
            "version": id.to_string(),
            "default_member_permissions": null,
            "type": 1,
            "name": name,
            "description": "(unregistered)",
            "options": [],
            "nsfw": false,
        });
        self.commands.push((None, command));
        id
    }

    /// A command option for an interaction: type inferred from the JSON value, or given
    /// explicitly as `{"type": N, "value": ...}`. Also fills `resolved` for users/roles/channels.
    pub fn command_option(&self, name: &str, value: &Value, resolved: &mut Value) -> Value {
        let (kind, value) = match value {
            Value::Object(map) if map.contains_key("type") && map.contains_key("value") => {
                (map["type"].as_u64().unwrap_or(3), map["value"].clone())
            }
            Value::Bool(_) => (5, value.clone()),
            Value::Number(n) if n.is_i64() || n.is_u64() => (4, value.clone()),
            Value::Number(_) => (10, value.clone()),
            _ => (3, value.clone()),
        };
        let id: u64 = match &value {
            Value::String(s) => s.parse().unwrap_or(0),
            Value::Number(n) => n.as_u64().unwrap_or(0),
            _ => 0,
        };
        match kind {
            6 if self.users.contains_key(&id) => {
                resolved["users"][id.to_string()] = self.user(id);
                if self.members.contains_key(&id) {
                    let mut member = self.partial_member(id);
                    member["permissions"] = json!(MEMBER_PERMISSIONS);
                    resolved["members"][id.to_string()] = member;
                }
            }
            8 if self.roles.contains_key(&id) => resolved["roles"][id.to_string()] = self.roles[&id].clone(),
            7 if self.channels.contains_key(&id) => {
                let c = &self.channels[&id];
                let mut partial = json!({"id": c["id"], "name": c["name"], "type": c["type"], "permissions": MEMBER_PERMISSIONS});
                if let Some(meta) = c.get("thread_metadata") {
                    partial["thread_metadata"] = meta.clone();
                    partial["parent_id"] = c["parent_id"].clone();
                }
                resolved["channels"][id.to_string()] = partial;
            }
            _ => {}
        }
        let value = if matches!(kind, 6..=9) {
            json!(id.to_string())
        } else {
            value
        };
        json!({"name": name, "type": kind, "value": value})
    }
}

/// A user object (`UserResponse`).
pub(crate) fn user_json(id: u64, name: &str, bot: bool) -> Value {
    let mut user = json!({
        "id": id.to_string(),
        "username": name,
        "discriminator": "0",
        "global_name": if bot { Value::Null } else { json!(name) },
        "avatar": null,
        "avatar_decoration_data": null,
        "collectibles": null,
        "primary_guild": null,
        "banner": null,
        "accent_color": null,
        "public_flags": 0,
        "flags": 0,
    });
    if bot {
        user["bot"] = json!(true);
    }
    user
}

/// A role object (`GuildRoleResponse`), including the newer `colors` serenity requires.
pub(crate) fn role_json(id: u64, name: &str, position: u64, permissions: &str) -> Value {
    json!({
        "id": id.to_string(),
        "name": name,
        "description": null,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
        "hoist": false,
        "icon": null,
        "unicode_emoji": null,
        "position": position,
        "permissions": permissions,
        "managed": false,
        "mentionable": false,
        "flags": 0,
    })
}

/// ISO 8601 timestamp of a snowflake, as Discord formats it.
pub(crate) fn timestamp_of(id: u64) -> String {
    let ms = (id >> 22) + DISCORD_EPOCH_MS;
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .expect("valid snowflake time")
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

/// Embeds as Discord returns them: `type: "rich"` added, nulls dropped.
pub(crate) fn normalise_embeds(embeds: Option<&Value>) -> Value {
    let Some(Value::Array(embeds)) = embeds else {
        return json!([]);
    };
    Value::Array(
        embeds
            .iter()
            .map(|e| {
                let mut e = e.clone();
                if let Value::Object(map) = &mut e {
                    map.retain(|_, v| !v.is_null());
                    map.entry("type").or_insert(json!("rich"));
                }
                e
            })
            .collect(),
    )
}

/// Snowflake from a path segment or JSON string.
pub(crate) fn snowflake(s: &str) -> Option<u64> {
    s.parse().ok()
}
