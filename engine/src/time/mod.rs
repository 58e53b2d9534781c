//! Time: instants, clocks, and working time on municipal calendars.
//!
//! Owns: [`Timestamp`] (UTC seconds), the [`Clock`] trait with a system and a
//! virtual clock, and [`WorkCalendar`]: adding calendar or working durations
//! in the calendar's time zone, respecting opening hours, weekends and
//! holidays (Solar Hijri yearly dates, Gregorian yearly dates, one-off
//! dates), months counted in the Solar Hijri or Gregorian calendar, and
//! showing instants in both calendars.
//!
//! Must not: know about processes, cases or storage.
//!
//! Definitions, used everywhere:
//! - **N working days after t**: the same time of day on the Nth working day
//!   after t's date (a working day is a day with opening hours that is not a
//!   holiday), moved into that day's opening hours if it falls outside them.
//! - **N working hours (or minutes) after t**: t plus N hours counted only
//!   inside opening hours.
//! - **N months after t**: the same day N months later in the calendar's month
//!   reckoning, the last day of the month if that day does not exist.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::definition::calendar::{
    gregorian_to_solar_hijri, parse_date, parse_hours, parse_month_day, solar_hijri_to_gregorian, MonthReckoning,
    WrittenDate,
};
use crate::definition::duration::{Basis, Duration};
use crate::definition::CalendarDef;

/// An instant: seconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_utc(t: chrono::DateTime<chrono::Utc>) -> Timestamp {
        Timestamp(t.timestamp())
    }
    pub fn to_utc(self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(self.0, 0).unwrap_or_default()
    }
    pub fn plus_seconds(self, s: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(s))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_utc().format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

/// Where "now" comes from. The runtime never reads a clock itself: callers
/// pass `now`, taken from a `Clock`.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_utc(chrono::Utc::now())
    }
}

/// A clock set and advanced by hand (tests, `ravand run`, the simulator).
#[derive(Debug, Default)]
pub struct VirtualClock {
    now: AtomicI64,
}

impl VirtualClock {
    pub fn new(at: Timestamp) -> VirtualClock {
        VirtualClock {
            now: AtomicI64::new(at.0),
        }
    }
    pub fn set(&self, at: Timestamp) {
        self.now.store(at.0, Ordering::SeqCst);
    }
    pub fn advance(&self, seconds: i64) -> Timestamp {
        Timestamp(self.now.fetch_add(seconds, Ordering::SeqCst) + seconds)
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.now.load(Ordering::SeqCst))
    }
}

/// Why a calendar could not be built (the validator reports these first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("calendar `{calendar}`: {message}")]
pub struct CalendarError {
    pub calendar: String,
    pub message: String,
}

/// The first day of the precomputed holiday table, and its length.
const TABLE_START: (i32, u32, u32) = (2000, 1, 1);
const TABLE_DAYS: usize = 150 * 366;
/// Longest walk over days before giving up (about 100 years): a calendar
/// with no working day left is reported, not looped on.
const MAX_DAYS_WALKED: usize = 100 * 366;

/// A working calendar, ready for arithmetic.
#[derive(Debug)]
pub struct WorkCalendar {
    pub name: String,
    tz: Tz,
    /// Opening hours per weekday, Monday first, in minutes of the day.
    week: [Vec<(u32, u32)>; 7],
    solar_yearly: HashSet<(u32, u32)>,
    gregorian_yearly: HashSet<(u32, u32)>,
    dates: HashSet<NaiveDate>,
    months: MonthReckoning,
    /// Whether each day from `TABLE_START` is a holiday, computed on first use.
    table: OnceLock<Vec<bool>>,
}

impl WorkCalendar {
    /// Open every day, all day, in UTC; months Gregorian. Processes without a
    /// calendar use it, so working time equals calendar time.
    pub fn always() -> WorkCalendar {
        WorkCalendar {
            name: "always".into(),
            tz: Tz::UTC,
            week: std::array::from_fn(|_| vec![(0, 24 * 60)]),
            solar_yearly: HashSet::new(),
            gregorian_yearly: HashSet::new(),
            dates: HashSet::new(),
            months: MonthReckoning::Gregorian,
            table: OnceLock::new(),
        }
    }

