//! SLA clocks as use cases: every change to a case moves its clocks (in the same transaction),
//! their warning and breach are timer rows, and the sweep posts them once each.

use chrono::{DateTime, Utc};

use super::escalations::NewEscalation;
use super::outbox::{Message, Outgoing, TeamChannel};
use super::{Actor, Engine, BOT_ACTOR};
use crate::domain::case::Case;
use crate::domain::sla::{human, CaseEvent, Clock, Outcome};
use crate::domain::{Role, Segment};
use crate::store::{NewTimer, StoreError, Timer, TimerKind, Tx};

/// What a case's card shows of its clocks: each target still counting, with its due time.
pub fn card_lines(clocks: &[Clock]) -> Vec<String> {
    clocks
        .iter()
        .filter(|c| !c.is_stopped())
        .map(|c| match c.due_at {
            Some(due) if c.breach_noticed => format!(
                "{}: breached (was due {})",
                c.target.label(),
                due.format("%m-%d %H:%M UTC")
            ),
            Some(due) => format!("{}: due {}", c.target.label(), due.format("%m-%d %H:%M UTC")),
            None => format!(
                "{}: paused while waiting, {} left",
                c.target.label(),
                human(c.budget_secs - c.elapsed_secs)
            ),
        })
        .collect()
}

impl Engine {
    /// Applies `event` to a case's clocks (new ones are pushed): stages what changed, cancels
    /// the timers of the clocks that changed, and schedules the warning and the breach of
    /// those still running. Writes nothing before the commit, so ingest can call it mid-batch.
    pub(super) async fn clock_event(
        &self,
        tx: &mut Tx,
        clocks: &mut Vec<Clock>,
        case: &Case,
        segment: Segment,
        event: CaseEvent<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let changed = self
            .sla
            .on_case_event(clocks, case.id, case.priority, segment, event, now);
        if changed.is_empty() {
            return Ok(());
        }
        let stale: Vec<i64> = changed
            .iter()
            .map(|&i| clocks[i].id)
            .filter(|id| *id != 0)
            .collect();
        tx.cancel_clock_timers(&stale, now);
        let mut touched: Vec<Clock> = changed.iter().map(|&i| clocks[i].clone()).collect();
        tx.stage_clocks(&mut touched).await?;
        for (&slot, clock) in changed.iter().zip(touched) {
            self.schedule_clock_timers(tx, &clock, now);
            clocks[slot] = clock;
        }
        Ok(())
    }

    /// The warning (if not given yet) and the breach notice of a running clock.
    fn schedule_clock_timers(&self, tx: &mut Tx, clock: &Clock, now: DateTime<Utc>) {
        let timer = |kind, due_at| NewTimer {
            kind,
            case_id: Some(clock.case_id),
            escalation: None,
            tier: None,
            clock: Some(clock.id),
            detail: serde_json::json!({ "target": clock.target.as_str() }),
            due_at,
        };
        if let Some(warn) = clock.warn_due_at.filter(|_| !clock.warned) {
            tx.schedule_timer(timer(TimerKind::SlaWarning, warn), now);
        }
        if let Some(due) = clock.due_at.filter(|_| !clock.breach_noticed) {
            tx.schedule_timer(timer(TimerKind::SlaBreach, due), now);
        }
    }

    /// Loads a case's clocks and applies one event to them.
    pub(super) async fn case_clock_event(
        &self,
        tx: &mut Tx,
        case: &Case,
        segment: Segment,
        event: CaseEvent<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut clocks = tx.clocks(&[case.id]).await?;
        self.clock_event(tx, &mut clocks, case, segment, event, now).await
    }

