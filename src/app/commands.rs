//! Working a case: the commands agents, seniors and admins run, with their role checks.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::escalations::{Decide, EscalationItem, EscalationView};
use super::outbox;
use super::{Actor, CommandError, Engine};
use crate::domain::case::CaseStatus;
use crate::domain::case::{self, Case, Customer, Owner};
use crate::domain::escalation::{EscalationId, EscalationStatus};
use crate::domain::offer::Grant;
use crate::domain::playbook::{Playbook, Suggestion};
use crate::domain::sla::{self, Clock};
use crate::domain::surge::{Incident, IncidentId};
use crate::domain::{CaseId, Handle, Network, Priority, Role, Segment};
use crate::store::{CaseEvent, CaseFilter, CaseSummary, EscalationFilter, StoredMention, Tx};

/// Which customer a command is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerRef {
    /// The customer of this case.
    Case(CaseId),
    /// A handle, on a network when the handle is on several.
    Handle {
        network: Option<Network>,
        handle: Handle,
    },
}

/// The views of `/queue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueView {
    /// Active cases nobody owns, most urgent first.
    Unassigned,
    /// Active cases the actor owns.
    Mine,
    /// Active cases, longest waiting first.
    Oldest,
    /// Active cases whose SLA is at risk or breached, soonest due first.
    Breaching,
}

/// Everything an agent can ask carebot to do; adapters parse into this.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Show {
        case: CaseId,
    },
    Claim {
        case: CaseId,
    },
    Assign {
        case: CaseId,
        to: Owner,
    },
    Note {
        case: CaseId,
        text: String,
    },
    Reply {
        case: CaseId,
        text: String,
    },
    Tag {
        case: CaseId,
        tags: Vec<String>,
    },
    Priority {
        case: CaseId,
        priority: Priority,
    },
    Waiting {
        case: CaseId,
    },
    Resolve {
        case: CaseId,
        note: Option<String>,
    },
    Reopen {
        case: CaseId,
    },
    Escalate {
        case: CaseId,
        reason: String,
    },
    /// Offer a remedy of the case's playbook (`fee_waiver`) for an amount in its unit.
    Offer {
        case: CaseId,
        remedy: String,
        amount: String,
        note: Option<String>,
    },
    /// Approve, for all of the request or (with `amount`) part of it.
    Approve {
        escalation: EscalationId,
        amount: Option<String>,
        note: Option<String>,
    },
    Deny {
        escalation: EscalationId,
        reason: String,
    },
    /// Ask the requester for information before deciding.
    Ask {
        escalation: EscalationId,
        question: String,
    },
    EscalationShow {
        escalation: EscalationId,
    },
    /// Open escalations, oldest deadline first.
    Escalations,
    /// Record one public reply on every open case of a surge incident.
    IncidentReply {
        incident: IncidentId,
        text: String,
    },
    /// Resolve a surge incident and its open cases.
    IncidentResolve {
        incident: IncidentId,
        note: Option<String>,
    },
    /// The latest surge incidents.
    Incidents,
    Suggest {
        case: CaseId,
    },
    /// Use suggestion `rank` (1-based) of the case: its playbook becomes the category and
    /// its reply the draft for `/case reply`.
    SuggestUse {
        case: CaseId,
        rank: usize,
    },
    /// Set the case's category (a playbook id), audited.
    Category {
        case: CaseId,
        playbook: String,
    },
    CustomerShow {
        customer: CustomerRef,
    },
    CustomerSegment {
        customer: CustomerRef,
        segment: Segment,
    },
    Queue {
        view: QueueView,
    },
    PlaybookList,
    PlaybookShow {
        id: String,
    },
    PlaybookReload,
    /// The digest of a period: none is the last complete week; dates are days in the
    /// digest's timezone (`to` included) or RFC 3339 instants.
    Digest {
        from: Option<String>,
        to: Option<String>,
    },
}

