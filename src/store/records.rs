//! Stored rows as both adapters read them: a `FromRow` record per table (decoded by column
//! name from a SQLite or a PostgreSQL row alike) and its conversion into the domain's type.
//! Both schemas name and order their columns the same; SQLite's `INTEGER` 0/1 and
//! PostgreSQL's `BOOLEAN` both decode as `bool`, SQLite's RFC 3339 text and PostgreSQL's
//! `TIMESTAMPTZ` both as `DateTime<Utc>`.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{CaseEvent, CaseSummary, NewTimer, StoreError, StoredMention, Timer, TimerKind};
use crate::domain::case::{Case, CaseStatus, Customer, Owner};
use crate::domain::escalation::{
    Decision, Escalation, EscalationId, EscalationStatus, Question, Request, TimeoutPolicy,
};
use crate::domain::offer::Grant;
use crate::domain::playbook::{OnTimeout, RemedyKind};
use crate::domain::sla::{Clock, Outcome, Target};
use crate::domain::surge::{Incident, IncidentId, IncidentStatus};
use crate::domain::{CaseId, Handle, Money, Network, Priority, Role, Segment};

pub(super) fn parse_col<T>(
    value: &str,
    parse: impl Fn(&str) -> Result<T, crate::domain::ParseError>,
) -> Result<T, StoreError> {
    parse(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} `{value}`"))
}

fn json_vec(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("json list `{text}`: {e}")))
}

/// Decodes `R` (a record below) from a row of either backend and converts it.
pub(super) fn decode<'r, R, Row, T>(
    row: &'r Row,
    convert: fn(R) -> Result<T, StoreError>,
) -> Result<T, StoreError>
where
    Row: sqlx::Row,
    R: FromRow<'r, Row>,
{
    convert(R::from_row(row)?)
}

/// The columns of a `cases` row in [`CaseRecord`] order, for `json_array(...)` (`c.` their table).
pub(super) const CASE_FIELDS: &str =
    "c.id, c.customer_id, c.status, c.priority, c.priority_reasons, c.category,
    c.title, c.tags, c.granted, c.incident_id, c.owner_id, c.owner_name, c.mention_count, c.unparsed,
    c.feed_channel_id, c.feed_message_id, c.thread_ref, c.card_ref, c.opened_at, c.updated_at,
    c.first_response_at, c.last_customer_at, c.resolved_at";

/// A `cases` row: decoded by name from a row, or from a JSON array of its columns in
/// [`CASE_FIELDS`] order (how SQLite returns many at once: one value instead of a row each).
#[derive(FromRow, serde::Deserialize)]
pub(super) struct CaseRecord {
    id: i64,
    customer_id: i64,
    status: String,
    priority: String,
    priority_reasons: String,
    category: String,
    title: String,
    tags: String,
    granted: String,
    incident_id: Option<i64>,
    owner_id: Option<String>,
    owner_name: Option<String>,
    mention_count: i64,
    #[serde(deserialize_with = "json_bool")]
    unparsed: bool,
    feed_channel_id: Option<String>,
    feed_message_id: Option<String>,
    thread_ref: Option<String>,
    card_ref: Option<String>,
    #[serde(deserialize_with = "json_time")]
    opened_at: DateTime<Utc>,
    #[serde(deserialize_with = "json_time")]
    updated_at: DateTime<Utc>,
    #[serde(deserialize_with = "json_time_opt")]
    first_response_at: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "json_time")]
    last_customer_at: DateTime<Utc>,
    #[serde(deserialize_with = "json_time_opt")]
    resolved_at: Option<DateTime<Utc>>,
}

impl CaseRecord {
    pub(super) fn into_case(self) -> Result<Case, StoreError> {
        let r = self;
        Ok(Case {
            id: CaseId(r.id),
            customer_id: r.customer_id,
            status: parse_col(&r.status, CaseStatus::parse)?,
            priority: parse_col(&r.priority, Priority::parse)?,
            priority_reasons: json_vec(&r.priority_reasons)?,
            category: r.category,
            title: r.title,
            tags: json_vec(&r.tags)?,
            granted: json_vec(&r.granted)?,
            incident_id: r.incident_id,
            owner: r.owner_id.map(|id| Owner {
                name: r.owner_name.unwrap_or_else(|| id.clone()),
                id,
            }),
            mention_count: r.mention_count,
            unparsed: r.unparsed,
            feed_channel_id: r.feed_channel_id,
            feed_message_id: r.feed_message_id,
            thread_ref: r.thread_ref,
            card_ref: r.card_ref,
            opened_at: r.opened_at,
            updated_at: r.updated_at,
            first_response_at: r.first_response_at,
            last_customer_at: r.last_customer_at,
            resolved_at: r.resolved_at,
        })
    }
}

