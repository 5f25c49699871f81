//! `carebot ingest`: a JSON Lines file read, checked and placed in batches of
//! [`IMPORT_BATCH`] mentions, one transaction each.

use std::io::{BufRead, Write};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::app::read_ahead::Rankings;
use crate::app::{Engine, IngestStats};
use crate::domain::feed::Mention;
use crate::domain::{Handle, Network};

/// One line of an import file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportLine {
    pub id: Option<serde_json::Value>,
    pub network: Option<String>,
    pub handle: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub text: String,
    pub url: Option<String>,
    pub posted_at: Option<DateTime<Utc>>,
    pub followers: Option<u64>,
}

impl ImportLine {
    /// Turns the line into a mention; a missing or bad handle makes it an unparsed mention.
    pub fn into_mention(self, now: DateTime<Utc>) -> Result<Mention, String> {
        let id = match &self.id {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(_) => return Err("`id` must be a string or a number".into()),
            None => self
                .url
                .clone()
                .ok_or("give each line an `id` (or at least a `url`)")?,
        };
        let network = match &self.network {
            Some(n) => Network::parse(n).map_err(|e| e.to_string())?,
            None => Network::unknown(),
        };
        let (handle, unparsed) = match self.handle.as_deref().map(Handle::parse) {
            Some(Ok(h)) => (h, false),
            _ => {
                let safe: String = id
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .take(60)
                    .collect();
                (
                    Handle::parse(&format!("unparsed-{safe}")).map_err(|e| e.to_string())?,
                    true,
                )
            }
        };
        Ok(Mention {
            source_id: format!("import:{id}"),
            external_id: self.url.clone(),
            network,
            handle,
            display_name: self.name,
            text: self.text.trim().to_string(),
            url: self.url,
            posted_at: self.posted_at.unwrap_or(now),
            followers: self.followers,
            unparsed,
        })
    }
}

/// How many mentions go into one transaction during an import. A transaction writes each page
/// it changed once, and the indexes' pages are changed all over: fewer, bigger transactions
/// write far less (the import holds the write lock for a fraction of a second per batch).
pub const IMPORT_BATCH: usize = 5000;

/// Imports JSON Lines: bad lines are reported (with their number) to `errors` and skipped.
pub async fn ingest_jsonl(
    engine: &Engine,
    reader: impl BufRead,
    now: DateTime<Utc>,
    errors: &mut impl Write,
) -> anyhow::Result<IngestStats> {
    ingest_jsonl_with_progress(engine, reader, now, errors, &mut |_, _| {}).await
}

/// How many lines an import reads at a time while a batch is being written: then it lets the
/// batch's writing go on if the database has answered (see [`Input::next_batch`]).
const LINES_PER_TURN: usize = 64;

/// The lines of an import file, how far they were read, and what was wrong with the lines read
/// since [`Input::report`].
struct Input<R> {
    lines: std::iter::Enumerate<std::io::Lines<R>>,
    bytes: u64,
    mentions: u64,
    bad: Vec<String>,
}

/// A batch of mentions read, and how far the input was read when it was full (or ended).
struct Read {
    batch: Vec<Mention>,
    bytes: u64,
    mentions: u64,
}

impl<R: BufRead> Input<R> {
    /// The next [`IMPORT_BATCH`] mentions (fewer at the end of the input, none after it). It is
    /// read while the batch before the one being ranked is written: every [`LINES_PER_TURN`]
    /// lines it yields, so the writing goes on as soon as the database answers, and this task
    /// checks lines while the database works rather than after it.
    async fn next_batch(&mut self, now: DateTime<Utc>) -> Read {
        let mut batch = Vec::with_capacity(IMPORT_BATCH);
        let mut turn = 0;
        while batch.len() < IMPORT_BATCH {
            let Some((i, line)) = self.lines.next() else {
                break;
            };
            turn += 1;
            if turn == LINES_PER_TURN {
                turn = 0;
                tokio::task::yield_now().await;
            }
            let line = match line {
                Ok(l) => {
                    self.bytes += l.len() as u64 + 1;
                    l
                }
                Err(e) => {
                    self.bad.push(format!("line {}: cannot read: {e}", i + 1));
                    continue;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let parsed = serde_json::from_str::<ImportLine>(&line)
                .map_err(|e| format!("not a valid mention: {e}"))
                .and_then(|l| l.into_mention(now));
            match parsed {
                Ok(m) => {
                    self.mentions += 1;
                    batch.push(m)
                }
                Err(e) => self.bad.push(format!("line {}: {e} (skipped)", i + 1)),
            }
        }
        Read {
            batch,
            bytes: self.bytes,
            mentions: self.mentions,
        }
    }

    /// Writes the problems of the lines read so far to `errors`, counting them.
    fn report(&mut self, errors: &mut impl Write, stats: &mut IngestStats) -> std::io::Result<()> {
        for bad in self.bad.drain(..) {
            writeln!(errors, "{bad}")?;
            stats.errors += 1;
        }
        Ok(())
    }
}

/// A batch of mentions read, ranked on another thread, and how far the input was read then.
struct Ahead {
    ranking: tokio::task::JoinHandle<(Vec<Mention>, Rankings)>,
    bytes: u64,
    mentions: u64,
}

/// [`ingest_jsonl`], telling `progress` after each batch how many bytes of the input were read
/// and how many lines were mentions. Three batches are at hand at a time: while one is written,
/// the next one's playbook rankings are worked out on another thread, and the one after it is
/// read (in turns with the writing, on this task).
pub async fn ingest_jsonl_with_progress(
    engine: &Engine,
    reader: impl BufRead,
    now: DateTime<Utc>,
    errors: &mut impl Write,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<IngestStats> {
    let mut stats = IngestStats::default();
    let mut input = Input {
        lines: reader.lines().enumerate(),
        bytes: 0,
        mentions: 0,
        bad: Vec::new(),
    };
    let first = input.next_batch(now).await;
    input.report(errors, &mut stats)?;
    if first.batch.is_empty() {
        progress(first.bytes, first.mentions);
        return Ok(stats);
    }
    let mut ahead = rank_ahead(engine, first);
    let mut next = input.next_batch(now).await;
    input.report(errors, &mut stats)?;
    while !next.batch.is_empty() {
        let after = rank_ahead(engine, next);
        let (placed, read) = tokio::join!(
            place(engine, ahead, now, &mut stats, progress),
            input.next_batch(now)
        );
        placed?;
        input.report(errors, &mut stats)?;
        (ahead, next) = (after, read);
    }
    place(engine, ahead, now, &mut stats, progress).await?;
    Ok(stats)
}

/// Starts ranking a batch read on another thread.
fn rank_ahead(engine: &Engine, read: Read) -> Ahead {
    let ranker = engine.ranker();
    let Read {
        batch,
        bytes,
        mentions,
    } = read;
    Ahead {
        ranking: tokio::task::spawn_blocking(move || {
            let rankings = ranker.rank(&batch);
            (batch, rankings)
        }),
        bytes,
        mentions,
    }
}

/// Places a batch ranked ahead, in one transaction.
async fn place(
    engine: &Engine,
    ahead: Ahead,
    now: DateTime<Utc>,
    stats: &mut IngestStats,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<()> {
    let (batch, rankings) = ahead.ranking.await.context("ranking an import batch failed")?;
    let outcomes = engine
        .receive_ranked(&batch, Some(rankings), now)
        .await
        .context("import failed; this batch was not saved")?;
    for (m, o) in batch.iter().zip(outcomes) {
        stats.count(o, m.unparsed);
    }
    progress(ahead.bytes, ahead.mentions);
    Ok(())
}
