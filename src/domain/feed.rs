//! Feed profiles: reading a social mention out of a feed-channel post.
//!
//! Integrations post mentions into Discord channels in a few common shapes (a one-line
//! `[Twitter] @handle: text https://...`, an embed with author/url/description, a plain
//! forwarded post). A [`FeedProfileConfig`] is a set of regexes that says how to read one shape;
//! [`FeedReader`] compiles them once and tries the profiles configured for a channel in order.
//!
//! # How a profile reads a post
//!
//! Each pattern of a profile is matched against one part of the post (`content`, or a part of
//! the post's first embed). Named groups say what a match means: `network`, `handle`, `name`,
//! `text`, `url`, `followers`, `id`. A group name may end in digits (`handle2`) so that the
//! alternatives of one regex can each capture the same thing (the regex crate refuses duplicate
//! group names). `embed_fields` maps an embed field name (e.g. `Followers`) to one of those names.
//!
//! The parts are read in this order and the first non-empty capture of each name wins:
//! embed fields, content, embed author, embed author url, embed description, embed title,
//! embed url, embed footer. A pattern that does not match simply yields nothing; the profile
//! reads the post when its patterns together yield a handle that [`Handle::parse`] accepts.
//! The network comes from a `network` group, else the profile's fixed `network`, else the host of
//! the mention's url when it is a well-known network, else [`Network::unknown`].
//!
//! A post no profile reads still becomes a mention, flagged `unparsed`, so nothing is lost.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::types::{Handle, Network, ParseError};

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

impl IgnoreReason {
    /// The name stored and shown (`own_brand`, `echo`).
    pub fn as_str(self) -> &'static str {
        match self {
            IgnoreReason::OwnBrand => "own_brand",
            IgnoreReason::Echo => "echo",
        }
    }
}

/// What the feed reader made of a post.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedOutcome {
    Mention(Mention),
    Ignored(IgnoreReason),
}

/// One profile as written in the TOML config under `[[feed.profiles]]`.
///
/// Every pattern is optional, but a profile needs at least one, and one of them must have a
/// `handle` group (or `embed_fields` must map a field to `handle`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedProfileConfig {
    /// Unique name; a feed channel lists the profiles it uses by name.
    pub name: String,
    /// The network of every post this profile reads when the post does not say, e.g. `twitter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Regex over the post's text content (trimmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Regex over the first embed's author name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embed_author: Option<String>,
    /// Regex over the first embed's author url (usually the profile page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embed_author_url: Option<String>,
    /// Regex over the first embed's description (usually the post text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embed_description: Option<String>,
    /// Regex over the first embed's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embed_title: Option<String>,
    /// Regex over the first embed's url (usually the post's link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embed_url: Option<String>,
    /// Regex over the first embed's footer (often names the network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embed_footer: Option<String>,
    /// Embed field name (case-insensitive) -> what its value is, e.g. `Followers = "followers"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub embed_fields: BTreeMap<String, String>,
}

/// Error in a feed profile (or the brand handles): names the profile and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum FeedConfigError {
    #[error("a feed profile has an empty `name`: give every [[feed.profiles]] entry a unique name")]
    EmptyName,
    #[error("feed profile `{profile}` is defined twice: give each profile a unique name")]
    DuplicateName { profile: String },
    #[error("feed profile `{profile}` has no pattern: set `content` and/or `embed_*` regexes")]
    NoPatterns { profile: String },
    #[error("feed profile `{profile}`: `{part}` is not a valid regex; fix the pattern:\n{source}")]
    BadRegex {
        profile: String,
        part: &'static str,
        #[source]
        source: regex::Error,
    },
    #[error(
        "feed profile `{profile}`: `{part}` has a group named `{group}`; name groups network, handle, \
         name, text, url, followers or id (a trailing number is allowed, e.g. `handle2`)"
    )]
    UnknownGroup {
        profile: String,
        part: String,
        group: String,
    },
    #[error("feed profile `{profile}` can never read a handle: add a `(?P<handle>...)` group to one of its patterns")]
    NoHandle { profile: String },
    #[error("feed profile `{profile}`: `network` is invalid: {source}")]
    BadNetwork {
        profile: String,
        #[source]
        source: ParseError,
    },
    #[error("brand handle is invalid: {source}")]
    BadBrandHandle {
        #[source]
        source: ParseError,
    },
}

/// What a named group (or a mapped embed field) fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Network,
    Handle,
    Name,
    Text,
    Url,
    Followers,
    Id,
}

const SLOTS: usize = 7;

impl Slot {
    /// `handle`, `handle2`, `Handle` -> `Slot::Handle`.
    fn from_group(group: &str) -> Option<Slot> {
        match group
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_ascii_lowercase()
            .as_str()
        {
            "network" => Some(Slot::Network),
            "handle" => Some(Slot::Handle),
            "name" => Some(Slot::Name),
            "text" => Some(Slot::Text),
            "url" => Some(Slot::Url),
            "followers" => Some(Slot::Followers),
            "id" => Some(Slot::Id),
            _ => None,
        }
    }
}

/// The part of a post a pattern reads; the order of the variants is the reading order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Content,
    EmbedAuthor,
    EmbedAuthorUrl,
    EmbedDescription,
    EmbedTitle,
    EmbedUrl,
    EmbedFooter,
}

impl Part {
    fn key(self) -> &'static str {
        match self {
            Part::Content => "content",
            Part::EmbedAuthor => "embed_author",
            Part::EmbedAuthorUrl => "embed_author_url",
            Part::EmbedDescription => "embed_description",
            Part::EmbedTitle => "embed_title",
            Part::EmbedUrl => "embed_url",
            Part::EmbedFooter => "embed_footer",
        }
    }

    fn of<'a>(self, post: &'a FeedPost, embed: Option<&'a FeedEmbed>) -> Option<&'a str> {
        match self {
            Part::Content => Some(post.content.as_str()),
            Part::EmbedAuthor => embed?.author_name.as_deref(),
            Part::EmbedAuthorUrl => embed?.author_url.as_deref(),
            Part::EmbedDescription => embed?.description.as_deref(),
            Part::EmbedTitle => embed?.title.as_deref(),
            Part::EmbedUrl => embed?.url.as_deref(),
            Part::EmbedFooter => embed?.footer.as_deref(),
        }
    }
}

#[derive(Debug, Clone)]
struct Pattern {
    part: Part,
    regex: Regex,
    /// Capture group index -> what it fills.
    groups: Vec<(usize, Slot)>,
}

