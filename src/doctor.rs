//! `carebot doctor`: checks what carebot needs before `carebot run` — the config, the
//! playbooks, the database (reachable, migrated) and, with `DISCORD_TOKEN` set, Discord itself
//! (see `discord::doctor`) — and prints a checklist with the fix for each failure.

use std::io::Write;

use serde::Serialize;

use crate::app::{Engine, PlaybookSource};
use crate::config::{redact_url, Config};
use crate::store::{DbProbe, Store};

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but worth knowing (not a failure).
    Warn,
    Fail,
    /// Not checked (e.g. the Discord checks without a token).
    Skipped,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: String,
    pub status: Status,
    pub detail: String,
    /// What to do, for a failure or a warning.
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn fail(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn warn(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            status: Status::Warn,
            ..Check::fail(check, detail, fix)
        }
    }

    pub fn skipped(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            status: Status::Skipped,
            ..Check::ok(check, detail)
        }
    }
}

/// Every check, in checklist order.
pub async fn run(config: &Config) -> Vec<Check> {
    let mut checks = vec![match &config.file {
        Some(file) => Check::ok("config", format!("read {}", file.display())),
        None => Check::ok(
            "config",
            "no config file (./carebot.toml, ~/.config/carebot/carebot.toml): defaults and environment",
        ),
    }];
    checks.push(settings(config).await);
    checks.push(playbooks(config));
    checks.push(database(&config.database.url).await);
    if config.discord.token.expose().is_empty() {
        checks.push(Check::skipped(
            "Discord",
            "DISCORD_TOKEN is not set: the Discord checks were skipped (export it to check the bot's setup)",
        ));
    } else {
        checks.extend(crate::discord::doctor::checks(config).await);
    }
    checks
}

/// The settings the engine compiles at start-up (feed profiles, triage rules, budgets, SLA,
/// escalations, digest, surge), checked on a throwaway in-memory database.
async fn settings(config: &Config) -> Check {
    let store = match Store::connect("sqlite::memory:").await {
        Ok(store) => store,
        Err(e) => return Check::fail("settings", e.to_string(), "report this as a bug"),
    };
    let none = crate::domain::playbook::PlaybookSet::from_sources(&[]);
    let result = match none {
        Ok(none) => Engine::from_parts(store, none, config)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let result = result.and_then(|()| match &config.retention {
        Some(r) => crate::app::retention::Retention::from_config(r)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        None => Ok(()),
    });
    match result {
        Ok(()) => Check::ok(
            "settings",
            "feed profiles, triage rules, budgets, SLA, escalations, digest, surge and retention settings are valid",
        ),
        Err(e) => Check::fail(
            "settings",
            e,
            "correct that key in the config file (README, \"Configuration\")",
        ),
    }
}

fn playbooks(config: &Config) -> Check {
    let source = PlaybookSource::from_config(&config.playbooks_dir);
    match source.load() {
        Ok(set) => Check::ok(
            "playbooks",
            format!("{source}: {} playbooks", set.playbooks().len()),
        ),
        Err(errors) => Check::fail(
            "playbooks",
            format!("{source}: {} error(s):\n{errors}", errors.0.len()),
            "fix each file at the line named (`carebot playbooks check` lists them again)",
        ),
    }
}

async fn database(url: &str) -> Check {
    let shown = redact_url(url);
    match Store::probe(url).await {
        Ok(DbProbe::Missing) => Check::ok(
            "database",
            format!("{shown} does not exist yet; carebot creates it on first use"),
        ),
        Ok(DbProbe::Reachable {
            known,
            pending,
            unknown,
            failed,
            broken,
            ..
        }) => {
            if !failed.is_empty() {
                Check::fail(
                    "database",
                    format!("{shown}: migration(s) {failed:?} did not finish"),
                    "restore the database from a backup taken before the failed upgrade",
                )
            } else if !unknown.is_empty() {
                Check::fail(
                    "database",
                    format!("{shown} has migration(s) {unknown:?} this carebot does not know"),
                    "a newer carebot migrated this database: run that version (or restore a backup)",
                )
            } else if !pending.is_empty() {
                Check::warn(
                    "database",
                    format!("{shown} is reachable; {} of {known} migrations to apply: {}", pending.len(), pending.join(", ")),
                    "nothing to do: carebot applies them when it next starts (back the file up first if you like)",
                )
            } else if !broken.is_empty() {
                let found: Vec<String> = broken.iter().map(|(what, n)| format!("{n} {what}")).collect();
                Check::fail(
                    "database",
                    format!("{shown} is migrated, but rows refer to rows that are missing: {}", found.join(", ")),
                    "carebot writes a case and the rows that refer to it in one transaction, so something else changed \
                     the database (a hand edit, a partial restore): restore it from a backup, or report it as a bug",
                )
            } else {
                Check::ok(
                    "database",
                    format!("{shown} is reachable and migrated ({known} migrations)"),
                )
            }
        }
        Err(e) => Check::fail(
            "database",
            format!("{shown}: {e}"),
            "check database.url (or --db / CAREBOT_DATABASE_URL), the file's folder and its permissions",
        ),
    }
}

/// Prints the checklist; returns the exit code (1 when any check failed).
pub fn print(checks: &[Check], json: bool, out: &mut impl Write) -> std::io::Result<i32> {
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if json {
        serde_json::to_writer_pretty(&mut *out, checks)?;
        writeln!(out)?;
    } else {
        for c in checks {
            let mark = match c.status {
                Status::Ok => "✓",
                Status::Warn => "!",
                Status::Fail => "✗",
                Status::Skipped => "-",
            };
            let mut lines = c.detail.lines();
            writeln!(out, "{mark} {}: {}", c.check, lines.next().unwrap_or(""))?;
            for line in lines {
                writeln!(out, "    {line}")?;
            }
            if let Some(fix) = &c.fix {
                writeln!(out, "    fix: {fix}")?;
            }
        }
        match failed {
            0 => writeln!(out, "all {} checks passed", checks.len())?,
            n => writeln!(out, "{n} of {} checks failed", checks.len())?,
        }
    }
    Ok(if failed > 0 { 1 } else { 0 })
}
