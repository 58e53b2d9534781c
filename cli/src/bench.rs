//! `ravand bench FILE --instances N`: runs N cases of an automatic model to
//! completion in memory, timed like the peer harnesses in
//! `../shared/peers/engines/`: one parse, one checked calibration case, a
//! warm-up of 200 cases, then N cases one after another, each dropped after.

use std::time::Instant;

use ravand_engine::model::Process;
use ravand_engine::runtime::{self, Data, EventKind, Instance, Status};
use ravand_engine::time::{Timestamp, WorkCalendar};
use serde_json::json;

/// `sqlite` or `postgres`, as the benches' lines name the store of `url`.
fn store_name(url: &str) -> &'static str {
    if url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    }
}

/// An engine on `url` that runs on the system's clock.
async fn open_on_system_clock(url: &str, seed: u64) -> Result<std::sync::Arc<ravand_engine::engine::Engine>, String> {
    ravand_engine::engine::Engine::open(url, std::sync::Arc::new(ravand_engine::time::SystemClock), seed)
        .await
        .map(std::sync::Arc::new)
        .map_err(|e| e.to_string())
}

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
    let backend = store_name(url);
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
    start_many(&engine, "waiter", n, 8).await?;
    let later = Timestamp(1_777_708_800 + 7_200);
    clock.set(later);
    let t = Instant::now();
    let fired = engine.tick(later).await.map_err(|e| e.to_string())?;
    let secs = t.elapsed().as_secs_f64().max(1e-9);
    let backend = store_name(url);
    Ok(format!("# ravand timers store={backend} pending={n} fired={fired} elapsed_s={secs:.3}\npeer=ravand model=timers store={backend} n={fired} timers_per_s={:.1}", fired as f64 / secs))
}

/// Starts `n` cases of `process` without data, `concurrency` at a time.
async fn start_many(
    engine: &std::sync::Arc<ravand_engine::engine::Engine>,
    process: &str,
    n: usize,
    concurrency: usize,
) -> Result<(), String> {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (engine, next, process) = (engine.clone(), next.clone(), process.to_owned());
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                engine
                    .start(&process, Data::new(), None)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        }));
    }
    for w in workers {
        w.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// p50 and p99 of `samples` (seconds), in milliseconds.
fn percentiles(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).copied().unwrap_or(0.0) * 1e3
    };
    (at(0.5), at(0.99))
}

/// The benchmarks' city: `open` cases of the 137 process (half of them
/// classified three days ago, their deadlines passed and reminders fired,
/// half new at their first task) and `finished` cases of a one-step
/// process, on a database; the engine, its clock and the fill's seconds.
async fn fill_city(
    url: &str,
    definitions: &std::path::Path,
    open: usize,
    finished: usize,
) -> Result<
    (
        std::sync::Arc<ravand_engine::engine::Engine>,
        std::sync::Arc<ravand_engine::time::VirtualClock>,
        f64,
    ),
    String,
