//! `ravand serve`: the HTTP service on a database, with a ticker that fires
//! due timers and recurring starts every second.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ravand_engine::engine::Engine;
use ravand_engine::service::{self, Access, Token};
use ravand_engine::time::{Clock, SystemClock};

pub struct Options {
    pub db: String,
    pub addr: String,
    pub tokens: Option<PathBuf>,
    pub calendars: Option<PathBuf>,
    pub deploy: Vec<PathBuf>,
}

fn tokens(path: Option<&Path>) -> Result<Vec<Token>, String> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
        }
        None => {
            // No token file: one admin token for this run, printed once.
            let token: String = rand::random::<[u8; 16]>().iter().map(|b| format!("{b:02x}")).collect();
            eprintln!("no --tokens file: the admin token for this run is {token}");
            Ok(vec![Token {
                token,
                access: Access::Admin,
                user: "admin".into(),
                roles: Vec::new(),
            }])
        }
    }
}

pub async fn run(o: Options) -> Result<(), String> {
    // Structured logs on stderr; `RUST_LOG=ravand_engine=debug` for more.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let engine = Arc::new(
        Engine::open(&o.db, clock.clone(), rand::random::<u64>())
            .await
            .map_err(|e| e.to_string())?,
    );
    let calendars = o
        .calendars
        .clone()
        .or_else(|| Some(PathBuf::from("definitions/calendars")).filter(|p| p.is_dir()));
    if let Some(dir) = calendars {
        let n = engine.add_calendars_from(&dir).await.map_err(|e| e.to_string())?;
        eprintln!("{n} calendars from {}", dir.display());
    }
    for f in &o.deploy {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        match engine.deploy(&f.display().to_string(), &text).await {
            Ok(k) => eprintln!("deployed {} v{}", k.process, k.version),
            Err(e) => eprintln!("{}: {e}", f.display()),
        }
    }
    let service = service::Service::new(engine.clone(), tokens(o.tokens.as_deref())?);
    let app = service::router(service);
    // Fire due timers and recurring starts every second.
    let ticker = engine.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every.tick().await;
            if let Err(e) = ticker.tick(SystemClock.now()).await {
                eprintln!("tick: {e}");
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(&o.addr)
        .await
        .map_err(|e| format!("{}: {e}", o.addr))?;
    eprintln!("ravand serving on http://{} with {}", o.addr, o.db);
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
