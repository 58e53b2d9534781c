//! Prints the generated 10,000-step process that `benches/validate.rs` measures.
//!
//! `cargo run --release --example gen_big > /tmp/big.yaml`

#[path = "../tests/support/large.rs"]
mod large;

fn main() {
    print!("{}", large::large_process(10_000));
}
