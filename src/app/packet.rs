//! The messages about escalations: the packet a supervisor decides from, reminders, and what
//! the thread and the requester are told. Plain text: adapters escape it for their markup.

use chrono::{DateTime, Utc};

use super::outbox::{EscalationAction, Field, Message, Ping};
use super::text::timeout_policy;
use crate::domain::escalation::{Escalation, EscalationStatus, TimeoutOutcome};

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `Waive tyre and towing charges: 180 USD`, or `a decision (no amount)`.
pub fn asked(e: &Escalation) -> String {
    match &e.request {
        Some(r) => format!("{}: {} {}", r.label, r.amount, r.unit),
        None => "a decision without an amount".into(),
    }
}

/// Where the escalation stands, in one line.
pub fn status_line(e: &Escalation) -> String {
    match &e.decision {
        None => format!("open: waiting for {} or higher", e.approver.a()),
        Some(d) => {
            let amount = match (&e.request, d.amount) {
                (Some(r), Some(m)) if m < r.amount => format!(" for {m} {} (partial)", r.unit),
                (Some(r), Some(m)) => format!(" for {m} {}", r.unit),
                _ => String::new(),
            };
            let note = d.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
            format!("{} by {} at {}{amount}{note}", d.outcome, d.by.name, when(d.at))
        }
    }
}

/// The packet: what is asked and why, who decides by when, and the case's whole story
/// (`story`, as it is when the packet is rendered). Decided escalations keep their buttons,
/// greyed out.
pub fn packet(e: &Escalation, story: &[Field], pings: Vec<Ping>) -> Message {
    let mut fields = vec![
        Field::new("Status", status_line(e), false),
        Field::new("Decision asked", asked(e), true),
        Field::new(
            "Requested by",
            format!("{} ({})", e.requester.name, e.requester_role),
            true,
        ),
        Field::new(
            "Decides",
            if e.tier > 1 {
                format!("{} or higher (tier {})", e.approver, e.tier)
            } else {
                format!("{} or higher", e.approver)
            },
            true,
        ),
        Field::new("Deadline", when(e.deadline_at), true),
        Field::new("On timeout", timeout_policy(e), true),
    ];
    if let Some((_, sentence)) = &e.blocked {
        fields.push(Field::new("Blocked by", sentence.clone(), false));
    }
    if !e.questions.is_empty() {
        let lines: Vec<String> = e
            .questions
            .iter()
            .map(|q| {
                let answer = match &q.answer {
                    Some(a) => format!("\n  → {}: {}", a.by.name, a.text),
                    None => "\n  → (waiting for the answer)".into(),
                };
                format!("{} asked: {}{answer}", q.by.name, q.text)
            })
            .collect();
        fields.push(Field::new("Questions", lines.join("\n"), false));
    }
    fields.extend(story.iter().cloned());
    Message {
        title: Some(format!("{} · case {} · {}", e.id, e.case_id, asked(e))),
        body: e.reason.clone(),
        fields,
        buttons: EscalationAction::buttons(e.id, !e.is_open()),
        pings,
        link_thread: true,
    }
}

/// The old post of an escalation that moved to the next tier: greyed out, pointing on.
pub fn superseded(e: &Escalation, story: &[Field]) -> Message {
    let mut m = packet(e, story, vec![]);
    m.fields[0] = Field::new(
        "Status",
        format!("moved to {} (timeout policy): decide on the new post", e.approver),
        false,
    );
    m.buttons = EscalationAction::buttons(e.id, true);
    m
}

/// The reminder in the escalations channel, pinging the approver role.
pub fn reminder(e: &Escalation, now: DateTime<Utc>, late: Option<DateTime<Utc>>) -> Message {
    let left = e.deadline_at - now;
    let left = if left.num_minutes() >= 60 {
        format!("{}h {:02}m", left.num_hours(), left.num_minutes() % 60)
    } else {
        format!("{} min", left.num_minutes().max(0))
    };
    let mut body = format!(
        "Case {} · {} · requested by {}. Deadline {} (in {left}); on timeout: {}.",
        e.case_id,
        asked(e),
        e.requester.name,
        when(e.deadline_at),
        timeout_policy(e)
    );
    if let Some(due) = late {
        body.push_str(&format!(
            "\n(This reminder was due at {}; carebot was not running then.)",
            when(due)
        ));
    }
    Message {
        title: Some(format!(
            "Reminder: {} waits for {} to decide",
            e.id,
            e.approver.a()
        )),
        body,
        pings: vec![Ping::Role(e.approver)],
        link_thread: true,
        ..Message::default()
    }
}

/// What the case thread (and the requester) are told about a decision by a person.
pub fn decided(e: &Escalation) -> Message {
    let d = e.decision.as_ref();
    let outcome = d.map_or(EscalationStatus::Open, |d| d.outcome);
    let by = d.map(|d| d.by.name.as_str()).unwrap_or_default();
    let title = match (outcome, &e.request, d.and_then(|d| d.amount)) {
        (EscalationStatus::Approved, Some(r), Some(m)) => {
            format!("{} approved by {by}: {} {m} {}", e.id, r.label, r.unit)
        }
        (EscalationStatus::Approved, _, _) => format!("{} approved by {by}", e.id),
        _ => format!("{} denied by {by}", e.id),
    };
    let note = d.and_then(|d| d.note.clone()).unwrap_or_default();
    Message {
        title: Some(title),
        body: note,
        pings: vec![Ping::User(e.requester.id.clone())],
        ..Message::default()
    }
}

/// What the thread, the requester and the escalations channel are told about a timeout.
pub fn timed_out(e: &Escalation, outcome: TimeoutOutcome, late: Option<DateTime<Utc>>) -> Message {
    let what = match outcome {
        TimeoutOutcome::MovedTo(role) => format!(
            "it moves to {} with a new deadline, {}",
            role.a(),
            when(e.deadline_at)
        ),
        TimeoutOutcome::Approved(Some(m)) => {
            let unit = e.request.as_ref().map(|r| r.unit.as_str()).unwrap_or("");
            format!("the playbook's timeout policy granted {m} {unit}")
        }
        TimeoutOutcome::Approved(None) => "the playbook's timeout policy approved it".into(),
        TimeoutOutcome::Denied => "the playbook's timeout policy denied it".into(),
    };
    let mut body = format!("Nobody decided {} ({}) by the deadline: {what}.", e.id, asked(e));
    if let Some(due) = late {
        body.push_str(&format!(
            "\n(The deadline was {}; carebot was not running then.)",
            when(due)
        ));
    }
    Message {
        title: Some(format!("{} timed out", e.id)),
        body,
        pings: vec![Ping::User(e.requester.id.clone())],
        ..Message::default()
    }
}

/// The question in the case thread, for the requester to answer.
pub fn question(e: &Escalation, by: &str, text: &str) -> Message {
    Message {
        title: Some(format!("Question from {by} about {}", e.id)),
        body: format!(
            "{text}\nAnswer with `/case note` or `/case reply` in this case; the packet shows your answer."
        ),
        pings: vec![Ping::User(e.requester.id.clone())],
        ..Message::default()
    }
}

/// The answer, in the escalations channel, for whoever asked.
pub fn answered(e: &Escalation, by: &str, text: &str) -> Message {
    let asker = e
        .questions
        .last()
        .map(|q| vec![Ping::User(q.by.id.clone())])
        .unwrap_or_default();
    Message {
        title: Some(format!("{by} answered about {}", e.id)),
        body: text.to_string(),
        pings: asker,
        link_thread: true,
        ..Message::default()
    }
}
