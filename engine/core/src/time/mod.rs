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

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::definition::calendar::{
    gregorian_to_solar_hijri, islamic_dates, parse_date, parse_hours, parse_month_day, solar_hijri_to_gregorian,
    MonthReckoning, WrittenDate,
};
use crate::definition::duration::{Basis, Duration};
use crate::definition::CalendarDef;

/// An instant: seconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The instant of a UTC date-time.
    pub fn from_utc(t: chrono::DateTime<chrono::Utc>) -> Timestamp {
        Timestamp(t.timestamp())
    }
    /// As a UTC date-time.
    pub fn to_utc(self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(self.0, 0).unwrap_or_default()
    }
    /// `s` seconds later (earlier when negative).
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
    /// The instant now, by this clock.
    fn now(&self) -> Timestamp;
    /// The instant now in seconds with their fraction, for measuring how
    /// late something happened (a timer's lag). Clocks that keep whole
    /// seconds give [`Clock::now`].
    fn now_fine(&self) -> f64 {
        self.now().0 as f64
    }
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_utc(chrono::Utc::now())
    }
    fn now_fine(&self) -> f64 {
        let t = chrono::Utc::now();
        t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9
    }
}

/// A clock set and advanced by hand (tests, `ravand run`, the simulator).
#[derive(Debug, Default)]
pub struct VirtualClock {
    now: AtomicI64,
}

impl VirtualClock {
    /// A clock standing at `at`.
    pub fn new(at: Timestamp) -> VirtualClock {
        VirtualClock {
            now: AtomicI64::new(at.0),
        }
    }
    /// Moves the clock to `at`.
    pub fn set(&self, at: Timestamp) {
        self.now.store(at.0, Ordering::SeqCst);
    }
    /// Moves the clock on by `seconds`; the new instant.
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
    /// The calendar's name.
    pub calendar: String,
    /// What is wrong.
    pub message: String,
}

/// The day table starts on 1 January 2000 (`TABLE_START_*` below) and runs
/// this many days.
const TABLE_DAYS: usize = 150 * 366;
/// Longest walk over days before giving up (about 100 years): a calendar
/// with no working day left is reported, not looped on.
const MAX_DAYS_WALKED: usize = 100 * 366;

/// A working calendar, ready for arithmetic.
#[derive(Debug, Clone)]
pub struct WorkCalendar {
    /// Its name.
    pub name: String,
    tz: Tz,
    /// Opening hours per weekday, Monday first, in minutes of the day.
    week: [Vec<(u32, u32)>; 7],
    solar_yearly: HashSet<(u32, u32)>,
    gregorian_yearly: HashSet<(u32, u32)>,
    dates: HashSet<NaiveDate>,
    /// The days the holiday lists cover (from, until), when the calendar says.
    covered: Option<(NaiveDate, NaiveDate)>,
    months: MonthReckoning,
    /// Per day from 1 January 2000, computed on first use.
    table: OnceLock<DayTable>,
}

/// Per-day facts from 1 January 2000, so that working-time arithmetic is a
/// binary search instead of a walk over days.
#[derive(Debug, Clone)]
struct DayTable {
    holiday: Vec<bool>,
    /// Opening seconds before day i (`TABLE_DAYS + 1` entries).
    open_before: Vec<i64>,
    /// Working days before day i (`TABLE_DAYS + 1` entries).
    working_before: Vec<u32>,
    /// The time zone's offset from UTC in seconds on day i, when it is the
    /// same all that day (no clock change); `None` on a day of a change.
    offset: Vec<Option<i32>>,
}

/// Seconds from the Unix epoch to 1 January 2000, 00:00 UTC.
const TABLE_START_UNIX: i64 = 946_684_800;
/// Days from 1 January of year 1 to 1 January 2000 (chrono's day numbers).
const TABLE_START_CE: i32 = 730_120;

/// Opening seconds of a day with these ranges.
fn open_seconds(ranges: &[(u32, u32)]) -> i64 {
    ranges.iter().map(|&(a, b)| i64::from(b - a) * 60).sum()
}

