//! Store queries for operators on PostgreSQL: `carebot doctor`'s database probe, `/healthz`'s
//! ping, `/metrics`' numbers, feed cursors for new channels, and forgetting a customer.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Row};

use super::{Store, Tx, MIGRATOR};
use crate::store::{broken_references, references_query, DbProbe, Erased, OpsSnapshot, StoreError, REMOVED};

/// Timeline detail fields that can carry what a customer wrote or who they are.
const EVENT_TEXT_FIELDS: &str =
    "ARRAY['text', 'note', 'question', 'answer', 'reason', 'handle', 'name', 'display_name', 'url', 'title', 'source_id']";

impl Store {
    /// Connects without migrating (never creating anything), reads which migrations are
    /// applied and compares them with the ones this binary carries.
    pub async fn probe(url: &str) -> Result<DbProbe, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(StoreError::Open)?;
        let mut conn = options.connect().await.map_err(StoreError::Open)?;
        let has_table: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&mut conn)
            .await?;
        let rows = if has_table {
            sqlx::query("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&mut conn)
                .await?
        } else {
            vec![]
        };
        let applied: Vec<(i64, bool)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let known: Vec<_> = MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .collect();
        let failed: Vec<i64> = applied.iter().filter(|(_, ok)| !ok).map(|(v, _)| *v).collect();
        let migrated = applied.len() == known.len() && failed.is_empty();
        let broken = if migrated {
            broken_references(&sqlx::query(&references_query()).fetch_one(&mut conn).await?)?
        } else {
            Vec::new()
        };
        Ok(DbProbe::Reachable {
            applied: applied.len(),
            known: known.len(),
            pending: known
                .iter()
                .filter(|m| !applied.iter().any(|(v, _)| *v == m.version))
                .map(|m| format!("{} {}", m.version, m.description))
                .collect(),
            unknown: applied
                .iter()
                .filter(|(v, _)| !known.iter().any(|m| m.version == *v))
                .map(|(v, _)| *v)
                .collect(),
            failed,
            broken,
        })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT 1::bigint")
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn ops_snapshot(&self, now: chrono::DateTime<chrono::Utc>) -> Result<OpsSnapshot, StoreError> {
        use crate::domain::case::CaseStatus;
        let active: Vec<&str> = CaseStatus::ACTIVE.iter().map(|s| s.as_str()).collect();
        let mut conn = self.pool.acquire().await?;
        let open_cases = sqlx::query(
            "SELECT priority, COUNT(*) FROM cases WHERE status = ANY($1) GROUP BY priority ORDER BY priority",
        )
        .bind(active)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
        .collect();
        let outbox = sqlx::query("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE delivered_at IS NULL")
            .fetch_one(&mut *conn)
            .await?;
        let timers_due: i64 =
            sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM timers WHERE fired_at IS NULL AND due_at <= $1)
                      + (SELECT COUNT(*) FROM sla_clocks
                         WHERE NOT breach_noticed AND due_at IS NOT NULL AND COALESCE(warn_due_at, due_at) <= $1)",
            )
                .bind(now)
                .fetch_one(&mut *conn)
                .await?;
        let escalations_open: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM escalations WHERE status = 'open'")
                .fetch_one(&mut *conn)
                .await?;
        let count_kind = |kind: &'static str| {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM case_events WHERE kind = $1 AND kind NOT IN ('opened', 'mention')",
            )
            .bind(kind)
        };
        let sla_warnings = count_kind("sla_warning").fetch_one(&mut *conn).await?;
        let sla_breaches = count_kind("sla_breach").fetch_one(&mut *conn).await?;
        Ok(OpsSnapshot {
            open_cases,
            outbox_backlog: outbox.get(0),
            outbox_oldest: outbox.get(1),
            timers_due,
            escalations_open,
            sla_warnings,
            sla_breaches,
        })
    }

    pub async fn start_feed_cursor(&self, channel_id: &str, message_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO feed_cursors (channel_id, last_message_id) VALUES ($1, $2) ON CONFLICT (channel_id) DO NOTHING",
        )
        .bind(channel_id)
        .bind(message_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl Tx {
    /// As SQLite's [`Tx::erase_customer`]: the same rows changed the same way. PostgreSQL
    /// keeps dead row versions until `VACUUM` (autovacuum) reclaims them.
    pub async fn erase_customer(&mut self, customer_id: i64, pseudonym: &str) -> Result<Erased, StoreError> {
        self.flush().await?;
        let conn = &mut *self.tx;
        let handle: String = sqlx::query_scalar("SELECT handle FROM customers WHERE id = $1")
            .bind(customer_id)
            .fetch_one(&mut *conn)
            .await?;
        let cases: Vec<i64> = sqlx::query_scalar("SELECT id FROM cases WHERE customer_id = $1 ORDER BY id")
            .bind(customer_id)
            .fetch_all(&mut *conn)
            .await?;
        let mut needles: Vec<String> = vec![handle.clone()];
        for r in
            sqlx::query("SELECT text, url, display_name, external_id FROM mentions WHERE customer_id = $1")
                .bind(customer_id)
                .fetch_all(&mut *conn)
                .await?
        {
            for i in 0..4 {
                if let Some(s) = r.get::<Option<String>, _>(i) {
                    needles.push(s);
                }
            }
        }
        let names: Vec<Option<String>> =
            sqlx::query_scalar("SELECT display_name FROM customers WHERE id = $1")
                .bind(customer_id)
                .fetch_all(&mut *conn)
                .await?;
        needles.extend(names.into_iter().flatten());
        let titles: Vec<String> = sqlx::query_scalar("SELECT title FROM cases WHERE customer_id = $1")
            .bind(customer_id)
            .fetch_all(&mut *conn)
            .await?;
        needles.extend(titles);
        needles.retain(|n| n == &handle || n.chars().count() >= 8);
        needles.sort();
        needles.dedup();

        sqlx::query("UPDATE customers SET handle = $1, display_name = NULL, notes = '' WHERE id = $2")
            .bind(pseudonym)
            .bind(customer_id)
            .execute(&mut *conn)
            .await?;
        let mentions = sqlx::query(
            "UPDATE mentions SET handle = $1, display_name = NULL, text = '', url = NULL, external_id = NULL,
                                 source_id = 'erased:' || id
             WHERE customer_id = $2",
        )
        .bind(pseudonym)
        .bind(customer_id)
        .execute(&mut *conn)
        .await?
        .rows_affected() as i64;
        let of_customer = "(SELECT id FROM cases WHERE customer_id = $1)";
        sqlx::query("UPDATE cases SET title = $1 WHERE customer_id = $2")
            .bind(REMOVED)
            .bind(customer_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query(&format!(
            "UPDATE case_events SET detail = (detail::jsonb - {EVENT_TEXT_FIELDS})::text WHERE case_id IN {of_customer}"
        ))
        .bind(customer_id)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "UPDATE escalations SET reason = $1, questions = '[]', decision_note = NULL
             WHERE case_id IN (SELECT id FROM cases WHERE customer_id = $2)",
        )
        .bind(REMOVED)
        .bind(customer_id)
        .execute(&mut *conn)
        .await?;
        let undelivered_dropped = sqlx::query(&format!(
            "DELETE FROM outbox WHERE delivered_at IS NULL AND case_id IN {of_customer}"
        ))
        .bind(customer_id)
        .execute(&mut *conn)
        .await?
        .rows_affected() as i64;
        sqlx::query(&format!(
            "UPDATE outbox SET payload = '{{\"erased\":true}}' WHERE delivered_at IS NOT NULL AND case_id IN {of_customer}"
        ))
        .bind(customer_id)
        .execute(&mut *conn)
        .await?;
        for needle in &needles {
            sqlx::query(
                "UPDATE outbox SET payload = '{\"erased\":true}' WHERE delivered_at IS NOT NULL AND strpos(payload, $1) > 0",
            )
            .bind(needle)
            .execute(&mut *conn)
            .await?;
            sqlx::query("UPDATE incidents SET samples = '[]' WHERE strpos(samples, $1) > 0")
                .bind(needle)
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query("DELETE FROM ignored_posts WHERE strpos(lower(source_id), $1) > 0")
            .bind(format!("/{handle}/"))
            .execute(&mut *conn)
            .await?;
        Ok(Erased {
            cases: cases.into_iter().map(crate::domain::CaseId).collect(),
            mentions,
            undelivered_dropped,
        })
    }
}

impl Store {
    /// Retention, as SQLite's: the text and link of every mention (and the title derived from
    /// it) of the cases no longer active and unchanged since `before`.
    pub async fn purge_mention_texts(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        use crate::domain::case::CaseStatus;
        let active: Vec<&str> = CaseStatus::ACTIVE.iter().map(|s| s.as_str()).collect();
        let old = "SELECT id FROM cases WHERE NOT (status = ANY($1)) AND updated_at < $2";
        let mut tx = self.begin().await?;
        let purged = sqlx::query(&format!(
            "UPDATE mentions SET text = '', url = NULL WHERE (text != '' OR url IS NOT NULL) AND case_id IN ({old})"
        ))
        .bind(&active)
        .bind(before)
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        sqlx::query(&format!(
            "UPDATE cases SET title = $3 WHERE title != $3 AND id IN ({old})"
        ))
        .bind(&active)
        .bind(before)
        .bind(crate::store::TEXT_PURGED)
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await?;
        Ok(purged)
    }
}

impl Store {
    /// As SQLite's: the timers fired or cancelled before `before` go, the newest row stays.
    pub async fn prune_timers(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM timers WHERE fired_at < $1 AND id < (SELECT MAX(id) FROM timers)")
                .bind(before)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }

    /// Nothing to do: PostgreSQL's autovacuum makes the space of deleted rows reusable.
    pub async fn reclaim_space(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
