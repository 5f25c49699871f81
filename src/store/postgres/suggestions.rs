//! What agents chose among suggestions, read back from the case timeline (PostgreSQL).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::Tx;
use crate::domain::playbook::eval::AgentChoice;
use crate::domain::{CaseId, Network};
use crate::store::StoreError;

impl Tx {
    pub async fn agent_choices(
        &mut self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<AgentChoice>, StoreError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT e.case_id, e.at, e.actor, e.kind,
                    COALESCE(e.detail::jsonb ->> 'to', e.detail::jsonb ->> 'playbook') AS playbook,
                    m.text, m.network
             FROM case_events e
             JOIN mentions m ON m.id = (SELECT MIN(id) FROM mentions WHERE case_id = e.case_id)
             WHERE e.kind IN ('recategorised', 'suggestion_used') AND e.kind NOT IN ('opened', 'mention') AND ($1::timestamptz IS NULL OR e.at >= $1)
             ORDER BY e.id",
        )
        .bind(since)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| {
                let network: String = r.get("network");
                Ok(AgentChoice {
                    case: CaseId(r.get("case_id")),
                    at: r.get("at"),
                    actor: r.get("actor"),
                    how: r.get("kind"),
                    playbook: r.get::<Option<String>, _>("playbook").unwrap_or_default(),
                    text: r.get("text"),
                    network: Network::parse(&network)
                        .map_err(|_| StoreError::Corrupt(format!("mention network `{network}`")))?,
                })
            })
            .collect()
    }
}
