//! The command line. Each command parses its arguments, calls the library, renders the result.

mod import;

pub use import::{ingest_jsonl, ingest_jsonl_with_progress, ImportLine, IMPORT_BATCH};

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

mod playbooks;

pub use playbooks::check_playbooks;

use crate::app::{text, wall_clock, Actor, Engine, PlaybookSource};
use crate::config::Config;
use crate::console::{self, Console};
use crate::domain::case::CaseStatus;
use crate::domain::escalation::EscalationStatus;
use crate::domain::playbook::{PlaybookSet, TemplateVars};
use crate::domain::{CaseId, Handle, Network, Role, Segment};
use crate::store::{CaseFilter, EscalationFilter};

/// carebot: social customer care in Discord.
#[derive(Debug, Parser)]
#[command(name = "carebot", version, about)]
pub struct Cli {
    /// Database URL (default: sqlite://carebot.db, or the config file's).
    #[arg(long, global = true, env = "CAREBOT_DATABASE_URL")]
    pub db: Option<String>,
    /// TOML config file (default: ./carebot.toml, else carebot/carebot.toml in the user's
    /// config folder, $XDG_CONFIG_HOME or ~/.config).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Folder of playbook TOML files (default: ./playbooks, else the built-in playbooks).
    #[arg(long, global = true)]
    pub playbooks: Option<PathBuf>,
    /// Log lines on stderr as text (default) or JSON (one object a line, for log shippers).
    #[arg(long, global = true, value_enum, default_value_t = crate::telemetry::LogFormat::Text, env = "CAREBOT_LOG_FORMAT")]
    pub log_format: crate::telemetry::LogFormat,
    #[command(subcommand)]
    pub command: CliCommand,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Run the bundled scenario on a fresh embedded database and print the story.
    Demo,
    /// Write a commented carebot.toml, the shipped playbooks and an example scenario into DIR
    /// (default: here); refuses to overwrite any file.
    Init { dir: Option<PathBuf> },
    /// The bot in a terminal: feed posts and /commands, typed or from a scenario script.
    Console {
        /// Run this scenario file instead of reading the terminal.
        #[arg(long)]
        script: Option<PathBuf>,
        /// Act as this person (interactive use).
        #[arg(long = "as", default_value = "agent")]
        actor: String,
        /// Your roles, comma separated (agent, senior, supervisor, admin).
        #[arg(long, default_value = "agent")]
        roles: String,
    },
    /// Connect to Discord (token from DISCORD_TOKEN).
    Run,
    /// Check the config, playbooks, database and (with DISCORD_TOKEN) the bot's Discord setup;
    /// prints a checklist with the fix for each failure and exits 1 on any.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Validate playbooks.
    Playbooks {
        #[command(subcommand)]
        command: PlaybooksCommand,
    },
    /// Suggest playbook replies for a text.
    Suggest {
        #[arg(long)]
        text: String,
        #[arg(long, default_value = "twitter")]
        network: String,
        #[arg(long, default_value = "standard")]
        segment: String,
        /// Whose limits to show.
        #[arg(long, default_value = "agent")]
        role: String,
        #[arg(long, default_value_t = 3)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Import mentions from a JSON Lines file (idempotent).
    Ingest {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// List or show cases.
    Cases {
        #[command(subcommand)]
        command: CasesCommand,
    },
    /// Customers: forget one on request (their personal data is erased, counts stay).
    Customers {
        #[command(subcommand)]
        command: CustomersCommand,
    },
    /// Remove the mention texts [retention] says are too old now (`carebot run` does it daily).
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Escalations, and the friction report that says which limits to raise.
    Escalations {
        #[command(subcommand)]
        command: EscalationsCommand,
    },
    /// The digest of a period (default: the last complete week of the [digest] schedule).
    Digest {
        /// From this day (YYYY-MM-DD, midnight in the digest timezone) or instant (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Up to and including this day, or until this instant.
        #[arg(long)]
        to: Option<String>,
        /// md (Markdown), json (stable field names) or csv (the period's cases).
        #[arg(long, value_enum, default_value_t = DigestFormat::Md)]
        format: DigestFormat,
        /// Also write the chart (PNG) to this file.
        #[arg(long, value_name = "FILE.png")]
        chart: Option<PathBuf>,
    },
}

/// What `carebot digest` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DigestFormat {
    Md,
    Json,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum EscalationsCommand {
    /// Escalations: open ones soonest deadline first, decided ones oldest first.
    List {
        /// open, decided or all.
        #[arg(long, default_value = "open")]
        status: String,
        #[arg(long)]
        json: bool,
    },
    /// For every playbook remedy and requester role: how often its limit needed a decision.
    Friction {
        /// Escalations created on or after this day (YYYY-MM-DD, UTC) or instant (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Escalations created up to and including this day, or before this instant.
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Purge now.
    Purge,
}

#[derive(Debug, Subcommand)]
pub enum CustomersCommand {
    /// Erase a customer's personal data: handle and name replaced by a pseudonym, their texts,
    /// links and names removed; counts stay. Cannot be undone.
    Forget {
        handle: String,
        /// The network, when the handle is on several.
        #[arg(long)]
        network: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PlaybooksCommand {
    /// Check a folder of playbooks (default: the configured one); exits 1 on any error.
    Check { dir: Option<PathBuf> },
    /// Measure the playbooks against labelled posts: JSON Lines of
    /// {"text": ..., "network": ..., "expected": "playbook-id"}.
    Eval {
        /// The labelled posts (omit with --from-db).
        file: Option<PathBuf>,
        /// Measure against what agents chose (re-categorised cases, used suggestions).
        #[arg(long)]
        from_db: bool,
        /// Match by explicit triggers only, as carebot did before similarity (to compare).
        #[arg(long)]
        triggers_only: bool,
        #[arg(long)]
        json: bool,
    },
    /// Candidate examples per playbook: posts agents re-categorised that the library does not
    /// rank right yet, for a team lead to review and add.
    Examples {
        /// Read them from the database (the only source today).
        #[arg(long)]
        from_db: bool,
        /// Only choices on or after this day (YYYY-MM-DD, UTC) or instant (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CasesCommand {
    /// Cases, most urgent first.
    List {
        /// Only these statuses (repeatable): new, open, waiting, escalated, resolved, closed.
        #[arg(long)]
        status: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// One case with its mentions and timeline.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

/// `2026-11-01` (midnight UTC; with `end_of_day`, the midnight after) or an RFC 3339 instant.
fn parse_when(text: &str, end_of_day: bool) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        anyhow::anyhow!("`{text}` is not a date; use YYYY-MM-DD (e.g. 2026-11-27) or an RFC 3339 time")
    })?;
    let day = if end_of_day {
        day + chrono::Duration::days(1)
    } else {
        day
    };
    Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

/// The bundled demo scenario.
pub const DEMO_SCENARIO: &str = include_str!("../scenarios/demo.txt");

impl Cli {
    /// Config from file (found as [`Config::discover`] says) and environment, then the command
    /// line's overrides.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut config = Config::discover(self.config.as_deref())?;
        if let Some(db) = &self.db {
            config.database.url = db.clone();
        }
        if let Some(dir) = &self.playbooks {
            config.playbooks_dir = dir.clone();
        }
        Ok(config)
    }
}

/// Runs the parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let stdout = std::io::stdout();
    if let CliCommand::Init { dir } = &cli.command {
        // Needs no config: it writes one.
        let dir = dir.clone().unwrap_or_else(|| PathBuf::from("."));
        let written = crate::init::init(&dir)?;
        let mut out = stdout.lock();
        for path in &written {
            writeln!(out, "wrote {}", path.display())?;
        }
        writeln!(
            out,
            "next: cd {} && carebot playbooks check && carebot console --script scenarios/example.txt",
            dir.display()
        )?;
        return Ok(0);
    }
    let config = match (cli.config(), &cli.command) {
        (Ok(config), _) => config,
        (Err(e), CliCommand::Doctor { json }) => {
            // The checklist still says what is wrong, and how to fix it.
            let check = crate::doctor::Check::fail(
                "config",
                format!("{e:#}"),
                "correct the file (README, \"Configuration\"), or point --config at another one",
            );
            return Ok(crate::doctor::print(&[check], *json, &mut stdout.lock())?);
        }
        (Err(e), _) => return Err(e),
    };
    match cli.command {
        CliCommand::Init { .. } => unreachable!("handled above"),
        CliCommand::Demo => {
            demo(&config, stdout.lock()).await?;
            Ok(0)
        }
        CliCommand::Console { script, actor, roles } => {
            let engine = Engine::start(&config).await?;
            let actor = console::parse_actor(&format!("{actor} {roles}")).map_err(anyhow::Error::msg)?;
            match script {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read script {}", path.display()))?;
                    let mut console = Console::new(&engine, stdout.lock(), actor).await?;
                    console
                        .run_script(&text)
                        .await
                        .with_context(|| format!("script {}", path.display()))?;
                    Ok(0)
                }
                None => interactive(&engine, actor).await.map(|_| 0),
            }
        }
        CliCommand::Run => {
            crate::discord::run(&config).await?;
            Ok(0)
        }
        CliCommand::Doctor { json } => {
            let checks = crate::doctor::run(&config).await;
            Ok(crate::doctor::print(&checks, json, &mut stdout.lock())?)
        }
        CliCommand::Playbooks {
            command: PlaybooksCommand::Check { dir },
        } => {
            let source = match dir {
                Some(dir) => PlaybookSource::Dir(dir),
                None => PlaybookSource::from_config(&config.playbooks_dir),
            };
            Ok(check_playbooks(&source, &mut stdout.lock())?)
        }
        CliCommand::Playbooks {
            command:
                PlaybooksCommand::Eval {
                    file,
                    from_db,
                    triggers_only,
                    json,
                },
        } => {
            let mut set = load_playbooks(&PlaybookSource::from_config(&config.playbooks_dir), &config)?;
            if triggers_only {
                set = set.triggers_only();
            }
            match (file, from_db) {
                (Some(file), false) => playbooks::eval_file(&set, &file, json, &mut stdout.lock())?,
                (None, true) => {
                    let engine = Engine::start(&config).await?;
                    let choices = engine.agent_choices(None).await?;
                    playbooks::eval_choices(&set, &choices, json, &mut stdout.lock())?;
                }
                _ => anyhow::bail!("give either a FILE.jsonl of labelled posts or --from-db, not both"),
            }
            Ok(0)
        }
        CliCommand::Playbooks {
            command: PlaybooksCommand::Examples { from_db, since, json },
        } => {
            if !from_db {
                anyhow::bail!("say where the candidates come from: --from-db (what agents re-categorised)");
            }
            let since = since.as_deref().map(|s| parse_when(s, false)).transpose()?;
            let engine = Engine::start(&config).await?;
            let choices = engine.agent_choices(since).await?;
            playbooks::candidate_examples(&engine.playbooks(), &choices, json, &mut stdout.lock())?;
            Ok(0)
        }
        CliCommand::Suggest {
            text: body,
            network,
            segment,
            role,
            limit,
            json,
        } => {
            let set = load_playbooks(&PlaybookSource::from_config(&config.playbooks_dir), &config)?;
            let network = Network::parse(&network)?;
            let segment = Segment::parse(&segment)?;
            let role = Role::parse(&role)?;
            let vars = sample_vars(&body, &network, segment);
            let items = set.suggest(&body, &network, segment, role, &vars, limit);
            let mut out = stdout.lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &items)?;
                writeln!(out)?;
            } else {
                write!(out, "{}", text::suggestions(&items))?;
            }
            Ok(0)
        }
        CliCommand::Ingest { file, json } => {
            let engine = Engine::start(&config).await?;
            let opened =
                std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
            let total = opened.metadata().map(|m| m.len()).unwrap_or(0);
            let progress = crate::progress::Progress::bytes(total, crate::progress::wanted_here(json));
            let reader = std::io::BufReader::new(opened);
            let mut errors = progress.stderr();
            let stats =
                ingest_jsonl_with_progress(&engine, reader, wall_clock(), &mut errors, &mut |done, items| {
                    progress.set(done, items)
                })
                .await;
            progress.finish();
            let stats = stats?;
            let mut out = stdout.lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &stats)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "opened {} · merged {} · reopened {} · duplicate {} · ignored {} · unparsed {} · errors {}",
                    stats.opened, stats.merged, stats.reopened, stats.duplicate, stats.ignored, stats.unparsed, stats.errors
                )?;
            }
            Ok(if stats.errors > 0 { 2 } else { 0 })
        }
        CliCommand::Cases { command } => {
            let engine = Engine::start_without_playbooks(&config).await?;
            let mut out = stdout.lock();
            match command {
                CasesCommand::List { status, json } => {
                    let statuses = status
                        .iter()
                        .map(|s| CaseStatus::parse(s))
                        .collect::<Result<Vec<_>, _>>()?;
                    let mut tx = engine.store().read().await?;
                    let cases = tx
                        .list_cases(&CaseFilter {
                            statuses,
                            ..Default::default()
                        })
                        .await?;
                    if json {
                        serde_json::to_writer_pretty(&mut out, &cases)?;
                        writeln!(out)?;
                    } else {
                        write!(out, "{}", text::case_table(&cases))?;
                    }
                }
                CasesCommand::Show { id, json } => {
                    let detail = engine.case_detail(CaseId::parse(&id)?, wall_clock()).await?;
                    if json {
                        serde_json::to_writer_pretty(&mut out, &detail)?;
                        writeln!(out)?;
                    } else {
                        write!(out, "{}", text::reply(&crate::app::Reply::Case(Box::new(detail))))?;
                    }
                }
            }
            Ok(0)
        }
        CliCommand::Retention {
            command: RetentionCommand::Purge,
        } => {
            let retention = config
                .retention
                .as_ref()
                .context("no [retention] in the config: add `[retention]` with `mention_text_days = 365`")?;
            let retention = crate::app::retention::Retention::from_config(retention)?;
            let engine = Engine::start_without_playbooks(&config).await?;
            let purged = engine.purge_texts(retention, wall_clock()).await?;
            writeln!(stdout.lock(), "retention: {purged} mention text(s) removed")?;
            Ok(0)
        }
        CliCommand::Customers {
            command:
                CustomersCommand::Forget {
                    handle,
                    network,
                    json,
                },
        } => {
            let who = crate::app::CustomerRef::Handle {
                network: network.as_deref().map(Network::parse).transpose()?,
                handle: Handle::parse(&handle)?,
            };
            let engine = Engine::start_without_playbooks(&config).await?;
            let operator = Actor::new("cli", "operator (command line)", vec![Role::Admin]);
            let done = engine.forget_customer(&operator, &who, wall_clock()).await?;
            let mut out = stdout.lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &done)?;
                writeln!(out)?;
            } else {
                let cases: Vec<String> = done.cases.iter().map(|c| c.to_string()).collect();
                writeln!(
                    out,
                    "forgotten: customer {} is now {}; {} mention(s) erased on {} case(s) ({}); {} card edit(s) queued for Discord (sent by `carebot run`), {} undelivered message(s) dropped",
                    done.customer,
                    done.pseudonym,
                    done.mentions,
                    done.cases.len(),
                    cases.join(", "),
                    done.cards_edited,
                    done.undelivered_dropped
                )?;
            }
            Ok(0)
        }
        CliCommand::Escalations { command } => {
            let engine = Engine::start_without_playbooks(&config).await?;
            let mut out = stdout.lock();
            match command {
                EscalationsCommand::List { status, json } => {
                    let status = match status.trim().to_ascii_lowercase().as_str() {
                        "open" => Some(EscalationStatus::Open),
                        "decided" => Some(EscalationStatus::Approved),
                        "all" => None,
                        other => anyhow::bail!("--status `{other}` is not known; use open, decided or all"),
                    };
                    let items = engine
                        .escalations(&EscalationFilter {
                            status,
                            ..Default::default()
                        })
                        .await?;
                    if json {
                        serde_json::to_writer_pretty(&mut out, &items)?;
                        writeln!(out)?;
                    } else {
                        write!(out, "{}", text::escalation_table(&items, ""))?;
                    }
                }
                EscalationsCommand::Friction { from, to, json } => {
                    let from = from.as_deref().map(|f| parse_when(f, false)).transpose()?;
                    let to = to.as_deref().map(|t| parse_when(t, true)).transpose()?;
                    let rows = engine.friction(from, to).await?;
                    if json {
                        serde_json::to_writer_pretty(&mut out, &rows)?;
                        writeln!(out)?;
                    } else {
                        write!(out, "{}", text::friction_table(&rows))?;
                    }
                }
            }
            Ok(0)
        }
        CliCommand::Digest {
            from,
            to,
            format,
            chart,
        } => {
            let mut out = stdout.lock();
            digest(
                &config,
                from.as_deref(),
                to.as_deref(),
                format,
                chart.as_deref(),
                &mut out,
            )
            .await?;
            Ok(0)
        }
    }
}

