//! Tracing setup: logs to stderr, filtered by `RUST_LOG` (default: carebot at info, others warn).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are ignored (tests call it many times).
pub fn init(default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .try_init();
}
