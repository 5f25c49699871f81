//! SLA clocks: first response, next response and resolution targets per priority and segment,
//! counted in calendar time or in business hours, paused while waiting on the customer.
//!
//! Everything here is pure and takes `now`. A [`Clock`] is one target on one case: it runs,
//! pauses (only resolution: while waiting), resumes, is re-targeted when the priority or the
//! segment changes (keeping the time already used), and stops as met or breached. Working
//! time is measured by a [`Calendar`]: all the time, or the business hours of a timezone with
//! closed days and holidays.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::playbook::parse_duration;
use super::types::{CaseId, Priority, Segment};

/// What an SLA measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// From the case opening to the first public reply.
    FirstResponse,
    /// From a customer's post after our last reply to our next reply.
    NextResponse,
    /// From the case opening to its resolution, not counting time waiting on the customer.
    Resolution,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::FirstResponse, Target::NextResponse, Target::Resolution];

    pub fn as_str(self) -> &'static str {
        match self {
            Target::FirstResponse => "first_response",
            Target::NextResponse => "next_response",
            Target::Resolution => "resolution",
        }
    }

    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// `First response`, for people.
    pub fn label(self) -> &'static str {
        match self {
            Target::FirstResponse => "First response",
            Target::NextResponse => "Next response",
            Target::Resolution => "Resolution",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a stopped clock ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Met,
    Breached,
    /// Stopped without the thing it measured (a case resolved before any reply): not counted.
    Cancelled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Met => "met",
            Outcome::Breached => "breached",
            Outcome::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        [Outcome::Met, Outcome::Breached, Outcome::Cancelled]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// A setting under `[sla]` that cannot be used; names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SlaConfigError {
    pub key: String,
    pub message: String,
}

fn config_error(key: impl Into<String>, message: impl Into<String>) -> SlaConfigError {
    SlaConfigError {
        key: key.into(),
        message: message.into(),
    }
}

/// Opening hours per weekday in a timezone, and holidays (closed all day).
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessHours {
    tz: Tz,
    /// Monday first; each day's open ranges, sorted and not overlapping (end may be 24:00).
    week: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<NaiveDate>,
}

/// Minutes after midnight from `HH:MM` (`24:00` allowed as an end).
fn minutes_of(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

impl BusinessHours {
    /// `days` are Monday..Sunday specs like `09:00-18:00` or `09:00-12:00, 13:00-18:00`
    /// (`None`: closed); holidays are `YYYY-MM-DD`.
    pub fn new(timezone: &str, days: [Option<&str>; 7], holidays: &[String]) -> Result<Self, SlaConfigError> {
        const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let tz: Tz = timezone.trim().parse().map_err(|_| {
            config_error(
                "sla.business_hours.timezone",
                format!("`{timezone}` is not an IANA time zone name; use e.g. `Europe/Berlin` or `America/New_York`"),
            )
        })?;
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for (i, spec) in days.iter().enumerate() {
            let Some(spec) = spec else { continue };
            let key = format!("sla.business_hours.{}", NAMES[i]);
            let mut ranges = Vec::new();
            for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let range = part
                    .split_once('-')
                    .and_then(|(a, b)| Some((minutes_of(a)?, minutes_of(b)?)))
                    .filter(|(a, b)| a < b && *a < 24 * 60)
                    .ok_or_else(|| {
                        config_error(&key, format!("`{part}` is not an opening range; write it as HH:MM-HH:MM, e.g. `09:00-18:00`"))
                    })?;
                ranges.push(range);
            }
            ranges.sort_unstable();
            if let Some(w) = ranges.windows(2).find(|w| w[1].0 < w[0].1) {
                return Err(config_error(
                    &key,
                    format!(
                        "the ranges {:02}:{:02}-{:02}:{:02} and {:02}:{:02}-{:02}:{:02} overlap; list each opening time once",
                        w[0].0 / 60,
                        w[0].0 % 60,
                        w[0].1 / 60,
                        w[0].1 % 60,
                        w[1].0 / 60,
                        w[1].0 % 60,
                        w[1].1 / 60,
                        w[1].1 % 60
                    ),
                ));
            }
            week[i] = ranges;
        }
        if week.iter().all(Vec::is_empty) {
            return Err(config_error(
                "sla.business_hours",
                "no day has opening hours; give at least one, e.g. `mon = \"09:00-18:00\"`",
            ));
        }
        let mut days_off = BTreeSet::new();
        for h in holidays {
            let day = NaiveDate::parse_from_str(h.trim(), "%Y-%m-%d").map_err(|_| {
                config_error(
                    "sla.business_hours.holidays",
                    format!("`{h}` is not a date; write YYYY-MM-DD"),
                )
            })?;
            days_off.insert(day);
        }
        Ok(BusinessHours {
            tz,
            week,
            holidays: days_off,
        })
    }

    /// The open intervals (UTC) of one local date, in order.
    fn open_on(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if self.holidays.contains(&date) {
            return vec![];
        }
        let day = date.weekday().num_days_from_monday() as usize;
        self.week[day]
            .iter()
            .filter_map(|&(a, b)| Some((self.instant(date, a)?, self.instant(date, b)?)))
            .filter(|(a, b)| a < b)
            .collect()
    }

    /// `minutes` after local midnight of `date` as a UTC instant (a time in a daylight-saving
    /// gap moves to the first instant after it).
    fn instant(&self, date: NaiveDate, minutes: u32) -> Option<DateTime<Utc>> {
        let (date, minutes) = if minutes == 24 * 60 {
            (date.succ_opt()?, 0)
        } else {
            (date, minutes)
        };
        let naive = date.and_time(NaiveTime::from_num_seconds_from_midnight_opt(minutes * 60, 0)?);
        (0..4).find_map(|shift| {
            self.tz
                .from_local_datetime(&(naive + Duration::minutes(30 * shift)))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        })
    }
}

