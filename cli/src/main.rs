//! `ravand`: the command line of the Ravand workflow engine.
//!
//! Exit codes: 0 success, 1 input rejected (invalid definition, failed
//! check), 2 usage error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

mod bench;
mod run;
mod serve;

use clap::{Parser, Subcommand, ValueEnum};
use ravand_engine::definition::{calendar_schema, process_schema, Limits};
use ravand_engine::diagnostic::Diagnostic;
use ravand_engine::measure;
use ravand_engine::model::Process;
use ravand_engine::render::{self, Format};
use ravand_engine::validate::{self, Report};

#[derive(Parser)]
#[command(
    name = "ravand",
    version,
    about = "Ravand (روند): a workflow engine for municipal processes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The database the list and page benchmarks fill, and with what.
#[derive(clap::Args, Debug)]
struct City {
    #[arg(long)]
    db: String,
    /// Where the municipal definitions and calendars are.
    #[arg(long, default_value = "definitions")]
    definitions: PathBuf,
    /// Cases left open at their first tasks.
    #[arg(long, default_value_t = 10_000)]
    open: usize,
    /// Cases finished.
    #[arg(long, default_value_t = 0)]
    finished: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check definitions (and calendars); print every problem.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print a JSON list of {file, line, column, severity, code, message, help}.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of the definition language.
    Schema {
        /// The schema of calendar files instead.
        #[arg(long, conflicts_with = "scenario")]
        calendar: bool,
        /// The schema of simulation scenario files instead.
        #[arg(long, conflicts_with = "openapi")]
        scenario: bool,
        /// The HTTP API's OpenAPI document instead (what `/openapi.json` serves).
        #[arg(long, conflicts_with = "calendar")]
        openapi: bool,
    },
    /// Draw a process.
    Render {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "mermaid")]
        format: RenderFormat,
    },
    /// Step counts by kind, tag, value class and role; handoffs; fewest and most steps per case.
    Measure {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Run one case in the terminal on a virtual clock.
    Run {
        file: PathBuf,
        /// Read the commands from a file instead of the terminal.
        #[arg(long)]
        script: Option<PathBuf>,
        /// The virtual clock's start, local time: `2026-03-18T10:00` or `1404-12-27T10:00`.
        #[arg(long)]
        start: Option<String>,
        /// Start data: `--set category=roads --set partner=true`.
        #[arg(long)]
        set: Vec<String>,
    },
    /// Simulate many cases under a scenario; print the timeline report.
    Simulate {
        file: PathBuf,
        /// The scenario; without it, a default one (one arrival stream, the
        /// definition's durations and probabilities, nobody queues).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Override the scenario's number of cases.
        #[arg(long)]
        cases: Option<u32>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long)]
        json: bool,
        /// Write the event log of the first replication as CSV.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Write the event log of the first replication as XES (IEEE 1849).
        #[arg(long)]
        xes: Option<PathBuf>,
        /// Write the event log of the first replication as OCEL 2.0 (JSON):
        /// cases and people as objects.
        #[arg(long)]
        ocel: Option<PathBuf>,
    },
    /// What a reform changes: steps, tags, expected steps, handoffs, and with
    /// `--scenario` the simulated cycle time of both under the same scenario.
    Compare {
        old: PathBuf,
        new: PathBuf,
        #[arg(long)]
        scenario: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Also write a self-contained HTML report with charts.
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// The HTTP service, on the embedded SQLite by default.
    Serve {
        /// `sqlite://ravand.db` (default) or `postgres://user@host/db`.
        #[arg(long, default_value = "sqlite://ravand.db")]
        db: String,
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// API tokens (YAML list of {sha256, access, user, processes,
        /// roles}); re-read on SIGHUP.
        #[arg(long)]
        tokens: Option<PathBuf>,
        /// Calendars to load (default: `calendars/` beside each `--deploy`
        /// file, and `definitions/calendars` when present).
        #[arg(long)]
        calendars: Option<PathBuf>,
        /// Definitions to deploy at start; an invalid one stops the start.
        #[arg(long)]
        deploy: Vec<PathBuf>,
        /// Most open connections (the oldest idle one makes room for a new one).
        #[arg(long, default_value_t = 1024)]
        max_connections: usize,
        /// Also accept the identity provider's JWTs (RS256/ES256), verified
        /// against this JWKS: a file, or an http(s):// address; re-read on SIGHUP.
        #[arg(long)]
        jwks: Option<String>,
        /// The `iss` a JWT must carry.
        #[arg(long)]
        jwt_issuer: Option<String>,
        /// The `aud` a JWT must carry.
        #[arg(long)]
        jwt_audience: Option<String>,
    },
    /// A consistent copy of the database while the service runs (SQLite:
    /// `VACUUM INTO`; PostgreSQL: `pg_dump --format=custom`).
    Backup {
        /// The database: `sqlite://ravand.db` or `postgres://…`.
        #[arg(long)]
        db: String,
        /// The copy to write (must not exist).
        file: PathBuf,
    },
    /// The event log of a process's real cases, for process-mining tools
    /// (PM4Py, ProM, Disco): every case open during the period, its events
    /// in it, with the case's attributes.
    Export {
        /// The database: `sqlite://ravand.db` or `postgres://…`.
        #[arg(long)]
        db: String,
        /// The process id.
        #[arg(long)]
        process: String,
        /// The period's first day, local time on the process's calendar:
        /// `1404-01-15` (Solar Hijri) or `2025-04-04`; or an instant
        /// `1404-01-15T08:00`. From the first event when left out.
        #[arg(long)]
        from: Option<String>,
        /// The period's last day (included), or an instant (not included).
        /// Up to now when left out.
        #[arg(long)]
        to: Option<String>,
        /// `xes` (IEEE 1849), `csv` (its columns the XES keys) or `ocel`
        /// (OCEL 2.0 JSON).
        #[arg(long, default_value = "xes")]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// API tokens for the tokens file.
    Token {
        #[command(subcommand)]
        what: TokenCommand,
    },
    /// Start N cases that each wait an hour on a database, then time firing
    /// all their timers.
    BenchTimers {
        #[arg(long)]
        db: String,
        #[arg(long, default_value_t = 100_000)]
        timers: usize,
    },
    /// Start P cases that wait a year, then F cases spread over S seconds
    /// that wait a minute, while the engine keeps time as `serve` does: the
    /// lag of the timers that fire, with P pending.
    BenchTimerLag {
        #[arg(long)]
        db: String,
        #[arg(long, default_value_t = 1_000_000)]
        pending: usize,
        #[arg(long, default_value_t = 30_000)]
        firing: usize,
        #[arg(long, default_value_t = 60)]
        over: u64,
    },
    /// Start N cases of a one-task model, then complete their tasks over
    /// HTTP with C clients, one request each: acknowledged commands per
    /// second, p50 and p99.
    BenchAcks {
        #[arg(long)]
        db: String,
        #[arg(long, default_value = "benches/models/review1.yaml")]
        model: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        commands: usize,
        #[arg(long, default_value_t = 32)]
        clients: usize,
    },
    /// Start N cases waiting at a job for an outside worker, then let W
    /// workers acquire (up to B at a time, with a lease) and complete them
    /// all: jobs per second.
    BenchJobs {
        #[arg(long)]
        db: String,
        #[arg(long, default_value_t = 10_000)]
        jobs: usize,
        #[arg(long, default_value_t = 8)]
        workers: usize,
        #[arg(long, default_value_t = 10)]
        batch: usize,
    },
    /// Fill a database with open and finished cases, then time the lists
    /// (task pages, overdue, search, the unpaged worklist): p50 and p99.
    BenchLists {
        #[command(flatten)]
        city: City,
        /// Calls timed per list.
        #[arg(long, default_value_t = 200)]
        queries: usize,
    },
    /// Fill a database as `bench-lists` does, serve the console on loopback
    /// and time each page for a signed-in administrator: p50 and p99.
    BenchPages {
        #[command(flatten)]
        city: City,
        /// Calls timed per page (the dashboard and manager's view: a tenth).
        #[arg(long, default_value_t = 100)]
        queries: usize,
    },
    /// Run N cases of an automatic model in memory (or, with `--db`, through
    /// the engine on a database, each acknowledged after its commit); print
    /// the peers' result line.
    Bench {
        file: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        instances: usize,
        /// A database: `sqlite://bench.db` or `postgres://…`.
        #[arg(long)]
        db: Option<String>,
        /// Cases in flight at once (with `--db`).
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// A new random secret, and the tokens-file line that holds its hash.
    New {
        /// analyst, clerk, auditor or admin.
        #[arg(long)]
        access: String,
        /// Who acts with it (recorded in history).
        #[arg(long)]
        user: String,
        /// A process whose cases it starts, reads and messages (repeatable).
        #[arg(long = "process")]
        processes: Vec<String>,
        /// A `process/role` whose tasks it works (repeatable).
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// The SHA-256 of a secret (read from standard input), as the file holds it.
    Hash,
}

#[derive(Clone, Copy, ValueEnum)]
enum RenderFormat {
    Mermaid,
    Dot,
    /// A Petri net (PNML) for conformance checking in PM4Py or ProM.
    Pnml,
}

fn main() -> ExitCode {
    // Like other Unix tools, stop quietly when the reader of our output goes
    // away (`ravand … | head`), instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: called once at start, before any thread exists; SIG_DFL is a
    // valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { files, json } => validate_cmd(&files, json),
        Command::Schema {
            calendar,
            scenario,
            openapi,
        } => {
            let schema = if openapi {
                ravand_engine::service::openapi_document()
            } else if calendar {
                calendar_schema()
            } else if scenario {
                ravand_engine::sim::scenario_schema()
            } else {
                process_schema()
            };
            println!("{}", serde_json::to_string_pretty(&schema).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Command::Render { file, format } => with_process(&file, |p| {
            let f = match format {
                RenderFormat::Mermaid => Format::Mermaid,
                RenderFormat::Dot => Format::Dot,
                RenderFormat::Pnml => Format::Pnml,
            };
            print!("{}", render::render(p, f));
            Ok(())
        }),
        Command::Run {
            file,
            script,
            start,
            set,
        } => {
            let o = run::Options {
                file: &file,
                script: script.as_deref(),
                start: start.as_deref(),
                set: &set,
            };
            block_on(false, async { run::run(o).await.map(|()| None) })
        }
        Command::Serve {
            db,
            addr,
            tokens,
            calendars,
            deploy,
            max_connections,
            jwks,
            jwt_issuer,
            jwt_audience,
        } => block_on(true, async {
            serve::run(serve::Options {
                db,
                addr,
                tokens,
                calendars,
                deploy,
                max_connections,
                jwt: jwks.map(|jwks| serve::Jwt {
                    jwks,
                    issuer: jwt_issuer,
                    audience: jwt_audience,
                }),
            })
            .await
            .map(|()| None)
        }),
        Command::Backup { db, file } => block_on(false, async { backup(&db, &file).await.map(Some) }),
        Command::Export {
            db,
            process,
            from,
            to,
            format,
            out,
        } => block_on(false, async {
            export(&db, &process, from.as_deref(), to.as_deref(), &format, out.as_deref()).await
        }),
        Command::Token { what } => token_cmd(what),
        Command::BenchTimers { db, timers } => block_on(true, async { bench::run_timers(&db, timers).await.map(Some) }),
        Command::BenchTimerLag {
            db,
            pending,
            firing,
            over,
        } => block_on(true, async {
            bench::run_timer_lag(&db, pending, firing, over).await.map(Some)
        }),
        Command::BenchAcks {
            db,
            model,
            commands,
            clients,
        } => block_on(true, async {
            bench::run_acks(&model, &db, commands, clients).await.map(Some)
        }),
        Command::BenchJobs {
            db,
            jobs,
            workers,
            batch,
        } => block_on(true, async {
            bench::run_jobs(&db, jobs, workers, batch).await.map(Some)
        }),
        Command::BenchLists { city, queries } => block_on(true, async {
            bench::run_lists(&city.db, &city.definitions, city.open, city.finished, queries)
                .await
                .map(Some)
        }),
        Command::BenchPages { city, queries } => block_on(true, async {
            bench::run_pages(&city.db, &city.definitions, city.open, city.finished, queries)
                .await
                .map(Some)
        }),
        Command::Bench {
            file,
            instances,
            db: Some(url),
            concurrency,
        } => block_on(true, async {
            bench::run_durable(&file, &url, instances, concurrency).await.map(Some)
        }),
        Command::Bench {
            file,
            instances,
            db: None,
            ..
        } => with_process(&file, |p| bench::run(p, instances).map(|line| println!("{line}"))),
        Command::Simulate {
            file,
            scenario,
            cases,
            seed,
            json,
            csv,
            xes,
            ocel,
        } => {
            let loaded = match &scenario {
                Some(path) => load_scenario(path, &file),
                None => ravand_engine::sim::default_scenario().ok(),
            };
            let Some((mut sc, src)) = loaded else {
                return ExitCode::from(1);
            };
            if let Some(n) = cases {
                sc.cases = Some(n);
            }
            if let Some(x) = seed {
                sc.seed = x;
            }
            let cal = match calendar_for(&file) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            };
            with_process(&file, |p| {
                let began = std::time::Instant::now();
                let (mut r, log) = ravand_engine::sim::simulate_with_log(
                    p,
                    &cal,
                    &sc,
                    csv.is_some() || xes.is_some() || ocel.is_some(),
                )
                .map_err(|e| sim_error(e, &src))?;
                let timing = ravand_engine::sim::Timing::of(&r, began.elapsed().as_secs_f64());
                if scenario.is_none() {
                    r.scenario = Some(ravand_engine::sim::DEFAULT_SCENARIO_NOTE.to_owned());
                }
                let shapes = [
                    (csv.as_ref(), ravand_engine::eventlog::Format::Csv),
                    (xes.as_ref(), ravand_engine::eventlog::Format::Xes),
                    (ocel.as_ref(), ravand_engine::eventlog::Format::Ocel),
                ];
                if shapes.iter().any(|(path, _)| path.is_some()) {
                    let events = ravand_engine::sim::to_log(&p.id.0, &log);
                    for (path, format) in shapes {
                        if let Some(path) = path {
                            std::fs::write(path, format.write(&events))
                                .map_err(|e| format!("{}: {e}", path.display()))?;
                        }
                    }
                }
                if json {
                    // The report, and beside it how fast it was made.
                    let mut v = serde_json::to_value(&r).unwrap_or_default();
                    if let Some(o) = v.as_object_mut() {
                        o.insert("timing".into(), serde_json::to_value(timing).unwrap_or_default());
                    }
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                } else {
                    print!("{}{}", ravand_engine::sim::to_text(&r), timing.to_text());
                }
                Ok(())
            })
        }
        Command::Compare {
            old,
            new,
            scenario,
            json,
            html,
        } => compare(&old, &new, scenario.as_deref(), json, html.as_deref()),
        Command::Measure { file, json } => with_process(&file, |p| {
            let m = measure::measure(p);
            if json {
                println!("{}", serde_json::to_string_pretty(&m).unwrap_or_default());
            } else {
                print!("{}", measure::to_text(&m));
            }
            Ok(())
        }),
    }
}

fn print_diagnostics(reports: &[Report]) {
    let mut err = std::io::stderr().lock();
    for r in reports {
        for d in &r.diagnostics {
            let _ = writeln!(err, "{}\n", d.render(&r.source.text));
        }
    }
}

fn summary(reports: &[Report]) -> (usize, usize) {
    let all: Vec<&Diagnostic> = reports.iter().flat_map(|r| &r.diagnostics).collect();
    let errors = all.iter().filter(|d| d.is_error()).count();
    (errors, all.len() - errors)
}

fn validate_cmd(files: &[PathBuf], json: bool) -> ExitCode {
    let reports = validate::validate_paths(files, &Limits::default());
    let (errors, warnings) = summary(&reports);
    if json {
        let all: Vec<&Diagnostic> = reports.iter().flat_map(|r| &r.diagnostics).collect();
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
    } else {
        print_diagnostics(&reports);
        for r in &reports {
            let e = r.diagnostics.iter().filter(|d| d.is_error()).count();
            let w = r.diagnostics.len() - e;
            let status = if e > 0 { "invalid" } else { "ok" };
            println!("{status:>7}  {}  ({e} errors, {w} warnings)", r.source.name);
        }
        println!("{} files, {errors} errors, {warnings} warnings", reports.len());
    }
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `ravand compare`: both files must be valid; the scenario is optional.
fn compare(
    old: &std::path::Path,
    new: &std::path::Path,
    scenario: Option<&std::path::Path>,
    json: bool,
    html: Option<&std::path::Path>,
) -> ExitCode {
    let reports = validate::validate_paths(&[old.to_path_buf(), new.to_path_buf()], &Limits::default());
    let (Some(a), Some(b)) = (reports[0].process.as_ref(), reports[1].process.as_ref()) else {
        print_diagnostics(&reports);
        eprintln!("both definitions must be valid to compare them");
        return ExitCode::from(1);
    };
    let mut rows = measure::compare(a, b);
    let mut sim_reports: Option<Vec<ravand_engine::sim::Report>> = None;
    if let Some(path) = scenario {
        let Some((sc, src)) = load_scenario(path, old) else {
            return ExitCode::from(1);
        };
        let mut sims = Vec::new();
        for (file, p) in [(old, a), (new, b)] {
            let cal = match calendar_for(file) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            };
            match ravand_engine::sim::simulate(p, &cal, &sc) {
                Ok(r) => sims.push(r),
                Err(e) => {
                    eprintln!("error: {}", sim_error(e, &src));
                    return ExitCode::from(1);
                }
            }
        }
        rows.extend(ravand_engine::sim::compare_rows(&sims[0], &sims[1]));
        sim_reports = Some(sims);
    }
    if let Some(path) = html {
        let (ma, mb) = (measure::measure(a), measure::measure(b));
        let title = format!(
            "مقایسه «{}» نسخه {} و «{}» نسخه {} (comparison)",
            a.title, a.version, b.title, b.version
        );
        let page = ravand_engine::render::html::compare_html(
            &title,
            (&format!("{} v{}", old.display(), a.version), &ma),
            (&format!("{} v{}", new.display(), b.version), &mb),
            &rows,
            sim_reports.as_ref().map(|s| (&s[0], &s[1])),
        );
        if let Err(e) = std::fs::write(path, page) {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if json {
        let v =
            serde_json::json!({ "old": old.display().to_string(), "new": new.display().to_string(), "changes": rows });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print!(
            "{}",
            measure::compare_text(&format!("v{}", a.version), &format!("v{}", b.version), &rows)
        );
    }
    ExitCode::SUCCESS
}

/// Reads a scenario file, printing its problems when it does not read, and
/// loads the calendars its resources name (from `calendars/` beside the
/// process file).
fn load_scenario(
    path: &std::path::Path,
    process_file: &std::path::Path,
) -> Option<(ravand_engine::sim::Scenario, ravand_engine::definition::SourceFile)> {
    let limits = Limits::default();
    let src = match ravand_engine::definition::SourceFile::read(path, &limits) {
        Ok(src) => src,
        Err(d) => {
            eprintln!("{}", d.render(""));
            return None;
        }
    };
    match ravand_engine::sim::parse_scenario(&src, &limits) {
        Ok(mut sc) => {
            for name in sc.calendar_names() {
                // A calendar that does not load is reported by the scenario
                // check, at the resource that names it.
                if let Ok(cal) = load_calendar(process_file, &name) {
                    sc.calendars.insert(name, cal);
                }
            }
            Some((sc, src))
        }
        Err(diags) => {
            for d in diags {
                eprintln!("{}", d.render(&src.text));
            }
            None
        }
    }
}

/// A simulation error as text; a scenario's problems rendered at their lines.
fn sim_error(e: ravand_engine::sim::SimError, src: &ravand_engine::definition::SourceFile) -> String {
    match e {
        ravand_engine::sim::SimError::Invalid(diags) => diags
            .into_iter()
            .map(|d| d.in_file(&src.name).render(&src.text))
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

/// The working calendar a process file names (from `calendars/` beside it),
/// or the always-open calendar.
fn calendar_for(file: &std::path::Path) -> Result<ravand_engine::time::WorkCalendar, String> {
    let limits = Limits::default();
    let src = ravand_engine::definition::SourceFile::read(file, &limits).map_err(|d| d.message.clone())?;
    let def = ravand_engine::definition::parse_process(&src, &limits)
        .map_err(|_| format!("{} is not valid", file.display()))?;
    let Some(name) = def.calendar else {
        return Ok(ravand_engine::time::WorkCalendar::always());
    };
    load_calendar(file, &name.value)
}

/// The calendar `name` from `calendars/` beside a process file.
fn load_calendar(file: &std::path::Path, name: &str) -> Result<ravand_engine::time::WorkCalendar, String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("`{name}` is not a calendar id"));
    }
    let limits = Limits::default();
    let path = file
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("calendars")
        .join(format!("{name}.yaml"));
    let csrc = ravand_engine::definition::SourceFile::read(&path, &limits).map_err(|d| d.message.clone())?;
    let cdef = ravand_engine::definition::parse_calendar(&csrc, &limits)
        .map_err(|_| format!("{} is not valid", path.display()))?;
    ravand_engine::time::WorkCalendar::from_def(&cdef).map_err(|e| e.to_string())
}

/// Runs an async command on a tokio runtime (multi-threaded or not); prints
/// the line it returns, or its error (exit 1).
fn block_on(multi: bool, f: impl std::future::Future<Output = Result<Option<String>, String>>) -> ExitCode {
    let built = if multi {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    };
    let rt = match built {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(f) {
        Ok(line) => {
            if let Some(line) = line {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Validates one file and runs `f` on the process, or prints why not.
fn with_process(file: &PathBuf, f: impl FnOnce(&Process) -> Result<(), String>) -> ExitCode {
    let reports = validate::validate_paths(std::slice::from_ref(file), &Limits::default());
    let Some(report) = reports.first() else {
        return ExitCode::from(2);
    };
    match &report.process {
        Some(p) => match f(p) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
        None => {
            print_diagnostics(&reports);
            eprintln!("{}: not valid; nothing to show", file.display());
            ExitCode::from(1)
        }
    }
}

/// `ravand backup`: a consistent copy of a running database.
/// `ravand export`: the event log of `process`'s cases from the database.
async fn export(
    db: &str,
    process: &str,
    from: Option<&str>,
    to: Option<&str>,
    format: &str,
    out: Option<&std::path::Path>,
) -> Result<Option<String>, String> {
    use ravand_engine::eventlog::Format;
    let format = Format::from_name(format).ok_or_else(|| {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        format!("--format {format}: one of {}", names.join(", "))
    })?;
    let engine = ravand_engine::Engine::open(db, std::sync::Arc::new(ravand_engine::time::SystemClock), 0)
        .await
        .map_err(|e| e.to_string())?;
    let dep = engine
        .latest_deployment(process)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no process `{process}` is deployed in {db}"))?;
    // A day means its whole length: `--to` a day takes the next midnight.
    let instant = |what: &str, text: &str, day_end: bool| -> Result<ravand_engine::time::Timestamp, String> {
        let text = text.trim();
        let l = ravand_engine::definition::parse_local_datetime(text).map_err(|e| format!("--{what} {text}: {e}"))?;
        let l = if day_end && !text.contains('T') {
            l.date()
                .succ_opt()
                .ok_or_else(|| format!("--{what} {text}: out of range"))?
                .and_time(l.time())
        } else {
            l
        };
        Ok(dep.calendar.instant(l))
    };
    let from = from.map(|f| instant("from", f, false)).transpose()?;
    let to = to.map(|t| instant("to", t, true)).transpose()?;
    let from = from.unwrap_or(ravand_engine::time::Timestamp(i64::MIN / 2));
    let to = to.unwrap_or_else(|| ravand_engine::time::Timestamp(engine.now().0.saturating_add(1)));
    if to < from {
        return Err("--to comes before --from".into());
    }
    let log = engine
        .export_log_as(&ravand_engine::engine::Actor::system(None), process, from, to)
        .await
        .map_err(|e| e.to_string())?;
    let text = format.write(&log);
    let events: usize = log.traces.iter().map(|t| t.events.len()).sum();
    match out {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(Some(format!(
                "{} cases, {events} events written to {}",
                log.traces.len(),
                path.display()
            )))
        }
        None => {
            use std::io::Write as _;
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes())
                .map_err(|e| format!("standard output: {e}"))?;
            eprintln!("{} cases, {events} events", log.traces.len());
            Ok(None)
        }
    }
}

async fn backup(db: &str, file: &std::path::Path) -> Result<String, String> {
    if file.exists() {
        return Err(format!("{} exists; choose a new file", file.display()));
    }
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        // pg_dump reads one snapshot (MVCC): a consistent copy while the
        // service writes. Restore with `pg_restore --dbname URL FILE`.
        let out = std::process::Command::new("pg_dump")
            .args(["--format=custom", "--no-owner", "--file"])
            .arg(file)
            .arg(db)
            .output()
            .map_err(|e| format!("pg_dump: {e} (install PostgreSQL's client tools)"))?;
        if !out.status.success() {
            return Err(format!("pg_dump: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
    } else {
        ravand_engine::Engine::backup_sqlite(db, file)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(format!("backed up {db} to {}", file.display()))
}

fn token_cmd(what: TokenCommand) -> ExitCode {
    match what {
        TokenCommand::New {
            access,
            user,
            processes,
            roles,
        } => {
            let access = match access.as_str() {
                "analyst" => ravand_engine::service::Access::Analyst,
                "clerk" => ravand_engine::service::Access::Clerk,
                "auditor" => ravand_engine::service::Access::Auditor,
                "admin" => ravand_engine::service::Access::Admin,
                other => {
                    eprintln!("error: access `{other}`: use analyst, clerk, auditor or admin");
                    return ExitCode::from(2);
                }
            };
            let secret: String = rand::random::<[u8; 24]>().iter().map(|b| format!("{b:02x}")).collect();
            let mut t = ravand_engine::service::Token::for_secret(&secret, access, &user);
            t.processes = processes;
            t.roles = roles;
            let line = serde_json::to_string(&t).unwrap_or_default();
            if let Err(e) = ravand_engine::service::parse_tokens(&format!("- {line}\n")) {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
            println!("secret (give it to {user}; it is not stored): {secret}");
            println!("tokens file line: - {line}");
            ExitCode::SUCCESS
        }
        TokenCommand::Hash => {
            let mut secret = String::new();
            if std::io::stdin().read_line(&mut secret).is_err() {
                return ExitCode::from(2);
            }
            println!(
                "{}",
                ravand_engine::service::sha256_hex(secret.trim_end_matches(['\r', '\n']))
            );
            ExitCode::SUCCESS
        }
    }
}
