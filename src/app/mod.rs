//! Use cases. [`Engine`] takes an input (a feed post, a mention, a command from an actor) and
//! performs it in one store transaction that writes the state change, the case events and the
//! outbox rows together, so a crash never leaves a case without its card or a card without a case.

pub mod chart;
mod commands;
pub mod delivery;
pub mod digest;
pub mod digest_render;
mod escalations;
mod incidents;
mod ingest;
mod offers;
pub mod outbox;
mod packet;
pub mod playbook_source;
mod privacy;
pub mod read_ahead;
pub mod retention;
pub mod sla;
pub mod suggestions;
pub mod text;
mod timers;

use std::path::Path;
use std::sync::{Arc, RwLock};

use chrono::Duration;
use serde::Serialize;

pub use commands::{CaseDetail, Command, CustomerRef, QueueView, Reply};
pub use escalations::{EscalationItem, EscalationView};
pub use ingest::{IngestOutcome, IngestStats, BOT_ACTOR};
pub use playbook_source::PlaybookSource;
pub use privacy::Forgotten;
pub use timers::{SweepReport, SWEEP_BATCH};

/// The wall clock, to the whole second: what the adapters pass the engine as `now`. No rule of
/// carebot needs a finer time, and every stored time is shorter for it (on SQLite a time is
/// text: 25 bytes instead of 35, and a mention stores about fifteen of them with their indexes).
pub fn wall_clock() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(0)
}

use crate::config::Config;
use crate::domain::case::{CaseRuleError, Owner};
use crate::domain::digest::{DigestConfigError, PeriodError};
use crate::domain::escalation::{DecideError, EscalationId};
use crate::domain::feed::{FeedConfigError, FeedReader};
use crate::domain::offer::{AmountError, BudgetError, Budgets, RemedyError};
use crate::domain::playbook::{parse_duration, PlaybookErrors, PlaybookSet};
use crate::domain::sla::{BusinessHours, PolicySpec, Sla, SlaConfigError};
use crate::domain::surge::{IncidentId, RateTracker, SurgeConfigError, SurgeSettings};
use crate::domain::triage::{TriageConfigError, TriageRules};
use crate::domain::{CaseId, ParseError, Priority, Role};
use crate::store::{Store, StoreError};

/// Someone issuing commands: a Discord member or a console user, with their carebot roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// Stable id (a Discord user id, a console name).
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
}

impl Actor {
    pub fn new(id: impl Into<String>, name: impl Into<String>, roles: Vec<Role>) -> Self {
        Actor {
            id: id.into(),
            name: name.into(),
            roles,
        }
    }

    /// True when one of the actor's roles is `needs` or above it.
    pub fn may(&self, needs: Role) -> bool {
        self.roles.iter().any(|r| *r >= needs)
    }

    /// The most powerful role, used for empowerment limits.
    pub fn top_role(&self) -> Option<Role> {
        self.roles.iter().copied().max()
    }

    pub fn as_owner(&self) -> Owner {
        Owner {
            id: self.id.clone(),
            name: self.name.clone(),
        }
    }
}

