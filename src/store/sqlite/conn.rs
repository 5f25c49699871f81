//! The SQLite adapter's connections: the one writer connection, held for the life of the
//! store, and the transactions carebot opens and ends on a connection itself.
//!
//! Why not sqlx's pool and `Transaction` for writes: sqlx hands a pooled connection back
//! through a task it spawns each time one is dropped, and the next write waits until that task
//! has run on a runtime worker; every write transaction then paid a woken worker thread and
//! two more hand-offs on top of its statements. Held behind an async mutex, the writer goes
//! from one transaction to the next on the caller's own task, and a transaction's `BEGIN` and
//! `COMMIT` can go out with its first and last statements instead of in round trips of their
//! own (`Tx::flush_then`, `Tx::commit`).

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Sqlite, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The held writer connection (`None` once the store is closed), and whether a transaction may
/// be open on it: set while one runs, and left set by one dropped where no runtime could roll
/// it back.
pub(super) struct Held {
    conn: Option<SqliteConnection>,
    in_tx: bool,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("open", &self.conn.is_some())
            .field("in_tx", &self.in_tx)
            .finish()
    }
}

/// Where writes run.
#[derive(Debug, Clone)]
pub(super) enum WriteConn {
    /// A database file: one connection of its own, kept open for good (its page cache stays
    /// warm, and only its own commits change the pages under it).
    Held(Arc<Mutex<Held>>),
    /// An in-memory database: its one pooled connection, which the reads share.
    Shared(SqlitePool),
}

/// A connection to run statements on: the writer, or one from a pool.
pub(super) enum Conn {
    Held(OwnedMutexGuard<Held>),
    Pooled(PoolConnection<Sqlite>),
}

impl Deref for Conn {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match self {
            // `WriteConn::conn` hands out the held connection only while it is open.
            Conn::Held(held) => held.conn.as_ref().expect("the writer is open"),
            Conn::Pooled(conn) => conn,
        }
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            Conn::Held(held) => held.conn.as_mut().expect("the writer is open"),
            Conn::Pooled(conn) => conn,
        }
    }
}

impl Conn {
    fn set_in_tx(&mut self, in_tx: bool) {
        if let Conn::Held(held) = self {
            held.in_tx = in_tx;
        }
    }
}

impl WriteConn {
    /// Holds `conn` as the writer.
    pub(super) fn held(conn: SqliteConnection) -> WriteConn {
        WriteConn::Held(Arc::new(Mutex::new(Held {
            conn: Some(conn),
            in_tx: false,
        })))
    }

    /// The writer, waiting for the transaction that has it; a transaction left open on it is
    /// rolled back first.
    pub(super) async fn conn(&self) -> Result<Conn, sqlx::Error> {
        match self {
            WriteConn::Held(held) => {
                let mut held = held.clone().lock_owned().await;
                let in_tx = held.in_tx;
                let Some(conn) = held.conn.as_mut() else {
                    return Err(sqlx::Error::PoolClosed);
                };
                if in_tx {
                    rollback(conn).await;
                    held.in_tx = false;
                }
                Ok(Conn::Held(held))
            }
            WriteConn::Shared(pool) => Ok(Conn::Pooled(pool.acquire().await?)),
        }
    }

    /// Closes the writer once the transaction that has it ends.
    pub(super) async fn close(&self) {
        match self {
            WriteConn::Held(held) => {
                let conn = held.lock().await.conn.take();
                if let Some(conn) = conn {
                    if let Err(e) = conn.close().await {
                        tracing::warn!(error = %e, "closing the SQLite writer connection failed");
                    }
                }
            }
            WriteConn::Shared(pool) => pool.close().await,
        }
    }
}

/// A transaction on one connection. Its `BEGIN` goes with its first statement: through
/// [`TxConn::conn`] as a statement of its own, or at the head of the caller's first statement
/// ([`TxConn::with_begin`]), which saves that round trip. Ended by [`TxConn::commit`] (or by
/// the caller sending `COMMIT` last and calling [`TxConn::committed`]); rolled back when
/// dropped before that.
pub(super) struct TxConn {
    /// `None` only while being dropped.
    conn: Option<Conn>,
    /// The `BEGIN` not sent yet.
    begin: Option<&'static str>,
    open: bool,
}

impl TxConn {
    /// A transaction on `conn` that `begin` (`BEGIN` or `BEGIN IMMEDIATE`) starts.
    pub(super) fn new(mut conn: Conn, begin: &'static str) -> TxConn {
        conn.set_in_tx(true);
        TxConn {
            conn: Some(conn),
            begin: Some(begin),
            open: true,
        }
    }

    fn raw(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_deref_mut()
            .expect("a transaction has its connection until dropped")
    }

