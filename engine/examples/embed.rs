//! An embedder's view: start an engine, register the municipal calendar,
//! deploy a definition, start a case, work its tasks, let time pass, and
//! read where the case stands and its history.
//!
//! `cargo run -p ravand-engine --example embed`

use std::sync::Arc;

use ravand_engine::engine::Engine;
use ravand_engine::runtime::Data;
use ravand_engine::time::{Clock, VirtualClock};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // A virtual clock for the example; a service uses `SystemClock`.
    let clock = Arc::new(VirtualClock::default());
    let engine = Engine::in_memory(clock.clone(), 42).await?;
    engine.add_calendars_from(&root.join("definitions/calendars")).await?;
    let text = std::fs::read_to_string(root.join("definitions/complaint-137.yaml"))?;
    let key = engine.deploy("complaint-137.yaml", &text).await?;
    println!("deployed {} v{} ({})", key.process, key.version, &key.hash[..12]);

    // Saturday 2 May 2026, 08:00 in Isfahan.
    let cal = ravand_engine::time::WorkCalendar::always();
    clock.set(cal.parse_local("2026-05-02T04:30")?); // 08:00 Asia/Tehran
    let data: Data = serde_json::from_value(json!({"category": "lighting"}))?;
    let case = engine.start("complaint-137", data, Some("operator-12".into())).await?;
    println!("case {} started; tracking code {}", case.case, case.tracking_code);

    // The operator registers it; the classifier classifies it.
    for (step, outputs) in [
        ("register-request", json!({"category": "lighting"})),
        ("classify", json!({"feasible": true, "needs_details": false})),
    ] {
        let view = engine.status(case.case).await?;
        let task = view.tasks.iter().find(|t| t.step == step).ok_or("task not open")?;
        engine
            .complete(
                case.case,
                task.task,
                Some("clerk".into()),
                serde_json::from_value(outputs)?,
            )
            .await?;
    }

    // Four days pass: the due timers fire.
    let later = clock.advance(4 * 86_400);
    let fired = engine.tick(later).await?;
    let view = engine.status(case.case).await?;
    println!("{fired} timers fired; stage: {:?}", view.stage);
    for t in &view.tasks {
        println!(
            "open: {} for {:?}, due {}, overdue: {}",
            t.step,
            t.role,
            t.due.as_deref().unwrap_or("-"),
            t.overdue
        );
    }
    println!("history:");
    for line in engine.history_lines(case.case).await? {
        println!("  {line}");
    }
    let _ = clock.now();
    Ok(())
}
