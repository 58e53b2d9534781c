//! Counting what a process asks of citizens and staff.
//!
//! Owns: step counts by kind, tag, value class and role; handoffs between
//! roles; the fewest and most steps a case can go through; the figures of
//! [`Measures`], whose JSON keys are stable.
//!
//! Must not: change the process or run it. Every figure comes from what is
//! modelled; nothing is typed in.
//!
//! What counts as a step: the work a case goes through — tasks, waits,
//! receives and subprocess calls. Starts, decisions, splits, joins and ends
//! are routing, not steps.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Process, StepKind, Tag, TaskMode};
use crate::validate::next_counted;
use crate::validate::statespace::{self, Loops};

/// The figures of one process. Keys are stable; see the README.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Measures {
    /// The process id.
    pub process: String,
    /// Its version.
    pub version: u32,
    /// Its title.
    pub title: String,
    /// Steps a case can go through (tasks, waits, receives, subprocesses).
    pub steps: u32,
    /// `task`, `wait`, `receive`, `subprocess`.
    pub steps_by_kind: BTreeMap<&'static str, u32>,
    /// Tasks by mode: `user`, `service`, `manual`.
    pub tasks_by_mode: BTreeMap<&'static str, u32>,
    /// Every tag, with 0 where none.
    pub steps_by_tag: BTreeMap<&'static str, u32>,
    /// `value-adding`, `business-required`, `non-value-adding`, `unclassified`.
    pub steps_by_value: BTreeMap<&'static str, u32>,
    /// Role id → steps performed; tasks without a performer under `(none)`.
    pub steps_by_role: BTreeMap<String, u32>,
    /// Routing steps: decisions, splits and joins.
    pub gateways: u32,
    /// Pairs of consecutive steps (looking through gateways) done by different roles.
    pub handoffs: u32,
    /// Distinct roles that perform steps.
    pub roles_involved: u32,
    /// Tagged `discretionary`: the "golden signatures".
    pub discretionary: u32,
    /// Steps tagged `signature`.
    pub signatures: u32,
    /// Steps tagged `approval`.
    pub approvals: u32,
    /// Steps with a deadline.
    pub with_deadline: u32,
    /// Tasks with multiple instances (each counted once among `steps`;
    /// a case works one task per instance there).
    #[serde(skip_serializing_if = "is_zero")]
    pub multi_instance: u32,
    /// Fewest and most steps one case goes through.
    pub path: PathFigures,
    /// The outcomes of the end steps, sorted.
    pub outcomes: Vec<String>,
}

/// Steps per case, counting every branch of a parallel part.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PathFigures {
    /// The fewest steps a case can finish with.
    pub fewest_steps: u32,
    /// The most, when each loop is gone round at most once more.
    pub most_steps: u32,
    /// Loops in the process (edges that go back).
    pub loops: u32,
    /// False when the process was too large to explore fully; the figures
    /// are then `0`.
    pub exact: bool,
    /// The same figures for each outcome (`issued`, `rejected`, …).
    pub by_outcome: BTreeMap<String, Span>,
}

/// Fewest and most steps.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Span {
    /// Counted steps on the shortest way through.
    pub fewest_steps: u32,
    /// Counted steps on the longest way through (each loop once).
    pub most_steps: u32,
}

