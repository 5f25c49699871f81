//! Small value types whose invariants are checked once, at parse time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a value could not be parsed; `Display` is written for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} `{input}` is not valid: {hint}")]
pub struct ParseError {
    pub what: &'static str,
    pub input: String,
    pub hint: &'static str,
}

impl ParseError {
    fn new(what: &'static str, input: &str, hint: &'static str) -> Self {
        let mut input = input.to_string();
        if input.len() > 60 {
            let cut = (0..=60).rev().find(|i| input.is_char_boundary(*i)).unwrap_or(0);
            input.truncate(cut);
            input.push('…');
        }
        Self { what, input, hint }
    }
}

/// A case number as users see it: `#12`, `12` or `case-12`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseId(pub i64);

impl CaseId {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let s = input.trim();
        let digits = s
            .strip_prefix('#')
            .or_else(|| s.strip_prefix("case-"))
            .or_else(|| s.strip_prefix("case"))
            .unwrap_or(s)
            .trim();
        match digits.parse::<i64>() {
            Ok(n) if n > 0 => Ok(CaseId(n)),
            _ => Err(ParseError::new(
                "case id",
                input,
                "use the case number, e.g. `#12` or `12`",
            )),
        }
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A customer's handle on a network, normalised: no leading `@`, lower case, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Handle(String);

impl Handle {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        // Zero-width and direction marks are invisible: `@\u{200f}dana` is `@dana`.
        let visible: String = input.chars().filter(|c| !is_invisible(*c)).collect();
        let s = visible.trim().trim_start_matches('@').trim();
        if s.is_empty() {
            return Err(ParseError::new(
                "handle",
                input,
                "give the customer's handle, e.g. `@dana_travels`",
            ));
        }
        if s.chars().count() > 100 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ParseError::new(
                "handle",
                input,
                "a handle has no spaces and at most 100 characters",
            ));
        }
        Ok(Handle(s.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The made-up handle of a post nobody could read (`unparsed-<source id>`): unique, but
    /// not for people to read.
    pub fn is_unparsed(&self) -> bool {
        self.0.starts_with(UNPARSED_PREFIX)
    }

    /// How the customer of `case` is shown: `@dana`, or `unparsed post #8` for an unparsed
    /// post (still unique: each unparsed post is its own customer with its own case).
    pub fn shown(&self, case: CaseId) -> String {
        if self.is_unparsed() {
            format!("unparsed post {case}")
        } else {
            self.to_string()
        }
    }
}

/// How the handles of unparsed posts start.
pub const UNPARSED_PREFIX: &str = "unparsed-";

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.0)
    }
}

/// Characters that render as nothing: zero-width spaces and joiners, direction marks, BOM.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// A social network, normalised to a lower-case name (`twitter`, `facebook`, `reviews`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Network(String);

