//! The weekly digest end to end through the engine, on a fresh SQLite database per test: the
//! numbers of a scenario whose times are known (computed by hand below), the weekly timer
//! posting exactly once per period across restarts and two processes, the catch-up after
//! downtime, the chart and the CSV.

mod support;

use carebot::app::outbox::Outgoing;
use carebot::app::{chart, digest, digest_render, Command, Engine, Reply};
use carebot::config::{Config, DigestConfig, SlaPolicyConfig};
use carebot::domain::digest::Period;
use carebot::domain::{CaseId, Priority};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use support::app::{agent, person, spawn_app_with, TestApp};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

/// One SLA policy for every case: first response within 15 minutes, resolution within 3 hours.
fn one_sla_policy(c: &mut Config) {
    c.sla.policies = vec![SlaPolicyConfig {
        name: "flat".into(),
        segments: vec![],
        priorities: vec![],
        first_response: Some("15m".into()),
        next_response: None,
        resolution: Some("3h".into()),
        hours: String::new(),
        warn_at: 0.8,
        escalate_on_breach: false,
    }];
}

fn weekly(timezone: &str) -> impl FnOnce(&mut Config) + '_ {
    move |c: &mut Config| {
        c.digest = Some(DigestConfig {
            weekday: "mon".into(),
            time: "09:00".into(),
            timezone: timezone.into(),
        });
    }
}

/// The week the fixture's digest covers: Monday 2026-11-23 09:00 to Monday 2026-11-30 09:00 UTC.
fn fixture_week() -> Period {
    Period::new(
        at("2026-11-23T09:00:00Z"),
        at("2026-11-30T09:00:00Z"),
        chrono_tz::Tz::UTC,
    )
    .unwrap()
}

async fn run(app: &TestApp, who: &carebot::app::Actor, command: Command, when: &str) {
    app.run_at(who, command, at(when))
        .await
        .unwrap_or_else(|e| panic!("{when}: {e}"));
}

async fn priority(app: &TestApp, case: i64, p: Priority, when: &str) {
    let lead = person("lea", carebot::domain::Role::Senior);
    run(
        app,
        &lead,
        Command::Priority {
            case: CaseId(case),
            priority: p,
        },
        when,
    )
    .await;
}

async fn reply(app: &TestApp, who: &str, case: i64, when: &str) {
    let command = Command::Reply {
        case: CaseId(case),
        text: "On it — sorry about this.".into(),
    };
    run(app, &agent(who), command, when).await;
}

async fn resolve(app: &TestApp, who: &str, case: i64, when: &str) {
    let command = Command::Resolve {
        case: CaseId(case),
        note: None,
    };
    run(app, &agent(who), command, when).await;
}

