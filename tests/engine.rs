//! The case engine end to end on a fresh SQLite database per test.

mod support;

use carebot::app::outbox::Outgoing;
use carebot::app::{Actor, Command, CommandError, CustomerRef, IngestOutcome, QueueView, Reply};
use carebot::cli::ingest_jsonl;
use carebot::domain::case::{CaseStatus, Owner};
use carebot::domain::feed::{IgnoreReason, Mention};
use carebot::domain::{CaseId, Handle, Network, Priority, Role, Segment};
use chrono::Duration;
use support::app::{agent, spawn_app, spawn_app_with, t0};

const FLAT_TYRE: &str = "[Twitter] @dana_travels: Flat tyre on my rental on the way to a meeting, roadside says the tools are in the trunk https://twitter.com/dana_travels/status/1";

#[tokio::test]
async fn a_feed_post_opens_a_case_with_its_card_and_suggestions() {
    let mut app = spawn_app().await;
    let outcome = app.feed(FLAT_TYRE, t0()).await;
    assert_eq!(outcome, IngestOutcome::Opened(CaseId(1)));
    let case = app.case(1).await;
    assert_eq!(case.status, CaseStatus::New);
    assert_eq!(case.category, "roadside-breakdown");
    assert_eq!(case.feed_message_id.as_deref(), Some("1001"));
    let out = app.outbox().await;
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(
        matches!(out[0], Outgoing::OpenCase { case_id: CaseId(1) }),
        "{:?}",
        out[0]
    );
    let rows = app.engine.store().undelivered_outbox(1).await.unwrap();
    assert_eq!(
        rows[0].payload, r#"{"kind":"open_case","case_id":1}"#,
        "the thread and card are rendered when delivered"
    );
    let opening = app.opening(1).await;
    assert!(
        opening.thread_name.starts_with("#1 @dana_travels"),
        "{}",
        opening.thread_name
    );
    assert_eq!(opening.feed_message_id.as_deref(), Some("1001"));
    assert!(opening.card.description.contains("Flat tyre"));
    assert!(opening.card.buttons.iter().any(|b| b.id == "case:claim:1"));
    match &out[1] {
        Outgoing::CaseMessage { message, .. } => {
            let first = &message.fields[0];
            assert!(
                first.name.contains("Roadside") || first.name.contains("roadside"),
                "{}",
                first.name
            );
            assert!(first.value.contains("yourself"), "{}", first.value);
        }
        other => panic!("expected suggestions, got {other:?}"),
    }
}

#[tokio::test]
async fn the_same_post_twice_changes_nothing() {
    let mut app = spawn_app().await;
    let post = app.post(FLAT_TYRE);
    app.engine.receive_post(&post, None, t0()).await.unwrap();
    let before = app.outbox().await.len();
    let (again, _) = app.engine.receive_post(&post, None, t0()).await.unwrap();
    assert_eq!(again, IngestOutcome::Duplicate);
    // The same tweet relayed as a different feed message is recognised by its URL.
    assert_eq!(app.feed(FLAT_TYRE, t0()).await, IngestOutcome::Duplicate);
    assert_eq!(app.outbox().await.len(), before);
    assert_eq!(app.case(1).await.mention_count, 1);
}

#[tokio::test]
async fn a_second_post_by_the_customer_joins_the_open_case() {
    let mut app = spawn_app().await;
    app.feed(FLAT_TYRE, t0()).await;
    let second = "[Twitter] @Dana_Travels: still waiting on the hard shoulder https://twitter.com/dana_travels/status/2";
    assert_eq!(
        app.feed(second, t0() + Duration::minutes(3)).await,
        IngestOutcome::Merged(CaseId(1))
    );
    let detail = app.engine.case_detail(CaseId(1), t0()).await.unwrap();
    assert_eq!(detail.case.mention_count, 2);
    assert_eq!(detail.mentions.len(), 2);
    assert_eq!(
        detail
            .timeline
            .iter()
            .map(|e| e.kind.as_str())
            .collect::<Vec<_>>(),
        vec!["opened", "mention"]
    );
    let out = app.outbox().await;
    // Stored as the post's source id, rendered from the post when delivered.
    assert_eq!(
        serde_json::to_value(&out[2]).unwrap(),
        serde_json::json!({"kind": "mention_line", "case_id": 1, "source_id": "test:2", "line": "merged"})
    );
    let line = app.line(&out[2]).await;
    assert_eq!(line.title.as_deref(), Some("New mention from @dana_travels"));
    assert_eq!(
        line.body,
        "still waiting on the hard shoulder\nhttps://twitter.com/dana_travels/status/2"
    );
    assert!(matches!(
        out[3],
        Outgoing::UpdateCard {
            case_id: CaseId(1),
            ..
        }
    ));
}

