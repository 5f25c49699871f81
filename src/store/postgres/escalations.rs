//! Escalations, grants and timers in PostgreSQL. As in SQLite, an escalation row changes
//! only while it is open and a timer is claimed by the statement that marks it fired.

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::Row;

use super::{Store, Tx};
use crate::domain::escalation::{Escalation, EscalationId, EscalationStatus};
use crate::domain::offer::Grant;
use crate::domain::playbook::{OnTimeout, RemedyKind};
use crate::domain::{CaseId, Money};
use crate::store::records::{decode, EscalationRow, GrantRecord, TimerRow, ESCALATION_COLUMNS};
use crate::store::{CaseCards, EscalationFilter, NewTimer, StoreError, Timer};

fn escalation_from_row(r: &PgRow) -> Result<Escalation, StoreError> {
    decode(r, EscalationRow::into_escalation)
}

fn questions_json(e: &Escalation) -> Result<String, StoreError> {
    serde_json::to_string(&e.questions).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) async fn write_grants(conn: &mut PgConnection, grants: &[Grant]) -> Result<(), StoreError> {
    if grants.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO grants (case_id, remedy, remedy_label, unit, amount, granted_by_id, granted_by_name,
             budget_actor_id, escalation_id, rule, granted_at)
         SELECT a, b, c, d, e, f, g, h, i, j, k FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[],
             $5::bigint[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::timestamptz[])
             WITH ORDINALITY AS r(a, b, c, d, e, f, g, h, i, j, k, ord) ORDER BY ord",
    )
    .bind(grants.iter().map(|g| g.case_id.0).collect::<Vec<_>>())
    .bind(grants.iter().map(|g| g.remedy.as_str()).collect::<Vec<_>>())
    .bind(grants.iter().map(|g| g.label.as_str()).collect::<Vec<_>>())
    .bind(grants.iter().map(|g| g.unit.as_str()).collect::<Vec<_>>())
    .bind(grants.iter().map(|g| g.amount.0).collect::<Vec<_>>())
    .bind(
        grants
            .iter()
            .map(|g| g.granted_by.id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        grants
            .iter()
            .map(|g| g.granted_by.name.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        grants
            .iter()
            .map(|g| g.budget_actor.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        grants
            .iter()
            .map(|g| g.escalation.map(|e| e.0))
            .collect::<Vec<_>>(),
    )
    .bind(grants.iter().map(|g| g.rule.as_str()).collect::<Vec<_>>())
    .bind(grants.iter().map(|g| g.granted_at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the stored pending timers of these escalations cancelled (one statement per
/// cancellation time).
pub(super) async fn write_cancellations(
    conn: &mut PgConnection,
    cancelled: &[(i64, DateTime<Utc>)],
) -> Result<(), StoreError> {
    for same_time in cancelled.chunk_by(|a, b| a.1 == b.1) {
        let ids: Vec<i64> = same_time.iter().map(|(id, _)| *id).collect();
        sqlx::query(
            "UPDATE timers SET fired_at = $1, outcome = 'cancelled' WHERE escalation_id = ANY($2) AND fired_at IS NULL",
        )
        .bind(same_time[0].1)
        .bind(ids)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub(super) async fn write_timers(
    conn: &mut PgConnection,
    timers: &[(NewTimer, DateTime<Utc>)],
) -> Result<(), StoreError> {
    if timers.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO timers (kind, case_id, escalation_id, tier, detail, due_at, created_at, clock_id)
         SELECT a, b, c, d, e, f, g, h FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
             $6::timestamptz[], $7::timestamptz[], $8::bigint[])
             WITH ORDINALITY AS r(a, b, c, d, e, f, g, h, ord) ORDER BY ord",
    )
    .bind(timers.iter().map(|(t, _)| t.kind.as_str()).collect::<Vec<_>>())
    .bind(timers.iter().map(|(t, _)| t.case_id.map(|c| c.0)).collect::<Vec<_>>())
    .bind(timers.iter().map(|(t, _)| t.escalation.map(|e| e.0)).collect::<Vec<_>>())
    .bind(timers.iter().map(|(t, _)| t.tier.map(i64::from)).collect::<Vec<_>>())
    .bind(timers.iter().map(|(t, _)| t.detail.to_string()).collect::<Vec<_>>())
    .bind(timers.iter().map(|(t, _)| t.due_at).collect::<Vec<_>>())
    .bind(timers.iter().map(|(_, at)| *at).collect::<Vec<_>>())
    .bind(timers.iter().map(|(t, _)| t.clock).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Binds the changing columns of an escalation, in the order of the `UPDATE`s below.
macro_rules! bind_changes {
    ($q:expr, $e:expr) => {{
        let e = $e;
        let d = e.decision.as_ref();
        $q.bind(e.status().as_str())
            .bind(e.approver.as_str())
            .bind(e.tier as i64)
            .bind(e.tier_started_at)
            .bind(e.deadline_at)
            .bind(d.map(|d| d.by.id.clone()))
            .bind(d.map(|d| d.by.name.clone()))
            .bind(d.map(|d| d.at))
            .bind(d.and_then(|d| d.amount).map(|m| m.0))
            .bind(d.and_then(|d| d.note.clone()))
            .bind(d.is_some_and(|d| d.timed_out))
            .bind(questions_json(e)?)
            .bind(e.id.0)
    }};
}

impl Tx {
    pub async fn insert_escalation(&mut self, e: &Escalation) -> Result<EscalationId, StoreError> {
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
                 next_approver, questions)
             VALUES ($1, 'open', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
                 $20, $21, $22, $23) RETURNING id",
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
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(EscalationId(id))
    }

    pub async fn update_escalation(&mut self, e: &Escalation) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE escalations SET status = $1, approver = $2, tier = $3, tier_started_at = $4, deadline_at = $5,
                 decided_by_id = $6, decided_by_name = $7, decided_at = $8, decided_amount = $9,
                 decision_note = $10, timed_out = $11, questions = $12
             WHERE id = $13 AND status = 'open'",
        );
        let done = bind_changes!(q, e).execute(&mut *self.tx).await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn update_escalations(&mut self, list: &[&Escalation]) -> Result<bool, StoreError> {
        let mut all = true;
        for e in list {
            all &= self.update_escalation(e).await?;
        }
        Ok(all)
    }

    pub async fn escalation(&mut self, id: EscalationId) -> Result<Option<Escalation>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(escalation_from_row).transpose()
    }

    pub async fn escalation_for_decision(
        &mut self,
        id: EscalationId,
    ) -> Result<Option<(Escalation, CaseCards)>, StoreError> {
        self.flush().await?;
        let row = sqlx::query(&format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let e = escalation_from_row(&row)?;
        let cards = self.cards_of(&[e.case_id.0], false).await?;
        Ok(Some((e, cards)))
    }

    pub async fn escalations_by_id(&mut self, ids: &[EscalationId]) -> Result<Vec<Escalation>, StoreError> {
        let ids: Vec<i64> = ids.iter().map(|i| i.0).collect();
        let rows = sqlx::query(&format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE id = ANY($1)"
        ))
        .bind(ids)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(escalation_from_row).collect()
    }

    pub async fn case_escalations(&mut self, case: CaseId) -> Result<Vec<Escalation>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE case_id = $1 ORDER BY id"
        ))
        .bind(case.0)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(escalation_from_row).collect()
    }

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
             WHERE ($1::timestamptz IS NULL OR created_at >= $1) AND ($2::timestamptz IS NULL OR created_at < $2){status}
             ORDER BY {order} LIMIT $3"
        ))
        .bind(filter.from)
        .bind(filter.to)
        .bind(filter.limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(escalation_from_row).collect()
    }

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
            "SELECT (SELECT COALESCE(SUM(amount), 0)::bigint FROM grants WHERE case_id = $1 AND remedy = $2),
                    (SELECT COALESCE(SUM(amount), 0)::bigint FROM grants
                      WHERE budget_actor_id = $3 AND unit = $4 AND granted_at >= $5 AND granted_at < $6)",
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

    pub async fn case_grants(&mut self, case: CaseId) -> Result<Vec<Grant>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query("SELECT * FROM grants WHERE case_id = $1 ORDER BY id")
            .bind(case.0)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(|r| decode(r, GrantRecord::into_grant)).collect()
    }

    /// Claims up to `limit` due timers by marking them fired; `SKIP LOCKED` lets a sweep of
    /// another process pass over rows this one holds.
    pub async fn claim_due_timers(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Timer>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "UPDATE timers SET fired_at = $1, outcome = 'fired'
             WHERE id IN (SELECT id FROM timers WHERE fired_at IS NULL AND due_at <= $1
                          ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
             RETURNING id, kind, case_id, escalation_id, tier, detail, due_at, clock_id",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut timers = rows
            .iter()
            .map(|r| decode(r, TimerRow::into_timer))
            .collect::<Result<Vec<_>, _>>()?;
        timers.sort_by_key(|t| (t.spec.due_at, t.id));
        Ok(timers)
    }
}

impl Store {
    pub async fn next_timer_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT due_at FROM timers WHERE fired_at IS NULL ORDER BY due_at LIMIT 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn pending_timers(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM timers WHERE fired_at IS NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn escalation_ref(&self, id: EscalationId) -> Result<Option<String>, StoreError> {
        let r: Option<Option<String>> =
            sqlx::query_scalar("SELECT message_ref FROM escalations WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(r.flatten())
    }

    pub async fn set_escalation_ref(&self, id: EscalationId, message_ref: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE escalations SET message_ref = $1 WHERE id = $2")
            .bind(message_ref)
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
