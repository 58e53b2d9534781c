//! Known answers on the Tehran municipal calendar (Asia/Tehran, no DST since
//! 2022; Saturday–Wednesday 07:00–14:00, Thursday 07:00–12:00, Friday off).

use super::*;
use crate::definition::duration::parse;
use crate::definition::{parse_calendar, Limits, SourceFile};

fn tehran() -> WorkCalendar {
    let text = include_str!("../../../../definitions/calendars/tehran-municipal.yaml");
    let def =
        parse_calendar(&SourceFile::new("tehran-municipal.yaml", text), &Limits::default()).expect("calendar parses");
    WorkCalendar::from_def(&def).expect("calendar builds")
}

fn at(cal: &WorkCalendar, s: &str) -> Timestamp {
    cal.parse_local(s).expect("date")
}

fn show(cal: &WorkCalendar, t: Timestamp) -> String {
    cal.local(t).format("%Y-%m-%d %H:%M").to_string()
}

#[test]
fn five_working_days_after_the_wednesday_before_nowruz() {
    let cal = tehran();
    // Wednesday 27 Esfand 1404 = 18 March 2026, 10:00. Thursday 19 March is a
    // (half) working day; 20 March is Friday and 29 Esfand; 21–24 March are
    // Nowruz; then Wednesday 25, Thursday 26, Saturday 28, Sunday 29.
    let t = at(&cal, "2026-03-18T10:00");
    let due = cal.add(t, &parse("5 working days").expect("duration"));
    assert_eq!(show(&cal, due), "2026-03-29 10:00");
    assert_eq!(cal.show(due), "1405-01-09 10:00 (2026-03-29)");
}

#[test]
fn working_day_on_a_half_day_is_clamped_to_its_closing() {
    let cal = tehran();
    // Tuesday 13:30 + 2 working days = Thursday, which closes at 12:00.
    let t = at(&cal, "2026-05-05T13:30");
    assert_eq!(
        show(&cal, cal.add(t, &parse("2 working days").expect("d"))),
        "2026-05-07 12:00"
    );
    // Before opening: moved to the opening time.
    let t = at(&cal, "2026-05-05T05:00");
    assert_eq!(
        show(&cal, cal.add(t, &parse("1 working days").expect("d"))),
        "2026-05-06 07:00"
    );
}

#[test]
fn one_month_after_29_esfand_is_29_farvardin() {
    let cal = tehran();
    // 29 Esfand 1404 = 20 March 2026.
    let t = at(&cal, "1404-12-29");
    let due = cal.add(t, &parse("1 month").expect("d"));
    assert_eq!(cal.show(due), "1405-01-29 00:00 (2026-04-18)");
    // 31 Shahrivar + 1 month: Mehr has 30 days.
    let t = at(&cal, "1405-06-31");
    assert!(cal
        .show(cal.add(t, &parse("1 month").expect("d")))
        .starts_with("1405-07-30"));
    // The same in Gregorian reckoning on the always-open calendar: 20 April.
    let g = WorkCalendar::always();
    let t = g.parse_local("2026-03-20").expect("date");
    assert_eq!(show(&g, g.add(t, &parse("1 month").expect("d"))), "2026-04-20 00:00");
}

#[test]
fn working_hours_skip_nights_weekends_and_holidays() {
    let cal = tehran();
    // Wednesday 13:00 + 4 working hours: 1 h Wednesday, Thursday 07:00–10:00.
    let t = at(&cal, "2026-05-06T13:00");
    assert_eq!(
        show(&cal, cal.add(t, &parse("4 working hours").expect("d"))),
        "2026-05-07 10:00"
    );
    // Thursday 11:00 + 2 working hours: 1 h Thursday, Friday off, Saturday 08:00.
    let t = at(&cal, "2026-05-07T11:00");
    assert_eq!(
        show(&cal, cal.add(t, &parse("2 working hours").expect("d"))),
        "2026-05-09 08:00"
    );
    // Over Nowruz: Wednesday 18 March 13:00 + 3 working hours = 1 h + Thursday 2 h.
    let t = at(&cal, "2026-03-18T13:00");
    assert_eq!(
        show(&cal, cal.add(t, &parse("3 working hours").expect("d"))),
        "2026-03-19 09:00"
    );
    // + 7 working hours: Thursday has 5, then Wednesday 25 March 07:00 + 1.
    assert_eq!(
        show(&cal, cal.add(t, &parse("7 working hours").expect("d"))),
        "2026-03-25 08:00"
    );
}

#[test]
fn open_seconds_between_matches_adding() {
    let cal = tehran();
    let a = at(&cal, "2026-03-18T13:00");
    for h in [1, 3, 7, 20, 60] {
        let b = cal.add_open_seconds(a, h * 3600);
        assert_eq!(cal.open_seconds_between(a, b), h * 3600, "{h} hours");
    }
}

