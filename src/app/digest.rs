//! The digest as a use case: the numbers of a period (read with aggregate queries in one read
//! transaction), `/digest` on demand, and the weekly post, which is a timer row: firing it
//! records the period in `digests` (unique per period start), queues the post and schedules the
//! next period's timer, all in the sweep's transaction, so each week is posted exactly once,
//! also across restarts and with several processes on one database. A timer that fires late
//! (carebot was down at the due time) posts the last complete week once, saying so.
//!
//! Every number is defined in README ("Weekly digest"); the math is in
//! [`crate::domain::digest`].

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use super::commands::Reply;
use super::outbox::Outgoing;
use super::{CommandError, Engine};
use crate::config::Config;
use crate::domain::digest::{
    pain_points, percent, requested_period, round_to, summarize, Compliance, DigestConfigError, PainPoint,
    Period, PeriodError, Schedule, TimeSummary,
};
use crate::domain::escalation::{Escalation, EscalationStatus};
use crate::domain::friction::{friction, median_f64, FrictionRow};
use crate::domain::sla::Target;
use crate::domain::{CaseId, Priority};
use crate::store::{DigestCase, EscalationFilter, Store, StoreError, TimedCase, Timer, Tx};

/// How many notable cases a digest lists (the total is given besides).
pub const NOTABLE_MAX: i64 = 100;

/// The digest settings the engine keeps.
#[derive(Debug, Clone, Copy)]
pub struct DigestSettings {
    /// When a week ends (also what `/digest` without dates means).
    pub schedule: Schedule,
    /// Whether the weekly post is scheduled (`[digest]` or `discord.digest_channel` is set).
    pub weekly: bool,
}

impl DigestSettings {
    /// Reads `[digest]`; without it the schedule is Mondays 09:00 UTC, posted weekly only
    /// when `discord.digest_channel` is set.
    pub fn from_config(config: &Config) -> Result<DigestSettings, DigestConfigError> {
        let weekly = config.digest.is_some() || config.discord.digest_channel.is_some();
        let d = config.digest.clone().unwrap_or_default();
        Ok(DigestSettings {
            schedule: Schedule::new(&d.weekday, &d.time, &d.timezone)?,
            weekly,
        })
    }
}

/// The period a digest covers, as scripts read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodView {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The IANA zone its days are counted in.
    pub timezone: String,
}

/// Mentions and cases of one network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkVolume {
    pub network: String,
    pub mentions: u64,
    pub cases: u64,
}

/// Mentions and cases of one category.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryVolume {
    pub category: String,
    pub mentions: u64,
    pub cases: u64,
}

/// Median and p90 for one priority.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriorityTimes {
    pub priority: Priority,
    #[serde(flatten)]
    pub times: TimeSummary,
}

/// Median and p90 overall and per priority.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TimeReport {
    #[serde(flatten)]
    pub overall: TimeSummary,
    pub by_priority: Vec<PriorityTimes>,
}

/// SLA compliance of one priority.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriorityCompliance {
    pub priority: Priority,
    #[serde(flatten)]
    pub compliance: Compliance,
}

/// SLA compliance of the clocks one agent stopped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentCompliance {
    /// Who replied or resolved; `None` for clocks nobody stopped by hand.
    pub agent: Option<String>,
    #[serde(flatten)]
    pub compliance: Compliance,
}

/// Escalations opened in the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EscalationStats {
    pub count: u64,
    /// Approved by a person.
    pub approved: u64,
    /// Denied by a person.
    pub denied: u64,
    /// Decided by the timeout policy.
    pub timed_out: u64,
    /// Not decided yet.
    pub open: u64,
    /// `approved / (approved + denied)` in percent.
    pub approval_percent: Option<f64>,
    /// From the request to a person's decision.
    pub median_decision_minutes: Option<f64>,
}

/// A surge incident of the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentLine {
    pub id: i64,
    pub category: String,
    pub status: String,
    pub opened_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// From its opening to its end, or to the end of the period while it goes on.
    pub duration_minutes: f64,
    pub mentions: u64,
    pub cases: u64,
    /// Most mentions in one detection window.
    pub peak: u64,
}

/// A case worth a look.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotableCase {
    pub case: CaseId,
    pub priority: Priority,
    pub category: String,
    pub status: String,
    pub title: String,
    /// `p1`, `breached:first_response` (`next_response`, `resolution`), `reopened`.
    pub reasons: Vec<String>,
    /// The chat adapter's thread of the case.
    pub thread: Option<String>,
}

