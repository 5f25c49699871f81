//! The digest's reads in PostgreSQL: the same aggregates as SQLite's (`GROUP BY` in SQL),
//! durations with `EXTRACT(EPOCH ...)`.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::Tx;
use crate::store::records::{
    decode, decode_all, DigestCaseRecord, DigestIncidentRecord, NotableRecord, SlaRecord, TimedRecord,
    VolumeRecord, DIGEST_CASE_COLUMNS, DIGEST_INCIDENT_COLUMNS,
};
use crate::store::{
    DigestCase, IncidentRow, NotableRow, PendingDigest, SlaRow, StoreError, TimedCase, VolumeRow,
};

fn count(r: &PgRow, i: usize) -> u64 {
    r.get::<i64, _>(i).max(0) as u64
}

impl Tx {
    pub async fn digest_mentions(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<VolumeRow>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT m.network, c.category, COUNT(*) AS count FROM mentions m JOIN cases c ON c.id = m.case_id
             WHERE m.received_at >= $1 AND m.received_at < $2 GROUP BY 1, 2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *self.tx)
        .await?;
        decode_all(&rows, VolumeRecord::into_row)
    }

    pub async fn digest_opened(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<VolumeRow>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT cu.network, c.category, COUNT(*) AS count FROM cases c JOIN customers cu ON cu.id = c.customer_id
             WHERE c.opened_at >= $1 AND c.opened_at < $2 GROUP BY 1, 2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *self.tx)
        .await?;
        decode_all(&rows, VolumeRecord::into_row)
    }

    pub async fn digest_opened_by_category(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT category, COUNT(*) FROM cases WHERE opened_at >= $1 AND opened_at < $2 GROUP BY 1",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *self.tx)
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), count(r, 1))).collect())
    }

    pub async fn digest_opened_per_slot(
        &mut self,
        slots: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<Vec<(usize, String, u64)>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT (d.i - 1)::bigint, c.category, COUNT(*)
             FROM UNNEST($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS d(a, b, i)
             JOIN cases c ON c.opened_at >= d.a AND c.opened_at < d.b GROUP BY 1, 2",
        )
        .bind(slots.iter().map(|s| s.0).collect::<Vec<_>>())
        .bind(slots.iter().map(|s| s.1).collect::<Vec<_>>())
        .fetch_all(&mut *self.tx)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<i64, _>(0).max(0) as usize, r.get(1), count(r, 2)))
            .collect())
    }

    pub async fn digest_backlog(&mut self, at: DateTime<Utc>) -> Result<u64, StoreError> {
        self.flush().await?;
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM cases WHERE opened_at < $1) - (SELECT COUNT(*) FROM cases WHERE resolved_at < $1)",
        )
        .bind(at)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(count(&row, 0))
    }

    pub async fn digest_first_responses(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<TimedCase>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT priority, EXTRACT(EPOCH FROM opened_at)::bigint AS opened_secs,
                    (EXTRACT(EPOCH FROM first_response_at) - EXTRACT(EPOCH FROM opened_at))::bigint AS seconds
             FROM cases WHERE opened_at >= $1 AND opened_at < $2 AND first_response_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *self.tx)
        .await?;
        decode_all(&rows, TimedRecord::into_timed)
    }

    pub async fn digest_resolutions(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<TimedCase>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT c.priority, EXTRACT(EPOCH FROM c.opened_at)::bigint AS opened_secs,
                    (EXTRACT(EPOCH FROM r.at) - EXTRACT(EPOCH FROM c.opened_at))::bigint AS seconds
             FROM (SELECT case_id, MAX(at) AS at FROM case_events
                   WHERE kind = 'resolved' AND kind NOT IN ('opened', 'mention') AND at >= $1 AND at < $2 GROUP BY case_id) r
             JOIN cases c ON c.id = r.case_id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *self.tx)
        .await?;
        decode_all(&rows, TimedRecord::into_timed)
    }

    pub async fn digest_sla(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SlaRow>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT k.target, c.priority, k.agent, k.outcome, COUNT(*) AS count FROM sla_clocks k
             JOIN cases c ON c.id = k.case_id
             WHERE k.stopped_at >= $1 AND k.stopped_at < $2 AND k.outcome IN ('met', 'breached')
             GROUP BY 1, 2, 3, 4",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *self.tx)
        .await?;
        decode_all(&rows, SlaRecord::into_row)
    }

    pub async fn digest_incidents(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<IncidentRow>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(&format!(
            "SELECT {DIGEST_INCIDENT_COLUMNS} FROM incidents
             WHERE opened_at < $1 AND (ended_at IS NULL OR ended_at >= $2) ORDER BY opened_at, id"
        ))
        .bind(to)
        .bind(from)
        .fetch_all(&mut *self.tx)
        .await?;
        decode_all(&rows, DigestIncidentRecord::into_row)
    }

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
                  WHERE stopped_at >= $1 AND stopped_at < $2 AND outcome = 'breached'
                 UNION ALL
                 SELECT case_id, 'breached:' || target FROM sla_clocks
                  WHERE running_since IS NOT NULL AND (warned OR breach_noticed) AND breach_noticed
                    AND due_at >= $1 AND due_at < $2
                 UNION ALL
                 SELECT id, 'p1' FROM cases WHERE opened_at >= $1 AND opened_at < $2 AND priority = 'P1'
                 UNION ALL
                 SELECT case_id, 'reopened' FROM case_events WHERE kind = 'reopened' AND kind NOT IN ('opened', 'mention') AND at >= $1 AND at < $2
             )
             SELECT c.id, c.priority, c.category, c.status, c.title, c.thread_ref,
                    string_agg(DISTINCT n.reason, ',') AS reasons, COUNT(*) OVER () AS total
             FROM notable n JOIN cases c ON c.id = n.case_id
             GROUP BY c.id ORDER BY c.priority, c.id LIMIT $3",
        )
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        let total = match rows.first() {
            Some(r) => decode(r, |n: NotableRecord| Ok(n.total()))?,
            None => 0,
        };
        Ok((decode_all(&rows, NotableRecord::into_row)?, total))
    }

    pub async fn digest_cases(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DigestCase>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(&format!(
            "SELECT {DIGEST_CASE_COLUMNS}
             FROM cases c JOIN customers cu ON cu.id = c.customer_id
             WHERE c.opened_at >= $1 AND c.opened_at < $2 ORDER BY c.opened_at, c.id"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(&mut *self.tx)
        .await?;
        decode_all(&rows, DigestCaseRecord::into_row)
    }

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
            "INSERT INTO digests (period_start, period_end, timezone, queued_at, late) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (period_start) DO NOTHING",
        )
        .bind(from)
        .bind(to)
        .bind(timezone)
        .bind(now)
        .bind(late)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn digest_posted(&mut self, from: DateTime<Utc>) -> Result<bool, StoreError> {
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM digests WHERE period_start = $1")
            .bind(from)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(found.is_some())
    }

    pub async fn schedule_digest_timer(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.flush().await?;
        let detail = serde_json::json!({ "from": from, "to": to }).to_string();
        let done = sqlx::query(
            "INSERT INTO timers (kind, detail, due_at, created_at) VALUES ('digest', $1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(detail)
        .bind(to)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn pending_digest_timers(&mut self) -> Result<Vec<PendingDigest>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT id, due_at FROM timers WHERE kind = 'digest' AND fired_at IS NULL ORDER BY due_at, id",
        )
        .fetch_all(&mut *self.tx)
        .await?;
        Ok(rows
            .iter()
            .map(|r| PendingDigest {
                timer_id: r.get(0),
                due_at: r.get(1),
            })
            .collect())
    }

    pub async fn cancel_timers(&mut self, ids: &[i64], now: DateTime<Utc>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE timers SET fired_at = $1, outcome = 'cancelled' WHERE id = ANY($2) AND fired_at IS NULL",
        )
        .bind(now)
        .bind(ids)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
