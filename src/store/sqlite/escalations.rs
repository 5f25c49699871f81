//! Escalations, grants and timers in SQLite.
//!
//! Decisions are guarded in SQL as well as in the domain: an escalation row changes only while
//! it is open (`WHERE status = 'open'`), and a timer is claimed by the statement that marks it
//! fired (`WHERE fired_at IS NULL`), so two processes on one database can never decide or fire
//! the same thing twice.

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::Row;

use super::{case_cards_sql, chunks, json_rows, secs, secs_opt, values_sql, Store, Tx, Writer};
use crate::domain::escalation::{Escalation, EscalationId, EscalationStatus};
use crate::domain::offer::Grant;
use crate::domain::playbook::{OnTimeout, RemedyKind};
use crate::domain::{CaseId, Money};
use crate::store::records::{decode, EscalationRow, GrantRecord, TimerRow, ESCALATION_COLUMNS};
use crate::store::{CaseCards, EscalationFilter, StoreError, Timer};

fn escalation_from_row(r: &SqliteRow) -> Result<Escalation, StoreError> {
    decode(r, EscalationRow::into_escalation)
}

fn questions_json(e: &Escalation) -> Result<String, StoreError> {
    serde_json::to_string(&e.questions).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Writes buffered grants many to a statement; called by the flush.
pub(super) async fn write_grants<'q>(
    w: &mut Writer<'q>,
    conn: &mut SqliteConnection,
    grants: &'q [Grant],
) -> Result<(), StoreError> {
    for chunk in chunks(grants) {
        let n = chunk.len();
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
            w.bind(secs(g.granted_at))?;
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
        w.bind(secs(same_time[0].1))?;
        w.bind(super::json_list(&ids))?;
        w.end(conn).await?;
    }
    Ok(())
}

