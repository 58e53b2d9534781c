//! Exploring the reachable token states ("markings") of a process.
//!
//! Conditions are not evaluated: every way out of a decision, every timer and
//! every message is taken as possible. That makes the exploration exact for
//! the control flow the language can express: if a bad state is reachable
//! here, some choice of data and timing reaches it; if none is, none can.
//!
//! A marking is a sorted list of edge indices, one entry per token. Edges are
//! the places: a token on edge `e` waits to enter `e.to`.
//!
//! Chains are agglomerated: a step with one way in and one way out (no
//! choice, timeout or loop-closing edge) cannot interact with any other
//! token, so a token entering it goes straight to the end of the chain. This
//! is Berthelot's pre-agglomeration; it keeps deadlocks, unsafe states (two
//! tokens in one chain reach its last edge together in some order), proper
//! completion and the option to complete, and it makes long sequences and
//! parallel branches cost one state instead of one per step.

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use crate::model::{EdgeIx, EdgeKind, Process, StepIx, StepKind};

/// A marking: sorted edge indices, repeated for several tokens on one edge.
pub type Marking = Vec<u32>;

/// How edges that close a loop are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loops {
    /// Every edge as written; loops may repeat without bound (for soundness).
    Free,
    /// Each loop-closing edge may be taken at most once per case (for path
    /// figures). The state graph is then acyclic.
    AtMostOnce,
}

/// Something wrong found while exploring.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Issue {
    /// Tokens stuck at joins that wait for branches that cannot come.
    Deadlock {
        /// The joins that wait.
        joins: Vec<StepIx>,
        /// Where the tokens stand.
        waiting: Vec<StepIx>,
    },
    /// Concurrent tokens reach a step that does not synchronise them.
    LackOfSync {
        /// The step reached twice at once.
        step: StepIx,
        /// Where the tokens came from.
        from: Vec<StepIx>,
    },
    /// A path ends while other tokens are still active.
    ImproperCompletion {
        /// The end reached.
        end: StepIx,
        /// Steps still under way.
        open: Vec<StepIx>,
    },
    /// States from which the case can never finish, though work goes on.
    Livelock {
        /// The steps of the loop.
        steps: Vec<StepIx>,
    },
}

/// One move between states: which step fired.
#[derive(Debug, Clone, Copy)]
pub struct Move {
    /// The state before.
    pub from: u32,
    /// The state after.
    pub to: u32,
    /// The step that fired.
    pub step: StepIx,
    /// Counted steps passed in this move: the step fired, if it counts, and
    /// the chain steps its tokens went through (see [`explore`]).
    pub weight: u32,
}

/// The explored state graph.
#[derive(Debug, Default)]
pub struct StateGraph {
    /// Each state reached, with how many ways reach it.
    pub states: Vec<(Marking, u64)>,
    /// Every move between states.
    pub moves: Vec<Move>,
    /// Index of the empty marking(s): the case finished properly.
    pub finals: Vec<u32>,
    /// The defects found.
    pub issues: Vec<Issue>,
    /// True when the exploration stopped at the state limit.
    pub truncated: bool,
    /// Edges that close loops (found by depth-first search from the start).
    pub back_edges: Vec<EdgeIx>,
    /// Counted steps passed before the first state (the start's chain).
    pub initial_weight: u32,
}

/// Edges that close a loop: edges to a step still on the depth-first stack.
pub fn back_edges(p: &Process) -> Vec<EdgeIx> {
    let n = p.steps.len();
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    let mut out = Vec::new();
    let mut stack: Vec<(StepIx, usize)> = vec![(p.start, 0)];
    state[p.start.ix()] = 1;
    while let Some(&mut (s, ref mut i)) = stack.last_mut() {
        let outs = &p.step(s).outgoing;
        if *i < outs.len() {
            let e = outs[*i];
            *i += 1;
            let t = p.edge(e).to;
            match state[t.ix()] {
                0 => {
                    state[t.ix()] = 1;
                    stack.push((t, 0));
                }
                1 => out.push(e),
                _ => {}
            }
        } else {
            state[s.ix()] = 2;
            stack.pop();
        }
    }
    out.sort();
    out
}

