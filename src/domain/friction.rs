//! The friction report: for every playbook remedy and requester role, how often its limit
//! needed a supervisor, and the limit that would have let agents grant most of what was
//! approved anyway — the evidence a team lead needs to raise a limit.

use std::collections::BTreeMap;

use serde::Serialize;

use super::escalation::{Decision, Escalation, EscalationStatus};
use super::types::{Money, Role};

/// How often one limit needed a decision: one row per playbook, remedy and requester role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrictionRow {
    pub playbook: String,
    pub remedy: String,
    pub role: Role,
    /// The requester role's own limit (the lowest seen, i.e. for standard customers).
    pub limit: Option<Money>,
    pub unit: String,
    pub requests: u32,
    /// Approved by a person.
    pub approved: u32,
    /// Denied by a person.
    pub denied: u32,
    /// Decided by the timeout policy.
    pub timed_out: u32,
    pub median_requested: Option<Money>,
    /// From request to a person's decision.
    pub median_decision_minutes: Option<f64>,
    /// The limit that would have let the requester grant at least 80% of what people approved
    /// on their own; `None` when nothing was approved or the limit already allows it.
    pub suggested_limit: Option<Money>,
}

/// The share of approved amounts a suggested limit must cover.
pub const SUGGESTED_LIMIT_SHARE: f64 = 0.8;

/// The friction report over escalations that asked for a remedy.
pub fn friction(escalations: &[Escalation]) -> Vec<FrictionRow> {
    let mut groups: BTreeMap<(String, &'static str, Role), Vec<&Escalation>> = BTreeMap::new();
    for e in escalations {
        if let Some(r) = &e.request {
            groups
                .entry((e.playbook.clone(), r.remedy.as_str(), e.requester_role))
                .or_default()
                .push(e);
        }
    }
    let mut rows: Vec<FrictionRow> = groups
        .into_iter()
        .map(|((playbook, remedy, role), list)| {
            let by_people: Vec<&Decision> = list
                .iter()
                .filter_map(|e| e.decision.as_ref())
                .filter(|d| !d.timed_out)
                .collect();
            let count = |outcome| by_people.iter().filter(|d| d.outcome == outcome).count() as u32;
            let limit = list.iter().filter_map(|e| e.requester_limit).min();
            let mut requested: Vec<i64> = list
                .iter()
                .filter_map(|e| e.request.as_ref().map(|r| r.amount.0))
                .collect();
            let mut minutes: Vec<f64> = list
                .iter()
                .filter_map(|e| {
                    let d = e.decision.as_ref().filter(|d| !d.timed_out)?;
                    Some((d.at - e.created_at).num_seconds() as f64 / 60.0)
                })
                .collect();
            let mut approved: Vec<i64> = by_people
                .iter()
                .filter(|d| d.outcome == EscalationStatus::Approved)
                .filter_map(|d| d.amount.map(|m| m.0))
                .collect();
            approved.sort_unstable();
            let suggested = nearest_rank(&approved, SUGGESTED_LIMIT_SHARE)
                .map(|cents| Money((cents + 99) / 100 * 100))
                .filter(|s| limit.is_none_or(|l| *s > l));
            FrictionRow {
                unit: list[0]
                    .request
                    .as_ref()
                    .map(|r| r.unit.clone())
                    .unwrap_or_default(),
                playbook,
                remedy: remedy.to_string(),
                role,
                limit,
                requests: list.len() as u32,
                approved: count(EscalationStatus::Approved),
                denied: count(EscalationStatus::Denied),
                timed_out: list
                    .iter()
                    .filter(|e| e.decision.as_ref().is_some_and(|d| d.timed_out))
                    .count() as u32,
                median_requested: median_i64(&mut requested).map(Money),
                median_decision_minutes: median_f64(&mut minutes),
                suggested_limit: suggested,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then_with(|| (&a.playbook, &a.remedy, a.role).cmp(&(&b.playbook, &b.remedy, b.role)))
    });
    rows
}

/// The smallest value such that at least `share` of `sorted` is at or below it.
fn nearest_rank(sorted: &[i64], share: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (share * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

/// The median (the mean of the middle two for an even count, rounded down).
pub fn median_i64(values: &mut [i64]) -> Option<i64> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2),
    }
}

/// The median of floats (the mean of the middle two for an even count).
pub fn median_f64(values: &mut [f64]) -> Option<f64> {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::case::Owner;
    use crate::domain::escalation::{EscalationId, Request, TimeoutPolicy};
    use crate::domain::playbook::{OnTimeout, RemedyKind};
    use crate::domain::CaseId;
    use chrono::{DateTime, Duration, Utc};

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
    fn friction_counts_decisions_and_suggests_a_limit_covering_most_approvals() {
        let mut history = Vec::new();
        for (i, (asked, outcome)) in [
            (180, Some(("approved", 180, 10))),
            (150, Some(("approved", 150, 20))),
            (200, Some(("approved", 160, 30))),
            (130, Some(("approved", 130, 40))),
            (400, Some(("denied", 0, 50))),
            (170, None),
            (140, Some(("timeout", 140, 120))),
        ]
        .into_iter()
        .enumerate()
        {
            let mut e = escalation(OnTimeout::GrantUpTo { cap: Money(15_000) });
            e.id = EscalationId(i as i64 + 1);
            e.request.as_mut().unwrap().amount = Money(asked * 100);
            match outcome {
                Some(("approved", amount, minutes)) => {
                    e.approve(
                        &person("sam"),
                        Some(Role::Supervisor),
                        Some(&amount.to_string()),
                        None,
                        at(minutes),
                    )
                    .unwrap();
                }
                Some(("denied", _, minutes)) => {
                    e.deny(&person("sam"), Some(Role::Supervisor), "no".into(), at(minutes))
                        .unwrap();
                }
                Some(_) => {
                    e.time_out(at(120));
                }
                None => {}
            }
            history.push(e);
        }
        let mut senior = escalation(OnTimeout::Deny);
        senior.requester_role = Role::Senior;
        history.push(senior);
        let rows = friction(&history);
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert_eq!(
            (r.playbook.as_str(), r.remedy.as_str(), r.role),
            ("roadside-breakdown", "fee_waiver", Role::Agent)
        );
        assert_eq!((r.requests, r.approved, r.denied, r.timed_out), (7, 4, 1, 1));
        assert_eq!(r.limit, Some(Money(12_000)));
        assert_eq!(r.median_requested, Some(Money(17_000)));
        assert_eq!(r.median_decision_minutes, Some(30.0));
        // Approved 130, 150, 160, 180: 80% of them are covered by 180.
        assert_eq!(r.suggested_limit, Some(Money(18_000)));
        assert_eq!(rows[1].role, Role::Senior);
        assert_eq!(rows[1].suggested_limit, None);
    }
}
