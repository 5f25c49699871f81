//! Offers: may this person grant this remedy, for this amount, on their own?
//!
//! One pure check, [`check_offer`], weighs every limit at once: the role's limit for the
//! customer's segment (from the playbook), the remedy's cap per case (`case_cap`), and the
//! person's daily budget per unit (from config, over a day that starts at midnight in the
//! budget's timezone). Within all of them the offer is granted; beyond any, it becomes an
//! escalation, and [`Blocked`] says exactly which limit stopped it.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use serde::Serialize;

use super::case::Owner;
use super::escalation::EscalationId;
use super::playbook::{Playbook, Remedy, RemedyKind};
use super::types::{CaseId, Money, Role, Segment};

/// A remedy granted on a case: by the person who offered it within their limits, or by an
/// approver (or the timeout policy) deciding an escalation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub case_id: CaseId,
    pub remedy: RemedyKind,
    pub label: String,
    pub unit: String,
    pub amount: Money,
    pub granted_by: Owner,
    /// Whose daily budget it counts against: the offering person, or nobody for approvals.
    pub budget_actor: Option<String>,
    pub escalation: Option<EscalationId>,
    /// Why it was allowed (`within your agent limit of ...`, `approved by Sam (E3)`).
    pub rule: String,
    pub granted_at: DateTime<Utc>,
}

impl Grant {
    /// `Waive tyre and towing charges: 180 USD`.
    pub fn summary(&self) -> String {
        format!("{}: {} {}", self.label, self.amount, self.unit)
    }
}

/// How many decimals amounts in `unit` have: none for points (and currencies without minor
/// units), two otherwise.
pub fn unit_decimals(unit: &str) -> u32 {
    match unit.to_ascii_uppercase().as_str() {
        "POINTS" | "JPY" | "KRW" | "ISK" | "CLP" | "VND" => 0,
        _ => 2,
    }
}

/// An amount typed for an offer or an approval that is not a positive number in its unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("amount `{input}` is not valid: {}", amount_hint(.unit))]
pub struct AmountError {
    pub input: String,
    pub unit: String,
}

fn amount_hint(unit: &str) -> String {
    if unit_decimals(unit) == 0 {
        format!("use a positive whole number of {unit}, e.g. `500`")
    } else {
        format!("use a positive amount in {unit} with at most 2 decimals, e.g. `25` or `25.50`")
    }
}

/// Parses a positive amount in `unit`'s precision (`80`, `80.50`; points are whole).
pub fn parse_amount(input: &str, unit: &str) -> Result<Money, AmountError> {
    let bad = || AmountError {
        input: input.trim().chars().take(40).collect(),
        unit: unit.to_string(),
    };
    let trimmed = input.trim();
    let without_unit = trimmed
        .strip_suffix(unit)
        .or_else(|| trimmed.strip_suffix(&unit.to_ascii_lowercase()))
        .unwrap_or(trimmed);
    let money = Money::parse(without_unit).map_err(|_| bad())?;
    let whole_only = unit_decimals(unit) == 0;
    if money == Money(0) || (whole_only && money.cents() % 100 != 0) {
        return Err(bad());
    }
    Ok(money)
}

/// Why an offer names no usable remedy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemedyError {
    #[error("the `{playbook}` playbook offers no remedies, so there is nothing to grant on this case; ask for a decision with `/case escalate` instead")]
    NoRemedies { playbook: String },
    #[error("`{given}` is not a remedy of the `{playbook}` playbook; use one of: {}", .valid.join(", "))]
    Unknown {
        given: String,
        playbook: String,
        valid: Vec<String>,
    },
}

/// The remedy of `playbook` named by `kind` (`fee_waiver`, `fee-waiver`, `Fee_Waiver`).
pub fn find_remedy<'a>(playbook: &'a Playbook, kind: &str) -> Result<&'a Remedy, RemedyError> {
    if playbook.remedies.is_empty() {
        return Err(RemedyError::NoRemedies {
            playbook: playbook.id.clone(),
        });
    }
    let wanted = super::playbook::RemedyKind::parse(kind);
    playbook
        .remedies
        .iter()
        .find(|r| Some(r.kind) == wanted)
        .ok_or_else(|| RemedyError::Unknown {
            given: kind.trim().chars().take(40).collect(),
            playbook: playbook.id.clone(),
            valid: playbook
                .remedies
                .iter()
                .map(|r| format!("{} ({}, {})", r.kind.as_str(), r.label, r.unit))
                .collect(),
        })
}