/// How much of the time between two instants counts.
#[derive(Debug, Clone, Copy)]
pub enum Calendar<'a> {
    /// Every second counts.
    Always,
    Business(&'a BusinessHours),
}

/// Days a business-hours walk looks ahead before giving up (a year of holidays is fine).
const MAX_DAYS: i64 = 800;

impl Calendar<'_> {
    /// Working seconds in `[from, to)`.
    pub fn working_secs(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        match self {
            Calendar::Always => (to - from).num_seconds(),
            Calendar::Business(hours) => {
                let mut total = 0;
                let mut date = from.with_timezone(&hours.tz).date_naive() - Duration::days(1);
                let last = to.with_timezone(&hours.tz).date_naive();
                while date <= last {
                    for (a, b) in hours.open_on(date) {
                        let (a, b) = (a.max(from), b.min(to));
                        if a < b {
                            total += (b - a).num_seconds();
                        }
                    }
                    date += Duration::days(1);
                }
                total
            }
        }
    }

    /// The instant at which `secs` working seconds after `from` have passed.
    pub fn add(&self, from: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
        match self {
            Calendar::Always => from + Duration::seconds(secs),
            Calendar::Business(hours) => {
                let mut left = secs.max(0);
                let mut date = from.with_timezone(&hours.tz).date_naive() - Duration::days(1);
                for _ in 0..MAX_DAYS {
                    for (a, b) in hours.open_on(date) {
                        let a = a.max(from);
                        if a >= b {
                            continue;
                        }
                        let span = (b - a).num_seconds();
                        if left <= span {
                            return a + Duration::seconds(left);
                        }
                        left -= span;
                    }
                    date += Duration::days(1);
                }
                // No opening hours in sight (a very long holiday list): count calendar time.
                from + Duration::seconds(secs)
            }
        }
    }
}

/// One SLA policy: which cases it covers and its targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    pub segments: Vec<Segment>,
    pub priorities: Vec<Priority>,
    /// Seconds per target; `None`: no such target.
    pub first_response: Option<i64>,
    pub next_response: Option<i64>,
    pub resolution: Option<i64>,
    pub business_hours: bool,
    /// The fraction of a target after which a warning is posted.
    pub warn_at: f64,
    /// A breach opens an escalation to the supervisor role.
    pub escalate_on_breach: bool,
}

impl Policy {
    pub fn target(&self, t: Target) -> Option<i64> {
        match t {
            Target::FirstResponse => self.first_response,
            Target::NextResponse => self.next_response,
            Target::Resolution => self.resolution,
        }
    }

    fn covers(&self, priority: Priority, segment: Segment) -> bool {
        (self.priorities.is_empty() || self.priorities.contains(&priority))
            && (self.segments.is_empty() || self.segments.contains(&segment))
    }
}

/// A policy as written in `[[sla.policies]]`, before checking.
#[derive(Debug, Clone, Default)]
pub struct PolicySpec {
    pub name: String,
    pub segments: Vec<String>,
    pub priorities: Vec<String>,
    pub first_response: Option<String>,
    pub next_response: Option<String>,
    pub resolution: Option<String>,
    /// `calendar` or `business`.
    pub hours: String,
    pub warn_at: f64,
    pub escalate_on_breach: bool,
}

/// The checked SLA settings: policies (first match wins) and business hours.
#[derive(Debug, Clone, PartialEq)]
pub struct Sla {
    policies: Vec<Policy>,
    business: Option<BusinessHours>,
}

