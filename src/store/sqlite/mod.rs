//! The SQLite adapter: WAL mode, one writer, prepared statements cached per connection.

mod cases;
mod conn;
pub mod digest;
mod escalations;
mod incidents;
pub mod ops;
mod sla;
mod suggestions;
mod times;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteArguments, SqliteAutoVacuum, SqliteConnectOptions, SqliteConnection, SqliteJournalMode,
    SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Arguments, ConnectOptions, Row, Sqlite, SqlitePool};

use conn::{TxConn, WriteConn};
use times::{outbox_time, secs, secs_opt};

use super::pending::Pending;
use super::records::{
    decode, stored_url, CaseRecord, CustomerRecord, EventRecord, MentionRecord, OutboxRecord, SummaryRecord,
    CASE_FIELDS, CASE_SUMMARY_COLUMNS, CUSTOMER_FIELDS, MENTION_URL,
};
use super::{
    CaseCards, CaseEvent, CaseFilter, CaseSummary, CustomerKey, CustomersAndCases, KnownPosts, OutboxRow,
    StoreError, StoredMention,
};
use crate::domain::case::{Case, Customer};
use crate::domain::escalation::EscalationId;
use crate::domain::{CaseId, Handle, Network, Segment};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Applies the migrations. Two processes starting on a fresh file at the same moment both
/// see migration 1 missing, and SQLite's migrator has no lock: the second to write fails
/// (`table customers already exists`) once the first has applied it, and then finds it
/// applied when it runs again. So a failed run is retried a few times before it counts.
///
/// Foreign keys are off while migrations run (SQLite allows the switch only outside a
/// transaction, and each migration runs in one): a migration that rebuilds a table drops it
/// while other tables refer to it, which SQLite's procedure for changing a table needs (a
/// migration that does so checks the references itself before it ends).
async fn migrate(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await?;
    let done = migrate_with_retries(conn).await;
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await?;
    done
}

async fn migrate_with_retries(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let mut attempt = 0;
    loop {
        match MIGRATOR.run_direct(&mut *conn).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 5 => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "migration raced another process; retrying");
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// SQLITE_BUSY, or one of its extended codes.
fn is_busy(e: &dyn sqlx::error::DatabaseError) -> bool {
    e.code()
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| c & 0xff == 5)
}

/// The database handle; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    /// Reads (snapshots and the sweep's first look) run here.
    pool: SqlitePool,
    /// The one connection write transactions (and the single writes below) run on: SQLite
    /// takes one writer at a time anyway, and in WAL mode a connection that finds another's
    /// commit in the WAL drops its whole page cache, so writers taking turns on several
    /// connections would keep reloading theirs. `pool`'s one connection for an in-memory
    /// database (one connection in all).
    writer: WriteConn,
}

/// One database transaction; dropped without [`Tx::commit`] it rolls back.
///
/// New and changed rows of an ingest (cases, mentions, ignored posts, case events, outbox,
/// feed cursors) are buffered and written many to a statement before anything reads those
/// tables and at commit: sqlx sends every statement to SQLite's worker thread and waits for the
/// answer, so round trips, not rows, are what a transaction costs.
pub struct Tx {
    tx: TxConn,
    pub(super) pending: Pending,
    /// The id the next new SLA clock gets, once known (see [`Tx::stage_clocks`]).
    next_clock_id: Option<i64>,
}

/// The most rows one buffered INSERT writes. The widest table (cases, 21 columns) then binds
/// 2,688 parameters, far below the 32,766 that the bundled SQLite (libsqlite3-sys 0.30, SQLite
/// 3.46) allows per statement; bigger statements would save little, as a batch of 500 mentions
/// already needs only a handful of statements per table.
const ROWS_PER_INSERT: usize = 128;

/// Up to this many buffered rows are written in one multi-statement round trip (a single feed
/// post: its case, mention, event, two outbox rows, the cursor). Bigger flushes send one
/// statement per chunk, so their few chunk shapes stay in the prepared-statement cache instead
/// of preparing a new combined text for every batch.
const ROWS_PER_COMBINED_FLUSH: usize = 16;

/// `head VALUES (?, ..), (?, ..)` with `rows` groups of `cols` parameters.
fn values_sql(head: &str, cols: usize, rows: usize) -> String {
    let group = format!("({})", vec!["?"; cols].join(", "));
    format!("{head} VALUES {}", vec![group; rows].join(", "))
}

/// Splits `rows` into statements of 128, 64, ..., 2 and 1 rows, so only eight statement
/// shapes per table reach the prepared-statement cache.
fn chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if rows.is_empty() {
            return None;
        }
        let (chunk, rest) = rows.split_at(ROWS_PER_INSERT.min(1 << rows.len().ilog2()));
        rows = rest;
        Some(chunk)
    })
}

