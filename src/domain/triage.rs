//! Triage: priority from keyword rules, customer segment and reach.
//!
//! Rules are regexes (case-insensitive unless a pattern says `(?-i)`) compiled into one
//! [`RegexSet`], so the cost of triage does not grow with the number of rules. Every step that
//! changes the priority is recorded as a human-readable reason for the case card.

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::{Deserialize, Deserializer, Serialize};

use super::types::{Priority, Segment};

/// Followers from which a mention is raised one step.
pub const REACH_RAISE: u64 = 10_000;
/// Followers from which a mention is at least P2.
pub const REACH_AT_LEAST_P2: u64 = 100_000;

/// The priority when no rule and no playbook says otherwise.
const BASELINE: Priority = Priority::P3;

/// A keyword rule from the TOML config under `[[triage.rules]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriageRuleConfig {
    /// Unique name, shown in the reasons (`rule "legal-threat" matched "lawyer"`).
    pub name: String,
    /// Regex, case-insensitive by default.
    pub pattern: String,
    /// `P1`..`P4` (also accepts `p1`, `urgent`, `high`, `normal`, `low`).
    #[serde(deserialize_with = "priority_from_str")]
    pub priority: Priority,
}

fn priority_from_str<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Priority, D::Error> {
    let raw = String::deserialize(deserializer)?;
    Priority::parse(&raw).map_err(serde::de::Error::custom)
}

/// Error in a triage rule: names the rule and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TriageConfigError {
    #[error("a triage rule has an empty `name`: give every [[triage.rules]] entry a unique name")]
    EmptyName,
    #[error("triage rule `{rule}` is defined twice: give each rule a unique name")]
    DuplicateName { rule: String },
    #[error("triage rule `{rule}`: pattern `{pattern}` is not a valid regex; fix the pattern:\n{source}")]
    BadRegex {
        rule: String,
        pattern: String,
        #[source]
        source: regex::Error,
    },
    #[error("triage rule `{rule}`: pattern `{pattern}` matches empty text, so it would match every mention; make it require some words")]
    MatchesEverything { rule: String, pattern: String },
    #[error("triage rules are too large to compile together; use fewer or simpler patterns:\n{source}")]
    TooLarge {
        #[source]
        source: regex::Error,
    },
}

/// The outcome of triage: a priority and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Triage {
    pub priority: Priority,
    /// One line per step that set or changed the priority, in order.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    priority: Priority,
    /// The rule alone, to quote what matched in the reason.
    regex: Regex,
}

/// Compiled triage rules; cheap to clone and share between threads.
#[derive(Debug, Clone)]
pub struct TriageRules {
    set: RegexSet,
    rules: Vec<Rule>,
}

impl TriageRules {
    /// Compiles the rules, refusing bad regexes, duplicate names and patterns matching anything.
    pub fn new(rules: &[TriageRuleConfig]) -> Result<Self, TriageConfigError> {
        let mut compiled: Vec<Rule> = Vec::with_capacity(rules.len());
        for config in rules {
            let name = config.name.trim().to_string();
            if name.is_empty() {
                return Err(TriageConfigError::EmptyName);
            }
            if compiled.iter().any(|r| r.name == name) {
                return Err(TriageConfigError::DuplicateName { rule: name });
            }
            let regex = RegexBuilder::new(&config.pattern)
                .case_insensitive(true)
                .build()
                .map_err(|source| TriageConfigError::BadRegex {
                    rule: name.clone(),
                    pattern: config.pattern.clone(),
                    source,
                })?;
            if regex.is_match("") {
                return Err(TriageConfigError::MatchesEverything {
                    rule: name,
                    pattern: config.pattern.clone(),
                });
            }
            compiled.push(Rule {
                name,
                priority: config.priority,
                regex,
            });
        }
        let set = RegexSetBuilder::new(rules.iter().map(|r| &r.pattern))
            .case_insensitive(true)
            .build()
            .map_err(|source| TriageConfigError::TooLarge { source })?;
        Ok(TriageRules { set, rules: compiled })
    }

