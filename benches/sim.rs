//! The simulator: 10,000 cases of today's permit process (2,000 cases x 5
//! replications under `definitions/scenarios/building-permit.yaml`, on the
//! Tehran calendar), and SimPy's 50-activity baseline.
//!
//! `cargo bench --bench sim`; side by side with SimPy and Prosimos:
//! `WITH_PROSIMOS=1 bash benches/sim-peers.sh 10000`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ravand_engine::definition::{parse_calendar, Limits, SourceFile};
use ravand_engine::model::Process;
use ravand_engine::sim::{parse_scenario, simulate, Scenario};
use ravand_engine::time::WorkCalendar;
use ravand_engine::validate::validate_source;

fn root(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn process(rel: &str) -> Process {
    let text = std::fs::read_to_string(root(rel)).expect("definition");
    validate_source(SourceFile::new(rel, text), &Default::default(), &Limits::default())
        .process
        .expect("valid")
}

fn scenario(rel: &str) -> Scenario {
    let text = std::fs::read_to_string(root(rel)).expect("scenario");
    parse_scenario(&SourceFile::new(rel, text), &Limits::default()).expect("scenario parses")
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim");
    g.sample_size(10);
    let text = std::fs::read_to_string(root("definitions/calendars/tehran-municipal.yaml")).expect("calendar");
    let def = parse_calendar(&SourceFile::new("tehran-municipal.yaml", text), &Limits::default()).expect("parses");
    let tehran = WorkCalendar::from_def(&def).expect("calendar");
    let permit = process("definitions/building-permit-current.yaml");
    let sc = scenario("definitions/scenarios/building-permit.yaml");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("permit_current_10000_cases", |b| {
        b.iter(|| simulate(&permit, &tehran, &sc).expect("runs"))
    });
    let linear = process("benches/models/linear50.yaml");
    let mut sc = scenario("benches/models/linear50.scenario.yaml");
    sc.cases = Some(10_000);
    g.bench_function("linear50_10000_cases", |b| {
        b.iter(|| simulate(&linear, &WorkCalendar::always(), &sc).expect("runs"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