#[derive(Debug, Clone)]
struct Profile {
    name: String,
    network: Option<Network>,
    /// Normalised embed field name -> what its value fills.
    fields: Vec<(String, Slot)>,
    patterns: Vec<Pattern>,
    has_text_group: bool,
}

/// The regexes that recognise retweets, shares and echoes; fixed, compiled once per reader.
#[derive(Debug, Clone)]
struct EchoRules {
    /// `RT @someone: ...` (also `MT`, a modified retweet).
    retweet: Regex,
    /// A header saying the post is a share: `Dana retweeted`, `Dana shared a post`, ...
    share_marker: Regex,
    /// The whole text is one link.
    link_only: Regex,
    /// `"@brand: ..."`: a quote of one of the brand's own posts.
    brand_quote: Option<Regex>,
    /// `... via @brand` at the end: passing on the brand's own post.
    via_brand: Option<Regex>,
    /// `[Network]` at the start of an unparsed post.
    network_tag: Regex,
}

impl EchoRules {
    fn new(brands: &[Handle]) -> Self {
        // The fixed patterns below are covered by the tests; they cannot fail to compile.
        let fixed = |re: &str| Regex::new(re).expect("built-in feed regex compiles");
        let alternatives = brands
            .iter()
            .map(|h| regex::escape(h.as_str()))
            .collect::<Vec<_>>()
            .join("|");
        let (brand_quote, via_brand) = if alternatives.is_empty() {
            (None, None)
        } else {
            (
                Some(fixed(&format!(r#"(?i)^["“”'‘’«]\s*@(?:{alternatives})\s*:"#))),
                Some(fixed(&format!(r"(?i)\bvia\s+@(?:{alternatives})\s*$"))),
            )
        };
        EchoRules {
            retweet: fixed(r"^(?:RT|MT|rt)\s?@[^\s:]+"),
            share_marker: fixed(
                r"(?i)\b(?:re-?tweeted|re-?posted|re-?shared|quote[- ]?tweeted|shared (?:a|an|your|this|their|his|her|the) (?:post|link|photo|video|story|reel|tweet|status|memory)|shared [^\n]{1,60}?['’]s (?:post|photo|video|reel|story|link|tweet))\b",
            ),
            link_only: fixed(r"^<?https?://\S+?>?$"),
            brand_quote,
            via_brand,
            network_tag: fixed(r"^\s*\[(?P<network>[^\]\n]{1,40})\]"),
        }
    }

    /// Echoes recognisable from the text alone (see [`FeedReader::read`]).
    fn text_is_echo(&self, text: &str, link_only_counts: bool) -> bool {
        let text = text.trim();
        self.retweet.is_match(text)
            || (link_only_counts && self.link_only.is_match(text))
            || self.brand_quote.as_ref().is_some_and(|re| re.is_match(text))
            || self.via_brand.as_ref().is_some_and(|re| re.is_match(text))
    }

    /// A share marker in a header: the content's first line before its first `:`, or an embed's
    /// author, title or footer. The post body itself is never searched, so a customer writing
    /// "I retweeted your ad" is not mistaken for an echo.
    fn header_is_echo(&self, post: &FeedPost) -> bool {
        let first_line = post.content.trim_start().lines().next().unwrap_or("");
        let content_header = match first_line.split_once(':') {
            Some((head, _)) if head.len() <= 200 => self.share_marker.is_match(head),
            _ => false,
        };
        content_header
            || post.embeds.iter().any(|e| {
                [&e.author_name, &e.title, &e.footer]
                    .into_iter()
                    .flatten()
                    .any(|s| self.share_marker.is_match(s))
            })
    }
}

/// Reads mentions out of feed posts with a set of profiles compiled once.
#[derive(Debug, Clone)]
pub struct FeedReader {
    profiles: Vec<Profile>,
    brands: Vec<Handle>,
    echo: EchoRules,
}

/// What a profile captured from a post, borrowed from the post; indexed by `Slot as usize`.
type Captured<'a> = [Option<&'a str>; SLOTS];

impl FeedReader {
    /// Compiles the profiles (in order) and the brand's own handles (with or without `@`).
    pub fn new(profiles: &[FeedProfileConfig], brand_handles: &[String]) -> Result<Self, FeedConfigError> {
        let mut compiled: Vec<Profile> = Vec::with_capacity(profiles.len());
        for config in profiles {
            let profile = compile_profile(config)?;
            if compiled.iter().any(|p| p.name == profile.name) {
                return Err(FeedConfigError::DuplicateName {
                    profile: profile.name,
                });
            }
            compiled.push(profile);
        }
        let brands = brand_handles
            .iter()
            .map(|h| Handle::parse(h).map_err(|source| FeedConfigError::BadBrandHandle { source }))
            .collect::<Result<Vec<_>, _>>()?;
        let echo = EchoRules::new(&brands);
        Ok(FeedReader {
            profiles: compiled,
            brands,
            echo,
        })
    }

    /// The shipped profiles, in the order they are tried:
    ///
    /// - `tagged-line`: `[Twitter] @dana: text https://...`, `[Facebook] Dana Smith (@dana.smith): ...`,
    ///   `[Instagram] @dana (12.4k followers) — text`; a trailing link is the post's url.
    /// - `embed`: a rich embed with the author as `Name (@handle)` or `@handle` (else the handle
    ///   from the author url), the text in the description, the post link as url, fields such as
    ///   `Followers`, `Network`, `Handle`, `Link`, `ID`, and a footer naming the network.
    /// - `forwarded`: `From @dana on Instagram: text`, `From Dana (@dana) via Facebook: ...`,
    ///   `@dana wrote: text`, optionally after `Fwd:`.
    pub fn default_profiles() -> Vec<FeedProfileConfig> {
        let s = |v: &str| Some(v.to_string());
        vec![
            FeedProfileConfig {
                name: "tagged-line".into(),
                content: s(concat!(
                    r"(?s)^\[(?P<network>[^\]\n]{1,40})\][ \t]*",
                    r"(?:(?P<name>[^\n@:\[\]]{1,100}?)[ \t]*\(@(?P<handle>[^\s()]+)\)|@(?P<handle2>[^\s:()]+))[ \t]*",
                    r"(?:\((?P<followers>[0-9][0-9.,]*[ \t]*[kKmM]?)[ \t]*followers\))?[ \t]*",
                    r"(?::|[-–—][ \t])[ \t]*(?P<text>.*?)(?:\s+(?P<url>https?://\S+))?$",
                )),
                ..Default::default()
            },
            FeedProfileConfig {
                name: "embed".into(),
                embed_author: s(
                    r"^(?:(?P<name>.+?)\s*\(@(?P<handle>[^\s()]+)\)|@(?P<handle2>\S+)|(?P<name2>.+))$",
                ),
                embed_author_url: s(concat!(
                    r"(?i)^https?://(?:www\.|mobile\.|m\.)?",
                    r"(?P<network>twitter\.com|x\.com|facebook\.com|instagram\.com|tiktok\.com|threads\.net|reddit\.com|youtube\.com|linkedin\.com)",
                    r"/(?:@|u/|user/|in/)?(?P<handle>[A-Za-z0-9_.\-]+)/?$",
                )),
                embed_description: s(r"(?s)^(?P<text>.+)$"),
                embed_title: s(r"(?s)^(?P<text>.+)$"),
                embed_url: s(r"^(?P<url>https?://\S+)$"),
                embed_footer: s(
                    r"(?i)\b(?P<network>twitter|x|facebook|instagram|tiktok|threads|youtube|linkedin|reddit|trustpilot|google reviews|yelp|tripadvisor)\b",
                ),
                embed_fields: [
                    ("Followers", "followers"),
                    ("Network", "network"),
                    ("Handle", "handle"),
                    ("Link", "url"),
                    ("ID", "id"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
                ..Default::default()
            },
            FeedProfileConfig {
                name: "forwarded".into(),
                content: s(concat!(
                    r"(?is)^(?:(?:fwd?|forwarded(?:\s+message)?)\s*:?\s*)?",
                    r"(?:from\s+(?:(?P<name>[^\n@:()]{1,100}?)\s*\(@(?P<handle>[^\s()]+)\)|@(?P<handle2>[^\s:()]+))",
                    r"(?:\s+(?:on|via)\s+(?P<network>[a-z][\w.\-]{0,39}))?",
                    r"|@(?P<handle3>[^\s:()]+)\s+(?:wrote|said|posted|commented|replied|tweeted)",
                    r"(?:\s+(?:on|via)\s+(?P<network2>[a-z][\w.\-]{0,39}))?)",
                    r"\s*:\s*(?P<text>.*?)(?:\s+(?P<url>https?://\S+))?$",
                )),
                ..Default::default()
            },
        ]
    }

    /// Reads one post with the profiles named in `only` (in that order; unknown names are
    /// skipped) or, when `only` is `None`, with all profiles in configured order.
    ///
    /// The first profile that reads a handle wins. Then:
    /// - a post by one of the brand's handles is `Ignored(OwnBrand)`;
    /// - a retweet or echo is `Ignored(Echo)`: text starting `RT @x` / `MT @x`; a header (the
    ///   content's first line before its first `:`, or an embed's author, title or footer) saying
    ///   `retweeted`, `reposted`, `reshared`, `quote tweeted`, `shared a post/link/photo/...` or
    ///   `shared <someone>'s post`; text that is only a quote of a brand post (`"@brand: ...`)
    ///   or ends `via @brand`; and, for a read post, text that is only one link.
    ///
    /// A post no profile reads becomes an `unparsed` mention (never lost): network from a
    /// leading `[Network]` tag or a `Network` embed field, else unknown; its own customer handle
    /// `unparsed-<source id>`; the text is the content and all embed text. A bare link that no
    /// profile reads is kept (someone may have pasted it for the team to look at).
    pub fn read(&self, post: &FeedPost, only: Option<&[String]>) -> FeedOutcome {
        let read = match only {
            None => self.profiles.iter().find_map(|p| self.read_with(p, post)),
            Some(names) => names
                .iter()
                .filter_map(|n| self.profiles.iter().find(|p| &p.name == n))
                .find_map(|p| self.read_with(p, post)),
        };
        match read {
            Some(mention) => {
                if let Some(reason) = self.ignore_reason(&mention) {
                    FeedOutcome::Ignored(reason)
                } else if self.echo.header_is_echo(post) {
                    FeedOutcome::Ignored(IgnoreReason::Echo)
                } else {
                    FeedOutcome::Mention(mention)
                }
            }
            None => self.unparsed(post),
        }
    }

    /// Own-brand or echo check for a mention that did not come through a profile (e.g. a JSONL
    /// import line): the brand's handles, `RT @x`, `"@brand: ...` quotes, `via @brand`, and
    /// text that is only one link. Unparsed mentions are never link-only echoes.
    pub fn ignore_reason(&self, mention: &Mention) -> Option<IgnoreReason> {
        if self.brands.contains(&mention.handle) {
            Some(IgnoreReason::OwnBrand)
        } else if self.echo.text_is_echo(&mention.text, !mention.unparsed) {
            Some(IgnoreReason::Echo)
        } else {
            None
        }
    }

    /// The configured profile names, in order.
    pub fn profile_names(&self) -> Vec<String> {
        self.profiles.iter().map(|p| p.name.clone()).collect()
    }

    /// Reads a post with one profile; `None` when it yields no valid handle.
    fn read_with(&self, profile: &Profile, post: &FeedPost) -> Option<Mention> {
        let embed = post.embeds.first();
        let mut captured: Captured<'_> = [None; SLOTS];
        if let Some(embed) = embed {
            for (field, slot) in &profile.fields {
                for (key, value) in &embed.fields {
                    if normalise_field(key).eq_ignore_ascii_case(field) {
                        fill(&mut captured, *slot, value);
                    }
                }
            }
        }
        for pattern in &profile.patterns {
            let Some(haystack) = pattern.part.of(post, embed) else {
                continue;
            };
            let haystack = haystack.trim();
            if haystack.is_empty() {
                continue;
            }
            if let Some(caps) = pattern.regex.captures(haystack) {
                for (index, slot) in &pattern.groups {
                    if let Some(m) = caps.get(*index) {
                        fill(&mut captured, *slot, m.as_str());
                    }
                }
            }
        }

        let handle = parse_handle(captured[Slot::Handle as usize]?)?;
        let url = captured[Slot::Url as usize].map(str::to_string);
        let network = captured[Slot::Network as usize]
            .and_then(parse_network)
            .or_else(|| profile.network.clone())
            .or_else(|| url.as_deref().and_then(network_from_url))
            .unwrap_or_else(Network::unknown);
        let text = match captured[Slot::Text as usize] {
            Some(text) => text.to_string(),
            None if profile.has_text_group => String::new(),
            None => raw_text(post),
        };
        let external_id = url
            .clone()
            .or_else(|| captured[Slot::Id as usize].map(str::to_string));
        Some(Mention {
            source_id: post.source_id.clone(),
            external_id,
            network,
            handle,
            display_name: captured[Slot::Name as usize].map(str::to_string),
            text,
            url,
            posted_at: embed.and_then(|e| e.timestamp).unwrap_or(post.posted_at),
            followers: captured[Slot::Followers as usize].and_then(parse_count),
            unparsed: false,
        })
    }

    /// The mention for a post no profile reads, unless it is recognisably an echo.
    fn unparsed(&self, post: &FeedPost) -> FeedOutcome {
        if self.echo.header_is_echo(post) || self.echo.text_is_echo(&post.content, false) {
            return FeedOutcome::Ignored(IgnoreReason::Echo);
        }
        let embed = post.embeds.first();
        let field = |name: &str| {
            post.embeds
                .iter()
                .flat_map(|e| e.fields.iter())
                .find(|(k, _)| normalise_field(k).eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let network = self
            .echo
            .network_tag
            .captures(&post.content)
            .and_then(|c| c.name("network"))
            .and_then(|m| parse_network(m.as_str()))
            .or_else(|| field("network").and_then(parse_network))
            .unwrap_or_else(Network::unknown);
        let url = post
            .embeds
            .iter()
            .filter_map(|e| e.url.as_deref())
            .map(str::trim)
            .find(|u| !u.is_empty());
        let display_name = embed
            .and_then(|e| e.author_name.as_deref())
            .map(str::trim)
            .filter(|n| !n.is_empty());
        FeedOutcome::Mention(Mention {
            source_id: post.source_id.clone(),
            external_id: url.map(str::to_string),
            network,
            handle: unparsed_handle(post),
            display_name: display_name.map(str::to_string),
            text: raw_text(post),
            url: url.map(str::to_string),
            posted_at: embed.and_then(|e| e.timestamp).unwrap_or(post.posted_at),
            followers: field("followers").and_then(parse_count),
            unparsed: true,
        })
    }
}

fn compile_profile(config: &FeedProfileConfig) -> Result<Profile, FeedConfigError> {
    let name = config.name.trim().to_string();
    if name.is_empty() {
        return Err(FeedConfigError::EmptyName);
    }
    let network = match config.network.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => Some(Network::parse(n).map_err(|source| FeedConfigError::BadNetwork {
            profile: name.clone(),
            source,
        })?),
        None => None,
    };
    let sources = [
        (Part::Content, &config.content),
        (Part::EmbedAuthor, &config.embed_author),
        (Part::EmbedAuthorUrl, &config.embed_author_url),
        (Part::EmbedDescription, &config.embed_description),
        (Part::EmbedTitle, &config.embed_title),
        (Part::EmbedUrl, &config.embed_url),
        (Part::EmbedFooter, &config.embed_footer),
    ];
    let mut patterns = Vec::new();
    for (part, source) in sources {
        let Some(source) = source.as_deref().filter(|s| !s.trim().is_empty()) else {
            continue;
        };
        let regex = Regex::new(source).map_err(|source| FeedConfigError::BadRegex {
            profile: name.clone(),
            part: part.key(),
            source,
        })?;
        let mut groups = Vec::new();
        for (index, group) in regex.capture_names().enumerate() {
            let Some(group) = group else { continue };
            let slot = Slot::from_group(group).ok_or_else(|| FeedConfigError::UnknownGroup {
                profile: name.clone(),
                part: part.key().to_string(),
                group: group.to_string(),
            })?;
            groups.push((index, slot));
        }
        patterns.push(Pattern { part, regex, groups });
    }
    let mut fields = Vec::new();
    for (field, group) in &config.embed_fields {
        let slot = Slot::from_group(group.trim()).ok_or_else(|| FeedConfigError::UnknownGroup {
            profile: name.clone(),
            part: format!("embed_fields.{field}"),
            group: group.clone(),
        })?;
        fields.push((normalise_field(field).to_string(), slot));
    }
    if patterns.is_empty() && fields.is_empty() {
        return Err(FeedConfigError::NoPatterns { profile: name });
    }
    let has = |slot: Slot| {
        patterns.iter().any(|p| p.groups.iter().any(|(_, s)| *s == slot))
            || fields.iter().any(|(_, s)| *s == slot)
    };
    if !has(Slot::Handle) {
        return Err(FeedConfigError::NoHandle { profile: name });
    }
    let has_text_group = has(Slot::Text);
    Ok(Profile {
        name,
        network,
        fields,
        patterns,
        has_text_group,
    })
}

/// Zero-width and bidi marks (copied along from RTL names) are dropped from a handle, so
/// `@\u{200f}dana` is the same customer as `@dana`; everything else is left to [`Handle::parse`].
fn parse_handle(raw: &str) -> Option<Handle> {
    let invisible = |c: char| matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
    if raw.contains(invisible) {
        Handle::parse(&raw.replace(invisible, "")).ok()
    } else {
        Handle::parse(raw).ok()
    }
}

/// Keeps the first non-empty (trimmed) value of each slot.
fn fill<'a>(captured: &mut Captured<'a>, slot: Slot, value: &'a str) {
    let value = value.trim();
    let place = &mut captured[slot as usize];
    if place.is_none() && !value.is_empty() {
        *place = Some(value);
    }
}

/// `Followers:` -> `Followers`, for comparing embed field names.
fn normalise_field(name: &str) -> &str {
    name.trim().trim_end_matches(':').trim_end()
}

/// A network from a tag, a field or a footer: `Twitter`, `X`, `facebook.com`, `Google Reviews`.
fn parse_network(raw: &str) -> Option<Network> {
    let raw = raw.trim();
    if let Ok(network) = Network::parse(raw) {
        return Some(network);
    }
    if raw.contains('.') && !raw.contains(char::is_whitespace) {
        return network_from_host(raw);
    }
    Network::parse(&raw.split_whitespace().collect::<Vec<_>>().join("-")).ok()
}

/// The network of a post link on a well-known host; other hosts (link shorteners) say nothing.
fn network_from_url(url: &str) -> Option<Network> {
    let rest = url.trim().split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let known = network_from_host(host)?;
    Some(known)
}

fn network_from_host(host: &str) -> Option<Network> {
    let host = host.trim().to_ascii_lowercase();
    let host = ["www.", "mobile.", "m."]
        .iter()
        .fold(host.as_str(), |h, p| h.strip_prefix(p).unwrap_or(h));
    let name = match host {
        "twitter.com" | "x.com" | "t.co" => "twitter",
        "facebook.com" | "fb.com" | "fb.me" => "facebook",
        "instagram.com" => "instagram",
        "tiktok.com" => "tiktok",
        "threads.net" => "threads",
        "youtube.com" | "youtu.be" => "youtube",
        "linkedin.com" => "linkedin",
        "reddit.com" => "reddit",
        "trustpilot.com" => "trustpilot",
        "yelp.com" => "yelp",
        h if h.starts_with("tripadvisor.") => "tripadvisor",
        _ => return None,
    };
    Network::parse(name).ok()
}

/// Follower counts as feeds write them: `12,400`, `12 400`, `12.4k`, `1.2M`, `3 million`.
fn parse_count(raw: &str) -> Option<u64> {
    let start = raw.find(|c: char| c.is_ascii_digit())?;
    let rest = &raw[start..];
    let is_number_char =
        |c: char| c.is_ascii_digit() || matches!(c, ',' | '.' | ' ' | '\u{a0}' | '\u{202f}' | '\'');
    let end = rest.find(|c: char| !is_number_char(c)).unwrap_or(rest.len());
    let number = rest[..end].trim_end_matches(|c: char| !c.is_ascii_digit());
    let unit: String = rest[number.len()..]
        .trim_start_matches(is_number_char)
        .chars()
        .take_while(|c| c.is_alphabetic())
        .take(8)
        .collect::<String>()
        .to_lowercase();
    let multiplier: u64 = match unit.as_str() {
        "k" | "thousand" => 1_000,
        "m" | "mn" | "mil" | "million" => 1_000_000,
        "b" | "bn" | "billion" => 1_000_000_000,
        _ => 1,
    };
    // The last `.` or `,` is a decimal point when a unit follows (`12.4k`) or when it is not
    // followed by exactly three digits (`12,400` is twelve thousand four hundred).
    let decimal_at = number.rfind(['.', ',']).filter(|at| {
        let after = number[at + 1..].chars().filter(|c| c.is_ascii_digit()).count();
        multiplier > 1 || after != 3
    });
    let (whole, fraction) = match decimal_at {
        Some(at) => (&number[..at], &number[at + 1..]),
        None => (number, ""),
    };
    let mut value: u64 = 0;
    for digit in whole.chars().filter_map(|c| c.to_digit(10)) {
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    value = value.checked_mul(multiplier)?;
    let mut scale = multiplier;
    for digit in fraction.chars().filter_map(|c| c.to_digit(10)) {
        scale /= 10;
        if scale == 0 {
            break;
        }
        value = value.checked_add(u64::from(digit) * scale)?;
    }
    Some(value)
}

/// Everything a person would read in the post: content, then each embed's parts, one per line.
fn raw_text(post: &FeedPost) -> String {
    let mut text = String::with_capacity(post.content.len());
    let mut push = |part: &str| {
        let part = part.trim();
        if !part.is_empty() {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(part);
        }
    };
    push(&post.content);
    for embed in &post.embeds {
        for part in [&embed.author_name, &embed.title, &embed.description]
            .into_iter()
            .flatten()
        {
            push(part);
        }
        for (key, value) in &embed.fields {
            push(&format!("{}: {}", key.trim(), value.trim()));
        }
        for part in [&embed.url, &embed.footer].into_iter().flatten() {
            push(part);
        }
    }
    text
}

/// `unparsed-<source id>` so each unparsed post is its own customer.
fn unparsed_handle(post: &FeedPost) -> Handle {
    let id = [post.source_id.trim(), post.message_id.trim()]
        .into_iter()
        .find(|id| !id.is_empty());
    let mut handle = String::from(crate::domain::types::UNPARSED_PREFIX);
    match id {
        Some(id) => handle.extend(id.chars().take(80).map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })),
        None => handle.push_str(&format!("{:016x}", fnv1a(post.content.as_bytes()))),
    }
    // Only ASCII letters, digits, `-` and `_`, at most 89 characters: always a valid handle.
    Handle::parse(&handle).expect("an unparsed handle is always valid")
}

/// A small stable hash (FNV-1a), so an id-less post gets the same handle on every run.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 11, 29, hour, 0, 0).unwrap()
    }

    /// Compiled once: building a reader is cheap in release but slow in a debug test build.
    fn reader() -> &'static FeedReader {
        static READER: std::sync::OnceLock<FeedReader> = std::sync::OnceLock::new();
        READER.get_or_init(|| {
            FeedReader::new(
                &FeedReader::default_profiles(),
                &["@AcmeHelp".to_string(), "acme".to_string()],
            )
            .unwrap()
        })
    }

