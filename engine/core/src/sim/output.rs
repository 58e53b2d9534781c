//! The figures of a run: the report, its text table, and the event log as
//! CSV and XES.

use std::fmt::Write as _;

use super::run::Totals;
use super::{LogEntry, Plan, Report, RoleFigures, Stats, StepFigures, Unfinished};

/// Steps the text table lists among the slowest (the JSON has them all).
const SLOWEST: usize = 10;

fn stats(mut v: Vec<f64>, rep_means: &[f64]) -> (Stats, Vec<f64>) {
    v.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        if v.is_empty() {
            0.0
        } else {
            v[((v.len() - 1) as f64 * q).round() as usize]
        }
    };
    let mean = if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    };
    let ci95 = (rep_means.len() > 1).then(|| {
        let m = rep_means.iter().sum::<f64>() / rep_means.len() as f64;
        let var = rep_means.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (rep_means.len() - 1) as f64;
        t975(rep_means.len() - 1) * (var / rep_means.len() as f64).sqrt()
    });
    (
        Stats {
            mean,
            p50: pct(0.5),
            p90: pct(0.9),
            p95: pct(0.95),
            ci95,
        },
        v,
    )
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom.
fn t975(df: usize) -> f64 {
    const T: [f64; 10] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];
    match df {
        0 => 0.0,
        1..=10 => T[df - 1],
        11..=20 => 2.1,
        21..=40 => 2.03,
        _ => 1.96,
    }
}

/// Builds the report from the totals of every replication.
pub(super) fn report(plan: &Plan<'_>, t: Totals) -> (Report, Vec<LogEntry>) {
    let p = plan.p;
    let finished = t.cycle.len() as u64;
    let per = |x: f64| if finished > 0 { x / finished as f64 } else { 0.0 };
    // Step figures sum over every counted case, finished or not.
    let per_arrived = |x: f64| if t.arrived > 0 { x / t.arrived as f64 } else { 0.0 };
    let (cycle_days, cycle) = stats(t.cycle, &t.rep_means);
    let (cycle_working_days, _) = stats(t.working, &t.rep_working_means);
    let mut roles: Vec<RoleFigures> = t
        .roles
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().map(|r| (i, r)))
        .map(|(i, r)| RoleFigures {
            role: p.roles[i].id.clone(),
            people: Some(r.people),
            utilisation: (r.staffed_open_s > 0.0).then(|| r.busy_open_s / r.staffed_open_s),
            mean_wait_hours: if r.served > 0 {
                r.wait_s / r.served as f64 / 3600.0
            } else {
                0.0
            },
            total_wait_days: r.wait_s / 86_400.0,
            mean_queue: if r.span_s > 0.0 { r.queue_area / r.span_s } else { 0.0 },
            max_queue: r.max_queue,
        })
        .collect();
    roles.sort_by(|a, b| {
        b.total_wait_days
            .total_cmp(&a.total_wait_days)
            .then(a.role.cmp(&b.role))
    });
    let mut slowest: Vec<StepFigures> = p
        .steps
        .iter()
        .enumerate()
        .filter(|(i, _)| t.step_n[*i] > 0)
        .map(|(i, s)| {
            let mean_days = t.step_s[i] / t.step_n[i] as f64 / 86_400.0;
            let per_case = per_arrived(t.step_n[i] as f64);
            StepFigures {
                step: s.id.clone(),
                title: s.title_en.clone().unwrap_or_else(|| s.title.clone()),
                per_case,
                mean_days,
                days_per_case: per_case * mean_days,
            }
        })
        .collect();
    slowest.sort_by(|a, b| b.days_per_case.total_cmp(&a.days_per_case).then(a.step.cmp(&b.step)));
    (
        Report {
            process: p.id.0.clone(),
            scenario: None,
            cases: plan.sc.cases,
            horizon_days: plan.horizon.map(|h| (h.0 - plan.t0.0) as f64 / 86_400.0),
            replications: plan.sc.replications.max(1),
            seed: plan.sc.seed,
            arrived: t.arrived,
            finished,
            cycle_days,
            cycle_working_days,
            processing_days_mean: per(t.processing_s) / 86_400.0,
            queue_days_mean: per(t.queue_s) / 86_400.0,
            citizen_days_mean: per(t.citizen_s) / 86_400.0,
            steps_mean: per(t.steps as f64),
            escalations_mean: per(t.escalations as f64),
            sla_breach_rate: per(t.breaches as f64),
            roles,
            slowest_steps: slowest,
            sample_case: t.sample,
            unfinished: t.unfinished,
            unfinished_why: {
                let mut v: Vec<Unfinished> = t
                    .unfinished_why
                    .iter()
                    .map(|((step, reason), n)| Unfinished {
                        step: step.clone(),
                        reason: reason.clone(),
                        cases: *n,
                    })
                    .collect();
                v.sort_by(|a, b| b.cases.cmp(&a.cases).then(a.step.cmp(&b.step)));
                v
            },
            cases_started: t.started,
            activities: t.activities,
            cycle_samples: cycle,
        },
        t.log,
    )
}