/// A refused or failed command; `Display` is what the user sees.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("`{command}` needs the {needs} role; ask an admin to give you that role")]
    NotAllowed { command: &'static str, needs: Role },
    #[error("there is no case {0}; check the number with `/queue` or `cases list`")]
    UnknownCase(CaseId),
    #[error("there is no customer {0}; check the handle (and the network, if the handle is on several)")]
    UnknownCustomer(String),
    #[error("{0} is on several networks ({1}); say which network")]
    AmbiguousCustomer(String, String),
    #[error("there is no playbook `{0}`; see `/playbook list`")]
    UnknownPlaybook(String),
    #[error("no case here: run this inside a case thread or give the case number")]
    NoCase,
    #[error(
        "case {case} has {shown} suggestion(s), so there is no suggestion {rank}; `/suggest` lists them"
    )]
    NoSuchSuggestion { case: CaseId, rank: usize, shown: usize },
    #[error("there is no escalation {0}; `/escalations` lists the open ones")]
    UnknownEscalation(EscalationId),
    #[error("there is no incident {0}; `/incidents` lists them")]
    UnknownIncident(IncidentId),
    #[error("{0}")]
    Period(#[from] PeriodError),
    #[error("{0}")]
    Decide(#[from] DecideError),
    #[error("{0}")]
    Remedy(#[from] RemedyError),
    #[error("{0}")]
    Amount(#[from] AmountError),
    #[error("{0}")]
    Rule(#[from] CaseRuleError),
    #[error("{0}")]
    Invalid(#[from] ParseError),
    #[error("the playbooks were not reloaded, the previous set stays active:\n{0}")]
    Playbooks(PlaybookErrors),
    #[error("something went wrong on our side ({0}); the change was not saved, try again")]
    Store(#[from] StoreError),
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("invalid playbooks in {from}:\n{errors}")]
    Playbooks {
        from: PlaybookSource,
        errors: PlaybookErrors,
    },
    #[error("invalid feed profile: {0}")]
    Feed(#[from] FeedConfigError),
    #[error("invalid triage rule: {0}")]
    Triage(#[from] TriageConfigError),
    #[error("invalid budget: {0}")]
    Budget(#[from] BudgetError),
    #[error("invalid escalation setting: {0}")]
    Escalations(String),
    #[error("invalid SLA setting: {0}")]
    Sla(#[from] SlaConfigError),
    #[error("invalid digest setting: {0}")]
    Digest(#[from] DigestConfigError),
    #[error("invalid surge setting: {0}")]
    Surge(#[from] SurgeConfigError),
    #[error("invalid setting: cases.min_similarity is {0}; use a number from 0 to 1 (default 0.06)")]
    MinSimilarity(f32),
}

/// Engine settings derived from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    pub reopen_window: Duration,
    /// Imported posts older than this at import move no SLA clock.
    pub import_history: Duration,
    pub suggestions_on_card: usize,
    /// Where the playbooks come from (and are reloaded from).
    pub playbooks: PlaybookSource,
    pub min_similarity: f32,
    pub budgets: Budgets,
    /// Fractions of the time to an escalation's deadline at which approvers are reminded.
    pub reminders: Vec<f64>,
    /// Escalation deadlines in seconds for playbooks that set none, by priority (P1 first).
    pub deadlines: [i64; 4],
}

impl Settings {
    /// The configured escalation deadline for a case of `priority`, in seconds.
    pub fn deadline_for(&self, priority: Priority) -> i64 {
        self.deadlines[priority as usize]
    }
}

/// Reads `[sla]`: the policies (the shipped ones when none are given) and business hours.
fn sla_settings(config: &Config) -> Result<Sla, StartError> {
    let business = config
        .sla
        .business_hours
        .as_ref()
        .map(|b| {
            let days = [&b.mon, &b.tue, &b.wed, &b.thu, &b.fri, &b.sat, &b.sun].map(|d| d.as_deref());
            BusinessHours::new(&b.timezone, days, &b.holidays)
        })
        .transpose()?;
    let specs: Vec<PolicySpec> = if config.sla.policies.is_empty() {
        Sla::default_specs()
    } else {
        config
            .sla
            .policies
            .iter()
            .map(|p| PolicySpec {
                name: p.name.clone(),
                segments: p.segments.clone(),
                priorities: p.priorities.clone(),
                first_response: p.first_response.clone(),
                next_response: p.next_response.clone(),
                resolution: p.resolution.clone(),
                hours: p.hours.clone(),
                warn_at: p.warn_at,
                escalate_on_breach: p.escalate_on_breach,
            })
            .collect()
    };
    Ok(Sla::new(&specs, business)?)
}

/// Reads `[escalations]`: reminder fractions in (0, 1) and a deadline per priority.
fn escalation_settings(config: &Config) -> Result<(Vec<f64>, [i64; 4]), StartError> {
    let reminders = config.escalations.reminders.clone();
    if let Some(bad) = reminders.iter().find(|f| !(**f > 0.0 && **f < 1.0)) {
        return Err(StartError::Escalations(format!(
            "escalations.reminders has {bad}; each reminder is a fraction of the time to the deadline, between 0 and 1 (e.g. [0.5, 0.9])"
        )));
    }
    let d = &config.escalations.deadlines;
    let mut deadlines = [0; 4];
    for (slot, (name, text)) in
        deadlines
            .iter_mut()
            .zip([("P1", &d.p1), ("P2", &d.p2), ("P3", &d.p3), ("P4", &d.p4)])
    {
        *slot = parse_duration(text).ok_or_else(|| {
            StartError::Escalations(format!(
                "escalations.deadlines.{name} `{text}` is not a duration; use a number and a unit such as 30m, 4h or 2d"
            ))
        })?;
    }
    Ok((reminders, deadlines))
}

/// The case engine. Cheap to share behind an `Arc`; all methods take `now`.
pub struct Engine {
    store: Store,
    sla: Sla,
    surge: SurgeSettings,
    /// Mentions per category per minute, for surge detection (warmed up from the store).
    rates: std::sync::Mutex<Option<RateTracker>>,
    playbooks: RwLock<Arc<PlaybookSet>>,
    feed: FeedReader,
    triage: TriageRules,
    settings: Settings,
    digest: digest::DigestSettings,
}

impl Engine {
    /// Builds the engine from config: opens the store, loads the playbooks, compiles the rules.
    pub async fn start(config: &Config) -> Result<Engine, StartError> {
        let source = PlaybookSource::from_config(&config.playbooks_dir);
        let playbooks = source
            .load()
            .map_err(|errors| StartError::Playbooks { from: source, errors })?;
        let store = Store::connect(&config.database.url).await?;
        Engine::from_parts(store, playbooks, config)
    }

    /// An engine for commands that only read the store (case and escalation lists, the
    /// digest): the playbooks are not loaded, so a missing or broken folder does not matter.
    /// Anything that matches, suggests or offers needs [`Engine::start`].
    pub async fn start_without_playbooks(config: &Config) -> Result<Engine, StartError> {
        let none = PlaybookSet::from_sources(&[]).map_err(|errors| StartError::Playbooks {
            from: PlaybookSource::BuiltIn,
            errors,
        })?;
        let store = Store::connect(&config.database.url).await?;
        Engine::from_parts(store, none, config)
    }

    /// Builds the engine on an open store and a loaded playbook set.
    pub fn from_parts(store: Store, playbooks: PlaybookSet, config: &Config) -> Result<Engine, StartError> {
        let profiles = if config.feed.profiles.is_empty() {
            FeedReader::default_profiles()
        } else {
            config.feed.profiles.clone()
        };
        let feed = FeedReader::new(&profiles, &config.feed.brand_handles)?;
        let rules = if config.triage.rules.is_empty() {
            TriageRules::default_rules()
        } else {
            config.triage.rules.clone()
        };
        let triage = TriageRules::new(&rules)?;
        let budgets = Budgets::new(&config.budgets.timezone, &config.budgets.per_role())?;
        let (reminders, deadlines) = escalation_settings(config)?;
        let sla = sla_settings(config)?;
        let digest = digest::DigestSettings::from_config(config)?;
        let s = &config.surge;
        let surge = SurgeSettings::new(&s.window, &s.baseline, s.factor, s.min_mentions)?;
        let min_similarity = config.cases.min_similarity;
        if !(0.0..=1.0).contains(&min_similarity) {
            return Err(StartError::MinSimilarity(min_similarity));
        }
        let playbooks = playbooks.with_min_similarity(min_similarity);
        Ok(Engine {
            store,
            sla,
            surge,
            rates: std::sync::Mutex::new(None),
            playbooks: RwLock::new(Arc::new(playbooks)),
            feed,
            triage,
            digest,
            settings: Settings {
                reopen_window: Duration::hours(config.cases.reopen_window_hours.max(0)),
                import_history: Duration::hours(config.cases.import_history_hours.clamp(0, 1_000_000)),
                suggestions_on_card: config.cases.suggestions_on_card,
                playbooks: PlaybookSource::from_config(&config.playbooks_dir),
                min_similarity,
                budgets,
                reminders,
                deadlines,
            },
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn feed_reader(&self) -> &FeedReader {
        &self.feed
    }

    /// The playbook set in force (a reload swaps it atomically).
    pub fn playbooks(&self) -> Arc<PlaybookSet> {
        self.playbooks.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Loads `dir` (default: where the playbooks came from); on any error the current set stays.
    pub fn reload_playbooks(&self, dir: Option<&Path>) -> Result<usize, PlaybookErrors> {
        let set = match dir {
            Some(dir) => PlaybookSet::load_dir(dir)?,
            None => self.settings.playbooks.load()?,
        }
        .with_min_similarity(self.settings.min_similarity);
        let n = set.playbooks().len();
        *self.playbooks.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        tracing::info!(playbooks = n, "playbooks reloaded");
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Timelike;

    #[test]
    fn the_wall_clock_is_read_to_the_whole_second() {
        let before = chrono::Utc::now().timestamp();
        let now = super::wall_clock();
        assert_eq!(now.nanosecond(), 0);
        assert!((before..=before + 1).contains(&now.timestamp()));
    }
}
