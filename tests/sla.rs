//! SLA clocks end to end through the engine, with the clock as a parameter (to the second).

mod support;

use carebot::app::outbox::Outgoing;
use carebot::app::{Command, QueueView, Reply};
use carebot::config::{BusinessHoursConfig, Config, SlaPolicyConfig};
use carebot::domain::escalation::EscalationStatus;
use carebot::domain::sla::{Outcome, Target};
use carebot::domain::{CaseId, Priority, Role};
use carebot::store::EscalationFilter;
use chrono::{DateTime, Duration, Utc};
use support::app::{agent, person, spawn_app_with, t0, TestApp};

/// P3 in the shipped rules (no keyword, no playbook priority).
const QUESTION: &str = "[Twitter] @dana: where can I see my invoice? https://twitter.com/dana/status/1";

fn policy(name: &str, first: &str, next: &str, resolution: &str) -> SlaPolicyConfig {
    SlaPolicyConfig {
        name: name.into(),
        segments: vec![],
        priorities: vec![],
        first_response: Some(first.into()),
        next_response: Some(next.into()),
        resolution: Some(resolution.into()),
        hours: "calendar".into(),
        warn_at: 0.8,
        escalate_on_breach: false,
    }
}

async fn spawn(change: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(|c| {
        c.sla.policies = vec![policy("all", "15m", "30m", "4h")];
        change(c);
    })
    .await
}

fn secs(n: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(n)
}

async fn clocks(app: &TestApp) -> Vec<carebot::domain::sla::Clock> {
    app.engine.case_detail(CaseId(1), t0()).await.unwrap().sla
}

fn thread_titles(out: &[Outgoing]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Outgoing::CaseMessage { message, .. } => message.title.clone(),
            _ => None,
        })
        .filter(|t| t.starts_with("SLA"))
        .collect()
}

