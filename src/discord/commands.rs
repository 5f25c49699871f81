//! Slash command definitions and turning interactions into app [`Command`]s. Commands stay
//! thin: read the options, call the engine, render the reply.

use serenity::all::{
    CommandInteraction, CommandOptionType, CreateActionRow, CreateCommand, CreateCommandOption,
    CreateInputText, CreateModal, InputTextStyle, ResolvedOption, ResolvedValue,
};

use crate::app::outbox::{truncate_chars, ButtonAction, EscalationAction};
use crate::app::{Command, CustomerRef, QueueView};
use crate::domain::case::Owner;
use crate::domain::escalation::EscalationId;
use crate::domain::surge::IncidentId;
use crate::domain::{CaseId, Handle, Network, ParseError, Priority, Segment};

/// Why an interaction could not become a command; shown to the user.
#[derive(Debug, thiserror::Error)]
pub enum OptionError {
    #[error("unknown command `{0}`; the bot's commands may be out of date, try again in a minute")]
    Unknown(String),
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("{0}")]
    Value(#[from] ParseError),
    #[error("no case here: run this inside a case thread or give the case number")]
    NoCase,
    #[error("this {0} is not carebot's, or it is out of date")]
    Foreign(&'static str),
    #[error("`{0}` must be a number, e.g. 1")]
    NotANumber(&'static str),
}

fn case_option() -> CreateCommandOption {
    CreateCommandOption::new(
        CommandOptionType::String,
        "case",
        "Case number (implied inside a case thread)",
    )
    .set_autocomplete(true)
}

fn escalation_option() -> CreateCommandOption {
    CreateCommandOption::new(CommandOptionType::String, "id", "Escalation, e.g. E3")
        .required(true)
        .set_autocomplete(true)
        .max_length(20)
}

fn text_option(name: &str, description: &str) -> CreateCommandOption {
    CreateCommandOption::new(CommandOptionType::String, name, description)
        .required(true)
        .max_length(4000)
}

fn sub(name: &str, description: &str, options: Vec<CreateCommandOption>) -> CreateCommandOption {
    let mut sub = CreateCommandOption::new(CommandOptionType::SubCommand, name, description);
    for option in options {
        sub = sub.add_sub_option(option);
    }
    sub
}

/// Every slash command carebot registers in the guild.
pub fn definitions() -> Vec<CreateCommand> {
    let priority = CreateCommandOption::new(CommandOptionType::String, "level", "New priority")
        .required(true)
        .add_string_choice("P1 (most urgent)", "P1")
        .add_string_choice("P2", "P2")
        .add_string_choice("P3", "P3")
        .add_string_choice("P4", "P4");
    let segment = CreateCommandOption::new(CommandOptionType::String, "segment", "Customer segment")
        .required(true)
        .add_string_choice("vip", "vip")
        .add_string_choice("promising", "promising")
        .add_string_choice("standard", "standard");
    let handle = || {
        CreateCommandOption::new(CommandOptionType::String, "handle", "Customer handle, e.g. @dana")
            .required(true)
    };
    let network = || {
        CreateCommandOption::new(
            CommandOptionType::String,
            "network",
            "Network, when the handle is on several",
        )
    };
    let view = CreateCommandOption::new(CommandOptionType::String, "view", "Which queue")
        .add_string_choice("unassigned", "unassigned")
        .add_string_choice("mine", "mine")
        .add_string_choice("oldest", "oldest")
        .add_string_choice("breaching", "breaching");
    vec![
        CreateCommand::new("case")
            .description("Work a case")
            .dm_permission(false)
            .add_option(sub(
                "show",
                "Show the case, its posts and timeline",
                vec![case_option()],
            ))
            .add_option(sub("claim", "Take ownership of the case", vec![case_option()]))
            .add_option(sub(
                "assign",
                "Give the case to someone (senior)",
                vec![
                    CreateCommandOption::new(CommandOptionType::User, "to", "New owner").required(true),
                    case_option(),
                ],
            ))
            .add_option(sub(
                "note",
                "Internal note, never sent to the customer",
                vec![text_option("text", "The note"), case_option()],
            ))
            .add_option(sub(
                "reply",
                "Record the public reply you sent",
                vec![text_option("text", "The reply"), case_option()],
            ))
            .add_option(sub(
                "tag",
                "Add tags",
                vec![
                    text_option("tags", "Tags, separated by spaces or commas"),
                    case_option(),
                ],
            ))
            .add_option(sub(
                "category",
                "Re-categorise the case (audited; teaches the suggestions)",
                vec![
                    CreateCommandOption::new(
                        CommandOptionType::String,
                        "playbook",
                        "A playbook id (see /playbook list)",
                    )
                    .required(true)
                    .max_length(64),
                    case_option(),
                ],
            ))
            .add_option(sub(
                "priority",
                "Change the priority",
                vec![priority, case_option()],
            ))
            .add_option(sub("waiting", "Waiting on the customer", vec![case_option()]))
            .add_option(sub(
                "resolve",
                "Resolve the case",
                vec![
                    CreateCommandOption::new(CommandOptionType::String, "note", "Resolution note"),
                    case_option(),
                ],
            ))
            .add_option(sub("reopen", "Reopen the case", vec![case_option()]))
            .add_option(sub(
                "escalate",
                "Ask the approvers for a decision",
                vec![
                    text_option("reason", "What you need decided and why"),
                    case_option(),
                ],
            ))
            .add_option(sub(
                "offer",
                "Offer a remedy; above your limit it goes to an approver",
                vec![
                    CreateCommandOption::new(
                        CommandOptionType::String,
                        "remedy",
                        "A remedy of the case's playbook",
                    )
                    .required(true)
                    .set_autocomplete(true)
                    .max_length(40),
                    CreateCommandOption::new(
                        CommandOptionType::String,
                        "amount",
                        "How much, in the remedy's unit (e.g. 180)",
                    )
                    .required(true)
                    .max_length(20),
                    CreateCommandOption::new(
                        CommandOptionType::String,
                        "note",
                        "Why (shown to the approver)",
                    )
                    .max_length(1000),
                    case_option(),
                ],
            )),
        CreateCommand::new("escalation")
            .description("Decide an escalation")
            .dm_permission(false)
            .add_option(sub(
                "approve",
                "Approve all of the request, or a part of it",
                vec![
                    escalation_option(),
                    CreateCommandOption::new(
                        CommandOptionType::String,
                        "amount",
                        "Approve only this much (default: all)",
                    )
                    .max_length(20),
                    CreateCommandOption::new(CommandOptionType::String, "note", "A note for the requester")
                        .max_length(1000),
                ],
            ))
            .add_option(sub(
                "deny",
                "Deny the request",
                vec![
                    escalation_option(),
                    text_option("reason", "Why (the requester is told)").max_length(1000),
                ],
            ))
            .add_option(sub(
                "ask",
                "Ask the requester for information before deciding",
                vec![
                    escalation_option(),
                    text_option("question", "What you need to know").max_length(1000),
                ],
            ))
            .add_option(sub(
                "show",
                "The escalation and its packet",
                vec![escalation_option()],
            )),
        CreateCommand::new("escalations")
            .description("Open escalations, soonest deadline first")
            .dm_permission(false),
        CreateCommand::new("incident")
            .description("Surge incidents")
            .dm_permission(false)
            .add_option(sub(
                "reply",
                "Record one public reply on every open case of the incident",
                vec![
                    CreateCommandOption::new(CommandOptionType::String, "id", "Incident, e.g. I3")
                        .required(true),
                    text_option("text", "The reply you sent to everyone"),
                ],
            ))
            .add_option(sub(
                "resolve",
                "Resolve the incident and its open cases",
                vec![
                    CreateCommandOption::new(CommandOptionType::String, "id", "Incident, e.g. I3")
                        .required(true),
                    CreateCommandOption::new(CommandOptionType::String, "note", "Resolution note")
                        .max_length(4000),
                ],
            )),
        CreateCommand::new("incidents")
            .description("Surge incidents, newest first")
            .dm_permission(false),
        CreateCommand::new("suggest")
            .description("Ranked playbook suggestions for a case")
            .dm_permission(false)
            .add_option(case_option())
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    "use",
                    "Use suggestion N (1-3): its playbook becomes the category, its reply the draft",
                )
                .max_length(2),
            ),
        CreateCommand::new("customer")
            .description("Customers")
            .dm_permission(false)
            .add_option(sub(
                "show",
                "A customer and their cases",
                vec![handle(), network()],
            ))
            .add_option(sub(
                "segment",
                "Set a customer's segment (senior)",
                vec![handle(), segment, network()],
            ))
            .add_option(sub(
                "forget",
                "Erase a customer's personal data on request (admin; asks to confirm)",
                vec![handle(), network()],
            )),
        CreateCommand::new("queue")
            .description("Work queues")
            .dm_permission(false)
            .add_option(view),
        CreateCommand::new("playbook")
            .description("Playbooks")
            .dm_permission(false)
            .add_option(sub("list", "All playbooks", vec![]))
            .add_option(sub(
                "show",
                "One playbook",
                vec![CreateCommandOption::new(CommandOptionType::String, "id", "Playbook id").required(true)],
            ))
            .add_option(sub("reload", "Reload playbooks from disk (admin)", vec![])),
        CreateCommand::new("digest")
            .description("The digest of a period (default: the last week), with its chart and CSV")
            .dm_permission(false)
            .add_option(
                CreateCommandOption::new(CommandOptionType::String, "from", "First day, YYYY-MM-DD")
                    .max_length(40),
            )
            .add_option(
                CreateCommandOption::new(CommandOptionType::String, "to", "Last day (included), YYYY-MM-DD")
                    .max_length(40),
            ),
    ]
}

