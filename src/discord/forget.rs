//! `/customer forget HANDLE [NETWORK]`: admins only, and only after a confirmation button,
//! since erasing a customer's personal data cannot be undone.

use serenity::all::{
    ButtonStyle, CommandInteraction, ComponentInteraction, CreateActionRow, CreateButton,
    CreateInteractionResponse, CreateInteractionResponseMessage, Http,
};

use super::commands::OptionError;
use super::handler::Handler;
use super::interactions::{refused, unreadable};
use super::render;
use crate::app::{wall_clock, Actor, CustomerRef};

/// The confirmation button's custom id prefix: `forget:<customer id>`.
const PREFIX: &str = "forget:";

/// The customer id of a pressed confirmation button.
pub(super) fn confirmed(custom_id: &str) -> Option<i64> {
    custom_id.strip_prefix(PREFIX)?.parse().ok()
}

impl Handler {
    /// Answers ephemerally with what would be forgotten and a button to confirm, or refuses
    /// (not an admin, unknown customer) at once.
    pub(super) async fn forget_command(
        &self,
        http: &Http,
        interaction: &CommandInteraction,
        who: Result<CustomerRef, OptionError>,
    ) {
        let actor = self.actor(interaction.member.as_deref(), &interaction.user);
        let message = match who {
            Err(e) => CreateInteractionResponseMessage::new().content(unreadable(e)),
            Ok(who) => match self.engine.customer_to_forget(&actor, &who).await {
                Err(e) => CreateInteractionResponseMessage::new().content(refused(e)),
                Ok(customer) => {
                    let text = format!(
                        "Forget {} on {}? Their handle, name, posts and the texts about them are erased from carebot for good, and the case cards are edited to say so. Counts stay. This cannot be undone.",
                        render::escape(&customer.handle.to_string()),
                        customer.network
                    );
                    let button = CreateButton::new(format!("{PREFIX}{}", customer.id))
                        .label("Forget this customer")
                        .style(ButtonStyle::Danger);
                    CreateInteractionResponseMessage::new()
                        .content(text)
                        .components(vec![CreateActionRow::Buttons(vec![button])])
                }
            },
        };
        let response =
            CreateInteractionResponse::Message(message.ephemeral(true).allowed_mentions(render::no_pings()));
        if let Err(e) = interaction.create_response(http, response).await {
            tracing::warn!(error = %e, "could not answer /customer forget");
        }
    }

    /// The confirmation: forgets the customer (admins only, checked again) and says what went.
    pub(super) async fn forget_confirmed(
        &self,
        http: &Http,
        interaction: &ComponentInteraction,
        actor: &Actor,
        customer: i64,
    ) {
        let answer = async {
            match self
                .engine
                .forget_customer_id(actor, customer, wall_clock())
                .await
            {
                Ok(done) => {
                    self.notify.notify_one();
                    format!(
                        "Forgotten: customer {} is now {}; {} post(s) on {} case(s) erased; {} case card(s) are being edited.",
                        done.customer,
                        done.pseudonym,
                        done.mentions,
                        done.cases.len(),
                        done.cards_edited
                    )
                }
                Err(e) => refused(e),
            }
        };
        self.deferred(http, interaction.id, &interaction.token, "button", answer)
            .await;
    }
}