#[tokio::test]
async fn a_resolved_case_reopens_within_the_window_and_not_after() {
    let mut app = spawn_app().await;
    app.feed(FLAT_TYRE, t0()).await;
    let ana = agent("ana");
    app.run(
        &ana,
        Command::Resolve {
            case: CaseId(1),
            note: None,
        },
    )
    .await
    .unwrap();
    let again =
        "[Twitter] @dana_travels: got billed for the tyre anyway https://twitter.com/dana_travels/status/3";
    assert_eq!(
        app.feed(again, t0() + Duration::hours(5)).await,
        IngestOutcome::Reopened(CaseId(1))
    );
    assert_eq!(app.case(1).await.status, CaseStatus::New);
    app.engine
        .execute(
            &ana,
            Command::Resolve {
                case: CaseId(1),
                note: None,
            },
            t0() + Duration::hours(6),
        )
        .await
        .unwrap();
    let much_later =
        "[Twitter] @dana_travels: renting again next month! https://twitter.com/dana_travels/status/4";
    assert_eq!(
        app.feed(much_later, t0() + Duration::days(10)).await,
        IngestOutcome::Opened(CaseId(2))
    );
}

#[tokio::test]
async fn brand_posts_and_retweets_are_ignored_and_counted() {
    let mut app = spawn_app().await;
    let own = app
        .feed(
            "[Twitter] @AcmeShop: we are on it! https://twitter.com/AcmeShop/status/9",
            t0(),
        )
        .await;
    assert!(matches!(own, IngestOutcome::Ignored(_)), "{own:?}");
    let rt = app
        .feed(
            "[Twitter] @fan: RT @mia: the site is down https://twitter.com/fan/status/10",
            t0(),
        )
        .await;
    assert!(matches!(rt, IngestOutcome::Ignored(_)), "{rt:?}");
    let mut tx = app.engine.store().read().await.unwrap();
    let counts = tx.ignored_counts().await.unwrap();
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<i64>(), 2, "{counts:?}");
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn unreadable_huge_and_odd_posts_still_become_cases() {
    let mut app = spawn_app().await;
    let (_, unparsed) = {
        let post = app.post("¯\\_(ツ)_/¯ @everyone **look**");
        app.engine.receive_post(&post, None, t0()).await.unwrap()
    };
    assert!(unparsed);
    assert!(app.case(1).await.unparsed);
    let huge = format!(
        "[Twitter] @bigtext: {} https://twitter.com/bigtext/status/5",
        "ä".repeat(100 * 1024)
    );
    assert_eq!(app.feed(&huge, t0()).await, IngestOutcome::Opened(CaseId(2)));
    let odd = "[Twitter] @rtl_user: \u{202e}reversed\u{200d} text 👩‍👩‍👧 e\u{301} https://twitter.com/rtl_user/status/6";
    assert_eq!(app.feed(odd, t0()).await, IngestOutcome::Opened(CaseId(3)));
    assert_eq!(app.feed("", t0()).await, IngestOutcome::Opened(CaseId(4)));
}

#[tokio::test]
async fn a_second_claim_is_refused_naming_the_owner_and_changes_nothing() {
    let mut app = spawn_app().await;
    app.feed(FLAT_TYRE, t0()).await;
    app.run(&agent("ana"), Command::Claim { case: CaseId(1) })
        .await
        .unwrap();
    let events_before = app
        .engine
        .case_detail(CaseId(1), t0())
        .await
        .unwrap()
        .timeline
        .len();
    let err = app
        .run(&agent("ben"), Command::Claim { case: CaseId(1) })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ana"), "{err}");
    let detail = app.engine.case_detail(CaseId(1), t0()).await.unwrap();
    assert_eq!(detail.case.owner.unwrap().id, "ana");
    assert_eq!(detail.timeline.len(), events_before);
}

