//! The Discord adapter (serenity): gateway events, slash commands, buttons and modals, the
//! outbox dispatcher to Discord REST, and the timer sweep (reminders, deadlines).
//!
//! `discord.api_base` can point the bot at a Discord-compatible endpoint (a REST proxy or a
//! test double). serenity's own rate limiter ignores such a proxy, so it is switched off: the
//! dispatcher's REST client reads Discord's `X-RateLimit-*` headers and waits before a request
//! would be refused (see `ratelimit`), and still honours a 429's `retry_after`.

mod commands;
mod digest;
mod dispatch;
pub mod doctor;
mod handler;
mod interactions;
pub mod permissions;
mod ratelimit;
pub mod render;
mod rest;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use chrono::Utc;
use serenity::all::{ClientBuilder, GatewayIntents, GuildId, HttpBuilder, RoleId, ShardManager};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use handler::feed_post;
pub use rest::{Rest, RestError};

use crate::app::Engine;
use crate::config::{Config, DiscordConfig, DISCORD_API};
use crate::domain::Role;

/// What the bot must receive: guilds, guild messages and their content (a privileged intent).
pub fn intents() -> GatewayIntents {
    GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES | GatewayIntents::MESSAGE_CONTENT
}

/// A running bot: the gateway client, the outbox dispatcher, backfill and the timer sweep.
pub struct Running {
    shards: Arc<ShardManager>,
    gateway: JoinHandle<Result<(), serenity::Error>>,
    dispatcher: JoinHandle<anyhow::Result<()>>,
    /// Reads the feed channels' history every few minutes, in case the gateway missed a post.
    backfill: JoinHandle<()>,
    /// Fires escalation reminders and deadlines when they are due.
    timers: JoinHandle<()>,
}

/// How often feed history is read besides (re)connects: it catches posts the gateway never
/// delivered and keeps the next reconnect's backfill short.
const BACKFILL_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// The longest the timer sweep sleeps, in case something other than a command (another
/// process, a CLI import) wrote timers due sooner.
const SWEEP_AT_MOST: std::time::Duration = std::time::Duration::from_secs(5);

/// The shortest pause between sweeps, so a timer that stays due cannot make the sweep spin.
const SWEEP_AT_LEAST: std::time::Duration = std::time::Duration::from_millis(200);

/// Fires due timers at once (overdue ones from while the bot was down fire now, and the engine
/// says they are late), then whenever the next one is due, when a command may have written new
/// ones (`wake`), and at least every few seconds. What they write goes out through the outbox
/// (`notify` wakes its dispatcher). Errors are logged and the sweep tried again.
async fn sweep_timers(engine: Arc<Engine>, notify: Arc<Notify>, wake: Arc<Notify>) {
    loop {
        match engine.fire_due_timers(Utc::now()).await {
            Ok(report) if report.fired > 0 => {
                tracing::info!(
                    fired = report.fired,
                    late = report.late,
                    stale = report.stale,
                    "timers fired"
                );
                notify.notify_one();
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = ?e, "timer sweep failed; trying again"),
        }
        let pause = until_next_sweep(&engine).await;
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = wake.notified() => {}
        }
    }
}

/// Until the next timer is due, within [`SWEEP_AT_LEAST`] and [`SWEEP_AT_MOST`].
async fn until_next_sweep(engine: &Engine) -> std::time::Duration {
    match engine.next_timer_due().await {
        Ok(Some(due)) => (due - Utc::now())
            .to_std()
            .unwrap_or_default()
            .clamp(SWEEP_AT_LEAST, SWEEP_AT_MOST),
        Ok(None) => SWEEP_AT_MOST,
        Err(e) => {
            tracing::error!(error = ?e, "cannot read when the next timer is due");
            SWEEP_AT_MOST
        }
    }
}

impl Running {
    /// Runs until Ctrl-C or until a part stops; reports which part stopped and why.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let result = tokio::select! {
            r = &mut self.gateway => match r {
                Ok(Ok(())) => Err(anyhow::anyhow!("the Discord gateway connection ended")),
                Ok(Err(e)) => Err(anyhow::Error::new(e).context("the Discord gateway failed")),
                Err(e) => Err(anyhow::Error::new(e).context("the gateway task panicked")),
            },
            r = &mut self.backfill => match r {
                Ok(()) => Err(anyhow::anyhow!("the backfill task stopped")),
                Err(e) => Err(anyhow::Error::new(e).context("the backfill task panicked")),
            },
            r = &mut self.timers => match r {
                Ok(()) => Err(anyhow::anyhow!("the timer sweep stopped")),
                Err(e) => Err(anyhow::Error::new(e).context("the timer sweep panicked")),
            },
            r = &mut self.dispatcher => match r {
                Ok(Ok(())) => Err(anyhow::anyhow!("the outbox dispatcher stopped")),
                Ok(Err(e)) => Err(e.context("the outbox dispatcher failed")),
                Err(e) => Err(anyhow::Error::new(e).context("the dispatcher task panicked")),
            },
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("stopping on Ctrl-C");
                Ok(())
            }
        };
        self.stop().await;
        result
    }

    /// Disconnects from the gateway and stops delivering and sweeping. Undelivered rows stay
    /// in the outbox and unfired timers in their table.
    pub async fn stop(self) {
        self.shards.shutdown_all().await;
        self.timers.abort();
        self.backfill.abort();
        self.dispatcher.abort();
        self.gateway.abort();
        let _ = self.timers.await;
        let _ = self.backfill.await;
        let _ = self.dispatcher.await;
        let _ = self.gateway.await;
    }
}