/// Measures a valid process.
pub fn measure(p: &Process) -> Measures {
    let mut by_kind = BTreeMap::new();
    let mut by_mode = BTreeMap::new();
    let mut by_tag: BTreeMap<&'static str, u32> = Tag::ALL.iter().map(|t| (t.name(), 0)).collect();
    let mut by_value = BTreeMap::new();
    for v in ["value-adding", "business-required", "non-value-adding", "unclassified"] {
        by_value.insert(v, 0);
    }
    let mut by_role: BTreeMap<String, u32> = BTreeMap::new();
    let (mut steps, mut gateways, mut with_deadline, mut multi_instance) = (0, 0, 0, 0);
    let mut outcomes = Vec::new();
    for st in &p.steps {
        if st.is_gateway() {
            gateways += 1;
        }
        if let (StepKind::End | StepKind::Terminate, Some(o)) = (st.kind, st.outcome()) {
            outcomes.push(o.to_owned());
        }
        if !st.counts() {
            continue;
        }
        steps += 1;
        *by_kind.entry(st.kind.name()).or_insert(0) += 1;
        if st.kind == StepKind::Task {
            let mode = match st.mode() {
                TaskMode::User => "user",
                TaskMode::Service => "service",
                TaskMode::Manual => "manual",
            };
            *by_mode.entry(mode).or_insert(0) += 1;
            let role = st
                .performer()
                .map_or_else(|| "(none)".to_owned(), |r| p.role(r).id.clone());
            *by_role.entry(role).or_insert(0) += 1;
        }
        for t in st.tags.iter() {
            *by_tag.entry(t.name()).or_insert(0) += 1;
        }
        *by_value
            .entry(st.value.map_or("unclassified", |v| v.name()))
            .or_insert(0) += 1;
        with_deadline += u32::from(st.deadline.is_some());
        multi_instance += u32::from(st.each().is_some());
    }
    outcomes.sort();
    outcomes.dedup();

    let mut handoffs = 0;
    for s in p.step_ixs() {
        let Some(r) = p.step(s).performer() else { continue };
        if !p.step(s).counts() {
            continue;
        }
        for t in next_counted(p, s) {
            if p.step(t).performer().is_some_and(|r2| r2 != r) {
                handoffs += 1;
            }
        }
    }

    Measures {
        process: p.id.0.clone(),
        version: p.version,
        title: p.title.clone(),
        steps,
        steps_by_kind: by_kind,
        tasks_by_mode: by_mode,
        discretionary: by_tag["discretionary"],
        signatures: by_tag["signature"],
        approvals: by_tag["approval"],
        steps_by_tag: by_tag,
        steps_by_value: by_value,
        roles_involved: by_role.keys().filter(|k| *k != "(none)").count() as u32,
        steps_by_role: by_role,
        gateways,
        handoffs,
        with_deadline,
        multi_instance,
        path: path_figures(p, 500_000),
        outcomes,
    }
}

/// Fewest and most counted steps from the start to a proper finish, over the
/// acyclic state graph in which each loop may be taken at most once.
pub fn path_figures(p: &Process, max_states: usize) -> PathFigures {
    path_figures_with(p, max_states, true)
}

/// [`path_figures`] with chain agglomeration on or off (for tests).
pub fn path_figures_with(p: &Process, max_states: usize, agglomerate: bool) -> PathFigures {
    let g = statespace::explore_with(p, Loops::AtMostOnce, max_states, agglomerate);
    let loops = g.back_edges.len() as u32;
    if g.truncated || g.finals.is_empty() {
        return PathFigures {
            fewest_steps: 0,
            most_steps: 0,
            loops,
            exact: false,
            by_outcome: BTreeMap::new(),
        };
    }
    let n = g.states.len();
    // Kahn's order over the acyclic state graph, then relax forward.
    let mut indeg = vec![0u32; n];
    let mut out: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n];
    for mv in &g.moves {
        indeg[mv.to as usize] += 1;
        out[mv.from as usize].push((mv.to, mv.weight));
    }
    let mut lo = vec![u32::MAX; n];
    let mut hi = vec![0u32; n];
    let mut reached = vec![false; n];
    lo[0] = g.initial_weight;
    hi[0] = g.initial_weight;
    reached[0] = true;
    let mut queue: Vec<u32> = (0..n as u32).filter(|&s| indeg[s as usize] == 0).collect();
    while let Some(s) = queue.pop() {
        let s = s as usize;
        for &(t, w) in &out[s] {
            let t = t as usize;
            if reached[s] {
                lo[t] = lo[t].min(lo[s] + w);
                hi[t] = hi[t].max(hi[s] + w);
                reached[t] = true;
            }
            indeg[t] -= 1;
            if indeg[t] == 0 {
                queue.push(t as u32);
            }
        }
    }
    let finals: Vec<usize> = g.finals.iter().map(|&f| f as usize).filter(|&f| reached[f]).collect();
    let mut by_outcome: BTreeMap<String, Span> = BTreeMap::new();
    for mv in &g.moves {
        let (from, to) = (mv.from as usize, mv.to as usize);
        if !reached[from] || !g.states[to].0.is_empty() {
            continue;
        }
        let outcome = p
            .step(mv.step)
            .outcome()
            .map(str::to_owned)
            .unwrap_or_else(|| "(none)".to_owned());
        let (a, b) = (lo[from] + mv.weight, hi[from] + mv.weight);
        let e = by_outcome.entry(outcome).or_insert(Span {
            fewest_steps: a,
            most_steps: b,
        });
        e.fewest_steps = e.fewest_steps.min(a);
        e.most_steps = e.most_steps.max(b);
    }
    PathFigures {
        fewest_steps: finals.iter().map(|&f| lo[f]).min().unwrap_or(0),
        most_steps: finals.iter().map(|&f| hi[f]).max().unwrap_or(0),
        loops,
        exact: !finals.is_empty(),
        by_outcome,
    }
}

