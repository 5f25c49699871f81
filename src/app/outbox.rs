//! Transport-neutral outgoing messages. The engine writes them into the outbox table in the
//! same transaction as the change; each adapter renders them (Discord embeds and buttons, plain
//! text in a terminal). All text here is plain: adapters escape it for their markup.

use serde::{Deserialize, Serialize};

use crate::domain::case::{Case, Customer};
use crate::domain::escalation::EscalationId;
use crate::domain::playbook::Suggestion;
use crate::domain::surge::IncidentId;
use crate::domain::{CaseId, Priority, Role};

/// One message to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outgoing {
    /// Start the case's thread (from the feed post when there is one) and post its card,
    /// rendered when delivered by [`super::delivery::opening`].
    OpenCase { case_id: CaseId },
    /// Edit the case card in place to show the case as it is when delivered (rendered then,
    /// by [`super::delivery::card`]).
    UpdateCard { case_id: CaseId },
    /// A message in the case thread.
    CaseMessage { case_id: CaseId, message: Message },
    /// A post placed in the case, as a line in its thread (the incident's, for a case grouped
    /// under a surge incident) quoting the post; rendered when delivered by
    /// [`super::delivery::mention_line`] from the post's row, found by its source id.
    MentionLine {
        case_id: CaseId,
        source_id: String,
        line: LineKind,
    },
    /// A message about a case in a team channel (e.g. the escalations channel).
    ChannelMessage {
        case_id: CaseId,
        channel: TeamChannel,
        message: Message,
    },
    /// Post an escalation's packet (with its decision buttons) to the escalations channel,
    /// rendered when delivered by [`super::delivery::packet`]. `next_tier`: posted again
    /// because the escalation moved to its next tier, pinging that tier's approvers.
    EscalationPacket {
        case_id: CaseId,
        escalation_id: EscalationId,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        next_tier: bool,
    },
    /// A reminder in the escalations channel that escalation `escalation_id` (at `tier`)
    /// waits for a decision, pinging its approvers; rendered when delivered by
    /// [`super::delivery::reminder`]. `at`: when it fired (the time left is counted from
    /// then); `late`: when it was due, if carebot was not running then. Not posted when the
    /// escalation was decided or moved to another tier before it went out.
    EscalationReminder {
        case_id: CaseId,
        escalation_id: EscalationId,
        tier: u32,
        at: chrono::DateTime<chrono::Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        late: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Edit the posted packet in place to show the escalation as it is when delivered (a
    /// question, an answer, the decision; rendered then, by [`super::delivery::packet`]).
    /// `superseded`: the post of a tier that timed out, which now points to the new post.
    UpdateEscalation {
        case_id: CaseId,
        escalation_id: EscalationId,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        superseded: bool,
    },
    /// Post a surge alert to the queue channel and start the incident's thread from it.
    IncidentAlert {
        incident_id: IncidentId,
        thread_name: String,
        message: Message,
    },
    /// Edit the alert in place (the live count, the end of the surge).
    UpdateIncidentAlert {
        incident_id: IncidentId,
        message: Message,
    },
    /// A line in the incident's thread (a case that joined, a bulk reply).
    IncidentMessage {
        incident_id: IncidentId,
        message: Message,
    },
    /// The digest of `[from, to)` (days counted in `timezone`), posted to the digest channel
    /// with its chart and CSV; rendered when delivered. `late`: when it was due, if carebot
    /// was not running then.
    Digest {
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
        timezone: String,
        late: Option<chrono::DateTime<chrono::Utc>>,
    },
}

/// Why a post gets a line in a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// It joined an active case.
    Merged,
    /// It reopened a resolved case.
    Reopened,
    /// It opened a case that was grouped under this surge incident.
    Joined(IncidentId),
}

/// Team channels the adapters map to real places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamChannel {
    /// Where supervisors decide escalations.
    Escalations,
    /// Where the team watches SLA warnings and breaches (optional).
    Queue,
}

impl TeamChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            TeamChannel::Escalations => "escalations",
            TeamChannel::Queue => "queue",
        }
    }
}

impl Outgoing {
    /// The case a message is about; delivery keeps each case's order (incident messages, which
    /// belong to no case, are kept in order among themselves).
    pub fn case_id(&self) -> Option<CaseId> {
        match self {
            Outgoing::OpenCase { case_id, .. }
            | Outgoing::UpdateCard { case_id, .. }
            | Outgoing::CaseMessage { case_id, .. }
            | Outgoing::MentionLine { case_id, .. }
            | Outgoing::ChannelMessage { case_id, .. }
            | Outgoing::EscalationPacket { case_id, .. }
            | Outgoing::EscalationReminder { case_id, .. }
            | Outgoing::UpdateEscalation { case_id, .. } => Some(*case_id),
            Outgoing::Digest { .. } => None,
            Outgoing::IncidentAlert { .. }
            | Outgoing::UpdateIncidentAlert { .. }
            | Outgoing::IncidentMessage { .. } => None,
        }
    }
}

