//! Rows a transaction buffers until its next read of their table or its commit (both
//! adapters write them many to a statement): sqlx sends every statement to the database and
//! waits for the answer, so round trips, not rows, are what a transaction costs.

use chrono::{DateTime, SubsecRound, Utc};

use super::{NewTimer, StoreError};
use crate::domain::case::Case;
use crate::domain::escalation::EscalationId;
use crate::domain::feed::Mention;
use crate::domain::offer::Grant;
use crate::domain::sla::Clock;
use crate::domain::CaseId;

/// Rows not yet written, in the order they were added.
#[derive(Default)]
pub(crate) struct Pending {
    pub(crate) cases: Vec<Case>,
    /// Stored cases written back, with how they were read (after `cases` when flushed).
    pub(crate) case_changes: Vec<CaseChange>,
    pub(crate) ignored: Vec<PendingIgnored>,
    pub(crate) mentions: Vec<PendingMention>,
    pub(crate) events: Vec<PendingEvent>,
    pub(crate) outbox: Vec<PendingOutbox>,
    pub(crate) cursors: Vec<(String, String)>,
    pub(crate) clocks: Vec<Clock>,
    /// Escalations whose stored pending timers are to be cancelled, and when.
    pub(crate) cancelled_escalations: Vec<(i64, DateTime<Utc>)>,
    pub(crate) grants: Vec<Grant>,
    /// With the time they were scheduled at.
    pub(crate) timers: Vec<(NewTimer, DateTime<Utc>)>,
}

/// A stored case as the transaction read it and as it is to be written back: an adapter may
/// write only the columns that differ.
pub(crate) struct CaseChange {
    pub(crate) before: Case,
    pub(crate) after: Case,
}

pub(crate) struct PendingIgnored {
    pub(crate) source_id: String,
    pub(crate) reason: &'static str,
    pub(crate) at: DateTime<Utc>,
}

pub(crate) struct PendingMention {
    pub(crate) case_id: i64,
    pub(crate) customer_id: i64,
    pub(crate) mention: Mention,
    pub(crate) feed_channel_id: Option<String>,
    pub(crate) feed_message_id: Option<String>,
    pub(crate) at: DateTime<Utc>,
}

pub(crate) struct PendingEvent {
    pub(crate) case_id: i64,
    pub(crate) at: DateTime<Utc>,
    pub(crate) actor: String,
    pub(crate) kind: String,
    pub(crate) detail: String,
}

pub(crate) struct PendingOutbox {
    pub(crate) case_id: Option<i64>,
    pub(crate) payload: String,
    pub(crate) at: DateTime<Utc>,
}

impl Pending {
    pub(crate) fn rows(&self) -> usize {
        self.cases.len()
            + self.case_changes.len()
            + self.ignored.len()
            + self.mentions.len()
            + self.events.len()
            + self.outbox.len()
            + self.cursors.len()
            + self.clocks.len()
            + self.cancelled_escalations.len()
            + self.grants.len()
            + self.timers.len()
    }

    pub(crate) fn record_ignored(&mut self, source_id: &str, reason: &'static str, at: DateTime<Utc>) {
        self.ignored.push(PendingIgnored {
            source_id: source_id.to_string(),
            reason,
            at,
        });
    }

    pub(crate) fn insert_mention(
        &mut self,
        case_id: CaseId,
        customer_id: i64,
        m: &Mention,
        feed_channel_id: Option<&str>,
        feed_message_id: Option<&str>,
        at: DateTime<Utc>,
    ) {
        let mut mention = m.clone();
        // Both stores keep times to the second (SQLite as Unix seconds): a post's own time too.
        mention.posted_at = mention.posted_at.trunc_subsecs(0);
        self.mentions.push(PendingMention {
            case_id: case_id.0,
            customer_id,
            mention,
            feed_channel_id: feed_channel_id.map(str::to_string),
            feed_message_id: feed_message_id.map(str::to_string),
            at,
        });
    }

    pub(crate) fn append_event(
        &mut self,
        case_id: CaseId,
        at: DateTime<Utc>,
        actor: &str,
        kind: &str,
        detail: &(impl serde::Serialize + ?Sized),
    ) -> Result<(), StoreError> {
        let detail = serde_json::to_string(detail).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.events.push(PendingEvent {
            case_id: case_id.0,
            at,
            actor: actor.to_string(),
            kind: kind.to_string(),
            detail,
        });
        Ok(())
    }

    pub(crate) fn enqueue(&mut self, case_id: Option<CaseId>, payload: String, at: DateTime<Utc>) {
        self.outbox.push(PendingOutbox {
            case_id: case_id.map(|c| c.0),
            payload,
            at,
        });
    }

    pub(crate) fn cancel_escalation_timers(&mut self, escalation: EscalationId, now: DateTime<Utc>) {
        self.timers.retain(|(t, _)| t.escalation != Some(escalation));
        self.cancelled_escalations.push((escalation.0, now));
    }
}