/// Maps the configured Discord role ids to carebot roles; unknown role names are an error.
fn role_map(config: &DiscordConfig) -> anyhow::Result<HashMap<RoleId, Role>> {
    let mut map = HashMap::new();
    for (name, ids) in &config.roles {
        let role =
            Role::parse(name).with_context(|| format!("[discord.roles] has an unknown role `{name}`"))?;
        for id in ids {
            // A Discord role mapped twice keeps the more powerful carebot role.
            let entry = map.entry(RoleId::new(*id)).or_insert(role);
            *entry = (*entry).max(role);
        }
    }
    Ok(map)
}

/// Checks the Discord settings `run` needs and says how to fix what is missing.
fn check(config: &DiscordConfig, engine: &Engine) -> anyhow::Result<GuildId> {
    if config.token.expose().is_empty() {
        anyhow::bail!("DISCORD_TOKEN is not set: create a bot in the Discord developer portal and export its token as DISCORD_TOKEN");
    }
    let guild = config
        .guild_id
        .context("discord.guild_id is not set in the config file")?;
    if config.feeds.is_empty() {
        anyhow::bail!("no feed channels: add [[discord.feeds]] entries with a channel_id to the config file");
    }
    if config.queue_channel.is_none() {
        tracing::warn!("discord.queue_channel is not set: SLA warnings go to the case threads only, and surge incidents cannot post their alert and thread (their grouped cases would not show in Discord); set it to the team's queue channel");
    }
    if engine.digest_settings().weekly && config.digest_channel.is_none() {
        anyhow::bail!(
            "the weekly digest is scheduled ([digest] in the config) but discord.digest_channel is not set: add the id of the channel it should be posted to"
        );
    }
    let known = engine.feed_reader().profile_names();
    for feed in &config.feeds {
        for profile in &feed.profiles {
            if !known.contains(profile) {
                anyhow::bail!(
                    "feed channel {} uses the unknown profile `{profile}`; known profiles: {}",
                    feed.channel_id,
                    known.join(", ")
                );
            }
        }
    }
    Ok(GuildId::new(guild))
}

/// Connects to Discord and starts the dispatcher, backfill and the timer sweep.
pub async fn start(engine: Arc<Engine>, config: &DiscordConfig) -> anyhow::Result<Running> {
    let guild = check(config, &engine)?;
    let roles = role_map(config)?;
    // The weekly digest's timer, once whichever process starts first; one already due (carebot
    // was down at the time) fires in the first sweep, late, and says so.
    engine
        .schedule_digest(Utc::now())
        .await
        .context("cannot schedule the weekly digest")?;
    let mut http = HttpBuilder::new(config.token.expose());
    if config.api_base.trim_end_matches('/') != DISCORD_API {
        http = http
            .proxy(config.api_base.trim_end_matches('/'))
            .ratelimiter_disabled(true);
    }
    let rest = Rest::new(&config.api_base, config.token.clone());
    let notify = Arc::new(Notify::new());
    let sweep = Arc::new(Notify::new());
    // Backfill starts where the store was before connecting: live posts may move the cursor on.
    let cursors = handler::feed_cursors(&engine, config.feeds.iter().map(|f| f.channel_id)).await;
    let resume = cursors
        .into_iter()
        .map(|(channel, after)| {
            let point = handler::Resume {
                after: Some(after),
                failed: None,
            };
            (channel, point)
        })
        .collect();
    let handler = handler::Handler {
        engine: engine.clone(),
        rest: rest.clone(),
        notify: notify.clone(),
        sweep: sweep.clone(),
        guild,
        feeds: config
            .feeds
            .iter()
            .map(|f| (f.channel_id, f.profiles.clone()))
            .collect(),
        roles,
        me: AtomicU64::new(0),
        resume: Mutex::new(resume),
    };
    let handler = Arc::new(handler);
    let mut client = ClientBuilder::new_with_http(http.build(), intents())
        .event_handler_arc(handler.clone())
        .await
        .context("cannot build the Discord client")?;
    let shards = client.shard_manager.clone();
    let gateway = tokio::spawn(async move { client.start().await });
    let timers = tokio::spawn(sweep_timers(engine.clone(), notify.clone(), sweep));
    let dispatcher = dispatch::Dispatcher::new(engine.store().clone(), rest, notify, config);
    let dispatcher = tokio::spawn(dispatcher.run());
    let backfill = tokio::spawn(async move {
        loop {
            tokio::time::sleep(BACKFILL_EVERY).await;
            handler.backfill().await;
        }
    });
    Ok(Running {
        shards,
        gateway,
        dispatcher,
        backfill,
        timers,
    })
}

/// `carebot run`: the engine from config, connected to Discord until stopped.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    let engine = Arc::new(Engine::start(config).await?);
    let running = start(engine, &config.discord).await?;
    running.wait().await
}
