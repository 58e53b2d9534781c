//! Static checks of a definition, reported all at once and each at its line.
//!
//! Owns: the order of checking (parse → compile → flow checks), the flow
//! checks themselves (reachability, a way to an end, soundness by exploring
//! the token states, smells), calendar files, and validating many files that
//! refer to each other.
//!
//! Must not: touch time, clocks or storage, or evaluate conditions on data.

pub mod statespace;
pub mod yaml11;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::definition::calendar::{parse_date, parse_hours, parse_month_day};
use crate::definition::{parse_calendar, parse_process, CalendarDef, Limits, SourceFile};
use crate::diagnostic::{self, Diagnostic, Place};
use crate::model::{compile, CompileContext, Process, StepIx, StepKind, Tag};
use statespace::{Issue, Loops};

/// The outcome of validating one file.
#[derive(Debug)]
pub struct Report {
    /// The file checked.
    pub source: SourceFile,
    /// The compiled process, when the file had no errors.
    pub process: Option<Process>,
    /// Every problem found, sorted.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Validates a process definition held in memory.
pub fn validate_source(source: SourceFile, ctx: &CompileContext, limits: &Limits) -> Report {
    let def = match parse_process(&source, limits) {
        Ok(d) => d,
        Err(diags) => {
            return Report {
                source,
                process: None,
                diagnostics: diags,
            }
        }
    };
    let mut diags = yaml11::ambiguous_scalars(&source.text);
    if def.steps.len() > limits.max_steps {
        diags.push(
            Diagnostic::error(
                "too-many-steps",
                Place::of(&def.id),
                format!(
                    "the process has {} steps, more than the limit of {}",
                    def.steps.len(),
                    limits.max_steps
                ),
            )
            .help("split it into subprocesses")
            .in_file(&source.name),
        );
        return Report {
            source,
            process: None,
            diagnostics: diags,
        };
    }
    let (process, compile_diags) = compile(&def, ctx);
    diags.extend(compile_diags);
    let process = process.filter(|p| {
        let flow = check_flow(p, limits);
        let ok = !flow.iter().any(Diagnostic::is_error);
        diags.extend(flow);
        ok
    });
    for d in &mut diags {
        d.file.clone_from(&source.name);
    }
    diagnostic::sort(&mut diags);
    Report {
        source,
        process,
        diagnostics: diags,
    }
}

/// The flow checks of a compiled process, in order; soundness only when
/// none of the others found an error (one mistake, one report).
pub fn check_flow(p: &Process, limits: &Limits) -> Vec<Diagnostic> {
    let reach = reachable(p);
    let mut out = unreachable_steps(p, &reach);
    out.extend(no_way_to_an_end(p, &reach));
    out.extend(deadline_order(p));
    out.extend(unset_variables(p));
    out.extend(smells(p, &reach));
    if out.iter().any(Diagnostic::is_error) {
        return out;
    }
    out.extend(soundness(p, limits));
    out
}

/// Which steps can be reached from the start, by index.
fn reachable(p: &Process) -> Vec<bool> {
    let mut reach = vec![false; p.steps.len()];
    let mut todo = vec![p.start];
    reach[p.start.ix()] = true;
    while let Some(s) = todo.pop() {
        for &e in &p.step(s).outgoing {
            let t = p.edge(e).to;
            if !reach[t.ix()] {
                reach[t.ix()] = true;
                todo.push(t);
            }
        }
    }
    reach
}

/// Steps the start never leads to.
fn unreachable_steps(p: &Process, reach: &[bool]) -> Vec<Diagnostic> {
    p.step_ixs()
        .filter(|s| !reach[s.ix()])
        .map(|s| {
            let st = p.step(s);
            Diagnostic::error(
                "unreachable",
                st.place.clone(),
                format!("step `{}` can never be reached from the start", st.id),
            )
            .help("make some step go to it with `next:` (or a branch), or remove it")
        })
        .collect()
}

/// A process with no end, or loops that never lead to one (one error per
/// loop, naming its steps).
fn no_way_to_an_end(p: &Process, reach: &[bool]) -> Vec<Diagnostic> {
    let is_end = |s: &crate::model::Step| matches!(s.kind, StepKind::End | StepKind::Terminate);
    if !p.steps.iter().any(is_end) {
        return vec![
            Diagnostic::error("no-end", p.step(p.start).place.clone(), "the process has no `end` step")
                .help("add `- id: done` with `kind: end` and an `outcome`"),
        ];
    }
    // Which steps can reach an end, walking back from the ends.
    let mut done = vec![false; p.steps.len()];
    let mut todo: Vec<StepIx> = p.step_ixs().filter(|s| is_end(p.step(*s))).collect();
    for s in &todo {
        done[s.ix()] = true;
    }
    while let Some(s) = todo.pop() {
        for &e in &p.step(s).incoming {
            let f = p.edge(e).from;
            if !done[f.ix()] {
                done[f.ix()] = true;
                todo.push(f);
            }
        }
    }
    let stuck: Vec<StepIx> = p.step_ixs().filter(|s| reach[s.ix()] && !done[s.ix()]).collect();
    let mut graph = petgraph::graphmap::DiGraphMap::<u32, ()>::new();
    for &s in &stuck {
        graph.add_node(s.0);
        for &e in &p.step(s).outgoing {
            let t = p.edge(e).to;
            if !done[t.ix()] {
                graph.add_edge(s.0, t.0, ());
            }
        }
    }
    let mut sccs = petgraph::algo::tarjan_scc(&graph);
    sccs.iter_mut().for_each(|c| c.sort());
    sccs.sort();
    let mut out = Vec::new();
    for scc in sccs {
        let is_loop = scc.len() > 1 || graph.contains_edge(scc[0], scc[0]);
        if !is_loop {
            continue;
        }
        let first = p.step(StepIx(scc[0]));
        let mut d = Diagnostic::error(
            "loop-without-exit",
            first.place.clone(),
            format!("`{}` is in a loop that never leads to an end", first.id),
        )
        .help("give one step of the loop a way out: a decision branch towards the end, or a timeout");
        for &o in scc.iter().skip(1).take(6) {
            let st = p.step(StepIx(o));
            d = d.related(st.place.clone(), format!("`{}` is in the same loop", st.id));
        }
        out.push(d);
    }
    out
}

/// A deadline counted from another step needs that step to come first.
fn deadline_order(p: &Process) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for s in p.step_ixs() {
        let st = p.step(s);
        let Some(f) = st.deadline.as_ref().and_then(|d| d.from) else {
            continue;
        };
        if f == s || !reaches(p, f, s) {
            out.push(
                Diagnostic::error(
                    "deadline-from-not-before",
                    st.place.clone(),
                    format!(
                        "the deadline of `{}` counts from `{}`, which cannot come before it",
                        st.id,
                        p.step(f).id
                    ),
                )
                .related(p.step(f).place.clone(), "counted from here")
                .help("count from a step that every path to this one passes first, or leave out `from`"),
            );
        }
    }
    out
}