/// `carebot digest`: the period is checked before the database is opened.
async fn digest(
    config: &Config,
    from: Option<&str>,
    to: Option<&str>,
    format: DigestFormat,
    chart: Option<&Path>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    use crate::app::{digest, digest_render};
    let settings = digest::DigestSettings::from_config(config)?;
    let period = crate::domain::digest::requested_period(from, to, &settings.schedule, wall_clock())
        .map_err(|e| anyhow::anyhow!("--from/--to: {e}"))?;
    let engine = Engine::start_without_playbooks(config).await?;
    let guild = config.discord.guild_id;
    let link = move |thread: &str| guild.map(|g| crate::discord::render::thread_url(g, thread));
    let report = engine.digest(period).await?;
    match format {
        DigestFormat::Md => write!(out, "{}", digest_render::document(&report, &link))?,
        DigestFormat::Json => writeln!(out, "{}", digest_render::json(&report))?,
        DigestFormat::Csv => {
            let cases = digest::cases(engine.store(), period).await?;
            write!(out, "{}", digest_render::csv(&cases, &link))?;
        }
    }
    if let Some(path) = chart {
        let png = crate::app::chart::png(&report)?;
        std::fs::write(path, png).with_context(|| format!("cannot write the chart to {}", path.display()))?;
    }
    Ok(())
}

