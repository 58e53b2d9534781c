//! The editors an analyst uses agree with Ravand: the real
//! yaml-language-server (npm, pinned by `.ci/run`; the server behind VS
//! Code's YAML extension), driven over stdio with the Language Server
//! Protocol, shows no problem in any committed file, reports planted
//! mistakes at their lines, and completes every key from the schemas.
//!
//! The server is found through `RAVAND_YAML_LS` (its `bin/yaml-language-server`
//! script); without it the tests say they skipped, unless
//! `RAVAND_REQUIRE_EDITOR` is set (CI sets both).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::root;

/// How long one answer may take (the server reads schemas from disk).
const PATIENCE: Duration = Duration::from_secs(60);

/// A yaml-language-server process and the messages it sends.
struct Lsp {
    child: Child,
    stdin: ChildStdin,
    inbox: Receiver<Value>,
    next_id: u64,
}

impl Drop for Lsp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The settings VS Code's YAML extension would send: validation and
/// completion on, no download of the public schema catalogue.
fn settings() -> Value {
    json!({
        "validate": true,
        "completion": true,
        "hover": true,
        "format": {"enable": false},
        "schemaStore": {"enable": false},
    })
}

impl Lsp {
    /// Starts the server and initialises it, or `None` when it is not there
    /// (and not required).
    fn start() -> Option<Lsp> {
        let Some(script) = std::env::var_os("RAVAND_YAML_LS") else {
            assert!(
                std::env::var_os("RAVAND_REQUIRE_EDITOR").is_none(),
                "RAVAND_REQUIRE_EDITOR is set but RAVAND_YAML_LS (yaml-language-server's bin script, npm) is not"
            );
            eprintln!("SKIPPED: set RAVAND_YAML_LS to yaml-language-server's bin/yaml-language-server (.ci/run does)");
            return None;
        };
        let mut child = Command::new("node")
            .arg(&script)
            .arg("--stdio")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("node {script:?} --stdio: {e}"));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, inbox) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    match r.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let line = line.trim();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = n.trim().parse::<usize>().ok();
                    }
                }
                let Some(n) = length else { return };
                let mut body = vec![0; n];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
                    return;
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
        });
        let mut lsp = Lsp {
            child,
            stdin,
            inbox,
            next_id: 1,
        };
        let uri = uri_of(&root());
        lsp.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": uri,
                "workspaceFolders": [{"uri": uri, "name": "ravand"}],
                "capabilities": {
                    "workspace": {"configuration": true},
                    "textDocument": {
                        "completion": {"completionItem": {"snippetSupport": true}},
                        "publishDiagnostics": {},
                    },
                },
            }),
        );
        lsp.notify("initialized", json!({}));
        lsp.notify(
            "workspace/didChangeConfiguration",
            json!({"settings": {"yaml": settings()}}),
        );
        Some(lsp)
    }

    fn send(&mut self, msg: Value) {
        let body = msg.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write to the server");
        self.stdin.flush().expect("flush");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The next message the server sends that `want` accepts; the server's
    /// own requests (configuration, registrations) are answered meanwhile.
    fn wait_for(&mut self, what: &str, deadline: Instant, want: impl Fn(&Value) -> bool) -> Option<Value> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = match self.inbox.recv_timeout(left) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => panic!("the server stopped while waiting for {what}"),
            };
            if let (Some(id), Some(method)) = (msg.get("id"), msg["method"].as_str()) {
                let result = match method {
                    "workspace/configuration" => Value::Array(
                        msg["params"]["items"]
                            .as_array()
                            .map(|items| {
                                items
                                    .iter()
                                    .map(|i| match i["section"].as_str() {
                                        Some("yaml") => settings(),
                                        _ => Value::Null,
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    ),
                    _ => Value::Null,
                };
                let id = id.clone();
                self.send(json!({"jsonrpc": "2.0", "id": id, "result": result}));
                continue;
            }
            if want(&msg) {
                return Some(msg);
            }
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let answer = self
            .wait_for(method, Instant::now() + PATIENCE, |m| {
                m["id"] == json!(id) && m.get("method").is_none()
            })
            .unwrap_or_else(|| panic!("no answer to {method} in {PATIENCE:?}"));
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    }

    /// Opens a document and returns the diagnostics the server publishes
    /// for it (the last set, once it has been quiet for a moment).
    fn open(&mut self, uri: &str, text: &str) -> Vec<Value> {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}),
        );
        let is_for = |m: &Value| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri;
        let first = self
            .wait_for("diagnostics", Instant::now() + PATIENCE, is_for)
            .unwrap_or_else(|| panic!("{uri}: no diagnostics published in {PATIENCE:?}"));
        let mut last = first;
        while let Some(m) = self.wait_for("more diagnostics", Instant::now() + Duration::from_millis(500), is_for) {
            last = m;
        }
        last["params"]["diagnostics"].as_array().cloned().unwrap_or_default()
    }

    /// The completion items offered at a position (0-based line and column).
    fn complete(&mut self, uri: &str, line: usize, character: usize) -> Vec<Value> {
        let r = self.request(
            "textDocument/completion",
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
        );
        match r {
            Value::Array(items) => items,
            r => r["items"].as_array().cloned().unwrap_or_default(),
        }
    }
}