/// Warnings about shapes that work but cost: joins with one way in, and
/// discretionary approvals in a row ("golden signatures").
fn smells(p: &Process, reach: &[bool]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for s in p.step_ixs() {
        let st = p.step(s);
        if matches!(st.kind, StepKind::Join | StepKind::InclusiveJoin) && st.incoming.len() < 2 && reach[s.ix()] {
            out.push(
                Diagnostic::warning(
                    "useless-gateway",
                    st.place.clone(),
                    format!("{} `{}` has one way in and one way out", st.kind.name(), st.id),
                )
                .help("a join needs two or more incoming branches; remove it and connect the steps directly"),
            );
        }
        if st.tags.contains(Tag::Discretionary) {
            for t in next_counted(p, s) {
                let nt = p.step(t);
                if nt.tags.contains(Tag::Discretionary) {
                    out.push(
                        Diagnostic::warning("discretionary-in-a-row", nt.place.clone(), format!("discretionary `{}` follows discretionary `{}`", nt.id, st.id))
                            .related(st.place.clone(), "the one before")
                            .help("two taste-based approvals in a row are a bottleneck (\"golden signatures\"); merge them, or replace one with a rule-based check"),
                    );
                }
            }
        }
    }
    out
}

/// Soundness by exploring the token states: each defect found, and a
/// warning when the states ran past the limit.
fn soundness(p: &Process, limits: &Limits) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let g = statespace::explore(p, Loops::Free, limits.max_states);
    if g.truncated {
        out.push(
            Diagnostic::warning(
                "soundness-unchecked",
                p.step(p.start).place.clone(),
                format!(
                    "the process has more than {} reachable states; soundness was checked only partly",
                    limits.max_states
                ),
            )
            .help("many parallel branches multiply the states; nesting them in subprocesses keeps each part checkable"),
        );
    }
    out.extend(g.issues.iter().map(|issue| issue_diagnostic(p, issue)));
    out
}

