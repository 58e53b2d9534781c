//! A process as a Petri net in PNML (ISO/IEC 15909-2), for conformance
//! checking in PM4Py and ProM: replaying the event log of real or simulated
//! cases (`ravand export`, `ravand simulate --xes`) on the net that the
//! definition says.
//!
//! The net is the one the validator's state space explores: a place per
//! edge (a token on an edge waits to enter its target), a `source` place
//! with one token and a `sink` place that an end fills (the final marking).
//! Each step that counts (task, wait, receive, first-come choice,
//! subprocess) is one transition labelled with the step's id, the label the
//! exported log's `ravand:step` carries on its `complete` events of
//! `task_completed` and `step_completed`; gateways, starts and ends are
//! silent transitions. A step's interrupting timeout leaves by a silent
//! transition without the step's own (the runtime withdraws the work); a
//! first-come choice completes, then takes one of its arms.
//!
//! Exact for the control flow but for three constructs whose rule is not a
//! plain net's: an inclusive join fires on any non-empty set of its
//! branches (the runtime waits while a token can still reach another), a
//! partial join consumes any `needs` of its branches (the runtime also
//! withdraws the rest), and a terminate step leaves other tokens in place
//! (the runtime withdraws them). Replaying a log of such a process can show
//! tokens left over where the runtime was right.

use std::fmt::Write;

use crate::model::{EdgeIx, EdgeKind, Process, StepIx, StepKind};

/// A net under construction: places (id, name), transitions (id, label or
/// silent), arcs (from, to).
#[derive(Default)]
struct Net {
    places: Vec<(String, String)>,
    transitions: Vec<(String, Option<String>)>,
    arcs: Vec<(String, String)>,
}

impl Net {
    fn transition(&mut self, id: String, label: Option<String>, ins: &[String], outs: &[String]) {
        for i in ins {
            self.arcs.push((i.clone(), id.clone()));
        }
        for o in outs {
            self.arcs.push((id.clone(), o.clone()));
        }
        self.transitions.push((id, label));
    }
}

fn edge_place(e: EdgeIx) -> String {
    format!("e{}", e.0)
}

/// Every non-empty subset of `items` (of its first
/// [`crate::model::MAX_INCLUSIVE_BRANCHES`]), or those of `size` members.
fn subsets<T: Clone>(items: &[T], size: Option<usize>) -> Vec<Vec<T>> {
    let k = items.len().min(crate::model::MAX_INCLUSIVE_BRANCHES);
    (1u32..(1u32 << k))
        .filter(|m| size.is_none_or(|n| m.count_ones() as usize == n))
        .map(|m| (0..k).filter(|i| m & (1 << i) != 0).map(|i| items[i].clone()).collect())
        .collect()
}

fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// The place a step that takes one token at a time takes it from: the
/// source for a start, its one edge in, or a place of its own that each edge
/// in feeds by a silent transition (an exclusive merge).
fn input(net: &mut Net, p: &Process, s: StepIx) -> String {
    let step = p.step(s);
    match (step.kind, step.incoming.as_slice()) {
        (StepKind::Start, _) => "source".into(),
        (_, [e]) => edge_place(*e),
        (_, ins) => {
            let id = format!("in_{}", s.0);
            net.places.push((id.clone(), format!("→ {}", step.id)));
            for e in ins {
                net.transition(
                    format!("merge_{}_{}", s.0, e.0),
                    None,
                    &[edge_place(*e)],
                    std::slice::from_ref(&id),
                );
            }
            id
        }
    }
}

