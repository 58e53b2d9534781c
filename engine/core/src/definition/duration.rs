//! The duration grammar analysts write: `3 working days`, `10 days`, `2 hours`,
//! `1 month`, `10 legal days`, `0`, or ISO-8601 (`P10D`, `PT2H30M`).
//!
//! Calendar units (minutes, hours, days, weeks, months) count wall-clock time;
//! `working` units (working minutes, hours, days) count only the open hours of
//! the process calendar. A month is a calendar month (same day next month), not
//! 30 days. `legal` days, weeks and months count a period as the law does
//! (Iran's Civil Procedure Code, arts. 443–445, as commonly read): the day of
//! service is not counted, holidays inside the period are, the period runs
//! to the end of its last day, and a last day that is not a working day
//! moves to the next working day.

use std::fmt;

/// Seconds in a calendar day.
pub const SECONDS_PER_DAY: u64 = 86_400;
/// Opening seconds in a nominal working day (7 hours), where a figure must
/// turn working days into hours without a calendar: the simulator's
/// fractional working days, rough figures, ordering two working-time
/// durations. A real calendar's days have their own hours.
pub const NOMINAL_WORKING_DAY_S: u64 = 7 * 3600;
/// Calendar days per working day, nominally (five working days in seven),
/// for rough figures only.
pub const CALENDAR_DAYS_PER_WORKING_DAY: f64 = 7.0 / 5.0;

/// What a duration counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// Wall-clock time.
    Calendar,
    /// Open hours of the process calendar.
    Working,
}

