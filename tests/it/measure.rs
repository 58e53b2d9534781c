//! Measurement: figures come from the model, and the reform shows.

use ravand_engine::definition::Limits;
use ravand_engine::measure::{measure, path_figures_with};
use ravand_engine::model::Process;
use ravand_engine::validate::validate_paths;

use crate::helpers::{check, process, root};

fn load(name: &str) -> Process {
    let path = root().join("definitions").join(name);
    validate_paths(&[path], &Limits::default())
        .remove(0)
        .process
        .expect("valid definition")
}

#[test]
fn permit_reform_removes_steps_and_golden_signatures() {
    let old = measure(&load("building-permit-current.yaml"));
    let new = measure(&load("building-permit-reformed.yaml"));
    // About 129 steps today; under 70 after the reform.
    assert!((120..=135).contains(&old.steps), "current: {}", old.steps);
    assert!(new.steps < 70, "reformed: {}", new.steps);
    assert!(
        old.steps - new.steps >= 55,
        "the reform removes 60-70 steps: {} -> {}",
        old.steps,
        new.steps
    );
    assert!(
        old.discretionary >= 10 && new.discretionary == 0,
        "{} -> {}",
        old.discretionary,
        new.discretionary
    );
    assert!(new.steps_by_tag["citizen-visit"] < old.steps_by_tag["citizen-visit"]);
    assert!(new.handoffs < old.handoffs);
    assert!(new.path.fewest_steps <= new.path.most_steps && new.path.most_steps <= new.steps + 10);
    // A case that ends with a permit: over a hundred steps today, under 70 after.
    let (o, n) = (old.path.by_outcome["issued"], new.path.by_outcome["issued"]);
    assert!(o.fewest_steps >= 100, "{o:?}");
    assert!(n.most_steps < 70, "{n:?}");
    assert!(old.path.by_outcome.contains_key("rejected") && new.path.by_outcome.contains_key("withdrawn"));
}

#[test]
fn counts_follow_the_documented_rule() {
    // start, decision, 2 tasks, a wait, a receive, a parallel block of 2, end.
    let r = check("m.yaml", &process(
        "  - {id: d, kind: decision, branches: [{when: ok, next: a}], otherwise: {next: b}}\n  - {id: a, title: الف, mode: service, tags: [approval, discretionary], next: w}\n  - {id: b, title: ب, mode: service, tags: [signature], next: w}\n  - {id: w, kind: wait, title: صبر, wait: {duration: 3 days}}\n  - {id: r, kind: receive, title: پیام, message: m}\n  - {id: p, kind: parallel, next: [x, y]}\n  - {id: x, title: ایکس, mode: service, next: j}\n  - {id: y, title: وای, mode: service, next: j}\n  - {id: j, kind: join}\n",
    ));
    let p = r.process.expect("valid");
    let m = measure(&p);
    assert_eq!(m.steps, 6, "a, b, w, r, x, y");
    assert_eq!(m.gateways, 3, "decision, parallel, join");
    assert_eq!(m.steps_by_kind["task"], 4);
    assert_eq!(m.steps_by_kind["wait"], 1);
    assert_eq!(m.steps_by_kind["receive"], 1);
    assert_eq!((m.discretionary, m.signatures, m.approvals), (1, 1, 1));
    // One of a/b, then w, r, and both parallel branches.
    assert_eq!((m.path.fewest_steps, m.path.most_steps), (5, 5));
    assert_eq!(
        m.path.by_outcome["done"],
        ravand_engine::measure::Span {
            fewest_steps: 5,
            most_steps: 5
        }
    );
}

#[test]
fn loops_count_at_most_once_more() {
    let p = check("l.yaml", &process("  - {id: a, title: الف, mode: service}\n  - {id: b, title: ب, mode: service}\n  - {id: d, kind: decision, branches: [{when: ok, next: a}], otherwise: {next: done}}\n")).process.expect("valid");
    let f = ravand_engine::measure::path_figures(&p, 10_000);
    assert_eq!((f.fewest_steps, f.most_steps, f.loops), (2, 4, 1));
}

#[test]
fn agglomeration_changes_no_figure_on_the_municipal_processes() {
    for name in [
        "building-permit-current.yaml",
        "building-permit-reformed.yaml",
        "article-100.yaml",
        "complaint-137.yaml",
        "mardom-salam.yaml",
    ] {
        let p = load(name);
        assert_eq!(
            path_figures_with(&p, 2_000_000, true),
            path_figures_with(&p, 2_000_000, false),
            "{name}"
        );
    }
}