    /// The shipped rules: `legal-threat`, `safety`, `data-breach` (P1); `stranded`,
    /// `cancellation`, `public-outrage`, `regulator` (P2).
    pub fn default_rules() -> Vec<TriageRuleConfig> {
        let rule = |name: &str, priority: Priority, pattern: &str| TriageRuleConfig {
            name: name.into(),
            pattern: pattern.into(),
            priority,
        };
        vec![
            rule(
                "legal-threat",
                Priority::P1,
                concat!(
                    r"\b(?:lawyers?|attorneys?|lawsuits?|suing|small[- ]claims|legal action|class[- ]action|solicitors?|see you in court|",
                    r"(?:will|gonna|going to|to|and|i'?ll|we'?ll) sue|sue (?:you|your|them|the|this|for))\b",
                ),
            ),
            rule(
                "safety",
                Priority::P1,
                concat!(
                    r"\b(?:unsafe|dangerous|injured|injury|injuries|bleeding|(?:caught|catching|on) fire|fire (?:alarm|hazard)|smoke|",
                    r"burn(?:ed|t|s)|carbon monoxide|gas leak|(?:an|the|car|road|traffic) accident|explod(?:ed|ing)|sparks|",
                    r"electric(?:al)? shock|ambulance|hospital|allergic reaction|food poisoning|choking|",
                    r"stranded\b[^.!?\n]{0,40}\b(?:night|dark|alone|highway|motorway|freeway|kids?|children|baby))\b",
                ),
            ),
            rule(
                "data-breach",
                Priority::P1,
                concat!(
                    r"\b(?:data (?:breach|leak)|hacked|identity theft|privacy (?:breach|violation)|gdpr|",
                    r"my (?:personal )?(?:data|details|information|info|card) (?:was|were|is|are|has been|have been|got) (?:leaked|exposed|stolen|shared|sold)|",
                    r"someone (?:else )?(?:logged|got|accessed) (?:in ?to |into )?my account)\b",
                ),
            ),
            rule("stranded", Priority::P2, r"\bstranded\b"),
            rule(
                "cancellation",
                Priority::P2,
                concat!(
                    r"\b(?:cancel(?:l?ing)? my (?:account|subscription|membership|contract|plan)|",
                    r"(?:close|closing|delete|deleting) my account|switching (?:over )?to|taking my (?:business|money) elsewhere|",
                    r"leaving (?:you )?for)\b",
                ),
            ),
            rule(
                "public-outrage",
                Priority::P2,
                concat!(
                    r"\b(?:never again|worst|scam(?:mers?|med)?|fraud(?:ulent)?|rip(?:ped)?[- ]?off|bbb|better business bureau|",
                    r"report(?:ing)? you|thanks for nothing|disgusting|disgrace(?:ful)?|unacceptable|boycott|tell everyone)\b",
                ),
            ),
            rule(
                "regulator",
                Priority::P2,
                r"\b(?:ftc|cfpb|fcc|ombudsman|trading standards|consumer protection|attorney general)\b",
            ),
        ]
    }

