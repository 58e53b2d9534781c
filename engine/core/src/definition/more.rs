//! Every structural mistake of a file in one run, not only the first.
//!
//! serde stops at a file's first wrong type or unknown key. When it has,
//! the file is read once more as a tree of plain values, each with its
//! place (from the YAML parser's events), and the tree is checked against
//! the language's JSON Schema (the one editors use) by the `jsonschema`
//! crate, which reports every mismatch with its path. Each becomes a
//! diagnostic at its line; mismatches serde would have let through (a
//! number where text goes: YAML scalars are read as text when text is
//! wanted) are left out, and so is anything under an alias.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use granit_parser::{Event, Parser, ScalarStyle, Span};
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{Map, Value};

use crate::diagnostic::{suggest, Diagnostic, Place};

/// Which schema a file is checked against.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Process,
    Calendar,
}

fn schema(kind: Kind) -> Option<&'static (Value, jsonschema::Validator)> {
    static PROCESS: OnceLock<Option<(Value, jsonschema::Validator)>> = OnceLock::new();
    static CALENDAR: OnceLock<Option<(Value, jsonschema::Validator)>> = OnceLock::new();
    let (cell, make): (_, fn() -> Value) = match kind {
        Kind::Process => (&PROCESS, super::process_schema),
        Kind::Calendar => (&CALENDAR, super::calendar_schema),
    };
    cell.get_or_init(|| {
        let s = make();
        let v = jsonschema::validator_for(&s).ok()?;
        Some((s, v))
    })
    .as_ref()
}

/// A file read as plain values, with places.
struct Tree {
    root: Value,
    /// The place of each value, by JSON pointer.
    values: HashMap<String, Place>,
    /// The place of each mapping key, by the pointer of its value.
    keys: HashMap<String, Place>,
    /// Pointers of aliases (their value is not known here).
    aliases: HashSet<String>,
}

fn place(span: &Span) -> Place {
    let start = span.start.byte_offset().unwrap_or(0);
    let end = span.end.byte_offset().unwrap_or(start).max(start);
    Place {
        line: u32::try_from(span.start.line()).unwrap_or(u32::MAX),
        column: u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
        bytes: start..end,
    }
}