impl Sla {
    /// Checks the policies; `business` is needed when a policy counts business hours.
    pub fn new(specs: &[PolicySpec], business: Option<BusinessHours>) -> Result<Sla, SlaConfigError> {
        let mut policies = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let key = |k: &str| format!("sla.policies[{i}].{k}");
            let name = if spec.name.trim().is_empty() {
                format!("policy {}", i + 1)
            } else {
                spec.name.trim().to_string()
            };
            let segments = spec
                .segments
                .iter()
                .map(|s| Segment::parse(s).map_err(|e| config_error(key("segments"), e.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            let priorities = spec
                .priorities
                .iter()
                .map(|p| Priority::parse(p).map_err(|e| config_error(key("priorities"), e.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            let target = |k: &str, v: &Option<String>| -> Result<Option<i64>, SlaConfigError> {
                v.as_ref()
                    .map(|text| {
                        parse_duration(text).ok_or_else(|| {
                            config_error(
                                key(k),
                                format!("`{text}` is not a duration; use e.g. 15m, 4h or 2d"),
                            )
                        })
                    })
                    .transpose()
            };
            let business_hours = match spec.hours.trim() {
                "" | "calendar" => false,
                "business" => true,
                other => {
                    return Err(config_error(
                        key("hours"),
                        format!("`{other}` is not known; use calendar or business"),
                    ))
                }
            };
            if business_hours && business.is_none() {
                return Err(config_error(
                    key("hours"),
                    "counts business hours but [sla.business_hours] is missing; add it with a timezone and opening hours",
                ));
            }
            if !(spec.warn_at > 0.0 && spec.warn_at < 1.0) {
                return Err(config_error(
                    key("warn_at"),
                    format!("{} is not a fraction between 0 and 1; e.g. 0.8 warns when 80% of a target has elapsed", spec.warn_at),
                ));
            }
            policies.push(Policy {
                name,
                segments,
                priorities,
                first_response: target("first_response", &spec.first_response)?,
                next_response: target("next_response", &spec.next_response)?,
                resolution: target("resolution", &spec.resolution)?,
                business_hours,
                warn_at: spec.warn_at,
                escalate_on_breach: spec.escalate_on_breach,
            });
        }
        Ok(Sla { policies, business })
    }

    /// The shipped policies, one per priority, in calendar time.
    pub fn default_specs() -> Vec<PolicySpec> {
        [
            ("P1", "15m", "30m", "4h"),
            ("P2", "1h", "2h", "8h"),
            ("P3", "4h", "8h", "24h"),
            ("P4", "8h", "24h", "72h"),
        ]
        .into_iter()
        .map(|(p, first, next, resolution)| PolicySpec {
            name: p.to_lowercase(),
            priorities: vec![p.to_string()],
            first_response: Some(first.into()),
            next_response: Some(next.into()),
            resolution: Some(resolution.into()),
            hours: "calendar".into(),
            warn_at: 0.8,
            ..PolicySpec::default()
        })
        .collect()
    }

    /// The first policy covering a case of this priority and segment.
    pub fn policy_for(&self, priority: Priority, segment: Segment) -> Option<&Policy> {
        self.policies.iter().find(|p| p.covers(priority, segment))
    }

    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.name == name)
    }

    /// How a clock counts time.
    pub fn calendar(&self, business_hours: bool) -> Calendar<'_> {
        match (&self.business, business_hours) {
            (Some(hours), true) => Calendar::Business(hours),
            _ => Calendar::Always,
        }
    }
}

/// One target on one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clock {
    /// 0 until stored.
    pub id: i64,
    pub case_id: CaseId,
    pub target: Target,
    pub policy: String,
    /// The target, in (working) seconds.
    pub budget_secs: i64,
    pub business_hours: bool,
    pub warn_at: f64,
    pub started_at: DateTime<Utc>,
    /// Working seconds used before `running_since`.
    pub elapsed_secs: i64,
    /// Running since; `None` while paused or after it stopped.
    pub running_since: Option<DateTime<Utc>>,
    /// When the target is reached, while running.
    pub due_at: Option<DateTime<Utc>>,
    /// When the warning is due, while running and not warned yet.
    pub warn_due_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub outcome: Option<Outcome>,
    /// Working seconds over (breached) or under (met) the target when it stopped.
    pub margin_secs: Option<i64>,
    pub warned: bool,
    /// The breach notice was posted.
    pub breach_noticed: bool,
    /// Who stopped it: the agent who replied, or who resolved.
    pub agent: Option<String>,
}

impl Clock {
    /// A clock for `target` under `policy`, running from `now`; `None` if the policy has no
    /// such target.
    pub fn start(
        case_id: CaseId,
        target: Target,
        policy: &Policy,
        cal: Calendar<'_>,
        now: DateTime<Utc>,
    ) -> Option<Clock> {
        let budget = policy.target(target)?;
        let mut clock = Clock {
            id: 0,
            case_id,
            target,
            policy: policy.name.clone(),
            budget_secs: budget,
            business_hours: policy.business_hours,
            warn_at: policy.warn_at,
            started_at: now,
            elapsed_secs: 0,
            running_since: Some(now),
            due_at: None,
            warn_due_at: None,
            stopped_at: None,
            outcome: None,
            margin_secs: None,
            warned: false,
            breach_noticed: false,
            agent: None,
        };
        clock.plan(cal);
        Some(clock)
    }