/// The scenario, with the times the expected numbers below are computed from (all UTC).
///
/// The week before (for pain points): case 1 (praise, P4) opened Fri 11-20 10:00, replied
/// 10:05, resolved 11:00; case 2 (checkout-outage) opened Wed 11-18 10:00, replied 10:05,
/// resolved 12:00.
///
/// The week (Mon 11-23 09:00 – Mon 11-30 09:00):
/// | case | category | net | prio | opened | first reply (by) | resolved (by) |
/// |------|----------|-----|------|--------|------------------|---------------|
/// | 3 | roadside-breakdown | twitter | P2 | 11-23 10:00 | 10:10 ana (10 min) | 12:00 ana (120 min) |
/// | 4 | checkout-outage | twitter | P1 | 11-24 09:00 (+ a 2nd post 10:00) | 09:30 ben (30 min) | — |
/// | 5 | billing-dispute | facebook | P3 | 11-25 14:00 | 14:05 ana (5 min) | 18:00 ana (240 min) |
/// | 6 | checkout-outage | twitter | P3 | 11-26 08:00 | 09:00 ben (60 min) | — |
/// | 7 | rude-staff | twitter | P4 | 11-28 20:00 | — | — |
///
/// Case 1 is reopened on 11-25 10:00. Escalations: case 3 fee waiver of 180 USD asked by ana
/// 11-23 10:20 (above her 120 USD limit), approved by sam 10:50 (30 min); case 4 escalated
/// 11-24 09:40, denied by sam 10:00 (20 min); case 7 escalated 11-29 08:00, still open.
/// Timers fire up to 11-29 00:00, so the breaches of running clocks due before are noticed.
async fn fixture(app: &mut TestApp) {
    let sam = person("sam", carebot::domain::Role::Supervisor);
    app.feed(
        "[Twitter] @happy_hal: Shout-out to the Acme team in Springfield, amazing service, thank you! https://twitter.com/happy_hal/status/1",
        at("2026-11-20T10:00:00Z"),
    )
    .await;
    app.feed(
        "[Twitter] @grace: Checkout keeps failing at payment, card charged but no order confirmation https://twitter.com/grace/status/2",
        at("2026-11-18T10:00:00Z"),
    )
    .await;
    priority(app, 1, Priority::P4, "2026-11-20T10:00:01Z").await;
    reply(app, "ana", 2, "2026-11-18T10:05:00Z").await;
    resolve(app, "ana", 2, "2026-11-18T12:00:00Z").await;
    reply(app, "ana", 1, "2026-11-20T10:05:00Z").await;
    resolve(app, "ana", 1, "2026-11-20T11:00:00Z").await;

    app.feed(
        "[Twitter] @dana_travels: Flat tyre on my rental on the way to a meeting, roadside says the tools are in the trunk https://twitter.com/dana_travels/status/3",
        at("2026-11-23T10:00:00Z"),
    )
    .await;
    priority(app, 3, Priority::P2, "2026-11-23T10:00:01Z").await;
    reply(app, "ana", 3, "2026-11-23T10:10:00Z").await;
    let offer = Command::Offer {
        case: CaseId(3),
        remedy: "fee_waiver".into(),
        amount: "180".into(),
        note: None,
    };
    run(app, &agent("ana"), offer, "2026-11-23T10:20:00Z").await;
    let approve = Command::Approve {
        escalation: carebot::domain::escalation::EscalationId(1),
        amount: None,
        note: None,
    };
    run(app, &sam, approve, "2026-11-23T10:50:00Z").await;
    resolve(app, "ana", 3, "2026-11-23T12:00:00Z").await;

    app.feed(
        "[Twitter] @mia: Checkout keeps failing at payment on Black Friday, the site is down https://twitter.com/mia/status/4",
        at("2026-11-24T09:00:00Z"),
    )
    .await;
    priority(app, 4, Priority::P1, "2026-11-24T09:00:01Z").await;
    reply(app, "ben", 4, "2026-11-24T09:30:00Z").await;
    let escalate = Command::Escalate {
        case: CaseId(4),
        reason: "Refund everyone caught by the outage?".into(),
    };
    run(app, &agent("ben"), escalate, "2026-11-24T09:40:00Z").await;
    let deny = Command::Deny {
        escalation: carebot::domain::escalation::EscalationId(2),
        reason: "Not until finance confirms the double charges.".into(),
    };
    run(app, &sam, deny, "2026-11-24T10:00:00Z").await;
    app.feed(
        "[Twitter] @mia: Still failing at checkout, third time now https://twitter.com/mia/status/5",
        at("2026-11-24T10:00:00Z"),
    )
    .await;

    app.feed(
        "[Facebook] Leo Brandt (@leo): You charged me twice for the same booking, I want my money back https://facebook.com/leo/posts/6",
        at("2026-11-25T14:00:00Z"),
    )
    .await;
    priority(app, 5, Priority::P3, "2026-11-25T14:00:01Z").await;
    reply(app, "ana", 5, "2026-11-25T14:05:00Z").await;
    resolve(app, "ana", 5, "2026-11-25T18:00:00Z").await;
    run(
        app,
        &agent("ana"),
        Command::Reopen { case: CaseId(1) },
        "2026-11-25T10:00:00Z",
    )
    .await;

    app.feed(
        "[Twitter] @nora: Checkout page throws error 500 at payment every time https://twitter.com/nora/status/7",
        at("2026-11-26T08:00:00Z"),
    )
    .await;
    priority(app, 6, Priority::P3, "2026-11-26T08:00:01Z").await;
    reply(app, "ben", 6, "2026-11-26T09:00:00Z").await;

    app.feed(
        "[Twitter] @rita: The cashier was so rude to me today, complete attitude https://twitter.com/rita/status/8",
        at("2026-11-28T20:00:00Z"),
    )
    .await;
    priority(app, 7, Priority::P4, "2026-11-28T20:00:01Z").await;
    app.engine
        .fire_due_timers(at("2026-11-29T00:00:00Z"))
        .await
        .unwrap();
    let escalate = Command::Escalate {
        case: CaseId(7),
        reason: "Goodwill voucher for a rude-staff complaint?".into(),
    };
    run(app, &agent("ana"), escalate, "2026-11-29T08:00:00Z").await;
}

