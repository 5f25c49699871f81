//! Feed profiles: reading a social mention out of a feed-channel post.
//!
//! Integrations post mentions into Discord channels in a few common shapes (a one-line
//! `[Twitter] @handle: text https://...`, an embed with author/url/description, a plain
//! forwarded post). A [`FeedProfile`] is a set of regexes that says how to read one shape;
//! [`FeedReader`] tries the profiles configured for a channel in order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::types::{Handle, Network};

/// A post as it arrived in a feed channel, independent of Discord.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedPost {
    /// Where it came from and its id there, e.g. `discord:1234` or `console:7`; the dedupe key.
    pub source_id: String,
    /// The feed channel (opaque id) the post arrived in.
    pub channel_id: String,
    /// The feed message id in that channel (a case thread is started from it).
    pub message_id: String,
    /// Display name of whoever posted it (a webhook, a feed bot, a person forwarding).
    pub poster: String,
    pub content: String,
    pub embeds: Vec<FeedEmbed>,
    pub posted_at: DateTime<Utc>,
}

/// The parts of a rich embed that feed integrations fill in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedEmbed {
    pub author_name: Option<String>,
    pub author_url: Option<String>,
    pub title: Option<String>,
    pub url: Option<String>,
    pub description: Option<String>,
    pub fields: Vec<(String, String)>,
    pub footer: Option<String>,
    pub timestamp: Option<DateTime<Utc>>,
}

/// One social post by a customer, as carebot understands it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mention {
    /// Feed message id (or import id); processing the same source id twice changes nothing.
    pub source_id: String,
    /// The network's own URL or id when known; also deduplicated.
    pub external_id: Option<String>,
    pub network: Network,
    pub handle: Handle,
    pub display_name: Option<String>,
    pub text: String,
    pub url: Option<String>,
    pub posted_at: DateTime<Utc>,
    pub followers: Option<u64>,
    /// True when no profile could read the post; it still becomes a case.
    pub unparsed: bool,
}

/// Why a post was ignored rather than turned into a mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreReason {
    /// Posted by one of the brand's own handles.
    OwnBrand,
    /// A retweet, share or quote echo of another post.
    Echo,
}

/// What the feed reader made of a post.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedOutcome {
    Mention(Mention),
    Ignored(IgnoreReason),
}