> {
    use ravand_engine::engine::Engine;
    use std::sync::Arc;
    let err = |e: ravand_engine::engine::EngineError| e.to_string();
    let t0 = Timestamp(1_777_708_800); // a Saturday, 08:00 UTC: a working day in Iran
    let clock = Arc::new(ravand_engine::time::VirtualClock::new(t0));
    let engine = Arc::new(Engine::open(url, clock.clone(), 13).await.map_err(err)?);
    engine
        .add_calendars_from(&definitions.join("calendars"))
        .await
        .map_err(err)?;
    let text = std::fs::read_to_string(definitions.join("complaint-137.yaml")).map_err(|e| e.to_string())?;
    engine.deploy("complaint-137.yaml", &text).await.map_err(err)?;
    let done = "id: done\nversion: 1\ntitle: پایان\nsteps:\n  - {id: start, kind: start}\n  - {id: end, kind: end, outcome: done}\n";
    engine.deploy("done.yaml", done).await.map_err(err)?;
    let categories = [
        "waste",
        "lighting",
        "roads",
        "green_space",
        "traffic",
        "building",
        "other",
    ];
    // `advance`: the first task is done at once, so the case waits at a
    // step with a deadline of hours.
    let fill = |process: &'static str, from: usize, to: usize, advance: bool| {
        let engine = engine.clone();
        async move {
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(from));
            let mut workers = Vec::new();
            for _ in 0..32 {
                let (engine, next) = (engine.clone(), next.clone());
                workers.push(tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= to {
                            return Ok::<(), String>(());
                        }
                        let mut d = Data::new();
                        if process == "complaint-137" {
                            d.insert("category".into(), json!(categories[i % categories.len()]));
                            d.insert("district".into(), json!(i % 22 + 1));
                        }
                        let case = engine
                            .start(process, d.clone(), None)
                            .await
                            .map_err(|e| e.to_string())?
                            .case;
                        if advance {
                            let view = engine.status(case).await.map_err(|e| e.to_string())?;
                            let task = view.tasks.first().ok_or("no first task")?.task;
                            d.insert("partner".into(), json!(false));
                            d.remove("district");
                            engine.complete(case, task, None, d).await.map_err(|e| e.to_string())?;
                            // The SMS gateway texts the tracking code (its
                            // job done as the engine), so the case waits at
                            // classification, with its deadline.
                            let view = engine.status(case).await.map_err(|e| e.to_string())?;
                            let sms = view
                                .tasks
                                .iter()
                                .find(|t| t.step == "send-tracking-code")
                                .ok_or("no SMS job after registration")?
                                .task;
                            engine
                                .complete(case, sms, Some("sms-gateway".into()), Data::new())
                                .await
                                .map_err(|e| e.to_string())?;
                        }
                    }
                }));
            }
            for w in workers {
                w.await.map_err(|e| e.to_string())??;
            }
            Ok::<(), String>(())
        }
    };
    let t = Instant::now();
    fill("done", 0, finished, false).await?;
    fill("complaint-137", 0, open / 2, true).await?;
    let later = Timestamp(t0.0 + 3 * 86_400);
    clock.set(later);
    engine.tick(later).await.map_err(err)?;
    fill("complaint-137", open / 2, open, false).await?;
    let fill_s = t.elapsed().as_secs_f64();
    Ok((engine, clock, fill_s))
}

/// `ravand bench-lists`: `open` cases of the 137 process (half of them
/// classified a few working days ago, their deadlines passed, half new at
/// their first task)
/// and `finished` cases of a one-step process, on a database; then the
/// lists an outside system asks for, each `queries` times, timed one call at
/// a time through the engine (no HTTP): a role's task page, an empty role's,
/// the overdue page, a search by searchable data, a lookup by tracking code,
/// and the whole unpaged worklist.
pub async fn run_lists(
    url: &str,
    definitions: &std::path::Path,
    open: usize,
    finished: usize,
    queries: usize,
) -> Result<String, String> {
    use ravand_engine::engine::{Actor, CaseFilter, TaskFilter};
    let err = |e: ravand_engine::engine::EngineError| e.to_string();
    let (engine, _, fill_s) = fill_city(url, definitions, open, finished).await?;
    let system = Actor::system(None);
    let backend = store_name(url);
    let mut out = vec![format!(
        "# ravand lists store={backend} open={open} finished={finished} queries={queries} fill_s={fill_s:.1}"
    )];
    let code = engine
        .cases_as(&system, &CaseFilter::default(), None, Some(1))
        .await
        .map_err(err)?
        .items
        .first()
        .map(|c| c.tracking_code.clone())
        .unwrap_or_default();
    let role = |r: &str| TaskFilter {
        role: Some(r.to_owned()),
        ..Default::default()
    };
    let overdue = TaskFilter {
        overdue: Some(true),
        ..Default::default()
    };
    let search = CaseFilter {
        data: vec![("category".into(), "roads".into()), ("district".into(), "3".into())],
        ..Default::default()
    };
    let by_code = CaseFilter {
        tracking_code: Some(code),
        ..Default::default()
    };
    for name in [
        "role",
        "empty-role",
        "overdue",
        "search",
        "tracking-code",
        "worklist-unpaged",
    ] {
        let n = if name == "worklist-unpaged" {
            queries.min(5)
        } else {
            queries
        };
        let mut samples = Vec::with_capacity(n);
        let mut items = 0;
        for _ in 0..n.max(1) {
            let t = Instant::now();
            items = match name {
                "role" => engine
                    .tasks_as(&system, &role("operator-137"), None, None)
                    .await
                    .map_err(err)?
                    .items
                    .len(),
                "empty-role" => engine
                    .tasks_as(&system, &role("mayor-office"), None, None)
                    .await
                    .map_err(err)?
                    .items
                    .len(),
                "overdue" => engine
                    .tasks_as(&system, &overdue, None, None)
                    .await
                    .map_err(err)?
                    .items
                    .len(),
                "search" => engine
                    .cases_as(&system, &search, None, None)
                    .await
                    .map_err(err)?
                    .items
                    .len(),
                "tracking-code" => engine
                    .cases_as(&system, &by_code, None, None)
                    .await
                    .map_err(err)?
                    .items
                    .len(),
                _ => engine.open_tasks_as(&system).await.map_err(err)?.len(),
            };
            samples.push(t.elapsed().as_secs_f64());
        }
        let (p50, p99) = percentiles(&mut samples);
        out.push(format!(
            "peer=ravand bench=lists store={backend} open={open} finished={finished} query={name} items={items} p50_ms={p50:.2} p99_ms={p99:.2}"
        ));
    }
    Ok(out.join("\n"))
}

