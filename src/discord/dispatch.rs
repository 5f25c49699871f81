//! The outbox dispatcher: delivers outbox rows to Discord in order per case, within Discord's
//! rate limits, retrying 5xx and timeouts with backoff, and recording the thread and card ids
//! it gets back. A row is marked delivered only after Discord accepted it, and each message
//! carries a nonce (`enforce_nonce`) so a retry after a lost answer cannot post it twice.
//!
//! Rate limits never stall the dispatcher as a whole. A row whose bucket is used up (the REST
//! client says so before sending) or that got a 429 holds only its own case: that case's later
//! rows wait, to keep its order, and the pass goes on with the other cases. Only the global
//! limit ends a pass early. Then the loop sleeps until the earliest moment a held row may go,
//! or until the engine writes something new.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serenity::all::{AutoArchiveDuration, ChannelType, CreateThread, GuildChannel, Message};
use tokio::sync::Notify;

use super::render::{self, Audience};
use super::rest::{Rest, RestError};
use crate::app::delivery::{self, PacketShown};
use crate::app::outbox::{Message as OutMessage, Outgoing, Ping, TeamChannel};
use crate::app::Engine;
use crate::config::DiscordConfig;
use crate::domain::CaseId;
use crate::store::{OutboxRow, Store, StoreError};

/// Discord's error code for "a thread has already been created for this message".
const THREAD_ALREADY_CREATED: i64 = 160004;

/// How many outbox rows one pass looks at first.
const PASS_ROWS: i64 = 200;

/// The most rows one pass looks at: when every case in a full window waits (one busy thread
/// with a long backlog), the next pass looks twice as far, up to this, for cases that need not.
const PASS_ROWS_MAX: i64 = 12_800;

/// How long the loop sleeps when nothing is waiting for a known moment and nothing wakes it.
const IDLE: Duration = Duration::from_millis(500);

/// How often delivered rows (and fired or cancelled timers) older than
/// `discord.keep_delivered_hours` are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
enum DeliverError {
    #[error(transparent)]
    Rest(#[from] RestError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("outbox row is unreadable: {0}")]
    Payload(String),
}

/// Delivers outbox rows to Discord until the task is dropped.
pub struct Dispatcher {
    /// Renders what is stored compact (cards, packets) and reaches the store.
    engine: Arc<Engine>,
    rest: Rest,
    notify: Arc<Notify>,
    /// Where threads for cases without a feed post (imports) are opened.
    cases_channel: Option<u64>,
    escalations_channel: Option<u64>,
    queue_channel: Option<u64>,
    /// Where the weekly digest is posted.
    digest_channel: Option<u64>,
    guild: Option<u64>,
    /// Discord role ids per carebot role name, for role pings.
    roles: std::collections::BTreeMap<String, Vec<u64>>,
    /// This process, as the holder of the outbox rows it leases: other processes on the same
    /// database leave them alone until the lease runs out.
    owner: String,
    lease: chrono::Duration,
    keep_delivered: Option<chrono::Duration>,
}

/// What one pass did.
#[derive(Debug, Default)]
struct Pass {
    /// Rows read.
    read: usize,
    /// Rows Discord accepted.
    delivered: usize,
    /// Cases whose next row has to wait (rate limit, backoff, or an earlier row that waits).
    held: usize,
    /// The earliest moment a row that waits for a rate limit or its backoff may go.
    wake: Option<Instant>,
    /// The pass stopped at the global limit: every row after it waits too.
    global_wait: bool,
}

impl Pass {
    fn wake_at(&mut self, at: Instant) {
        self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
    }

    /// How long to sleep before the next pass (unless woken): none when it delivered
    /// everything it tried, as more may be waiting beyond the rows it read.
    fn pause(&self, now: Instant) -> Duration {
        match self.wake {
            Some(at) => at.saturating_duration_since(now).min(IDLE),
            None if self.delivered > 0 => Duration::ZERO,
            None => IDLE,
        }
    }
}

/// A few random bits, so two processes with the same host name and pid (containers) differ.
fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish() as u32
}

