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
mod forget;
mod handler;
mod interactions;
pub mod permissions;
mod ratelimit;
pub mod render;
mod rest;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use serenity::all::{
    ClientBuilder, ConnectionStage, GatewayIntents, GuildId, HttpBuilder, RoleId, ShardManager,
};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

pub use handler::feed_post;
pub use rest::{Rest, RestError};

use crate::app::{wall_clock, Engine};
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
    /// Set when stopping: the timer sweep and the backfill loop end after their current round.
    stopping: watch::Sender<bool>,
    /// Gateway events being handled.
    in_flight: Arc<AtomicUsize>,
    store: crate::store::Store,
}

/// How long a graceful stop waits for events in flight and the outbox to drain.
pub const GRACE: Duration = Duration::from_secs(5);

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
async fn sweep_timers(
    engine: Arc<Engine>,
    notify: Arc<Notify>,
    wake: Arc<Notify>,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        if *stopping.borrow() {
            return;
        }
        match engine.fire_due_timers(wall_clock()).await {
            Ok(report) if report.fired > 0 => {
                crate::metrics::global().timers(report.fired, report.late);
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
            _ = stopping.changed() => return,
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
    /// What `/healthz` and `/metrics` read: the store, and whether every shard is connected.
    pub fn health(&self) -> crate::metrics::Health {
        let shards = self.shards.clone();
        crate::metrics::Health {
            store: self.store.clone(),
            gateway: Arc::new(move || {
                let shards = shards.clone();
                Box::pin(async move {
                    let runners = shards.runners.lock().await;
                    !runners.is_empty() && runners.values().all(|r| r.stage == ConnectionStage::Connected)
                })
            }),
        }
    }

    /// Runs until Ctrl-C or until a part stops (then stops at once); reports which part
    /// stopped and why.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.until(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("stopping on Ctrl-C");
        })
        .await
        .map(|_| ())
    }

    /// Runs until `stop` resolves (then returns `Ok(self)`, still running, for
    /// [`Running::shutdown`]) or a part stops (an error; everything else is stopped).
    pub async fn until(mut self, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<Running> {
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
            _ = stop => Ok(()),
        };
        match result {
            Ok(()) => Ok(self),
            Err(e) => {
                self.stop().await;
                Err(e)
            }
        }
    }

    /// Stops taking new events: disconnects from the gateway and ends the timer sweep and the
    /// backfill loop after their current round. Deliveries go on.
    pub async fn stop_events(&self) {
        self.shards.shutdown_all().await;
        let _ = self.stopping.send(true);
    }

    /// A graceful stop: no new events, then up to `grace` for the events in flight, the
    /// current sweep and backfill round, and the outbox to drain; then everything stops.
    /// Nothing is lost if the time runs out: undelivered rows stay in the outbox, unread posts
    /// are backfilled at the next start, and a transaction is all or nothing.
    pub async fn shutdown(self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        self.stop_events().await;
        let drained = async {
            loop {
                // (`stop` below awaits the tasks; here they are only watched.)
                let idle = self.in_flight.load(Ordering::SeqCst) == 0
                    && self.timers.is_finished()
                    && self.backfill.is_finished();
                let backlog = self
                    .store
                    .ops_snapshot(wall_clock())
                    .await
                    .map(|s| s.outbox_backlog);
                if idle && matches!(backlog, Ok(0) | Err(_)) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        match tokio::time::timeout_at(deadline, drained).await {
            Ok(()) => tracing::info!("stopped: nothing in flight, the outbox is empty"),
            Err(_) => tracing::warn!(
                in_flight = self.in_flight.load(Ordering::SeqCst),
                "stopped after {grace:?} with work left; it is picked up at the next start"
            ),
        }
        self.stop().await;
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

/// `"INDEX/COUNT"` of `discord.shards`: this process's gateway shard and the shard count.
fn shard_of(config: &DiscordConfig) -> anyhow::Result<(u32, u32)> {
    let Some(text) = config.shards.as_deref() else {
        return Ok((0, 1));
    };
    let bad = || {
        anyhow::anyhow!(
            "discord.shards = \"{text}\" is not INDEX/COUNT with INDEX below COUNT (e.g. \"0/2\" and \"1/2\" for two processes)"
        )
    };
    let (index, count) = text.split_once('/').ok_or_else(bad)?;
    let index: u32 = index.trim().parse().map_err(|_| bad())?;
    let count: u32 = count.trim().parse().map_err(|_| bad())?;
    if count == 0 || index >= count {
        return Err(bad());
    }
    Ok((index, count))
}

/// Checks the Discord settings `run` needs and says how to fix what is missing.
fn check(config: &DiscordConfig, engine: &Engine) -> anyhow::Result<GuildId> {
    shard_of(config)?;
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
        .schedule_digest(wall_clock())
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
    let mut cursors = handler::feed_cursors(&engine, config.feeds.iter().map(|f| f.channel_id)).await;
    // A channel watched for the first time: its history before now is not imported, but from
    // here on nothing may be lost, even if carebot stops before it reads a post there.
    for feed in &config.feeds {
        if let std::collections::hash_map::Entry::Vacant(entry) = cursors.entry(feed.channel_id) {
            if let Some(since) = handler::start_watching(&engine, feed.channel_id).await {
                entry.insert(since);
            }
        }
    }
    let resume = cursors
        .into_iter()
        .map(|(channel, after)| {
            let point = handler::Resume {
                after: Some(handler::rewound(after)),
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
        in_flight: Arc::new(AtomicUsize::new(0)),
    };
    let in_flight = handler.in_flight.clone();
    let (stopping, stop_rx) = watch::channel(false);
    let handler = Arc::new(handler);
    let mut client = ClientBuilder::new_with_http(http.build(), intents())
        .event_handler_arc(handler.clone())
        .await
        .context("cannot build the Discord client")?;
    let shards = client.shard_manager.clone();
    let (index, count) = shard_of(config)?;
    tracing::info!(shard = index, shards = count, "connecting to the gateway");
    let gateway = tokio::spawn(async move {
        if count == 1 {
            client.start().await
        } else {
            client.start_shard(index, count).await
        }
    });
    let timers = tokio::spawn(sweep_timers(
        engine.clone(),
        notify.clone(),
        sweep,
        stop_rx.clone(),
    ));
    let dispatcher = dispatch::Dispatcher::new(engine.clone(), rest, notify, config);
    let dispatcher = tokio::spawn(dispatcher.run());
    let mut stop_backfill = stop_rx;
    let backfill = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(BACKFILL_EVERY) => handler.backfill().await,
                _ = stop_backfill.changed() => return,
            }
        }
    });
    Ok(Running {
        shards,
        gateway,
        dispatcher,
        backfill,
        timers,
        stopping,
        in_flight,
        store: engine.store().clone(),
    })
}

/// `carebot run`: the engine from config, connected to Discord (and serving `/metrics` and
/// `/healthz` when `[metrics]` is set) until SIGTERM or Ctrl-C, then a graceful stop within
/// [`GRACE`]; a second signal exits at once.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    // First of all, so a signal while starting is not lost (nor kills the process outright):
    // one set of streams for both signals, so a second one right after the first is not missed.
    let mut signals = Signals::new()?;
    let retention = config
        .retention
        .as_ref()
        .map(crate::app::retention::Retention::from_config)
        .transpose()?;
    let engine = Arc::new(Engine::start(config).await?);
    let running = start(engine.clone(), &config.discord).await?;
    // Idempotent, and one short transaction: a plain loop is enough (a missed day is caught
    // up at the next start).
    let purge = retention.map(|retention| {
        tokio::spawn(async move {
            loop {
                if let Err(e) = engine.purge_texts(retention, wall_clock()).await {
                    tracing::error!(error = ?e, "retention purge failed; trying again tomorrow");
                }
                tokio::time::sleep(crate::app::retention::PURGE_EVERY).await;
            }
        })
    });
    let metrics = match &config.metrics {
        Some(m) => Some(crate::metrics::serve(&m.listen, running.health()).await?.1),
        None => None,
    };
    let stop = async move {
        let signal = signals.next().await;
        tracing::info!("stopping on {signal}: finishing what is in flight (again to exit at once)");
        tokio::spawn(async move {
            let signal = signals.next().await;
            tracing::warn!("{signal} again: exiting now; undelivered messages go out at the next start");
            std::process::exit(130);
        });
    };
    let result = match running.until(stop).await {
        Ok(running) => {
            running.shutdown(GRACE).await;
            Ok(())
        }
        Err(e) => Err(e),
    };
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    if let Some(purge) = purge {
        purge.abort();
    }
    result
}

/// SIGTERM and Ctrl-C (SIGINT), registered once.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
                int: signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal's name.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "Ctrl-C",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
