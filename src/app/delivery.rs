//! What the outbox rows that are rendered when delivered show: a case card and an escalation's
//! packet, read from the case or the escalation as they are at that moment.
//!
//! Why at delivery: an edit only ever needs to show the latest state, and both are large
//! (a card quotes the customer's post, a packet the whole story). Stored as a case or
//! escalation id, a row costs a few bytes instead of kilobytes, a change that edits a hundred
//! cards (a sweep's deadlines, an import's repeat posts) writes no rendering, and a row
//! delivered late shows the case as it is then, not as it was.

use super::escalations::story_of;
use super::outbox::{case_card, Card, Message};
use super::packet;
use crate::domain::escalation::{Escalation, EscalationId};
use crate::domain::CaseId;
use crate::store::{Store, StoreError, REMOVED};

/// The card of case `id` as it is now (`None`: no such case).
pub async fn card(store: &Store, id: CaseId) -> Result<Option<Card>, StoreError> {
    let mut tx = store.read().await?;
    let read = tx.case_cards(&[id]).await?;
    let (Some(case), Some(customer)) = (read.cases.first(), read.customers.first()) else {
        return Ok(None);
    };
    let (text, url) = read
        .openings
        .first()
        .map(|(_, text, url)| (text.as_str(), url.as_deref()))
        .unwrap_or_default();
    // Forgetting a customer empties their posts and titles their cases so.
    let text = if case.title == REMOVED { REMOVED } else { text };
    Ok(Some(case_card(case, customer, text, url, &read.clocks)))
}

/// The packet of escalation `id` as it is now, decided or not; `superseded`: as the post of a
/// tier that timed out and moved on shows it (`None`: no such escalation).
pub async fn packet(
    store: &Store,
    id: EscalationId,
    superseded: bool,
) -> Result<Option<Message>, StoreError> {
    Ok(escalation_with_packet(store, id, superseded)
        .await?
        .map(|(_, packet)| packet))
}

/// Escalation `id` and its packet as it is now (see [`packet`]).
pub(super) async fn escalation_with_packet(
    store: &Store,
    id: EscalationId,
    superseded: bool,
) -> Result<Option<(Escalation, Message)>, StoreError> {
    let mut tx = store.read().await?;
    let Some(e) = tx.escalation(id).await? else {
        return Ok(None);
    };
    let story = story_of(tx.escalation_packets(&[id]).await?.get(&id));
    let packet = if superseded {
        packet::superseded(&e, &story)
    } else {
        packet::packet(&e, &story, vec![])
    };
    Ok(Some((e, packet)))
}
