//! Gateway events: feed posts into the engine, backfill on (re)connect, and interactions
//! (handled in `interactions.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serenity::all::{
    Context, EventHandler, GuildId, Interaction, Member, Message, Ready, ResumedEvent, RoleId, Timestamp,
};
use tokio::sync::Notify;

use super::commands;
use super::rest::{Rest, RestError};
use crate::app::{wall_clock, Actor, Engine};
use crate::domain::feed::{FeedEmbed, FeedPost};
use crate::domain::Role;

/// A channel watched for the first time starts this long before now, against clock skew
/// between carebot and Discord.
const LIVE_MARGIN_SECS: i64 = 10;

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds.
const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

/// The smallest snowflake of a moment: every message posted after it has a greater id.
fn snowflake_at(at: DateTime<Utc>) -> u64 {
    ((at.timestamp_millis() - DISCORD_EPOCH_MS).max(0) as u64) << 22
}

/// How far before the stored cursor a start reads history again. Live posts are handled
/// concurrently, so a post can be stored (moving the cursor) while an earlier one is still in
/// flight; if carebot then dies at once (a second signal, a crash), that earlier one would lie
/// behind the cursor. Reading a little history twice costs nothing: posts are deduplicated.
const RESTART_REWIND_MS: u64 = 2 * 60 * 1000;

/// The cursor a start backfills from: [`RESTART_REWIND_MS`] before the stored one.
pub(super) fn rewound(cursor: u64) -> u64 {
    let ms = cursor >> 22;
    ms.saturating_sub(RESTART_REWIND_MS) << 22
}

/// Records that carebot watches `channel` from now on (unless it already has a cursor) and
/// returns that point; `None` when it could not be stored (logged).
pub(super) async fn start_watching(engine: &Engine, channel: u64) -> Option<u64> {
    let since = snowflake_at(Utc::now() - chrono::Duration::seconds(LIVE_MARGIN_SECS));
    match engine
        .store()
        .start_feed_cursor(&channel.to_string(), &since.to_string())
        .await
    {
        Ok(()) => Some(since),
        Err(e) => {
            tracing::warn!(channel, error = %e, "cannot record where this feed channel starts");
            None
        }
    }
}

/// How many messages one history page holds (Discord's maximum).
const HISTORY_PAGE: usize = 100;

/// Shared state of the gateway event handler.
pub struct Handler {
    pub(super) engine: Arc<Engine>,
    pub(super) rest: Rest,
    pub(super) notify: Arc<Notify>,
    /// Wakes the timer sweep: a command may have written timers due before it next looks.
    pub(super) sweep: Arc<Notify>,
    pub(super) guild: GuildId,
    /// Feed channel -> the profile names to read it with (empty: all).
    pub(super) feeds: HashMap<u64, Vec<String>>,
    /// Discord role -> carebot role.
    pub(super) roles: HashMap<RoleId, Role>,
    /// carebot's own user id, known after READY.
    pub(super) me: AtomicU64,
    /// Per feed channel, where the next backfill starts.
    pub(super) resume: Mutex<HashMap<u64, Resume>>,
    /// Events being handled right now: a graceful stop waits for them to finish.
    pub(super) in_flight: Arc<AtomicUsize>,
}

/// Counts one event as in flight while it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: &Arc<AtomicUsize>) -> InFlight {
        count.fetch_add(1, Ordering::SeqCst);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Where a feed channel's next backfill starts.
///
/// Not simply the store's cursor: a live post that arrives while the bot (re)connects moves
/// that cursor past the posts made while it was away, and backfill would skip them. So the
/// start point only moves when the bot knows it missed nothing before it: at start-up (the
/// store's cursor, before connecting), at the end of each backfill (which also runs every
/// few minutes, so a reconnect re-reads little), and at the first post of a new channel.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Resume {
    /// Every post up to this id is stored.
    pub(super) after: Option<u64>,
    /// A live post just after this id could not be stored: backfill must start here at the latest.
    pub(super) failed: Option<u64>,
}

impl Resume {
    fn start(&self) -> Option<u64> {
        match (self.after, self.failed) {
            (Some(a), Some(f)) => Some(a.min(f)),
            (a, f) => a.or(f),
        }
    }
}