/// `ravand bench-acks`: acknowledged commands per second over HTTP. `n`
/// cases of `review1` (one task for a person) are started through the
/// engine, `clients` at a time (timed too: starts per second); then the
/// service is served on a loopback port and `clients` HTTP clients each
/// complete tasks one request at a time, every request answered only after
/// its commit. Each client and the server share this machine's cores. Then
/// every case is read back: a case that did not complete fails the run.
pub async fn run_acks(file: &std::path::Path, url: &str, n: usize, clients: usize) -> Result<String, String> {
    use ravand_engine::service::{self, Access, ServeLimits, Token};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let err = |e: ravand_engine::engine::EngineError| e.to_string();
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let engine = open_on_system_clock(url, 17).await?;
    let key = engine.deploy(&file.display().to_string(), &text).await.map_err(err)?;
    let clients = clients.max(1);
    // Starts, `clients` at a time, each acknowledged after its commit.
    let next = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
    let t = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (engine, next, started, process) = (engine.clone(), next.clone(), started.clone(), key.process.clone());
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let case = engine
                    .start(&process, Data::new(), None)
                    .await
                    .map_err(|e| e.to_string())?
                    .case;
                started.lock().map_err(|e| e.to_string())?.push(case);
            }
            Ok::<(), String>(())
        }));
    }
    for w in workers {
        w.await.map_err(|e| e.to_string())??;
    }
    let start_s = t.elapsed().as_secs_f64().max(1e-9);
    let cases = std::mem::take(&mut *started.lock().map_err(|e| e.to_string())?);
    let mut work = Vec::with_capacity(cases.len());
    for case in cases {
        let task = engine
            .status(case)
            .await
            .map_err(err)?
            .tasks
            .first()
            .ok_or("a case has no task")?
            .task;
        work.push((case, task));
    }
    // The service on a loopback port.
    let secret = "bench-acks-token";
    let svc = service::Service::new(engine.clone(), vec![Token::for_secret(secret, Access::Admin, "bench")]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(service::serve(
        listener,
        service::router(svc),
        ServeLimits::default(),
        std::future::pending(),
    ));
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let counts = &engine.stats().commits;
    let (units0, commits0) = (counts.units.get(), counts.commits.get());
    let t = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (work, next) = (work.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((case, task)) = work.get(i) else {
                    return Ok::<Vec<f64>, String>(lat);
                };
                let one = Instant::now();
                let r = http
                    .post(format!("http://{addr}/cases/{case}/tasks/{task}/complete"))
                    .bearer_auth(secret)
                    .header("content-type", "application/json")
                    .body(r#"{"outputs":{"ok":true}}"#)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if r.status() != reqwest::StatusCode::NO_CONTENT {
                    let status = r.status();
                    return Err(format!("case {case}: {status}: {}", r.text().await.unwrap_or_default()));
                }
                lat.push(one.elapsed().as_secs_f64());
            }
        }));
    }
    let mut samples = Vec::new();
    for w in workers {
        samples.extend(w.await.map_err(|e| e.to_string())??);
    }
    let ack_s = t.elapsed().as_secs_f64().max(1e-9);
    // Units per shared commit (SQLite; PostgreSQL commits each unit).
    let commits = counts.commits.get() - commits0;
    let per_commit = if commits > 0 {
        format!("{:.1}", (counts.units.get() - units0) as f64 / commits as f64)
    } else {
        "1".to_owned()
    };
    server.abort();
    // Every acknowledged completion is there.
    let done = engine
        .cases()
        .await
        .map_err(err)?
        .iter()
        .filter(|(_, p, s)| p == &key.process && *s == runtime::Status::Completed)
        .count();
    if done != work.len() {
        return Err(format!(
            "{} completions acknowledged, {done} cases completed",
            work.len()
        ));
    }
    let (p50, p99) = percentiles(&mut samples);
    let backend = store_name(url);
    Ok(format!(
        "peer=ravand bench=acks store={backend} clients={clients} n={n} starts_per_s={:.0} http_completions_per_s={:.0} p50_ms={p50:.2} p99_ms={p99:.2} units_per_commit={per_commit}",
        n as f64 / start_s,
        work.len() as f64 / ack_s
    ))
}

