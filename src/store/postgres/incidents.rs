//! Surge incidents in PostgreSQL, and the mention history surge detection warms up from.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::{Store, Tx};
use crate::domain::case::CaseStatus;
use crate::domain::surge::{Incident, IncidentId};
use crate::domain::CaseId;
use crate::store::records::{decode, IncidentRecord};
use crate::store::StoreError;

fn incident_from_row(r: &PgRow) -> Result<Incident, StoreError> {
    decode(r, IncidentRecord::into_incident)
}

fn samples(i: &Incident) -> String {
    serde_json::to_string(&i.samples).unwrap_or_else(|_| "[]".into())
}

impl Tx {
    pub async fn insert_incident(&mut self, i: &Incident) -> Result<IncidentId, StoreError> {
        self.flush().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO incidents (category, status, opened_at, ended_at, window_secs, baseline_per_window,
                 peak_count, mention_count, case_count, samples, bulk_playbook)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(&i.category)
        .bind(i.status.as_str())
        .bind(i.opened_at)
        .bind(i.ended_at)
        .bind(i.window_secs)
        .bind(i.baseline_per_window)
        .bind(i64::from(i.peak_count))
        .bind(i64::from(i.mention_count))
        .bind(i64::from(i.case_count))
        .bind(samples(i))
        .bind(i.bulk_playbook.as_deref())
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(IncidentId(id))
    }

    pub async fn update_incident(&mut self, i: &Incident) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET status = $1, ended_at = $2, peak_count = $3, mention_count = $4, case_count = $5,
                 samples = $6 WHERE id = $7",
        )
        .bind(i.status.as_str())
        .bind(i.ended_at)
        .bind(i64::from(i.peak_count))
        .bind(i64::from(i.mention_count))
        .bind(i64::from(i.case_count))
        .bind(samples(i))
        .bind(i.id.0)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn incident(&mut self, id: IncidentId) -> Result<Option<Incident>, StoreError> {
        let row = sqlx::query("SELECT * FROM incidents WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(incident_from_row).transpose()
    }

    pub async fn open_incidents(&mut self) -> Result<Vec<Incident>, StoreError> {
        let rows = sqlx::query("SELECT * FROM incidents WHERE status = 'open' ORDER BY id")
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(incident_from_row).collect()
    }

    pub async fn recent_incidents(&mut self, limit: i64) -> Result<Vec<Incident>, StoreError> {
        let rows = sqlx::query("SELECT * FROM incidents ORDER BY id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(incident_from_row).collect()
    }

    pub async fn group_cases(
        &mut self,
        incident: IncidentId,
        category: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<CaseId>, StoreError> {
        let active: Vec<&str> = CaseStatus::ACTIVE.iter().map(|s| s.as_str()).collect();
        let mut ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE cases SET incident_id = $1 WHERE category = $2 AND opened_at >= $3 AND incident_id IS NULL
               AND status = ANY($4) RETURNING id",
        )
        .bind(incident.0)
        .bind(category)
        .bind(since)
        .bind(active)
        .fetch_all(&mut *self.tx)
        .await?;
        ids.sort_unstable();
        Ok(ids.into_iter().map(CaseId).collect())
    }

    pub async fn incident_cases(&mut self, incident: IncidentId) -> Result<Vec<CaseId>, StoreError> {
        self.flush().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM cases WHERE incident_id = $1 AND status IN ('new', 'open', 'waiting', 'escalated') ORDER BY id",
        )
        .bind(incident.0)
        .fetch_all(&mut *self.tx)
        .await?;
        Ok(ids.into_iter().map(CaseId).collect())
    }

    pub async fn category_mentions_since(
        &mut self,
        category: &str,
        since: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        self.flush().await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM mentions m JOIN cases c ON c.id = m.case_id WHERE c.category = $1 AND m.received_at >= $2",
        )
        .bind(category)
        .bind(since)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(n.clamp(0, i64::from(u32::MAX)) as u32)
    }

    pub async fn category_samples(&mut self, category: &str, limit: i64) -> Result<Vec<String>, StoreError> {
        self.flush().await?;
        Ok(sqlx::query_scalar(
            "SELECT m.text FROM mentions m JOIN cases c ON c.id = m.case_id WHERE c.category = $1
             ORDER BY m.id DESC LIMIT $2",
        )
        .bind(category)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?)
    }
}

impl Store {
    pub async fn mention_history(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.category, m.received_at FROM mentions m JOIN cases c ON c.id = m.case_id
             WHERE m.received_at >= $1 ORDER BY m.id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn case_incident_thread(&self, case: CaseId) -> Result<Option<String>, StoreError> {
        let thread: Option<Option<String>> = sqlx::query_scalar(
            "SELECT i.thread_ref FROM cases c JOIN incidents i ON i.id = c.incident_id WHERE c.id = $1",
        )
        .bind(case.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(thread.flatten())
    }

    pub async fn incident_refs(
        &self,
        id: IncidentId,
    ) -> Result<(Option<String>, Option<String>), StoreError> {
        let row = sqlx::query("SELECT alert_ref, thread_ref FROM incidents WHERE id = $1")
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
            "UPDATE incidents SET alert_ref = COALESCE($1, alert_ref), thread_ref = COALESCE($2, thread_ref) WHERE id = $3",
        )
        .bind(alert_ref)
        .bind(thread_ref)
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
