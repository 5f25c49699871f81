//! A small Discord REST client for the outbox dispatcher and the backfill history reads.
//!
//! serenity's `Http` turns every non-2xx answer into an error without the `retry_after` of a
//! 429, and its own rate limiter bypasses a configured `api_base`. The dispatcher must honour
//! `retry_after` and retry 5xx itself, so it sends serenity's request builders (which serialise
//! to Discord's JSON) through this client and reads the answers into serenity's models.
//!
//! Every request goes through one [`Limiter`] per client (clones share it): it reads the
//! `X-RateLimit-*` headers of each answer and counts the global limit, so a request that would
//! be refused is not sent. `post` and `patch` then return [`RestError::Busy`] at once, so the
//! dispatcher can go on with other cases; `get` waits, since a history read has nothing else
//! to do meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::ratelimit::{BucketHeaders, Limiter, Refusal, Route, Wait};
use crate::config::Secret;

/// Whether new clients wait before a request would be refused (the default), or only honour
/// 429s as carebot used to. Process-wide, read when a client is created; only the
/// `discord_latency` benchmark turns it off, to measure the old behaviour beside the new.
static PREEMPTIVE: AtomicBool = AtomicBool::new(true);

/// What went wrong with a REST call, sorted by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// 429: wait this long, then send the same request again.
    #[error("rate limited for {0:?}")]
    RateLimited(Duration),
    /// Not sent: its bucket (or the global limit) has no room before `until`.
    #[error("not sent: Discord's rate limit has room again in {:?}", .0.until.saturating_duration_since(Instant::now()))]
    Busy(Wait),
    /// 5xx, a timeout or a broken connection: retry later with backoff.
    #[error("Discord is unavailable: {0}")]
    Unavailable(String),
    /// 4xx other than 429: the request itself is wrong; retrying will not help soon.
    #[error("Discord refused the request ({status}): {body}")]
    Refused { status: u16, body: String },
    /// A 2xx answer that is not the JSON expected.
    #[error("unexpected answer from Discord: {0}")]
    Decode(String),
}

impl RestError {
    /// Discord's JSON error code, when the refusal carried one (e.g. 160004 "thread already created").
    pub fn discord_code(&self) -> Option<i64> {
        match self {
            RestError::Refused { body, .. } => serde_json::from_str::<serde_json::Value>(body)
                .ok()?
                .get("code")?
                .as_i64(),
            _ => None,
        }
    }
}

/// A file uploaded with a message (`post_multipart`).
#[derive(Debug, Clone, Copy)]
pub struct FilePart<'a> {
    pub filename: &'a str,
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

/// A REST client bound to one API base and bot token; clones share its rate-limit state.
#[derive(Clone)]
pub struct Rest {
    client: reqwest::Client,
    base: String,
    token: Secret,
    limiter: Arc<Mutex<Limiter>>,
}

impl Rest {
    /// `api_base` is e.g. `https://discord.com` or a proxy / test double; `/api/v10` is added.
    pub fn new(api_base: &str, token: Secret) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!(
                "DiscordBot (https://github.com/carebot, ",
                env!("CARGO_PKG_VERSION"),
                ") carebot"
            ))
            .build()
            .unwrap_or_default();
        let limiter = if PREEMPTIVE.load(Ordering::Relaxed) {
            Limiter::default()
        } else {
            Limiter::default().reactive()
        };
        Rest {
            client,
            base: format!("{}/api/v10", api_base.trim_end_matches('/')),
            token,
            limiter: Arc::new(Mutex::new(limiter)),
        }
    }

    /// Whether clients created from now on wait before a request would be refused (true, the
    /// default) or only honour 429s (false: carebot's old behaviour, for comparison).
    #[doc(hidden)]
    pub fn set_preemptive(on: bool) {
        PREEMPTIVE.store(on, Ordering::Relaxed);
    }

    fn limiter(&self) -> MutexGuard<'_, Limiter> {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a POST unless its bucket is used up ([`RestError::Busy`]: nothing was sent).
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, RestError> {
        self.send(reqwest::Method::POST, path, Some(body), None, false)
            .await
    }

    /// Sends a POST as `multipart/form-data`: `payload_json` and the files as `files[0]`,
    /// `files[1]`, ... (the ids of `payload_json`'s `attachments`), unless its bucket is used up.
    pub async fn post_multipart<T: DeserializeOwned>(
        &self,
        path: &str,
        payload_json: &serde_json::Value,
        files: &[FilePart<'_>],
    ) -> Result<T, RestError> {
        let mut form = reqwest::multipart::Form::new();
        for (i, f) in files.iter().enumerate() {
            let part = reqwest::multipart::Part::bytes(f.bytes.to_vec())
                .file_name(f.filename.to_string())
                .mime_str(f.content_type)
                .map_err(|e| RestError::Decode(format!("content type {}: {e}", f.content_type)))?;
            form = form.part(format!("files[{i}]"), part);
        }
        let payload = reqwest::multipart::Part::text(payload_json.to_string())
            .mime_str("application/json")
            .map_err(|e| RestError::Decode(e.to_string()))?;
        form = form.part("payload_json", payload);
        self.send::<(), T>(reqwest::Method::POST, path, None, Some(form), false)
            .await
    }

    /// Sends a PATCH unless its bucket is used up ([`RestError::Busy`]: nothing was sent).
    pub async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, RestError> {
        self.send(reqwest::Method::PATCH, path, Some(body), None, false)
            .await
    }

    /// Sends a GET, first waiting for room in its bucket if needed; a 429 still comes back as
    /// [`RestError::RateLimited`].
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, RestError> {
        self.send::<(), T>(reqwest::Method::GET, path, None, None, true)
            .await
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        form: Option<reqwest::multipart::Form>,
        wait: bool,
    ) -> Result<T, RestError> {
        let route = Route::of(method.as_str(), path);
        loop {
            let verdict = self.limiter().acquire(&route, Instant::now());
            match verdict {
                Ok(()) => break,
                Err(busy) if wait => tokio::time::sleep_until(busy.until.into()).await,
                Err(busy) => return Err(RestError::Busy(busy)),
            }
        }
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .header("Authorization", format!("Bot {}", self.token.expose()));
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(form) = form {
            request = request.multipart(form);
        }
        let response = request
            .send()
            .await
            .map_err(|e| RestError::Unavailable(e.to_string()))?;
        let arrived = Instant::now();
        let status = response.status();
        let headers = response.headers().clone();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let bucket = BucketHeaders::parse(header);
        if status.as_u16() == 429 {
            crate::metrics::global().rate_limited();
            let body: Option<serde_json::Value> = response.json().await.ok();
            let refusal = Refusal::parse(header, body.as_ref());
            self.limiter().refused(&route, bucket.as_ref(), &refusal, arrived);
            return Err(RestError::RateLimited(refusal.retry_after));
        }
        self.limiter()
            .answered(&route, bucket.as_ref(), status.is_success(), arrived);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| RestError::Unavailable(e.to_string()))?;
        if status.is_server_error() {
            crate::metrics::global().server_error();
            return Err(RestError::Unavailable(format!("{method} {path}: HTTP {status}")));
        }
        if !status.is_success() {
            let body = String::from_utf8_lossy(&bytes).chars().take(2000).collect();
            return Err(RestError::Refused {
                status: status.as_u16(),
                body,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| RestError::Decode(format!("{method} {path}: {e}")))
    }
}
