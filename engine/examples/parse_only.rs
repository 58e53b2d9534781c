//! Parses a file 10 times (a profiling aid).
fn main() {
    let text = std::fs::read_to_string(std::env::args().nth(1).expect("file")).expect("read");
    for _ in 0..10 {
        let _: serde::de::IgnoredAny = serde_saphyr::from_str(&text).expect("ok");
    }
}
