//! `ravand run FILE`: one case in the terminal on a virtual clock.
//!
//! Commands (one a line; `--script FILE` reads them from a file):
//! `status`, `complete TASK [k=v …]`, `claim TASK USER`,
//! `message NAME [KEY] [k=v …]`, `set k=v …`, `wait DURATION`
//! (`3d`, `4h`, `30m`, `2w` or `3 working days`), `wait until DATE`
//! (`1405-01-15`, `2026-03-20T09:00`), `suspend`, `resume`, `cancel [REASON]`,
//! `history`, `quit`. TASK is a task number or a step id.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use ravand_engine::engine::{CaseId, Engine, EngineError};
use ravand_engine::runtime::{CaseView, Command, Data, TaskId};
use ravand_engine::time::{Clock, Timestamp, VirtualClock, WorkCalendar};

pub struct Options<'a> {
    pub file: &'a Path,
    pub script: Option<&'a Path>,
    pub start: Option<&'a str>,
    pub set: &'a [String],
}

/// `k=v` pairs; values are JSON when they parse (numbers, true/false), else text.
fn pairs(words: &[&str]) -> Result<Data, String> {
    let mut d = Data::new();
    for w in words {
        let (k, v) = w.split_once('=').ok_or_else(|| format!("`{w}` is not `name=value`"))?;
        let v = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_owned()));
        d.insert(k.to_owned(), v);
    }
    Ok(d)
}

/// `3d`, `4h`, `30m`, `2w`, or the definition grammar (`3 working days`).
fn duration(text: &str) -> Result<ravand_engine::definition::duration::Duration, String> {
    let t = text.trim();
    let short = t
        .strip_suffix('d')
        .map(|n| (n, "days"))
        .or_else(|| t.strip_suffix('h').map(|n| (n, "hours")));
    let short = short
        .or_else(|| t.strip_suffix('m').map(|n| (n, "minutes")))
        .or_else(|| t.strip_suffix('w').map(|n| (n, "weeks")));
    if let Some((n, unit)) = short.filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty()) {
        return ravand_engine::definition::duration::parse(&format!("{n} {unit}")).map_err(|e| e.0);
    }
    ravand_engine::definition::duration::parse(t).map_err(|e| e.0)
}

struct Session {
    engine: Engine,
    clock: Arc<VirtualClock>,
    cal: WorkCalendar,
    case: CaseId,
    shown: usize,
}

impl Session {
    async fn print_new(&mut self) {
        let lines = self.engine.history_lines(self.case).await.unwrap_or_default();
        for l in lines.iter().skip(self.shown) {
            println!("  | {l}");
        }
        self.shown = lines.len();
    }

    async fn view(&self) -> Option<CaseView> {
        self.engine.status(self.case).await.ok()
    }

    async fn print_status(&self) {
        let Some(v) = self.view().await else { return };
        println!(
            "now {}   case {} of `{}` v{}: {:?}{}",
            self.cal.show(self.clock.now()),
            self.case,
            v.process,
            v.version,
            v.status,
            v.outcome.as_ref().map(|o| format!(" ({o})")).unwrap_or_default()
        );
        if !v.stage.is_empty() {
            let stage: Vec<String> = v.stage.iter().map(|(id, t)| format!("{t} [{id}]")).collect();
            println!("  stage: {}", stage.join(" · "));
        }
        for t in &v.tasks {
            println!(
                "  task {} [{}] {} — {}{}{}",
                t.task,
                t.step,
                t.title,
                t.role.as_deref().unwrap_or("-"),
                t.due.as_ref().map(|d| format!(", due {d}")).unwrap_or_default(),
                if t.overdue { ", OVERDUE" } else { "" }
            );
        }
        if let Some(d) = &v.case_due {
            println!("  case due {d}");
        }
        if let Some(t) = v.next_timer {
            println!("  next timer {}", self.cal.show(t));
        }
        for i in &v.incidents {
            println!("  incident: {i}");
        }
    }

    fn task_id(&self, v: &CaseView, word: &str) -> Result<TaskId, String> {
        if let Ok(n) = word.parse::<u32>() {
            return Ok(TaskId(n));
        }
        v.tasks
            .iter()
            .find(|t| t.step == word)
            .map(|t| t.task)
            .ok_or_else(|| format!("no open task `{word}`"))
    }

