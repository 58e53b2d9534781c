//! Event logs in the formats process-mining tools read: XES (IEEE 1849),
//! CSV with the XES keys as its columns, and OCEL 2.0 (JSON).
//!
//! One shape for every writer: a [`Log`] of [`Trace`]s (a case each, with
//! its attributes), each of [`Entry`]s in history order. The engine fills it
//! from stored cases (`ravand export`) and the simulator from simulated
//! ones, so PM4Py, ProM and Disco read both the same way: `concept:name` the
//! step's title, `lifecycle:transition` from the standard model,
//! `org:resource` the person, `org:role` the role, `org:group` its unit.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::time::Timestamp;

/// The `org:resource` of what no person did: the engine itself (a task put
/// on a list, a deadline passed, a rung fired, a timer).
pub const ENGINE_RESOURCE: &str = "ravand";

/// A transition of the XES standard lifecycle model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// The work was put on someone's list.
    Schedule,
    /// Someone took it, or was given it.
    Assign,
    /// It moved to another list.
    Reassign,
    /// Work on it began.
    Start,
    /// It was done (also: something that happens at an instant).
    Complete,
    /// It was taken away before it was started.
    Withdraw,
    /// The case was paused.
    Suspend,
    /// The case went on.
    Resume,
    /// The case was stopped from outside (cancelled).
    PiAbort,
}

impl Transition {
    /// Its name in the standard model, as XES writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Assign => "assign",
            Self::Reassign => "reassign",
            Self::Start => "start",
            Self::Complete => "complete",
            Self::Withdraw => "withdraw",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::PiAbort => "pi_abort",
        }
    }
}

/// A case attribute's value, typed as XES and OCEL type it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Yes or no.
    Bool(bool),
}

impl Value {
    /// From case data: numbers, booleans and text as themselves, anything
    /// else (lists, maps) as its JSON text; `None` for null.
    pub fn from_json(v: &serde_json::Value) -> Option<Value> {
        Some(match v {
            serde_json::Value::Null => return None,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or_default()),
            },
            serde_json::Value::String(s) => Value::Text(s.clone()),
            other => Value::Text(other.to_string()),
        })
    }

    fn text(&self) -> String {
        match self {
            Value::Text(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(b) => b.to_string(),
        }
    }

    fn xes_tag(&self) -> &'static str {
        match self {
            Value::Text(_) => "string",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Bool(_) => "boolean",
        }
    }

    fn ocel_type(&self) -> &'static str {
        match self {
            Value::Text(_) => "string",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Bool(_) => "boolean",
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Value::Text(s) => serde_json::Value::String(s.clone()),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Value::from(*f),
            Value::Bool(b) => serde_json::Value::Bool(*b),
        }
    }
}

/// One event of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `concept:name`: the step's title, or what happened ("آغاز پرونده").
    pub activity: String,
    /// The same in English, when known (`ravand:activity_en`).
    pub activity_en: Option<String>,
    /// The history event it comes from (`ravand:event`, `task_completed`).
    pub event: String,
    /// The step's id (`ravand:step`).
    pub step: Option<String>,
    /// `time:timestamp`.
    pub at: Timestamp,
    /// `lifecycle:transition`.
    pub transition: Transition,
    /// `org:resource`: the person (or outside system) who did it;
    /// [`ENGINE_RESOURCE`] for what the engine did.
    pub resource: Option<String>,
    /// `org:role`: the role whose work it is.
    pub role: Option<String>,
    /// `org:group`: that role's unit.
    pub group: Option<String>,
    /// The task it concerns, as an id unique in the log (OCEL's task
    /// objects; `ravand:task`).
    pub task: Option<String>,
}

/// One case: its id, attributes and events.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The case id (`concept:name` of the trace; CSV's
    /// `case:concept:name`), the same in every format.
    pub case: String,
    /// Case attributes by name (`tracking_code`, `version`, `outcome`,
    /// searchable data…).
    pub attributes: BTreeMap<String, Value>,
    /// Its events, in history order.
    pub events: Vec<Entry>,
}

/// An event log of one process.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Log {
    /// The process id (`concept:name` of the log).
    pub process: String,
    /// The cases.
    pub traces: Vec<Trace>,
}

/// A format a [`Log`] is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// XES (IEEE 1849), for ProM, Disco and PM4Py.
    Xes,
    /// CSV, its columns the XES keys.
    Csv,
    /// OCEL 2.0 JSON: cases, tasks and people as objects.
    Ocel,
}

