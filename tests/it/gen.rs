//! A generator of well-structured processes for property tests: nested
//! sequences, exclusive, parallel and inclusive blocks and loops, whose work
//! steps are service tasks, user tasks with deadlines, waits, receives
//! with timeouts and first-come choices of messages and a timer.

use proptest::prelude::*;

/// A well-structured block.
#[derive(Debug, Clone)]
pub enum Block {
    Task(Leaf),
    Seq(Vec<Block>),
    Xor(Vec<Block>),
    And(Vec<Block>),
    Or(Vec<Block>),
    /// A parallel split whose join goes on after `needs` of the branches
    /// (fewer than all) and withdraws the rest.
    Partial(Vec<Block>, usize),
    Loop(Box<Block>),
}

/// The kinds of work step a generated process uses.
#[derive(Debug, Clone, Copy)]
pub enum Leaf {
    Service,
    /// A user task that sets `ok`, with a deadline and escalation ladder.
    User,
    Wait,
    /// A receive with a timeout that merges back.
    Receive,
    /// A first-come choice of two messages and a timer, merging back.
    First,
}

pub fn block() -> impl Strategy<Value = Block> {
    let leaf = prop_oneof![
        Just(Block::Task(Leaf::Service)),
        Just(Block::Task(Leaf::User)),
        Just(Block::Task(Leaf::Wait)),
        Just(Block::Task(Leaf::Receive)),
        Just(Block::Task(Leaf::First)),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Block::Seq),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Block::Xor),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Block::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Block::Or),
            (prop::collection::vec(inner.clone(), 2..4), any::<prop::sample::Index>()).prop_map(|(v, i)| {
                let needs = 1 + i.index(v.len() - 1);
                Block::Partial(v, needs)
            }),
            inner.prop_map(|b| Block::Loop(Box::new(b))),
        ]
    })
}

/// Writes a block as steps; returns the id of its entry. `next` is where it
/// goes when done.
pub struct Writer {
    steps: Vec<String>,
    n: usize,
}

impl Writer {
    fn id(&mut self, p: &str) -> String {
        self.n += 1;
        format!("{p}{}", self.n)
    }

    fn write(&mut self, b: &Block, next: &str) -> String {
        match b {
            Block::Task(leaf) => {
                let id = self.id("t");
                let line = match leaf {
                    Leaf::Service => format!("  - {{id: {id}, title: کار, mode: service, next: {next}}}"),
                    Leaf::User => format!(
                        "  - {{id: {id}, title: کار, performer: clerk, sets: [ok], next: {next}, deadline: {{due: 2 working hours, escalation: [{{after: 0, action: remind, every: 1 working hours, times: 2}}, {{after: 3 working hours, action: reassign, to: boss}}]}}}}"
                    ),
                    Leaf::Wait => format!("  - {{id: {id}, kind: wait, title: صبر, wait: {{duration: 1 days}}, next: {next}}}"),
                    Leaf::Receive => {
                        // The message and the timeout are two ways out: merge them.
                        let (late, merge) = (self.id("r"), self.id("q"));
                        self.steps.push(format!("  - {{id: {merge}, title: ادغام, mode: service, next: {next}}}"));
                        self.steps.push(format!("  - {{id: {late}, title: دیر, mode: service, next: {merge}}}"));
                        format!("  - {{id: {id}, kind: receive, title: پیام, message: m, timeout: {{after: 2 days, next: {late}}}, next: {merge}}}")
                    }
                    Leaf::First => {
                        // Two messages and a timer, each its own way: merge them.
                        let (other, late, merge) = (self.id("n"), self.id("r"), self.id("q"));
                        self.steps.push(format!("  - {{id: {merge}, title: ادغام, mode: service, next: {next}}}"));
                        self.steps.push(format!("  - {{id: {late}, title: دیر, mode: service, next: {merge}}}"));
                        self.steps.push(format!("  - {{id: {other}, title: دیگر, mode: service, next: {merge}}}"));
                        format!("  - {{id: {id}, kind: first, title: هر کدام زودتر, arms: [{{message: m, next: {merge}}}, {{message: n, next: {other}}}, {{after: 2 days, next: {late}}}]}}")
                    }
                };
                self.steps.push(line);
                id
            }
            Block::Seq(v) => {
                let mut nxt = next.to_owned();
                for b in v.iter().rev() {
                    nxt = self.write(b, &nxt);
                }
                nxt
            }
            Block::Xor(v) => {
                let id = self.id("x");
                let merge = self.id("m");
                self.steps.push(format!(
                    "  - {{id: {merge}, title: ادغام, mode: service, next: {next}}}"
                ));
                let entries: Vec<String> = v.iter().map(|b| self.write(b, &merge)).collect();
                let (first, rest) = entries.split_first().expect("2+ branches");
                let branches: Vec<String> = rest.iter().map(|e| format!("{{when: ok, next: {e}}}")).collect();
                self.steps.push(format!(
                    "  - {{id: {id}, kind: decision, branches: [{}], otherwise: {{next: {first}}}}}",
                    branches.join(", ")
                ));
                id
            }
            Block::And(v) | Block::Or(v) => {
                let or = matches!(b, Block::Or(_));
                let id = self.id(if or { "o" } else { "a" });
                let join = self.id("j");
                self.steps.push(format!(
                    "  - {{id: {join}, kind: {}, next: {next}}}",
                    if or { "inclusive-join" } else { "join" }
                ));
                let entries: Vec<String> = v.iter().map(|b| self.write(b, &join)).collect();
                if or {
                    let branches: Vec<String> = entries.iter().map(|e| format!("{{when: ok, next: {e}}}")).collect();
                    self.steps.push(format!(
                        "  - {{id: {id}, kind: inclusive, branches: [{}], otherwise: {{next: {join}}}}}",
                        branches.join(", ")
                    ));
                } else {
                    self.steps.push(format!(
                        "  - {{id: {id}, kind: parallel, next: [{}]}}",
                        entries.join(", ")
                    ));
                }
                id
            }
            Block::Partial(v, needs) => {
                let id = self.id("p");
                let join = self.id("k");
                self.steps
                    .push(format!("  - {{id: {join}, kind: join, needs: {needs}, next: {next}}}"));
                let entries: Vec<String> = v.iter().map(|b| self.write(b, &join)).collect();
                self.steps.push(format!(
                    "  - {{id: {id}, kind: parallel, next: [{}]}}",
                    entries.join(", ")
                ));
                id
            }
            Block::Loop(body) => {
                // entry merge -> body -> decision (back to entry, or on)
                let entry = self.id("l");
                let dec = self.id("d");
                self.steps.push(format!("  - {{id: {dec}, kind: decision, branches: [{{when: ok, next: {entry}}}], otherwise: {{next: {next}}}}}"));
                let inner = self.write(body, &dec);
                self.steps.push(format!(
                    "  - {{id: {entry}, title: ورود, mode: service, next: {inner}}}"
                ));
                entry
            }
        }
    }
}

pub fn to_yaml(b: &Block) -> String {
    let mut w = Writer {
        steps: Vec::new(),
        n: 0,
    };
    let first = w.write(b, "done");
    let mut text = String::from("id: gen\nversion: 1\ntitle: تولیدی\nroles:\n  - {id: clerk, title: کارمند}\n  - {id: boss, title: رئیس}\ndata:\n  - {name: ok, type: bool, required: true}\nsteps:\n");
    text += &format!("  - {{id: start, kind: start, next: {first}}}\n");
    for s in w.steps.iter().rev() {
        text += s;
        text.push('\n');
    }
    text += "  - {id: done, kind: end, outcome: done}\n";
    text
}
