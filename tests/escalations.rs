//! Offers, escalations and their timers, end to end through the engine on a fresh SQLite
//! database per test. The clock is always a parameter: nothing here sleeps.

mod support;

use carebot::app::delivery::PacketShown;
use carebot::app::outbox::{Message, Outgoing, Ping};
use carebot::app::{Command, CommandError, Engine, Reply};
use carebot::console::Console;
use carebot::domain::escalation::{EscalationId, EscalationStatus};
use carebot::domain::{CaseId, Money, Role, Segment};
use carebot::store::EscalationFilter;
use chrono::{DateTime, Duration, Utc};
use support::app::{agent, person, spawn_app, spawn_app_with, t0, TestApp};

const FLAT_TYRE: &str = "[Twitter] @dana_travels: Flat tyre on my rental on the way to a meeting, roadside says the tools are in the trunk https://twitter.com/dana_travels/status/1";
const CHARGED_TWICE: &str =
    "[Twitter] @leo: You charged me twice for the same booking, I want my money back https://twitter.com/leo/status/2";
const RUDE: &str = "[Twitter] @rita: The cashier was so rude to me today, complete attitude https://twitter.com/rita/status/3";

/// An app whose cases have no SLA targets and whose bursts are no surges, so the timers
/// counted here are the escalations'.
async fn spawn_without_sla(change: impl FnOnce(&mut carebot::config::Config)) -> TestApp {
    spawn_app_with(|c| {
        c.surge.min_mentions = 1000;
        c.sla.policies = vec![carebot::config::SlaPolicyConfig {
            name: "none".into(),
            segments: vec![],
            priorities: vec![],
            first_response: None,
            next_response: None,
            resolution: None,
            hours: String::new(),
            warn_at: 0.8,
            escalate_on_breach: false,
        }];
        change(c);
    })
    .await
}

fn minutes(n: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(n)
}

fn offer(case: i64, remedy: &str, amount: &str) -> Command {
    Command::Offer {
        case: CaseId(case),
        remedy: remedy.into(),
        amount: amount.into(),
        note: None,
    }
}

fn approve(id: i64, amount: Option<&str>) -> Command {
    Command::Approve {
        escalation: EscalationId(id),
        amount: amount.map(str::to_string),
        note: None,
    }
}

fn message(reply: Result<Reply, CommandError>) -> String {
    match reply {
        Ok(Reply::Done { message, .. }) => message,
        other => panic!("expected a done message, got {other:?}"),
    }
}

fn refusal(reply: Result<Reply, CommandError>) -> String {
    match reply {
        Err(e) => e.to_string(),
        Ok(r) => panic!("expected a refusal, got {r:?}"),
    }
}

/// Everything a refused command must leave untouched: timelines, outbox, escalations.
async fn fingerprint(app: &TestApp) -> (usize, usize, Vec<String>) {
    let mut tx = app.engine.store().read().await.unwrap();
    let mut events = 0;
    for id in 1..=5 {
        events += tx.events(CaseId(id)).await.unwrap().len();
    }
    drop(tx);
    let escalations = app
        .engine
        .escalations(&EscalationFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|e| format!("{:?}", e.status))
        .collect();
    (events, app.outbox().await.len(), escalations)
}

/// The messages for a case's thread and for the escalations channel, in order: a packet post
/// or a reminder rendered now, as its delivery would (`TestApp::packet_shown`,
/// `TestApp::reminder`; a reminder with nothing left to remind of is left out), and a packet
/// edit as an empty message (see `TestApp::packet`).
async fn messages_about(app: &TestApp, out: &[Outgoing], case: i64) -> Vec<(&'static str, Message)> {
    let mut all = vec![];
    for o in out.iter().filter(|o| o.case_id() == Some(CaseId(case))) {
        all.push(match o {
            Outgoing::CaseMessage { message, .. } => ("thread", message.clone()),
            Outgoing::ChannelMessage { message, .. } => ("channel", message.clone()),
            Outgoing::EscalationPacket {
                escalation_id,
                next_tier,
                ..
            } => (
                "packet",
                app.packet_shown(
                    escalation_id.0,
                    PacketShown::Post {
                        next_tier: *next_tier,
                    },
                )
                .await,
            ),
            Outgoing::UpdateEscalation { .. } => ("edit", Message::default()),
            Outgoing::EscalationReminder { .. } => match app.reminder(o).await {
                Some(message) => ("channel", message),
                None => continue,
            },
            _ => continue,
        });
    }
    all
}

fn field<'a>(m: &'a Message, name: &str) -> &'a str {
    m.fields
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.value.as_str())
        .unwrap_or_else(|| panic!("no field {name} in {m:#?}"))
}