/// How often a live post whose transaction failed is tried again before backfill takes over.
const LIVE_RETRIES: u32 = 4;

/// The store's cursor of each feed channel that has one.
pub(super) async fn feed_cursors(engine: &Engine, channels: impl Iterator<Item = u64>) -> HashMap<u64, u64> {
    let mut points = HashMap::new();
    for channel in channels {
        if let Ok(Some(cursor)) = engine.store().feed_cursor(&channel.to_string()).await {
            if let Ok(id) = cursor.parse() {
                points.insert(channel, id);
            }
        }
    }
    points
}

fn to_utc(ts: &Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(ts.unix_timestamp(), 0).unwrap_or_default()
}

/// A Discord message as a transport-neutral feed post.
pub fn feed_post(message: &Message) -> FeedPost {
    FeedPost {
        source_id: format!("discord:{}", message.id),
        channel_id: message.channel_id.to_string(),
        message_id: message.id.to_string(),
        poster: message
            .author
            .global_name
            .clone()
            .unwrap_or_else(|| message.author.name.clone()),
        content: message.content.clone(),
        embeds: message
            .embeds
            .iter()
            .map(|e| FeedEmbed {
                author_name: e.author.as_ref().map(|a| a.name.clone()),
                author_url: e.author.as_ref().and_then(|a| a.url.clone()),
                title: e.title.clone(),
                url: e.url.clone(),
                description: e.description.clone(),
                fields: e
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), f.value.clone()))
                    .collect(),
                footer: e.footer.as_ref().map(|f| f.text.clone()),
                timestamp: e.timestamp.as_ref().map(to_utc),
            })
            .collect(),
        posted_at: to_utc(&message.timestamp),
    }
}

impl Handler {
    fn is_me(&self, id: u64) -> bool {
        self.me.load(Ordering::Relaxed) == id
    }

    /// carebot roles of a guild member, from the configured role mapping.
    pub(super) fn actor(&self, member: Option<&Member>, user: &serenity::all::User) -> Actor {
        let roles = member
            .map(|m| {
                let mut roles: Vec<Role> = m
                    .roles
                    .iter()
                    .filter_map(|r| self.roles.get(r).copied())
                    .collect();
                roles.sort();
                roles.dedup();
                roles
            })
            .unwrap_or_default();
        let name = member
            .and_then(|m| m.nick.clone())
            .or_else(|| user.global_name.clone())
            .unwrap_or_else(|| user.name.clone());
        Actor::new(user.id.to_string(), name, roles)
    }

    /// A post in a feed channel (live or backfilled). carebot's own posts are never read.
    /// Returns false when it could not be stored (it must be read again later).
    async fn receive(&self, message: &Message) -> bool {
        if self.is_me(message.author.id.get()) {
            return true;
        }
        let Some(profiles) = self.feeds.get(&message.channel_id.get()) else {
            return true;
        };
        let post = feed_post(message);
        let only = (!profiles.is_empty()).then_some(profiles.as_slice());
        match self.engine.receive_post(&post, only, wall_clock()).await {
            Ok((outcome, _)) => {
                tracing::info!(message = %message.id, ?outcome, "feed post");
                crate::metrics::global().mention(outcome_name(outcome));
                self.notify.notify_one();
                let mut resume = self.resume.lock().unwrap_or_else(|p| p.into_inner());
                let point = resume.entry(message.channel_id.get()).or_default();
                // The first post ever seen in a channel: later backfills start just before it.
                if point.after.is_none() {
                    point.after = Some(message.id.get().saturating_sub(1));
                }
                true
            }
            Err(e) => {
                tracing::error!(message = %message.id, error = ?e, "feed post not stored");
                false
            }
        }
    }

    /// A live post: tried a few times; if it still fails, the next backfill starts before it.
    async fn receive_live(&self, message: &Message) {
        for attempt in 0..=LIVE_RETRIES {
            if self.receive(message).await {
                return;
            }
            if attempt < LIVE_RETRIES {
                tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
            }
        }
        tracing::error!(message = %message.id, "feed post not stored; the next backfill reads it again");
        let before = message.id.get().saturating_sub(1);
        let mut resume = self.resume.lock().unwrap_or_else(|p| p.into_inner());
        let failed = &mut resume.entry(message.channel_id.get()).or_default().failed;
        *failed = Some(failed.map_or(before, |f| f.min(before)));
    }