async fn fixture_app() -> TestApp {
    let mut app = spawn_app_with(one_sla_policy).await;
    fixture(&mut app).await;
    app
}

#[tokio::test]
async fn the_digest_numbers_match_the_hand_computed_fixture() {
    let app = fixture_app().await;
    let d = app.engine.digest(fixture_week()).await.unwrap();
    let j = serde_json::to_value(&d).unwrap();

    assert_eq!(
        j["period"],
        json!({"from": "2026-11-23T09:00:00Z", "to": "2026-11-30T09:00:00Z", "timezone": "UTC"})
    );
    // Mentions received in the week: cases 3, 4 (two posts), 5, 6, 7.
    assert_eq!(j["mentions"], 6);
    assert_eq!(j["opened"], 5);
    // Resolved in the week: cases 3 and 5 (case 2 and 1 were resolved the week before).
    assert_eq!(j["resolved"], 2);
    // Active at the end: 1 (reopened), 4, 6, 7.
    assert_eq!(j["backlog"], 4);
    assert_eq!(
        j["by_network"],
        json!([
            {"network": "twitter", "mentions": 5, "cases": 4},
            {"network": "facebook", "mentions": 1, "cases": 1},
        ])
    );
    assert_eq!(
        j["by_category"][0],
        json!({"category": "checkout-outage", "mentions": 3, "cases": 2})
    );
    assert_eq!(j["by_category"].as_array().unwrap().len(), 4);

    // First responses 10, 30, 5, 60 minutes: sorted 5, 10, 30, 60; the median of this even
    // count is (10 + 30) / 2 = 20; the p90 is rank ceil(0.9 * 4) = 4: 60.
    assert_eq!(j["first_response"]["median_minutes"], 20.0);
    assert_eq!(j["first_response"]["p90_minutes"], 60.0);
    assert_eq!(j["first_response"]["count"], 4);
    assert_eq!(
        j["first_response"]["by_priority"],
        json!([
            {"priority": "P1", "median_minutes": 30.0, "p90_minutes": 30.0, "count": 1},
            {"priority": "P2", "median_minutes": 10.0, "p90_minutes": 10.0, "count": 1},
            {"priority": "P3", "median_minutes": 32.5, "p90_minutes": 60.0, "count": 2},
        ])
    );
    // Resolutions 120 (case 3) and 240 (case 5) minutes.
    assert_eq!(j["resolution"]["median_minutes"], 180.0);
    assert_eq!(j["resolution"]["p90_minutes"], 240.0);
    assert_eq!(j["resolution"]["count"], 2);

    // First response within 15 min: cases 3 and 5 met, 4 and 6 breached (7 still runs).
    // Resolution within 3 h: case 3 met (2 h), case 5 breached (4 h).
    assert_eq!(
        j["sla"]["first_response"],
        json!({"met": 2, "breached": 2, "percent": 50.0})
    );
    assert_eq!(
        j["sla"]["resolution"],
        json!({"met": 1, "breached": 1, "percent": 50.0})
    );
    assert_eq!(
        j["sla"]["next_response"],
        json!({"met": 0, "breached": 0, "percent": null})
    );
    assert_eq!(
        j["sla_by_priority"],
        json!([
            {"priority": "P1", "met": 0, "breached": 1, "percent": 0.0},
            {"priority": "P2", "met": 2, "breached": 0, "percent": 100.0},
            {"priority": "P3", "met": 1, "breached": 2, "percent": 33.3},
        ])
    );
    // ana: first responses of 3 and 5 met, resolution of 3 met, of 5 breached; ben: two late replies.
    assert_eq!(
        j["sla_by_agent"],
        json!([
            {"agent": "ana", "met": 3, "breached": 1, "percent": 75.0},
            {"agent": "ben", "met": 0, "breached": 2, "percent": 0.0},
        ])
    );

    // Decisions after 30 and 20 minutes: median 25.
    assert_eq!(
        j["escalations"],
        json!({"count": 3, "approved": 1, "denied": 1, "timed_out": 0, "open": 1,
               "approval_percent": 50.0, "median_decision_minutes": 25.0})
    );
    assert_eq!(j["friction"].as_array().unwrap().len(), 1);
    let f = &j["friction"][0];
    assert_eq!(
        (&f["playbook"], &f["remedy"], &f["requests"]),
        (&json!("roadside-breakdown"), &json!("fee_waiver"), &json!(1))
    );
    assert_eq!(f["suggested_limit"], "180");

    // This week against the week before: checkout 2 vs 1; the others are new.
    assert_eq!(
        j["pain_points"],
        json!([
            {"category": "checkout-outage", "count": 2, "previous": 1, "change": 1, "change_percent": 100.0},
            {"category": "billing-dispute", "count": 1, "previous": 0, "change": 1, "change_percent": null},
            {"category": "roadside-breakdown", "count": 1, "previous": 0, "change": 1, "change_percent": null},
            {"category": "rude-staff", "count": 1, "previous": 0, "change": 1, "change_percent": null},
        ])
    );
    assert_eq!(j["incidents"], json!([]));

    // Notable, most urgent first: 4 (P1, a late reply, its resolution due 11-24 12:00 noticed),
    // 5 (resolved late), 6 (late reply, resolution due 11-26 11:00), 1 (reopened; its resolution,
    // 60 of 180 minutes used, due again 11-25 12:00), 7 (no reply by 11-28 20:15).
    let notable: Vec<(i64, Vec<String>)> = d.notable.iter().map(|n| (n.case.0, n.reasons.clone())).collect();
    let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        notable,
        vec![
            (4, strs(&["p1", "breached:first_response", "breached:resolution"])),
            (5, strs(&["breached:resolution"])),
            (6, strs(&["breached:first_response", "breached:resolution"])),
            (1, strs(&["breached:resolution", "reopened"])),
            (7, strs(&["breached:first_response", "breached:resolution"])),
        ]
    );
    assert_eq!(d.notable_total, 5);

    // Eight calendar days (Monday 09:00 to Monday 09:00), with the day's opened cases and the
    // median first response of those.
    let days: Vec<(String, u64, Option<f64>)> = d
        .days
        .iter()
        .map(|day| {
            (
                day.date.to_string(),
                day.cases.values().sum(),
                day.first_response_median_minutes,
            )
        })
        .collect();
    assert_eq!(
        days,
        vec![
            ("2026-11-23".into(), 1, Some(10.0)),
            ("2026-11-24".into(), 1, Some(30.0)),
            ("2026-11-25".into(), 1, Some(5.0)),
            ("2026-11-26".into(), 1, Some(60.0)),
            ("2026-11-27".into(), 0, None),
            ("2026-11-28".into(), 1, None),
            ("2026-11-29".into(), 0, None),
            ("2026-11-30".into(), 0, None),
        ]
    );
}

