//! `/case offer`: a remedy within every limit is granted at once; beyond any, it becomes an
//! escalation for the amount asked, telling the agent which limit blocked it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::commands::Reply;
use super::escalations::NewEscalation;
use super::outbox;
use super::{Actor, CommandError, Engine};
use crate::domain::case::{self, Case, Customer};
use crate::domain::escalation::{EscalationId, Request};
use crate::domain::offer::{check_offer, find_remedy, parse_amount, Grant, OfferCheck, Verdict};
use crate::domain::{CaseId, Money, Role};
use crate::store::Tx;

/// The timeline detail of an `offer` event.
#[derive(Serialize)]
struct OfferDetail<'a> {
    remedy: &'a str,
    amount: Money,
    unit: &'a str,
    /// `granted` or `escalated`.
    outcome: &'static str,
    /// What allowed it, or the code of the limit that blocked it.
    rule: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    blocked_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    escalation: Option<EscalationId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
}

/// A case read with its customer, in one round trip.
pub(super) struct CaseAtHand {
    pub case: Case,
    pub customer: Customer,
}

impl Engine {
    pub(super) async fn case_at_hand(&self, tx: &mut Tx, id: CaseId) -> Result<CaseAtHand, CommandError> {
        let read = tx.cases_at_hand(&[id]).await?;
        let case = read
            .cases
            .into_iter()
            .next()
            .ok_or(CommandError::UnknownCase(id))?;
        let customer = read
            .customers
            .into_iter()
            .next()
            .ok_or_else(|| CommandError::UnknownCustomer(format!("of case {id}")))?;
        Ok(CaseAtHand { case, customer })
    }

    /// Offers `amount` of the case playbook's remedy `kind` on behalf of `actor`.
    #[tracing::instrument(skip_all, fields(case_id = %id, remedy = kind))]
    pub(super) async fn offer(
        &self,
        actor: &Actor,
        id: CaseId,
        kind: &str,
        amount: &str,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Reply, CommandError> {
        let note = note
            .filter(|n| !n.trim().is_empty())
            .map(|n| case::agent_text("offer note", &n))
            .transpose()?;
        let mut tx = self.store.begin().await?;
        let CaseAtHand { mut case, customer } = self.case_at_hand(&mut tx, id).await?;
        case.require_active()?;
        let set = self.playbooks();
        let playbook = set
            .get(&case.category)
            .ok_or_else(|| CommandError::UnknownPlaybook(case.category.clone()))?;
        let remedy = find_remedy(playbook, kind)?;
        let amount = parse_amount(amount, &remedy.unit)?;
        let role = actor.top_role().unwrap_or(Role::Agent);
        let (day_start, day_end) = self.settings.budgets.day(now);
        let (granted_on_case, spent_today) = tx
            .offer_totals(id, remedy.kind, &actor.id, &remedy.unit, day_start, day_end)
            .await?;
        let verdict = check_offer(&OfferCheck {
            remedy,
            amount,
            role,
            segment: customer.segment,
            granted_on_case,
            spent_today,
            budget: self.settings.budgets.for_role(role, &remedy.unit),
        });
        let what = format!("{}: {amount} {}", remedy.label, remedy.unit);
        let message = match verdict {
            Verdict::Grant { rule } => {
                let grant = Grant {
                    case_id: id,
                    remedy: remedy.kind,
                    label: remedy.label.clone(),
                    unit: remedy.unit.clone(),
                    amount,
                    granted_by: actor.as_owner(),
                    budget_actor: Some(actor.id.clone()),
                    escalation: None,
                    rule: rule.clone(),
                    granted_at: now,
                };
                tx.insert_grant(&grant).await?;
                case.granted.push(grant.summary());
                let detail = OfferDetail {
                    remedy: remedy.kind.as_str(),
                    amount,
                    unit: &remedy.unit,
                    outcome: "granted",
                    rule: &rule,
                    blocked_by: None,
                    escalation: None,
                    note: note.as_deref(),
                };
                tx.append_event(id, now, &actor.name, "offer", &detail).await?;
                let mut body = format!("Allowed: {rule}.");
                if let Some(note) = &note {
                    body.push('\n');
                    body.push_str(note);
                }
                let line = outbox::thread_line(&format!("Granted by {}: {what}", actor.name), body);
                self.enqueue_thread_message(&mut tx, id, line, now).await?;
                format!(
                    "Granted on case {id}: {what} ({rule}). Tell the customer with `/case reply`; `/suggest` now mentions it."
                )
            }
            Verdict::Escalate(blocked) => {
                let reason = note.clone().unwrap_or_else(|| format!("Offer of {what}"));
                let escalation = self
                    .open_escalation(
                        &mut tx,
                        &mut case,
                        actor,
                        NewEscalation {
                            reason,
                            request: Some(Request {
                                remedy: remedy.kind,
                                label: remedy.label.clone(),
                                unit: remedy.unit.clone(),
                                amount,
                            }),
                            blocked: Some((blocked.code().to_string(), blocked.to_string())),
                            requester_limit: Some(remedy.limit_for(role, customer.segment)),
                            approver: None,
                        },
                        now,
                    )
                    .await?;
                let detail = OfferDetail {
                    remedy: remedy.kind.as_str(),
                    amount,
                    unit: &remedy.unit,
                    outcome: "escalated",
                    rule: blocked.code(),
                    blocked_by: Some(blocked.to_string()),
                    escalation: Some(escalation.id),
                    note: note.as_deref(),
                };
                tx.append_event(id, now, &actor.name, "offer", &detail).await?;
                let mut sentence = blocked.to_string();
                if let Some(first) = sentence.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                format!(
                    "{sentence}: escalation {} opened for {amount} {}. Decision by {} or higher, by {}; on timeout: {}.",
                    escalation.id,
                    remedy.unit,
                    escalation.approver.a(),
                    escalation.deadline_at.format("%Y-%m-%d %H:%M UTC"),
                    super::text::timeout_policy(&escalation)
                )
            }
        };
        case.updated_at = now;
        self.enqueue_card(&mut tx, &case, now).await?;
        tx.stage_case(case);
        tx.commit().await?;
        Ok(Reply::Done {
            case: Some(id),
            message,
        })
    }
}
