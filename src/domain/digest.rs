//! Digest math: the weekly period in a timezone, medians and nearest-rank percentiles, SLA
//! compliance percentages and the pain points (categories that grew most against the previous
//! period). Pure: `now` is always a parameter.
//!
//! Definitions (README "Weekly digest" says the same for users):
//! - A period is `[from, to)`. The weekly period ends at the configured weekday and time in
//!   the digest's timezone and starts at the same local time a week before (so a week that
//!   crosses a daylight-saving change lasts 167 or 169 hours).
//! - The median of an even count is the mean of the two middle values; the p90 is the nearest
//!   rank: the smallest value with at least 90% of the values at or below it.
//! - A percentage is `part / whole * 100`, rounded to one decimal; none when `whole` is 0.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::Serialize;

/// The longest period a digest covers.
pub const MAX_PERIOD_DAYS: i64 = 366;

/// How many pain points a digest names.
pub const PAIN_POINTS: usize = 5;

/// A `[digest]` setting that cannot be used; names the key and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestConfigError {
    #[error("digest.weekday `{0}` is not a weekday; use mon, tue, wed, thu, fri, sat or sun")]
    Weekday(String),
    #[error("digest.time `{0}` is not a time of day; use HH:MM such as 09:00")]
    Time(String),
    #[error("digest.timezone `{0}` is not a known IANA time zone; use a name such as Europe/Berlin, America/New_York or UTC")]
    Timezone(String),
}

/// A digest period that cannot be used; says what was wrong and what to give instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("`{0}` is not a date; use YYYY-MM-DD (e.g. 2026-11-23) or an RFC 3339 time")]
    NotADate(String),
    #[error("the digest period ends before it starts: `to` {to} is not after `from` {from}; give the earlier date first")]
    Backwards { from: String, to: String },
    #[error(
        "a digest covers at most a year ({MAX_PERIOD_DAYS} days); {from} to {to} is {days} days, split it"
    )]
    TooLong { from: String, to: String, days: i64 },
}

/// Reads a weekday as people write it: `mon`, `Monday`, `MON`.
pub fn parse_weekday(text: &str) -> Option<Weekday> {
    let t = text.trim().to_ascii_lowercase();
    let all = [
        ("mon", Weekday::Mon),
        ("tue", Weekday::Tue),
        ("wed", Weekday::Wed),
        ("thu", Weekday::Thu),
        ("fri", Weekday::Fri),
        ("sat", Weekday::Sat),
        ("sun", Weekday::Sun),
    ];
    all.into_iter()
        .find(|(short, day)| t == *short || t == full_name(*day))
        .map(|(_, day)| day)
}

fn full_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

/// Reads an IANA zone name (`Europe/Berlin`, `UTC`).
pub fn parse_timezone(text: &str) -> Option<Tz> {
    text.trim().parse::<Tz>().ok()
}

/// The instant `date` at `time` in `tz`: the earlier one when the clock is set back, the first
/// minute after the gap when it is set forward.
pub fn local_at(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let mut local = date.and_time(time);
    for _ in 0..(4 * 60) {
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
        local += Duration::minutes(1);
    }
    date.and_time(time).and_utc()
}

/// When the weekly digest is due: a weekday and time of day in a timezone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    weekday: Weekday,
    time: NaiveTime,
    tz: Tz,
}

impl Default for Schedule {
    /// Mondays at 09:00 UTC.
    fn default() -> Self {
        Schedule {
            weekday: Weekday::Mon,
            time: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            tz: Tz::UTC,
        }
    }
}