/// Renders the figures as a short text table.
pub fn to_text(m: &Measures) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "{} (v{}) — {}", m.process, m.version, m.title);
    let _ = writeln!(s, "  steps                 {}", m.steps);
    let kinds: Vec<String> = m.steps_by_kind.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(s, "    by kind             {}", kinds.join(", "));
    let _ = writeln!(s, "  fewest steps a case  {}", m.path.fewest_steps);
    let _ = writeln!(
        s,
        "  most steps a case    {} (each of {} loops at most once more)",
        m.path.most_steps, m.path.loops
    );
    for (o, span) in &m.path.by_outcome {
        let _ = writeln!(s, "    to {o:<17} {} to {} steps", span.fewest_steps, span.most_steps);
    }
    let _ = writeln!(s, "  discretionary        {}", m.discretionary);
    let _ = writeln!(s, "  signatures           {}", m.signatures);
    let _ = writeln!(s, "  approvals            {}", m.approvals);
    let _ = writeln!(s, "  handoffs             {}", m.handoffs);
    let _ = writeln!(s, "  roles involved       {}", m.roles_involved);
    let _ = writeln!(s, "  gateways             {}", m.gateways);
    let _ = writeln!(s, "  with a deadline      {}", m.with_deadline);
    if m.multi_instance > 0 {
        let _ = writeln!(s, "  multiple instances   {} (one step each)", m.multi_instance);
    }
    let tags: Vec<String> = m
        .steps_by_tag
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(s, "  by tag               {}", tags.join(", "));
    let vals: Vec<String> = m
        .steps_by_value
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(s, "  by value             {}", vals.join(", "));
    let mut roles: Vec<(&String, &u32)> = m.steps_by_role.iter().collect();
    roles.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let roles: Vec<String> = roles.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(s, "  by role              {}", roles.join(", "));
    let _ = writeln!(s, "  outcomes             {}", m.outcomes.join(", "));
    s
}

/// The share of a step's visits an edge carries: its branch probability
/// (spread evenly over a decision's ways when none is given), `inclusive`
/// for an inclusive branch without one, 0 for a timeout, 1 otherwise.
fn edge_share(p: &Process, e: crate::model::EdgeIx, inclusive: f64) -> f64 {
    use crate::model::EdgeKind;
    let edge = p.edge(e);
    let from = p.step(edge.from);
    match (&edge.kind, from.kind) {
        (EdgeKind::Timeout, _) => 0.0,
        (k, StepKind::Decision | StepKind::First) => {
            let ways = from
                .outgoing
                .iter()
                .filter(|x| !matches!(p.edge(**x).kind, EdgeKind::Timeout))
                .count()
                .max(1);
            k.probability().unwrap_or(1.0 / ways as f64)
        }
        (k, StepKind::Inclusive) => k.probability().unwrap_or(inclusive),
        _ => 1.0,
    }
}

