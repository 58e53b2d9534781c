//! Building a [`Process`] from a [`ProcessDef`]: resolve references, parse
//! durations, conditions and schedules, and check each step's fields against
//! its kind.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use super::*;
use crate::definition::duration::{self, Duration};
use crate::definition::{DistributionDef, NextDef, ProcessDef, SStr, StepDef, StepKind, WaitsOn};
use crate::diagnostic::{did_you_mean, suggest, Diagnostic, Place};

/// What compile may look up outside the file.
#[derive(Debug, Default, Clone)]
pub struct CompileContext {
    /// Calendars that exist, by name; `None` skips the check.
    pub calendars: Option<Vec<String>>,
    /// Processes that exist, by id (for `subprocess`); `None` skips the check.
    pub processes: Option<Vec<String>>,
}

/// Compiles one duration distribution outside a process (a scenario's
/// override), with the same checks and messages.
pub fn compile_distribution(d: &crate::definition::DistributionDef) -> Result<Distribution, Vec<Diagnostic>> {
    let mut c = Compiler::bare();
    c.distribution(d).ok_or(c.diags)
}

/// Compiles a recurring schedule outside a process (a scenario's arrivals);
/// `place` is where the schedule is written.
pub fn compile_schedule(s: &crate::definition::ScheduleDef, place: Place) -> Result<Schedule, Vec<Diagnostic>> {
    let mut c = Compiler::bare();
    c.schedule(s, place).ok_or(c.diags)
}

/// Compiles a definition. Returns the process when no error stopped it, and
/// every problem found (errors and warnings) either way.
pub fn compile(def: &ProcessDef, ctx: &CompileContext) -> (Option<Process>, Vec<Diagnostic>) {
    let mut c = Compiler::bare();
    let p = c.process(def, ctx);
    let failed = c.diags.iter().any(|d| d.is_error());
    (if failed { None } else { p }, c.diags)
}

struct Compiler {
    diags: Vec<Diagnostic>,
    var_types: Vec<VarType>,
    /// Conditions already compiled, by source text: analysts repeat them.
    conditions: HashMap<String, Condition>,
}

fn valid_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | '0'..='9'))
        && s.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'))
}

fn valid_var(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | 'A'..='Z' | '_'))
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Longest condition accepted.
const MAX_CONDITION_BYTES: usize = 4096;
/// Deepest bracket nesting in a condition (the parser recurses on it).
const MAX_CONDITION_NESTING: usize = 32;
/// Most branches of an inclusive decision: soundness checks every subset.
pub const MAX_INCLUSIVE_BRANCHES: usize = 12;

/// CEL words that cannot name a variable.
const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

impl Compiler {
    fn bare() -> Compiler {
        Compiler {
            diags: Vec::new(),
            var_types: Vec::new(),
            conditions: HashMap::new(),
        }
    }

    fn err(&mut self, code: &'static str, place: Place, msg: impl Into<String>, help: impl Into<String>) {
        self.diags.push(Diagnostic::error(code, place, msg).help(help));
    }

    fn warn(&mut self, code: &'static str, place: Place, msg: impl Into<String>, help: impl Into<String>) {
        self.diags.push(Diagnostic::warning(code, place, msg).help(help));
    }

    fn duration(&mut self, s: &SStr, what: &str) -> Option<Duration> {
        match duration::parse(&s.value) {
            Ok(d) => Some(d),
            Err(e) => {
                let (msg, hint) = e.0.split_once("; ").unwrap_or((
                    &e.0,
                    "durations look like `3 working days`, `10 days`, `4 hours`, `1 month` or `P10D`",
                ));
                self.err("bad-duration", Place::of(s), format!("{what}: {msg}"), hint);
                None
            }
        }
    }

    fn role(&mut self, s: &SStr, roles: &HashMap<&str, RoleIx>, what: &str) -> Option<RoleIx> {
        if let Some(r) = roles.get(s.value.as_str()) {
            return Some(*r);
        }
        let help = match did_you_mean(&s.value, roles.keys().copied()) {
            Some(m) => format!("did you mean `{m}`?"),
            None if roles.is_empty() => "declare it under `roles:` at the top of the file".to_owned(),
            None => format!(
                "declare it under `roles:`, or use one of: {}",
                sorted(roles.keys().copied()).join(", ")
            ),
        };
        self.err(
            "unknown-role",
            Place::of(s),
            format!("{what} `{}` is not a declared role", s.value),
            help,
        );
        None
    }

    fn var(&mut self, s: &SStr, vars: &HashMap<&str, VarIx>, what: &str) -> Option<VarIx> {
        if let Some(v) = vars.get(s.value.as_str()) {
            return Some(*v);
        }
        self.unknown_var(Place::of(s), &s.value, vars, what);
        None
    }

    fn unknown_var(&mut self, place: Place, name: &str, vars: &HashMap<&str, VarIx>, what: &str) {
        let help = suggest(
            name,
            vars.keys().copied(),
            "declare it under `data:` at the top of the file".to_owned(),
        );
        self.err(
            "unknown-variable",
            place,
            format!("`{name}` ({what}) is not declared case data"),
            help,
        );
    }

