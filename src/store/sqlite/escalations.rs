//! Escalations, grants and timers in SQLite.
//!
//! Decisions are guarded in SQL as well as in the domain: an escalation row changes only while
//! it is open (`WHERE status = 'open'`), and a timer is claimed by the statement that marks it
//! fired (`WHERE fired_at IS NULL`), so two processes on one database can never decide or fire
//! the same thing twice.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::Row;

use super::{chunk_sizes, json_list, parse_col, values_sql, Store, Tx, Writer};
use crate::domain::case::Owner;
use crate::domain::escalation::{
    Decision, Escalation, EscalationId, EscalationStatus, Question, Request, TimeoutPolicy,
};
use crate::domain::offer::Grant;
use crate::domain::playbook::{OnTimeout, RemedyKind};
use crate::domain::{CaseId, Money, Role};
use crate::store::{EscalationFilter, NewTimer, StoreError, Timer, TimerKind};

const ESCALATION_COLUMNS: &str = "id, case_id, status, reason, playbook, remedy, remedy_label, unit, amount, blocked_rule,
    blocked_by, requester_id, requester_name, requester_role, requester_limit, approver, tier, tier_started_at,
    deadline_at, created_at, deadline_secs, on_timeout, timeout_cap, next_approver, decided_by_id, decided_by_name,
    decided_at, decided_amount, decision_note, timed_out, questions";

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} `{value}`"))
}

fn escalation_from_row(r: &SqliteRow) -> Result<Escalation, StoreError> {
    let remedy: Option<String> = r.get("remedy");
    let request = match remedy {
        Some(kind) => Some(Request {
            remedy: RemedyKind::parse(&kind).ok_or_else(|| corrupt("remedy", &kind))?,
            label: r.get::<Option<String>, _>("remedy_label").unwrap_or_default(),
            unit: r.get::<Option<String>, _>("unit").unwrap_or_default(),
            amount: Money(r.get::<Option<i64>, _>("amount").unwrap_or_default()),
        }),
        None => None,
    };
    let blocked_rule: Option<String> = r.get("blocked_rule");
    let blocked_by: Option<String> = r.get("blocked_by");
    let on_timeout: String = r.get("on_timeout");
    let on_timeout = match on_timeout.as_str() {
        "deny" => OnTimeout::Deny,
        "grant_up_to" => OnTimeout::GrantUpTo {
            cap: Money(r.get::<Option<i64>, _>("timeout_cap").unwrap_or_default()),
        },
        "next_tier" => {
            let next: Option<String> = r.get("next_approver");
            OnTimeout::NextTier {
                approver: parse_col(next.as_deref().unwrap_or(""), Role::parse)?,
            }
        }
        other => return Err(corrupt("on_timeout", other)),
    };
    let status = parse_col(r.get("status"), EscalationStatus::parse)?;
    let decision = match status {
        EscalationStatus::Open => None,
        outcome => {
            let id: Option<String> = r.get("decided_by_id");
            let name: Option<String> = r.get("decided_by_name");
            Some(Decision {
                outcome,
                by: Owner {
                    id: id.clone().unwrap_or_default(),
                    name: name.or(id).unwrap_or_default(),
                },
                at: r
                    .get::<Option<DateTime<Utc>>, _>("decided_at")
                    .ok_or_else(|| corrupt("decided_at of a decided escalation", "NULL"))?,
                amount: r.get::<Option<i64>, _>("decided_amount").map(Money),
                note: r.get("decision_note"),
                timed_out: r.get("timed_out"),
            })
        }
    };
    let questions: String = r.get("questions");
    let questions: Vec<Question> =
        serde_json::from_str(&questions).map_err(|e| StoreError::Corrupt(format!("questions: {e}")))?;
    Ok(Escalation {
        id: EscalationId(r.get("id")),
        case_id: CaseId(r.get("case_id")),
        reason: r.get("reason"),
        playbook: r.get("playbook"),
        request,
        blocked: blocked_rule.zip(blocked_by),
        requester: Owner {
            id: r.get("requester_id"),
            name: r.get("requester_name"),
        },
        requester_role: parse_col(r.get("requester_role"), Role::parse)?,
        requester_limit: r.get::<Option<i64>, _>("requester_limit").map(Money),
        approver: parse_col(r.get("approver"), Role::parse)?,
        tier: r.get::<i64, _>("tier").clamp(1, u32::MAX as i64) as u32,
        tier_started_at: r.get("tier_started_at"),
        deadline_at: r.get("deadline_at"),
        created_at: r.get("created_at"),
        policy: TimeoutPolicy {
            deadline_secs: r.get("deadline_secs"),
            on_timeout,
        },
        decision,
        questions,
    })
}

