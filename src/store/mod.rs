//! The storage port. The app talks to [`Store`] and [`Tx`]; rows and SQL stay in the adapter.
//!
//! SQLite is the embedded default (`sqlite://carebot.db`). Queries are runtime `query` +
//! `bind` (no compile-time checked macros) so a PostgreSQL adapter can share the shapes.

mod sqlite;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use sqlite::digest::{DigestCase, IncidentRow, NotableRow, PendingDigest, SlaRow, TimedCase, VolumeRow};
pub use sqlite::ops::{DbProbe, Erased, OpsSnapshot, REMOVED, TEXT_PURGED};
pub use sqlite::{CaseWithOpening, CustomerKey, CustomersAndCases, KnownPosts, Store, Tx};

use crate::domain::case::CaseStatus;
use crate::domain::escalation::{EscalationId, EscalationStatus};
use crate::domain::{CaseId, Handle, Network, Priority};

/// A storage failure. The user sees a short message; the log gets the cause chain.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database URL `{0}` is not supported; use sqlite://FILE (e.g. sqlite://carebot.db) or sqlite::memory:")]
    UnsupportedUrl(String),
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("a stored row is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// One line of a case list (`cases list`, `/queue`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseSummary {
    pub id: CaseId,
    pub status: CaseStatus,
    pub priority: Priority,
    pub network: Network,
    pub handle: Handle,
    pub mentions: i64,
    pub category: String,
    pub owner: Option<String>,
    pub title: String,
    pub opened_at: DateTime<Utc>,
    pub last_customer_at: DateTime<Utc>,
}

/// Which cases to list.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub statuses: Vec<CaseStatus>,
    /// Only cases owned by this actor id.
    pub owner: Option<String>,
    /// Only cases nobody owns.
    pub unassigned: bool,
    pub limit: Option<i64>,
    /// Oldest first (by last customer message) instead of by priority.
    pub oldest_first: bool,
    /// Only these cases (empty: any).
    pub ids: Vec<CaseId>,
}

/// A stored mention, as the timeline shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredMention {
    pub id: i64,
    pub source_id: String,
    pub network: Network,
    pub handle: Handle,
    pub display_name: Option<String>,
    pub text: String,
    pub url: Option<String>,
    pub followers: Option<i64>,
    pub unparsed: bool,
    pub posted_at: DateTime<Utc>,
}

/// One entry of a case's append-only timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseEvent {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub detail: serde_json::Value,
}

/// An outbox row waiting for delivery.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub case_id: Option<CaseId>,
    pub payload: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
}

/// Which escalations to list.
#[derive(Debug, Clone, Default)]
pub struct EscalationFilter {
    /// `Open`; `Approved` or `Denied` mean "decided"; `None` is all.
    pub status: Option<EscalationStatus>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
}

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// Remind the approvers of an open escalation.
    EscalationReminder,
    /// An escalation's deadline: the timeout policy applies.
    EscalationDeadline,
    /// An SLA clock reached its warning point.
    SlaWarning,
    /// An SLA clock reached its target.
    SlaBreach,
    /// Is a surge incident's category back to its usual rate?
    IncidentCheck,
    /// The weekly digest's period ended: post it and schedule the next one.
    Digest,
}

impl TimerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::EscalationReminder => "escalation_reminder",
            TimerKind::EscalationDeadline => "escalation_deadline",
            TimerKind::SlaWarning => "sla_warning",
            TimerKind::SlaBreach => "sla_breach",
            TimerKind::IncidentCheck => "incident_check",
            TimerKind::Digest => "digest",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "escalation_reminder" => Some(TimerKind::EscalationReminder),
            "escalation_deadline" => Some(TimerKind::EscalationDeadline),
            "sla_warning" => Some(TimerKind::SlaWarning),
            "sla_breach" => Some(TimerKind::SlaBreach),
            "incident_check" => Some(TimerKind::IncidentCheck),
            "digest" => Some(TimerKind::Digest),
            _ => None,
        }
    }
}

/// A timer to schedule.
#[derive(Debug, Clone)]
pub struct NewTimer {
    pub kind: TimerKind,
    pub case_id: Option<CaseId>,
    pub escalation: Option<EscalationId>,
    /// The escalation tier it belongs to (a timer of an earlier tier does nothing).
    pub tier: Option<u32>,
    /// The SLA clock it belongs to.
    pub clock: Option<i64>,
    pub detail: serde_json::Value,
    pub due_at: DateTime<Utc>,
}

/// A claimed timer, ready to act on.
#[derive(Debug, Clone)]
pub struct Timer {
    pub id: i64,
    pub spec: NewTimer,
}
