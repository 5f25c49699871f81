//! carebot as a new operator meets it: the installed binary run from an empty folder, `init`,
//! config discovery.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh empty folder with an empty home inside, removed when dropped.
struct Folder(PathBuf);

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn folder(name: &str) -> Folder {
    let dir = std::env::temp_dir().join(format!("carebot-op-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("work")).unwrap();
    std::fs::create_dir_all(dir.join("home")).unwrap();
    Folder(dir)
}

/// The binary in `cwd`, with nothing configured: no carebot variables, an empty home.
fn carebot_in(root: &Path, cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_carebot"))
        .current_dir(cwd)
        .env("RUST_LOG", "carebot=info")
        .env("HOME", root.join("home"))
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("CAREBOT_DATABASE_URL")
        .env_remove("CAREBOT_PLAYBOOKS_DIR")
        .env_remove("CAREBOT_DISCORD_API_BASE")
        .env_remove("DISCORD_TOKEN")
        .args(args)
        .output()
        .expect("carebot runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const BUILT_IN_NOTICE: &str = "playbooks built into carebot";

#[test]
fn the_binary_works_from_an_empty_folder_with_the_built_in_playbooks() {
    let f = folder("empty");
    let work = f.0.join("work");
    let run = |args: &[&str]| carebot_in(&f.0, &work, args);

    let list = run(&["cases", "list", "--json"]);
    assert_eq!(ok(&list).trim(), "[]");
    let stderr = String::from_utf8_lossy(&list.stderr);
    assert!(
        !stderr.contains(BUILT_IN_NOTICE),
        "listing cases loads no playbooks: {stderr}"
    );

    std::fs::write(
        work.join("m.jsonl"),
        "{\"id\":\"1\",\"network\":\"twitter\",\"handle\":\"dana\",\"text\":\"flat tyre on my rental\"}\n",
    )
    .unwrap();
    let ingest = run(&["ingest", "m.jsonl", "--json"]);
    let stats: serde_json::Value = serde_json::from_str(&ok(&ingest)).unwrap();
    assert_eq!(stats["opened"], 1);
    let stderr = String::from_utf8_lossy(&ingest.stderr);
    assert_eq!(
        stderr.matches(BUILT_IN_NOTICE).count(),
        1,
        "logged once: {stderr}"
    );
    assert!(
        work.join("carebot.db").is_file(),
        "the default database is created here"
    );

    let cases: serde_json::Value = serde_json::from_str(&ok(&run(&["cases", "list", "--json"]))).unwrap();
    assert_eq!(
        cases[0]["category"], "roadside-breakdown",
        "triaged with the built-in set"
    );

    let suggest = ok(&run(&["suggest", "--text", "I was charged twice", "--json"]));
    assert!(suggest.contains("billing-dispute"), "{suggest}");

    let check = ok(&run(&["playbooks", "check"]));
    assert!(
        check.contains("the built-in playbooks: 9 playbooks OK"),
        "{check}"
    );

    let digest = run(&["digest", "--format", "json"]);
    ok(&digest);
    assert!(!String::from_utf8_lossy(&digest.stderr).contains(BUILT_IN_NOTICE));
}

#[test]
fn init_writes_a_working_setup_and_refuses_to_overwrite_it() {
    let f = folder("init");
    let work = f.0.join("work");
    let out = ok(&carebot_in(&f.0, &work, &["init", "site"]));
    assert!(out.contains("carebot.toml"), "{out}");
    let site = work.join("site");
    for file in ["carebot.toml", "playbooks/general.toml", "scenarios/example.txt"] {
        assert!(site.join(file).is_file(), "{file} written");
    }
    let toml = std::fs::read_to_string(site.join("carebot.toml")).unwrap();
    assert!(
        toml.lines().filter(|l| l.starts_with('#')).count() > 10,
        "commented"
    );

    let check = carebot_in(&f.0, &site, &["playbooks", "check"]);
    let text = ok(&check);
    assert!(
        text.starts_with("playbooks: 9 playbooks OK"),
        "the written folder is used: {text}"
    );
    let script = ok(&carebot_in(
        &f.0,
        &site,
        &["console", "--script", "scenarios/example.txt"],
    ));
    assert!(script.contains("opened case #1"), "{script}");
    assert!(
        script.contains("ignored (own_brand)"),
        "the brand handles are configured: {script}"
    );

    std::fs::write(site.join("playbooks/praise.toml"), "# mine").unwrap();
    let again = carebot_in(&f.0, &work, &["init", "site"]);
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("nothing was written") && stderr.contains("praise.toml"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(site.join("playbooks/praise.toml")).unwrap(),
        "# mine"
    );
}

#[test]
fn the_config_is_found_in_the_user_config_folder_and_the_local_file_wins() {
    let f = folder("discover");
    let work = f.0.join("work");
    let user = f.0.join("home/.config/carebot");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(user.join("carebot.toml"), "[cases]\nreopen_hours = 3\n").unwrap();
    let out = carebot_in(&f.0, &work, &["cases", "list"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&user.join("carebot.toml").display().to_string()) && stderr.contains("reopen_hours"),
        "the user's file was read: {stderr}"
    );

    std::fs::write(
        work.join("carebot.toml"),
        "[database]\nurl = \"sqlite://local.db\"\n",
    )
    .unwrap();
    ok(&carebot_in(&f.0, &work, &["cases", "list"]));
    assert!(work.join("local.db").is_file(), "./carebot.toml is preferred");
}

#[test]
fn an_unparsed_posts_customer_reads_as_its_case_number_and_stays_unique() {
    let f = folder("unparsed");
    let work = f.0.join("work");
    std::fs::write(
        work.join("m.jsonl"),
        "{\"id\":\"1795776300000011\",\"text\":\"help\"}\n{\"id\":\"1795776300000012\",\"text\":\"me too\"}\n",
    )
    .unwrap();
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&carebot_in(&f.0, &work, &["ingest", "m.jsonl", "--json"]))).unwrap();
    assert_eq!(
        (stats["opened"].as_u64(), stats["unparsed"].as_u64()),
        (Some(2), Some(2))
    );
    let table = ok(&carebot_in(&f.0, &work, &["cases", "list"]));
    assert!(
        table.contains("unparsed post #1") && table.contains("unparsed post #2"),
        "{table}"
    );
    assert!(!table.contains("unparsed-"), "{table}");
    let show = ok(&carebot_in(&f.0, &work, &["cases", "show", "2"]));
    assert!(show.contains("customer: unparsed post #2"), "{show}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&carebot_in(&f.0, &work, &["cases", "list", "--json"]))).unwrap();
    assert_ne!(json[0]["handle"], json[1]["handle"], "still two customers");
}

#[test]
fn a_database_password_never_appears_in_errors_or_logs() {
    let f = folder("secret");
    let work = f.0.join("work");
    let out = carebot_in(
        &f.0,
        &work,
        &[
            "--db",
            "postgres://care:hunter2-SECRET@db.internal/carebot",
            "cases",
            "list",
        ],
    );
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("postgres://care:***@db.internal/carebot"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
    let doctor = carebot_in(
        &f.0,
        &work,
        &[
            "--db",
            "postgres://care:hunter2-SECRET@db.internal/carebot",
            "doctor",
        ],
    );
    let all = String::from_utf8_lossy(&doctor.stdout);
    assert!(all.contains("✗ database") && !all.contains("hunter2"), "{all}");
}

fn mentions_file(path: &Path, n: usize) {
    let lines: Vec<String> = (0..n)
        .map(|i| format!("{{\"id\":\"{i}\",\"network\":\"twitter\",\"handle\":\"u{i}\",\"text\":\"my parcel {i} never arrived\"}}"))
        .collect();
    std::fs::write(path, lines.join("\n")).unwrap();
}

#[test]
fn ingest_draws_no_progress_bar_when_piped_or_with_json() {
    let f = folder("piped");
    let work = f.0.join("work");
    mentions_file(&work.join("m.jsonl"), 1200);
    for args in [&["ingest", "m.jsonl"][..], &["ingest", "m.jsonl", "--json"][..]] {
        let out = carebot_in(&f.0, &work, args);
        ok(&out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("ETA") && !stderr.contains('\r') && !stderr.contains('\u{1b}'),
            "nothing extra on a pipe: {stderr:?}"
        );
    }
}

#[test]
fn ingest_shows_a_progress_bar_with_rate_and_eta_on_a_terminal() {
    // `script` (util-linux) runs the command on a pseudo-terminal and records what it drew.
    let f = folder("tty");
    let work = f.0.join("work");
    mentions_file(&work.join("m.jsonl"), 1200);
    let command = format!("{} ingest m.jsonl", env!("CARGO_BIN_EXE_carebot"));
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(&work)
        .env("HOME", f.0.join("home"))
        .env("RUST_LOG", "warn")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("CAREBOT_DATABASE_URL")
        .env_remove("CAREBOT_PLAYBOOKS_DIR")
        .output()
        .expect("script (util-linux) is installed");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains("ETA") && screen.contains("KiB/s"),
        "a bar with rate and ETA: {screen}"
    );
    assert!(screen.contains("mentions"), "{screen}");
    assert!(screen.contains("opened 1200"), "then the summary: {screen}");
}