/// The playbooks of `source` with the configured minimum similarity.
fn load_playbooks(source: &PlaybookSource, config: &Config) -> anyhow::Result<PlaybookSet> {
    let set = source
        .load()
        .map_err(|e| anyhow::anyhow!("invalid playbooks in {source}:\n{e}"))?;
    Ok(set.with_min_similarity(config.cases.min_similarity))
}

fn sample_vars(text: &str, network: &Network, segment: Segment) -> TemplateVars {
    let mut vars = TemplateVars::default();
    vars.customer.handle = "@customer".into();
    vars.customer.name = "there".into();
    vars.customer.network = network.to_string();
    vars.customer.segment = segment.to_string();
    vars.case.id = "#0".into();
    vars.case.priority = "P3".into();
    vars.case.status = "new".into();
    vars.agent.name = "the care team".into();
    vars.mention.text = text.to_string();
    vars.mention.network = network.to_string();
    vars
}

/// `carebot demo`: the bundled scenario on a fresh database in a temporary folder.
pub async fn demo(config: &Config, out: impl Write) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("carebot-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut config = config.clone();
    config.database.url = format!("sqlite://{}", dir.join("demo.db").display());
    if config.feed.brand_handles.is_empty() {
        // The demo's fictional brand.
        config.feed.brand_handles = vec!["AcmeShop".into(), "AcmeRentals".into(), "AcmeCare".into()];
    }
    // The scenario is written for the shipped library: a folder without it is not used.
    let playbooks = match PlaybookSource::from_config(&config.playbooks_dir) {
        PlaybookSource::Dir(dir) if dir.join("general.toml").exists() => {
            load_playbooks(&PlaybookSource::Dir(dir), &config)?
        }
        _ => load_playbooks(&PlaybookSource::BuiltIn, &config)?,
    };
    let store = crate::store::Store::connect(&config.database.url).await?;
    let engine = Engine::from_parts(store, playbooks, &config)?;
    let start = DateTime::parse_from_rfc3339("2026-11-27T08:00:00Z")?.with_timezone(&Utc);
    let actor = Actor::new("demo", "demo", vec![Role::Agent]);
    let mut console = Console::with_clock(&engine, out, actor, start).await?;
    let result = async {
        console.run_script(DEMO_SCENARIO).await?;
        console.summary().await
    }
    .await;
    engine.store().close().await;
    let _ = std::fs::remove_dir_all(&dir);
    result.map_err(Into::into)
}

async fn interactive(engine: &Engine, actor: Actor) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut console = Console::new(engine, stdout.lock(), actor).await?;
    eprintln!("carebot console: type feed posts (`feed CHANNEL | text`) and /commands; /help lists them; Ctrl-D quits.");
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line?;
        if let Err(e) = console.line(&line).await {
            eprintln!("✗ {e}");
        }
    }
    Ok(())
}
