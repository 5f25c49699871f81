//! Layered configuration: built-in defaults, then a TOML file, then environment variables.
//!
//! Secrets never live in the file: the Discord token comes from `DISCORD_TOKEN` only and is
//! wrapped in [`Secret`], whose `Debug` and `Display` redact it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::feed::FeedProfileConfig;
use crate::domain::triage::TriageRuleConfig;
use crate::domain::Role;

/// A value that must never reach a log line.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A URL fit for logs and errors: a password in it (`postgres://user:PASSWORD@host/db`) is
/// replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}; check the path given with --config")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: &'static str, message: String },
}

/// Everything carebot can be told. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseConfig,
    /// Folder of playbook TOML files; empty (the default): `./playbooks` when it exists, else
    /// the playbooks built into the binary.
    pub playbooks_dir: PathBuf,
    pub feed: FeedConfig,
    pub triage: TriageConfig,
    pub cases: CasesConfig,
    pub budgets: BudgetsConfig,
    pub escalations: EscalationsConfig,
    pub sla: SlaConfig,
    pub surge: SurgeConfig,
    /// The weekly digest's schedule; without `[digest]` (and without
    /// `discord.digest_channel`) no weekly digest is scheduled.
    pub digest: Option<DigestConfig>,
    pub discord: DiscordConfig,
    /// `[metrics] listen = "127.0.0.1:9464"`: serve `/metrics` and `/healthz` while running.
    pub metrics: Option<MetricsConfig>,
    /// `[retention] mention_text_days = 365`: purge the texts of closed cases after that long.
    pub retention: Option<RetentionConfig>,
    /// The file this config was read from (none: defaults and environment only).
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

/// How long customer texts are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// The mention texts (and links) of cases that are resolved or closed and unchanged for
    /// this many days are removed (at least 1).
    pub mention_text_days: u32,
}

/// Where `carebot run` serves `/metrics` and `/healthz`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `address:port`, e.g. `127.0.0.1:9464` (port 0: any free port).
    pub listen: String,
}

/// When the weekly digest is posted: `weekday` (mon..sun) at `time` (HH:MM) in `timezone`
/// (an IANA name). Checked at start-up; an error names the key.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DigestConfig {
    pub weekday: String,
    pub time: String,
    pub timezone: String,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            weekday: "mon".into(),
            time: "09:00".into(),
            timezone: "UTC".into(),
        }
    }
}

/// Surge detection: mentions per category in `window` against the trailing `baseline`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SurgeConfig {
    pub window: String,
    pub baseline: String,
    /// A window with this many times the usual rate is a surge...
    pub factor: f64,
    /// ... when it has at least this many mentions.
    pub min_mentions: u32,
}

impl Default for SurgeConfig {
    fn default() -> Self {
        SurgeConfig {
            window: "15m".into(),
            baseline: "24h".into(),
            factor: 3.0,
            min_mentions: 8,
        }
    }
}

/// SLA targets: `[[sla.policies]]` (first match wins; none: the shipped one per priority) and
/// the business hours policies with `hours = "business"` count in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlaConfig {
    pub policies: Vec<SlaPolicyConfig>,
    pub business_hours: Option<BusinessHoursConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyConfig {
    #[serde(default)]
    pub name: String,
    /// Only for these segments; empty: any.
    #[serde(default)]
    pub segments: Vec<String>,
    /// Only for these priorities; empty: any.
    #[serde(default)]
    pub priorities: Vec<String>,
    pub first_response: Option<String>,
    pub next_response: Option<String>,
    pub resolution: Option<String>,
    /// `calendar` (default) or `business`.
    #[serde(default)]
    pub hours: String,
    /// Warn when this fraction of a target has elapsed.
    #[serde(default = "default_warn_at")]
    pub warn_at: f64,
    /// A breach opens an escalation to the supervisor role.
    #[serde(default)]
    pub escalate_on_breach: bool,
}

fn default_warn_at() -> f64 {
    0.8
}

/// Opening hours per weekday (`"09:00-18:00"`, or several ranges separated by commas; a
/// missing day is closed) in a timezone, and holidays (`YYYY-MM-DD`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHoursConfig {
    pub timezone: String,
    pub mon: Option<String>,
    pub tue: Option<String>,
    pub wed: Option<String>,
    pub thu: Option<String>,
    pub fri: Option<String>,
    pub sat: Option<String>,
    pub sun: Option<String>,
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// Daily budgets: the total one person may grant on their own per day, per role and unit.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetsConfig {
    /// When a budget day starts: midnight in this IANA zone.
    pub timezone: String,
    /// `unit -> amount` per role, e.g. `[budgets.agent]` `USD = 300`. A role or unit without
    /// an entry has no budget (only the playbook limits apply).
    pub agent: BTreeMap<String, f64>,
    pub senior: BTreeMap<String, f64>,
    pub supervisor: BTreeMap<String, f64>,
    pub admin: BTreeMap<String, f64>,
}