impl Format {
    /// Every format, as `--format` and `?format=` name them.
    pub const ALL: [Format; 3] = [Format::Xes, Format::Csv, Format::Ocel];

    /// Its name: `xes`, `csv` or `ocel`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Xes => "xes",
            Format::Csv => "csv",
            Format::Ocel => "ocel",
        }
    }

    /// The format called `name`.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Xes => "application/xml",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ocel => "application/json",
        }
    }

    /// A file name ending for it: `xes`, `csv` or `json`.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Xes => "xes",
            Format::Csv => "csv",
            Format::Ocel => "json",
        }
    }

    /// `log` written in this format.
    pub fn write(self, log: &Log) -> String {
        match self {
            Format::Xes => log.to_xes(),
            Format::Csv => log.to_csv(),
            Format::Ocel => {
                let mut s = serde_json::to_string_pretty(&log.to_ocel()).unwrap_or_default();
                s.push('\n');
                s
            }
        }
    }
}

/// The XES extensions a log declares: name, prefix, URI.
const EXTENSIONS: [(&str, &str, &str); 4] = [
    ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
    ("Time", "time", "http://www.xes-standard.org/time.xesext"),
    ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
    ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
];

/// An instant as XES and OCEL write it (UTC, milliseconds).
fn stamp(t: Timestamp) -> String {
    t.to_utc().format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string()
}

/// Text for an XML attribute value.
fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

impl Entry {
    /// The event's attributes as (key, value) text, in the order written.
    fn fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("concept:name", Some(self.activity.clone())),
            ("lifecycle:transition", Some(self.transition.as_str().to_owned())),
            ("org:resource", self.resource.clone()),
            ("org:role", self.role.clone()),
            ("org:group", self.group.clone()),
            ("ravand:event", Some(self.event.clone())),
            ("ravand:step", self.step.clone()),
            ("ravand:activity_en", self.activity_en.clone()),
            ("ravand:task", self.task.clone()),
        ]
    }
}

impl Log {
    /// The log as XES (IEEE 1849-2016): the four standard extensions, a
    /// classifier by activity and transition, each case a trace with its
    /// attributes, each event with the keys [`Entry`] names.
    pub fn to_xes(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str("<log xes.version=\"1849-2016\" xes.features=\"\" xmlns=\"http://www.xes-standard.org/\">\n");
        for (name, prefix, uri) in EXTENSIONS {
            let _ = writeln!(out, "  <extension name=\"{name}\" prefix=\"{prefix}\" uri=\"{uri}\"/>");
        }
        out.push_str("  <global scope=\"trace\">\n    <string key=\"concept:name\" value=\"\"/>\n  </global>\n");
        out.push_str("  <global scope=\"event\">\n    <string key=\"concept:name\" value=\"\"/>\n");
        out.push_str("    <date key=\"time:timestamp\" value=\"1970-01-01T00:00:00.000+00:00\"/>\n");
        out.push_str("    <string key=\"lifecycle:transition\" value=\"complete\"/>\n  </global>\n");
        out.push_str("  <classifier name=\"Activity\" keys=\"concept:name\"/>\n");
        out.push_str("  <classifier name=\"Activity and transition\" keys=\"concept:name lifecycle:transition\"/>\n");
        let _ = writeln!(out, "  <string key=\"concept:name\" value=\"{}\"/>", esc(&self.process));
        for t in &self.traces {
            out.push_str("  <trace>\n");
            let _ = writeln!(out, "    <string key=\"concept:name\" value=\"{}\"/>", esc(&t.case));
            for (k, v) in &t.attributes {
                let _ = writeln!(
                    out,
                    "    <{tag} key=\"{}\" value=\"{}\"/>",
                    esc(k),
                    esc(&v.text()),
                    tag = v.xes_tag()
                );
            }
            for e in &t.events {
                out.push_str("    <event>\n");
                let mut fields = e.fields().into_iter();
                if let Some((k, Some(v))) = fields.next() {
                    let _ = writeln!(out, "      <string key=\"{k}\" value=\"{}\"/>", esc(&v));
                }
                let _ = writeln!(out, "      <date key=\"time:timestamp\" value=\"{}\"/>", stamp(e.at));
                for (k, v) in fields {
                    if let Some(v) = v {
                        let _ = writeln!(out, "      <string key=\"{k}\" value=\"{}\"/>", esc(&v));
                    }
                }
                out.push_str("    </event>\n");
            }
            out.push_str("  </trace>\n");
        }
        out.push_str("</log>\n");
        out
    }