fn uri_of(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// Every committed definition, calendar and scenario.
fn committed() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["definitions", "definitions/calendars", "definitions/scenarios"] {
        let mut here: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        here.sort();
        files.extend(here);
    }
    files
}

fn schema(name: &str) -> Value {
    let path = root().join("definitions/schema").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("the schema")).expect("JSON")
}

/// The names of an object schema's properties (following one `$ref`).
fn keys(schema: &Value, node: &Value) -> BTreeSet<String> {
    let node = match node["$ref"].as_str() {
        Some(r) => schema
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{r} is not in the schema")),
        None => node,
    };
    node["properties"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn labels(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|i| i["label"].as_str().map(str::to_owned))
        .collect()
}

fn show(diags: &[Value]) -> String {
    diags
        .iter()
        .map(|d| {
            format!(
                "{}: {}",
                d["range"]["start"]["line"].as_u64().unwrap_or(0) + 1,
                d["message"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_committed_files_show_no_problem_in_yaml_language_server() {
    let Some(mut lsp) = Lsp::start() else { return };
    let files = committed();
    assert!(files.len() >= 13, "the definitions, calendars and scenarios: {files:?}");
    let mut problems = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        let diags = lsp.open(&uri_of(f), &text);
        if !diags.is_empty() {
            problems.push(format!("{}:\n{}", f.display(), show(&diags)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn planted_mistakes_are_reported_at_their_lines() {
    let Some(mut lsp) = Lsp::start() else { return };
    // Beside the committed definitions, so that its modeline finds the schema.
    let fixture = root().join("tests/fixtures/editors/mistakes.yaml");
    let text = std::fs::read_to_string(&fixture).expect("the fixture");
    let planted: BTreeSet<u64> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("# planted:"))
        .map(|(i, _)| i as u64)
        .collect();
    assert!(planted.len() >= 4, "the fixture plants its mistakes");
    let uri = uri_of(&root().join("definitions/planted-mistakes.yaml"));
    let text = text.replace("$schema=../../../definitions/schema/", "$schema=schema/");
    let diags = lsp.open(&uri, &text);
    let reported: BTreeSet<u64> = diags
        .iter()
        .filter_map(|d| d["range"]["start"]["line"].as_u64())
        .collect();
    assert_eq!(reported, planted, "the lines reported (0-based):\n{}", show(&diags));
}

#[test]
fn completion_offers_every_key_and_no_null() {
    let Some(mut lsp) = Lsp::start() else { return };
    let process = schema("ravand-process.schema.json");
    let uri = uri_of(&root().join("definitions/completion-probe.yaml"));
    let modeline = "# yaml-language-server: $schema=schema/ravand-process.schema.json\n";

    // A new file: every top-level key.
    lsp.open(&uri, modeline);
    let items = lsp.complete(&uri, 1, 0);
    let top = keys(&process, &process);
    assert!(top.len() >= 11, "the schema's top-level keys: {top:?}");
    // Beside the keys, the server offers the whole skeleton, named by the
    // schema's title.
    let mut offered = labels(&items);
    offered.remove(process["title"].as_str().unwrap_or_default());
    assert_eq!(offered, top, "completion in a new file");
    for i in &items {
        let insert = i["insertText"]
            .as_str()
            .or(i["textEdit"]["newText"].as_str())
            .unwrap_or("");
        assert!(!insert.contains("null"), "a snippet with a null placeholder: {i}");
    }

    // Inside a step: every key of a step.
    let step_uri = uri_of(&root().join("definitions/completion-step.yaml"));
    let text = format!("{modeline}id: x\nsteps:\n  - id: a\n    \n");
    lsp.open(&step_uri, &text);
    let items = lsp.complete(&step_uri, 4, 4);
    let step = keys(&process, &process["properties"]["steps"]["items"]);
    let offered = labels(&items);
    let missing: Vec<&String> = step.iter().filter(|k| *k != "id" && !offered.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "keys of a step not offered: {missing:?} (offered {offered:?})"
    );

    // An enum: its values, and no null.
    let kind_uri = uri_of(&root().join("definitions/completion-kind.yaml"));
    let text = format!("{modeline}id: x\nsteps:\n  - id: a\n    kind: \n");
    lsp.open(&kind_uri, &text);
    let offered = labels(&lsp.complete(&kind_uri, 4, 10));
    for k in ["start", "task", "decision", "parallel", "join", "first", "end"] {
        assert!(offered.contains(k), "kind `{k}` not offered: {offered:?}");
    }
    assert!(!offered.contains("null"), "null offered as a kind: {offered:?}");
}
