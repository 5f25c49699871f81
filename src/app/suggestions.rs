//! What agents choose among suggestions, recorded so the library can learn with a person in
//! the loop: re-categorising a case, using a suggestion (which drafts the reply), and reading
//! those choices back for `playbooks eval --from-db` and `playbooks examples --from-db`.

use chrono::{DateTime, Utc};

use super::ingest::template_vars;
use super::{Actor, CommandError, Engine, Reply};
use crate::domain::case::Case;
use crate::domain::playbook::eval::AgentChoice;
use crate::domain::playbook::Suggestion;
use crate::domain::{CaseId, Role};
use crate::store::{StoreError, Tx};

/// Case event kind: an agent set the case's category (`/case category`).
pub const RECATEGORISED: &str = "recategorised";
/// Case event kind: an agent used a suggestion (Use button, `/suggest use N`).
pub const SUGGESTION_USED: &str = "suggestion_used";

/// The id of the Use button under suggestion `rank` (1-based) of a case: `suggest:use:12:2`.
pub fn use_button_id(case: CaseId, rank: usize) -> String {
    format!("suggest:use:{}:{rank}", case.0)
}

/// Reads a Use button id back; `None` for ids carebot did not make.
pub fn parse_use_button(id: &str) -> Option<(CaseId, usize)> {
    let rest = id.strip_prefix("suggest:use:")?;
    let (case, rank) = rest.split_once(':')?;
    let case = case.parse().ok().filter(|n| *n > 0).map(CaseId)?;
    let rank = rank.parse().ok().filter(|n| *n > 0)?;
    Some((case, rank))
}

impl Engine {
    /// The top three suggestions for case `id` as `actor` sees them.
    pub(super) async fn case_suggestions(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        id: CaseId,
    ) -> Result<(Case, Vec<Suggestion>), CommandError> {
        let case = tx.case(id).await?.ok_or(CommandError::UnknownCase(id))?;
        let customer = self.customer_of(tx, &case).await?;
        let mentions = tx.mentions(id).await?;
        // All the customer's posts on this case inform the match; the latest is quoted.
        let text = mentions
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let url = mentions.last().and_then(|m| m.url.clone());
        let vars = template_vars(&case, &customer, &text, url.as_deref(), &actor.name);
        let role = actor.top_role().unwrap_or(Role::Agent);
        let items = self
            .playbooks()
            .suggest(&text, &customer.network, customer.segment, role, &vars, 3);
        Ok((case, items))
    }

    /// `/case category`: sets the case's category to `playbook`, audited with the one it had.
    pub(super) async fn recategorise(
        &self,
        actor: &Actor,
        id: CaseId,
        playbook: &str,
        now: DateTime<Utc>,
    ) -> Result<Reply, CommandError> {
        let set = self.playbooks();
        let pb = set
            .get(playbook.trim())
            .ok_or_else(|| CommandError::UnknownPlaybook(playbook.trim().to_string()))?;
        let mut tx = self.store.begin().await?;
        let mut case = tx.case(id).await?.ok_or(CommandError::UnknownCase(id))?;
        if case.category == pb.id {
            return Ok(Reply::Done {
                case: Some(id),
                message: format!("Case {id} is already in `{}`.", pb.id),
            });
        }
        let before = std::mem::replace(&mut case.category, pb.id.clone());
        let detail = serde_json::json!({ "from": before, "to": pb.id });
        tx.append_event(id, now, &actor.name, RECATEGORISED, &detail)
            .await?;
        case.updated_at = now;
        self.enqueue_card(&mut tx, &case, now).await?;
        tx.stage_case(case);
        tx.commit().await?;
        Ok(Reply::Done {
            case: Some(id),
            message: format!("Case {id} is now in `{}` ({}), was `{before}`.", pb.id, pb.title),
        })
    }

    /// Use button / `/suggest use N`: records that the agent used suggestion `rank` (1-based),
    /// sets the category to its playbook, and drafts its reply for `/case reply` without text.
    pub(super) async fn use_suggestion(
        &self,
        actor: &Actor,
        id: CaseId,
        rank: usize,
        now: DateTime<Utc>,
    ) -> Result<Reply, CommandError> {
        let mut tx = self.store.begin().await?;
        let (mut case, items) = self.case_suggestions(&mut tx, actor, id).await?;
        let Some(chosen) = rank.checked_sub(1).and_then(|i| items.get(i)) else {
            return Err(CommandError::NoSuchSuggestion {
                case: id,
                rank,
                shown: items.len(),
            });
        };
        let before = case.category.clone();
        let detail = serde_json::json!({
            "rank": rank,
            "playbook": chosen.playbook,
            "from": before,
            "reply": chosen.reply,
        });
        tx.append_event(id, now, &actor.name, SUGGESTION_USED, &detail)
            .await?;
        if case.category != chosen.playbook {
            case.category = chosen.playbook.clone();
            case.updated_at = now;
            self.enqueue_card(&mut tx, &case, now).await?;
            tx.stage_case(case);
        }
        tx.commit().await?;
        Ok(Reply::Done {
            case: Some(id),
            message: format!(
                "Using suggestion {rank} ({}) on case {id}. Edit and send it, then record it with `/case reply` (with no text, this draft is recorded):\n{}",
                chosen.title, chosen.reply
            ),
        })
    }

    /// The reply drafted by the latest used suggestion on case `id`, if any.
    pub(super) async fn drafted_reply(&self, tx: &mut Tx, id: CaseId) -> Result<Option<String>, StoreError> {
        let events = tx.events(id).await?;
        Ok(events
            .iter()
            .rev()
            .find(|e| e.kind == SUGGESTION_USED)
            .and_then(|e| e.detail.get("reply").and_then(|r| r.as_str()).map(str::to_string)))
    }

    /// Every category agents chose (re-categorised or used suggestion) since `since`, oldest
    /// first, with the case's first post.
    pub async fn agent_choices(&self, since: Option<DateTime<Utc>>) -> Result<Vec<AgentChoice>, StoreError> {
        let mut tx = self.store.read().await?;
        tx.agent_choices(since).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_button_ids_read_back_and_foreign_ones_do_not() {
        let id = use_button_id(CaseId(12), 2);
        assert_eq!(id, "suggest:use:12:2");
        assert_eq!(parse_use_button(&id), Some((CaseId(12), 2)));
        for foreign in [
            "suggest:use:12",
            "suggest:use:0:1",
            "suggest:use:12:0",
            "case:claim:12",
            "suggest:use:x:1",
        ] {
            assert_eq!(parse_use_button(foreign), None, "{foreign}");
        }
    }
}