/// The process as PNML, with PM4Py's final marking (`sink`: one token).
pub fn pnml(p: &Process) -> String {
    let mut net = Net::default();
    net.places.push(("source".into(), "source".into()));
    net.places.push(("sink".into(), "sink".into()));
    for (i, e) in p.edges.iter().enumerate() {
        net.places.push((
            edge_place(EdgeIx(i as u32)),
            format!("{} → {}", p.step(e.from).id, p.step(e.to).id),
        ));
    }
    for (i, step) in p.steps.iter().enumerate() {
        let s = StepIx(i as u32);
        let outs: Vec<String> = step.outgoing.iter().map(|e| edge_place(*e)).collect();
        let t = |what: &str, n: usize| format!("t_{i}_{what}{n}");
        match step.kind {
            StepKind::Join | StepKind::InclusiveJoin => {
                let ins: Vec<String> = step.incoming.iter().map(|e| edge_place(*e)).collect();
                let sets = match (step.kind, step.needs()) {
                    (StepKind::Join, None) => vec![ins],
                    (StepKind::Join, Some(n)) => subsets(&ins, Some(n)),
                    _ => subsets(&ins, None),
                };
                for (n, set) in sets.iter().enumerate() {
                    net.transition(t("join", n), None, set, &outs);
                }
            }
            _ if step.incoming.is_empty() && step.kind != StepKind::Start => {}
            StepKind::Start | StepKind::Parallel => {
                let i = input(&mut net, p, s);
                net.transition(t("go", 0), None, &[i], &outs);
            }
            StepKind::End | StepKind::Terminate => {
                let i = input(&mut net, p, s);
                net.transition(t("end", 0), None, &[i], &["sink".to_owned()]);
            }
            StepKind::Decision => {
                let i = input(&mut net, p, s);
                for (n, o) in outs.iter().enumerate() {
                    net.transition(t("way", n), None, std::slice::from_ref(&i), std::slice::from_ref(o));
                }
            }
            StepKind::Inclusive => {
                let i = input(&mut net, p, s);
                let (branches, others): (Vec<&EdgeIx>, Vec<&EdgeIx>) = step
                    .outgoing
                    .iter()
                    .partition(|e| matches!(p.edge(**e).kind, EdgeKind::Branch { .. }));
                let branches: Vec<String> = branches.into_iter().map(|e| edge_place(*e)).collect();
                let mut n = 0;
                for set in subsets(&branches, None) {
                    net.transition(t("ways", n), None, std::slice::from_ref(&i), &set);
                    n += 1;
                }
                for o in others {
                    net.transition(t("ways", n), None, std::slice::from_ref(&i), &[edge_place(*o)]);
                    n += 1;
                }
            }
            StepKind::Task | StepKind::Wait | StepKind::Receive | StepKind::First | StepKind::Subprocess => {
                let i = input(&mut net, p, s);
                let timeout = step.timeout.map(|(_, e)| e);
                let normal: Vec<String> = step
                    .outgoing
                    .iter()
                    .filter(|e| Some(**e) != timeout)
                    .map(|e| edge_place(*e))
                    .collect();
                let label = Some(step.id.clone());
                if normal.len() == 1 {
                    net.transition(t("do", 0), label, std::slice::from_ref(&i), &normal);
                } else {
                    let done = format!("done_{i}");
                    net.places.push((done.clone(), format!("{} ✓", step.id)));
                    net.transition(t("do", 0), label, std::slice::from_ref(&i), std::slice::from_ref(&done));
                    for (n, o) in normal.iter().enumerate() {
                        net.transition(t("way", n), None, std::slice::from_ref(&done), std::slice::from_ref(o));
                    }
                }
                if let Some(e) = timeout {
                    net.transition(t("timeout", 0), None, &[i], &[edge_place(e)]);
                }
            }
        }
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<pnml>\n");
    let _ = writeln!(
        out,
        "  <net id=\"{}\" type=\"http://www.pnml.org/version-2009/grammar/ptnet\">\n    <name><text>{}</text></name>\n    <page id=\"page\">",
        esc(&p.id.0),
        esc(&p.title)
    );
    for (id, name) in &net.places {
        let _ = write!(out, "      <place id=\"{id}\"><name><text>{}</text></name>", esc(name));
        if id == "source" {
            out.push_str("<initialMarking><text>1</text></initialMarking>");
        }
        out.push_str("</place>\n");
    }
    for (id, label) in &net.transitions {
        match label {
            Some(l) => {
                let _ = writeln!(
                    out,
                    "      <transition id=\"{id}\"><name><text>{}</text></name></transition>",
                    esc(l)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "      <transition id=\"{id}\"><name><text>{id}</text></name><toolspecific tool=\"ProM\" version=\"6.4\" activity=\"$invisible$\" localNodeID=\"{id}\"/></transition>"
                );
            }
        }
    }
    for (n, (from, to)) in net.arcs.iter().enumerate() {
        let _ = writeln!(out, "      <arc id=\"a{n}\" source=\"{from}\" target=\"{to}\"/>");
    }
    out.push_str("    </page>\n    <finalmarkings>\n      <marking>\n        <place idref=\"sink\"><text>1</text></place>\n      </marking>\n    </finalmarkings>\n  </net>\n</pnml>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(yaml: &str) -> Process {
        let r = crate::validate::validate_source(
            crate::definition::SourceFile::new("t.yaml", yaml),
            &crate::model::CompileContext::default(),
            &crate::definition::Limits::default(),
        );
        r.process.unwrap_or_else(|| panic!("{:?}", r.diagnostics))
    }

    #[test]
    fn a_task_with_a_timeout_leaves_it_by_a_silent_transition() {
        let p = process(
            "id: t\nversion: 1\ntitle: T\nroles: [{id: r, title: R}]\nsteps:\n  - {id: start, kind: start}\n  - {id: a, title: A, performer: r, timeout: {after: 2 days, next: late}}\n  - {id: done, kind: end}\n  - {id: late, kind: end}\n",
        );
        let x = pnml(&p);
        assert_eq!(x.matches("<transition ").count(), 5, "{x}");
        assert_eq!(x.matches("$invisible$").count(), 4, "{x}");
        assert!(x.contains("<name><text>a</text></name></transition>"), "{x}");
        assert!(x.contains("<place id=\"sink\""));
        assert!(x.contains("<initialMarking><text>1</text></initialMarking>"));
    }

    #[test]
    fn a_parallel_split_and_join_are_one_silent_transition_each() {
        let p = process(
            "id: t\nversion: 1\ntitle: T\nroles: [{id: r, title: R}]\nsteps:\n  - {id: start, kind: start}\n  - {id: split, kind: parallel, next: [a, b]}\n  - {id: a, title: A, performer: r, next: join}\n  - {id: b, title: B, performer: r, next: join}\n  - {id: join, kind: join}\n  - {id: done, kind: end}\n",
        );
        let x = pnml(&p);
        let split = x.lines().filter(|l| l.contains("source=\"t_1_go0\"")).count();
        let join = x.lines().filter(|l| l.contains("target=\"t_4_join0\"")).count();
        assert_eq!((split, join), (2, 2), "{x}");
    }
}