impl Network {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let s = input.trim().to_lowercase();
        let s = match s.as_str() {
            "x" | "tweet" | "twitter.com" | "x.com" => "twitter".to_string(),
            "fb" | "facebook.com" => "facebook".to_string(),
            "ig" | "insta" | "instagram.com" => "instagram".to_string(),
            _ => s,
        };
        if s.is_empty()
            || s.len() > 40
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ParseError::new(
                "network",
                input,
                "use a short name such as `twitter`, `facebook`, `instagram`, `reviews` or `forum`",
            ));
        }
        Ok(Network(s))
    }

    /// The network of posts whose network could not be read.
    pub fn unknown() -> Self {
        Network("unknown".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Case priority; P1 is the most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4];

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "p1" | "1" | "urgent" => Ok(Priority::P1),
            "p2" | "2" | "high" => Ok(Priority::P2),
            "p3" | "3" | "normal" => Ok(Priority::P3),
            "p4" | "4" | "low" => Ok(Priority::P4),
            _ => Err(ParseError::new(
                "priority",
                input,
                "use P1 (most urgent), P2, P3 or P4",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
        }
    }

    /// One step more urgent (P1 stays P1).
    pub fn raised(self) -> Self {
        match self {
            Priority::P1 | Priority::P2 => Priority::P1,
            Priority::P3 => Priority::P2,
            Priority::P4 => Priority::P3,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a customer matters to the business; shapes priority and empowerment limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Segment {
    Vip,
    Promising,
    Standard,
}

impl Segment {
    pub const ALL: [Segment; 3] = [Segment::Vip, Segment::Promising, Segment::Standard];

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "vip" => Ok(Segment::Vip),
            "promising" => Ok(Segment::Promising),
            "standard" => Ok(Segment::Standard),
            _ => Err(ParseError::new(
                "segment",
                input,
                "use vip, promising or standard",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Vip => "vip",
            Segment::Promising => "promising",
            Segment::Standard => "standard",
        }
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a person may do in carebot; each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Agent,
    Senior,
    Supervisor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Agent, Role::Senior, Role::Supervisor, Role::Admin];

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "agent" => Ok(Role::Agent),
            "senior" => Ok(Role::Senior),
            "supervisor" => Ok(Role::Supervisor),
            "admin" => Ok(Role::Admin),
            _ => Err(ParseError::new(
                "role",
                input,
                "use agent, senior, supervisor or admin",
            )),
        }
    }

    /// `a supervisor`, `an admin`: the role in running text.
    pub fn a(self) -> &'static str {
        match self {
            Role::Agent => "an agent",
            Role::Senior => "a senior",
            Role::Supervisor => "a supervisor",
            Role::Admin => "an admin",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Senior => "senior",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(s)
    }
}

/// An amount in hundredths of its unit (cents, or hundredths of a point). Never negative.
/// Serialised as a decimal string (`"25.50"`) so scripts never confuse cents and units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Money(pub i64);

impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Money {
    /// Parses `25`, `25.5`, `25.50`, `$25` or `25 USD` into cents.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let s = input.trim().trim_start_matches(['$', '€', '£']).trim();
        let s = s
            .strip_suffix("USD")
            .or_else(|| s.strip_suffix("EUR"))
            .unwrap_or(s)
            .trim();
        let bad = || {
            ParseError::new(
                "amount",
                input,
                "use a non-negative amount such as `25` or `25.50`",
            )
        };
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        if whole.is_empty()
            || !whole.chars().all(|c| c.is_ascii_digit())
            || frac.len() > 2
            || !frac.chars().all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        let whole: i64 = whole.parse().map_err(|_| bad())?;
        let cents: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().map_err(|_| bad())? * 10,
            _ => frac.parse().map_err(|_| bad())?,
        };
        whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(cents))
            .map(Money)
            .ok_or_else(bad)
    }

    pub fn cents(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 100 == 0 {
            write!(f, "{}", self.0 / 100)
        } else {
            write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unparsed_posts_customer_is_shown_by_its_case_number() {
        let h = Handle::parse("unparsed-console-twitter-feed-1795776300000011").unwrap();
        assert!(h.is_unparsed());
        assert_eq!(h.shown(CaseId(8)), "unparsed post #8");
        assert_eq!(Handle::parse("@dana").unwrap().shown(CaseId(8)), "@dana");
    }

    use super::*;

    #[test]
    fn a_case_id_accepts_hash_and_plain_numbers() {
        assert_eq!(CaseId::parse("#12").unwrap(), CaseId(12));
        assert_eq!(CaseId::parse(" 7 ").unwrap(), CaseId(7));
        assert_eq!(CaseId::parse("case-3").unwrap(), CaseId(3));
        assert!(CaseId::parse("abc").is_err());
        assert!(CaseId::parse("0").is_err());
    }

    #[test]
    fn a_handle_without_at_sign_is_normalised() {
        assert_eq!(Handle::parse("@Dana_Travels").unwrap().as_str(), "dana_travels");
        assert_eq!(Handle::parse("dana").unwrap().to_string(), "@dana");
        assert!(Handle::parse("@").is_err());
        assert!(Handle::parse("two words").is_err());
        assert_eq!(Handle::parse("@\u{200f}dana\u{200b}").unwrap().as_str(), "dana");
    }

    #[test]
    fn network_aliases_are_normalised() {
        assert_eq!(Network::parse("X").unwrap().as_str(), "twitter");
        assert_eq!(Network::parse("Facebook").unwrap().as_str(), "facebook");
        assert!(Network::parse("no spaces allowed").is_err());
    }

    #[test]
    fn priorities_order_from_most_urgent() {
        assert!(Priority::P1 < Priority::P4);
        assert_eq!(Priority::parse("p2").unwrap(), Priority::P2);
        assert_eq!(Priority::P3.raised(), Priority::P2);
        assert!(Priority::parse("P9").is_err());
    }

    #[test]
    fn money_parses_to_cents_and_refuses_negatives() {
        assert_eq!(Money::parse("25").unwrap(), Money(2500));
        assert_eq!(Money::parse("$25.5").unwrap(), Money(2550));
        assert_eq!(Money::parse("0.05").unwrap(), Money(5));
        assert!(Money::parse("-5").is_err());
        assert!(Money::parse("1.234").is_err());
        assert_eq!(Money(2550).to_string(), "25.50");
        assert_eq!(Money(2500).to_string(), "25");
        assert_eq!(serde_json::to_string(&Money(2550)).unwrap(), "\"25.50\"");
    }

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(
            Role::Agent < Role::Senior && Role::Senior < Role::Supervisor && Role::Supervisor < Role::Admin
        );
        assert!(Role::parse("boss").is_err());
    }
}