    /// Priority = the most urgent of the matching rules and the playbook's default priority;
    /// baseline P3 when neither says anything. Then the segment: vip raises one step,
    /// promising raises one step only from P4. Then reach: from 10 000 followers one step up,
    /// from 100 000 at least P2. Never above P1.
    pub fn triage(
        &self,
        text: &str,
        segment: Segment,
        followers: Option<u64>,
        playbook_priority: Option<Priority>,
    ) -> Triage {
        let mut reasons = Vec::new();
        let mut decided: Option<Priority> = None;
        for index in self.set.matches(text).iter() {
            let rule = &self.rules[index];
            let matched = rule.regex.find(text).map_or("", |m| m.as_str());
            reasons.push(format!(
                "rule \"{}\" matched \"{}\" ({})",
                rule.name,
                quote(matched),
                rule.priority
            ));
            decided = Some(decided.map_or(rule.priority, |p| p.min(rule.priority)));
        }
        if let Some(playbook) = playbook_priority {
            reasons.push(format!("playbook default {playbook}"));
            decided = Some(decided.map_or(playbook, |p| p.min(playbook)));
        }
        let mut priority = decided.unwrap_or_else(|| {
            reasons.push(format!("no rule matched: baseline {BASELINE}"));
            BASELINE
        });

        let by_segment = match segment {
            Segment::Vip => priority.raised(),
            Segment::Promising if priority == Priority::P4 => priority.raised(),
            Segment::Promising | Segment::Standard => priority,
        };
        if by_segment != priority {
            reasons.push(format!("{segment} customer: raised to {by_segment}"));
            priority = by_segment;
        }

        if let Some(followers) = followers.filter(|f| *f >= REACH_RAISE) {
            let raised = priority.raised();
            let by_reach = if followers >= REACH_AT_LEAST_P2 {
                raised.min(Priority::P2)
            } else {
                raised
            };
            if by_reach != priority {
                if followers >= REACH_AT_LEAST_P2 && by_reach == Priority::P2 {
                    reasons.push(format!("reach {followers} followers: at least P2"));
                } else {
                    reasons.push(format!("reach {followers} followers: raised to {by_reach}"));
                }
                priority = by_reach;
            }
        }
        Triage { priority, reasons }
    }
}

