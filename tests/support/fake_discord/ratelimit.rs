//! Discord-like rate limits for the fake (off unless `FakeDiscordOptions::rate_limits` is set):
//! a global limit for all of the bot's requests, and buckets per route and major parameter,
//! with the headers Discord sends on every answer and its 429s when a client goes over.
//!
//! As Discord does it: a bucket's window starts with its first request and lasts its window;
//! `X-RateLimit-Bucket` is an opaque id shared by the routes with the same limit (message
//! create, message edit and thread create each have one, counted per channel); the global
//! limit has no headers until it refuses (`X-RateLimit-Global: true`, scope `global`);
//! interaction callbacks and followups are not bound by the global limit. A refused request
//! is not counted against either.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The limits of a fake with rate limits on.
#[derive(Clone, Debug)]
pub struct RateLimits {
    /// Requests per `global_window` for all of the bot's requests (Discord: 50 per second).
    pub global_limit: u32,
    pub global_window: Duration,
    /// Message create, message edit and thread create, each per channel (Discord: 5 per 5 s).
    pub route_limit: u32,
    pub route_window: Duration,
    /// Every other route, per route and major parameter, per `route_window`.
    pub other_limit: u32,
}

impl RateLimits {
    /// Discord's limits: 50 requests per second in all, 5 per 5 s per channel for message and
    /// thread writes.
    pub fn discord() -> RateLimits {
        RateLimits {
            global_limit: 50,
            global_window: Duration::from_secs(1),
            route_limit: 5,
            route_window: Duration::from_secs(5),
            other_limit: 50,
        }
    }

    /// Discord's limits with a shorter window for message and thread writes (tests).
    pub fn with_route_window(window: Duration) -> RateLimits {
        RateLimits {
            route_window: window,
            ..RateLimits::discord()
        }
    }
}

/// How many requests the rate limits saw and refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitStats {
    /// Requests subject to the limits (every `/api/v10` call but injected failures).
    pub requests: usize,
    /// Answered 429 by the global limit.
    pub global_refused: usize,
    /// Answered 429 by a route bucket.
    pub route_refused: usize,
}

impl RateLimitStats {
    /// All requests answered 429 by the limits.
    pub fn refused(&self) -> usize {
        self.global_refused + self.route_refused
    }
}

/// One window of a bucket or of the global limit.
#[derive(Debug)]
struct Window {
    used: u32,
    reset_at: Instant,
}