/// Reads the options of one (sub)command.
struct Options<'a>(Vec<ResolvedOption<'a>>);

impl<'a> Options<'a> {
    fn str(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| match o.value {
                ResolvedValue::String(s) => Some(s),
                _ => None,
            })
    }

    fn required(&self, name: &'static str) -> Result<&'a str, OptionError> {
        self.str(name).ok_or(OptionError::Missing(name))
    }

    fn user(&self, name: &'static str) -> Result<Owner, OptionError> {
        self.0
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| match o.value {
                ResolvedValue::User(user, member) => Some(Owner {
                    id: user.id.to_string(),
                    name: member
                        .and_then(|m| m.nick.clone())
                        .or_else(|| user.global_name.clone())
                        .unwrap_or_else(|| user.name.clone()),
                }),
                _ => None,
            })
            .ok_or(OptionError::Missing(name))
    }

    /// The `case` option, or the case of the thread the command runs in.
    fn case(&self, thread_case: Option<CaseId>) -> Result<CaseId, OptionError> {
        match self.str("case") {
            Some(text) => Ok(CaseId::parse(text)?),
            None => thread_case.ok_or(OptionError::NoCase),
        }
    }

    fn escalation(&self) -> Result<EscalationId, OptionError> {
        Ok(EscalationId::parse(self.required("id")?)?)
    }

    fn customer(&self) -> Result<CustomerRef, OptionError> {
        let handle = Handle::parse(self.required("handle")?)?;
        let network = self.str("network").map(Network::parse).transpose()?;
        Ok(CustomerRef::Handle { network, handle })
    }
}

