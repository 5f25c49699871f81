//! Retention: the texts of cases that are done are not kept forever. `[retention]
//! mention_text_days` removes the mention texts and links of resolved and closed cases that
//! have not changed for that long; `carebot run` does it at start and then daily.

use chrono::{DateTime, Duration, Utc};

use super::Engine;
use crate::config::RetentionConfig;
use crate::store::StoreError;

/// Why `[retention]` was refused.
#[derive(Debug, thiserror::Error)]
#[error("retention.mention_text_days must be at least 1 (days); remove [retention] to keep texts")]
pub struct RetentionError;

/// The retention period in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub mention_text: Duration,
}

impl Retention {
    pub fn from_config(config: &RetentionConfig) -> Result<Retention, RetentionError> {
        if config.mention_text_days == 0 {
            return Err(RetentionError);
        }
        Ok(Retention {
            mention_text: Duration::days(i64::from(config.mention_text_days)),
        })
    }
}

/// How often `carebot run` purges.
pub const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

impl Engine {
    /// Removes the texts that `retention` says are too old at `now`; how many mentions lost
    /// theirs. Running it again changes nothing.
    pub async fn purge_texts(&self, retention: Retention, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let purged = self
            .store
            .purge_mention_texts(now - retention.mention_text)
            .await?;
        if purged > 0 {
            tracing::info!(purged, "retention: mention texts of old closed cases removed");
        }
        Ok(purged)
    }
}