/// Expected number of times each step runs in one case: a decision sends
/// its visits along its branches by their probabilities (evenly where none
/// are given; an inclusive branch without one counts a half), a parallel
/// split along every branch, and a join of either kind runs as often as its
/// busiest input; timeouts are taken as not firing. A loop taken again with
/// probability p is so counted 1/(1−p) times. Found by fixed-point iteration
/// (bounded).
pub fn expected_visits(p: &Process) -> Vec<f64> {
    let n = p.steps.len();
    let mut visits = vec![0.0f64; n];
    for _ in 0..10_000 {
        let mut next = vec![0.0f64; n];
        for s in p.step_ixs() {
            let st = p.step(s);
            let flows = st
                .incoming
                .iter()
                .map(|e| visits[p.edge(*e).from.ix()] * edge_share(p, *e, 0.5));
            next[s.ix()] = match st.kind {
                StepKind::Start => 1.0,
                StepKind::Join | StepKind::InclusiveJoin => flows.fold(0.0, f64::max),
                _ => flows.sum(),
            };
        }
        let diff: f64 = next.iter().zip(&visits).map(|(a, b)| (a - b).abs()).sum();
        visits = next;
        if diff < 1e-12 {
            break;
        }
    }
    visits
}

/// Expected steps a case goes through (probability-weighted).
pub fn expected_steps(p: &Process) -> f64 {
    let v = expected_visits(p);
    p.step_ixs().filter(|s| p.step(*s).counts()).map(|s| v[s.ix()]).sum()
}

/// One line of a comparison.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change {
    /// What is measured.
    pub figure: String,
    /// Before.
    pub old: f64,
    /// After.
    pub new: f64,
    /// The change in percent of the old figure (`null` when the old is 0).
    pub percent: Option<f64>,
}

impl Change {
    /// A figure before and after, with its change.
    pub fn new(figure: &str, old: f64, new: f64) -> Change {
        Change {
            figure: figure.to_owned(),
            old,
            new,
            percent: (old != 0.0).then(|| (new - old) / old * 100.0),
        }
    }
}

/// What a reform changes, from the models alone.
pub fn compare(old: &Process, new: &Process) -> Vec<Change> {
    let (a, b) = (measure(old), measure(new));
    let mut v = vec![
        Change::new("steps", f64::from(a.steps), f64::from(b.steps)),
        Change::new("expected steps per case", expected_steps(old), expected_steps(new)),
        Change::new("expected days (analytical)", expected_days(old), expected_days(new)),
    ];
    for tag in [
        "approval",
        "signature",
        "discretionary",
        "inspection",
        "payment",
        "citizen-visit",
        "inquiry",
    ] {
        v.push(Change::new(
            &format!("{tag} steps"),
            f64::from(a.steps_by_tag[tag]),
            f64::from(b.steps_by_tag[tag]),
        ));
    }
    v.push(Change::new("handoffs", f64::from(a.handoffs), f64::from(b.handoffs)));
    v.push(Change::new(
        "roles involved",
        f64::from(a.roles_involved),
        f64::from(b.roles_involved),
    ));
    v.push(Change::new(
        "fewest steps a case",
        f64::from(a.path.fewest_steps),
        f64::from(b.path.fewest_steps),
    ));
    v.push(Change::new(
        "most steps a case",
        f64::from(a.path.most_steps),
        f64::from(b.path.most_steps),
    ));
    v
}

/// A comparison as a text table.
pub fn compare_text(old: &str, new: &str, rows: &[Change]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "{:<28} {:>12} {:>12} {:>9}", "", old, new, "change");
    for r in rows {
        let pct = r.percent.map_or("-".to_owned(), |p| format!("{p:+.1}%"));
        let fmt = |x: f64| {
            if x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.2}")
            }
        };
        let _ = writeln!(s, "{:<28} {:>12} {:>12} {:>9}", r.figure, fmt(r.old), fmt(r.new), pct);
    }
    s
}

/// Mean duration of a step in approximate calendar days (a working day
/// counts 1.4 calendar days, see `Duration::approx_days`); routing steps and
/// waits for a fixed date count 0.
fn mean_days(p: &Process, s: crate::model::StepIx) -> f64 {
    let st = p.step(s);
    if let Some(crate::model::WaitFor::Duration(d)) = st.wait() {
        return d.approx_days();
    }
    st.duration.as_ref().map_or(0.0, |d| d.mean_approx_days())
}

