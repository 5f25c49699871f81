//! Mention -> case: dedupe, triage, categorise, merge/reopen/open, and queue the card.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::incidents::Grouping;
use super::outbox::{self, LineKind, Outgoing};
use super::read_ahead::Rankings;
use super::Engine;
use crate::domain::case::{self, Case, CaseStatus, Customer, Placement};
use crate::domain::feed::{FeedOutcome, FeedPost, IgnoreReason, Mention};
use crate::domain::playbook::{
    AgentVars, CaseVars, CustomerVars, MentionVars, PlaybookMatch, PlaybookSet, TemplateVars,
};
use crate::domain::sla::{self, Clock};
use crate::domain::{CaseId, Priority, Role};
use crate::store::CustomerKey;
use crate::store::{StoreError, Tx};

/// The actor name recorded for what carebot does on its own.
pub const BOT_ACTOR: &str = "carebot";

/// What happened to one incoming post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "case", rename_all = "snake_case")]
pub enum IngestOutcome {
    Opened(CaseId),
    Merged(CaseId),
    Reopened(CaseId),
    Duplicate,
    Ignored(IgnoreReason),
}

impl IngestOutcome {
    pub fn case(self) -> Option<CaseId> {
        match self {
            IngestOutcome::Opened(c) | IngestOutcome::Merged(c) | IngestOutcome::Reopened(c) => Some(c),
            _ => None,
        }
    }
}

/// Counts for a batch of posts (`ingest --json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestStats {
    pub opened: u64,
    pub merged: u64,
    pub reopened: u64,
    pub duplicate: u64,
    pub ignored: u64,
    /// Posts that became cases although no profile could read them (also counted as opened/merged).
    pub unparsed: u64,
    /// Lines or posts that could not be used at all.
    pub errors: u64,
}

impl IngestStats {
    pub fn count(&mut self, outcome: IngestOutcome, unparsed: bool) {
        match outcome {
            IngestOutcome::Opened(_) => self.opened += 1,
            IngestOutcome::Merged(_) => self.merged += 1,
            IngestOutcome::Reopened(_) => self.reopened += 1,
            IngestOutcome::Duplicate => self.duplicate += 1,
            IngestOutcome::Ignored(_) => self.ignored += 1,
        }
        if unparsed && outcome.case().is_some() {
            self.unparsed += 1;
        }
    }
}

/// Where the mention was posted in the chat, when it came from a feed channel.
#[derive(Debug, Clone, Copy, Default)]
struct FeedRef<'a> {
    channel_id: Option<&'a str>,
    message_id: Option<&'a str>,
}

/// Builds the template variables for a case.
pub(super) fn template_vars(
    case: &Case,
    customer: &Customer,
    text: &str,
    url: Option<&str>,
    agent: &str,
) -> TemplateVars {
    TemplateVars {
        customer: CustomerVars {
            handle: customer.handle.shown(case.id),
            name: customer.greeting_name(),
            network: customer.network.to_string(),
            segment: customer.segment.to_string(),
        },
        case: CaseVars {
            id: case.id.to_string(),
            priority: case.priority.to_string(),
            status: case.status.to_string(),
            category: case.category.clone(),
            granted: case.granted.join("; "),
        },
        agent: AgentVars {
            name: agent.to_string(),
        },
        mention: MentionVars {
            text: text.to_string(),
            url: url.unwrap_or_default().to_string(),
            network: customer.network.to_string(),
        },
    }
}

/// A one-line title from the post text.
fn title_from(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        "(empty post)".into()
    } else {
        outbox::truncate_chars(&line, 80)
    }
}

/// One post of a batch, as the engine handles it.
#[derive(Clone, Copy)]
enum Incoming<'a> {
    /// A mention to place (or to find a duplicate).
    Mention(&'a Mention, FeedRef<'a>),
    /// A post to record as ignored, by source id.
    Ignored(&'a str, IgnoreReason),
}