impl Command {
    /// The name users type, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Show { .. } => "/case show",
            Command::Claim { .. } => "/case claim",
            Command::Assign { .. } => "/case assign",
            Command::Note { .. } => "/case note",
            Command::Reply { .. } => "/case reply",
            Command::Tag { .. } => "/case tag",
            Command::Priority { .. } => "/case priority",
            Command::Waiting { .. } => "/case waiting",
            Command::Resolve { .. } => "/case resolve",
            Command::Reopen { .. } => "/case reopen",
            Command::Escalate { .. } => "/case escalate",
            Command::Offer { .. } => "/case offer",
            Command::Approve { .. } => "/escalation approve",
            Command::Deny { .. } => "/escalation deny",
            Command::Ask { .. } => "/escalation ask",
            Command::EscalationShow { .. } => "/escalation show",
            Command::Escalations => "/escalations",
            Command::IncidentReply { .. } => "/incident reply",
            Command::IncidentResolve { .. } => "/incident resolve",
            Command::Incidents => "/incidents",
            Command::Suggest { .. } => "/suggest",
            Command::SuggestUse { .. } => "/suggest use",
            Command::Category { .. } => "/case category",
            Command::CustomerShow { .. } => "/customer show",
            Command::CustomerSegment { .. } => "/customer segment",
            Command::Queue { .. } => "/queue",
            Command::PlaybookList => "/playbook list",
            Command::PlaybookShow { .. } => "/playbook show",
            Command::PlaybookReload => "/playbook reload",
            Command::Digest { .. } => "/digest",
        }
    }

    /// The role a command needs. Assigning to someone else is a senior's call; who may
    /// decide an escalation depends on the escalation (see `Escalation::may_decide`).
    pub fn needs(&self, actor: &Actor) -> Role {
        match self {
            Command::Assign { to, .. } if to.id != actor.id => Role::Senior,
            Command::CustomerSegment { .. } => Role::Senior,
            Command::PlaybookReload => Role::Admin,
            _ => Role::Agent,
        }
    }
}

/// A whole case with its customer, posts and timeline (`/case show`, `cases show --json`).
#[derive(Debug, Clone, Serialize)]
pub struct CaseDetail {
    pub case: Case,
    pub customer: Customer,
    pub mentions: Vec<StoredMention>,
    pub timeline: Vec<CaseEvent>,
    /// Remedies granted on the case, oldest first.
    pub grants: Vec<Grant>,
    /// The case's escalations, oldest first.
    pub escalations: Vec<EscalationItem>,
    /// The case's SLA clocks, oldest first.
    pub sla: Vec<Clock>,
    /// When this was read (what `remaining` in `/case show` is counted from).
    pub as_of: DateTime<Utc>,
}

/// A case whose SLA is at risk, with the clock that is closest to its target.
#[derive(Debug, Clone, Serialize)]
pub struct AtRisk {
    pub case: CaseSummary,
    pub clock: Clock,
}

/// A customer with their cases.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerDetail {
    pub customer: Customer,
    pub cases: Vec<CaseSummary>,
}

/// What a command answers; adapters render it (plain text, embeds, JSON).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Case(Box<CaseDetail>),
    Suggestions {
        case: CaseId,
        items: Vec<Suggestion>,
    },
    Customer(Box<CustomerDetail>),
    Queue {
        view: &'static str,
        cases: Vec<CaseSummary>,
    },
    Playbooks {
        items: Vec<Playbook>,
    },
    Playbook(Box<Playbook>),
    Escalations {
        items: Vec<EscalationItem>,
    },
    Escalation(Box<EscalationView>),
    AtRisk {
        items: Vec<AtRisk>,
        as_of: DateTime<Utc>,
    },
    Incidents {
        items: Vec<Incident>,
    },
    Done {
        case: Option<CaseId>,
        message: String,
    },
    Digest(Box<super::digest::Digest>),
}

fn done(case: CaseId, message: String) -> Reply {
    Reply::Done {
        case: Some(case),
        message,
    }
}

