//! Surge incidents as use cases: counting mentions per category as they are placed, opening
//! one incident (one alert, one thread) when a category surges, grouping its new cases under it
//! instead of a thread and a card each, bulk replies and resolution, and the end of a surge.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::commands::Reply;
use super::outbox::{self, Field, Message, Outgoing};
use super::{Actor, CommandError, Engine};
use crate::domain::case::{self, Case};
use crate::domain::playbook::TemplateVars;
use crate::domain::sla::CaseEvent;
use crate::domain::surge::{Incident, IncidentId, IncidentStatus, Rate, RateTracker};
use crate::domain::CaseId;
use crate::store::{NewTimer, StoreError, TimerKind, Tx};

/// The open incidents of a batch, by category, and which of them it changed.
#[derive(Default)]
pub(super) struct OpenIncidents {
    by_category: HashMap<String, Incident>,
    changed: Vec<IncidentId>,
}

impl OpenIncidents {
    pub(super) fn len(&self) -> usize {
        self.by_category.len()
    }
}

/// What a case placed in a batch has to do with a surge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Grouping {
    /// Nothing: it opens (or keeps) its own thread and card.
    Alone,
    /// It is grouped under this incident: its posts go to the incident's thread.
    Grouped(IncidentId),
}

/// The alert in the queue channel: what surges, how much, and the bulk reply on offer.
fn alert(incident: &Incident, bulk_reply: Option<(String, String)>) -> Message {
    let window = crate::domain::sla::human(incident.window_secs);
    let mut fields = vec![
        Field::new("Status", incident.status.as_str(), true),
        Field::new("Mentions", incident.mention_count.to_string(), true),
        Field::new("Cases", incident.case_count.to_string(), true),
        Field::new(
            "Opened",
            incident.opened_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            true,
        ),
    ];
    match bulk_reply {
        Some((title, reply)) => fields.push(Field::new(&format!("Bulk reply: {title}"), reply, false)),
        None => fields.push(Field::new(
            "Bulk reply",
            "no bulk-reply playbook for this category: mark one with `bulk = true`",
            false,
        )),
    }
    fields.push(Field::new(
        "What to do",
        format!(
            "`/incident reply {id} TEXT` records one public reply on all its open cases; `/incident resolve {id}` resolves them",
            id = incident.id
        ),
        false,
    ));
    let samples: Vec<String> = incident
        .samples
        .iter()
        .map(|s| format!("> {}", super::text::one_line(s, 200)))
        .collect();
    Message {
        title: Some(format!(
            "Surge {}: {} — {} mentions in {window} (usually {:.1})",
            incident.id, incident.category, incident.peak_count, incident.baseline_per_window
        )),
        body: samples.join("\n"),
        fields,
        ..Message::default()
    }
}

impl Engine {
    /// Loads the rate tracker once from the mentions of the last baseline and window; called
    /// before a batch's write transaction begins.
    pub(super) async fn warm_rates(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let ready = self.rates.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        if !ready {
            let since = now - Duration::seconds(self.surge.baseline_secs + self.surge.window_secs);
            let history = self.store.mention_history(since).await?;
            let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
            if rates.is_none() {
                let mut tracker = RateTracker::new(&self.surge);
                for (category, at) in history {
                    tracker.record(&category, at);
                }
                *rates = Some(tracker);
            }
        }
        Ok(())
    }

    /// Runs `f` on the rate tracker (warmed up by [`Engine::warm_rates`]; empty if it was not).
    fn with_rates<T>(&self, f: impl FnOnce(&mut RateTracker) -> T) -> T {
        let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        f(rates.get_or_insert_with(|| RateTracker::new(&self.surge)))
    }

    /// The incidents still open, for a batch to join.
    pub(super) async fn open_incidents(&self, tx: &mut Tx) -> Result<OpenIncidents, StoreError> {
        Ok(OpenIncidents {
            by_category: tx
                .open_incidents()
                .await?
                .into_iter()
                .map(|i| (i.category.clone(), i))
                .collect(),
            changed: vec![],
        })
    }