/// The columns of a `customers` row in [`CustomerRecord`] order, for `json_array(...)` (`cu.`
/// their table).
pub(super) const CUSTOMER_FIELDS: &str =
    "cu.id, cu.network, cu.handle, cu.display_name, cu.segment, cu.notes, cu.created_at";

/// A `customers` row: by name from a row, or from a JSON array in [`CUSTOMER_FIELDS`] order.
#[derive(FromRow, serde::Deserialize)]
pub(super) struct CustomerRecord {
    id: i64,
    network: String,
    handle: String,
    display_name: Option<String>,
    segment: String,
    notes: String,
    #[serde(deserialize_with = "json_time")]
    created_at: DateTime<Utc>,
}

impl CustomerRecord {
    pub(super) fn into_customer(self) -> Result<Customer, StoreError> {
        Ok(Customer {
            id: self.id,
            network: parse_col(&self.network, Network::parse)?,
            handle: parse_col(&self.handle, Handle::parse)?,
            display_name: self.display_name,
            segment: parse_col(&self.segment, Segment::parse)?,
            notes: self.notes,
            created_at: self.created_at,
        })
    }
}

/// The select list and tables of a case list line ([`SummaryRecord`]).
pub(super) const CASE_SUMMARY_COLUMNS: &str =
    "c.id, c.status, c.priority, cu.network, cu.handle, c.mention_count, c.category,
    c.owner_name, c.title, c.opened_at, c.last_customer_at
    FROM cases c JOIN customers cu ON cu.id = c.customer_id";

#[derive(FromRow)]
pub(super) struct SummaryRecord {
    id: i64,
    status: String,
    priority: String,
    network: String,
    handle: String,
    mention_count: i64,
    category: String,
    owner_name: Option<String>,
    title: String,
    opened_at: DateTime<Utc>,
    last_customer_at: DateTime<Utc>,
}

impl SummaryRecord {
    pub(super) fn into_summary(self) -> Result<CaseSummary, StoreError> {
        Ok(CaseSummary {
            id: CaseId(self.id),
            status: parse_col(&self.status, CaseStatus::parse)?,
            priority: parse_col(&self.priority, Priority::parse)?,
            network: parse_col(&self.network, Network::parse)?,
            handle: parse_col(&self.handle, Handle::parse)?,
            mentions: self.mention_count,
            category: self.category,
            owner: self.owner_name,
            title: self.title,
            opened_at: self.opened_at,
            last_customer_at: self.last_customer_at,
        })
    }
}

/// How a mention's link is stored: a link that is also its network id (the usual case: the
/// post's URL is what dedupes it) is stored once, in `external_id`, with `url` the empty
/// string; any other link as it is.
pub(super) fn stored_url(m: &crate::domain::feed::Mention) -> Option<&str> {
    match m.url.as_deref() {
        Some(url) if m.external_id.as_deref() == Some(url) => Some(""),
        url => url,
    }
}

/// A mention's link, read from the `mentions` row `m` (see [`stored_url`]).
pub(super) const MENTION_URL: &str = "CASE m.url WHEN '' THEN m.external_id ELSE m.url END";

#[derive(FromRow)]
pub(super) struct MentionRecord {
    id: i64,
    source_id: String,
    network: String,
    handle: String,
    display_name: Option<String>,
    text: String,
    url: Option<String>,
    external_id: Option<String>,
    followers: Option<i64>,
    unparsed: bool,
    posted_at: DateTime<Utc>,
}

impl MentionRecord {
    pub(super) fn into_mention(self) -> Result<StoredMention, StoreError> {
        Ok(StoredMention {
            id: self.id,
            source_id: self.source_id,
            network: parse_col(&self.network, Network::parse)?,
            handle: parse_col(&self.handle, Handle::parse)?,
            display_name: self.display_name,
            text: self.text,
            url: match self.url.as_deref() {
                Some("") => self.external_id,
                _ => self.url,
            },
            followers: self.followers,
            unparsed: self.unparsed,
            posted_at: self.posted_at,
        })
    }
}