impl BudgetsConfig {
    /// The tables by role.
    pub fn per_role(&self) -> BTreeMap<Role, BTreeMap<String, f64>> {
        [
            (Role::Agent, &self.agent),
            (Role::Senior, &self.senior),
            (Role::Supervisor, &self.supervisor),
            (Role::Admin, &self.admin),
        ]
        .into_iter()
        .filter(|(_, t)| !t.is_empty())
        .map(|(r, t)| (r, t.clone()))
        .collect()
    }
}

impl Default for BudgetsConfig {
    fn default() -> Self {
        BudgetsConfig {
            timezone: "UTC".into(),
            agent: BTreeMap::new(),
            senior: BTreeMap::new(),
            supervisor: BTreeMap::new(),
            admin: BTreeMap::new(),
        }
    }
}

/// How escalations keep moving.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EscalationsConfig {
    /// Remind the approvers at these fractions of the time to the deadline (each in 0..1).
    pub reminders: Vec<f64>,
    /// The deadline for playbooks whose `[escalation]` sets none, per case priority.
    pub deadlines: DeadlinesConfig,
}

impl Default for EscalationsConfig {
    fn default() -> Self {
        EscalationsConfig {
            reminders: crate::domain::escalation::DEFAULT_REMINDERS.to_vec(),
            deadlines: DeadlinesConfig::default(),
        }
    }
}

/// A duration (`30m`, `4h`, `1d`) per priority.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlinesConfig {
    #[serde(rename = "P1")]
    pub p1: String,
    #[serde(rename = "P2")]
    pub p2: String,
    #[serde(rename = "P3")]
    pub p3: String,
    #[serde(rename = "P4")]
    pub p4: String,
}

impl Default for DeadlinesConfig {
    fn default() -> Self {
        DeadlinesConfig {
            p1: "1h".into(),
            p2: "4h".into(),
            p3: "8h".into(),
            p4: "24h".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://carebot.db` (created when missing), `sqlite::memory:` or `postgres://USER:PASSWORD@HOST/DB`.
    pub url: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedConfig {
    /// The brand's own handles (posts by them are ignored), with or without `@`.
    pub brand_handles: Vec<String>,
    /// Feed profiles; empty means the shipped defaults.
    pub profiles: Vec<FeedProfileConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriageConfig {
    /// Keyword rules; empty means the shipped defaults.
    pub rules: Vec<TriageRuleConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CasesConfig {
    /// A mention this many hours after a case was resolved reopens it; later ones open a new case.
    pub reopen_window_hours: i64,
    /// An imported post (`carebot ingest`) posted more than this many hours before it is
    /// imported is history: it moves no SLA clock (its case opens without any).
    pub import_history_hours: i64,
    /// How many suggestions a new case card shows.
    pub suggestions_on_card: usize,
    /// How similar (0..1) a post must be to a playbook's examples, keywords or title for
    /// that playbook to be suggested without a matched trigger; below it for every
    /// playbook, the fallback is suggested.
    pub min_similarity: f32,
}

/// The Discord adapter's settings (`carebot run`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscordConfig {
    /// Discord's API, or a compatible endpoint (a REST proxy, a test double).
    pub api_base: String,
    /// The guild carebot serves.
    pub guild_id: Option<u64>,
    /// Feed channels and the profiles to read their posts with.
    pub feeds: Vec<FeedChannelConfig>,
    /// Where threads are opened for cases that have no feed post (imported mentions).
    pub cases_channel: Option<u64>,
    /// Where escalations are posted.
    pub escalations_channel: Option<u64>,
    /// Where SLA warnings and breaches (and surge alerts) are posted besides the case thread.
    pub queue_channel: Option<u64>,
    /// Where the weekly digest is posted.
    pub digest_channel: Option<u64>,
    /// Discord role ids for each carebot role: `agent = [123]`, `senior = [..]`, ...
    pub roles: BTreeMap<String, Vec<u64>>,
    /// The gateway shard this process runs, `"INDEX/COUNT"` (`"0/2"` and `"1/2"` for two
    /// processes); unset: the one shard `"0/1"` (a second process is then a hot standby that
    /// receives the events too).
    pub shards: Option<String>,
    /// How long an outbox row leased for delivery stays with this process (renewed every
    /// pass); a process that dies leaves its rows to the others after this.
    pub outbox_lease_secs: u64,
    /// Delivered outbox rows are deleted after this many hours (0: kept for good).
    pub keep_delivered_hours: u64,
    /// Read from `DISCORD_TOKEN`, never from the file.
    #[serde(skip)]
    pub token: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedChannelConfig {
    pub channel_id: u64,
    /// Profile names to try, in order; empty means all.
    #[serde(default)]
    pub profiles: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database: DatabaseConfig::default(),
            playbooks_dir: PathBuf::new(),
            feed: FeedConfig::default(),
            triage: TriageConfig::default(),
            cases: CasesConfig::default(),
            budgets: BudgetsConfig::default(),
            escalations: EscalationsConfig::default(),
            sla: SlaConfig::default(),
            surge: SurgeConfig::default(),
            digest: None,
            discord: DiscordConfig::default(),
            metrics: None,
            retention: None,
            file: None,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://carebot.db".into(),
        }
    }
}

impl Default for CasesConfig {
    fn default() -> Self {
        CasesConfig {
            reopen_window_hours: 72,
            import_history_hours: 24,
            suggestions_on_card: 3,
            min_similarity: crate::domain::playbook::DEFAULT_MIN_SIMILARITY,
        }
    }
}

/// Discord's real API base.
pub const DISCORD_API: &str = "https://discord.com";

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            api_base: DISCORD_API.into(),
            guild_id: None,
            feeds: vec![],
            cases_channel: None,
            escalations_channel: None,
            queue_channel: None,
            digest_channel: None,
            roles: BTreeMap::new(),
            shards: None,
            outbox_lease_secs: 30,
            keep_delivered_hours: 24,
            token: Secret::default(),
        }
    }
}

