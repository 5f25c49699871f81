//! Escalations as use cases: open one with the whole packet and its timers, decide it (once,
//! by the right person), ask and answer questions, and list them for people and scripts.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::commands::Reply;
use super::delivery::{self, PacketShown};
use super::offers::CaseAtHand;
use super::outbox::{self, Message, Outgoing, Ping};
use super::packet;
use super::{Actor, CommandError, Engine};
use crate::domain::case::{self, Case, Owner};
use crate::domain::escalation::{
    approver_for, Escalation, EscalationId, EscalationStatus, Request, TimeoutPolicy,
};
use crate::domain::friction::{friction, FrictionRow};
use crate::domain::offer::Grant;
use crate::domain::playbook::{EscalationPolicy, OnTimeout};
use crate::domain::{CaseId, Money, Role};
use crate::store::{EscalationFilter, NewTimer, StoreError, TimerKind, Tx};

/// What opens an escalation, besides the case and the requester.
pub(super) struct NewEscalation {
    pub reason: String,
    pub request: Option<Request>,
    /// The limit that blocked an offer: code and sentence.
    pub blocked: Option<(String, String)>,
    pub requester_limit: Option<Money>,
    /// Who decides, when not the playbook's approver (an SLA breach goes to supervisors).
    pub approver: Option<Role>,
}

/// A decision on an escalation, as asked for.
pub(super) enum Decide {
    Approve {
        amount: Option<String>,
        note: Option<String>,
    },
    Deny {
        reason: String,
    },
    Ask {
        question: String,
    },
}

/// One escalation for lists and scripts (`escalations list --json`).
#[derive(Debug, Clone, Serialize)]
pub struct EscalationItem {
    pub id: EscalationId,
    pub case: CaseId,
    pub status: EscalationStatus,
    pub reason: String,
    pub remedy: Option<&'static str>,
    pub amount: Option<Money>,
    pub unit: Option<String>,
    pub requested_by: String,
    pub approver: Role,
    pub deadline: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_amount: Option<Money>,
    pub blocked_by: Option<String>,
    pub tier: u32,
    pub timed_out: bool,
}

impl From<&Escalation> for EscalationItem {
    fn from(e: &Escalation) -> Self {
        let d = e.decision.as_ref();
        EscalationItem {
            id: e.id,
            case: e.case_id,
            status: e.status(),
            reason: e.reason.clone(),
            remedy: e.request.as_ref().map(|r| r.remedy.as_str()),
            amount: e.request.as_ref().map(|r| r.amount),
            unit: e.request.as_ref().map(|r| r.unit.clone()),
            requested_by: e.requester.name.clone(),
            approver: e.approver,
            deadline: e.deadline_at,
            created_at: e.created_at,
            decided_by: d.map(|d| d.by.name.clone()),
            decided_at: d.map(|d| d.at),
            decided_amount: d.and_then(|d| d.amount),
            blocked_by: e.blocked.as_ref().map(|b| b.1.clone()),
            tier: e.tier,
            timed_out: d.is_some_and(|d| d.timed_out),
        }
    }
}

/// One escalation with its packet as it stands (`/escalation show`).
#[derive(Debug, Clone, Serialize)]
pub struct EscalationView {
    pub item: EscalationItem,
    pub packet: Message,
}

/// The cases that decisions are settled on, read once for all of them (a sweep's deadlines,
/// or one decision) and kept current as each settles; [`Settling::stage`] writes back the
/// changed ones.
#[derive(Default)]
pub(super) struct Settling {
    cases: HashMap<CaseId, Case>,
    /// The open escalations of each case as stored, less the ones settled since.
    open: HashMap<CaseId, Vec<EscalationId>>,
    /// The cases changed, in the order they first changed.
    changed: Vec<CaseId>,
}

impl Settling {
    /// Reads the cases with their open escalations.
    pub(super) async fn read(tx: &mut Tx, cases: &[CaseId]) -> Result<Settling, StoreError> {
        if cases.is_empty() {
            return Ok(Settling::default());
        }
        let read = tx.cases_at_hand(cases).await?;
        Ok(Settling::new(read.cases, read.open_escalations))
    }

    /// From what [`Tx::cases_at_hand`] read.
    fn new(cases: Vec<Case>, open_escalations: Vec<(CaseId, EscalationId)>) -> Settling {
        let mut out = Settling {
            cases: cases.into_iter().map(|c| (c.id, c)).collect(),
            ..Settling::default()
        };
        for (case, escalation) in open_escalations {
            out.open.entry(case).or_default().push(escalation);
        }
        out
    }

    /// Stages the changed cases for the commit.
    pub(super) fn stage(mut self, tx: &mut Tx) {
        for id in self.changed {
            if let Some(case) = self.cases.remove(&id) {
                tx.stage_case(case);
            }
        }
    }
}

