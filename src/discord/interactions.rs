//! Interactions: slash commands, autocomplete, buttons and modals. Each is acknowledged within
//! Discord's 3 seconds, turned into one app command and answered ephemerally; [`refused`] is
//! the one place where a refusal becomes what the user reads.

use std::future::Future;

use chrono::{DateTime, Utc};
use serenity::all::{
    ActionRow, ActionRowComponent, CommandInteraction, ComponentInteraction, CreateAutocompleteResponse,
    CreateInteractionResponse, CreateInteractionResponseMessage, EditInteractionResponse, Http, Interaction,
    InteractionId, ModalInteraction,
};

use super::commands::{self, Form, OptionError, Press};
use super::handler::Handler;
use super::render;
use crate::app::outbox::truncate_chars;
use crate::app::text::{self, one_line};
use crate::app::{wall_clock, Actor, Command, CommandError, Engine, EscalationItem};
use crate::domain::case::CaseStatus;
use crate::domain::escalation::EscalationStatus;
use crate::domain::{CaseId, Role};
use crate::store::{CaseFilter, EscalationFilter};

/// Discord shows at most 25 autocomplete choices, each named in at most 100 characters.
const CHOICES_MAX: usize = 25;
const CHOICE_NAME_MAX: usize = 100;

/// How many active cases / open escalations autocomplete looks through for a match.
const CASES_SCANNED: i64 = 200;
const ESCALATIONS_SCANNED: i64 = 100;

/// Code-block text that shows exactly as written and cannot close its block early.
fn code_block(text: &str) -> String {
    let body = text.replace("```", "ʼʼʼ");
    render::reply_text(&format!("```\n{}\n```", body.trim_end()))
}

/// A refused or failed command as the user reads it; failures of the store go to the log too.
pub(super) fn refused(error: CommandError) -> String {
    match error {
        CommandError::Store(e) => {
            tracing::error!(error = ?e, "command failed in the store");
            CommandError::Store(e).to_string()
        }
        refusal => format!("✗ {}", render::escape(&refusal.to_string())),
    }
}

/// An interaction that could not become a command, as the user reads it.
pub(super) fn unreadable(error: OptionError) -> String {
    format!("✗ {}", render::escape(&error.to_string()))
}

/// The value of a submitted modal's text input.
fn input_value<'a>(rows: &'a [ActionRow], custom_id: &str) -> Option<&'a str> {
    rows.iter()
        .flat_map(|row| &row.components)
        .find_map(|component| match component {
            ActionRowComponent::InputText(input) if input.custom_id == custom_id => input.value.as_deref(),
            _ => None,
        })
}

/// `E3 · case #1 · fee_waiver 180 USD · due 10:08` (UTC; with the date when not today).
fn escalation_choice(e: &EscalationItem, now: DateTime<Utc>) -> String {
    let what = match (e.remedy, e.amount, &e.unit) {
        (Some(remedy), Some(amount), Some(unit)) => format!("{remedy} {amount} {unit}"),
        _ => one_line(&e.reason, 40),
    };
    let due = if e.deadline.date_naive() == now.date_naive() {
        e.deadline.format("%H:%M")
    } else {
        e.deadline.format("%m-%d %H:%M")
    };
    format!("{} · case {} · {what} · due {due}", e.id, e.case)
}

impl Handler {
    /// Every interaction Discord sends: commands, autocomplete, button presses, modal submits.
    pub(super) async fn interaction(&self, http: &Http, interaction: Interaction) {
        match interaction {
            Interaction::Command(command) => self.slash_command(http, &command).await,
            Interaction::Autocomplete(command) => self.autocomplete(http, &command).await,
            Interaction::Component(component) => self.button(http, &component).await,
            Interaction::Modal(modal) => self.modal_submit(http, &modal).await,
            _ => {}
        }
    }

    async fn thread_case(&self, channel: u64) -> Option<CaseId> {
        self.engine
            .store()
            .case_by_thread(&channel.to_string())
            .await
            .ok()
            .flatten()
    }

    /// Runs a command for an interaction and renders the answer (or the refusal) as text.
    async fn answer(&self, actor: &Actor, command: Result<Command, OptionError>) -> String {
        let command = match command {
            Ok(command) => command,
            Err(e) => return unreadable(e),
        };
        match self.engine.execute(actor, command, wall_clock()).await {
            Ok(reply) => {
                self.notify.notify_one();
                self.sweep.notify_one();
                code_block(&text::reply(&reply))
            }
            Err(e) => refused(e),
        }
    }