impl Incoming<'_> {
    fn source_id(&self) -> &str {
        match self {
            Incoming::Mention(m, _) => &m.source_id,
            Incoming::Ignored(source_id, _) => source_id,
        }
    }
}

/// The new mentions of a batch to place: (index in the batch, mention, where it was posted).
struct Batch<'b, 'm> {
    fresh: &'b [(usize, &'m Mention, FeedRef<'m>)],
    /// Their rankings, by index in the batch, when worked out ahead.
    rankings: Option<Rankings>,
    /// The highest case id stored: new cases count on from it.
    max_case_id: i64,
}

/// A case the batch touched.
struct Touched {
    case: Case,
    /// Its SLA clocks.
    clocks: Vec<Clock>,
    /// Opened or changed by the batch, so written back at the end.
    changed: bool,
    /// The case as stored before the batch; none when the batch opened it.
    stored: Option<Case>,
}

impl AsMut<Case> for Touched {
    fn as_mut(&mut self) -> &mut Case {
        &mut self.case
    }
}

/// The timeline detail of a mention event: the triage at that moment. The post itself (its
/// author, network, source id, whether it was parsed) is the mention's row, and the customer
/// the case's: repeating them here would store them twice, in every case's timeline.
#[derive(Serialize)]
struct MentionDetail<'a> {
    category: &'a str,
    priority: Priority,
    reasons: &'a [String],
}

impl Engine {
    /// A post in a feed channel: read it with the channel's profiles, then place it.
    /// The channel's backfill cursor moves forward in the same transaction.
    #[tracing::instrument(skip_all, fields(source_id = %post.source_id))]
    pub async fn receive_post(
        &self,
        post: &FeedPost,
        profiles: Option<&[String]>,
        now: DateTime<Utc>,
    ) -> Result<(IngestOutcome, bool), StoreError> {
        let read = self.feed.read(post, profiles);
        let feed = FeedRef {
            channel_id: Some(&post.channel_id),
            message_id: Some(&post.message_id),
        };
        let (item, unparsed) = match &read {
            FeedOutcome::Mention(mention) => (Incoming::Mention(mention, feed), mention.unparsed),
            FeedOutcome::Ignored(reason) => (Incoming::Ignored(&post.source_id, *reason), false),
        };
        let cursor = (!post.channel_id.is_empty() && !post.message_id.is_empty())
            .then_some((post.channel_id.as_str(), post.message_id.as_str()));
        let outcomes = self.ingest(&[item], cursor, None, now).await?;
        Ok((outcomes[0], unparsed))
    }

    /// Mentions that did not come through a feed channel (an import), all in one transaction.
    pub async fn receive_mentions(
        &self,
        mentions: &[Mention],
        now: DateTime<Utc>,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        self.receive_ranked(mentions, None, now).await
    }

    /// [`Engine::receive_mentions`] with their rankings worked out ahead
    /// ([`super::read_ahead`]); a mention whose ranking no longer holds is ranked again.
    #[tracing::instrument(skip_all, fields(count = mentions.len()))]
    pub async fn receive_ranked(
        &self,
        mentions: &[Mention],
        rankings: Option<Rankings>,
        now: DateTime<Utc>,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        let items: Vec<Incoming> = mentions
            .iter()
            .map(|m| match self.feed.ignore_reason(m) {
                Some(reason) => Incoming::Ignored(&m.source_id, reason),
                None => Incoming::Mention(m, FeedRef::default()),
            })
            .collect();
        self.ingest(&items, None, rankings, now).await
    }

