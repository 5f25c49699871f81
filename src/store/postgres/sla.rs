//! SLA clocks in PostgreSQL: one row per target per case, written in the same flush as the case.

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnection, PgRow};

use super::Tx;
use crate::domain::sla::{Clock, Outcome};
use crate::domain::CaseId;
use crate::store::records::{decode, ClockRow};
use crate::store::StoreError;

pub(super) fn clock_from_row(r: &PgRow) -> Result<Clock, StoreError> {
    decode(r, ClockRow::into_clock)
}

/// Writes staged clocks (new and changed; each id once) in one statement.
pub(super) async fn write_clocks(conn: &mut PgConnection, clocks: Vec<Clock>) -> Result<(), StoreError> {
    if clocks.is_empty() {
        return Ok(());
    }
    let c = &clocks;
    sqlx::query(
        "INSERT INTO sla_clocks (id, case_id, target, policy, budget_secs, business_hours, warn_at, started_at,
             elapsed_secs, running_since, due_at, warn_due_at, stopped_at, outcome, margin_secs, warned,
             breach_noticed, agent)
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::boolean[],
             $7::float8[], $8::timestamptz[], $9::bigint[], $10::timestamptz[], $11::timestamptz[],
             $12::timestamptz[], $13::timestamptz[], $14::text[], $15::bigint[], $16::boolean[], $17::boolean[],
             $18::text[])
         ON CONFLICT (id) DO UPDATE SET policy = EXCLUDED.policy, budget_secs = EXCLUDED.budget_secs,
             business_hours = EXCLUDED.business_hours, warn_at = EXCLUDED.warn_at,
             elapsed_secs = EXCLUDED.elapsed_secs, running_since = EXCLUDED.running_since,
             due_at = EXCLUDED.due_at, warn_due_at = EXCLUDED.warn_due_at, stopped_at = EXCLUDED.stopped_at,
             outcome = EXCLUDED.outcome, margin_secs = EXCLUDED.margin_secs, warned = EXCLUDED.warned,
             breach_noticed = EXCLUDED.breach_noticed, agent = EXCLUDED.agent",
    )
    .bind(c.iter().map(|c| c.id).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.case_id.0).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.target.as_str()).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.policy.as_str()).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.budget_secs).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.business_hours).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.warn_at).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.started_at).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.elapsed_secs).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.running_since).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.due_at).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.warn_due_at).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.stopped_at).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.outcome.map(Outcome::as_str)).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.margin_secs).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.warned).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.breach_noticed).collect::<Vec<_>>())
    .bind(c.iter().map(|c| c.agent.as_deref()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// The running clocks whose breach is not noticed yet: each has a next point, the time
/// [`NEXT_POINT`] names (the `sla_clocks_next_point` index).
const WITH_NEXT_POINT: &str = "NOT breach_noticed AND due_at IS NOT NULL";

/// A running clock's next point: its warning while that is due, else its breach.
const NEXT_POINT: &str = "COALESCE(warn_due_at, due_at)";

impl super::Store {
    /// When the next point of a running clock is due, if any.
    pub async fn next_clock_point(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT {NEXT_POINT} FROM sla_clocks WHERE {WITH_NEXT_POINT} ORDER BY {NEXT_POINT} LIMIT 1"
        ))
        .fetch_optional(&self.pool)
        .await?)
    }
}

impl Tx {
    /// Running clocks whose next point is due at `now`, soonest first (see the port). The
    /// transaction holds the write lock, so no other sweep reads them until it commits.
    pub async fn due_clocks(&mut self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Clock>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM sla_clocks WHERE {WITH_NEXT_POINT} AND {NEXT_POINT} <= $1
             ORDER BY {NEXT_POINT}, id LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(clock_from_row).collect()
    }

    /// As SQLite's: after the highest stored id, read once per transaction; the write lock
    /// keeps anybody else from taking one meanwhile.
    pub async fn take_clock_id(&mut self) -> Result<i64, StoreError> {
        let next = match self.next_clock_id {
            Some(next) => next,
            None => {
                let max: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0)::bigint FROM sla_clocks")
                    .fetch_one(&mut *self.tx)
                    .await?;
                max + 1
            }
        };
        self.next_clock_id = Some(next + 1);
        Ok(next)
    }

    pub async fn clocks(&mut self, cases: &[CaseId]) -> Result<Vec<Clock>, StoreError> {
        self.flush().await?;
        let ids: Vec<i64> = cases.iter().map(|c| c.0).collect();
        let rows = sqlx::query("SELECT * FROM sla_clocks WHERE case_id = ANY($1) ORDER BY case_id, id")
            .bind(ids)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(clock_from_row).collect()
    }

    pub async fn clocks_by_id(&mut self, ids: &[i64]) -> Result<Vec<Clock>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query("SELECT * FROM sla_clocks WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(clock_from_row).collect()
    }

    pub async fn clocks_at_risk(&mut self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Clock>, StoreError> {
        self.flush().await?;
        // As SQLite's: the flagged clocks and the ones whose next point passed.
        let rows = sqlx::query(&format!(
            "SELECT k.* FROM sla_clocks k JOIN cases c ON c.id = k.case_id
             WHERE k.id IN (SELECT id FROM sla_clocks WHERE running_since IS NOT NULL AND (warned OR breach_noticed)
                            UNION ALL
                            SELECT id FROM sla_clocks WHERE {WITH_NEXT_POINT} AND {NEXT_POINT} <= $1)
               AND k.running_since IS NOT NULL AND c.status IN ('new', 'open', 'waiting', 'escalated')
             ORDER BY k.due_at, k.id LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(clock_from_row).collect()
    }
}
