//! Store queries for operators: `carebot doctor`'s database probe and `/healthz`'s ping.
//! (Kept apart so the PostgreSQL adapter can port them in one place.)

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Row};

use super::conn::TxConn;
use super::{secs, Store, Tx, MIGRATOR};
use crate::store::{
    broken_references, references_query, DbProbe, Erased, OpsSnapshot, StoreError, REMOVED, TEXT_PURGED,
};

impl Store {
    /// Opens the database read-only (never creating it), reads which migrations are applied
    /// and compares them with the ones this binary carries.
    pub async fn probe(url: &str) -> Result<DbProbe, StoreError> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::UnsupportedUrl(crate::config::redact_url(url)));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::Open)?
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(Duration::from_secs(5));
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        if !memory && !options.get_filename().exists() {
            return Ok(DbProbe::Missing);
        }
        let mut conn = options.connect().await.map_err(StoreError::Open)?;
        let has_table: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&mut conn)
        .await?;
        let rows = if has_table > 0 {
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
        let pending = known
            .iter()
            .filter(|m| !applied.iter().any(|(v, _)| *v == m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect();
        let unknown = applied
            .iter()
            .filter(|(v, _)| !known.iter().any(|m| m.version == *v))
            .map(|(v, _)| *v)
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
            pending,
            unknown,
            failed,
            broken,
        })
    }

    /// One round trip to the database (`/healthz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }
}

impl Store {
    /// The numbers `/metrics` shows from the database, each from an index.
    pub async fn ops_snapshot(&self, now: chrono::DateTime<chrono::Utc>) -> Result<OpsSnapshot, StoreError> {
        use crate::domain::case::CaseStatus;
        let active: Vec<&str> = CaseStatus::ACTIVE.iter().map(|s| s.as_str()).collect();
        let placeholders = vec!["?"; active.len()].join(", ");
        let sql = format!(
            "SELECT priority, COUNT(*) FROM cases WHERE status IN ({placeholders}) GROUP BY priority ORDER BY priority"
        );
        let mut query = sqlx::query(&sql);
        for status in &active {
            query = query.bind(*status);
        }
        let mut conn = self.pool.acquire().await?;
        let open_cases = query
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
                "SELECT (SELECT COUNT(*) FROM timers WHERE fired_at IS NULL AND due_at <= ?1)
                      + (SELECT COUNT(*) FROM sla_clocks
                         WHERE breach_noticed = 0 AND due_at IS NOT NULL AND COALESCE(warn_due_at, due_at) <= ?1)",
            )
                .bind(secs(now))
                .fetch_one(&mut *conn)
                .await?;
        let escalations_open: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM escalations WHERE status = 'open'")
                .fetch_one(&mut *conn)
                .await?;
        let count_kind = |kind: &'static str| {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM case_events WHERE kind = ? AND kind NOT IN ('opened', 'mention')",
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
}

impl Store {
    /// Records where a feed channel's history starts to matter when carebot first watches it
    /// (`message_id`: a snowflake of that moment), unless it already has a cursor: posts after
    /// it that a stop kept from being read are then backfilled at the next start.
    pub async fn start_feed_cursor(&self, channel_id: &str, message_id: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO feed_cursors (channel_id, last_message_id) VALUES (?, ?) ON CONFLICT (channel_id) DO NOTHING")
            .bind(channel_id)
            .bind(message_id)
            .execute(&mut *self.writer.conn().await?)
            .await?;
        Ok(())
    }
}

/// Timeline detail fields that can carry what a customer wrote or who they are.
const EVENT_TEXT_FIELDS: &str =
    "'$.text', '$.note', '$.question', '$.answer', '$.reason', '$.handle', '$.name', '$.display_name', '$.url', '$.title', '$.source_id'";

