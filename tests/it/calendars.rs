//! The municipal calendars' lunar holidays: computed for 1400–1410 from the
//! Islamic calendar, replaced by a year's own list where it has one, and
//! the years covered checked and said.

use ravand_engine::definition::calendar::solar_hijri_to_gregorian;
use ravand_engine::definition::{Limits, SourceFile};
use ravand_engine::time::WorkCalendar;

use crate::helpers::root;

fn tehran() -> WorkCalendar {
    let text = std::fs::read_to_string(root().join("definitions/calendars/tehran-municipal.yaml")).expect("calendar");
    let (def, diags) =
        ravand_engine::validate::validate_calendar(&SourceFile::new("tehran-municipal.yaml", text), &Limits::default());
    assert!(diags.is_empty(), "{diags:?}");
    WorkCalendar::from_def(&def.expect("parses")).expect("builds")
}

fn solar(y: i32, m: u32, d: u32) -> chrono::NaiveDate {
    let (gy, gm, gd) = solar_hijri_to_gregorian(y, m, d).expect("a date");
    chrono::NaiveDate::from_ymd_opt(gy, gm, gd).expect("a date")
}

fn at(cal: &WorkCalendar, y: i32, m: u32, d: u32, h: u32) -> ravand_engine::time::Timestamp {
    cal.instant(solar(y, m, d).and_hms_opt(h, 0, 0).expect("time"))
}

#[test]
fn two_working_days_from_11_tir_1404_skip_tasua_and_ashura() {
    let cal = tehran();
    // Wednesday 11 Tir 1404 09:00 + 2 working days: Thursday 12 Tir is the
    // first, Friday is off, Saturday 14 Tir is Tasua and Sunday 15 Tir
    // Ashura, so the second is Monday 16 Tir.
    let due = cal.add_working_days(at(&cal, 1404, 4, 11, 9), 2);
    assert_eq!(due, at(&cal, 1404, 4, 16, 9), "{}", cal.show(due));
    assert!(cal.is_holiday(solar(1404, 4, 14)) && cal.is_holiday(solar(1404, 4, 15)));
}

#[test]
fn lunar_holidays_exist_in_esfand_1404_and_in_1406() {
    let cal = tehran();
    // 21 Ramadan 1447 (martyrdom of Imam Ali) is 19 Esfand 1404.
    assert!(cal.is_holiday(solar(1404, 12, 19)));
    // Every covered year has its Eid al-Fitr and Ashura.
    for y in 1400..=1410 {
        let holidays = (1..=12)
            .flat_map(|m| (1..=31).map(move |d| (m, d)))
            .filter_map(|(m, d)| solar_hijri_to_gregorian(y, m, d).ok())
            .filter_map(|(gy, gm, gd)| chrono::NaiveDate::from_ymd_opt(gy, gm, gd))
            .filter(|d| cal.is_holiday(*d))
            .count();
        // 10 Solar Hijri yearly holidays and 17 lunar ones (some years 18,
        // as a lunar year is shorter; a few fall on one day).
        assert!((24..=30).contains(&holidays), "{y} has {holidays} holidays");
    }
}

#[test]
fn a_years_own_list_replaces_the_computed_dates_of_the_same_name() {
    let cal = tehran();
    // 1405's hand-entered list puts Arbaeen on 12 Mordad; the computed date
    // (14 Mordad, a Wednesday) is a working day then.
    assert!(cal.is_holiday(solar(1405, 5, 12)));
    assert!(!cal.is_holiday(solar(1405, 5, 14)));
    assert!(cal.is_working_day(solar(1405, 5, 14)));
}

#[test]
fn the_years_a_calendar_covers_are_checked_and_known() {
    let cal = tehran();
    assert!(cal.covers(at(&cal, 1400, 1, 1, 9)));
    assert!(cal.covers(at(&cal, 1410, 12, 29, 9)));
    assert!(!cal.covers(at(&cal, 1411, 1, 1, 9)));
    assert!(!cal.covers(at(&cal, 1399, 12, 29, 9)));
    let check = |holidays: &str| {
        let text = format!("id: c\ntime_zone: Asia/Tehran\nweek: {{saturday: 08:00-14:00}}\nholidays:\n{holidays}");
        ravand_engine::validate::validate_calendar(&SourceFile::new("c.yaml", text), &Limits::default()).1
    };
    let d = check("  islamic_yearly: [{date: 09-21, name: x}]\n");
    assert!(d.iter().any(|d| d.code == "calendar-years" && d.is_error()), "{d:?}");
    let d = check("  dates: [{date: 1405-01-25, name: x}]\n");
    assert!(d.iter().any(|d| d.code == "calendar-years" && !d.is_error()), "{d:?}");
    let d = check("  years: {from: 1400, to: 1410}\n  islamic_yearly: [{date: 09-31, name: x}]\n");
    assert!(d.iter().any(|d| d.code == "bad-date"), "{d:?}");
    assert!(check("  years: {from: 1400, to: 1410}\n  islamic_yearly: [{date: 09-21, name: x}]\n").is_empty());
}

#[test]
fn half_a_working_day_is_half_of_the_calendars_mean_working_day() {
    let cal = tehran();
    // Tehran: five 7-hour days and a 5-hour Thursday, a mean of 6 h 40 min;
    // half of it from Saturday 8 Azar 1405 08:00 is 11:20 that morning.
    let d = ravand_engine::definition::duration::parse("0.5 working days").expect("parses");
    assert_eq!(
        cal.add(at(&cal, 1405, 9, 8, 8), &d),
        at(&cal, 1405, 9, 8, 8).plus_seconds(3 * 3600 + 20 * 60)
    );
    assert!(
        (cal.mean_working_day_seconds() - 24_000.0).abs() < 120.0,
        "{}",
        cal.mean_working_day_seconds()
    );
}
