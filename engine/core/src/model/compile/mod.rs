//! Building a [`Process`] from a [`ProcessDef`]: resolve references, parse
//! durations, conditions and schedules, and check each step's fields against
//! its kind.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;

mod declare;
mod step;
mod timing;

use crate::definition::duration::{self, Duration};
use crate::definition::{ProcessDef, SStr, StepDef, StepKind};
use crate::diagnostic::{did_you_mean, suggest, Diagnostic, Place};
use step::Names;

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
        let bound = comprehension_variables(&s.value);
        let mut names: Vec<String> = program
            .references()
            .variables()
            .into_iter()
            .filter(|n| !bound.iter().any(|b| b == n))
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

        let (roles, role_ix) = self.roles(def);
        let (variables, var_ix) = self.variables(def);
        self.var_types = variables.iter().map(|v: &Variable| v.ty).collect();
        let by_id = self.step_ids(def);
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
            let names = Names {
                steps: &by_id,
                roles: &role_ix,
                vars: &var_ix,
                ctx,
            };
            let step = self.step(s, following, StepIx(i as u32), &names, &mut edges);
            if s.kind == StepKind::Start {
                starts.push(Place::of(&s.id));
            }
            steps.push(step);
        }
        for (ix, e) in edges.iter().enumerate() {
            let step: &mut Step = &mut steps[e.to.ix()];
            step.incoming.push(EdgeIx(ix as u32));
        }
        for (step, s) in steps.iter_mut().zip(&def.steps) {
            self.needs_check(step, s);
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
            regions: std::sync::OnceLock::new(),
        })
    }
}

impl Compiler {
    /// A partial join waits for at least one branch and for fewer than all
    /// it has; one that needs all is a plain join (and says so).
    fn needs_check(&mut self, step: &mut Step, s: &StepDef) {
        let (Some(needs), Some(n)) = (&s.needs, step.needs()) else {
            return;
        };
        let m = step.incoming.len();
        if n == 0 || n > m {
            self.err(
                "bad-needs",
                Place::of(needs),
                format!("join `{}` needs {n} of its branches, but {m} come into it", step.id),
                match m {
                    0 | 1 => "a partial join needs two or more incoming branches; remove `needs:`".to_owned(),
                    2 => "give `needs: 1` to go on after the first, or remove it to wait for both".to_owned(),
                    _ => format!(
                        "give `needs:` a number from 1 to {}, or remove it to wait for all",
                        m - 1
                    ),
                },
            );
        } else if n == m {
            self.warn(
                "useless-needs",
                Place::of(needs),
                format!("join `{}` needs all {m} of its branches, as every join does", step.id),
                "remove `needs:`, or lower it to go on before the slowest branch",
            );
            step.spec = Spec::Gateway;
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

/// The names CEL's comprehension macros bind (`list.exists(a, a.ok)` binds
/// `a`): they are the macro's own, not case data. Read off the text: the
/// first argument of `.all(`, `.exists(`, `.exists_one(`, `.map(` and
/// `.filter(` outside string literals.
fn comprehension_variables(src: &str) -> Vec<String> {
    const MACROS: [&str; 5] = ["all", "exists", "exists_one", "map", "filter"];
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'.' => {
                let rest = &src[i + 1..];
                for m in MACROS {
                    let Some(after) = rest.strip_prefix(m).and_then(|r| r.trim_start().strip_prefix('(')) else {
                        continue;
                    };
                    let after = after.trim_start();
                    let name: String = after
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && after[name.len()..].trim_start().starts_with(',') {
                        out.push(name);
                    }
                }
            }
            None => {}
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::comprehension_variables;

    #[test]
    fn a_macro_binds_its_own_variable_and_a_string_binds_nothing() {
        assert_eq!(comprehension_variables("answers.exists(a, a.objects)"), ["a"]);
        assert_eq!(
            comprehension_variables("xs.all(x, x > 1) && ys.filter( y , y.ok).size() > 0"),
            ["x", "y"]
        );
        assert!(comprehension_variables(r#"note == "a.exists(b, c)""#).is_empty());
        assert!(comprehension_variables("answers.size() >= 3").is_empty());
    }
}