#[derive(FromRow)]
pub(super) struct EventRecord {
    at: DateTime<Utc>,
    actor: String,
    kind: String,
    detail: String,
}

impl EventRecord {
    pub(super) fn into_event(self) -> Result<CaseEvent, StoreError> {
        Ok(CaseEvent {
            at: self.at,
            actor: self.actor,
            kind: self.kind,
            detail: serde_json::from_str(&self.detail).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        })
    }
}

#[derive(FromRow)]
pub(super) struct OutboxRecord {
    id: i64,
    case_id: Option<i64>,
    payload: String,
    attempts: i64,
    next_attempt_at: DateTime<Utc>,
}

impl OutboxRecord {
    pub(super) fn into_row(self) -> Result<super::OutboxRow, StoreError> {
        Ok(super::OutboxRow {
            id: self.id,
            case_id: self.case_id.map(CaseId),
            payload: self.payload,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
        })
    }
}

#[derive(FromRow)]
pub(super) struct GrantRecord {
    case_id: i64,
    remedy: String,
    remedy_label: String,
    unit: String,
    amount: i64,
    granted_by_id: String,
    granted_by_name: String,
    budget_actor_id: Option<String>,
    escalation_id: Option<i64>,
    rule: String,
    granted_at: DateTime<Utc>,
}

impl GrantRecord {
    pub(super) fn into_grant(self) -> Result<Grant, StoreError> {
        Ok(Grant {
            case_id: CaseId(self.case_id),
            remedy: RemedyKind::parse(&self.remedy).ok_or_else(|| corrupt("remedy", &self.remedy))?,
            label: self.remedy_label,
            unit: self.unit,
            amount: Money(self.amount),
            granted_by: Owner {
                id: self.granted_by_id,
                name: self.granted_by_name,
            },
            budget_actor: self.budget_actor_id,
            escalation: self.escalation_id.map(EscalationId),
            rule: self.rule,
            granted_at: self.granted_at,
        })
    }
}

#[derive(FromRow)]
pub(super) struct IncidentRecord {
    id: i64,
    category: String,
    status: String,
    opened_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    window_secs: i64,
    baseline_per_window: f64,
    peak_count: i64,
    mention_count: i64,
    case_count: i64,
    samples: String,
    bulk_playbook: Option<String>,
}

impl IncidentRecord {
    pub(super) fn into_incident(self) -> Result<Incident, StoreError> {
        let count = |n: i64| n.clamp(0, i64::from(u32::MAX)) as u32;
        Ok(Incident {
            id: IncidentId(self.id),
            category: self.category,
            status: IncidentStatus::parse(&self.status)
                .ok_or_else(|| corrupt("incident status", &self.status))?,
            opened_at: self.opened_at,
            ended_at: self.ended_at,
            window_secs: self.window_secs,
            baseline_per_window: self.baseline_per_window,
            peak_count: count(self.peak_count),
            mention_count: count(self.mention_count),
            case_count: count(self.case_count),
            samples: serde_json::from_str(&self.samples)
                .map_err(|e| StoreError::Corrupt(format!("samples: {e}")))?,
            bulk_playbook: self.bulk_playbook,
        })
    }
}

/// The columns of an `escalations` row in [`EscalationRow`] order (the packet apart).
pub(super) const ESCALATION_COLUMNS: &str = "id, case_id, status, reason, playbook, remedy, remedy_label, unit, amount, blocked_rule,
    blocked_by, requester_id, requester_name, requester_role, requester_limit, approver, tier, tier_started_at,
    deadline_at, created_at, deadline_secs, on_timeout, timeout_cap, next_approver, decided_by_id, decided_by_name,
    decided_at, decided_amount, decision_note, timed_out, questions";

/// An `escalations` row: decoded by name from a row, or from a JSON array of its columns in
/// `ESCALATION_COLUMNS` order (how a batch read returns them, see [`Tx::escalations_by_id`]).
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(super) struct EscalationRow {
    id: i64,
    case_id: i64,
    status: String,
    reason: String,
    playbook: String,
    remedy: Option<String>,
    remedy_label: Option<String>,
    unit: Option<String>,
    amount: Option<i64>,
    blocked_rule: Option<String>,
    blocked_by: Option<String>,
    requester_id: String,
    requester_name: String,
    requester_role: String,
    requester_limit: Option<i64>,
    approver: String,
    tier: i64,
    #[serde(deserialize_with = "json_time")]
    tier_started_at: DateTime<Utc>,
    #[serde(deserialize_with = "json_time")]
    deadline_at: DateTime<Utc>,
    #[serde(deserialize_with = "json_time")]
    created_at: DateTime<Utc>,
    deadline_secs: i64,
    on_timeout: String,
    timeout_cap: Option<i64>,
    next_approver: Option<String>,
    decided_by_id: Option<String>,
    decided_by_name: Option<String>,
    #[serde(deserialize_with = "json_time_opt")]
    decided_at: Option<DateTime<Utc>>,
    decided_amount: Option<i64>,
    decision_note: Option<String>,
    #[serde(deserialize_with = "json_bool")]
    timed_out: bool,
    questions: String,
}