#[tokio::test]
async fn an_offer_within_every_limit_is_granted_at_once_and_said_everywhere() {
    let mut app = spawn_app().await;
    app.feed(FLAT_TYRE, t0()).await;
    let ana = agent("ana");
    let text = message(app.run(&ana, offer(1, "fee_waiver", "80")).await);
    assert!(
        text.starts_with("Granted on case #1: Waive tyre and towing charges: 80 USD"),
        "{text}"
    );
    assert!(
        text.contains("within your agent limit of 120 USD for standard customers"),
        "{text}"
    );

    let case = app.case(1).await;
    assert_eq!(case.granted, vec!["Waive tyre and towing charges: 80 USD"]);
    let detail = app.engine.case_detail(CaseId(1), t0()).await.unwrap();
    let event = detail
        .timeline
        .iter()
        .find(|e| e.kind == "offer")
        .expect("offer event");
    assert_eq!(event.detail["outcome"], "granted");
    assert_eq!(event.detail["amount"], "80");
    assert_eq!(event.detail["unit"], "USD");
    assert_eq!(event.detail["remedy"], "fee_waiver");
    assert!(event.detail["rule"]
        .as_str()
        .unwrap()
        .starts_with("within your agent limit"));

    let out = app.outbox().await;
    let thread = messages_about(&app, &out, 1).await;
    assert!(thread.iter().any(|(to, m)| *to == "thread"
        && m.title.as_deref() == Some("Granted by ana: Waive tyre and towing charges: 80 USD")));
    assert!(
        out.iter()
            .any(|o| matches!(o, Outgoing::UpdateCard { case_id: CaseId(1) })),
        "the card is updated"
    );
    let card = app.card(1).await;
    assert!(card
        .fields
        .iter()
        .any(|f| f.name == "Granted" && f.value.contains("80 USD")));
    // The reply suggestion can mention what was granted.
    let Ok(Reply::Suggestions { items, .. }) = app.run(&ana, Command::Suggest { case: CaseId(1) }).await
    else {
        panic!("suggestions")
    };
    assert_eq!(items[0].playbook, "roadside-breakdown");
    assert!(
        items[0]
            .reply
            .contains("Already done for you: Waive tyre and towing charges: 80 USD."),
        "{}",
        items[0].reply
    );
}

#[tokio::test]
async fn an_offer_beyond_the_limit_escalates_with_the_whole_packet() {
    let mut app = spawn_app().await;
    app.feed(FLAT_TYRE, t0()).await;
    let second =
        "[Twitter] @dana_travels: still on the hard shoulder https://twitter.com/dana_travels/status/9";
    app.feed(second, minutes(1)).await;
    let ana = agent("ana");
    app.run(&ana, Command::Claim { case: CaseId(1) }).await.unwrap();
    app.run(
        &ana,
        Command::Note {
            case: CaseId(1),
            text: "rep brought a new car".into(),
        },
    )
    .await
    .unwrap();
    app.run(&ana, offer(1, "credit", "40")).await.unwrap();
    let text = message(
        app.run(
            &ana,
            Command::Offer {
                case: CaseId(1),
                remedy: "fee-waiver".into(),
                amount: "180".into(),
                note: Some("tyre billed although roadside failed".into()),
            },
        )
        .await,
    );
    assert!(
        text.starts_with(
            "Above your agent limit of 120 USD for standard customers: escalation E1 opened for 180 USD"
        ),
        "{text}"
    );
    assert_eq!(app.case(1).await.status.as_str(), "escalated");

    let out = app.outbox().await;
    let packet = messages_about(&app, &out, 1)
        .await
        .into_iter()
        .find(|(to, _)| *to == "packet")
        .map(|(_, m)| m)
        .expect("packet posted");
    assert_eq!(
        packet.title.as_deref(),
        Some("E1 · case #1 · Waive tyre and towing charges: 180 USD")
    );
    assert_eq!(packet.body, "tyre billed although roadside failed");
    assert!(field(&packet, "Customer").contains("@dana_travels on twitter"));
    assert_eq!(field(&packet, "Segment"), "standard");
    assert_eq!(field(&packet, "Earlier cases"), "none");
    let said = field(&packet, "What the customer said");
    assert!(
        said.contains("Flat tyre") && said.contains("still on the hard shoulder"),
        "{said}"
    );
    assert!(field(&packet, "Timeline").contains("claimed ana"));
    assert!(field(&packet, "Notes").contains("rep brought a new car"));
    assert!(field(&packet, "Suggestions shown").contains("Roadside breakdown"));
    let offers = field(&packet, "Offers");
    assert!(offers.contains("credit 40 USD: granted"), "{offers}");
    assert_eq!(field(&packet, "Granted so far"), "Rental credit: 40 USD");
    assert_eq!(
        field(&packet, "Blocked by"),
        "above your agent limit of 120 USD for standard customers"
    );
    assert_eq!(field(&packet, "Decides"), "supervisor or higher");
    assert_eq!(field(&packet, "Deadline"), "2026-11-27 11:05 UTC");
    assert_eq!(field(&packet, "On timeout"), "grant up to 150 USD");
    assert!(packet.link_thread);
    let labels: Vec<&str> = packet.buttons.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["Approve", "Deny", "Need info"]);
    assert_eq!(packet.buttons[0].id, "esc:approve:1");

    let detail = app.engine.case_detail(CaseId(1), t0()).await.unwrap();
    let event = detail
        .timeline
        .iter()
        .find(|e| e.kind == "escalation")
        .expect("escalation event");
    assert_eq!(event.detail["escalation"], "E1");
    assert_eq!(event.detail["amount"], "180");
    assert_eq!(event.detail["approver"], "supervisor");
    assert_eq!(
        event.detail["blocked_by"],
        "above your agent limit of 120 USD for standard customers"
    );
    let offer_event = detail.timeline.iter().rev().find(|e| e.kind == "offer").unwrap();
    assert_eq!(offer_event.detail["outcome"], "escalated");
    assert_eq!(offer_event.detail["rule"], "role_limit");
}