    /// Counts a placed mention of `cases[k]`'s category; joins the case to an open incident of
    /// its category (a new case only), or opens one when the category surges. `cases` are the
    /// batch's cases, so the ones of this window join a new incident too.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn track_surge(
        &self,
        tx: &mut Tx,
        open: &mut OpenIncidents,
        cases: &mut [impl AsMut<Case>],
        k: usize,
        text: &str,
        opened: bool,
        now: DateTime<Utc>,
    ) -> Result<Grouping, StoreError> {
        let category = cases[k].as_mut().category.clone();
        let rate: Rate = self.with_rates(|r| r.record(&category, now));
        if let Some(incident) = open.by_category.get_mut(&category) {
            let case = cases[k].as_mut();
            if opened && case.incident_id.is_none() {
                case.incident_id = Some(incident.id.0);
            }
            if case.incident_id != Some(incident.id.0) {
                return Ok(Grouping::Alone);
            }
            incident.joined(text, opened, rate);
            if !open.changed.contains(&incident.id) {
                open.changed.push(incident.id);
            }
            return Ok(Grouping::Grouped(incident.id));
        }
        if !self.surge.is_surge(rate.window, rate.baseline) {
            return Ok(Grouping::Alone);
        }
        let mut samples = vec![text.to_string()];
        samples.extend(tx.category_samples(&category, 2).await?);
        samples.retain(|s| !s.trim().is_empty());
        samples.truncate(crate::domain::surge::SAMPLES);
        let bulk = self
            .playbooks()
            .get(&category)
            .filter(|p| p.bulk)
            .map(|p| p.id.clone());
        let mut incident = Incident {
            id: IncidentId(0),
            category: category.clone(),
            status: IncidentStatus::Open,
            opened_at: now,
            ended_at: None,
            window_secs: self.surge.window_secs,
            baseline_per_window: rate.baseline,
            peak_count: rate.window,
            mention_count: rate.window,
            case_count: 0,
            samples,
            bulk_playbook: bulk,
        };
        incident.id = tx.insert_incident(&incident).await?;
        let since = now - Duration::seconds(self.surge.window_secs);
        let stored = tx.group_cases(incident.id, &category, since).await?;
        let mut grouped = stored.len() as u32;
        for case in cases.iter_mut().map(AsMut::as_mut) {
            let joins = case.category == category
                && case.status.is_active()
                && case.opened_at >= since
                && case.incident_id.is_none()
                && !stored.contains(&case.id);
            if joins {
                case.incident_id = Some(incident.id.0);
                grouped += 1;
            }
        }
        incident.case_count = grouped;
        tx.update_incident(&incident).await?;
        let post = Outgoing::IncidentAlert {
            incident_id: incident.id,
            thread_name: format!("{} surge: {}", incident.id, category),
            message: alert(&incident, self.bulk_reply(&incident)),
        };
        self.enqueue(tx, &post, now).await?;
        self.schedule_incident_check(tx, &incident, now);
        tracing::info!(incident = %incident.id, category = %category, window = rate.window, baseline = rate.baseline, "surge: incident opened");
        let id = incident.id;
        open.by_category.insert(category, incident);
        Ok(if cases[k].as_mut().incident_id == Some(id.0) {
            Grouping::Grouped(id)
        } else {
            Grouping::Alone
        })
    }

    /// Writes back the incidents a batch changed; their alerts show the count every fifth mention.
    pub(super) async fn save_incidents(
        &self,
        tx: &mut Tx,
        open: &OpenIncidents,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // In incident order, so that the same input writes the same rows in the same order.
        let mut changed: Vec<&Incident> = open
            .by_category
            .values()
            .filter(|i| open.changed.contains(&i.id))
            .collect();
        changed.sort_unstable_by_key(|i| i.id);
        for incident in changed {
            tx.update_incident(incident).await?;
            if incident.mention_count % 5 == 0 {
                let edit = Outgoing::UpdateIncidentAlert {
                    incident_id: incident.id,
                    message: alert(incident, self.bulk_reply(incident)),
                };
                self.enqueue(tx, &edit, now).await?;
            }
        }
        Ok(())
    }

    /// The bulk-reply playbook's title and reply, rendered for a whole incident.
    fn bulk_reply(&self, incident: &Incident) -> Option<(String, String)> {
        let set = self.playbooks();
        let playbook = set.get(incident.bulk_playbook.as_deref()?)?;
        let mut vars = TemplateVars::default();
        vars.customer.name = "there".into();
        vars.customer.handle = "@customer".into();
        vars.agent.name = "the care team".into();
        vars.case.id = incident.id.to_string();
        vars.case.category = incident.category.clone();
        Some((playbook.title.clone(), set.render_reply(&playbook.id, &vars)))
    }

    fn schedule_incident_check(&self, tx: &mut Tx, incident: &Incident, now: DateTime<Utc>) {
        tx.schedule_timer(
            NewTimer {
                kind: TimerKind::IncidentCheck,
                case_id: None,
                escalation: None,
                tier: None,
                clock: None,
                detail: serde_json::json!({ "incident": incident.id.0 }),
                due_at: now + Duration::seconds(incident.window_secs),
            },
            now,
        );
    }

    /// A window after the last check: is the category back to its usual rate? Then the
    /// incident ends (new cases open on their own again); else it is checked again later.
    pub(super) async fn check_incident(
        &self,
        tx: &mut Tx,
        detail: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(id) = detail.get("incident").and_then(|v| v.as_i64()).map(IncidentId) else {
            return Ok(false);
        };
        let Some(mut incident) = tx.incident(id).await? else {
            return Ok(false);
        };
        if incident.status != IncidentStatus::Open {
            return Ok(false);
        }
        let since = now - Duration::seconds(incident.window_secs);
        let recent = tx.category_mentions_since(&incident.category, since).await?;
        if !self.surge.is_over(recent, incident.baseline_per_window) {
            self.schedule_incident_check(tx, &incident, now);
            return Ok(true);
        }
        incident.status = IncidentStatus::Ended;
        incident.ended_at = Some(now);
        tx.update_incident(&incident).await?;
        let edit = Outgoing::UpdateIncidentAlert {
            incident_id: id,
            message: alert(&incident, self.bulk_reply(&incident)),
        };
        self.enqueue(tx, &edit, now).await?;
        let line = outbox::thread_line(
            &format!("{id} ended: {} is back to its usual rate", incident.category),
            format!(
                "{} mentions in the last {}; new cases open on their own again. The {} grouped cases stay here until resolved.",
                recent,
                crate::domain::sla::human(incident.window_secs),
                incident.case_count
            ),
        );
        self.enqueue(
            tx,
            &Outgoing::IncidentMessage {
                incident_id: id,
                message: line,
            },
            now,
        )
        .await?;
        Ok(true)
    }

    /// `/incident reply`: one public reply recorded on every open case of the incident.
    pub(super) async fn incident_reply(
        &self,
        actor: &Actor,
        id: IncidentId,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Reply, CommandError> {
        let text = case::agent_text("reply", text)?;
        self.on_incident_cases(actor, id, now, false, |case| {
            case.record_reply(now)?;
            Ok((
                "reply",
                serde_json::json!({ "text": text, "incident": id }),
                CaseEvent::Replied { by: &actor.name },
            ))
        })
        .await
        .map(|(n, _)| Reply::Done {
            case: None,
            message: format!("Recorded the reply on {n} open case(s) of {id}."),
        })
    }

    /// `/incident resolve`: every open case of the incident resolved; the incident too.
    pub(super) async fn incident_resolve(
        &self,
        actor: &Actor,
        id: IncidentId,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Reply, CommandError> {
        let note = note
            .filter(|n| !n.trim().is_empty())
            .map(|n| case::agent_text("resolution note", &n))
            .transpose()?;
        self.on_incident_cases(actor, id, now, true, |case| {
            case.resolve(now)?;
            Ok((
                "resolved",
                serde_json::json!({ "note": note, "incident": id }),
                CaseEvent::Resolved { by: &actor.name },
            ))
        })
        .await
        .map(|(n, _)| Reply::Done {
            case: None,
            message: format!("Resolved {id} and its {n} open case(s)."),
        })
    }

    /// Applies `change` to every active case of an incident, with its timeline event and SLA
    /// event, in one transaction; then tells the incident's thread.
    async fn on_incident_cases<'a>(
        &self,
        actor: &'a Actor,
        id: IncidentId,
        now: DateTime<Utc>,
        resolving: bool,
        change: impl Fn(&mut Case) -> Result<(&'static str, serde_json::Value, CaseEvent<'a>), CommandError>,
    ) -> Result<(usize, IncidentId), CommandError> {
        let mut tx = self.store.begin().await?;
        let mut incident = tx.incident(id).await?.ok_or(CommandError::UnknownIncident(id))?;
        let ids: Vec<CaseId> = tx.incident_cases(id).await?;
        for case_id in &ids {
            let Some(mut case) = tx.case(*case_id).await? else {
                continue;
            };
            let (kind, detail, event) = change(&mut case)?;
            case.updated_at = now;
            tx.append_event(case.id, now, &actor.name, kind, &detail).await?;
            let customer = self.customer_of(&mut tx, &case).await?;
            self.case_clock_event(&mut tx, &case, customer.segment, event, now)
                .await?;
            if case.card_ref.is_some() {
                self.enqueue_card(&mut tx, &case, now).await?;
            }
            tx.stage_case(case);
        }
        if resolving {
            incident.status = IncidentStatus::Resolved;
            incident.ended_at.get_or_insert(now);
            tx.update_incident(&incident).await?;
            let edit = Outgoing::UpdateIncidentAlert {
                incident_id: id,
                message: alert(&incident, self.bulk_reply(&incident)),
            };
            self.enqueue(&mut tx, &edit, now).await?;
        }
        let what = if resolving { "Resolved" } else { "Bulk reply" };
        let line = outbox::thread_line(
            &format!("{what} by {} on {} case(s) of {id}", actor.name, ids.len()),
            "",
        );
        self.enqueue(
            &mut tx,
            &Outgoing::IncidentMessage {
                incident_id: id,
                message: line,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((ids.len(), id))
    }

    /// `/incidents`: the latest incidents, newest first.
    pub(super) async fn incidents(&self) -> Result<Reply, CommandError> {
        let mut tx = self.store.read().await?;
        Ok(Reply::Incidents {
            items: tx.recent_incidents(25).await?,
        })
    }
}
