//! The timing parts of a definition: duration distributions (for the
//! simulator), deadlines with their escalation ladders, and recurring starts.

use std::collections::HashMap;
use std::str::FromStr;

use super::Compiler;
use crate::definition::duration::{self, Duration};
use crate::definition::DistributionDef;
use crate::diagnostic::{suggest, Place};
use crate::model::*;

impl Compiler {
    pub(super) fn distribution(&mut self, d: &DistributionDef) -> Option<Distribution> {
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
        // For ordering two durations of one basis: a working day at its nominal hours.
        let secs = |d: &Duration| d.seconds + d.working_days as u64 * duration::NOMINAL_WORKING_DAY_S;
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

    pub(super) fn deadline(
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

    pub(super) fn schedule(&mut self, s: &crate::definition::ScheduleDef, place: Place) -> Option<Schedule> {
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
    let start = crate::definition::parse_local_datetime(start)?;
    let period = duration::parse(period).map_err(|e| e.0)?;
    if period.is_zero() {
        return Err("the period of a repeat must be longer than 0".into());
    }
    Ok(Schedule::Repeat { count, start, period })
}
