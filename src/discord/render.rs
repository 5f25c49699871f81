//! Outbox messages and replies as Discord embeds and buttons: escaped, within Discord's limits,
//! and never pinging anyone.

use serenity::all::{
    ButtonStyle, Colour, CreateActionRow, CreateAllowedMentions, CreateButton, CreateEmbed, CreateMessage,
    EditMessage,
};

use crate::app::outbox::{Button, Card, Field, Message};
use crate::domain::Priority;

/// Discord's embed limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 4096;
pub const FIELD_NAME_MAX: usize = 256;
pub const FIELD_VALUE_MAX: usize = 1024;
pub const FIELDS_MAX: usize = 25;
pub const EMBED_TOTAL_MAX: usize = 6000;
/// A message's plain content.
pub const CONTENT_MAX: usize = 2000;

/// Escapes Discord markdown and defuses mentions in untrusted text, so it shows literally.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            // A zero-width space after `@` keeps `@everyone` and `<@id>` from being mentions
            // even in clients that ignore allowed_mentions.
            '@' => out.push_str("@\u{200b}"),
            '<' => out.push_str("<\u{200b}"),
            _ => out.push(c),
        }
    }
    out
}

/// Cuts escaped text to `max` characters without splitting an escape, adding `suffix` when cut.
fn fit(text: &str, max: usize, suffix: &str) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep = max.saturating_sub(suffix.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    // Never leave a dangling escape backslash at the cut.
    while out.ends_with('\\') && out.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1 {
        out.pop();
    }
    out.push_str(suffix);
    out
}

/// Mentions parse nothing: customer text with `@everyone` or role ids never pings.
pub fn no_pings() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

/// Who a message notifies, as Discord ids: only these are listed in `allowed_mentions`, and
/// nothing is parsed, so customer text in the embed can still never ping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audience {
    pub users: Vec<u64>,
    pub roles: Vec<u64>,
}

impl Audience {
    /// `<@user> <@&role>`: the message content that carries the pings (embeds never ping).
    fn content(&self) -> String {
        let users = self.users.iter().map(|u| format!("<@{u}>"));
        let roles = self.roles.iter().map(|r| format!("<@&{r}>"));
        users.chain(roles).collect::<Vec<_>>().join(" ")
    }

    fn allowed(&self) -> CreateAllowedMentions {
        CreateAllowedMentions::new()
            .users(self.users.iter().map(|u| serenity::all::UserId::new(*u)))
            .roles(self.roles.iter().map(|r| serenity::all::RoleId::new(*r)))
    }
}

fn colour(priority: Priority) -> Colour {
    match priority {
        Priority::P1 => Colour::new(0xD92D20),
        Priority::P2 => Colour::new(0xF79009),
        Priority::P3 => Colour::new(0x2E90FA),
        Priority::P4 => Colour::new(0x98A2B3),
    }
}

/// Builds an embed that respects every per-part limit and the 6,000-character total.
struct EmbedParts {
    title: String,
    description: String,
    url: Option<String>,
    fields: Vec<(String, String, bool)>,
}

impl EmbedParts {
    fn new(title: &str, description: &str, url: Option<&str>, fields: &[Field]) -> Self {
        let link = url.filter(|u| u.starts_with("http")).map(str::to_string);
        let cut_note = if link.is_some() {
            " … (truncated: open the post)"
        } else {
            " … (truncated)"
        };
        let title = fit(&escape(title), TITLE_MAX, "…");
        let description = fit(&escape(description), DESCRIPTION_MAX, cut_note);
        let fields = fields
            .iter()
            .take(FIELDS_MAX)
            .map(|f| {
                let value = if f.value.trim().is_empty() {
                    "-".to_string()
                } else {
                    escape(&f.value)
                };
                (
                    fit(&escape(&f.name), FIELD_NAME_MAX, "…"),
                    fit(&value, FIELD_VALUE_MAX, " …"),
                    f.inline,
                )
            })
            .collect();
        let mut parts = EmbedParts {
            title,
            description,
            url: link,
            fields,
        };
        parts.shrink_to_total(cut_note);
        parts
    }

    fn total(&self) -> usize {
        self.title.chars().count()
            + self.description.chars().count()
            + self
                .fields
                .iter()
                .map(|(n, v, _)| n.chars().count() + v.chars().count())
                .sum::<usize>()
    }

    /// Long posts give way first: the description shrinks, then the longest fields.
    fn shrink_to_total(&mut self, cut_note: &str) {
        let over = self.total().saturating_sub(EMBED_TOTAL_MAX);
        if over == 0 {
            return;
        }
        let len = self.description.chars().count();
        self.description = fit(&self.description, len.saturating_sub(over).max(100), cut_note);
        while self.total() > EMBED_TOTAL_MAX {
            let Some((i, _)) = self
                .fields
                .iter()
                .enumerate()
                .max_by_key(|(_, (_, v, _))| v.chars().count())
            else {
                break;
            };
            let over = self.total() - EMBED_TOTAL_MAX;
            let len = self.fields[i].1.chars().count();
            if len <= 10 {
                self.fields.remove(i);
            } else {
                self.fields[i].1 = fit(&self.fields[i].1, len.saturating_sub(over).max(10), " …");
            }
        }
    }

    fn build(self, colour: Option<Colour>) -> CreateEmbed {
        let mut embed = CreateEmbed::new().title(self.title);
        if !self.description.is_empty() {
            embed = embed.description(self.description);
        }
        if let Some(url) = self.url {
            embed = embed.url(url);
        }
        if let Some(colour) = colour {
            embed = embed.colour(colour);
        }
        embed.fields(self.fields)
    }
}

