//! Times the phases of validating a large generated process (a profiling aid).
fn main() {
    use ravand_engine::definition::{parse_process, Limits, SourceFile};
    let path = std::env::args().nth(1).expect("file");
    let text = std::fs::read_to_string(path).expect("read");
    let limits = Limits::default();
    let src = SourceFile::new("x.yaml", text);
    let t = std::time::Instant::now();
    let def = parse_process(&src, &limits).expect("parses");
    let t_parse = t.elapsed();
    let t = std::time::Instant::now();
    let (p, _) = ravand_engine::model::compile(&def, &Default::default());
    let t_compile = t.elapsed();
    let p = p.expect("compiles");
    let t = std::time::Instant::now();
    let d = ravand_engine::validate::check_flow(&p, &limits);
    let t_flow = t.elapsed();
    println!(
        "parse {t_parse:?} compile {t_compile:?} flow {t_flow:?} ({} diagnostics)",
        d.len()
    );
}
