//! The README's HTTP walk-through, run as a script against a real `ravand
//! serve` started as set-up command 1 starts it (on a fresh database).

use std::process::Command;

use crate::helpers::root;
use crate::nodes::Node;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walk_through_runs_against_a_real_server() {
    let dir = std::env::temp_dir().join(format!("ravand-walkthrough-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let db = format!("sqlite://{}", dir.join("ravand.db").display());
    let node = Node::start(
        &db,
        &root().join("tokens.example.yaml"),
        &[
            "--deploy",
            "definitions/building-permit-reformed.yaml",
            "--deploy",
            "definitions/article5-commission.yaml",
            "--deploy",
            "definitions/complaint-137.yaml",
        ],
        dir.join("serve.log"),
    )
    .await;
    let out = Command::new("bash")
        .arg(root().join("tests/walkthrough/permit.sh"))
        .env("B", &node.base)
        .output()
        .expect("bash runs the script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for expected in [
        "\"step\":\"apply-online\"",
        "{\"case\":1}",
        "\"status\":\"running\"",
        "case started by permit-desk-3",
        "message `registry-reply` received from permit-desk-3",
        "\"step\":\"issue-tracking-code\"",
        "completed by sms-gateway",
        "data set: {\"has_violation_record\":false}",
        "data set: {\"deed_valid\":true}",
    ] {
        assert!(text.contains(expected), "`{expected}` is not in:\n{text}");
    }
    // Every refusal would have printed an error body: none did.
    assert!(!text.contains("\"error\""), "{text}");
    std::fs::write(dir.join("walkthrough.txt"), text.as_bytes()).expect("keep the output");
}
