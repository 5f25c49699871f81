//! Reply templates: the variables they may use, the load-time check and rendering.

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// Every variable a reply template may use; anything else is refused when playbooks load.
pub const ALLOWED_VARIABLES: [&str; 13] = [
    "customer.handle",
    "customer.name",
    "customer.network",
    "customer.segment",
    "case.id",
    "case.priority",
    "case.status",
    "case.category",
    "case.granted",
    "agent.name",
    "mention.text",
    "mention.url",
    "mention.network",
];

/// Variables for templates; every field is a `String`, already formatted for display.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TemplateVars {
    pub customer: CustomerVars,
    pub case: CaseVars,
    pub agent: AgentVars,
    pub mention: MentionVars,
}

/// `customer.*` template variables.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CustomerVars {
    pub handle: String,
    pub name: String,
    pub network: String,
    pub segment: String,
}

/// `case.*` template variables; `category` is set to the playbook id by `suggest`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaseVars {
    pub id: String,
    pub priority: String,
    pub status: String,
    pub category: String,
    /// What was granted on the case so far (`Rental credit: 50 USD; ...`), empty if nothing.
    pub granted: String,
}

/// `agent.*` template variables.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AgentVars {
    pub name: String,
}

/// `mention.*` template variables.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MentionVars {
    pub text: String,
    pub url: String,
    pub network: String,
}

impl TemplateVars {
    /// Plausible values used to render every template once when playbooks load.
    pub fn sample() -> Self {
        TemplateVars {
            customer: CustomerVars {
                handle: "@dana_travels".into(),
                name: "Dana".into(),
                network: "twitter".into(),
                segment: "vip".into(),
            },
            case: CaseVars {
                id: "#12".into(),
                priority: "P2".into(),
                status: "open".into(),
                category: "roadside-breakdown".into(),
                granted: "Waive tyre and towing charges: 120 USD".into(),
            },
            agent: AgentVars { name: "Sam".into() },
            mention: MentionVars {
                text: "Flat tyre on the way to a meeting, rental car, no help".into(),
                url: "https://x.com/dana_travels/status/1".into(),
                network: "twitter".into(),
            },
        }
    }
}

/// The rendering environment: strict about undefined values, no HTML escaping
/// (replies are chat text; escaping for Discord markdown is the adapter's job).
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

/// What is wrong with a template, with the line inside the template when known.
#[derive(Debug)]
pub(crate) struct TemplateProblem {
    pub line_in_template: Option<usize>,
    /// Text to look for in the source to find the line (an unknown variable's name).
    pub needle: Option<String>,
    pub message: String,
}

/// Adds `source` to `env` under `name`, then checks its variables and renders it once with
/// sample values. On success the template stays in `env`; on failure it is removed.
pub(crate) fn add_checked(env: &mut Environment<'static>, name: &str, source: &str) -> Vec<TemplateProblem> {
    if let Err(err) = env.add_template_owned(name.to_string(), source.to_string()) {
        return vec![TemplateProblem {
            line_in_template: err.line(),
            needle: None,
            message: format!(
                "reply template has a syntax error: {} — fix the template (minijinja syntax: {{{{ customer.name }}}})",
                describe(&err)
            ),
        }];
    }
    let template = env.get_template(name).expect("template was just added");
    let mut unknown: Vec<String> = template
        .undeclared_variables(true)
        .into_iter()
        .filter(|v| !ALLOWED_VARIABLES.contains(&v.as_str()))
        .collect();
    unknown.sort();
    let mut problems: Vec<TemplateProblem> = unknown
        .into_iter()
        .map(|v| TemplateProblem {
            line_in_template: None,
            message: format!(
                "unknown template variable `{v}` — use only: {}",
                ALLOWED_VARIABLES.join(", ")
            ),
            needle: Some(v),
        })
        .collect();
    if problems.is_empty() {
        if let Err(err) = template.render(TemplateVars::sample()) {
            problems.push(TemplateProblem {
                line_in_template: err.line(),
                needle: None,
                message: format!(
                    "reply template fails to render with sample values: {} — check filters and variable names",
                    describe(&err)
                ),
            });
        }
    }
    if !problems.is_empty() {
        env.remove_template(name);
    }
    problems
}

/// Renders a checked template; the result is trimmed.
pub(crate) fn render(env: &Environment<'static>, name: &str, vars: &TemplateVars) -> Result<String, String> {
    let template = env.get_template(name).map_err(|e| describe(&e))?;
    template
        .render(vars)
        .map(|s| s.trim().to_string())
        .map_err(|e| describe(&e))
}

fn describe(err: &minijinja::Error) -> String {
    match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    }
}
