//! A small Discord REST client for the outbox dispatcher.
//!
//! serenity's `Http` turns every non-2xx answer into an error without the `retry_after` of a
//! 429, and its own rate limiter bypasses a configured `api_base`. The dispatcher must honour
//! `retry_after` and retry 5xx itself, so it sends serenity's request builders (which serialise
//! to Discord's JSON) through this client and reads the answers into serenity's models.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::Secret;

/// What went wrong with a REST call, sorted by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// 429: wait this long, then send the same request again.
    #[error("rate limited for {0:?}")]
    RateLimited(Duration),
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

/// A REST client bound to one API base and bot token.
#[derive(Clone)]
pub struct Rest {
    client: reqwest::Client,
    base: String,
    token: Secret,
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
        Rest {
            client,
            base: format!("{}/api/v10", api_base.trim_end_matches('/')),
            token,
        }
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, RestError> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, RestError> {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, RestError> {
        self.send::<(), T>(reqwest::Method::GET, path, None).await
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, RestError> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .header("Authorization", format!("Bot {}", self.token.expose()));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| RestError::Unavailable(e.to_string()))?;
        let status = response.status();
        if status.as_u16() == 429 {
            let header = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<f64>().ok());
            let body: Option<serde_json::Value> = response.json().await.ok();
            return Err(RestError::RateLimited(retry_after(header, body)));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| RestError::Unavailable(e.to_string()))?;
        if status.is_server_error() {
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

/// Discord says how long to wait in the body (`retry_after`, seconds, fractional) and in the
/// `Retry-After` header; the body is more precise. Missing both, wait one second.
fn retry_after(header: Option<f64>, body: Option<serde_json::Value>) -> Duration {
    let from_body = body
        .as_ref()
        .and_then(|b| b.get("retry_after"))
        .and_then(|v| v.as_f64());
    let secs = from_body.or(header).unwrap_or(1.0);
    Duration::from_secs_f64(secs.clamp(0.0, 3600.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_prefers_the_precise_body_value() {
        let body = serde_json::json!({ "retry_after": 0.25, "global": false });
        assert_eq!(retry_after(Some(1.0), Some(body)), Duration::from_millis(250));
        assert_eq!(retry_after(Some(2.0), None), Duration::from_secs(2));
        assert_eq!(retry_after(None, None), Duration::from_secs(1));
    }
}