#[tokio::test]
async fn commands_check_roles_and_case_numbers() {
    let mut app = spawn_app().await;
    app.feed(FLAT_TYRE, t0()).await;
    let nobody = Actor::new("x", "x", vec![]);
    let err = app
        .run(&nobody, Command::Claim { case: CaseId(1) })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CommandError::NotAllowed {
                needs: Role::Agent,
                ..
            }
        ),
        "{err}"
    );
    let vip = Command::CustomerSegment {
        customer: CustomerRef::Handle {
            network: None,
            handle: Handle::parse("dana_travels").unwrap(),
        },
        segment: Segment::Vip,
    };
    let err = app.run(&agent("ana"), vip.clone()).await.unwrap_err();
    assert!(err.to_string().contains("senior"), "{err}");
    let sofia = Actor::new("sofia", "Sofia", vec![Role::Senior]);
    app.run(&sofia, vip).await.unwrap();
    let detail = app.engine.case_detail(CaseId(1), t0()).await.unwrap();
    assert_eq!(detail.customer.segment, Segment::Vip);
    let show = Command::CustomerShow {
        customer: CustomerRef::Handle {
            network: None,
            handle: Handle::parse("@Dana_Travels").unwrap(),
        },
    };
    match app.run(&agent("ana"), show).await.unwrap() {
        Reply::Customer(c) => {
            assert_eq!(c.customer.segment, Segment::Vip);
            assert_eq!(c.cases.iter().map(|c| c.id.0).collect::<Vec<_>>(), vec![1]);
        }
        other => panic!("{other:?}"),
    }
    let err = app
        .run(&agent("ana"), Command::Show { case: CaseId(99) })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no case #99"), "{err}");
    let assign = Command::Assign {
        case: CaseId(1),
        to: Owner {
            id: "ben".into(),
            name: "Ben".into(),
        },
    };
    assert!(matches!(
        app.run(&agent("ana"), assign.clone()).await,
        Err(CommandError::NotAllowed { .. })
    ));
    app.run(&sofia, assign).await.unwrap();
    assert_eq!(app.case(1).await.owner.unwrap().name, "Ben");
}