/// `/customer forget HANDLE [NETWORK]`: who to forget (it asks to confirm, so it is not a
/// [`Command`]); `None` for any other interaction.
pub fn forget_request(interaction: &CommandInteraction) -> Option<Result<CustomerRef, OptionError>> {
    let (sub, options) = sub_options(interaction);
    (interaction.data.name == "customer" && sub == "forget").then(|| options.customer())
}

/// The subcommand's name (empty without one) and its options.
fn sub_options(interaction: &CommandInteraction) -> (&str, Options<'_>) {
    let top = interaction.data.options();
    match top.first() {
        Some(ResolvedOption {
            name,
            value: ResolvedValue::SubCommand(options),
            ..
        }) => (*name, Options(options.clone())),
        _ => ("", Options(top)),
    }
}

/// The case an autocomplete is about: the `case` option when it is filled in (and not the
/// one being typed), else the case of the thread.
pub fn autocomplete_case(interaction: &CommandInteraction, thread_case: Option<CaseId>) -> Option<CaseId> {
    let (_, options) = sub_options(interaction);
    match options.str("case") {
        Some(text) => CaseId::parse(text).ok(),
        None => thread_case,
    }
}

/// Turns a slash command into an app command; `thread_case` is the case of the thread it ran in.
pub fn command(
    interaction: &CommandInteraction,
    thread_case: Option<CaseId>,
) -> Result<Command, OptionError> {
    let name = interaction.data.name.as_str();
    let (sub, options) = sub_options(interaction);
    let case = || options.case(thread_case);
    let note = || options.str("note").map(str::to_string);
    Ok(match (name, sub) {
        ("case", "show") => Command::Show { case: case()? },
        ("case", "claim") => Command::Claim { case: case()? },
        ("case", "assign") => Command::Assign {
            case: case()?,
            to: options.user("to")?,
        },
        ("case", "note") => Command::Note {
            case: case()?,
            text: options.required("text")?.to_string(),
        },
        ("case", "reply") => Command::Reply {
            case: case()?,
            text: options.required("text")?.to_string(),
        },
        ("case", "tag") => Command::Tag {
            case: case()?,
            tags: options
                .required("tags")?
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
        },
        ("case", "priority") => Command::Priority {
            case: case()?,
            priority: Priority::parse(options.required("level")?)?,
        },
        ("case", "waiting") => Command::Waiting { case: case()? },
        ("case", "resolve") => Command::Resolve {
            case: case()?,
            note: note(),
        },
        ("case", "reopen") => Command::Reopen { case: case()? },
        ("case", "escalate") => Command::Escalate {
            case: case()?,
            reason: options.required("reason")?.to_string(),
        },
        ("case", "offer") => Command::Offer {
            case: case()?,
            remedy: options.required("remedy")?.to_string(),
            amount: options.required("amount")?.to_string(),
            note: note(),
        },
        ("escalation", "approve") => Command::Approve {
            escalation: options.escalation()?,
            amount: options.str("amount").map(str::to_string),
            note: note(),
        },
        ("escalation", "deny") => Command::Deny {
            escalation: options.escalation()?,
            reason: options.required("reason")?.to_string(),
        },
        ("escalation", "ask") => Command::Ask {
            escalation: options.escalation()?,
            question: options.required("question")?.to_string(),
        },
        ("escalation", "show") => Command::EscalationShow {
            escalation: options.escalation()?,
        },
        ("escalations", _) => Command::Escalations,
        ("incidents", _) => Command::Incidents,
        ("incident", "reply") => Command::IncidentReply {
            incident: IncidentId::parse(options.required("id")?)?,
            text: options.required("text")?.to_string(),
        },
        ("incident", "resolve") => Command::IncidentResolve {
            incident: IncidentId::parse(options.required("id")?)?,
            note: options.str("note").map(str::to_string),
        },
        ("suggest", _) => match options.str("use") {
            Some(n) => Command::SuggestUse {
                case: case()?,
                rank: n.trim().parse().map_err(|_| OptionError::NotANumber("use"))?,
            },
            None => Command::Suggest { case: case()? },
        },
        ("case", "category") => Command::Category {
            case: case()?,
            playbook: options.required("playbook")?.to_string(),
        },
        ("customer", "show") => Command::CustomerShow {
            customer: options.customer()?,
        },
        ("customer", "segment") => Command::CustomerSegment {
            customer: options.customer()?,
            segment: Segment::parse(options.required("segment")?)?,
        },
        ("queue", _) => Command::Queue {
            view: match options.str("view").unwrap_or("unassigned") {
                "mine" => QueueView::Mine,
                "oldest" => QueueView::Oldest,
                "breaching" => QueueView::Breaching,
                _ => QueueView::Unassigned,
            },
        },
        ("playbook", "list") => Command::PlaybookList,
        ("playbook", "show") => Command::PlaybookShow {
            id: options.required("id")?.to_string(),
        },
        ("playbook", "reload") => Command::PlaybookReload,
        ("digest", _) => Command::Digest {
            from: options.str("from").map(str::to_string),
            to: options.str("to").map(str::to_string),
        },
        _ => return Err(OptionError::Unknown(format!("/{name} {sub}").trim().to_string())),
    })
}