/// Variables read (by a condition, correlation, computation, `due_by` or
/// `until_data`) where no step that can come before sets them, and that are
/// neither required at start nor the engine-given `tracking_code`.
fn unset_variables(p: &Process) -> Vec<Diagnostic> {
    use crate::model::{Due, EdgeKind, WaitFor};
    let given = |name: &str| name == "tracking_code" || p.variable(name).is_some_and(|v| v.required);
    let sets = |s: StepIx, name: &str| {
        let st = p.step(s);
        st.sets
            .iter()
            .chain(st.compute().iter().map(|c| &c.0))
            .chain(st.each().and_then(|e| e.gather.as_ref()))
            .any(|v| p.variables[v.0 as usize].name == name)
    };
    let mut out = Vec::new();
    for s in p.step_ixs() {
        let st = p.step(s);
        let mut reads: Vec<String> = Vec::new();
        for &e in &st.outgoing {
            if let EdgeKind::Branch { condition, .. } = &p.edge(e).kind {
                reads.extend(condition.variables.iter().cloned());
            }
        }
        if let Some(c) = st.correlation() {
            reads.extend(c.variables.iter().cloned());
        }
        // A computation may use what an earlier one of the same step computed.
        for (i, (_, c)) in st.compute().iter().enumerate() {
            let earlier = |n: &String| {
                st.compute()[..i]
                    .iter()
                    .any(|(v, _)| p.variables[v.0 as usize].name == *n)
            };
            reads.extend(c.variables.iter().filter(|n| !earlier(n)).cloned());
        }
        if let Some(Due::ByData { variable, .. }) = st.deadline.as_ref().map(|d| &d.due) {
            reads.push(p.variables[variable.0 as usize].name.clone());
        }
        if let Some(WaitFor::UntilData(v)) = st.wait() {
            reads.push(p.variables[v.0 as usize].name.clone());
        }
        if let Some(each) = st.each() {
            match &each.instances {
                crate::model::Instances::Over(v) => reads.push(p.var(*v).name.clone()),
                crate::model::Instances::Count(c) => reads.extend(c.variables.iter().cloned()),
            }
            // The completion condition reads what the instances gather.
            let gathered = each.gather.map(|g| p.var(g).name.as_str());
            if let Some(c) = &each.until {
                reads.extend(c.variables.iter().filter(|n| Some(n.as_str()) != gathered).cloned());
            }
        }
        reads.sort();
        reads.dedup();
        for name in reads {
            if given(&name) || p.step_ixs().any(|w| w != s && sets(w, &name) && reaches(p, w, s)) {
                continue;
            }
            out.push(
                Diagnostic::warning("unset-variable", st.place.clone(), format!("`{}` reads `{name}`, but no step before it sets it and it is not required at start", st.id))
                    .help(format!("add `{name}` to the `sets:` of the step that decides it, or mark it `required: true` under `data:`")),
            );
        }
    }
    out
}

/// Whether some path leads from `a` to `b`.
fn reaches(p: &Process, a: StepIx, b: StepIx) -> bool {
    let mut seen = vec![false; p.steps.len()];
    let mut todo = vec![a];
    while let Some(s) = todo.pop() {
        for &e in &p.step(s).outgoing {
            let t = p.edge(e).to;
            if t == b {
                return true;
            }
            if !std::mem::replace(&mut seen[t.ix()], true) {
                todo.push(t);
            }
        }
    }
    false
}

