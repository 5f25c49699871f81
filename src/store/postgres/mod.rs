//! The PostgreSQL adapter: several carebot processes on one database.
//!
//! Write transactions take turns through a transaction-scoped advisory lock
//! ([`WRITE_LOCK`]), the way SQLite has one writer: ids read as the highest so far (cases,
//! SLA clocks) stay free until the commit, and a feed post two instances read at the same
//! moment is stored by the first and found by the second, whichever process they run in.
//! Reads and the outbox's bookkeeping don't take it. Buffered rows are written one statement
//! per table, as arrays unnested in order (`WITH ORDINALITY`), so a batch costs a handful of
//! round trips whatever its size.

mod digest;
mod escalations;
mod incidents;
mod ops;
mod sla;
mod suggestions;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Postgres, Row};

use super::pending::Pending;
use super::records::{
    decode, stored_url, CaseRecord, CustomerRecord, EventRecord, MentionRecord, OutboxRecord, SummaryRecord,
    CASE_SUMMARY_COLUMNS, MENTION_URL,
};
use super::{
    CaseCards, CaseEvent, CaseFilter, CaseSummary, CustomerKey, CustomersAndCases, KnownPosts, OutboxRow,
    StoreError, StoredMention,
};
use crate::domain::case::{Case, Customer};
use crate::domain::escalation::EscalationId;
use crate::domain::{CaseId, Handle, Network, Segment};

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The advisory lock key every write transaction holds until it ends ("carebot" in ASCII,
/// folded into a `bigint`).
pub(super) const WRITE_LOCK: i64 = 0x0063_6172_6562_6f74;

/// The advisory lock key outbox leases are taken under (the write lock's, plus one).
const LEASE_LOCK: i64 = WRITE_LOCK + 1;

/// How long connecting keeps trying before it gives up (the database may be starting).
const CONNECT_PATIENCE: Duration = Duration::from_secs(30);

/// The database handle; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

/// One database transaction; dropped without [`Tx::commit`] it rolls back.
pub struct Tx {
    tx: sqlx::Transaction<'static, Postgres>,
    pub(super) pending: Pending,
    /// The id the next new SLA clock gets, once known (see [`Tx::stage_clocks`]).
    next_clock_id: Option<i64>,
}

impl Store {
    /// Connects (retrying with backoff while the server is unreachable, each retry logged)
    /// and applies migrations; two processes migrating a fresh database at the same moment
    /// take turns through sqlx's migration lock.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(StoreError::Open)?;
        let started = std::time::Instant::now();
        let mut wait = Duration::from_millis(200);
        let pool = loop {
            match PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options.clone())
                .await
            {
                Ok(pool) => break pool,
                Err(e) if retryable(&e) && started.elapsed() < CONNECT_PATIENCE => {
                    tracing::warn!(
                        database = %crate::config::redact_url(url),
                        error = %e,
                        retry_in_ms = wait.as_millis() as u64,
                        "the database is not reachable yet; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(StoreError::Open(e)),
            }
        };
        MIGRATOR.run(&pool).await?;
        Ok(Store { pool })
    }

    /// Starts a write transaction holding [`WRITE_LOCK`] until it ends.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(Tx {
            tx,
            pending: Pending::default(),
            next_clock_id: None,
        })
    }

    /// A read-only snapshot (no lock).
    pub async fn read(&self) -> Result<Tx, StoreError> {
        let tx = self.pool.begin().await?;
        Ok(Tx {
            tx,
            pending: Pending::default(),
            next_clock_id: None,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn undelivered_outbox(&self, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, case_id, payload, attempts, next_attempt_at FROM outbox
             WHERE delivered_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        outbox_rows(&rows)
    }

    /// As SQLite's: the lease is taken under an advisory lock of its own, so two processes
    /// leasing at the same moment take turns and each sees the other's leases.
    pub async fn lease_outbox(
        &self,
        owner: &str,
        limit: i64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LEASE_LOCK)
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(
            "UPDATE outbox SET lease_owner = $1, lease_until = $3
             WHERE id IN (
                 SELECT o.id FROM outbox o
                 WHERE o.delivered_at IS NULL
                   AND (o.lease_owner IS NULL OR o.lease_owner = $1 OR o.lease_until < $2)
                   AND NOT EXISTS (SELECT 1 FROM outbox p
                                   WHERE p.case_id IS NOT DISTINCT FROM o.case_id AND p.id < o.id
                                     AND p.delivered_at IS NULL AND p.lease_owner <> $1 AND p.lease_until >= $2)
                 ORDER BY o.id LIMIT $4)
             RETURNING id, case_id, payload, attempts, next_attempt_at",
        )
        .bind(owner)
        .bind(now)
        .bind(until)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut rows = outbox_rows(&rows)?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    pub async fn prune_outbox(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM outbox WHERE delivered_at < $1 AND id < (SELECT MAX(id) FROM outbox)")
                .bind(before)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }

    pub async fn outbox_after(&self, id: i64, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, case_id, payload, attempts, next_attempt_at FROM outbox WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        outbox_rows(&rows)
    }

    pub async fn last_outbox_id(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0)::bigint FROM outbox")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn mark_delivered(&self, outbox_id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET delivered_at = $1, attempts = attempts + 1 WHERE id = $2")
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
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE id = $3",
        )
        .bind(error)
        .bind(retry_at)
        .bind(outbox_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn set_case_refs(
        &self,
        case_id: CaseId,
        thread_ref: Option<&str>,
        card_ref: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE cases SET thread_ref = COALESCE($1, thread_ref), card_ref = COALESCE($2, card_ref) WHERE id = $3",
        )
        .bind(thread_ref)
        .bind(card_ref)
        .bind(case_id.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn case_refs(&self, case_id: CaseId) -> Result<(Option<String>, Option<String>), StoreError> {
        let row = sqlx::query("SELECT thread_ref, card_ref FROM cases WHERE id = $1")
            .bind(case_id.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))).unwrap_or((None, None)))
    }

    pub async fn case_by_thread(&self, thread_ref: &str) -> Result<Option<CaseId>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM cases WHERE thread_ref = $1")
            .bind(thread_ref)
            .fetch_optional(&self.pool)
            .await?;
        Ok(id.map(CaseId))
    }

    pub async fn feed_cursor(&self, channel_id: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT last_message_id FROM feed_cursors WHERE channel_id = $1")
                .bind(channel_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

/// Whether connecting may succeed later: the server is starting, restarting or not
/// reachable yet (not a wrong password or a missing database).
fn retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        // 57P03: the database system is starting up (or shutting down).
        sqlx::Error::Database(d) => d.code().is_some_and(|c| c == "57P03"),
        _ => false,
    }
}