/// The case card: who, what, how urgent, who owns it, and the buttons to work it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card {
    pub title: String,
    /// The customer's opening post (plain text, untrusted).
    pub description: String,
    pub url: Option<String>,
    pub priority: Priority,
    pub fields: Vec<Field>,
    pub buttons: Vec<Button>,
}

/// A message posted into a case thread or a team channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub title: Option<String>,
    pub body: String,
    pub fields: Vec<Field>,
    pub buttons: Vec<Button>,
    /// Who this message notifies (nobody else is ever pinged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pings: Vec<Ping>,
    /// Show a link to the case's thread.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub link_thread: bool,
}

/// Someone a message notifies: a person by their actor id, or everyone with a carebot role
/// (the chat adapter maps the role to its own role ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "who", rename_all = "snake_case")]
pub enum Ping {
    User(String),
    Role(Role),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub value: String,
    pub inline: bool,
}

impl Field {
    pub fn new(name: &str, value: impl Into<String>, inline: bool) -> Self {
        Field {
            name: name.to_string(),
            value: value.into(),
            inline,
        }
    }
}

/// A button; `id` is what comes back when it is pressed (see [`ButtonAction`] and
/// [`EscalationAction`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Button {
    pub id: String,
    pub label: String,
    /// Shown greyed out (e.g. the decision buttons of a decided escalation).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// What an escalation's decision button does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscalationAction {
    Approve,
    Deny,
    /// Ask the requester a question before deciding.
    Ask,
}

impl EscalationAction {
    pub const ALL: [EscalationAction; 3] = [
        EscalationAction::Approve,
        EscalationAction::Deny,
        EscalationAction::Ask,
    ];

    fn name(self) -> &'static str {
        match self {
            EscalationAction::Approve => "approve",
            EscalationAction::Deny => "deny",
            EscalationAction::Ask => "ask",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            EscalationAction::Approve => "Approve",
            EscalationAction::Deny => "Deny",
            EscalationAction::Ask => "Need info",
        }
    }

    /// `esc:approve:3`.
    pub fn button_id(self, id: EscalationId) -> String {
        format!("esc:{}:{}", self.name(), id.0)
    }

    /// Reads a button id back; `None` for ids carebot did not make.
    pub fn parse(id: &str) -> Option<(EscalationAction, EscalationId)> {
        let mut parts = id.split(':');
        if parts.next()? != "esc" {
            return None;
        }
        let name = parts.next()?;
        let number = parts.next()?.parse().ok().filter(|n| *n > 0)?;
        let action = Self::ALL.into_iter().find(|a| a.name() == name)?;
        parts.next().is_none().then_some((action, EscalationId(number)))
    }

    /// The decision buttons of an escalation, greyed out once it is decided.
    pub fn buttons(id: EscalationId, disabled: bool) -> Vec<Button> {
        Self::ALL
            .into_iter()
            .map(|a| Button {
                id: a.button_id(id),
                label: a.label().to_string(),
                disabled,
            })
            .collect()
    }
}

/// What a case button does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonAction {
    Claim,
    Suggest,
    Escalate,
    Resolve,
}

impl ButtonAction {
    const ALL: [ButtonAction; 4] = [
        ButtonAction::Claim,
        ButtonAction::Suggest,
        ButtonAction::Escalate,
        ButtonAction::Resolve,
    ];

    fn name(self) -> &'static str {
        match self {
            ButtonAction::Claim => "claim",
            ButtonAction::Suggest => "suggest",
            ButtonAction::Escalate => "escalate",
            ButtonAction::Resolve => "resolve",
        }
    }

    fn label(self) -> &'static str {
        match self {
            ButtonAction::Claim => "Claim",
            ButtonAction::Suggest => "Suggest",
            ButtonAction::Escalate => "Escalate",
            ButtonAction::Resolve => "Resolve",
        }
    }

    /// The button id for this action on a case: `case:claim:12`.
    pub fn button_id(self, case: CaseId) -> String {
        format!("case:{}:{}", self.name(), case.0)
    }

    /// Reads a button id back; `None` for ids carebot did not make.
    pub fn parse(id: &str) -> Option<(ButtonAction, CaseId)> {
        let mut parts = id.split(':');
        if parts.next()? != "case" {
            return None;
        }
        let name = parts.next()?;
        let case = parts.next()?.parse().ok().filter(|n| *n > 0).map(CaseId)?;
        let action = Self::ALL.into_iter().find(|a| a.name() == name)?;
        parts.next().is_none().then_some((action, case))
    }
}

fn case_buttons(case: &Case) -> Vec<Button> {
    if !case.status.is_active() {
        return vec![];
    }
    ButtonAction::ALL
        .into_iter()
        .filter(|a| !(case.owner.is_some() && *a == ButtonAction::Claim))
        .map(|a| Button {
            id: a.button_id(case.id),
            label: a.label().to_string(),
            disabled: false,
        })
        .collect()
}

/// The thread name: case number, handle and topic, within Discord's 100 characters.
pub fn thread_name(case: &Case, customer: &Customer) -> String {
    let who = match customer.handle.is_unparsed() {
        true => "unparsed post".to_string(),
        false => customer.handle.to_string(),
    };
    let name = format!("{} {who} – {}", case.id, case.title);
    truncate_chars(&name, 100)
}

