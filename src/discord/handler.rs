//! Gateway events: feed posts into the engine, interactions into commands, backfill on (re)connect.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serenity::all::{
    CommandInteraction, ComponentInteraction, Context, CreateAutocompleteResponse, CreateInteractionResponse,
    EditInteractionResponse, EventHandler, GuildId, Http, Interaction, Member, Message, Ready, ResumedEvent,
    RoleId, Timestamp,
};
use tokio::sync::Notify;

use super::commands;
use super::render;
use super::rest::{Rest, RestError};
use crate::app::{text, Actor, Command, CommandError, Engine};
use crate::domain::feed::{FeedEmbed, FeedPost};
use crate::domain::{CaseId, Role};
use crate::store::CaseFilter;

/// How many messages one history page holds (Discord's maximum).
const HISTORY_PAGE: usize = 100;

/// Shared state of the gateway event handler.
pub struct Handler {
    pub(super) engine: Arc<Engine>,
    pub(super) rest: Rest,
    pub(super) notify: Arc<Notify>,
    pub(super) guild: GuildId,
    /// Feed channel -> the profile names to read it with (empty: all).
    pub(super) feeds: HashMap<u64, Vec<String>>,
    /// Discord role -> carebot role.
    pub(super) roles: HashMap<RoleId, Role>,
    /// carebot's own user id, known after READY.
    pub(super) me: AtomicU64,
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

/// Code-block text that shows exactly as written and cannot close its block early.
fn code_block(text: &str) -> String {
    let body = text.replace("```", "ʼʼʼ");
    render::reply_text(&format!("```\n{}\n```", body.trim_end()))
}

impl Handler {
    fn is_me(&self, id: u64) -> bool {
        self.me.load(Ordering::Relaxed) == id
    }

    /// carebot roles of a guild member, from the configured role mapping.
    fn actor(&self, member: Option<&Member>, user: &serenity::all::User) -> Actor {
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
    async fn receive(&self, message: &Message) {
        if self.is_me(message.author.id.get()) {
            return;
        }
        let Some(profiles) = self.feeds.get(&message.channel_id.get()) else {
            return;
        };
        let post = feed_post(message);
        let only = (!profiles.is_empty()).then_some(profiles.as_slice());
        match self.engine.receive_post(&post, only, Utc::now()).await {
            Ok((outcome, _)) => {
                tracing::info!(message = %message.id, ?outcome, "feed post");
                self.notify.notify_one();
            }
            Err(e) => {
                tracing::error!(message = %message.id, error = ?e, "feed post not stored; backfill will retry it")
            }
        }
    }

    /// Reads each feed channel's history after its stored cursor and processes what was missed.
    pub(super) async fn backfill(&self) {
        for channel in self.feeds.keys() {
            match self.backfill_channel(*channel).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(channel, posts = n, "backfilled"),
                Err(e) => {
                    tracing::error!(channel, error = %e, "backfill failed; it runs again on the next reconnect")
                }
            }
        }
    }