    /// Places a batch of posts (a single feed post is a batch of one) in one transaction, with a
    /// fixed number of round trips to the database whatever the batch size: one read of what is
    /// already stored, one customer upsert that also loads their latest cases, then every write
    /// at commit. Everything in between is decided in memory, in input order, so the outcome is
    /// the same as placing the posts one by one.
    async fn ingest(
        &self,
        items: &[Incoming<'_>],
        cursor: Option<(&str, &str)>,
        rankings: Option<Rankings>,
        now: DateTime<Utc>,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        // Surge detection warms up from the store before the write transaction takes its
        // connection (a read inside it could wait for a connection that never frees up).
        self.warm_rates(now).await?;
        let mut tx = self.store.begin().await?;
        // One playbook set for the whole batch (a reload applies from the next batch).
        let playbooks = self.playbooks();

        let source_ids: Vec<&str> = items.iter().map(Incoming::source_id).collect();
        let external_ids: Vec<&str> = items
            .iter()
            .filter_map(|i| match i {
                Incoming::Mention(m, _) => m.external_id.as_deref(),
                Incoming::Ignored(..) => None,
            })
            .collect();
        let known = tx.known_posts(&source_ids, &external_ids).await?;

        // Exactly once, in input order: against what is stored and against earlier posts of the
        // batch. Source ids dedupe mentions and ignored posts alike; network ids dedupe mentions.
        let mut outcomes = Vec::with_capacity(items.len());
        let mut fresh: Vec<(usize, &Mention, FeedRef)> = Vec::new();
        let mut sources: HashSet<&str> = HashSet::with_capacity(items.len());
        let mut externals: HashSet<&str> = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let source_id = item.source_id();
            let seen = known.source_ids.contains(source_id) || sources.contains(source_id);
            let outcome = match *item {
                Incoming::Ignored(..) | Incoming::Mention(..) if seen => IngestOutcome::Duplicate,
                Incoming::Ignored(_, reason) => {
                    sources.insert(source_id);
                    tx.record_ignored(source_id, reason.as_str(), now);
                    IngestOutcome::Ignored(reason)
                }
                Incoming::Mention(m, feed) => {
                    let external = m.external_id.as_deref();
                    if external.is_some_and(|e| known.external_ids.contains(e) || externals.contains(e)) {
                        IngestOutcome::Duplicate
                    } else {
                        sources.insert(source_id);
                        externals.extend(external);
                        fresh.push((i, m, feed));
                        // Decided below.
                        IngestOutcome::Duplicate
                    }
                }
            };
            outcomes.push(outcome);
        }

        if !fresh.is_empty() {
            let batch = Batch {
                fresh: &fresh,
                rankings,
                max_case_id: known.max_case_id,
            };
            self.place_batch(&mut tx, &playbooks, batch, &mut outcomes, now)
                .await?;
        }
        if let Some((channel_id, message_id)) = cursor {
            tx.advance_feed_cursor(channel_id, message_id);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Places new mentions: customers, cases, mentions, events and outbox rows.
    async fn place_batch(
        &self,
        tx: &mut Tx,
        playbooks: &Arc<PlaybookSet>,
        batch: Batch<'_, '_>,
        outcomes: &mut [IngestOutcome],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Batch {
            fresh,
            mut rankings,
            max_case_id,
        } = batch;
        // Customers in order of first appearance, which is the order new ones get their ids in.
        // Each is upserted with the batch's last display name; a mention sees the name as of
        // itself, as if the posts had been placed one by one.
        let mut keys: Vec<CustomerKey> = Vec::new();
        let mut key_index: HashMap<(&str, &str), usize> = HashMap::new();
        let mut first_named: Vec<bool> = Vec::new();
        let mut needs_old_name: Vec<bool> = Vec::new();
        for (_, m, _) in fresh {
            let name = m.display_name.as_deref();
            match key_index.entry((m.network.as_str(), m.handle.as_str())) {
                Entry::Vacant(e) => {
                    e.insert(keys.len());
                    keys.push(CustomerKey {
                        network: &m.network,
                        handle: &m.handle,
                        display_name: name,
                    });
                    first_named.push(name.is_some());
                    needs_old_name.push(false);
                }
                Entry::Occupied(e) => {
                    let j = *e.get();
                    if name.is_some() {
                        keys[j].display_name = name;
                        needs_old_name[j] = !first_named[j];
                    }
                }
            }
        }
        let old_names_for: Vec<CustomerKey> = keys
            .iter()
            .zip(&needs_old_name)
            .filter(|(_, needed)| **needed)
            .map(|(k, _)| *k)
            .collect();
        let loaded = tx.customers_for_mentions(&keys, &old_names_for, now).await?;

        let mut customers: Vec<Option<Customer>> = vec![None; keys.len()];
        for c in loaded.customers {
            let j = key_index.get(&(c.network.as_str(), c.handle.as_str())).copied();
            if let Some(j) = j {
                customers[j] = Some(c);
            }
        }
        let mut customers = customers
            .into_iter()
            .map(|c| c.ok_or_else(|| StoreError::Corrupt("a customer was not stored".into())))
            .collect::<Result<Vec<Customer>, _>>()?;
        // A customer whose first mention here has no name starts with the name stored before the
        // batch (none when new), not with the one a later mention of the batch brought.
        for (j, needed) in needs_old_name.iter().enumerate() {
            if *needed {
                customers[j].display_name = None;
            }
        }
        for (network, handle, name) in loaded.old_names {
            if let Some(&j) = key_index.get(&(network.as_str(), handle.as_str())) {
                customers[j].display_name = name;
            }
        }
        let mut latest: HashMap<i64, Case> = loaded
            .latest_cases
            .into_iter()
            .map(|c| (c.customer_id, c))
            .collect();
        let mut clocks_of: HashMap<CaseId, Vec<Clock>> = HashMap::new();
        if !latest.is_empty() {
            let ids: Vec<CaseId> = latest.values().map(|c| c.id).collect();
            for clock in tx.clocks(&ids).await? {
                clocks_of.entry(clock.case_id).or_default().push(clock);
            }
        }

        let mut open = self.open_incidents(tx).await?;
        // Decide in input order. `touched` holds every case the batch works on; `current` maps a
        // customer to their latest case in it, so later mentions of the batch join it.
        let mut next_case_id = max_case_id;
        let mut touched: Vec<Touched> = Vec::new();
        let mut current: HashMap<i64, usize> = HashMap::new();
        for &(i, m, feed) in fresh {
            let j = key_index[&(m.network.as_str(), m.handle.as_str())];
            if m.display_name.is_some() {
                customers[j].display_name = m.display_name.clone();
            }
            let customer = &customers[j];
            // An imported post from long ago is history: no target could have been met for
            // it, so it starts no clock and moves none (see README, "SLA clocks").
            let history = feed.channel_id.is_none() && now - m.posted_at > self.settings.import_history;
            let slot = match current.get(&customer.id) {
                Some(&k) => Some(k),
                None => latest.remove(&customer.id).map(|case| {
                    touched.push(Touched {
                        clocks: clocks_of.remove(&case.id).unwrap_or_default(),
                        stored: Some(case.clone()),
                        case,
                        changed: false,
                    });
                    current.insert(customer.id, touched.len() - 1);
                    touched.len() - 1
                }),
            };
            let placement = case::place_mention(
                slot.map(|k| {
                    let c = &touched[k].case;
                    (c.id, c.status, c.resolved_at)
                }),
                self.settings.reopen_window,
                now,
            );
            // The case the mention joins; none when it opens one.
            let joins = match (placement, slot) {
                (Placement::Merge(_), Some(k)) | (Placement::Reopen(_), Some(k)) => Some(k),
                _ => None,
            };
            // A new case's card suggests from the same ranking that triages it.
            let ranked = match joins {
                Some(_) => 1,
                None => self.settings.suggestions_on_card.max(1),
            };
            let matches = rankings
                .as_mut()
                .and_then(|r| r.take(i, playbooks, customer.segment, ranked))
                .unwrap_or_else(|| playbooks.classify_top(&m.text, &m.network, customer.segment, ranked));
            let best = matches.first().and_then(|b| playbooks.get(&b.id));
            let triage = self.triage.triage(
                &m.text,
                customer.segment,
                m.followers,
                best.and_then(|p| p.priority),
            );

            let (k, outcome) = match joins {
                Some(k) => {
                    let t = &mut touched[k];
                    t.changed = true;
                    let case = &mut t.case;
                    let reopened = !case.status.is_active();
                    if reopened {
                        // Reopening an inactive case cannot fail.
                        let _ = case.reopen();
                    }
                    case.customer_wrote(m.posted_at.min(now));
                    let raised = triage.priority < case.priority;
                    if raised {
                        case.priority = triage.priority;
                        case.priority_reasons = triage.reasons.clone();
                    }
                    case.updated_at = now;
                    let replied_before = case.first_response_at.is_some();
                    let mut events = vec![];
                    if reopened {
                        events.push(sla::CaseEvent::Reopened);
                    }
                    if raised {
                        events.push(sla::CaseEvent::Retarget);
                    }
                    events.push(sla::CaseEvent::CustomerWrote { replied_before });
                    if history {
                        events.clear();
                    }
                    for event in events {
                        self.clock_event(tx, &mut t.clocks, &t.case, customer.segment, event, now)
                            .await?;
                    }
                    let outcome = if reopened {
                        IngestOutcome::Reopened(t.case.id)
                    } else {
                        IngestOutcome::Merged(t.case.id)
                    };
                    (k, outcome)
                }
                None => {
                    next_case_id += 1;
                    let id = CaseId(next_case_id);
                    touched.push(Touched {
                        case: Case {
                            id,
                            customer_id: customer.id,
                            status: CaseStatus::New,
                            priority: triage.priority,
                            priority_reasons: triage.reasons.clone(),
                            category: best.map(|p| p.id.as_str()).unwrap_or("general").to_string(),
                            title: title_from(&m.text),
                            tags: Vec::new(),
                            granted: Vec::new(),
                            incident_id: None,
                            owner: None,
                            mention_count: 1,
                            unparsed: m.unparsed,
                            feed_channel_id: feed.channel_id.map(str::to_string),
                            feed_message_id: feed.message_id.map(str::to_string),
                            thread_ref: None,
                            card_ref: None,
                            opened_at: now,
                            updated_at: now,
                            first_response_at: None,
                            last_customer_at: now,
                            resolved_at: None,
                        },
                        clocks: Vec::new(),
                        changed: true,
                        stored: None,
                    });
                    let k = touched.len() - 1;
                    let t = &mut touched[k];
                    if !history {
                        self.clock_event(
                            tx,
                            &mut t.clocks,
                            &t.case,
                            customer.segment,
                            sla::CaseEvent::Opened,
                            now,
                        )
                        .await?;
                    }
                    current.insert(customer.id, k);
                    (k, IngestOutcome::Opened(id))
                }
            };
            outcomes[i] = outcome;
            let opened = matches!(outcome, IngestOutcome::Opened(_));
            let incidents_before = open.len();
            let grouping = self
                .track_surge(tx, &mut open, &mut touched, k, &m.text, opened, now)
                .await?;
            if open.len() > incidents_before {
                // A new incident grouped the batch's cases of its window: write them back.
                for t in touched.iter_mut().filter(|t| t.case.incident_id.is_some()) {
                    t.changed = true;
                }
            }
            tx.insert_mention(
                touched[k].case.id,
                customer.id,
                m,
                feed.channel_id,
                feed.message_id,
                now,
            );
            let t = &touched[k];
            self.queue_placement(
                tx,
                playbooks,
                t,
                customer,
                m,
                (outcome, grouping),
                (&triage.reasons, matches),
                now,
            )
            .await?;
        }
        self.save_incidents(tx, &open, now).await?;
        for t in touched.into_iter().filter(|t| t.changed) {
            match t.stored {
                Some(before) => tx.stage_case_change(before, t.case),
                None => tx.stage_case(t.case),
            }
        }
        Ok(())
    }

    /// The timeline event and the messages for one placed mention: a new case's thread, card
    /// and suggestions, or the post and the refreshed card in an existing case's thread.
    #[allow(clippy::too_many_arguments)]
    async fn queue_placement(
        &self,
        tx: &mut Tx,
        playbooks: &PlaybookSet,
        t: &Touched,
        customer: &Customer,
        m: &Mention,
        (outcome, grouping): (IngestOutcome, Grouping),
        (reasons, matches): (&[String], Vec<PlaybookMatch>),
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let case = &t.case;
        let detail = MentionDetail {
            category: &case.category,
            priority: case.priority,
            reasons,
        };
        match outcome {
            IngestOutcome::Opened(_) if grouping != Grouping::Alone => {
                // Grouped under a surge incident: one line in its thread, no thread or card.
                tx.append_event(case.id, now, BOT_ACTOR, "opened", &detail)
                    .await?;
                if let Grouping::Grouped(incident) = grouping {
                    self.enqueue_mention_line(tx, case.id, m, LineKind::Joined(incident), now)
                        .await?;
                }
            }
            IngestOutcome::Opened(_) => {
                tx.append_event(case.id, now, BOT_ACTOR, "opened", &detail)
                    .await?;
                self.enqueue(tx, &Outgoing::OpenCase { case_id: case.id }, now)
                    .await?;
                if self.settings.suggestions_on_card > 0 {
                    let vars = template_vars(case, customer, &m.text, m.url.as_deref(), "the care team");
                    let mut matches = matches;
                    matches.truncate(self.settings.suggestions_on_card);
                    let suggestions = playbooks.suggestions_of(matches, customer.segment, Role::Agent, &vars);
                    let message = outbox::suggestions_message(case.id, &suggestions);
                    self.enqueue_thread_message(tx, case.id, message, now).await?;
                }
            }
            _ => {
                let reopened = matches!(outcome, IngestOutcome::Reopened(_));
                let kind = if reopened { "reopened" } else { "mention" };
                tx.append_event(case.id, now, BOT_ACTOR, kind, &detail).await?;
                let line = if reopened {
                    LineKind::Reopened
                } else {
                    LineKind::Merged
                };
                self.enqueue_mention_line(tx, case.id, m, line, now).await?;
                self.enqueue_card(tx, case, now).await?;
            }
        }
        Ok(())
    }

    pub(super) async fn enqueue(
        &self,
        tx: &mut Tx,
        out: &Outgoing,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let payload = serde_json::to_string(out).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.enqueue(out.case_id(), payload, now).await
    }

    /// Queues a message for the case thread.
    pub(super) async fn enqueue_thread_message(
        &self,
        tx: &mut Tx,
        case_id: CaseId,
        message: outbox::Message,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.enqueue(tx, &Outgoing::CaseMessage { case_id, message }, now)
            .await
    }

    /// Queues a post's line in the case thread (rendered when delivered, from the post).
    async fn enqueue_mention_line(
        &self,
        tx: &mut Tx,
        case_id: CaseId,
        m: &Mention,
        line: LineKind,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let out = Outgoing::MentionLine {
            case_id,
            source_id: m.source_id.clone(),
            line,
        };
        self.enqueue(tx, &out, now).await
    }

    /// Queues the edit of a changed case's card (rendered when delivered, from the case as it
    /// is then).
    pub(super) async fn enqueue_card(
        &self,
        tx: &mut Tx,
        case: &Case,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if case.incident_id.is_some() && case.card_ref.is_none() {
            // A case grouped under an incident has no card to edit.
            return Ok(());
        }
        self.enqueue(tx, &Outgoing::UpdateCard { case_id: case.id }, now)
            .await
    }
}