impl EscalationRow {
    pub(super) fn into_escalation(self) -> Result<Escalation, StoreError> {
        let r = self;
        let request = match r.remedy {
            Some(kind) => Some(Request {
                remedy: RemedyKind::parse(&kind).ok_or_else(|| corrupt("remedy", &kind))?,
                label: r.remedy_label.unwrap_or_default(),
                unit: r.unit.unwrap_or_default(),
                amount: Money(r.amount.unwrap_or_default()),
            }),
            None => None,
        };
        let on_timeout = match r.on_timeout.as_str() {
            "deny" => OnTimeout::Deny,
            "grant_up_to" => OnTimeout::GrantUpTo {
                cap: Money(r.timeout_cap.unwrap_or_default()),
            },
            "next_tier" => OnTimeout::NextTier {
                approver: parse_col(r.next_approver.as_deref().unwrap_or(""), Role::parse)?,
            },
            other => return Err(corrupt("on_timeout", other)),
        };
        let status = parse_col(&r.status, EscalationStatus::parse)?;
        let decision = match status {
            EscalationStatus::Open => None,
            outcome => {
                let id = r.decided_by_id;
                Some(Decision {
                    outcome,
                    by: Owner {
                        id: id.clone().unwrap_or_default(),
                        name: r.decided_by_name.or(id).unwrap_or_default(),
                    },
                    at: r
                        .decided_at
                        .ok_or_else(|| corrupt("decided_at of a decided escalation", "NULL"))?,
                    amount: r.decided_amount.map(Money),
                    note: r.decision_note,
                    timed_out: r.timed_out,
                })
            }
        };
        let questions: Vec<Question> =
            serde_json::from_str(&r.questions).map_err(|e| StoreError::Corrupt(format!("questions: {e}")))?;
        Ok(Escalation {
            id: EscalationId(r.id),
            case_id: CaseId(r.case_id),
            reason: r.reason,
            playbook: r.playbook,
            request,
            blocked: r.blocked_rule.zip(r.blocked_by),
            requester: Owner {
                id: r.requester_id,
                name: r.requester_name,
            },
            requester_role: parse_col(&r.requester_role, Role::parse)?,
            requester_limit: r.requester_limit.map(Money),
            approver: parse_col(&r.approver, Role::parse)?,
            tier: r.tier.clamp(1, u32::MAX as i64) as u32,
            tier_started_at: r.tier_started_at,
            deadline_at: r.deadline_at,
            created_at: r.created_at,
            policy: TimeoutPolicy {
                deadline_secs: r.deadline_secs,
                on_timeout,
            },
            decision,
            questions,
        })
    }
}

/// A claimed `timers` row, from the JSON array of its columns that the claim returns.
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(super) struct TimerRow {
    id: i64,
    kind: String,
    case_id: Option<i64>,
    escalation_id: Option<i64>,
    tier: Option<i64>,
    detail: String,
    #[serde(deserialize_with = "json_time")]
    due_at: DateTime<Utc>,
    clock_id: Option<i64>,
}

impl TimerRow {
    pub(super) fn into_timer(self) -> Result<Timer, StoreError> {
        let r = self;
        Ok(Timer {
            id: r.id,
            spec: NewTimer {
                kind: TimerKind::parse(&r.kind).ok_or_else(|| corrupt("timer kind", &r.kind))?,
                case_id: r.case_id.map(CaseId),
                escalation: r.escalation_id.map(EscalationId),
                tier: r.tier.map(|t| t.clamp(0, u32::MAX as i64) as u32),
                detail: serde_json::from_str(&r.detail)
                    .map_err(|e| StoreError::Corrupt(format!("timer detail: {e}")))?,
                due_at: r.due_at,
                clock: r.clock_id,
            },
        })
    }
}