    /// Builds a calendar from its (validated) definition.
    pub fn from_def(def: &CalendarDef) -> Result<WorkCalendar, CalendarError> {
        let err = |message: String| CalendarError {
            calendar: def.id.value.clone(),
            message,
        };
        let tz: Tz = def
            .time_zone
            .value
            .parse()
            .map_err(|_| err(format!("unknown time zone `{}`", def.time_zone.value)))?;
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for (i, (_, hours)) in def.week.days().iter().enumerate() {
            if let Some(h) = hours {
                week[i] = parse_hours(&h.value).map_err(err)?;
            }
        }
        if week.iter().all(Vec::is_empty) {
            return Err(err("no working day".into()));
        }
        let mut solar_yearly = HashSet::new();
        for h in &def.holidays.solar_hijri_yearly {
            solar_yearly.insert(parse_month_day(&h.date.value, true).map_err(err)?);
        }
        let mut gregorian_yearly = HashSet::new();
        for h in &def.holidays.gregorian_yearly {
            gregorian_yearly.insert(parse_month_day(&h.date.value, false).map_err(err)?);
        }
        let mut dates = HashSet::new();
        for h in &def.holidays.dates {
            let (y, m, d) = match parse_date(&h.date.value).map_err(err)? {
                WrittenDate::Gregorian { year, month, day } => (year, month, day),
                WrittenDate::SolarHijri { year, month, day } => {
                    solar_hijri_to_gregorian(year, month, day).map_err(err)?
                }
            };
            dates.insert(NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| err(format!("{y}-{m}-{d} is not a date")))?);
        }
        Ok(WorkCalendar {
            name: def.id.value.clone(),
            tz,
            week,
            solar_yearly,
            gregorian_yearly,
            dates,
            months: def.months,
            table: OnceLock::new(),
        })
    }

    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    fn table_start() -> NaiveDate {
        NaiveDate::from_ymd_opt(TABLE_START.0, TABLE_START.1, TABLE_START.2).unwrap_or_default()
    }

    fn compute_holiday(&self, d: NaiveDate) -> bool {
        if self.dates.contains(&d) || self.gregorian_yearly.contains(&(d.month(), d.day())) {
            return true;
        }
        if self.solar_yearly.is_empty() {
            return false;
        }
        gregorian_to_solar_hijri(d.year(), d.month(), d.day())
            .is_some_and(|(_, m, day)| self.solar_yearly.contains(&(m, day)))
    }

    /// Whether `d` is a holiday (not counting weekly days off).
    pub fn is_holiday(&self, d: NaiveDate) -> bool {
        let offset = (d - Self::table_start()).num_days();
        if (0..TABLE_DAYS as i64).contains(&offset) {
            let table = self.table.get_or_init(|| {
                let start = Self::table_start();
                (0..TABLE_DAYS)
                    .map(|i| self.compute_holiday(start + chrono::Days::new(i as u64)))
                    .collect()
            });
            return table[offset as usize];
        }
        self.compute_holiday(d)
    }

    /// Opening hours of a date, in minutes of the day; empty when closed.
    pub fn open_ranges(&self, d: NaiveDate) -> &[(u32, u32)] {
        if self.is_holiday(d) {
            return &[];
        }
        &self.week[d.weekday().num_days_from_monday() as usize]
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        !self.open_ranges(d).is_empty()
    }

    /// The local date and time of an instant.
    pub fn local(&self, t: Timestamp) -> NaiveDateTime {
        t.to_utc().with_timezone(&self.tz).naive_local()
    }

    /// The instant of a local date and time (the earlier one if it is
    /// ambiguous, the next valid one if it falls in a gap).
    pub fn instant(&self, local: NaiveDateTime) -> Timestamp {
        match self.tz.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => Timestamp(t.timestamp()),
            chrono::LocalResult::Ambiguous(a, _) => Timestamp(a.timestamp()),
            chrono::LocalResult::None => self.instant(local + chrono::Duration::hours(1)),
        }
    }

    /// Adds a duration in its own basis.
    pub fn add(&self, t: Timestamp, d: &Duration) -> Timestamp {
        match d.basis {
            Basis::Calendar => {
                let t = if d.months > 0 { self.add_months(t, d.months) } else { t };
                t.plus_seconds(d.seconds as i64)
            }
            Basis::Working => {
                let t = if d.working_days > 0 {
                    self.add_working_days(t, d.working_days)
                } else {
                    t
                };
                self.add_open_seconds(t, d.seconds as i64)
            }
        }
    }

    /// Adds months in the calendar's month reckoning, keeping the time of day.
    pub fn add_months(&self, t: Timestamp, months: u32) -> Timestamp {
        let local = self.local(t);
        let date = local.date();
        let moved = match self.months {
            MonthReckoning::Gregorian => date.checked_add_months(chrono::Months::new(months)),
            MonthReckoning::SolarHijri => add_solar_months(date, months),
        };
        self.instant(moved.unwrap_or(date).and_time(local.time()))
    }

    /// N working days after `t` (see the module documentation).
    pub fn add_working_days(&self, t: Timestamp, n: u32) -> Timestamp {
        if n == 0 {
            return t;
        }
        let local = self.local(t);
        let mut d = local.date();
        let mut count = 0;
        for _ in 0..MAX_DAYS_WALKED {
            d = d.succ_opt().unwrap_or(d);
            if self.is_working_day(d) {
                count += 1;
                if count == n {
                    let tod = local.time().num_seconds_from_midnight() / 60;
                    let minute = clamp_into(self.open_ranges(d), tod);
                    let time = NaiveTime::from_num_seconds_from_midnight_opt(minute * 60, 0)
                        .unwrap_or(local.time())
                        .with_second(local.second())
                        .unwrap_or(local.time());
                    let time = if minute == tod {
                        local.time()
                    } else {
                        time.with_second(0).unwrap_or(time)
                    };
                    return self.instant(d.and_time(time));
                }
            }
        }
        t
    }

    /// `seconds` of opening time after `t`.
    pub fn add_open_seconds(&self, t: Timestamp, seconds: i64) -> Timestamp {
        if seconds <= 0 {
            return t;
        }
        let local = self.local(t);
        let mut left = seconds;
        let mut d = local.date();
        let mut from = local.time().num_seconds_from_midnight() as i64;
        for _ in 0..MAX_DAYS_WALKED {
            for &(a, b) in self.open_ranges(d) {
                let (a, b) = (a as i64 * 60, b as i64 * 60);
                let start = a.max(from);
                if start >= b {
                    continue;
                }
                if b - start >= left {
                    let secs = start + left;
                    return self.instant(d.and_hms_opt(0, 0, 0).unwrap_or_default() + chrono::Duration::seconds(secs));
                }
                left -= b - start;
            }
            d = d.succ_opt().unwrap_or(d);
            from = 0;
        }
        t.plus_seconds(seconds)
    }

    /// Opening seconds in `[a, b)`; 0 when `b <= a`.
    pub fn open_seconds_between(&self, a: Timestamp, b: Timestamp) -> i64 {
        if b <= a {
            return 0;
        }
        let (la, lb) = (self.local(a), self.local(b));
        let mut total = 0i64;
        let mut d = la.date();
        for _ in 0..MAX_DAYS_WALKED {
            let lo = if d == la.date() {
                la.time().num_seconds_from_midnight() as i64
            } else {
                0
            };
            let hi = if d == lb.date() {
                lb.time().num_seconds_from_midnight() as i64
            } else {
                86_400
            };
            for &(x, y) in self.open_ranges(d) {
                let (x, y) = (x as i64 * 60, y as i64 * 60);
                total += (y.min(hi) - x.max(lo)).max(0);
            }
            if d >= lb.date() {
                break;
            }
            d = d.succ_opt().unwrap_or(d);
        }
        total
    }

    /// An instant as people read it: Solar Hijri date and time, then the
    /// Gregorian date, in the calendar's time zone.
    pub fn show(&self, t: Timestamp) -> String {
        let l = self.local(t);
        let (y, m, d) = gregorian_to_solar_hijri(l.year(), l.month(), l.day()).unwrap_or((0, 0, 0));
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02} ({})",
            l.hour(),
            l.minute(),
            l.format("%Y-%m-%d")
        )
    }

    /// Parses a local date or date-time in the calendar's zone: Gregorian
    /// (`2026-03-20`, `2026-03-20T09:00`) or Solar Hijri (`1405-01-15`).
    pub fn parse_local(&self, text: &str) -> Result<Timestamp, String> {
        crate::model::parse_local_datetime(text).map(|l| self.instant(l))
    }
}

/// Moves a minute of the day into the opening ranges: forward to the next
/// opening, or back to the closing time when the day is already over.
fn clamp_into(ranges: &[(u32, u32)], minute: u32) -> u32 {
    for &(a, b) in ranges {
        if minute < a {
            return a;
        }
        if minute <= b {
            return minute;
        }
    }
    ranges.last().map_or(minute, |r| r.1)
}

fn add_solar_months(date: NaiveDate, months: u32) -> Option<NaiveDate> {
    let (y, m, d) = gregorian_to_solar_hijri(date.year(), date.month(), date.day())?;
    let mut p = icu_calendar::Date::try_new_persian(y, u8::try_from(m).ok()?, u8::try_from(d).ok()?).ok()?;
    let duration = icu_calendar::types::DateDuration::for_months(i32::try_from(months).ok()?);
    p.try_add_with_options(duration, Default::default()).ok()?;
    let iso = p.to_calendar(icu_calendar::Iso);
    NaiveDate::from_ymd_opt(
        iso.year().extended_year(),
        u32::from(iso.month().ordinal),
        u32::from(iso.day_of_month().0),
    )
}

#[cfg(test)]
mod tests;