    async fn backfill_channel(&self, channel: u64) -> Result<usize, RestError> {
        let cursor = match self.engine.store().feed_cursor(&channel.to_string()).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                tracing::info!(channel, "no posts processed yet in this channel; starting live");
                return Ok(0);
            }
            Err(e) => return Err(RestError::Unavailable(e.to_string())),
        };
        let mut after: u64 = cursor.parse().unwrap_or(0);
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
                self.receive(message).await;
                after = after.max(message.id.get());
            }
            seen += page.len();
            if page.len() < HISTORY_PAGE {
                return Ok(seen);
            }
        }
    }

    async fn thread_case(&self, channel: u64) -> Option<CaseId> {
        self.engine
            .store()
            .case_by_thread(&channel.to_string())
            .await
            .ok()
            .flatten()
    }

    /// Runs a command for an interaction and renders the answer (or the refusal) as text.
    async fn answer(&self, actor: &Actor, command: Command) -> String {
        match self.engine.execute(actor, command, Utc::now()).await {
            Ok(reply) => {
                self.notify.notify_one();
                code_block(&text::reply(&reply))
            }
            Err(CommandError::Store(e)) => {
                tracing::error!(error = ?e, "command failed in the store");
                CommandError::Store(e).to_string()
            }
            Err(refusal) => format!("✗ {}", render::escape(&refusal.to_string())),
        }
    }

    async fn slash_command(&self, http: &Http, interaction: &CommandInteraction) {
        // Acknowledge first: Discord allows 3 seconds, the work may take longer.
        if let Err(e) = interaction.defer_ephemeral(http).await {
            tracing::warn!(error = %e, "could not acknowledge a command");
            return;
        }
        let thread_case = self.thread_case(interaction.channel_id.get()).await;
        let actor = self.actor(interaction.member.as_deref(), &interaction.user);
        let content = match commands::command(interaction, thread_case) {
            Ok(command) => self.answer(&actor, command).await,
            Err(e) => format!("✗ {}", render::escape(&e.to_string())),
        };
        let edit = EditInteractionResponse::new()
            .content(content)
            .allowed_mentions(render::no_pings());
        if let Err(e) = interaction.edit_response(http, edit).await {
            tracing::warn!(error = %e, "could not send a command's answer");
        }
    }

    async fn button(&self, http: &Http, interaction: &ComponentInteraction) {
        if let Err(e) = interaction.defer_ephemeral(http).await {
            tracing::warn!(error = %e, "could not acknowledge a button");
            return;
        }
        let actor = self.actor(interaction.member.as_ref(), &interaction.user);
        let content = match commands::button(&interaction.data.custom_id) {
            Some(command) => self.answer(&actor, command).await,
            None => "✗ this button is not carebot's, or it is out of date".to_string(),
        };
        let edit = EditInteractionResponse::new()
            .content(content)
            .allowed_mentions(render::no_pings());
        if let Err(e) = interaction.edit_response(http, edit).await {
            tracing::warn!(error = %e, "could not send a button's answer");
        }
    }

    /// Suggests active cases for the `case` option as the user types.
    async fn autocomplete(&self, http: &Http, interaction: &CommandInteraction) {
        let typed = interaction
            .data
            .autocomplete()
            .map(|a| a.value.trim().trim_start_matches('#').to_string())
            .unwrap_or_default();
        let active = vec![
            crate::domain::case::CaseStatus::New,
            crate::domain::case::CaseStatus::Open,
            crate::domain::case::CaseStatus::Waiting,
            crate::domain::case::CaseStatus::Escalated,
        ];
        let cases = match self.engine.store().read().await {
            Ok(mut tx) => tx
                .list_cases(&CaseFilter {
                    statuses: active,
                    limit: Some(200),
                    ..Default::default()
                })
                .await
                .unwrap_or_default(),
            Err(_) => vec![],
        };
        let mut response = CreateAutocompleteResponse::new();
        for case in cases
            .iter()
            .filter(|c| c.id.0.to_string().starts_with(&typed))
            .take(25)
        {
            let label = crate::app::outbox::truncate_chars(
                &format!("{} {} {} – {}", case.id, case.priority, case.handle, case.title),
                100,
            );
            response = response.add_string_choice(label, case.id.0.to_string());
        }
        if let Err(e) = interaction
            .create_response(http, CreateInteractionResponse::Autocomplete(response))
            .await
        {
            tracing::debug!(error = %e, "autocomplete answer failed");
        }
    }
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        self.me.store(ready.user.id.get(), Ordering::Relaxed);
        ctx.http.set_application_id(ready.application.id);
        tracing::info!(user = %ready.user.name, guilds = ready.guilds.len(), "connected to Discord");
        if let Err(e) = self.guild.set_commands(&ctx.http, commands::definitions()).await {
            tracing::error!(error = %e, "could not register slash commands");
        }
        self.backfill().await;
    }

    async fn resume(&self, _ctx: Context, _: ResumedEvent) {
        // Discord replays missed events on resume; backfill anyway, it is idempotent.
        self.backfill().await;
    }

    async fn message(&self, _ctx: Context, message: Message) {
        self.receive(&message).await;
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Command(command) => self.slash_command(&ctx.http, &command).await,
            Interaction::Autocomplete(command) => self.autocomplete(&ctx.http, &command).await,
            Interaction::Component(component) => self.button(&ctx.http, &component).await,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_blocks_cannot_be_closed_by_the_text() {
        let block = code_block("a ``` b");
        assert_eq!(block.matches("```").count(), 2);
    }
}