/// The matched words for a reason line: one line, at most 60 characters.
fn quote(matched: &str) -> String {
    let one_line = matched.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> &'static TriageRules {
        static RULES: std::sync::OnceLock<TriageRules> = std::sync::OnceLock::new();
        RULES.get_or_init(|| TriageRules::new(&TriageRules::default_rules()).unwrap())
    }

    fn priority(text: &str) -> Priority {
        rules().triage(text, Segment::Standard, None, None).priority
    }

    #[test]
    fn legal_threats_are_p1() {
        let t = rules().triage(
            "Talking to my LAWYER about this tomorrow",
            Segment::Standard,
            None,
            None,
        );
        assert_eq!(t.priority, Priority::P1);
        assert_eq!(t.reasons, ["rule \"legal-threat\" matched \"LAWYER\" (P1)"]);
        assert_eq!(priority("I will sue you"), Priority::P1);
        assert_eq!(priority("see you in small claims court"), Priority::P1);
        assert_eq!(priority("my attorney has the receipts"), Priority::P1);
        assert_eq!(priority("Sue at the front desk was lovely"), Priority::P3);
    }

    #[test]
    fn safety_issues_are_p1() {
        assert_eq!(priority("there is smoke coming from the dashboard"), Priority::P1);
        assert_eq!(
            priority("stranded on the highway at night with two kids"),
            Priority::P1
        );
        assert_eq!(
            priority("carbon monoxide alarm went off in the room"),
            Priority::P1
        );
        assert_eq!(priority("my son was injured by the seat"), Priority::P1);
        assert_eq!(priority("the app crashed again"), Priority::P3);
    }

    #[test]
    fn being_stranded_by_day_is_p2() {
        let t = rules().triage("stranded at the airport, no car", Segment::Standard, None, None);
        assert_eq!(t.priority, Priority::P2);
        assert_eq!(t.reasons, ["rule \"stranded\" matched \"stranded\" (P2)"]);
    }

    #[test]
    fn data_breaches_are_p1() {
        assert_eq!(
            priority("my personal data was leaked in your emails"),
            Priority::P1
        );
        assert_eq!(
            priority("someone logged into my account from Brazil"),
            Priority::P1
        );
    }

    #[test]
    fn cancellations_and_public_outrage_are_p2() {
        assert_eq!(priority("please close my account"), Priority::P2);
        assert_eq!(priority("switching to Hertz next time"), Priority::P2);
        assert_eq!(priority("Worst. Service. Ever."), Priority::P2);
        assert_eq!(priority("this is a scam, reporting you to the BBB"), Priority::P2);
        assert_eq!(priority("filing with the FTC"), Priority::P2);
    }

    #[test]
    fn the_most_urgent_matching_rule_wins_and_every_match_is_explained() {
        let t = rules().triage(
            "worst company, my lawyer will hear of it",
            Segment::Standard,
            None,
            None,
        );
        assert_eq!(t.priority, Priority::P1);
        assert_eq!(
            t.reasons,
            [
                "rule \"legal-threat\" matched \"lawyer\" (P1)",
                "rule \"public-outrage\" matched \"worst\" (P2)"
            ]
        );
    }

    #[test]
    fn nothing_matched_gives_the_baseline() {
        let t = rules().triage("where is my parcel?", Segment::Standard, None, None);
        assert_eq!(
            t,
            Triage {
                priority: Priority::P3,
                reasons: vec!["no rule matched: baseline P3".into()]
            }
        );
    }

    #[test]
    fn the_playbook_default_counts_like_a_rule() {
        let t = rules().triage("where is my parcel?", Segment::Standard, None, Some(Priority::P2));
        assert_eq!(t.priority, Priority::P2);
        assert_eq!(t.reasons, ["playbook default P2"]);
        let t = rules().triage("my lawyer says", Segment::Standard, None, Some(Priority::P4));
        assert_eq!(t.priority, Priority::P1);
        let t = rules().triage("love the new app", Segment::Standard, None, Some(Priority::P4));
        assert_eq!(
            t.priority,
            Priority::P4,
            "a praise playbook may lower below the baseline"
        );
    }

    #[test]
    fn a_vip_is_raised_one_step() {
        let t = rules().triage("where is my parcel?", Segment::Vip, None, None);
        assert_eq!(t.priority, Priority::P2);
        assert_eq!(
            t.reasons,
            ["no rule matched: baseline P3", "vip customer: raised to P2"]
        );
        let t = rules().triage("my lawyer", Segment::Vip, None, None);
        assert_eq!(t.priority, Priority::P1);
        assert_eq!(t.reasons.len(), 1, "nothing to raise at P1: {:?}", t.reasons);
    }

    #[test]
    fn a_promising_customer_is_raised_only_from_p4() {
        let t = rules().triage("love it", Segment::Promising, None, Some(Priority::P4));
        assert_eq!(t.priority, Priority::P3);
        assert_eq!(
            t.reasons,
            ["playbook default P4", "promising customer: raised to P3"]
        );
        assert_eq!(
            rules()
                .triage("where is it", Segment::Promising, None, None)
                .priority,
            Priority::P3
        );
    }

    #[test]
    fn reach_raises_a_step_and_a_big_audience_is_at_least_p2() {
        let t = rules().triage("where is my parcel?", Segment::Standard, Some(12_000), None);
        assert_eq!(t.priority, Priority::P2);
        assert_eq!(t.reasons[1], "reach 12000 followers: raised to P2");
        assert_eq!(
            rules()
                .triage("hi", Segment::Standard, Some(9_999), None)
                .priority,
            Priority::P3
        );

        let t = rules().triage("love it", Segment::Standard, Some(120_000), Some(Priority::P4));
        assert_eq!(t.priority, Priority::P2);
        assert_eq!(t.reasons[1], "reach 120000 followers: at least P2");

        let t = rules().triage("worst", Segment::Standard, Some(120_000), None);
        assert_eq!(t.priority, Priority::P1);
        assert_eq!(t.reasons[1], "reach 120000 followers: raised to P1");
    }

    #[test]
    fn segment_and_reach_together_never_go_above_p1() {
        let t = rules().triage("worst", Segment::Vip, Some(1_000_000), None);
        assert_eq!(t.priority, Priority::P1);
        assert_eq!(
            t.reasons,
            [
                "rule \"public-outrage\" matched \"worst\" (P2)",
                "vip customer: raised to P1"
            ]
        );
    }

    #[test]
    fn a_long_match_is_quoted_on_one_short_line() {
        let r = TriageRules::new(&[TriageRuleConfig {
            name: "long".into(),
            pattern: r"(?s)broken.*".into(),
            priority: Priority::P2,
        }])
        .unwrap();
        let t = r.triage(
            &format!("broken\n{}", "x".repeat(200)),
            Segment::Standard,
            None,
            None,
        );
        assert_eq!(
            t.reasons[0],
            format!("rule \"long\" matched \"broken {}…\" (P2)", "x".repeat(53))
        );
    }

    #[test]
    fn odd_and_huge_text_is_triaged_without_panicking() {
        let huge = format!("{}lawsuit", "ok 👩\u{200d}👩 \u{200f}".repeat(10_000));
        assert_eq!(priority(&huge), Priority::P1);
        assert_eq!(priority(""), Priority::P3);
    }

    #[test]
    fn rules_can_be_case_sensitive_on_request() {
        let r = TriageRules::new(&[TriageRuleConfig {
            name: "bbb".into(),
            pattern: r"(?-i)\bBBB\b".into(),
            priority: Priority::P2,
        }])
        .unwrap();
        assert_eq!(
            r.triage("BBB complaint", Segment::Standard, None, None).priority,
            Priority::P2
        );
        assert_eq!(
            r.triage("bbb", Segment::Standard, None, None).priority,
            Priority::P3
        );
    }

    #[test]
    fn a_bad_regex_is_refused_naming_the_rule() {
        let err = TriageRules::new(&[TriageRuleConfig {
            name: "legal".into(),
            pattern: "(lawyer".into(),
            priority: Priority::P1,
        }])
        .unwrap_err();
        assert!(matches!(err, TriageConfigError::BadRegex { ref rule, .. } if rule == "legal"));
        assert!(
            err.to_string()
                .starts_with("triage rule `legal`: pattern `(lawyer` is not a valid regex"),
            "{err}"
        );
    }

    #[test]
    fn invalid_rules_are_refused_with_what_to_fix() {
        let rule = |name: &str, pattern: &str| TriageRuleConfig {
            name: name.into(),
            pattern: pattern.into(),
            priority: Priority::P2,
        };
        let err = |rules: &[TriageRuleConfig]| TriageRules::new(rules).unwrap_err().to_string();
        assert!(err(&[rule("", "x")]).contains("empty `name`"));
        assert!(err(&[rule("a", "x"), rule("a", "y")]).contains("`a` is defined twice"));
        assert!(err(&[rule("greedy", "a*")]).contains("`greedy`: pattern `a*` matches empty text"));
        assert!(TriageRules::new(&[]).is_ok());
    }

    #[test]
    fn a_rule_is_written_in_toml_like_this() {
        let rule: TriageRuleConfig = toml::from_str(
            r#"
            name = "outage"
            pattern = '\b(?:down|outage|not loading)\b'
            priority = "p2"
            "#,
        )
        .unwrap();
        assert_eq!(rule.priority, Priority::P2);
        let r = TriageRules::new(&[rule]).unwrap();
        assert_eq!(
            r.triage("site is DOWN", Segment::Standard, None, None).priority,
            Priority::P2
        );
        let bad = toml::from_str::<TriageRuleConfig>("name = \"x\"\npattern = \"y\"\npriority = \"P9\"")
            .unwrap_err();
        assert!(
            bad.to_string().contains("use P1 (most urgent), P2, P3 or P4"),
            "{bad}"
        );
    }

    #[test]
    fn the_default_rules_round_trip_through_toml() {
        #[derive(Serialize, Deserialize)]
        struct Triage {
            rules: Vec<TriageRuleConfig>,
        }
        let text = toml::to_string(&Triage {
            rules: TriageRules::default_rules(),
        })
        .unwrap();
        let back: Triage = toml::from_str(&text).unwrap();
        assert_eq!(back.rules, TriageRules::default_rules());
    }

    #[test]
    fn triage_rules_can_be_shared_between_threads() {
        fn shareable<T: Clone + std::fmt::Debug + Send + Sync>() {}
        shareable::<TriageRules>();
    }
}