/// A JSON array of `items`, bound as one parameter (read with `json_each` or `->>`).
fn json_list<T: serde::Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

/// `[[network, handle, display_name], ...]` for `json_each`.
fn json_keys(keys: &[CustomerKey<'_>]) -> String {
    let rows: Vec<(&str, &str, Option<&str>)> = keys
        .iter()
        .map(|k| (k.network.as_str(), k.handle.as_str(), k.display_name))
        .collect();
    json_list(&rows)
}

/// Statements of one flush: either gathered into one multi-statement text and sent at the
/// end, or sent one by one.
struct Writer<'q> {
    combine: bool,
    sql: String,
    args: SqliteArguments<'q>,
}

impl<'q> Writer<'q> {
    fn bind<T: sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite> + 'q>(
        &mut self,
        value: T,
    ) -> Result<(), StoreError> {
        self.args
            .add(value)
            .map_err(|e| StoreError::Corrupt(format!("cannot bind a value: {e}")))
    }

    /// Ends the statement in `sql`: sends it now, or keeps it for the combined send.
    async fn end(&mut self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        if self.combine {
            self.sql.push_str(";\n");
            return Ok(());
        }
        self.send(conn).await
    }

    async fn send(&mut self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        if self.sql.is_empty() {
            return Ok(());
        }
        let args = std::mem::take(&mut self.args);
        sqlx::query_with(&self.sql, args).execute(&mut *conn).await?;
        self.sql.clear();
        Ok(())
    }

    /// Sends what `sql` holds, ending with one statement that returns rows, and returns them.
    async fn fetch(&mut self, conn: &mut SqliteConnection) -> Result<Vec<SqliteRow>, StoreError> {
        let args = std::mem::take(&mut self.args);
        let rows = sqlx::query_with(&self.sql, args).fetch_all(&mut *conn).await?;
        self.sql.clear();
        Ok(rows)
    }
}

/// The statements of [`Tx::case_cards`] (`card`) or [`Tx::cases_at_hand`] for the cases that
/// `cases` selects (a subquery with one `?`, bound twice). `+status`: by case, not through the
/// index of all open escalations.
fn case_cards_sql(cases: &str, card: bool) -> String {
    let parts = if card {
        format!(
            "'[]' AS open_escalations, m.text AS opening_text, {MENTION_URL} AS opening_url,
             (SELECT json_group_array(json_array({}) ORDER BY k.id) FROM sla_clocks k
              WHERE k.case_id = c.id) AS clocks
             FROM cases c LEFT JOIN mentions m ON m.id = (SELECT min(id) FROM mentions WHERE case_id = c.id)",
            sla::CLOCK_FIELDS
        )
    } else {
        "(SELECT json_group_array(e.id ORDER BY e.id) FROM escalations e
          WHERE e.case_id = c.id AND +e.status = 'open') AS open_escalations,
         NULL AS opening_text, NULL AS opening_url, '[]' AS clocks FROM cases c"
            .to_string()
    };
    format!(
        "SELECT c.*, {parts}
         WHERE c.id IN ({cases});
         SELECT * FROM customers WHERE id IN (SELECT customer_id FROM cases WHERE id IN ({cases}))"
    )
}

impl CaseCards {
    /// Takes in a row of the [`case_cards_sql`] statements: a case's or a customer's.
    fn add(&mut self, r: &SqliteRow) -> Result<(), StoreError> {
        if r.try_column("opening_text").is_err() {
            self.customers.push(customer_from_row(r)?);
            return Ok(());
        }
        let case = CaseId(r.get("id"));
        let open: Vec<i64> = json_rows(r.get("open_escalations"))?;
        self.open_escalations
            .extend(open.into_iter().map(|e| (case, EscalationId(e))));
        self.clocks.extend(sla::clocks_from_json(r.get("clocks"))?);
        let text: Option<String> = r.get("opening_text");
        if let Some(text) = text {
            self.openings.push((case, text, r.get("opening_url")));
        }
        self.cases.push(case_from_row(r)?);
        Ok(())
    }
}

