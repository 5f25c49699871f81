//! Cases and customers: the unit of work, its life cycle rules and its timeline events.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::types::{CaseId, Handle, Network, ParseError, Priority, Segment};

/// Where a case is in its life: new -> open (claimed) -> waiting -> resolved -> closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatus {
    New,
    Open,
    Waiting,
    Escalated,
    Resolved,
    Closed,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 6] = [
        CaseStatus::New,
        CaseStatus::Open,
        CaseStatus::Waiting,
        CaseStatus::Escalated,
        CaseStatus::Resolved,
        CaseStatus::Closed,
    ];

    /// The statuses that still need work.
    pub const ACTIVE: [CaseStatus; 4] = [
        CaseStatus::New,
        CaseStatus::Open,
        CaseStatus::Waiting,
        CaseStatus::Escalated,
    ];

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(input.trim()))
            .ok_or(ParseError {
                what: "status",
                input: input.to_string(),
                hint: "use new, open, waiting, escalated, resolved or closed",
            })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::New => "new",
            CaseStatus::Open => "open",
            CaseStatus::Waiting => "waiting",
            CaseStatus::Escalated => "escalated",
            CaseStatus::Resolved => "resolved",
            CaseStatus::Closed => "closed",
        }
    }

    /// Still needs work: a new mention from the customer joins it.
    pub fn is_active(self) -> bool {
        Self::ACTIVE.contains(&self)
    }
}

impl std::fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The person who owns a case: an opaque actor id (a Discord user id, a console name) and a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub id: String,
    pub name: String,
}

/// A customer: a handle on a network with a segment and notes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Customer {
    pub id: i64,
    pub network: Network,
    pub handle: Handle,
    pub display_name: Option<String>,
    pub segment: Segment,
    pub notes: String,
    pub created_at: DateTime<Utc>,
}

impl Customer {
    /// The name to greet the customer by.
    pub fn greeting_name(&self) -> String {
        self.display_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| match self.handle.is_unparsed() {
                // Nobody knows who wrote it: greet without a made-up handle.
                true => "there".to_string(),
                false => self.handle.to_string(),
            })
    }
}

/// A case as stored: everything the card and the rules need.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    pub id: CaseId,
    pub customer_id: i64,
    pub status: CaseStatus,
    pub priority: Priority,
    pub priority_reasons: Vec<String>,
    pub category: String,
    pub title: String,
    pub tags: Vec<String>,
    /// What was granted on the case, as the card shows it (`Rental credit: 50 USD`); the
    /// grants themselves, which budgets and caps count, are stored on their own.
    pub granted: Vec<String>,
    /// The surge incident the case is grouped under (its posts go to the incident's thread).
    pub incident_id: Option<i64>,
    pub owner: Option<Owner>,
    pub mention_count: i64,
    pub unparsed: bool,
    pub feed_channel_id: Option<String>,
    pub feed_message_id: Option<String>,
    pub thread_ref: Option<String>,
    pub card_ref: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub last_customer_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A refused change to a case; `Display` tells the user what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseRuleError {
    #[error("case {case} is already claimed by {owner}; ask them or a senior to reassign it")]
    AlreadyClaimed { case: CaseId, owner: String },
    #[error("case {case} is {status}; reopen it first with `/case reopen`")]
    NotActive { case: CaseId, status: CaseStatus },
    #[error("case {case} is not resolved or closed, so there is nothing to reopen")]
    NotReopenable { case: CaseId },
    #[error("case {case} is already resolved")]
    AlreadyResolved { case: CaseId },
    #[error("{what} cannot be empty")]
    Empty { what: &'static str },
    #[error("{what} is too long ({len} characters); keep it under {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
}

/// Longest note, reply or tag text accepted from an agent.
pub const MAX_AGENT_TEXT: usize = 4000;

/// Checks free text typed by an agent: not blank, not huge. Returns it trimmed.
pub fn agent_text(what: &'static str, text: &str) -> Result<String, CaseRuleError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(CaseRuleError::Empty { what });
    }
    let len = t.chars().count();
    if len > MAX_AGENT_TEXT {
        return Err(CaseRuleError::TooLong {
            what,
            len,
            max: MAX_AGENT_TEXT,
        });
    }
    Ok(t.to_string())
}

/// Normalises a tag: lower case, spaces become dashes, at most 40 characters.
pub fn tag(input: &str) -> Result<String, ParseError> {
    let t: String = input
        .trim()
        .trim_start_matches('#')
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("-");
    if t.is_empty() || t.chars().count() > 40 {
        return Err(ParseError {
            what: "tag",
            input: input.to_string(),
            hint: "use a short word or phrase (at most 40 characters)",
        });
    }
    Ok(t)
}

