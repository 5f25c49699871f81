//! The bot in a terminal: feed posts and slash-style commands, typed or from a scenario script.
//!
//! # Scenario format
//! One instruction per line; `#` starts a comment. A line may start with a clock stamp:
//! `[09:05]` (same day), `[09:05:30]`, `[2026-11-27T09:05:00Z]` or `[+10m]` (`s`, `m`, `h`, `d`);
//! the clock never goes backwards. Instructions:
//! - `clock 2026-11-27T09:00:00Z` sets the date and time.
//! - `as NAME ROLE[,ROLE...]` acts as NAME (roles: agent, senior, supervisor, admin).
//! - `feed CHANNEL | TEXT` a post in a feed channel (`\n` for a line break).
//! - `embed CHANNEL | author=Name (@handle) | url=... | text=... | footer=Twitter | field:Followers=1200`
//! - `/case ...`, `/suggest ...`, `/customer ...`, `/queue ...`, `/playbook ...`, `/digest ...`,
//!   `/escalation ...`, `/escalations` commands.
//! - `say TEXT` prints narration.
//!
//! Timers (escalation reminders and deadlines) fire as the clock moves: a stamp that jumps
//! two hours fires, in order and at their own times, everything due on the way.

mod parse;

use std::io::Write;

use chrono::{DateTime, Duration, NaiveTime, Utc};

pub use parse::{command as parse_command, SyntaxError, HELP};

use crate::app::delivery::PacketShown;
use crate::app::outbox::{Outgoing, TeamChannel};
use crate::app::{delivery, digest_render, text, wall_clock, Actor, Engine, IngestOutcome};
use crate::domain::feed::{FeedEmbed, FeedPost};
use crate::domain::Role;
use crate::store::{CaseFilter, EscalationFilter, StoreError};

/// A script line that could not be run; names the line.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("the database failed: {0}")]
    Store(#[from] StoreError),
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

/// Where the console's clock comes from.
#[derive(Debug, Clone, Copy)]
enum Clock {
    /// The wall clock (interactive use).
    Wall,
    /// An explicit clock that only the script moves.
    Script(DateTime<Utc>),
}

/// A console session on an engine, writing what the bot would post to `out`.
pub struct Console<'a, W: Write> {
    engine: &'a Engine,
    out: W,
    clock: Clock,
    actor: Actor,
    posts: u64,
    /// The last outbox row shown. The console only shows what the bot would post: it never
    /// marks rows delivered, so a Discord bot on the same database still delivers them.
    shown_upto: i64,
    /// Whether the weekly digest's timer was made sure of (when the clock first moved).
    digest_scheduled: bool,
}

impl<'a, W: Write> Console<'a, W> {
    /// A session acting as `actor`, on the wall clock until a script sets one. Messages
    /// queued before the session started are not shown.
    pub async fn new(engine: &'a Engine, out: W, actor: Actor) -> Result<Self, StoreError> {
        let shown_upto = engine.store().last_outbox_id().await?;
        Ok(Console {
            engine,
            out,
            clock: Clock::Wall,
            actor,
            posts: 0,
            shown_upto,
            digest_scheduled: false,
        })
    }

