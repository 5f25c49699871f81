//! The SQLite adapter: WAL mode, one writer, prepared statements cached per connection.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqlitePool};

use super::{CaseEvent, CaseFilter, CaseSummary, OutboxRow, StoreError, StoredMention};
use crate::domain::case::{Case, CaseStatus, Customer, Owner};
use crate::domain::feed::Mention;
use crate::domain::{CaseId, Handle, Network, Priority, Segment};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The database handle; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

/// One database transaction; dropped without [`Tx::commit`] it rolls back.
///
/// Rows of the append-only tables (mentions, case events, outbox) are buffered and written
/// several to a statement before anything reads those tables and at commit: an import writes
/// hundreds of them per transaction, and each statement is a round trip to SQLite's thread.
pub struct Tx {
    tx: sqlx::Transaction<'static, Sqlite>,
    pending: Pending,
}

/// Appended rows not yet written, in the order they were appended.
#[derive(Default)]
struct Pending {
    mentions: Vec<PendingMention>,
    events: Vec<PendingEvent>,
    outbox: Vec<PendingOutbox>,
    /// Source ids and network ids of the pending mentions, for deduplication.
    source_ids: HashSet<String>,
    external_ids: HashSet<String>,
}

struct PendingMention {
    case_id: i64,
    customer_id: i64,
    mention: Mention,
    feed_channel_id: Option<String>,
    feed_message_id: Option<String>,
    at: DateTime<Utc>,
}

struct PendingEvent {
    case_id: i64,
    at: DateTime<Utc>,
    actor: String,
    kind: String,
    detail: String,
}

struct PendingOutbox {
    case_id: Option<i64>,
    payload: String,
    at: DateTime<Utc>,
}

/// The most rows one buffered INSERT writes (mentions have 15 columns: 480 parameters).
const ROWS_PER_INSERT: usize = 32;

/// `head VALUES (?, ..), (?, ..)` with `rows` groups of `cols` parameters.
fn values_sql(head: &str, cols: usize, rows: usize) -> String {
    let group = format!("({})", vec!["?"; cols].join(", "));
    format!("{head} VALUES {}", vec![group; rows].join(", "))
}

/// Splits `n` rows into statements of 32, 16, 8, 4, 2 and 1 rows, so only six statement shapes
/// per table reach the prepared-statement cache.
fn chunk_sizes(mut n: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if n == 0 {
            return None;
        }
        let size = ROWS_PER_INSERT.min(1 << n.ilog2());
        n -= size;
        Some(size)
    })
}

/// The case a new mention's customer most recently had, with the text and link of its first post.
pub struct CaseWithOpening {
    pub case: Case,
    pub opening_text: String,
    pub opening_url: Option<String>,
}

/// The fields a new case starts with.
pub struct NewCase<'a> {
    pub customer_id: i64,
    pub priority: Priority,
    pub priority_reasons: &'a [String],
    pub category: &'a str,
    pub title: &'a str,
    pub unparsed: bool,
    pub feed_channel_id: Option<&'a str>,
    pub feed_message_id: Option<&'a str>,
    pub at: DateTime<Utc>,
}