/// What pressing a button does.
#[derive(Debug, Clone, PartialEq)]
pub enum Press {
    /// Runs at once (Claim, Approve, ...).
    Run(Command),
    /// Asks for a text first (Deny, Need info, Escalate).
    Open(Form),
}

/// Reads a pressed button's id; `None` for ids carebot did not make.
pub fn button(custom_id: &str) -> Option<Press> {
    if let Some((action, escalation)) = EscalationAction::parse(custom_id) {
        return Some(match action {
            EscalationAction::Approve => Press::Run(Command::Approve {
                escalation,
                amount: None,
                note: None,
            }),
            EscalationAction::Deny => Press::Open(Form::Deny(escalation)),
            EscalationAction::Ask => Press::Open(Form::Ask(escalation)),
        });
    }
    if let Some((case, rank)) = crate::app::suggestions::parse_use_button(custom_id) {
        return Some(Press::Run(Command::SuggestUse { case, rank }));
    }
    let (action, case) = ButtonAction::parse(custom_id)?;
    Some(match action {
        ButtonAction::Claim => Press::Run(Command::Claim { case }),
        ButtonAction::Suggest => Press::Run(Command::Suggest { case }),
        ButtonAction::Resolve => Press::Run(Command::Resolve { case, note: None }),
        ButtonAction::Escalate => Press::Open(Form::Escalate(case)),
    })
}

