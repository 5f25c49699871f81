//! Shared support for carebot's integration tests: `mod support;` in a test binary.
//!
//! - `app`: the engine on a fresh SQLite database with the shipped playbooks (`spawn_app`).
//! - `fake_discord`: a fake Discord (REST + gateway) on 127.0.0.1 for the real serenity client.

// Each test binary uses a different part of the support code.
#![allow(dead_code)]

pub mod app;
pub mod fake_discord;
pub mod proxy;
