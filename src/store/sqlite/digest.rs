//! The digest's reads in SQLite: aggregate queries (`GROUP BY` in SQL, so a year of cases
//! stays a few thousand rows), the period's cases for the CSV, and the weekly schedule's rows.
//!
//! Times are stored as Unix seconds ([`super::secs`]), so a range `>= ? AND < ?` can use the
//! indexes of migration 0005 and a duration is a difference.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{json_list, secs, Tx};
use crate::store::records::{
    decode, decode_all, DigestCaseRecord, DigestIncidentRecord, NotableRecord, SlaRecord, TimedRecord,
    VolumeRecord, DIGEST_CASE_COLUMNS, DIGEST_INCIDENT_COLUMNS,
};
use crate::store::StoreError;
use crate::store::{DigestCase, IncidentRow, NotableRow, PendingDigest, SlaRow, TimedCase, VolumeRow};

fn count(r: &sqlx::sqlite::SqliteRow, i: usize) -> u64 {
    r.get::<i64, _>(i).max(0) as u64
}

impl Tx {
    /// Mentions received in `[from, to)`, by network and by the category of their case.
    pub async fn digest_mentions(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<VolumeRow>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT m.network, c.category, COUNT(*) AS count FROM mentions m JOIN cases c ON c.id = m.case_id
             WHERE m.received_at >= ? AND m.received_at < ? GROUP BY 1, 2",
        )
        .bind(secs(from))
        .bind(secs(to))
        .fetch_all(self.tx.conn().await?)
        .await?;
        decode_all(&rows, VolumeRecord::into_row)
    }

    /// Cases opened in `[from, to)`, by their customer's network and their category.
    pub async fn digest_opened(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<VolumeRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT cu.network, c.category, COUNT(*) AS count FROM cases c JOIN customers cu ON cu.id = c.customer_id
             WHERE c.opened_at >= ? AND c.opened_at < ? GROUP BY 1, 2",
        )
        .bind(secs(from))
        .bind(secs(to))
        .fetch_all(self.tx.conn().await?)
        .await?;
        decode_all(&rows, VolumeRecord::into_row)
    }

    /// Cases opened in `[from, to)` by category (the index alone answers it).
    pub async fn digest_opened_by_category(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT category, COUNT(*) FROM cases INDEXED BY cases_by_opening
             WHERE opened_at >= ? AND opened_at < ? GROUP BY 1",
        )
        .bind(secs(from))
        .bind(secs(to))
        .fetch_all(self.tx.conn().await?)
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), count(r, 1))).collect())
    }

    /// Cases opened in each `(from, to)` slot, by category: `(slot index, category, count)`.
    pub async fn digest_opened_per_slot(
        &mut self,
        slots: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<Vec<(usize, String, u64)>, StoreError> {
        let bounds: Vec<(i64, i64)> = slots.iter().map(|(a, b)| (secs(*a), secs(*b))).collect();
        let bounds = serde_json::to_string(&bounds).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // CROSS JOIN keeps the few slots as the outer loop: one index range per slot.
        let rows = sqlx::query(
            "SELECT d.key, c.category, COUNT(*) FROM json_each(?) d
             CROSS JOIN cases c INDEXED BY cases_by_opening
             WHERE c.opened_at >= d.value ->> 0 AND c.opened_at < d.value ->> 1 GROUP BY 1, 2",
        )
        .bind(bounds)
        .fetch_all(self.tx.conn().await?)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<i64, _>(0).max(0) as usize, r.get(1), count(r, 2)))
            .collect())
    }

    /// Cases active at `at`: opened before it and not resolved before it (a case resolved
    /// then and reopened since counts as active: `resolved_at` is cleared on reopening).
    pub async fn digest_backlog(&mut self, at: DateTime<Utc>) -> Result<u64, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM cases INDEXED BY cases_by_opening WHERE opened_at < ?1)
                  - (SELECT COUNT(*) FROM cases INDEXED BY cases_by_resolution WHERE resolved_at < ?1)",
        )
        .bind(secs(at))
        .fetch_one(self.tx.conn().await?)
        .await?;
        Ok(count(&row, 0))
    }

    /// Cases opened in `[from, to)` whose first public reply came before `to`, with the time
    /// from opening to that reply.
    pub async fn digest_first_responses(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<TimedCase>, StoreError> {
        let rows = sqlx::query(
            "SELECT priority, opened_at AS opened_secs,
                    first_response_at - opened_at AS seconds
             FROM cases INDEXED BY cases_by_opening
             WHERE opened_at >= ?1 AND opened_at < ?2 AND first_response_at < ?2",
        )
        .bind(secs(from))
        .bind(secs(to))
        .fetch_all(self.tx.conn().await?)
        .await?;
        decode_all(&rows, TimedRecord::into_timed)
    }

    /// Cases resolved in `[from, to)` (a `resolved` event in the period), with the time from
    /// opening to their last resolution in the period.
    pub async fn digest_resolutions(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<TimedCase>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT c.priority, c.opened_at AS opened_secs, r.at - c.opened_at AS seconds
             FROM (SELECT case_id, MAX(at) AS at FROM case_events
                   WHERE kind = 'resolved' AND kind NOT IN ('opened', 'mention') AND at >= ? AND at < ? GROUP BY case_id) r
             JOIN cases c ON c.id = r.case_id",
        )
        .bind(secs(from))
        .bind(secs(to))
        .fetch_all(self.tx.conn().await?)
        .await?;
        decode_all(&rows, TimedRecord::into_timed)
    }

    /// SLA clocks stopped in `[from, to)` as met or breached.
    pub async fn digest_sla(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SlaRow>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT k.target, c.priority, k.agent, k.outcome, COUNT(*) AS count FROM sla_clocks k
             JOIN cases c ON c.id = k.case_id
             WHERE k.stopped_at >= ? AND k.stopped_at < ? AND k.outcome IN ('met', 'breached')
             GROUP BY 1, 2, 3, 4",
        )
        .bind(secs(from))
        .bind(secs(to))
        .fetch_all(self.tx.conn().await?)
        .await?;
        decode_all(&rows, SlaRecord::into_row)
    }

    /// Surge incidents that were open at some time in `[from, to)`, oldest first.
    pub async fn digest_incidents(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<IncidentRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DIGEST_INCIDENT_COLUMNS} FROM incidents
             WHERE opened_at < ? AND (ended_at IS NULL OR ended_at >= ?) ORDER BY opened_at, id"
        ))
        .bind(secs(to))
        .bind(secs(from))
        .fetch_all(self.tx.conn().await?)
        .await?;
        decode_all(&rows, DigestIncidentRecord::into_row)
    }

    /// Cases with an SLA breach in the period (a clock stopped breached, or a running one
    /// whose breach was due), P1 cases opened in it and cases reopened in it: the most
    /// urgent `limit` of them, and how many there are in all.
    pub async fn digest_notable(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<(Vec<NotableRow>, u64), StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "WITH notable (case_id, reason) AS (
                 SELECT case_id, 'breached:' || target FROM sla_clocks
                  WHERE stopped_at >= ?1 AND stopped_at < ?2 AND outcome = 'breached'
                 UNION ALL
                 SELECT case_id, 'breached:' || target FROM sla_clocks
                  WHERE running_since IS NOT NULL AND (warned OR breach_noticed) AND breach_noticed
                    AND due_at >= ?1 AND due_at < ?2
                 UNION ALL
                 SELECT id, 'p1' FROM cases INDEXED BY cases_by_opening
                  WHERE opened_at >= ?1 AND opened_at < ?2 AND priority = 'P1'
                 UNION ALL
                 SELECT case_id, 'reopened' FROM case_events WHERE kind = 'reopened' AND kind NOT IN ('opened', 'mention') AND at >= ?1 AND at < ?2
             )
             SELECT c.id, c.priority, c.category, c.status, c.title, c.thread_ref,
                    group_concat(DISTINCT n.reason) AS reasons, COUNT(*) OVER () AS total
             FROM notable n JOIN cases c ON c.id = n.case_id
             GROUP BY c.id ORDER BY c.priority, c.id LIMIT ?3",
        )
        .bind(secs(from))
        .bind(secs(to))
        .bind(limit)
        .fetch_all(self.tx.conn().await?)
        .await?;
        let total = match rows.first() {
            Some(r) => decode(r, |n: NotableRecord| Ok(n.total()))?,
            None => 0,
        };
        Ok((decode_all(&rows, NotableRecord::into_row)?, total))
    }

    /// Every case opened in `[from, to)`, oldest first (the digest's CSV).
    pub async fn digest_cases(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DigestCase>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(&format!(
            "SELECT {DIGEST_CASE_COLUMNS}
             FROM cases c INDEXED BY cases_by_opening JOIN customers cu ON cu.id = c.customer_id
             WHERE c.opened_at >= ? AND c.opened_at < ? ORDER BY c.opened_at, c.id"
        ))
        .bind(secs(from))
        .bind(secs(to))
        .fetch_all(self.tx.conn().await?)
        .await?;
        decode_all(&rows, DigestCaseRecord::into_row)
    }

    /// Records that the period starting at `from` is posted; false when it already was (by
    /// another process, or before a restart): then nothing may be posted.
    pub async fn record_digest(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        timezone: &str,
        late: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.flush().await?;
        let done = sqlx::query(
            "INSERT INTO digests (period_start, period_end, timezone, queued_at, late) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (period_start) DO NOTHING",
        )
        .bind(secs(from))
        .bind(secs(to))
        .bind(timezone)
        .bind(secs(now))
        .bind(late)
        .execute(self.tx.conn().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether the period starting at `from` was posted.
    pub async fn digest_posted(&mut self, from: DateTime<Utc>) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM digests WHERE period_start = ?")
            .bind(secs(from))
            .fetch_optional(self.tx.conn().await?)
            .await?;
        Ok(found.is_some())
    }

    /// Schedules the digest timer of `[from, to)`, due at `to`, unless one is already pending
    /// for that time (a unique index makes that hold across processes). True when added.
    pub async fn schedule_digest_timer(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.flush().await?;
        let detail = serde_json::json!({ "from": from, "to": to }).to_string();
        let done = sqlx::query(
            "INSERT INTO timers (kind, detail, due_at, created_at) VALUES ('digest', ?, ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(detail)
        .bind(secs(to))
        .bind(secs(now))
        .execute(self.tx.conn().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The digest timers not fired yet, soonest first.
    pub async fn pending_digest_timers(&mut self) -> Result<Vec<PendingDigest>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT id, due_at FROM timers WHERE kind = 'digest' AND fired_at IS NULL ORDER BY due_at, id",
        )
        .fetch_all(self.tx.conn().await?)
        .await?;
        Ok(rows
            .iter()
            .map(|r| PendingDigest {
                timer_id: r.get(0),
                due_at: r.get(1),
            })
            .collect())
    }

    /// Marks these pending timers cancelled (the schedule changed).
    pub async fn cancel_timers(&mut self, ids: &[i64], now: DateTime<Utc>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        sqlx::query(
            "UPDATE timers SET fired_at = ?, outcome = 'cancelled'
             WHERE id IN (SELECT value FROM json_each(?)) AND fired_at IS NULL",
        )
        .bind(secs(now))
        .bind(json_list(&ids))
        .execute(self.tx.conn().await?)
        .await?;
        Ok(())
    }
}