fn outbox_rows(rows: &[PgRow]) -> Result<Vec<OutboxRow>, StoreError> {
    rows.iter().map(|r| decode(r, OutboxRecord::into_row)).collect()
}

fn case_from_row(r: &PgRow) -> Result<Case, StoreError> {
    decode(r, CaseRecord::into_case)
}

fn customer_from_row(r: &PgRow) -> Result<Customer, StoreError> {
    decode(r, CustomerRecord::into_customer)
}

fn summary_from_row(r: &PgRow) -> Result<CaseSummary, StoreError> {
    decode(r, SummaryRecord::into_summary)
}

fn mention_from_row(r: &PgRow) -> Result<StoredMention, StoreError> {
    decode(r, MentionRecord::into_mention)
}

fn event_from_row(r: &PgRow) -> Result<CaseEvent, StoreError> {
    decode(r, EventRecord::into_event)
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

/// The last of each key, in the order of their last occurrence: a statement that upserts
/// several rows may touch each row only once in PostgreSQL.
fn last_of_each<T, K: std::hash::Hash + Eq>(items: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    let mut last: HashMap<K, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        last.insert(key(item), i);
    }
    items
        .into_iter()
        .enumerate()
        .filter(|(i, item)| last.get(&key(item)) == Some(i))
        .map(|(_, item)| item)
        .collect()
}