    /// Acknowledges first (ephemeral "thinking": Discord allows 3 seconds, the work may take
    /// longer), then runs `answer` and edits its text into the response.
    pub(super) async fn deferred(
        &self,
        http: &Http,
        id: InteractionId,
        token: &str,
        what: &str,
        answer: impl Future<Output = String>,
    ) {
        let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(true));
        if let Err(e) = http.create_interaction_response(id, token, &defer, vec![]).await {
            tracing::warn!(error = %e, "could not acknowledge a {what}");
            return;
        }
        let edit = EditInteractionResponse::new()
            .content(answer.await)
            .allowed_mentions(render::no_pings());
        if let Err(e) = http
            .edit_original_interaction_response(token, &edit, vec![])
            .await
        {
            tracing::warn!(error = %e, "could not send a {what}'s answer");
        }
    }

    async fn slash_command(&self, http: &Http, interaction: &CommandInteraction) {
        if interaction.data.name == "digest" {
            return self.digest_command(http, interaction).await;
        }
        if let Some(who) = commands::forget_request(interaction) {
            return self.forget_command(http, interaction, who).await;
        }
        let answer = async {
            let thread_case = self.thread_case(interaction.channel_id.get()).await;
            let actor = self.actor(interaction.member.as_deref(), &interaction.user);
            self.answer(&actor, commands::command(interaction, thread_case))
                .await
        };
        self.deferred(http, interaction.id, &interaction.token, "command", answer)
            .await;
    }

    /// `/digest`: acknowledged at once, then answered ephemerally with the digest's embed and
    /// its chart and CSV attached (or the refusal, e.g. a period that ends before it starts).
    async fn digest_command(&self, http: &Http, interaction: &CommandInteraction) {
        let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(true));
        if let Err(e) = http
            .create_interaction_response(interaction.id, &interaction.token, &defer, vec![])
            .await
        {
            tracing::warn!(error = %e, "could not acknowledge /digest");
            return;
        }
        let actor = self.actor(interaction.member.as_deref(), &interaction.user);
        let edit = match commands::command(interaction, None) {
            Err(e) => EditInteractionResponse::new().content(unreadable(e)),
            Ok(command) => match self.engine.execute(&actor, command, wall_clock()).await {
                Ok(crate::app::Reply::Digest(report)) => {
                    let period = report.period();
                    let cases = crate::app::digest::cases(self.engine.store(), period).await;
                    let post = cases
                        .map_err(super::digest::DigestRenderError::from)
                        .and_then(|cases| {
                            super::digest::render_digest(&report, &cases, None, Some(self.guild.get()))
                        });
                    match post {
                        Ok(post) => post.interaction_edit(),
                        Err(e) => {
                            tracing::error!(error = ?e, "/digest could not be rendered");
                            EditInteractionResponse::new()
                                .content(format!("✗ {}", render::escape(&e.to_string())))
                        }
                    }
                }
                Ok(reply) => EditInteractionResponse::new().content(code_block(&text::reply(&reply))),
                Err(e) => EditInteractionResponse::new().content(refused(e)),
            },
        };
        let edit = edit.allowed_mentions(render::no_pings());
        if let Err(e) = serenity::builder::Builder::execute(edit, http, &interaction.token).await {
            tracing::warn!(error = %e, "could not send the /digest answer");
        }
    }

    /// A button: runs its command at once, or opens the form for the text it needs.
    async fn button(&self, http: &Http, interaction: &ComponentInteraction) {
        let actor = self.actor(interaction.member.as_ref(), &interaction.user);
        if let Some(customer) = super::forget::confirmed(&interaction.data.custom_id) {
            return self.forget_confirmed(http, interaction, &actor, customer).await;
        }
        let command = match commands::button(&interaction.data.custom_id) {
            Some(Press::Open(form)) => return self.open_form(http, interaction, &actor, form).await,
            Some(Press::Run(command)) => Ok(command),
            None => Err(OptionError::Foreign("button")),
        };
        let answer = self.answer(&actor, command);
        self.deferred(http, interaction.id, &interaction.token, "button", answer)
            .await;
    }

    /// Opens the modal a button asks for, or refuses at once, ephemerally, when the presser
    /// may not run its command: nobody should type a reason only to be told they may not.
    async fn open_form(&self, http: &Http, interaction: &ComponentInteraction, actor: &Actor, form: Form) {
        let response = match self.may_fill(actor, form).await {
            Ok(()) => CreateInteractionResponse::Modal(form.modal()),
            Err(e) => CreateInteractionResponse::Message(
                CreateInteractionResponseMessage::new()
                    .content(refused(e))
                    .ephemeral(true)
                    .allowed_mentions(render::no_pings()),
            ),
        };
        if let Err(e) = interaction.create_response(http, response).await {
            tracing::warn!(error = %e, "could not answer a button with its form");
        }
    }

    /// Whether `actor` may run the form's command, asked before the form opens.
    async fn may_fill(&self, actor: &Actor, form: Form) -> Result<(), CommandError> {
        if let Some(escalation) = form.escalation() {
            return self.engine.check_decider(actor, escalation).await;
        }
        Engine::check_allowed(actor, &form.command(String::new()))
    }

    /// A submitted form (Deny, Need info, Escalate): its text becomes the command.
    async fn modal_submit(&self, http: &Http, interaction: &ModalInteraction) {
        let answer = async {
            let actor = self.actor(interaction.member.as_ref(), &interaction.user);
            let rows = &interaction.data.components;
            let command = commands::modal(&interaction.data.custom_id, |name| input_value(rows, name));
            self.answer(&actor, command).await
        };
        self.deferred(http, interaction.id, &interaction.token, "form", answer)
            .await;
    }

    /// Completes the option being typed: a case, a remedy of the case's playbook, or an open
    /// escalation.
    async fn autocomplete(&self, http: &Http, interaction: &CommandInteraction) {
        let Some(focused) = interaction.data.autocomplete() else {
            return;
        };
        let typed = focused.value.trim().to_lowercase();
        let choices = match focused.name {
            "case" => self.case_choices(&typed).await,
            "remedy" => self.remedy_choices(interaction, &typed).await,
            "id" => self.escalation_choices(&typed).await,
            _ => vec![],
        };
        let mut response = CreateAutocompleteResponse::new();
        for (name, value) in choices.into_iter().take(CHOICES_MAX) {
            response = response.add_string_choice(truncate_chars(&name, CHOICE_NAME_MAX), value);
        }
        if let Err(e) = interaction
            .create_response(http, CreateInteractionResponse::Autocomplete(response))
            .await
        {
            tracing::debug!(error = %e, "autocomplete answer failed");
        }
    }

    /// Active cases whose number starts with what is typed.
    async fn case_choices(&self, typed: &str) -> Vec<(String, String)> {
        let typed = typed.trim_start_matches('#');
        let cases = match self.engine.store().read().await {
            Ok(mut tx) => tx
                .list_cases(&CaseFilter {
                    statuses: CaseStatus::ACTIVE.to_vec(),
                    limit: Some(CASES_SCANNED),
                    ..Default::default()
                })
                .await
                .unwrap_or_default(),
            Err(_) => vec![],
        };
        cases
            .iter()
            .filter(|c| c.id.0.to_string().starts_with(typed))
            .map(|c| {
                let name = format!("{} {} {} – {}", c.id, c.priority, c.handle.shown(c.id), c.title);
                (name, c.id.0.to_string())
            })
            .collect()
    }

    /// The remedies of the case's playbook, with what this member may grant this customer.
    async fn remedy_choices(&self, interaction: &CommandInteraction, typed: &str) -> Vec<(String, String)> {
        let thread_case = self.thread_case(interaction.channel_id.get()).await;
        let Some(case) = commands::autocomplete_case(interaction, thread_case) else {
            return vec![];
        };
        let Ok(detail) = self.engine.case_detail(case, wall_clock()).await else {
            return vec![];
        };
        let playbooks = self.engine.playbooks();
        let Some(playbook) = playbooks.get(&detail.case.category) else {
            return vec![];
        };
        let actor = self.actor(interaction.member.as_deref(), &interaction.user);
        let role = actor.top_role().unwrap_or(Role::Agent);
        playbook
            .remedies
            .iter()
            .filter(|r| r.kind.as_str().contains(typed) || r.label.to_lowercase().contains(typed))
            .map(|r| {
                let limit = r.limit_for(role, detail.customer.segment);
                let name = format!(
                    "{} — {} ({}, you may grant {limit})",
                    r.kind.as_str(),
                    r.label,
                    r.unit
                );
                (name, r.kind.as_str().to_string())
            })
            .collect()
    }

    /// Open escalations, soonest deadline first, whose id starts with what is typed.
    async fn escalation_choices(&self, typed: &str) -> Vec<(String, String)> {
        let typed = typed.trim_start_matches('e');
        let filter = EscalationFilter {
            status: Some(EscalationStatus::Open),
            limit: Some(ESCALATIONS_SCANNED),
            ..Default::default()
        };
        let open = match self.engine.escalations(&filter).await {
            Ok(open) => open,
            Err(e) => {
                tracing::debug!(error = %e, "escalations for autocomplete");
                vec![]
            }
        };
        let now = Utc::now();
        open.iter()
            .filter(|e| e.id.0.to_string().starts_with(typed))
            .map(|e| (escalation_choice(e, now), e.id.to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_blocks_cannot_be_closed_by_the_text() {
        let block = code_block("a ``` b");
        assert_eq!(block.matches("```").count(), 2);
    }
}
