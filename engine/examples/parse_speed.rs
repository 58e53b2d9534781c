//! Measures raw YAML parsing speed under different options (a profiling aid).
fn main() {
    let text = std::fs::read_to_string(std::env::args().nth(1).expect("file")).expect("read");
    let time = |name: &str, f: &dyn Fn()| {
        let t = std::time::Instant::now();
        for _ in 0..5 {
            f();
        }
        println!("{name}: {:?}", t.elapsed() / 5);
    };
    time("ignored, default options", &|| {
        let _: serde::de::IgnoredAny = serde_saphyr::from_str(&text).expect("ok");
    });
    time("ignored, no budget", &|| {
        let mut o = serde_saphyr::Options::default();
        o.budget = None;
        let _: serde::de::IgnoredAny = serde_saphyr::from_str_with_options(&text, o).expect("ok");
    });
    time("typed, no budget", &|| {
        let mut o = serde_saphyr::Options::default();
        o.budget = None;
        let _: ravand_engine::definition::ProcessDef = serde_saphyr::from_str_with_options(&text, o).expect("ok");
    });
    time("json value", &|| {
        let mut o = serde_saphyr::Options::default();
        o.budget = None;
        let _: serde_json::Value = serde_saphyr::from_str_with_options(&text, o).expect("ok");
    });
}
