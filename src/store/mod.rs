//! The storage port. The app talks to [`Store`] and [`Tx`] ([`port`]); rows and SQL stay in
//! the adapters: SQLite, the embedded default (`sqlite://carebot.db`, `migrations/sqlite`),
//! and PostgreSQL for several instances on one database (`postgres://...`,
//! `migrations/postgres`). Queries are runtime `query` + `bind`; both adapters decode rows
//! through the same records ([`records`]) and buffer writes the same way ([`pending`]).

mod pending;
mod port;
mod postgres;
mod records;
mod sqlite;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use port::{Store, Tx};

use crate::domain::case::{Case, CaseStatus, Customer};
use crate::domain::escalation::{EscalationId, EscalationStatus};
use crate::domain::sla::{Clock, Target};
use crate::domain::{CaseId, Handle, Network, Priority};

/// A storage failure. The user sees a short message; the log gets the cause chain.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database URL `{0}` is not supported; use sqlite://FILE (e.g. sqlite://carebot.db), sqlite::memory: or postgres://USER:PASSWORD@HOST/DATABASE")]
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

/// What a batch's first read found: posts already processed and the highest case id.
#[derive(Debug, Default)]
pub struct KnownPosts {
    /// Source ids stored as mentions or as ignored posts.
    pub source_ids: HashSet<String>,
    /// Network ids (URLs) stored with mentions.
    pub external_ids: HashSet<String>,
    /// The highest case id so far (0 when there are none). New cases of the batch take the ids
    /// after it: the transaction began with `BEGIN IMMEDIATE`, so it holds SQLite's only write
    /// lock from before this read until its commit and no other connection can add a case in
    /// between. (These are the ids SQLite itself would pick for an `INTEGER PRIMARY KEY`; a
    /// PostgreSQL adapter takes them from the table's sequence instead.)
    pub max_case_id: i64,
}

/// A customer as a mention names them.
#[derive(Debug, Clone, Copy)]
pub struct CustomerKey<'a> {
    pub network: &'a Network,
    pub handle: &'a Handle,
    pub display_name: Option<&'a str>,
}

/// What [`Tx::customers_for_mentions`] read.
#[derive(Debug, Default)]
pub struct CustomersAndCases {
    /// Every customer asked for, as stored after the call.
    pub customers: Vec<Customer>,
    /// `(network, handle, display name)` before the call, of the customers that existed.
    pub old_names: Vec<(String, String, Option<String>)>,
    /// Each customer's most recent case, for those that have one.
    pub latest_cases: Vec<Case>,
}

/// What [`Tx::case_cards`] (openings and clocks, no open escalations) or [`Tx::cases_at_hand`]
/// (open escalations, no openings and clocks) read for a batch of cases (each list in no
/// particular order across cases).
#[derive(Debug, Default)]
pub struct CaseCards {
    pub cases: Vec<Case>,
    pub customers: Vec<Customer>,
    /// The text and link of each case's first post.
    pub openings: Vec<(CaseId, String, Option<String>)>,
    /// Oldest first per case.
    pub clocks: Vec<Clock>,
    /// Oldest first per case.
    pub open_escalations: Vec<(CaseId, EscalationId)>,
}

/// A count by network and category (mentions received, cases opened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRow {
    pub network: String,
    pub category: String,
    pub count: u64,
}

/// One case's duration (first response or resolution), for medians and percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedCase {
    pub priority: Priority,
    /// When the case was opened (Unix seconds).
    pub opened_at: i64,
    pub seconds: i64,
}

/// Stopped SLA clocks by target, case priority, agent and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaRow {
    pub target: Target,
    pub priority: Priority,
    pub agent: Option<String>,
    pub met: bool,
    pub count: u64,
}

/// A surge incident that overlaps the period.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    pub id: i64,
    pub category: String,
    pub status: String,
    pub opened_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub mentions: u64,
    pub cases: u64,
    pub peak: u64,
}

/// A case worth a look, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct NotableRow {
    pub case: CaseId,
    pub priority: Priority,
    pub category: String,
    pub status: String,
    pub title: String,
    pub thread_ref: Option<String>,
    /// `breached:first_response`, `p1`, `reopened`.
    pub reasons: Vec<String>,
}

/// One case opened in the period, as the CSV lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestCase {
    pub id: CaseId,
    pub opened_at: DateTime<Utc>,
    pub status: String,
    pub priority: String,
    pub category: String,
    pub network: String,
    pub owner: Option<String>,
    pub mentions: i64,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub incident: Option<i64>,
    pub thread_ref: Option<String>,
}

