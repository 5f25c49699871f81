//! Surges: mentions per category in a sliding window against their trailing baseline.
//!
//! A [`RateTracker`] counts mentions per category in one-minute buckets (so recording one is a
//! few array operations, whatever the volume) and answers, for a category at a time, how many
//! arrived in the last window and how many a window held on average over the baseline before
//! it. A surge is a window with at least `min_mentions` and `factor` times the baseline; it ends
//! when a whole window is back at (or below) the baseline it was compared with.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::playbook::parse_duration;

/// `[surge]` checked: window and baseline lengths, the factor and the minimum count.
#[derive(Debug, Clone, PartialEq)]
pub struct SurgeSettings {
    pub window_secs: i64,
    pub baseline_secs: i64,
    pub factor: f64,
    pub min_mentions: u32,
}

/// A `[surge]` setting that cannot be used; names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("surge.{key}: {message}")]
pub struct SurgeConfigError {
    pub key: &'static str,
    pub message: String,
}

impl SurgeSettings {
    pub fn new(
        window: &str,
        baseline: &str,
        factor: f64,
        min_mentions: u32,
    ) -> Result<Self, SurgeConfigError> {
        let duration = |key: &'static str, text: &str| {
            parse_duration(text)
                .filter(|s| *s >= 60 && s % 60 == 0)
                .ok_or_else(|| SurgeConfigError {
                    key,
                    message: format!("`{text}` is not a whole number of minutes; use e.g. 15m or 24h"),
                })
        };
        let window_secs = duration("window", window)?;
        let baseline_secs = duration("baseline", baseline)?;
        if baseline_secs < window_secs {
            return Err(SurgeConfigError {
                key: "baseline",
                message: format!("`{baseline}` is shorter than the window `{window}`; the baseline must cover several windows"),
            });
        }
        if !(factor.is_finite() && factor > 1.0) {
            return Err(SurgeConfigError {
                key: "factor",
                message: format!("{factor} must be above 1 (e.g. 3.0: three times the usual rate)"),
            });
        }
        if min_mentions == 0 {
            return Err(SurgeConfigError {
                key: "min_mentions",
                message: "must be at least 1 (e.g. 8)".into(),
            });
        }
        Ok(SurgeSettings {
            window_secs,
            baseline_secs,
            factor,
            min_mentions,
        })
    }

    /// Whether a window of `count` mentions against `baseline` per window is a surge.
    pub fn is_surge(&self, count: u32, baseline: f64) -> bool {
        count >= self.min_mentions && f64::from(count) >= self.factor * baseline
    }

    /// Whether a window of `count` mentions is back to `baseline` (the rate the incident was
    /// compared with when it opened).
    pub fn is_over(&self, count: u32, baseline: f64) -> bool {
        f64::from(count) <= baseline
    }
}

/// Minutes of history kept per category: the baseline and the window.
#[derive(Debug, Clone)]
struct Series {
    /// counts[i] = mentions in the minute `first_minute + i`.
    counts: Vec<u32>,
    first_minute: i64,
}

/// What one category looks like at a moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Mentions in the last window (including the one just recorded).
    pub window: u32,
    /// Average mentions per window over the baseline before the last window.
    pub baseline: f64,
}

/// Counts mentions per category per minute over the baseline and the window.
#[derive(Debug, Clone)]
pub struct RateTracker {
    window_minutes: i64,
    baseline_minutes: i64,
    series: HashMap<String, Series>,
}

fn minute_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

impl RateTracker {
    pub fn new(settings: &SurgeSettings) -> Self {
        RateTracker {
            window_minutes: settings.window_secs / 60,
            baseline_minutes: settings.baseline_secs / 60,
            series: HashMap::new(),
        }
    }

    fn span(&self) -> i64 {
        self.window_minutes + self.baseline_minutes
    }

    /// Counts one mention of `category` at `at` (out-of-order times within the kept span are
    /// fine; older ones are ignored) and returns the category's rate at `at`.
    pub fn record(&mut self, category: &str, at: DateTime<Utc>) -> Rate {
        let minute = minute_of(at);
        let span = self.span();
        let series = self.series.entry(category.to_string()).or_insert_with(|| Series {
            counts: vec![0; span as usize],
            first_minute: minute - span + 1,
        });
        // Slide so `minute` is the last bucket.
        let last = series.first_minute + span - 1;
        if minute > last {
            let shift = (minute - last).min(span) as usize;
            series.counts.rotate_left(shift);
            let len = series.counts.len();
            series.counts[len - shift..].iter_mut().for_each(|c| *c = 0);
            series.first_minute = minute - span + 1;
        }
        let index = minute - series.first_minute;
        if (0..span).contains(&index) {
            series.counts[index as usize] += 1;
        }
        self.rate(category, at)
    }

    /// The rate of `category` at `at` without counting anything.
    pub fn rate(&self, category: &str, at: DateTime<Utc>) -> Rate {
        let Some(series) = self.series.get(category) else {
            return Rate {
                window: 0,
                baseline: 0.0,
            };
        };
        let now = minute_of(at);
        let count = |from: i64, to: i64| -> u32 {
            (from..to)
                .filter_map(|m| {
                    let i = m - series.first_minute;
                    (0..self.span()).contains(&i).then(|| series.counts[i as usize])
                })
                .sum()
        };
        let window_start = now - self.window_minutes + 1;
        let window = count(window_start, now + 1);
        let before = count(window_start - self.baseline_minutes, window_start);
        let windows = self.baseline_minutes as f64 / self.window_minutes as f64;
        Rate {
            window,
            baseline: f64::from(before) / windows,
        }
    }
}

