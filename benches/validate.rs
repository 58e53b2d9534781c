//! Parse and validate a generated 10,000-step process.
//!
//! `cargo bench --bench validate`

use criterion::{criterion_group, criterion_main, Criterion};
use ravand_engine::definition::{Limits, SourceFile};
use ravand_engine::model::CompileContext;
use ravand_engine::validate::validate_source;

#[path = "../tests/support/large.rs"]
mod large;

fn bench(c: &mut Criterion) {
    let text = large::large_process(10_000);
    let limits = Limits::default();
    let ctx = CompileContext::default();
    let r = validate_source(SourceFile::new("big.yaml", text.clone()), &ctx, &limits);
    assert!(
        !r.has_errors(),
        "{}",
        r.diagnostics
            .iter()
            .map(|d| d.render(&text))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let steps = r
        .process
        .as_ref()
        .map_or(0, |p| p.steps.iter().filter(|s| s.counts()).count());
    eprintln!("generated process: {} bytes, {} counted steps", text.len(), steps);
    let mut g = c.benchmark_group("validate");
    g.sample_size(20);
    g.bench_function("parse_and_validate_10k_steps", |b| {
        b.iter(|| validate_source(SourceFile::new("big.yaml", text.clone()), &ctx, &limits))
    });
    // A real definition: Tehran's current permit process (128 steps).
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/definitions/building-permit-current.yaml");
    let permit = std::fs::read_to_string(path).expect("definition");
    g.bench_function("parse_and_validate_building_permit_current", |b| {
        b.iter(|| validate_source(SourceFile::new("permit.yaml", permit.clone()), &ctx, &limits))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