/// One calendar day of the period (in its timezone), for the chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayLine {
    pub date: NaiveDate,
    /// Cases opened that day, by category.
    pub cases: BTreeMap<String, u64>,
    /// The median first response of the cases opened that day that got one.
    pub first_response_median_minutes: Option<f64>,
}

/// The digest of a period. Field names are stable (`digest --format json`, README).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    pub period: PeriodView,
    /// Mentions received in the period.
    pub mentions: u64,
    /// Cases opened in the period.
    pub opened: u64,
    /// Cases resolved in the period.
    pub resolved: u64,
    /// Cases active at the end of the period.
    pub backlog: u64,
    pub by_network: Vec<NetworkVolume>,
    pub by_category: Vec<CategoryVolume>,
    pub first_response: TimeReport,
    pub resolution: TimeReport,
    /// Per target: `first_response`, `next_response`, `resolution`.
    pub sla: BTreeMap<&'static str, Compliance>,
    pub sla_by_priority: Vec<PriorityCompliance>,
    pub sla_by_agent: Vec<AgentCompliance>,
    pub escalations: EscalationStats,
    /// The limits that most often needed a decision (as `escalations friction`).
    pub friction: Vec<FrictionRow>,
    pub pain_points: Vec<PainPoint>,
    pub incidents: Vec<IncidentLine>,
    /// The most urgent notable cases, at most [`NOTABLE_MAX`].
    pub notable: Vec<NotableCase>,
    /// How many notable cases there are in all.
    pub notable_total: u64,
    pub days: Vec<DayLine>,
}

impl Digest {
    /// The period back as a [`Period`].
    pub fn period(&self) -> Period {
        let tz = self.period.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
        Period {
            from: self.period.from,
            to: self.period.to,
            tz,
        }
    }
}

/// The digest of `period`, read in one transaction (a consistent snapshot).
#[tracing::instrument(skip_all, fields(from = %period.from, to = %period.to))]
pub async fn build(store: &Store, period: Period) -> Result<Digest, StoreError> {
    let (from, to) = (period.from, period.to);
    let mut tx = store.read().await?;
    let mentions = tx.digest_mentions(from, to).await?;
    let opened = tx.digest_opened(from, to).await?;
    let previous = period.previous();
    let before = tx.digest_opened_by_category(previous.from, previous.to).await?;
    let backlog = tx.digest_backlog(to).await?;
    let first = tx.digest_first_responses(from, to).await?;
    let resolutions = tx.digest_resolutions(from, to).await?;
    let sla_rows = tx.digest_sla(from, to).await?;
    let days = period.days();
    let slots: Vec<_> = days.iter().map(|(_, a, b)| (*a, *b)).collect();
    let per_day = tx.digest_opened_per_slot(&slots).await?;
    let incidents = tx.digest_incidents(from, to).await?;
    let (notable, notable_total) = tx.digest_notable(from, to, NOTABLE_MAX).await?;
    let escalations = tx
        .list_escalations(&EscalationFilter {
            from: Some(from),
            to: Some(to),
            ..Default::default()
        })
        .await?;
    drop(tx);

    let mut networks: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut categories: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for row in &mentions {
        networks.entry(row.network.clone()).or_default().0 += row.count;
        categories.entry(row.category.clone()).or_default().0 += row.count;
    }
    for row in &opened {
        networks.entry(row.network.clone()).or_default().1 += row.count;
        categories.entry(row.category.clone()).or_default().1 += row.count;
    }
    let mut by_network: Vec<NetworkVolume> = networks
        .into_iter()
        .map(|(network, (mentions, cases))| NetworkVolume {
            network,
            mentions,
            cases,
        })
        .collect();
    by_network.sort_by_key(|n| std::cmp::Reverse((n.cases, n.mentions)));
    let mut by_category: Vec<CategoryVolume> = categories
        .into_iter()
        .map(|(category, (mentions, cases))| CategoryVolume {
            category,
            mentions,
            cases,
        })
        .collect();
    by_category.sort_by_key(|c| std::cmp::Reverse((c.cases, c.mentions)));
    let current: BTreeMap<String, u64> = by_category
        .iter()
        .filter(|c| c.cases > 0)
        .map(|c| (c.category.clone(), c.cases))
        .collect();
    let previous: BTreeMap<String, u64> = before.into_iter().collect();

    let mut sla: BTreeMap<&'static str, Compliance> = Target::ALL
        .iter()
        .map(|t| (t.as_str(), Compliance::default()))
        .collect();
    let mut by_priority: BTreeMap<Priority, Compliance> = BTreeMap::new();
    let mut by_agent: BTreeMap<Option<String>, Compliance> = BTreeMap::new();
    for row in &sla_rows {
        if let Some(c) = sla.get_mut(row.target.as_str()) {
            c.add(row.met, row.count);
        }
        by_priority
            .entry(row.priority)
            .or_default()
            .add(row.met, row.count);
        by_agent
            .entry(row.agent.clone())
            .or_default()
            .add(row.met, row.count);
    }

    Ok(Digest {
        period: PeriodView {
            from,
            to,
            timezone: period.tz.name().to_string(),
        },
        mentions: mentions.iter().map(|r| r.count).sum(),
        opened: opened.iter().map(|r| r.count).sum(),
        resolved: resolutions.len() as u64,
        backlog,
        by_network,
        by_category,
        first_response: time_report(&first),
        resolution: time_report(&resolutions),
        sla,
        sla_by_priority: by_priority
            .into_iter()
            .map(|(priority, compliance)| PriorityCompliance { priority, compliance })
            .collect(),
        sla_by_agent: by_agent
            .into_iter()
            .map(|(agent, compliance)| AgentCompliance { agent, compliance })
            .collect(),
        escalations: escalation_stats(&escalations),
        friction: friction(&escalations),
        pain_points: pain_points(&current, &previous),
        incidents: incidents
            .into_iter()
            .map(|i| IncidentLine {
                duration_minutes: round_to(
                    (i.ended_at.unwrap_or(to) - i.opened_at).num_seconds() as f64 / 60.0,
                    2,
                ),
                id: i.id,
                category: i.category,
                status: i.status,
                opened_at: i.opened_at,
                ended_at: i.ended_at,
                mentions: i.mentions,
                cases: i.cases,
                peak: i.peak,
            })
            .collect(),
        notable: notable
            .into_iter()
            .map(|n| NotableCase {
                case: n.case,
                priority: n.priority,
                category: n.category,
                status: n.status,
                title: n.title,
                reasons: n.reasons,
                thread: n.thread_ref,
            })
            .collect(),
        notable_total,
        days: day_lines(&days, &per_day, &first),
    })
}

