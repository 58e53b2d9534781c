//! Property tests over generated processes. Well-structured processes
//! validate clean; mutations are reported and never panic; chain
//! agglomeration changes no verdict. proptest prints the failing case and
//! keeps its seed in `proptest-regressions/`.

use proptest::prelude::*;
use ravand_engine::validate::statespace::{explore_with, Issue, Loops};

use crate::gen::{block, to_yaml};
use crate::helpers::check;

/// The verdicts must agree: both find lack of synchronisation or neither
/// does; without it, the same kinds of issue. (Exploration stops at an unsafe
/// state, so the errors that follow from one can differ in number.)
fn same_verdict(a: &[Issue], b: &[Issue]) -> bool {
    let (ka, kb) = (issue_kinds(a), issue_kinds(b));
    let unsafe_a = ka.contains(&1);
    if unsafe_a || kb.contains(&1) {
        return unsafe_a == kb.contains(&1);
    }
    ka == kb
}

fn issue_kinds(issues: &[Issue]) -> Vec<u8> {
    let mut v: Vec<u8> = issues
        .iter()
        .map(|i| match i {
            Issue::Deadlock { .. } => 0,
            Issue::LackOfSync { .. } => 1,
            Issue::ImproperCompletion { .. } => 2,
            Issue::Livelock { .. } => 3,
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn well_structured_processes_validate_clean(b in block()) {
        let text = to_yaml(&b);
        let r = check("gen.yaml", &text);
        let errors: Vec<_> = r.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.render(&text)).collect();
        prop_assert!(errors.is_empty(), "{}\n{}", text, errors.join("\n"));
    }

    #[test]
    fn a_broken_reference_is_reported(b in block(), pick in any::<prop::sample::Index>()) {
        let text = to_yaml(&b);
        let targets: Vec<usize> = text.match_indices("next: t").map(|(i, _)| i).collect();
        prop_assume!(!targets.is_empty());
        let at = targets[pick.index(targets.len())] + "next: ".len();
        let mutated = format!("{}zz{}", &text[..at], &text[at..]);
        let r = check("gen.yaml", &mutated);
        prop_assert!(r.diagnostics.iter().any(|d| d.code == "dangling-reference"), "{}", mutated);
    }

    #[test]
    fn a_join_turned_into_a_task_is_unsound(b in block()) {
        let text = to_yaml(&b);
        // A plain join (a partial one is written `kind: join, needs: N`).
        prop_assume!(text.contains("kind: join, next"));
        let mutated = text.replacen("kind: join, next", "title: بدون همگام‌سازی, mode: service, next", 1);
        let r = check("gen.yaml", &mutated);
        prop_assert!(r.diagnostics.iter().any(|d| d.code == "lack-of-synchronisation" || d.code == "improper-completion"), "{}", mutated);
    }

    #[test]
    fn a_merge_turned_into_a_join_deadlocks(b in block()) {
        let text = to_yaml(&b);
        // A partial join could go on without the stuck branch and withdraw it.
        if text.contains("needs:") {
            return Ok(());
        }
        // Exclusive merges are named m<N>.
        let Some(at) = text.find("  - {id: m") else { return Ok(()) };
        let line_end = at + text[at..].find('\n').expect("line");
        let line = &text[at..line_end];
        let mutated = text.replacen(line, &line.replace("title: ادغام, mode: service", "kind: join"), 1);
        let r = check("gen.yaml", &mutated);
        prop_assert!(r.diagnostics.iter().any(|d| d.code == "deadlock"), "{}", mutated);
    }

    #[test]
    fn random_edits_never_panic(b in block(), cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut bytes = to_yaml(&b).into_bytes();
        for (i, byte) in cuts {
            let at = i.index(bytes.len());
            bytes[at] = byte;
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let _ = check("gen.yaml", &text);
    }

    #[test]
    fn any_condition_text_is_a_diagnostic_not_a_panic(cond in "[a-z0-9 ()\\[\\]{}.,:?!&|=<>+*/%'\"-]{0,40}") {
        let quoted = cond.replace('\'', "''");
        let text = crate::helpers::process(&format!("  - {{id: d, kind: decision, branches: [{{when: '{quoted}', next: done}}], otherwise: {{next: done}}}}\n"));
        let _ = check("c.yaml", &text);
    }

    #[test]
    fn agglomeration_changes_no_verdict(b in block(), swap in any::<bool>()) {
        // Optionally make it unsound, to compare verdicts on bad nets too.
        let mut text = to_yaml(&b);
        if swap {
            text = text.replacen("kind: join, next", "title: x, mode: service, next", 1);
        }
        let r = check("gen.yaml", &text);
        if let Some(p) = r.process.as_ref() {
            let a = explore_with(p, Loops::Free, 200_000, true);
            let n = explore_with(p, Loops::Free, 200_000, false);
            prop_assert_eq!(a.truncated, false);
            prop_assert!(same_verdict(&a.issues, &n.issues), "{:?} vs {:?}", a.issues, n.issues);
            prop_assert_eq!(
                ravand_engine::measure::path_figures_with(p, 200_000, true),
                ravand_engine::measure::path_figures_with(p, 200_000, false)
            );
        } else if swap {
            // The unsound version: compare verdicts through the compiled graph
            // of the same text without flow checks.
            let def = ravand_engine::definition::parse_process(&r.source, &Default::default()).expect("parses");
            let (p, _) = ravand_engine::model::compile(&def, &Default::default());
            let p = p.expect("compiles");
            let a = explore_with(&p, Loops::Free, 200_000, true);
            let n = explore_with(&p, Loops::Free, 200_000, false);
            prop_assert!(same_verdict(&a.issues, &n.issues), "{:?} vs {:?}\n{}", a.issues, n.issues, text);
        }
    }
}
