//! Every file in `definitions/` validates clean, as one set (subprocesses
//! resolve across files, calendars beside them).

use ravand_engine::definition::Limits;
use ravand_engine::validate::validate_paths;

use crate::helpers::root;

fn yaml_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_definition_and_calendar_validates() {
    let mut files = yaml_files(&root().join("definitions"));
    files.extend(yaml_files(&root().join("definitions/calendars")));
    assert!(files.len() >= 8, "{files:?}");
    for r in validate_paths(&files, &Limits::default()) {
        let errors: Vec<_> = r
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.render(&r.source.text))
            .collect();
        assert!(errors.is_empty(), "{}:\n{}", r.source.name, errors.join("\n"));
    }
}

#[test]
fn every_definition_points_editors_at_the_schema() {
    for f in yaml_files(&root().join("definitions")) {
        let text = std::fs::read_to_string(&f).expect("read");
        assert!(
            text.starts_with("# yaml-language-server: $schema=schema/ravand-process.schema.json"),
            "{}",
            f.display()
        );
    }
    for f in yaml_files(&root().join("definitions/calendars")) {
        let text = std::fs::read_to_string(&f).expect("read");
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schema/ravand-calendar.schema.json"),
            "{}",
            f.display()
        );
    }
}

#[test]
fn every_work_step_has_a_persian_title_and_a_performer() {
    let files = yaml_files(&root().join("definitions"));
    for r in validate_paths(&files, &Limits::default()) {
        let p = r.process.as_ref().expect("valid");
        for s in p.steps.iter().filter(|s| s.counts()) {
            assert!(
                s.title.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)),
                "{}: `{}` has no Persian title",
                p.id,
                s.id
            );
            assert!(s.title_en.is_some(), "{}: `{}` has no English title", p.id, s.id);
            if s.kind == ravand_engine::model::StepKind::Task {
                assert!(s.performer().is_some(), "{}: task `{}` has no performer", p.id, s.id);
            }
        }
    }
}
