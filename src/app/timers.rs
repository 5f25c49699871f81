//! The timer sweep: reminders, deadlines, incident checks and digests are rows with a due
//! time, and SLA warnings and breaches are the next points of the running clocks' own rows;
//! each is claimed and acted on in one transaction, so it fires exactly once, also after a
//! restart (late ones say so) and with several processes on one database.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::escalations::Settling;
use super::outbox::{Outgoing, TeamChannel};
use super::packet;
use super::Engine;
use crate::domain::escalation::{policy_name, Escalation, EscalationId, TimeoutOutcome, TIMEOUT_ACTOR};
use crate::domain::CaseId;
use crate::store::{NewTimer, StoreError, Timer, TimerKind, Tx};

/// How many timers one transaction claims: a thousand due at once (a busy hour's reminders)
/// fire in one transaction, with one commit and one read of their escalations and cases.
pub const SWEEP_BATCH: i64 = 1000;

/// A timer this much past its due time is reported as late (the bot was not running).
const LATE_AFTER: Duration = Duration::seconds(60);

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Timers claimed and SLA clock points fired (each exactly once).
    pub fired: usize,
    /// Of those, the ones that were late.
    pub late: usize,
    /// Of those, the ones that had nothing left to do (their escalation moved on).
    pub stale: usize,
}

