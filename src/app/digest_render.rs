//! The digest as text: Markdown (Discord's flavour, also `digest --format md`), JSON (stable
//! field names) and the period's cases as CSV. The wording lives here, beside `text.rs`.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::digest::{Digest, TimeReport};
use crate::domain::digest::{Compliance, TimeSummary};
use crate::store::DigestCase;

/// Makes a link to a case's thread from the chat adapter's reference (`None`: no link).
pub type ThreadLink<'a> = &'a dyn Fn(&str) -> Option<String>;

/// No links (the terminal, a CLI run without a Discord guild).
pub fn no_links(_: &str) -> Option<String> {
    None
}

/// How many lines of each list the Markdown shows.
const LIST_MAX: usize = 5;
/// How many notable cases the Markdown shows.
const NOTABLE_SHOWN: usize = 10;

/// Escapes Markdown and defuses mentions in names that come from people (agents, titles).
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']' | '(' | ')' => {
                out.push('\\');
                out.push(c);
            }
            '@' => out.push_str("@\u{200b}"),
            '<' => out.push_str("<\u{200b}"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// `12.5 min`, `3 h 10 min`, `2 d 4 h`.
pub fn minutes(m: f64) -> String {
    if m < 60.0 {
        let rounded = (m * 10.0).round() / 10.0;
        return if rounded.fract() == 0.0 {
            format!("{rounded:.0} min")
        } else {
            format!("{rounded:.1} min")
        };
    }
    let total = m.round() as i64;
    let (d, h, min) = (total / 1440, total % 1440 / 60, total % 60);
    match (d, h, min) {
        (0, h, 0) => format!("{h} h"),
        (0, h, min) => format!("{h} h {min} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

fn pct(p: Option<f64>) -> String {
    p.map_or_else(|| "–".to_string(), |p| format!("{p:.1}%"))
}

fn times(t: &TimeSummary) -> String {
    match (t.median_minutes, t.p90_minutes) {
        (Some(m), Some(p)) => format!(
            "median {} · p90 {} ({} case{})",
            minutes(m),
            minutes(p),
            t.count,
            if t.count == 1 { "" } else { "s" }
        ),
        _ => "none in this period".to_string(),
    }
}

fn time_lines(out: &mut String, label: &str, report: &TimeReport) {
    let _ = writeln!(out, "**{label}** — {}", times(&report.overall));
    if report.by_priority.len() > 1 {
        let parts: Vec<String> = report
            .by_priority
            .iter()
            .filter_map(|p| {
                Some(format!(
                    "{} {} / {} ({})",
                    p.priority,
                    minutes(p.times.median_minutes?),
                    minutes(p.times.p90_minutes?),
                    p.times.count
                ))
            })
            .collect();
        let _ = writeln!(out, "- by priority (median / p90): {}", parts.join(" · "));
    }
}

fn compliance(c: &Compliance) -> String {
    format!("{} ({} met, {} breached)", pct(c.percent), c.met, c.breached)
}

/// The title: `Digest 2026-11-23 09:00 → 2026-11-30 09:00 Europe/Berlin`.
pub fn title(d: &Digest) -> String {
    format!("Digest {}", d.period().describe())
}

/// The digest in Markdown, without its title; `late` says when it was due if it is posted late.
pub fn markdown(d: &Digest, late: Option<DateTime<Utc>>, link: ThreadLink<'_>) -> String {
    let mut out = String::new();
    let tz = d.period().tz;
    if let Some(due) = late {
        let _ = writeln!(
            out,
            "_Posted late: this digest was due {}; carebot was not running then._\n",
            due.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z")
        );
    }
    let _ = writeln!(
        out,
        "**Volume** — {} mentions · {} cases opened · {} resolved · {} in the backlog at the end",
        d.mentions, d.opened, d.resolved, d.backlog
    );
    let networks: Vec<String> = d
        .by_network
        .iter()
        .take(LIST_MAX)
        .map(|n| format!("{} {} / {}", md(&n.network), n.mentions, n.cases))
        .collect();
    if !networks.is_empty() {
        let _ = writeln!(out, "- by network (mentions / cases): {}", networks.join(" · "));
    }
    let categories: Vec<String> = d
        .by_category
        .iter()
        .take(LIST_MAX)
        .map(|c| format!("{} {} / {}", md(&c.category), c.mentions, c.cases))
        .collect();
    if !categories.is_empty() {
        let _ = writeln!(
            out,
            "- by category (mentions / cases): {}",
            categories.join(" · ")
        );
    }
    time_lines(&mut out, "First response", &d.first_response);
    time_lines(&mut out, "Resolution", &d.resolution);

    let targets: Vec<String> = d
        .sla
        .iter()
        .filter(|(_, c)| c.met + c.breached > 0)
        .map(|(t, c)| format!("{} {}", t.replace('_', " "), compliance(c)))
        .collect();
    if targets.is_empty() {
        let _ = writeln!(out, "**SLA** — no clock stopped in this period");
    } else {
        let _ = writeln!(out, "**SLA** — {}", targets.join(" · "));
        let priorities: Vec<String> = d
            .sla_by_priority
            .iter()
            .map(|p| format!("{} {}", p.priority, pct(p.compliance.percent)))
            .collect();
        let _ = writeln!(out, "- by priority: {}", priorities.join(" · "));
        let agents: Vec<String> = d
            .sla_by_agent
            .iter()
            .map(|a| {
                let who = a.agent.as_deref().map_or_else(|| "(nobody)".to_string(), md);
                format!(
                    "{who} {} ({}/{})",
                    pct(a.compliance.percent),
                    a.compliance.met,
                    a.compliance.met + a.compliance.breached
                )
            })
            .collect();
        let _ = writeln!(out, "- by agent: {}", agents.join(" · "));
    }

    let e = &d.escalations;
    let mut line = format!(
        "**Escalations** — {} · approved {} · denied {} · timed out {} · open {}",
        e.count, e.approved, e.denied, e.timed_out, e.open
    );
    if let Some(m) = e.median_decision_minutes {
        let _ = write!(line, " · median decision {}", minutes(m));
    }
    let _ = writeln!(out, "{line}");
    for f in d.friction.iter().take(LIST_MAX) {
        let limit = f
            .limit
            .map_or_else(String::new, |l| format!(", limit {l} {}", md(&f.unit)));
        let advice = f.suggested_limit.map_or_else(String::new, |s| {
            format!(" → consider raising it to {s} {}", md(&f.unit))
        });
        let _ = writeln!(
            out,
            "- friction: {} {} ({}{limit}): {} request{}, {} approved{advice}",
            md(&f.playbook),
            md(&f.remedy),
            f.role,
            f.requests,
            if f.requests == 1 { "" } else { "s" },
            f.approved
        );
    }

    if d.pain_points.is_empty() {
        let _ = writeln!(
            out,
            "**Top pain points** — no category grew against the previous period"
        );
    } else {
        let points: Vec<String> = d
            .pain_points
            .iter()
            .map(|p| {
                let share = p
                    .change_percent
                    .map_or_else(|| "new".to_string(), |c| format!("{c:+.0}%"));
                format!(
                    "{} {} (+{} vs {}, {share})",
                    md(&p.category),
                    p.count,
                    p.change,
                    p.previous
                )
            })
            .collect();
        let _ = writeln!(out, "**Top pain points** — {}", points.join(" · "));
    }

    if !d.incidents.is_empty() {
        let incidents: Vec<String> = d
            .incidents
            .iter()
            .take(LIST_MAX)
            .map(|i| {
                let state = if i.ended_at.is_some() { "" } else { ", still going" };
                format!(
                    "#{} {}: {} mentions, {} cases, {}{state}",
                    i.id,
                    md(&i.category),
                    i.mentions,
                    i.cases,
                    minutes(i.duration_minutes)
                )
            })
            .collect();
        let _ = writeln!(out, "**Incidents** — {}", incidents.join(" · "));
    }

    if d.notable_total > 0 {
        let _ = writeln!(out, "**Notable cases** — {}", d.notable_total);
        for n in d.notable.iter().take(NOTABLE_SHOWN) {
            let reasons: Vec<String> = n.reasons.iter().map(|r| reason(r)).collect();
            let thread = n
                .thread
                .as_deref()
                .and_then(link)
                .map_or_else(String::new, |url| format!(" · [thread]({url})"));
            let _ = writeln!(
                out,
                "- case {} {} {}: {} — {}{thread}",
                n.case,
                n.priority,
                md(&n.category),
                md(&super::text::one_line(&n.title, 60)),
                reasons.join(", ")
            );
        }
        let more = d
            .notable_total
            .saturating_sub(NOTABLE_SHOWN.min(d.notable.len()) as u64);
        if more > 0 {
            let _ = writeln!(out, "- … and {more} more (see cases.csv)");
        }
    }
    out
}

/// `breached:first_response` → `breached first response`.
fn reason(code: &str) -> String {
    match code.split_once(':') {
        Some(("breached", target)) => format!("breached {}", target.replace('_', " ")),
        _ if code == "p1" => "P1".to_string(),
        _ => code.replace('_', " "),
    }
}

/// `# title` and the Markdown body, as `digest --format md` prints it.
pub fn document(d: &Digest, link: ThreadLink<'_>) -> String {
    format!("# {}\n\n{}", title(d), markdown(d, None, link))
}

/// Pretty JSON with the stable field names.
pub fn json(d: &Digest) -> String {
    serde_json::to_string_pretty(d).unwrap_or_else(|_| "{}".into())
}

/// The CSV header.
pub const CSV_HEADER: &str = "case,opened_at,status,priority,category,network,owner,mentions,first_response_minutes,resolved_at,resolution_minutes,incident,thread";

/// The period's cases as CSV (RFC 4180: quoted where needed; a cell that a spreadsheet would
/// read as a formula gets a leading `'`).
pub fn csv(cases: &[DigestCase], link: ThreadLink<'_>) -> String {
    let mut out = String::with_capacity(64 + cases.len() * 120);
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    let since = |t: Option<DateTime<Utc>>, opened: DateTime<Utc>| {
        t.map_or_else(String::new, |t| {
            format!(
                "{}",
                crate::domain::digest::round_to((t - opened).num_seconds() as f64 / 60.0, 2)
            )
        })
    };
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for c in cases {
        let thread = c
            .thread_ref
            .as_deref()
            .map(|t| link(t).unwrap_or_else(|| t.to_string()))
            .unwrap_or_default();
        let cells = [
            c.id.0.to_string(),
            stamp(c.opened_at),
            c.status.clone(),
            c.priority.clone(),
            c.category.clone(),
            c.network.clone(),
            c.owner.clone().unwrap_or_default(),
            c.mentions.to_string(),
            since(c.first_response_at, c.opened_at),
            c.resolved_at.map(stamp).unwrap_or_default(),
            since(c.resolved_at, c.opened_at),
            c.incident.map(|i| i.to_string()).unwrap_or_default(),
            thread,
        ];
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&csv_cell(cell));
        }
        out.push_str("\r\n");
    }
    out
}

fn csv_cell(cell: &str) -> String {
    let cell = if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    };
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_read_like_people_write_them() {
        assert_eq!(minutes(12.5), "12.5 min");
        assert_eq!(minutes(7.0), "7 min");
        assert_eq!(minutes(190.0), "3 h 10 min");
        assert_eq!(minutes(120.0), "2 h");
        assert_eq!(minutes(3120.0), "2 d 4 h");
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=SUM(A1)"), "'=SUM(A1)");
    }

    #[test]
    fn names_from_people_cannot_format_or_ping() {
        assert_eq!(md("**ana** @everyone"), "\\*\\*ana\\*\\* @\u{200b}everyone");
    }
}
