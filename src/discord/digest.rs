//! The digest in Discord: an embed with the Markdown summary and the chart shown inside it,
//! plus two attachments, `chart.png` and `cases.csv`. The weekly post is rendered when the
//! dispatcher delivers its outbox row (so the row stays small), `/digest` when it is asked for.

use chrono::{DateTime, Utc};
use serenity::all::{
    Colour, CreateAttachment, CreateEmbed, CreateEmbedFooter, CreateMessage, EditInteractionResponse,
};

use super::render::{self, no_pings};
use super::rest::FilePart;
use crate::app::digest::{self, Digest};
use crate::app::{chart, digest_render};
use crate::domain::digest::Period;
use crate::store::{Store, StoreError};

/// Discord's limit per attachment for bots without boosts is 10 MiB; the CSV stays below.
const CSV_MAX_BYTES: usize = 8 * 1024 * 1024;

/// The attachments' names, as the embed refers to them.
pub const CHART_FILE: &str = "chart.png";
pub const CSV_FILE: &str = "cases.csv";

/// Why a digest could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum DigestRenderError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Chart(#[from] chart::ChartError),
}

/// A file to upload with a message.
#[derive(Debug, Clone)]
pub struct Upload {
    pub filename: &'static str,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    pub description: &'static str,
}

/// A digest ready to post: its embed and its two files.
pub struct DigestPost {
    pub embed: CreateEmbed,
    pub files: Vec<Upload>,
}

/// Reads the digest of an outbox row's period and its cases and renders them for Discord.
pub async fn render_outgoing(
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    timezone: &str,
    late: Option<DateTime<Utc>>,
    guild: Option<u64>,
) -> Result<DigestPost, DigestRenderError> {
    let tz = timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
    let period = Period { from, to, tz };
    let report = digest::build(store, period).await?;
    let cases = digest::cases(store, period).await?;
    render_digest(&report, &cases, late, guild)
}

/// Renders a digest read before (the answer to `/digest`).
pub fn render_digest(
    report: &Digest,
    cases: &[crate::store::DigestCase],
    late: Option<DateTime<Utc>>,
    guild: Option<u64>,
) -> Result<DigestPost, DigestRenderError> {
    let link = move |thread: &str| guild.map(|g| render::thread_url(g, thread));
    let body = digest_render::markdown(report, late, &link);
    let mut csv = digest_render::csv(cases, &link).into_bytes();
    let mut footer = format!("{CSV_FILE}: the {} case(s) opened in the period", cases.len());
    if csv.len() > CSV_MAX_BYTES {
        // Cut at a row boundary; the footer says where the full list is.
        let cut = csv[..CSV_MAX_BYTES]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        csv.truncate(cut);
        let kept = csv.iter().filter(|b| **b == b'\n').count().saturating_sub(1);
        footer = format!(
            "{CSV_FILE}: the first {kept} of {} cases; `carebot digest --format csv` lists all",
            cases.len()
        );
    }
    let chart = chart::png(report)?;
    let embed = CreateEmbed::new()
        .title(fit_lines(&digest_render::title(report), render::TITLE_MAX))
        .description(fit_lines(&body, render::DESCRIPTION_MAX))
        .image(format!("attachment://{CHART_FILE}"))
        .colour(Colour::new(0x2E90FA))
        .footer(CreateEmbedFooter::new(footer));
    Ok(DigestPost {
        embed,
        files: vec![
            Upload {
                filename: CHART_FILE,
                content_type: "image/png",
                bytes: chart,
                description: "Cases per day by category and the median first response",
            },
            Upload {
                filename: CSV_FILE,
                content_type: "text/csv",
                bytes: csv,
                description: "The cases opened in the period",
            },
        ],
    })
}

/// Cuts Markdown to `max` characters at a line boundary, saying where the rest is.
fn fit_lines(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    const MORE: &str = "… (the full digest: `carebot digest --format md`)";
    let budget = max.saturating_sub(MORE.chars().count() + 1);
    let mut out = String::new();
    for line in text.lines() {
        if out.chars().count() + line.chars().count() + 1 > budget {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    if out.is_empty() {
        out = text.chars().take(budget).collect();
        out.push('\n');
    }
    out.push_str(MORE);
    out
}

impl DigestPost {
    /// The `payload_json` of a channel message carrying the post: the embed, no pings, the
    /// nonce, and the attachments array that names `files[0]` and `files[1]` (Discord matches
    /// each attachment's `id` to the form part `files[{id}]`).
    pub fn payload(&self, nonce: &str) -> serde_json::Value {
        let message = CreateMessage::new()
            .embed(self.embed.clone())
            .allowed_mentions(no_pings())
            .nonce(serenity::all::Nonce::String(nonce.to_string()))
            .enforce_nonce(true);
        let mut payload = serde_json::to_value(message).unwrap_or_else(|_| serde_json::json!({}));
        payload["attachments"] = serde_json::Value::Array(
            self.files
                .iter()
                .enumerate()
                .map(|(i, f)| serde_json::json!({"id": i, "filename": f.filename, "description": f.description}))
                .collect(),
        );
        payload
    }

    /// The files as `multipart/form-data` parts, in the order of `payload`'s attachments.
    pub fn parts(&self) -> Vec<FilePart<'_>> {
        self.files
            .iter()
            .map(|f| FilePart {
                filename: f.filename,
                content_type: f.content_type,
                bytes: &f.bytes,
            })
            .collect()
    }

    /// The ephemeral answer to `/digest`, with the same embed and files.
    pub fn interaction_edit(&self) -> EditInteractionResponse {
        let mut edit = EditInteractionResponse::new()
            .content("")
            .embed(self.embed.clone())
            .allowed_mentions(no_pings());
        for f in &self.files {
            edit = edit.new_attachment(
                CreateAttachment::bytes(f.bytes.clone(), f.filename).description(f.description),
            );
        }
        edit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_markdown_is_cut_at_a_line_and_says_where_the_rest_is() {
        let text: String = (0..400).map(|i| format!("- line {i}\n")).collect();
        let cut = fit_lines(&text, 4096);
        assert!(cut.chars().count() <= 4096);
        assert!(cut.ends_with("`carebot digest --format md`)"));
        assert!(cut.lines().rev().nth(1).unwrap().starts_with("- line "));
    }
}