    fn post(content: &str) -> FeedPost {
        FeedPost {
            source_id: "discord:1001".into(),
            channel_id: "feed".into(),
            message_id: "1001".into(),
            poster: "Feed Bot".into(),
            content: content.into(),
            embeds: vec![],
            posted_at: at(9),
        }
    }

    fn embed_post(embed: FeedEmbed) -> FeedPost {
        FeedPost {
            embeds: vec![embed],
            ..post("")
        }
    }

    fn mention(outcome: FeedOutcome) -> Mention {
        match outcome {
            FeedOutcome::Mention(m) => m,
            other => panic!("expected a mention, got {other:?}"),
        }
    }

    fn read(content: &str) -> FeedOutcome {
        reader().read(&post(content), None)
    }

    #[test]
    fn a_tagged_line_gives_network_handle_text_and_url() {
        let m = mention(read("[Twitter] @Dana_Travels: flat tyre on the I-95, roadside says tools are in the trunk https://twitter.com/dana_travels/status/42"));
        assert_eq!(m.network.as_str(), "twitter");
        assert_eq!(m.handle.as_str(), "dana_travels");
        assert_eq!(
            m.text,
            "flat tyre on the I-95, roadside says tools are in the trunk"
        );
        assert_eq!(
            m.url.as_deref(),
            Some("https://twitter.com/dana_travels/status/42")
        );
        assert_eq!(m.external_id, m.url);
        assert_eq!(m.source_id, "discord:1001");
        assert_eq!(m.posted_at, at(9));
        assert!(!m.unparsed);
        assert_eq!(m.display_name, None);
    }

