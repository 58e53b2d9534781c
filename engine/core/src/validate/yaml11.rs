//! Scalars a YAML 1.1 reader takes for something else. Ravand reads YAML
//! 1.2, where `off` is a word and `1405-01-25` is text; PyYAML and many other
//! tools read YAML 1.1, where they are `false` and a date. A file that means
//! the same to both quotes them.

use crate::diagnostic::{Diagnostic, Place};
use granit_parser::{Event, Parser, ScalarStyle};

/// A warning for every plain scalar that YAML 1.1 reads as a boolean, a
/// date or a base-60 number.
pub fn ambiguous_scalars(text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if !may_misread(text) {
        return out;
    }
    for next in Parser::new_from_str(text) {
        let Ok((event, span)) = next else { break };
        let Event::Scalar(value, ScalarStyle::Plain, ..) = event else {
            continue;
        };
        let Some(what) = yaml11_reading(&value) else { continue };
        let start = span.start.byte_offset().unwrap_or(0);
        let end = span.end.byte_offset().unwrap_or(start).max(start);
        let place = Place {
            line: u32::try_from(span.start.line()).unwrap_or(u32::MAX),
            column: u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
            bytes: start..end,
        };
        out.push(
            Diagnostic::warning(
                "ambiguous-scalar",
                place,
                format!("`{value}` is text to Ravand, but {what} to YAML 1.1 readers (PyYAML and others)"),
            )
            .help(format!("quote it: \"{value}\"")),
        );
    }
    out
}

/// Whether the text may hold a plain scalar YAML 1.1 misreads: a cheap
/// look, line by line, that spares most files the second parse. On a line
/// without quotes the comment is cut off and the rest is cut where a
/// plain scalar ends (flow punctuation, `: `, a key's last colon), its
/// indicators taken off (`- `, `? `, anchors, tags); a misread scalar is
/// one of those pieces whole. A line with quotes (a quoted key, a quoted
/// text over several lines) is cut at every blank and punctuation instead,
/// and any misread word counts. English prose in a title (`… on site`) is
/// one piece and does not count.
fn may_misread(text: &str) -> bool {
    text.lines().any(|line| {
        if line.contains(['"', '\'']) {
            return line
                .split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '{' | '}' | '"' | '\'' | '#'))
                .map(|w| w.trim_matches(':'))
                .any(|w| !w.is_empty() && yaml11_reading(w).is_some());
        }
        let line = line.replace('\t', " ");
        let code = match line
            .match_indices('#')
            .find(|&(i, _)| i == 0 || line[..i].ends_with(' '))
        {
            Some((i, _)) => &line[..i],
            None => &line[..],
        };
        code.split([',', '[', ']', '{', '}'])
            .flat_map(|piece| piece.split(": "))
            .map(|piece| bare(piece.trim().trim_end_matches(':').trim_end()))
            .any(|piece| !piece.is_empty() && yaml11_reading(piece).is_some())
    })
}

/// A piece of a line without the indicators before its scalar: sequence
/// entries, complex keys, anchors and tags.
fn bare(mut s: &str) -> &str {
    loop {
        let cut = if s.starts_with("- ") || s.starts_with("? ") {
            2
        } else if s.starts_with(['&', '!']) {
            s.find(' ').unwrap_or(s.len())
        } else {
            return s;
        };
        s = s[cut..].trim_start();
    }
}

/// What YAML 1.1 makes of a plain scalar Ravand takes as text, if it is not
/// text there too.
fn yaml11_reading(s: &str) -> Option<&'static str> {
    const BOOLS: [&str; 12] = [
        "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
    ];
    if BOOLS.contains(&s) {
        return Some("a boolean");
    }
    if is_timestamp(s) {
        return Some("a date");
    }
    if is_sexagesimal(s) {
        return Some("a base-60 number");
    }
    None
}

/// Digits, `n` of them at least and `m` at most, at the start of `s`; the
/// rest after them.
fn digits(s: &str, n: usize, m: usize) -> Option<&str> {
    let k = s.bytes().take_while(u8::is_ascii_digit).count();
    (n..=m).contains(&k).then(|| &s[k..])
}

/// YAML 1.1's timestamp: `yyyy-m-d`, or that with a time of hours, minutes
/// and seconds.
fn is_timestamp(s: &str) -> bool {
    let date = digits(s, 4, 4)
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| digits(r, 1, 2))
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| digits(r, 1, 2));
    match date {
        Some("") => true,
        Some(rest) => {
            let Some(time) = rest.strip_prefix(['T', 't', ' ', '\t']) else {
                return false;
            };
            let time = time.trim_start();
            digits(time, 1, 2)
                .and_then(|r| r.strip_prefix(':'))
                .and_then(|r| digits(r, 2, 2))
                .and_then(|r| r.strip_prefix(':'))
                .and_then(|r| digits(r, 2, 2))
                .is_some()
        }
        None => false,
    }
}

/// YAML 1.1's base-60 integer: `[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+`.
fn is_sexagesimal(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let mut parts = s.split(':');
    let Some(head) = parts.next() else { return false };
    let head_ok =
        head.starts_with(|c: char| ('1'..='9').contains(&c)) && head.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let mut tail = 0;
    for p in parts {
        let ok = matches!(p.len(), 1 | 2)
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.len() == 1 || p.as_bytes()[0] <= b'5');
        if !ok {
            return false;
        }
        tail += 1;
    }
    head_ok && tail > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_yaml_1_1_misreads() {
        for s in [
            "off",
            "On",
            "YES",
            "no",
            "1405-01-25",
            "1405-1-5",
            "2026-04-04T08:00:00",
            "2026-04-04 08:00:00Z",
            "1:30",
            "190:20:30",
        ] {
            assert!(yaml11_reading(s).is_some(), "{s}");
        }
        for s in [
            "true",
            "false",
            "y",
            "n",
            "offline",
            "01-01",
            "07:00-14:00",
            "07:00",
            "2026-04-04T08:00",
            "1405-01-25x",
            "10 days",
            "0",
        ] {
            assert!(yaml11_reading(s).is_none(), "{s}");
        }
    }

    #[test]
    fn quoted_scalars_and_keys_are_placed() {
        let text = "week:\n  friday: off\n  thursday: \"off\"\non: 1\nd: {date: 1405-01-25}\n";
        let found: Vec<(u32, u32)> = ambiguous_scalars(text).iter().map(|d| (d.line, d.column)).collect();
        assert_eq!(found, vec![(2, 11), (4, 1), (5, 11)]);
    }

    #[test]
    fn the_quick_look_passes_every_file_the_parse_would_flag() {
        for text in [
            "a: off\n",
            "on: 1\n",
            "l: [yes,no]\n",
            "m: {t: 1:30}\n",
            "d: 2026-04-04 08:00:00Z # a comment\n",
            "- &x No\n",
            "1:30: x\n",
            "{\"k\":yes}\n",
            "k: !!str yes\n",
            "k: &a on\n",
            "- - off\n",
            "k:\ton\n",
            "? on\n: 1\n",
            "t: \"it's\" # off\nu: off\n",
        ] {
            assert!(may_misread(text), "{text}");
            assert!(!ambiguous_scalars(text).is_empty(), "{text}");
        }
        for text in [
            "title_en: Officer inspects the trees on site\n",
            "# Staff work in working days on the calendar\nk: v # no\n",
            "title: آزمون\nwait: {duration: 3 days}\n",
            "t: 07:00-14:00\n",
        ] {
            assert!(!may_misread(text), "{text}");
            assert!(ambiguous_scalars(text).is_empty(), "{text}");
        }
    }
}
