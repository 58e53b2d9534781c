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
