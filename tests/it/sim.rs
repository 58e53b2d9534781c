//! The simulator against known answers, and its determinism.

use ravand_engine::sim::{simulate, Scenario};
use ravand_engine::time::WorkCalendar;

use crate::helpers::check;

fn mm1(service: &str) -> ravand_engine::model::Process {
    let text = format!(
        "id: mm1\nversion: 1\ntitle: صف\nroles:\n  - {{id: server, title: خدمت‌دهنده}}\nsteps:\n  - {{id: start, kind: start}}\n  - {{id: serve, title: خدمت, performer: server, duration: {{exponential: {{mean: {service}}}}}}}\n  - {{id: done, kind: end, outcome: done}}\n"
    );
    check("mm1.yaml", &text).process.expect("valid")
}

fn scenario(yaml: &str) -> Scenario {
    serde_saphyr::from_str(yaml).expect("scenario")
}

#[test]
fn mm1_queue_matches_its_formulas() {
    // λ = 0.8 per hour, μ = 1 per hour: ρ = 0.8, time in system 1/(μ−λ) = 5 h,
    // waiting ρ/(μ−λ) = 4 h.
    let p = mm1("60 minutes");
    let sc = scenario("cases: 20000\nwarmup: 2000\nreplications: 8\nseed: 7\narrivals: {poisson: 75 minutes}\nresources: {server: 1}\n");
    let r = simulate(&p, &WorkCalendar::always(), &sc).expect("runs");
    let hours = r.cycle_days.mean * 24.0;
    let ci = (r.cycle_days.ci95.expect("several replications") * 24.0).max(0.05);
    assert!(
        (hours - 5.0).abs() <= 2.0 * ci + 0.25,
        "mean time in system {hours:.2} h ± {ci:.2}, expected 5 h"
    );
    let wait = r.roles[0].mean_wait_hours;
    assert!((wait - 4.0).abs() <= 0.6, "mean wait {wait:.2} h, expected 4 h");
    let util = r.roles[0].utilisation.expect("staffed");
    assert!((util - 0.8).abs() < 0.05, "utilisation {util:.3}, expected 0.8");
    // Mean number waiting Lq = ρ²/(1−ρ) = 3.2 (the time average of the
    // queue, measured apart from the waits).
    let lq = r.roles[0].mean_queue;
    assert!((lq - 3.2).abs() <= 0.5, "mean queue {lq:.2}, expected 3.2");
    assert!(r.roles[0].max_queue as f64 > lq, "{r:?}");
    // Per case (warm-up left out) and per task of the role (all) agree.
    assert!(
        (r.queue_days_mean * 24.0 - wait).abs() < 0.05 * wait,
        "per case queueing {} h vs the role's mean wait {wait} h",
        r.queue_days_mean * 24.0
    );
    assert_eq!(r.unfinished, 0);
}

#[test]
fn a_chain_of_fixed_durations_takes_their_sum() {
    let text = "id: chain\nversion: 1\ntitle: زنجیره\nsteps:\n  - {id: start, kind: start}\n  - {id: a, title: الف, mode: manual, duration: {fixed: 2 hours}}\n  - {id: b, title: ب, mode: manual, duration: {fixed: 3 hours}}\n  - {id: done, kind: end, outcome: done}\n";
    let p = check("chain.yaml", text).process.expect("valid");
    let r = simulate(
        &p,
        &WorkCalendar::always(),
        &scenario("cases: 50\nseed: 1\narrivals: {every: 1 hours}\n"),
    )
    .expect("runs");
    assert!(
        (r.cycle_days.mean * 24.0 - 5.0).abs() < 1e-9,
        "{}",
        r.cycle_days.mean * 24.0
    );
    assert_eq!(r.steps_mean, 2.0);
}

#[test]
fn the_same_seed_gives_the_same_report_and_another_seed_another() {
    let p = mm1("50 minutes");
    let sc =
        scenario("cases: 3000\nreplications: 2\nseed: 11\narrivals: {poisson: 60 minutes}\nresources: {server: 1}\n");
    let cal = WorkCalendar::always();
    let a = simulate(&p, &cal, &sc).expect("runs");
    let b = simulate(&p, &cal, &sc).expect("runs");
    assert_eq!(a, b, "seed {}", sc.seed);
    let mut other = sc.clone();
    other.seed = 12;
    assert_ne!(a, simulate(&p, &cal, &other).expect("runs"));
}