    pub fn is_running(&self) -> bool {
        self.running_since.is_some()
    }

    pub fn is_stopped(&self) -> bool {
        self.outcome.is_some()
    }

    /// Working seconds used so far.
    pub fn used(&self, cal: Calendar<'_>, now: DateTime<Utc>) -> i64 {
        self.elapsed_secs + self.running_since.map_or(0, |since| cal.working_secs(since, now))
    }

    /// Recomputes the due times of a running clock.
    fn plan(&mut self, cal: Calendar<'_>) {
        match self.running_since {
            Some(since) => {
                self.due_at = Some(cal.add(since, self.budget_secs - self.elapsed_secs));
                let warn_secs = (self.budget_secs as f64 * self.warn_at).round() as i64;
                self.warn_due_at = (!self.warned && warn_secs > self.elapsed_secs)
                    .then(|| cal.add(since, warn_secs - self.elapsed_secs));
            }
            None => {
                self.due_at = None;
                self.warn_due_at = None;
            }
        }
    }

    /// Stops counting (waiting on the customer); the time used so far is kept.
    pub fn pause(&mut self, cal: Calendar<'_>, now: DateTime<Utc>) {
        if let Some(since) = self.running_since.take() {
            self.elapsed_secs += cal.working_secs(since, now);
            self.plan(cal);
        }
    }

    /// Counts again from `now`.
    pub fn resume(&mut self, cal: Calendar<'_>, now: DateTime<Utc>) {
        if self.running_since.is_none() && !self.is_stopped() {
            self.running_since = Some(now);
            self.plan(cal);
        }
    }

    /// The thing measured happened: met, or breached by how much.
    pub fn stop(&mut self, cal: Calendar<'_>, now: DateTime<Utc>) {
        if self.is_stopped() {
            return;
        }
        let used = self.used(cal, now);
        self.elapsed_secs = used;
        self.running_since = None;
        self.stopped_at = Some(now);
        self.outcome = Some(if used <= self.budget_secs {
            Outcome::Met
        } else {
            Outcome::Breached
        });
        self.margin_secs = Some((used - self.budget_secs).abs());
        self.plan(cal);
    }

    /// Stopped without the thing measured; a breach already noticed stays a breach.
    pub fn cancel(&mut self, cal: Calendar<'_>, now: DateTime<Utc>) {
        if self.breach_noticed || self.due_at.is_some_and(|d| d <= now) {
            return self.stop(cal, now);
        }
        if self.is_stopped() {
            return;
        }
        self.elapsed_secs = self.used(cal, now);
        self.running_since = None;
        self.stopped_at = Some(now);
        self.outcome = Some(Outcome::Cancelled);
        self.plan(cal);
    }

    /// A stopped clock runs again (its case was reopened), with the time used kept.
    pub fn restart(&mut self, cal: Calendar<'_>, now: DateTime<Utc>) {
        if self.is_stopped() {
            self.outcome = None;
            self.stopped_at = None;
            self.margin_secs = None;
            self.agent = None;
            self.running_since = Some(now);
            self.plan(cal);
        }
    }

    /// A new policy applies (priority or segment changed): its target, the time used kept.
    /// Returns false when the new policy has no such target (the clock is then cancelled).
    pub fn retarget<'a>(
        &mut self,
        policy: &Policy,
        cal_of: impl Fn(bool) -> Calendar<'a>,
        now: DateTime<Utc>,
    ) -> bool {
        let Some(budget) = policy.target(self.target) else {
            self.cancel(cal_of(self.business_hours), now);
            return false;
        };
        let old = cal_of(self.business_hours);
        if let Some(since) = self.running_since {
            self.elapsed_secs += old.working_secs(since, now);
            self.running_since = Some(now);
        }
        self.policy = policy.name.clone();
        self.budget_secs = budget;
        self.business_hours = policy.business_hours;
        self.warn_at = policy.warn_at;
        self.plan(cal_of(self.business_hours));
        true
    }

    /// Seconds left (negative: over), counting working time.
    pub fn remaining(&self, cal: Calendar<'_>, now: DateTime<Utc>) -> i64 {
        self.budget_secs - self.used(cal, now)
    }
}

