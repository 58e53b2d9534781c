//! Small graphs for each soundness verdict, sound and unsound, with the steps
//! each error names.

use crate::helpers::{check, codes, process, rendered};

fn errors(body: &str) -> Vec<&'static str> {
    let r = check("s.yaml", &process(body));
    r.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.code).collect()
}

#[test]
fn sound_blocks_pass() {
    let blocks = [
        // sequence
        "  - {id: a, title: الف, mode: service}\n",
        // exclusive split and merge
        "  - {id: d, kind: decision, branches: [{when: ok, next: a}], otherwise: {next: b}}\n  - {id: a, title: الف, mode: service, next: m}\n  - {id: b, title: ب, mode: service, next: m}\n  - {id: m, title: ادغام, mode: service}\n",
        // parallel split and join
        "  - {id: p, kind: parallel, next: [a, b]}\n  - {id: a, title: الف, mode: service, next: j}\n  - {id: b, title: ب, mode: service, next: j}\n  - {id: j, kind: join}\n",
        // inclusive split and its join, with a branch that may be skipped
        "  - {id: i, kind: inclusive, branches: [{when: ok, next: a}, {when: '!ok', next: b}], otherwise: {next: ij}}\n  - {id: a, title: الف, mode: service, next: ij}\n  - {id: b, title: ب, mode: service, next: ij}\n  - {id: ij, kind: inclusive-join}\n",
        // a loop with an exit
        "  - {id: a, title: الف, mode: service}\n  - {id: d, kind: decision, branches: [{when: ok, next: a}], otherwise: {next: done}}\n",
        // a timeout that leaves by another path, merging again
        "  - {id: r, kind: receive, title: پاسخ, message: reply, timeout: {after: 10 days, next: late}, next: m}\n  - {id: late, title: دیر, mode: service, next: m}\n  - {id: m, title: ادغام, mode: service}\n",
        // terminate inside a parallel branch cancels the rest
        "  - {id: d, kind: decision, branches: [{when: ok, next: p}], otherwise: {next: done}}\n  - {id: p, kind: parallel, next: [a, b]}\n  - {id: a, title: الف, mode: service, next: stop}\n  - {id: b, title: ب, mode: service, next: stop}\n  - {id: stop, kind: terminate, outcome: cancelled}\n",
        // nested parallel inside exclusive
        "  - {id: d, kind: decision, branches: [{when: ok, next: p}], otherwise: {next: m}}\n  - {id: p, kind: parallel, next: [a, b]}\n  - {id: a, title: الف, mode: service, next: j}\n  - {id: b, title: ب, mode: service, next: j}\n  - {id: j, kind: join, next: m}\n  - {id: m, title: ادغام, mode: service}\n",
    ];
    for b in blocks {
        let r = check("s.yaml", &process(b));
        assert!(!r.has_errors(), "expected sound:\n{b}\n{}", rendered(&r));
    }
}

#[test]
fn exclusive_split_closed_by_join_deadlocks() {
    let r = check("s.yaml", &process("  - {id: d, kind: decision, branches: [{when: ok, next: a}], otherwise: {next: b}}\n  - {id: a, title: الف, mode: service, next: j}\n  - {id: b, title: ب, mode: service, next: j}\n  - {id: j, kind: join}\n"));
    assert_eq!(codes(&r), vec!["deadlock"]);
    let d = &r.diagnostics[0];
    assert!(d.message.contains("`j`"), "{}", d.message);
    assert_eq!(d.line, 11, "points at the join");
    assert!(!d.related.is_empty(), "names the waiting branches");
}

#[test]
fn parallel_split_merged_exclusively_lacks_synchronisation() {
    let c = errors("  - {id: p, kind: parallel, next: [a, b]}\n  - {id: a, title: الف, mode: service, next: m}\n  - {id: b, title: ب, mode: service, next: m}\n  - {id: m, title: ادغام, mode: service}\n");
    assert!(c.contains(&"lack-of-synchronisation"), "{c:?}");
}

#[test]
fn two_tokens_through_one_chain_are_caught() {
    // The merge is a chain of two steps: agglomeration must still see it.
    let c = errors("  - {id: p, kind: parallel, next: [a, b]}\n  - {id: a, title: الف, mode: service, next: m1}\n  - {id: b, title: ب, mode: service, next: m1}\n  - {id: m1, title: ۱, mode: service}\n  - {id: m2, title: ۲, mode: service}\n  - {id: m3, title: ۳, mode: service}\n");
    assert!(c.contains(&"lack-of-synchronisation"), "{c:?}");
}