/// The report as a short text table.
pub fn to_text(r: &Report) -> String {
    let mut s = String::new();
    if let Some(note) = &r.scenario {
        let _ = writeln!(s, "{note}");
    }
    let _ = writeln!(
        s,
        "{}: {} cases x {} replications, seed {}",
        r.process,
        r.arrived / u64::from(r.replications.max(1)),
        r.replications,
        r.seed
    );
    for (name, c) in [
        ("cycle time (days)", &r.cycle_days),
        ("cycle (working days)", &r.cycle_working_days),
    ] {
        let ci = c.ci95.map(|x| format!(" ± {x:.2}")).unwrap_or_default();
        let _ = writeln!(
            s,
            "  {name:<24} mean {:.2}{ci}   p50 {:.2}   p90 {:.2}   p95 {:.2}",
            c.mean, c.p50, c.p90, c.p95
        );
    }
    let _ = writeln!(
        s,
        "  per case                 {:.1} steps, {:.2} escalations; processing {:.1} d, queueing {:.1} d (summed over activities)",
        r.steps_mean, r.escalations_mean, r.processing_days_mean, r.queue_days_mean
    );
    let _ = writeln!(
        s,
        "  waiting on the citizen   {:.1} d per case (steps marked `waits_on: citizen`)",
        r.citizen_days_mean
    );
    let _ = writeln!(s, "  SLA breach rate          {:.1}%", r.sla_breach_rate * 100.0);
    let _ = writeln!(
        s,
        "  finished                 {} ({} unfinished)",
        r.finished, r.unfinished
    );
    if r.unfinished > 0 {
        let _ = writeln!(
            s,
            "  warning: {} of {} cases did not finish; the figures per case are of the {} that did:",
            r.unfinished, r.arrived, r.finished
        );
        for u in r.unfinished_why.iter().take(5) {
            let _ = writeln!(s, "    {:>7} at {}: {}", u.cases, u.step, u.reason);
        }
    }
    if !r.roles.is_empty() {
        let _ = writeln!(s, "  roles, most waiting first:");
        let _ = writeln!(
            s,
            "    {:<24} {:>6} {:>11} {:>12} {:>11} {:>9}",
            "role", "people", "utilisation", "mean wait h", "mean queue", "max queue"
        );
        for role in &r.roles {
            let _ = writeln!(
                s,
                "    {:<24} {:>6} {:>11} {:>12.1} {:>11.1} {:>9}",
                role.role,
                role.people.map_or("-".into(), |n| n.to_string()),
                role.utilisation.map_or("-".into(), |u| format!("{:.0}%", u * 100.0)),
                role.mean_wait_hours,
                role.mean_queue,
                role.max_queue
            );
        }
    }
    if !r.slowest_steps.is_empty() {
        let _ = writeln!(s, "  slowest steps (days per case = times per case x mean days):");
        for st in r.slowest_steps.iter().take(SLOWEST) {
            let _ = writeln!(
                s,
                "    {:<32} {:>6.2} x {:>7.2} = {:>7.2}  {}",
                st.step, st.per_case, st.mean_days, st.days_per_case, st.title
            );
        }
    }
    if let Some(c) = &r.sample_case {
        let _ = writeln!(
            s,
            "  sample case {} (arrived {}; {}):",
            c.case,
            c.arrived_local,
            c.outcome.as_deref().unwrap_or("unfinished")
        );
        for a in &c.activities {
            let _ = writeln!(
                s,
                "    day {:>7.2} → {:>7.2}  {:<32} {}{}",
                a.started_day,
                a.ended_day,
                a.step,
                a.role.as_deref().unwrap_or("-"),
                if a.started_day > a.queued_day {
                    format!(" (queued {:.2} d)", a.started_day - a.queued_day)
                } else {
                    String::new()
                }
            );
        }
    }
    s
}

/// The log in the shape of the log of real cases (`ravand export`): a
/// trace a case, its id the case number in every format, marked `warmup`
/// when it arrived in the warm-up; each event with its step's title, the
/// person who did it and their role and unit.
pub fn to_log(process: &str, log: &[LogEntry]) -> crate::eventlog::Log {
    use crate::eventlog::{Entry, Log, Trace, Value};
    let mut out = Log {
        process: process.to_owned(),
        traces: Vec::new(),
    };
    let mut by_case: std::collections::BTreeMap<u32, Vec<&LogEntry>> = std::collections::BTreeMap::new();
    for e in log {
        by_case.entry(e.case).or_default().push(e);
    }
    for (case, events) in by_case {
        let warmup = events.first().is_some_and(|e| e.warmup);
        out.traces.push(Trace {
            case: case.to_string(),
            attributes: std::collections::BTreeMap::from([("warmup".to_owned(), Value::Bool(warmup))]),
            events: events
                .into_iter()
                .map(|e| Entry {
                    activity: e.activity.clone(),
                    activity_en: e.activity_en.clone(),
                    event: match e.lifecycle {
                        crate::eventlog::Transition::Start => "step-started",
                        _ => "step-completed",
                    }
                    .into(),
                    step: Some(e.step.clone()),
                    at: e.at,
                    transition: e.lifecycle,
                    resource: Some(e.resource.clone()),
                    role: e.role.clone(),
                    group: e.unit.clone(),
                    task: None,
                })
                .collect(),
        });
    }
    out
}

/// The log as CSV, its columns the XES keys (see
/// [`crate::eventlog::Log::to_csv`]).
pub fn to_csv(process: &str, log: &[LogEntry]) -> String {
    to_log(process, log).to_csv()
}

/// The log as XES (IEEE 1849), for PM4Py, ProM and Disco.
pub fn to_xes(process: &str, log: &[LogEntry]) -> String {
    to_log(process, log).to_xes()
}
