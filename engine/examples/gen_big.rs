//! Prints the generated 10,000-step process that `benches/validate.rs` measures.
//!
//! `cargo run --release -p ravand-engine --example gen_big > /tmp/big.yaml`

fn main() {
    print!("{}", ravand_engine::testkit::large_process(10_000));
}