#[test]
fn holidays_by_both_calendars() {
    let cal = tehran();
    let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
    assert!(cal.is_holiday(d(2026, 3, 21)), "1 Farvardin 1405");
    assert!(cal.is_holiday(d(2026, 2, 11)), "22 Bahman 1404");
    assert!(cal.is_holiday(d(2026, 6, 4)), "14 Khordad 1405");
    assert!(cal.is_holiday(d(2026, 5, 27)), "Eid al-Adha 1405 (one-off date)");
    assert!(!cal.is_holiday(d(2026, 5, 26)));
    assert!(!cal.is_working_day(d(2026, 5, 8)), "Friday");
    assert!(cal.is_working_day(d(2026, 5, 7)), "Thursday half day");
}

#[test]
fn calendar_durations_are_plain_seconds() {
    let cal = tehran();
    let t = at(&cal, "2026-03-18T10:00");
    assert_eq!(
        show(&cal, cal.add(t, &parse("10 days").expect("d"))),
        "2026-03-28 10:00"
    );
    assert_eq!(show(&cal, cal.add(t, &parse("P1W").expect("d"))), "2026-03-25 10:00");
}

#[test]
fn virtual_clock_moves_only_by_hand() {
    let c = VirtualClock::new(Timestamp(1_000));
    assert_eq!(c.now(), Timestamp(1_000));
    assert_eq!(c.advance(60), Timestamp(1_060));
    c.set(Timestamp(5));
    assert_eq!(c.now(), Timestamp(5));
}

/// The day-table arithmetic agrees with walking day by day, on instants
/// spread over years (holidays, half days, nights, weekends), for both the
/// municipal calendar and the always-open one.
#[test]
fn day_table_agrees_with_walking() {
    use rand::{Rng, SeedableRng};
    let seed = 20_261_122u64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // From 2010: Iran kept daylight saving time until 2022.
    let base = at(&tehran(), "2010-01-01T00:00");
    // The table's two anchors name the same day.
    let first = NaiveDate::from_ymd_opt(2000, 1, 1).expect("date");
    assert_eq!(WorkCalendar::table_day(0), first);
    assert_eq!(Timestamp(TABLE_START_UNIX).to_utc().date_naive(), first);
    for cal in [tehran(), WorkCalendar::always()] {
        for _ in 0..20_000 {
            let t = base.plus_seconds(rng.random_range(0..20 * 365 * 86_400));
            let local = t.to_utc().with_timezone(&cal.tz).naive_local();
            assert_eq!(cal.local(t), local, "seed {seed}: local time of {t:?} on {}", cal.name);
            let back = match cal.tz.from_local_datetime(&local) {
                chrono::LocalResult::Single(x) | chrono::LocalResult::Ambiguous(x, _) => Timestamp(x.timestamp()),
                chrono::LocalResult::None => unreachable!("a local time read off an instant exists"),
            };
            assert_eq!(
                cal.instant(local),
                back,
                "seed {seed}: instant of {local} on {}",
                cal.name
            );
            let secs = rng.random_range(0..400 * 3600);
            let days = rng.random_range(1..120);
            assert_eq!(
                cal.add_open_seconds(t, secs),
                cal.add_open_seconds_walk(t, secs),
                "seed {seed}: {} + {secs} open seconds on {}",
                show(&cal, t),
                cal.name
            );
            assert_eq!(
                cal.add_working_days(t, days),
                cal.add_working_days_walk(t, days),
                "seed {seed}: {} + {days} working days on {}",
                show(&cal, t),
                cal.name
            );
            let u = t.plus_seconds(rng.random_range(0..90 * 86_400));
            assert_eq!(
                cal.open_seconds_between(t, u),
                cal.open_seconds_between_walk(t, u),
                "seed {seed}: open seconds {} .. {} on {}",
                show(&cal, t),
                show(&cal, u),
                cal.name
            );
        }
    }
}

#[test]
fn working_days_between_counts_days_as_the_calendar_does() {
    let cal = tehran();
    // Sunday 3 Khordad 1405 (24 May 2026), 09:00: five working days on is
    // Sunday 09:00 a week later (Thursday counts, Friday does not).
    let a = at(&cal, "2026-05-24T09:00");
    let b = cal.add_working_days(a, 5);
    assert_eq!(show(&cal, b), "2026-05-31 09:00");
    assert!((cal.working_days_between(a, b) - 5.0).abs() < 1e-12);
    // Half of Sunday's opening hours (07:00–14:00) is half a working day.
    let c = at(&cal, "2026-05-24T10:30");
    assert!((cal.working_days_between(at(&cal, "2026-05-24T07:00"), c) - 0.5).abs() < 1e-12);
    // A night and a Friday add nothing.
    assert_eq!(
        cal.working_days_between(at(&cal, "2026-05-29T08:00"), at(&cal, "2026-05-29T20:00")),
        0.0
    );
    // On the always-open calendar working days are days.
    let always = WorkCalendar::always();
    let x = at(&always, "2026-05-24T09:00");
    assert!((always.working_days_between(x, x.plus_seconds(36 * 3600)) - 1.5).abs() < 1e-12);
}
