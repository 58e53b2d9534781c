//! The event log of real cases, as process-mining tools take it: `GET
//! /processes/{id}/log` (XES, CSV, OCEL 2.0) over loopback and `ravand
//! export` from the same database, read back with a maintained
//! process-mining library (`process_mining`) and the `csv` reader, every
//! event compared with the cases' histories as the API gives them (a second
//! reading of the history, written here); the process's Petri net (`ravand
//! render --format pnml`) read by the same library; and, where PM4Py is
//! installed (CI), discovery, token replay on that net and handover of work
//! run on the files by PM4Py itself (`tests/python/mine_log.py`).

use std::collections::{BTreeMap, BTreeSet};

use process_mining::core::event_data::case_centric::{AttributeValue, Attributes};
use ravand_engine::runtime::Command;
use serde_json::Value;

use crate::console::site_on;
use crate::dashboard::{history, midnights, tokens, work, DASH};
use crate::helpers::{ravand, root};

/// An event as compared: transition, activity, resource, instant.
type Ev = (String, String, Option<String>, i64);

fn text(a: &Attributes, key: &str) -> Option<String> {
    a.iter().find(|x| x.key == key).and_then(|x| match &x.value {
        AttributeValue::String(s) => Some(s.clone()),
        AttributeValue::Int(i) => Some(i.to_string()),
        _ => None,
    })
}

fn instant(a: &Attributes) -> i64 {
    match a.iter().find(|x| x.key == "time:timestamp").map(|x| &x.value) {
        Some(AttributeValue::Date(d)) => d.timestamp(),
        other => panic!("no time:timestamp: {other:?}"),
    }
}

/// The events the history says the log holds, by this test's reading: the
/// case's start and end, its tasks' lifecycle, deadlines passed and rungs.
fn expected(history: &[Value], from: i64, to: i64) -> Vec<Ev> {
    let titles: BTreeMap<u64, &str> = BTreeMap::from([(1, "پذیرش"), (2, "بازرسی")]);
    let mut tasks: BTreeMap<u64, &str> = BTreeMap::new();
    let mut out = Vec::new();
    for e in history {
        let at = e["at"].as_i64().expect("at");
        if e["type"] == "task-created" {
            let step = e["step"].as_u64().expect("step");
            tasks.insert(e["task"].as_u64().expect("task"), titles[&step]);
        }
        let of = |k: &str| {
            e[k].as_u64()
                .and_then(|t| tasks.get(&t).copied())
                .unwrap_or("?")
                .to_owned()
        };
        let who = |k: &str| e[k].as_str().map(str::to_owned);
        let row = match e["type"].as_str().expect("type") {
            "started" => Some(("complete", "آغاز پرونده".to_owned(), who("by"))),
            "task-created" => Some(("schedule", of("task"), None)),
            "task-claimed" => Some(("assign", of("task"), who("user"))),
            "task-completed" => Some(("complete", of("task"), who("by"))),
            "task-cancelled" => Some(("withdraw", of("task"), None)),
            "task-overdue" => Some(("complete", format!("مهلت گذشت: {}", of("task")), None)),
            "escalated" => {
                let word = match e["action"].as_str().expect("action") {
                    "remind" => "تذکر",
                    "warn" => "اخطار",
                    "notify" => "اطلاع",
                    other => panic!("a rung DASH does not have: {other}"),
                };
                let t = e["scope"]["task"]
                    .as_u64()
                    .and_then(|t| tasks.get(&t).copied())
                    .expect("a task's rung");
                Some(("complete", format!("{word}: {t}"), None))
            }
            "completed" => Some(("complete", "پایان پرونده".to_owned(), None)),
            "cancelled" => Some(("pi_abort", "لغو پرونده".to_owned(), who("by"))),
            "suspended" => Some(("suspend", "تعلیق پرونده".to_owned(), who("by"))),
            "resumed" => Some(("resume", "ادامهٔ پرونده".to_owned(), who("by"))),
            _ => None,
        };
        if let Some((t, a, r)) = row {
            if at >= from && at < to {
                // What no person did, the engine did.
                out.push((t.to_owned(), a, Some(r.unwrap_or_else(|| "ravand".into())), at));
            }
        }
    }
    out
}