    /// The connection, with the transaction begun on it.
    pub(super) async fn conn(&mut self) -> Result<&mut SqliteConnection, sqlx::Error> {
        if let Some(begin) = self.begin.take() {
            sqlx::query(begin).execute(self.raw()).await?;
        }
        Ok(self.raw())
    }

    /// The connection and, when the transaction is not begun yet, the `BEGIN` that the
    /// caller's next statement must start with.
    pub(super) fn with_begin(&mut self) -> (Option<&'static str>, &mut SqliteConnection) {
        (self.begin.take(), self.raw())
    }

    /// Whether a statement of the transaction went out (with its `BEGIN`).
    pub(super) fn begun(&self) -> bool {
        self.begin.is_none()
    }

    /// Commits (nothing to send when no statement went out).
    pub(super) async fn commit(mut self) -> Result<(), sqlx::Error> {
        if self.begun() {
            sqlx::query("COMMIT").execute(self.raw()).await?;
        }
        self.committed();
        Ok(())
    }

    /// The `COMMIT` the caller sent last went through.
    pub(super) fn committed(&mut self) {
        self.open = false;
        if let Some(conn) = self.conn.as_mut() {
            conn.set_in_tx(false);
        }
    }
}

impl Drop for TxConn {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if !self.open || self.begin.is_some() {
            // Committed, or never begun: nothing to undo.
            conn.set_in_tx(false);
            return;
        }
        // The rollback runs on a task that keeps the connection until it is done, so the next
        // transaction finds it clean. Without a runtime, the held writer stays marked and
        // `WriteConn::conn` rolls it back before handing it out again.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                rollback(&mut conn).await;
                conn.set_in_tx(false);
            });
        }
    }
}

/// Rolls back what a transaction left open. A failure means there was nothing to roll back
/// (a `BEGIN` that failed) or a connection that will fail its next statement anyway.
async fn rollback(conn: &mut SqliteConnection) {
    if let Err(e) = sqlx::query("ROLLBACK").execute(conn).await {
        tracing::debug!(error = %e, "rolling back a dropped transaction failed");
    }
}

#[cfg(test)]
mod tests {
    use super::super::Store;

    async fn cursors(store: &Store) -> i64 {
        let mut tx = store.begin().await.expect("begin");
        let n = sqlx::query_scalar("SELECT COUNT(*) FROM feed_cursors")
            .fetch_one(tx.tx.conn().await.expect("begin"))
            .await
            .expect("count");
        tx.commit().await.expect("commit");
        n
    }

    #[tokio::test]
    async fn a_dropped_write_transaction_is_rolled_back_and_the_writer_stays_usable() {
        let path = std::env::temp_dir().join(format!("carebot-conn-{}.db", std::process::id()));
        let store = Store::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("store");
        let mut tx = store.begin().await.expect("begin");
        sqlx::query("INSERT INTO feed_cursors (channel_id, last_message_id) VALUES ('c', '1')")
            .execute(tx.tx.conn().await.expect("begin"))
            .await
            .expect("insert");
        drop(tx);
        assert_eq!(cursors(&store).await, 0, "the dropped insert is gone");
        let mut tx = store.begin().await.expect("begin");
        sqlx::query("INSERT INTO feed_cursors (channel_id, last_message_id) VALUES ('c', '2')")
            .execute(tx.tx.conn().await.expect("begin"))
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
        assert_eq!(cursors(&store).await, 1, "a committed insert stays");
        // Its `BEGIN` at the head of a buffered write and a read: still one transaction.
        let mut tx = store.begin().await.expect("begin");
        tx.pending.cursors.push(("d".into(), "1".into()));
        tx.clocks(&[]).await.expect("flush and read");
        drop(tx);
        assert_eq!(
            cursors(&store).await,
            1,
            "the buffered insert is rolled back with it"
        );
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    #[tokio::test]
    async fn a_transaction_that_did_nothing_commits_without_taking_the_write_lock() {
        use sqlx::Connection;
        let path = std::env::temp_dir().join(format!("carebot-conn-empty-{}.db", std::process::id()));
        let url = format!("sqlite://{}", path.display());
        let store = Store::connect(&url).await.expect("store");
        // Another writer holds the lock: a `BEGIN IMMEDIATE` would wait out the busy timeout.
        let mut other = sqlx::SqliteConnection::connect(&url).await.expect("other");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut other)
            .await
            .expect("lock");
        let empty = store.begin().await.expect("begin");
        tokio::time::timeout(std::time::Duration::from_secs(2), empty.commit())
            .await
            .expect("no lock was waited for")
            .expect("commit");
        sqlx::query("ROLLBACK").execute(&mut other).await.expect("unlock");
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