#[test]
fn priority_cases_wait_less() {
    let text = "id: pq\nversion: 1\ntitle: اولویت\nroles:\n  - {id: server, title: خدمت‌دهنده}\ndata:\n  - {name: partner, type: bool, required: true}\nsteps:\n  - {id: start, kind: start}\n  - {id: serve, title: خدمت, performer: server, duration: {exponential: {mean: 60 minutes}}}\n  - {id: done, kind: end, outcome: done}\n";
    let p = check("pq.yaml", text).process.expect("valid");
    let base = "cases: 6000\nwarmup: 500\nseed: 3\narrivals: {poisson: 70 minutes}\nresources: {server: 1}\ndata: {partner: {bernoulli: 0.2}}\n";
    let cal = WorkCalendar::always();
    let fifo = simulate(&p, &cal, &scenario(base)).expect("runs");
    let prio = simulate(&p, &cal, &scenario(&format!("{base}priority: partner\n"))).expect("runs");
    // Priority reorders the queue; with one server the mean wait over all
    // cases stays the same (work-conserving), but the spread grows.
    assert!(
        (fifo.roles[0].mean_wait_hours - prio.roles[0].mean_wait_hours).abs()
            < 0.2 * fifo.roles[0].mean_wait_hours.max(1.0),
        "{fifo:?} vs {prio:?}"
    );
    assert!(
        prio.cycle_days.p95 > fifo.cycle_days.p95,
        "non-partners wait longer at the tail: {} vs {}",
        prio.cycle_days.p95,
        fifo.cycle_days.p95
    );
}

#[test]
fn mmc_queue_matches_erlang_c() {
    // c = 2 servers, λ = 1.5/h, μ = 1/h: a = λ/μ = 1.5, ρ = 0.75.
    // Erlang C: P(wait) = (a^c/c!)(1/(1−ρ)) / (Σ_{k<c} a^k/k! + (a^c/c!)(1/(1−ρ)))
    //         = (1.125·4) / (1 + 1.5 + 4.5) = 4.5/7 ≈ 0.6429; Wq = P(wait)/(cμ−λ) = 0.6429/0.5 ≈ 1.286 h.
    let text = "id: mmc\nversion: 1\ntitle: صف\nroles:\n  - {id: server, title: خدمت‌دهنده}\nsteps:\n  - {id: start, kind: start}\n  - {id: serve, title: خدمت, performer: server, duration: {exponential: {mean: 60 minutes}}}\n  - {id: done, kind: end, outcome: done}\n";
    let p = check("mmc.yaml", text).process.expect("valid");
    let sc = scenario("cases: 30000\nwarmup: 2000\nreplications: 6\nseed: 21\narrivals: {poisson: 40 minutes}\nresources: {server: 2}\n");
    let r = simulate(&p, &WorkCalendar::always(), &sc).expect("runs");
    let wq = r.roles[0].mean_wait_hours;
    assert!(
        (wq - 4.5 / 7.0 / 0.5).abs() < 0.15,
        "mean wait {wq:.3} h, expected 1.286 h"
    );
    let w = r.cycle_days.mean * 24.0;
    assert!(
        (w - (4.5 / 7.0 / 0.5 + 1.0)).abs() < 0.2,
        "time in system {w:.3} h, expected 2.286 h"
    );
}

#[test]
fn two_parallel_exponential_branches_take_the_mean_of_their_maximum() {
    // E[max(X, Y)] for independent exponentials with means 2 h and 3 h:
    // 2 + 3 − 1/(1/2 + 1/3) = 5 − 1.2 = 3.8 h.
    let text = "id: par\nversion: 1\ntitle: موازی\nsteps:\n  - {id: start, kind: start}\n  - {id: split, kind: parallel, next: [a, b]}\n  - {id: a, title: الف, mode: manual, duration: {exponential: {mean: 2 hours}}, next: join}\n  - {id: b, title: ب, mode: manual, duration: {exponential: {mean: 3 hours}}, next: join}\n  - {id: join, kind: join}\n  - {id: done, kind: end, outcome: done}\n";
    let p = check("par.yaml", text).process.expect("valid");
    let sc = scenario("cases: 20000\nreplications: 5\nseed: 5\narrivals: {every: 10 minutes}\n");
    let r = simulate(&p, &WorkCalendar::always(), &sc).expect("runs");
    let hours = r.cycle_days.mean * 24.0;
    let ci = (r.cycle_days.ci95.expect("several replications") * 24.0).max(0.01);
    assert!(
        (hours - 3.8).abs() <= 3.0 * ci + 0.05,
        "mean {hours:.3} h ± {ci:.3}, expected 3.8 h"
    );
}