#[test]
fn handoffs_count_role_changes() {
    let text = "id: h\nversion: 1\ntitle: h\nroles:\n  - {id: r1, title: یک}\n  - {id: r2, title: دو}\nsteps:\n  - {id: start, kind: start}\n  - {id: a, title: الف, performer: r1}\n  - {id: b, title: ب, performer: r1}\n  - {id: c, title: ج, performer: r2}\n  - {id: d, title: د, performer: r1}\n  - {id: done, kind: end, outcome: done}\n";
    let m = measure(&check("h.yaml", text).process.expect("valid"));
    assert_eq!(m.handoffs, 2);
    assert_eq!(m.roles_involved, 2);
}

#[test]
fn expected_steps_weigh_branches_and_loops() {
    // a, then 30% b, then a loop back to a with probability 0.5: a runs
    // 1/(1−0.5) = 2 times, b 0.6 times, c 2 times: 4.6 steps.
    let text = process(
        "  - {id: a, title: الف, mode: service}\n  - {id: d, kind: decision, branches: [{when: ok, next: b, probability: 0.3}], otherwise: {next: c, probability: 0.7}}\n  - {id: b, title: ب, mode: service, next: c}\n  - {id: c, title: ج, mode: service}\n  - {id: l, kind: decision, branches: [{when: ok, next: a, probability: 0.5}], otherwise: {next: done, probability: 0.5}}\n",
    );
    let p = check("e.yaml", &text).process.expect("valid");
    let e = ravand_engine::measure::expected_steps(&p);
    assert!((e - 4.6).abs() < 1e-6, "{e}");
    // A parallel block counts both branches once.
    let text = process("  - {id: s, kind: parallel, next: [x, y]}\n  - {id: x, title: x, mode: service, next: j}\n  - {id: y, title: y, mode: service, next: j}\n  - {id: j, kind: join}\n  - {id: z, title: z, mode: service}\n");
    let p = check("p.yaml", &text).process.expect("valid");
    assert!((ravand_engine::measure::expected_steps(&p) - 3.0).abs() < 1e-9);
}

#[test]
fn expected_days_sum_sequences_weigh_decisions_scale_loops_and_take_the_slowest_branch() {
    let days = |body: &str| {
        let p = check("d.yaml", &process(body)).process.expect("valid");
        ravand_engine::measure::expected_days(&p)
    };
    // Sequence: 2 h + 3 h.
    let e = days("  - {id: a, title: الف, mode: manual, duration: {fixed: 2 hours}}\n  - {id: b, title: ب, mode: manual, duration: {fixed: 3 hours}}\n");
    assert!((e * 24.0 - 5.0).abs() < 1e-6, "{}", e * 24.0);
    // Decision: 30% of 10 h, else 0: 3 h.
    let e = days("  - {id: d, kind: decision, branches: [{when: ok, next: a, probability: 0.3}], otherwise: {next: done, probability: 0.7}}\n  - {id: a, title: الف, mode: manual, duration: {fixed: 10 hours}}\n");
    assert!((e * 24.0 - 3.0).abs() < 1e-6, "{}", e * 24.0);
    // Loop: 1 day, again with probability 0.75: 4 days.
    let e = days("  - {id: a, title: الف, mode: manual, duration: {fixed: 1 days}}\n  - {id: l, kind: decision, branches: [{when: ok, next: a, probability: 0.75}], otherwise: {next: done, probability: 0.25}}\n");
    assert!((e - 4.0).abs() < 1e-6, "{e}");
    // Parallel: the slower branch (3 h), then 1 h.
    let e = days("  - {id: s, kind: parallel, next: [x, y]}\n  - {id: x, title: x, mode: manual, duration: {fixed: 2 hours}, next: j}\n  - {id: y, title: y, mode: manual, duration: {fixed: 3 hours}, next: j}\n  - {id: j, kind: join}\n  - {id: z, title: z, mode: manual, duration: {fixed: 1 hours}}\n");
    assert!((e * 24.0 - 4.0).abs() < 1e-6, "{}", e * 24.0);
}

/// The README's table of the municipal processes says each one's step
/// count as `ravand measure` gives it.
#[test]
fn the_readme_step_counts_are_the_measured_ones() {
    let text = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let start = text.find("## The municipal processes").expect("the section");
    let rows: Vec<(String, u32)> = text[start..]
        .lines()
        .skip_while(|l| !l.starts_with("| `"))
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let file = cells[1].trim_matches('`').to_owned();
            let steps = cells[3].parse().unwrap_or_else(|_| panic!("row `{l}`: steps"));
            (file, steps)
        })
        .collect();
    let on_disk = std::fs::read_dir(root().join("definitions"))
        .expect("definitions")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        })
        .count();
    assert_eq!(rows.len(), on_disk, "one row per definition: {rows:?}");
    for (file, steps) in rows {
        assert_eq!(measure(&load(&file)).steps, steps, "{file}: the README says {steps}");
    }
}
