//! The simulator against known answers, and its determinism.

use ravand_engine::sim::{simulate, Report, Scenario};
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

fn without_timing(mut r: Report) -> Report {
    r.elapsed_s = 0.0;
    r.cases_per_s = 0.0;
    r.activities_per_s = 0.0;
    r
}

#[test]
fn mm1_queue_matches_its_formulas() {
    // λ = 0.8 per hour, μ = 1 per hour: ρ = 0.8, time in system 1/(μ−λ) = 5 h,
    // waiting ρ/(μ−λ) = 4 h.
    let p = mm1("60 minutes");
    let sc = scenario("cases: 20000\nwarmup: 2000\nreplications: 8\nseed: 7\narrivals: {poisson: 75 minutes}\nresources: {server: 1}\n");
    let r = simulate(&p, &WorkCalendar::always(), &sc).expect("runs");
    let hours = r.cycle_days.mean * 24.0;
    let ci = (r.cycle_days.ci95 * 24.0).max(0.05);
    assert!(
        (hours - 5.0).abs() <= 2.0 * ci + 0.25,
        "mean time in system {hours:.2} h ± {ci:.2}, expected 5 h"
    );
    let wait = r.roles[0].mean_wait_hours;
    assert!((wait - 4.0).abs() <= 0.6, "mean wait {wait:.2} h, expected 4 h");
    let util = r.roles[0].utilisation.expect("staffed");
    assert!((util - 0.8).abs() < 0.05, "utilisation {util:.3}, expected 0.8");
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
    let a = without_timing(simulate(&p, &cal, &sc).expect("runs"));
    let b = without_timing(simulate(&p, &cal, &sc).expect("runs"));
    assert_eq!(a, b, "seed {}", sc.seed);
    let mut other = sc.clone();
    other.seed = 12;
    assert_ne!(a, without_timing(simulate(&p, &cal, &other).expect("runs")));
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
