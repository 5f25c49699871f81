//! Discord's rate limits, kept track of before a request is sent, so that carebot waits
//! instead of being refused.
//!
//! Discord answers every REST call with its bucket's state (`X-RateLimit-Bucket`, `-Limit`,
//! `-Remaining`, `-Reset`, `-Reset-After`). A bucket id is shared by routes with the same limit,
//! and counted per major parameter (channel, guild, webhook), so a bucket here is the pair
//! (bucket id, major parameter), and each route learns its bucket id from its first answer.
//! On top of the buckets a bot may send 50 requests per second in all (the global limit), which
//! Discord does not announce in headers: it is counted here over a sliding second, once the
//! endpoint has shown that it keeps rate limits (Discord answers with bucket headers from the
//! first request on; a test double or a proxy that keeps the limits itself may send none).
//!
//! A 429 still happens (another process using the same token, a window Discord shortened):
//! its `retry_after` pauses every request when it is global and only its bucket otherwise.
//!
//! Everything here is pure bookkeeping: time is a parameter and nothing sleeps; the REST
//! client asks [`Limiter::acquire`] before sending and tells [`Limiter::answered`] or
//! [`Limiter::refused`] what came back.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Discord's global limit for a bot: requests per [`GLOBAL_WINDOW`].
pub const GLOBAL_LIMIT: usize = 50;

/// The window of Discord's global limit.
pub const GLOBAL_WINDOW: Duration = Duration::from_secs(1);

/// The identity of a request for rate limiting: its route (method and path with ids replaced
/// by `:id`, tokens by `:token`) and its major parameter (the channel, guild or webhook id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// E.g. `POST /channels/:id/messages`.
    pub key: String,
    /// E.g. the channel id; empty for routes without one.
    pub major: String,
}

impl Route {
    /// The route of `method` on `path` (without `/api/v10`; a query string is ignored).
    pub fn of(method: &str, path: &str) -> Route {
        let path = path.split('?').next().unwrap_or("");
        let mut key = String::from(method);
        key.push(' ');
        let mut major = String::new();
        let mut previous = "";
        let mut token_next = false;
        for segment in path.trim_matches('/').split('/') {
            key.push('/');
            let is_id = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
            if is_id {
                if major.is_empty() && matches!(previous, "channels" | "guilds" | "webhooks") {
                    major = segment.to_string();
                }
                // Webhook and interaction ids are followed by a token, part of the major.
                token_next = matches!(previous, "webhooks" | "interactions");
                key.push_str(":id");
            } else if token_next {
                token_next = false;
                if previous.bytes().all(|b| b.is_ascii_digit()) && major == previous {
                    major.push('/');
                    major.push_str(segment);
                }
                key.push_str(":token");
            } else {
                key.push_str(segment);
            }
            previous = segment;
        }
        Route { key, major }
    }
}

/// What an answer's `X-RateLimit-*` headers say about its bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketHeaders {
    /// `X-RateLimit-Bucket`: opaque, shared by the routes with the same limit.
    pub bucket: String,
    /// `X-RateLimit-Limit`: requests per window.
    pub limit: u32,
    /// `X-RateLimit-Remaining`: requests left in this window.
    pub remaining: u32,
    /// `X-RateLimit-Reset-After`: until the window ends, from when the answer arrived.
    pub reset_after: Duration,
    /// `X-RateLimit-Reset` (epoch seconds): tells windows apart; never compared with our clock.
    pub reset: Option<f64>,
}

impl BucketHeaders {
    /// Reads the headers through `header` (a case-insensitive lookup by name); `None` when
    /// the answer carries no bucket.
    pub fn parse<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Option<BucketHeaders> {
        let number = |name: &str| header(name).and_then(|v| v.trim().parse::<f64>().ok());
        let bucket = header("x-ratelimit-bucket")?.trim().to_string();
        let limit = number("x-ratelimit-limit")?;
        let remaining = number("x-ratelimit-remaining")?;
        let reset_after = number("x-ratelimit-reset-after")?;
        Some(BucketHeaders {
            bucket,
            limit: limit.max(0.0) as u32,
            remaining: remaining.max(0.0) as u32,
            reset_after: seconds(reset_after),
            reset: number("x-ratelimit-reset"),
        })
    }
}

