//! What the outbox rows that are rendered when delivered show: a case card, an escalation's
//! packet and reminders, and a post's line in a thread, read from the case, the escalation or
//! the post as they are at that moment.
//!
//! Why at delivery: they are large (a card or a line quotes the customer's post, a packet the
//! whole story) and only ever need to show the latest state. Stored as a case or escalation id, a
//! row costs a few bytes instead of kilobytes; the change that queues it (an offer that
//! escalates, a sweep's deadlines, an import's repeat posts) renders nothing and reads nothing
//! for it; and a row delivered late shows the case as it is then, not as it was.

use chrono::{DateTime, Utc};

use super::escalations::tier_pings;
use super::outbox::{case_card, thread_line, thread_name, Card, Field, LineKind, Message};
use super::packet;
use super::text::{event_detail, one_line};
use super::Engine;
use crate::domain::case::{Case, Customer};
use crate::domain::escalation::{Escalation, EscalationId};
use crate::domain::playbook::PlaybookSet;
use crate::domain::CaseId;
use crate::store::{Store, StoreError, Tx, REMOVED};

/// The card of case `id` as it is now (`None`: no such case).
pub async fn card(store: &Store, id: CaseId) -> Result<Option<Card>, StoreError> {
    Ok(opening(store, id).await?.map(|o| o.card))
}

/// What starting a case's place in the chat needs: the feed post to start its thread from
/// (none for an imported post), the thread's name and the card.
#[derive(Debug, Clone)]
pub struct Opening {
    pub feed_channel_id: Option<String>,
    pub feed_message_id: Option<String>,
    pub thread_name: String,
    pub card: Card,
}

/// Case `id`'s thread and card as they are now (`None`: no such case).
pub async fn opening(store: &Store, id: CaseId) -> Result<Option<Opening>, StoreError> {
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
    Ok(Some(Opening {
        feed_channel_id: case.feed_channel_id.clone(),
        feed_message_id: case.feed_message_id.clone(),
        thread_name: thread_name(case, customer),
        card: case_card(case, customer, text, url, &read.clocks),
    }))
}

/// The thread line of post `source_id` in case `case_id`, quoting the post as it is now
/// (`None`: no such post).
pub async fn mention_line(
    store: &Store,
    case_id: CaseId,
    source_id: &str,
    line: LineKind,
) -> Result<Option<Message>, StoreError> {
    let mut tx = store.read().await?;
    let Some(m) = tx.mention_by_source(source_id).await? else {
        return Ok(None);
    };
    let title = match line {
        LineKind::Merged => format!("New mention from {}", m.handle),
        LineKind::Reopened => format!("Case reopened: {} wrote again", m.handle),
        LineKind::Joined(incident) => format!("Case {case_id} {} joined {incident}", m.handle.shown(case_id)),
    };
    let mut body = m.text;
    if let Some(url) = &m.url {
        body.push('\n');
        body.push_str(url);
    }
    Ok(Some(thread_line(&title, body)))
}

/// The reminder that escalation `id` at `tier` waits for a decision, fired at `at` (`late`:
/// when it was due, if carebot was not running then). `None` when it has nothing left to
/// remind of: the escalation is gone, decided, or at another tier (also when that happened in
/// the sweep that fired it, e.g. a late reminder swept with its deadline).
pub async fn reminder(
    store: &Store,
    id: EscalationId,
    tier: u32,
    at: DateTime<Utc>,
    late: Option<DateTime<Utc>>,
) -> Result<Option<Message>, StoreError> {
    let mut tx = store.read().await?;
    Ok(tx
        .escalation(id)
        .await?
        .filter(|e| e.is_open() && e.tier == tier)
        .map(|e| packet::reminder(&e, at, late)))
}

/// How an escalation's packet is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketShown {
    /// Posted to the escalations channel; `next_tier`: posted again because the escalation
    /// moved to its next tier, pinging the approvers of that tier.
    Post { next_tier: bool },
    /// Edited in place (a question, an answer, the decision); `superseded`: the post of a
    /// tier that timed out, which points to the new post.
    Edit { superseded: bool },
}

/// The packet of escalation `id` as it is now, shown as `shown` (`None`: no such escalation).
pub async fn packet(
    engine: &Engine,
    id: EscalationId,
    shown: PacketShown,
) -> Result<Option<Message>, StoreError> {
    Ok(escalation_with_packet(engine, id, shown)
        .await?
        .map(|(_, packet)| packet))
}