#[tokio::test]
async fn a_card_edit_is_stored_as_the_case_id_and_shows_the_case_as_it_is_when_delivered() {
    let mut app = spawn_app().await;
    app.feed(FLAT_TYRE, t0()).await;
    let ana = agent("ana");
    app.run(&ana, Command::Claim { case: CaseId(1) }).await.unwrap();
    let rows = app.engine.store().undelivered_outbox(100).await.unwrap();
    let edit = rows.last().expect("the claim queued a card edit");
    assert_eq!(edit.payload, r#"{"kind":"update_card","case_id":1}"#);
    // Resolved before that edit is delivered: it shows the case resolved, not as claimed.
    app.run(
        &ana,
        Command::Resolve {
            case: CaseId(1),
            note: None,
        },
    )
    .await
    .unwrap();
    let card = app.card(1).await;
    let status = card.fields.iter().find(|f| f.name == "Status").unwrap();
    assert_eq!(status.value, "resolved");
    assert!(card.description.contains("Flat tyre"), "{card:?}");
}

#[tokio::test]
async fn working_a_case_records_every_step_on_the_timeline() {
    let mut app = spawn_app().await;
    app.feed(FLAT_TYRE, t0()).await;
    let ana = agent("ana");
    for command in [
        Command::Claim { case: CaseId(1) },
        Command::Note {
            case: CaseId(1),
            text: "calling the branch".into(),
        },
        Command::Reply {
            case: CaseId(1),
            text: "A new car is on its way.".into(),
        },
        Command::Tag {
            case: CaseId(1),
            tags: vec!["Roadside".into(), "rental".into()],
        },
        Command::Priority {
            case: CaseId(1),
            priority: Priority::P1,
        },
        Command::Waiting { case: CaseId(1) },
        Command::Resolve {
            case: CaseId(1),
            note: Some("car delivered".into()),
        },
        Command::Reopen { case: CaseId(1) },
    ] {
        app.run(&ana, command).await.unwrap();
    }
    let detail = app.engine.case_detail(CaseId(1), t0()).await.unwrap();
    let kinds: Vec<&str> = detail.timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec!["opened", "claimed", "note", "reply", "tagged", "priority", "waiting", "resolved", "reopened"]
    );
    assert!(detail.timeline[1..].iter().all(|e| e.actor == "ana"));
    assert_eq!(detail.case.tags, vec!["roadside", "rental"]);
    assert_eq!(detail.case.priority, Priority::P1);
    assert_eq!(detail.case.first_response_at, Some(t0() + Duration::minutes(5)));
    assert_eq!(detail.case.status, CaseStatus::Open);
    let err = app
        .run(
            &ana,
            Command::Note {
                case: CaseId(1),
                text: "   ".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[tokio::test]
async fn suggestions_and_queues_answer_from_the_store() {
    let mut app = spawn_app().await;
    app.feed(FLAT_TYRE, t0()).await;
    app.feed(
        "[Twitter] @mia: checkout keeps failing with error 500 https://twitter.com/mia/status/7",
        t0(),
    )
    .await;
    let ana = agent("ana");
    match app.run(&ana, Command::Suggest { case: CaseId(2) }).await.unwrap() {
        Reply::Suggestions { items, .. } => assert_eq!(items[0].playbook, "checkout-outage"),
        other => panic!("{other:?}"),
    }
    app.run(&ana, Command::Claim { case: CaseId(1) }).await.unwrap();
    match app
        .run(
            &ana,
            Command::Queue {
                view: QueueView::Unassigned,
            },
        )
        .await
        .unwrap()
    {
        Reply::Queue { cases, .. } => assert_eq!(cases.iter().map(|c| c.id.0).collect::<Vec<_>>(), vec![2]),
        other => panic!("{other:?}"),
    }
    match app
        .run(
            &ana,
            Command::Queue {
                view: QueueView::Mine,
            },
        )
        .await
        .unwrap()
    {
        Reply::Queue { cases, .. } => assert_eq!(cases.iter().map(|c| c.id.0).collect::<Vec<_>>(), vec![1]),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_failed_playbook_reload_keeps_the_previous_set() {
    let app = spawn_app().await;
    let admin = Actor::new("root", "Root", vec![Role::Admin]);
    let before = app.engine.playbooks().playbooks().len();
    let bad = std::env::temp_dir().join(format!("carebot-badbooks-{}", std::process::id()));
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("broken.toml"), "id = \"x\"\ntitle = \n").unwrap();
    let err = app.engine.reload_playbooks(Some(&bad)).unwrap_err();
    assert!(err.to_string().contains("broken.toml"), "{err}");
    assert_eq!(app.engine.playbooks().playbooks().len(), before);
    assert!(matches!(
        app.run(&agent("ana"), Command::PlaybookReload).await,
        Err(CommandError::NotAllowed { .. })
    ));
    app.run(&admin, Command::PlaybookReload).await.unwrap();
    std::fs::remove_dir_all(&bad).unwrap();
}

#[tokio::test]
async fn an_import_whose_last_line_cannot_be_read_keeps_the_lines_before_it() {
    let app = spawn_app().await;
    let mut input = br#"{"id":"21","network":"twitter","handle":"leo","text":"charged twice"}"#.to_vec();
    input.extend_from_slice(b"\n\xff\xfe not text\n");
    let mut errors = Vec::new();
    let stats = ingest_jsonl(&app.engine, input.as_slice(), t0(), &mut errors)
        .await
        .unwrap();
    assert_eq!((stats.opened, stats.errors), (1, 1));
    assert!(String::from_utf8_lossy(&errors).contains("line 2: cannot read"));
    assert_eq!(app.case(1).await.mention_count, 1);
}

/// An import ranks each batch's posts ahead, on another thread, for customers of the standard
/// segment and with the playbooks in force then: a post whose author is a VIP, when a playbook
/// is for VIPs only, or whose playbooks were reloaded meanwhile, is ranked again when placed.
#[tokio::test]
async fn posts_ranked_ahead_are_ranked_again_for_another_segment_or_a_reloaded_set() {
    let books = std::env::temp_dir().join(format!("carebot-vipbooks-{}", std::process::id()));
    std::fs::create_dir_all(&books).unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, books.join(path.file_name().unwrap())).unwrap();
    }
    let lounge = "id = \"vip-lounge\"\ntitle = \"Lounge access\"\npriority = \"P2\"\n\
                  [triggers]\nkeywords = [\"platinum lounge\"]\nsegments = [\"vip\"]\n\
                  [reply]\ntemplate = \"Hi {{ customer.name }}\"\n";
    std::fs::write(books.join("vip-lounge.toml"), lounge).unwrap();
    let dir = books.clone();
    let mut app = spawn_app_with(move |c| c.playbooks_dir = dir).await;
    app.feed(FLAT_TYRE, t0()).await;
    assert_eq!(app.case(1).await.priority, Priority::P2);
    let vip = Command::CustomerSegment {
        customer: CustomerRef::Handle {
            network: None,
            handle: Handle::parse("dana_travels").unwrap(),
        },
        segment: Segment::Vip,
    };
    let sofia = Actor::new("sofia", "Sofia", vec![Role::Senior]);
    app.run(&sofia, vip).await.unwrap();

    // Dana's post joins her case: ranked as hers, the VIP playbook (P2, raised to P1 for a
    // VIP); ranked as a standard customer's, the fallback (P3, raised to P2).
    let line = |id: &str, handle: &str| {
        format!(
            r#"{{"id":"{id}","network":"twitter","handle":"{handle}","text":"what about the platinum lounge"}}"#
        )
    };
    let input = format!("{}\n{}\n", line("11", "dana_travels"), line("12", "leo"));
    let mut errors = Vec::new();
    let now = t0() + Duration::minutes(5);
    let stats = ingest_jsonl(&app.engine, input.as_bytes(), now, &mut errors)
        .await
        .unwrap();
    assert_eq!(
        (stats.merged, stats.opened),
        (1, 1),
        "{}",
        String::from_utf8_lossy(&errors)
    );
    assert_eq!(app.case(1).await.priority, Priority::P1);
    assert_eq!(app.case(2).await.category, "general");

    // Ranked with the set in force, then placed after a reload that changed it.
    let ahead = ["a flat tyre on the motorway"].map(|text| Mention {
        source_id: "import:13".into(),
        external_id: Some("13".into()),
        network: Network::parse("twitter").unwrap(),
        handle: Handle::parse("mia").unwrap(),
        display_name: None,
        text: text.into(),
        url: None,
        posted_at: now,
        followers: None,
        unparsed: false,
    });
    let rankings = app.engine.ranker().rank(&ahead);
    // A playbook like the lounge one, for anybody, on `keyword`.
    let write = |id: &str, keyword: &str| {
        let book = lounge.replace("vip-lounge", id).replace(
            "keywords = [\"platinum lounge\"]\nsegments = [\"vip\"]",
            &format!("keywords = [\"{keyword}\"]"),
        );
        std::fs::write(books.join(format!("{id}.toml")), book).unwrap();
    };
    write("roadside-breakdown", "roadside");
    write("tyres", "flat tyre");
    app.engine.reload_playbooks(None).unwrap();
    let outcomes = app
        .engine
        .receive_ranked(&ahead, Some(rankings), now)
        .await
        .unwrap();
    assert_eq!(outcomes, [IngestOutcome::Opened(CaseId(3))]);
    assert_eq!(app.case(3).await.category, "tyres");
    std::fs::remove_dir_all(&books).unwrap();
}

#[tokio::test]
async fn a_scenario_script_runs_with_its_own_clock_and_leaves_the_outbox_to_the_bot() {
    let app = spawn_app().await;
    let script = "\
clock 2026-11-27T09:00:00Z
as ana agent
[09:01] feed tw | [Twitter] @dana_travels: flat tyre on my rental https://twitter.com/dana_travels/status/1
[+4m] /case claim #1
as ben agent
[09:06] /case claim 1
";
    let mut console = carebot::console::Console::new(&app.engine, Vec::new(), agent("x"))
        .await
        .unwrap();
    console.run_script(script).await.unwrap();
    let out = String::from_utf8(console.into_output()).unwrap();
    assert!(out.contains("opened case #1"), "{out}");
    assert!(out.contains("[09:05] ana> /case claim #1"), "{out}");
    assert!(out.contains("already claimed by ana"), "{out}");
    let detail = app.engine.case_detail(CaseId(1), t0()).await.unwrap();
    assert_eq!(detail.timeline[1].at, t0() + Duration::minutes(5));
    // What the console showed is still queued for the chat adapter.
    assert_eq!(app.outbox().await.len(), 3, "card, suggestions, card update");
}

#[tokio::test]
async fn a_bad_script_line_stops_with_its_line_number() {
    let app = spawn_app().await;
    for (script, expected) in [
        (
            "clock 2026-11-27T09:00:00Z\n\n[08:00] say back in time",
            "line 3: clock stamp `08:00` goes back in time",
        ),
        (
            "as ana agent\n/case claim",
            "line 2: `/case claim` needs a case number",
        ),
        ("as ana wizard", "line 1: role `wizard` is not valid"),
        ("hello there", "line 1: cannot read `hello there`"),
        ("feed no-bar-here", "line 1: `feed` needs `CHANNEL | ...`"),
    ] {
        let mut console = carebot::console::Console::new(&app.engine, Vec::new(), agent("x"))
            .await
            .unwrap();
        let err = console.run_script(script).await.unwrap_err().to_string();
        assert!(err.starts_with(expected), "{script:?}: {err}");
    }
}

fn import(source_id: &str, handle: &str, name: Option<&str>, text: &str, url: Option<&str>) -> Mention {
    Mention {
        source_id: source_id.into(),
        external_id: url.map(str::to_string),
        network: Network::parse("twitter").unwrap(),
        handle: Handle::parse(handle).unwrap(),
        display_name: name.map(str::to_string),
        text: text.into(),
        url: url.map(str::to_string),
        posted_at: t0(),
        followers: None,
        unparsed: false,
    }
}

#[tokio::test]
async fn a_batch_places_repeat_customers_and_duplicates_exactly_once() {
    let app = spawn_app().await;
    let u = |n: u32| format!("https://twitter.com/x/status/{n}");
    let first = vec![
        import("a1", "dana", None, "flat tyre on my rental", Some(&u(1))),
        import("b1", "mia", None, "the checkout is broken", Some(&u(2))),
        import("a2", "dana", None, "still waiting for roadside", Some(&u(3))),
        // The same import line again, and the same tweet under another id.
        import("a1", "dana", None, "flat tyre on my rental", Some(&u(1))),
        import("x1", "dana", None, "flat tyre on my rental", Some(&u(1))),
        import("r1", "fan", None, "RT @mia: the checkout is broken", None),
        import("r1", "fan", None, "RT @mia: the checkout is broken", None),
        import("a3", "dana", Some("Dana T."), "any news?", Some(&u(4))),
    ];
    let outcomes = app.engine.receive_mentions(&first, t0()).await.unwrap();
    assert_eq!(
        outcomes,
        vec![
            IngestOutcome::Opened(CaseId(1)),
            IngestOutcome::Opened(CaseId(2)),
            IngestOutcome::Merged(CaseId(1)),
            IngestOutcome::Duplicate,
            IngestOutcome::Duplicate,
            IngestOutcome::Ignored(IgnoreReason::Echo),
            IngestOutcome::Duplicate,
            IngestOutcome::Merged(CaseId(1)),
        ]
    );
    let second = vec![
        import("a2", "dana", None, "still waiting for roadside", Some(&u(3))),
        import("r1", "fan", None, "RT @mia: the checkout is broken", None),
        import("y1", "mia", None, "the checkout is broken", Some(&u(2))),
        import("b2", "mia", None, "still broken", Some(&u(5))),
        import("c1", "leo", None, "where is my parcel", Some(&u(6))),
    ];
    let outcomes = app.engine.receive_mentions(&second, t0()).await.unwrap();
    assert_eq!(
        outcomes,
        vec![
            IngestOutcome::Duplicate,
            IngestOutcome::Duplicate,
            IngestOutcome::Duplicate,
            IngestOutcome::Merged(CaseId(2)),
            IngestOutcome::Opened(CaseId(3)),
        ]
    );

    for (id, mentions) in [(1, 3), (2, 2), (3, 1)] {
        let detail = app.engine.case_detail(CaseId(id), t0()).await.unwrap();
        assert_eq!(detail.case.mention_count, mentions, "case {id}");
        assert_eq!(detail.mentions.len() as i64, mentions, "case {id}");
        assert_eq!(detail.timeline.len() as i64, mentions, "case {id}");
    }
    let mut tx = app.engine.store().read().await.unwrap();
    assert_eq!(tx.ignored_counts().await.unwrap(), vec![("echo".to_string(), 1)]);

    let out = app.outbox().await;
    let shape: Vec<(&str, i64)> = out
        .iter()
        .map(|o| {
            let kind = match o {
                Outgoing::OpenCase { .. } => "open",
                Outgoing::UpdateCard { .. } => "card",
                Outgoing::CaseMessage { .. } => "message",
                Outgoing::MentionLine { .. } => "line",
                Outgoing::ChannelMessage { .. } => "channel",
                Outgoing::EscalationPacket { .. } | Outgoing::UpdateEscalation { .. } => "escalation",
                _ => "other",
            };
            (kind, o.case_id().map_or(0, |c| c.0))
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("open", 1),
            ("message", 1),
            ("open", 2),
            ("message", 2),
            ("line", 1),
            ("card", 1),
            ("line", 1),
            ("card", 1),
            ("line", 2),
            ("card", 2),
            ("open", 3),
            ("message", 3),
        ]
    );
    // The card keeps the opening post and shows the name the customer gave last.
    let card = app.card(1).await;
    assert!(card.description.contains("flat tyre"), "{card:?}");
    assert!(card.fields[0].value.contains("Dana T."), "{card:?}");
}