/// The counted steps that can follow `s` directly, looking through gateways.
pub fn next_counted(p: &Process, s: StepIx) -> Vec<StepIx> {
    let mut out = BTreeSet::new();
    let mut seen = vec![false; p.steps.len()];
    let mut todo: Vec<StepIx> = p.step(s).outgoing.iter().map(|e| p.edge(*e).to).collect();
    while let Some(t) = todo.pop() {
        if std::mem::replace(&mut seen[t.ix()], true) {
            continue;
        }
        if p.step(t).counts() {
            out.insert(t);
        } else {
            todo.extend(p.step(t).outgoing.iter().map(|e| p.edge(*e).to));
        }
    }
    out.into_iter().collect()
}

fn names(p: &Process, steps: &[StepIx]) -> String {
    steps
        .iter()
        .map(|s| format!("`{}`", p.step(*s).id))
        .collect::<Vec<_>>()
        .join(", ")
}

fn issue_diagnostic(p: &Process, issue: &Issue) -> Diagnostic {
    match issue {
        Issue::Deadlock { joins, waiting } => {
            let j = p.step(joins[0]);
            let mut d = Diagnostic::error(
                "deadlock",
                j.place.clone(),
                format!("the case can get stuck at {}: it waits for branches that can never arrive (tokens wait after {})", names(p, joins), names(p, waiting)),
            )
            .help("a `join` waits for every incoming branch; if only one of them can come (they start at a `decision`), let them meet at an ordinary step instead, or start them with `parallel`");
            for w in waiting.iter().take(6) {
                let st = p.step(*w);
                d = d.related(st.place.clone(), format!("a branch waits after `{}`", st.id));
            }
            d
        }
        Issue::LackOfSync { step, from } => {
            let st = p.step(*step);
            let mut d = Diagnostic::error(
                "lack-of-synchronisation",
                st.place.clone(),
                format!("branches running at the same time (from {}) both arrive at `{}`, which does not wait for them: it would run twice", names(p, from), st.id),
            )
            .help("join the parallel branches first with a `kind: join` step, then go on");
            for f in from.iter().take(6) {
                let fs = p.step(*f);
                d = d.related(fs.place.clone(), format!("a branch comes from `{}`", fs.id));
            }
            d
        }
        Issue::ImproperCompletion { end, open } => {
            let st = p.step(*end);
            let mut d = Diagnostic::error(
                "improper-completion",
                st.place.clone(),
                format!("the case can reach `{}` while other work is still open at {}", st.id, names(p, open)),
            )
            .help("join the parallel branches before the end, or use `kind: terminate` to end the case and cancel the open work");
            for o in open.iter().take(6) {
                let os = p.step(*o);
                d = d.related(os.place.clone(), format!("`{}` is still open", os.id));
            }
            d
        }
        Issue::Livelock { steps } => {
            let st = p.step(steps[0]);
            let mut d = Diagnostic::error(
                "loop-without-exit",
                st.place.clone(),
                format!(
                    "once the case is in the loop through {}, it can never finish",
                    names(p, steps)
                ),
            )
            .help("give the loop a way out that does not wait on its own branches");
            for o in steps.iter().skip(1).take(6) {
                let os = p.step(*o);
                d = d.related(os.place.clone(), format!("`{}` is in the loop", os.id));
            }
            d
        }
    }
}

