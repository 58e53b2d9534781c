//! The `ravand` command: real process, real files, exit codes 0/1/2.

use std::process::{Command, Output};

use crate::helpers::{ravand, root};

fn run(args: &[&str]) -> Output {
    Command::new(ravand())
        .args(args)
        .current_dir(root())
        .output()
        .expect("ravand runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn validate_definitions_exits_zero() {
    let o = run(&[
        "validate",
        "definitions/building-permit-current.yaml",
        "definitions/building-permit-reformed.yaml",
        "definitions/article5-commission.yaml",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("0 errors"), "{}", stdout(&o));
}

#[test]
fn invalid_definition_exits_one_with_file_line_column() {
    let o = run(&["validate", "tests/fixtures/diagnostics/dangling-reference.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("tests/fixtures/diagnostics/dangling-reference.yaml:12:"),
        "{e}"
    );
    assert!(e.contains("did you mean `done`?"), "{e}");
}

#[test]
fn validate_json_lists_diagnostics() {
    let o = run(&["validate", "--json", "tests/fixtures/diagnostics/unknown-role.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let first = &v.as_array().expect("list")[0];
    assert_eq!(first["code"], "unknown-role");
    assert_eq!(first["file"], "tests/fixtures/diagnostics/unknown-role.yaml");
    assert_eq!(first["severity"], "error");
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(run(&["validate"]).status.code(), Some(2));
    assert_eq!(run(&["render", "x.yaml", "--format", "png"]).status.code(), Some(2));
    assert_eq!(run(&["no-such-command"]).status.code(), Some(2));
}

#[test]
fn measure_json_has_the_documented_keys() {
    let o = run(&["measure", "definitions/building-permit-reformed.yaml", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    for key in [
        "process",
        "version",
        "title",
        "steps",
        "steps_by_kind",
        "tasks_by_mode",
        "steps_by_tag",
        "steps_by_value",
        "steps_by_role",
        "gateways",
        "handoffs",
        "roles_involved",
        "discretionary",
        "signatures",
        "approvals",
        "with_deadline",
        "path",
        "outcomes",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert!(v["path"].get("fewest_steps").is_some() && v["path"].get("most_steps").is_some());
    assert_eq!(v["title"], "صدور پروانه ساختمانی (فرایند اصلاح‌شده)");
}

#[test]
fn measure_of_an_invalid_file_exits_one() {
    let o = run(&["measure", "tests/fixtures/diagnostics/deadlock.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("deadlock"));
}

#[test]
fn render_mermaid_and_dot_keep_persian_titles() {
    let o = run(&["render", "definitions/complaint-137.yaml", "--format", "mermaid"]);
    assert_eq!(o.status.code(), Some(0));
    let m = stdout(&o);
    assert!(m.starts_with("---\ntitle:") && m.contains("flowchart TD"), "{m}");
    assert!(
        m.contains("\u{2068}ثبت درخواست شهروند\u{2069}"),
        "titles isolated for right-to-left"
    );
    assert!(m.contains("-.->|\"timeout\"|"), "timeouts are dashed");
    let o = run(&["render", "definitions/complaint-137.yaml", "--format", "dot"]);
    let d = stdout(&o);
    assert!(
        d.starts_with("digraph \"complaint-137\" {") && d.trim_end().ends_with('}'),
        "{d}"
    );
    assert!(d.contains("shape=diamond"));
}

#[test]
fn schema_prints_json_schema() {
    let o = run(&["schema"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["title"], "Ravand process definition");
}

#[test]
fn run_script_shows_reminders_escalation_and_history() {
    let o = run(&[
        "run",
        "definitions/complaint-137.yaml",
        "--script",
        "tests/fixtures/run/complaint-137.script",
        "--start",
        "2026-05-02T08:00",
        "--set",
        "category=roads",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for line in [
        "1405-02-19 08:30 (2026-05-09)  task 9 is overdue",
        "1405-02-19 08:30 (2026-05-09)  remind #1 on task 9",
        "1405-02-21 08:30 (2026-05-11)  warn #1 on task 9 to unit-manager",
        "1405-02-26 08:30 (2026-05-16)  task 9 reassigned to alternate-officer",
        "case completed: resolved",
        "history:",
    ] {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }
}

#[test]
fn run_script_with_a_bad_command_exits_one() {
    let dir = std::env::temp_dir().join(format!("ravand-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let script = dir.join("bad.script");
    std::fs::write(&script, "complete no-such-step\n").expect("write");
    let o = run(&[
        "run",
        "definitions/complaint-137.yaml",
        "--script",
        script.to_str().expect("utf8"),
        "--start",
        "2026-05-02T08:00",
        "--set",
        "category=roads",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no open task `no-such-step`"), "{}", stderr(&o));
}

#[test]
fn bench_prints_the_peer_line_last() {
    for model in ["linear10", "parallel", "xor"] {
        let o = run(&["bench", &format!("benches/models/{model}.yaml"), "--instances", "500"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let out = stdout(&o);
        let last = out.lines().last().expect("a line");
        assert!(
            last.starts_with(&format!("peer=ravand model={model} n=500 inst_per_s=")),
            "{last}"
        );
        assert!(last.contains(" steps_per_s="), "{last}");
    }
    // A model with a user task cannot run unattended: a clear error.
    let o = run(&["bench", "definitions/complaint-137.yaml", "--instances", "10"]);
    assert_eq!(o.status.code(), Some(1));
}

/// `benches/acks.sh` and the jobs figure, small: each bench checks every
/// case completed, or fails.
#[test]
fn the_acknowledgement_and_job_benches_run_and_check_their_cases() {
    let dir = std::env::temp_dir().join(format!("ravand-bench-acks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = |name: &str| format!("sqlite://{}", dir.join(name).display());
    let o = run(&[
        "bench-acks",
        "--db",
        &db("acks.db"),
        "--commands",
        "300",
        "--clients",
        "16",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let line = stdout(&o);
    assert!(
        line.starts_with("peer=ravand bench=acks store=sqlite clients=16 n=300 "),
        "{line}"
    );
    // Sixteen clients on one SQLite writer: commits were shared.
    let per_commit: f64 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("units_per_commit="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no units_per_commit in {line}"));
    assert!(per_commit > 1.0, "{line}");
    let o = run(&["bench-jobs", "--db", &db("jobs.db"), "--jobs", "200", "--workers", "4"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("peer=ravand bench=jobs store=sqlite workers=4 batch=10 n=200 jobs_per_s="),
        "{}",
        stdout(&o)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_reader_that_goes_away_is_no_panic() {
    use std::io::Read;
    // Far more output than a pipe buffer holds: the reader must go away first.
    let dir = std::env::temp_dir().join(format!("ravand-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let big = dir.join("big.yaml");
    std::fs::write(&big, crate::large::large_process(10_000)).expect("write");
    let mut child = Command::new(ravand())
        .args(["render", big.to_str().expect("utf8"), "--format", "dot"])
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("some output");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("waits");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn compare_shows_what_the_reform_removes() {
    let o = run(&[
        "compare",
        "definitions/building-permit-current.yaml",
        "definitions/building-permit-reformed.yaml",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let row = |name: &str| {
        v["changes"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["figure"] == name).cloned())
            .unwrap_or_else(|| panic!("no row {name}"))
    };
    assert_eq!(row("steps")["old"], 129.0);
    assert_eq!(row("discretionary steps")["new"], 0.0);
    assert_eq!(row("discretionary steps")["percent"], -100.0);
    assert!(row("expected steps per case")["new"].as_f64().is_some_and(|x| x < 70.0));
    let o = run(&[
        "compare",
        "definitions/building-permit-current.yaml",
        "tests/fixtures/diagnostics/deadlock.yaml",
    ]);
    assert_eq!(o.status.code(), Some(1), "an invalid side is refused");
}

#[test]
fn compare_html_is_self_contained_and_right_to_left() {
    let dir = std::env::temp_dir().join(format!("ravand-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let scenario = dir.join("s.yaml");
    std::fs::write(&scenario, "cases: 200\nseed: 4\narrivals: {poisson: 12 hours}\n").expect("write");
    let page = dir.join("compare.html");
    let o = run(&[
        "compare",
        "definitions/building-permit-current.yaml",
        "definitions/building-permit-reformed.yaml",
        "--scenario",
        scenario.to_str().expect("utf8"),
        "--html",
        page.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let html = std::fs::read_to_string(&page).expect("written");
    assert!(html.starts_with("<!doctype html><html lang=\"fa\" dir=\"rtl\">"));
    assert!(html.contains("صدور پروانه ساختمانی"), "Persian title");
    assert_eq!(html.matches("<svg").count(), 2, "tag bars and histograms");
    // Labels in Persian with the English beside; counts as integers; the
    // page titled for the comparison; the histogram's axes and legend.
    assert!(
        html.contains("<title>مقایسه «"),
        "the page is titled for the comparison"
    );
    assert!(
        html.contains("گام‌ها <small dir=\"ltr\">(steps)</small></td><td class=\"n\">129</td><td class=\"n\">58</td>"),
        "steps as integers, in Persian"
    );
    assert!(html.contains("امضای صلاحدیدی"), "tags in Persian");
    assert!(
        html.contains("زمان چرخه، روز (cycle time, days)") && html.contains("سهم پرونده‌ها (share of cases)"),
        "axes"
    );
    assert!(
        html.contains("building-permit-current.yaml v1</text>"),
        "the histogram's legend names the old side"
    );
    for outside in ["<script", "<link", "src=", "url(", "https://"] {
        assert!(!html.contains(outside), "the page reaches outside: {outside}");
    }
}

#[test]
fn simulate_reports_a_bad_scenario_at_its_line_and_the_good_one_in_full() {
    let dir = std::env::temp_dir().join(format!("ravand-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "cases: 100\narrivals: {poisson: 30 minutes}\nresources:\n  responsible-oficer: 5\n  classifier: {people: 2, calendar: nights}\n",
    )
    .expect("write");
    let o = run(&[
        "simulate",
        "definitions/complaint-137.yaml",
        "--scenario",
        bad.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains("bad.yaml:4:3"), "{err}");
    assert!(err.contains("did you mean `responsible-officer`?"), "{err}");
    assert!(
        err.contains("bad.yaml:5:3") && err.contains("calendar `nights`"),
        "{err}"
    );

    // The committed scenario: figures, the ranked roles, the slowest steps
    // and a sample case, in text and in JSON.
    let args = [
        "simulate",
        "definitions/complaint-137.yaml",
        "--scenario",
        "definitions/scenarios/complaint-137.yaml",
        "--cases",
        "500",
    ];
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    for part in [
        "cycle (working days)",
        "roles, most waiting first",
        "slowest steps",
        "sample case",
    ] {
        assert!(text.contains(part), "{part} missing:\n{text}");
    }
    let o = run(&[&args[..], &["--json"]].concat());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["arrived"], 1500, "500 cases in each of 3 replications");
    assert!(v["sample_case"]["activities"].as_array().is_some_and(|a| !a.is_empty()));
    assert!(v["roles"][0]["mean_queue"].is_number());
    // How fast it ran stands beside the report, never in it.
    assert!(
        v["timing"]["cases_per_s"].as_f64().is_some_and(|r| r > 0.0),
        "{}",
        v["timing"]
    );
    assert!(v["timing"]["elapsed_s"].is_number());
    assert!(v.get("elapsed_s").is_none() && v.get("cases_per_s").is_none());
    assert_eq!(
        v["cases_started"], 3000,
        "500 cases and 500 warm-up in each of 3 replications"
    );
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.trim_start().split(' ').nth(1) == Some("cases/s,") && last.ends_with("activities/s"),
        "{last}"
    );
}

/// The README's `ravand token new` and `ravand backup` commands, as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_token_and_backup_commands_work_as_written() {
    let out = std::process::Command::new(crate::helpers::ravand())
        .args([
            "token",
            "new",
            "--access",
            "clerk",
            "--user",
            "NAME",
            "--process",
            "P",
            "--role",
            "P/ROLE",
        ])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let secret = text
        .lines()
        .find_map(|l| l.split(": ").nth(1).filter(|_| l.starts_with("secret")))
        .expect("a secret line")
        .trim()
        .to_owned();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("tokens file line: "))
        .expect("a file line");
    let tokens = ravand_engine::service::parse_tokens(&format!("{line}\n")).expect("the line parses");
    assert_eq!(tokens[0].sha256, ravand_engine::service::sha256_hex(&secret));
    assert_eq!(tokens[0].roles, vec!["P/ROLE".to_owned()]);
    assert!(!line.contains(&secret), "the secret is not in the file line");
    // A role not written `process/role` is refused.
    let out = std::process::Command::new(crate::helpers::ravand())
        .args(["token", "new", "--access", "clerk", "--user", "x", "--role", "clerk"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));

    let dir = std::env::temp_dir().join(format!("ravand-cli-backup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    // `ravand backup` opens (and here creates) `ravand.db` in the folder it runs in.
    let setup = std::process::Command::new(crate::helpers::ravand())
        .args(["backup", "--db", "sqlite://ravand.db", "ravand-copy.db"])
        .current_dir(&dir)
        .output()
        .expect("runs");
    assert!(setup.status.success(), "{}", String::from_utf8_lossy(&setup.stderr));
    assert!(dir.join("ravand-copy.db").exists());
    let again = std::process::Command::new(crate::helpers::ravand())
        .args(["backup", "--db", "sqlite://ravand.db", "ravand-copy.db"])
        .current_dir(&dir)
        .output()
        .expect("runs");
    assert!(!again.status.success(), "an existing copy is not overwritten");
}

#[test]
fn simulate_without_a_scenario_runs_the_default_one_and_says_so() {
    let out = std::process::Command::new(crate::helpers::ravand())
        .args(["simulate", "definitions/complaint-137.yaml", "--cases", "200"])
        .current_dir(crate::helpers::root())
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("default scenario (no --scenario)"), "{text}");
    assert!(text.contains("complaint-137: 200 cases x 1 replications"), "{text}");
    assert!(!text.contains('±'), "one replication has no interval: {text}");
}

/// The systemd unit in the repository starts `ravand serve` with flags it has.
#[test]
fn the_systemd_unit_uses_flags_ravand_serve_has() {
    let unit = std::fs::read_to_string(crate::helpers::root().join("cli/systemd/ravand.service")).expect("unit");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let help = std::process::Command::new(crate::helpers::ravand())
        .args(["serve", "--help"])
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    let words: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(words.get(1), Some(&"serve"), "{exec}");
    let flags: Vec<&&str> = words.iter().filter(|w| w.starts_with("--")).collect();
    assert!(flags.len() >= 4, "{exec}");
    for f in flags {
        assert!(help.contains(*f), "`ravand serve` has no flag {f}:\n{help}");
    }
    assert!(
        unit.contains("ExecReload=/bin/kill -HUP $MAINPID"),
        "reload re-reads the tokens"
    );
}