/// Cuts `text` to at most `max` characters, marking the cut with `…`.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Builds the case card from the case, its customer, its opening post and its SLA clocks.
pub fn case_card(
    case: &Case,
    customer: &Customer,
    opening_text: &str,
    url: Option<&str>,
    clocks: &[crate::domain::sla::Clock],
) -> Card {
    let mut fields = vec![
        Field::new("Customer", customer_label(customer, case.id), true),
        Field::new("Segment", customer.segment.as_str(), true),
        Field::new("Network", customer.network.as_str(), true),
        Field::new("Priority", case.priority.as_str(), true),
        Field::new("Status", case.status.as_str(), true),
        Field::new(
            "Owner",
            case.owner
                .as_ref()
                .map(|o| o.name.clone())
                .unwrap_or_else(|| "unclaimed".into()),
            true,
        ),
        Field::new("Category", case.category.clone(), true),
        Field::new("Mentions", case.mention_count.to_string(), true),
    ];
    if !case.priority_reasons.is_empty() {
        fields.push(Field::new(
            "Why this priority",
            case.priority_reasons.join("; "),
            false,
        ));
    }
    if !case.tags.is_empty() {
        fields.push(Field::new("Tags", case.tags.join(", "), false));
    }
    if !case.granted.is_empty() {
        fields.push(Field::new("Granted", case.granted.join("\n"), false));
    }
    let sla = super::sla::card_lines(clocks);
    if !sla.is_empty() && case.status.is_active() {
        fields.push(Field::new("SLA", sla.join("\n"), false));
    }
    if case.unparsed {
        fields.push(Field::new(
            "Unparsed",
            "no feed profile could read this post; check the author by hand",
            false,
        ));
    }
    Card {
        title: format!("Case {} · {}", case.id, case.title),
        description: opening_text.to_string(),
        url: url.map(str::to_string),
        priority: case.priority,
        fields,
        buttons: case_buttons(case),
    }
}

fn customer_label(customer: &Customer, case: CaseId) -> String {
    let handle = customer.handle.shown(case);
    match &customer.display_name {
        Some(name) if !name.trim().is_empty() => format!("{name} ({handle})"),
        _ => handle,
    }
}

/// The suggestions message posted under a new card.
pub fn suggestions_message(case: CaseId, suggestions: &[Suggestion]) -> Message {
    let fields = suggestions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut value = format!("{}\nWhy: {}", s.reply, s.reasons.join("; "));
            for r in &s.remedies {
                value.push_str(&format!("\n• {}", r.summary));
            }
            Field::new(
                &format!("{}. {} (score {})", i + 1, s.title, s.score),
                value,
                false,
            )
        })
        .collect();
    // "Use N": the agent says which suggestion they used (it drafts the reply and teaches
    // the library which playbook fits).
    let buttons = (1..=suggestions.len())
        .map(|n| Button {
            id: super::suggestions::use_button_id(case, n),
            label: format!("Use {n}"),
            disabled: false,
        })
        .collect();
    Message {
        title: Some(format!("Suggested replies for case {case}")),
        body: if suggestions.is_empty() {
            "No playbook matched.".into()
        } else {
            String::new()
        },
        fields,
        buttons,
        ..Message::default()
    }
}

/// A plain line posted into the thread (a merged mention, a note, a reply, a status change).
pub fn thread_line(title: &str, body: impl Into<String>) -> Message {
    Message {
        title: Some(title.to_string()),
        body: body.into(),
        ..Message::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_ids_round_trip_and_foreign_ids_are_refused() {
        let id = ButtonAction::Resolve.button_id(CaseId(42));
        assert_eq!(id, "case:resolve:42");
        assert_eq!(
            ButtonAction::parse(&id),
            Some((ButtonAction::Resolve, CaseId(42)))
        );
        assert_eq!(ButtonAction::parse("case:dance:1"), None);
        assert_eq!(ButtonAction::parse("case:claim:0"), None);
        assert_eq!(ButtonAction::parse("other:claim:1"), None);
        assert_eq!(ButtonAction::parse("case:claim:1:x"), None);
        let id = EscalationAction::Ask.button_id(EscalationId(3));
        assert_eq!(id, "esc:ask:3");
        assert_eq!(
            EscalationAction::parse(&id),
            Some((EscalationAction::Ask, EscalationId(3)))
        );
        assert_eq!(EscalationAction::parse("esc:shrug:3"), None);
        assert_eq!(EscalationAction::parse("case:claim:3"), None);
    }

    #[test]
    fn messages_written_before_pings_existed_still_read() {
        let old = r#"{"title":"t","body":"b","fields":[],"buttons":[{"id":"case:claim:1","label":"Claim"}]}"#;
        let m: Message = serde_json::from_str(old).unwrap();
        assert!(m.pings.is_empty() && !m.link_thread && !m.buttons[0].disabled);
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        assert_eq!(truncate_chars("héllo wörld", 5), "héll…");
        assert_eq!(truncate_chars("short", 10), "short");
    }
}