impl Store {
    /// Opens (creating when missing) the database at `url` and applies migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::UnsupportedUrl(crate::config::redact_url(url)));
        }
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::Open)?
            .create_if_missing(true)
            .journal_mode(if memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(SqliteSynchronous::Normal)
            // A file created now can give the pages of pruned rows back (`PRAGMA
            // incremental_vacuum`, after each prune); set before the first table exists, it is
            // a no-op on an older file (a one-off `VACUUM` switches one).
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // 16 MiB of page cache per connection (SQLite's default is 2 MiB): an import's
            // dedupe lookups stay in memory while the bound keeps the process small.
            .pragma("cache_size", "-16384")
            // Statement journals and sort scratch in memory rather than in temp files.
            .pragma("temp_store", "memory")
            // Checkpoint every ~40 MB of WAL instead of ~4 MB: a checkpoint runs inside the commit
            // that crosses the threshold, so rarer checkpoints mean fewer slow commits; the WAL
            // file is truncated back to 64 MB after a checkpoint.
            .pragma("wal_autocheckpoint", "10000")
            .pragma("journal_size_limit", "67108864");
        // An in-memory database exists once per connection: keep exactly one, for everything.
        if memory {
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .map_err(StoreError::Open)?;
            migrate(&mut *pool.acquire().await.map_err(StoreError::Open)?).await?;
            return Ok(Store {
                writer: WriteConn::Shared(pool.clone()),
                pool,
            });
        }
        // Another process creating the same fresh file holds its lock while it switches it to
        // WAL: opening then fails with "database is locked" at once (no busy wait for that),
        // so it is tried again a few times.
        let mut attempt = 0;
        let mut writer = loop {
            match options.connect().await {
                Ok(conn) => break conn,
                Err(sqlx::Error::Database(e)) if is_busy(e.as_ref()) && attempt < 20 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(25 * attempt)).await;
                }
                Err(e) => return Err(StoreError::Open(e)),
            }
        };
        migrate(&mut writer).await?;
        let writer = WriteConn::held(writer);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .idle_timeout(Some(Duration::from_secs(600)))
            .max_lifetime(Some(Duration::from_secs(3600)))
            .connect_with(options)
            .await
            .map_err(StoreError::Open)?;
        Ok(Store { pool, writer })
    }

    /// Starts a write transaction on the writer connection (`BEGIN IMMEDIATE`, so a writer of
    /// another process queues instead of failing; writers of this process queue for the
    /// connection).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let tx = TxConn::new(self.writer.conn().await?, "BEGIN IMMEDIATE");
        Ok(Tx {
            tx,
            pending: Pending::default(),
            next_clock_id: None,
        })
    }

    /// Undelivered outbox rows, oldest first, due or not: delivery keeps each case's order, so
    /// a row that is not due yet holds back the later rows of its case.
    pub async fn undelivered_outbox(&self, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, case_id, payload, attempts, next_attempt_at FROM outbox
             WHERE delivered_at IS NULL ORDER BY id LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        outbox_rows(&rows)
    }

    /// Leases up to `limit` undelivered rows to `owner` until `until`, oldest first: rows
    /// nobody holds, rows whose lease expired before `now`, and `owner`'s own (renewed), but
    /// never a row whose case has an earlier undelivered row another live lease holds, so
    /// each case's rows go out in order from one process. One statement: SQLite's write
    /// lock makes it atomic across processes.
    pub async fn lease_outbox(
        &self,
        owner: &str,
        limit: i64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(
            "UPDATE outbox SET lease_owner = ?1, lease_until = ?3
             WHERE id IN (
                 SELECT o.id FROM outbox o
                 WHERE o.delivered_at IS NULL
                   AND (o.lease_owner IS NULL OR o.lease_owner = ?1 OR o.lease_until < ?2)
                   AND NOT EXISTS (SELECT 1 FROM outbox p
                                   WHERE p.case_id IS o.case_id AND p.id < o.id AND p.delivered_at IS NULL
                                     AND p.lease_owner <> ?1 AND p.lease_until >= ?2)
                 ORDER BY o.id LIMIT ?4)
             RETURNING id, case_id, payload, attempts, next_attempt_at",
        )
        .bind(owner)
        .bind(outbox_time(now))
        .bind(outbox_time(until))
        .bind(limit)
        .fetch_all(&mut *self.writer.conn().await?)
        .await?;
        let mut rows = outbox_rows(&rows)?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    /// Deletes delivered rows delivered before `before`, keeping the newest row of all (ids
    /// never go back, so nonces made from them stay unique).
    pub async fn prune_outbox(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM outbox WHERE delivered_at < ? AND id < (SELECT MAX(id) FROM outbox)")
                .bind(outbox_time(before))
                .execute(&mut *self.writer.conn().await?)
                .await?;
        Ok(done.rows_affected())
    }

    /// Outbox rows after `id`, delivered or not, oldest first (what the console shows).
    pub async fn outbox_after(&self, id: i64, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, case_id, payload, attempts, next_attempt_at FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        outbox_rows(&rows)
    }

    /// The newest outbox row id (0 when empty).
    pub async fn last_outbox_id(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM outbox")
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn mark_delivered(&self, outbox_id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?")
            .bind(outbox_time(now))
            .bind(outbox_id)
            .execute(&mut *self.writer.conn().await?)
            .await?;
        Ok(())
    }

    pub async fn mark_failed(
        &self,
        outbox_id: i64,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
        )
        .bind(error)
        .bind(outbox_time(retry_at))
        .bind(outbox_id)
        .execute(&mut *self.writer.conn().await?)
        .await?;
        Ok(())
    }

    /// Records where the case lives in the chat adapter (thread, card message).
    pub async fn set_case_refs(
        &self,
        case_id: CaseId,
        thread_ref: Option<&str>,
        card_ref: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE cases SET thread_ref = COALESCE(?, thread_ref), card_ref = COALESCE(?, card_ref) WHERE id = ?",
        )
        .bind(thread_ref)
        .bind(card_ref)
        .bind(case_id.0)
        .execute(&mut *self.writer.conn().await?)
        .await?;
        Ok(())
    }

    /// The chat adapter's references for a case: (thread, card message).
    pub async fn case_refs(&self, case_id: CaseId) -> Result<(Option<String>, Option<String>), StoreError> {
        let row = sqlx::query("SELECT thread_ref, card_ref FROM cases WHERE id = ?")
            .bind(case_id.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))).unwrap_or((None, None)))
    }

    /// The case whose thread is `thread_ref`.
    pub async fn case_by_thread(&self, thread_ref: &str) -> Result<Option<CaseId>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM cases WHERE thread_ref = ?")
            .bind(thread_ref)
            .fetch_optional(&self.pool)
            .await?;
        Ok(id.map(CaseId))
    }

    pub async fn feed_cursor(&self, channel_id: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT last_message_id FROM feed_cursors WHERE channel_id = ?")
                .bind(channel_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Read-only snapshot queries run on a fresh transaction-less connection.
    pub async fn read(&self) -> Result<Tx, StoreError> {
        let conn = match &self.writer {
            WriteConn::Shared(_) => self.writer.conn().await?,
            WriteConn::Held(_) => conn::Conn::Pooled(self.pool.acquire().await?),
        };
        let tx = TxConn::new(conn, "BEGIN");
        Ok(Tx {
            tx,
            pending: Pending::default(),
            next_clock_id: None,
        })
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// The rows of a JSON array that a batch read built with `json_group_array(json_array(...))`:
/// one value, where sqlx would hand over each row from SQLite's thread on its own.
fn json_rows<T: serde::de::DeserializeOwned>(text: &str) -> Result<Vec<T>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("batch read: {e}")))
}

