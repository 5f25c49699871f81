//! Plain-text rendering of replies and outgoing messages, for the terminal and for chat
//! adapters that show text. User-facing wording lives here, in one place.

use std::fmt::Write;

use super::commands::{CaseDetail, CustomerDetail, Reply};
use super::escalations::EscalationItem;
use super::outbox::{Card, Message, Outgoing, Ping, TeamChannel};
use crate::domain::escalation::{Escalation, EscalationId};
use crate::domain::playbook::{OnTimeout, Playbook, Suggestion};
use crate::domain::CaseId;
use crate::store::CaseSummary;

/// Renders a command's reply as plain text.
pub fn reply(reply: &Reply) -> String {
    match reply {
        Reply::Case(detail) => case_detail(detail),
        Reply::Suggestions { case, items } => {
            let mut out = format!("Suggestions for case {case}:\n");
            out.push_str(&suggestions(items));
            out
        }
        Reply::Customer(detail) => customer_detail(detail),
        Reply::Queue { view, cases } => {
            let mut out = format!("Queue ({view}): {} case(s)\n", cases.len());
            out.push_str(&case_table(cases));
            out
        }
        Reply::Playbooks { items } => {
            let mut out = format!("{} playbooks:\n", items.len());
            for p in items {
                let _ = writeln!(
                    out,
                    "  {:<24} {}{}",
                    p.id,
                    p.title,
                    if p.fallback { " (fallback)" } else { "" }
                );
            }
            out
        }
        Reply::Playbook(p) => playbook(p),
        Reply::Escalations { items } => {
            let mut out = format!("Open escalations: {}\n", items.len());
            out.push_str(&escalation_table(items, "  "));
            out
        }
        Reply::Escalation(view) => message_text(view.item.case, &view.packet),
        Reply::Incidents { items } => {
            let mut out = format!("{} incident(s):\n", items.len());
            for i in items {
                let until = match i.ended_at {
                    Some(end) => format!("until {}", end.format("%m-%d %H:%M")),
                    None => "ongoing".to_string(),
                };
                let _ = writeln!(
                    out,
                    "  {:<4} {:<9} {:<22} {:>4} mentions {:>4} cases  since {} {until}",
                    i.id.to_string(),
                    i.status.as_str(),
                    i.category,
                    i.mention_count,
                    i.case_count,
                    i.opened_at.format("%m-%d %H:%M"),
                );
            }
            out
        }
        Reply::AtRisk { items, as_of } => {
            let mut out = format!("Queue (breaching): {} case(s) at risk or breached\n", items.len());
            for item in items {
                let c = &item.case;
                let left = item.clock.due_at.map(|due| (due - *as_of).num_seconds());
                let _ = writeln!(
                    out,
                    "  {:<6} {} {:<9} {:<22} {:<10} {}",
                    c.id.to_string(),
                    c.priority,
                    c.status.as_str(),
                    format!("{} ({})", c.handle.shown(c.id), c.network),
                    c.owner.as_deref().unwrap_or("-"),
                    super::sla::clock_line(&item.clock, left)
                );
            }
            out
        }
        Reply::Done { message, .. } => format!("{message}\n"),
        Reply::Digest(d) => super::digest_render::document(d, &super::digest_render::no_links),
    }
}

/// Ranked suggestions with reasons, rendered reply and what the agent may grant.
pub fn suggestions(items: &[Suggestion]) -> String {
    let mut out = String::new();
    if items.is_empty() {
        out.push_str("  no playbook matched\n");
    }
    for (i, s) in items.iter().enumerate() {
        let _ = writeln!(out, "  {}. {} [{}] score {}", i + 1, s.title, s.playbook, s.score);
        let _ = writeln!(out, "     why: {}", s.reasons.join("; "));
        for line in s.reply.lines() {
            let _ = writeln!(out, "     > {line}");
        }
        for r in &s.remedies {
            let _ = writeln!(out, "     • {}", r.summary);
        }
    }
    out
}