/// `ravand bench-jobs`: `n` cases each waiting at a service step whose job
/// is for an outside worker (topic `bench`), then `workers` workers each
/// acquiring up to `batch` jobs with a lease and completing them one by
/// one through the engine, until none is left: jobs acquired and completed
/// per second. Every case must have completed.
pub async fn run_jobs(url: &str, n: usize, workers: usize, batch: usize) -> Result<String, String> {
    use ravand_engine::engine::Actor;
    let err = |e: ravand_engine::engine::EngineError| e.to_string();
    let engine = open_on_system_clock(url, 19).await?;
    let text = "id: jobs\nversion: 1\ntitle: jobs\ndata:\n  - {name: answer, type: integer}\nsteps:\n  - {id: start, kind: start}\n  - {id: ask, title: ask, mode: service, topic: bench, sets: [answer]}\n  - {id: end, kind: end, outcome: done}\n";
    engine.deploy("jobs.yaml", text).await.map_err(err)?;
    start_many(&engine, "jobs", n, 8).await?;
    let t = Instant::now();
    let mut pool = Vec::new();
    for w in 0..workers.max(1) {
        let engine = engine.clone();
        pool.push(tokio::spawn(async move {
            let actor = Actor::system(Some(format!("worker-{w}")));
            let name = format!("worker-{w}");
            let mut done = 0usize;
            loop {
                let jobs = engine
                    .acquire_jobs_as(&actor, "bench", &name, batch, 60)
                    .await
                    .map_err(|e| e.to_string())?;
                if jobs.is_empty() {
                    return Ok::<usize, String>(done);
                }
                for j in jobs {
                    let mut out = Data::new();
                    out.insert("answer".into(), json!(42));
                    engine
                        .complete_job_as(&actor, j.case, j.task, &name, out)
                        .await
                        .map_err(|e| e.to_string())?;
                    done += 1;
                }
            }
        }));
    }
    let mut done = 0;
    for p in pool {
        done += p.await.map_err(|e| e.to_string())??;
    }
    let secs = t.elapsed().as_secs_f64().max(1e-9);
    let completed = engine
        .cases()
        .await
        .map_err(err)?
        .iter()
        .filter(|(_, p, s)| p == "jobs" && *s == runtime::Status::Completed)
        .count();
    if done != n || completed != n {
        return Err(format!(
            "{n} jobs, {done} completed by workers, {completed} cases completed"
        ));
    }
    let backend = store_name(url);
    Ok(format!(
        "peer=ravand bench=jobs store={backend} workers={workers} batch={batch} n={n} jobs_per_s={:.0}",
        n as f64 / secs
    ))
}

