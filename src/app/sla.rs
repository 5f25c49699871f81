//! SLA clocks as use cases: every change to a case moves its clocks (in the same transaction),
//! and the sweep posts their warning and breach once each. A clock is its own timer: the
//! sweep reads the running clocks whose next point is due from their rows, so a clock that
//! changes has nothing to cancel or reschedule.

use chrono::{DateTime, Utc};

use super::escalations::NewEscalation;
use super::outbox::{Message, Outgoing, TeamChannel};
use super::{Actor, Engine, BOT_ACTOR};
use crate::domain::case::Case;
use crate::domain::sla::{human, CaseEvent, Clock, Outcome};
use crate::domain::{Role, Segment};
use crate::store::{StoreError, Tx};

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
    /// Applies `event` to a case's clocks (new ones are pushed) and stages what changed. A
    /// clock is its own timer (its warning and breach are read from its row by the sweep), so
    /// nothing else is written; and nothing before the commit, so ingest can call it mid-batch.
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
        let mut touched: Vec<Clock> = changed.iter().map(|&i| clocks[i].clone()).collect();
        tx.stage_clocks(&mut touched).await?;
        for (&slot, clock) in changed.iter().zip(touched) {
            clocks[slot] = clock;
        }
        Ok(())
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

    /// Fires the due points of these clocks (read by [`Tx::due_clocks`]): the warning, then
    /// the breach when it is due too, once each, to the case thread and the queue channel,
    /// with an escalation when the policy asks for one. Returns how many points fired and how
    /// many of them late.
    pub(super) async fn fire_clock_points(
        &self,
        tx: &mut Tx,
        clocks: Vec<Clock>,
        late_after: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<(usize, usize), StoreError> {
        let (mut fired, mut late) = (0, 0);
        for mut clock in clocks {
            if !clock.is_running() {
                continue;
            }
            let late_by = |due: DateTime<Utc>| (now - due > late_after).then_some(due);
            if let Some(due) = clock.warn_due_at.filter(|d| !clock.warned && *d <= now) {
                clock.warned = true;
                clock.warn_due_at = None;
                tx.stage_clocks(std::slice::from_mut(&mut clock)).await?;
                self.notice(tx, &clock, false, late_by(due), now).await?;
                fired += 1;
                late += usize::from(late_by(due).is_some());
            }
            if let Some(due) = clock.due_at.filter(|d| !clock.breach_noticed && *d <= now) {
                clock.breach_noticed = true;
                tx.stage_clocks(std::slice::from_mut(&mut clock)).await?;
                self.notice(tx, &clock, true, late_by(due), now).await?;
                fired += 1;
                late += usize::from(late_by(due).is_some());
            }
        }
        Ok((fired, late))
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
            self.enqueue_card(tx, &case, now).await?;
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
