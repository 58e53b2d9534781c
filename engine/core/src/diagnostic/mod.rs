//! Diagnostics for people: a problem at a file, line and column, with the
//! source line, a marker, a message and a help line that says what to do.
//!
//! Owns: the [`Diagnostic`] type, its stable codes, and rendering it as text
//! (through `annotate-snippets`, the renderer rustc uses) or JSON.
//!
//! Must not: decide what is a problem. Parsing and validation do.

use std::ops::Range;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use serde::Serialize;

/// How bad a problem is. Errors reject a definition; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// It stops the definition.
    Error,
    /// It lets the definition through.
    Warning,
}

/// A place in a source file: 1-based line and column (in characters), and
/// the byte range it covers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Place {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
    /// Byte range in the source.
    #[serde(skip)]
    pub bytes: Range<usize>,
}

impl Place {
    /// The top of the file, for a problem of the whole file.
    pub fn top() -> Place {
        Place {
            line: 1,
            column: 1,
            bytes: 0..0,
        }
    }

    /// The place of a spanned value.
    pub fn of<T>(s: &serde_saphyr::Spanned<T>) -> Place {
        Place::from_location(&s.referenced)
    }

    /// The place serde-saphyr gives a value.
    pub fn from_location(loc: &serde_saphyr::Location) -> Place {
        let span = loc.span();
        let start = span.byte_offset().unwrap_or(0) as usize;
        let len = span.byte_len().unwrap_or(0) as usize;
        Place {
            line: loc.line() as u32,
            column: loc.column() as u32,
            bytes: start..start + len,
        }
    }
}

/// Another place involved in a problem (e.g. the other steps of a deadlock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Related {
    /// Where.
    #[serde(flatten)]
    pub place: Place,
    /// What it is ("first declared here").
    pub label: String,
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file's name as given.
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
    /// Error or warning.
    pub severity: Severity,
    /// A stable, kebab-case code, e.g. `dangling-reference`; scripts match on it.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
    /// Other places involved, e.g. the steps of a deadlock.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Related>,
    /// Byte range in the source.
    #[serde(skip)]
    pub bytes: Range<usize>,
}

impl Diagnostic {
    /// An error with its stable code, place and message.
    pub fn error(code: &'static str, place: Place, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, code, place, message)
    }

    /// A warning with its stable code, place and message.
    pub fn warning(code: &'static str, place: Place, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, code, place, message)
    }

    fn new(severity: Severity, code: &'static str, place: Place, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: String::new(),
            line: place.line,
            column: place.column,
            severity,
            code,
            message: message.into(),
            help: None,
            related: Vec::new(),
            bytes: place.bytes,
        }
    }

    /// Adds the help line: what to do about it.
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds a related place with its label ("first declared here").
    pub fn related(mut self, place: Place, label: impl Into<String>) -> Diagnostic {
        self.related.push(Related {
            place,
            label: label.into(),
        });
        self
    }

    /// Names the file it is in (here and in its related places).
    pub fn in_file(mut self, file: &str) -> Diagnostic {
        self.file = file.to_owned();
        self
    }

    /// Whether it is an error (a warning lets the definition through).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the diagnostic as plain text with the source line(s) of `source`.
    pub fn render(&self, source: &str) -> String {
        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let primary = clamp(source, self.line, self.column, &self.bytes);
        let mut snippet = Snippet::source(source)
            .path(self.file.as_str())
            .fold(true)
            .annotation(AnnotationKind::Primary.span(primary));
        for r in &self.related {
            let range = clamp(source, r.place.line, r.place.column, &r.place.bytes);
            snippet = snippet.annotation(AnnotationKind::Context.span(range).label(r.label.as_str()));
        }
        let mut group = level
            .primary_title(self.message.as_str())
            .id(self.code)
            .element(snippet);
        if let Some(h) = &self.help {
            group = group.element(Level::HELP.message(h.as_str()));
        }
        let report: [Group<'_>; 1] = [group];
        Renderer::plain().render(&report).to_string()
    }
}

/// A byte range inside `source` for a place; falls back to the start of the
/// line and column when the parser gave no byte range, and never panics on
/// out-of-range input.
fn clamp(source: &str, line: u32, column: u32, bytes: &Range<usize>) -> Range<usize> {
    let valid = |r: &Range<usize>| {
        r.start <= r.end && r.end <= source.len() && source.is_char_boundary(r.start) && source.is_char_boundary(r.end)
    };
    if bytes.end > bytes.start && valid(bytes) {
        // Keep the marker on one line.
        let end = source[bytes.start..bytes.end]
            .find('\n')
            .map_or(bytes.end, |i| bytes.start + i);
        if end > bytes.start {
            return bytes.start..end;
        }
    }
    // Find the line and column by counting.
    let mut start = 0usize;
    for (i, l) in source.split_inclusive('\n').enumerate() {
        if i + 1 == line as usize {
            let col = (column.max(1) - 1) as usize;
            let off = l
                .char_indices()
                .nth(col)
                .map_or(l.trim_end_matches('\n').len(), |(o, _)| o);
            let s = start + off;
            let e = source[s..]
                .chars()
                .next()
                .map_or(s, |c| if c == '\n' { s } else { s + c.len_utf8() });
            return s..e;
        }
        start += l.len();
    }
    let end = source.len();
    end..end
}

/// Sorts diagnostics by file, line and column, errors before warnings at one place.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.severity, a.code).cmp(&(&b.file, b.line, b.column, b.severity, b.code))
    });
}

/// The closest of `candidates` to `word`, if close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(word, c);
        if score > 0.8 && best.is_none_or(|(_, s)| score > s) {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

/// A help line: "did you mean `x`?" when a candidate is close to `word`,
/// else `otherwise`.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>, otherwise: impl Into<String>) -> String {
    match did_you_mean(word, candidates) {
        Some(m) => format!("did you mean `{m}`?"),
        None => otherwise.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_marker_under_persian_text() {
        let src = "title: صدور پروانه\nnext: bogus\n";
        let d = Diagnostic::error(
            "dangling-reference",
            Place {
                line: 2,
                column: 7,
                bytes: 0..0,
            },
            "no step `bogus`",
        )
        .help("did you mean `bogus2`?")
        .in_file("x.yaml");
        let out = d.render(src);
        assert!(out.contains("x.yaml:2:7"), "{out}");
        assert!(out.contains("next: bogus"), "{out}");
        assert!(out.contains("did you mean"), "{out}");
    }

    #[test]
    fn clamp_never_panics() {
        let src = "ab\nپ\n";
        for line in 0..5 {
            for col in 0..5 {
                for r in [0..0, 0..100, 4..5, 3..4] {
                    let _ = clamp(src, line, col, &r);
                }
            }
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("titel", ["title", "kind", "next"]), Some("title"));
        assert_eq!(did_you_mean("zzz", ["title", "kind"]), None);
    }
}
