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

/// `definitions/LANGUAGE.md` names every key of the process schema, every
/// step kind, escalation action, tag, task mode, value class and type.
#[test]
fn the_language_reference_mentions_every_key_of_the_schema() {
    let doc = std::fs::read_to_string(root().join("definitions/LANGUAGE.md")).expect("LANGUAGE.md");
    let schema = ravand_engine::definition::process_schema();
    let mut words = std::collections::BTreeSet::new();
    fn walk(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::Object(p)) = m.get("properties") {
                    out.extend(p.keys().cloned());
                }
                for key in ["enum", "const"] {
                    match m.get(key) {
                        Some(serde_json::Value::Array(a)) => {
                            out.extend(a.iter().filter_map(|x| x.as_str().map(str::to_owned)))
                        }
                        Some(serde_json::Value::String(s)) => {
                            out.insert(s.clone());
                        }
                        _ => {}
                    }
                }
                m.values().for_each(|x| walk(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&schema, &mut words);
    assert!(words.len() > 60, "{words:?}");
    let missing: Vec<&String> = words
        .iter()
        .filter(|w| !doc.contains(&format!("`{w}`")) && !doc.contains(&format!("{w}:")))
        .collect();
    assert!(missing.is_empty(), "LANGUAGE.md does not mention {missing:?}");
}
