//! One fixture per diagnostic: the file's name is the code it must produce,
//! and the rendered message (line, column, source line, marker, help) is a
//! snapshot in `tests/it/snapshots/`.

use crate::helpers::{check, codes, rendered};

#[test]
fn each_fixture_reports_its_code_at_its_line() {
    insta::glob!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/diagnostics"),
        "*.yaml",
        |path| {
            let name = path.file_stem().and_then(|s| s.to_str()).expect("fixture name");
            let text = std::fs::read_to_string(path).expect("fixture readable");
            let report = check(&format!("{name}.yaml"), &text);
            // `wrong-type-until-data` is a second fixture for `wrong-type`.
            let code = name.split("-until").next().unwrap_or(name);
            assert!(
                codes(&report).contains(&code),
                "{name}: expected code `{code}`, got {:?}\n{}",
                codes(&report),
                rendered(&report)
            );
            for d in &report.diagnostics {
                assert!(d.line >= 1 && d.column >= 1, "{name}: {d:?} has no place");
                assert!(
                    d.help.as_deref().is_some_and(|h| !h.is_empty()),
                    "{name}: {} has no help line",
                    d.code
                );
            }
            insta::assert_snapshot!(rendered(&report));
        }
    );
}

#[test]
fn all_problems_at_once_not_only_the_first() {
    let text = crate::helpers::process(
        "  - {id: a, title: الف, performer: nobody, next: nowhere}\n  - {id: b, title: ب, mode: service, tags: [nonsense]}\n  - {id: d, kind: decision, branches: [{when: 'missing_var', next: done}], otherwise: {next: done}}\n",
    );
    let report = check("many.yaml", &text);
    let c = codes(&report);
    for expected in ["unknown-role", "dangling-reference", "unknown-tag", "unknown-variable"] {
        assert!(c.contains(&expected), "missing {expected} in {c:?}");
    }
    // Sorted by line.
    let lines: Vec<u32> = report.diagnostics.iter().map(|d| d.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
}

#[test]
fn every_wrong_type_and_key_of_a_file_in_one_run() {
    // The fixture yaml-language-server is held to (`editors`): each line
    // marked "planted" holds one mistake serde alone would stop at.
    let path = crate::helpers::root().join("tests/fixtures/editors/mistakes.yaml");
    let text = std::fs::read_to_string(&path).expect("the fixture");
    let planted: Vec<u32> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("# planted:"))
        .map(|(i, _)| i as u32 + 1)
        .collect();
    let report = check("mistakes.yaml", &text);
    let lines: Vec<u32> = report.diagnostics.iter().map(|d| d.line).collect();
    assert_eq!(lines, planted, "{}", rendered(&report));
    let c = codes(&report);
    assert_eq!(
        c,
        [
            "wrong-type",
            "unknown-key",
            "unknown-value",
            "unknown-key",
            "unknown-value"
        ],
        "{}",
        rendered(&report)
    );
    let helps: Vec<&str> = report.diagnostics.iter().filter_map(|d| d.help.as_deref()).collect();
    for want in [
        "did you mean `title`?",
        "did you mean `task`?",
        "did you mean `performer`?",
    ] {
        assert!(helps.contains(&want), "`{want}` in {helps:?}");
    }
}

#[test]
fn json_shape_is_stable() {
    let report = check(
        "x.yaml",
        &crate::helpers::process("  - {id: a, title: الف, performer: nobody}\n"),
    );
    let v = serde_json::to_value(&report.diagnostics).expect("serialises");
    let first = &v[0];
    for key in ["file", "line", "column", "severity", "code", "message", "help"] {
        assert!(first.get(key).is_some(), "missing key {key} in {first}");
    }
    assert_eq!(first["severity"], "error");
    assert_eq!(first["code"], "unknown-role");
    assert_eq!(first["line"], 8);
}

#[test]
fn calendars_are_checked() {
    use ravand_engine::definition::{Limits, SourceFile};
    let dir = crate::helpers::root().join("tests/fixtures/calendars");
    let read = |n: &str| {
        SourceFile::new(
            format!("calendars/{n}.yaml"),
            std::fs::read_to_string(dir.join(format!("{n}.yaml"))).expect("read"),
        )
    };
    let (_, diags) = ravand_engine::validate::validate_calendar(&read("bad-calendar"), &Limits::default());
    let c: Vec<&str> = diags.iter().map(|d| d.code).collect();
    for expected in ["calendar-name", "bad-time-zone", "bad-hours", "bad-date"] {
        assert!(c.contains(&expected), "missing {expected} in {c:?}");
    }
    // 30 Esfand 1404 does not exist (1404 is not a leap year); 31 Mehr neither.
    assert_eq!(c.iter().filter(|x| **x == "bad-date").count(), 2, "{c:?}");
    let (_, diags) = ravand_engine::validate::validate_calendar(&read("no-working-days"), &Limits::default());
    assert!(diags.iter().any(|d| d.code == "no-working-days"));
    let (cal, diags) = ravand_engine::validate::validate_calendar(&read("tehran-municipal"), &Limits::default());
    assert!(cal.is_some() && diags.is_empty(), "{diags:?}");
}

/// Two working-time lengths are ordered at a working day's hours: 20
/// working hours are more than one working day. (They were once compared
/// with a working day counted as 24 hours, and the range passed.)
#[test]
fn a_uniform_range_in_working_time_is_ordered_at_working_hours() {
    let step = |min: &str| {
        crate::helpers::process(&format!(
            "  - {{id: a, title: الف, mode: service, duration: {{uniform: {{min: {min}, max: 1 working days}}}}}}\n"
        ))
    };
    let wrong = check("u.yaml", &step("20 working hours"));
    assert!(codes(&wrong).contains(&"bad-duration"), "{:?}", codes(&wrong));
    let right = check("u.yaml", &step("5 working hours"));
    assert!(!codes(&right).contains(&"bad-duration"), "{:?}", codes(&right));
}
