//! Escalations: a request for a decision, with a deadline, decided once by someone allowed to.
//!
//! The rules live here as plain functions on [`Escalation`]: who may decide (the approver
//! role or higher, never the requester: four eyes), that a decision happens once, how a
//! partial approval works, when reminders are due, what the playbook's `on_timeout` does at
//! the deadline, and the friction report that tells a team lead which limit to raise.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::case::Owner;
use super::offer::{parse_amount, AmountError};
use super::playbook::{OnTimeout, RemedyKind};
use super::types::{CaseId, Money, ParseError, Role};

/// The name decisions taken by the timeout policy are recorded under.
pub const TIMEOUT_ACTOR: &str = "carebot (timeout policy)";

/// Reminder points between the request and the deadline when config names none.
pub const DEFAULT_REMINDERS: [f64; 2] = [0.5, 0.9];

/// An escalation number as users see it: `E3` (also `e3`, `3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EscalationId(pub i64);

impl EscalationId {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let s = input.trim();
        let digits = s
            .strip_prefix('E')
            .or_else(|| s.strip_prefix('e'))
            .or_else(|| s.strip_prefix("#E"))
            .unwrap_or(s);
        match digits.parse::<i64>() {
            Ok(n) if n > 0 => Ok(EscalationId(n)),
            _ => Err(ParseError {
                what: "escalation id",
                input: input.chars().take(60).collect(),
                hint: "use the escalation's id, e.g. `E3`; `/escalations` lists the open ones",
            }),
        }
    }
}

impl fmt::Display for EscalationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E{}", self.0)
    }
}

impl Serialize for EscalationId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EscalationId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        EscalationId::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Where an escalation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EscalationStatus {
    Open,
    Approved,
    Denied,
}

impl EscalationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationStatus::Open => "open",
            EscalationStatus::Approved => "approved",
            EscalationStatus::Denied => "denied",
        }
    }

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(EscalationStatus::Open),
            "approved" => Ok(EscalationStatus::Approved),
            "denied" => Ok(EscalationStatus::Denied),
            _ => Err(ParseError {
                what: "escalation status",
                input: input.to_string(),
                hint: "use open, approved or denied",
            }),
        }
    }
}

impl fmt::Display for EscalationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The remedy and amount a blocked offer asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    pub remedy: RemedyKind,
    pub label: String,
    pub unit: String,
    pub amount: Money,
}

/// A question an approver asked before deciding, and the requester's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub by: Owner,
    pub at: DateTime<Utc>,
    pub text: String,
    pub answer: Option<Answer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub by: Owner,
    pub at: DateTime<Utc>,
    pub text: String,
}

/// How an escalation was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: EscalationStatus,
    pub by: Owner,
    pub at: DateTime<Utc>,
    /// What was granted (approvals of a remedy request).
    pub amount: Option<Money>,
    /// The approver's note, or the reason for a denial.
    pub note: Option<String>,
    /// Decided by the playbook's timeout policy, not by a person.
    pub timed_out: bool,
}

/// What the playbook said about deadlines when the escalation was opened (a later playbook
/// reload does not change the rules of an escalation already running).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutPolicy {
    pub deadline_secs: i64,
    pub on_timeout: OnTimeout,
}

/// One escalation.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    pub id: EscalationId,
    pub case_id: CaseId,
    /// What the requester needs decided and why.
    pub reason: String,
    /// The case's playbook when the escalation was opened.
    pub playbook: String,
    /// The remedy asked for; `None` for a decision without an amount.
    pub request: Option<Request>,
    /// The limit that blocked the offer: its code (`role_limit`, ...) and the sentence.
    pub blocked: Option<(String, String)>,
    pub requester: Owner,
    pub requester_role: Role,
    /// The requester's own limit for this remedy and the customer's segment.
    pub requester_limit: Option<Money>,
    /// The lowest role that may decide now.
    pub approver: Role,
    /// 1 for the first approver, 2 after a `next_tier` timeout.
    pub tier: u32,
    pub tier_started_at: DateTime<Utc>,
    pub deadline_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub policy: TimeoutPolicy,
    pub decision: Option<Decision>,
    pub questions: Vec<Question>,
}