/// A modal asking for the one text a button's command needs. Its custom id is the button's,
/// so a submitted modal reads back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Deny(EscalationId),
    Ask(EscalationId),
    Escalate(CaseId),
}

/// The longest text a modal accepts.
const FORM_TEXT_MAX: u16 = 1000;

impl Form {
    /// `esc:deny:3`, `esc:ask:3` or `case:escalate:1`: the id of the button that opened it.
    pub fn parse(custom_id: &str) -> Option<Form> {
        match button(custom_id)? {
            Press::Open(form) => Some(form),
            Press::Run(_) => None,
        }
    }

    /// The button's id again, so the submit reads back like the press.
    pub fn custom_id(self) -> String {
        match self {
            Form::Deny(id) => EscalationAction::Deny.button_id(id),
            Form::Ask(id) => EscalationAction::Ask.button_id(id),
            Form::Escalate(case) => ButtonAction::Escalate.button_id(case),
        }
    }

    /// The escalation whose decider may fill it in, if it is about one.
    pub fn escalation(self) -> Option<EscalationId> {
        match self {
            Form::Deny(id) | Form::Ask(id) => Some(id),
            Form::Escalate(_) => None,
        }
    }

    /// The custom id of its text input.
    pub fn input(self) -> &'static str {
        match self {
            Form::Deny(_) | Form::Escalate(_) => "reason",
            Form::Ask(_) => "question",
        }
    }

    /// (title, label, placeholder): Discord allows 45, 45 and 100 characters.
    fn words(self) -> (String, &'static str, &'static str) {
        match self {
            Form::Deny(id) => (
                format!("Deny {id}"),
                "Why is it denied?",
                "The requester is told in the case thread.",
            ),
            Form::Ask(id) => (
                format!("Need info on {id}"),
                "What do you need to know?",
                "The requester is asked in the case thread; the deadline keeps running.",
            ),
            Form::Escalate(case) => (
                format!("Escalate case {case}"),
                "What needs deciding, and why?",
                "The approvers see this with the whole case.",
            ),
        }
    }

    /// The modal Discord shows.
    pub fn modal(self) -> CreateModal {
        let (title, label, placeholder) = self.words();
        let input = CreateInputText::new(InputTextStyle::Paragraph, label, self.input())
            .placeholder(placeholder)
            .required(true)
            .max_length(FORM_TEXT_MAX);
        CreateModal::new(self.custom_id(), truncate_chars(&title, 45))
            .components(vec![CreateActionRow::InputText(input)])
    }

    /// The command the submitted text becomes.
    pub fn command(self, text: String) -> Command {
        match self {
            Form::Deny(escalation) => Command::Deny {
                escalation,
                reason: text,
            },
            Form::Ask(escalation) => Command::Ask {
                escalation,
                question: text,
            },
            Form::Escalate(case) => Command::Escalate { case, reason: text },
        }
    }
}