/// What happens to a customer's latest case when they write again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The case is still active: the mention joins it.
    Merge(CaseId),
    /// The case was resolved within the reopen window: it reopens.
    Reopen(CaseId),
    /// No case, or too old: a new case opens.
    New,
}

/// Decides where a new mention goes, given the customer's latest case.
pub fn place_mention(
    latest: Option<(CaseId, CaseStatus, Option<DateTime<Utc>>)>,
    reopen_window: Duration,
    now: DateTime<Utc>,
) -> Placement {
    match latest {
        Some((id, status, _)) if status.is_active() => Placement::Merge(id),
        Some((id, CaseStatus::Resolved, Some(resolved_at))) if now - resolved_at <= reopen_window => {
            Placement::Reopen(id)
        }
        _ => Placement::New,
    }
}

impl Case {
    /// Refuses work on a resolved or closed case.
    pub fn require_active(&self) -> Result<(), CaseRuleError> {
        if self.status.is_active() {
            Ok(())
        } else {
            Err(CaseRuleError::NotActive {
                case: self.id,
                status: self.status,
            })
        }
    }

    /// Claims the case for `who`. Claiming your own case again is harmless.
    pub fn claim(&mut self, who: &Owner) -> Result<(), CaseRuleError> {
        self.require_active()?;
        match &self.owner {
            Some(owner) if owner.id != who.id => Err(CaseRuleError::AlreadyClaimed {
                case: self.id,
                owner: owner.name.clone(),
            }),
            _ => {
                self.owner = Some(who.clone());
                if self.status == CaseStatus::New {
                    self.status = CaseStatus::Open;
                }
                Ok(())
            }
        }
    }

    /// Gives the case to `to`, whoever owned it before.
    pub fn assign(&mut self, to: &Owner) -> Result<(), CaseRuleError> {
        self.require_active()?;
        self.owner = Some(to.clone());
        if self.status == CaseStatus::New {
            self.status = CaseStatus::Open;
        }
        Ok(())
    }

    /// Records a public reply: the first one stops the first-response clock; waiting ends.
    pub fn record_reply(&mut self, now: DateTime<Utc>) -> Result<(), CaseRuleError> {
        self.require_active()?;
        self.first_response_at.get_or_insert(now);
        if self.status == CaseStatus::New {
            self.status = CaseStatus::Open;
        }
        Ok(())
    }

    /// Marks the case as waiting on the customer.
    pub fn wait_on_customer(&mut self) -> Result<(), CaseRuleError> {
        self.require_active()?;
        self.status = CaseStatus::Waiting;
        Ok(())
    }

    pub fn resolve(&mut self, now: DateTime<Utc>) -> Result<(), CaseRuleError> {
        if self.status == CaseStatus::Resolved {
            return Err(CaseRuleError::AlreadyResolved { case: self.id });
        }
        self.require_active()?;
        self.status = CaseStatus::Resolved;
        self.resolved_at = Some(now);
        Ok(())
    }

    /// Hands the decision to an approver; the case waits on them.
    pub fn escalate(&mut self) -> Result<(), CaseRuleError> {
        self.require_active()?;
        self.status = CaseStatus::Escalated;
        Ok(())
    }

    /// The last open escalation was decided: work goes on with the owner (or the queue).
    pub fn settle_escalation(&mut self) {
        if self.status == CaseStatus::Escalated {
            self.status = if self.owner.is_some() {
                CaseStatus::Open
            } else {
                CaseStatus::New
            };
        }
    }

    /// Reopens a resolved or closed case; the owner keeps it.
    pub fn reopen(&mut self) -> Result<(), CaseRuleError> {
        if self.status.is_active() {
            return Err(CaseRuleError::NotReopenable { case: self.id });
        }
        self.status = if self.owner.is_some() {
            CaseStatus::Open
        } else {
            CaseStatus::New
        };
        self.resolved_at = None;
        Ok(())
    }

    /// A new mention from the customer: counts it; a waiting case becomes open again.
    pub fn customer_wrote(&mut self, at: DateTime<Utc>) {
        self.mention_count += 1;
        self.last_customer_at = self.last_customer_at.max(at);
        if self.status == CaseStatus::Waiting {
            self.status = CaseStatus::Open;
        }
    }

    /// Adds tags not already present; returns the ones added.
    pub fn add_tags(&mut self, tags: &[String]) -> Vec<String> {
        let added: Vec<String> = tags.iter().filter(|t| !self.tags.contains(t)).cloned().collect();
        self.tags.extend(added.iter().cloned());
        added
    }
}