/// What an escalation's timeout policy does at its deadline: `grant up to 150 USD`, `deny`,
/// `goes to admin`.
pub fn timeout_policy(e: &Escalation) -> String {
    match &e.policy.on_timeout {
        OnTimeout::GrantUpTo { cap } => match &e.request {
            Some(r) => format!("grant up to {cap} {}", r.unit),
            None => "approve".to_string(),
        },
        OnTimeout::NextTier { approver } if *approver > e.approver => format!("goes to {approver}"),
        OnTimeout::NextTier { .. } => "deny (no higher tier left)".to_string(),
        OnTimeout::Deny => "deny".to_string(),
    }
}

/// One line per escalation: id, case, status, what was asked, who asked, who decides by when.
pub fn escalation_table(items: &[EscalationItem], indent: &str) -> String {
    let mut out = String::new();
    for e in items {
        let asked = match (&e.remedy, e.amount, &e.unit) {
            (Some(remedy), Some(amount), Some(unit)) => format!("{remedy} {amount} {unit}"),
            _ => "decision".to_string(),
        };
        let state = match (&e.decided_by, e.decided_at) {
            (Some(by), Some(at)) => format!("{} by {by} at {}", e.status, at.format("%m-%d %H:%M")),
            _ => format!("{} · due {}", e.status, e.deadline.format("%m-%d %H:%M UTC")),
        };
        let _ = writeln!(
            out,
            "{indent}{:<5} {:<6} {:<24} {:<10} → {:<10} {state}",
            e.id.to_string(),
            e.case.to_string(),
            asked,
            e.requested_by,
            e.approver.as_str(),
        );
    }
    out
}

/// Escalations in two lines: how many, how they were decided, and how fast people decided.
pub fn escalation_summary(items: &[EscalationItem]) -> String {
    use crate::domain::escalation::EscalationStatus;
    use crate::domain::friction::median_f64;
    let by = |status| {
        items
            .iter()
            .filter(|e| e.status == status && !e.timed_out)
            .count()
    };
    let timed_out = items.iter().filter(|e| e.timed_out).count();
    let mut minutes: Vec<f64> = items
        .iter()
        .filter(|e| !e.timed_out)
        .filter_map(|e| {
            e.decided_at
                .map(|at| (at - e.created_at).num_seconds() as f64 / 60.0)
        })
        .collect();
    let decided = minutes.len();
    let median = median_f64(&mut minutes)
        .map(|m| format!(", median decision time {m:.0} min"))
        .unwrap_or_default();
    format!(
        "escalations: {} ({} approved, {} denied, {} decided by the timeout policy, {} open)\ndecisions by people: {decided}{median}\n",
        items.len(),
        by(EscalationStatus::Approved),
        by(EscalationStatus::Denied),
        timed_out,
        by(EscalationStatus::Open),
    )
}

/// The friction report as a table, with the suggestion spelled out.
pub fn friction_table(rows: &[crate::domain::friction::FrictionRow]) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str("no escalations asked for a remedy in this period\n");
    }
    for r in rows {
        let money =
            |m: Option<crate::domain::Money>| m.map_or("-".to_string(), |m| format!("{m} {}", r.unit));
        let _ = writeln!(
            out,
            "{} · {} · {} (limit {}): {} requests, {} approved, {} denied, {} timed out; median asked {}, median decision {}",
            r.playbook,
            r.remedy,
            r.role,
            money(r.limit),
            r.requests,
            r.approved,
            r.denied,
            r.timed_out,
            money(r.median_requested),
            r.median_decision_minutes
                .map_or("-".to_string(), |m| format!("{m:.0} min")),
        );
        if let Some(s) = r.suggested_limit {
            let _ = writeln!(
                out,
                "  consider raising the {} limit to {s} {}: it would have covered most of what was approved anyway",
                r.role, r.unit
            );
        }
    }
    out
}

/// One line per case: id, priority, status, customer, mentions, category, owner, title.
pub fn case_table(cases: &[CaseSummary]) -> String {
    let mut out = String::new();
    for c in cases {
        let _ = writeln!(
            out,
            "  {:<6} {} {:<9} {:<22} {:>2} msg  {:<20} {:<10} {}",
            c.id.to_string(),
            c.priority,
            c.status.as_str(),
            format!("{} ({})", c.handle.shown(c.id), c.network),
            c.mentions,
            c.category,
            c.owner.as_deref().unwrap_or("-"),
            c.title
        );
    }
    out
}