fn questions_json(e: &Escalation) -> Result<String, StoreError> {
    serde_json::to_string(&e.questions).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn timer_from_row(r: &SqliteRow) -> Result<Timer, StoreError> {
    let detail: String = r.get("detail");
    let kind: &str = r.get("kind");
    Ok(Timer {
        id: r.get("id"),
        spec: NewTimer {
            kind: TimerKind::parse(kind).ok_or_else(|| corrupt("timer kind", kind))?,
            case_id: r.get::<Option<i64>, _>("case_id").map(CaseId),
            escalation: r.get::<Option<i64>, _>("escalation_id").map(EscalationId),
            tier: r
                .get::<Option<i64>, _>("tier")
                .map(|t| t.clamp(0, u32::MAX as i64) as u32),
            detail: serde_json::from_str(&detail)
                .map_err(|e| StoreError::Corrupt(format!("timer detail: {e}")))?,
            due_at: r.get("due_at"),
            clock: r.get("clock_id"),
        },
    })
}

fn grant_from_row(r: &SqliteRow) -> Result<Grant, StoreError> {
    let kind: String = r.get("remedy");
    Ok(Grant {
        case_id: CaseId(r.get("case_id")),
        remedy: RemedyKind::parse(&kind).ok_or_else(|| corrupt("remedy", &kind))?,
        label: r.get("remedy_label"),
        unit: r.get("unit"),
        amount: Money(r.get("amount")),
        granted_by: Owner {
            id: r.get("granted_by_id"),
            name: r.get("granted_by_name"),
        },
        budget_actor: r.get("budget_actor_id"),
        escalation: r.get::<Option<i64>, _>("escalation_id").map(EscalationId),
        rule: r.get("rule"),
        granted_at: r.get("granted_at"),
    })
}

/// Writes buffered grants many to a statement; called by the flush.
pub(super) async fn write_grants<'q>(
    w: &mut Writer<'q>,
    conn: &mut SqliteConnection,
    grants: &'q [Grant],
) -> Result<(), StoreError> {
    let mut rows = grants;
    for n in chunk_sizes(rows.len()) {
        let (chunk, rest) = rows.split_at(n);
        rows = rest;
        w.sql.push_str(&values_sql(
            "INSERT INTO grants (case_id, remedy, remedy_label, unit, amount, granted_by_id, granted_by_name,
                 budget_actor_id, escalation_id, rule, granted_at)",
            11,
            n,
        ));
        for g in chunk {
            w.bind(g.case_id.0)?;
            w.bind(g.remedy.as_str())?;
            w.bind(g.label.as_str())?;
            w.bind(g.unit.as_str())?;
            w.bind(g.amount.0)?;
            w.bind(g.granted_by.id.as_str())?;
            w.bind(g.granted_by.name.as_str())?;
            w.bind(g.budget_actor.as_deref())?;
            w.bind(g.escalation.map(|e| e.0))?;
            w.bind(g.rule.as_str())?;
            w.bind(g.granted_at)?;
        }
        w.end(conn).await?;
    }
    Ok(())
}

/// Marks the stored pending timers of these escalations cancelled (one statement per
/// cancellation time); called by the flush before it writes new timers.
pub(super) async fn write_cancellations(
    w: &mut Writer<'_>,
    conn: &mut SqliteConnection,
    cancelled: &[(i64, DateTime<Utc>)],
) -> Result<(), StoreError> {
    for same_time in cancelled.chunk_by(|a, b| a.1 == b.1) {
        let ids: Vec<i64> = same_time.iter().map(|(id, _)| *id).collect();
        w.sql.push_str(
            "UPDATE timers SET fired_at = ?, outcome = 'cancelled'
             WHERE escalation_id IN (SELECT value FROM json_each(?)) AND fired_at IS NULL",
        );
        w.bind(same_time[0].1)?;
        w.bind(serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into()))?;
        w.end(conn).await?;
    }
    Ok(())
}

