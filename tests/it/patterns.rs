//! The workflow patterns (Russell, ter Hofstede, van der Aalst, Mulyar 2006)
//! Ravand claims, each proved by a small definition under
//! `tests/fixtures/patterns/` run to a known history; and the README's table
//! of all 43 held to those runs: a row marked supported (or partly) names a
//! fixture that is run here, and every fixture has its row.

use std::collections::BTreeSet;

use ravand_engine::model::Process;
use ravand_engine::runtime::{self, Command, Data, Event, EventKind, Input, Instance, Internal, Status};
use ravand_engine::time::{Timestamp, WorkCalendar};

use crate::helpers::{check, rendered, root};

const T0: Timestamp = Timestamp(1_767_225_600); // 2026-01-01T00:00:00Z

/// One thing done to a case.
#[derive(Debug, Clone, Copy)]
enum Act {
    /// Completes the open task at this step, with these outputs (JSON).
    Complete(&'static str, &'static str),
    /// A message arrives that a step of the case waits for.
    Message(&'static str),
    /// A message arrives that nothing waits for: refused, nothing changes.
    Refused(&'static str),
    /// An hour later; and the earliest timer, when one is due by then.
    Tick,
    /// No task is open at this step (it was never opened, or withdrawn).
    Gone(&'static str),
    /// No timer is pending.
    NoTimers,
    /// The case is cancelled from outside.
    Cancel,
    /// The case is still running here.
    Running,
    /// Instances are added to the task with multiple instances at this step
    /// (items as a JSON list).
    Add(&'static str, &'static str),
    /// Exactly this many tasks are open at this step.
    Open(&'static str, usize),
    /// A case variable holds this value (JSON).
    Holds(&'static str, &'static str),
    /// A manager sets case data (JSON object).
    Set(&'static str),
}

/// A fixture run: its start data, what is done, and what must come of it.
struct Run {
    file: &'static str,
    start: &'static str,
    acts: &'static [Act],
    /// The work steps completed, in order.
    path: &'static [&'static str],
    status: Status,
    outcome: Option<&'static str>,
}

use Act::*;

const RUNS: &[Run] = &[
    Run {
        file: "wcp01-sequence.yaml",
        start: "{}",
        acts: &[Complete("a", "{}"), Complete("b", "{}")],
        path: &["a", "b"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        file: "wcp02-parallel-split-and-synchronization.yaml",
        start: "{}",
        acts: &[Complete("b", "{}"), Running, Complete("a", "{}"), Complete("c", "{}")],
        path: &["b", "a", "c"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        file: "wcp04-exclusive-choice-and-simple-merge.yaml",
        start: r#"{"x": false}"#,
        acts: &[Complete("b", "{}"), Complete("merged", "{}")],
        path: &["b", "merged"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        file: "wcp06-multi-choice-and-synchronizing-merge.yaml",
        start: r#"{"x": true, "y": true}"#,
        acts: &[Complete("b", "{}"), Running, Complete("a", "{}"), Complete("d", "{}")],
        path: &["b", "a", "d"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        file: "wcp06-multi-choice-and-synchronizing-merge.yaml",
        start: r#"{"x": false, "y": true}"#,
        acts: &[Complete("b", "{}"), Complete("d", "{}")],
        path: &["b", "d"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        file: "wcp10-arbitrary-cycles.yaml",
        start: r#"{"x": false}"#,
        acts: &[
            Complete("b", r#"{"again": true}"#),
            Complete("a", "{}"),
            Complete("b", r#"{"again": false}"#),
        ],
        path: &["b", "a", "b"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        file: "wcp13-multiple-instances-design-time.yaml",
        start: "{}",
        acts: &[
            Open("review", 3),
            Complete("review", "{}"),
            Complete("review", "{}"),
            Open("review", 1),
            Gone("decide"),
            Complete("review", "{}"),
            Complete("decide", "{}"),
        ],
        path: &["review", "decide"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        file: "wcp14-multiple-instances-run-time.yaml",
        start: r#"{"bodies": ["water", "power"]}"#,
        acts: &[
            Open("inquire", 2),
            Complete("inquire", r#"{"answer": "objection"}"#),
            Running,
            Complete("inquire", r#"{"answer": "no-objection"}"#),
            Holds(
                "answers",
                r#"[{"body": "water", "answer": "objection"}, {"body": "power", "answer": "no-objection"}]"#,
            ),
            Complete("decide", "{}"),
        ],
        path: &["inquire", "decide"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        // A case that names no body goes straight on.
        file: "wcp14-multiple-instances-run-time.yaml",
        start: r#"{"bodies": []}"#,
        acts: &[Open("inquire", 0), Holds("answers", "[]"), Complete("decide", "{}")],
        path: &["inquire", "decide"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        file: "wcp15-multiple-instances-no-a-priori.yaml",
        start: r#"{"bodies": ["water", "power"]}"#,
        acts: &[
            Open("inquire", 1),
            Complete("inquire", r#"{"answer": "w"}"#),
            Add("inquire", r#"["gas"]"#),
            Open("inquire", 1),
            Complete("inquire", r#"{"answer": "p"}"#),
            Complete("inquire", r#"{"answer": "g"}"#),
            Holds("bodies", r#"["water", "power", "gas"]"#),
            Holds(
                "answers",
                r#"[{"body": "water", "answer": "w"}, {"body": "power", "answer": "p"}, {"body": "gas", "answer": "g"}]"#,
            ),
            Complete("decide", "{}"),
        ],
        path: &["inquire", "decide"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        // One of three has reviewed when the head says that is enough: the
        // other two reviews are withdrawn with their deadlines.
        file: "wcp27-complete-multiple-instance-activity.yaml",
        start: r#"{"members": ["a", "b", "c"], "enough": false}"#,
        acts: &[
            Complete("review", "{}"),
            Set(r#"{"enough": false}"#),
            Open("review", 2),
            Set(r#"{"enough": true}"#),
            Gone("review"),
            NoTimers,
            Holds("reviews", r#"[{"member": "a"}]"#),
            Complete("decide", "{}"),
        ],
        path: &["review", "decide"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        // Two days pass with one of three answered: the two still open are
        // withdrawn with their deadlines.
        file: "wcp26-cancel-multiple-instance-activity.yaml",
        start: r#"{"bodies": ["water", "power", "gas"]}"#,
        acts: &[
            Complete("inquire", "{}"),
            Tick,
            Open("inquire", 2),
            Tick,
            Tick,
            Gone("inquire"),
            NoTimers,
            Complete("lapse", "{}"),
        ],
        path: &["lapse"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        file: "wcp35-cancelling-partial-join-multiple-instances.yaml",
        start: r#"{"bodies": ["water", "power", "gas", "fire", "heritage"]}"#,
        acts: &[
            Open("inquire", 5),
            Complete("inquire", r#"{"answer": "a"}"#),
            Complete("inquire", r#"{"answer": "b"}"#),
            Open("inquire", 3),
            Complete("inquire", r#"{"answer": "c"}"#),
            Gone("inquire"),
            NoTimers,
            Holds(
                "answers",
                r#"[{"body": "water", "answer": "a"}, {"body": "power", "answer": "b"}, {"body": "gas", "answer": "c"}]"#,
            ),
            Complete("decide", "{}"),
        ],
        path: &["inquire", "decide"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        file: "wcp36-dynamic-partial-join-multiple-instances.yaml",
        start: r#"{"bodies": ["water", "power"]}"#,
        acts: &[
            Complete("inquire", r#"{"objects": false}"#),
            Add("inquire", r#"["heritage", "fire"]"#),
            Open("inquire", 3),
            Complete("inquire", r#"{"objects": true}"#),
            Gone("inquire"),
            Holds(
                "answers",
                r#"[{"body": "water", "objects": false}, {"body": "power", "objects": true}]"#,
            ),
            Complete("decide", "{}"),
        ],
        path: &["inquire", "decide"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        file: "wcp16-deferred-choice.yaml",
        start: "{}",
        acts: &[Message("payment"), Refused("defence"), Complete("close", "{}")],
        path: &["whichever", "close"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        file: "wcp16-deferred-choice.yaml",
        start: "{}",
        acts: &[Tick, Message("defence"), Complete("hear", "{}")],
        path: &["whichever", "hear"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        // Ten days pass: the timer comes first; both messages are withdrawn.
        file: "wcp16-deferred-choice.yaml",
        start: "{}",
        acts: &[
            Tick,
            Tick,
            Tick,
            Tick,
            Tick,
            Tick,
            Tick,
            Tick,
            Tick,
            Tick,
            Tick,
            Refused("defence"),
            Refused("payment"),
            Complete("lapse", "{}"),
        ],
        path: &["whichever", "lapse"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        file: "wcp19-cancel-task.yaml",
        start: "{}",
        acts: &[Tick, Tick, Tick, Complete("late", "{}")],
        path: &["late"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        file: "wcp20-cancel-case.yaml",
        start: "{}",
        acts: &[Running, Cancel, Refused("reply")],
        path: &[],
        status: Status::Cancelled,
        outcome: None,
    },
    Run {
        file: "wcp21-structured-loop.yaml",
        start: "{}",
        acts: &[
            Complete("a", r#"{"again": true}"#),
            Complete("a", r#"{"again": true}"#),
            Complete("a", r#"{"again": false}"#),
        ],
        path: &["a", "a", "a"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        file: "wcp23-transient-trigger.yaml",
        start: "{}",
        acts: &[Refused("reply"), Complete("a", "{}"), Running, Message("reply")],
        path: &["a", "r"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        // `b` is first: `a`'s task and the awaited reply are withdrawn.
        file: "wcp29-cancelling-discriminator.yaml",
        start: "{}",
        acts: &[Complete("b", "{}"), Gone("a"), Refused("reply"), Complete("d", "{}")],
        path: &["b", "d"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        // The reply is first: both tasks are withdrawn.
        file: "wcp29-cancelling-discriminator.yaml",
        start: "{}",
        acts: &[Message("reply"), Gone("a"), Gone("b"), Complete("d", "{}")],
        path: &["c", "d"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        // Water and power answer: gas's timer is withdrawn, and so is
        // nothing else (water's deadline went with its task).
        file: "wcp32-cancelling-partial-join.yaml",
        start: "{}",
        acts: &[
            Complete("water", "{}"),
            Running,
            Message("power-reply"),
            NoTimers,
            Complete("decide", "{}"),
        ],
        path: &["water", "power", "decide"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        // Two days pass: gas's wait ends and power replies; water's task is
        // withdrawn with its deadline.
        file: "wcp32-cancelling-partial-join.yaml",
        start: "{}",
        acts: &[
            Tick,
            Running,
            Tick,
            Message("power-reply"),
            Gone("water"),
            NoTimers,
            Complete("decide", "{}"),
        ],
        path: &["gas", "power", "decide"],
        status: Status::Completed,
        outcome: Some("done"),
    },
    Run {
        file: "wcp43-explicit-termination.yaml",
        start: "{}",
        acts: &[Complete("a", "{}")],
        path: &["a"],
        status: Status::Terminated,
        outcome: Some("stopped"),
    },
];

fn load(file: &str) -> Process {
    let path = root().join("tests/fixtures/patterns").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let r = check(file, &text);
    assert!(r.diagnostics.is_empty(), "{file}:\n{}", rendered(&r));
    r.process.unwrap_or_else(|| panic!("{file} does not compile"))
}

fn data(json: &str) -> Data {
    serde_json::from_str(json).expect("a JSON object")
}

/// Runs one fixture: every act applied to the pure runtime, the invariants
/// and replay checked after each.
fn play(run: &Run) {
    let p = load(run.file);
    let cal = WorkCalendar::always();
    let mut now = T0;
    let mut history: Vec<Event> = Vec::new();
    let mut st = runtime::start(&p, &cal, data(run.start), None, now, &mut history).expect("the case starts");
    let what = |i: usize| format!("{} act {i} ({:?})", run.file, run.acts.get(i));
    for (i, act) in run.acts.iter().enumerate() {
        let input: Input = match *act {
            Complete(step, outputs) => {
                let task = st
                    .tasks
                    .iter()
                    .find(|t| p.step(t.step).id == step)
                    .unwrap_or_else(|| panic!("{}: no open task at `{step}`", what(i)));
                Command::Complete {
                    task: task.id,
                    by: None,
                    outputs: data(outputs),
                }
                .into()
            }
            Message(name) | Refused(name) => {
                let sub = st.subscriptions.iter().find(|s| s.message == name);
                match (act, sub) {
                    (Message(_), Some(s)) => Internal::Deliver {
                        sub: s.id,
                        data: Data::new(),
                        by: None,
                    }
                    .into(),
                    (Message(_), None) => panic!("{}: nothing waits for `{name}`", what(i)),
                    (_, None) => continue,
                    (_, Some(_)) => panic!("{}: `{name}` is still awaited", what(i)),
                }
            }
            Tick => {
                now = now.plus_seconds(86_400);
                match st.due_timers(now).first() {
                    Some(&timer) => Internal::FireTimer { timer }.into(),
                    None => continue,
                }
            }
            Gone(step) => {
                let open = st.tasks.iter().any(|t| p.step(t.step).id == step);
                assert!(!open, "{}: a task is still open at `{step}`", what(i));
                continue;
            }
            NoTimers => {
                assert!(st.timers.is_empty(), "{}: timers pending: {:?}", what(i), st.timers);
                continue;
            }
            Cancel => Command::Cancel { by: None, reason: None }.into(),
            Running => {
                assert_eq!(st.status, Status::Running, "{}", what(i));
                continue;
            }
            Add(step, items) => Command::AddInstances {
                step: step.to_owned(),
                items: serde_json::from_str(items).expect("a JSON list"),
                by: None,
            }
            .into(),
            Open(step, n) => {
                let open = st.tasks.iter().filter(|t| p.step(t.step).id == step).count();
                assert_eq!(open, n, "{}: tasks open at `{step}`", what(i));
                continue;
            }
            Set(values) => Command::SetData {
                values: data(values),
                by: None,
            }
            .into(),
            Holds(var, json) => {
                let want: serde_json::Value = serde_json::from_str(json).expect("JSON");
                assert_eq!(st.data.get(var), Some(&want), "{}: `{var}`", what(i));
                continue;
            }
        };
        runtime::handle(&p, &cal, &mut st, input, now, &mut history).unwrap_or_else(|e| panic!("{}: {e}", what(i)));
        st.check_invariants().unwrap_or_else(|e| panic!("{}: {e}", what(i)));
        assert_eq!(runtime::replay(&history), st, "{}: replay", what(i));
    }
    let path: Vec<&str> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepCompleted { step, .. } if p.step(*step).counts() => Some(p.step(*step).id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(path, run.path, "{}: the steps done", run.file);
    assert_eq!(st.status, run.status, "{}", run.file);
    assert_eq!(st.outcome.as_deref(), run.outcome, "{}", run.file);
    finished_holds_nothing(&st, run.file);
}

fn finished_holds_nothing(st: &Instance, file: &str) {
    if st.status.is_finished() {
        assert!(
            st.tokens.is_empty() && st.tasks.is_empty() && st.timers.is_empty() && st.subscriptions.is_empty(),
            "{file}: a finished case holds nothing open: {st:?}"
        );
    }
}

#[test]
fn every_claimed_pattern_runs_to_its_known_history() {
    for run in RUNS {
        play(run);
    }
}

/// The README's rows: (number, support, fixture named).
fn readme_rows() -> Vec<(u32, String, Option<String>)> {
    let text = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let start = text
        .find("<!-- patterns -->")
        .expect("the README has a patterns table after `<!-- patterns -->`");
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with("| 1 |"))
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let n = cells[1].parse().unwrap_or_else(|_| panic!("row `{l}`"));
            let fixture = cells[4].split('`').find(|c| c.ends_with(".yaml")).map(str::to_owned);
            (n, cells[3].to_owned(), fixture)
        })
        .collect()
}

#[test]
fn the_readme_table_claims_what_the_fixtures_prove() {
    let rows = readme_rows();
    let numbers: Vec<u32> = rows.iter().map(|r| r.0).collect();
    assert_eq!(numbers, (1..=43).collect::<Vec<_>>(), "one row per pattern, in order");
    let run: BTreeSet<&str> = RUNS.iter().map(|r| r.file).collect();
    let mut named = BTreeSet::new();
    for (n, support, fixture) in &rows {
        match support.as_str() {
            "yes" | "partly" => {
                let f = fixture
                    .as_deref()
                    .unwrap_or_else(|| panic!("pattern {n} is claimed without a fixture"));
                assert!(run.contains(f), "pattern {n}: `{f}` is not run by this test");
                named.insert(f.to_owned());
            }
            "no" => assert!(fixture.is_none(), "pattern {n} is not supported but names a fixture"),
            other => panic!("pattern {n}: support `{other}` is not yes, partly or no"),
        }
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(root().join("tests/fixtures/patterns"))
        .expect("the fixtures")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        named, on_disk,
        "every fixture has its row, and every row's fixture exists"
    );
    let yes = rows.iter().filter(|r| r.1 == "yes").count();
    let partly = rows.iter().filter(|r| r.1 == "partly").count();
    let line = format!("{yes} supported directly and {partly} partly");
    let text = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    assert!(text.contains(&line), "the README's count says `{line}`");
}