#[test]
fn the_event_log_exports_as_csv_and_as_xes_that_parses() {
    use quick_xml::events::Event;
    let p = mm1("30 minutes");
    let sc = scenario("cases: 20\nwarmup: 5\nseed: 2\narrivals: {every: 40 minutes}\nresources: {server: 1}\n");
    let (_, log) = ravand_engine::sim::simulate_with_log(&p, &WorkCalendar::always(), &sc, true).expect("runs");
    assert_eq!(log.len(), 50, "a start and a completion per case, the warm-up's too");
    let csv = ravand_engine::sim::to_csv("mm1", &log);
    let head = csv.lines().next().unwrap_or_default();
    assert!(
        head.starts_with("case:concept:name,concept:name,time:timestamp,lifecycle:transition,org:resource,org:role"),
        "{head}"
    );
    assert!(head.ends_with(",case:warmup"), "{head}");
    assert_eq!(csv.lines().count(), 51);
    // The same case ids in both files; a person named on every event; the
    // warm-up's five cases marked.
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.expect("a row")).collect();
    let csv_cases: std::collections::BTreeSet<String> = rows.iter().map(|x| x[0].to_owned()).collect();
    assert!(rows.iter().all(|x| &x[4] == "server#1"), "one server, named: {csv}");
    let parsed = process_mining::core::event_data::case_centric::xes::import_xes_slice(
        ravand_engine::sim::to_xes("mm1", &log).as_bytes(),
        false,
        Default::default(),
    )
    .expect("the XES reads back");
    let attr = |a: &process_mining::core::event_data::case_centric::Attributes, k: &str| {
        a.iter().find(|x| x.key == k).map(|x| x.value.clone())
    };
    use process_mining::core::event_data::case_centric::AttributeValue as A;
    let xes_cases: std::collections::BTreeSet<String> = parsed
        .traces
        .iter()
        .filter_map(|t| match attr(&t.attributes, "concept:name") {
            Some(A::String(s)) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(xes_cases, csv_cases);
    let warm = parsed
        .traces
        .iter()
        .filter(|t| attr(&t.attributes, "warmup") == Some(A::Boolean(true)))
        .count();
    assert_eq!((parsed.traces.len(), warm), (25, 5));

    // Walk the XES with a real XML parser: log > trace > event, each event
    // with concept:name, time:timestamp, lifecycle:transition, org:resource.
    let xes = ravand_engine::sim::to_xes("mm1", &log);
    let mut reader = quick_xml::Reader::from_str(&xes);
    let mut path: Vec<String> = Vec::new();
    let (mut traces, mut events) = (0, 0);
    let mut keys: Vec<String> = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                match name.as_str() {
                    "trace" => {
                        assert_eq!(path, vec!["log"]);
                        traces += 1;
                    }
                    "event" => {
                        assert_eq!(path, vec!["log", "trace"]);
                        events += 1;
                        keys.clear();
                    }
                    _ => {}
                }
                path.push(name);
            }
            Event::Empty(e) if path.last().map(String::as_str) == Some("event") => {
                let key = e
                    .try_get_attribute("key")
                    .expect("attr")
                    .expect("key")
                    .unescape_value()
                    .expect("text")
                    .into_owned();
                keys.push(key);
            }
            Event::End(e) => {
                if e.name().as_ref() == b"event" {
                    for k in ["concept:name", "time:timestamp", "lifecycle:transition", "org:resource"] {
                        assert!(keys.iter().any(|x| x == k), "an event lacks {k}: {keys:?}");
                    }
                }
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!((traces, events), (25, 50));
}

#[test]
fn simulated_steps_per_case_match_the_expected_steps() {
    // Two independent methods: the simulator walking cases through the
    // runtime, and the expected visits solved on the graph.
    for file in [
        "building-permit-current.yaml",
        "building-permit-reformed.yaml",
        "complaint-137.yaml",
    ] {
        let path = crate::helpers::root().join("definitions").join(file);
        let p = ravand_engine::validate::validate_paths(&[path], &Default::default())
            .remove(0)
            .process
            .expect("valid");
        let sc = scenario("cases: 3000\nseed: 9\narrivals: {every: 1 hours}\n");
        let r = simulate(&p, &WorkCalendar::always(), &sc).expect("runs");
        let e = ravand_engine::measure::expected_steps(&p);
        assert!(
            (r.steps_mean - e).abs() / e < 0.03,
            "{file}: simulated {:.2}, expected {e:.2}",
            r.steps_mean
        );
    }
}

#[test]
fn analytical_expected_days_agree_with_the_simulated_mean() {
    // Without queues for people, the simulated mean and the analytical
    // expectation differ only by the expected maximum of parallel branches
    // and the working-day approximation: within 5% on the permit processes.
    for file in ["building-permit-current.yaml", "building-permit-reformed.yaml"] {
        let path = crate::helpers::root().join("definitions").join(file);
        let reports = ravand_engine::validate::validate_paths(&[path], &Default::default());
        let p = reports[0].process.as_ref().expect("valid");
        let text = std::fs::read_to_string(crate::helpers::root().join("definitions/calendars/tehran-municipal.yaml"))
            .expect("calendar");
        let def = ravand_engine::definition::parse_calendar(
            &ravand_engine::definition::SourceFile::new("tehran-municipal.yaml", text),
            &Default::default(),
        )
        .expect("parses");
        let cal = WorkCalendar::from_def(&def).expect("calendar");
        let r = simulate(
            p,
            &cal,
            &scenario("cases: 2000\nseed: 8\nstart: 2026-04-04T08:00\narrivals: {poisson: 12 hours}\n"),
        )
        .expect("runs");
        let e = ravand_engine::measure::expected_days(p);
        assert!(
            (r.cycle_days.mean - e).abs() / e < 0.05,
            "{file}: simulated {:.1} days, analytical {e:.1}",
            r.cycle_days.mean
        );
    }
}

fn calendar(text: &str) -> WorkCalendar {
    let def = ravand_engine::definition::parse_calendar(
        &ravand_engine::definition::SourceFile::new("cal.yaml", text),
        &Default::default(),
    )
    .expect("calendar parses");
    WorkCalendar::from_def(&def).expect("calendar builds")
}

fn tehran() -> WorkCalendar {
    calendar(
        &std::fs::read_to_string(crate::helpers::root().join("definitions/calendars/tehran-municipal.yaml"))
            .expect("calendar"),
    )
}

const CHAIN: &str = "id: chain\nversion: 1\ntitle: زنجیره\nsteps:\n  - {id: start, kind: start}\n  - {id: a, title: الف, mode: manual, duration: {fixed: 2 hours}}\n  - {id: b, title: ب, mode: manual, duration: {fixed: 3 hours}}\n  - {id: done, kind: end, outcome: done}\n";

/// The problems of a scenario that does not fit its process, as
/// `line:column code`.
fn problems(p: &ravand_engine::model::Process, yaml: &str) -> Vec<String> {
    match simulate(p, &WorkCalendar::always(), &scenario(yaml)) {
        Err(ravand_engine::sim::SimError::Invalid(d)) => d
            .iter()
            .map(|d| format!("{}:{} {}", d.line, d.column, d.code))
            .collect(),
        other => panic!("expected the scenario to be refused, got {other:?}"),
    }
}

#[test]
fn a_scenario_that_does_not_fit_its_process_is_refused_at_its_lines() {
    let p = mm1("60 minutes");
    assert_eq!(
        problems(
            &p,
            "cases: 10\narrivals: {every: 1 hours}\nresources: {sever: 1}\ndurations:\n  serv: {fixed: 1 hours}\n"
        ),
        vec!["3:13 scenario-unknown", "5:3 scenario-unknown"]
    );
    assert_eq!(
        problems(&p, "arrivals: {every: 1 hours, poisson: 2 hours}\n"),
        vec!["1:1 scenario-end", "1:11 scenario-arrivals"]
    );
    assert_eq!(
        problems(&p, "cases: 5\narrivals: {every: 0 hours}\nstart: tomorrow\n"),
        vec!["2:19 bad-duration", "3:8 scenario-start"]
    );
    assert_eq!(
        problems(
            &p,
            "cases: 5\narrivals: {every: 1 hours}\nresources: {server: 0}\npriority: server\n"
        ),
        vec!["3:13 scenario-resources", "4:11 scenario-priority"]
    );
    // The message names the mistake and what was meant.
    let Err(e) = simulate(
        &p,
        &WorkCalendar::always(),
        &scenario("cases: 1\narrivals: {every: 1 hours}\nresources: {sever: 1}\n"),
    ) else {
        panic!("refused")
    };
    assert!(e.to_string().contains("`sever` is not a role"), "{e}");
}

#[test]
fn a_horizon_ends_arrivals_and_started_cases_finish() {
    let p = check("chain.yaml", CHAIN).process.expect("valid");
    let r = simulate(
        &p,
        &WorkCalendar::always(),
        &scenario("horizon: 10 hours\narrivals: {every: 1 hours}\n"),
    )
    .expect("runs");
    // Arrivals at 0, 1, …, 10 hours.
    assert_eq!((r.arrived, r.finished, r.unfinished), (11, 11, 0));
    assert_eq!(r.horizon_days, Some(10.0 / 24.0));
    // With a case count as well, whichever comes first.
    let r = simulate(
        &p,
        &WorkCalendar::always(),
        &scenario("cases: 4\nhorizon: 10 hours\narrivals: {every: 1 hours}\n"),
    )
    .expect("runs");
    assert_eq!(r.arrived, 4);
}

#[test]
fn scheduled_arrivals_come_in_batches_at_each_occurrence() {
    // Five fortnightly public meetings on Tuesdays at 19:00, 30 requests each.
    let p = check("chain.yaml", CHAIN).process.expect("valid");
    let cal = tehran();
    let sc = scenario("horizon: 1 year\nstart: 2026-04-04T08:00\narrivals: {schedule: {repeat: R5/2026-04-07T19:00/P14D}, batch: 30}\n");
    let (r, log) = ravand_engine::sim::simulate_with_log(&p, &cal, &sc, true).expect("runs");
    assert_eq!(r.arrived, 150);
    let sample = r.sample_case.as_ref().expect("a sample case");
    assert_eq!(
        cal.local(sample.arrived).format("%Y-%m-%d %H:%M").to_string(),
        "2026-04-07 19:00"
    );
    let mut days: Vec<String> = log
        .iter()
        .filter(|e| e.lifecycle == ravand_engine::eventlog::Transition::Start && e.activity == "الف")
        .map(|e| cal.local(e.at).format("%Y-%m-%d %H:%M").to_string())
        .collect();
    days.dedup();
    assert_eq!(
        days,
        [
            "2026-04-07 19:00",
            "2026-04-21 19:00",
            "2026-05-05 19:00",
            "2026-05-19 19:00",
            "2026-06-02 19:00"
        ]
    );
}

#[test]
fn arrivals_in_working_time_come_only_while_offices_are_open() {
    let p = check("chain.yaml", CHAIN).process.expect("valid");
    let cal = tehran();
    let sc = scenario("cases: 400\nseed: 4\nstart: 2026-03-14T08:00\narrivals: {poisson: 90 working minutes}\n");
    let (r, log) = ravand_engine::sim::simulate_with_log(&p, &cal, &sc, true).expect("runs");
    assert_eq!(r.arrived, 400);
    let arrivals: Vec<_> = log
        .iter()
        .filter(|e| e.lifecycle == ravand_engine::eventlog::Transition::Start && e.activity == "الف")
        .collect();
    assert_eq!(arrivals.len(), 400);
    for e in arrivals {
        // Open at that instant, or at the very moment of closing.
        assert!(
            cal.open_seconds_between(e.at.plus_seconds(-1), e.at) == 1,
            "case {} arrived at {} with the offices closed",
            e.case,
            cal.show(e.at)
        );
    }
}

#[test]
fn scenario_durations_replace_the_definitions() {
    let p = check("chain.yaml", CHAIN).process.expect("valid");
    let r = simulate(
        &p,
        &WorkCalendar::always(),
        &scenario("cases: 20\narrivals: {every: 1 hours}\ndurations:\n  a: {fixed: 10 hours}\n"),
    )
    .expect("runs");
    assert!(
        (r.cycle_days.mean * 24.0 - 13.0).abs() < 1e-9,
        "{}",
        r.cycle_days.mean * 24.0
    );
    assert!((r.processing_days_mean * 24.0 - 13.0).abs() < 1e-9);
    assert_eq!(r.slowest_steps[0].step, "a");
    assert!((r.slowest_steps[0].days_per_case * 24.0 - 10.0).abs() < 1e-9);
}

#[test]
fn people_with_their_own_calendar_start_in_their_hours() {
    // One clerk who works 08:00–12:00 every day; a case every day at 20:00
    // waits for the morning: 12 hours in the queue, 1 working hour of work.
    let text = "id: desk\nversion: 1\ntitle: میز\nroles:\n  - {id: clerk, title: کارمند}\nsteps:\n  - {id: start, kind: start}\n  - {id: serve, title: خدمت, performer: clerk, duration: {fixed: 1 working hours}}\n  - {id: done, kind: end, outcome: done}\n";
    let p = check("desk.yaml", text).process.expect("valid");
    let mut sc = scenario("cases: 30\nstart: 2026-04-04T20:00\narrivals: {every: 24 hours}\nresources:\n  clerk: {people: 1, calendar: mornings}\n");
    assert_eq!(sc.calendar_names(), vec!["mornings"]);
    let hours = "08:00-12:00";
    let mornings = calendar(&format!("id: mornings\ntime_zone: UTC\nweek: {{saturday: {hours}, sunday: {hours}, monday: {hours}, tuesday: {hours}, wednesday: {hours}, thursday: {hours}, friday: {hours}}}\n"));
    // Without the calendar loaded, the scenario says which one is missing.
    let Err(e) = simulate(&p, &WorkCalendar::always(), &sc) else {
        panic!("refused")
    };
    assert!(e.to_string().contains("calendar `mornings`"), "{e}");
    sc.calendars.insert("mornings".into(), mornings);
    let r = simulate(&p, &WorkCalendar::always(), &sc).expect("runs");
    assert!(
        (r.cycle_days.mean * 24.0 - 13.0).abs() < 1e-9,
        "{}",
        r.cycle_days.mean * 24.0
    );
    assert!((r.queue_days_mean * 24.0 - 12.0).abs() < 1e-9);
    let sample = r.sample_case.as_ref().expect("sample");
    assert_eq!(sample.activities.len(), 1);
    assert!((sample.activities[0].started_day * 24.0 - 12.0).abs() < 1e-9);
    // Busy one hour of the four open each day.
    let u = r.roles[0].utilisation.expect("staffed");
    assert!((u - 0.25).abs() < 0.02, "utilisation {u}");
}

#[test]
fn the_permit_comparison_gives_the_owner_the_same_time_in_both_processes() {
    // What the reform cannot change — the owner's errands and payments, the
    // designers', the surveyor's and the Article 5 commission's work — must
    // take the same time in both definitions, or the comparison would
    // credit the reform with the owner's speed.
    let load = |file: &str| {
        let path = crate::helpers::root().join("definitions").join(file);
        ravand_engine::validate::validate_paths(&[path], &Default::default())
            .remove(0)
            .process
            .expect("valid")
    };
    let (old, new) = (
        load("building-permit-current.yaml"),
        load("building-permit-reformed.yaml"),
    );
    let duration = |p: &ravand_engine::model::Process, id: &str| {
        p.steps
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("{} has no step `{id}`", p.id.0))
            .duration
            .clone()
            .unwrap_or_else(|| panic!("`{id}` has no duration"))
    };
    for (a, b) in [
        ("supply-missing-documents", "upload-missing-documents"),
        ("settle-violation-record", "pay-outstanding"),
        ("article5-ruling", "article5"),
        ("prepare-survey-map", "survey-map"),
        ("choose-designers", "choose-designers"),
        ("prepare-plans", "prepare-plans"),
        ("correct-plans", "correct-plans"),
        ("citizen-pays-fees", "pay-fees"),
        ("introduce-builder", "register-builder-and-insurance"),
    ] {
        assert_eq!(
            duration(&old, a),
            duration(&new, b),
            "`{a}` today and `{b}` after the reform"
        );
    }
}