impl Engine {
    /// Runs a command for `actor`. Refusals change nothing.
    #[tracing::instrument(skip_all, fields(command = command.name(), actor = %actor.id))]
    pub async fn execute(
        &self,
        actor: &Actor,
        command: Command,
        now: DateTime<Utc>,
    ) -> Result<Reply, CommandError> {
        Self::check_allowed(actor, &command)?;
        match command {
            Command::Show { case } => Ok(Reply::Case(Box::new(self.case_detail(case, now).await?))),
            Command::Suggest { case } => self.suggest_for_case(actor, case).await,
            Command::SuggestUse { case, rank } => self.use_suggestion(actor, case, rank, now).await,
            Command::Category { case, playbook } => self.recategorise(actor, case, &playbook, now).await,
            Command::CustomerShow { customer } => {
                let mut tx = self.store.read().await?;
                let customer = self.find_customer(&mut tx, &customer).await?;
                let cases = tx.customer_cases(customer.id).await?;
                Ok(Reply::Customer(Box::new(CustomerDetail { customer, cases })))
            }
            Command::CustomerSegment { customer, segment } => {
                self.set_segment(actor, customer, segment, now).await
            }
            Command::Queue {
                view: QueueView::Breaching,
            } => self.at_risk(now).await,
            Command::Queue { view } => {
                let active = CaseStatus::ACTIVE.to_vec();
                let (name, filter) = match view {
                    QueueView::Unassigned => (
                        "unassigned",
                        CaseFilter {
                            statuses: active,
                            unassigned: true,
                            ..Default::default()
                        },
                    ),
                    QueueView::Mine => (
                        "mine",
                        CaseFilter {
                            statuses: active,
                            owner: Some(actor.id.clone()),
                            ..Default::default()
                        },
                    ),
                    QueueView::Oldest | QueueView::Breaching => (
                        "oldest",
                        CaseFilter {
                            statuses: active,
                            oldest_first: true,
                            ..Default::default()
                        },
                    ),
                };
                let mut tx = self.store.read().await?;
                let cases = tx
                    .list_cases(&CaseFilter {
                        limit: Some(25),
                        ..filter
                    })
                    .await?;
                Ok(Reply::Queue { view: name, cases })
            }
            Command::PlaybookList => Ok(Reply::Playbooks {
                items: self.playbooks().playbooks().to_vec(),
            }),
            Command::PlaybookShow { id } => {
                let set = self.playbooks();
                let playbook = set.get(&id).ok_or(CommandError::UnknownPlaybook(id))?;
                Ok(Reply::Playbook(Box::new(playbook.clone())))
            }
            Command::PlaybookReload => {
                let n = self.reload_playbooks(None).map_err(CommandError::Playbooks)?;
                Ok(Reply::Done {
                    case: None,
                    message: format!("Reloaded {n} playbooks."),
                })
            }
            Command::Escalate { case, reason } => self.escalate_case(actor, case, &reason, now).await,
            Command::Offer {
                case,
                remedy,
                amount,
                note,
            } => self.offer(actor, case, &remedy, &amount, note, now).await,
            Command::Approve {
                escalation,
                amount,
                note,
            } => {
                self.decide(actor, escalation, Decide::Approve { amount, note }, now)
                    .await
            }
            Command::Deny { escalation, reason } => {
                self.decide(actor, escalation, Decide::Deny { reason }, now).await
            }
            Command::Ask { escalation, question } => {
                self.decide(actor, escalation, Decide::Ask { question }, now)
                    .await
            }
            Command::EscalationShow { escalation } => Ok(Reply::Escalation(Box::new(
                self.escalation_view(escalation).await?,
            ))),
            Command::Escalations => {
                let items = self
                    .escalations(&EscalationFilter {
                        status: Some(EscalationStatus::Open),
                        limit: Some(25),
                        ..Default::default()
                    })
                    .await?;
                Ok(Reply::Escalations { items })
            }
            Command::IncidentReply { incident, text } => {
                self.incident_reply(actor, incident, &text, now).await
            }
            Command::IncidentResolve { incident, note } => {
                self.incident_resolve(actor, incident, note, now).await
            }
            Command::Incidents => self.incidents().await,
            Command::Digest { from, to } => self.digest_command(from.as_deref(), to.as_deref(), now).await,
            change => self.change_case(actor, change, now).await,
        }
    }

    /// Refuses unless `actor` has the role `command` needs (asked before a Discord form opens).
    pub fn check_allowed(actor: &Actor, command: &Command) -> Result<(), CommandError> {
        let needs = command.needs(actor);
        if actor.may(needs) {
            Ok(())
        } else {
            Err(CommandError::NotAllowed {
                command: command.name(),
                needs,
            })
        }
    }

    /// Case, customer, mentions, timeline, grants, escalations and SLA clocks as of `now`.
    pub async fn case_detail(&self, id: CaseId, now: DateTime<Utc>) -> Result<CaseDetail, CommandError> {
        let mut tx = self.store.read().await?;
        let case = tx.case(id).await?.ok_or(CommandError::UnknownCase(id))?;
        let customer = self.customer_of(&mut tx, &case).await?;
        let mentions = tx.mentions(id).await?;
        let timeline = tx.events(id).await?;
        let grants = tx.case_grants(id).await?;
        let escalations = tx.case_escalations(id).await?;
        let sla = tx.clocks(&[id]).await?;
        Ok(CaseDetail {
            case,
            customer,
            mentions,
            timeline,
            grants,
            escalations: escalations.iter().map(EscalationItem::from).collect(),
            sla,
            as_of: now,
        })
    }