impl Store {
    /// Opens (creating when missing) the database at `url` and applies migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
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
        // An in-memory database exists once per connection: keep exactly one.
        let pool = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { 4 })
            .min_connections(if memory { 1 } else { 0 })
            .idle_timeout(if memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if memory {
                None
            } else {
                Some(Duration::from_secs(3600))
            })
            .connect_with(options)
            .await
            .map_err(StoreError::Open)?;
        MIGRATOR.run(&pool).await?;
        Ok(Store { pool })
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE`, so concurrent writers queue instead of failing).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Tx {
            tx,
            pending: Pending::default(),
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
        Ok(rows.iter().map(outbox_row).collect())
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
        Ok(rows.iter().map(outbox_row).collect())
    }

    /// The newest outbox row id (0 when empty).
    pub async fn last_outbox_id(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM outbox")
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn mark_delivered(&self, outbox_id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?")
            .bind(now)
            .bind(outbox_id)
            .execute(&self.pool)
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
        .bind(retry_at)
        .bind(outbox_id)
        .execute(&self.pool)
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
        .execute(&self.pool)
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
        let tx = self.pool.begin().await?;
        Ok(Tx {
            tx,
            pending: Pending::default(),
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn parse_col<T>(
    value: &str,
    parse: impl Fn(&str) -> Result<T, crate::domain::ParseError>,
) -> Result<T, StoreError> {
    parse(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn json_vec(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("json list `{text}`: {e}")))
}

fn case_from_row(r: &SqliteRow) -> Result<Case, StoreError> {
    let owner_id: Option<String> = r.get("owner_id");
    let owner_name: Option<String> = r.get("owner_name");
    Ok(Case {
        id: CaseId(r.get("id")),
        customer_id: r.get("customer_id"),
        status: parse_col(r.get("status"), CaseStatus::parse)?,
        priority: parse_col(r.get("priority"), Priority::parse)?,
        priority_reasons: json_vec(r.get("priority_reasons"))?,
        category: r.get("category"),
        title: r.get("title"),
        tags: json_vec(r.get("tags"))?,
        owner: owner_id.map(|id| Owner {
            name: owner_name.unwrap_or_else(|| id.clone()),
            id,
        }),
        mention_count: r.get("mention_count"),
        unparsed: r.get("unparsed"),
        feed_channel_id: r.get("feed_channel_id"),
        feed_message_id: r.get("feed_message_id"),
        thread_ref: r.get("thread_ref"),
        card_ref: r.get("card_ref"),
        opened_at: r.get("opened_at"),
        updated_at: r.get("updated_at"),
        first_response_at: r.get("first_response_at"),
        last_customer_at: r.get("last_customer_at"),
        resolved_at: r.get("resolved_at"),
    })
}

fn outbox_row(r: &SqliteRow) -> OutboxRow {
    OutboxRow {
        id: r.get("id"),
        case_id: r.get::<Option<i64>, _>("case_id").map(CaseId),
        payload: r.get("payload"),
        attempts: r.get("attempts"),
        next_attempt_at: r.get("next_attempt_at"),
    }
}

fn customer_from_row(r: &SqliteRow) -> Result<Customer, StoreError> {
    Ok(Customer {
        id: r.get("id"),
        network: parse_col(r.get("network"), Network::parse)?,
        handle: parse_col(r.get("handle"), Handle::parse)?,
        display_name: r.get("display_name"),
        segment: parse_col(r.get("segment"), Segment::parse)?,
        notes: r.get("notes"),
        created_at: r.get("created_at"),
    })
}

impl Tx {
    pub async fn commit(mut self) -> Result<(), StoreError> {
        self.flush().await?;
        self.tx.commit().await?;
        Ok(())
    }

    /// Writes the buffered mentions, events and outbox rows.
    async fn flush(&mut self) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut self.pending);
        let mut rows = pending.mentions.as_slice();
        for n in chunk_sizes(rows.len()) {
            let (chunk, rest) = rows.split_at(n);
            rows = rest;
            let sql = values_sql(
                "INSERT INTO mentions (case_id, customer_id, source_id, external_id, network, handle, display_name,
                                       text, url, followers, unparsed, feed_channel_id, feed_message_id, posted_at,
                                       received_at)",
                15,
                n,
            );
            let mut q = sqlx::query(&sql);
            for p in chunk {
                let m = &p.mention;
                q = q
                    .bind(p.case_id)
                    .bind(p.customer_id)
                    .bind(&m.source_id)
                    .bind(m.external_id.as_deref())
                    .bind(m.network.as_str())
                    .bind(m.handle.as_str())
                    .bind(m.display_name.as_deref())
                    .bind(&m.text)
                    .bind(m.url.as_deref())
                    .bind(m.followers.map(|f| f.min(i64::MAX as u64) as i64))
                    .bind(m.unparsed)
                    .bind(p.feed_channel_id.as_deref())
                    .bind(p.feed_message_id.as_deref())
                    .bind(m.posted_at)
                    .bind(p.at);
            }
            q.execute(&mut *self.tx).await?;
        }
        let mut rows = pending.events.as_slice();
        for n in chunk_sizes(rows.len()) {
            let (chunk, rest) = rows.split_at(n);
            rows = rest;
            let sql = values_sql("INSERT INTO case_events (case_id, at, actor, kind, detail)", 5, n);
            let mut q = sqlx::query(&sql);
            for e in chunk {
                q = q
                    .bind(e.case_id)
                    .bind(e.at)
                    .bind(&e.actor)
                    .bind(&e.kind)
                    .bind(&e.detail);
            }
            q.execute(&mut *self.tx).await?;
        }
        let mut rows = pending.outbox.as_slice();
        for n in chunk_sizes(rows.len()) {
            let (chunk, rest) = rows.split_at(n);
            rows = rest;
            let sql = values_sql(
                "INSERT INTO outbox (case_id, payload, created_at, next_attempt_at)",
                4,
                n,
            );
            let mut q = sqlx::query(&sql);
            for o in chunk {
                q = q.bind(o.case_id).bind(&o.payload).bind(o.at).bind(o.at);
            }
            q.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// True when a mention with this source id or network id waits in this transaction's buffer.
    fn pending_seen(&self, source_id: &str, external_id: Option<&str>) -> bool {
        self.pending.source_ids.contains(source_id)
            || external_id.is_some_and(|e| self.pending.external_ids.contains(e))
    }

    /// For a mention not seen before: finds or creates its customer (keeping a newly seen display
    /// name) and returns it with the id of the customer's most recent case. `None` when the
    /// mention (by source id or network id) was already stored or ignored; then nothing changes.
    /// One statement instead of a lookup, an upsert and a second lookup.
    pub async fn customer_for_new_mention(
        &mut self,
        m: &Mention,
        at: DateTime<Utc>,
    ) -> Result<Option<(Customer, Option<CaseId>)>, StoreError> {
        if self.pending_seen(&m.source_id, m.external_id.as_deref()) {
            return Ok(None);
        }
        let row = sqlx::query(
            "INSERT INTO customers (network, handle, display_name, created_at)
             SELECT ?1, ?2, ?3, ?4
             WHERE NOT EXISTS (SELECT 1 FROM mentions WHERE source_id = ?5 OR external_id = ?6)
               AND NOT EXISTS (SELECT 1 FROM ignored_posts WHERE source_id = ?5)
             ON CONFLICT (network, handle) DO UPDATE SET display_name = COALESCE(excluded.display_name, display_name)
             RETURNING *,
                 (SELECT c.id FROM cases c WHERE c.customer_id = customers.id ORDER BY c.id DESC LIMIT 1)
                 AS latest_case_id",
        )
        .bind(m.network.as_str())
        .bind(m.handle.as_str())
        .bind(m.display_name.as_deref())
        .bind(at)
        .bind(&m.source_id)
        .bind(m.external_id.as_deref())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|r| {
            let latest: Option<i64> = r.get("latest_case_id");
            Ok((customer_from_row(&r)?, latest.map(CaseId)))
        })
        .transpose()
    }

    /// A case with the text and link of the post that opened it, in one read.
    pub async fn case_with_opening(&mut self, id: CaseId) -> Result<Option<CaseWithOpening>, StoreError> {
        let row = sqlx::query(
            "SELECT c.*, m.text AS opening_text, m.url AS opening_url FROM cases c
             LEFT JOIN mentions m ON m.id = (SELECT min(id) FROM mentions WHERE case_id = c.id)
             WHERE c.id = ?",
        )
        .bind(id.0)
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let case = case_from_row(&row)?;
        let stored: Option<String> = row.get("opening_text");
        let (opening_text, opening_url) = match stored {
            Some(text) => (text, row.get("opening_url")),
            // Opened earlier in this transaction: the opening post is still buffered.
            None => self
                .pending
                .mentions
                .iter()
                .find(|p| p.case_id == id.0)
                .map(|p| (p.mention.text.clone(), p.mention.url.clone()))
                .unwrap_or_default(),
        };
        Ok(Some(CaseWithOpening {
            case,
            opening_text,
            opening_url,
        }))
    }

    /// True when a mention with this source id (or this network id) was already stored,
    /// or the post was already ignored.
    pub async fn already_seen(
        &mut self,
        source_id: &str,
        external_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        if self.pending_seen(source_id, external_id) {
            return Ok(true);
        }
        let seen: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM mentions WHERE source_id = ?1 OR external_id = ?2
             UNION ALL SELECT 1 FROM ignored_posts WHERE source_id = ?1 LIMIT 1",
        )
        .bind(source_id)
        .bind(external_id)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(seen.is_some())
    }

    pub async fn record_ignored(
        &mut self,
        source_id: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT OR IGNORE INTO ignored_posts (source_id, reason, received_at) VALUES (?, ?, ?)")
            .bind(source_id)
            .bind(reason)
            .bind(at)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Finds or creates the customer; a newly seen display name is kept.
    pub async fn upsert_customer(
        &mut self,
        network: &Network,
        handle: &Handle,
        display_name: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Customer, StoreError> {
        let row = sqlx::query(
            "INSERT INTO customers (network, handle, display_name, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (network, handle) DO UPDATE SET display_name = COALESCE(excluded.display_name, display_name)
             RETURNING *",
        )
        .bind(network.as_str())
        .bind(handle.as_str())
        .bind(display_name)
        .bind(at)
        .fetch_one(&mut *self.tx)
        .await?;
        customer_from_row(&row)
    }

    pub async fn customer(&mut self, id: i64) -> Result<Option<Customer>, StoreError> {
        let row = sqlx::query("SELECT * FROM customers WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *self.tx)
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
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(customer_from_row).transpose()
    }

    /// Customers with this handle on any network.
    pub async fn customers_by_handle(&mut self, handle: &Handle) -> Result<Vec<Customer>, StoreError> {
        let rows = sqlx::query("SELECT * FROM customers WHERE handle = ? ORDER BY id")
            .bind(handle.as_str())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(customer_from_row).collect()
    }

    pub async fn set_segment(&mut self, customer_id: i64, segment: Segment) -> Result<(), StoreError> {
        sqlx::query("UPDATE customers SET segment = ? WHERE id = ?")
            .bind(segment.as_str())
            .bind(customer_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The customer's most recent case.
    pub async fn latest_case(&mut self, customer_id: i64) -> Result<Option<Case>, StoreError> {
        let row = sqlx::query("SELECT * FROM cases WHERE customer_id = ? ORDER BY id DESC LIMIT 1")
            .bind(customer_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(case_from_row).transpose()
    }

    /// All cases of a customer, newest first.
    pub async fn customer_cases(&mut self, customer_id: i64) -> Result<Vec<CaseSummary>, StoreError> {
        let filter = CaseFilter::default();
        self.list_cases_where(&filter, Some(customer_id)).await
    }

    pub async fn insert_case(&mut self, new: NewCase<'_>) -> Result<Case, StoreError> {
        let row = sqlx::query(
            "INSERT INTO cases (customer_id, status, priority, priority_reasons, category, title, mention_count,
                                unparsed, feed_channel_id, feed_message_id, opened_at, updated_at, last_customer_at)
             VALUES (?, 'new', ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(new.customer_id)
        .bind(new.priority.as_str())
        .bind(serde_json::to_string(new.priority_reasons).unwrap_or_else(|_| "[]".into()))
        .bind(new.category)
        .bind(new.title)
        .bind(new.unparsed)
        .bind(new.feed_channel_id)
        .bind(new.feed_message_id)
        .bind(new.at)
        .bind(new.at)
        .bind(new.at)
        .fetch_one(&mut *self.tx)
        .await?;
        case_from_row(&row)
    }

    pub async fn case(&mut self, id: CaseId) -> Result<Option<Case>, StoreError> {
        let row = sqlx::query("SELECT * FROM cases WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(case_from_row).transpose()
    }

    /// Writes back the mutable fields of a case.
    pub async fn update_case(&mut self, case: &Case) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE cases SET status = ?, priority = ?, priority_reasons = ?, category = ?, tags = ?, owner_id = ?,
                owner_name = ?, mention_count = ?, updated_at = ?, first_response_at = ?, last_customer_at = ?,
                resolved_at = ?
             WHERE id = ?",
        )
        .bind(case.status.as_str())
        .bind(case.priority.as_str())
        .bind(serde_json::to_string(&case.priority_reasons).unwrap_or_else(|_| "[]".into()))
        .bind(&case.category)
        .bind(serde_json::to_string(&case.tags).unwrap_or_else(|_| "[]".into()))
        .bind(case.owner.as_ref().map(|o| o.id.as_str()))
        .bind(case.owner.as_ref().map(|o| o.name.as_str()))
        .bind(case.mention_count)
        .bind(case.updated_at)
        .bind(case.first_response_at)
        .bind(case.last_customer_at)
        .bind(case.resolved_at)
        .bind(case.id.0)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Stores a mention (buffered until the next read of mentions or the commit).
    pub async fn insert_mention(
        &mut self,
        case_id: CaseId,
        customer_id: i64,
        m: &Mention,
        feed_channel_id: Option<&str>,
        feed_message_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.pending.source_ids.insert(m.source_id.clone());
        if let Some(e) = &m.external_id {
            self.pending.external_ids.insert(e.clone());
        }
        self.pending.mentions.push(PendingMention {
            case_id: case_id.0,
            customer_id,
            mention: m.clone(),
            feed_channel_id: feed_channel_id.map(str::to_string),
            feed_message_id: feed_message_id.map(str::to_string),
            at,
        });
        Ok(())
    }

    /// The post that opened the case.
    pub async fn opening_mention(&mut self, case_id: CaseId) -> Result<Option<StoredMention>, StoreError> {
        Ok(self.mentions_where(case_id, 1).await?.pop())
    }

    pub async fn mentions(&mut self, case_id: CaseId) -> Result<Vec<StoredMention>, StoreError> {
        self.mentions_where(case_id, -1).await
    }

    async fn mentions_where(
        &mut self,
        case_id: CaseId,
        limit: i64,
    ) -> Result<Vec<StoredMention>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query("SELECT * FROM mentions WHERE case_id = ? ORDER BY id LIMIT ?")
            .bind(case_id.0)
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredMention {
                    id: r.get("id"),
                    source_id: r.get("source_id"),
                    network: parse_col(r.get("network"), Network::parse)?,
                    handle: parse_col(r.get("handle"), Handle::parse)?,
                    display_name: r.get("display_name"),
                    text: r.get("text"),
                    url: r.get("url"),
                    followers: r.get("followers"),
                    unparsed: r.get("unparsed"),
                    posted_at: r.get("posted_at"),
                })
            })
            .collect()
    }

    /// Appends to the case timeline (buffered until the next read of events or the commit).
    pub async fn append_event(
        &mut self,
        case_id: CaseId,
        at: DateTime<Utc>,
        actor: &str,
        kind: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.pending.events.push(PendingEvent {
            case_id: case_id.0,
            at,
            actor: actor.to_string(),
            kind: kind.to_string(),
            detail: detail.to_string(),
        });
        Ok(())
    }

    pub async fn events(&mut self, case_id: CaseId) -> Result<Vec<CaseEvent>, StoreError> {
        self.flush().await?;
        let rows =
            sqlx::query("SELECT at, actor, kind, detail FROM case_events WHERE case_id = ? ORDER BY id")
                .bind(case_id.0)
                .fetch_all(&mut *self.tx)
                .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.get("detail");
                Ok(CaseEvent {
                    at: r.get("at"),
                    actor: r.get("actor"),
                    kind: r.get("kind"),
                    detail: serde_json::from_str(&detail).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                })
            })
            .collect()
    }

    /// Queues a message for the chat adapters, in this transaction (written at commit).
    pub async fn enqueue(
        &mut self,
        case_id: Option<CaseId>,
        payload: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.pending.outbox.push(PendingOutbox {
            case_id: case_id.map(|c| c.0),
            payload: payload.into(),
            at,
        });
        Ok(())
    }

    /// Moves a feed channel's cursor forward (never backwards: ids are snowflakes, compared as numbers).
    pub async fn advance_feed_cursor(
        &mut self,
        channel_id: &str,
        message_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO feed_cursors (channel_id, last_message_id) VALUES (?1, ?2)
             ON CONFLICT (channel_id) DO UPDATE SET last_message_id = ?2
             WHERE length(?2) > length(last_message_id)
                OR (length(?2) = length(last_message_id) AND ?2 > last_message_id)",
        )
        .bind(channel_id)
        .bind(message_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn list_cases(&mut self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError> {
        self.list_cases_where(filter, None).await
    }

    async fn list_cases_where(
        &mut self,
        filter: &CaseFilter,
        customer_id: Option<i64>,
    ) -> Result<Vec<CaseSummary>, StoreError> {
        let mut sql = String::from(
            "SELECT c.id, c.status, c.priority, cu.network, cu.handle, c.mention_count, c.category, c.owner_name,
                    c.title, c.opened_at, c.last_customer_at
             FROM cases c JOIN customers cu ON cu.id = c.customer_id WHERE 1 = 1",
        );
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
        q = q.bind(filter.limit.unwrap_or(-1));
        let rows = q.fetch_all(&mut *self.tx).await?;
        rows.iter()
            .map(|r| {
                Ok(CaseSummary {
                    id: CaseId(r.get("id")),
                    status: parse_col(r.get("status"), CaseStatus::parse)?,
                    priority: parse_col(r.get("priority"), Priority::parse)?,
                    network: parse_col(r.get("network"), Network::parse)?,
                    handle: parse_col(r.get("handle"), Handle::parse)?,
                    mentions: r.get("mention_count"),
                    category: r.get("category"),
                    owner: r.get("owner_name"),
                    title: r.get("title"),
                    opened_at: r.get("opened_at"),
                    last_customer_at: r.get("last_customer_at"),
                })
            })
            .collect()
    }

    /// How many posts were ignored, by reason.
    pub async fn ignored_counts(&mut self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT reason, COUNT(*) FROM ignored_posts GROUP BY reason ORDER BY reason")
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