    #[test]
    fn a_facebook_tagged_line_with_a_display_name_is_read() {
        let m = mention(read(
            "[Facebook] Dana Smith (@dana.smith): Billed for a tyre I did not break.",
        ));
        assert_eq!(m.network.as_str(), "facebook");
        assert_eq!(m.handle.as_str(), "dana.smith");
        assert_eq!(m.display_name.as_deref(), Some("Dana Smith"));
        assert_eq!(m.text, "Billed for a tyre I did not break.");
        assert_eq!(m.url, None);
        assert_eq!(m.external_id, None);
    }

    #[test]
    fn a_tagged_line_can_carry_followers_and_a_dash_separator() {
        let m = mention(read("[X] @bigvoice (12.4k followers) — checkout is broken again"));
        assert_eq!(m.network.as_str(), "twitter");
        assert_eq!(m.followers, Some(12_400));
        assert_eq!(m.text, "checkout is broken again");
    }

    #[test]
    fn a_multi_line_tagged_post_keeps_its_lines_and_markdown() {
        let m = mention(read(
            "[Instagram] @dana: **still** waiting\n\n> day 3 _of_ nothing\n",
        ));
        assert_eq!(m.text, "**still** waiting\n\n> day 3 _of_ nothing");
    }

    #[test]
    fn an_embed_is_read_from_author_description_url_fields_and_timestamp() {
        let m = mention(reader().read(
            &embed_post(FeedEmbed {
                author_name: Some("Dana Smith (@dana_travels)".into()),
                author_url: Some("https://twitter.com/dana_travels".into()),
                title: Some("New mention".into()),
                url: Some("https://twitter.com/dana_travels/status/77".into()),
                description: Some("  Charged for the tyre after you promised a fix  ".into()),
                fields: vec![
                    ("Followers".into(), "12,400".into()),
                    ("Network".into(), "Twitter".into()),
                ],
                footer: Some("Brand Monitor".into()),
                timestamp: Some(at(7)),
            }),
            None,
        ));
        assert_eq!(m.handle.as_str(), "dana_travels");
        assert_eq!(m.display_name.as_deref(), Some("Dana Smith"));
        assert_eq!(m.network.as_str(), "twitter");
        assert_eq!(m.text, "Charged for the tyre after you promised a fix");
        assert_eq!(
            m.url.as_deref(),
            Some("https://twitter.com/dana_travels/status/77")
        );
        assert_eq!(
            m.external_id.as_deref(),
            Some("https://twitter.com/dana_travels/status/77")
        );
        assert_eq!(m.followers, Some(12_400));
        assert_eq!(m.posted_at, at(7));
    }

