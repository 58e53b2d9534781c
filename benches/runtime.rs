//! The runtime on the peers' three models, in memory: start a case and run
//! it to completion (all steps automatic).
//!
//! `cargo bench --bench runtime`; side by side with the peers: `benches/peers.sh`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ravand_engine::definition::{Limits, SourceFile};
use ravand_engine::runtime::{self, Data, Status};
use ravand_engine::time::{Timestamp, WorkCalendar};
use ravand_engine::validate::validate_source;

fn bench(c: &mut Criterion) {
    let cal = WorkCalendar::always();
    let mut g = c.benchmark_group("runtime");
    for model in ["linear10", "parallel", "xor"] {
        let path = format!("{}/benches/models/{model}.yaml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("model");
        let p = validate_source(SourceFile::new(path, text), &Default::default(), &Limits::default())
            .process
            .expect("valid model");
        let routes = ["a", "b", "c"];
        let mut i = 0usize;
        let mut events = Vec::with_capacity(64);
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("{model}_case"), |b| {
            b.iter(|| {
                let mut data = Data::new();
                if model == "xor" {
                    data.insert("route".into(), serde_json::json!(routes[i % 3]));
                    i += 1;
                }
                events.clear();
                let st = runtime::start(&p, &cal, data, None, Timestamp(0), &mut events).expect("starts");
                assert_eq!(st.status, Status::Completed);
                st
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