#[cfg(test)]
impl Case {
    /// A new P3 case of customer 1, opened at `at`, for tests.
    pub(crate) fn sample(id: CaseId, at: DateTime<Utc>) -> Case {
        Case {
            id,
            customer_id: 1,
            status: CaseStatus::New,
            priority: Priority::P3,
            priority_reasons: vec![],
            category: "general".into(),
            title: "t".into(),
            tags: vec![],
            granted: vec![],
            incident_id: None,
            owner: None,
            mention_count: 1,
            unparsed: false,
            feed_channel_id: None,
            feed_message_id: None,
            thread_ref: None,
            card_ref: None,
            opened_at: at,
            updated_at: at,
            first_response_at: None,
            last_customer_at: at,
            resolved_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + h * 3600, 0).unwrap()
    }

    fn case() -> Case {
        Case::sample(CaseId(1), at(0))
    }

    fn owner(id: &str) -> Owner {
        Owner {
            id: id.into(),
            name: id.to_uppercase(),
        }
    }

    #[test]
    fn a_second_claim_is_refused_naming_the_owner() {
        let mut c = case();
        c.claim(&owner("ana")).unwrap();
        assert_eq!(c.status, CaseStatus::Open);
        let err = c.claim(&owner("ben")).unwrap_err();
        assert_eq!(
            err,
            CaseRuleError::AlreadyClaimed {
                case: CaseId(1),
                owner: "ANA".into()
            }
        );
        assert!(err.to_string().contains("ANA"));
        c.claim(&owner("ana")).unwrap();
    }

    #[test]
    fn the_first_reply_starts_the_response_clock_once() {
        let mut c = case();
        c.record_reply(at(1)).unwrap();
        c.record_reply(at(2)).unwrap();
        assert_eq!(c.first_response_at, Some(at(1)));
    }

    #[test]
    fn a_resolved_case_refuses_work_until_reopened() {
        let mut c = case();
        c.resolve(at(1)).unwrap();
        assert!(matches!(
            c.claim(&owner("ana")),
            Err(CaseRuleError::NotActive { .. })
        ));
        assert!(matches!(
            c.resolve(at(2)),
            Err(CaseRuleError::AlreadyResolved { .. })
        ));
        c.reopen().unwrap();
        assert_eq!(c.status, CaseStatus::New);
        assert_eq!(c.resolved_at, None);
        assert!(c.reopen().is_err());
    }

    #[test]
    fn a_customer_writing_again_ends_waiting() {
        let mut c = case();
        c.wait_on_customer().unwrap();
        c.customer_wrote(at(3));
        assert_eq!(c.status, CaseStatus::Open);
        assert_eq!(c.mention_count, 2);
        assert_eq!(c.last_customer_at, at(3));
    }

    #[test]
    fn mentions_merge_into_active_cases_and_reopen_recent_ones() {
        let w = Duration::hours(72);
        assert_eq!(place_mention(None, w, at(0)), Placement::New);
        assert_eq!(
            place_mention(Some((CaseId(4), CaseStatus::Waiting, None)), w, at(0)),
            Placement::Merge(CaseId(4))
        );
        assert_eq!(
            place_mention(Some((CaseId(4), CaseStatus::Resolved, Some(at(0)))), w, at(71)),
            Placement::Reopen(CaseId(4))
        );
        assert_eq!(
            place_mention(Some((CaseId(4), CaseStatus::Resolved, Some(at(0)))), w, at(73)),
            Placement::New
        );
        assert_eq!(
            place_mention(Some((CaseId(4), CaseStatus::Closed, Some(at(0)))), w, at(1)),
            Placement::New
        );
    }

    #[test]
    fn a_decided_escalation_hands_the_case_back_to_its_owner() {
        let mut c = case();
        c.escalate().unwrap();
        c.settle_escalation();
        assert_eq!(c.status, CaseStatus::New);
        c.claim(&owner("ana")).unwrap();
        c.escalate().unwrap();
        c.settle_escalation();
        assert_eq!(c.status, CaseStatus::Open);
        c.resolve(at(1)).unwrap();
        c.settle_escalation();
        assert_eq!(c.status, CaseStatus::Resolved, "a resolved case stays resolved");
    }

    #[test]
    fn tags_are_normalised_and_not_repeated() {
        assert_eq!(tag(" Flash Sale ").unwrap(), "flash-sale");
        assert!(tag("   ").is_err());
        let mut c = case();
        assert_eq!(c.add_tags(&["a".into(), "b".into()]), vec!["a", "b"]);
        assert_eq!(c.add_tags(&["b".into(), "c".into()]), vec!["c"]);
    }

    #[test]
    fn agent_text_must_not_be_blank_or_huge() {
        assert!(matches!(
            agent_text("note", "  "),
            Err(CaseRuleError::Empty { .. })
        ));
        assert!(matches!(
            agent_text("note", &"x".repeat(5000)),
            Err(CaseRuleError::TooLong { .. })
        ));
        assert_eq!(agent_text("note", " hi ").unwrap(), "hi");
    }
}