/// A `sla_clocks` row: decoded by name from a row, or from a JSON array of its columns in
/// [`CLOCK_FIELDS`] order (how a batch read returns them, see [`clocks_from_json`]).
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(super) struct ClockRow {
    id: i64,
    case_id: i64,
    target: String,
    policy: String,
    budget_secs: i64,
    #[serde(deserialize_with = "json_bool")]
    business_hours: bool,
    warn_at: f64,
    #[serde(deserialize_with = "json_time")]
    started_at: DateTime<Utc>,
    elapsed_secs: i64,
    #[serde(deserialize_with = "json_time_opt")]
    running_since: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "json_time_opt")]
    due_at: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "json_time_opt")]
    warn_due_at: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "json_time_opt")]
    stopped_at: Option<DateTime<Utc>>,
    outcome: Option<String>,
    margin_secs: Option<i64>,
    #[serde(deserialize_with = "json_bool")]
    warned: bool,
    #[serde(deserialize_with = "json_bool")]
    breach_noticed: bool,
    agent: Option<String>,
}

impl ClockRow {
    pub(super) fn into_clock(self) -> Result<Clock, StoreError> {
        let r = self;
        Ok(Clock {
            id: r.id,
            case_id: CaseId(r.case_id),
            target: Target::parse(&r.target)
                .ok_or_else(|| StoreError::Corrupt(format!("sla target `{}`", r.target)))?,
            policy: r.policy,
            budget_secs: r.budget_secs,
            business_hours: r.business_hours,
            warn_at: r.warn_at,
            started_at: r.started_at,
            elapsed_secs: r.elapsed_secs,
            running_since: r.running_since,
            due_at: r.due_at,
            warn_due_at: r.warn_due_at,
            stopped_at: r.stopped_at,
            outcome: match r.outcome {
                Some(o) => Some(
                    Outcome::parse(&o).ok_or_else(|| StoreError::Corrupt(format!("sla outcome `{o}`")))?,
                ),
                None => None,
            },
            margin_secs: r.margin_secs,
            warned: r.warned,
            breach_noticed: r.breach_noticed,
            agent: r.agent,
        })
    }
}

/// A time inside such JSON: Unix seconds as SQLite stores times, or text as PostgreSQL writes
/// a `TIMESTAMPTZ` (RFC 3339, or `YYYY-MM-DD HH:MM:SS` in UTC).
pub(super) fn json_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    d.deserialize_any(TimeVisitor)
}

pub(super) fn json_time_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    d.deserialize_option(OptionalTime)
}

/// Reads a [`json_time`].
struct TimeVisitor;

impl serde::de::Visitor<'_> for TimeVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a time (Unix seconds or RFC 3339 text)")
    }

    fn visit_i64<E: serde::de::Error>(self, secs: i64) -> Result<Self::Value, E> {
        DateTime::from_timestamp(secs, 0).ok_or_else(|| E::custom(format!("not a time: {secs}")))
    }

    fn visit_u64<E: serde::de::Error>(self, secs: u64) -> Result<Self::Value, E> {
        self.visit_i64(i64::try_from(secs).map_err(|_| E::custom(format!("not a time: {secs}")))?)
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        parse_time(text).ok_or_else(|| E::custom(format!("not a time: `{text}`")))
    }
}

/// Reads a [`json_time_opt`].
struct OptionalTime;

impl<'de> serde::de::Visitor<'de> for OptionalTime {
    type Value = Option<DateTime<Utc>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a time or null")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        json_time(d).map(Some)
    }
}

pub(super) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%F %T%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// A boolean inside such JSON (SQLite stores 0 or 1).
pub(super) fn json_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(<i64 as serde::Deserialize>::deserialize(d)? != 0)
}

/// A count by network and category (`network`, `category`, `count`).
#[derive(FromRow)]
pub(super) struct VolumeRecord {
    network: String,
    category: String,
    count: i64,
}

impl VolumeRecord {
    pub(super) fn into_row(self) -> Result<super::VolumeRow, StoreError> {
        Ok(super::VolumeRow {
            network: self.network,
            category: self.category,
            count: self.count.max(0) as u64,
        })
    }
}

/// A case's duration (`priority`, `opened_secs`, `seconds`: Unix seconds, whole seconds).
#[derive(FromRow)]
pub(super) struct TimedRecord {
    priority: String,
    opened_secs: Option<i64>,
    seconds: Option<i64>,
}