    /// Fires SLA warnings and breaches: once each, to the case thread and the queue channel,
    /// with an escalation when the policy asks for one.
    pub(super) async fn fire_sla_timers(
        &self,
        tx: &mut Tx,
        timers: &[&Timer],
        late_after: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<(usize, usize), StoreError> {
        let ids: Vec<i64> = timers.iter().filter_map(|t| t.spec.clock).collect();
        let mut clocks: std::collections::HashMap<i64, Clock> = tx
            .clocks_by_id(&ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let (mut stale, mut late) = (0, 0);
        for t in timers {
            let Some(clock) = t.spec.clock.and_then(|id| clocks.get_mut(&id)) else {
                stale += 1;
                continue;
            };
            let breach = t.spec.kind == TimerKind::SlaBreach;
            let live = clock.is_running()
                && if breach {
                    !clock.breach_noticed && clock.due_at == Some(t.spec.due_at)
                } else {
                    !clock.warned && clock.warn_due_at == Some(t.spec.due_at)
                };
            if !live {
                stale += 1;
                continue;
            }
            let late_by = (now - t.spec.due_at > late_after).then_some(t.spec.due_at);
            late += usize::from(late_by.is_some());
            if breach {
                clock.breach_noticed = true;
            } else {
                clock.warned = true;
                clock.warn_due_at = None;
            }
            tx.stage_clocks(std::slice::from_mut(clock)).await?;
            self.notice(tx, clock, breach, late_by, now).await?;
        }
        Ok((stale, late))
    }

    async fn notice(
        &self,
        tx: &mut Tx,
        clock: &Clock,
        breach: bool,
        late: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(mut case) = tx.case(clock.case_id).await? else {
            return Ok(());
        };
        let due = clock.due_at.unwrap_or(now);
        let (kind, title) = if breach {
            (
                "sla_breach",
                format!(
                    "SLA breached: {} on case {}",
                    clock.target.label().to_lowercase(),
                    case.id
                ),
            )
        } else {
            (
                "sla_warning",
                format!(
                    "SLA at risk: {} on case {}",
                    clock.target.label().to_lowercase(),
                    case.id
                ),
            )
        };
        let mut body = if breach {
            format!(
                "The {} target of {} ({} policy) was due {}.",
                clock.target.label().to_lowercase(),
                human(clock.budget_secs),
                clock.policy,
                due.format("%Y-%m-%d %H:%M UTC")
            )
        } else {
            format!(
                "{:.0}% of the {} target of {} ({} policy) used; due {}.",
                clock.warn_at * 100.0,
                clock.target.label().to_lowercase(),
                human(clock.budget_secs),
                clock.policy,
                due.format("%Y-%m-%d %H:%M UTC")
            )
        };
        if let Some(at) = late {
            body.push_str(&format!(
                "\n(This was due at {}; carebot was not running then.)",
                at.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        let detail = serde_json::json!({
            "target": clock.target.as_str(),
            "policy": clock.policy,
            "due": due,
            "late": late.is_some(),
        });
        tx.append_event(case.id, now, BOT_ACTOR, kind, &detail).await?;
        let message = Message {
            title: Some(title),
            body,
            link_thread: true,
            ..Message::default()
        };
        let queue = Outgoing::ChannelMessage {
            case_id: case.id,
            channel: TeamChannel::Queue,
            message: message.clone(),
        };
        self.enqueue_thread_message(tx, case.id, message, now).await?;
        self.enqueue(tx, &queue, now).await?;
        let escalate = breach
            && self
                .sla
                .policy(&clock.policy)
                .is_some_and(|p| p.escalate_on_breach)
            && case.status.is_active();
        let customer = tx
            .customer(case.customer_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("case {} has no customer", case.id)))?;
        if escalate {
            let bot = Actor::new(BOT_ACTOR, BOT_ACTOR, vec![Role::Agent]);
            let reason = format!(
                "SLA breach: the {} target of {} was missed (due {}).",
                clock.target.label().to_lowercase(),
                human(clock.budget_secs),
                due.format("%Y-%m-%d %H:%M UTC")
            );
            let opened = self
                .open_escalation(
                    tx,
                    &mut case,
                    &customer,
                    &bot,
                    NewEscalation {
                        reason,
                        request: None,
                        blocked: None,
                        requester_limit: None,
                        approver: Some(Role::Supervisor),
                    },
                    now,
                )
                .await;
            match opened {
                Ok(_) => {
                    case.updated_at = now;
                    tx.stage_case(case.clone());
                }
                Err(e) => tracing::warn!(case = %case.id, error = %e, "could not escalate an SLA breach"),
            }
        }
        if breach {
            self.enqueue_card_update(tx, &case, &customer, now).await?;
        }
        Ok(())
    }
}

/// The line `/case show` prints for a clock: due and remaining, or met / breached by how much.
pub fn clock_line(clock: &Clock, remaining: Option<i64>) -> String {
    let label = clock.target.label();
    let target = human(clock.budget_secs);
    match (clock.outcome, clock.due_at, remaining) {
        (Some(outcome), _, _) => {
            let margin = clock.margin_secs.map(human).unwrap_or_default();
            match outcome {
                Outcome::Met => format!("{label} ({target}): met with {margin} to spare"),
                Outcome::Breached => format!("{label} ({target}): breached by {margin}"),
                Outcome::Cancelled => format!("{label} ({target}): not needed"),
            }
        }
        (None, Some(due), Some(left)) if left >= 0 => format!(
            "{label} ({target}): due {}, {} left",
            due.format("%Y-%m-%d %H:%M UTC"),
            human(left)
        ),
        (None, Some(due), Some(left)) => format!(
            "{label} ({target}): due {}, breached by {}",
            due.format("%Y-%m-%d %H:%M UTC"),
            human(left)
        ),
        (None, _, left) => format!(
            "{label} ({target}): paused while waiting on the customer, {} left",
            human(left.unwrap_or(clock.budget_secs - clock.elapsed_secs))
        ),
    }
}