    fn condition(&mut self, s: &SStr, vars: &HashMap<&str, VarIx>, what: &str) -> Option<Condition> {
        if let Some(c) = self.conditions.get(&s.value) {
            return Some(c.clone());
        }
        let c = self.compile_condition(s, vars, what)?;
        self.conditions.insert(s.value.clone(), c.clone());
        Some(c)
    }

    fn compile_condition(&mut self, s: &SStr, vars: &HashMap<&str, VarIx>, what: &str) -> Option<Condition> {
        if s.value.len() > MAX_CONDITION_BYTES {
            self.err(
                "bad-condition",
                Place::of(s),
                format!("{what} is longer than {MAX_CONDITION_BYTES} bytes"),
                "split the rule into simpler decisions",
            );
            return None;
        }
        let mut depth = 0usize;
        let mut deepest = 0usize;
        for c in s.value.chars() {
            match c {
                '(' | '[' | '{' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        if deepest > MAX_CONDITION_NESTING {
            self.err(
                "bad-condition",
                Place::of(s),
                format!("{what} nests brackets {deepest} deep, more than {MAX_CONDITION_NESTING}"),
                "split the rule into simpler decisions",
            );
            return None;
        }
        // The parser is third-party code fed analyst input: a panic inside it
        // must still become a diagnostic.
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cel::Program::compile(&s.value).map_err(|e| e.to_string())
        }));
        let program = match parsed {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                self.err(
                    "bad-condition",
                    Place::of(s),
                    format!(
                        "{what} `{}` is not a valid CEL expression: {}",
                        s.value,
                        cel_message(&e)
                    ),
                    "conditions are CEL, e.g. `area > 500 && zone == \"residential\"`; text goes in double quotes",
                );
                return None;
            }
            Err(_) => {
                self.err(
                    "bad-condition",
                    Place::of(s),
                    format!("{what} `{}` could not be read", s.value),
                    "simplify the expression",
                );
                return None;
            }
        };
        let mut names: Vec<String> = program
            .references()
            .variables()
            .into_iter()
            .map(str::to_owned)
            .collect();
        names.sort();
        let mut ok = true;
        for n in &names {
            if !vars.contains_key(n.as_str()) {
                self.unknown_var(Place::of(s), n, vars, &format!("read by {what}"));
                ok = false;
            }
        }
        ok.then(|| Condition {
            source: s.value.clone(),
            program: Arc::new(program),
            variables: names,
        })
    }

    fn process(&mut self, def: &ProcessDef, ctx: &CompileContext) -> Option<Process> {
        if !valid_id(&def.id.value) {
            self.err(
                "bad-id",
                Place::of(&def.id),
                format!("`{}` is not a valid process id", def.id.value),
                "use lowercase Latin letters, digits and `-`, e.g. `building-permit`; the Persian name goes in `title`",
            );
        }
        if let (Some(cal), Some(known)) = (&def.calendar, &ctx.calendars) {
            if !known.iter().any(|k| k == &cal.value) {
                let help = match did_you_mean(&cal.value, known.iter().map(String::as_str)) {
                    Some(m) => format!("did you mean `{m}`?"),
                    None if known.is_empty() => "add a file `calendars/<name>.yaml` beside the definition".to_owned(),
                    None => format!("calendars found: {}", known.join(", ")),
                };
                self.err(
                    "unknown-calendar",
                    Place::of(cal),
                    format!("calendar `{}` does not exist", cal.value),
                    help,
                );
            }
        }

        // Roles.
        let mut roles = Vec::new();
        let mut role_ix: HashMap<&str, RoleIx> = HashMap::new();
        let mut role_places: HashMap<&str, Place> = HashMap::new();
        for r in &def.roles {
            if !valid_id(&r.id.value) {
                self.err(
                    "bad-id",
                    Place::of(&r.id),
                    format!("`{}` is not a valid role id", r.id.value),
                    "use lowercase Latin letters, digits and `-`; the Persian name goes in `title`",
                );
            }
            if let Some(first) = role_places.get(r.id.value.as_str()) {
                self.diags.push(
                    Diagnostic::error(
                        "duplicate-id",
                        Place::of(&r.id),
                        format!("role `{}` is declared twice", r.id.value),
                    )
                    .related(first.clone(), "first declared here")
                    .help("give each role its own id, or remove one"),
                );
                continue;
            }
            role_places.insert(&r.id.value, Place::of(&r.id));
            role_ix.insert(&r.id.value, RoleIx(roles.len() as u32));
            roles.push(Role {
                id: r.id.value.clone(),
                title: r.title.clone(),
                unit: r.unit.clone(),
            });
        }

        // Variables.
        let mut variables = Vec::new();
        let mut var_ix: HashMap<&str, VarIx> = HashMap::new();
        let mut var_places: HashMap<&str, Place> = HashMap::new();
        for v in &def.data {
            let name = v.name.value.as_str();
            if !valid_var(name) || RESERVED.contains(&name) {
                self.err(
                    "bad-variable",
                    Place::of(&v.name),
                    format!("`{name}` cannot name a variable"),
                    "use Latin letters, digits and `_`, starting with a letter, e.g. `area_m2`; not a CEL keyword",
                );
            }
            if let Some(first) = var_places.get(name) {
                self.diags.push(
                    Diagnostic::error(
                        "duplicate-id",
                        Place::of(&v.name),
                        format!("variable `{name}` is declared twice"),
                    )
                    .related(first.clone(), "first declared here")
                    .help("give each variable its own name, or remove one"),
                );
                continue;
            }
            if v.ty == VarType::Enum && v.values.is_empty() {
                self.err(
                    "bad-variable",
                    Place::of(&v.name),
                    format!("enum variable `{name}` has no `values`"),
                    "list its values, e.g. `values: [roads, waste, lighting]`",
                );
            }
            if v.ty != VarType::Enum && !v.values.is_empty() {
                self.err(
                    "bad-variable",
                    Place::of(&v.name),
                    format!("`values` is only for `enum` variables, and `{name}` is not one"),
                    "write `type: enum`, or remove `values`",
                );
            }
            var_places.insert(name, Place::of(&v.name));
            var_ix.insert(name, VarIx(variables.len() as u32));
            variables.push(Variable {
                name: name.to_owned(),
                ty: v.ty,
                title: v.title.clone(),
                values: v.values.clone(),
                required: v.required,
            });
        }

        self.var_types = variables.iter().map(|v: &Variable| v.ty).collect();

        // Steps: ids first, so references can be resolved in any order.
        let mut by_id: HashMap<String, StepIx> = HashMap::new();
        let mut step_places: HashMap<&str, Place> = HashMap::new();
        for (i, s) in def.steps.iter().enumerate() {
            let id = s.id.value.as_str();
            if !valid_id(id) {
                self.err(
                    "bad-id",
                    Place::of(&s.id),
                    format!("`{id}` is not a valid step id"),
                    "use lowercase Latin letters, digits and `-`, e.g. `site-visit`; the Persian name goes in `title`",
                );
            }
            if let Some(first) = step_places.get(id) {
                self.diags.push(
                    Diagnostic::error(
                        "duplicate-id",
                        Place::of(&s.id),
                        format!("step id `{id}` is used twice"),
                    )
                    .related(first.clone(), "first used here")
                    .help("each step needs its own id; rename one of them"),
                );
                continue;
            }
            step_places.insert(id, Place::of(&s.id));
            by_id.insert(id.to_owned(), StepIx(i as u32));
        }
        if def.steps.is_empty() {
            self.err(
                "no-steps",
                Place::of(&def.id),
                "the process has no steps",
                "add a `start` step, the work, and an `end` step under `steps:`",
            );
            return None;
        }

        let mut steps = Vec::with_capacity(def.steps.len());
        let mut edges: Vec<Edge> = Vec::new();
        let mut starts = Vec::new();
        for (i, s) in def.steps.iter().enumerate() {
            let following = def.steps.get(i + 1);
            let step = self.step(
                s,
                following,
                StepIx(i as u32),
                &by_id,
                &role_ix,
                &var_ix,
                ctx,
                &mut edges,
            );
            if s.kind == StepKind::Start {
                starts.push(Place::of(&s.id));
            }
            steps.push(step);
        }
        for (ix, e) in edges.iter().enumerate() {
            let step: &mut Step = &mut steps[e.to.ix()];
            step.incoming.push(EdgeIx(ix as u32));
        }
        for e in &edges {
            if steps[e.to.ix()].kind == StepKind::Start {
                let to = &steps[e.to.ix()];
                self.diags.push(
                    Diagnostic::error(
                        "edge-to-start",
                        e.place.clone(),
                        format!("`{}` goes back to the start step `{}`", steps[e.from.ix()].id, to.id),
                    )
                    .help("a case starts once; go to the first real step instead"),
                );
            }
        }
        let start = match starts.as_slice() {
            [] => {
                self.err(
                    "no-start",
                    Place::of(&def.steps[0].id),
                    "the process has no `start` step",
                    "add a first step `- id: start` with `kind: start`",
                );
                return None;
            }
            [_] => def
                .steps
                .iter()
                .position(|s| s.kind == StepKind::Start)
                .map(|i| StepIx(i as u32))?,
            [first, rest @ ..] => {
                for p in rest {
                    self.diags.push(
                        Diagnostic::error("many-starts", p.clone(), "the process has more than one `start` step")
                            .related(first.clone(), "the first start")
                            .help("keep one start; several ways in can branch after it with a `decision`"),
                    );
                }
                return None;
            }
        };
        let deadline = def
            .deadline
            .as_ref()
            .and_then(|d| self.deadline(d, &role_ix, &var_ix, Place::of(&def.id), &by_id));

        let mut anchors = vec![false; steps.len()];
        for f in steps
            .iter()
            .filter_map(|s: &Step| s.deadline.as_ref()?.from)
            .chain(deadline.as_ref().and_then(|d| d.from))
        {
            anchors[f.ix()] = true;
        }
        Some(Process {
            id: ProcessId(def.id.value.clone()),
            version: def.version,
            title: def.title.clone(),
            title_en: def.title_en.clone(),
            calendar: def.calendar.as_ref().map(|c| c.value.clone()),
            restricted: def.restricted,
            roles,
            variables,
            steps,
            edges,
            start,
            anchors,
            deadline,
            by_id,
            upstream: std::sync::OnceLock::new(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        s: &StepDef,
        following: Option<&StepDef>,
        ix: StepIx,
        by_id: &HashMap<String, StepIx>,
        roles: &HashMap<&str, RoleIx>,
        vars: &HashMap<&str, VarIx>,
        ctx: &CompileContext,
        edges: &mut Vec<Edge>,
    ) -> Step {
        let kind = s.kind;
        let place = Place::of(&s.id);
        self.fields_for_kind(s);

        let mut outgoing = Vec::new();
        let mut add_edge =
            |this: &mut Self, outgoing: &mut Vec<EdgeIx>, target: &SStr, ek: EdgeKind| match by_id.get(&target.value) {
                Some(&to) => {
                    outgoing.push(EdgeIx(edges.len() as u32));
                    edges.push(Edge {
                        from: ix,
                        to,
                        kind: ek,
                        place: Place::of(target),
                    });
                }
                None => {
                    let help = suggest(
                        &target.value,
                        by_id.keys().map(String::as_str),
                        "write the id of a step of this process".to_owned(),
                    );
                    this.err(
                        "dangling-reference",
                        Place::of(target),
                        format!(
                            "step `{}` goes to `{}`, which is not a step of this process",
                            s.id.value, target.value
                        ),
                        help,
                    );
                }
            };

        // Flow.
        match kind {
            StepKind::Decision | StepKind::Inclusive => {
                if kind == StepKind::Inclusive && s.branches.len() > MAX_INCLUSIVE_BRANCHES {
                    self.err("too-many-branches", place.clone(), format!("inclusive `{}` has {} branches, more than {MAX_INCLUSIVE_BRANCHES}", s.id.value, s.branches.len()), "every combination of branches must be checked; group related branches into sub-decisions");
                }
                if s.branches.is_empty() {
                    self.err("missing-branches", place.clone(), format!("{} `{}` has no `branches`", kind.name(), s.id.value), "list the ways out: `branches: [{when: \"…\", next: step}]`, and an `otherwise`");
                }
                let mut probs: Vec<(f64, Place)> = Vec::new();
                for b in &s.branches {
                    let p = b.probability.as_ref().map(|p| (p.value, Place::of(p)));
                    if let Some(cond) = self.condition(&b.when, vars, "the condition") {
                        add_edge(self, &mut outgoing, &b.next, EdgeKind::Branch { condition: cond, probability: p.as_ref().map(|x| x.0) });
                    } else {
                        // Still resolve the target so its errors show too.
                        if !by_id.contains_key(&b.next.value) {
                            add_edge(self, &mut outgoing, &b.next, EdgeKind::Next);
                        }
                    }
                    probs.extend(p);
                }
                match &s.otherwise {
                    Some(o) => {
                        let p = o.probability.as_ref().map(|p| (p.value, Place::of(p)));
                        if kind == StepKind::Inclusive {
                            if let Some((_, pl)) = &p {
                                self.err("bad-probability", pl.clone(), "`otherwise` of an inclusive decision has no probability: it is taken exactly when no branch is", "remove it; give each branch its own chance instead");
                            }
                        }
                        add_edge(self, &mut outgoing, &o.next, EdgeKind::Otherwise { probability: p.as_ref().map(|x| x.0) });
                        if kind == StepKind::Decision {
                            probs.extend(p);
                        }
                    }
                    None => self.err(
                        "missing-otherwise",
                        place.clone(),
                        format!("{} `{}` has no `otherwise`", kind.name(), s.id.value),
                        "add `otherwise: {next: step}` so that a case never gets stuck when no condition holds",
                    ),
                }
                self.probabilities(s, kind, &probs, place.clone());
            }
            StepKind::Parallel => match &s.next {
                Some(NextDef::Many(v)) if v.len() >= 2 => {
                    for t in v {
                        add_edge(self, &mut outgoing, t, EdgeKind::Next);
                    }
                }
                Some(n) => {
                    let p = n.targets().first().map(Place::of).unwrap_or(place.clone());
                    for t in n.targets() {
                        add_edge(self, &mut outgoing, t, EdgeKind::Next);
                    }
                    self.warn("useless-gateway", p, format!("parallel `{}` starts only one branch", s.id.value), "a parallel split needs two or more steps in `next: [a, b]`; or remove it");
                }
                None => self.err("missing-next", place.clone(), format!("parallel `{}` has no `next`", s.id.value), "list the steps that start at once: `next: [a, b]`"),
            },
            StepKind::End | StepKind::Terminate => {}
            _ => match &s.next {
                Some(NextDef::One(t)) => add_edge(self, &mut outgoing, t, EdgeKind::Next),
                Some(NextDef::Many(v)) => {
                    let p = v.first().map(Place::of).unwrap_or(place.clone());
                    self.err("many-next", p, format!("{} `{}` has several `next` steps", kind.name(), s.id.value), "only a `parallel` step starts several steps at once; add one, or a `decision`");
                }
                None => match following {
                    Some(f) if f.kind != StepKind::Start => add_edge(self, &mut outgoing, &f.id, EdgeKind::Next),
                    _ => self.err(
                        "missing-next",
                        place.clone(),
                        format!("`{}` is the last step and has no `next`", s.id.value),
                        "a step without `next` continues with the step below it; end the list with an `end` step, or write `next:`",
                    ),
                },
            },
        }

        // Timeout.
        let timeout = s.timeout.as_ref().and_then(|t| {
            let d = self.duration(&t.after, "timeout")?;
            let before = outgoing.len();
            add_edge(self, &mut outgoing, &t.next, EdgeKind::Timeout);
            (outgoing.len() > before).then(|| (d, outgoing[before]))
        });

        if s.title.is_none()
            && matches!(
                kind,
                StepKind::Task | StepKind::Wait | StepKind::Receive | StepKind::Subprocess
            )
        {
            self.warn(
                "no-title",
                place.clone(),
                format!("step `{}` has no title", s.id.value),
                "give it a human title, e.g. `title: بازدید از محل` and `title_en: Site visit`",
            );
        }

        // Task fields.
        let performer = s.performer.as_ref().and_then(|p| self.role(p, roles, "performer"));
        let mode = s.mode.unwrap_or_default();
        if kind == StepKind::Task && performer.is_none() && s.performer.is_none() && mode != TaskMode::Service {
            self.warn(
                "no-performer",
                place.clone(),
                format!("task `{}` has no performer", s.id.value),
                "say who does it: `performer: <role>`; automatic steps are `mode: service`",
            );
        }
        let mut tags = TagSet::default();
        for t in &s.tags {
            match Tag::from_name(&t.value) {
                Some(tag) => {
                    if !tags.insert(tag) {
                        self.warn(
                            "duplicate-tag",
                            Place::of(t),
                            format!("tag `{}` is written twice", t.value),
                            "remove one",
                        );
                    }
                }
                None => {
                    let all: Vec<&str> = Tag::ALL.iter().map(|t| t.name()).collect();
                    let help = suggest(&t.value, all.iter().copied(), format!("tags are: {}", all.join(", ")));
                    self.err("unknown-tag", Place::of(t), format!("`{}` is not a tag", t.value), help);
                }
            }
        }
        if tags.contains(Tag::Discretionary) && !(tags.contains(Tag::Approval) || tags.contains(Tag::Signature)) {
            self.warn("discretionary-without-approval", place.clone(), format!("`{}` is discretionary but neither an approval nor a signature", s.id.value), "a discretionary step is an approval or signature that rests on one person's judgement; tag it `approval` or `signature` too");
        }
        let shows = s
            .shows
            .iter()
            .filter_map(|v| self.var(v, vars, "shown variable"))
            .collect();
        let sets = s
            .sets
            .iter()
            .filter_map(|v| self.var(v, vars, "set variable"))
            .collect();
        let compute = s
            .compute
            .iter()
            .filter_map(|c| {
                Some((
                    self.var(&c.set, vars, "computed variable")?,
                    self.condition(&c.to, vars, "the computation")?,
                ))
            })
            .collect();
        let automatic = kind == StepKind::Task && mode == TaskMode::Service;
        if !s.compute.is_empty() && !automatic {
            self.err(
                "field-not-for-kind",
                place.clone(),
                format!(
                    "`compute` applies only to automatic tasks (`mode: service`), not to `{}`",
                    s.id.value
                ),
                "make the step `mode: service`, or let the performer `sets:` the value",
            );
        }
        let duration = s.duration.as_ref().and_then(|d| self.distribution(d));
        let deadline = s
            .deadline
            .as_ref()
            .and_then(|d| self.deadline(d, roles, vars, place.clone(), by_id));

        let wait = s.wait.as_ref().and_then(|w| {
            let given = [w.duration.is_some(), w.until.is_some(), w.until_data.is_some()]
                .iter()
                .filter(|b| **b)
                .count();
            if given != 1 {
                self.err(
                    "bad-wait",
                    place.clone(),
                    format!(
                        "wait `{}` must give exactly one of `duration`, `until` and `until_data`",
                        s.id.value
                    ),
                    "e.g. `wait: {duration: 10 working days}`",
                );
                return None;
            }
            if let Some(d) = &w.duration {
                return self.duration(d, "wait").map(WaitFor::Duration);
            }
            if let Some(u) = &w.until {
                return match parse_local_datetime(&u.value) {
                    Ok(t) => Some(WaitFor::Until(t)),
                    Err(e) => {
                        self.err(
                            "bad-date",
                            Place::of(u),
                            e,
                            "write a Gregorian `2026-03-20T09:00` or a Solar Hijri `1405-01-15` date",
                        );
                        None
                    }
                };
            }
            let v = w.until_data.as_ref()?;
            let ix = self.var(v, vars, "wait until")?;
            if self.var_types.get(ix.0 as usize) != Some(&VarType::Date) {
                self.err(
                    "wrong-type",
                    Place::of(v),
                    format!("`until_data: {}` must name a `date` variable", v.value),
                    "declare the variable with `type: date`",
                );
                return None;
            }
            Some(WaitFor::UntilData(ix))
        });
        if kind == StepKind::Wait && s.wait.is_none() {
            self.err(
                "bad-wait",
                place.clone(),
                format!("wait `{}` does not say what it waits for", s.id.value),
                "add `wait: {duration: 10 working days}` (or `until:` a date, or `until_data:` a date variable)",
            );
        }
        if kind == StepKind::Receive && s.message.is_none() {
            self.err(
                "missing-message",
                place.clone(),
                format!("receive `{}` has no `message`", s.id.value),
                "name the message it waits for, e.g. `message: payment-confirmed`",
            );
        }
        let correlation = s
            .correlation
            .as_ref()
            .and_then(|c| self.condition(c, vars, "the correlation key"));
        let calls = s.process.as_ref().map(|p| {
            if let Some(known) = &ctx.processes {
                if !known.iter().any(|k| k == &p.value) {
                    let help = suggest(
                        &p.value,
                        known.iter().map(String::as_str),
                        "validate it together with the file that defines the called process".to_owned(),
                    );
                    self.warn(
                        "unknown-process",
                        Place::of(p),
                        format!(
                            "subprocess `{}` calls `{}`, which is not among the processes validated",
                            s.id.value, p.value
                        ),
                        help,
                    );
                }
            }
            ProcessId(p.value.clone())
        });
        if kind == StepKind::Subprocess && s.process.is_none() {
            self.err(
                "missing-process",
                place.clone(),
                format!("subprocess `{}` does not say which process it calls", s.id.value),
                "add `process: <process id>`",
            );
        }
        if matches!(kind, StepKind::End | StepKind::Terminate) && s.outcome.is_none() {
            self.warn(
                "no-outcome",
                place.clone(),
                format!("{} `{}` has no `outcome`", kind.name(), s.id.value),
                "say how the case ended, e.g. `outcome: issued` or `outcome: rejected`",
            );
        }
        let schedule = s.schedule.as_ref().and_then(|sch| self.schedule(sch, place.clone()));

        Step {
            id: s.id.value.clone(),
            title: s.title.clone().unwrap_or_else(|| s.id.value.clone()),
            title_en: s.title_en.clone(),
            kind,
            performer,
            mode,
            tags,
            value: s.value,
            shows,
            sets,
            compute,
            duration,
            deadline,
            timeout,
            waits_on_citizen: s.waits_on == Some(WaitsOn::Citizen),
            wait,
            message: s.message.as_ref().map(|m| m.value.clone()),
            correlation,
            calls,
            outcome: s.outcome.as_ref().map(|o| o.value.clone()),
            schedule,
            outgoing,
            incoming: Vec::new(),
            place,
        }
    }

    fn probabilities(&mut self, s: &StepDef, kind: StepKind, probs: &[(f64, Place)], place: Place) {
        for (p, pl) in probs {
            if !(0.0..=1.0).contains(p) || p.is_nan() {
                self.err(
                    "bad-probability",
                    pl.clone(),
                    format!("probability {p} is not between 0 and 1"),
                    "write a chance such as `0.25`",
                );
            }
        }
        if kind != StepKind::Decision || probs.is_empty() {
            return;
        }
        let ways = s.branches.len() + usize::from(s.otherwise.is_some());
        if probs.len() != ways {
            self.err(
                "bad-probability",
                place,
                format!(
                    "decision `{}` gives probabilities to some ways out but not all",
                    s.id.value
                ),
                "give every branch and `otherwise` a probability, or none of them",
            );
            return;
        }
        let sum: f64 = probs.iter().map(|(p, _)| p).sum();
        if (sum - 1.0).abs() > 1e-6 {
            self.err(
                "bad-probability",
                place,
                format!(
                    "the probabilities of decision `{}` add up to {sum:.4}, not 1",
                    s.id.value
                ),
                "exactly one way is taken, so the chances must sum to 1",
            );
        }
    }

    /// Reports fields that do not belong to the step's kind.
    fn fields_for_kind(&mut self, s: &StepDef) {
        use StepKind::*;
        let k = s.kind;
        let work = matches!(k, Task | Wait | Receive | Subprocess);
        let checks: [(&str, bool, bool); 17] = [
            ("performer", s.performer.is_some(), k == Task),
            ("mode", s.mode.is_some(), k == Task),
            ("tags", !s.tags.is_empty(), work),
            ("value", s.value.is_some(), work),
            ("shows", !s.shows.is_empty(), k == Task),
            ("sets", !s.sets.is_empty(), matches!(k, Task | Receive | Subprocess)),
            (
                "duration",
                s.duration.is_some(),
                matches!(k, Task | Receive | Subprocess),
            ),
            ("deadline", s.deadline.is_some(), matches!(k, Task | Subprocess)),
            ("timeout", s.timeout.is_some(), matches!(k, Task | Receive | Subprocess)),
            ("waits_on", s.waits_on.is_some(), work),
            ("branches", !s.branches.is_empty(), matches!(k, Decision | Inclusive)),
            ("otherwise", s.otherwise.is_some(), matches!(k, Decision | Inclusive)),
            ("wait", s.wait.is_some(), k == Wait),
            ("message", s.message.is_some(), matches!(k, Receive | Start)),
            ("correlation", s.correlation.is_some(), k == Receive),
            ("process", s.process.is_some(), k == Subprocess),
            ("outcome", s.outcome.is_some(), matches!(k, End | Terminate)),
        ];
        for (field, present, allowed) in checks {
            if present && !allowed {
                self.err(
                    "field-not-for-kind",
                    Place::of(&s.id),
                    format!("`{field}` does not apply to a {} step (`{}`)", k.name(), s.id.value),
                    format!("remove `{field}`, or change `kind:`"),
                );
            }
        }
        if s.schedule.is_some() && k != Start {
            self.err(
                "field-not-for-kind",
                Place::of(&s.id),
                format!("`schedule` applies only to the start step, not to `{}`", s.id.value),
                "move it to the `start` step",
            );
        }
        if s.next.is_some() && matches!(k, End | Terminate | Decision | Inclusive) {
            let help = if matches!(k, Decision | Inclusive) {
                "a decision leaves by its `branches` and `otherwise`"
            } else {
                "nothing follows an end"
            };
            self.err(
                "field-not-for-kind",
                Place::of(&s.id),
                format!("`next` does not apply to a {} step (`{}`)", k.name(), s.id.value),
                help,
            );
        }
    }

    fn distribution(&mut self, d: &DistributionDef) -> Option<Distribution> {
        let mut parsed = Vec::new();
        for (name, s) in d.params() {
            parsed.push((self.duration(s, &format!("duration `{name}`"))?, s));
        }
        let basis = parsed[0].0.basis;
        for (dur, s) in &parsed {
            if dur.basis != basis {
                self.err(
                    "bad-duration",
                    Place::of(*s),
                    "the parameters of one distribution mix working and calendar time",
                    "write all of them in working time, or all in calendar time",
                );
                return None;
            }
            if dur.months > 0 && !matches!(d, DistributionDef::Fixed(_)) {
                self.err(
                    "bad-duration",
                    Place::of(*s),
                    "a distribution cannot be in months, whose length varies",
                    "write it in days, e.g. `30 days`",
                );
                return None;
            }
        }
        let v: Vec<Duration> = parsed.iter().map(|p| p.0).collect();
        let secs = |d: &Duration| d.seconds + d.working_days as u64 * 86_400;
        let first = Place::of(parsed[0].1);
        Some(match d {
            DistributionDef::Fixed(_) => Distribution::Fixed(v[0]),
            DistributionDef::Uniform { .. } => {
                if secs(&v[0]) > secs(&v[1]) {
                    self.err("bad-duration", first, "uniform `min` is larger than `max`", "swap them");
                    return None;
                }
                Distribution::Uniform { min: v[0], max: v[1] }
            }
            DistributionDef::Triangular { .. } => {
                if !(secs(&v[0]) <= secs(&v[1]) && secs(&v[1]) <= secs(&v[2])) {
                    self.err(
                        "bad-duration",
                        first,
                        "triangular needs `min` ≤ `mode` ≤ `max`",
                        "put the most likely value between the least and the most",
                    );
                    return None;
                }
                Distribution::Triangular {
                    min: v[0],
                    mode: v[1],
                    max: v[2],
                }
            }
            DistributionDef::Normal { .. } => Distribution::Normal { mean: v[0], sd: v[1] },
            DistributionDef::Lognormal { .. } => {
                if v[0].is_zero() {
                    self.err(
                        "bad-duration",
                        first,
                        "a lognormal mean must be more than 0",
                        "give a positive mean",
                    );
                    return None;
                }
                Distribution::Lognormal { mean: v[0], sd: v[1] }
            }
            DistributionDef::Exponential { .. } => {
                if v[0].is_zero() {
                    self.err(
                        "bad-duration",
                        first,
                        "an exponential mean must be more than 0",
                        "give a positive mean",
                    );
                    return None;
                }
                Distribution::Exponential { mean: v[0] }
            }
        })
    }

    fn deadline(
        &mut self,
        d: &crate::definition::DeadlineDef,
        roles: &HashMap<&str, RoleIx>,
        vars: &HashMap<&str, VarIx>,
        place: Place,
        steps: &HashMap<String, StepIx>,
    ) -> Option<Deadline> {
        let from = match &d.from {
            None => None,
            Some(f) => match steps.get(&f.value) {
                Some(ix) => Some(*ix),
                None => {
                    let help = suggest(
                        &f.value,
                        steps.keys().map(String::as_str),
                        "name an earlier step of this process".to_owned(),
                    );
                    self.err(
                        "dangling-reference",
                        Place::of(f),
                        format!(
                            "deadline counts from `{}`, which is not a step of this process",
                            f.value
                        ),
                        help,
                    );
                    return None;
                }
            },
        };
        let due = match (&d.due, &d.due_by) {
            (Some(s), None) => Due::After(self.duration(s, "deadline")?),
            (None, Some(by)) => {
                let variable = self.var(&by.data, vars, "`due_by`")?;
                let mut cases = Vec::new();
                for c in &by.cases {
                    cases.push((c.value.value.clone(), self.duration(&c.due, "deadline")?));
                }
                Due::ByData {
                    variable,
                    cases,
                    otherwise: self.duration(&by.otherwise, "deadline")?,
                }
            }
            _ => {
                self.err(
                    "bad-deadline",
                    place,
                    "a deadline needs exactly one of `due` and `due_by`",
                    "e.g. `due: 3 working days`",
                );
                return None;
            }
        };
        let mut escalation = Vec::new();
        for r in &d.escalation {
            let after = self.duration(&r.after, "escalation `after`")?;
            let every = match &r.every {
                Some(e) => {
                    let ev = self.duration(e, "escalation `every`")?;
                    if ev.is_zero() {
                        self.err(
                            "bad-deadline",
                            Place::of(e),
                            "`every` must be longer than 0",
                            "e.g. `every: 1 working day`",
                        );
                        return None;
                    }
                    Some(ev)
                }
                None => None,
            };
            let to = r.to.as_ref().and_then(|t| self.role(t, roles, "escalation target"));
            if matches!(r.action, EscalationAction::Reassign | EscalationAction::Notify) && r.to.is_none() {
                self.err(
                    "bad-deadline",
                    Place::of(&r.after),
                    format!("`{:?}` needs `to:` a role", r.action).to_lowercase(),
                    "say who gets the task or the notice, e.g. `to: mayor-office`",
                );
            }
            if r.times.is_some() && r.every.is_none() {
                self.err(
                    "bad-deadline",
                    Place::of(&r.after),
                    "`times` needs `every`",
                    "e.g. `every: 1 working day` with `times: 3`",
                );
            }
            escalation.push(Rung {
                after,
                action: r.action,
                every,
                times: r.times,
                to,
            });
        }
        Some(Deadline {
            due,
            from,
            pauses_for_citizen: d.pauses_for_citizen,
            escalation,
        })
    }

    fn schedule(&mut self, s: &crate::definition::ScheduleDef, place: Place) -> Option<Schedule> {
        match (&s.cron, &s.repeat) {
            (Some(c), None) => match cron::Schedule::from_str(&c.value) {
                Ok(sch) => Some(Schedule::Cron(Box::new(sch))),
                Err(e) => {
                    self.err("bad-schedule", Place::of(c), format!("`{}` is not a cron expression: {e}", c.value), "cron here has seconds first: `sec min hour day-of-month month day-of-week`, e.g. `0 0 19 * * Tue`");
                    None
                }
            },
            (None, Some(r)) => match parse_repeat(&r.value) {
                Ok(sch) => Some(sch),
                Err(e) => {
                    self.err("bad-schedule", Place::of(r), e, "an ISO-8601 repeat is `R/<start>/<period>`, e.g. `R/2026-01-06T19:00/P14D` for every second Tuesday at 19:00");
                    None
                }
            },
            _ => {
                self.err(
                    "bad-schedule",
                    place,
                    "a schedule needs exactly one of `cron` and `repeat`",
                    "e.g. `schedule: {repeat: R/2026-01-06T19:00/P14D}`",
                );
                None
            }
        }
    }
}

/// The first line of a CEL parse error, as "<what> at character N".
fn cel_message(e: &str) -> String {
    let first = e.lines().next().unwrap_or(e);
    // "ERROR: <input>:1:9: Syntax error: mismatched input ..."
    let rest = first.strip_prefix("ERROR: <input>:").unwrap_or(first);
    let mut parts = rest.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_line), Some(col), Some(msg)) => {
            let msg = msg.trim().trim_start_matches("Syntax error: ");
            let msg = msg
                .split(" expecting ")
                .next()
                .unwrap_or(msg)
                .replace("input '<EOF>'", "end");
            format!("{msg} at character {}", col.trim())
        }
        _ => first.to_owned(),
    }
}