impl Tx {
    /// Stores a new escalation (its `id` is ignored) with its packet (the app's JSON of the
    /// case's story, kept as it was when escalated) and returns the id it got.
    pub async fn insert_escalation(
        &mut self,
        e: &Escalation,
        packet: &str,
    ) -> Result<EscalationId, StoreError> {
        self.flush().await?;
        let (cap, next) = match &e.policy.on_timeout {
            OnTimeout::GrantUpTo { cap } => (Some(cap.0), None),
            OnTimeout::NextTier { approver } => (None, Some(approver.as_str())),
            OnTimeout::Deny => (None, None),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO escalations (case_id, status, reason, playbook, remedy, remedy_label, unit, amount,
                 blocked_rule, blocked_by, requester_id, requester_name, requester_role, requester_limit, approver,
                 tier, tier_started_at, deadline_at, created_at, deadline_secs, on_timeout, timeout_cap,
                 next_approver, questions, packet)
             VALUES (?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(e.case_id.0)
        .bind(&e.reason)
        .bind(&e.playbook)
        .bind(e.request.as_ref().map(|r| r.remedy.as_str()))
        .bind(e.request.as_ref().map(|r| r.label.as_str()))
        .bind(e.request.as_ref().map(|r| r.unit.as_str()))
        .bind(e.request.as_ref().map(|r| r.amount.0))
        .bind(e.blocked.as_ref().map(|b| b.0.as_str()))
        .bind(e.blocked.as_ref().map(|b| b.1.as_str()))
        .bind(&e.requester.id)
        .bind(&e.requester.name)
        .bind(e.requester_role.as_str())
        .bind(e.requester_limit.map(|m| m.0))
        .bind(e.approver.as_str())
        .bind(e.tier as i64)
        .bind(e.tier_started_at)
        .bind(e.deadline_at)
        .bind(e.created_at)
        .bind(e.policy.deadline_secs)
        .bind(crate::domain::escalation::policy_name(&e.policy.on_timeout))
        .bind(cap)
        .bind(next)
        .bind(questions_json(e)?)
        .bind(packet)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(EscalationId(id))
    }

    /// Writes back a changed escalation, only if it is still open in the database. Returns
    /// false when it was decided meanwhile (by another transaction): nothing is written then.
    pub async fn update_escalation(&mut self, e: &Escalation) -> Result<bool, StoreError> {
        // No flush first: buffered rows never change escalations and none of them depends on
        // this statement, so they can wait for the next read or the commit.
        let d = e.decision.as_ref();
        let done = sqlx::query(
            "UPDATE escalations SET status = ?, approver = ?, tier = ?, tier_started_at = ?, deadline_at = ?,
                 decided_by_id = ?, decided_by_name = ?, decided_at = ?, decided_amount = ?, decision_note = ?,
                 timed_out = ?, questions = ?
             WHERE id = ? AND status = 'open'",
        )
        .bind(e.status().as_str())
        .bind(e.approver.as_str())
        .bind(e.tier as i64)
        .bind(e.tier_started_at)
        .bind(e.deadline_at)
        .bind(d.map(|d| d.by.id.as_str()))
        .bind(d.map(|d| d.by.name.as_str()))
        .bind(d.map(|d| d.at))
        .bind(d.and_then(|d| d.amount).map(|m| m.0))
        .bind(d.and_then(|d| d.note.as_deref()))
        .bind(d.is_some_and(|d| d.timed_out))
        .bind(questions_json(e)?)
        .bind(e.id.0)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn escalation(&mut self, id: EscalationId) -> Result<Option<Escalation>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE id = ?"
        ))
        .bind(id.0)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(escalation_from_row).transpose()
    }