    /// `/queue breaching`: active cases with a clock past its warning point, soonest due first.
    async fn at_risk(&self, now: DateTime<Utc>) -> Result<Reply, CommandError> {
        let mut tx = self.store.read().await?;
        let mut clocks = tx.clocks_at_risk(now, 100).await?;
        let mut seen = std::collections::HashSet::new();
        clocks.retain(|c| seen.insert(c.case_id));
        clocks.truncate(25);
        let cases = tx
            .list_cases(&CaseFilter {
                ids: clocks.iter().map(|c| c.case_id).collect(),
                ..Default::default()
            })
            .await?;
        let items = clocks
            .into_iter()
            .filter_map(|clock| {
                let case = cases.iter().find(|c| c.id == clock.case_id)?.clone();
                Some(AtRisk { case, clock })
            })
            .collect();
        Ok(Reply::AtRisk { items, as_of: now })
    }

    pub(super) async fn customer_of(&self, tx: &mut Tx, case: &Case) -> Result<Customer, CommandError> {
        tx.customer(case.customer_id)
            .await?
            .ok_or_else(|| CommandError::UnknownCustomer(format!("of case {}", case.id)))
    }

    pub(super) async fn find_customer(
        &self,
        tx: &mut Tx,
        who: &CustomerRef,
    ) -> Result<Customer, CommandError> {
        match who {
            CustomerRef::Case(id) => {
                let case = tx.case(*id).await?.ok_or(CommandError::UnknownCase(*id))?;
                self.customer_of(tx, &case).await
            }
            CustomerRef::Handle {
                network: Some(network),
                handle,
            } => tx
                .customer_by_handle(network, handle)
                .await?
                .ok_or_else(|| CommandError::UnknownCustomer(format!("{handle} on {network}"))),
            CustomerRef::Handle {
                network: None,
                handle,
            } => {
                let mut found = tx.customers_by_handle(handle).await?;
                match found.len() {
                    0 => Err(CommandError::UnknownCustomer(handle.to_string())),
                    1 => Ok(found.remove(0)),
                    _ => {
                        let networks: Vec<String> = found.iter().map(|c| c.network.to_string()).collect();
                        Err(CommandError::AmbiguousCustomer(
                            handle.to_string(),
                            networks.join(", "),
                        ))
                    }
                }
            }
        }
    }

    async fn suggest_for_case(&self, actor: &Actor, id: CaseId) -> Result<Reply, CommandError> {
        let mut tx = self.store.read().await?;
        let (_, items) = self.case_suggestions(&mut tx, actor, id).await?;
        Ok(Reply::Suggestions { case: id, items })
    }