/// Checks a calendar file; returns its problems.
pub fn validate_calendar(source: &SourceFile, limits: &Limits) -> (Option<CalendarDef>, Vec<Diagnostic>) {
    let cal = match parse_calendar(source, limits) {
        Ok(c) => c,
        Err(d) => return (None, d),
    };
    let mut diags = yaml11::ambiguous_scalars(&source.text);
    let expected = Path::new(&source.name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("");
    if !expected.is_empty() && cal.id.value != expected {
        diags.push(
            Diagnostic::error(
                "calendar-name",
                Place::of(&cal.id),
                format!("calendar id `{}` differs from its file name `{expected}`", cal.id.value),
            )
            .help("processes find a calendar by file name; make the id the same"),
        );
    }
    if cal.time_zone.value.parse::<chrono_tz::Tz>().is_err() {
        diags.push(
            Diagnostic::error(
                "bad-time-zone",
                Place::of(&cal.time_zone),
                format!("`{}` is not an IANA time zone", cal.time_zone.value),
            )
            .help("e.g. `Asia/Tehran`"),
        );
    }
    let mut open_days = 0;
    for (day, hours) in cal.week.days() {
        if let Some(h) = hours {
            match parse_hours(&h.value) {
                Ok(r) => open_days += usize::from(!r.is_empty()),
                Err(e) => diags.push(
                    Diagnostic::error("bad-hours", Place::of(h), format!("{day}: {e}"))
                        .help("write opening hours as `07:30-14:30`, or `off`"),
                ),
            }
        }
    }
    if open_days == 0 {
        diags.push(
            Diagnostic::error("no-working-days", Place::of(&cal.id), "the calendar has no working day")
                .help("give opening hours to at least one day under `week:`"),
        );
    }
    for h in &cal.holidays.solar_hijri_yearly {
        if let Err(e) = parse_month_day(&h.date.value, true) {
            diags.push(
                Diagnostic::error(
                    "bad-date",
                    Place::of(&h.date),
                    format!("`{}`: {e} (Solar Hijri)", h.date.value),
                )
                .help("yearly Solar Hijri holidays are `MM-DD`, e.g. `01-01` for Nowruz"),
            );
        }
    }
    for h in &cal.holidays.gregorian_yearly {
        if let Err(e) = parse_month_day(&h.date.value, false) {
            diags.push(
                Diagnostic::error("bad-date", Place::of(&h.date), format!("`{}`: {e}", h.date.value))
                    .help("yearly Gregorian holidays are `MM-DD`"),
            );
        }
    }
    for h in &cal.holidays.dates {
        let checked = parse_date(&h.date.value).and_then(|d| match d {
            crate::definition::calendar::WrittenDate::SolarHijri { year, month, day } => {
                crate::definition::calendar::solar_hijri_to_gregorian(year, month, day).map(|_| ())
            }
            crate::definition::calendar::WrittenDate::Gregorian { .. } => Ok(()),
        });
        if let Err(e) = checked {
            diags.push(
                Diagnostic::error("bad-date", Place::of(&h.date), e)
                    .help("one-off holidays are `YYYY-MM-DD`, Solar Hijri (e.g. `1405-01-13`) or Gregorian"),
            );
        }
    }
    for h in &cal.holidays.islamic_yearly {
        let ok = parse_month_day(&h.date.value, true).is_ok_and(|(m, d)| m <= 12 && d <= 30);
        if !ok {
            diags.push(
                Diagnostic::error(
                    "bad-date",
                    Place::of(&h.date),
                    format!("`{}` is not an Islamic month and day", h.date.value),
                )
                .help("yearly Islamic holidays are `MM-DD` with a day up to 30, e.g. `09-21` for 21 Ramadan"),
            );
        }
    }
    match cal.holidays.years {
        None if !cal.holidays.islamic_yearly.is_empty() => diags.push(
            Diagnostic::error(
                "calendar-years",
                Place::of(&cal.id),
                "`islamic_yearly` holidays are computed for the years in `years`, which is missing",
            )
            .help("add `years: {from: 1400, to: 1410}` under `holidays:` (Solar Hijri years)"),
        ),
        None if !cal.holidays.dates.is_empty() => diags.push(
            Diagnostic::warning(
                "calendar-years",
                Place::of(&cal.id),
                "the calendar does not say which years its holiday lists cover",
            )
            .help(
                "add `years: {from: 1400, to: 1410}` under `holidays:`; working time outside them is then warned about",
            ),
        ),
        Some(y) if y.from > y.to || y.to - y.from > 200 => diags.push(
            Diagnostic::error(
                "calendar-years",
                Place::of(&cal.id),
                format!("`years` {}–{} is not a span of at most 200 years", y.from, y.to),
            )
            .help("write the first and the last Solar Hijri year, e.g. `{from: 1400, to: 1410}`"),
        ),
        _ => {}
    }
    for d in &mut diags {
        d.file.clone_from(&source.name);
    }
    (Some(cal), diags)
}

/// Fixed dates of a process (`wait: until`) that fall outside the years its
/// calendar (beside the file) says its holiday lists cover: working time
/// there would count lunar holidays as working days.
fn outside_covered_years(p: &crate::model::Process, path: &Path, limits: &Limits) -> Vec<Diagnostic> {
    let Some(name) = &p.calendar else { return Vec::new() };
    let file = path
        .parent()
        .unwrap_or(Path::new("."))
        .join("calendars")
        .join(format!("{name}.yaml"));
    let Ok(src) = SourceFile::read(&file, limits) else {
        return Vec::new();
    };
    let Some(def) = validate_calendar(&src, limits).0 else {
        return Vec::new();
    };
    let Ok(cal) = crate::time::WorkCalendar::from_def(&def) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for step in &p.steps {
        if let Some(crate::model::WaitFor::Until(local)) = step.wait() {
            let t = cal.instant(*local);
            if !cal.covers(t) {
                out.push(
                    Diagnostic::warning(
                        "calendar-years",
                        step.place.clone(),
                        format!(
                            "`{}` waits until {}, outside the years calendar `{name}` covers",
                            step.id,
                            cal.show(t)
                        ),
                    )
                    .help("extend the calendar's `years` (and its holiday lists) to cover the date"),
                );
            }
        }
    }
    out
}

/// Is this path a calendar file (inside a `calendars` folder)?
pub fn is_calendar_path(path: &Path) -> bool {
    path.parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "calendars")
}