    /// Runs one line; `Ok(false)` to stop.
    async fn line(&mut self, line: &str) -> Result<bool, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((&cmd, rest)) = words.split_first() else {
            return Ok(true);
        };
        let engine_err = |e: EngineError| e.to_string();
        match cmd {
            "quit" | "exit" => return Ok(false),
            "status" => self.print_status().await,
            "history" => {
                for l in self.engine.history_lines(self.case).await.map_err(engine_err)? {
                    println!("  | {l}");
                }
            }
            "complete" => {
                let v = self.view().await.ok_or("no case")?;
                let task = self.task_id(&v, rest.first().ok_or("complete TASK [k=v …]")?)?;
                self.engine.complete(self.case, task, None, pairs(&rest[1..])?).await.map_err(engine_err)?;
            }
            "claim" => {
                let v = self.view().await.ok_or("no case")?;
                let task = self.task_id(&v, rest.first().ok_or("claim TASK USER")?)?;
                self.engine.claim(self.case, task, rest.get(1).ok_or("claim TASK USER")?).await.map_err(engine_err)?;
            }
            "message" => {
                let name = rest.first().ok_or("message NAME [KEY] [k=v …]")?;
                let (key, data) = match rest.get(1) {
                    Some(k) if !k.contains('=') => (Some(*k), &rest[2..]),
                    _ => (None, &rest[1..]),
                };
                self.engine.message(name, key, pairs(data)?).await.map_err(engine_err)?;
            }
            "set" => self.engine.command(self.case, Command::SetData { values: pairs(rest)?, by: None }).await.map_err(engine_err)?,
            "suspend" => self.engine.command(self.case, Command::Suspend { by: None }).await.map_err(engine_err)?,
            "resume" => self.engine.command(self.case, Command::Resume { by: None }).await.map_err(engine_err)?,
            "cancel" => self.engine.command(self.case, Command::Cancel { by: None, reason: (!rest.is_empty()).then(|| rest.join(" ")) }).await.map_err(engine_err)?,
            "wait" => {
                let target = if rest.first() == Some(&"until") {
                    self.cal.parse_local(&rest[1..].join(" "))?
                } else {
                    let d = duration(&rest.join(" "))?;
                    self.cal.add(self.clock.now(), &d)
                };
                if target < self.clock.now() {
                    return Err("that is in the past".into());
                }
                // Fire timers one instant at a time so each shows when it fired.
                while let Some(t) = self.engine.next_due().await.map_err(engine_err)?.filter(|t| *t <= target) {
                    self.clock.set(t);
                    self.engine.tick(t).await.map_err(engine_err)?;
                    self.print_new().await;
                }
                self.clock.set(target);
            }
            other => return Err(format!("unknown command `{other}`; try status, complete, claim, message, set, wait, suspend, resume, cancel, history, quit")),
        }
        self.print_new().await;
        Ok(true)
    }
}

pub async fn run(o: Options<'_>) -> Result<(), String> {
    let clock = Arc::new(VirtualClock::new(Timestamp(0)));
    let engine = Engine::in_memory(clock.clone(), 1).await.map_err(|e| e.to_string())?;
    let dir = o.file.parent().unwrap_or(Path::new("."));
    let cal_dir = dir.join("calendars");
    if cal_dir.is_dir() {
        engine.add_calendars_from(&cal_dir).await.map_err(|e| e.to_string())?;
    }
    let text = std::fs::read_to_string(o.file).map_err(|e| format!("{}: {e}", o.file.display()))?;
    // Processes beside it, so subprocesses can be called.
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut others: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml") && p != o.file)
            .collect();
        others.sort();
        for p in others {
            if let Ok(t) = std::fs::read_to_string(&p) {
                let _ = engine.deploy(&p.display().to_string(), &t).await;
            }
        }
    }
    let key = match engine.deploy(&o.file.display().to_string(), &text).await {
        Ok(k) => k,
        Err(EngineError::Invalid(diags)) => {
            for d in diags.iter().filter(|d| d.is_error()) {
                eprintln!("{}", d.render(&text));
            }
            return Err(format!("{} is not valid", o.file.display()));
        }
        Err(e) => return Err(e.to_string()),
    };
    let process = engine
        .process(&key.process)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("deployed process missing")?;
    let cal = match &process.calendar {
        Some(c) => {
            let t = std::fs::read_to_string(cal_dir.join(format!("{c}.yaml"))).map_err(|e| e.to_string())?;
            let def = ravand_engine::definition::parse_calendar(
                &ravand_engine::definition::SourceFile::new(c.as_str(), t),
                &Default::default(),
            )
            .map_err(|_| "calendar")?;
            WorkCalendar::from_def(&def).map_err(|e| e.to_string())?
        }
        None => WorkCalendar::always(),
    };
    let start = match o.start {
        Some(s) => cal.parse_local(s)?,
        None => ravand_engine::time::SystemClock.now(),
    };
    clock.set(start);
    let set: Vec<&str> = o.set.iter().map(String::as_str).collect();
    let started = engine
        .start(&key.process, pairs(&set)?, None)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "started case {} of `{}` v{} — tracking code {}",
        started.case, key.process, key.version, started.tracking_code
    );
    let mut s = Session {
        engine,
        clock,
        cal,
        case: started.case,
        shown: 0,
    };
    s.print_new().await;
    s.print_status().await;
    let scripted = o.script.is_some();
    let reader: Box<dyn BufRead> = match o.script {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    for line in reader.lines() {
        let line = line.map_err(|e| e.to_string())?;
        let line = line.split('#').next().unwrap_or("").trim().to_owned();
        if line.is_empty() {
            continue;
        }
        if scripted {
            println!("> {line}");
        }
        match s.line(&line).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) if scripted => return Err(format!("`{line}`: {e}")),
            Err(e) => println!("  ! {e}"),
        }
        if !matches!(line.as_str(), "status" | "history") {
            s.print_status().await;
        }
        if s.view().await.is_some_and(|v| v.status.is_finished()) {
            break;
        }
    }
    println!("history:");
    for l in s.engine.history_lines(s.case).await.map_err(|e| e.to_string())? {
        println!("  | {l}");
    }
    Ok(())
}