    /// An escalation with its stored packet, in one round trip.
    pub async fn escalation_with_packet(
        &mut self,
        id: EscalationId,
    ) -> Result<Option<(Escalation, String)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ESCALATION_COLUMNS}, packet FROM escalations WHERE id = ?"
        ))
        .bind(id.0)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|r| Ok((escalation_from_row(&r)?, r.get("packet"))))
            .transpose()
    }

    /// Several escalations in one round trip (in no particular order).
    pub async fn escalations_by_id(&mut self, ids: &[EscalationId]) -> Result<Vec<Escalation>, StoreError> {
        let ids: Vec<String> = ids.iter().map(|i| i.0.to_string()).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let rows = sqlx::query(&format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE id IN (SELECT value FROM json_each(?))"
        ))
        .bind(json_list(&ids))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(escalation_from_row).collect()
    }

    /// The stored packets of these escalations.
    pub async fn escalation_packets(
        &mut self,
        ids: &[EscalationId],
    ) -> Result<HashMap<EscalationId, String>, StoreError> {
        let ids: Vec<String> = ids.iter().map(|i| i.0.to_string()).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let rows =
            sqlx::query("SELECT id, packet FROM escalations WHERE id IN (SELECT value FROM json_each(?))")
                .bind(json_list(&ids))
                .fetch_all(&mut *self.tx)
                .await?;
        Ok(rows.iter().map(|r| (EscalationId(r.get(0)), r.get(1))).collect())
    }

    /// The escalations of a case, oldest first.
    pub async fn case_escalations(&mut self, case: CaseId) -> Result<Vec<Escalation>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE case_id = ? ORDER BY id"
        ))
        .bind(case.0)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(escalation_from_row).collect()
    }

    /// Escalations by status and creation time: open ones by deadline (soonest first), the
    /// others by id.
    pub async fn list_escalations(
        &mut self,
        filter: &EscalationFilter,
    ) -> Result<Vec<Escalation>, StoreError> {
        let status = match filter.status {
            Some(EscalationStatus::Open) => " AND status = 'open'",
            Some(_) => " AND status <> 'open'",
            None => "",
        };
        let order = if filter.status == Some(EscalationStatus::Open) {
            "deadline_at, id"
        } else {
            "id"
        };
        let rows = sqlx::query(&format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations
             WHERE created_at >= COALESCE(?, created_at) AND created_at < COALESCE(?, '9999'){status}
             ORDER BY {order} LIMIT ?"
        ))
        .bind(filter.from)
        .bind(filter.to)
        .bind(filter.limit.unwrap_or(-1))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(escalation_from_row).collect()
    }

    /// Records a granted remedy (buffered until the next read of grants or the commit).
    pub async fn insert_grant(&mut self, g: &Grant) -> Result<(), StoreError> {
        self.pending.grants.push(g.clone());
        Ok(())
    }

    /// What an offer's limits need, in one round trip: granted of `remedy` on `case` by anyone,
    /// and granted by `actor` in `unit` against their budget in `[from, to)`.
    pub async fn offer_totals(
        &mut self,
        case: CaseId,
        remedy: RemedyKind,
        actor: &str,
        unit: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(Money, Money), StoreError> {
        self.flush().await?;
        let row = sqlx::query(
            "SELECT (SELECT COALESCE(SUM(amount), 0) FROM grants WHERE case_id = ? AND remedy = ?),
                    (SELECT COALESCE(SUM(amount), 0) FROM grants
                      WHERE budget_actor_id = ? AND unit = ? AND granted_at >= ? AND granted_at < ?)",
        )
        .bind(case.0)
        .bind(remedy.as_str())
        .bind(actor)
        .bind(unit)
        .bind(from)
        .bind(to)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok((Money(row.get(0)), Money(row.get(1))))
    }

    /// The remedies granted on a case, oldest first.
    pub async fn case_grants(&mut self, case: CaseId) -> Result<Vec<Grant>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query("SELECT * FROM grants WHERE case_id = ? ORDER BY id")
            .bind(case.0)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(grant_from_row).collect()
    }

    /// Schedules a timer (buffered until the next read of timers or the commit).
    pub fn schedule_timer(&mut self, timer: NewTimer, now: DateTime<Utc>) {
        self.pending.timers.push((timer, now));
    }

    /// Cancels the pending timers of an escalation (it was decided or moved on): timers not
    /// written yet are dropped, stored ones are marked cancelled at the next flush, before the
    /// timers scheduled after this call are written.
    pub fn cancel_escalation_timers(&mut self, escalation: EscalationId, now: DateTime<Utc>) {
        self.pending
            .timers
            .retain(|(t, _)| t.escalation != Some(escalation));
        self.pending.cancelled_escalations.push((escalation.0, now));
    }

    /// Claims up to `limit` timers due at `now`, earliest first, by marking them fired in this
    /// transaction: a concurrent sweep cannot claim them too, and a rollback releases them.
    pub async fn claim_due_timers(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Timer>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "UPDATE timers SET fired_at = ?1, outcome = 'fired'
             WHERE id IN (SELECT id FROM timers WHERE fired_at IS NULL AND due_at <= ?1 ORDER BY due_at, id LIMIT ?2)
             RETURNING id, kind, case_id, escalation_id, tier, detail, due_at, clock_id",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut timers = rows.iter().map(timer_from_row).collect::<Result<Vec<_>, _>>()?;
        timers.sort_by_key(|t| (t.spec.due_at, t.id));
        Ok(timers)
    }
}

impl Store {
    /// When the next pending timer is due, if any.
    pub async fn next_timer_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let due: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT due_at FROM timers WHERE fired_at IS NULL ORDER BY due_at LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(due)
    }

    /// How many timers are pending.
    pub async fn pending_timers(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM timers WHERE fired_at IS NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The chat adapter's message of an escalation's packet.
    pub async fn escalation_ref(&self, id: EscalationId) -> Result<Option<String>, StoreError> {
        let r: Option<Option<String>> =
            sqlx::query_scalar("SELECT message_ref FROM escalations WHERE id = ?")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(r.flatten())
    }

    pub async fn set_escalation_ref(&self, id: EscalationId, message_ref: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE escalations SET message_ref = ? WHERE id = ?")
            .bind(message_ref)
            .bind(id.0)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