fn sorted<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = it.collect();
    v.sort();
    v
}

/// Parses a local date or date-time: Gregorian `2026-03-20`, `2026-03-20T09:00`
/// or `2026-03-20 09:00[:ss]`. Solar Hijri dates are checked for shape here
/// and converted by the `time` module.
pub fn parse_local_datetime(text: &str) -> Result<chrono::NaiveDateTime, String> {
    let t = text.trim();
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, Some(tm)),
        None => (t, None),
    };
    let written = crate::definition::calendar::parse_date(date)?;
    let (y, m, d) = match written {
        crate::definition::calendar::WrittenDate::Gregorian { year, month, day } => (year, month, day),
        crate::definition::calendar::WrittenDate::SolarHijri { year, month, day } => {
            crate::definition::calendar::solar_hijri_to_gregorian(year, month, day)?
        }
    };
    let date = chrono::NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| format!("`{t}` is not a date"))?;
    let time = match time {
        None => chrono::NaiveTime::MIN,
        Some(tm) => chrono::NaiveTime::parse_from_str(tm, "%H:%M")
            .or_else(|_| chrono::NaiveTime::parse_from_str(tm, "%H:%M:%S"))
            .map_err(|_| format!("`{tm}` is not a time of day `HH:MM`"))?,
    };
    Ok(date.and_time(time))
}

/// Parses `R[n]/<start>/<period>`.
fn parse_repeat(text: &str) -> Result<Schedule, String> {
    let parts: Vec<&str> = text.trim().split('/').collect();
    let [r, start, period] = parts.as_slice() else {
        return Err(format!("`{text}` is not `R/<start>/<period>`"));
    };
    let count = match r.strip_prefix('R') {
        Some("") => None,
        Some(n) => Some(
            n.parse::<u32>()
                .map_err(|_| format!("`{r}`: the count after R must be a whole number"))?,
        ),
        None => return Err(format!("`{text}` must begin with `R`")),
    };
    let start = parse_local_datetime(start)?;
    let period = duration::parse(period).map_err(|e| e.0)?;
    if period.is_zero() {
        return Err("the period of a repeat must be longer than 0".into());
    }
    Ok(Schedule::Repeat { count, start, period })
}