struct Net<'a> {
    p: &'a Process,
    /// Per edge: index of the bit in the loop mask, for `Loops::AtMostOnce`.
    back_bit: Vec<Option<u8>>,
    /// For each inclusive join: for each incoming edge, the edges from which
    /// it can be reached without passing through the join.
    upstream: HashMap<StepIx, Vec<(u32, Vec<bool>)>>,
    /// For each partial join: how many branches it needs, and per edge
    /// whether a token there is withdrawn when it goes on (the edge leads to
    /// it without passing through it).
    partial: HashMap<StepIx, (usize, Vec<bool>)>,
    /// Per edge: whether a token there is on the way to a partial join.
    feeds_partial: Vec<bool>,
    /// Explore one order of independent moves only (see `successors`).
    reduce: bool,
    /// Steps with one way in and one way out (no choice, no timeout, no
    /// loop-closing edge): a token entering one goes straight through.
    chain: Vec<bool>,
}

impl<'a> Net<'a> {
    fn new(p: &'a Process, loops: Loops, back: &[EdgeIx]) -> Net<'a> {
        let mut back_bit = vec![None; p.edges.len()];
        if loops == Loops::AtMostOnce {
            for (i, e) in back.iter().enumerate().take(64) {
                back_bit[e.ix()] = Some(i as u8);
            }
        }
        let mut upstream = HashMap::new();
        for j in p.step_ixs() {
            if p.step(j).kind != StepKind::InclusiveJoin {
                continue;
            }
            let mut per = Vec::new();
            for &f in &p.step(j).incoming {
                // Backward search from edge f, not passing through j.
                let mut seen = vec![false; p.edges.len()];
                let mut todo = vec![f];
                seen[f.ix()] = true;
                while let Some(e) = todo.pop() {
                    let src = p.edge(e).from;
                    if src == j {
                        continue;
                    }
                    for &g in &p.step(src).incoming {
                        if !seen[g.ix()] {
                            seen[g.ix()] = true;
                            todo.push(g);
                        }
                    }
                }
                per.push((f.0, seen));
            }
            upstream.insert(j, per);
        }
        let mut partial = HashMap::new();
        let mut feeds_partial = vec![false; p.edges.len()];
        for j in p.step_ixs() {
            let Some(needs) = p.step(j).needs() else { continue };
            let feeds: Vec<bool> = p.edges.iter().map(|e| e.to == j || p.feeds(j, e.to)).collect();
            for (f, x) in feeds_partial.iter_mut().zip(&feeds) {
                *f |= *x;
            }
            partial.insert(j, (needs, feeds));
        }
        // A partial join withdraws a branch wherever its token is: the steps
        // on the way to one are not agglomerated, so that the steps a
        // withdrawn branch did are counted as it did them.
        let chain = p
            .steps
            .iter()
            .map(|st| {
                st.incoming.first().is_none_or(|e| !feeds_partial[e.ix()])
                    && matches!(
                        st.kind,
                        StepKind::Task | StepKind::Wait | StepKind::Receive | StepKind::Subprocess
                    )
                    && st.incoming.len() == 1
                    && st.outgoing.len() == 1
                    && back_bit[st.outgoing[0].ix()].is_none()
            })
            .collect();
        Net {
            p,
            back_bit,
            upstream,
            partial,
            feeds_partial,
            reduce: loops == Loops::AtMostOnce,
            chain,
        }
    }

    /// Where a token put on `e` ends up after going through chain steps, and
    /// how many counted steps it passed.
    fn forward(&self, mut e: EdgeIx) -> (EdgeIx, u32) {
        let mut passed = 0;
        for _ in 0..self.p.steps.len() {
            let t = self.p.edge(e).to;
            if !self.chain[t.ix()] {
                break;
            }
            passed += u32::from(self.p.step(t).counts());
            e = self.p.step(t).outgoing[0];
        }
        (e, passed)
    }
}

fn insert_sorted(m: &mut Marking, e: u32) {
    let pos = m.partition_point(|&x| x < e);
    m.insert(pos, e);
}

fn remove_one(m: &mut Marking, e: u32) {
    if let Ok(pos) = m.binary_search(&e) {
        m.remove(pos);
    }
}

/// Explores every reachable state from the start, up to `max_states`.
pub fn explore(p: &Process, loops: Loops, max_states: usize) -> StateGraph {
    explore_with(p, loops, max_states, true)
}

/// [`explore`], with chain agglomeration on or off (off only to test that it
/// changes no verdict).
pub fn explore_with(p: &Process, loops: Loops, max_states: usize, agglomerate: bool) -> StateGraph {
    let back = back_edges(p);
    let mut net = Net::new(p, loops, &back);
    if !agglomerate {
        net.chain.iter_mut().for_each(|c| *c = false);
    }
    let mut g = StateGraph {
        back_edges: back,
        ..StateGraph::default()
    };
    let mut index: FxHashMap<(Marking, u64), u32> = FxHashMap::default();
    let mut issues = std::collections::BTreeSet::new();

    // The start step fires first.
    let mut init: Marking = Vec::new();
    for &e in &p.step(p.start).outgoing {
        let (f, passed) = net.forward(e);
        g.initial_weight += passed;
        insert_sorted(&mut init, f.0);
    }
    index.insert((init.clone(), 0), 0);
    g.states.push((init, 0));
    // States not to expand (unsafe): their problem is already reported.
    let mut frontier = vec![0u32];
    // States where a defect is met (a deadlock, or a move into an unsafe
    // state): a loop that can reach one is not a loop without an exit.
    let mut stops: Vec<u32> = Vec::new();
    let mut succ: Vec<(StepIx, Marking, u64, u32)> = Vec::new();
    while let Some(s) = frontier.pop() {
        let (m, mask) = &g.states[s as usize];
        if m.is_empty() {
            g.finals.push(s);
            continue;
        }
        succ.clear();
        successors(&net, m, *mask, &mut succ, &mut issues);
        if succ.is_empty() {
            issues.insert(deadlock(p, m));
            stops.push(s);
            continue;
        }
        for (step, nm, nmask, weight) in succ.drain(..) {
            if let Some(issue) = unsafe_state(p, &nm) {
                issues.insert(issue);
                stops.push(s);
                continue;
            }
            let key = (nm, nmask);
            let to = match index.get(&key) {
                Some(&t) => t,
                None => {
                    if g.states.len() >= max_states {
                        g.truncated = true;
                        continue;
                    }
                    let t = g.states.len() as u32;
                    index.insert(key.clone(), t);
                    g.states.push(key);
                    frontier.push(t);
                    t
                }
            };
            g.moves.push(Move {
                from: s,
                to,
                step,
                weight,
            });
        }
    }
    if !g.truncated && loops == Loops::Free {
        issues.extend(livelock(p, &g, &stops));
    }
    g.issues = merge(issues);
    g
}

/// One issue per kind and step: the steps involved are merged.
fn merge(issues: std::collections::BTreeSet<Issue>) -> Vec<Issue> {
    let mut out: Vec<Issue> = Vec::new();
    let join = |a: &mut Vec<StepIx>, b: &[StepIx]| {
        a.extend_from_slice(b);
        a.sort();
        a.dedup();
    };
    for i in issues {
        let merged = out.iter_mut().any(|o| match (o, &i) {
            // One deadlock per join, told from one state: branches of
            // different alternatives never waited together.
            (Issue::Deadlock { joins, .. }, Issue::Deadlock { joins: j2, .. }) if joins.first() == j2.first() => true,
            (Issue::LackOfSync { step, .. }, Issue::LackOfSync { step: s2, .. }) if step == s2 => true,
            (Issue::ImproperCompletion { end, open }, Issue::ImproperCompletion { end: e2, open: o2 }) if end == e2 => {
                join(open, o2);
                true
            }
            _ => false,
        });
        if !merged {
            out.push(i);
        }
    }
    out
}

fn successors(
    net: &Net,
    m: &Marking,
    mask: u64,
    out: &mut Vec<(StepIx, Marking, u64, u32)>,
    issues: &mut std::collections::BTreeSet<Issue>,
) {
    let p = net.p;
    // With `Loops::AtMostOnce` (figures, not soundness), fire only one token
    // whose next step is local (needs no other token): the interleavings of
    // independent branches give the same steps, so one order suffices.
    // A token on the way to a partial join is not local either: which
    // branches come first decides which are withdrawn.
    let local = |e: u32| {
        !net.feeds_partial[e as usize]
            && !matches!(
                p.step(p.edge(EdgeIx(e)).to).kind,
                StepKind::Join | StepKind::InclusiveJoin
            )
    };
    let reduced = net.reduce.then(|| m.iter().copied().find(|&e| local(e))).flatten();
    // A partial join that has the branches it needs goes on at once, before
    // anything else moves (the runtime fires it as the last one comes in).
    let marked_at = |j: StepIx| {
        p.step(j)
            .incoming
            .iter()
            .map(|x| x.0)
            .filter(|i| m.binary_search(i).is_ok())
            .collect::<Vec<u32>>()
    };
    let urgent: Vec<u32> = net
        .partial
        .iter()
        .filter_map(|(&j, (needs, _))| {
            let marked = marked_at(j);
            (marked.len() >= *needs).then(|| marked.first().copied()).flatten()
        })
        .collect();
    let mut prev = None;
    for &e in m {
        if prev == Some(e) || (reduced.is_some_and(|r| r != e) && urgent.is_empty()) {
            continue;
        }
        if !urgent.is_empty() && !urgent.contains(&e) {
            continue;
        }
        prev = Some(e);
        let n = p.edge(EdgeIx(e)).to;
        let step = p.step(n);
        // Consume.
        let mut base = m.clone();
        match step.kind {
            StepKind::Join if step.needs().is_some() => {
                let Some((needs, feeds)) = net.partial.get(&n) else {
                    continue;
                };
                let marked = marked_at(n);
                if marked.len() < *needs || marked.first() != Some(&e) {
                    continue;
                }
                base.retain(|t| !feeds[*t as usize]);
            }
            StepKind::Join => {
                let ins: Vec<u32> = step.incoming.iter().map(|x| x.0).collect();
                if ins.iter().any(|i| m.binary_search(i).is_err()) || ins.iter().min() != Some(&e) {
                    continue;
                }
                for i in &ins {
                    remove_one(&mut base, *i);
                }
            }
            StepKind::InclusiveJoin => {
                let marked: Vec<u32> = step
                    .incoming
                    .iter()
                    .map(|x| x.0)
                    .filter(|i| m.binary_search(i).is_ok())
                    .collect();
                if marked.iter().min() != Some(&e) {
                    continue;
                }
                let Some(ups) = net.upstream.get(&n) else { continue };
                // BPMN 2.0 (13.4.3): a token elsewhere blocks the join when it
                // can reach an empty input without passing the join, unless it
                // can also reach a marked one.
                let blocked = m.iter().any(|&t| {
                    !step.incoming.iter().any(|i| i.0 == t)
                        && ups.iter().any(|(f, up)| !marked.contains(f) && up[t as usize])
                        && !ups.iter().any(|(g, up)| marked.contains(g) && up[t as usize])
                });
                if blocked {
                    continue;
                }
                for i in &marked {
                    remove_one(&mut base, *i);
                }
            }
            _ => remove_one(&mut base, e),
        }
        // Produce.
        let usable = |x: &EdgeIx| match net.back_bit[x.ix()] {
            Some(b) => mask & (1u64 << b) == 0,
            None => true,
        };
        let bits = |xs: &[EdgeIx]| {
            xs.iter()
                .filter_map(|x| net.back_bit[x.ix()])
                .fold(0u64, |a, b| a | (1u64 << b))
        };
        let own = u32::from(step.counts());
        let mut emit = |targets: &[EdgeIx]| {
            let mut nm = base.clone();
            let mut weight = own;
            for t in targets {
                let (f, passed) = net.forward(*t);
                weight += passed;
                insert_sorted(&mut nm, f.0);
            }
            out.push((n, nm, mask | bits(targets), weight));
        };
        match step.kind {
            StepKind::End => {
                if !base.is_empty() {
                    // Reported, and explored on: the other tokens go on.
                    issues.insert(Issue::ImproperCompletion {
                        end: n,
                        open: still_open(p, &base, n),
                    });
                }
                emit(&[]);
            }
            StepKind::Terminate => out.push((n, Vec::new(), mask, own)),
            StepKind::Parallel => {
                let outs: Vec<EdgeIx> = step.outgoing.iter().copied().filter(usable).collect();
                emit(&outs);
            }
            StepKind::Inclusive => {
                let branches: Vec<EdgeIx> = step
                    .outgoing
                    .iter()
                    .copied()
                    .filter(|x| matches!(p.edge(*x).kind, EdgeKind::Branch { .. }))
                    .filter(usable)
                    .collect();
                let others: Vec<EdgeIx> = step
                    .outgoing
                    .iter()
                    .copied()
                    .filter(|x| !matches!(p.edge(*x).kind, EdgeKind::Branch { .. }))
                    .filter(usable)
                    .collect();
                let k = branches.len().min(crate::model::MAX_INCLUSIVE_BRANCHES);
                for subset in 1u32..(1u32 << k) {
                    let chosen: Vec<EdgeIx> = (0..k).filter(|i| subset & (1 << i) != 0).map(|i| branches[i]).collect();
                    emit(&chosen);
                }
                for o in others {
                    emit(&[o]);
                }
            }
            _ => {
                for o in step.outgoing.iter().copied().filter(usable) {
                    emit(&[o]);
                }
            }
        }
    }
}

/// The steps whose work is still open in a marking: the targets of its edges.
fn open_steps(p: &Process, m: &Marking) -> Vec<StepIx> {
    let mut v: Vec<StepIx> = m.iter().map(|&e| p.edge(EdgeIx(e)).to).collect();
    v.sort();
    v.dedup();
    v
}

/// Where work is still open when a token reaches `end`: the step each other
/// token goes to, or, for a token on its way to an end itself, the step it
/// comes from (that branch is still under way); never `end`.
fn still_open(p: &Process, m: &Marking, end: StepIx) -> Vec<StepIx> {
    let mut v: Vec<StepIx> = m
        .iter()
        .map(|&e| p.edge(EdgeIx(e)))
        .map(|edge| match p.step(edge.to).kind {
            StepKind::End | StepKind::Terminate => edge.from,
            _ => edge.to,
        })
        .filter(|s| *s != end)
        .collect();
    v.sort();
    v.dedup();
    v
}

fn unsafe_state(p: &Process, m: &Marking) -> Option<Issue> {
    // Two tokens on one edge.
    for w in m.windows(2) {
        if w[0] == w[1] {
            let e = p.edge(EdgeIx(w[0]));
            return Some(Issue::LackOfSync {
                step: e.to,
                from: vec![e.from],
            });
        }
    }
    if m.len() < 2 {
        return None;
    }
    // Two incoming edges of a step that does not synchronise.
    let mut at: Vec<(StepIx, StepIx)> = m
        .iter()
        .map(|&e| p.edge(EdgeIx(e)))
        // Joins synchronise; at an end, improper completion is the finding;
        // a terminate ends the case on the first token.
        .filter(|edge| {
            !matches!(
                p.step(edge.to).kind,
                StepKind::Join | StepKind::InclusiveJoin | StepKind::End | StepKind::Terminate
            )
        })
        .map(|edge| (edge.to, edge.from))
        .collect();
    at.sort_unstable();
    let i = at.windows(2).position(|w| w[0].0 == w[1].0)?;
    let step = at[i].0;
    let from = at.iter().filter(|x| x.0 == step).map(|x| x.1).collect();
    Some(Issue::LackOfSync { step, from })
}

fn deadlock(p: &Process, m: &Marking) -> Issue {
    let mut joins: Vec<StepIx> = Vec::new();
    let mut waiting: Vec<StepIx> = Vec::new();
    for &e in m {
        let edge = p.edge(EdgeIx(e));
        joins.push(edge.to);
        waiting.push(edge.from);
    }
    joins.sort();
    joins.dedup();
    waiting.sort();
    waiting.dedup();
    Issue::Deadlock { joins, waiting }
}

/// Loops that can never be left: cycles of states from which neither a
/// final state nor a defect reported on its own (a deadlock, an unsafe
/// state) can be reached. One issue per loop.
fn livelock(p: &Process, g: &StateGraph, stops: &[u32]) -> Vec<Issue> {
    let n = g.states.len();
    let mut rev: Vec<Vec<u32>> = vec![Vec::new(); n];
    for mv in &g.moves {
        rev[mv.to as usize].push(mv.from);
    }
    let mut good = vec![false; n];
    let mut todo: Vec<u32> = g.finals.iter().chain(stops).copied().collect();
    for &f in &todo {
        good[f as usize] = true;
    }
    while let Some(s) = todo.pop() {
        for &q in &rev[s as usize] {
            if !good[q as usize] {
                good[q as usize] = true;
                todo.push(q);
            }
        }
    }
    let bad_moves: Vec<&Move> = g
        .moves
        .iter()
        .filter(|mv| !good[mv.from as usize] && !good[mv.to as usize])
        .collect();
    let mut graph = petgraph::graphmap::DiGraphMap::<u32, ()>::new();
    for mv in &bad_moves {
        graph.add_edge(mv.from, mv.to, ());
    }
    // The loops of the process itself: a cycle of states may run two of
    // them at once (parallel branches), and each is its own defect.
    let mut steps_graph = petgraph::graphmap::DiGraphMap::<u32, ()>::new();
    for e in &p.edges {
        steps_graph.add_edge(e.from.0, e.to.0, ());
    }
    let mut loop_of = vec![None; p.steps.len()];
    for (i, c) in petgraph::algo::tarjan_scc(&steps_graph).into_iter().enumerate() {
        if c.len() > 1 || c.first().is_some_and(|&s| steps_graph.contains_edge(s, s)) {
            for s in c {
                loop_of[s as usize] = Some(i);
            }
        }
    }
    let mut out = Vec::new();
    for scc in petgraph::algo::tarjan_scc(&graph) {
        let cyclic = scc.len() > 1 || scc.first().is_some_and(|&s| graph.contains_edge(s, s));
        if !cyclic {
            continue;
        }
        let mut steps: Vec<StepIx> = scc
            .iter()
            .flat_map(|&s| open_steps(p, &g.states[s as usize].0))
            .collect();
        steps.sort();
        steps.dedup();
        let mut by_loop: std::collections::BTreeMap<usize, Vec<StepIx>> = std::collections::BTreeMap::new();
        for s in &steps {
            if let Some(l) = loop_of[s.ix()] {
                by_loop.entry(l).or_default().push(*s);
            }
        }
        if by_loop.is_empty() && !steps.is_empty() {
            out.push(Issue::Livelock { steps });
        }
        out.extend(by_loop.into_values().map(|steps| Issue::Livelock { steps }));
    }
    out
}