impl Tx {
    /// Stores a new escalation (its `id` is ignored) and returns the id it got.
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
             VALUES (?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
        .bind(secs(e.tier_started_at))
        .bind(secs(e.deadline_at))
        .bind(secs(e.created_at))
        .bind(e.policy.deadline_secs)
        .bind(crate::domain::escalation::policy_name(&e.policy.on_timeout))
        .bind(cap)
        .bind(next)
        .bind(questions_json(e)?)
        .fetch_one(self.tx.conn().await?)
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
        .bind(secs(e.tier_started_at))
        .bind(secs(e.deadline_at))
        .bind(d.map(|d| d.by.id.as_str()))
        .bind(d.map(|d| d.by.name.as_str()))
        .bind(d.map(|d| secs(d.at)))
        .bind(d.and_then(|d| d.amount).map(|m| m.0))
        .bind(d.and_then(|d| d.note.as_deref()))
        .bind(d.is_some_and(|d| d.timed_out))
        .bind(questions_json(e)?)
        .bind(e.id.0)
        .execute(self.tx.conn().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Writes back changed escalations (ids unique), each only if it is still open in the
    /// database, in a statement per 128. Returns false when any was decided meanwhile (by
    /// another transaction): the others are written, so the caller rolls back.
    pub async fn update_escalations(&mut self, list: &[&Escalation]) -> Result<bool, StoreError> {
        let mut written = 0;
        for chunk in chunks(list) {
            let n = chunk.len();
            let values = values_sql("", 13, n);
            let sql = format!(
                "UPDATE escalations SET status = v.column2, approver = v.column3, tier = v.column4,
                     tier_started_at = v.column5, deadline_at = v.column6, decided_by_id = v.column7,
                     decided_by_name = v.column8, decided_at = v.column9, decided_amount = v.column10,
                     decision_note = v.column11, timed_out = v.column12, questions = v.column13
                 FROM ({}) AS v
                 WHERE escalations.id = v.column1 AND escalations.status = 'open'",
                values.trim_start()
            );
            let mut q = sqlx::query(&sql);
            for e in chunk {
                let d = e.decision.as_ref();
                q = q
                    .bind(e.id.0)
                    .bind(e.status().as_str())
                    .bind(e.approver.as_str())
                    .bind(e.tier as i64)
                    .bind(secs(e.tier_started_at))
                    .bind(secs(e.deadline_at))
                    .bind(d.map(|d| d.by.id.as_str()))
                    .bind(d.map(|d| d.by.name.as_str()))
                    .bind(d.map(|d| secs(d.at)))
                    .bind(d.and_then(|d| d.amount).map(|m| m.0))
                    .bind(d.and_then(|d| d.note.as_deref()))
                    .bind(d.is_some_and(|d| d.timed_out))
                    .bind(questions_json(e)?);
            }
            written += q.execute(self.tx.conn().await?).await?.rows_affected();
        }
        Ok(written == list.len() as u64)
    }

    pub async fn escalation(&mut self, id: EscalationId) -> Result<Option<Escalation>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE id = ?"
        ))
        .bind(id.0)
        .fetch_optional(self.tx.conn().await?)
        .await?;
        row.as_ref().map(escalation_from_row).transpose()
    }

    /// What a decision on an escalation needs, in one round trip: the escalation and the
    /// [`Tx::cases_at_hand`] of its case.
    pub async fn escalation_for_decision(
        &mut self,
        id: EscalationId,
    ) -> Result<Option<(Escalation, CaseCards)>, StoreError> {
        let sql = format!(
            "SELECT {ESCALATION_COLUMNS}, 1 AS the_escalation FROM escalations WHERE id = ?;\n{}",
            case_cards_sql("SELECT case_id FROM escalations WHERE id = ?", false)
        );
        let rows = self
            .flush_then(&sql, |w| {
                for _ in 0..3 {
                    w.bind(id.0)?;
                }
                Ok(())
            })
            .await?;
        let (mut found, mut cards) = (None, CaseCards::default());
        for r in &rows {
            if r.try_column("the_escalation").is_ok() {
                found = Some(escalation_from_row(r)?);
            } else {
                cards.add(r)?;
            }
        }
        Ok(found.map(|e| (e, cards)))
    }

    /// Several escalations in one round trip (in no particular order), as one JSON array:
    /// for hundreds of them much cheaper than as many rows.
    pub async fn escalations_by_id(&mut self, ids: &[EscalationId]) -> Result<Vec<Escalation>, StoreError> {
        let ids: Vec<i64> = ids.iter().map(|i| i.0).collect();
        let rows: String = sqlx::query_scalar(&format!(
            "SELECT json_group_array(json_array({ESCALATION_COLUMNS})) FROM escalations
             WHERE id IN (SELECT value FROM json_each(?))"
        ))
        .bind(super::json_list(&ids))
        .fetch_one(self.tx.conn().await?)
        .await?;
        json_rows(&rows)?
            .into_iter()
            .map(EscalationRow::into_escalation)
            .collect()
    }

    /// The escalations of a case, oldest first.
    pub async fn case_escalations(&mut self, case: CaseId) -> Result<Vec<Escalation>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE case_id = ? ORDER BY id"
        ))
        .bind(case.0)
        .fetch_all(self.tx.conn().await?)
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
             WHERE created_at >= COALESCE(?, created_at) AND created_at < COALESCE(?, 9223372036854775807){status}
             ORDER BY {order} LIMIT ?"
        ))
        .bind(secs_opt(filter.from))
        .bind(secs_opt(filter.to))
        .bind(filter.limit.unwrap_or(-1))
        .fetch_all(self.tx.conn().await?)
        .await?;
        rows.iter().map(escalation_from_row).collect()
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
        .bind(secs(from))
        .bind(secs(to))
        .fetch_one(self.tx.conn().await?)
        .await?;
        Ok((Money(row.get(0)), Money(row.get(1))))
    }

    /// The remedies granted on a case, oldest first.
    pub async fn case_grants(&mut self, case: CaseId) -> Result<Vec<Grant>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query("SELECT * FROM grants WHERE case_id = ? ORDER BY id")
            .bind(case.0)
            .fetch_all(self.tx.conn().await?)
            .await?;
        rows.iter().map(|r| decode(r, GrantRecord::into_grant)).collect()
    }

    /// Claims up to `limit` timers due at `now`, earliest first, by marking them fired in this
    /// transaction: a concurrent sweep cannot claim them too, and a rollback releases them.
    /// One round trip: the due timers as one JSON array (much cheaper than as many rows), then
    /// the same ones marked; the write transaction (`BEGIN IMMEDIATE`) holds SQLite's write
    /// lock, so nothing changes between the two.
    pub async fn claim_due_timers(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Timer>, StoreError> {
        self.flush().await?;
        // `fetch_all`: a fetch of one row would stop before the second statement.
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT json_group_array(json_array(id, kind, case_id, escalation_id, tier, detail, due_at, clock_id))
             FROM (SELECT * FROM timers WHERE fired_at IS NULL AND due_at <= ?1 ORDER BY due_at, id LIMIT ?2);
             UPDATE timers SET fired_at = ?1, outcome = 'fired'
             WHERE id IN (SELECT id FROM timers WHERE fired_at IS NULL AND due_at <= ?1 ORDER BY due_at, id LIMIT ?2)",
        )
        .bind(secs(now))
        .bind(limit)
        .fetch_all(self.tx.conn().await?)
        .await?;
        let rows = rows
            .first()
            .ok_or_else(|| StoreError::Corrupt("the timer claim returned nothing".into()))?;
        let mut timers = json_rows(rows)?
            .into_iter()
            .map(TimerRow::into_timer)
            .collect::<Result<Vec<_>, _>>()?;
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
            .execute(&mut *self.writer.conn().await?)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};

    use super::*;
    use crate::domain::case::Owner;
    use crate::domain::escalation::{Decision, Question, Request, TimeoutPolicy};
    use crate::domain::Role;
    use crate::store::{NewTimer, TimerKind};

    /// A store with customer 1 and case 1, written raw.
    async fn store_with_a_case() -> Store {
        let store = Store::connect("sqlite::memory:").await.expect("store");
        let mut tx = store.begin().await.expect("begin");
        sqlx::query(
            "INSERT INTO customers (id, network, handle, created_at) VALUES (1, 'twitter', 'dana', ?1);
             INSERT INTO cases (id, customer_id, status, priority, category, title, opened_at, updated_at,
                                last_customer_at)
             VALUES (1, 1, 'escalated', 'P3', 'roadside-breakdown', 'Flat tyre', ?1, ?1, ?1)",
        )
        .bind(secs(Utc::now()))
        .execute(tx.tx.conn().await.expect("begin"))
        .await
        .expect("case");
        tx.commit().await.expect("commit");
        store
    }

    fn escalation(now: DateTime<Utc>) -> Escalation {
        Escalation {
            id: EscalationId(0),
            case_id: CaseId(1),
            reason: "Offer of \"fee waiver\": 180 USD\nplease".into(),
            playbook: "roadside-breakdown".into(),
            request: Some(Request {
                remedy: RemedyKind::FeeWaiver,
                label: "Waive tyre and towing charges".into(),
                unit: "USD".into(),
                amount: Money(18_000),
            }),
            blocked: Some(("role_limit".into(), "above your limit of 120 USD".into())),
            requester: Owner {
                id: "ana".into(),
                name: "Ana".into(),
            },
            requester_role: Role::Agent,
            requester_limit: Some(Money(12_000)),
            approver: Role::Supervisor,
            tier: 1,
            tier_started_at: now,
            deadline_at: now + Duration::seconds(7200),
            created_at: now,
            policy: TimeoutPolicy {
                deadline_secs: 7200,
                on_timeout: OnTimeout::GrantUpTo { cap: Money(15_000) },
            },
            decision: None,
            questions: vec![Question {
                by: Owner {
                    id: "sam".into(),
                    name: "Sam".into(),
                },
                at: now,
                text: "Booking number?".into(),
                answer: None,
            }],
        }
    }

    #[tokio::test]
    async fn a_batch_read_decodes_escalations_as_a_single_read_does() {
        let store = store_with_a_case().await;
        // Stored times are whole seconds, as carebot takes them (`app::wall_clock`).
        let now = crate::app::wall_clock();
        let mut tx = store.begin().await.expect("begin");
        let mut open = escalation(now);
        open.id = tx.insert_escalation(&open).await.expect("insert");
        let mut decided = escalation(now);
        decided.request = None;
        decided.blocked = None;
        decided.policy.on_timeout = OnTimeout::NextTier {
            approver: Role::Admin,
        };
        decided.id = tx.insert_escalation(&decided).await.expect("insert");
        decided.decision = Some(Decision {
            outcome: EscalationStatus::Approved,
            by: Owner {
                id: "sam".into(),
                name: "Sam".into(),
            },
            at: now + Duration::seconds(2),
            amount: Some(Money(15_000)),
            note: None,
            timed_out: true,
        });
        assert!(tx.update_escalations(&[&decided]).await.expect("update"));
        assert!(
            !tx.update_escalations(&[&decided]).await.expect("update"),
            "decided once"
        );
        for e in [&open, &decided] {
            let single = tx.escalation(e.id).await.expect("read").expect("stored");
            assert_eq!(&single, e);
            let batch = tx.escalations_by_id(&[e.id]).await.expect("batch read");
            assert_eq!(batch, vec![single]);
        }
    }

    #[tokio::test]
    async fn a_claimed_timer_is_read_as_it_was_scheduled_and_only_once() {
        let store = store_with_a_case().await;
        // Stored times are whole seconds, as carebot takes them (`app::wall_clock`).
        let now = crate::app::wall_clock();
        let mut tx = store.begin().await.expect("begin");
        let id = tx.insert_escalation(&escalation(now)).await.expect("insert");
        let timer = NewTimer {
            kind: TimerKind::EscalationReminder,
            case_id: Some(CaseId(1)),
            escalation: Some(id),
            tier: Some(1),
            clock: None,
            detail: serde_json::json!({ "fraction": 0.5 }),
            due_at: now + Duration::seconds(1),
        };
        tx.pending.timers.push((timer.clone(), now));
        let claimed = tx
            .claim_due_timers(now + Duration::seconds(2), 10)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        let spec = &claimed[0].spec;
        assert_eq!(
            (spec.kind, spec.case_id, spec.escalation, spec.tier, spec.clock),
            (
                timer.kind,
                timer.case_id,
                timer.escalation,
                timer.tier,
                timer.clock
            )
        );
        assert_eq!((&spec.detail, spec.due_at), (&timer.detail, timer.due_at));
        let again = tx
            .claim_due_timers(now + Duration::seconds(2), 10)
            .await
            .expect("claim");
        assert!(again.is_empty(), "a claimed timer is marked fired");
    }
}