impl Schedule {
    /// Checks the three `[digest]` keys; the error names the one that is wrong.
    pub fn new(weekday: &str, time: &str, timezone: &str) -> Result<Schedule, DigestConfigError> {
        let weekday = parse_weekday(weekday).ok_or_else(|| DigestConfigError::Weekday(weekday.into()))?;
        let time = NaiveTime::parse_from_str(time.trim(), "%H:%M")
            .map_err(|_| DigestConfigError::Time(time.into()))?;
        let tz = parse_timezone(timezone).ok_or_else(|| DigestConfigError::Timezone(timezone.into()))?;
        Ok(Schedule { weekday, time, tz })
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// `Mondays 09:00 Europe/Berlin`.
    pub fn describe(&self) -> String {
        format!(
            "{}s {} {}",
            capitalised(full_name(self.weekday)),
            self.time.format("%H:%M"),
            self.tz
        )
    }

    /// The due time in the week of `date` (local), on the schedule's weekday.
    fn due_in_week_of(&self, date: NaiveDate) -> DateTime<Utc> {
        let back = (date.weekday().num_days_from_monday() + 7 - self.weekday.num_days_from_monday()) % 7;
        local_at(self.tz, date - Duration::days(back as i64), self.time)
    }

    /// The latest due time at or before `now`: where the last complete period ends.
    pub fn last_end(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = now.with_timezone(&self.tz).date_naive();
        let due = self.due_in_week_of(today);
        if due <= now {
            due
        } else {
            self.due_in_week_of(today - Duration::days(7))
        }
    }

    /// The first due time after `now`.
    pub fn next_end(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let last = self.last_end(now);
        let date = last.with_timezone(&self.tz).date_naive();
        local_at(self.tz, date + Duration::days(7), self.time)
    }

    /// The week that ends at `end`: from the same local time seven days before.
    pub fn period_ending(&self, end: DateTime<Utc>) -> Period {
        let local = end.with_timezone(&self.tz);
        let from = local_at(self.tz, local.date_naive() - Duration::days(7), local.time());
        Period {
            from,
            to: end,
            tz: self.tz,
        }
    }

    /// The last complete week at `now`.
    pub fn last_period(&self, now: DateTime<Utc>) -> Period {
        self.period_ending(self.last_end(now))
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The stretch of time a digest covers, `[from, to)`, with the timezone its days are counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub tz: Tz,
}

impl Period {
    /// A period that ends after it starts and covers at most [`MAX_PERIOD_DAYS`].
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>, tz: Tz) -> Result<Period, PeriodError> {
        let show = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string();
        if to <= from {
            return Err(PeriodError::Backwards {
                from: show(from),
                to: show(to),
            });
        }
        let length = to - from;
        if length > Duration::days(MAX_PERIOD_DAYS) {
            return Err(PeriodError::TooLong {
                from: show(from),
                to: show(to),
                days: (length.num_hours() + 23) / 24,
            });
        }
        Ok(Period { from, to, tz })
    }

    /// The period of the same length just before this one (what pain points compare with).
    pub fn previous(&self) -> Period {
        Period {
            from: self.from - (self.to - self.from),
            to: self.from,
            tz: self.tz,
        }
    }

    /// The calendar days (in the period's timezone) the period touches, each cut to the period:
    /// `(date, from, to)`. A period from Monday 09:00 to the next Monday 09:00 has eight, the
    /// first and the last partial.
    pub fn days(&self) -> Vec<(NaiveDate, DateTime<Utc>, DateTime<Utc>)> {
        let midnight = NaiveTime::MIN;
        let mut date = self.from.with_timezone(&self.tz).date_naive();
        let mut out = Vec::new();
        loop {
            let start = local_at(self.tz, date, midnight).max(self.from);
            if start >= self.to {
                break;
            }
            let end = local_at(self.tz, date + Duration::days(1), midnight).min(self.to);
            if end > start {
                out.push((date, start, end));
            }
            date += Duration::days(1);
        }
        out
    }

    /// `2026-11-23 09:00 → 2026-11-30 09:00 Europe/Berlin`.
    pub fn describe(&self) -> String {
        let f = |t: DateTime<Utc>| t.with_timezone(&self.tz).format("%Y-%m-%d %H:%M").to_string();
        format!("{} → {} {}", f(self.from), f(self.to), self.tz)
    }
}

/// `2026-11-23` (midnight in `tz`; with `end_of_day` the midnight after, so the day is
/// included) or an RFC 3339 instant.
pub fn parse_bound(text: &str, tz: Tz, end_of_day: bool) -> Result<DateTime<Utc>, PeriodError> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| PeriodError::NotADate(text.into()))?;
    let day = if end_of_day { day + Duration::days(1) } else { day };
    Ok(local_at(tz, day, NaiveTime::MIN))
}

