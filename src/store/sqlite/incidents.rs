//! Surge incidents in SQLite, and the mention history surge detection warms up from.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{secs, secs_opt, Store, Tx};
use crate::domain::case::CaseStatus;
use crate::domain::surge::{Incident, IncidentId};
use crate::domain::CaseId;
use crate::store::records::{decode, IncidentRecord};
use crate::store::StoreError;

fn incident_from_row(r: &SqliteRow) -> Result<Incident, StoreError> {
    decode(r, IncidentRecord::into_incident)
}

impl Tx {
    /// Stores a new incident (its id is ignored) and returns the id it got.
    pub async fn insert_incident(&mut self, i: &Incident) -> Result<IncidentId, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO incidents (category, status, opened_at, ended_at, window_secs, baseline_per_window,
                 peak_count, mention_count, case_count, samples, bulk_playbook)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&i.category)
        .bind(i.status.as_str())
        .bind(secs(i.opened_at))
        .bind(secs_opt(i.ended_at))
        .bind(i.window_secs)
        .bind(i.baseline_per_window)
        .bind(i64::from(i.peak_count))
        .bind(i64::from(i.mention_count))
        .bind(i64::from(i.case_count))
        .bind(super::json_list(&i.samples))
        .bind(i.bulk_playbook.as_deref())
        .fetch_one(self.tx.conn().await?)
        .await?;
        Ok(IncidentId(id))
    }

    /// Writes back an incident's status, counts and samples.
    pub async fn update_incident(&mut self, i: &Incident) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET status = ?, ended_at = ?, peak_count = ?, mention_count = ?, case_count = ?,
                 samples = ? WHERE id = ?",
        )
        .bind(i.status.as_str())
        .bind(secs_opt(i.ended_at))
        .bind(i64::from(i.peak_count))
        .bind(i64::from(i.mention_count))
        .bind(i64::from(i.case_count))
        .bind(super::json_list(&i.samples))
        .bind(i.id.0)
        .execute(self.tx.conn().await?)
        .await?;
        Ok(())
    }

    pub async fn incident(&mut self, id: IncidentId) -> Result<Option<Incident>, StoreError> {
        let row = sqlx::query("SELECT * FROM incidents WHERE id = ?")
            .bind(id.0)
            .fetch_optional(self.tx.conn().await?)
            .await?;
        row.as_ref().map(incident_from_row).transpose()
    }

    /// Incidents still open (new cases of their category join them).
    pub async fn open_incidents(&mut self) -> Result<Vec<Incident>, StoreError> {
        let rows = sqlx::query("SELECT * FROM incidents WHERE status = 'open' ORDER BY id")
            .fetch_all(self.tx.conn().await?)
            .await?;
        rows.iter().map(incident_from_row).collect()
    }

    /// The most recent incidents, newest first.
    pub async fn recent_incidents(&mut self, limit: i64) -> Result<Vec<Incident>, StoreError> {
        let rows = sqlx::query("SELECT * FROM incidents ORDER BY id DESC LIMIT ?")
            .bind(limit)
            .fetch_all(self.tx.conn().await?)
            .await?;
        rows.iter().map(incident_from_row).collect()
    }

    /// Groups the stored active cases of `category` opened since `since` under `incident`;
    /// returns their ids.
    pub async fn group_cases(
        &mut self,
        incident: IncidentId,
        category: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<CaseId>, StoreError> {
        let active: Vec<&str> = CaseStatus::ACTIVE.iter().map(|s| s.as_str()).collect();
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE cases SET incident_id = ? WHERE category = ? AND opened_at >= ? AND incident_id IS NULL
               AND status IN (SELECT value FROM json_each(?)) RETURNING id",
        )
        .bind(incident.0)
        .bind(category)
        .bind(secs(since))
        .bind(super::json_list(&active))
        .fetch_all(self.tx.conn().await?)
        .await?;
        Ok(ids.into_iter().map(CaseId).collect())
    }

    /// The active cases grouped under an incident, oldest first.
    pub async fn incident_cases(&mut self, incident: IncidentId) -> Result<Vec<CaseId>, StoreError> {
        self.flush().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM cases WHERE incident_id = ? AND status IN ('new', 'open', 'waiting', 'escalated') ORDER BY id",
        )
        .bind(incident.0)
        .fetch_all(self.tx.conn().await?)
        .await?;
        Ok(ids.into_iter().map(CaseId).collect())
    }

    /// Mentions of `category` received since `since` (what ended an incident is measured with).
    pub async fn category_mentions_since(
        &mut self,
        category: &str,
        since: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        self.flush().await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM mentions m JOIN cases c ON c.id = m.case_id WHERE c.category = ? AND m.received_at >= ?",
        )
        .bind(category)
        .bind(secs(since))
        .fetch_one(self.tx.conn().await?)
        .await?;
        Ok(n.max(0) as u32)
    }

    /// The texts of the latest mentions of `category`, newest first.
    pub async fn category_samples(&mut self, category: &str, limit: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT m.text FROM mentions m JOIN cases c ON c.id = m.case_id WHERE c.category = ?
             ORDER BY m.id DESC LIMIT ?",
        )
        .bind(category)
        .bind(limit)
        .fetch_all(self.tx.conn().await?)
        .await?)
    }
}

impl Store {
    /// `(category, received_at)` of every mention received since `since`, oldest first.
    pub async fn mention_history(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.category, m.received_at FROM mentions m JOIN cases c ON c.id = m.case_id
             WHERE m.received_at >= ? ORDER BY m.id",
        )
        .bind(secs(since))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The thread of the incident a case is grouped under, once it exists.
    pub async fn case_incident_thread(&self, case: CaseId) -> Result<Option<String>, StoreError> {
        let thread: Option<Option<String>> = sqlx::query_scalar(
            "SELECT i.thread_ref FROM cases c JOIN incidents i ON i.id = c.incident_id WHERE c.id = ?",
        )
        .bind(case.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(thread.flatten())
    }

    /// The chat adapter's alert message and thread of an incident.
    pub async fn incident_refs(
        &self,
        id: IncidentId,
    ) -> Result<(Option<String>, Option<String>), StoreError> {
        let row = sqlx::query("SELECT alert_ref, thread_ref FROM incidents WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))).unwrap_or((None, None)))
    }

    pub async fn set_incident_refs(
        &self,
        id: IncidentId,
        alert_ref: Option<&str>,
        thread_ref: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET alert_ref = COALESCE(?, alert_ref), thread_ref = COALESCE(?, thread_ref) WHERE id = ?",
        )
        .bind(alert_ref)
        .bind(thread_ref)
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