fn case_from_row(r: &SqliteRow) -> Result<Case, StoreError> {
    decode(r, CaseRecord::into_case)
}

fn customer_from_row(r: &SqliteRow) -> Result<Customer, StoreError> {
    decode(r, CustomerRecord::into_customer)
}

fn summary_from_row(r: &SqliteRow) -> Result<CaseSummary, StoreError> {
    decode(r, SummaryRecord::into_summary)
}

fn mention_from_row(r: &SqliteRow) -> Result<StoredMention, StoreError> {
    decode(r, MentionRecord::into_mention)
}

fn event_from_row(r: &SqliteRow) -> Result<CaseEvent, StoreError> {
    decode(r, EventRecord::into_event)
}

fn outbox_rows(rows: &[SqliteRow]) -> Result<Vec<OutboxRow>, StoreError> {
    rows.iter().map(|r| decode(r, OutboxRecord::into_row)).collect()
}

impl Tx {
    /// Writes the buffered rows and commits, in one round trip when they are few; a
    /// transaction that wrote and read nothing sends nothing.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        if self.tx.begun() || self.pending.rows() > 0 {
            self.flush_then("COMMIT", |_| Ok(())).await?;
        }
        self.tx.committed();
        Ok(())
    }

    /// Writes the buffered rows: cases first (mentions and events refer to them), then ignored
    /// posts, mentions, events, outbox rows in the order they were added, and feed cursors.
    async fn flush(&mut self) -> Result<(), StoreError> {
        self.flush_then("", |_| Ok(())).await.map(drop)
    }

    /// Writes the buffered rows, then runs `then` (statements with `?` parameters bound by
    /// `bind`; none when empty) and returns its rows: a read that sees the buffered rows, in
    /// one round trip when they are few.
    async fn flush_then(
        &mut self,
        then: &str,
        bind: impl for<'w> FnOnce(&mut Writer<'w>) -> Result<(), StoreError>,
    ) -> Result<Vec<SqliteRow>, StoreError> {
        let pending = std::mem::take(&mut self.pending);
        if pending.rows() == 0 && then.is_empty() {
            return Ok(Vec::new());
        }
        let (begin, conn) = self.tx.with_begin();
        let mut w = Writer {
            combine: pending.rows() <= ROWS_PER_COMBINED_FLUSH,
            // The transaction's `BEGIN`, when this is its first statement.
            sql: begin.map(|b| format!("{b};\n")).unwrap_or_default(),
            args: SqliteArguments::default(),
        };
        cases::write_cases(&mut w, conn, &pending.cases).await?;
        cases::write_case_changes(&mut w, conn, &pending.case_changes).await?;
        sla::write_clocks(&mut w, conn, &pending.clocks).await?;
        escalations::write_grants(&mut w, conn, &pending.grants).await?;
        for chunk in chunks(pending.ignored.as_slice()) {
            let n = chunk.len();
            w.sql.push_str(&values_sql(
                "INSERT OR IGNORE INTO ignored_posts (source_id, reason, received_at)",
                3,
                n,
            ));
            for i in chunk {
                w.bind(i.source_id.as_str())?;
                w.bind(i.reason)?;
                w.bind(secs(i.at))?;
            }
            w.end(conn).await?;
        }
        for chunk in chunks(pending.mentions.as_slice()) {
            let n = chunk.len();
            w.sql.push_str(&values_sql(
                "INSERT INTO mentions (case_id, customer_id, source_id, external_id, network, handle, display_name,
                                       text, url, followers, unparsed, feed_channel_id, feed_message_id, posted_at,
                                       received_at)",
                15,
                n,
            ));
            for p in chunk {
                let m = &p.mention;
                w.bind(p.case_id)?;
                w.bind(p.customer_id)?;
                w.bind(m.source_id.as_str())?;
                w.bind(m.external_id.as_deref())?;
                w.bind(m.network.as_str())?;
                w.bind(m.handle.as_str())?;
                w.bind(m.display_name.as_deref())?;
                w.bind(m.text.as_str())?;
                w.bind(stored_url(m))?;
                w.bind(m.followers.map(|f| f.min(i64::MAX as u64) as i64))?;
                w.bind(m.unparsed)?;
                w.bind(p.feed_channel_id.as_deref())?;
                w.bind(p.feed_message_id.as_deref())?;
                w.bind(secs(m.posted_at))?;
                w.bind(secs(p.at))?;
            }
            w.end(conn).await?;
        }
        for chunk in chunks(pending.events.as_slice()) {
            let n = chunk.len();
            w.sql.push_str(&values_sql(
                "INSERT INTO case_events (case_id, at, actor, kind, detail)",
                5,
                n,
            ));
            for e in chunk {
                w.bind(e.case_id)?;
                w.bind(secs(e.at))?;
                w.bind(e.actor.as_str())?;
                w.bind(e.kind.as_str())?;
                w.bind(e.detail.as_str())?;
            }
            w.end(conn).await?;
        }
        for chunk in chunks(pending.outbox.as_slice()) {
            let n = chunk.len();
            w.sql.push_str(&values_sql(
                "INSERT INTO outbox (case_id, payload, created_at, next_attempt_at)",
                4,
                n,
            ));
            for o in chunk {
                w.bind(o.case_id)?;
                w.bind(o.payload.as_str())?;
                w.bind(outbox_time(o.at))?;
                w.bind(outbox_time(o.at))?;
            }
            w.end(conn).await?;
        }
        for (channel_id, message_id) in &pending.cursors {
            // Numbered parameters would not mix with the other statements' `?` in a combined send.
            w.sql.push_str(
                "INSERT INTO feed_cursors (channel_id, last_message_id) VALUES (?, ?)
                 ON CONFLICT (channel_id) DO UPDATE SET last_message_id = excluded.last_message_id
                 WHERE length(excluded.last_message_id) > length(last_message_id)
                    OR (length(excluded.last_message_id) = length(last_message_id)
                        AND excluded.last_message_id > last_message_id)",
            );
            w.bind(channel_id.as_str())?;
            w.bind(message_id.as_str())?;
            w.end(conn).await?;
        }
        escalations::write_cancellations(&mut w, conn, &pending.cancelled_escalations).await?;
        for chunk in chunks(pending.timers.as_slice()) {
            let n = chunk.len();
            w.sql.push_str(&values_sql(
                "INSERT INTO timers (kind, case_id, escalation_id, tier, detail, due_at, created_at, clock_id)",
                8,
                n,
            ));
            for (t, scheduled_at) in chunk {
                w.bind(t.kind.as_str())?;
                w.bind(t.case_id.map(|c| c.0))?;
                w.bind(t.escalation.map(|e| e.0))?;
                w.bind(t.tier.map(i64::from))?;
                w.bind(t.detail.to_string())?;
                w.bind(secs(t.due_at))?;
                w.bind(secs(*scheduled_at))?;
                w.bind(t.clock)?;
            }
            w.end(conn).await?;
        }
        if then.is_empty() {
            w.send(conn).await?;
            return Ok(Vec::new());
        }
        w.sql.push_str(then);
        bind(&mut w)?;
        w.fetch(conn).await
    }

    /// One read for a whole batch, right after `BEGIN IMMEDIATE`: which of these source ids are
    /// already stored (as mentions or ignored posts), which network ids are stored, and the
    /// highest case id.
    pub async fn known_posts(
        &mut self,
        source_ids: &[&str],
        external_ids: &[&str],
    ) -> Result<KnownPosts, StoreError> {
        let rows = sqlx::query(
            "SELECT 's' AS kind, m.source_id AS key FROM json_each(?1) j JOIN mentions m ON m.source_id = j.value
             UNION ALL
             SELECT 's', i.source_id FROM json_each(?1) j JOIN ignored_posts i ON i.source_id = j.value
             UNION ALL
             SELECT 'e', m.external_id FROM json_each(?2) j JOIN mentions m ON m.external_id = j.value
             UNION ALL
             SELECT 'n', CAST(COALESCE(MAX(id), 0) AS TEXT) FROM cases",
        )
        .bind(json_list(source_ids))
        .bind(json_list(external_ids))
        .fetch_all(self.tx.conn().await?)
        .await?;
        let mut known = KnownPosts::default();
        for r in &rows {
            let key: String = r.get("key");
            match r.get::<&str, _>("kind") {
                "s" => {
                    known.source_ids.insert(key);
                }
                "e" => {
                    known.external_ids.insert(key);
                }
                _ => {
                    known.max_case_id = key
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("case id `{key}`: {e}")))?;
                }
            }
        }
        Ok(known)
    }

    /// For a batch of new mentions, in one round trip: the stored display names of
    /// `old_names_for` as they were before this call, then finds or creates every customer in
    /// `customers` (a newly seen display name is kept: give the last one of the batch), then each
    /// customer's most recent case with the text and link of its first post.
    pub async fn customers_for_mentions(
        &mut self,
        customers: &[CustomerKey<'_>],
        old_names_for: &[CustomerKey<'_>],
        at: DateTime<Utc>,
    ) -> Result<CustomersAndCases, StoreError> {
        let keys = json_keys(customers);
        // The customers and cases come back as one JSON array each: sqlx hands rows over one
        // by one, which cost more than the statements themselves for a batch's thousands.
        let rows = sqlx::query(&format!(
            "SELECT 'name' AS kind, cu.network, cu.handle, cu.display_name FROM json_each(?) j
                 JOIN customers cu ON cu.network = j.value ->> 0 AND cu.handle = j.value ->> 1;
             INSERT INTO customers (network, handle, display_name, created_at)
                 SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, ? FROM json_each(?) j WHERE true
                 ON CONFLICT (network, handle) DO UPDATE SET display_name = excluded.display_name
                     WHERE excluded.display_name IS NOT NULL AND excluded.display_name IS NOT customers.display_name;
             SELECT json_group_array(json_array({CUSTOMER_FIELDS})) AS customers FROM json_each(?) j
                 JOIN customers cu ON cu.network = j.value ->> 0 AND cu.handle = j.value ->> 1;
             SELECT json_group_array(json_array({CASE_FIELDS})) AS latest_cases FROM cases c
                 WHERE c.id IN (SELECT (SELECT max(id) FROM cases WHERE customer_id = cu.id) FROM json_each(?) j
                                JOIN customers cu ON cu.network = j.value ->> 0 AND cu.handle = j.value ->> 1)"
        ))
        .bind(json_keys(old_names_for))
        .bind(secs(at))
        .bind(&keys)
        .bind(&keys)
        .bind(&keys)
        .fetch_all(self.tx.conn().await?)
        .await?;
        let mut out = CustomersAndCases::default();
        for r in &rows {
            if let Ok(cases) = r.try_get::<&str, _>("latest_cases") {
                out.latest_cases = json_rows::<CaseRecord>(cases)?
                    .into_iter()
                    .map(CaseRecord::into_case)
                    .collect::<Result<_, _>>()?;
            } else if let Ok(customers) = r.try_get::<&str, _>("customers") {
                out.customers = json_rows::<CustomerRecord>(customers)?
                    .into_iter()
                    .map(CustomerRecord::into_customer)
                    .collect::<Result<_, _>>()?;
            } else {
                out.old_names
                    .push((r.get("network"), r.get("handle"), r.get("display_name")));
            }
        }
        Ok(out)
    }

    pub async fn customer(&mut self, id: i64) -> Result<Option<Customer>, StoreError> {
        let row = sqlx::query("SELECT * FROM customers WHERE id = ?")
            .bind(id)
            .fetch_optional(self.tx.conn().await?)
            .await?;
        row.as_ref().map(customer_from_row).transpose()
    }

    pub async fn customer_by_handle(
        &mut self,
        network: &Network,
        handle: &Handle,
    ) -> Result<Option<Customer>, StoreError> {
        let row = sqlx::query("SELECT * FROM customers WHERE network = ? AND handle = ?")
            .bind(network.as_str())
            .bind(handle.as_str())
            .fetch_optional(self.tx.conn().await?)
            .await?;
        row.as_ref().map(customer_from_row).transpose()
    }

    /// Customers with this handle on any network.
    pub async fn customers_by_handle(&mut self, handle: &Handle) -> Result<Vec<Customer>, StoreError> {
        let rows = sqlx::query("SELECT * FROM customers WHERE handle = ? ORDER BY id")
            .bind(handle.as_str())
            .fetch_all(self.tx.conn().await?)
            .await?;
        rows.iter().map(customer_from_row).collect()
    }

    pub async fn set_segment(&mut self, customer_id: i64, segment: Segment) -> Result<(), StoreError> {
        sqlx::query("UPDATE customers SET segment = ? WHERE id = ?")
            .bind(segment.as_str())
            .bind(customer_id)
            .execute(self.tx.conn().await?)
            .await?;
        Ok(())
    }

    /// All cases of a customer, newest first.
    pub async fn customer_cases(&mut self, customer_id: i64) -> Result<Vec<CaseSummary>, StoreError> {
        let filter = CaseFilter::default();
        self.list_cases_where(&filter, Some(customer_id)).await
    }

    /// A case as this transaction sees it (staged changes included).
    pub async fn case(&mut self, id: CaseId) -> Result<Option<Case>, StoreError> {
        let rows = self
            .flush_then("SELECT * FROM cases WHERE id = ?", |w| w.bind(id.0))
            .await?;
        rows.first().map(case_from_row).transpose()
    }

    /// For a batch of cases, in one round trip (staged changes included): the cases, their
    /// customers, the text and link of each one's first post and their SLA clocks: what their
    /// cards show. A row per case and per customer, clocks as JSON in the case's row (for
    /// hundreds of cases, rows cost far more than SQLite building and serde reading the JSON).
    pub async fn case_cards(&mut self, ids: &[CaseId]) -> Result<CaseCards, StoreError> {
        self.cards_of(ids, true).await
    }

    /// The cases, their customers and their open escalations (as JSON in the case's row), in
    /// one round trip: what commands on the cases and settling decisions need.
    pub async fn cases_at_hand(&mut self, ids: &[CaseId]) -> Result<CaseCards, StoreError> {
        self.cards_of(ids, false).await
    }

    async fn cards_of(&mut self, ids: &[CaseId], card: bool) -> Result<CaseCards, StoreError> {
        let ids: Vec<i64> = ids.iter().map(|c| c.0).collect();
        let ids = json_list(&ids);
        let rows = self
            .flush_then(&case_cards_sql("SELECT value FROM json_each(?)", card), |w| {
                w.bind(ids.clone())?;
                w.bind(ids)
            })
            .await?;
        let mut out = CaseCards::default();
        for r in &rows {
            out.add(r)?;
        }
        Ok(out)
    }

    /// The post that opened the case.
    pub async fn opening_mention(&mut self, case_id: CaseId) -> Result<Option<StoredMention>, StoreError> {
        Ok(self.mentions_where(case_id, 1).await?.pop())
    }

    pub async fn mentions(&mut self, case_id: CaseId) -> Result<Vec<StoredMention>, StoreError> {
        self.mentions_where(case_id, -1).await
    }

    pub async fn mention_by_source(&mut self, source_id: &str) -> Result<Option<StoredMention>, StoreError> {
        let rows = self
            .flush_then("SELECT * FROM mentions WHERE source_id = ?", |w| {
                w.bind(source_id.to_string())
            })
            .await?;
        rows.first().map(mention_from_row).transpose()
    }

    async fn mentions_where(
        &mut self,
        case_id: CaseId,
        limit: i64,
    ) -> Result<Vec<StoredMention>, StoreError> {
        let rows = self
            .flush_then(
                "SELECT * FROM mentions WHERE case_id = ? ORDER BY id LIMIT ?",
                |w| {
                    w.bind(case_id.0)?;
                    w.bind(limit)
                },
            )
            .await?;
        rows.iter().map(mention_from_row).collect()
    }

    /// What an escalation packet tells of a case, in one round trip (staged changes
    /// included): its posts and its timeline, oldest first, and all cases of its customer,
    /// newest first.
    pub async fn case_story(
        &mut self,
        case_id: CaseId,
        customer_id: i64,
    ) -> Result<(Vec<StoredMention>, Vec<CaseEvent>, Vec<CaseSummary>), StoreError> {
        let rows = self
            .flush_then(
                &format!(
                    "SELECT 'mention' AS row_kind, * FROM mentions WHERE case_id = ? ORDER BY id;
                     SELECT 'event' AS row_kind, at, actor, kind, detail FROM case_events WHERE case_id = ? ORDER BY id;
                     SELECT 'case' AS row_kind, {CASE_SUMMARY_COLUMNS} WHERE c.customer_id = ? ORDER BY c.id DESC"
                ),
                |w| {
                    w.bind(case_id.0)?;
                    w.bind(case_id.0)?;
                    w.bind(customer_id)
                },
            )
            .await?;
        let (mut mentions, mut events, mut cases) = (Vec::new(), Vec::new(), Vec::new());
        for r in &rows {
            match r.get::<&str, _>("row_kind") {
                "mention" => mentions.push(mention_from_row(r)?),
                "event" => events.push(event_from_row(r)?),
                _ => cases.push(summary_from_row(r)?),
            }
        }
        Ok((mentions, events, cases))
    }

    pub async fn events(&mut self, case_id: CaseId) -> Result<Vec<CaseEvent>, StoreError> {
        let rows = self
            .flush_then(
                "SELECT at, actor, kind, detail FROM case_events WHERE case_id = ? ORDER BY id",
                |w| w.bind(case_id.0),
            )
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    pub async fn list_cases(&mut self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError> {
        self.list_cases_where(filter, None).await
    }

    async fn list_cases_where(
        &mut self,
        filter: &CaseFilter,
        customer_id: Option<i64>,
    ) -> Result<Vec<CaseSummary>, StoreError> {
        let mut sql = format!("SELECT {CASE_SUMMARY_COLUMNS} WHERE 1 = 1");
        if !filter.statuses.is_empty() {
            let marks = vec!["?"; filter.statuses.len()].join(", ");
            sql.push_str(&format!(" AND c.status IN ({marks})"));
        }
        if filter.owner.is_some() {
            sql.push_str(" AND c.owner_id = ?");
        }
        if filter.unassigned {
            sql.push_str(" AND c.owner_id IS NULL");
        }
        if customer_id.is_some() {
            sql.push_str(" AND c.customer_id = ?");
        }
        if !filter.ids.is_empty() {
            sql.push_str(" AND c.id IN (SELECT value FROM json_each(?))");
        }
        sql.push_str(if filter.oldest_first {
            " ORDER BY c.last_customer_at, c.id"
        } else if customer_id.is_some() {
            " ORDER BY c.id DESC"
        } else {
            " ORDER BY c.priority, c.id"
        });
        sql.push_str(" LIMIT ?");
        let mut q = sqlx::query(&sql);
        for s in &filter.statuses {
            q = q.bind(s.as_str());
        }
        if let Some(owner) = &filter.owner {
            q = q.bind(owner);
        }
        if let Some(id) = customer_id {
            q = q.bind(id);
        }
        if !filter.ids.is_empty() {
            let ids: Vec<String> = filter.ids.iter().map(|c| c.0.to_string()).collect();
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            q = q.bind(json_list(&ids));
        }
        q = q.bind(filter.limit.unwrap_or(-1));
        let rows = q.fetch_all(self.tx.conn().await?).await?;
        rows.iter().map(summary_from_row).collect()
    }

    /// How many offers were made, by outcome (`granted`, `escalated`).
    pub async fn offer_outcomes(&mut self) -> Result<Vec<(String, i64)>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT COALESCE(json_extract(detail, '$.outcome'), '?'), COUNT(*) FROM case_events
             WHERE kind = 'offer' AND kind NOT IN ('opened', 'mention') GROUP BY 1 ORDER BY 1",
        )
        .fetch_all(self.tx.conn().await?)
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// How many posts were ignored, by reason.
    pub async fn ignored_counts(&mut self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT reason, COUNT(*) FROM ignored_posts GROUP BY reason ORDER BY reason")
            .fetch_all(self.tx.conn().await?)
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