impl Tx {
    /// Erases a customer's personal data in this transaction: their handle becomes
    /// `pseudonym`, their name and notes go; their mentions lose text, link, names and source
    /// ids; their cases' titles, timeline texts, escalation reasons and questions are
    /// removed; delivered outbox copies that mention them are blanked and their cases'
    /// undelivered rows dropped; surge samples quoting them are cleared. Counts, statuses,
    /// priorities, categories, times, grants and SLA clocks stay, so reports keep their numbers.
    /// Freed pages are zeroed (`secure_delete`), so a `VACUUM` leaves no trace in the file.
    pub async fn erase_customer(&mut self, customer_id: i64, pseudonym: &str) -> Result<Erased, StoreError> {
        self.flush().await?;
        let conn = self.tx.conn().await?;
        sqlx::query("PRAGMA secure_delete = ON")
            .execute(&mut *conn)
            .await?;
        let handle: String = sqlx::query_scalar("SELECT handle FROM customers WHERE id = ?")
            .bind(customer_id)
            .fetch_one(&mut *conn)
            .await?;
        let cases: Vec<i64> = sqlx::query_scalar("SELECT id FROM cases WHERE customer_id = ? ORDER BY id")
            .bind(customer_id)
            .fetch_all(&mut *conn)
            .await?;
        // Every piece of text that identifies them or that they wrote, to find copies of.
        let mut needles: Vec<String> = vec![handle.clone()];
        for r in
            sqlx::query("SELECT text, url, display_name, external_id FROM mentions WHERE customer_id = ?")
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
            sqlx::query_scalar("SELECT display_name FROM customers WHERE id = ?")
                .bind(customer_id)
                .fetch_all(&mut *conn)
                .await?;
        needles.extend(names.into_iter().flatten());
        let titles: Vec<String> = sqlx::query_scalar("SELECT title FROM cases WHERE customer_id = ?")
            .bind(customer_id)
            .fetch_all(&mut *conn)
            .await?;
        needles.extend(titles);
        // Short strings would match unrelated rows; a handle is always searched for.
        needles.retain(|n| n == &handle || n.chars().count() >= 8);
        needles.sort();
        needles.dedup();

        sqlx::query("UPDATE customers SET handle = ?, display_name = NULL, notes = '' WHERE id = ?")
            .bind(pseudonym)
            .bind(customer_id)
            .execute(&mut *conn)
            .await?;
        let mentions = sqlx::query(
            "UPDATE mentions SET handle = ?, display_name = NULL, text = '', url = NULL, external_id = NULL,
                                 source_id = 'erased:' || id
             WHERE customer_id = ?",
        )
        .bind(pseudonym)
        .bind(customer_id)
        .execute(&mut *conn)
        .await?
        .rows_affected() as i64;
        let of_customer = "(SELECT id FROM cases WHERE customer_id = ?)";
        sqlx::query("UPDATE cases SET title = ? WHERE customer_id = ?")
            .bind(REMOVED)
            .bind(customer_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query(&format!(
            "UPDATE case_events SET detail = json_remove(detail, {EVENT_TEXT_FIELDS}) WHERE case_id IN {of_customer}"
        ))
        .bind(customer_id)
        .execute(&mut *conn)
        .await?;
        sqlx::query(&format!(
            "UPDATE escalations SET reason = ?, questions = '[]', decision_note = NULL
             WHERE case_id IN {of_customer}"
        ))
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
            // Delivered copies elsewhere (digest posts, incident alerts) that quote them.
            sqlx::query("UPDATE outbox SET payload = '{\"erased\":true}' WHERE delivered_at IS NOT NULL AND instr(payload, ?) > 0")
                .bind(needle)
                .execute(&mut *conn)
                .await?;
            sqlx::query("UPDATE incidents SET samples = '[]' WHERE instr(samples, ?) > 0")
                .bind(needle)
                .execute(&mut *conn)
                .await?;
        }
        // Their ignored posts (echoes) are known by a source id that may hold their handle.
        sqlx::query("DELETE FROM ignored_posts WHERE instr(lower(source_id), ?) > 0")
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
    /// Retention: removes the text and link of every mention (and the title derived from it)
    /// of the cases that are no longer active and have not changed since `before`. Returns how
    /// many mentions lost their text. Customers, counts and timelines stay.
    pub async fn purge_mention_texts(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        use crate::domain::case::CaseStatus;
        let active: Vec<&str> = CaseStatus::ACTIVE.iter().map(|s| s.as_str()).collect();
        let placeholders = vec!["?"; active.len()].join(", ");
        let old = format!("SELECT id FROM cases WHERE status NOT IN ({placeholders}) AND updated_at < ?");
        let mut tx = TxConn::new(self.writer.conn().await?, "BEGIN IMMEDIATE");
        sqlx::query("PRAGMA secure_delete = ON")
            .execute(tx.conn().await?)
            .await?;
        let sql = format!("UPDATE mentions SET text = '', url = NULL WHERE (text != '' OR url IS NOT NULL) AND case_id IN ({old})");
        let mut query = sqlx::query(&sql);
        for status in &active {
            query = query.bind(*status);
        }
        let purged = query
            .bind(secs(before))
            .execute(tx.conn().await?)
            .await?
            .rows_affected();
        let sql = format!("UPDATE cases SET title = ? WHERE title != ? AND id IN ({old})");
        let mut query = sqlx::query(&sql).bind(TEXT_PURGED).bind(TEXT_PURGED);
        for status in &active {
            query = query.bind(*status);
        }
        query.bind(secs(before)).execute(tx.conn().await?).await?;
        tx.commit().await?;
        Ok(purged)
    }
}

impl Store {
    /// Deletes the timers fired or cancelled before `before`, keeping the newest row of all
    /// (ids never go back); how many. Nothing reads them: what a timer did is in the timeline.
    pub async fn prune_timers(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM timers WHERE fired_at < ? AND id < (SELECT MAX(id) FROM timers)")
            .bind(secs(before))
            .execute(&mut *self.writer.conn().await?)
            .await?;
        Ok(done.rows_affected())
    }

    /// Gives the pages that deletes freed back to the file system: a database created with
    /// `auto_vacuum = INCREMENTAL` (every file carebot creates) shrinks by them; on an older
    /// file (`auto_vacuum` NONE until a `VACUUM`) this does nothing and SQLite reuses the free
    /// pages for new rows instead.
    pub async fn reclaim_space(&self) -> Result<(), StoreError> {
        sqlx::query("PRAGMA incremental_vacuum")
            .execute(&mut *self.writer.conn().await?)
            .await?;
        Ok(())
    }
}