/// Validates several files together: processes may call each other as
/// subprocesses, and calendars are looked up in `calendars/` beside each
/// process file. Files inside a `calendars/` folder are checked as calendars.
pub fn validate_paths(paths: &[PathBuf], limits: &Limits) -> Vec<Report> {
    let mut reports = Vec::new();
    let mut sources: Vec<(PathBuf, Result<SourceFile, Box<Diagnostic>>)> =
        paths.iter().map(|p| (p.clone(), SourceFile::read(p, limits))).collect();
    // First pass: which process ids exist among the files.
    let mut ids: Vec<String> = Vec::new();
    for (path, src) in &sources {
        if let (false, Ok(s)) = (is_calendar_path(path), src) {
            if let Ok(def) = parse_process(s, limits) {
                ids.push(def.id.value);
            }
        }
    }
    for (path, src) in sources.drain(..) {
        let source = match src {
            Ok(s) => s,
            Err(d) => {
                reports.push(Report {
                    source: SourceFile::new(path.display().to_string(), String::new()),
                    process: None,
                    diagnostics: vec![*d],
                });
                continue;
            }
        };
        if is_calendar_path(&path) {
            let (_, diagnostics) = validate_calendar(&source, limits);
            reports.push(Report {
                source,
                process: None,
                diagnostics,
            });
            continue;
        }
        let ctx = CompileContext {
            calendars: Some(calendars_beside(&path)),
            processes: Some(ids.clone()),
        };
        let mut report = validate_source(source, &ctx, limits);
        if let Some(p) = &report.process {
            let name = report.source.name.clone();
            report.diagnostics.extend(
                outside_covered_years(p, &path, limits)
                    .into_iter()
                    .map(|d| d.in_file(&name)),
            );
            diagnostic::sort(&mut report.diagnostics);
        }
        reports.push(report);
    }
    reports
}

/// The calendar names available to a process file: `calendars/*.yaml` beside it.
pub fn calendars_beside(path: &Path) -> Vec<String> {
    let dir = path.parent().unwrap_or(Path::new(".")).join("calendars");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .then(|| p.file_stem()?.to_str().map(str::to_owned))
                .flatten()
        })
        .collect();
    out.sort();
    out
}
