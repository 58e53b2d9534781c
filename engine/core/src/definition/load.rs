//! Reading definition text into [`ProcessDef`] / [`CalendarDef`] with limits.

use serde::de::DeserializeOwned;

use super::{CalendarDef, ProcessDef};
use crate::diagnostic::{suggest, Diagnostic, Place};

/// A source file: its name (as shown in diagnostics) and text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

impl SourceFile {
    /// A source named `name` (shown in diagnostics) holding `text`.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        SourceFile {
            name: name.into(),
            text: text.into(),
        }
    }

    /// Reads a file, refusing one larger than `limits.max_bytes` before
    /// reading it whole.
    pub fn read(path: &std::path::Path, limits: &Limits) -> Result<SourceFile, Box<Diagnostic>> {
        let name = path.display().to_string();
        let fail = |msg: String| Diagnostic::error("io", Place::top(), msg).in_file(&name);
        let meta = std::fs::metadata(path).map_err(|e| Box::new(fail(format!("cannot read `{name}`: {e}"))))?;
        if meta.len() > limits.max_bytes as u64 {
            return Err(Box::new(too_large(meta.len() as usize, limits).in_file(&name)));
        }
        let bytes = std::fs::read(path).map_err(|e| Box::new(fail(format!("cannot read `{name}`: {e}"))))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            Box::new(
                fail(format!(
                    "`{name}` is not UTF-8 text (bad byte at offset {})",
                    e.utf8_error().valid_up_to()
                ))
                .help("save the file as UTF-8; Persian text must be UTF-8, not Windows-1256"),
            )
        })?;
        Ok(SourceFile { name, text })
    }
}

fn too_large(len: usize, limits: &Limits) -> Diagnostic {
    Diagnostic::error(
        "too-large",
        Place { line: 1, column: 1, bytes: 0..0 },
        format!("the file is {len} bytes, more than the limit of {} bytes", limits.max_bytes),
    )
    .help("a process definition is far smaller than this; split it into subprocesses, or check that this is the right file")
}

/// Limits against hostile or mistaken documents. A limit that is hit is a
/// clear error, never a hang.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest file, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of mappings and lists.
    pub max_depth: usize,
    /// Most YAML nodes in one document.
    pub max_nodes: usize,
    /// Most events replayed through aliases (against "billion laughs").
    pub max_alias_events: usize,
    /// Most bytes of text in the document once its aliases are expanded (a
    /// small file that repeats a long text through aliases is refused).
    pub max_expanded_bytes: usize,
    /// Most steps in one process.
    pub max_steps: usize,
    /// Most markings the soundness check explores before it gives up.
    pub max_states: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bytes: 8 * 1024 * 1024,
            max_depth: 32,
            max_nodes: 1_000_000,
            max_alias_events: 10_000,
            max_expanded_bytes: 8 * 1024 * 1024,
            max_steps: 50_000,
            max_states: 200_000,
        }
    }
}

fn options(limits: &Limits) -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    let mut b = o.budget.take().unwrap_or_default();
    b.max_depth = limits.max_depth;
    b.max_nodes = limits.max_nodes;
    b.max_events = limits.max_nodes.saturating_mul(3);
    b.max_reader_input_bytes = Some(limits.max_bytes);
    b.max_total_scalar_bytes = limits.max_expanded_bytes;
    // Analysts reuse a few anchors (shared durations) many times; the real
    // guard against alias bombs is the replayed-events limit below.
    b.enforce_alias_anchor_ratio = false;
    o.budget = Some(b);
    o.alias_limits.max_total_replayed_events = limits.max_alias_events;
    o.alias_limits.max_alias_expansions_per_anchor = 1_000;
    o.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    o
}

/// Parses a process definition. On failure, the first structural problem
/// (YAML syntax, a wrong type, an unknown key), and after a wrong type or
/// key every other one the schema finds (see `more`).
pub fn parse_process(src: &SourceFile, limits: &Limits) -> Result<ProcessDef, Vec<Diagnostic>> {
    parse(src, limits).map_err(|first| with_the_rest(src, first, super::more::Kind::Process))
}

/// Parses a calendar file, reporting as [`parse_process`] does.
pub fn parse_calendar(src: &SourceFile, limits: &Limits) -> Result<CalendarDef, Vec<Diagnostic>> {
    parse(src, limits).map_err(|first| with_the_rest(src, first, super::more::Kind::Calendar))
}

/// serde's first problem, and the schema's others: only after a wrong type
/// or key (a syntax error or a limit leaves no tree worth reading again).
/// One report per place and per message.
fn with_the_rest(src: &SourceFile, mut first: Vec<Diagnostic>, kind: super::more::Kind) -> Vec<Diagnostic> {
    let structural = first
        .iter()
        .all(|d| matches!(d.code, "unknown-key" | "unknown-value" | "wrong-type" | "missing-key"));
    if !structural {
        return first;
    }
    for d in super::more::problems(&src.text, kind) {
        let same = first
            .iter()
            .any(|f| f.line == d.line || (f.code == d.code && f.message == d.message));
        if !same {
            first.push(d.in_file(&src.name));
        }
    }
    crate::diagnostic::sort(&mut first);
    first
}