/// Escalation `id` and its packet as it is now (see [`packet`]).
pub(super) async fn escalation_with_packet(
    engine: &Engine,
    id: EscalationId,
    shown: PacketShown,
) -> Result<Option<(Escalation, Message)>, StoreError> {
    let mut tx = engine.store().read().await?;
    let Some(e) = tx.escalation(id).await? else {
        return Ok(None);
    };
    let read = tx.cases_at_hand(&[e.case_id]).await?;
    let story = match (read.cases.first(), read.customers.first()) {
        (Some(case), Some(customer)) => story(&mut tx, &engine.playbooks(), case, customer).await?,
        _ => vec![],
    };
    let packet = match shown {
        PacketShown::Post { next_tier: true } => packet::packet(&e, &story, tier_pings(&e)),
        PacketShown::Edit { superseded: true } => packet::superseded(&e, &story),
        _ => packet::packet(&e, &story, vec![]),
    };
    Ok(Some((e, packet)))
}

/// The case's story for the packet as it is now: the customer and their history, every post,
/// the timeline, notes, the suggestions its posts bring up, and the offers tried and granted.
async fn story(
    tx: &mut Tx,
    set: &PlaybookSet,
    case: &Case,
    customer: &Customer,
) -> Result<Vec<Field>, StoreError> {
    let (mentions, events, customer_cases) = tx.case_story(case.id, customer.id).await?;
    let earlier: Vec<String> = customer_cases
        .into_iter()
        .filter(|c| c.id != case.id)
        .take(5)
        .map(|c| {
            format!(
                "{} {} · {} · {}",
                c.id,
                c.status,
                c.category,
                one_line(&c.title, 60)
            )
        })
        .collect();
    let name = customer
        .display_name
        .as_deref()
        .map(|n| format!("{n} ({})", customer.handle.shown(case.id)))
        .unwrap_or_else(|| customer.handle.shown(case.id));
    let mut fields = vec![
        Field::new("Customer", format!("{name} on {}", customer.network), true),
        Field::new("Segment", customer.segment.as_str(), true),
        Field::new("Priority", case.priority.as_str(), true),
        Field::new("Category", case.category.clone(), true),
        Field::new(
            "Earlier cases",
            if earlier.is_empty() {
                "none".to_string()
            } else {
                earlier.join("\n")
            },
            false,
        ),
    ];
    let said: Vec<String> = mentions
        .iter()
        .map(|m| {
            format!(
                "[{}] {}",
                m.posted_at.format("%m-%d %H:%M"),
                one_line(&m.text, 300)
            )
        })
        .collect();
    fields.push(Field::new("What the customer said", said.join("\n"), false));
    let timeline: Vec<String> = events
        .iter()
        .filter(|e| !matches!(e.kind.as_str(), "mention" | "note"))
        .map(|e| {
            format!(
                "{} {} {}{}",
                e.at.format("%m-%d %H:%M"),
                e.kind,
                e.actor,
                event_detail(&e.detail)
            )
        })
        .collect();
    fields.push(Field::new("Timeline", timeline.join("\n"), false));
    let notes: Vec<String> = events
        .iter()
        .filter(|e| e.kind == "note")
        .map(|e| format!("{}{}", e.actor, event_detail(&e.detail)))
        .collect();
    if !notes.is_empty() {
        fields.push(Field::new("Notes", notes.join("\n"), false));
    }
    let text: Vec<&str> = mentions.iter().map(|m| m.text.as_str()).collect();
    let suggested: Vec<String> = set
        .classify_top(&text.join("\n"), &customer.network, customer.segment, 3)
        .into_iter()
        .filter_map(|m| {
            let title = &set.get(&m.id)?.title;
            Some(format!("{title} ({}): {}", m.id, m.reasons.join("; ")))
        })
        .collect();
    if !suggested.is_empty() {
        fields.push(Field::new("Suggestions shown", suggested.join("\n"), false));
    }
    let offers: Vec<String> = events
        .iter()
        .filter(|e| e.kind == "offer")
        .map(|e| {
            let d = &e.detail;
            let s = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            let why = if s("outcome") == "granted" {
                s("rule")
            } else {
                s("blocked_by")
            };
            format!(
                "{} {} offered {} {} {}: {} ({why})",
                e.at.format("%m-%d %H:%M"),
                e.actor,
                s("remedy"),
                s("amount"),
                s("unit"),
                s("outcome")
            )
        })
        .collect();
    if !offers.is_empty() {
        fields.push(Field::new("Offers", offers.join("\n"), false));
    }
    if !case.granted.is_empty() {
        fields.push(Field::new("Granted so far", case.granted.join("\n"), false));
    }
    Ok(fields)
}