#[test]
fn a_chain_of_fixed_working_days_skips_nowruz_as_the_calendar_does() {
    // 2 then 3 working days from the Wednesday before Nowruz (25 Esfand
    // 1404, 10:00) end on 9 Farvardin 1405 at 10:00: Thursday counts,
    // Friday and the Nowruz holidays do not.
    let text = "id: chain\nversion: 1\ntitle: زنجیره\ncalendar: tehran-municipal\nsteps:\n  - {id: start, kind: start}\n  - {id: a, title: الف, mode: manual, duration: {fixed: 2 working days}}\n  - {id: b, title: ب, mode: manual, duration: {fixed: 3 working days}}\n  - {id: done, kind: end, outcome: done}\n";
    let p = check("chain.yaml", text).process.expect("valid");
    let cal = tehran();
    let sc = scenario("cases: 1\nstart: 2026-03-18T10:00\narrivals: {every: 1 days}\n");
    let r = simulate(&p, &cal, &sc).expect("runs");
    let case = r.sample_case.as_ref().expect("sample");
    let end = case.ended.expect("finished");
    assert_eq!(cal.show(end), "1405-01-09 10:00 (2026-03-29)");
    assert!(
        (r.cycle_working_days.mean - 5.0).abs() < 1e-9,
        "{}",
        r.cycle_working_days.mean
    );
    assert!((r.cycle_days.mean - 11.0).abs() < 1e-9, "{}", r.cycle_days.mean);
}

