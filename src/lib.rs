//! carebot: a chat-ops bot for social customer care.
//!
//! Integrations post social-media mentions into Discord feed channels; carebot turns every
//! mention into a case, suggests playbook replies within the team's empowerment limits, and
//! keeps an append-only timeline of the work.
//!
//! # Layout
//! - [`domain`]: pure types and rules (feed parsing, triage, playbooks, case life cycle, digest math); no
//!   I/O, and `now` is always a parameter.
//! - [`app`]: the [`app::Engine`]; one store transaction per input, writing state, case events
//!   and transport-neutral outbox messages together.
//! - [`store`]: the storage port and its SQLite and PostgreSQL adapters (sqlx, `migrations/sqlite`, `migrations/postgres`).
//! - [`console`]: the terminal front end and scenario runner.
//! - [`discord`]: the serenity adapter and the outbox dispatcher to Discord REST.
//! - [`cli`]: the command line; [`config`]: layered configuration; [`telemetry`]: logging;
//!   [`init`]: `carebot init`; [`doctor`]: `carebot doctor`; [`metrics`]: `/metrics` and
//!   `/healthz`; [`progress`]: the ingest progress bar.

pub mod app;
pub mod cli;
pub mod config;
pub mod console;
pub mod discord;
pub mod doctor;
pub mod domain;
pub mod init;
pub mod metrics;
pub mod progress;
pub mod store;
pub mod telemetry;

/// The allocator of every binary built on carebot (the bot, its tests and benchmarks).
/// carebot allocates many short-lived strings per input (payloads, timeline details, rows);
/// glibc's allocator spent a tenth of a timer sweep freeing them and giving memory back to
/// the system in between (`cargo bench --bench escalations`, README "Benchmarks").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