/// One row of buttons, plus a link button to `link` (the case thread) when given.
fn buttons(buttons: &[Button], link: Option<&str>) -> Vec<CreateActionRow> {
    let mut row: Vec<CreateButton> = buttons
        .iter()
        .take(if link.is_some() { 4 } else { 5 })
        .map(|b| {
            let style = if b.id.starts_with("case:claim") {
                ButtonStyle::Primary
            } else if b.id.starts_with("esc:approve") {
                ButtonStyle::Success
            } else if b.id.starts_with("esc:deny") {
                ButtonStyle::Danger
            } else {
                ButtonStyle::Secondary
            };
            CreateButton::new(b.id.clone())
                .label(fit(&b.label, 80, "…"))
                .style(style)
                .disabled(b.disabled)
        })
        .collect();
    if let Some(url) = link {
        row.push(CreateButton::new_link(url).label("Open case thread"));
    }
    if row.is_empty() {
        return vec![];
    }
    vec![CreateActionRow::Buttons(row)]
}

/// The case card embed.
pub fn card_embed(card: &Card) -> CreateEmbed {
    EmbedParts::new(&card.title, &card.description, card.url.as_deref(), &card.fields)
        .build(Some(colour(card.priority)))
}

/// A new case card message.
pub fn card_message(card: &Card, nonce: &str) -> CreateMessage {
    CreateMessage::new()
        .embed(card_embed(card))
        .components(buttons(&card.buttons, None))
        .allowed_mentions(no_pings())
        .nonce(serenity::all::Nonce::String(nonce.to_string()))
        .enforce_nonce(true)
}

/// The edit that refreshes a card in place.
pub fn card_edit(card: &Card) -> EditMessage {
    EditMessage::new()
        .embed(card_embed(card))
        .components(buttons(&card.buttons, None))
        .allowed_mentions(no_pings())
}

fn message_embed(message: &Message) -> CreateEmbed {
    let title = message.title.as_deref().unwrap_or("");
    EmbedParts::new(title, &message.body, None, &message.fields).build(None)
}

/// A message in a thread or team channel (merged mention, note, suggestions, escalation
/// packet, reminder). Only `audience` is pinged; `link` is the case thread's URL.
pub fn thread_message(
    message: &Message,
    nonce: &str,
    audience: &Audience,
    link: Option<&str>,
) -> CreateMessage {
    let mut create = CreateMessage::new()
        .embed(message_embed(message))
        .components(buttons(&message.buttons, link))
        .allowed_mentions(audience.allowed())
        .nonce(serenity::all::Nonce::String(nonce.to_string()))
        .enforce_nonce(true);
    let content = audience.content();
    if !content.is_empty() {
        create = create.content(content);
    }
    create
}

/// The edit that refreshes a posted message (an escalation packet) in place; edits ping nobody.
pub fn message_edit(message: &Message, link: Option<&str>) -> EditMessage {
    EditMessage::new()
        .embed(message_embed(message))
        .components(buttons(&message.buttons, link))
        .allowed_mentions(no_pings())
}

/// The web link of a channel or thread of `guild`.
pub fn thread_url(guild: u64, thread: &str) -> String {
    format!("https://discord.com/channels/{guild}/{thread}")
}

/// A plain-text reply (command answers), escaped, cut to fit one message.
pub fn reply_text(text: &str) -> String {
    fit(text, CONTENT_MAX, "\n…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_markdown_and_mentions_are_defused() {
        let e = escape("**hi** @everyone <@&123> _x_");
        assert_eq!(
            e,
            "\\*\\*hi\\*\\* @\u{200b}everyone <\u{200b}@\u{200b}&123\\> \\_x\\_"
        );
    }

    #[test]
    fn only_the_audience_is_pinged_and_nothing_is_parsed() {
        let audience = Audience {
            users: vec![11],
            roles: vec![22],
        };
        assert_eq!(audience.content(), "<@11> <@&22>");
        let json = serde_json::to_value(audience.allowed()).unwrap();
        assert_eq!(json["parse"], serde_json::json!([]));
        assert_eq!(json["users"], serde_json::json!(["11"]));
        assert_eq!(json["roles"], serde_json::json!(["22"]));
    }

    #[test]
    fn a_cut_never_leaves_half_an_escape() {
        let text = escape("a*b*c*d*e*f");
        for max in 1..text.len() {
            let cut = fit(&text, max, "");
            let trailing = cut.chars().rev().take_while(|c| *c == '\\').count();
            assert_eq!(trailing % 2, 0, "cut at {max}: {cut}");
        }
    }

    #[test]
    fn a_huge_post_fits_every_embed_limit() {
        let huge = "x".repeat(100 * 1024);
        let fields: Vec<Field> = (0..40)
            .map(|i| Field {
                name: format!("field {i}"),
                value: "y".repeat(2000),
                inline: false,
            })
            .collect();
        let parts = EmbedParts::new(&"t".repeat(500), &huge, Some("https://x.com/p/1"), &fields);
        assert!(parts.title.chars().count() <= TITLE_MAX);
        assert!(parts.description.chars().count() <= DESCRIPTION_MAX);
        assert!(parts.description.ends_with("(truncated: open the post)"));
        assert!(parts.fields.len() <= FIELDS_MAX);
        assert!(parts
            .fields
            .iter()
            .all(|(_, v, _)| v.chars().count() <= FIELD_VALUE_MAX));
        assert!(parts.total() <= EMBED_TOTAL_MAX, "total {}", parts.total());
    }
}
