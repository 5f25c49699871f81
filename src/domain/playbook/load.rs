//! Reading playbook files: the TOML format, and every check a playbook must pass.
//!
//! Checks collect every problem they can find, each with its file and line, so an operator
//! fixes a broken playbook folder in one pass.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use minijinja::Environment;
use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use super::examples::{check_samples, Samples};
use super::matcher::{pattern_regex, Trigger, TriggerKind};
use super::template;
use super::{EscalationPolicy, OnTimeout, Playbook, Remedy, RemedyKind, Triggers};
use crate::domain::types::{Money, Network, Priority, Role, Segment};

/// One problem in one playbook file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybookError {
    pub file: String,
    pub line: Option<usize>,
    /// What is wrong, then ` — ` and what to do about it.
    pub message: String,
}

impl fmt::Display for PlaybookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for PlaybookError {}

/// Every problem found in a set of playbook files; `Display` prints one per line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", display_lines(.0))]
pub struct PlaybookErrors(pub Vec<PlaybookError>);

fn display_lines(errors: &[PlaybookError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

// ----- The file format, as written -----------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybook {
    id: Option<Spanned<String>>,
    title: Option<Spanned<String>>,
    priority: Option<Spanned<String>>,
    #[serde(default)]
    fallback: bool,
    #[serde(default)]
    bulk: bool,
    triggers: Option<Spanned<RawTriggers>>,
    reply: Option<Spanned<RawReply>>,
    #[serde(default)]
    remedies: Vec<Spanned<RawRemedy>>,
    escalation: Option<Spanned<RawEscalation>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawTriggers {
    keywords: Vec<Spanned<String>>,
    patterns: Vec<Spanned<String>>,
    /// Sample posts as customers write them.
    pub examples: Vec<Spanned<String>>,
    /// Keywords that veto the playbook.
    pub exclude: Vec<Spanned<String>>,
    /// Patterns that veto the playbook.
    pub exclude_patterns: Vec<Spanned<String>>,
    networks: Vec<Spanned<String>>,
    segments: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReply {
    template: Option<Spanned<String>>,
    #[serde(default)]
    steps: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemedy {
    kind: Option<Spanned<String>>,
    label: Option<Spanned<String>>,
    unit: Option<Spanned<String>>,
    case_cap: Option<Spanned<f64>>,
    limits: Option<Spanned<RawLimits>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRoleLimits {
    agent: Option<Spanned<f64>>,
    senior: Option<Spanned<f64>>,
    supervisor: Option<Spanned<f64>>,
    admin: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    agent: Option<Spanned<f64>>,
    senior: Option<Spanned<f64>>,
    supervisor: Option<Spanned<f64>>,
    admin: Option<Spanned<f64>>,
    vip: Option<Spanned<RawRoleLimits>>,
    promising: Option<Spanned<RawRoleLimits>>,
    standard: Option<Spanned<RawRoleLimits>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEscalation {
    approver: Option<Spanned<String>>,
    deadline: Option<Spanned<String>>,
    on_timeout: Option<Spanned<String>>,
    cap: Option<Spanned<f64>>,
    next_approver: Option<Spanned<String>>,
}

// ----- Checking one file ---------------------------------------------------------------

/// Collects the problems of one file, turning byte offsets into line numbers.
pub(crate) struct FileCheck<'a> {
    pub file: &'a str,
    src: &'a str,
    pub errors: Vec<PlaybookError>,
}

impl<'a> FileCheck<'a> {
    pub fn new(file: &'a str, src: &'a str) -> Self {
        FileCheck {
            file,
            src,
            errors: Vec::new(),
        }
    }

    /// The 1-based line holding byte `offset`.
    pub fn line_at(&self, offset: usize) -> usize {
        let offset = offset.min(self.src.len());
        self.src.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// The line where `key = ` or `[key]` first appears, for problems without a span.
    fn line_of_key(&self, key: &str) -> Option<usize> {
        self.src
            .lines()
            .position(|l| {
                let l = l.trim_start();
                l.strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
                    || l.starts_with(&format!("[{key}]"))
                    || l.starts_with(&format!("[[{key}]]"))
            })
            .map(|i| i + 1)
    }

    pub fn at(&mut self, span: Option<Range<usize>>, message: String) {
        let line = span.map(|s| self.line_at(s.start));
        self.errors.push(PlaybookError {
            file: self.file.to_string(),
            line,
            message,
        });
    }

    /// A problem at a known line.
    pub fn at_line(&mut self, line: usize, message: String) {
        self.errors.push(PlaybookError {
            file: self.file.to_string(),
            line: Some(line),
            message,
        });
    }

    fn at_key(&mut self, key: &str, message: String) {
        let line = self.line_of_key(key);
        self.errors.push(PlaybookError {
            file: self.file.to_string(),
            line,
            message,
        });
    }
}

/// A playbook that passed the checks of its own file, with what the set still needs.
pub(crate) struct Parsed {
    pub playbook: Playbook,
    pub id_line: Option<usize>,
    pub fallback_line: Option<usize>,
    pub keywords: Vec<String>,
    pub patterns: Vec<(String, Regex)>,
    /// The examples, exclusions and where each example is written.
    pub samples: Samples,
}

/// Reads and checks one file. The template is added to `env` under the playbook id.
pub(crate) fn parse_file(
    check: &mut FileCheck<'_>,
    src: &str,
    env: &mut Environment<'static>,
) -> Option<Parsed> {
    let raw: RawPlaybook = match toml::from_str(src) {
        Ok(raw) => raw,
        Err(err) => {
            let message = format!(
                "{} — fix the TOML here (see playbooks/roadside-breakdown.toml for every field)",
                err.message().trim()
            );
            check.at(err.span(), message);
            return None;
        }
    };
    let errors_before = check.errors.len();

    let id = match &raw.id {
        None => {
            check.at(
                None,
                "missing `id` — add a unique kebab-case id, e.g. `id = \"shipping-delay\"`".into(),
            );
            String::new()
        }
        Some(id) => {
            let ok = !id.get_ref().is_empty()
                && id.get_ref().split('-').all(|part| {
                    !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                });
            if !ok {
                check.at(
                    Some(id.span()),
                    format!("id `{}` is not kebab-case — use lower-case letters, digits and single dashes, e.g. `shipping-delay`", id.get_ref()),
                );
            }
            id.get_ref().clone()
        }
    };
    let title = match &raw.title {
        Some(t) if !t.get_ref().trim().is_empty() => t.get_ref().trim().to_string(),
        Some(t) => {
            check.at(
                Some(t.span()),
                "`title` is empty — say in a few words what the playbook is for".into(),
            );
            String::new()
        }
        None => {
            check.at(
                None,
                "missing `title` — add a short title, e.g. `title = \"Late or lost delivery\"`".into(),
            );
            String::new()
        }
    };
    let priority = raw
        .priority
        .as_ref()
        .and_then(|p| match Priority::parse(p.get_ref()) {
            Ok(p) => Some(p),
            Err(e) => {
                check.at(
                    Some(p.span()),
                    format!("unknown priority `{}` — {}", p.get_ref(), e.hint),
                );
                None
            }
        });

    let triggers = check_triggers(check, &raw);

    let (template_src, steps) = match &raw.reply {
        None => {
            check.at(
                None,
                "missing `[reply]` — add a `[reply]` table with a `template`".into(),
            );
            (String::new(), Vec::new())
        }
        Some(reply) => {
            let steps: Vec<String> = reply
                .get_ref()
                .steps
                .iter()
                .map(|s| s.trim().to_string())
                .collect();
            if steps.iter().any(String::is_empty) {
                check.at_key(
                    "steps",
                    "an entry of `reply.steps` is empty — remove it or write the step".into(),
                );
            }
            match &reply.get_ref().template {
                None => {
                    check.at(
                        Some(reply.span()),
                        "missing `reply.template` — write the reply the agent starts from".into(),
                    );
                    (String::new(), steps)
                }
                Some(t) => {
                    if !id.is_empty() {
                        check_template(check, src, env, &id, t);
                    }
                    (t.get_ref().clone(), steps)
                }
            }
        }
    };

    let remedies: Vec<Remedy> = raw
        .remedies
        .iter()
        .filter_map(|r| check_remedy(check, r))
        .collect();
    for (i, r) in remedies.iter().enumerate() {
        if remedies[..i].iter().any(|earlier| earlier.kind == r.kind) {
            check.at_key(
                "remedies",
                format!(
                    "a second `{}` remedy — offers name a remedy by its kind, so each kind appears once per playbook",
                    r.kind.as_str()
                ),
            );
        }
    }
    let escalation = check_escalation(check, &raw, !raw.remedies.is_empty());

    if check.errors.len() > errors_before {
        env.remove_template(&id);
        return None;
    }
    let (keywords, patterns, triggers, samples) = triggers?;
    Some(Parsed {
        samples,
        id_line: raw.id.as_ref().map(|s| check.line_at(s.span().start)),
        fallback_line: check.line_of_key("fallback"),
        keywords,
        patterns,
        playbook: Playbook {
            id,
            title,
            priority,
            fallback: raw.fallback,
            bulk: raw.bulk,
            triggers,
            template: template_src,
            steps,
            remedies,
            escalation: escalation?,
            file: check.file.to_string(),
        },
    })
}

type CheckedTriggers = (Vec<String>, Vec<(String, Regex)>, Triggers, Samples);

fn check_triggers(check: &mut FileCheck<'_>, raw: &RawPlaybook) -> Option<CheckedTriggers> {
    let empty = RawTriggers::default();
    let t = raw.triggers.as_ref().map(|t| t.get_ref()).unwrap_or(&empty);
    let mut ok = true;
    let mut keywords = Vec::new();
    for k in &t.keywords {
        let text = k.get_ref().split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            ok = false;
            check.at(
                Some(k.span()),
                "empty keyword — remove it or write the words to look for".into(),
            );
        } else if !keywords
            .iter()
            .any(|seen: &String| seen.eq_ignore_ascii_case(&text))
        {
            keywords.push(text);
        }
    }
    let mut patterns = Vec::new();
    for p in &t.patterns {
        match Regex::new(&pattern_regex(p.get_ref())) {
            Ok(re) if p.get_ref().is_empty() || re.is_match("") => {
                ok = false;
                check.at(
                    Some(p.span()),
                    format!(
                        "pattern '{}' matches every text — make it require some words",
                        p.get_ref()
                    ),
                );
            }
            Ok(re) => patterns.push((p.get_ref().clone(), re)),
            Err(e) => {
                ok = false;
                let why = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("invalid")
                    .trim()
                    .to_string();
                check.at(
                    Some(p.span()),
                    format!("pattern '{}' is not a valid regex ({why}) — fix it; patterns use Rust regex syntax, write them in 'single quotes'", p.get_ref()),
                );
            }
        }
    }
    let mut networks = Vec::new();
    for n in &t.networks {
        match Network::parse(n.get_ref()) {
            Ok(net) => networks.push(net),
            Err(e) => {
                ok = false;
                check.at(
                    Some(n.span()),
                    format!("unknown network `{}` — {}", n.get_ref(), e.hint),
                );
            }
        }
    }
    let mut segments = Vec::new();
    for s in &t.segments {
        match Segment::parse(s.get_ref()) {
            Ok(seg) => segments.push(seg),
            Err(e) => {
                ok = false;
                check.at(
                    Some(s.span()),
                    format!("unknown segment `{}` — {}", s.get_ref(), e.hint),
                );
            }
        }
    }
    if !raw.fallback && t.keywords.is_empty() && t.patterns.is_empty() && t.examples.is_empty() {
        ok = false;
        let span = raw.triggers.as_ref().map(|t| t.span());
        check.at(
            span,
            "this playbook has no trigger, so it can never be suggested — add `keywords`, `patterns` or `examples` under `[triggers]`, or set `fallback = true`".into(),
        );
    }
    let samples = check_samples(check, t);
    let (true, Some(samples)) = (ok, samples) else {
        return None;
    };
    let triggers = Triggers {
        keywords: keywords.clone(),
        patterns: patterns.iter().map(|(p, _)| p.clone()).collect(),
        examples: samples.examples.iter().map(|e| e.text.clone()).collect(),
        exclude: samples.exclude.clone(),
        exclude_patterns: samples.exclude_patterns.iter().map(|(p, _)| p.clone()).collect(),
        networks,
        segments,
    };
    Some((keywords, patterns, triggers, samples))
}

fn check_template(
    check: &mut FileCheck<'_>,
    src: &str,
    env: &mut Environment<'static>,
    id: &str,
    t: &Spanned<String>,
) {
    let span = t.span();
    let raw = &src[span.clone()];
    // TOML drops a newline right after an opening `"""`, so template line 1 is one further down.
    let skipped = ["\"\"\"\n", "'''\n", "\"\"\"\r\n", "'''\r\n"]
        .iter()
        .any(|open| raw.starts_with(open));
    let first_line = check.line_at(span.start) + usize::from(skipped);
    for problem in template::add_checked(env, id, t.get_ref()) {
        let line = match (&problem.needle, problem.line_in_template) {
            (Some(needle), _) => raw.find(needle.as_str()).map(|at| check.line_at(span.start + at)),
            (None, Some(line)) => Some(first_line + line - 1),
            (None, None) => Some(check.line_at(span.start)),
        };
        check.errors.push(PlaybookError {
            file: check.file.to_string(),
            line,
            message: problem.message,
        });
    }
}

/// A limit as written (a number of units, decimals allowed) turned into hundredths.
fn amount(check: &mut FileCheck<'_>, value: &Spanned<f64>, what: &str) -> Option<Money> {
    let v = *value.get_ref();
    if !v.is_finite() || v < 0.0 {
        check.at(
            Some(value.span()),
            format!("{what} is {v}, a limit cannot be negative — use 0 to require approval for any amount"),
        );
        return None;
    }
    if v > 1e12 {
        check.at(
            Some(value.span()),
            format!("{what} is {v}, far too large — use a realistic amount"),
        );
        return None;
    }
    Some(Money((v * 100.0).round() as i64))
}

type RoleTable = [Option<Money>; 4];

fn role_table(
    check: &mut FileCheck<'_>,
    values: [&Option<Spanned<f64>>; 4],
    prefix: &str,
) -> (RoleTable, bool) {
    let mut table = [None; 4];
    let mut ok = true;
    for (i, value) in values.iter().enumerate() {
        if let Some(v) = value {
            let what = format!("limit `{prefix}{}`", Role::ALL[i]);
            match amount(check, v, &what) {
                Some(m) => table[i] = Some(m),
                None => ok = false,
            }
        }
    }
    (table, ok)
}

fn check_remedy(check: &mut FileCheck<'_>, r: &Spanned<RawRemedy>) -> Option<Remedy> {
    let raw = r.get_ref();
    let here = Some(r.span());
    let mut ok = true;
    let kind = match &raw.kind {
        None => {
            check.at(
                here.clone(),
                "remedy without `kind` — use credit, refund, fee_waiver, replacement or points".into(),
            );
            None
        }
        Some(k) => {
            let kind = RemedyKind::parse(k.get_ref());
            if kind.is_none() {
                check.at(
                    Some(k.span()),
                    format!(
                        "unknown remedy kind `{}` — use credit, refund, fee_waiver, replacement or points",
                        k.get_ref()
                    ),
                );
            }
            kind
        }
    };
    let label = match &raw.label {
        Some(l) if !l.get_ref().trim().is_empty() => l.get_ref().trim().to_string(),
        _ => {
            check.at(
                here.clone(),
                "remedy without `label` — name it as agents will see it, e.g. `label = \"Rental credit\"`"
                    .into(),
            );
            ok = false;
            String::new()
        }
    };
    let unit = match &raw.unit {
        Some(u) if !u.get_ref().trim().is_empty() && !u.get_ref().trim().contains(char::is_whitespace) => {
            u.get_ref().trim().to_string()
        }
        Some(u) => {
            check.at(
                Some(u.span()),
                format!(
                    "unit `{}` is not a single word — use a currency code such as USD, or `points`",
                    u.get_ref()
                ),
            );
            ok = false;
            String::new()
        }
        None if kind == Some(RemedyKind::Points) => "points".to_string(),
        None => "USD".to_string(),
    };
    let kind = kind?;
    let case_cap = match &raw.case_cap {
        None => None,
        Some(cap) => match amount(check, cap, "`case_cap`") {
            Some(Money(0)) => {
                check.at(
                    Some(cap.span()),
                    "`case_cap` is 0, so nothing could ever be granted — remove it or set the most one case may get".into(),
                );
                ok = false;
                None
            }
            Some(m) if crate::domain::offer::unit_decimals(&unit) == 0 && m.cents() % 100 != 0 => {
                check.at(
                    Some(cap.span()),
                    format!("`case_cap` has decimals but {unit} are whole — use a whole number"),
                );
                ok = false;
                None
            }
            Some(m) => Some(m),
            None => {
                ok = false;
                None
            }
        },
    };

    let empty = RawLimits::default();
    let limits_raw = raw.limits.as_ref().map(|l| l.get_ref()).unwrap_or(&empty);
    let (base, base_ok) = role_table(
        check,
        [
            &limits_raw.agent,
            &limits_raw.senior,
            &limits_raw.supervisor,
            &limits_raw.admin,
        ],
        "",
    );
    ok &= base_ok;
    // Omitted roles inherit the limit of the role below; agents default to 0 (always ask).
    let mut resolved_base = [Money(0); 4];
    for i in 0..4 {
        resolved_base[i] = base[i].unwrap_or(if i == 0 { Money(0) } else { resolved_base[i - 1] });
    }
    let base_span = raw.limits.as_ref().map(|l| l.span()).or(here);
    ok &= check_order(check, &resolved_base, base_span, "[remedies.limits]");

    let mut limits = BTreeMap::new();
    for segment in Segment::ALL {
        let over = match segment {
            Segment::Vip => &limits_raw.vip,
            Segment::Promising => &limits_raw.promising,
            Segment::Standard => &limits_raw.standard,
        };
        let mut table = resolved_base;
        if let Some(over) = over {
            let o = over.get_ref();
            let prefix = format!("{segment}.");
            let (t, t_ok) = role_table(check, [&o.agent, &o.senior, &o.supervisor, &o.admin], &prefix);
            ok &= t_ok;
            for (slot, value) in table.iter_mut().zip(t) {
                if let Some(m) = value {
                    *slot = m;
                }
            }
            // Admin keeps at least the supervisor's limit unless set explicitly.
            if t[3].is_none() && base[3].is_none() {
                table[3] = table[2];
            }
            let name = format!("[remedies.limits.{segment}]");
            ok &= check_order(check, &table, Some(over.span()), &name);
        }
        limits.insert(segment, Role::ALL.iter().copied().zip(table).collect());
    }
    ok.then_some(Remedy {
        kind,
        label,
        unit,
        case_cap,
        limits,
    })
}

/// Limits must not decrease from agent to admin: a senior may always do what an agent may.
fn check_order(
    check: &mut FileCheck<'_>,
    table: &[Money; 4],
    span: Option<Range<usize>>,
    name: &str,
) -> bool {
    for i in 1..4 {
        if table[i] < table[i - 1] {
            check.at(
                span,
                format!(
                    "limits in {name} decrease: {} may grant {} but {} only {} — limits must not decrease from agent to senior to supervisor to admin",
                    Role::ALL[i - 1],
                    table[i - 1],
                    Role::ALL[i],
                    table[i]
                ),
            );
            return false;
        }
    }
    true
}

fn role(check: &mut FileCheck<'_>, value: &Spanned<String>, key: &str) -> Option<Role> {
    match Role::parse(value.get_ref()) {
        Ok(r) => Some(r),
        Err(e) => {
            check.at(
                Some(value.span()),
                format!("unknown role `{}` in `{key}` — {}", value.get_ref(), e.hint),
            );
            None
        }
    }
}

/// The default for playbooks that offer no remedy and so never escalate on their own.
fn default_escalation() -> EscalationPolicy {
    EscalationPolicy {
        approver: Role::Supervisor,
        deadline_secs: None,
        on_timeout: OnTimeout::Deny,
    }
}

fn check_escalation(
    check: &mut FileCheck<'_>,
    raw: &RawPlaybook,
    remedies_given: bool,
) -> Option<EscalationPolicy> {
    let Some(esc) = &raw.escalation else {
        if !remedies_given {
            return Some(default_escalation());
        }
        check.at_key(
            "remedies",
            "remedies without `[escalation]` — say who approves more than an agent may grant: approver, deadline and on_timeout".into(),
        );
        return None;
    };
    let here = Some(esc.span());
    let e = esc.get_ref();
    let approver = match &e.approver {
        None => {
            check.at(here.clone(), "missing `escalation.approver` — name the role that decides, e.g. `approver = \"supervisor\"`".into());
            None
        }
        Some(a) => match role(check, a, "approver") {
            Some(Role::Agent) => {
                check.at(
                    Some(a.span()),
                    "an agent cannot approve escalations — use senior, supervisor or admin".into(),
                );
                None
            }
            r => r,
        },
    };
    // Without a deadline, the one configured for the case's priority applies.
    let deadline_secs = match &e.deadline {
        None => Some(None),
        Some(d) => {
            let secs = parse_duration(d.get_ref());
            if secs.is_none() {
                check.at(
                    Some(d.span()),
                    format!(
                        "deadline `{}` is not a duration — use a number and a unit: 30m, 4h, 2d (or 1h30m)",
                        d.get_ref()
                    ),
                );
            }
            secs.map(Some)
        }
    };
    let on_timeout = match &e.on_timeout {
        None => {
            check.at(here, "missing `escalation.on_timeout` — say what happens at the deadline: next_tier, grant_up_to or deny".into());
            None
        }
        Some(t) => match t.get_ref().trim() {
            "deny" => Some(OnTimeout::Deny),
            "grant_up_to" => match &e.cap {
                None => {
                    check.at(Some(t.span()), "`on_timeout = \"grant_up_to\"` needs `cap` — add the amount granted when nobody decides, e.g. `cap = 150`".into());
                    None
                }
                Some(cap) => amount(check, cap, "`cap`").map(|cap| OnTimeout::GrantUpTo { cap }),
            },
            "next_tier" => match &e.next_approver {
                None => {
                    check.at(Some(t.span()), "`on_timeout = \"next_tier\"` needs `next_approver` — add the role asked next, e.g. `next_approver = \"admin\"`".into());
                    None
                }
                Some(next) => match (role(check, next, "next_approver"), approver) {
                    (Some(next_role), Some(first)) if next_role <= first => {
                        check.at(
                            Some(next.span()),
                            format!("next_approver `{next_role}` is not above approver `{first}` — the next tier must be a higher role"),
                        );
                        None
                    }
                    (Some(next_role), _) => Some(OnTimeout::NextTier { approver: next_role }),
                    (None, _) => None,
                },
            },
            other => {
                check.at(
                    Some(t.span()),
                    format!("unknown on_timeout `{other}` — use next_tier, grant_up_to or deny"),
                );
                None
            }
        },
    };
    Some(EscalationPolicy {
        approver: approver?,
        deadline_secs: deadline_secs?,
        on_timeout: on_timeout?,
    })
}

/// Parses `30m`, `4h`, `2d`, `1w`, `90s` or combinations such as `1h30m` into seconds.
pub fn parse_duration(input: &str) -> Option<i64> {
    let mut rest = input.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 604_800,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        rest = rest[unit_len..].trim_start();
    }
    (total > 0).then_some(total)
}

/// Turns parsed playbooks into the trigger list of the set, in playbook order.
pub(crate) fn triggers_of(parsed: &[Parsed]) -> Vec<Trigger> {
    let mut out = Vec::new();
    for (i, p) in parsed.iter().enumerate() {
        for k in &p.keywords {
            out.push(Trigger {
                playbook: i,
                kind: TriggerKind::Keyword,
                text: k.clone(),
                regex: None,
            });
        }
        for (text, re) in &p.patterns {
            out.push(Trigger {
                playbook: i,
                kind: TriggerKind::Pattern,
                text: text.clone(),
                regex: Some(re.clone()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::PlaybookSet;
    use super::*;

    const GOOD: &str = r#"id = "good"
title = "Good"
[triggers]
keywords = ["alpha"]
[reply]
template = "Hi {{ customer.name }}"
[[remedies]]
kind = "credit"
label = "Credit"
[remedies.limits]
agent = 10
senior = 20
supervisor = 30
[escalation]
approver = "supervisor"
deadline = "4h"
on_timeout = "deny"
"#;

    /// Loads `GOOD` with `from` replaced by `to`, as `bad.toml`, and returns its errors.
    fn errors_with(from: &str, to: &str) -> Vec<PlaybookError> {
        assert!(GOOD.contains(from), "test setup: `{from}` is not in GOOD");
        let text = GOOD.replacen(from, to, 1);
        match PlaybookSet::from_sources(&[("playbooks/bad.toml".to_string(), text)]) {
            Ok(_) => panic!("`{to}` was accepted"),
            Err(PlaybookErrors(errors)) => errors,
        }
    }

    /// The single error, checked to be in bad.toml at `line` and to mention every `needle`.
    fn one_error(from: &str, to: &str, line: usize, needles: &[&str]) {
        let errors = errors_with(from, to);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        let e = &errors[0];
        assert_eq!(
            (e.file.as_str(), e.line),
            ("playbooks/bad.toml", Some(line)),
            "{e}"
        );
        for needle in needles {
            assert!(e.message.contains(needle), "`{needle}` missing in: {e}");
        }
        assert!(e.message.contains(" — "), "says what to fix: {e}");
    }

    #[test]
    fn the_good_example_loads() {
        PlaybookSet::from_sources(&[("good.toml".into(), GOOD.into())]).unwrap();
    }

    #[test]
    fn bad_toml_is_reported_at_its_line() {
        one_error(
            "keywords = [\"alpha\"]",
            "keywords = [\"alpha\"",
            5,
            &["expected"],
        );
    }

    #[test]
    fn unknown_keys_are_reported_so_typos_do_not_pass_silently() {
        one_error("keywords =", "keyword =", 4, &["keyword"]);
    }

    #[test]
    fn missing_required_fields_are_reported() {
        let errors = errors_with("title = \"Good\"\n", "");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("missing `title`"), "{}", errors[0]);
        one_error(
            "approver = \"supervisor\"\n",
            "",
            14,
            &["missing `escalation.approver`"],
        );
    }

    #[test]
    fn without_a_deadline_the_configured_one_for_the_priority_applies() {
        let text = GOOD.replacen("deadline = \"4h\"\n", "", 1);
        let set = PlaybookSet::from_sources(&[("good.toml".into(), text)]).unwrap();
        assert_eq!(set.get("good").unwrap().escalation.deadline_secs, None);
    }

    #[test]
    fn a_case_cap_is_read_and_a_repeated_remedy_kind_is_refused() {
        let capped = GOOD.replacen("label = \"Credit\"\n", "label = \"Credit\"\ncase_cap = 200\n", 1);
        let set = PlaybookSet::from_sources(&[("good.toml".into(), capped)]).unwrap();
        assert_eq!(set.get("good").unwrap().remedies[0].case_cap, Some(Money(20_000)));
        let twice = GOOD.replacen(
            "[escalation]",
            "[[remedies]]\nkind = \"credit\"\nlabel = \"Again\"\n[escalation]",
            1,
        );
        let errors = match PlaybookSet::from_sources(&[("bad.toml".into(), twice)]) {
            Ok(_) => panic!("accepted"),
            Err(PlaybookErrors(e)) => e,
        };
        assert!(
            errors[0].message.contains("a second `credit` remedy"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_bad_regex_is_named() {
        one_error(
            "keywords = [\"alpha\"]",
            "keywords = [\"alpha\"]\npatterns = ['ok', 'broken(']",
            5,
            &["'broken('", "not a valid regex"],
        );
    }

    #[test]
    fn an_unknown_template_variable_is_named_with_the_allowed_ones() {
        one_error(
            "template = \"Hi {{ customer.name }}\"",
            "template = \"\"\"\nHi {{ customer.name }},\nyour {{ customer.nmae }}\"\"\"",
            8,
            &["`customer.nmae`", "customer.handle", "mention.network"],
        );
    }

    #[test]
    fn a_template_syntax_error_is_reported_at_its_line() {
        one_error(
            "template = \"Hi {{ customer.name }}\"",
            "template = \"\"\"\nHi {{ customer.name }},\nsee {% if %}\"\"\"",
            8,
            &["syntax error"],
        );
    }

    #[test]
    fn a_template_that_fails_to_render_is_refused() {
        one_error(
            "{{ customer.name }}",
            "{{ customer.name | no_such_filter }}",
            6,
            &["fails to render"],
        );
    }

    #[test]
    fn negative_limits_are_refused() {
        one_error("agent = 10", "agent = -10", 11, &["cannot be negative"]);
    }

    #[test]
    fn limits_that_decrease_by_role_are_refused() {
        one_error("senior = 20", "senior = 5", 10, &["senior", "decrease"]);
        one_error(
            "supervisor = 30\n",
            "supervisor = 30\n[remedies.limits.vip]\nagent = 40\n",
            14,
            &["[remedies.limits.vip]", "decrease"],
        );
    }

    #[test]
    fn an_unknown_segment_in_limits_is_refused() {
        one_error(
            "supervisor = 30\n",
            "supervisor = 30\n[remedies.limits.gold]\nagent = 4\n",
            14,
            &["gold"],
        );
    }

    #[test]
    fn grant_up_to_needs_a_cap() {
        one_error(
            "on_timeout = \"deny\"",
            "on_timeout = \"grant_up_to\"",
            17,
            &["needs `cap`"],
        );
    }

    #[test]
    fn next_tier_needs_a_higher_next_approver() {
        one_error(
            "on_timeout = \"deny\"",
            "on_timeout = \"next_tier\"",
            17,
            &["needs `next_approver`"],
        );
        one_error(
            "on_timeout = \"deny\"",
            "on_timeout = \"next_tier\"\nnext_approver = \"senior\"",
            18,
            &["not above"],
        );
    }

    #[test]
    fn unknown_roles_segments_and_networks_are_refused() {
        one_error(
            "approver = \"supervisor\"",
            "approver = \"boss\"",
            15,
            &["unknown role `boss`"],
        );
        one_error(
            "keywords = [\"alpha\"]",
            "keywords = [\"alpha\"]\nsegments = [\"gold\"]",
            5,
            &["unknown segment `gold`"],
        );
        one_error(
            "keywords = [\"alpha\"]",
            "keywords = [\"alpha\"]\nnetworks = [\"my space\"]",
            5,
            &["unknown network `my space`"],
        );
    }

    #[test]
    fn an_unparsable_deadline_is_refused() {
        one_error(
            "deadline = \"4h\"",
            "deadline = \"soon\"",
            16,
            &["`soon`", "30m, 4h, 2d"],
        );
    }

    #[test]
    fn a_playbook_without_triggers_is_refused_unless_it_is_the_fallback() {
        one_error("keywords = [\"alpha\"]", "keywords = []", 3, &["no trigger"]);
        let fallback =
            GOOD.replacen("keywords = [\"alpha\"]", "", 1)
                .replacen("title", "fallback = true\ntitle", 1);
        PlaybookSet::from_sources(&[("f.toml".into(), fallback)]).unwrap();
    }

    #[test]
    fn duplicate_ids_and_a_second_fallback_are_reported_in_the_later_file() {
        let fallback = GOOD.replacen("title", "fallback = true\ntitle", 1);
        let other = fallback.replacen("id = \"good\"", "id = \"other\"", 1);
        let sources = [
            ("playbooks/a.toml".to_string(), fallback.clone()),
            ("playbooks/b.toml".to_string(), fallback),
            ("playbooks/c.toml".to_string(), other),
        ];
        let PlaybookErrors(errors) = PlaybookSet::from_sources(&sources).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 3, "{shown:#?}");
        assert!(
            shown[0]
                .starts_with("playbooks/b.toml:1: duplicate id `good`, already used in playbooks/a.toml:1"),
            "{}",
            shown[0]
        );
        assert!(
            shown[1].starts_with("playbooks/b.toml:2: a second fallback"),
            "{}",
            shown[1]
        );
        assert!(
            shown[2].starts_with("playbooks/c.toml:2: a second fallback"),
            "{}",
            shown[2]
        );
    }

    #[test]
    fn all_errors_of_all_files_are_collected_one_per_line() {
        let a = GOOD.replacen("agent = 10", "agent = -1", 1).replacen(
            "deadline = \"4h\"",
            "deadline = \"4 parsecs\"",
            1,
        );
        let b = GOOD.replacen("id = \"good\"", "id = \"Bad Id\"", 1);
        let err = PlaybookSet::from_sources(&[("a.toml".into(), a), ("b.toml".into(), b)]).unwrap_err();
        let text = err.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("a.toml:11: limit `agent` is -1"), "{text}");
        assert!(lines[1].starts_with("a.toml:16: deadline `4 parsecs`"), "{text}");
        assert!(
            lines[2].starts_with("b.toml:1: id `Bad Id` is not kebab-case"),
            "{text}"
        );
    }

    #[test]
    fn an_unreadable_folder_is_an_error() {
        let err = PlaybookSet::load_dir(std::path::Path::new("/no/such/playbooks")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/no/such/playbooks: cannot read the playbook folder"),
            "{err}"
        );
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("30m"), Some(1800));
        assert_eq!(parse_duration("4h"), Some(14_400));
        assert_eq!(parse_duration("2d"), Some(172_800));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("0h"), None);
        assert_eq!(parse_duration("4"), None);
        assert_eq!(parse_duration("h"), None);
    }
}