/// Wait before retrying a row that failed `attempts` times: 0.5 s doubling, at most `cap`.
fn backoff(attempts: i64, cap: Duration) -> Duration {
    let exp = attempts.clamp(0, 16) as u32;
    Duration::from_millis(500u64.saturating_mul(1 << exp)).min(cap)
}

impl Dispatcher {
    fn store(&self) -> &Store {
        self.engine.store()
    }

    pub fn new(engine: Arc<Engine>, rest: Rest, notify: Arc<Notify>, config: &DiscordConfig) -> Self {
        Dispatcher {
            engine,
            rest,
            notify,
            cases_channel: config.cases_channel,
            escalations_channel: config.escalations_channel,
            queue_channel: config.queue_channel,
            digest_channel: config.digest_channel,
            guild: config.guild_id,
            roles: config.roles.clone(),
            owner: format!(
                "{}-{}-{:08x}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "carebot".into()),
                std::process::id(),
                rand_suffix()
            ),
            lease: chrono::Duration::seconds(config.outbox_lease_secs.clamp(1, 3600) as i64),
            keep_delivered: (config.keep_delivered_hours > 0)
                .then(|| chrono::Duration::hours(config.keep_delivered_hours.min(100_000) as i64)),
        }
    }

    /// Runs passes forever; between passes sleeps until a waiting row may go, at most half a
    /// second, or until `notify` (the engine wrote something).
    pub async fn run(self) -> anyhow::Result<()> {
        let mut window = PASS_ROWS;
        let mut pruned = Instant::now();
        loop {
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = Instant::now();
                self.prune().await;
            }
            let pause = match self.pass(window).await {
                Ok(pass) => {
                    let full = pass.read as i64 >= window;
                    if full && pass.held > 0 && !pass.global_wait && window < PASS_ROWS_MAX {
                        window = (window * 2).min(PASS_ROWS_MAX);
                        Duration::ZERO
                    } else {
                        if (pass.read as i64) < PASS_ROWS {
                            window = PASS_ROWS;
                        }
                        pass.pause(Instant::now())
                    }
                }
                Err(e) => {
                    tracing::error!(error = ?e, "outbox pass failed; retrying");
                    IDLE
                }
            };
            if pause.is_zero() {
                continue;
            }
            tokio::select! {
                _ = self.notify.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Deletes delivered rows and fired or cancelled timers past `keep_delivered`, then gives
    /// the freed pages back; a failure is only logged (the next round tries again).
    async fn prune(&self) {
        let Some(keep) = self.keep_delivered else {
            return;
        };
        let before = Utc::now() - keep;
        let mut freed = false;
        match self.store().prune_outbox(before).await {
            Ok(0) => {}
            Ok(n) => {
                freed = true;
                tracing::info!(rows = n, "pruned delivered outbox rows");
            }
            Err(e) => tracing::warn!(error = %e, "cannot prune delivered outbox rows"),
        }
        match self.store().prune_timers(before).await {
            Ok(0) => {}
            Ok(n) => {
                freed = true;
                tracing::info!(rows = n, "pruned fired and cancelled timers");
            }
            Err(e) => tracing::warn!(error = %e, "cannot prune fired timers"),
        }
        if freed {
            if let Err(e) = self.store().reclaim_space().await {
                tracing::warn!(error = %e, "cannot give freed database pages back");
            }
        }
    }

    /// One pass over the oldest `window` undelivered rows this process may deliver (leased
    /// to it, see [`Store::lease_outbox`]).
    async fn pass(&self, window: i64) -> Result<Pass, StoreError> {
        let now = Utc::now();
        let rows = self
            .store()
            .lease_outbox(&self.owner, window, now, now + self.lease)
            .await?;
        let mut pass = Pass {
            read: rows.len(),
            ..Pass::default()
        };
        // Cases whose earlier row is not delivered yet: their later rows wait (order per thread).
        let mut held: HashSet<Option<CaseId>> = HashSet::new();
        for row in rows {
            if held.contains(&row.case_id) {
                continue;
            }
            // A row never tried is due whatever time it was written at (a scenario clock
            // may run ahead of the wall clock); a retried one waits for its backoff.
            if row.attempts > 0 && row.next_attempt_at > now {
                held.insert(row.case_id);
                let due = (row.next_attempt_at - now).to_std().unwrap_or_default();
                pass.wake_at(Instant::now() + due);
                continue;
            }
            match self.deliver(&row).await {
                Ok(()) => {
                    self.store().mark_delivered(row.id, Utc::now()).await?;
                    crate::metrics::global().delivered();
                    pass.delivered += 1;
                }
                Err(DeliverError::Rest(RestError::Busy(wait))) => {
                    // Not sent: nothing to record; the row goes when its bucket has room.
                    tracing::debug!(
                        outbox_id = row.id,
                        global = wait.global,
                        wait_ms = wait.until.saturating_duration_since(Instant::now()).as_millis() as u64,
                        "waiting for Discord's rate limit"
                    );
                    held.insert(row.case_id);
                    pass.wake_at(wait.until);
                    if wait.global {
                        // Every other request would wait just as long.
                        pass.global_wait = true;
                        break;
                    }
                }
                Err(DeliverError::Rest(RestError::RateLimited(wait))) => {
                    tracing::warn!(
                        outbox_id = row.id,
                        wait_ms = wait.as_millis() as u64,
                        "rate limited by Discord"
                    );
                    let retry_at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                    self.store()
                        .mark_failed(row.id, "rate limited (429)", retry_at)
                        .await?;
                    held.insert(row.case_id);
                    pass.wake_at(Instant::now() + wait);
                }
                Err(DeliverError::Store(e)) => return Err(e),
                Err(e) => {
                    let permanent = matches!(
                        e,
                        DeliverError::Rest(RestError::Refused { .. }) | DeliverError::Payload(_)
                    );
                    let cap = if permanent {
                        Duration::from_secs(3600)
                    } else {
                        Duration::from_secs(60)
                    };
                    let wait = backoff(row.attempts + if permanent { 4 } else { 0 }, cap);
                    if permanent {
                        tracing::error!(outbox_id = row.id, error = %e, retry_in_s = wait.as_secs(), "Discord refused an outbox message");
                    } else {
                        tracing::warn!(outbox_id = row.id, error = %e, retry_in_ms = wait.as_millis() as u64, "delivery failed; will retry");
                    }
                    let retry_at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                    self.store().mark_failed(row.id, &e.to_string(), retry_at).await?;
                    held.insert(row.case_id);
                    pass.wake_at(Instant::now() + wait);
                }
            }
        }
        pass.held = held.len();
        Ok(pass)
    }

    /// Posts `message` in the case's thread (the incident's, for a case grouped under a surge
    /// incident).
    async fn post_in_case_thread(
        &self,
        case_id: CaseId,
        message: &OutMessage,
        nonce: &str,
    ) -> Result<(), DeliverError> {
        let thread = match self.store().case_refs(case_id).await? {
            (Some(thread), _) => Some(thread),
            _ => self.store().case_incident_thread(case_id).await?,
        };
        match thread {
            Some(thread) => {
                let path = format!("/channels/{thread}/messages");
                let body = render::thread_message(message, nonce, &self.audience(message), None);
                let _: Message = self.rest.post(&path, &body).await?;
            }
            None => tracing::warn!(case = %case_id, "case has no thread in Discord; message skipped"),
        }
        Ok(())
    }

    async fn deliver(&self, row: &OutboxRow) -> Result<(), DeliverError> {
        let out: Outgoing =
            serde_json::from_str(&row.payload).map_err(|e| DeliverError::Payload(e.to_string()))?;
        let nonce = format!("carebot-{}", row.id);
        match out {
            Outgoing::OpenCase { case_id } => {
                let (thread, card_ref) = self.store().case_refs(case_id).await?;
                if thread.is_some() && card_ref.is_some() {
                    // Delivered before (a retry after the answer was lost): nothing to render.
                    return Ok(());
                }
                let Some(opening) = delivery::opening(self.store(), case_id).await? else {
                    tracing::warn!(case = %case_id, "case not found; its thread is not opened");
                    return Ok(());
                };
                let thread = match thread {
                    Some(thread) => thread,
                    None => {
                        let thread = self
                            .open_thread(
                                opening.feed_channel_id.as_deref(),
                                opening.feed_message_id.as_deref(),
                                &opening.thread_name,
                            )
                            .await?;
                        self.store().set_case_refs(case_id, Some(&thread), None).await?;
                        thread
                    }
                };
                if card_ref.is_none() {
                    let path = format!("/channels/{thread}/messages");
                    let message: Message = self
                        .rest
                        .post(&path, &render::card_message(&opening.card, &nonce))
                        .await?;
                    self.store()
                        .set_case_refs(case_id, None, Some(&message.id.to_string()))
                        .await?;
                }
            }
            Outgoing::UpdateCard { case_id } => match self.store().case_refs(case_id).await? {
                (Some(thread), Some(card_ref)) => {
                    let Some(card) = delivery::card(self.store(), case_id).await? else {
                        tracing::warn!(case = %case_id, "case not found; card update skipped");
                        return Ok(());
                    };
                    let path = format!("/channels/{thread}/messages/{card_ref}");
                    let _: Message = self.rest.patch(&path, &render::card_edit(&card)).await?;
                }
                // A case grouped under a surge incident has no card of its own.
                _ => tracing::debug!(case = %case_id, "case has no card in Discord; card update skipped"),
            },
            Outgoing::CaseMessage { case_id, message } => {
                self.post_in_case_thread(case_id, &message, &nonce).await?
            }
            Outgoing::MentionLine {
                case_id,
                source_id,
                line,
            } => match delivery::mention_line(self.store(), case_id, &source_id, line).await? {
                Some(message) => self.post_in_case_thread(case_id, &message, &nonce).await?,
                None => tracing::warn!(case = %case_id, "post not found; its thread line is skipped"),
            },
            Outgoing::IncidentAlert {
                incident_id,
                thread_name,
                message,
            } => {
                let (alert, thread) = self.store().incident_refs(incident_id).await?;
                let Some(channel) = self.queue_channel else {
                    tracing::warn!(incident = %incident_id, "discord.queue_channel is not set; surge alert not posted");
                    return Ok(());
                };
                let alert = match alert {
                    Some(alert) => alert,
                    None => {
                        let path = format!("/channels/{channel}/messages");
                        let body = render::thread_message(&message, &nonce, &self.audience(&message), None);
                        let posted: Message = self.rest.post(&path, &body).await?;
                        let id = posted.id.to_string();
                        self.store()
                            .set_incident_refs(incident_id, Some(&id), None)
                            .await?;
                        id
                    }
                };
                if thread.is_none() {
                    let channel = channel.to_string();
                    let thread = self
                        .open_thread(Some(&channel), Some(&alert), &thread_name)
                        .await?;
                    self.store()
                        .set_incident_refs(incident_id, None, Some(&thread))
                        .await?;
                }
            }
            Outgoing::UpdateIncidentAlert { incident_id, message } => {
                match (
                    self.queue_channel,
                    self.store().incident_refs(incident_id).await?.0,
                ) {
                    (Some(channel), Some(alert)) => {
                        let path = format!("/channels/{channel}/messages/{alert}");
                        let _: Message = self
                            .rest
                            .patch(&path, &render::message_edit(&message, None))
                            .await?;
                    }
                    _ => {
                        tracing::debug!(incident = %incident_id, "incident has no alert in Discord; update skipped")
                    }
                }
            }
            Outgoing::IncidentMessage { incident_id, message } => {
                match self.store().incident_refs(incident_id).await?.1 {
                    Some(thread) => {
                        let path = format!("/channels/{thread}/messages");
                        let body = render::thread_message(&message, &nonce, &self.audience(&message), None);
                        let _: Message = self.rest.post(&path, &body).await?;
                    }
                    None => {
                        tracing::warn!(incident = %incident_id, "incident has no thread in Discord; message skipped")
                    }
                }
            }
            Outgoing::Digest {
                from,
                to,
                timezone,
                late,
            } => {
                let Some(channel) = self.digest_channel else {
                    tracing::warn!(
                        outbox_id = row.id,
                        "discord.digest_channel is not set; digest not posted"
                    );
                    return Ok(());
                };
                // Rendered now, from the store as it is: the outbox row stays small.
                let post =
                    super::digest::render_outgoing(self.store(), from, to, &timezone, late, self.guild)
                        .await
                        .map_err(|e| match e {
                            super::digest::DigestRenderError::Store(e) => DeliverError::Store(e),
                            other => DeliverError::Payload(other.to_string()),
                        })?;
                let path = format!("/channels/{channel}/messages");
                let _: Message = self
                    .rest
                    .post_multipart(&path, &post.payload(&nonce), &post.parts())
                    .await?;
            }
            Outgoing::ChannelMessage {
                case_id,
                channel,
                message,
            } => {
                self.post_to_team(channel, case_id, &message, &nonce).await?;
            }
            Outgoing::EscalationPacket {
                case_id,
                escalation_id,
                next_tier,
            } => {
                let shown = PacketShown::Post { next_tier };
                let Some(message) = delivery::packet(&self.engine, escalation_id, shown).await? else {
                    tracing::warn!(escalation = %escalation_id, "escalation not found; packet skipped");
                    return Ok(());
                };
                let posted = self
                    .post_to_team(TeamChannel::Escalations, case_id, &message, &nonce)
                    .await?;
                if let Some(posted) = posted {
                    self.store()
                        .set_escalation_ref(escalation_id, &posted.id.to_string())
                        .await?;
                }
            }
            Outgoing::EscalationReminder {
                case_id,
                escalation_id,
                tier,
                at,
                late,
            } => match delivery::reminder(self.store(), escalation_id, tier, at, late).await? {
                Some(message) => {
                    self.post_to_team(TeamChannel::Escalations, case_id, &message, &nonce)
                        .await?;
                }
                None => {
                    tracing::debug!(escalation = %escalation_id, "escalation decided or moved on since the reminder fired; reminder not posted")
                }
            },
            Outgoing::UpdateEscalation {
                case_id,
                escalation_id,
                superseded,
            } => match (
                self.escalations_channel,
                self.store().escalation_ref(escalation_id).await?,
            ) {
                (Some(channel), Some(posted)) => {
                    let Some(message) =
                        delivery::packet(&self.engine, escalation_id, PacketShown::Edit { superseded })
                            .await?
                    else {
                        tracing::warn!(escalation = %escalation_id, "escalation not found; packet edit skipped");
                        return Ok(());
                    };
                    let link = self.thread_link(case_id, &message).await?;
                    let path = format!("/channels/{channel}/messages/{posted}");
                    let edit = render::message_edit(&message, link.as_deref());
                    let _: Message = self.rest.patch(&path, &edit).await?;
                }
                _ => {
                    tracing::warn!(escalation = %escalation_id, "escalation has no message in Discord; update skipped")
                }
            },
        }
        Ok(())
    }

    /// Posts to a team channel; `None` when it is not configured (the queue channel is
    /// optional; without an escalations channel nobody can decide, so that is warned about).
    async fn post_to_team(
        &self,
        team: TeamChannel,
        case_id: CaseId,
        message: &OutMessage,
        nonce: &str,
    ) -> Result<Option<Message>, DeliverError> {
        let configured = match team {
            TeamChannel::Escalations => self.escalations_channel,
            TeamChannel::Queue => self.queue_channel,
        };
        let Some(channel) = configured else {
            match team {
                TeamChannel::Escalations => {
                    tracing::warn!(case = %case_id, "discord.escalations_channel is not set; escalation message not posted")
                }
                TeamChannel::Queue => {
                    tracing::debug!(case = %case_id, "no discord.queue_channel; queue message skipped")
                }
            }
            return Ok(None);
        };
        let link = self.thread_link(case_id, message).await?;
        let path = format!("/channels/{channel}/messages");
        let body = render::thread_message(message, nonce, &self.audience(message), link.as_deref());
        Ok(Some(self.rest.post(&path, &body).await?))
    }

    /// The case thread's URL, when the message wants a link and the thread exists.
    async fn thread_link(&self, case_id: CaseId, message: &OutMessage) -> Result<Option<String>, StoreError> {
        if !message.link_thread {
            return Ok(None);
        }
        let (thread, _) = self.store().case_refs(case_id).await?;
        Ok(thread
            .zip(self.guild)
            .map(|(thread, guild)| format!("https://discord.com/channels/{guild}/{thread}")))
    }

    /// The Discord ids a message's pings name: users by id (console names are skipped) and
    /// the role ids mapped to a carebot role in `[discord.roles]`, nothing else.
    fn audience(&self, message: &OutMessage) -> Audience {
        let mut audience = Audience::default();
        for ping in &message.pings {
            match ping {
                Ping::User(id) => match id.parse::<u64>() {
                    Ok(user) if !audience.users.contains(&user) => audience.users.push(user),
                    Ok(_) => {}
                    Err(_) => tracing::debug!(user = %id, "not a Discord user id; not pinged"),
                },
                Ping::Role(role) => {
                    for id in self.roles.get(role.as_str()).into_iter().flatten() {
                        if !audience.roles.contains(id) {
                            audience.roles.push(*id);
                        }
                    }
                }
            }
        }
        audience
    }

    /// Starts the case thread from the feed post, or, for cases without one, in the cases channel.
    async fn open_thread(
        &self,
        channel: Option<&str>,
        message: Option<&str>,
        name: &str,
    ) -> Result<String, DeliverError> {
        let name = crate::app::outbox::truncate_chars(name, 100);
        if let (Some(channel), Some(message)) = (channel, message) {
            let body = CreateThread::new(name).auto_archive_duration(AutoArchiveDuration::OneWeek);
            let path = format!("/channels/{channel}/messages/{message}/threads");
            return match self.rest.post::<_, GuildChannel>(&path, &body).await {
                Ok(thread) => Ok(thread.id.to_string()),
                // A thread started from a message has the message's id.
                Err(e) if e.discord_code() == Some(THREAD_ALREADY_CREATED) => Ok(message.to_string()),
                Err(e) => Err(e.into()),
            };
        }
        let channel = self.cases_channel.ok_or_else(|| {
            DeliverError::Payload("case has no feed post and discord.cases_channel is not set".into())
        })?;
        let body = CreateThread::new(name)
            .kind(ChannelType::PublicThread)
            .auto_archive_duration(AutoArchiveDuration::OneWeek);
        let thread: GuildChannel = self
            .rest
            .post(&format!("/channels/{channel}/threads"), &body)
            .await?;
        Ok(thread.id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let cap = Duration::from_secs(60);
        assert_eq!(backoff(0, cap), Duration::from_millis(500));
        assert_eq!(backoff(3, cap), Duration::from_secs(4));
        assert_eq!(backoff(40, cap), cap);
    }

    #[test]
    fn a_pass_sleeps_until_the_first_waiting_row_may_go() {
        let now = Instant::now();
        let mut pass = Pass::default();
        assert_eq!(pass.pause(now), IDLE, "nothing to do");
        pass.delivered = 3;
        assert_eq!(pass.pause(now), Duration::ZERO, "more may be waiting");
        pass.wake_at(now + Duration::from_millis(300));
        pass.wake_at(now + Duration::from_millis(120));
        pass.wake_at(now + Duration::from_millis(200));
        assert_eq!(pass.pause(now), Duration::from_millis(120));
        pass.wake_at(now + Duration::from_secs(3600));
        assert_eq!(pass.pause(now), Duration::from_millis(120));
        let mut later = Pass::default();
        later.wake_at(now + Duration::from_secs(3600));
        assert_eq!(later.pause(now), IDLE, "a long backoff is looked at again soon");
    }
}