/// Every case opened in `period`, oldest first (the digest's CSV).
pub async fn cases(store: &Store, period: Period) -> Result<Vec<DigestCase>, StoreError> {
    let mut tx = store.read().await?;
    tx.digest_cases(period.from, period.to).await
}

fn time_report(rows: &[TimedCase]) -> TimeReport {
    let all: Vec<i64> = rows.iter().map(|r| r.seconds).collect();
    let mut per: BTreeMap<Priority, Vec<i64>> = BTreeMap::new();
    for r in rows {
        per.entry(r.priority).or_default().push(r.seconds);
    }
    TimeReport {
        overall: summarize(&all),
        by_priority: per
            .into_iter()
            .map(|(priority, secs)| PriorityTimes {
                priority,
                times: summarize(&secs),
            })
            .collect(),
    }
}

fn escalation_stats(list: &[Escalation]) -> EscalationStats {
    let mut s = EscalationStats {
        count: list.len() as u64,
        ..EscalationStats::default()
    };
    let mut minutes = Vec::new();
    for e in list {
        match &e.decision {
            None => s.open += 1,
            Some(d) if d.timed_out => s.timed_out += 1,
            Some(d) => {
                if d.outcome == EscalationStatus::Approved {
                    s.approved += 1;
                } else {
                    s.denied += 1;
                }
                minutes.push((d.at - e.created_at).num_seconds() as f64 / 60.0);
            }
        }
    }
    s.approval_percent = percent(s.approved, s.approved + s.denied);
    s.median_decision_minutes = median_f64(&mut minutes).map(|m| round_to(m, 2));
    s
}

fn day_lines(
    days: &[(NaiveDate, DateTime<Utc>, DateTime<Utc>)],
    per_day: &[(usize, String, u64)],
    first: &[TimedCase],
) -> Vec<DayLine> {
    let mut lines: Vec<DayLine> = days
        .iter()
        .map(|(date, _, _)| DayLine {
            date: *date,
            cases: BTreeMap::new(),
            first_response_median_minutes: None,
        })
        .collect();
    for (slot, category, n) in per_day {
        if let Some(line) = lines.get_mut(*slot) {
            *line.cases.entry(category.clone()).or_default() += n;
        }
    }
    let mut responses: HashMap<usize, Vec<i64>> = HashMap::new();
    for r in first {
        let slot = days.partition_point(|(_, _, end)| end.timestamp() <= r.opened_at);
        responses.entry(slot).or_default().push(r.seconds);
    }
    for (slot, secs) in responses {
        if let Some(line) = lines.get_mut(slot) {
            line.first_response_median_minutes = summarize(&secs).median_minutes;
        }
    }
    lines
}