impl Engine {
    /// The escalation policy of the case's playbook (the fallback's, or a default).
    fn policy_for(&self, case: &Case) -> EscalationPolicy {
        let set = self.playbooks();
        set.get(&case.category)
            .or_else(|| set.fallback())
            .map(|p| p.escalation.clone())
            .unwrap_or(EscalationPolicy {
                approver: Role::Supervisor,
                deadline_secs: None,
                on_timeout: OnTimeout::Deny,
            })
    }

    /// Opens an escalation on `case` for `actor`: the record, its packet in the escalations
    /// channel, its reminder and deadline timers, the timeline event and the thread line.
    /// The caller stages the case and refreshes its card.
    pub(super) async fn open_escalation(
        &self,
        tx: &mut Tx,
        case: &mut Case,
        actor: &Actor,
        new: NewEscalation,
        now: DateTime<Utc>,
    ) -> Result<Escalation, CommandError> {
        case.escalate()?;
        let policy = self.policy_for(case);
        let role = actor.top_role().unwrap_or(Role::Agent);
        let deadline_secs = policy
            .deadline_secs
            .unwrap_or_else(|| self.settings.deadline_for(case.priority));
        let mut e = Escalation {
            id: EscalationId(0),
            case_id: case.id,
            reason: new.reason,
            playbook: case.category.clone(),
            request: new.request,
            blocked: new.blocked,
            requester: actor.as_owner(),
            requester_role: role,
            requester_limit: new.requester_limit,
            approver: new
                .approver
                .unwrap_or_else(|| approver_for(role, policy.approver)),
            tier: 1,
            tier_started_at: now,
            deadline_at: now + Duration::seconds(deadline_secs),
            created_at: now,
            policy: TimeoutPolicy {
                deadline_secs,
                on_timeout: policy.on_timeout,
            },
            decision: None,
            questions: vec![],
        };
        e.id = tx.insert_escalation(&e).await?;
        self.schedule_escalation_timers(tx, &e, now);
        let detail = serde_json::json!({
            "escalation": e.id,
            "reason": e.reason,
            "remedy": e.request.as_ref().map(|r| r.remedy.as_str()),
            "amount": e.request.as_ref().map(|r| r.amount),
            "unit": e.request.as_ref().map(|r| r.unit.as_str()),
            "approver": e.approver,
            "deadline": e.deadline_at,
            "blocked_by": e.blocked.as_ref().map(|b| b.1.as_str()),
        });
        tx.append_event(case.id, now, &actor.name, "escalation", &detail)
            .await?;
        let post = Outgoing::EscalationPacket {
            case_id: case.id,
            escalation_id: e.id,
            next_tier: false,
        };
        self.enqueue(tx, &post, now).await?;
        let line = outbox::thread_line(
            &format!("Escalated by {}: {} ({})", actor.name, e.id, packet::asked(&e)),
            format!(
                "{}\nDecision by {} or higher, by {}.",
                e.reason,
                e.approver.a(),
                e.deadline_at.format("%Y-%m-%d %H:%M UTC")
            ),
        );
        self.enqueue_thread_message(tx, case.id, line, now).await?;
        Ok(e)
    }

    /// The reminders and the deadline of the escalation's current tier.
    pub(super) fn schedule_escalation_timers(&self, tx: &mut Tx, e: &Escalation, now: DateTime<Utc>) {
        let mut timers: Vec<NewTimer> = e
            .reminder_times(&self.settings.reminders)
            .into_iter()
            .map(|(fraction, due_at)| NewTimer {
                kind: TimerKind::EscalationReminder,
                case_id: Some(e.case_id),
                escalation: Some(e.id),
                tier: Some(e.tier),
                clock: None,
                detail: serde_json::json!({ "fraction": fraction }),
                due_at,
            })
            .collect();
        timers.push(NewTimer {
            kind: TimerKind::EscalationDeadline,
            case_id: Some(e.case_id),
            escalation: Some(e.id),
            tier: Some(e.tier),
            clock: None,
            detail: serde_json::json!({}),
            due_at: e.deadline_at,
        });
        for t in timers {
            tx.schedule_timer(t, now);
        }
    }