#[tokio::test]
async fn a_packet_is_stored_as_the_escalation_id_and_shows_the_case_as_it_is_when_delivered() {
    let mut app = spawn_app().await;
    app.feed(FLAT_TYRE, t0()).await;
    let ana = agent("ana");
    app.run(&ana, offer(1, "fee_waiver", "180")).await.unwrap();
    let rows = app.engine.store().undelivered_outbox(100).await.unwrap();
    let posts: Vec<&str> = rows
        .iter()
        .map(|r| r.payload.as_str())
        .filter(|p| p.contains("escalation_packet"))
        .collect();
    assert_eq!(
        posts,
        [r#"{"kind":"escalation_packet","case_id":1,"escalation_id":"E1"}"#],
        "the post holds no rendering"
    );
    // Written after the escalation, before its post is delivered: the post shows it.
    app.feed(
        "[Twitter] @dana_travels: still waiting for someone to call back https://twitter.com/dana_travels/status/7",
        minutes(2),
    )
    .await;
    app.run(
        &ana,
        Command::Note {
            case: CaseId(1),
            text: "branch confirms the tools were missing".into(),
        },
    )
    .await
    .unwrap();
    let packet = app.packet_shown(1, PacketShown::Post { next_tier: false }).await;
    assert!(packet.pings.is_empty(), "a first post pings nobody");
    assert!(field(&packet, "What the customer said").contains("still waiting for someone"));
    assert!(field(&packet, "Notes").contains("branch confirms the tools were missing"));
    assert!(
        field(&packet, "Timeline").contains("escalation ana"),
        "{packet:#?}"
    );
}

#[tokio::test]
async fn vip_customers_get_the_vip_limits() {
    let mut app = spawn_app().await;
    app.feed(FLAT_TYRE, t0()).await;
    let ana = agent("ana");
    assert!(message(app.run(&ana, offer(1, "credit", "80")).await)
        .starts_with("Above your agent limit of 50 USD"));
    let sofia = person("sofia", Role::Senior);
    app.run(
        &sofia,
        Command::CustomerSegment {
            customer: carebot::app::CustomerRef::Case(CaseId(1)),
            segment: Segment::Vip,
        },
    )
    .await
    .unwrap();
    let text = message(app.run(&ana, offer(1, "credit", "80")).await);
    assert!(
        text.contains("within your agent limit of 100 USD for vip customers"),
        "{text}"
    );
}

#[tokio::test]
async fn the_daily_budget_blocks_the_third_large_offer_and_resets_the_next_day() {
    let mut app = spawn_app_with(|c| {
        c.budgets.timezone = "Europe/Berlin".into();
        c.budgets.agent.insert("USD".into(), 300.0);
    })
    .await;
    for i in 0..4 {
        let post = format!(
            "[Twitter] @driver{i}: flat tyre on my rental car https://twitter.com/driver{i}/status/{i}"
        );
        app.feed(&post, t0()).await;
    }
    let ana = agent("ana");
    for case in [1, 2] {
        let text = message(app.run(&ana, offer(case, "fee_waiver", "110")).await);
        assert!(text.starts_with("Granted"), "{text}");
    }
    let text = message(app.run(&ana, offer(3, "fee_waiver", "110")).await);
    assert!(
        text.starts_with("Only 80 USD left of your 300 USD daily budget: escalation E1 opened for 110 USD"),
        "{text}"
    );
    // Another agent has their own budget.
    let ben = agent("ben");
    assert!(message(app.run(&ben, offer(3, "fee_waiver", "110")).await).starts_with("Granted"));
    // 23:30 UTC is already the next day in Berlin: the budget is fresh again.
    let next_day = DateTime::parse_from_rfc3339("2026-11-27T23:30:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let text = message(app.run_at(&ana, offer(4, "fee_waiver", "110"), next_day).await);
    assert!(
        text.contains("190 USD left of your 300 USD daily budget"),
        "{text}"
    );
}

#[tokio::test]
async fn the_case_cap_limits_the_total_granted_on_one_case() {
    let mut app = spawn_app().await;
    // A copy of the shipped library where the roadside fee waiver is capped at 200 USD a case.
    let dir = app.dir.0.join("playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&app.config.playbooks_dir).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.ends_with("roadside-breakdown.toml") {
            text = text.replace(
                "label = \"Waive tyre and towing charges\"",
                "label = \"Waive tyre and towing charges\"\ncase_cap = 200",
            );
        }
        std::fs::write(dir.join(path.file_name().unwrap()), text).unwrap();
    }
    app.engine
        .reload_playbooks(Some(&dir))
        .expect("capped library loads");
    app.feed(FLAT_TYRE, t0()).await;
    let ana = agent("ana");
    assert!(message(app.run(&ana, offer(1, "fee_waiver", "100")).await).starts_with("Granted"));
    assert!(message(app.run(&ana, offer(1, "fee_waiver", "100")).await).starts_with("Granted"));
    let text = message(app.run(&ana, offer(1, "fee_waiver", "10")).await);
    assert!(
        text.starts_with("The case cap of 200 USD is reached: escalation E1"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_offers_and_decisions_are_refused_and_change_nothing() {
    let mut app = spawn_app().await;
    app.feed(FLAT_TYRE, t0()).await;
    app.feed(
        "[Twitter] @nobody: hello there https://twitter.com/nobody/status/5",
        t0(),
    )
    .await;
    let ana = agent("ana");
    app.run(&ana, offer(1, "fee_waiver", "180")).await.unwrap();
    let before = fingerprint(&app).await;

    let unknown = refusal(app.run(&ana, offer(1, "hug", "5")).await);
    assert!(
        unknown.contains("use one of: replacement (Replacement vehicle, USD), fee_waiver"),
        "{unknown}"
    );
    for bad in ["0", "-5", "12.345", "lots"] {
        let text = refusal(app.run(&ana, offer(1, "fee_waiver", bad)).await);
        assert!(text.contains("positive amount in USD"), "{bad}: {text}");
    }
    let none = refusal(app.run(&ana, offer(2, "credit", "5")).await);
    assert!(none.contains("offers no remedies"), "{none}");
    assert!(refusal(app.run(&ana, offer(9, "credit", "5")).await).contains("there is no case #9"));

    let sam = person("sam", Role::Supervisor);
    assert!(refusal(app.run(&sam, approve(7, None)).await).contains("there is no escalation E7"));
    let own = refusal(app.run(&ana, approve(1, None)).await);
    assert!(own.contains("four eyes"), "{own}");
    let boss = Command::Approve {
        escalation: EscalationId(1),
        amount: None,
        note: None,
    };
    let self_as_admin = refusal(
        app.run(&carebot::app::Actor::new("ana", "ana", vec![Role::Admin]), boss)
            .await,
    );
    assert!(
        self_as_admin.contains("four eyes"),
        "whatever their role: {self_as_admin}"
    );
    let senior = refusal(app.run(&person("sofia", Role::Senior), approve(1, None)).await);
    assert!(senior.contains("needs a supervisor or higher"), "{senior}");
    assert!(refusal(app.run(&sam, approve(1, Some("500"))).await).contains("asks for 180 USD"));
    assert!(refusal(
        app.run(
            &sam,
            Command::Deny {
                escalation: EscalationId(1),
                reason: "   ".into()
            }
        )
        .await
    )
    .contains("cannot be empty"));
    assert_eq!(fingerprint(&app).await, before, "refusals change nothing");

    message(app.run(&sam, approve(1, Some("150"))).await);
    let after = fingerprint(&app).await;
    let again = refusal(
        app.run(
            &person("max", Role::Supervisor),
            Command::Deny {
                escalation: EscalationId(1),
                reason: "no".into(),
            },
        )
        .await,
    );
    assert_eq!(
        again,
        "E1 is already approved by sam at 2026-11-27 09:05 UTC; nothing changed"
    );
    assert_eq!(fingerprint(&app).await, after);
}

#[tokio::test]
async fn an_approval_grants_tells_only_the_requester_and_hands_the_case_back() {
    let mut app = spawn_app().await;
    app.feed(FLAT_TYRE, t0()).await;
    let ana = agent("ana");
    app.run(&ana, Command::Claim { case: CaseId(1) }).await.unwrap();
    app.run(&ana, offer(1, "fee_waiver", "180")).await.unwrap();
    let sam = person("sam", Role::Supervisor);
    let text = message(app.run_at(&sam, approve(1, Some("150")), minutes(12)).await);
    assert!(
        text.contains("approved by sam at 2026-11-27 09:12 UTC for 150 USD (partial)"),
        "{text}"
    );

    let case = app.case(1).await;
    assert_eq!(case.status.as_str(), "open", "back with its owner");
    assert_eq!(case.granted, vec!["Waive tyre and towing charges: 150 USD"]);
    let out = app.outbox().await;
    let all = messages_about(&app, &out, 1).await;
    let (_, told) = all
        .iter()
        .find(|(to, m)| *to == "thread" && m.title.as_deref().is_some_and(|t| t.starts_with("E1 approved")))
        .expect("the thread is told");
    assert_eq!(told.pings, vec![Ping::User("ana".into())]);
    assert!(all.iter().any(|(to, _)| *to == "edit"), "packet edited");
    let edit = &app.packet(1).await;
    assert!(
        edit.buttons.iter().all(|b| b.disabled),
        "decided: buttons greyed out"
    );
    assert!(field(edit, "Status").starts_with("approved by sam"));
    let detail = app.engine.case_detail(CaseId(1), t0()).await.unwrap();
    let decision = detail.timeline.iter().find(|e| e.kind == "decision").unwrap();
    assert_eq!(decision.detail["outcome"], "approved");
    assert_eq!(decision.detail["amount"], "150");
    assert_eq!(decision.detail["by"], "sam");
    assert_eq!(decision.actor, "sam");

    // The approved amount counts against nobody's daily budget: ana's budget is untouched.
    let mut tx = app.engine.store().read().await.unwrap();
    let (on_case, ana_today) = tx
        .offer_totals(
            CaseId(1),
            carebot::domain::playbook::RemedyKind::FeeWaiver,
            "ana",
            "USD",
            t0() - Duration::days(1),
            t0() + Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!((on_case, ana_today), (Money(15_000), Money(0)));
    let grants = tx.case_grants(CaseId(1)).await.unwrap();
    assert_eq!(grants[0].granted_by.name, "sam", "attributed to the approver");
    assert_eq!(grants[0].rule, "approved by sam (E1)");
}

#[tokio::test]
async fn two_approvals_at_the_same_moment_make_one_decision() {
    let mut app = spawn_app().await;
    app.feed(FLAT_TYRE, t0()).await;
    app.run(&agent("ana"), offer(1, "fee_waiver", "180"))
        .await
        .unwrap();
    let sam = person("sam", Role::Supervisor);
    let max = person("max", Role::Supervisor);
    let (a, b) = tokio::join!(
        app.engine.execute(&sam, approve(1, None), minutes(10)),
        app.engine.execute(&max, approve(1, None), minutes(10)),
    );
    let oks = [&a, &b].iter().filter(|r| r.is_ok()).count();
    assert_eq!(oks, 1, "{a:?} / {b:?}");
    let refused = if a.is_err() { a } else { b };
    assert!(refusal(refused).contains("is already approved by"));
    let mut tx = app.engine.store().read().await.unwrap();
    assert_eq!(tx.case_grants(CaseId(1)).await.unwrap().len(), 1);
    let decisions = tx
        .events(CaseId(1))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "decision")
        .count();
    assert_eq!(decisions, 1);
}

#[tokio::test]
async fn a_question_goes_to_the_requester_and_their_next_note_answers_it() {
    let mut app = spawn_app().await;
    app.feed(FLAT_TYRE, t0()).await;
    let ana = agent("ana");
    app.run(&ana, offer(1, "fee_waiver", "180")).await.unwrap();
    let sam = person("sam", Role::Supervisor);
    app.run(
        &sam,
        Command::Ask {
            escalation: EscalationId(1),
            question: "Was the tow booked by us?".into(),
        },
    )
    .await
    .unwrap();
    // Someone else's note is not the answer.
    app.run(
        &agent("ben"),
        Command::Note {
            case: CaseId(1),
            text: "no idea".into(),
        },
    )
    .await
    .unwrap();
    app.run(
        &ana,
        Command::Reply {
            case: CaseId(1),
            text: "We're sorting the bill".into(),
        },
    )
    .await
    .unwrap();
    let out = app.outbox().await;
    let all = messages_about(&app, &out, 1).await;
    let (_, question) = all
        .iter()
        .find(|(to, m)| *to == "thread" && m.title.as_deref() == Some("Question from sam about E1"))
        .expect("question in the thread");
    assert_eq!(question.pings, vec![Ping::User("ana".into())]);
    let (_, answered) = all
        .iter()
        .find(|(to, _)| *to == "channel")
        .expect("answer in the escalations channel");
    assert_eq!(answered.title.as_deref(), Some("ana answered about E1"));
    assert_eq!(answered.pings, vec![Ping::User("sam".into())]);
    let view = app.engine.escalation_view(EscalationId(1)).await.unwrap();
    let qa = field(&view.packet, "Questions");
    assert!(
        qa.contains("sam asked: Was the tow booked by us?") && qa.contains("→ ana: We're sorting the bill"),
        "{qa}"
    );
    assert_eq!(
        view.item.status,
        EscalationStatus::Open,
        "a question decides nothing"
    );
}

/// The reminders, re-posts and the deadline of E1 queued since `shown` rows of the outbox, as
/// (title, pings), rendered now as their delivery would (a reminder with nothing left to
/// remind of is not posted); `shown` moves past them.
async fn timer_messages(app: &TestApp, shown: &mut usize) -> Vec<(String, Vec<Ping>)> {
    let out = app.outbox().await;
    let mut seen = vec![];
    for o in &out[*shown..] {
        match o {
            Outgoing::ChannelMessage { message, .. } => {
                seen.push((message.title.clone().unwrap_or_default(), message.pings.clone()))
            }
            Outgoing::EscalationReminder { .. } => {
                if let Some(message) = app.reminder(o).await {
                    seen.push((message.title.clone().unwrap_or_default(), message.pings))
                }
            }
            Outgoing::EscalationPacket {
                escalation_id,
                next_tier: true,
                ..
            } => {
                let message = app
                    .packet_shown(escalation_id.0, PacketShown::Post { next_tier: true })
                    .await;
                seen.push((
                    format!("re-post {}", message.title.clone().unwrap_or_default()),
                    message.pings.clone(),
                ));
            }
            _ => {}
        }
    }
    *shown = out.len();
    seen
}

#[tokio::test]
async fn an_unanswered_escalation_reminds_then_moves_to_the_next_tier_then_is_denied() {
    let mut app = spawn_without_sla(|c| c.escalations.reminders = vec![0.25, 0.75]).await;
    app.feed(CHARGED_TWICE, t0()).await;
    app.run(&agent("ana"), offer(1, "refund", "300")).await.unwrap();
    // billing-dispute: supervisor, 4h, on timeout the next tier (admin), then nothing is left.
    // What each sweep queues is rendered before the next one, as a running bot delivers it.
    let engine = &app.engine;
    let mut shown = 0;
    let mut seen: Vec<(String, Vec<Ping>)> = timer_messages(&app, &mut shown).await;
    assert_eq!(engine.fire_due_timers(minutes(64)).await.unwrap().fired, 0);
    assert_eq!(
        engine.fire_due_timers(minutes(65)).await.unwrap().fired,
        1,
        "25% of 4h"
    );
    assert_eq!(
        engine.fire_due_timers(minutes(65)).await.unwrap().fired,
        0,
        "fired once"
    );
    seen.extend(timer_messages(&app, &mut shown).await);
    assert_eq!(
        engine.fire_due_timers(minutes(185)).await.unwrap().fired,
        1,
        "75%"
    );
    seen.extend(timer_messages(&app, &mut shown).await);
    let report = engine.fire_due_timers(minutes(245)).await.unwrap();
    assert_eq!(report.fired, 1, "the deadline");
    seen.extend(timer_messages(&app, &mut shown).await);
    let e = &engine.escalations(&EscalationFilter::default()).await.unwrap()[0];
    assert_eq!(
        (e.status, e.approver, e.tier),
        (EscalationStatus::Open, Role::Admin, 2)
    );
    assert_eq!(e.deadline, minutes(245 + 240));
    assert_eq!(
        engine.fire_due_timers(minutes(305)).await.unwrap().fired,
        1,
        "tier 2, 25%"
    );
    seen.extend(timer_messages(&app, &mut shown).await);
    engine.fire_due_timers(minutes(425)).await.unwrap();
    seen.extend(timer_messages(&app, &mut shown).await);
    assert_eq!(
        engine.fire_due_timers(minutes(485)).await.unwrap().fired,
        1,
        "tier 2 deadline"
    );
    seen.extend(timer_messages(&app, &mut shown).await);
    let e = &engine.escalations(&EscalationFilter::default()).await.unwrap()[0];
    assert_eq!(e.status, EscalationStatus::Denied);
    assert!(e.timed_out);
    assert_eq!(e.decided_by.as_deref(), Some("carebot (timeout policy)"));
    assert_eq!(engine.store().pending_timers().await.unwrap(), 0);
    // Delivered only now, a reminder has nothing left to remind of.
    let out = app.outbox().await;
    let reminders: Vec<&Outgoing> = out
        .iter()
        .filter(|o| matches!(o, Outgoing::EscalationReminder { .. }))
        .collect();
    assert_eq!(reminders.len(), 4);
    for r in reminders {
        assert_eq!(app.reminder(r).await, None, "{r:?}");
    }

    let supervisors = vec![Ping::Role(Role::Supervisor)];
    let admins = vec![Ping::Role(Role::Admin)];
    assert_eq!(
        seen,
        vec![
            (
                "Reminder: E1 waits for a supervisor to decide".to_string(),
                supervisors.clone()
            ),
            (
                "Reminder: E1 waits for a supervisor to decide".to_string(),
                supervisors
            ),
            (
                "re-post E1 · case #1 · Refund of the disputed charge: 300 USD".to_string(),
                admins.clone()
            ),
            (
                "Reminder: E1 waits for an admin to decide".to_string(),
                admins.clone()
            ),
            ("Reminder: E1 waits for an admin to decide".to_string(), admins),
            ("E1 timed out".to_string(), vec![]),
        ]
    );
    let told: Vec<String> = messages_about(&app, &out, 1)
        .await
        .into_iter()
        .filter(|(to, m)| *to == "thread" && m.pings == vec![Ping::User("ana".into())])
        .map(|(_, m)| m.body)
        .collect();
    assert_eq!(told.len(), 2, "{told:#?}");
    assert!(told[0].contains("it moves to an admin"), "{}", told[0]);
    assert!(
        told[1].contains("the playbook's timeout policy denied it"),
        "{}",
        told[1]
    );
    let timeline = app.engine.case_detail(CaseId(1), t0()).await.unwrap().timeline;
    let kinds: Vec<&str> = timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "escalation",
            "offer",
            "reminder",
            "reminder",
            "timeout",
            "reminder",
            "reminder",
            "timeout"
        ]
    );
    assert_eq!(timeline[5].detail["policy"], "next_tier");
    assert_eq!(timeline[8].detail["outcome"], "denied");
    assert_eq!(
        app.case(1).await.status.as_str(),
        "new",
        "handed back to the queue"
    );
}

/// A flat tyre (E1 on case 1: a fee waiver of 180 USD) and rude staff (E2 on case 2: a credit
/// of 60 USD), both asked for by `ana` five minutes after `t0` and beyond her limits.
async fn two_escalations() -> TestApp {
    let mut app = spawn_without_sla(|_| {}).await;
    app.feed(FLAT_TYRE, t0()).await;
    app.feed(RUDE, t0()).await;
    let ana = agent("ana");
    app.run(&ana, offer(1, "fee_waiver", "180")).await.unwrap();
    app.run(&ana, offer(2, "credit", "60")).await.unwrap();
    app
}

#[tokio::test]
async fn grant_up_to_grants_the_cap_and_deny_denies_at_the_deadline() {
    let app = two_escalations().await;
    // roadside-breakdown: 2h, grant up to 150; rude-staff: 24h, deny.
    let report = app
        .engine
        .fire_due_timers(t0() + Duration::days(2))
        .await
        .unwrap();
    assert_eq!(report.fired, 6);
    let list = app
        .engine
        .escalations(&EscalationFilter::default())
        .await
        .unwrap();
    assert_eq!(
        (list[0].status, list[0].decided_amount),
        (EscalationStatus::Approved, Some(Money(15_000)))
    );
    assert_eq!(list[1].status, EscalationStatus::Denied);
    assert_eq!(
        app.case(1).await.granted,
        vec!["Waive tyre and towing charges: 150 USD"]
    );
    let timeline = app.engine.case_detail(CaseId(1), t0()).await.unwrap().timeline;
    let timeout = timeline.iter().find(|e| e.kind == "timeout").unwrap();
    assert_eq!(timeout.detail["policy"], "grant_up_to");
    assert_eq!(timeout.detail["outcome"], "approved");
    assert_eq!(timeout.detail["amount"], "150");
    assert_eq!(timeout.actor, "carebot (timeout policy)");
    let grants = app
        .engine
        .store()
        .read()
        .await
        .unwrap()
        .case_grants(CaseId(1))
        .await
        .unwrap();
    assert_eq!(grants[0].granted_by.name, "carebot (timeout policy)");
}

#[tokio::test]
async fn a_restart_between_request_and_deadline_fires_the_deadline_once_and_says_it_is_late() {
    let mut app = spawn_without_sla(|_| {}).await;
    app.feed(FLAT_TYRE, t0()).await;
    app.run(&agent("ana"), offer(1, "fee_waiver", "180"))
        .await
        .unwrap();
    app.restart().await;
    let report = app
        .engine
        .fire_due_timers(t0() + Duration::hours(6))
        .await
        .unwrap();
    assert_eq!((report.fired, report.late), (3, 3));
    app.restart().await;
    assert_eq!(
        app.engine
            .fire_due_timers(t0() + Duration::hours(7))
            .await
            .unwrap()
            .fired,
        0
    );
    let out = app.outbox().await;
    let late: Vec<&'static str> = messages_about(&app, &out, 1)
        .await
        .into_iter()
        .filter(|(_, m)| m.body.contains("carebot was not running"))
        .map(|(to, _)| to)
        .collect();
    // The timeout says so in the thread and the escalations channel; the two reminders swept
    // with it have nothing left to remind of and are not posted (their events say they fired).
    assert_eq!(late, ["thread", "channel"]);
    let reminders = out
        .iter()
        .filter(|o| matches!(o, Outgoing::EscalationReminder { late: Some(_), .. }))
        .count();
    assert_eq!(reminders, 2);
    let timeline = app.engine.case_detail(CaseId(1), t0()).await.unwrap().timeline;
    let fired: Vec<(&str, &serde_json::Value)> = timeline
        .iter()
        .filter(|e| matches!(e.kind.as_str(), "reminder" | "timeout"))
        .map(|e| (e.kind.as_str(), &e.detail["late"]))
        .collect();
    let late = &serde_json::Value::Bool(true);
    assert_eq!(fired, [("reminder", late), ("reminder", late), ("timeout", late)]);
}

#[tokio::test]
async fn a_reminder_delivered_after_the_decision_is_not_posted() {
    let app = two_escalations().await;
    // roadside-breakdown (E1): 2h, reminders at 50% and 90%; rude-staff (E2): 24h.
    let at = minutes(5 + 60);
    assert_eq!(app.engine.fire_due_timers(at).await.unwrap().fired, 1);
    let out = app.outbox().await;
    let reminder = out.last().unwrap();
    assert_eq!(
        reminder,
        &Outgoing::EscalationReminder {
            case_id: CaseId(1),
            escalation_id: EscalationId(1),
            tier: 1,
            at,
            late: None,
        }
    );
    let payload = serde_json::to_value(reminder).unwrap();
    assert_eq!(
        payload,
        serde_json::json!({"kind": "escalation_reminder", "case_id": 1, "escalation_id": "E1", "tier": 1, "at": at})
    );
    let shown = app.reminder(reminder).await.expect("E1 is still open");
    assert_eq!(
        shown.title.as_deref(),
        Some("Reminder: E1 waits for a supervisor to decide")
    );
    assert!(shown.body.contains("(in 1h 00m)"), "{}", shown.body);
    assert_eq!(shown.pings, vec![Ping::Role(Role::Supervisor)]);
    // The supervisor decides before the dispatcher gets to the reminder: pinging them now
    // would ask for a decision already made.
    let sam = person("sam", Role::Supervisor);
    app.run_at(&sam, approve(1, None), minutes(66)).await.unwrap();
    assert_eq!(app.reminder(reminder).await, None);
    // An escalation that moved on is as good as decided for its old tier's reminders.
    let mut moved = reminder.clone();
    if let Outgoing::EscalationReminder {
        escalation_id,
        case_id,
        tier,
        ..
    } = &mut moved
    {
        (*escalation_id, *case_id, *tier) = (EscalationId(2), CaseId(2), 0);
    }
    assert_eq!(app.reminder(&moved).await, None);
}

#[tokio::test]
async fn two_processes_on_one_database_fire_each_timer_once() {
    let mut app = spawn_without_sla(|_| {}).await;
    for i in 0..20 {
        let post = format!(
            "[Twitter] @driver{i}: flat tyre on my rental car https://twitter.com/driver{i}/status/{i}"
        );
        app.feed(&post, t0()).await;
        app.run(&agent("ana"), offer(i + 1, "fee_waiver", "180"))
            .await
            .unwrap();
    }
    let other = Engine::start(&app.config).await.expect("a second process");
    let at = t0() + Duration::hours(3);
    let (a, b) = tokio::join!(app.engine.fire_due_timers(at), other.fire_due_timers(at));
    assert_eq!(a.unwrap().fired + b.unwrap().fired, 60);
    let list = app
        .engine
        .escalations(&EscalationFilter::default())
        .await
        .unwrap();
    assert!(list
        .iter()
        .all(|e| e.status == EscalationStatus::Approved && e.timed_out));
    let mut tx = app.engine.store().read().await.unwrap();
    for case in 1..=20 {
        let timeline = tx.events(CaseId(case)).await.unwrap();
        let count = |kind: &str| timeline.iter().filter(|e| e.kind == kind).count();
        assert_eq!((count("reminder"), count("timeout")), (2, 1), "case {case}");
        assert_eq!(tx.case_grants(CaseId(case)).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn the_friction_report_counts_a_hand_made_history() {
    let mut app = spawn_app().await;
    let ana = agent("ana");
    let sam = person("sam", Role::Supervisor);
    // Five waivers asked above ana's 120 USD limit: four approved (one partly), one denied.
    let history = [
        ("180", Some("180")),
        ("150", Some("150")),
        ("200", Some("160")),
        ("130", Some("130")),
        ("400", None),
    ];
    for (i, (asked, approved)) in history.iter().enumerate() {
        let n = i as i64 + 1;
        let post = format!(
            "[Twitter] @driver{n}: flat tyre on my rental car https://twitter.com/driver{n}/status/{n}"
        );
        app.feed(&post, t0()).await;
        app.run(&ana, offer(n, "fee_waiver", asked)).await.unwrap();
        let decided_at = minutes(5 + 10 * n);
        match approved {
            Some(amount) => app
                .run_at(&sam, approve(n, Some(amount)), decided_at)
                .await
                .unwrap(),
            None => app
                .run_at(
                    &sam,
                    Command::Deny {
                        escalation: EscalationId(n),
                        reason: "too much".into(),
                    },
                    decided_at,
                )
                .await
                .unwrap(),
        };
    }
    // One refund on a billing case, still open.
    app.feed(CHARGED_TWICE, t0()).await;
    app.run(&ana, offer(6, "refund", "90")).await.unwrap();

    let rows = app.engine.friction(None, None).await.unwrap();
    assert_eq!(rows.len(), 2);
    let r = &rows[0];
    assert_eq!(
        (r.playbook.as_str(), r.remedy.as_str(), r.role),
        ("roadside-breakdown", "fee_waiver", Role::Agent)
    );
    assert_eq!(r.limit, Some(Money(12_000)));
    assert_eq!((r.requests, r.approved, r.denied, r.timed_out), (5, 4, 1, 0));
    assert_eq!(r.median_requested, Some(Money(18_000)));
    assert_eq!(r.median_decision_minutes, Some(30.0));
    assert_eq!(r.suggested_limit, Some(Money(18_000)));
    let json = serde_json::to_value(r).unwrap();
    for key in [
        "playbook",
        "remedy",
        "role",
        "limit",
        "unit",
        "requests",
        "approved",
        "denied",
        "timed_out",
        "median_requested",
        "median_decision_minutes",
        "suggested_limit",
    ] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
    assert_eq!(json["suggested_limit"], "180");
    assert_eq!(rows[1].remedy, "refund");
    assert_eq!(rows[1].requests, 1);
    // The period filters by when the escalation was opened.
    assert!(app
        .engine
        .friction(Some(t0() + Duration::days(1)), None)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_scenario_script_fires_reminders_and_the_timeout_at_their_own_times() {
    let app = spawn_app().await;
    let script = "\
clock 2026-11-27T09:00:00Z
[09:00] feed twitter-feed | [Twitter] @dana_travels: Flat tyre on my rental, roadside useless https://twitter.com/dana_travels/status/1
as ana agent
[09:01] /case offer #1 fee_waiver 180 tyre billed anyway
[+3h] /escalations
";
    let mut console = Console::with_clock(&app.engine, Vec::new(), agent("demo"), t0())
        .await
        .unwrap();
    console.run_script(script).await.unwrap();
    let out = String::from_utf8(console.into_output()).unwrap();
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("`{needle}` missing:\n{out}"))
    };
    // Deadline 11:01: reminders at 10:01 (50%) and 10:49 (90%), then the timeout.
    assert!(at("[10:01] ⏰") < at("[10:49] ⏰"));
    assert!(at("[10:49] ⏰") < at("[11:01] ⏰"));
    assert!(at("[11:01] ⏰") < at("timeout policy granted 150 USD"));
    assert!(at("timeout policy granted 150 USD") < at("[12:01] ana> /escalations"));
    assert!(out.contains("Open escalations: 0"), "{out}");
}
