//! The workload of the ingest benchmarks (`benches/ingest.rs`, `benches/backends.rs`), in one
//! place so both measure the same mix: ~60% of mentions from new customers, ~40% from repeat
//! customers, ~3% exact duplicates (a retried import), ~1% retweets (ignored as echoes); texts
//! on the shipped playbooks' topics; generated from a fixed seed, so runs compare. Included by
//! `#[path]`; each bench uses what it needs of it.
#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};

use carebot::domain::feed::FeedPost;

/// The benchmarks' fixed clock: posts are `t0() + i` seconds.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T08:00:00Z")
        .expect("fixed time")
        .with_timezone(&Utc)
}

/// splitmix64: a small deterministic generator, so every run sees the same data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 1000 < percent * 10
    }
}

/// Texts on the shipped playbooks' topics (`{n}` becomes an order or booking number).
pub const TEXTS: &[&str] = &[
    "got a flat tyre in my rental car on the way to a meeting, roadside assistance just told me the tools are in the trunk",
    "rental car broke down on the highway, waiting for a tow truck for two hours now",
    "I was charged twice for order {n}, please refund the second charge",
    "why was I billed for damage on booking {n}? the car was fine when I returned it",
    "checkout broken on black friday, payment failed three times with error 500",
    "site is down again, can't check out my cart",
    "promo code SAVE20 doesn't work at checkout, says invalid",
    "flash sale sold out in 2 seconds, bait and switch?",
    "my loyalty points expired without any warning, 12,000 points gone",
    "lost my points after the app update, rewards gone",
    "my order {n} is late, where is it? tracking hasn't moved in 5 days",
    "where is my order?? still waiting since last week, order {n}",
    "the staff at the downtown store were so rude, hung up on me twice",
    "worst service ever, the agent was condescending and unhelpful",
    "thank you for the amazing service today, the new car arrived in 30 minutes!",
    "shout out to Maria at the airport desk, you rock",
    "do you ship to Canada?",
    "what are your opening hours on sunday?",
];

pub const NETWORKS: &[(&str, &str, &str)] = &[
    ("twitter", "Twitter", "https://twitter.com/{h}/status/{id}"),
    ("twitter", "Twitter", "https://twitter.com/{h}/status/{id}"),
    ("twitter", "Twitter", "https://twitter.com/{h}/status/{id}"),
    ("facebook", "Facebook", "https://facebook.com/{h}/posts/{id}"),
    ("instagram", "Instagram", "https://instagram.com/p/{id}"),
];

/// One generated mention, before it is written as JSON or as a feed post.
#[derive(Clone)]
pub struct Item {
    pub id: u64,
    pub network: usize,
    pub handle: String,
    pub name: Option<String>,
    pub text: String,
    pub followers: u64,
    pub posted_at: DateTime<Utc>,
}

impl Item {
    pub fn url(&self) -> String {
        NETWORKS[self.network]
            .2
            .replace("{h}", &self.handle)
            .replace("{id}", &self.id.to_string())
    }

    pub fn json_line(&self) -> String {
        serde_json::json!({
            "id": self.id.to_string(),
            "network": NETWORKS[self.network].0,
            "handle": self.handle,
            "name": self.name,
            "text": self.text,
            "url": self.url(),
            "posted_at": self.posted_at,
            "followers": self.followers,
        })
        .to_string()
    }

    /// The post as a `tagged-line` feed integration writes it.
    pub fn feed_post(&self, seq: u64) -> FeedPost {
        FeedPost {
            source_id: format!("discord:{}", self.id),
            channel_id: "900000000000000001".into(),
            message_id: (1_100_000_000_000_000_000 + seq).to_string(),
            poster: "feed-bot".into(),
            content: format!(
                "[{}] @{}: {} {}",
                NETWORKS[self.network].1,
                self.handle,
                self.text,
                self.url()
            ),
            embeds: vec![],
            posted_at: self.posted_at,
        }
    }
}

/// Generates the mix: new customers, repeat customers, duplicates, echoes.
pub struct Workload {
    pub rng: Rng,
    /// Customers seen so far: (network, handle).
    pub customers: Vec<(usize, String)>,
    pub emitted: Vec<Item>,
    pub next_id: u64,
    /// Keep every emitted item (to re-send duplicates) only up to this many.
    pub keep: usize,
}

impl Workload {
    pub fn new(seed: u64, first_id: u64) -> Workload {
        Workload {
            rng: Rng(seed),
            customers: Vec::new(),
            emitted: Vec::new(),
            next_id: first_id,
            keep: 50_000,
        }
    }

    pub fn next(&mut self, i: usize) -> Item {
        if !self.emitted.is_empty() && self.rng.chance(3) {
            let k = self.rng.below(self.emitted.len());
            return self.emitted[k].clone();
        }
        let (network, handle, name) = if !self.customers.is_empty() && self.rng.chance(40) {
            let k = self.rng.below(self.customers.len());
            let (n, h) = self.customers[k].clone();
            (n, h, None)
        } else {
            let network = self.rng.below(NETWORKS.len());
            let handle = format!("user{}", self.customers.len() + 1);
            self.customers.push((network, handle.clone()));
            let name = self
                .rng
                .chance(50)
                .then(|| format!("Customer {}", self.customers.len()));
            (network, handle, name)
        };
        self.next_id += 1;
        let text = if self.rng.chance(1) {
            format!("RT @someone: {}", TEXTS[self.rng.below(TEXTS.len())])
        } else {
            TEXTS[self.rng.below(TEXTS.len())]
                .replace("{n}", &format!("A{}", 100_000 + self.rng.below(900_000)))
        };
        let followers = match self.rng.below(100) {
            0 => 50_000 + self.rng.below(500_000) as u64,
            1..=10 => 2_000 + self.rng.below(20_000) as u64,
            _ => self.rng.below(2_000) as u64,
        };
        let item = Item {
            id: self.next_id,
            network,
            handle,
            name,
            text,
            followers,
            posted_at: t0() + Duration::seconds(i as i64),
        };
        if self.emitted.len() < self.keep {
            self.emitted.push(item.clone());
        } else {
            let k = self.rng.below(self.keep);
            self.emitted[k] = item.clone();
        }
        item
    }
}

/// Binds mention `m` as the raw baselines insert it, from `case_id` on (the columns of
/// `mentions` after its id; the case and customer ids are `i`, as if each had its own).
pub fn bind_mention_row<'q>(
    query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    i: i64,
    m: &'q carebot::domain::feed::Mention,
    now: DateTime<Utc>,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    query
        .bind(i)
        .bind(i)
        .bind(&m.source_id)
        .bind(m.external_id.as_deref())
        .bind(m.network.as_str())
        .bind(m.handle.as_str())
        .bind(m.display_name.as_deref())
        .bind(&m.text)
        .bind(m.url.as_deref())
        .bind(m.followers.map(|f| f as i64))
        .bind(m.unparsed)
        .bind(None::<&str>)
        .bind(None::<&str>)
        .bind(m.posted_at.timestamp())
        .bind(now.timestamp())
}
