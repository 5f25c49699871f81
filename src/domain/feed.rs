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

        let handle = Handle::parse(captured[Slot::Handle as usize]?).ok()?;
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
    let mut handle = String::from("unparsed-");
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