    /// The case attribute names used in any trace, in order.
    fn attribute_names(&self) -> BTreeSet<&str> {
        self.traces
            .iter()
            .flat_map(|t| t.attributes.keys().map(String::as_str))
            .collect()
    }

    /// The log as CSV, one row an event, its columns the XES keys (as
    /// PM4Py names a log's columns): `case:concept:name`, `concept:name`,
    /// `time:timestamp` (RFC 3339), `lifecycle:transition`, `org:resource`,
    /// `org:role`, `org:group`, then Ravand's own and every case attribute
    /// as `case:NAME`. The case ids are the XES traces' names.
    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        // Writing text into memory fails only when memory does; what was
        // written before is kept.
        let written = self.write_csv(&mut w);
        debug_assert!(written.is_ok(), "{written:?}");
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    fn write_csv(&self, w: &mut csv::Writer<Vec<u8>>) -> csv::Result<()> {
        let names = self.attribute_names();
        let mut head = vec![
            "case:concept:name".to_owned(),
            "concept:name".to_owned(),
            "time:timestamp".to_owned(),
        ];
        head.extend(
            [
                "lifecycle:transition",
                "org:resource",
                "org:role",
                "org:group",
                "ravand:event",
                "ravand:step",
                "ravand:activity_en",
                "ravand:task",
            ]
            .map(str::to_owned),
        );
        head.extend(names.iter().map(|n| format!("case:{n}")));
        w.write_record(&head)?;
        for t in &self.traces {
            let attrs: Vec<String> = names
                .iter()
                .map(|n| t.attributes.get(*n).map(Value::text).unwrap_or_default())
                .collect();
            for e in &t.events {
                let mut row = vec![t.case.clone(), e.activity.clone(), e.at.to_utc().to_rfc3339()];
                row.extend(e.fields().into_iter().skip(1).map(|(_, v)| v.unwrap_or_default()));
                row.extend(attrs.iter().cloned());
                w.write_record(&row)?;
            }
        }
        w.flush()?;
        Ok(())
    }

