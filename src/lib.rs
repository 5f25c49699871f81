//! carebot: a chat-ops bot for social customer care.
//!
//! # Layout
//! - [`domain`]: pure types and rules (feed parsing, triage, playbooks, empowerment).
//! - `app`: the engine; one store transaction per input, writing state, case events and outbox.
//! - `store`: the storage port and its SQLite adapter.
//! - `console`: the terminal front end and scenario runner; `cli`: the command line.

pub mod domain;
