//! Hostile and mistaken documents: a clear error, never a panic or a hang.

use ravand_engine::definition::{Limits, SourceFile};
use ravand_engine::validate::validate_paths;

use crate::helpers::{check, codes, process};

#[test]
fn deep_nesting_is_refused() {
    let text = format!(
        "id: x\nversion: 1\ntitle: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let r = check("deep.yaml", &text);
    assert!(r.has_errors());
    let d = &r.diagnostics[0];
    assert!(d.code == "limit" || d.code == "yaml", "{d:?}");
}

#[test]
fn alias_bomb_is_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        text += &format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n");
    }
    let start = std::time::Instant::now();
    let r = check("bomb.yaml", &text);
    assert!(r.has_errors());
    assert!(start.elapsed().as_secs() < 10, "the bomb was expanded");
    assert!(
        codes(&r)
            .iter()
            .any(|c| *c == "limit" || *c == "unknown-key" || *c == "yaml"),
        "{:?}",
        codes(&r)
    );
}

#[test]
fn ten_megabyte_file_is_refused_before_parsing() {
    let dir = tempdir();
    let path = dir.join("huge.yaml");
    let line = "# padding padding padding padding padding padding padding padding\n";
    let text: String = line.repeat(10 * 1024 * 1024 / line.len() + 1);
    std::fs::write(&path, &text).expect("write");
    let reports = validate_paths(std::slice::from_ref(&path), &Limits::default());
    assert_eq!(reports[0].diagnostics[0].code, "too-large");
    // The same text in memory is refused too.
    let r = check("huge.yaml", &text);
    assert_eq!(codes(&r), vec!["too-large"]);
}

#[test]
fn not_utf8_is_a_clear_error() {
    let dir = tempdir();
    let path = dir.join("cp1256.yaml");
    // "title: " followed by Windows-1256 bytes for Persian letters.
    std::fs::write(&path, b"id: x\nversion: 1\ntitle: \xd5\xcf\xe6\xd1\n").expect("write");
    let reports = validate_paths(std::slice::from_ref(&path), &Limits::default());
    let d = &reports[0].diagnostics[0];
    assert_eq!(d.code, "io");
    assert!(d.message.contains("UTF-8"), "{}", d.message);
}

#[test]
fn missing_file_is_a_clear_error() {
    let reports = validate_paths(&["/no/such/file.yaml".into()], &Limits::default());
    assert_eq!(reports[0].diagnostics[0].code, "io");
}

#[test]
fn too_many_steps_is_refused() {
    let limits = Limits {
        max_steps: 100,
        ..Limits::default()
    };
    let body: String = (0..200)
        .map(|i| format!("  - {{id: s{i}, title: t, mode: service}}\n"))
        .collect();
    let r = ravand_engine::validate::validate_source(
        SourceFile::new("many.yaml", process(&body)),
        &Default::default(),
        &limits,
    );
    assert_eq!(codes(&r), vec!["too-many-steps"]);
}

#[test]
fn garbage_never_panics() {
    let samples: &[&[u8]] = &[
        b"\0\0\0",
        b"- - - -",
        b"{{{{",
        b"id: [",
        b"steps: {a: 1}",
        b"\xef\xbb\xbfid: x",
        b"? ? ?",
        b"!!binary aGVsbG8=",
        b"&a [*a]",
        b"steps:\n  - *undefined",
    ];
    for s in samples {
        let text = String::from_utf8_lossy(s).into_owned();
        let r = check("g.yaml", &text);
        assert!(r.has_errors(), "{text:?} was accepted");
    }
}

#[test]
fn deeply_nested_condition_is_refused() {
    let cond = format!("{}ok{}", "(".repeat(5_000), ")".repeat(5_000));
    let r = check(
        "c.yaml",
        &process(&format!(
            "  - {{id: d, kind: decision, branches: [{{when: '{cond}', next: done}}], otherwise: {{next: done}}}}\n"
        )),
    );
    assert_eq!(codes(&r), vec!["bad-condition"]);
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ravand-test-{}-{}",
        std::process::id(),
        std::thread::current().name().unwrap_or("t").replace("::", "-")
    ));
    std::fs::create_dir_all(&dir).expect("tempdir");
    dir
}
