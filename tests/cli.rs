//! The command line as scripts use it: the real binary, JSON output, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn carebot(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_carebot"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .env_remove("CAREBOT_DATABASE_URL")
        .arg("--db")
        .arg(format!("sqlite://{}", dir.join("cli.db").display()))
        .args(args)
        .output()
        .expect("carebot runs")
}

fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("carebot-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

#[test]
fn the_demo_tells_the_whole_story() {
    let dir = workdir("demo");
    let out = carebot(&dir, &["demo"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "opened case #1",
        "joined case #1",
        "already claimed by ana",
        "needs the senior role",
        "ignored (own_brand)",
        "ignored (echo)",
        "unparsed",
        "already seen",
        "reopened case #1",
        "you may grant up to",
        "Granted on case #2",
        "E1 · case #5",
        "Question from sam about E1",
        "ben answered about E1",
        "escalation E3 opened for 180 USD",
        "E3 needs a supervisor or higher",
        "E3 approved by sam",
        "Reminder: E2 waits for a senior to decide",
        "the playbook's timeout policy granted 5000 points",
        "══ Summary ══",
        "offers: 4 (2 granted at once, 2 escalated)",
        "median decision time",
    ] {
        assert!(text.contains(expected), "demo output lacks `{expected}`:\n{text}");
    }
}

#[test]
fn ingest_is_idempotent_and_reports_bad_lines() {
    let dir = workdir("ingest");
    let file = dir.join("mentions.jsonl");
    std::fs::write(
        &file,
        [
            r#"{"id":"t1","network":"twitter","handle":"@dana","name":"Dana","text":"flat tyre on my rental","url":"https://x.com/dana/1","posted_at":"2026-11-27T09:00:00Z","followers":120}"#,
            r#"{"id":"t2","network":"twitter","handle":"dana","text":"still waiting","posted_at":"2026-11-27T09:05:00Z"}"#,
            r#"{"id":"t3","network":"facebook","handle":"leo","text":"checkout broken"}"#,
            r#"this is not json"#,
            r#"{"id":"t4","network":"twitter","text":"no handle here"}"#,
            r#"{"id":"t5","network":"not a network!","handle":"x","text":"y"}"#,
            "",
        ]
        .join("\n"),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let out = carebot(&dir, &["ingest", file, "--json"]);
    assert_eq!(out.status.code(), Some(2), "errors make the exit code 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 4"), "{stderr}");
    assert!(stderr.contains("line 6"), "{stderr}");
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["opened"], 3);
    assert_eq!(stats["merged"], 1);
    assert_eq!(stats["unparsed"], 1);
    assert_eq!(stats["errors"], 2);

    let again = carebot(&dir, &["ingest", file, "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(stats["duplicate"], 4);
    assert_eq!(stats["opened"], 0);

    let list = json(&carebot(&dir, &["cases", "list", "--json"]));
    let items = list.as_array().unwrap();
    assert_eq!(items.len(), 3);
    let dana = items.iter().find(|c| c["handle"] == "dana").unwrap();
    for field in [
        "id", "status", "priority", "network", "handle", "mentions", "category", "owner",
    ] {
        assert!(dana.get(field).is_some(), "cases list item lacks {field}: {dana}");
    }
    assert_eq!(dana["mentions"], 2);
    assert_eq!(dana["category"], "roadside-breakdown");

    let show = json(&carebot(
        &dir,
        &["cases", "show", &dana["id"].to_string(), "--json"],
    ));
    assert_eq!(show["mentions"].as_array().unwrap().len(), 2);
    assert_eq!(show["timeline"][0]["kind"], "opened");

    let missing = carebot(&dir, &["cases", "show", "#999"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no case #999"));
}

#[test]
fn suggest_prints_ranked_json() {
    let dir = workdir("suggest");
    let out = json(&carebot(
        &dir,
        &["suggest", "--text", "I was charged twice for my order", "--json"],
    ));
    let first = &out[0];
    assert_eq!(first["playbook"], "billing-dispute");
    for field in ["playbook", "title", "score", "reasons", "reply", "remedies"] {
        assert!(first.get(field).is_some(), "suggestion lacks {field}");
    }
}

#[test]
fn playbooks_check_names_file_and_line_and_fails() {
    let dir = workdir("check");
    let ok = carebot(&dir, &["playbooks", "check"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stdout));
    let bad = dir.join("books");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("broken.toml"),
        "id = \"broken\"\ntitle = \"Broken\"\n[triggers]\npatterns = ['(unclosed']\n[reply]\ntemplate = \"hi\"\n",
    )
    .unwrap();
    let out = carebot(&dir, &["playbooks", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("broken.toml:4"), "{text}");
}

#[test]
fn escalations_list_and_friction_print_stable_json() {
    let dir = workdir("escalations");
    let script = dir.join("story.txt");
    std::fs::write(
        &script,
        "clock 2026-11-27T09:00:00Z
[09:00] feed twitter-feed | [Twitter] @dana: flat tyre on my rental car https://twitter.com/dana/status/1
[09:01] feed twitter-feed | [Twitter] @leo: my rental car broke down, flat tyre https://twitter.com/leo/status/2
as ana agent
[09:02] /case offer #1 fee_waiver 180 tyre billed anyway
[09:03] /case offer #2 fee_waiver 150
as sam supervisor
[09:13] /escalation approve E1 170
",
    )
    .unwrap();
    let run = carebot(&dir, &["console", "--script", script.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let open = json(&carebot(&dir, &["escalations", "list", "--json"]));
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_eq!(open[0]["id"], "E2");
    let all = json(&carebot(
        &dir,
        &["escalations", "list", "--status", "all", "--json"],
    ));
    let e1 = &all[0];
    for field in [
        "id",
        "case",
        "status",
        "remedy",
        "amount",
        "unit",
        "requested_by",
        "approver",
        "deadline",
        "decided_by",
        "decided_at",
        "decided_amount",
        "blocked_by",
        "tier",
    ] {
        assert!(
            e1.get(field).is_some(),
            "escalations list item lacks {field}: {e1}"
        );
    }
    assert_eq!(e1["id"], "E1");
    assert_eq!(e1["case"], 1);
    assert_eq!(e1["status"], "approved");
    assert_eq!(e1["remedy"], "fee_waiver");
    assert_eq!(e1["amount"], "180");
    assert_eq!(e1["decided_amount"], "170");
    assert_eq!(e1["decided_by"], "sam");
    assert_eq!(e1["approver"], "supervisor");
    assert_eq!(e1["tier"], 1);
    assert_eq!(
        e1["blocked_by"],
        "above your agent limit of 120 USD for standard customers"
    );
    let case = json(&carebot(&dir, &["cases", "show", "1", "--json"]));
    assert_eq!(case["grants"][0]["amount"], "170");
    assert_eq!(case["grants"][0]["granted_by"]["name"], "sam");
    assert_eq!(case["grants"][0]["budget_actor"], serde_json::Value::Null);
    assert_eq!(case["escalations"][0]["id"], "E1");
    assert_eq!(
        case["case"]["granted"][0],
        "Waive tyre and towing charges: 170 USD"
    );
    let decided = json(&carebot(
        &dir,
        &["escalations", "list", "--status", "decided", "--json"],
    ));
    assert_eq!(decided.as_array().unwrap().len(), 1);

    let friction = json(&carebot(
        &dir,
        &[
            "escalations",
            "friction",
            "--from",
            "2026-11-27",
            "--to",
            "2026-11-27",
            "--json",
        ],
    ));
    let row = &friction[0];
    assert_eq!(row["playbook"], "roadside-breakdown");
    assert_eq!(row["remedy"], "fee_waiver");
    assert_eq!(row["role"], "agent");
    assert_eq!(row["limit"], "120");
    assert_eq!(row["requests"], 2);
    assert_eq!(row["approved"], 1);
    assert_eq!(row["median_requested"], "165");
    assert_eq!(row["median_decision_minutes"], 11.0);
    assert_eq!(row["suggested_limit"], "170");
    let later = json(&carebot(
        &dir,
        &["escalations", "friction", "--from", "2026-11-28", "--json"],
    ));
    assert_eq!(later, serde_json::json!([]));

    let bad = carebot(&dir, &["escalations", "list", "--status", "maybe"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use open, decided or all"));
}

#[test]
fn digest_prints_stable_json_csv_markdown_and_a_chart() {
    let dir = workdir("digest");
    let script = dir.join("story.txt");
    std::fs::write(
        &script,
        "clock 2026-11-27T09:00:00Z
[09:00] feed twitter-feed | [Twitter] @dana: flat tyre on my rental car https://twitter.com/dana/status/1
[09:01] feed twitter-feed | [Twitter] @leo: my rental car broke down, flat tyre https://twitter.com/leo/status/2
as ana agent
[09:10] /case reply #1 Help is on the way.
[09:31] /case reply #2 Help is on the way.
[10:00] /case resolve #1
",
    )
    .unwrap();
    let run = carebot(&dir, &["console", "--script", script.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let chart = dir.join("chart.png");
    let d = json(&carebot(
        &dir,
        &[
            "digest",
            "--from",
            "2026-11-27",
            "--to",
            "2026-11-27",
            "--format",
            "json",
            "--chart",
            chart.to_str().unwrap(),
        ],
    ));
    for field in [
        "period",
        "mentions",
        "opened",
        "resolved",
        "backlog",
        "by_network",
        "by_category",
        "first_response",
        "resolution",
        "sla",
        "sla_by_agent",
        "escalations",
        "friction",
        "pain_points",
        "incidents",
        "notable",
    ] {
        assert!(d.get(field).is_some(), "the digest lacks {field}: {d}");
    }
    assert_eq!(d["period"]["from"], "2026-11-27T00:00:00Z");
    assert_eq!(d["period"]["to"], "2026-11-28T00:00:00Z");
    assert_eq!((d["mentions"].as_u64(), d["opened"].as_u64()), (Some(2), Some(2)));
    assert_eq!(
        (d["resolved"].as_u64(), d["backlog"].as_u64()),
        (Some(1), Some(1))
    );
    for key in ["median_minutes", "p90_minutes", "count"] {
        assert!(
            d["first_response"].get(key).is_some(),
            "first_response lacks {key}"
        );
        assert!(d["resolution"].get(key).is_some(), "resolution lacks {key}");
    }
    // Replies after 10 and 30 minutes.
    assert_eq!(d["first_response"]["median_minutes"], 20.0);
    assert_eq!(d["first_response"]["p90_minutes"], 30.0);
    for target in ["first_response", "next_response", "resolution"] {
        for key in ["met", "breached", "percent"] {
            assert!(d["sla"][target].get(key).is_some(), "sla.{target} lacks {key}");
        }
    }
    for key in [
        "count",
        "approved",
        "denied",
        "timed_out",
        "median_decision_minutes",
    ] {
        assert!(d["escalations"].get(key).is_some(), "escalations lacks {key}");
    }
    let point = &d["pain_points"][0];
    for key in ["category", "count", "previous", "change"] {
        assert!(point.get(key).is_some(), "a pain point lacks {key}: {point}");
    }
    let png = std::fs::read(&chart).expect("the chart was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));

    let csv = carebot(
        &dir,
        &[
            "digest",
            "--from",
            "2026-11-27",
            "--to",
            "2026-11-27",
            "--format",
            "csv",
        ],
    );
    assert!(csv.status.success(), "{}", String::from_utf8_lossy(&csv.stderr));
    let csv = String::from_utf8_lossy(&csv.stdout).to_string();
    assert!(
        csv.starts_with("case,opened_at,status,priority,category,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3, "{csv}");

    let md = carebot(&dir, &["digest", "--from", "2026-11-27", "--to", "2026-11-27"]);
    let md = String::from_utf8_lossy(&md.stdout).to_string();
    assert!(
        md.starts_with("# Digest 2026-11-27 00:00 → 2026-11-28 00:00 UTC"),
        "{md}"
    );
    assert!(md.contains("**Volume** — 2 mentions · 2 cases opened"), "{md}");
}

#[test]
fn digest_refuses_an_unknown_format_and_a_period_that_ends_before_it_starts() {
    let dir = workdir("digest-bad");
    let bogus = carebot(&dir, &["digest", "--format", "bogus"]);
    assert!(!bogus.status.success());
    let err = String::from_utf8_lossy(&bogus.stderr);
    assert!(err.contains("--format") && err.contains("bogus"), "{err}");

    let backwards = carebot(&dir, &["digest", "--from", "2026-11-29", "--to", "2026-11-23"]);
    assert!(!backwards.status.success());
    let err = String::from_utf8_lossy(&backwards.stderr);
    assert!(
        err.contains("--from/--to") && err.contains("ends before it starts"),
        "{err}"
    );

    let long = carebot(&dir, &["digest", "--from", "2024-01-01", "--to", "2026-11-23"]);
    assert!(String::from_utf8_lossy(&long.stderr).contains("at most a year"));
    let not_a_date = carebot(&dir, &["digest", "--from", "last monday"]);
    assert!(String::from_utf8_lossy(&not_a_date.stderr).contains("YYYY-MM-DD"));

    let config = dir.join("carebot.toml");
    std::fs::write(&config, "[digest]\ntimezone = \"Mars/Olympus\"\n").unwrap();
    let zone = carebot(&dir, &["--config", config.to_str().unwrap(), "digest"]);
    assert!(!zone.status.success());
    let err = String::from_utf8_lossy(&zone.stderr);
    assert!(
        err.contains("digest.timezone") && err.contains("Mars/Olympus"),
        "{err}"
    );
}