/// A refused decision; `Display` tells the person what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    #[error("{id} is already {outcome} by {by} at {}; nothing changed", .at.format("%Y-%m-%d %H:%M UTC"))]
    AlreadyDecided {
        id: EscalationId,
        outcome: EscalationStatus,
        by: String,
        at: DateTime<Utc>,
    },
    #[error("you asked for {id} yourself, so someone else must decide it (four eyes); ask another {needs} or higher")]
    OwnRequest { id: EscalationId, needs: Role },
    #[error("{id} needs {} or higher to decide; ask one of them in the escalations channel", .needs.a())]
    NeedsRole { id: EscalationId, needs: Role },
    #[error("{id} asks for a decision without an amount; approve it without AMOUNT")]
    NoAmountAsked { id: EscalationId },
    #[error("{id} asks for {requested} {unit}; you can approve up to that (less is a partial approval), and the agent can offer again for more")]
    MoreThanAsked {
        id: EscalationId,
        requested: Money,
        unit: String,
    },
    #[error("{0}")]
    Amount(#[from] AmountError),
}

/// What the timeout policy did at a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutOutcome {
    /// `next_tier`: a higher role decides now, with a fresh deadline.
    MovedTo(Role),
    /// `grant_up_to`: approved, for this amount when a remedy was asked for.
    Approved(Option<Money>),
    /// `deny`, or `next_tier` when no higher tier is left.
    Denied,
}

impl TimeoutOutcome {
    /// `next_tier`, `approved` or `denied`, as recorded in the timeline.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutOutcome::MovedTo(_) => "next_tier",
            TimeoutOutcome::Approved(_) => "approved",
            TimeoutOutcome::Denied => "denied",
        }
    }
}

/// The name of an `on_timeout` policy as written in playbooks.
pub fn policy_name(on_timeout: &OnTimeout) -> &'static str {
    match on_timeout {
        OnTimeout::NextTier { .. } => "next_tier",
        OnTimeout::GrantUpTo { .. } => "grant_up_to",
        OnTimeout::Deny => "deny",
    }
}

/// Who must approve a request from someone whose top role is `requester`: the playbook's
/// approver, or (for a requester at or above it) the next role up, as nobody approves their own.
pub fn approver_for(requester: Role, playbook_approver: Role) -> Role {
    if requester < playbook_approver {
        playbook_approver
    } else {
        Role::ALL
            .into_iter()
            .find(|r| *r > requester)
            .unwrap_or(Role::Admin)
    }
}

impl Escalation {
    pub fn status(&self) -> EscalationStatus {
        self.decision
            .as_ref()
            .map_or(EscalationStatus::Open, |d| d.outcome)
    }

    pub fn is_open(&self) -> bool {
        self.decision.is_none()
    }

    /// Refuses unless `who` (with top role `role`) may decide now.
    pub fn may_decide(&self, who: &str, role: Option<Role>) -> Result<(), DecideError> {
        if let Some(d) = &self.decision {
            return Err(DecideError::AlreadyDecided {
                id: self.id,
                outcome: d.outcome,
                by: d.by.name.clone(),
                at: d.at,
            });
        }
        if who == self.requester.id {
            return Err(DecideError::OwnRequest {
                id: self.id,
                needs: self.approver,
            });
        }
        if role.is_none_or(|r| r < self.approver) {
            return Err(DecideError::NeedsRole {
                id: self.id,
                needs: self.approver,
            });
        }
        Ok(())
    }