fn case_detail(d: &CaseDetail) -> String {
    let c = &d.case;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Case {} · {} · {} · {}",
        c.id, c.priority, c.status, c.category
    );
    let _ = writeln!(
        out,
        "  customer: {} on {} ({}){}",
        d.customer.handle.shown(c.id),
        d.customer.network,
        d.customer.segment,
        d.customer
            .display_name
            .as_deref()
            .map(|n| format!(", {n}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "  owner: {}",
        c.owner.as_ref().map(|o| o.name.as_str()).unwrap_or("unclaimed")
    );
    if !c.priority_reasons.is_empty() {
        let _ = writeln!(out, "  why {}: {}", c.priority, c.priority_reasons.join("; "));
    }
    if !c.tags.is_empty() {
        let _ = writeln!(out, "  tags: {}", c.tags.join(", "));
    }
    let _ = writeln!(out, "  mentions ({}):", d.mentions.len());
    for m in &d.mentions {
        let _ = writeln!(
            out,
            "    [{}] {}",
            m.posted_at.format("%Y-%m-%d %H:%M"),
            one_line(&m.text, 160)
        );
    }
    if !d.grants.is_empty() {
        let _ = writeln!(out, "  granted:");
        for g in &d.grants {
            let why = match g.escalation {
                Some(_) => g.rule.clone(),
                None => format!("by {}, {}", g.granted_by.name, g.rule),
            };
            let _ = writeln!(
                out,
                "    {} {} — {why}",
                g.granted_at.format("%Y-%m-%d %H:%M"),
                g.summary()
            );
        }
    }
    if !d.sla.is_empty() {
        let _ = writeln!(out, "  sla:");
        for clock in &d.sla {
            let left = clock.due_at.map(|due| (due - d.as_of).num_seconds());
            let _ = writeln!(out, "    {}", super::sla::clock_line(clock, left));
        }
    }
    if !d.escalations.is_empty() {
        let _ = writeln!(out, "  escalations:");
        out.push_str(&escalation_table(&d.escalations, "    "));
    }
    let _ = writeln!(out, "  timeline:");
    for e in &d.timeline {
        let _ = writeln!(
            out,
            "    {} {:<9} {}{}",
            e.at.format("%Y-%m-%d %H:%M"),
            e.kind,
            e.actor,
            event_detail(&e.detail)
        );
    }
    out
}

/// The most telling part of a timeline event's detail, as `: ...`.
pub(super) fn event_detail(detail: &serde_json::Value) -> String {
    if let Some(id) = detail.get("escalation").and_then(|v| v.as_str()) {
        let s = |k: &str| detail.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let mut parts = vec![id.to_string()];
        parts.extend(
            [s("outcome"), s("remedy")]
                .into_iter()
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        );
        if !s("amount").is_empty() {
            parts.push(format!("{} {}", s("amount"), s("unit")));
        }
        let said = [s("question"), s("reason"), s("note")]
            .into_iter()
            .find(|t| !t.is_empty())
            .map(|t| format!(" · {}", one_line(t, 80)))
            .unwrap_or_default();
        return format!(": {}{said}", parts.join(" "));
    }
    if detail.get("remedy").is_some() {
        let s = |k: &str| detail.get(k).and_then(|v| v.as_str()).unwrap_or("");
        return format!(": {} {} {} {}", s("remedy"), s("amount"), s("unit"), s("outcome"));
    }
    let pick = ["text", "to_name", "tags", "to", "segment", "note"];
    for key in pick {
        match detail.get(key) {
            Some(serde_json::Value::String(s)) => return format!(": {}", one_line(s, 100)),
            Some(serde_json::Value::Array(a)) if !a.is_empty() => {
                let items: Vec<String> = a
                    .iter()
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .collect();
                return format!(": {}", items.join(", "));
            }
            _ => {}
        }
    }
    String::new()
}

fn customer_detail(d: &CustomerDetail) -> String {
    let c = &d.customer;
    let mut out = format!("Customer {} on {} · segment {}\n", c.handle, c.network, c.segment);
    if let Some(name) = &c.display_name {
        let _ = writeln!(out, "  name: {name}");
    }
    let _ = writeln!(out, "  first seen: {}", c.created_at.format("%Y-%m-%d"));
    let _ = writeln!(out, "  cases ({}):", d.cases.len());
    out.push_str(&case_table(&d.cases));
    out
}

fn playbook(p: &Playbook) -> String {
    let mut out = format!("Playbook {} · {}\n  file: {}\n", p.id, p.title, p.file);
    if let Some(priority) = p.priority {
        let _ = writeln!(out, "  default priority: {priority}");
    }
    for (i, step) in p.steps.iter().enumerate() {
        let _ = writeln!(out, "  step {}: {step}", i + 1);
    }
    for r in &p.remedies {
        let _ = writeln!(out, "  remedy: {} ({:?}, {})", r.label, r.kind, r.unit);
    }
    let e = &p.escalation;
    let timeout = match &e.on_timeout {
        OnTimeout::NextTier { approver } => format!("goes to {approver}"),
        OnTimeout::GrantUpTo { cap } => format!("granted up to {cap}"),
        OnTimeout::Deny => "denied".to_string(),
    };
    let within = match e.deadline_secs {
        Some(secs) => format!("within {}h", secs as f64 / 3600.0),
        None => "by the configured deadline for the case's priority".to_string(),
    };
    let _ = writeln!(
        out,
        "  escalation: {} decides {within}; on timeout {timeout}",
        e.approver
    );
    out
}

/// A single line of at most `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    super::outbox::truncate_chars(&line, max)
}