async fn get(s: &crate::console::Site, path: &str, token: &str) -> (u16, String, String) {
    let r = s
        .http
        .get(format!("{}{path}", s.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("answer");
    let st = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (st, ct, r.text().await.expect("body"))
}

on_both_urls!("eventlog"; the_exported_log_says_what_the_histories_say);

async fn the_exported_log_says_what_the_histories_say(url: &str) {
    let seed: u64 = std::env::var("RAVAND_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1405);
    println!("seed {seed} (set RAVAND_SEED to run another)");
    let s = site_on(url, tokens()).await;
    s.engine.deploy("dash-test.yaml", DASH).await.expect("deploys");
    let mut cases = work(&s, seed).await;
    cases.sort();
    // One case suspended and resumed, one cancelled: their own events.
    let open: Vec<_> = {
        let mut v = Vec::new();
        for &c in &cases {
            if s.engine.status(c).await.expect("status").status == ravand_engine::runtime::Status::Running {
                v.push(c);
            }
        }
        v
    };
    assert!(open.len() >= 2, "seed {seed}: too few open cases to cancel one");
    s.engine
        .command(
            open[0],
            Command::Suspend {
                by: Some("admin".into()),
            },
        )
        .await
        .expect("suspends");
    s.engine
        .command(
            open[0],
            Command::Resume {
                by: Some("admin".into()),
            },
        )
        .await
        .expect("resumes");
    s.engine
        .command(
            open[1],
            Command::Cancel {
                by: Some("admin".into()),
                reason: Some("withdrawn".into()),
            },
        )
        .await
        .expect("cancels");

    // The cases as the API lists them: tracking code and status.
    let (st, _, body) = get(&s, "/cases?process=dash-test&limit=500", "auditor-secret").await;
    assert_eq!(st, 200, "{body}");
    let listed: Value = serde_json::from_str(&body).expect("json");
    let listed: BTreeMap<String, (String, String)> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| {
            (
                c["case"].to_string(),
                (
                    c["tracking_code"].as_str().expect("code").to_owned(),
                    c["status"].as_str().expect("status").to_owned(),
                ),
            )
        })
        .collect();
    assert_eq!(listed.len(), cases.len());

    // The whole log, XES, read by the process_mining crate.
    let (st, ct, xes) = get(&s, "/processes/dash-test/log", "auditor-secret").await;
    assert_eq!((st, ct.as_str()), (200, "application/xml"), "{xes}");
    let log = process_mining::core::event_data::case_centric::xes::import_xes_slice(
        xes.as_bytes(),
        false,
        Default::default(),
    )
    .expect("the XES reads back");
    assert_eq!(text(&log.attributes, "concept:name").as_deref(), Some("dash-test"));
    assert_eq!(log.traces.len(), cases.len(), "every case a trace");
    let mut resources = BTreeSet::new();
    let mut all: Vec<(String, Ev)> = Vec::new();
    for (t, &c) in log.traces.iter().zip(&cases) {
        let id = text(&t.attributes, "concept:name").expect("a case id");
        assert_eq!(id, c.to_string(), "traces in case order");
        let (code, status) = &listed[&id];
        assert_eq!(text(&t.attributes, "tracking_code").as_ref(), Some(code));
        assert_eq!(text(&t.attributes, "status").as_ref(), Some(status), "case {id}");
        assert_eq!(text(&t.attributes, "version").as_deref(), Some("1"));
        let h = history(&s, c).await;
        let district = h[0]["data"]["district"].as_str().map(str::to_owned);
        assert_eq!(
            text(&t.attributes, "district"),
            district,
            "case {id}: its searchable data"
        );
        let got: Vec<Ev> = t
            .events
            .iter()
            .map(|e| {
                (
                    text(&e.attributes, "lifecycle:transition").expect("transition"),
                    text(&e.attributes, "concept:name").expect("activity"),
                    text(&e.attributes, "org:resource"),
                    instant(&e.attributes),
                )
            })
            .collect();
        assert_eq!(got, expected(&h, i64::MIN, i64::MAX), "case {id}");
        for e in &t.events {
            if let Some(r) = text(&e.attributes, "org:resource") {
                resources.insert(r);
            }
            if text(&e.attributes, "ravand:event").is_some_and(|k| k.starts_with("task-")) {
                let role = text(&e.attributes, "org:role").expect("a task's role");
                let unit = if role == "clerk" {
                    "واحد پذیرش"
                } else {
                    "واحد بازرسی"
                };
                assert_eq!(text(&e.attributes, "org:group").as_deref(), Some(unit));
            }
        }
        all.extend(got.into_iter().map(|e| (id.clone(), e)));
    }
    assert!(all.iter().any(|(_, e)| e.0 == "pi_abort") && all.iter().any(|(_, e)| e.0 == "suspend"));
    assert!(
        all.iter().any(|(_, e)| e.1.starts_with("اطلاع: ")),
        "seed {seed}: a notice rung"
    );
    assert!(
        resources.contains("c-1") && resources.contains("admin"),
        "{resources:?}"
    );

    // The same events as CSV, the same case ids.
    let (st, ct, csv_text) = get(&s, "/processes/dash-test/log?format=csv", "auditor-secret").await;
    assert_eq!((st, ct.as_str()), (200, "text/csv; charset=utf-8"));
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let head: Vec<String> = r.headers().expect("head").iter().map(str::to_owned).collect();
    let col = |n: &str| {
        head.iter()
            .position(|h| h == n)
            .unwrap_or_else(|| panic!("no column {n}: {head:?}"))
    };
    let (case, act, ts, tr, res) = (
        col("case:concept:name"),
        col("concept:name"),
        col("time:timestamp"),
        col("lifecycle:transition"),
        col("org:resource"),
    );
    let rows: Vec<(String, Ev)> = r
        .records()
        .map(|x| {
            let x = x.expect("a row");
            let at = chrono::DateTime::parse_from_rfc3339(&x[ts])
                .expect("RFC 3339")
                .timestamp();
            let res = Some(x[res].to_owned()).filter(|s| !s.is_empty());
            (x[case].to_owned(), (x[tr].to_owned(), x[act].to_owned(), res, at))
        })
        .collect();
    assert_eq!(rows, all);
    assert!(head.contains(&"case:district".to_owned()) && head.contains(&"case:tracking_code".to_owned()));

    // OCEL 2.0: cases, tasks and people as objects.
    let (st, ct, ocel) = get(&s, "/processes/dash-test/log?format=ocel", "auditor-secret").await;
    assert_eq!((st, ct.as_str()), (200, "application/json"));
    let o = process_mining::core::event_data::object_centric::ocel_json::import_ocel_json_slice(ocel.as_bytes())
        .expect("the OCEL reads back");
    assert_eq!(o.events.len(), all.len());
    let people: BTreeSet<String> = o
        .objects
        .iter()
        .filter(|x| x.object_type == "person")
        .map(|x| x.id.trim_start_matches("person:").to_owned())
        .collect();
    assert_eq!(people, resources);
    assert_eq!(
        o.objects.iter().filter(|x| x.object_type == "case").count(),
        cases.len()
    );
    for e in &o.events {
        assert!(e
            .relationships
            .iter()
            .any(|r| r.qualifier == "case" && r.object_id.starts_with("case:")));
    }

    // A period: the cases open in it, only the events in it; the same from
    // `ravand export` on the database (days, the last one included).
    let midnight = midnights(&s).await;
    let (from, to) = (midnight("2026-05-03"), midnight("2026-05-04"));
    let (st, _, part) = get(
        &s,
        &format!("/processes/dash-test/log?format=csv&from={from}&to={to}"),
        "auditor-secret",
    )
    .await;
    assert_eq!(st, 200, "{part}");
    let mut want = Vec::new();
    for &c in &cases {
        let h = history(&s, c).await;
        want.extend(expected(&h, from, to).into_iter().map(|e| (c.to_string(), e)));
    }
    let mut r = csv::Reader::from_reader(part.as_bytes());
    let got: Vec<(String, i64)> = r
        .records()
        .map(|x| {
            let x = x.expect("row");
            let at = chrono::DateTime::parse_from_rfc3339(&x[ts]).expect("time").timestamp();
            (x[case].to_owned(), at)
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want.iter().map(|(c, e)| (c.clone(), e.3)).collect::<Vec<_>>());
    let dir = std::env::temp_dir().join(format!("ravand-eventlog-{}-{}", std::process::id(), url.len()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("part.csv");
    let out = std::process::Command::new(ravand())
        .args([
            "export",
            "--db",
            url,
            "--process",
            "dash-test",
            "--from",
            "2026-05-03",
            "--to",
            "2026-05-03",
        ])
        .args(["--format", "csv", "-o"])
        .arg(&file)
        .output()
        .expect("ravand export runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&file).expect("written"), part);

    // Refusals: a 4xx with a JSON body.
    for (path, token, status) in [
        ("/processes/dash-test/log", "clerk-secret", 403),
        ("/processes/nothing-here/log", "auditor-secret", 404),
        ("/processes/dash-test/log?format=pdf", "auditor-secret", 400),
        ("/processes/dash-test/log?from=-10", "auditor-secret", 400),
        ("/processes/dash-test/log?since=5", "auditor-secret", 400),
    ] {
        let (st, _, body) = get(&s, path, token).await;
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: not JSON: {body}"));
        assert_eq!((st, v["error"].is_string()), (status, true), "{path}: {body}");
    }

    // A period that ends before it starts is empty.
    let (st, _, empty) = get(&s, "/processes/dash-test/log?format=csv&from=10&to=5", "auditor-secret").await;
    assert_eq!((st, empty.lines().count()), (200, 1), "{empty}");

    // The net of the definition, read back; then PM4Py, where it is.
    let def = dir.join("dash-test.yaml");
    std::fs::write(&def, DASH).expect("write");
    let out = std::process::Command::new(ravand())
        .args(["render", "--format", "pnml"])
        .arg(&def)
        .output()
        .expect("ravand render runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pnml = String::from_utf8(out.stdout).expect("UTF-8");
    let net = process_mining::core::process_models::case_centric::petri_net::pnml::import_pnml_reader(
        &mut std::io::BufReader::new(pnml.as_bytes()),
    )
    .expect("the PNML reads back");
    let mut labels: Vec<String> = net.transitions.values().filter_map(|t| t.label.clone()).collect();
    labels.sort();
    assert_eq!(labels, ["inspect", "receive"]);
    std::fs::write(dir.join("log.xes"), &xes).expect("write");
    std::fs::write(dir.join("log.csv"), &csv_text).expect("write");
    std::fs::write(dir.join("log.ocel.json"), &ocel).expect("write");
    std::fs::write(dir.join("net.pnml"), &pnml).expect("write");
    pm4py(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `tests/python/mine_log.py` on the files in `dir` with the Python
/// that `RAVAND_PM4PY` names (CI installs PM4Py there); says it skipped
/// when there is none, and fails then under `RAVAND_REQUIRE_PM4PY=1`.
fn pm4py(dir: &std::path::Path) {
    let Some(python) = std::env::var_os("RAVAND_PM4PY") else {
        assert!(
            std::env::var("RAVAND_REQUIRE_PM4PY").as_deref() != Ok("1"),
            "RAVAND_REQUIRE_PM4PY=1 but RAVAND_PM4PY names no Python with PM4Py"
        );
        println!("skipped PM4Py: set RAVAND_PM4PY to a Python that has it");
        return;
    };
    let out = std::process::Command::new(python)
        .arg(root().join("tests/python/mine_log.py"))
        .arg(dir)
        .output()
        .expect("python runs");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "PM4Py: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The README's `ravand export` and `ravand render --format pnml` lines, as
/// written, run in a folder whose `ravand.db` holds three complaints of
/// Farvardin 1404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_export_commands_work_as_written() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let lines: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("$ "))
        .filter(|l| l.starts_with("ravand export ") || l.starts_with("ravand render --format pnml"))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let dir = std::env::temp_dir().join(format!("ravand-readme-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::os::unix::fs::symlink(root().join("definitions"), dir.join("definitions")).expect("link");
    let at = chrono::NaiveDate::from_ymd_opt(2025, 4, 10)
        .and_then(|d| d.and_hms_opt(6, 30, 0))
        .expect("a day")
        .and_utc()
        .timestamp();
    let clock = std::sync::Arc::new(ravand_engine::time::VirtualClock::new(ravand_engine::time::Timestamp(
        at,
    )));
    let url = format!("sqlite://{}", dir.join("ravand.db").display());
    let engine = ravand_engine::Engine::open(&url, clock.clone(), 3)
        .await
        .expect("opens");
    engine
        .add_calendars_from(&root().join("definitions/calendars"))
        .await
        .expect("calendars");
    let text = std::fs::read_to_string(root().join("definitions/complaint-137.yaml")).expect("definition");
    engine.deploy("complaint-137.yaml", &text).await.expect("deploys");
    for _ in 0..3 {
        let mut d = ravand_engine::runtime::Data::new();
        d.insert("category".into(), serde_json::json!("roads"));
        engine.start("complaint-137", d, None).await.expect("starts");
        clock.advance(3600);
    }
    drop(engine);
    let bin = ravand().parent().expect("the binary's folder").to_owned();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    for l in &lines {
        let out = std::process::Command::new("sh")
            .args(["-c", l])
            .env("PATH", &path)
            .current_dir(&dir)
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{l}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let xes = std::fs::read(dir.join("complaints.xes")).expect("the export wrote its file");
    let log = process_mining::core::event_data::case_centric::xes::import_xes_slice(&xes, false, Default::default())
        .expect("the XES reads back");
    assert_eq!(log.traces.len(), 3);
    let pnml = std::fs::read(dir.join("complaint-137.pnml")).expect("the net");
    let net = process_mining::core::process_models::case_centric::petri_net::pnml::import_pnml_reader(
        &mut std::io::BufReader::new(pnml.as_slice()),
    )
    .expect("the PNML reads back");
    assert!(net.transitions.values().any(|t| t.label.is_some()));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ravand simulate --csv --xes --ocel`: the three files of one simulated
/// log name the same cases and events, read back by the maintained readers
/// (CSV by `csv`, XES and OCEL 2.0 by `process_mining`), and the OCEL's
/// people are the XES's resources.
#[test]
fn the_simulator_writes_one_log_as_csv_xes_and_ocel() {
    let dir = std::env::temp_dir().join(format!("ravand-simlog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (csv_path, xes_path, ocel_path) = (dir.join("sim.csv"), dir.join("sim.xes"), dir.join("sim.ocel.json"));
    let out = std::process::Command::new(ravand())
        .current_dir(root())
        .args([
            "simulate",
            "definitions/complaint-137.yaml",
            "--cases",
            "40",
            "--seed",
            "5",
        ])
        .arg("--csv")
        .arg(&csv_path)
        .arg("--xes")
        .arg(&xes_path)
        .arg("--ocel")
        .arg(&ocel_path)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let xes = std::fs::read(&xes_path).expect("the XES");
    let log = process_mining::core::event_data::case_centric::xes::import_xes_slice(&xes, false, Default::default())
        .expect("the XES reads back");
    let xes_cases: BTreeSet<String> = log
        .traces
        .iter()
        .map(|t| text(&t.attributes, "concept:name").expect("a case id"))
        .collect();
    let xes_events: usize = log.traces.iter().map(|t| t.events.len()).sum();
    let resources: BTreeSet<String> = log
        .traces
        .iter()
        .flat_map(|t| t.events.iter().filter_map(|e| text(&e.attributes, "org:resource")))
        .collect();
    assert!(
        xes_cases.len() >= 40 && xes_events > xes_cases.len(),
        "{} cases",
        xes_cases.len()
    );

    let mut r = csv::Reader::from_path(&csv_path).expect("the CSV");
    let col = r
        .headers()
        .expect("a header")
        .iter()
        .position(|h| h == "case:concept:name")
        .expect("the case column");
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.expect("a row")).collect();
    let csv_cases: BTreeSet<String> = rows.iter().map(|x| x[col].to_owned()).collect();
    assert_eq!(csv_cases, xes_cases, "the same case ids");
    assert_eq!(rows.len(), xes_events, "the same events");

    let ocel = std::fs::read(&ocel_path).expect("the OCEL");
    let o = process_mining::core::event_data::object_centric::ocel_json::import_ocel_json_slice(&ocel)
        .expect("the OCEL reads back");
    let of = |kind: &str, prefix: &str| -> BTreeSet<String> {
        o.objects
            .iter()
            .filter(|x| x.object_type == kind)
            .map(|x| x.id.trim_start_matches(prefix).to_owned())
            .collect()
    };
    assert_eq!(of("case", "case:"), xes_cases);
    assert_eq!(of("person", "person:"), resources, "a person for every resource");
    assert_eq!(o.events.len(), xes_events);
    let _ = std::fs::remove_dir_all(&dir);
}
