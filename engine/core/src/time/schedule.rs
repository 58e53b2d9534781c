//! Recurring starts: when a schedule written in a definition next falls.

use super::{Timestamp, WorkCalendar};
use crate::definition::duration::Basis;
use crate::model::Schedule;

impl WorkCalendar {
    /// A recurring start's first occurrence at or after `from`, given that `n` occurrences
    /// (counted from 0) came before it; `None` when a counted repeat is
    /// used up. Local times are read on this calendar.
    pub fn next_occurrence(&self, schedule: &Schedule, from: Timestamp, n: u32) -> Option<Timestamp> {
        let cal = self;
        match schedule {
            Schedule::Cron(c) => {
                let tz = cal.time_zone();
                let after = chrono::TimeZone::from_utc_datetime(&tz, &from.plus_seconds(-1).to_utc().naive_utc());
                c.after(&after).next().map(|t| Timestamp(t.timestamp()))
            }
            Schedule::Repeat { count, start, period } => {
                let mut t = cal.instant(*start);
                let mut k = 0u32;
                // Walk the repeats; a short period far in the past is skipped in bulk.
                if period.months == 0
                    && period.working_days == 0
                    && period.basis == Basis::Calendar
                    && period.seconds > 0
                    && t < from
                {
                    let skip = ((from.0 - t.0) as u64).div_ceil(period.seconds);
                    k = u32::try_from(skip).ok()?;
                    t = t.plus_seconds(i64::try_from(skip.checked_mul(period.seconds)?).ok()?);
                }
                for _ in 0..1_000_000 {
                    if t >= from {
                        break;
                    }
                    t = cal.add(t, period);
                    k += 1;
                }
                let k = k.max(n);
                if count.is_some_and(|c| k >= c) || t < from {
                    return None;
                }
                Some(t)
            }
        }
    }
}