/// A 429 from Discord, read from its headers and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// How long to wait: the body's `retry_after` (precise), else the `Retry-After` header,
    /// else one second.
    pub retry_after: Duration,
    /// The global limit (`X-RateLimit-Global`, `X-RateLimit-Scope: global` or the body's
    /// `global`): every request waits, not only this bucket's.
    pub global: bool,
}

impl Refusal {
    /// Reads a 429 through `header` and its body (if it was JSON).
    pub fn parse<'a>(header: impl Fn(&str) -> Option<&'a str>, body: Option<&serde_json::Value>) -> Refusal {
        let from_body = body.and_then(|b| b.get("retry_after")).and_then(|v| v.as_f64());
        let from_header = header("retry-after").and_then(|v| v.trim().parse::<f64>().ok());
        let global = header("x-ratelimit-global").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
            || header("x-ratelimit-scope").is_some_and(|v| v.trim().eq_ignore_ascii_case("global"))
            || body
                .and_then(|b| b.get("global"))
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
        Refusal {
            retry_after: seconds(from_body.or(from_header).unwrap_or(1.0)),
            global,
        }
    }
}

/// Seconds from a header or body, at most an hour; negative or NaN values are zero.
fn seconds(secs: f64) -> Duration {
    Duration::from_secs_f64(if secs.is_finite() {
        secs.clamp(0.0, 3600.0)
    } else {
        0.0
    })
}

/// A request that may not go yet, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// When it may go (if nothing else is sent meanwhile).
    pub until: Instant,
    /// The global limit: every request waits, not only this route's.
    pub global: bool,
}

/// One bucket (a bucket id and a major parameter) as far as we know it.
#[derive(Debug, Clone)]
struct Bucket {
    /// Requests per window; 0 while unknown (a 429 without headers taught only a pause).
    limit: u32,
    /// Left in the current window, counting the requests sent and not yet answered.
    remaining: u32,
    /// When the current window ends; `None` once it ended and no answer has told the next one.
    reset_at: Option<Instant>,
    /// `X-RateLimit-Reset` of the current window, to tell an answer from the same window.
    reset_epoch: Option<f64>,
    /// A 429's `retry_after`: nothing goes before it, whatever the counts say.
    blocked_until: Option<Instant>,
}

/// The global limit: the requests sent within the last window, and a pause from a global 429.
#[derive(Debug, Clone)]
struct Global {
    limit: usize,
    /// The window plus a margin: the server counts when it receives, a little after we send.
    window: Duration,
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

/// The rate-limit bookkeeping of one bot token.
#[derive(Debug, Clone)]
pub struct Limiter {
    global: Global,
    /// Route key -> bucket id, learned from `X-RateLimit-Bucket`.
    routes: HashMap<String, String>,
    /// (bucket id, major parameter) -> state. A route whose bucket id is not known yet uses
    /// `route <key>` as its id.
    buckets: HashMap<(String, String), Bucket>,
    /// Wait before a request would be refused (true), or only honour 429s (the old way).
    preemptive: bool,
    /// The endpoint sent rate-limit headers or a 429: it keeps limits, so the global one counts.
    limited: bool,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter::new(GLOBAL_LIMIT, GLOBAL_WINDOW)
    }
}

impl Limiter {
    /// A limiter for a bot allowed `global_limit` requests per `global_window` (Discord: 50 per
    /// second), waiting before a request would be refused.
    pub fn new(global_limit: usize, global_window: Duration) -> Self {
        Limiter {
            global: Global {
                limit: global_limit.max(1),
                window: global_window + global_window / 50,
                sent: VecDeque::new(),
                paused_until: None,
            },
            routes: HashMap::new(),
            buckets: HashMap::new(),
            preemptive: true,
            limited: false,
        }
    }

    /// The same limiter, but only honouring 429s (sends and learns the hard way; for comparison).
    pub fn reactive(mut self) -> Self {
        self.preemptive = false;
        self
    }

    fn bucket_key(&self, route: &Route) -> (String, String) {
        let id = match self.routes.get(&route.key) {
            Some(id) => id.clone(),
            None => format!("route {}", route.key),
        };
        (id, route.major.clone())
    }