/// A parsed duration. Months are kept apart because their length varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Duration {
    pub basis: Basis,
    /// Whole calendar months (only with [`Basis::Calendar`]).
    pub months: u32,
    /// Working days (only with [`Basis::Working`]): counted in open days, not hours.
    pub working_days: u32,
    /// Seconds: wall-clock seconds, or working seconds with [`Basis::Working`].
    pub seconds: u64,
    /// A legal period (only with [`Basis::Calendar`]): `seconds` holds whole
    /// days, and the period ends at the end of a working day.
    pub legal: bool,
    /// Thousandths of a working day on top of `working_days` (`0.5 working
    /// days` is 500): a fraction of a working day is that share of the
    /// calendar's mean working day, counted in opening hours.
    pub working_day_permille: u32,
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration {
        basis: Basis::Calendar,
        months: 0,
        working_days: 0,
        seconds: 0,
        legal: false,
        working_day_permille: 0,
    };

    /// Whether it adds nothing.
    pub fn is_zero(&self) -> bool {
        self.months == 0 && self.working_days == 0 && self.seconds == 0 && self.working_day_permille == 0
    }

    /// An approximate length in calendar days, for rough figures only (a
    /// working day counts as [`CALENDAR_DAYS_PER_WORKING_DAY`], a working
    /// hour as a seventh of one, a month as 30.44 days).
    pub fn approx_days(&self) -> f64 {
        match self.basis {
            Basis::Calendar => self.seconds as f64 / SECONDS_PER_DAY as f64 + self.months as f64 * 30.44,
            Basis::Working => self.working_days_nominal() * CALENDAR_DAYS_PER_WORKING_DAY,
        }
    }

    /// For working time: its length in working days, its seconds counted at
    /// [`NOMINAL_WORKING_DAY_S`] a day.
    pub fn working_days_nominal(&self) -> f64 {
        self.working_days as f64
            + self.working_day_permille as f64 / 1000.0
            + self.seconds as f64 / NOMINAL_WORKING_DAY_S as f64
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.legal {
            let days = self.seconds / SECONDS_PER_DAY;
            let mut parts = Vec::new();
            if self.months > 0 {
                parts.push(format!("{} legal month{}", self.months, plural(self.months as u64)));
            }
            if days > 0 || parts.is_empty() {
                parts.push(format!("{days} legal day{}", plural(days)));
            }
            return f.write_str(&parts.join(" "));
        }
        let w = if self.basis == Basis::Working { "working " } else { "" };
        let mut parts = Vec::new();
        if self.months > 0 {
            parts.push(format!("{} month{}", self.months, plural(self.months as u64)));
        }
        if self.working_day_permille > 0 {
            let days = self.working_days as f64 + self.working_day_permille as f64 / 1000.0;
            parts.push(format!("{days} working days"));
        } else if self.working_days > 0 {
            parts.push(format!(
                "{} working day{}",
                self.working_days,
                plural(self.working_days as u64)
            ));
        }
        let s = self.seconds;
        let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
        if d > 0 && self.basis == Basis::Calendar {
            parts.push(format!("{d} day{}", plural(d)));
        }
        let h = if self.basis == Basis::Working { h + d * 24 } else { h };
        if h > 0 {
            parts.push(format!("{h} {w}hour{}", plural(h)));
        }
        if m > 0 {
            parts.push(format!("{m} {w}minute{}", plural(m)));
        }
        if sec > 0 {
            parts.push(format!("{sec} {w}second{}", plural(sec)));
        }
        if parts.is_empty() {
            return f.write_str("0");
        }
        f.write_str(&parts.join(" "))
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Why a duration did not parse; the message is for analysts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DurationError(pub String);

const HELP: &str =
    "write a number and a unit, e.g. `3 working days`, `10 days`, `4 hours`, `1 month`, or ISO-8601 `P10D`";

/// The longest duration accepted: about 100 years. Longer is a typo.
const MAX_SECONDS: u64 = 100 * 366 * SECONDS_PER_DAY;

/// Parses a duration. Several parts may be joined: `1 day 4 hours`; all parts
/// must be of one basis.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.starts_with('P') {
        return parse_iso(t);
    }
    let words: Vec<&str> = t.split_whitespace().collect();
    if words.is_empty() {
        return Err(DurationError(format!("empty duration; {HELP}")));
    }
    let mut d = Duration::ZERO;
    let mut basis: Option<Basis> = None;
    let mut legal: Option<bool> = None;
    let mut i = 0;
    while i < words.len() {
        let (n, frac) = decimal(words[i])
            .ok_or_else(|| DurationError(format!("`{}` is not a number in `{t}`; {HELP}", words[i])))?;
        i += 1;
        let mut b = Basis::Calendar;
        if words.get(i) == Some(&"working") {
            b = Basis::Working;
            i += 1;
        }
        let is_legal = words.get(i) == Some(&"legal");
        if is_legal {
            i += 1;
            if b == Basis::Working {
                return Err(DurationError(format!(
                    "`{t}`: a legal period counts calendar days (holidays inside it too); write `10 legal days`"
                )));
            }
        }
        if legal.is_some_and(|l| l != is_legal) {
            return Err(DurationError(format!(
                "`{t}` mixes a legal period with other time; write the whole period as legal days or months"
            )));
        }
        legal = Some(is_legal);
        let unit = words
            .get(i)
            .ok_or_else(|| DurationError(format!("`{t}` has a number without a unit; {HELP}")))?;
        i += 1;
        if let Some(prev) = basis {
            if prev != b {
                return Err(DurationError(format!(
                    "`{t}` mixes working and calendar time; use one of them"
                )));
            }
        }
        basis = Some(b);
        let unit = unit.trim_end_matches(',');
        if is_legal
            && !matches!(
                unit,
                "day" | "days" | "week" | "weeks" | "month" | "months" | "year" | "years"
            )
        {
            return Err(DurationError(format!(
                "`{t}`: a legal period is counted in days, weeks or months, not {unit}; e.g. `10 legal days`"
            )));
        }
        let secs = |k: u64| -> Result<u64, DurationError> {
            n.checked_mul(k)
                .and_then(|w| w.checked_add((frac * k as f64).round() as u64))
                .ok_or_else(|| DurationError(format!("`{t}` is too long")))
        };
        if frac > 0.0 && matches!(unit, "month" | "months" | "year" | "years") {
            return Err(DurationError(format!(
                "`{t}`: months and years are whole; write days for a part of one"
            )));
        }
        match (b, unit) {
            (_, "second" | "seconds") => d.seconds += secs(1)?,
            (_, "minute" | "minutes") => d.seconds += secs(60)?,
            (_, "hour" | "hours") => d.seconds += secs(3600)?,
            (Basis::Calendar, "day" | "days") => d.seconds += secs(86_400)?,
            (Basis::Calendar, "week" | "weeks") => d.seconds += secs(7 * 86_400)?,
            (Basis::Calendar, "month" | "months") => {
                d.months += u32::try_from(n).map_err(|_| DurationError(format!("`{t}` is too long")))?
            }
            (Basis::Calendar, "year" | "years") => {
                d.months +=
                    u32::try_from(n.saturating_mul(12)).map_err(|_| DurationError(format!("`{t}` is too long")))?
            }
            (Basis::Working, "day" | "days") => {
                d.working_days += u32::try_from(n).map_err(|_| DurationError(format!("`{t}` is too long")))?;
                d.working_day_permille += (frac * 1000.0).round() as u32;
            }
            (Basis::Working, "week" | "weeks" | "month" | "months" | "year" | "years") => {
                return Err(DurationError(format!(
                    "`{t}`: working time is counted in working days, hours or minutes, not {unit}; \
                     e.g. write `10 working days` for two working weeks"
                )))
            }
            _ => {
                return Err(DurationError(format!("unknown unit `{unit}` in `{t}`; {HELP}")));
            }
        }
    }
    d.basis = basis.unwrap_or(Basis::Calendar);
    d.legal = legal.unwrap_or(false);
    check_max(d, t)
}

fn check_max(d: Duration, t: &str) -> Result<Duration, DurationError> {
    let total = d.seconds as f64 + d.months as f64 * 31.0 * 86_400.0 + d.working_days as f64 * 3.0 * 86_400.0;
    if total > MAX_SECONDS as f64 {
        return Err(DurationError(format!("`{t}` is longer than 100 years; is it a typo?")));
    }
    Ok(d)
}