    /// `/case escalate`: a decision without an amount.
    pub(super) async fn escalate_case(
        &self,
        actor: &Actor,
        id: CaseId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Reply, CommandError> {
        let reason = case::agent_text("escalation reason", reason)?;
        let mut tx = self.store.begin().await?;
        let CaseAtHand { mut case, .. } = self.case_at_hand(&mut tx, id).await?;
        let e = self
            .open_escalation(
                &mut tx,
                &mut case,
                actor,
                NewEscalation {
                    reason,
                    request: None,
                    blocked: None,
                    requester_limit: None,
                    approver: None,
                },
                now,
            )
            .await?;
        case.updated_at = now;
        self.enqueue_card(&mut tx, &case, now).await?;
        tx.stage_case(case);
        tx.commit().await?;
        Ok(Reply::Done {
            case: Some(id),
            message: format!(
                "Case {id} escalated as {}. Decision by {} or higher, by {}; on timeout: {}.",
                e.id,
                e.approver.a(),
                e.deadline_at.format("%Y-%m-%d %H:%M UTC"),
                super::text::timeout_policy(&e)
            ),
        })
    }

    /// Approve, deny or ask: checked by the domain's rules, written only while still open.
    #[tracing::instrument(skip_all, fields(escalation = %id))]
    pub(super) async fn decide(
        &self,
        actor: &Actor,
        id: EscalationId,
        what: Decide,
        now: DateTime<Utc>,
    ) -> Result<Reply, CommandError> {
        let what = match what {
            Decide::Approve { amount, note } => Decide::Approve {
                amount: amount.filter(|a| !a.trim().is_empty()),
                note: note
                    .filter(|n| !n.trim().is_empty())
                    .map(|n| case::agent_text("approval note", &n))
                    .transpose()?,
            },
            Decide::Deny { reason } => Decide::Deny {
                reason: case::agent_text("reason for the denial", &reason)?,
            },
            Decide::Ask { question } => Decide::Ask {
                question: case::agent_text("question", &question)?,
            },
        };
        let mut tx = self.store.begin().await?;
        // With what settling it needs (the case and its open escalations), which the decision
        // does not change before it settles.
        let (mut e, cards) = tx
            .escalation_for_decision(id)
            .await?
            .ok_or(CommandError::UnknownEscalation(id))?;
        let by = actor.as_owner();
        let role = actor.top_role();
        let asked_question = match &what {
            Decide::Approve { amount, note } => {
                e.approve(&by, role, amount.as_deref(), note.clone(), now)?;
                None
            }
            Decide::Deny { reason } => {
                e.deny(&by, role, reason.clone(), now)?;
                None
            }
            Decide::Ask { question } => {
                e.ask(&by, role, question.clone(), now)?;
                Some(question.clone())
            }
        };
        if !tx.update_escalation(&e).await? {
            // Decided by another process between our read and our write.
            drop(tx);
            let mut read = self.store.read().await?;
            let current = read
                .escalation(id)
                .await?
                .ok_or(CommandError::UnknownEscalation(id))?;
            return Err(current
                .may_decide(&actor.id, role)
                .err()
                .map(CommandError::from)
                .unwrap_or(CommandError::UnknownEscalation(id)));
        }
        let message = match asked_question {
            Some(question) => {
                let detail = serde_json::json!({ "escalation": id, "question": question, "by": actor.name });
                tx.append_event(e.case_id, now, &actor.name, "question", &detail)
                    .await?;
                self.enqueue_thread_message(
                    &mut tx,
                    e.case_id,
                    packet::question(&e, &actor.name, &question),
                    now,
                )
                .await?;
                self.enqueue_packet_edit(&mut tx, &e, false, now).await?;
                format!(
                    "Asked {} about {id}; the escalation stays open and its deadline keeps running.",
                    e.requester.name
                )
            }
            None => {
                let d = e.decision.as_ref().expect("just decided");
                let detail = serde_json::json!({
                    "escalation": id,
                    "outcome": d.outcome,
                    "amount": d.amount,
                    "unit": e.request.as_ref().map(|r| r.unit.as_str()),
                    "by": actor.name,
                    "note": d.note,
                });
                tx.append_event(e.case_id, now, &actor.name, "decision", &detail)
                    .await?;
                let mut cases = Settling::new(cards.cases, cards.open_escalations);
                self.settle(&mut tx, &mut cases, &e, packet::decided(&e), now)
                    .await?;
                cases.stage(&mut tx);
                format!(
                    "{id} {} — {} is told in the case thread.",
                    packet::status_line(&e),
                    e.requester.name
                )
            }
        };
        tx.commit().await?;
        Ok(Reply::Done {
            case: Some(e.case_id),
            message,
        })
    }

    /// Refuses early (before a Discord modal opens) when `actor` may not decide `id`.
    pub async fn check_decider(&self, actor: &Actor, id: EscalationId) -> Result<(), CommandError> {
        let mut tx = self.store.read().await?;
        let e = tx
            .escalation(id)
            .await?
            .ok_or(CommandError::UnknownEscalation(id))?;
        Ok(e.may_decide(&actor.id, actor.top_role())?)
    }

    /// After a decision (by a person or the timeout policy): grant what was approved, cancel
    /// the timers, hand the case back, edit the packet and tell the thread. The case comes
    /// from `cases` (read before) and is changed there.
    pub(super) async fn settle(
        &self,
        tx: &mut Tx,
        cases: &mut Settling,
        e: &Escalation,
        told: Message,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        tx.cancel_escalation_timers(e.id, now);
        let case = cases
            .cases
            .get_mut(&e.case_id)
            .ok_or_else(|| StoreError::Corrupt(format!("escalation {} has no case", e.id)))?;
        if let (Some(d), Some(r)) = (&e.decision, &e.request) {
            if let (EscalationStatus::Approved, Some(amount)) = (d.outcome, d.amount) {
                let rule = if d.timed_out {
                    format!("granted by the {} timeout policy ({})", e.playbook, e.id)
                } else {
                    format!("approved by {} ({})", d.by.name, e.id)
                };
                let grant = Grant {
                    case_id: e.case_id,
                    remedy: r.remedy,
                    label: r.label.clone(),
                    unit: r.unit.clone(),
                    amount,
                    granted_by: d.by.clone(),
                    budget_actor: None,
                    escalation: Some(e.id),
                    rule,
                    granted_at: now,
                };
                tx.insert_grant(&grant).await?;
                case.granted.push(grant.summary());
            }
        }
        // This one is decided now: are others of the case still open?
        let open = cases.open.entry(e.case_id).or_default();
        open.retain(|other| *other != e.id);
        if open.is_empty() {
            case.settle_escalation();
        }
        case.updated_at = now;
        self.enqueue_packet_edit(tx, e, false, now).await?;
        self.enqueue_thread_message(tx, e.case_id, told, now).await?;
        self.enqueue_card(tx, case, now).await?;
        if !cases.changed.contains(&e.case_id) {
            cases.changed.push(e.case_id);
        }
        Ok(())
    }

    /// Queues the edit of an escalation's posted packet (rendered when delivered, from the
    /// escalation as it is then); `superseded`: its tier timed out and it moved on.
    pub(super) async fn enqueue_packet_edit(
        &self,
        tx: &mut Tx,
        e: &Escalation,
        superseded: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let edit = Outgoing::UpdateEscalation {
            case_id: e.case_id,
            escalation_id: e.id,
            superseded,
        };
        self.enqueue(tx, &edit, now).await
    }

    /// A note or reply by a requester answers the open question of their escalations on the
    /// case. Returns the escalations answered.
    pub(super) async fn answer_questions(
        &self,
        tx: &mut Tx,
        case: CaseId,
        by: &Owner,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<EscalationId>, StoreError> {
        let mut answered = Vec::new();
        let mut asking: Vec<Escalation> = tx
            .case_escalations(case)
            .await?
            .into_iter()
            .filter(|e| e.open_question().is_some() && e.requester.id == by.id)
            .collect();
        if asking.is_empty() {
            return Ok(answered);
        }
        for e in &mut asking {
            if e.answer(by, text, now) && tx.update_escalation(e).await? {
                self.enqueue_packet_edit(tx, e, false, now).await?;
                let note = Outgoing::ChannelMessage {
                    case_id: case,
                    channel: outbox::TeamChannel::Escalations,
                    message: packet::answered(e, &by.name, text),
                };
                self.enqueue(tx, &note, now).await?;
                answered.push(e.id);
            }
        }
        Ok(answered)
    }

    /// Escalations for lists: open ones soonest deadline first, others by id.
    pub async fn escalations(&self, filter: &EscalationFilter) -> Result<Vec<EscalationItem>, StoreError> {
        let mut tx = self.store.read().await?;
        let list = tx.list_escalations(filter).await?;
        Ok(list.iter().map(EscalationItem::from).collect())
    }

    /// One escalation with its packet as it stands.
    pub async fn escalation_view(&self, id: EscalationId) -> Result<EscalationView, CommandError> {
        let (e, packet) = delivery::escalation_with_packet(self, id, PacketShown::Edit { superseded: false })
            .await?
            .ok_or(CommandError::UnknownEscalation(id))?;
        Ok(EscalationView {
            item: EscalationItem::from(&e),
            packet,
        })
    }

    /// The friction report over escalations created in `[from, to)`.
    pub async fn friction(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<FrictionRow>, StoreError> {
        let mut tx = self.store.read().await?;
        let list = tx
            .list_escalations(&EscalationFilter {
                from,
                to,
                ..Default::default()
            })
            .await?;
        Ok(friction(&list))
    }
}

/// Pings for the re-post of an escalation that moved to a new tier: the new approvers.
pub(super) fn tier_pings(e: &Escalation) -> Vec<Ping> {
    vec![Ping::Role(e.approver)]
}
