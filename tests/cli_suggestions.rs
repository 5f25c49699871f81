//! `playbooks eval` and `playbooks examples` as scripts use them: the real binary.

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
    let dir = std::env::temp_dir().join(format!("carebot-clisugg-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn eval_prints_accuracy_per_playbook_and_misses_as_json() {
    let dir = workdir("eval");
    let file = dir.join("set.jsonl");
    std::fs::write(
        &file,
        "{\"text\": \"my rental car broke down on the motorway\", \"network\": \"twitter\", \"expected\": \"roadside-breakdown\"}\n\
         {\"text\": \"do you sell hats?\", \"expected\": \"general\"}\n\
         {\"text\": \"thank you so much, amazing service\", \"expected\": \"billing-dispute\"}\n",
    )
    .unwrap();
    let out: serde_json::Value = serde_json::from_str(&stdout(&carebot(
        &dir,
        &["playbooks", "eval", file.to_str().unwrap(), "--json"],
    )))
    .unwrap();
    assert_eq!(out["posts"], 3);
    assert_eq!(out["top1"], 2);
    for field in [
        "top3",
        "top1_accuracy",
        "top3_accuracy",
        "playbooks",
        "confusions",
        "misses",
    ] {
        assert!(out.get(field).is_some(), "report lacks {field}");
    }
    let miss = &out["misses"][0];
    assert_eq!(miss["expected"], "billing-dispute");
    assert_eq!(miss["got"], "praise");
    assert!(miss["source"].as_str().unwrap().ends_with("set.jsonl:3"));
    let text = stdout(&carebot(&dir, &["playbooks", "eval", file.to_str().unwrap()]));
    assert!(text.contains("top-1 66.7% (2/3)"), "{text}");
    assert!(text.contains("billing-dispute -> praise"), "{text}");
}

#[test]
fn eval_refuses_bad_lines_and_unknown_playbooks_with_their_line() {
    let dir = workdir("evalbad");
    let file = dir.join("bad.jsonl");
    std::fs::write(
        &file,
        "{\"text\": \"x\", \"expected\": \"general\"}\n{oops\n{\"text\": \"y\", \"expected\": \"nope\"}\n",
    )
    .unwrap();
    let out = carebot(&dir, &["playbooks", "eval", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:2: not a labelled post"), "{err}");
    assert!(err.contains("bad.jsonl:3: unknown playbook id `nope`"), "{err}");
    let neither = carebot(&dir, &["playbooks", "eval"]);
    assert!(!neither.status.success());
}

#[test]
fn what_agents_choose_is_measured_and_exported_as_candidate_examples() {
    let dir = workdir("fromdb");
    let script = dir.join("agents.txt");
    std::fs::write(
        &script,
        "clock 2026-11-27T08:00:00Z\n\
         [08:00] feed twitter-feed | [Twitter] @kim: my rental car broke down on the motorway, nobody answers https://twitter.com/kim/status/1\n\
         [08:01] feed twitter-feed | [Twitter] @lou: the parking meter outside your office ate my coins https://twitter.com/lou/status/2\n\
         as ana agent\n\
         [08:02] /suggest use #1 1\n\
         [08:03] /case reply #1\n\
         [08:04] /case category #2 rude-staff\n\
         [08:05] /case category #2 nope\n",
    )
    .unwrap();
    let run = stdout(&carebot(&dir, &["console", "--script", script.to_str().unwrap()]));
    assert!(
        run.contains("Using suggestion 1 (Roadside breakdown or rental car issue) on case #1"),
        "{run}"
    );
    assert!(
        run.contains("Public reply by ana"),
        "the draft is recorded: {run}"
    );
    assert!(run.contains("Case #2 is now in `rude-staff`"), "{run}");
    assert!(run.contains("there is no playbook `nope`"), "{run}");

    let eval: serde_json::Value = serde_json::from_str(&stdout(&carebot(
        &dir,
        &["playbooks", "eval", "--from-db", "--json"],
    )))
    .unwrap();
    assert_eq!(eval["posts"], 2);
    assert_eq!(eval["top1"], 1, "{eval}");
    assert_eq!(eval["misses"][0]["expected"], "rude-staff");
    assert!(eval["misses"][0]["source"]
        .as_str()
        .unwrap()
        .starts_with("case #2 (recategorised by ana)"));

    let examples: serde_json::Value = serde_json::from_str(&stdout(&carebot(
        &dir,
        &["playbooks", "examples", "--from-db", "--json"],
    )))
    .unwrap();
    assert_eq!(
        examples,
        serde_json::json!({"rude-staff": ["the parking meter outside your office ate my coins"]})
    );
    let later = stdout(&carebot(
        &dir,
        &["playbooks", "examples", "--from-db", "--since", "2026-11-28"],
    ));
    assert!(later.starts_with("No candidates"), "{later}");
}