/// What happened to a case, as far as its clocks are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseEvent<'a> {
    /// A new case: first response and resolution start.
    Opened,
    /// The customer wrote again. After our reply a next-response clock starts; a paused
    /// resolution clock resumes (the case is no longer waiting).
    CustomerWrote { replied_before: bool },
    /// A public reply by this agent: the response clocks stop.
    Replied { by: &'a str },
    /// Waiting on the customer: resolution pauses.
    Waiting,
    /// Resolved by this agent: resolution stops, response clocks still running are cancelled.
    Resolved { by: &'a str },
    /// Reopened: resolution (and a first response never given) run again.
    Reopened,
    /// The priority or the segment changed: running clocks take the new policy's targets.
    Retarget,
}

impl Sla {
    /// Applies `event` to a case's clocks (a new clock is pushed with id 0) and returns the
    /// indices of the clocks it started or changed.
    pub fn on_case_event(
        &self,
        clocks: &mut Vec<Clock>,
        case_id: CaseId,
        priority: Priority,
        segment: Segment,
        event: CaseEvent<'_>,
        now: DateTime<Utc>,
    ) -> Vec<usize> {
        let policy = self.policy_for(priority, segment);
        let mut changed = Vec::new();
        let cal = |c: &Clock| self.calendar(c.business_hours);
        let start = |clocks: &mut Vec<Clock>, target: Target, changed: &mut Vec<usize>| {
            if let Some(clock) =
                policy.and_then(|p| Clock::start(case_id, target, p, self.calendar(p.business_hours), now))
            {
                clocks.push(clock);
                changed.push(clocks.len() - 1);
            }
        };
        let live = |c: &Clock| !c.is_stopped();
        match event {
            CaseEvent::Opened => {
                start(clocks, Target::FirstResponse, &mut changed);
                start(clocks, Target::Resolution, &mut changed);
            }
            CaseEvent::CustomerWrote { replied_before } => {
                for (i, c) in clocks.iter_mut().enumerate() {
                    if c.target == Target::Resolution && live(c) && !c.is_running() {
                        c.resume(cal(c), now);
                        changed.push(i);
                    }
                }
                let answering = clocks
                    .iter()
                    .any(|c| live(c) && matches!(c.target, Target::FirstResponse | Target::NextResponse));
                if replied_before && !answering {
                    start(clocks, Target::NextResponse, &mut changed);
                }
            }
            CaseEvent::Replied { by } => {
                for (i, c) in clocks.iter_mut().enumerate() {
                    if live(c) && matches!(c.target, Target::FirstResponse | Target::NextResponse) {
                        c.stop(cal(c), now);
                        c.agent = Some(by.to_string());
                        changed.push(i);
                    }
                }
            }
            CaseEvent::Waiting => {
                for (i, c) in clocks.iter_mut().enumerate() {
                    if c.target == Target::Resolution && c.is_running() {
                        c.pause(cal(c), now);
                        changed.push(i);
                    }
                }
            }
            CaseEvent::Resolved { by } => {
                for (i, c) in clocks.iter_mut().enumerate() {
                    if !live(c) {
                        continue;
                    }
                    if c.target == Target::Resolution {
                        c.stop(cal(c), now);
                        c.agent = Some(by.to_string());
                    } else {
                        c.cancel(cal(c), now);
                    }
                    changed.push(i);
                }
            }
            CaseEvent::Reopened => {
                for (i, c) in clocks.iter_mut().enumerate() {
                    let first_never_given =
                        c.target == Target::FirstResponse && c.outcome == Some(Outcome::Cancelled);
                    if c.target == Target::Resolution || first_never_given {
                        if c.is_stopped() {
                            c.restart(cal(c), now);
                        } else {
                            c.resume(cal(c), now);
                        }
                        changed.push(i);
                    }
                }
            }
            CaseEvent::Retarget => {
                for (i, c) in clocks.iter_mut().enumerate() {
                    if !live(c) {
                        continue;
                    }
                    match policy {
                        Some(p) => {
                            c.retarget(p, |business| self.calendar(business), now);
                        }
                        None => c.cancel(cal(c), now),
                    }
                    changed.push(i);
                }
            }
        }
        changed.sort_unstable();
        changed.dedup();
        changed
    }
}

/// `1h 05m`, `45m`, `2d 3h`: a duration for people.
pub fn human(secs: i64) -> String {
    let secs = secs.abs();
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m:02}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn berlin() -> BusinessHours {
        let weekdays = Some("09:00-18:00");
        BusinessHours::new(
            "Europe/Berlin",
            [weekdays, weekdays, weekdays, weekdays, weekdays, None, None],
            &["2026-12-25".to_string()],
        )
        .unwrap()
    }

    fn policy(first: &str, business: bool) -> Policy {
        Policy {
            name: "p".into(),
            segments: vec![],
            priorities: vec![],
            first_response: parse_duration(first),
            next_response: parse_duration("1h"),
            resolution: parse_duration("8h"),
            business_hours: business,
            warn_at: 0.8,
            escalate_on_breach: false,
        }
    }

    #[test]
    fn a_calendar_clock_warns_at_eighty_percent_and_is_due_at_the_target() {
        let p = policy("15m", false);
        let c = Clock::start(
            CaseId(1),
            Target::FirstResponse,
            &p,
            Calendar::Always,
            at("2026-11-27T09:00:00Z"),
        )
        .unwrap();
        assert_eq!(c.warn_due_at, Some(at("2026-11-27T09:12:00Z")));
        assert_eq!(c.due_at, Some(at("2026-11-27T09:15:00Z")));
    }

    #[test]
    fn a_reply_in_time_is_met_and_a_late_one_breached_by_how_much() {
        let p = policy("15m", false);
        let mut c = Clock::start(
            CaseId(1),
            Target::FirstResponse,
            &p,
            Calendar::Always,
            at("2026-11-27T09:00:00Z"),
        )
        .unwrap();
        c.stop(Calendar::Always, at("2026-11-27T09:10:00Z"));
        assert_eq!((c.outcome, c.margin_secs), (Some(Outcome::Met), Some(300)));
        assert_eq!((c.due_at, c.warn_due_at), (None, None));
        let mut late = Clock::start(
            CaseId(1),
            Target::FirstResponse,
            &p,
            Calendar::Always,
            at("2026-11-27T09:00:00Z"),
        )
        .unwrap();
        late.stop(Calendar::Always, at("2026-11-27T09:20:00Z"));
        assert_eq!(
            (late.outcome, late.margin_secs),
            (Some(Outcome::Breached), Some(300))
        );
    }

    #[test]
    fn waiting_pauses_the_clock_and_keeps_the_time_used() {
        let p = policy("15m", false);
        let mut c = Clock::start(
            CaseId(1),
            Target::Resolution,
            &p,
            Calendar::Always,
            at("2026-11-27T09:00:00Z"),
        )
        .unwrap();
        c.pause(Calendar::Always, at("2026-11-27T10:00:00Z"));
        assert_eq!((c.elapsed_secs, c.due_at), (3600, None));
        c.resume(Calendar::Always, at("2026-11-27T15:00:00Z"));
        assert_eq!(
            c.due_at,
            Some(at("2026-11-27T22:00:00Z")),
            "7h left after 5h paused"
        );
        assert_eq!(c.warn_due_at, Some(at("2026-11-27T20:24:00Z")));
    }

    #[test]
    fn business_hours_skip_a_night_a_weekend_and_a_holiday() {
        let hours = berlin();
        let cal = Calendar::Business(&hours);
        // Friday 17:30 Berlin (16:30 UTC) + 1h: 30 min on Friday, 30 min on Monday from 09:00.
        assert_eq!(
            cal.add(at("2026-11-27T16:30:00Z"), 3600),
            at("2026-11-30T08:30:00Z")
        );
        // Thursday 24 Dec 17:00 Berlin + 2h: 1h on Thursday, Friday 25th is a holiday, weekend, Monday.
        assert_eq!(
            cal.add(at("2026-12-24T16:00:00Z"), 7200),
            at("2026-12-28T09:00:00Z")
        );
        // A night: Tuesday 20:00 to Wednesday 10:00 Berlin is one working hour.
        assert_eq!(
            cal.working_secs(at("2026-12-01T19:00:00Z"), at("2026-12-02T09:00:00Z")),
            3600
        );
        // Outside hours, a clock starts counting at the next opening.
        assert_eq!(
            cal.add(at("2026-11-28T10:00:00Z"), 60),
            at("2026-11-30T08:01:00Z")
        );
    }

    #[test]
    fn business_hours_follow_daylight_saving() {
        let hours = berlin();
        let cal = Calendar::Business(&hours);
        // Friday 27 March 2026 17:00 CET + 2h: Monday 30 March is summer time (09:00 = 07:00 UTC).
        assert_eq!(
            cal.add(at("2026-03-27T16:00:00Z"), 7200),
            at("2026-03-30T08:00:00Z")
        );
    }

    #[test]
    fn a_priority_change_retargets_keeping_the_time_used() {
        let slow = policy("4h", false);
        let fast = policy("1h", false);
        let mut c = Clock::start(
            CaseId(1),
            Target::FirstResponse,
            &slow,
            Calendar::Always,
            at("2026-11-27T09:00:00Z"),
        )
        .unwrap();
        assert!(c.retarget(&fast, |_| Calendar::Always, at("2026-11-27T09:40:00Z")));
        assert_eq!(c.budget_secs, 3600);
        assert_eq!(c.elapsed_secs, 2400);
        assert_eq!(c.due_at, Some(at("2026-11-27T10:00:00Z")));
        assert_eq!(c.warn_due_at, Some(at("2026-11-27T09:48:00Z")));
        let mut none = fast.clone();
        none.first_response = None;
        assert!(!c.retarget(&none, |_| Calendar::Always, at("2026-11-27T09:41:00Z")));
        assert_eq!(c.outcome, Some(Outcome::Cancelled));
    }

    #[test]
    fn a_cancelled_clock_past_its_target_counts_as_breached() {
        let p = policy("15m", false);
        let mut c = Clock::start(
            CaseId(1),
            Target::FirstResponse,
            &p,
            Calendar::Always,
            at("2026-11-27T09:00:00Z"),
        )
        .unwrap();
        c.cancel(Calendar::Always, at("2026-11-27T09:05:00Z"));
        assert_eq!(c.outcome, Some(Outcome::Cancelled));
        let mut late = Clock::start(
            CaseId(1),
            Target::FirstResponse,
            &p,
            Calendar::Always,
            at("2026-11-27T09:00:00Z"),
        )
        .unwrap();
        late.cancel(Calendar::Always, at("2026-11-27T09:30:00Z"));
        assert_eq!(late.outcome, Some(Outcome::Breached));
    }

    #[test]
    fn the_first_matching_policy_wins_and_bad_settings_name_their_key() {
        let specs = vec![
            PolicySpec {
                name: "vip".into(),
                segments: vec!["vip".into()],
                priorities: vec!["P1".into(), "P2".into()],
                first_response: Some("15m".into()),
                warn_at: 0.8,
                ..PolicySpec::default()
            },
            PolicySpec {
                name: "rest".into(),
                first_response: Some("4h".into()),
                warn_at: 0.8,
                ..PolicySpec::default()
            },
        ];
        let sla = Sla::new(&specs, None).unwrap();
        assert_eq!(sla.policy_for(Priority::P1, Segment::Vip).unwrap().name, "vip");
        assert_eq!(sla.policy_for(Priority::P3, Segment::Vip).unwrap().name, "rest");
        assert_eq!(
            sla.policy_for(Priority::P1, Segment::Standard).unwrap().name,
            "rest"
        );

        let mut bad = specs.clone();
        bad[1].warn_at = 1.5;
        let e = Sla::new(&bad, None).unwrap_err();
        assert_eq!(e.key, "sla.policies[1].warn_at");
        bad[1].warn_at = 0.8;
        bad[1].hours = "business".into();
        assert!(Sla::new(&bad, None)
            .unwrap_err()
            .message
            .contains("[sla.business_hours] is missing"));
        bad[1].hours = "calendar".into();
        bad[1].first_response = Some("soon".into());
        assert_eq!(
            Sla::new(&bad, None).unwrap_err().key,
            "sla.policies[1].first_response"
        );
    }

    #[test]
    fn business_hours_refuse_bad_ranges_overlaps_and_zones() {
        let closed = [None; 7];
        assert!(BusinessHours::new(
            "Mars/Base",
            [Some("09:00-17:00"), None, None, None, None, None, None],
            &[]
        )
        .is_err());
        let overlap = BusinessHours::new(
            "UTC",
            [
                Some("09:00-13:00, 12:00-18:00"),
                None,
                None,
                None,
                None,
                None,
                None,
            ],
            &[],
        )
        .unwrap_err();
        assert!(
            overlap.message.contains("overlap") && overlap.key == "sla.business_hours.mon",
            "{overlap}"
        );
        let backwards = BusinessHours::new(
            "UTC",
            [Some("18:00-09:00"), None, None, None, None, None, None],
            &[],
        );
        assert!(backwards.unwrap_err().message.contains("HH:MM-HH:MM"));
        assert!(BusinessHours::new("UTC", closed, &[]).is_err());
        let holiday = BusinessHours::new(
            "UTC",
            [Some("09:00-17:00"), None, None, None, None, None, None],
            &["25/12".into()],
        );
        assert_eq!(holiday.unwrap_err().key, "sla.business_hours.holidays");
        assert!(BusinessHours::new(
            "UTC",
            [Some("00:00-24:00"), None, None, None, None, None, None],
            &[]
        )
        .is_ok());
    }

    fn sla() -> Sla {
        Sla::new(&Sla::default_specs(), None).unwrap()
    }

    fn targets(clocks: &[Clock]) -> Vec<(Target, Option<Outcome>, bool)> {
        clocks
            .iter()
            .map(|c| (c.target, c.outcome, c.is_running()))
            .collect()
    }

    #[test]
    fn a_case_starts_first_response_and_resolution_and_a_reply_stops_the_response() {
        let sla = sla();
        let mut clocks = vec![];
        let t = at("2026-11-27T09:00:00Z");
        let opened = sla.on_case_event(
            &mut clocks,
            CaseId(1),
            Priority::P2,
            Segment::Standard,
            CaseEvent::Opened,
            t,
        );
        assert_eq!(opened, vec![0, 1]);
        assert_eq!(
            clocks[0].due_at,
            Some(at("2026-11-27T10:00:00Z")),
            "P2: first response 1h"
        );
        let replied = sla.on_case_event(
            &mut clocks,
            CaseId(1),
            Priority::P2,
            Segment::Standard,
            CaseEvent::Replied { by: "ana" },
            t + Duration::minutes(20),
        );
        assert_eq!(replied, vec![0]);
        assert_eq!(
            targets(&clocks),
            vec![
                (Target::FirstResponse, Some(Outcome::Met), false),
                (Target::Resolution, None, true)
            ]
        );
        assert_eq!(clocks[0].agent.as_deref(), Some("ana"));
    }

    #[test]
    fn a_post_after_our_reply_starts_the_next_response_clock_once() {
        let sla = sla();
        let mut clocks = vec![];
        let t = at("2026-11-27T09:00:00Z");
        let ev = |clocks: &mut Vec<Clock>, e, m| {
            sla.on_case_event(
                clocks,
                CaseId(1),
                Priority::P2,
                Segment::Standard,
                e,
                t + Duration::minutes(m),
            )
        };
        ev(&mut clocks, CaseEvent::Opened, 0);
        // Before any reply, another post changes nothing: first response is still running.
        assert!(ev(
            &mut clocks,
            CaseEvent::CustomerWrote {
                replied_before: false
            },
            5
        )
        .is_empty());
        ev(&mut clocks, CaseEvent::Replied { by: "ana" }, 10);
        assert_eq!(
            ev(&mut clocks, CaseEvent::CustomerWrote { replied_before: true }, 30),
            vec![2]
        );
        assert!(ev(&mut clocks, CaseEvent::CustomerWrote { replied_before: true }, 31).is_empty());
        assert_eq!(
            clocks[2].due_at,
            Some(t + Duration::minutes(150)),
            "next response 2h"
        );
        ev(&mut clocks, CaseEvent::Replied { by: "ben" }, 60);
        assert_eq!(clocks[2].outcome, Some(Outcome::Met));
    }

    #[test]
    fn waiting_pauses_resolution_and_a_reopen_resumes_it() {
        let sla = sla();
        let mut clocks = vec![];
        let t = at("2026-11-27T09:00:00Z");
        let ev = |clocks: &mut Vec<Clock>, e, m| {
            sla.on_case_event(
                clocks,
                CaseId(1),
                Priority::P2,
                Segment::Standard,
                e,
                t + Duration::minutes(m),
            )
        };
        ev(&mut clocks, CaseEvent::Opened, 0);
        ev(&mut clocks, CaseEvent::Replied { by: "ana" }, 10);
        ev(&mut clocks, CaseEvent::Waiting, 60);
        assert!(!clocks[1].is_running());
        ev(
            &mut clocks,
            CaseEvent::CustomerWrote { replied_before: true },
            600,
        );
        assert_eq!(
            clocks[1].due_at,
            Some(t + Duration::minutes(600 + 420)),
            "7h of 8h left"
        );
        ev(&mut clocks, CaseEvent::Resolved { by: "ana" }, 700);
        assert_eq!(clocks[1].outcome, Some(Outcome::Met));
        assert_eq!(
            clocks[2].outcome,
            Some(Outcome::Cancelled),
            "the open next response is cancelled"
        );
        ev(&mut clocks, CaseEvent::Reopened, 800);
        assert!(clocks[1].is_running() && clocks[1].outcome.is_none());
        assert_eq!(clocks[1].elapsed_secs, 160 * 60);
    }

    #[test]
    fn a_priority_change_retargets_the_running_clocks() {
        let sla = sla();
        let mut clocks = vec![];
        let t = at("2026-11-27T09:00:00Z");
        sla.on_case_event(
            &mut clocks,
            CaseId(1),
            Priority::P3,
            Segment::Standard,
            CaseEvent::Opened,
            t,
        );
        assert_eq!(clocks[0].due_at, Some(t + Duration::hours(4)));
        let changed = sla.on_case_event(
            &mut clocks,
            CaseId(1),
            Priority::P1,
            Segment::Standard,
            CaseEvent::Retarget,
            t + Duration::minutes(10),
        );
        assert_eq!(changed, vec![0, 1]);
        assert_eq!(
            clocks[0].due_at,
            Some(t + Duration::minutes(15)),
            "P1: 15m, 10 already used"
        );
        assert_eq!(clocks[0].policy, "p1");
    }

    #[test]
    fn durations_read_for_people() {
        assert_eq!(human(45 * 60), "45m");
        assert_eq!(human(3900), "1h 05m");
        assert_eq!(human(-7200), "2h 00m");
        assert_eq!(human(2 * 86_400 + 3 * 3600), "2d 3h");
    }
}