/// The period `/digest [FROM] [TO]` asks for: nothing is the last complete week of the
/// schedule; FROM alone runs until `now`; TO alone is the week before it; dates are days in
/// the schedule's timezone (TO included).
pub fn requested_period(
    from: Option<&str>,
    to: Option<&str>,
    schedule: &Schedule,
    now: DateTime<Utc>,
) -> Result<Period, PeriodError> {
    let tz = schedule.timezone();
    let from = from.map(str::trim).filter(|s| !s.is_empty());
    let to = to.map(str::trim).filter(|s| !s.is_empty());
    match (from, to) {
        (None, None) => Ok(schedule.last_period(now)),
        (Some(f), None) => Period::new(parse_bound(f, tz, false)?, now, tz),
        (None, Some(t)) => {
            let to = parse_bound(t, tz, true)?;
            Period::new(to - Duration::days(7), to, tz)
        }
        (Some(f), Some(t)) => Period::new(parse_bound(f, tz, false)?, parse_bound(t, tz, true)?, tz),
    }
}

/// The median of sorted values: the middle one, or the mean of the two middle ones.
pub fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The nearest-rank percentile of sorted values: the value at rank `ceil(share * n)`.
pub fn nearest_rank(sorted: &[f64], share: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (share * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

/// Rounds to `places` decimals.
pub fn round_to(value: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (value * f).round() / f
}

/// `part / whole` in percent, one decimal; `None` when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| round_to(part as f64 * 100.0 / whole as f64, 1))
}

/// Median and p90 of durations, in minutes (two decimals), and how many there were.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TimeSummary {
    pub median_minutes: Option<f64>,
    pub p90_minutes: Option<f64>,
    pub count: u64,
}

/// Summarises durations given in seconds.
pub fn summarize(seconds: &[i64]) -> TimeSummary {
    let mut minutes: Vec<f64> = seconds.iter().map(|s| *s as f64 / 60.0).collect();
    minutes.sort_by(f64::total_cmp);
    TimeSummary {
        median_minutes: median(&minutes).map(|m| round_to(m, 2)),
        p90_minutes: nearest_rank(&minutes, 0.9).map(|m| round_to(m, 2)),
        count: minutes.len() as u64,
    }
}

/// How many clocks met and breached their target, and the share met.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Compliance {
    pub met: u64,
    pub breached: u64,
    /// `met / (met + breached)` in percent; `None` without any.
    pub percent: Option<f64>,
}

impl Compliance {
    pub fn add(&mut self, met: bool, count: u64) {
        if met {
            self.met += count;
        } else {
            self.breached += count;
        }
        self.percent = percent(self.met, self.met + self.breached);
    }
}

/// A category whose volume grew against the previous period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PainPoint {
    pub category: String,
    /// Cases opened in the period.
    pub count: u64,
    /// Cases opened in the previous period of the same length.
    pub previous: u64,
    /// `count - previous` (always positive here).
    pub change: i64,
    /// The change in percent of `previous`; `None` for a category new this period.
    pub change_percent: Option<f64>,
}

