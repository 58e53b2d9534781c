//! Properties of the runtime over generated processes and random command
//! sequences. The sequence comes from a seed that proptest prints (and keeps
//! in `proptest-regressions/`) when a property fails.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use ravand_engine::model::Process;
use ravand_engine::runtime::{self, Command, Data, Event, Input, Instance, Internal, Status};
use ravand_engine::time::{Timestamp, WorkCalendar};
use serde_json::json;

use crate::gen::{block, to_yaml};
use crate::helpers::check;

const T0: Timestamp = Timestamp(1_767_225_600); // 2026-01-01T00:00:00Z

/// Runs a case with random commands from `seed`, checking invariants and
/// replay after each; then drives it to its end. Returns its history.
fn run_case(p: &Process, seed: u64) -> Result<(Instance, Vec<Event>), TestCaseError> {
    let cal = WorkCalendar::always();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut now = T0;
    let mut history = Vec::new();
    let start: Data = [("ok".to_owned(), json!(rng.random_bool(0.5)))].into_iter().collect();
    let mut st =
        runtime::start(p, &cal, start, None, now, &mut history).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let check = |st: &Instance, history: &[Event]| -> Result<(), TestCaseError> {
        st.check_invariants()
            .map_err(|e| TestCaseError::fail(format!("seed {seed}: {e}")))?;
        prop_assert_eq!(
            &runtime::replay(history),
            st,
            "seed {}: replaying the history gives another state",
            seed
        );
        Ok(())
    };
    check(&st, &history)?;
    // A random phase, then a phase that heads for the end (ok = false leaves loops).
    for round in 0..400 {
        if st.status.is_finished() {
            break;
        }
        let finishing = round >= 60;
        let ok = if finishing { false } else { rng.random_bool(0.5) };
        let cmd: Input = match rng.random_range(0..10) {
            _ if st.status == Status::Suspended => Command::Resume { by: None }.into(),
            // An operator fixes the data behind an incident; that retries it.
            _ if !st.incidents.is_empty() || (finishing && st.data.get("ok") == Some(&json!(true))) => {
                Command::SetData {
                    values: [("ok".to_owned(), json!(false))].into_iter().collect(),
                    by: None,
                }
                .into()
            }
            0..=4 if !st.tasks.is_empty() => {
                let t = &st.tasks[rng.random_range(0..st.tasks.len())];
                let outputs: Data = [("ok".to_owned(), json!(ok))].into_iter().collect();
                if rng.random_bool(0.3) && t.assignee.is_none() {
                    Command::Claim {
                        task: t.id,
                        user: "u".into(),
                    }
                    .into()
                } else {
                    Command::Complete {
                        task: t.id,
                        by: t.assignee.clone(),
                        outputs,
                    }
                    .into()
                }
            }
            5 if !st.subscriptions.is_empty() => Internal::Deliver {
                sub: st.subscriptions[0].id,
                data: Data::new(),
                by: None,
            }
            .into(),
            6 if !finishing && rng.random_bool(0.2) => Command::Suspend { by: None }.into(),
            7 if !finishing => Command::SetData {
                values: [("ok".to_owned(), json!(ok))].into_iter().collect(),
                by: None,
            }
            .into(),
            _ => match st.next_due() {
                Some(due) => {
                    now = now.max(due);
                    let timer = st.due_timers(now)[0];
                    Internal::FireTimer { timer }.into()
                }
                None if !st.tasks.is_empty() => {
                    let t = &st.tasks[0];
                    Command::Complete {
                        task: t.id,
                        by: t.assignee.clone(),
                        outputs: [("ok".to_owned(), json!(ok))].into_iter().collect(),
                    }
                    .into()
                }
                None if !st.subscriptions.is_empty() => Internal::Deliver {
                    sub: st.subscriptions[0].id,
                    data: Data::new(),
                    by: None,
                }
                .into(),
                None => {
                    return Err(TestCaseError::fail(format!(
                        "seed {seed}: stuck with nothing to do: {st:?}"
                    )))
                }
            },
        };
        now = now.plus_seconds(rng.random_range(0..7_200));
        let before = st.clone();
        let n = history.len();
        match runtime::handle(p, &cal, &mut st, cmd.clone(), now, &mut history) {
            Ok(()) => {}
            Err(e) => {
                // A refused command changes nothing.
                prop_assert_eq!(
                    &st,
                    &before,
                    "seed {}: {:?} was refused ({}) but changed the state",
                    seed,
                    cmd,
                    e
                );
                prop_assert_eq!(history.len(), n);
            }
        }
        check(&st, &history)?;
    }
    prop_assert!(
        st.status == Status::Completed,
        "seed {}: did not complete: {:?}",
        seed,
        st.status
    );
    prop_assert!(st.tokens.is_empty() && st.tasks.is_empty() && st.timers.is_empty() && st.subscriptions.is_empty());
    Ok((st, history))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    #[test]
    fn random_commands_keep_invariants_replay_and_determinism(b in block(), seed in any::<u64>()) {
        let text = to_yaml(&b);
        let r = check("gen.yaml", &text);
        let p = r.process.ok_or_else(|| TestCaseError::fail(format!("generated process invalid:\n{text}")))?;
        let (st1, h1) = run_case(&p, seed)?;
        let (st2, h2) = run_case(&p, seed)?;
        prop_assert_eq!(st1, st2);
        prop_assert_eq!(h1, h2, "seed {}: the same inputs gave another history", seed);
    }
}

#[test]
fn another_seed_gives_another_history() {
    // A process with a decision and a user task: the seed decides the path.
    let text = crate::helpers::process("  - {id: d, kind: decision, branches: [{when: ok, next: a}], otherwise: {next: b}}\n  - {id: a, title: الف, mode: service, next: done}\n  - {id: b, title: ب, mode: service, next: done}\n");
    let p = check("s.yaml", &text).process.expect("valid");
    let histories: std::collections::BTreeSet<String> = (0..20u64)
        .map(|s| format!("{:?}", run_case(&p, s).expect("runs").1))
        .collect();
    assert!(histories.len() > 1, "every seed gave the same history");
}