    /// Takes a place for one request on `route` at `now` (in its bucket and in the global
    /// budget), or says until when it must wait. Nothing is taken when it must wait.
    pub fn acquire(&mut self, route: &Route, now: Instant) -> Result<(), Wait> {
        if let Some(until) = self.global.paused_until {
            if until > now {
                return Err(Wait { until, global: true });
            }
            self.global.paused_until = None;
        }
        let key = self.bucket_key(route);
        let preemptive = self.preemptive;
        if let Some(bucket) = self.buckets.get_mut(&key) {
            if let Some(until) = bucket.blocked_until.filter(|u| *u > now) {
                return Err(Wait { until, global: false });
            }
            bucket.blocked_until = None;
            if bucket.reset_at.is_some_and(|r| r <= now) {
                // The window ended: a fresh one starts with this request.
                bucket.remaining = bucket.limit;
                bucket.reset_at = None;
                bucket.reset_epoch = None;
            }
            if preemptive && bucket.limit > 0 && bucket.remaining == 0 {
                if let Some(until) = bucket.reset_at {
                    return Err(Wait { until, global: false });
                }
                // No answer told us about this window (lost in transit): let one request find out.
            }
        }
        if preemptive && self.limited {
            let window = self.global.window;
            let sent = &mut self.global.sent;
            while sent.front().is_some_and(|t| *t + window <= now) {
                sent.pop_front();
            }
            if sent.len() >= self.global.limit {
                let oldest = *sent.front().expect("full");
                return Err(Wait {
                    until: oldest + window,
                    global: true,
                });
            }
            sent.push_back(now);
        }
        if let Some(bucket) = self.buckets.get_mut(&key) {
            bucket.remaining = bucket.remaining.saturating_sub(1);
        }
        Ok(())
    }

    /// Records an answer (not a 429) to a request on `route` that arrived at `now`: its bucket
    /// headers, or, for a success without any, that the route has no bucket.
    pub fn answered(&mut self, route: &Route, headers: Option<&BucketHeaders>, success: bool, now: Instant) {
        match headers {
            Some(h) => {
                self.limited = true;
                self.learn(route, h, now);
            }
            None if success => {
                self.routes.remove(&route.key);
            }
            None => {}
        }
    }

    /// Records a 429 to a request on `route` that arrived at `now`: a global one pauses every
    /// request for `retry_after`, any other only this route's bucket.
    pub fn refused(
        &mut self,
        route: &Route,
        headers: Option<&BucketHeaders>,
        refusal: &Refusal,
        now: Instant,
    ) {
        self.limited = true;
        let until = now + refusal.retry_after;
        if refusal.global {
            self.global.paused_until = Some(self.global.paused_until.map_or(until, |p| p.max(until)));
            return;
        }
        if let Some(h) = headers {
            self.learn(route, h, now);
        }
        let key = self.bucket_key(route);
        let bucket = self.buckets.entry(key).or_insert(Bucket {
            limit: 0,
            remaining: 0,
            reset_at: None,
            reset_epoch: None,
            blocked_until: None,
        });
        bucket.remaining = 0;
        bucket.reset_at = Some(bucket.reset_at.map_or(until, |r| r.max(until)));
        bucket.blocked_until = Some(bucket.blocked_until.map_or(until, |b| b.max(until)));
    }