    #[test]
    fn an_embed_without_a_handle_in_the_author_takes_it_from_the_author_url() {
        let m = mention(reader().read(
            &embed_post(FeedEmbed {
                author_name: Some("Dana Smith".into()),
                author_url: Some("https://www.instagram.com/dana.pics/".into()),
                description: Some("lost my bag".into()),
                ..Default::default()
            }),
            None,
        ));
        assert_eq!(m.handle.as_str(), "dana.pics");
        assert_eq!(m.display_name.as_deref(), Some("Dana Smith"));
        assert_eq!(m.network.as_str(), "instagram");
        assert_eq!(m.posted_at, at(9), "no embed timestamp: the post time");
    }

    #[test]
    fn an_embed_footer_names_the_network_and_an_id_field_is_the_external_id() {
        let m = mention(reader().read(
            &embed_post(FeedEmbed {
                author_name: Some("@reviewer9".into()),
                description: Some("Two stars".into()),
                fields: vec![("ID:".into(), "rev-991".into())],
                footer: Some("via Trustpilot • 2 min ago".into()),
                ..Default::default()
            }),
            None,
        ));
        assert_eq!(m.handle.as_str(), "reviewer9");
        assert_eq!(m.network.as_str(), "trustpilot");
        assert_eq!(m.external_id.as_deref(), Some("rev-991"));
        assert_eq!(m.url, None);
    }

