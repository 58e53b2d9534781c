//! Drawing a process as Mermaid or Graphviz DOT text, or writing it as a
//! Petri net (PNML).
//!
//! Owns: the mapping of step kinds to shapes, and escaping titles (Persian
//! included) for each format. Titles are wrapped in Unicode directional
//! isolates so that right-to-left text keeps its order next to Latin ids
//! and numbers.
//!
//! Must not: lay out the graph itself; Mermaid and Graphviz do that.

pub mod html;
mod pnml;

pub use pnml::pnml;

use std::fmt::Write;

use crate::model::{EdgeKind, Process, StepIx, StepKind, Trigger, WaitFor};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Mermaid flowchart text.
    Mermaid,
    /// Graphviz DOT text.
    Dot,
    /// A Petri net in PNML, for conformance checking (see [`pnml`]).
    Pnml,
}

/// Wraps text in a first-strong isolate (U+2068 … U+2069), so each title
/// takes its own direction: Persian right to left, English left to right.
fn isolate(s: &str) -> String {
    if s.chars()
        .any(|c| ('\u{0600}'..='\u{06FF}').contains(&c) || ('\u{FB50}'..='\u{FEFF}').contains(&c))
    {
        format!("\u{2068}{s}\u{2069}")
    } else {
        s.to_owned()
    }
}

fn mermaid_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn dot_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn node_id(i: usize) -> String {
    format!("s{i}")
}

fn edge_label(p: &Process, kind: &EdgeKind) -> Option<String> {
    match kind {
        EdgeKind::Next => None,
        EdgeKind::Branch { condition, probability } => Some(match probability {
            Some(p) => format!("{} ({:.0}%)", condition.source, p * 100.0),
            None => condition.source.clone(),
        }),
        EdgeKind::Otherwise { probability } => Some(match probability {
            Some(p) => format!("otherwise ({:.0}%)", p * 100.0),
            None => "otherwise".to_owned(),
        }),
        EdgeKind::Timeout => Some("timeout".to_owned()),
        EdgeKind::Arm { trigger, probability } => {
            let what = match trigger {
                Trigger::Message(m) => format!("✉ {m}"),
                Trigger::Timer(WaitFor::Duration(d)) => format!("⏱ {d}"),
                Trigger::Timer(WaitFor::Until(t)) => format!("⏱ {t}"),
                Trigger::Timer(WaitFor::UntilData(v)) => format!("⏱ {}", p.var(*v).name),
            };
            Some(match probability {
                Some(x) => format!("{what} ({:.0}%)", x * 100.0),
                None => what,
            })
        }
    }
}

/// Draws the process.
pub fn render(p: &Process, format: Format) -> String {
    match format {
        Format::Mermaid => mermaid(p),
        Format::Dot => dot(p),
        Format::Pnml => pnml(p),
    }
}

fn label(p: &Process, i: usize) -> String {
    isolate(&text(p, i))
}

/// A step's words on the drawing: its title, and an end's outcome, how
/// many branches a partial join waits for ("۲ از ۳": 2 of 3), or a task's
/// multiple instances with BPMN's marker (`|||` all at once, `≡` one after
/// the other).
fn text(p: &Process, i: usize) -> String {
    let st = &p.steps[i];
    let fa = |n: usize| {
        n.to_string()
            .chars()
            .map(|c| c.to_digit(10).and_then(|d| char::from_u32('۰' as u32 + d)).unwrap_or(c))
            .collect::<String>()
    };
    match (st.kind, st.outcome(), st.needs()) {
        (StepKind::End | StepKind::Terminate, Some(o), _) => format!("{} [{o}]", st.title),
        (_, _, Some(n)) => format!("{} [{} از {}]", st.title, fa(n), fa(st.incoming.len())),
        _ => match st.each() {
            Some(e) => format!("{} [{}]", st.title, if e.sequential { "≡" } else { "|||" }),
            None => st.title.clone(),
        },
    }
}