    fn learn(&mut self, route: &Route, h: &BucketHeaders, now: Instant) {
        self.routes.insert(route.key.clone(), h.bucket.clone());
        let reset_at = now + h.reset_after;
        let bucket = self
            .buckets
            .entry((h.bucket.clone(), route.major.clone()))
            .or_insert(Bucket {
                limit: h.limit,
                remaining: h.remaining,
                reset_at: None,
                reset_epoch: None,
                blocked_until: None,
            });
        let same_window = match (bucket.reset_epoch, h.reset) {
            (Some(ours), Some(theirs)) => (ours - theirs).abs() < 0.001,
            _ => false,
        };
        if same_window {
            // Requests sent after this one and not answered yet are already counted here.
            bucket.remaining = bucket.remaining.min(h.remaining);
            bucket.reset_at = Some(bucket.reset_at.map_or(reset_at, |r| r.max(reset_at)));
        } else {
            bucket.remaining = h.remaining;
            bucket.reset_at = Some(reset_at);
        }
        bucket.limit = h.limit;
        bucket.reset_epoch = h.reset;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn headers(bucket: &str, remaining: u32, reset_after: Duration, reset: f64) -> BucketHeaders {
        BucketHeaders {
            bucket: bucket.into(),
            limit: 5,
            remaining,
            reset_after,
            reset: Some(reset),
        }
    }

    /// Sends on `route` at `now` and records Discord's `answer`.
    fn send(limiter: &mut Limiter, route: &Route, now: Instant, answer: BucketHeaders) -> Result<(), Wait> {
        limiter.acquire(route, now)?;
        limiter.answered(route, Some(&answer), true, now);
        Ok(())
    }

    #[test]
    fn routes_keep_their_major_parameter_and_replace_other_ids() {
        let r = Route::of("POST", "/channels/123/messages");
        assert_eq!(
            (r.key.as_str(), r.major.as_str()),
            ("POST /channels/:id/messages", "123")
        );
        let r = Route::of("PATCH", "/channels/123/messages/456");
        assert_eq!(
            (r.key.as_str(), r.major.as_str()),
            ("PATCH /channels/:id/messages/:id", "123")
        );
        let r = Route::of("GET", "/channels/9/messages?after=5&limit=100");
        assert_eq!(
            (r.key.as_str(), r.major.as_str()),
            ("GET /channels/:id/messages", "9")
        );
        let r = Route::of("POST", "/webhooks/7/tok-en/messages");
        assert_eq!(
            (r.key.as_str(), r.major.as_str()),
            ("POST /webhooks/:id/:token/messages", "7/tok-en")
        );
        let r = Route::of("GET", "/gateway/bot");
        assert_eq!((r.key.as_str(), r.major.as_str()), ("GET /gateway/bot", ""));
    }

    #[test]
    fn a_bucket_that_is_used_up_says_when_its_window_ends() {
        let t0 = Instant::now();
        let mut limiter = Limiter::default();
        let route = Route::of("POST", "/channels/1/messages/2/threads");
        // Five threads in the same second: Discord counts down 4, 3, 2, 1, 0.
        for (i, remaining) in (0..5).rev().enumerate() {
            let now = t0 + ms(i as u64 * 10);
            let answer = headers("threads", remaining, ms(5000 - i as u64 * 10), 1000.0);
            send(&mut limiter, &route, now, answer).expect("room left");
        }
        let sixth = limiter.acquire(&route, t0 + ms(50));
        assert_eq!(
            sixth,
            Err(Wait {
                until: t0 + ms(5000),
                global: false
            })
        );
        // At the reset a new window starts with this request.
        assert_eq!(limiter.acquire(&route, t0 + ms(5000)), Ok(()));
    }

    #[test]
    fn a_busy_bucket_holds_only_its_own_channel() {
        let t0 = Instant::now();
        let mut limiter = Limiter::default();
        let busy = Route::of("POST", "/channels/1/messages");
        send(&mut limiter, &busy, t0, headers("msg", 0, ms(800), 10.0)).expect("first");
        assert!(limiter.acquire(&busy, t0 + ms(1)).is_err());
        // Same route and bucket id, another channel: its own bucket.
        let other = Route::of("POST", "/channels/2/messages");
        assert_eq!(limiter.acquire(&other, t0 + ms(1)), Ok(()));
        // Another route in the same channel.
        let edit = Route::of("PATCH", "/channels/1/messages/7");
        assert_eq!(limiter.acquire(&edit, t0 + ms(1)), Ok(()));
    }

    #[test]
    fn routes_sharing_a_bucket_id_share_its_count() {
        let t0 = Instant::now();
        let mut limiter = Limiter::default();
        let from_message = Route::of("POST", "/channels/1/messages/5/threads");
        let bare = Route::of("POST", "/channels/1/threads");
        send(
            &mut limiter,
            &from_message,
            t0,
            headers("threads", 1, ms(900), 3.0),
        )
        .expect("first");
        send(
            &mut limiter,
            &bare,
            t0 + ms(1),
            headers("threads", 0, ms(899), 3.0),
        )
        .expect("second");
        assert!(limiter.acquire(&from_message, t0 + ms(2)).is_err());
        assert!(limiter.acquire(&bare, t0 + ms(2)).is_err());
    }

    #[test]
    fn requests_in_flight_are_counted_until_their_answers_come() {
        let t0 = Instant::now();
        let mut limiter = Limiter::default();
        let route = Route::of("POST", "/channels/1/messages");
        send(&mut limiter, &route, t0, headers("msg", 2, ms(1000), 7.0)).expect("first");
        // Two more go out before either is answered: the bucket is used up.
        limiter.acquire(&route, t0 + ms(1)).expect("second");
        limiter.acquire(&route, t0 + ms(2)).expect("third");
        assert!(limiter.acquire(&route, t0 + ms(3)).is_err());
        // The second's answer (remaining 1) must not give the third's place back.
        limiter.answered(&route, Some(&headers("msg", 1, ms(998), 7.0)), true, t0 + ms(4));
        assert!(limiter.acquire(&route, t0 + ms(5)).is_err());
    }

    #[test]
    fn an_answer_from_a_new_window_replaces_the_count() {
        let t0 = Instant::now();
        let mut limiter = Limiter::default();
        let route = Route::of("POST", "/channels/1/messages");
        send(&mut limiter, &route, t0, headers("msg", 0, ms(100), 7.0)).expect("first");
        send(
            &mut limiter,
            &route,
            t0 + ms(100),
            headers("msg", 4, ms(100), 7.1),
        )
        .expect("next window");
        for i in 0..4 {
            limiter
                .acquire(&route, t0 + ms(101 + i))
                .expect("room left in the new window");
        }
        assert!(limiter.acquire(&route, t0 + ms(110)).is_err());
    }

    #[test]
    fn the_global_limit_allows_fifty_per_second_sliding() {
        let t0 = Instant::now();
        let mut limiter = Limiter::default();
        let first = Route::of("GET", "/gateway/bot");
        limiter.answered(&first, Some(&headers("gw", 9, ms(5000), 1.0)), true, t0);
        for i in 0..50 {
            let route = Route::of("POST", &format!("/channels/{i}/messages"));
            limiter
                .acquire(&route, t0 + ms(i))
                .expect("within the global limit");
        }
        let route = Route::of("POST", "/channels/99/messages");
        let wait = limiter.acquire(&route, t0 + ms(60)).expect_err("the 51st waits");
        assert!(wait.global);
        // The window is a second plus a small margin for the time a request travels.
        assert_eq!(wait.until, t0 + ms(1020));
        assert_eq!(limiter.acquire(&route, t0 + ms(1020)), Ok(()));
        // The second request left the window 1 ms later, and so on.
        assert!(limiter.acquire(&route, t0 + ms(1020)).is_err());
        assert_eq!(limiter.acquire(&route, t0 + ms(1021)), Ok(()));
    }

    #[test]
    fn an_endpoint_without_rate_limit_headers_is_not_held_to_the_global_limit() {
        let t0 = Instant::now();
        let mut limiter = Limiter::default();
        let route = Route::of("POST", "/channels/1/messages");
        for i in 0..200 {
            limiter
                .acquire(&route, t0 + ms(i))
                .expect("nothing says it is limited");
            limiter.answered(&route, None, true, t0 + ms(i));
        }
        // The first headers show that it keeps limits: from then on the global one counts.
        let other = Route::of("POST", "/channels/2/messages");
        limiter.answered(
            &other,
            Some(&headers("msg", 4, ms(5000), 1.0)),
            true,
            t0 + ms(200),
        );
        for i in 0..50 {
            let route = Route::of("POST", &format!("/channels/{}/messages", 10 + i));
            limiter
                .acquire(&route, t0 + ms(201))
                .expect("within the global limit");
        }
        assert!(limiter.acquire(&route, t0 + ms(201)).is_err());
    }

    #[test]
    fn a_route_429_pauses_that_bucket_and_a_global_one_pauses_everything() {
        let t0 = Instant::now();
        let mut limiter = Limiter::default();
        let route = Route::of("POST", "/channels/1/messages");
        let other = Route::of("POST", "/channels/2/messages");
        limiter.acquire(&route, t0).expect("sent");
        let refusal = Refusal {
            retry_after: ms(300),
            global: false,
        };
        limiter.refused(
            &route,
            Some(&headers("msg", 0, ms(300), 1.0)),
            &refusal,
            t0 + ms(2),
        );
        assert_eq!(
            limiter.acquire(&route, t0 + ms(3)),
            Err(Wait {
                until: t0 + ms(302),
                global: false
            })
        );
        assert_eq!(limiter.acquire(&other, t0 + ms(3)), Ok(()));
        assert_eq!(limiter.acquire(&route, t0 + ms(302)), Ok(()));

        let global = Refusal {
            retry_after: ms(500),
            global: true,
        };
        limiter.refused(&other, None, &global, t0 + ms(400));
        let wait = limiter.acquire(&other, t0 + ms(401)).expect_err("paused");
        assert_eq!((wait.until, wait.global), (t0 + ms(900), true));
        assert!(limiter.acquire(&route, t0 + ms(899)).is_err());
        assert_eq!(limiter.acquire(&route, t0 + ms(900)), Ok(()));
    }

    #[test]
    fn a_429_without_headers_still_pauses_its_route() {
        let t0 = Instant::now();
        let mut limiter = Limiter::default();
        let route = Route::of("POST", "/channels/1/messages");
        limiter.acquire(&route, t0).expect("sent");
        let refusal = Refusal {
            retry_after: ms(250),
            global: false,
        };
        limiter.refused(&route, None, &refusal, t0);
        assert!(limiter.acquire(&route, t0 + ms(249)).is_err());
        for i in 0..10 {
            // Nothing else is known about the route: after the pause it is not counted.
            limiter.acquire(&route, t0 + ms(250 + i)).expect("free again");
        }
    }

    #[test]
    fn a_route_answered_without_headers_has_no_bucket() {
        let t0 = Instant::now();
        let mut limiter = Limiter::default();
        let route = Route::of("POST", "/channels/1/messages");
        send(&mut limiter, &route, t0, headers("msg", 0, ms(5000), 1.0)).expect("first");
        assert!(limiter.acquire(&route, t0 + ms(1)).is_err());
        let later = t0 + ms(5000);
        limiter.acquire(&route, later).expect("new window");
        limiter.answered(&route, None, true, later);
        for i in 0..10 {
            limiter
                .acquire(&route, later + ms(i))
                .expect("no bucket any more");
        }
    }

    #[test]
    fn the_reactive_limiter_only_honours_429s() {
        let t0 = Instant::now();
        let mut limiter = Limiter::default().reactive();
        let route = Route::of("POST", "/channels/1/messages");
        send(&mut limiter, &route, t0, headers("msg", 0, ms(5000), 1.0)).expect("first");
        assert_eq!(limiter.acquire(&route, t0 + ms(1)), Ok(()), "sent anyway");
        let refusal = Refusal {
            retry_after: ms(4000),
            global: false,
        };
        limiter.refused(
            &route,
            Some(&headers("msg", 0, ms(4000), 1.0)),
            &refusal,
            t0 + ms(2),
        );
        assert!(limiter.acquire(&route, t0 + ms(3)).is_err());
        for i in 0..100 {
            let other = Route::of("POST", &format!("/channels/{}/messages", i + 10));
            limiter
                .acquire(&other, t0 + ms(4))
                .expect("no global budget either");
        }
    }

    #[test]
    fn discord_headers_and_429_bodies_are_read() {
        let names = [
            ("x-ratelimit-bucket", "abcd1234"),
            ("x-ratelimit-limit", "5"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1470173023.123"),
            ("x-ratelimit-reset-after", "1.250"),
            ("retry-after", "2"),
            ("x-ratelimit-scope", "user"),
        ];
        let header = |name: &str| names.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let parsed = BucketHeaders::parse(header).expect("bucket headers");
        assert_eq!(parsed.bucket, "abcd1234");
        assert_eq!((parsed.limit, parsed.remaining), (5, 0));
        assert_eq!(parsed.reset_after, ms(1250));
        assert_eq!(parsed.reset, Some(1470173023.123));
        assert_eq!(BucketHeaders::parse(|_| None), None);

        let body = serde_json::json!({"message": "You are being rate limited.", "retry_after": 0.25, "global": false});
        let refusal = Refusal::parse(header, Some(&body));
        assert_eq!((refusal.retry_after, refusal.global), (ms(250), false));
        assert_eq!(Refusal::parse(header, None).retry_after, Duration::from_secs(2));
        assert_eq!(Refusal::parse(|_| None, None).retry_after, Duration::from_secs(1));
        let global = |name: &str| (name == "x-ratelimit-global").then_some("true");
        assert!(Refusal::parse(global, None).global);
        assert!(
            Refusal::parse(
                |_| None,
                Some(&serde_json::json!({"retry_after": 1, "global": true}))
            )
            .global
        );
    }
}
