//! Working calendar files (`definitions/calendars/*.yaml`): the working week,
//! working hours, time zone and holidays by Solar Hijri or Gregorian date.
//!
//! Only the file format and its checks live here; working-time arithmetic is
//! the `time` module's.

use schemars::JsonSchema;
use serde::Deserialize;

use super::SStr;

/// A working calendar.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Ravand working calendar")]
pub struct CalendarDef {
    /// The name processes use in `calendar:`; the same as the file name.
    #[schemars(with = "String")]
    pub id: SStr,
    #[serde(default)]
    pub title: Option<String>,
    /// IANA time zone, e.g. `Asia/Tehran`.
    #[schemars(with = "String")]
    pub time_zone: SStr,
    /// Opening hours for each day of the week: `07:30-14:30`, or `off`.
    /// A day left out is off.
    pub week: WeekDef,
    /// Holidays.
    #[serde(default)]
    pub holidays: HolidaysDef,
    /// Which calendar "N months" follows: `solar-hijri` (29 Esfand + 1 month
    /// is 29 Farvardin) or `gregorian` (the default).
    #[serde(default)]
    pub months: MonthReckoning,
}

/// The calendar in which months are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MonthReckoning {
    #[default]
    Gregorian,
    SolarHijri,
}

/// Hours per weekday; each is `HH:MM-HH:MM` (several ranges may be joined
/// with `,`) or `off`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeekDef {
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub saturday: Option<SStr>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub sunday: Option<SStr>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub monday: Option<SStr>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub tuesday: Option<SStr>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub wednesday: Option<SStr>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub thursday: Option<SStr>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub friday: Option<SStr>,
}

impl WeekDef {
    /// The days in ISO order starting Monday, with their names.
    pub fn days(&self) -> [(&'static str, Option<&SStr>); 7] {
        [
            ("monday", self.monday.as_ref()),
            ("tuesday", self.tuesday.as_ref()),
            ("wednesday", self.wednesday.as_ref()),
            ("thursday", self.thursday.as_ref()),
            ("friday", self.friday.as_ref()),
            ("saturday", self.saturday.as_ref()),
            ("sunday", self.sunday.as_ref()),
        ]
    }
}

/// Holidays: yearly fixed dates in either calendar, and one-off dates (the
/// lunar holidays, listed year by year).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidaysDef {
    /// Every year, by Solar Hijri month and day: `MM-DD` (Nowruz is `01-01`).
    #[serde(default)]
    pub solar_hijri_yearly: Vec<HolidayDef>,
    /// Every year, by Gregorian month and day: `MM-DD`.
    #[serde(default)]
    pub gregorian_yearly: Vec<HolidayDef>,
    /// Single dates, Solar Hijri `1405-01-13` or Gregorian `2026-04-02`
    /// (years before 1700 are read as Solar Hijri). A year's official list
    /// of lunar holidays goes here: a date named like an `islamic_yearly`
    /// holiday replaces the computed date of that name in its Solar Hijri
    /// year (moon sighting can move a date by a day).
    #[serde(default)]
    pub dates: Vec<HolidayDef>,
    /// Every year, by Islamic (lunar, Hijri qamari) month and day: `MM-DD`
    /// (`09-21` is 21 Ramadan), computed with the tabular civil Islamic
    /// calendar for each year in `years`.
    #[serde(default)]
    pub islamic_yearly: Vec<HolidayDef>,
    /// The Solar Hijri years the holiday lists are good for, e.g.
    /// `{from: 1400, to: 1410}`; working time outside them is warned about.
    #[serde(default)]
    pub years: Option<YearsDef>,
}

/// A span of Solar Hijri years, both ends included.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct YearsDef {
    pub from: i32,
    pub to: i32,
}

/// A holiday and its name.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidayDef {
    #[schemars(with = "String")]
    pub date: SStr,
    #[serde(default)]
    pub name: Option<String>,
}

/// Parses `HH:MM-HH:MM[,HH:MM-HH:MM…]` or `off` into minute ranges of the day.
pub fn parse_hours(text: &str) -> Result<Vec<(u32, u32)>, String> {
    let t = text.trim();
    if t == "off" {
        return Ok(Vec::new());
    }
    let mut out: Vec<(u32, u32)> = Vec::new();
    for part in t.split(',') {
        let (a, b) = part
            .trim()
            .split_once('-')
            .ok_or_else(|| format!("`{part}` is not a range of hours; write e.g. `07:30-14:30`, or `off`"))?;
        let (a, b) = (parse_hhmm(a)?, parse_hhmm(b)?);
        if a >= b {
            return Err(format!("`{part}` ends before it starts"));
        }
        if let Some(&(_, prev_end)) = out.last() {
            if a < prev_end {
                return Err(format!("`{part}` overlaps or comes before the range before it"));
            }
        }
        out.push((a, b));
    }
    Ok(out)
}

