//! Slash command definitions and turning interactions into app [`Command`]s. Commands stay
//! thin: read the options, call the engine, render the reply.

use serenity::all::{
    CommandInteraction, CommandOptionType, CreateCommand, CreateCommandOption, ResolvedOption, ResolvedValue,
};

use crate::app::outbox::ButtonAction;
use crate::app::{Command, CustomerRef, QueueView};
use crate::domain::case::Owner;
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
}

fn case_option() -> CreateCommandOption {
    CreateCommandOption::new(
        CommandOptionType::String,
        "case",
        "Case number (implied inside a case thread)",
    )
    .set_autocomplete(true)
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
        .add_string_choice("oldest", "oldest");
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
            )),
        CreateCommand::new("suggest")
            .description("Ranked playbook suggestions for a case")
            .dm_permission(false)
            .add_option(case_option()),
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

    fn customer(&self) -> Result<CustomerRef, OptionError> {
        let handle = Handle::parse(self.required("handle")?)?;
        let network = self.str("network").map(Network::parse).transpose()?;
        Ok(CustomerRef::Handle { network, handle })
    }
}

/// Turns a slash command into an app command; `thread_case` is the case of the thread it ran in.
pub fn command(
    interaction: &CommandInteraction,
    thread_case: Option<CaseId>,
) -> Result<Command, OptionError> {
    let name = interaction.data.name.as_str();
    let top = interaction.data.options();
    let (sub, options) = match top.first() {
        Some(ResolvedOption {
            name,
            value: ResolvedValue::SubCommand(options),
            ..
        }) => (*name, Options(options.clone())),
        _ => ("", Options(top.clone())),
    };
    let case = || options.case(thread_case);
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
            note: options.str("note").map(str::to_string),
        },
        ("case", "reopen") => Command::Reopen { case: case()? },
        ("case", "escalate") => Command::Escalate {
            case: case()?,
            reason: options.required("reason")?.to_string(),
        },
        ("suggest", _) => Command::Suggest { case: case()? },
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
                _ => QueueView::Unassigned,
            },
        },
        ("playbook", "list") => Command::PlaybookList,
        ("playbook", "show") => Command::PlaybookShow {
            id: options.required("id")?.to_string(),
        },
        ("playbook", "reload") => Command::PlaybookReload,
        _ => return Err(OptionError::Unknown(format!("/{name} {sub}").trim().to_string())),
    })
}

/// Turns a case button into an app command.
pub fn button(custom_id: &str) -> Option<Command> {
    let (action, case) = ButtonAction::parse(custom_id)?;
    Some(match action {
        ButtonAction::Claim => Command::Claim { case },
        ButtonAction::Suggest => Command::Suggest { case },
        ButtonAction::Escalate => Command::Escalate {
            case,
            reason: "escalated from the case card".into(),
        },
        ButtonAction::Resolve => Command::Resolve { case, note: None },
    })
}