/// The join where the branches of a split meet: the first join (in
/// breadth-first order) that every branch reaches.
fn matching_join(p: &Process, split: crate::model::StepIx) -> Option<crate::model::StepIx> {
    let reach = |from: crate::model::StepIx| {
        let mut seen = vec![false; p.steps.len()];
        let mut order = Vec::new();
        let mut todo = std::collections::VecDeque::from([from]);
        while let Some(s) = todo.pop_front() {
            if std::mem::replace(&mut seen[s.ix()], true) {
                continue;
            }
            order.push(s);
            todo.extend(p.step(s).outgoing.iter().map(|e| p.edge(*e).to));
        }
        (seen, order)
    };
    let branches: Vec<_> = p.step(split).outgoing.iter().map(|e| reach(p.edge(*e).to)).collect();
    let (_, first_order) = branches.first()?;
    first_order.iter().copied().find(|s| {
        matches!(p.step(*s).kind, StepKind::Join | StepKind::InclusiveJoin)
            && branches.iter().all(|(seen, _)| seen[s.ix()])
    })
}

/// Each split's cost (its slowest branch to its join) and join, computed
/// once; `None` while being computed, so a split met again inside its own
/// region counts as plain flow.
type Blocks = std::collections::HashMap<crate::model::StepIx, Option<(f64, crate::model::StepIx)>>;

fn block(p: &Process, s: crate::model::StepIx, memo: &mut Blocks) -> Option<(f64, crate::model::StepIx)> {
    if let Some(v) = memo.get(&s) {
        return *v;
    }
    memo.insert(s, None);
    let j = matching_join(p, s)?;
    let inner = remaining_days(p, Some(j), memo);
    let slowest = p
        .step(s)
        .outgoing
        .iter()
        .map(|e| inner[p.edge(*e).to.ix()])
        .fold(0.0, f64::max);
    memo.insert(s, Some((slowest, j)));
    Some((slowest, j))
}

/// Expected days from entering each step until reaching `until` (or the
/// end): first-step analysis, solved by bounded fixed-point iteration.
fn remaining_days(p: &Process, until: Option<crate::model::StepIx>, memo: &mut Blocks) -> Vec<f64> {
    let n = p.steps.len();
    let blocks: Vec<Option<(f64, crate::model::StepIx)>> = p
        .step_ixs()
        .map(|s| {
            if matches!(p.step(s).kind, StepKind::Parallel | StepKind::Inclusive) {
                block(p, s, memo)
            } else {
                None
            }
        })
        .collect();
    let mut e = vec![0.0f64; n];
    for _ in 0..100_000 {
        let mut next = vec![0.0f64; n];
        for s in p.step_ixs() {
            let st = p.step(s);
            if Some(s) == until || matches!(st.kind, StepKind::End | StepKind::Terminate) {
                continue;
            }
            next[s.ix()] = mean_days(p, s)
                + match blocks[s.ix()] {
                    Some((slowest, j)) => slowest + e[j.ix()],
                    _ => st
                        .outgoing
                        .iter()
                        .map(|x| edge_share(p, *x, 1.0) * e[p.edge(*x).to.ix()])
                        .sum(),
                };
        }
        let diff: f64 = next.iter().zip(&e).map(|(a, b)| (a - b).abs()).sum();
        e = next;
        if diff < 1e-9 {
            break;
        }
    }
    e
}

/// The analytical expected duration of a case in calendar days: a sequence
/// sums, a decision weighs its branches, a loop taken again with probability
/// p costs its body 1/(1−p) times, a parallel (or inclusive) part costs its
/// slowest branch's expected time (the maximum of the expectations, which is
/// below the expected maximum). Working time counts 1.4 calendar days a
/// working day; queueing for people is not included (the simulator has it).
pub fn expected_days(p: &Process) -> f64 {
    remaining_days(p, None, &mut Blocks::new())[p.start.ix()]
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
