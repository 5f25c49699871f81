//! Store queries for operators: `carebot doctor`'s database probe and `/healthz`'s ping.
//! (Kept apart so the PostgreSQL adapter can port them in one place.)

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Row};

use super::{Store, MIGRATOR};
use crate::store::StoreError;

/// What `carebot doctor` found out about a database without changing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbProbe {
    /// The SQLite file does not exist yet: the first command that writes creates it.
    Missing,
    /// Reachable; `applied` of carebot's `known` migrations are in, `pending` are still to do
    /// (carebot applies them when it starts), `unknown` were applied by a newer carebot, and
    /// `failed` did not finish.
    Reachable {
        applied: usize,
        known: usize,
        pending: Vec<String>,
        unknown: Vec<i64>,
        failed: Vec<i64>,
    },
}

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
        let failed = applied.iter().filter(|(_, ok)| !ok).map(|(v, _)| *v).collect();
        Ok(DbProbe::Reachable {
            applied: applied.len(),
            known: known.len(),
            pending,
            unknown,
            failed,
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