impl TimedRecord {
    pub(super) fn into_timed(self) -> Result<super::TimedCase, StoreError> {
        Ok(super::TimedCase {
            priority: parse_col(&self.priority, Priority::parse)?,
            opened_at: self.opened_secs.unwrap_or_default(),
            seconds: self.seconds.unwrap_or_default().max(0),
        })
    }
}

/// Stopped clocks counted by `target`, `priority`, `agent`, `outcome`.
#[derive(FromRow)]
pub(super) struct SlaRecord {
    target: String,
    priority: String,
    agent: Option<String>,
    outcome: String,
    count: i64,
}

impl SlaRecord {
    pub(super) fn into_row(self) -> Result<super::SlaRow, StoreError> {
        Ok(super::SlaRow {
            target: Target::parse(&self.target).ok_or_else(|| corrupt("sla target", &self.target))?,
            priority: parse_col(&self.priority, Priority::parse)?,
            agent: self.agent,
            met: self.outcome == "met",
            count: self.count.max(0) as u64,
        })
    }
}

/// The select list of a digest's incident line.
pub(super) const DIGEST_INCIDENT_COLUMNS: &str =
    "id, category, status, opened_at, ended_at, mention_count, case_count, peak_count";

#[derive(FromRow)]
pub(super) struct DigestIncidentRecord {
    id: i64,
    category: String,
    status: String,
    opened_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    mention_count: i64,
    case_count: i64,
    peak_count: i64,
}

impl DigestIncidentRecord {
    pub(super) fn into_row(self) -> Result<super::IncidentRow, StoreError> {
        Ok(super::IncidentRow {
            id: self.id,
            category: self.category,
            status: self.status,
            opened_at: self.opened_at,
            ended_at: self.ended_at,
            mentions: self.mention_count.max(0) as u64,
            cases: self.case_count.max(0) as u64,
            peak: self.peak_count.max(0) as u64,
        })
    }
}

/// A notable case with its `reasons` (comma-separated) and the `total` of notable cases.
#[derive(FromRow)]
pub(super) struct NotableRecord {
    id: i64,
    priority: String,
    category: String,
    status: String,
    title: String,
    thread_ref: Option<String>,
    reasons: String,
    total: i64,
}

impl NotableRecord {
    pub(super) fn total(&self) -> u64 {
        self.total.max(0) as u64
    }

    pub(super) fn into_row(self) -> Result<super::NotableRow, StoreError> {
        let mut reasons: Vec<String> = self.reasons.split(',').map(str::to_string).collect();
        reasons.sort_by_key(|r| (r != "p1", r.starts_with("reopened"), r.clone()));
        Ok(super::NotableRow {
            case: CaseId(self.id),
            priority: parse_col(&self.priority, Priority::parse)?,
            category: self.category,
            status: self.status,
            title: self.title,
            thread_ref: self.thread_ref,
            reasons,
        })
    }
}

/// The select list of the digest's CSV line (`c` the case, `cu` its customer).
pub(super) const DIGEST_CASE_COLUMNS: &str =
    "c.id, c.opened_at, c.status, c.priority, c.category, cu.network,
    c.owner_name, c.mention_count, c.first_response_at, c.resolved_at, c.incident_id, c.thread_ref";

#[derive(FromRow)]
pub(super) struct DigestCaseRecord {
    id: i64,
    opened_at: DateTime<Utc>,
    status: String,
    priority: String,
    category: String,
    network: String,
    owner_name: Option<String>,
    mention_count: i64,
    first_response_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    incident_id: Option<i64>,
    thread_ref: Option<String>,
}

impl DigestCaseRecord {
    pub(super) fn into_row(self) -> Result<super::DigestCase, StoreError> {
        Ok(super::DigestCase {
            id: CaseId(self.id),
            opened_at: self.opened_at,
            status: self.status,
            priority: self.priority,
            category: self.category,
            network: self.network,
            owner: self.owner_name,
            mentions: self.mention_count,
            first_response_at: self.first_response_at,
            resolved_at: self.resolved_at,
            incident: self.incident_id,
            thread_ref: self.thread_ref,
        })
    }
}

/// Decodes every row as `R` and converts it.
pub(super) fn decode_all<'r, R, Row, T>(
    rows: &'r [Row],
    convert: fn(R) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError>
where
    Row: sqlx::Row,
    R: FromRow<'r, Row>,
{
    rows.iter().map(|r| decode(r, convert)).collect()
}