/// Renders an outgoing message as the terminal shows it.
pub fn outgoing(out: &Outgoing) -> String {
    match out {
        Outgoing::Digest { from, to, late, .. } => format!(
            "[#digest] 📊 the digest of {} → {} UTC{} (with chart.png and cases.csv)\n",
            from.format("%Y-%m-%d %H:%M"),
            to.format("%Y-%m-%d %H:%M"),
            if late.is_some() { ", posted late" } else { "" }
        ),
        // Rendered when delivered: [`opening`] shows it.
        Outgoing::OpenCase { case_id } => format!("┌ thread of case {case_id} opened\n"),
        // Rendered when delivered: [`card_update`] shows the card.
        Outgoing::UpdateCard { case_id } => format!("↻ card {case_id} updated\n"),
        Outgoing::CaseMessage { case_id, message } => message_text(*case_id, message),
        // Rendered when delivered: the console shows [`super::delivery::mention_line`]'s.
        Outgoing::MentionLine {
            case_id, source_id, ..
        } => {
            format!("  (case {case_id}: the line of post {source_id})\n")
        }
        // The queue channel repeats what the case thread says: one line is enough here.
        Outgoing::ChannelMessage {
            channel: TeamChannel::Queue,
            message,
            ..
        } => format!("  [#queue] {}\n", message.title.as_deref().unwrap_or("")),
        Outgoing::ChannelMessage {
            case_id,
            channel,
            message,
        } => team_message(*case_id, *channel, message),
        // Rendered when delivered: the console shows [`super::delivery::reminder`]'s.
        Outgoing::EscalationReminder {
            case_id,
            escalation_id,
            ..
        } => format!("  (case {case_id}: a reminder of {escalation_id})\n"),
        Outgoing::EscalationPacket { escalation_id, .. } => {
            format!("[#escalations] {escalation_id} posted\n")
        }
        Outgoing::IncidentAlert {
            thread_name,
            message,
            incident_id,
        } => format!(
            "[#queue]\n{}┌ new thread: {thread_name}\n",
            message_text(incident_id, message)
        ),
        Outgoing::UpdateIncidentAlert { incident_id, message } => format!(
            "↻ [#queue] {incident_id} alert updated: {}\n",
            message.title.as_deref().unwrap_or("")
        ),
        Outgoing::IncidentMessage { incident_id, message } => message_text(incident_id, message),
        // Rendered when delivered: [`packet_update`] shows the packet.
        Outgoing::UpdateEscalation { escalation_id, .. } => {
            format!("↻ [#escalations] {escalation_id} updated\n")
        }
    }
}

/// A case's new thread and its card, as the terminal shows them.
pub fn opening(opening: &super::delivery::Opening) -> String {
    format!(
        "┌ new thread: {}\n{}",
        opening.thread_name,
        card_text(&opening.card)
    )
}