impl Engine {
    /// When the next pending timer is due.
    pub async fn next_timer_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.store.next_timer_due().await
    }

    /// Fires every timer due at `now`, in batches of one transaction each.
    #[tracing::instrument(skip_all)]
    pub async fn fire_due_timers(&self, now: DateTime<Utc>) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        // A read first: most sweeps find nothing due and need not take the write lock.
        match self.store.next_timer_due().await? {
            Some(due) if due <= now => {}
            _ => return Ok(report),
        }
        loop {
            let mut tx = self.store.begin().await?;
            let timers = tx.claim_due_timers(now, SWEEP_BATCH).await?;
            let clocks = tx.due_clocks(now, SWEEP_BATCH).await?;
            if timers.is_empty() && clocks.is_empty() {
                return Ok(report);
            }
            let full = timers.len() as i64 >= SWEEP_BATCH || clocks.len() as i64 >= SWEEP_BATCH;
            // Counted apart until the commit: a batch rolled back is claimed again.
            let mut batch = SweepReport::default();
            let (checks, rest): (Vec<&Timer>, Vec<&Timer>) = timers
                .iter()
                .partition(|t| t.spec.kind == TimerKind::IncidentCheck);
            let (digests, rest): (Vec<&Timer>, Vec<&Timer>) =
                rest.into_iter().partition(|t| t.spec.kind == TimerKind::Digest);
            // Timers of SLA clocks from before clocks were their own timers are stale.
            let (of_escalations, of_clocks): (Vec<&Timer>, Vec<&Timer>) =
                rest.into_iter().partition(|t| t.spec.escalation.is_some());
            batch.stale += of_clocks.len();
            for t in checks {
                if !self.check_incident(&mut tx, &t.spec.detail, now).await? {
                    batch.stale += 1;
                }
            }
            if !self
                .fire_escalation_timers(&mut tx, &of_escalations, &mut batch, now)
                .await?
            {
                // One was decided by another process just now: that decision stands. Roll
                // back (dropping `tx`) and claim again; its timers are stale then.
                continue;
            }
            let (points, late) = self.fire_clock_points(&mut tx, clocks, LATE_AFTER, now).await?;
            batch.fired += points;
            batch.late += late;
            let (stale, late) = self
                .fire_digest_timers(&mut tx, &digests, LATE_AFTER, now)
                .await?;
            batch.stale += stale;
            batch.late += late;
            tx.commit().await?;
            report.fired += timers.len() + batch.fired;
            report.stale += batch.stale;
            report.late += batch.late;
            if report.late > 0 {
                tracing::warn!(
                    late = report.late,
                    "timers fired late (carebot was not running when they were due)"
                );
            }
            if !full {
                return Ok(report);
            }
        }
    }

    /// Reminders and deadlines of escalations; a timer whose escalation moved on is stale.
    /// The escalations that timed out are written back together at the end, each only if it
    /// is still open: false when one was not (the caller rolls back).
    async fn fire_escalation_timers(
        &self,
        tx: &mut Tx,
        timers: &[&Timer],
        report: &mut SweepReport,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if timers.is_empty() {
            return Ok(true);
        }
        let mut ids: Vec<EscalationId> = timers.iter().filter_map(|t| t.spec.escalation).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut escalations: HashMap<EscalationId, Escalation> = tx
            .escalations_by_id(&ids)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let deadlines: Vec<EscalationId> = timers
            .iter()
            .filter(|t| t.spec.kind == TimerKind::EscalationDeadline)
            .filter_map(|t| t.spec.escalation)
            .collect();
        // The cases a deadline may settle, read once for the batch.
        let mut cases: Vec<CaseId> = deadlines
            .iter()
            .filter_map(|id| escalations.get(id))
            .map(|e| e.case_id)
            .collect();
        cases.sort_unstable();
        cases.dedup();
        let mut cases = Settling::read(tx, &cases).await?;
        let mut timed_out: Vec<EscalationId> = Vec::new();
        for Timer { spec: t, .. } in timers.iter().copied() {
            let late = (now - t.due_at > LATE_AFTER).then_some(t.due_at);
            let live = t
                .escalation
                .and_then(|id| escalations.get_mut(&id))
                .filter(|e| e.is_open() && Some(e.tier) == t.tier);
            let Some(e) = live else {
                report.stale += 1;
                continue;
            };
            match t.kind {
                TimerKind::EscalationReminder => self.remind(tx, e, t, late, now).await?,
                _ => {
                    self.time_out(tx, &mut cases, e, late, now).await?;
                    timed_out.push(e.id);
                }
            }
            if late.is_some() {
                report.late += 1;
            }
        }
        cases.stage(tx);
        timed_out.sort_unstable();
        timed_out.dedup();
        let changed: Vec<&Escalation> = timed_out.iter().filter_map(|id| escalations.get(id)).collect();
        tx.update_escalations(&changed).await
    }

    async fn remind(
        &self,
        tx: &mut Tx,
        e: &Escalation,
        t: &NewTimer,
        late: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let detail = serde_json::json!({
            "escalation": e.id,
            "approver": e.approver,
            "fraction": t.detail.get("fraction"),
            "deadline": e.deadline_at,
            "late": late.is_some(),
        });
        tx.append_event(e.case_id, now, super::BOT_ACTOR, "reminder", &detail)
            .await?;
        let reminder = Outgoing::EscalationReminder {
            case_id: e.case_id,
            escalation_id: e.id,
            tier: e.tier,
            at: now,
            late,
        };
        self.enqueue(tx, &reminder, now).await
    }

    /// The deadline passed: the timeout policy decides, moves it on, and everybody is told.
    /// The caller writes `e` back.
    async fn time_out(
        &self,
        tx: &mut Tx,
        cases: &mut Settling,
        e: &mut Escalation,
        late: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let outcome = e.time_out(now);
        let detail = serde_json::json!({
            "escalation": e.id,
            "policy": policy_name(&e.policy.on_timeout),
            "outcome": outcome.as_str(),
            "amount": e.decision.as_ref().and_then(|d| d.amount),
            "unit": e.request.as_ref().map(|r| r.unit.as_str()),
            "approver": e.approver,
            "late": late.is_some(),
        });
        tx.append_event(e.case_id, now, TIMEOUT_ACTOR, "timeout", &detail)
            .await?;
        let told = packet::timed_out(e, outcome, late);
        match outcome {
            TimeoutOutcome::MovedTo(_) => {
                tx.cancel_escalation_timers(e.id, now);
                self.schedule_escalation_timers(tx, e, now);
                self.enqueue_packet_edit(tx, e, true, now).await?;
                let repost = Outgoing::EscalationPacket {
                    case_id: e.case_id,
                    escalation_id: e.id,
                    next_tier: true,
                };
                self.enqueue(tx, &repost, now).await?;
                self.enqueue_thread_message(tx, e.case_id, told, now).await?;
            }
            TimeoutOutcome::Approved(_) | TimeoutOutcome::Denied => {
                // The escalations channel hears it too, without a ping.
                let channel = Outgoing::ChannelMessage {
                    case_id: e.case_id,
                    channel: TeamChannel::Escalations,
                    message: super::outbox::Message {
                        pings: vec![],
                        link_thread: true,
                        ..told.clone()
                    },
                };
                self.settle(tx, cases, e, told, now).await?;
                self.enqueue(tx, &channel, now).await?;
            }
        }
        Ok(())
    }
}