#[test]
fn parallel_branches_ending_apart_complete_improperly() {
    let c = errors("  - {id: p, kind: parallel, next: [a, b]}\n  - {id: a, title: الف, mode: service, next: done}\n  - {id: b, title: ب, mode: service, next: e2}\n  - {id: e2, kind: end, outcome: other}\n");
    assert_eq!(c, vec!["improper-completion", "improper-completion"]);
}

#[test]
fn inclusive_join_after_parallel_waits_for_all() {
    // An inclusive join closing a parallel split is sound: it waits while a
    // branch can still arrive.
    let r = check("s.yaml", &process("  - {id: p, kind: parallel, next: [a, b]}\n  - {id: a, title: الف, mode: service, next: ij}\n  - {id: b, title: ب, mode: service}\n  - {id: b2, title: ب۲, mode: service, next: ij}\n  - {id: ij, kind: inclusive-join}\n"));
    assert!(!r.has_errors(), "{}", rendered(&r));
}

#[test]
fn loop_that_only_waits_on_itself_is_reported() {
    // The join inside the loop waits for a branch that went around: no way out.
    let c = errors("  - {id: a, title: الف, mode: service}\n  - {id: b, title: ب, mode: service, next: a}\n");
    assert!(c.contains(&"loop-without-exit") || c.contains(&"unreachable"), "{c:?}");
}

#[test]
fn state_limit_gives_a_warning_not_a_hang() {
    use ravand_engine::definition::{Limits, SourceFile};
    use ravand_engine::model::CompileContext;
    // 10 parallel branches, each a decision with a loop: many states.
    let mut body = String::from("  - {id: p, kind: parallel, next: [");
    body += &(0..10).map(|i| format!("d{i}")).collect::<Vec<_>>().join(", ");
    body += "]}\n";
    for i in 0..10 {
        body += &format!("  - {{id: d{i}, kind: decision, branches: [{{when: ok, next: x{i}}}], otherwise: {{next: j}}}}\n  - {{id: x{i}, title: x, mode: service, next: d{i}}}\n");
    }
    body += "  - {id: j, kind: join}\n";
    let limits = Limits {
        max_states: 500,
        ..Limits::default()
    };
    let r = ravand_engine::validate::validate_source(
        SourceFile::new("big.yaml", process(&body)),
        &CompileContext::default(),
        &limits,
    );
    let c = codes(&r);
    // The join takes one token per incoming edge; 10 decisions each feed it
    // through `otherwise`, so this is sound, but too big to finish checking.
    assert!(c.contains(&"soundness-unchecked"), "{c:?}");
}

#[test]
fn a_rework_loop_upstream_of_an_unavoidable_deadlock_is_not_blamed() {
    // review ⇄ fix is a loop with a way out; every way out then meets a join
    // that can never fire. One error, at the join, naming one branch of one
    // alternative; nothing about the loop.
    let body = "  - {id: review, title: بررسی, mode: service}\n  - {id: again, kind: decision, branches: [{when: ok, next: fix}], otherwise: {next: d}}\n  - {id: fix, title: اصلاح, mode: service, next: review}\n  - {id: d, kind: decision, branches: [{when: ok, next: a}], otherwise: {next: b}}\n  - {id: a, title: الف, mode: service, next: j}\n  - {id: b, title: ب, mode: service, next: j}\n  - {id: j, kind: join}\n";
    let r = check("s.yaml", &process(body));
    assert_eq!(codes(&r), vec!["deadlock"], "{}", rendered(&r));
    let text = rendered(&r);
    assert!(!text.contains("loop"), "{text}");
    let d = &r.diagnostics[0];
    assert!(
        !(d.message.contains("`a`") && d.message.contains("`b`")),
        "branches of two alternatives named as waiting together: {}",
        d.message
    );
}

#[test]
fn improper_completion_names_the_branch_still_under_way_not_the_other_end() {
    let body = "  - {id: p, kind: parallel, next: [a, b]}\n  - {id: a, title: الف, mode: service, next: done}\n  - {id: b, title: ب, mode: service, next: other}\n  - {id: other, kind: end, outcome: other}\n";
    let r = check("s.yaml", &process(body));
    assert!(codes(&r).contains(&"improper-completion"), "{}", rendered(&r));
    for d in r.diagnostics.iter().filter(|d| d.code == "improper-completion") {
        assert!(
            !d.message.contains("open at `done`") && !d.message.contains("open at `other`"),
            "{}",
            d.message
        );
        assert!(
            d.message.contains("open at `a`") || d.message.contains("open at `b`"),
            "{}",
            d.message
        );
    }
}