/// Opening seconds of a day with these ranges before `secs` into it.
fn open_until(ranges: &[(u32, u32)], secs: i64) -> i64 {
    ranges
        .iter()
        .map(|&(a, b)| (secs.min(i64::from(b) * 60) - i64::from(a) * 60).max(0))
        .sum()
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
            covered: None,
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
        // (Solar Hijri year, name) of each official date: it replaces the
        // computed lunar date of that name in that year.
        let mut official: HashSet<(i32, String)> = HashSet::new();
        for h in &def.holidays.dates {
            let (y, m, d) = match parse_date(&h.date.value).map_err(err)? {
                WrittenDate::Gregorian { year, month, day } => (year, month, day),
                WrittenDate::SolarHijri { year, month, day } => {
                    solar_hijri_to_gregorian(year, month, day).map_err(err)?
                }
            };
            let date = NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| err(format!("{y}-{m}-{d} is not a date")))?;
            if let (Some(name), Some((sy, _, _))) = (&h.name, gregorian_to_solar_hijri(y, m, d)) {
                official.insert((sy, name.clone()));
            }
            dates.insert(date);
        }
        let years = def.holidays.years.map(|y| (y.from, y.to));
        if !def.holidays.islamic_yearly.is_empty() && years.is_none() {
            return Err(err(
                "`islamic_yearly` holidays need `years`: the Solar Hijri years to compute them for".into(),
            ));
        }
        if let Some((from, to)) = years {
            if from > to || to - from > 200 {
                return Err(err(format!("`years` {from}–{to} is not a span of at most 200 years")));
            }
            for h in &def.holidays.islamic_yearly {
                let (m, d) = parse_month_day(&h.date.value, true).map_err(err)?;
                for (y, mo, da) in islamic_dates(m, d, from, to) {
                    let sy = gregorian_to_solar_hijri(y, mo, da).map_or(0, |x| x.0);
                    if h.name.as_ref().is_some_and(|n| official.contains(&(sy, n.clone()))) {
                        continue;
                    }
                    if let Some(date) = NaiveDate::from_ymd_opt(y, mo, da) {
                        dates.insert(date);
                    }
                }
            }
        }
        let covered = match years {
            Some((from, to)) => {
                let a = solar_hijri_to_gregorian(from, 1, 1).map_err(err)?;
                let b = solar_hijri_to_gregorian(to + 1, 1, 1).map_err(err)?;
                NaiveDate::from_ymd_opt(a.0, a.1, a.2).zip(NaiveDate::from_ymd_opt(b.0, b.1, b.2))
            }
            None => None,
        };
        Ok(WorkCalendar {
            name: def.id.value.clone(),
            tz,
            week,
            solar_yearly,
            gregorian_yearly,
            dates,
            covered,
            months: def.months,
            table: OnceLock::new(),
        })
    }

    /// Whether the calendar's holiday lists cover the day of `t` (always,
    /// for a calendar that does not say which years it covers).
    pub fn covers(&self, t: Timestamp) -> bool {
        let d = self.local(t).date();
        self.covered.is_none_or(|(a, b)| a <= d && d < b)
    }

    /// The Gregorian span the holiday lists cover, if the calendar says.
    pub fn covered(&self) -> Option<(NaiveDate, NaiveDate)> {
        self.covered
    }

    /// The calendar's time zone.
    pub fn time_zone(&self) -> Tz {
        self.tz
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

    fn day_table(&self) -> &DayTable {
        self.table.get_or_init(|| {
            let holiday: Vec<bool> = (0..TABLE_DAYS)
                .map(|i| self.compute_holiday(Self::table_day(i)))
                .collect();
            let mut open_before = Vec::with_capacity(TABLE_DAYS + 1);
            let mut working_before = Vec::with_capacity(TABLE_DAYS + 1);
            let (mut open, mut working) = (0i64, 0u32);
            for (i, h) in holiday.iter().enumerate() {
                open_before.push(open);
                working_before.push(working);
                let ranges: &[(u32, u32)] = if *h {
                    &[]
                } else {
                    &self.week[Self::table_day(i).weekday().num_days_from_monday() as usize]
                };
                open += open_seconds(ranges);
                working += u32::from(!ranges.is_empty());
            }
            open_before.push(open);
            working_before.push(working);
            let offset = (0..TABLE_DAYS)
                .map(|i| {
                    let day = Self::table_day(i);
                    let at = |h, m, s| match self.tz.from_local_datetime(&day.and_hms_opt(h, m, s)?) {
                        chrono::LocalResult::Single(t) => Some(t.offset().fix().local_minus_utc()),
                        _ => None,
                    };
                    let (a, b) = (at(0, 0, 0)?, at(23, 59, 59)?);
                    (a == b).then_some(a)
                })
                .collect();
            DayTable {
                holiday,
                open_before,
                working_before,
                offset,
            }
        })
    }

    /// The index of `d` in the day table, if it is inside it.
    fn day_index(d: NaiveDate) -> Option<usize> {
        usize::try_from(d.num_days_from_ce() - TABLE_START_CE)
            .ok()
            .filter(|i| *i < TABLE_DAYS)
    }

    fn table_day(i: usize) -> NaiveDate {
        i32::try_from(i)
            .ok()
            .and_then(|i| NaiveDate::from_num_days_from_ce_opt(TABLE_START_CE + i))
            .unwrap_or_default()
    }

    /// Whether `d` is a holiday (not counting weekly days off).
    pub fn is_holiday(&self, d: NaiveDate) -> bool {
        match Self::day_index(d) {
            Some(i) => self.day_table().holiday[i],
            None => self.compute_holiday(d),
        }
    }

    /// Opening seconds from the table's start to `t` (`t` inside the table).
    fn open_position(&self, t: Timestamp) -> Option<(usize, i64)> {
        let local = self.local(t);
        let i = Self::day_index(local.date())?;
        let within = open_until(
            self.open_ranges(local.date()),
            i64::from(local.time().num_seconds_from_midnight()),
        );
        Some((i, self.day_table().open_before[i] + within))
    }

    /// Opening hours of a date, in minutes of the day; empty when closed.
    pub fn open_ranges(&self, d: NaiveDate) -> &[(u32, u32)] {
        if self.is_holiday(d) {
            return &[];
        }
        &self.week[d.weekday().num_days_from_monday() as usize]
    }

    /// Whether offices are open at all on `d` (not a weekend day, not a holiday).
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        !self.open_ranges(d).is_empty()
    }

    /// The local date and time of an instant.
    pub fn local(&self, t: Timestamp) -> NaiveDateTime {
        self.local_by_table(t)
            .unwrap_or_else(|| t.to_utc().with_timezone(&self.tz).naive_local())
    }

    /// `local` from the day table: the offset of the UTC day, kept if the
    /// local day it gives has that same offset all day.
    fn local_by_table(&self, t: Timestamp) -> Option<NaiveDateTime> {
        let tab = self.day_table();
        let utc_day = usize::try_from((t.0 - TABLE_START_UNIX).div_euclid(86_400)).ok()?;
        let off = i64::from((*tab.offset.get(utc_day)?)?);
        let local = t.0 - TABLE_START_UNIX + off;
        let day = usize::try_from(local.div_euclid(86_400)).ok()?;
        if tab.offset.get(day).copied()?.map(i64::from) != Some(off) {
            return None;
        }
        let secs = u32::try_from(local.rem_euclid(86_400)).ok()?;
        Some(Self::table_day(day).and_time(NaiveTime::from_num_seconds_from_midnight_opt(secs, 0)?))
    }

    /// The instant of a local date and time (the earlier one if it is
    /// ambiguous, the next valid one if it falls in a gap).
    pub fn instant(&self, local: NaiveDateTime) -> Timestamp {
        if let Some(i) = Self::day_index(local.date()) {
            if let Some(off) = self.day_table().offset[i] {
                let secs = i64::from(local.time().num_seconds_from_midnight());
                return Timestamp(TABLE_START_UNIX + i as i64 * 86_400 + secs - i64::from(off));
            }
        }
        match self.tz.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => Timestamp(t.timestamp()),
            chrono::LocalResult::Ambiguous(a, _) => Timestamp(a.timestamp()),
            chrono::LocalResult::None => self.instant(local + chrono::Duration::hours(1)),
        }
    }

    /// Adds a duration in its own basis.
    pub fn add(&self, t: Timestamp, d: &Duration) -> Timestamp {
        if d.legal {
            return self.legal_end(t, d.months, (d.seconds / 86_400) as u32);
        }
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
                let part =
                    (f64::from(d.working_day_permille) / 1000.0 * self.mean_working_day_seconds()).round() as i64;
                self.add_open_seconds(t, d.seconds as i64 + part)
            }
        }
    }

    /// The end of a legal period of `months` and `days` served at `t`: the
    /// day of service is not counted, holidays inside are, the period runs to
    /// the end of its last day (the instant returned is midnight after it),
    /// and a last day that is not a working day moves to the next one.
    pub fn legal_end(&self, t: Timestamp, months: u32, days: u32) -> Timestamp {
        let served = self.local(t).date();
        let mut last = if months > 0 {
            match self.months {
                MonthReckoning::Gregorian => served.checked_add_months(chrono::Months::new(months)),
                MonthReckoning::SolarHijri => add_solar_months(served, months),
            }
            .unwrap_or(served)
        } else {
            served
        };
        last = last
            .checked_add_days(chrono::Days::new(u64::from(days)))
            .unwrap_or(last);
        // A calendar with no working day at all would loop: a year is enough.
        for _ in 0..366 {
            if self.is_working_day(last) {
                break;
            }
            last = last.succ_opt().unwrap_or(last);
        }
        let next = last.succ_opt().unwrap_or(last);
        self.instant(next.and_time(chrono::NaiveTime::MIN))
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
        if let Some(i) = Self::day_index(local.date()) {
            // The nth working day after day i: the first day j whose count of
            // working days up to and including it reaches the target.
            let wb = &self.day_table().working_before;
            let target = wb[i + 1] + n;
            let k = gallop(wb, i, target);
            if k <= TABLE_DAYS {
                return self.on_working_day(Self::table_day(k - 1), local);
            }
        }
        self.add_working_days_walk(t, n)
    }

    fn add_working_days_walk(&self, t: Timestamp, n: u32) -> Timestamp {
        let local = self.local(t);
        let mut d = local.date();
        let mut count = 0;
        for _ in 0..MAX_DAYS_WALKED {
            d = d.succ_opt().unwrap_or(d);
            if self.is_working_day(d) {
                count += 1;
                if count == n {
                    return self.on_working_day(d, local);
                }
            }
        }
        t
    }

    /// The time of day of `local` on working day `d`, clamped into its hours.
    fn on_working_day(&self, d: NaiveDate, local: NaiveDateTime) -> Timestamp {
        let tod = local.time().num_seconds_from_midnight() / 60;
        let minute = clamp_into(self.open_ranges(d), tod);
        let time = if minute == tod {
            local.time()
        } else {
            NaiveTime::from_num_seconds_from_midnight_opt(minute * 60, 0).unwrap_or(local.time())
        };
        self.instant(d.and_time(time))
    }

    /// `t` if the calendar is open then, else the next opening.
    pub fn next_open(&self, t: Timestamp) -> Timestamp {
        self.add_open_seconds(t, 1).plus_seconds(-1)
    }

    /// Working days from `a` to `b`, counted as the calendar counts them: a
    /// whole working day for each one passed, and for a part of one the
    /// share of its opening hours (so a half day is as much a working day
    /// as a full one). 0 when `b <= a`.
    pub fn working_days_between(&self, a: Timestamp, b: Timestamp) -> f64 {
        if b <= a {
            return 0.0;
        }
        match (self.working_position(a), self.working_position(b)) {
            (Some(x), Some(y)) => y - x,
            _ => self.open_seconds_between(a, b) as f64 / self.mean_working_day_seconds(),
        }
    }

    /// Working days from the table's start to `t`.
    fn working_position(&self, t: Timestamp) -> Option<f64> {
        let local = self.local(t);
        let i = Self::day_index(local.date())?;
        let tab = self.day_table();
        let ranges = self.open_ranges(local.date());
        let total = open_seconds(ranges);
        let within = open_until(ranges, i64::from(local.time().num_seconds_from_midnight()));
        let part = if total > 0 { within as f64 / total as f64 } else { 0.0 };
        Some(f64::from(tab.working_before[i]) + part)
    }

    /// The mean length of a working day in seconds (over the day table's
    /// years), to express opening time in working days.
    pub fn mean_working_day_seconds(&self) -> f64 {
        let tab = self.day_table();
        let days = tab.working_before[TABLE_DAYS].max(1);
        tab.open_before[TABLE_DAYS] as f64 / f64::from(days)
    }

    /// `seconds` of opening time after `t`.
    pub fn add_open_seconds(&self, t: Timestamp, seconds: i64) -> Timestamp {
        if seconds <= 0 {
            return t;
        }
        if let Some((i, pos)) = self.open_position(t) {
            // The day whose opening time holds the target position: the last
            // day starting strictly before it, found by galloping from day i.
            let ob = &self.day_table().open_before;
            let target = pos + seconds;
            let k = gallop(ob, i, target);
            if (1..=TABLE_DAYS).contains(&k) {
                let d = Self::table_day(k - 1);
                let mut left = target - ob[k - 1];
                for &(a, b) in self.open_ranges(d) {
                    let len = i64::from(b - a) * 60;
                    if left <= len {
                        return self.at_second(d, i64::from(a) * 60 + left);
                    }
                    left -= len;
                }
            }
        }
        self.add_open_seconds_walk(t, seconds)
    }

    fn at_second(&self, d: NaiveDate, secs: i64) -> Timestamp {
        self.instant(d.and_hms_opt(0, 0, 0).unwrap_or_default() + chrono::Duration::seconds(secs))
    }

    /// `add_open_seconds` by walking day by day (outside the day table, and
    /// the oracle its tests compare with).
    fn add_open_seconds_walk(&self, t: Timestamp, seconds: i64) -> Timestamp {
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
                    return self.at_second(d, start + left);
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
        let pa = self.open_position(a).map(|x| x.1);
        if let (Some(pa), Some((_, pb))) = (pa, self.open_position(b)) {
            return pb - pa;
        }
        // From inside the table to past its end: the table's part, then a
        // walk from the first day after it (so a span of more than a
        // century is still counted whole).
        if let Some(pa) = pa {
            let end = self.instant(Self::table_day(TABLE_DAYS).and_time(chrono::NaiveTime::MIN));
            if a < end && end < b {
                return self.day_table().open_before[TABLE_DAYS] - pa + self.open_seconds_between_walk(end, b);
            }
        }
        self.open_seconds_between_walk(a, b)
    }

    fn open_seconds_between_walk(&self, a: Timestamp, b: Timestamp) -> i64 {
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
        crate::definition::parse_local_datetime(text).map(|l| self.instant(l))
    }
}

/// The first index at or after `from` whose value is at least `target`, in
/// a non-decreasing slice (its length if none): an exponential search, as
/// the answer is usually a few days on.
fn gallop<T: Ord + Copy>(v: &[T], from: usize, target: T) -> usize {
    let (mut lo, mut step) = (from, 1);
    while lo + step < v.len() && v[lo + step] < target {
        lo += step;
        step *= 2;
    }
    let hi = (lo + step + 1).min(v.len());
    lo + v[lo..hi].partition_point(|&c| c < target)
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

mod schedule;
#[cfg(test)]
mod tests;