    /// Approves, for `amount` (in the request's unit; less than asked is a partial approval,
    /// nothing means all of it). Returns what was granted.
    pub fn approve(
        &mut self,
        by: &Owner,
        role: Option<Role>,
        amount: Option<&str>,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<Money>, DecideError> {
        self.may_decide(&by.id, role)?;
        let granted = match (&self.request, amount) {
            (None, Some(_)) => return Err(DecideError::NoAmountAsked { id: self.id }),
            (None, None) => None,
            (Some(r), None) => Some(r.amount),
            (Some(r), Some(text)) => {
                let m = parse_amount(text, &r.unit)?;
                if m > r.amount {
                    return Err(DecideError::MoreThanAsked {
                        id: self.id,
                        requested: r.amount,
                        unit: r.unit.clone(),
                    });
                }
                Some(m)
            }
        };
        self.decision = Some(Decision {
            outcome: EscalationStatus::Approved,
            by: by.clone(),
            at: now,
            amount: granted,
            note,
            timed_out: false,
        });
        Ok(granted)
    }

    /// Denies, with the reason the requester will read.
    pub fn deny(
        &mut self,
        by: &Owner,
        role: Option<Role>,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<(), DecideError> {
        self.may_decide(&by.id, role)?;
        self.decision = Some(Decision {
            outcome: EscalationStatus::Denied,
            by: by.clone(),
            at: now,
            amount: None,
            note: Some(reason),
            timed_out: false,
        });
        Ok(())
    }

    /// An approver asks the requester something before deciding; the escalation stays open.
    pub fn ask(
        &mut self,
        by: &Owner,
        role: Option<Role>,
        text: String,
        now: DateTime<Utc>,
    ) -> Result<(), DecideError> {
        self.may_decide(&by.id, role)?;
        self.questions.push(Question {
            by: by.clone(),
            at: now,
            text,
            answer: None,
        });
        Ok(())
    }

    /// The open question waiting for the requester's answer, if any.
    pub fn open_question(&self) -> Option<&Question> {
        self.questions
            .last()
            .filter(|q| q.answer.is_none() && self.is_open())
    }

    /// Records `text` by `by` as the answer to the open question, when `by` is the requester.
    /// Returns whether it answered one.
    pub fn answer(&mut self, by: &Owner, text: &str, now: DateTime<Utc>) -> bool {
        if by.id != self.requester.id || self.open_question().is_none() {
            return false;
        }
        if let Some(q) = self.questions.last_mut() {
            q.answer = Some(Answer {
                by: by.clone(),
                at: now,
                text: text.to_string(),
            });
        }
        true
    }

    /// When reminders of the current tier are due: at each fraction of the time from the
    /// tier's start to its deadline (fractions outside 0..1 are ignored), earliest first.
    pub fn reminder_times(&self, fractions: &[f64]) -> Vec<(f64, DateTime<Utc>)> {
        let span = (self.deadline_at - self.tier_started_at).num_milliseconds() as f64;
        let mut out: Vec<(f64, DateTime<Utc>)> = fractions
            .iter()
            .filter(|f| **f > 0.0 && **f < 1.0)
            .map(|f| {
                (
                    *f,
                    self.tier_started_at + Duration::milliseconds((span * f).round() as i64),
                )
            })
            .collect();
        out.sort_by_key(|(_, at)| *at);
        out.dedup_by_key(|(_, at)| *at);
        out
    }

    /// The deadline passed without a decision: applies the playbook's `on_timeout`.
    pub fn time_out(&mut self, now: DateTime<Utc>) -> TimeoutOutcome {
        let by = Owner {
            id: TIMEOUT_ACTOR.into(),
            name: TIMEOUT_ACTOR.into(),
        };
        let (outcome, amount) = match self.policy.on_timeout {
            OnTimeout::NextTier { approver } if approver > self.approver => {
                self.approver = approver;
                self.tier += 1;
                self.tier_started_at = now;
                self.deadline_at = now + Duration::seconds(self.policy.deadline_secs);
                return TimeoutOutcome::MovedTo(approver);
            }
            OnTimeout::GrantUpTo { cap } => {
                let amount = self.request.as_ref().map(|r| r.amount.min(cap));
                (EscalationStatus::Approved, amount)
            }
            _ => (EscalationStatus::Denied, None),
        };
        self.decision = Some(Decision {
            outcome,
            by,
            at: now,
            amount,
            note: None,
            timed_out: true,
        });
        match outcome {
            EscalationStatus::Approved => TimeoutOutcome::Approved(amount),
            _ => TimeoutOutcome::Denied,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T14:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::minutes(minutes)
    }

    fn person(id: &str) -> Owner {
        Owner {
            id: id.into(),
            name: id.to_uppercase(),
        }
    }

    fn escalation(on_timeout: OnTimeout) -> Escalation {
        Escalation {
            id: EscalationId(3),
            case_id: CaseId(1),
            reason: "tyre billed despite the roadside failure".into(),
            playbook: "roadside-breakdown".into(),
            request: Some(Request {
                remedy: RemedyKind::FeeWaiver,
                label: "Waive tyre and towing charges".into(),
                unit: "USD".into(),
                amount: Money(18_000),
            }),
            blocked: Some(("role_limit".into(), "above your agent limit".into())),
            requester: person("ana"),
            requester_role: Role::Agent,
            requester_limit: Some(Money(12_000)),
            approver: Role::Supervisor,
            tier: 1,
            tier_started_at: at(0),
            deadline_at: at(120),
            created_at: at(0),
            policy: TimeoutPolicy {
                deadline_secs: 7200,
                on_timeout,
            },
            decision: None,
            questions: vec![],
        }
    }

    #[test]
    fn escalation_ids_read_with_or_without_the_e() {
        assert_eq!(EscalationId::parse("E3").unwrap(), EscalationId(3));
        assert_eq!(EscalationId::parse("e12").unwrap(), EscalationId(12));
        assert_eq!(EscalationId::parse("7").unwrap(), EscalationId(7));
        assert!(EscalationId::parse("E0").is_err());
        assert!(EscalationId::parse("case 3").is_err());
        assert_eq!(EscalationId(3).to_string(), "E3");
        assert_eq!(serde_json::to_string(&EscalationId(3)).unwrap(), "\"E3\"");
    }

    #[test]
    fn the_requester_can_never_decide_their_own_escalation() {
        let mut e = escalation(OnTimeout::Deny);
        let err = e
            .approve(&person("ana"), Some(Role::Admin), None, None, at(5))
            .unwrap_err();
        assert!(matches!(err, DecideError::OwnRequest { .. }));
        assert!(err.to_string().contains("four eyes"));
        assert!(e.is_open());
    }

    #[test]
    fn only_the_approver_role_or_higher_decides() {
        let mut e = escalation(OnTimeout::Deny);
        let err = e
            .approve(&person("sofia"), Some(Role::Senior), None, None, at(5))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "E3 needs a supervisor or higher to decide; ask one of them in the escalations channel"
        );
        assert!(e.may_decide("ben", None).is_err());
        assert_eq!(
            e.approve(&person("root"), Some(Role::Admin), None, None, at(5)),
            Ok(Some(Money(18_000)))
        );
    }

    #[test]
    fn an_escalation_is_decided_once() {
        let mut e = escalation(OnTimeout::Deny);
        e.approve(
            &person("sam"),
            Some(Role::Supervisor),
            Some("150"),
            Some("ok".into()),
            at(6),
        )
        .unwrap();
        let err = e
            .deny(&person("max"), Some(Role::Supervisor), "no".into(), at(7))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "E3 is already approved by SAM at 2026-11-27 14:06 UTC; nothing changed"
        );
        let d = e.decision.as_ref().unwrap();
        assert_eq!(d.amount, Some(Money(15_000)));
        assert_eq!(e.status(), EscalationStatus::Approved);
    }

    #[test]
    fn a_partial_approval_is_below_the_request_and_never_above_it() {
        let mut e = escalation(OnTimeout::Deny);
        let err = e
            .approve(&person("sam"), Some(Role::Supervisor), Some("200"), None, at(6))
            .unwrap_err();
        assert!(matches!(err, DecideError::MoreThanAsked { .. }), "{err}");
        let err = e
            .approve(&person("sam"), Some(Role::Supervisor), Some("-3"), None, at(6))
            .unwrap_err();
        assert!(matches!(err, DecideError::Amount(_)), "{err}");
        let mut plain = escalation(OnTimeout::Deny);
        plain.request = None;
        assert!(matches!(
            plain.approve(&person("sam"), Some(Role::Supervisor), Some("5"), None, at(6)),
            Err(DecideError::NoAmountAsked { .. })
        ));
        assert_eq!(
            plain.approve(&person("sam"), Some(Role::Supervisor), None, None, at(6)),
            Ok(None)
        );
    }

    #[test]
    fn a_question_is_answered_by_the_requester_only() {
        let mut e = escalation(OnTimeout::Deny);
        e.ask(
            &person("sam"),
            Some(Role::Supervisor),
            "was the tow booked by us?".into(),
            at(3),
        )
        .unwrap();
        assert!(e.open_question().is_some());
        assert!(!e.answer(&person("ben"), "no idea", at(4)));
        assert!(e.answer(&person("ana"), "yes, by roadside", at(5)));
        assert!(e.open_question().is_none());
        assert_eq!(e.questions[0].answer.as_ref().unwrap().text, "yes, by roadside");
        assert!(!e.answer(&person("ana"), "again", at(6)));
        assert!(e.is_open(), "a question does not decide");
    }

    #[test]
    fn reminders_fall_at_fractions_of_the_time_to_the_deadline() {
        let e = escalation(OnTimeout::Deny);
        let times = e.reminder_times(&[0.9, 0.5, 1.5, 0.0]);
        assert_eq!(times, vec![(0.5, at(60)), (0.9, at(108))]);
    }

    #[test]
    fn next_tier_moves_to_the_higher_role_with_a_fresh_deadline_then_denies() {
        let mut e = escalation(OnTimeout::NextTier {
            approver: Role::Admin,
        });
        assert_eq!(e.time_out(at(120)), TimeoutOutcome::MovedTo(Role::Admin));
        assert_eq!((e.approver, e.tier), (Role::Admin, 2));
        assert_eq!(e.deadline_at, at(240));
        assert!(e.is_open());
        assert_eq!(e.reminder_times(&[0.5]), vec![(0.5, at(180))]);
        assert_eq!(e.time_out(at(240)), TimeoutOutcome::Denied);
        let d = e.decision.as_ref().unwrap();
        assert!(d.timed_out);
        assert_eq!(d.by.name, TIMEOUT_ACTOR);
    }

    #[test]
    fn grant_up_to_grants_the_request_up_to_the_cap() {
        let mut e = escalation(OnTimeout::GrantUpTo { cap: Money(15_000) });
        assert_eq!(e.time_out(at(120)), TimeoutOutcome::Approved(Some(Money(15_000))));
        assert_eq!(e.status(), EscalationStatus::Approved);
        let mut small = escalation(OnTimeout::GrantUpTo { cap: Money(15_000) });
        small.request.as_mut().unwrap().amount = Money(9_000);
        assert_eq!(
            small.time_out(at(120)),
            TimeoutOutcome::Approved(Some(Money(9_000)))
        );
        let mut deny = escalation(OnTimeout::Deny);
        assert_eq!(deny.time_out(at(120)), TimeoutOutcome::Denied);
    }

    #[test]
    fn nobody_approves_their_own_request_so_approvers_ask_the_next_role() {
        assert_eq!(approver_for(Role::Agent, Role::Supervisor), Role::Supervisor);
        assert_eq!(approver_for(Role::Supervisor, Role::Supervisor), Role::Admin);
        assert_eq!(approver_for(Role::Admin, Role::Senior), Role::Admin);
    }
}