/// A budget setting that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BudgetError {
    #[error("budgets.timezone `{0}` is not an IANA time zone name; use e.g. `UTC`, `Europe/Berlin` or `America/New_York`")]
    Timezone(String),
    #[error("budgets.{role}.{unit} is {value}: a daily budget must be a non-negative amount with at most {decimals} decimals")]
    Amount {
        role: Role,
        unit: String,
        value: f64,
        decimals: u32,
    },
}

/// Daily budgets per role and unit: the total one person may grant on their own per day.
#[derive(Debug, Clone, PartialEq)]
pub struct Budgets {
    timezone: Tz,
    per_role: BTreeMap<Role, BTreeMap<String, Money>>,
}

impl Default for Budgets {
    /// No budgets, days in UTC.
    fn default() -> Self {
        Budgets {
            timezone: Tz::UTC,
            per_role: BTreeMap::new(),
        }
    }
}

impl Budgets {
    /// Checks a timezone name and `role -> unit -> amount` tables (amounts in whole units).
    pub fn new(
        timezone: &str,
        per_role: &BTreeMap<Role, BTreeMap<String, f64>>,
    ) -> Result<Self, BudgetError> {
        let tz: Tz = timezone
            .trim()
            .parse()
            .map_err(|_| BudgetError::Timezone(timezone.to_string()))?;
        let mut out = BTreeMap::new();
        for (role, units) in per_role {
            let mut table = BTreeMap::new();
            for (unit, value) in units {
                let decimals = unit_decimals(unit);
                let scaled = value * 100.0;
                let cents = scaled.round();
                let step = if decimals == 0 { 100.0 } else { 1.0 };
                if !value.is_finite()
                    || *value < 0.0
                    || *value > 1e12
                    || (cents % step != 0.0)
                    || (scaled - cents).abs() > 1e-6
                {
                    return Err(BudgetError::Amount {
                        role: *role,
                        unit: unit.clone(),
                        value: *value,
                        decimals,
                    });
                }
                table.insert(unit.clone(), Money(cents as i64));
            }
            out.insert(*role, table);
        }
        Ok(Budgets {
            timezone: tz,
            per_role: out,
        })
    }

    /// The daily budget of `role` in `unit`; `None` means no budget (only the limits apply).
    pub fn for_role(&self, role: Role, unit: &str) -> Option<Money> {
        self.per_role.get(&role).and_then(|t| t.get(unit)).copied()
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The budget day containing `now`: from local midnight to the next, as UTC instants
    /// (23 or 25 hours long on daylight-saving changes).
    pub fn day(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let date = now.with_timezone(&self.timezone).date_naive();
        let start = local_start_of_day(self.timezone, date);
        let end = local_start_of_day(self.timezone, date + Duration::days(1));
        (start, end)
    }
}

/// The first instant of `date` in `tz` (midnight, or the first hour that exists when a
/// daylight-saving gap swallows midnight).
fn local_start_of_day(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    (0..4)
        .find_map(|h| {
            let local = date.and_hms_opt(h, 0, 0)?;
            tz.from_local_datetime(&local).earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

/// Everything [`check_offer`] weighs.
#[derive(Debug, Clone, Copy)]
pub struct OfferCheck<'a> {
    pub remedy: &'a Remedy,
    pub amount: Money,
    /// The offering person's most powerful role.
    pub role: Role,
    pub segment: Segment,
    /// Already granted of this remedy on this case, by anyone.
    pub granted_on_case: Money,
    /// Already granted today by this person in this unit, counting against their budget.
    pub spent_today: Money,
    /// This person's daily budget in this unit, if their role has one.
    pub budget: Option<Money>,
}

/// The limit that stopped an offer; `Display` is what the agent reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    RoleLimit {
        role: Role,
        segment: Segment,
        limit: Money,
        unit: String,
    },
    CaseCap {
        cap: Money,
        granted: Money,
        unit: String,
    },
    DailyBudget {
        budget: Money,
        left: Money,
        unit: String,
    },
}

impl Blocked {
    /// A stable name for scripts and reports: `role_limit`, `case_cap`, `daily_budget`.
    pub fn code(&self) -> &'static str {
        match self {
            Blocked::RoleLimit { .. } => "role_limit",
            Blocked::CaseCap { .. } => "case_cap",
            Blocked::DailyBudget { .. } => "daily_budget",
        }
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocked::RoleLimit {
                role,
                segment,
                limit,
                unit,
            } if *limit == Money(0) => write!(
                f,
                "your {role} role may not grant this alone for {segment} customers (limit 0 {unit})"
            ),
            Blocked::RoleLimit {
                role,
                segment,
                limit,
                unit,
            } => write!(
                f,
                "above your {role} limit of {limit} {unit} for {segment} customers"
            ),
            Blocked::CaseCap { cap, granted, unit } if granted >= cap => {
                write!(f, "the case cap of {cap} {unit} is reached")
            }
            Blocked::CaseCap { cap, granted, unit } => write!(
                f,
                "only {} {unit} left of the case cap of {cap} {unit}",
                Money(cap.0 - granted.0)
            ),
            Blocked::DailyBudget { budget, left, unit } => {
                write!(f, "only {left} {unit} left of your {budget} {unit} daily budget")
            }
        }
    }
}