    #[test]
    fn a_forwarded_post_is_read() {
        let m = mention(read(
            "From @dana_travels on Instagram: the rep brought a new car, thank you!",
        ));
        assert_eq!(
            (m.network.as_str(), m.handle.as_str()),
            ("instagram", "dana_travels")
        );
        assert_eq!(m.text, "the rep brought a new car, thank you!");

        let m = mention(read(
            "Fwd: From Dana Smith (@dana) via Facebook: still billed https://facebook.com/posts/9",
        ));
        assert_eq!((m.network.as_str(), m.handle.as_str()), ("facebook", "dana"));
        assert_eq!(m.display_name.as_deref(), Some("Dana Smith"));
        assert_eq!(m.url.as_deref(), Some("https://facebook.com/posts/9"));
    }

    #[test]
    fn a_forwarded_post_without_a_network_takes_it_from_the_link_or_stays_unknown() {
        let m = mention(read(
            "@dana wrote: where is my refund https://x.com/dana/status/5",
        ));
        assert_eq!((m.network.as_str(), m.handle.as_str()), ("twitter", "dana"));
        assert_eq!(m.text, "where is my refund");

        let m = mention(read("@dana wrote: where is my refund"));
        assert_eq!(m.network, Network::unknown());
        assert!(!m.unparsed);
    }

    #[test]
    fn only_the_profiles_named_for_the_channel_are_tried() {
        let r = reader();
        let p = post("From @dana on Instagram: hello");
        let only = ["tagged-line".to_string(), "no-such-profile".to_string()];
        assert!(mention(r.read(&p, Some(&only))).unparsed);
        assert!(!mention(r.read(&p, Some(&["forwarded".to_string()]))).unparsed);
        assert!(mention(r.read(&p, Some(&[]))).unparsed);
    }

    #[test]
    fn the_brands_own_posts_are_ignored() {
        assert_eq!(
            read("[Twitter] @AcmeHelp: we are on it!"),
            FeedOutcome::Ignored(IgnoreReason::OwnBrand)
        );
        assert_eq!(
            read("[Twitter] @acme: sale today"),
            FeedOutcome::Ignored(IgnoreReason::OwnBrand)
        );
        assert!(matches!(
            read("[Twitter] @acme_fan: sale today"),
            FeedOutcome::Mention(_)
        ));
    }

    #[test]
    fn a_retweet_is_ignored_as_echo() {
        assert_eq!(
            read("[Twitter] @dana: RT @acmehelp: Black Friday deals!"),
            FeedOutcome::Ignored(IgnoreReason::Echo)
        );
        assert_eq!(
            read("RT @someone: my car broke down"),
            FeedOutcome::Ignored(IgnoreReason::Echo)
        );
    }