#[tokio::test]
async fn the_warning_and_the_breach_fire_at_the_exact_second_once_each() {
    let mut app = spawn(|_| {}).await;
    app.feed(QUESTION, t0()).await;
    let c = clocks(&app).await;
    assert_eq!(c[0].target, Target::FirstResponse);
    assert_eq!(c[0].warn_due_at, Some(secs(12 * 60)));
    assert_eq!(c[0].due_at, Some(secs(15 * 60)));
    assert_eq!(
        app.engine.fire_due_timers(secs(12 * 60 - 1)).await.unwrap().fired,
        0
    );
    assert_eq!(app.engine.fire_due_timers(secs(12 * 60)).await.unwrap().fired, 1);
    assert_eq!(
        app.engine.fire_due_timers(secs(15 * 60 - 1)).await.unwrap().fired,
        0
    );
    assert_eq!(app.engine.fire_due_timers(secs(15 * 60)).await.unwrap().fired, 1);
    app.restart().await;
    assert_eq!(
        app.engine.fire_due_timers(secs(20 * 60)).await.unwrap().fired,
        0,
        "once, also after a restart"
    );
    let out = app.outbox().await;
    assert_eq!(
        thread_titles(&out),
        [
            "SLA at risk: first response on case #1",
            "SLA breached: first response on case #1"
        ]
    );
    let queue: Vec<_> = out
        .iter()
        .filter(|o| {
            matches!(
                o,
                Outgoing::ChannelMessage {
                    channel: carebot::app::outbox::TeamChannel::Queue,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(queue.len(), 2, "the queue channel hears both");
    assert!(
        matches!(out.last(), Some(Outgoing::UpdateCard { case_id: CaseId(1) })),
        "the breach updates the card"
    );
    let card = app.card(1).await;
    let sla = card.fields.iter().find(|f| f.name == "SLA").expect("SLA field");
    assert!(
        sla.value
            .contains("First response: breached (was due 11-27 09:15 UTC)"),
        "{}",
        sla.value
    );
    assert!(
        sla.value.contains("Resolution: due 11-27 13:00 UTC"),
        "{}",
        sla.value
    );
    let timeline = app.engine.case_detail(CaseId(1), t0()).await.unwrap().timeline;
    let kinds: Vec<&str> = timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["opened", "sla_warning", "sla_breach"]);
    assert_eq!(timeline[2].detail["target"], "first_response");
}

#[tokio::test]
async fn a_note_does_not_stop_the_first_response_clock_and_a_reply_does() {
    let mut app = spawn(|_| {}).await;
    app.feed(QUESTION, t0()).await;
    let ana = agent("ana");
    app.run_at(
        &ana,
        Command::Note {
            case: CaseId(1),
            text: "looking".into(),
        },
        secs(60),
    )
    .await
    .unwrap();
    assert!(clocks(&app).await[0].is_running());
    app.run_at(
        &ana,
        Command::Reply {
            case: CaseId(1),
            text: "here is the link".into(),
        },
        secs(10 * 60),
    )
    .await
    .unwrap();
    let c = clocks(&app).await;
    assert_eq!((c[0].outcome, c[0].margin_secs), (Some(Outcome::Met), Some(300)));
    assert_eq!(c[0].agent.as_deref(), Some("ana"));
    assert_eq!(
        app.engine.fire_due_timers(secs(3600)).await.unwrap().fired,
        0,
        "its timers were cancelled"
    );
    // The customer writes again after our reply: the next-response clock starts.
    app.feed(
        "[Twitter] @dana: the link is broken https://twitter.com/dana/status/2",
        secs(20 * 60),
    )
    .await;
    let c = clocks(&app).await;
    assert_eq!(c.len(), 3);
    assert_eq!(
        (c[2].target, c[2].due_at),
        (Target::NextResponse, Some(secs(50 * 60)))
    );
    // A late answer is a breach, by how much.
    app.run_at(
        &ana,
        Command::Reply {
            case: CaseId(1),
            text: "fixed".into(),
        },
        secs(55 * 60),
    )
    .await
    .unwrap();
    let c = clocks(&app).await;
    assert_eq!(
        (c[2].outcome, c[2].margin_secs),
        (Some(Outcome::Breached), Some(300))
    );
    let Reply::Case(detail) = app
        .run_at(&ana, Command::Show { case: CaseId(1) }, secs(56 * 60))
        .await
        .unwrap()
    else {
        panic!("case")
    };
    let text = carebot::app::text::reply(&Reply::Case(detail));
    assert!(
        text.contains("First response (15m): met with 5m to spare"),
        "{text}"
    );
    assert!(text.contains("Next response (30m): breached by 5m"), "{text}");
    assert!(
        text.contains("Resolution (4h 00m): due 2026-11-27 13:00 UTC, 3h 04m left"),
        "{text}"
    );
}

#[tokio::test]
async fn waiting_pauses_the_resolution_clock_until_the_customer_writes() {
    let mut app = spawn(|_| {}).await;
    app.feed(QUESTION, t0()).await;
    let ana = agent("ana");
    app.run_at(&ana, Command::Waiting { case: CaseId(1) }, secs(3600))
        .await
        .unwrap();
    let c = clocks(&app).await;
    assert!(!c[1].is_running());
    assert_eq!(c[1].elapsed_secs, 3600);
    // Nothing fires while it is paused.
    assert_eq!(
        app.engine.fire_due_timers(secs(10 * 3600)).await.unwrap().fired,
        2,
        "only first response"
    );
    app.feed(
        "[Twitter] @dana: found it, thanks https://twitter.com/dana/status/3",
        secs(10 * 3600),
    )
    .await;
    let c = clocks(&app).await;
    assert_eq!(c[1].due_at, Some(secs(13 * 3600)), "3h left of 4h");
    app.run_at(
        &ana,
        Command::Resolve {
            case: CaseId(1),
            note: None,
        },
        secs(11 * 3600),
    )
    .await
    .unwrap();
    let c = clocks(&app).await;
    assert_eq!((c[1].outcome, c[1].margin_secs), (Some(Outcome::Met), Some(7200)));
    app.run_at(&ana, Command::Reopen { case: CaseId(1) }, secs(12 * 3600))
        .await
        .unwrap();
    let c = clocks(&app).await;
    assert_eq!(
        c[1].due_at,
        Some(secs(14 * 3600)),
        "a reopened case resumes with what is left"
    );
}

#[tokio::test]
async fn a_priority_change_retargets_the_running_clocks() {
    let mut app = spawn(|c| {
        c.sla.policies = vec![
            SlaPolicyConfig {
                priorities: vec!["P1".into()],
                ..policy("urgent", "5m", "10m", "1h")
            },
            policy("rest", "1h", "2h", "8h"),
        ];
    })
    .await;
    app.feed(QUESTION, t0()).await;
    assert_eq!(clocks(&app).await[0].due_at, Some(secs(3600)));
    app.run_at(
        &agent("ana"),
        Command::Priority {
            case: CaseId(1),
            priority: Priority::P1,
        },
        secs(120),
    )
    .await
    .unwrap();
    let c = clocks(&app).await;
    assert_eq!((c[0].policy.as_str(), c[0].due_at), ("urgent", Some(secs(300))));
    assert_eq!(
        app.engine.fire_due_timers(secs(300)).await.unwrap().fired,
        2,
        "the new warning and breach"
    );
    // At 1h: the retargeted resolution clock's warning and breach; the old first-response
    // timers were cancelled, so the first response is noticed once.
    assert_eq!(app.engine.fire_due_timers(secs(3600)).await.unwrap().fired, 2);
    let titles = thread_titles(&app.outbox().await);
    assert_eq!(
        titles,
        [
            "SLA at risk: first response on case #1",
            "SLA breached: first response on case #1",
            "SLA at risk: resolution on case #1",
            "SLA breached: resolution on case #1"
        ]
    );
}

#[tokio::test]
async fn business_hours_skip_the_night() {
    let mut app = spawn(|c| {
        c.sla.policies = vec![SlaPolicyConfig {
            hours: "business".into(),
            ..policy("office", "2h", "4h", "16h")
        }];
        let day = Some("09:00-17:00".to_string());
        c.sla.business_hours = Some(BusinessHoursConfig {
            timezone: "UTC".into(),
            mon: day.clone(),
            tue: day.clone(),
            wed: day.clone(),
            thu: day.clone(),
            fri: day,
            sat: None,
            sun: None,
            holidays: vec![],
        });
    })
    .await;
    // Friday 27 Nov, 16:00 UTC: one hour today, one on Monday.
    app.feed(QUESTION, t0() + Duration::hours(7)).await;
    let due = clocks(&app).await[0].due_at.unwrap();
    assert_eq!(due, DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z").unwrap());
}

#[tokio::test]
async fn the_breaching_queue_lists_cases_at_risk_soonest_first() {
    let mut app = spawn(|_| {}).await;
    app.feed(QUESTION, t0()).await;
    app.feed(
        "[Twitter] @leo: hello? https://twitter.com/leo/status/1",
        secs(300),
    )
    .await;
    app.feed(
        "[Twitter] @mia: hi there https://twitter.com/mia/status/1",
        secs(600),
    )
    .await;
    let Reply::AtRisk { items, .. } = app
        .run_at(
            &agent("ana"),
            Command::Queue {
                view: QueueView::Breaching,
            },
            secs(17 * 60 + 30),
        )
        .await
        .unwrap()
    else {
        panic!("at risk")
    };
    let ids: Vec<i64> = items.iter().map(|i| i.case.id.0).collect();
    assert_eq!(ids, [1, 2], "case 3 is not at its warning point yet");
    // Once swept, the warned clocks are listed by their flag, and so are breached ones.
    assert_eq!(swept_breaching(&app, secs(17 * 60 + 30)).await, [1, 2]);
    assert_eq!(
        swept_breaching(&app, secs(60 * 60)).await,
        [1, 2, 3],
        "all three breached"
    );
}

/// The `/queue breaching` case ids after a sweep at `now`.
async fn swept_breaching(app: &TestApp, now: DateTime<Utc>) -> Vec<i64> {
    app.engine.fire_due_timers(now).await.unwrap();
    let view = QueueView::Breaching;
    let reply = app
        .engine
        .execute(&agent("ana"), Command::Queue { view }, now)
        .await;
    let Ok(Reply::AtRisk { items, .. }) = reply else {
        panic!("at risk: {reply:?}")
    };
    items.iter().map(|i| i.case.id.0).collect()
}

#[tokio::test]
async fn a_breach_can_escalate_to_the_supervisors() {
    let mut app = spawn(|c| {
        c.sla.policies = vec![SlaPolicyConfig {
            escalate_on_breach: true,
            ..policy("strict", "15m", "30m", "4h")
        }];
    })
    .await;
    app.feed(QUESTION, t0()).await;
    app.engine.fire_due_timers(secs(15 * 60)).await.unwrap();
    let list = app
        .engine
        .escalations(&EscalationFilter::default())
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    let e = &list[0];
    assert_eq!((e.status, e.approver), (EscalationStatus::Open, Role::Supervisor));
    assert_eq!(e.requested_by, "carebot");
    assert!(
        e.reason.contains("first response target of 15m was missed"),
        "{}",
        e.reason
    );
    assert_eq!(app.case(1).await.status.as_str(), "escalated");
    // Anyone with the role decides: the requester is carebot.
    app.run_at(
        &person("sam", Role::Supervisor),
        Command::Approve {
            escalation: e.id,
            amount: None,
            note: None,
        },
        secs(20 * 60),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_clock_is_its_own_timer_no_timer_row_and_each_point_fires_once_in_order() {
    let mut app = spawn(|_| {}).await;
    app.feed(QUESTION, t0()).await;
    let store = app.engine.store();
    assert_eq!(
        store.pending_timers().await.unwrap(),
        0,
        "warnings and breaches are read from the clock rows"
    );
    assert_eq!(
        app.engine.next_timer_due().await.unwrap(),
        Some(secs(12 * 60)),
        "the first-response warning is the next point"
    );
    // Both first-response points are due at once (the bot was down): warning, then breach,
    // in one sweep, both late; the resolution clock's warning is next.
    let report = app.engine.fire_due_timers(secs(20 * 60)).await.unwrap();
    assert_eq!((report.fired, report.late), (2, 2));
    assert_eq!(app.engine.next_timer_due().await.unwrap(), Some(secs(192 * 60)));
    app.restart().await;
    assert_eq!(app.engine.fire_due_timers(secs(30 * 60)).await.unwrap().fired, 0);
    assert_eq!(
        thread_titles(&app.outbox().await),
        [
            "SLA at risk: first response on case #1",
            "SLA breached: first response on case #1"
        ]
    );
}

fn imported(n: u32, handle: &str, posted_at: DateTime<Utc>) -> carebot::domain::feed::Mention {
    carebot::domain::feed::Mention {
        source_id: format!("import:{n}"),
        external_id: None,
        network: carebot::domain::Network::parse("twitter").unwrap(),
        handle: carebot::domain::Handle::parse(handle).unwrap(),
        display_name: None,
        text: "where can I see my invoice?".into(),
        url: None,
        posted_at,
        followers: None,
        unparsed: false,
    }
}

#[tokio::test]
async fn an_imported_post_from_long_ago_is_history_and_starts_no_clock() {
    let app = spawn(|_| {}).await;
    let now = secs(0);
    let old = imported(1, "olga", now - Duration::days(90));
    let recent = imported(2, "rita", now - Duration::hours(2));
    let outcomes = app.engine.receive_mentions(&[old, recent], now).await.unwrap();
    let ids: Vec<CaseId> = outcomes.iter().filter_map(|o| o.case()).collect();
    assert_eq!(ids.len(), 2, "both open a case: {outcomes:?}");
    let history = app.engine.case_detail(ids[0], now).await.unwrap();
    assert!(
        history.sla.is_empty(),
        "no target could have been met: {:?}",
        history.sla
    );
    let live = app.engine.case_detail(ids[1], now).await.unwrap();
    assert_eq!(
        live.sla.len(),
        2,
        "a recent import runs its clocks from the import"
    );
    // Only the recent case's points ever fire; the digest counts no SLA for the history case.
    assert_eq!(app.engine.fire_due_timers(secs(20 * 60)).await.unwrap().fired, 2);
    let more = imported(3, "olga", now - Duration::days(60));
    app.engine.receive_mentions(&[more], secs(30 * 60)).await.unwrap();
    let history = app.engine.case_detail(ids[0], now).await.unwrap();
    assert!(history.sla.is_empty(), "a later history post starts none either");
    assert_eq!(history.case.mention_count, 2);
}
