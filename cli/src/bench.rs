//! `ravand bench FILE --instances N`: runs N cases of an automatic model to
//! completion in memory, timed like the peer harnesses in
//! `../shared/peers/engines/`: one parse, one checked calibration case, a
//! warm-up of 200 cases, then N cases one after another, each dropped after.

use std::time::Instant;

use ravand_engine::model::Process;
use ravand_engine::runtime::{self, Data, EventKind, Instance, Status};
use ravand_engine::time::{Timestamp, WorkCalendar};
use serde_json::json;

/// The data a case of `model` starts with (`route` rotates for `xor`).
fn input(p: &Process, i: usize) -> Data {
    let mut d = Data::new();
    if p.variable("route").is_some() {
        d.insert("route".into(), json!(["a", "b", "c"][i % 3]));
    }
    d
}

/// Runs one case; returns it and how many nodes it ran (starts, tasks,
/// gateways and ends, as the peers count).
fn one(
    p: &Process,
    cal: &WorkCalendar,
    i: usize,
    events: &mut Vec<runtime::Event>,
) -> Result<(Instance, usize), String> {
    events.clear();
    let st = runtime::start(p, cal, input(p, i), None, Timestamp(0), events).map_err(|e| e.to_string())?;
    if st.status != Status::Completed {
        return Err(format!(
            "case {i} did not complete by itself: is every task automatic? ({:?})",
            st.status
        ));
    }
    let nodes = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::StepCompleted { .. } | EventKind::Decided { .. } | EventKind::Completed { .. }
            )
        })
        .count();
    Ok((st, nodes))
}

pub fn run(p: &Process, n: usize) -> Result<String, String> {
    let cal = WorkCalendar::always();
    let mut events = Vec::with_capacity(64);
    // Calibration: the case computes what the model says.
    let (st, nodes) = one(p, &cal, 0, &mut events)?;
    if let Some(v) = st.data.get("v10") {
        if v != &json!(10) {
            return Err(format!("calibration: v10 = {v}, expected 10"));
        }
    }
    if let Some(v) = st.data.get("b4_2") {
        if v != &json!(40) {
            return Err(format!("calibration: b4_2 = {v}, expected 40"));
        }
    }
    if p.variable("route").is_some() && st.outcome.as_deref() != Some("a") {
        return Err(format!("calibration: route a ended at {:?}", st.outcome));
    }
    for i in 0..200 {
        one(p, &cal, i, &mut events)?;
    }
    let t = Instant::now();
    let mut total_nodes = 0;
    let mut total_events = 0;
    for i in 0..n {
        let (_, nodes) = one(p, &cal, i, &mut events)?;
        total_nodes += nodes;
        total_events += events.len();
    }
    let secs = t.elapsed().as_secs_f64().max(1e-9);
    let inst = n as f64 / secs;
    Ok(format!(
        "# ravand model={} nodes_per_inst={nodes} events_per_inst={:.1} elapsed_s={secs:.3} us_per_inst={:.2}\npeer=ravand model={} n={n} inst_per_s={inst:.1} steps_per_s={:.1}",
        p.id,
        total_events as f64 / n.max(1) as f64,
        secs * 1e6 / n.max(1) as f64,
        p.id,
        total_nodes as f64 / secs
    ))
}

/// Runs N cases through the engine on a database, `concurrency` at a time;
/// each start is acknowledged only after its transaction committed.
pub async fn run_durable(file: &std::path::Path, url: &str, n: usize, concurrency: usize) -> Result<String, String> {
    use std::sync::Arc;
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let engine = Arc::new(
        ravand_engine::engine::Engine::open(url, Arc::new(ravand_engine::time::SystemClock), 3)
            .await
            .map_err(|e| e.to_string())?,
    );
    let key = engine
        .deploy(&file.display().to_string(), &text)
        .await
        .map_err(|e| e.to_string())?;
    let p = engine
        .process(&key.process)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("deployed process missing")?;
    // One calibration case, and how many nodes a case runs.
    let cal = WorkCalendar::always();
    let mut events = Vec::new();
    let (_, nodes) = one(&p, &cal, 0, &mut events)?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (engine, next, p, process) = (engine.clone(), next.clone(), p.clone(), key.process.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return Ok::<(), String>(());
                }
                engine
                    .start(&process, input(&p, i), None)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }));
    }
    for w in workers {
        w.await.map_err(|e| e.to_string())??;
    }
    let secs = t.elapsed().as_secs_f64().max(1e-9);
    let backend = if url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    Ok(format!(
        "# ravand model={} store={backend} concurrency={concurrency} nodes_per_inst={nodes} elapsed_s={secs:.3} us_per_inst={:.1}\npeer=ravand model={} store={backend} n={n} inst_per_s={:.1} steps_per_s={:.1}",
        key.process,
        secs * 1e6 / n.max(1) as f64,
        key.process,
        n as f64 / secs,
        (n * nodes) as f64 / secs
    ))
}

/// Starts `n` cases that each wait one hour, then fires all their timers
/// with one `tick`, timing the firing alone.
pub async fn run_timers(url: &str, n: usize) -> Result<String, String> {
    use std::sync::Arc;
    let clock = Arc::new(ravand_engine::time::VirtualClock::new(Timestamp(1_777_708_800)));
    let engine = Arc::new(
        ravand_engine::engine::Engine::open(url, clock.clone(), 5)
            .await
            .map_err(|e| e.to_string())?,
    );
    let text = "id: waiter\nversion: 1\ntitle: انتظار\nsteps:\n  - {id: start, kind: start}\n  - {id: w, kind: wait, title: صبر, wait: {duration: 1 hours}}\n  - {id: done, kind: end, outcome: done}\n";
    engine.deploy("waiter.yaml", text).await.map_err(|e| e.to_string())?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (engine, next) = (engine.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                engine
                    .start("waiter", Data::new(), None)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        }));
    }
    for w in workers {
        w.await.map_err(|e| e.to_string())??;
    }
    let later = Timestamp(1_777_708_800 + 7_200);
    clock.set(later);
    let t = Instant::now();
    let fired = engine.tick(later).await.map_err(|e| e.to_string())?;
    let secs = t.elapsed().as_secs_f64().max(1e-9);
    let backend = if url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    Ok(format!("# ravand timers store={backend} pending={n} fired={fired} elapsed_s={secs:.3}\npeer=ravand model=timers store={backend} n={fired} timers_per_s={:.1}", fired as f64 / secs))
}
