fn main() {
    use ravand_engine::validate::statespace::*;
    let path = std::env::args().nth(1).unwrap();
    let reports = ravand_engine::validate::validate_paths(&[path.into()], &Default::default());
    let p = reports[0].process.as_ref().unwrap();
    for loops in [Loops::Free, Loops::AtMostOnce] {
        let t = std::time::Instant::now();
        let g = explore(p, loops, 1_000_000);
        println!(
            "{loops:?}: {} states {} moves {:?}",
            g.states.len(),
            g.moves.len(),
            t.elapsed()
        );
    }
}
