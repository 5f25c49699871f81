//! Surge incidents end to end: a scenario spike opens one incident, groups its cases, alerts
//! once, takes a bulk reply, ends when the rate falls back, and resolves its cases together.

mod support;

use carebot::app::outbox::Outgoing;
use carebot::app::{Command, Reply};
use carebot::console::Console;
use carebot::domain::surge::IncidentId;
use carebot::domain::CaseId;
use chrono::Duration;
use support::app::{agent, spawn_app, t0, TestApp};

fn checkout(i: u32) -> String {
    format!("[Twitter] @buyer{i}: checkout keeps failing at payment, site is down https://twitter.com/buyer{i}/status/{i}")
}

fn alerts(out: &[Outgoing]) -> usize {
    out.iter()
        .filter(|o| matches!(o, Outgoing::IncidentAlert { .. }))
        .count()
}

async fn spike(app: &mut TestApp, posts: u32) {
    for i in 0..posts {
        app.feed(&checkout(i), t0() + Duration::minutes(i64::from(i)))
            .await;
    }
}

#[tokio::test]
async fn a_spike_opens_one_incident_and_groups_the_cases_that_follow() {
    let mut app = spawn_app().await;
    // A quiet baseline: one checkout complaint yesterday.
    app.feed(&checkout(100), t0() - Duration::hours(20)).await;
    spike(&mut app, 12).await;
    let out = app.outbox().await;
    assert_eq!(alerts(&out), 1, "one alert for the surge");
    let opened_threads = out
        .iter()
        .filter(|o| matches!(o, Outgoing::OpenCase { .. }))
        .count();
    // Yesterday's case and the 7 before the surge was recognised have threads; the 8th,
    // which made it a surge, and the 4 after it joined the incident.
    assert_eq!(opened_threads, 8);
    let Outgoing::IncidentAlert {
        message, thread_name, ..
    } = out
        .iter()
        .find(|o| matches!(o, Outgoing::IncidentAlert { .. }))
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(thread_name, "I1 surge: checkout-outage");
    assert!(message
        .title
        .as_deref()
        .unwrap()
        .starts_with("Surge I1: checkout-outage — 8 mentions in 15m"));
    assert!(message
        .fields
        .iter()
        .any(|f| f.name == "Bulk reply: Checkout or site outage"));
    let mut joined: Vec<String> = Vec::new();
    for o in out.iter().filter(|o| matches!(o, Outgoing::MentionLine { .. })) {
        joined.extend(app.line(o).await.title.filter(|t| t.contains("joined I1")));
    }
    assert_eq!(joined.len(), 5, "{joined:?}");
    let Reply::Incidents { items } = app.run(&agent("ana"), Command::Incidents).await.unwrap() else {
        panic!("incidents")
    };
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0].case_count, items[0].mention_count),
        (12, 12),
        "the window's cases are grouped too"
    );
    assert_eq!(app.case(9).await.incident_id, Some(1));
    assert_eq!(
        app.case(1).await.incident_id,
        None,
        "yesterday's case is not part of it"
    );
}

#[tokio::test]
async fn a_bulk_reply_answers_every_case_and_resolve_closes_them() {
    let mut app = spawn_app().await;
    spike(&mut app, 10).await;
    let ana = agent("ana");
    let at = t0() + Duration::minutes(12);
    let text = match app
        .run_at(
            &ana,
            Command::IncidentReply {
                incident: IncidentId(1),
                text: "We know checkout is failing; your carts are saved.".into(),
            },
            at,
        )
        .await
        .unwrap()
    {
        Reply::Done { message, .. } => message,
        other => panic!("{other:?}"),
    };
    assert_eq!(text, "Recorded the reply on 10 open case(s) of I1.");
    let case = app.case(3).await;
    assert_eq!(case.first_response_at, Some(at));
    let clocks = app.engine.case_detail(CaseId(3), at).await.unwrap().sla;
    assert!(
        clocks[0].outcome.is_some(),
        "the bulk reply stops the first-response clocks"
    );
    app.run_at(
        &ana,
        Command::IncidentResolve {
            incident: IncidentId(1),
            note: Some("payments back".into()),
        },
        at + Duration::minutes(30),
    )
    .await
    .unwrap();
    for id in 1..=10 {
        assert_eq!(app.case(id).await.status.as_str(), "resolved", "case {id}");
    }
    let Reply::Incidents { items } = app.run(&ana, Command::Incidents).await.unwrap() else {
        panic!("incidents")
    };
    assert_eq!(items[0].status.as_str(), "resolved");
    assert!(matches!(
        app.run(
            &ana,
            Command::IncidentReply {
                incident: IncidentId(9),
                text: "x".into()
            }
        )
        .await,
        Err(carebot::app::CommandError::UnknownIncident(IncidentId(9)))
    ));
}

#[tokio::test]
async fn the_incident_ends_when_the_rate_falls_back_and_new_cases_open_on_their_own() {
    let mut app = spawn_app().await;
    spike(&mut app, 9).await;
    // Checked one window after it opened (09:07 + 15m): two more came in, still busy.
    app.engine
        .fire_due_timers(t0() + Duration::minutes(22))
        .await
        .unwrap();
    let Reply::Incidents { items } = app.run(&agent("ana"), Command::Incidents).await.unwrap() else {
        panic!("incidents")
    };
    assert_eq!(items[0].status.as_str(), "open");
    // A quiet window later it ends.
    app.engine
        .fire_due_timers(t0() + Duration::minutes(37))
        .await
        .unwrap();
    let Reply::Incidents { items } = app.run(&agent("ana"), Command::Incidents).await.unwrap() else {
        panic!("incidents")
    };
    assert_eq!(items[0].status.as_str(), "ended");
    let before = alerts(&app.outbox().await);
    app.feed(&checkout(50), t0() + Duration::minutes(40)).await;
    let out = app.outbox().await;
    assert!(
        matches!(out[out.len() - 2], Outgoing::OpenCase { .. }),
        "a thread and card of its own again"
    );
    assert_eq!(alerts(&out), before, "no second alert");
}

#[tokio::test]
async fn a_scenario_surge_alerts_once_and_lists_the_incident() {
    let app = spawn_app().await;
    let mut script = String::from("clock 2026-11-27T09:00:00Z\n");
    for i in 0..11 {
        script.push_str(&format!("[09:{i:02}] feed twitter-feed | {}\n", checkout(i)));
    }
    script.push_str("as ana agent\n[09:12] /incidents\n");
    let mut console = Console::with_clock(&app.engine, Vec::new(), agent("demo"), t0())
        .await
        .unwrap();
    console.run_script(&script).await.unwrap();
    let out = String::from_utf8(console.into_output()).unwrap();
    assert_eq!(
        out.matches("┌ new thread: I1 surge: checkout-outage").count(),
        1,
        "{out}"
    );
    assert_eq!(out.matches("joined I1").count(), 4);
    assert!(out.contains("I1   open      checkout-outage"), "{out}");
}