/// The config file's name in the working directory and in the user's config folder.
pub const FILE_NAME: &str = "carebot.toml";

/// Which config file to read: `explicit` (`--config`) when given, else `./carebot.toml` in
/// `cwd`, else `carebot/carebot.toml` in the user's config folder (`$XDG_CONFIG_HOME`, else
/// `~/.config`); `None` when there is none (defaults and environment only).
pub fn find_file(
    explicit: Option<&Path>,
    cwd: &Path,
    var: impl Fn(&str) -> Option<String>,
) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    let local = cwd.join(FILE_NAME);
    if local.is_file() {
        return Some(PathBuf::from(FILE_NAME));
    }
    let folder = var("XDG_CONFIG_HOME")
        .filter(|d| Path::new(d).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            var("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| Path::new(&h).join(".config"))
        })?;
    let user = folder.join("carebot").join(FILE_NAME);
    user.is_file().then_some(user)
}

impl Config {
    /// [`find_file`] from the working directory and the environment, then [`Config::load`].
    pub fn discover(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let file = find_file(explicit, Path::new("."), |name| std::env::var(name).ok());
        Config::load(file.as_deref())
    }

    /// Defaults, then `file` when given, then the environment (`CAREBOT_DATABASE_URL`,
    /// `CAREBOT_PLAYBOOKS_DIR`, `CAREBOT_DISCORD_API_BASE`, `DISCORD_TOKEN`).
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                Config::from_toml(&text).map_err(|message| ConfigError::Parse {
                    path: path.to_path_buf(),
                    message,
                })?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.file = file.map(Path::to_path_buf);
        Ok(config)
    }

    /// Parses a TOML text; the error names the line and the key.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(url) = var("CAREBOT_DATABASE_URL") {
            self.database.url = url;
        }
        if let Some(dir) = var("CAREBOT_PLAYBOOKS_DIR") {
            self.playbooks_dir = PathBuf::from(dir);
        }
        if let Some(base) = var("CAREBOT_DISCORD_API_BASE") {
            self.discord.api_base = base;
        }
        if let Some(token) = var("DISCORD_TOKEN") {
            let token = token.trim().to_string();
            if token.is_empty() {
                return Err(ConfigError::Env {
                    name: "DISCORD_TOKEN",
                    message: "is set but empty".into(),
                });
            }
            self.discord.token = Secret::new(token);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_defaults() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.database.url, "sqlite://carebot.db");
        assert_eq!(c.cases.reopen_window_hours, 72);
        assert_eq!(c.discord.api_base, DISCORD_API);
    }

    #[test]
    fn the_example_config_is_valid() {
        let text = include_str!("../carebot.example.toml");
        let c = Config::from_toml(text).unwrap();
        assert_eq!(c.discord.feeds.len(), 2);
        assert_eq!(c.discord.roles["supervisor"], vec![723456789012345678]);
    }

    #[test]
    fn budgets_and_escalation_settings_are_read() {
        let c = Config::from_toml(
            "[budgets]\ntimezone = \"Europe/Berlin\"\n[budgets.agent]\nUSD = 300\npoints = 5000\n[escalations]\nreminders = [0.25, 0.75]\n[escalations.deadlines]\nP1 = \"30m\"\n",
        )
        .unwrap();
        assert_eq!(c.budgets.timezone, "Europe/Berlin");
        assert_eq!(c.budgets.per_role()[&Role::Agent]["points"], 5000.0);
        assert!(!c.budgets.per_role().contains_key(&Role::Senior));
        assert_eq!(c.escalations.reminders, vec![0.25, 0.75]);
        assert_eq!(c.escalations.deadlines.p1, "30m");
        assert_eq!(c.escalations.deadlines.p4, "24h");
        assert_eq!(Config::default().escalations.reminders, vec![0.5, 0.9]);
    }

    #[test]
    fn the_digest_schedule_is_read_with_defaults_for_missing_keys() {
        assert!(Config::from_toml("").unwrap().digest.is_none());
        let c = Config::from_toml("[digest]\ntimezone = \"Europe/Berlin\"\n").unwrap();
        let d = c.digest.unwrap();
        assert_eq!(
            (d.weekday.as_str(), d.time.as_str(), d.timezone.as_str()),
            ("mon", "09:00", "Europe/Berlin")
        );
        let err = Config::from_toml("[digest]\nday = \"mon\"\n").unwrap_err();
        assert!(err.contains("day"), "{err}");
    }

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("carebot-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_config_file_is_the_flag_else_the_local_file_else_the_user_config_folder() {
        let root = folder("find");
        let cwd = root.join("work");
        let xdg = root.join("xdg");
        let home = root.join("home");
        for d in [&cwd, &xdg.join("carebot"), &home.join(".config/carebot")] {
            std::fs::create_dir_all(d).unwrap();
        }
        let env = |xdg: Option<&Path>| {
            let (xdg, home) = (xdg.map(|p| p.display().to_string()), home.display().to_string());
            move |name: &str| match name {
                "XDG_CONFIG_HOME" => xdg.clone(),
                "HOME" => Some(home.clone()),
                _ => None,
            }
        };
        assert_eq!(find_file(None, &cwd, env(Some(&xdg))), None, "nothing anywhere");
        std::fs::write(home.join(".config/carebot/carebot.toml"), "").unwrap();
        assert_eq!(
            find_file(None, &cwd, env(None)),
            Some(home.join(".config/carebot/carebot.toml")),
            "~/.config without XDG_CONFIG_HOME"
        );
        std::fs::write(xdg.join("carebot/carebot.toml"), "").unwrap();
        assert_eq!(
            find_file(None, &cwd, env(Some(&xdg))),
            Some(xdg.join("carebot/carebot.toml"))
        );
        std::fs::write(cwd.join("carebot.toml"), "").unwrap();
        assert_eq!(
            find_file(None, &cwd, env(Some(&xdg))),
            Some(PathBuf::from("carebot.toml"))
        );
        assert_eq!(
            find_file(Some(Path::new("other.toml")), &cwd, env(Some(&xdg))),
            Some(PathBuf::from("other.toml")),
            "--config wins even when the file is missing (reading it then says so)"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_password_in_a_url_is_redacted() {
        assert_eq!(
            redact_url("postgres://care:s3cret@db.internal:5432/carebot"),
            "postgres://care:***@db.internal:5432/carebot"
        );
        assert_eq!(redact_url("sqlite://carebot.db"), "sqlite://carebot.db");
        assert_eq!(redact_url("postgres://care@db/x"), "postgres://care@db/x");
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_name() {
        let err = Config::from_toml("[cases]\nreopen_hours = 3\n").unwrap_err();
        assert!(err.contains("reopen_hours"), "{err}");
    }

    #[test]
    fn the_environment_overrides_the_file_and_the_token_is_redacted() {
        let mut c = Config::from_toml("[database]\nurl = \"sqlite://a.db\"\n").unwrap();
        c.apply_env(|n| match n {
            "CAREBOT_DATABASE_URL" => Some("sqlite://b.db".into()),
            "DISCORD_TOKEN" => Some("super-secret".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.database.url, "sqlite://b.db");
        assert_eq!(c.discord.token.expose(), "super-secret");
        assert!(!format!("{c:?}").contains("super-secret"));
    }
}