    #[test]
    fn a_share_header_is_ignored_as_echo_but_a_customer_saying_retweeted_is_not() {
        assert_eq!(
            read("[Twitter] @dana retweeted @acmehelp: deals!"),
            FeedOutcome::Ignored(IgnoreReason::Echo)
        );
        assert_eq!(
            read("[Facebook] Dana Smith shared a post: deals"),
            FeedOutcome::Ignored(IgnoreReason::Echo)
        );
        assert_eq!(
            read("Dana shared Acme's post: deals"),
            FeedOutcome::Ignored(IgnoreReason::Echo)
        );
        let m = mention(read(
            "[Twitter] @dana: I retweeted your contest and shared a post, still no reply",
        ));
        assert_eq!(m.handle.as_str(), "dana");
        let embed = FeedEmbed {
            author_name: Some("Dana (@dana)".into()),
            title: Some("Dana reposted".into()),
            description: Some("deals".into()),
            ..Default::default()
        };
        assert_eq!(
            reader().read(&embed_post(embed), None),
            FeedOutcome::Ignored(IgnoreReason::Echo)
        );
    }

    #[test]
    fn quoting_or_passing_on_a_brand_post_is_an_echo() {
        assert_eq!(
            read("[Twitter] @dana: “@AcmeHelp: Free upgrades this weekend”"),
            FeedOutcome::Ignored(IgnoreReason::Echo)
        );
        assert_eq!(
            read("[Twitter] @dana: free upgrades this weekend via @acmehelp"),
            FeedOutcome::Ignored(IgnoreReason::Echo)
        );
        assert!(matches!(
            read("[Twitter] @dana: @acmehelp your app is down"),
            FeedOutcome::Mention(_)
        ));
    }

    #[test]
    fn a_read_post_that_is_only_a_link_is_an_echo_but_an_unread_bare_link_is_kept() {
        assert_eq!(
            read("[Twitter] @dana: https://twitter.com/other/status/1"),
            FeedOutcome::Ignored(IgnoreReason::Echo)
        );
        let m = mention(read("https://twitter.com/other/status/1"));
        assert!(m.unparsed);
        assert_eq!(m.text, "https://twitter.com/other/status/1");
    }

    #[test]
    fn a_post_no_profile_reads_becomes_an_unparsed_mention() {
        let m = mention(read("Someone on a forum says the checkout eats their coupon"));
        assert!(m.unparsed);
        assert_eq!(m.network, Network::unknown());
        assert_eq!(m.handle.as_str(), "unparsed-discord-1001");
        assert_eq!(m.text, "Someone on a forum says the checkout eats their coupon");
        assert_eq!(m.source_id, "discord:1001");
        assert_eq!(m.posted_at, at(9));
    }

    #[test]
    fn an_unparsed_post_keeps_the_network_of_its_tag_and_embed_text() {
        let mut p = post("[Facebook] Dana Smith: billed for the tyre");
        p.embeds.push(FeedEmbed {
            title: Some("Comment".into()),
            description: Some("see photo".into()),
            fields: vec![("Followers".into(), "1.2M".into())],
            url: Some("https://facebook.com/c/1".into()),
            ..Default::default()
        });
        let m = mention(reader().read(&p, None));
        assert!(m.unparsed);
        assert_eq!(m.network.as_str(), "facebook");
        assert_eq!(m.text, "[Facebook] Dana Smith: billed for the tyre\nComment\nsee photo\nFollowers: 1.2M\nhttps://facebook.com/c/1");
        assert_eq!(m.followers, Some(1_200_000));
        assert_eq!(m.external_id.as_deref(), Some("https://facebook.com/c/1"));
    }

    #[test]
    fn each_unparsed_post_is_its_own_customer() {
        let r = reader();
        let mut a = post("???");
        a.source_id = "console:7".into();
        let mut b = post("???");
        b.source_id = "console:8".into();
        let (a, b) = (mention(r.read(&a, None)), mention(r.read(&b, None)));
        assert_eq!(a.handle.as_str(), "unparsed-console-7");
        assert_ne!(a.handle, b.handle);

        let mut no_ids = post("hello");
        no_ids.source_id = String::new();
        no_ids.message_id = "  ".into();
        let m = mention(r.read(&no_ids, None));
        assert!(
            m.handle.as_str().starts_with("unparsed-") && m.handle.as_str().len() == 25,
            "{}",
            m.handle
        );
        assert_eq!(
            m.handle,
            mention(r.read(&no_ids, None)).handle,
            "stable across reads"
        );
    }

    #[test]
    fn an_invalid_handle_falls_back_to_the_unparsed_path() {
        let profile = FeedProfileConfig {
            name: "loose".into(),
            network: Some("forum".into()),
            content: Some(r"^(?P<handle>[^:]+): (?P<text>.*)$".into()),
            ..Default::default()
        };
        let r = FeedReader::new(&[profile], &[]).unwrap();
        let m = mention(r.read(&post("Dana Smith: my order"), None));
        assert!(m.unparsed);
        assert_eq!(m.text, "Dana Smith: my order");
        let m = mention(r.read(&post("dana: my order"), None));
        assert_eq!(
            (m.network.as_str(), m.handle.as_str(), m.text.as_str()),
            ("forum", "dana", "my order")
        );
    }

    #[test]
    fn an_empty_post_becomes_an_unparsed_mention_with_empty_text() {
        let m = mention(read("   \n "));
        assert!(m.unparsed);
        assert_eq!(m.text, "");
        let m = mention(reader().read(&FeedPost::default(), None));
        assert!(m.unparsed && m.handle.as_str().starts_with("unparsed-"));
    }

    #[test]
    fn a_100_kb_post_is_read_whole() {
        let body = "my car broke down and nobody helps. ".repeat(3_000);
        assert!(body.len() > 100_000);
        let m = mention(read(&format!("[Twitter] @dana: {body}")));
        assert_eq!(m.handle.as_str(), "dana");
        assert_eq!(m.text, body.trim());
        let m = mention(read(&body));
        assert!(m.unparsed);
        assert_eq!(m.text.len(), body.trim().len());
    }

    #[test]
    fn odd_unicode_is_kept_intact() {
        let text = "\u{200f}שלום\u{200e} 👩\u{200d}👩\u{200d}👧 e\u{301}\u{301} ﷽ zero\u{200b}width";
        let m = mention(read(&format!("[Twitter] @dana: {text}")));
        assert_eq!(m.text, text);
        let m = mention(read(&format!("[Twitter] @\u{200f}dana\u{200d}: {text}")));
        assert_eq!(
            m.handle.as_str(),
            "dana",
            "invisible marks are dropped from handles"
        );
        assert_eq!(m.text, text);
        let m = mention(read(&format!("\u{200f}{text}")));
        assert!(m.unparsed);
        assert!(m.text.contains("👩\u{200d}👩\u{200d}👧"));
    }

    #[test]
    fn everyone_pings_and_markdown_are_kept_as_text() {
        let m = mention(read("[Twitter] @dana: @everyone look ||spoiler|| `code` <@123>"));
        assert_eq!(m.text, "@everyone look ||spoiler|| `code` <@123>");
        let m = mention(read("@everyone @here"));
        assert!(m.unparsed);
        assert_eq!(m.text, "@everyone @here");
    }