/// `ravand bench-pages`: the console's pages at city scale. The database
/// is filled as for `bench-lists`, the service is served on a loopback
/// port, an administrator signs in through the login form, and each page
/// is asked `queries` times (the dashboard of a month and the manager's
/// view a tenth as often, the citizen's page within the public lookup's
/// burst) by one client: p50 and p99 per page, from the
/// request to the last byte of the answer over loopback.
pub async fn run_pages(
    url: &str,
    definitions: &std::path::Path,
    open: usize,
    finished: usize,
    queries: usize,
) -> Result<String, String> {
    use ravand_engine::engine::{Actor, CaseFilter};
    use ravand_engine::service::{self, Access, ServeLimits, Token};
    let err = |e: ravand_engine::engine::EngineError| e.to_string();
    let (engine, _, fill_s) = fill_city(url, definitions, open, finished).await?;
    let system = Actor::system(None);
    let first = engine
        .cases_as(
            &system,
            &CaseFilter {
                process: Some("complaint-137".into()),
                ..Default::default()
            },
            None,
            Some(1),
        )
        .await
        .map_err(err)?;
    let case = first.items.first().ok_or("no open case")?;
    let view = engine.status(case.case).await.map_err(err)?;
    let task = view.tasks.first().ok_or("the case has no open task")?.task;
    let svc = service::Service::new(
        engine.clone(),
        vec![Token::for_secret("bench-secret", Access::Admin, "admin")],
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let base = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
    tokio::spawn(service::serve(
        listener,
        service::router(svc),
        ServeLimits::default(),
        std::future::pending(),
    ));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    // Sign in as a person does: the form, its cookie and secret, the token.
    let form = http
        .get(format!("{base}/ui/login"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let cookie_of = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
    };
    let login = cookie_of(&form, "ravand_login").ok_or("no login cookie")?;
    let body = form.text().await.map_err(|e| e.to_string())?;
    let nonce = body
        .split(r#"name="nonce" value=""#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .ok_or("no nonce on the login form")?
        .to_owned();
    let signed = http
        .post(format!("{base}/ui/login"))
        .header("cookie", login)
        .header("origin", base.clone())
        .form(&[
            ("token", "bench-secret"),
            ("nonce", nonce.as_str()),
            ("next", "/ui/desk"),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let session = cookie_of(&signed, "ravand_session").ok_or("not signed in")?;
    let backend = store_name(url);
    let mut out = vec![format!(
        "# ravand pages store={backend} open={open} finished={finished} queries={queries} fill_s={fill_s:.1}"
    )];
    let pages = [
        ("track", format!("/track/{}", case.tracking_code), false),
        ("desk", "/ui/desk".to_owned(), true),
        ("desk-roles", "/ui/desk?view=roles".to_owned(), true),
        ("task", format!("/ui/cases/{}/tasks/{}", case.case.0, task.0), true),
        ("case", format!("/ui/cases/{}", case.case.0), true),
        ("processes", "/ui/processes".to_owned(), true),
        ("process", "/ui/processes/complaint-137".to_owned(), true),
        (
            "compare",
            "/ui/compare?a=complaint-137@1&b=complaint-137@1".to_owned(),
            true,
        ),
        ("manage", "/ui/manage".to_owned(), true),
        (
            "dashboard-month",
            "/ui/dashboard?process=complaint-137".to_owned(),
            true,
        ),
    ];
    for (name, path, staff) in pages {
        let n = match name {
            "dashboard-month" | "manage" => (queries / 10).max(3),
            // Within the public lookup's burst (the login took one): the
            // rate limit is not what is measured.
            "track" => queries.clamp(1, 15),
            _ => queries.max(1),
        };
        let mut samples = Vec::with_capacity(n);
        let mut bytes = 0;
        for _ in 0..n {
            let mut r = http.get(format!("{base}{path}"));
            if staff {
                r = r.header("cookie", session.clone());
            }
            let t = Instant::now();
            let res = r.send().await.map_err(|e| e.to_string())?;
            let status = res.status();
            let body = res.bytes().await.map_err(|e| e.to_string())?;
            samples.push(t.elapsed().as_secs_f64());
            if !status.is_success() {
                return Err(format!("{path}: {status}"));
            }
            bytes = body.len();
        }
        let (p50, p99) = percentiles(&mut samples);
        out.push(format!(
            "peer=ravand bench=pages store={backend} open={open} finished={finished} page={name} bytes={bytes} p50_ms={p50:.2} p99_ms={p99:.2}"
        ));
    }
    Ok(out.join("\n"))
}

/// `ravand bench-timer-lag`: `pending` cases that wait a year (their
/// timers stay pending all through), then `firing` cases started evenly
/// over `over` seconds, each waiting a minute, while the engine keeps time
/// as `ravand serve` does ([`Engine::keep_time`] on the system clock: a
/// round at each whole second). The lag of the timers that fire, from their
/// due instant to the commit that made the firing durable, is read from the
/// engine's own histogram (`ravand_timer_lag_seconds`, what an operator's
/// board shows): its mean exactly, its p50 and p99 as the histogram's
/// bucket bounds.
///
/// [`Engine::keep_time`]: ravand_engine::engine::Engine::keep_time
pub async fn run_timer_lag(url: &str, pending: usize, firing: usize, over: u64) -> Result<String, String> {
    use std::sync::Arc;
    let err = |e: ravand_engine::engine::EngineError| e.to_string();
    let engine = open_on_system_clock(url, 17).await?;
    let far = "id: far\nversion: 1\ntitle: یک سال\nsteps:\n  - {id: start, kind: start}\n  - {id: w, kind: wait, title: صبر, wait: {duration: 365 days}}\n  - {id: done, kind: end, outcome: done}\n";
    let soon = "id: soon\nversion: 1\ntitle: یک دقیقه\nsteps:\n  - {id: start, kind: start}\n  - {id: w, kind: wait, title: صبر, wait: {duration: 1 minute}}\n  - {id: done, kind: end, outcome: done}\n";
    engine.deploy("far.yaml", far).await.map_err(err)?;
    engine.deploy("soon.yaml", soon).await.map_err(err)?;
    let t = Instant::now();
    start_many(&engine, "far", pending, 32).await?;
    let fill_s = t.elapsed().as_secs_f64();
    let ticker = engine.clone();
    let keeper = tokio::spawn(async move { ticker.keep_time().await });
    // Starts paced evenly over `over` seconds, each on a task of its own so
    // that a slow start does not hold back the schedule.
    let t = Instant::now();
    let gap = over as f64 / firing.max(1) as f64;
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    let mut starts = Vec::with_capacity(firing);
    for i in 0..firing {
        let at = std::time::Duration::from_secs_f64(gap * i as f64);
        if let Some(w) = at.checked_sub(t.elapsed()) {
            tokio::time::sleep(w).await;
        }
        let permit = limit.clone().acquire_owned().await.map_err(|e| e.to_string())?;
        let engine = engine.clone();
        starts.push(tokio::spawn(async move {
            let r = engine.start("soon", Data::new(), None).await.map(|_| ());
            drop(permit);
            r.map_err(|e| e.to_string())
        }));
    }
    for s in starts {
        s.await.map_err(|e| e.to_string())??;
    }
    let deadline = Instant::now() + std::time::Duration::from_secs(60 + 120);
    while (lag_of(&engine, "soon")?.count as usize) < firing && Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let wall_s = t.elapsed().as_secs_f64();
    keeper.abort();
    let Lag { count, sum, buckets } = lag_of(&engine, "soon")?;
    let bound = |q: f64| {
        let want = (q * count as f64).ceil() as u64;
        buckets
            .iter()
            .find(|(_, c)| *c >= want)
            .map_or("beyond the last bucket".to_owned(), |(le, _)| format!("<= {le} s"))
    };
    let backend = store_name(url);
    if (count as usize) < firing {
        return Err(format!(
            "only {count} of {firing} timers fired within two minutes of their due instants ({backend}, {pending} pending)"
        ));
    }
    Ok(format!(
        "# ravand timer lag store={backend} pending={pending} fill_s={fill_s:.1} firing={firing} over_s={over} wall_s={wall_s:.1}\n\
         timer_lag store={backend} pending={pending} fired={count} mean_ms={:.1} p50 {} p99 {}",
        sum / count.max(1) as f64 * 1e3,
        bound(0.5),
        bound(0.99)
    ))
}

/// The timer-lag histogram of one process, as `/metrics` shows it.
struct Lag {
    /// Timers fired.
    count: u64,
    /// Their lags added up, in seconds.
    sum: f64,
    /// Each bucket's upper bound and its cumulative count, in order.
    buckets: Vec<(String, u64)>,
}

/// Reads the timer-lag histogram of `process` from the engine's metrics as
/// they are encoded for `/metrics`.
fn lag_of(engine: &ravand_engine::engine::Engine, process: &str) -> Result<Lag, String> {
    let mut reg = prometheus_client::registry::Registry::default();
    engine.stats().register(&mut reg);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &reg).map_err(|e| e.to_string())?;
    let label = format!("process=\"{process}\"");
    let mut lag = Lag {
        count: 0,
        sum: 0.0,
        buckets: Vec::new(),
    };
    for line in text
        .lines()
        .filter(|l| l.starts_with("ravand_timer_lag_seconds") && l.contains(&label))
    {
        let value = line.rsplit(' ').next().unwrap_or_default();
        let bad = || format!("unreadable metric line `{line}`");
        if line.starts_with("ravand_timer_lag_seconds_bucket{") {
            let le = line
                .split("le=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .ok_or_else(bad)?;
            lag.buckets.push((le.to_owned(), value.parse().map_err(|_| bad())?));
        } else if line.starts_with("ravand_timer_lag_seconds_count{") {
            lag.count = value.parse().map_err(|_| bad())?;
        } else if line.starts_with("ravand_timer_lag_seconds_sum{") {
            lag.sum = value.parse().map_err(|_| bad())?;
        }
    }
    Ok(lag)
}