/// Headers to add to an answer.
pub(crate) type Headers = Vec<(&'static str, String)>;

/// The live state of a fake's limits.
pub(crate) struct Limits {
    config: RateLimits,
    global: Option<Window>,
    /// (bucket id, major parameter) -> its current window.
    buckets: HashMap<(String, String), Window>,
    pub stats: RateLimitStats,
}

/// What the limits say about one request.
pub(crate) enum Verdict {
    /// Let it through; add these headers to the answer.
    Pass(Headers),
    /// Answer 429 with this body and these headers.
    Refuse(Value, Headers),
}

impl Limits {
    pub fn new(config: RateLimits) -> Limits {
        Limits {
            config,
            global: None,
            buckets: HashMap::new(),
            stats: RateLimitStats::default(),
        }
    }

    /// Counts a request (`path` without `/api/v10`) at `now`, or refuses it.
    pub fn check(&mut self, method: &str, path: &str, now: Instant) -> Verdict {
        self.stats.requests += 1;
        let route = classify(method, path, &self.config);
        let global_limit = self.config.global_limit;
        if route.global {
            let window = fresh(&mut self.global, now, self.config.global_window);
            if window.used >= global_limit {
                self.stats.global_refused += 1;
                let retry_after = window.reset_at - now;
                let headers = vec![
                    ("retry-after", retry_after.as_secs_f64().ceil().to_string()),
                    ("x-ratelimit-global", "true".to_string()),
                    ("x-ratelimit-scope", "global".to_string()),
                ];
                let body = json!({"message": "You are being rate limited.", "retry_after": secs(retry_after), "global": true});
                return Verdict::Refuse(body, headers);
            }
        }
        let key = (route.bucket.clone(), route.major.clone());
        let bucket = self.buckets.entry(key).or_insert(Window {
            used: 0,
            reset_at: now,
        });
        if bucket.reset_at <= now {
            *bucket = Window {
                used: 0,
                reset_at: now + route.window,
            };
        }
        let reset_after = bucket.reset_at - now;
        let id = bucket_id(&route.bucket);
        let mut headers = vec![
            ("x-ratelimit-limit", route.limit.to_string()),
            (
                "x-ratelimit-reset",
                format!("{:.3}", epoch_now() + secs(reset_after)),
            ),
            ("x-ratelimit-reset-after", format!("{:.3}", secs(reset_after))),
            ("x-ratelimit-bucket", id),
        ];
        if bucket.used >= route.limit {
            self.stats.route_refused += 1;
            headers.push(("x-ratelimit-remaining", "0".to_string()));
            headers.push(("retry-after", reset_after.as_secs_f64().ceil().to_string()));
            headers.push(("x-ratelimit-scope", "user".to_string()));
            let body = json!({"message": "You are being rate limited.", "retry_after": secs(reset_after), "global": false});
            return Verdict::Refuse(body, headers);
        }
        bucket.used += 1;
        headers.push(("x-ratelimit-remaining", (route.limit - bucket.used).to_string()));
        if route.global {
            if let Some(window) = self.global.as_mut() {
                window.used += 1;
            }
        }
        Verdict::Pass(headers)
    }
}

/// The global window at `now`, a new one if the last has ended.
fn fresh(window: &mut Option<Window>, now: Instant, length: Duration) -> &mut Window {
    if window.as_ref().is_none_or(|w| w.reset_at <= now) {
        *window = Some(Window {
            used: 0,
            reset_at: now + length,
        });
    }
    window.as_mut().expect("set above")
}

/// Seconds with Discord's millisecond precision, rounded up so that a client waiting exactly
/// this long never comes back early.
fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).ceil() / 1000.0
}

fn epoch_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// An opaque, stable id for a bucket name (FNV-1a), like Discord's hashes.
fn bucket_id(name: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Which bucket a request counts against.
struct Classified {
    bucket: String,
    major: String,
    limit: u32,
    window: Duration,
    /// Bound by the global limit (interaction callbacks and followups are not).
    global: bool,
}

fn classify(method: &str, path: &str, config: &RateLimits) -> Classified {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let writes = |bucket: &str, channel: &str| Classified {
        bucket: bucket.to_string(),
        major: channel.to_string(),
        limit: config.route_limit,
        window: config.route_window,
        global: true,
    };
    match (method, segments.as_slice()) {
        ("POST", ["channels", c, "messages"]) => writes("message create", c),
        ("PATCH", ["channels", c, "messages", _]) => writes("message edit", c),
        ("POST", ["channels", c, "messages", _, "threads"]) | ("POST", ["channels", c, "threads"]) => {
            writes("thread create", c)
        }
        _ => {
            let mut major = String::new();
            let mut template = format!("{method} ");
            for (i, s) in segments.iter().enumerate() {
                let is_id = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                let after_id = i > 0 && segments[i - 1].bytes().all(|b| b.is_ascii_digit());
                let token = after_id && i >= 2 && matches!(segments[i - 2], "webhooks" | "interactions");
                template.push('/');
                if is_id {
                    if major.is_empty()
                        && i > 0
                        && matches!(segments[i - 1], "channels" | "guilds" | "webhooks")
                    {
                        major = s.to_string();
                    }
                    template.push_str(":id");
                } else if token {
                    // A webhook's token is part of its major parameter.
                    if major == segments[i - 1] {
                        major.push('/');
                        major.push_str(s);
                    }
                    template.push_str(":token");
                } else {
                    template.push_str(s);
                }
            }
            Classified {
                bucket: template,
                major,
                limit: config.other_limit,
                window: config.route_window,
                global: !matches!(segments.first(), Some(&"interactions") | Some(&"webhooks")),
            }
        }
    }
}