    /// A session whose clock starts at `start` and moves only by script.
    pub async fn with_clock(
        engine: &'a Engine,
        out: W,
        actor: Actor,
        start: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let console = Console::new(engine, out, actor).await?;
        Ok(Console {
            clock: Clock::Script(start),
            ..console
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self.clock {
            Clock::Wall => wall_clock(),
            Clock::Script(t) => t,
        }
    }

    pub fn into_output(self) -> W {
        self.out
    }

    /// Runs a whole script; stops at the first line that cannot be understood.
    pub async fn run_script(&mut self, script: &str) -> Result<(), ScriptError> {
        for (i, line) in script.lines().enumerate() {
            self.line(line).await.map_err(|e| match e {
                ScriptError::Line { message, .. } => ScriptError::Line { line: i + 1, message },
                other => other,
            })?;
        }
        self.deliver().await
    }

    /// Runs one line. Refusals by the bot are output, not errors; syntax errors are errors.
    pub async fn line(&mut self, raw: &str) -> Result<(), ScriptError> {
        let fail = |message: String| ScriptError::Line { line: 0, message };
        let mut line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix('[') {
            let (stamp, after) = rest
                .split_once(']')
                .ok_or_else(|| fail("a clock stamp needs a closing `]`".into()))?;
            let next = self.clock_at(stamp.trim()).map_err(fail)?;
            self.advance(next).await?;
            line = after.trim();
            if line.is_empty() {
                return Ok(());
            }
        } else if let Clock::Wall = self.clock {
            self.advance(wall_clock()).await?;
        }
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        match word {
            "clock" => {
                let t = DateTime::parse_from_rfc3339(rest).map_err(|e| {
                    fail(format!(
                        "`clock` needs an RFC 3339 time such as 2026-11-27T09:00:00Z ({e})"
                    ))
                })?;
                let t = t.with_timezone(&Utc);
                match self.clock {
                    Clock::Script(now) if t > now => self.advance(t).await?,
                    _ => {
                        self.clock = Clock::Script(t);
                        self.schedule_digest().await?;
                    }
                }
            }
            "as" => self.actor = parse_actor(rest).map_err(fail)?,
            "say" => writeln!(self.out, "\n── {rest}")?,
            "feed" | "embed" => {
                let post = self.post(word, rest).map_err(fail)?;
                self.feed(post).await?;
            }
            "/help" => write!(self.out, "{HELP}")?,
            _ if word.starts_with('/') => {
                let command = parse::command(line).map_err(|e| fail(e.to_string()))?;
                self.command(line, command).await?;
            }
            _ => {
                return Err(fail(format!(
                    "cannot read `{}`: start with clock, as, say, feed, embed or a /command",
                    text::one_line(line, 40)
                )))
            }
        }
        Ok(())
    }

    /// Moves the clock to `target`, firing on the way every timer due by then, each at its
    /// own due time.
    async fn advance(&mut self, target: DateTime<Utc>) -> Result<(), ScriptError> {
        self.schedule_digest().await?;
        while let Some(due) = self.engine.next_timer_due().await? {
            if due > target {
                break;
            }
            let at = due.max(self.now());
            if let Clock::Script(_) = self.clock {
                self.clock = Clock::Script(at);
            }
            let report = self.engine.fire_due_timers(at).await?;
            if report.fired > 0 {
                writeln!(
                    self.out,
                    "\n[{}] ⏰ carebot: {} timer(s) due",
                    at.format("%H:%M"),
                    report.fired
                )?;
            }
            self.deliver().await?;
        }
        if let Clock::Script(_) = self.clock {
            self.clock = Clock::Script(target.max(self.now()));
        }
        Ok(())
    }

    /// The time a clock stamp names; never before now.
    fn clock_at(&self, stamp: &str) -> Result<DateTime<Utc>, String> {
        let now = self.now();
        let next = if let Some(delta) = stamp.strip_prefix('+') {
            now + parse_duration(delta)?
        } else if let Ok(t) = DateTime::parse_from_rfc3339(stamp) {
            t.with_timezone(&Utc)
        } else {
            let time = NaiveTime::parse_from_str(stamp, "%H:%M:%S")
                .or_else(|_| NaiveTime::parse_from_str(stamp, "%H:%M"))
                .map_err(|_| {
                    format!("clock stamp `{stamp}` is not HH:MM, HH:MM:SS, +10m or an RFC 3339 time")
                })?;
            now.date_naive().and_time(time).and_utc()
        };
        if next < now {
            return Err(format!(
                "clock stamp `{stamp}` goes back in time (now {})",
                now.format("%Y-%m-%d %H:%M:%S")
            ));
        }
        Ok(next)
    }

    fn post(&mut self, kind: &str, rest: &str) -> Result<FeedPost, String> {
        let (channel, body) = rest.split_once('|').ok_or_else(|| {
            format!("`{kind}` needs `CHANNEL | ...`, e.g. `feed twitter-feed | [Twitter] @dana: help`")
        })?;
        let channel = channel.trim().trim_start_matches('#').to_string();
        self.posts += 1;
        let now = self.now();
        let message_id = (now.timestamp_millis().max(0) as u64) * 1000 + self.posts % 1000;
        let mut post = FeedPost {
            source_id: format!("console:{channel}:{message_id}"),
            channel_id: channel,
            message_id: message_id.to_string(),
            poster: "feed-bot".into(),
            content: String::new(),
            embeds: vec![],
            posted_at: now,
        };
        if kind == "feed" {
            post.content = body.trim().replace("\\n", "\n");
        } else {
            post.embeds.push(parse_embed(body)?);
        }
        Ok(post)
    }

    async fn feed(&mut self, post: FeedPost) -> Result<(), ScriptError> {
        let now = self.now();
        let preview = if post.content.is_empty() {
            post.embeds
                .first()
                .and_then(|e| e.description.clone())
                .unwrap_or_default()
        } else {
            post.content.clone()
        };
        writeln!(
            self.out,
            "\n[{}] #{} ← {}",
            now.format("%H:%M"),
            post.channel_id,
            text::one_line(&preview, 120)
        )?;
        let (outcome, unparsed) = self.engine.receive_post(&post, None, now).await?;
        let flag = if unparsed {
            " (unparsed: no profile could read it)"
        } else {
            ""
        };
        let what = match outcome {
            IngestOutcome::Opened(c) => format!("opened case {c}{flag}"),
            IngestOutcome::Merged(c) => format!("joined case {c}{flag}"),
            IngestOutcome::Reopened(c) => format!("reopened case {c}{flag}"),
            IngestOutcome::Duplicate => "already seen: nothing to do".into(),
            IngestOutcome::Ignored(reason) => format!("ignored ({})", reason.as_str()),
        };
        writeln!(self.out, "  carebot: {what}")?;
        self.deliver().await
    }

    async fn command(&mut self, line: &str, command: crate::app::Command) -> Result<(), ScriptError> {
        let now = self.now();
        writeln!(
            self.out,
            "\n[{}] {}> {}",
            now.format("%H:%M"),
            self.actor.name,
            line
        )?;
        match self.engine.execute(&self.actor, command, now).await {
            Ok(reply) => {
                for l in text::reply(&reply).lines() {
                    writeln!(self.out, "  {l}")?;
                }
            }
            Err(err) => {
                tracing::debug!(error = ?err, "command refused");
                writeln!(self.out, "  ✗ {err}")?;
            }
        }
        self.deliver().await
    }

    /// Prints the outbox messages queued since the last call, as the chat would show them.
    pub async fn deliver(&mut self) -> Result<(), ScriptError> {
        loop {
            let rows = self.engine.store().outbox_after(self.shown_upto, 100).await?;
            if rows.is_empty() {
                return Ok(());
            }
            for row in rows {
                match serde_json::from_str::<Outgoing>(&row.payload) {
                    Ok(Outgoing::Digest {
                        from,
                        to,
                        timezone,
                        late,
                    }) => self.show_digest(from, to, &timezone, late).await?,
                    Ok(Outgoing::OpenCase { case_id }) => {
                        match delivery::opening(self.engine.store(), case_id).await? {
                            Some(opening) => write!(self.out, "{}", text::opening(&opening))?,
                            None => writeln!(self.out, "  (case {case_id}: no such case)")?,
                        }
                    }
                    Ok(Outgoing::UpdateCard { case_id }) => {
                        match delivery::card(self.engine.store(), case_id).await? {
                            Some(card) => write!(self.out, "{}", text::card_update(case_id, &card))?,
                            None => writeln!(self.out, "  (card {case_id}: no such case)")?,
                        }
                    }
                    Ok(Outgoing::MentionLine {
                        case_id,
                        source_id,
                        line,
                    }) => match delivery::mention_line(self.engine.store(), case_id, &source_id, line).await?
                    {
                        Some(message) => write!(self.out, "{}", text::message_text(case_id, &message))?,
                        None => writeln!(self.out, "  (post {source_id}: not found)")?,
                    },
                    Ok(Outgoing::EscalationPacket {
                        case_id,
                        escalation_id,
                        next_tier,
                    }) => match delivery::packet(self.engine, escalation_id, PacketShown::Post { next_tier })
                        .await?
                    {
                        Some(packet) => write!(self.out, "{}", text::packet_post(case_id, &packet))?,
                        None => writeln!(self.out, "  (escalation {escalation_id}: not found)")?,
                    },
                    Ok(Outgoing::EscalationReminder {
                        case_id,
                        escalation_id,
                        tier,
                        at,
                        late,
                    }) => match delivery::reminder(self.engine.store(), escalation_id, tier, at, late).await?
                    {
                        Some(message) => write!(
                            self.out,
                            "{}",
                            text::team_message(case_id, TeamChannel::Escalations, &message)
                        )?,
                        None => writeln!(
                            self.out,
                            "  (reminder of {escalation_id} not posted: decided or moved on since it fired)"
                        )?,
                    },
                    Ok(Outgoing::UpdateEscalation {
                        escalation_id,
                        superseded,
                        ..
                    }) => {
                        match delivery::packet(self.engine, escalation_id, PacketShown::Edit { superseded })
                            .await?
                        {
                            Some(packet) => {
                                write!(self.out, "{}", text::packet_update(escalation_id, &packet))?
                            }
                            None => writeln!(self.out, "  (escalation {escalation_id}: not found)")?,
                        }
                    }
                    Ok(out) => write!(self.out, "{}", text::outgoing(&out))?,
                    Err(e) => writeln!(self.out, "  (outbox row {} unreadable: {e})", row.id)?,
                }
                self.shown_upto = row.id;
            }
        }
    }

    /// Makes sure the weekly digest (when configured) has its timer, once per session.
    async fn schedule_digest(&mut self) -> Result<(), ScriptError> {
        if !self.digest_scheduled {
            self.digest_scheduled = true;
            self.engine.schedule_digest(self.now()).await?;
        }
        Ok(())
    }

    /// The weekly digest as the digest channel would show it.
    async fn show_digest(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        timezone: &str,
        late: Option<DateTime<Utc>>,
    ) -> Result<(), ScriptError> {
        let tz = timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
        let period = crate::domain::digest::Period { from, to, tz };
        let digest = self.engine.digest(period).await?;
        writeln!(
            self.out,
            "[#digest] 📊 {} (with chart.png and cases.csv)",
            digest_render::title(&digest)
        )?;
        for l in digest_render::markdown(&digest, late, &digest_render::no_links).lines() {
            writeln!(self.out, "  {l}")?;
        }
        Ok(())
    }

    /// A closing summary: cases by status and priority, posts ignored, and the case list.
    pub async fn summary(&mut self) -> Result<(), ScriptError> {
        let mut tx = self.engine.store().read().await?;
        let cases = tx.list_cases(&CaseFilter::default()).await?;
        let ignored = tx.ignored_counts().await?;
        let offers = tx.offer_outcomes().await?;
        drop(tx);
        let escalations = self.engine.escalations(&EscalationFilter::default()).await?;
        let mentions: i64 = cases.iter().map(|c| c.mentions).sum();
        writeln!(self.out, "\n══ Summary ══")?;
        writeln!(self.out, "{} mentions became {} cases", mentions, cases.len())?;
        let mut by_status = std::collections::BTreeMap::new();
        let mut by_priority = std::collections::BTreeMap::new();
        for c in &cases {
            *by_status.entry(c.status.as_str()).or_insert(0) += 1;
            *by_priority.entry(c.priority.as_str()).or_insert(0) += 1;
        }
        let join = |m: &std::collections::BTreeMap<&str, i32>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(self.out, "by status: {}", join(&by_status))?;
        writeln!(self.out, "by priority: {}", join(&by_priority))?;
        let ignored: Vec<String> = ignored.iter().map(|(r, n)| format!("{r} {n}")).collect();
        writeln!(
            self.out,
            "posts ignored: {}",
            if ignored.is_empty() {
                "none".into()
            } else {
                ignored.join(", ")
            }
        )?;
        let count = |outcome: &str| offers.iter().find(|(o, _)| o == outcome).map_or(0, |(_, n)| *n);
        writeln!(
            self.out,
            "offers: {} ({} granted at once, {} escalated)",
            offers.iter().map(|(_, n)| n).sum::<i64>(),
            count("granted"),
            count("escalated")
        )?;
        write!(self.out, "{}", text::escalation_summary(&escalations))?;
        write!(self.out, "{}", text::case_table(&cases))?;
        Ok(())
    }
}

/// `ana agent,senior` -> an actor named ana with those roles.
pub fn parse_actor(spec: &str) -> Result<Actor, String> {
    let mut words = spec.split_whitespace();
    let name = words
        .next()
        .ok_or("`as` needs a name and roles, e.g. `as ana agent`")?;
    let roles = words
        .flat_map(|w| w.split(','))
        .filter(|w| !w.is_empty())
        .map(|r| Role::parse(r).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Actor::new(name, name, roles))
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad = || format!("`{text}` is not a duration such as 30s, 10m, 2h or 1d");
    let (num, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = num.parse().map_err(|_| bad())?;
    match unit {
        "s" => Ok(Duration::seconds(n)),
        "m" => Ok(Duration::minutes(n)),
        "h" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        _ => Err(bad()),
    }
}

fn parse_embed(body: &str) -> Result<FeedEmbed, String> {
    let mut embed = FeedEmbed::default();
    for part in body.split(" | ").map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("embed part `{part}` needs key=value (author, author_url, title, url, text, footer, field:NAME)"))?;
        let value = value.trim().replace("\\n", "\n");
        match key.trim() {
            "author" => embed.author_name = Some(value),
            "author_url" => embed.author_url = Some(value),
            "title" => embed.title = Some(value),
            "url" => embed.url = Some(value),
            "text" => embed.description = Some(value),
            "footer" => embed.footer = Some(value),
            k if k.starts_with("field:") => embed.fields.push((k["field:".len()..].to_string(), value)),
            k => {
                return Err(format!(
                    "unknown embed key `{k}`; use author, author_url, title, url, text, footer or field:NAME"
                ))
            }
        }
    }
    Ok(embed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_are_read_with_their_roles() {
        let a = parse_actor("sam supervisor,agent").unwrap();
        assert_eq!(a.name, "sam");
        assert_eq!(a.roles, vec![Role::Supervisor, Role::Agent]);
        assert!(parse_actor("").is_err());
        assert!(parse_actor("sam boss").unwrap_err().contains("role"));
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::minutes(10));
        assert_eq!(parse_duration("2d").unwrap(), Duration::days(2));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn embeds_are_read_from_key_value_parts() {
        let e =
            parse_embed("author=Dana (@dana) | url=https://x.com/dana/1 | text=hi | field:Followers=1200")
                .unwrap();
        assert_eq!(e.author_name.as_deref(), Some("Dana (@dana)"));
        assert_eq!(e.fields, vec![("Followers".to_string(), "1200".to_string())]);
        assert!(parse_embed("nonsense").is_err());
    }
}
