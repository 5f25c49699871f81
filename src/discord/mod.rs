//! The Discord adapter (serenity): gateway events, slash commands, buttons, outbox dispatcher.

use crate::config::Config;

/// Connects to Discord and serves the configured guild until stopped.
pub async fn run(_config: &Config) -> anyhow::Result<()> {
    anyhow::bail!("the Discord adapter is not built yet")
}