/// Turns a submitted modal into an app command; `value` reads a text input by its custom id.
pub fn modal<'a>(custom_id: &str, value: impl Fn(&str) -> Option<&'a str>) -> Result<Command, OptionError> {
    let form = Form::parse(custom_id).ok_or(OptionError::Foreign("form"))?;
    let text = value(form.input())
        .filter(|t| !t.trim().is_empty())
        .ok_or(OptionError::Missing(form.input()))?;
    Ok(form.command(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Discord's rules for command definitions: names of 1-32 lowercase characters, descriptions
    /// of 1-100, at most 25 options, required options before optional ones, string lengths
    /// within 6,000, and no choices on an autocompleted option.
    fn check_options(at: &str, options: &[serde_json::Value]) {
        assert!(options.len() <= 25, "{at}: too many options");
        let mut optional_seen = false;
        for o in options {
            let name = o["name"].as_str().unwrap_or("");
            let at = format!("{at} {name}");
            assert!((1..=32).contains(&name.chars().count()), "{at}: name length");
            assert_eq!(name, name.to_lowercase(), "{at}: name must be lowercase");
            let description = o["description"].as_str().unwrap_or("");
            assert!(
                (1..=100).contains(&description.chars().count()),
                "{at}: description length"
            );
            if o["required"] == true {
                assert!(!optional_seen, "{at}: a required option after an optional one");
            } else {
                optional_seen = true;
            }
            if let Some(max) = o["max_length"].as_u64() {
                assert!((1..=6000).contains(&max), "{at}: max_length");
            }
            assert!(
                !(o["autocomplete"] == true && o["choices"].as_array().is_some_and(|c| !c.is_empty())),
                "{at}: autocomplete and choices"
            );
            if let Some(sub) = o["options"].as_array() {
                check_options(&at, sub);
            }
        }
    }

    #[test]
    fn command_definitions_keep_discords_rules() {
        let commands = serde_json::to_value(definitions()).unwrap();
        let commands = commands.as_array().unwrap();
        assert!(commands.len() <= 100);
        for c in commands {
            let name = c["name"].as_str().unwrap();
            assert!(c["description"]
                .as_str()
                .is_some_and(|d| (1..=100).contains(&d.chars().count())));
            check_options(
                &format!("/{name}"),
                c["options"].as_array().map_or(&[][..], |o| o),
            );
        }
        let names: Vec<&str> = commands.iter().filter_map(|c| c["name"].as_str()).collect();
        assert!(
            names.contains(&"escalation") && names.contains(&"escalations"),
            "{names:?}"
        );
    }

    #[test]
    fn buttons_that_need_a_text_open_a_form_with_the_same_id() {
        for id in ["esc:deny:3", "esc:ask:3", "case:escalate:1"] {
            match button(id) {
                Some(Press::Open(form)) => assert_eq!(form.custom_id(), id),
                other => panic!("{id}: {other:?}"),
            }
        }
        assert!(matches!(
            button("esc:approve:3"),
            Some(Press::Run(Command::Approve { amount: None, .. }))
        ));
        assert!(matches!(
            button("case:claim:1"),
            Some(Press::Run(Command::Claim { .. }))
        ));
        assert_eq!(button("esc:shrug:3"), None);
    }

    #[test]
    fn form_titles_and_labels_fit_discord_even_for_huge_ids() {
        let big = i64::MAX;
        for form in [
            Form::Deny(EscalationId(big)),
            Form::Ask(EscalationId(big)),
            Form::Escalate(CaseId(big)),
        ] {
            let (title, label, placeholder) = form.words();
            assert!(title.chars().count() <= 45, "{title}");
            assert!(label.chars().count() <= 45, "{label}");
            assert!(placeholder.chars().count() <= 100, "{placeholder}");
        }
    }

    #[test]
    fn a_submitted_form_needs_its_text() {
        let command = modal("esc:deny:2", |name| (name == "reason").then_some("over budget")).unwrap();
        assert_eq!(
            command,
            Command::Deny {
                escalation: EscalationId(2),
                reason: "over budget".into()
            }
        );
        assert!(matches!(
            modal("esc:ask:2", |_| Some("  ")),
            Err(OptionError::Missing("question"))
        ));
        assert!(matches!(
            modal("esc:approve:2", |_| Some("x")),
            Err(OptionError::Foreign(_))
        ));
    }
}
