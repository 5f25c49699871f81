//! What agents chose among suggestions, read back from the case timeline.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{secs_opt, Tx};
use crate::domain::playbook::eval::AgentChoice;
use crate::domain::{CaseId, Network};
use crate::store::StoreError;

impl Tx {
    /// Every `recategorised` and `suggestion_used` event at or after `since`, oldest first,
    /// with the chosen playbook and the case's first post.
    pub async fn agent_choices(
        &mut self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<AgentChoice>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.case_id, e.at, e.actor, e.kind,
                    COALESCE(json_extract(e.detail, '$.to'), json_extract(e.detail, '$.playbook')) AS playbook,
                    m.text, m.network
             FROM case_events e
             JOIN mentions m ON m.id = (SELECT MIN(id) FROM mentions WHERE case_id = e.case_id)
             WHERE e.kind IN ('recategorised', 'suggestion_used') AND e.kind NOT IN ('opened', 'mention') AND (? IS NULL OR e.at >= ?)
             ORDER BY e.id",
        )
        .bind(secs_opt(since))
        .bind(secs_opt(since))
        .fetch_all(self.tx.conn().await?)
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