#[tokio::test]
async fn the_digest_command_reads_dates_in_the_digest_timezone_and_refuses_bad_periods() {
    let mut app = spawn_app_with(|c| {
        one_sla_policy(c);
        weekly("Europe/Berlin")(c);
    })
    .await;
    fixture(&mut app).await;
    let ana = agent("ana");
    let digest = |from: &str, to: &str| Command::Digest {
        from: Some(from.into()),
        to: Some(to.into()),
    };
    let reply = app
        .run_at(
            &ana,
            digest("2026-11-23", "2026-11-29"),
            at("2026-12-01T00:00:00Z"),
        )
        .await
        .unwrap();
    let Reply::Digest(d) = reply else {
        panic!("expected a digest")
    };
    // Midnight in Berlin (UTC+1) to the midnight after the 29th.
    assert_eq!(d.period.from, at("2026-11-22T23:00:00Z"));
    assert_eq!(d.period.to, at("2026-11-29T23:00:00Z"));
    assert_eq!(d.opened, 5);
    assert_eq!(d.days.len(), 7);

    // Without dates: the last complete week of the schedule (Mondays 09:00 Berlin).
    let Reply::Digest(last) = app
        .run_at(
            &ana,
            Command::Digest { from: None, to: None },
            at("2026-12-01T00:00:00Z"),
        )
        .await
        .unwrap()
    else {
        panic!("expected a digest")
    };
    assert_eq!(
        (last.period.from, last.period.to),
        (at("2026-11-23T08:00:00Z"), at("2026-11-30T08:00:00Z"))
    );

    let backwards = app
        .run_at(
            &ana,
            digest("2026-11-29", "2026-11-23"),
            at("2026-12-01T00:00:00Z"),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(backwards.contains("ends before it starts"), "{backwards}");
    let long = app
        .run_at(
            &ana,
            digest("2025-01-01", "2026-11-23"),
            at("2026-12-01T00:00:00Z"),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(long.contains("at most a year"), "{long}");
}

#[tokio::test]
async fn an_unknown_digest_timezone_is_refused_at_start_up_naming_the_key() {
    let (mut config, _dir) = support::app::test_config();
    weekly("Mars/Olympus")(&mut config);
    let err = Engine::start(&config).await.err().expect("refused").to_string();
    assert!(
        err.contains("digest.timezone") && err.contains("Mars/Olympus"),
        "{err}"
    );
}

/// The digest posts queued so far: (from, to, late).
async fn digest_posts(app: &TestApp) -> Vec<(DateTime<Utc>, DateTime<Utc>, Option<DateTime<Utc>>)> {
    app.outbox()
        .await
        .into_iter()
        .filter_map(|o| match o {
            Outgoing::Digest { from, to, late, .. } => Some((from, to, late)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_weekly_digest_posts_once_per_week_across_a_restart() {
    let mut app = spawn_app_with(weekly("Europe/Berlin")).await;
    // Wednesday: the next digest is Monday 11-30 09:00 Berlin (08:00 UTC).
    let due = app
        .engine
        .schedule_digest(at("2026-11-25T12:00:00Z"))
        .await
        .unwrap();
    assert_eq!(due, Some(at("2026-11-30T08:00:00Z")));
    assert_eq!(app.engine.store().pending_timers().await.unwrap(), 1);

    let report = app
        .engine
        .fire_due_timers(at("2026-11-30T08:00:05Z"))
        .await
        .unwrap();
    assert_eq!((report.fired, report.late), (1, 0));
    app.engine
        .fire_due_timers(at("2026-11-30T08:00:10Z"))
        .await
        .unwrap();

    // A restart right after: start-up schedules nothing new and nothing posts again.
    app.restart().await;
    let due = app
        .engine
        .schedule_digest(at("2026-11-30T08:01:00Z"))
        .await
        .unwrap();
    assert_eq!(due, Some(at("2026-12-07T08:00:00Z")));
    assert_eq!(app.engine.store().pending_timers().await.unwrap(), 1);
    app.engine
        .fire_due_timers(at("2026-11-30T08:05:00Z"))
        .await
        .unwrap();
    assert_eq!(
        digest_posts(&app).await,
        vec![(at("2026-11-23T08:00:00Z"), at("2026-11-30T08:00:00Z"), None)]
    );

    // The next week posts once more.
    app.engine
        .fire_due_timers(at("2026-12-07T08:00:01Z"))
        .await
        .unwrap();
    app.restart().await;
    app.engine
        .schedule_digest(at("2026-12-07T08:00:02Z"))
        .await
        .unwrap();
    app.engine
        .fire_due_timers(at("2026-12-07T08:00:03Z"))
        .await
        .unwrap();
    let posts = digest_posts(&app).await;
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[1],
        (at("2026-11-30T08:00:00Z"), at("2026-12-07T08:00:00Z"), None)
    );
}

#[tokio::test]
async fn two_processes_on_one_database_post_each_week_once() {
    let app = spawn_app_with(weekly("Europe/Berlin")).await;
    let a = Engine::start(&app.config).await.unwrap();
    let b = Engine::start(&app.config).await.unwrap();
    let now = at("2026-11-25T12:00:00Z");
    let (x, y) = tokio::join!(a.schedule_digest(now), b.schedule_digest(now));
    assert_eq!(x.unwrap(), y.unwrap());
    assert_eq!(app.engine.store().pending_timers().await.unwrap(), 1);

    let due = at("2026-11-30T08:00:01Z");
    let (x, y) = tokio::join!(a.fire_due_timers(due), b.fire_due_timers(due));
    assert_eq!(x.unwrap().fired + y.unwrap().fired, 1);
    // Both start again after the post and race the next week too.
    let (x, y) = tokio::join!(a.schedule_digest(due), b.schedule_digest(due));
    x.unwrap();
    y.unwrap();
    let next = at("2026-12-07T08:00:01Z");
    let (x, y) = tokio::join!(a.fire_due_timers(next), b.fire_due_timers(next));
    assert_eq!(x.unwrap().fired + y.unwrap().fired, 1);
    let posts = digest_posts(&app).await;
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert_eq!(posts[0].1, at("2026-11-30T08:00:00Z"));
    assert_eq!(posts[1].1, at("2026-12-07T08:00:00Z"));
}

#[tokio::test]
async fn after_downtime_the_missed_digest_is_posted_once_late_and_says_so() {
    let mut app = spawn_app_with(weekly("Europe/Berlin")).await;
    app.engine
        .schedule_digest(at("2026-11-25T12:00:00Z"))
        .await
        .unwrap();
    // carebot is down over Monday 09:00 and comes back on Wednesday.
    app.restart().await;
    let back = at("2026-12-02T10:00:00Z");
    app.engine.schedule_digest(back).await.unwrap();
    let report = app.engine.fire_due_timers(back).await.unwrap();
    assert_eq!((report.fired, report.late), (1, 1));
    app.restart().await;
    app.engine
        .schedule_digest(back + Duration::minutes(1))
        .await
        .unwrap();
    app.engine
        .fire_due_timers(back + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        digest_posts(&app).await,
        vec![(
            at("2026-11-23T08:00:00Z"),
            at("2026-11-30T08:00:00Z"),
            Some(at("2026-11-30T08:00:00Z"))
        )]
    );
    // The next one is on time again.
    assert_eq!(
        app.engine.next_timer_due().await.unwrap(),
        Some(at("2026-12-07T08:00:00Z"))
    );

    // Down for three weeks: only the last complete week is posted, once.
    app.restart().await;
    let back = at("2026-12-30T10:00:00Z");
    app.engine.schedule_digest(back).await.unwrap();
    app.engine.fire_due_timers(back).await.unwrap();
    app.engine
        .fire_due_timers(back + Duration::hours(1))
        .await
        .unwrap();
    let posts = digest_posts(&app).await;
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert_eq!(
        posts[1],
        (
            at("2026-12-21T08:00:00Z"),
            at("2026-12-28T08:00:00Z"),
            Some(at("2026-12-07T08:00:00Z"))
        )
    );
    assert_eq!(
        app.engine.next_timer_due().await.unwrap(),
        Some(at("2027-01-04T08:00:00Z"))
    );
}

#[tokio::test]
async fn the_late_digest_says_when_it_was_due() {
    let app = fixture_app().await;
    let d = app.engine.digest(fixture_week()).await.unwrap();
    let text = digest_render::markdown(&d, Some(at("2026-11-30T09:00:00Z")), &digest_render::no_links);
    assert!(
        text.contains("Posted late: this digest was due 2026-11-30 09:00 UTC"),
        "{text}"
    );
    assert!(
        text.contains("**First response** — median 20 min · p90 1 h (4 cases)"),
        "{text}"
    );
    assert!(
        text.contains("**SLA** — first response 50.0% (2 met, 2 breached)"),
        "{text}"
    );
}

#[tokio::test]
async fn the_chart_is_a_png_of_the_expected_size() {
    let app = fixture_app().await;
    let d = app.engine.digest(fixture_week()).await.unwrap();
    let png = chart::png(&d).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (chart::WIDTH, chart::HEIGHT));
    assert_eq!((width, height), (960, 540));
    // An empty period draws too.
    let empty = Period::new(
        at("2020-01-06T00:00:00Z"),
        at("2020-01-13T00:00:00Z"),
        chrono_tz::Tz::UTC,
    )
    .unwrap();
    let d = app.engine.digest(empty).await.unwrap();
    assert!(chart::png(&d).unwrap().starts_with(b"\x89PNG"));
}

#[tokio::test]
async fn the_csv_lists_the_cases_opened_in_the_period() {
    let app = fixture_app().await;
    let cases = digest::cases(app.engine.store(), fixture_week()).await.unwrap();
    let csv = digest_render::csv(&cases, &|thread| Some(format!("https://chat.example/{thread}")));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "case,opened_at,status,priority,category,network,owner,mentions,first_response_minutes,resolved_at,resolution_minutes,incident,thread"
    );
    assert_eq!(lines.len(), 6, "{csv}");
    assert!(
        lines[1].starts_with("3,2026-11-23T10:00:00Z,resolved,P2,roadside-breakdown,twitter,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].ends_with(",1,10,2026-11-23T12:00:00Z,120,,"),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("4,2026-11-24T09:00:00Z,"), "{}", lines[2]);
    assert!(
        lines[2].contains(",checkout-outage,twitter,") && lines[2].contains(",2,30,,,,"),
        "{}",
        lines[2]
    );
    assert!(lines[5].starts_with("7,2026-11-28T20:00:00Z,"), "{}", lines[5]);
}

#[tokio::test]
async fn a_fired_timer_is_pruned_once_past_the_cut_and_never_fires_again_while_pending_ones_stay() {
    let app = spawn_app_with(weekly("Europe/Berlin")).await;
    let store = app.engine.store();
    app.engine
        .schedule_digest(at("2026-11-25T12:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        store.prune_timers(at("2030-01-01T00:00:00Z")).await.unwrap(),
        0,
        "a timer not fired yet is never pruned, however old"
    );
    assert_eq!(store.pending_timers().await.unwrap(), 1);
    let fired_at = at("2026-11-30T08:00:05Z");
    assert_eq!(app.engine.fire_due_timers(fired_at).await.unwrap().fired, 1);
    assert_eq!(
        store.prune_timers(fired_at).await.unwrap(),
        0,
        "not older than the cut"
    );
    assert_eq!(
        store.prune_timers(at("2026-12-01T00:00:00Z")).await.unwrap(),
        1,
        "the fired one; next week's stays"
    );
    store.reclaim_space().await.unwrap();
    assert_eq!(store.pending_timers().await.unwrap(), 1);
    assert_eq!(
        app.engine
            .fire_due_timers(at("2026-12-01T00:00:00Z"))
            .await
            .unwrap()
            .fired,
        0,
        "a pruned timer never fires again"
    );
    assert_eq!(
        app.engine
            .fire_due_timers(at("2026-12-07T08:00:05Z"))
            .await
            .unwrap()
            .fired,
        1
    );
    assert_eq!(digest_posts(&app).await.len(), 2, "each week once");
}