    /// The log as OCEL 2.0 JSON: cases (with their attributes), tasks and
    /// people as objects (a task related to its case); each event of type
    /// its activity, related to its case, its task and its person, with its
    /// transition, history event, step, role and unit as attributes.
    pub fn to_ocel(&self) -> serde_json::Value {
        use serde_json::{json, Value as J};
        let names = self.attribute_names();
        let mut case_attr_types: BTreeMap<&str, &str> = BTreeMap::new();
        for t in &self.traces {
            for (k, v) in &t.attributes {
                case_attr_types.entry(k.as_str()).or_insert(v.ocel_type());
            }
        }
        let event_attrs = ["lifecycle", "event", "step", "role", "unit"];
        let mut event_types: BTreeSet<&str> = BTreeSet::new();
        let mut objects: Vec<J> = Vec::new();
        let mut people: BTreeSet<&str> = BTreeSet::new();
        let mut events: Vec<J> = Vec::new();
        for t in &self.traces {
            let case_id = format!("case:{}", t.case);
            let since = t.events.first().map_or(Timestamp(0), |e| e.at);
            let attributes: Vec<J> = names
                .iter()
                .filter_map(|n| t.attributes.get(*n).map(|v| (n, v)))
                .map(|(n, v)| json!({"name": n, "time": stamp(since), "value": v.json()}))
                .collect();
            objects.push(json!({"id": case_id, "type": "case", "attributes": attributes, "relationships": []}));
            let mut tasks: BTreeSet<&str> = BTreeSet::new();
            for (i, e) in t.events.iter().enumerate() {
                event_types.insert(&e.activity);
                let mut rel = vec![json!({"objectId": case_id, "qualifier": "case"})];
                if let Some(task) = &e.task {
                    tasks.insert(task);
                    rel.push(json!({"objectId": format!("task:{task}"), "qualifier": "task"}));
                }
                if let Some(p) = &e.resource {
                    people.insert(p);
                    rel.push(json!({"objectId": format!("person:{p}"), "qualifier": "resource"}));
                }
                let values = [
                    Some(e.transition.as_str().to_owned()),
                    Some(e.event.clone()),
                    e.step.clone(),
                    e.role.clone(),
                    e.group.clone(),
                ];
                let attributes: Vec<J> = event_attrs
                    .iter()
                    .zip(values)
                    .filter_map(|(n, v)| v.map(|v| json!({"name": n, "value": v})))
                    .collect();
                events.push(json!({
                    "id": format!("{}/{}", t.case, i + 1),
                    "type": e.activity,
                    "time": stamp(e.at),
                    "attributes": attributes,
                    "relationships": rel,
                }));
            }
            for task in tasks {
                objects.push(json!({
                    "id": format!("task:{task}"),
                    "type": "task",
                    "attributes": [],
                    "relationships": [{"objectId": case_id, "qualifier": "part of"}],
                }));
            }
        }
        for p in people {
            objects.push(json!({"id": format!("person:{p}"), "type": "person", "attributes": [], "relationships": []}));
        }
        let event_type_attrs: Vec<J> = event_attrs
            .iter()
            .map(|n| json!({"name": n, "type": "string"}))
            .collect();
        let case_attrs: Vec<J> = case_attr_types
            .iter()
            .map(|(n, t)| json!({"name": n, "type": t}))
            .collect();
        json!({
            "objectTypes": [
                {"name": "case", "attributes": case_attrs},
                {"name": "task", "attributes": []},
                {"name": "person", "attributes": []},
            ],
            "eventTypes": event_types
                .iter()
                .map(|n| json!({"name": n, "attributes": event_type_attrs}))
                .collect::<Vec<_>>(),
            "objects": objects,
            "events": events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Log {
        let e = |activity: &str, at, transition, resource: Option<&str>| Entry {
            activity: activity.into(),
            activity_en: Some("Review & sign".into()),
            event: "task_completed".into(),
            step: Some("review".into()),
            at: Timestamp(at),
            transition,
            resource: resource.map(str::to_owned),
            role: Some("clerk".into()),
            group: Some("district-1".into()),
            task: Some("7/1".into()),
        };
        Log {
            process: "p<1>".into(),
            traces: vec![Trace {
                case: "7".into(),
                attributes: BTreeMap::from([
                    ("version".into(), Value::Int(2)),
                    ("district".into(), Value::Text("منطقه \"۱\"".into())),
                ]),
                events: vec![
                    e("بررسی", 1_700_000_000, Transition::Schedule, None),
                    e("بررسی", 1_700_000_600, Transition::Complete, Some("sara")),
                ],
            }],
        }
    }

    #[test]
    fn xes_escapes_and_types_what_it_writes() {
        let x = sample().to_xes();
        assert!(x.contains("<string key=\"concept:name\" value=\"p&lt;1&gt;\"/>"), "{x}");
        assert!(x.contains("<int key=\"version\" value=\"2\"/>"), "{x}");
        assert!(x.contains("value=\"منطقه &quot;۱&quot;\""), "{x}");
        assert!(x.contains("value=\"Review &amp; sign\""), "{x}");
        assert!(x.contains("<date key=\"time:timestamp\" value=\"2023-11-14T22:13:20.000+00:00\"/>"));
        assert_eq!(x.matches("<event>").count(), 2);
        assert_eq!(x.matches("org:resource").count(), 1);
    }

    #[test]
    fn csv_has_a_row_an_event_with_the_case_attributes() {
        let c = sample().to_csv();
        let mut lines = c.lines();
        let head = lines.next().unwrap_or_default();
        assert!(head.starts_with("case:concept:name,concept:name,time:timestamp,lifecycle:transition,org:resource"));
        assert!(head.ends_with("case:district,case:version"), "{head}");
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 2);
        assert!(rows[1].starts_with("7,بررسی,2023-11-14T22:23:20+00:00,complete,sara,clerk,district-1"));
        assert!(rows[1].ends_with("\"منطقه \"\"۱\"\"\",2"), "{}", rows[1]);
    }

    #[test]
    fn ocel_relates_events_to_their_case_task_and_person() {
        let o = sample().to_ocel();
        let objects = o["objects"].as_array().cloned().unwrap_or_default();
        let ids: Vec<&str> = objects.iter().filter_map(|x| x["id"].as_str()).collect();
        assert_eq!(ids, ["case:7", "task:7/1", "person:sara"]);
        let events = o["events"].as_array().cloned().unwrap_or_default();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1]["relationships"].as_array().map(Vec::len), Some(3));
        assert_eq!(events[0]["relationships"].as_array().map(Vec::len), Some(2));
        assert_eq!(o["eventTypes"][0]["name"], "بررسی");
        assert_eq!(o["objectTypes"][0]["attributes"][1]["type"], "integer");
    }
}