/// The case rows of [`Tx::case_cards`]: the cases `cases` selects (an expression over `$1`)
/// with the text and link of their first post.
fn case_with_opening_sql(cases: &str) -> String {
    format!(
        "SELECT c.*, m.text AS opening_text, {MENTION_URL} AS opening_url FROM cases c
         LEFT JOIN LATERAL (SELECT text, url, external_id FROM mentions WHERE case_id = c.id ORDER BY id LIMIT 1) m
             ON TRUE
         WHERE c.id IN ({cases})"
    )
}

impl Tx {
    pub async fn commit(mut self) -> Result<(), StoreError> {
        self.flush().await?;
        self.tx.commit().await?;
        Ok(())
    }

    /// Writes the buffered rows: cases first (mentions and events refer to them), clocks and
    /// grants, then ignored posts, mentions, events, outbox rows in the order they were added,
    /// feed cursors, timer cancellations and new timers.
    async fn flush(&mut self) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut self.pending);
        if pending.rows() == 0 {
            return Ok(());
        }
        let conn = &mut *self.tx;
        // A write-back is an upsert here too: an unchanged indexed value keeps an update HOT.
        let mut cases = pending.cases;
        cases.extend(pending.case_changes.into_iter().map(|c| c.after));
        let cases = last_of_each(cases, |c| c.id);
        if !cases.is_empty() {
            let owner = |c: &Case| c.owner.clone();
            sqlx::query(
                "INSERT INTO cases (id, customer_id, status, priority, priority_reasons, category, title, tags,
                     owner_id, owner_name, mention_count, unparsed, feed_channel_id, feed_message_id, opened_at,
                     updated_at, first_response_at, last_customer_at, resolved_at, granted, incident_id)
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::boolean[], $13::text[],
                     $14::text[], $15::timestamptz[], $16::timestamptz[], $17::timestamptz[], $18::timestamptz[],
                     $19::timestamptz[], $20::text[], $21::bigint[])
                 ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, priority = EXCLUDED.priority,
                     priority_reasons = EXCLUDED.priority_reasons, category = EXCLUDED.category,
                     tags = EXCLUDED.tags, owner_id = EXCLUDED.owner_id, owner_name = EXCLUDED.owner_name,
                     mention_count = EXCLUDED.mention_count, updated_at = EXCLUDED.updated_at,
                     first_response_at = EXCLUDED.first_response_at, last_customer_at = EXCLUDED.last_customer_at,
                     resolved_at = EXCLUDED.resolved_at, granted = EXCLUDED.granted,
                     incident_id = EXCLUDED.incident_id",
            )
            .bind(cases.iter().map(|c| c.id.0).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| c.customer_id).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| c.status.as_str()).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| c.priority.as_str()).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| json(&c.priority_reasons)).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| c.category.as_str()).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| c.title.as_str()).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| json(&c.tags)).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| owner(c).map(|o| o.id)).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| owner(c).map(|o| o.name)).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| c.mention_count).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| c.unparsed).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| c.feed_channel_id.clone()).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| c.feed_message_id.clone()).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| c.opened_at).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| c.updated_at).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| c.first_response_at).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| c.last_customer_at).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| c.resolved_at).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| json(&c.granted)).collect::<Vec<_>>())
            .bind(cases.iter().map(|c| c.incident_id).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        sla::write_clocks(conn, last_of_each(pending.clocks, |c| c.id)).await?;
        escalations::write_grants(conn, &pending.grants).await?;
        let ignored = &pending.ignored;
        if !ignored.is_empty() {
            sqlx::query(
                "INSERT INTO ignored_posts (source_id, reason, received_at)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[]) ON CONFLICT DO NOTHING",
            )
            .bind(ignored.iter().map(|i| i.source_id.as_str()).collect::<Vec<_>>())
            .bind(ignored.iter().map(|i| i.reason).collect::<Vec<_>>())
            .bind(ignored.iter().map(|i| i.at).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        let mentions = &pending.mentions;
        if !mentions.is_empty() {
            sqlx::query(
                "INSERT INTO mentions (case_id, customer_id, source_id, external_id, network, handle, display_name,
                     text, url, followers, unparsed, feed_channel_id, feed_message_id, posted_at, received_at)
                 SELECT a, b, c, d, e, f, g, h, i, j, k, l, m, n, o FROM UNNEST($1::bigint[], $2::bigint[],
                     $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                     $10::bigint[], $11::boolean[], $12::text[], $13::text[], $14::timestamptz[],
                     $15::timestamptz[]) WITH ORDINALITY AS r(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, ord)
                 ORDER BY ord",
            )
            .bind(mentions.iter().map(|p| p.case_id).collect::<Vec<_>>())
            .bind(mentions.iter().map(|p| p.customer_id).collect::<Vec<_>>())
            .bind(mentions.iter().map(|p| p.mention.source_id.as_str()).collect::<Vec<_>>())
            .bind(mentions.iter().map(|p| p.mention.external_id.as_deref()).collect::<Vec<_>>())
            .bind(mentions.iter().map(|p| p.mention.network.as_str()).collect::<Vec<_>>())
            .bind(mentions.iter().map(|p| p.mention.handle.as_str()).collect::<Vec<_>>())
            .bind(mentions.iter().map(|p| p.mention.display_name.as_deref()).collect::<Vec<_>>())
            .bind(mentions.iter().map(|p| p.mention.text.as_str()).collect::<Vec<_>>())
            .bind(mentions.iter().map(|p| stored_url(&p.mention)).collect::<Vec<_>>())
            .bind(
                mentions
                    .iter()
                    .map(|p| p.mention.followers.map(|f| f.min(i64::MAX as u64) as i64))
                    .collect::<Vec<_>>(),
            )
            .bind(mentions.iter().map(|p| p.mention.unparsed).collect::<Vec<_>>())
            .bind(mentions.iter().map(|p| p.feed_channel_id.as_deref()).collect::<Vec<_>>())
            .bind(mentions.iter().map(|p| p.feed_message_id.as_deref()).collect::<Vec<_>>())
            .bind(mentions.iter().map(|p| p.mention.posted_at).collect::<Vec<_>>())
            .bind(mentions.iter().map(|p| p.at).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        let events = &pending.events;
        if !events.is_empty() {
            sqlx::query(
                "INSERT INTO case_events (case_id, at, actor, kind, detail)
                 SELECT a, b, c, d, e FROM UNNEST($1::bigint[], $2::timestamptz[], $3::text[], $4::text[],
                     $5::text[]) WITH ORDINALITY AS r(a, b, c, d, e, ord) ORDER BY ord",
            )
            .bind(events.iter().map(|e| e.case_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.at).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        let outbox = &pending.outbox;
        if !outbox.is_empty() {
            sqlx::query(
                "INSERT INTO outbox (case_id, payload, created_at, next_attempt_at)
                 SELECT a, b, c, c FROM UNNEST($1::bigint[], $2::text[], $3::timestamptz[])
                     WITH ORDINALITY AS r(a, b, c, ord) ORDER BY ord",
            )
            .bind(outbox.iter().map(|o| o.case_id).collect::<Vec<_>>())
            .bind(outbox.iter().map(|o| o.payload.as_str()).collect::<Vec<_>>())
            .bind(outbox.iter().map(|o| o.at).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        for (channel_id, message_id) in &pending.cursors {
            sqlx::query(
                "INSERT INTO feed_cursors (channel_id, last_message_id) VALUES ($1, $2)
                 ON CONFLICT (channel_id) DO UPDATE SET last_message_id = EXCLUDED.last_message_id
                 WHERE length(EXCLUDED.last_message_id) > length(feed_cursors.last_message_id)
                    OR (length(EXCLUDED.last_message_id) = length(feed_cursors.last_message_id)
                        AND EXCLUDED.last_message_id > feed_cursors.last_message_id)",
            )
            .bind(channel_id)
            .bind(message_id)
            .execute(&mut *conn)
            .await?;
        }
        escalations::write_cancellations(conn, &pending.cancelled_escalations).await?;
        escalations::write_timers(conn, &pending.timers).await?;
        Ok(())
    }

    pub async fn known_posts(
        &mut self,
        source_ids: &[&str],
        external_ids: &[&str],
    ) -> Result<KnownPosts, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT 's' AS kind, source_id AS key FROM mentions WHERE source_id = ANY($1)
             UNION ALL
             SELECT 's', source_id FROM ignored_posts WHERE source_id = ANY($1)
             UNION ALL
             SELECT 'e', external_id FROM mentions WHERE external_id = ANY($2)
             UNION ALL
             SELECT 'n', COALESCE(MAX(id), 0)::text FROM cases",
        )
        .bind(source_ids)
        .bind(external_ids)
        .fetch_all(&mut *self.tx)
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

    /// The customers of a batch: the stored ones read (their names then are the old names),
    /// the new ones inserted in order of first appearance, and only the stored ones whose
    /// name changes updated (an upsert would write a new version of every row it touches).
    /// Write transactions take turns (an advisory lock), so no other process inserts one of
    /// these customers in between.
    pub async fn customers_for_mentions(
        &mut self,
        customers: &[CustomerKey<'_>],
        old_names_for: &[CustomerKey<'_>],
        at: DateTime<Utc>,
    ) -> Result<CustomersAndCases, StoreError> {
        self.flush().await?;
        let keys = last_of_each(customers.to_vec(), |k| (k.network.as_str(), k.handle.as_str()));
        let rows = sqlx::query(
            "SELECT cu.* FROM customers cu
             JOIN UNNEST($1::text[], $2::text[]) AS k(network, handle) USING (network, handle)",
        )
        .bind(keys.iter().map(|k| k.network.as_str()).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.handle.as_str()).collect::<Vec<_>>())
        .fetch_all(&mut *self.tx)
        .await?;
        let place: HashMap<(&str, &str), usize> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| ((k.network.as_str(), k.handle.as_str()), i))
            .collect();
        let place_of = |k: &CustomerKey<'_>| place.get(&(k.network.as_str(), k.handle.as_str())).copied();
        let mut stored: Vec<Option<Customer>> = (0..keys.len()).map(|_| None).collect();
        for row in &rows {
            let c = customer_from_row(row)?;
            if let Some(&i) = place.get(&(c.network.as_str(), c.handle.as_str())) {
                stored[i] = Some(c);
            }
        }
        let mut out = CustomersAndCases::default();
        for k in old_names_for {
            if let Some(Some(c)) = place_of(k).map(|i| &stored[i]) {
                let (network, handle) = (k.network.as_str().to_string(), k.handle.as_str().to_string());
                out.old_names.push((network, handle, c.display_name.clone()));
            }
        }
        let ids: Vec<i64> = stored.iter().flatten().map(|c| c.id).collect();
        let mut new = Vec::new();
        let mut renamed: Vec<(i64, &str)> = Vec::new();
        for (k, c) in keys.iter().zip(&mut stored) {
            match c {
                None => new.push(k),
                Some(c) => {
                    if let Some(name) = k.display_name.filter(|n| c.display_name.as_deref() != Some(*n)) {
                        renamed.push((c.id, name));
                        c.display_name = Some(name.to_string());
                    }
                }
            }
        }
        if !renamed.is_empty() {
            sqlx::query(
                "UPDATE customers SET display_name = k.d
                 FROM UNNEST($1::bigint[], $2::text[]) AS k(id, d) WHERE customers.id = k.id",
            )
            .bind(renamed.iter().map(|r| r.0).collect::<Vec<_>>())
            .bind(renamed.iter().map(|r| r.1).collect::<Vec<_>>())
            .execute(&mut *self.tx)
            .await?;
        }
        out.customers = stored.into_iter().flatten().collect();
        if !new.is_empty() {
            let rows = sqlx::query(
                "INSERT INTO customers (network, handle, display_name, created_at)
                 SELECT n, h, d, $4 FROM UNNEST($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(n, h, d, ord)
                 ORDER BY ord
                 RETURNING *",
            )
            .bind(new.iter().map(|k| k.network.as_str()).collect::<Vec<_>>())
            .bind(new.iter().map(|k| k.handle.as_str()).collect::<Vec<_>>())
            .bind(new.iter().map(|k| k.display_name).collect::<Vec<_>>())
            .bind(at)
            .fetch_all(&mut *self.tx)
            .await?;
            for row in &rows {
                out.customers.push(customer_from_row(row)?);
            }
        }
        // Only customers stored before have cases.
        if !ids.is_empty() {
            let rows = sqlx::query(
                "SELECT * FROM cases WHERE id IN
                     (SELECT (SELECT max(id) FROM cases WHERE customer_id = k.id) FROM UNNEST($1::bigint[]) AS k(id))",
            )
            .bind(ids)
            .fetch_all(&mut *self.tx)
            .await?;
            out.latest_cases = rows.iter().map(case_from_row).collect::<Result<_, _>>()?;
        }
        Ok(out)
    }

    pub async fn customer(&mut self, id: i64) -> Result<Option<Customer>, StoreError> {
        let row = sqlx::query("SELECT * FROM customers WHERE id = $1")
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
        let row = sqlx::query("SELECT * FROM customers WHERE network = $1 AND handle = $2")
            .bind(network.as_str())
            .bind(handle.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(customer_from_row).transpose()
    }

    pub async fn customers_by_handle(&mut self, handle: &Handle) -> Result<Vec<Customer>, StoreError> {
        let rows = sqlx::query("SELECT * FROM customers WHERE handle = $1 ORDER BY id")
            .bind(handle.as_str())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(customer_from_row).collect()
    }

    pub async fn set_segment(&mut self, customer_id: i64, segment: Segment) -> Result<(), StoreError> {
        sqlx::query("UPDATE customers SET segment = $1 WHERE id = $2")
            .bind(segment.as_str())
            .bind(customer_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn customer_cases(&mut self, customer_id: i64) -> Result<Vec<CaseSummary>, StoreError> {
        self.list_cases_where(&CaseFilter::default(), Some(customer_id))
            .await
    }

    pub async fn case(&mut self, id: CaseId) -> Result<Option<Case>, StoreError> {
        self.flush().await?;
        let row = sqlx::query("SELECT * FROM cases WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(case_from_row).transpose()
    }

    pub async fn case_cards(&mut self, ids: &[CaseId]) -> Result<CaseCards, StoreError> {
        self.flush().await?;
        let ids: Vec<i64> = ids.iter().map(|c| c.0).collect();
        self.cards_of(&ids, true).await
    }

    pub async fn cases_at_hand(&mut self, ids: &[CaseId]) -> Result<CaseCards, StoreError> {
        self.flush().await?;
        let ids: Vec<i64> = ids.iter().map(|c| c.0).collect();
        self.cards_of(&ids, false).await
    }

    /// [`Tx::case_cards`] (`card`) or [`Tx::cases_at_hand`] once the buffered rows are written.
    async fn cards_of(&mut self, ids: &[i64], card: bool) -> Result<CaseCards, StoreError> {
        let cases = "SELECT UNNEST($1::bigint[])";
        let mut out = CaseCards::default();
        if card {
            let rows = sqlx::query(&case_with_opening_sql(cases))
                .bind(ids)
                .fetch_all(&mut *self.tx)
                .await?;
            for r in &rows {
                let case = case_from_row(r)?;
                let text: Option<String> = r.get("opening_text");
                if let Some(text) = text {
                    out.openings.push((case.id, text, r.get("opening_url")));
                }
                out.cases.push(case);
            }
            let rows = sqlx::query(&format!(
                "SELECT * FROM sla_clocks WHERE case_id IN ({cases}) ORDER BY case_id, id"
            ))
            .bind(ids)
            .fetch_all(&mut *self.tx)
            .await?;
            out.clocks = rows.iter().map(sla::clock_from_row).collect::<Result<_, _>>()?;
        } else {
            let rows = sqlx::query(&format!("SELECT * FROM cases WHERE id IN ({cases})"))
                .bind(ids)
                .fetch_all(&mut *self.tx)
                .await?;
            out.cases = rows.iter().map(case_from_row).collect::<Result<_, _>>()?;
            let rows = sqlx::query(&format!(
                "SELECT case_id, id FROM escalations WHERE case_id IN ({cases}) AND status = 'open' ORDER BY case_id, id"
            ))
            .bind(ids)
            .fetch_all(&mut *self.tx)
            .await?;
            out.open_escalations = rows
                .iter()
                .map(|r| (CaseId(r.get(0)), EscalationId(r.get(1))))
                .collect();
        }
        let rows = sqlx::query(&format!(
            "SELECT * FROM customers WHERE id IN (SELECT customer_id FROM cases WHERE id IN ({cases}))"
        ))
        .bind(ids)
        .fetch_all(&mut *self.tx)
        .await?;
        out.customers = rows.iter().map(customer_from_row).collect::<Result<_, _>>()?;
        Ok(out)
    }

    pub async fn opening_mention(&mut self, case_id: CaseId) -> Result<Option<StoredMention>, StoreError> {
        Ok(self.mentions_where(case_id, Some(1)).await?.pop())
    }

    pub async fn mentions(&mut self, case_id: CaseId) -> Result<Vec<StoredMention>, StoreError> {
        self.mentions_where(case_id, None).await
    }

    pub async fn mention_by_source(&mut self, source_id: &str) -> Result<Option<StoredMention>, StoreError> {
        self.flush().await?;
        let row = sqlx::query("SELECT * FROM mentions WHERE source_id = $1")
            .bind(source_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(mention_from_row).transpose()
    }

    async fn mentions_where(
        &mut self,
        case_id: CaseId,
        limit: Option<i64>,
    ) -> Result<Vec<StoredMention>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query("SELECT * FROM mentions WHERE case_id = $1 ORDER BY id LIMIT $2")
            .bind(case_id.0)
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(mention_from_row).collect()
    }

    pub async fn case_story(
        &mut self,
        case_id: CaseId,
        customer_id: i64,
    ) -> Result<(Vec<StoredMention>, Vec<CaseEvent>, Vec<CaseSummary>), StoreError> {
        let mentions = self.mentions(case_id).await?;
        let events = self.events(case_id).await?;
        let cases = self.customer_cases(customer_id).await?;
        Ok((mentions, events, cases))
    }

    pub async fn events(&mut self, case_id: CaseId) -> Result<Vec<CaseEvent>, StoreError> {
        self.flush().await?;
        let rows =
            sqlx::query("SELECT at, actor, kind, detail FROM case_events WHERE case_id = $1 ORDER BY id")
                .bind(case_id.0)
                .fetch_all(&mut *self.tx)
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
        self.flush().await?;
        let order = if filter.oldest_first {
            "c.last_customer_at, c.id"
        } else if customer_id.is_some() {
            "c.id DESC"
        } else {
            "c.priority, c.id"
        };
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        let ids: Vec<i64> = filter.ids.iter().map(|c| c.0).collect();
        let rows = sqlx::query(&format!(
            "SELECT {CASE_SUMMARY_COLUMNS}
             WHERE (cardinality($1::text[]) = 0 OR c.status = ANY($1))
               AND ($2::text IS NULL OR c.owner_id = $2)
               AND (NOT $3 OR c.owner_id IS NULL)
               AND ($4::bigint IS NULL OR c.customer_id = $4)
               AND (cardinality($5::bigint[]) = 0 OR c.id = ANY($5))
             ORDER BY {order} LIMIT $6"
        ))
        .bind(statuses)
        .bind(filter.owner.as_deref())
        .bind(filter.unassigned)
        .bind(customer_id)
        .bind(ids)
        .bind(filter.limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(summary_from_row).collect()
    }

    pub async fn offer_outcomes(&mut self) -> Result<Vec<(String, i64)>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT COALESCE(detail::jsonb ->> 'outcome', '?') AS outcome, COUNT(*) FROM case_events
             WHERE kind = 'offer' AND kind NOT IN ('opened', 'mention') GROUP BY 1 ORDER BY 1",
        )
        .fetch_all(&mut *self.tx)
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn ignored_counts(&mut self) -> Result<Vec<(String, i64)>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query("SELECT reason, COUNT(*) FROM ignored_posts GROUP BY reason ORDER BY reason")
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