/// A digest timer that has not fired yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingDigest {
    pub timer_id: i64,
    pub due_at: DateTime<Utc>,
}

/// The references between tables that carebot keeps by writing a case and the rows that
/// refer to it in one transaction, which PostgreSQL does not check (its migration 0006 says
/// why): what a broken one is called, and the query that counts them (the same on both
/// backends). `carebot doctor` runs them on a migrated database.
pub(crate) const REFERENCES: [(&str, &str); 6] = [
    (
        "cases whose customer is missing",
        "SELECT COUNT(*) FROM cases x WHERE NOT EXISTS (SELECT 1 FROM customers p WHERE p.id = x.customer_id)",
    ),
    (
        "cases whose incident is missing",
        "SELECT COUNT(*) FROM cases x WHERE x.incident_id IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM incidents p WHERE p.id = x.incident_id)",
    ),
    (
        "mentions whose case is missing",
        "SELECT COUNT(*) FROM mentions x WHERE NOT EXISTS (SELECT 1 FROM cases p WHERE p.id = x.case_id)",
    ),
    (
        "mentions whose customer is missing",
        "SELECT COUNT(*) FROM mentions x WHERE NOT EXISTS (SELECT 1 FROM customers p WHERE p.id = x.customer_id)",
    ),
    (
        "timeline events whose case is missing",
        "SELECT COUNT(*) FROM case_events x WHERE NOT EXISTS (SELECT 1 FROM cases p WHERE p.id = x.case_id)",
    ),
    (
        "SLA clocks whose case is missing",
        "SELECT COUNT(*) FROM sla_clocks x WHERE NOT EXISTS (SELECT 1 FROM cases p WHERE p.id = x.case_id)",
    ),
];

/// One query giving every count of [`REFERENCES`] in one row, in order.
pub(crate) fn references_query() -> String {
    let counts: Vec<String> = REFERENCES.iter().map(|(_, q)| format!("({q})")).collect();
    format!("SELECT {}", counts.join(", "))
}

/// The kinds of [`REFERENCES`] that `row` (of [`references_query`]) counts any of.
pub(crate) fn broken_references<R: sqlx::Row>(row: &R) -> Result<Vec<(&'static str, i64)>, StoreError>
where
    usize: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut broken = Vec::new();
    for (i, (what, _)) in REFERENCES.iter().enumerate() {
        let n: i64 = row.try_get(i)?;
        if n > 0 {
            broken.push((*what, n));
        }
    }
    Ok(broken)
}

/// What `carebot doctor` found out about a database without changing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbProbe {
    /// The SQLite file does not exist yet: the first command that writes creates it.
    Missing,
    /// Reachable; `applied` of carebot's `known` migrations are in, `pending` are still to do
    /// (carebot applies them when it starts), `unknown` were applied by a newer carebot, and
    /// `failed` did not finish. When all are applied, `broken` counts the rows of each kind
    /// of [`REFERENCES`] whose referred row is missing (the kinds with none left out).
    Reachable {
        applied: usize,
        known: usize,
        pending: Vec<String>,
        unknown: Vec<i64>,
        failed: Vec<i64>,
        broken: Vec<(&'static str, i64)>,
    },
}

/// What `/metrics` reads from the database at each scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpsSnapshot {
    /// Active cases (new, open, waiting, escalated) per priority (`P1`..`P4`).
    pub open_cases: Vec<(String, i64)>,
    /// Outbox rows Discord has not accepted yet.
    pub outbox_backlog: i64,
    /// When the oldest of them was written.
    pub outbox_oldest: Option<chrono::DateTime<chrono::Utc>>,
    /// Timers due by `now` and not fired yet (timer rows and the points of running SLA clocks).
    pub timers_due: i64,
    pub escalations_open: i64,
    /// SLA warnings and breaches ever recorded (timeline events).
    pub sla_warnings: i64,
    pub sla_breaches: i64,
}

/// What [`Tx::erase_customer`] changed (counts only: no personal data).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Erased {
    /// The customer's cases (kept, with their numbers, status and times).
    pub cases: Vec<crate::domain::CaseId>,
    /// Mentions whose text, link and names were removed.
    pub mentions: i64,
    /// Undelivered outbox rows of those cases that were dropped.
    pub undelivered_dropped: i64,
}

/// What an erased text or payload becomes.
pub const REMOVED: &str = "(content removed at the customer's request)";

/// A case title after retention removed its mention texts.
pub const TEXT_PURGED: &str = "(text removed after the retention period)";