    async fn set_segment(
        &self,
        actor: &Actor,
        who: CustomerRef,
        segment: Segment,
        now: DateTime<Utc>,
    ) -> Result<Reply, CommandError> {
        let mut tx = self.store.begin().await?;
        let customer = self.find_customer(&mut tx, &who).await?;
        tx.set_segment(customer.id, segment).await?;
        let customer = Customer { segment, ..customer };
        // The segment shows on the cards of the customer's active cases, and is audited there.
        for summary in tx.customer_cases(customer.id).await? {
            if summary.status.is_active() {
                let detail = serde_json::json!({ "segment": segment });
                tx.append_event(summary.id, now, &actor.name, "segment", &detail)
                    .await?;
                if let Some(case) = tx.case(summary.id).await? {
                    self.case_clock_event(&mut tx, &case, segment, sla::CaseEvent::Retarget, now)
                        .await?;
                    self.enqueue_card(&mut tx, &case, now).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(Reply::Done {
            case: None,
            message: format!("{} is now a {segment} customer.", customer.handle),
        })
    }

    /// Commands that change one case: load, apply the domain rule, save, audit, update the card.
    async fn change_case(
        &self,
        actor: &Actor,
        command: Command,
        now: DateTime<Utc>,
    ) -> Result<Reply, CommandError> {
        let id = match &command {
            Command::Claim { case }
            | Command::Assign { case, .. }
            | Command::Note { case, .. }
            | Command::Reply { case, .. }
            | Command::Tag { case, .. }
            | Command::Priority { case, .. }
            | Command::Waiting { case }
            | Command::Resolve { case, .. }
            | Command::Reopen { case } => *case,
            other => unreachable!("{} is not a case change", other.name()),
        };
        let mut tx = self.store.begin().await?;
        let mut case = tx.case(id).await?.ok_or(CommandError::UnknownCase(id))?;
        let who = actor.as_owner();
        let clock_event = match &command {
            Command::Reply { .. } => Some(sla::CaseEvent::Replied { by: &actor.name }),
            Command::Waiting { .. } => Some(sla::CaseEvent::Waiting),
            Command::Resolve { .. } => Some(sla::CaseEvent::Resolved { by: &actor.name }),
            Command::Reopen { .. } => Some(sla::CaseEvent::Reopened),
            Command::Priority { .. } => Some(sla::CaseEvent::Retarget),
            _ => None,
        };
        // (event kind, event detail, thread line, reply message, card changed)
        let (kind, detail, line, message, card_changed) = match command {
            Command::Claim { .. } => {
                case.claim(&who)?;
                (
                    "claimed",
                    serde_json::json!({}),
                    None,
                    format!("You now own case {id}."),
                    true,
                )
            }
            Command::Assign { to, .. } => {
                case.assign(&to)?;
                let detail = serde_json::json!({ "to": to.id, "to_name": to.name });
                (
                    "assigned",
                    detail,
                    None,
                    format!("Case {id} is now owned by {}.", to.name),
                    true,
                )
            }
            Command::Note { text, .. } => {
                let text = case::agent_text("note", &text)?;
                let line = outbox::thread_line(&format!("Note by {} (internal)", actor.name), text.clone());
                let answers = self.answer_questions(&mut tx, id, &who, &text, now).await?;
                (
                    "note",
                    serde_json::json!({ "text": text, "answers": answers }),
                    Some(line),
                    format!("Note added to case {id}."),
                    false,
                )
            }
            Command::Reply { text, .. } => {
                // No text: the reply drafted by the suggestion the agent used.
                let text = match text.trim().is_empty() {
                    true => self.drafted_reply(&mut tx, id).await?.unwrap_or(text),
                    false => text,
                };
                let text = case::agent_text("reply", &text)?;
                let first = case.first_response_at.is_none();
                case.record_reply(now)?;
                let line = outbox::thread_line(&format!("Public reply by {}", actor.name), text.clone());
                let answers = self.answer_questions(&mut tx, id, &who, &text, now).await?;
                let detail = serde_json::json!({ "text": text, "first_response": first, "answers": answers });
                (
                    "reply",
                    detail,
                    Some(line),
                    format!("Reply recorded on case {id}."),
                    true,
                )
            }
            Command::Tag { tags, .. } => {
                let tags = tags.iter().map(|t| case::tag(t)).collect::<Result<Vec<_>, _>>()?;
                let added = case.add_tags(&tags);
                let message = if added.is_empty() {
                    format!("Case {id} already has those tags.")
                } else {
                    format!("Tagged case {id}: {}.", added.join(", "))
                };
                (
                    "tagged",
                    serde_json::json!({ "tags": added }),
                    None,
                    message,
                    true,
                )
            }
            Command::Priority { priority, .. } => {
                let before = case.priority;
                case.priority = priority;
                case.priority_reasons = vec![format!("set to {priority} by {}", actor.name)];
                let detail = serde_json::json!({ "from": before, "to": priority });
                (
                    "priority",
                    detail,
                    None,
                    format!("Case {id} is now {priority} (was {before})."),
                    true,
                )
            }
            Command::Waiting { .. } => {
                case.wait_on_customer()?;
                (
                    "waiting",
                    serde_json::json!({}),
                    None,
                    format!("Case {id} is waiting on the customer."),
                    true,
                )
            }
            Command::Resolve { note, .. } => {
                let note = note
                    .map(|n| case::agent_text("resolution note", &n))
                    .transpose()?;
                case.resolve(now)?;
                let line = outbox::thread_line(
                    &format!("Resolved by {}", actor.name),
                    note.clone().unwrap_or_default(),
                );
                (
                    "resolved",
                    serde_json::json!({ "note": note }),
                    Some(line),
                    format!("Case {id} resolved."),
                    true,
                )
            }
            Command::Reopen { .. } => {
                case.reopen()?;
                let line = outbox::thread_line(&format!("Reopened by {}", actor.name), "");
                (
                    "reopened",
                    serde_json::json!({}),
                    Some(line),
                    format!("Case {id} reopened."),
                    true,
                )
            }
            other => unreachable!("{} is not a case change", other.name()),
        };
        case.updated_at = now;
        tx.append_event(id, now, &actor.name, kind, &detail).await?;
        if let Some(message) = line {
            self.enqueue_thread_message(&mut tx, id, message, now).await?;
        }
        if card_changed || clock_event.is_some() {
            let customer = self.customer_of(&mut tx, &case).await?;
            if let Some(event) = clock_event {
                self.case_clock_event(&mut tx, &case, customer.segment, event, now)
                    .await?;
            }
            self.enqueue_card(&mut tx, &case, now).await?;
        }
        tx.stage_case(case);
        tx.commit().await?;
        Ok(done(id, message))
    }
}