/// Parses any YAML document type with the same limits and diagnostics.
pub fn parse_any<T: DeserializeOwned>(src: &SourceFile, limits: &Limits) -> Result<T, Vec<Diagnostic>> {
    parse(src, limits)
}

fn parse<T: DeserializeOwned>(src: &SourceFile, limits: &Limits) -> Result<T, Vec<Diagnostic>> {
    if src.text.len() > limits.max_bytes {
        return Err(vec![too_large(src.text.len(), limits).in_file(&src.name)]);
    }
    if src
        .text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(vec![Diagnostic::error(
            "empty",
            Place::top(),
            "the file is empty (or only comments)",
        )
        .help("a process starts with `id:`, `version:`, `title:` and `steps:`")
        .in_file(&src.name)]);
    }
    serde_saphyr::from_str_with_options::<T>(&src.text, options(limits))
        .map_err(|e| vec![yaml_error(&e).in_file(&src.name)])
}

/// Turns a YAML or type error into a diagnostic with a help line.
fn yaml_error(e: &serde_saphyr::Error) -> Diagnostic {
    let place = e.location().map(|l| Place::from_location(&l)).unwrap_or(Place::top());
    let full = e.without_snippet().to_string();
    let msg = strip_location(&full);
    let (code, help) = classify(&msg);
    let msg = match code {
        "wrong-type" => match expected_scalar(&msg) {
            Some(want) => format!("this must be {want}"),
            None => msg,
        },
        "unknown-key" => format!("unknown key `{}`", unknown_and_expected(&msg).0),
        "unknown-value" => format!("unknown value `{}`", unknown_and_expected(&msg).0),
        _ => msg,
    };
    let mut d = Diagnostic::error(code, place, msg);
    if let Some(h) = help {
        d = d.help(h);
    }
    d
}

/// serde-saphyr appends " at line X, column Y" to messages; the diagnostic
/// carries the place already.
fn strip_location(msg: &str) -> String {
    let m = msg.trim();
    let cut = m
        .rfind(" at line ")
        .filter(|&i| m[i..].contains("column"))
        .map_or(m, |i| &m[..i]);
    cut.trim_end_matches([',', '.']).to_owned()
}

fn backticked(msg: &str) -> Vec<&str> {
    msg.split('`').skip(1).step_by(2).collect()
}

/// The unknown word and the expected ones from serde's "unknown field `x`,
/// expected one of `a`, `b`" (with or without backticks around the list).
fn unknown_and_expected(msg: &str) -> (String, Vec<String>) {
    let unknown = backticked(msg).first().map(|s| s.to_string()).unwrap_or_default();
    let list = msg
        .split_once("expected one of ")
        .or_else(|| msg.split_once("expected "))
        .map_or("", |(_, l)| l);
    let expected = list
        .split(',')
        .map(|w| w.trim().trim_matches('`').trim().to_owned())
        .filter(|w| !w.is_empty() && !w.contains(' '))
        .collect();
    (unknown, expected)
}

/// For serde-saphyr's terse "invalid u32" (a scalar of the wrong kind), what
/// the value should be, in words.
fn expected_scalar(msg: &str) -> Option<&'static str> {
    let ty = msg.strip_prefix("invalid ").filter(|t| !t.contains(' '))?;
    Some(match ty {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" => "a whole number, e.g. `1`",
        "f32" | "f64" => "a number, e.g. `0.25`",
        "bool" => "`true` or `false`",
        _ => "a value of another type",
    })
}

fn classify(msg: &str) -> (&'static str, Option<String>) {
    for (prefix, code, what) in [
        ("unknown field", "unknown-key", "the keys allowed here are"),
        ("unknown variant", "unknown-value", "write one of"),
    ] {
        if msg.starts_with(prefix) {
            let (unknown, expected) = unknown_and_expected(msg);
            let help = suggest(
                &unknown,
                expected.iter().map(String::as_str),
                format!("{what}: {}", expected.join(", ")),
            );
            return (code, Some(help));
        }
    }
    if msg.starts_with("missing field") {
        return (
            "missing-key",
            Some("add the key; see `ravand schema` for what each part needs".into()),
        );
    }
    if let Some(want) = expected_scalar(msg) {
        return ("wrong-type", Some(format!("write {want}")));
    }
    if msg.starts_with("invalid type") || msg.starts_with("invalid value") {
        return (
            "wrong-type",
            Some("check the value's type: text, a number, a list (`- item`) or a mapping (`key: value`)".into()),
        );
    }
    if msg.contains("duplicate") {
        return (
            "duplicate-key",
            Some("a key may appear once in a mapping; remove or rename one of them".into()),
        );
    }
    if msg.contains("budget") || msg.contains("limit") || msg.contains("depth") || msg.contains("alias") {
        return ("limit", Some("the document is larger or deeper than a process definition can be; aliases that expand hugely are refused".into()));
    }
    (
        "yaml",
        Some(
            "check the YAML syntax near this place: indentation, a missing `:`, or an unclosed quote or bracket".into(),
        ),
    )
}