/// What an offer comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Within every limit; `rule` says which limits allowed it.
    Grant { rule: String },
    /// Beyond a limit: it needs a decision.
    Escalate(Blocked),
}

/// Weighs an offer against the role limit, the case cap and the daily budget, in that order.
pub fn check_offer(c: &OfferCheck<'_>) -> Verdict {
    let unit = c.remedy.unit.clone();
    let limit = c.remedy.limit_for(c.role, c.segment);
    if c.amount > limit {
        return Verdict::Escalate(Blocked::RoleLimit {
            role: c.role,
            segment: c.segment,
            limit,
            unit,
        });
    }
    let mut rule = format!(
        "within your {} limit of {limit} {unit} for {} customers",
        c.role, c.segment
    );
    if let Some(cap) = c.remedy.case_cap {
        let total = Money(c.granted_on_case.0.saturating_add(c.amount.0));
        if total > cap {
            return Verdict::Escalate(Blocked::CaseCap {
                cap,
                granted: c.granted_on_case,
                unit,
            });
        }
        rule.push_str(&format!(
            "; {} {unit} left of the case cap of {cap} {unit}",
            Money(cap.0 - total.0)
        ));
    }
    if let Some(budget) = c.budget {
        let left = Money((budget.0 - c.spent_today.0).max(0));
        if c.amount > left {
            return Verdict::Escalate(Blocked::DailyBudget { budget, left, unit });
        }
        rule.push_str(&format!(
            "; {} {unit} left of your {budget} {unit} daily budget",
            Money(left.0 - c.amount.0)
        ));
    }
    Verdict::Grant { rule }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::playbook::PlaybookSet;

    fn roadside() -> Playbook {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
        PlaybookSet::load_dir(&dir)
            .unwrap()
            .get("roadside-breakdown")
            .unwrap()
            .clone()
    }

    fn usd(n: i64) -> Money {
        Money(n * 100)
    }

    fn check<'a>(remedy: &'a Remedy, amount: i64) -> OfferCheck<'a> {
        OfferCheck {
            remedy,
            amount: usd(amount),
            role: Role::Agent,
            segment: Segment::Standard,
            granted_on_case: Money(0),
            spent_today: Money(0),
            budget: Some(usd(300)),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn an_offer_within_the_role_limit_is_granted_with_the_rule_that_allowed_it() {
        let pb = roadside();
        let waiver = find_remedy(&pb, "fee_waiver").unwrap();
        match check_offer(&check(waiver, 80)) {
            Verdict::Grant { rule } => assert_eq!(
                rule,
                "within your agent limit of 120 USD for standard customers; 220 USD left of your 300 USD daily budget"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_offer_above_the_role_limit_escalates_naming_the_limit() {
        let pb = roadside();
        let waiver = find_remedy(&pb, "fee-waiver").unwrap();
        let Verdict::Escalate(blocked) = check_offer(&check(waiver, 180)) else {
            panic!("granted")
        };
        assert_eq!(blocked.code(), "role_limit");
        assert_eq!(
            blocked.to_string(),
            "above your agent limit of 120 USD for standard customers"
        );
    }

    #[test]
    fn vip_customers_get_the_segment_override() {
        let pb = roadside();
        let credit = find_remedy(&pb, "credit").unwrap();
        let standard = check(credit, 80);
        assert!(matches!(check_offer(&standard), Verdict::Escalate(_)));
        let vip = OfferCheck {
            segment: Segment::Vip,
            ..standard
        };
        assert!(matches!(check_offer(&vip), Verdict::Grant { .. }));
    }

    #[test]
    fn the_case_cap_counts_what_was_granted_before() {
        let pb = roadside();
        let mut waiver = find_remedy(&pb, "fee_waiver").unwrap().clone();
        waiver.case_cap = Some(usd(200));
        let second = OfferCheck {
            granted_on_case: usd(150),
            ..check(&waiver, 100)
        };
        let Verdict::Escalate(blocked) = check_offer(&second) else {
            panic!("granted")
        };
        assert_eq!(blocked.to_string(), "only 50 USD left of the case cap of 200 USD");
        let full = OfferCheck {
            granted_on_case: usd(200),
            ..check(&waiver, 10)
        };
        let Verdict::Escalate(blocked) = check_offer(&full) else {
            panic!("granted")
        };
        assert_eq!(blocked.to_string(), "the case cap of 200 USD is reached");
    }

    #[test]
    fn the_daily_budget_blocks_what_is_left_over() {
        let pb = roadside();
        let waiver = find_remedy(&pb, "fee_waiver").unwrap();
        let third = OfferCheck {
            spent_today: usd(260),
            ..check(waiver, 100)
        };
        let Verdict::Escalate(blocked) = check_offer(&third) else {
            panic!("granted")
        };
        assert_eq!(blocked.code(), "daily_budget");
        assert_eq!(
            blocked.to_string(),
            "only 40 USD left of your 300 USD daily budget"
        );
        let no_budget = OfferCheck {
            budget: None,
            ..third
        };
        assert!(matches!(check_offer(&no_budget), Verdict::Grant { .. }));
    }

    #[test]
    fn a_zero_limit_says_the_role_may_not_grant_alone() {
        let blocked = Blocked::RoleLimit {
            role: Role::Agent,
            segment: Segment::Standard,
            limit: Money(0),
            unit: "USD".into(),
        };
        assert_eq!(
            blocked.to_string(),
            "your agent role may not grant this alone for standard customers (limit 0 USD)"
        );
    }

    #[test]
    fn amounts_must_be_positive_in_the_units_precision() {
        assert_eq!(parse_amount("80", "USD").unwrap(), usd(80));
        assert_eq!(parse_amount("80.50", "USD").unwrap(), Money(8050));
        assert_eq!(parse_amount("80 USD", "USD").unwrap(), usd(80));
        assert_eq!(parse_amount("12000", "points").unwrap(), usd(12000));
        for bad in ["0", "-5", "1.234", "abc", ""] {
            assert!(parse_amount(bad, "USD").is_err(), "{bad}");
        }
        let err = parse_amount("10.5", "points").unwrap_err();
        assert!(err.to_string().contains("whole number of points"), "{err}");
    }

    #[test]
    fn an_unknown_remedy_lists_the_valid_ones() {
        let pb = roadside();
        let err = find_remedy(&pb, "hug").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("fee_waiver (Waive tyre and towing charges, USD)"),
            "{text}"
        );
        assert!(text.contains("replacement"), "{text}");
    }

    #[test]
    fn the_budget_day_starts_at_midnight_in_the_budget_timezone() {
        let roles = BTreeMap::from([(Role::Agent, BTreeMap::from([("USD".to_string(), 300.0)]))]);
        let berlin = Budgets::new("Europe/Berlin", &roles).unwrap();
        // 23:30 UTC on 27 Nov is 00:30 on 28 Nov in Berlin: a new budget day.
        let (start, end) = berlin.day(at("2026-11-27T23:30:00Z"));
        assert_eq!(start, at("2026-11-27T23:00:00Z"));
        assert_eq!(end, at("2026-11-28T23:00:00Z"));
        let (start, _) = berlin.day(at("2026-11-27T22:59:59Z"));
        assert_eq!(start, at("2026-11-26T23:00:00Z"));
        // Daylight saving ends on 25 Oct 2026 in Berlin: that day has 25 hours.
        let (start, end) = berlin.day(at("2026-10-25T12:00:00Z"));
        assert_eq!(end - start, Duration::hours(25));
        assert_eq!(berlin.for_role(Role::Agent, "USD"), Some(usd(300)));
        assert_eq!(berlin.for_role(Role::Senior, "USD"), None);
    }

    #[test]
    fn bad_budget_settings_are_refused() {
        let none = BTreeMap::new();
        assert!(matches!(
            Budgets::new("Mars/Olympus", &none),
            Err(BudgetError::Timezone(_))
        ));
        let fractional_points =
            BTreeMap::from([(Role::Agent, BTreeMap::from([("points".to_string(), 10.5)]))]);
        assert!(Budgets::new("UTC", &fractional_points).is_err());
        let negative = BTreeMap::from([(Role::Agent, BTreeMap::from([("USD".to_string(), -1.0)]))]);
        assert!(Budgets::new("UTC", &negative).is_err());
    }
}