#[test]
fn utilisation_stays_right_past_the_end_of_the_day_table() {
    // ρ = 0.9 (a case every 10 days, served in 9): 5,000 cases from 2026
    // take about 137 years, well past 2150, where the per-day table ends.
    let p = mm1("9 days");
    let sc = scenario("cases: 5000\nreplications: 3\nseed: 11\nstart: 2026-01-01T00:00\narrivals: {poisson: 10 days}\nresources: {server: 1}\n");
    let r = simulate(&p, &WorkCalendar::always(), &sc).expect("runs");
    let util = r.roles[0].utilisation.expect("staffed");
    assert!(util <= 1.0, "utilisation {util:.3} above 100%");
    assert!((util - 0.9).abs() < 0.08, "utilisation {util:.3}, expected 0.9");
    // The arithmetic itself: a span across the table's end is the sum of its parts.
    let cal = WorkCalendar::always();
    let t = |y: i32| {
        ravand_engine::time::Timestamp::from_utc(
            chrono::NaiveDate::from_ymd_opt(y, 1, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .expect("date")
                .and_utc(),
        )
    };
    let whole = cal.open_seconds_between(t(2026), t(2190));
    assert_eq!(
        whole,
        t(2190).0 - t(2026).0,
        "an always-open calendar is open every second"
    );
}

#[test]
fn cases_that_cannot_finish_are_explained_and_one_replication_has_no_interval() {
    // The reply is keyed on `file_no`, which no scenario data gives: every
    // case stops in an incident at the receive.
    let text = "id: stuck\nversion: 1\ntitle: گیر\ndata:\n  - {name: file_no, type: string}\nsteps:\n  - {id: start, kind: start}\n  - {id: a, title: الف, mode: manual, duration: {fixed: 1 hours}}\n  - {id: r, kind: receive, title: پاسخ, message: reply, correlation: file_no, duration: {fixed: 1 hours}}\n  - {id: done, kind: end, outcome: done}\n";
    let p = check("stuck.yaml", text).process.expect("valid");
    let sc = scenario("cases: 50\nreplications: 1\nseed: 3\narrivals: {every: 2 hours}\n");
    let r = simulate(&p, &WorkCalendar::always(), &sc).expect("runs");
    assert_eq!((r.finished, r.unfinished), (0, 50));
    assert_eq!(r.unfinished_why.len(), 1, "{:?}", r.unfinished_why);
    let u = &r.unfinished_why[0];
    assert_eq!((u.step.as_str(), u.cases), ("r", 50));
    assert!(
        u.reason.contains("incident") && u.reason.contains("file_no"),
        "{}",
        u.reason
    );
    assert_eq!(r.cycle_days.ci95, None, "one replication has no confidence interval");
    let text = ravand_engine::sim::to_text(&r);
    assert!(text.contains("warning: 50 of 50 cases did not finish"), "{text}");
    assert!(!text.contains('±'), "{text}");
    // Step figures count every counted case: step `a` was done once in each.
    let a = r.slowest_steps.iter().find(|s| s.step == "a").expect("a");
    assert!((a.per_case - 1.0).abs() < 1e-9, "{}", a.per_case);
}

/// Every municipal definition has a scenario, and every scenario's cases
/// finish (a case that cannot would be reported as unfinished).
#[test]
fn every_municipal_scenario_runs_to_the_end_of_its_cases() {
    let dir = crate::helpers::root().join("definitions");
    for def in [
        "article-100",
        "building-permit-current",
        "complaint-137",
        "mardom-salam",
    ] {
        let file = if def == "building-permit-current" {
            "building-permit"
        } else {
            def
        };
        let text = std::fs::read_to_string(dir.join(format!("{def}.yaml"))).expect("definition");
        let p = ravand_engine::validate::validate_source(
            ravand_engine::definition::SourceFile::new(format!("{def}.yaml"), text),
            &ravand_engine::model::CompileContext::default(),
            &ravand_engine::definition::Limits::default(),
        )
        .process
        .unwrap_or_else(|| panic!("{def} is valid"));
        let cal = match &p.calendar {
            Some(name) => {
                let t = std::fs::read_to_string(dir.join(format!("calendars/{name}.yaml"))).expect("calendar");
                let (d, _) = ravand_engine::validate::validate_calendar(
                    &ravand_engine::definition::SourceFile::new(format!("{name}.yaml"), t),
                    &ravand_engine::definition::Limits::default(),
                );
                WorkCalendar::from_def(&d.expect("parses")).expect("builds")
            }
            None => WorkCalendar::always(),
        };
        let src = ravand_engine::definition::SourceFile::read(
            &dir.join(format!("scenarios/{file}.yaml")),
            &ravand_engine::definition::Limits::default(),
        )
        .expect("a scenario for every municipal definition");
        let mut sc =
            ravand_engine::sim::parse_scenario(&src, &ravand_engine::definition::Limits::default()).expect("parses");
        sc.replications = 1;
        if sc.cases.is_some() {
            sc.cases = Some(300);
            sc.warmup = 0;
        }
        let r = simulate(&p, &cal, &sc).unwrap_or_else(|e| panic!("{def}: {e:?}"));
        assert!(r.finished > 0, "{def}: nothing finished");
        assert_eq!(r.unfinished, 0, "{def}: {:?}", r.unfinished_why);
    }
    // The default scenario parses and names itself.
    let (sc, _) = ravand_engine::sim::default_scenario().expect("the default scenario parses");
    assert_eq!(sc.cases, Some(1000));
}

/// A task with three instances of two hours each: at once they take two
/// hours, one after the other six, and one person working them all at
/// once's pace still takes six (they queue for her); each instance is a
/// task of its own in the log.
#[test]
fn multiple_instances_take_their_time_at_once_or_in_turn() {
    let text = |order: &str, staffed: bool| {
        format!(
            "id: mi\nversion: 1\ntitle: چند نمونه\nroles:\n  - {{id: clerk, title: کارمند}}\ndata:\n  - {{name: bodies, type: list, required: true}}\n  - {{name: body, type: string}}\nsteps:\n  - {{id: start, kind: start}}\n  - {{id: ask, title: استعلام, {}each: {{over: bodies, as: body, order: {order}}}, duration: {{fixed: 2 hours}}}}\n  - {{id: done, kind: end, outcome: done}}\n",
            if staffed { "performer: clerk, " } else { "mode: manual, performer: clerk, " }
        )
    };
    let run = |order: &str, staffed: bool| {
        let p = check("mi.yaml", &text(order, staffed)).process.expect("valid");
        let sc = format!(
            "cases: 20\nseed: 3\narrivals: {{every: 1 days}}\ndata: {{bodies: {{value: [water, power, gas]}}}}\n{}",
            if staffed { "resources: {clerk: 1}\n" } else { "" }
        );
        let (r, log) =
            ravand_engine::sim::simulate_with_log(&p, &WorkCalendar::always(), &scenario(&sc), true).expect("runs");
        assert_eq!(r.unfinished, 0, "{order}: {r:?}");
        (r.cycle_days.mean * 24.0, r.steps_mean, log)
    };
    let (at_once, steps, log) = run("parallel", false);
    assert!((at_once - 2.0).abs() < 1e-9, "at once: {at_once} h");
    assert_eq!(steps, 1.0, "the step counts once");
    let completions = log
        .iter()
        .filter(|e| e.step == "ask" && e.lifecycle == ravand_engine::eventlog::Transition::Complete)
        .count();
    assert_eq!(completions, 20 * 3, "one completed task per instance");
    let (in_turn, _, _) = run("sequential", false);
    assert!((in_turn - 6.0).abs() < 1e-9, "in turn: {in_turn} h");
    let (one_person, _, _) = run("parallel", true);
    assert!((one_person - 6.0).abs() < 1e-9, "one clerk: {one_person} h");
}