/// An escalation's packet posted to the escalations channel, as the terminal shows it.
pub fn packet_post(case_id: CaseId, packet: &Message) -> String {
    format!("[#escalations]\n{}", message_text(case_id, packet))
}

/// A case card edit as the terminal shows it: the card's status line.
pub fn card_update(case_id: CaseId, card: &Card) -> String {
    let field = |name: &str| card.fields.iter().find(|f| f.name == name);
    let status = field("Status").map(|f| f.value.as_str()).unwrap_or("");
    let owner = field("Owner").map(|f| f.value.as_str()).unwrap_or("");
    let granted = field("Granted")
        .map(|f| format!(" · granted {}", f.value.replace('\n', "; ")))
        .unwrap_or_default();
    format!(
        "↻ card {case_id} updated: {} · {status} · owner {owner}{granted}\n",
        card.priority
    )
}

/// An escalation packet edit as the terminal shows it: its status and latest question.
pub fn packet_update(escalation_id: EscalationId, packet: &Message) -> String {
    let field = |name: &str| packet.fields.iter().find(|f| f.name == name);
    let status = field("Status").map(|f| f.value.as_str()).unwrap_or("");
    let latest_question = field("Questions")
        .and_then(|f| f.value.lines().last())
        .map(|l| format!("\n    {}", one_line(l, 160)))
        .unwrap_or_default();
    format!(
        "↻ [#escalations] {escalation_id} updated: {}{latest_question}\n",
        one_line(status, 160)
    )
}

fn card_text(card: &Card) -> String {
    let mut out = format!("│ {}\n", card.title);
    for line in card.description.lines().take(6) {
        let _ = writeln!(out, "│ > {}", one_line(line, 200));
    }
    let inline: Vec<String> = card
        .fields
        .iter()
        .filter(|f| f.inline)
        .map(|f| format!("{}: {}", f.name, f.value))
        .collect();
    let _ = writeln!(out, "│ {}", inline.join(" · "));
    for f in card.fields.iter().filter(|f| !f.inline) {
        let _ = writeln!(out, "│ {}: {}", f.name, f.value);
    }
    if let Some(url) = &card.url {
        let _ = writeln!(out, "│ {url}");
    }
    if !card.buttons.is_empty() {
        let labels: Vec<String> = card.buttons.iter().map(|b| format!("[{}]", b.label)).collect();
        let _ = writeln!(out, "└ {}", labels.join(" "));
    }
    out
}

/// A message about a case in a team channel, as the terminal shows it.
pub fn team_message(case_id: CaseId, channel: TeamChannel, message: &Message) -> String {
    format!("[#{}]\n{}", channel.as_str(), message_text(case_id, message))
}

/// A message in a case's thread (or about the case elsewhere), as the terminal shows it.
pub fn message_text(case: impl std::fmt::Display, m: &Message) -> String {
    let mut out = format!("  {case} ▸ {}\n", m.title.as_deref().unwrap_or(""));
    if !m.pings.is_empty() {
        let who: Vec<String> = m
            .pings
            .iter()
            .map(|p| match p {
                Ping::User(id) => format!("@{id}"),
                Ping::Role(role) => format!("@{role}s"),
            })
            .collect();
        let _ = writeln!(out, "    🔔 {}", who.join(" "));
    }
    for line in m.body.lines().filter(|l| !l.trim().is_empty()) {
        let _ = writeln!(out, "    {}", one_line(line, 200));
    }
    let inline: Vec<String> = m
        .fields
        .iter()
        .filter(|f| f.inline)
        .map(|f| format!("{}: {}", f.name, f.value))
        .collect();
    if !inline.is_empty() {
        let _ = writeln!(out, "    {}", inline.join(" · "));
    }
    for f in m.fields.iter().filter(|f| !f.inline) {
        let _ = writeln!(out, "    {}", f.name);
        for line in f.value.lines() {
            let _ = writeln!(out, "      {line}");
        }
    }
    if !m.buttons.is_empty() {
        let labels: Vec<String> = m.buttons.iter().map(|b| format!("[{}]", b.label)).collect();
        let _ = writeln!(out, "    {}", labels.join(" "));
    }
    out
}
