//! `carebot doctor`'s Discord checks, through the REST API at `discord.api_base`: the token,
//! the Message Content intent, the bot in the guild, every configured channel with the bot's
//! effective permissions there (see `permissions`), and the mapped role ids.

use serde::Deserialize;
use serde_json::Value;

use super::permissions::{self, Member, Overwrite, Permission};
use super::rest::{Rest, RestError};
use crate::config::Config;
use crate::doctor::Check;

/// `GATEWAY_MESSAGE_CONTENT` (verified apps) and `GATEWAY_MESSAGE_CONTENT_LIMITED` (apps in
/// fewer than 100 servers): either means the Message Content intent is on.
const MESSAGE_CONTENT_FLAGS: u64 = (1 << 18) | (1 << 19);

const PORTAL: &str = "https://discord.com/developers/applications";

#[derive(Debug, Deserialize)]
struct User {
    id: String,
    username: String,
}

#[derive(Debug, Deserialize)]
struct Application {
    id: String,
    #[serde(default)]
    flags: u64,
}

#[derive(Debug, Deserialize)]
struct Guild {
    name: String,
    owner_id: String,
}

#[derive(Debug, Deserialize)]
struct GuildMember {
    roles: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Role {
    id: String,
    name: String,
    permissions: String,
}

#[derive(Debug, Deserialize)]
struct Channel {
    id: String,
    #[serde(rename = "type")]
    kind: u64,
    name: Option<String>,
    #[serde(default)]
    permission_overwrites: Vec<RawOverwrite>,
}

#[derive(Debug, Deserialize)]
struct RawOverwrite {
    id: String,
    #[serde(rename = "type")]
    kind: u8,
    allow: String,
    deny: String,
}

fn id(s: &str) -> u64 {
    s.parse().unwrap_or(0)
}

fn bits(s: &str) -> u64 {
    s.parse().unwrap_or(0)
}

/// A REST error as the operator reads it (never with the token: requests carry it only in a
/// header, and errors name the path).
fn failure(e: &RestError) -> String {
    match e {
        RestError::Refused { status, body } => {
            let message = serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default();
            format!("Discord answered {status} {message}")
                .trim_end()
                .to_string()
        }
        other => other.to_string(),
    }
}

fn invite_url(application: &str) -> String {
    format!(
        "https://discord.com/oauth2/authorize?client_id={application}&scope=bot+applications.commands&permissions={}",
        permissions::all_needed()
    )
}

fn names(missing: &[Permission]) -> String {
    missing.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

/// The Discord checks, in order; a check later ones depend on stops the list when it fails.
pub async fn checks(config: &Config) -> Vec<Check> {
    let discord = &config.discord;
    let rest = Rest::new(&discord.api_base, discord.token.clone());
    let mut out = Vec::new();

    let me: User = match rest.get("/users/@me").await {
        Ok(me) => me,
        Err(e @ RestError::Refused { status: 401, .. }) => {
            out.push(Check::fail(
                "Discord token",
                format!("{} at {}: the token is not valid", failure(&e), discord.api_base),
                format!("in {PORTAL} → your application → Bot, reset the token and export the new one as DISCORD_TOKEN"),
            ));
            return out;
        }
        Err(e) => {
            out.push(Check::fail(
                "Discord token",
                format!("cannot reach Discord at {}: {}", discord.api_base, failure(&e)),
                "check the network, and discord.api_base (or CAREBOT_DISCORD_API_BASE) when you use a proxy",
            ));
            return out;
        }
    };
    out.push(Check::ok(
        "Discord token",
        format!("valid: the bot is {} ({})", me.username, me.id),
    ));

    let application = match rest.get::<Application>("/applications/@me").await {
        Ok(app) => {
            if app.flags & MESSAGE_CONTENT_FLAGS != 0 {
                out.push(Check::ok("Message Content intent", "enabled"));
            } else {
                out.push(Check::fail(
                    "Message Content intent",
                    "the application does not have the Message Content intent: feed posts would arrive without their text",
                    format!("in {PORTAL} → your application → Bot → Privileged Gateway Intents, turn on Message Content Intent and save"),
                ));
            }
            app.id
        }
        Err(e) => {
            out.push(Check::fail(
                "Message Content intent",
                format!("cannot read the application: {}", failure(&e)),
                "check that the token is a bot token of this application",
            ));
            me.id.clone()
        }
    };

    let Some(guild_id) = discord.guild_id else {
        out.push(Check::fail(
            "guild",
            "discord.guild_id is not set",
            "put the server's id in discord.guild_id (Discord: Settings → Advanced → Developer Mode, then right-click the server → Copy Server ID)",
        ));
        return out;
    };
    let guild: Guild = match rest.get(&format!("/guilds/{guild_id}")).await {
        Ok(guild) => guild,
        Err(e) => {
            out.push(Check::fail(
                "guild",
                format!("the bot cannot see guild {guild_id}: {}", failure(&e)),
                format!(
                    "check discord.guild_id, and invite the bot to that server: {}",
                    invite_url(&application)
                ),
            ));
            return out;
        }
    };
    let member: GuildMember = match rest.get(&format!("/guilds/{guild_id}/members/{}", me.id)).await {
        Ok(member) => member,
        Err(e) => {
            out.push(Check::fail(
                "guild",
                format!("the bot is not a member of {}: {}", guild.name, failure(&e)),
                format!("invite the bot to the server: {}", invite_url(&application)),
            ));
            return out;
        }
    };
    out.push(Check::ok(
        "guild",
        format!("the bot is in {} ({guild_id})", guild.name),
    ));

    let roles: Vec<Role> = match rest.get(&format!("/guilds/{guild_id}/roles")).await {
        Ok(roles) => roles,
        Err(e) => {
            out.push(Check::fail(
                "roles",
                format!("cannot list the guild's roles: {}", failure(&e)),
                "make sure the bot is in the server and the token is its own",
            ));
            return out;
        }
    };
    let channels: Vec<Channel> = match rest.get(&format!("/guilds/{guild_id}/channels")).await {
        Ok(channels) => channels,
        Err(e) => {
            out.push(Check::fail(
                "channels",
                format!("cannot list the guild's channels: {}", failure(&e)),
                "make sure the bot is in the server and the token is its own",
            ));
            return out;
        }
    };

    let member_roles: Vec<u64> = member.roles.iter().map(|r| id(r)).collect();
    let bot = Member {
        user_id: id(&me.id),
        role_ids: &member_roles,
        is_owner: guild.owner_id == me.id,
    };
    let role_bits = |role: u64| {
        roles
            .iter()
            .find(|r| id(&r.id) == role)
            .map(|r| bits(&r.permissions))
    };
    let base = permissions::base(guild_id, &bot, role_bits);

    for (key, channel_id, needs) in configured_channels(config) {
        let check = format!("channel {key}");
        let Some(channel) = channels.iter().find(|c| id(&c.id) == channel_id) else {
            out.push(Check::fail(
                check,
                format!("channel {channel_id} does not exist in {}", guild.name),
                format!("put the id of an existing text channel in {key} (right-click the channel → Copy Channel ID)"),
            ));
            continue;
        };
        let name = channel.name.clone().unwrap_or_else(|| channel_id.to_string());
        if !matches!(channel.kind, 0 | 5) {
            out.push(Check::fail(
                check,
                format!(
                    "#{name} ({channel_id}) is not a text channel (type {})",
                    channel.kind
                ),
                format!("put the id of a text channel in {key}"),
            ));
            continue;
        }
        let overwrites: Vec<Overwrite> = channel
            .permission_overwrites
            .iter()
            .map(|o| Overwrite {
                id: id(&o.id),
                kind: o.kind,
                allow: bits(&o.allow),
                deny: bits(&o.deny),
            })
            .collect();
        let have = permissions::in_channel(guild_id, &bot, base, &overwrites);
        let missing = permissions::missing(have, needs);
        if missing.is_empty() {
            out.push(Check::ok(check, format!("#{name}: {}", names(needs))));
        } else {
            out.push(Check::fail(
                check,
                format!("#{name}: the bot lacks {}", names(&missing)),
                format!(
                    "in #{name} → Edit Channel → Permissions, allow {} for the bot's role (or for the bot), or give its role those permissions in Server Settings → Roles; a channel overwrite that denies them wins over the role",
                    names(&missing)
                ),
            ));
        }
    }

    for (role_name, ids) in &discord.roles {
        for role_id in ids {
            match roles.iter().find(|r| id(&r.id) == *role_id) {
                Some(r) => out.push(Check::ok(
                    format!("role {role_name}"),
                    format!("{role_id} is @{}", r.name),
                )),
                None => out.push(Check::fail(
                    format!("role {role_name}"),
                    format!("discord.roles.{role_name} has {role_id}, which is no role in {}", guild.name),
                    "copy the role's id (Server Settings → Roles → right-click the role → Copy Role ID) into [discord.roles]",
                )),
            }
        }
    }
    out
}

/// Every channel the config names, with its config key and what it needs.
fn configured_channels(config: &Config) -> Vec<(String, u64, &'static [Permission])> {
    let d = &config.discord;
    let mut list: Vec<(String, u64, &'static [Permission])> = d
        .feeds
        .iter()
        .map(|f| ("discord.feeds".to_string(), f.channel_id, permissions::FEED_NEEDS))
        .collect();
    for (key, channel, needs) in [
        (
            "discord.escalations_channel",
            d.escalations_channel,
            permissions::POST_NEEDS,
        ),
        ("discord.queue_channel", d.queue_channel, permissions::POST_NEEDS),
        (
            "discord.digest_channel",
            d.digest_channel,
            permissions::POST_NEEDS,
        ),
        ("discord.cases_channel", d.cases_channel, permissions::CASES_NEEDS),
    ] {
        if let Some(channel) = channel {
            list.push((key.to_string(), channel, needs));
        }
    }
    list
}
