//! Mention -> case: dedupe, triage, categorise, merge/reopen/open, and queue the card.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::outbox::{self, Outgoing};
use super::Engine;
use crate::domain::case::{self, Case, Customer, Placement};
use crate::domain::feed::{FeedOutcome, FeedPost, IgnoreReason, Mention};
use crate::domain::playbook::{AgentVars, CaseVars, CustomerVars, MentionVars, PlaybookSet, TemplateVars};
use crate::domain::{CaseId, Role};
use crate::store::{CaseWithOpening, NewCase};
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
            handle: customer.handle.to_string(),
            name: customer.greeting_name(),
            network: customer.network.to_string(),
            segment: customer.segment.to_string(),
        },
        case: CaseVars {
            id: case.id.to_string(),
            priority: case.priority.to_string(),
            status: case.status.to_string(),
            category: case.category.clone(),
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
        let mut tx = self.store.begin().await?;
        let feed = FeedRef {
            channel_id: Some(&post.channel_id),
            message_id: Some(&post.message_id),
        };
        let result = match read {
            FeedOutcome::Mention(mention) => {
                let unparsed = mention.unparsed;
                let playbooks = self.playbooks();
                (
                    self.place(&mut tx, &playbooks, &mention, feed, now).await?,
                    unparsed,
                )
            }
            FeedOutcome::Ignored(reason) => {
                (self.ignore(&mut tx, &post.source_id, reason, now).await?, false)
            }
        };
        if !post.channel_id.is_empty() && !post.message_id.is_empty() {
            tx.advance_feed_cursor(&post.channel_id, &post.message_id).await?;
        }
        tx.commit().await?;
        Ok(result)
    }

    /// Mentions that did not come through a feed channel (an import), all in one transaction.
    #[tracing::instrument(skip_all, fields(count = mentions.len()))]
    pub async fn receive_mentions(
        &self,
        mentions: &[Mention],
        now: DateTime<Utc>,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        let mut tx = self.store.begin().await?;
        // One playbook set for the whole batch (a reload applies from the next batch).
        let playbooks = self.playbooks();
        let mut outcomes = Vec::with_capacity(mentions.len());
        for mention in mentions {
            let outcome = match self.feed.ignore_reason(mention) {
                Some(reason) => self.ignore(&mut tx, &mention.source_id, reason, now).await?,
                None => {
                    self.place(&mut tx, &playbooks, mention, FeedRef::default(), now)
                        .await?
                }
            };
            outcomes.push(outcome);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn ignore(
        &self,
        tx: &mut Tx,
        source_id: &str,
        reason: IgnoreReason,
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        if tx.already_seen(source_id, None).await? {
            return Ok(IngestOutcome::Duplicate);
        }
        let reason_name = match reason {
            IgnoreReason::OwnBrand => "own_brand",
            IgnoreReason::Echo => "echo",
        };
        tx.record_ignored(source_id, reason_name, now).await?;
        Ok(IngestOutcome::Ignored(reason))
    }

    async fn place(
        &self,
        tx: &mut Tx,
        playbooks: &PlaybookSet,
        m: &Mention,
        feed: FeedRef<'_>,
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        // Dedupe and customer upsert in one statement; `None` means seen before.
        let Some((customer, latest_id)) = tx.customer_for_new_mention(m, now).await? else {
            return Ok(IngestOutcome::Duplicate);
        };
        let latest = match latest_id {
            Some(id) => tx.case_with_opening(id).await?,
            None => None,
        };
        let placement = case::place_mention(
            latest
                .as_ref()
                .map(|l| (l.case.id, l.case.status, l.case.resolved_at)),
            self.settings.reopen_window,
            now,
        );
        let matches = playbooks.classify(&m.text, &m.network, customer.segment);
        let best = matches.first().and_then(|b| playbooks.get(&b.id));
        let triage = self.triage.triage(
            &m.text,
            customer.segment,
            m.followers,
            best.and_then(|p| p.priority),
        );

        // The opening post's text and link, for the card of a case this mention joins.
        let mut opening = (String::new(), None);
        let (case, outcome) = match (placement, latest) {
            (Placement::Merge(_), Some(latest)) | (Placement::Reopen(_), Some(latest)) => {
                let CaseWithOpening {
                    mut case,
                    opening_text,
                    opening_url,
                } = latest;
                opening = (opening_text, opening_url);
                let reopened = !case.status.is_active();
                if reopened {
                    // Reopening an inactive case cannot fail.
                    let _ = case.reopen();
                }
                case.customer_wrote(m.posted_at.min(now));
                if triage.priority < case.priority {
                    case.priority = triage.priority;
                    case.priority_reasons = triage.reasons.clone();
                }
                case.updated_at = now;
                tx.update_case(&case).await?;
                let outcome = if reopened {
                    IngestOutcome::Reopened(case.id)
                } else {
                    IngestOutcome::Merged(case.id)
                };
                (case, outcome)
            }
            _ => {
                let category = best.map(|p| p.id.as_str()).unwrap_or("general");
                let case = tx
                    .insert_case(NewCase {
                        customer_id: customer.id,
                        priority: triage.priority,
                        priority_reasons: &triage.reasons,
                        category,
                        title: &title_from(&m.text),
                        unparsed: m.unparsed,
                        feed_channel_id: feed.channel_id,
                        feed_message_id: feed.message_id,
                        at: now,
                    })
                    .await?;
                let id = case.id;
                (case, IngestOutcome::Opened(id))
            }
        };
        tx.insert_mention(case.id, customer.id, m, feed.channel_id, feed.message_id, now)
            .await?;

        let detail = serde_json::json!({
            "source_id": m.source_id,
            "network": m.network,
            "handle": m.handle,
            "priority": case.priority,
            "reasons": triage.reasons,
            "category": case.category,
            "unparsed": m.unparsed,
        });
        match outcome {
            IngestOutcome::Opened(_) => {
                tx.append_event(case.id, now, BOT_ACTOR, "opened", &detail)
                    .await?;
                let card = outbox::case_card(&case, &customer, &m.text, m.url.as_deref());
                let open = Outgoing::OpenCase {
                    case_id: case.id,
                    feed_channel_id: feed.channel_id.map(str::to_string),
                    feed_message_id: feed.message_id.map(str::to_string),
                    thread_name: outbox::thread_name(&case, &customer),
                    card,
                };
                self.enqueue(tx, &open, now).await?;
                if self.settings.suggestions_on_card > 0 {
                    let vars = template_vars(&case, &customer, &m.text, m.url.as_deref(), "the care team");
                    let suggestions = playbooks.suggest(
                        &m.text,
                        &m.network,
                        customer.segment,
                        Role::Agent,
                        &vars,
                        self.settings.suggestions_on_card,
                    );
                    let message = outbox::suggestions_message(case.id, &suggestions);
                    self.enqueue(
                        tx,
                        &Outgoing::CaseMessage {
                            case_id: case.id,
                            message,
                        },
                        now,
                    )
                    .await?;
                }
            }
            _ => {
                let kind = if matches!(outcome, IngestOutcome::Reopened(_)) {
                    "reopened"
                } else {
                    "mention"
                };
                tx.append_event(case.id, now, BOT_ACTOR, kind, &detail).await?;
                let title = if kind == "reopened" {
                    format!("Case reopened: {} wrote again", customer.handle)
                } else {
                    format!("New mention from {}", customer.handle)
                };
                let mut body = m.text.clone();
                if let Some(url) = &m.url {
                    body.push_str(&format!("\n{url}"));
                }
                let message = outbox::thread_line(&title, body);
                self.enqueue(
                    tx,
                    &Outgoing::CaseMessage {
                        case_id: case.id,
                        message,
                    },
                    now,
                )
                .await?;
                let card = outbox::case_card(&case, &customer, &opening.0, opening.1.as_deref());
                self.enqueue(
                    tx,
                    &Outgoing::UpdateCard {
                        case_id: case.id,
                        card,
                    },
                    now,
                )
                .await?;
            }
        }
        Ok(outcome)
    }

    pub(super) async fn enqueue(
        &self,
        tx: &mut Tx,
        out: &Outgoing,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let payload = serde_json::to_string(out).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.enqueue(Some(out.case_id()), payload, now).await
    }

    /// Queues the card edit for a changed case.
    pub(super) async fn enqueue_card_update(
        &self,
        tx: &mut Tx,
        case: &Case,
        customer: &Customer,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let opening = tx.opening_mention(case.id).await?;
        let (text, url) = opening.map(|m| (m.text, m.url)).unwrap_or_default();
        let card = outbox::case_card(case, customer, &text, url.as_deref());
        self.enqueue(
            tx,
            &Outgoing::UpdateCard {
                case_id: case.id,
                card,
            },
            now,
        )
        .await
    }
}