/// A number as analysts write it: whole, or with a decimal fraction
/// (`0.5`, `1,5`); the whole part and the fraction.
fn decimal(text: &str) -> Option<(u64, f64)> {
    let text = text.replace(',', ".");
    let (whole, frac) = text.split_once('.').unwrap_or((text.as_str(), ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && frac.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 6 {
        return None;
    }
    let n = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let f = if frac.is_empty() {
        0.0
    } else {
        format!("0.{frac}").parse().ok()?
    };
    Some((n, f))
}

/// ISO-8601 durations: `PnYnMnWnDTnHnMnS` (calendar time); the last
/// component may carry a decimal fraction (`P0.5D`, `PT1.5H`), as ISO 8601
/// allows.
fn parse_iso(t: &str) -> Result<Duration, DurationError> {
    let bad = || DurationError(format!("`{t}` is not an ISO-8601 duration such as `P10D` or `PT2H30M`"));
    let mut d = Duration::ZERO;
    let mut in_time = false;
    let mut num = String::new();
    let mut any = false;
    let mut fractional = false;
    for c in t[1..].chars() {
        match c {
            '0'..='9' | '.' | ',' => num.push(c),
            'T' if !in_time && num.is_empty() => in_time = true,
            _ => {
                // Only the last component may have a fraction.
                if fractional {
                    return Err(bad());
                }
                let (n, frac) = decimal(&num).ok_or_else(bad)?;
                fractional = frac > 0.0;
                num.clear();
                any = true;
                let mul = |k: u64| {
                    n.checked_mul(k)
                        .and_then(|w| w.checked_add((frac * k as f64).round() as u64))
                        .ok_or_else(bad)
                };
                match (in_time, c) {
                    (false, 'Y' | 'M') if fractional => return Err(bad()),
                    (false, 'Y') => d.months += u32::try_from(n.saturating_mul(12)).map_err(|_| bad())?,
                    (false, 'M') => d.months += u32::try_from(n).map_err(|_| bad())?,
                    (false, 'W') => d.seconds += mul(7 * 86_400)?,
                    (false, 'D') => d.seconds += mul(86_400)?,
                    (true, 'H') => d.seconds += mul(3600)?,
                    (true, 'M') => d.seconds += mul(60)?,
                    (true, 'S') => d.seconds += mul(1)?,
                    _ => return Err(bad()),
                }
            }
        }
    }
    if !num.is_empty() || !any {
        return Err(bad());
    }
    check_max(d, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_iso() {
        let d = parse("3 working days").unwrap();
        assert_eq!((d.basis, d.working_days, d.seconds), (Basis::Working, 3, 0));
        let d = parse("1 day 4 hours").unwrap();
        assert_eq!((d.basis, d.seconds), (Basis::Calendar, 86_400 + 4 * 3600));
        assert_eq!(parse("3 months").unwrap().months, 3);
        assert_eq!(parse("P14D").unwrap().seconds, 14 * 86_400);
        assert_eq!(parse("PT2H30M").unwrap().seconds, 2 * 3600 + 1800);
        assert_eq!(parse("P1Y2M").unwrap().months, 14);
        assert!(parse("0").unwrap().is_zero());
        assert_eq!(parse("2 working hours").unwrap().to_string(), "2 working hours");
        assert_eq!(parse("1 day 4 hours").unwrap().to_string(), "1 day 4 hours");
        let d = parse("10 legal days").unwrap();
        assert_eq!((d.basis, d.legal, d.seconds), (Basis::Calendar, true, 10 * 86_400));
        assert_eq!(d.to_string(), "10 legal days");
        assert_eq!(parse("1 legal month").unwrap().months, 1);
        assert!(!parse("10 days").unwrap().legal);
        // Fractions: of a working day (a share of the calendar's mean one),
        // and ISO 8601's decimal fraction of the lowest unit.
        let d = parse("0.5 working days").unwrap();
        assert_eq!((d.working_days, d.working_day_permille), (0, 500));
        assert_eq!(parse("1.5 working days").unwrap().to_string(), "1.5 working days");
        assert_eq!(parse("P0.5D").unwrap().seconds, 43_200);
        assert_eq!(parse("PT1.5H").unwrap().seconds, 5_400);
        assert_eq!(parse("1.5 hours").unwrap().seconds, 5_400);
    }

    #[test]
    fn errors_say_what_to_write() {
        for bad in [
            "",
            "3",
            "three days",
            "3 fortnights",
            "2 working weeks",
            "1 day 2 working hours",
            "P",
            "PT",
            "P3X",
            "99999999999 years",
            "10 legal hours",
            "10 legal days 2 days",
            "3 working legal days",
            "0.5 months",
            "P0.5M",
            "P0.5DT2H",
            "1.2.3 days",
            ". days",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(!e.0.is_empty(), "{bad}");
        }
        assert!(parse("3 fortnights")
            .unwrap_err()
            .0
            .contains("unknown unit `fortnights`"));
    }
}
