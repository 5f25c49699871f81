//! SLA clocks in SQLite: one row per target per case, written in the same flush as the case.

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnection, SqliteRow};

use super::{chunks, json_list, json_rows, secs, secs_opt, values_sql, Tx, Writer};
use crate::domain::sla::{Clock, Outcome};
use crate::domain::CaseId;
use crate::store::records::{decode, ClockRow};
use crate::store::StoreError;

const CLOCK_COLUMNS: usize = 18;

/// The columns of a `sla_clocks` row in [`ClockRow`] order, for `json_array(...)`.
pub(super) const CLOCK_FIELDS: &str = "id, case_id, target, policy, budget_secs, business_hours, warn_at, started_at,
    elapsed_secs, running_since, due_at, warn_due_at, stopped_at, outcome, margin_secs, warned, breach_noticed, agent";

fn clock_from_row(r: &SqliteRow) -> Result<Clock, StoreError> {
    decode(r, ClockRow::into_clock)
}

/// Clocks from the JSON array of [`CLOCK_FIELDS`] arrays that a batch read built.
pub(super) fn clocks_from_json(text: &str) -> Result<Vec<Clock>, StoreError> {
    json_rows::<ClockRow>(text)?
        .into_iter()
        .map(ClockRow::into_clock)
        .collect()
}

/// Writes staged clocks (new and changed) many to a statement; called by the flush.
pub(super) async fn write_clocks(
    w: &mut Writer<'_>,
    conn: &mut SqliteConnection,
    clocks: &[Clock],
) -> Result<(), StoreError> {
    for chunk in chunks(clocks) {
        let n = chunk.len();
        w.sql.push_str(&values_sql(
            "INSERT INTO sla_clocks (id, case_id, target, policy, budget_secs, business_hours, warn_at, started_at,
                 elapsed_secs, running_since, due_at, warn_due_at, stopped_at, outcome, margin_secs, warned,
                 breach_noticed, agent)",
            CLOCK_COLUMNS,
            n,
        ));
        w.sql.push_str(
            " ON CONFLICT (id) DO UPDATE SET policy = excluded.policy, budget_secs = excluded.budget_secs,
                business_hours = excluded.business_hours, warn_at = excluded.warn_at,
                elapsed_secs = excluded.elapsed_secs, running_since = excluded.running_since,
                due_at = excluded.due_at, warn_due_at = excluded.warn_due_at, stopped_at = excluded.stopped_at,
                outcome = excluded.outcome, margin_secs = excluded.margin_secs, warned = excluded.warned,
                breach_noticed = excluded.breach_noticed, agent = excluded.agent",
        );
        for c in chunk {
            w.bind(c.id)?;
            w.bind(c.case_id.0)?;
            w.bind(c.target.as_str())?;
            w.bind(c.policy.clone())?;
            w.bind(c.budget_secs)?;
            w.bind(c.business_hours)?;
            w.bind(c.warn_at)?;
            w.bind(secs(c.started_at))?;
            w.bind(c.elapsed_secs)?;
            w.bind(secs_opt(c.running_since))?;
            w.bind(secs_opt(c.due_at))?;
            w.bind(secs_opt(c.warn_due_at))?;
            w.bind(secs_opt(c.stopped_at))?;
            w.bind(c.outcome.map(Outcome::as_str))?;
            w.bind(c.margin_secs)?;
            w.bind(c.warned)?;
            w.bind(c.breach_noticed)?;
            w.bind(c.agent.clone())?;
        }
        w.end(conn).await?;
    }
    Ok(())
}

fn id_list(ids: impl Iterator<Item = i64>) -> String {
    let ids: Vec<String> = ids.map(|i| i.to_string()).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    json_list(&ids)
}

/// The running clocks whose breach is not noticed yet: each has a next point, the time
/// [`NEXT_POINT`] names (the `sla_clocks_next_point` index).
const WITH_NEXT_POINT: &str = "breach_noticed = 0 AND due_at IS NOT NULL";

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
    /// Running clocks whose next point is due at `now`, soonest first (see the port).
    pub async fn due_clocks(&mut self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Clock>, StoreError> {
        let rows = self
            .flush_then(
                &format!(
                    "SELECT * FROM sla_clocks WHERE {WITH_NEXT_POINT} AND {NEXT_POINT} <= ?
                     ORDER BY {NEXT_POINT}, id LIMIT ?"
                ),
                |w| {
                    w.bind(secs(now))?;
                    w.bind(limit)
                },
            )
            .await?;
        rows.iter().map(clock_from_row).collect()
    }

    /// The id for the next new SLA clock: after the highest stored one (read once per
    /// transaction). The write transaction holds SQLite's write lock, so nobody else can take
    /// one meanwhile.
    pub async fn take_clock_id(&mut self) -> Result<i64, StoreError> {
        let next = match self.next_clock_id {
            Some(next) => next,
            None => {
                let max: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM sla_clocks")
                    .fetch_one(self.tx.conn().await?)
                    .await?;
                max + 1
            }
        };
        self.next_clock_id = Some(next + 1);
        Ok(next)
    }

    /// The clocks of these cases, oldest first per case.
    pub async fn clocks(&mut self, cases: &[CaseId]) -> Result<Vec<Clock>, StoreError> {
        let ids = id_list(cases.iter().map(|c| c.0));
        // One JSON array rather than a row per clock (sqlx hands rows over one by one).
        let rows = self
            .flush_then(
                &format!(
                    "SELECT json_group_array(json_array({CLOCK_FIELDS}) ORDER BY case_id, id) AS clocks
                     FROM sla_clocks WHERE case_id IN (SELECT value FROM json_each(?))"
                ),
                |w| w.bind(ids),
            )
            .await?;
        match rows.first() {
            Some(r) => clocks_from_json(sqlx::Row::get(r, "clocks")),
            None => Ok(Vec::new()),
        }
    }

    pub async fn clocks_by_id(&mut self, ids: &[i64]) -> Result<Vec<Clock>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query("SELECT * FROM sla_clocks WHERE id IN (SELECT value FROM json_each(?))")
            .bind(id_list(ids.iter().copied()))
            .fetch_all(self.tx.conn().await?)
            .await?;
        rows.iter().map(clock_from_row).collect()
    }

    /// Running clocks of active cases whose warning point has passed at `now` (at risk or
    /// breached), soonest due first: the ones that warned or breached (`sla_clocks_flagged`)
    /// and the ones whose next point passed without a sweep yet (`sla_clocks_next_point`).
    pub async fn clocks_at_risk(&mut self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Clock>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(&format!(
            "SELECT k.* FROM sla_clocks k JOIN cases c ON c.id = k.case_id
             WHERE k.id IN (SELECT id FROM sla_clocks WHERE running_since IS NOT NULL AND (warned OR breach_noticed)
                            UNION ALL
                            SELECT id FROM sla_clocks WHERE {WITH_NEXT_POINT} AND {NEXT_POINT} <= ?)
               AND k.running_since IS NOT NULL AND c.status IN ('new', 'open', 'waiting', 'escalated')
             ORDER BY k.due_at, k.id LIMIT ?"
        ))
        .bind(secs(now))
        .bind(limit)
        .fetch_all(self.tx.conn().await?)
        .await?;
        rows.iter().map(clock_from_row).collect()
    }
}