    /// Reads each feed channel's history after its stored cursor and processes what was missed.
    pub(super) async fn backfill(&self) {
        if self.me.load(Ordering::Relaxed) == 0 {
            // Not connected yet: own posts could not be told apart. READY backfills.
            return;
        }
        for channel in self.feeds.keys() {
            match self.backfill_channel(*channel).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(channel, posts = n, "backfilled"),
                Err(e) => {
                    tracing::error!(channel, error = %e, "backfill failed; it runs again in a few minutes and on the next reconnect")
                }
            }
        }
    }

    async fn backfill_channel(&self, channel: u64) -> Result<usize, RestError> {
        let start = {
            let resume = self.resume.lock().unwrap_or_else(|p| p.into_inner());
            resume.get(&channel).and_then(Resume::start)
        };
        let Some(mut after) = start else {
            // Recording the start failed at start-up: try again, from now.
            if let Some(since) = start_watching(&self.engine, channel).await {
                self.backfilled_to(channel, since);
            }
            tracing::info!(channel, "no posts processed yet in this channel; starting live");
            return Ok(0);
        };
        let mut seen = 0;
        loop {
            let path = format!("/channels/{channel}/messages?after={after}&limit={HISTORY_PAGE}");
            let mut page: Vec<Message> = loop {
                match self.rest.get(&path).await {
                    Err(RestError::RateLimited(wait)) => tokio::time::sleep(wait).await,
                    other => break other?,
                }
            };
            page.sort_by_key(|m| m.id);
            for message in &page {
                if !self.receive(message).await {
                    self.backfilled_to(channel, after);
                    return Err(RestError::Unavailable(format!(
                        "post {} could not be stored",
                        message.id
                    )));
                }
                after = after.max(message.id.get());
            }
            seen += page.len();
            self.backfilled_to(channel, after);
            if page.len() < HISTORY_PAGE {
                return Ok(seen);
            }
        }
    }

    /// Backfill stored every post of `channel` up to `after`.
    fn backfilled_to(&self, channel: u64, after: u64) {
        let mut resume = self.resume.lock().unwrap_or_else(|p| p.into_inner());
        let point = resume.entry(channel).or_default();
        point.after = Some(point.after.map_or(after, |a| a.max(after)));
        if point.failed.is_some_and(|f| f < after) {
            point.failed = None;
        }
    }
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        let _busy = InFlight::new(&self.in_flight);
        if self.me.swap(ready.user.id.get(), Ordering::Relaxed) != 0 {
            crate::metrics::global().gateway_reconnected();
        }
        ctx.http.set_application_id(ready.application.id);
        tracing::info!(user = %ready.user.name, guilds = ready.guilds.len(), "connected to Discord");
        if let Err(e) = self.guild.set_commands(&ctx.http, commands::definitions()).await {
            tracing::error!(error = %e, "could not register slash commands");
        }
        self.backfill().await;
    }

    async fn resume(&self, _ctx: Context, _: ResumedEvent) {
        let _busy = InFlight::new(&self.in_flight);
        // Discord replays missed events on resume; backfill anyway, it is idempotent.
        crate::metrics::global().gateway_reconnected();
        self.backfill().await;
    }

    async fn message(&self, _ctx: Context, message: Message) {
        let _busy = InFlight::new(&self.in_flight);
        self.receive_live(&message).await;
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        let _busy = InFlight::new(&self.in_flight);
        self.interaction(&ctx.http, interaction).await;
    }
}

/// The `outcome` label of `carebot_mentions_total`.
fn outcome_name(outcome: crate::app::IngestOutcome) -> &'static str {
    use crate::app::IngestOutcome::*;
    match outcome {
        Opened(_) => "opened",
        Merged(_) => "merged",
        Reopened(_) => "reopened",
        Duplicate => "duplicate",
        Ignored(_) => "ignored",
    }
}
