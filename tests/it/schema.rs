//! The committed JSON Schemas match the Rust types.

use crate::helpers::root;

#[test]
fn committed_schemas_are_fresh() {
    for (file, schema) in [
        (
            "ravand-process.schema.json",
            ravand_engine::definition::process_schema(),
        ),
        (
            "ravand-calendar.schema.json",
            ravand_engine::definition::calendar_schema(),
        ),
        ("ravand-scenario.schema.json", ravand_engine::sim::scenario_schema()),
    ] {
        let path = root().join("definitions/schema").join(file);
        let committed = std::fs::read_to_string(&path).expect("committed schema");
        let fresh = serde_json::to_string_pretty(&schema).expect("serialises") + "\n";
        assert!(committed == fresh, "{} is stale: run `cargo run -p ravand-cli -- schema > definitions/schema/ravand-process.schema.json` (and `schema --calendar`, `schema --scenario` for the others)", path.display());
    }
}

#[test]
fn schema_forbids_unknown_keys_and_lists_step_kinds() {
    let s = ravand_engine::definition::process_schema();
    assert_eq!(s["additionalProperties"], false);
    let text = s.to_string();
    for kind in [
        "start",
        "task",
        "decision",
        "inclusive",
        "inclusive-join",
        "parallel",
        "join",
        "wait",
        "receive",
        "subprocess",
        "end",
        "terminate",
    ] {
        assert!(text.contains(&format!("\"{kind}\"")), "kind {kind} missing");
    }
}