/// A plain scalar as YAML 1.2's core schema reads it.
fn resolve(s: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::String(s.to_owned());
    }
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let numeric = s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    if numeric {
        if let Ok(i) = s.parse::<i64>() {
            return Value::from(i);
        }
        if let Some(n) = s.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(s.to_owned())
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

enum Frame {
    Map {
        pointer: String,
        map: Map<String, Value>,
        key: Option<String>,
    },
    Seq {
        pointer: String,
        items: Vec<Value>,
    },
}

impl Frame {
    /// The pointer of the next value in this container.
    fn child(&self) -> Option<String> {
        match self {
            Frame::Map { pointer, key, .. } => key.as_ref().map(|k| format!("{pointer}/{}", escape(k))),
            Frame::Seq { pointer, items } => Some(format!("{pointer}/{}", items.len())),
        }
    }

    fn put(&mut self, v: Value) {
        match self {
            Frame::Map { map, key, .. } => {
                if let Some(k) = key.take() {
                    map.insert(k, v);
                }
            }
            Frame::Seq { items, .. } => items.push(v),
        }
    }
}

/// Reads `text` into a tree; `None` when it is not one plain YAML document
/// (a syntax error, a key that is not text: serde reported it already).
fn tree(text: &str) -> Option<Tree> {
    let mut t = Tree {
        root: Value::Null,
        values: HashMap::new(),
        keys: HashMap::new(),
        aliases: HashSet::new(),
    };
    let mut stack: Vec<Frame> = Vec::new();
    let mut done = false;
    for next in Parser::new_from_str(text) {
        let (event, span) = next.ok()?;
        // Where a new node goes: under the pending key, or next in a list.
        let here = match stack.last() {
            None => Some(String::new()),
            Some(f) => f.child(),
        };
        match event {
            Event::Scalar(value, style, ..) => match (stack.last_mut(), here) {
                (Some(Frame::Map { pointer, key, .. }), None) => {
                    t.keys.insert(format!("{pointer}/{}", escape(&value)), place(&span));
                    *key = Some(value.into_owned());
                }
                (frame, Some(p)) => {
                    t.values.insert(p, place(&span));
                    let v = resolve(&value, style);
                    match frame {
                        Some(f) => f.put(v),
                        None => {
                            t.root = v;
                            done = true;
                        }
                    }
                }
                (_, None) => return None,
            },
            Event::Alias(..) => {
                let p = here?;
                t.aliases.insert(p.clone());
                t.values.insert(p, place(&span));
                match stack.last_mut() {
                    Some(f) => f.put(Value::Null),
                    None => done = true,
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let p = here?;
                t.values.insert(p.clone(), place(&span));
                stack.push(if matches!(event, Event::MappingStart(..)) {
                    Frame::Map {
                        pointer: p,
                        map: Map::new(),
                        key: None,
                    }
                } else {
                    Frame::Seq {
                        pointer: p,
                        items: Vec::new(),
                    }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let v = match stack.pop()? {
                    Frame::Map { map, .. } => Value::Object(map),
                    Frame::Seq { items, .. } => Value::Array(items),
                };
                match stack.last_mut() {
                    Some(f) => f.put(v),
                    None => {
                        t.root = v;
                        done = true;
                    }
                }
            }
            _ => {}
        }
        if done && stack.is_empty() {
            break;
        }
    }
    Some(t)
}

/// What a JSON type is, in the analyst's words.
fn in_words(kind: &TypeKind) -> String {
    let one = |t: &jsonschema::JsonType| match t.to_string().as_str() {
        "integer" => "a whole number, e.g. `1`",
        "number" => "a number, e.g. `0.25`",
        "boolean" => "`true` or `false`",
        "array" => "a list (`- item`, or `[a, b]`)",
        "object" => "a mapping (`key: value`)",
        "string" => "text",
        _ => "a value",
    };
    match kind {
        TypeKind::Single(t) => one(t).to_owned(),
        TypeKind::Multiple(ts) => ts.iter().map(|t| one(&t)).collect::<Vec<_>>().join(" or "),
    }
}

fn allows_text(kind: &TypeKind) -> bool {
    match kind {
        TypeKind::Single(t) => t.to_string() == "string",
        TypeKind::Multiple(ts) => ts.iter().any(|t| t.to_string() == "string"),
    }
}

/// The keys a schema location allows (the `properties` beside the failing
/// keyword).
fn allowed_keys(schema: &Value, keyword_at: &str) -> Vec<String> {
    let parent = keyword_at.rsplit_once('/').map_or("", |(p, _)| p);
    schema
        .pointer(parent)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// The words of an `anyOf`/`oneOf` (at `keyword_at`) whose every
/// alternative is a constant or an enum of words; `None` for any other.
fn words_of(schema: &Value, keyword_at: &str) -> Option<Vec<String>> {
    let alts = schema.pointer(keyword_at)?.as_array()?;
    let mut words = Vec::new();
    for a in alts {
        match (a.get("const"), a.get("enum")) {
            (Some(Value::String(w)), _) => words.push(w.clone()),
            (_, Some(Value::Array(ws))) => {
                for w in ws {
                    words.push(w.as_str()?.to_owned());
                }
            }
            _ => return None,
        }
    }
    Some(words)
}

fn unknown_value(instance: &Value, options: &[String], at: Place) -> Diagnostic {
    let word = match instance {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let help = suggest(
        &word,
        options.iter().map(String::as_str),
        format!("write one of: {}", options.join(", ")),
    );
    Diagnostic::error("unknown-value", at, format!("unknown value `{word}`")).help(help)
}

/// Every mismatch between `text` and the language's schema, as diagnostics.
pub(super) fn problems(text: &str, kind: Kind) -> Vec<Diagnostic> {
    let (Some((schema, validator)), Some(t)) = (schema(kind), tree(text)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in validator.iter_errors(&t.root) {
        let at = e.instance_path().as_str().to_owned();
        if t.aliases.iter().any(|a| at == *a || at.starts_with(&format!("{a}/"))) {
            continue;
        }
        let value_place = || t.values.get(&at).cloned().unwrap_or_else(Place::top);
        let instance = e.instance();
        let scalar = !matches!(instance.as_ref(), Value::Object(_) | Value::Array(_));
        match e.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = allowed_keys(schema, e.schema_path().as_str());
                for k in unexpected {
                    let p = t
                        .keys
                        .get(&format!("{at}/{}", escape(k)))
                        .cloned()
                        .unwrap_or_else(value_place);
                    let help = suggest(
                        k,
                        allowed.iter().map(String::as_str),
                        format!("the keys allowed here are: {}", allowed.join(", ")),
                    );
                    out.push(Diagnostic::error("unknown-key", p, format!("unknown key `{k}`")).help(help));
                }
            }
            ValidationErrorKind::Enum { options } => {
                let options: Vec<String> = options
                    .as_array()
                    .map(|a| a.iter().filter_map(|o| o.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                out.push(unknown_value(instance, &options, value_place()));
            }
            ValidationErrorKind::AnyOf { .. } | ValidationErrorKind::OneOfNotValid { .. } => {
                // An enum whose values are documented is a `oneOf` of consts.
                match words_of(schema, e.schema_path().as_str()) {
                    Some(options) => out.push(unknown_value(instance, &options, value_place())),
                    None if !scalar => out.push(
                        Diagnostic::error(
                            "wrong-type",
                            value_place(),
                            "this value has none of the forms allowed here",
                        )
                        .help("check the value's type: text, a number, a list (`- item`) or a mapping (`key: value`)"),
                    ),
                    None => {}
                }
            }
            ValidationErrorKind::Type { kind } => {
                // A scalar where text goes is read as text.
                if scalar && allows_text(kind) {
                    continue;
                }
                let want = in_words(kind);
                out.push(
                    Diagnostic::error("wrong-type", value_place(), format!("this must be {want}"))
                        .help(format!("write {want}")),
                );
            }
            ValidationErrorKind::Required { property } => {
                let key = property.as_str().unwrap_or_default();
                out.push(
                    Diagnostic::error("missing-key", value_place(), format!("missing key `{key}`"))
                        .help("add the key; see `ravand schema` for what each part needs"),
                );
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_keeps_the_places_of_values_and_keys() {
        let t = tree("a: 1\nb:\n  - x\n  - {c: true}\n").expect("a tree");
        assert_eq!(t.root, serde_json::json!({"a": 1, "b": ["x", {"c": true}]}));
        assert_eq!(t.values["/b/1/c"].line, 4);
        assert_eq!(t.keys["/b"].line, 2);
        assert_eq!(t.values["/b/0"].column, 5);
    }

    #[test]
    fn two_mistakes_are_two_diagnostics() {
        let text =
            "id: x\nversion: one\ntitle: t\nsteps:\n  - {id: s, kind: strat}\n  - {id: e, kind: end, outcme: done}\n";
        let mut d = problems(text, Kind::Process);
        crate::diagnostic::sort(&mut d);
        let got: Vec<(&str, u32)> = d.iter().map(|d| (d.code, d.line)).collect();
        assert_eq!(
            got,
            vec![("wrong-type", 2), ("unknown-value", 5), ("unknown-key", 6)],
            "{d:?}"
        );
        assert_eq!(d[1].help.as_deref(), Some("did you mean `start`?"));
        assert_eq!(d[2].help.as_deref(), Some("did you mean `outcome`?"));
    }
}