impl Engine {
    /// The digest settings in force.
    pub fn digest_settings(&self) -> DigestSettings {
        self.digest
    }

    /// The period `/digest [FROM] [TO]` names (see [`requested_period`]).
    pub fn digest_period(
        &self,
        from: Option<&str>,
        to: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Period, PeriodError> {
        requested_period(from, to, &self.digest.schedule, now)
    }

    /// The digest of a period.
    pub async fn digest(&self, period: Period) -> Result<Digest, StoreError> {
        build(&self.store, period).await
    }

    /// `/digest [FROM] [TO]`.
    pub(super) async fn digest_command(
        &self,
        from: Option<&str>,
        to: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Reply, CommandError> {
        let period = self.digest_period(from, to, now)?;
        Ok(Reply::Digest(Box::new(self.digest(period).await?)))
    }

    /// At start-up: makes sure the next weekly digest has its timer (exactly one, whichever
    /// process gets here first), and cancels future ones left by a different schedule. A
    /// timer already due stays: the sweep fires it (late) and so catches up. Returns when the
    /// next digest is due; `None` when no weekly digest is configured.
    #[tracing::instrument(skip_all)]
    pub async fn schedule_digest(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError> {
        if !self.digest.weekly {
            return Ok(None);
        }
        let schedule = self.digest.schedule;
        let next = schedule.period_ending(schedule.next_end(now));
        let mut tx = self.store.begin().await?;
        let pending = tx.pending_digest_timers().await?;
        let stale: Vec<i64> = pending
            .iter()
            .filter(|p| p.due_at > now && p.due_at != next.to)
            .map(|p| p.timer_id)
            .collect();
        tx.cancel_timers(&stale, now).await?;
        let added = tx.schedule_digest_timer(next.from, next.to, now).await?;
        tx.commit().await?;
        if added {
            tracing::info!(due = %next.to, schedule = %schedule.describe(), "weekly digest scheduled");
        }
        Ok(Some(next.to))
    }

    /// Fires digest timers: the first one for a period not posted yet records it and queues
    /// the post; each schedules the next week. A timer more than `late_after` past its due time
    /// posts the last complete week instead of its own (once), saying it is late. Returns
    /// (stale, late).
    pub(super) async fn fire_digest_timers(
        &self,
        tx: &mut Tx,
        timers: &[&Timer],
        late_after: Duration,
        now: DateTime<Utc>,
    ) -> Result<(usize, usize), StoreError> {
        let (mut stale, mut late) = (0, 0);
        let schedule = self.digest.schedule;
        for timer in timers {
            if !self.digest.weekly {
                // Left from when the weekly digest was configured: nothing to post any more.
                stale += 1;
                continue;
            }
            let t = &timer.spec;
            let is_late = now - t.due_at > late_after;
            let period = if is_late {
                schedule.last_period(now)
            } else {
                timer_period(t.detail.get("from"), t.due_at, schedule)
            };
            let tz = schedule.timezone().name().to_string();
            if tx
                .record_digest(period.from, period.to, &tz, is_late, now)
                .await?
            {
                let post = Outgoing::Digest {
                    from: period.from,
                    to: period.to,
                    timezone: tz,
                    late: is_late.then_some(t.due_at),
                };
                let payload = serde_json::to_string(&post).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                tx.enqueue(None, payload, now).await?;
                late += usize::from(is_late);
            } else {
                stale += 1;
            }
            if self.digest.weekly {
                let next = schedule.period_ending(schedule.next_end(now));
                tx.schedule_digest_timer(next.from, next.to, now).await?;
            }
        }
        Ok((stale, late))
    }
}

/// The period a digest timer was scheduled for: from its detail, else the week ending at its
/// due time.
fn timer_period(from: Option<&serde_json::Value>, due: DateTime<Utc>, schedule: Schedule) -> Period {
    let from = from
        .and_then(|v| serde_json::from_value::<DateTime<Utc>>(v.clone()).ok())
        .filter(|f| *f < due);
    match from {
        Some(from) => Period {
            from,
            to: due,
            tz: schedule.timezone(),
        },
        None => schedule.period_ending(due),
    }
}
