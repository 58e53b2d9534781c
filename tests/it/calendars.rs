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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspension_keeps_escalation_rungs_on_their_working_day_and_hour() {
    use ravand_engine::runtime::{Command, EventKind};
    use ravand_engine::time::Clock;
    let cal = tehran();
    let clock = std::sync::Arc::new(ravand_engine::time::VirtualClock::new(at(&cal, 1405, 9, 11, 9)));
    let e = ravand_engine::engine::Engine::in_memory(clock.clone(), 1)
        .await
        .expect("engine");
    e.add_calendars_from(&root().join("definitions/calendars"))
        .await
        .expect("calendars");
    let text = "id: ladder\nversion: 1\ntitle: نردبان\ncalendar: tehran-municipal\nroles:\n  - {id: officer, title: کارشناس}\nsteps:\n  - {id: start, kind: start}\n  - id: act\n    title: اقدام\n    performer: officer\n    deadline:\n      due: 1 working days\n      escalation:\n        - {after: 0, action: remind, every: 1 working days, times: 3}\n        - {after: 2 working days, action: warn, to: officer}\n  - {id: done, kind: end, outcome: done}\n";
    e.deploy("ladder.yaml", text).await.expect("deploys");
    // Opened Wednesday 11 Azar 1405 09:00: due Thursday 09:00; the third
    // reminder and the warning both fall on Sunday 15 Azar 09:00.
    let case = e.start("ladder", Default::default(), None).await.expect("starts").case;
    // Suspended Wednesday 10:00, resumed Saturday 14 Azar 10:00: the clock
    // stood still for the rest of Wednesday, all of Thursday (a 5-hour day)
    // and Saturday morning.
    clock.set(at(&cal, 1405, 9, 11, 10));
    e.command(case, Command::Suspend { by: None }).await.expect("suspends");
    clock.set(at(&cal, 1405, 9, 14, 10));
    e.command(case, Command::Resume { by: None }).await.expect("resumes");
    let end = at(&cal, 1405, 9, 25, 14);
    let mut now = clock.now();
    while now < end {
        now = now.plus_seconds(15 * 60);
        clock.set(now);
        e.tick(now).await.expect("tick");
    }
    let h = e.history(case).await.expect("history");
    let rung = |action: &str, n: u32| {
        h.iter()
            .find(|ev| matches!(&ev.kind, EventKind::Escalated { action: a, n: k, .. } if format!("{a:?}").to_lowercase() == action && *k == n))
            .map(|ev| ev.at)
            .unwrap_or_else(|| panic!("no {action} #{n}"))
    };
    let (remind3, warn) = (rung("remind", 3), rung("warn", 1));
    assert_eq!(remind3, warn, "{} vs {}", cal.show(remind3), cal.show(warn));
    // Each rung keeps its hour and its offset in working days from the
    // pause: the first reminder, 6 opening hours after the pause, comes on
    // Sunday 15 Azar 09:00; the warning, 2 working days and 6 hours after
    // it, on Tuesday 17 Azar 09:00, with the third reminder.
    assert_eq!(
        cal.show(warn),
        cal.show(at(&cal, 1405, 9, 17, 9)),
        "the warning keeps 09:00"
    );
    assert_eq!(cal.show(rung("remind", 1)), cal.show(at(&cal, 1405, 9, 15, 9)));
}

#[test]
fn validate_warns_of_a_fixed_date_outside_the_years_its_calendar_covers() {
    let dir = std::env::temp_dir().join(format!("ravand-years-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("calendars")).expect("dir");
    std::fs::copy(
        root().join("definitions/calendars/tehran-municipal.yaml"),
        dir.join("calendars/tehran-municipal.yaml"),
    )
    .expect("copy");
    let file = |name: &str, until: &str| {
        let f = dir.join(name);
        std::fs::write(&f, format!("id: late\nversion: 1\ntitle: دیر\ncalendar: tehran-municipal\nsteps:\n  - {{id: start, kind: start}}\n  - {{id: w, kind: wait, title: صبر, wait: {{until: {until}}}}}\n  - {{id: done, kind: end, outcome: done}}\n")).expect("write");
        f
    };
    let late = file("late.yaml", "1412-01-15T09:00");
    let fine = file("fine.yaml", "1406-01-15T09:00");
    let reports = ravand_engine::validate::validate_paths(&[late, fine], &Limits::default());
    let d = &reports[0].diagnostics;
    assert!(
        d.iter()
            .any(|d| d.code == "calendar-years" && !d.is_error() && d.line == 7 && d.message.contains("1412-01-15")),
        "{d:?}"
    );
    assert!(reports[1].diagnostics.is_empty(), "{:?}", reports[1].diagnostics);
}