/// The categories that grew most: growth above zero, biggest change first, then the bigger
/// count, then by name; at most [`PAIN_POINTS`].
pub fn pain_points(current: &BTreeMap<String, u64>, previous: &BTreeMap<String, u64>) -> Vec<PainPoint> {
    let mut points: Vec<PainPoint> = current
        .iter()
        .filter_map(|(category, &count)| {
            let before = previous.get(category).copied().unwrap_or(0);
            let change = count as i64 - before as i64;
            (change > 0).then(|| PainPoint {
                category: category.clone(),
                count,
                previous: before,
                change,
                change_percent: (before > 0).then(|| round_to(change as f64 * 100.0 / before as f64, 1)),
            })
        })
        .collect();
    points.sort_by(|a, b| {
        b.change
            .cmp(&a.change)
            .then(b.count.cmp(&a.count))
            .then(a.category.cmp(&b.category))
    });
    points.truncate(PAIN_POINTS);
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn berlin_mondays() -> Schedule {
        Schedule::new("mon", "09:00", "Europe/Berlin").unwrap()
    }

    #[test]
    fn the_last_period_ends_at_the_last_monday_nine_in_berlin_before_now() {
        let s = berlin_mondays();
        // Wednesday 2026-11-25 12:00 UTC: the last Monday 09:00 Berlin (CET, UTC+1) is the 23rd.
        let p = s.last_period(utc("2026-11-25T12:00:00Z"));
        assert_eq!(p.to, utc("2026-11-23T08:00:00Z"));
        assert_eq!(p.from, utc("2026-11-16T08:00:00Z"));
        assert_eq!(
            s.next_end(utc("2026-11-25T12:00:00Z")),
            utc("2026-11-30T08:00:00Z")
        );
    }

    #[test]
    fn on_monday_before_nine_the_week_before_is_the_last_one_and_at_nine_sharp_this_one_is() {
        let s = berlin_mondays();
        assert_eq!(
            s.last_end(utc("2026-11-30T07:59:59Z")),
            utc("2026-11-23T08:00:00Z")
        );
        assert_eq!(
            s.last_end(utc("2026-11-30T08:00:00Z")),
            utc("2026-11-30T08:00:00Z")
        );
        assert_eq!(
            s.next_end(utc("2026-11-30T08:00:00Z")),
            utc("2026-12-07T08:00:00Z")
        );
    }

    #[test]
    fn a_week_across_the_end_of_summer_time_lasts_169_hours() {
        let s = berlin_mondays();
        // Berlin leaves summer time on Sunday 2026-10-25: 09:00 is 07:00 UTC before, 08:00 after.
        let p = s.last_period(utc("2026-10-27T00:00:00Z"));
        assert_eq!(p.from, utc("2026-10-19T07:00:00Z"));
        assert_eq!(p.to, utc("2026-10-26T08:00:00Z"));
        assert_eq!((p.to - p.from).num_hours(), 169);
    }

    #[test]
    fn a_due_time_in_the_spring_gap_moves_to_the_first_minute_after_it() {
        let s = Schedule::new("sun", "02:30", "Europe/Berlin").unwrap();
        // 2026-03-29 02:00–03:00 does not exist in Berlin; 03:00 CEST is 01:00 UTC.
        assert_eq!(
            s.last_end(utc("2026-03-29T12:00:00Z")),
            utc("2026-03-29T01:00:00Z")
        );
    }

    #[test]
    fn bad_digest_settings_name_their_key() {
        let weekday = Schedule::new("someday", "09:00", "UTC").unwrap_err().to_string();
        assert!(
            weekday.contains("digest.weekday") && weekday.contains("someday"),
            "{weekday}"
        );
        let time = Schedule::new("mon", "9am", "UTC").unwrap_err().to_string();
        assert!(time.contains("digest.time"), "{time}");
        let zone = Schedule::new("mon", "09:00", "Mars/Olympus")
            .unwrap_err()
            .to_string();
        assert!(
            zone.contains("digest.timezone") && zone.contains("Mars/Olympus"),
            "{zone}"
        );
        assert!(Schedule::new("Monday", "09:00", "UTC").is_ok());
    }

    #[test]
    fn a_period_must_end_after_it_starts_and_last_at_most_a_year() {
        let tz = Tz::UTC;
        let back = Period::new(utc("2026-11-08T00:00:00Z"), utc("2026-11-01T00:00:00Z"), tz).unwrap_err();
        assert!(back.to_string().contains("ends before it starts"), "{back}");
        let long = Period::new(utc("2025-01-01T00:00:00Z"), utc("2026-06-01T00:00:00Z"), tz).unwrap_err();
        assert!(long.to_string().contains("at most a year"), "{long}");
        assert!(Period::new(utc("2025-11-30T00:00:00Z"), utc("2026-11-30T00:00:00Z"), tz).is_ok());
    }

    #[test]
    fn dates_are_days_in_the_digest_timezone_and_the_last_day_is_included() {
        let s = berlin_mondays();
        let p = requested_period(
            Some("2026-11-23"),
            Some("2026-11-29"),
            &s,
            utc("2026-12-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(p.from, utc("2026-11-22T23:00:00Z"));
        assert_eq!(p.to, utc("2026-11-29T23:00:00Z"));
        let err = requested_period(Some("23.11.2026"), None, &s, utc("2026-12-01T00:00:00Z")).unwrap_err();
        assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
        let now = utc("2026-11-25T12:00:00Z");
        assert_eq!(requested_period(None, None, &s, now).unwrap(), s.last_period(now));
    }

    #[test]
    fn a_monday_nine_week_touches_eight_calendar_days() {
        let p = Period::new(utc("2026-11-23T09:00:00Z"), utc("2026-11-30T09:00:00Z"), Tz::UTC).unwrap();
        let days = p.days();
        assert_eq!(days.len(), 8);
        assert_eq!(days[0].1, utc("2026-11-23T09:00:00Z"));
        assert_eq!(days[0].2, utc("2026-11-24T00:00:00Z"));
        assert_eq!(days[7].2, utc("2026-11-30T09:00:00Z"));
        assert_eq!(p.previous().from, utc("2026-11-16T09:00:00Z"));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[1.0, 3.0, 10.0, 20.0]), Some(6.5));
        assert_eq!(median(&[1.0, 3.0, 10.0]), Some(3.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn the_p90_is_the_nearest_rank() {
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(nearest_rank(&ten, 0.9), Some(9.0));
        let eleven: Vec<f64> = (1..=11).map(f64::from).collect();
        assert_eq!(nearest_rank(&eleven, 0.9), Some(10.0));
        assert_eq!(nearest_rank(&[4.0], 0.9), Some(4.0));
    }

    #[test]
    fn durations_are_summarised_in_minutes() {
        let s = summarize(&[600, 60, 1800, 300]);
        assert_eq!(
            (s.median_minutes, s.p90_minutes, s.count),
            (Some(7.5), Some(30.0), 4)
        );
        assert_eq!(summarize(&[]), TimeSummary::default());
    }

    #[test]
    fn compliance_is_the_share_of_clocks_that_met_their_target() {
        let mut c = Compliance::default();
        c.add(true, 2);
        c.add(false, 1);
        assert_eq!((c.met, c.breached, c.percent), (2, 1, Some(66.7)));
        assert_eq!(Compliance::default().percent, None);
    }

    #[test]
    fn pain_points_are_the_categories_that_grew_most() {
        let now: BTreeMap<String, u64> = [("checkout", 9), ("shipping", 4), ("praise", 2), ("refunds", 3)]
            .map(|(k, v)| (k.to_string(), v))
            .into();
        let before: BTreeMap<String, u64> = [("checkout", 3), ("shipping", 4), ("praise", 5)]
            .map(|(k, v)| (k.to_string(), v))
            .into();
        let points = pain_points(&now, &before);
        let names: Vec<&str> = points.iter().map(|p| p.category.as_str()).collect();
        assert_eq!(names, vec!["checkout", "refunds"]);
        assert_eq!((points[0].change, points[0].change_percent), (6, Some(200.0)));
        assert_eq!((points[1].previous, points[1].change_percent), (0, None));
    }
}