/// An incident number as users see it: `I3` (also `i3`, `3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IncidentId(pub i64);

impl IncidentId {
    pub fn parse(input: &str) -> Result<Self, super::ParseError> {
        let s = input.trim();
        let digits = s.strip_prefix(['I', 'i']).unwrap_or(s);
        match digits.parse::<i64>() {
            Ok(n) if n > 0 => Ok(IncidentId(n)),
            _ => Err(super::ParseError {
                what: "incident id",
                input: input.chars().take(60).collect(),
                hint: "use the incident's id, e.g. `I3`; `/incidents` lists them",
            }),
        }
    }
}

impl std::fmt::Display for IncidentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "I{}", self.0)
    }
}

impl serde::Serialize for IncidentId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for IncidentId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        IncidentId::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    /// The surge goes on: new cases of the category join it.
    Open,
    /// The rate fell back: new cases open on their own again; its cases are still grouped.
    Ended,
    /// Its cases were resolved together.
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Ended => "ended",
            IncidentStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            IncidentStatus::Open,
            IncidentStatus::Ended,
            IncidentStatus::Resolved,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A surge of one category, with the cases grouped under it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Incident {
    pub id: IncidentId,
    pub category: String,
    pub status: IncidentStatus,
    pub opened_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub window_secs: i64,
    /// The usual mentions per window it was compared with.
    pub baseline_per_window: f64,
    pub peak_count: u32,
    pub mention_count: u32,
    pub case_count: u32,
    /// A few posts that show what it is about.
    pub samples: Vec<String>,
    /// The bulk-reply playbook offered for it.
    pub bulk_playbook: Option<String>,
}

/// How many sample posts an incident keeps.
pub const SAMPLES: usize = 3;

impl Incident {
    /// Counts a mention that joined it; keeps the first few as samples.
    pub fn joined(&mut self, text: &str, new_case: bool, rate: Rate) {
        self.mention_count += 1;
        self.case_count += u32::from(new_case);
        self.peak_count = self.peak_count.max(rate.window);
        if self.samples.len() < SAMPLES && !text.trim().is_empty() {
            self.samples.push(text.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn settings() -> SurgeSettings {
        SurgeSettings::new("15m", "24h", 3.0, 8).unwrap()
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::minutes(minutes)
    }

    #[test]
    fn eight_mentions_in_a_quiet_window_are_a_surge() {
        let s = settings();
        let mut t = RateTracker::new(&s);
        let mut rate = t.record("checkout-outage", at(0));
        for i in 1..8 {
            assert!(!s.is_surge(rate.window, rate.baseline), "not yet at {i}");
            rate = t.record("checkout-outage", at(i));
        }
        assert_eq!(rate.window, 8);
        assert!(s.is_surge(rate.window, rate.baseline));
        assert_eq!(t.rate("praise", at(8)).window, 0, "per category");
    }

    #[test]
    fn a_busy_category_needs_three_times_its_usual_rate() {
        let s = settings();
        let mut t = RateTracker::new(&s);
        // 10 mentions per 15 minutes all day long.
        for m in (0..24 * 60).step_by(15) {
            for k in 0..10 {
                t.record("shipping", at(m + k));
            }
        }
        let now = at(24 * 60 + 30);
        let mut rate = t.rate("shipping", now);
        assert!((rate.baseline - 10.0).abs() < 1.0, "{rate:?}");
        for _ in 0..20 {
            rate = t.record("shipping", now);
        }
        assert!(
            !s.is_surge(rate.window, rate.baseline),
            "20 is not 3x 10: {rate:?}"
        );
        for _ in 0..15 {
            rate = t.record("shipping", now);
        }
        assert!(s.is_surge(rate.window, rate.baseline), "{rate:?}");
    }

    #[test]
    fn the_window_slides_and_a_surge_is_over_when_the_window_is_quiet_again() {
        let s = settings();
        let mut t = RateTracker::new(&s);
        for i in 0..10 {
            t.record("checkout-outage", at(i));
        }
        assert_eq!(t.rate("checkout-outage", at(14)).window, 10);
        assert_eq!(t.rate("checkout-outage", at(20)).window, 4, "minutes 6..9 remain");
        let quiet = t.rate("checkout-outage", at(40));
        assert_eq!(quiet.window, 0);
        assert!(s.is_over(quiet.window, 0.0));
        // A day later the old mentions have left the baseline too.
        assert_eq!(t.record("checkout-outage", at(3 * 24 * 60)).baseline, 0.0);
    }

    #[test]
    fn incident_ids_read_with_or_without_the_i() {
        assert_eq!(IncidentId::parse("I3").unwrap(), IncidentId(3));
        assert_eq!(IncidentId::parse("3").unwrap().to_string(), "I3");
        assert!(IncidentId::parse("E3").is_err());
    }

    #[test]
    fn bad_settings_name_their_key() {
        assert_eq!(
            SurgeSettings::new("soon", "24h", 3.0, 8).unwrap_err().key,
            "window"
        );
        assert_eq!(
            SurgeSettings::new("15m", "5m", 3.0, 8).unwrap_err().key,
            "baseline"
        );
        assert_eq!(
            SurgeSettings::new("15m", "24h", 0.5, 8).unwrap_err().key,
            "factor"
        );
        assert_eq!(
            SurgeSettings::new("15m", "24h", 3.0, 0).unwrap_err().key,
            "min_mentions"
        );
        assert_eq!(
            SurgeSettings::new("90s", "24h", 3.0, 8).unwrap_err().key,
            "window"
        );
    }
}
