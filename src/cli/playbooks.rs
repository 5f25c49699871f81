//! `carebot playbooks check|eval`: validate a folder, and measure it against labelled posts.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::app::PlaybookSource;
use crate::domain::playbook::eval::{self, AgentChoice, EvalReport};
use crate::domain::playbook::PlaybookSet;

/// `playbooks check`: prints each error with file and line, then any warnings; 0 when
/// valid (warnings do not fail it), 1 otherwise.
pub fn check_playbooks(source: &PlaybookSource, out: &mut impl Write) -> anyhow::Result<i32> {
    match source.load() {
        Ok(set) => {
            writeln!(out, "{source}: {} playbooks OK", set.playbooks().len())?;
            for p in set.playbooks() {
                writeln!(
                    out,
                    "  {:<24} {} ({} examples)",
                    p.id,
                    p.title,
                    p.triggers.examples.len()
                )?;
            }
            let warnings = set.warnings();
            if !warnings.is_empty() {
                writeln!(out, "{} warning(s):", warnings.len())?;
                for w in warnings {
                    writeln!(out, "warning: {w}")?;
                }
            }
            Ok(0)
        }
        Err(errors) => {
            writeln!(out, "{source}: {} error(s)", errors.0.len())?;
            writeln!(out, "{errors}")?;
            Ok(1)
        }
    }
}

/// `playbooks eval FILE.jsonl`: the report, as text or JSON; bad lines refuse the file.
pub fn eval_file(set: &PlaybookSet, file: &Path, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {name}"))?;
    let items = eval::parse_labelled(&name, &text, set).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{} bad line(s) in {name}:\n{}", errors.len(), lines.join("\n"))
    })?;
    let report = eval::evaluate(set, &items);
    write_report(&report, &name, json, out)
}

/// `playbooks eval --from-db`: the library against the latest choice agents made per case.
pub fn eval_choices(
    set: &PlaybookSet,
    choices: &[AgentChoice],
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (items, unknown) = eval::labelled_from_choices(choices, set);
    if !json && unknown > 0 {
        writeln!(
            out,
            "({unknown} case(s) chose a playbook that no longer exists; left out)"
        )?;
    }
    let report = eval::evaluate(set, &items);
    write_report(&report, "what agents chose", json, out)
}

/// `playbooks examples --from-db`: candidates per playbook, as TOML lines ready to review.
pub fn candidate_examples(
    set: &PlaybookSet,
    choices: &[AgentChoice],
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let candidates = eval::candidate_examples(choices, set);
    if json {
        serde_json::to_writer_pretty(&mut *out, &candidates)?;
        writeln!(out)?;
        return Ok(());
    }
    if candidates.is_empty() {
        writeln!(
            out,
            "No candidates: agents re-categorised no post that the library ranks wrong."
        )?;
        return Ok(());
    }
    for (playbook, posts) in &candidates {
        let file = set.get(playbook).map(|p| p.file.as_str()).unwrap_or("?");
        writeln!(
            out,
            "# {playbook} ({file}): review, then add under [triggers] examples"
        )?;
        for post in posts {
            writeln!(out, "  {},", serde_json::to_string(post)?)?;
        }
    }
    Ok(())
}

/// Writes `report` as text for a team lead, or as JSON (stable field names).
pub fn write_report(report: &EvalReport, what: &str, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, report)?;
        writeln!(out)?;
        return Ok(());
    }
    let pct = |x: f64| format!("{:.1}%", x * 100.0);
    writeln!(out, "{what}: {} posts", report.posts)?;
    writeln!(
        out,
        "top-1 {} ({}/{})   top-3 {} ({}/{})",
        pct(report.top1_accuracy),
        report.top1,
        report.posts,
        pct(report.top3_accuracy),
        report.top3,
        report.posts
    )?;
    writeln!(
        out,
        "\n{:<24} {:>8} {:>10} {:>10} {:>8}",
        "playbook", "expected", "suggested", "precision", "recall"
    )?;
    for p in &report.playbooks {
        writeln!(
            out,
            "{:<24} {:>8} {:>10} {:>10} {:>8}",
            p.id,
            p.expected,
            p.suggested,
            pct(p.precision),
            pct(p.recall)
        )?;
    }
    if !report.confusions.is_empty() {
        writeln!(out, "\nconfusions (expected -> suggested first):")?;
        for c in &report.confusions {
            writeln!(out, "  {:>3}  {} -> {}", c.count, c.expected, c.got)?;
        }
    }
    if !report.misses.is_empty() {
        writeln!(out, "\nmisses:")?;
        for m in &report.misses {
            let place = m
                .expected_rank
                .map(|r| format!("#{r}"))
                .unwrap_or_else(|| "not suggested".into());
            writeln!(
                out,
                "  {}: expected {} ({place}), got {} (score {})",
                m.source, m.expected, m.got, m.got_score
            )?;
            writeln!(out, "      {:?}", shorten(&m.text, 120))?;
            writeln!(out, "      why: {}", m.why.join("; "))?;
        }
    }
    Ok(())
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}
