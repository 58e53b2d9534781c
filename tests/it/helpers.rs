//! Shared helpers: validating text in memory, and the built `ravand` binary.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ravand_engine::definition::{Limits, SourceFile};
use ravand_engine::model::CompileContext;
use ravand_engine::validate::{validate_source, Report};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Validates `text` as a file called `name`, with a fixed context: one
/// calendar (`tehran-municipal`) and one process (`fixture`) exist.
pub fn check(name: &str, text: &str) -> Report {
    let ctx = CompileContext {
        calendars: Some(vec!["tehran-municipal".into()]),
        processes: Some(vec!["fixture".into()]),
    };
    validate_source(SourceFile::new(name, text), &ctx, &Limits::default())
}

/// The codes of a report's diagnostics, in order.
pub fn codes(r: &Report) -> Vec<&'static str> {
    r.diagnostics.iter().map(|d| d.code).collect()
}

/// Every diagnostic rendered as a person sees it.
pub fn rendered(r: &Report) -> String {
    r.diagnostics
        .iter()
        .map(|d| d.render(&r.source.text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `ravand` binary, built once per test run.
pub fn ravand() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "ravand-cli"])
            .current_dir(root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building ravand-cli failed");
        let mut dir = std::env::current_exe().expect("test binary path");
        dir.pop(); // deps
        dir.pop(); // debug or release
        let bin = dir.join(format!("ravand{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "no binary at {}", bin.display());
        bin
    })
}

/// A small valid process, as text, with `body` as its middle steps.
pub fn process(body: &str) -> String {
    format!("id: small\nversion: 1\ntitle: کوچک\ndata:\n  - {{name: ok, type: bool, required: true}}\nsteps:\n  - {{id: start, kind: start}}\n{body}  - {{id: done, kind: end, outcome: done}}\n")
}