fn parse_hhmm(s: &str) -> Result<u32, String> {
    let s = s.trim();
    let bad = || format!("`{s}` is not a time of day `HH:MM`");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 24 || m > 59 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// A calendar date as written, before conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrittenDate {
    SolarHijri { year: i32, month: u32, day: u32 },
    Gregorian { year: i32, month: u32, day: u32 },
}

/// Days in a Solar Hijri month (month 12 has 30 days in leap years).
pub fn solar_hijri_month_len(month: u32) -> u32 {
    match month {
        1..=6 => 31,
        7..=11 => 30,
        _ => 30,
    }
}

/// Parses `MM-DD` of a yearly holiday.
pub fn parse_month_day(text: &str, solar: bool) -> Result<(u32, u32), String> {
    let bad = || format!("`{text}` is not a month and day `MM-DD`");
    let (m, d) = text.trim().split_once('-').ok_or_else(bad)?;
    let (m, d): (u32, u32) = (m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    let max = if solar {
        solar_hijri_month_len(m)
    } else {
        [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            .get((m as usize).wrapping_sub(1))
            .copied()
            .unwrap_or(0)
    };
    if !(1..=12).contains(&m) || d == 0 || d > max {
        return Err(format!("there is no day {d} of month {m}"));
    }
    Ok((m, d))
}

/// Parses a full date `YYYY-MM-DD`; years below 1700 are Solar Hijri.
pub fn parse_date(text: &str) -> Result<WrittenDate, String> {
    let t = text.trim();
    let bad = || format!("`{t}` is not a date `YYYY-MM-DD` (Gregorian, or Solar Hijri such as `1405-01-13`)");
    let mut it = t.splitn(3, '-');
    let y: i32 = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let rest = it.collect::<Vec<_>>().join("-");
    if !(1000..=9999).contains(&y) {
        return Err(bad());
    }
    let solar = y < 1700;
    let (m, d) = parse_month_day(&rest, solar)
        .map_err(|e| format!("`{t}`: {e}{}", if solar { " (Solar Hijri)" } else { "" }))?;
    if !solar && m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) {
        return Err(format!("`{t}`: {y} is not a leap year"));
    }
    Ok(if solar {
        WrittenDate::SolarHijri {
            year: y,
            month: m,
            day: d,
        }
    } else {
        WrittenDate::Gregorian {
            year: y,
            month: m,
            day: d,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_and_dates() {
        assert_eq!(parse_hours("07:30-14:30").unwrap(), vec![(450, 870)]);
        assert_eq!(parse_hours("off").unwrap(), vec![]);
        assert!(parse_hours("14:00-07:00").is_err());
        assert!(parse_hours("7-14").is_err());
        assert_eq!(parse_month_day("12-29", true).unwrap(), (12, 29));
        assert!(parse_month_day("07-31", true).is_err());
        assert!(matches!(
            parse_date("1405-01-13").unwrap(),
            WrittenDate::SolarHijri {
                year: 1405,
                month: 1,
                day: 13
            }
        ));
        assert!(matches!(
            parse_date("2026-03-21").unwrap(),
            WrittenDate::Gregorian { .. }
        ));
        assert!(parse_date("2026-02-29").is_err());
        assert!(parse_date("2026-13-01").is_err());
    }
}

/// Converts a Solar Hijri date to Gregorian (year, month, day), through
/// `icu_calendar`'s Persian calendar. Fails for a day that does not exist
/// (e.g. 30 Esfand of a common year).
pub fn solar_hijri_to_gregorian(year: i32, month: u32, day: u32) -> Result<(i32, u32, u32), String> {
    let bad = || format!("{year:04}-{month:02}-{day:02} is not a Solar Hijri date");
    let (m, d) = (
        u8::try_from(month).map_err(|_| bad())?,
        u8::try_from(day).map_err(|_| bad())?,
    );
    let date = icu_calendar::Date::try_new_persian(year, m, d).map_err(|_| bad())?;
    let iso = date.to_calendar(icu_calendar::Iso);
    Ok((
        iso.year().extended_year(),
        u32::from(iso.month().ordinal),
        u32::from(iso.day_of_month().0),
    ))
}

/// The Gregorian dates of Islamic month `month`, day `day` (a 30th that a
/// 29-day month lacks is its last day) that fall in Solar Hijri years
/// `from..=to`, by the tabular civil Islamic calendar (Friday epoch).
pub fn islamic_dates(month: u32, day: u32, from: i32, to: i32) -> Vec<(i32, u32, u32)> {
    use icu_calendar::cal::{Hijri, HijriTabularEpoch, HijriTabularLeapYears};
    let cal = Hijri::new_tabular(HijriTabularLeapYears::TypeII, HijriTabularEpoch::Friday);
    let (Ok(m), Ok(d)) = (u8::try_from(month), u8::try_from(day)) else {
        return Vec::new();
    };
    // Solar Hijri year Y (Gregorian Y + 621) runs in Islamic years around
    // (Y − 1) × 33/32: a lunar year is 32/33 of a solar one.
    let first = (from - 2) * 33 / 32;
    let last = (to + 1) * 33 / 32 + 1;
    let mut out = Vec::new();
    for iy in first..=last {
        let date = icu_calendar::Date::try_new_hijri_with_calendar(iy, m, d, cal)
            .or_else(|_| icu_calendar::Date::try_new_hijri_with_calendar(iy, m, d.saturating_sub(1), cal));
        let Ok(date) = date else { continue };
        let iso = date.to_calendar(icu_calendar::Iso);
        let g = (
            iso.year().extended_year(),
            u32::from(iso.month().ordinal),
            u32::from(iso.day_of_month().0),
        );
        if gregorian_to_solar_hijri(g.0, g.1, g.2).is_some_and(|(y, _, _)| (from..=to).contains(&y)) {
            out.push(g);
        }
    }
    out
}

/// Converts a Gregorian date to Solar Hijri (year, month, day).
pub fn gregorian_to_solar_hijri(year: i32, month: u32, day: u32) -> Option<(i32, u32, u32)> {
    let iso = icu_calendar::Date::try_new_iso(year, u8::try_from(month).ok()?, u8::try_from(day).ok()?).ok()?;
    let p = iso.to_calendar(icu_calendar::cal::Persian);
    Some((
        p.year().extended_year(),
        u32::from(p.month().ordinal),
        u32::from(p.day_of_month().0),
    ))
}

#[cfg(test)]
mod conversion_tests {
    use super::*;

    #[test]
    fn tasua_1404_and_21_ramadan_in_esfand_1404() {
        // Tasua (9 Muharram 1447) fell on 14 Tir 1404 (5 July 2025).
        assert!(islamic_dates(1, 9, 1404, 1404).contains(&(2025, 7, 5)));
        // 21 Ramadan 1447 is in Esfand 1404 (10 March 2026, 19 Esfand).
        assert!(islamic_dates(9, 21, 1404, 1404).contains(&(2026, 3, 10)));
        // A lunar year is shorter: some years hold a date twice, none lacks it.
        for y in 1400..=1410 {
            assert!(!islamic_dates(10, 1, y, y).is_empty(), "no Eid al-Fitr in {y}");
        }
    }

    #[test]
    fn nowruz_1405_is_21_march_2026() {
        assert_eq!(solar_hijri_to_gregorian(1405, 1, 1).unwrap(), (2026, 3, 21));
        assert_eq!(gregorian_to_solar_hijri(2026, 3, 21), Some((1405, 1, 1)));
        // 22 Bahman 1404 (Revolution day) is 11 February 2026.
        assert_eq!(solar_hijri_to_gregorian(1404, 11, 22).unwrap(), (2026, 2, 11));
        assert!(solar_hijri_to_gregorian(1404, 13, 1).is_err());
    }
}

/// Parses a local date or date-time: Gregorian `2026-03-20`, `2026-03-20T09:00`
/// or `2026-03-20 09:00[:ss]`. Solar Hijri dates are checked for shape here
/// and converted here, to the Gregorian date-time they name.
pub fn parse_local_datetime(text: &str) -> Result<chrono::NaiveDateTime, String> {
    let t = text.trim();
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, Some(tm)),
        None => (t, None),
    };
    let written = parse_date(date)?;
    let (y, m, d) = match written {
        WrittenDate::Gregorian { year, month, day } => (year, month, day),
        WrittenDate::SolarHijri { year, month, day } => solar_hijri_to_gregorian(year, month, day)?,
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