fn mermaid(p: &Process) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "---\ntitle: \"{}\"\n---", mermaid_text(&isolate(&p.title)));
    let _ = writeln!(s, "flowchart TD");
    for (i, st) in p.steps.iter().enumerate() {
        let l = mermaid_text(&label(p, i));
        let id = node_id(i);
        let shape = match st.kind {
            StepKind::Start => format!("{id}([\"{l}\"])"),
            StepKind::End => format!("{id}([\"{l}\"])"),
            StepKind::Terminate => format!("{id}(((\"{l}\")))"),
            StepKind::Decision | StepKind::Inclusive => format!("{id}{{\"{l}\"}}"),
            StepKind::First => format!("{id}{{{{\"✉⏱ {l}\"}}}}"),
            StepKind::Parallel | StepKind::Join | StepKind::InclusiveJoin => format!("{id}{{{{\"{l}\"}}}}"),
            StepKind::Wait | StepKind::Receive => format!("{id}[/\"{l}\"/]"),
            StepKind::Subprocess => format!("{id}[[\"{l}\"]]"),
            StepKind::Task => format!("{id}[\"{l}\"]"),
        };
        let _ = writeln!(s, "    {shape}");
    }
    for e in &p.edges {
        let (a, b) = (node_id(e.from.ix()), node_id(e.to.ix()));
        let arrow = if matches!(e.kind, EdgeKind::Timeout) {
            "-.->"
        } else {
            "-->"
        };
        match edge_label(p, &e.kind) {
            Some(l) => {
                let _ = writeln!(s, "    {a} {arrow}|\"{}\"| {b}", mermaid_text(&l));
            }
            None => {
                let _ = writeln!(s, "    {a} {arrow} {b}");
            }
        }
    }
    s
}

/// The widest line of a step's label in a DOT graph, in characters.
pub const DOT_LINE: usize = 22;

/// `text` broken at spaces into lines of at most `width` characters (a
/// word longer than that stays whole on its own line).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let n = line.chars().count();
        if n > 0 && n + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// A step's label for DOT: its lines wrapped at [`DOT_LINE`], each
/// isolated for right-to-left, joined by DOT's `\n`.
fn dot_label(p: &Process, i: usize) -> String {
    wrap(&text(p, i), DOT_LINE)
        .iter()
        .map(|l| dot_text(&isolate(l)))
        .collect::<Vec<_>>()
        .join("\\n")
}

fn dot(p: &Process) -> String {
    dot_marked(p, |_| None)
}

/// The process in DOT, each step filled with the colour `fill` gives it
/// (e.g. where a case is now, and where it has been).
pub fn dot_marked(p: &Process, fill: impl Fn(StepIx) -> Option<&'static str>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "digraph \"{}\" {{", dot_text(&p.id.0));
    let _ = writeln!(s, "    label=\"{}\";", dot_text(&isolate(&p.title)));
    let _ = writeln!(s, "    rankdir=TB;");
    let _ = writeln!(s, "    node [fontname=\"Vazirmatn,Tahoma,sans-serif\"];");
    for (i, st) in p.steps.iter().enumerate() {
        let shape = match st.kind {
            StepKind::Start | StepKind::End => "ellipse",
            StepKind::Terminate => "doublecircle",
            StepKind::Decision | StepKind::Inclusive => "diamond",
            StepKind::First => "pentagon",
            StepKind::Parallel | StepKind::Join | StepKind::InclusiveJoin => "hexagon",
            StepKind::Wait | StepKind::Receive => "parallelogram",
            StepKind::Subprocess => "box3d",
            StepKind::Task => "box",
        };
        let filled = fill(StepIx(i as u32))
            .map(|c| format!(", style=filled, fillcolor=\"{}\"", dot_text(c)))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "    {} [label=\"{}\", shape={shape}, tooltip=\"{}\"{filled}];",
            node_id(i),
            dot_label(p, i),
            dot_text(&st.id)
        );
    }
    for e in &p.edges {
        let style = if matches!(e.kind, EdgeKind::Timeout) {
            ", style=dashed"
        } else {
            ""
        };
        match edge_label(p, &e.kind) {
            Some(l) => {
                let _ = writeln!(
                    s,
                    "    {} -> {} [label=\"{}\"{style}];",
                    node_id(e.from.ix()),
                    node_id(e.to.ix()),
                    wrap(&l, DOT_LINE)
                        .iter()
                        .map(|l| dot_text(l))
                        .collect::<Vec<_>>()
                        .join("\\n")
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "    {} -> {}{};",
                    node_id(e.from.ix()),
                    node_id(e.to.ix()),
                    if style.is_empty() {
                        String::new()
                    } else {
                        " [style=dashed]".into()
                    }
                );
            }
        }
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn labels_wrap_at_spaces_and_keep_long_words_whole() {
        // 22 characters (the zero-width non-joiner counts), then the rest.
        assert_eq!(
            wrap("بررسی مدارک و نقشه‌های معماری توسط کارشناس", 22),
            ["بررسی مدارک و نقشه‌های", "معماری توسط کارشناس"]
        );
        assert_eq!(wrap("short", 22), ["short"]);
        assert_eq!(wrap("", 22), [""]);
        assert_eq!(
            wrap("abcdefghijklmnopqrstuvwxyz x", 5),
            ["abcdefghijklmnopqrstuvwxyz", "x"]
        );
        for line in wrap(&"کلمه ".repeat(40), 22) {
            assert!(line.chars().count() <= 22, "{line}");
        }
    }
}