    #[test]
    fn a_handle_with_spaces_is_not_accepted_from_any_profile() {
        let m = mention(read("[Twitter] Dana Smith (@dana smith): hi"));
        assert!(m.unparsed);
        assert_eq!(m.network.as_str(), "twitter");
    }

    #[test]
    fn a_mention_from_an_import_is_checked_for_brand_and_echo() {
        let r = reader();
        let m = mention(read("[Twitter] @dana: where is my refund"));
        assert_eq!(r.ignore_reason(&m), None);
        let brand = Mention {
            handle: Handle::parse("ACMEHELP").unwrap(),
            ..m.clone()
        };
        assert_eq!(r.ignore_reason(&brand), Some(IgnoreReason::OwnBrand));
        let rt = Mention {
            text: "RT @other: lol".into(),
            ..m.clone()
        };
        assert_eq!(r.ignore_reason(&rt), Some(IgnoreReason::Echo));
        let link = Mention {
            text: " https://x.com/a/status/1 ".into(),
            ..m.clone()
        };
        assert_eq!(r.ignore_reason(&link), Some(IgnoreReason::Echo));
        let unparsed_link = Mention {
            unparsed: true,
            ..link
        };
        assert_eq!(r.ignore_reason(&unparsed_link), None);
    }

    #[test]
    fn follower_counts_are_read_as_feeds_write_them() {
        assert_eq!(parse_count("12,400"), Some(12_400));
        assert_eq!(parse_count("12.4k"), Some(12_400));
        assert_eq!(parse_count("12.4K followers"), Some(12_400));
        assert_eq!(parse_count("1.2M"), Some(1_200_000));
        assert_eq!(parse_count("3 million"), Some(3_000_000));
        assert_eq!(parse_count("12 400"), Some(12_400));
        assert_eq!(parse_count("1,234,567"), Some(1_234_567));
        assert_eq!(parse_count("**980**"), Some(980));
        assert_eq!(parse_count("12,5k"), Some(12_500));
        assert_eq!(parse_count("none"), None);
        assert_eq!(parse_count("99999999999999999999999"), None);
    }

    #[test]
    fn networks_are_read_from_tags_hosts_and_names() {
        assert_eq!(
            parse_network("Google Reviews").unwrap().as_str(),
            "google-reviews"
        );
        assert_eq!(parse_network("www.facebook.com").unwrap().as_str(), "facebook");
        assert_eq!(
            network_from_url("https://mobile.twitter.com/a/status/1")
                .unwrap()
                .as_str(),
            "twitter"
        );
        assert_eq!(network_from_url("https://bit.ly/x"), None);
        assert_eq!(parse_network("Twitter / X"), None);
    }

    #[test]
    fn the_default_profiles_round_trip_through_toml() {
        #[derive(Serialize, Deserialize)]
        struct Feed {
            profiles: Vec<FeedProfileConfig>,
        }
        let text = toml::to_string(&Feed {
            profiles: FeedReader::default_profiles(),
        })
        .unwrap();
        let back: Feed = toml::from_str(&text).unwrap();
        assert_eq!(back.profiles, FeedReader::default_profiles());
        assert_eq!(reader().profile_names(), ["tagged-line", "embed", "forwarded"]);
    }

    #[test]
    fn a_profile_is_written_in_toml_like_this() {
        let config: FeedProfileConfig = toml::from_str(
            r#"
            name = "reviews-bot"
            network = "reviews"
            content = '^New review by (?P<name>.+?) \(@(?P<handle>\S+)\): (?P<text>.*)$'
            embed_fields = { Stars = "id" }
            "#,
        )
        .unwrap();
        let r = FeedReader::new(&[config], &[]).unwrap();
        let m = mention(r.read(&post("New review by Dana S (@dana): two stars"), None));
        assert_eq!(
            (m.network.as_str(), m.handle.as_str(), m.text.as_str()),
            ("reviews", "dana", "two stars")
        );
        assert!(toml::from_str::<FeedProfileConfig>("name = \"x\"\ncontnet = \"typo\"").is_err());
    }

    #[test]
    fn a_bad_regex_is_refused_naming_the_profile_and_part() {
        let bad = FeedProfileConfig {
            name: "broken".into(),
            embed_author: Some("(?P<handle>[a-".into()),
            ..Default::default()
        };
        let err = FeedReader::new(&[bad], &[]).unwrap_err();
        assert!(
            matches!(err, FeedConfigError::BadRegex { ref profile, part: "embed_author", .. } if profile == "broken")
        );
        assert!(
            err.to_string()
                .contains("feed profile `broken`: `embed_author` is not a valid regex"),
            "{err}"
        );
    }

    #[test]
    fn invalid_profiles_are_refused_with_what_to_fix() {
        let ok = |name: &str| FeedProfileConfig {
            name: name.into(),
            content: Some("@(?P<handle>\\S+)".into()),
            ..Default::default()
        };
        let err = |profiles: &[FeedProfileConfig]| FeedReader::new(profiles, &[]).unwrap_err().to_string();

        assert!(err(&[ok(" ")]).contains("empty `name`"));
        assert!(err(&[ok("a"), ok("a")]).contains("`a` is defined twice"));
        assert!(err(&[FeedProfileConfig {
            name: "a".into(),
            ..Default::default()
        }])
        .contains("no pattern"));
        let e = err(&[FeedProfileConfig {
            content: Some("(?P<user>\\S+)".into()),
            ..ok("a")
        }]);
        assert!(e.contains("group named `user`"), "{e}");
        let e = err(&[FeedProfileConfig {
            content: Some("(?P<text>.*)".into()),
            ..ok("a")
        }]);
        assert!(e.contains("can never read a handle"), "{e}");
        let e = err(&[FeedProfileConfig {
            network: Some("my network".into()),
            ..ok("a")
        }]);
        assert!(e.contains("`a`: `network` is invalid"), "{e}");
        let e = err(&[FeedProfileConfig {
            embed_fields: [("Who".into(), "person".into())].into(),
            ..ok("a")
        }]);
        assert!(e.contains("embed_fields.Who"), "{e}");
        let e = FeedReader::new(&[ok("a")], &["acme help".into()])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("brand handle is invalid"), "{e}");
    }

    #[test]
    fn a_reader_can_be_shared_between_threads() {
        fn shareable<T: Clone + std::fmt::Debug + Send + Sync>() {}
        shareable::<FeedReader>();
    }
}
