//! Generated processes for benchmarks, examples and tests.
//!
//! Owns: text generators whose output is a valid definition of a known size.
//! Must not: be used by the engine itself.

/// A process of `n` counted steps: runs of tasks with a decision and a
/// parallel block every 50 steps, and a rework loop every 200.
pub fn large_process(n: usize) -> String {
    let mut s = String::from("id: big\nversion: 1\ntitle: فرایند بزرگ\nroles:\n  - {id: clerk, title: کارمند}\ndata:\n  - {name: ok, type: bool}\nsteps:\n  - {id: start, kind: start}\n");
    let mut i = 0;
    while i < n {
        if i % 50 == 10 && i + 4 <= n {
            s += &format!(
                "  - {{id: d{i}, kind: decision, branches: [{{when: ok, next: a{i}}}], otherwise: {{next: b{i}}}}}\n"
            );
            s += &format!("  - {{id: a{i}, title: بررسی الف, performer: clerk, duration: {{fixed: 2 working hours}}, next: m{i}}}\n");
            s += &format!("  - {{id: b{i}, title: بررسی ب, performer: clerk, next: m{i}}}\n");
            s += &format!("  - {{id: m{i}, title: ادغام, performer: clerk}}\n");
            i += 3;
        } else if i % 50 == 30 && i + 4 <= n {
            s += &format!("  - {{id: p{i}, kind: parallel, next: [x{i}, y{i}]}}\n");
            s += &format!("  - {{id: x{i}, title: استعلام, performer: clerk, tags: [inquiry], next: j{i}}}\n");
            s += &format!("  - {{id: y{i}, title: بازدید, performer: clerk, tags: [inspection], next: j{i}}}\n");
            s += &format!("  - {{id: j{i}, kind: join}}\n");
            i += 2;
        } else if i % 200 == 199 {
            s += &format!(
                "  - {{id: r{i}, kind: decision, branches: [{{when: '!ok', next: s{}}}], otherwise: {{next: s{i}}}}}\n",
                i - 5
            );
            s += &format!("  - {{id: s{i}, title: کار, performer: clerk}}\n");
            i += 1;
        } else {
            s += &format!(
                "  - {{id: s{i}, title: کار {i}, performer: clerk, tags: [data-entry], value: business-required}}\n"
            );
            i += 1;
        }
    }
    s += "  - {id: done, kind: end, outcome: done}\n";
    s
}
